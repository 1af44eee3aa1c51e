/* Unit tests for core/jsonw: escaping, UTF-8 repair, nesting and number forms. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/jsonw.h"

#define FFFD "\xEF\xBF\xBD"

/* Escapes len bytes of s into a fresh string (caller frees). */
static char *escaped(const char *s, size_t len)
{
    struct buf b;
    buf_init(&b);
    jsonw_escape(&b, s, len);
    return buf_steal(&b, NULL);
}

static void assert_escape(const char *in, size_t len, const char *want)
{
    char *got = escaped(in, len);
    assert_string_equal(got, want);
    free(got);
}

static char *render_double(double v)
{
    struct buf b;
    struct jsonw w;
    buf_init(&b);
    jsonw_init(&w, &b);
    jsonw_double(&w, v);
    return buf_steal(&b, NULL);
}

static void test_control_chars(void **state)
{
    (void)state;
    for (int c = 0; c < 0x20; c++) {
        char in[1] = {(char)c};
        char want[8];
        switch (c) {
        case '\b': strcpy(want, "\\b"); break;
        case '\f': strcpy(want, "\\f"); break;
        case '\n': strcpy(want, "\\n"); break;
        case '\r': strcpy(want, "\\r"); break;
        case '\t': strcpy(want, "\\t"); break;
        default: snprintf(want, sizeof(want), "\\u%04x", c); break;
        }
        assert_escape(in, 1, want);
    }
    assert_escape("\x7f", 1, "\\u007f");
    assert_escape("a\0b", 3, "a\\u0000b");
}

static void test_quotes_and_solidus(void **state)
{
    (void)state;
    assert_escape("say \"hi\"", 8, "say \\\"hi\\\"");
    assert_escape("C:\\dir", 6, "C:\\\\dir");
    assert_escape("</script>", 9, "<\\/script>");
    assert_escape("a/b", 3, "a/b"); /* only "</" needs it */
    assert_escape("<", 1, "<");
    assert_escape("", 0, "");
}

static void test_valid_utf8_passes(void **state)
{
    (void)state;
    assert_escape("caf\xC3\xA9", 5, "caf\xC3\xA9");
    assert_escape("\xE2\x80\xA8\xE2\x80\xA9", 6, "\xE2\x80\xA8\xE2\x80\xA9"); /* U+2028/9 */
    assert_escape("\xEF\xBF\xBF", 3, "\xEF\xBF\xBF");                         /* U+FFFF */
    assert_escape("\xF0\x9F\x98\x80", 4, "\xF0\x9F\x98\x80");                 /* emoji */
    assert_escape("\xF4\x8F\xBF\xBF", 4, "\xF4\x8F\xBF\xBF");                 /* U+10FFFF */
    assert_escape("\xED\x9F\xBF", 3, "\xED\x9F\xBF");                         /* U+D7FF */
    assert_escape("\xC2\x80", 2, "\xC2\x80");                                 /* U+0080 */
}

static void test_invalid_utf8_maximal_subparts(void **state)
{
    (void)state;
    assert_escape("\x80", 1, FFFD);                         /* lone continuation */
    assert_escape("a\xBF" "b", 3, "a" FFFD "b");
    assert_escape("\xC0\x80", 2, FFFD FFFD);                /* overlong NUL */
    assert_escape("\xC1\xBF", 2, FFFD FFFD);
    assert_escape("\xE0\x80\x80", 3, FFFD FFFD FFFD);       /* overlong 3-byte */
    assert_escape("\xED\xA0\x80", 3, FFFD FFFD FFFD);       /* surrogate U+D800 */
    assert_escape("\xED\xBF\xBF", 3, FFFD FFFD FFFD);       /* surrogate U+DFFF */
    assert_escape("\xF0\x80\x80\x80", 4, FFFD FFFD FFFD FFFD);
    assert_escape("\xF4\x90\x80\x80", 4, FFFD FFFD FFFD FFFD); /* above U+10FFFF */
    assert_escape("\xF5", 1, FFFD);
    assert_escape("\xF8\x88\x80\x80\x80", 5, FFFD FFFD FFFD FFFD FFFD);
    assert_escape("\xFF\xFE", 2, FFFD FFFD);
    /* truncated sequences: the valid prefix is one subpart */
    assert_escape("\xC3", 1, FFFD);
    assert_escape("ab\xE2\x82", 4, "ab" FFFD);
    assert_escape("\xF0\x9F\x98", 3, FFFD);
    assert_escape("\xE2\x82" "A", 3, FFFD "A");
    assert_escape("\xE2\x82\"", 3, FFFD "\\\"");
    /* Unicode Standard Table 3-8 */
    assert_escape("\x61\xF1\x80\x80\xE1\x80\xC2\x62\x80\x63\x80\xBF\x64", 13,
                  "a" FFFD FFFD FFFD "b" FFFD "c" FFFD FFFD "d");
}

