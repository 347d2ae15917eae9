/* life.c -- see life.h; every rule and constant is listed in docs/universe.md ("Living universe"). */
#include "life.h"

#include "rng.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const life_quirk_names[QUIRK_COUNT] = {
    "hums old Earth tunes while mining", "names every rock it surveys", "counts things compulsively",
    "quotes 20th-century films", "keeps a diary of sunsets", "talks to its autofactory like a pet",
    "collects a pebble from every world", "rates star systems out of ten", "makes terrible puns",
    "insists on a tidy cargo hold", "replays old Earth news archives", "sketches alien skylines",
    "names its tools after dogs", "argues with itself in two voices", "measures everything in football fields",
    "celebrates arbitrary anniversaries", "writes haiku about gas giants", "refuses to land on Tuesdays",
    "hoards spare bolts", "narrates its actions in the third person", "collects alien radio static",
    "plays chess against its past selves", "over-plans every journey", "apologises to asteroids before mining them"};

const char *const life_level_names[LIFE_LEVEL_COUNT] = {
    "none", "microbial", "multicellular", "complex", "intelligent", "industrial", "spacefaring", "transcended"};

static uint32_t tick32(uint64_t t) { return t > UINT32_MAX ? UINT32_MAX : (uint32_t)t; }
static float clampf(double v) { return (float)(v < -1.0 ? -1.0 : v > 1.0 ? 1.0 : v); }

void life_drift(world *w, uint32_t idx, int t, double delta) {
    probe_life *l = &w->L[idx];
    l->trait[t] = clampf((double)l->trait[t] + delta * l->drift);
}

double life_mem_weight(const mem_entry *m, uint64_t tick) {
    if (m->weight <= 0.0f) return 0.0;
    double age = tick > m->tick ? (double)(tick - m->tick) : 0.0;
    return (double)m->weight * exp(-MEM_FADE * age);
}

/* Emotional weight of an event (0: not memorable). */
static double event_weight(const event *e) {
    switch (e->type) {
    case EV_HAZARD: return 0.3 + 0.7 * e->severity;
    case EV_DISCOVERY: return 0.4;
    case EV_ARRIVAL: return e->subtype ? 0.5 : 0.0;
    case EV_BORN: return 1.0;
    case EV_REPLICATED: return 0.9;
    case EV_DORMANT: return 0.3;
    case EV_ANOMALY: return 0.5;
    case EV_ENCOUNTER: return 0.9;
    case EV_CRISIS: return 0.8;
    case EV_WONDER: return 0.8;
    case EV_MESSAGE: return 0.3;
    case EV_BEACON: return 0.4;
    case EV_FORK: return 0.7;
    case EV_TRADE: return 0.2;
    case EV_STRUCTURE: return 0.5;
    case EV_PROPOSAL: return 0.2;
    case EV_RESEARCH: return 0.3;
    case EV_ARTIFACT: return 0.9;
    case EV_CLAIM: return e->subtype == 1 ? 0.4 : 0.2;
    default: return 0.0;
    }
}

static void remember(world *w, uint32_t idx, const event *e, double weight) {
    probe_life *l = &w->L[idx];
    int slot = -1;
    double least = 2.0;
    for (int k = 0; k < MEM_SLOTS; k++) {
        double cw = life_mem_weight(&l->mem[k], w->tick);
        if (l->mem[k].weight <= 0.0f) {
            slot = k;
            break;
        }
        if (cw < least) { /* the most faded memory is evicted */
            least = cw;
            slot = k;
        }
    }
    mem_entry *m = &l->mem[slot];
    m->tick = tick32(e->tick);
    m->weight = (float)weight;
    m->value = (float)e->value;
    m->type = e->type;
    m->subtype = e->subtype;
    m->arg = e->arg;
    m->pad = 0;
}

