/* fuzz_main.c -- libFuzzer entry point (clang -fsanitize=fuzzer). */
#include "target.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_result r;
    fuzz_run(data, size, &r);
    return 0;
}
