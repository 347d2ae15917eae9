/* observe_living.c -- the living-universe fields of an observation and the writers they share
 * with the reference overlay (see observe_living.h). Field names are part of the pipe contract
 * (docs/pipe-protocol.md). */
#include "observe_living.h"

#include "observe_life.h"
#include "observe_ref.h"
#include "observe_system.h"
#include "society.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define REF_MAX_RELAYS 32

/* The value the per-system map ix holds for the system probe p is in (the head of a structure or
 * beacon list, a claimant): 0 if none, or if p is between the stars. */
static uint32_t here(const hmap *ix, const probe *p) {
    if (p->location == LOC_INTERSTELLAR) return 0;
    uint32_t *h = hmap_get(ix, p->sys_hi, p->sys_lo);
    return h ? *h : 0;
}

/* Tick a claim was made: the engine keeps only the claimant, so this is derived -- the latest
 * "claimed" entry of the claimant's history ring made while or after the system was first
 * explored, else the tick the system was first explored. */
static uint64_t claim_tick(const world *w, uint32_t claimant, uint64_t sys_hi, uint64_t sys_lo) {
    uint32_t *ex = hmap_get(&w->explored, sys_hi, sys_lo);
    uint64_t first = ex ? *ex : 0;
    const probe_life *l = &w->L[claimant];
    uint32_t n = l->hist_n < HIST_SLOTS ? l->hist_n : HIST_SLOTS;
    for (uint32_t k = l->hist_n; k > l->hist_n - n; k--) {
        const mem_entry *m = &l->hist[(k - 1) % HIST_SLOTS];
        if (m->type == EV_CLAIM && m->subtype == 0 && m->tick >= first) return m->tick;
    }
    return first;
}

static void write_msg(jbuf *b, const message *m) {
    jb_sep(b);
    jb_puts(b, "{\"from\":");
    jb_id(b, PROBE_ID_HI, (uint64_t)m->from + 1);
    jb_key(b, "to");
    jb_id(b, PROBE_ID_HI, (uint64_t)m->to + 1);
    jb_key(b, "content");
    jb_cstr(b, m->text);
    jb_key(b, "sent_tick");
    jb_u64(b, m->sent);
    jb_key(b, "arrival_tick");
    jb_u64(b, m->arrive);
    jb_key(b, "broadcast");
    jb_bool(b, m->broadcast);
    jb_key(b, "relayed");
    jb_bool(b, m->relayed);
    jb_putc(b, '}');
}

void observe_recent_events(jbuf *b, const probe_life *l, int ref) {
    jb_key(b, "recent_events");
    jb_putc(b, '[');
    uint32_t n = l->hist_n < 5 ? l->hist_n : 5;
    for (uint32_t k = l->hist_n - n; k < l->hist_n; k++) {
        const mem_entry *m = &l->hist[k % HIST_SLOTS];
        char msg[160];
        observe_mem_open(b, m, ref, msg, sizeof msg);
        jb_key(b, "message");
        jb_cstr(b, msg);
        jb_putc(b, '}');
    }
    jb_putc(b, ']');
}

void observe_trust(jbuf *b, const world *w, uint32_t idx, int ref) {
    jb_key(b, "trust");
    jb_putc(b, ref ? '[' : '{');
    int n = 0;
    for (uint32_t e = w->L[idx].trust_head; e && n < 32; n++) {
        const trust_rec *t = &w->trust[e - 1];
        uint32_t other = t->a == idx ? t->b : t->a;
        if (ref) {
            jb_sep(b);
            jb_puts(b, "{\"probe_id\":");
            jb_id(b, PROBE_ID_HI, (uint64_t)other + 1);
            jb_key(b, "trust");
        } else {
            char id[32];
            snprintf(id, sizeof id, "1-%u", other + 1);
            jb_key(b, id);
        }
        jb_double(b, t->v);
        if (ref) jb_putc(b, '}');
        e = t->a == idx ? t->next_a : t->next_b;
    }
    jb_putc(b, ref ? ']' : '}');
}

void observe_research(jbuf *b, const probe *p, int ref) {
    jb_key(b, "research");
    if (!p->research) {
        jb_null(b);
        return;
    }
    jb_puts(b, "{\"domain\":");
    if (ref) jb_u64(b, (uint64_t)p->research - 1);
    else jb_cstr(b, world_tech_names[p->research - 1]);
    jb_key(b, "progress");
    jb_double(b, world_q6(1.0 - (double)p->research_left / p->research_total));
    jb_key(b, "ticks_remaining");
    jb_u64(b, p->research_left);
    if (ref) {
        jb_key(b, "domain_name");
        jb_cstr(b, world_tech_names[p->research - 1]);
    }
    jb_putc(b, '}');
}

