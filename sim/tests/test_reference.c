/* test_reference.c -- the reference shapes of the pipe (docs/pipe-protocol.md "Reference
 * shapes"): the tick "reference" overlay, the always-added fields, scan / history / scenario
 * "shape", numeric event types in inject and scenario, every new error, and that asking for the
 * overlay changes neither the state hash nor a byte of the readable observation. */
#define _POSIX_C_SOURCE 200809L
#include "json.h"
#include "observe.h"
#include "policy.h"
#include "proto.h"
#include "testutil.h"
#include "testproto.h"

#include <inttypes.h>
#include <stdio.h>

static json_doc R; /* last response, parsed */

static const json_node *req(proto *P, const char *line) { return tp_request(P, &R, line); }
static int is_ok(const json_node *r) { return tp_is_ok(&R, r); }
static int err_has(const json_node *r, const char *code, const char *text) {
    const json_node *e = json_get(&R, r, "error");
    size_t n = 0;
    const char *m = json_str(&R, json_get(&R, e, "message"), &n);
    return r && !is_ok(r) && json_is_str(json_get(&R, e, "code"), &R, code) && m && tu_contains(m, n, text);
}
static const json_node *get(const json_node *o, const char *k) { return json_get(&R, o, k); }
static int is_num(const json_node *n) { return n && n->type == JSON_NUMBER; }
static int is_str(const json_node *n) { return n && n->type == JSON_STRING; }
static int num_is(const json_node *n, double v) { return is_num(n) && n->num == v; }
static int str_is(const json_node *n, const char *s) { return json_is_str(n, &R, s); }
static const json_node *first(const json_node *arr) { return arr ? json_child(&R, arr) : NULL; }
static const json_node *last_member(const json_node *obj) {
    const json_node *m = first(obj), *l = NULL;
    for (; m; m = json_next(&R, m)) l = m;
    return l;
}
static void hash_of(proto *P, char out[17]) {
    const json_node *r = req(P, "{\"cmd\":\"hash\"}");
    size_t n = 0;
    const char *h = json_str(&R, get(r, "hash"), &n);
    snprintf(out, 17, "%.*s", (int)n, h ? h : "");
}

/* Copy of src without every `,"reference":{...}` member (strings skipped while matching). */
static size_t strip_reference(const char *src, size_t n, char *dst) {
    static const char key[] = ",\"reference\":{";
    size_t kl = sizeof key - 1, o = 0;
    for (size_t i = 0; i < n;) {
        if (i + kl <= n && memcmp(src + i, key, kl) == 0) {
            size_t j = i + kl;
            int depth = 1, in_str = 0;
            while (j < n && depth) {
                char c = src[j++];
                if (in_str) {
                    if (c == '\\') j++;
                    else if (c == '"') in_str = 0;
                } else if (c == '"') in_str = 1;
                else if (c == '{') depth++;
                else if (c == '}') depth--;
            }
            i = j;
            continue;
        }
        dst[o++] = src[i++];
    }
    return o;
}

static const json_node *obs_of(const json_node *r, const char *id) {
    for (const json_node *o = first(get(r, "observations")); o; o = json_next(&R, o))
        if (str_is(get(o, "probe_id"), id)) return o;
    return NULL;
}

