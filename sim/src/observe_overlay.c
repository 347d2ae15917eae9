/* observe_overlay.c -- the "reference" overlay of an observation (see observe_overlay.h). */
#include "observe_overlay.h"

#include "observe_living.h"
#include "observe_system.h"
#include "society.h"

void observe_reference(jbuf *b, world *w, uint32_t idx) {
    const probe *p = &w->p[idx];
    const star_system *s = world_probe_system(w, p);
    double pos[3] = {0, 0, 0};
    society_position(w, p, pos);
    JB_KEY(b, "reference");
    JB_LIT(b, "{\"system\":");
    if (p->location != LOC_INTERSTELLAR && s) observe_system_info(b, w, p, s, 1);
    else jb_null(b);
    observe_recent_events(b, &w->L[idx], 1);
    observe_trust(b, w, idx, 1);
    observe_relay_network(b, w, p, pos, 1);
    observe_research(b, p, 1);
    observe_visible_structures(b, w, p, 1);
    jb_putc(b, '}');
}
