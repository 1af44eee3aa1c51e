/* Unit tests for core/router: precedence, backtracking, 404/405 and Allow, HEAD, decoding,
 * duplicates and malformed templates. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "core/router.h"

static void handler_a(struct http_req *r)
{
    (void)r;
}

static void handler_b(struct http_req *r)
{
    (void)r;
}

static const struct route routes[] = {
    {.method = "GET", .path = "/", .handler = handler_a},
    {.method = "GET", .path = "/items", .handler = handler_a},
    {.method = "POST", .path = "/items", .handler = handler_b},
    {.method = "GET", .path = "/items/stream", .handler = handler_b},
    {.method = "GET", .path = "/items/{id}", .handler = handler_a},
    {.method = "DELETE", .path = "/items/{key}", .handler = handler_b},
    {.method = "GET", .path = "/a/{x}/c", .handler = handler_a},
    {.method = "GET", .path = "/a/b/d", .handler = handler_b},
    {.method = "GET", .path = "/users/{uid}/posts/{pid}", .handler = handler_a},
    {.method = "PUT", .path = "/trailing/", .handler = handler_a},
    {.method = "GET", .path = "/h", .handler = handler_a},
    {.method = "HEAD", .path = "/h", .handler = handler_b},
    {.method = "GET", .path = "/p/{x}/q/{y}", .handler = handler_a},
    {.method = "POST", .path = "/p/{x}/{z}/r", .handler = handler_b},
    {.method = "GET", .path = "/p/lit/q/r", .handler = handler_b},
};
#define NROUTES (sizeof(routes) / sizeof(routes[0]))

static int setup(void **state)
{
    struct router *r = router_new();
    for (size_t i = 0; i < NROUTES; i++)
        if (router_add(r, &routes[i]) != 0)
            fail_msg("route %zu refused", i);
    *state = r;
    return 0;
}

static int teardown(void **state)
{
    router_free(*state);
    return 0;
}

static enum router_result match(void **state, const char *method, const char *path,
                                struct router_match *m)
{
    return router_match(*state, method, strlen(method), path, strlen(path), m);
}

/* The request finds routes[want]; returns the match for more checks (caller cleans up). */
static void assert_found(void **state, const char *method, const char *path, size_t want,
                         struct router_match *m)
{
    enum router_result res = match(state, method, path, m);
    if (res != ROUTER_FOUND)
        fail_msg("%s %s: result %d", method, path, (int)res);
    if (m->route != &routes[want])
        fail_msg("%s %s: got %s %s, want %s %s", method, path, m->route->method,
                 m->route->path, routes[want].method, routes[want].path);
}

static void assert_not_found(void **state, const char *method, const char *path)
{
    struct router_match m;
    if (match(state, method, path, &m) != ROUTER_NOT_FOUND)
        fail_msg("%s %s should be 404", method, path);
    assert_null(m.route);
    assert_int_equal(m.nparams, 0);
    router_match_cleanup(&m);
}

static void assert_not_allowed(void **state, const char *method, const char *path,
                               const char *allow)
{
    struct router_match m;
    if (match(state, method, path, &m) != ROUTER_METHOD_NOT_ALLOWED)
        fail_msg("%s %s should be 405", method, path);
    assert_null(m.route);
    assert_string_equal(m.allow, allow);
    router_match_cleanup(&m);
}

static void test_literal_beats_param(void **state)
{
    struct router_match m;
    assert_found(state, "GET", "/items/stream", 3, &m);
    assert_int_equal(m.nparams, 0);
    router_match_cleanup(&m);

    assert_found(state, "GET", "/items/42", 4, &m);
    assert_int_equal(m.nparams, 1);
    assert_string_equal(router_param(&m, "id"), "42");
    assert_int_equal(m.name_lens[0], 2);
    assert_memory_equal(m.names[0], "id", 2);
    router_match_cleanup(&m);

    assert_found(state, "GET", "/", 0, &m);
    router_match_cleanup(&m);
    assert_found(state, "GET", "/items", 1, &m);
    router_match_cleanup(&m);
    assert_found(state, "POST", "/items", 2, &m);
    router_match_cleanup(&m);
}

