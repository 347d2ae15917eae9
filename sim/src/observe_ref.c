/* observe_ref.c -- resource views and the reference numbering (see observe_ref.h). Field names
 * are part of the pipe contract (docs/pipe-protocol.md). */
#include "observe_ref.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

void observe_resources(jbuf *b, const world *w, const star_system *s, int bi, int level) {
    jb_putc(b, '{');
    if (level >= 1) {
        for (int r = 0; r < RES_COUNT; r++) {
            double a = s->bodies[bi].abundance[r];
            if (level == 1) a = round(a * 10.0) / 10.0;
            else if (level == 2) a = round(a * 100.0) / 100.0;
            jb_key(b, galaxy_resource_names[r]);
            jb_double(b, a);
        }
    }
    jb_putc(b, '}');
    if (level >= 4) {
        jb_key(b, "remaining_kg");
        jb_putc(b, '{');
        for (int r = 0; r < RES_COUNT; r++) {
            jb_key(b, galaxy_resource_names[r]);
            jb_double(b, world_body_remaining(w, s, bi, r));
        }
        jb_putc(b, '}');
    }
}

void observe_resources_min(jbuf *b, const star_system *s, int bi, int level) {
    jb_putc(b, '{');
    if (level >= 1) {
        for (int r = 0; r < RES_COUNT; r++) {
            double a = s->bodies[bi].abundance[r];
            if (level == 1) a = round(a * 10.0) / 10.0;
            else if (level == 2) a = round(a * 100.0) / 100.0;
            jb_key(b, galaxy_resource_names[r]);
            jb_double(b, a);
        }
    }
    jb_putc(b, '}');
}

void observe_resources_all(jbuf *b, const star_system *s, int bi, int level) {
    jb_putc(b, '{');
    for (int r = 0; r < RES_COUNT; r++) {
        double a = level >= 1 ? s->bodies[bi].abundance[r] : 0.0;
        if (level == 1) a = round(a * 10.0) / 10.0;
        else if (level == 2) a = round(a * 100.0) / 100.0;
        jb_key(b, galaxy_resource_names[r]);
        jb_double(b, a);
    }
    jb_putc(b, '}');
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

void observe_scan_extra(jbuf *b, const star_system *t, double eta) {
    jb_key(b, "system_id");
    jb_id(b, t->id_hi, t->id_lo);
    jb_key(b, "sector");
    jb_putc(b, '[');
    for (int k = 0; k < 3; k++) {
        jb_sep(b);
        jb_i64(b, t->sector[k]);
    }
    jb_putc(b, ']');
    jb_key(b, "star_count");
    jb_u64(b, 1);
    jb_key(b, "estimated_travel_ticks");
    jb_double(b, eta);
}
