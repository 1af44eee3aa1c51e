/*
 * fanout: one event to every interested live subscriber on every event loop.
 *
 * A producer (any thread: the bus listener, a handler) publishes an event — an encoded SSE
 * frame plus the app's own summary used for filtering — once; the event is reference-counted
 * and delivered to each loop through H2O's cross-thread queue; on its loop, each subscriber's
 * filter decides and the same encoded bytes are queued on its stream. Nothing is encoded per
 * subscriber.
 *
 * Bursts: a producer that has several events at once (one read of the change log) publishes
 * them as one batch. Their SSE frames are joined into one buffer, in order, and the batch is one
 * message per loop; on the loop each subscriber takes every event of everything that arrived in
 * that turn (filters, ids) and is written once: a subscriber that wants the whole burst gets it
 * as one contiguous slice, i.e. one writev with one data iovec, instead of a write per event.
 *
 * Must not: block a loop, or know what events mean.
 */
#ifndef STRATA_FANOUT_H
#define STRATA_FANOUT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct http_loop;
struct sse_msg;
struct sse_stream;

struct fanout_event {
    atomic_int refs;
    int64_t id;           /* increasing; subscribers skip ids they have already sent */
    struct sse_msg *sse;  /* encoded once, as an SSE frame: bytes [sse_off, sse_off + sse_len) */
    size_t sse_off, sse_len; /* the whole message unless it is a batch's joined frames */
    struct sse_msg *json; /* encoded once, as a WebSocket text message (may be NULL) */
    void *data;           /* the app's summary for filters; freed with free_data */
    void (*free_data)(void *data);
};

struct fanout_topic;
struct fanout_sub;

/* Subscriber filter: runs on the subscriber's loop. */
typedef bool (*fanout_filter_fn)(const struct fanout_event *ev, void *filter_arg);

struct fanout_topic *fanout_topic_new(const char *name);
/* Takes ownership of ev (refs = 1 on entry). Any thread. */
void fanout_publish(struct fanout_topic *t, struct fanout_event *ev);
/* The same for n events in increasing id order (takes ownership of each; evs itself stays the
 * caller's). Their SSE frames are joined into one message first (each ev->sse is replaced by a
 * slice of it). One producer thread per topic keeps batches in order. */
void fanout_publish_batch(struct fanout_topic *t, struct fanout_event **evs, size_t n);
struct fanout_event *fanout_event_new(int64_t id, struct sse_msg *sse, void *data, void (*free_data)(void *));
void fanout_event_unref(struct fanout_event *ev);

/* On the stream's loop. While paused, events are held (up to a bound) instead of sent, so a
 * subscriber can replay history first and then resume without gaps or duplicates: events with
 * id <= the last id it sent are skipped. */
struct fanout_sub *fanout_subscribe(struct fanout_topic *t, struct sse_stream *s, fanout_filter_fn filter,
                                    void *filter_arg, bool paused);
/* The same for a WebSocket connection (receives ev->json). */
struct ws_conn;
struct fanout_sub *fanout_subscribe_ws(struct fanout_topic *t, struct ws_conn *ws, fanout_filter_fn filter,
                                       void *filter_arg, bool paused);
void fanout_resume(struct fanout_sub *sub, int64_t last_sent_id);
void fanout_unsubscribe(struct fanout_sub *sub);
unsigned fanout_subscribers(struct fanout_topic *t);

/* server.c registers this as each loop's fanout receiver callback. */
struct st_h2o_multithread_receiver_t;
struct st_h2o_linklist_t;
void fanout_on_posts(struct st_h2o_multithread_receiver_t *rx, struct st_h2o_linklist_t *messages);

#endif
