/* target.c -- the protocol fuzz target, shared by libFuzzer (fuzz_main.c) and the replay driver.
 *
 * The input is split into lines; each line is fed to proto_handle. Invariants checked (abort on
 * violation, so both the fuzzer and the replay driver notice):
 *   - every line gets exactly one response line, newline-terminated, that our own parser
 *     accepts as a JSON object with a boolean "ok";
 *   - an error response has error.code (string) and error.message (string);
 *   - the state hash is unchanged by any request that failed.
 * File commands are disabled (no_files) so fuzzing never touches the filesystem.
 *
 * Two forms. fuzz_run (strict) builds a fresh engine per input and hashes the whole state around
 * every line: simple, and slow (the replay driver's oracle). fuzz_run_fast (the libFuzzer
 * entry, fuzz_proto_one) keeps one engine per process and resets it between inputs by restoring
 * the prepared state's canonical bytes (the galaxy cache, a pure function of the seed, is kept);
 * a first pass runs every line without hashing and notes the lines that failed inside a command
 * (not at parsing or dispatch, which never reach the world); only if there are any, a second
 * pass from the same prepared state hashes around exactly those lines. The engine is
 * deterministic, so the second pass repeats the first. Each pass frees the world it used at its
 * end (the generated sectors move to `warm` and into the next world). Both forms stop running an
 * input's lines once its responses total FUZZ_MAX_OUT bytes (the per-input work cap). */
#include "target.h"

#include "fuzz.h"
#include "persist.h"
#include "proto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_SEED 42
#define FUZZ_POPULATE 2
#define FUZZ_MAX_LINE 4096
#define FUZZ_MAX_LINES 4096
/* Work cap: once the responses of an input total this many bytes, its remaining lines are not
 * run (both forms, so they agree; the line that crosses the cap still runs). It bounds the work,
 * not the depth: a tick observing both probes answers ~13 KB (so an input gets three observed
 * ticks), a tick with "observe":"none" 78 bytes (about 400 fit), and error answers are short.
 * Under libFuzzer an input's cost is mostly writing (and checking) observations, so this is what
 * bounds its time. */
#ifndef FUZZ_MAX_OUT
#define FUZZ_MAX_OUT ((size_t)32 * 1024)
#endif

FUZZ_NO_COV static void die(const char *what, const char *line, size_t n) {
    fprintf(stderr, "fuzz invariant violated: %s\nline: %.*s\n", what, (int)(n > 300 ? 300 : n), line);
    abort();
}

/* Cheap structure check of a long ok response (the fast form; the strict one parses it all): an
 * object opening with {"ok":true, brackets balanced outside strings, no control byte inside a
 * string, every backslash escaping something. Byte classes from a table: outside a string only
 * quotes and brackets matter, inside one only quotes, backslashes and control bytes. */
enum { C_PLAIN, C_QUOTE, C_OPEN_O, C_OPEN_A, C_CLOSE_O, C_CLOSE_A, C_BSLASH, C_CTRL };
static unsigned char shape_cls[256];
FUZZ_NO_COV static void shape_init(void) {
    for (int c = 0; c < 0x20; c++) shape_cls[c] = C_CTRL;
    shape_cls['"'] = C_QUOTE;
    shape_cls['{'] = C_OPEN_O;
    shape_cls['['] = C_OPEN_A;
    shape_cls['}'] = C_CLOSE_O;
    shape_cls[']'] = C_CLOSE_A;
    shape_cls['\\'] = C_BSLASH;
}

FUZZ_NO_COV static void check_shape(const char *r, size_t len, const char *p, size_t n) {
    static const char head[] = "{\"ok\":true";
    if (len < sizeof head || memcmp(r, head, sizeof head - 1)) die("long response does not open with {\"ok\":true", p, n);
    if (!shape_cls[0]) shape_init();
    const unsigned char *u = (const unsigned char *)r;
    char stack[JSON_MAX_DEPTH + 8];
    int depth = 0;
    size_t i = 0;
    while (i < len) {
        unsigned char k = shape_cls[u[i]];
        if (k == C_QUOTE) { /* a string: up to its closing quote */
            for (i++;; i++) {
                if (i >= len) die("response not closed", p, n);
                unsigned char q = shape_cls[u[i]];
                if (q == C_PLAIN || (q >= C_OPEN_O && q <= C_CLOSE_A)) continue;
                if (q == C_QUOTE) break;
                if (q == C_CTRL) die("control byte inside a response string", p, n);
                if (++i >= len) die("response ends in an escape", p, n); /* C_BSLASH */
            }
        } else if (k == C_OPEN_O || k == C_OPEN_A) {
            if (depth >= JSON_MAX_DEPTH + 8) die("response nests too deep", p, n);
            stack[depth++] = (char)(k == C_OPEN_O ? '}' : ']');
        } else if (k == C_CLOSE_O || k == C_CLOSE_A) {
            if (depth == 0 || stack[--depth] != (char)u[i]) die("response brackets unbalanced", p, n);
            if (depth == 0 && i != len - 1) die("bytes after the response object", p, n);
        }
        i++;
    }
    if (depth) die("response not closed", p, n);
}

