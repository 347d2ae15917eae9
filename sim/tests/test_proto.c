/* test_proto.c -- every pipe command and error code through proto_handle, snapshot/restore,
 * save/load, and refusal of damaged save files without touching the state. */
#define _POSIX_C_SOURCE 200809L
#include "json.h"
#include "persist.h"
#include "proto.h"
#include "testutil.h"
#include "testproto.h"

#include <stdio.h>
#include <unistd.h>

static json_doc R; /* last response, parsed */

static const json_node *req(proto *P, const char *line) { return tp_request(P, &R, line); }
static int is_ok(const json_node *r) { return tp_is_ok(&R, r); }
static int err_is(const json_node *r, const char *code) {
    const json_node *e = json_get(&R, r, "error");
    return r && !is_ok(r) && json_is_str(json_get(&R, e, "code"), &R, code) &&
           json_str(&R, json_get(&R, e, "message"), NULL);
}
static uint64_t num(const json_node *obj, const char *key) {
    uint64_t v = UINT64_MAX;
    json_as_u64(&R, json_get(&R, obj, key), &v);
    return v;
}
static void hash_of(proto *P, char out[17]) {
    const json_node *r = req(P, "{\"cmd\":\"hash\"}");
    size_t n = 0;
    const char *h = json_str(&R, json_get(&R, r, "hash"), &n);
    snprintf(out, 17, "%.*s", (int)n, h ? h : "");
}

static void test_basics(proto *P) {
    const json_node *r = req(P, "{\"cmd\":\"status\",\"id\":\"abc\"}");
    CHECK(is_ok(r) && json_is_str(json_get(&R, r, "id"), &R, "abc"));
    CHECK(num(r, "tick") == 0 && num(r, "seed") == 42 && num(r, "total") == 1);
    const json_node *probes = json_get(&R, r, "probes");
    const json_node *bob = json_child(&R, probes);
    CHECK(bob && json_is_str(json_get(&R, bob, "id"), &R, "1-1") && json_is_str(json_get(&R, bob, "name"), &R, "Bob"));
    CHECK(json_get(&R, bob, "parent_id")->type == JSON_NULL);

    r = req(P, "{\"cmd\":\"tick\",\"id\":5,\"actions\":{\"1-1\":{\"type\":\"survey\"}}}");
    CHECK(is_ok(r) && num(r, "id") == 5 && num(r, "tick") == 1);
    const json_node *obs = json_child(&R, json_get(&R, r, "observations"));
    const char *fields[] = {"type", "probe_id", "name", "parent_id", "generation", "status", "hull", "energy",
                            "fuel", "location", "tech", "system", "system_name", "body", "cargo",
                            "survey", "travel", "activity", "last_action", "events"};
    for (size_t i = 0; i < sizeof fields / sizeof *fields; i++)
        CHECK_MSG(json_get(&R, obs, fields[i]) != NULL, "observation lacks %s", fields[i]);
    CHECK(json_get(&R, obs, "tech")->count == 10);
    CHECK(json_is_str(json_get(&R, obs, "type"), &R, "observe"));
    CHECK(json_get(&R, json_get(&R, obs, "cargo"), "rare_earth") != NULL);
    const json_node *la = json_get(&R, obs, "last_action");
    CHECK(json_is_str(json_get(&R, la, "action"), &R, "survey") && json_get(&R, la, "ok")->type == JSON_TRUE);
    CHECK(json_get(&R, r, "born")->type == JSON_ARRAY && json_get(&R, r, "destroyed")->type == JSON_ARRAY);
    CHECK(json_get(&R, r, "rejected")->count == 0);

    r = req(P, "{\"cmd\":\"tick\",\"actions\":{\"1-1\":{\"action\":\"land\"},\"1-9\":{\"type\":\"wait\"},"
               "\"x\":{\"type\":\"wait\"}},\"observe\":[\"1-1\"]}");
    CHECK(is_ok(r) && json_get(&R, r, "rejected")->count == 3);
    const json_node *rej = json_child(&R, json_get(&R, r, "rejected"));
    CHECK(json_is_str(json_get(&R, rej, "probe_id"), &R, "1-1") && json_is_str(json_get(&R, rej, "reason"), &R, "not orbiting"));
    CHECK(json_get(&R, r, "observations")->count == 1);

    r = req(P, "{\"cmd\":\"tick\",\"actions\":{\"1-1\":{\"type\":\"mine\",\"resource\":\"gold\"}},\"observe\":\"none\"}");
    CHECK(is_ok(r) && json_get(&R, r, "observations")->count == 0 && json_get(&R, r, "rejected")->count == 1);

    /* duplicates: the first entry wins, the second is rejected; malformed shows in last_action */
    r = req(P, "{\"cmd\":\"tick\",\"actions\":{\"1-1\":{\"type\":\"scan\"},\"1-1\":{\"type\":\"wait\"}}}");
    rej = json_child(&R, json_get(&R, r, "rejected"));
    CHECK(rej && json_is_str(json_get(&R, rej, "reason"), &R, "duplicate action for this probe"));
    la = json_get(&R, json_child(&R, json_get(&R, r, "observations")), "last_action");
    CHECK(json_is_str(json_get(&R, la, "action"), &R, "scan"));
    CHECK(json_get(&R, json_get(&R, la, "result"), "systems")->count > 0);
    r = req(P, "{\"cmd\":\"tick\",\"actions\":{\"1-1\":{\"type\":\"mine\"}}}");
    la = json_get(&R, json_child(&R, json_get(&R, r, "observations")), "last_action");
    CHECK(json_get(&R, la, "ok")->type == JSON_FALSE && json_is_str(json_get(&R, la, "reason"), &R, "malformed action"));
    rej = json_child(&R, json_get(&R, r, "rejected"));
    CHECK(rej && tu_contains(R.strs + json_get(&R, rej, "reason")->str_off, json_get(&R, rej, "reason")->str_len, "resource"));

    r = req(P, "{\"cmd\":\"metrics\"}");
    const json_node *m = json_get(&R, r, "metrics");
    const char *mk[] = {"tick", "probes_alive", "probes_spawned", "probes_destroyed", "systems_explored",
                        "avg_tech", "discoveries", "hazards_survived", "avg_trust"};
    for (size_t i = 0; i < sizeof mk / sizeof *mk; i++) CHECK_MSG(json_get(&R, m, mk[i]) != NULL, "metrics lacks %s", mk[i]);
    CHECK(num(m, "tick") == 5);

    char h[17];
    hash_of(P, h);
    CHECK(strlen(h) == 16 && strspn(h, "0123456789abcdef") == 16);
}

