#include "core/server.h"

#include <errno.h>
#include <stdatomic.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/auth.h"
#include "core/config.h"
#include "core/db.h"
#include "core/http_internal.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/fanout.h"
#include "core/sse.h"
#include "core/ws.h"
#include "core/workpool.h"
#include "core/mem.h"

static h2o_globalconf_t globalconf;
static const struct router *the_router;
static struct http_loop *loops;
static unsigned nloops;
static size_t max_body;

const struct router *server_router(void)
{
    return the_router;
}

size_t server_max_body(void)
{
    return max_body;
}

static _Atomic unsigned nloops_published;

unsigned server_nloops(void)
{
    return atomic_load(&nloops_published);
}

struct http_loop *server_loop(unsigned i)
{
    return i < atomic_load(&nloops_published) ? &loops[i] : NULL;
}

/* ---- sockets ------------------------------------------------------------------------------ */

static int parse_addr(const char *addr, struct sockaddr_storage *ss, socklen_t *sl)
{
    char host[256];
    const char *port;
    if (addr[0] == '[') {
        const char *e = strchr(addr, ']');
        if (!e || e[1] != ':' || (size_t)(e - addr - 1) >= sizeof host)
            return STRATA_EINVAL;
        memcpy(host, addr + 1, (size_t)(e - addr - 1));
        host[e - addr - 1] = '\0';
        port = e + 2;
    } else {
        const char *c = strrchr(addr, ':');
        if (!c || (size_t)(c - addr) >= sizeof host)
            return STRATA_EINVAL;
        memcpy(host, addr, (size_t)(c - addr));
        host[c - addr] = '\0';
        port = c + 1;
    }
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res;
    if (getaddrinfo(host[0] ? host : NULL, port, &hints, &res) != 0)
        return STRATA_EINVAL;
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *sl = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

static int open_listener(const struct sockaddr_storage *ss, socklen_t sl)
{
    int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int on = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
    if (bind(fd, (const struct sockaddr *)ss, sl) != 0 || listen(fd, 1024) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            log_msg(LOG_WARN, NULL, "could not raise the open-file limit", "%s", strerror(errno));
    }
}

/* ---- accepting ---------------------------------------------------------------------------- */

static void on_accept(h2o_socket_t *listener, const char *err);

static void on_conn_close(void *data)
{
    struct http_loop *L = data;
    L->conns--;
    if (L->paused && !L->stopping && L->listener && L->conns < (unsigned)cfg.max_connections / nloops + 1) {
        L->paused = false;
        h2o_socket_read_start(L->listener, on_accept);
    }
}

static void on_accept(h2o_socket_t *listener, const char *err)
{
    struct http_loop *L = listener->data;
    if (err)
        return;
    unsigned cap = (unsigned)cfg.max_connections / nloops + 1;
    for (int i = 0; i < 64; i++) {
        if (L->conns >= cap) {
            if (!L->paused) {
                L->paused = true;
                h2o_socket_read_stop(listener);
                log_msg(LOG_WARN, NULL, "max_connections reached; accepting paused", "loop=%u", L->idx);
            }
            return;
        }
        h2o_socket_t *sock = h2o_evloop_socket_accept(listener);
        if (!sock)
            return;
        L->conns++;
        sock->on_close.cb = on_conn_close;
        sock->on_close.data = L;
        h2o_accept(&L->accept_ctx, sock);
    }
}

/* ---- shutdown ----------------------------------------------------------------------------- */

static void close_listener(struct http_loop *L)
{
    if (L->listener) {
        h2o_socket_read_stop(L->listener);
        h2o_socket_close(L->listener);
        L->listener = NULL;
    }
}

static void on_stop_msg(h2o_multithread_receiver_t *rx, h2o_linklist_t *messages)
{
    struct http_loop *L = H2O_STRUCT_FROM_MEMBER(struct http_loop, rx, rx);
    while (!h2o_linklist_is_empty(messages)) {
        h2o_multithread_message_t *m = H2O_STRUCT_FROM_MEMBER(h2o_multithread_message_t, link, messages->next);
        h2o_linklist_unlink(&m->link);
    }
    if (L->stopping)
        return;
    L->stopping = true;
    L->stop_deadline = h2o_now(L->loop) + (uint64_t)cfg.shutdown_grace_ms;
    close_listener(L);
    sse_loop_shutdown(L);
    ws_loop_shutdown(L);
    h2o_context_request_shutdown(&L->ctx);
}

static void on_tick(h2o_timeout_entry_t *e)
{
    struct http_loop *L = H2O_STRUCT_FROM_MEMBER(struct http_loop, tick_entry, e);
    struct db_pool_stats st;
    db_pool_get_stats(L->db, &st);
    metrics_publish_loop(L->idx, L->inflight, L->conns, &st);
    if (L->stopping) {
        if (L->inflight == 0) {
            L->done = true;
        } else if (h2o_now(L->loop) >= L->stop_deadline) {
            log_msg(LOG_WARN, NULL, "shutdown grace period over", "loop=%u requests_abandoned=%u", L->idx, L->inflight);
            L->done = true;
        }
    }
    if (!L->done)
        h2o_timeout_link(L->loop, &L->tick, &L->tick_entry);
}

/* Loops signal here once their cross-thread queue exists (see loop_main). */
static pthread_mutex_t started_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t started_cv = PTHREAD_COND_INITIALIZER;
static unsigned nstarted;

static void *loop_main(void *arg)
{
    struct http_loop *L = arg;
    /* The queue's socket must be created on this thread: H2O's socket buffers come from a
     * thread-local allocator, and a socket made on the main thread would share the main
     * thread's allocator between loops (a heap corruption seen under a fast event feed). */
    L->mq = h2o_multithread_create_queue(L->loop);
    h2o_multithread_register_receiver(L->mq, &L->rx, on_stop_msg);
    h2o_multithread_register_receiver(L->mq, &L->work_rx, workpool_on_replies);
    h2o_multithread_register_receiver(L->mq, &L->fanout_rx, fanout_on_posts);
    atomic_store(&L->fanout_ready, true);
    pthread_mutex_lock(&started_mu);
    nstarted++;
    pthread_cond_broadcast(&started_cv);
    pthread_mutex_unlock(&started_mu);
    h2o_context_init(&L->ctx, L->loop, &globalconf);
    L->accept_ctx.ctx = &L->ctx;
    L->accept_ctx.hosts = globalconf.hosts;
    L->db = db_pool_new(L->loop, cfg.database_url);
    L->listener = h2o_evloop_socket_create(L->loop, L->listen_fd, H2O_SOCKET_FLAG_DONT_READ);
    L->listener->data = L;
    h2o_socket_read_start(L->listener, on_accept);
    h2o_timeout_init(L->loop, &L->request_timeout, (uint64_t)cfg.request_timeout_ms);
    h2o_timeout_init(L->loop, &L->tick, 50);
    http_loop_init(L);
    sse_loop_init(L);
    ws_loop_init(L);
    L->tick_entry.cb = on_tick;
    h2o_timeout_link(L->loop, &L->tick, &L->tick_entry);
    while (!L->done)
        h2o_evloop_run(L->loop, 100);
    close_listener(L);
    h2o_multithread_unregister_receiver(L->mq, &L->rx);
    h2o_multithread_unregister_receiver(L->mq, &L->work_rx);
    atomic_store(&L->fanout_ready, false);
    h2o_multithread_unregister_receiver(L->mq, &L->fanout_rx);
    db_pool_free(L->db);
    L->db = NULL;
    auth_thread_cleanup();
    return NULL;
}

int server_run(const struct router *router)
{
    char err[256];
    int status = 1;
    the_router = router;
    if (http_init(err, sizeof err) < 0) {
        fprintf(stderr, "strata: %s\n", err);
        http_cleanup();
        return 2;
    }
    struct sockaddr_storage ss;
    socklen_t sl;
    if (parse_addr(cfg.http_addr, &ss, &sl) < 0) {
        fprintf(stderr, "strata: invalid value for STRATA_HTTP_ADDR: '%s' is not host:port\n", cfg.http_addr);
        http_cleanup();
        return 2;
    }
    raise_nofile();
    signal(SIGPIPE, SIG_IGN);

    nloops = (unsigned)cfg.http_threads;
    if (nloops == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        nloops = n > 0 ? (unsigned)n : 1;
    }
    loops = xcalloc(nloops, sizeof *loops);
    for (unsigned i = 0; i < nloops; i++) {
        loops[i].idx = i;
        loops[i].listen_fd = open_listener(&ss, sl);
        if (loops[i].listen_fd < 0) {
            fprintf(stderr, "strata: cannot listen on %s: %s\n", cfg.http_addr, strerror(errno));
            for (unsigned j = 0; j < i; j++)
                close(loops[j].listen_fd);
            status = 1;
            goto out;
        }
    }

    max_body = (size_t)cfg.body_limit;
    for (size_t i = 0; i < router_count(router); i++)
        if (router_at(router, i)->body_limit > max_body)
            max_body = router_at(router, i)->body_limit;

    metrics_init(router, nloops);
    h2o_config_init(&globalconf);
    globalconf.server_name = h2o_iovec_init(H2O_STRLIT("strata"));
    globalconf.max_request_entity_size = max_body;
    globalconf.http1.req_timeout = (uint64_t)cfg.client_timeout_ms;
    globalconf.http2.idle_timeout = (uint64_t)cfg.idle_timeout_ms;
    globalconf.http2.graceful_shutdown_timeout = (uint64_t)cfg.shutdown_grace_ms;
    h2o_hostconf_t *host = h2o_config_register_host(&globalconf, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_pathconf_t *path = h2o_config_register_path(host, "/", 0);
    h2o_handler_t *handler = h2o_create_handler(path, sizeof *handler);
    handler->on_req = http_on_req;

    /* the loops inherit this mask: signals are taken only by sigwait below */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);

    for (unsigned i = 0; i < nloops; i++) {
        loops[i].loop = h2o_evloop_create();
        if (pthread_create(&loops[i].thread, NULL, loop_main, &loops[i]) != 0) {
            fprintf(stderr, "strata: cannot start thread: %s\n", strerror(errno));
            abort();
        }
    }
    pthread_mutex_lock(&started_mu); /* every loop can take messages before any is sent */
    while (nstarted < nloops)
        pthread_cond_wait(&started_cv, &started_mu);
    pthread_mutex_unlock(&started_mu);
    atomic_store(&nloops_published, nloops);
    log_msg(LOG_INFO, NULL, "listening", "addr=%s loops=%u", cfg.http_addr, nloops);

    int sig = 0;
    sigwait(&set, &sig);
    log_msg(LOG_INFO, NULL, "shutting down", "signal=%s grace_ms=%lld", sig == SIGINT ? "SIGINT" : "SIGTERM",
            (long long)cfg.shutdown_grace_ms);
    for (unsigned i = 0; i < nloops; i++) {
        h2o_multithread_send_message(&loops[i].rx, &loops[i].stop_msg);
    }
    for (unsigned i = 0; i < nloops; i++)
        pthread_join(loops[i].thread, NULL);
    atomic_store(&nloops_published, 0);
    log_msg(LOG_INFO, NULL, "stopped", NULL);
    status = 0;
out:
    http_cleanup();
    return status;
}
