/* test_tick.c -- proto_tick.c: the tick reply's "observation_lens" (each observation's bytes, so a
 * reader can cut the observations array without scanning it) for every way of observing, and the
 * reply unchanged without it. Two engines run the same commands side by side, one asked for the
 * lengths and one not: their replies must differ by exactly the field appended last.
 * The fast paths of a tick against the general ones: actions listed in probe order (parsed in
 * place) or not (sorted, duplicates found), an action object of one member or more, delta groups
 * with whole observations and deltas mixed. */
#include "json.h"
#include "proto.h"
#include "testutil.h"
#include "testproto.h"

#include <stdio.h>
#include <stdlib.h>

static json_doc R;  /* a reply, parsed */
static json_doc Ob; /* one cut observation, parsed */

static const json_node *req(proto *P, const char *line) { return tp_request(P, &R, line); }
static int is_ok(const json_node *r) { return tp_is_ok(&R, r); }

/* The error message of reply r ("" if none). */
static const char *err_msg(const json_node *r) {
    const char *m = json_str(&R, json_get(&R, json_get(&R, r, "error"), "message"), NULL);
    return m ? m : "";
}

/* Cut the observations array of reply t[0..n) with the lengths in R's "observation_lens": each piece
 * is one observation object, the pieces joined by single commas are the whole array. Returns the
 * number of pieces, or -1 (with a message) if they do not cut it exactly. */
static long cut_observations(const char *t, size_t n, const json_node *lens) {
    static const char key[] = "\"observations\":[";
    const char *a = NULL;
    for (size_t i = 0; i + sizeof key - 1 <= n && !a; i++)
        if (!memcmp(t + i, key, sizeof key - 1)) a = t + i + sizeof key - 1;
    if (!a || !lens || lens->type != JSON_ARRAY) return -1;
    const char *end = t + n, *at = a;
    long k = 0;
    for (const json_node *l = json_child(&R, lens); l; l = json_next(&R, l), k++) {
        uint64_t len;
        if (json_as_u64(&R, l, &len) || len > (uint64_t)(end - at)) return -1;
        if (k && *at++ != ',') return -1; /* exactly one comma between pieces */
        static const char head[] = "{\"type\":\"observe\"";
        json_error e;
        if (len < sizeof head || memcmp(at, head, sizeof head - 1) || at[len - 1] != '}') {
            fprintf(stderr, "piece %ld: %.40s...\n", k, at);
            return -1;
        }
        if (json_parse(&Ob, at, (size_t)len, &e) || json_root(&Ob)->type != JSON_OBJECT) return -1;
        at += len;
    }
    return at < end && *at == ']' ? k : -1; /* and nothing left in the array */
}

/* Run cmd (a tick, without the final '}') on both engines: on P with "observation_lens":true, on
 * Q without the field, and check the replies differ by the lengths alone, which cut P's
 * observations exactly. Returns the number of observations. */
static long tick_both(proto *P, proto *Q, const char *cmd) {
    char a[4096], b[4096];
    snprintf(a, sizeof a, "%s,\"observation_lens\":true}", cmd);
    snprintf(b, sizeof b, "%s}", cmd);
    const json_node *r = req(P, a);
    CHECK_MSG(is_ok(r), "%s: %.200s", a, P->out.p);
    const json_node *obs = json_get(&R, r, "observations");
    const json_node *lens = json_get(&R, r, "observation_lens");
    CHECK(obs && lens && lens->count == obs->count);
    long k = cut_observations(P->out.p, P->out.len, lens);
    CHECK_MSG(k == (long)(obs ? obs->count : 0), "%s: the lengths do not cut the observations", a);
    /* "observation_lens" is the very last key */
    CHECK(lens && json_next(&R, lens) == NULL);
    static const char key[] = ",\"observation_lens\":[";
    const char *p = P->out.p;
    size_t pn = P->out.len, at = 0;
    for (size_t i = 0; i + sizeof key - 1 <= pn; i++)
        if (!memcmp(p + i, key, sizeof key - 1)) at = i;
    CHECK(at > 0 && pn >= 3 && !memcmp(p + pn - 3, "]}\n", 3));
    /* without the field: the same reply with the field cut out */
    req(Q, b);
    CHECK_MSG(Q->out.len == at + 2 && !memcmp(Q->out.p, p, at) && !memcmp(Q->out.p + at, "}\n", 2),
              "%s: the reply without observation_lens differs", b);
    return k;
}

