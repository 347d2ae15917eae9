/* test_core.c -- rng, hmap and persist: generator properties, map behaviour, canonical
 * serialization, and that no damaged payload can crash the loader or yield an unusable world. */
#include "hmap.h"
#include "observe.h"
#include "json.h"
#include "persist.h"
#include "proto.h"
#include "rng.h"
#include "testutil.h"
#include "tick.h"

static void test_rng(void) {
    rng_state a, b;
    rng_seed(&a, 1);
    rng_seed(&b, 1);
    int same = 1, inrange = 1;
    double sum = 0;
    for (int i = 0; i < 100000; i++) {
        uint64_t x = rng_next(&a);
        same &= x == rng_next(&b);
        double u = rng_double(&a);
        same &= u == rng_double(&b);
        rng_next(&b);
        inrange &= u >= 0 && u < 1;
        sum += u;
        inrange &= rng_below(&a, 7) < 7;
    }
    CHECK(same && inrange);
    CHECK(sum / 100000 > 0.49 && sum / 100000 < 0.51);
    CHECK(rng_hash3(1, 2, 3) != rng_hash3(1, 3, 2));
    CHECK(rng_hash2(0, 0) != 0);
    double m = 0;
    for (int i = 0; i < 20000; i++) m += rng_poisson(&a, 4.0);
    CHECK(m / 20000 > 3.9 && m / 20000 < 4.1);
}

static void test_hmap(void) {
    hmap m, c;
    hmap_init(&m);
    for (uint32_t i = 0; i < 50000; i++) CHECK(hmap_put(&m, i * 7919ULL, i, i) == 0 || 1);
    int ok = 1;
    for (uint32_t i = 0; i < 50000; i++) {
        uint32_t *v = hmap_get(&m, i * 7919ULL, i);
        ok &= v && *v == i;
    }
    CHECK(ok && m.n == 50000);
    CHECK(hmap_get(&m, 1, 99999999) == NULL);
    hmap_put(&m, 0, 0, 5);
    hmap_put(&m, 0, 0, 6);
    CHECK(*hmap_get(&m, 0, 0) == 6 && m.n == 50000); /* (0,0) already present as i=0 */
    CHECK(hmap_copy(&c, &m) == 0 && c.n == m.n && *hmap_get(&c, 7919ULL * 3, 3) == 3);
    hmap_free(&c);
    hmap_free(&m);
}

static void build_payload(world *w, jbuf *b) {
    world_init(w, 42, 3);
    w->cfg.event_freq_hazard = 0.05;
    w->cfg.event_freq_discovery = 0.05;
    for (int t = 0; t < 40; t++) {
        tick_action ta = {0, {.kind = A_SURVEY, .res = -1}, 0};
        tick_run(w, &ta, 1);
    }
    world_deplete(w, galaxy_home(&w->gal), 0, RES_IRON, 5.0);
    world_mark_explored(w, 9, 9);
    jb_init(b);
    CHECK(persist_serialize(w, b) == 0);
}

/* exercise everything that indexes with loaded values */
static void use_world(world *w) {
    jbuf o;
    jb_init(&o);
    for (uint32_t i = 0; i < w->n_probes; i++) {
        jb_reset(&o);
        observe_probe(&o, w, i, 1);
        const star_system *s = world_probe_system(w, &w->p[i]);
        if (s) observe_system(&o, w, s, &w->p[i]);
    }
    for (int t = 0; t < 3; t++) {
        tick_action ta = {0, {.kind = A_MINE, .res = RES_IRON}, 0};
        tick_run(w, &ta, 1);
    }
    jb_free(&o);
}

static void test_persist_roundtrip_and_damage(void) {
    world w, back;
    jbuf b;
    build_payload(&w, &b);
    char err[160];
    CHECK(persist_deserialize((const uint8_t *)b.p, b.len, &back, err, sizeof err) == 0);
    jbuf b2;
    jb_init(&b2);
    persist_serialize(&back, &b2);
    CHECK(b.len == b2.len && memcmp(b.p, b2.p, b.len) == 0); /* canonical: load+save is identity */
    world_free(&back);
    jb_free(&b2);

    /* every truncation is refused */
    int refused = 1;
    for (size_t n = 0; n < b.len; n += (n < 400 ? 1 : 97)) {
        if (persist_deserialize((const uint8_t *)b.p, n, &back, err, sizeof err) == 0) {
            /* a prefix ending exactly at a section boundary may still miss required sections */
            refused = 0;
            world_free(&back);
        }
    }
    CHECK(refused);

    /* random byte damage: either refused, or a world that works */
    rng_state r;
    rng_seed(&r, 99);
    uint8_t *copy = malloc(b.len);
    int accepted = 0;
    for (int i = 0; i < 3000; i++) {
        memcpy(copy, b.p, b.len);
        int flips = 1 + (int)rng_below(&r, 4);
        for (int k = 0; k < flips; k++) copy[rng_below(&r, (uint32_t)b.len)] ^= (uint8_t)(1 + rng_below(&r, 255));
        if (persist_deserialize(copy, b.len, &back, err, sizeof err) == 0) {
            accepted++;
            use_world(&back);
            world_free(&back);
        }
    }
    CHECK(accepted > 0); /* most damage lands in doubles that stay valid */
    free(copy);
    jb_free(&b);
    world_free(&w);
}

int main(void) {
    test_rng();
    test_hmap();
    test_persist_roundtrip_and_damage();
    return tu_report("test_core");
}
