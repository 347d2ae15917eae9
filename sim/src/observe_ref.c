/* observe_ref.c -- resource views and the reference numbering (see observe_ref.h). Field names
 * are part of the pipe contract (docs/pipe-protocol.md). */
#include "observe_ref.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* Abundance of resource r as survey level reveals it: 0 below level 1, rounded to 0.1 at level 1
 * and to 0.01 at level 2, exact from level 3. */
static double revealed_abundance(const star_system *s, int bi, int r, int level) {
    double a = level >= 1 ? s->bodies[bi].abundance[r] : 0.0;
    if (level == 1) a = round(a * 10.0) / 10.0;
    else if (level == 2) a = round(a * 100.0) / 100.0;
    return a;
}

/* The keys "iron": ... of the resources, built at compile time: each is copied as a whole slot
 * (one fixed-size move) and the cursor advances by its length. */
#define RES_KEY(n) {"\"" n "\":", sizeof("\"" n "\":") - 1},
static const struct {
    char k[16]; /* the key, then zeros */
    size_t n;   /* its length */
} res_keys[RES_COUNT] = {GALAXY_RESOURCE_NAMES(RES_KEY)};
#undef RES_KEY

/* {"iron":v[0],...} with the first n resources (RES_COUNT, or 0 for {}) */
static void write_res_object(jbuf *b, const double v[RES_COUNT], int n) {
    const size_t bound = 2 + (size_t)n * (1 + sizeof res_keys[0].k + JW_DOUBLE_MAX);
    char *o = jb_begin(b, bound);
    if (!o) return;
    const char *lim = o + bound;
    *o++ = '{';
    for (int r = 0; r < n; r++) {
        if (r) *o++ = ',';
        memcpy(o, res_keys[r].k, sizeof res_keys[r].k);
        o += res_keys[r].n;
        o = jw_double(o, v[r]);
    }
    *o++ = '}';
    jb_end(b, o, lim);
}

/* {"iron":..,...}: every resource (all) or, below level 1, none. */
static void write_abundances(jbuf *b, const star_system *s, int bi, int level, int all) {
    double a[RES_COUNT];
    int n = all || level >= 1 ? RES_COUNT : 0;
    for (int r = 0; r < n; r++) a[r] = revealed_abundance(s, bi, r, level);
    write_res_object(b, a, n);
}

void observe_resources(jbuf *b, const world *w, const star_system *s, int bi, int level) {
    write_abundances(b, s, bi, level, 0);
    if (level >= 4) {
        double kg[RES_COUNT];
        for (int r = 0; r < RES_COUNT; r++) kg[r] = world_body_remaining(w, s, bi, r);
        JB_KEY(b, "remaining_kg");
        write_res_object(b, kg, RES_COUNT);
    }
}

void observe_resources_min(jbuf *b, const star_system *s, int bi, int level) {
    write_abundances(b, s, bi, level, 0);
}

void observe_resources_all(jbuf *b, const star_system *s, int bi, int level) {
    write_abundances(b, s, bi, level, 1);
}

void observe_kg(jbuf *b, const double kg[RES_COUNT]) { write_res_object(b, kg, RES_COUNT); }

void observe_vec3(jbuf *b, const double v[3]) {
    const size_t bound = 2 + 3 * (1 + JW_DOUBLE_MAX);
    char *o = jb_begin(b, bound);
    if (!o) return;
    const char *lim = o + bound;
    *o++ = '[';
    for (int k = 0; k < 3; k++) {
        if (k) *o++ = ',';
        o = jw_double(o, v[k]);
    }
    *o++ = ']';
    jb_end(b, o, lim);
}

void observe_sector(jbuf *b, const int32_t sec[3]) {
    const size_t bound = 2 + 3 * (1 + JW_U64_MAX);
    char *o = jb_begin(b, bound);
    if (!o) return;
    const char *lim = o + bound;
    *o++ = '[';
    for (int k = 0; k < 3; k++) {
        if (k) *o++ = ',';
        o = jw_i64(o, sec[k]);
    }
    *o++ = ']';
    jb_end(b, o, lim);
}

/* ---------------------------------------------------------------- reference numbering */

/* engine enum event_type -> reference number (docs/pipe-protocol.md "Reference numbering") */
static const uint8_t ref_of_type[EV_TYPE_COUNT] = {
    [EV_DISCOVERY] = 0, [EV_ANOMALY] = 1,    [EV_HAZARD] = 2,     [EV_ENCOUNTER] = 3, [EV_CRISIS] = 4,
    [EV_WONDER] = 5,    [EV_THREAT] = 6,     [EV_ARRIVAL] = 7,    [EV_BORN] = 8,      [EV_REPLICATED] = 9,
    [EV_DESTROYED] = 10, [EV_SURVEY] = 11,   [EV_DORMANT] = 12,   [EV_MESSAGE] = 13,  [EV_BEACON] = 14,
    [EV_FORK] = 15,     [EV_TRADE] = 16,     [EV_STRUCTURE] = 17, [EV_PROPOSAL] = 18, [EV_RESEARCH] = 19,
    [EV_ARTIFACT] = 20, [EV_CLAIM] = 21};

