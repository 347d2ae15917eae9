/* observe_living.h -- the living-universe fields of an observation (docs/pipe-protocol.md
 * "Observation") and the writers it shares with the reference overlay (observe_overlay.c): each
 * of those writes its key and value, ref selecting the reference form. Included by observe.h. */
#ifndef OBSERVE_LIVING_H
#define OBSERVE_LIVING_H

#include "json.h"
#include "world.h"

/* The living-universe fields of probe idx's observation (all but the compact detail). */
void observe_living(jbuf *b, world *w, uint32_t idx);
/* "recent_events": the latest 5 history entries, readable {tick, type, message} or the reference
 * form {tick, type, subtype, severity, description} (numbers) with kind and message beside them. */
void observe_recent_events(jbuf *b, const probe_life *l, int ref);
/* "trust": {"1-2": t, ...} or the reference [{"probe_id","trust"}, ...] (at most 32 entries). */
void observe_trust(jbuf *b, const world *w, uint32_t idx, int ref);
/* "research": {domain name, progress, ticks_remaining} or the reference numeric domain with
 * domain_name beside it; null when the probe researches nothing. */
void observe_research(jbuf *b, const probe *p, int ref);
/* "visible_structures" of the system probe p is in (none between the stars). */
void observe_visible_structures(jbuf *b, const world *w, const probe *p, int ref);
/* "relay_network" seen from pos: the counts {relays, relays_in_range, relay_range_ly} or the
 * reference list of the finished relays in communication range (at most 32). */
void observe_relay_network(jbuf *b, world *w, const probe *p, const double pos[3], int ref);

#endif
