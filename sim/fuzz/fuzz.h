/* fuzz.h -- the entry points of the fuzz targets. Each one takes the bytes of one input, aborts on
 * an invariant violation (so libFuzzer and the replay driver both notice) and returns 1 if the
 * input was "accepted" (JSON: parsed; protocol: every line ok; actions: always), else 0.
 *
 *   fuzz_json_one     target_json.c     the JSON reader alone (one line's bytes)
 *   fuzz_proto_one    target_proto.c    the protocol, one prepared world reused per process
 *   fuzz_actions_one  target_actions.c  bytes decoded into action sequences over many ticks
 *
 * fuzz_main.c wraps one of them for libFuzzer (-DFUZZ_ENTRY=...); replay.c runs corpora through
 * all of them with plain gcc. */
#ifndef FUZZ_H
#define FUZZ_H

#include <stddef.h>
#include <stdint.h>

int fuzz_json_one(const uint8_t *data, size_t size);
int fuzz_proto_one(const uint8_t *data, size_t size);
int fuzz_actions_one(const uint8_t *data, size_t size);

#endif
