/* json.c -- strict iterative JSON reader and buffer writer. See json.h for the contract.
 *
 * The reader is a loop over an explicit container stack: a value is parsed, attached to the
 * container on top of the stack, then the separator that must follow is checked. Depth is
 * capped by JSON_MAX_DEPTH, so hostile input cannot exhaust the C stack.
 */
#include "json.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__GNUC__)
#define JSON_NOINLINE __attribute__((noinline))
#else
#define JSON_NOINLINE
#endif

/* nonzero when one of the eight bytes of x needs attention in a JSON string: below 0x20, 0x80 and
 * up, '"' or '\\' (exact: these bit tricks have no false positives in the "any byte" sense) */
static inline uint64_t swar_special(uint64_t x) {
    const uint64_t ones = 0x0101010101010101ULL, high = 0x8080808080808080ULL;
    uint64_t q = x ^ (ones * '"'), bs = x ^ (ones * '\\');
    return (x | ((x - ones * 0x20) & ~x) | ((q - ones) & ~q) | ((bs - ones) & ~bs)) & high;
}

/* the same test for one byte */
static inline int byte_special(unsigned char c) { return c < 0x20 || c >= 0x80 || c == '"' || c == '\\'; }

void json_doc_init(json_doc *d) { memset(d, 0, sizeof *d); }

void json_doc_free(json_doc *d) {
    free(d->nodes);
    free(d->strs);
    memset(d, 0, sizeof *d);
}

typedef struct parser {
    json_doc *d;
    const char *s;   /* input */
    size_t len;      /* input length */
    size_t pos;      /* cursor */
    json_error *err;
} parser;

static int fail(parser *p, const char *msg) {
    p->err->code = "parse_error";
    snprintf(p->err->message, sizeof p->err->message, "%s", msg);
    p->err->pos = p->pos;
    return -1;
}

static int oom(parser *p) {
    p->err->code = "out_of_memory";
    snprintf(p->err->message, sizeof p->err->message, "out of memory while parsing");
    p->err->pos = p->pos;
    return -1;
}

static int new_node(parser *p, uint32_t type, uint32_t *idx) {
    json_doc *d = p->d;
    if (d->n_nodes == d->cap_nodes) {
        uint32_t nc = d->cap_nodes ? d->cap_nodes * 2 : 64;
        if (nc < d->cap_nodes) return oom(p);
        json_node *nn = realloc(d->nodes, (size_t)nc * sizeof *nn);
        if (!nn) return oom(p);
        d->nodes = nn;
        d->cap_nodes = nc;
    }
    *idx = d->n_nodes++;
    json_node *n = &d->nodes[*idx];
    memset(n, 0, sizeof *n);
    n->type = type;
    return 0;
}

/* str_reserve's slow path: grow doc->strs to hold extra more bytes. */
static JSON_NOINLINE int str_grow(parser *p, size_t extra) {
    json_doc *d = p->d;
    size_t nc = d->cap_strs ? d->cap_strs : 256;
    while (nc < d->n_strs + extra) nc *= 2;
    char *ns = realloc(d->strs, nc);
    if (!ns) return oom(p);
    d->strs = ns;
    d->cap_strs = nc;
    return 0;
}

static inline int str_reserve(parser *p, size_t extra) {
    if (p->d->n_strs + extra <= p->d->cap_strs) return 0;
    return str_grow(p, extra);
}

static inline void skip_ws(parser *p) {
    while (p->pos < p->len) {
        char c = p->s[p->pos];
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r') p->pos++;
        else break;
    }
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static int read_hex4(parser *p, uint32_t *out) {
    if (p->pos + 4 > p->len) return fail(p, "truncated \\u escape");
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval(p->s[p->pos]);
        if (h < 0) return fail(p, "bad hex digit in \\u escape");
        v = (v << 4) | (uint32_t)h;
        p->pos++;
    }
    *out = v;
    return 0;
}

