/* proto.c -- command dispatch for the pipe protocol. See proto.h and docs/pipe-protocol.md.
 *
 * Every handler validates all of its arguments before touching the world, then mutates it. The
 * response is built in P->out; on error the partial response is discarded and replaced by
 * {"ok":false,"error":{...}}.
 */
#include "proto.h"

#include "events.h"
#include "life.h"
#include "society.h"
#include "observe.h"
#include "persist.h"
#include "rng.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct perr {
    const char *code;   /* stable error code */
    char message[256];  /* text for humans */
} perr;

#if defined(__GNUC__)
static int fail(perr *e, const char *code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
#endif
/* Fill e and return -1, so handlers can `return fail(...)`. */
static int fail(perr *e, const char *code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    e->code = code;
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
    return -1;
}

int proto_init(proto *P, uint64_t seed, uint32_t populate, size_t max_line) {
    memset(P, 0, sizeof *P);
    json_doc_init(&P->doc);
    jb_init(&P->out);
    P->max_line = max_line;
    return world_init(&P->w, seed, populate);
}

void proto_free(proto *P) {
    world_free(&P->w);
    json_doc_free(&P->doc);
    jb_free(&P->out);
    for (int i = 0; i < PROTO_MAX_SNAPSHOTS; i++) free(P->snaps[i].data);
    free(P->acts);
    memset(P, 0, sizeof *P);
}

/* ------------------------------------------------------------ helpers */

static const json_node *want_string(proto *P, const json_node *root, const char *key, perr *e,
                                    const char **s, size_t *n) {
    const json_node *v = json_get(&P->doc, root, key);
    if (!v) {
        fail(e, "bad_request", "missing field '%s'", key);
        return NULL;
    }
    *s = json_str(&P->doc, v, n);
    if (!*s) {
        fail(e, "bad_request", "field '%s' must be a string, got %s", key, json_type_name(v));
        return NULL;
    }
    return v;
}

static int want_probe(proto *P, const json_node *root, const char *key, perr *e, uint32_t *idx) {
    const char *s;
    size_t n;
    if (!want_string(P, root, key, e, &s, &n)) return -1;
    uint64_t hi, lo;
    int64_t i;
    if (world_parse_id(s, n, &hi, &lo) || (i = world_probe_index(&P->w, hi, lo)) < 0)
        return fail(e, "unknown_probe", "no probe '%.60s'", s);
    *idx = (uint32_t)i;
    return 0;
}

/* Optional "shape": absent, null or "readable" -> 0; "reference" -> 1; else bad_request. */
static int want_shape(proto *P, const json_node *root, perr *e, int *ref) {
    const json_node *v = json_get(&P->doc, root, "shape");
    *ref = 0;
    if (!v || v->type == JSON_NULL || json_is_str(v, &P->doc, "readable")) return 0;
    if (json_is_str(v, &P->doc, "reference")) {
        *ref = 1;
        return 0;
    }
    if (v->type == JSON_STRING) {
        size_t n;
        const char *sv = json_str(&P->doc, v, &n);
        return fail(e, "bad_request", "field 'shape' must be \"reference\" or \"readable\", got \"%.40s\"", sv);
    }
    return fail(e, "bad_request", "field 'shape' must be \"reference\" or \"readable\", got %s", json_type_name(v));
}

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
        return fail(e, "bad_request", "field 'observe' must be \"all\", \"none\" or a list of probe ids");
    for (const json_node *c = json_child(d, obs); c; c = json_next(d, c))
        if (c->type != JSON_STRING)
            return fail(e, "bad_request", "field 'observe' must list probe id strings, found %s", json_type_name(c));
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

/* Parse the actions object into P->acts (sorted by probe, one per probe). Entries for unknown
 * probes, malformed actions and duplicates are written to pre. Returns the count, or -1. */
static long collect_actions(proto *P, const json_node *acts, jbuf *pre, perr *e) {
    json_doc *d = &P->doc;
    size_t n_members = acts && acts->type == JSON_OBJECT ? acts->count : 0;
    if (n_members == 0) return 0;
    if (n_members > P->cap_acts) {
        tick_action *na = realloc(P->acts, n_members * sizeof *na);
        if (!na) return fail(e, "io_error", "too many actions (out of memory)");
        P->acts = na;
        P->cap_acts = n_members;
    }
    keyed_action *tmp = malloc(n_members * sizeof *tmp);
    if (!tmp) return fail(e, "io_error", "too many actions (out of memory)");
    size_t n = 0;
    for (const json_node *m = json_child(d, acts); m; m = json_next(d, m)) {
        size_t kl;
        const char *k = json_key(d, m, &kl);
        uint64_t hi, lo;
        int64_t idx = -1;
        if (!world_parse_id(k, kl, &hi, &lo)) idx = world_probe_index(&P->w, hi, lo);
        const json_node *name = json_get(d, m, "type");
        if (!name) name = json_get(d, m, "action");
        if (idx < 0) {
            write_pre_reject(pre, d, k, kl, name, "unknown probe");
            continue;
        }
        keyed_action *ka = &tmp[n];
        ka->pos = n++;
        ka->a.probe = (uint32_t)idx;
        ka->a.reject = R_NONE;
        char msg[160];
        if (actions_parse(d, m, &ka->a.a, msg, sizeof msg)) {
            /* malformed: the probe waits; reported here with the parser's details */
            char full[200];
            snprintf(full, sizeof full, "malformed action: %s", msg);
            write_pre_reject(pre, d, k, kl, name, full);
            ka->a.a.kind = A_WAIT;
            ka->a.reject = R_MALFORMED;
        }
    }
    /* sort by (probe, request position): the first entry for a probe wins */
    qsort(tmp, n, sizeof *tmp, cmp_keyed);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (k && tmp[i].a.probe == P->acts[k - 1].probe) {
            char id[48];
            snprintf(id, sizeof id, "1-%u", tmp[i].a.probe + 1);
            jb_sep(pre);
            jb_puts(pre, "{\"probe_id\":");
            jb_cstr(pre, id);
            jb_key(pre, "action");
            jb_cstr(pre, world_action_names[tmp[i].a.a.kind]);
            jb_key(pre, "reason");
            jb_cstr(pre, world_reason_text[R_DUPLICATE]);
            jb_putc(pre, '}');
            continue;
        }
        P->acts[k++] = tmp[i].a;
    }
    free(tmp);
    if (pre->oom) return fail(e, "io_error", "out of memory");
    return (long)k;
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

static int cmd_tick(proto *P, const json_node *root, perr *e) {
    json_doc *d = &P->doc;
    world *w = &P->w;
    jbuf *b = &P->out;
    const json_node *acts = json_get(d, root, "actions");
    if (acts && acts->type != JSON_OBJECT && acts->type != JSON_NULL)
        return fail(e, "bad_request", "field 'actions' must be an object, got %s", json_type_name(acts));
    const json_node *obs = json_get(d, root, "observe");
    enum observe_mode mode;
    if (parse_observe(P, obs, e, &mode)) return -1;
    const json_node *det = json_get(d, root, "detail");
    int flags = 0;
    if (json_is_str(det, d, "compact")) flags = OBSERVE_COMPACT;
    else if (det && det->type != JSON_NULL && !json_is_str(det, d, "full"))
        return fail(e, "bad_request", "field 'detail' must be \"full\" or \"compact\"");
    const json_node *refn = json_get(d, root, "reference");
    enum observe_mode ref_mode = OBSERVE_NONE;
    if (refn && refn->type != JSON_NULL) {
        if (json_is_str(refn, d, "all")) ref_mode = OBSERVE_ALL;
        else if (refn->type == JSON_ARRAY) {
            for (const json_node *c = json_child(d, refn); c; c = json_next(d, c))
                if (c->type != JSON_STRING)
                    return fail(e, "bad_request", "field 'reference' must list probe id strings, found %s",
                                json_type_name(c));
            ref_mode = OBSERVE_LIST;
        } else {
            return fail(e, "bad_request", "field 'reference' must be \"all\", null or a list of probe ids, got %s",
                        refn->type == JSON_STRING ? "another string" : json_type_name(refn));
        }
    }
    const json_node *want_ev = json_get(d, root, "events");
    if (want_ev && want_ev->type != JSON_NULL && want_ev->type != JSON_TRUE && want_ev->type != JSON_FALSE)
        return fail(e, "bad_request", "field 'events' must be true or false, got %s", json_type_name(want_ev));
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
                uint64_t hi, lo;
                int64_t idx;
                if (!world_parse_id(s, sl, &hi, &lo) && (idx = world_probe_index(w, hi, lo)) >= 0) want_ref[idx] = 1;
            }
        } else {
            b->oom = 1; /* answered as io_error by proto_handle */
        }
    }
    int ref_all = ref_mode == OBSERVE_ALL ? OBSERVE_REFERENCE : 0;
