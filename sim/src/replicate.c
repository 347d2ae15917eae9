/* replicate.c -- see replicate.h; rules in docs/universe.md ("Replication"). */
#include "replicate.h"

#include "life.h"
#include "rng.h"

#include <stdio.h>
#include <string.h>

int64_t replicate_finish(world *w, uint32_t parent) {
    int64_t ci = world_add_probe(w); /* may move w->p */
    if (ci < 0) return -1;
    probe *pp = &w->p[parent];
    probe_cold *pc = &w->c[parent];
    probe *cp = &w->p[ci];
    probe_cold *cc = &w->c[ci];
    uint64_t child_lo = (uint64_t)ci + 1;
    uint64_t h = rng_hash3(w->rseed ^ RNG_STREAM_REPLICATE, PROBE_ID_HI, child_lo);

    cp->sys_hi = pp->sys_hi;
    cp->sys_lo = pp->sys_lo;
    cp->hull = 1.0;
    cp->energy = REPLICATE_CHILD_ENERGY;
    double cost[RES_COUNT];
    world_replication_cost(w, cost);
    cp->fuel = cost[RES_HYDROGEN]; /* the hydrogen in the recipe becomes the child's fuel */
    cp->solar = pp->solar;
    cp->body = pp->body;
    cp->nav_target = -1;
    cp->location = pp->location;
    cp->status = ST_ACTIVE;
    cp->activity = ACT_NONE;
    cp->last_action = A_WAIT;
    cp->last_ok = 1;
    cp->act_tick = 0;
    cp->sys_survey = pp->sys_survey;
    memcpy(cp->survey, pp->survey, sizeof cp->survey);
    memcpy(cp->tech, pp->tech, sizeof cp->tech);
    /* improvement: one tech +1 with a chance that grows with the parent's computing */
    double chance = 0.3 * (1.0 + 0.05 * (pp->tech[TECH_COMPUTING] - 1));
    if (rng_unit(h) < chance) {
        int t = (int)(rng_mix64(h) % TECH_COUNT);
        if (cp->tech[t] < TECH_MAX) cp->tech[t]++;
    }
    cc->parent_hi = PROBE_ID_HI;
    cc->parent_lo = (uint64_t)parent + 1;
    cc->born_tick = w->tick;
    cc->generation = pc->generation + 1;
    life_inherit(w, parent, (uint32_t)ci);
    pc->children++;

    world_note_born(w, (uint32_t)ci);
    world_emit(w, parent, EV_REPLICATED, 0, 0, 0.0, (double)child_lo);
    world_emit(w, (uint32_t)ci, EV_BORN, 0, 0, 0.0, (double)parent + 1);
    return ci;
}
