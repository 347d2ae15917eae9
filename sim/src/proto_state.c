/* proto_state.c -- state commands: status, metrics, hash, snapshot/restore, config, save/load
 * (background saves and their report, `saves`), quit. */
#define _POSIX_C_SOURCE 200809L
#include "proto_cmd.h"

#include "observe.h"
#include "persist.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <threads.h>
#include <time.h>

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

/* ---- background saves ----
 *
 * {"cmd":"save","path":..,"background":true} takes a snapshot of the state in the engine's
 * thread (the sections other than the per-probe tables serialized, the per-probe arrays and the
 * inbox slabs copied into buffers kept from one save to the next: a memcpy, no page faults once
 * they exist) and answers at once; a writer thread streams the file from the snapshot (hash,
 * compact encoding, fsync, rename, fsync of the directory) while the engine goes on ticking.
 * `saves` reports the save once it finished (each save once); with "wait":true it first waits.
 * One runs at a time (another request meanwhile is `busy`). If the process dies mid-save, the
 * writer dies with it: at most the temp file `path.tmp.<pid>` is left, never a file under `path`.
 * The writer and the snapshot are the process's, not a proto's. */
typedef struct bg_job {
    int active;          /* a writer thread exists (not joined yet) */
    atomic_int done;     /* set by the writer when it finished */
    thrd_t th;
    uint64_t id, tick;
    char *path;
    int rc;
    persist_info info;
    double seconds;
    char err[200];
} bg_job;

static bg_job bg;
static uint64_t bg_next_id = 1;
static persist_snap bg_snap;
static int bg_snap_ready;

