/* life.h -- the psychological layer and the living galaxy: personality, quirks, memories,
 * history, inner monologue, inheritance at replication, derived planet properties, alien life
 * and artifacts. Rules and constants: docs/universe.md ("Living universe").
 *
 * Memories fade lazily: a memory's current weight is weight * exp(-MEM_FADE * age), computed
 * when needed, so a tick does no per-memory work. */
#ifndef LIFE_H
#define LIFE_H

#include "world.h"

#define MEM_FADE 0.001        /* per tick: a memory loses ~63 % of its weight in 1,000 ticks */
#define MEM_MIN_WEIGHT 0.2    /* events below this weight are not remembered */
#define SOLITUDE_TICKS 1000   /* alone this long: angst rises, sociability falls */
#define QUIRK_COUNT 24
extern const char *const life_quirk_names[QUIRK_COUNT];

/* Append an event for probe idx to the log (links it into the probe's list) and
 * note it in the probe's mind (life_note). Defined in life.c: recording an event is a mechanic. */
int world_emit(world *w, uint32_t idx, uint8_t type, uint8_t subtype, uint8_t arg,
               double severity, double value);
/* Hook called by world_emit for every event: drift, memory, history. */
void life_note(world *w, uint32_t idx, const event *ev);
/* Change trait t of probe idx by delta x its drift rate, clamped to [-1, 1]. */
void life_drift(world *w, uint32_t idx, int t, double delta);
double life_mem_weight(const mem_entry *m, uint64_t tick);
/* Consciousness fork (80 % of a replication): draws the child's mind into the parent's block. */
void life_fork(world *w, uint32_t parent);
/* Child idx inherits from parent (after life_fork). Sets name as a variant of the parent's. */
void life_inherit(world *w, uint32_t parent, uint32_t child);
/* Periodic solitude check (every 128 ticks per probe, staggered). */
void life_solitude(world *w, uint32_t idx);
/* One inner-monologue line from personality, quirks and the latest event. */
void life_monologue(const world *w, uint32_t idx, char *out, size_t n);
/* Event text (shared by observations and history). */
void life_event_text(const event *e, char *msg, size_t n);

/* ---- derived planet properties and alien life (pure functions of the galaxy seed) ---- */
typedef struct planet_props {
    double radius_earth, period_days, temp_k, pressure_atm, water, habitability;
    double field;    /* magnetic field strength (reference shape): >= 0.3 iff magnetic, else < 0.25 */
    int magnetic, rings, moons;
} planet_props;
void life_planet_props(const world *w, const star_system *s, int bi, planet_props *out);

enum life_level { LIFE_NONE, LIFE_MICROBIAL, LIFE_MULTICELLULAR, LIFE_COMPLEX, LIFE_INTELLIGENT,
                  LIFE_INDUSTRIAL, LIFE_SPACEFARING, LIFE_TRANSCENDED, LIFE_LEVEL_COUNT };
extern const char *const life_level_names[LIFE_LEVEL_COUNT];
typedef struct alien_life {
    int level;            /* enum life_level */
    int extinct;          /* 1: an extinct civilisation (level kept as what it reached) */
    int artifacts;        /* artifacts on this body: 2-5 for extinct civilisations, else 0 or 1 */
    char civ_name[32];    /* procedural name of a civilisation (intelligent and up) */
    const char *biology, *disposition, *culture;
} alien_life;
void life_alien(const world *w, const star_system *s, int bi, alien_life *out);

#endif
