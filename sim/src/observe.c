/* observe.c -- see observe.h. Field names are part of the pipe contract (docs/pipe-protocol.md). */
#include "observe.h"

#include "life.h"
#include "observe_life.h"
#include "observe_ref.h"
#include "rng.h"
#include "society.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static void id_or_null(jbuf *b, uint64_t hi, uint64_t lo) {
    if (hi == 0 && lo == 0) jb_null(b);
    else jb_id(b, hi, lo);
}

/* Effective temperature of a star, derived from what the galaxy stores: L = 4 pi R^2 sigma T^4 in
 * solar units with the main-sequence radius R = M^0.8 (M < 1) or M^0.57, kept inside the
 * class's range, rounded to a kelvin. Not state. */
static double star_temp_k(const star_system *s) {
    static const double lo[STAR_CLASS_COUNT] = {30000, 10000, 7500, 6000, 5200, 3700, 2400};
    static const double hi[STAR_CLASS_COUNT] = {50000, 30000, 10000, 7500, 6000, 5200, 3700};
    double m = s->mass > 0.01 ? s->mass : 0.01;
    double r = m < 1.0 ? pow(m, 0.8) : pow(m, 0.57);
    double t = 5778.0 * pow(s->luminosity / (r * r), 0.25);
    int c = s->star_class % STAR_CLASS_COUNT;
    if (t < lo[c]) t = lo[c];
    if (t > hi[c]) t = hi[c];
    return round(t);
}

