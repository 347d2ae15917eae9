/* bench.c -- engine figures for docs/performance.md ("Engine").
 *
 *   build/bench [path/to/universe-sim]
 *
 * 1. probe-updates/s on one core: --populate-style worlds of 1, 1k, 100k, 1M probes (the test-only
 *    way to create probes: clones of Bob), ticks with every probe waiting, no output.
 * 2. memory per probe: sizeof hot+cold records and resident-set growth for 1M probes.
 * 3. bytes per observation: a tick reply observing 1,000 probes, divided by 1,000; observation JSON
 *    throughput (observations/s, MB/s) in compact and full detail, tick time subtracted.
 * 4. pipe tick rate: the real binary spawned with --pipe --populate N, one request at a time
 *    (like the daemon), with observe "none" and observe "all".
 */
#define _POSIX_C_SOURCE 200809L
#include "persist.h"
#include "policy.h"
#include "proto.h"
#include "tick.h"
#include "world.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static long rss_kb(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, res = 0;
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &res) != 2) res = 0;
        fclose(f);
    }
    return res * (sysconf(_SC_PAGESIZE) / 1024);
}

static void bench_updates(uint32_t n) {
    world w;
    long before = rss_kb();
    if (world_init(&w, 42, n)) {
        printf("  %8u probes: out of memory\n", n);
        return;
    }
    long after = rss_kb();
    /* hazards are rolled and logged as usual but do no damage, so every probe stays alive for
     * the whole measurement (otherwise millions of ticks would wipe out small populations) */
    w.cfg.hazard_damage_scale = 0.0;
    /* warm up, then time for ~1.5 s */
    tick_run(&w, NULL, 0);
    uint64_t ticks = 0;
    double t0 = now(), t = 0;
    do {
        tick_run(&w, NULL, 0);
        ticks++;
        t = now() - t0;
    } while (t < 1.5 && ticks < 1000000);
    double ups = (double)n * (double)ticks / t;
    printf("  %8u probes: %9.0f ticks/s  %7.2f M probe-updates/s/core (%u alive)", n, (double)ticks / t,
           ups / 1e6, w.alive);
    if (n >= 100000) printf("  (RSS +%.0f bytes/probe)", (double)(after - before) * 1024.0 / n);
    printf("\n");
    world_free(&w);
}

/* The living-universe action of probe i at tick tk, as bench_living and bench_persist_living drive
 * them (messages, trades, research; with `society`, also Bob's proposals, votes and structures):
 * 0 if the probe does nothing this tick. */
static int living_action(const world *w, uint32_t i, uint32_t n, uint64_t tk, int society, action *a) {
    uint64_t ph = (i + tk) % 100;
    memset(a, 0, sizeof *a);
    a->res = -1;
    if (society && i == 0 && tk % 100 == 1) {
        a->kind = A_PROPOSE;
        strcpy(a->text, "expand");
    } else if (ph == 0) {
        a->kind = A_SEND_MESSAGE;
        a->target_hi = PROBE_ID_HI;
        a->target_lo = (i + 1) % n + 1;
        strcpy(a->text, "status report");
    } else if (ph == 50) {
        a->kind = A_TRADE;
        a->target_hi = PROBE_ID_HI;
        a->target_lo = (i + 7) % n + 1;
        a->res = RES_IRON;
        a->amount = 1.0;
    } else if (ph == 25 && !w->p[i].research) {
        a->kind = A_RESEARCH;
        a->arg = (uint8_t)((i + tk) % TECH_COUNT);
        if (w->p[i].tech[a->arg] >= TECH_MAX) return 0;
    } else if (society && ph == 75 && w->n_pr && (i + tk / 100) % 5 == 0) {
        a->kind = A_VOTE;
        a->proposal = w->n_pr;
        a->arg = (uint8_t)(i & 1);
    } else if (society && tk % 1000 == 500 && i % 997 == 3) {
        a->kind = A_BUILD;
        a->arg = (uint8_t)((tk / 1000) % STRUCT_COUNT);
    } else {
        return 0;
    }
    return 1;
}

