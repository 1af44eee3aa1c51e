#include "core/http.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <sys/socket.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#include "core/config.h"
#include "core/jsonw.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/mem.h"
#include "core/server.h"
#include "core/http_internal.h"

struct http_req_private {
    h2o_timeout_entry_t timeout;
    h2o_timeout_entry_t sync_poll;  /* waiting for the auth snapshot (http_reply_after_auth_sync) */
    uint64_t sync_ticket;
    uint64_t sync_deadline;
    int held_status;                /* the reply kept until the snapshot has caught up */
    char *held_type;
    char *held_body;
    size_t held_len;
    h2o_linklist_t watch_link; /* in loop->watched while a query is pending */
    struct http_req *owner;
    bool client_gone;
    bool streaming; /* http_stream_begin ran: database results still reach the handler */
};

#define WATCH_MS 200

/* ---- start-up: CORS origins and trusted proxies -------------------------------------------- */

struct cidr {
    int family;
    unsigned char addr[16];
    unsigned bits;
};

static char **cors_origins;
static size_t ncors;
static struct cidr *proxies;
static size_t nproxies;

static char **split_list(const char *s, size_t *n)
{
    char **out = NULL;
    *n = 0;
    const char *p = s;
    while (p && *p) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        while (len && isspace((unsigned char)*p))
            p++, len--;
        while (len && isspace((unsigned char)p[len - 1]))
            len--;
        if (len) {
            out = xrealloc(out, (*n + 1) * sizeof *out);
            out[(*n)++] = xstrndup(p, len);
        }
        p = e ? e + 1 : NULL;
    }
    return out;
}

static int parse_cidr(const char *s, struct cidr *c)
{
    char tmp[64];
    snprintf(tmp, sizeof tmp, "%s", s);
    char *slash = strchr(tmp, '/');
    long bits = -1;
    if (slash) {
        *slash = '\0';
        char *end;
        bits = strtol(slash + 1, &end, 10);
        if (*end || end == slash + 1)
            return STRATA_EINVAL;
    }
    memset(c, 0, sizeof *c);
    if (inet_pton(AF_INET, tmp, c->addr) == 1) {
        c->family = AF_INET;
        if (bits < 0)
            bits = 32;
        if (bits > 32)
            return STRATA_EINVAL;
    } else if (inet_pton(AF_INET6, tmp, c->addr) == 1) {
        c->family = AF_INET6;
        if (bits < 0)
            bits = 128;
        if (bits > 128)
            return STRATA_EINVAL;
    } else {
        return STRATA_EINVAL;
    }
    c->bits = (unsigned)bits;
    return 0;
}

static bool cidr_match(const struct cidr *c, int family, const unsigned char *addr)
{
    if (c->family != family)
        return false;
    unsigned full = c->bits / 8, rest = c->bits % 8;
    if (memcmp(c->addr, addr, full))
        return false;
    if (rest) {
        unsigned char mask = (unsigned char)(0xff << (8 - rest));
        if ((c->addr[full] & mask) != (addr[full] & mask))
            return false;
    }
    return true;
}

static bool addr_trusted(const char *text)
{
    unsigned char a[16];
    int fam = AF_INET;
    if (inet_pton(AF_INET, text, a) != 1) {
        if (inet_pton(AF_INET6, text, a) != 1)
            return false;
        fam = AF_INET6;
    }
    for (size_t i = 0; i < nproxies; i++)
        if (cidr_match(&proxies[i], fam, a))
            return true;
    return false;
}

int http_init(char *err, size_t errlen)
{
    cors_origins = split_list(cfg.cors_origins, &ncors);
    size_t n;
    char **items = split_list(cfg.trusted_proxies, &n);
    proxies = xcalloc(n ? n : 1, sizeof *proxies);
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        if (rc == 0 && parse_cidr(items[i], &proxies[nproxies]) < 0) {
            snprintf(err, errlen, "invalid value for STRATA_TRUSTED_PROXIES: '%s' is not an address or CIDR", items[i]);
            rc = STRATA_EINVAL;
        }
        nproxies++;
        free(items[i]);
    }
    free(items);
    return rc;
}

