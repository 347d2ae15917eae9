/* fuzz_main.c -- libFuzzer entry point (clang -fsanitize=fuzzer -DFUZZ_ENTRY=fuzz_json_one ...). */
#include "fuzz.h"

#ifndef FUZZ_ENTRY
#define FUZZ_ENTRY fuzz_proto_one
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    (void)FUZZ_ENTRY(data, size);
    return 0;
}
