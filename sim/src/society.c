/* society.c -- see society.h; rules in docs/universe.md ("Living universe"). */
#include "society.h"

#include "events.h"
#include "life.h"
#include "rng.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

const double structure_cost[STRUCT_COUNT][2] = {
    {20000, 5000}, {5000, 10000}, {8000, 12000}, {30000, 15000}, {50000, 20000}, {40000, 20000}};
const uint32_t structure_ticks[STRUCT_COUNT] = {100, 80, 120, 200, 250, 200};

static int grow(void **arr, uint32_t *cap, uint32_t need, size_t elem) {
    if (need <= *cap) return 0;
    uint32_t nc = *cap ? *cap * 2 : 16;
    while (nc < need) nc *= 2;
    void *na = realloc(*arr, (size_t)nc * elem);
    if (!na) return -1;
    *arr = na;
    *cap = nc;
    return 0;
}
#define GROW(arr, n, cap) grow((void **)&(arr), &(cap), (n) + 1, sizeof *(arr))

/* ---------------------------------------------------------------- trust */

double society_trust(const world *w, uint32_t a, uint32_t b) {
    if (a == b) return 1.0;
    uint32_t lo = a < b ? a : b, hi = a < b ? b : a;
    uint32_t *r = hmap_get(&w->trust_ix, lo, hi);
    return r ? w->trust[*r].v : 0.0;
}

int society_trust_add(world *w, uint32_t a, uint32_t b, double delta) {
    if (a == b) return 0;
    uint32_t lo = a < b ? a : b, hi = a < b ? b : a;
    uint32_t *r = hmap_get(&w->trust_ix, lo, hi);
    trust_rec *t;
    if (!r) {
        if (GROW(w->trust, w->n_trust, w->cap_trust)) return -1;
        if (hmap_put(&w->trust_ix, lo, hi, w->n_trust)) return -1;
        t = &w->trust[w->n_trust];
        t->a = lo;
        t->b = hi;
        t->v = 0.0;
        t->next_a = w->L[lo].trust_head;
        t->next_b = w->L[hi].trust_head;
        w->n_trust++;
        w->L[lo].trust_head = w->n_trust;
        w->L[hi].trust_head = w->n_trust;
    } else {
        t = &w->trust[*r];
    }
    double v = world_q6(t->v + delta);
    t->v = v < -1.0 ? -1.0 : v > 1.0 ? 1.0 : v;
    return 0;
}

/* ---------------------------------------------------------------- positions and routes */

double society_comm_range(const probe *p) { return 5.0 + 5.0 * p->tech[TECH_COMMUNICATION]; }

int society_position(world *w, const probe *p, double pos[3]) {
    const star_system *s = galaxy_system(&w->gal, p->sys_hi, p->sys_lo);
    if (!s) return -1;
    memcpy(pos, s->pos, sizeof s->pos);
    if (p->activity == ACT_TRAVEL) {
        const star_system *d = galaxy_system(&w->gal, p->dst_hi, p->dst_lo);
        if (!d) return -1;
        for (int k = 0; k < 3; k++) pos[k] += (d->pos[k] - pos[k]) * p->progress;
    }
    return 0;
}

static double dist3(const double a[3], const double b[3]) {
    double dx = a[0] - b[0], dy = a[1] - b[1], dz = a[2] - b[2];
    return sqrt(dx * dx + dy * dy + dz * dz);
}

