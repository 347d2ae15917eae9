/* test_json.c -- reader strictness, error positions, limits, exact integers; writer escaping and
 * round-trip doubles. */
#include "json.h"
#include "rng.h"
#include "testutil.h"

#include <math.h>

static int parses(const char *s) {
    json_doc d;
    json_error e;
    json_doc_init(&d);
    int rc = json_parse(&d, s, strlen(s), &e);
    json_doc_free(&d);
    return rc == 0;
}

static size_t err_pos(const char *s) {
    json_doc d;
    json_error e;
    json_doc_init(&d);
    json_parse(&d, s, strlen(s), &e);
    json_doc_free(&d);
    return e.pos;
}

static void test_accepts(void) {
    const char *good[] = {"{}", "[]", "0", "-0", "1.5e-3", "\"\"", "true", "false", "null",
                          " {\"a\" : [1, 2, {\"b\": null}] } ", "\"\\u00e9\\ud83d\\ude80\"",
                          "[1e308, -1E-308, 123456789012345678901234567890]", "\"\\/\\b\\f\\n\\r\\t\""};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) CHECK_MSG(parses(good[i]), "%s", good[i]);
}

static void test_rejects(void) {
    const char *bad[] = {"", " ", "{", "[1,]", "{\"a\":1,}", "01", "1.", ".5", "1e", "+1", "NaN",
                         "Infinity", "'a'", "\"\\x\"", "\"\\ud800\"", "\"\\udc00\"", "\"a\tb\"",
                         "{\"a\" 1}", "{1:2}", "[1 2]", "tru", "nulll", "{} {}", "\"\xff\"",
                         "\"\xc0\xaf\"", "\"\xed\xa0\x80\"", "[\"unterminated]"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) CHECK_MSG(!parses(bad[i]), "'%s'", bad[i]);
    CHECK(err_pos("{\"a\":1,}") == 7);
    CHECK(err_pos("[1,2,x]") == 5);
    CHECK(err_pos("{\"cmd\":\"status\"") == 15);
}

static void test_depth(void) {
    char buf[400];
    int n = JSON_MAX_DEPTH;
    for (int i = 0; i < n; i++) buf[i] = '[';
    for (int i = 0; i < n; i++) buf[n + i] = ']';
    buf[2 * n] = 0;
    CHECK(parses(buf));
    n = JSON_MAX_DEPTH + 1;
    for (int i = 0; i < n; i++) buf[i] = '[';
    for (int i = 0; i < n; i++) buf[n + i] = ']';
    buf[2 * n] = 0;
    CHECK(!parses(buf));
    /* very deep input fails fast without recursion */
    size_t big = 1 << 20;
    char *deep = malloc(big + 1);
    memset(deep, '[', big);
    deep[big] = 0;
    CHECK(!parses(deep));
    free(deep);
}

static void test_access(void) {
    json_doc d;
    json_error e;
    json_doc_init(&d);
    const char *s = "{\"a\":18446744073709551615,\"b\":-9223372036854775808,\"c\":\"x\\u0000y\","
                    "\"a\":7,\"f\":1.0,\"g\":1e3,\"h\":1.5,\"big\":18446744073709551616}";
    CHECK(json_parse(&d, s, strlen(s), &e) == 0);
    const json_node *r = json_root(&d);
    uint64_t u;
    int64_t i;
    CHECK(json_as_u64(&d, json_get(&d, r, "a"), &u) == 0 && u == 7); /* last duplicate wins */
    CHECK(json_as_u64(&d, &d.nodes[1], &u) == 0 && u == UINT64_MAX);
    CHECK(json_as_i64(&d, json_get(&d, r, "b"), &i) == 0 && i == INT64_MIN);
    CHECK(json_as_u64(&d, json_get(&d, r, "b"), &u) != 0);
    CHECK(json_as_u64(&d, json_get(&d, r, "f"), &u) == 0 && u == 1);
    CHECK(json_as_u64(&d, json_get(&d, r, "g"), &u) == 0 && u == 1000);
    CHECK(json_as_u64(&d, json_get(&d, r, "h"), &u) != 0);
    CHECK(json_as_u64(&d, json_get(&d, r, "big"), &u) != 0);
    size_t n;
    const char *c = json_str(&d, json_get(&d, r, "c"), &n);
    CHECK(c && n == 3 && c[1] == 0 && c[2] == 'y');
    CHECK(json_get(&d, r, "zz") == NULL);
    json_doc_free(&d);
}