/* The policy run: with the overlay on every observation vs without, tick by tick. */
static void test_overlay_is_pure(void) {
    proto A, B;
    jbuf ra, rb;
    jb_init(&ra);
    jb_init(&rb);
    CHECK(proto_init(&A, 42, 1, 1u << 30) == 0);
    CHECK(proto_init(&B, 42, 1, 1u << 30) == 0);
    const int ticks = 3700; /* the first structure of the policy run appears at tick 3600 */
    char *buf = NULL;
    size_t cap = 0;
    int mismatches = 0;
    int seen_trust = 0, seen_relay = 0, seen_struct = 0, seen_research = 0, seen_claim = 0, seen_prop = 0,
             seen_beacon = 0, seen_hazard = 0, overlays = 0;
    for (int t = 0; t < ticks; t++) {
        int look = t % 25 == 0 || t >= ticks - 120; /* full observations cost: sample the run */
        policy_tick_request(&A.w, &ra, look ? "\"all\",\"reference\":\"all\"" : "\"none\",\"reference\":\"all\"");
        policy_tick_request(&B.w, &rb, look ? "\"all\"" : "\"none\"");
        proto_handle(&A, ra.p, ra.len);
        proto_handle(&B, rb.p, rb.len);
        if (A.out.len > cap) {
            cap = A.out.len * 2;
            buf = realloc(buf, cap);
        }
        size_t n = strip_reference(A.out.p, A.out.len, buf);
        if (n != B.out.len || memcmp(buf, B.out.p, n)) mismatches++;
        const char *p = A.out.p;
        size_t len = A.out.len;
        overlays += tu_contains(p, len, "\"reference\":{\"system\":") == look;
        seen_trust += tu_contains(p, len, "\"trust\":[{\"probe_id\":");
        seen_relay += tu_contains(p, len, "\"relay_network\":[{\"system_id\":");
        seen_struct += tu_contains(p, len, "\"visible_structures\":[{\"builder\":");
        seen_research += tu_contains(p, len, "\"research\":{\"domain\":0,") || tu_contains(p, len, "\"research\":{\"domain\":1,");
        seen_claim += tu_contains(p, len, "\"claimer\":\"1-1\",\"tick\":20}");
        seen_prop += tu_contains(p, len, "\"idx\":1,\"for\":");
        seen_beacon += tu_contains(p, len, "\"placed_tick\":");
        seen_hazard += tu_contains(p, len, "{\"tick\":") && tu_contains(p, len, "\"type\":2,\"subtype\":");
    }
    CHECK_MSG(mismatches == 0, "%d ticks whose readable observations changed with the overlay", mismatches);
    char ha[17], hb[17];
    hash_of(&A, ha);
    hash_of(&B, hb);
    CHECK_MSG(strcmp(ha, hb) == 0, "hash with overlay %s, without %s", ha, hb);
    CHECK(overlays == ticks);
    (void)seen_relay; /* no relay is finished this early: test_overlay_fields covers relay_network */
    CHECK_MSG(seen_trust && seen_struct && seen_research && seen_claim && seen_prop && seen_beacon &&
                  seen_hazard,
              "trust %d relay %d struct %d research %d claim %d prop %d beacon %d hazard %d", seen_trust, seen_relay,
              seen_struct, seen_research, seen_claim, seen_prop, seen_beacon, seen_hazard);
    free(buf);
    jb_free(&ra);
    jb_free(&rb);
    proto_free(&A);
    proto_free(&B);
}

