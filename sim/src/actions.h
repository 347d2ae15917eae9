/* actions.h -- parsing agent actions and applying their immediate effects.
 *
 * A tick first parses every action object (actions_parse: shape only, no state), then applies
 * them in probe-id order (actions_apply: validation against state, instant effects such as
 * enter_orbit, starting multi-tick activities, survey progress, energy for the action). Yields
 * that accrue over the tick (mining, repair) and activity progress happen later in tick.c.
 */
#ifndef ACTIONS_H
#define ACTIONS_H

#include "json.h"
#include "world.h"

/* struct action (a parsed agent action) is in world.h beside enum action_kind. */

/* Parse an action object. Returns 0, or -1 with a message naming the problem in err. */
int actions_parse(const json_doc *d, const json_node *obj, action *out, char *err, size_t errlen);
/* Validate against state and apply. Records last_action/last_ok/last_reason on the probe.
 * Returns R_NONE if accepted, else the reason code. */
int actions_apply(world *w, uint32_t idx, const action *a);
/* Record a rejection that happened before validation (malformed, duplicate). */
void actions_reject(world *w, uint32_t idx, uint8_t kind, int reason);

#endif