static void test_lens(void) {
    proto P, Q;
    CHECK(proto_init(&P, 7, 6, 1 << 20) == 0);
    CHECK(proto_init(&Q, 7, 6, 1 << 20) == 0);
    /* full and compact, "all", lists (with unknown and repeated ids), none, the default */
    CHECK(tick_both(&P, &Q, "{\"cmd\":\"tick\",\"id\":1") == 6);
    CHECK(tick_both(&P, &Q, "{\"cmd\":\"tick\",\"observe\":\"all\",\"detail\":\"compact\"") == 6);
    CHECK(tick_both(&P, &Q, "{\"cmd\":\"tick\",\"observe\":[\"1-3\",\"9-9\",\"1-1\",\"1-3\",\"x\"]") == 3);
    CHECK(tick_both(&P, &Q, "{\"cmd\":\"tick\",\"observe\":[\"1-2\",\"1-77\"],\"detail\":\"compact\"") == 1);
    CHECK(tick_both(&P, &Q, "{\"cmd\":\"tick\",\"observe\":[]") == 0);
    CHECK(tick_both(&P, &Q, "{\"cmd\":\"tick\",\"observe\":\"none\"") == 0);
    /* with the reference overlay, actions, events, mined and delta groups before it */
    const char *busy = "{\"cmd\":\"tick\",\"actions\":{\"1-1\":{\"type\":\"scan\"},\"1-2\":{\"type\":\"survey\"},"
                       "\"1-9\":{\"type\":\"wait\"}},\"reference\":[\"1-2\"],\"events\":true,\"mined\":true,"
                       "\"delta\":[{\"probes\":[\"1-1\",\"1-2\",\"1-5\"],\"whole\":false},{\"probes\":[\"1-4\"],"
                       "\"whole\":true}]";
    for (int i = 0; i < 3; i++) CHECK(tick_both(&P, &Q, busy) == 6);
    char line[1024];
    for (int i = 0; i < 3; i++) {
        snprintf(line, sizeof line, "%s,\"detail\":\"compact\",\"observe\":[\"1-6\",\"1-1\"]", busy);
        CHECK(tick_both(&P, &Q, line) == 2);
    }
    CHECK(is_ok(req(&P, "{\"cmd\":\"config\",\"data\":{\"event_freq_hazard\":0.5}}")));
    CHECK(is_ok(req(&Q, "{\"cmd\":\"config\",\"data\":{\"event_freq_hazard\":0.5}}")));
    for (int i = 0; i < 5; i++) CHECK(tick_both(&P, &Q, busy) >= 1); /* events in the observations */
    /* false and null: the reply as without the field */
    const char *same[] = {"{\"cmd\":\"tick\",\"observation_lens\":false}", "{\"cmd\":\"tick\",\"observation_lens\":null}"};
    for (size_t i = 0; i < 2; i++) {
        req(&P, same[i]);
        req(&Q, "{\"cmd\":\"tick\"}");
        CHECK(P.out.len == Q.out.len && !memcmp(P.out.p, Q.out.p, P.out.len));
    }
    /* anything else is bad_request, before the tick */
    const char *bad[] = {"\"yes\"", "1", "[]", "{}"};
    const char *type[] = {"string", "number", "array", "object"};
    for (size_t i = 0; i < 4; i++) {
        snprintf(line, sizeof line, "{\"cmd\":\"tick\",\"observation_lens\":%s}", bad[i]);
        const json_node *r = req(&P, line);
        char want[128];
        snprintf(want, sizeof want, "field 'observation_lens' must be true or false, got %s", type[i]);
        CHECK(r && !is_ok(r) && json_is_str(json_get(&R, json_get(&R, r, "error"), "code"), &R, "bad_request"));
        CHECK_MSG(!strcmp(err_msg(r), want), "%s", err_msg(r));
    }
    CHECK(P.w.tick == Q.w.tick);
    proto_free(&P);
    proto_free(&Q);
}

/* The state hash of P */
static void hash_of(proto *P, char out[17]) {
    const json_node *r = req(P, "{\"cmd\":\"hash\"}");
    size_t n = 0;
    const char *h = json_str(&R, json_get(&R, r, "hash"), &n);
    snprintf(out, 17, "%.*s", (int)n, h ? h : "");
}

