/* target_actions.c -- the action path: bytes decoded into action sequences for several live
 * probes over many ticks, straight into tick_run (no JSON, so the fuzzer spends its time in the
 * mechanics).
 *
 * Prepared state (once per process): seed 42 with 4 probes at home, saved as canonical bytes;
 * every input starts from it again (restored, the galaxy cache kept). Travel targets: the 16
 * systems nearest home (within 30 ly) and the nearest ones with alien life (add_life_targets).
 *
 * Input bytes, read in order (reads past the end give 0):
 *   byte 0     configuration preset bits: 1 fast replication, 2 cheap replication, 4 many hazards,
 *              8 population limit 6, 16 fast travel, 32 rich mining, 64 short trades/proposals,
 *              128 many discoveries/encounters
 *   then steps until the input ends (at most FUZZ_MAX_TICKS ticks in all):
 *     s = next byte; s < 32: one tick; for each of the first 8 probes a byte whose low bit says
 *     whether it acts, then (if so) an op byte (op % A_COUNT: the action kind) followed by the
 *     bytes that kind needs (resource, body, travel target, probe, proposal, amount, text);
 *     32 <= s < 224: (s - 31) ticks without actions; s >= 224: a snapshot check now (at most
 *     FUZZ_MAX_CHECKS per input).
 * Invariants after every tick: the tick advanced by one; for every probe the enums in range,
 * 0 <= hull <= 1, 0 <= energy <= ENERGY_CAP, 0 <= fuel <= FUEL_CAP, every cargo >= 0 and the
 * total <= CARGO_CAP, tech levels in 1..TECH_MAX, a destroyed probe has hull 0 and a live one
 * hull > 0; alive equals the number of probes not destroyed, spawned == n_probes and destroyed
 * == n_probes - alive. Snapshot check (where the input asks for it, and at the end of an input
 * that asked for none, so every input has at least one): serialize, deserialize, the copy
 * hashes like the bytes, and the copy and the original stay equal over the next 2 ticks. */
#include "fuzz.h"

#include "life.h"
#include "persist.h"
#include "tick.h"
#include "world.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_SEED 42
#define FUZZ_POPULATE 4
#define FUZZ_MAX_TICKS 1000
#define FUZZ_MAX_ACTORS 8
#define FUZZ_MAX_CHECKS 2

typedef struct reader {
    const uint8_t *p, *end;
} reader;
static uint8_t rd(reader *r) { return r->p < r->end ? *r->p++ : 0; }

static world W;
static uint8_t *prepared;
static size_t prepared_len;
static int ready;
static jbuf sbuf; /* snapshot bytes (reused) */
static tick_action acts[FUZZ_MAX_ACTORS];
#define FUZZ_LIFE_TARGETS 4
/* travel targets, found once: the systems nearest home, then the nearest with alien life */
static uint64_t near[16 + FUZZ_LIFE_TARGETS + 1][2];
static int n_near;
static galaxy warm;  /* the generated sectors, kept between inputs (derived data, not state) */
static galaxy warm2; /* the same for the restored copy of a snapshot check */

FUZZ_NO_COV static void die(const char *what, const world *w, uint32_t i) {
    fprintf(stderr, "fuzz(actions) invariant violated at tick %llu, probe index %u: %s\n",
            (unsigned long long)w->tick, i, what);
    abort();
}

FUZZ_NO_COV static void release(void);

FUZZ_NO_COV static void load_prepared(world *out) {
    char err[160];
    if (persist_deserialize(prepared, prepared_len, out, err, sizeof err)) {
        fprintf(stderr, "fuzz(actions): prepared state does not load: %s\n", err);
        abort();
    }
}

/* Alien life lies farther out than the nearest systems (for seed 42 the first is at 32 ly), and
 * without it encounters, contact and extinct civilisations are out of reach: add the
 * FUZZ_LIFE_TARGETS nearest systems within 50 ly that hold life, and the nearest extinct
 * civilisation there, to the travel targets. Searched in a scratch galaxy (freed after), so the
 * warm sectors stay those the inputs visit. */
