/* test_delta.c -- observe_delta.c: the delta of an observation against the one written for the
 * probe at the previous tick, by both of its paths (only the changed middle rescanned, or every
 * field when the change does not line up with the old fields), and when it must be whole (first
 * time, forced, a tick skipped, another detail, a new generation). The values are checked
 * against observe_probe's own text; tests/test_delta_groups.py applies long random runs. */
#include "observe.h"
#include "observe_delta.h"
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

int main(void) {
    jb_init(&wholes);
    jb_init(&deltas);
    jb_init(&ref);
    test_paths();
    jb_free(&wholes);
    jb_free(&deltas);
    jb_free(&ref);
    return tu_report("test_delta");
}
