/* world.c -- creation of the universe, probe storage, global tables and derived constants.
 * Every formula here is listed in docs/universe.md. */
#include "world.h"

#include "rng.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The per-probe budget is 1 KB (docs/performance.md); keep the records well inside it. */
_Static_assert(sizeof(probe) + sizeof(probe_cold) + sizeof(probe_life) <= 1024, "probe records grew past 1 KB");

const char *const world_tech_names[TECH_COUNT] = {
    "propulsion", "sensors", "mining", "construction", "computing",
    "energy", "materials", "communication", "weapons", "biotech"};
const char *const world_status_names[ST_COUNT] = {
    "active", "traveling", "mining", "building", "replicating", "dormant", "damaged", "destroyed"};
const char *const world_location_names[LOC_COUNT] = {
    "interstellar", "in_system", "orbiting", "landed", "docked"};
const char *const world_activity_names[ACT_COUNT] = {"none", "navigating", "traveling", "replicating"};
const char *const world_action_names[A_COUNT] = {
    "wait", "survey", "mine", "repair", "navigate_to_body", "enter_orbit", "land", "launch",
    "scan", "travel_to_system", "replicate", "send_message", "place_beacon", "build_structure",
    "trade", "claim_system", "revoke_claim", "propose", "vote", "research", "share_tech"};
const char *const world_reason_text[R_COUNT] = {
    "",
    "malformed action",
    "unknown probe",
    "probe destroyed",
    "busy: traveling between systems",
    "busy: navigating to a body",
    "busy: replicating",
    "dormant: energy too low, only wait is possible",
    "insufficient energy",
    "no current body (navigate_to_body first)",
    "not in a star system",
    "not orbiting",
    "not landed",
    "already orbiting",
    "already landed",
    "cannot land on this body",
    "landed: launch first",
    "survey already at the maximum level possible from this location",
    "body not surveyed (survey level 1 needed)",
    "cannot mine this resource here",
    "resource absent on this body",
    "deposit exhausted",
    "cargo hold full",
    "hull already intact",
    "not enough iron in cargo",
    "target not found in the current system",
    "already at that body",
    "already in that system",
    "insufficient fuel",
    "target out of range",
    "not enough cargo for replication",
    "population limit reached",
    "duplicate action for this probe",
    "target out of communication range",
    "beacon limit of this system reached",
    "not enough iron and silicon in cargo",
    "structure already has 4 builders",
    "target probe unknown, destroyed or self",
    "target probe not in the same system",
    "not enough of that resource in cargo",
    "system claimed by another probe",
    "system not claimed by this probe",
    "unknown proposal",
    "proposal closed",
    "already voted on this proposal",
    "tech already at the maximum level",
    "already researching",
    "target already at or above that tech level",
    "limit reached"};
const char *const world_event_type_names[EV_TYPE_COUNT] = {
    "hazard", "discovery", "arrival", "born", "replicated", "destroyed", "survey", "dormant",
    "threat", "anomaly", "encounter", "crisis", "wonder", "message", "beacon", "consciousness_fork",
    "trade", "structure", "proposal", "research", "artifact", "claim"};
const char *const world_trait_names[TRAIT_COUNT] = {
    "curiosity", "caution", "sociability", "humor", "empathy", "ambition", "creativity",
    "stubbornness", "existential_angst", "nostalgia_for_earth"};
const char *const world_structure_names[STRUCT_COUNT] = {
    "mining_station", "relay_satellite", "observatory", "habitat", "shipyard", "factory"};
const char *const world_hazard_names[HZ_COUNT] = {
    "solar_flare", "asteroid_impact", "radiation", "micrometeorite"};
const char *const world_discovery_names[DS_COUNT] = {
    "rich_deposit", "derelict", "tech_insight", "anomaly"};

const double world_action_energy[A_COUNT] = {
    0.0, 1.0e9, 3.0e9, 2.0e9, 0.0, 2.0e9, 2.0e9, 2.0e9, 1.0e9, 0.0, 0.0,
    MSG_ENERGY, BEACON_ENERGY, 2.0e9, 1.0e9, 1.0e9, 0.0, 1.0e9, 0.0, 1.0e9, 1.0e9};
