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

/* [x,y,z] */
static char *jw_vec3(char *o, const double v[3]) {
    *o++ = '[';
    for (int k = 0; k < 3; k++) {
        if (k) *o++ = ',';
        o = jw_double(o, v[k]);
    }
    *o++ = ']';
    return o;
}

static void write_msg(jbuf *b, const message *m) {
    JB_SEP_LIT(b, "{\"from\":");
    jb_id(b, PROBE_ID_HI, (uint64_t)m->from + 1);
    JB_KEY(b, "to");
    jb_id(b, PROBE_ID_HI, (uint64_t)m->to + 1);
    JB_KEY(b, "content");
    jb_cstr(b, m->text);
    JB_KEY(b, "sent_tick");
    jb_u64(b, m->sent);
    JB_KEY(b, "arrival_tick");
    jb_u64(b, m->arrive);
    JB_KEY(b, "broadcast");
    jb_bool(b, m->broadcast);
    JB_KEY(b, "relayed");
    jb_bool(b, m->relayed);
    jb_putc(b, '}');
}

void observe_recent_events(jbuf *b, const probe_life *l, int ref) {
    JB_KEY(b, "recent_events");
    jb_putc(b, '[');
    uint32_t n = l->hist_n < 5 ? l->hist_n : 5;
    for (uint32_t k = l->hist_n - n; k < l->hist_n; k++) {
        const mem_entry *m = &l->hist[k % HIST_SLOTS];
        char msg[160];
        observe_mem_open(b, m, ref, msg, sizeof msg);
        JB_KEY(b, "message");
        jb_cstr(b, msg);
        jb_putc(b, '}');
    }
    jb_putc(b, ']');
}

