/* test_world.c -- action validation and effects, events, replication, order independence. */
#include "actions.h"
#include "events.h"
#include "galaxy.h"
#include "testutil.h"
#include "tick.h"
#include "world.h"

#include <math.h>
#include <string.h>

static void step(world *w, uint32_t idx, action a) {
    tick_action ta = {idx, a, 0};
    tick_run(w, &ta, 1);
}
static action act(uint8_t kind) {
    action a;
    memset(&a, 0, sizeof a);
    a.kind = kind;
    a.res = -1;
    return a;
}
static int find_body(const star_system *s, int type) {
    for (int b = 0; b < s->n_bodies; b++)
        if (s->bodies[b].type == type) return b;
    return -1;
}
static void go_to(world *w, uint32_t i, int bi) {
    const star_system *s = world_probe_system(w, &w->p[i]);
    action a = act(A_NAVIGATE);
    galaxy_body_id(s, bi, &a.target_hi, &a.target_lo);
    step(w, i, a);
    for (int k = 0; k < 200 && w->p[i].activity == ACT_NAVIGATE; k++) tick_run(w, NULL, 0);
}
static void survey_to(world *w, uint32_t i, int level) {
    for (int k = 0; k < 100 && w->p[i].survey[w->p[i].body] < level; k++) step(w, i, act(A_SURVEY));
}

static void test_bob(void) {
    world w;
    CHECK(world_init(&w, 42, 1) == 0);
    probe *p = &w.p[0];
    CHECK(w.n_probes == 1 && !strcmp(w.c[0].name, "Bob") && w.c[0].generation == 0);
    CHECK(p->status == ST_ACTIVE && p->location == LOC_IN_SYSTEM && p->hull == 1.0 && p->body == -1);
    uint8_t tech[TECH_COUNT] = {3, 3, 2, 2, 4, 3, 2, 2, 1, 1};
    CHECK(memcmp(p->tech, tech, sizeof tech) == 0);
    const star_system *s = world_probe_system(&w, p);
    CHECK(s == galaxy_home(&w.gal));
    world_free(&w);
}

static void test_rejections(void) {
    world w;
    world_init(&w, 42, 1);
    step(&w, 0, act(A_LAND));
    CHECK(!w.p[0].last_ok && w.p[0].last_reason == R_NOT_ORBITING);
    step(&w, 0, act(A_ORBIT));
    CHECK(!w.p[0].last_ok && w.p[0].last_reason == R_NO_BODY);
    action m = act(A_MINE);
    m.res = RES_IRON;
    step(&w, 0, m);
    CHECK(!w.p[0].last_ok && w.p[0].last_reason == R_NO_BODY);
    step(&w, 0, act(A_REPAIR));
    CHECK(!w.p[0].last_ok && w.p[0].last_reason == R_HULL_INTACT);
    step(&w, 0, act(A_LAUNCH));
    CHECK(!w.p[0].last_ok && w.p[0].last_reason == R_NOT_LANDED);
    step(&w, 0, act(A_REPLICATE));
    CHECK(!w.p[0].last_ok && w.p[0].last_reason == R_NO_CARGO);
    action nav = act(A_NAVIGATE);
    nav.target_hi = 5;
    nav.target_lo = 6;
    step(&w, 0, nav);
    CHECK(!w.p[0].last_ok && w.p[0].last_reason == R_BAD_TARGET);
    action tr = act(A_TRAVEL);
    const star_system *h = galaxy_home(&w.gal);
    tr.target_hi = h->id_hi;
    tr.target_lo = h->id_lo;
    step(&w, 0, tr);
    CHECK(!w.p[0].last_ok && w.p[0].last_reason == R_SAME_SYSTEM);
    /* a rejected action changes nothing but the record */
    CHECK(w.p[0].location == LOC_IN_SYSTEM && w.p[0].activity == ACT_NONE);
    /* gas giant: cannot land */
    go_to(&w, 0, find_body(h, BODY_GAS_GIANT));
    step(&w, 0, act(A_ORBIT));
    CHECK(w.p[0].last_ok && w.p[0].location == LOC_ORBITING);
    step(&w, 0, act(A_LAND));
    CHECK(!w.p[0].last_ok && w.p[0].last_reason == R_NOT_LANDABLE);
    m.res = RES_HYDROGEN;
    step(&w, 0, m);
    CHECK(!w.p[0].last_ok && w.p[0].last_reason == R_NOT_SURVEYED);
    m.res = RES_IRON;
    survey_to(&w, 0, 1);
    step(&w, 0, m);
    CHECK(!w.p[0].last_ok && w.p[0].last_reason == R_CANNOT_MINE_HERE);
    world_free(&w);
}