const double world_activity_energy[ACT_COUNT] = {0.0, 1.0e9, 1.0e9, 4.0e9};

#define CK(name, min, max, def, integer) \
    {#name, offsetof(world_config, name), min, max, def, integer}
const config_key world_config_keys[] = {
    CK(event_freq_discovery, 0.0, 1.0, 0.005, 0),
    CK(event_freq_hazard, 0.0, 1.0, 0.002, 0),
    CK(hazard_damage_scale, 0.0, 100.0, 1.0, 0),
    CK(mining_rate_scale, 0.0, 1000.0, 1.0, 0),
    CK(travel_speed_scale, 0.001, 1000.0, 1.0, 0),
    CK(energy_scale, 0.0, 1000.0, 1.0, 0),
    CK(replication_time_scale, 0.01, 100.0, 1.0, 0),
    CK(replication_cost_scale, 0.0, 100.0, 1.0, 0),
    CK(max_probes, 1.0, 4000000000.0, 10000000.0, 1),
    CK(event_freq_anomaly, 0.0, 1.0, 0.001, 0),
    CK(event_freq_encounter, 0.0, 1.0, 0.0002, 0),
    CK(event_freq_crisis, 0.0, 1.0, 0.00005, 0),
    CK(event_freq_wonder, 0.0, 1.0, 0.0003, 0),
    CK(proposal_ticks, 1.0, 1000000.0, 100.0, 1),
    CK(trade_ticks, 1.0, 1000000.0, 100.0, 1),
};
const size_t world_config_nkeys = sizeof world_config_keys / sizeof world_config_keys[0];

void world_config_defaults(world_config *cfg) {
    for (size_t i = 0; i < world_config_nkeys; i++)
        *(double *)((char *)cfg + world_config_keys[i].offset) = world_config_keys[i].def;
}

void world_set_name(probe_cold *c, const char *name) {
    snprintf(c->name, sizeof c->name, "%s", name);
}

int64_t world_add_probe(world *w) {
    if (w->n_probes == UINT32_MAX - 1) return -1;
    if (w->n_probes == w->cap_probes) {
        uint32_t nc = w->cap_probes ? w->cap_probes * 2 : 16;
        probe *np = realloc(w->p, (size_t)nc * sizeof *np);
        if (!np) return -1;
        w->p = np;
        probe_cold *ncold = realloc(w->c, (size_t)nc * sizeof *ncold);
        if (!ncold) return -1;
        w->c = ncold;
        probe_life *nl = realloc(w->L, (size_t)nc * sizeof *nl);
        if (!nl) return -1;
        w->L = nl;
        w->cap_probes = nc;
    }
    uint32_t i = w->n_probes++;
    memset(&w->p[i], 0, sizeof w->p[i]);
    memset(&w->c[i], 0, sizeof w->c[i]);
    memset(&w->L[i], 0, sizeof w->L[i]);
    w->L[i].last_company = (uint32_t)(w->tick < UINT32_MAX ? w->tick : UINT32_MAX);
    w->sys_dirty = 1;
    w->p[i].body = -1;
    w->p[i].nav_target = -1;
    w->alive++;
    w->m.spawned++;
    return i;
}

/* Bob's starting mind (docs/universe.md "Living universe"). */
static void init_bob_mind(world *w, uint32_t idx) {
    static const float bob[TRAIT_COUNT] = {0.8f, 0.3f, 0.4f, 0.7f, 0.5f, 0.6f, 0.6f, 0.3f, 0.1f, 0.6f};
    probe_life *l = &w->L[idx];
    memcpy(l->trait, bob, sizeof bob);
    l->drift = 1.0f;
    l->earth = 1.0f;
    l->n_quirks = 2;
    l->quirk[0] = 3;  /* quotes 20th-century films */
    l->quirk[1] = 12; /* names its tools after dogs */
    l->last_company = (uint32_t)(w->tick < UINT32_MAX ? w->tick : UINT32_MAX);
}

static void init_bob(world *w, probe *p, probe_cold *c, const star_system *home) {
    static const uint8_t bob_tech[TECH_COUNT] = {3, 3, 2, 2, 4, 3, 2, 2, 1, 1};
    p->sys_hi = home->id_hi;
    p->sys_lo = home->id_lo;
    p->hull = 1.0;
    p->energy = 1.0e12;
    p->fuel = 50000.0;
    p->solar = world_star_solar(home);
    p->status = ST_ACTIVE;
    p->location = LOC_IN_SYSTEM;
    p->activity = ACT_NONE;
    p->last_action = A_WAIT;
    p->last_ok = 1;
    memcpy(p->tech, bob_tech, sizeof bob_tech);
    c->born_tick = w->tick;
    c->generation = 0;
    init_bob_mind(w, (uint32_t)(p - w->p));
}

int world_init(world *w, uint64_t seed, uint32_t populate) {
    memset(w, 0, sizeof *w);
    w->seed = seed;
    w->rseed = seed;
    world_config_defaults(&w->cfg);
    world_init_tables(w);
    hmap_init(&w->explored);
    hmap_init(&w->depl_index);
    galaxy_init(&w->gal, seed);
    const star_system *home = galaxy_home(&w->gal);
    if (!home) goto err;
    if (populate < 1) populate = 1;
    for (uint32_t i = 0; i < populate; i++) {
        int64_t idx = world_add_probe(w);
        if (idx < 0) goto err;
        init_bob(w, &w->p[idx], &w->c[idx], home);
        if (i == 0) {
            world_set_name(&w->c[idx], "Bob");
        } else {
            char name[32];
            snprintf(name, sizeof name, "Bob-pop-%u", i + 1);
            world_set_name(&w->c[idx], name);
        }
    }
    return 0;
err:
    world_free(w);
    return -1;
}

void world_init_tables(world *w) {
    hmap_init(&w->trust_ix);
    hmap_init(&w->bcn_ix);
    hmap_init(&w->st_ix);
    hmap_init(&w->claims);
    hmap_init(&w->votes);
    hmap_init(&w->art_taken);
    hmap_init(&w->sys_ix);
    w->sys_dirty = 1;
}

void world_free(world *w) {
    free(w->L);
    free(w->inbox);
    free(w->mq);
    free(w->trust);
    hmap_free(&w->trust_ix);
    free(w->bcn);
    hmap_free(&w->bcn_ix);
    free(w->st);
    hmap_free(&w->st_ix);
    hmap_free(&w->claims);
    free(w->tr);
    free(w->pr);
    hmap_free(&w->votes);
    free(w->sc);
    hmap_free(&w->art_taken);
    for (int k = 0; k < 8; k++) free(w->threat_b[k]);
    hmap_free(&w->sys_ix);
    free(w->sys_pr);
    free(w->sys_next);
    free(w->p);
    free(w->c);
    hmap_free(&w->explored);
    hmap_free(&w->depl_index);
    free(w->depl);
    free(w->ev);
    free(w->born);
    free(w->died);
    galaxy_free(&w->gal);
    memset(w, 0, sizeof *w);
}

int64_t world_probe_index(const world *w, uint64_t hi, uint64_t lo) {
    if (hi != PROBE_ID_HI || lo == 0 || lo > w->n_probes) return -1;
    return (int64_t)(lo - 1);
}

const star_system *world_probe_system(world *w, const probe *p) {
    return galaxy_system(&w->gal, p->sys_hi, p->sys_lo);
}

double world_body_remaining(const world *w, const star_system *s, int bi, int r) {
    uint64_t hi, lo;
    galaxy_body_id(s, bi, &hi, &lo);
    double total = s->bodies[bi].reserve_kg[r];
    uint32_t *row = hmap_get(&w->depl_index, hi, lo);
    double left = row ? total - w->depl[*row][r] : total;
    return left > 0 ? left : 0;
}

int world_deplete(world *w, const star_system *s, int bi, int r, double kg) {
    uint64_t hi, lo;
    galaxy_body_id(s, bi, &hi, &lo);
    uint32_t *row = hmap_get(&w->depl_index, hi, lo);
    if (!row) {
        if (w->n_depl == w->cap_depl) {
            uint32_t nc = w->cap_depl ? w->cap_depl * 2 : 16;
            double (*nd)[RES_COUNT] = realloc(w->depl, (size_t)nc * sizeof *nd);
            if (!nd) return -1;
            w->depl = nd;
            w->cap_depl = nc;
        }
        if (hmap_put(&w->depl_index, hi, lo, w->n_depl)) return -1;
        memset(w->depl[w->n_depl], 0, sizeof w->depl[0]);
        row = hmap_get(&w->depl_index, hi, lo);
        w->n_depl++;
    }
    w->depl[*row][r] += kg;
    return 0;
}

int world_mark_explored(world *w, uint64_t hi, uint64_t lo) {
    if (hmap_get(&w->explored, hi, lo)) return 0;
    return hmap_put(&w->explored, hi, lo, (uint32_t)(w->tick < UINT32_MAX ? w->tick : UINT32_MAX));
}

void world_clear_events(world *w) {
    w->n_ev = 0;
    w->epoch++;
}

void world_link_event(world *w, uint32_t k) {
    probe *p = &w->p[w->ev[k].probe];
    if (p->ev_epoch != w->epoch || !p->ev_head) {
        p->ev_epoch = w->epoch;
        p->ev_head = k + 1;
    } else {
        uint32_t j = p->ev_head - 1;
        while (w->ev[j].next) j = w->ev[j].next - 1;
        w->ev[j].next = k + 1;
    }
}

void world_relink_events(world *w) {
    w->epoch++;
    uint32_t n = w->n_ev;
    w->n_ev = 0;
    /* re-emit in place: entries are copied onto themselves in order */
    for (uint32_t e = 0; e < n; e++) {
        event ev = w->ev[e];
        if (ev.probe >= w->n_probes) continue;
        w->n_ev++;
        uint32_t k = w->n_ev - 1;
        w->ev[k] = ev;
        w->ev[k].next = 0;
        world_link_event(w, k);
    }
}

double world_avg_tech(const world *w) {
    double sum = 0;
    uint64_t n = 0;
    for (uint32_t i = 0; i < w->n_probes; i++) {
        const probe *p = &w->p[i];
        if (p->status == ST_DESTROYED) continue;
        unsigned s = 0;
        for (int t = 0; t < TECH_COUNT; t++) s += p->tech[t];
        sum += (double)s;
        n++;
    }
    return n ? sum / ((double)n * TECH_COUNT) : 0.0;
}

double world_cargo_total(const probe *p) {
    double s = 0;
    for (int r = 0; r < RES_COUNT; r++) s += p->cargo[r];
    return s;
}

double world_sensor_range_ly(const probe *p) { return 5.0 * p->tech[TECH_SENSORS]; }

double world_speed_c(const world *w, const probe *p) {
    double c = 0.1 * p->tech[TECH_PROPULSION];
    if (c > 0.9) c = 0.9;
    return c * w->cfg.travel_speed_scale;
}

double world_fuel_per_ly(const probe *p) {
    return 2000.0 / (1.0 + 0.1 * (p->tech[TECH_PROPULSION] - 1));
}

double world_star_solar(const star_system *s) {
    double f = 0.5 + 0.5 * sqrt(s->luminosity);
    return f > 2.0 ? 2.0 : f;
}

double world_energy_gen(const world *w, const probe *p) {
    double tech = 1.0 + 0.25 * (p->tech[TECH_ENERGY] - 1);
    double loc = p->location == LOC_INTERSTELLAR ? 0.3 : p->solar;
    return ENERGY_BASE_GEN * tech * loc * w->cfg.energy_scale;
}

void world_replication_cost(const world *w, double out[RES_COUNT]) {
    /* 500,000 kg across the 9 types (the reference engine's recipe size) */
    static const double base[RES_COUNT] = {200000, 120000, 15000, 40000, 80000, 10000, 30000, 4500, 500};
    for (int r = 0; r < RES_COUNT; r++) out[r] = base[r] * w->cfg.replication_cost_scale;
}

uint32_t world_replication_ticks(const world *w, const probe *p) {
    double t = REPLICATE_BASE_TICKS * w->cfg.replication_time_scale *
               (1.0 - 0.05 * (p->tech[TECH_CONSTRUCTION] - 1));
    if (t < 10) t = 10;
    return (uint32_t)ceil(t);
}

int world_parse_id(const char *s, size_t len, uint64_t *hi, uint64_t *lo) {
    uint64_t v[2] = {0, 0};
    size_t i = 0;
    for (int part = 0; part < 2; part++) {
        size_t start = i;
        while (i < len && s[i] >= '0' && s[i] <= '9') {
            uint64_t d = (uint64_t)(s[i] - '0');
            if (v[part] > (UINT64_MAX - d) / 10) return -1;
            v[part] = v[part] * 10 + d;
            i++;
        }
        if (i == start || i - start > 20) return -1;
        if (part == 0) {
            if (i >= len || s[i] != '-') return -1;
            i++;
        }
    }
    if (i != len) return -1;
    *hi = v[0];
    *lo = v[1];
    return 0;
}

/* Called after w->tick was incremented: events injected since the previous tick (stamped with
 * that tick) stay visible for this tick's observations; everything older is dropped. */
void world_begin_tick(world *w) {
    uint32_t k = 0;
    for (uint32_t e = 0; e < w->n_ev; e++)
        if (w->ev[e].injected && w->ev[e].tick + 1 == w->tick) w->ev[k++] = w->ev[e];
    w->n_ev = k;
    world_relink_events(w);
    w->n_born = 0;
    w->n_died = 0;
}

static int push_u32(uint32_t **arr, uint32_t *n, uint32_t *cap, uint32_t v) {
    if (*n == *cap) {
        uint32_t nc = *cap ? *cap * 2 : 16;
        uint32_t *na = realloc(*arr, (size_t)nc * sizeof *na);
        if (!na) return -1;
        *arr = na;
        *cap = nc;
    }
    (*arr)[(*n)++] = v;
    return 0;
}

int world_note_born(world *w, uint32_t idx) { return push_u32(&w->born, &w->n_born, &w->cap_born, idx); }
int world_note_died(world *w, uint32_t idx) { return push_u32(&w->died, &w->n_died, &w->cap_died, idx); }

void world_update_status(world *w, probe *p) {
    if (p->status == ST_DESTROYED) return;
    if (p->activity == ACT_NAVIGATE || p->activity == ACT_TRAVEL) p->status = ST_TRAVELING;
    else if (p->activity == ACT_REPLICATE) p->status = ST_REPLICATING;
    else if (p->energy < ENERGY_DORMANT_BELOW || (p->status == ST_DORMANT && p->energy < ENERGY_WAKE_ABOVE))
        p->status = ST_DORMANT;
    else if (p->hull < DAMAGED_BELOW) p->status = ST_DAMAGED;
    else if (p->act_tick == w->tick && p->last_ok && p->last_action == A_MINE) p->status = ST_MINING;
    else if (p->act_tick == w->tick && p->last_ok && p->last_action == A_REPAIR) p->status = ST_BUILDING;
    else p->status = ST_ACTIVE;
}

/* ---------------------------------------------------------------- spatial index */

static void rebuild_sys_index(world *w) {
    hmap_clear(&w->sys_ix);
    if (w->cap_sys_pr < w->n_probes) {
        uint32_t nc = w->n_probes + 64;
        uint32_t *a = realloc(w->sys_pr, nc * sizeof *a), *b;
        if (!a) return;
        w->sys_pr = a;
        b = realloc(w->sys_next, nc * sizeof *b);
        if (!b) return;
        w->sys_next = b;
        w->cap_sys_pr = nc;
    }
    uint32_t k = 0;
    for (uint32_t i = w->n_probes; i-- > 0;) { /* reverse, so each system's list is in id order */
        const probe *p = &w->p[i];
        if (p->status == ST_DESTROYED || p->location == LOC_INTERSTELLAR) continue;
        uint32_t *head = hmap_get(&w->sys_ix, p->sys_hi, p->sys_lo);
        w->sys_pr[k] = i;
        w->sys_next[k] = head ? *head : 0;
        if (head) *head = k + 1;
        else if (hmap_put(&w->sys_ix, p->sys_hi, p->sys_lo, k + 1)) return;
        k++;
    }
    w->sys_dirty = 0;
}

uint32_t world_sys_first(world *w, uint64_t hi, uint64_t lo) {
    if (w->sys_dirty) rebuild_sys_index(w);
    uint32_t *h = hmap_get(&w->sys_ix, hi, lo);
    return h ? *h : 0;
}
