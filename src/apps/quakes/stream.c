#include "apps/quakes/stream.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libpq-fe.h>

#include "apps/quakes/api.h"
#include "apps/quakes/filter.h"
#include "apps/quakes/sql.h"
#include "core/config.h"
#include "core/db.h"
#include "core/fanout.h"
#include "core/http.h"
#include "core/jsonw.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/sse.h"
#include "core/ws.h"
#include "ports/bus/bus.h"

#define REPLAY_MAX 5000 /* events a resuming client may catch up on; beyond: event reset */
#define WS_PROTOCOL "quakes.v1"

/* The change-log rows with the event as the list shows it: QUAKES_SQL_COLUMNS (QCOL order in
 * api.c: 0..20), then seq and kind. */
#define EVENTS_SQL                                                                                  \
    QUAKES_SQL_COLUMNS "e.seq, e.kind FROM quake_events e JOIN quakes ON quakes.id = e.quake_id"   \
                       " WHERE e.seq > $1::int8 ORDER BY e.seq LIMIT $2::int8"

enum { COL_ID = 0, COL_TIME = 1, COL_UPDATED = 2, COL_MAG = 3, COL_LAT = 6, COL_LON = 7, COL_DEPTH = 8,
       COL_STATUS = 9, COL_TYPE = 10, COL_ALERT = 11, COL_SEQ = 21, COL_KIND = 22 };

static const struct db_stmt stmt_events = {
    .name = "quakes_stream_events", .sql = EVENTS_SQL, .nparams = 2, .cls = DB_FAST,
};

static struct fanout_topic *topic;

/* ---- events ------------------------------------------------------------------------------ */

struct quake_summary {
    int64_t time_us, updated_us;
    bool has_mag;
    double mag, lat, lon, depth;
    bool deleted_kind;
    char status[16], type[48], alert[12];
};

static struct fanout_event *encode_row(const PGresult *res, int row)
{
    struct buf data, ws;
    struct jsonw w;
    buf_init(&data);
    jsonw_init(&w, &data);
    jsonw_obj_begin(&w);
    quakes_event_fields(&w, res, row);
    jsonw_obj_end(&w);
    int64_t seq = strtoll(PQgetvalue(res, row, COL_SEQ), NULL, 10);
    const char *kind = PQgetvalue(res, row, COL_KIND);
    buf_init(&ws);
    buf_printf(&ws, "{\"id\":%" PRId64 ",\"event\":\"%s\",\"data\":", seq, kind);
    buf_append(&ws, data.data, data.len);
    buf_putc(&ws, '}');

    struct quake_summary *q = xcalloc(1, sizeof *q);
    q->time_us = strtoll(PQgetvalue(res, row, COL_TIME), NULL, 10);
    q->updated_us = strtoll(PQgetvalue(res, row, COL_UPDATED), NULL, 10);
    q->has_mag = !PQgetisnull(res, row, COL_MAG);
    q->mag = q->has_mag ? strtod(PQgetvalue(res, row, COL_MAG), NULL) : 0;
    q->lat = strtod(PQgetvalue(res, row, COL_LAT), NULL);
    q->lon = strtod(PQgetvalue(res, row, COL_LON), NULL);
    q->depth = strtod(PQgetvalue(res, row, COL_DEPTH), NULL);
    q->deleted_kind = !strcmp(kind, "deleted");
    snprintf(q->status, sizeof q->status, "%s", PQgetvalue(res, row, COL_STATUS));
    snprintf(q->type, sizeof q->type, "%s", PQgetvalue(res, row, COL_TYPE));
    snprintf(q->alert, sizeof q->alert, "%s", PQgetisnull(res, row, COL_ALERT) ? "" : PQgetvalue(res, row, COL_ALERT));

    struct fanout_event *ev = fanout_event_new(seq, sse_msg_event(seq, kind, data.data, data.len), q, free);
    ev->json = sse_msg_new(ws.data, ws.len);
    buf_cleanup(&data);
    buf_cleanup(&ws);
    return ev;
}