/* Every string of one or two bytes renders to JSON that a strict parser accepts, and
 * valid UTF-8 survives unchanged. */
static void test_all_short_strings_parse(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b);
    for (unsigned x = 0; x < 65536 + 256; x++) {
        char in[2];
        size_t len = x < 256 ? 1 : 2;
        if (x < 256) {
            in[0] = (char)x;
        } else {
            in[0] = (char)((x - 256) >> 8);
            in[1] = (char)((x - 256) & 0xFF);
        }
        struct jsonw w;
        buf_reset(&b);
        jsonw_init(&w, &b);
        jsonw_strn(&w, in, len);
        json_error_t err;
        json_t *j = json_loadb(b.data, b.len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
        if (!j)
            fail_msg("x=%u: %s does not parse: %s", x, b.data, err.text);
        json_t *orig = json_stringn(in, len); /* NULL when in is not valid UTF-8 */
        if (orig) {
            assert_true(json_equal(orig, j));
            json_decref(orig);
        }
        json_decref(j);
    }
    buf_cleanup(&b);
}

static void test_nesting_and_commas(void **state)
{
    (void)state;
    struct buf b;
    struct jsonw w;
    buf_init(&b);
    jsonw_init(&w, &b);
    jsonw_obj_begin(&w);
    jsonw_kv_str(&w, "a", "x");
    jsonw_key(&w, "b");
    jsonw_arr_begin(&w);
    jsonw_int(&w, 1);
    jsonw_int(&w, -2);
    jsonw_obj_begin(&w);
    jsonw_obj_end(&w);
    jsonw_arr_begin(&w);
    jsonw_arr_end(&w);
    jsonw_null(&w);
    jsonw_arr_end(&w);
    jsonw_key(&w, "c");
    jsonw_obj_begin(&w);
    jsonw_kv_bool(&w, "t", true);
    jsonw_kv_bool(&w, "f", false);
    jsonw_kv_int(&w, "i", 7);
    jsonw_kv_double(&w, "d", 2.5);
    jsonw_kv_str(&w, "n", NULL);
    jsonw_obj_end(&w);
    jsonw_keyn(&w, "k\"ey", 4);
    jsonw_raw(&w, "{\"pg\":[1,2]}", 12);
    jsonw_key(&w, "t");
    jsonw_time(&w, 0);
    jsonw_obj_end(&w);
    assert_string_equal(b.data, "{\"a\":\"x\",\"b\":[1,-2,{},[],null],\"c\":{\"t\":true,\"f\":false,"
                                "\"i\":7,\"d\":2.5,\"n\":null},\"k\\\"ey\":{\"pg\":[1,2]},"
                                "\"t\":\"1970-01-01T00:00:00.000Z\"}");
    assert_int_equal(w.depth, 0);
    buf_cleanup(&b);
}

