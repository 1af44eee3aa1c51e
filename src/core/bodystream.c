#include "core/bodystream.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "core/accept.h"
#include "core/http_internal.h"
#include "core/log.h"
#include "core/mem.h"

#define GZIP_LEVEL 1 /* as nginx's default: most of the saving for a fraction of the CPU */

struct bodystream {
    h2o_generator_t gen;
    struct http_req *r;
    bodystream_more_fn more;
    struct buf inflight; /* the part H2O is writing (raw or gzip-coded) */
    h2o_iovec_t vec;
    bool gzip;
    bool final_sent; /* the last part is out: the next proceed ends the response */
    bool done;
    z_stream z;
};

static void finish(struct bodystream *s)
{
    if (s->done)
        return;
    s->done = true;
    struct http_req *r = s->r;
    if (s->gzip)
        deflateEnd(&s->z);
    buf_cleanup(&s->inflight);
    free(s);
    http_release(r);
}

static void on_proceed(h2o_generator_t *gen, h2o_req_t *req)
{
    struct bodystream *s = H2O_STRUCT_FROM_MEMBER(struct bodystream, gen, gen);
    s->inflight.len = 0;
    if (s->final_sent) {
        h2o_send(req, NULL, 0, H2O_SEND_STATE_FINAL);
        finish(s);
        return;
    }
    s->more(s, s->r);
}

static void on_stop(h2o_generator_t *gen, h2o_req_t *req)
{
    (void)req;
    finish(H2O_STRUCT_FROM_MEMBER(struct bodystream, gen, gen));
}

static bool client_takes_gzip(struct http_req *r)
{
    size_t len;
    const char *v = http_header(r, "accept-encoding", &len);
    return v && accept_gzip(v, len);
}

struct bodystream *bodystream_start(struct http_req *r, const char *content_type, bool allow_gzip,
                                    bodystream_more_fn more)
{
    if (!r->req || r->responded)
        return NULL;
    struct bodystream *s = xcalloc(1, sizeof *s);
    s->gen.proceed = on_proceed;
    s->gen.stop = on_stop;
    s->r = r;
    s->more = more;
    buf_init(&s->inflight);
    if (allow_gzip && client_takes_gzip(r)) {
        /* windowBits 15 + 16: a gzip wrapper, not zlib's */
        if (deflateInit2(&s->z, GZIP_LEVEL, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) == Z_OK)
            s->gzip = true;
        else
            log_msg(LOG_WARN, r->request_id, "gzip unavailable, body sent uncompressed", "zlib=%s", zlibVersion());
    }
    http_add_header(r, "Vary", "Accept-Encoding");
    if (s->gzip)
        http_add_header(r, "Content-Encoding", "gzip");
    if (!http_stream_begin(r, content_type)) {
        if (s->gzip)
            deflateEnd(&s->z);
        free(s);
        return NULL;
    }
    http_hold(r);
    h2o_start_response(r->req, &s->gen);
    return s;
}

/* Appends the deflate output for in[0..len) to s->inflight. */
static void deflate_into(struct bodystream *s, const char *in, size_t len, int flush)
{
    s->z.next_in = (Bytef *)(uintptr_t)in;
    s->z.avail_in = (uInt)len;
    do {
        buf_reserve(&s->inflight, len / 2 + 4096);
        size_t room = s->inflight.cap - s->inflight.len;
        s->z.next_out = (Bytef *)s->inflight.data + s->inflight.len;
        s->z.avail_out = (uInt)room;
        int rc = deflate(&s->z, flush);
        s->inflight.len += room - s->z.avail_out;
        if (rc == Z_STREAM_END || rc == Z_STREAM_ERROR)
            break;
    } while (s->z.avail_out == 0 || s->z.avail_in > 0);
}

void bodystream_send(struct bodystream *s, struct buf *part, bool final)
{
    h2o_req_t *req = s->r->req;
    if (!req) {
        buf_cleanup(part);
        return;
    }
    if (s->gzip) {
        s->inflight.len = 0;
        deflate_into(s, part->data ? part->data : "", part->len, final ? Z_FINISH : Z_SYNC_FLUSH);
        part->len = 0;
    } else {
        /* swap: the producer gets the old in-flight buffer back for its next part */
        struct buf t = s->inflight;
        s->inflight = *part;
        *part = t;
        part->len = 0;
    }
    s->final_sent = final;
    s->vec = h2o_iovec_init(s->inflight.data ? s->inflight.data : "", s->inflight.len);
    /* even the last part goes out IN_PROGRESS: its bytes must stay ours until written, and
     * the FINAL (no data) follows on proceed */
    h2o_send(req, &s->vec, 1, H2O_SEND_STATE_IN_PROGRESS);
}

void bodystream_abort(struct bodystream *s)
{
    h2o_req_t *req = s->r->req;
    if (req) {
        req->http1_is_persistent = 0;
        h2o_send(req, NULL, 0, H2O_SEND_STATE_ERROR);
    }
    finish(s);
}