/* Geodesic distance on WGS 84 (Vincenty's inverse formula), in km; falls back to the sphere
 * for nearly antipodal points where the iteration does not converge. */
static double distance_km(double lat1, double lon1, double lat2, double lon2)
{
    const double a = 6378137.0, f = 1 / 298.257223563, b = a * (1 - f), rad = M_PI / 180;
    double L = (lon2 - lon1) * rad;
    double U1 = atan((1 - f) * tan(lat1 * rad)), U2 = atan((1 - f) * tan(lat2 * rad));
    double sinU1 = sin(U1), cosU1 = cos(U1), sinU2 = sin(U2), cosU2 = cos(U2);
    double lambda = L, sigma = 0, sinSigma = 0, cosSigma = 0, cos2Alpha = 0, cos2SigmaM = 0;
    for (int i = 0; i < 200; i++) {
        double sinL = sin(lambda), cosL = cos(lambda);
        sinSigma = sqrt((cosU2 * sinL) * (cosU2 * sinL) +
                        (cosU1 * sinU2 - sinU1 * cosU2 * cosL) * (cosU1 * sinU2 - sinU1 * cosU2 * cosL));
        if (sinSigma == 0)
            return 0;
        cosSigma = sinU1 * sinU2 + cosU1 * cosU2 * cosL;
        sigma = atan2(sinSigma, cosSigma);
        double sinAlpha = cosU1 * cosU2 * sinL / sinSigma;
        cos2Alpha = 1 - sinAlpha * sinAlpha;
        cos2SigmaM = cos2Alpha != 0 ? cosSigma - 2 * sinU1 * sinU2 / cos2Alpha : 0;
        double C = f / 16 * cos2Alpha * (4 + f * (4 - 3 * cos2Alpha));
        double prev = lambda;
        lambda = L + (1 - C) * f * sinAlpha *
                         (sigma + C * sinSigma * (cos2SigmaM + C * cosSigma * (-1 + 2 * cos2SigmaM * cos2SigmaM)));
        if (fabs(lambda - prev) < 1e-12) {
            double u2 = cos2Alpha * (a * a - b * b) / (b * b);
            double A = 1 + u2 / 16384 * (4096 + u2 * (-768 + u2 * (320 - 175 * u2)));
            double B = u2 / 1024 * (256 + u2 * (-128 + u2 * (74 - 47 * u2)));
            double dSigma = B * sinSigma *
                            (cos2SigmaM + B / 4 * (cosSigma * (-1 + 2 * cos2SigmaM * cos2SigmaM) -
                                                   B / 6 * cos2SigmaM * (-3 + 4 * sinSigma * sinSigma) *
                                                       (-3 + 4 * cos2SigmaM * cos2SigmaM)));
            return b * A * (sigma - dSigma) / 1000;
        }
    }
    double dlat = (lat2 - lat1) * rad, dlon = (lon2 - lon1) * rad;
    double h = sin(dlat / 2) * sin(dlat / 2) + cos(lat1 * rad) * cos(lat2 * rad) * sin(dlon / 2) * sin(dlon / 2);
    return 2 * 6371.0088 * asin(sqrt(h));
}

struct sub_filter {
    struct quake_filter f;
    char alert[16], eventtype[72], reviewstatus[16];
};

/* The list's semantics, in C, for one event (deleted events are always told to subscribers
 * whose other filters match, so clients can drop them; includedeleted=only sends only them). */
