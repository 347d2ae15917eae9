/* test_life.c -- the living-universe layer, one block per mechanic, with the numbers of
 * docs/universe.md ("Living universe"): personality and drift, memory fading and eviction,
 * replication per the reference (recipe, fork at 80 %, inheritance, quirks, names, lineage),
 * light-speed messages, range and relays, beacons, threats and encounters, artifacts, alien life,
 * trust, trades, claims, structures, proposals, research, share_tech, scenarios and forks. */
#define _POSIX_C_SOURCE 200809L
#include "events.h"
#include "life.h"
#include "persist.h"
#include "proto.h"
#include "society.h"
#include "testutil.h"
#include "tick.h"

#include <math.h>
#include <unistd.h>

static action act(uint8_t kind) {
    action a;
    memset(&a, 0, sizeof a);
    a.kind = kind;
    a.res = -1;
    return a;
}
static void step(world *w, uint32_t idx, action a) {
    tick_action ta = {idx, a, 0};
    tick_run(w, &ta, 1);
}
static void idle(world *w, int n) {
    for (int k = 0; k < n; k++) tick_run(w, NULL, 0);
}
static action to_probe(uint8_t kind, uint32_t target) {
    action a = act(kind);
    a.target_hi = PROBE_ID_HI;
    a.target_lo = target + 1;
    return a;
}
static int count_events(const world *w, uint32_t idx, int type) {
    int n = 0;
    for (uint32_t e = 0; e < w->n_ev; e++) n += w->ev[e].probe == idx && w->ev[e].type == type;
    return n;
}
static int near(double a, double b) { return fabs(a - b) < 1e-6; }
/* quiet universe: no random events */
static void quiet(world *w) {
    w->cfg.event_freq_discovery = w->cfg.event_freq_hazard = 0;
    w->cfg.event_freq_anomaly = w->cfg.event_freq_encounter = w->cfg.event_freq_crisis = w->cfg.event_freq_wonder = 0;
}
/* move probe idx to another system (in_system, no body) */
static void place(world *w, uint32_t idx, const star_system *s) {
    w->p[idx].sys_hi = s->id_hi;
    w->p[idx].sys_lo = s->id_lo;
    w->p[idx].location = LOC_IN_SYSTEM;
    w->p[idx].body = -1;
    w->sys_dirty = 1;
}
static const star_system *neighbour(world *w, double min_ly, double max_ly) {
    const star_system *h = galaxy_home(&w->gal);
    scan_hit hits[20];
    int n = galaxy_scan(&w->gal, h->pos, max_ly, h->id_hi, h->id_lo, hits, 20);
    for (int k = 0; k < n; k++)
        if (hits[k].distance_ly >= min_ly) return hits[k].sys;
    return NULL;
}

static void test_personality_memory(void) {
    world w;
    world_init(&w, 42, 1);
    quiet(&w);
    probe_life *l = &w.L[0];
    CHECK(near(l->trait[TR_CURIOSITY], 0.8f) && l->drift == 1.0f && l->earth == 1.0f && l->n_quirks == 2);
    float cur = l->trait[TR_CURIOSITY], ang = l->trait[TR_ANGST], cau = l->trait[TR_CAUTION];
    events_discovery(&w, 0, DS_ANOMALY, 123);
    CHECK(near(l->trait[TR_CURIOSITY], cur + 0.02f) && near(l->trait[TR_ANGST], ang - 0.01f));
    events_hazard(&w, 0, HZ_ASTEROID_IMPACT, 0.5); /* damage 0.5*0.5*0.94 = 0.235 */
    CHECK(near(l->trait[TR_CAUTION], (double)cau + 0.02 + 0.1 * 0.235));
    /* per-probe drift rate scales the change */
    l->drift = 2.0f;
    cur = l->trait[TR_CURIOSITY];
    events_discovery(&w, 0, DS_ANOMALY, 5);
    CHECK(near(l->trait[TR_CURIOSITY], cur + 0.04f));
    /* memories: significant events kept, weight fades as exp(-0.001 age) */
    int mems = 0;
    for (int k = 0; k < MEM_SLOTS; k++) mems += l->mem[k].weight > 0;
    CHECK(mems == 3);
    mem_entry m = {100, 0.8f, 0, EV_HAZARD, 0, 0, 0};
    CHECK(near(life_mem_weight(&m, 1100), 0.8 * exp(-1.0)));
    /* full slots: the most faded is evicted */
    for (int k = 0; k < MEM_SLOTS; k++) {
        l->mem[k].weight = 0.9f;
        l->mem[k].tick = 1000;
        l->mem[k].type = EV_WONDER;
    }
    l->mem[5].tick = 10; /* the oldest: most faded */
    w.tick = 2000;
    events_apply(&w, 0, EV_WONDER, 0, 0.5, 7);
    CHECK(l->mem[5].tick == 2000 && l->mem[4].tick == 1000);
    /* solitude: alone for more than 1000 ticks raises angst, lowers sociability */
    l->drift = 1.0f;
    l->last_company = 0;
    w.tick = 5000;
    ang = l->trait[TR_ANGST];
    float soc = l->trait[TR_SOCIABILITY];
    life_solitude(&w, 0);
    CHECK(near(l->trait[TR_ANGST], ang + 0.01f) && near(l->trait[TR_SOCIABILITY], soc - 0.01f));
    char mono[256];
    life_monologue(&w, 0, mono, sizeof mono);
    CHECK(strlen(mono) > 10);
    world_free(&w);
}