static void check_reference_system(const json_node *sys) {
    CHECK(sys && sys->type == JSON_OBJECT);
    CHECK(is_str(get(sys, "id")) && is_str(get(sys, "name")) && num_is(get(sys, "star_count"), 1));
    CHECK(is_num(get(sys, "planet_count")));
    const json_node *star = first(get(sys, "stars"));
    const char *sk[] = {"name", "class", "mass_solar", "temp_k", "luminosity_solar", "metallicity"};
    for (size_t i = 0; i < sizeof sk / sizeof *sk; i++) CHECK_MSG(get(star, sk[i]) != NULL, "star lacks %s", sk[i]);
    CHECK(num_is(get(star, "class"), 4) && str_is(get(star, "class_name"), "G")); /* Bob's home is a G star */
    CHECK(is_num(get(star, "temp_k")) && get(star, "temp_k")->num >= 5200 && get(star, "temp_k")->num <= 6000);
    const json_node *pl = first(get(sys, "planets"));
    CHECK(pl != NULL);
    const char *pk[] = {"name", "type", "mass_earth", "radius_earth", "orbital_radius_au", "orbital_period_days",
                        "surface_temp_k", "atmosphere_pressure_atm", "water_coverage", "habitability",
                        "magnetic_field", "rings", "moon_count", "survey_complete", "resources", "id", "orbit_au",
                        "life", "artifact", "type_name"};
    int planets = 0;
    for (; pl; pl = json_next(&R, pl), planets++) {
        for (size_t i = 0; i < sizeof pk / sizeof *pk; i++) CHECK_MSG(get(pl, pk[i]) != NULL, "planet lacks %s", pk[i]);
        CHECK(is_num(get(pl, "type")) && is_num(get(pl, "magnetic_field")) && is_num(get(pl, "mass_earth")));
        CHECK(get(pl, "mass_earth")->num > 0);
        CHECK(get(pl, "survey_complete")->count == 5 && get(pl, "resources")->count == RES_COUNT);
        CHECK(get(pl, "orbital_radius_au")->num == get(pl, "orbit_au")->num);
        int mag = get(pl, "magnetic_field")->num >= 0.3;
        CHECK(get(pl, "magnetic_field")->num < 0.25 || mag);
    }
    CHECK(planets >= (int)get(sys, "planet_count")->num);
}

