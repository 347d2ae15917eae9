/* galaxy.c -- lazy, seed-deterministic generation of sectors, stars, planets, moons and belts.
 *
 * Everything here is documented with its constants in docs/universe.md ("Galaxy"). Generation
 * draws from an rng_state seeded by hash(world seed, sector coordinates); the draw order inside a
 * sector is fixed, so content never depends on which sector was generated first.
 */
#include "galaxy.h"

#include "rng.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RESOURCE_NAME(n) n,
const char *const galaxy_resource_names[RES_COUNT] = {GALAXY_RESOURCE_NAMES(RESOURCE_NAME)};
#undef RESOURCE_NAME
const char *const galaxy_star_class_names[STAR_CLASS_COUNT] = {"O", "B", "A", "F", "G", "K", "M"};
const char *const galaxy_body_type_names[BODY_TYPE_COUNT] = {
    "rocky", "super_earth", "ocean", "lava", "gas_giant", "ice_giant", "dwarf", "moon",
    "asteroid_belt"};

int galaxy_resource_from_name(const char *s, size_t len) {
    for (int i = 0; i < RES_COUNT; i++)
        if (strlen(galaxy_resource_names[i]) == len && memcmp(galaxy_resource_names[i], s, len) == 0)
            return i;
    return -1;
}

/* Main-sequence class fractions (sum 1): M dwarfs dominate, O stars are ~3e-7. */
static const double class_fraction[STAR_CLASS_COUNT] = {
    0.0000003, 0.0013, 0.006, 0.03, 0.076, 0.121, 0.7656997};
/* Luminosity ranges (solar), log-uniform inside; masses follow roughly L ~ M^3.5. */
static const double class_lum_lo[STAR_CLASS_COUNT] = {30000, 25, 5, 1.5, 0.6, 0.08, 0.0001};
static const double class_lum_hi[STAR_CLASS_COUNT] = {1000000, 30000, 25, 5, 1.5, 0.6, 0.08};
/* Mean number of planets by class. */
static const double class_planets[STAR_CLASS_COUNT] = {0.5, 1.5, 3.0, 4.5, 5.0, 4.0, 2.5};

/* Mean abundance profile per body type (0..1); each body scales these by exp(0.35 N(0,1)). */
static const double type_abundance[BODY_TYPE_COUNT][RES_COUNT] = {
    /*            iron  sil   rare  water H     He3   C     U     exotic */
    /* rocky */  {0.55, 0.60, 0.06, 0.08, 0.01, 0.00, 0.10, 0.03, 0.002},
    /* super  */ {0.50, 0.55, 0.08, 0.15, 0.03, 0.00, 0.12, 0.04, 0.003},
    /* ocean  */ {0.25, 0.35, 0.03, 0.90, 0.05, 0.00, 0.25, 0.01, 0.001},
    /* lava   */ {0.70, 0.45, 0.09, 0.00, 0.00, 0.00, 0.03, 0.06, 0.004},
    /* gas    */ {0.02, 0.02, 0.00, 0.10, 0.95, 0.30, 0.05, 0.00, 0.003},
    /* ice    */ {0.05, 0.08, 0.01, 0.60, 0.55, 0.15, 0.20, 0.01, 0.004},
    /* dwarf  */ {0.30, 0.30, 0.04, 0.40, 0.02, 0.02, 0.15, 0.02, 0.005},
    /* moon   */ {0.35, 0.40, 0.05, 0.30, 0.01, 0.05, 0.10, 0.02, 0.003},
    /* belt   */ {0.65, 0.35, 0.12, 0.10, 0.00, 0.01, 0.20, 0.05, 0.010}};
/* Accessible deposit in kg per unit abundance. */
static const double type_reserve[BODY_TYPE_COUNT] = {1e7, 1.5e7, 6e6, 1e7, 1e8, 4e7, 4e6, 5e6, 2e7};

static const char *const name_a[] = {"Ka", "Ve", "Tor", "Ul", "Mir", "Sa", "Del", "Or",  "Ix",
                                      "Pho", "Ry", "Zen", "Ar", "Qui", "Lo", "Ne", "Bri", "Hal"};