static bool matches(const struct fanout_event *ev, void *arg)
{
    const struct quake_filter *f = &((const struct sub_filter *)arg)->f;
    const struct quake_summary *q = ev->data;
    if (f->has_start && q->time_us < f->start_us)
        return false;
    if (f->has_end && q->time_us > f->end_us)
        return false;
    if (f->has_updated && q->updated_us <= f->updated_us)
        return false;
    if (f->has_minmag && (!q->has_mag || q->mag < f->minmag))
        return false;
    if (f->has_maxmag && (!q->has_mag || q->mag > f->maxmag))
        return false;
    if (f->has_mindepth && q->depth < f->mindepth)
        return false;
    if (f->has_maxdepth && q->depth > f->maxdepth)
        return false;
    if (f->has_minlat || f->has_maxlat || f->has_minlon || f->has_maxlon) {
        struct quake_box boxes[2];
        size_t n = quake_rect_boxes(f->has_minlon ? f->minlon : -180, f->has_maxlon ? f->maxlon : 180,
                                    f->has_minlat ? f->minlat : -90, f->has_maxlat ? f->maxlat : 90, boxes);
        bool in = false;
        for (size_t i = 0; i < n; i++)
            in = in || (q->lon >= boxes[i].xmin && q->lon <= boxes[i].xmax && q->lat >= boxes[i].ymin &&
                        q->lat <= boxes[i].ymax);
        if (!in)
            return false;
    }
    if (f->has_radius && distance_km(f->lat, f->lon, q->lat, q->lon) > f->radius_km)
        return false;
    if (f->alert && strcmp(f->alert, q->alert))
        return false;
    if (f->eventtype && strcmp(f->eventtype, q->type))
        return false;
    if (f->reviewstatus && strcmp(f->reviewstatus, q->status))
        return false;
    if (f->deleted == QUAKE_DELETED_ONLY && !q->deleted_kind)
        return false;
    return true;
}

/* ---- the bus thread: new change-log rows -> one encoded event each -> every loop --------- */

static PGconn *bus_pg;
static int64_t bus_seq = -1;

static void on_bus(void *arg, const char *channel, const char *payload)
{
    char err[256];
    if (!bus_pg) {
        if (!(bus_pg = db_connect_blocking(cfg.database_url, err, sizeof err))) {
            log_msg(LOG_WARN, NULL, "quakes stream: database unavailable", "%s", err);
            return;
        }
        /* planned once per connection: every notice runs it, and a burst waits for it */
        PGresult *r = PQprepare(bus_pg, "quakes_stream_bus_events", EVENTS_SQL, 2, NULL);
        bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
        if (!ok)
            log_msg(LOG_ERROR, NULL, "quakes stream: preparing the change-log read failed", "%s",
                    PQresultErrorMessage(r));
        PQclear(r);
        if (!ok)
            goto fail;
    }
    if (bus_seq < 0) {
        PGresult *r = PQexec(bus_pg, "SELECT coalesce(max(seq), 0) FROM quake_events");
        if (PQresultStatus(r) == PGRES_TUPLES_OK)
            bus_seq = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
        PQclear(r);
        if (bus_seq < 0)
            goto fail;
        if (!payload)
            return; /* first connection: live from here */
    }
    for (;;) {
        char after[24], limit[16];
        snprintf(after, sizeof after, "%" PRId64, bus_seq);
        snprintf(limit, sizeof limit, "%d", 2000);
        const char *vals[] = {after, limit};
        PGresult *r = PQexecPrepared(bus_pg, "quakes_stream_bus_events", 2, vals, NULL, NULL, 0);
        if (PQresultStatus(r) != PGRES_TUPLES_OK) {
            log_msg(LOG_ERROR, NULL, "quakes stream: reading the change log failed", "%s", PQresultErrorMessage(r));
            PQclear(r);
            goto fail;
        }
        int n = PQntuples(r);
        /* one batch: every subscriber gets the whole read in one write */
        struct fanout_event **evs = xmalloc((size_t)(n > 0 ? n : 1) * sizeof *evs);
        for (int i = 0; i < n; i++) {
            evs[i] = encode_row(r, i);
            bus_seq = evs[i]->id;
        }
        PQclear(r);
        fanout_publish_batch(topic, evs, (size_t)n);
        free(evs);
        if (n < 2000)
            return;
    }
fail:
    PQfinish(bus_pg);
    bus_pg = NULL;
}

