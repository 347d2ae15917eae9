/* observe.h -- JSON views of probes and systems (observations, probe and system commands).
 * Includes the headers of the other views -- observe_ref.h (resources, reference numbering),
 * observe_life.h (mind and planet writers), observe_system.h (system views), observe_living.h
 * (living-universe fields), observe_overlay.h (the reference overlay) -- so users of the views
 * need only this header. */
#ifndef OBSERVE_H
#define OBSERVE_H

#include "json.h"
#include "observe_life.h"
#include "observe_living.h"
#include "observe_overlay.h"
#include "observe_ref.h"
#include "observe_system.h"
#include "world.h"

#define OBSERVE_DETAIL 1  /* lineage, per-body survey levels (probe command) */
#define OBSERVE_COMPACT 2 /* only the fields of the pre-living-universe observation */
#define OBSERVE_REFERENCE 4 /* append the "reference" overlay (full detail only; tick "reference") */
/* One observation object for probe idx (detail: OBSERVE_* flags). */
void observe_probe(jbuf *b, world *w, uint32_t idx, int detail);

/* Everything a compact observation (observe_probe with OBSERVE_COMPACT alone) is written from,
 * except the probe's energy and index: two compact observations of a probe written with equal
 * keys differ at most in the value of "energy". The galaxy's seed stands for what is read from
 * the galaxy (system and body names, body ids, abundances: a pure function of the seed and the
 * ids). No padding: keys compare with memcmp. */
typedef struct observe_key {
    uint64_t gal_seed;                  /* the galaxy */
    uint64_t parent_hi, parent_lo;      /* cold */
    uint64_t sys_hi, sys_lo, dst_hi, dst_lo;
    double hull, fuel, cargo[RES_COUNT], progress, survey_progress, last_amount;
    uint32_t generation, ticks_left;
    char name[32];                      /* all of c->name, the bytes after its NUL included */
    uint8_t tech[TECH_COUNT];
    int8_t body, nav_target;
    uint8_t status, location, activity, sys_survey, survey_level; /* survey_level: of the body */
    uint8_t acted;                      /* last_action taken in this tick; if so: */
    uint8_t last_action, last_ok, last_reason, last_res;
    uint8_t zero[2];                    /* (explicit padding, always 0) */
} observe_key;
/* Fill k for probe idx's compact observation: 1, or 0 when that observation also depends on
 * state the key does not hold (events of this tick, the result of a scan made in this tick, the
 * remaining kg shown from survey level 4): then it has to be written to be known. */
int observe_compact_key(const world *w, uint32_t idx, observe_key *k);
/* One event of the log as an object with its probe_id (tick command, "events": true). */
void observe_event(jbuf *b, const event *e);
/* Short status entry (status command). */
void observe_status_entry(jbuf *b, const world *w, uint32_t idx);

#endif
