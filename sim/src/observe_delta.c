/* observe_delta.c -- see observe_delta.h: delta observations against the last one written. */
#include "observe_delta.h"

#include "observe.h"

#include <stdlib.h>
#include <string.h>

void delta_cache_init(delta_cache *c) {
    memset(c, 0, sizeof *c);
    c->gen = 1;
    jb_init(&c->scratch);
    jb_init(&c->wholes);
    jb_init(&c->groups);
}

void delta_cache_free(delta_cache *c) {
    for (uint32_t i = 0; i < c->n; i++) {
        free(c->e[i].text);
        free(c->e[i].fields);
    }
    free(c->e);
    jb_free(&c->scratch);
    jb_free(&c->wholes);
    jb_free(&c->groups);
    free(c->fields);
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

/* The field "energy" of a compact observation: type, probe_id, name, parent_id, generation,
 * status, hull, energy (observe_probe writes them in this order; keep checks the key). */
#define ENERGY_FIELD 7

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

static int same_bytes(const char *a, const char *b, uint32_t n) {
    for (uint32_t i = 0; i < n; i++)
        if (a[i] != b[i]) return 0;
    return 1;
}

static int same_key(const char *a, const field *fa, const char *b, const field *fb) {
    return fa->klen == fb->klen && same_bytes(a + fa->key, b + fb->key, fa->klen);
}

static int is_envelope(const char *t, const field *f) {
    /* "type", "probe_id", "tick": the message's own, never in a delta */
    return (f->klen == 6 && !memcmp(t + f->key, "\"type\"", 6)) ||
           (f->klen == 10 && !memcmp(t + f->key, "\"probe_id\"", 10)) ||
           (f->klen == 6 && !memcmp(t + f->key, "\"tick\"", 6));
}

/* The entry becomes the observation just written: the scratch text and its fields are copied
 * into the entry's own buffers. (They were just read for the comparison, so the copy stays in
 * the cache; and the scratch stays warm for the next probe.) */
static int keep(delta_cache *c, delta_entry *e, uint64_t tick, int flags, int nf) {
    jbuf *s = &c->scratch;
    if (s->len > UINT32_MAX - 64) return -1;
    if (s->len > e->cap) {
        size_t cap = s->len + 64; /* room for a few more digits */
        char *t = realloc(e->text, cap);
        if (!t) return -1;
        e->text = t;
        e->cap = (uint32_t)cap;
    }
    if (s->len) memcpy(e->text, s->p, s->len);
    e->len = (uint32_t)s->len;
    if (!e->fields) {
        e->fields = malloc(MAX_FIELDS * sizeof *e->fields);
        if (!e->fields) return -1;
    }
    if (nf > 0) memcpy(e->fields, c->fields, (size_t)nf * sizeof *e->fields);
    e->n_fields = nf;
    e->tick = tick;
    e->gen = c->gen;
    e->flags = flags;
    e->by_key = 0;
    /* compact: the energy value, for the key path */
    e->energy_len = 0;
    e->energy_stale = 0;
    if (flags == OBSERVE_COMPACT && nf > ENERGY_FIELD) {
        const field *en = &e->fields[ENERGY_FIELD];
        if (en->klen == 8 && !memcmp(e->text + en->key, "\"energy\"", 8) && en->vlen <= sizeof e->energy) {
            memcpy(e->energy, e->text + en->val, en->vlen);
            e->energy_len = (uint8_t)en->vlen;
        }
    }
    return 0;
}

/* ------------------------------------------------------------ the key path */

/* The delta of probe idx's compact observation when its key equals the one the entry was
 * written from: only the value of "energy" can differ (observe_key), so only the energy is
 * formatted and compared with the one last written. Neither the entry's text nor its fields are
 * touched (the new value waits in e->energy, see patch_energy). 1 (nothing written) if the entry
 * has no energy field to compare with; -1 out of memory. */
static int keyed_delta(delta_cache *c, delta_entry *e, jbuf *deltas, const world *w, uint32_t idx) {
    if (!e->energy_len) return 1;
    char v[JW_DOUBLE_MAX];
    int n = json_fmt_double(v, w->p[idx].energy);
    int changed = (size_t)n != e->energy_len || memcmp(v, e->energy, (size_t)n);
    /* as the general path writes it: {"probe_id":..,"changed":{["energy":..]},"removed":[]} */
    const size_t bound = 1 + 12 + JW_ID_MAX + 12 + 9 + JW_DOUBLE_MAX + 15;
    int comma = jb_need_comma(deltas);
    char *o = jb_begin(deltas, bound);
    if (!o) return -1;
    const char *lim = o + bound;
    if (comma) *o++ = ',';
    o = JW_LIT(o, "{\"probe_id\":");
    o = jw_id(o, PROBE_ID_HI, (uint64_t)idx + 1);
    o = JW_LIT(o, ",\"changed\":{");
    if (changed) {
        o = JW_LIT(o, "\"energy\":");
        o = jw_raw(o, v, (size_t)n);
        memcpy(e->energy, v, (size_t)n);
        e->energy_len = (uint8_t)n;
        e->energy_stale = 1;
    }
    o = JW_LIT(o, "},\"removed\":[]}");
    jb_end(deltas, o, lim);
    e->tick = w->tick;
    e->by_key = 1;
    c->n_keyed++;
    return 0;
}

/* Put the energy last written (e->energy) into the entry's text, its later fields moving with
 * it: the text is then the observation last written again. -1 out of memory. */
static int patch_energy(delta_entry *e) {
    field *f = &e->fields[ENERGY_FIELD];
    uint32_t n = e->energy_len;
    if (n != f->vlen) {
        uint32_t len = e->len - f->vlen + n;
        if (len > e->cap) {
            char *t = realloc(e->text, len);
            if (!t) return -1;
            e->text = t;
            e->cap = len;
        }
        uint32_t tail = f->val + f->vlen;
        memmove(e->text + f->val + n, e->text + tail, e->len - tail);
        e->len = len;
        for (int i = ENERGY_FIELD + 1; i < e->n_fields; i++) {
            e->fields[i].key = e->fields[i].key - f->vlen + n;
            e->fields[i].val = e->fields[i].val - f->vlen + n;
        }
        f->vlen = n;
    }
    memcpy(e->text + f->val, e->energy, n);
    e->energy_stale = 0;
    return 0;
}

/* ------------------------------------------------------------ the text paths */

/* Bytes t[0..n) and o[0..m) have in common at the start. */
static size_t common_prefix(const char *t, size_t n, const char *o, size_t m) {
    size_t lim = n < m ? n : m, i = 0;
    while (i + 8 <= lim) {
        uint64_t x, y;
        memcpy(&x, t + i, 8);
        memcpy(&y, o + i, 8);
        if (x != y) break;
        i += 8;
    }
    while (i < lim && t[i] == o[i]) i++;
    return i;
}

/* Bytes they have in common at the end, at most lim. */
static size_t common_suffix(const char *t, size_t n, const char *o, size_t m, size_t lim) {
    size_t i = 0;
    while (i + 8 <= lim) {
        uint64_t x, y;
        memcpy(&x, t + n - i - 8, 8);
        memcpy(&y, o + m - i - 8, 8);
        if (x != y) break;
        i += 8;
    }
    while (i < lim && t[n - i - 1] == o[m - i - 1]) i++;
    return i;
}

/* The fields of t from `from` (just after a value, or after '{') up to `to` (where the first
 * field of the unchanged tail begins, or the closing '}'); -1 if they do not end exactly there. */
static int fields_between(const char *t, size_t n, size_t from, size_t to, field *out, int room) {
    size_t i = from;
    int k = 0;
    while (i < to) {
        if (t[i] == ',') i++;
        if (k == room || i >= n || t[i] != '"') return -1;
        size_t kend = string_end(t, n, i);
        if (kend >= n || t[kend] != ':') return -1;
        size_t vend = value_end(t, n, kend + 1);
        out[k].key = (uint32_t)i;
        out[k].klen = (uint32_t)(kend - i);
        out[k].val = (uint32_t)(kend + 1);
        out[k].vlen = (uint32_t)(vend - kend - 1);
        k++;
        i = vend;
    }
    return i == to ? k : -1;
}

/* The top-level fields of the object t[0..n); -1 if it has more than MAX_FIELDS or is not laid out
 * as the engine writes objects. */
static int fields_of(const char *t, size_t n, field *out) {
    if (n < 2 || t[0] != '{' || t[n - 1] != '}') return -1;
    return fields_between(t, n, 1, n - 1, out, MAX_FIELDS);
}

/* The new text's fields (into now) from the old text's (before, nb) where only [d1, n - suf) of
 * the new text differs from the old: the fields wholly before the change keep their offsets, those
 * wholly in the common tail are shifted, and only those between are scanned. *m0, *m1: the range
 * of `now` that was scanned; *b1: the first old field of the tail. -1 if it does not line up. */
static int fields_from_base(const char *t, size_t n, size_t m, const field *before, int nb, size_t d1, size_t suf,
                            field *now, int *m0, int *m1, int *b1) {
    int i0 = 0;
    while (i0 < nb && (size_t)before[i0].val + before[i0].vlen <= d1) i0++;
    int i1 = i0;
    while (i1 < nb && (size_t)before[i1].key < m - suf) i1++;
    /* the tail must start after the change in the new text too */
    size_t from = i0 ? (size_t)before[i0 - 1].val + before[i0 - 1].vlen : 1;
    long long shift = (long long)n - (long long)m;
    size_t to = i1 < nb ? (size_t)((long long)before[i1].key + shift) - 1 : n - 1;
    if (i1 < nb && (long long)before[i1].key + shift < (long long)(n - suf)) return -1;
    memcpy(now, before, (size_t)i0 * sizeof *now);
    int k = fields_between(t, n, from, to, now + i0, MAX_FIELDS - (nb - i1) - i0);
    if (k < 0) return -1;
    for (int j = i1; j < nb; j++) {
        field f = before[j];
        f.key = (uint32_t)((long long)f.key + shift);
        f.val = (uint32_t)((long long)f.val + shift);
        now[i0 + k + (j - i1)] = f;
    }
    *m0 = i0;
    *m1 = i0 + k;
    *b1 = i1;
    return i0 + k + (nb - i1);
}

void observe_delta_prefetch(const delta_cache *c, uint32_t idx) {
#if defined(__GNUC__)
    if (idx >= c->n) return;
    const delta_entry *e = &c->e[idx];
    if (e->by_key || !e->text || !e->fields || e->n_fields < 0) return;
    for (uint32_t i = 0; i < e->len; i += 64) __builtin_prefetch(e->text + i);
    const char *f = (const char *)e->fields;
    for (size_t i = 0; i < (size_t)e->n_fields * sizeof *e->fields; i += 64) __builtin_prefetch(f + i);
#else
    (void)c;
    (void)idx;
#endif
}

int observe_delta_probe(delta_cache *c, jbuf *wholes, jbuf *deltas, world *w, uint32_t idx, int flags,
                        int whole) {
    delta_entry *e = entry_of(c, idx);
    if (!e) {
        wholes->oom = 1;
        return -1;
    }
    int based = !whole && e->tick && e->tick + 1 == w->tick && e->gen == c->gen && e->flags == flags && e->fields &&
                e->n_fields >= 0;
    /* compact: when nothing but the energy can have changed, that is all there is to compare */
    observe_key key;
    int keyed = flags == OBSERVE_COMPACT && !c->no_keys && observe_compact_key(w, idx, &key);
    if (based && keyed && e->keyed && !memcmp(&key, &e->key, sizeof key)) {
        int r = keyed_delta(c, e, deltas, w, idx);
        if (r < 0) deltas->oom = 1;
        if (r <= 0) return r;
    }
    if (based && e->energy_stale && patch_energy(e)) {
        wholes->oom = 1;
        return -1;
    }
    jbuf *s = &c->scratch;
    jb_reset(s);
    observe_probe(s, w, idx, flags);
    if (s->oom) {
        wholes->oom = 1;
        return -1;
    }
    if (!c->fields) {
        c->fields = malloc(MAX_FIELDS * sizeof *c->fields);
        if (!c->fields) {
            wholes->oom = 1;
            return -1;
        }
    }
    field *now = c->fields;
    const char *t = s->p, *o = e->text;
    size_t n = s->len, m = e->len;
    const field *before = e->fields;
    int n_before = based ? e->n_fields : -1;
    int n_now = -1, m0 = 0, m1 = 0, b1 = 0;
    if (based) {
        /* only the middle of the text changed, usually one or two fields (energy, events, ...) */
        size_t d1 = common_prefix(t, n, o, m);
        size_t lim = (n < m ? n : m) - d1;
        size_t suf = common_suffix(t, n, o, m, lim);
        n_now = fields_from_base(t, n, m, before, n_before, d1, suf, now, &m0, &m1, &b1);
        if (n_now >= 0) c->n_short++;
    }
    if (n_now < 0) { /* scan it all: the first time, or a layout the shortcut does not follow */
        n_now = fields_of(t, n, now);
        m0 = 0;
        m1 = n_now;
        b1 = n_before;
        if (n_before >= 0) c->n_scanned++;
    }
    if (n_now < 0 || n_before < 0) { /* whole, with the tick added */
        c->n_whole++;
        jb_sep(wholes);
        jb_raw(wholes, t, n - 1);
        jb_key(wholes, "tick");
        jb_u64(wholes, w->tick);
        jb_putc(wholes, '}');
    } else {
        /* fields outside [m0, m1) are byte for byte the old ones; compare those inside with the
         * old fields [m0, b1) by key (the same position first) */
        jb_sep(deltas);
        jb_puts(deltas, "{\"probe_id\":");
        jb_id(deltas, PROBE_ID_HI, (uint64_t)idx + 1);
        jb_key(deltas, "changed");
        jb_putc(deltas, '{');
        for (int i = m0; i < m1; i++) {
            if (is_envelope(t, &now[i])) continue;
            const field *prev = NULL;
            if (i < b1 && same_key(t, &now[i], o, &before[i])) prev = &before[i];
            else
                for (int j = m0; j < b1 && !prev; j++)
                    if (same_key(t, &now[i], o, &before[j])) prev = &before[j];
            if (prev && prev->vlen == now[i].vlen && same_bytes(t + now[i].val, o + prev->val, now[i].vlen)) continue;
            jb_sep(deltas);
            jb_raw(deltas, t + now[i].key, (size_t)now[i].klen + 1 + now[i].vlen);
        }
        jb_putc(deltas, '}');
        jb_key(deltas, "removed");
        jb_putc(deltas, '[');
        for (int j = m0; j < b1; j++) {
            if (is_envelope(o, &before[j])) continue;
            int found = j < m1 && same_key(o, &before[j], t, &now[j]);
            for (int i = m0; i < m1 && !found; i++) found = same_key(o, &before[j], t, &now[i]);
            if (found) continue;
            jb_sep(deltas);
            jb_raw(deltas, o + before[j].key, before[j].klen);
        }
        jb_puts(deltas, "]}");
    }
    if (keep(c, e, w->tick, flags, n_now)) {
        wholes->oom = 1;
        return -1;
    }
    e->keyed = keyed;
    if (keyed) e->key = key;
    return wholes->oom || deltas->oom ? -1 : 0;
}