static void test_writer(void) {
    jbuf b;
    jb_init(&b);
    jb_putc(&b, '{');
    jb_key(&b, "s");
    jb_str(&b, "q\"\\\n\x01/", 6);
    jb_key(&b, "i");
    jb_i64(&b, -42);
    jb_key(&b, "u");
    jb_u64(&b, UINT64_MAX);
    jb_key(&b, "d");
    jb_double(&b, 0.1);
    jb_key(&b, "one");
    jb_double(&b, 1.0);
    jb_key(&b, "inf");
    jb_double(&b, INFINITY);
    jb_key(&b, "id");
    jb_id(&b, 1, 2);
    jb_key(&b, "a");
    jb_putc(&b, '[');
    jb_sep(&b);
    jb_u64(&b, 1);
    jb_sep(&b);
    jb_u64(&b, 2);
    jb_putc(&b, ']');
    jb_putc(&b, '}');
    const char *want = "{\"s\":\"q\\\"\\\\\\n\\u0001/\",\"i\":-42,\"u\":18446744073709551615,\"d\":0.1,"
                       "\"one\":1.0,\"inf\":null,\"id\":\"1-2\",\"a\":[1,2]}";
    CHECK_MSG(b.len == strlen(want) && memcmp(b.p, want, b.len) == 0, "%.*s", (int)b.len, b.p);
    jb_free(&b);
}

static void test_writer_utf8(void) {
    jbuf b;
    jb_init(&b);
    jb_str(&b, "a\xc3\xa9\xc3", 4); /* e-acute, then a cut sequence */
    const char *want = "\"a\xc3\xa9\\ufffd\"";
    CHECK_MSG(b.len == strlen(want) && memcmp(b.p, want, b.len) == 0, "%.*s", (int)b.len, b.p);
    json_doc d;
    json_error e;
    json_doc_init(&d);
    jb_reset(&b);
    jb_str(&b, "\xff\xfe\xed\xa0\x80ok", 7);
    CHECK(json_parse(&d, b.p, b.len, &e) == 0);
    json_doc_free(&d);
    jb_free(&b);
}

static void test_double_roundtrip(void) {
    rng_state r;
    rng_seed(&r, 7);
    int ok = 1;
    for (int i = 0; i < 200000 && ok; i++) {
        uint64_t bits = rng_next(&r);
        double v;
        memcpy(&v, &bits, 8);
        if (!isfinite(v)) continue;
        if (i % 3 == 1) v = rng_double(&r) * pow(10.0, (double)(int)rng_below(&r, 40) - 20);
        /* values on the engine's 1e-6 grid take the fast path */
        if (i % 3 == 2) v = (double)((int64_t)(rng_next(&r) % 2000000000000000ULL) - 1000000000000000LL) / 1e6;
        char out[40];
        json_fmt_double(out, v);
        double back = strtod(out, NULL);
        if (memcmp(&back, &v, 8) != 0 && !(v == 0 && back == 0)) {
            fprintf(stderr, "round trip failed: %.17g -> %s\n", v, out);
            ok = 0;
        }
        if (!strpbrk(out, ".eE")) ok = 0;
    }
    CHECK(ok);
    char out[40];
    json_fmt_double(out, 1629998000000.0);
    CHECK(strcmp(out, "1629998000000.0") == 0);
    json_fmt_double(out, 0.95);
    CHECK(strcmp(out, "0.95") == 0);
    json_fmt_double(out, -0.000001);
    CHECK(strcmp(out, "-0.000001") == 0);
    json_fmt_double(out, 123.45);
    CHECK(strcmp(out, "123.45") == 0);
    json_fmt_double(out, 0.1 + 0.2);
    CHECK(strcmp(out, "0.30000000000000004") == 0);
    json_fmt_double(out, 1e-7);
    CHECK(strcmp(out, "1e-07") == 0);
}

static void test_echo(void) {
    json_doc d;
    json_error e;
    json_doc_init(&d);
    const char *s = "{\"a\":[1,2.50,{\"b\":\"\\u00e9\"}],\"c\":null}";
    CHECK(json_parse(&d, s, strlen(s), &e) == 0);
    jbuf b;
    jb_init(&b);
    jb_node(&b, &d, json_root(&d));
    const char *want = "{\"a\":[1,2.50,{\"b\":\"\xc3\xa9\"}],\"c\":null}";
    CHECK_MSG(b.len == strlen(want) && !memcmp(b.p, want, b.len), "%.*s", (int)b.len, b.p);
    jb_free(&b);
    json_doc_free(&d);
}

int main(void) {
    test_accepts();
    test_rejects();
    test_depth();
    test_access();
    test_writer();
    test_writer_utf8();
    test_double_roundtrip();
    test_echo();
    return tu_report("test_json");
}