/* The system a probe is in, as system_info (readable) or the reference "system" (ref). */
static void write_system_info(jbuf *b, world *w, const probe *p, const star_system *s, int ref) {
    int planets = 0;
    for (int k = 0; k < s->n_bodies; k++) planets += s->bodies[k].parent == 0xFF;
    jb_puts(b, "{\"id\":");
    jb_id(b, s->id_hi, s->id_lo);
    jb_key(b, "name");
    jb_cstr(b, s->name);
    jb_key(b, "star_count");
    jb_u64(b, 1);
    jb_key(b, "planet_count");
    jb_u64(b, (uint64_t)planets);
    jb_key(b, "stars");
    jb_puts(b, "[{\"name\":");
    jb_cstr(b, s->name);
    jb_key(b, "class");
    if (ref) jb_u64(b, s->star_class);
    else jb_cstr(b, galaxy_star_class_names[s->star_class]);
    jb_key(b, "luminosity_solar");
    jb_double(b, s->luminosity);
    jb_key(b, "mass_solar");
    jb_double(b, s->mass);
    if (ref) {
        jb_key(b, "temp_k");
        jb_u64(b, (uint64_t)star_temp_k(s));
        jb_key(b, "class_name");
        jb_cstr(b, galaxy_star_class_names[s->star_class]);
    }
    jb_key(b, "metallicity");
    jb_double(b, world_q3(rng_unit(rng_hash3(w->seed ^ RNG_STREAM_PLANET, s->id_hi, s->id_lo)) * 0.6 - 0.3));
    jb_puts(b, "}]");
    jb_key(b, "planets");
    jb_putc(b, '[');
    for (int k = 0; k < s->n_bodies; k++) observe_planet(b, w, s, k, p->survey[k], ref);
    jb_putc(b, ']');
    jb_putc(b, '}');
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

static void write_last_action(jbuf *b, world *w, const probe *p) {
    jb_key(b, "last_action");
    if (p->act_tick != w->tick || p->act_tick == 0) {
        jb_puts(b, "{\"action\":\"wait\",\"ok\":true,\"reason\":null,\"result\":null}");
        return;
    }
    jb_puts(b, "{\"action\":");
    jb_cstr(b, world_action_names[p->last_action]);
    jb_key(b, "ok");
    jb_bool(b, p->last_ok);
    jb_key(b, "reason");
    if (p->last_ok) jb_null(b);
    else jb_cstr(b, world_reason_text[p->last_reason]);
    jb_key(b, "result");
    if (!p->last_ok) {
        jb_null(b);
        jb_putc(b, '}');
        return;
    }
    switch (p->last_action) {
    case A_SURVEY:
        jb_puts(b, "{\"target\":");
        jb_cstr(b, p->body >= 0 ? "body" : "system");
        jb_key(b, "level");
        jb_u64(b, (uint64_t)p->last_amount);
        jb_key(b, "progress");
        jb_double(b, p->survey_progress);
        jb_putc(b, '}');
        break;
    case A_MINE:
        jb_puts(b, "{\"resource\":");
        jb_cstr(b, galaxy_resource_names[p->last_res]);
        jb_key(b, "kg");
        jb_double(b, p->last_amount);
        jb_putc(b, '}');
        break;
    case A_REPAIR:
        jb_puts(b, "{\"hull_gained\":");
        jb_double(b, p->last_amount);
        jb_putc(b, '}');
        break;
    case A_SEND_MESSAGE:
        jb_puts(b, p->last_res ? "{\"recipients\":" : "{\"arrival_tick\":");
        jb_u64(b, (uint64_t)p->last_amount);
        jb_putc(b, '}');
        break;
    case A_PROPOSE:
        jb_puts(b, "{\"proposal\":");
        jb_u64(b, (uint64_t)p->last_amount);
        jb_putc(b, '}');
        break;
    case A_NAVIGATE:
    case A_TRAVEL:
    case A_REPLICATE:
    case A_RESEARCH:
        jb_puts(b, "{\"ticks\":");
        jb_u64(b, (uint64_t)p->last_amount);
        jb_putc(b, '}');
        break;
    case A_SCAN: {
        scan_hit hits[SCAN_MAX_RESULTS];
        const star_system *s = world_probe_system(w, p);
        int n = 0;
        if (s) n = galaxy_scan(&w->gal, s->pos, world_sensor_range_ly(p), s->id_hi, s->id_lo, hits,
                               SCAN_MAX_RESULTS);
        jb_puts(b, "{\"range_ly\":");
        jb_double(b, world_sensor_range_ly(p));
        jb_key(b, "systems");
        jb_putc(b, '[');
        for (int i = 0; i < n; i++) {
            const star_system *t = hits[i].sys;
            jb_sep(b);
            jb_puts(b, "{\"id\":");
            jb_id(b, t->id_hi, t->id_lo);
            jb_key(b, "name");
            jb_cstr(b, t->name);
            jb_key(b, "star_class");
            jb_cstr(b, galaxy_star_class_names[t->star_class]);
            jb_key(b, "distance_ly");
            jb_double(b, hits[i].distance_ly);
            jb_key(b, "fuel_needed");
            jb_double(b, hits[i].distance_ly * world_fuel_per_ly(p));
            double eta = ceil(hits[i].distance_ly / (world_speed_c(w, p) / 365.25));
            jb_key(b, "eta_ticks");
            jb_double(b, eta);
            jb_key(b, "explored");
            jb_bool(b, hmap_get(&w->explored, t->id_hi, t->id_lo) != NULL);
            observe_scan_extra(b, t, eta);
            jb_putc(b, '}');
        }
        jb_puts(b, "]}");
        break;
    }
    default: jb_null(b);
    }
    jb_putc(b, '}');
}

static void write_event_obj(jbuf *b, const event *e, int with_probe) {
    char msg[160];
    life_event_text(e, msg, sizeof msg);
    jb_sep(b);
    if (with_probe) {
        jb_puts(b, "{\"probe_id\":");
        jb_id(b, PROBE_ID_HI, (uint64_t)e->probe + 1);
        jb_key(b, "type");
    } else {
        jb_puts(b, "{\"type\":");
    }
    jb_cstr(b, world_event_type_names[e->type % EV_TYPE_COUNT]);
    jb_key(b, "subtype");
    const char *sub = observe_subtype_name(e->type, e->subtype, e->arg);
    if (sub) jb_cstr(b, sub);
    else jb_null(b);
    jb_key(b, "severity");
    jb_double(b, e->severity);
    jb_key(b, "value");
    jb_double(b, e->value);
    if (e->type == EV_DISCOVERY) {
        jb_key(b, e->subtype == DS_TECH_INSIGHT ? "tech" : "resource");
        jb_cstr(b, e->subtype == DS_TECH_INSIGHT ? world_tech_names[e->arg % TECH_COUNT]
                                                  : galaxy_resource_names[e->arg % RES_COUNT]);
    } else if (e->type == EV_RESEARCH || e->type == EV_ARTIFACT) {
        jb_key(b, "tech");
        jb_cstr(b, world_tech_names[e->arg % TECH_COUNT]);
    } else if (e->type == EV_TRADE || e->type == EV_ANOMALY) {
        jb_key(b, "resource");
        jb_cstr(b, galaxy_resource_names[e->arg % RES_COUNT]);
    } else if (e->type == EV_STRUCTURE) {
        jb_key(b, "structure");
        jb_cstr(b, world_structure_names[e->arg % STRUCT_COUNT]);
    } else if (e->type == EV_THREAT) {
        jb_key(b, "ticks_until");
        jb_double(b, e->value);
    }
    jb_key(b, "tick");
    jb_u64(b, e->tick);
    jb_key(b, "injected");
    jb_bool(b, e->injected);
    jb_key(b, "message");
    jb_cstr(b, msg);
    jb_putc(b, '}');
}

static void write_event(jbuf *b, const event *e) { write_event_obj(b, e, 0); }

void observe_event(jbuf *b, const event *e) { write_event_obj(b, e, 1); }

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

/* The latest 5 history entries: readable {tick, type, message} or the reference form
 * {tick, type, subtype, severity, description} (numbers) with kind and message beside them. */
static void write_recent_events(jbuf *b, const probe_life *l, int ref) {
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

#define REF_MAX_RELAYS 32

/* The "reference" overlay: reference forms of the keys whose readable shapes differ
 * (docs/pipe-protocol.md "Reference overlay"). Written last in a full observation. */
static void observe_reference(jbuf *b, world *w, uint32_t idx) {
    const probe *p = &w->p[idx];
    const probe_life *l = &w->L[idx];
    int in_sys = p->location != LOC_INTERSTELLAR;
    const star_system *s = world_probe_system(w, p);
    jb_key(b, "reference");
    jb_puts(b, "{\"system\":");
    if (in_sys && s) write_system_info(b, w, p, s, 1);
    else jb_null(b);
    jb_key(b, "recent_events");
    write_recent_events(b, l, 1);
    jb_key(b, "trust");
    jb_putc(b, '[');
    {
        int n = 0;
        for (uint32_t e = l->trust_head; e && n < 32; n++) {
            const trust_rec *t = &w->trust[e - 1];
            uint32_t other = t->a == idx ? t->b : t->a;
            jb_sep(b);
            jb_puts(b, "{\"probe_id\":");
            jb_id(b, PROBE_ID_HI, (uint64_t)other + 1);
            jb_key(b, "trust");
            jb_double(b, t->v);
            jb_putc(b, '}');
            e = t->a == idx ? t->next_a : t->next_b;
        }
    }
    jb_putc(b, ']');
    jb_key(b, "relay_network");
    jb_putc(b, '[');
    {
        double pos[3] = {0, 0, 0};
        society_position(w, p, pos);
        double range = society_comm_range(p);
        int n = 0;
        for (uint32_t k = 0; k < w->n_st && n < REF_MAX_RELAYS; k++) {
            const structure *x = &w->st[k];
            if (x->type != ST_RELAY || !x->finished) continue;
            const star_system *rs = galaxy_system(&w->gal, x->sys_hi, x->sys_lo);
            if (!rs) continue;
            double dd = 0;
            for (int c = 0; c < 3; c++) dd += (rs->pos[c] - pos[c]) * (rs->pos[c] - pos[c]);
            double dist = sqrt(dd);
            if (dist > range) continue;
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
            n++;
        }
    }
    jb_putc(b, ']');
    jb_key(b, "research");
    if (p->research) {
        jb_puts(b, "{\"domain\":");
        jb_u64(b, (uint64_t)p->research - 1);
        jb_key(b, "progress");
        jb_double(b, world_q6(1.0 - (double)p->research_left / p->research_total));
        jb_key(b, "ticks_remaining");
        jb_u64(b, p->research_left);
        jb_key(b, "domain_name");
        jb_cstr(b, world_tech_names[p->research - 1]);
        jb_putc(b, '}');
    } else {
        jb_null(b);
    }
    jb_key(b, "visible_structures");
    jb_putc(b, '[');
    if (in_sys) {
        uint32_t *h = hmap_get(&w->st_ix, p->sys_hi, p->sys_lo);
        for (uint32_t e = h ? *h : 0; e; e = w->st[e - 1].next) {
            const structure *x = &w->st[e - 1];
            jb_sep(b);
            jb_puts(b, "{\"builder\":");
            jb_id(b, PROBE_ID_HI, (uint64_t)x->owner + 1);
            jb_key(b, "type");
            jb_u64(b, x->type);
            jb_key(b, "name");
            jb_cstr(b, observe_structure_display[x->type % STRUCT_COUNT]);
            jb_key(b, "progress");
            jb_double(b, x->progress);
            jb_key(b, "complete");
            jb_bool(b, x->finished != 0);
            jb_key(b, "id");
            jb_u64(b, e);
            jb_key(b, "kind");
            jb_cstr(b, world_structure_names[x->type % STRUCT_COUNT]);
            jb_key(b, "owner");
            jb_id(b, PROBE_ID_HI, (uint64_t)x->owner + 1);
            jb_key(b, "builders");
            jb_putc(b, '[');
            for (int k = 0; k < x->n_builders; k++) {
                jb_sep(b);
                jb_id(b, PROBE_ID_HI, (uint64_t)x->builder[k] + 1);
            }
            jb_puts(b, "]}");
        }
    }
    jb_puts(b, "]}");
}

/* The living-universe fields of an observation (docs/pipe-protocol.md "Observation"). */
static void observe_living(jbuf *b, world *w, uint32_t idx) {
    const probe *p = &w->p[idx];
    const probe_life *l = &w->L[idx];
    int in_sys = p->location != LOC_INTERSTELLAR;
    const star_system *s = world_probe_system(w, p);
    jb_key(b, "resources");
    jb_putc(b, '{');
    for (int r = 0; r < RES_COUNT; r++) {
        jb_key(b, galaxy_resource_names[r]);
        jb_double(b, p->cargo[r]);
    }
    jb_putc(b, '}');
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
    jb_key(b, "coordinates_ly");
    jb_putc(b, '[');
    for (int k = 0; k < 3; k++) {
        jb_sep(b);
        jb_double(b, world_q3(pos[k]));
    }
    jb_putc(b, ']');
    jb_key(b, "system_id");
    if (in_sys) jb_id(b, p->sys_hi, p->sys_lo);
    else jb_null(b);
    jb_key(b, "body_id");
    if (in_sys && p->body >= 0) jb_id(b, p->sys_hi, p->sys_lo | (uint64_t)(p->body + 1));
    else jb_null(b);
    jb_key(b, "heading");
    jb_putc(b, '[');
    for (int k = 0; k < 3; k++) {
        jb_sep(b);
        jb_double(b, rem > 0 ? world_q6((dst[k] - pos[k]) / rem) : 0.0);
    }
    jb_putc(b, ']');
    jb_key(b, "destination");
    jb_putc(b, '[');
    for (int k = 0; k < 3; k++) {
        jb_sep(b);
        jb_double(b, world_q3(dst[k]));
    }
    jb_putc(b, ']');
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
    if (in_sys && s) write_system_info(b, w, p, s, 0);
    else jb_null(b);
    /* recent events: the latest history entries */
    jb_key(b, "recent_events");
    write_recent_events(b, l, 0);
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
    if (in_sys) {
        uint32_t *h = hmap_get(&w->bcn_ix, p->sys_hi, p->sys_lo);
        for (uint32_t e = h ? *h : 0; e; e = w->bcn[e - 1].next) {
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
    }
    jb_putc(b, ']');
    jb_key(b, "visible_structures");
    jb_putc(b, '[');
    if (in_sys) {
        uint32_t *h = hmap_get(&w->st_ix, p->sys_hi, p->sys_lo);
        for (uint32_t e = h ? *h : 0; e; e = w->st[e - 1].next) {
            const structure *x = &w->st[e - 1];
            jb_sep(b);
            jb_puts(b, "{\"id\":");
            jb_u64(b, e);
            jb_key(b, "type");
            jb_cstr(b, world_structure_names[x->type]);
            jb_key(b, "structure_type");
            jb_u64(b, x->type);
            jb_key(b, "owner");
            jb_id(b, PROBE_ID_HI, (uint64_t)x->owner + 1);
            jb_key(b, "progress");
            jb_double(b, x->progress);
            jb_key(b, "complete");
            jb_bool(b, x->finished != 0);
            jb_key(b, "builders");
            jb_putc(b, '[');
            for (int k = 0; k < x->n_builders; k++) {
                jb_sep(b);
                jb_id(b, PROBE_ID_HI, (uint64_t)x->builder[k] + 1);
            }
            jb_puts(b, "]}");
        }
    }
    jb_putc(b, ']');
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
    if (in_sys) {
        uint32_t *c = hmap_get(&w->claims, p->sys_hi, p->sys_lo);
        if (c && *c) {
            jb_puts(b, "{\"system_id\":");
            jb_id(b, p->sys_hi, p->sys_lo);
            jb_key(b, "claimant");
            jb_id(b, PROBE_ID_HI, *c);
            jb_key(b, "mine");
            jb_bool(b, *c == idx + 1);
            jb_key(b, "claimer");
            jb_id(b, PROBE_ID_HI, *c);
            jb_key(b, "tick");
            jb_u64(b, claim_tick(w, *c - 1, p->sys_hi, p->sys_lo));
            jb_putc(b, '}');
        }
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
    jb_key(b, "trust");
    jb_putc(b, '{');
    {
        int n = 0;
        for (uint32_t e = l->trust_head; e && n < 32; n++) {
            const trust_rec *t = &w->trust[e - 1];
            uint32_t other = t->a == idx ? t->b : t->a;
            char id[32];
            snprintf(id, sizeof id, "1-%u", other + 1);
            jb_key(b, id);
            jb_double(b, t->v);
            e = t->a == idx ? t->next_a : t->next_b;
        }
    }
    jb_putc(b, '}');
    jb_key(b, "research");
    if (p->research) {
        jb_puts(b, "{\"domain\":");
        jb_cstr(b, world_tech_names[p->research - 1]);
        jb_key(b, "progress");
        jb_double(b, world_q6(1.0 - (double)p->research_left / p->research_total));
        jb_key(b, "ticks_remaining");
        jb_u64(b, p->research_left);
        jb_putc(b, '}');
    } else {
        jb_null(b);
    }
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
    jb_key(b, "relay_network");
    {
        uint32_t relays = 0, near = 0;
        double range = society_comm_range(p);
        for (uint32_t k = 0; k < w->n_st; k++) {
            const structure *x = &w->st[k];
            if (x->type != ST_RELAY || !x->finished) continue;
            relays++;
            const star_system *rs = galaxy_system(&w->gal, x->sys_hi, x->sys_lo);
            if (rs) {
                double dd = 0;
                for (int c = 0; c < 3; c++) dd += (rs->pos[c] - pos[c]) * (rs->pos[c] - pos[c]);
                near += sqrt(dd) <= range;
            }
        }
        jb_puts(b, "{\"relays\":");
        jb_u64(b, relays);
        jb_key(b, "relays_in_range");
        jb_u64(b, near);
        jb_key(b, "relay_range_ly");
        jb_double(b, RELAY_RANGE_LY);
        jb_putc(b, '}');
    }
    observe_personality(b, w, idx);
    observe_memories(b, w, idx, 5);
}

void observe_probe(jbuf *b, world *w, uint32_t idx, int detail) {
    const probe *p = &w->p[idx];
    const probe_cold *c = &w->c[idx];
    jb_sep(b);
    jb_puts(b, "{\"type\":\"observe\",\"probe_id\":");
    jb_id(b, PROBE_ID_HI, (uint64_t)idx + 1);
    jb_key(b, "name");
    jb_cstr(b, c->name);
    jb_key(b, "parent_id");
    id_or_null(b, c->parent_hi, c->parent_lo);
    jb_key(b, "generation");
    jb_u64(b, c->generation);
    jb_key(b, "status");
    jb_cstr(b, world_status_names[p->status]);
    jb_key(b, "hull");
    jb_double(b, p->hull);
    jb_key(b, "energy");
    jb_double(b, p->energy);
    jb_key(b, "fuel");
    jb_double(b, p->fuel);
    jb_key(b, "location");
    jb_cstr(b, world_location_names[p->location]);
    jb_key(b, "tech");
    jb_putc(b, '[');
    for (int t = 0; t < TECH_COUNT; t++) {
        if (t) jb_putc(b, ',');
        jb_u64(b, p->tech[t]);
    }
    jb_putc(b, ']');
    const star_system *s = world_probe_system(w, p);
    jb_key(b, "system");
    jb_id(b, p->sys_hi, p->sys_lo);
    jb_key(b, "system_name");
    jb_cstr(b, s ? s->name : "");
    jb_key(b, "system_survey");
    jb_u64(b, p->sys_survey);
    jb_key(b, "body");
    if (s && p->body >= 0) {
        uint64_t bh, bl;
        galaxy_body_id(s, p->body, &bh, &bl);
        jb_id(b, bh, bl);
        jb_key(b, "body_name");
        jb_cstr(b, s->bodies[p->body].name);
        jb_key(b, "body_type");
        jb_cstr(b, galaxy_body_type_names[s->bodies[p->body].type]);
    } else {
        jb_null(b);
        jb_puts(b, ",\"body_name\":null,\"body_type\":null");
    }
    jb_key(b, "cargo");
    jb_putc(b, '{');
    for (int r = 0; r < RES_COUNT; r++) {
        jb_key(b, galaxy_resource_names[r]);
        jb_double(b, p->cargo[r]);
    }
    jb_putc(b, '}');
    jb_key(b, "survey");
    if (s && p->body >= 0) {
        jb_puts(b, "{\"level\":");
        jb_u64(b, p->survey[p->body]);
        jb_key(b, "progress");
        jb_double(b, p->survey_progress);
        jb_key(b, "resources");
        observe_resources(b, w, s, p->body, p->survey[p->body]);
        jb_putc(b, '}');
    } else {
        jb_null(b);
    }
    jb_key(b, "travel");
    if (p->activity == ACT_TRAVEL || p->activity == ACT_NAVIGATE) {
        jb_puts(b, "{\"kind\":");
        jb_cstr(b, p->activity == ACT_TRAVEL ? "interstellar" : "in_system");
        jb_key(b, "target");
        if (p->activity == ACT_TRAVEL) {
            jb_id(b, p->dst_hi, p->dst_lo);
        } else {
            uint64_t bh = 0, bl = 0;
            if (s) galaxy_body_id(s, p->nav_target, &bh, &bl);
            jb_id(b, bh, bl);
        }
        jb_key(b, "eta_ticks");
        jb_u64(b, p->ticks_left);
        jb_key(b, "progress");
        jb_double(b, p->progress);
        jb_putc(b, '}');
    } else {
        jb_null(b);
    }
    jb_key(b, "activity");
    if (p->activity != ACT_NONE) {
        jb_puts(b, "{\"kind\":");
        jb_cstr(b, world_activity_names[p->activity]);
        jb_key(b, "progress");
        jb_double(b, p->progress);
        jb_key(b, "ticks_remaining");
        jb_u64(b, p->ticks_left);
        jb_putc(b, '}');
    } else {
        jb_null(b);
    }
    write_last_action(b, w, p);
    jb_key(b, "events");
    jb_putc(b, '[');
    if (p->ev_epoch == w->epoch && p->ev_head) {
        for (uint32_t e = p->ev_head; e; e = w->ev[e - 1].next) write_event(b, &w->ev[e - 1]);
    }
    jb_putc(b, ']');
    if (!(detail & OBSERVE_COMPACT)) observe_living(b, w, idx);
    if (detail & OBSERVE_DETAIL) {
        jb_key(b, "born_tick");
        jb_u64(b, c->born_tick);
        jb_key(b, "children");
        jb_putc(b, '[');
        if (c->children) {
            for (uint32_t k = idx + 1; k < w->n_probes; k++)
                if (w->c[k].parent_lo == (uint64_t)idx + 1 && w->c[k].parent_hi == PROBE_ID_HI) {
                    jb_sep(b);
                    jb_id(b, PROBE_ID_HI, (uint64_t)k + 1);
                }
        }
        jb_putc(b, ']');
        jb_key(b, "bodies_survey");
        jb_putc(b, '[');
        if (s && p->location != LOC_INTERSTELLAR) {
            for (int bi = 0; bi < s->n_bodies; bi++) {
                uint64_t bh, bl;
                galaxy_body_id(s, bi, &bh, &bl);
                jb_sep(b);
                jb_puts(b, "{\"body\":");
                jb_id(b, bh, bl);
                jb_key(b, "level");
                jb_u64(b, p->survey[bi]);
                jb_putc(b, '}');
            }
        }
        jb_putc(b, ']');
        double cost[RES_COUNT];
        world_replication_cost(w, cost);
        jb_key(b, "replication_cost");
        jb_putc(b, '{');
        for (int r = 0; r < RES_COUNT; r++) {
            jb_key(b, galaxy_resource_names[r]);
            jb_double(b, cost[r]);
        }
        jb_putc(b, '}');
        jb_key(b, "sensor_range_ly");
        jb_double(b, world_sensor_range_ly(p));
        jb_key(b, "cargo_capacity");
        jb_double(b, CARGO_CAP);
    }
    if ((detail & (OBSERVE_REFERENCE | OBSERVE_COMPACT)) == OBSERVE_REFERENCE) observe_reference(b, w, idx);
    jb_putc(b, '}');
}

void observe_status_entry(jbuf *b, const world *w, uint32_t idx) {
    const probe *p = &w->p[idx];
    const probe_cold *c = &w->c[idx];
    jb_sep(b);
    jb_puts(b, "{\"id\":");
    jb_id(b, PROBE_ID_HI, (uint64_t)idx + 1);
    jb_key(b, "name");
    jb_cstr(b, c->name);
    jb_key(b, "status");
    jb_cstr(b, world_status_names[p->status]);
    jb_key(b, "location");
    jb_cstr(b, world_location_names[p->location]);
    jb_key(b, "system");
    jb_id(b, p->sys_hi, p->sys_lo);
    jb_key(b, "body");
    if (p->body >= 0) jb_id(b, p->sys_hi, p->sys_lo | (uint64_t)(p->body + 1));
    else jb_null(b);
    jb_key(b, "generation");
    jb_u64(b, c->generation);
    jb_key(b, "parent_id");
    id_or_null(b, c->parent_hi, c->parent_lo);
    jb_key(b, "hull");
    jb_double(b, p->hull);
    jb_putc(b, '}');
}

void observe_system(jbuf *b, world *w, const star_system *s, const probe *viewer) {
    uint8_t level[GALAXY_MAX_BODIES] = {0};
    if (viewer) {
        if (viewer->sys_hi == s->id_hi && viewer->sys_lo == s->id_lo && viewer->location != LOC_INTERSTELLAR)
            memcpy(level, viewer->survey, sizeof level);
    } else {
        for (uint32_t i = 0; i < w->n_probes; i++) {
            const probe *p = &w->p[i];
            if (p->status == ST_DESTROYED || p->sys_hi != s->id_hi || p->sys_lo != s->id_lo ||
                p->location == LOC_INTERSTELLAR)
                continue;
            for (int bi = 0; bi < s->n_bodies; bi++)
                if (p->survey[bi] > level[bi]) level[bi] = p->survey[bi];
        }
    }
    jb_puts(b, "{\"id\":");
    jb_id(b, s->id_hi, s->id_lo);
    jb_key(b, "name");
    jb_cstr(b, s->name);
    jb_key(b, "sector");
    jb_putc(b, '[');
    for (int k = 0; k < 3; k++) {
        jb_sep(b);
        jb_i64(b, s->sector[k]);
    }
    jb_putc(b, ']');
    jb_key(b, "position");
    jb_putc(b, '[');
    for (int k = 0; k < 3; k++) {
        jb_sep(b);
        jb_double(b, s->pos[k]);
    }
    jb_putc(b, ']');
    jb_key(b, "star");
    jb_puts(b, "{\"class\":");
    jb_cstr(b, galaxy_star_class_names[s->star_class]);
    jb_key(b, "luminosity");
    jb_double(b, s->luminosity);
    jb_key(b, "mass");
    jb_double(b, s->mass);
    jb_putc(b, '}');
    jb_key(b, "explored");
    jb_bool(b, hmap_get(&w->explored, s->id_hi, s->id_lo) != NULL);
    jb_key(b, "bodies");
    jb_putc(b, '[');
    for (int bi = 0; bi < s->n_bodies; bi++) {
        const body *bd = &s->bodies[bi];
        uint64_t bh, bl;
        galaxy_body_id(s, bi, &bh, &bl);
        jb_sep(b);
        jb_puts(b, "{\"id\":");
        jb_id(b, bh, bl);
        jb_key(b, "id_hi");
        jb_u64(b, bh);
        jb_key(b, "id_lo");
        jb_u64(b, bl);
        jb_key(b, "name");
        jb_cstr(b, bd->name);
        jb_key(b, "type");
        jb_cstr(b, galaxy_body_type_names[bd->type]);
        jb_key(b, "orbit_au");
        jb_double(b, bd->orbit_au);
        jb_key(b, "parent");
        if (bd->parent == 0xFF) jb_null(b);
        else {
            uint64_t ph, pl;
            galaxy_body_id(s, bd->parent, &ph, &pl);
            jb_id(b, ph, pl);
        }
        jb_key(b, "landable");
        jb_bool(b, bd->landable);
        jb_key(b, "survey_level");
        jb_u64(b, level[bi]);
        jb_key(b, "resources");
        observe_resources(b, w, s, bi, level[bi]);
        jb_putc(b, '}');
    }
    jb_puts(b, "]}");
}
