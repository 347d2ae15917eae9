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
    size_t kl[TRAIT_COUNT], bound = 64 + 2 * (32 + JW_DOUBLE_MAX); /* braces, key, the last two */
    for (int t = 0; t < TRAIT_COUNT; t++) {
        kl[t] = strlen(world_trait_names[t]);
        bound += kl[t] + 4 + JW_DOUBLE_MAX;
    }
    int comma = jb_need_comma(b);
    char *o = jb_begin(b, bound);
    if (!o) return;
    const char *lim = o + bound;
    o = comma ? JW_KEY(o, "personality") : JW_KEY0(o, "personality");
    *o++ = '{';
    for (int t = 0; t < TRAIT_COUNT; t++) {
        o = jw_key(o, world_trait_names[t], kl[t], t > 0);
        o = jw_double(o, world_q3((double)l->trait[t]));
    }
    o = JW_KEY(o, "drift_rate"); /* after the traits (TRAIT_COUNT > 0) */
    o = jw_double(o, world_q3((double)l->drift));
    o = JW_KEY(o, "earth_memory");
    o = jw_double(o, world_q3((double)l->earth));
    *o++ = '}';
    jb_end(b, o, lim);
    JB_KEY(b, "quirks");
    jb_putc(b, '[');
    for (int k = 0; k < l->n_quirks; k++) {
        jb_sep(b);
        jb_cstr(b, life_quirk_names[l->quirk[k] % QUIRK_COUNT]);
    }
    jb_putc(b, ']');
    char mono[256];
    life_monologue(w, idx, mono, sizeof mono);
    JB_KEY(b, "monologue");
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
    JB_SEP_LIT(b, "{\"tick\":");
    jb_u64(b, m->tick);
    JB_KEY(b, "type");
    if (ref) {
        jb_u64(b, (uint64_t)observe_ref_type(m->type));
        JB_KEY(b, "subtype");
        jb_u64(b, (uint64_t)observe_ref_subtype(m->type, m->subtype, m->arg));
        JB_KEY(b, "severity");
        jb_double(b, observe_mem_severity(m));
        JB_KEY(b, "description");
        jb_cstr(b, msg);
        JB_KEY(b, "kind");
    }
    jb_cstr(b, world_event_type_names[m->type % EV_TYPE_COUNT]);
}

static void write_mem_ref(jbuf *b, const mem_entry *m, double weight, int ref) {
    char msg[160];
    observe_mem_open(b, m, ref, msg, sizeof msg);
    JB_KEY(b, "weight");
    jb_double(b, world_q3(weight));
    JB_KEY(b, "text");
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
    JB_KEY(b, "memories");
    jb_putc(b, '[');
    for (int k = 0; k < n && k < max; k++) write_mem(b, &l->mem[order[k]], wt[order[k]]);
    jb_putc(b, ']');
}

void observe_history(jbuf *b, const world *w, uint32_t idx, int ref) {
    const probe_life *l = &w->L[idx];
    uint32_t n = l->hist_n < HIST_SLOTS ? l->hist_n : HIST_SLOTS;
    JB_KEY(b, "events");
    jb_putc(b, '[');
    for (uint32_t k = l->hist_n - n; k < l->hist_n; k++)
        write_mem_ref(b, &l->hist[k % HIST_SLOTS], l->hist[k % HIST_SLOTS].weight, ref);
    jb_putc(b, ']');
    JB_KEY(b, "events_total");
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
    const body *bd = &s->bodies[bi];
    const char *tname = galaxy_body_type_names[bd->type];
    size_t nl = strlen(bd->name), tl = strlen(tname);
    /* up to survey_complete: < 300 bytes of literals, an id, 10 doubles, 2 integers and 7 booleans
     * (< 750 together), and two strings */
    const size_t bound = 1024 + jw_str_max(nl) + jw_str_max(tl);
    int comma = jb_need_comma(b);
    char *o = jb_begin(b, bound);
    if (!o) return;
    const char *lim = o + bound;
    if (comma) *o++ = ',';
    o = JW_LIT(o, "{\"id\":");
    o = jw_id(o, hi, lo);
    o = JW_KEY(o, "name");
    o = jw_str(o, bd->name, nl);
    o = JW_KEY(o, "type");
    if (ref) {
        o = jw_u64(o, bd->type);
        o = JW_KEY(o, "type_name");
    }
    o = jw_str(o, tname, tl);
    o = JW_KEY(o, "orbit_au");
    o = jw_double(o, bd->orbit_au);
    if (ref) {
        o = JW_KEY(o, "orbital_radius_au");
        o = jw_double(o, bd->orbit_au);
        o = JW_KEY(o, "mass_earth");
        o = jw_double(o, body_mass_earth(bd->type, pp.radius_earth));
    }
    o = JW_KEY(o, "radius_earth");
    o = jw_double(o, pp.radius_earth);
    o = JW_KEY(o, "orbital_period_days");
    o = jw_double(o, pp.period_days);
    o = JW_KEY(o, "surface_temp_k");
    o = jw_double(o, pp.temp_k);
    o = JW_KEY(o, "atmosphere_pressure_atm");
    o = jw_double(o, pp.pressure_atm);
    o = JW_KEY(o, "water_coverage");
    o = jw_double(o, pp.water);
    o = JW_KEY(o, "magnetic_field");
    o = ref ? jw_double(o, pp.field) : jw_bool(o, pp.magnetic);
    o = JW_KEY(o, "rings");
    o = jw_bool(o, pp.rings);
    o = JW_KEY(o, "moon_count");
    o = jw_u64(o, (uint64_t)pp.moons);
    o = JW_KEY(o, "habitability");
    o = jw_double(o, pp.habitability);
    o = JW_KEY(o, "survey_complete");
    *o++ = '[';
    for (int k = 0; k < 5; k++) { /* level >= k+1; entries 3 and 4 both mean the deep survey (4) */
        if (k) *o++ = ',';
        o = jw_bool(o, level >= (k < 4 ? k + 1 : 4));
    }
    *o++ = ']';
    jb_end(b, o, lim);
    JB_KEY(b, "resources");
    if (ref) observe_resources_all(b, s, bi, level);
    else observe_resources_min(b, s, bi, level);
    alien_life al;
    life_alien(w, s, bi, &al);
    JB_KEY(b, "life");
    if (level >= 2 && al.level) {
        JB_LIT(b, "{\"level\":");
        jb_cstr(b, life_level_names[al.level]);
        JB_KEY(b, "extinct");
        jb_bool(b, al.extinct);
        JB_KEY(b, "biology");
        jb_cstr(b, al.biology);
        if (al.civ_name[0]) {
            JB_KEY(b, "civilization");
            JB_LIT(b, "{\"name\":");
            jb_cstr(b, al.civ_name);
            JB_KEY(b, "disposition");
            jb_cstr(b, al.disposition);
            JB_KEY(b, "culture");
            jb_cstr(b, al.culture);
            jb_putc(b, '}');
        }
        jb_putc(b, '}');
    } else {
        jb_null(b);
    }
    JB_KEY(b, "artifact");
    if (level >= 4 && al.artifacts) {
        JB_LIT(b, "{\"count\":");
        jb_u64(b, (uint64_t)al.artifacts);
        JB_KEY(b, "recovered");
        jb_bool(b, hmap_get(&w->art_taken, hi, lo) != NULL);
        JB_KEY(b, "origin");
        jb_cstr(b, al.extinct ? "extinct civilisation" : "unknown");
        jb_putc(b, '}');
    } else {
        jb_null(b);
    }
    jb_putc(b, '}');
}