static const char *const name_b[] = {"pa", "lon", "ri", "ther", "dus", "min", "go", "va", "nix",
                                      "sar", "te", "lis", "cor", "na", "bel", "zu"};

static uint64_t pack_sector(int32_t x, int32_t y, int32_t z) {
    const int64_t off = 1 << 20;
    uint64_t ux = (uint64_t)((int64_t)x + off) & 0x1FFFFF;
    uint64_t uy = (uint64_t)((int64_t)y + off) & 0x1FFFFF;
    uint64_t uz = (uint64_t)((int64_t)z + off) & 0x1FFFFF;
    return GALAXY_ID_TAG | (ux << 42) | (uy << 21) | uz;
}

static void unpack_sector(uint64_t hi, int32_t *x, int32_t *y, int32_t *z) {
    const int64_t off = 1 << 20;
    *x = (int32_t)((int64_t)((hi >> 42) & 0x1FFFFF) - off);
    *y = (int32_t)((int64_t)((hi >> 21) & 0x1FFFFF) - off);
    *z = (int32_t)((int64_t)(hi & 0x1FFFFF) - off);
}

void galaxy_system_id(int32_t x, int32_t y, int32_t z, uint32_t index, uint64_t *hi, uint64_t *lo) {
    *hi = pack_sector(x, y, z);
    *lo = ((uint64_t)index + 1) << 16;
}

void galaxy_init(galaxy *g, uint64_t seed) {
    memset(g, 0, sizeof *g);
    g->seed = seed;
    hmap_init(&g->index);
}

void galaxy_free(galaxy *g) {
    for (uint32_t i = 0; i < g->n_sectors; i++) free(g->sectors[i]);
    free(g->sectors);
    hmap_free(&g->index);
    memset(g, 0, sizeof *g);
}

static void gen_abundances(rng_state *r, body *b) {
    for (int k = 0; k < RES_COUNT; k++) {
        double a = type_abundance[b->type][k] * exp(0.35 * rng_normal(r));
        if (a > 1.0) a = 1.0;
        a = round(a * 1e4) / 1e4; /* abundances have 4 decimals */
        b->abundance[k] = a;
        b->reserve_kg[k] = floor(a * type_reserve[b->type]);
    }
    b->landable = (uint8_t)(b->type != BODY_GAS_GIANT && b->type != BODY_ICE_GIANT &&
                            b->type != BODY_ASTEROID_BELT);
}

static int add_body(star_system *s, rng_state *r, uint8_t type, double orbit, uint8_t parent) {
    if (s->n_bodies >= GALAXY_MAX_BODIES) return -1;
    int i = s->n_bodies++;
    body *b = &s->bodies[i];
    memset(b, 0, sizeof *b);
    b->type = type;
    b->orbit_au = round(orbit * 1e3) / 1e3;
    b->parent = parent;
    gen_abundances(r, b);
    return i;
}

static void name_bodies(star_system *s) {
    unsigned planet = 0, moon = 0;
    for (int i = 0; i < s->n_bodies; i++) {
        body *b = &s->bodies[i];
        if (b->parent == 0xFF) {
            planet++;
            moon = 0;
            if (b->type == BODY_ASTEROID_BELT)
                snprintf(b->name, sizeof b->name, "%.16s belt %u", s->name, planet & 0xFF);
            else
                snprintf(b->name, sizeof b->name, "%.16s %c", s->name, (char)('a' + planet));
        } else {
            moon++;
            snprintf(b->name, sizeof b->name, "%.16s %c%u", s->name, (char)('a' + planet), moon & 0xFF);
        }
    }
}

