/* proto_tick.c -- the tick command: actions in, observations and events out. */
#include "proto_cmd.h"

#include "observe.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct keyed_action {
    tick_action a; /* the action */
    size_t pos;    /* position in the request, to keep the first of duplicates */
} keyed_action;

static int cmp_keyed(const void *a, const void *b) {
    const keyed_action *x = a, *y = b;
    if (x->a.probe != y->a.probe) return x->a.probe < y->a.probe ? -1 : 1;
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}

/* ------------------------------------------------------------ commands */

enum observe_mode { OBSERVE_ALL, OBSERVE_NONE, OBSERVE_LIST };

static int parse_observe(proto *P, const json_node *obs, perr *e, enum observe_mode *mode) {
    json_doc *d = &P->doc;
    *mode = OBSERVE_ALL;
    if (!obs || json_is_str(obs, d, "all")) return 0;
    if (json_is_str(obs, d, "none") || obs->type == JSON_NULL) {
        *mode = OBSERVE_NONE;
        return 0;
    }
    if (obs->type != JSON_ARRAY)
        return proto_fail(e, "bad_request", "field 'observe' must be \"all\", \"none\" or a list of probe ids");
    for (const json_node *c = json_child(d, obs); c; c = json_next(d, c))
        if (c->type != JSON_STRING)
            return proto_fail(e, "bad_request", "field 'observe' must list probe id strings, found %s", json_type_name(c));
    *mode = OBSERVE_LIST;
    return 0;
}

/* One entry of the "rejected" list for a request entry that never reached validation. */
static void write_pre_reject(jbuf *pre, const json_doc *d, const char *key, size_t kl,
                             const json_node *name, const char *reason) {
    jb_sep(pre);
    jb_puts(pre, "{\"probe_id\":");
    jb_str(pre, key, kl);
    jb_key(pre, "action");
    if (name && name->type == JSON_STRING) jb_node(pre, d, name);
    else jb_null(pre);
    jb_key(pre, "reason");
    jb_cstr(pre, reason);
    jb_putc(pre, '}');
}

/* At least n elements of size bytes in *buf (grown, never shrunk: proto's scratch); NULL when
 * out of memory (*buf unchanged). */
static void *scratch(void **buf, size_t *cap, size_t n, size_t size) {
    if (n > *cap) {
        void *nb = realloc(*buf, n * size);
        if (!nb) return NULL;
        *buf = nb;
        *cap = n;
    }
    return *buf;
}

/* The same order as qsort with cmp_keyed, by a stable counting sort on the probe index when the
 * actions are many against the probes (a fleet answering for every probe: O(n + probes), not
 * O(n log n)), into P's sort_out. NULL if not worth it (or out of memory): the caller sorts. */
static keyed_action *sort_by_probe(proto *P, const keyed_action *in, size_t n) {
    uint32_t n_probes = P->w.n_probes;
    if (n < 256 || (size_t)n_probes > 8 * n) return NULL;
    uint32_t *start = scratch((void **)&P->sort_start, &P->cap_sort_start, (size_t)n_probes + 1, sizeof *start);
    keyed_action *out = scratch(&P->sort_out, &P->cap_sort_out, n, sizeof *out);
    if (!start || !out) return NULL;
    memset(start, 0, ((size_t)n_probes + 1) * sizeof *start);
    for (size_t i = 0; i < n; i++) start[in[i].a.probe + 1]++;
    for (uint32_t p = 0; p < n_probes; p++) start[p + 1] += start[p];
    for (size_t i = 0; i < n; i++) out[start[in[i].a.probe]++] = in[i]; /* request order kept */
    return out;
}

/* The name of a request entry for the "rejected" list: its "type", else its "action". */
static const json_node *entry_name(const json_doc *d, const json_node *m) {
    const json_node *name = json_get(d, m, "type");
    return name ? name : json_get(d, m, "action");
}

