/* main.c -- command line and the stdin/stdout loop of universe-sim.
 *
 *   universe-sim --pipe [--seed N] [--max-line BYTES] [--populate N]
 *   universe-sim --seed N --ticks T      run T ticks with every probe waiting, print metrics+hash
 *
 * Only protocol lines go to stdout (flushed after each); diagnostics go to stderr. Request lines
 * longer than --max-line are drained without being stored and answered with line_too_long.
 */
#define _POSIX_C_SOURCE 200809L
#include "persist.h"
#include "proto.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DEFAULT_MAX_LINE (16u * 1024u * 1024u)

static int parse_u64(const char *s, uint64_t *out) {
    if (!s || !*s || *s == '-') return -1;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end) return -1;
    *out = (uint64_t)v;
    return 0;
}

static void usage(FILE *f) {
    fprintf(f, "usage: universe-sim --pipe [--seed N] [--max-line BYTES] [--populate N]\n"
               "       universe-sim [--seed N] [--populate N] --ticks T\n");
}

static int write_out(const jbuf *b) {
    if (fwrite(b->p, 1, b->len, stdout) != b->len || fflush(stdout)) {
        fprintf(stderr, "universe-sim: stdout closed (%s), exiting\n", strerror(errno));
        return -1;
    }
    return 0;
}

static int run_pipe(proto *P) {
    size_t cap = 1 << 16, len = 0, scan = 0;
    char *buf = malloc(cap);
    int draining = 0;   /* inside an over-long line */
    size_t drained = 0; /* its length so far */
    if (!buf) return 1;
    for (;;) {
        /* hand out every complete line in the buffer */
        for (;;) {
            char *nl = len > scan ? memchr(buf + scan, '\n', len - scan) : NULL;
            if (!nl) break;
            size_t ll = (size_t)(nl - buf);
            if (draining) {
                proto_line_too_long(P, drained + ll);
                draining = 0;
            } else {
                proto_handle(P, buf, ll);
            }
            if (write_out(&P->out)) {
                free(buf);
                return 1;
            }
            memmove(buf, nl + 1, len - ll - 1);
            len -= ll + 1;
            scan = 0;
            if (P->quit) {
                free(buf);
                return 0;
            }
        }
        scan = len;
        if (!draining && len > P->max_line) {
            draining = 1;
            drained = len;
            len = scan = 0;
        } else if (draining) {
            drained += len;
            len = scan = 0;
        }
        if (len == cap) {
            size_t nc = cap * 2;
            char *nb = realloc(buf, nc);
            if (!nb) {
                fprintf(stderr, "universe-sim: out of memory reading a line\n");
                draining = 1;
                drained = len;
                len = scan = 0;
            } else {
                buf = nb;
                cap = nc;
            }
        }
        ssize_t k = read(0, buf + len, cap - len);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) {
            /* EOF: a final unterminated line still gets its answer */
            if (draining) {
                proto_line_too_long(P, drained + len);
                write_out(&P->out);
            } else if (len) {
                proto_handle(P, buf, len);
                write_out(&P->out);
            }
            free(buf);
            return 0;
        }
        len += (size_t)k;
    }
}

int main(int argc, char **argv) {
    uint64_t seed = 42, max_line = DEFAULT_MAX_LINE, populate = 1, ticks = 0;
    int pipe_mode = 0, have_ticks = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--pipe")) {
            pipe_mode = 1;
        } else if (!strcmp(a, "--seed") && !parse_u64(v, &seed)) {
            i++;
        } else if (!strcmp(a, "--max-line") && !parse_u64(v, &max_line) && max_line >= 64 &&
                   max_line <= (1u << 30)) {
            i++;
        } else if (!strcmp(a, "--populate") && !parse_u64(v, &populate) && populate >= 1 &&
                   populate <= 100000000) {
            i++;
        } else if (!strcmp(a, "--ticks") && !parse_u64(v, &ticks)) {
            have_ticks = 1;
            i++;
        } else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "universe-sim: bad argument '%s'%s\n", a, v ? "" : " (missing value?)");
            usage(stderr);
            return 2;
        }
    }
    if (!pipe_mode && !have_ticks) {
        usage(stderr);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    proto P;
    if (proto_init(&P, seed, (uint32_t)populate, (size_t)max_line)) {
        fprintf(stderr, "universe-sim: out of memory creating the universe\n");
        return 1;
    }
    fprintf(stderr, "universe-sim: seed %" PRIu64 ", %u probe(s), max line %" PRIu64 " bytes\n", seed,
            P.w.n_probes, max_line);
    int rc = 0;
    if (pipe_mode) {
        rc = run_pipe(&P);
    } else {
        for (uint64_t t = 0; t < ticks; t++) tick_run(&P.w, NULL, 0);
        static const char req[] = "{\"cmd\":\"metrics\"}";
        proto_handle(&P, req, sizeof req - 1);
        write_out(&P.out);
        static const char hreq[] = "{\"cmd\":\"hash\"}";
        proto_handle(&P, hreq, sizeof hreq - 1);
        write_out(&P.out);
    }
    proto_free(&P);
    return rc;
}
