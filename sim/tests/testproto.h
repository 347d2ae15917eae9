/* testproto.h -- a test's side of the pipe protocol: one request line through proto_handle, the
 * reply parsed. Include after json.h, proto.h and testutil.h. */
#ifndef TESTPROTO_H
#define TESTPROTO_H

/* Send ``line`` to P; the reply (without its newline) parsed into *R, its root returned. NULL
 * (and the reply on stderr) if it is not one JSON line. */
static inline const json_node *tp_request(proto *P, json_doc *R, const char *line) {
    proto_handle(P, line, strlen(line));
    json_error e;
    if (P->out.len == 0 || P->out.p[P->out.len - 1] != '\n' || json_parse(R, P->out.p, P->out.len - 1, &e)) {
        fprintf(stderr, "bad response to %s: %.*s\n", line, (int)P->out.len, P->out.p);
        return NULL;
    }
    return json_root(R);
}

/* Whether reply r (of *R) says "ok": true. */
static inline int tp_is_ok(json_doc *R, const json_node *r) {
    const json_node *ok = r ? json_get(R, r, "ok") : NULL;
    return ok && ok->type == JSON_TRUE;
}

#endif