/* Sort P->acts[0..n) by (probe, request position) and keep the first entry per probe; the later
 * ones are written to pre as duplicates. Returns the count kept, or -1 when out of memory. */
static long sort_actions(proto *P, size_t n, jbuf *pre) {
    keyed_action *tmp = scratch(&P->sort_in, &P->cap_sort_in, n, sizeof *tmp);
    if (!tmp) return -1;
    for (size_t i = 0; i < n; i++) {
        tmp[i].a = P->acts[i];
        tmp[i].pos = i;
    }
    keyed_action *sorted = sort_by_probe(P, tmp, n);
    if (!sorted) {
        qsort(tmp, n, sizeof *tmp, cmp_keyed);
        sorted = tmp;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (k && sorted[i].a.probe == P->acts[k - 1].probe) {
            char id[48];
            snprintf(id, sizeof id, "1-%u", sorted[i].a.probe + 1);
            jb_sep(pre);
            jb_puts(pre, "{\"probe_id\":");
            jb_cstr(pre, id);
            jb_key(pre, "action");
            jb_cstr(pre, world_action_names[sorted[i].a.a.kind]);
            jb_key(pre, "reason");
            jb_cstr(pre, world_reason_text[R_DUPLICATE]);
            jb_putc(pre, '}');
            continue;
        }
        P->acts[k++] = sorted[i].a;
    }
    return (long)k;
}

/* Parse the actions object into P->acts (sorted by probe, one per probe). Entries for unknown
 * probes, malformed actions and duplicates are written to pre. Returns the count, or -1.
 * The actions are parsed in request order straight into P->acts; a fleet that lists its probes
 * in id order (the usual request) is then already sorted, without duplicates, and nothing moves. */
static long collect_actions(proto *P, const json_node *acts, jbuf *pre, perr *e) {
    json_doc *d = &P->doc;
    size_t n_members = acts && acts->type == JSON_OBJECT ? acts->count : 0;
    if (n_members == 0) return 0;
    if (n_members > P->cap_acts) {
        tick_action *na = realloc(P->acts, n_members * sizeof *na);
        if (!na) return proto_fail(e, "io_error", "too many actions (out of memory)");
        P->acts = na;
        P->cap_acts = n_members;
    }
    size_t n = 0;
    int sorted = 1; /* probe indices strictly increasing so far */
    for (const json_node *m = json_child(d, acts); m; m = json_next(d, m)) {
        size_t kl;
        const char *k = json_key(d, m, &kl);
        int64_t idx = world_probe_index_of(&P->w, k, kl);
        if (idx < 0) {
            write_pre_reject(pre, d, k, kl, entry_name(d, m), "unknown probe");
            continue;
        }
        tick_action *ta = &P->acts[n];
        if (n && (uint32_t)idx <= P->acts[n - 1].probe) sorted = 0;
        n++;
        ta->probe = (uint32_t)idx;
        ta->reject = R_NONE;
        char msg[160];
        if (actions_parse(d, m, &ta->a, msg, sizeof msg)) {
            /* malformed: the probe waits; reported here with the parser's details */
            char full[200];
            snprintf(full, sizeof full, "malformed action: %s", msg);
            write_pre_reject(pre, d, k, kl, entry_name(d, m), full);
            ta->a.kind = A_WAIT;
            ta->reject = R_MALFORMED;
        }
    }
    /* otherwise sort by (probe, request position): the first entry for a probe wins */
    long k = sorted ? (long)n : sort_actions(P, n, pre);
    if (k < 0) return proto_fail(e, "io_error", "too many actions (out of memory)");
    if (pre->oom) return proto_fail(e, "io_error", "out of memory");
    return k;
}

static void write_id_list(jbuf *b, const char *key, const uint32_t *idx, uint32_t n) {
    jb_key(b, key);
    jb_putc(b, '[');
    for (uint32_t i = 0; i < n; i++) {
        jb_sep(b);
        jb_id(b, PROBE_ID_HI, (uint64_t)idx[i] + 1);
    }
    jb_putc(b, ']');
}

