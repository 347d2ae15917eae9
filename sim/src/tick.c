/* tick.c -- see tick.h. The per-probe pass is the hot loop: it touches only the fixed-size
 * probe struct, allocates nothing for a probe that simply waits, and uses the cached solar
 * factor instead of looking up the star. */
#include "tick.h"

#include "events.h"
#include "life.h"
#include "replicate.h"
#include "society.h"

#include <math.h>

static void arrive_system(world *w, probe *p) {
    p->sys_hi = p->dst_hi;
    p->sys_lo = p->dst_lo;
    p->location = LOC_IN_SYSTEM;
    p->body = -1;
    p->sys_survey = 0;
    for (int b = 0; b < GALAXY_MAX_BODIES; b++) p->survey[b] = 0;
    const star_system *s = world_probe_system(w, p);
    p->solar = s ? world_star_solar(s) : 0.5;
}

static void mine_yield(world *w, probe *p) {
    const star_system *s = world_probe_system(w, p);
    if (!s || p->body < 0) return;
    int r = p->last_res;
    static const double survey_factor[5] = {0.0, 0.5, 0.75, 1.0, 1.25};
    int lv = p->survey[p->body] > 4 ? 4 : p->survey[p->body];
    double kg = MINE_BASE_KG * w->cfg.mining_rate_scale * s->bodies[p->body].abundance[r] *
                (1.0 + 0.25 * (p->tech[TECH_MINING] - 1)) * survey_factor[lv];
    if (w->n_st) kg *= society_struct_factor(w, p, ST_MINING_STATION);
    double left = world_body_remaining(w, s, p->body, r);
    if (kg > left) kg = left;
    double room = CARGO_CAP - world_cargo_total(p);
    if (kg > room) kg = room;
    if (kg < 0) kg = 0;
    kg = floor(kg * 1000.0) / 1000.0; /* gram resolution keeps sums exact-ish and readable */
    if (kg > 0) {
        p->cargo[r] += kg;
        world_deplete(w, s, p->body, r, kg);
    }
    p->last_amount = kg;
}

void tick_run(world *w, const tick_action *acts, size_t n) {
    w->tick++;
    world_begin_tick(w);
    if (w->n_sc) society_scenario_fire(w);
    for (size_t i = 0; i < n; i++) {
        if (acts[i].reject) actions_reject(w, acts[i].probe, acts[i].a.kind, acts[i].reject);
        else actions_apply(w, acts[i].probe, &acts[i].a);
    }

    society_tick(w);
    events_prepare(w);
    const uint32_t n0 = w->n_probes;
    const double idle = world_activity_energy[ACT_NONE] + ENERGY_IDLE;
    for (uint32_t i = 0; i < n0; i++) {
        probe *p = &w->p[i];
        if (p->status == ST_DESTROYED) continue;
        /* 1. activities */
        if (p->activity != ACT_NONE) {
            double cost = world_activity_energy[p->activity];
            if (p->activity == ACT_NAVIGATE) {
                if (p->energy >= cost) {
                    p->energy -= cost;
                    if (--p->ticks_left == 0) {
                        p->activity = ACT_NONE;
                        p->body = p->nav_target;
                        p->nav_target = -1;
                        p->progress = 1.0;
                        world_emit(w, i, EV_ARRIVAL, 0, 0, 0.0, (double)p->body);
                    } else {
                        p->progress = world_q6(1.0 - (double)p->ticks_left / p->ticks_total);
                    }
                }
            } else if (p->activity == ACT_TRAVEL) {
                /* coasting needs no power: travel always progresses, energy only if available */
                p->energy = p->energy >= cost ? p->energy - cost : 0.0;
                if (--p->ticks_left == 0) {
                    p->activity = ACT_NONE;
                    p->progress = 1.0;
                    arrive_system(w, p);
                    world_emit(w, i, EV_ARRIVAL, 1, 0, 0.0, 0.0);
                    society_on_arrival(w, i);
                } else {
                    p->progress = world_q6(1.0 - (double)p->ticks_left / p->ticks_total);
                }
            } else if (p->activity == ACT_REPLICATE) {
                if (p->energy >= cost) {
                    p->energy -= cost;
                    if (p->ticks_left > 1) {
                        p->ticks_left--;
                        p->progress = world_q6(1.0 - (double)p->ticks_left / p->ticks_total);
                        if (p->progress >= 0.8 && !w->L[i].fork_done) life_fork(w, i); /* consciousness fork */
                    } else if (replicate_finish(w, i) >= 0) {
                        p = &w->p[i]; /* the probe array may have moved */
                        p->ticks_left = 0;
                        p->activity = ACT_NONE;
                        p->progress = 1.0;
                    }
                }
            }
        }
        /* 2. energy */
        double e = p->energy + world_energy_gen(w, p) - idle;
        p->energy = e < 0 ? 0 : e > ENERGY_CAP ? ENERGY_CAP : floor(e); /* whole joules */
        /* 3-4. yields of this tick's action */
        if (p->act_tick == w->tick && p->last_ok) {
            if (p->last_action == A_MINE) {
                mine_yield(w, p);
            } else if (p->last_action == A_REPAIR) {
                double gain = world_q6(REPAIR_HULL * (1.0 + 0.2 * (p->tech[TECH_CONSTRUCTION] - 1)));
                if (p->hull + gain > 1.0) gain = world_q6(1.0 - p->hull);
                if (p->hull + gain < 1.0 && w->n_st) gain = world_q6(gain * society_struct_factor(w, p, ST_FACTORY));
                if (p->hull + gain > 1.0) gain = world_q6(1.0 - p->hull);
                p->hull = world_q6(p->hull + gain);
                p->cargo[RES_IRON] -= REPAIR_IRON_KG;
                p->last_amount = gain;
            }
        }
        if (p->research) society_research_step(w, i);
        if (((w->tick + i) & 127) == 0) life_solitude(w, i);
        /* 5. random events */
        events_roll(w, i);
        /* 6. status */
        uint8_t before = p->status;
        world_update_status(w, p);
        if (p->status == ST_DORMANT && before != ST_DORMANT) world_emit(w, i, EV_DORMANT, 0, 0, 0.0, p->energy);
    }
}
