/* observe.c -- see observe.h: the probe observation (its first-engine fields), events and status
 * entries. Field names are part of the pipe contract (docs/pipe-protocol.md). */
#include "observe.h"

#include "life.h"

#include <math.h>
#include <string.h>

static void id_or_null(jbuf *b, uint64_t hi, uint64_t lo) {
    if (hi == 0 && lo == 0) jb_null(b);
    else jb_id(b, hi, lo);
}

static void write_last_action(jbuf *b, world *w, const probe *p) {
    JB_KEY(b, "last_action");
    /* no action this tick, or a wait that was accepted: the same text either way */
    if (p->act_tick != w->tick || p->act_tick == 0 || (p->last_action == A_WAIT && p->last_ok)) {
        JB_LIT(b, "{\"action\":\"wait\",\"ok\":true,\"reason\":null,\"result\":null}");
        return;
    }
    JB_LIT(b, "{\"action\":");
    jb_cstr(b, world_action_names[p->last_action]);
    JB_KEY(b, "ok");
    jb_bool(b, p->last_ok);
    JB_KEY(b, "reason");
    if (p->last_ok) jb_null(b);
    else jb_cstr(b, world_reason_text[p->last_reason]);
    JB_KEY(b, "result");
    if (!p->last_ok) {
        jb_null(b);
        jb_putc(b, '}');
        return;
    }
    switch (p->last_action) {
    case A_SURVEY:
        JB_LIT(b, "{\"target\":");
        jb_cstr(b, p->body >= 0 ? "body" : "system");
        JB_KEY(b, "level");
        jb_u64(b, (uint64_t)p->last_amount);
        JB_KEY(b, "progress");
        jb_double(b, p->survey_progress);
        jb_putc(b, '}');
        break;
    case A_MINE:
        JB_LIT(b, "{\"resource\":");
        jb_cstr(b, galaxy_resource_names[p->last_res]);
        JB_KEY(b, "kg");
        jb_double(b, p->last_amount);
        jb_putc(b, '}');
        break;
    case A_REPAIR:
        JB_LIT(b, "{\"hull_gained\":");
        jb_double(b, p->last_amount);
        jb_putc(b, '}');
        break;
    case A_SEND_MESSAGE:
        jb_puts(b, p->last_res ? "{\"recipients\":" : "{\"arrival_tick\":");
        jb_u64(b, (uint64_t)p->last_amount);
        jb_putc(b, '}');
        break;
    case A_PROPOSE:
        JB_LIT(b, "{\"proposal\":");
        jb_u64(b, (uint64_t)p->last_amount);
        jb_putc(b, '}');
        break;
    case A_NAVIGATE:
    case A_TRAVEL:
    case A_REPLICATE:
    case A_RESEARCH:
        JB_LIT(b, "{\"ticks\":");
        jb_u64(b, (uint64_t)p->last_amount);
        jb_putc(b, '}');
        break;
    case A_SCAN: {
        scan_hit hits[SCAN_MAX_RESULTS];
        const star_system *s = world_probe_system(w, p);
        int n = 0;
        if (s) n = galaxy_scan(&w->gal, s->pos, world_sensor_range_ly(p), s->id_hi, s->id_lo, hits,
                               SCAN_MAX_RESULTS);
        JB_LIT(b, "{\"range_ly\":");
        jb_double(b, world_sensor_range_ly(p));
        JB_KEY(b, "systems");
        jb_putc(b, '[');
        for (int i = 0; i < n; i++) observe_scan_entry(b, w, p, &hits[i], 0, 0);
        JB_LIT(b, "]}");
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
        JB_LIT(b, "{\"probe_id\":");
        jb_id(b, PROBE_ID_HI, (uint64_t)e->probe + 1);
        JB_KEY(b, "type");
    } else {
        JB_LIT(b, "{\"type\":");
    }
    jb_cstr(b, world_event_type_names[e->type % EV_TYPE_COUNT]);
    JB_KEY(b, "subtype");
    const char *sub = observe_subtype_name(e->type, e->subtype, e->arg);
    if (sub) jb_cstr(b, sub);
    else jb_null(b);
    JB_KEY(b, "severity");
    jb_double(b, e->severity);
    JB_KEY(b, "value");
    jb_double(b, e->value);
    if (e->type == EV_DISCOVERY) {
        jb_key(b, e->subtype == DS_TECH_INSIGHT ? "tech" : "resource");
        jb_cstr(b, e->subtype == DS_TECH_INSIGHT ? world_tech_names[e->arg % TECH_COUNT]
                                                  : galaxy_resource_names[e->arg % RES_COUNT]);
    } else if (e->type == EV_RESEARCH || e->type == EV_ARTIFACT) {
        JB_KEY(b, "tech");
        jb_cstr(b, world_tech_names[e->arg % TECH_COUNT]);
    } else if (e->type == EV_TRADE || e->type == EV_ANOMALY) {
        JB_KEY(b, "resource");
        jb_cstr(b, galaxy_resource_names[e->arg % RES_COUNT]);
    } else if (e->type == EV_STRUCTURE) {
        JB_KEY(b, "structure");
        jb_cstr(b, world_structure_names[e->arg % STRUCT_COUNT]);
    } else if (e->type == EV_THREAT) {
        JB_KEY(b, "ticks_until");
        jb_double(b, e->value);
    }
    JB_KEY(b, "tick");
    jb_u64(b, e->tick);
    JB_KEY(b, "injected");
    jb_bool(b, e->injected);
    JB_KEY(b, "message");
    jb_cstr(b, msg);
    jb_putc(b, '}');
}

static void write_event(jbuf *b, const event *e) { write_event_obj(b, e, 0); }

void observe_event(jbuf *b, const event *e) { write_event_obj(b, e, 1); }

void observe_probe(jbuf *b, world *w, uint32_t idx, int detail) {
    const probe *p = &w->p[idx];
    const probe_cold *c = &w->c[idx];
    const star_system *s = world_probe_system(w, p);
    const body *bd = s && p->body >= 0 ? &s->bodies[p->body] : NULL;
    const char *status = world_status_names[p->status], *loc = world_location_names[p->location];
    const char *sys_name = s ? s->name : "", *btype = bd ? galaxy_body_type_names[bd->type] : "";
    size_t nl = strlen(c->name), stl = strlen(status), ll = strlen(loc), snl = strlen(sys_name);
    size_t bnl = bd ? strlen(bd->name) : 0, btl = strlen(btype);
    /* the fields up to body_type in one reservation: < 250 bytes of literals, 4 ids, 3 doubles,
     * 2 integers and the tech list (< 750 together), and six strings */
    const size_t bound = 1024 + jw_str_max(nl) + jw_str_max(stl) + jw_str_max(ll) + jw_str_max(snl) +
                         jw_str_max(bnl) + jw_str_max(btl);
    int comma = jb_need_comma(b);
    char *o = jb_begin(b, bound);
    if (!o) return;
    const char *lim = o + bound;
    if (comma) *o++ = ',';
    o = JW_LIT(o, "{\"type\":\"observe\",\"probe_id\":");
    o = jw_id(o, PROBE_ID_HI, (uint64_t)idx + 1);
    o = JW_KEY(o, "name");
    o = jw_str(o, c->name, nl);
    o = JW_KEY(o, "parent_id");
    o = c->parent_hi == 0 && c->parent_lo == 0 ? jw_null(o) : jw_id(o, c->parent_hi, c->parent_lo);
    o = JW_KEY(o, "generation");
    o = jw_u64(o, c->generation);
    o = JW_KEY(o, "status");
    o = jw_str(o, status, stl);
    o = JW_KEY(o, "hull");
    o = jw_double(o, p->hull);
    o = JW_KEY(o, "energy");
    o = jw_double(o, p->energy);
    o = JW_KEY(o, "fuel");
    o = jw_double(o, p->fuel);
    o = JW_KEY(o, "location");
    o = jw_str(o, loc, ll);
    o = JW_KEY(o, "tech");
    *o++ = '[';
    for (int t = 0; t < TECH_COUNT; t++) {
        if (t) *o++ = ',';
        o = jw_u64(o, p->tech[t]);
    }
    *o++ = ']';
    o = JW_KEY(o, "system");
    o = jw_id(o, p->sys_hi, p->sys_lo);
    o = JW_KEY(o, "system_name");
    o = jw_str(o, sys_name, snl);
    o = JW_KEY(o, "system_survey");
    o = jw_u64(o, p->sys_survey);
    o = JW_KEY(o, "body");
    if (bd) {
        uint64_t bh, bl;
        galaxy_body_id(s, p->body, &bh, &bl);
        o = jw_id(o, bh, bl);
        o = JW_KEY(o, "body_name");
        o = jw_str(o, bd->name, bnl);
        o = JW_KEY(o, "body_type");
        o = jw_str(o, btype, btl);
    } else {
        o = JW_LIT(o, "null,\"body_name\":null,\"body_type\":null");
    }
    jb_end(b, o, lim);
    JB_KEY(b, "cargo");
    observe_kg(b, p->cargo);
    JB_KEY(b, "survey");
    if (s && p->body >= 0) {
        JB_LIT(b, "{\"level\":");
        jb_u64(b, p->survey[p->body]);
        JB_KEY(b, "progress");
        jb_double(b, p->survey_progress);
        JB_KEY(b, "resources");
        observe_resources(b, w, s, p->body, p->survey[p->body]);
        jb_putc(b, '}');
    } else {
        jb_null(b);
    }
    JB_KEY(b, "travel");
    if (p->activity == ACT_TRAVEL || p->activity == ACT_NAVIGATE) {
        JB_LIT(b, "{\"kind\":");
        jb_cstr(b, p->activity == ACT_TRAVEL ? "interstellar" : "in_system");
        JB_KEY(b, "target");
        if (p->activity == ACT_TRAVEL) {
            jb_id(b, p->dst_hi, p->dst_lo);
        } else {
            uint64_t bh = 0, bl = 0;
            if (s) galaxy_body_id(s, p->nav_target, &bh, &bl);
            jb_id(b, bh, bl);
        }
        JB_KEY(b, "eta_ticks");
        jb_u64(b, p->ticks_left);
        JB_KEY(b, "progress");
        jb_double(b, p->progress);
        jb_putc(b, '}');
    } else {
        jb_null(b);
    }
    JB_KEY(b, "activity");
    if (p->activity != ACT_NONE) {
        JB_LIT(b, "{\"kind\":");
        jb_cstr(b, world_activity_names[p->activity]);
        JB_KEY(b, "progress");
        jb_double(b, p->progress);
        JB_KEY(b, "ticks_remaining");
        jb_u64(b, p->ticks_left);
        jb_putc(b, '}');
    } else {
        jb_null(b);
    }
    write_last_action(b, w, p);
    JB_KEY(b, "events");
    jb_putc(b, '[');
    if (p->ev_epoch == w->epoch && p->ev_head) {
        for (uint32_t e = p->ev_head; e; e = w->ev[e - 1].next) write_event(b, &w->ev[e - 1]);
    }
    jb_putc(b, ']');
    if (!(detail & OBSERVE_COMPACT)) observe_living(b, w, idx);
    if (detail & OBSERVE_DETAIL) {
        JB_KEY(b, "born_tick");
        jb_u64(b, c->born_tick);
        JB_KEY(b, "children");
        jb_putc(b, '[');
        if (c->children) {
            for (uint32_t k = idx + 1; k < w->n_probes; k++)
                if (w->c[k].parent_lo == (uint64_t)idx + 1 && w->c[k].parent_hi == PROBE_ID_HI) {
                    jb_sep(b);
                    jb_id(b, PROBE_ID_HI, (uint64_t)k + 1);
                }
        }
        jb_putc(b, ']');
        JB_KEY(b, "bodies_survey");
        jb_putc(b, '[');
        if (s && p->location != LOC_INTERSTELLAR) {
            for (int bi = 0; bi < s->n_bodies; bi++) {
                uint64_t bh, bl;
                galaxy_body_id(s, bi, &bh, &bl);
                JB_SEP_LIT(b, "{\"body\":");
                jb_id(b, bh, bl);
                JB_KEY(b, "level");
                jb_u64(b, p->survey[bi]);
                jb_putc(b, '}');
            }
        }
        jb_putc(b, ']');
        double cost[RES_COUNT];
        world_replication_cost(w, cost);
        JB_KEY(b, "replication_cost");
        observe_kg(b, cost);
        JB_KEY(b, "sensor_range_ly");
        jb_double(b, world_sensor_range_ly(p));
        JB_KEY(b, "cargo_capacity");
        jb_double(b, CARGO_CAP);
    }
    if ((detail & (OBSERVE_REFERENCE | OBSERVE_COMPACT)) == OBSERVE_REFERENCE) observe_reference(b, w, idx);
    jb_putc(b, '}');
}

_Static_assert(sizeof(observe_key) == 7 * 8 + (5 + RES_COUNT) * 8 + 2 * 4 + 32 + TECH_COUNT + 2 + 5 + 5 + 2,
               "observe_key has padding");
_Static_assert(sizeof ((observe_key *)0)->name == sizeof ((probe_cold *)0)->name, "observe_key.name");

/* Mirrors observe_probe's compact path field by field: whatever it reads is here or makes the
 * key refuse (return 0). A change there needs the same change here (tests/test_delta.c compares
 * the two over random runs). Every member is set (the key has no padding, so no memset). */
int observe_compact_key(const world *w, uint32_t idx, observe_key *k) {
    const probe *p = &w->p[idx];
    const probe_cold *c = &w->c[idx];
    int acted = p->act_tick == w->tick && p->act_tick != 0;
    if (p->ev_epoch == w->epoch && p->ev_head) return 0;   /* "events" */
    if (acted && p->last_action == A_SCAN) return 0;       /* the systems found */
    int level = p->body >= 0 ? p->survey[p->body] : 0;
    if (level >= 4) return 0;                               /* "remaining_kg": the body's depletion */
    k->gal_seed = w->gal.seed;
    k->parent_hi = c->parent_hi;
    k->parent_lo = c->parent_lo;
    k->sys_hi = p->sys_hi;
    k->sys_lo = p->sys_lo;
    k->dst_hi = p->dst_hi;
    k->dst_lo = p->dst_lo;
    k->hull = p->hull;
    k->fuel = p->fuel;
    memcpy(k->cargo, p->cargo, sizeof k->cargo);
    k->progress = p->progress;
    k->survey_progress = p->survey_progress;
    k->generation = c->generation;
    k->ticks_left = p->ticks_left;
    memcpy(k->name, c->name, sizeof k->name);
    memcpy(k->tech, p->tech, sizeof k->tech);
    k->body = p->body;
    k->nav_target = p->nav_target;
    k->status = p->status;
    k->location = p->location;
    k->activity = p->activity;
    k->sys_survey = p->sys_survey;
    k->survey_level = (uint8_t)level;
    k->acted = (uint8_t)acted;
    k->last_action = acted ? p->last_action : 0;
    k->last_ok = acted ? p->last_ok : 0;
    k->last_reason = acted ? p->last_reason : 0;
    k->last_res = acted ? p->last_res : 0;
    k->last_amount = acted ? p->last_amount : 0.0;
    k->zero[0] = k->zero[1] = 0;
    return 1;
}

void observe_status_entry(jbuf *b, const world *w, uint32_t idx) {
    const probe *p = &w->p[idx];
    const probe_cold *c = &w->c[idx];
    JB_SEP_LIT(b, "{\"id\":");
    jb_id(b, PROBE_ID_HI, (uint64_t)idx + 1);
    JB_KEY(b, "name");
    jb_cstr(b, c->name);
    JB_KEY(b, "status");
    jb_cstr(b, world_status_names[p->status]);
    JB_KEY(b, "location");
    jb_cstr(b, world_location_names[p->location]);
    JB_KEY(b, "system");
    jb_id(b, p->sys_hi, p->sys_lo);
    JB_KEY(b, "body");
    if (p->body >= 0) jb_id(b, p->sys_hi, p->sys_lo | (uint64_t)(p->body + 1));
    else jb_null(b);
    JB_KEY(b, "generation");
    jb_u64(b, c->generation);
    JB_KEY(b, "parent_id");
    id_or_null(b, c->parent_hi, c->parent_lo);
    JB_KEY(b, "hull");
    jb_double(b, p->hull);
    jb_putc(b, '}');
}