static void test_replication_reference(void) {
    world w;
    world_init(&w, 42, 1);
    quiet(&w);
    double cost[RES_COUNT], sum = 0;
    world_replication_cost(&w, cost);
    for (int r = 0; r < RES_COUNT; r++) {
        sum += cost[r];
        CHECK(cost[r] > 0); /* all 9 types */
    }
    CHECK(sum == 500000.0);
    for (int r = 0; r < RES_COUNT; r++) w.p[0].cargo[r] = cost[r];
    step(&w, 0, act(A_REPLICATE));
    CHECK(w.p[0].activity == ACT_REPLICATE && w.p[0].ticks_total == 190); /* 200 x (1 - 0.05 x 1) */
    uint64_t fork_tick = 0;
    while (w.p[0].activity == ACT_REPLICATE) {
        tick_run(&w, NULL, 0);
        if (!fork_tick && count_events(&w, 0, EV_FORK)) fork_tick = w.tick;
    }
    /* fork when progress first reaches 0.8: after 152 of 190 ticks (the start tick counts) */
    CHECK_MSG(fork_tick == 152, "fork at %llu", (unsigned long long)fork_tick);
    CHECK(w.n_probes == 2);
    probe_life *c = &w.L[1];
    CHECK(near(c->earth, 0.8f) && c->drift >= 0.25f && c->drift <= 2.0f);
    double diff = 0;
    for (int t = 0; t < TRAIT_COUNT; t++) diff += fabs((double)c->trait[t] - (double)w.L[0].trait[t]);
    CHECK(diff > 0 && diff < 3.0); /* gaussian mutation, sigma 0.1 */
    CHECK(!strncmp(w.c[1].name, "Bob", 3) && strcmp(w.c[1].name, "Bob") && strstr(w.c[1].name, "-2"));
    CHECK(w.c[1].parent_lo == 1 && w.c[1].generation == 1 && w.c[1].born_tick == w.tick);
    /* quirk inheritance: kept 70 %, mutated 10 %, dropped 20 %, plus 15 % chance of a new one */
    w.L[0].n_quirks = 3;
    w.L[0].quirk[0] = 1;
    w.L[0].quirk[1] = 2;
    w.L[0].quirk[2] = 3;
    int dropped = 0, total = 0, extra = 0;
    for (int k = 0; k < 4000; k++) {
        w.tick++;
        life_fork(&w, 0);
        dropped += 3 - (w.L[0].fork_nq > 3 ? 3 : w.L[0].fork_nq);
        total += 3;
        extra += w.L[0].fork_nq == 4;
    }
    double fd = (double)dropped / total;
    CHECK_MSG(fd > 0.17 && fd < 0.23, "dropped fraction %.3f", fd);
    CHECK(extra > 0);
    world_free(&w);
}

