/* test_delta.c -- observe_delta.c: the delta of an observation against the one written for the
 * probe at the previous tick, by both of its text paths (only the changed middle rescanned, or
 * every field when the change does not line up with the old fields), and when it must be whole
 * (first time, forced, a tick skipped, another detail, a new generation). The values are checked
 * against observe_probe's own text; tests/test_delta_groups.py applies long random runs.
 * The key path (a compact observation whose observe_key did not change: only its energy is
 * formatted): the key must change whenever anything but the energy changes in the text, and a
 * cache with keys must write the same bytes as one without, over long random runs. */
#include "life.h"
#include "observe.h"
#include "observe_delta.h"
#include "rng.h"
#include "testutil.h"
#include "tick.h"

#include <string.h>

static jbuf wholes, deltas, ref;

static void step(world *w) { tick_run(w, NULL, 0); }

/* Write probe 0 through the cache into fresh wholes/deltas buffers. */
static void write0(delta_cache *c, world *w, int flags, int whole) {
    jb_reset(&wholes);
    jb_reset(&deltas);
    CHECK(observe_delta_probe(c, &wholes, &deltas, w, 0, flags, whole) == 0);
}

/* `"key":<value as observe_probe writes it now>` is in the delta. */
static int delta_has_field(world *w, const char *key, int flags) {
    jb_reset(&ref);
    observe_probe(&ref, w, 0, flags);
    char k[64];
    snprintf(k, sizeof k, "\"%s\":", key);
    size_t kl = strlen(k);
    for (size_t i = 0; i + kl <= ref.len; i++) {
        if (memcmp(ref.p + i, k, kl)) continue;
        size_t e = i + kl;
        while (e < ref.len && ref.p[e] != ',' && ref.p[e] != '}') e++; /* a scalar */
        char field[128];
        size_t n = e - i < sizeof field - 1 ? e - i : sizeof field - 1;
        memcpy(field, ref.p + i, n);
        field[n] = 0;
        return tu_contains(deltas.p, deltas.len, field);
    }
    return 0;
}

static void test_paths(void) {
    world w;
    CHECK(world_init(&w, 42, 2) == 0);
    delta_cache c;
    delta_cache_init(&c);
    c.no_keys = 1; /* the text paths (the key path would take the energy-only steps) */
    step(&w);
    write0(&c, &w, OBSERVE_COMPACT, 0); /* first time: whole, with the tick */
    CHECK(c.n_whole == 1 && deltas.len == 0);
    CHECK(tu_contains(wholes.p, wholes.len, "\"probe_id\":\"1-1\""));
    CHECK(tu_contains(wholes.p, wholes.len, ",\"tick\":1}"));

    step(&w); /* energy changes: only the middle is rescanned */
    write0(&c, &w, OBSERVE_COMPACT, 0);
    CHECK(wholes.len == 0 && c.n_short == 1 && c.n_scanned == 0);
    CHECK(tu_contains(deltas.p, deltas.len, "{\"probe_id\":\"1-1\",\"changed\":{\"energy\":"));
    CHECK(delta_has_field(&w, "energy", OBSERVE_COMPACT));
    CHECK(tu_contains(deltas.p, deltas.len, "\"removed\":[]}"));
    CHECK(!tu_contains(deltas.p, deltas.len, "\"hull\""));
    CHECK(!tu_contains(deltas.p, deltas.len, "\"tick\""));

    /* hull 1.0 -> 1.05: the old value ends where the texts part, the new one goes on: the
     * shortcut does not line up and every field is compared */
    step(&w);
    w.p[0].hull = 1.05;
    write0(&c, &w, OBSERVE_COMPACT, 0);
    CHECK(c.n_scanned == 1);
    CHECK(delta_has_field(&w, "hull", OBSERVE_COMPACT) && delta_has_field(&w, "energy", OBSERVE_COMPACT));
    CHECK(!tu_contains(deltas.p, deltas.len, "\"fuel\""));

    step(&w); /* nothing but energy again: back on the shortcut */
    write0(&c, &w, OBSERVE_COMPACT, 0);
    CHECK(c.n_short == 2 && !tu_contains(deltas.p, deltas.len, "\"hull\""));

    /* no base: forced whole, a skipped tick, another detail, a new generation */
    uint64_t whole0 = c.n_whole;
    step(&w);
    write0(&c, &w, OBSERVE_COMPACT, 1);
    CHECK(c.n_whole == whole0 + 1 && deltas.len == 0);
    step(&w);
    step(&w);
    write0(&c, &w, OBSERVE_COMPACT, 0);
    CHECK(c.n_whole == whole0 + 2);
    step(&w);
    write0(&c, &w, 0, 0);
    CHECK(c.n_whole == whole0 + 3 && wholes.len > 2000); /* full detail */
    step(&w);
    write0(&c, &w, 0, 0); /* full detail has a base now */
    CHECK(c.n_whole == whole0 + 3 && deltas.len > 0);
    delta_cache_invalidate(&c);
    step(&w);
    write0(&c, &w, 0, 0);
    CHECK(c.n_whole == whole0 + 4);
    delta_cache_free(&c);
    world_free(&w);
}

