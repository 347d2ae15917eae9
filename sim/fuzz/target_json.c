/* target_json.c -- the JSON reader alone: the bytes of one line.
 *
 * Invariants (abort on violation):
 *   - an error has a code, a NUL-terminated message and a position within the input;
 *   - a parse gives a root whose child counts match its children, every string/number offset
 *     inside the arena;
 *   - writing the tree back (jb_node) gives text that parses again to the same canonical text
 *     (writing is idempotent after one round), numbers keep their exact value;
 *   - exact integer conversions agree with the number's value when they succeed.
 * One json_doc and two buffers are reused, so an input costs one or two parses. */
#include "fuzz.h"

#include "json.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void die(const char *what, const uint8_t *data, size_t size) {
    fprintf(stderr, "fuzz(json) invariant violated: %s\ninput: %.*s\n", what, (int)(size > 300 ? 300 : size),
            (const char *)data);
    abort();
}

static json_doc d1, d2;
static jbuf b1, b2;
static int ready;

static void check_tree(const json_doc *d, const uint8_t *data, size_t size) {
    for (uint32_t i = 0; i < d->n_nodes; i++) {
        const json_node *n = &d->nodes[i];
        if (n->type > JSON_OBJECT) die("node type out of range", data, size);
        if (n->next >= d->n_nodes || n->child >= d->n_nodes) die("node link out of range", data, size);
        if (n->type == JSON_STRING || n->type == JSON_NUMBER) {
            if ((size_t)n->str_off + n->str_len >= d->n_strs + 1 || d->strs[n->str_off + n->str_len])
                die("string outside the arena or not NUL-terminated", data, size);
        }
        if (n->type == JSON_ARRAY || n->type == JSON_OBJECT) {
            uint32_t c = 0;
            for (const json_node *k = json_child(d, n); k; k = json_next(d, k)) {
                if (++c > n->count) break;
                if (n->type == JSON_OBJECT && (size_t)k->key_off + k->key_len > d->n_strs)
                    die("key outside the arena", data, size);
            }
            if (c != n->count) die("child count differs from the children", data, size);
        } else if (n->child || n->count) {
            die("scalar with children", data, size);
        }
        if (n->type == JSON_NUMBER) {
            uint64_t u;
            int64_t s;
            if (!json_as_u64(d, n, &u) && (double)u != n->num) die("u64 conversion disagrees", data, size);
            if (!json_as_i64(d, n, &s) && (double)s != n->num) die("i64 conversion disagrees", data, size);
            if (isfinite(n->num)) {
                char buf[40];
                int l = json_fmt_double(buf, n->num);
                if (l <= 0 || l >= 40 || strtod(buf, NULL) != n->num) die("double does not round-trip", data, size);
            }
        }
    }
}

int fuzz_json_one(const uint8_t *data, size_t size) {
    if (!ready) {
        json_doc_init(&d1);
        json_doc_init(&d2);
        jb_init(&b1);
        jb_init(&b2);
        ready = 1;
    }
    json_error je;
    memset(&je, 0, sizeof je);
    if (json_parse(&d1, (const char *)data, size, &je)) {
        if (!je.code || !memchr(je.message, 0, sizeof je.message)) die("error without code/message", data, size);
        if (je.pos > size) die("error position beyond the input", data, size);
        return 0;
    }
    const json_node *root = json_root(&d1);
    if (!root || d1.n_nodes == 0) die("parse succeeded without a root", data, size);
    check_tree(&d1, data, size);
    (void)json_get(&d1, root, "cmd");
    jb_reset(&b1);
    jb_node(&b1, &d1, root);
    if (b1.oom) return 1;
    if (json_parse(&d2, b1.p, b1.len, &je)) die("written tree does not parse again", data, size);
    if (d2.n_nodes != d1.n_nodes) die("written tree has another node count", data, size);
    for (uint32_t i = 0; i < d1.n_nodes; i++)
        if (d1.nodes[i].type != d2.nodes[i].type ||
            (d1.nodes[i].type == JSON_NUMBER && d1.nodes[i].num != d2.nodes[i].num && !isnan(d1.nodes[i].num)))
            die("written tree differs", data, size);
    jb_reset(&b2);
    jb_node(&b2, &d2, json_root(&d2));
    if (!b2.oom && (b2.len != b1.len || memcmp(b1.p, b2.p, b1.len))) die("writing is not idempotent", data, size);
    return 1;
}