void http_cleanup(void)
{
    for (size_t i = 0; i < ncors; i++)
        free(cors_origins[i]);
    free(cors_origins);
    free(proxies);
    cors_origins = NULL;
    proxies = NULL;
    ncors = nproxies = 0;
}

/* ---- helpers ---------------------------------------------------------------------------- */

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

const char *http_header(const struct http_req *r, const char *name, size_t *len)
{
    if (!r->req)
        return NULL;
    ssize_t i = h2o_find_header_by_str(&r->req->headers, name, strlen(name), -1);
    if (i < 0)
        return NULL;
    if (len)
        *len = r->req->headers.entries[i].value.len;
    return r->req->headers.entries[i].value.base;
}

static void add_header(struct http_req *r, const char *name, const char *value)
{
    h2o_req_t *req = r->req;
    size_t nl = strlen(name), vl = strlen(value);
    char *n = h2o_mem_alloc_pool(&req->pool, nl + 1);
    for (size_t i = 0; i < nl; i++)
        n[i] = (char)tolower((unsigned char)name[i]);
    n[nl] = '\0';
    h2o_iovec_t v = h2o_strdup(&req->pool, value, vl);
    h2o_add_header_by_str(&req->pool, &req->res.headers, n, nl, 1, name, v.base, v.len);
}

void http_add_header(struct http_req *r, const char *name, const char *value)
{
    if (!r->req || r->responded)
        return;
    add_header(r, name, value);
}

static void set_request_id(struct http_req *r)
{
    size_t len;
    const char *v = http_header(r, "x-request-id", &len);
    bool ok = v && len >= 1 && len <= HTTP_REQUEST_ID_MAX;
    for (size_t i = 0; ok && i < len; i++)
        if (v[i] < 0x21 || v[i] > 0x7e)
            ok = false;
    if (ok) {
        memcpy(r->request_id, v, len);
        r->request_id[len] = '\0';
        return;
    }
    /* 96 bits from a per-thread xorshift128+ seeded once from getrandom: ids must be unique,
     * not secret, and a syscall per request showed in profiles */
    static _Thread_local uint64_t st[2];
    if (!st[0] && !st[1]) {
        if (getrandom(st, sizeof st, 0) != (ssize_t)sizeof st || (!st[0] && !st[1])) {
            st[0] = mono_ns() | 1;
            st[1] = (uint64_t)(uintptr_t)&st ^ 0x9e3779b97f4a7c15ull;
        }
    }
    unsigned char rnd[12];
    for (int k = 0; k < 2; k++) {
        uint64_t x = st[0], y = st[1];
        st[0] = y;
        x ^= x << 23;
        st[1] = x ^ y ^ (x >> 17) ^ (y >> 26);
        uint64_t out = st[1] + y;
        memcpy(rnd + k * 6, &out, 6);
    }
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < sizeof rnd; i++) {
        r->request_id[2 * i] = hex[rnd[i] >> 4];
        r->request_id[2 * i + 1] = hex[rnd[i] & 15];
    }
    r->request_id[2 * sizeof rnd] = '\0';
}

static void set_client_addr(struct http_req *r)
{
    struct sockaddr_storage ss;
    socklen_t sl = r->req->conn->callbacks->get_peername(r->req->conn, (struct sockaddr *)&ss);
    r->client_addr[0] = '\0';
    if (sl && ss.ss_family == AF_INET)
        inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, r->client_addr, sizeof r->client_addr);
    else if (sl && ss.ss_family == AF_INET6)
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, r->client_addr, sizeof r->client_addr);
    if (!nproxies || !addr_trusted(r->client_addr))
        return;
    /* walk X-Forwarded-For from the right: the first address not of a trusted proxy is the client */
    size_t len;
    const char *xff = http_header(r, "x-forwarded-for", &len);
    if (!xff)
        return;
    size_t end = len;
    while (end > 0) {
        size_t start = end;
        while (start > 0 && xff[start - 1] != ',')
            start--;
        size_t s = start, e = end;
        while (s < e && isspace((unsigned char)xff[s]))
            s++;
        while (e > s && isspace((unsigned char)xff[e - 1]))
            e--;
        char one[64];
        if (e - s > 0 && e - s < sizeof one) {
            memcpy(one, xff + s, e - s);
            one[e - s] = '\0';
            unsigned char tmp[16];
            if (inet_pton(AF_INET, one, tmp) != 1 && inet_pton(AF_INET6, one, tmp) != 1)
                return; /* garbage: keep the proxy's address */
            snprintf(r->client_addr, sizeof r->client_addr, "%s", one);
            if (!addr_trusted(one))
                return;
        }
        end = start ? start - 1 : 0;
    }
}