static void put_utf8(char *dst, size_t *n, uint32_t cp) {
    if (cp < 0x80) {
        dst[(*n)++] = (char)cp;
    } else if (cp < 0x800) {
        dst[(*n)++] = (char)(0xC0 | (cp >> 6));
        dst[(*n)++] = (char)(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        dst[(*n)++] = (char)(0xE0 | (cp >> 12));
        dst[(*n)++] = (char)(0x80 | ((cp >> 6) & 0x3F));
        dst[(*n)++] = (char)(0x80 | (cp & 0x3F));
    } else {
        dst[(*n)++] = (char)(0xF0 | (cp >> 18));
        dst[(*n)++] = (char)(0x80 | ((cp >> 12) & 0x3F));
        dst[(*n)++] = (char)(0x80 | ((cp >> 6) & 0x3F));
        dst[(*n)++] = (char)(0x80 | (cp & 0x3F));
    }
}

/* Length of a valid UTF-8 sequence starting at s[0] (s has n bytes), or 0 if invalid. */
static size_t utf8_len(const unsigned char *s, size_t n) {
    unsigned char c = s[0];
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) return (n >= 2 && (s[1] & 0xC0) == 0x80) ? 2 : 0;
    if (c >= 0xE0 && c <= 0xEF) {
        if (n < 3 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80) return 0;
        if (c == 0xE0 && s[1] < 0xA0) return 0;  /* overlong */
        if (c == 0xED && s[1] >= 0xA0) return 0; /* surrogates */
        return 3;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        if (n < 4 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80 || (s[3] & 0xC0) != 0x80)
            return 0;
        if (c == 0xF0 && s[1] < 0x90) return 0;  /* overlong */
        if (c == 0xF4 && s[1] >= 0x90) return 0; /* > U+10FFFF */
        return 4;
    }
    return 0;
}

/* The general string parser: p->pos is just after the opening quote. (Kept out of parse_string,
 * whose common case then needs no stack frame to speak of.) */
