/* target.c -- the protocol fuzz target, shared by libFuzzer (fuzz_main.c) and the replay driver.
 *
 * The input is split into lines; each line is fed to proto_handle. Invariants checked (abort on
 * violation, so both the fuzzer and the replay driver notice):
 *   - every line gets exactly one response line, newline-terminated, that is valid JSON (strict
 *     form: json_parse accepts it; fast form: the harness's own validator, v_reply, does) and an
 *     object with a boolean "ok";
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

/* The fast form's reply check: a strict RFC 8259 validator of its own (no tree, no allocation,
 * built without coverage like the rest of the harness), so checking a reply costs neither
 * instrumented engine code nor coverage noise: the engine's parser reading its own replies only
 * told the fuzzer how long and varied the observations were. It accepts what json_parse accepts
 * (the same grammar, strict UTF-8, surrogate pairs in \u escapes, at most JSON_MAX_DEPTH nested
 * containers, only whitespace around the value) and notes the top-level "ok" and the strings
 * error.code and error.message (raw bytes; the engine writes them without escapes). The strict
 * form parses every reply with json_parse, and the replay driver checks that both forms agree. */
enum { V_NONE, V_TOP, V_OK, V_ERR, V_CODE, V_MSG };
typedef struct vjson {
    const unsigned char *s, *end;
    int ok;                   /* -1 absent or not a boolean, 0 false, 1 true */
    const char *code, *msg;   /* raw string bytes, NULL if absent or not strings */
    size_t code_n, msg_n;
} vjson;

FUZZ_NO_COV static void v_ws(vjson *v) {
    while (v->s < v->end && (*v->s == ' ' || *v->s == '\t' || *v->s == '\n' || *v->s == '\r')) v->s++;
}

FUZZ_NO_COV static int v_hex4(vjson *v, unsigned *cp) {
    if (v->end - v->s < 4) return -1;
    unsigned x = 0;
    for (int i = 0; i < 4; i++) {
        unsigned c = v->s[i], d;
        if (c >= '0' && c <= '9') d = c - '0';
        else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
        else return -1;
        x = x << 4 | d;
    }
    v->s += 4;
    *cp = x;
    return 0;
}

/* Eight bytes at a time through the plain part of a string (bytes 0x20..0x7F but '"' and '\\'):
 * the replies are mostly such text. Any byte that needs a look stops the skip (the tests may
 * also stop it early, never late). */
#define V_ONES 0x0101010101010101ULL
#define V_HIGHS 0x8080808080808080ULL
#define V_ZERO_BYTE(x) (((x) - V_ONES) & ~(x) & V_HIGHS)
FUZZ_NO_COV static void v_skip_plain(vjson *v) {
    while (v->end - v->s >= 8) {
        uint64_t x;
        memcpy(&x, v->s, 8);
        if ((x & V_HIGHS) || V_ZERO_BYTE(x & 0xE0E0E0E0E0E0E0E0ULL) || V_ZERO_BYTE(x ^ (V_ONES * '"')) ||
            V_ZERO_BYTE(x ^ (V_ONES * '\\')))
            return;
        v->s += 8;
    }
}

/* A string at the opening quote; its raw bytes in *raw, *rn. */
FUZZ_NO_COV static int v_string(vjson *v, const char **raw, size_t *rn) {
    v->s++;
    const unsigned char *b = v->s;
    for (;;) {
        v_skip_plain(v);
        if (v->s >= v->end) return -1;
        unsigned c = *v->s;
        if (c == '"') break;
        if (c < 0x20) return -1;
        if (c == '\\') {
            if (++v->s >= v->end) return -1;
            c = *v->s++;
            if (c == 'u') {
                unsigned cp, lo;
                if (v_hex4(v, &cp)) return -1;
                if (cp >= 0xDC00 && cp <= 0xDFFF) return -1; /* lone low surrogate */
                if (cp >= 0xD800 && cp <= 0xDBFF) {          /* a low one must follow */
                    if (v->end - v->s < 2 || v->s[0] != '\\' || v->s[1] != 'u') return -1;
                    v->s += 2;
                    if (v_hex4(v, &lo) || lo < 0xDC00 || lo > 0xDFFF) return -1;
                }
            } else if (c != '"' && c != '\\' && c != '/' && c != 'b' && c != 'f' && c != 'n' && c != 'r' &&
                       c != 't') {
                return -1;
            }
        } else if (c < 0x80) {
            v->s++;
        } else { /* strict UTF-8: no overlongs, no surrogates, at most U+10FFFF */
            size_t left = (size_t)(v->end - v->s), n;
            const unsigned char *u = v->s;
            if (c >= 0xC2 && c <= 0xDF) n = 2;
            else if (c >= 0xE0 && c <= 0xEF) n = 3;
            else if (c >= 0xF0 && c <= 0xF4) n = 4;
            else return -1;
            if (left < n) return -1;
            for (size_t k = 1; k < n; k++)
                if ((u[k] & 0xC0) != 0x80) return -1;
            if ((c == 0xE0 && u[1] < 0xA0) || (c == 0xED && u[1] >= 0xA0) || (c == 0xF0 && u[1] < 0x90) ||
                (c == 0xF4 && u[1] >= 0x90))
                return -1;
            v->s += n;
        }
    }
    *raw = (const char *)b;
    *rn = (size_t)(v->s - b);
    v->s++;
    return 0;
}

