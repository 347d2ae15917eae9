/* test_json.c -- reader strictness, error positions, limits, exact integers; writer escaping and
 * round-trip doubles; the fast number formatters and string escaping against reference versions. */
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

/* Strings of every length up to 40 with one thing at every position that the fast scan (plain
 * ASCII, eight bytes at a time) must hand to the general parser: an escape, a multi-byte
 * character, a control character, invalid UTF-8, a missing closing quote. The values and the
 * error messages and positions are what the general parser gives. */
static void test_string_scan(void) {
    static const struct {
        const char *raw;  /* written at the position */
        const char *val;  /* what it reads as (NULL: an error) */
        const char *err;  /* the error */
        size_t err_at;    /* its position, from where raw starts */
    } things[] = {{"\\n", "\n", NULL, 0},
                  {"\\\"", "\"", NULL, 0},
                  {"\\u00e9", "\xc3\xa9", NULL, 0},
                  {"\xc3\xa9", "\xc3\xa9", NULL, 0},
                  {"\\/", "/", NULL, 0},
                  {"\x7f", "\x7f", NULL, 0},
                  {"", "", NULL, 0},
                  {"\x01", NULL, "control character in string", 0},
                  {"\xff", NULL, "invalid UTF-8 in string", 0},
                  {"\\x", NULL, "bad escape in string", 1}};
    json_doc d;
    json_doc_init(&d);
    char in[128], want[128];
    for (size_t t = 0; t < sizeof things / sizeof *things; t++) {
        for (int len = 0; len <= 40; len++) {
            for (int at = 0; at <= len; at++) {
                for (int closed = 0; closed < 2; closed++) {
                    /* "[" '"' a..a THING a..a '"' "]" */
                    size_t n = 0, wn = 0;
                    in[n++] = '[';
                    in[n++] = '"';
                    size_t thing_at = 0;
                    for (int i = 0; i <= len; i++) {
                        if (i == at) {
                            thing_at = n;
                            size_t l = strlen(things[t].raw);
                            memcpy(in + n, things[t].raw, l);
                            n += l;
                            if (things[t].val) {
                                memcpy(want + wn, things[t].val, strlen(things[t].val));
                                wn += strlen(things[t].val);
                            }
                        }
                        if (i < len) {
                            in[n++] = (char)('a' + i % 26);
                            want[wn++] = (char)('a' + i % 26);
                        }
                    }
                    if (closed) in[n++] = '"';
                    in[n++] = ']';
                    json_error e;
                    int rc = json_parse(&d, in, n, &e);
                    if (!closed && things[t].val) {
                        /* the "]" is inside the string: unterminated at the end of the input */
                        CHECK_MSG(rc && !strcmp(e.message, "unterminated string") && e.pos == n, "%.*s", (int)n, in);
                    } else if (!closed) {
                        CHECK_MSG(rc && !strcmp(e.message, "unterminated string"), "%.*s", (int)n, in);
                    } else if (things[t].val) {
                        const json_node *v = json_child(&d, json_root(&d));
                        size_t vl = 0;
                        const char *vs = rc ? NULL : json_str(&d, v, &vl);
                        CHECK_MSG(vs && vl == wn && !memcmp(vs, want, wn), "%.*s", (int)n, in);
                    } else {
                        CHECK_MSG(rc && !strcmp(e.message, things[t].err) && e.pos == thing_at + things[t].err_at,
                                  "%.*s: %s at %zu", (int)n, in, e.message, e.pos);
                    }
                }
            }
        }
    }
    json_doc_free(&d);
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

/* json_fmt_double (fast paths, 128-bit exact digits) against json_fmt_double_ref (the original
 * snprintf/strtod formatter): the same text for every value. */
static int fmt_same(double v) {
    char fast[48], ref[48];
    memset(fast, 'x', sizeof fast);
    int nf = json_fmt_double(fast, v), nr = json_fmt_double_ref(ref, v);
    if (nf == nr && strcmp(fast, ref) == 0 && (size_t)nf == strlen(fast)) return 1;
    fprintf(stderr, "json_fmt_double(%.17g = %a): fast '%s' (%d), reference '%s' (%d)\n", v, v, fast, nf, ref, nr);
    return 0;
}

static void test_double_fast_vs_ref(void) {
    static const double special[] = {0.0, -0.0, 1.0, -1.0, 0.1, 0.5, 1e-7, 1e-6, 1e-5, 1e-4, 0.30000000000000004,
        123456789012.3125, 999999999.9999995, 999999999.999999, 1e9, 1e15, 1e16, 1e17, 1e21, 1e22, 1e23,
        9007199254740991.0, 9007199254740992.0, 9007199254740993.0, 4503599627370495.5, 1e15 + 0.5,
        1e308, 1.7976931348623157e308, 2.2250738585072014e-308, 4.9406564584124654e-324, 1e-310,
        0.000123456789012345678, 5e-5, 2.5e-5, 1234567.0000001, 0.1 + 0.7, 1.0 / 3.0, 2.0 / 3.0, 100.0 / 7.0,
        1004071228069.0, 1629998000000.0, 3.0e37, 1.0e38, 6.02214076e23, 5.972e24};
    int ok = 1;
    for (size_t i = 0; i < sizeof special / sizeof *special && ok; i++)
        ok = fmt_same(special[i]) && fmt_same(-special[i]) && fmt_same(nextafter(special[i], 0.0)) &&
             fmt_same(nextafter(special[i], INFINITY));
    ok = ok && fmt_same(INFINITY) && fmt_same(-INFINITY) && fmt_same(NAN) && fmt_same(-NAN);
    char out[48];
    json_fmt_double(out, NAN);
    CHECK(strcmp(out, "null") == 0);
    json_fmt_double(out, -0.0);
    CHECK(strcmp(out, "-0.0") == 0);
    rng_state r;
    rng_seed(&r, 11);
    for (int i = 0; i < 40000 && ok; i++) {
        uint64_t bits = rng_next(&r);
        double v;
        memcpy(&v, &bits, 8); /* any bit pattern: NaNs, infinities, subnormals, huge, tiny */
        ok = fmt_same(v);
        /* arbitrary values of every magnitude the engine prints, both signs */
        double u = rng_double(&r) * pow(10.0, (double)rng_below(&r, 50) - 25);
        ok = ok && fmt_same(u) && fmt_same(-u);
        /* few decimals (the grid paths, and values above 1e9 that miss them) */
        double g = (double)(int64_t)(rng_next(&r) % 100000000000000ULL) / pow(10.0, (double)rng_below(&r, 12));
        ok = ok && fmt_same(g) && fmt_same(-g);
        /* integers times 2^-k: exact binary fractions, where printf's rounding meets ties */
        double d = ldexp((double)(rng_next(&r) >> (11 + rng_below(&r, 40))), -(int)rng_below(&r, 24));
        ok = ok && fmt_same(d) && fmt_same(-d);
        /* next to powers of ten and of two, where the digit count and the rounding gap change */
        double p10 = pow(10.0, (double)rng_below(&r, 60) - 25), p2 = ldexp(1.0, (int)rng_below(&r, 240) - 120);
        ok = ok && fmt_same(nextafter(p10, 0.0)) && fmt_same(nextafter(p10, INFINITY)) && fmt_same(p2) &&
             fmt_same(nextafter(p2, 0.0)) && fmt_same(nextafter(p2, INFINITY));
        /* values quantised like the engine's (world_q3 / world_q6) and their quotients */
        double q = round(rng_double(&r) * 1e6 * pow(10.0, (double)rng_below(&r, 8))) / 1e3;
        ok = ok && fmt_same(q) && fmt_same(q / 7.0) && fmt_same(q * 1e-3 + 1e9);
    }
    CHECK(ok);
}

static void test_u64_format(void) {
    rng_state r;
    rng_seed(&r, 12);
    int ok = 1;
    for (int i = 0; i < 200000 && ok; i++) {
        uint64_t v = rng_next(&r) >> rng_below(&r, 64);
        if (i < 40) v = i < 20 ? (uint64_t)pow(10.0, i) - 1 : (uint64_t)pow(10.0, i - 20); /* digit-count edges */
        if (i == 40) v = UINT64_MAX;
        char want[32], got[32];
        snprintf(want, sizeof want, "%llu", (unsigned long long)v);
        size_t n = json_fmt_u64(got, v);
        got[n] = 0;
        if (strcmp(want, got) != 0) {
            fprintf(stderr, "json_fmt_u64(%s) = '%s'\n", want, got);
            ok = 0;
        }
    }
    CHECK(ok);
    jbuf b;
    jb_init(&b);
    jb_i64(&b, INT64_MIN);
    jb_sep(&b);
    jb_i64(&b, -7);
    jb_sep(&b);
    jb_i64(&b, INT64_MAX);
    JB_KEY(&b, "k");
    JB_SEP_LIT(&b, "{\"a\":");
    jb_id(&b, UINT64_MAX, 0);
    jb_putc(&b, '}');
    const char *want = "-9223372036854775808,-7,9223372036854775807,\"k\":{\"a\":\"18446744073709551615-0\"}";
    CHECK_MSG(b.len == strlen(want) && memcmp(b.p, want, b.len) == 0, "%.*s", (int)b.len, b.p);
    jb_free(&b);
}

/* jb_str (eight bytes at a time while nothing needs escaping) against a byte-at-a-time escaper
 * written from the rules: the same bytes for random strings of every kind of byte. */
static size_t ref_escape(char *o, const char *s, size_t n) {
    static const char hex[] = "0123456789abcdef";
    size_t k = 0;
    o[k++] = '"';
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            o[k++] = '\\';
            o[k++] = (char)c;
        } else if (c == '\n' || c == '\r' || c == '\t') {
            o[k++] = '\\';
            o[k++] = c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
        } else if (c < 0x20) {
            k += (size_t)sprintf(o + k, "\\u00%c%c", hex[c >> 4], hex[c & 15]);
        } else if (c < 0x80) {
            o[k++] = (char)c;
        } else {
            /* a valid sequence is copied, anything else becomes U+FFFD (the parser decides) */
            size_t l = 1;
            while (l < 4 && i + l < n && ((unsigned char)s[i + l] & 0xC0) == 0x80) l++;
            json_doc d;
            json_error e;
            char tmp[8];
            int valid = 0;
            json_doc_init(&d);
            for (size_t m = l; m >= 1 && !valid; m--) {
                tmp[0] = '"';
                memcpy(tmp + 1, s + i, m);
                tmp[m + 1] = '"';
                if (json_parse(&d, tmp, m + 2, &e) == 0) {
                    memcpy(o + k, s + i, m);
                    k += m;
                    i += m - 1;
                    valid = 1;
                }
            }
            json_doc_free(&d);
            if (!valid) {
                memcpy(o + k, "\\ufffd", 6);
                k += 6;
            }
        }
    }
    o[k++] = '"';
    return k;
}

