/* observe_system.c -- the system views (see observe_system.h). Field names are part of the pipe
 * contract (docs/pipe-protocol.md). */
#include "observe_system.h"

#include "observe_life.h"
#include "observe_ref.h"
#include "rng.h"

#include <math.h>
#include <string.h>

/* Effective temperature of a star, derived from what the galaxy stores: L = 4 pi R^2 sigma T^4 in
 * solar units with the main-sequence radius R = M^0.8 (M < 1) or M^0.57, kept inside the
 * class's range, rounded to a kelvin. Not state. */
static double star_temp_k(const star_system *s) {
    static const double lo[STAR_CLASS_COUNT] = {30000, 10000, 7500, 6000, 5200, 3700, 2400};
    static const double hi[STAR_CLASS_COUNT] = {50000, 30000, 10000, 7500, 6000, 5200, 3700};
    double m = s->mass > 0.01 ? s->mass : 0.01;
    double r = m < 1.0 ? pow(m, 0.8) : pow(m, 0.57);
    double t = 5778.0 * pow(s->luminosity / (r * r), 0.25);
    int c = s->star_class % STAR_CLASS_COUNT;
    if (t < lo[c]) t = lo[c];
    if (t > hi[c]) t = hi[c];
    return round(t);
}

void observe_system_info(jbuf *b, world *w, const probe *p, const star_system *s, int ref) {
    const char *cls = galaxy_star_class_names[s->star_class];
    size_t nl = strlen(s->name), cl = strlen(cls);
    /* up to the planets: < 200 bytes of literals, an id, 3 doubles, 4 integers (< 300 together),
     * the name twice and the class name twice */
    const size_t bound = 512 + 2 * jw_str_max(nl) + 2 * jw_str_max(cl);
    char *o = jb_begin(b, bound);
    if (!o) return;
    const char *lim = o + bound;
    o = JW_LIT(o, "{\"id\":");
    o = jw_id(o, s->id_hi, s->id_lo);
    o = JW_KEY(o, "name");
    o = jw_str(o, s->name, nl);
    o = JW_KEY(o, "star_count");
    o = jw_u64(o, 1);
    o = JW_KEY(o, "planet_count");
    o = jw_u64(o, (uint64_t)observe_planet_count(s));
    o = JW_KEY(o, "stars");
    o = JW_LIT(o, "[{\"name\":");
    o = jw_str(o, s->name, nl);
    o = JW_KEY(o, "class");
    o = ref ? jw_u64(o, s->star_class) : jw_str(o, cls, cl);
    o = JW_KEY(o, "luminosity_solar");
    o = jw_double(o, s->luminosity);
    o = JW_KEY(o, "mass_solar");
    o = jw_double(o, s->mass);
    if (ref) {
        o = JW_KEY(o, "temp_k");
        o = jw_u64(o, (uint64_t)star_temp_k(s));
        o = JW_KEY(o, "class_name");
        o = jw_str(o, cls, cl);
    }
    o = JW_KEY(o, "metallicity");
    o = jw_double(o, world_q3(rng_unit(rng_hash3(w->seed ^ RNG_STREAM_PLANET, s->id_hi, s->id_lo)) * 0.6 - 0.3));
    o = JW_LIT(o, "}]");
    o = JW_KEY(o, "planets");
    *o++ = '[';
    jb_end(b, o, lim);
    for (int k = 0; k < s->n_bodies; k++) observe_planet(b, w, s, k, p->survey[k], ref);
    jb_putc(b, ']');
    jb_putc(b, '}');
}

void observe_system(jbuf *b, world *w, const star_system *s, const probe *viewer) {
    uint8_t level[GALAXY_MAX_BODIES] = {0};
    if (viewer) {
        if (viewer->sys_hi == s->id_hi && viewer->sys_lo == s->id_lo && viewer->location != LOC_INTERSTELLAR)
            memcpy(level, viewer->survey, sizeof level);
    } else {
        for (uint32_t i = 0; i < w->n_probes; i++) {
            const probe *p = &w->p[i];
            if (p->status == ST_DESTROYED || p->sys_hi != s->id_hi || p->sys_lo != s->id_lo ||
                p->location == LOC_INTERSTELLAR)
                continue;
            for (int bi = 0; bi < s->n_bodies; bi++)
                if (p->survey[bi] > level[bi]) level[bi] = p->survey[bi];
        }
    }
    JB_LIT(b, "{\"id\":");
    jb_id(b, s->id_hi, s->id_lo);
    JB_KEY(b, "name");
    jb_cstr(b, s->name);
    JB_KEY(b, "sector");
    observe_sector(b, s->sector);
    JB_KEY(b, "position");
    observe_vec3(b, s->pos);
    JB_KEY(b, "star");
    JB_LIT(b, "{\"class\":");
    jb_cstr(b, galaxy_star_class_names[s->star_class]);
    JB_KEY(b, "luminosity");
    jb_double(b, s->luminosity);
    JB_KEY(b, "mass");
    jb_double(b, s->mass);
    jb_putc(b, '}');
    JB_KEY(b, "explored");
    jb_bool(b, hmap_get(&w->explored, s->id_hi, s->id_lo) != NULL);
    JB_KEY(b, "bodies");
    jb_putc(b, '[');
    for (int bi = 0; bi < s->n_bodies; bi++) {
        const body *bd = &s->bodies[bi];
        uint64_t bh, bl;
        galaxy_body_id(s, bi, &bh, &bl);
        JB_SEP_LIT(b, "{\"id\":");
        jb_id(b, bh, bl);
        JB_KEY(b, "id_hi");
        jb_u64(b, bh);
        JB_KEY(b, "id_lo");
        jb_u64(b, bl);
        JB_KEY(b, "name");
        jb_cstr(b, bd->name);
        JB_KEY(b, "type");
        jb_cstr(b, galaxy_body_type_names[bd->type]);
        JB_KEY(b, "orbit_au");
        jb_double(b, bd->orbit_au);
        JB_KEY(b, "parent");
        if (bd->parent == 0xFF) jb_null(b);
        else {
            uint64_t ph, pl;
            galaxy_body_id(s, bd->parent, &ph, &pl);
            jb_id(b, ph, pl);
        }
        JB_KEY(b, "landable");
        jb_bool(b, bd->landable);
        JB_KEY(b, "survey_level");
        jb_u64(b, level[bi]);
        JB_KEY(b, "resources");
        observe_resources(b, w, s, bi, level[bi]);
        jb_putc(b, '}');
    }
    JB_LIT(b, "]}");
}
