/* vec.c -- the engine in-process for vectorized callers (see vec.h). */
#include "vec.h"

#include "persist.h"
#include "tick.h"
#include "world.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define UV_MAX_CACHED_SECTORS 16384 /* as the pipe: the galaxy cache is dropped beyond this */

typedef struct uv_neigh {
    uint64_t hi[UV_NEIGH], lo[UV_NEIGH]; /* neighbour system ids, nearest first */
    float dist[UV_NEIGH];                /* light years */
    uint32_t n;                          /* neighbours found (<= UV_NEIGH) */
    uint32_t expl_ver;                   /* explored-set size when expl was computed, +1 (0 never) */
    float expl[UV_NEIGH];                /* 1 explored, 0 not */
    float self_expl;                     /* the system itself explored */
} uv_neigh;

struct uv {
    world w;
    tick_action *acts;      /* scratch: this tick's actions */
    uint32_t cap_acts;
    float *hull_b;          /* scratch: hull before the tick */
    double *cargo_b;        /* scratch: cargo total before the tick */
    uint8_t *alive_b;       /* scratch: alive before the tick */
    uint32_t cap_b;
    hmap neigh_ix;          /* system id -> 1 + index in neigh */
    uv_neigh *neigh;
    uint32_t n_neigh, cap_neigh;
};

uint32_t uv_version(void) {
    return (uint32_t)UV_FEATURE_VERSION << 16 | (uint32_t)UV_ACTION_VERSION << 8 | UV_REWARD_VERSION;
}

static void neigh_reset(uv *u) {
    hmap_free(&u->neigh_ix);
    hmap_init(&u->neigh_ix);
    u->n_neigh = 0;
}

uv *uv_create(uint64_t seed, uint32_t populate) {
    if (populate < 1) return NULL;
    uv *u = calloc(1, sizeof *u);
    if (!u) return NULL;
    if (world_init(&u->w, seed, populate)) {
        free(u);
        return NULL;
    }
    hmap_init(&u->neigh_ix);
    return u;
}

void uv_free(uv *u) {
    if (!u) return;
    world_free(&u->w);
    free(u->acts);
    free(u->hull_b);
    free(u->cargo_b);
    free(u->alive_b);
    hmap_free(&u->neigh_ix);
    free(u->neigh);
    free(u);
}

uint32_t uv_n_probes(const uv *u) { return u->w.n_probes; }
uint32_t uv_alive(const uv *u) { return u->w.alive; }
uint64_t uv_tick(const uv *u) { return u->w.tick; }
uint64_t uv_explored(const uv *u) { return u->w.explored.n; }

/* ------------------------------------------------------------ neighbours */

static const uv_neigh *neigh_of(uv *u, const probe *p) {
    world *w = &u->w;
    uint32_t *v = hmap_get(&u->neigh_ix, p->sys_hi, p->sys_lo);
    uv_neigh *e;
    if (v) {
        e = &u->neigh[*v - 1];
    } else {
        if (u->n_neigh == u->cap_neigh) {
            uint32_t nc = u->cap_neigh ? u->cap_neigh * 2 : 64;
            uv_neigh *nn = realloc(u->neigh, nc * sizeof *nn);
            if (!nn) return NULL;
            u->neigh = nn;
            u->cap_neigh = nc;
        }
        const star_system *s = galaxy_system(&w->gal, p->sys_hi, p->sys_lo);
        if (!s) return NULL;
        e = &u->neigh[u->n_neigh];
        memset(e, 0, sizeof *e);
        scan_hit hits[UV_NEIGH];
        double pos[3] = {s->pos[0], s->pos[1], s->pos[2]};
        uint64_t shi = s->id_hi, slo = s->id_lo;
        int n = galaxy_scan(&w->gal, pos, UV_NEIGH_RANGE_LY, shi, slo, hits, UV_NEIGH);
        for (int k = 0; k < n; k++) {
            e->hi[k] = hits[k].sys->id_hi;
            e->lo[k] = hits[k].sys->id_lo;
            e->dist[k] = (float)hits[k].distance_ly;
        }
        e->n = (uint32_t)(n > 0 ? n : 0);
        if (hmap_put(&u->neigh_ix, shi, slo, u->n_neigh + 1)) return NULL;
        u->n_neigh++;
    }
    if (e->expl_ver != w->explored.n + 1) { /* the explored set only grows: its size versions it */
        for (uint32_t k = 0; k < e->n; k++) e->expl[k] = hmap_get(&w->explored, e->hi[k], e->lo[k]) ? 1.0f : 0.0f;
        e->self_expl = hmap_get(&w->explored, p->sys_hi, p->sys_lo) ? 1.0f : 0.0f;
        e->expl_ver = w->explored.n + 1;
    }
    return e;
}

