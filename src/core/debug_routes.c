#include "core/debug_routes.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fanout.h"
#include "ports/bus/bus.h"
#include "core/http.h"
#include "core/sse.h"
#include "core/jsonw.h"

static const struct db_stmt stmt_sleep = {
    .name = "core_debug_sleep", .sql = "SELECT pg_sleep($1::float8)", .nparams = 1, .cls = DB_FAST,
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
    .name = "core_debug_item",
    .sql = "SELECT id, name, value, (extract(epoch FROM created_at) * 1000000)::bigint FROM bench_items WHERE id = $1::bigint",
    .nparams = 1,
    .cls = DB_FAST,
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
    jsonw_key(&w, "value");
    jsonw_number_text(&w, PQgetvalue(res->res, 0, 2), (size_t)PQgetlength(res->res, 0, 2));
    jsonw_key(&w, "created_at");
    jsonw_time(&w, strtoll(PQgetvalue(res->res, 0, 3), NULL, 10));
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

/* A transaction on a connection of its own: two statements must see the same transaction id,
 * and a rollback must leave nothing behind. */
static const struct db_stmt stmt_txid = {.name = "core_debug_txid", .sql = "SELECT txid_current()::text"};

struct tx_probe {
    struct http_req *r;
    struct db_tx *tx;
    char first[32];
    bool same;
    bool commit;
};

static void tx_probe_free(void *p)
{
    free(p);
}

static void end_tx(struct http_req *r, bool commit);

static void on_tx_end(void *arg, const struct db_result *res)
{
    struct http_req *r = arg;
    struct tx_probe *t = r->app;
    if (res->err) {
        http_reply_db_error(r, res);
        http_release(r);
        return;
    }
    struct buf b;
    struct jsonw w;
    buf_init(&b);
    jsonw_init(&w, &b);
    jsonw_obj_begin(&w);
    jsonw_kv_bool(&w, "same_transaction", t->same);
    jsonw_kv_str(&w, "outcome", t->commit ? "committed" : "rolled back");
    jsonw_obj_end(&w);
    http_reply_json(r, 200, &b); /* ignored when the client has left */
    http_release(r);
}

static void end_tx(struct http_req *r, bool commit)
{
    struct tx_probe *t = r->app;
    if (db_tx_end(t->tx, commit && r->req != NULL, on_tx_end, r) < 0) {
        http_reply_problem(r, 500, "transaction could not end");
        http_release(r);
    }
}

static void on_txid2(void *arg, const struct db_result *res)
{
    struct http_req *r = arg;
    struct tx_probe *t = r->app;
    t->same = !res->err && !strcmp(PQgetvalue(res->res, 0, 0), t->first);
    end_tx(r, t->commit && !res->err);
}

static void on_txid1(void *arg, const struct db_result *res)
{
    struct http_req *r = arg;
    struct tx_probe *t = r->app;
    if (res->err || !r->req) {
        end_tx(r, false);
        return;
    }
    snprintf(t->first, sizeof t->first, "%s", PQgetvalue(res->res, 0, 0));
    if (db_tx_query(t->tx, &stmt_txid, NULL, on_txid2, r) < 0)
        end_tx(r, false);
}

static void on_tx_begun(void *arg, struct db_tx *tx, int err)
{
    struct http_req *r = arg;
    struct tx_probe *t = r->app;
    if (err) {
        struct db_result res = {err, NULL, "", false};
        http_reply_db_error(r, &res);
        http_release(r);
        return;
    }
    t->tx = tx;
    if (!r->req || db_tx_query(tx, &stmt_txid, NULL, on_txid1, r) < 0)
        end_tx(r, false);
}

static void tx_handler(struct http_req *r)
{
    struct tx_probe *t = calloc(1, sizeof *t);
    t->r = r;
    t->commit = !r->params[0].b;
    r->app = t;
    r->app_free = tx_probe_free;
    http_hold(r);
    int rc = db_tx_begin(r->db, on_tx_begun, r);
    if (rc < 0) {
        http_release(r);
        struct db_result res = {rc, NULL, "", false};
        http_reply_db_error(r, &res);
    }
}

static const struct param_spec tx_params[] = {
    {.name = "rollback", .type = PARAM_BOOL, .def = "false", .help = "end with ROLLBACK instead of COMMIT"},
    {.name = NULL},
};

/* A write that needs no table: NOTIFY is transactional, so a notification that arrives proves
 * its statement committed even when failing statements of other requests shared the pipeline. */
static const struct db_stmt stmt_notify = {
    .name = "core_debug_notify", .sql = "SELECT pg_notify($1, $2)", .nparams = 2, .flags = DB_WRITE,
};

static void on_notified(struct http_req *r, const struct db_result *res)
{
    if (res->err) {
        http_reply_db_error(r, res);
        return;
    }
    http_reply(r, 204, NULL, "", 0);
}

static void notify_handler(struct http_req *r)
{
    const char *vals[] = {r->params[0].s, r->params[1].s};
    (void)http_db_query(r, &stmt_notify, vals, on_notified);
}

static const struct param_spec notify_params[] = {
    {.name = "channel", .type = PARAM_STRING, .flags = PARAM_REQUIRED, .max_len = 63, .help = "NOTIFY channel"},
    {.name = "payload", .type = PARAM_STRING, .flags = PARAM_REQUIRED, .max_len = 200, .help = "NOTIFY payload"},
    {.name = NULL},
};

/* One route per permission of the seeded matrix, each requiring exactly that permission, so
 * tests check 401/403 for every role against every permission before the apps exist. */
static void authz_handler(struct http_req *r)
{
    struct buf b;
    struct jsonw w;
    buf_init(&b);
    jsonw_init(&w, &b);
    jsonw_obj_begin(&w);
    jsonw_kv_str(&w, "permission", r->route->permission);
    jsonw_kv_str(&w, "principal", r->auth.name);
    jsonw_kv_str(&w, "role", r->auth.role);
    jsonw_obj_end(&w);
    http_reply_json(r, 200, &b);
}

static const int errs_authz[] = {401, 403, 0};

#define AUTHZ_ROUTE(perm)                                                                                          \
    {.method = "GET", .path = "/api/v1/_debug/authz/" perm, .handler = authz_handler, .permission = perm,          \
     .summary = "Requires " perm " (diagnostics)", .tag = "debug", .errors = errs_authz}

const struct route debug_authz_routes[] = {
    AUTHZ_ROUTE("quakes:read"),
    AUTHZ_ROUTE("quakes:write"),
    AUTHZ_ROUTE("books:read"),
    AUTHZ_ROUTE("books:write"),
    AUTHZ_ROUTE("reviews:write"),
    AUTHZ_ROUTE("files:upload"),
    AUTHZ_ROUTE("jobs:read"),
    AUTHZ_ROUTE("machines:read"),
    AUTHZ_ROUTE("machines:write"),
    AUTHZ_ROUTE("telemetry:read"),
    AUTHZ_ROUTE("telemetry:ingest"),
    AUTHZ_ROUTE("alarms:ack"),
    AUTHZ_ROUTE("config:update"),
    AUTHZ_ROUTE("datasets:read"),
    AUTHZ_ROUTE("access:request"),
    AUTHZ_ROUTE("access:review"),
    AUTHZ_ROUTE("prices:read"),
    AUTHZ_ROUTE("notifications:read"),
    AUTHZ_ROUTE("users:admin"),
    AUTHZ_ROUTE("apikeys:admin"),
    AUTHZ_ROUTE("audit:read"),
    /* a stream route: accepts ?access_token= and the bearer.<token> WebSocket subprotocol */
    {.method = "GET", .path = "/api/v1/_debug/authz-stream", .handler = authz_handler, .permission = "quakes:read",
     .summary = "Stream-flagged route requiring quakes:read (diagnostics)", .tag = "debug", .errors = errs_authz,
     .flags = ROUTE_STREAM},
    {.method = NULL},
};

/* Live fan-out without an app: subscribers of /api/v1/_debug/events get what
 * POST /api/v1/_debug/events publishes, on every loop. */
static struct fanout_topic *debug_topic;
static _Atomic int64_t debug_seq;

static struct fanout_topic *topic(void)
{
    return debug_topic; /* created by debug_routes_init before the loops start */
}

static void publish_text(const char *text, size_t pad)
{
    struct buf b;
    struct jsonw w;
    buf_init(&b);
    jsonw_init(&w, &b);
    jsonw_obj_begin(&w);
    jsonw_kv_str(&w, "text", text);
    if (pad) {
        char *p = malloc(pad + 1);
        memset(p, 'x', pad);
        p[pad] = '\0';
        jsonw_kv_str(&w, "pad", p);
        free(p);
    }
    jsonw_obj_end(&w);
    int64_t id = atomic_fetch_add(&debug_seq, 1) + 1;
    fanout_publish(debug_topic, fanout_event_new(id, sse_msg_event(id, "message", b.data, b.len), NULL, NULL));
    buf_cleanup(&b);
}

/* On the bus thread: a notice from any Strata process on channel strata_debug. */
static void on_bus(void *arg, const char *channel, const char *payload)
{
    if (payload)
        publish_text(payload, 0);
}

int debug_routes_init(struct bus *bus)
{
    debug_topic = fanout_topic_new("debug");
    return bus ? bus_subscribe(bus, "strata_debug", on_bus, NULL) : 0;
}

struct debug_sub {
    struct fanout_sub *sub;
};

static void on_stream_closed(struct sse_stream *st, void *arg)
{
    struct debug_sub *d = arg;
    fanout_unsubscribe(d->sub);
    free(d);
}

static void events_handler(struct http_req *r)
{
    struct debug_sub *d = calloc(1, sizeof *d);
    struct sse_stream *st = sse_stream_start(r, on_stream_closed, d);
    if (!st) {
        free(d);
        return;
    }
    d->sub = fanout_subscribe(topic(), st, NULL, NULL, false);
}

static const struct db_stmt stmt_debug_notify = {
    .name = "core_debug_bus_notify", .sql = "SELECT pg_notify('strata_debug', $1)", .nparams = 1, .flags = DB_WRITE,
};

static void on_bus_published(struct http_req *r, const struct db_result *res)
{
    if (res->err) {
        http_reply_db_error(r, res);
        return;
    }
    http_reply(r, 202, "application/json", "{\"published\":\"via bus\"}", 24);
}

static void publish_handler(struct http_req *r)
{
    const char *text = r->params[0].s;
    int64_t n = r->params[1].i;
    size_t pad = (size_t)r->params[2].i;
    if (r->params[3].b) {
        /* through the bus: every Strata process on this database delivers it */
        const char *vals[] = {text};
        (void)http_db_query(r, &stmt_debug_notify, vals, on_bus_published);
        return;
    }
    for (int64_t i = 0; i < n; i++)
        publish_text(text, pad);
    char out[64];
    int len = snprintf(out, sizeof out, "{\"published\":%lld,\"subscribers\":%u}", (long long)n,
                       fanout_subscribers(topic()));
    http_reply(r, 200, "application/json", out, (size_t)len);
}

static const struct param_spec publish_params[] = {
    {.name = "text", .type = PARAM_STRING, .flags = PARAM_REQUIRED, .max_len = 200, .help = "event text"},
    {.name = "count", .type = PARAM_INT, .flags = PARAM_BOUNDED, .imin = 1, .imax = 100000, .def = "1",
     .help = "how many events"},
    {.name = "pad", .type = PARAM_INT, .flags = PARAM_BOUNDED, .imin = 0, .imax = 65536, .def = "0",
     .help = "bytes of padding per event"},
    {.name = "via_bus", .type = PARAM_BOOL, .def = "false",
     .help = "publish through the event bus (NOTIFY) so every process delivers it"},
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
    /* the same lookup behind a permission: the benchmark's protected_vs_open ratio */
    {.method = "GET", .path = "/api/v1/_debug/protected/items/{id}", .handler = item_handler,
     .path_params = item_path, .permission = "quakes:read",
     .summary = "Primary-key lookup requiring quakes:read (diagnostics)", .tag = "debug", .errors = errs_item},
    {.method = "GET", .path = "/api/v1/_debug/events", .handler = events_handler, .flags = ROUTE_STREAM,
     .response_type = "text/event-stream", .summary = "Live stream of debug events (SSE fan-out diagnostics)",
     .tag = "debug"},
    {.method = "POST", .path = "/api/v1/_debug/events", .handler = publish_handler, .query = publish_params,
     .summary = "Publish debug events to every stream on every loop (diagnostics)", .tag = "debug",
     .errors = errs_sleep},
    {.method = "GET", .path = "/api/v1/_debug/tx", .handler = tx_handler, .query = tx_params,
     .summary = "Two statements in one transaction on a lent connection (diagnostics)", .tag = "debug",
     .errors = errs_sleep},
    {.method = "POST", .path = "/api/v1/_debug/notify", .handler = notify_handler, .query = notify_params,
     .success_status = 204, .summary = "pg_notify as a write statement (diagnostics)", .tag = "debug",
     .errors = errs_sleep},
    {.method = NULL},
};
