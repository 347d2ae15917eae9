/* proto_events.c -- scripted events: inject (one event now) and scenario (a timed script). */
#include "proto_cmd.h"

#include "events.h"
#include "observe.h"
#include "rng.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int parse_subtype(proto *P, const json_node *n, const char *const *names, int count, int *out) {
    if (!n) return 0;
    int64_t v;
    if (n->type == JSON_NUMBER) {
        if (json_as_i64(&P->doc, n, &v) || v < 0 || v >= count) return -1;
        *out = (int)v;
        return 0;
    }
    for (int i = 0; i < count; i++)
        if (json_is_str(n, &P->doc, names[i])) {
            *out = i;
            return 0;
        }
    return -1;
}

/* Event types a scenario or inject may name. */
static const int scriptable_kinds[] = {EV_HAZARD, EV_DISCOVERY, EV_THREAT, EV_ANOMALY, EV_ENCOUNTER, EV_CRISIS, EV_WONDER};
#define SCRIPTABLE_TYPES "hazard (2), discovery (0), threat (6), anomaly (1), encounter (3), crisis (4), wonder (5)"

/* t (enum event_type) if scriptable, else -1. */
static int scriptable_type(int t) {
    for (size_t k = 0; k < sizeof scriptable_kinds / sizeof *scriptable_kinds; k++)
        if (scriptable_kinds[k] == t) return t;
    return -1;
}

/* The scriptable type a string node names, or -1. */
static int scripted_type_in(const json_doc *d, const json_node *n) {
    for (size_t k = 0; k < sizeof scriptable_kinds / sizeof *scriptable_kinds; k++)
        if (json_is_str(n, d, world_event_type_names[scriptable_kinds[k]])) return scriptable_kinds[k];
    return -1;
}