#define FULL_CHECK_BELOW 4096 /* fast form: responses shorter than this are parsed in full */

/* Check P->out for the request line; count it in res. Returns 1 ok, 0 failed inside a command,
 * -1 failed before reaching one (parse, line length, request shape, unknown command). full = 0:
 * a long ok response gets check_shape instead of a full parse. */
FUZZ_NO_COV static int check_reply(proto *P, json_doc *check, fuzz_result *res, const char *p, size_t n, int full) {
    jbuf *o = &P->out;
    res->out_bytes += o->len;
    if (o->len == 0 || o->p[o->len - 1] != '\n') die("response not newline-terminated", p, n);
    if (memchr(o->p, '\n', o->len - 1)) die("response spans several lines", p, n);
    if (!full && o->len > FULL_CHECK_BELOW && o->p[6] == 't') {
        check_shape(o->p, o->len - 1, p, n);
        res->lines++;
        res->ok++;
        res->last_ok = 1;
        res->lines_ok_prefix += (res->failed == 0);
        return 1;
    }
    json_error je;
    if (json_parse(check, o->p, o->len - 1, &je)) die("response is not valid JSON", p, n);
    const json_node *root = json_root(check);
    const json_node *ok = json_get(check, root, "ok");
    if (!ok || (ok->type != JSON_TRUE && ok->type != JSON_FALSE)) die("response lacks boolean ok", p, n);
    res->lines++;
    if (ok->type == JSON_TRUE) {
        res->ok++;
        res->last_ok = 1;
        res->lines_ok_prefix += (res->failed == 0);
        return 1;
    }
    const json_node *err = json_get(check, root, "error");
    size_t cl, ml;
    const char *code = json_str(check, json_get(check, err, "code"), &cl);
    const char *msg = json_str(check, json_get(check, err, "message"), &ml);
    if (!code || !msg) die("error response lacks code/message", p, n);
    snprintf(res->last_code, sizeof res->last_code, "%.*s", (int)cl, code);
    res->failed++;
    res->last_ok = 0;
    /* errors proto_handle gives before calling a command handler (proto_dispatch.c) */
    if (!strcmp(res->last_code, "parse_error") || !strcmp(res->last_code, "line_too_long") ||
        !strcmp(res->last_code, "unknown_command"))
        return -1;
    if (!strcmp(res->last_code, "bad_request") &&
        (!strcmp(msg, "request must be a JSON object") || !strcmp(msg, "missing field 'cmd'") ||
         !strcmp(msg, "field 'cmd' must be a string")))
        return -1;
    return 0;
}

FUZZ_NO_COV static const char *next_line(const char *p, const char *end, size_t *n) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    *n = nl ? (size_t)(nl - p) : (size_t)(end - p);
    return nl ? nl + 1 : end;
}

FUZZ_NO_COV int fuzz_run(const uint8_t *data, size_t size, fuzz_result *res) {
    proto P;
    if (proto_init(&P, FUZZ_SEED, FUZZ_POPULATE, FUZZ_MAX_LINE)) return -1;
    P.no_files = 1;
    json_doc check;
    json_doc_init(&check);
    memset(res, 0, sizeof *res);
    const char *p = (const char *)data, *end = p + size;
    while (p < end && !P.quit && res->lines < FUZZ_MAX_LINES && res->out_bytes < FUZZ_MAX_OUT) {
        size_t n;
        const char *next = next_line(p, end, &n);
        uint64_t before = 0, after = 0;
        persist_hash(&P.w, &before);
        proto_handle(&P, p, n);
        if (check_reply(&P, &check, res, p, n, 1) <= 0) {
            persist_hash(&P.w, &after);
            res->hashed++;
            if (before != after) die("failed request changed the state", p, n);
        }
        p = next;
    }
    json_doc_free(&check);
    proto_free(&P);
    return 0;
}

/* ---- fast form ---- */
static proto FP;
static json_doc fcheck;
static uint8_t *prepared; /* canonical bytes of the prepared state */
static size_t prepared_len;
static int fast_ready;
static uint32_t *fail_lines; /* pass 1: indices of lines that failed inside a command */
static galaxy warm;          /* the generated sectors, kept between inputs (derived data, not state) */

