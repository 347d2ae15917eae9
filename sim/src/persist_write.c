/* persist_write.c -- canonical serialization, the state hash, and the compact encoding of save
 * files (see persist.h). Section layout is documented in docs/universe.md ("Save format").
 *
 * The serializer streams: the sections whose size grows with the population (PROB, PCLD, LIFE,
 * INBX) go out record by record through a small buffer, the others are built first in a side
 * buffer (so the total length, which the state hash starts from, is known before the first byte).
 * A sink takes the canonical bytes: appends them to a buffer (snapshots), hashes them (the
 * `hash` command), and/or encodes them compactly (save files) -- one pass, no full copy of the
 * payload in memory unless one is asked for. */
#define _POSIX_C_SOURCE 200809L /* strnlen */
#include "persist.h"
#include "persist_codec.h"

#include "rng.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Writers append little-endian values; callers reserve space in bulk (jb_reserve) so the fast
 * path is a plain store. On allocation failure b->oom is set and writes are dropped. */
static inline void put_bytes(jbuf *b, const void *src, size_t n) {
    if (b->len + n > b->cap && jb_reserve(b, n)) return;
    memcpy(b->p + b->len, src, n);
    b->len += n;
}
static inline void put_u8(jbuf *b, uint8_t v) { put_bytes(b, &v, 1); }
static inline void put_u32(jbuf *b, uint32_t v) {
    unsigned char t[4];
    for (int i = 0; i < 4; i++) t[i] = (unsigned char)((v >> (8 * i)) & 0xFF);
    put_bytes(b, t, 4);
}
static inline void put_u64(jbuf *b, uint64_t v) {
    unsigned char t[8];
    for (int i = 0; i < 8; i++) t[i] = (unsigned char)((v >> (8 * i)) & 0xFF);
    put_bytes(b, t, 8);
}
static inline void put_f64(jbuf *b, double d) {
    uint64_t v;
    memcpy(&v, &d, 8);
    put_u64(b, v);
}
static void put_header(jbuf *b, const char *tag, uint64_t len) {
    jb_raw(b, tag, 4);
    put_u32(b, 0);
    put_u64(b, len);
}
static size_t begin_section(jbuf *b, const char *tag) {
    jb_raw(b, tag, 4);
    put_u32(b, 0);
    size_t at = b->len;
    put_u64(b, 0);
    return at;
}
static void end_section(jbuf *b, size_t at) {
    if (b->oom) return;
    uint64_t len = b->len - at - 8;
    for (int i = 0; i < 8; i++) b->p[at + (size_t)i] = (char)((len >> (8 * i)) & 0xFF);
}

static int cmp_key(const void *a, const void *b) {
    const hmap_key *x = a, *y = b;
    if (x->hi != y->hi) return x->hi < y->hi ? -1 : 1;
    if (x->lo != y->lo) return x->lo < y->lo ? -1 : 1;
    return 0;
}

/* Sorted copy of a map's keys (NULL if empty or OOM; *n set). */
static hmap_key *sorted_keys(const hmap *m, uint32_t *n) {
    *n = m->n;
    if (!m->n) return NULL;
    hmap_key *k = malloc((size_t)m->n * sizeof *k);
    if (!k) return NULL;
    memcpy(k, m->keys, (size_t)m->n * sizeof *k);
    qsort(k, m->n, sizeof *k, cmp_key);
    return k;
}


static inline void put_f32(jbuf *b, float f) {
    uint32_t v;
    memcpy(&v, &f, 4);
    put_u32(b, v);
}
static void put_text(jbuf *b, const char *t) {
    char buf[TEXT_MAX];
    memset(buf, 0, sizeof buf);
    memcpy(buf, t, strnlen(t, TEXT_MAX - 1));
    jb_raw(b, buf, TEXT_MAX);
}
static void put_msg(jbuf *b, const message *m) {
    put_u64(b, m->arrive);
    put_u64(b, m->sent);
    put_u64(b, m->seq);
    put_u32(b, m->from);
    put_u32(b, m->to);
    put_u8(b, m->broadcast);
    put_u8(b, m->relayed);
    put_text(b, m->text);
}
static void put_map(jbuf *b, const hmap *m, hmap_key *keys, uint32_t n) {
    put_u32(b, n);
    for (uint32_t i = 0; i < n; i++) {
        put_u64(b, keys[i].hi);
        put_u64(b, keys[i].lo);
        put_u32(b, *hmap_get(m, keys[i].hi, keys[i].lo));
    }
}