static void test_backtracking(void **state)
{
    struct router_match m;
    assert_found(state, "GET", "/a/b/d", 7, &m);
    router_match_cleanup(&m);
    /* the literal "b" leads to a dead end for ".../c": back up and take {x} */
    assert_found(state, "GET", "/a/b/c", 6, &m);
    assert_string_equal(router_param(&m, "x"), "b");
    router_match_cleanup(&m);
    assert_found(state, "GET", "/a/z/c", 6, &m);
    assert_string_equal(router_param(&m, "x"), "z");
    router_match_cleanup(&m);
    assert_not_found(state, "GET", "/a/z/d");

    /* deeper: /p/lit/q/r is literal, /p/lit/q/s falls back to /p/{x}/q/{y} */
    assert_found(state, "GET", "/p/lit/q/r", 14, &m);
    router_match_cleanup(&m);
    assert_found(state, "GET", "/p/lit/q/s", 12, &m);
    assert_string_equal(router_param(&m, "x"), "lit");
    assert_string_equal(router_param(&m, "y"), "s");
    router_match_cleanup(&m);
    /* the method decides between shapes that both match the path */
    assert_found(state, "POST", "/p/lit/q/r", 13, &m);
    assert_string_equal(router_param(&m, "x"), "lit");
    assert_string_equal(router_param(&m, "z"), "q");
    assert_null(router_param(&m, "y"));
    router_match_cleanup(&m);
}

static void test_not_found_vs_not_allowed(void **state)
{
    assert_not_found(state, "GET", "/nope");
    assert_not_found(state, "GET", "/items/1/2");
    assert_not_found(state, "GET", "/a");
    assert_not_allowed(state, "PATCH", "/items", "GET, HEAD, POST");
    assert_not_allowed(state, "DELETE", "/", "GET, HEAD");
    /* Allow lists every method any matching template takes */
    assert_not_allowed(state, "POST", "/items/stream", "DELETE, GET, HEAD");
    assert_not_allowed(state, "GET", "/trailing/", "PUT");
    assert_not_allowed(state, "DELETE", "/h", "GET, HEAD");
    assert_not_allowed(state, "get", "/items", "GET, HEAD, POST"); /* methods are case-sensitive */

    struct router_match m;
    /* DELETE is taken by /items/{key}, even though the literal /items/stream matched first */
    assert_found(state, "DELETE", "/items/stream", 5, &m);
    assert_string_equal(router_param(&m, "key"), "stream");
    assert_null(router_param(&m, "id")); /* names come from the matched template */
    router_match_cleanup(&m);
}

static void test_head(void **state)
{
    struct router_match m;
    assert_found(state, "HEAD", "/items", 1, &m); /* the GET route */
    router_match_cleanup(&m);
    assert_found(state, "HEAD", "/items/7", 4, &m);
    assert_string_equal(router_param(&m, "id"), "7");
    router_match_cleanup(&m);
    assert_found(state, "HEAD", "/h", 11, &m); /* an explicit HEAD route wins */
    router_match_cleanup(&m);
    assert_found(state, "GET", "/h", 10, &m);
    router_match_cleanup(&m);
    assert_not_allowed(state, "HEAD", "/trailing/", "PUT");
}

static void test_decoding(void **state)
{
    struct router_match m;
    assert_found(state, "GET", "/items/a%20b", 4, &m);
    assert_string_equal(router_param(&m, "id"), "a b");
    router_match_cleanup(&m);
    assert_found(state, "GET", "/items/a+b", 4, &m); /* '+' is not a space in a path */
    assert_string_equal(router_param(&m, "id"), "a+b");
    router_match_cleanup(&m);
    assert_found(state, "GET", "/items/%2F%3f", 4, &m);
    assert_string_equal(router_param(&m, "id"), "/?");
    router_match_cleanup(&m);
    assert_found(state, "GET", "/items/%E2%82%AC", 4, &m);
    assert_string_equal(router_param(&m, "id"), "\xE2\x82\xAC");
    router_match_cleanup(&m);
    /* literals compare raw: an encoded "stream" is a parameter value */
    assert_found(state, "GET", "/items/%73tream", 4, &m);
    assert_string_equal(router_param(&m, "id"), "stream");
    router_match_cleanup(&m);
    assert_found(state, "GET", "/users/u%201/posts/p%2F2", 8, &m);
    assert_int_equal(m.nparams, 2);
    assert_string_equal(router_param(&m, "uid"), "u 1");
    assert_string_equal(router_param(&m, "pid"), "p/2");
    assert_null(router_param(&m, "nope"));
    router_match_cleanup(&m);
    assert_int_equal(m.nparams, 0);

    assert_not_found(state, "GET", "/items/%00");
    assert_not_found(state, "GET", "/items/a%00b");
    assert_not_found(state, "GET", "/items/%zz");
    assert_not_found(state, "GET", "/items/%2");
    assert_not_found(state, "GET", "/items/%");
    assert_int_equal(router_match(*state, "GET", 3, "/items/a\0b", 10, &m), ROUTER_NOT_FOUND);
    router_match_cleanup(&m);
}

