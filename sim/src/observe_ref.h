/* observe_ref.h -- resource views and the reference numbering shared by all JSON writers. */
#ifndef OBSERVE_REF_H
#define OBSERVE_REF_H

#include "json.h"
#include "world.h"

/* {"iron":..,...} revealing abundances according to survey level (nothing below level 1). */
void observe_resources(jbuf *b, const world *w, const star_system *s, int bi, int level);

/* Same without the remaining_kg sibling. */
void observe_resources_min(jbuf *b, const star_system *s, int bi, int level);
/* All RES_COUNT resources as numbers, 0 where the level reveals nothing (reference shape). */
void observe_resources_all(jbuf *b, const star_system *s, int bi, int level);
/* {"iron":..,...}: a mass per resource (cargo, a cost). */
void observe_kg(jbuf *b, const double kg[RES_COUNT]);
/* [x,y,z]: a position (or any three numbers) / a system's sector coordinates. */
void observe_vec3(jbuf *b, const double v[3]);
void observe_sector(jbuf *b, const int32_t sec[3]);

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
/* Number of planets of s (bodies that orbit the star, not another body). */
int observe_planet_count(const star_system *s);
/* One entry of a scan result, hit as probe p sees it: id, name, star_class, the travel fields
 * (distance_ly, fuel_needed, eta_ticks, explored) and the fields every entry carries for reference
 * clients (system_id, sector, star_count, estimated_travel_ticks). full (the scan command) adds
 * luminosity_solar, position, planet_count and claimed_by; ref: numeric star_class with
 * star_class_name beside it. */
void observe_scan_entry(jbuf *b, const world *w, const probe *p, const scan_hit *hit, int full, int ref);
/* Display name of a structure type ("Mining Station"). */
extern const char *const observe_structure_display[STRUCT_COUNT];

#endif