#define REF_FLAGS(i) (flags | ref_all | (want_ref && want_ref[i] ? OBSERVE_REFERENCE : 0))
    jb_key(b, "tick");
    jb_u64(b, w->tick);
    jb_key(b, "observations");
    jb_putc(b, '[');
    if (mode == OBSERVE_ALL) {
        for (uint32_t i = 0; i < w->n_probes; i++) {
            /* live probes, and destroyed ones only in the tick they died (they have events) */
            if (w->p[i].status == ST_DESTROYED && !(w->p[i].ev_epoch == w->epoch && w->p[i].ev_head)) continue;
            observe_probe(b, w, i, REF_FLAGS(i));
        }
    } else if (mode == OBSERVE_LIST) {
        for (const json_node *c = json_child(d, obs); c; c = json_next(d, c)) {
            size_t sl;
            const char *s = json_str(d, c, &sl);
            uint64_t hi, lo;
            int64_t idx;
            if (world_parse_id(s, sl, &hi, &lo) || (idx = world_probe_index(w, hi, lo)) < 0) continue;
            observe_probe(b, w, (uint32_t)idx, REF_FLAGS(idx));
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
    return 0;
}

static int cmd_status(proto *P, const json_node *root, perr *e) {
    world *w = &P->w;
    jbuf *b = &P->out;
    int64_t limit = -1, offset = 0;
    const json_node *l = json_get(&P->doc, root, "limit");
    const json_node *o = json_get(&P->doc, root, "offset");
    if (l && l->type != JSON_NULL && (json_as_i64(&P->doc, l, &limit) || limit < 0))
        return fail(e, "bad_request", "field 'limit' must be a non-negative integer");
    if (o && o->type != JSON_NULL && (json_as_i64(&P->doc, o, &offset) || offset < 0))
        return fail(e, "bad_request", "field 'offset' must be a non-negative integer");
    jb_key(b, "tick");
    jb_u64(b, w->tick);
    jb_key(b, "seed");
    jb_u64(b, w->seed);
    jb_key(b, "total");
    jb_u64(b, w->n_probes);
    jb_key(b, "alive");
    jb_u64(b, w->alive);
    jb_key(b, "probes");
    jb_putc(b, '[');
    uint64_t end = w->n_probes;
    if (limit >= 0 && (uint64_t)offset + (uint64_t)limit < end) end = (uint64_t)offset + (uint64_t)limit;
    for (uint64_t i = (uint64_t)offset; i < end; i++) observe_status_entry(b, w, (uint32_t)i);
    jb_putc(b, ']');
    return 0;
}

static int cmd_metrics(proto *P, const json_node *root, perr *e) {
    (void)root;
    (void)e;
    world *w = &P->w;
    jbuf *b = &P->out;
    jb_key(b, "metrics");
    jb_puts(b, "{\"tick\":");
    jb_u64(b, w->tick);
    jb_key(b, "probes_alive");
    jb_u64(b, w->alive);
    jb_key(b, "probes_spawned");
    jb_u64(b, w->m.spawned);
    jb_key(b, "probes_destroyed");
    jb_u64(b, w->m.destroyed);
    jb_key(b, "systems_explored");
    jb_u64(b, w->explored.n);
    jb_key(b, "avg_tech");
    jb_double(b, world_avg_tech(w));
    jb_key(b, "discoveries");
    jb_u64(b, w->m.discoveries);
    jb_key(b, "hazards");
    jb_u64(b, w->m.hazards);
    jb_key(b, "hazards_survived");
    jb_u64(b, w->m.hazards_survived);
    jb_key(b, "avg_trust");
    double ts = 0;
    for (uint32_t i = 0; i < w->n_trust; i++) ts += w->trust[i].v;
    jb_double(b, w->n_trust ? world_q6(ts / w->n_trust) : 0.0);
    jb_key(b, "trust_pairs");
    jb_u64(b, w->n_trust);
    jb_key(b, "messages_delivered");
    jb_u64(b, w->messages_delivered);
    jb_key(b, "messages_in_flight");
    jb_u64(b, w->n_mq);
    jb_key(b, "trades");
    jb_u64(b, w->trades_done);
    jb_key(b, "structures_built");
    jb_u64(b, w->structures_built);
    jb_key(b, "beacons");
    jb_u64(b, w->n_bcn);
    jb_key(b, "proposals");
    jb_u64(b, w->n_pr);
    jb_key(b, "artifacts_found");
    jb_u64(b, w->artifacts_found);
    jb_putc(b, '}');
    return 0;
}

static int cmd_hash(proto *P, const json_node *root, perr *e) {
    (void)root;
    uint64_t h;
    if (persist_hash(&P->w, &h)) return fail(e, "io_error", "out of memory while hashing");
    char hex[17];
    snprintf(hex, sizeof hex, "%016" PRIx64, h);
    jb_key(&P->out, "tick");
    jb_u64(&P->out, P->w.tick);
    jb_key(&P->out, "hash");
    jb_cstr(&P->out, hex);
    return 0;
}

static int want_tag(proto *P, const json_node *root, perr *e, const char **tag, size_t *n) {
    if (!want_string(P, root, "tag", e, tag, n)) return -1;
    if (*n == 0 || *n >= PROTO_MAX_TAG || memchr(*tag, 0, *n))
        return fail(e, "bad_request", "field 'tag' must be 1..%d bytes without NUL", PROTO_MAX_TAG - 1);
    return 0;
}

static int cmd_snapshot(proto *P, const json_node *root, perr *e) {
    const char *tag;
    size_t n;
    if (want_tag(P, root, e, &tag, &n)) return -1;
    jbuf b;
    jb_init(&b);
    if (persist_serialize(&P->w, &b)) {
        jb_free(&b);
        return fail(e, "io_error", "out of memory taking a snapshot");
    }
    int slot = -1, oldest = 0;
    for (int i = 0; i < PROTO_MAX_SNAPSHOTS; i++) {
        if (P->snaps[i].data && strlen(P->snaps[i].tag) == n && !memcmp(P->snaps[i].tag, tag, n)) slot = i;
        if (!P->snaps[i].data && slot < 0) slot = i;
    }
    const char *evicted = NULL;
    char evicted_tag[PROTO_MAX_TAG];
    if (slot < 0) { /* full: evict the oldest */
        for (int i = 1; i < PROTO_MAX_SNAPSHOTS; i++)
            if (P->snaps[i].seq < P->snaps[oldest].seq) oldest = i;
        slot = oldest;
        memcpy(evicted_tag, P->snaps[slot].tag, sizeof evicted_tag);
        evicted = evicted_tag;
    }
    free(P->snaps[slot].data);
    P->snaps[slot].data = (uint8_t *)b.p; /* take ownership */
    P->snaps[slot].len = b.len;
    P->snaps[slot].tick = P->w.tick;
    P->snaps[slot].seq = P->snap_seq++;
    memcpy(P->snaps[slot].tag, tag, n);
    P->snaps[slot].tag[n] = 0;
    jb_key(&P->out, "snapshot");
    jb_str(&P->out, tag, n);
    jb_key(&P->out, "tick");
    jb_u64(&P->out, P->w.tick);
    jb_key(&P->out, "bytes");
    jb_u64(&P->out, b.len);
    if (evicted) {
        jb_key(&P->out, "evicted");
        jb_cstr(&P->out, evicted);
    }
    return 0;
}

static void replace_world(proto *P, world *nw) {
    world_free(&P->w);
    P->w = *nw;
}

static int cmd_restore(proto *P, const json_node *root, perr *e) {
    const char *tag;
    size_t n;
    if (want_tag(P, root, e, &tag, &n)) return -1;
    for (int i = 0; i < PROTO_MAX_SNAPSHOTS; i++) {
        proto_snapshot *s = &P->snaps[i];
        if (!s->data || strlen(s->tag) != n || memcmp(s->tag, tag, n)) continue;
        world nw;
        char err[160];
        if (persist_deserialize(s->data, s->len, &nw, err, sizeof err))
            return fail(e, "io_error", "snapshot unusable: %s", err);
        replace_world(P, &nw);
        jb_key(&P->out, "restored");
        jb_str(&P->out, tag, n);
        jb_key(&P->out, "tick");
        jb_u64(&P->out, P->w.tick);
        return 0;
    }
    return fail(e, "unknown_tag", "no snapshot tagged '%.60s'", tag);
}

static void write_config(proto *P) {
    jb_key(&P->out, "config");
    jb_putc(&P->out, '{');
    for (size_t i = 0; i < world_config_nkeys; i++) {
        jb_key(&P->out, world_config_keys[i].name);
        jb_double(&P->out, *(const double *)((const char *)&P->w.cfg + world_config_keys[i].offset));
    }
    jb_putc(&P->out, '}');
}

static int cmd_config(proto *P, const json_node *root, perr *e) {
    json_doc *d = &P->doc;
    const json_node *data = json_get(d, root, "data");
    if (data && data->type != JSON_NULL) {
        if (data->type != JSON_OBJECT)
            return fail(e, "bad_config", "field 'data' must be an object, got %s", json_type_name(data));
        world_config next = P->w.cfg;
        for (const json_node *m = json_child(d, data); m; m = json_next(d, m)) {
            size_t kl;
            const char *k = json_key(d, m, &kl);
            const config_key *ck = NULL;
            for (size_t i = 0; i < world_config_nkeys; i++)
                if (strlen(world_config_keys[i].name) == kl && !memcmp(world_config_keys[i].name, k, kl))
                    ck = &world_config_keys[i];
            if (!ck) return fail(e, "bad_config", "unknown config key '%.*s'", (int)(kl > 60 ? 60 : kl), k);
            double v;
            if (m->type == JSON_NUMBER) {
                v = m->num;
            } else if (m->type == JSON_STRING) {
                size_t sl;
                const char *s = json_str(d, m, &sl);
                char *endp;
                v = strtod(s, &endp);
                if (sl == 0 || endp != s + sl || strlen(s) != sl)
                    return fail(e, "bad_config", "config '%s': '%.40s' is not a number", ck->name, s);
            } else {
                return fail(e, "bad_config", "config '%s' must be a number or numeric string", ck->name);
            }
            if (!(v >= ck->min && v <= ck->max))
                return fail(e, "bad_config", "config '%s' must be in [%g, %g]", ck->name, ck->min, ck->max);
            if (ck->integer && floor(v) != v)
                return fail(e, "bad_config", "config '%s' must be an integer", ck->name);
            *(double *)((char *)&next + ck->offset) = v;
        }
        P->w.cfg = next;
    }
    write_config(P);
    return 0;
}

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

static int cmd_inject(proto *P, const json_node *root, perr *e) {
    json_doc *d = &P->doc;
    world *w = &P->w;
    const json_node *ev = json_get(d, root, "event");
    if (!ev || ev->type != JSON_OBJECT) return fail(e, "bad_request", "field 'event' must be an object");
    const json_node *type = json_get(d, ev, "type");
    int is_hazard, kind = -1;
    if (type && type->type == JSON_NUMBER) { /* the reference numbering */
        int64_t tv;
        int t = json_as_i64(d, type, &tv) ? -1 : observe_type_from_ref(tv);
        if (t < 0)
            return fail(e, "bad_request", "event.type number must be an integer 0..%d (reference numbering)",
                        REF_TYPE_COUNT - 1);
        if (scriptable_type(t) < 0)
            return fail(e, "bad_request", "event.type %d (%s) cannot be injected; one of %s", (int)tv,
                        world_event_type_names[t], SCRIPTABLE_TYPES);
        kind = t == EV_HAZARD || t == EV_DISCOVERY ? -1 : t;
        is_hazard = t == EV_HAZARD || t == EV_THREAT;
    } else if (json_is_str(type, d, "hazard")) is_hazard = 1;
    else if (json_is_str(type, d, "discovery")) is_hazard = 0;
    else if ((kind = scripted_type_in(d, type)) >= 0) is_hazard = kind == EV_THREAT;
    else return fail(e, "bad_request", "event.type must be one of hazard, discovery, threat, anomaly, encounter, crisis, wonder");
    int sub = is_hazard ? HZ_SOLAR_FLARE : DS_ANOMALY;
    const json_node *st = json_get(d, ev, "subtype");
    if (kind != EV_ANOMALY && kind != EV_ENCOUNTER && kind != EV_CRISIS && kind != EV_WONDER &&
        parse_subtype(P, st, is_hazard ? world_hazard_names : world_discovery_names,
                      is_hazard ? HZ_COUNT : DS_COUNT, &sub))
        return fail(e, "bad_request", "event.subtype unknown (number 0..%d or name)",
                    (is_hazard ? HZ_COUNT : DS_COUNT) - 1);
    if (kind < 0) kind = is_hazard ? EV_HAZARD : EV_DISCOVERY;
    double sev = 0.5;
    const json_node *sv = json_get(d, ev, "severity");
    if (sv) {
        if (sv->type != JSON_NUMBER || !(sv->num >= 0.0 && sv->num <= 1.0))
            return fail(e, "bad_request", "event.severity must be a number in [0, 1]");
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
        if (!s) return fail(e, "bad_request", "event.probe_id must be a string");
        if (world_parse_id(s, sl, &hi, &lo) || (idx = world_probe_index(w, hi, lo)) < 0)
            return fail(e, "unknown_probe", "no probe '%.60s'", s);
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

static int cmd_probe(proto *P, const json_node *root, perr *e) {
    uint32_t idx;
    const char *key = !json_get(&P->doc, root, "probe_id") && json_get(&P->doc, root, "probe") ? "probe" : "probe_id";
    if (want_probe(P, root, key, e, &idx)) return -1;
    jb_key(&P->out, "tick");
    jb_u64(&P->out, P->w.tick);
    jb_key(&P->out, "probe");
    observe_probe(&P->out, &P->w, idx, OBSERVE_DETAIL);
    return 0;
}

static int cmd_system(proto *P, const json_node *root, perr *e) {
    const char *s;
    size_t n;
    const char *key = json_get(&P->doc, root, "system_id") ? "system_id" : "system";
    if (!want_string(P, root, key, e, &s, &n)) return -1;
    uint64_t hi, lo;
    const star_system *sys = NULL;
    if (!world_parse_id(s, n, &hi, &lo)) {
        int bi;
        sys = galaxy_system(&P->w.gal, hi, lo);
        if (!sys) sys = galaxy_body(&P->w.gal, hi, lo, &bi); /* a body id names its system */
    }
    if (!sys) return fail(e, "unknown_system", "no system '%.60s'", s);
    const probe *viewer = NULL;
    if (json_get(&P->doc, root, "probe_id")) {
        uint32_t idx;
        if (want_probe(P, root, "probe_id", e, &idx)) return -1;
        viewer = &P->w.p[idx];
    }
    jb_key(&P->out, "system");
    observe_system(&P->out, &P->w, sys, viewer);
    return 0;
}

static int want_path(proto *P, const json_node *root, perr *e, char **path) {
    const char *s;
    size_t n;
    if (P->no_files) return fail(e, "io_error", "file access disabled in this build");
    if (!want_string(P, root, "path", e, &s, &n)) return -1;
    if (n == 0 || memchr(s, 0, n) || n > 4000) return fail(e, "bad_request", "field 'path' must be a non-empty file path");
    *path = malloc(n + 1);
    if (!*path) return fail(e, "io_error", "out of memory");
    memcpy(*path, s, n + 1);
    return 0;
}

static int cmd_save(proto *P, const json_node *root, perr *e) {
    char *path;
    if (want_path(P, root, e, &path)) return -1;
    size_t bytes;
    uint64_t h;
    char err[256];
    if (persist_save(&P->w, path, &bytes, &h, err, sizeof err)) {
        free(path);
        return fail(e, "io_error", "%s", err);
    }
    char hex[17];
    snprintf(hex, sizeof hex, "%016" PRIx64, h);
    jb_key(&P->out, "path");
    jb_cstr(&P->out, path);
    jb_key(&P->out, "bytes");
    jb_u64(&P->out, bytes);
    jb_key(&P->out, "tick");
    jb_u64(&P->out, P->w.tick);
    jb_key(&P->out, "hash");
    jb_cstr(&P->out, hex);
    free(path);
    return 0;
}

static int cmd_load(proto *P, const json_node *root, perr *e) {
    char *path;
    const json_node *sd = json_get(&P->doc, root, "seed");
    uint64_t fork_seed = 0;
    if (sd && sd->type != JSON_NULL && json_as_u64(&P->doc, sd, &fork_seed))
        return fail(e, "bad_request", "field 'seed' must be an unsigned 64-bit integer");
    if (want_path(P, root, e, &path)) return -1;
    world nw;
    char err[256];
    int rc = persist_load(path, &nw, err, sizeof err);
    if (rc) {
        free(path);
        return fail(e, rc == -1 ? "io_error" : "bad_file", "%s", err);
    }
    replace_world(P, &nw);
    if (sd && sd->type != JSON_NULL) P->w.rseed = fork_seed; /* fork: same past, new future */
    uint64_t h = 0;
    persist_hash(&P->w, &h);
    char hex[17];
    snprintf(hex, sizeof hex, "%016" PRIx64, h);
    jb_key(&P->out, "path");
    jb_cstr(&P->out, path);
    jb_key(&P->out, "tick");
    jb_u64(&P->out, P->w.tick);
    jb_key(&P->out, "seed");
    jb_u64(&P->out, P->w.seed);
    jb_key(&P->out, "event_seed");
    jb_u64(&P->out, P->w.rseed);
    jb_key(&P->out, "forked");
    jb_bool(&P->out, sd && sd->type != JSON_NULL);
    jb_key(&P->out, "hash");
    jb_cstr(&P->out, hex);
    free(path);
    return 0;
}

/* ---------------------------------------------------------------- living-universe commands */

static int cmd_scan(proto *P, const json_node *root, perr *e) {
    uint32_t idx;
    const char *key = !json_get(&P->doc, root, "probe_id") && json_get(&P->doc, root, "probe") ? "probe" : "probe_id";
    if (want_probe(P, root, key, e, &idx)) return -1;
    int ref;
    if (want_shape(P, root, e, &ref)) return -1;
    int64_t limit = 50;
    const json_node *l = json_get(&P->doc, root, "limit");
    if (l && l->type != JSON_NULL && (json_as_i64(&P->doc, l, &limit) || limit < 1 || limit > 500))
        return fail(e, "bad_request", "field 'limit' must be an integer in [1, 500]");
    world *w = &P->w;
    const probe *p = &w->p[idx];
    double pos[3];
    if (society_position(w, p, pos)) return fail(e, "io_error", "probe position unknown");
    double range = world_sensor_range_ly(p) * society_struct_factor(w, p, ST_OBSERVATORY);
    scan_hit *hits = malloc((size_t)limit * sizeof *hits);
    if (!hits) return fail(e, "io_error", "out of memory");
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
    for (int i = 0; i < n; i++) {
        const star_system *t = hits[i].sys;
        int planets = 0;
        for (int k = 0; k < t->n_bodies; k++) planets += t->bodies[k].parent == 0xFF;
        uint32_t *c = hmap_get(&w->claims, t->id_hi, t->id_lo);
        jb_sep(b);
        jb_puts(b, "{\"id\":");
        jb_id(b, t->id_hi, t->id_lo);
        jb_key(b, "name");
        jb_cstr(b, t->name);
        jb_key(b, "star_class");
        if (ref) jb_u64(b, t->star_class);
        else jb_cstr(b, galaxy_star_class_names[t->star_class]);
        jb_key(b, "luminosity_solar");
        jb_double(b, t->luminosity);
        jb_key(b, "position");
        jb_putc(b, '[');
        for (int k = 0; k < 3; k++) {
            jb_sep(b);
            jb_double(b, t->pos[k]);
        }
        jb_putc(b, ']');
        jb_key(b, "planet_count");
        jb_u64(b, (uint64_t)planets);
        jb_key(b, "distance_ly");
        jb_double(b, hits[i].distance_ly);
        jb_key(b, "fuel_needed");
        jb_double(b, hits[i].distance_ly * world_fuel_per_ly(p));
        double eta = ceil(hits[i].distance_ly / (world_speed_c(w, p) / 365.25));
        jb_key(b, "eta_ticks");
        jb_double(b, eta);
        jb_key(b, "explored");
        jb_bool(b, hmap_get(&w->explored, t->id_hi, t->id_lo) != NULL);
        jb_key(b, "claimed_by");
        if (c && *c) jb_id(b, PROBE_ID_HI, *c);
        else jb_null(b);
        observe_scan_extra(b, t, eta);
        if (ref) {
            jb_key(b, "star_class_name");
            jb_cstr(b, galaxy_star_class_names[t->star_class]);
        }
        jb_putc(b, '}');
    }
    jb_putc(b, ']');
    free(hits);
    return 0;
}

static int cmd_lineage(proto *P, const json_node *root, perr *e) {
    world *w = &P->w;
    jbuf *b = &P->out;
    int64_t limit = -1, offset = 0;
    const json_node *l = json_get(&P->doc, root, "limit");
    const json_node *o = json_get(&P->doc, root, "offset");
    if (l && l->type != JSON_NULL && (json_as_i64(&P->doc, l, &limit) || limit < 0))
        return fail(e, "bad_request", "field 'limit' must be a non-negative integer");
    if (o && o->type != JSON_NULL && (json_as_i64(&P->doc, o, &offset) || offset < 0))
        return fail(e, "bad_request", "field 'offset' must be a non-negative integer");
    jb_key(b, "tick");
    jb_u64(b, w->tick);
    jb_key(b, "total");
    jb_u64(b, w->n_probes);
    jb_key(b, "entries");
    jb_putc(b, '[');
    uint64_t end = w->n_probes;
    if (limit >= 0 && (uint64_t)offset + (uint64_t)limit < end) end = (uint64_t)offset + (uint64_t)limit;
    for (uint64_t i = (uint64_t)offset; i < end; i++) {
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

static int cmd_history(proto *P, const json_node *root, perr *e) {
    uint32_t idx;
    const char *key = !json_get(&P->doc, root, "probe_id") && json_get(&P->doc, root, "probe") ? "probe" : "probe_id";
    if (want_probe(P, root, key, e, &idx)) return -1;
    int ref;
    if (want_shape(P, root, e, &ref)) return -1;
    jb_key(&P->out, "tick");
    jb_u64(&P->out, P->w.tick);
    jb_key(&P->out, "probe_id");
    jb_id(&P->out, PROBE_ID_HI, (uint64_t)idx + 1);
    life_write_history(&P->out, &P->w, idx, ref);
    life_write_memories(&P->out, &P->w, idx, MEM_SLOTS);
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
    if (!obj || obj->type != JSON_OBJECT) return fail(e, "bad_request", "scenario must be an object");
    const json_node *ev = json_get(d, obj, "events");
    if (!ev || ev->type != JSON_ARRAY) return fail(e, "bad_request", "scenario.events must be an array");
    if (ev->count > SCENARIO_MAX_EVENTS) return fail(e, "bad_request", "scenario has more than %d events", SCENARIO_MAX_EVENTS);
    const json_node *rel = json_get(d, obj, "relative");
    if (rel && rel->type != JSON_TRUE && rel->type != JSON_FALSE && rel->type != JSON_NULL)
        return fail(e, "bad_request", "scenario.relative must be a boolean");
    uint64_t base = rel && rel->type == JSON_TRUE ? w->tick : 0;
    size_t nl = 0;
    const json_node *nm = json_get(d, obj, "name");
    const char *ns = nm ? json_str(d, nm, &nl) : "";
    if (nm && !ns) return fail(e, "bad_request", "scenario.name must be a string");
    if (nl > 63 || (ns && memchr(ns, 0, nl))) return fail(e, "bad_request", "scenario.name must be at most 63 bytes");
    memset(name, 0, 64);
    if (nl) memcpy(name, ns, nl);
    scenario_event *arr = ev->count ? calloc(ev->count, sizeof *arr) : NULL;
    if (ev->count && !arr) return fail(e, "io_error", "out of memory");
    uint32_t k = 0;
    for (const json_node *x = json_child(d, ev); x; x = json_next(d, x), k++) {
        scenario_event *s = &arr[k];
        uint64_t at;
        const json_node *t = json_get(d, x, "at_tick");
        if (x->type != JSON_OBJECT || !t || json_as_u64(d, t, &at) || at > (1ULL << 40)) {
            free(arr);
            return fail(e, "bad_request", "scenario event %u: 'at_tick' must be a non-negative integer", k);
        }
        s->at_tick = at + base;
        if (at + base <= w->tick) {
            free(arr);
            return fail(e, "bad_request", "scenario event %u: at_tick %llu is not after the current tick %llu", k,
                        (unsigned long long)(at + base), (unsigned long long)w->tick);
        }
        const json_node *ty = json_get(d, x, "type");
        int kind = -1;
        if (ty && ty->type == JSON_NUMBER) {
            int64_t tv;
            int et = json_as_i64(d, ty, &tv) ? -1 : observe_type_from_ref(tv);
            if (et < 0) {
                free(arr);
                return fail(e, "bad_request", "scenario event %u: 'type' number must be an integer 0..%d (reference numbering)",
                            k, REF_TYPE_COUNT - 1);
            }
            kind = scriptable_type(et);
            if (kind < 0) {
                free(arr);
                return fail(e, "bad_request", "scenario event %u: 'type' %d (%s) cannot be scheduled; one of %s", k,
                            (int)tv, world_event_type_names[et], SCRIPTABLE_TYPES);
            }
        } else {
            kind = scripted_type_in(d, ty);
        }
        if (kind < 0) {
            free(arr);
            return fail(e, "bad_request", "scenario event %u: unknown 'type'", k);
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
                return fail(e, "bad_request", "scenario event %u: unknown 'subtype'", k);
            }
            sub = found;
        }
        s->subtype = (uint8_t)sub;
        s->severity = 0.5;
        const json_node *sv = json_get(d, x, "severity");
        if (sv && sv->type != JSON_NULL) {
            if (sv->type != JSON_NUMBER || !(sv->num >= 0.0 && sv->num <= 1.0)) {
                free(arr);
                return fail(e, "bad_request", "scenario event %u: 'severity' must be in [0, 1]", k);
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
                return fail(e, "unknown_probe", "scenario event %u: unknown target probe", k);
            }
            s->target = (uint32_t)pi + 1;
        }
    }
    *out = arr;
    *n_out = k;
    return 0;
}

static int cmd_scenario(proto *P, const json_node *root, perr *e) {
    json_doc *d = &P->doc;
    world *w = &P->w;
    const json_node *sc = json_get(d, root, "scenario");
    const json_node *pathn = json_get(d, root, "path");
    const json_node *clear = json_get(d, root, "clear");
    scenario_event *arr = NULL;
    uint32_t n = 0;
    char name[64];
    int ref;
    if (want_shape(P, root, e, &ref)) return -1;
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
        if (want_path(P, root, e, &path)) return -1;
        FILE *f = fopen(path, "rb");
        if (!f) {
            fail(e, "io_error", "cannot open %.200s", path);
            free(path);
            return -1;
        }
        char *text = malloc(SCENARIO_MAX_FILE + 1);
        size_t len = text ? fread(text, 1, SCENARIO_MAX_FILE + 1, f) : 0;
        fclose(f);
        free(path);
        if (!text) return fail(e, "io_error", "out of memory");
        if (len > SCENARIO_MAX_FILE) {
            free(text);
            return fail(e, "bad_file", "scenario file larger than %u bytes", SCENARIO_MAX_FILE);
        }
        json_doc fd;
        json_doc_init(&fd);
        json_error je;
        int rc = json_parse(&fd, text, len, &je);
        free(text);
        if (rc) {
            json_doc_free(&fd);
            return fail(e, "bad_file", "scenario file is not JSON: %s at byte %zu", je.message, je.pos);
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

static int cmd_quit(proto *P, const json_node *root, perr *e) {
    (void)root;
    (void)e;
    P->quit = 1;
    jb_key(&P->out, "bye");
    jb_bool(&P->out, 1);
    return 0;
}

typedef int (*handler)(proto *, const json_node *, perr *);
static const struct {
    const char *name;
    handler fn;
} commands[] = {
    {"tick", cmd_tick},       {"status", cmd_status},   {"metrics", cmd_metrics},
    {"hash", cmd_hash},       {"snapshot", cmd_snapshot}, {"restore", cmd_restore},
    {"config", cmd_config},   {"inject", cmd_inject},   {"probe", cmd_probe},
    {"system", cmd_system},   {"save", cmd_save},       {"load", cmd_load},
    {"quit", cmd_quit},       {"scan", cmd_scan},       {"lineage", cmd_lineage},
    {"history", cmd_history}, {"scenario", cmd_scenario}};

static void write_error(proto *P, const json_node *id, const char *code, const char *msg, long long pos) {
    jbuf *b = &P->out;
    jb_reset(b);
    jb_puts(b, "{\"ok\":false");
    if (id) {
        jb_key(b, "id");
        jb_node(b, &P->doc, id);
    }
    jb_key(b, "error");
    jb_puts(b, "{\"code\":");
    jb_cstr(b, code);
    jb_key(b, "message");
    jb_cstr(b, msg);
    if (pos >= 0) {
        jb_key(b, "pos");
        jb_u64(b, (uint64_t)pos);
    }
    jb_puts(b, "}}\n");
}

void proto_line_too_long(proto *P, size_t len) {
    char msg[128];
    snprintf(msg, sizeof msg, "request line of %zu bytes exceeds the maximum of %zu", len, P->max_line);
    write_error(P, NULL, "line_too_long", msg, -1);
}

void proto_handle(proto *P, const char *line, size_t len) {
    json_error je;
    /* bound the galaxy cache (hostile `system` queries could otherwise grow it without limit) */
    galaxy_trim(&P->w.gal, PROTO_MAX_CACHED_SECTORS);
    if (len && line[len - 1] == '\r') len--; /* tolerate CRLF */
    if (len > P->max_line) {
        proto_line_too_long(P, len);
        return;
    }
    if (json_parse(&P->doc, line, len, &je)) {
        P->doc.n_nodes = 0;
        write_error(P, NULL, strcmp(je.code, "parse_error") ? "bad_request" : "parse_error", je.message,
                    (long long)je.pos);
        return;
    }
    const json_node *root = json_root(&P->doc);
    if (root->type != JSON_OBJECT) {
        write_error(P, NULL, "bad_request", "request must be a JSON object", -1);
        return;
    }
    const json_node *id = json_get(&P->doc, root, "id");
    const json_node *cmd = json_get(&P->doc, root, "cmd");
    size_t cl;
    const char *c = json_str(&P->doc, cmd, &cl);
    if (!c) {
        write_error(P, id, "bad_request", cmd ? "field 'cmd' must be a string" : "missing field 'cmd'", -1);
        return;
    }
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++) {
        if (strlen(commands[i].name) != cl || memcmp(commands[i].name, c, cl)) continue;
        jbuf *b = &P->out;
        jb_reset(b);
        jb_puts(b, "{\"ok\":true");
        if (id) {
            jb_key(b, "id");
            jb_node(b, &P->doc, id);
        }
        perr e = {NULL, {0}};
        if (commands[i].fn(P, root, &e)) {
            write_error(P, id, e.code, e.message, -1);
            return;
        }
        jb_puts(b, "}\n");
        if (b->oom) write_error(P, id, "io_error", "out of memory building the response", -1);
        return;
    }
    char msg[120];
    snprintf(msg, sizeof msg, "unknown command '%.60s'", c);
    write_error(P, id, "unknown_command", msg, -1);
}
