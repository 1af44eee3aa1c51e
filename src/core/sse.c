#include "core/sse.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/http.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/server.h"

static int64_t heartbeat_ms, queue_limit;

static const struct config_setting sse_settings[] = {
    {"sse_heartbeat", CFG_DURATION, "15s", &heartbeat_ms, 0, 100, 3600 * 1000, NULL,
     "idle live streams get a heartbeat comment this often"},
    {"sse_queue_limit", CFG_SIZE, "1MiB", &queue_limit, 0, 1024, 1024LL * 1024 * 1024, NULL,
     "bytes queued for one slow stream before it is cut off with an overflow event"},
    {NULL, 0, NULL, NULL, 0, 0, 0, NULL, NULL},
};

void sse_register_config(void)
{
    config_register(sse_settings);
}

struct sse_msg *sse_msg_alloc(size_t len)
{
    struct sse_msg *m = xmalloc(sizeof *m + len);
    atomic_init(&m->refs, 1);
    m->len = len;
    return m;
}

struct sse_msg *sse_msg_new(const char *frame, size_t len)
{
    struct sse_msg *m = sse_msg_alloc(len);
    memcpy(m->data, frame, len);
    return m;
}

struct sse_msg *sse_msg_event(int64_t id, const char *event, const char *data, size_t data_len)
{
    char head[128];
    int hl = id >= 0 ? snprintf(head, sizeof head, "id: %lld\nevent: %s\ndata: ", (long long)id, event)
                     : snprintf(head, sizeof head, "event: %s\ndata: ", event);
    struct sse_msg *m = xmalloc(sizeof *m + (size_t)hl + data_len + 2);
    atomic_init(&m->refs, 1);
    memcpy(m->data, head, (size_t)hl);
    memcpy(m->data + hl, data, data_len);
    memcpy(m->data + (size_t)hl + data_len, "\n\n", 2);
    m->len = (size_t)hl + data_len + 2;
    return m;
}

void sse_msg_ref(struct sse_msg *m)
{
    atomic_fetch_add_explicit(&m->refs, 1, memory_order_relaxed);
}

void sse_msg_unref(struct sse_msg *m)
{
    if (m && atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel) == 1)
        free(m);
}

/* A part of a message: [off, off + len) of m, which the slice holds one reference to. */
struct sse_slice {
    struct sse_msg *m;
    size_t off, len;
};

struct sse_stream {
    h2o_generator_t gen;
    struct http_req *r;
    struct http_loop *loop;
    h2o_linklist_t link;
    struct sse_slice *queue;
    size_t nqueue, capqueue, queued_bytes;
    struct sse_slice *inflight;
    size_t ninflight, capinflight;
    h2o_iovec_t *vecs;
    size_t capvecs;
    bool writing;
    bool closing; /* send FINAL once the queue drains */
    bool done;
    uint64_t last_write;
    void (*on_close)(struct sse_stream *s, void *arg);
    void *arg;
};

static void drop_queue(struct sse_stream *s)
{
    for (size_t i = 0; i < s->nqueue; i++)
        sse_msg_unref(s->queue[i].m);
    s->nqueue = 0;
    s->queued_bytes = 0;
}

static void release_inflight(struct sse_stream *s)
{
    for (size_t i = 0; i < s->ninflight; i++)
        sse_msg_unref(s->inflight[i].m);
    s->ninflight = 0;
}

/* Ends the stream's life: callback, unlink, release the request, free. */
static void finish(struct sse_stream *s)
{
    if (s->done)
        return;
    s->done = true;
    drop_queue(s);
    release_inflight(s);
    if (s->on_close)
        s->on_close(s, s->arg);
    h2o_linklist_unlink(&s->link);
    s->loop->nstreams--;
    struct http_req *r = s->r;
    free(s->queue);
    free(s->inflight);
    free(s->vecs);
    free(s);
    http_release(r);
}

static void write_some(struct sse_stream *s)
{
    h2o_req_t *req = s->r->req;
    if (s->writing || s->done || !req)
        return;
    if (s->nqueue == 0) {
        if (s->closing) {
            req->http1_is_persistent = 0; /* an ended stream ends its connection too */
            h2o_send(req, NULL, 0, H2O_SEND_STATE_FINAL);
            finish(s);
        }
        return;
    }
    /* everything queued goes out in one write; the messages stay referenced until proceed */
    struct sse_slice *tmp = s->inflight;
    size_t tmpcap = s->capinflight;
    s->inflight = s->queue;
    s->capinflight = s->capqueue;
    s->ninflight = s->nqueue;
    s->queue = tmp;
    s->capqueue = tmpcap;
    s->nqueue = 0;
    s->queued_bytes = 0;
    if (s->capvecs < s->ninflight) {
        s->capvecs = s->ninflight;
        s->vecs = xrealloc(s->vecs, s->capvecs * sizeof *s->vecs);
    }
    for (size_t i = 0; i < s->ninflight; i++)
        s->vecs[i] = h2o_iovec_init(s->inflight[i].m->data + s->inflight[i].off, s->inflight[i].len);
    s->writing = true;
    s->last_write = h2o_now(s->loop->loop);
    h2o_send(req, s->vecs, s->ninflight, H2O_SEND_STATE_IN_PROGRESS);
}

static void on_proceed(h2o_generator_t *gen, h2o_req_t *req)
{
    struct sse_stream *s = H2O_STRUCT_FROM_MEMBER(struct sse_stream, gen, gen);
    s->writing = false;
    release_inflight(s);
    write_some(s);
}

static void on_stop(h2o_generator_t *gen, h2o_req_t *req)
{
    /* the client went away (or the connection is being closed): H2O disposes the request next */
    struct sse_stream *s = H2O_STRUCT_FROM_MEMBER(struct sse_stream, gen, gen);
    finish(s);
}