static const char *cors_allowed_origin(struct http_req *r)
{
    size_t len;
    const char *o = http_header(r, "origin", &len);
    if (!o)
        return NULL;
    for (size_t i = 0; i < ncors; i++)
        if (strlen(cors_origins[i]) == len && !memcmp(cors_origins[i], o, len))
            return cors_origins[i];
    return NULL;
}

static void observe(struct http_req *r, int status)
{
    const char *m = r->req ? r->req->method.base : "OTHER";
    size_t ml = r->req ? r->req->method.len : 5;
    metrics_observe_request(r->route, m, ml, status, (double)(mono_ns() - r->start_ns) / 1e9);
}

static void log_access(struct http_req *r, int status, size_t bytes)
{
    struct log_line l;
    enum log_level lvl = status >= 500 && status != 503 ? LOG_ERROR : LOG_INFO;
    if (!log_begin(&l, lvl, "request", r->request_id))
        return;
    if (r->req) {
        jsonw_key(&l.w, "method");
        jsonw_strn(&l.w, r->req->method.base, r->req->method.len);
        size_t plen = r->req->query_at != SIZE_MAX ? r->req->query_at : r->req->path.len;
        jsonw_key(&l.w, "path"); /* without the query string: it may carry access_token */
        jsonw_strn(&l.w, r->req->path.base, plen);
    }
    jsonw_kv_str(&l.w, "route", r->route ? r->route->path : "-");
    jsonw_kv_int(&l.w, "status", status);
    jsonw_kv_double(&l.w, "latency_ms", (double)(mono_ns() - r->start_ns) / 1e6);
    jsonw_kv_int(&l.w, "bytes", (int64_t)bytes);
    if (r->client_addr[0])
        jsonw_kv_str(&l.w, "client", r->client_addr);
    if (r->user)
        jsonw_kv_str(&l.w, "user", r->user);
    log_end(&l);
}

/* ---- replies ------------------------------------------------------------------------------ */

static void reply_now(struct http_req *r, int status, const char *content_type, const char *body, size_t len);

static void on_sync_poll(h2o_timeout_entry_t *e)
{
    struct http_req_private *pv = H2O_STRUCT_FROM_MEMBER(struct http_req_private, sync_poll, e);
    struct http_req *r = pv->owner;
    if (r->req && !auth_synced(pv->sync_ticket) && h2o_now(r->loop->loop) < pv->sync_deadline) {
        h2o_timeout_link(r->loop->loop, &r->loop->poll10, &pv->sync_poll);
        return;
    }
    pv->sync_ticket = 0;
    if (r->req)
        reply_now(r, pv->held_status, pv->held_type, pv->held_body ? pv->held_body : "", pv->held_len);
    free(pv->held_type);
    free(pv->held_body);
    pv->held_type = pv->held_body = NULL;
    http_release(r);
}

void http_reply_after_auth_sync(struct http_req *r)
{
    r->priv->sync_ticket = auth_sync_ticket();
}

