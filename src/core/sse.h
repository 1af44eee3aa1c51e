/*
 * sse: Server-Sent Events streams (text/event-stream) on H2O, with fan-out in mind.
 *
 * A message is encoded once ("id: 7\nevent: created\ndata: {...}\n\n") into a reference-counted
 * sse_msg and queued on any number of streams, on any loop; each stream writes what it has
 * queued when H2O says the previous write is done (generator proceed), so a slow client only
 * grows its own queue. A stream queues slices (message, offset, length): a burst of events
 * joined into one message (fanout does this) and queued in order becomes one contiguous slice,
 * so the whole burst leaves in one writev with one iovec, whatever the number of events.
 * When what waits behind a write in flight passes sse_queue_limit bytes, the client is too
 * slow: its queue is dropped, a final "event: overflow" tells it to reconnect with
 * Last-Event-ID, and the stream ends, instead of buffering without bound (a stream holds at
 * most one write in flight plus sse_queue_limit bytes). Idle streams get a
 * heartbeat comment every sse_heartbeat, which is also how a vanished client is noticed.
 *
 * Must not: know what the events mean (apps encode them) or block.
 */
#ifndef STRATA_SSE_H
#define STRATA_SSE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct http_req;
struct http_loop;
struct sse_stream;

struct sse_msg {
    atomic_int refs;
    size_t len;
    char data[]; /* the complete SSE frame(s) */
};

/* A message of len bytes for the caller to fill; refs = 1. */
struct sse_msg *sse_msg_alloc(size_t len);
/* A message holding a copy of the frame text; refs = 1. */
struct sse_msg *sse_msg_new(const char *frame, size_t len);
/* Formats "id: <id>\nevent: <event>\ndata: <data>\n\n" (id omitted when < 0; data must not
 * contain newlines — JSON from jsonw never does). */
struct sse_msg *sse_msg_event(int64_t id, const char *event, const char *data, size_t data_len);
void sse_msg_ref(struct sse_msg *m);
void sse_msg_unref(struct sse_msg *m);

void sse_register_config(void);

/* Starts the stream: 200, text/event-stream, no-cache, the request id; the request is then
 * owned by the stream. on_close runs once, on the request's loop, when the stream ends for
 * any reason (client gone, overflow, sse_stream_close); after it returns the stream is freed.
 * Returns NULL (and has answered 503) if the stream cannot start. */
struct sse_stream *sse_stream_start(struct http_req *r, void (*on_close)(struct sse_stream *s, void *arg), void *arg);
/* Queues a message (takes a reference) and writes it if no write is in flight. Returns false
 * when the stream is closing. */
bool sse_stream_send(struct sse_stream *s, struct sse_msg *m);
/* Queues bytes [off, off + len) of m without writing (sse_stream_flush writes); a slice that
 * continues the previous one in the same message extends it. Returns false when the stream is
 * closing (or has just been cut off for overflow, which is written at once). Never ends the
 * stream synchronously. */
bool sse_stream_queue(struct sse_stream *s, struct sse_msg *m, size_t off, size_t len);
/* Writes what is queued, unless a write is in flight (then proceed will). May end the stream
 * (and run on_close) when it is closing and nothing is left. */
void sse_stream_flush(struct sse_stream *s);
/* Ends the stream after what is queued has been written. */
void sse_stream_close(struct sse_stream *s);
struct http_req *sse_stream_req(struct sse_stream *s);
size_t sse_stream_queued_bytes(const struct sse_stream *s);

/* Per loop: heartbeats (server.c calls these). */
void sse_loop_init(struct http_loop *L);
unsigned sse_loop_count(struct http_loop *L);
/* Shutdown: every stream on the loop ends cleanly after what is queued. */
void sse_loop_shutdown(struct http_loop *L);

#endif