/* ------------------------------------------------------------ the key path */

static uint64_t rng_s = 0x9e3779b97f4a7c15ULL;
static uint64_t rnd(uint64_t n) { /* 0..n-1 */
    rng_s = rng_s * 6364136223846793005ULL + 1442695040888963407ULL;
    return (rng_s >> 33) % n;
}

/* Set one input of probe i (any member of probe or probe_cold, within its valid range) to a
 * random value, or give it an event. */
static void mutate(world *w, uint32_t i) {
    probe *p = &w->p[i];
    probe_cold *c = &w->c[i];
    const star_system *s = world_probe_system(w, p);
    int nb = s ? s->n_bodies : 0;
    static const double dv[] = {0.0, 1.0, 0.5, 0.123456, 5.0, 99.5, 1e6, 123456789.25, 1e12, 1.5e12, 2e12, 1e-7};
    double d = dv[rnd(sizeof dv / sizeof *dv)];
    switch (rnd(43)) {
    case 0: p->energy = d; break;
    case 1: p->energy += 1.0; break;
    case 2: p->hull = d; break;
    case 3: p->fuel = d; break;
    case 4: p->cargo[rnd(RES_COUNT)] = d; break;
    case 5: p->progress = d; break;
    case 6: p->survey_progress = d; break;
    case 7: p->solar = d; break;
    case 8: p->last_amount = d; break;
    case 9: p->ticks_left = (uint32_t)rnd(100); break;
    case 10: p->ticks_total = (uint32_t)rnd(100); break;
    case 11: p->body = (int8_t)((int)rnd((uint64_t)nb + 1) - 1); break;
    case 12: p->nav_target = (int8_t)(nb ? rnd((uint64_t)nb) : 0); break;
    case 13: p->status = (uint8_t)rnd(ST_COUNT - 1); break; /* not destroyed: the alive count */
    case 14: p->location = (uint8_t)rnd(LOC_COUNT); break;
    case 15: p->activity = (uint8_t)rnd(ACT_COUNT); break;
    case 16: p->act_tick = rnd(2) ? w->tick : w->tick - 1; break;
    case 17: p->last_action = (uint8_t)rnd(A_COUNT); break;
    case 18: p->last_ok = (uint8_t)rnd(2); break;
    case 19: p->last_reason = (uint8_t)rnd(R_COUNT); break;
    case 20: p->last_res = (uint8_t)rnd(RES_COUNT); break;
    case 21: p->sys_survey = (uint8_t)rnd(5); break;
    case 22: p->tech[rnd(TECH_COUNT)] = (uint8_t)(1 + rnd(TECH_MAX)); break;
    case 23: p->survey[rnd(GALAXY_MAX_BODIES)] = (uint8_t)rnd(5); break;
    case 24: p->research = (uint8_t)rnd(TECH_COUNT + 1); break;
    case 25: p->research_left = (uint32_t)rnd(50); break;
    case 26: p->research_total = (uint32_t)rnd(50); break;
    case 27: p->dst_hi = rnd(3); break;
    case 28: p->dst_lo = rnd(3); break;
    case 29: { /* another system of the home sector (no body there yet) */
        const sector *sec = galaxy_sector(&w->gal, 0, 0, 0);
        if (sec && sec->n_systems) {
            const star_system *t = &sec->systems[rnd(sec->n_systems)];
            p->sys_hi = t->id_hi;
            p->sys_lo = t->id_lo;
            p->body = -1;
        }
        break;
    }
    case 30: c->parent_hi = rnd(2); break;
    case 31: c->parent_lo = rnd(3); break;
    case 32: c->born_tick = rnd(5); break;
    case 33: c->generation = (uint32_t)rnd(3); break;
    case 34: c->children = (uint32_t)rnd(3); break;
    case 35: world_set_name(c, rnd(2) ? "Bob" : "Bob-\"quoted\" \xc3\xa9"); break;
    case 36: world_emit(w, i, EV_HAZARD, 0, 0, 0.1, 0.01); break;
    case 37: world_emit(w, i, EV_DISCOVERY, (uint8_t)rnd(DS_COUNT), 0, 0.5, 10.0); break;
    case 38: /* an action in this tick */
        p->act_tick = w->tick;
        p->last_action = (uint8_t)rnd(A_COUNT);
        p->last_ok = (uint8_t)rnd(2);
        p->last_res = (uint8_t)rnd(2);
        break;
    case 39: /* the body mined (by anyone): its remaining kg */
        if (s && p->body >= 0) world_deplete(w, s, p->body, (int)rnd(RES_COUNT), 1000.0);
        break;
    case 40: { /* a system explored, the speeds configured (what a scan result shows) */
        const sector *sec = galaxy_sector(&w->gal, 0, 0, 0);
        if (sec && sec->n_systems) {
            const star_system *t = &sec->systems[rnd(sec->n_systems)];
            world_mark_explored(w, t->id_hi, t->id_lo);
        }
        w->cfg.travel_speed_scale = rnd(2) ? 1.0 : 1.5;
        break;
    }
    case 41: /* a wait taken in this tick, rejected for no reason: all zero but the tick */
        p->act_tick = w->tick;
        p->last_action = p->last_ok = p->last_reason = p->last_res = 0;
        p->last_amount = 0.0;
        break;
    default: p->survey[p->body >= 0 ? p->body : 0] = 4; break; /* remaining_kg shown */
    }
}

