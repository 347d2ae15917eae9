/* test_golden.c -- seed 42 + the scripted policy (tests/policy.h) for 10,000 ticks must end in a
 * fixed state hash; restoring a snapshot or loading a save mid-run and replaying must reach the
 * same hash as the uninterrupted run.
 *
 * If a deliberate rule change moves the golden hash, update GOLDEN_HASH (the failure message
 * prints the new value) and say so in docs/universe.md's changelog. */
#define _POSIX_C_SOURCE 200809L
#include "policy.h"
#include "proto.h"
#include "testutil.h"

#include <inttypes.h>
#include <unistd.h>

#define GOLDEN_HASH "793727abbf9eaa8f"
#define GOLDEN_TICKS 10000
#define SNAP_TICK 7000
#define SAVE_TICK 8500

static jbuf req;

static void run_to(proto *P, uint64_t tick) {
    while (P->w.tick < tick) {
        policy_tick_request(&P->w, &req, "\"none\"");
        proto_handle(P, req.p, req.len);
    }
}

static void hash_of(proto *P, char out[17]) {
    static const char h[] = "{\"cmd\":\"hash\"}";
    proto_handle(P, h, sizeof h - 1);
    out[0] = 0;
    for (size_t i = 0; i + 8 + 16 <= P->out.len; i++)
        if (memcmp(P->out.p + i, "\"hash\":\"", 8) == 0) {
            memcpy(out, P->out.p + i + 8, 16);
            out[16] = 0;
            break;
        }
}

static void cmd(proto *P, const char *line) {
    proto_handle(P, line, strlen(line));
    CHECK_MSG(tu_contains(P->out.p, P->out.len, "\"ok\":true"), "%s -> %.*s", line, (int)P->out.len, P->out.p);
}

int main(void) {
    proto P;
    jb_init(&req);
    CHECK(proto_init(&P, 42, 1, 1u << 30) == 0);
    char path[80], line[160];
    snprintf(path, sizeof path, "/tmp/universe-sim-golden-%d.sav", (int)getpid());

    run_to(&P, SNAP_TICK);
    cmd(&P, "{\"cmd\":\"snapshot\",\"tag\":\"mid\"}");
    run_to(&P, SAVE_TICK);
    snprintf(line, sizeof line, "{\"cmd\":\"save\",\"path\":\"%s\"}", path);
    cmd(&P, line);
    run_to(&P, GOLDEN_TICKS);
    char golden[17], again[17];
    hash_of(&P, golden);
    CHECK_MSG(strcmp(golden, GOLDEN_HASH) == 0, "golden hash is %s, expected %s", golden, GOLDEN_HASH);
    /* replication must have happened: the universe is alive */
    CHECK_MSG(P.w.m.spawned > 10 && P.w.alive > 10, "spawned %" PRIu64 " alive %u", P.w.m.spawned, P.w.alive);
    /* every mechanic of the living layer was exercised */
    CHECK(P.w.messages_delivered > 10 && P.w.trades_done > 10 && P.w.structures_built > 0);
    CHECK(P.w.n_pr > 3 && P.w.votes.n > 10 && P.w.n_bcn > 5 && P.w.n_trust > 10 && P.w.claims.n == 1);
    CHECK(P.w.explored.n > 1 && P.w.m.hazards > 100 && P.w.m.discoveries > 100);
    {
        int forks = 0, quirky = 0;
        for (uint32_t i = 1; i < P.w.n_probes; i++) {
            forks += memcmp(P.w.L[i].trait, P.w.L[0].trait, sizeof P.w.L[0].trait) != 0;
            quirky += P.w.L[i].n_quirks > 0;
        }
        CHECK(forks > 10 && quirky > 10);
    }

    /* asking for the reference overlay (docs/pipe-protocol.md) changes nothing in the state: the
     * tick after the golden state hashes the same with and without it */
    {
        char with_ref[17], without[17];
        cmd(&P, "{\"cmd\":\"snapshot\",\"tag\":\"golden\"}");
        policy_tick_request(&P.w, &req, "\"all\",\"reference\":\"all\"");
        proto_handle(&P, req.p, req.len);
        CHECK(tu_contains(P.out.p, P.out.len, "\"reference\":{\"system\":"));
        hash_of(&P, with_ref);
        cmd(&P, "{\"cmd\":\"restore\",\"tag\":\"golden\"}");
        policy_tick_request(&P.w, &req, "\"all\"");
        proto_handle(&P, req.p, req.len);
        CHECK(!tu_contains(P.out.p, P.out.len, "\"reference\":{"));
        hash_of(&P, without);
        CHECK_MSG(strcmp(with_ref, without) == 0, "overlay moved the hash: %s vs %s", with_ref, without);
        cmd(&P, "{\"cmd\":\"restore\",\"tag\":\"golden\"}");
        hash_of(&P, again);
        CHECK(strcmp(golden, again) == 0);
    }

    cmd(&P, "{\"cmd\":\"restore\",\"tag\":\"mid\"}");
    CHECK(P.w.tick == SNAP_TICK);
    run_to(&P, GOLDEN_TICKS);
    hash_of(&P, again);
    CHECK_MSG(strcmp(golden, again) == 0, "after restore: %s vs %s", again, golden);

    snprintf(line, sizeof line, "{\"cmd\":\"load\",\"path\":\"%s\"}", path);
    cmd(&P, line);
    CHECK(P.w.tick == SAVE_TICK);
    run_to(&P, GOLDEN_TICKS);
    hash_of(&P, again);
    CHECK_MSG(strcmp(golden, again) == 0, "after load: %s vs %s", again, golden);
    unlink(path);

    /* a different seed gives a different universe */
    proto Q;
    proto_init(&Q, 43, 1, 1u << 20);
    run_to(&Q, 100);
    hash_of(&Q, again);
    proto_free(&Q);
    proto R;
    proto_init(&R, 42, 1, 1u << 20);
    run_to(&R, 100);
    char h42[17];
    hash_of(&R, h42);
    proto_free(&R);
    CHECK(strcmp(again, h42) != 0);

    printf("golden: seed 42, %d ticks, %u alive, %" PRIu64 " spawned, hash %s\n", GOLDEN_TICKS, P.w.alive,
           P.w.m.spawned, golden);
    proto_free(&P);
    jb_free(&req);
    return tu_report("test_golden");
}