/* End of a pass: snapshots dropped, the world freed, its sectors kept in `warm`. Everything an
 * input allocated is freed by the end of its own run (bar new sectors), so libFuzzer's
 * malloc/free balance stays even and it does not rerun inputs for a leak check. */
FUZZ_NO_COV static void fast_release(void) {
    for (int i = 0; i < PROTO_MAX_SNAPSHOTS; i++) {
        free(FP.snaps[i].data);
        memset(&FP.snaps[i], 0, sizeof FP.snaps[i]);
    }
    if (FP.w.gal.seed == warm.seed) {
        galaxy tmp = warm;
        warm = FP.w.gal;
        FP.w.gal = tmp;
    }
    world_free(&FP.w);
}

FUZZ_NO_COV static int fast_init(void) {
    if (proto_init(&FP, FUZZ_SEED, FUZZ_POPULATE, FUZZ_MAX_LINE)) return -1;
    FP.no_files = 1;
    json_doc_init(&fcheck);
    jbuf b;
    jb_init(&b);
    if (persist_serialize(&FP.w, &b)) return -1;
    prepared = (uint8_t *)b.p;
    prepared_len = b.len;
    fail_lines = malloc(FUZZ_MAX_LINES * sizeof *fail_lines);
    if (!fail_lines) return -1;
    /* warm the sector cache with what an observed tick and a scan of each probe touch */
    static const char *const warmup[] = {"{\"cmd\":\"tick\"}", "{\"cmd\":\"scan\",\"probe_id\":\"1-1\"}",
                                         "{\"cmd\":\"scan\",\"probe_id\":\"1-2\"}"};
    for (size_t i = 0; i < sizeof warmup / sizeof *warmup; i++) proto_handle(&FP, warmup[i], strlen(warmup[i]));
    galaxy_init(&warm, FP.w.gal.seed);
    fast_release();
    fast_ready = 1;
    return 0;
}

/* Start of a pass: the world rebuilt from the prepared bytes, the warm sectors moved into it
 * (same seed: same content). */
FUZZ_NO_COV static int fast_reset(void) {
    FP.snap_seq = 0;
    FP.quit = 0;
    world nw;
    char err[160];
    if (persist_deserialize(prepared, prepared_len, &nw, err, sizeof err)) {
        fprintf(stderr, "fuzz: prepared state does not load: %s\n", err);
        abort();
    }
    if (nw.gal.seed == warm.seed) {
        galaxy tmp = nw.gal;
        nw.gal = warm;
        warm = tmp;
    }
    FP.w = nw;
    return 0;
}

FUZZ_NO_COV int fuzz_run_fast(const uint8_t *data, size_t size, fuzz_result *res) {
    if (!fast_ready && fast_init()) return -1;
    memset(res, 0, sizeof *res);
    const char *start = (const char *)data, *end = start + size;
    uint32_t n_fail = 0, line = 0;
    fast_reset();
    for (const char *p = start; p < end && !FP.quit && line < FUZZ_MAX_LINES && res->out_bytes < FUZZ_MAX_OUT;
         line++) {
        size_t n;
        const char *next = next_line(p, end, &n);
        proto_handle(&FP, p, n);
        if (check_reply(&FP, &fcheck, res, p, n, 0) == 0) fail_lines[n_fail++] = line;
        p = next;
    }
    fast_release();
    if (n_fail == 0) return 0;
    /* pass 2: the same lines from the same state, hashing around the failures only */
    fast_reset();
    fuzz_result again;
    memset(&again, 0, sizeof again);
    uint32_t k = 0;
    line = 0;
    for (const char *p = start; p < end && k < n_fail; line++) {
        size_t n;
        const char *next = next_line(p, end, &n);
        uint64_t before = 0, after = 0;
        int hash = line == fail_lines[k];
        if (hash) persist_hash(&FP.w, &before);
        proto_handle(&FP, p, n);
        if (hash) {
            if (check_reply(&FP, &fcheck, &again, p, n, 0) != 0) die("second pass differs from the first", p, n);
            persist_hash(&FP.w, &after);
            if (before != after) die("failed request changed the state", p, n);
            res->hashed++;
            k++;
        }
        p = next;
    }
    fast_release();
    return 0;
}

FUZZ_NO_COV int fuzz_proto_one(const uint8_t *data, size_t size) {
    fuzz_result r;
    if (fuzz_run_fast(data, size, &r)) abort();
    return r.lines && r.failed == 0;
}