/* observe_probe's compact text of probe i with the value of "energy" cut out, into out */
static void text_without_energy(world *w, uint32_t i, jbuf *out) {
    jb_reset(&ref);
    observe_probe(&ref, w, i, OBSERVE_COMPACT);
    jb_reset(out);
    static const char k[] = "\"energy\":";
    for (size_t j = 0; j + sizeof k - 1 <= ref.len; j++) {
        if (memcmp(ref.p + j, k, sizeof k - 1)) continue;
        size_t e = j + sizeof k - 1;
        while (e < ref.len && ref.p[e] != ',') e++;
        jb_raw(out, ref.p, j);
        jb_raw(out, ref.p + e, ref.len - e);
        return;
    }
    jb_raw(out, ref.p, ref.len);
}

/* Whenever two states have equal keys, their compact texts are equal but for the energy: the
 * key holds every input of the text. Random single and double mutations of every member. */
static void test_key_covers_inputs(void) {
    world w;
    CHECK(world_init(&w, 7, 4) == 0);
    for (int t = 0; t < 3; t++) tick_run(&w, NULL, 0);
    jbuf a, b;
    jb_init(&a);
    jb_init(&b);
    int equal_keys = 0, refused = 0;
    for (int trial = 0; trial < 100000; trial++) {
        uint32_t i = (uint32_t)rnd(w.n_probes);
        if (trial % 500 == 0) tick_run(&w, NULL, 0); /* new tick: this tick's actions become old */
        probe saved = w.p[i];
        probe_cold saved_c = w.c[i];
        int setup = (int)rnd(4); /* a state off the beaten track first */
        for (int m = 0; m < setup; m++) mutate(&w, i);
        observe_key k0, k1;
        int ok0 = observe_compact_key(&w, i, &k0);
        text_without_energy(&w, i, &a);
        mutate(&w, i);
        int ok1 = observe_compact_key(&w, i, &k1);
        text_without_energy(&w, i, &b);
        if (ok0 && ok1 && !memcmp(&k0, &k1, sizeof k0)) {
            equal_keys++;
            CHECK_MSG(a.len == b.len && !memcmp(a.p, b.p, a.len), "equal keys, other texts:\n%.*s\n%.*s", (int)a.len,
                      a.p, (int)b.len, b.p);
        }
        if (!ok1) refused++;
        if (rnd(4)) { /* mostly back to a sane state; sometimes the mutations stay */
            w.p[i] = saved;
            w.c[i] = saved_c;
        }
    }
    CHECK(equal_keys > 1000 && refused > 100);
    world_free(&w);
    /* the same probe in the galaxy of another seed: other names, another key */
    world w1, w2;
    CHECK(world_init(&w1, 7, 1) == 0 && world_init(&w2, 8, 1) == 0);
    tick_run(&w1, NULL, 0);
    tick_run(&w2, NULL, 0);
    w1.p[0].ev_head = 0; /* (no events: the logs differ) */
    w2.p[0] = w1.p[0];
    w2.c[0] = w1.c[0];
    observe_key k0, k1;
    CHECK(observe_compact_key(&w1, 0, &k0) && observe_compact_key(&w2, 0, &k1));
    text_without_energy(&w1, 0, &a);
    text_without_energy(&w2, 0, &b);
    CHECK(a.len != b.len || memcmp(a.p, b.p, a.len));
    CHECK(memcmp(&k0, &k1, sizeof k0));
    world_free(&w1);
    world_free(&w2);
    jb_free(&a);
    jb_free(&b);
}

