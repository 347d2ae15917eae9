/* observe_life.c -- JSON writers of a probe's mind and of planets (personality, memories, history,
 * planet with its life). See observe_life.h. Moved from life.c: the mechanics stay in life.c. */
#include "observe_life.h"

#include "life.h"
#include "observe_ref.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

void observe_personality(jbuf *b, const world *w, uint32_t idx) {
    const probe_life *l = &w->L[idx];
    jb_key(b, "personality");
    jb_putc(b, '{');
    for (int t = 0; t < TRAIT_COUNT; t++) {
        jb_key(b, world_trait_names[t]);
        jb_double(b, world_q3((double)l->trait[t]));
    }
    jb_key(b, "drift_rate");
    jb_double(b, world_q3((double)l->drift));
    jb_key(b, "earth_memory");
    jb_double(b, world_q3((double)l->earth));
    jb_putc(b, '}');
    jb_key(b, "quirks");
    jb_putc(b, '[');
    for (int k = 0; k < l->n_quirks; k++) {
        jb_sep(b);
        jb_cstr(b, life_quirk_names[l->quirk[k] % QUIRK_COUNT]);
    }
    jb_putc(b, ']');
    char mono[256];
    life_monologue(w, idx, mono, sizeof mono);
    jb_key(b, "monologue");
    jb_cstr(b, mono);
}

void observe_mem_open(jbuf *b, const mem_entry *m, int ref, char *msg, size_t msg_len) {
    event e;
    memset(&e, 0, sizeof e);
    e.tick = m->tick;
    e.type = m->type;
    e.subtype = m->subtype;
    e.arg = m->arg;
    e.value = m->value;
    if (ref) e.severity = observe_mem_severity(m); /* the reference text names it */
    life_event_text(&e, msg, msg_len);
    jb_sep(b);
    jb_puts(b, "{\"tick\":");
    jb_u64(b, m->tick);
    jb_key(b, "type");
    if (ref) {
        jb_u64(b, (uint64_t)observe_ref_type(m->type));
        jb_key(b, "subtype");
        jb_u64(b, (uint64_t)observe_ref_subtype(m->type, m->subtype, m->arg));
        jb_key(b, "severity");
        jb_double(b, observe_mem_severity(m));
        jb_key(b, "description");
        jb_cstr(b, msg);
        jb_key(b, "kind");
    }
    jb_cstr(b, world_event_type_names[m->type % EV_TYPE_COUNT]);
}

static void write_mem_ref(jbuf *b, const mem_entry *m, double weight, int ref) {
    char msg[160];
    observe_mem_open(b, m, ref, msg, sizeof msg);
    jb_key(b, "weight");
    jb_double(b, world_q3(weight));
    jb_key(b, "text");
    jb_cstr(b, msg);
    jb_putc(b, '}');
}

static void write_mem(jbuf *b, const mem_entry *m, double weight) { write_mem_ref(b, m, weight, 0); }

void observe_memories(jbuf *b, const world *w, uint32_t idx, int max) {
    const probe_life *l = &w->L[idx];
    int order[MEM_SLOTS], n = 0;
    double wt[MEM_SLOTS];
    for (int k = 0; k < MEM_SLOTS; k++) {
        if (l->mem[k].weight <= 0.0f) continue;
        wt[k] = life_mem_weight(&l->mem[k], w->tick);
        int j = n++;
        while (j > 0 && (wt[order[j - 1]] < wt[k] || (wt[order[j - 1]] == wt[k] && order[j - 1] > k))) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = k;
    }
    jb_key(b, "memories");
    jb_putc(b, '[');
    for (int k = 0; k < n && k < max; k++) write_mem(b, &l->mem[order[k]], wt[order[k]]);
    jb_putc(b, ']');
}

void observe_history(jbuf *b, const world *w, uint32_t idx, int ref) {
    const probe_life *l = &w->L[idx];
    uint32_t n = l->hist_n < HIST_SLOTS ? l->hist_n : HIST_SLOTS;
    jb_key(b, "events");
    jb_putc(b, '[');
    for (uint32_t k = l->hist_n - n; k < l->hist_n; k++)
        write_mem_ref(b, &l->hist[k % HIST_SLOTS], l->hist[k % HIST_SLOTS].weight, ref);
    jb_putc(b, ']');
    jb_key(b, "events_total");
    jb_u64(b, l->hist_n);
}

