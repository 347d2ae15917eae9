/* observe.h -- JSON views of probes and systems (observations, probe and system commands). */
#ifndef OBSERVE_H
#define OBSERVE_H

#include "json.h"
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
/* {"iron":..,...} revealing abundances according to survey level (nothing below level 1). */
void observe_resources(jbuf *b, const world *w, const star_system *s, int bi, int level);

/* Same without the remaining_kg sibling. */
void observe_resources_min(jbuf *b, const star_system *s, int bi, int level);
/* All RES_COUNT resources as numbers, 0 where the level reveals nothing (reference shape). */
void observe_resources_all(jbuf *b, const star_system *s, int bi, int level);

/* ---- the reference numbering (docs/pipe-protocol.md "Reference numbering") ---- */
#define REF_TYPE_COUNT EV_TYPE_COUNT
/* Reference number of an engine event type (enum event_type), and back (-1 if out of range). */
int observe_ref_type(int type);
int observe_type_from_ref(int64_t ref);
/* Reference subtype number of an event (type, subtype, arg as stored in event / mem_entry). */
int observe_ref_subtype(int type, int subtype, int arg);
/* Subtype name of an event, or NULL for types without named subtypes. */
const char *observe_subtype_name(int type, int subtype, int arg);
/* Severity of a history / memory entry: derived for hazards (from the stored weight), else 0. */
double observe_mem_severity(const mem_entry *m);
/* The fields every scan entry carries for reference clients: system_id, sector, star_count,
 * estimated_travel_ticks (= eta). */
void observe_scan_extra(jbuf *b, const star_system *t, double eta);
/* Display name of a structure type ("Mining Station"). */
extern const char *const observe_structure_display[STRUCT_COUNT];

#endif