static void test_messages_relays_beacons(void) {
    world w;
    world_init(&w, 42, 3);
    quiet(&w);
    const star_system *home = galaxy_home(&w.gal);
    const star_system *far = neighbour(&w, 3.0, 14.0);
    CHECK(far != NULL);
    if (!far) return;
    double d = galaxy_distance(home, far);
    place(&w, 1, far);
    action m = to_probe(A_SEND_MESSAGE, 1);
    strcpy(m.text, "hello");
    step(&w, 0, m);
    CHECK(w.p[0].last_ok);
    uint64_t sent = w.tick, expect = sent + (uint64_t)ceil(d * 365.0);
    CHECK(w.n_mq == 1 && w.mq[0].arrive == expect);
    CHECK(w.p[0].energy == w.p[2].energy - MSG_ENERGY); /* costs 1e9 J more than an idle twin */
    while (w.tick < expect - 1) tick_run(&w, NULL, 0);
    CHECK(w.L[1].inbox == 0);
    tick_run(&w, NULL, 0);
    CHECK(w.L[1].inbox && !strcmp(w.inbox[w.L[1].inbox - 1].m[0].text, "hello") && count_events(&w, 1, EV_MESSAGE) == 1);
    /* out of range (5 + 5 x communication 1 = 10 ly) -> rejected; a relay carries it */
    w.p[0].tech[TECH_COMMUNICATION] = 1;
    const star_system *R = neighbour(&w, 2.0, 9.5), *T = NULL;
    CHECK(R != NULL);
    if (R) {
        scan_hit hits[20];
        int n = galaxy_scan(&w.gal, R->pos, RELAY_RANGE_LY, R->id_hi, R->id_lo, hits, 20);
        for (int k = 0; k < n && !T; k++)
            if (galaxy_distance(home, hits[k].sys) > 10.5 && galaxy_distance(home, hits[k].sys) < 30) T = hits[k].sys;
    }
    CHECK(T != NULL);
    if (R && T) {
        place(&w, 2, T);
        step(&w, 0, to_probe(A_SEND_MESSAGE, 2));
        CHECK(!w.p[0].last_ok && w.p[0].last_reason == R_NO_ROUTE);
        place(&w, 2, R);
        w.p[2].cargo[RES_IRON] = w.p[2].cargo[RES_SILICON] = 20000;
        action bld = act(A_BUILD);
        bld.arg = ST_RELAY;
        step(&w, 2, bld);
        CHECK(w.p[2].last_ok && w.n_st == 1);
        idle(&w, 78);
        CHECK(w.st[0].finished == 0);
        idle(&w, 1);
        CHECK(w.st[0].finished == w.tick); /* 80 ticks with one builder, counting the start tick */
        place(&w, 2, T);
        step(&w, 0, to_probe(A_SEND_MESSAGE, 2));
        CHECK(w.p[0].last_ok && w.n_mq == 1 && w.mq[0].relayed);
        double path = galaxy_distance(home, R) + galaxy_distance(R, T);
        CHECK(w.mq[0].arrive == w.tick + (uint64_t)ceil(path * 365.0));
    }
    /* beacons: seen on arrival */
    world_free(&w);
    world_init(&w, 42, 2);
    quiet(&w);
    home = galaxy_home(&w.gal); /* pointers into the old world's galaxy cache are gone */
    far = neighbour(&w, 3.0, 14.0);
    action bc = act(A_PLACE_BEACON);
    strcpy(bc.text, "Bob was here");
    step(&w, 0, bc);
    CHECK(w.p[0].last_ok && w.n_bcn == 1);
    place(&w, 1, far);
    w.p[1].activity = ACT_TRAVEL;
    w.p[1].location = LOC_INTERSTELLAR;
    w.p[1].dst_hi = home->id_hi;
    w.p[1].dst_lo = home->id_lo;
    w.p[1].ticks_left = w.p[1].ticks_total = 1;
    tick_run(&w, NULL, 0);
    CHECK(w.p[1].sys_lo == home->id_lo && count_events(&w, 1, EV_BEACON) == 1);
    /* broadcast reaches probes in range only, delay by distance */
    world_free(&w);
}

