/* events.h -- random and injected events: hazards (hull damage) and discoveries.
 *
 * Per-tick rolls are counter-based: one hash of (seed, probe id, tick) decides whether a hazard
 * and/or a discovery happens, so the outcome does not depend on the order probes are processed
 * or on how many other probes exist. Frequencies come from world.cfg. */
#ifndef EVENTS_H
#define EVENTS_H

#include "world.h"

/* Thresholds of the fast no-event path from the config (tick_run calls it every tick). */
void events_prepare(world *w);
/* Roll this tick's random events for probe idx. */
void events_roll(world *w, uint32_t idx);
/* Apply a hazard now (subtype enum hazard_sub, severity 0..1). */
void events_hazard(world *w, uint32_t idx, int subtype, double severity);
/* Apply a discovery now; h supplies the randomness for its details. */
void events_discovery(world *w, uint32_t idx, int subtype, uint64_t h);
/* Chance of a discovery when a survey reaches a new level. */
void events_survey_levelup(world *w, uint32_t idx, int level);

/* Announce a hazard landing in `lead` ticks (3-5): a threat the probe can react to. */
void events_threat(world *w, uint32_t idx, int subtype, double severity, int lead);
/* Queue probe idx in the bucket of its threat's landing tick (L[idx].threat_tick). 0 ok. */
int events_threat_push(world *w, uint32_t idx);
/* Land the threats due this tick, in probe-id order (called from society_tick). */
void events_land_threats(world *w);
/* Land probe idx's pending threat now, with mitigation (see docs/universe.md). */
void events_threat_land(world *w, uint32_t idx);
/* Apply an event of any scriptable type (hazard, discovery, threat, anomaly, encounter, crisis,
 * wonder) now; h supplies the randomness of its details. */
void events_apply(world *w, uint32_t idx, int type, int subtype, double severity, uint64_t h);

/* Mark probe idx destroyed (idempotent): status, counters, EV_DESTROYED event. */
void world_destroy(world *w, uint32_t idx);

#endif