/* The text of P's last reply from key (a top-level key, first occurrence) to the end */
static const char *from_key(proto *P, const char *key, size_t *n) {
    size_t kl = strlen(key);
    for (size_t i = 0; i + kl <= P->out.len; i++)
        if (!memcmp(P->out.p + i, key, kl)) {
            *n = P->out.len - i;
            return P->out.p + i;
        }
    *n = 0;
    return "";
}

/* One action per probe of a fleet, in probe order or shuffled: the same tick (hash and every
 * observation), by the in-place path or by sorting (few actions: qsort; many: counting sort). */
static void test_action_order(void) {
    static const char *kinds[] = {"{\"type\":\"wait\"}", "{\"type\":\"survey\"}", "{\"type\":\"scan\"}",
                                  "{\"type\":\"mine\",\"resource\":\"iron\"}", "{\"action\":\"repair\"}"};
    int sizes[] = {5, 40, 300};
    for (int si = 0; si < 3; si++) {
        int n = sizes[si];
        proto A, B;
        CHECK(proto_init(&A, 3, (uint32_t)n, 1 << 24) == 0 && proto_init(&B, 3, (uint32_t)n, 1 << 24) == 0);
        int *order = malloc((size_t)n * sizeof *order);
        char *la = malloc((size_t)n * 64 + 256), *lb = malloc((size_t)n * 64 + 256);
        uint64_t r = 5;
        for (int t = 0; t < 6; t++) {
            for (int i = 0; i < n; i++) order[i] = i;
            for (int i = n - 1; i > 0; i--) { /* shuffle */
                r = r * 6364136223846793005ULL + 1442695040888963407ULL;
                int j = (int)((r >> 33) % (uint64_t)(i + 1)), x = order[i];
                order[i] = order[j];
                order[j] = x;
            }
            size_t na = (size_t)sprintf(la, "{\"cmd\":\"tick\",\"detail\":\"compact\",\"actions\":{");
            size_t nb = (size_t)sprintf(lb, "{\"cmd\":\"tick\",\"detail\":\"compact\",\"actions\":{");
            for (int i = 0; i < n; i++) {
                na += (size_t)sprintf(la + na, "%s\"1-%d\":%s", i ? "," : "", i + 1, kinds[(i + t) % 5]);
                nb += (size_t)sprintf(lb + nb, "%s\"1-%d\":%s", i ? "," : "", order[i] + 1, kinds[(order[i] + t) % 5]);
            }
            sprintf(la + na, "}}");
            sprintf(lb + nb, "}}");
            CHECK(is_ok(req(&A, la)) && is_ok(req(&B, lb)));
            size_t oa, ob;
            const char *pa = from_key(&A, "\"observations\":", &oa), *pb = from_key(&B, "\"observations\":", &ob);
            CHECK_MSG(oa == ob && !memcmp(pa, pb, oa), "%d actions, tick %d", n, t);
            char ha[17], hb[17];
            hash_of(&A, ha);
            hash_of(&B, hb);
            CHECK(!strcmp(ha, hb));
        }
        free(order);
        free(la);
        free(lb);
        proto_free(&A);
        proto_free(&B);
    }
}

/* Duplicates: the first entry for a probe wins, the later ones are rejected in probe order, after
 * the entries rejected before validation (request order); in order otherwise or not. */