static void test_slashes_and_lengths(void **state)
{
    struct router_match m;
    assert_not_found(state, "GET", "/items/"); /* a trailing slash is another path */
    assert_not_found(state, "GET", "//items");
    assert_not_found(state, "GET", "/items//");
    assert_not_found(state, "GET", "/a//c"); /* a parameter is never empty */
    assert_not_found(state, "GET", "");
    assert_not_found(state, "GET", "items");
    assert_not_found(state, "PUT", "/trailing");
    assert_found(state, "PUT", "/trailing/", 9, &m);
    router_match_cleanup(&m);

    /* only the given lengths are read */
    assert_int_equal(router_match(*state, "GETX", 3, "/items/42?x=1", 9, &m), ROUTER_FOUND);
    assert_ptr_equal(m.route, &routes[4]);
    assert_string_equal(router_param(&m, "id"), "42");
    router_match_cleanup(&m);

    char deep[200] = "";
    for (int i = 0; i < ROUTER_MAX_SEGMENTS + 1; i++)
        strcat(deep, "/x");
    assert_not_found(state, "GET", deep);
}

static void test_duplicates(void **state)
{
    static const struct route dups[] = {
        {.method = "GET", .path = "/items/{other}"},
        {.method = "GET", .path = "/items"},
        {.method = "GET", .path = "/a/{y}/c"},
        {.method = "GET", .path = "/"},
        {.method = "HEAD", .path = "/h"},
    };
    static const struct route fine[] = {
        {.method = "PUT", .path = "/items/{id}"},
        {.method = "GET", .path = "/a/{x}/{y}"},
        {.method = "GET", .path = "/items/"},
        {.method = "HEAD", .path = "/items"},
    };
    size_t n = router_count(*state);
    for (size_t i = 0; i < sizeof(dups) / sizeof(dups[0]); i++)
        if (router_add(*state, &dups[i]) != STRATA_EDUP)
            fail_msg("%s %s should be a duplicate", dups[i].method, dups[i].path);
    assert_int_equal(router_count(*state), n);
    for (size_t i = 0; i < sizeof(fine) / sizeof(fine[0]); i++)
        if (router_add(*state, &fine[i]) != 0)
            fail_msg("%s %s should be accepted", fine[i].method, fine[i].path);
    assert_int_equal(router_count(*state), n + 4);

    /* the refused duplicate left nothing behind that changes matching */
    struct router_match m;
    assert_found(state, "GET", "/items/9", 4, &m);
    assert_string_equal(router_param(&m, "id"), "9");
    router_match_cleanup(&m);
    assert_int_equal(match(state, "HEAD", "/items", &m), ROUTER_FOUND);
    assert_ptr_equal(m.route, &fine[3]);
    router_match_cleanup(&m);
}

