/* policy.h -- a deterministic "explorer/replicator" policy used by the golden test and the
 * benchmarks. It reads the world directly and writes a tick request with one action per live
 * idle probe: gather the replication recipe from the best bodies in the system (survey, orbit,
 * land, mine), repair when damaged, replicate when the cargo allows, and leave for the nearest
 * unexplored system when the home system can no longer supply what is missing. */
#ifndef POLICY_H
#define POLICY_H

#include "galaxy.h"
#include "json.h"
#include "world.h"

#include <stdio.h>

static int policy_can_mine(const body *b, int r, int *need_land) {
    *need_land = 0;
    if (b->type == BODY_ASTEROID_BELT) return 1;
    if (b->type == BODY_GAS_GIANT || b->type == BODY_ICE_GIANT) return r == RES_HYDROGEN || r == RES_HELIUM3;
    *need_land = 1;
    return 1;
}

/* The social side of the policy: every living-universe action at a deterministic rhythm (the
 * golden test exercises messages, beacons, trades, claims, proposals and votes, research,
 * tech sharing and structures). Returns 1 if it wrote an action into act. */
static int policy_social(world *w, uint32_t i, char *act, size_t n) {
    probe *p = &w->p[i];
    uint64_t t = w->tick + 1;
    uint64_t par = w->c[i].parent_lo; /* 1 + parent index, 0 for Bob */
    int par_here = par && w->p[par - 1].status != ST_DESTROYED && w->p[par - 1].location != LOC_INTERSTELLAR &&
                   w->p[par - 1].sys_lo == p->sys_lo && w->p[par - 1].sys_hi == p->sys_hi;
    if (i == 0 && t == 20) return snprintf(act, n, "{\"type\":\"claim_system\"}"), 1;
    if (i == 0 && t == 6000) return snprintf(act, n, "{\"type\":\"revoke_claim\"}"), 1;
    if (i == 0 && t % 1000 == 100) return snprintf(act, n, "{\"type\":\"propose\",\"text\":\"Plan %llu: mine the belt first\"}", (unsigned long long)t / 1000), 1;
    if (w->n_pr && (t + i) % 13 == 0) {
        uint64_t pid = w->n_pr;
        const proposal *q = &w->pr[pid - 1];
        if (!q->resolved && t <= q->deadline && !hmap_get(&w->votes, pid, i))
            return snprintf(act, n, "{\"type\":\"vote\",\"proposal\":%llu,\"favor\":%s}", (unsigned long long)pid,
                            i % 3 ? "true" : "false"), 1;
    }
    if ((t + i) % 997 == 0) {
        if (par) return snprintf(act, n, "{\"type\":\"send_message\",\"target\":\"1-%llu\",\"content\":\"hello from %u\"}", (unsigned long long)par, i + 1), 1;
        return snprintf(act, n, "{\"type\":\"send_message\",\"target\":\"broadcast\",\"content\":\"Bob here\"}"), 1;
    }
    if ((t + 3 * i) % 1499 == 0) return snprintf(act, n, "{\"type\":\"place_beacon\",\"message\":\"%s was here\"}", w->c[i].name), 1;
    if (!p->research && (t + i) % 211 == 0 && p->tech[(i + t) % TECH_COUNT] < TECH_MAX)
        return snprintf(act, n, "{\"type\":\"research\",\"domain\":\"%s\"}", world_tech_names[(i + t) % TECH_COUNT]), 1;
    if (par_here && (t + i) % 733 == 0 && p->cargo[RES_IRON] > 5000)
        return snprintf(act, n, "{\"type\":\"trade\",\"target\":\"1-%llu\",\"resource\":\"iron\",\"amount\":1000}", (unsigned long long)par), 1;
    if (par_here && (t + i) % 1201 == 0)
        for (int d = 0; d < TECH_COUNT; d++)
            if (p->tech[d] > w->p[par - 1].tech[d])
                return snprintf(act, n, "{\"type\":\"share_tech\",\"target\":\"1-%llu\",\"domain\":%d}", (unsigned long long)par, d), 1;
    if (t % 1000 == 600 && i % 5 == 1) return snprintf(act, n, "{\"type\":\"build_structure\",\"structure_type\":%d}", (int)((t / 1000) % STRUCT_COUNT)), 1;
    return 0;
}