static void test_errors(proto *P) {
    char before[17], after[17];
    hash_of(P, before);
    CHECK(err_is(req(P, "{\"cmd\":"), "parse_error"));
    CHECK(num(json_get(&R, json_get(&R, json_root(&R), "error"), "pos"), "pos") == UINT64_MAX); /* pos is a number */
    CHECK(num(json_get(&R, json_root(&R), "error"), "pos") == 7);
    CHECK(err_is(req(P, "[]"), "bad_request"));
    CHECK(err_is(req(P, "{\"id\":1}"), "bad_request"));
    CHECK(num(json_root(&R), "id") == 1);
    CHECK(err_is(req(P, "{\"cmd\":\"fly\",\"id\":[1]}"), "unknown_command"));
    CHECK(json_get(&R, json_root(&R), "id")->type == JSON_ARRAY);
    CHECK(err_is(req(P, "{\"cmd\":\"probe\",\"probe_id\":\"1-42\"}"), "unknown_probe"));
    CHECK(err_is(req(P, "{\"cmd\":\"system\",\"system_id\":\"0-0\"}"), "unknown_system"));
    CHECK(err_is(req(P, "{\"cmd\":\"restore\",\"tag\":\"none\"}"), "unknown_tag"));
    CHECK(err_is(req(P, "{\"cmd\":\"config\",\"data\":{\"nope\":1}}"), "bad_config"));
    CHECK(err_is(req(P, "{\"cmd\":\"config\",\"data\":{\"event_freq_hazard\":0.3,\"max_probes\":0.5}}"), "bad_config"));
    CHECK(err_is(req(P, "{\"cmd\":\"tick\",\"actions\":5}"), "bad_request"));
    CHECK(err_is(req(P, "{\"cmd\":\"load\",\"path\":\"/nonexistent/dir/file\"}"), "io_error"));
    CHECK(err_is(req(P, "{\"cmd\":\"save\",\"path\":\"/nonexistent/dir/file\"}"), "io_error"));
    CHECK(err_is(req(P, "{\"cmd\":\"save\"}"), "bad_request"));
    char big[300];
    memset(big, ' ', sizeof big);
    memcpy(big, "{\"cmd\":\"status\"}", 16);
    big[299] = 0;
    size_t saved = P->max_line;
    P->max_line = 100;
    CHECK(err_is(req(P, big), "line_too_long"));
    P->max_line = saved;
    hash_of(P, after);
    CHECK(strcmp(before, after) == 0);
}

