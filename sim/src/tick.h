/* tick.h -- one simulation step.
 *
 * Order inside a tick (documented in docs/universe.md "Tick"):
 *   1. tick counter += 1, last tick's events dropped (injected ones kept);
 *   2. actions applied in probe-id order (actions_apply);
 *   3. one pass over all probes in id order: activity progress (navigate, travel, replicate),
 *      energy, mining yield, repair, random events, status.
 * Children born in step 3 join the pass from the next tick on.
 */
#ifndef TICK_H
#define TICK_H

#include "actions.h"
#include "world.h"

typedef struct tick_action {
    uint32_t probe;  /* probe index */
    action a;        /* parsed action */
    uint8_t reject;  /* R_NONE, or a reason found before the tick (malformed): recorded as is */
} tick_action;

/* acts must be sorted by probe index, one entry per probe, all indices valid. The probe of a
 * pre-rejected entry waits and its last action is recorded as rejected. */
void tick_run(world *w, const tick_action *acts, size_t n);

#endif
