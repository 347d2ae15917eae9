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
/* One event of the log as an object with its probe_id (tick command, "events": true). */
void observe_event(jbuf *b, const event *e);
/* Short status entry (status command). */
void observe_status_entry(jbuf *b, const world *w, uint32_t idx);

#endif
