/* json.h -- a small, strict JSON reader (DOM in flat arrays) and writer (growable buffer).
 *
 * Reader: RFC 8259, iterative (no recursion; nesting limited to JSON_MAX_DEPTH), strict UTF-8,
 * surrogate pairs, exact 64-bit integers via the number's raw text. Errors carry a stable code,
 * a message and the byte offset where parsing stopped. All nodes live in one array and refer to
 * each other by index, so a parse is a handful of allocations that are reused between lines.
 *
 * Writer: jbuf appends to a growable char buffer. jb_key/jb_sep insert commas automatically
 * (a comma is written unless the previous byte opens a container or is a ':'). Doubles are
 * written in the shortest form that reads back bit-identical, always with a '.' or exponent.
 */
#ifndef JSON_H
#define JSON_H

#include <stddef.h>
#include <stdint.h>

#define JSON_MAX_DEPTH 64

typedef enum json_type {
    JSON_NULL = 0,
    JSON_FALSE,
    JSON_TRUE,
    JSON_NUMBER,
    JSON_STRING,
    JSON_ARRAY,
    JSON_OBJECT
} json_type;

typedef struct json_node {
    uint32_t type;    /* json_type */
    uint32_t next;    /* next sibling (0 = none; node 0 is the root and never a sibling) */
    uint32_t child;   /* first child of an array/object (0 = none) */
    uint32_t count;   /* number of children */
    uint32_t key_off; /* member key (objects only): offset into doc->strs */
    uint32_t key_len; /* member key length in bytes */
    uint32_t str_off; /* string value, or number raw text: offset into doc->strs (NUL-terminated) */
    uint32_t str_len; /* its length in bytes */
    double num;       /* number value (strtod of the raw text) */
} json_node;

typedef struct json_doc {
    json_node *nodes;  /* nodes[0] is the root after a successful parse */
    uint32_t n_nodes;  /* nodes in use */
    uint32_t cap_nodes;/* allocated nodes */
    char *strs;        /* unescaped strings and number texts, each NUL-terminated */
    size_t n_strs;     /* bytes in use */
    size_t cap_strs;   /* bytes allocated */
} json_doc;

typedef struct json_error {
    const char *code;  /* "parse_error" (or "out_of_memory") */
    char message[96];  /* human readable */
    size_t pos;        /* byte offset into the input */
} json_error;

void json_doc_init(json_doc *d);
void json_doc_free(json_doc *d);
/* Parse text[0..len). Returns 0 on success, -1 on error (err filled). Reuses d's memory. */
int json_parse(json_doc *d, const char *text, size_t len, json_error *err);

static inline const json_node *json_root(const json_doc *d) { return d->n_nodes ? &d->nodes[0] : 0; }
const json_node *json_child(const json_doc *d, const json_node *n);  /* first child or NULL */
const json_node *json_next(const json_doc *d, const json_node *n);   /* next sibling or NULL */
/* Member lookup; the last occurrence of a duplicated key wins. NULL if absent or n not object. */
const json_node *json_get(const json_doc *d, const json_node *obj, const char *key);
const char *json_key(const json_doc *d, const json_node *member, size_t *len);
const char *json_str(const json_doc *d, const json_node *n, size_t *len); /* NULL unless string */
int json_is_str(const json_node *n, const json_doc *d, const char *s);     /* string equals s */
/* Exact integer conversions: 0 ok, -1 if not a number, not integral, or out of range. */
int json_as_u64(const json_doc *d, const json_node *n, uint64_t *out);
int json_as_i64(const json_doc *d, const json_node *n, int64_t *out);
const char *json_type_name(const json_node *n);

/* ---- writer ---- */
typedef struct jbuf {
    char *p;     /* bytes (not NUL-terminated unless jb_cstr is called) */
    size_t len;  /* bytes used */
    size_t cap;  /* bytes allocated */
    int oom;     /* set when an allocation failed; further writes are dropped */
} jbuf;

void jb_init(jbuf *b);
void jb_free(jbuf *b);
void jb_reset(jbuf *b);
int jb_reserve(jbuf *b, size_t extra);
void jb_raw(jbuf *b, const char *s, size_t n);
void jb_puts(jbuf *b, const char *s);
void jb_putc(jbuf *b, char c);
void jb_sep(jbuf *b);                       /* comma unless after '{' '[' ':' or at start */
void jb_key(jbuf *b, const char *k);        /* sep + "k": (k must need no escaping) */
void jb_str(jbuf *b, const char *s, size_t n); /* escaped JSON string */
void jb_cstr(jbuf *b, const char *s);
void jb_u64(jbuf *b, uint64_t v);
void jb_i64(jbuf *b, int64_t v);
void jb_double(jbuf *b, double v);          /* shortest round-trip; non-finite -> null */
void jb_id(jbuf *b, uint64_t hi, uint64_t lo); /* "hi-lo" */
void jb_null(jbuf *b);
void jb_bool(jbuf *b, int v);
/* Copy a parsed node back out as JSON (used to echo request ids). */
void jb_node(jbuf *b, const json_doc *d, const json_node *n);

/* Format a double in shortest round-trip form into out (>= 32 bytes); returns length. */
int json_fmt_double(char *out, double v);

#endif
