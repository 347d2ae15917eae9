/* target.h -- the protocol fuzz target (target.c), strict and fast forms. */
#ifndef FUZZ_TARGET_H
#define FUZZ_TARGET_H

#include <stddef.h>
#include <stdint.h>

typedef struct fuzz_result {
    unsigned lines;           /* request lines handled */
    unsigned ok;              /* answered ok:true */
    unsigned failed;          /* answered ok:false */
    unsigned lines_ok_prefix; /* lines answered before the first failure */
    unsigned hashed;          /* lines whose state hash was checked (fast form: only around failures) */
    size_t out_bytes;         /* response bytes written (the work cap counts these) */
    int last_ok;              /* outcome of the last line */
    char last_code[64];       /* error code of the last failure */
} fuzz_result;

/* Strict form: a fresh engine per input, the state hashed around every line. 0 ok, -1 if the
 * engine could not start; aborts on an invariant violation. */
int fuzz_run(const uint8_t *data, size_t size, fuzz_result *res);
/* Fast form: one engine per process, reset to the prepared state (the same fresh world) between
 * inputs; the hash is taken only around lines that failed inside a command (a second pass).
 * Must give the same result as fuzz_run. */
int fuzz_run_fast(const uint8_t *data, size_t size, fuzz_result *res);

/* The fast form's own JSON validator (1 if it accepts text as one JSON value); the replay
 * driver checks it agrees with json_parse on the JSON corpus. */
int fuzz_reply_valid(const char *text, size_t len);

#endif