/* "mined": every probe's successful mine of this tick, in probe order (what the ledger records,
 * without reading observations): {"probe_id","resource","kg"}, as in the probe's last_action. */
static void write_mined(jbuf *b, const world *w) {
    jb_key(b, "mined");
    jb_putc(b, '[');
    for (uint32_t i = 0; i < w->n_probes; i++) {
        const probe *p = &w->p[i];
        if (p->act_tick != w->tick || p->act_tick == 0 || !p->last_ok || p->last_action != A_MINE) continue;
        jb_sep(b);
        jb_puts(b, "{\"probe_id\":");
        jb_id(b, PROBE_ID_HI, (uint64_t)i + 1);
        jb_key(b, "resource");
        jb_cstr(b, galaxy_resource_names[p->last_res]);
        jb_key(b, "kg");
        jb_double(b, p->last_amount);
        jb_putc(b, '}');
    }
    jb_putc(b, ']');
}

/* The byte lengths of the observations written (tick "observation_lens"); len NULL: not noted. */
typedef struct obs_lens {
    size_t *len; /* one per observation, room for every one the tick can write */
    size_t n;    /* noted */
} obs_lens;

/* observe_probe, noting the length of the observation itself: from its '{' to its '}', without
 * the comma observe_probe writes before it when it is not the first. */
static void observe_noted(jbuf *b, world *w, uint32_t idx, int flags, obs_lens *lens) {
    size_t start = b->len;
    observe_probe(b, w, idx, flags);
    if (!lens->len || b->oom) return;
    if (b->len > start && b->p[start] == ',') start++;
    lens->len[lens->n++] = b->len - start;
}

/* "delta": a list of groups {"probes":[ids],"whole":bool} (docs/pipe-protocol.md "Delta groups") */
static int check_delta(const json_doc *d, const json_node *delta, perr *e) {
    if (!delta || delta->type == JSON_NULL) return 0;
    if (delta->type != JSON_ARRAY)
        return proto_fail(e, "bad_request", "field 'delta' must be a list of groups, got %s", json_type_name(delta));
    size_t g = 0;
    for (const json_node *c = json_child(d, delta); c; c = json_next(d, c), g++) {
        if (c->type != JSON_OBJECT)
            return proto_fail(e, "bad_request", "delta group %zu must be an object, got %s", g, json_type_name(c));
        for (const json_node *m = json_child(d, c); m; m = json_next(d, m)) {
            size_t kl;
            const char *k = json_key(d, m, &kl);
            if (!((kl == 6 && !memcmp(k, "probes", 6)) || (kl == 5 && !memcmp(k, "whole", 5))))
                return proto_fail(e, "bad_request", "delta group %zu: unknown field '%.*s'", g, (int)(kl > 40 ? 40 : kl), k);
        }
        const json_node *probes = json_get(d, c, "probes");
        if (!probes || probes->type != JSON_ARRAY)
            return proto_fail(e, "bad_request", "delta group %zu: field 'probes' must be a list of probe ids", g);
        for (const json_node *p = json_child(d, probes); p; p = json_next(d, p))
            if (p->type != JSON_STRING)
                return proto_fail(e, "bad_request", "delta group %zu: 'probes' must list probe id strings, found %s", g,
                                  json_type_name(p));
        const json_node *whole = json_get(d, c, "whole");
        if (whole && whole->type != JSON_TRUE && whole->type != JSON_FALSE && whole->type != JSON_NULL)
            return proto_fail(e, "bad_request", "delta group %zu: field 'whole' must be true or false, got %s", g,
                              json_type_name(whole));
    }
    return 0;
}

