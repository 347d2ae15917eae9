/* persist_codec.h -- internal to the persist_*.c files: the record sizes of the per-probe tables,
 * the little-endian reader primitives (static inline, so the hot load path stays inlined), the
 * life-section readers shared by persist_read.c and persist_read_life.c, and the streaming pieces
 * of the save files (persist.h): the state hash over a stream, XXH64, the compact encoding. Not a
 * public header. */
#ifndef PERSIST_CODEC_H
#define PERSIST_CODEC_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hmap.h"
#include "json.h"
#include "persist.h"
#include "world.h"

#define PROBE_RECORD_BYTES (8 * 5 + 8 * 3 + 8 * RES_COUNT + 8 * 4 + 4 * 2 + 2 + 8 + TECH_COUNT + GALAXY_MAX_BODIES + 9)
#define COLD_RECORD_BYTES (8 * 3 + 4 * 2 + 32)
#define LIFE_RECORD_BYTES (4 * TRAIT_COUNT * 2 + 4 * 3 + 4 * 3 + 5 + 2 * QUIRK_SLOTS + 1 + 15 * (MEM_SLOTS + HIST_SLOTS) + 4)
#define LIFE_HEADER_BYTES (8 * 6 + 4)
#define MSG_RECORD_BYTES (8 * 3 + 4 * 2 + 2 + TEXT_MAX)
#define LIFE_SECTIONS (0x7FFu << 6)

/* ---- streams (persist_write.c) ---- */

/* persist_hash_bytes over a byte stream fed in pieces; the total length is known upfront. */
typedef struct phash {
    uint64_t h;
    uint64_t carry;  /* up to 7 pending bytes, little-endian */
    unsigned nc;     /* pending bytes */
} phash;
void phash_init(phash *s, uint64_t total_len);
void phash_feed(phash *s, const uint8_t *p, size_t n);
uint64_t phash_final(const phash *s);

/* XXH64 (seed 0), streaming: the checksum of a save file's compact payload. */
typedef struct xxh64 {
    uint64_t v[4];
    uint64_t total;
    uint8_t buf[32];
    unsigned nb;
} xxh64;
void xxh64_init(xxh64 *s);
void xxh64_feed(xxh64 *s, const uint8_t *p, size_t n);
uint64_t xxh64_final(const xxh64 *s);
uint64_t xxh64_of(const uint8_t *p, size_t n);

/* Compact payload (save file version 3): the canonical payload as a sequence of blocks
 *   0x01 SPARSE  u32 n, sparse(n)                 n canonical bytes (n <= CBLOCK_MAX)
 *   0x02 RAW     u32 n, n bytes                   n canonical bytes (n <= CBLOCK_MAX)
 *   0x03 RECORDS u32 stride, u32 count, count x sparse(stride) of (record XOR previous record)
 *   0x00 END
 * sparse(n): a bitmap of the ceil(n/8) 8-byte words that are not zero (ceil(words/8) bytes, bit
 * i%8 of byte i/8 for word i), then for each such word, in order, a byte whose bit k says byte k
 * of the word is not zero, then those bytes. The first record of a RECORDS block is XORed with
 * zeros. */
#define CBLOCK_MAX 65536
#define CSTRIDE_MAX 4096
enum { CB_END = 0, CB_SPARSE = 1, CB_RAW = 2, CB_RECORDS = 3 };

/* Source of canonical bytes for persist_deserialize: a canonical payload in memory, or a compact
 * one decoded on the fly. src_take returns the next n canonical bytes (valid until the next take)
 * or NULL with s->why set. */
typedef struct psrc {
    const uint8_t *p, *end;     /* canonical: cursor and end; compact: the compact stream */
    int compact;                /* 1: p..end is a compact payload */
    uint8_t kind;               /* compact: current block (CB_*), CB_END before the first */
    uint32_t left;              /* records left in a RECORDS block */
    uint32_t stride;            /* record size of the RECORDS block */
    uint8_t *rec;               /* the last decoded record (the XOR base), CSTRIDE_MAX bytes */
    uint8_t *stage;             /* decoded bytes not yet taken: stage[off..len) */
    size_t off, len, cap;
    uint64_t produced;          /* canonical bytes produced so far */
    uint64_t limit;             /* compact: canonical length announced by the header */
    phash *verify;              /* if set: every produced byte is hashed */
    int ended;                  /* compact: END seen */
    const char *why;            /* why the last take failed */
} psrc;
void psrc_canonical(psrc *s, const uint8_t *data, size_t len);
int psrc_compact(psrc *s, const uint8_t *data, size_t len, uint64_t canonical_len);
void psrc_free(psrc *s);
const uint8_t *src_take(psrc *s, size_t n);
int src_at_end(psrc *s); /* 1 at the end of the payload, 0 if more, -1 malformed (why set) */
/* Deserialize from a source (persist_read.c); 0 ok, -1 with err. */
int persist_deserialize_src(psrc *s, world *out, char *err, size_t errlen);
/* Serialize the canonical payload into a compact one: *out gets the blocks (appended), the state
 * hash and canonical length are returned. fd >= 0: the blocks are written to fd as they are made
 * (out is a bounded buffer) and *sum gets the XXH64 of everything written. 0 ok; -1 OOM; -2 write
 * error (errno). */