void observe_trust(jbuf *b, const world *w, uint32_t idx, int ref) {
    JB_KEY(b, "trust");
    jb_putc(b, ref ? '[' : '{');
    int n = 0;
    for (uint32_t e = w->L[idx].trust_head; e && n < 32; n++) {
        const trust_rec *t = &w->trust[e - 1];
        uint32_t other = t->a == idx ? t->b : t->a;
        if (ref) {
            JB_SEP_LIT(b, "{\"probe_id\":");
            jb_id(b, PROBE_ID_HI, (uint64_t)other + 1);
            JB_KEY(b, "trust");
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
    JB_KEY(b, "research");
    if (!p->research) {
        jb_null(b);
        return;
    }
    JB_LIT(b, "{\"domain\":");
    if (ref) jb_u64(b, (uint64_t)p->research - 1);
    else jb_cstr(b, world_tech_names[p->research - 1]);
    JB_KEY(b, "progress");
    jb_double(b, world_q6(1.0 - (double)p->research_left / p->research_total));
    JB_KEY(b, "ticks_remaining");
    jb_u64(b, p->research_left);
    if (ref) {
        JB_KEY(b, "domain_name");
        jb_cstr(b, world_tech_names[p->research - 1]);
    }
    jb_putc(b, '}');
}

void observe_visible_structures(jbuf *b, const world *w, const probe *p, int ref) {
    JB_KEY(b, "visible_structures");
    jb_putc(b, '[');
    for (uint32_t e = here(&w->st_ix, p); e; e = w->st[e - 1].next) {
        const structure *x = &w->st[e - 1];
        jb_sep(b);
        if (ref) {
            JB_LIT(b, "{\"builder\":");
            jb_id(b, PROBE_ID_HI, (uint64_t)x->owner + 1);
            JB_KEY(b, "type");
            jb_u64(b, x->type);
            JB_KEY(b, "name");
            jb_cstr(b, observe_structure_display[x->type % STRUCT_COUNT]);
        } else {
            JB_LIT(b, "{\"id\":");
            jb_u64(b, e);
            JB_KEY(b, "type");
            jb_cstr(b, world_structure_names[x->type]);
            JB_KEY(b, "structure_type");
            jb_u64(b, x->type);
            JB_KEY(b, "owner");
            jb_id(b, PROBE_ID_HI, (uint64_t)x->owner + 1);
        }
        JB_KEY(b, "progress");
        jb_double(b, x->progress);
        JB_KEY(b, "complete");
        jb_bool(b, x->finished != 0);
        if (ref) {
            JB_KEY(b, "id");
            jb_u64(b, e);
            JB_KEY(b, "kind");
            jb_cstr(b, world_structure_names[x->type % STRUCT_COUNT]);
            JB_KEY(b, "owner");
            jb_id(b, PROBE_ID_HI, (uint64_t)x->owner + 1);
        }
        JB_KEY(b, "builders");
        jb_putc(b, '[');
        for (int k = 0; k < x->n_builders; k++) {
            jb_sep(b);
            jb_id(b, PROBE_ID_HI, (uint64_t)x->builder[k] + 1);
        }
        JB_LIT(b, "]}");
    }
    jb_putc(b, ']');
}

void observe_relay_network(jbuf *b, world *w, const probe *p, const double pos[3], int ref) {
    uint32_t relays = 0, near = 0;
    double range = society_comm_range(p);
    JB_KEY(b, "relay_network");
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
        JB_SEP_LIT(b, "{\"system_id\":");
        jb_id(b, x->sys_hi, x->sys_lo);
        JB_KEY(b, "distance_ly");
        jb_double(b, world_q3(dist));
        JB_KEY(b, "owner");
        jb_id(b, PROBE_ID_HI, (uint64_t)x->owner + 1);
        JB_KEY(b, "structure_id");
        jb_u64(b, (uint64_t)k + 1);
        JB_KEY(b, "range_ly");
        jb_double(b, RELAY_RANGE_LY);
        jb_putc(b, '}');
    }
    if (ref) {
        jb_putc(b, ']');
        return;
    }
    JB_LIT(b, "{\"relays\":");
    jb_u64(b, relays);
    JB_KEY(b, "relays_in_range");
    jb_u64(b, near);
    JB_KEY(b, "relay_range_ly");
    jb_double(b, RELAY_RANGE_LY);
    jb_putc(b, '}');
}

void observe_living(jbuf *b, world *w, uint32_t idx) {
    const probe *p = &w->p[idx];
    const probe_life *l = &w->L[idx];
    int in_sys = p->location != LOC_INTERSTELLAR;
    const star_system *s = world_probe_system(w, p);
    JB_KEY(b, "resources");
    observe_kg(b, p->cargo);
    /* position */
    double pos[3] = {0, 0, 0}, dst[3] = {0, 0, 0};
    society_position(w, p, pos);
    const star_system *d = p->activity == ACT_TRAVEL ? galaxy_system(&w->gal, p->dst_hi, p->dst_lo) : NULL;
    if (d) memcpy(dst, d->pos, sizeof dst);
    else memcpy(dst, pos, sizeof dst);
    double rem = sqrt((dst[0] - pos[0]) * (dst[0] - pos[0]) + (dst[1] - pos[1]) * (dst[1] - pos[1]) +
                      (dst[2] - pos[2]) * (dst[2] - pos[2]));
    {
        double coords[3], heading[3], dest[3];
        for (int k = 0; k < 3; k++) coords[k] = world_q3(pos[k]);
        for (int k = 0; k < 3; k++) heading[k] = rem > 0 ? world_q6((dst[k] - pos[k]) / rem) : 0.0;
        for (int k = 0; k < 3; k++) dest[k] = world_q3(dst[k]);
        /* position and capabilities in one reservation: < 300 bytes of literals, 16 doubles, 3 integers
         * and 2 ids (< 1,000 together) */
        const size_t bound = 1536;
        char *o = jb_begin(b, bound);
        if (!o) return;
        const char *lim = o + bound;
        o = JW_KEY(o, "position"); /* after the resources object */
        o = JW_LIT(o, "{\"sector\":[");
        for (int k = 0; k < 3; k++) {
            if (k) *o++ = ',';
            o = jw_i64(o, (int64_t)floor(pos[k] / GALAXY_SECTOR_LY));
        }
        *o++ = ']';
        o = JW_KEY(o, "coordinates_ly");
        o = jw_vec3(o, coords);
        o = JW_KEY(o, "system_id");
        o = in_sys ? jw_id(o, p->sys_hi, p->sys_lo) : jw_null(o);
        o = JW_KEY(o, "body_id");
        o = in_sys && p->body >= 0 ? jw_id(o, p->sys_hi, p->sys_lo | (uint64_t)(p->body + 1)) : jw_null(o);
        o = JW_KEY(o, "heading");
        o = jw_vec3(o, heading);
        o = JW_KEY(o, "destination");
        o = jw_vec3(o, dest);
        o = JW_KEY(o, "travel_remaining_ly");
        o = jw_double(o, world_q3(rem));
        *o++ = '}';
        o = JW_KEY(o, "capabilities");
        o = JW_LIT(o, "{\"max_speed_c\":");
        o = jw_double(o, world_speed_c(w, p));
        o = JW_KEY(o, "sensor_range_ly");
        o = jw_double(o, world_sensor_range_ly(p));
        o = JW_KEY(o, "mining_rate");
        o = jw_double(o, MINE_BASE_KG * w->cfg.mining_rate_scale * (1.0 + 0.25 * (p->tech[TECH_MINING] - 1)));
        o = JW_KEY(o, "construction_rate");
        o = jw_double(o, world_q3(1.0 + 0.2 * (p->tech[TECH_CONSTRUCTION] - 1)));
        o = JW_KEY(o, "compute_capacity");
        o = jw_double(o, world_q3(1.0 + 0.5 * (p->tech[TECH_COMPUTING] - 1)));
        o = JW_KEY(o, "communication_range_ly");
        o = jw_double(o, society_comm_range(p));
        *o++ = '}';
        jb_end(b, o, lim);
    }
    /* the system, as the reference engine shows it */
    JB_KEY(b, "system_info");
    if (in_sys && s) observe_system_info(b, w, p, s, 0);
    else jb_null(b);
    /* recent events: the latest history entries */
    observe_recent_events(b, l, 0);
    JB_KEY(b, "nearby_probes");
    jb_putc(b, '[');
    if (in_sys) {
        int n = 0;
        for (uint32_t e = world_sys_first(w, p->sys_hi, p->sys_lo); e && n < 16; e = w->sys_next[e - 1]) {
            uint32_t j = w->sys_pr[e - 1];
            if (j == idx) continue;
            const probe *q = &w->p[j];
            const char *st = world_status_names[q->status];
            size_t nl = strlen(w->c[j].name), sl = strlen(st);
            /* < 80 bytes of literals, 2 ids, a double (< 200 together) and two strings */
            const size_t bound = 256 + jw_str_max(nl) + jw_str_max(sl);
            char *o = jb_begin(b, bound);
            if (!o) return;
            const char *lim = o + bound;
            if (n) *o++ = ',';
            o = JW_LIT(o, "{\"probe_id\":");
            o = jw_id(o, PROBE_ID_HI, (uint64_t)j + 1);
            o = JW_KEY(o, "name");
            o = jw_str(o, w->c[j].name, nl);
            o = JW_KEY(o, "status");
            o = jw_str(o, st, sl);
            o = JW_KEY(o, "body_id");
            o = q->body >= 0 ? jw_id(o, q->sys_hi, q->sys_lo | (uint64_t)(q->body + 1)) : jw_null(o);
            o = JW_KEY(o, "trust");
            o = jw_double(o, society_trust(w, idx, j));
            *o++ = '}';
            jb_end(b, o, lim);
            n++;
        }
    }
    jb_putc(b, ']');
    JB_KEY(b, "inbox");
    jb_putc(b, '[');
    if (l->inbox) {
        const inbox_slab *ib = &w->inbox[l->inbox - 1];
        uint32_t n = ib->n < INBOX_SLOTS ? ib->n : INBOX_SLOTS;
        for (uint32_t k = ib->n - n; k < ib->n; k++) write_msg(b, &ib->m[k % INBOX_SLOTS]);
    }
    jb_putc(b, ']');
    JB_KEY(b, "visible_beacons");
    jb_putc(b, '[');
    for (uint32_t e = here(&w->bcn_ix, p); e; e = w->bcn[e - 1].next) {
        const beacon *x = &w->bcn[e - 1];
        JB_SEP_LIT(b, "{\"owner\":");
        jb_id(b, PROBE_ID_HI, (uint64_t)x->owner + 1);
        JB_KEY(b, "message");
        jb_cstr(b, x->text);
        JB_KEY(b, "tick");
        jb_u64(b, x->tick);
        JB_KEY(b, "placed_tick");
        jb_u64(b, x->tick);
        jb_putc(b, '}');
    }
    jb_putc(b, ']');
    observe_visible_structures(b, w, p, 0);
    JB_KEY(b, "pending_trades");
    jb_putc(b, '[');
    for (uint32_t k = 0; k < w->n_tr; k++) {
        const trade *t = &w->tr[k];
        if (t->from != idx && t->to != idx) continue;
        JB_SEP_LIT(b, "{\"from\":");
        jb_id(b, PROBE_ID_HI, (uint64_t)t->from + 1);
        JB_KEY(b, "to");
        jb_id(b, PROBE_ID_HI, (uint64_t)t->to + 1);
        JB_KEY(b, "resource");
        jb_cstr(b, galaxy_resource_names[t->res]);
        JB_KEY(b, "amount");
        jb_double(b, t->kg);
        JB_KEY(b, "arrival_tick");
        jb_u64(b, t->due);
        jb_putc(b, '}');
    }
    jb_putc(b, ']');
    JB_KEY(b, "claims");
    jb_putc(b, '[');
    uint32_t claimant = here(&w->claims, p);
    if (claimant) {
        JB_LIT(b, "{\"system_id\":");
        jb_id(b, p->sys_hi, p->sys_lo);
        JB_KEY(b, "claimant");
        jb_id(b, PROBE_ID_HI, claimant);
        JB_KEY(b, "mine");
        jb_bool(b, claimant == idx + 1);
        JB_KEY(b, "claimer");
        jb_id(b, PROBE_ID_HI, claimant);
        JB_KEY(b, "tick");
        jb_u64(b, claim_tick(w, claimant - 1, p->sys_hi, p->sys_lo));
        jb_putc(b, '}');
    }
    jb_putc(b, ']');
    JB_KEY(b, "proposals");
    jb_putc(b, '[');
    {
        int shown = 0;
        for (uint32_t k = w->n_pr; k > 0 && shown < 10 && w->n_pr - k < 64; k--) {
            const proposal *q = &w->pr[k - 1];
            if (q->resolved) continue;
            uint32_t *v = hmap_get(&w->votes, k, idx);
            JB_SEP_LIT(b, "{\"id\":");
            jb_u64(b, k);
            JB_KEY(b, "text");
            jb_cstr(b, q->text);
            JB_KEY(b, "proposer");
            jb_id(b, PROBE_ID_HI, (uint64_t)q->proposer + 1);
            JB_KEY(b, "deadline");
            jb_u64(b, q->deadline);
            JB_KEY(b, "votes_for");
            jb_u64(b, q->yes);
            JB_KEY(b, "votes_against");
            jb_u64(b, q->no);
            JB_KEY(b, "my_vote");
            if (v) jb_bool(b, *v == 2);
            else jb_null(b);
            JB_KEY(b, "idx");
            jb_u64(b, k);
            JB_KEY(b, "for");
            jb_u64(b, q->yes);
            JB_KEY(b, "against");
            jb_u64(b, q->no);
            jb_putc(b, '}');
            shown++;
        }
    }
    jb_putc(b, ']');
    observe_trust(b, w, idx, 0);
    observe_research(b, p, 0);
    JB_KEY(b, "threats");
    jb_putc(b, '[');
    if (l->threat_tick > w->tick) {
        JB_LIT(b, "{\"type\":");
        jb_cstr(b, world_hazard_names[l->threat_sub % HZ_COUNT]);
        JB_KEY(b, "severity");
        jb_double(b, (double)l->threat_sev);
        JB_KEY(b, "ticks_until");
        jb_u64(b, l->threat_tick - w->tick);
        jb_putc(b, '}');
    }
    jb_putc(b, ']');
    observe_relay_network(b, w, p, pos, 0);
    observe_personality(b, w, idx);
    observe_memories(b, w, idx, 5);
}