int uv_neighbor(uv *u, uint32_t slot, uint32_t k, int32_t out[4]) {
    if (slot >= u->w.n_probes || k >= UV_NEIGH) return -1;
    const uv_neigh *e = neigh_of(u, &u->w.p[slot]);
    if (!e || k >= e->n) return -1;
    const star_system *s = galaxy_system(&u->w.gal, e->hi[k], e->lo[k]);
    if (!s) return -1;
    out[0] = s->sector[0];
    out[1] = s->sector[1];
    out[2] = s->sector[2];
    out[3] = (int32_t)(s->id_lo >> 16) - 1;
    return 0;
}

/* ------------------------------------------------------------ actions */

/* Parameter `which` of slot rounded to an integer in [lo, hi] into *out: 0, or -1 if it is not
 * finite or outside. */
static int param_int(const float *params, uint32_t slot, int which, int lo, int hi, int *out) {
    float v = params ? params[(size_t)slot * UV_PARAMS + (size_t)which] : 0.0f;
    if (!isfinite(v)) return -1;
    double r = floor((double)v + 0.5);
    if (r < lo || r > hi) return -1;
    *out = (int)r;
    return 0;
}

static float param_raw(const float *params, uint32_t slot, int which) {
    return params ? params[(size_t)slot * UV_PARAMS + (size_t)which] : 0.0f;
}

/* A probe slot parameter as the action's probe target ("1-(slot+1)"). */
static int param_probe(const float *params, uint32_t slot, int which, action *a) {
    int v;
    if (param_int(params, slot, which, 0, UV_SLOT_MAX, &v)) return -1;
    a->target_hi = PROBE_ID_HI;
    a->target_lo = (uint64_t)v + 1;
    return 0;
}

/* A token parameter as the action's text: its decimal digits. */
static int param_text(const float *params, uint32_t slot, int which, action *a) {
    int v;
    if (param_int(params, slot, which, 0, UV_TOKEN_MAX, &v)) return -1;
    snprintf(a->text, sizeof a->text, "%d", v);
    return 0;
}