static void test_threats_encounters(void) {
    world w;
    world_init(&w, 42, 1);
    quiet(&w);
    w.cfg.event_freq_hazard = 1.0;
    tick_run(&w, NULL, 0);
    probe_life *l = &w.L[0];
    CHECK(count_events(&w, 0, EV_THREAT) == 1);
    uint64_t lead = l->threat_tick - w.tick;
    CHECK(lead >= 3 && lead <= 5);
    w.cfg.event_freq_hazard = 0;
    double hull = w.p[0].hull;
    while (w.tick + 1 < l->threat_tick) tick_run(&w, NULL, 0);
    CHECK(w.p[0].hull == hull && count_events(&w, 0, EV_HAZARD) == 0);
    tick_run(&w, NULL, 0);
    CHECK(count_events(&w, 0, EV_HAZARD) == 1 && l->threat_tick == 0);
    /* asteroid impact dodged by moving */
    const star_system *h = galaxy_home(&w.gal);
    events_threat(&w, 0, HZ_ASTEROID_IMPACT, 1.0, 3);
    action nav = act(A_NAVIGATE);
    galaxy_body_id(h, 0, &nav.target_hi, &nav.target_lo);
    step(&w, 0, nav);
    hull = w.p[0].hull;
    idle(&w, 3);
    CHECK(w.p[0].hull == hull);
    /* crisis: hull and cargo */
    w.p[0].cargo[RES_IRON] = 1000;
    hull = w.p[0].hull;
    events_apply(&w, 0, EV_CRISIS, 0, 1.0, 99);
    CHECK(w.p[0].hull < hull - 0.29 && w.p[0].cargo[RES_IRON] < 901);
    /* per-tick chances: anomaly at 100 % in a system */
    w.cfg.event_freq_anomaly = 1.0;
    tick_run(&w, NULL, 0);
    CHECK(count_events(&w, 0, EV_ANOMALY) == 1);
    world_free(&w);
}

static void test_alien_life_artifacts(void) {
    world w;
    world_init(&w, 42, 1);
    int bodies = 0, life = 0, extinct = 0, art = 0, civ = 0;
    const star_system *with_art = NULL;
    int art_body = -1;
    for (int x = -6; x <= 6; x++)
        for (int y = -6; y <= 6; y++)
            for (int z = -3; z <= 3; z++) {
                const sector *sec = galaxy_sector(&w.gal, x, y, z);
                for (uint32_t k = 0; sec && k < sec->n_systems; k++) {
                    const star_system *s = &sec->systems[k];
                    for (int b = 0; b < s->n_bodies; b++) {
                        alien_life al;
                        life_alien(&w, s, b, &al);
                        bodies++;
                        life += al.level > 0;
                        extinct += al.extinct;
                        civ += al.civ_name[0] != 0;
                        if (al.artifacts && !al.extinct) art++;
                        if (al.artifacts && !with_art && s->bodies[b].type == BODY_ASTEROID_BELT) {
                            with_art = s;
                            art_body = b;
                        }
                    }
                }
            }
    double fa = (double)art / bodies;
    CHECK_MSG(fa > 0.012 && fa < 0.028, "artifact fraction %.4f of %d", fa, bodies);
    CHECK_MSG(life > 0 && life < bodies / 20, "life on %d of %d", life, bodies);
    CHECK(extinct <= life);
    /* artifact hidden until a deep survey (level 4) */
    CHECK(with_art != NULL);
    if (with_art) {
        quiet(&w);
        place(&w, 0, with_art);
        w.sys_dirty = 1;
        w.p[0].body = (int8_t)art_body;
        w.p[0].location = LOC_ORBITING;
        w.p[0].solar = world_star_solar(with_art);
        proto P;
        proto_init(&P, 42, 1, 1u << 20);
        world_free(&P.w);
        P.w = w;
        int tech_before = 0;
        for (int t = 0; t < TECH_COUNT; t++) tech_before += P.w.p[0].tech[t];
        const char q[] = "{\"cmd\":\"probe\",\"probe_id\":\"1-1\"}";
        for (int k = 0; k < 40 && P.w.p[0].survey[art_body] < 4; k++) {
            proto_handle(&P, q, sizeof q - 1);
            CHECK(!tu_contains(P.out.p, P.out.len, "\"artifact\":{"));
            step(&P.w, 0, act(A_SURVEY));
        }
        CHECK(P.w.p[0].survey[art_body] == 4 && P.w.artifacts_found == 1);
        proto_handle(&P, q, sizeof q - 1);
        CHECK(tu_contains(P.out.p, P.out.len, "\"artifact\":{\"count\":"));
        int tech_after = 0;
        for (int t = 0; t < TECH_COUNT; t++) tech_after += P.w.p[0].tech[t];
        CHECK(tech_after > tech_before);
        proto_free(&P);
    } else {
        world_free(&w);
    }
}

