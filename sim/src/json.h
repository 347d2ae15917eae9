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
 * The common writes are inline; hot field groups reserve once and write through a cursor
 * (jb_begin / jw_* / jb_end, below). Output is byte-identical to the original writer's
 * (json_fmt_double_ref is the original number formatter; tests/test_json.c compares them).
 */
#ifndef JSON_H
#define JSON_H

#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

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
/* first child or NULL */
static inline const json_node *json_child(const json_doc *d, const json_node *n) {
    if (!n || (n->type != JSON_ARRAY && n->type != JSON_OBJECT) || !n->child) return NULL;
    return &d->nodes[n->child];
}
/* next sibling or NULL */
static inline const json_node *json_next(const json_doc *d, const json_node *n) {
    return (n && n->next) ? &d->nodes[n->next] : NULL;
}
/* Member lookup; the last occurrence of a duplicated key wins. NULL if absent or n not object.
 * json_getn takes the key's length (json_get's strlen folds away for a literal key). */
const json_node *json_getn(const json_doc *d, const json_node *obj, const char *key, size_t kl);
static inline const json_node *json_get(const json_doc *d, const json_node *obj, const char *key) {
    return json_getn(d, obj, key, strlen(key));
}
static inline const char *json_key(const json_doc *d, const json_node *member, size_t *len) {
    if (len) *len = member->key_len;
    return d->strs + member->key_off;
}
const char *json_str(const json_doc *d, const json_node *n, size_t *len); /* NULL unless string */
int json_is_str(const json_node *n, const json_doc *d, const char *s);     /* string equals s */
/* Exact integer conversions: 0 ok, -1 if not a number, not integral, or out of range. */
int json_as_u64(const json_doc *d, const json_node *n, uint64_t *out);
int json_as_i64(const json_doc *d, const json_node *n, int64_t *out);
const char *json_type_name(const json_node *n);

/* ---- writer ----
 * The common writes are inline: one capacity check (jb_reserve's fast path), then direct stores.
 * Keys and strings given as literals have compile-time lengths (JB_KEY, jb_puts/jb_cstr of a
 * literal fold their strlen). */
typedef struct jbuf {
    char *p;     /* bytes (not NUL-terminated unless jb_cstr is called) */
    size_t len;  /* bytes used */
    size_t cap;  /* bytes allocated */
    int oom;     /* set when an allocation failed; further writes are dropped */
} jbuf;

#if defined(__GNUC__)
#define JB_INLINE static inline __attribute__((always_inline))
#define JB_LIKELY(x) __builtin_expect(!!(x), 1)
#else
#define JB_INLINE static inline
#define JB_LIKELY(x) (x)
#endif

void jb_init(jbuf *b);
void jb_free(jbuf *b);
void jb_reset(jbuf *b);
int jb_grow(jbuf *b, size_t extra);         /* jb_reserve's slow path */
/* Make room for extra more bytes: 0, or -1 (and oom set) when memory ran out. */
JB_INLINE int jb_reserve(jbuf *b, size_t extra) {
    if (JB_LIKELY(b->len + extra <= b->cap && !b->oom)) return 0;
    return jb_grow(b, extra);
}
/* "00" "01" ... "99": two decimal digits at a time */
extern const char json_digits2[201];
/* exactly 4 / 8 decimal digits of x (zero-padded) at out */
JB_INLINE void json_put4(char *out, uint32_t x) {
    memcpy(out, json_digits2 + 2 * (x / 100), 2);
    memcpy(out + 2, json_digits2 + 2 * (x % 100), 2);
}
JB_INLINE void json_put8(char *out, uint32_t x) {
    json_put4(out, x / 10000);
    json_put4(out + 4, x % 10000);
}
/* decimal digits of x < 10^8, no padding; returns the count */
JB_INLINE size_t json_fmt_u32_8(char *out, uint32_t x) {
    size_t n = x < 10 ? 1 : x < 100 ? 2 : x < 1000 ? 3 : x < 10000 ? 4 : x < 100000 ? 5 : x < 1000000 ? 6
             : x < 10000000 ? 7 : 8;
    char *o = out + n;
    while (x >= 100) {
        o -= 2;
        memcpy(o, json_digits2 + 2 * (x % 100), 2);
        x /= 100;
    }
    if (x >= 10) memcpy(o - 2, json_digits2 + 2 * x, 2);
    else o[-1] = (char)('0' + x);
    return n;
}
/* Decimal digits of v, written at out (no NUL); returns the count (1..20). Eight digits at a time:
 * the groups are independent, so a 20-digit id does not wait on ten dependent divisions. */