static inline uint64_t load_le64(const uint8_t *p) {
    uint64_t v;
    memcpy(&v, p, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    return v;
}
static inline uint64_t load_le_n(const uint8_t *p, size_t k) { /* k < 8 bytes */
    uint64_t v = 0;
    for (size_t i = 0; i < k; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* ---- the state hash, streamed ---- */

void phash_init(phash *s, uint64_t total_len) {
    s->h = 0xCBF29CE484222325ULL ^ total_len;
    s->carry = 0;
    s->nc = 0;
}

void phash_feed(phash *s, const uint8_t *p, size_t n) {
    uint64_t h = s->h;
    if (s->nc) {
        while (n && s->nc < 8) {
            s->carry |= (uint64_t)*p++ << (8 * s->nc++);
            n--;
        }
        if (s->nc < 8) return;
        h = rng_mix64(h ^ s->carry);
        s->carry = 0;
        s->nc = 0;
    }
    for (; n >= 8; n -= 8, p += 8) h = rng_mix64(h ^ load_le64(p));
    for (; n; n--) s->carry |= (uint64_t)*p++ << (8 * s->nc++);
    s->h = h;
}

uint64_t phash_final(const phash *s) { return rng_mix64(s->h ^ s->carry ^ 0xFF); }

uint64_t persist_hash_bytes(const uint8_t *d, size_t len) {
    phash s;
    phash_init(&s, len);
    phash_feed(&s, d, len);
    return phash_final(&s);
}

/* ---- XXH64 (seed 0) ---- */

#define XP1 0x9E3779B185EBCA87ULL
#define XP2 0xC2B2AE3D27D4EB4FULL
#define XP3 0x165667B19E3779F9ULL
#define XP4 0x85EBCA77C2B2AE63ULL
#define XP5 0x27D4EB2F165667C5ULL
static inline uint64_t rotl64(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }
static inline uint64_t xround(uint64_t acc, uint64_t in) { return rotl64(acc + in * XP2, 31) * XP1; }
static inline uint64_t xmerge(uint64_t acc, uint64_t v) { return (acc ^ xround(0, v)) * XP1 + XP4; }

void xxh64_init(xxh64 *s) {
    memset(s, 0, sizeof *s);
    s->v[0] = XP1 + XP2;
    s->v[1] = XP2;
    s->v[2] = 0;
    s->v[3] = 0 - XP1;
}

static inline void xxh64_stripe(uint64_t v[4], const uint8_t *p) {
    v[0] = xround(v[0], load_le64(p));
    v[1] = xround(v[1], load_le64(p + 8));
    v[2] = xround(v[2], load_le64(p + 16));
    v[3] = xround(v[3], load_le64(p + 24));
}

void xxh64_feed(xxh64 *s, const uint8_t *p, size_t n) {
    s->total += n;
    if (s->nb) {
        size_t k = 32 - s->nb < n ? 32 - s->nb : n;
        memcpy(s->buf + s->nb, p, k);
        s->nb += (unsigned)k;
        p += k;
        n -= k;
        if (s->nb < 32) return;
        xxh64_stripe(s->v, s->buf);
        s->nb = 0;
    }
    uint64_t v[4] = {s->v[0], s->v[1], s->v[2], s->v[3]};
    for (; n >= 32; n -= 32, p += 32) xxh64_stripe(v, p);
    memcpy(s->v, v, sizeof v);
    memcpy(s->buf, p, n);
    s->nb = (unsigned)n;
}

uint64_t xxh64_final(const xxh64 *s) {
    uint64_t h;
    if (s->total >= 32) {
        h = rotl64(s->v[0], 1) + rotl64(s->v[1], 7) + rotl64(s->v[2], 12) + rotl64(s->v[3], 18);
        for (int i = 0; i < 4; i++) h = xmerge(h, s->v[i]);
    } else {
        h = XP5;
    }
    h += s->total;
    const uint8_t *p = s->buf;
    size_t n = s->nb;
    for (; n >= 8; n -= 8, p += 8) h = rotl64(h ^ xround(0, load_le64(p)), 27) * XP1 + XP4;
    if (n >= 4) {
        h = rotl64(h ^ load_le_n(p, 4) * XP1, 23) * XP2 + XP3;
        p += 4;
        n -= 4;
    }
    for (; n; n--, p++) h = rotl64(h ^ *p * XP5, 11) * XP1;
    h ^= h >> 33;
    h *= XP2;
    h ^= h >> 29;
    h *= XP3;
    return h ^ (h >> 32);
}

uint64_t xxh64_of(const uint8_t *p, size_t n) {
    xxh64 s;
    xxh64_init(&s);
    xxh64_feed(&s, p, n);
    return xxh64_final(&s);
}

/* ---- the compact encoder (block format in persist_codec.h) ---- */

#define ENC_FLUSH_AT (1u << 20)

typedef struct penc {
    jbuf *out;                  /* compact bytes (since the last flush when writing to fd) */
    int fd;                     /* >= 0: flushed to fd */
    int werr;                   /* errno of a failed write */
    xxh64 sum;                  /* of the bytes written to fd */
    uint64_t total;             /* compact bytes produced */
    uint32_t stride, left;      /* the RECORDS block being written */
    size_t nraw;                /* canonical bytes waiting in raw */
    uint8_t prev[CSTRIDE_MAX];  /* the previous record */
    uint8_t raw[CBLOCK_MAX];
} penc;

/* sparse(x XOR base) at o (base NULL: x); returns the bytes written. o needs n + n/8 + 16. */
static size_t sparse_put(uint8_t *o, const uint8_t *x, const uint8_t *base, size_t n) {
    size_t nw = (n + 7) / 8, nb = (nw + 7) / 8;
    memset(o, 0, nb);
    uint8_t *q = o + nb;
    for (size_t w = 0; w < nw; w++) {
        size_t at = 8 * w, k = n - at < 8 ? n - at : 8;
        uint64_t v = k == 8 ? load_le64(x + at) : load_le_n(x + at, k);
        if (base) v ^= k == 8 ? load_le64(base + at) : load_le_n(base + at, k);
        if (!v) continue;
        o[w >> 3] = (uint8_t)(o[w >> 3] | (1u << (w & 7)));
        uint8_t *m = q++;
        unsigned mask = 0;
        for (unsigned b = 0; b < 8; b++) {
            uint8_t c = (uint8_t)(v >> (8 * b));
            mask |= (unsigned)(c != 0) << b;
            *q = c;
            q += c != 0;
        }
        *m = (uint8_t)mask;
    }
    return (size_t)(q - o);
}

static void enc_flush(penc *e, int force) {
    jbuf *o = e->out;
    if (e->fd < 0 || o->oom || (!force && o->len < ENC_FLUSH_AT) || !o->len) return;
    xxh64_feed(&e->sum, (const uint8_t *)o->p, o->len);
    const char *p = o->p;
    size_t n = o->len;
    while (n && !e->werr) {
        ssize_t k = write(e->fd, p, n);
        if (k < 0) {
            if (errno != EINTR) e->werr = errno ? errno : EIO;
            continue;
        }
        p += k;
        n -= (size_t)k;
    }
    o->len = 0;
}

static uint8_t *enc_room(penc *e, size_t n) {
    if (jb_reserve(e->out, n)) return NULL;
    return (uint8_t *)e->out->p + e->out->len;
}

static void enc_u32(uint8_t *o, uint32_t v) {
    for (int i = 0; i < 4; i++) o[i] = (uint8_t)(v >> (8 * i));
}

static void enc_block(penc *e) {
    if (!e->nraw) return;
    uint8_t *o = enc_room(e, 5 + e->nraw + e->nraw / 8 + 16);
    if (!o) return;
    size_t k = sparse_put(o + 5, e->raw, NULL, e->nraw);
    if (k >= e->nraw) { /* incompressible: as is */
        o[0] = CB_RAW;
        memcpy(o + 5, e->raw, e->nraw);
        k = e->nraw;
    } else {
        o[0] = CB_SPARSE;
    }
    enc_u32(o + 1, (uint32_t)e->nraw);
    e->out->len += 5 + k;
    e->total += 5 + k;
    e->nraw = 0;
    enc_flush(e, 0);
}

static void enc_raw(penc *e, const uint8_t *p, size_t n) {
    while (n) {
        size_t k = CBLOCK_MAX - e->nraw < n ? CBLOCK_MAX - e->nraw : n;
        memcpy(e->raw + e->nraw, p, k);
        e->nraw += k;
        p += k;
        n -= k;
        if (e->nraw == CBLOCK_MAX) enc_block(e);
    }
}

static void enc_table(penc *e, uint32_t stride, uint32_t count) {
    enc_block(e);
    e->stride = stride;
    e->left = count;
    memset(e->prev, 0, stride);
    if (!count) return;
    uint8_t *o = enc_room(e, 9);
    if (!o) return;
    o[0] = CB_RECORDS;
    enc_u32(o + 1, stride);
    enc_u32(o + 5, count);
    e->out->len += 9;
    e->total += 9;
}

static void enc_record(penc *e, const uint8_t *rec) {
    uint8_t *o = enc_room(e, (size_t)e->stride + e->stride / 8 + 16);
    if (!o) return;
    size_t k = sparse_put(o, rec, e->prev, e->stride);
    memcpy(e->prev, rec, e->stride);
    e->out->len += k;
    e->total += k;
    e->left--;
    enc_flush(e, 0);
}

/* ---- sinks ---- */

typedef struct psink {
    jbuf *out;   /* canonical bytes appended here */
    phash *ph;   /* hashed */
    penc *enc;   /* compact-encoded */
    uint64_t produced;
    jbuf t;      /* one record / slab */
} psink;

static void sink_raw(psink *s, const void *p, size_t n) {
    if (s->out) jb_raw(s->out, p, n);
    if (s->ph) phash_feed(s->ph, p, n);
    if (s->enc) enc_raw(s->enc, p, n);
    s->produced += n;
}
static void sink_table(psink *s, uint32_t stride, uint32_t count) {
    if (s->enc) enc_table(s->enc, stride, count);
}
/* the record in s->t (exactly the table's stride) */
static void sink_record(psink *s) {
    const uint8_t *p = (const uint8_t *)s->t.p;
    if (s->out) jb_raw(s->out, s->t.p, s->t.len);
    if (s->ph) phash_feed(s->ph, p, s->t.len);
    if (s->enc) enc_record(s->enc, p);
    s->produced += s->t.len;
    s->t.len = 0;
}

/* ---- sections ---- */

/* Records of the per-probe tables, written with unchecked stores (the caller reserved them). */
static uint8_t *rec_probe(uint8_t *q, const probe *p) {
    wr_u64(&q, p->sys_hi);
    wr_u64(&q, p->sys_lo);
    wr_u64(&q, p->dst_hi);
    wr_u64(&q, p->dst_lo);
    wr_u64(&q, p->act_tick);
    wr_f64(&q, p->hull);
    wr_f64(&q, p->energy);
    wr_f64(&q, p->fuel);
    for (int r = 0; r < RES_COUNT; r++) wr_f64(&q, p->cargo[r]);
    wr_f64(&q, p->progress);
    wr_f64(&q, p->survey_progress);
    wr_f64(&q, p->solar);
    wr_f64(&q, p->last_amount);
    wr_u32(&q, p->ticks_left);
    wr_u32(&q, p->ticks_total);
    wr_u8(&q, (uint8_t)p->body);
    wr_u8(&q, (uint8_t)p->nav_target);
    wr_u8(&q, p->status);
    wr_u8(&q, p->location);
    wr_u8(&q, p->activity);
    wr_u8(&q, p->last_action);
    wr_u8(&q, p->last_ok);
    wr_u8(&q, p->last_reason);
    wr_u8(&q, p->last_res);
    wr_u8(&q, p->sys_survey);
    wr_bytes(&q, p->tech, TECH_COUNT);
    wr_bytes(&q, p->survey, GALAXY_MAX_BODIES);
    wr_u8(&q, p->research);
    wr_u32(&q, p->research_left);
    wr_u32(&q, p->research_total);
    return q;
}

static uint8_t *rec_mem(uint8_t *q, const mem_entry *m) {
    wr_u32(&q, m->tick);
    wr_f32(&q, m->weight);
    wr_f32(&q, m->value);
    wr_u8(&q, m->type);
    wr_u8(&q, m->subtype);
    wr_u8(&q, m->arg);
    return q;
}

static uint8_t *rec_life(uint8_t *q, const probe_life *l) {
    for (int t = 0; t < TRAIT_COUNT; t++) wr_f32(&q, l->trait[t]);
    for (int t = 0; t < TRAIT_COUNT; t++) wr_f32(&q, l->fork_trait[t]);
    wr_f32(&q, l->drift);
    wr_f32(&q, l->earth);
    wr_f32(&q, l->threat_sev);
    wr_u32(&q, l->threat_tick);
    wr_u32(&q, l->last_company);
    wr_u32(&q, l->inbox);
    wr_u8(&q, l->threat_sub);
    wr_u8(&q, l->threat_loc);
    wr_u8(&q, (uint8_t)l->threat_body);
    wr_u8(&q, l->fork_done);
    wr_u8(&q, l->n_quirks);
    wr_bytes(&q, l->quirk, QUIRK_SLOTS);
    wr_u8(&q, l->fork_nq);
    wr_bytes(&q, l->fork_quirk, QUIRK_SLOTS);
    for (int k = 0; k < MEM_SLOTS; k++) q = rec_mem(q, &l->mem[k]);
    for (int k = 0; k < HIST_SLOTS; k++) q = rec_mem(q, &l->hist[k]);
    wr_u32(&q, l->hist_n);
    return q;
}

static uint8_t *rec_cold(uint8_t *q, const probe_cold *c) {
    wr_u64(&q, c->parent_hi);
    wr_u64(&q, c->parent_lo);
    wr_u64(&q, c->born_tick);
    wr_u32(&q, c->generation);
    wr_u32(&q, c->children);
    size_t n = strnlen(c->name, sizeof c->name - 1);
    memcpy(q, c->name, n);
    memset(q + n, 0, 32 - n);
    return q + 32;
}

static void ser_world(const world *w, jbuf *b) {
    size_t at = begin_section(b, "WRLD");
    put_u64(b, w->seed);
    put_u64(b, w->tick);
    put_u32(b, (uint32_t)world_config_nkeys);
    for (size_t i = 0; i < world_config_nkeys; i++) {
        const char *name = world_config_keys[i].name;
        put_u8(b, (uint8_t)strlen(name));
        jb_raw(b, name, strlen(name));
        put_f64(b, *(const double *)((const char *)&w->cfg + world_config_keys[i].offset));
    }
    put_u64(b, w->m.spawned);
    put_u64(b, w->m.destroyed);
    put_u64(b, w->m.discoveries);
    put_u64(b, w->m.hazards);
    put_u64(b, w->m.hazards_survived);
    end_section(b, at);
}

/* EXPL, DEPL, EVNT */
static int ser_maps(const world *w, jbuf *b) {
    uint32_t n;
    hmap_key *keys = sorted_keys(&w->explored, &n);
    if (n && !keys) return -1;
    size_t at = begin_section(b, "EXPL");
    put_u32(b, n);
    for (uint32_t i = 0; i < n; i++) {
        put_u64(b, keys[i].hi);
        put_u64(b, keys[i].lo);
        put_u32(b, *hmap_get(&w->explored, keys[i].hi, keys[i].lo));
    }
    end_section(b, at);
    free(keys);

    keys = sorted_keys(&w->depl_index, &n);
    if (n && !keys) return -1;
    at = begin_section(b, "DEPL");
    put_u32(b, n);
    for (uint32_t i = 0; i < n; i++) {
        put_u64(b, keys[i].hi);
        put_u64(b, keys[i].lo);
        const double *row = w->depl[*hmap_get(&w->depl_index, keys[i].hi, keys[i].lo)];
        for (int r = 0; r < RES_COUNT; r++) put_f64(b, row[r]);
    }
    end_section(b, at);
    free(keys);

    at = begin_section(b, "EVNT");
    put_u32(b, w->n_ev);
    for (uint32_t e = 0; e < w->n_ev; e++) {
        const event *ev = &w->ev[e];
        put_u64(b, ev->tick);
        put_u32(b, ev->probe);
        put_u8(b, ev->type);
        put_u8(b, ev->subtype);
        put_u8(b, ev->arg);
        put_u8(b, ev->injected);
        put_f64(b, ev->severity);
        put_f64(b, ev->value);
    }
    end_section(b, at);
    return 0;
}

/* The living layer's sections after LIFE and INBX: MSGQ .. ARTF. */
static int ser_society(const world *w, jbuf *b) {
    size_t at = begin_section(b, "MSGQ");
    put_u32(b, w->n_mq);
    if (w->n_mq) {
        message *q = malloc((size_t)w->n_mq * sizeof *q);
        if (!q) return -1;
        memcpy(q, w->mq, (size_t)w->n_mq * sizeof *q);
        qsort(q, w->n_mq, sizeof *q, cmp_msg); /* canonical: arrival order */
        for (uint32_t i = 0; i < w->n_mq; i++) put_msg(b, &q[i]);
        free(q);
    }
    end_section(b, at);

    at = begin_section(b, "TRST");
    put_u32(b, w->n_trust);
    for (uint32_t i = 0; i < w->n_trust; i++) {
        put_u32(b, w->trust[i].a);
        put_u32(b, w->trust[i].b);
        put_f64(b, w->trust[i].v);
    }
    end_section(b, at);

    at = begin_section(b, "BCON");
    put_u32(b, w->n_bcn);
    for (uint32_t i = 0; i < w->n_bcn; i++) {
        const beacon *x = &w->bcn[i];
        put_u64(b, x->sys_hi);
        put_u64(b, x->sys_lo);
        put_u64(b, x->tick);
        put_u32(b, x->owner);
        put_u32(b, x->next);
        put_text(b, x->text);
    }
    end_section(b, at);

    at = begin_section(b, "STRC");
    put_u32(b, w->n_st);
    for (uint32_t i = 0; i < w->n_st; i++) {
        const structure *x = &w->st[i];
        put_u64(b, x->sys_hi);
        put_u64(b, x->sys_lo);
        put_u64(b, x->started);
        put_u64(b, x->finished);
        put_f64(b, x->progress);
        put_u32(b, x->owner);
        for (int k = 0; k < 4; k++) put_u32(b, x->builder[k]);
        put_u32(b, x->next);
        put_u8(b, x->type);
        put_u8(b, x->n_builders);
    }
    end_section(b, at);

    uint32_t n;
    hmap_key *keys = sorted_keys(&w->claims, &n);
    if (n && !keys) return -1;
    at = begin_section(b, "CLAM");
    put_map(b, &w->claims, keys, n);
    end_section(b, at);
    free(keys);

    at = begin_section(b, "TRAD");
    put_u32(b, w->n_tr);
    for (uint32_t i = 0; i < w->n_tr; i++) {
        put_u64(b, w->tr[i].due);
        put_u64(b, w->tr[i].created);
        put_f64(b, w->tr[i].kg);
        put_u32(b, w->tr[i].from);
        put_u32(b, w->tr[i].to);
        put_u8(b, w->tr[i].res);
    }
    end_section(b, at);

    at = begin_section(b, "PROP");
    put_u32(b, w->n_pr);
    for (uint32_t i = 0; i < w->n_pr; i++) {
        const proposal *x = &w->pr[i];
        put_u64(b, x->created);
        put_u64(b, x->deadline);
        put_u32(b, x->proposer);
        put_u32(b, x->yes);
        put_u32(b, x->no);
        put_u8(b, x->resolved);
        put_u8(b, x->passed);
        put_text(b, x->text);
    }
    keys = sorted_keys(&w->votes, &n);
    if (n && !keys) return -1;
    put_map(b, &w->votes, keys, n);
    free(keys);
    end_section(b, at);

    at = begin_section(b, "SCEN");
    {
        char name[64];
        memset(name, 0, sizeof name);
        memcpy(name, w->sc_name, strnlen(w->sc_name, sizeof name - 1));
        jb_raw(b, name, sizeof name);
    }
    put_u32(b, w->n_sc);
    for (uint32_t i = 0; i < w->n_sc; i++) {
        put_u64(b, w->sc[i].at_tick);
        put_f64(b, w->sc[i].severity);
        put_u32(b, w->sc[i].target);
        put_u8(b, w->sc[i].type);
        put_u8(b, w->sc[i].subtype);
    }
    end_section(b, at);

    keys = sorted_keys(&w->art_taken, &n);
    if (n && !keys) return -1;
    at = begin_section(b, "ARTF");
    put_map(b, &w->art_taken, keys, n);
    end_section(b, at);
    free(keys);
    return 0;
}

static inline uint32_t inbox_used(const inbox_slab *s) { return s->n < INBOX_SLOTS ? s->n : INBOX_SLOTS; }

/* ---- views and snapshots ----
 * A view is what the streamed sections are made from: the other sections already serialized in
 * `side`, and the per-probe arrays and inbox slabs, the world's own (persist_view_of) or copies
 * (persist_snap_take). */

static int side_build(persist_snap *v, const world *w) {
    v->side.len = 0;
    v->side.oom = 0;
    ser_world(w, &v->side);
    v->cut1 = v->side.len;
    if (ser_maps(w, &v->side)) return -1;
    v->cut2 = v->side.len;
    if (ser_society(w, &v->side) || v->side.oom) return -1;
    uint64_t hdr[6] = {w->rseed, w->msg_seq, w->artifacts_found, w->messages_delivered, w->trades_done,
                       w->structures_built};
    memcpy(v->life_hdr, hdr, sizeof hdr);
    v->tick = w->tick;
    v->n = w->n_probes;
    v->n_inbox = w->n_inbox;
    return 0;
}

void persist_snap_init(persist_snap *s) {
    memset(s, 0, sizeof *s);
    jb_init(&s->side);
}

void persist_snap_free(persist_snap *s) {
    jb_free(&s->side);
    free(s->own_p);
    free(s->own_c);
    free(s->own_L);
    free(s->own_inbox);
    persist_snap_init(s);
}

int persist_view_of(persist_snap *v, const world *w) {
    persist_snap_init(v);
    if (side_build(v, w)) {
        jb_free(&v->side);
        return -1;
    }
    v->p = w->p;
    v->c = w->c;
    v->L = w->L;
    v->inbox = w->inbox;
    return 0;
}

int persist_snap_take(persist_snap *s, const world *w) {
    if (s->own_cap < w->n_probes) {
        uint32_t cap = w->cap_probes > w->n_probes ? w->cap_probes : w->n_probes;
        probe *p = realloc(s->own_p, (size_t)cap * sizeof *p);
        if (p) s->own_p = p;
        probe_cold *c = realloc(s->own_c, (size_t)cap * sizeof *c);
        if (c) s->own_c = c;
        probe_life *L = realloc(s->own_L, (size_t)cap * sizeof *L);
        if (L) s->own_L = L;
        if (!p || !c || !L) return -1;
        s->own_cap = cap;
    }
    if (s->own_inbox_cap < w->n_inbox) {
        inbox_slab *ib = realloc(s->own_inbox, (size_t)w->cap_inbox * sizeof *ib);
        if (!ib) return -1;
        s->own_inbox = ib;
        s->own_inbox_cap = w->cap_inbox;
    }
    if (side_build(s, w)) return -1;
    if (w->n_probes) {
        memcpy(s->own_p, w->p, (size_t)w->n_probes * sizeof *w->p);
        memcpy(s->own_c, w->c, (size_t)w->n_probes * sizeof *w->c);
        memcpy(s->own_L, w->L, (size_t)w->n_probes * sizeof *w->L);
    }
    if (w->n_inbox) memcpy(s->own_inbox, w->inbox, (size_t)w->n_inbox * sizeof *w->inbox);
    s->p = s->own_p;
    s->c = s->own_c;
    s->L = s->own_L;
    s->inbox = s->own_inbox;
    return 0;
}

/* The canonical payload, in order: WRLD PROB PCLD EXPL DEPL EVNT LIFE INBX MSGQ TRST BCON STRC
 * CLAM TRAD PROP SCEN ARTF. `begin` is called once the total length is known. */
static int serialize_view(const persist_snap *v, psink *s, int (*begin)(psink *, uint64_t)) {
    const jbuf *side = &v->side;
    uint64_t n = v->n;
    uint64_t prob = 8 + n * PROBE_RECORD_BYTES, pcld = 4 + n * COLD_RECORD_BYTES;
    uint64_t life = LIFE_HEADER_BYTES + n * LIFE_RECORD_BYTES, inbx = 4;
    for (uint32_t i = 0; i < v->n_inbox; i++) inbx += 4 + (uint64_t)inbox_used(&v->inbox[i]) * MSG_RECORD_BYTES;
    uint64_t total = side->len + 4 * 16 + prob + pcld + life + inbx;
    if (begin(s, total)) return -1;
    jb_init(&s->t);
    if (jb_reserve(&s->t, 4096)) return -1;
    jbuf *t = &s->t;

    sink_raw(s, side->p, v->cut1);
    put_header(t, "PROB", prob);
    put_u32(t, v->n);
    put_u32(t, PROBE_RECORD_BYTES);
    sink_raw(s, t->p, t->len);
    t->len = 0;
    sink_table(s, PROBE_RECORD_BYTES, v->n);
    uint8_t *rec = (uint8_t *)t->p;
    for (uint32_t i = 0; i < v->n; i++) {
        t->len = (size_t)(rec_probe(rec, &v->p[i]) - rec);
        sink_record(s);
    }
    put_header(t, "PCLD", pcld);
    put_u32(t, v->n);
    sink_raw(s, t->p, t->len);
    t->len = 0;
    sink_table(s, COLD_RECORD_BYTES, v->n);
    for (uint32_t i = 0; i < v->n; i++) {
        t->len = (size_t)(rec_cold(rec, &v->c[i]) - rec);
        sink_record(s);
    }
    sink_raw(s, side->p + v->cut1, v->cut2 - v->cut1);

    put_header(t, "LIFE", life);
    for (int k = 0; k < 6; k++) put_u64(t, v->life_hdr[k]);
    put_u32(t, v->n);
    sink_raw(s, t->p, t->len);
    t->len = 0;
    sink_table(s, LIFE_RECORD_BYTES, v->n);
    for (uint32_t i = 0; i < v->n; i++) {
        t->len = (size_t)(rec_life(rec, &v->L[i]) - rec);
        sink_record(s);
    }

    put_header(t, "INBX", inbx);
    put_u32(t, v->n_inbox);
    for (uint32_t i = 0; i < v->n_inbox; i++) {
        put_u32(t, v->inbox[i].n);
        uint32_t used = inbox_used(&v->inbox[i]);
        for (uint32_t k = 0; k < used; k++) put_msg(t, &v->inbox[i].m[k]);
        sink_raw(s, t->p, t->len);
        t->len = 0;
    }
    sink_raw(s, t->p, t->len);
    t->len = 0;
    sink_raw(s, side->p + v->cut2, side->len - v->cut2);
    int rc = t->oom || (s->out && s->out->oom) || s->produced != total ? -1 : 0;
    jb_free(&s->t);
    return rc;
}

static int serialize(const world *w, psink *s, int (*begin)(psink *, uint64_t)) {
    persist_snap v;
    if (persist_view_of(&v, w)) return -1;
    int rc = serialize_view(&v, s, begin);
    jb_free(&v.side);
    return rc;
}

static int begin_buf(psink *s, uint64_t total) { return total > SIZE_MAX / 2 ? -1 : jb_reserve(s->out, (size_t)total); }
static int begin_hash(psink *s, uint64_t total) {
    phash_init(s->ph, total);
    return 0;
}

int persist_serialize(const world *w, jbuf *b) {
    psink s = {.out = b};
    return serialize(w, &s, begin_buf);
}

int persist_hash(const world *w, uint64_t *out) {
    phash ph;
    psink s = {.ph = &ph};
    if (serialize(w, &s, begin_hash)) return -1;
    *out = phash_final(&ph);
    return 0;
}

int persist_encode_view(const persist_snap *v, jbuf *out, int fd, uint64_t *state_hash, uint64_t *canonical_len,
                        uint64_t *compact_len, uint64_t *sum) {
    penc *e = malloc(sizeof *e);
    if (!e) return -1;
    e->out = out;
    e->fd = fd;
    e->werr = 0;
    xxh64_init(&e->sum);
    e->total = 0;
    e->stride = e->left = 0;
    e->nraw = 0;
    phash ph;
    psink s = {.ph = &ph, .enc = e};
    int rc = serialize_view(v, &s, begin_hash);
    if (rc == 0) {
        enc_block(e);
        uint8_t *o = enc_room(e, 1);
        if (o) {
            *o = CB_END;
            out->len++;
            e->total++;
        }
        enc_flush(e, 1);
        if (out->oom) rc = -1;
        else if (e->werr) {
            errno = e->werr;
            rc = -2;
        }
    }
    if (rc == 0) {
        *state_hash = phash_final(&ph);
        *canonical_len = s.produced;
        *compact_len = e->total;
        if (sum) *sum = xxh64_final(&e->sum);
    }
    free(e);
    return rc;
}

int persist_encode(const world *w, jbuf *out, int fd, uint64_t *state_hash, uint64_t *canonical_len,
                   uint64_t *compact_len, uint64_t *sum) {
    persist_snap v;
    if (persist_view_of(&v, w)) return -1;
    int rc = persist_encode_view(&v, out, fd, state_hash, canonical_len, compact_len, sum);
    jb_free(&v.side);
    return rc;
}
