/* replicate.h -- finishing a replication: the child probe, its name and inherited tech. */
#ifndef REPLICATE_H
#define REPLICATE_H

#include "world.h"

/* Create the child of probe parent (whose replication just completed). Returns the child's
 * index, or -1 on allocation failure (the parent keeps its progress and retries next tick). */
int64_t replicate_finish(world *w, uint32_t parent);

#endif
