/* observe_life.h -- JSON writers of a probe's mind (personality, memories, history) and of a planet
 * with its derived properties and life. Used by observe.c and the protocol commands. */
#ifndef OBSERVE_LIFE_H
#define OBSERVE_LIFE_H

#include "json.h"
#include "world.h"

/* Opens a history/memory entry object: {"tick","type"[, reference fields],"kind"-or-type name
 * (without the closing brace); msg gets the entry's sentence. ref: the reference shape. */
void observe_mem_open(jbuf *b, const mem_entry *m, int ref, char *msg, size_t msg_len);
void observe_personality(jbuf *b, const world *w, uint32_t idx);
void observe_memories(jbuf *b, const world *w, uint32_t idx, int max);
/* ref: events in the reference shape (numeric type/subtype, severity, description beside
 * universed's kind/weight/text). */
void observe_history(jbuf *b, const world *w, uint32_t idx, int ref);
/* ref: the reference planet (numeric type, mass_earth, orbital_radius_au, numeric
 * magnetic_field, all resources) beside universed's id/orbit_au/life/artifact. */
void observe_planet(jbuf *b, world *w, const star_system *s, int bi, int level, int ref);

#endif
