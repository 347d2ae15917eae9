/* proto_state.c -- state commands: status, metrics, hash, snapshot/restore, config, save/load, quit. */
#include "proto_cmd.h"

#include "observe.h"
#include "persist.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int proto_cmd_status(proto *P, const json_node *root, perr *e) {
    world *w = &P->w;
    jbuf *b = &P->out;
    uint64_t begin, end;
    if (proto_want_page(P, root, e, w->n_probes, &begin, &end)) return -1;
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
    for (uint64_t i = begin; i < end; i++) observe_status_entry(b, w, (uint32_t)i);
    jb_putc(b, ']');
    return 0;
}

int proto_cmd_metrics(proto *P, const json_node *root, perr *e) {
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

int proto_cmd_hash(proto *P, const json_node *root, perr *e) {
    (void)root;
    uint64_t h;
    if (persist_hash(&P->w, &h)) return proto_fail(e, "io_error", "out of memory while hashing");
    char hex[17];
    snprintf(hex, sizeof hex, "%016" PRIx64, h);
    jb_key(&P->out, "tick");
    jb_u64(&P->out, P->w.tick);
    jb_key(&P->out, "hash");
    jb_cstr(&P->out, hex);
    return 0;
}

static int want_tag(proto *P, const json_node *root, perr *e, const char **tag, size_t *n) {
    if (!proto_want_string(P, root, "tag", e, tag, n)) return -1;
    if (*n == 0 || *n >= PROTO_MAX_TAG || memchr(*tag, 0, *n))
        return proto_fail(e, "bad_request", "field 'tag' must be 1..%d bytes without NUL", PROTO_MAX_TAG - 1);
    return 0;
}

int proto_cmd_snapshot(proto *P, const json_node *root, perr *e) {
    const char *tag;
    size_t n;
    if (want_tag(P, root, e, &tag, &n)) return -1;
    jbuf b;
    jb_init(&b);
    if (persist_serialize(&P->w, &b)) {
        jb_free(&b);
        return proto_fail(e, "io_error", "out of memory taking a snapshot");
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

/* The new world takes over the old one's generated sectors when the seeds match: they are a
 * cache, a pure function of the seed (galaxy.h), so a restore or load no longer regenerates the
 * neighbourhood sector by sector. */
static void replace_world(proto *P, world *nw) {
    if (nw->gal.seed == P->w.gal.seed) {
        galaxy tmp = nw->gal;
        nw->gal = P->w.gal;
        P->w.gal = tmp;
    }
    world_free(&P->w);
    P->w = *nw;
}

int proto_cmd_restore(proto *P, const json_node *root, perr *e) {
    const char *tag;
    size_t n;
    if (want_tag(P, root, e, &tag, &n)) return -1;
    for (int i = 0; i < PROTO_MAX_SNAPSHOTS; i++) {
        proto_snapshot *s = &P->snaps[i];
        if (!s->data || strlen(s->tag) != n || memcmp(s->tag, tag, n)) continue;
        world nw;
        char err[160];
        if (persist_deserialize(s->data, s->len, &nw, err, sizeof err))
            return proto_fail(e, "io_error", "snapshot unusable: %s", err);
        replace_world(P, &nw);
        jb_key(&P->out, "restored");
        jb_str(&P->out, tag, n);
        jb_key(&P->out, "tick");
        jb_u64(&P->out, P->w.tick);
        return 0;
    }
    return proto_fail(e, "unknown_tag", "no snapshot tagged '%.60s'", tag);
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

int proto_cmd_config(proto *P, const json_node *root, perr *e) {
    json_doc *d = &P->doc;
    const json_node *data = json_get(d, root, "data");
    if (data && data->type != JSON_NULL) {
        if (data->type != JSON_OBJECT)
            return proto_fail(e, "bad_config", "field 'data' must be an object, got %s", json_type_name(data));
        world_config next = P->w.cfg;
        for (const json_node *m = json_child(d, data); m; m = json_next(d, m)) {
            size_t kl;
            const char *k = json_key(d, m, &kl);
            const config_key *ck = NULL;
            for (size_t i = 0; i < world_config_nkeys; i++)
                if (strlen(world_config_keys[i].name) == kl && !memcmp(world_config_keys[i].name, k, kl))
                    ck = &world_config_keys[i];
            if (!ck) return proto_fail(e, "bad_config", "unknown config key '%.*s'", (int)(kl > 60 ? 60 : kl), k);
            double v;
            if (m->type == JSON_NUMBER) {
                v = m->num;
            } else if (m->type == JSON_STRING) {
                size_t sl;
                const char *s = json_str(d, m, &sl);
                char *endp;
                v = strtod(s, &endp);
                if (sl == 0 || endp != s + sl || strlen(s) != sl)
                    return proto_fail(e, "bad_config", "config '%s': '%.40s' is not a number", ck->name, s);
            } else {
                return proto_fail(e, "bad_config", "config '%s' must be a number or numeric string", ck->name);
            }
            if (!(v >= ck->min && v <= ck->max))
                return proto_fail(e, "bad_config", "config '%s' must be in [%g, %g]", ck->name, ck->min, ck->max);
            if (ck->integer && floor(v) != v)
                return proto_fail(e, "bad_config", "config '%s' must be an integer", ck->name);
            *(double *)((char *)&next + ck->offset) = v;
        }
        P->w.cfg = next;
    }
    write_config(P);
    return 0;
}

int proto_cmd_save(proto *P, const json_node *root, perr *e) {
    char *path;
    if (proto_want_path(P, root, e, &path)) return -1;
    size_t bytes;
    uint64_t h;
    char err[256];
    if (persist_save(&P->w, path, &bytes, &h, err, sizeof err)) {
        free(path);
        return proto_fail(e, "io_error", "%s", err);
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

int proto_cmd_load(proto *P, const json_node *root, perr *e) {
    char *path;
    const json_node *sd = json_get(&P->doc, root, "seed");
    uint64_t fork_seed = 0;
    if (sd && sd->type != JSON_NULL && json_as_u64(&P->doc, sd, &fork_seed))
        return proto_fail(e, "bad_request", "field 'seed' must be an unsigned 64-bit integer");
    if (proto_want_path(P, root, e, &path)) return -1;
    world nw;
    char err[256];
    int rc = persist_load(path, &nw, err, sizeof err);
    if (rc) {
        free(path);
        return proto_fail(e, rc == -1 ? "io_error" : "bad_file", "%s", err);
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

int proto_cmd_quit(proto *P, const json_node *root, perr *e) {
    (void)root;
    (void)e;
    P->quit = 1;
    jb_key(&P->out, "bye");
    jb_bool(&P->out, 1);
    return 0;
}
