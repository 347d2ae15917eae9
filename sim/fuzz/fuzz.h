/* fuzz.h -- the entry points of the fuzz targets. Each one takes the bytes of one input, aborts on
 * an invariant violation (so libFuzzer and the replay driver both notice) and returns 1 if the
 * input was "accepted" (JSON: parsed; protocol: every line ok; actions: always), else 0.
 *
 *   fuzz_json_one     target_json.c     the JSON reader alone (one line's bytes)
 *   fuzz_proto_one    target.c          the protocol, one prepared world reused per process
 *   fuzz_actions_one  target_actions.c  bytes decoded into action sequences over many ticks
 *
 * fuzz_main.c wraps one of them for libFuzzer (-DFUZZ_ENTRY=...); replay.c runs corpora through
 * all of them with plain gcc. */
#ifndef FUZZ_H
#define FUZZ_H

#include <stddef.h>
#include <stdint.h>

/* The harnesses' own code is built without coverage instrumentation where clang allows it
 * (FUZZ_NO_COV on their functions): their checking loops run once per response byte or per probe
 * and tick, and instrumented they cost more than the engine work they check (every comparison a
 * trace-cmp callback), while their edges and hit counts only told the fuzzer how long a response
 * was or how many ticks ran. The engine's instrumentation is chosen per file in run.sh (edge
 * counters everywhere but the observation writers, comparison tracing where requests and actions
 * are checked). */
#if defined(__clang__) && defined(__has_attribute)
#if __has_attribute(no_sanitize)
#define FUZZ_NO_COV __attribute__((no_sanitize("coverage")))
#endif
#endif
#ifndef FUZZ_NO_COV
#define FUZZ_NO_COV
#endif

int fuzz_json_one(const uint8_t *data, size_t size);
int fuzz_proto_one(const uint8_t *data, size_t size);
int fuzz_actions_one(const uint8_t *data, size_t size);

#endif
