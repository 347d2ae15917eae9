/* test_vec.c -- the vectorized API (src/vec.h) against the pipe protocol: the same seed, config
 * and actions (a random policy over every action id, malformed parameters included) must give
 * the same state hash, births and deaths as proto_handle fed uv_describe's action objects; plus
 * snapshot/restore, save/load, observation rows, reward components and the error returns. */
#define _POSIX_C_SOURCE 200809L
#include "proto.h"
#include "testutil.h"
#include "vec.h"

#include <inttypes.h>
#include <unistd.h>

static uint64_t lcg = 12345;
static uint32_t rnd(uint32_t n) {
    lcg = lcg * 6364136223846793005ULL + 1442695040888963407ULL;
    return (uint32_t)((lcg >> 33) % n);
}

static const char *const CONFIG[][2] = {
    {"replication_cost_scale", "0"}, {"replication_time_scale", "0.01"}, {"event_freq_hazard", "0.02"},
    {"hazard_damage_scale", "30"}, {"max_probes", "120"}, {"travel_speed_scale", "50"}};
#define NCONFIG (sizeof CONFIG / sizeof CONFIG[0])

static void pipe_cmd(proto *P, const char *line) {
    proto_handle(P, line, strlen(line));
    CHECK_MSG(tu_contains(P->out.p, P->out.len, "\"ok\":true"), "%s -> %.*s", line, (int)P->out.len, P->out.p);
}

static uint64_t pipe_hash(proto *P) {
    pipe_cmd(P, "{\"cmd\":\"hash\"}");
    const char *h = strstr(P->out.p, "\"hash\":\"");
    return h ? strtoull(h + 8, NULL, 16) : 0;
}

static size_t count_ids(const proto *P, const char *key) {
    const char *s = strstr(P->out.p, key);
    if (!s) return (size_t)-1;
    s = strchr(s, '[');
    size_t n = 0;
    for (; *s && *s != ']'; s++) n += *s == '"';
    return n / 2;
}

