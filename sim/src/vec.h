/* vec.h -- the engine in-process for vectorized callers (universed.rl.VecUniverse, ctypes).
 *
 * One universe per handle, the same world and tick_run as `universe-sim --pipe`: the same seed
 * and the same actions give the same state hash (docs/research.md). No JSON on the step path:
 * actions come in as an action id per probe slot plus UV_PARAMS float parameters, and the
 * results go out to caller-provided arrays (probe slot i is probe id "1-(i+1)"; slots are never
 * reused, a destroyed probe keeps its slot with alive = 0).
 *
 * Action encoding (UV_ACTION_VERSION 2; version 1 is ids 0-12, which keep their meaning),
 * params p0..p3 (unused ones ignored; integer parameters are rounded to the nearest integer):
 *   0 wait (no action at all; the probe continues its activity)   1 survey
 *   2 mine (p0 resource 0-8)       3 repair          4 navigate_to_body (p0 body index in system)
 *   5 enter_orbit                  6 land            7 launch          8 scan
 *   9 travel_to_system (p0 neighbour slot 0..UV_NEIGH-1 of the observation)
 *  10 replicate                   11 research (p0 tech domain 0-9)
 *  12 build_structure (p0 structure type 0-5)
 * Version 2 adds the social actions. A probe target is a slot (0..UV_SLOT_MAX, probe id
 * "1-(slot+1)"); a text (message, beacon, proposal) is a token 0..UV_TOKEN_MAX, sent as its
 * decimal digits:
 *  13 send_message (p0 target slot, -1 broadcast; p1 token)
 *  14 place_beacon (p0 token)
 *  15 trade (p0 target slot; p1 resource 0-8; p2 amount in kg, > 0 and <= 1e12, not rounded)
 *  16 claim_system                17 revoke_claim
 *  18 propose (p0 token)
 *  19 vote (p0 proposal id, 0 = the latest proposal at the start of the tick; p1 favor 0/1)
 *  20 share_tech (p0 target slot; p1 tech domain 0-9)
 * A parameter outside its range (or not finite) makes the action malformed: the probe waits and
 * its last action is recorded as rejected (exactly what the pipe does with a malformed action).
 * A target that does not exist (a body, a neighbour, a probe slot, a proposal) is rejected by the
 * engine as in the pipe.
 *
 * Observation features (UV_FEATURE_VERSION 1, UV_FEATURES float32 per probe) and reward
 * components (UV_REWARD_VERSION 1, UV_REWARDS float32 per probe): see the UV_F_* and UV_R_*
 * indices below; docs/research.md documents each one.
 */
#ifndef VEC_H
#define VEC_H

#include <stddef.h>
#include <stdint.h>

#define UV_ACTION_VERSION 2
#define UV_FEATURE_VERSION 1
#define UV_REWARD_VERSION 1
#define UV_PARAMS 4
#define UV_N_ACTIONS 21
#define UV_N_ACTIONS_V1 13 /* ids 0-12: the physical actions of version 1 */
#define UV_SLOT_MAX 16777215 /* 2^24 - 1: the largest integer a float32 parameter holds exactly */
#define UV_TOKEN_MAX 16777215
#define UV_NEIGH 4
#define UV_NEIGH_RANGE_LY 15.0
#define UV_FEATURES 64
#define UV_REWARDS 8