static JSON_NOINLINE int parse_string_slow(parser *p, uint32_t *off, uint32_t *slen) {
    size_t start = p->pos;
    /* Worst case the unescaped text is no longer than the raw text. Find the end first. */
    size_t i = start;
    while (i < p->len && p->s[i] != '"') {
        if (p->s[i] == '\\') i++;
        i++;
    }
    if (i >= p->len) {
        p->pos = p->len;
        return fail(p, "unterminated string");
    }
    if (str_reserve(p, i - start + 1)) return -1;
    char *dst = p->d->strs + p->d->n_strs;
    size_t n = 0;
    while (p->s[p->pos] != '"') {
        unsigned char c = (unsigned char)p->s[p->pos];
        if (c < 0x20) return fail(p, "control character in string");
        if (c == '\\') {
            p->pos++;
            char e = p->s[p->pos];
            switch (e) {
            case '"': dst[n++] = '"'; p->pos++; break;
            case '\\': dst[n++] = '\\'; p->pos++; break;
            case '/': dst[n++] = '/'; p->pos++; break;
            case 'b': dst[n++] = '\b'; p->pos++; break;
            case 'f': dst[n++] = '\f'; p->pos++; break;
            case 'n': dst[n++] = '\n'; p->pos++; break;
            case 'r': dst[n++] = '\r'; p->pos++; break;
            case 't': dst[n++] = '\t'; p->pos++; break;
            case 'u': {
                p->pos++;
                uint32_t cp;
                if (read_hex4(p, &cp)) return -1;
                if (cp >= 0xD800 && cp <= 0xDBFF) {
                    uint32_t lo;
                    if (p->pos + 2 > p->len || p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u')
                        return fail(p, "lone high surrogate");
                    p->pos += 2;
                    if (read_hex4(p, &lo)) return -1;
                    if (lo < 0xDC00 || lo > 0xDFFF) return fail(p, "bad low surrogate");
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                    return fail(p, "lone low surrogate");
                }
                put_utf8(dst, &n, cp); /* never longer than the 6+ raw bytes it replaces */
                break;
            }
            default: return fail(p, "bad escape in string");
            }
        } else if (c < 0x80) {
            dst[n++] = (char)c;
            p->pos++;
        } else {
            size_t l = utf8_len((const unsigned char *)p->s + p->pos, p->len - p->pos);
            if (l == 0) return fail(p, "invalid UTF-8 in string");
            memcpy(dst + n, p->s + p->pos, l);
            n += l;
            p->pos += l;
        }
    }
    p->pos++; /* closing quote */
    dst[n] = '\0';
    *off = (uint32_t)p->d->n_strs;
    *slen = (uint32_t)n;
    p->d->n_strs += n + 1;
    return 0;
}

/* Parse a string at p->pos (which is at the opening quote) into doc->strs.
 * The common case first: printable ASCII up to the closing quote (no escape, no control
 * character, no multi-byte UTF-8), scanned and copied eight bytes at a time (the bytes copied past
 * the closing quote are overwritten by the next string: room for the rest of the input and eight
 * more is reserved). Anything else goes the general way, from the start of the string (the same
 * result, the same errors). */
static inline int parse_string(parser *p, uint32_t *off, uint32_t *slen) {
    size_t from = ++p->pos, i = from, len = p->len; /* after the opening quote */
    if (str_reserve(p, len - from + 8)) return -1;
    const char *s = p->s;
    char *dst = p->d->strs + p->d->n_strs; /* dst[i - from]: where s[i] goes */
    while (len - i >= 8) {
        uint64_t x;
        memcpy(&x, s + i, 8);
        memcpy(dst + (i - from), &x, 8);
        uint64_t sp = swar_special(x);
        if (!sp) {
            i += 8;
            continue;
        }
#if defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        i += (size_t)__builtin_ctzll(sp) / 8; /* the lowest flagged byte is the first special one */
#endif
        break;
    }
    while (i < len && !byte_special((unsigned char)s[i])) {
        dst[i - from] = s[i];
        i++;
    }
    if (i >= len || s[i] != '"') return parse_string_slow(p, off, slen);
    dst[i - from] = '\0';
    *off = (uint32_t)p->d->n_strs;
    *slen = (uint32_t)(i - from);
    p->d->n_strs += i - from + 1;
    p->pos = i + 1; /* closing quote */
    return 0;
}

static int is_digit(char c) { return c >= '0' && c <= '9'; }

static int parse_number(parser *p, uint32_t idx) {
    size_t start = p->pos;
    if (p->s[p->pos] == '-') p->pos++;
    if (p->pos >= p->len) return fail(p, "truncated number");
    if (p->s[p->pos] == '0') {
        p->pos++;
    } else if (is_digit(p->s[p->pos])) {
        while (p->pos < p->len && is_digit(p->s[p->pos])) p->pos++;
    } else {
        return fail(p, "bad number");
    }
    if (p->pos < p->len && p->s[p->pos] == '.') {
        p->pos++;
        if (p->pos >= p->len || !is_digit(p->s[p->pos])) return fail(p, "digit expected after '.'");
        while (p->pos < p->len && is_digit(p->s[p->pos])) p->pos++;
    }
    if (p->pos < p->len && (p->s[p->pos] == 'e' || p->s[p->pos] == 'E')) {
        p->pos++;
        if (p->pos < p->len && (p->s[p->pos] == '+' || p->s[p->pos] == '-')) p->pos++;
        if (p->pos >= p->len || !is_digit(p->s[p->pos])) return fail(p, "digit expected in exponent");
        while (p->pos < p->len && is_digit(p->s[p->pos])) p->pos++;
    }
    size_t n = p->pos - start;
    if (str_reserve(p, n + 1)) return -1;
    char *dst = p->d->strs + p->d->n_strs;
    memcpy(dst, p->s + start, n);
    dst[n] = '\0';
    json_node *node = &p->d->nodes[idx];
    node->str_off = (uint32_t)p->d->n_strs;
    node->str_len = (uint32_t)n;
    node->num = strtod(dst, NULL); /* overflow gives +-HUGE_VAL; callers range-check */
    p->d->n_strs += n + 1;
    return 0;
}

static int literal(parser *p, const char *word) {
    size_t n = strlen(word);
    if (p->len - p->pos < n || memcmp(p->s + p->pos, word, n) != 0) return fail(p, "invalid literal");
    p->pos += n;
    return 0;
}

typedef struct frame {
    uint32_t node; /* container node index */
    uint32_t last; /* last child attached (0 = none) */
} frame;

int json_parse(json_doc *d, const char *text, size_t len, json_error *err) {
    parser p = {d, text, len, 0, err};
    frame stack[JSON_MAX_DEPTH];
    int depth = 0;
    uint32_t key_off = 0, key_len = 0;
    d->n_nodes = 0;
    d->n_strs = 0;
    err->code = NULL;
    err->message[0] = '\0';
    err->pos = 0;
    if (len >= UINT32_MAX / 2) return fail(&p, "input too large");

    for (;;) {
        /* ---- parse one value ---- */
        skip_ws(&p);
        if (p.pos >= p.len) return fail(&p, depth ? "unexpected end of input" : "empty input");
        char c = p.s[p.pos];
        uint32_t idx;
        int opened = 0;
        switch (c) {
        case '{':
        case '[':
            if (depth >= JSON_MAX_DEPTH) return fail(&p, "nesting too deep");
            if (new_node(&p, c == '{' ? JSON_OBJECT : JSON_ARRAY, &idx)) return -1;
            p.pos++;
            opened = 1;
            break;
        case '"': {
            uint32_t off, sl;
            if (new_node(&p, JSON_STRING, &idx)) return -1;
            if (parse_string(&p, &off, &sl)) return -1;
            d->nodes[idx].str_off = off;
            d->nodes[idx].str_len = sl;
            break;
        }
        case 't':
            if (new_node(&p, JSON_TRUE, &idx) || literal(&p, "true")) return -1;
            break;
        case 'f':
            if (new_node(&p, JSON_FALSE, &idx) || literal(&p, "false")) return -1;
            break;
        case 'n':
            if (new_node(&p, JSON_NULL, &idx) || literal(&p, "null")) return -1;
            break;
        default:
            if (c == '-' || is_digit(c)) {
                if (new_node(&p, JSON_NUMBER, &idx) || parse_number(&p, idx)) return -1;
            } else {
                return fail(&p, "unexpected character");
            }
        }
        /* attach to parent */
        if (depth > 0) {
            frame *f = &stack[depth - 1];
            json_node *parent = &d->nodes[f->node];
            if (f->last) d->nodes[f->last].next = idx;
            else parent->child = idx;
            parent->count++;
            f->last = idx;
            if (parent->type == JSON_OBJECT) {
                d->nodes[idx].key_off = key_off;
                d->nodes[idx].key_len = key_len;
            }
        }
        if (opened) {
            stack[depth].node = idx;
            stack[depth].last = 0;
            depth++;
            skip_ws(&p);
            if (p.pos >= p.len) return fail(&p, "unexpected end of input");
            char close = d->nodes[idx].type == JSON_OBJECT ? '}' : ']';
            if (p.s[p.pos] == close) {
                p.pos++;
                depth--;
            } else if (d->nodes[idx].type == JSON_OBJECT) {
                if (p.s[p.pos] != '"') return fail(&p, "object key expected");
                if (parse_string(&p, &key_off, &key_len)) return -1;
                skip_ws(&p);
                if (p.pos >= p.len || p.s[p.pos] != ':') return fail(&p, "':' expected");
                p.pos++;
                continue;
            } else {
                continue;
            }
        }
        /* ---- after a complete value: separators and closers ---- */
        for (;;) {
            if (depth == 0) {
                skip_ws(&p);
                if (p.pos != p.len) return fail(&p, "trailing characters after value");
                return 0;
            }
            skip_ws(&p);
            if (p.pos >= p.len) return fail(&p, "unexpected end of input");
            frame *f = &stack[depth - 1];
            int is_obj = d->nodes[f->node].type == JSON_OBJECT;
            char s = p.s[p.pos];
            if (s == ',') {
                p.pos++;
                if (is_obj) {
                    skip_ws(&p);
                    if (p.pos >= p.len || p.s[p.pos] != '"') return fail(&p, "object key expected");
                    if (parse_string(&p, &key_off, &key_len)) return -1;
                    skip_ws(&p);
                    if (p.pos >= p.len || p.s[p.pos] != ':') return fail(&p, "':' expected");
                    p.pos++;
                }
                break; /* parse next value */
            }
            if (s == (is_obj ? '}' : ']')) {
                p.pos++;
                depth--;
                continue;
            }
            return fail(&p, is_obj ? "',' or '}' expected" : "',' or ']' expected");
        }
    }
}

const json_node *json_getn(const json_doc *d, const json_node *obj, const char *key, size_t kl) {
    if (!obj || obj->type != JSON_OBJECT) return NULL;
    const json_node *found = NULL;
    for (const json_node *c = json_child(d, obj); c; c = json_next(d, c)) {
        if (c->key_len == kl && memcmp(d->strs + c->key_off, key, kl) == 0) found = c;
    }
    return found;
}

const char *json_str(const json_doc *d, const json_node *n, size_t *len) {
    if (!n || n->type != JSON_STRING) return NULL;
    if (len) *len = n->str_len;
    return d->strs + n->str_off;
}

int json_is_str(const json_node *n, const json_doc *d, const char *s) {
    size_t l;
    const char *v = json_str(d, n, &l);
    return v && l == strlen(s) && memcmp(v, s, l) == 0;
}

int json_as_u64(const json_doc *d, const json_node *n, uint64_t *out) {
    if (!n || n->type != JSON_NUMBER) return -1;
    const char *t = d->strs + n->str_off;
    if (t[0] == '-') {
        /* "-0" is zero; any other negative is out of range */
        if (n->num == 0.0 && strspn(t + 1, "0.eE+-") == strlen(t + 1)) {
            *out = 0;
            return 0;
        }
        return -1;
    }
    if (strspn(t, "0123456789") == n->str_len) {
        errno = 0;
        unsigned long long v = strtoull(t, NULL, 10);
        if (errno) return -1;
        *out = (uint64_t)v;
        return 0;
    }
    /* 1.0, 1e3 ... accepted when integral and exactly representable */
    double v = n->num;
    if (!(v >= 0.0) || v >= 18446744073709551616.0 || floor(v) != v) return -1;
    if (v > 9007199254740992.0) return -1;
    *out = (uint64_t)v;
    return 0;
}

int json_as_i64(const json_doc *d, const json_node *n, int64_t *out) {
    if (!n || n->type != JSON_NUMBER) return -1;
    const char *t = d->strs + n->str_off;
    const char *digits = t[0] == '-' ? t + 1 : t;
    if (strspn(digits, "0123456789") == strlen(digits)) {
        errno = 0;
        long long v = strtoll(t, NULL, 10);
        if (errno) return -1;
        *out = (int64_t)v;
        return 0;
    }
    double v = n->num;
    if (!(v > -9007199254740992.0 && v < 9007199254740992.0) || floor(v) != v) return -1;
    *out = (int64_t)v;
    return 0;
}

const char *json_type_name(const json_node *n) {
    if (!n) return "missing";
    switch (n->type) {
    case JSON_NULL: return "null";
    case JSON_FALSE:
    case JSON_TRUE: return "boolean";
    case JSON_NUMBER: return "number";
    case JSON_STRING: return "string";
    case JSON_ARRAY: return "array";
    default: return "object";
    }
}

/* ------------------------------------------------------------------ writer */

void jb_init(jbuf *b) { memset(b, 0, sizeof *b); }
void jb_free(jbuf *b) {
    free(b->p);
    memset(b, 0, sizeof *b);
}
void jb_reset(jbuf *b) {
    b->len = 0;
    b->oom = 0;
}

int jb_grow(jbuf *b, size_t extra) {
    if (b->oom) return -1;
    if (b->len + extra <= b->cap) return 0;
    size_t nc = b->cap ? b->cap : 4096;
    while (nc < b->len + extra) nc *= 2;
    char *np = realloc(b->p, nc);
    if (!np) {
        b->oom = 1;
        return -1;
    }
    b->p = np;
    b->cap = nc;
    return 0;
}

/* Escapes as JSON requires; bytes that are not valid UTF-8 (e.g. a multi-byte character cut by
 * a length-limited error message) become U+FFFD, so the output is always valid UTF-8. */
void jb_str(jbuf *b, const char *s, size_t n) {
    char *o = jb_begin(b, jw_str_max(n));
    if (o) jb_end(b, jw_str(o, s, n), o + jw_str_max(n));
}

char *jw_str(char *o, const char *s, size_t n) {
    static const char hex[] = "0123456789abcdef";
    *o++ = '"';
    for (size_t i = 0; i < n; i++) {
        /* eight bytes at a time while none needs attention (all 0x20..0x7f except '"' and '\\') */
        while (n - i >= 8) {
            uint64_t x;
            memcpy(&x, s + i, 8);
            if (swar_special(x)) break;
            memcpy(o, &x, 8);
            o += 8;
            i += 8;
        }
        if (i >= n) break;
        if (n >= 8 && n - i < 8) { /* the tail: the last eight bytes, overlapping what was copied */
            uint64_t x;
            memcpy(&x, s + n - 8, 8);
            if (!swar_special(x)) {
                memcpy(o, s + i, n - i);
                o += n - i;
                break;
            }
        }
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
            *o++ = (char)c;
        } else if (c == '"' || c == '\\') {
            *o++ = '\\';
            *o++ = (char)c;
        } else if (c < 0x20) {
            *o++ = '\\';
            switch (c) {
            case '\n': *o++ = 'n'; break;
            case '\r': *o++ = 'r'; break;
            case '\t': *o++ = 't'; break;
            default:
                *o++ = 'u';
                *o++ = '0';
                *o++ = '0';
                *o++ = hex[c >> 4];
                *o++ = hex[c & 15];
            }
        } else {
            size_t l = utf8_len((const unsigned char *)s + i, n - i);
            if (l == 0) {
                memcpy(o, "\\ufffd", 6);
                o += 6;
            } else {
                memcpy(o, s + i, l);
                o += l;
                i += l - 1;
            }
        }
    }
    *o++ = '"';
    return o;
}

