/* galaxy.h -- the lazily generated galaxy.
 *
 * Space is cut into cubic sectors GALAXY_SECTOR_LY on a side. A sector's content is a pure
 * function of (world seed, sector coordinates): generating it twice gives identical systems, so
 * the cache (galaxy.sectors) is not part of the saved state and may be dropped at any time.
 *
 * Ids: a system is hi = GALAXY_ID_TAG | pack(sector), lo = (system index + 1) << 16; a body of
 * that system has the same hi and lo | (body index + 1). Probe ids use hi = 1, so the spaces never
 * overlap. Sector (0,0,0) system 0 is the home system: a G star with a fixed set of bodies.
 */
#ifndef GALAXY_H
#define GALAXY_H

#include "hmap.h"

#include <stdint.h>

#define GALAXY_SECTOR_LY 10.0
#define GALAXY_MAX_BODIES 24
#define GALAXY_MAX_SYSTEMS 16
#define GALAXY_ID_TAG (1ULL << 63)
#define RES_COUNT 9

enum resource {
    RES_IRON,
    RES_SILICON,
    RES_RARE_EARTH,
    RES_WATER,
    RES_HYDROGEN,
    RES_HELIUM3,
    RES_CARBON,
    RES_URANIUM,
    RES_EXOTIC
};
/* The resource names in enum order, as one list: galaxy_resource_names is made from it, and
 * observe_ref.c makes its JSON keys from it at compile time. */
#define GALAXY_RESOURCE_NAMES(X) \
    X("iron") X("silicon") X("rare_earth") X("water") X("hydrogen") X("helium3") X("carbon") X("uranium") X("exotic")
extern const char *const galaxy_resource_names[RES_COUNT];
int galaxy_resource_from_name(const char *s, size_t len); /* -1 if unknown */

enum star_class { STAR_O, STAR_B, STAR_A, STAR_F, STAR_G, STAR_K, STAR_M, STAR_CLASS_COUNT };
extern const char *const galaxy_star_class_names[STAR_CLASS_COUNT];

enum body_type {
    BODY_ROCKY,
    BODY_SUPER_EARTH,
    BODY_OCEAN,
    BODY_LAVA,
    BODY_GAS_GIANT,
    BODY_ICE_GIANT,
    BODY_DWARF,
    BODY_MOON,
    BODY_ASTEROID_BELT,
    BODY_TYPE_COUNT
};
extern const char *const galaxy_body_type_names[BODY_TYPE_COUNT];

typedef struct body {
    uint8_t type;               /* enum body_type */
    uint8_t parent;             /* index of the planet a moon orbits, 0xFF for planets/belts */
    uint8_t landable;           /* 1 if land is possible (solid, not a belt or giant) */
    double orbit_au;            /* distance from the star in AU (moons: their planet's) */
    double abundance[RES_COUNT];/* 0..1 per resource */
    double reserve_kg[RES_COUNT];/* accessible deposit per resource when untouched */
    char name[40];              /* e.g. "Kalon-317 c2" */
} body;

typedef struct star_system {
    uint64_t id_hi;             /* system id high word (sector) */
    uint64_t id_lo;             /* system id low word (index) */
    int32_t sector[3];          /* sector coordinates */
    double pos[3];              /* galactic position in light years */
    uint8_t star_class;         /* enum star_class */
    double luminosity;          /* solar luminosities */
    double mass;                /* solar masses */
    uint8_t n_bodies;           /* bodies in use */
    body bodies[GALAXY_MAX_BODIES]; /* sorted by orbit; moons follow their planet */
    char name[24];              /* generated name */
} star_system;

typedef struct sector {
    int32_t x, y, z;            /* sector coordinates */
    uint32_t n_systems;         /* systems in this sector (<= GALAXY_MAX_SYSTEMS) */
    star_system systems[];      /* allocated to n_systems */
} sector;

typedef struct galaxy {
    uint64_t seed;              /* world seed */
    hmap index;                 /* sector pack -> slot in sectors[] */
    sector **sectors;           /* generated sectors (cache) */
    uint32_t n_sectors;         /* cached sectors */
    uint32_t cap_sectors;       /* allocated slots */
} galaxy;

void galaxy_init(galaxy *g, uint64_t seed);
void galaxy_free(galaxy *g);
/* Sector at coordinates (generated on first use). NULL only on allocation failure. */
const sector *galaxy_sector(galaxy *g, int32_t x, int32_t y, int32_t z);
/* System / body by id. NULL if the id does not name one. */
const star_system *galaxy_system(galaxy *g, uint64_t hi, uint64_t lo);
/* Resolve a body id: returns its system and sets *body_index, or NULL. */
const star_system *galaxy_body(galaxy *g, uint64_t hi, uint64_t lo, int *body_index);
const star_system *galaxy_home(galaxy *g);
/* Drop the whole sector cache if it holds more than max_sectors (content is regenerated on
 * demand). Invalidates every star_system pointer: call only between commands. */
void galaxy_trim(galaxy *g, uint32_t max_sectors);
void galaxy_body_id(const star_system *s, int body_index, uint64_t *hi, uint64_t *lo);
/* Id of system `index` (0-based) of sector (x,y,z); it may not exist (check galaxy_system). */
void galaxy_system_id(int32_t x, int32_t y, int32_t z, uint32_t index, uint64_t *hi, uint64_t *lo);

typedef struct scan_hit {
    const star_system *sys;     /* system found */
    double distance_ly;         /* distance from the scan origin */
} scan_hit;
/* Systems within range_ly of pos (excluding the one at exclude_hi/lo), nearest first, at most
 * max. Returns the number written. */
int galaxy_scan(galaxy *g, const double pos[3], double range_ly, uint64_t exclude_hi,
                uint64_t exclude_lo, scan_hit *out, int max);
double galaxy_distance(const star_system *a, const star_system *b);

#endif
