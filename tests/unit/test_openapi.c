/* Unit tests for core/openapi: the document rendered from route declarations, parsed back with
 * jansson: parameter schemas (types, bounds, defaults, enums, aliases, repeatable), path
 * templates that differ only in names, request bodies and limits, responses and their problem
 * references, security for permission routes and public ones, components, operationIds. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/openapi.h"
#include "core/router.h"

static void handler(struct http_req *r)
{
    (void)r;
}

static const char *const order_choices[] = {"time", "magnitude", NULL};

static const struct param_spec list_query[] = {
    {.name = "limit", .type = PARAM_INT, .flags = PARAM_BOUNDED, .imin = 1, .imax = 1000, .def = "50",
     .help = "page size"},
    {.name = "min_mag", .type = PARAM_FLOAT, .flags = PARAM_BOUNDED, .fmin = -1, .fmax = 10.5,
     .alias = "minmag", .help = "smallest magnitude"},
    {.name = "order", .type = PARAM_ENUM, .choices = order_choices, .def = "magnitude"},
    {.name = "since", .type = PARAM_TIME, .flags = PARAM_REQUIRED, .def = "2023-08-04", .help = "oldest"},
    {.name = "deleted", .type = PARAM_BOOL, .def = "0"},
    {.name = "q", .type = PARAM_STRING, .max_len = 100},
    {.name = "cursor", .type = PARAM_STRING},
    {.name = "tag", .type = PARAM_STRING, .flags = PARAM_MULTI, .max_len = 20, .def = "x"},
    {.name = "ratio", .type = PARAM_FLOAT, .def = "0.25"},
    {.name = NULL},
};

static const struct param_spec id_path[] = {
    {.name = "id", .type = PARAM_INT, .flags = PARAM_REQUIRED | PARAM_BOUNDED, .imin = 1, .imax = INT64_MAX,
     .help = "thing id"},
    {.name = NULL},
};

static const struct param_spec key_path[] = {
    {.name = "key", .type = PARAM_STRING, .flags = PARAM_REQUIRED, .max_len = 12},
    {.name = NULL},
};

static const char *const json_only[] = {"application/json", NULL};
static const char *const two_types[] = {"application/x-www-form-urlencoded", "application/json", NULL};
static const int errs_create[] = {409, 422, 0};
static const int errs_get[] = {404, 503, 0};

static const struct route routes[] = {
    {.method = "GET", .path = "/api/v1/things", .handler = handler, .query = list_query, .summary = "List things",
     .tag = "things"},
    {.method = "POST", .path = "/api/v1/things", .handler = handler, .body_limit = 4096, .content_types = json_only,
     .permission = "things:write", .summary = "Create a thing", .tag = "things", .errors = errs_create,
     .success_status = 201},
    {.method = "GET", .path = "/api/v1/things/{id}", .handler = handler, .path_params = id_path,
     .permission = "things:read", .tag = "things", .errors = errs_get},
    {.method = "DELETE", .path = "/api/v1/things/{key}", .handler = handler, .path_params = key_path,
     .permission = "things:write", .tag = "things", .success_status = 204},
    {.method = "PUT", .path = "/api/v1/things/{id}/file", .handler = handler, .path_params = id_path,
     .body_limit = 1 << 20, .tag = "things"},
    {.method = "POST", .path = "/api/v1/auth/token", .handler = handler, .body_limit = 8192,
     .content_types = two_types, .tag = "auth"},
    {.method = "GET", .path = "/api/v1/stream", .handler = handler, .response_type = "text/event-stream",
     .permission = "things:read", .flags = ROUTE_STREAM, .tag = "things"},
    {.method = "GET", .path = "/a-b", .handler = handler},
    {.method = "GET", .path = "/a_b", .handler = handler},
    {.method = "GET", .path = "/", .handler = handler, .flags = ROUTE_INTERNAL},
};
#define NROUTES (sizeof routes / sizeof routes[0])

static char *render(const struct router *r)
{
    struct buf b;
    buf_init(&b);
    openapi_render(r, &b);
    return buf_steal(&b, NULL);
}

static int setup(void **state)
{
    struct router *r = router_new();
    for (size_t i = 0; i < NROUTES; i++)
        if (router_add(r, &routes[i]) != 0)
            fail_msg("route %zu refused", i);
    char *text = render(r);
    router_free(r);
    json_error_t err;
    json_t *doc = json_loads(text, JSON_REJECT_DUPLICATES, &err);
    if (!doc)
        fail_msg("not JSON (%s at %d:%d): %.200s", err.text, err.line, err.column, text);
    free(text);
    *state = doc;
    return 0;
}

static int teardown(void **state)
{
    json_decref(*state);
    return 0;
}

/* json_object_get along a '/'-separated path of keys (array elements by index). "~1" in a key
 * is '/' as in JSON Pointer. */
