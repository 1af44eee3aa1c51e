#include "core/fanout.h"

#include <stdlib.h>
#include <string.h>

#include "core/http.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/server.h"
#include "core/sse.h"
#include "core/ws.h"

#define MAX_LOOPS 256
#define MAX_HELD 10000

struct fanout_topic {
    char *name;
    h2o_linklist_t subs[MAX_LOOPS]; /* per loop; touched only by that loop */
    atomic_uint nsubs;
};

struct fanout_sub {
    struct fanout_topic *topic;
    struct sse_stream *stream; /* one of the two sinks */
    struct ws_conn *ws;
    h2o_linklist_t link;
    fanout_filter_fn filter;
    void *filter_arg;
    bool paused;
    int64_t last_id;
    struct fanout_event **held;
    size_t nheld, capheld;
};

struct post {
    h2o_multithread_message_t msg;
    struct fanout_topic *topic;
    struct fanout_event *ev;
};

struct fanout_topic *fanout_topic_new(const char *name)
{
    struct fanout_topic *t = xcalloc(1, sizeof *t);
    t->name = xstrdup(name);
    for (int i = 0; i < MAX_LOOPS; i++)
        h2o_linklist_init_anchor(&t->subs[i]);
    return t;
}

struct fanout_event *fanout_event_new(int64_t id, struct sse_msg *sse, void *data, void (*free_data)(void *))
{
    struct fanout_event *ev = xcalloc(1, sizeof *ev);
    atomic_init(&ev->refs, 1);
    ev->id = id;
    ev->sse = sse;
    ev->data = data;
    ev->free_data = free_data;
    return ev;
}

void fanout_event_unref(struct fanout_event *ev)
{
    if (!ev || atomic_fetch_sub_explicit(&ev->refs, 1, memory_order_acq_rel) != 1)
        return;
    sse_msg_unref(ev->sse);
    sse_msg_unref(ev->json);
    if (ev->free_data)
        ev->free_data(ev->data);
    free(ev);
}

static void deliver(struct fanout_sub *s, struct fanout_event *ev)
{
    if (ev->id <= s->last_id)
        return; /* already sent (replay overlapped the live feed) */
    if (s->filter && !s->filter(ev, s->filter_arg))
        return;
    s->last_id = ev->id;
    if (s->ws) {
        if (ev->json)
            ws_send(s->ws, ev->json->data, ev->json->len);
    } else {
        sse_stream_send(s->stream, ev->sse);
    }
}

void fanout_on_posts(h2o_multithread_receiver_t *rx, h2o_linklist_t *messages)
{
    struct http_loop *L = H2O_STRUCT_FROM_MEMBER(struct http_loop, fanout_rx, rx);
    while (!h2o_linklist_is_empty(messages)) {
        h2o_multithread_message_t *m = H2O_STRUCT_FROM_MEMBER(h2o_multithread_message_t, link, messages->next);
        h2o_linklist_unlink(&m->link);
        struct post *p = H2O_STRUCT_FROM_MEMBER(struct post, msg, m);
        h2o_linklist_t *anchor = &p->topic->subs[L->idx];
        for (h2o_linklist_t *n = anchor->next; n != anchor;) {
            struct fanout_sub *s = H2O_STRUCT_FROM_MEMBER(struct fanout_sub, link, n);
            n = n->next; /* delivering may end the stream and unsubscribe it */
            if (s->paused) {
                if (s->nheld == MAX_HELD) {
                    if (s->ws)
                        ws_close(s->ws, 1013, "too many events while resuming");
                    else
                        sse_stream_close(s->stream);
                    continue;
                }
                if (s->nheld == s->capheld) {
                    s->capheld = s->capheld ? s->capheld * 2 : 16;
                    s->held = xrealloc(s->held, s->capheld * sizeof *s->held);
                }
                atomic_fetch_add(&p->ev->refs, 1);
                s->held[s->nheld++] = p->ev;
                continue;
            }
            deliver(s, p->ev);
        }
        fanout_event_unref(p->ev);
        free(p);
    }
}

void fanout_publish(struct fanout_topic *t, struct fanout_event *ev)
{
    unsigned n = server_nloops();
    for (unsigned i = 0; i < n && i < MAX_LOOPS; i++) {
        struct http_loop *L = server_loop(i);
        if (!L || !L->fanout_ready)
            continue;
        struct post *p = xcalloc(1, sizeof *p);
        p->topic = t;
        p->ev = ev;
        atomic_fetch_add(&ev->refs, 1);
        h2o_multithread_send_message(&L->fanout_rx, &p->msg);
    }
    fanout_event_unref(ev);
}

static struct fanout_sub *subscribe(struct fanout_topic *t, struct http_loop *L, fanout_filter_fn filter,
                                    void *filter_arg, bool paused);

struct fanout_sub *fanout_subscribe(struct fanout_topic *t, struct sse_stream *stream, fanout_filter_fn filter,
                                    void *filter_arg, bool paused)
{
    struct fanout_sub *s = subscribe(t, sse_stream_req(stream)->loop, filter, filter_arg, paused);
    s->stream = stream;
    return s;
}

struct fanout_sub *fanout_subscribe_ws(struct fanout_topic *t, struct ws_conn *ws, fanout_filter_fn filter,
                                       void *filter_arg, bool paused)
{
    struct fanout_sub *s = subscribe(t, ws_loop(ws), filter, filter_arg, paused);
    s->ws = ws;
    return s;
}

static struct fanout_sub *subscribe(struct fanout_topic *t, struct http_loop *L, fanout_filter_fn filter,
                                    void *filter_arg, bool paused)
{
    struct fanout_sub *s = xcalloc(1, sizeof *s);
    s->topic = t;
    s->filter = filter;
    s->filter_arg = filter_arg;
    s->paused = paused;
    s->last_id = -1;
    h2o_linklist_insert(&t->subs[L->idx], &s->link);
    atomic_fetch_add(&t->nsubs, 1);
    return s;
}

void fanout_resume(struct fanout_sub *s, int64_t last_sent_id)
{
    if (last_sent_id > s->last_id)
        s->last_id = last_sent_id;
    s->paused = false;
    size_t n = s->nheld;
    struct fanout_event **held = s->held;
    s->held = NULL;
    s->nheld = s->capheld = 0;
    for (size_t i = 0; i < n; i++) {
        deliver(s, held[i]);
        fanout_event_unref(held[i]);
    }
    free(held);
}

void fanout_unsubscribe(struct fanout_sub *s)
{
    if (!s)
        return;
    h2o_linklist_unlink(&s->link);
    atomic_fetch_sub(&s->topic->nsubs, 1);
    for (size_t i = 0; i < s->nheld; i++)
        fanout_event_unref(s->held[i]);
    free(s->held);
    free(s);
}

unsigned fanout_subscribers(struct fanout_topic *t)
{
    return atomic_load(&t->nsubs);
}