static void test_action_duplicates(void) {
    proto P;
    CHECK(proto_init(&P, 3, 4, 1 << 20) == 0);
    const json_node *r = req(&P, "{\"cmd\":\"tick\",\"observe\":[\"1-2\",\"1-3\"],\"actions\":{"
                                 "\"1-1\":{\"type\":\"wait\"},\"1-2\":{\"type\":\"scan\"},\"1-9\":{\"type\":\"wait\"},"
                                 "\"1-2\":{\"type\":\"wait\"},\"1-3\":{\"type\":\"fly\"},\"1-3\":{\"type\":\"survey\"},"
                                 "\"1-4\":{\"type\":\"wait\"}}}");
    CHECK(is_ok(r));
    size_t n;
    const char *rej = from_key(&P, "\"rejected\":", &n);
    static const char want[] =
        "\"rejected\":[{\"probe_id\":\"1-9\",\"action\":\"wait\",\"reason\":\"unknown probe\"},"
        "{\"probe_id\":\"1-3\",\"action\":\"fly\",\"reason\":\"malformed action: unknown action 'fly'\"},"
        "{\"probe_id\":\"1-2\",\"action\":\"wait\",\"reason\":\"duplicate action for this probe\"},"
        "{\"probe_id\":\"1-3\",\"action\":\"survey\",\"reason\":\"duplicate action for this probe\"}]}";
    CHECK_MSG(n == sizeof want && !memcmp(rej, want, sizeof want - 1), "%.*s", (int)n, rej);
    const json_node *o = json_child(&R, json_get(&R, r, "observations"));
    CHECK(json_is_str(json_get(&R, json_get(&R, o, "last_action"), "action"), &R, "scan")); /* 1-2: the first */
    o = json_next(&R, o);
    const json_node *la = json_get(&R, o, "last_action"); /* 1-3: malformed, waits */
    CHECK(json_get(&R, la, "ok")->type == JSON_FALSE && json_is_str(json_get(&R, la, "reason"), &R, "malformed action"));
    proto_free(&P);
}

/* An action object with one member (read directly) and the same with a member more (looked up):
 * the same action, or the same message. */
static void test_action_one_member(void) {
    static const char *objs[] = {"\"type\":\"wait\"", "\"type\":\"survey\"", "\"action\":\"scan\"",
                                 "\"type\":\"mine\"", "\"type\":5", "\"type\":null", "\"type\":\"fly\"",
                                 "\"action\":[]", "\"TYPE\":\"wait\"", "\"types\":\"wait\"", "\"actio\":\"wait\"",
                                 "\"type\":\"\"", "\"type\":\"wait\\u0000\""};
    proto A, B;
    CHECK(proto_init(&A, 9, 2, 1 << 20) == 0 && proto_init(&B, 9, 2, 1 << 20) == 0);
    for (size_t i = 0; i < sizeof objs / sizeof *objs; i++) {
        char la[256], lb[256];
        snprintf(la, sizeof la, "{\"cmd\":\"tick\",\"observe\":\"all\",\"actions\":{\"1-2\":{%s}}}", objs[i]);
        snprintf(lb, sizeof lb, "{\"cmd\":\"tick\",\"observe\":\"all\",\"actions\":{\"1-2\":{\"pad\":0,%s}}}", objs[i]);
        req(&A, la);
        req(&B, lb);
        CHECK_MSG(A.out.len == B.out.len && !memcmp(A.out.p, B.out.p, A.out.len), "%s:\n%.*s\n%.*s", objs[i],
                  (int)A.out.len, A.out.p, (int)B.out.len, B.out.p);
    }
    proto_free(&A);
    proto_free(&B);
}

/* Delta groups: whole observations (no base yet) and deltas in one group, the whole ones moved
 * in front; a whole group; delta_lens cut the groups exactly. */
static void test_delta_mixed(void) {
    proto P;
    CHECK(proto_init(&P, 3, 6, 1 << 20) == 0);
    req(&P, "{\"cmd\":\"tick\",\"observe\":[],\"detail\":\"compact\",\"delta\":[{\"probes\":[\"1-1\",\"1-2\"]}]}");
    const json_node *r = req(&P, "{\"cmd\":\"tick\",\"observe\":[],\"detail\":\"compact\",\"delta\":["
                                 "{\"probes\":[\"1-1\",\"1-3\",\"1-2\",\"1-4\",\"1-77\"]},"
                                 "{\"probes\":[\"1-5\",\"1-1\"],\"whole\":true},{\"probes\":[]}]}");
    CHECK(is_ok(r));
    const json_node *g = json_child(&R, json_get(&R, r, "delta_groups"));
    const json_node *obs = json_get(&R, g, "observations"), *del = json_get(&R, g, "deltas");
    CHECK(obs && obs->count == 2 && del && del->count == 2);
    CHECK(json_is_str(json_get(&R, json_child(&R, obs), "probe_id"), &R, "1-3"));
    CHECK(json_is_str(json_get(&R, json_next(&R, json_child(&R, obs)), "probe_id"), &R, "1-4"));
    CHECK(json_is_str(json_get(&R, json_child(&R, del), "probe_id"), &R, "1-1"));
    g = json_next(&R, g);
    CHECK(json_get(&R, g, "observations")->count == 2 && !json_get(&R, g, "deltas"));
    g = json_next(&R, g);
    CHECK(json_get(&R, g, "observations")->count == 0 && json_get(&R, g, "deltas")->count == 0);
    /* the lengths cut the groups: each piece parses as an object, separated by single commas */
    const json_node *lens = json_get(&R, r, "delta_lens");
    size_t n;
    const char *at = from_key(&P, "\"delta_groups\":[", &n);
    at += strlen("\"delta_groups\":[");
    int k = 0;
    for (const json_node *l = json_child(&R, lens); l; l = json_next(&R, l), k++) {
        uint64_t len = 0;
        json_as_u64(&R, l, &len);
        if (k) CHECK(*at++ == ',');
        json_error e;
        CHECK(json_parse(&Ob, at, (size_t)len, &e) == 0 && json_root(&Ob)->type == JSON_OBJECT);
        at += len;
    }
    CHECK(k == 3 && *at == ']');
    proto_free(&P);
}

