/* events.c -- see events.h; rules in docs/universe.md ("Events"). */
#include "events.h"

#include "life.h"
#include "rng.h"

#include <math.h>
#include <stdlib.h>

/* Severity multiplier of solar flares by star class (O..M); M dwarfs are flare stars. */
static const double flare_class[STAR_CLASS_COUNT] = {2.0, 1.6, 1.3, 1.1, 1.0, 0.9, 1.2};

void events_hazard(world *w, uint32_t idx, int subtype, double severity) {
    probe *p = &w->p[idx];
    if (p->status == ST_DESTROYED) return;
    if (severity < 0) severity = 0;
    if (severity > 1) severity = 1;
    severity = world_q6(severity);
    double damage = world_q6(severity * 0.5 * w->cfg.hazard_damage_scale *
                             (1.0 - 0.06 * (p->tech[TECH_MATERIALS] - 1)));
    if (damage < 0) damage = 0;
    p->hull = world_q6(p->hull - damage);
    w->m.hazards++;
    world_emit(w, idx, EV_HAZARD, (uint8_t)subtype, 0, severity, damage);
    if (p->hull <= 1e-9) {
        world_destroy(w, idx);
    } else {
        w->m.hazards_survived++;
    }
}

static void add_cargo(probe *p, int r, double kg) {
    double room = CARGO_CAP - world_cargo_total(p);
    if (kg > room) kg = room;
    if (kg > 0) p->cargo[r] += kg;
}

void events_discovery(world *w, uint32_t idx, int subtype, uint64_t h) {
    probe *p = &w->p[idx];
    if (p->status == ST_DESTROYED) return;
    double value = 0.0;
    uint8_t arg = 0;
    const star_system *s = p->location == LOC_INTERSTELLAR ? NULL : world_probe_system(w, p);
    switch (subtype) {
    case DS_RICH_DEPOSIT: {
        /* a cache of the body's most abundant resource (or iron without a body) */
        int best = RES_IRON;
        if (s && p->body >= 0) {
            for (int r = 0; r < RES_COUNT; r++)
                if (s->bodies[p->body].abundance[r] > s->bodies[p->body].abundance[best]) best = r;
        }
        value = floor(100.0 + 400.0 * rng_unit(rng_mix64(h)));
        arg = (uint8_t)best;
        add_cargo(p, best, value);
        break;
    }
    case DS_DERELICT:
        value = floor(100.0 + 300.0 * rng_unit(rng_mix64(h)));
        arg = RES_IRON;
        add_cargo(p, RES_IRON, value);
        add_cargo(p, RES_SILICON, floor(value / 2));
        add_cargo(p, RES_RARE_EARTH, floor(value / 20));
        break;
    case DS_TECH_INSIGHT: {
        int t = (int)(rng_mix64(h) % TECH_COUNT);
        arg = (uint8_t)t;
        if (p->tech[t] < TECH_MAX) p->tech[t]++;
        value = p->tech[t];
        break;
    }
    default: /* anomaly: a few kg of exotic matter */
        arg = RES_EXOTIC;
        value = 1.0 + floor(9.0 * rng_unit(rng_mix64(h)));
        add_cargo(p, RES_EXOTIC, value);
        subtype = DS_ANOMALY;
        break;
    }
    w->m.discoveries++;
    world_emit(w, idx, EV_DISCOVERY, (uint8_t)subtype, arg, 0.0, value);
}

/* Conservative thresholds for the fast "nothing happens" path (most probe-ticks): if a draw is
 * above the largest chance any probe could have, no event can fire and the exact tests below are
 * skipped. Recomputed when the config changes (cheap: once per tick). */
static uint64_t thr32(double chance) {
    double t = ceil(chance * 4294967296.0) + 1.0;
    return t >= 4294967296.0 ? UINT64_MAX : (uint64_t)t;
}