/* All living-universe mechanics on: every probe researching, ~1 % of probes sending a message
 * per tick, ~1 % trading, votes on a standing proposal, structures being built, event rolls at
 * their default rates (threat announcements, anomalies, encounters, crises, wonders), solitude
 * checks, memory and personality drift. Hazards and crises do no damage so the population stays
 * whole. Actions are built in-process (no JSON), as tick_action arrays in id order. */
static void bench_living(uint32_t n, double budget) {
    world w;
    long before = rss_kb();
    if (world_init(&w, 42, n)) return;
    w.cfg.hazard_damage_scale = 0.0;
    for (uint32_t i = 0; i < n; i++) {
        w.p[i].cargo[RES_IRON] = 100000;
        w.p[i].cargo[RES_SILICON] = 100000;
    }
    tick_action *acts = malloc((size_t)n * sizeof *acts);
    if (!acts) return;
    uint64_t ticks = 0, n_acts = 0;
    double t0 = now(), t = 0;
    do {
        uint64_t tk = w.tick + 1;
        size_t k = 0;
        for (uint32_t i = 0; i < n; i++) {
            action a;
            if (!living_action(&w, i, n, tk, 1, &a)) continue;
            acts[k].probe = i;
            acts[k].a = a;
            acts[k].reject = 0;
            k++;
        }
        tick_run(&w, acts, k);
        n_acts += k;
        ticks++;
        t = now() - t0;
    } while (t < budget && ticks < 100000);
    long after = rss_kb();
    double ups = (double)n * (double)ticks / t;
    printf("  %8u probes: %9.0f ticks/s  %7.2f M probe-updates/s/core, %.1f actions/tick, %u trust pairs, "
           "%llu messages, %llu trades, %u structures (%u alive)  (RSS +%.0f bytes/probe incl. inboxes)\n", n,
           (double)ticks / t, ups / 1e6, (double)n_acts / (double)ticks, w.n_trust, (unsigned long long)w.messages_delivered,
           (unsigned long long)w.trades_done, w.n_st, w.alive, (double)(after - before) * 1024.0 / n);
    free(acts);
    world_free(&w);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}
static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}
static double timed(proto *P, const char *line) {
    double t0 = now();
    proto_handle(P, line, strlen(line));
    return (now() - t0) * 1e3;
}

#define BENCH_SAVE "/tmp/universe-sim-bench.usim"
/* save to disk (compact file, fsync, rename) and load back, `reps` times: medians */
static void bench_save_load(proto *P, const char *label, int reps) {
    const char *save = "{\"cmd\":\"save\",\"path\":\"" BENCH_SAVE "\"}";
    const char *load = "{\"cmd\":\"load\",\"path\":\"" BENCH_SAVE "\"}";
    double s[16], l[16], sl[16];
    for (int i = 0; i < reps && i < 16; i++) {
        s[i] = timed(P, save);
        l[i] = timed(P, load);
        sl[i] = s[i] + l[i];
    }
    struct stat st;
    double mb = stat(BENCH_SAVE, &st) == 0 ? (double)st.st_size / 1e6 : 0;
    jbuf c;
    jb_init(&c);
    persist_serialize(&P->w, &c);
    printf("  %s: file %.2f MB (canonical %.1f MB), save %.0f ms, load %.0f ms, save+load %.0f ms (median of %d)\n",
           label, mb, (double)c.len / 1e6, median(s, reps), median(l, reps), median(sl, reps), reps);
    jb_free(&c);
    unlink(BENCH_SAVE);
}

static void bench_persist(uint32_t n, int reps) {
    proto P;
    if (proto_init(&P, 42, n, 1u << 30)) return;
    const char *lines[] = {"{\"cmd\":\"hash\"}", "{\"cmd\":\"snapshot\",\"tag\":\"b\"}", "{\"cmd\":\"restore\",\"tag\":\"b\"}"};
    double t[3];
    for (int i = 0; i < 3; i++) t[i] = timed(&P, lines[i]);
    char label[160];
    snprintf(label, sizeof label, "%8u probes: hash %.0f ms, snapshot %.0f ms, restore %.0f ms; to disk", n, t[0], t[1], t[2]);
    bench_save_load(&P, label, reps);
    proto_free(&P);
}