const char json_digits2[201] = "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
                               "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
                               "8081828384858687888990919293949596979899";

/* ---- doubles ----
 * json_fmt_double prints exactly what json_fmt_double_ref (the original formatter) prints, faster:
 *   1. non-finite -> null; zero -> 0.0 / -0.0
 *   2. integral values below 2^53 -> the integer and ".0"
 *   3. values below 1e9 on the 1e-6 grid (k/10^6 reads back as v) -> fixed notation, <= 6 decimals
 *   4. everything else: the first of "%.15g", "%.16g", "%.17g" that reads back bit-identical
 *      (with ".0" appended when it shows neither '.' nor an exponent). The reference calls
 *      snprintf and strtod; fmt_g_exact computes the same digits with 128-bit integer
 *      arithmetic (exact: correctly rounded, ties to even like glibc's printf) and decides
 *      "reads back" exactly (the decimal lies inside v's rounding interval, the ends included
 *      when v's significand is even, as strtod rounds ties to even). Values outside its range
 *      (subnormal, below ~1e-5 or above ~1e37) still go through snprintf. */

static int fmt_printf(char *out, double v) {
    int n = 0;
    for (int prec = 15; prec <= 17; prec++) {
        n = snprintf(out, 32, "%.*g", prec, v);
        if (prec == 17 || strtod(out, NULL) == v) break;
    }
    /* make sure it reads back as a float in every JSON reader */
    if (!strpbrk(out, ".eEn")) {
        out[n++] = '.';
        out[n++] = '0';
        out[n] = '\0';
    }
    return n;
}