/* The life chain on many Earth-like bodies: 7 % extinct, 40 % microbial ... 0.5 % transcended. */
static void test_life_chain(void) {
    world w;
    world_init(&w, 42, 1);
    star_system s;
    memset(&s, 0, sizeof s);
    s.luminosity = 1.0;
    s.mass = 1.0;
    s.n_bodies = 1;
    s.bodies[0].type = BODY_OCEAN;
    s.bodies[0].parent = 0xFF;
    s.bodies[0].landable = 1;
    s.bodies[0].orbit_au = 1.0;
    s.bodies[0].abundance[RES_WATER] = 0.9;
    int n = 0, life = 0, extinct = 0, level[LIFE_LEVEL_COUNT] = {0};
    planet_props pp;
    double expect_sum = 0;
    for (uint32_t k = 0; k < 300000; k++) {
        s.id_hi = GALAXY_ID_TAG | k;
        s.id_lo = 1u << 16;
        alien_life al;
        life_alien(&w, &s, 0, &al);
        life_planet_props(&w, &s, 0, &pp); /* pressure and field vary per body: average the chance */
        expect_sum += 0.0001 * (1.0 + 300.0 * pp.habitability * pp.water);
        n++;
        if (!al.level) continue;
        life++;
        if (al.extinct) extinct++;
        else level[al.level]++;
        if (al.level >= LIFE_INTELLIGENT) CHECK(al.civ_name[0] >= 'A' && al.civ_name[0] <= 'Z' && al.culture);
    }
    double expect = expect_sum / n;
    double fl = (double)life / n, fe = (double)extinct / life, fm = (double)level[LIFE_MICROBIAL] / (life - extinct);
    CHECK_MSG(fabs(fl - expect) < 0.1 * expect, "life %.4f expected %.4f", fl, expect);
    CHECK_MSG(fe > 0.055 && fe < 0.085, "extinct fraction %.3f", fe);
    CHECK_MSG(fm > 0.37 && fm < 0.43, "microbial fraction %.3f", fm);
    CHECK(level[LIFE_TRANSCENDED] < level[LIFE_SPACEFARING]);
    world_free(&w);
}

