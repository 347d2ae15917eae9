/* proto_world.c -- read-only views: probe, system, scan, lineage, history. */
#include "proto_cmd.h"

#include "observe.h"
#include "society.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int proto_cmd_probe(proto *P, const json_node *root, perr *e) {
    uint32_t idx;
    const char *key = !json_get(&P->doc, root, "probe_id") && json_get(&P->doc, root, "probe") ? "probe" : "probe_id";
    if (proto_want_probe(P, root, key, e, &idx)) return -1;
    /* "reference": true appends the reference overlay, as tick's "reference" does */
    int flags = OBSERVE_DETAIL;
    const json_node *ref = json_get(&P->doc, root, "reference");
    if (ref && ref->type == JSON_TRUE) flags |= OBSERVE_REFERENCE;
    else if (ref && ref->type != JSON_FALSE && ref->type != JSON_NULL)
        return proto_fail(e, "bad_request", "field 'reference' must be true, false or null, found %s",
                          json_type_name(ref));
    jb_key(&P->out, "tick");
    jb_u64(&P->out, P->w.tick);
    jb_key(&P->out, "probe");
    observe_probe(&P->out, &P->w, idx, flags);
    return 0;
}

int proto_cmd_system(proto *P, const json_node *root, perr *e) {
    const char *s;
    size_t n;
    const char *key = json_get(&P->doc, root, "system_id") ? "system_id" : "system";
    if (!proto_want_string(P, root, key, e, &s, &n)) return -1;
    uint64_t hi, lo;
    const star_system *sys = NULL;
    if (!world_parse_id(s, n, &hi, &lo)) {
        int bi;
        sys = galaxy_system(&P->w.gal, hi, lo);
        if (!sys) sys = galaxy_body(&P->w.gal, hi, lo, &bi); /* a body id names its system */
    }
    if (!sys) return proto_fail(e, "unknown_system", "no system '%.60s'", s);
    const probe *viewer = NULL;
    if (json_get(&P->doc, root, "probe_id")) {
        uint32_t idx;
        if (proto_want_probe(P, root, "probe_id", e, &idx)) return -1;
        viewer = &P->w.p[idx];
    }
    jb_key(&P->out, "system");
    observe_system(&P->out, &P->w, sys, viewer);
    return 0;
}

int proto_cmd_scan(proto *P, const json_node *root, perr *e) {
    uint32_t idx;
    const char *key = !json_get(&P->doc, root, "probe_id") && json_get(&P->doc, root, "probe") ? "probe" : "probe_id";
    if (proto_want_probe(P, root, key, e, &idx)) return -1;
    int ref;
    if (proto_want_shape(P, root, e, &ref)) return -1;
    int64_t limit = 50;
    const json_node *l = json_get(&P->doc, root, "limit");
    if (l && l->type != JSON_NULL && (json_as_i64(&P->doc, l, &limit) || limit < 1 || limit > 500))
        return proto_fail(e, "bad_request", "field 'limit' must be an integer in [1, 500]");
    world *w = &P->w;
    const probe *p = &w->p[idx];
    double pos[3];
    if (society_position(w, p, pos)) return proto_fail(e, "io_error", "probe position unknown");
    double range = world_sensor_range_ly(p) * society_struct_factor(w, p, ST_OBSERVATORY);
    scan_hit *hits = malloc((size_t)limit * sizeof *hits);
    if (!hits) return proto_fail(e, "io_error", "out of memory");
    uint64_t xh = p->location == LOC_INTERSTELLAR ? 0 : p->sys_hi, xl = p->location == LOC_INTERSTELLAR ? 0 : p->sys_lo;
    int n = galaxy_scan(&w->gal, pos, range, xh, xl, hits, (int)limit);
    jbuf *b = &P->out;
    jb_key(b, "tick");
    jb_u64(b, w->tick);
    jb_key(b, "probe_id");
    jb_id(b, PROBE_ID_HI, (uint64_t)idx + 1);
    jb_key(b, "range_ly");
    jb_double(b, range);
    jb_key(b, "systems");
    jb_putc(b, '[');
    for (int i = 0; i < n; i++) observe_scan_entry(b, w, p, &hits[i], 1, ref);
    jb_putc(b, ']');
    free(hits);
    return 0;
}

int proto_cmd_lineage(proto *P, const json_node *root, perr *e) {
    world *w = &P->w;
    jbuf *b = &P->out;
    uint64_t begin, end;
    if (proto_want_page(P, root, e, w->n_probes, &begin, &end)) return -1;
    jb_key(b, "tick");
    jb_u64(b, w->tick);
    jb_key(b, "total");
    jb_u64(b, w->n_probes);
    jb_key(b, "entries");
    jb_putc(b, '[');
    for (uint64_t i = begin; i < end; i++) {
        const probe_cold *c = &w->c[i];
        jb_sep(b);
        jb_puts(b, "{\"probe_id\":");
        jb_id(b, PROBE_ID_HI, i + 1);
        jb_key(b, "name");
        jb_cstr(b, c->name);
        jb_key(b, "parent_id");
        if (c->parent_lo) jb_id(b, c->parent_hi, c->parent_lo);
        else jb_null(b);
        jb_key(b, "generation");
        jb_u64(b, c->generation);
        jb_key(b, "born_tick");
        jb_u64(b, c->born_tick);
        jb_key(b, "children");
        jb_u64(b, c->children);
        jb_key(b, "status");
        jb_cstr(b, world_status_names[w->p[i].status]);
        jb_key(b, "earth_memory");
        jb_double(b, world_q3((double)w->L[i].earth));
        jb_putc(b, '}');
    }
    jb_putc(b, ']');
    return 0;
}

int proto_cmd_history(proto *P, const json_node *root, perr *e) {
    uint32_t idx;
    const char *key = !json_get(&P->doc, root, "probe_id") && json_get(&P->doc, root, "probe") ? "probe" : "probe_id";
    if (proto_want_probe(P, root, key, e, &idx)) return -1;
    int ref;
    if (proto_want_shape(P, root, e, &ref)) return -1;
    jb_key(&P->out, "tick");
    jb_u64(&P->out, P->w.tick);
    jb_key(&P->out, "probe_id");
    jb_id(&P->out, PROBE_ID_HI, (uint64_t)idx + 1);
    observe_history(&P->out, &P->w, idx, ref);
    observe_memories(&P->out, &P->w, idx, MEM_SLOTS);
    return 0;
}
