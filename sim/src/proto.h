/* proto.h -- the line protocol of `universe-sim --pipe` (docs/pipe-protocol.md).
 *
 * proto_handle takes one request line and leaves exactly one response line (ending in '\n') in
 * P->out. It does no I/O, so tests, the fuzz target and the replay driver call it directly;
 * main.c owns reading stdin and writing stdout. A failed command never changes the world.
 */
#ifndef PROTO_H
#define PROTO_H

#include "json.h"
#include "observe_delta.h"
#include "tick.h"
#include "world.h"

#define PROTO_MAX_SNAPSHOTS 32
#define PROTO_MAX_TAG 128
#define PROTO_MAX_CACHED_SECTORS 16384 /* ~20 KB each; the cache is dropped beyond this */

typedef struct proto_snapshot {
    char tag[PROTO_MAX_TAG]; /* NUL-terminated tag */
    uint8_t *data;           /* canonical payload (persist_serialize) */
    size_t len;              /* payload bytes */
    uint64_t tick;           /* tick at snapshot time */
    uint64_t seq;            /* creation order, for eviction */
} proto_snapshot;

typedef struct proto {
    world w;                 /* the universe */
    json_doc doc;            /* parse arena, reused */
    jbuf out;                /* response being built */
    size_t max_line;         /* longest accepted request line */
    proto_snapshot snaps[PROTO_MAX_SNAPSHOTS]; /* in-memory snapshots */
    uint64_t snap_seq;       /* next snapshot sequence number */
    tick_action *acts;       /* scratch: this tick's actions */
    size_t cap_acts;         /* allocated */
    /* scratch of the actions' sort (proto_tick.c sort_actions), kept across ticks: a fleet's
     * 100,000 actions would otherwise take MBs from the kernel and give them back every tick */
    void *sort_in, *sort_out; /* keyed actions */
    size_t cap_sort_in, cap_sort_out;
    uint32_t *sort_start;    /* the counting sort's offsets, one per probe + 1 */
    size_t cap_sort_start;
    int quit;                /* set by the quit command */
    int no_files;            /* 1: save/load refused (fuzzing must not touch the filesystem) */
    delta_cache deltas;      /* the last observation written per probe (tick "delta" groups) */
} proto;

int proto_init(proto *P, uint64_t seed, uint32_t populate, size_t max_line);
void proto_free(proto *P);
void proto_handle(proto *P, const char *line, size_t len);
/* Response for a line that exceeded max_line (len = its length, already drained). */
void proto_line_too_long(proto *P, size_t len);

#endif