/* The same writes through a cache with keys (k) and one without (t) give the same bytes. */
static jbuf kw, kd, tw, td;

static void write_both(delta_cache *k, delta_cache *t, world *w, uint32_t i, int flags, int whole) {
    CHECK(observe_delta_probe(k, &kw, &kd, w, i, flags, whole) == 0);
    CHECK(observe_delta_probe(t, &tw, &td, w, i, flags, whole) == 0);
}

static int same_buf(const jbuf *a, const jbuf *b) { return a->len == b->len && (!a->len || !memcmp(a->p, b->p, a->len)); }

static int same_output(void) {
    int same = same_buf(&kw, &tw) && same_buf(&kd, &td);
    if (!same)
        fprintf(stderr, "with keys:\n%.*s\n%.*s\nwithout:\n%.*s\n%.*s\n", (int)kw.len, kw.p, (int)kd.len, kd.p,
                (int)tw.len, tw.p, (int)td.len, td.p);
    jb_reset(&kw);
    jb_reset(&kd);
    jb_reset(&tw);
    jb_reset(&td);
    return same;
}

/* Two caches for the same observations: k takes the key path where it may, t never does. */
static void keyed_and_not(delta_cache *k, delta_cache *t) {
    delta_cache_init(k);
    delta_cache_init(t);
    t->no_keys = 1;
}

/* The steps the key path takes, one by one: energy only, an energy of another length left in
 * the entry (stale), then a change that needs the text (the stale energy is put in first). */
static void test_key_steps(void) {
    world w;
    CHECK(world_init(&w, 42, 2) == 0);
    delta_cache k, t;
    keyed_and_not(&k, &t);
    step(&w);
    write_both(&k, &t, &w, 0, OBSERVE_COMPACT, 0); /* whole */
    CHECK(same_output() && k.n_whole == 1);
    step(&w);
    write_both(&k, &t, &w, 0, OBSERVE_COMPACT, 0);
    CHECK(k.n_keyed == 1 && t.n_keyed == 0 && t.n_short == 1);
    CHECK(same_output());
    step(&w);
    w.p[0].energy = 5.0; /* a shorter value: the entry's text is now behind */
    write_both(&k, &t, &w, 0, OBSERVE_COMPACT, 0);
    CHECK(k.n_keyed == 2 && k.e[0].energy_stale);
    CHECK(same_output());
    step(&w);
    write_both(&k, &t, &w, 0, OBSERVE_COMPACT, 0); /* energy changes again (and back in length) */
    CHECK(k.n_keyed == 3 && same_output());
    step(&w);
    w.p[0].hull = 0.5; /* the key changes: the text path, on the text with the last energy put in */
    write_both(&k, &t, &w, 0, OBSERVE_COMPACT, 0);
    CHECK(k.n_keyed == 3 && !k.e[0].energy_stale);
    CHECK(k.e[0].len == t.e[0].len && !memcmp(k.e[0].text, t.e[0].text, t.e[0].len));
    CHECK(same_output());
    step(&w);
    write_both(&k, &t, &w, 0, OBSERVE_COMPACT, 0);
    CHECK(k.n_keyed == 4 && same_output());
    step(&w);
    write_both(&k, &t, &w, 0, 0, 0); /* full detail: never by key */
    CHECK(k.n_keyed == 4 && same_output());
    step(&w);
    write_both(&k, &t, &w, 0, 0, 0);
    CHECK(k.n_keyed == 4 && same_output());
    delta_cache_free(&k);
    delta_cache_free(&t);
    world_free(&w);
}