static void test_society(void) {
    world w;
    world_init(&w, 42, 5);
    quiet(&w);
    /* trade in the same system: instant, trust +0.05 */
    w.p[0].cargo[RES_IRON] = 5000;
    action tr = to_probe(A_TRADE, 1);
    tr.res = RES_IRON;
    tr.amount = 1000;
    step(&w, 0, tr);
    CHECK(w.p[0].last_ok && w.p[1].cargo[RES_IRON] == 1000 && w.p[0].cargo[RES_IRON] == 4000);
    CHECK(near(society_trust(&w, 0, 1), 0.05) && near(society_trust(&w, 1, 0), 0.05));
    /* across systems: 100 ticks */
    const star_system *far = neighbour(&w, 3.0, 14.0);
    place(&w, 2, far);
    step(&w, 0, (tr.target_lo = 3, tr));
    CHECK(w.n_tr == 1 && w.p[2].cargo[RES_IRON] == 0);
    idle(&w, 99);
    CHECK(w.p[2].cargo[RES_IRON] == 0);
    idle(&w, 1);
    CHECK(w.p[2].cargo[RES_IRON] == 1000 && w.n_tr == 0 && near(society_trust(&w, 0, 2), 0.05));
    /* share_tech: +0.08, receiver lifted to the sender's level at 40 % of the research energy */
    w.p[0].tech[TECH_SENSORS] = 5;
    double e0 = w.p[0].energy;
    action sh = to_probe(A_SHARE_TECH, 1);
    sh.arg = TECH_SENSORS;
    step(&w, 0, sh);
    CHECK(w.p[0].last_ok && w.p[1].tech[TECH_SENSORS] == 5 && near(society_trust(&w, 0, 1), 0.13));
    probe tmp = w.p[1];
    double cost = 0;
    for (tmp.tech[TECH_SENSORS] = 3; tmp.tech[TECH_SENSORS] < 5; tmp.tech[TECH_SENSORS]++)
        cost += 0.4 * society_research_ticks(&tmp, TECH_SENSORS) * RESEARCH_ENERGY;
    CHECK(w.p[0].energy < e0 - cost + 1e10); /* paid (plus a tick of energy balance) */
    step(&w, 0, sh);
    CHECK(!w.p[0].last_ok && w.p[0].last_reason == R_NOTHING_TO_SHARE);
    /* research: 50 x level x (1 - 0.05 (computing - 1)) ticks */
    action rs = act(A_RESEARCH);
    rs.arg = TECH_PROPULSION;
    step(&w, 3, rs);
    CHECK(w.p[3].last_ok && w.p[3].research_total == 128); /* 50 x 3 x 0.85 = 127.5 */
    idle(&w, 127);
    CHECK(w.p[3].tech[TECH_PROPULSION] == 4 && !w.p[3].research);
    /* claims: claim, violation on uninvited entry (-0.10), revoke */
    step(&w, 4, act(A_CLAIM));
    CHECK(w.p[4].last_ok);
    step(&w, 0, act(A_CLAIM));
    CHECK(!w.p[0].last_ok && w.p[0].last_reason == R_CLAIMED);
    w.p[2].activity = ACT_TRAVEL;
    w.p[2].location = LOC_INTERSTELLAR;
    w.p[2].dst_hi = w.p[4].sys_hi;
    w.p[2].dst_lo = w.p[4].sys_lo;
    w.p[2].ticks_left = w.p[2].ticks_total = 1;
    tick_run(&w, NULL, 0);
    CHECK(near(society_trust(&w, 4, 2), -0.10) && count_events(&w, 2, EV_CLAIM) == 1);
    step(&w, 0, act(A_REVOKE));
    CHECK(!w.p[0].last_ok && w.p[0].last_reason == R_NOT_CLAIMANT);
    step(&w, 4, act(A_REVOKE));
    CHECK(w.p[4].last_ok && *hmap_get(&w.claims, w.p[4].sys_hi, w.p[4].sys_lo) == 0);
    /* structures: up to 4 builders, speed 1 + 0.6 (builders - 1), +0.06 trust per co-builder */
    w.p[0].cargo[RES_IRON] = 50000;
    w.p[0].cargo[RES_SILICON] = 50000;
    action b = act(A_BUILD);
    b.arg = ST_MINING_STATION;
    step(&w, 0, b);
    CHECK(w.p[0].last_ok && w.n_st == 1);
    double before01 = society_trust(&w, 0, 1);
    step(&w, 1, b);
    step(&w, 3, b);
    step(&w, 4, b);
    CHECK(w.st[0].n_builders == 4 && near(society_trust(&w, 0, 1), before01 + 0.06));
    step(&w, 2, b); /* 2 is here now too: a fifth builder */
    CHECK(!w.p[2].last_ok && w.p[2].last_reason == R_BUILDERS_FULL);
    /* progress: 1/100 + 0.016x1 ... total 100 ticks of work at up to 2.8x */
    idle(&w, 40);
    CHECK(w.st[0].finished != 0);
    /* proposals: majority vote, one vote per probe, -0.05 trust for voting against */
    action pr = act(A_PROPOSE);
    strcpy(pr.text, "build a relay");
    step(&w, 0, pr);
    CHECK(w.n_pr == 1 && w.pr[0].deadline == w.tick + 100);
    action v = act(A_VOTE);
    v.proposal = 1;
    v.arg = 1;
    step(&w, 1, v);
    step(&w, 1, v);
    CHECK(!w.p[1].last_ok && w.p[1].last_reason == R_ALREADY_VOTED);
    double t30 = society_trust(&w, 3, 0);
    v.arg = 0;
    step(&w, 3, v);
    CHECK(near(society_trust(&w, 3, 0), t30 - 0.05));
    v.arg = 1;
    step(&w, 4, v);
    v.proposal = 7;
    step(&w, 4, v);
    CHECK(w.p[4].last_reason == R_UNKNOWN_PROPOSAL);
    idle(&w, 100);
    CHECK(w.pr[0].resolved && w.pr[0].passed && w.pr[0].yes == 2 && w.pr[0].no == 1);
    v.proposal = 1;
    step(&w, 2, v);
    CHECK(w.p[2].last_reason == R_PROPOSAL_CLOSED);
    world_free(&w);
}

static void cmd_ok(proto *P, const char *line) {
    proto_handle(P, line, strlen(line));
    CHECK_MSG(tu_contains(P->out.p, P->out.len, "\"ok\":true"), "%s -> %.*s", line, (int)P->out.len, P->out.p);
}

