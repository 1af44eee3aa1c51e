/* Unit tests for core/params: each type, bounds, enums, unknown/duplicate/alias, defaults,
 * required, and the error list. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "core/params.h"

static const char *const orders[] = {"time", "time-asc", "magnitude", "magnitude-asc", NULL};

enum { P_LIMIT, P_MINMAG, P_START, P_ORDER, P_Q, P_LIVE, P_TAG, P_DEPTH, P_OFFSET, P_NOTE, P_N };

static const struct param_spec specs[] = {
    {.name = "limit", .type = PARAM_INT, .flags = PARAM_BOUNDED, .imin = 1, .imax = 1000,
     .def = "50"},
    {.name = "minmagnitude", .type = PARAM_FLOAT, .flags = PARAM_BOUNDED, .fmin = -10,
     .fmax = 10, .alias = "minmag"},
    {.name = "starttime", .type = PARAM_TIME, .alias = "start"},
    {.name = "orderby", .type = PARAM_ENUM, .choices = orders, .def = "time"},
    {.name = "q", .type = PARAM_STRING, .max_len = 64},
    {.name = "live", .type = PARAM_BOOL},
    {.name = "tag", .type = PARAM_STRING, .flags = PARAM_MULTI | PARAM_EMPTY_OK},
    {.name = "depth", .type = PARAM_FLOAT},
    {.name = "offset", .type = PARAM_INT},
    {.name = "note", .type = PARAM_STRING},
    {.name = NULL},
};

struct bound {
    struct qs q;
    struct param_value v[P_N];
    struct params_errors e;
    int rc;
};

static void bind_with(struct bound *b, const struct param_spec *sp, const char *query)
{
    if (qs_parse(&b->q, query, strlen(query), NULL) != 0)
        fail_msg("query \"%s\" does not parse", query);
    b->rc = params_bind(sp, &b->q, b->v, &b->e);
}

static void bind(struct bound *b, const char *query)
{
    bind_with(b, specs, query);
}

/* The query fails with exactly one error, on field, with message. */
static void assert_one_error(const char *query, const char *field, const char *message)
{
    struct bound b;
    bind(&b, query);
    if (b.rc != STRATA_EINVAL || b.e.n != 1)
        fail_msg("\"%s\": rc %d, %zu errors", query, b.rc, b.e.n);
    assert_string_equal(b.e.items[0].field, field);
    assert_string_equal(b.e.items[0].message, message);
    qs_cleanup(&b.q);
}

static void assert_ok(struct bound *b, const char *query)
{
    bind(b, query);
    if (b->rc != 0)
        fail_msg("\"%s\": %s: %s", query, b->e.n ? b->e.items[0].field : "?",
                 b->e.n ? b->e.items[0].message : "?");
    assert_int_equal(b->e.n, 0);
}

static void test_defaults(void **state)
{
    (void)state;
    struct bound b;
    assert_ok(&b, "");
    assert_true(b.v[P_LIMIT].present);
    assert_false(b.v[P_LIMIT].given);
    assert_int_equal(b.v[P_LIMIT].i, 50);
    assert_true(b.v[P_LIMIT].f == 50.0);
    assert_string_equal(b.v[P_LIMIT].s, "50");
    assert_true(b.v[P_ORDER].present);
    assert_int_equal(b.v[P_ORDER].e, 0);
    assert_false(b.v[P_MINMAG].present);
    assert_false(b.v[P_Q].present);
    assert_false(b.v[P_LIVE].present);
    qs_cleanup(&b.q);

    /* an empty value is absent: the default still applies */
    assert_ok(&b, "limit=&q=&orderby=");
    assert_int_equal(b.v[P_LIMIT].i, 50);
    assert_false(b.v[P_LIMIT].given);
    assert_false(b.v[P_Q].present);
    assert_int_equal(b.v[P_ORDER].e, 0);
    qs_cleanup(&b.q);
}

static void test_each_type(void **state)
{
    (void)state;
    struct bound b;
    assert_ok(&b, "limit=1000&minmag=-2.5&start=2023-08-04T00:00:00Z&orderby=magnitude-asc"
                  "&q=caf%C3%A9+bar&live=TRUE&depth=1e3&offset=-9223372036854775808");
    assert_true(b.v[P_LIMIT].given);
    assert_int_equal(b.v[P_LIMIT].i, 1000);
    assert_true(b.v[P_LIMIT].f == 1000.0);
    assert_true(b.v[P_MINMAG].present && b.v[P_MINMAG].given);
    assert_true(b.v[P_MINMAG].f == -2.5);
    assert_int_equal(b.v[P_START].i, INT64_C(1691107200000000));
    assert_int_equal(b.v[P_ORDER].e, 3);
    assert_string_equal(b.v[P_Q].s, "caf\xC3\xA9 bar");
    assert_true(b.v[P_LIVE].b);
    assert_true(b.v[P_DEPTH].f == 1000.0);
    assert_int_equal(b.v[P_OFFSET].i, INT64_MIN);
    qs_cleanup(&b.q);
}

