#include "core/debug_routes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/http.h"
#include "core/jsonw.h"

static const struct db_stmt stmt_sleep = {
    "core_debug_sleep", "SELECT pg_sleep($1::float8)", 1, DB_FAST,
};

static void on_slept(struct http_req *r, const struct db_result *res)
{
    if (res->err) {
        http_reply_db_error(r, res);
        return;
    }
    struct buf b;
    struct jsonw w;
    buf_init(&b);
    jsonw_init(&w, &b);
    jsonw_obj_begin(&w);
    jsonw_kv_double(&w, "slept", r->params[0].f);
    jsonw_obj_end(&w);
    http_reply_json(r, 200, &b);
}

static void sleep_handler(struct http_req *r)
{
    char secs[32];
    snprintf(secs, sizeof secs, "%.6f", r->params[0].f);
    const char *vals[] = {secs};
    (void)http_db_query(r, &stmt_sleep, vals, on_slept);
}

static void echo_handler(struct http_req *r)
{
    struct buf b;
    buf_init(&b);
    char *text = r->body ? json_dumps(r->body, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    buf_puts(&b, "{\"received\":");
    buf_puts(&b, text ? text : "null");
    buf_putc(&b, '}');
    free(text);
    http_reply_json(r, 200, &b);
}

/* Primary-key lookup through the same router, pool and JSON path as app routes; the
 * benchmark (bench/) creates and fills bench_items. Without that table it answers 404. */
static const struct db_stmt stmt_item = {
    "core_debug_item",
    "SELECT id, name, value, extract(epoch FROM created_at)::float8 * 1e6 FROM bench_items WHERE id = $1::bigint",
    1, DB_FAST,
};

static void on_item(struct http_req *r, const struct db_result *res)
{
    if (res->err) {
        if (!strcmp(res->sqlstate, "42P01")) { /* undefined_table: no benchmark data loaded */
            http_reply_problem(r, 404, "no such item");
            return;
        }
        http_reply_db_error(r, res);
        return;
    }
    if (PQntuples(res->res) == 0) {
        http_reply_problem(r, 404, "no such item");
        return;
    }
    struct buf b;
    struct jsonw w;
    buf_init(&b);
    jsonw_init(&w, &b);
    jsonw_obj_begin(&w);
    jsonw_key(&w, "id");
    jsonw_raw(&w, PQgetvalue(res->res, 0, 0), (size_t)PQgetlength(res->res, 0, 0));
    jsonw_kv_str(&w, "name", PQgetvalue(res->res, 0, 1));
    jsonw_kv_double(&w, "value", strtod(PQgetvalue(res->res, 0, 2), NULL));
    jsonw_key(&w, "created_at");
    jsonw_time(&w, (int64_t)strtod(PQgetvalue(res->res, 0, 3), NULL));
    jsonw_obj_end(&w);
    http_reply_json(r, 200, &b);
}

static void item_handler(struct http_req *r)
{
    const char *vals[] = {http_path_param(r, "id")};
    (void)http_db_query(r, &stmt_item, vals, on_item);
}

static const struct param_spec item_path[] = {
    {.name = "id", .type = PARAM_INT, .flags = PARAM_REQUIRED | PARAM_BOUNDED, .imin = 1, .imax = INT64_MAX,
     .help = "item id"},
    {.name = NULL},
};

static const struct param_spec sleep_params[] = {
    {.name = "seconds", .type = PARAM_FLOAT, .flags = PARAM_REQUIRED | PARAM_BOUNDED, .fmin = 0, .fmax = 60,
     .help = "how long the database sleeps"},
    {.name = NULL},
};

static const char *const json_only[] = {"application/json", NULL};
static const int errs_sleep[] = {400, 503, 0};
static const int errs_echo[] = {400, 413, 415, 0};
static const int errs_item[] = {400, 404, 503, 0};

const struct route debug_routes[] = {
    {.method = "GET", .path = "/api/v1/_debug/sleep", .handler = sleep_handler, .query = sleep_params,
     .summary = "Runs pg_sleep through the pool (diagnostics)", .tag = "debug", .errors = errs_sleep},
    {.method = "POST", .path = "/api/v1/_debug/echo", .handler = echo_handler, .body_limit = 1024,
     .content_types = json_only, .summary = "Echoes a JSON body (diagnostics)", .tag = "debug", .errors = errs_echo},
    {.method = "GET", .path = "/api/v1/_debug/items/{id}", .handler = item_handler, .path_params = item_path,
     .summary = "Primary-key lookup of a benchmark row (diagnostics)", .tag = "debug", .errors = errs_item},
    {.method = NULL},
};