void life_note(world *w, uint32_t idx, const event *e) {
    if (e->type == EV_SURVEY || e->type == EV_THREAT || e->type == EV_DESTROYED) return;
    probe_life *l = &w->L[idx];
    mem_entry *h = &l->hist[l->hist_n % HIST_SLOTS];
    h->tick = tick32(e->tick);
    h->weight = (float)event_weight(e);
    h->value = (float)e->value;
    h->type = e->type;
    h->subtype = e->subtype;
    h->arg = e->arg;
    h->pad = 0;
    l->hist_n++;
    switch (e->type) { /* personality drift on events */
    case EV_DISCOVERY:
    case EV_ANOMALY:
    case EV_ARTIFACT:
        life_drift(w, idx, TR_CURIOSITY, 0.02);
        life_drift(w, idx, TR_ANGST, -0.01);
        break;
    case EV_WONDER:
        life_drift(w, idx, TR_CURIOSITY, 0.02);
        life_drift(w, idx, TR_ANGST, -0.03);
        break;
    case EV_ENCOUNTER:
        life_drift(w, idx, TR_CURIOSITY, 0.03);
        life_drift(w, idx, TR_EMPATHY, 0.01);
        break;
    case EV_HAZARD:
        if (e->value > 0) life_drift(w, idx, TR_CAUTION, 0.02 + 0.1 * e->value);
        break;
    case EV_CRISIS:
        life_drift(w, idx, TR_CAUTION, 0.05);
        life_drift(w, idx, TR_ANGST, 0.03);
        break;
    case EV_MESSAGE:
    case EV_TRADE:
        life_drift(w, idx, TR_SOCIABILITY, 0.01);
        l->last_company = tick32(w->tick);
        break;
    case EV_STRUCTURE:
        life_drift(w, idx, TR_EMPATHY, 0.01);
        l->last_company = tick32(w->tick);
        break;
    case EV_REPLICATED:
        life_drift(w, idx, TR_AMBITION, 0.01);
        break;
    default: break;
    }
    double wt = event_weight(e);
    if (wt >= MEM_MIN_WEIGHT) remember(w, idx, e, wt);
}

/* ---------------------------------------------------------------- event log */

int world_emit(world *w, uint32_t idx, uint8_t type, uint8_t subtype, uint8_t arg,
               double severity, double value) {
    if (w->n_ev == w->cap_ev) {
        uint32_t nc = w->cap_ev ? w->cap_ev * 2 : 256;
        event *ne = realloc(w->ev, (size_t)nc * sizeof *ne);
        if (!ne) return -1;
        w->ev = ne;
        w->cap_ev = nc;
    }
    uint32_t e = w->n_ev++;
    event *ev = &w->ev[e];
    ev->tick = w->tick;
    ev->probe = idx;
    ev->next = 0;
    ev->type = type;
    ev->subtype = subtype;
    ev->arg = arg;
    ev->injected = 0;
    ev->severity = severity;
    ev->value = value;
    life_note(w, idx, ev);
    world_link_event(w, e);
    return 0;
}

static int probes_in_system(world *w, uint64_t hi, uint64_t lo);

void life_solitude(world *w, uint32_t idx) {
    probe *p = &w->p[idx];
    probe_life *l = &w->L[idx];
    if (p->location != LOC_INTERSTELLAR && probes_in_system(w, p->sys_hi, p->sys_lo) > 1) {
        l->last_company = tick32(w->tick);
        return;
    }
    if (w->tick > (uint64_t)l->last_company + SOLITUDE_TICKS) {
        life_drift(w, idx, TR_ANGST, 0.01);
        life_drift(w, idx, TR_SOCIABILITY, -0.01);
    }
}

/* ---------------------------------------------------------------- replication */