/* Long random runs: real ticks with random actions, random mutations of the probes, skipped
 * ticks, forced wholes, full detail now and then, new generations: with and without keys, the
 * same bytes every time, and every path taken. */
static void test_key_runs(void) {
    world w;
    CHECK(world_init(&w, 11, 12) == 0);
    delta_cache k, t;
    keyed_and_not(&k, &t);
    tick_action acts[64];
    int ticks = getenv("SIM_SANITIZED") ? 300 : 1500;
    for (int n = 0; n < ticks; n++) {
        /* a tick with some actions (in probe order) */
        size_t na = 0;
        for (uint32_t i = 0; i < w.n_probes && na < 64; i++) {
            if (rnd(3)) continue;
            tick_action *ta = &acts[na++];
            memset(ta, 0, sizeof *ta);
            ta->probe = i;
            ta->a.res = -1;
            static const uint8_t kinds[] = {A_WAIT, A_SURVEY, A_MINE, A_SCAN, A_REPAIR, A_ORBIT, A_LAND, A_LAUNCH,
                                            A_NAVIGATE, A_WAIT, A_REPLICATE};
            ta->a.kind = kinds[rnd(sizeof kinds)];
            if (ta->a.kind == A_MINE) ta->a.res = (int8_t)rnd(RES_COUNT);
            if (ta->a.kind == A_NAVIGATE) {
                const star_system *s = world_probe_system(&w, &w.p[i]);
                if (s && s->n_bodies) galaxy_body_id(s, (int)rnd(s->n_bodies), &ta->a.target_hi, &ta->a.target_lo);
            }
        }
        if (rnd(20)) tick_run(&w, acts, na);
        if (rnd(50) == 0) { /* restore, load, scenario */
            delta_cache_invalidate(&k);
            delta_cache_invalidate(&t);
        }
        /* some probes changed by hand for this write only (the world stays sane for the next tick) */
        probe saved[4];
        probe_cold saved_c[4];
        uint32_t who[4];
        int nm = (int)rnd(5);
        for (int m = 0; m < nm; m++) {
            who[m] = (uint32_t)rnd(w.n_probes);
            saved[m] = w.p[who[m]];
            saved_c[m] = w.c[who[m]];
        }
        for (int m = 0; m < nm; m++) mutate(&w, who[m]);
        int flags = rnd(15) ? OBSERVE_COMPACT : 0;
        int whole = rnd(30) == 0;
        for (uint32_t i = 0; i < w.n_probes; i++)
            if (rnd(10)) write_both(&k, &t, &w, i, flags, whole);
        CHECK_MSG(same_output(), "tick %d", n);
        for (int m = nm - 1; m >= 0; m--) {
            w.p[who[m]] = saved[m];
            w.c[who[m]] = saved_c[m];
        }
    }
    CHECK_MSG(k.n_keyed > (uint64_t)ticks && k.n_short > (uint64_t)ticks && k.n_whole > (uint64_t)ticks / 10 &&
                  t.n_keyed == 0,
              "keyed %llu short %llu whole %llu", (unsigned long long)k.n_keyed, (unsigned long long)k.n_short,
              (unsigned long long)k.n_whole);
    CHECK(k.n_whole == t.n_whole);
    delta_cache_free(&k);
    delta_cache_free(&t);
    world_free(&w);
}

int main(void) {
    jb_init(&wholes);
    jb_init(&deltas);
    jb_init(&ref);
    jb_init(&kw);
    jb_init(&kd);
    jb_init(&tw);
    jb_init(&td);
    test_paths();
    test_key_covers_inputs();
    test_key_steps();
    test_key_runs();
    jb_free(&kw);
    jb_free(&kd);
    jb_free(&tw);
    jb_free(&td);
    jb_free(&wholes);
    jb_free(&deltas);
    jb_free(&ref);
    return tu_report("test_delta");
}
