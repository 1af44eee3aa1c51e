/* Unit tests for core/timefmt: every accepted form, calendar rules, bad input, formatting. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "core/timefmt.h"

#define S INT64_C(1000000)

static int64_t parse_ok(const char *s)
{
    int64_t us = INT64_MIN;
    int rc = time_parse(s, strlen(s), &us);
    if (rc != 0)
        fail_msg("\"%s\" should parse, got %d", s, rc);
    return us;
}

static void assert_bad(const char *s)
{
    int64_t us = 42;
    if (time_parse(s, strlen(s), &us) != STRATA_EINVAL)
        fail_msg("\"%s\" should be rejected", s);
    assert_int_equal(us, 42); /* untouched on error */
}

static void test_accepted_forms(void **state)
{
    (void)state;
    const int64_t day = INT64_C(1691107200) * S; /* 2023-08-04T00:00:00Z */
    const int64_t t = day + (12 * 3600 + 34 * 60 + 56) * S;

    assert_int_equal(parse_ok("2023-08-04"), day);
    assert_int_equal(parse_ok("2023-08-04T12:34:56"), t);
    assert_int_equal(parse_ok("2023-08-04t12:34:56"), t);
    assert_int_equal(parse_ok("2023-08-04 12:34:56"), t);
    assert_int_equal(parse_ok("2023-08-04T12:34"), t - 56 * S);
    assert_int_equal(parse_ok("2023-08-04T12:34Z"), t - 56 * S);
    assert_int_equal(parse_ok("2023-08-04T12:34:56Z"), t);
    assert_int_equal(parse_ok("2023-08-04T12:34:56z"), t);
    assert_int_equal(parse_ok("2023-08-04T12:34:56.1Z"), t + 100000);
    assert_int_equal(parse_ok("2023-08-04T12:34:56.123Z"), t + 123000);
    assert_int_equal(parse_ok("2023-08-04T12:34:56.123456Z"), t + 123456);
    assert_int_equal(parse_ok("2023-08-04T12:34:56.1234567Z"), t + 123456);   /* truncated */
    assert_int_equal(parse_ok("2023-08-04T12:34:56.999999999Z"), t + 999999); /* not rounded */
    assert_int_equal(parse_ok("2023-08-04T12:34:56.000000001"), t);
}

static void test_offsets(void **state)
{
    (void)state;
    const int64_t t = (INT64_C(1691107200) + 12 * 3600 + 34 * 60 + 56) * S;

    assert_int_equal(parse_ok("2023-08-04T14:34:56+02:00"), t);
    assert_int_equal(parse_ok("2023-08-04T14:34:56+0200"), t);
    assert_int_equal(parse_ok("2023-08-04T14:34:56+02"), t);
    assert_int_equal(parse_ok("2023-08-04T07:04:56-0530"), t);
    assert_int_equal(parse_ok("2023-08-04T07:04:56-05:30"), t);
    assert_int_equal(parse_ok("2023-08-04T12:34:56-00:00"), t);
    assert_int_equal(parse_ok("2023-08-04T12:34:56+00"), t);
    assert_int_equal(parse_ok("2023-08-05T00:04:56+11:30"), t); /* crosses midnight */
    assert_int_equal(parse_ok("2023-08-04T14:34:56.5+02:00"), t + 500000);
    assert_int_equal(parse_ok("2023-08-04T14:34+02:00"), t - 56 * S);
}

static void test_leap_years_and_month_lengths(void **state)
{
    (void)state;
    assert_int_equal(parse_ok("2000-02-29"), INT64_C(951782400) * S);
    assert_int_equal(parse_ok("2024-02-29"), INT64_C(1709164800) * S);
    parse_ok("1600-02-29");
    parse_ok("2023-01-31");
    parse_ok("2023-04-30");
    parse_ok("2023-12-31");
    assert_bad("1900-02-29");
    assert_bad("2100-02-29");
    assert_bad("2023-02-29");
    assert_bad("2024-02-30");
    assert_bad("2023-04-31");
    assert_bad("2023-06-31");
    assert_bad("2023-09-31");
    assert_bad("2023-11-31");
    assert_bad("2023-01-32");
}

static void test_leap_second(void **state)
{
    (void)state;
    int64_t end2016 = INT64_C(1483228800) * S;
    assert_int_equal(parse_ok("2016-12-31T23:59:60Z"), end2016 - 1);
    assert_int_equal(parse_ok("2016-12-31T23:59:60.5Z"), end2016 - 1);
    assert_bad("2016-12-31T23:59:61Z");
}

static void test_range(void **state)
{
    (void)state;
    assert_int_equal(parse_ok("0001-01-01T00:00:00Z"), INT64_C(-62135596800) * S);
    assert_int_equal(parse_ok("9999-12-31T23:59:59.999999Z"), INT64_C(253402300800) * S - 1);
    assert_int_equal(parse_ok("1969-12-31T23:59:59.5Z"), -500000);
    assert_int_equal(parse_ok("1900-01-01"), INT64_C(-2208988800) * S);
    assert_bad("0000-12-31");
    /* offsets that push the instant outside years 1..9999 */
    assert_bad("0001-01-01T00:00:00+00:01");
    assert_bad("9999-12-31T23:59:59-00:01");
    parse_ok("0001-01-01T00:00:00-00:01");
}