/* A universe that has lived: n probes with every living-universe mechanic on for `ticks` ticks
 * (as bench_living: messages, trades, research, votes, structures), then saved and loaded. */
static void bench_persist_living(uint32_t n, int ticks, int reps) {
    proto P;
    if (proto_init(&P, 42, n, 1u << 30)) return;
    world *w = &P.w;
    w->cfg.hazard_damage_scale = 0.0;
    for (uint32_t i = 0; i < n; i++) {
        w->p[i].cargo[RES_IRON] = 100000;
        w->p[i].cargo[RES_SILICON] = 100000;
    }
    tick_action *acts = malloc((size_t)n * sizeof *acts);
    if (!acts) return;
    for (int t = 0; t < ticks; t++) {
        uint64_t tk = w->tick + 1;
        size_t k = 0;
        for (uint32_t i = 0; i < n; i++) {
            action a;
            if (!living_action(w, i, n, tk, 0, &a)) continue;
            acts[k].probe = i;
            acts[k].a = a;
            acts[k].reject = 0;
            k++;
        }
        tick_run(w, acts, k);
    }
    free(acts);
    char label[160];
    snprintf(label, sizeof label, "%8u probes after %d living ticks (%u inboxes, %u trust pairs)", n, ticks, w->n_inbox,
             w->n_trust);
    bench_save_load(&P, label, reps);
    proto_free(&P);
}

static double field_num(const jbuf *b, const char *key) {
    char k[64];
    snprintf(k, sizeof k, "\"%s\":", key);
    size_t kl = strlen(k);
    for (size_t i = 0; i + kl < b->len; i++)
        if (!memcmp(b->p + i, k, kl)) return strtod(b->p + i + kl, NULL);
    return -1;
}

/* The tick loop during background saves (a snapshot copy, then a writer thread): the daemon's
 * pattern, one tick then one `saves` poll, until the save is reported done; `saves` background
 * saves in a row (the first one also touches the snapshot buffers for the first time). Reports
 * the save command's own time (the snapshot: the stall) and the longest tick+poll while the save
 * ran, against the ticks before it, and a synchronous save of the same world. */
static void bench_background(uint32_t n, int saves) {
    proto P;
    if (proto_init(&P, 42, n, 1u << 30)) return;
    const char *tick = "{\"cmd\":\"tick\",\"observe\":\"none\"}";
    const char *poll = "{\"cmd\":\"saves\"}";
    double base[10];
    for (int i = 0; i < 10; i++) base[i] = timed(&P, tick) + timed(&P, poll);
    double base_median = median(base, 10), base_max = base[9];
    double snap[16], worst[16], child = 0;
    int ticks = 0;
    for (int k = 0; k < saves && k < 16; k++) {
        snap[k] = timed(&P, "{\"cmd\":\"save\",\"path\":\"" BENCH_SAVE "\",\"background\":true}");
        worst[k] = 0;
        double t0 = now();
        while (now() - t0 < 120) {
            double dt = timed(&P, tick);
            dt += timed(&P, poll);
            ticks++;
            worst[k] = dt > worst[k] ? dt : worst[k];
            if (field_num(&P.out, "job") > 0) {
                child += field_num(&P.out, "seconds");
                break;
            }
        }
    }
    double sync_ms = timed(&P, "{\"cmd\":\"save\",\"path\":\"" BENCH_SAVE "\"}");
    double first = snap[0], worst_all = 0;
    for (int k = 0; k < saves; k++) worst_all = worst[k] > worst_all ? worst[k] : worst_all;
    printf("  %8u probes, %d background saves: snapshot (the stall) first %.0f ms, then median %.0f ms; each save %.2f s "
           "in the writer thread, %d ticks meanwhile, longest tick+poll %.0f ms (without a save: median %.0f ms, "
           "longest %.0f ms); a synchronous save of the same world %.0f ms\n",
           n, saves, first, median(snap + 1, saves - 1), child / saves, ticks, worst_all, base_median, base_max, sync_ms);
    unlink(BENCH_SAVE);
    proto_free(&P);
}