int quakes_stream_init(struct bus *bus)
{
    topic = fanout_topic_new("quakes");
    return bus_subscribe(bus, "quakes_events", on_bus, NULL);
}

/* ---- subscribers --------------------------------------------------------------------------- */

struct subscriber {
    struct sub_filter filter;
    struct sse_stream *sse;
    struct ws_conn *ws;
    struct fanout_sub *sub;
    struct db_query *replay;
    struct db_pool *db;
    int64_t last_id;
    char request_id[HTTP_REQUEST_ID_MAX + 1];
};

static void subscriber_free(struct subscriber *s)
{
    if (s->replay)
        db_query_abandon(s->replay);
    fanout_unsubscribe(s->sub);
    free(s);
}

/* A replayed event; SSE queues it only: fanout_resume writes it with what was held meanwhile. */
static void send_to(struct subscriber *s, const struct fanout_event *ev)
{
    if (s->ws)
        ws_send(s->ws, ev->json->data, ev->json->len);
    else
        sse_stream_queue(s->sse, ev->sse, ev->sse_off, ev->sse_len);
}

static void send_reset(struct subscriber *s)
{
    static const char reset[] = "{\"reason\":\"too far behind; reload the list, then listen again\"}";
    if (s->ws) {
        static const char msg[] = "{\"event\":\"reset\",\"data\":{\"reason\":\"too far behind; reload the list\"}}";
        ws_send(s->ws, msg, sizeof msg - 1);
    } else {
        struct sse_msg *m = sse_msg_event(-1, "reset", reset, sizeof reset - 1);
        sse_stream_send(s->sse, m);
        sse_msg_unref(m);
    }
}

static void on_replay(void *arg, const struct db_result *res)
{
    struct subscriber *s = arg;
    s->replay = NULL;
    int64_t last = s->last_id;
    if (res->err) {
        log_msg(LOG_WARN, s->request_id, "quakes stream: replay failed; continuing live", NULL);
        send_reset(s);
    } else {
        int n = PQntuples(res->res);
        for (int i = 0; i < n; i++) {
            struct fanout_event *ev = encode_row(res->res, i);
            last = ev->id;
            if (matches(ev, &s->filter))
                send_to(s, ev);
            fanout_event_unref(ev);
        }
        if (n == REPLAY_MAX)
            send_reset(s);
    }
    fanout_resume(s->sub, last);
}

static void start_replay(struct subscriber *s)
{
    char after[24], limit[16];
    snprintf(after, sizeof after, "%" PRId64, s->last_id);
    snprintf(limit, sizeof limit, "%d", REPLAY_MAX);
    const char *vals[] = {after, limit};
    if (db_query(s->db, &stmt_events, vals, on_replay, s, &s->replay) < 0) {
        s->replay = NULL;
        send_reset(s);
        fanout_resume(s->sub, s->last_id);
    }
}