static void test_top_level_and_deep(void **state)
{
    (void)state;
    struct buf b;
    struct jsonw w;
    buf_init(&b);
    jsonw_init(&w, &b);
    jsonw_str(&w, "x");
    assert_string_equal(b.data, "\"x\"");

    buf_reset(&b);
    jsonw_init(&w, &b);
    for (int i = 0; i < JSONW_MAX_DEPTH; i++)
        jsonw_arr_begin(&w);
    jsonw_int(&w, 1);
    jsonw_int(&w, 2);
    for (int i = 0; i < JSONW_MAX_DEPTH; i++)
        jsonw_arr_end(&w);
    json_t *j = json_loadb(b.data, b.len, 0, NULL);
    assert_non_null(j);
    json_decref(j);
    assert_int_equal(b.len, 2 * JSONW_MAX_DEPTH + 3);
    buf_cleanup(&b);
}

static void test_integers(void **state)
{
    (void)state;
    struct buf b;
    struct jsonw w;
    buf_init(&b);
    jsonw_init(&w, &b);
    jsonw_arr_begin(&w);
    jsonw_int(&w, INT64_MIN);
    jsonw_int(&w, INT64_MAX);
    jsonw_uint(&w, UINT64_MAX);
    jsonw_int(&w, 0);
    jsonw_arr_end(&w);
    assert_string_equal(b.data, "[-9223372036854775808,9223372036854775807,"
                                "18446744073709551615,0]");
    buf_cleanup(&b);
}

static void assert_double(double v, const char *want)
{
    char *got = render_double(v);
    assert_string_equal(got, want);
    free(got);
}

static void test_doubles(void **state)
{
    (void)state;
    assert_double(0.1, "0.1");
    assert_double(1e300, "1e+300");
    assert_double(-0.0, "-0");
    assert_double(0.0, "0");
    assert_double(2.5, "2.5");
    assert_double(-1.5e-7, "-1.5e-07");
    assert_double(0.1 + 0.2, "0.30000000000000004");
    assert_double(1.0 / 3.0, "0.3333333333333333");
    assert_double(123456789012345678.0, "1.2345678901234568e+17");
    assert_double(NAN, "null");
    assert_double(-NAN, "null");
    assert_double(INFINITY, "null");
    assert_double(-INFINITY, "null");
}

static void test_doubles_round_trip(void **state)
{
    (void)state;
    const double vals[] = {0.1, 1e300, -1e-300, 5e-324, 1.7976931348623157e308, 2.0 / 3.0,
                           1e21, 1e-7, 9007199254740993.0, 3.141592653589793, 100.0};
    for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
        char *s = render_double(vals[i]);
        assert_null(strpbrk(s, "ni,")); /* no nan/inf, no locale comma */
        assert_true(strtod(s, NULL) == vals[i]);
        json_t *j = json_loads(s, JSON_DECODE_ANY, NULL);
        assert_non_null(j);
        assert_true(json_number_value(j) == vals[i]);
        json_decref(j);
        free(s);
    }
}

static void test_number_text(void **state)
{
    (void)state;
    static const char *const ok[] = {"0", "-0", "12", "3.25", "-1.5e-7", "1E+300", "6.02e23"};
    static const char *const bad[] = {"NaN", "Infinity", "-Infinity", "", "-", "01", "1.", ".5", "1e", "1e+",
                                      "0x10", " 1", "1 ", "+1"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        struct buf b;
        struct jsonw w;
        buf_init(&b);
        jsonw_init(&w, &b);
        jsonw_number_text(&w, ok[i], strlen(ok[i]));
        assert_string_equal(b.data, ok[i]);
        buf_cleanup(&b);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct buf b;
        struct jsonw w;
        buf_init(&b);
        jsonw_init(&w, &b);
        jsonw_number_text(&w, bad[i], strlen(bad[i]));
        assert_string_equal(b.data, "null");
        buf_cleanup(&b);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_control_chars),
        cmocka_unit_test(test_quotes_and_solidus),
        cmocka_unit_test(test_valid_utf8_passes),
        cmocka_unit_test(test_invalid_utf8_maximal_subparts),
        cmocka_unit_test(test_all_short_strings_parse),
        cmocka_unit_test(test_nesting_and_commas),
        cmocka_unit_test(test_top_level_and_deep),
        cmocka_unit_test(test_integers),
        cmocka_unit_test(test_doubles),
        cmocka_unit_test(test_doubles_round_trip),
        cmocka_unit_test(test_number_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