enum uv_feature {
    UV_F_ALIVE = 0, UV_F_STATUS, UV_F_LOCATION, UV_F_ACTIVITY, UV_F_HULL, UV_F_ENERGY, UV_F_FUEL,
    UV_F_CARGO, UV_F_CARGO_RES = 8, /* 9 resources: kg / 1e4 */
    UV_F_PROGRESS = 17, UV_F_TICKS_LEFT, UV_F_BODY, UV_F_SYS_SURVEY, UV_F_BODY_SURVEY,
    UV_F_N_BODIES, UV_F_STAR_CLASS, UV_F_BODY_TYPE, UV_F_LANDABLE, UV_F_RESEARCH,
    UV_F_LAST_ACTION, UV_F_LAST_OK, UV_F_GENERATION, UV_F_CHILDREN,
    UV_F_ABUNDANCE = 31,            /* 9 resources of the current body, 0..1 */
    UV_F_NEIGH_DIST = 40,           /* UV_NEIGH: distance / UV_NEIGH_RANGE_LY, -1 none */
    UV_F_NEIGH_EXPLORED = 44,       /* UV_NEIGH: 1 explored, 0 not, -1 none */
    UV_F_TECH = 48,                 /* 10 tech levels 1..10 */
    UV_F_SYS_EXPLORED = 58, UV_F_AGE, UV_F_REPLICATE_READY, UV_F_MINE_READY,
    UV_F_RESERVED = 62              /* 62, 63: always 0 */
};
enum uv_reward {
    UV_R_REPLICATED = 0, /* children completed by this probe this step */
    UV_R_EXPLORED,       /* 1 if this probe's survey made its system explored this step */
    UV_R_MINED_T,        /* tonnes of cargo gained this step */
    UV_R_SURVEYS,        /* survey levels reached this step */
    UV_R_DISCOVERIES,    /* discovery events this step */
    UV_R_DAMAGE,         /* hull lost this step (0..1) */
    UV_R_DESTROYED,      /* 1 if destroyed this step */
    UV_R_ALIVE           /* 1 if alive after the step */
};

typedef struct uv uv; /* opaque */

/* Version word: feature << 16 | action << 8 | reward (the ctypes wrapper checks it). */
uint32_t uv_version(void);
/* A universe for seed with populate probes (>= 1; Bob plus clones). NULL on OOM or populate 0. */
uv *uv_create(uint64_t seed, uint32_t populate);
void uv_free(uv *u);
uint32_t uv_n_probes(const uv *u); /* probe slots ever created */
uint32_t uv_alive(const uv *u);
uint64_t uv_tick(const uv *u);
uint64_t uv_explored(const uv *u); /* systems explored so far */
/* One tick. actions[n] (n <= n_probes, slots >= n wait), params[n * UV_PARAMS] (NULL: zeros);
 * actions NULL: everybody waits. rewards[cap * UV_REWARDS] (or NULL) receives the reward
 * components of every slot < n_probes after the tick, zero for slots that were already dead;
 * born[cap] / died[cap] receive the slots born / destroyed this tick, *n_born / *n_died their
 * counts. cap must be >= 2 * n_probes before the tick (a tick at most doubles the probes).
 * Returns 0; -1 n > n_probes; -2 cap too small; -3 an action id outside 0..UV_N_ACTIONS-1
 * (*n_born = its slot). Nothing changes on an error. */
int uv_step(uv *u, const int32_t *actions, const float *params, uint32_t n, float *rewards,
            uint32_t *born, uint32_t *n_born, uint32_t *died, uint32_t *n_died, uint32_t cap);
/* Features of slots [0, n_probes) into out[cap * UV_FEATURES]. Returns slots written, -2 if cap
 * is too small. */
long uv_observe(uv *u, float *out, uint32_t cap);
/* State hash (the pipe's `hash`, as an integer). 0 ok, -1 OOM. */
int uv_hash(const uv *u, uint64_t *out);
/* Canonical state bytes: writes min(len, cap) bytes to out (out may be NULL), returns len, or
 * -1 on OOM. */
long uv_snapshot(const uv *u, uint8_t *out, size_t cap);
/* Replace the state with a snapshot. 0 ok; -1 with a message in err (state unchanged). */
int uv_restore(uv *u, const uint8_t *data, size_t len, char *err, size_t errlen);
int uv_save(const uv *u, const char *path, char *err, size_t errlen);
int uv_load(uv *u, const char *path, char *err, size_t errlen);
/* Set one config key (the pipe's `config` names and ranges). 0 ok; -1 with message. */
int uv_config(uv *u, const char *key, double value, char *err, size_t errlen);
/* The pipe action object (one JSON object, NUL-terminated) equivalent to a vectorized action of
 * slot i in the current state, or "null" for wait. For tests and debugging, not the step path.
 * Returns the length written (truncated to cap-1), -1 on a bad slot or action id. */
int uv_describe(uv *u, uint32_t slot, int32_t action, const float *params, char *out, size_t cap);
/* The id (sector x, y, z, index) of neighbour k of slot i's system; 0 ok, -1 none. */
int uv_neighbor(uv *u, uint32_t slot, uint32_t k, int32_t out[4]);

#endif