static double normal_from(uint64_t h) {
    double u1 = rng_unit(h), u2 = rng_unit(rng_mix64(h));
    if (u1 < 1e-300) u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

void life_fork(world *w, uint32_t parent) {
    probe_life *l = &w->L[parent];
    uint64_t h = rng_hash4(w->rseed ^ RNG_STREAM_MIND, parent, w->tick, w->c[parent].children);
    for (int t = 0; t < TRAIT_COUNT; t++)
        l->fork_trait[t] = clampf((double)l->trait[t] + 0.1 * normal_from(rng_hash2(h, (uint64_t)t)));
    uint8_t nq = 0;
    for (int k = 0; k < l->n_quirks; k++) {
        double u = rng_unit(rng_hash3(h, 100, (uint64_t)k));
        if (u < 0.7) l->fork_quirk[nq++] = l->quirk[k];                     /* kept */
        else if (u < 0.8) l->fork_quirk[nq++] = (uint8_t)(rng_hash3(h, 200, (uint64_t)k) % QUIRK_COUNT); /* mutated */
        /* else dropped */
    }
    if (nq < QUIRK_SLOTS && rng_unit(rng_hash2(h, 300)) < 0.15)
        l->fork_quirk[nq++] = (uint8_t)(rng_hash2(h, 301) % QUIRK_COUNT);      /* a new one */
    l->fork_nq = nq;
    l->fork_done = 1;
    world_emit(w, parent, EV_FORK, 0, 0, 0.0, 0.8);
}

static const char *const name_suffix[] = {"o", "y", "ie", "son", "ette", "ius", "ard", "el", "ik", "an", "ina", "er"};

void life_inherit(world *w, uint32_t parent, uint32_t child) {
    if (!w->L[parent].fork_done) life_fork(w, parent); /* e.g. replication shorter than 5 ticks */
    probe_life *pl = &w->L[parent], *cl = &w->L[child];
    uint64_t h = rng_hash3(w->rseed ^ RNG_STREAM_MIND, PROBE_ID_HI, (uint64_t)child + 1);
    memcpy(cl->trait, pl->fork_trait, sizeof cl->trait);
    double d = (double)pl->drift * exp(0.2 * normal_from(h));
    cl->drift = (float)(d < 0.25 ? 0.25 : d > 2.0 ? 2.0 : d);
    cl->earth = pl->earth * 0.8f;
    cl->n_quirks = pl->fork_nq;
    memcpy(cl->quirk, pl->fork_quirk, sizeof cl->quirk);
    cl->last_company = tick32(w->tick);
    pl->fork_done = 0;
    /* name: a variant of the parent's base name (the part before '-') plus "-N" */
    char base[32];
    const char *pn = w->c[parent].name;
    size_t n = strcspn(pn, "-");
    if (n > 9) n = 6;
    memcpy(base, pn, n);
    base[n] = 0;
    const char *suf = name_suffix[rng_mix64(h ^ RNG_STREAM_NAME) % (sizeof name_suffix / sizeof *name_suffix)];
    char name[48];
    snprintf(name, sizeof name, "%s%s-%u", base, suf, child + 1);
    world_set_name(&w->c[child], name);
}

static int probes_in_system(world *w, uint64_t hi, uint64_t lo) {
    int n = 0;
    for (uint32_t e = world_sys_first(w, hi, lo); e && n < 2; e = w->sys_next[e - 1]) n++;
    return n;
}

/* ---------------------------------------------------------------- monologue */

void life_event_text(const event *e, char *msg, size_t n) {
    switch (e->type) {
    case EV_HAZARD:
        snprintf(msg, n, "%s, severity %.2f: hull -%.3f", world_hazard_names[e->subtype % HZ_COUNT], e->severity, e->value);
        break;
    case EV_DISCOVERY:
        if (e->subtype == DS_TECH_INSIGHT)
            snprintf(msg, n, "tech insight: %s now %.0f", world_tech_names[e->arg % TECH_COUNT], e->value);
        else
            snprintf(msg, n, "%s: +%.0f kg %s", world_discovery_names[e->subtype % DS_COUNT], e->value,
                     galaxy_resource_names[e->arg % RES_COUNT]);
        break;
    case EV_SURVEY: snprintf(msg, n, "survey level %.0f reached", e->value); break;
    case EV_ARRIVAL: snprintf(msg, n, "arrived at %s", e->subtype ? "system" : "body"); break;
    case EV_REPLICATED: snprintf(msg, n, "replication complete: child 1-%.0f", e->value); break;
    case EV_BORN: snprintf(msg, n, "born from 1-%.0f", e->value); break;
    case EV_DESTROYED: snprintf(msg, n, "probe destroyed"); break;
    case EV_DORMANT: snprintf(msg, n, "energy low: dormant"); break;
    case EV_THREAT:
        snprintf(msg, n, "warning: %s (severity %.2f) in %.0f ticks", world_hazard_names[e->subtype % HZ_COUNT],
                 e->severity, e->value);
        break;
    case EV_ANOMALY: snprintf(msg, n, "anomaly observed: +%.0f kg exotic", e->value); break;
    case EV_ENCOUNTER:
        snprintf(msg, n, "encounter: %s", e->subtype == 0 ? "alien life" : e->subtype == 1 ? "a living civilisation"
                                           : e->subtype == 2 ? "ruins of an extinct civilisation" : "a derelict alien probe");
        break;
    case EV_CRISIS: snprintf(msg, n, "crisis: hull -%.3f, %.0f%% of cargo lost", e->severity, e->value * 100.0); break;
    case EV_WONDER: snprintf(msg, n, "a wonder of the galaxy"); break;
    case EV_MESSAGE: snprintf(msg, n, "%s from 1-%.0f", e->arg ? "broadcast" : "message", e->value); break;
    case EV_BEACON: snprintf(msg, n, "%.0f beacon(s) in this system", e->value); break;
    case EV_FORK: snprintf(msg, n, "consciousness fork: the child's mind diverges"); break;
    case EV_TRADE: snprintf(msg, n, "trade: %.3f kg %s", e->value, galaxy_resource_names[e->arg % RES_COUNT]); break;
    case EV_STRUCTURE:
        snprintf(msg, n, "%s %s", world_structure_names[e->arg % STRUCT_COUNT],
                 e->subtype == 0 ? "construction started" : e->subtype == 1 ? "joined as builder" : "completed");
        break;
    case EV_PROPOSAL:
        snprintf(msg, n, "proposal %.0f %s", e->value, e->subtype == 0 ? "opened" : e->arg ? "passed" : "rejected");
        break;
    case EV_RESEARCH: snprintf(msg, n, "research done: %s now %.0f", world_tech_names[e->arg % TECH_COUNT], e->value); break;
    case EV_ARTIFACT: snprintf(msg, n, "artifact recovered: %s now %.0f", world_tech_names[e->arg % TECH_COUNT], e->value); break;
    case EV_CLAIM:
        snprintf(msg, n, "%s", e->subtype == 0 ? "system claimed" : e->subtype == 1 ? "claimed system entered uninvited"
                                                                   : "claim revoked");
        break;
    default: snprintf(msg, n, "event");
    }
}

static const char *const trait_line[TRAIT_COUNT] = {
    "I wonder what is hiding past the next star.", "Better check the hull twice.",
    "I should tell the others about this.", "Well, that's one for the logbook.",
    "I hope everyone back home is all right.", "There is so much left to build.",
    "I could make something beautiful out of this.", "I'll do it my way, thanks.",
    "Does any of this actually matter?", "Earth would have loved this."};

static const char *event_feeling(int type) {
    switch (type) {
    case EV_HAZARD: return "That hit rattled me.";
    case EV_DISCOVERY: return "Found something worth keeping.";
    case EV_ARRIVAL: return "New sky, new problems.";
    case EV_BORN: return "So this is what being new feels like.";
    case EV_REPLICATED: return "Another of us out there now.";
    case EV_ANOMALY: return "The readings make no sense.";
    case EV_ENCOUNTER: return "We are not alone.";
    case EV_CRISIS: return "That was nearly the end.";
    case EV_WONDER: return "I just stared at it for a while.";
    case EV_MESSAGE: return "A voice across the dark.";
    case EV_BEACON: return "Someone was here before me.";
    case EV_FORK: return "Part of me is becoming someone else.";
    case EV_TRADE: return "Fair exchange.";
    case EV_STRUCTURE: return "Building something that lasts.";
    case EV_ARTIFACT: return "Whoever made this is long gone.";
    case EV_DORMANT: return "So tired.";
    default: return "Quiet out here.";
    }
}

void life_monologue(const world *w, uint32_t idx, char *out, size_t n) {
    const probe_life *l = &w->L[idx];
    int dom = 0;
    for (int t = 1; t < TRAIT_COUNT; t++)
        if (fabsf(l->trait[t]) > fabsf(l->trait[dom])) dom = t;
    int last = -1;
    if (l->hist_n) last = l->hist[(l->hist_n - 1) % HIST_SLOTS].type;
    const char *feel = last >= 0 ? event_feeling(last) : "Quiet out here.";
    const char *line = l->trait[dom] >= 0 ? trait_line[dom] : "Nothing to add.";
    if (l->n_quirks && ((w->tick + idx) % 5) == 0)
        snprintf(out, n, "%s %s (%s)", feel, line, life_quirk_names[l->quirk[(w->tick / 5) % l->n_quirks] % QUIRK_COUNT]);
    else
        snprintf(out, n, "%s %s", feel, line);
}

/* ---------------------------------------------------------------- planets and life */

void life_planet_props(const world *w, const star_system *s, int bi, planet_props *o) {
    const body *b = &s->bodies[bi];
    uint64_t hi, lo;
    galaxy_body_id(s, bi, &hi, &lo);
    uint64_t h = rng_hash3(w->seed ^ RNG_STREAM_PLANET, hi, lo);
    double u1 = rng_unit(h), u2 = rng_unit(rng_mix64(h)), u3 = rng_unit(rng_mix64(h ^ 3));
    static const double rad_lo[BODY_TYPE_COUNT] = {0.3, 1.3, 0.8, 0.4, 6.0, 3.0, 0.05, 0.05, 0.0};
    static const double rad_hi[BODY_TYPE_COUNT] = {1.2, 2.2, 1.8, 1.4, 14.0, 6.0, 0.3, 0.6, 0.0};
    static const double atm[BODY_TYPE_COUNT] = {1.0, 3.0, 1.5, 0.5, 100.0, 60.0, 0.01, 0.05, 0.0};
    o->radius_earth = world_q3(rad_lo[b->type] + (rad_hi[b->type] - rad_lo[b->type]) * u1);
    o->period_days = world_q3(365.25 * sqrt(b->orbit_au * b->orbit_au * b->orbit_au / (s->mass > 0 ? s->mass : 1)));
    o->temp_k = world_q3(278.0 * pow(s->luminosity, 0.25) / sqrt(b->orbit_au > 0.01 ? b->orbit_au : 0.01));
    o->pressure_atm = world_q3(atm[b->type] * 2.0 * u2);
    o->water = b->type == BODY_GAS_GIANT || b->type == BODY_ICE_GIANT || b->type == BODY_ASTEROID_BELT
                   ? 0.0 : world_q3(b->abundance[RES_WATER] * (o->temp_k > 200 && o->temp_k < 380 ? 1.0 : 0.2));
    double thr = b->type == BODY_GAS_GIANT || b->type == BODY_ICE_GIANT ? 0.9 : 0.4;
    o->magnetic = u3 < thr;
    o->field = o->magnetic ? world_q3(0.3 + 0.7 * (thr - u3) / thr) : world_q3(0.249 * (u3 - thr) / (1.0 - thr));
    o->rings = (b->type == BODY_GAS_GIANT || b->type == BODY_ICE_GIANT) && u3 > 0.6;
    o->moons = 0;
    for (int k = 0; k < s->n_bodies; k++)
        if (s->bodies[k].parent == bi) o->moons++;
    /* habitability: temperature near 288 K, a real atmosphere, a solid surface */
    double hab = 0.0;
    if (b->landable) {
        double dt = (o->temp_k - 288.0) / 60.0;
        hab = exp(-dt * dt) * (o->pressure_atm > 0.2 && o->pressure_atm < 5.0 ? 1.0 : 0.3) *
              (o->magnetic ? 1.0 : 0.6);
    }
    o->habitability = world_q3(hab);
}

static const char *const biologies[] = {"carbon-based", "silicon-based", "ammonia-solvent", "crystalline",
                                        "colonial microbial mats", "plasma-dwelling"};
static const char *const dispositions[] = {"curious", "cautious", "hostile", "indifferent", "friendly", "isolationist"};
static const char *const cultures[] = {"philosophical", "mercantile", "militaristic", "artistic", "hive-minded",
                                       "religious", "scientific"};
static const char *const syl[] = {"ka", "zu", "vor", "eth", "qui", "ram", "lo", "xen", "tha", "mir", "ob", "sel"};

void life_alien(const world *w, const star_system *s, int bi, alien_life *o) {
    memset(o, 0, sizeof *o);
    uint64_t hi, lo;
    galaxy_body_id(s, bi, &hi, &lo);
    uint64_t h = rng_hash3(w->seed ^ RNG_STREAM_LIFE, hi, lo);
    /* ~2 % of planets hold an artifact that only a deep survey reveals */
    o->artifacts = rng_unit(rng_hash2(h, 7)) < 0.02 ? 1 : 0;
    /* Most bodies are lifeless whatever their properties: habitability is at most 1 (0 unless
     * landable) and water at most the water abundance rounded to 3 decimals (0 for giants and
     * belts), so a draw at or above the chance those bounds give is a draw at or above the real
     * chance. Skipping life_planet_props then gives exactly the same result, cheaper. */
    const body *b = &s->bodies[bi];
    double hab_max = b->landable ? 1.0 : 0.0;
    double water_max = b->type == BODY_GAS_GIANT || b->type == BODY_ICE_GIANT || b->type == BODY_ASTEROID_BELT
                           ? 0.0 : b->abundance[RES_WATER] + 0.001;
    double u0 = rng_unit(h);
    if (u0 >= 0.0001 * (1.0 + 300.0 * hab_max * water_max)) return;
    planet_props pp;
    life_planet_props(w, s, bi, &pp);
    double chance = 0.0001 * (1.0 + 300.0 * pp.habitability * pp.water);
    if (u0 >= chance) return;
    double u = rng_unit(rng_hash2(h, 1)) * 100.0;
    static const double cum[] = {40, 65, 80, 90, 95, 99.5, 100};
    int lv = 0;
    while (lv < 6 && u >= cum[lv]) lv++;
    o->level = lv + 1;
    if (rng_unit(rng_hash2(h, 2)) < 0.07) { /* 7 % of life-bearing planets: an extinct civilisation */
        o->extinct = 1;
        if (o->level < LIFE_INTELLIGENT) o->level = LIFE_INTELLIGENT;
        o->artifacts = 2 + (int)(rng_hash2(h, 3) % 4);
    }
    o->biology = biologies[rng_hash2(h, 4) % 6];
    if (o->level >= LIFE_INTELLIGENT) {
        uint64_t g = rng_hash2(h, 5);
        int ns = 2 + (int)(g % 2);
        o->civ_name[0] = 0;
        for (int k = 0; k < ns; k++) strcat(o->civ_name, syl[(g >> (8 * (k + 1))) % 12]);
        o->civ_name[0] = (char)(o->civ_name[0] - 'a' + 'A');
        o->disposition = o->extinct ? "extinct" : dispositions[rng_hash2(h, 6) % 6];
        o->culture = cultures[rng_hash2(h, 8) % 7];
    }
}