static void test_bad_inputs(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "", "2023", "2023-08", "2023-8-04", "2023-08-4", "23-08-04", "20230804", "2023/08/04",
        "2023-08-04T", "2023-08-04T12", "2023-08-04T12:3", "2023-08-04T1:34",
        "2023-08-04T12:34:5", "2023-08-04X12:34", "2023-08-04TT12:34", "2023-08-04T24:00",
        "2023-08-04T12:60", "2023-08-04T12:34:61", "2023-13-01", "2023-00-10", "2023-01-00",
        "0000-01-01", "2023-08-04T12:34:56.", "2023-08-04T12:34:56.1234567890",
        "2023-08-04T12:34.5", "2023-08-04T12:34:56,5", "2023-08-04T12:34:56+2:00",
        "2023-08-04T12:34:56+24:00", "2023-08-04T12:34:56+02:60", "2023-08-04T12:34:56+02:0",
        "2023-08-04T12:34:56+020", "2023-08-04T12:34:56+02:000", "2023-08-04T12:34:56+",
        "2023-08-04T12:34:56ZZ", "2023-08-04T12:34:56 Z", "2023-08-04T12:34:56Zjunk",
        " 2023-08-04", "2023-08-04 ", "2023-08-04Z", "+2023-08-04", "-2023-08-04",
        "2023-08-04T12:34:56UTC", "\xef\xbc\x92\xef\xbc\x90\xef\xbc\x92\xef\xbc\x93-08-04",
        "2023-08-04T12:34:56.12a", "2023-08-04T-1:34",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_bad(bad[i]);

    int64_t us;
    assert_int_equal(time_parse("2023-08-04\0", 11, &us), STRATA_EINVAL); /* embedded NUL */
    assert_int_equal(time_parse("2023-08-04", 7, &us), STRATA_EINVAL);    /* length counts */
    assert_int_equal(time_parse("2023-08-04T12:34:56Z", 16, &us), 0);   /* ...T12:34 */
}

static void assert_format(int64_t us, const char *ms, const char *micro)
{
    char out[TIMEFMT_LEN];
    assert_int_equal(time_format(us, out), strlen(ms));
    assert_string_equal(out, ms);
    assert_int_equal(time_format_us(us, out), strlen(micro));
    assert_string_equal(out, micro);
}

static void test_format(void **state)
{
    (void)state;
    assert_format(0, "1970-01-01T00:00:00.000Z", "1970-01-01T00:00:00.000000Z");
    assert_format(INT64_C(1691152496123456), "2023-08-04T12:34:56.123Z",
                  "2023-08-04T12:34:56.123456Z");
    /* before 1970 the fraction still counts forward from the second */
    assert_format(-1, "1969-12-31T23:59:59.999Z", "1969-12-31T23:59:59.999999Z");
    assert_format(-S, "1969-12-31T23:59:59.000Z", "1969-12-31T23:59:59.000000Z");
    assert_format(INT64_C(-2208988800) * S + 1500, "1900-01-01T00:00:00.001Z",
                  "1900-01-01T00:00:00.001500Z");
    assert_format(INT64_C(-62135596800) * S, "0001-01-01T00:00:00.000Z",
                  "0001-01-01T00:00:00.000000Z");
    assert_format(INT64_C(951782400) * S + 86399 * S, "2000-02-29T23:59:59.000Z",
                  "2000-02-29T23:59:59.000000Z");
    /* the last instant written digit by digit, and the first past it (the snprintf path) */
    assert_format(INT64_C(253402300800) * S - 1, "9999-12-31T23:59:59.999Z", "9999-12-31T23:59:59.999999Z");
    assert_format(INT64_C(253402300800) * S, "10000-01-01T00:00:00.000Z", "10000-01-01T00:00:00.000000Z");
    assert_format(INT64_C(1691152496000007), "2023-08-04T12:34:56.000Z", "2023-08-04T12:34:56.000007Z");
    /* any int64 formats without overflowing the buffer */
    char out[TIMEFMT_LEN];
    assert_true(time_format_us(INT64_MIN, out) < TIMEFMT_LEN);
    assert_true(time_format_us(INT64_MAX, out) < TIMEFMT_LEN);
}

static void test_round_trip(void **state)
{
    (void)state;
    char out[TIMEFMT_LEN];
    /* a stride that is prime in microseconds walks through all fields, both sides of 1970 */
    for (int64_t us = INT64_C(-62135596800) * S; us < INT64_C(253402300800) * S;
         us += INT64_C(7777777777777) + 1) {
        int64_t back;
        size_t n = time_format_us(us, out);
        assert_int_equal(time_parse(out, n, &back), 0);
        assert_int_equal(back, us);
        n = time_format(us, out);
        assert_int_equal(time_parse(out, n, &back), 0);
        int64_t ms = us / 1000 * 1000;
        if (us % 1000 < 0)
            ms -= 1000;
        assert_int_equal(back, ms);
    }
}

static void test_days_from_civil(void **state)
{
    (void)state;
    assert_int_equal(time_days_from_civil(1970, 1, 1), 0);
    assert_int_equal(time_days_from_civil(1969, 12, 31), -1);
    assert_int_equal(time_days_from_civil(2000, 3, 1), 11017);
    assert_int_equal(time_days_from_civil(2000, 2, 29), 11016);
    assert_int_equal(time_days_from_civil(1, 1, 1), -719162);
    assert_int_equal(time_days_from_civil(1600, 1, 1), -135140);
    assert_int_equal(time_days_from_civil(10000, 1, 1), 2932897);
}

static void test_now(void **state)
{
    (void)state;
    int64_t a = time_now_us(), b = time_now_us();
    assert_true(a > INT64_C(1577836800) * S); /* after 2020 */
    assert_true(a < INT64_C(4102444800) * S); /* before 2100 */
    assert_true(b >= a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accepted_forms),
        cmocka_unit_test(test_offsets),
        cmocka_unit_test(test_leap_years_and_month_lengths),
        cmocka_unit_test(test_leap_second),
        cmocka_unit_test(test_range),
        cmocka_unit_test(test_bad_inputs),
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_days_from_civil),
        cmocka_unit_test(test_now),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