JB_INLINE size_t json_fmt_u64(char *out, uint64_t v) {
    if (v < 100000000) return json_fmt_u32_8(out, (uint32_t)v);
    uint64_t hi = v / 100000000;
    uint32_t lo = (uint32_t)(v % 100000000);
    size_t n;
    if (hi < 100000000) {
        n = json_fmt_u32_8(out, (uint32_t)hi);
    } else {
        n = json_fmt_u32_8(out, (uint32_t)(hi / 100000000)); /* <= 1844 */
        json_put8(out + n, (uint32_t)(hi % 100000000));
        n += 8;
    }
    json_put8(out + n, lo);
    return n + 8;
}
JB_INLINE void jb_raw(jbuf *b, const char *s, size_t n) {
    if (jb_reserve(b, n)) return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
}
JB_INLINE void jb_puts(jbuf *b, const char *s) { jb_raw(b, s, strlen(s)); }
JB_INLINE void jb_putc(jbuf *b, char c) {
    if (jb_reserve(b, 1)) return;
    b->p[b->len++] = c;
}
/* 1 when a value written now needs a comma before it: not at the start, nor after '{' '[' ':'
 * or a newline */
JB_INLINE int jb_need_comma(const jbuf *b) {
    if (b->len == 0) return 0;
    char c = b->p[b->len - 1];
    return c != '{' && c != '[' && c != ':' && c != '\n';
}
JB_INLINE void jb_sep(jbuf *b) {                       /* comma unless after '{' '[' ':' or at start */
    if (jb_need_comma(b)) jb_putc(b, ',');
}
/* sep + q[0..n): q is a ready key ("\"name\":") or any text that follows a separator */
JB_INLINE void jb_sep_raw(jbuf *b, const char *q, size_t n) {
    if (jb_reserve(b, n + 1)) return;
    char *o = b->p + b->len;
    if (jb_need_comma(b)) *o++ = ',';
    memcpy(o, q, n);
    b->len = (size_t)(o + n - b->p);
}
/* sep + "k": (k must need no escaping) */
JB_INLINE void jb_key(jbuf *b, const char *k) {
    size_t n = strlen(k);
    if (jb_reserve(b, n + 4)) return;
    char *o = b->p + b->len;
    if (jb_need_comma(b)) *o++ = ',';
    *o++ = '"';
    memcpy(o, k, n);
    o += n;
    *o++ = '"';
    *o++ = ':';
    b->len = (size_t)(o - b->p);
}
/* jb_key for a string literal: the quoted key is built at compile time */
#define JB_KEY(b, lit) jb_sep_raw((b), "\"" lit "\":", sizeof("\"" lit "\":") - 1)
/* a literal, with (JB_SEP_LIT) or without (JB_LIT) the separator before it */
#define JB_SEP_LIT(b, lit) jb_sep_raw((b), "" lit, sizeof(lit) - 1)
#define JB_LIT(b, lit) jb_raw((b), "" lit, sizeof(lit) - 1)
void jb_str(jbuf *b, const char *s, size_t n); /* escaped JSON string */
JB_INLINE void jb_cstr(jbuf *b, const char *s) { jb_str(b, s, strlen(s)); }
JB_INLINE void jb_u64(jbuf *b, uint64_t v) {
    if (jb_reserve(b, 24)) return;
    b->len += json_fmt_u64(b->p + b->len, v);
}
JB_INLINE void jb_i64(jbuf *b, int64_t v) {
    if (jb_reserve(b, 24)) return;
    char *o = b->p + b->len;
    uint64_t u = (uint64_t)v;
    if (v < 0) {
        *o++ = '-';
        u = (uint64_t)0 - u;
    }
    o += json_fmt_u64(o, u);
    b->len = (size_t)(o - b->p);
}
/* Format a double in shortest round-trip form into out (>= 32 bytes); returns length. */
int json_fmt_double(char *out, double v);
/* The formatter as it was before the fast paths (snprintf-based); the tests compare the two. */
int json_fmt_double_ref(char *out, double v);
JB_INLINE void jb_double(jbuf *b, double v) {          /* shortest round-trip; non-finite -> null */
    if (jb_reserve(b, 40)) return;
    b->len += (size_t)json_fmt_double(b->p + b->len, v);
}
JB_INLINE void jb_id(jbuf *b, uint64_t hi, uint64_t lo) { /* "hi-lo" */
    if (jb_reserve(b, 48)) return;
    char *o = b->p + b->len;
    *o++ = '"';
    o += json_fmt_u64(o, hi);
    *o++ = '-';
    o += json_fmt_u64(o, lo);
    *o++ = '"';
    b->len = (size_t)(o - b->p);
}
JB_INLINE void jb_null(jbuf *b) { jb_raw(b, "null", 4); }
JB_INLINE void jb_bool(jbuf *b, int v) { v ? jb_raw(b, "true", 4) : jb_raw(b, "false", 5); }
/* ---- cursor writes: reserve once for a group of fields, then write without checks ----
 *     char *o = jb_begin(b, bound);   (NULL when out of memory: write nothing)
 *     const char *lim = o + bound;
 *     o = JW_KEY(o, "hull"); o = jw_double(o, p->hull); ...
 *     jb_end(b, o, lim);
 * bound must cover every byte written: the literals (sizeof), JW_DOUBLE_MAX per double,
 * JW_U64_MAX per integer, JW_ID_MAX per id, jw_str_max(n) per string. The cursor lives in a
 * register, so the writes neither reload nor store b between fields. */