/* The engine action of a vectorized one. Returns 0, 1 for wait (no action), -1 malformed. */
static int resolve(uv *u, uint32_t slot, int32_t id, const float *params, action *a) {
    memset(a, 0, sizeof *a);
    a->res = -1;
    static const uint8_t kinds[UV_N_ACTIONS] = {
        A_WAIT, A_SURVEY, A_MINE, A_REPAIR, A_NAVIGATE, A_ORBIT, A_LAND, A_LAUNCH, A_SCAN, A_TRAVEL,
        A_REPLICATE, A_RESEARCH, A_BUILD,
        /* version 2: the social actions */
        A_SEND_MESSAGE, A_PLACE_BEACON, A_TRADE, A_CLAIM, A_REVOKE, A_PROPOSE, A_VOTE, A_SHARE_TECH};
    if (id == 0) return 1;
    a->kind = kinds[id];
    const probe *p = &u->w.p[slot];
    int v;
    switch (a->kind) {
    case A_MINE:
        if (param_int(params, slot, 0, 0, RES_COUNT - 1, &v)) return -1;
        a->res = (int8_t)v;
        break;
    case A_NAVIGATE:
        if (param_int(params, slot, 0, 0, GALAXY_MAX_BODIES - 1, &v)) return -1;
        a->target_hi = p->sys_hi;
        a->target_lo = p->sys_lo | (uint64_t)(v + 1);
        break;
    case A_TRAVEL: {
        if (param_int(params, slot, 0, 0, UV_NEIGH - 1, &v)) return -1;
        const uv_neigh *e = neigh_of(u, p);
        if (e && (uint32_t)v < e->n) {
            a->target_hi = e->hi[v];
            a->target_lo = e->lo[v];
        } /* else 0-0: no such system, rejected by the engine */
        break;
    }
    case A_RESEARCH:
        if (param_int(params, slot, 0, 0, TECH_COUNT - 1, &v)) return -1;
        a->arg = (uint8_t)v;
        break;
    case A_BUILD:
        if (param_int(params, slot, 0, 0, STRUCT_COUNT - 1, &v)) return -1;
        a->arg = (uint8_t)v;
        break;
    case A_SEND_MESSAGE:
        if (param_int(params, slot, 0, -1, UV_SLOT_MAX, &v) || param_text(params, slot, 1, a)) return -1;
        if (v < 0) a->broadcast = 1;
        else param_probe(params, slot, 0, a);
        break;
    case A_PLACE_BEACON:
    case A_PROPOSE:
        if (param_text(params, slot, 0, a)) return -1;
        break;
    case A_TRADE: {
        double kg = (double)param_raw(params, slot, 2);
        if (param_probe(params, slot, 0, a) || param_int(params, slot, 1, 0, RES_COUNT - 1, &v) ||
            !(kg > 0 && kg <= 1e12)) /* the pipe's range; NaN fails too */
            return -1;
        a->res = (int8_t)v;
        a->amount = kg;
        break;
    }
    case A_VOTE:
        if (param_int(params, slot, 0, 0, UV_TOKEN_MAX, &v)) return -1;
        a->proposal = v ? (uint64_t)v : u->w.n_pr; /* 0: the latest (none yet: 0, unknown) */
        if (param_int(params, slot, 1, 0, 1, &v)) return -1;
        a->arg = (uint8_t)v;
        break;
    case A_SHARE_TECH:
        if (param_probe(params, slot, 0, a) || param_int(params, slot, 1, 0, TECH_COUNT - 1, &v)) return -1;
        a->arg = (uint8_t)v;
        break;
    default: break; /* no parameters */
    }
    return 0;
}

int uv_describe(uv *u, uint32_t slot, int32_t id, const float *params, char *out, size_t cap) {
    if (slot >= u->w.n_probes || id < 0 || id >= UV_N_ACTIONS || cap == 0) return -1;
    action a;
    int rc = resolve(u, slot, id, params, &a);
    const char *name = world_action_names[a.kind];
    int n;
    if (rc == 1) {
        n = snprintf(out, cap, "null");
    } else if (rc < 0) { /* the field is missing: the pipe finds the action malformed too */
        n = snprintf(out, cap, "{\"type\":\"%s\"}", name);
    } else {
        switch (a.kind) {
        case A_MINE:
            n = snprintf(out, cap, "{\"type\":\"mine\",\"resource\":\"%s\"}", galaxy_resource_names[a.res]);
            break;
        case A_NAVIGATE:
            n = snprintf(out, cap, "{\"type\":\"%s\",\"target_body\":\"%" PRIu64 "-%" PRIu64 "\"}", name,
                         a.target_hi, a.target_lo);
            break;
        case A_TRAVEL:
            n = snprintf(out, cap, "{\"type\":\"%s\",\"target_system_id\":\"%" PRIu64 "-%" PRIu64 "\"}", name,
                         a.target_hi, a.target_lo);
            break;
        case A_RESEARCH:
            n = snprintf(out, cap, "{\"type\":\"%s\",\"domain\":%u}", name, (unsigned)a.arg);
            break;
        case A_BUILD:
            n = snprintf(out, cap, "{\"type\":\"%s\",\"structure_type\":%u}", name, (unsigned)a.arg);
            break;
        case A_SEND_MESSAGE:
            if (a.broadcast)
                n = snprintf(out, cap, "{\"type\":\"%s\",\"target\":\"broadcast\",\"content\":\"%s\"}", name, a.text);
            else
                n = snprintf(out, cap, "{\"type\":\"%s\",\"target\":\"%" PRIu64 "-%" PRIu64 "\",\"content\":\"%s\"}",
                             name, a.target_hi, a.target_lo, a.text);
            break;
        case A_PLACE_BEACON:
            n = snprintf(out, cap, "{\"type\":\"%s\",\"message\":\"%s\"}", name, a.text);
            break;
        case A_PROPOSE:
            n = snprintf(out, cap, "{\"type\":\"%s\",\"text\":\"%s\"}", name, a.text);
            break;
        case A_TRADE: /* %.17g: the pipe parses back the very same double */
            n = snprintf(out, cap,
                         "{\"type\":\"%s\",\"target\":\"%" PRIu64 "-%" PRIu64 "\",\"resource\":\"%s\",\"amount\":%.17g}",
                         name, a.target_hi, a.target_lo, galaxy_resource_names[a.res], a.amount);
            break;
        case A_VOTE:
            n = snprintf(out, cap, "{\"type\":\"%s\",\"proposal\":%" PRIu64 ",\"favor\":%s}", name, a.proposal,
                         a.arg ? "true" : "false");
            break;
        case A_SHARE_TECH:
            n = snprintf(out, cap, "{\"type\":\"%s\",\"target\":\"%" PRIu64 "-%" PRIu64 "\",\"domain\":%u}", name,
                         a.target_hi, a.target_lo, (unsigned)a.arg);
            break;
        default:
            n = snprintf(out, cap, "{\"type\":\"%s\"}", name);
            break;
        }
    }
    if (n < 0) return -1;
    return (size_t)n >= cap ? (int)(cap - 1) : n;
}

