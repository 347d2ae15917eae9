/* hmap.h -- open-addressing hash map from 128-bit ids to uint32 values.
 *
 * Used for the sector cache, the explored-system set and the body depletion table. Insertion
 * order is kept in a dense key array, so iteration is deterministic (and persist.c sorts anyway
 * before serializing). No deletion: all users only ever grow.
 */
#ifndef HMAP_H
#define HMAP_H

#include <stdint.h>
#include <stddef.h>

typedef struct hmap_key {
    uint64_t hi; /* id high word */
    uint64_t lo; /* id low word */
} hmap_key;

typedef struct hmap {
    uint32_t *slots;   /* 0 = empty, else 1 + index into keys/vals */
    uint32_t n_slots;  /* power of two */
    hmap_key *keys;    /* dense, in insertion order */
    uint32_t *vals;    /* dense values */
    uint32_t n;        /* entries */
    uint32_t cap;      /* dense capacity */
} hmap;

void hmap_init(hmap *m);
void hmap_free(hmap *m);
void hmap_clear(hmap *m);
/* Returns pointer to the value for key, or NULL. */
uint32_t *hmap_get(const hmap *m, uint64_t hi, uint64_t lo);
/* Insert or overwrite. Returns 0, or -1 on allocation failure (map unchanged). */
int hmap_put(hmap *m, uint64_t hi, uint64_t lo, uint32_t val);
/* Deep copy src into dst (dst is initialised by the call). */
int hmap_copy(hmap *dst, const hmap *src);

#endif
