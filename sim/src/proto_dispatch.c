/* proto_dispatch.c -- the entry points of proto.h: proto_init / proto_free, and proto_handle: parse
 * one request line, find the command, build the reply.
 *
 * Every handler validates all of its arguments before touching the world, then mutates it. The
 * response is built in P->out; on error the partial response is discarded and replaced by
 * {"ok":false,"error":{...}}.
 */
#include "proto_cmd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int proto_init(proto *P, uint64_t seed, uint32_t populate, size_t max_line) {
    memset(P, 0, sizeof *P);
    json_doc_init(&P->doc);
    jb_init(&P->out);
    P->max_line = max_line;
    delta_cache_init(&P->deltas);
    return world_init(&P->w, seed, populate);
}

void proto_free(proto *P) {
    world_free(&P->w);
    json_doc_free(&P->doc);
    jb_free(&P->out);
    for (int i = 0; i < PROTO_MAX_SNAPSHOTS; i++) free(P->snaps[i].data);
    free(P->acts);
    free(P->sort_in);
    free(P->sort_out);
    free(P->sort_start);
    delta_cache_free(&P->deltas);
    memset(P, 0, sizeof *P);
}

typedef int (*handler)(proto *, const json_node *, perr *);
static const struct {
    const char *name;
    handler fn;
} commands[] = {
    {"tick", proto_cmd_tick},       {"status", proto_cmd_status},   {"metrics", proto_cmd_metrics},
    {"hash", proto_cmd_hash},       {"snapshot", proto_cmd_snapshot}, {"restore", proto_cmd_restore},
    {"config", proto_cmd_config},   {"inject", proto_cmd_inject},   {"probe", proto_cmd_probe},
    {"system", proto_cmd_system},   {"save", proto_cmd_save},       {"load", proto_cmd_load},
    {"quit", proto_cmd_quit},       {"scan", proto_cmd_scan},       {"lineage", proto_cmd_lineage},
    {"history", proto_cmd_history}, {"scenario", proto_cmd_scenario}, {"saves", proto_cmd_saves}};

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
        /* a command that may replace the world ends every delta base (observe_delta.h) */
        if (commands[i].fn == proto_cmd_restore || commands[i].fn == proto_cmd_load ||
            commands[i].fn == proto_cmd_scenario)
            delta_cache_invalidate(&P->deltas);
        return;
    }
    char msg[120];
    snprintf(msg, sizeof msg, "unknown command '%.60s'", c);
    write_error(P, id, "unknown_command", msg, -1);
}
