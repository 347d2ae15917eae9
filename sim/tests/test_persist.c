/* test_persist.c -- save files (version 3, compact) and the state hash streams: the compact
 * payload restores exactly the canonical state (same bytes, same hash) for worlds that use every
 * section; version 2 files still load; damaged, truncated, foreign and hostile files (checksums
 * recomputed over the damage) are refused with a precise message or give a world that works;
 * background saves (a snapshot, a writer thread) write the same bytes as synchronous ones of the
 * same tick while the engine goes on, one at a time, and a failed one changes nothing. */
#define _POSIX_C_SOURCE 200809L
#include "persist.h"
#include "persist_codec.h"
#include "policy.h"
#include "proto.h"
#include "rng.h"
#include "testutil.h"

#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

static jbuf req;
static char dir[96];

static void run_to(proto *P, uint64_t tick) {
    while (P->w.tick < tick) {
        policy_tick_request(&P->w, &req, "\"none\"");
        proto_handle(P, req.p, req.len);
    }
}

static const char *handle(proto *P, const char *line) {
    proto_handle(P, line, strlen(line));
    jb_putc(&P->out, 0); /* NUL-terminated, for strstr */
    P->out.len--;
    return P->out.p;
}

static uint64_t field_u64(const char *reply, const char *key) {
    char k[64];
    snprintf(k, sizeof k, "\"%s\":", key);
    const char *at = strstr(reply, k);
    return at ? strtoull(at + strlen(k), NULL, 10) : 0;
}

static void field_str(const char *reply, const char *key, char *out, size_t n) {
    char k[64];
    snprintf(k, sizeof k, "\"%s\":\"", key);
    const char *at = strstr(reply, k);
    out[0] = 0;
    if (!at) return;
    at += strlen(k);
    size_t i = 0;
    while (at[i] && at[i] != '"' && i + 1 < n) {
        out[i] = at[i];
        i++;
    }
    out[i] = 0;
}

static uint64_t hash_of(const world *w) {
    uint64_t h = 0;
    CHECK(persist_hash(w, &h) == 0);
    return h;
}

static uint8_t *read_file(const char *path, size_t *n) {
    *n = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *d = malloc((size_t)len + 1);
    *n = fread(d, 1, (size_t)len, f);
    fclose(f);
    return d;
}

static void write_file(const char *path, const uint8_t *d, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return;
    fwrite(d, 1, n, f);
    fclose(f);
}

/* after damage below the checksums: make them right again (a hostile file) */
static void reseal(uint8_t *d, size_t n) {
    put64(d + 24, xxh64_of(d + PERSIST_HEADER_BYTES, n - PERSIST_HEADER_BYTES));
    put64(d + 16, xxh64_of(d + 24, PERSIST_HEADER_BYTES - 24));
}

static int load_err(const char *path, char *err, size_t n) {
    world w;
    int rc = persist_load(path, &w, err, n);
    if (rc == 0) world_free(&w);
    return rc;
}

/* exercise what indexes with loaded values */
static void use_world(world *w) {
    for (int t = 0; t < 3; t++) tick_run(w, NULL, 0);
    uint64_t h;
    persist_hash(w, &h);
}

/* The compact encoding round trip: same canonical bytes, same hash; the streamed hash equals
 * the hash of the canonical bytes. */
static void check_roundtrip(const world *w, const char *label) {
    jbuf canon, compact;
    jb_init(&canon);
    jb_init(&compact);
    CHECK(persist_serialize(w, &canon) == 0);
    uint64_t h = hash_of(w);
    CHECK_MSG(h == persist_hash_bytes((const uint8_t *)canon.p, canon.len), "%s: streamed hash", label);
    uint64_t sh = 0, cl = 0, clen = 0;
    CHECK(persist_encode(w, &compact, -1, &sh, &cl, &clen, NULL) == 0);
    CHECK_MSG(sh == h && cl == canon.len && clen == compact.len, "%s: encode figures", label);
    CHECK_MSG(compact.len < canon.len, "%s: compact %zu < canonical %zu", label, compact.len, canon.len);
    psrc s;
    phash ph;
    CHECK(psrc_compact(&s, (const uint8_t *)compact.p, compact.len, cl) == 0);
    phash_init(&ph, cl);
    s.verify = &ph;
    world back;
    char err[200];
    int rc = persist_deserialize_src(&s, &back, err, sizeof err);
    psrc_free(&s);
    CHECK_MSG(rc == 0, "%s: %s", label, err);
    if (rc == 0) {
        CHECK(phash_final(&ph) == h);
        jbuf again;
        jb_init(&again);
        CHECK(persist_serialize(&back, &again) == 0);
        CHECK_MSG(again.len == canon.len && memcmp(again.p, canon.p, canon.len) == 0, "%s: canonical bytes", label);
        jb_free(&again);
        world_free(&back);
    }
    jb_free(&canon);
    jb_free(&compact);
}