static void push(struct sse_stream *s, struct sse_msg *m, size_t off, size_t len)
{
    s->queued_bytes += len;
    if (s->nqueue > 0) {
        struct sse_slice *last = &s->queue[s->nqueue - 1];
        if (last->m == m && last->off + last->len == off) {
            last->len += len; /* the next frame of the same burst: one iovec for all of them */
            return;
        }
    }
    if (s->nqueue == s->capqueue) {
        s->capqueue = s->capqueue ? s->capqueue * 2 : 2;
        s->queue = xrealloc(s->queue, s->capqueue * sizeof *s->queue);
    }
    sse_msg_ref(m);
    s->queue[s->nqueue++] = (struct sse_slice){m, off, len};
}

bool sse_stream_queue(struct sse_stream *s, struct sse_msg *m, size_t off, size_t len)
{
    if (s->done || s->closing)
        return false;
    if (s->queued_bytes + len > (size_t)queue_limit && !s->writing && s->nqueue > 0)
        write_some(s); /* a big burst for a client that keeps up: what waits is what is bounded */
    if (s->queued_bytes + len > (size_t)queue_limit) {
        /* too slow: say so and end, rather than buffer without bound */
        drop_queue(s);
        static const char overflow[] = "event: overflow\ndata: {\"reason\":\"client too slow; reconnect with "
                                       "Last-Event-ID\"}\n\n";
        struct sse_msg *o = sse_msg_new(overflow, sizeof overflow - 1);
        push(s, o, 0, o->len);
        sse_msg_unref(o);
        log_msg(LOG_WARN, s->r->request_id, "stream cut off: client too slow", "limit_bytes=%lld",
                (long long)queue_limit);
        s->closing = true;
        write_some(s); /* queue not empty: cannot finish here */
        return false;
    }
    push(s, m, off, len);
    return true;
}

void sse_stream_flush(struct sse_stream *s)
{
    write_some(s);
}

bool sse_stream_send(struct sse_stream *s, struct sse_msg *m)
{
    if (!sse_stream_queue(s, m, 0, m->len))
        return false;
    write_some(s);
    return true;
}

void sse_stream_close(struct sse_stream *s)
{
    if (s->done || s->closing)
        return;
    s->closing = true;
    write_some(s);
}

struct http_req *sse_stream_req(struct sse_stream *s)
{
    return s->r;
}

size_t sse_stream_queued_bytes(const struct sse_stream *s)
{
    return s->queued_bytes;
}

struct sse_stream *sse_stream_start(struct http_req *r, void (*on_close)(struct sse_stream *s, void *arg), void *arg)
{
    if (!http_stream_begin(r, "text/event-stream; charset=utf-8"))
        return NULL;
    struct sse_stream *s = xcalloc(1, sizeof *s);
    s->gen.proceed = on_proceed;
    s->gen.stop = on_stop;
    s->r = r;
    s->loop = r->loop;
    s->on_close = on_close;
    s->arg = arg;
    http_hold(r);
    h2o_linklist_insert(&s->loop->streams, &s->link);
    s->loop->nstreams++;
    h2o_start_response(r->req, &s->gen);
    /* the first bytes open the stream in the browser; retry tells EventSource how long to wait */
    static const char hello[] = "retry: 2000\n: stream open\n\n";
    struct sse_msg *m = sse_msg_new(hello, sizeof hello - 1);
    push(s, m, 0, m->len);
    sse_msg_unref(m);
    write_some(s);
    return s;
}

static struct sse_msg *heartbeat;

static void make_heartbeat(void)
{
    static const char text[] = ": heartbeat\n\n";
    heartbeat = sse_msg_new(text, sizeof text - 1);
}

static struct sse_msg *heartbeat_msg(void)
{
    /* shared by every loop and never freed: one reference is never dropped */
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, make_heartbeat);
    return heartbeat;
}

static void on_heartbeat(h2o_timeout_entry_t *e)
{
    struct http_loop *L = H2O_STRUCT_FROM_MEMBER(struct http_loop, heartbeat_entry, e);
    uint64_t now = h2o_now(L->loop);
    h2o_linklist_t *node = L->streams.next;
    while (node != &L->streams) {
        struct sse_stream *s = H2O_STRUCT_FROM_MEMBER(struct sse_stream, link, node);
        node = node->next;
        if (!s->writing && !s->closing && now - s->last_write >= (uint64_t)heartbeat_ms / 2)
            sse_stream_send(s, heartbeat_msg());
    }
    h2o_timeout_link(L->loop, &L->heartbeat, &L->heartbeat_entry);
}

void sse_loop_init(struct http_loop *L)
{
    h2o_linklist_init_anchor(&L->streams);
    h2o_timeout_init(L->loop, &L->heartbeat, (uint64_t)(heartbeat_ms > 0 ? heartbeat_ms : 15000));
    L->heartbeat_entry.cb = on_heartbeat;
    h2o_timeout_link(L->loop, &L->heartbeat, &L->heartbeat_entry);
}

void sse_loop_shutdown(struct http_loop *L)
{
    static const char bye[] = "event: shutdown\ndata: {\"reason\":\"server restarting; reconnect with Last-Event-ID\"}\n\n";
    h2o_linklist_t *node = L->streams.next;
    while (node != &L->streams) {
        struct sse_stream *s = H2O_STRUCT_FROM_MEMBER(struct sse_stream, link, node);
        node = node->next;
        struct sse_msg *m = sse_msg_new(bye, sizeof bye - 1);
        sse_stream_send(s, m);
        sse_msg_unref(m);
        sse_stream_close(s);
    }
}

unsigned sse_loop_count(struct http_loop *L)
{
    return L->nstreams;
}