static uint8_t planet_type(rng_state *r, double orbit, double lum) {
    double hz = sqrt(lum);        /* habitable-zone centre, AU */
    double snow = 2.7 * sqrt(lum);/* snow line, AU */
    double u = rng_double(r);
    if (orbit < 0.5 * hz) return u < 0.6 ? BODY_LAVA : BODY_ROCKY;
    if (orbit < 1.6 * hz) return u < 0.45 ? BODY_ROCKY : (u < 0.75 ? BODY_SUPER_EARTH : BODY_OCEAN);
    if (orbit < snow) return u < 0.5 ? BODY_ROCKY : (u < 0.75 ? BODY_DWARF : BODY_ASTEROID_BELT);
    return u < 0.45 ? BODY_GAS_GIANT : (u < 0.75 ? BODY_ICE_GIANT : (u < 0.9 ? BODY_DWARF : BODY_ASTEROID_BELT));
}

static void gen_moons(star_system *s, rng_state *r, int planet_index) {
    uint8_t t = s->bodies[planet_index].type;
    double mean = t == BODY_GAS_GIANT ? 2.5 : t == BODY_ICE_GIANT ? 1.5
                : (t == BODY_ROCKY || t == BODY_SUPER_EARTH || t == BODY_OCEAN) ? 0.4 : 0.0;
    uint32_t n = mean > 0 ? rng_poisson(r, mean) : 0;
    for (uint32_t m = 0; m < n && m < 4; m++)
        if (add_body(s, r, BODY_MOON, s->bodies[planet_index].orbit_au, (uint8_t)planet_index) < 0)
            return;
}

static void gen_name(rng_state *r, char *out, size_t n) {
    const char *a = name_a[rng_below(r, sizeof name_a / sizeof *name_a)];
    const char *b = name_b[rng_below(r, sizeof name_b / sizeof *name_b)];
    snprintf(out, n, "%s%s-%u", a, b, (unsigned)rng_below(r, 1000));
}

static void gen_system(star_system *s, rng_state *r) {
    double u = rng_double(r);
    int cls = STAR_M;
    for (int c = 0; c < STAR_CLASS_COUNT; c++) {
        if (u < class_fraction[c]) {
            cls = c;
            break;
        }
        u -= class_fraction[c];
    }
    s->star_class = (uint8_t)cls;
    double llo = log(class_lum_lo[cls]), lhi = log(class_lum_hi[cls]);
    s->luminosity = exp(rng_range(r, llo, lhi));
    s->luminosity = s->luminosity < 1 ? round(s->luminosity * 1e6) / 1e6 : round(s->luminosity * 1e3) / 1e3;
    if (s->luminosity < 1e-4) s->luminosity = 1e-4;
    s->mass = round(pow(s->luminosity, 1.0 / 3.5) * 1e4) / 1e4;
    gen_name(r, s->name, sizeof s->name);
    s->n_bodies = 0;
    uint32_t n_planets = rng_poisson(r, class_planets[cls]);
    if (n_planets > 10) n_planets = 10;
    double orbit = rng_range(r, 0.2, 0.5) * sqrt(sqrt(s->luminosity) + 0.05);
    for (uint32_t p = 0; p < n_planets; p++) {
        uint8_t t = planet_type(r, orbit, s->luminosity);
        int idx = add_body(s, r, t, orbit, 0xFF);
        if (idx < 0) break;
        gen_moons(s, r, idx);
        orbit *= rng_range(r, 1.4, 2.0);
    }
    name_bodies(s);
}

/* The home system: a G star with a fixed, replication-friendly set of bodies. Abundances still
 * vary with the seed but are floored so that every resource Bob needs is in reach. */
