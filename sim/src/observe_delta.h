/* observe_delta.h -- observations as deltas: each probe's observation compared with the last one
 * written for it, field by field, so that a fleet of 100,000 probes can be observed every tick
 * (docs/pipe-protocol.md "Delta groups").
 *
 * The cache holds the text of the last observation written per probe, with the tick, detail and
 * generation it was written at. A probe's entry is a valid base only if it was written at the
 * previous tick, at the same detail, in the same generation (restore, load and scenario start a
 * new one); otherwise the probe's observation is written whole. The cache is output state, never
 * simulation state: it is not hashed, saved or snapshotted, and a new process starts empty (so
 * its first delta tick is whole).
 *
 * Two ways to the same delta. The text path writes the observation (observe_probe) and compares
 * it with the entry's text. The key path, for compact observations: the entry also keeps the
 * observe_key its text was written from; when this tick's key is the same, nothing but "energy"
 * can differ, so only the energy is formatted and compared (with the value kept beside the
 * text: the text itself is brought up to date only when it is next compared). A fleet that waits
 * costs a key and a number per probe instead of a whole observation. */
#ifndef OBSERVE_DELTA_H
#define OBSERVE_DELTA_H

#include "json.h"
#include "observe.h"
#include "world.h"

#include <stddef.h>
#include <stdint.h>

typedef struct delta_field {
    uint32_t key, klen; /* the key with its quotes: offset, bytes */
    uint32_t val, vlen; /* the value: offset, bytes */
} delta_field;

typedef struct delta_entry {
    uint64_t tick; /* the tick the text was written at (0: never) */
    uint64_t gen;  /* the cache generation it was written in */
    int flags;     /* observe_probe flags it was written with */
    uint32_t len;  /* text bytes */
    uint32_t cap;  /* allocated */
    char *text;    /* the observation as written */
    delta_field *fields; /* its top-level fields (NULL: not split yet) */
    int n_fields;        /* how many */
    int keyed;           /* 1: key holds what the text was written from (compact only) */
    observe_key key;
    /* compact: the value of "energy" last written (energy_len 0: the text has no such field).
     * The key path updates only this: while energy_stale, the text still shows an older value,
     * put in (patch_energy) before the text is next compared. */
    uint8_t energy_len, energy_stale;
    uint8_t by_key;      /* the last delta came from the key alone (it will likely again) */
    char energy[JW_DOUBLE_MAX];
} delta_entry;

typedef struct delta_cache {
    delta_entry *e;  /* by probe index */
    uint32_t n;      /* entries allocated */
    uint64_t gen;    /* current generation */
    jbuf scratch;    /* the observation being compared */
    delta_field *fields; /* its top-level fields */
    uint64_t n_whole;    /* observations written whole */
    uint64_t n_keyed;    /* deltas known from the key alone (only the energy formatted) */
    uint64_t n_short;    /* deltas found by scanning only the changed middle */
    uint64_t n_scanned;  /* deltas found by scanning every field */
    int no_keys;         /* 1: never use the keys (tests compare both ways) */
    jbuf wholes, groups; /* the tick's delta groups being written (proto_tick.c), kept for reuse */
} delta_cache;

void delta_cache_init(delta_cache *c);
void delta_cache_free(delta_cache *c);
/* Every entry stops being a base (the world was replaced: restore, load, scenario). */
void delta_cache_invalidate(delta_cache *c);

/* Write probe idx's observation of this tick (observe_probe with flags): whole (with "tick"
 * added) to wholes if `whole` is set or there is no valid base, else its delta
 * {"probe_id","changed":{top-level fields whose bytes changed},"removed":[keys gone]} to deltas.
 * The probe's entry becomes this observation. Returns -1 on out of memory (the buffers' oom set). */
int observe_delta_probe(delta_cache *c, jbuf *wholes, jbuf *deltas, world *w, uint32_t idx, int flags,
                        int whole);
/* Ask the processor for probe idx's entry (its text and fields, unless the last delta came from
 * the key alone) ahead of observe_delta_probe: the texts of a large fleet are far apart in memory.
 * Only a hint, no effect on the output. */
void observe_delta_prefetch(const delta_cache *c, uint32_t idx);

#endif
