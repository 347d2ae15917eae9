/* observe_delta.c -- see observe_delta.h: delta observations against the last one written. */
#include "observe_delta.h"

#include "observe.h"

#include <stdlib.h>
#include <string.h>

void delta_cache_init(delta_cache *c) {
    memset(c, 0, sizeof *c);
    c->gen = 1;
    jb_init(&c->scratch);
}

void delta_cache_free(delta_cache *c) {
    for (uint32_t i = 0; i < c->n; i++) {
        free(c->e[i].text);
        free(c->e[i].fields);
    }
    free(c->e);
    jb_free(&c->scratch);
    memset(c, 0, sizeof *c);
}

void delta_cache_invalidate(delta_cache *c) { c->gen++; }

static delta_entry *entry_of(delta_cache *c, uint32_t idx) {
    if (idx >= c->n) {
        uint32_t n = c->n ? c->n : 64;
        while (n <= idx) n *= 2;
        delta_entry *ne = realloc(c->e, (size_t)n * sizeof *ne);
        if (!ne) return NULL;
        memset(ne + c->n, 0, (size_t)(n - c->n) * sizeof *ne);
        c->e = ne;
        c->n = n;
    }
    return &c->e[idx];
}

/* ------------------------------------------------------------ top-level fields of an object */

typedef delta_field field;

#define MAX_FIELDS 96

/* the end of the string whose opening quote is at t[i] */
static size_t string_end(const char *t, size_t n, size_t i) {
    for (i++; i < n;) {
        const char *q = memchr(t + i, '"', n - i);
        if (!q) return n;
        size_t at = (size_t)(q - t);
        size_t bs = 0;
        while (at - bs > i && t[at - bs - 1] == '\\') bs++;
        if (!(bs & 1)) return at + 1; /* not escaped */
        i = at + 1;
    }
    return n;
}

/* The end of the value starting at t[i] (no whitespace: the engine writes none). */
static size_t value_end(const char *t, size_t n, size_t i) {
    if (i >= n) return n;
    char ch = t[i];
    if (ch == '"') return string_end(t, n, i);
    if (ch == '{' || ch == '[') {
        int depth = 0;
        while (i < n) {
            ch = t[i];
            if (ch == '"') {
                i = string_end(t, n, i);
                continue;
            }
            if (ch == '{' || ch == '[') depth++;
            else if ((ch == '}' || ch == ']') && --depth == 0) return i + 1;
            i++;
        }
        return n;
    }
    while (i < n && t[i] != ',' && t[i] != '}' && t[i] != ']') i++;
    return i;
}

/* The top-level fields of the object t[0..n); -1 if it has more than MAX_FIELDS or is not laid out
 * as the engine writes objects. */
static int fields_of(const char *t, size_t n, field *out) {
    if (n < 2 || t[0] != '{') return -1;
    size_t i = 1;
    int k = 0;
    while (i < n && t[i] != '}') {
        if (k == MAX_FIELDS || t[i] != '"') return -1;
        size_t kend = string_end(t, n, i);
        if (kend >= n || t[kend] != ':') return -1;
        size_t vend = value_end(t, n, kend + 1);
        out[k].key = (uint32_t)i;
        out[k].klen = (uint32_t)(kend - i);
        out[k].val = (uint32_t)(kend + 1);
        out[k].vlen = (uint32_t)(vend - kend - 1);
        k++;
        i = vend;
        if (i < n && t[i] == ',') i++;
    }
    return k;
}

static int same_key(const char *a, const field *fa, const char *b, const field *fb) {
    return fa->klen == fb->klen && !memcmp(a + fa->key, b + fb->key, fa->klen);
}

static int is_envelope(const char *t, const field *f) {
    /* "type", "probe_id", "tick": the message's own, never in a delta */
    return (f->klen == 6 && !memcmp(t + f->key, "\"type\"", 6)) ||
           (f->klen == 10 && !memcmp(t + f->key, "\"probe_id\"", 10)) ||
           (f->klen == 6 && !memcmp(t + f->key, "\"tick\"", 6));
}