/* Mass of a body in Earth masses, derived from its radius and type (not state): solid bodies
 * M = R^3.7, ice giants R^2.1, gas giants R^2.4, an asteroid belt 0.0004; 3 significant digits. */
static double body_mass_earth(int type, double radius) {
    double m;
    switch (type) {
    case BODY_GAS_GIANT: m = pow(radius, 2.4); break;
    case BODY_ICE_GIANT: m = pow(radius, 2.1); break;
    case BODY_ASTEROID_BELT: m = 0.0004; break;
    default: m = pow(radius, 3.7);
    }
    if (!(m > 0.0)) return 0.0;
    double scale = pow(10.0, 2.0 - floor(log10(m)));
    return round(m * scale) / scale;
}

void observe_planet(jbuf *b, world *w, const star_system *s, int bi, int level, int ref) {
    planet_props pp;
    life_planet_props(w, s, bi, &pp);
    uint64_t hi, lo;
    galaxy_body_id(s, bi, &hi, &lo);
    jb_sep(b);
    jb_puts(b, "{\"id\":");
    jb_id(b, hi, lo);
    jb_key(b, "name");
    jb_cstr(b, s->bodies[bi].name);
    jb_key(b, "type");
    if (ref) {
        jb_u64(b, s->bodies[bi].type);
        jb_key(b, "type_name");
    }
    jb_cstr(b, galaxy_body_type_names[s->bodies[bi].type]);
    jb_key(b, "orbit_au");
    jb_double(b, s->bodies[bi].orbit_au);
    if (ref) {
        jb_key(b, "orbital_radius_au");
        jb_double(b, s->bodies[bi].orbit_au);
        jb_key(b, "mass_earth");
        jb_double(b, body_mass_earth(s->bodies[bi].type, pp.radius_earth));
    }
    jb_key(b, "radius_earth");
    jb_double(b, pp.radius_earth);
    jb_key(b, "orbital_period_days");
    jb_double(b, pp.period_days);
    jb_key(b, "surface_temp_k");
    jb_double(b, pp.temp_k);
    jb_key(b, "atmosphere_pressure_atm");
    jb_double(b, pp.pressure_atm);
    jb_key(b, "water_coverage");
    jb_double(b, pp.water);
    jb_key(b, "magnetic_field");
    if (ref) jb_double(b, pp.field);
    else jb_bool(b, pp.magnetic);
    jb_key(b, "rings");
    jb_bool(b, pp.rings);
    jb_key(b, "moon_count");
    jb_u64(b, (uint64_t)pp.moons);
    jb_key(b, "habitability");
    jb_double(b, pp.habitability);
    jb_key(b, "survey_complete");
    jb_putc(b, '[');
    for (int k = 0; k < 5; k++) { /* level >= k+1; entries 3 and 4 both mean the deep survey (4) */
        jb_sep(b);
        jb_bool(b, level >= (k < 4 ? k + 1 : 4));
    }
    jb_putc(b, ']');
    jb_key(b, "resources");
    if (ref) observe_resources_all(b, s, bi, level);
    else observe_resources_min(b, s, bi, level);
    alien_life al;
    life_alien(w, s, bi, &al);
    jb_key(b, "life");
    if (level >= 2 && al.level) {
        jb_puts(b, "{\"level\":");
        jb_cstr(b, life_level_names[al.level]);
        jb_key(b, "extinct");
        jb_bool(b, al.extinct);
        jb_key(b, "biology");
        jb_cstr(b, al.biology);
        if (al.civ_name[0]) {
            jb_key(b, "civilization");
            jb_puts(b, "{\"name\":");
            jb_cstr(b, al.civ_name);
            jb_key(b, "disposition");
            jb_cstr(b, al.disposition);
            jb_key(b, "culture");
            jb_cstr(b, al.culture);
            jb_putc(b, '}');
        }
        jb_putc(b, '}');
    } else {
        jb_null(b);
    }
    jb_key(b, "artifact");
    if (level >= 4 && al.artifacts) {
        jb_puts(b, "{\"count\":");
        jb_u64(b, (uint64_t)al.artifacts);
        jb_key(b, "recovered");
        jb_bool(b, hmap_get(&w->art_taken, hi, lo) != NULL);
        jb_key(b, "origin");
        jb_cstr(b, al.extinct ? "extinct civilisation" : "unknown");
        jb_putc(b, '}');
    } else {
        jb_null(b);
    }
    jb_putc(b, '}');
}
