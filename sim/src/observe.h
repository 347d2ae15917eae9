/* observe.h -- JSON views of probes and systems (observations, probe and system commands).
 * Includes observe_ref.h (resources, reference numbering) and observe_life.h (mind and planet
 * writers), so users of the views need only this header. */
#ifndef OBSERVE_H
#define OBSERVE_H

#include "json.h"
#include "observe_life.h"
#include "observe_ref.h"
#include "world.h"

#define OBSERVE_DETAIL 1  /* lineage, per-body survey levels (probe command) */
#define OBSERVE_COMPACT 2 /* only the fields of the pre-living-universe observation */
#define OBSERVE_REFERENCE 4 /* append the "reference" overlay (full detail only; tick "reference") */
/* One observation object for probe idx (detail: OBSERVE_* flags). */
void observe_probe(jbuf *b, world *w, uint32_t idx, int detail);
/* One event of the log as an object with its probe_id (tick command, "events": true). */
void observe_event(jbuf *b, const event *e);
/* Short status entry (status command). */
void observe_status_entry(jbuf *b, const world *w, uint32_t idx);
/* Full system view. viewer (may be NULL) selects whose survey levels reveal resources; without a
 * viewer the best level among live probes in the system is used. */
void observe_system(jbuf *b, world *w, const star_system *s, const probe *viewer);

#endif