/* The text of field key in P's last reply (its first occurrence), up to the next "," at depth 0 */
static int field_text(proto *P, const char *key, char *out, size_t cap) {
    size_t n;
    const char *t = from_key(P, key, &n);
    size_t kl = strlen(key), i = kl;
    int depth = 0;
    if (!n) return 0;
    for (; i < n; i++) {
        char c = t[i];
        if (c == '{' || c == '[') depth++;
        else if (c == '}' || c == ']') depth--;
        if (depth < 0 || (depth == 0 && c == ',')) break;
    }
    snprintf(out, cap, "%.*s", (int)(i - kl), t + kl);
    return 1;
}

/* Pieces of an observation written from tables or shortcuts, byte for byte: the cargo's keys, a
 * wait taken (the same text as no action), a wait refused. */
static void test_observation_text(void) {
    proto P;
    CHECK(proto_init(&P, 3, 2, 1 << 20) == 0);
    req(&P, "{\"cmd\":\"tick\",\"observe\":[\"1-1\"],\"actions\":{\"1-1\":{\"type\":\"wait\"}}}");
    char got[512], want[512];
    size_t wn = 0;
    for (int r = 0; r < RES_COUNT; r++)
        wn += (size_t)snprintf(want + wn, sizeof want - wn, "%s\"%s\":0.0", r ? "," : "{", galaxy_resource_names[r]);
    snprintf(want + wn, sizeof want - wn, "}");
    CHECK(field_text(&P, "\"cargo\":", got, sizeof got) && !strcmp(got, want));
    static const char waited[] = "{\"action\":\"wait\",\"ok\":true,\"reason\":null,\"result\":null}";
    CHECK(field_text(&P, "\"last_action\":", got, sizeof got) && !strcmp(got, waited));
    req(&P, "{\"cmd\":\"tick\",\"observe\":[\"1-1\"]}");
    CHECK(field_text(&P, "\"last_action\":", got, sizeof got) && !strcmp(got, waited));
    for (int i = 0; i < 4; i++)
        req(&P, "{\"cmd\":\"inject\",\"event\":{\"type\":\"hazard\",\"severity\":1.0,\"probe_id\":\"1-2\"}}");
    req(&P, "{\"cmd\":\"tick\",\"observe\":[]}");
    req(&P, "{\"cmd\":\"tick\",\"observe\":[\"1-2\"],\"actions\":{\"1-2\":{\"type\":\"wait\"}}}");
    CHECK(field_text(&P, "\"status\":", got, sizeof got) && !strcmp(got, "\"destroyed\""));
    CHECK(field_text(&P, "\"last_action\":", got, sizeof got) &&
          !strcmp(got, "{\"action\":\"wait\",\"ok\":false,\"reason\":\"probe destroyed\",\"result\":null}"));
    proto_free(&P);
}

int main(void) {
    json_doc_init(&R);
    json_doc_init(&Ob);
    test_observation_text();
    test_lens();
    test_action_order();
    test_action_duplicates();
    test_action_one_member();
    test_delta_mixed();
    json_doc_free(&R);
    json_doc_free(&Ob);
    return tu_report("test_tick");
}