static void test_str_escape(void) {
    static const char pool[] = "abcXYZ019 -_.,:;{}[]/~\"\\\n\r\t\x01\x1f\x7f\xc3\xa9\xe2\x82\xac\xf0\x9f\x9a\x80\xff\xc0\xed\xa0";
    rng_state r;
    rng_seed(&r, 13);
    jbuf b;
    jb_init(&b);
    int ok = 1;
    for (int i = 0; i < 20000 && ok; i++) {
        char s[64], want[64 * 6 + 2];
        size_t n = rng_below(&r, 48);
        int plain = i % 2; /* half the strings plain ASCII, so the 8-byte path runs to the end */
        for (size_t k = 0; k < n; k++)
            s[k] = plain && k + 3 < n ? (char)('a' + rng_below(&r, 26)) : pool[rng_below(&r, sizeof pool - 1)];
        size_t wn = ref_escape(want, s, n);
        jb_reset(&b);
        jb_str(&b, s, n);
        if (b.len != wn || memcmp(b.p, want, wn) != 0) {
            fprintf(stderr, "jb_str: got %.*s want %.*s\n", (int)b.len, b.p, (int)wn, want);
            ok = 0;
        }
    }
    CHECK(ok);
    jb_free(&b);
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
    test_string_scan();
    test_access();
    test_writer();
    test_writer_utf8();
    test_double_roundtrip();
    test_double_fast_vs_ref();
    test_u64_format();
    test_str_escape();
    test_echo();
    return tu_report("test_json");
}