/* exactly nd decimal digits of u (zero-padded on the left) at out */
static void put_digits(char *out, uint64_t u, int nd) {
    char *o = out + nd;
    for (; nd >= 2; nd -= 2) {
        unsigned r = (unsigned)(u % 100);
        u /= 100;
        o -= 2;
        memcpy(o, json_digits2 + 2 * r, 2);
    }
    if (nd) o[-1] = (char)('0' + u % 10);
}

#ifdef __SIZEOF_INT128__
__extension__ typedef unsigned __int128 u128;

static const uint64_t pow10_64[20] = {1ULL,
                                      10ULL,
                                      100ULL,
                                      1000ULL,
                                      10000ULL,
                                      100000ULL,
                                      1000000ULL,
                                      10000000ULL,
                                      100000000ULL,
                                      1000000000ULL,
                                      10000000000ULL,
                                      100000000000ULL,
                                      1000000000000ULL,
                                      10000000000000ULL,
                                      100000000000000ULL,
                                      1000000000000000ULL,
                                      10000000000000000ULL,
                                      100000000000000000ULL,
                                      1000000000000000000ULL,
                                      10000000000000000000ULL};

static u128 pow10_128(int e) { /* 0 <= e <= 38 */
    return e <= 19 ? (u128)pow10_64[e] : (u128)pow10_64[19] * pow10_64[e - 19];
}