void http_reply(struct http_req *r, int status, const char *content_type, const char *body, size_t len)
{
    if (r->responded || !r->req)
        return;
    struct http_req_private *pv = r->priv;
    if (pv->sync_ticket && status < 400 && !auth_synced(pv->sync_ticket)) {
        /* keep the answer until the snapshot knows what was just committed */
        pv->held_status = status;
        pv->held_type = content_type ? xstrdup(content_type) : NULL;
        pv->held_body = len ? xstrndup(body, len) : NULL;
        pv->held_len = len;
        pv->sync_deadline = h2o_now(r->loop->loop) + 2000;
        pv->sync_poll.cb = on_sync_poll;
        http_hold(r);
        h2o_timeout_link(r->loop->loop, &r->loop->poll10, &pv->sync_poll);
        return;
    }
    reply_now(r, status, content_type, body, len);
}

static void reply_now(struct http_req *r, int status, const char *content_type, const char *body, size_t len)
{
    if (r->responded || !r->req)
        return;
    r->responded = true;
    h2o_timeout_unlink(&r->priv->timeout);
    h2o_req_t *req = r->req;
    req->res.status = status;
    req->res.reason = problem_title(status);
    if (content_type)
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, content_type, strlen(content_type));
    add_header(r, "X-Request-ID", r->request_id);
    const char *origin = cors_allowed_origin(r);
    if (origin) {
        add_header(r, "Access-Control-Allow-Origin", origin);
        add_header(r, "Access-Control-Expose-Headers", "X-Request-ID, Link, Location, Retry-After, ETag");
        add_header(r, "Vary", "Origin");
    }
    if (r->loop->stopping)
        req->http1_is_persistent = 0; /* H2O then answers Connection: close */
    /* 204 and 304 carry no body and, for 304, no Content-Length that could differ from the
     * 200's (RFC 9110 §8.6): SIZE_MAX tells H2O to send none */
    bool bodyless = status == 204 || status == 304;
    req->res.content_length = bodyless ? SIZE_MAX : len;
    if (bodyless)
        len = 0;
    log_access(r, r->priv->client_gone ? 499 : status, len);
    observe(r, r->priv->client_gone ? 499 : status);
    bool head = req->method.len == 4 && !memcmp(req->method.base, "HEAD", 4);
    char *copy = NULL;
    if (len && !head) {
        copy = h2o_mem_alloc_pool(&req->pool, len);
        memcpy(copy, body, len);
    }
    h2o_send_inline(req, copy, head ? 0 : len);
}

bool http_stream_begin(struct http_req *r, const char *content_type)
{
    if (r->responded || !r->req)
        return false;
    r->responded = true;
    r->priv->streaming = true;
    h2o_timeout_unlink(&r->priv->timeout);
    h2o_req_t *req = r->req;
    req->res.status = 200;
    req->res.reason = "OK";
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, content_type, strlen(content_type));
    add_header(r, "Cache-Control", "no-cache");
    add_header(r, "X-Accel-Buffering", "no"); /* nginx: do not buffer the stream */
    add_header(r, "X-Request-ID", r->request_id);
    const char *origin = cors_allowed_origin(r);
    if (origin) {
        add_header(r, "Access-Control-Allow-Origin", origin);
        add_header(r, "Vary", "Origin");
    }
    log_access(r, 200, 0);
    observe(r, 200);
    return true;
}

bool http_upgrade_begin(struct http_req *r)
{
    if (r->responded || !r->req)
        return false;
    r->responded = true;
    h2o_timeout_unlink(&r->priv->timeout);
    log_access(r, 101, 0);
    observe(r, 101);
    return true;
}

void http_reply_buf(struct http_req *r, int status, const char *content_type, struct buf *body)
{
    http_reply(r, status, content_type, body->data ? body->data : "", body->len);
    buf_cleanup(body);
}

void http_reply_json(struct http_req *r, int status, struct buf *body)
{
    http_reply_buf(r, status, "application/json", body);
}

void http_reply_problem_fields(struct http_req *r, int status, const char *detail,
                               const struct problem_field *fields, size_t nfields)
{
    struct buf b;
    buf_init(&b);
    problem_render(&b, status, detail, fields, nfields, r->request_id);
    http_reply_buf(r, status, PROBLEM_CONTENT_TYPE, &b);
}

void http_reply_problem(struct http_req *r, int status, const char *detail)
{
    http_reply_problem_fields(r, status, detail, NULL, 0);
}