static void test_proto_commands(void) {
    proto P;
    proto_init(&P, 42, 2, 1u << 20);
    cmd_ok(&P, "{\"cmd\":\"tick\",\"observe\":[\"1-1\"]}");
    const char *fields[] = {"\"resources\":{", "\"position\":{\"sector\":", "\"capabilities\":{\"max_speed_c\"",
                            "\"system_info\":{", "\"star_count\":1", "\"planets\":[", "\"surface_temp_k\"",
                            "\"survey_complete\":[", "\"recent_events\":[", "\"nearby_probes\":[{", "\"inbox\":[",
                            "\"visible_beacons\":[", "\"visible_structures\":[", "\"pending_trades\":[", "\"claims\":[",
                            "\"proposals\":[", "\"trust\":{", "\"research\":null", "\"threats\":[", "\"relay_network\":{",
                            "\"personality\":{\"curiosity\":", "\"quirks\":[", "\"monologue\":", "\"memories\":["};
    for (size_t k = 0; k < sizeof fields / sizeof *fields; k++)
        CHECK_MSG(tu_contains(P.out.p, P.out.len, fields[k]), "missing %s", fields[k]);
    cmd_ok(&P, "{\"cmd\":\"tick\",\"observe\":[\"1-1\"],\"detail\":\"compact\"}");
    CHECK(!tu_contains(P.out.p, P.out.len, "\"personality\"") && tu_contains(P.out.p, P.out.len, "\"cargo\""));
    proto_handle(&P, "{\"cmd\":\"tick\",\"detail\":\"huge\"}", 30);
    CHECK(tu_contains(P.out.p, P.out.len, "bad_request"));
    cmd_ok(&P, "{\"cmd\":\"tick\",\"observe\":[\"1-1\",\"1-2\"],\"actions\":{\"1-1\":{\"type\":\"propose\",\"text\":\"x\"},"
               "\"1-2\":{\"action\":\"send_message\",\"target\":\"1-1\",\"content\":\"hi\"}}}");
    CHECK(tu_contains(P.out.p, P.out.len, "\"result\":{\"proposal\":1}"));
    {
        char want[64];
        snprintf(want, sizeof want, "\"result\":{\"arrival_tick\":%llu}", (unsigned long long)P.w.tick + 1);
        CHECK_MSG(tu_contains(P.out.p, P.out.len, want), "%s", want);
    }
    cmd_ok(&P, "{\"cmd\":\"tick\",\"observe\":[\"1-1\"],\"actions\":{\"1-1\":{\"type\":\"vote\",\"proposal\":1,\"favor\":true}}}");
    CHECK(tu_contains(P.out.p, P.out.len, "\"inbox\":[{\"from\":\"1-2\"") && tu_contains(P.out.p, P.out.len, "\"my_vote\":true"));
    cmd_ok(&P, "{\"cmd\":\"scan\",\"probe_id\":\"1-1\"}");
    CHECK(tu_contains(P.out.p, P.out.len, "\"systems\":[{\"id\""));
    cmd_ok(&P, "{\"cmd\":\"lineage\"}");
    CHECK(tu_contains(P.out.p, P.out.len, "\"entries\":[{\"probe_id\":\"1-1\""));
    cmd_ok(&P, "{\"cmd\":\"history\",\"probe_id\":\"1-1\"}");
    CHECK(tu_contains(P.out.p, P.out.len, "\"events\":["));
    /* a scenario: relative ticks, fires when due */
    cmd_ok(&P, "{\"cmd\":\"scenario\",\"scenario\":{\"name\":\"t\",\"relative\":true,\"events\":["
               "{\"at_tick\":2,\"type\":\"crisis\",\"severity\":1.0,\"target\":\"1-2\"},"
               "{\"at_tick\":3,\"type\":\"wonder\"}]}}");
    CHECK_MSG(tu_contains(P.out.p, P.out.len, "\"loaded\":2") && P.w.n_sc == 2 && P.w.sc[0].at_tick == P.w.tick + 2, "%.*s",
              (int)P.out.len, P.out.p);
    cmd_ok(&P, "{\"cmd\":\"tick\",\"observe\":\"none\"}");
    cmd_ok(&P, "{\"cmd\":\"tick\",\"observe\":[\"1-2\"]}");
    CHECK(tu_contains(P.out.p, P.out.len, "\"type\":\"crisis\""));
    cmd_ok(&P, "{\"cmd\":\"tick\",\"observe\":\"all\"}");
    CHECK(tu_contains(P.out.p, P.out.len, "\"type\":\"wonder\""));
    cmd_ok(&P, "{\"cmd\":\"scenario\"}");
    CHECK(tu_contains(P.out.p, P.out.len, "\"fired\":true") && tu_contains(P.out.p, P.out.len, "\"next_tick\":null"));
    proto_handle(&P, "{\"cmd\":\"scenario\",\"scenario\":{\"events\":[{\"at_tick\":1,\"type\":\"crisis\"}]}}", 72);
    CHECK(tu_contains(P.out.p, P.out.len, "bad_request")); /* in the past */
    /* shipped scenarios load */
    const char *files[] = {"scenarios/first_contact.json", "scenarios/resource_race.json", "scenarios/supernova.json"};
    for (int k = 0; k < 3; k++) {
        char line[300], abs[256];
        if (!getcwd(abs, sizeof abs)) continue;
        snprintf(line, sizeof line, "{\"cmd\":\"scenario\",\"path\":\"%s/%s\"}", abs, files[k]);
        cmd_ok(&P, line);
    }
    /* the reference engine's travel form: system index within a sector */
    cmd_ok(&P, "{\"cmd\":\"tick\",\"observe\":\"none\",\"actions\":{\"1-1\":{\"type\":\"travel_to_system\","
               "\"target_system_id\":1,\"sector_x\":-1,\"sector_y\":0,\"sector_z\":0}}}");
    CHECK(P.w.p[0].activity == ACT_TRAVEL && P.w.p[0].dst_lo == 2u << 16 && P.w.p[0].dst_hi == 13835055856259956736ULL);
    /* fork: the same past with a new future */
    char path[80], line[200];
    snprintf(path, sizeof path, "/tmp/universe-sim-fork-%d.sav", (int)getpid());
    snprintf(line, sizeof line, "{\"cmd\":\"save\",\"path\":\"%s\"}", path);
    cmd_ok(&P, line);
    snprintf(line, sizeof line, "{\"cmd\":\"load\",\"path\":\"%s\",\"seed\":7}", path);
    cmd_ok(&P, line);
    CHECK(P.w.rseed == 7 && P.w.seed == 42 && tu_contains(P.out.p, P.out.len, "\"forked\":true"));
    unlink(path);
    proto_free(&P);
}