/* ------------------------------------------------------------ step */

static int grow_scratch(uv *u, uint32_t n) {
    if (n <= u->cap_b) return 0;
    uint32_t nc = n < 1024 ? 1024 : n;
    float *h = realloc(u->hull_b, nc * sizeof *h);
    if (!h) return -1;
    u->hull_b = h;
    double *c = realloc(u->cargo_b, nc * sizeof *c);
    if (!c) return -1;
    u->cargo_b = c;
    uint8_t *a = realloc(u->alive_b, nc);
    if (!a) return -1;
    u->alive_b = a;
    tick_action *t = realloc(u->acts, nc * sizeof *t);
    if (!t) return -1;
    u->acts = t;
    u->cap_b = u->cap_acts = nc;
    return 0;
}

int uv_step(uv *u, const int32_t *actions, const float *params, uint32_t n, float *rewards,
            uint32_t *born, uint32_t *n_born, uint32_t *died, uint32_t *n_died, uint32_t cap) {
    world *w = &u->w;
    const uint32_t n0 = w->n_probes;
    if (!actions) n = 0;
    if (n > n0) return -1;
    if (cap < 2 * (uint64_t)n0) return -2;
    for (uint32_t i = 0; i < n; i++)
        if (actions[i] < 0 || actions[i] >= UV_N_ACTIONS) {
            if (n_born) *n_born = i;
            return -3;
        }
    if (grow_scratch(u, n0)) return -4;
    galaxy_trim(&w->gal, UV_MAX_CACHED_SECTORS); /* a cache, never state (like the pipe) */
    size_t k = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (actions[i] == 0) continue;
        tick_action *t = &u->acts[k];
        t->probe = i;
        t->reject = R_NONE;
        if (resolve(u, i, actions[i], params, &t->a) < 0) { /* as the pipe's malformed action */
            t->a.kind = A_WAIT;
            t->reject = R_MALFORMED;
        }
        k++;
    }
    if (rewards) {
        for (uint32_t i = 0; i < n0; i++) {
            const probe *p = &w->p[i];
            u->alive_b[i] = p->status != ST_DESTROYED;
            u->hull_b[i] = (float)p->hull;
            u->cargo_b[i] = world_cargo_total(p);
        }
    }

    tick_run(w, u->acts, k);

    const uint32_t n1 = w->n_probes;
    if (rewards) {
        memset(rewards, 0, (size_t)n1 * UV_REWARDS * sizeof *rewards);
        const uint32_t t32 = (uint32_t)(w->tick < UINT32_MAX ? w->tick : UINT32_MAX);
        for (uint32_t i = 0; i < n1; i++) {
            const probe *p = &w->p[i];
            float *r = &rewards[(size_t)i * UV_REWARDS];
            int alive = p->status != ST_DESTROYED;
            r[UV_R_ALIVE] = alive ? 1.0f : 0.0f;
            if (i >= n0 || !u->alive_b[i]) continue;
            double gained = world_cargo_total(p) - u->cargo_b[i];
            if (gained > 0) r[UV_R_MINED_T] = (float)(gained / 1000.0);
            float lost = u->hull_b[i] - (float)p->hull;
            if (lost > 0) r[UV_R_DAMAGE] = lost;
            if (p->act_tick == w->tick && p->last_action == A_SURVEY && p->last_ok) {
                const uint32_t *v = hmap_get(&w->explored, p->sys_hi, p->sys_lo);
                if (v && *v == t32) r[UV_R_EXPLORED] = 1.0f;
            }
        }
        for (uint32_t e = 0; e < w->n_ev; e++) {
            const event *ev = &w->ev[e];
            if (ev->tick != w->tick || ev->probe >= n1) continue;
            float *r = &rewards[(size_t)ev->probe * UV_REWARDS];
            if (ev->type == EV_REPLICATED) r[UV_R_REPLICATED] += 1.0f;
            else if (ev->type == EV_SURVEY) r[UV_R_SURVEYS] += 1.0f;
            else if (ev->type == EV_DISCOVERY) r[UV_R_DISCOVERIES] += 1.0f;
        }
        for (uint32_t d = 0; d < w->n_died; d++)
            if (w->died[d] < n1) rewards[(size_t)w->died[d] * UV_REWARDS + UV_R_DESTROYED] = 1.0f;
    }
    if (born && w->n_born) memcpy(born, w->born, (size_t)w->n_born * sizeof *born);
    if (n_born) *n_born = w->n_born;
    if (died && w->n_died) memcpy(died, w->died, (size_t)w->n_died * sizeof *died);
    if (n_died) *n_died = w->n_died;
    return 0;
}

