/* observe_overlay.h -- the "reference" overlay of an observation: the reference forms of the keys
 * whose readable shapes differ (docs/pipe-protocol.md "Reference overlay"). Included by
 * observe.h. */
#ifndef OBSERVE_OVERLAY_H
#define OBSERVE_OVERLAY_H

#include "json.h"
#include "world.h"

/* The "reference" key and object for probe idx; written last in a full observation. */
void observe_reference(jbuf *b, world *w, uint32_t idx);

#endif
