/* Unit tests for core/qs: splitting, decoding, repeated and empty keys, error cases. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/qs.h"

static int parse(struct qs *q, const char *s, char **bad)
{
    return qs_parse(q, s, strlen(s), bad);
}

static void test_basic(void **state)
{
    (void)state;
    struct qs q;
    assert_int_equal(parse(&q, "a=1&b=two&c=3", NULL), 0);
    assert_int_equal(q.n, 3);
    assert_string_equal(q.pairs[0].key, "a");
    assert_string_equal(q.pairs[0].value, "1");
    assert_string_equal(q.pairs[1].key, "b");
    assert_string_equal(q.pairs[1].value, "two");
    assert_string_equal(qs_get(&q, "c"), "3");
    assert_null(qs_get(&q, "d"));
    assert_null(qs_get(&q, "A"));
    qs_cleanup(&q);
    assert_null(q.pairs);
    assert_int_equal(q.n, 0);
}

static void test_empty_input(void **state)
{
    (void)state;
    struct qs q;
    char *bad = (char *)"sentinel";
    assert_int_equal(qs_parse(&q, "", 0, &bad), 0);
    assert_int_equal(q.n, 0);
    assert_null(bad);
    assert_null(qs_get(&q, "a"));
    qs_cleanup(&q);
    assert_int_equal(parse(&q, "&&&", NULL), 0);
    assert_int_equal(q.n, 0);
    qs_cleanup(&q);
}

static void test_repeated_keys_keep_order(void **state)
{
    (void)state;
    struct qs q;
    assert_int_equal(parse(&q, "x=1&y=a&x=2&x=3", NULL), 0);
    assert_int_equal(q.n, 4);
    assert_int_equal(qs_count(&q, "x"), 3);
    assert_int_equal(qs_count(&q, "y"), 1);
    assert_int_equal(qs_count(&q, "z"), 0);
    assert_string_equal(qs_get(&q, "x"), "1");
    assert_string_equal(q.pairs[2].value, "2");
    assert_string_equal(q.pairs[3].value, "3");
    qs_cleanup(&q);
}

static void test_empty_values_and_pieces(void **state)
{
    (void)state;
    struct qs q;
    assert_int_equal(parse(&q, "a=&b&&c==d&=e&", NULL), 0);
    assert_int_equal(q.n, 4);
    assert_string_equal(q.pairs[0].key, "a");
    assert_string_equal(q.pairs[0].value, "");
    assert_string_equal(q.pairs[1].key, "b");
    assert_string_equal(q.pairs[1].value, "");
    assert_string_equal(q.pairs[2].key, "c");
    assert_string_equal(q.pairs[2].value, "=d"); /* split on the first '=' only */
    assert_string_equal(q.pairs[3].key, "");
    assert_string_equal(q.pairs[3].value, "e");
    qs_cleanup(&q);
}

static void test_decoding(void **state)
{
    (void)state;
    struct qs q;
    assert_int_equal(parse(&q, "q=a+b%20c%2Bd&%6B%65y=%e2%82%AC&amp=%26%3D", NULL), 0);
    assert_int_equal(q.n, 3);
    assert_string_equal(q.pairs[0].value, "a b c+d");
    assert_string_equal(q.pairs[1].key, "key");
    assert_string_equal(q.pairs[1].value, "\xE2\x82\xAC");
    assert_string_equal(qs_get(&q, "amp"), "&=");
    qs_cleanup(&q);
}

static void test_only_given_length(void **state)
{
    (void)state;
    struct qs q;
    const char *s = "a=1&b=2";
    assert_int_equal(qs_parse(&q, s, 3, NULL), 0);
    assert_int_equal(q.n, 1);
    assert_string_equal(q.pairs[0].value, "1");
    qs_cleanup(&q);
}

static void assert_bad(const char *s, size_t len, int want_rc, const char *want_key)
{
    struct qs q;
    char *bad = NULL;
    assert_int_equal(qs_parse(&q, s, len, &bad), want_rc);
    assert_int_equal(q.n, 0);
    assert_null(q.pairs);
    assert_non_null(bad);
    assert_string_equal(bad, want_key);
    free(bad);
    /* and without bad_key */
    assert_int_equal(qs_parse(&q, s, len, NULL), want_rc);
    assert_int_equal(q.n, 0);
}

