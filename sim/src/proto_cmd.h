/* proto_cmd.h -- internal to the proto*.c files: the error record of a request, the request
 * helpers (proto_cmd.c) and the command handlers (proto_tick.c, proto_state.c, proto_world.c,
 * proto_events.c) that proto_dispatch.c's table points at. Not a public header: users of the
 * protocol include proto.h.
 *
 * A handler validates all of its arguments before touching the world, appends its fields to
 * P->out after {"ok":true[,"id":..] and returns 0, or returns -1 with the error in *e. */
#ifndef PROTO_CMD_H
#define PROTO_CMD_H

#include "json.h"
#include "proto.h"
#include "world.h"

#include <stddef.h>
#include <stdint.h>

typedef struct perr {
    const char *code;   /* stable error code */
    char message[256];  /* text for humans */
} perr;

#if defined(__GNUC__)
int proto_fail(perr *e, const char *code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
#else
/* Fill e and return -1, so handlers can `return proto_fail(...)`. */
int proto_fail(perr *e, const char *code, const char *fmt, ...);
#endif

/* Required string field key of root (NULL and e set if absent or not a string). */
const json_node *proto_want_string(proto *P, const json_node *root, const char *key, perr *e,
                                   const char **s, size_t *n);
/* Required probe id field key: *idx its index. 0 ok, -1 with e set (bad_request/unknown_probe). */
int proto_want_probe(proto *P, const json_node *root, const char *key, perr *e, uint32_t *idx);
/* Optional "shape": absent, null or "readable" -> 0; "reference" -> 1; else bad_request. */
int proto_want_shape(proto *P, const json_node *root, perr *e, int *ref);
/* Optional "limit" and "offset" (non-negative integers; null or absent: all, 0) over total
 * entries: the entries [*begin, *end) to list (empty when offset >= total). 0 ok, -1 with e set. */
int proto_want_page(proto *P, const json_node *root, perr *e, uint64_t total, uint64_t *begin, uint64_t *end);
/* Required "path" field (save, load, scenario): *path malloc'd, NUL-terminated. */
int proto_want_path(proto *P, const json_node *root, perr *e, char **path);

/* Command handlers (one per "cmd"). */
int proto_cmd_tick(proto *P, const json_node *root, perr *e);     /* proto_tick.c */
int proto_cmd_status(proto *P, const json_node *root, perr *e);   /* proto_state.c */
int proto_cmd_metrics(proto *P, const json_node *root, perr *e);
int proto_cmd_hash(proto *P, const json_node *root, perr *e);
int proto_cmd_snapshot(proto *P, const json_node *root, perr *e);
int proto_cmd_restore(proto *P, const json_node *root, perr *e);
int proto_cmd_config(proto *P, const json_node *root, perr *e);
int proto_cmd_save(proto *P, const json_node *root, perr *e);
int proto_cmd_load(proto *P, const json_node *root, perr *e);
int proto_cmd_saves(proto *P, const json_node *root, perr *e);
int proto_cmd_quit(proto *P, const json_node *root, perr *e);
int proto_cmd_probe(proto *P, const json_node *root, perr *e);    /* proto_world.c */
int proto_cmd_system(proto *P, const json_node *root, perr *e);
int proto_cmd_scan(proto *P, const json_node *root, perr *e);
int proto_cmd_lineage(proto *P, const json_node *root, perr *e);
int proto_cmd_history(proto *P, const json_node *root, perr *e);
int proto_cmd_inject(proto *P, const json_node *root, perr *e);   /* proto_events.c */
int proto_cmd_scenario(proto *P, const json_node *root, perr *e);

#endif