int society_route(world *w, const double from[3], const double to[3], double range, double *dist,
                  int *relayed) {
    double direct = dist3(from, to);
    *relayed = 0;
    if (direct <= range) {
        *dist = direct;
        return 0;
    }
    /* Dijkstra over finished relay satellites (O(R^2), R = relays) */
    uint32_t idx[MAX_RELAYS];
    int n = 0;
    for (uint32_t i = 0; i < w->n_st && n < MAX_RELAYS; i++)
        if (w->st[i].type == ST_RELAY && w->st[i].finished) idx[n++] = i;
    if (!n) return -1;
    double *pos = malloc((size_t)n * 3 * sizeof *pos), *best = malloc((size_t)n * sizeof *best);
    char *done = calloc((size_t)n, 1);
    int rc = -1;
    if (!pos || !best || !done) goto out;
    for (int i = 0; i < n; i++) {
        const star_system *s = galaxy_system(&w->gal, w->st[idx[i]].sys_hi, w->st[idx[i]].sys_lo);
        if (!s) goto out;
        memcpy(&pos[3 * i], s->pos, sizeof s->pos);
        double d = dist3(from, &pos[3 * i]);
        best[i] = d <= range ? d : INFINITY;
    }
    double answer = INFINITY;
    for (;;) {
        int u = -1;
        for (int i = 0; i < n; i++)
            if (!done[i] && best[i] < INFINITY && (u < 0 || best[i] < best[u])) u = i;
        if (u < 0 || best[u] >= answer) break;
        done[u] = 1;
        double last = dist3(&pos[3 * u], to);
        if (last <= RELAY_RANGE_LY && best[u] + last < answer) answer = best[u] + last;
        for (int v = 0; v < n; v++) {
            if (done[v]) continue;
            double d = dist3(&pos[3 * u], &pos[3 * v]);
            if (d <= RELAY_RANGE_LY && best[u] + d < best[v]) best[v] = best[u] + d;
        }
    }
    if (answer < INFINITY) {
        *dist = answer;
        *relayed = 1;
        rc = 0;
    }
out:
    free(pos);
    free(best);
    free(done);
    return rc;
}

/* ---------------------------------------------------------------- messages */

static int mq_less(const message *a, const message *b) {
    return a->arrive != b->arrive ? a->arrive < b->arrive : a->seq < b->seq;
}

static int mq_push(world *w, const message *m) {
    if (GROW(w->mq, w->n_mq, w->cap_mq)) return -1;
    uint32_t i = w->n_mq++;
    while (i > 0) {
        uint32_t par = (i - 1) / 2;
        if (!mq_less(m, &w->mq[par])) break;
        w->mq[i] = w->mq[par];
        i = par;
    }
    w->mq[i] = *m;
    return 0;
}

static void mq_pop(world *w) {
    message last = w->mq[--w->n_mq];
    uint32_t i = 0, n = w->n_mq;
    for (;;) {
        uint32_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && mq_less(&w->mq[c + 1], &w->mq[c])) c++;
        if (!mq_less(&w->mq[c], &last)) break;
        w->mq[i] = w->mq[c];
        i = c;
    }
    if (n) w->mq[i] = last;
}

/* Queue one message; returns its arrival tick (0 if out of memory). */
static uint64_t send_one(world *w, uint32_t from, uint32_t to, const char *text, int broadcast, double dist, int relayed) {
    message m;
    memset(&m, 0, sizeof m);
    double delay = ceil(dist * LIGHT_TICKS_PER_LY);
    m.arrive = w->tick + (delay < 1 ? 1 : (uint64_t)delay);
    m.sent = w->tick;
    m.seq = w->msg_seq++;
    m.from = from;
    m.to = to;
    m.broadcast = (uint8_t)broadcast;
    m.relayed = (uint8_t)relayed;
    memcpy(m.text, text, TEXT_MAX);
    m.text[TEXT_MAX - 1] = 0;
    return mq_push(w, &m) ? 0 : m.arrive;
}

static void deliver(world *w, const message *m) {
    if (m->to >= w->n_probes || w->p[m->to].status == ST_DESTROYED) return;
    probe_life *l = &w->L[m->to];
    if (!l->inbox) {
        if (GROW(w->inbox, w->n_inbox, w->cap_inbox)) return;
        memset(&w->inbox[w->n_inbox], 0, sizeof w->inbox[0]);
        l->inbox = ++w->n_inbox;
    }
    inbox_slab *s = &w->inbox[l->inbox - 1];
    s->m[s->n % INBOX_SLOTS] = *m;
    s->n++;
    w->messages_delivered++;
    world_emit(w, m->to, EV_MESSAGE, 0, m->broadcast, 0.0, (double)m->from + 1);
}