FUZZ_NO_COV static int v_digits(vjson *v) {
    if (v->s >= v->end || *v->s < '0' || *v->s > '9') return -1;
    while (v->s < v->end && *v->s >= '0' && *v->s <= '9') v->s++;
    return 0;
}

FUZZ_NO_COV static int v_number(vjson *v) {
    if (*v->s == '-') v->s++;
    if (v->s < v->end && *v->s == '0') v->s++;
    else if (v_digits(v)) return -1;
    if (v->s < v->end && *v->s == '.') {
        v->s++;
        if (v_digits(v)) return -1;
    }
    if (v->s < v->end && (*v->s == 'e' || *v->s == 'E')) {
        v->s++;
        if (v->s < v->end && (*v->s == '+' || *v->s == '-')) v->s++;
        if (v_digits(v)) return -1;
    }
    return 0;
}

/* Byte comparison without memcmp: libFuzzer intercepts memcmp and strcmp to learn the compared
 * bytes, and the reply's bytes are not the input's. */
FUZZ_NO_COV static int v_eq(const void *a, const char *b, size_t n) {
    const unsigned char *x = a;
    for (size_t i = 0; i < n; i++)
        if (x[i] != (unsigned char)b[i]) return 0;
    return 1;
}

FUZZ_NO_COV static int v_word(vjson *v, const char *w, size_t n) {
    if ((size_t)(v->end - v->s) < n || !v_eq(v->s, w, n)) return -1;
    v->s += n;
    return 0;
}

FUZZ_NO_COV static int v_value(vjson *v, int depth, int role) {
    v_ws(v);
    if (v->s >= v->end) return -1;
    switch (*v->s) {
    case '{': {
        if (depth >= JSON_MAX_DEPTH) return -1;
        v->s++;
        v_ws(v);
        if (v->s < v->end && *v->s == '}') {
            v->s++;
            return 0;
        }
        for (;;) {
            const char *k;
            size_t kn;
            v_ws(v);
            if (v->s >= v->end || *v->s != '"' || v_string(v, &k, &kn)) return -1;
            v_ws(v);
            if (v->s >= v->end || *v->s++ != ':') return -1;
            int r = V_NONE;
            if (role == V_TOP && kn == 2 && v_eq(k, "ok", 2)) r = V_OK;
            else if (role == V_TOP && kn == 5 && v_eq(k, "error", 5)) r = V_ERR;
            else if (role == V_ERR && kn == 4 && v_eq(k, "code", 4)) r = V_CODE;
            else if (role == V_ERR && kn == 7 && v_eq(k, "message", 7)) r = V_MSG;
            if (v_value(v, depth + 1, r)) return -1;
            v_ws(v);
            if (v->s >= v->end) return -1;
            if (*v->s == ',') {
                v->s++;
                continue;
            }
            if (*v->s++ != '}') return -1;
            return 0;
        }
    }
    case '[': {
        if (depth >= JSON_MAX_DEPTH) return -1;
        v->s++;
        v_ws(v);
        if (v->s < v->end && *v->s == ']') {
            v->s++;
            return 0;
        }
        for (;;) {
            if (v_value(v, depth + 1, V_NONE)) return -1;
            v_ws(v);
            if (v->s >= v->end) return -1;
            if (*v->s == ',') {
                v->s++;
                continue;
            }
            if (*v->s++ != ']') return -1;
            return 0;
        }
    }
    case '"': {
        const char *t;
        size_t tn;
        if (v_string(v, &t, &tn)) return -1;
        if (role == V_CODE && !v->code) v->code = t, v->code_n = tn;
        if (role == V_MSG && !v->msg) v->msg = t, v->msg_n = tn;
        return 0;
    }
    case 't':
        if (role == V_OK && v->ok < 0) v->ok = 1;
        return v_word(v, "true", 4);
    case 'f':
        if (role == V_OK && v->ok < 0) v->ok = 0;
        return v_word(v, "false", 5);
    case 'n':
        return v_word(v, "null", 4);
    default:
        if (*v->s == '-' || (*v->s >= '0' && *v->s <= '9')) return v_number(v);
        return -1;
    }
}

