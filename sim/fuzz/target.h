/* target.h -- see target.c. */
#ifndef FUZZ_TARGET_H
#define FUZZ_TARGET_H

#include <stddef.h>
#include <stdint.h>

typedef struct fuzz_result {
    unsigned lines;           /* request lines handled */
    unsigned ok;              /* answered ok:true */
    unsigned failed;          /* answered ok:false */
    unsigned lines_ok_prefix; /* lines answered before the first failure */
    int last_ok;              /* outcome of the last line */
    char last_code[64];       /* error code of the last failure */
} fuzz_result;

/* Run one input; aborts on an invariant violation. 0 ok, -1 if the engine could not start. */
int fuzz_run(const uint8_t *data, size_t size, fuzz_result *res);

#endif