static int bits10(int e) { return e ? e * 3322 / 1000 + 1 : 0; } /* >= bit length of 10^e */

/* v * 10^s for v = m * 2^q as num/den (integers), rounded to the nearest integer *N, ties to even.
 * *err = |*N * den - num| (the rounding error times den), *half = 2^max(q,0) * 10^max(s,0) (half
 * an ulp of v, times 10^s, times 2 den), *down = the rounded value lies below v, *floor_n = the
 * value before rounding (floor).
 * Returns -1 when the numbers do not fit the 128-bit budget. */
static int scaled_round(uint64_t m, int q, int s, uint64_t *N, uint64_t *floor_n, u128 *err, u128 *half,
                        int *down) {
    int qp = q > 0 ? q : 0, qn = q < 0 ? -q : 0;
    int sp = s > 0 ? s : 0, sn = s < 0 ? -s : 0;
    if (sp > 38 || sn > 38 || 53 + qp + bits10(sp) > 126 || qn + bits10(sn) > 124) return -1;
    u128 A = ((u128)1 << qp) * pow10_128(sp);
    u128 num = A * m, den, F, r;
    if (sn == 0) {
        den = (u128)1 << qn;
        F = num >> qn;
        r = num & (den - 1);
    } else {
        den = ((u128)1 << qn) * pow10_128(sn);
        F = num / den;
        r = num - F * den;
    }
    if (F >= (u128)pow10_64[19]) return -1;
    *floor_n = (uint64_t)F;
    u128 r2 = r << 1;
    if (r2 > den || (r2 == den && (F & 1))) {
        *N = (uint64_t)F + 1;
        *err = den - r;
        *down = 0;
    } else {
        *N = (uint64_t)F;
        *err = r;
        *down = r != 0;
    }
    *half = A;
    return 0;
}