static void test_overlay_fields(void) {
    proto P;
    CHECK(proto_init(&P, 42, 2, 1 << 20) == 0);
    world *w = &P.w;
    const json_node *r, *o, *ref;
    char before[17], after[17];
    hash_of(&P, before);
    /* errors first: nothing happens */
    CHECK(err_has(req(&P, "{\"cmd\":\"tick\",\"reference\":\"some\"}"), "bad_request", "field 'reference' must be"));
    CHECK(err_has(req(&P, "{\"cmd\":\"tick\",\"reference\":5}"), "bad_request", "got number"));
    CHECK(err_has(req(&P, "{\"cmd\":\"tick\",\"reference\":true}"), "bad_request", "field 'reference'"));
    CHECK(err_has(req(&P, "{\"cmd\":\"tick\",\"reference\":[\"1-1\",2]}"), "bad_request", "probe id strings, found number"));
    CHECK(err_has(req(&P, "{\"cmd\":\"tick\",\"reference\":{}}"), "bad_request", "got object"));
    hash_of(&P, after);
    CHECK(strcmp(before, after) == 0 && w->tick == 0);

    /* a hazard, a claim, a proposal, a beacon, research and a structure */
    CHECK(is_ok(req(&P, "{\"cmd\":\"inject\",\"event\":{\"type\":2,\"subtype\":0,\"severity\":0.704,\"probe_id\":\"1-1\"}}")));
    CHECK(is_ok(req(&P, "{\"cmd\":\"tick\",\"actions\":{\"1-1\":{\"type\":\"claim_system\"}}}")));
    CHECK(is_ok(req(&P, "{\"cmd\":\"tick\",\"actions\":{\"1-1\":{\"type\":\"propose\",\"text\":\"Survey all planets\"}}}")));
    CHECK(is_ok(req(&P, "{\"cmd\":\"tick\",\"actions\":{\"1-1\":{\"type\":\"place_beacon\",\"message\":\"Explorer was here\"},"
                        "\"1-2\":{\"type\":\"vote\",\"proposal\":1,\"favor\":true}}}")));
    w->p[0].cargo[RES_IRON] = 25000;
    w->p[0].cargo[RES_SILICON] = 12000;
    w->p[1].cargo[RES_IRON] = 25000;
    w->p[1].cargo[RES_SILICON] = 12000;
    CHECK(is_ok(req(&P, "{\"cmd\":\"tick\",\"actions\":{\"1-1\":{\"type\":\"build_structure\",\"structure_type\":\"mining_station\"},"
                        "\"1-2\":{\"type\":\"build_structure\",\"structure_type\":1}}}")));
    CHECK(w->n_st == 2);
    w->st[1].finished = w->tick; /* the relay is done (a finished relay in range shows in relay_network) */
    w->st[1].progress = 1.0;
    CHECK(is_ok(req(&P, "{\"cmd\":\"tick\",\"actions\":{\"1-1\":{\"type\":\"research\",\"domain\":\"propulsion\"},"
                        "\"1-2\":{\"type\":\"trade\",\"target\":\"1-1\",\"resource\":\"iron\",\"amount\":10}}}")));

    /* listed probes only; readable keys keep their shapes; the overlay is the last key */
    r = req(&P, "{\"cmd\":\"tick\",\"reference\":[\"1-1\",\"1-77\",\"zz\"]}");
    CHECK(is_ok(r));
    o = obs_of(r, "1-1");
    CHECK(o && obs_of(r, "1-2") && get(obs_of(r, "1-2"), "reference") == NULL);
    ref = get(o, "reference");
    CHECK(ref && ref->type == JSON_OBJECT);
    const json_node *lm = last_member(o);
    CHECK(lm && lm == ref);
    const char *rk[] = {"system", "recent_events", "trust", "relay_network", "research", "visible_structures"};
    for (size_t i = 0; i < sizeof rk / sizeof *rk; i++) CHECK_MSG(get(ref, rk[i]) != NULL, "overlay lacks %s", rk[i]);
    CHECK(ref->count == 6);
    check_reference_system(get(ref, "system"));
    CHECK(is_str(get(first(get(get(o, "system_info"), "stars")), "class"))); /* readable untouched */
    CHECK(get(first(get(get(o, "system_info"), "planets")), "magnetic_field")->type != JSON_NUMBER);

    /* recent events */
    const json_node *ev = first(get(ref, "recent_events"));
    CHECK(ev && num_is(get(ev, "type"), 2) && num_is(get(ev, "subtype"), 0) && num_is(get(ev, "severity"), 0.704));
    CHECK(num_is(get(ev, "tick"), 0) && is_str(get(ev, "description")) && str_is(get(ev, "kind"), "hazard"));
    CHECK(get(ref, "recent_events")->count == get(o, "recent_events")->count);
    int claim_seen = 0;
    for (ev = first(get(ref, "recent_events")); ev; ev = json_next(&R, ev))
        claim_seen += num_is(get(ev, "type"), 21) && num_is(get(ev, "subtype"), 0);
    CHECK(claim_seen == 1);
    CHECK(str_is(get(first(get(o, "recent_events")), "type"), "hazard"));

    /* trust, relays, research, structures */
    const json_node *tr = first(get(ref, "trust"));
    CHECK(tr && str_is(get(tr, "probe_id"), "1-2") && is_num(get(tr, "trust")));
    CHECK(get(o, "trust")->type == JSON_OBJECT && get(get(o, "trust"), "1-2") &&
          get(get(o, "trust"), "1-2")->num == get(tr, "trust")->num);
    const json_node *rl = first(get(ref, "relay_network"));
    CHECK(rl && is_str(get(rl, "system_id")) && num_is(get(rl, "distance_ly"), 0) && str_is(get(rl, "owner"), "1-2"));
    CHECK(num_is(get(rl, "structure_id"), 2) && is_num(get(rl, "range_ly")));
    CHECK(get(o, "relay_network")->type == JSON_OBJECT && num_is(get(get(o, "relay_network"), "relays_in_range"), 1));
    const json_node *rs = get(ref, "research");
    CHECK(num_is(get(rs, "domain"), 0) && is_num(get(rs, "progress")) && is_num(get(rs, "ticks_remaining")));
    CHECK(str_is(get(rs, "domain_name"), "propulsion") && str_is(get(get(o, "research"), "domain"), "propulsion"));
    const json_node *st = first(get(ref, "visible_structures"));
    if (st && num_is(get(st, "type"), 1)) st = json_next(&R, st); /* newest first: the relay */
    CHECK(st && str_is(get(st, "builder"), "1-1") && num_is(get(st, "type"), 0) && str_is(get(st, "name"), "Mining Station"));
    CHECK(get(st, "complete")->type == JSON_FALSE && is_num(get(st, "progress")) && num_is(get(st, "id"), 1));
    CHECK(str_is(get(st, "kind"), "mining_station") && str_is(get(st, "owner"), "1-1") && get(st, "builders")->count == 1);
    st = first(get(ref, "visible_structures"));
    CHECK(st && num_is(get(st, "type"), 1) && str_is(get(st, "name"), "Relay Satellite") && get(st, "complete")->type == JSON_TRUE);
    CHECK(str_is(get(st, "builder"), "1-2") && num_is(get(st, "id"), 2));
    CHECK(get(ref, "visible_structures")->count == 2);
    CHECK(str_is(get(first(get(o, "visible_structures")), "type"), "relay_satellite"));

    /* always-added fields, in the readable observation */
    const json_node *c = first(get(o, "claims"));
    CHECK(c && str_is(get(c, "claimer"), "1-1") && num_is(get(c, "tick"), 1) && str_is(get(c, "claimant"), "1-1"));
    const json_node *pr = first(get(o, "proposals"));
    CHECK(pr && num_is(get(pr, "idx"), 1) && num_is(get(pr, "id"), 1) && num_is(get(pr, "for"), 1) &&
          num_is(get(pr, "against"), 0) && num_is(get(pr, "votes_for"), 1));
    const json_node *bc = first(get(o, "visible_beacons"));
    CHECK(bc && num_is(get(bc, "placed_tick"), 3) && num_is(get(bc, "tick"), 3));

    /* "all"; compact detail never carries it; observe none has nothing to carry it */
    r = req(&P, "{\"cmd\":\"tick\",\"reference\":\"all\"}");
    CHECK(get(obs_of(r, "1-1"), "reference") && get(obs_of(r, "1-2"), "reference"));
    r = req(&P, "{\"cmd\":\"tick\",\"reference\":\"all\",\"detail\":\"compact\"}");
    CHECK(obs_of(r, "1-1") && get(obs_of(r, "1-1"), "reference") == NULL);
    r = req(&P, "{\"cmd\":\"tick\",\"reference\":null,\"observe\":[\"1-2\"]}");
    CHECK(get(obs_of(r, "1-2"), "reference") == NULL);
    r = req(&P, "{\"cmd\":\"tick\",\"reference\":[],\"observe\":[\"1-2\"]}");
    CHECK(get(obs_of(r, "1-2"), "reference") == NULL);
    r = req(&P, "{\"cmd\":\"tick\",\"reference\":[\"1-2\"],\"observe\":[\"1-2\"]}");
    CHECK(get(obs_of(r, "1-2"), "reference") != NULL);
    r = req(&P, "{\"cmd\":\"tick\",\"reference\":\"all\",\"observe\":\"none\"}");
    CHECK(is_ok(r) && get(r, "observations")->count == 0);

    /* between the stars the reference system is null */
    r = req(&P, "{\"cmd\":\"scan\",\"probe_id\":\"1-1\",\"limit\":1}");
    size_t n = 0;
    const char *sid = json_str(&R, get(first(get(r, "systems")), "system_id"), &n);
    char line[256];
    snprintf(line, sizeof line, "{\"cmd\":\"tick\",\"actions\":{\"1-1\":{\"type\":\"travel_to_system\",\"target_system_id\":\"%.*s\"}},"
                                "\"reference\":[\"1-1\"]}", (int)n, sid ? sid : "");
    r = req(&P, line);
    o = obs_of(r, "1-1");
    CHECK(str_is(get(o, "location"), "interstellar"));
    CHECK(get(get(o, "reference"), "system") && get(get(o, "reference"), "system")->type == JSON_NULL);
    CHECK(get(get(o, "reference"), "visible_structures")->count == 0 && get(o, "system_info")->type == JSON_NULL);
    proto_free(&P);
}

