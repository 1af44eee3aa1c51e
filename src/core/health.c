#include "core/health.h"

#include <stdio.h>
#include <stdlib.h>

#include "core/http.h"
#include "core/jsonw.h"
#include "core/migrate.h"

static const struct db_stmt stmt_migrations = {
    .name = "core_migrations_applied", .sql = "SELECT count(*) FROM schema_migrations", .cls = DB_FAST,
};

static void reply_status(struct http_req *r, const char *status)
{
    struct buf b;
    struct jsonw w;
    buf_init(&b);
    jsonw_init(&w, &b);
    jsonw_obj_begin(&w);
    jsonw_kv_str(&w, "status", status);
    jsonw_obj_end(&w);
    http_add_header(r, "Cache-Control", "no-store");
    http_reply_json(r, 200, &b);
}

static void healthz(struct http_req *r)
{
    reply_status(r, "ok");
}

static void on_migrations(struct http_req *r, const struct db_result *res)
{
    if (res->err) {
        http_add_header(r, "Cache-Control", "no-store");
        http_add_header(r, "Retry-After", "1");
        http_reply_problem(r, 503, res->err == STRATA_EUNAVAIL ? "database unreachable"
                                                               : "database error (schema_migrations not readable)");
        return;
    }
    long have = atol(PQgetvalue(res->res, 0, 0));
    if (have < (long)strata_migrations_count) {
        char d[128];
        snprintf(d, sizeof d, "migrations not applied: %ld of %u", have, strata_migrations_count);
        http_add_header(r, "Cache-Control", "no-store");
        http_add_header(r, "Retry-After", "5");
        http_reply_problem(r, 503, d);
        return;
    }
    reply_status(r, "ready");
}

static void readyz(struct http_req *r)
{
    if (!db_pool_ready(r->db, DB_FAST)) {
        http_add_header(r, "Cache-Control", "no-store");
        http_add_header(r, "Retry-After", "1");
        http_reply_problem(r, 503, "database unreachable");
        return;
    }
    (void)http_db_query(r, &stmt_migrations, NULL, on_migrations);
}

static const int errs_ready[] = {503, 0};

const struct route health_routes[] = {
    {.method = "GET", .path = "/healthz", .handler = healthz, .summary = "Liveness: the process answers",
     .tag = "operations", .flags = ROUTE_INTERNAL},
    {.method = "GET", .path = "/readyz", .handler = readyz,
     .summary = "Readiness: database reachable and migrations applied", .tag = "operations",
     .errors = errs_ready, .flags = ROUTE_INTERNAL},
    {.method = NULL},
};