static void test_bad_templates(void **state)
{
    static char long_path[256], many_params[256], max_path[256], max_params[256];
    static const char *const bad[] = {
        "", "items", "//", "/a//b", "//a", "/{", "/{}", "/{a", "/a}", "/a{b}", "/{a}b", "/{1a}",
        "/{a-b}", "/{a}/{a}", "/a b", "/a?b", "/a%20", "/a#", "/\xC3\xA9", "/{a}}", "/{{a}}",
        long_path, many_params,
    };
    long_path[0] = many_params[0] = max_path[0] = max_params[0] = '\0';
    for (int i = 0; i < ROUTER_MAX_SEGMENTS + 1; i++)
        strcat(long_path, "/s");
    for (int i = 0; i < ROUTER_MAX_SEGMENTS; i++)
        strcat(max_path, "/s");
    for (int i = 0; i < ROUTER_MAX_PARAMS + 1; i++)
        sprintf(many_params + strlen(many_params), "/{p%d}", i);
    for (int i = 0; i < ROUTER_MAX_PARAMS; i++)
        sprintf(max_params + strlen(max_params), "/{p%d}", i);

    struct router *r = router_new();
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct route rt = {.method = "GET", .path = bad[i]};
        if (router_add(r, &rt) != STRATA_EINVAL)
            fail_msg("template \"%s\" should be refused", bad[i]);
    }
    static const char *const bad_methods[] = {"", "get", "GE T", "G\nET"};
    for (size_t i = 0; i < sizeof(bad_methods) / sizeof(bad_methods[0]); i++) {
        struct route rt = {.method = bad_methods[i], .path = "/ok"};
        assert_int_equal(router_add(r, &rt), STRATA_EINVAL);
    }
    struct route nomethod = {.path = "/ok"}, nopath = {.method = "GET"};
    assert_int_equal(router_add(r, &nomethod), STRATA_EINVAL);
    assert_int_equal(router_add(r, &nopath), STRATA_EINVAL);
    assert_int_equal(router_add(r, NULL), STRATA_EINVAL);
    assert_int_equal(router_count(r), 0);

    /* the limits themselves are fine, and such routes match */
    struct route at_max = {.method = "GET", .path = max_path};
    struct route at_max_params = {.method = "GET", .path = max_params};
    struct route odd_literal = {.method = "GET", .path = "/v1.0/a-b_c~d/x:y@z/!$&'()*+,;="};
    assert_int_equal(router_add(r, &at_max), 0);
    assert_int_equal(router_add(r, &at_max_params), 0);
    assert_int_equal(router_add(r, &odd_literal), 0);
    struct router_match m;
    assert_int_equal(router_match(r, "GET", 3, max_path, strlen(max_path), &m), ROUTER_FOUND);
    router_match_cleanup(&m);
    const char *eight = "/1/2/3/4/5/6/7/8";
    assert_int_equal(router_match(r, "GET", 3, eight, strlen(eight), &m), ROUTER_FOUND);
    assert_int_equal(m.nparams, ROUTER_MAX_PARAMS);
    assert_string_equal(router_param(&m, "p7"), "8");
    router_match_cleanup(&m);
    router_free(r);
}

static void test_registration_order(void **state)
{
    assert_int_equal(router_count(*state), NROUTES);
    for (size_t i = 0; i < NROUTES; i++)
        assert_ptr_equal(router_at(*state, i), &routes[i]);
    assert_null(router_at(*state, NROUTES));
    router_free(NULL);
}

static void test_allow_truncation(void **state)
{
    (void)state;
    static char methods[20][8];
    static struct route many[20];
    struct router *r = router_new();
    char full[512] = "";
    for (int i = 0; i < 20; i++) {
        snprintf(methods[i], sizeof(methods[i]), "METHOD%c", 'A' + i);
        many[i] = (struct route){.method = methods[i], .path = "/x"};
        assert_int_equal(router_add(r, &many[i]), 0);
        strcat(full, i ? ", " : "");
        strcat(full, methods[i]);
    }
    struct router_match m;
    assert_int_equal(router_match(r, "GET", 3, "/x", 2, &m), ROUTER_METHOD_NOT_ALLOWED);
    size_t n = strlen(m.allow);
    assert_true(n > 0 && n < sizeof(m.allow));
    assert_memory_equal(m.allow, full, n);
    assert_true(full[n] == ','); /* cut between methods, never inside one */
    router_match_cleanup(&m);
    router_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_literal_beats_param, setup, teardown),
        cmocka_unit_test_setup_teardown(test_backtracking, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_found_vs_not_allowed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_head, setup, teardown),
        cmocka_unit_test_setup_teardown(test_decoding, setup, teardown),
        cmocka_unit_test_setup_teardown(test_slashes_and_lengths, setup, teardown),
        cmocka_unit_test_setup_teardown(test_duplicates, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_templates, setup, teardown),
        cmocka_unit_test_setup_teardown(test_registration_order, setup, teardown),
        cmocka_unit_test(test_allow_truncation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