/* Validate one reply (without its newline); 0 ok, -1 not JSON. */
FUZZ_NO_COV static int v_reply(vjson *v, const char *r, size_t len) {
    memset(v, 0, sizeof *v);
    v->ok = -1;
    v->s = (const unsigned char *)r;
    v->end = v->s + len;
    if (v_value(v, 0, V_TOP)) return -1;
    v_ws(v);
    return v->s == v->end ? 0 : -1;
}

/* For the replay driver: does the validator accept these bytes (as one JSON text)? It must agree
 * with json_parse on every input of the JSON corpus. */
FUZZ_NO_COV int fuzz_reply_valid(const char *text, size_t len) {
    vjson v;
    return v_reply(&v, text, len) == 0;
}

/* Check P->out for the request line; count it in res. Returns 1 ok, 0 failed inside a command,
 * -1 failed before reaching one (parse, line length, request shape, unknown command). full = 1
 * (the strict form): the reply is parsed with the engine's json_parse; full = 0 (the fast form):
 * with the harness's own validator. Both check the same things. */
FUZZ_NO_COV static int check_reply(proto *P, json_doc *check, fuzz_result *res, const char *p, size_t n, int full) {
    jbuf *o = &P->out;
    res->out_bytes += o->len;
    if (o->len == 0 || o->p[o->len - 1] != '\n') die("response not newline-terminated", p, n);
    if (memchr(o->p, '\n', o->len - 1)) die("response spans several lines", p, n);
    const char *code = NULL, *msg = NULL;
    size_t cl = 0, ml = 0;
    int ok;
    if (full) {
        json_error je;
        if (json_parse(check, o->p, o->len - 1, &je)) die("response is not valid JSON", p, n);
        const json_node *root = json_root(check);
        const json_node *okn = json_get(check, root, "ok");
        if (!okn || (okn->type != JSON_TRUE && okn->type != JSON_FALSE)) die("response lacks boolean ok", p, n);
        ok = okn->type == JSON_TRUE;
        if (!ok) {
            const json_node *err = json_get(check, root, "error");
            code = json_str(check, json_get(check, err, "code"), &cl);
            msg = json_str(check, json_get(check, err, "message"), &ml);
        }
    } else {
        vjson v;
        if (v_reply(&v, o->p, o->len - 1)) die("response is not valid JSON", p, n);
        if (v.ok < 0) die("response lacks boolean ok", p, n);
        ok = v.ok;
        code = v.code, cl = v.code_n;
        msg = v.msg, ml = v.msg_n;
    }
    res->lines++;
    if (ok) {
        res->ok++;
        res->last_ok = 1;
        res->lines_ok_prefix += (res->failed == 0);
        return 1;
    }
    if (!code || !msg) die("error response lacks code/message", p, n);
    snprintf(res->last_code, sizeof res->last_code, "%.*s", (int)cl, code);
    res->failed++;
    res->last_ok = 0;
    /* errors proto_handle gives before calling a command handler (proto_dispatch.c) */
    if (!strcmp(res->last_code, "parse_error") || !strcmp(res->last_code, "line_too_long") ||
        !strcmp(res->last_code, "unknown_command"))
        return -1;
#define MSG_IS(t) (ml == sizeof t - 1 && !memcmp(msg, t, ml))
    if (!strcmp(res->last_code, "bad_request") &&
        (MSG_IS("request must be a JSON object") || MSG_IS("missing field 'cmd'") ||
         MSG_IS("field 'cmd' must be a string")))
        return -1;
#undef MSG_IS
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
    delta_cache_invalidate(&FP.deltas); /* no delta base carried from the previous input */
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
        if (check_reply(&FP, NULL, res, p, n, 0) == 0) fail_lines[n_fail++] = line;
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
            if (check_reply(&FP, NULL, &again, p, n, 0) != 0) die("second pass differs from the first", p, n);
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