static void test_config_inject(proto *P) {
    const json_node *r = req(P, "{\"cmd\":\"config\",\"data\":{\"event_freq_discovery\":\"0.01\"}}");
    CHECK(is_ok(r));
    const json_node *cfg = json_get(&R, r, "config");
    CHECK(json_get(&R, cfg, "event_freq_discovery")->num == 0.01);
    CHECK(json_get(&R, cfg, "event_freq_hazard") != NULL);
    r = req(P, "{\"cmd\":\"inject\",\"event\":{\"type\":\"hazard\",\"subtype\":0,\"severity\":0.8,\"probe_id\":\"1-1\"}}");
    CHECK(is_ok(r) && num(r, "applied") == 1);
    r = req(P, "{\"cmd\":\"probe\",\"probe_id\":\"1-1\"}");
    const json_node *pr = json_get(&R, r, "probe");
    CHECK(json_get(&R, pr, "hull")->num < 1.0);
    const json_node *ev = json_child(&R, json_get(&R, pr, "events"));
    CHECK(ev && json_is_str(json_get(&R, ev, "type"), &R, "hazard") && json_is_str(json_get(&R, ev, "subtype"), &R, "solar_flare"));
    CHECK(json_get(&R, pr, "children") && json_get(&R, pr, "replication_cost"));
    /* the injected event shows in the next tick's observation (and, asked for, in the tick's
     * list of every probe's events, with the probe id), then is gone */
    r = req(P, "{\"cmd\":\"tick\",\"observe\":\"none\",\"events\":true}");
    const json_node *all = json_get(&R, r, "events");
    CHECK(all && all->count >= 1);
    CHECK(json_is_str(json_get(&R, json_child(&R, all), "probe_id"), &R, "1-1"));
    CHECK(json_is_str(json_get(&R, json_child(&R, all), "type"), &R, "hazard"));
    r = req(P, "{\"cmd\":\"tick\",\"events\":\"yes\"}");
    CHECK(err_is(r, "bad_request"));
    r = req(P, "{\"cmd\":\"inject\",\"event\":{\"type\":\"hazard\",\"subtype\":0,\"severity\":0.1,\"probe_id\":\"1-1\"}}");
    r = req(P, "{\"cmd\":\"tick\"}");
    CHECK(json_get(&R, json_child(&R, json_get(&R, r, "observations")), "events")->count >= 1);
    CHECK(json_get(&R, r, "events") == NULL); /* only when asked */
    req(P, "{\"cmd\":\"config\",\"data\":{\"event_freq_discovery\":0,\"event_freq_hazard\":0}}");
    r = req(P, "{\"cmd\":\"tick\"}");
    CHECK(json_get(&R, json_child(&R, json_get(&R, r, "observations")), "events")->count == 0);
    r = req(P, "{\"cmd\":\"inject\",\"event\":{\"type\":\"discovery\",\"subtype\":\"tech_insight\"}}");
    CHECK(is_ok(r) && num(r, "applied") == 1);
}

