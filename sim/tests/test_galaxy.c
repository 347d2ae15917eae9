/* test_galaxy.c -- determinism of lazy generation, class distribution, home system, ids, scan. */
#include "galaxy.h"
#include "testutil.h"

#include <math.h>

static int same_system(const star_system *a, const star_system *b) {
    return memcmp(a, b, sizeof *a) == 0;
}

static void test_order_independent(void) {
    galaxy g1, g2;
    galaxy_init(&g1, 1234);
    galaxy_init(&g2, 1234);
    /* g1 generates (3,-2,1) first; g2 generates lots of other sectors first */
    const sector *a = galaxy_sector(&g1, 3, -2, 1);
    for (int x = -3; x <= 3; x++) galaxy_sector(&g2, x, 5, -7);
    const sector *b = galaxy_sector(&g2, 3, -2, 1);
    CHECK(a && b && a->n_systems == b->n_systems);
    int same = 1;
    for (uint32_t i = 0; a && b && i < a->n_systems; i++) same &= same_system(&a->systems[i], &b->systems[i]);
    CHECK(same);
    galaxy g3;
    galaxy_init(&g3, 1235);
    const sector *c = galaxy_sector(&g3, 3, -2, 1);
    CHECK(c && (c->n_systems != a->n_systems || (a->n_systems && !same_system(&a->systems[0], &c->systems[0]))));
    galaxy_free(&g1);
    galaxy_free(&g2);
    galaxy_free(&g3);
}

static void test_distribution(void) {
    galaxy g;
    galaxy_init(&g, 99);
    unsigned count[STAR_CLASS_COUNT] = {0};
    unsigned types[BODY_TYPE_COUNT] = {0};
    unsigned total = 0;
    for (int x = -15; x < 15; x++)
        for (int y = -15; y < 15; y++)
            for (int z = -2; z < 2; z++) {
                const sector *s = galaxy_sector(&g, x, y, z);
                for (uint32_t i = 0; i < s->n_systems; i++) {
                    const star_system *sys = &s->systems[i];
                    count[sys->star_class]++;
                    total++;
                    for (int b = 0; b < sys->n_bodies; b++) {
                        types[sys->bodies[b].type]++;
                        for (int r = 0; r < RES_COUNT; r++)
                            if (!(sys->bodies[b].abundance[r] >= 0 && sys->bodies[b].abundance[r] <= 1)) total = 0;
                    }
                    CHECK(sys->pos[0] >= x * GALAXY_SECTOR_LY && sys->pos[0] < (x + 1) * GALAXY_SECTOR_LY);
                }
            }
    /* 3600 sectors * ~4 stars */
    CHECK_MSG(total > 10000, "total %u", total);
    CHECK_MSG(count[STAR_M] > total * 0.70 && count[STAR_M] < total * 0.83, "M %u of %u", count[STAR_M], total);
    CHECK(count[STAR_K] > count[STAR_G] && count[STAR_G] > count[STAR_F] && count[STAR_F] > count[STAR_A]);
    CHECK(count[STAR_O] <= 2);
    for (int t = 0; t < BODY_TYPE_COUNT; t++) CHECK_MSG(types[t] > 0, "no bodies of type %d", t);
    galaxy_free(&g);
}

static void test_home_and_ids(void) {
    galaxy g;
    galaxy_init(&g, 42);
    const star_system *h = galaxy_home(&g);
    CHECK(h && h->star_class == STAR_G && h->n_bodies >= 10);
    int has_belt = 0, has_gas = 0, has_landable = 0;
    for (int b = 0; b < h->n_bodies; b++) {
        has_belt |= h->bodies[b].type == BODY_ASTEROID_BELT;
        has_gas |= h->bodies[b].type == BODY_GAS_GIANT;
        has_landable |= h->bodies[b].landable;
        uint64_t hi, lo;
        int bi = -1;
        galaxy_body_id(h, b, &hi, &lo);
        CHECK(galaxy_body(&g, hi, lo, &bi) == h && bi == b);
        CHECK(galaxy_system(&g, hi, lo) == NULL); /* a body id is not a system id */
    }
    CHECK(has_belt && has_gas && has_landable);
    CHECK(galaxy_system(&g, h->id_hi, h->id_lo) == h);
    CHECK(galaxy_system(&g, 1, 1) == NULL);
    CHECK(galaxy_system(&g, h->id_hi, h->id_lo + (1ULL << 16) * 40) == NULL);
    CHECK(galaxy_system(&g, h->id_hi, 0) == NULL);
    galaxy_free(&g);
}

static void test_scan(void) {
    galaxy g;
    galaxy_init(&g, 42);
    const star_system *h = galaxy_home(&g);
    scan_hit hits[20];
    int n = galaxy_scan(&g, h->pos, 15.0, h->id_hi, h->id_lo, hits, 20);
    CHECK(n > 3);
    for (int i = 0; i < n; i++) {
        CHECK(hits[i].distance_ly <= 15.0);
        CHECK(hits[i].sys != h);
        if (i) CHECK(hits[i - 1].distance_ly <= hits[i].distance_ly);
        CHECK(fabs(galaxy_distance(h, hits[i].sys) - hits[i].distance_ly) < 1e-9);
    }
    galaxy_free(&g);
}

static void test_trim_regenerates(void) {
    galaxy g;
    galaxy_init(&g, 5);
    star_system before = *galaxy_sector(&g, 0, 0, 0)->systems;
    for (int x = 0; x < 40; x++) galaxy_sector(&g, x, 1, 1);
    CHECK(g.n_sectors == 41);
    galaxy_trim(&g, 100);
    CHECK(g.n_sectors == 41); /* under the limit: kept */
    galaxy_trim(&g, 10);
    CHECK(g.n_sectors == 0);
    CHECK(same_system(&before, galaxy_sector(&g, 0, 0, 0)->systems));
    galaxy_free(&g);
}

int main(void) {
    test_trim_regenerates();
    test_order_independent();
    test_distribution();
    test_home_and_ids();
    test_scan();
    return tu_report("test_galaxy");
}
