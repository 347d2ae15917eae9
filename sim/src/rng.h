/* rng.h -- deterministic, counter-based randomness.
 *
 * The engine never keeps a global generator. Every random draw is a pure function of
 * (world seed, stream, object id, tick, ...) hashed through the splitmix64 finalizer, so results
 * do not depend on iteration order or on how many other draws happened before. A small
 * sequential generator (rng_state) is provided for generation code that needs many draws from
 * one derived seed (e.g. a galaxy sector).
 */
#ifndef RNG_H
#define RNG_H

#include <stdint.h>

/* Stream constants: distinct draws from the same ids use distinct streams. */
enum {
    RNG_STREAM_SECTOR = 0x5EC7,
    RNG_STREAM_EVENTS = 0xE7E7,
    RNG_STREAM_HAZARD = 0x4A2A,
    RNG_STREAM_DISCOVERY = 0xD15C,
    RNG_STREAM_SURVEY = 0x5E4E,
    RNG_STREAM_REPLICATE = 0x4E91,
    RNG_STREAM_NAME = 0x4A4E,
    RNG_STREAM_INJECT = 0x1A1E,
    RNG_STREAM_MIND = 0x3E3D,
    RNG_STREAM_PLANET = 0x9A4E,
    RNG_STREAM_LIFE = 0x11FE,
    RNG_STREAM_ENCOUNTER = 0xE4C0,
    RNG_STREAM_THREAT = 0x7B4E
};

typedef struct rng_state {
    uint64_t s;  /* splitmix64 counter */
} rng_state;

static inline uint64_t rng_mix64(uint64_t z) {
    z += 0x9E3779B97F4A7C15ULL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* Hash of an ordered tuple of words (order matters). */
static inline uint64_t rng_hash2(uint64_t a, uint64_t b) { return rng_mix64(rng_mix64(a) ^ b); }
static inline uint64_t rng_hash3(uint64_t a, uint64_t b, uint64_t c) {
    return rng_mix64(rng_hash2(a, b) ^ c);
}
static inline uint64_t rng_hash4(uint64_t a, uint64_t b, uint64_t c, uint64_t d) {
    return rng_mix64(rng_hash3(a, b, c) ^ d);
}

/* Uniform double in [0,1) from the top 53 bits. */
static inline double rng_unit(uint64_t h) { return (double)(h >> 11) * (1.0 / 9007199254740992.0); }

void rng_seed(rng_state *r, uint64_t seed);
uint64_t rng_next(rng_state *r);
double rng_double(rng_state *r);                      /* [0,1) */
double rng_range(rng_state *r, double lo, double hi); /* [lo,hi) */
uint32_t rng_below(rng_state *r, uint32_t n);         /* [0,n), n > 0 */
double rng_normal(rng_state *r);                      /* standard normal (Box-Muller) */
uint32_t rng_poisson(rng_state *r, double mean);      /* Knuth, mean < 30 */

#endif