static void gen_home(star_system *s, rng_state *r) {
    s->star_class = STAR_G;
    s->luminosity = round(rng_range(r, 0.9, 1.1) * 1e6) / 1e6;
    s->mass = round(pow(s->luminosity, 1.0 / 3.5) * 1e4) / 1e4;
    gen_name(r, s->name, sizeof s->name);
    s->n_bodies = 0;
    static const struct { uint8_t type; double orbit; int moon_of; } tpl[] = {
        {BODY_LAVA, 0.39, -1},       {BODY_ROCKY, 0.72, -1},     {BODY_OCEAN, 1.0, -1},
        {BODY_MOON, 1.0, 2},         {BODY_ROCKY, 1.52, -1},     {BODY_ASTEROID_BELT, 2.8, -1},
        {BODY_GAS_GIANT, 5.2, -1},   {BODY_MOON, 5.2, 6},        {BODY_MOON, 5.2, 6},
        {BODY_ICE_GIANT, 19.2, -1},  {BODY_MOON, 19.2, 9},       {BODY_DWARF, 39.5, -1}};
    for (size_t i = 0; i < sizeof tpl / sizeof *tpl; i++) {
        int idx = add_body(s, r, tpl[i].type, tpl[i].orbit,
                           tpl[i].moon_of < 0 ? 0xFF : (uint8_t)tpl[i].moon_of);
        body *b = &s->bodies[idx];
        /* floor every non-zero profile entry at 60% of its type mean */
        for (int k = 0; k < RES_COUNT; k++) {
            double floor_a = round(0.6 * type_abundance[b->type][k] * 1e4) / 1e4;
            if (b->abundance[k] < floor_a) {
                b->abundance[k] = floor_a;
                b->reserve_kg[k] = floor(floor_a * type_reserve[b->type]);
            }
        }
    }
    name_bodies(s);
}

static sector *generate(uint64_t seed, int32_t x, int32_t y, int32_t z) {
    rng_state r;
    uint64_t key = pack_sector(x, y, z);
    rng_seed(&r, rng_hash3(seed, RNG_STREAM_SECTOR, key));
    /* Thin disk: density falls off with |z| (scale height 1000 ly = 100 sectors). */
    double zc = fabs(((double)z + 0.5) * GALAXY_SECTOR_LY);
    double mean = 4.0 * exp(-zc / 1000.0);
    int home = (x == 0 && y == 0 && z == 0);
    uint32_t n = rng_poisson(&r, mean);
    if (home && n < 1) n = 1;
    if (n > GALAXY_MAX_SYSTEMS) n = GALAXY_MAX_SYSTEMS;
    sector *sec = malloc(sizeof *sec + n * sizeof(star_system));
    if (!sec) return NULL;
    sec->x = x;
    sec->y = y;
    sec->z = z;
    sec->n_systems = n;
    for (uint32_t i = 0; i < n; i++) {
        star_system *s = &sec->systems[i];
        memset(s, 0, sizeof *s);
        s->id_hi = key;
        s->id_lo = (uint64_t)(i + 1) << 16;
        s->sector[0] = x;
        s->sector[1] = y;
        s->sector[2] = z;
        /* each system has its own generator: adding fields to one never shifts another */
        rng_state rs;
        rng_seed(&rs, rng_hash2(rng_next(&r), i));
        if (home && i == 0) {
            s->pos[0] = s->pos[1] = s->pos[2] = GALAXY_SECTOR_LY / 2;
            rng_next(&rs);
            gen_home(s, &rs);
        } else {
            /* positions on a 1e-4 ly grid, strictly inside the sector */
            for (int k = 0; k < 3; k++) {
                double c = floor(rng_double(&rs) * 1e5) / 1e4;
                s->pos[k] = (double)(k == 0 ? x : k == 1 ? y : z) * GALAXY_SECTOR_LY + c;
            }
            gen_system(s, &rs);
        }
    }
    return sec;
}

const sector *galaxy_sector(galaxy *g, int32_t x, int32_t y, int32_t z) {
    uint64_t key = pack_sector(x, y, z);
    uint32_t *slot = hmap_get(&g->index, key, 0);
    if (slot) return g->sectors[*slot];
    if (g->n_sectors == g->cap_sectors) {
        uint32_t nc = g->cap_sectors ? g->cap_sectors * 2 : 64;
        sector **ns = realloc(g->sectors, nc * sizeof *ns);
        if (!ns) return NULL;
        g->sectors = ns;
        g->cap_sectors = nc;
    }
    sector *sec = generate(g->seed, x, y, z);
    if (!sec) return NULL;
    if (hmap_put(&g->index, key, 0, g->n_sectors)) {
        free(sec);
        return NULL;
    }
    g->sectors[g->n_sectors++] = sec;
    return sec;
}