int proto_cmd_inject(proto *P, const json_node *root, perr *e) {
    json_doc *d = &P->doc;
    world *w = &P->w;
    const json_node *ev = json_get(d, root, "event");
    if (!ev || ev->type != JSON_OBJECT) return proto_fail(e, "bad_request", "field 'event' must be an object");
    const json_node *type = json_get(d, ev, "type");
    int is_hazard, kind = -1;
    if (type && type->type == JSON_NUMBER) { /* the reference numbering */
        int64_t tv;
        int t = json_as_i64(d, type, &tv) ? -1 : observe_type_from_ref(tv);
        if (t < 0)
            return proto_fail(e, "bad_request", "event.type number must be an integer 0..%d (reference numbering)",
                        REF_TYPE_COUNT - 1);
        if (scriptable_type(t) < 0)
            return proto_fail(e, "bad_request", "event.type %d (%s) cannot be injected; one of %s", (int)tv,
                        world_event_type_names[t], SCRIPTABLE_TYPES);
        kind = t == EV_HAZARD || t == EV_DISCOVERY ? -1 : t;
        is_hazard = t == EV_HAZARD || t == EV_THREAT;
    } else if (json_is_str(type, d, "hazard")) is_hazard = 1;
    else if (json_is_str(type, d, "discovery")) is_hazard = 0;
    else if ((kind = scripted_type_in(d, type)) >= 0) is_hazard = kind == EV_THREAT;
    else return proto_fail(e, "bad_request", "event.type must be one of hazard, discovery, threat, anomaly, encounter, crisis, wonder");
    int sub = is_hazard ? HZ_SOLAR_FLARE : DS_ANOMALY;
    const json_node *st = json_get(d, ev, "subtype");
    if (kind != EV_ANOMALY && kind != EV_ENCOUNTER && kind != EV_CRISIS && kind != EV_WONDER &&
        parse_subtype(P, st, is_hazard ? world_hazard_names : world_discovery_names,
                      is_hazard ? HZ_COUNT : DS_COUNT, &sub))
        return proto_fail(e, "bad_request", "event.subtype unknown (number 0..%d or name)",
                    (is_hazard ? HZ_COUNT : DS_COUNT) - 1);
    if (kind < 0) kind = is_hazard ? EV_HAZARD : EV_DISCOVERY;
    double sev = 0.5;
    const json_node *sv = json_get(d, ev, "severity");
    if (sv) {
        if (sv->type != JSON_NUMBER || !(sv->num >= 0.0 && sv->num <= 1.0))
            return proto_fail(e, "bad_request", "event.severity must be a number in [0, 1]");
        sev = sv->num;
    }
    uint32_t target = 0;
    int one = 0;
    const json_node *pid = json_get(d, ev, "probe_id");
    if (!pid) pid = json_get(d, root, "probe_id");
    if (pid && pid->type != JSON_NULL) {
        size_t sl;
        const char *s = json_str(d, pid, &sl);
        uint64_t hi, lo;
        int64_t idx;
        if (!s) return proto_fail(e, "bad_request", "event.probe_id must be a string");
        if (world_parse_id(s, sl, &hi, &lo) || (idx = world_probe_index(w, hi, lo)) < 0)
            return proto_fail(e, "unknown_probe", "no probe '%.60s'", s);
        target = (uint32_t)idx;
        one = 1;
    }
    uint64_t applied = 0;
    uint32_t first = one ? target : 0, last = one ? target + 1 : w->n_probes;
    for (uint32_t i = first; i < last; i++) {
        if (w->p[i].status == ST_DESTROYED) continue;
        uint32_t before = w->n_ev;
        events_apply(w, i, kind, sub, sev, rng_hash4(w->rseed ^ RNG_STREAM_INJECT, i, w->tick, before));
        for (uint32_t k = before; k < w->n_ev; k++) w->ev[k].injected = 1;
        world_update_status(w, &w->p[i]);
        applied++;
    }
    jb_key(&P->out, "applied");
    jb_u64(&P->out, applied);
    jb_key(&P->out, "tick");
    jb_u64(&P->out, w->tick);
    jb_key(&P->out, "destroyed");
    jb_putc(&P->out, '[');
    for (uint32_t i = first; i < last; i++)
        if (w->p[i].status == ST_DESTROYED && w->p[i].ev_epoch == w->epoch && w->p[i].ev_head) {
            /* destroyed by this injection if its destroyed event is injected */
            for (uint32_t k = w->p[i].ev_head; k; k = w->ev[k - 1].next)
                if (w->ev[k - 1].type == EV_DESTROYED && w->ev[k - 1].injected) {
                    jb_sep(&P->out);
                    jb_id(&P->out, PROBE_ID_HI, (uint64_t)i + 1);
                    break;
                }
        }
    jb_putc(&P->out, ']');
    return 0;
}

static void write_scenario(proto *P, int ref) {
    world *w = &P->w;
    jbuf *b = &P->out;
    jb_key(b, "scenario");
    jb_puts(b, "{\"name\":");
    jb_cstr(b, w->sc_name);
    jb_key(b, "events");
    jb_putc(b, '[');
    uint64_t next = 0;
    for (uint32_t k = 0; k < w->n_sc; k++) {
        const scenario_event *x = &w->sc[k];
        if (x->at_tick > w->tick && (!next || x->at_tick < next)) next = x->at_tick;
        jb_sep(b);
        jb_puts(b, "{\"at_tick\":");
        jb_u64(b, x->at_tick);
        jb_key(b, "type");
        if (ref) {
            jb_u64(b, (uint64_t)observe_ref_type(x->type));
            jb_key(b, "kind");
        }
        jb_cstr(b, world_event_type_names[x->type]);
        jb_key(b, "subtype");
        jb_u64(b, x->subtype);
        jb_key(b, "severity");
        jb_double(b, x->severity);
        jb_key(b, "target");
        if (x->target) jb_id(b, PROBE_ID_HI, x->target);
        else jb_null(b);
        jb_key(b, "fired");
        jb_bool(b, x->at_tick <= w->tick);
        jb_putc(b, '}');
    }
    jb_putc(b, ']');
    jb_key(b, "next_tick");
    if (next) jb_u64(b, next);
    else jb_null(b);
    jb_putc(b, '}');
}

#define SCENARIO_MAX_EVENTS 100000
#define SCENARIO_MAX_FILE (4u << 20)