void observe_visible_structures(jbuf *b, const world *w, const probe *p, int ref) {
    jb_key(b, "visible_structures");
    jb_putc(b, '[');
    for (uint32_t e = here(&w->st_ix, p); e; e = w->st[e - 1].next) {
        const structure *x = &w->st[e - 1];
        jb_sep(b);
        if (ref) {
            jb_puts(b, "{\"builder\":");
            jb_id(b, PROBE_ID_HI, (uint64_t)x->owner + 1);
            jb_key(b, "type");
            jb_u64(b, x->type);
            jb_key(b, "name");
            jb_cstr(b, observe_structure_display[x->type % STRUCT_COUNT]);
        } else {
            jb_puts(b, "{\"id\":");
            jb_u64(b, e);
            jb_key(b, "type");
            jb_cstr(b, world_structure_names[x->type]);
            jb_key(b, "structure_type");
            jb_u64(b, x->type);
            jb_key(b, "owner");
            jb_id(b, PROBE_ID_HI, (uint64_t)x->owner + 1);
        }
        jb_key(b, "progress");
        jb_double(b, x->progress);
        jb_key(b, "complete");
        jb_bool(b, x->finished != 0);
        if (ref) {
            jb_key(b, "id");
            jb_u64(b, e);
            jb_key(b, "kind");
            jb_cstr(b, world_structure_names[x->type % STRUCT_COUNT]);
            jb_key(b, "owner");
            jb_id(b, PROBE_ID_HI, (uint64_t)x->owner + 1);
        }
        jb_key(b, "builders");
        jb_putc(b, '[');
        for (int k = 0; k < x->n_builders; k++) {
            jb_sep(b);
            jb_id(b, PROBE_ID_HI, (uint64_t)x->builder[k] + 1);
        }
        jb_puts(b, "]}");
    }
    jb_putc(b, ']');
}

void observe_relay_network(jbuf *b, world *w, const probe *p, const double pos[3], int ref) {
    uint32_t relays = 0, near = 0;
    double range = society_comm_range(p);
    jb_key(b, "relay_network");
    if (ref) jb_putc(b, '[');
    for (uint32_t k = 0; k < w->n_st && !(ref && near >= REF_MAX_RELAYS); k++) {
        const structure *x = &w->st[k];
        if (x->type != ST_RELAY || !x->finished) continue;
        relays++;
        const star_system *rs = galaxy_system(&w->gal, x->sys_hi, x->sys_lo);
        if (!rs) continue;
        double dd = 0;
        for (int c = 0; c < 3; c++) dd += (rs->pos[c] - pos[c]) * (rs->pos[c] - pos[c]);
        double dist = sqrt(dd);
        if (!(dist <= range)) continue;
        near++;
        if (!ref) continue;
        jb_sep(b);
        jb_puts(b, "{\"system_id\":");
        jb_id(b, x->sys_hi, x->sys_lo);
        jb_key(b, "distance_ly");
        jb_double(b, world_q3(dist));
        jb_key(b, "owner");
        jb_id(b, PROBE_ID_HI, (uint64_t)x->owner + 1);
        jb_key(b, "structure_id");
        jb_u64(b, (uint64_t)k + 1);
        jb_key(b, "range_ly");
        jb_double(b, RELAY_RANGE_LY);
        jb_putc(b, '}');
    }
    if (ref) {
        jb_putc(b, ']');
        return;
    }
    jb_puts(b, "{\"relays\":");
    jb_u64(b, relays);
    jb_key(b, "relays_in_range");
    jb_u64(b, near);
    jb_key(b, "relay_range_ly");
    jb_double(b, RELAY_RANGE_LY);
    jb_putc(b, '}');
}