const star_system *galaxy_system(galaxy *g, uint64_t hi, uint64_t lo) {
    if (!(hi & GALAXY_ID_TAG) || (lo & 0xFFFF) || (lo >> 16) == 0 || (lo >> 16) > GALAXY_MAX_SYSTEMS)
        return NULL;
    if (hi != pack_sector(0, 0, 0) && (hi >> 63) != 1) return NULL;
    int32_t x, y, z;
    unpack_sector(hi, &x, &y, &z);
    if (pack_sector(x, y, z) != hi) return NULL;
    const sector *sec = galaxy_sector(g, x, y, z);
    if (!sec) return NULL;
    uint64_t i = (lo >> 16) - 1;
    if (i >= sec->n_systems) return NULL;
    return &sec->systems[i];
}

const star_system *galaxy_body(galaxy *g, uint64_t hi, uint64_t lo, int *body_index) {
    uint64_t b = lo & 0xFFFF;
    if (b == 0) return NULL;
    const star_system *s = galaxy_system(g, hi, lo & ~(uint64_t)0xFFFF);
    if (!s || b > s->n_bodies) return NULL;
    *body_index = (int)b - 1;
    return s;
}

void galaxy_trim(galaxy *g, uint32_t max_sectors) {
    if (g->n_sectors <= max_sectors) return;
    uint64_t seed = g->seed;
    galaxy_free(g);
    galaxy_init(g, seed);
}

const star_system *galaxy_home(galaxy *g) { return galaxy_system(g, pack_sector(0, 0, 0), 1ULL << 16); }

void galaxy_body_id(const star_system *s, int body_index, uint64_t *hi, uint64_t *lo) {
    *hi = s->id_hi;
    *lo = s->id_lo | (uint64_t)(body_index + 1);
}

double galaxy_distance(const star_system *a, const star_system *b) {
    double dx = a->pos[0] - b->pos[0], dy = a->pos[1] - b->pos[1], dz = a->pos[2] - b->pos[2];
    return sqrt(dx * dx + dy * dy + dz * dz);
}

int galaxy_scan(galaxy *g, const double pos[3], double range_ly, uint64_t exclude_hi,
                uint64_t exclude_lo, scan_hit *out, int max) {
    int n = 0;
    if (max <= 0) return 0;
    if (range_ly > 100.0) range_ly = 100.0; /* bounded work: at most 21^3 sectors */
    int32_t lo[3], hi[3];
    for (int k = 0; k < 3; k++) {
        lo[k] = (int32_t)floor((pos[k] - range_ly) / GALAXY_SECTOR_LY);
        hi[k] = (int32_t)floor((pos[k] + range_ly) / GALAXY_SECTOR_LY);
    }
    for (int32_t x = lo[0]; x <= hi[0]; x++)
        for (int32_t y = lo[1]; y <= hi[1]; y++)
            for (int32_t z = lo[2]; z <= hi[2]; z++) {
                const sector *sec = galaxy_sector(g, x, y, z);
                if (!sec) continue;
                for (uint32_t i = 0; i < sec->n_systems; i++) {
                    const star_system *s = &sec->systems[i];
                    if (s->id_hi == exclude_hi && s->id_lo == exclude_lo) continue;
                    double dx = s->pos[0] - pos[0], dy = s->pos[1] - pos[1], dz = s->pos[2] - pos[2];
                    double d = sqrt(dx * dx + dy * dy + dz * dz);
                    if (d > range_ly) continue;
                    /* insertion into a sorted list of at most max; ties broken by id */
                    int j = n < max ? n : max;
                    if (j == max && !(d < out[max - 1].distance_ly)) continue;
                    if (j == max) j = max - 1;
                    while (j > 0 && (out[j - 1].distance_ly > d ||
                                     (out[j - 1].distance_ly == d &&
                                      (out[j - 1].sys->id_hi > s->id_hi ||
                                       (out[j - 1].sys->id_hi == s->id_hi && out[j - 1].sys->id_lo > s->id_lo))))) {
                        out[j] = out[j - 1];
                        j--;
                    }
                    out[j].sys = s;
                    out[j].distance_ly = d;
                    if (n < max) n++;
                }
            }
    return n;
}
