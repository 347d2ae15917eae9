/* proto_cmd.c -- the request helpers shared by the command files (see proto_cmd.h). The protocol's
 * entry points (proto_init, proto_handle, ...) are in proto_dispatch.c, the commands in
 * proto_tick.c, proto_state.c, proto_world.c and proto_events.c. See proto.h and
 * docs/pipe-protocol.md.
 */
#include "proto_cmd.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Fill e and return -1, so handlers can `return proto_fail(...)`. */
int proto_fail(perr *e, const char *code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    e->code = code;
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
    return -1;
}

/* ------------------------------------------------------------ helpers */

const json_node *proto_want_string(proto *P, const json_node *root, const char *key, perr *e,
                                    const char **s, size_t *n) {
    const json_node *v = json_get(&P->doc, root, key);
    if (!v) {
        proto_fail(e, "bad_request", "missing field '%s'", key);
        return NULL;
    }
    *s = json_str(&P->doc, v, n);
    if (!*s) {
        proto_fail(e, "bad_request", "field '%s' must be a string, got %s", key, json_type_name(v));
        return NULL;
    }
    return v;
}

int proto_want_probe(proto *P, const json_node *root, const char *key, perr *e, uint32_t *idx) {
    const char *s;
    size_t n;
    if (!proto_want_string(P, root, key, e, &s, &n)) return -1;
    uint64_t hi, lo;
    int64_t i;
    if (world_parse_id(s, n, &hi, &lo) || (i = world_probe_index(&P->w, hi, lo)) < 0)
        return proto_fail(e, "unknown_probe", "no probe '%.60s'", s);
    *idx = (uint32_t)i;
    return 0;
}

/* Optional "shape": absent, null or "readable" -> 0; "reference" -> 1; else bad_request. */
int proto_want_shape(proto *P, const json_node *root, perr *e, int *ref) {
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
        return proto_fail(e, "bad_request", "field 'shape' must be \"reference\" or \"readable\", got \"%.40s\"", sv);
    }
    return proto_fail(e, "bad_request", "field 'shape' must be \"reference\" or \"readable\", got %s", json_type_name(v));
}

int proto_want_page(proto *P, const json_node *root, perr *e, uint64_t total, uint64_t *begin, uint64_t *end) {
    int64_t limit = -1, offset = 0;
    const json_node *l = json_get(&P->doc, root, "limit");
    const json_node *o = json_get(&P->doc, root, "offset");
    if (l && l->type != JSON_NULL && (json_as_i64(&P->doc, l, &limit) || limit < 0))
        return proto_fail(e, "bad_request", "field 'limit' must be a non-negative integer");
    if (o && o->type != JSON_NULL && (json_as_i64(&P->doc, o, &offset) || offset < 0))
        return proto_fail(e, "bad_request", "field 'offset' must be a non-negative integer");
    *begin = (uint64_t)offset;
    *end = total;
    if (limit >= 0 && (uint64_t)offset + (uint64_t)limit < total) *end = (uint64_t)offset + (uint64_t)limit;
    return 0;
}

int proto_want_path(proto *P, const json_node *root, perr *e, char **path) {
    const char *s;
    size_t n;
    if (P->no_files) return proto_fail(e, "io_error", "file access disabled in this build");
    if (!proto_want_string(P, root, "path", e, &s, &n)) return -1;
    if (n == 0 || memchr(s, 0, n) || n > 4000) return proto_fail(e, "bad_request", "field 'path' must be a non-empty file path");
    *path = malloc(n + 1);
    if (!*path) return proto_fail(e, "io_error", "out of memory");
    memcpy(*path, s, n + 1);
    return 0;
}
