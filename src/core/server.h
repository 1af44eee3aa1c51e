/*
 * server: processes and threads around H2O. One event loop per thread (one per core by
 * default), each with its own SO_REUSEPORT listener, its own database pool and its own
 * H2O context; nothing is shared between loops but read-only configuration and the router.
 * The main thread only waits for SIGTERM/SIGINT and then drives the graceful shutdown:
 * listeners close, in-flight requests get shutdown_grace to finish, then the loops end.
 */
#ifndef STRATA_SERVER_H
#define STRATA_SERVER_H

#include <pthread.h>
#include <stdbool.h>

#define H2O_USE_LIBUV 0
#include <h2o.h>

#include "core/router.h"

struct http_loop {
    h2o_context_t ctx;
    h2o_evloop_t *loop;
    struct db_pool *db;
    h2o_accept_ctx_t accept_ctx;
    h2o_socket_t *listener;
    int listen_fd;
    unsigned idx;
    unsigned conns;    /* open client connections */
    unsigned inflight; /* requests received and not yet disposed */
    bool paused;       /* listener stopped at max_connections */
    bool stopping;
    bool done;
    uint64_t stop_deadline;
    h2o_multithread_queue_t *mq;
    h2o_multithread_receiver_t rx;
    h2o_multithread_message_t stop_msg;
    h2o_multithread_receiver_t work_rx; /* workpool jobs finishing for this loop */
    h2o_multithread_receiver_t fanout_rx; /* fanout events for this loop's subscribers */
    _Atomic bool fanout_ready;
    h2o_timeout_t request_timeout;
    h2o_timeout_t tick;
    h2o_timeout_entry_t tick_entry;
    h2o_linklist_t watched;       /* requests waiting on the database, oldest first */
    h2o_timeout_t watch;
    h2o_timeout_t poll10;         /* 10 ms polls (waiting for the auth snapshot) */
    h2o_timeout_entry_t watch_entry;
    h2o_linklist_t streams;       /* SSE streams open on this loop (sse.c) */
    unsigned nstreams;
    h2o_timeout_t heartbeat;
    h2o_timeout_entry_t heartbeat_entry;
    h2o_linklist_t wsconns;       /* WebSocket connections on this loop (ws.c) */
    h2o_timeout_t ws_ping;
    h2o_timeout_entry_t ws_ping_entry;
    pthread_t thread;
};

/* Runs the HTTP server until SIGTERM/SIGINT. Returns the process exit status. */
int server_run(const struct router *router);

/* For http.c: the router in use and the loop a context belongs to. */
const struct router *server_router(void);
size_t server_max_body(void);
/* The loops (for fanout): count and each loop, or NULL before server_run started them. */
unsigned server_nloops(void);
struct http_loop *server_loop(unsigned i);

#endif