static json_t *at(json_t *v, const char *path)
{
    char key[128];
    while (v && *path) {
        size_t n = 0;
        while (*path && *path != '/' && n < sizeof key - 1) {
            if (path[0] == '~' && path[1] == '1') {
                key[n++] = '/';
                path += 2;
            } else {
                key[n++] = *path++;
            }
        }
        key[n] = '\0';
        if (*path == '/')
            path++;
        v = json_is_array(v) ? json_array_get(v, (size_t)atoi(key)) : json_object_get(v, key);
    }
    return v;
}

static const char *str_at(json_t *v, const char *path)
{
    json_t *s = at(v, path);
    if (!json_is_string(s))
        fail_msg("%s is not a string", path);
    return json_string_value(s);
}

static json_int_t int_at(json_t *v, const char *path)
{
    json_t *s = at(v, path);
    if (!json_is_integer(s))
        fail_msg("%s is not an integer", path);
    return json_integer_value(s);
}

static double real_at(json_t *v, const char *path)
{
    json_t *s = at(v, path);
    if (!json_is_number(s))
        fail_msg("%s is not a number", path);
    return json_number_value(s);
}

/* The parameter of an operation by name. */
static json_t *param(json_t *doc, const char *op_path, const char *name)
{
    json_t *params = at(doc, op_path);
    size_t i;
    json_t *p;
    json_array_foreach(params, i, p) {
        if (!strcmp(json_string_value(json_object_get(p, "name")), name))
            return p;
    }
    fail_msg("no parameter %s in %s", name, op_path);
    return NULL;
}

#define LIST "paths/~1api~1v1~1things/get/parameters"

static void test_top_level(void **state)
{
    json_t *doc = *state;
    assert_string_equal(str_at(doc, "openapi"), "3.1.0");
    assert_string_equal(str_at(doc, "info/title"), "Strata API");
    assert_string_equal(str_at(doc, "info/version"), "0.1.0");
    assert_non_null(strstr(str_at(doc, "info/description"), "`404`"));
    assert_string_equal(str_at(doc, "servers/0/url"), "/");
    /* tags in first-use order, each once */
    assert_int_equal(json_array_size(at(doc, "tags")), 2);
    assert_string_equal(str_at(doc, "tags/0/name"), "things");
    assert_string_equal(str_at(doc, "tags/1/name"), "auth");
}

static void test_paths_exactly_the_routes(void **state)
{
    json_t *doc = *state;
    static const char *const want[][2] = {
        {"/api/v1/things", "get"},       {"/api/v1/things", "post"},        {"/api/v1/things/{id}", "get"},
        {"/api/v1/things/{id}", "delete"}, {"/api/v1/things/{id}/file", "put"}, {"/api/v1/auth/token", "post"},
        {"/api/v1/stream", "get"},       {"/a-b", "get"},                   {"/a_b", "get"},
        {"/", "get"},
    };
    size_t nwant = sizeof want / sizeof want[0], nops = 0;
    const char *path;
    json_t *item;
    json_object_foreach(at(doc, "paths"), path, item) {
        const char *m;
        json_t *op;
        json_object_foreach(item, m, op) {
            bool found = false;
            for (size_t i = 0; i < nwant && !found; i++)
                found = !strcmp(want[i][0], path) && !strcmp(want[i][1], m);
            if (!found)
                fail_msg("unexpected operation %s %s", m, path);
            nops++;
        }
    }
    assert_int_equal(nops, nwant);
    /* "/api/v1/things/{key}" is the same template as ".../{id}": one path, not two */
    assert_null(at(doc, "paths/~1api~1v1~1things~1{key}"));
}