static void test_bad_percent(void **state)
{
    (void)state;
    assert_bad("a=%", 3, STRATA_EINVAL, "a");
    assert_bad("ok=1&a=%4", 9, STRATA_EINVAL, "a");
    assert_bad("a=%G0", 5, STRATA_EINVAL, "a");
    assert_bad("a=%0g", 5, STRATA_EINVAL, "a");
    assert_bad("k%zz=1", 6, STRATA_EINVAL, "k%zz");
    assert_bad("x=1&%=1", 7, STRATA_EINVAL, "%");
}

static void test_nul_rejected(void **state)
{
    (void)state;
    assert_bad("a=%00", 5, STRATA_EINVAL, "a");
    assert_bad("k%00ey=1", 8, STRATA_EINVAL, "k%00ey");
    assert_bad("a=x\0y", 5, STRATA_EINVAL, "a"); /* a raw NUL byte too */
}

static void test_too_many_pairs(void **state)
{
    (void)state;
    struct buf b;
    struct qs q;
    buf_init(&b);
    for (int i = 0; i < QS_MAX_PAIRS; i++)
        buf_printf(&b, "%sk%d=%d", i ? "&" : "", i, i);
    assert_int_equal(qs_parse(&q, b.data, b.len, NULL), 0);
    assert_int_equal(q.n, QS_MAX_PAIRS);
    assert_string_equal(qs_get(&q, "k127"), "127");
    qs_cleanup(&q);

    buf_puts(&b, "&&&"); /* empty pieces do not count */
    assert_int_equal(qs_parse(&q, b.data, b.len, NULL), 0);
    assert_int_equal(q.n, QS_MAX_PAIRS);
    qs_cleanup(&q);

    buf_puts(&b, "over=1");
    assert_bad(b.data, b.len, STRATA_ETOOBIG, "over");
    buf_cleanup(&b);
}

static void test_decode_component(void **state)
{
    (void)state;
    char out[32];
    char inplace[] = "a%2Fb+c";
    assert_int_equal(qs_decode(out, "a%2Fb+c", 7, 0), 5);
    assert_string_equal(out, "a/b+c");
    assert_int_equal(qs_decode(out, "a%2Fb+c", 7, 1), 5);
    assert_string_equal(out, "a/b c");
    assert_int_equal(qs_decode(inplace, inplace, strlen(inplace), 1), 5);
    assert_string_equal(inplace, "a/b c");
    assert_int_equal(qs_decode(out, "%00", 3, 0), 1); /* NUL is the caller's decision */
    assert_int_equal(out[0], '\0');
    assert_int_equal(qs_decode(out, "%", 1, 0), STRATA_EINVAL);
    assert_int_equal(qs_decode(out, "%a", 2, 0), STRATA_EINVAL);
    assert_int_equal(qs_decode(out, "%ag", 3, 0), STRATA_EINVAL);
    assert_int_equal(qs_decode(out, "", 0, 0), 0);
    assert_string_equal(out, "");
}

static void test_escape(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b);
    qs_escape(&b, "a-Z_0.9~ x/y:z,&=%\xc3\xa9", NULL);
    assert_string_equal(b.data, "a-Z_0.9~%20x%2Fy%3Az%2C%26%3D%25%C3%A9");
    buf_reset(&b);
    qs_escape(&b, "2023-08-01T00:00:00Z,x:y", ":,");
    assert_string_equal(b.data, "2023-08-01T00:00:00Z,x:y");
    buf_reset(&b);
    qs_escape(&b, "", ":");
    assert_int_equal(b.len, 0);
    /* what qs_parse reads back is what was escaped */
    buf_reset(&b);
    buf_puts(&b, "k=");
    qs_escape(&b, "a b+c&d=e%f", NULL);
    struct qs q;
    assert_int_equal(qs_parse(&q, b.data, b.len, NULL), 0);
    assert_string_equal(qs_get(&q, "k"), "a b+c&d=e%f");
    qs_cleanup(&q);
    buf_cleanup(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic),
        cmocka_unit_test(test_empty_input),
        cmocka_unit_test(test_repeated_keys_keep_order),
        cmocka_unit_test(test_empty_values_and_pieces),
        cmocka_unit_test(test_decoding),
        cmocka_unit_test(test_only_given_length),
        cmocka_unit_test(test_bad_percent),
        cmocka_unit_test(test_nul_rejected),
        cmocka_unit_test(test_too_many_pairs),
        cmocka_unit_test(test_decode_component),
        cmocka_unit_test(test_escape),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