static void test_explore_mine_repair(void) {
    world w;
    world_init(&w, 42, 1);
    const star_system *h = galaxy_home(&w.gal);
    int rocky = find_body(h, BODY_ROCKY);
    uint64_t t0 = w.tick;
    go_to(&w, 0, rocky);
    CHECK(w.p[0].body == rocky && w.tick - t0 >= 1);
    CHECK(w.p[0].location == LOC_IN_SYSTEM);
    survey_to(&w, 0, 2);
    CHECK(w.p[0].survey[rocky] == 2);
    step(&w, 0, act(A_SURVEY));
    CHECK(!w.p[0].last_ok && w.p[0].last_reason == R_SURVEY_MAX); /* level 3 needs orbit */
    CHECK(w.explored.n == 1);
    step(&w, 0, act(A_ORBIT));
    step(&w, 0, act(A_LAND));
    CHECK(w.p[0].location == LOC_LANDED);
    survey_to(&w, 0, 4);
    CHECK(w.p[0].survey[rocky] == 4);
    action m = act(A_MINE);
    m.res = RES_IRON;
    double before = world_body_remaining(&w, h, rocky, RES_IRON);
    step(&w, 0, m);
    CHECK(w.p[0].last_ok && w.p[0].last_amount > 10.0);
    CHECK(w.p[0].status == ST_MINING);
    CHECK(fabs(w.p[0].cargo[RES_IRON] - w.p[0].last_amount) < 1e-9);
    CHECK(fabs(before - world_body_remaining(&w, h, rocky, RES_IRON) - w.p[0].last_amount) < 1e-6);
    /* damage then repair */
    events_hazard(&w, 0, HZ_ASTEROID_IMPACT, 1.0);
    double hull = w.p[0].hull;
    CHECK(hull < 1.0 && w.m.hazards == 1 && w.m.hazards_survived == 1);
    step(&w, 0, act(A_REPAIR));
    CHECK(w.p[0].last_ok && w.p[0].hull > hull);
    CHECK(w.p[0].status == ST_BUILDING || w.p[0].status == ST_DAMAGED);
    step(&w, 0, act(A_LAUNCH));
    CHECK(w.p[0].location == LOC_ORBITING);
    step(&w, 0, act(A_SCAN));
    CHECK(w.p[0].last_ok && w.p[0].last_amount == 15.0);
    world_free(&w);
}

static void test_destroy(void) {
    world w;
    world_init(&w, 42, 3);
    for (int k = 0; k < 3; k++) events_hazard(&w, 1, HZ_RADIATION, 1.0);
    CHECK(w.p[1].status == ST_DESTROYED && w.alive == 2 && w.m.destroyed == 1);
    CHECK(w.m.hazards == 3 && w.m.hazards_survived == 2);
    step(&w, 1, act(A_SURVEY));
    CHECK(!w.p[1].last_ok && w.p[1].last_reason == R_DESTROYED);
    world_free(&w);
}

static void test_replicate_and_travel(void) {
    world w;
    world_init(&w, 42, 1);
    double cost[RES_COUNT];
    world_replication_cost(&w, cost);
    for (int r = 0; r < RES_COUNT; r++) w.p[0].cargo[r] = cost[r];
    w.p[0].cargo[RES_HYDROGEN] += 50000; /* for the trip below */
    w.cfg.event_freq_hazard = 0;
    step(&w, 0, act(A_REPLICATE));
    CHECK(w.p[0].last_ok && w.p[0].activity == ACT_REPLICATE && w.p[0].status == ST_REPLICATING);
    uint32_t need = w.p[0].ticks_total;
    CHECK(need == world_replication_ticks(&w, &w.p[0]) && need >= 150 && need <= 250);
    step(&w, 0, act(A_SURVEY));
    CHECK(!w.p[0].last_ok && w.p[0].last_reason == R_BUSY_REPLICATE);
    for (uint32_t k = 0; k < need + 2 && w.n_probes == 1; k++) tick_run(&w, NULL, 0);
    CHECK(w.n_probes == 2 && w.alive == 2 && w.m.spawned == 2);
    CHECK(w.c[1].generation == 1 && w.c[1].parent_lo == 1 && w.c[1].parent_hi == 1);
    CHECK(strlen(w.c[1].name) > 2 && strcmp(w.c[1].name, "Bob") != 0);
    CHECK(w.p[1].fuel == cost[RES_HYDROGEN] && w.p[1].hull == 1.0);
    int diff = 0;
    for (int t = 0; t < TECH_COUNT; t++) diff += abs(w.p[1].tech[t] - w.p[0].tech[t]);
    CHECK(diff <= 1);
    CHECK(w.c[0].children == 1 && w.p[0].activity == ACT_NONE);
    /* travel to the nearest other system */
    const star_system *h = galaxy_home(&w.gal);
    scan_hit hits[4];
    int n = galaxy_scan(&w.gal, h->pos, 30, h->id_hi, h->id_lo, hits, 4);
    CHECK(n >= 1);
    action tr = act(A_TRAVEL);
    tr.target_hi = hits[0].sys->id_hi;
    tr.target_lo = hits[0].sys->id_lo;
    double fuel0 = w.p[0].fuel + w.p[0].cargo[RES_HYDROGEN];
    step(&w, 0, tr);
    CHECK(w.p[0].last_ok && w.p[0].location == LOC_INTERSTELLAR && w.p[0].status == ST_TRAVELING);
    double used = fuel0 - w.p[0].fuel - w.p[0].cargo[RES_HYDROGEN];
    CHECK(fabs(used - hits[0].distance_ly * world_fuel_per_ly(&w.p[0])) < 1e-3); /* grams */
    uint32_t eta = w.p[0].ticks_left;
    CHECK(fabs(eta - hits[0].distance_ly / (0.3 / 365.25)) <= 1.0);
    for (uint32_t k = 0; k < eta + 1 && w.p[0].activity == ACT_TRAVEL; k++) tick_run(&w, NULL, 0);
    CHECK(w.p[0].sys_hi == hits[0].sys->id_hi && w.p[0].sys_lo == hits[0].sys->id_lo);
    CHECK(w.p[0].location == LOC_IN_SYSTEM && w.p[0].body == -1 && w.p[0].survey[0] == 0);
    world_free(&w);
}