static void test_int(void **state)
{
    (void)state;
    const char *range = "must be an integer between 1 and 1000";
    struct bound b;
    assert_ok(&b, "limit=1");
    assert_int_equal(b.v[P_LIMIT].i, 1);
    qs_cleanup(&b.q);
    assert_ok(&b, "offset=%2B7");
    assert_int_equal(b.v[P_OFFSET].i, 7);
    qs_cleanup(&b.q);
    assert_ok(&b, "offset=007");
    assert_int_equal(b.v[P_OFFSET].i, 7);
    qs_cleanup(&b.q);

    assert_one_error("limit=0", "limit", range);
    assert_one_error("limit=1001", "limit", range);
    assert_one_error("limit=-1", "limit", range);
    assert_one_error("limit=99999999999999999999", "limit", range);
    static const char *const bad[] = {"limit=+5+", "limit=%205", "limit=5%20", "limit=0x10",
                                      "limit=1e2", "limit=5.0", "limit=-", "limit=5a",
                                      "limit=%2B", "limit=1%2C000", "limit=%E2%80%8B5"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_one_error(bad[i], "limit", range);
    assert_one_error("offset=9223372036854775808", "offset", "must be an integer");
    assert_one_error("offset=abc", "offset", "must be an integer");
}

static void test_float(void **state)
{
    (void)state;
    struct bound b;
    static const char *const good[] = {"depth=.5", "depth=5.", "depth=-0", "depth=1E-3",
                                       "depth=1e%2B3", "depth=1e-400", "depth=12345678901234567890"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        assert_ok(&b, good[i]);
        assert_true(b.v[P_DEPTH].present);
        qs_cleanup(&b.q);
    }
    assert_ok(&b, "minmag=10&depth=-1.25e2");
    assert_true(b.v[P_MINMAG].f == 10.0);
    assert_true(b.v[P_DEPTH].f == -125.0);
    qs_cleanup(&b.q);

    assert_one_error("minmag=10.5", "minmag", "must be a number between -10 and 10");
    assert_one_error("minmagnitude=-11", "minmagnitude", "must be a number between -10 and 10");
    static const char *const bad[] = {"depth=inf", "depth=nan", "depth=infinity", "depth=NaN",
                                      "depth=0x1p3", "depth=0x10", "depth=%201", "depth=1%20",
                                      "depth=1..2", "depth=.", "depth=1e", "depth=1e%2B",
                                      "depth=-", "depth=e5", "depth=1,5", "depth=1e999",
                                      "depth=-1e999"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_one_error(bad[i], "depth", "must be a finite decimal number");
}

static void test_bool(void **state)
{
    (void)state;
    static const struct {
        const char *q;
        bool v;
    } good[] = {{"live=true", true}, {"live=True", true}, {"live=1", true},
                {"live=false", false}, {"live=FALSE", false}, {"live=0", false}};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        struct bound b;
        assert_ok(&b, good[i].q);
        assert_true(b.v[P_LIVE].present);
        assert_int_equal(b.v[P_LIVE].b, good[i].v);
        qs_cleanup(&b.q);
    }
    assert_one_error("live=yes", "live", "must be true or false");
    assert_one_error("live=2", "live", "must be true or false");
    assert_one_error("live=truee", "live", "must be true or false");
}

static void test_time(void **state)
{
    (void)state;
    struct bound b;
    assert_ok(&b, "starttime=1969-12-31T23:59:59.5%2B00:00");
    assert_int_equal(b.v[P_START].i, -500000);
    qs_cleanup(&b.q);
    assert_one_error("starttime=yesterday", "starttime",
                     "must be a valid RFC 3339 or ISO 8601 time");
    assert_one_error("start=2023-02-29", "start", "must be a valid RFC 3339 or ISO 8601 time");
}

static void test_enum(void **state)
{
    (void)state;
    struct bound b;
    assert_ok(&b, "orderby=time-asc");
    assert_int_equal(b.v[P_ORDER].e, 1);
    qs_cleanup(&b.q);
    const char *msg = "must be one of: time, time-asc, magnitude, magnitude-asc";
    assert_one_error("orderby=Time", "orderby", msg);
    assert_one_error("orderby=time%20", "orderby", msg);
    assert_one_error("orderby=magnitude-", "orderby", msg);
}

static void test_string(void **state)
{
    (void)state;
    struct bound b;
    char q[400];

    snprintf(q, sizeof(q), "q=%064d", 0);
    assert_ok(&b, q);
    assert_int_equal(strlen(b.v[P_Q].s), 64);
    qs_cleanup(&b.q);
    snprintf(q, sizeof(q), "q=%065d", 0);
    assert_one_error(q, "q", "must be at most 64 bytes");
    /* max_len 0 means 256 */
    snprintf(q, sizeof(q), "note=%0256d", 0);
    assert_ok(&b, q);
    qs_cleanup(&b.q);
    snprintf(q, sizeof(q), "note=%0257d", 0);
    assert_one_error(q, "note", "must be at most 256 bytes");

    assert_ok(&b, "q=%E2%80%A8%F0%9F%98%80"); /* U+2028 is not a control character */
    qs_cleanup(&b.q);
    assert_one_error("q=a%09b", "q", "must not contain control characters");
    assert_one_error("q=a%0A", "q", "must not contain control characters");
    assert_one_error("q=%7F", "q", "must not contain control characters");
    assert_one_error("q=%C2%85", "q", "must not contain control characters"); /* C1 NEL */
    assert_one_error("q=%FF", "q", "must be valid UTF-8");
    assert_one_error("q=%C0%80", "q", "must be valid UTF-8");
    assert_one_error("q=%ED%A0%80", "q", "must be valid UTF-8");
    assert_one_error("q=%E2%82", "q", "must be valid UTF-8");
}

static void test_empty_ok_and_multi(void **state)
{
    (void)state;
    struct bound b;
    assert_ok(&b, "tag=");
    assert_true(b.v[P_TAG].present);
    assert_true(b.v[P_TAG].given);
    assert_string_equal(b.v[P_TAG].s, "");
    qs_cleanup(&b.q);

    assert_ok(&b, "tag=a&tag=b&tag=c");
    assert_string_equal(b.v[P_TAG].s, "c"); /* the last one wins */
    assert_int_equal(qs_count(&b.q, "tag"), 3);
    qs_cleanup(&b.q);
}

static void test_unknown(void **state)
{
    (void)state;
    assert_one_error("bogus=1", "bogus", "unknown parameter");
    assert_one_error("limit=5&Limit=5", "Limit", "unknown parameter");
    assert_one_error("bogus", "bogus", "unknown parameter");
    assert_one_error("=1", "", "unknown parameter");
}

static void test_duplicates_and_alias(void **state)
{
    (void)state;
    struct bound b;
    assert_one_error("limit=5&limit=6", "limit", "given more than once");
    assert_one_error("limit=5&limit=5&limit=5", "limit", "given more than once");
    assert_one_error("limit=&limit=5", "limit", "given more than once");
    /* the alias is the same parameter; the error names the spelling the client used */
    assert_one_error("minmagnitude=1&minmag=2", "minmag", "given more than once");
    assert_one_error("start=2023-08-04&starttime=2023-08-04", "starttime",
                     "given more than once");

    assert_ok(&b, "minmag=3");
    assert_true(b.v[P_MINMAG].given);
    assert_true(b.v[P_MINMAG].f == 3.0);
    assert_string_equal(b.v[P_MINMAG].s, "3");
    qs_cleanup(&b.q);
}

static void test_required(void **state)
{
    (void)state;
    static const struct param_spec req[] = {
        {.name = "id", .type = PARAM_INT, .flags = PARAM_REQUIRED, .alias = "i"},
        {.name = "name", .type = PARAM_STRING, .flags = PARAM_REQUIRED | PARAM_EMPTY_OK},
        {.name = NULL},
    };
    struct bound b;

    bind_with(&b, req, "");
    assert_int_equal(b.rc, STRATA_EINVAL);
    assert_int_equal(b.e.n, 2);
    assert_string_equal(b.e.items[0].field, "id");
    assert_string_equal(b.e.items[0].message, "is required");
    assert_string_equal(b.e.items[1].field, "name");
    qs_cleanup(&b.q);

    bind_with(&b, req, "i=&name=");
    assert_int_equal(b.rc, STRATA_EINVAL);
    assert_int_equal(b.e.n, 1); /* "" is a value for name (EMPTY_OK), absence for id */
    assert_string_equal(b.e.items[0].field, "id");
    assert_string_equal(b.e.items[0].message, "is required");
    qs_cleanup(&b.q);

    bind_with(&b, req, "i=x&name=n");
    assert_int_equal(b.e.n, 1); /* the bad value, not also "is required" */
    assert_string_equal(b.e.items[0].field, "i");
    assert_string_equal(b.e.items[0].message, "must be an integer");
    qs_cleanup(&b.q);

    bind_with(&b, req, "i=4&name=n");
    assert_int_equal(b.rc, 0);
    assert_int_equal(b.v[0].i, 4);
    qs_cleanup(&b.q);
}

static void test_error_order_and_cap(void **state)
{
    (void)state;
    struct bound b;
    bind(&b, "a=1&limit=0&b=2&c&d&e&f&g&h&i&j&live=x");
    assert_int_equal(b.rc, STRATA_EINVAL);
    assert_int_equal(b.e.n, PARAMS_MAX_ERRORS);
    assert_string_equal(b.e.items[0].field, "a");
    assert_string_equal(b.e.items[1].field, "limit");
    assert_string_equal(b.e.items[2].field, "b");
    assert_string_equal(b.e.items[7].field, "g");
    for (size_t i = 0; i < b.e.n; i++) {
        assert_ptr_equal(b.e.items[i].field, b.e.field[i]);
        assert_ptr_equal(b.e.items[i].message, b.e.message[i]);
    }
    qs_cleanup(&b.q);

    /* errs may be NULL: the result still says no */
    struct qs q;
    struct param_value v[P_N];
    assert_int_equal(qs_parse(&q, "zzz=1", 5, NULL), 0);
    assert_int_equal(params_bind(specs, &q, v, NULL), STRATA_EINVAL);
    qs_cleanup(&q);
}

static void test_error_add_truncates(void **state)
{
    (void)state;
    struct params_errors e = {.n = 0};
    char field[100];
    memset(field, 'x', 62);
    memcpy(field + 62, "\xC3\xA9tail", 7); /* a 2-byte character across the 63-byte limit */
    params_error_add(&e, field, "%s %d", "n", 5);
    assert_int_equal(e.n, 1);
    assert_int_equal(strlen(e.items[0].field), 62);
    assert_string_equal(e.items[0].message, "n 5");
}

static void test_parse_value_and_helpers(void **state)
{
    (void)state;
    struct param_value v = {0};
    char msg[160];
    assert_int_equal(params_parse_value(&specs[P_LIMIT], "7", &v, msg, sizeof(msg)), 0);
    assert_true(v.present);
    assert_int_equal(v.i, 7);
    assert_int_equal(params_parse_value(&specs[P_LIMIT], "7000", &v, msg, sizeof(msg)),
                     STRATA_ERANGE);
    assert_string_equal(msg, "must be an integer between 1 and 1000");
    assert_int_equal(params_parse_value(&specs[P_LIMIT], "x", &v, msg, sizeof(msg)),
                     STRATA_EINVAL);
    char tiny[12];
    assert_int_equal(params_parse_value(&specs[P_ORDER], "x", &v, tiny, sizeof(tiny)),
                     STRATA_EINVAL);
    assert_string_equal(tiny, "must be one"); /* truncated, still terminated */

    assert_int_equal(params_count(specs), P_N);
    assert_int_equal(params_count(NULL), 0);
    assert_string_equal(params_type_name(PARAM_INT), "integer");
    assert_string_equal(params_type_name(PARAM_FLOAT), "number");
    assert_string_equal(params_type_name(PARAM_BOOL), "boolean");
    assert_string_equal(params_type_name(PARAM_TIME), "string");
    assert_string_equal(params_type_name(PARAM_ENUM), "string");
    assert_string_equal(params_type_name(PARAM_STRING), "string");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_each_type),
        cmocka_unit_test(test_int),
        cmocka_unit_test(test_float),
        cmocka_unit_test(test_bool),
        cmocka_unit_test(test_time),
        cmocka_unit_test(test_enum),
        cmocka_unit_test(test_string),
        cmocka_unit_test(test_empty_ok_and_multi),
        cmocka_unit_test(test_unknown),
        cmocka_unit_test(test_duplicates_and_alias),
        cmocka_unit_test(test_required),
        cmocka_unit_test(test_error_order_and_cap),
        cmocka_unit_test(test_error_add_truncates),
        cmocka_unit_test(test_parse_value_and_helpers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
