/* observe.c -- see observe.h: the probe observation (its first-engine fields), events and status
 * entries. Field names are part of the pipe contract (docs/pipe-protocol.md). */
#include "observe.h"

#include "life.h"

#include <math.h>

static void id_or_null(jbuf *b, uint64_t hi, uint64_t lo) {
    if (hi == 0 && lo == 0) jb_null(b);
    else jb_id(b, hi, lo);
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
        for (int i = 0; i < n; i++) observe_scan_entry(b, w, p, &hits[i], 0, 0);
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
    observe_kg(b, p->cargo);
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
        observe_kg(b, cost);
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