/* A probe's random events depend on (seed, id, tick) only: other probes do not shift them. */
static void test_order_independence(void) {
    world a, b;
    world_init(&a, 7, 1);
    world_init(&b, 7, 50);
    a.cfg.event_freq_hazard = b.cfg.event_freq_hazard = 0.05;
    a.cfg.event_freq_discovery = b.cfg.event_freq_discovery = 0.05;
    for (int t = 0; t < 300; t++) {
        tick_run(&a, NULL, 0);
        tick_run(&b, NULL, 0);
    }
    CHECK(a.p[0].hull == b.p[0].hull && a.p[0].energy == b.p[0].energy);
    CHECK(memcmp(a.p[0].tech, b.p[0].tech, TECH_COUNT) == 0);
    CHECK(memcmp(a.p[0].cargo, b.p[0].cargo, sizeof a.p[0].cargo) == 0);
    CHECK(a.m.hazards > 0);
    world_free(&a);
    world_free(&b);
}

static void test_energy_dormant(void) {
    world w;
    world_init(&w, 42, 1);
    w.cfg.energy_scale = 0;
    w.p[0].energy = 2.0e9;
    tick_run(&w, NULL, 0);
    tick_run(&w, NULL, 0);
    tick_run(&w, NULL, 0);
    CHECK(w.p[0].status == ST_DORMANT);
    step(&w, 0, act(A_SURVEY));
    CHECK(!w.p[0].last_ok && w.p[0].last_reason == R_DORMANT);
    w.cfg.energy_scale = 1;
    for (int k = 0; k < 10; k++) tick_run(&w, NULL, 0);
    CHECK(w.p[0].status == ST_ACTIVE);
    world_free(&w);
}

/* world_probe_index_of (with its shortcut for "1-N") names the same probe as world_parse_id
 * and world_probe_index, for well-formed ids and every kind of malformed one. */
static void test_probe_index_of(void) {
    world w;
    world_init(&w, 42, 120);
    static const char *ids[] = {"1-1", "1-120", "1-121", "1-0", "1-01", "1-0000000120", "01-1", "1-00000000001",
                                "1-", "-1", "1", "", "1--1", "2-1", "0-1", "1-1 ", " 1-1", "1-1x", "1-x", "x-1",
                                "1-999999999", "1-9999999999", "1-18446744073709551615", "1-18446744073709551616",
                                "1-99999999999999999999", "1-000000000000000000001", "18446744073709551617-1",
                                "1-4294967297", "1-1-1", "1-+1", "1-\xc3\xa9", "1-18446744073709551617",
                                "1-36893488147419103233"};
    for (size_t i = 0; i < sizeof ids / sizeof *ids; i++) {
        size_t n = strlen(ids[i]);
        uint64_t hi, lo;
        int64_t want = world_parse_id(ids[i], n, &hi, &lo) ? -1 : world_probe_index(&w, hi, lo);
        CHECK_MSG(world_probe_index_of(&w, ids[i], n) == want, "%s", ids[i]);
    }
    /* random strings over the id alphabet */
    uint64_t r = 1;
    char s[24];
    for (int k = 0; k < 200000; k++) {
        r = r * 6364136223846793005ULL + 1442695040888963407ULL;
        size_t n = (size_t)(r >> 60) + 1;
        for (size_t j = 0; j < n; j++) {
            r = r * 6364136223846793005ULL + 1442695040888963407ULL;
            s[j] = "0123456789-1-x"[(r >> 59) % 14];
        }
        if (k & 1) s[0] = '1', s[n > 1 ? 1 : 0] = '-';
        uint64_t hi, lo;
        int64_t want = world_parse_id(s, n, &hi, &lo) ? -1 : world_probe_index(&w, hi, lo);
        if (world_probe_index_of(&w, s, n) != want) {
            CHECK_MSG(0, "%.*s", (int)n, s);
            break;
        }
    }
    world_free(&w);
}

int main(void) {
    test_probe_index_of();
    test_bob();
    test_rejections();
    test_explore_mine_repair();
    test_destroy();
    test_replicate_and_travel();
    test_order_independence();
    test_energy_dormant();
    return tu_report("test_world");
}