/* The state hash covers the living layer; version-1 saves are refused clearly. */
static void test_hash_and_versions(void) {
    world w;
    world_init(&w, 42, 3);
    quiet(&w);
    action m = to_probe(A_SEND_MESSAGE, 1);
    strcpy(m.text, "x");
    step(&w, 0, m);
    uint64_t h0, h;
    persist_hash(&w, &h0);
    w.L[0].trait[TR_HUMOR] += 0.001f;
    persist_hash(&w, &h);
    CHECK(h != h0);
    w.L[0].trait[TR_HUMOR] -= 0.001f;
    persist_hash(&w, &h);
    CHECK(h == h0);
    w.mq[0].text[0] = 'y';
    persist_hash(&w, &h);
    CHECK(h != h0);
    w.mq[0].text[0] = 'x';
    society_trust_add(&w, 1, 2, 0.01);
    persist_hash(&w, &h);
    CHECK(h != h0);
    w.rseed ^= 1;
    uint64_t h2;
    persist_hash(&w, &h2);
    CHECK(h2 != h);
    /* a save written by the first engine (version 1) is bad_file with a clear message */
    char path[80];
    snprintf(path, sizeof path, "/tmp/universe-sim-v1-%d.sav", (int)getpid());
    size_t bytes;
    char err[200];
    CHECK(persist_save(&w, path, &bytes, &h, err, sizeof err) == 0);
    FILE *f = fopen(path, "r+b");
    if (f) {
        fseek(f, 8, SEEK_SET);
        fputc(1, f);
        fclose(f);
    }
    world w2;
    CHECK(persist_load(path, &w2, err, sizeof err) == -2 && strstr(err, "unsupported save version 1"));
    unlink(path);
    world_free(&w);
}

int main(void) {
    test_personality_memory();
    test_replication_reference();
    test_messages_relays_beacons();
    test_threats_encounters();
    test_alien_life_artifacts();
    test_life_chain();
    test_society();
    test_proto_commands();
    test_hash_and_versions();
    return tu_report("test_life");
}