static void test_commands(void) {
    proto P;
    CHECK(proto_init(&P, 42, 1, 1 << 20) == 0);
    const json_node *r;
    char before[17], after[17];
    /* scan */
    r = req(&P, "{\"cmd\":\"scan\",\"probe_id\":\"1-1\",\"limit\":3}");
    const json_node *s = first(get(r, "systems"));
    CHECK(s && is_str(get(s, "star_class")) && is_str(get(s, "system_id")) && get(s, "sector")->count == 3);
    CHECK(num_is(get(s, "star_count"), 1) && get(s, "estimated_travel_ticks")->num == get(s, "eta_ticks")->num);
    CHECK(json_get(&R, s, "star_class_name") == NULL);
    size_t a = 0, b = 0;
    const char *id = json_str(&R, get(s, "id"), &a), *sid = json_str(&R, get(s, "system_id"), &b);
    CHECK(id && sid && a == b && !memcmp(id, sid, a));
    r = req(&P, "{\"cmd\":\"scan\",\"probe_id\":\"1-1\",\"limit\":3,\"shape\":\"reference\"}");
    s = first(get(r, "systems"));
    CHECK(is_num(get(s, "star_class")) && get(s, "star_class")->num <= 6 && is_str(get(s, "star_class_name")));
    CHECK(is_ok(req(&P, "{\"cmd\":\"scan\",\"probe_id\":\"1-1\",\"shape\":\"readable\"}")));
    CHECK(is_ok(req(&P, "{\"cmd\":\"scan\",\"probe_id\":\"1-1\",\"shape\":null}")));
    CHECK(err_has(req(&P, "{\"cmd\":\"scan\",\"probe_id\":\"1-1\",\"shape\":\"ref\"}"), "bad_request", "field 'shape' must be"));
    CHECK(err_has(req(&P, "{\"cmd\":\"scan\",\"probe_id\":\"1-1\",\"shape\":1}"), "bad_request", "got number"));
    /* the scan action's result carries the same additions */
    r = req(&P, "{\"cmd\":\"tick\",\"actions\":{\"1-1\":{\"type\":\"scan\"}}}");
    s = first(get(get(get(obs_of(r, "1-1"), "last_action"), "result"), "systems"));
    CHECK(s && is_str(get(s, "system_id")) && is_num(get(s, "estimated_travel_ticks")) && get(s, "sector"));

    /* inject by number; history */
    CHECK(is_ok(req(&P, "{\"cmd\":\"inject\",\"event\":{\"type\":2,\"subtype\":1,\"severity\":0.5}}")));
    CHECK(is_ok(req(&P, "{\"cmd\":\"inject\",\"event\":{\"type\":0,\"subtype\":\"tech_insight\"}}")));
    CHECK(is_ok(req(&P, "{\"cmd\":\"inject\",\"event\":{\"type\":3,\"subtype\":2}}")));
    CHECK(is_ok(req(&P, "{\"cmd\":\"inject\",\"event\":{\"type\":6,\"subtype\":3,\"severity\":0.2}}")));
    hash_of(&P, before);
    CHECK(err_has(req(&P, "{\"cmd\":\"inject\",\"event\":{\"type\":22}}"), "bad_request", "event.type number must be an integer 0..21"));
    CHECK(err_has(req(&P, "{\"cmd\":\"inject\",\"event\":{\"type\":-1}}"), "bad_request", "event.type"));
    CHECK(err_has(req(&P, "{\"cmd\":\"inject\",\"event\":{\"type\":2.5}}"), "bad_request", "event.type number"));
    CHECK(err_has(req(&P, "{\"cmd\":\"inject\",\"event\":{\"type\":7}}"), "bad_request", "event.type 7 (arrival) cannot be injected"));
    CHECK(err_has(req(&P, "{\"cmd\":\"inject\",\"event\":{\"type\":2,\"subtype\":4}}"), "bad_request", "event.subtype"));
    CHECK(err_has(req(&P, "{\"cmd\":\"history\",\"probe_id\":\"1-1\",\"shape\":\"numbers\"}"), "bad_request", "field 'shape'"));
    hash_of(&P, after);
    CHECK(strcmp(before, after) == 0);
    r = req(&P, "{\"cmd\":\"history\",\"probe_id\":\"1-1\"}");
    const json_node *e = first(get(r, "events"));
    CHECK(e && str_is(get(e, "type"), "hazard") && get(e, "subtype") == NULL && get(e, "description") == NULL);
    r = req(&P, "{\"cmd\":\"history\",\"probe_id\":\"1-1\",\"shape\":\"reference\"}");
    CHECK(is_ok(r) && get(r, "memories") && is_num(get(r, "events_total")));
    int seen = 0;
    for (e = first(get(r, "events")); e; e = json_next(&R, e)) {
        const char *k[] = {"tick", "type", "subtype", "severity", "description", "kind", "weight", "text"};
        for (size_t i = 0; i < sizeof k / sizeof *k; i++) CHECK_MSG(get(e, k[i]) != NULL, "history event lacks %s", k[i]);
        CHECK(e->count == 8 && is_num(get(e, "type")) && is_num(get(e, "subtype")) && is_str(get(e, "description")));
        if (str_is(get(e, "kind"), "hazard")) {
            seen |= 1;
            CHECK(num_is(get(e, "type"), 2) && num_is(get(e, "subtype"), 1) && num_is(get(e, "severity"), 0.5));
        }
        if (str_is(get(e, "kind"), "discovery")) {
            seen |= 2;
            CHECK(num_is(get(e, "type"), 0) && num_is(get(e, "subtype"), 2) && num_is(get(e, "severity"), 0));
        }
        if (str_is(get(e, "kind"), "encounter")) {
            seen |= 4;
            CHECK(num_is(get(e, "type"), 3) && get(e, "subtype")->num <= 3); /* inject picks the encounter */
        }
    }
    CHECK_MSG(seen == 7, "history kinds seen %d", seen);
    /* the threat's landing in a later tick is numbered 2 (hazard) too: check the numbering */
    CHECK(observe_ref_type(EV_THREAT) == 6 && observe_type_from_ref(6) == EV_THREAT);
    for (int t = 0; t < EV_TYPE_COUNT; t++) CHECK(observe_type_from_ref(observe_ref_type(t)) == t);
    CHECK(observe_type_from_ref(22) == -1 && observe_type_from_ref(-1) == -1);
    CHECK(observe_ref_subtype(EV_MESSAGE, 0, 1) == 1 && observe_ref_subtype(EV_CRISIS, 3, 0) == 0);

    /* scenario: numeric types, reference-shaped reply */
    r = req(&P, "{\"cmd\":\"scenario\",\"shape\":\"reference\",\"scenario\":{\"name\":\"s\",\"relative\":true,\"events\":["
                "{\"at_tick\":100,\"type\":2,\"subtype\":0,\"severity\":0.5},{\"at_tick\":200,\"type\":4,\"subtype\":1,\"severity\":0.9},"
                "{\"at_tick\":300,\"type\":\"wonder\"},{\"at_tick\":400,\"type\":0,\"subtype\":\"derelict\"}]}}");
    CHECK(is_ok(r) && num_is(get(r, "loaded"), 4));
    e = first(get(get(r, "scenario"), "events"));
    CHECK(e && num_is(get(e, "type"), 2) && num_is(get(e, "subtype"), 0) && str_is(get(e, "kind"), "hazard"));
    e = json_next(&R, e);
    CHECK(e && num_is(get(e, "type"), 4) && num_is(get(e, "subtype"), 1) && str_is(get(e, "kind"), "crisis"));
    e = json_next(&R, e);
    CHECK(e && num_is(get(e, "type"), 5));
    e = json_next(&R, e);
    CHECK(e && num_is(get(e, "type"), 0) && num_is(get(e, "subtype"), 1));
    r = req(&P, "{\"cmd\":\"scenario\"}");
    e = first(get(get(r, "scenario"), "events"));
    CHECK(str_is(get(e, "type"), "hazard") && get(e, "kind") == NULL);
    r = req(&P, "{\"cmd\":\"scenario\",\"shape\":\"reference\"}");
    CHECK(num_is(get(first(get(get(r, "scenario"), "events")), "type"), 2));
    hash_of(&P, before);
    CHECK(err_has(req(&P, "{\"cmd\":\"scenario\",\"scenario\":{\"events\":[{\"at_tick\":9000,\"type\":99}]}}"), "bad_request",
                  "scenario event 0: 'type' number must be an integer 0..21"));
    CHECK(err_has(req(&P, "{\"cmd\":\"scenario\",\"scenario\":{\"events\":[{\"at_tick\":9000,\"type\":1.5}]}}"), "bad_request",
                  "'type' number"));
    CHECK(err_has(req(&P, "{\"cmd\":\"scenario\",\"scenario\":{\"events\":[{\"at_tick\":9000,\"type\":2},{\"at_tick\":9000,\"type\":8}]}}"),
                  "bad_request", "scenario event 1: 'type' 8 (born) cannot be scheduled"));
    CHECK(err_has(req(&P, "{\"cmd\":\"scenario\",\"scenario\":{\"events\":[{\"at_tick\":9000,\"type\":2,\"subtype\":9}]}}"),
                  "bad_request", "'subtype'"));
    CHECK(err_has(req(&P, "{\"cmd\":\"scenario\",\"shape\":\"x\",\"clear\":true}"), "bad_request", "field 'shape'"));
    hash_of(&P, after);
    CHECK(strcmp(before, after) == 0);
    r = req(&P, "{\"cmd\":\"scenario\"}");
    CHECK(get(get(r, "scenario"), "events")->count == 4);
    proto_free(&P);
}