/* ------------------------------------------------------------ observations */

long uv_observe(uv *u, float *out, uint32_t cap) {
    world *w = &u->w;
    const uint32_t n = w->n_probes;
    if (cap < n) return -2;
    double cost[RES_COUNT];
    world_replication_cost(w, cost);
    const uv_neigh *last = NULL;
    uint64_t last_hi = 0, last_lo = 0, s_hi = 0, s_lo = 0;
    const star_system *last_s = NULL;
    for (uint32_t i = 0; i < n; i++) {
        const probe *p = &w->p[i];
        const probe_cold *c = &w->c[i];
        float *f = &out[(size_t)i * UV_FEATURES];
        memset(f, 0, UV_FEATURES * sizeof *f);
        f[UV_F_STATUS] = p->status;
        f[UV_F_GENERATION] = (float)c->generation;
        f[UV_F_CHILDREN] = (float)c->children;
        if (p->status == ST_DESTROYED) continue;
        f[UV_F_ALIVE] = 1.0f;
        f[UV_F_LOCATION] = p->location;
        f[UV_F_ACTIVITY] = p->activity;
        f[UV_F_HULL] = (float)p->hull;
        f[UV_F_ENERGY] = (float)(p->energy * (1.0 / ENERGY_CAP));
        f[UV_F_FUEL] = (float)(p->fuel * (1.0 / FUEL_CAP));
        f[UV_F_CARGO] = (float)(world_cargo_total(p) * (1.0 / CARGO_CAP));
        double ready = 1.0;
        for (int r = 0; r < RES_COUNT; r++) {
            f[UV_F_CARGO_RES + r] = (float)(p->cargo[r] * 1e-4);
            if (cost[r] > 0 && p->cargo[r] / cost[r] < ready) ready = p->cargo[r] / cost[r];
        }
        f[UV_F_REPLICATE_READY] = (float)ready;
        f[UV_F_PROGRESS] = (float)p->progress;
        f[UV_F_TICKS_LEFT] = (float)p->ticks_left / 1000.0f;
        f[UV_F_BODY] = (float)p->body;
        f[UV_F_SYS_SURVEY] = p->sys_survey;
        f[UV_F_RESEARCH] = p->research;
        f[UV_F_LAST_ACTION] = p->last_action;
        f[UV_F_LAST_OK] = p->last_ok;
        f[UV_F_AGE] = (float)(w->tick - c->born_tick) / 1000.0f;
        for (int t = 0; t < TECH_COUNT; t++) f[UV_F_TECH + t] = p->tech[t];
        if (!last_s || p->sys_hi != s_hi || p->sys_lo != s_lo) { /* probes cluster: memo */
            last_s = world_probe_system(w, p);
            s_hi = p->sys_hi;
            s_lo = p->sys_lo;
        }
        const star_system *s = last_s;
        f[UV_F_BODY_TYPE] = -1.0f;
        if (s) {
            f[UV_F_N_BODIES] = s->n_bodies;
            f[UV_F_STAR_CLASS] = s->star_class;
            if (p->body >= 0 && p->body < s->n_bodies) {
                const body *b = &s->bodies[p->body];
                f[UV_F_BODY_SURVEY] = p->survey[p->body];
                f[UV_F_BODY_TYPE] = b->type;
                f[UV_F_LANDABLE] = b->landable;
                f[UV_F_MINE_READY] = p->survey[p->body] >= 1;
                for (int r = 0; r < RES_COUNT; r++) f[UV_F_ABUNDANCE + r] = (float)b->abundance[r];
            }
        }
        const uv_neigh *e = last && p->sys_hi == last_hi && p->sys_lo == last_lo ? last : neigh_of(u, p);
        if (e != last) {
            last = e;
            last_hi = p->sys_hi;
            last_lo = p->sys_lo;
        }
        for (uint32_t k = 0; k < UV_NEIGH; k++) {
            int have = e && k < e->n;
            f[UV_F_NEIGH_DIST + k] = have ? e->dist[k] / (float)UV_NEIGH_RANGE_LY : -1.0f;
            f[UV_F_NEIGH_EXPLORED + k] = have ? e->expl[k] : -1.0f;
        }
        f[UV_F_SYS_EXPLORED] = e ? e->self_expl : 0.0f;
    }
    return (long)n;
}