int http_db_error_info(const struct db_result *res, const char **retry_after, const char **detail)
{
    if (res->err == STRATA_EUNAVAIL || res->err == STRATA_EBUSY) {
        *retry_after = "1";
        *detail = res->err == STRATA_EBUSY ? "the database is busy; retry shortly"
                                           : "the database is unavailable; retry shortly";
        return 503;
    }
    if (res->timed_out) {
        *retry_after = "5";
        *detail = "the query took too long and was cancelled";
        return 503;
    }
    /* the statement's own error was logged by db.c; the client gets no SQL */
    *retry_after = NULL;
    *detail = "internal error; quote the request id to the operator";
    return 500;
}

void http_reply_db_error(struct http_req *r, const struct db_result *res)
{
    const char *retry_after, *detail;
    int status = http_db_error_info(res, &retry_after, &detail);
    if (retry_after)
        http_add_header(r, "Retry-After", retry_after);
    http_reply_problem(r, status, detail);
}

static void on_db_result(void *arg, const struct db_result *res)
{
    struct http_req *r = arg;
    r->pending = NULL;
    if (h2o_linklist_is_linked(&r->priv->watch_link))
        h2o_linklist_unlink(&r->priv->watch_link);
    void (*cb)(struct http_req *, const struct db_result *) = r->pending_cb;
    r->pending_cb = NULL;
    if (!r->req || (r->responded && !r->priv->streaming))
        return;
    cb(r, res);
}

static const struct db_stmt stmt_audit = {
    .name = "core_audit_insert",
    .sql = "INSERT INTO audit_log (actor, action, target, request_id, outcome, detail) "
           "VALUES ($1, $2, $3, $4, $5, coalesce($6::jsonb, '{}'::jsonb))",
    .nparams = 6,
    .flags = DB_WRITE,
};

static void on_audit(void *arg, const struct db_result *res)
{
    if (res->err && res->err != STRATA_EIO) /* EIO was logged by db.c */
        log_msg(LOG_ERROR, NULL, "audit row not written", "database unavailable");
}

void http_audit(struct http_req *r, const char *action, const char *target, const char *outcome,
                const char *detail_json)
{
    char actor[96];
    auth_actor(&r->auth, actor, sizeof actor);
    const char *vals[] = {actor, action, target, r->request_id, outcome, detail_json};
    if (db_query(r->db, &stmt_audit, vals, on_audit, NULL, NULL) < 0)
        log_msg(LOG_ERROR, r->request_id, "audit row not written", "action=%s target=%s", action, target ? target : "");
}

int http_db_query(struct http_req *r, const struct db_stmt *st, const char *const *values,
                  void (*cb)(struct http_req *r, const struct db_result *res))
{
    int rc = db_query(r->db, st, values, on_db_result, r, &r->pending);
    if (rc < 0) {
        r->pending = NULL;
        struct db_result res = {rc, NULL, "", false};
        http_reply_db_error(r, &res);
        return rc;
    }
    r->pending_cb = cb;
    if (!h2o_linklist_is_linked(&r->priv->watch_link))
        h2o_linklist_insert(&r->loop->watched, &r->priv->watch_link);
    if (!h2o_timeout_is_linked(&r->loop->watch_entry))
        h2o_timeout_link(r->loop->loop, &r->loop->watch, &r->loop->watch_entry);
    return 0;
}

/* HTTP/1 in H2O 2.2.5 does not read from a connection while its request is being handled,
 * so a client that hangs up is not noticed until the answer is written. For requests
 * waiting on the database, peek at the socket every WATCH_MS: EOF or an error means the
 * client is gone, and its query is cancelled instead of running to the end. */