static void test_xxh64(void) {
    /* reference values of XXH64, seed 0 */
    CHECK(xxh64_of((const uint8_t *)"", 0) == 0xEF46DB3751D8E999ULL);
    CHECK(xxh64_of((const uint8_t *)"a", 1) == 0xD24EC4F1A98C6E5BULL);
    CHECK(xxh64_of((const uint8_t *)"abc", 3) == 0x44BC2CF5AD770999ULL);
    const char *fox = "The quick brown fox jumps over the lazy dog";
    CHECK(xxh64_of((const uint8_t *)fox, strlen(fox)) == 0x0B242D361FDA71BCULL);
    /* streamed in odd pieces */
    uint8_t buf[1000];
    for (int i = 0; i < 1000; i++) buf[i] = (uint8_t)(i * 7 + 3);
    xxh64 x;
    xxh64_init(&x);
    for (size_t at = 0, k = 1; at < sizeof buf; at += k, k = k % 37 + 1)
        xxh64_feed(&x, buf + at, at + k > sizeof buf ? sizeof buf - at : k);
    CHECK(xxh64_final(&x) == xxh64_of(buf, sizeof buf));
    phash ph;
    phash_init(&ph, sizeof buf);
    for (size_t at = 0, k = 1; at < sizeof buf; at += k, k = k % 13 + 1)
        phash_feed(&ph, buf + at, at + k > sizeof buf ? sizeof buf - at : k);
    CHECK(phash_final(&ph) == persist_hash_bytes(buf, sizeof buf));
}

static void test_roundtrips(proto *P) {
    check_roundtrip(&P->w, "fresh");
    run_to(P, 600);
    check_roundtrip(&P->w, "tick 600");
    run_to(P, 2500);
    CHECK(P->w.n_mq + P->w.n_inbox > 0 && P->w.n_trust > 0 && P->w.n_pr > 0 && P->w.n_probes > 3);
    check_roundtrip(&P->w, "tick 2500");
    world big;
    CHECK(world_init(&big, 7, 5000) == 0);
    for (int t = 0; t < 5; t++) tick_run(&big, NULL, 0);
    check_roundtrip(&big, "5000 clones");
    world_free(&big);
}