int main(void) {
    CHECK(uv_version() == (UV_FEATURE_VERSION << 16 | UV_ACTION_VERSION << 8 | UV_REWARD_VERSION));
    CHECK(uv_create(1, 0) == NULL);
    uv *u = uv_create(7, 3);
    proto P;
    CHECK(u && proto_init(&P, 7, 3, 1 << 24) == 0);
    char err[200], line[512];
    for (size_t i = 0; i < NCONFIG; i++) {
        CHECK(uv_config(u, CONFIG[i][0], strtod(CONFIG[i][1], NULL), err, sizeof err) == 0);
        snprintf(line, sizeof line, "{\"cmd\":\"config\",\"data\":{\"%s\":%s}}", CONFIG[i][0], CONFIG[i][1]);
        pipe_cmd(&P, line);
    }
    CHECK(uv_config(u, "nope", 1, err, sizeof err) == -1 && strstr(err, "unknown"));
    CHECK(uv_config(u, "max_probes", 0.5, err, sizeof err) == -1);

    uint32_t cap = 8192;
    int32_t *acts = calloc(cap, sizeof *acts);
    float *params = calloc((size_t)cap * UV_PARAMS, sizeof *params);
    float *rew = calloc((size_t)cap * UV_REWARDS, sizeof *rew);
    float *obs = calloc((size_t)cap * UV_FEATURES, sizeof *obs);
    uint32_t *born = calloc(cap, sizeof *born), *died = calloc(cap, sizeof *died);
    jbuf req;
    jb_init(&req);
    uint64_t total_born = 0, total_died = 0, mismatches = 0;
    double rsum[UV_REWARDS] = {0};
    uint8_t *snap = NULL;
    long snap_len = 0;
    uint64_t snap_tick = 0, hash_at_snap = 0;
    char path[] = "/tmp/test_vec_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd >= 0) close(fd);

    for (int t = 0; t < 400; t++) {
        uint32_t n = uv_n_probes(u);
        if (n > cap / 2) { CHECK(n <= cap / 2); break; }
        jb_reset(&req);
        jb_puts(&req, "{\"cmd\":\"tick\",\"observe\":\"none\",\"actions\":{");
        for (uint32_t i = 0; i < n; i++) {
            /* mostly useful actions, sometimes anything with any parameter (malformed too) */
            static const int32_t useful[] = {1, 1, 2, 10, 10, 4, 5, 6, 9, 3, 11};
            acts[i] = rnd(4) ? useful[rnd(sizeof useful / sizeof *useful)] : (int32_t)rnd(UV_N_ACTIONS);
            for (int k = 0; k < UV_PARAMS; k++)
                params[(size_t)i * UV_PARAMS + (size_t)k] = rnd(10) ? (float)rnd(6) : (float)rnd(40) - 10.5f;
            if (acts[i] == 2 && rnd(2)) params[(size_t)i * UV_PARAMS] = (float)rnd(2); /* iron, silicon */
            char a[256];
            int len = uv_describe(u, i, acts[i], params, a, sizeof a);
            CHECK(len > 0);
            if (acts[i] == 0) {
                CHECK(strcmp(a, "null") == 0);
                continue;
            }
            jb_sep(&req);
            jb_id(&req, 1, (uint64_t)i + 1);
            jb_putc(&req, ':');
            jb_raw(&req, a, (size_t)len);
        }
        jb_puts(&req, "}}");
        proto_handle(&P, req.p, req.len);
        uint32_t nb = 0, nd = 0;
        CHECK(uv_step(u, acts, params, n, rew, born, &nb, died, &nd, cap) == 0);
        if (count_ids(&P, "\"born\"") != nb || count_ids(&P, "\"destroyed\"") != nd) mismatches++;
        total_born += nb;
        total_died += nd;
        for (uint32_t i = 0; i < uv_n_probes(u); i++)
            for (int k = 0; k < UV_REWARDS; k++) rsum[k] += rew[(size_t)i * UV_REWARDS + (size_t)k];
        for (uint32_t d = 0; d < nd; d++) CHECK(rew[(size_t)died[d] * UV_REWARDS + UV_R_DESTROYED] == 1.0f);
        for (uint32_t b = 0; b < nb; b++) CHECK(born[b] >= n && rew[(size_t)born[b] * UV_REWARDS + UV_R_ALIVE] == 1.0f);
        if (t % 50 == 49) {
            uint64_t h;
            CHECK(uv_hash(u, &h) == 0);
            CHECK_MSG(h == pipe_hash(&P), "tick %d: vec %016" PRIx64 " != pipe", t + 1, h);
        }
        if (t == 199) {
            snap_len = uv_snapshot(u, NULL, 0);
            CHECK(snap_len > 0);
            snap = malloc((size_t)snap_len);
            CHECK(uv_snapshot(u, snap, (size_t)snap_len) == snap_len);
            snap_tick = uv_tick(u);
            uv_hash(u, &hash_at_snap);
            CHECK(uv_save(u, path, err, sizeof err) == 0);
        }
    }
    CHECK(mismatches == 0);
    CHECK_MSG(total_born > 5 && total_died > 2, "born %" PRIu64 " died %" PRIu64, total_born, total_died);
    CHECK(rsum[UV_R_REPLICATED] == (double)total_born);
    CHECK(rsum[UV_R_DESTROYED] == (double)total_died);
    CHECK(rsum[UV_R_MINED_T] > 0 && rsum[UV_R_SURVEYS] > 0 && rsum[UV_R_DAMAGE] > 0);
    CHECK(uv_alive(u) == uv_n_probes(u) - total_died);

    /* observation rows: alive flag per slot, the documented ranges */
    CHECK(uv_observe(u, obs, 1) == -2);
    long rows = uv_observe(u, obs, cap);
    CHECK(rows == (long)uv_n_probes(u));
    uint32_t alive = 0;
    for (long i = 0; i < rows; i++) {
        const float *f = &obs[(size_t)i * UV_FEATURES];
        alive += f[UV_F_ALIVE] == 1.0f;
        CHECK(f[UV_F_RESERVED] == 0.0f && f[UV_F_RESERVED + 1] == 0.0f);
        if (f[UV_F_ALIVE] == 1.0f) {
            CHECK(f[UV_F_HULL] > 0 && f[UV_F_HULL] <= 1 && f[UV_F_TECH] >= 1);
            CHECK(f[UV_F_NEIGH_DIST] == -1.0f || (f[UV_F_NEIGH_DIST] > 0 && f[UV_F_NEIGH_DIST] <= 1));
        }
    }
    CHECK(alive == uv_alive(u));
    int32_t nid[4];
    CHECK(uv_neighbor(u, 0, 0, nid) == 0 || obs[UV_F_NEIGH_DIST] == -1.0f);
    CHECK(uv_neighbor(u, 0, UV_NEIGH, nid) == -1 && uv_neighbor(u, uv_n_probes(u), 0, nid) == -1);

    /* errors leave the state alone */
    uint64_t h0, h1;
    uv_hash(u, &h0);
    uint32_t n = uv_n_probes(u), nb = 0;
    CHECK(uv_step(u, acts, params, n + 1, rew, born, &nb, died, &nb, cap) == -1);
    CHECK(uv_step(u, acts, params, n, rew, born, &nb, died, &nb, 2 * n - 1) == -2);
    acts[n / 2] = UV_N_ACTIONS;
    CHECK(uv_step(u, acts, params, n, rew, born, &nb, died, &nb, cap) == -3 && nb == n / 2);
    acts[n / 2] = -1;
    CHECK(uv_step(u, acts, params, n, rew, born, &nb, died, &nb, cap) == -3);
    uv_hash(u, &h1);
    CHECK(h0 == h1 && uv_tick(u) == 400);
    CHECK(uv_describe(u, n, 1, NULL, line, sizeof line) == -1 && uv_describe(u, 0, UV_N_ACTIONS, NULL, line, sizeof line) == -1);
    /* everybody waits: the pipe's empty tick */
    CHECK(uv_step(u, NULL, NULL, 0, NULL, NULL, NULL, NULL, NULL, cap) == 0);
    pipe_cmd(&P, "{\"cmd\":\"tick\",\"observe\":\"none\"}");
    uv_hash(u, &h1);
    CHECK(h1 == pipe_hash(&P));

    /* snapshot/restore and save/load give back the state of tick 200 */
    CHECK(uv_restore(u, snap, (size_t)snap_len - 1, err, sizeof err) == -1);
    CHECK(uv_tick(u) == 401);
    CHECK(uv_restore(u, snap, (size_t)snap_len, err, sizeof err) == 0);
    uv_hash(u, &h1);
    CHECK(uv_tick(u) == snap_tick && h1 == hash_at_snap);
    CHECK(uv_step(u, NULL, NULL, 0, NULL, NULL, NULL, NULL, NULL, cap) == 0);
    CHECK(uv_load(u, path, err, sizeof err) == 0);
    uv_hash(u, &h1);
    CHECK(uv_tick(u) == snap_tick && h1 == hash_at_snap);
    CHECK(uv_load(u, "/nonexistent/x.sav", err, sizeof err) == -1 && uv_tick(u) == snap_tick);
    CHECK(uv_save(u, "/nonexistent/x.sav", err, sizeof err) == -1);
    CHECK(uv_observe(u, obs, cap) == (long)uv_n_probes(u));
    unlink(path);

    free(snap);
    jb_free(&req);
    free(acts);
    free(params);
    free(rew);
    free(obs);
    free(born);
    free(died);
    proto_free(&P);
    uv_free(u);
    return tu_report("test_vec");
}