static void policy_action(world *w, uint32_t i, jbuf *b) {
    probe *p = &w->p[i];
    char act[200];
    act[0] = 0;
    if (p->status == ST_DESTROYED || p->activity != ACT_NONE || p->status == ST_DORMANT) return;
    const star_system *s = world_probe_system(w, p);
    if (!s || p->location == LOC_INTERSTELLAR) return;
    if (policy_social(w, i, act, sizeof act)) goto emit;
    double cost[RES_COUNT];
    world_replication_cost(w, cost);
    if (p->hull < 0.6 && p->cargo[RES_IRON] >= REPAIR_IRON_KG) {
        snprintf(act, sizeof act, "{\"type\":\"repair\"}");
        goto emit;
    }
    static const int order[] = {RES_IRON, RES_SILICON, RES_RARE_EARTH, RES_CARBON, RES_URANIUM, RES_EXOTIC,
                                RES_WATER, RES_HELIUM3, RES_HYDROGEN};
    int want = -1;
    for (size_t k = 0; k < sizeof order / sizeof *order; k++) {
        double extra = order[k] == RES_IRON ? 2000.0 : 0.0; /* iron for repairs */
        if (p->cargo[order[k]] < cost[order[k]] + extra) {
            want = order[k];
            break;
        }
    }
    if (want < 0) {
        snprintf(act, sizeof act, "{\"action\":\"replicate\"}");
        goto emit;
    }
    int best = -1;
    double best_score = 0;
    for (int bi = 0; bi < s->n_bodies; bi++) {
        int need_land;
        if (!policy_can_mine(&s->bodies[bi], want, &need_land)) continue;
        if (need_land && !s->bodies[bi].landable) continue;
        if (world_body_remaining(w, s, bi, want) < 1.0) continue;
        double score = s->bodies[bi].abundance[want] * (bi == p->body ? 1.2 : 1.0);
        if (score > best_score) {
            best_score = score;
            best = bi;
        }
    }
    if (best < 0) {
        /* nothing left here: travel to the nearest unexplored system we can afford */
        scan_hit hits[SCAN_MAX_RESULTS];
        if (p->location == LOC_LANDED) {
            snprintf(act, sizeof act, "{\"type\":\"launch\"}");
            goto emit;
        }
        int n = galaxy_scan(&w->gal, s->pos, world_sensor_range_ly(p), s->id_hi, s->id_lo, hits, SCAN_MAX_RESULTS);
        /* targets are spread by probe id so siblings fan out instead of all picking the nearest */
        int pick = -1, seen = 0;
        for (int k = 0; k < n && seen <= (int)(i % 4); k++) {
            if (hmap_get(&w->explored, hits[k].sys->id_hi, hits[k].sys->id_lo)) continue;
            pick = k;
            seen++;
        }
        if (pick < 0) return; /* wait */
        double fuel = hits[pick].distance_ly * world_fuel_per_ly(p);
        if (fuel <= p->fuel + p->cargo[RES_HYDROGEN]) {
            snprintf(act, sizeof act, "{\"type\":\"travel_to_system\",\"target_system_id\":\"%llu-%llu\"}",
                     (unsigned long long)hits[pick].sys->id_hi, (unsigned long long)hits[pick].sys->id_lo);
            goto emit;
        }
        /* not enough fuel: scoop hydrogen first */
        want = RES_HYDROGEN;
        for (int bi = 0; bi < s->n_bodies; bi++) {
            if (world_body_remaining(w, s, bi, want) < 1.0) continue;
            if (s->bodies[bi].type != BODY_GAS_GIANT && s->bodies[bi].type != BODY_ICE_GIANT) continue;
            if (s->bodies[bi].abundance[want] > best_score) {
                best_score = s->bodies[bi].abundance[want];
                best = bi;
            }
        }
        if (best < 0 || world_cargo_total(p) >= CARGO_CAP - 100) return;
    }
    if (p->body < 0) {
        if (p->sys_survey < 1) snprintf(act, sizeof act, "{\"type\":\"survey\"}");
        goto nav;
    }
    if (p->body != best) {
        if (p->location == LOC_LANDED) {
            snprintf(act, sizeof act, "{\"type\":\"launch\"}");
            goto emit;
        }
    nav:
        if (!act[0]) {
            uint64_t hi, lo;
            galaxy_body_id(s, best, &hi, &lo);
            snprintf(act, sizeof act, "{\"action\":\"navigate_to_body\",\"target_body_hi\":%llu,\"target_body_lo\":%llu}",
                     (unsigned long long)hi, (unsigned long long)lo);
        }
        goto emit;
    }
    int need_land;
    policy_can_mine(&s->bodies[best], want, &need_land);
    int lv = p->survey[p->body];
    if (p->location == LOC_IN_SYSTEM) {
        if (lv < 2) snprintf(act, sizeof act, "{\"type\":\"survey\"}");
        else snprintf(act, sizeof act, "{\"type\":\"enter_orbit\"}");
    } else if (p->location == LOC_ORBITING) {
        if (need_land) {
            if (lv < 3) snprintf(act, sizeof act, "{\"type\":\"survey\"}");
            else snprintf(act, sizeof act, "{\"type\":\"land\"}");
        } else if (lv < 4) {
            snprintf(act, sizeof act, "{\"type\":\"survey\"}");
        }
    } else if (p->location == LOC_LANDED && lv < 4) {
        snprintf(act, sizeof act, "{\"type\":\"survey\"}");
    }
    if (!act[0]) snprintf(act, sizeof act, "{\"type\":\"mine\",\"resource\":\"%s\"}", galaxy_resource_names[want]);
emit:
    if (!act[0]) return;
    jb_sep(b);
    jb_id(b, PROBE_ID_HI, (uint64_t)i + 1);
    jb_putc(b, ':');
    jb_puts(b, act);
}

/* Build a full tick request into b (reset first). */
static void policy_tick_request(world *w, jbuf *b, const char *observe) {
    jb_reset(b);
    jb_puts(b, "{\"cmd\":\"tick\",\"observe\":");
    jb_puts(b, observe);
    jb_puts(b, ",\"actions\":{");
    for (uint32_t i = 0; i < w->n_probes; i++) policy_action(w, i, b);
    jb_puts(b, "}}");
}

#endif
