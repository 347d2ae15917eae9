/* hmap.c -- see hmap.h. Linear probing over a power-of-two slot table, load factor <= 1/2. */
#include "hmap.h"

#include "rng.h"

#include <stdlib.h>
#include <string.h>

void hmap_init(hmap *m) { memset(m, 0, sizeof *m); }

void hmap_free(hmap *m) {
    free(m->slots);
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof *m);
}

void hmap_clear(hmap *m) {
    if (m->slots) memset(m->slots, 0, (size_t)m->n_slots * sizeof *m->slots);
    m->n = 0;
}

static uint32_t slot_of(uint64_t hi, uint64_t lo, uint32_t mask) {
    return (uint32_t)(rng_hash2(hi, lo) & mask);
}

uint32_t *hmap_get(const hmap *m, uint64_t hi, uint64_t lo) {
    if (!m->n_slots) return NULL;
    uint32_t mask = m->n_slots - 1;
    for (uint32_t s = slot_of(hi, lo, mask);; s = (s + 1) & mask) {
        uint32_t e = m->slots[s];
        if (!e) return NULL;
        const hmap_key *k = &m->keys[e - 1];
        if (k->hi == hi && k->lo == lo) return &m->vals[e - 1];
    }
}

static int rehash(hmap *m, uint32_t n_slots) {
    uint32_t *ns = calloc(n_slots, sizeof *ns);
    if (!ns) return -1;
    uint32_t mask = n_slots - 1;
    for (uint32_t i = 0; i < m->n; i++) {
        uint32_t s = slot_of(m->keys[i].hi, m->keys[i].lo, mask);
        while (ns[s]) s = (s + 1) & mask;
        ns[s] = i + 1;
    }
    free(m->slots);
    m->slots = ns;
    m->n_slots = n_slots;
    return 0;
}

int hmap_put(hmap *m, uint64_t hi, uint64_t lo, uint32_t val) {
    uint32_t *v = hmap_get(m, hi, lo);
    if (v) {
        *v = val;
        return 0;
    }
    if (m->n == m->cap) {
        uint32_t nc = m->cap ? m->cap * 2 : 16;
        hmap_key *nk = realloc(m->keys, (size_t)nc * sizeof *nk);
        if (!nk) return -1;
        m->keys = nk;
        uint32_t *nv = realloc(m->vals, (size_t)nc * sizeof *nv);
        if (!nv) return -1;
        m->vals = nv;
        m->cap = nc;
    }
    if ((m->n + 1) * 2 > m->n_slots) {
        if (rehash(m, m->n_slots ? m->n_slots * 2 : 32)) return -1;
    }
    uint32_t mask = m->n_slots - 1;
    uint32_t s = slot_of(hi, lo, mask);
    while (m->slots[s]) s = (s + 1) & mask;
    m->keys[m->n].hi = hi;
    m->keys[m->n].lo = lo;
    m->vals[m->n] = val;
    m->slots[s] = ++m->n;
    return 0;
}

int hmap_copy(hmap *dst, const hmap *src) {
    hmap_init(dst);
    if (!src->cap) return 0;
    dst->slots = malloc((size_t)src->n_slots * sizeof *dst->slots);
    dst->keys = malloc((size_t)src->cap * sizeof *dst->keys);
    dst->vals = malloc((size_t)src->cap * sizeof *dst->vals);
    if (!dst->slots || !dst->keys || !dst->vals) {
        hmap_free(dst);
        return -1;
    }
    memcpy(dst->slots, src->slots, (size_t)src->n_slots * sizeof *dst->slots);
    memcpy(dst->keys, src->keys, (size_t)src->n * sizeof *dst->keys);
    memcpy(dst->vals, src->vals, (size_t)src->n * sizeof *dst->vals);
    dst->n_slots = src->n_slots;
    dst->n = src->n;
    dst->cap = src->cap;
    return 0;
}