/* Parse a scenario object {name, relative, events:[{at_tick, type, subtype, severity, target}]}
 * from doc d into a fresh array. 0 ok. */
static int parse_scenario(proto *P, const json_doc *d, const json_node *obj, perr *e, scenario_event **out,
                          uint32_t *n_out, char name[64]) {
    world *w = &P->w;
    if (!obj || obj->type != JSON_OBJECT) return proto_fail(e, "bad_request", "scenario must be an object");
    const json_node *ev = json_get(d, obj, "events");
    if (!ev || ev->type != JSON_ARRAY) return proto_fail(e, "bad_request", "scenario.events must be an array");
    if (ev->count > SCENARIO_MAX_EVENTS) return proto_fail(e, "bad_request", "scenario has more than %d events", SCENARIO_MAX_EVENTS);
    const json_node *rel = json_get(d, obj, "relative");
    if (rel && rel->type != JSON_TRUE && rel->type != JSON_FALSE && rel->type != JSON_NULL)
        return proto_fail(e, "bad_request", "scenario.relative must be a boolean");
    uint64_t base = rel && rel->type == JSON_TRUE ? w->tick : 0;
    size_t nl = 0;
    const json_node *nm = json_get(d, obj, "name");
    const char *ns = nm ? json_str(d, nm, &nl) : "";
    if (nm && !ns) return proto_fail(e, "bad_request", "scenario.name must be a string");
    if (nl > 63 || (ns && memchr(ns, 0, nl))) return proto_fail(e, "bad_request", "scenario.name must be at most 63 bytes");
    memset(name, 0, 64);
    if (nl) memcpy(name, ns, nl);
    scenario_event *arr = ev->count ? calloc(ev->count, sizeof *arr) : NULL;
    if (ev->count && !arr) return proto_fail(e, "io_error", "out of memory");
    uint32_t k = 0;
    for (const json_node *x = json_child(d, ev); x; x = json_next(d, x), k++) {
        scenario_event *s = &arr[k];
        uint64_t at;
        const json_node *t = json_get(d, x, "at_tick");
        if (x->type != JSON_OBJECT || !t || json_as_u64(d, t, &at) || at > (1ULL << 40)) {
            free(arr);
            return proto_fail(e, "bad_request", "scenario event %u: 'at_tick' must be a non-negative integer", k);
        }
        s->at_tick = at + base;
        if (at + base <= w->tick) {
            free(arr);
            return proto_fail(e, "bad_request", "scenario event %u: at_tick %llu is not after the current tick %llu", k,
                        (unsigned long long)(at + base), (unsigned long long)w->tick);
        }
        const json_node *ty = json_get(d, x, "type");
        int kind = -1;
        if (ty && ty->type == JSON_NUMBER) {
            int64_t tv;
            int et = json_as_i64(d, ty, &tv) ? -1 : observe_type_from_ref(tv);
            if (et < 0) {
                free(arr);
                return proto_fail(e, "bad_request", "scenario event %u: 'type' number must be an integer 0..%d (reference numbering)",
                            k, REF_TYPE_COUNT - 1);
            }
            kind = scriptable_type(et);
            if (kind < 0) {
                free(arr);
                return proto_fail(e, "bad_request", "scenario event %u: 'type' %d (%s) cannot be scheduled; one of %s", k,
                            (int)tv, world_event_type_names[et], SCRIPTABLE_TYPES);
            }
        } else {
            kind = scripted_type_in(d, ty);
        }
        if (kind < 0) {
            free(arr);
            return proto_fail(e, "bad_request", "scenario event %u: unknown 'type'", k);
        }
        s->type = (uint8_t)kind;
        const json_node *st = json_get(d, x, "subtype");
        int sub = 0;
        if (st && st->type != JSON_NULL) {
            const char *const *names = kind == EV_DISCOVERY ? world_discovery_names : world_hazard_names;
            int cnt = kind == EV_DISCOVERY ? DS_COUNT : kind == EV_HAZARD || kind == EV_THREAT ? HZ_COUNT : 16;
            int64_t v;
            int found = -1;
            if (st->type == JSON_NUMBER && !json_as_i64(d, st, &v) && v >= 0 && v < cnt) found = (int)v;
            for (int q = 0; found < 0 && cnt <= 4 && q < cnt; q++)
                if (json_is_str(st, d, names[q])) found = q;
            if (found < 0 && st->type == JSON_STRING && cnt == 16) found = 0; /* free-form label */
            if (found < 0) {
                free(arr);
                return proto_fail(e, "bad_request", "scenario event %u: unknown 'subtype'", k);
            }
            sub = found;
        }
        s->subtype = (uint8_t)sub;
        s->severity = 0.5;
        const json_node *sv = json_get(d, x, "severity");
        if (sv && sv->type != JSON_NULL) {
            if (sv->type != JSON_NUMBER || !(sv->num >= 0.0 && sv->num <= 1.0)) {
                free(arr);
                return proto_fail(e, "bad_request", "scenario event %u: 'severity' must be in [0, 1]", k);
            }
            s->severity = sv->num;
        }
        const json_node *tg = json_get(d, x, "target");
        if (!tg) tg = json_get(d, x, "probe_id");
        if (tg && tg->type != JSON_NULL) {
            size_t sl;
            const char *ts = json_str(d, tg, &sl);
            uint64_t hi, lo;
            int64_t pi;
            if (!ts || world_parse_id(ts, sl, &hi, &lo) || (pi = world_probe_index(w, hi, lo)) < 0) {
                free(arr);
                return proto_fail(e, "unknown_probe", "scenario event %u: unknown target probe", k);
            }
            s->target = (uint32_t)pi + 1;
        }
    }
    *out = arr;
    *n_out = k;
    return 0;
}

