/* persist_codec.h -- internal to the persist_*.c files: the probe record size, the little-endian
 * reader primitives (static inline, so the hot load path stays inlined) and the life-section
 * reader shared by persist_read.c and persist_read_life.c. Not a public header. */
#ifndef PERSIST_CODEC_H
#define PERSIST_CODEC_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hmap.h"
#include "world.h"

#define PROBE_RECORD_BYTES (8 * 5 + 8 * 3 + 8 * RES_COUNT + 8 * 4 + 4 * 2 + 2 + 8 + TECH_COUNT + GALAXY_MAX_BODIES + 9)
#define LIFE_SECTIONS (0x7FFu << 6)


typedef struct reader {
    const uint8_t *p;  /* cursor */
    const uint8_t *end;/* end of the current section */
    int bad;           /* set on overrun */
} reader;

static inline int need(reader *r, size_t n) {
    if (r->bad || (size_t)(r->end - r->p) < n) {
        r->bad = 1;
        return -1;
    }
    return 0;
}
static inline uint8_t get_u8(reader *r) {
    if (need(r, 1)) return 0;
    return *r->p++;
}
static inline uint32_t get_u32(reader *r) {
    if (need(r, 4)) return 0;
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) v |= (uint32_t)r->p[i] << (8 * i);
    r->p += 4;
    return v;
}
static inline uint64_t get_u64(reader *r) {
    if (need(r, 8)) return 0;
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v |= (uint64_t)r->p[i] << (8 * i);
    r->p += 8;
    return v;
}
static inline double get_f64(reader *r) {
    uint64_t v = get_u64(r);
    double d;
    memcpy(&d, &v, 8);
    return d;
}

static inline int finite01(double v, double lo, double hi) { return v == v && v >= lo && v <= hi; }

static inline float get_f32(reader *r) {
    uint32_t v = get_u32(r);
    float f;
    memcpy(&f, &v, 4);
    return f;
}
static inline int get_mem(reader *r, mem_entry *m) {
    m->tick = get_u32(r);
    m->weight = get_f32(r);
    m->value = get_f32(r);
    m->type = get_u8(r);
    m->subtype = get_u8(r);
    m->arg = get_u8(r);
    m->pad = 0;
    return m->type < EV_TYPE_COUNT && finite01(m->weight, 0, 1) && finite01(m->value, -1e30, 1e30) ? 0 : -1;
}
/* strict UTF-8 (texts are echoed into JSON) */
static inline int utf8_ok(const char *s) {
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        int n = *p < 0x80 ? 0 : (*p >> 5) == 6 ? 1 : (*p >> 4) == 14 ? 2 : (*p >> 3) == 30 ? 3 : -1;
        if (n < 0 || (n == 1 && *p < 0xC2) || (n == 3 && *p > 0xF4)) return 0;
        uint32_t cp = n == 0 ? *p : n == 1 ? *p & 0x1Fu : n == 2 ? *p & 0x0Fu : *p & 0x07u;
        p++;
        for (int k = 0; k < n; k++, p++) {
            if ((*p & 0xC0) != 0x80) return 0;
            cp = (cp << 6) | (*p & 0x3Fu);
        }
        if ((n == 2 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) || (n == 3 && (cp < 0x10000 || cp > 0x10FFFF)))
            return 0;
    }
    return 1;
}
static inline int get_text(reader *r, char *out) {
    if (need(r, TEXT_MAX)) return -1;
    memcpy(out, r->p, TEXT_MAX);
    out[TEXT_MAX - 1] = 0;
    r->p += TEXT_MAX;
    return utf8_ok(out) ? 0 : -1;
}
static inline int get_msg(reader *r, message *m, uint32_t n_probes) {
    memset(m, 0, sizeof *m);
    m->arrive = get_u64(r);
    m->sent = get_u64(r);
    m->seq = get_u64(r);
    m->from = get_u32(r);
    m->to = get_u32(r);
    m->broadcast = get_u8(r);
    m->relayed = get_u8(r);
    if (get_text(r, m->text)) return -1;
    return m->from < n_probes && m->to < n_probes && m->broadcast <= 1 && m->relayed <= 1 && m->sent <= m->arrive ? 0 : -1;
}
static inline int grow_to(void **arr, uint32_t *cap, uint32_t n, size_t elem) {
    if (!n) return 0;
    void *a = malloc((size_t)n * elem);
    if (!a) return -1;
    *arr = a;
    *cap = n;
    return 0;
}
#define ALLOC(arr, cap, n) grow_to((void **)&(arr), &(cap), (n), sizeof *(arr))

static inline int get_map(reader *r, hmap *m, uint32_t max_hi, uint32_t max_lo, uint32_t max_val) {
    uint32_t n = get_u32(r);
    if ((uint64_t)n * 20 > (uint64_t)(r->end - r->p)) return -1;
    for (uint32_t i = 0; i < n && !r->bad; i++) {
        uint64_t hi = get_u64(r), lo = get_u64(r);
        uint32_t v = get_u32(r);
        if ((max_hi && hi > max_hi) || (max_lo && lo >= max_lo) || v > max_val || hmap_get(m, hi, lo)) return -1;
        if (hmap_put(m, hi, lo, v)) return -1;
    }
    return r->bad ? -1 : 0;
}

/* Canonical order of the message queue: arrival tick, then sequence. */
static inline int cmp_msg(const void *a, const void *b) {
    const message *x = a, *y = b;
    if (x->arrive != y->arrive) return x->arrive < y->arrive ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Returns the section's bit in `have`, 0 for an unknown tag, -1 on error (err set). Defined in
 * persist_read_life.c. */
int persist_read_life_section(const char *tag, reader *r, world *w, char *err, size_t errlen);

#endif
