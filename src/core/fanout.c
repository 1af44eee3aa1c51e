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

/* Events published together; shared by every loop's post, freed by the last loop done with it. */
struct fanout_batch {
    atomic_int refs;
    size_t n;
    struct fanout_event *evs[];
};

struct post {
    h2o_multithread_message_t msg;
    struct fanout_topic *topic;
    struct fanout_batch *batch;
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
    ev->sse_len = sse ? sse->len : 0;
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

static void batch_unref(struct fanout_batch *b)
{
    if (atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel) != 1)
        return;
    for (size_t i = 0; i < b->n; i++)
        fanout_event_unref(b->evs[i]);
    free(b);
}

enum delivery { SKIPPED, QUEUED, ENDED };

/* Queues ev for s (SSE: without writing; the caller flushes once for everything it queued).
 * ENDED: the sink is closing and takes nothing more. It is never freed here. */
static enum delivery deliver(struct fanout_sub *s, struct fanout_event *ev)
{
    if (ev->id <= s->last_id)
        return SKIPPED; /* already sent (replay overlapped the live feed) */
    if (s->filter && !s->filter(ev, s->filter_arg))
        return SKIPPED;
    s->last_id = ev->id;
    if (s->ws) {
        if (!ev->json)
            return SKIPPED;
        return ws_send(s->ws, ev->json->data, ev->json->len) ? QUEUED : ENDED;
    }
    if (!ev->sse)
        return SKIPPED;
    return sse_stream_queue(s->stream, ev->sse, ev->sse_off, ev->sse_len) ? QUEUED : ENDED;
}

/* Holds the events of a paused subscriber. Returns false when it has just been closed for
 * holding too many (it may be gone then). */
static bool hold(struct fanout_sub *s, struct fanout_event *ev)
{
    if (s->nheld == MAX_HELD) {
        if (s->ws)
            ws_close(s->ws, 1013, "too many events while resuming");
        else
            sse_stream_close(s->stream);
        return false;
    }
    if (s->nheld == s->capheld) {
        s->capheld = s->capheld ? s->capheld * 2 : 16;
        s->held = xrealloc(s->held, s->capheld * sizeof *s->held);
    }
    atomic_fetch_add(&ev->refs, 1);
    s->held[s->nheld++] = ev;
    return true;
}

/* Every event of posts[0..n) (one topic, in order) to each of the topic's subscribers on L:
 * subscriber by subscriber, so that each stream is written once for all of them. */
static void deliver_posts(struct http_loop *L, struct post **posts, size_t n)
{
    h2o_linklist_t *anchor = &posts[0]->topic->subs[L->idx];
    for (h2o_linklist_t *node = anchor->next; node != anchor;) {
        struct fanout_sub *s = H2O_STRUCT_FROM_MEMBER(struct fanout_sub, link, node);
        node = node->next; /* a write may end the stream and unsubscribe it */
        bool paused = s->paused, queued = false, open = true;
        for (size_t i = 0; i < n && open; i++) {
            struct fanout_batch *b = posts[i]->batch;
            for (size_t k = 0; k < b->n && open; k++) {
                if (paused) {
                    open = hold(s, b->evs[k]);
                    continue;
                }
                enum delivery d = deliver(s, b->evs[k]);
                queued = queued || d == QUEUED;
                open = d != ENDED;
            }
        }
        /* last: flushing may end the stream, which frees s */
        if (queued && open && s->stream)
            sse_stream_flush(s->stream);
    }
}

void fanout_on_posts(h2o_multithread_receiver_t *rx, h2o_linklist_t *messages)
{
    struct http_loop *L = H2O_STRUCT_FROM_MEMBER(struct http_loop, fanout_rx, rx);
    struct post *one[8], **posts = one;
    size_t n = 0, cap = sizeof one / sizeof one[0];
    while (!h2o_linklist_is_empty(messages)) {
        h2o_multithread_message_t *m = H2O_STRUCT_FROM_MEMBER(h2o_multithread_message_t, link, messages->next);
        h2o_linklist_unlink(&m->link);
        if (n == cap) {
            cap *= 2;
            posts = posts == one ? memcpy(xmalloc(cap * sizeof *posts), one, sizeof one)
                                 : xrealloc(posts, cap * sizeof *posts);
        }
        posts[n++] = H2O_STRUCT_FROM_MEMBER(struct post, msg, m);
    }
    /* what arrived during one loop turn goes out together: runs of posts of the same topic */
    for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        while (j < n && posts[j]->topic == posts[i]->topic)
            j++;
        deliver_posts(L, posts + i, j - i);
        i = j;
    }
    for (size_t i = 0; i < n; i++) {
        batch_unref(posts[i]->batch);
        free(posts[i]);
    }
    if (posts != one)
        free(posts);
}

/* One message holding every frame of evs, in order; each event then refers to its part. */
static void join_frames(struct fanout_event **evs, size_t n)
{
    size_t total = 0, nsse = 0;
    for (size_t i = 0; i < n; i++)
        if (evs[i]->sse) {
            total += evs[i]->sse_len;
            nsse++;
        }
    if (nsse < 2)
        return;
    struct sse_msg *joined = sse_msg_alloc(total);
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        struct fanout_event *ev = evs[i];
        if (!ev->sse)
            continue;
        memcpy(joined->data + off, ev->sse->data + ev->sse_off, ev->sse_len);
        sse_msg_unref(ev->sse);
        sse_msg_ref(joined);
        ev->sse = joined;
        ev->sse_off = off;
        off += ev->sse_len;
    }
    sse_msg_unref(joined);
}

void fanout_publish_batch(struct fanout_topic *t, struct fanout_event **evs, size_t n)
{
    if (n == 0)
        return;
    join_frames(evs, n);
    struct fanout_batch *b = xmalloc(sizeof *b + n * sizeof *b->evs);
    atomic_init(&b->refs, 1);
    b->n = n;
    memcpy(b->evs, evs, n * sizeof *evs);
    unsigned nl = server_nloops();
    for (unsigned i = 0; i < nl && i < MAX_LOOPS; i++) {
        struct http_loop *L = server_loop(i);
        if (!L || !L->fanout_ready)
            continue;
        struct post *p = xcalloc(1, sizeof *p);
        p->topic = t;
        p->batch = b;
        atomic_fetch_add(&b->refs, 1);
        h2o_multithread_send_message(&L->fanout_rx, &p->msg);
    }
    batch_unref(b);
}

void fanout_publish(struct fanout_topic *t, struct fanout_event *ev)
{
    fanout_publish_batch(t, &ev, 1);
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
    bool open = true;
    for (size_t i = 0; i < n; i++) {
        if (open)
            open = deliver(s, held[i]) != ENDED;
        fanout_event_unref(held[i]);
    }
    free(held);
    /* what the caller queued (the replay) and the held events, in one write; last: it may end
     * the stream, which frees s */
    if (open && s->stream)
        sse_stream_flush(s->stream);
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