static void test_system(proto *P) {
    const json_node *r = req(P, "{\"cmd\":\"status\"}");
    size_t n;
    const char *sys = json_str(&R, json_get(&R, json_child(&R, json_get(&R, r, "probes")), "system"), &n);
    char line[200];
    snprintf(line, sizeof line, "{\"cmd\":\"system\",\"system_id\":\"%.*s\"}", (int)n, sys);
    r = req(P, line);
    CHECK(is_ok(r));
    const json_node *s = json_get(&R, r, "system");
    CHECK(json_is_str(json_get(&R, json_get(&R, s, "star"), "class"), &R, "G"));
    const json_node *b = json_child(&R, json_get(&R, s, "bodies"));
    CHECK(b && json_get(&R, b, "id") && json_get(&R, b, "type") && json_get(&R, b, "resources"));
}

static void test_snapshot_save(proto *P) {
    char h0[17], h1[17], h2[17];
    CHECK(is_ok(req(P, "{\"cmd\":\"snapshot\",\"tag\":\"t1\"}")));
    hash_of(P, h0);
    for (int i = 0; i < 20; i++) req(P, "{\"cmd\":\"tick\",\"actions\":{\"1-1\":{\"type\":\"survey\"}}}");
    hash_of(P, h1);
    CHECK(strcmp(h0, h1) != 0);
    const json_node *r = req(P, "{\"cmd\":\"restore\",\"tag\":\"t1\"}");
    CHECK(is_ok(r) && json_is_str(json_get(&R, r, "restored"), &R, "t1"));
    hash_of(P, h2);
    CHECK(strcmp(h0, h2) == 0);
    /* save / load round trip */
    char path[64];
    snprintf(path, sizeof path, "/tmp/universe-sim-test-%d.sav", (int)getpid());
    char line[200];
    snprintf(line, sizeof line, "{\"cmd\":\"save\",\"path\":\"%s\"}", path);
    r = req(P, line);
    CHECK(is_ok(r) && num(r, "bytes") > 100);
    CHECK(json_is_str(json_get(&R, r, "hash"), &R, h2));
    for (int i = 0; i < 5; i++) req(P, "{\"cmd\":\"tick\"}");
    snprintf(line, sizeof line, "{\"cmd\":\"load\",\"path\":\"%s\"}", path);
    CHECK(is_ok(req(P, line)));
    hash_of(P, h1);
    CHECK(strcmp(h1, h2) == 0);
    /* damaged files are refused and the state is untouched */
    FILE *f = fopen(path, "r+b");
    fseek(f, 100, SEEK_SET);
    int c = fgetc(f);
    fseek(f, 100, SEEK_SET);
    fputc(c ^ 0x55, f);
    fclose(f);
    req(P, "{\"cmd\":\"tick\"}");
    hash_of(P, h0);
    CHECK(err_is(req(P, line), "bad_file"));
    hash_of(P, h1);
    CHECK(strcmp(h0, h1) == 0);
    f = fopen(path, "wb");
    fputs("not a save file at all, but long enough for a header", f);
    fclose(f);
    CHECK(err_is(req(P, line), "bad_file"));
    unlink(path);
    /* snapshot limit: oldest evicted */
    for (int i = 0; i < PROTO_MAX_SNAPSHOTS + 2; i++) {
        snprintf(line, sizeof line, "{\"cmd\":\"snapshot\",\"tag\":\"s%d\"}", i);
        CHECK(is_ok(req(P, line)));
    }
    CHECK(err_is(req(P, "{\"cmd\":\"restore\",\"tag\":\"t1\"}"), "unknown_tag"));
    CHECK(is_ok(req(P, "{\"cmd\":\"restore\",\"tag\":\"s5\"}")));
}

static void test_quit(proto *P) {
    const json_node *r = req(P, "{\"cmd\":\"quit\"}");
    CHECK(is_ok(r) && P->quit);
}

int main(void) {
    proto P;
    json_doc_init(&R);
    CHECK(proto_init(&P, 42, 1, 1 << 20) == 0);
    test_basics(&P);
    test_errors(&P);
    test_config_inject(&P);
    test_system(&P);
    test_snapshot_save(&P);
    test_quit(&P);
    proto_free(&P);
    json_doc_free(&R);
    return tu_report("test_proto");
}