int observe_ref_type(int type) { return ref_of_type[(unsigned)type % EV_TYPE_COUNT]; }

int observe_type_from_ref(int64_t ref) {
    if (ref < 0 || ref >= REF_TYPE_COUNT) return -1;
    for (int t = 0; t < EV_TYPE_COUNT; t++)
        if (ref_of_type[t] == ref) return t;
    return -1;
}

int observe_ref_subtype(int type, int subtype, int arg) {
    switch (type) {
    case EV_HAZARD:
    case EV_THREAT: return subtype % HZ_COUNT;
    case EV_DISCOVERY: return subtype % DS_COUNT;
    case EV_ENCOUNTER: return subtype % 4;
    case EV_STRUCTURE:
    case EV_CLAIM:
    case EV_TRADE: return subtype % 3;
    case EV_SURVEY:
    case EV_ARRIVAL:
    case EV_PROPOSAL:
    case EV_RESEARCH: return subtype ? 1 : 0;
    case EV_MESSAGE: return arg ? 1 : 0;
    default: return 0;
    }
}

const char *observe_subtype_name(int type, int subtype, int arg) {
    static const char *const enc[] = {"alien_life", "civilization", "ruins", "alien_probe"};
    static const char *const stc[] = {"started", "joined", "completed"};
    static const char *const cl[] = {"claimed", "violation", "revoked"};
    static const char *const trd[] = {"instant", "sent", "received"};
    int n = observe_ref_subtype(type, subtype, arg);
    switch (type) {
    case EV_HAZARD:
    case EV_THREAT: return world_hazard_names[n];
    case EV_DISCOVERY: return world_discovery_names[n];
    case EV_SURVEY:
    case EV_ARRIVAL: return n ? "system" : "body";
    case EV_ENCOUNTER: return enc[n];
    case EV_STRUCTURE: return stc[n];
    case EV_PROPOSAL: return n ? "resolved" : "opened";
    case EV_CLAIM: return cl[n];
    case EV_TRADE: return trd[n];
    case EV_RESEARCH: return n ? "shared" : "completed";
    case EV_MESSAGE: return n ? "broadcast" : "direct";
    default: return NULL;
    }
}

double observe_mem_severity(const mem_entry *m) {
    if (m->type != EV_HAZARD || m->weight <= 0.0f) return 0.0; /* hazard weight = 0.3 + 0.7 severity */
    double v = ((double)m->weight - 0.3) / 0.7;
    return world_q3(v < 0.0 ? 0.0 : v > 1.0 ? 1.0 : v);
}

const char *const observe_structure_display[STRUCT_COUNT] = {
    "Mining Station", "Relay Satellite", "Observatory", "Habitat", "Shipyard", "Factory"};


int observe_planet_count(const star_system *s) {
    int planets = 0;
    for (int k = 0; k < s->n_bodies; k++) planets += s->bodies[k].parent == 0xFF;
    return planets;
}

void observe_scan_entry(jbuf *b, const world *w, const probe *p, const scan_hit *hit, int full, int ref) {
    const star_system *t = hit->sys;
    JB_SEP_LIT(b, "{\"id\":");
    jb_id(b, t->id_hi, t->id_lo);
    JB_KEY(b, "name");
    jb_cstr(b, t->name);
    JB_KEY(b, "star_class");
    if (ref) jb_u64(b, t->star_class);
    else jb_cstr(b, galaxy_star_class_names[t->star_class]);
    if (full) {
        JB_KEY(b, "luminosity_solar");
        jb_double(b, t->luminosity);
        JB_KEY(b, "position");
        observe_vec3(b, t->pos);
        JB_KEY(b, "planet_count");
        jb_u64(b, (uint64_t)observe_planet_count(t));
    }
    double eta = ceil(hit->distance_ly / (world_speed_c(w, p) / 365.25));
    JB_KEY(b, "distance_ly");
    jb_double(b, hit->distance_ly);
    JB_KEY(b, "fuel_needed");
    jb_double(b, hit->distance_ly * world_fuel_per_ly(p));
    JB_KEY(b, "eta_ticks");
    jb_double(b, eta);
    JB_KEY(b, "explored");
    jb_bool(b, hmap_get(&w->explored, t->id_hi, t->id_lo) != NULL);
    if (full) {
        uint32_t *c = hmap_get(&w->claims, t->id_hi, t->id_lo);
        JB_KEY(b, "claimed_by");
        if (c && *c) jb_id(b, PROBE_ID_HI, *c);
        else jb_null(b);
    }
    /* the fields every scan entry carries for reference clients */
    JB_KEY(b, "system_id");
    jb_id(b, t->id_hi, t->id_lo);
    JB_KEY(b, "sector");
    observe_sector(b, t->sector);
    JB_KEY(b, "star_count");
    jb_u64(b, 1);
    JB_KEY(b, "estimated_travel_ticks");
    jb_double(b, eta);
    if (ref) {
        JB_KEY(b, "star_class_name");
        jb_cstr(b, galaxy_star_class_names[t->star_class]);
    }
    jb_putc(b, '}');
}