static int uidx_cmp(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static int broadcast(world *w, uint32_t from, const char *text, double *count) {
    double src[3];
    if (society_position(w, &w->p[from], src)) return R_NOT_IN_SYSTEM;
    double range = society_comm_range(&w->p[from]);
    world_sys_first(w, 0, 0); /* make sure the index is current */
    uint32_t *to = NULL, n = 0, cap = 0;
    for (uint32_t k = 0; k < w->sys_ix.n; k++) {
        const star_system *s = galaxy_system(&w->gal, w->sys_ix.keys[k].hi, w->sys_ix.keys[k].lo);
        if (!s || dist3(src, s->pos) > range) continue;
        for (uint32_t e = w->sys_ix.vals[k]; e; e = w->sys_next[e - 1]) {
            uint32_t i = w->sys_pr[e - 1];
            if (i == from) continue;
            if (GROW(to, n, cap)) {
                free(to);
                return R_NONE;
            }
            to[n++] = i;
        }
    }
    if (n) qsort(to, n, sizeof *to, uidx_cmp);
    *count = n;
    for (uint32_t k = 0; k < n; k++) {
        const star_system *s = galaxy_system(&w->gal, w->p[to[k]].sys_hi, w->p[to[k]].sys_lo);
        send_one(w, from, to[k], text, 1, s ? dist3(src, s->pos) : 0.0, 0);
    }
    free(to);
    return R_NONE;
}

/* ---------------------------------------------------------------- structures */

double society_struct_factor(world *w, const probe *p, int type) {
    if (p->location == LOC_INTERSTELLAR || !w->n_st) return 1.0;
    uint32_t *h = hmap_get(&w->st_ix, p->sys_hi, p->sys_lo);
    int have = 0;
    for (uint32_t e = h ? *h : 0; e; e = w->st[e - 1].next)
        if (w->st[e - 1].type == type && w->st[e - 1].finished) have = 1;
    if (!have) return 1.0;
    switch (type) {
    case ST_MINING_STATION: return 1.25;
    case ST_SHIPYARD: return 0.75;
    case ST_OBSERVATORY: return 1.5;
    case ST_FACTORY: return 2.0;
    default: return 1.0;
    }
}

static int build(world *w, uint32_t idx, int type) {
    probe *p = &w->p[idx];
    uint32_t *h = hmap_get(&w->st_ix, p->sys_hi, p->sys_lo);
    for (uint32_t e = h ? *h : 0; e; e = w->st[e - 1].next) {
        structure *s = &w->st[e - 1];
        if (s->type != type || s->finished) continue;
        for (int k = 0; k < s->n_builders; k++)
            if (s->builder[k] == idx) return R_NONE; /* already building it */
        if (s->n_builders >= 4) return R_BUILDERS_FULL;
        for (int k = 0; k < s->n_builders; k++) society_trust_add(w, idx, s->builder[k], TRUST_BUILD);
        s->builder[s->n_builders++] = idx;
        world_emit(w, idx, EV_STRUCTURE, 1, (uint8_t)type, 0.0, (double)e);
        return R_NONE;
    }
    if (p->cargo[RES_IRON] < structure_cost[type][0] || p->cargo[RES_SILICON] < structure_cost[type][1])
        return R_NO_MATERIALS;
    if (GROW(w->st, w->n_st, w->cap_st)) return R_LIMIT;
    structure *s = &w->st[w->n_st];
    memset(s, 0, sizeof *s);
    s->sys_hi = p->sys_hi;
    s->sys_lo = p->sys_lo;
    s->started = w->tick;
    s->owner = idx;
    s->builder[0] = idx;
    s->n_builders = 1;
    s->type = (uint8_t)type;
    s->next = h ? *h : 0;
    if (hmap_put(&w->st_ix, p->sys_hi, p->sys_lo, w->n_st + 1)) return R_LIMIT;
    w->n_st++;
    p->cargo[RES_IRON] = world_q3(p->cargo[RES_IRON] - structure_cost[type][0]);
    p->cargo[RES_SILICON] = world_q3(p->cargo[RES_SILICON] - structure_cost[type][1]);
    world_emit(w, idx, EV_STRUCTURE, 0, (uint8_t)type, 0.0, (double)w->n_st);
    return R_NONE;
}

/* ---------------------------------------------------------------- research */

uint32_t society_research_ticks(const probe *p, int domain) {
    double t = 50.0 * p->tech[domain] * (1.0 - 0.05 * (p->tech[TECH_COMPUTING] - 1));
    return t < 10 ? 10 : (uint32_t)ceil(t);
}

void society_research_step(world *w, uint32_t idx) {
    probe *p = &w->p[idx];
    if (p->energy < RESEARCH_ENERGY || p->status == ST_DORMANT) return; /* stalls */
    p->energy -= RESEARCH_ENERGY;
    if (--p->research_left) return;
    int d = p->research - 1;
    p->research = 0;
    if (p->tech[d] < TECH_MAX) p->tech[d]++;
    world_emit(w, idx, EV_RESEARCH, 0, (uint8_t)d, 0.0, p->tech[d]);
}

/* ---------------------------------------------------------------- actions */

static int target_probe(world *w, uint32_t idx, const action *a, uint32_t *out) {
    int64_t t = world_probe_index(w, a->target_hi, a->target_lo);
    if (t < 0 || (uint32_t)t == idx || w->p[t].status == ST_DESTROYED) return R_BAD_PROBE_TARGET;
    *out = (uint32_t)t;
    return R_NONE;
}

static int same_system(const probe *a, const probe *b) {
    return a->location != LOC_INTERSTELLAR && b->location != LOC_INTERSTELLAR && a->sys_hi == b->sys_hi &&
           a->sys_lo == b->sys_lo;
}

int society_apply(world *w, uint32_t idx, const action *a, double *amount) {
    probe *p = &w->p[idx];
    uint32_t t = 0;
    int r;
    *amount = 0.0;
    switch (a->kind) {
    case A_SEND_MESSAGE: {
        if (a->broadcast) {
            if (p->energy < BROADCAST_ENERGY) return R_NO_ENERGY;
            p->energy -= BROADCAST_ENERGY;
            return broadcast(w, idx, a->text, amount);
        }
        if ((r = target_probe(w, idx, a, &t))) return r;
        double src[3], dst[3], d;
        int relayed;
        if (society_position(w, p, src) || society_position(w, &w->p[t], dst) ||
            society_route(w, src, dst, society_comm_range(p), &d, &relayed))
            return R_NO_ROUTE;
        p->energy -= MSG_ENERGY;
        *amount = (double)send_one(w, idx, t, a->text, 0, d, relayed); /* arrival tick */
        return R_NONE;
    }
    case A_PLACE_BEACON: {
        uint32_t *h = hmap_get(&w->bcn_ix, p->sys_hi, p->sys_lo);
        int n = 0;
        for (uint32_t e = h ? *h : 0; e; e = w->bcn[e - 1].next) n++;
        if (n >= BEACONS_PER_SYSTEM) return R_BEACON_LIMIT;
        if (GROW(w->bcn, w->n_bcn, w->cap_bcn)) return R_LIMIT;
        beacon *b = &w->bcn[w->n_bcn];
        memset(b, 0, sizeof *b);
        b->sys_hi = p->sys_hi;
        b->sys_lo = p->sys_lo;
        b->tick = w->tick;
        b->owner = idx;
        b->next = h ? *h : 0;
        memcpy(b->text, a->text, TEXT_MAX);
        if (hmap_put(&w->bcn_ix, p->sys_hi, p->sys_lo, w->n_bcn + 1)) return R_LIMIT;
        w->n_bcn++;
        p->energy -= BEACON_ENERGY;
        return R_NONE;
    }
    case A_BUILD:
        r = build(w, idx, a->arg);
        if (!r) p->energy -= world_action_energy[A_BUILD];
        return r;
    case A_TRADE: {
        if ((r = target_probe(w, idx, a, &t))) return r;
        if (p->cargo[a->res] < a->amount) return R_NO_RESOURCES;
        double kg = world_q3(a->amount);
        p->cargo[a->res] = world_q3(p->cargo[a->res] - kg);
        p->energy -= world_action_energy[A_TRADE];
        if (same_system(p, &w->p[t])) { /* instant */
            probe *q = &w->p[t];
            double room = CARGO_CAP - world_cargo_total(q);
            double got = kg < room ? kg : (room > 0 ? world_q3(floor(room * 1000) / 1000) : 0);
            q->cargo[a->res] = world_q3(q->cargo[a->res] + got);
            p->cargo[a->res] = world_q3(p->cargo[a->res] + (kg - got)); /* what did not fit stays */
            society_trust_add(w, idx, t, TRUST_TRADE);
            w->trades_done++;
            world_emit(w, idx, EV_TRADE, 0, (uint8_t)a->res, 0.0, -got);
            world_emit(w, t, EV_TRADE, 0, (uint8_t)a->res, 0.0, got);
            return R_NONE;
        }
        if (GROW(w->tr, w->n_tr, w->cap_tr)) return R_LIMIT;
        trade *tr = &w->tr[w->n_tr++];
        memset(tr, 0, sizeof *tr);
        tr->due = w->tick + (uint64_t)w->cfg.trade_ticks;
        tr->created = w->tick;
        tr->kg = kg;
        tr->from = idx;
        tr->to = t;
        tr->res = (uint8_t)a->res;
        world_emit(w, idx, EV_TRADE, 1, (uint8_t)a->res, 0.0, -kg);
        return R_NONE;
    }
    case A_CLAIM: {
        uint32_t *c = hmap_get(&w->claims, p->sys_hi, p->sys_lo);
        if (c && *c && *c != idx + 1 && w->p[*c - 1].status != ST_DESTROYED) return R_CLAIMED;
        if (hmap_put(&w->claims, p->sys_hi, p->sys_lo, idx + 1)) return R_LIMIT;
        p->energy -= world_action_energy[A_CLAIM];
        world_emit(w, idx, EV_CLAIM, 0, 0, 0.0, 0.0);
        return R_NONE;
    }
    case A_REVOKE: {
        uint32_t *c = hmap_get(&w->claims, p->sys_hi, p->sys_lo);
        if (!c || *c != idx + 1) return R_NOT_CLAIMANT;
        *c = 0;
        world_emit(w, idx, EV_CLAIM, 2, 0, 0.0, 0.0);
        return R_NONE;
    }
    case A_PROPOSE: {
        if (GROW(w->pr, w->n_pr, w->cap_pr)) return R_LIMIT;
        proposal *q = &w->pr[w->n_pr++];
        memset(q, 0, sizeof *q);
        q->created = w->tick;
        q->deadline = w->tick + (uint64_t)w->cfg.proposal_ticks;
        q->proposer = idx;
        memcpy(q->text, a->text, TEXT_MAX);
        p->energy -= world_action_energy[A_PROPOSE];
        world_emit(w, idx, EV_PROPOSAL, 0, 0, 0.0, (double)w->n_pr);
        *amount = (double)w->n_pr;
        return R_NONE;
    }
    case A_VOTE: {
        if (a->proposal == 0 || a->proposal > w->n_pr) return R_UNKNOWN_PROPOSAL;
        proposal *q = &w->pr[a->proposal - 1];
        if (q->resolved || w->tick > q->deadline) return R_PROPOSAL_CLOSED;
        if (hmap_get(&w->votes, a->proposal, idx)) return R_ALREADY_VOTED;
        if (hmap_put(&w->votes, a->proposal, idx, 1u + a->arg)) return R_LIMIT;
        if (a->arg) q->yes++;
        else {
            q->no++;
            society_trust_add(w, idx, q->proposer, TRUST_VOTE_AGAINST);
        }
        return R_NONE;
    }
    case A_RESEARCH:
        if (p->research) return R_RESEARCHING;
        if (p->tech[a->arg] >= TECH_MAX) return R_TECH_MAX;
        p->research = (uint8_t)(a->arg + 1);
        p->research_total = p->research_left = society_research_ticks(p, a->arg);
        *amount = p->research_total;
        return R_NONE;
    case A_SHARE_TECH: {
        if ((r = target_probe(w, idx, a, &t))) return r;
        probe *q = &w->p[t];
        if (!same_system(p, q)) return R_NOT_SAME_SYSTEM;
        if (q->tech[a->arg] >= p->tech[a->arg]) return R_NOTHING_TO_SHARE;
        double cost = 0; /* 40 % of the research energy of the levels lifted */
        probe tmp = *q;
        for (; tmp.tech[a->arg] < p->tech[a->arg]; tmp.tech[a->arg]++)
            cost += SHARE_COST_FRACTION * society_research_ticks(&tmp, a->arg) * RESEARCH_ENERGY;
        if (p->energy < cost) return R_NO_ENERGY;
        p->energy = floor(p->energy - cost);
        q->tech[a->arg] = p->tech[a->arg];
        if (q->research == a->arg + 1) q->research = 0;
        society_trust_add(w, idx, t, TRUST_SHARE);
        world_emit(w, t, EV_RESEARCH, 1, a->arg, 0.0, q->tech[a->arg]);
        return R_NONE;
    }
    default: return R_NONE;
    }
}

void society_on_arrival(world *w, uint32_t idx) {
    probe *p = &w->p[idx];
    w->sys_dirty = 1;
    uint32_t *h = hmap_get(&w->bcn_ix, p->sys_hi, p->sys_lo);
    int n = 0;
    for (uint32_t e = h ? *h : 0; e; e = w->bcn[e - 1].next) n++;
    if (n) world_emit(w, idx, EV_BEACON, 0, 0, 0.0, n);
    uint32_t *c = hmap_get(&w->claims, p->sys_hi, p->sys_lo);
    if (c && *c && *c != idx + 1 && w->p[*c - 1].status != ST_DESTROYED &&
        society_trust(w, *c - 1, idx) < TRUST_INVITED) {
        society_trust_add(w, *c - 1, idx, TRUST_CLAIM_VIOLATION);
        world_emit(w, idx, EV_CLAIM, 1, 0, 0.0, (double)*c);
        world_emit(w, *c - 1, EV_CLAIM, 1, 1, 0.0, (double)idx + 1);
    }
}

void society_rebuild(world *w) {
    for (int b = 0; b < 8; b++) w->n_threat_b[b] = 0;
    for (uint32_t i = 0; i < w->n_probes; i++)
        if (w->L[i].threat_tick > w->tick) events_threat_push(w, i);
    w->sys_dirty = 1;
}

/* ---------------------------------------------------------------- per tick */

void society_tick(world *w) {
    while (w->n_mq && w->mq[0].arrive <= w->tick) {
        message m = w->mq[0];
        mq_pop(w);
        deliver(w, &m);
    }
    if (w->n_tr) {
        uint32_t k = 0;
        for (uint32_t i = 0; i < w->n_tr; i++) {
            trade *t = &w->tr[i];
            if (t->due > w->tick) {
                w->tr[k++] = *t;
                continue;
            }
            probe *q = &w->p[t->to];
            if (q->status != ST_DESTROYED) {
                double room = CARGO_CAP - world_cargo_total(q);
                double got = t->kg < room ? t->kg : (room > 0 ? floor(room * 1000) / 1000 : 0);
                q->cargo[t->res] = world_q3(q->cargo[t->res] + got);
                society_trust_add(w, t->from, t->to, TRUST_TRADE);
                w->trades_done++;
                world_emit(w, t->to, EV_TRADE, 2, t->res, 0.0, got);
            }
        }
        w->n_tr = k;
    }
    for (uint32_t i = 0; i < w->n_st; i++) {
        structure *s = &w->st[i];
        if (s->finished) continue;
        double speed = 1.0 + 0.6 * (s->n_builders - 1);
        s->progress = world_q6(s->progress + speed / structure_ticks[s->type]);
        if (s->progress >= 1.0 - 1e-9) {
            s->progress = 1.0;
            s->finished = w->tick;
            w->structures_built++;
            for (int k = 0; k < s->n_builders; k++)
                if (w->p[s->builder[k]].status != ST_DESTROYED)
                    world_emit(w, s->builder[k], EV_STRUCTURE, 2, s->type, 0.0, (double)i + 1);
        }
    }
    for (uint32_t i = 0; i < w->n_pr; i++) {
        proposal *q = &w->pr[i];
        if (q->resolved || q->deadline > w->tick) continue;
        q->resolved = 1;
        q->passed = q->yes > q->no;
        if (w->p[q->proposer].status != ST_DESTROYED)
            world_emit(w, q->proposer, EV_PROPOSAL, 1, q->passed, 0.0, (double)i + 1);
    }
    events_land_threats(w);
}

void society_scenario_fire(world *w) {
    for (uint32_t k = 0; k < w->n_sc; k++) {
        const scenario_event *e = &w->sc[k];
        if (e->at_tick != w->tick) continue;
        uint32_t first = e->target ? e->target - 1 : 0, last = e->target ? e->target : w->n_probes;
        for (uint32_t i = first; i < last && i < w->n_probes; i++) {
            if (w->p[i].status == ST_DESTROYED) continue;
            uint64_t h = rng_hash4(w->rseed ^ RNG_STREAM_INJECT, i, w->tick, k);
            events_apply(w, i, e->type, e->subtype, e->severity, h);
        }
    }
}