/* ------------------------------------------------------------ state */

int uv_hash(const uv *u, uint64_t *out) { return persist_hash(&u->w, out); }

long uv_snapshot(const uv *u, uint8_t *out, size_t cap) {
    jbuf b;
    jb_init(&b);
    if (persist_serialize(&u->w, &b) || b.oom) {
        jb_free(&b);
        return -1;
    }
    if (out) memcpy(out, b.p, b.len < cap ? b.len : cap);
    long n = (long)b.len;
    jb_free(&b);
    return n;
}

static void replace_world(uv *u, world *nw) {
    world_free(&u->w);
    u->w = *nw;
    neigh_reset(u); /* another seed may have come with it */
}

int uv_restore(uv *u, const uint8_t *data, size_t len, char *err, size_t errlen) {
    world nw;
    if (persist_deserialize(data, len, &nw, err, errlen)) return -1;
    replace_world(u, &nw);
    return 0;
}

int uv_save(const uv *u, const char *path, char *err, size_t errlen) {
    size_t bytes;
    uint64_t h;
    return persist_save(&u->w, path, &bytes, &h, err, errlen) ? -1 : 0;
}

int uv_load(uv *u, const char *path, char *err, size_t errlen) {
    world nw;
    if (persist_load(path, &nw, err, errlen)) return -1;
    replace_world(u, &nw);
    return 0;
}

int uv_config(uv *u, const char *key, double value, char *err, size_t errlen) {
    for (size_t i = 0; i < world_config_nkeys; i++) {
        const config_key *ck = &world_config_keys[i];
        if (strcmp(ck->name, key) != 0) continue;
        if (!(value >= ck->min && value <= ck->max)) {
            snprintf(err, errlen, "config '%s' must be in [%g, %g]", ck->name, ck->min, ck->max);
            return -1;
        }
        if (ck->integer && floor(value) != value) {
            snprintf(err, errlen, "config '%s' must be an integer", ck->name);
            return -1;
        }
        *(double *)((char *)&u->w.cfg + ck->offset) = value;
        return 0;
    }
    snprintf(err, errlen, "unknown config key '%.60s'", key);
    return -1;
}