static void test_int_param(void **state)
{
    json_t *p = param(*state, LIST, "limit");
    assert_string_equal(str_at(p, "in"), "query");
    assert_null(at(p, "required"));
    assert_string_equal(str_at(p, "description"), "page size");
    assert_string_equal(str_at(p, "schema/type"), "integer");
    assert_string_equal(str_at(p, "schema/format"), "int64");
    assert_int_equal(int_at(p, "schema/minimum"), 1);
    assert_int_equal(int_at(p, "schema/maximum"), 1000);
    assert_int_equal(int_at(p, "schema/default"), 50);
}

static void test_float_param_and_alias(void **state)
{
    json_t *p = param(*state, LIST, "min_mag");
    assert_string_equal(str_at(p, "schema/type"), "number");
    assert_true(real_at(p, "schema/minimum") == -1.0);
    assert_true(real_at(p, "schema/maximum") == 10.5);
    assert_null(at(p, "schema/default"));
    json_t *a = param(*state, LIST, "minmag");
    assert_string_equal(str_at(a, "in"), "query");
    assert_string_equal(str_at(a, "schema/type"), "number");
    assert_true(real_at(a, "schema/maximum") == 10.5);
    assert_non_null(strstr(str_at(a, "description"), "Short form of `min_mag`"));
    /* an unbounded float has no bounds; its default is a number */
    json_t *r = param(*state, LIST, "ratio");
    assert_null(at(r, "schema/minimum"));
    assert_null(at(r, "schema/maximum"));
    assert_true(json_is_real(at(r, "schema/default")) && real_at(r, "schema/default") == 0.25);
}

static void test_enum_time_bool_string_params(void **state)
{
    json_t *doc = *state;
    json_t *e = param(doc, LIST, "order");
    assert_string_equal(str_at(e, "schema/type"), "string");
    assert_int_equal(json_array_size(at(e, "schema/enum")), 2);
    assert_string_equal(str_at(e, "schema/enum/0"), "time");
    assert_string_equal(str_at(e, "schema/enum/1"), "magnitude");
    assert_string_equal(str_at(e, "schema/default"), "magnitude");

    json_t *t = param(doc, LIST, "since");
    assert_true(json_is_true(at(t, "required")));
    assert_string_equal(str_at(t, "schema/type"), "string");
    assert_string_equal(str_at(t, "schema/format"), "date-time");
    assert_string_equal(str_at(t, "schema/default"), "2023-08-04T00:00:00.000Z");
    assert_non_null(strstr(str_at(t, "description"), "oldest"));
    assert_non_null(strstr(str_at(t, "description"), "ISO 8601"));

    json_t *b = param(doc, LIST, "deleted");
    assert_string_equal(str_at(b, "schema/type"), "boolean");
    assert_true(json_is_false(at(b, "schema/default")));

    assert_int_equal(int_at(param(doc, LIST, "q"), "schema/maxLength"), 100);
    assert_int_equal(int_at(param(doc, LIST, "cursor"), "schema/maxLength"), 256);

    json_t *m = param(doc, LIST, "tag");
    assert_string_equal(str_at(m, "schema/type"), "array");
    assert_string_equal(str_at(m, "schema/items/type"), "string");
    assert_int_equal(int_at(m, "schema/items/maxLength"), 20);
    assert_string_equal(str_at(m, "schema/default/0"), "x");
    /* every declared parameter, plus the alias, and nothing else */
    assert_int_equal(json_array_size(at(doc, LIST)), 10);
}