#define JW_DOUBLE_MAX 32
#define JW_U64_MAX 21
#define JW_ID_MAX 44
#define jw_str_max(n) ((n) * 6 + 2)
JB_INLINE char *jb_begin(jbuf *b, size_t bound) { return jb_reserve(b, bound) ? NULL : b->p + b->len; }
/* commit the bytes written up to o; lim = the cursor jb_begin returned + bound (checked: a bound
 * too small for what was written stops the program rather than going unnoticed) */
JB_INLINE void jb_end(jbuf *b, char *o, const char *lim) {
    assert(o <= lim);
    (void)lim;
    b->len = (size_t)(o - b->p);
}
JB_INLINE char *jw_raw(char *o, const char *s, size_t n) {
    memcpy(o, s, n);
    return o + n;
}
/* a literal; a key with the comma before it (JW_KEY: not the first member) or without (JW_KEY0) */
#define JW_LIT(o, lit) jw_raw((o), "" lit, sizeof(lit) - 1)
#define JW_KEY(o, lit) jw_raw((o), ",\"" lit "\":", sizeof(",\"" lit "\":") - 1)
#define JW_KEY0(o, lit) jw_raw((o), "\"" lit "\":", sizeof("\"" lit "\":") - 1)
JB_INLINE char *jw_putc(char *o, char c) {
    *o = c;
    return o + 1;
}
JB_INLINE char *jw_u64(char *o, uint64_t v) { return o + json_fmt_u64(o, v); }
JB_INLINE char *jw_i64(char *o, int64_t v) {
    uint64_t u = (uint64_t)v;
    if (v < 0) {
        *o++ = '-';
        u = (uint64_t)0 - u;
    }
    return o + json_fmt_u64(o, u);
}
JB_INLINE char *jw_double(char *o, double v) { return o + json_fmt_double(o, v); }
JB_INLINE char *jw_id(char *o, uint64_t hi, uint64_t lo) {
    *o++ = '"';
    o += json_fmt_u64(o, hi);
    *o++ = '-';
    o += json_fmt_u64(o, lo);
    *o++ = '"';
    return o;
}
JB_INLINE char *jw_null(char *o) { return jw_raw(o, "null", 4); }
JB_INLINE char *jw_bool(char *o, int v) { return v ? jw_raw(o, "true", 4) : jw_raw(o, "false", 5); }
/* escaped JSON string (at most jw_str_max(n) bytes) */
char *jw_str(char *o, const char *s, size_t n);
/* "k": for a key that needs no escaping (k not a literal), with the comma before it when comma */
JB_INLINE char *jw_key(char *o, const char *k, size_t n, int comma) {
    if (comma) *o++ = ',';
    *o++ = '"';
    memcpy(o, k, n);
    o += n;
    *o++ = '"';
    *o++ = ':';
    return o;
}

/* Copy a parsed node back out as JSON (used to echo request ids). */
void jb_node(jbuf *b, const json_doc *d, const json_node *n);

#endif