/* Observations of probes that are doing things (surveys, cargo, events): the scripted policy of
 * the golden test, observed after 4,000 ticks. */
static void bench_policy_observations(void) {
    proto P;
    proto_init(&P, 42, 1, 1u << 30);
    jbuf req;
    jb_init(&req);
    double t0 = now();
    while (P.w.tick < 4000) {
        policy_tick_request(&P.w, &req, "\"none\"");
        proto_handle(&P, req.p, req.len);
    }
    double t = now() - t0;
    policy_tick_request(&P.w, &req, "\"all\"");
    proto_handle(&P, req.p, req.len);
    printf("  scripted policy (seed 42): 4000 ticks in %.2f s incl. request building/parsing; then "
           "%u active probes observed: %.0f bytes/observation\n", t, P.w.alive, (double)P.out.len / P.w.alive);
    jb_free(&req);
    proto_free(&P);
}

static void bench_observation_bytes(void) {
    proto P;
    proto_init(&P, 42, 1000, 1u << 30);
    const char tick[] = "{\"cmd\":\"tick\",\"observe\":\"all\"}";
    for (int i = 0; i < 3; i++) proto_handle(&P, tick, sizeof tick - 1);
    size_t len = P.out.len;
    const char one[] = "{\"cmd\":\"tick\",\"observe\":[\"1-1\"]}";
    proto_handle(&P, one, sizeof one - 1);
    printf("  tick reply observing 1000 idle probes (full): %zu bytes => %.0f bytes/observation "
           "(single-probe reply: %zu bytes)\n", len, (double)len / 1000.0, P.out.len);
    const char compact[] = "{\"cmd\":\"tick\",\"observe\":\"all\",\"detail\":\"compact\"}";
    proto_handle(&P, compact, sizeof compact - 1);
    printf("  same, compact: %.0f bytes/observation\n", (double)P.out.len / 1000.0);
    double t0 = now();
    int reps = 50;
    for (int i = 0; i < reps; i++) proto_handle(&P, tick, sizeof tick - 1);
    double t = now() - t0;
    printf("  in-process tick + observation JSON for 1000 probes: %.2f ms/tick (%.0f observations/s)\n",
           t / reps * 1e3, 1000.0 * reps / t);
    proto_free(&P);
}

/* Observation JSON throughput (in-process, output to memory): ticks of n idle probes, every probe
 * observed in the given detail; the time of the same ticks with observe "none" is subtracted, so
 * the rate is the writer's (tick_run excluded). */
static void bench_observation_rate(uint32_t n, const char *detail, int reps) {
    proto P;
    proto_init(&P, 42, n, 1u << 30);
    char obs[128], none[] = "{\"cmd\":\"tick\",\"observe\":\"none\"}";
    int len = snprintf(obs, sizeof obs, "{\"cmd\":\"tick\",\"detail\":\"%s\"}", detail);
    proto_handle(&P, obs, (size_t)len); /* warm up: buffers grown, sectors generated */
    double t0 = now(), bytes = 0;
    for (int i = 0; i < reps; i++) {
        proto_handle(&P, obs, (size_t)len);
        bytes += (double)P.out.len;
    }
    double t = now() - t0;
    t0 = now();
    for (int i = 0; i < reps; i++) proto_handle(&P, none, sizeof none - 1);
    double t_none = now() - t0, w = t - t_none > 1e-9 ? t - t_none : 1e-9;
    printf("  observation JSON, %6u probes, %-7s: %7.1f ms/tick (tick alone %.2f ms), %9.0f observations/s, "
           "%6.0f MB/s, %.0f bytes/observation\n", n, detail, t / reps * 1e3, t_none / reps * 1e3,
           (double)n * reps / w, bytes / w / 1e6, bytes / reps / n);
    proto_free(&P);
}