static void test_path_params(void **state)
{
    json_t *doc = *state;
    json_t *p = param(doc, "paths/~1api~1v1~1things~1{id}/get/parameters", "id");
    assert_string_equal(str_at(p, "in"), "path");
    assert_true(json_is_true(at(p, "required")));
    assert_string_equal(str_at(p, "schema/type"), "integer");
    assert_int_equal(int_at(p, "schema/minimum"), 1);
    assert_null(at(p, "schema/maximum")); /* INT64_MAX is format int64's own limit */
    /* DELETE .../{key} sits under the {id} spelling, typed by its own declaration */
    json_t *k = param(doc, "paths/~1api~1v1~1things~1{id}/delete/parameters", "id");
    assert_string_equal(str_at(k, "in"), "path");
    assert_string_equal(str_at(k, "schema/type"), "string");
    assert_int_equal(int_at(k, "schema/maxLength"), 12);
    /* routes without parameters have no parameters array */
    assert_null(at(doc, "paths/~1a-b/get/parameters"));
}

static void test_request_bodies(void **state)
{
    json_t *doc = *state;
    json_t *rb = at(doc, "paths/~1api~1v1~1things/post/requestBody");
    assert_non_null(rb);
    assert_int_equal(int_at(rb, "x-body-limit"), 4096);
    assert_int_equal(json_object_size(at(rb, "content")), 1);
    assert_string_equal(str_at(rb, "content/application~1json/schema/type/0"), "object");
    json_t *form = at(doc, "paths/~1api~1v1~1auth~1token/post/requestBody/content");
    assert_int_equal(json_object_size(form), 2);
    assert_non_null(at(form, "application~1x-www-form-urlencoded/schema"));
    assert_non_null(at(form, "application~1json/schema"));
    /* no declared content type: any */
    json_t *any = at(doc, "paths/~1api~1v1~1things~1{id}~1file/put/requestBody");
    assert_int_equal(int_at(any, "x-body-limit"), 1 << 20);
    assert_non_null(at(any, "content/*~1*/schema"));
    /* no body limit: no request body */
    assert_null(at(doc, "paths/~1api~1v1~1things/get/requestBody"));
}

static void assert_problem_ref(json_t *doc, const char *op, const char *status)
{
    char path[256], want[64];
    snprintf(path, sizeof path, "%s/responses/%s/$ref", op, status);
    snprintf(want, sizeof want, "#/components/responses/Problem%s", status);
    assert_string_equal(str_at(doc, path), want);
    snprintf(path, sizeof path, "components/responses/Problem%s/content/application~1problem+json/schema/$ref",
             status);
    assert_string_equal(str_at(doc, path), "#/components/schemas/Problem");
}

static void test_responses(void **state)
{
    json_t *doc = *state;
    const char *post = "paths/~1api~1v1~1things/post";
    json_t *resp = at(doc, "paths/~1api~1v1~1things/post/responses");
    /* 201 + the declared 409/422, 400 (query), 413/415 (body), 401/403 (permission) */
    assert_int_equal(json_object_size(resp), 8);
    assert_string_equal(str_at(resp, "201/description"), "Created");
    assert_non_null(at(resp, "201/headers/Location"));
    assert_non_null(at(resp, "201/content/application~1json/schema"));
    const char *errs[] = {"400", "401", "403", "409", "413", "415", "422"};
    for (size_t i = 0; i < sizeof errs / sizeof errs[0]; i++)
        assert_problem_ref(doc, post, errs[i]);

    /* a public GET without body: success and 400 only */
    json_t *plain = at(doc, "paths/~1a-b/get/responses");
    assert_int_equal(json_object_size(plain), 2);
    assert_non_null(at(plain, "200/content/application~1json"));
    assert_problem_ref(doc, "paths/~1a-b/get", "400");

    /* 204: no content */
    json_t *del = at(doc, "paths/~1api~1v1~1things~1{id}/delete/responses/204");
    assert_non_null(del);
    assert_null(at(del, "content"));
    /* declared response type */
    assert_string_equal(str_at(doc, "paths/~1api~1v1~1stream/get/responses/200/content/text~1event-stream/schema/type"),
                        "string");
    assert_true(json_is_true(at(doc, "paths/~1api~1v1~1stream/get/x-stream")));
    assert_problem_ref(doc, "paths/~1api~1v1~1things~1{id}/get", "404");
    assert_problem_ref(doc, "paths/~1api~1v1~1things~1{id}/get", "503");
}

