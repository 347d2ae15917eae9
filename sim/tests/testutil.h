/* testutil.h -- minimal test harness: CHECK records failures and keeps going; each test binary
 * prints "N passed, N failed" and exits non-zero on any failure. */
#ifndef TESTUTIL_H
#define TESTUTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tu_passed, tu_failed;

#define CHECK(cond)                                                                 \
    do {                                                                            \
        if (cond) tu_passed++;                                                      \
        else {                                                                      \
            tu_failed++;                                                            \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
        }                                                                           \
    } while (0)

#define CHECK_MSG(cond, ...)                                                        \
    do {                                                                            \
        if (cond) tu_passed++;                                                      \
        else {                                                                      \
            tu_failed++;                                                            \
            fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                           \
            fputc('\n', stderr);                                                    \
        }                                                                           \
    } while (0)

static inline int tu_contains(const char *hay, size_t n, const char *needle) {
    size_t k = strlen(needle);
    if (k > n) return 0;
    for (size_t i = 0; i + k <= n; i++)
        if (memcmp(hay + i, needle, k) == 0) return 1;
    return 0;
}

static inline int tu_report(const char *name) {
    printf("%s: %d passed, %d failed\n", name, tu_passed, tu_failed);
    return tu_failed ? 1 : 0;
}

#endif