static int keep(delta_entry *e, const jbuf *s, uint64_t tick, uint64_t gen, int flags, const field *f, int nf) {
    if (s->len > e->cap) {
        size_t cap = s->len + s->len / 4 + 64;
        char *nt = realloc(e->text, cap);
        if (!nt) return -1;
        e->text = nt;
        e->cap = (uint32_t)cap;
    }
    memcpy(e->text, s->p, s->len);
    e->len = (uint32_t)s->len;
    e->tick = tick;
    e->gen = gen;
    e->flags = flags;
    e->n_fields = -1;
    if (nf >= 0) {
        if (!e->fields) {
            e->fields = malloc(MAX_FIELDS * sizeof *e->fields);
            if (!e->fields) return -1;
        }
        memcpy(e->fields, f, (size_t)nf * sizeof *f);
        e->n_fields = nf;
    }
    return 0;
}

int observe_delta_probe(delta_cache *c, jbuf *wholes, jbuf *deltas, world *w, uint32_t idx, int flags,
                        int whole) {
    jbuf *s = &c->scratch;
    jb_reset(s);
    observe_probe(s, w, idx, flags);
    if (s->oom) {
        wholes->oom = 1;
        return -1;
    }
    delta_entry *e = entry_of(c, idx);
    if (!e) {
        wholes->oom = 1;
        return -1;
    }
    field now[MAX_FIELDS];
    int n_now = fields_of(s->p, s->len, now);
    int based = !whole && e->tick && e->tick + 1 == w->tick && e->gen == c->gen && e->flags == flags;
    const field *before = e->fields;
    int n_before = based && before ? e->n_fields : -1;
    if (n_now < 0 || n_before < 0) { /* whole, with the tick added */
        jb_sep(wholes);
        jb_raw(wholes, s->p, s->len - 1);
        jb_key(wholes, "tick");
        jb_u64(wholes, w->tick);
        jb_putc(wholes, '}');
    } else {
        jb_sep(deltas);
        jb_puts(deltas, "{\"probe_id\":");
        jb_id(deltas, PROBE_ID_HI, (uint64_t)idx + 1);
        jb_key(deltas, "changed");
        jb_putc(deltas, '{');
        const char *t = s->p, *o = e->text;
        for (int i = 0; i < n_now; i++) {
            if (is_envelope(t, &now[i])) continue;
            /* fields keep their order: the same index first, else a search */
            const field *prev = NULL;
            if (i < n_before && same_key(t, &now[i], o, &before[i])) prev = &before[i];
            else
                for (int j = 0; j < n_before && !prev; j++)
                    if (same_key(t, &now[i], o, &before[j])) prev = &before[j];
            if (prev && prev->vlen == now[i].vlen && !memcmp(t + now[i].val, o + prev->val, now[i].vlen)) continue;
            jb_sep(deltas);
            jb_raw(deltas, t + now[i].key, (size_t)now[i].klen + 1 + now[i].vlen);
        }
        jb_putc(deltas, '}');
        jb_key(deltas, "removed");
        jb_putc(deltas, '[');
        for (int j = 0; j < n_before; j++) {
            if (is_envelope(o, &before[j])) continue;
            int found = j < n_now && same_key(o, &before[j], t, &now[j]);
            for (int i = 0; i < n_now && !found; i++) found = same_key(o, &before[j], t, &now[i]);
            if (found) continue;
            jb_sep(deltas);
            jb_raw(deltas, o + before[j].key, before[j].klen);
        }
        jb_puts(deltas, "]}");
    }
    if (keep(e, s, w->tick, c->gen, flags, now, n_now)) {
        wholes->oom = 1;
        return -1;
    }
    return wholes->oom || deltas->oom ? -1 : 0;
}