static void test_security(void **state)
{
    json_t *doc = *state;
    json_t *op = at(doc, "paths/~1api~1v1~1things/post");
    assert_string_equal(str_at(op, "x-permission"), "things:write");
    json_t *sec = at(op, "security");
    assert_int_equal(json_array_size(sec), 3);
    assert_string_equal(str_at(sec, "0/oauth2/0"), "things:write");
    assert_string_equal(str_at(sec, "1/bearerAuth/0"), "things:write");
    assert_non_null(at(sec, "2/apiKey"));
    /* a streaming route also takes the token as ?access_token= */
    json_t *stream = at(doc, "paths/~1api~1v1~1stream/get/security");
    assert_int_equal(json_array_size(stream), 4);
    assert_string_equal(str_at(stream, "3/accessToken/0"), "things:read");
    /* public: an explicit empty requirement */
    json_t *pub = at(doc, "paths/~1api~1v1~1things/get/security");
    assert_true(json_is_array(pub) && json_array_size(pub) == 0);
    assert_null(at(doc, "paths/~1api~1v1~1things/get/x-permission"));

    json_t *ss = at(doc, "components/securitySchemes");
    assert_string_equal(str_at(ss, "bearerAuth/type"), "http");
    assert_string_equal(str_at(ss, "bearerAuth/scheme"), "bearer");
    assert_string_equal(str_at(ss, "bearerAuth/bearerFormat"), "JWT");
    assert_string_equal(str_at(ss, "apiKey/type"), "apiKey");
    assert_string_equal(str_at(ss, "apiKey/in"), "header");
    assert_string_equal(str_at(ss, "apiKey/name"), "X-API-Key");
    assert_string_equal(str_at(ss, "oauth2/type"), "oauth2");
    assert_string_equal(str_at(ss, "oauth2/flows/password/tokenUrl"), "/api/v1/auth/token");
    assert_string_equal(str_at(ss, "oauth2/flows/clientCredentials/tokenUrl"), "/api/v1/auth/token");
    assert_string_equal(str_at(ss, "accessToken/type"), "apiKey");
    assert_string_equal(str_at(ss, "accessToken/in"), "query");
    assert_string_equal(str_at(ss, "accessToken/name"), "access_token");
    /* the scopes are the permissions routes require, each once */
    json_t *scopes = at(ss, "oauth2/flows/password/scopes");
    assert_int_equal(json_object_size(scopes), 2);
    assert_non_null(at(scopes, "things:write"));
    assert_non_null(at(scopes, "things:read"));
    /* 401 documents the challenge header */
    assert_non_null(at(doc, "components/responses/Problem401/headers/WWW-Authenticate"));
    assert_non_null(at(doc, "components/responses/Problem503/headers/Retry-After"));
}

static void test_problem_schema(void **state)
{
    json_t *p = at(*state, "components/schemas/Problem");
    assert_string_equal(str_at(p, "type"), "object");
    const char *props[] = {"type", "title", "status", "detail", "request_id", "errors"};
    for (size_t i = 0; i < sizeof props / sizeof props[0]; i++)
        assert_non_null(at(at(p, "properties"), props[i]));
    assert_string_equal(str_at(p, "properties/status/type"), "integer");
    assert_string_equal(str_at(p, "properties/errors/type"), "array");
    assert_string_equal(str_at(p, "properties/errors/items/properties/field/type"), "string");
    assert_string_equal(str_at(p, "properties/errors/items/properties/message/type"), "string");
}

/* Every $ref in the document points at something that exists, and every problem response
 * component is referenced (none rendered for statuses no route answers). */