/* "%.*g" of a (finite, > 0, normal) for the first precision P in 15..17 whose output reads back
 * as a, plus ".0" when it shows neither '.' nor exponent; 0 when a is outside the exact range. */
static int fmt_g_exact(char *out, double a) {
    uint64_t bits;
    memcpy(&bits, &a, sizeof bits);
    int be = (int)((bits >> 52) & 0x7ff);
    uint64_t frac = bits & ((1ULL << 52) - 1);
    if (be == 0 || be == 0x7ff) return 0;
    uint64_t m = frac | (1ULL << 52);
    int q = be - 1075;
    int lower_closer = frac == 0 && be > 1; /* a power of two: the gap below is half the gap above */
    int even = (m & 1) == 0;
    int e2 = be - 1023;
    int x0 = (e2 * 1233) >> 12; /* ~ floor(log10 a), corrected below */
    uint64_t N = 0, F = 0;
    u128 err = 0, half = 0;
    int down = 0, P = 15;
    for (int tries = 0;; tries++) {
        if (tries > 4 || scaled_round(m, q, P - 1 - x0, &N, &F, &err, &half, &down)) return 0;
        /* x0 = floor(log10 a) exactly when, before rounding, the digits number P */
        if (F >= pow10_64[P]) x0++;
        else if (F < pow10_64[P - 1]) x0--;
        else break;
    }
    /* precisions 15, 16, 17 (a rounded-up N == 10^P prints as 10^(P-1) with the exponent + 1) */
    for (;;) {
        if (P > 15 && scaled_round(m, q, P - 1 - x0, &N, &F, &err, &half, &down)) return 0;
        int ok;
        if (P == 17) ok = 1;
        else if (down && lower_closer) ok = (err << 2) <= half;
        else ok = (err << 1) < half || ((err << 1) == half && even);
        if (ok) break;
        P++;
    }
    int X = x0;
    if (N == pow10_64[P]) {
        N = pow10_64[P - 1];
        X++;
    }
    char d[20];
    put_digits(d, N, P);
    int L = P;
    while (L > 1 && d[L - 1] == '0') L--;
    char *o = out;
    if (X < -4 || X >= P) {
        *o++ = d[0];
        if (L > 1) {
            *o++ = '.';
            memcpy(o, d + 1, (size_t)(L - 1));
            o += L - 1;
        }
        *o++ = 'e';
        *o++ = X < 0 ? '-' : '+';
        int ax = X < 0 ? -X : X;
        if (ax >= 100) {
            *o++ = (char)('0' + ax / 100);
            ax %= 100;
        }
        memcpy(o, json_digits2 + 2 * ax, 2);
        o += 2;
    } else if (X >= 0) {
        memcpy(o, d, (size_t)(X + 1));
        o += X + 1;
        if (L > X + 1) {
            *o++ = '.';
            memcpy(o, d + X + 1, (size_t)(L - X - 1));
            o += L - X - 1;
        } else {
            *o++ = '.';
            *o++ = '0';
        }
    } else {
        *o++ = '0';
        *o++ = '.';
        for (int z = 0; z < -X - 1; z++) *o++ = '0';
        memcpy(o, d, (size_t)L);
        o += L;
    }
    *o = '\0';
    return (int)(o - out);
}
#endif