/* Filters and the resume point; replies 400 and returns NULL when they are invalid. */
static struct subscriber *subscriber_new(struct http_req *r)
{
    struct subscriber *s = xcalloc(1, sizeof *s);
    quakes_filter_bind(r->params, &s->filter.f);
    struct params_errors errs = {.n = 0};
    quake_filter_check(&s->filter.f, &errs);
    if (errs.n) {
        http_reply_problem_fields(r, 400, "invalid query parameters", errs.items, errs.n);
        free(s);
        return NULL;
    }
    /* the strings point into the request's query: copy them, the subscriber outlives it */
    if (s->filter.f.alert)
        s->filter.f.alert = strncpy(s->filter.alert, s->filter.f.alert, sizeof s->filter.alert - 1);
    if (s->filter.f.eventtype)
        s->filter.f.eventtype = strncpy(s->filter.eventtype, s->filter.f.eventtype, sizeof s->filter.eventtype - 1);
    if (s->filter.f.reviewstatus)
        s->filter.f.reviewstatus =
            strncpy(s->filter.reviewstatus, s->filter.f.reviewstatus, sizeof s->filter.reviewstatus - 1);
    s->last_id = -1;
    size_t len;
    const char *h = http_header(r, "last-event-id", &len);
    if (h && len > 0 && len < 20) {
        char tmp[24];
        memcpy(tmp, h, len);
        tmp[len] = '\0';
        char *end;
        long long v = strtoll(tmp, &end, 10);
        if (*end || v < 0) {
            struct problem_field f = {"Last-Event-ID", "must be an event id this stream sent"};
            http_reply_problem_fields(r, 400, "invalid Last-Event-ID", &f, 1);
            free(s);
            return NULL;
        }
        s->last_id = v;
    } else if (r->params[QUAKES_FILTER_NPARAMS].present) {
        s->last_id = r->params[QUAKES_FILTER_NPARAMS].i;
    }
    s->db = r->db;
    snprintf(s->request_id, sizeof s->request_id, "%s", r->request_id);
    return s;
}

static void on_sse_closed(struct sse_stream *st, void *arg)
{
    subscriber_free(arg);
}

static void sse_handler(struct http_req *r)
{
    struct subscriber *s = subscriber_new(r);
    if (!s)
        return;
    s->sse = sse_stream_start(r, on_sse_closed, s);
    if (!s->sse) {
        free(s);
        return;
    }
    s->sub = fanout_subscribe(topic, s->sse, matches, &s->filter, s->last_id >= 0);
    if (s->last_id >= 0)
        start_replay(s);
}

static void on_ws_closed(struct ws_conn *c, void *arg)
{
    subscriber_free(arg);
}

static void on_ws_message(struct ws_conn *c, const char *text, size_t len, void *arg)
{
    /* the feed is one-way; the filters are fixed by the URL */
    static const char msg[] = "{\"event\":\"error\",\"data\":{\"reason\":\"this feed takes no messages\"}}";
    ws_send(c, msg, sizeof msg - 1);
}

static void ws_handler(struct http_req *r)
{
    if (!ws_is_upgrade(r)) {
        http_reply_problem(r, 400, "this is a WebSocket endpoint (subprotocol " WS_PROTOCOL ")");
        return;
    }
    struct subscriber *s = subscriber_new(r);
    if (!s)
        return;
    static const struct ws_handlers h = {on_ws_message, on_ws_closed};
    s->ws = ws_accept(r, WS_PROTOCOL, &h, s);
    if (!s->ws) {
        free(s);
        return;
    }
    s->sub = fanout_subscribe_ws(topic, s->ws, matches, &s->filter, s->last_id >= 0);
    if (s->last_id >= 0)
        start_replay(s);
}

static const int errs_stream[] = {400, 503, 0};

const struct route quakes_stream_routes[] = {
    {.method = "GET", .path = "/api/v1/earthquakes/stream", .handler = sse_handler, .permission = "quakes:read",
     .summary = "Live earthquakes (SSE): created, updated and deleted events with the list's filters; "
                "Last-Event-ID resumes",
     .tag = "quakes", .query = quakes_stream_params, .errors = errs_stream, .response_type = "text/event-stream",
     .flags = ROUTE_STREAM, .public_if = &quakes_public_read_value},
    {.method = "GET", .path = "/ws/earthquakes", .handler = ws_handler, .permission = "quakes:read",
     .summary = "Live earthquakes over WebSocket (subprotocol quakes.v1; messages {id, event, data})",
     .tag = "quakes", .query = quakes_stream_params, .errors = errs_stream, .flags = ROUTE_STREAM,
     .public_if = &quakes_public_read_value},
    {.method = NULL},
};