static void check_refs(json_t *doc, json_t *v, size_t *nrefs)
{
    const char *k;
    json_t *c;
    size_t i;
    if (json_is_object(v)) {
        json_object_foreach(v, k, c) {
            if (!strcmp(k, "$ref")) {
                const char *ref = json_string_value(c);
                assert_true(ref && !strncmp(ref, "#/", 2));
                if (!at(doc, ref + 2))
                    fail_msg("dangling $ref %s", ref);
                (*nrefs)++;
            } else {
                check_refs(doc, c, nrefs);
            }
        }
    } else if (json_is_array(v)) {
        json_array_foreach(v, i, c) check_refs(doc, c, nrefs);
    }
}

static void test_refs_resolve(void **state)
{
    json_t *doc = *state;
    size_t nrefs = 0;
    check_refs(doc, doc, &nrefs);
    assert_true(nrefs > 20);
    /* exactly the statuses used: 400 401 403 404 409 413 415 422 503 */
    assert_int_equal(json_object_size(at(doc, "components/responses")), 9);
    assert_null(at(doc, "components/responses/Problem429"));
}

static void test_operation_ids(void **state)
{
    json_t *doc = *state;
    assert_string_equal(str_at(doc, "paths/~1api~1v1~1things/get/operationId"), "getThings");
    assert_string_equal(str_at(doc, "paths/~1api~1v1~1things/post/operationId"), "postThings");
    assert_string_equal(str_at(doc, "paths/~1api~1v1~1things~1{id}/get/operationId"), "getThingsById");
    assert_string_equal(str_at(doc, "paths/~1api~1v1~1things~1{id}/delete/operationId"), "deleteThingsByKey");
    assert_string_equal(str_at(doc, "paths/~1api~1v1~1things~1{id}~1file/put/operationId"), "putThingsByIdFile");
    assert_string_equal(str_at(doc, "paths/~1/get/operationId"), "getRoot");
    /* "/a-b" and "/a_b" both camel-case to getAB: the later one gets a suffix */
    assert_string_equal(str_at(doc, "paths/~1a-b/get/operationId"), "getAB");
    assert_string_equal(str_at(doc, "paths/~1a_b/get/operationId"), "getAB_2");

    /* unique over the whole document */
    const char *seen[32];
    size_t n = 0;
    const char *path, *m;
    json_t *item, *op;
    json_object_foreach(at(doc, "paths"), path, item) {
        json_object_foreach(item, m, op) {
            const char *id = json_string_value(json_object_get(op, "operationId"));
            assert_non_null(id);
            for (size_t i = 0; i < n; i++)
                if (!strcmp(seen[i], id))
                    fail_msg("operationId %s twice", id);
            assert_true(n < 32);
            seen[n++] = id;
        }
    }
    assert_int_equal(n, NROUTES);
}

static void test_deterministic_and_empty(void **state)
{
    (void)state;
    struct router *r = router_new();
    for (size_t i = 0; i < NROUTES; i++)
        assert_int_equal(router_add(r, &routes[i]), 0);
    char *a = render(r), *b = render(r);
    assert_string_equal(a, b);
    free(a);
    free(b);
    router_free(r);

    r = router_new();
    char *text = render(r);
    json_t *doc = json_loads(text, 0, NULL);
    assert_non_null(doc);
    assert_int_equal(json_object_size(at(doc, "paths")), 0);
    assert_int_equal(json_object_size(at(doc, "components/responses")), 0);
    assert_non_null(at(doc, "components/schemas/Problem"));
    assert_null(at(doc, "components/securitySchemes/accessToken")); /* no streaming route needs it */
    json_decref(doc);
    free(text);
    router_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_top_level),
        cmocka_unit_test(test_paths_exactly_the_routes),
        cmocka_unit_test(test_int_param),
        cmocka_unit_test(test_float_param_and_alias),
        cmocka_unit_test(test_enum_time_bool_string_params),
        cmocka_unit_test(test_path_params),
        cmocka_unit_test(test_request_bodies),
        cmocka_unit_test(test_responses),
        cmocka_unit_test(test_security),
        cmocka_unit_test(test_problem_schema),
        cmocka_unit_test(test_refs_resolve),
        cmocka_unit_test(test_operation_ids),
        cmocka_unit_test(test_deterministic_and_empty),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