int proto_cmd_scenario(proto *P, const json_node *root, perr *e) {
    json_doc *d = &P->doc;
    world *w = &P->w;
    const json_node *sc = json_get(d, root, "scenario");
    const json_node *pathn = json_get(d, root, "path");
    const json_node *clear = json_get(d, root, "clear");
    scenario_event *arr = NULL;
    uint32_t n = 0;
    char name[64];
    int ref;
    if (proto_want_shape(P, root, e, &ref)) return -1;
    if (clear && clear->type == JSON_TRUE) {
        free(w->sc);
        w->sc = NULL;
        w->n_sc = w->cap_sc = 0;
        w->sc_name[0] = 0;
    } else if (sc && sc->type != JSON_NULL) {
        if (parse_scenario(P, d, sc, e, &arr, &n, name)) return -1;
        goto install;
    } else if (pathn && pathn->type != JSON_NULL) {
        char *path;
        if (proto_want_path(P, root, e, &path)) return -1;
        FILE *f = fopen(path, "rb");
        if (!f) {
            proto_fail(e, "io_error", "cannot open %.200s", path);
            free(path);
            return -1;
        }
        char *text = malloc(SCENARIO_MAX_FILE + 1);
        size_t len = text ? fread(text, 1, SCENARIO_MAX_FILE + 1, f) : 0;
        fclose(f);
        free(path);
        if (!text) return proto_fail(e, "io_error", "out of memory");
        if (len > SCENARIO_MAX_FILE) {
            free(text);
            return proto_fail(e, "bad_file", "scenario file larger than %u bytes", SCENARIO_MAX_FILE);
        }
        json_doc fd;
        json_doc_init(&fd);
        json_error je;
        int rc = json_parse(&fd, text, len, &je);
        free(text);
        if (rc) {
            json_doc_free(&fd);
            return proto_fail(e, "bad_file", "scenario file is not JSON: %s at byte %zu", je.message, je.pos);
        }
        rc = parse_scenario(P, &fd, json_root(&fd), e, &arr, &n, name);
        json_doc_free(&fd);
        if (rc) {
            if (!strcmp(e->code, "bad_request")) e->code = "bad_file";
            return -1;
        }
        goto install;
    }
    write_scenario(P, ref);
    return 0;
install:
    free(w->sc);
    w->sc = arr;
    w->n_sc = w->cap_sc = n;
    memcpy(w->sc_name, name, 64);
    jb_key(&P->out, "loaded");
    jb_u64(&P->out, n);
    write_scenario(P, ref);
    return 0;
}
