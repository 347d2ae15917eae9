/* target.c -- the fuzz target shared by libFuzzer (fuzz/fuzz_main.c) and the replay driver.
 *
 * The input is split into lines; each line is fed to a fresh engine's proto_handle. Invariants
 * checked (abort on violation, so both the fuzzer and the replay driver notice):
 *   - every line gets exactly one response line, newline-terminated, that our own parser
 *     accepts as a JSON object with a boolean "ok";
 *   - an error response has error.code (string) and error.message (string);
 *   - the state hash is unchanged by any request that failed.
 * File commands are disabled (no_files) so fuzzing never touches the filesystem. */
#include "target.h"

#include "persist.h"
#include "proto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void die(const char *what, const char *line, size_t n) {
    fprintf(stderr, "fuzz invariant violated: %s\nline: %.*s\n", what, (int)(n > 300 ? 300 : n), line);
    abort();
}

int fuzz_run(const uint8_t *data, size_t size, fuzz_result *res) {
    proto P;
    if (proto_init(&P, 42, 2, 4096)) return -1;
    P.no_files = 1;
    json_doc check;
    json_doc_init(&check);
    memset(res, 0, sizeof *res);
    const char *p = (const char *)data, *end = p + size;
    while (p < end && !P.quit) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        uint64_t before = 0, after = 0;
        persist_hash(&P.w, &before);
        proto_handle(&P, p, n);
        jbuf *o = &P.out;
        if (o->len == 0 || o->p[o->len - 1] != '\n') die("response not newline-terminated", p, n);
        if (memchr(o->p, '\n', o->len - 1)) die("response spans several lines", p, n);
        json_error je;
        if (json_parse(&check, o->p, o->len - 1, &je)) die("response is not valid JSON", p, n);
        const json_node *root = json_root(&check);
        const json_node *ok = json_get(&check, root, "ok");
        if (!ok || (ok->type != JSON_TRUE && ok->type != JSON_FALSE)) die("response lacks boolean ok", p, n);
        res->lines++;
        if (ok->type == JSON_TRUE) {
            res->ok++;
            res->last_ok = 1;
        } else {
            const json_node *err = json_get(&check, root, "error");
            size_t cl;
            const char *code = json_str(&check, json_get(&check, err, "code"), &cl);
            if (!code || !json_str(&check, json_get(&check, err, "message"), NULL))
                die("error response lacks code/message", p, n);
            snprintf(res->last_code, sizeof res->last_code, "%.*s", (int)cl, code);
            persist_hash(&P.w, &after);
            if (before != after) die("failed request changed the state", p, n);
            res->failed++;
            res->last_ok = 0;
        }
        res->lines_ok_prefix += (res->failed == 0);
        p = nl ? nl + 1 : end;
    }
    json_doc_free(&check);
    proto_free(&P);
    return 0;
}