static double mono(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Between the fsync and the rename. UNIVERSE_SIM_SAVE_DELAY_MS (crash tests only) waits there,
 * so that kills land while a background save is in flight. */
static int bg_before_rename(void *ctx) {
    (void)ctx;
    const char *delay = getenv("UNIVERSE_SIM_SAVE_DELAY_MS");
    long ms = delay ? strtol(delay, NULL, 10) : 0;
    if (ms > 0 && ms <= 60000) {
        struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
        while (nanosleep(&ts, &ts) && errno == EINTR) {
        }
    }
    return 0;
}

static int bg_writer(void *arg) {
    bg_job *j = arg;
    double t0 = mono();
    persist_save_opts o = {bg_before_rename, NULL};
    j->rc = persist_save_snap(&bg_snap, j->path, &o, &j->info, j->err, sizeof j->err);
    j->seconds = mono() - t0;
    atomic_store(&j->done, 1);
    return 0;
}

static int bg_start(proto *P, char *path, perr *e, uint64_t *id) {
    if (bg.active) return proto_fail(e, "busy", "a background save (job %llu) is still running", (unsigned long long)bg.id);
    if (!bg_snap_ready) {
        persist_snap_init(&bg_snap);
        bg_snap_ready = 1;
    }
    if (persist_snap_take(&bg_snap, &P->w)) return proto_fail(e, "io_error", "out of memory taking a snapshot");
    memset(&bg, 0, sizeof bg);
    atomic_init(&bg.done, 0);
    bg.id = bg_next_id++;
    bg.tick = P->w.tick;
    bg.path = path;
    if (thrd_create(&bg.th, bg_writer, &bg) != thrd_success) {
        bg.path = NULL;
        return proto_fail(e, "io_error", "cannot start a writer thread");
    }
    bg.active = 1;
    *id = bg.id;
    return 0;
}
int proto_cmd_save(proto *P, const json_node *root, perr *e) {
    const json_node *bgn = json_get(&P->doc, root, "background");
    if (bgn && bgn->type != JSON_TRUE && bgn->type != JSON_FALSE && bgn->type != JSON_NULL)
        return proto_fail(e, "bad_request", "field 'background' must be a boolean");
    char *path;
    if (proto_want_path(P, root, e, &path)) return -1;
    if (bgn && bgn->type == JSON_TRUE) {
        uint64_t id = 0;
        if (bg_start(P, path, e, &id)) {
            free(path);
            return -1;
        }
        jb_key(&P->out, "path");
        jb_cstr(&P->out, path);
        jb_key(&P->out, "tick");
        jb_u64(&P->out, P->w.tick);
        jb_key(&P->out, "background");
        jb_bool(&P->out, 1);
        jb_key(&P->out, "job");
        jb_u64(&P->out, id);
        return 0; /* path is the job's now */
    }
    persist_info info;
    char err[256];
    if (persist_save_ex(&P->w, path, NULL, &info, err, sizeof err)) {
        free(path);
        return proto_fail(e, "io_error", "%s", err);
    }
    char hex[17];
    snprintf(hex, sizeof hex, "%016" PRIx64, info.hash);
    jb_key(&P->out, "path");
    jb_cstr(&P->out, path);
    jb_key(&P->out, "bytes");
    jb_u64(&P->out, info.bytes);
    jb_key(&P->out, "tick");
    jb_u64(&P->out, P->w.tick);
    jb_key(&P->out, "hash");
    jb_cstr(&P->out, hex);
    free(path);
    return 0;
}

int proto_cmd_saves(proto *P, const json_node *root, perr *e) {
    const json_node *wn = json_get(&P->doc, root, "wait");
    if (wn && wn->type != JSON_TRUE && wn->type != JSON_FALSE && wn->type != JSON_NULL)
        return proto_fail(e, "bad_request", "field 'wait' must be a boolean");
    int block = wn && wn->type == JSON_TRUE;
    jbuf *b = &P->out;
    jb_key(b, "saves");
    jb_putc(b, '[');
    if (bg.active && (block || atomic_load(&bg.done))) {
        thrd_join(bg.th, NULL);
        bg.active = 0;
        jb_puts(b, "{\"job\":");
        jb_u64(b, bg.id);
        jb_key(b, "path");
        jb_cstr(b, bg.path);
        jb_key(b, "tick");
        jb_u64(b, bg.tick);
        jb_key(b, "ok");
        jb_bool(b, bg.rc == 0);
        if (bg.rc == 0) {
            char hex[17];
            snprintf(hex, sizeof hex, "%016" PRIx64, bg.info.hash);
            jb_key(b, "bytes");
            jb_u64(b, bg.info.bytes);
            jb_key(b, "hash");
            jb_cstr(b, hex);
            jb_key(b, "seconds");
            jb_double(b, round(bg.seconds * 1e4) / 1e4);
        } else {
            jb_key(b, "error");
            jb_cstr(b, bg.err);
        }
        jb_putc(b, '}');
        free(bg.path);
        bg.path = NULL;
    }
    jb_putc(b, ']');
    jb_key(b, "pending");
    jb_putc(b, '[');
    if (bg.active) jb_u64(b, bg.id);
    jb_putc(b, ']');
    return 0;
}

int proto_cmd_load(proto *P, const json_node *root, perr *e) {
    char *path;
    const json_node *sd = json_get(&P->doc, root, "seed");
    uint64_t fork_seed = 0;
    if (sd && sd->type != JSON_NULL && json_as_u64(&P->doc, sd, &fork_seed))
        return proto_fail(e, "bad_request", "field 'seed' must be an unsigned 64-bit integer");
    const json_node *vn = json_get(&P->doc, root, "verify");
    if (vn && vn->type != JSON_TRUE && vn->type != JSON_FALSE && vn->type != JSON_NULL)
        return proto_fail(e, "bad_request", "field 'verify' must be a boolean");
    int verify = vn && vn->type == JSON_TRUE;
    if (proto_want_path(P, root, e, &path)) return -1;
    world nw;
    char err[256];
    persist_info info;
    int rc = persist_load_ex(path, &nw, verify ? PERSIST_VERIFY : 0, &info, err, sizeof err);
    if (rc) {
        free(path);
        return proto_fail(e, rc == -1 ? "io_error" : "bad_file", "%s", err);
    }
    replace_world(P, &nw);
    uint64_t h = info.hash; /* recorded in the file (checksummed), or recomputed with verify */
    int forked = sd && sd->type != JSON_NULL;
    if (forked) {
        P->w.rseed = fork_seed; /* fork: same past, new future */
        if (persist_hash(&P->w, &h)) h = 0;
    }
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
    jb_bool(&P->out, forked);
    jb_key(&P->out, "hash");
    jb_cstr(&P->out, hex);
    jb_key(&P->out, "version");
    jb_u64(&P->out, info.version);
    jb_key(&P->out, "verified");
    jb_bool(&P->out, verify || info.version == 2);
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