/* spawn `sim --pipe --populate n`, return pid and the two pipe ends */
static pid_t spawn(const char *sim, uint32_t n, FILE **to, FILE **from) {
    int in[2], out[2];
    if (pipe(in) || pipe(out)) return -1;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        close(in[1]);
        close(out[0]);
        char num[32];
        snprintf(num, sizeof num, "%u", n);
        execl(sim, sim, "--pipe", "--populate", num, (char *)NULL);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    *to = fdopen(in[1], "w");
    *from = fdopen(out[0], "r");
    return pid;
}

static void bench_pipe(const char *sim, uint32_t n, const char *observe, const char *detail, double budget) {
    FILE *to, *from;
    pid_t pid = spawn(sim, n, &to, &from);
    if (pid < 0) return;
    char *line = NULL;
    size_t cap = 0;
    uint64_t ticks = 0, bytes = 0;
    /* as in the in-process bench: hazards do no damage, so the population stays whole */
    fprintf(to, "{\"cmd\":\"config\",\"data\":{\"hazard_damage_scale\":0}}\n");
    fflush(to);
    if (getline(&line, &cap, from) <= 0) return;
    double t0 = now(), t = 0;
    do {
        fprintf(to, "{\"cmd\":\"tick\",\"observe\":\"%s\",\"detail\":\"%s\"}\n", observe, detail);
        fflush(to);
        ssize_t k = getline(&line, &cap, from);
        if (k <= 0) break;
        bytes += (uint64_t)k;
        ticks++;
        t = now() - t0;
    } while (t < budget && ticks < 100000);
    fprintf(to, "{\"cmd\":\"quit\"}\n");
    fclose(to);
    while (getline(&line, &cap, from) > 0) {
    }
    fclose(from);
    waitpid(pid, NULL, 0);
    free(line);
    printf("  pipe, %7u probes, observe %-4s (%-7s): %9.1f ticks/s  %10.0f bytes/tick\n", n, observe, detail,
           (double)ticks / t, (double)bytes / (double)ticks);
}

int main(int argc, char **argv) {
    const char *sim = argc > 1 ? argv[1] : "build/universe-sim";
    printf("engine benchmark (one core, no output)\n");
    printf("  sizeof(probe) = %zu bytes hot + %zu bytes cold + %zu bytes living = %zu bytes/probe "
           "(+ %zu bytes inbox once a probe receives a message)\n", sizeof(probe), sizeof(probe_cold),
           sizeof(probe_life), sizeof(probe) + sizeof(probe_cold) + sizeof(probe_life), sizeof(inbox_slab));
    uint32_t sizes[] = {1, 1000, 100000, 1000000};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) bench_updates(sizes[i]);
    printf("all living-universe mechanics on\n");
    bench_living(1000, 1.5);
    bench_living(100000, 4.0);
    printf("state commands (hash / snapshot / restore; save / load to disk, file version 3)\n");
    bench_persist(100000, 5);
    bench_persist(1000000, 5);
    bench_persist_living(100000, 150, 5);
    bench_background(100000, 5);
    bench_background(1000000, 5);
    printf("observation output\n");
    bench_observation_bytes();
    bench_policy_observations();
    bench_observation_rate(1000, "compact", 50);
    bench_observation_rate(1000, "full", 10);
    bench_observation_rate(20000, "compact", 5);
    bench_observation_rate(20000, "full", 2);
    bench_observation_rate(100000, "compact", 2);
    if (access(sim, X_OK) == 0) {
        printf("pipe round trips (%s, one request in flight)\n", sim);
        signal(SIGPIPE, SIG_IGN);
        bench_pipe(sim, 1, "none", "full", 1.0);
        bench_pipe(sim, 1, "all", "full", 1.0);
        bench_pipe(sim, 1, "all", "compact", 1.0);
        bench_pipe(sim, 1000, "none", "full", 1.0);
        bench_pipe(sim, 1000, "all", "full", 1.0);
        bench_pipe(sim, 1000, "all", "compact", 1.0);
        bench_pipe(sim, 100000, "none", "full", 2.0);
        /* full observations of 100k probes are ~0.8 GB per tick: only the compact form here */
        bench_pipe(sim, 100000, "all", "compact", 3.0);
    } else {
        printf("pipe: %s not built, skipped\n", sim);
    }
    return 0;
}
