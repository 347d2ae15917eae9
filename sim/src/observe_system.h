/* observe_system.h -- JSON views of a star system: the system command's view and the system a
 * probe is in (an observation's system_info, the overlay's reference "system"). Included by
 * observe.h. */
#ifndef OBSERVE_SYSTEM_H
#define OBSERVE_SYSTEM_H

#include "json.h"
#include "world.h"

/* Full system view. viewer (may be NULL) selects whose survey levels reveal resources; without a
 * viewer the best level among live probes in the system is used. */
void observe_system(jbuf *b, world *w, const star_system *s, const probe *viewer);
/* The system s probe p is in, as system_info (readable) or the reference "system" (ref). */
void observe_system_info(jbuf *b, world *w, const probe *p, const star_system *s, int ref);

#endif