/* The index of the probe named by list element n (a string), or -1 (unknown id, or no n). */
static int64_t listed_probe(const json_doc *d, const world *w, const json_node *n) {
    size_t sl;
    const char *s = json_str(d, n, &sl);
    return s ? world_probe_index_of(w, s, sl) : -1;
}

/* A buffer kept between ticks is let go when it holds far more than this tick needed (a first
 * tick writes every observation whole, the next ones only deltas). */
static void trim_buffer(jbuf *b, size_t used) {
    if (b->cap > ((size_t)1 << 20) && b->cap / 4 > used) jb_free(b);
}

/* The delta groups, last in the reply: "delta_lens" (each group's bytes, so a reader can cut the
 * groups without parsing them), then "delta_groups": per group {"observations":[whole ones],
 * "deltas":[...]} ({"observations":[...]} alone for a "whole" group).
 * The groups are written into the cache's groups buffer, each delta straight in place: a group
 * starts as {"observations":[],"deltas":[ and its whole observations (written aside) are moved in
 * only if it has any. The buffers are kept for the next tick. */
static int write_delta_groups(proto *P, const json_node *delta, int flags) {
    static const char head[] = "{\"observations\":[";
    json_doc *d = &P->doc;
    world *w = &P->w;
    jbuf *b = &P->out;
    delta_cache *dc = &P->deltas;
    jbuf *groups = &dc->groups, *wholes = &dc->wholes;
    jb_reset(groups);
    jb_reset(wholes);
    size_t n_groups = delta->count, most_wholes = 0;
    size_t *lens = calloc(n_groups ? n_groups : 1, sizeof *lens);
    int rc = lens ? 0 : -1;
    size_t g = 0;
    for (const json_node *c = json_child(d, delta); c && !rc; c = json_next(d, c), g++) {
        const json_node *wn = json_get(d, c, "whole");
        int whole = wn && wn->type == JSON_TRUE;
        jb_sep(groups);
        size_t start = groups->len;
        if (whole) JB_LIT(groups, "{\"observations\":[");
        else JB_LIT(groups, "{\"observations\":[],\"deltas\":[");
        jb_reset(wholes);
        /* each probe's cache entry is fetched while the one before is written */
        const json_node *p = json_child(d, json_get(d, c, "probes"));
        int64_t next = listed_probe(d, w, p);
        for (; p; p = json_next(d, p)) {
            int64_t idx = next;
            next = listed_probe(d, w, json_next(d, p));
            if (next >= 0) observe_delta_prefetch(dc, (uint32_t)next);
            if (idx < 0) continue;
            const probe *pr = &w->p[idx];
            /* live probes, and destroyed ones only in the tick they died */
            if (pr->status == ST_DESTROYED && !(pr->ev_epoch == w->epoch && pr->ev_head)) continue;
            /* a whole group's observations go straight in the group too */
            if (observe_delta_probe(dc, whole ? groups : wholes, groups, w, (uint32_t)idx, flags, whole)) rc = -1;
        }
        if (wholes->len > most_wholes) most_wholes = wholes->len;
        if (wholes->len && !jb_reserve(groups, wholes->len)) { /* in front of the deltas */
            char *at = groups->p + start + sizeof head - 1;
            memmove(at + wholes->len, at, (size_t)(groups->p + groups->len - at));
            memcpy(at, wholes->p, wholes->len);
            groups->len += wholes->len;
        }
        JB_LIT(groups, "]}");
        lens[g] = groups->len - start;
    }
    rc = rc || groups->oom || wholes->oom ? -1 : 0;
    if (!rc) {
        jb_key(b, "delta_lens");
        jb_putc(b, '[');
        for (size_t i = 0; i < n_groups; i++) {
            jb_sep(b);
            jb_u64(b, lens[i]);
        }
        jb_putc(b, ']');
        jb_key(b, "delta_groups");
        jb_putc(b, '[');
        if (groups->len) jb_raw(b, groups->p, groups->len);
        jb_putc(b, ']');
    }
    free(lens);
    trim_buffer(groups, groups->len);
    trim_buffer(wholes, most_wholes);
    return rc;
}