/* probe "reference": true gives a registering agent its first observation in the reference shape */
static void test_probe_reference(void) {
    proto P;
    CHECK(proto_init(&P, 42, 1, 1 << 20) == 0);
    char before[17], after[17];
    hash_of(&P, before);
    const json_node *r = req(&P, "{\"cmd\":\"probe\",\"probe_id\":\"1-1\"}");
    CHECK(is_ok(r) && get(get(r, "probe"), "reference") == NULL);
    r = req(&P, "{\"cmd\":\"probe\",\"probe_id\":\"1-1\",\"reference\":false}");
    CHECK(is_ok(r) && get(get(r, "probe"), "reference") == NULL);
    r = req(&P, "{\"cmd\":\"probe\",\"probe_id\":\"1-1\",\"reference\":true}");
    const json_node *pr = get(r, "probe");
    CHECK(is_ok(r) && get(pr, "reference") && last_member(pr) == get(pr, "reference"));
    const json_node *sys = get(get(pr, "reference"), "system");
    CHECK(sys && sys->type == JSON_OBJECT && is_num(get(first(get(sys, "stars")), "class")));
    CHECK(get(get(pr, "reference"), "trust")->type == JSON_ARRAY);
    CHECK(err_has(req(&P, "{\"cmd\":\"probe\",\"probe_id\":\"1-1\",\"reference\":\"all\"}"), "bad_request",
                  "field 'reference' must be true, false or null"));
    hash_of(&P, after);
    CHECK(strcmp(before, after) == 0);
    proto_free(&P);
}

int main(void) {
    json_doc_init(&R);
    test_overlay_fields();
    test_commands();
    test_overlay_is_pure();
    test_probe_reference();
    json_doc_free(&R);
    return tu_report("test_reference");
}