void events_prepare(world *w) {
    const world_config *c = &w->cfg;
    w->thr_hz = thr32(c->event_freq_hazard * 1.5);
    w->thr_ds = thr32(c->event_freq_discovery * (1.0 + 0.1 * (TECH_MAX - 1)));
    double e = c->event_freq_anomaly + c->event_freq_encounter + c->event_freq_crisis + c->event_freq_wonder;
    double t = ceil(e * 9007199254740992.0) + 1.0;
    w->thr_enc = t >= 9007199254740992.0 ? UINT64_MAX : (uint64_t)t;
}

void events_roll(world *w, uint32_t idx) {
    probe *p = &w->p[idx];
    uint64_t h = rng_hash3(w->rseed ^ RNG_STREAM_EVENTS, idx, w->tick);
    if ((h & 0xFFFFFFFFu) > w->thr_hz && (h >> 32) > w->thr_ds &&
        (p->location == LOC_INTERSTELLAR || (rng_mix64(h ^ RNG_STREAM_ENCOUNTER) >> 11) > w->thr_enc))
        return; /* fast path: no event possible this tick */
    double u_hz = (double)(h & 0xFFFFFFFFu) * (1.0 / 4294967296.0);
    double u_ds = (double)(h >> 32) * (1.0 / 4294967296.0);
    double hz_mul = p->location == LOC_INTERSTELLAR ? 0.5 : p->location == LOC_LANDED ? 1.5 : 1.0;
    if (u_hz < w->cfg.event_freq_hazard * hz_mul) {
        uint64_t h2 = rng_hash3(w->rseed ^ RNG_STREAM_HAZARD, idx, w->tick);
        double u = rng_unit(h2);
        double sev = rng_unit(rng_mix64(h2));
        sev *= sev;
        int sub;
        if (p->location == LOC_INTERSTELLAR) {
            sub = u < 0.5 ? HZ_RADIATION : HZ_MICROMETEORITE;
        } else {
            double impact = p->location == LOC_LANDED ? 0.6 : 0.4;
            sub = u < impact ? HZ_ASTEROID_IMPACT : u < impact + 0.4 ? HZ_SOLAR_FLARE : HZ_RADIATION;
            if (sub == HZ_SOLAR_FLARE) {
                const star_system *s = world_probe_system(w, p);
                if (s) sev *= flare_class[s->star_class];
                if (sev > 1) sev = 1;
            }
        }
        events_threat(w, idx, sub, sev, 3 + (int)(rng_mix64(h2 ^ 0x3) % 3));
    }
    double ds_mul = (1.0 + 0.1 * (p->tech[TECH_SENSORS] - 1)) *
                    (p->location == LOC_INTERSTELLAR ? 0.25 : 1.0);
    if (u_ds < w->cfg.event_freq_discovery * ds_mul) {
        uint64_t h2 = rng_hash3(w->rseed ^ RNG_STREAM_DISCOVERY, idx, w->tick);
        double u = rng_unit(h2);
        int sub;
        if (p->location == LOC_INTERSTELLAR) sub = u < 0.5 ? DS_TECH_INSIGHT : DS_ANOMALY;
        else sub = u < 0.35 ? DS_RICH_DEPOSIT : u < 0.6 ? DS_DERELICT : u < 0.85 ? DS_TECH_INSIGHT : DS_ANOMALY;
        events_discovery(w, idx, sub, h2);
    }
    if (p->location == LOC_INTERSTELLAR) return;
    /* rarer in-system events share one more draw (mutually exclusive bands) */
    const world_config *c = &w->cfg;
    double u = rng_unit(rng_mix64(h ^ RNG_STREAM_ENCOUNTER)); /* one more mix of this tick's draw */
    double a = c->event_freq_anomaly, b = a + c->event_freq_encounter, d = b + c->event_freq_crisis,
           e = d + c->event_freq_wonder;
    if (u >= e) return;
    uint64_t h3 = rng_hash4(w->rseed ^ RNG_STREAM_ENCOUNTER, idx, w->tick, 1);
    int type = u < a ? EV_ANOMALY : u < b ? EV_ENCOUNTER : u < d ? EV_CRISIS : EV_WONDER;
    events_apply(w, idx, type, 0, rng_unit(h3), h3);
}