int json_fmt_double(char *out, double v) {
    if (!isfinite(v)) {
        memcpy(out, "null", 5);
        return 4;
    }
    if (v == 0.0) {
        if (signbit(v)) {
            memcpy(out, "-0.0", 5);
            return 4;
        }
        memcpy(out, "0.0", 4);
        return 3;
    }
    char *o = out;
    double a = v;
    if (v < 0) {
        *o++ = '-';
        a = -v;
    }
    /* integral values below 2^53 print exactly as integers */
    if (a < 9007199254740992.0) {
        uint64_t i = (uint64_t)a;
        if ((double)i == a) {
            o += json_fmt_u64(o, i);
            memcpy(o, ".0", 3);
            return (int)(o + 2 - out);
        }
    }
    /* the 1e-6 grid (the engine's state resolution): k = llround(a * 1e6) (half away from zero;
     * t - trunc(t) is exact), and k/10^6 must map back to a */
    if (a < 1e9) {
        double t = a * 1e6;
        uint64_t k = (uint64_t)t;
        if (t - (double)k >= 0.5) k++;
        if ((double)k / 1e6 == a) {
            o += json_fmt_u64(o, k / 1000000ULL);
            uint64_t f = k % 1000000ULL;
            *o++ = '.';
            if (f == 0) {
                *o++ = '0';
            } else {
                put_digits(o, f, 6);
                int last = 6;
                while (o[last - 1] == '0') last--;
                o += last;
            }
            *o = '\0';
            return (int)(o - out);
        }
    }
#ifdef __SIZEOF_INT128__
    int n = fmt_g_exact(o, a);
    if (n) return (int)(o - out) + n;
#endif
    return fmt_printf(out, v);
}

/* The original formatter, kept as the reference of json_fmt_double (tests compare them). */
static size_t ref_fmt_u64(char *out, uint64_t v) {
    char tmp[24];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++) out[i] = tmp[n - 1 - i];
    return n;
}

int json_fmt_double_ref(char *out, double v) {
    if (!isfinite(v)) {
        memcpy(out, "null", 5);
        return 4;
    }
    if (v == 0.0) {
        const char *z = signbit(v) ? "-0.0" : "0.0";
        strcpy(out, z);
        return (int)strlen(z);
    }
    /* Fast path: integral values below 2^53 print exactly as integers. */
    if (fabs(v) < 9007199254740992.0 && floor(v) == v) {
        size_t n = 0;
        if (v < 0) out[n++] = '-';
        n += ref_fmt_u64(out + n, (uint64_t)fabs(v));
        out[n++] = '.';
        out[n++] = '0';
        out[n] = '\0';
        return (int)n;
    }
    /* Fast path for numbers on a 1e-6 grid (the engine's state resolution): when the decimal
     * k/10^6 maps back to v, it has at most 15 significant digits here and is therefore the
     * unique shortest round-trip form. */
    if (fabs(v) < 1e9) {
        long long k = llround(v * 1e6);
        if ((double)k / 1e6 == v) {
            unsigned long long a = (unsigned long long)(k < 0 ? -k : k);
            size_t n = 0;
            if (k < 0) out[n++] = '-';
            n += ref_fmt_u64(out + n, a / 1000000ULL);
            unsigned long long frac = a % 1000000ULL;
            out[n++] = '.';
            if (frac == 0) {
                out[n++] = '0';
            } else {
                char d[6];
                for (int i = 5; i >= 0; i--) {
                    d[i] = (char)('0' + frac % 10);
                    frac /= 10;
                }
                int last = 5;
                while (d[last] == '0') last--;
                for (int i = 0; i <= last; i++) out[n++] = d[i];
            }
            out[n] = '\0';
            return (int)n;
        }
    }
    return fmt_printf(out, v);
}

void jb_node(jbuf *b, const json_doc *d, const json_node *n) {
    switch (n->type) {
    case JSON_NULL: jb_null(b); break;
    case JSON_TRUE: jb_bool(b, 1); break;
    case JSON_FALSE: jb_bool(b, 0); break;
    case JSON_NUMBER: jb_raw(b, d->strs + n->str_off, n->str_len); break;
    case JSON_STRING: jb_str(b, d->strs + n->str_off, n->str_len); break;
    case JSON_ARRAY:
        jb_putc(b, '[');
        for (const json_node *c = json_child(d, n); c; c = json_next(d, c)) {
            jb_sep(b);
            jb_node(b, d, c); /* depth bounded by JSON_MAX_DEPTH */
        }
        jb_putc(b, ']');
        break;
    default:
        jb_putc(b, '{');
        for (const json_node *c = json_child(d, n); c; c = json_next(d, c)) {
            jb_sep(b);
            jb_str(b, d->strs + c->key_off, c->key_len);
            jb_putc(b, ':');
            jb_node(b, d, c);
        }
        jb_putc(b, '}');
    }
}