int persist_encode(const world *w, jbuf *out, int fd, uint64_t *state_hash, uint64_t *canonical_len,
                   uint64_t *compact_len, uint64_t *sum);
int persist_encode_view(const persist_snap *v, jbuf *out, int fd, uint64_t *state_hash, uint64_t *canonical_len,
                        uint64_t *compact_len, uint64_t *sum);
/* A view of the world itself (the arrays are the world's; free v->side with jb_free). */
int persist_view_of(persist_snap *v, const world *w);


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

/* Unchecked little-endian access for fixed-size records whose length was checked once. */
static inline uint64_t le_to_host64(uint64_t v) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    return v;
}
static inline uint32_t le_to_host32(uint32_t v) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap32(v);
#endif
    return v;
}
static inline uint8_t rd_u8(const uint8_t **p) { return *(*p)++; }
static inline uint32_t rd_u32(const uint8_t **p) {
    uint32_t v;
    memcpy(&v, *p, 4);
    *p += 4;
    return le_to_host32(v);
}
static inline uint64_t rd_u64(const uint8_t **p) {
    uint64_t v;
    memcpy(&v, *p, 8);
    *p += 8;
    return le_to_host64(v);
}
static inline double rd_f64(const uint8_t **p) {
    uint64_t v = rd_u64(p);
    double d;
    memcpy(&d, &v, 8);
    return d;
}
static inline float rd_f32(const uint8_t **p) {
    uint32_t v = rd_u32(p);
    float f;
    memcpy(&f, &v, 4);
    return f;
}
static inline void wr_u8(uint8_t **q, uint8_t v) { *(*q)++ = v; }
static inline void wr_u32(uint8_t **q, uint32_t v) {
    v = le_to_host32(v);
    memcpy(*q, &v, 4);
    *q += 4;
}
static inline void wr_u64(uint8_t **q, uint64_t v) {
    v = le_to_host64(v);
    memcpy(*q, &v, 8);
    *q += 8;
}
/* A little-endian u64 at p (the file header's fields), without moving a cursor. */
static inline void put64(uint8_t *p, uint64_t v) { wr_u64(&p, v); }
static inline uint64_t get64(const uint8_t *p) { return rd_u64(&p); }
static inline void wr_f64(uint8_t **q, double d) {
    uint64_t v;
    memcpy(&v, &d, 8);
    wr_u64(q, v);
}
static inline void wr_f32(uint8_t **q, float f) {
    uint32_t v;
    memcpy(&v, &f, 4);
    wr_u32(q, v);
}
static inline void wr_bytes(uint8_t **q, const void *src, size_t n) {
    memcpy(*q, src, n);
    *q += n;
}

static inline float get_f32(reader *r) {
    uint32_t v = get_u32(r);
    float f;
    memcpy(&f, &v, 4);
    return f;
}
static inline int rd_mem(const uint8_t **p, mem_entry *m) {
    m->tick = rd_u32(p);
    m->weight = rd_f32(p);
    m->value = rd_f32(p);
    m->type = rd_u8(p);
    m->subtype = rd_u8(p);
    m->arg = rd_u8(p);
    m->pad = 0;
    return m->type < EV_TYPE_COUNT && finite01(m->weight, 0, 1) && finite01(m->value, -1e30, 1e30) ? 0 : -1;
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
 * persist_read_life.c. LIFE itself is read by the two functions after it (a header, then one
 * record per probe). */
int persist_read_life_section(const char *tag, reader *r, world *w, char *err, size_t errlen);
int persist_read_life_header(reader *r, world *w, char *err, size_t errlen);
/* one LIFE_RECORD_BYTES record at p */
int persist_read_life_record(const uint8_t *p, probe_life *l, char *err, size_t errlen);

#endif
