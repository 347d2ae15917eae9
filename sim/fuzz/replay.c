/* replay.c -- runs corpus files through the fuzz target with plain gcc (no libFuzzer needed).
 *
 *   replay DIR...      every regular file in each DIR
 *
 * Naming: y_* every line must be answered ok:true; n_* every line but the last must be ok and
 * the last must be answered ok:false (earlier lines are setup). An optional expected error code
 * may follow in the name: n_<code>__anything (e.g. n_parse_error__truncated). Other names
 * (entries the fuzzer saved) only have to satisfy the invariants in target.c. */
#define _POSIX_C_SOURCE 200809L
#include "target.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int main(int argc, char **argv) {
    int passed = 0, failed = 0;
    for (int d = 1; d < argc; d++) {
        DIR *dir = opendir(argv[d]);
        if (!dir) {
            fprintf(stderr, "replay: cannot open %s\n", argv[d]);
            return 2;
        }
        char **names = NULL;
        size_t n = 0, cap = 0;
        struct dirent *de;
        while ((de = readdir(dir))) {
            if (de->d_name[0] == '.') continue;
            if (n == cap) {
                cap = cap ? cap * 2 : 64;
                names = realloc(names, cap * sizeof *names);
                if (!names) return 2;
            }
            names[n++] = strdup(de->d_name);
        }
        closedir(dir);
        qsort(names, n, sizeof *names, cmp);
        for (size_t i = 0; i < n; i++) {
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", argv[d], names[i]);
            struct stat st;
            if (stat(path, &st) || !S_ISREG(st.st_mode)) {
                free(names[i]);
                continue;
            }
            FILE *f = fopen(path, "rb");
            uint8_t *buf = malloc((size_t)st.st_size + 1);
            size_t len = f && buf ? fread(buf, 1, (size_t)st.st_size, f) : 0;
            if (f) fclose(f);
            fuzz_result r;
            int bad = 0;
            if (fuzz_run(buf, len, &r)) bad = 1;
            const char *nm = names[i];
            if (!strncmp(nm, "y_", 2)) {
                if (r.failed || r.lines == 0) bad = 1;
            } else if (!strncmp(nm, "n_", 2)) {
                if (r.lines == 0 || r.last_ok || r.failed != 1) bad = 1;
                const char *sep = strstr(nm, "__");
                if (!bad && sep) {
                    size_t cl = (size_t)(sep - nm - 2);
                    if (strlen(r.last_code) != cl || strncmp(r.last_code, nm + 2, cl)) bad = 1;
                }
            }
            if (bad) {
                failed++;
                fprintf(stderr, "replay: FAIL %s (lines %u ok %u failed %u last code '%s')\n", path, r.lines,
                        r.ok, r.failed, r.last_code);
            } else {
                passed++;
            }
            free(buf);
            free(names[i]);
        }
        free(names);
    }
    printf("replay: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
