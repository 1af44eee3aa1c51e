/*
 * ws: WebSocket endpoints on H2O (RFC 6455, HTTP/1.1 Upgrade) for live feeds.
 *
 * ws_accept upgrades a request: it selects the application subprotocol the route offers when
 * the client asked for it (never echoing a bearer.<token> credential subprotocol), answers
 * 101, and from then on the connection lives on its own: text messages are queued with
 * ws_send (copied by wslay), the server pings every ws_ping_interval, a client whose queue
 * passes ws_queue_limit is closed with 1013 (try again later) instead of buffering without
 * bound, and incoming text frames go to the on_message callback (others are ignored; frames
 * above ws_max_frame close with 1009).
 *
 * Must not: know what the messages mean.
 */
#ifndef STRATA_WS_H
#define STRATA_WS_H

#include <stdbool.h>
#include <stddef.h>

struct http_req;
struct http_loop;
struct ws_conn;

struct ws_handlers {
    void (*on_message)(struct ws_conn *c, const char *text, size_t len, void *arg); /* may be NULL */
    void (*on_close)(struct ws_conn *c, void *arg);                                /* once */
};

void ws_register_config(void);
/* True when the request asks for a WebSocket upgrade. */
bool ws_is_upgrade(struct http_req *r);
/* Upgrades; protocol is the application subprotocol to select when offered (may be NULL).
 * Returns NULL (and has answered 400) when the request is not a valid handshake. */
struct ws_conn *ws_accept(struct http_req *r, const char *protocol, const struct ws_handlers *h, void *arg);
/* Queues a text message. Returns false when the connection is closing. */
bool ws_send(struct ws_conn *c, const char *text, size_t len);
/* Sends a close frame (code, reason) and ends the connection. */
void ws_close(struct ws_conn *c, unsigned short code, const char *reason);
struct http_loop *ws_loop(struct ws_conn *c);

/* server.c: pings and shutdown. */
void ws_loop_init(struct http_loop *L);
void ws_loop_shutdown(struct http_loop *L);

#endif