static void test_files(proto *P) {
    char path[160], line[256], err[256];
    snprintf(path, sizeof path, "%s/a.usim", dir);
    persist_info info;
    CHECK(persist_save_ex(&P->w, path, NULL, &info, err, sizeof err) == 0);
    uint64_t h = hash_of(&P->w);
    CHECK(info.hash == h && info.version == 3 && info.tick == P->w.tick);
    struct stat st;
    CHECK(stat(path, &st) == 0 && (uint64_t)st.st_size == info.bytes);
    world w;
    persist_info li;
    CHECK(persist_load_ex(path, &w, PERSIST_VERIFY, &li, err, sizeof err) == 0);
    CHECK(li.hash == h && li.version == 3 && li.tick == P->w.tick && hash_of(&w) == h);
    world_free(&w);
    /* through the protocol: load reports the recorded hash, verify recomputes it */
    snprintf(line, sizeof line, "{\"cmd\":\"load\",\"path\":\"%s\",\"verify\":true}", path);
    const char *r = handle(P, line);
    char hx[17], want[17];
    snprintf(want, sizeof want, "%016llx", (unsigned long long)h);
    field_str(r, "hash", hx, sizeof hx);
    CHECK_MSG(strcmp(hx, want) == 0 && strstr(r, "\"version\":3") && strstr(r, "\"verified\":true"), "%s", r);

    /* version 2 (canonical payload) files are still read */
    jbuf c;
    jb_init(&c);
    CHECK(persist_serialize(&P->w, &c) == 0);
    size_t n2 = 32 + c.len;
    uint8_t *v2 = malloc(n2);
    memcpy(v2, PERSIST_MAGIC "\0", 8);
    put64(v2 + 8, 2);
    put64(v2 + 16, c.len);
    put64(v2 + 24, persist_hash_bytes((const uint8_t *)c.p, c.len));
    memcpy(v2 + 32, c.p, c.len);
    char p2[160];
    snprintf(p2, sizeof p2, "%s/v2.sav", dir);
    write_file(p2, v2, n2);
    CHECK(persist_load_ex(p2, &w, 0, &li, err, sizeof err) == 0);
    CHECK(li.version == 2 && li.hash == h && hash_of(&w) == h);
    world_free(&w);
    v2[40] ^= 1; /* damage in a v2 payload: its hash catches it */
    write_file(p2, v2, n2);
    CHECK(load_err(p2, err, sizeof err) == -2 && strstr(err, "checksum mismatch"));
    free(v2);
    jb_free(&c);

    /* precise refusals */
    size_t n;
    uint8_t *d = read_file(path, &n);
    uint8_t *x = malloc(n + 1);
    CHECK(d != NULL && n > PERSIST_HEADER_BYTES);
    if (!d) return;
    char p3[160];
    snprintf(p3, sizeof p3, "%s/bad.usim", dir);
    struct {
        size_t at;
        uint8_t flip;
        const char *msg;
    } cases[] = {
        {0, 'X' ^ 'U', "bad magic"},
        {8, 1 ^ 3, "unsupported save version 1 (this engine reads versions 2 and 3)"},
        {12, 1, "unsupported save flags 1"},
        {17, 0x10, "header checksum mismatch"},
        {33, 0x01, "header checksum mismatch"},
        {PERSIST_HEADER_BYTES + 3, 0x40, "checksum mismatch"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        memcpy(x, d, n);
        x[cases[k].at] ^= cases[k].flip;
        write_file(p3, x, n);
        CHECK_MSG(load_err(p3, err, sizeof err) == -2 && strstr(err, cases[k].msg), "case %zu: %s", k, err);
    }
    /* a length that does not match the file, with a valid header checksum */
    memcpy(x, d, n);
    put64(x + 32, get64(x + 32) + 5);
    put64(x + 16, xxh64_of(x + 24, PERSIST_HEADER_BYTES - 24));
    write_file(p3, x, n);
    CHECK(load_err(p3, err, sizeof err) == -2 && strstr(err, "length mismatch"));
    /* a wrong state hash in a sealed header: only verify can tell */
    memcpy(x, d, n);
    put64(x + 48, get64(x + 48) ^ 1);
    reseal(x, n);
    write_file(p3, x, n);
    CHECK(load_err(p3, err, sizeof err) == 0);
    CHECK(persist_load_ex(p3, &w, PERSIST_VERIFY, NULL, err, sizeof err) == -2 && strstr(err, "state hash mismatch"));
    /* an impossible canonical length */
    memcpy(x, d, n);
    put64(x + 40, (get64(x + 32) + 2) * 64);
    reseal(x, n);
    write_file(p3, x, n);
    CHECK(load_err(p3, err, sizeof err) == -2 && strstr(err, "impossible"));
    /* every truncation is refused */
    int refused = 1;
    for (size_t k = 0; k < n; k += k < 200 ? 1 : 61) {
        write_file(p3, d, k);
        if (load_err(p3, err, sizeof err) != -2) refused = 0;
    }
    CHECK(refused);
    /* truncations under a resealed header: the decoder refuses them itself */
    refused = 1;
    for (size_t k = PERSIST_HEADER_BYTES; k < n; k += 7) {
        memcpy(x, d, k);
        put64(x + 32, k - PERSIST_HEADER_BYTES);
        reseal(x, k);
        write_file(p3, x, k);
        if (load_err(p3, err, sizeof err) == 0) refused = 0;
    }
    CHECK(refused);

    /* hostile payloads (random damage, checksums made valid again): refused with a message,
     * or a world that works; never a crash (the sanitizer build runs this too) */
    rng_state rs;
    rng_seed(&rs, 5);
    int accepted = 0, rejected = 0;
    size_t plen = n - PERSIST_HEADER_BYTES;
    for (int i = 0; i < (getenv("SIM_SANITIZED") ? 400 : 2000); i++) {
        memcpy(x, d, n);
        int flips = 1 + (int)rng_below(&rs, 3);
        for (int k = 0; k < flips; k++)
            x[PERSIST_HEADER_BYTES + rng_below(&rs, (uint32_t)plen)] ^= (uint8_t)(1 + rng_below(&rs, 255));
        reseal(x, n);
        psrc s;
        CHECK(psrc_compact(&s, x + PERSIST_HEADER_BYTES, plen, get64(x + 40)) == 0);
        world hw;
        err[0] = 0;
        if (persist_deserialize_src(&s, &hw, err, sizeof err) == 0) {
            accepted++;
            use_world(&hw);
            world_free(&hw);
        } else {
            rejected++;
            CHECK(err[0] != 0);
        }
        psrc_free(&s);
    }
    CHECK(accepted > 0 && rejected > 0);
    free(d);
    free(x);
    unlink(path);
    unlink(p2);
    unlink(p3);
}

static int abandon(void *ctx) {
    (void)ctx;
    return 1;
}

static void test_save_failures(proto *P) {
    char path[160], tmp[200], err[256];
    snprintf(path, sizeof path, "%s/abandoned.usim", dir);
    persist_save_opts o = {abandon, NULL};
    CHECK(persist_save_ex(&P->w, path, &o, NULL, err, sizeof err) == -1 && strstr(err, "abandoned"));
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    CHECK(access(path, F_OK) != 0 && access(tmp, F_OK) != 0); /* nothing left behind */
    CHECK(persist_save_ex(&P->w, "/nonexistent-dir/x.usim", NULL, NULL, err, sizeof err) == -1 &&
          strstr(err, "cannot create"));
}

static void test_background(proto *P) {
    char path[160], line[300], bg_hash[17], sync_hash[17], hx[17];
    snprintf(path, sizeof path, "%s/bg.usim", dir);
    uint64_t tick = P->w.tick;
    snprintf(line, sizeof line, "{\"cmd\":\"save\",\"path\":\"%s\",\"background\":true}", path);
    const char *r = handle(P, line);
    CHECK_MSG(strstr(r, "\"ok\":true") && strstr(r, "\"background\":true"), "%s", r);
    uint64_t job = field_u64(r, "job");
    CHECK(job > 0 && field_u64(r, "tick") == tick);
    /* the engine goes on: the save is of the tick it was asked at */
    run_to(P, tick + 30);
    r = handle(P, "{\"cmd\":\"saves\",\"wait\":true}");
    CHECK_MSG(strstr(r, "\"ok\":true,\"bytes\"") && field_u64(r, "job") == job && field_u64(r, "tick") == tick, "%s", r);
    field_str(r, "hash", bg_hash, sizeof bg_hash);
    r = handle(P, "{\"cmd\":\"saves\"}");
    CHECK_MSG(strstr(r, "\"saves\":[],\"pending\":[]"), "reported once: %s", r);
    /* the same state saved synchronously has the same hash; the file loads to it */
    snprintf(line, sizeof line, "{\"cmd\":\"load\",\"path\":\"%s\",\"verify\":true}", path);
    r = handle(P, line);
    field_str(r, "hash", hx, sizeof hx);
    CHECK_MSG(strstr(r, "\"ok\":true") && strcmp(hx, bg_hash) == 0 && P->w.tick == tick, "%s", r);
    snprintf(line, sizeof line, "{\"cmd\":\"save\",\"path\":\"%s.sync\"}", path);
    r = handle(P, line);
    field_str(r, "hash", sync_hash, sizeof sync_hash);
    CHECK(strcmp(sync_hash, bg_hash) == 0);
    {
        size_t n1, n2;
        char p2[200];
        snprintf(p2, sizeof p2, "%s.sync", path);
        uint8_t *a = read_file(path, &n1), *b = read_file(p2, &n2);
        CHECK(a && b && n1 == n2 && memcmp(a, b, n1) == 0); /* byte for byte */
        free(a);
        free(b);
        unlink(p2);
    }
    unlink(path);

    CHECK(strstr(handle(P, "{\"cmd\":\"saves\",\"wait\":3}"), "bad_request"));
    snprintf(line, sizeof line, "{\"cmd\":\"save\",\"path\":\"%s\",\"background\":\"yes\"}", path);
    CHECK(strstr(handle(P, line), "bad_request"));

    /* a failing background save: reported failed, nothing under its name, the state untouched */
    uint64_t h0 = hash_of(&P->w);
    r = handle(P, "{\"cmd\":\"save\",\"path\":\"/nonexistent-dir/x.usim\",\"background\":true}");
    CHECK(strstr(r, "\"ok\":true"));
    r = handle(P, "{\"cmd\":\"saves\",\"wait\":true}");
    CHECK_MSG(strstr(r, "\"ok\":false,\"error\":\"cannot create"), "%s", r);
    CHECK(hash_of(&P->w) == h0);

    /* one at a time: another while one runs is busy (the writer waits before its rename) */
    setenv("UNIVERSE_SIM_SAVE_DELAY_MS", "300", 1);
    snprintf(line, sizeof line, "{\"cmd\":\"save\",\"path\":\"%s\",\"background\":true}", path);
    r = handle(P, line);
    job = field_u64(r, "job");
    char p2[200], l2[300];
    snprintf(p2, sizeof p2, "%s.2", path);
    snprintf(l2, sizeof l2, "{\"cmd\":\"save\",\"path\":\"%s\",\"background\":true}", p2);
    CHECK(strstr(handle(P, l2), "\"busy\""));
    r = handle(P, "{\"cmd\":\"saves\"}");
    char want[80];
    snprintf(want, sizeof want, "\"saves\":[],\"pending\":[%llu]", (unsigned long long)job);
    CHECK_MSG(strstr(r, want), "%s", r);
    CHECK(access(path, F_OK) != 0); /* not renamed into place yet */
    unsetenv("UNIVERSE_SIM_SAVE_DELAY_MS");
    r = handle(P, "{\"cmd\":\"saves\",\"wait\":true}");
    CHECK_MSG(strstr(r, "\"ok\":true,\"bytes\"") && strstr(r, "\"pending\":[]"), "%s", r);
    CHECK(access(path, F_OK) == 0);
    unlink(path);

    /* the snapshot buffers follow the world: a bigger one, then a smaller one */
    proto Q;
    CHECK(proto_init(&Q, 9, getenv("SIM_SANITIZED") ? 3000 : 30000, 1u << 20) == 0);
    for (int k = 0; k < 2; k++) {
        proto *X = k ? P : &Q;
        uint64_t hx0 = hash_of(&X->w);
        r = handle(X, line);
        r = handle(X, "{\"cmd\":\"saves\",\"wait\":true}");
        char got[17], want_h[17];
        field_str(r, "hash", got, sizeof got);
        snprintf(want_h, sizeof want_h, "%016llx", (unsigned long long)hx0);
        CHECK_MSG(strcmp(got, want_h) == 0, "%s", r);
        world back;
        char err[200];
        CHECK(persist_load(path, &back, err, sizeof err) == 0 && hash_of(&back) == hx0);
        world_free(&back);
        unlink(path);
    }
    proto_free(&Q);
}

int main(void) {
    jb_init(&req);
    snprintf(dir, sizeof dir, "/tmp/universe-sim-persist-%d", (int)getpid());
    CHECK(mkdir(dir, 0700) == 0 || errno == EEXIST);
    proto P;
    CHECK(proto_init(&P, 42, 1, 1u << 30) == 0);
    test_xxh64();
    test_roundtrips(&P);
    test_files(&P);
    test_save_failures(&P);
    test_background(&P);
    proto_free(&P);
    jb_free(&req);
    rmdir(dir);
    return tu_report("test_persist");
}
