/* rng.c -- sequential splitmix64 generator used by lazy galaxy generation. See rng.h. */
#include "rng.h"

#include <math.h>

void rng_seed(rng_state *r, uint64_t seed) { r->s = rng_mix64(seed ^ 0x6A09E667F3BCC909ULL); }

uint64_t rng_next(rng_state *r) {
    r->s += 0x9E3779B97F4A7C15ULL;
    uint64_t z = r->s;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

double rng_double(rng_state *r) { return rng_unit(rng_next(r)); }

double rng_range(rng_state *r, double lo, double hi) { return lo + (hi - lo) * rng_double(r); }

uint32_t rng_below(rng_state *r, uint32_t n) {
    /* Multiply-shift: bias < 2^-32, irrelevant for n this small. */
    return (uint32_t)(((rng_next(r) >> 32) * (uint64_t)n) >> 32);
}

double rng_normal(rng_state *r) {
    double u1 = rng_double(r);
    double u2 = rng_double(r);
    if (u1 < 1e-300) u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

uint32_t rng_poisson(rng_state *r, double mean) {
    double limit = exp(-mean);
    double p = rng_double(r);
    uint32_t k = 0;
    while (p > limit && k < 1000) {
        p *= rng_double(r);
        k++;
    }
    return k;
}