void events_threat(world *w, uint32_t idx, int subtype, double severity, int lead) {
    probe_life *l = &w->L[idx];
    probe *p = &w->p[idx];
    if (l->threat_tick > w->tick || p->status == ST_DESTROYED) return; /* one pending threat at a time */
    l->threat_tick = (uint32_t)(w->tick + (uint64_t)lead);
    l->threat_sub = (uint8_t)subtype;
    l->threat_sev = (float)world_q6(severity);
    l->threat_loc = p->location;
    l->threat_body = p->body;
    events_threat_push(w, idx);
    world_emit(w, idx, EV_THREAT, (uint8_t)subtype, 0, world_q6(severity), lead);
}

void events_threat_land(world *w, uint32_t idx) {
    probe_life *l = &w->L[idx];
    probe *p = &w->p[idx];
    l->threat_tick = 0;
    if (p->status == ST_DESTROYED) return;
    double sev = (double)l->threat_sev;
    switch (l->threat_sub) {
    case HZ_ASTEROID_IMPACT: /* dodged by moving away (another body, orbit change, departure) */
        if (p->location != l->threat_loc || p->body != l->threat_body) sev = 0.0;
        break;
    case HZ_SOLAR_FLARE: /* a planet's bulk shields a landed probe */
        if (p->location == LOC_LANDED) sev *= 0.3;
        break;
    case HZ_RADIATION: /* radiation fries compute more than hull */
        if (sev >= 0.5 && p->tech[TECH_COMPUTING] > 1) p->tech[TECH_COMPUTING]--;
        sev *= 0.3;
        break;
    default: break;
    }
    events_hazard(w, idx, l->threat_sub, sev);
}

static int survey_artifact(world *w, uint32_t idx) {
    probe *p = &w->p[idx];
    const star_system *s = world_probe_system(w, p);
    if (!s || p->body < 0) return 0;
    alien_life al;
    life_alien(w, s, p->body, &al);
    if (!al.artifacts) return 0;
    uint64_t hi, lo;
    galaxy_body_id(s, p->body, &hi, &lo);
    if (hmap_get(&w->art_taken, hi, lo)) return 0;
    hmap_put(&w->art_taken, hi, lo, (uint32_t)(w->tick < UINT32_MAX ? w->tick : UINT32_MAX));
    int t = (int)(rng_hash3(w->rseed ^ RNG_STREAM_LIFE, hi, lo) % TECH_COUNT);
    for (int k = 0; k < al.artifacts; k++)
        if (p->tech[t] < TECH_MAX) p->tech[t]++;
    w->artifacts_found++;
    world_emit(w, idx, EV_ARTIFACT, (uint8_t)al.artifacts, (uint8_t)t, 0.0, p->tech[t]);
    return 1;
}

static void add_kg(probe *p, int r, double kg) {
    double room = CARGO_CAP - world_cargo_total(p);
    if (kg > room) kg = room;
    if (kg > 0) p->cargo[r] = world_q3(p->cargo[r] + kg);
}