static bool peer_gone(h2o_req_t *req)
{
    if (!req->conn->callbacks->get_socket)
        return false;
    h2o_socket_t *sock = req->conn->callbacks->get_socket(req->conn);
    if (!sock)
        return false;
    int fd = h2o_socket_get_fd(sock);
    if (fd < 0)
        return false;
    char c;
    ssize_t n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

static void on_watch(h2o_timeout_entry_t *e)
{
    struct http_loop *L = H2O_STRUCT_FROM_MEMBER(struct http_loop, watch_entry, e);
    uint64_t now = mono_ns();
    h2o_linklist_t *node = L->watched.next;
    while (node != &L->watched) {
        struct http_req_private *pv = H2O_STRUCT_FROM_MEMBER(struct http_req_private, watch_link, node);
        node = node->next;
        struct http_req *r = pv->owner;
        if (now - r->start_ns < (uint64_t)WATCH_MS * 1000000u)
            break; /* the rest are younger */
        if (!r->req || r->responded || !peer_gone(r->req))
            continue;
        h2o_linklist_unlink(&pv->watch_link);
        pv->client_gone = true;
        if (r->pending) {
            db_query_abandon(r->pending);
            r->pending = NULL;
        }
        /* the write fails and H2O disposes the request; the access log says 499 */
        http_reply_problem(r, 503, "client closed the connection");
    }
    if (!h2o_linklist_is_empty(&L->watched))
        h2o_timeout_link(L->loop, &L->watch, &L->watch_entry);
}

void http_loop_init(struct http_loop *L)
{
    h2o_timeout_init(L->loop, &L->poll10, 10);
    h2o_linklist_init_anchor(&L->watched);
    h2o_timeout_init(L->loop, &L->watch, WATCH_MS);
    L->watch_entry.cb = on_watch;
}

const struct param_value *http_param(const struct http_req *r, const char *name)
{
    if (!r->route->query)
        return NULL;
    for (size_t i = 0; r->route->query[i].name; i++)
        if (!strcmp(r->route->query[i].name, name))
            return &r->params[i];
    return NULL;
}

const char *http_path_param(const struct http_req *r, const char *name)
{
    return router_param(&r->match, name);
}

/* ---- request lifecycle -------------------------------------------------------------------- */

static void req_free(struct http_req *r)
{
    if (h2o_timeout_is_linked(&r->priv->sync_poll))
        h2o_timeout_unlink(&r->priv->sync_poll);
    free(r->priv->held_type);
    free(r->priv->held_body);
    if (h2o_linklist_is_linked(&r->priv->watch_link))
        h2o_linklist_unlink(&r->priv->watch_link);
    if (r->pending)
        db_query_abandon(r->pending);
    if (r->app_free)
        r->app_free(r->app);
    qs_cleanup(&r->qs);
    router_match_cleanup(&r->match);
    if (r->body)
        json_decref(r->body);
    free(r->params);
    free(r->priv);
    free(r);
}

void http_hold(struct http_req *r)
{
    r->holds++;
}

void http_release(struct http_req *r)
{
    if (--r->holds == 0 && !r->req)
        req_free(r);
}

static void on_dispose(void *p)
{
    struct http_req *r = *(struct http_req **)p;
    h2o_timeout_unlink(&r->priv->timeout);
    if (!r->responded) {
        /* the client left before the answer: 499 as nginx logs it */
        r->responded = true;
        log_access(r, 499, 0);
        observe(r, 499);
    }
    r->req = NULL;
    r->loop->inflight--;
    if (r->holds == 0)
        req_free(r);
}

static void on_timeout(h2o_timeout_entry_t *e)
{
    struct http_req_private *pv = H2O_STRUCT_FROM_MEMBER(struct http_req_private, timeout, e);
    struct http_req *r = pv->owner;
    if (r->pending) {
        db_query_abandon(r->pending);
        r->pending = NULL;
    }
    http_add_header(r, "Retry-After", "5");
    http_reply_problem(r, 503, "the request took too long to answer");
}

static size_t header_bytes(const h2o_req_t *req)
{
    size_t n = req->method.len + req->path.len + 12;
    for (size_t i = 0; i < req->headers.size; i++)
        n += req->headers.entries[i].name->len + req->headers.entries[i].value.len + 4;
    return n;
}

static bool media_type_is(const char *ct, size_t len, const char *want)
{
    size_t end = 0;
    while (end < len && ct[end] != ';')
        end++;
    while (end && isspace((unsigned char)ct[end - 1]))
        end--;
    return strlen(want) == end && !strncasecmp(ct, want, end);
}

static void preflight(struct http_req *r, const char *allow)
{
    h2o_req_t *req = r->req;
    http_add_header(r, "Access-Control-Allow-Methods", allow);
    http_add_header(r, "Access-Control-Allow-Headers",
                    "Authorization, Content-Type, X-API-Key, X-Request-ID, Idempotency-Key, Last-Event-ID, If-None-Match");
    http_add_header(r, "Access-Control-Max-Age", "600");
    (void)req;
    http_reply(r, 204, NULL, "", 0);
}

static bool check_body(struct http_req *r)
{
    h2o_req_t *req = r->req;
    const struct route *rt = r->route;
    size_t limit = rt->body_limit;
    if (req->entity.base == NULL || req->entity.len == 0)
        return true;
    if (limit == 0) {
        http_reply_problem(r, 413, "this route takes no request body");
        return false;
    }
    if (req->entity.len > limit) {
        char d[96];
        snprintf(d, sizeof d, "the request body is larger than this route's limit of %zu bytes", limit);
        http_reply_problem(r, 413, d);
        return false;
    }
    size_t ctlen = 0;
    const char *ct = http_header(r, "content-type", &ctlen);
    if (rt->content_types) {
        bool ok = false;
        for (size_t i = 0; ct && rt->content_types[i]; i++)
            ok = ok || media_type_is(ct, ctlen, rt->content_types[i]);
        if (!ok) {
            struct buf d;
            buf_init(&d);
            buf_puts(&d, "Content-Type must be one of:");
            for (size_t i = 0; rt->content_types[i]; i++)
                buf_printf(&d, "%s %s", i ? "," : "", rt->content_types[i]);
            http_reply_problem(r, 415, d.data);
            buf_cleanup(&d);
            return false;
        }
    }
    if (ct && media_type_is(ct, ctlen, "application/json")) {
        json_error_t jerr;
        r->body = json_loadb(req->entity.base, req->entity.len, JSON_REJECT_DUPLICATES, &jerr);
        if (!r->body) {
            char d[256];
            snprintf(d, sizeof d, "the body is not valid JSON (line %d, column %d): %s", jerr.line, jerr.column,
                     jerr.text);
            http_reply_problem(r, 400, d);
            return false;
        }
    }
    return true;
}

static bool parse_query(struct http_req *r)
{
    h2o_req_t *req = r->req;
    if (req->query_at != SIZE_MAX) {
        char *bad = NULL;
        if (qs_parse(&r->qs, req->path.base + req->query_at + 1, req->path.len - req->query_at - 1, &bad) < 0) {
            struct problem_field f = {bad ? bad : "query", "malformed query string (bad percent-encoding or too many parameters)"};
            http_reply_problem_fields(r, 400, "the query string is malformed", &f, 1);
            free(bad);
            return false;
        }
    }
    return true;
}

/* access_token is a credential, not a parameter: take it out of the query once used. */
static void drop_access_token(struct qs *q)
{
    size_t out = 0;
    for (size_t i = 0; i < q->n; i++) {
        if (!strcmp(q->pairs[i].key, "access_token"))
            continue; /* the strings live in the qs's single allocation */
        q->pairs[out++] = q->pairs[i];
    }
    q->n = out;
}

static void reply_unauthorized(struct http_req *r, const char *reason)
{
    char h[256];
    if (reason)
        snprintf(h, sizeof h, "Bearer realm=\"strata\", error=\"invalid_token\", error_description=\"%s\"", reason);
    else
        snprintf(h, sizeof h, "Bearer realm=\"strata\"");
    http_add_header(r, "WWW-Authenticate", h);
    char d[160];
    snprintf(d, sizeof d, reason ? "invalid credentials: %s" : "authentication required", reason);
    http_reply_problem(r, 401, d);
}

static bool authorize(struct http_req *r)
{
    const struct route *rt = r->route;
    const char *reason = NULL;
    int rc = auth_identify(r, &r->auth, &reason);
    if (rt->flags & ROUTE_STREAM)
        drop_access_token(&r->qs);
    if (r->auth.kind != AUTH_NONE)
        r->user = r->auth.name;
    if (!rt->permission || (rt->public_if && *rt->public_if))
        return true; /* public: credentials only name the caller in the log */
    if (rc < 0) {
        reply_unauthorized(r, reason);
        return false;
    }
    if (r->auth.kind == AUTH_NONE) {
        reply_unauthorized(r, NULL);
        return false;
    }
    if (!auth_has(&r->auth, rt->permission)) {
        char d[160];
        snprintf(d, sizeof d, "this needs the permission %s", rt->permission);
        http_reply_problem(r, 403, d);
        return false;
    }
    return true;
}

static bool bind_params(struct http_req *r)
{
    const struct route *rt = r->route;
    size_t n = rt->query ? params_count(rt->query) : 0;
    r->params = xcalloc(n ? n : 1, sizeof *r->params);
    static const struct param_spec none[] = {{.name = NULL}};
    struct params_errors errs;
    if (rt->flags & ROUTE_RAW_QUERY) {
        /* the handler binds the query itself */
    } else if (params_bind(rt->query ? rt->query : none, &r->qs, r->params, &errs) < 0) {
        http_reply_problem_fields(r, 400, "invalid query parameters", errs.items, errs.n);
        return false;
    }
    if (rt->path_params) {
        for (size_t i = 0; rt->path_params[i].name; i++) {
            const char *v = router_param(&r->match, rt->path_params[i].name);
            struct param_value pv;
            char msg[160];
            if (v && params_parse_value(&rt->path_params[i], v, &pv, msg, sizeof msg) < 0) {
                struct problem_field f = {rt->path_params[i].name, msg};
                http_reply_problem_fields(r, 400, "invalid path parameter", &f, 1);
                return false;
            }
        }
    }
    return true;
}

int http_on_req(h2o_handler_t *self, h2o_req_t *req)
{
    struct http_loop *L = H2O_STRUCT_FROM_MEMBER(struct http_loop, ctx, req->conn->ctx);
    struct http_req *r = xcalloc(1, sizeof *r);
    r->priv = xcalloc(1, sizeof *r->priv);
    r->priv->owner = r;
    r->priv->timeout.cb = on_timeout;
    r->req = req;
    r->loop = L;
    r->db = L->db;
    r->start_ns = mono_ns();
    struct http_req **tok = h2o_mem_alloc_shared(&req->pool, sizeof *tok, on_dispose);
    *tok = r;
    L->inflight++;
    set_request_id(r);
    set_client_addr(r);

    if (header_bytes(req) > (size_t)cfg.header_limit) {
        http_reply_problem(r, 431, "the request line and headers are larger than the server accepts");
        return 0;
    }
    size_t plen = req->path_normalized.len;
    enum router_result rr = router_match(server_router(), req->method.base, req->method.len,
                                         req->path_normalized.base, plen, &r->match);
    bool is_options = req->method.len == 7 && !memcmp(req->method.base, "OPTIONS", 7);
    if (is_options && rr == ROUTER_METHOD_NOT_ALLOWED && cors_allowed_origin(r) &&
        http_header(r, "access-control-request-method", NULL)) {
        preflight(r, r->match.allow);
        return 0;
    }
    if (rr == ROUTER_NOT_FOUND) {
        http_reply_problem(r, 404, "no such resource");
        return 0;
    }
    if (rr == ROUTER_METHOD_NOT_ALLOWED) {
        http_add_header(r, "Allow", r->match.allow);
        http_reply_problem(r, 405, "method not allowed on this resource");
        return 0;
    }
    r->route = r->match.route;
    if (!parse_query(r) || !authorize(r) || !check_body(r) || !bind_params(r))
        return 0;
    if (!(r->route->flags & ROUTE_STREAM))
        h2o_timeout_link(L->loop, &L->request_timeout, &r->priv->timeout);
    r->route->handler(r);
    return 0;
}
