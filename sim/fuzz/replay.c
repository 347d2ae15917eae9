/* replay.c -- runs corpus files through the fuzz targets with plain gcc (no libFuzzer needed).
 *
 *   replay [-t proto|json|actions] DIR...   every regular file in each DIR (-t applies to the
 *                                           directories after it; proto by default)
 *
 * proto: each file runs through both forms of the target (strict: fresh engine, hash around every
 * line; fast: the reused engine, hash around failures only), which must agree. Naming: y_* every
 * line must be answered ok:true; n_* every line but the last must be ok and the last must be
 * answered ok:false (earlier lines are setup). An optional expected error code may follow in the
 * name: n_<code>__anything (e.g. n_parse_error__truncated).
 * json: y_* must parse, n_* must not; and the protocol target's own reply validator (target.c)
 * must accept exactly what json_parse accepts.
 * actions: every file only has to keep the invariants (see target_actions.c).
 * Other names (entries the fuzzer saved, crash regressions) only have to keep the invariants. */
#define _POSIX_C_SOURCE 200809L
#include "fuzz.h"
#include "target.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int check_proto(const char *nm, const uint8_t *buf, size_t len, char *why, size_t wl) {
    fuzz_result r, f;
    if (fuzz_run(buf, len, &r) || fuzz_run_fast(buf, len, &f)) {
        snprintf(why, wl, "engine did not start");
        return 1;
    }
    snprintf(why, wl, "lines %u ok %u failed %u last code '%s'", r.lines, r.ok, r.failed, r.last_code);
    if (r.lines != f.lines || r.ok != f.ok || r.failed != f.failed || strcmp(r.last_code, f.last_code)) {
        snprintf(why, wl, "fast form differs: strict %u/%u/%u fast %u/%u/%u", r.lines, r.ok, r.failed, f.lines,
                 f.ok, f.failed);
        return 1;
    }
    if (!strncmp(nm, "y_", 2)) return r.failed || r.lines == 0;
    if (!strncmp(nm, "n_", 2)) {
        if (r.lines == 0 || r.last_ok || r.failed != 1) return 1;
        const char *sep = strstr(nm, "__");
        if (sep) {
            size_t cl = (size_t)(sep - nm - 2);
            if (strlen(r.last_code) != cl || strncmp(r.last_code, nm + 2, cl)) return 1;
        }
    }
    return 0;
}

int main(int argc, char **argv) {
    int passed = 0, failed = 0;
    const char *target = "proto";
    for (int d = 1; d < argc; d++) {
        if (!strcmp(argv[d], "-t") && d + 1 < argc) {
            target = argv[++d];
            if (strcmp(target, "proto") && strcmp(target, "json") && strcmp(target, "actions")) {
                fprintf(stderr, "replay: unknown target %s (proto, json, actions)\n", target);
                return 2;
            }
            continue;
        }
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
        int dir_passed = 0;
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
            const char *nm = names[i];
            char why[200] = "";
            int bad = 0;
            if (!strcmp(target, "proto")) {
                bad = check_proto(nm, buf, len, why, sizeof why);
            } else {
                int acc = !strcmp(target, "json") ? fuzz_json_one(buf, len) : fuzz_actions_one(buf, len);
                if (!strncmp(nm, "y_", 2) && !acc) bad = 1, snprintf(why, sizeof why, "rejected");
                if (!strncmp(nm, "n_", 2) && acc) bad = 1, snprintf(why, sizeof why, "accepted");
                if (!strcmp(target, "json") && fuzz_reply_valid((const char *)buf, len) != acc)
                    bad = 1, snprintf(why, sizeof why, "the protocol target's reply validator %s it",
                                      acc ? "rejects" : "accepts");
            }
            if (bad) {
                failed++;
                fprintf(stderr, "replay(%s): FAIL %s (%s)\n", target, path, why);
            } else {
                passed++;
                dir_passed++;
            }
            free(buf);
            free(names[i]);
        }
        free(names);
        printf("replay(%s): %s: %d passed\n", target, argv[d], dir_passed);
    }
    printf("replay: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