void events_apply(world *w, uint32_t idx, int type, int subtype, double severity, uint64_t h) {
    probe *p = &w->p[idx];
    if (p->status == ST_DESTROYED) return;
    if (severity < 0) severity = 0;
    if (severity > 1) severity = 1;
    switch (type) {
    case EV_HAZARD: events_hazard(w, idx, subtype % HZ_COUNT, severity); break;
    case EV_DISCOVERY: events_discovery(w, idx, subtype % DS_COUNT, h); break;
    case EV_THREAT: events_threat(w, idx, subtype % HZ_COUNT, severity, 3 + (int)(h % 3)); break;
    case EV_ANOMALY: {
        double kg = 1.0 + floor(9.0 * rng_unit(rng_mix64(h)));
        add_kg(p, RES_EXOTIC, kg);
        w->m.discoveries++;
        world_emit(w, idx, EV_ANOMALY, 0, RES_EXOTIC, 0.0, kg);
        break;
    }
    case EV_ENCOUNTER: {
        const star_system *s = p->location == LOC_INTERSTELLAR ? NULL : world_probe_system(w, p);
        int sub = 3, arg = 0;
        double value = 0;
        for (int bi = 0; s && bi < s->n_bodies && sub == 3; bi++) {
            alien_life al;
            life_alien(w, s, bi, &al);
            if (!al.level) continue;
            sub = al.extinct ? 2 : al.level >= LIFE_INTELLIGENT ? 1 : 0;
            arg = bi;
            value = al.level;
        }
        if (sub == 3) { /* a derelict alien probe: exotic matter */
            value = 20.0 + floor(80.0 * rng_unit(rng_mix64(h)));
            add_kg(p, RES_EXOTIC, value);
        }
        world_emit(w, idx, EV_ENCOUNTER, (uint8_t)sub, (uint8_t)arg, severity, value);
        break;
    }
    case EV_CRISIS: {
        double dmg = world_q6((0.1 + 0.2 * severity) * w->cfg.hazard_damage_scale);
        double frac = world_q6(0.1 + 0.2 * rng_unit(rng_mix64(h)));
        for (int r = 0; r < RES_COUNT; r++) p->cargo[r] = world_q3(floor(p->cargo[r] * (1.0 - frac) * 1000) / 1000);
        p->hull = world_q6(p->hull - dmg);
        if (p->hull < 0) p->hull = 0;
        world_emit(w, idx, EV_CRISIS, 0, 0, dmg > 1 ? 1 : dmg, frac);
        if (p->hull <= 1e-9) world_destroy(w, idx);
        break;
    }
    case EV_WONDER: world_emit(w, idx, EV_WONDER, (uint8_t)subtype, 0, severity, 0.0); break;
    default: break;
    }
}

void events_survey_levelup(world *w, uint32_t idx, int level) {
    uint64_t h = rng_hash4(w->rseed ^ RNG_STREAM_SURVEY, idx, w->tick, (uint64_t)level);
    if (level >= 4 && survey_artifact(w, idx)) return;
    if (rng_unit(h) < 0.1) {
        int sub = level >= 4 ? DS_TECH_INSIGHT : DS_RICH_DEPOSIT;
        events_discovery(w, idx, sub, rng_mix64(h));
    }
}

/* ---------------------------------------------------------------- threat buckets */

static int grow_u32(uint32_t **arr, uint32_t *cap, uint32_t need) {
    if (need <= *cap) return 0;
    uint32_t nc = *cap ? *cap * 2 : 16;
    while (nc < need) nc *= 2;
    uint32_t *na = realloc(*arr, (size_t)nc * sizeof *na);
    if (!na) return -1;
    *arr = na;
    *cap = nc;
    return 0;
}

static int cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

int events_threat_push(world *w, uint32_t idx) {
    int b = (int)(w->L[idx].threat_tick & 7);
    if (w->n_threat_b[b] == w->cap_threat_b[b] &&
        grow_u32(&w->threat_b[b], &w->cap_threat_b[b], w->n_threat_b[b] + 1))
        return -1;
    w->threat_b[b][w->n_threat_b[b]++] = idx;
    return 0;
}

void events_land_threats(world *w) {
    int b = (int)(w->tick & 7);
    uint32_t n = w->n_threat_b[b];
    if (!n) return;
    uint32_t *list = w->threat_b[b];
    qsort(list, n, sizeof *list, cmp_u32); /* id order, whatever order they were announced in */
    w->n_threat_b[b] = 0;
    for (uint32_t k = 0; k < n; k++) {
        if (k && list[k] == list[k - 1]) continue;
        if (w->L[list[k]].threat_tick == w->tick) events_threat_land(w, list[k]);
    }
}

void world_destroy(world *w, uint32_t idx) {
    probe *p = &w->p[idx];
    if (p->status == ST_DESTROYED) return;
    p->status = ST_DESTROYED;
    p->hull = 0.0;
    p->activity = ACT_NONE;
    p->ticks_left = 0;
    p->research = 0;
    w->sys_dirty = 1;
    w->alive--;
    w->m.destroyed++;
    world_note_died(w, idx);
    world_emit(w, idx, EV_DESTROYED, 0, 0, 0.0, 0.0);
}