FUZZ_NO_COV static void add_life_targets(const double pos[3], uint64_t home_hi, uint64_t home_lo) {
    static scan_hit far[4096];
    galaxy g;
    galaxy_init(&g, W.gal.seed);
    int n = galaxy_scan(&g, pos, 50.0, home_hi, home_lo, far, 4096), n_life = 0, extinct = 0;
    for (int i = 0; i < n && (n_life < FUZZ_LIFE_TARGETS || !extinct); i++) {
        const star_system *s = far[i].sys;
        int life = 0, ext = 0;
        for (int bi = 0; bi < s->n_bodies; bi++) {
            alien_life al;
            life_alien(&W, s, bi, &al);
            life |= al.level > 0;
            ext |= al.extinct;
        }
        if ((life && n_life < FUZZ_LIFE_TARGETS) || (ext && !extinct)) {
            near[n_near][0] = s->id_hi;
            near[n_near][1] = s->id_lo;
            n_near++;
            n_life += life && n_life < FUZZ_LIFE_TARGETS;
            extinct |= ext;
        }
    }
    galaxy_free(&g);
}

FUZZ_NO_COV static int init_once(void) {
    if (world_init(&W, FUZZ_SEED, FUZZ_POPULATE)) return -1;
    jbuf b;
    jb_init(&b);
    if (persist_serialize(&W, &b)) return -1;
    prepared = (uint8_t *)b.p;
    prepared_len = b.len;
    jb_init(&sbuf);
    const star_system *home = galaxy_home(&W.gal);
    scan_hit hits[16];
    n_near = galaxy_scan(&W.gal, home->pos, 30.0, home->id_hi, home->id_lo, hits, 16);
    for (int i = 0; i < n_near; i++) {
        near[i][0] = hits[i].sys->id_hi;
        near[i][1] = hits[i].sys->id_lo;
    }
    add_life_targets(home->pos, home->id_hi, home->id_lo);
    galaxy_init(&warm, W.gal.seed);
    galaxy_init(&warm2, W.gal.seed);
    release();
    ready = 1;
    return 0;
}

/* End of an input: the world freed, its generated sectors kept in `warm`. Everything an input
 * allocated is freed by the end of its own run (bar new sectors), so libFuzzer's malloc/free
 * balance stays even and it does not rerun the input for a leak check. */
FUZZ_NO_COV static void release(void) {
    if (W.gal.seed == warm.seed) {
        galaxy tmp = warm;
        warm = W.gal;
        W.gal = tmp;
    }
    world_free(&W);
}

/* Start of an input: the prepared world, with the warm sectors moved in (same seed, same
 * content). */
FUZZ_NO_COV static void reset(void) {
    load_prepared(&W);
    if (W.gal.seed == warm.seed) {
        galaxy tmp = W.gal;
        W.gal = warm;
        warm = tmp;
    }
}

FUZZ_NO_COV static void check(const world *w) {
    uint32_t alive = 0;
    for (uint32_t i = 0; i < w->n_probes; i++) {
        const probe *p = &w->p[i];
        if (p->status >= ST_COUNT || p->location >= LOC_COUNT || p->activity >= ACT_COUNT ||
            p->last_action >= A_COUNT || p->last_reason >= R_COUNT)
            die("enum out of range", w, i);
        if (!(p->hull >= 0.0 && p->hull <= 1.0)) die("hull out of [0, 1]", w, i);
        if (!(p->energy >= 0.0 && p->energy <= ENERGY_CAP)) die("energy out of [0, ENERGY_CAP]", w, i);
        if (!(p->fuel >= 0.0 && p->fuel <= FUEL_CAP)) die("fuel out of [0, FUEL_CAP]", w, i);
        double total = 0;
        for (int r = 0; r < RES_COUNT; r++) {
            if (!(p->cargo[r] >= 0.0)) die("negative (or NaN) stock", w, i);
            total += p->cargo[r];
        }
        if (total > CARGO_CAP * (1 + 1e-9)) die("cargo above CARGO_CAP", w, i);
        for (int t = 0; t < TECH_COUNT; t++)
            if (p->tech[t] < 1 || p->tech[t] > TECH_MAX) die("tech level out of range", w, i);
        if (!(p->progress >= 0.0 && p->progress <= 1.0 + 1e-9)) die("progress out of [0, 1]", w, i);
        if (p->status == ST_DESTROYED) {
            if (p->hull != 0.0) die("destroyed probe with hull > 0", w, i);
        } else {
            alive++;
            if (!(p->hull > 0.0)) die("live probe with hull 0", w, i);
        }
    }
    if (alive != w->alive) die("alive differs from the probes not destroyed", w, alive);
    if (w->m.spawned != w->n_probes) die("spawned differs from n_probes", w, w->n_probes);
    if (w->m.destroyed != (uint64_t)(w->n_probes - w->alive)) die("destroyed differs from n_probes - alive", w, 0);
}