void observe_living(jbuf *b, world *w, uint32_t idx) {
    const probe *p = &w->p[idx];
    const probe_life *l = &w->L[idx];
    int in_sys = p->location != LOC_INTERSTELLAR;
    const star_system *s = world_probe_system(w, p);
    jb_key(b, "resources");
    observe_kg(b, p->cargo);
    /* position */
    double pos[3] = {0, 0, 0}, dst[3] = {0, 0, 0};
    society_position(w, p, pos);
    const star_system *d = p->activity == ACT_TRAVEL ? galaxy_system(&w->gal, p->dst_hi, p->dst_lo) : NULL;
    if (d) memcpy(dst, d->pos, sizeof dst);
    else memcpy(dst, pos, sizeof dst);
    double rem = sqrt((dst[0] - pos[0]) * (dst[0] - pos[0]) + (dst[1] - pos[1]) * (dst[1] - pos[1]) +
                      (dst[2] - pos[2]) * (dst[2] - pos[2]));
    jb_key(b, "position");
    jb_puts(b, "{\"sector\":[");
    for (int k = 0; k < 3; k++) {
        jb_sep(b);
        jb_i64(b, (int64_t)floor(pos[k] / GALAXY_SECTOR_LY));
    }
    jb_putc(b, ']');
    double vec[3];
    for (int k = 0; k < 3; k++) vec[k] = world_q3(pos[k]);
    jb_key(b, "coordinates_ly");
    observe_vec3(b, vec);
    jb_key(b, "system_id");
    if (in_sys) jb_id(b, p->sys_hi, p->sys_lo);
    else jb_null(b);
    jb_key(b, "body_id");
    if (in_sys && p->body >= 0) jb_id(b, p->sys_hi, p->sys_lo | (uint64_t)(p->body + 1));
    else jb_null(b);
    for (int k = 0; k < 3; k++) vec[k] = rem > 0 ? world_q6((dst[k] - pos[k]) / rem) : 0.0;
    jb_key(b, "heading");
    observe_vec3(b, vec);
    for (int k = 0; k < 3; k++) vec[k] = world_q3(dst[k]);
    jb_key(b, "destination");
    observe_vec3(b, vec);
    jb_key(b, "travel_remaining_ly");
    jb_double(b, world_q3(rem));
    jb_putc(b, '}');
    /* capabilities */
    jb_key(b, "capabilities");
    jb_puts(b, "{\"max_speed_c\":");
    jb_double(b, world_speed_c(w, p));
    jb_key(b, "sensor_range_ly");
    jb_double(b, world_sensor_range_ly(p));
    jb_key(b, "mining_rate");
    jb_double(b, MINE_BASE_KG * w->cfg.mining_rate_scale * (1.0 + 0.25 * (p->tech[TECH_MINING] - 1)));
    jb_key(b, "construction_rate");
    jb_double(b, world_q3(1.0 + 0.2 * (p->tech[TECH_CONSTRUCTION] - 1)));
    jb_key(b, "compute_capacity");
    jb_double(b, world_q3(1.0 + 0.5 * (p->tech[TECH_COMPUTING] - 1)));
    jb_key(b, "communication_range_ly");
    jb_double(b, society_comm_range(p));
    jb_putc(b, '}');
    /* the system, as the reference engine shows it */
    jb_key(b, "system_info");
    if (in_sys && s) observe_system_info(b, w, p, s, 0);
    else jb_null(b);
    /* recent events: the latest history entries */
    observe_recent_events(b, l, 0);
    jb_key(b, "nearby_probes");
    jb_putc(b, '[');
    if (in_sys) {
        int n = 0;
        for (uint32_t e = world_sys_first(w, p->sys_hi, p->sys_lo); e && n < 16; e = w->sys_next[e - 1]) {
            uint32_t j = w->sys_pr[e - 1];
            if (j == idx) continue;
            jb_sep(b);
            jb_puts(b, "{\"probe_id\":");
            jb_id(b, PROBE_ID_HI, (uint64_t)j + 1);
            jb_key(b, "name");
            jb_cstr(b, w->c[j].name);
            jb_key(b, "status");
            jb_cstr(b, world_status_names[w->p[j].status]);
            jb_key(b, "body_id");
            if (w->p[j].body >= 0) jb_id(b, w->p[j].sys_hi, w->p[j].sys_lo | (uint64_t)(w->p[j].body + 1));
            else jb_null(b);
            jb_key(b, "trust");
            jb_double(b, society_trust(w, idx, j));
            jb_putc(b, '}');
            n++;
        }
    }
    jb_putc(b, ']');
    jb_key(b, "inbox");
    jb_putc(b, '[');
    if (l->inbox) {
        const inbox_slab *ib = &w->inbox[l->inbox - 1];
        uint32_t n = ib->n < INBOX_SLOTS ? ib->n : INBOX_SLOTS;
        for (uint32_t k = ib->n - n; k < ib->n; k++) write_msg(b, &ib->m[k % INBOX_SLOTS]);
    }
    jb_putc(b, ']');
    jb_key(b, "visible_beacons");
    jb_putc(b, '[');
    for (uint32_t e = here(&w->bcn_ix, p); e; e = w->bcn[e - 1].next) {
        const beacon *x = &w->bcn[e - 1];
        jb_sep(b);
        jb_puts(b, "{\"owner\":");
        jb_id(b, PROBE_ID_HI, (uint64_t)x->owner + 1);
        jb_key(b, "message");
        jb_cstr(b, x->text);
        jb_key(b, "tick");
        jb_u64(b, x->tick);
        jb_key(b, "placed_tick");
        jb_u64(b, x->tick);
        jb_putc(b, '}');
    }
    jb_putc(b, ']');
    observe_visible_structures(b, w, p, 0);
    jb_key(b, "pending_trades");
    jb_putc(b, '[');
    for (uint32_t k = 0; k < w->n_tr; k++) {
        const trade *t = &w->tr[k];
        if (t->from != idx && t->to != idx) continue;
        jb_sep(b);
        jb_puts(b, "{\"from\":");
        jb_id(b, PROBE_ID_HI, (uint64_t)t->from + 1);
        jb_key(b, "to");
        jb_id(b, PROBE_ID_HI, (uint64_t)t->to + 1);
        jb_key(b, "resource");
        jb_cstr(b, galaxy_resource_names[t->res]);
        jb_key(b, "amount");
        jb_double(b, t->kg);
        jb_key(b, "arrival_tick");
        jb_u64(b, t->due);
        jb_putc(b, '}');
    }
    jb_putc(b, ']');
    jb_key(b, "claims");
    jb_putc(b, '[');
    uint32_t claimant = here(&w->claims, p);
    if (claimant) {
        jb_puts(b, "{\"system_id\":");
        jb_id(b, p->sys_hi, p->sys_lo);
        jb_key(b, "claimant");
        jb_id(b, PROBE_ID_HI, claimant);
        jb_key(b, "mine");
        jb_bool(b, claimant == idx + 1);
        jb_key(b, "claimer");
        jb_id(b, PROBE_ID_HI, claimant);
        jb_key(b, "tick");
        jb_u64(b, claim_tick(w, claimant - 1, p->sys_hi, p->sys_lo));
        jb_putc(b, '}');
    }
    jb_putc(b, ']');
    jb_key(b, "proposals");
    jb_putc(b, '[');
    {
        int shown = 0;
        for (uint32_t k = w->n_pr; k > 0 && shown < 10 && w->n_pr - k < 64; k--) {
            const proposal *q = &w->pr[k - 1];
            if (q->resolved) continue;
            uint32_t *v = hmap_get(&w->votes, k, idx);
            jb_sep(b);
            jb_puts(b, "{\"id\":");
            jb_u64(b, k);
            jb_key(b, "text");
            jb_cstr(b, q->text);
            jb_key(b, "proposer");
            jb_id(b, PROBE_ID_HI, (uint64_t)q->proposer + 1);
            jb_key(b, "deadline");
            jb_u64(b, q->deadline);
            jb_key(b, "votes_for");
            jb_u64(b, q->yes);
            jb_key(b, "votes_against");
            jb_u64(b, q->no);
            jb_key(b, "my_vote");
            if (v) jb_bool(b, *v == 2);
            else jb_null(b);
            jb_key(b, "idx");
            jb_u64(b, k);
            jb_key(b, "for");
            jb_u64(b, q->yes);
            jb_key(b, "against");
            jb_u64(b, q->no);
            jb_putc(b, '}');
            shown++;
        }
    }
    jb_putc(b, ']');
    observe_trust(b, w, idx, 0);
    observe_research(b, p, 0);
    jb_key(b, "threats");
    jb_putc(b, '[');
    if (l->threat_tick > w->tick) {
        jb_puts(b, "{\"type\":");
        jb_cstr(b, world_hazard_names[l->threat_sub % HZ_COUNT]);
        jb_key(b, "severity");
        jb_double(b, (double)l->threat_sev);
        jb_key(b, "ticks_until");
        jb_u64(b, l->threat_tick - w->tick);
        jb_putc(b, '}');
    }
    jb_putc(b, ']');
    observe_relay_network(b, w, p, pos, 0);
    observe_personality(b, w, idx);
    observe_memories(b, w, idx, 5);
}