int proto_cmd_tick(proto *P, const json_node *root, perr *e) {
    json_doc *d = &P->doc;
    world *w = &P->w;
    jbuf *b = &P->out;
    const json_node *acts = json_get(d, root, "actions");
    if (acts && acts->type != JSON_OBJECT && acts->type != JSON_NULL)
        return proto_fail(e, "bad_request", "field 'actions' must be an object, got %s", json_type_name(acts));
    const json_node *obs = json_get(d, root, "observe");
    enum observe_mode mode;
    if (parse_observe(P, obs, e, &mode)) return -1;
    const json_node *det = json_get(d, root, "detail");
    int flags = 0;
    if (json_is_str(det, d, "compact")) flags = OBSERVE_COMPACT;
    else if (det && det->type != JSON_NULL && !json_is_str(det, d, "full"))
        return proto_fail(e, "bad_request", "field 'detail' must be \"full\" or \"compact\"");
    const json_node *refn = json_get(d, root, "reference");
    enum observe_mode ref_mode = OBSERVE_NONE;
    if (refn && refn->type != JSON_NULL) {
        if (json_is_str(refn, d, "all")) ref_mode = OBSERVE_ALL;
        else if (refn->type == JSON_ARRAY) {
            for (const json_node *c = json_child(d, refn); c; c = json_next(d, c))
                if (c->type != JSON_STRING)
                    return proto_fail(e, "bad_request", "field 'reference' must list probe id strings, found %s",
                                json_type_name(c));
            ref_mode = OBSERVE_LIST;
        } else {
            return proto_fail(e, "bad_request", "field 'reference' must be \"all\", null or a list of probe ids, got %s",
                        refn->type == JSON_STRING ? "another string" : json_type_name(refn));
        }
    }
    const json_node *want_ev = json_get(d, root, "events");
    if (want_ev && want_ev->type != JSON_NULL && want_ev->type != JSON_TRUE && want_ev->type != JSON_FALSE)
        return proto_fail(e, "bad_request", "field 'events' must be true or false, got %s", json_type_name(want_ev));
    const json_node *delta = json_get(d, root, "delta");
    if (check_delta(d, delta, e)) return -1;
    const json_node *want_mined = json_get(d, root, "mined");
    if (want_mined && want_mined->type != JSON_NULL && want_mined->type != JSON_TRUE && want_mined->type != JSON_FALSE)
        return proto_fail(e, "bad_request", "field 'mined' must be true or false, got %s", json_type_name(want_mined));
    const json_node *want_lens = json_get(d, root, "observation_lens");
    if (want_lens && want_lens->type != JSON_NULL && want_lens->type != JSON_TRUE && want_lens->type != JSON_FALSE)
        return proto_fail(e, "bad_request", "field 'observation_lens' must be true or false, got %s",
                          json_type_name(want_lens));
    jbuf pre; /* rejections found before the tick, written after the validation ones */
    jb_init(&pre);
    long n = collect_actions(P, acts, &pre, e);
    if (n < 0) {
        jb_free(&pre);
        return -1;
    }

    tick_run(w, P->acts, (size_t)n); /* from here on the tick has happened: no more errors */

    /* probes given the reference overlay: all, or a byte map of the listed ones (resolved after
     * the tick, so probes born in it can be named); unknown ids are skipped like in 'observe' */
    uint8_t *want_ref = NULL;
    if (ref_mode == OBSERVE_LIST && refn->count && mode != OBSERVE_NONE) {
        want_ref = calloc(w->n_probes, 1);
        if (want_ref) {
            for (const json_node *c = json_child(d, refn); c; c = json_next(d, c)) {
                size_t sl;
                const char *s = json_str(d, c, &sl);
                int64_t idx = world_probe_index_of(w, s, sl);
                if (idx >= 0) want_ref[idx] = 1;
            }
        } else {
            b->oom = 1; /* answered as io_error by proto_handle */
        }
    }
    int ref_all = ref_mode == OBSERVE_ALL ? OBSERVE_REFERENCE : 0;
#define REF_FLAGS(i) (flags | ref_all | (want_ref && want_ref[i] ? OBSERVE_REFERENCE : 0))
    /* "observation_lens": each observation's bytes, noted as they are written (at most one per
     * probe for "all", one per listed id for a list) */
    obs_lens lens = {NULL, 0};
    if (want_lens && want_lens->type == JSON_TRUE && mode != OBSERVE_NONE) {
        size_t most = mode == OBSERVE_ALL ? w->n_probes : obs->count;
        lens.len = malloc((most ? most : 1) * sizeof *lens.len);
        if (!lens.len) b->oom = 1; /* answered as io_error by proto_handle */
    }
    jb_key(b, "tick");
    jb_u64(b, w->tick);
    jb_key(b, "observations");
    jb_putc(b, '[');
    if (mode == OBSERVE_ALL) {
        for (uint32_t i = 0; i < w->n_probes; i++) {
            /* live probes, and destroyed ones only in the tick they died (they have events) */
            if (w->p[i].status == ST_DESTROYED && !(w->p[i].ev_epoch == w->epoch && w->p[i].ev_head)) continue;
            observe_noted(b, w, i, REF_FLAGS(i), &lens);
        }
    } else if (mode == OBSERVE_LIST) {
        for (const json_node *c = json_child(d, obs); c; c = json_next(d, c)) {
            size_t sl;
            const char *s = json_str(d, c, &sl);
            int64_t idx = world_probe_index_of(w, s, sl);
            if (idx < 0) continue;
            observe_noted(b, w, (uint32_t)idx, REF_FLAGS(idx), &lens);
        }
    }
#undef REF_FLAGS
    free(want_ref);
    jb_putc(b, ']');
    write_id_list(b, "born", w->born, w->n_born);
    write_id_list(b, "destroyed", w->died, w->n_died);
    jb_key(b, "rejected");
    jb_putc(b, '[');
    for (long i = 0; i < n; i++) {
        const probe *p = &w->p[P->acts[i].probe];
        if (p->act_tick != w->tick || p->last_ok || p->last_reason == R_MALFORMED) continue;
        jb_sep(b);
        jb_puts(b, "{\"probe_id\":");
        jb_id(b, PROBE_ID_HI, (uint64_t)P->acts[i].probe + 1);
        jb_key(b, "action");
        jb_cstr(b, world_action_names[p->last_action]);
        jb_key(b, "reason");
        jb_cstr(b, world_reason_text[p->last_reason]);
        jb_putc(b, '}');
    }
    if (pre.len) {
        jb_sep(b);
        jb_raw(b, pre.p, pre.len);
    }
    jb_putc(b, ']');
    jb_free(&pre);
    if (want_ev && want_ev->type == JSON_TRUE) { /* every probe's events of this tick, in order */
        jb_key(b, "events");
        jb_putc(b, '[');
        for (uint32_t i = 0; i < w->n_ev; i++) observe_event(b, &w->ev[i]);
        jb_putc(b, ']');
    }
    if (want_mined && want_mined->type == JSON_TRUE) write_mined(b, w);
    if (delta && delta->type == JSON_ARRAY && write_delta_groups(P, delta, flags)) b->oom = 1;
    if (want_lens && want_lens->type == JSON_TRUE) { /* last of all */
        jb_key(b, "observation_lens");
        jb_putc(b, '[');
        for (size_t i = 0; i < lens.n; i++) {
            jb_sep(b);
            jb_u64(b, lens.len[i]);
        }
        jb_putc(b, ']');
    }
    free(lens.len);
    return 0;
}