FUZZ_NO_COV static uint64_t hash_of(const world *w) {
    uint64_t h = 0;
    if (persist_hash(w, &h)) abort();
    return h;
}

/* snapshot -> restore -> same hash (the state hash of the restored copy is the hash of exactly
 * the snapshot's bytes), and both copies stay equal over the next 2 ticks. The snapshot buffer
 * is reused, and the copy gets warm sectors of its own (warm2), so its ticks do not regenerate
 * the galaxy around the probes. */
FUZZ_NO_COV static void snapshot_check(void) {
    jb_reset(&sbuf);
    if (persist_serialize(&W, &sbuf)) abort();
    world copy;
    char err[160];
    if (persist_deserialize((const uint8_t *)sbuf.p, sbuf.len, &copy, err, sizeof err)) {
        fprintf(stderr, "fuzz(actions): own snapshot does not load: %s\n", err);
        abort();
    }
    if (hash_of(&copy) != persist_hash_bytes((const uint8_t *)sbuf.p, sbuf.len))
        die("restored snapshot hashes differently", &W, 0);
    if (copy.gal.seed == warm2.seed) {
        galaxy tmp = copy.gal;
        copy.gal = warm2;
        warm2 = tmp;
    }
    for (int t = 0; t < 2; t++) {
        tick_run(&W, NULL, 0);
        tick_run(&copy, NULL, 0);
        check(&W);
    }
    if (hash_of(&copy) != hash_of(&W)) die("restored snapshot diverges in the following ticks", &W, 0);
    if (copy.gal.seed == warm2.seed) {
        galaxy tmp = warm2;
        warm2 = copy.gal;
        copy.gal = tmp;
    }
    world_free(&copy);
}

static void apply_preset(world *w, uint8_t b) {
    world_config *c = &w->cfg;
    if (b & 1) c->replication_time_scale = 0.01;
    if (b & 2) c->replication_cost_scale = 0.0;
    if (b & 4) { c->event_freq_hazard = 0.2; c->hazard_damage_scale = 5.0; }
    if (b & 8) c->max_probes = 6;
    if (b & 16) c->travel_speed_scale = 1000.0;
    if (b & 32) { c->mining_rate_scale = 1000.0; c->energy_scale = 100.0; }
    if (b & 64) { c->trade_ticks = 1; c->proposal_ticks = 1; }
    if (b & 128) { c->event_freq_discovery = 0.3; c->event_freq_encounter = 0.2; c->event_freq_anomaly = 0.2; }
}

static void probe_target(reader *r, action *a) {
    uint8_t b = rd(r);
    uint32_t k = b % (W.n_probes + 1); /* n_probes: an id that does not exist */
    a->target_hi = PROBE_ID_HI;
    a->target_lo = (uint64_t)k + 1;
}

