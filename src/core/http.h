/*
 * http: the request lifecycle on top of H2O. One handler sits at "/" and does, in order:
 * request id, header-size limit (431), routing (404/405), CORS, body limits (413) and
 * content type (415), JSON body parsing (400), query parameters (400), then calls the route's
 * handler with a struct http_req. Handlers answer with the http_reply_* functions, now or
 * later (after a database callback). Every answer is logged once (access line) and counted.
 *
 * Lifetime: a struct http_req lives until the H2O request is disposed (response sent or
 * client gone). When the client goes away first, the request's pending database query is
 * abandoned (cancelled on the server) and the handler's callback never runs.
 *
 * Must not: know any app. Apps see only this header, router.h and db.h.
 */
#ifndef STRATA_HTTP_H
#define STRATA_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "core/auth.h"
#include "core/buf.h"
#include "core/db.h"
#include "core/params.h"
#include "core/problem.h"
#include "core/qs.h"
#include "core/router.h"

#define HTTP_REQUEST_ID_MAX 128

struct http_loop;
struct st_h2o_req_t;

struct http_req {
    struct st_h2o_req_t *req; /* NULL once the client has gone */
    struct http_loop *loop;
    struct db_pool *db;       /* this loop's pool */
    const struct route *route;
    struct router_match match;
    struct qs qs;
    struct param_value *params; /* one per route->query entry, in declaration order */
    json_t *body;               /* parsed JSON body (routes accepting application/json) */
    char request_id[HTTP_REQUEST_ID_MAX + 1];
    char client_addr[64];       /* after trusted X-Forwarded-For */
    const char *user;           /* authenticated principal's name for logs, when known */
    struct auth_principal auth; /* who is calling (kind AUTH_NONE on public routes without credentials) */
    uint64_t start_ns;
    bool responded;
    struct db_query *pending;   /* at most one outstanding query per request */
    void (*pending_cb)(struct http_req *r, const struct db_result *res);
    void *app;                  /* the handler's own state; freed with app_free */
    void (*app_free)(void *app);
    unsigned holds;             /* async work outside http_db_query in progress (http_hold) */
    struct http_req_private *priv;
};

/* Replies. Exactly one reply per request; later calls are ignored. */
void http_reply(struct http_req *r, int status, const char *content_type, const char *body, size_t len);
/* Takes the buf's contents (the buf is left empty). */
void http_reply_buf(struct http_req *r, int status, const char *content_type, struct buf *body);
void http_reply_json(struct http_req *r, int status, struct buf *body);
void http_reply_problem(struct http_req *r, int status, const char *detail);
void http_reply_problem_fields(struct http_req *r, int status, const char *detail,
                               const struct problem_field *fields, size_t nfields);
/* 503 + Retry-After for a database that is down or busy, 500 for a failed statement (the SQL
 * error is logged, never shown). */
void http_reply_db_error(struct http_req *r, const struct db_result *res);
/* What http_reply_db_error answers, for routes whose errors have their own format: returns the
 * status, sets the Retry-After value (NULL: none) and a one-line description. */
int http_db_error_info(const struct db_result *res, const char **retry_after, const char **detail);
/* Adds a response header (copied). Call before the reply. */
void http_add_header(struct http_req *r, const char *name, const char *value);
/* Request header value (first), or NULL; *len gets its length. */
const char *http_header(const struct http_req *r, const char *name, size_t *len);

/* Runs a statement for this request. On STRATA_EBUSY / STRATA_EUNAVAIL the 503 reply is
 * already sent and the error returned; otherwise cb runs later (unless the client leaves). */
int http_db_query(struct http_req *r, const struct db_stmt *st, const char *const *values,
                  void (*cb)(struct http_req *r, const struct db_result *res));

/* For long-lived or streamed responses (sse.c, bodystream.c): sets status 200, the content
 * type, the request id and CORS headers, marks the request answered (timeouts no longer
 * apply), and logs the access line. The caller then drives H2O's generator; http_db_query
 * callbacks keep reaching the handler while the client is there (a body produced query by
 * query). Returns false when the client is gone. */
bool http_stream_begin(struct http_req *r, const char *content_type);
/* For a WebSocket upgrade (ws.c): marks the request answered and logs it as 101. */
bool http_upgrade_begin(struct http_req *r);

/* For async work that is not an http_db_query (a transaction, an outgoing call): the request
 * stays allocated until every hold is released, even if the client leaves (then r->req is
 * NULL and replies are ignored; the work should wind down, e.g. roll back). */
void http_hold(struct http_req *r);
void http_release(struct http_req *r);

/* After committing an auth change (user, role, key): the reply waits (up to 2 s) until this
 * process's auth snapshot has the change, so the caller can use what it just created. */
void http_reply_after_auth_sync(struct http_req *r);

/* Audit: one row in audit_log (actor from r->auth, request id, outcome), written as its own
 * statement; failures are logged, never shown to the client. detail_json may be NULL. */
void http_audit(struct http_req *r, const char *action, const char *target, const char *outcome,
                const char *detail_json);

/* Parameter lookup by name (route->query order is faster: r->params[i]). */
const struct param_value *http_param(const struct http_req *r, const char *name);
const char *http_path_param(const struct http_req *r, const char *name);

#endif
