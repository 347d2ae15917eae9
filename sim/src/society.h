/* society.h -- communication, trust, trades, claims, structures, proposals, research, threats
 * and scenario scripts. Rules and constants: docs/universe.md ("Living universe").
 *
 * Scale: nothing here walks all probe pairs. Trust is a sparse map of pairs that interacted;
 * messages wait in a min-heap ordered by arrival tick; broadcasts and nearby-probe queries use
 * the per-system spatial index (world_sys_first); threats sit in buckets by landing tick. */
#ifndef SOCIETY_H
#define SOCIETY_H

#include "world.h"

#define TRUST_TRADE 0.05
#define TRUST_SHARE 0.08
#define TRUST_BUILD 0.06
#define TRUST_CLAIM_VIOLATION (-0.10)
#define TRUST_VOTE_AGAINST (-0.05)
#define TRUST_INVITED 0.3      /* the claimant trusts the visitor at least this much: no violation */
#define SHARE_COST_FRACTION 0.4
#define MAX_RELAYS 4096        /* relays considered for routing */

extern const double structure_cost[STRUCT_COUNT][2]; /* iron, silicon kg */
extern const uint32_t structure_ticks[STRUCT_COUNT];

double society_trust(const world *w, uint32_t a, uint32_t b);
int society_trust_add(world *w, uint32_t a, uint32_t b, double delta);
double society_comm_range(const probe *p);
/* Galactic position of a probe (interpolated while interstellar). 0 ok. */
int society_position(world *w, const probe *p, double pos[3]);
/* Shortest route from -> to within range (direct or through finished relays). Returns 0 and the
 * path length in ly, or -1 if unreachable. */
int society_route(world *w, const double from[3], const double to[3], double range, double *dist,
                  int *relayed);
uint32_t society_research_ticks(const probe *p, int domain);

/* Apply one of the society actions (validated here). Returns R_NONE or a reason; *amount gets
 * the action's numeric result (arrival tick, recipients, proposal id, research ticks, kg). */
int society_apply(world *w, uint32_t idx, const action *a, double *amount);
/* Called when probe idx arrives in a system: beacons seen, claims entered. */
void society_on_arrival(world *w, uint32_t idx);
/* Start-of-pass work of a tick: deliver messages, trades, structures, proposals, threats. */
void society_tick(world *w);
/* Per-probe research progress (called from the probe pass). */
void society_research_step(world *w, uint32_t idx);
/* Multiplier of mining yield / replication ticks from finished structures in the probe's system. */
double society_struct_factor(world *w, const probe *p, int type);
/* Derived indexes after load/restore. */
void society_rebuild(world *w);
/* Scenario events due this tick. */
void society_scenario_fire(world *w);

#endif