static void decode(reader *r, uint32_t idx, action *a) {
    memset(a, 0, sizeof *a);
    a->res = -1;
    uint8_t op = rd(r);
    a->kind = (uint8_t)(op % A_COUNT);
    probe *p = &W.p[idx];
    switch (a->kind) {
    case A_MINE:
        a->res = (int8_t)(rd(r) % RES_COUNT);
        break;
    case A_NAVIGATE: {
        uint8_t b = rd(r);
        const star_system *s = galaxy_system(&W.gal, p->sys_hi, p->sys_lo);
        if (s && b < 240) galaxy_body_id(s, b % (s->n_bodies ? s->n_bodies : 1), &a->target_hi, &a->target_lo);
        else { a->target_hi = b; a->target_lo = rd(r); } /* an id that need not exist */
        break;
    }
    case A_TRAVEL: {
        uint8_t b = rd(r);
        if (b < 224 && n_near) { /* one of the targets: near home, or with life (the probe may be elsewhere) */
            a->target_hi = near[b % n_near][0];
            a->target_lo = near[b % n_near][1];
        } else if (b < 240) { /* its own system */
            a->target_hi = p->sys_hi;
            a->target_lo = p->sys_lo;
        } else { /* an id that need not exist */
            a->target_hi = rd(r);
            a->target_lo = rd(r);
        }
        break;
    }
    case A_SEND_MESSAGE: {
        uint8_t b = rd(r);
        if (b & 1) a->broadcast = 1;
        else probe_target(r, a);
        snprintf(a->text, sizeof a->text, "m%u", b);
        break;
    }
    case A_PLACE_BEACON:
        snprintf(a->text, sizeof a->text, "b%u", rd(r));
        break;
    case A_BUILD:
        a->arg = (uint8_t)(rd(r) % STRUCT_COUNT);
        break;
    case A_TRADE: {
        probe_target(r, a);
        a->res = (int8_t)(rd(r) % RES_COUNT);
        uint8_t m = rd(r), e = rd(r);
        a->amount = (1.0 + m) * pow(10.0, (double)(e % 16) - 6.0) + (e & 16 ? 0.0005 : 0.0);
        if (a->amount > 1e12) a->amount = 1e12;
        break;
    }
    case A_PROPOSE:
        snprintf(a->text, sizeof a->text, "p%u", rd(r));
        break;
    case A_VOTE:
        a->proposal = rd(r) % (W.n_pr + 2);
        a->arg = rd(r) & 1;
        break;
    case A_RESEARCH:
        a->arg = (uint8_t)(rd(r) % TECH_COUNT);
        break;
    case A_SHARE_TECH:
        probe_target(r, a);
        a->arg = (uint8_t)(rd(r) % TECH_COUNT);
        break;
    default:
        break;
    }
}

int fuzz_actions_one(const uint8_t *data, size_t size) {
    if (!ready && init_once()) abort();
    reset();
    reader r = {data, data + size};
    apply_preset(&W, rd(&r));
    uint32_t ticks = 0;
    int checks = 0;
    while (r.p < r.end && ticks < FUZZ_MAX_TICKS) {
        uint8_t s = rd(&r);
        if (s >= 224) {
            if (checks++ < FUZZ_MAX_CHECKS) snapshot_check();
            continue;
        }
        uint32_t n = 0, reps = s < 32 ? 1 : (uint32_t)s - 31;
        if (s < 32) {
            uint32_t m = W.n_probes < FUZZ_MAX_ACTORS ? W.n_probes : FUZZ_MAX_ACTORS;
            for (uint32_t i = 0; i < m; i++) {
                if (rd(&r) & 1) { /* this probe acts */
                    acts[n].probe = i;
                    acts[n].reject = R_NONE;
                    decode(&r, i, &acts[n].a);
                    n++;
                }
            }
        }
        for (uint32_t t = 0; t < reps && ticks < FUZZ_MAX_TICKS; t++, ticks++) {
            uint64_t before = W.tick;
            tick_run(&W, t == 0 ? acts : NULL, t == 0 ? n : 0);
            if (W.tick != before + 1) die("tick did not advance by one", &W, 0);
            check(&W);
        }
    }
    if (checks == 0) snapshot_check(); /* every input is checked at least once */
    release();
    return 1;
}
