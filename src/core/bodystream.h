/*
 * bodystream: a 200 response whose body is produced in parts, one part at a time, so a large
 * answer (thousands of catalogue rows) never sits whole in memory. The producer sends a part;
 * when H2O has written it, the stream asks for the next one (more), and the producer answers
 * now or later (typically after the next database query). gzip-coded (RFC 9110 §8.4.1) when
 * the caller allows it and the client's Accept-Encoding takes it; each part is flushed
 * (Z_SYNC_FLUSH) so the client can read it as soon as it arrives.
 *
 * Lifetime: the stream holds the request (http_hold). When the client leaves, the stream
 * ends without calling more again; the request's pending query is abandoned by http.c and its
 * callback never runs. The producer's state must not outlive the request (use r->app).
 */
#ifndef STRATA_BODYSTREAM_H
#define STRATA_BODYSTREAM_H

#include <stdbool.h>

#include "core/buf.h"
#include "core/http.h"

struct bodystream;

/* Called when the previous part has been written: send the next (or the final) part. */
typedef void (*bodystream_more_fn)(struct bodystream *s, struct http_req *r);

/* Starts the response (http_stream_begin, plus Content-Encoding/Vary for gzip). NULL when the
 * client is gone. Nothing is written until the first body_stream_send. */
struct bodystream *bodystream_start(struct http_req *r, const char *content_type, bool allow_gzip,
                                    bodystream_more_fn more);

/* Sends part (its contents are taken; the buf is left empty and reusable). final: the body
 * ends here and the stream is freed once written; more is not called again. At most one call
 * per more (or after start). */
void bodystream_send(struct bodystream *s, struct buf *part, bool final);

/* Ends the body early (a failed query half-way): the connection is closed without the final
 * chunk, so the client sees a truncated body rather than a short one that looks complete.
 * The stream is freed. */
void bodystream_abort(struct bodystream *s);

#endif
