/* Unit tests for core/problem: RFC 9457 documents, types, titles, field errors. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "core/problem.h"

static char *render(int status, const char *detail, const struct problem_field *f, size_t n,
                    const char *rid)
{
    struct buf b;
    buf_init(&b);
    problem_render(&b, status, detail, f, n, rid);
    return buf_steal(&b, NULL);
}

static void test_titles(void **state)
{
    (void)state;
    assert_string_equal(problem_title(400), "Bad Request");
    assert_string_equal(problem_title(401), "Unauthorized");
    assert_string_equal(problem_title(403), "Forbidden");
    assert_string_equal(problem_title(404), "Not Found");
    assert_string_equal(problem_title(405), "Method Not Allowed");
    assert_string_equal(problem_title(409), "Conflict");
    assert_string_equal(problem_title(413), "Content Too Large");
    assert_string_equal(problem_title(415), "Unsupported Media Type");
    assert_string_equal(problem_title(422), "Unprocessable Content");
    assert_string_equal(problem_title(429), "Too Many Requests");
    assert_string_equal(problem_title(431), "Request Header Fields Too Large");
    assert_string_equal(problem_title(500), "Internal Server Error");
    assert_string_equal(problem_title(503), "Service Unavailable");
    assert_string_equal(problem_title(299), "Error");
    assert_string_equal(problem_title(0), "Error");
    assert_string_equal(problem_title(-1), "Error");
}

static void test_plain(void **state)
{
    (void)state;
    char *s = render(404, "no such thing", NULL, 0, NULL);
    assert_string_equal(s, "{\"type\":\"about:blank\",\"title\":\"Not Found\",\"status\":404,"
                           "\"detail\":\"no such thing\"}");
    free(s);
}

static void test_request_id_and_no_detail(void **state)
{
    (void)state;
    char *s = render(503, NULL, NULL, 0, "req-\"1\"");
    assert_string_equal(s, "{\"type\":\"about:blank\",\"title\":\"Service Unavailable\","
                           "\"status\":503,\"request_id\":\"req-\\\"1\\\"\"}");
    free(s);
}

static void test_validation(void **state)
{
    (void)state;
    const struct problem_field f[] = {
        {"limit", "must be an integer between 1 and 1000"},
        {"bogus", "unknown parameter"},
    };
    char *s = render(400, "invalid query parameters", f, 2, "abc");
    json_error_t err;
    json_t *j = json_loads(s, 0, &err);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "type")),
                        "https://strata.dev/problems/validation");
    assert_string_equal(json_string_value(json_object_get(j, "title")), "Bad Request");
    assert_int_equal(json_integer_value(json_object_get(j, "status")), 400);
    assert_string_equal(json_string_value(json_object_get(j, "detail")),
                        "invalid query parameters");
    assert_string_equal(json_string_value(json_object_get(j, "request_id")), "abc");
    json_t *errs = json_object_get(j, "errors");
    assert_int_equal(json_array_size(errs), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(errs, 0), "field")),
                        "limit");
    assert_string_equal(json_string_value(json_object_get(json_array_get(errs, 1), "message")),
                        "unknown parameter");
    json_decref(j);
    free(s);

    s = render(422, "bad body", f, 1, NULL);
    assert_string_equal(s, "{\"type\":\"https://strata.dev/problems/validation\","
                           "\"title\":\"Unprocessable Content\",\"status\":422,"
                           "\"detail\":\"bad body\",\"errors\":[{\"field\":\"limit\","
                           "\"message\":\"must be an integer between 1 and 1000\"}]}");
    free(s);
}

static void test_type_needs_fields_and_status(void **state)
{
    (void)state;
    const struct problem_field f[] = {{"x", "y"}};
    char *s = render(400, "bad", NULL, 0, NULL); /* 400 without fields: plain */
    assert_non_null(strstr(s, "\"type\":\"about:blank\""));
    assert_null(strstr(s, "errors"));
    free(s);
    s = render(409, "conflict", f, 1, NULL); /* fields on another status: not validation */
    assert_non_null(strstr(s, "\"type\":\"about:blank\""));
    free(s);
}

static void test_hostile_text_stays_json(void **state)
{
    (void)state;
    const struct problem_field f[] = {{"a\xFF\n</x>", "\x01\"\\"}};
    char *s = render(400, "</script>\xC0", f, 1, "\x7f");
    json_t *j = json_loads(s, 0, NULL);
    assert_non_null(j);
    assert_null(strstr(s, "</"));
    assert_string_equal(json_string_value(json_object_get(j, "detail")),
                        "</script>\xEF\xBF\xBD");
    json_decref(j);
    free(s);
}

static void test_appends(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b);
    buf_puts(&b, "X");
    problem_render(&b, 500, "d", NULL, 0, NULL);
    assert_int_equal(b.data[0], 'X');
    assert_int_equal(b.data[1], '{');
    buf_cleanup(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_titles),
        cmocka_unit_test(test_plain),
        cmocka_unit_test(test_request_id_and_no_detail),
        cmocka_unit_test(test_validation),
        cmocka_unit_test(test_type_needs_fields_and_status),
        cmocka_unit_test(test_hostile_text_stays_json),
        cmocka_unit_test(test_appends),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
