#include "core/ws.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define H2O_USE_LIBUV 0
#include <h2o.h>
#include <h2o/websocket.h>
#include <wslay/wslay.h>

#include "core/config.h"
#include "core/http.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/server.h"

static int64_t ping_ms, queue_limit, max_frame;

static const struct config_setting ws_settings[] = {
    {"ws_ping_interval", CFG_DURATION, "30s", &ping_ms, 0, 100, 3600 * 1000, NULL,
     "WebSocket connections get a ping this often"},
    {"ws_queue_limit", CFG_SIZE, "1MiB", &queue_limit, 0, 1024, 1024LL * 1024 * 1024, NULL,
     "bytes queued for one slow WebSocket client before it is closed with 1013"},
    {"ws_max_frame", CFG_SIZE, "64KiB", &max_frame, 0, 125, 16LL * 1024 * 1024, NULL,
     "largest WebSocket message accepted from a client (1009 above)"},
    {NULL, 0, NULL, NULL, 0, 0, 0, NULL, NULL},
};

void ws_register_config(void)
{
    config_register(ws_settings);
}

struct ws_conn {
    h2o_websocket_conn_t *h2o;
    struct http_loop *loop;
    h2o_linklist_t link;
    struct ws_handlers h;
    void *arg;
    char request_id[HTTP_REQUEST_ID_MAX + 1];
    bool closing;
};

bool ws_is_upgrade(struct http_req *r)
{
    const char *key = NULL;
    return r->req && h2o_is_websocket_handshake(r->req, &key) == 0 && key != NULL;
}

static void finish(struct ws_conn *c)
{
    if (c->h.on_close)
        c->h.on_close(c, c->arg);
    h2o_linklist_unlink(&c->link);
    free(c);
}

static void on_msg(h2o_websocket_conn_t *h2o, const struct wslay_event_on_msg_recv_arg *arg)
{
    struct ws_conn *c = h2o->data;
    if (!arg) {
        /* closed (by either side, or the socket failed) */
        h2o_websocket_close(h2o);
        finish(c);
        return;
    }
    if (arg->opcode == WSLAY_TEXT_FRAME && c->h.on_message && !c->closing)
        c->h.on_message(c, (const char *)arg->msg, arg->msg_length, c->arg);
}

/* Does the comma-separated header list contain token (case-sensitive, as RFC 6455 says)? */
static bool list_has(const char *list, size_t len, const char *token)
{
    size_t tl = strlen(token);
    for (size_t i = 0; i < len;) {
        while (i < len && (list[i] == ' ' || list[i] == ','))
            i++;
        size_t j = i;
        while (j < len && list[j] != ',' && list[j] != ' ')
            j++;
        if (j - i == tl && !memcmp(list + i, token, tl))
            return true;
        i = j;
    }
    return false;
}

struct ws_conn *ws_accept(struct http_req *r, const char *protocol, const struct ws_handlers *h, void *arg)
{
    const char *key = NULL;
    if (!r->req || h2o_is_websocket_handshake(r->req, &key) != 0 || !key) {
        http_reply_problem(r, 400, "a WebSocket handshake (HTTP/1.1 Upgrade) is required here");
        return NULL;
    }
    size_t plen;
    const char *offered = http_header(r, "sec-websocket-protocol", &plen);
    if (offered && (!protocol || !list_has(offered, plen, protocol))) {
        /* the client insists on protocols we do not speak; bearer.<token> alone is a credential */
        char d[160];
        snprintf(d, sizeof d, "supported WebSocket subprotocol: %s", protocol ? protocol : "(none)");
        http_reply_problem(r, 400, d);
        return NULL;
    }
    h2o_req_t *req = r->req;
    if (offered) /* select the application protocol, never echo a token */
        h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("sec-websocket-protocol"), 0, NULL,
                              protocol, strlen(protocol));
    struct ws_conn *c = xcalloc(1, sizeof *c);
    c->loop = r->loop;
    c->h = *h;
    c->arg = arg;
    snprintf(c->request_id, sizeof c->request_id, "%s", r->request_id);
    if (!http_upgrade_begin(r)) {
        free(c);
        return NULL;
    }
    c->h2o = h2o_upgrade_to_websocket(req, key, c, on_msg);
    wslay_event_config_set_max_recv_msg_length(c->h2o->ws_ctx, (uint64_t)max_frame);
    h2o_linklist_insert(&c->loop->wsconns, &c->link);
    return c;
}

bool ws_send(struct ws_conn *c, const char *text, size_t len)
{
    if (c->closing)
        return false;
    if (wslay_event_get_queued_msg_length(c->h2o->ws_ctx) + len > (size_t)queue_limit) {
        log_msg(LOG_WARN, c->request_id, "websocket closed: client too slow", "limit_bytes=%lld",
                (long long)queue_limit);
        ws_close(c, 1013, "client too slow; reconnect");
        return false;
    }
    struct wslay_event_msg m = {WSLAY_TEXT_FRAME, (const uint8_t *)text, len};
    if (wslay_event_queue_msg(c->h2o->ws_ctx, &m) != 0)
        return false;
    h2o_websocket_proceed(c->h2o);
    return true;
}

void ws_close(struct ws_conn *c, unsigned short code, const char *reason)
{
    if (c->closing)
        return;
    c->closing = true;
    wslay_event_queue_close(c->h2o->ws_ctx, code, (const uint8_t *)reason, reason ? strlen(reason) : 0);
    h2o_websocket_proceed(c->h2o);
}

struct http_loop *ws_loop(struct ws_conn *c)
{
    return c->loop;
}

static void on_ping(h2o_timeout_entry_t *e)
{
    struct http_loop *L = H2O_STRUCT_FROM_MEMBER(struct http_loop, ws_ping_entry, e);
    for (h2o_linklist_t *n = L->wsconns.next; n != &L->wsconns;) {
        struct ws_conn *c = H2O_STRUCT_FROM_MEMBER(struct ws_conn, link, n);
        n = n->next;
        if (c->closing)
            continue;
        struct wslay_event_msg m = {WSLAY_PING, (const uint8_t *)"", 0};
        if (wslay_event_queue_msg(c->h2o->ws_ctx, &m) == 0)
            h2o_websocket_proceed(c->h2o);
    }
    h2o_timeout_link(L->loop, &L->ws_ping, &L->ws_ping_entry);
}

void ws_loop_init(struct http_loop *L)
{
    h2o_linklist_init_anchor(&L->wsconns);
    h2o_timeout_init(L->loop, &L->ws_ping, (uint64_t)(ping_ms > 0 ? ping_ms : 30000));
    L->ws_ping_entry.cb = on_ping;
    h2o_timeout_link(L->loop, &L->ws_ping, &L->ws_ping_entry);
}

void ws_loop_shutdown(struct http_loop *L)
{
    for (h2o_linklist_t *n = L->wsconns.next; n != &L->wsconns;) {
        struct ws_conn *c = H2O_STRUCT_FROM_MEMBER(struct ws_conn, link, n);
        n = n->next;
        ws_close(c, 1001, "server going away");
    }
}
