/* Unit tests for core/accept: Accept-Encoding and gzip (RFC 9110 §12.5.3). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "core/accept.h"

static bool gz(const char *v)
{
    return accept_gzip(v, strlen(v));
}

static void test_plain_lists(void **state)
{
    (void)state;
    assert_true(gz("gzip"));
    assert_true(gz("GZip"));
    assert_true(gz("x-gzip"));
    assert_true(gz("deflate, gzip, br"));
    assert_true(gz("br,gzip"));
    assert_true(gz(" gzip ; q=1"));
    assert_false(gz(""));
    assert_false(gz("deflate, br"));
    assert_false(gz("identity"));
    assert_false(gz("gzipx"));
    assert_false(gz("xgzip, gzi"));
}

static void test_qvalues(void **state)
{
    (void)state;
    assert_true(gz("gzip;q=0.5"));
    assert_true(gz("gzip;q=0.001"));
    assert_true(gz("gzip; q=1.000"));
    assert_false(gz("gzip;q=0"));
    assert_false(gz("gzip;q=0.000"));
    assert_false(gz("gzip;Q=0"));
    /* the best q of a repeated coding counts; an explicit gzip beats * */
    assert_true(gz("gzip;q=0, gzip;q=0.3"));
    assert_false(gz("*, gzip;q=0"));
    /* other parameters are ignored */
    assert_true(gz("gzip;level=9;q=0.5"));
}

static void test_wildcard(void **state)
{
    (void)state;
    assert_true(gz("*"));
    assert_true(gz("br, *;q=0.1"));
    assert_false(gz("*;q=0"));
}

static void test_malformed_elements_ignored(void **state)
{
    (void)state;
    assert_false(gz("gzip;q=2"));
    assert_false(gz("gzip;q=1.5"));
    assert_false(gz("gzip;q=0.12345"));
    assert_false(gz("gzip;q=abc"));
    assert_false(gz("gzip;q="));
    assert_false(gz("gzip;junk"));
    assert_true(gz("gzip;q=7, br, gzip"));
    assert_false(gz(",,,;;;==="));
    /* only the given length is read */
    assert_false(accept_gzip("gzip", 3));
    assert_true(accept_gzip("gzip, br", 4));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_lists),
        cmocka_unit_test(test_qvalues),
        cmocka_unit_test(test_wildcard),
        cmocka_unit_test(test_malformed_elements_ignored),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
