#include "apps/quakes/fdsn.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apps/quakes/api.h"
#include "apps/quakes/fdsn_params.h"
#include "apps/quakes/fdsn_sql.h"
#include "apps/quakes/quakeml.h"
#include "core/bodystream.h"
#include "core/config.h"
#include "core/http.h"
#include "core/jsonw.h"
#include "core/log.h"
#include "core/timefmt.h"

#define FDSN_VERSION "1.2.0"
#define FDSN_PREFIX "/fdsnws/event/1/"
#define QUAKEML_ID_BASE "smi:strata/fdsnws/event/1"

/* ---- settings ------------------------------------------------------------------------------ */

static int64_t max_events = 20000;
static int64_t page_rows = 1000;
static char *public_base; /* quakes_fdsn_base_url: "" means relative URLs */

static const struct config_setting fdsn_settings[] = {
    {"quakes_fdsn_max_events", CFG_INT, "20000", &max_events, 0, 1, 1000000, NULL,
     "most events one FDSN query may return without a limit (more matching: 413)"},
    {"quakes_fdsn_page_rows", CFG_INT, "1000", &page_rows, 0, 1, 100000, NULL,
     "rows per database round trip of a streamed FDSN answer (the most held in memory per request)"},
    {"quakes_fdsn_base_url", CFG_STRING, "", &public_base, 0, 0, 0, NULL,
     "scheme://host[:port] the FDSN documents use in URLs (WADL base, error documents); empty: relative"},
    {NULL, 0, NULL, NULL, 0, 0, 0, NULL, NULL},
};

void quakes_fdsn_register_config(void)
{
    config_register(fdsn_settings);
}

/* ---- statements ------------------------------------------------------------------------------ */

static const struct db_stmt stmt_query[QUAKE_ORDER_COUNT] = {
    [QUAKE_ORDER_TIME] = {.name = "quakes_fdsn_query_time", .sql = QUAKES_FDSN_SQL_QUERY_TIME,
                          .nparams = QUAKES_FDSN_SQL_NPARAMS, .cls = DB_FAST},
    [QUAKE_ORDER_TIME_ASC] = {.name = "quakes_fdsn_query_time_asc", .sql = QUAKES_FDSN_SQL_QUERY_TIME_ASC,
                              .nparams = QUAKES_FDSN_SQL_NPARAMS, .cls = DB_FAST},
    [QUAKE_ORDER_MAG] = {.name = "quakes_fdsn_query_mag", .sql = QUAKES_FDSN_SQL_QUERY_MAG,
                         .nparams = QUAKES_FDSN_SQL_NPARAMS, .cls = DB_FAST},
    [QUAKE_ORDER_MAG_ASC] = {.name = "quakes_fdsn_query_mag_asc", .sql = QUAKES_FDSN_SQL_QUERY_MAG_ASC,
                             .nparams = QUAKES_FDSN_SQL_NPARAMS, .cls = DB_FAST},
};
static const struct db_stmt stmt_count = {
    .name = "quakes_fdsn_count", .sql = QUAKES_FDSN_SQL_COUNT, .nparams = QUAKES_FDSN_SQL_COUNT_NPARAMS,
    .cls = DB_FAST,
};
static const struct db_stmt stmt_catalogs = {
    .name = "quakes_fdsn_catalogs", .sql = QUAKES_FDSN_SQL_CATALOGS, .nparams = 0, .cls = DB_FAST,
};
static const struct db_stmt stmt_contributors = {
    .name = "quakes_fdsn_contributors", .sql = QUAKES_FDSN_SQL_CONTRIBUTORS, .nparams = 0, .cls = DB_FAST,
};

/* Columns of the query statements (fdsn_sql.h). */
enum {
    C_ID, C_TIME, C_UPDATED, C_MAG, C_MAGTYPE, C_PLACE, C_LAT, C_LON, C_DEPTH, C_STATUS, C_TYPE, C_ALERT,
    C_TSUNAMI, C_SIG, C_FELT, C_CDI, C_MMI, C_GAP, C_NET, C_URL, C_TITLE, C_PROPERTIES, C_NST, C_DMIN, C_RMS,
    C_HERR, C_DERR, C_MERR, C_MAGNST, C_LOCSRC, C_MAGSRC,
};

/* ---- error document -------------------------------------------------------------------------- */

/* The public base (the core does not show handlers the request's authority). */
static void base_url(struct buf *out)
{
    if (public_base && public_base[0]) {
        size_t n = strlen(public_base);
        while (n && public_base[n - 1] == '/')
            n--;
        buf_append(out, public_base, n);
    }
}

static void request_url(struct buf *out, const struct http_req *r)
{
    base_url(out);
    buf_puts(out, r->route->path);
    char sep = '?';
    for (size_t i = 0; i < r->qs.n; i++) {
        buf_putc(out, sep);
        sep = '&';
        qs_escape(out, r->qs.pairs[i].key, ":,");
        buf_putc(out, '=');
        qs_escape(out, r->qs.pairs[i].value, ":,");
    }
}

static const char *status_text(int status)
{
    switch (status) {
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 413: return "Request Entity Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    default: return "Error";
    }
}

/* jsonerror=true in the raw query (read before binding, so a bad query still gets JSON). */
static bool wants_json_error(const struct http_req *r)
{
    for (size_t i = 0; i < r->qs.n; i++)
        if (!strcmp(r->qs.pairs[i].key, "jsonerror")) {
            const char *v = r->qs.pairs[i].value;
            return !strcasecmp(v, "true") || !strcmp(v, "1");
        }
    return false;
}

static void fdsn_error(struct http_req *r, int status, const char *description)
{
    struct buf b;
    buf_init(&b);
    char now[TIMEFMT_LEN];
    time_format(time_now_us(), now);
    if (wants_json_error(r)) {
        struct jsonw w;
        jsonw_init(&w, &b);
        jsonw_obj_begin(&w);
        jsonw_key(&w, "error");
        jsonw_obj_begin(&w);
        jsonw_kv_int(&w, "code", status);
        jsonw_kv_str(&w, "message", description);
        jsonw_obj_end(&w);
        jsonw_obj_end(&w);
        http_reply_json(r, status, &b);
        return;
    }
    buf_printf(&b, "Error %d: %s\n\n%s\n\nUsage details are available from ", status, status_text(status),
               description);
    base_url(&b);
    buf_puts(&b, FDSN_PREFIX "application.wadl\n\nRequest:\n");
    request_url(&b, r);
    buf_printf(&b, "\n\nRequest Submitted:\n%s\n\nService version:\n" FDSN_VERSION "\n", now);
    http_reply_buf(r, status, "text/plain; charset=utf-8", &b);
}

/* The database's failures as FDSN documents (the core's statuses and wording). */
static void fdsn_db_error(struct http_req *r, const struct db_result *res)
{
    const char *retry_after, *detail;
    int status = http_db_error_info(res, &retry_after, &detail);
    if (retry_after)
        http_add_header(r, "Retry-After", retry_after);
    fdsn_error(r, status, detail);
}

/* ---- request state ---------------------------------------------------------------------------- */

struct fdsn_state {
    struct fdsn_query q;
    struct fdsn_sql_values v;
    bool is_count;
    int64_t remaining; /* rows still to send */
    int64_t sent;
    int64_t page;      /* rows asked for by the query in flight */
    struct bodystream *bs;
    struct buf part;
};

static void state_free(void *p)
{
    struct fdsn_state *st = p;
    buf_cleanup(&st->part);
    free(st);
}

/* Reads the query; on error the FDSN error is sent and NULL returned. */
static struct fdsn_state *parse(struct http_req *r, bool is_count)
{
    struct fdsn_state *st = calloc(1, sizeof *st);
    if (!st) {
        fdsn_error(r, 500, "out of memory");
        return NULL;
    }
    buf_init(&st->part);
    r->app = st;
    r->app_free = state_free;
    st->is_count = is_count;
    char msg[512];
    int status = fdsn_query_parse(&r->qs, is_count, &st->q, msg, sizeof msg);
    if (status) {
        fdsn_error(r, status, msg);
        return NULL;
    }
    fdsn_sql_values(&st->q, &st->v);
    return st;
}

/* ---- rendering, one row at a time ------------------------------------------------------------------ */

static const char *cell(const PGresult *pg, int row, int col)
{
    return PQgetisnull(pg, row, col) ? "" : PQgetvalue(pg, row, col);
}

static const char *opt(const PGresult *pg, int row, int col)
{
    return PQgetisnull(pg, row, col) ? NULL : PQgetvalue(pg, row, col);
}

/* An int8 column (microseconds) as PostgreSQL writes it: [-]digits. */
static int64_t col_us(const PGresult *pg, int row, int col)
{
    const char *s = PQgetvalue(pg, row, col);
    bool neg = *s == '-';
    uint64_t v = 0;
    for (s += neg; *s >= '0' && *s <= '9'; s++)
        v = v * 10 + (uint64_t)(*s - '0');
    return (int64_t)(neg ? 0 - v : v); /* two's complement: no signed overflow */
}

static void put_time(struct buf *b, const PGresult *pg, int row, int col, bool zulu)
{
    char t[TIMEFMT_LEN];
    size_t n = time_format(col_us(pg, row, col), t);
    if (!zulu && n && t[n - 1] == 'Z')
        t[--n] = 0;
    buf_append(b, t, n);
}

static void put_text_field(struct buf *b, const char *s)
{
    for (; *s; s++)
        buf_putc(b, *s == '|' || *s == '\n' || *s == '\r' ? ' ' : *s);
}

static void text_row(struct buf *b, const PGresult *pg, int i)
{
    put_text_field(b, cell(pg, i, C_ID));
    buf_putc(b, '|');
    put_time(b, pg, i, C_TIME, false);
    buf_printf(b, "|%s|%s|%s|", cell(pg, i, C_LAT), cell(pg, i, C_LON), cell(pg, i, C_DEPTH));
    /* Author, Catalog, Contributor: the network of the preferred solution, as USGS writes them */
    const char *net = cell(pg, i, C_NET);
    const char *author = cell(pg, i, C_LOCSRC)[0] ? cell(pg, i, C_LOCSRC) : net;
    put_text_field(b, author);
    buf_putc(b, '|');
    put_text_field(b, net);
    buf_putc(b, '|');
    put_text_field(b, net);
    buf_putc(b, '|');
    put_text_field(b, cell(pg, i, C_ID));
    buf_putc(b, '|');
    put_text_field(b, cell(pg, i, C_MAGTYPE));
    buf_printf(b, "|%s|", cell(pg, i, C_MAG));
    put_text_field(b, cell(pg, i, C_MAGSRC)[0] ? cell(pg, i, C_MAGSRC) : net);
    buf_putc(b, '|');
    put_text_field(b, cell(pg, i, C_PLACE));
    buf_putc(b, '\n');
}

static void csv_field(struct buf *b, const char *s)
{
    if (!strpbrk(s, ",\"\r\n")) {
        buf_puts(b, s);
        return;
    }
    buf_putc(b, '"');
    for (; *s; s++) {
        if (*s == '"')
            buf_putc(b, '"');
        buf_putc(b, *s);
    }
    buf_putc(b, '"');
}

static void csv_row(struct buf *b, const PGresult *pg, int i)
{
    static const int cols[] = {C_LAT, C_LON, C_DEPTH, C_MAG, C_MAGTYPE, C_NST, C_GAP, C_DMIN, C_RMS, C_NET, C_ID};
    static const int cols2[] = {C_PLACE, C_TYPE, C_HERR, C_DERR, C_MERR, C_MAGNST, C_STATUS};
    put_time(b, pg, i, C_TIME, true);
    for (size_t k = 0; k < sizeof cols / sizeof cols[0]; k++) {
        buf_putc(b, ',');
        csv_field(b, cell(pg, i, cols[k]));
    }
    buf_putc(b, ',');
    put_time(b, pg, i, C_UPDATED, true);
    for (size_t k = 0; k < sizeof cols2 / sizeof cols2[0]; k++) {
        buf_putc(b, ',');
        csv_field(b, cell(pg, i, cols2[k]));
    }
    /* the summary feed has no locationSource/magSource: the network, as USGS fills them */
    for (int c = C_LOCSRC; c <= C_MAGSRC; c++) {
        buf_putc(b, ',');
        csv_field(b, cell(pg, i, c)[0] ? cell(pg, i, c) : cell(pg, i, C_NET));
    }
    buf_putc(b, '\n');
}

static void num(struct jsonw *w, const PGresult *pg, int row, int col)
{
    if (PQgetisnull(pg, row, col))
        jsonw_null(w);
    else
        jsonw_number_text(w, PQgetvalue(pg, row, col), (size_t)PQgetlength(pg, row, col));
}

static void geojson_row(struct buf *b, const PGresult *pg, int i, bool first)
{
    if (!first)
        buf_putc(b, ',');
    struct jsonw w;
    jsonw_init(&w, b);
    jsonw_obj_begin(&w);
    jsonw_kv_str(&w, "type", "Feature");
    jsonw_key(&w, "properties");
    if (PQgetisnull(pg, i, C_PROPERTIES))
        jsonw_null(&w);
    else
        jsonw_raw(&w, PQgetvalue(pg, i, C_PROPERTIES), (size_t)PQgetlength(pg, i, C_PROPERTIES));
    jsonw_key(&w, "geometry");
    jsonw_obj_begin(&w);
    jsonw_kv_str(&w, "type", "Point");
    jsonw_key(&w, "coordinates");
    jsonw_arr_begin(&w);
    num(&w, pg, i, C_LON);
    num(&w, pg, i, C_LAT);
    num(&w, pg, i, C_DEPTH);
    jsonw_arr_end(&w);
    jsonw_obj_end(&w);
    jsonw_kv_str(&w, "id", PQgetvalue(pg, i, C_ID));
    jsonw_obj_end(&w);
}

static void quakeml_row(struct buf *b, const PGresult *pg, int i)
{
    const char *sources = NULL; /* not selected: QuakeML needs only the preferred network */
    struct quakeml_event e = {
        .id = PQgetvalue(pg, i, C_ID),
        .time_us = col_us(pg, i, C_TIME),
        .updated_us = col_us(pg, i, C_UPDATED),
        .lat = PQgetvalue(pg, i, C_LAT),
        .lon = PQgetvalue(pg, i, C_LON),
        .depth_km = PQgetvalue(pg, i, C_DEPTH),
        .mag = opt(pg, i, C_MAG),
        .magtype = opt(pg, i, C_MAGTYPE),
        .place = opt(pg, i, C_PLACE),
        .eventtype = opt(pg, i, C_TYPE),
        .status = opt(pg, i, C_STATUS),
        .net = opt(pg, i, C_NET),
        .sources = sources,
        .nst = opt(pg, i, C_NST),
        .gap = opt(pg, i, C_GAP),
        .dmin = opt(pg, i, C_DMIN),
        .rms = opt(pg, i, C_RMS),
        .horizontal_error_km = opt(pg, i, C_HERR),
        .depth_error_km = opt(pg, i, C_DERR),
        .mag_error = opt(pg, i, C_MERR),
        .mag_nst = opt(pg, i, C_MAGNST),
        .location_source = opt(pg, i, C_LOCSRC),
        .mag_source = opt(pg, i, C_MAGSRC),
    };
    quakeml_event(b, QUAKEML_ID_BASE, &e);
}

static const char *content_type(enum fdsn_format f)
{
    switch (f) {
    case FDSN_TEXT: return "text/plain; charset=utf-8";
    case FDSN_CSV: return "text/csv; charset=utf-8";
    case FDSN_GEOJSON: return "application/json";
    default: return "application/xml";
    }
}

static void render_head(struct buf *b, enum fdsn_format f)
{
    switch (f) {
    case FDSN_TEXT:
        buf_puts(b, "#EventID|Time|Latitude|Longitude|Depth/km|Author|Catalog|Contributor|ContributorID|"
                    "MagType|Magnitude|MagAuthor|EventLocationName\n");
        break;
    case FDSN_CSV:
        buf_puts(b, "time,latitude,longitude,depth,mag,magType,nst,gap,dmin,rms,net,id,updated,place,type,"
                    "horizontalError,depthError,magError,magNst,status,locationSource,magSource\n");
        break;
    case FDSN_GEOJSON:
        buf_puts(b, "{\"type\":\"FeatureCollection\",\"features\":[");
        break;
    default:
        quakeml_begin(b, QUAKEML_ID_BASE);
        break;
    }
}

/* The end of the document; geojson's metadata comes last, when the count is known. */
static void render_tail(struct buf *b, struct http_req *r, enum fdsn_format f, int64_t count)
{
    if (f == FDSN_GEOJSON) {
        struct jsonw w;
        jsonw_init(&w, b);
        buf_puts(b, "],\"metadata\":");
        jsonw_obj_begin(&w);
        jsonw_kv_int(&w, "generated", time_now_us() / 1000);
        struct buf url;
        buf_init(&url);
        request_url(&url, r);
        jsonw_kv_str(&w, "url", url.data);
        buf_cleanup(&url);
        jsonw_kv_str(&w, "title", "Strata earthquake catalogue (FDSN)");
        jsonw_kv_int(&w, "status", 200);
        jsonw_kv_str(&w, "api", FDSN_VERSION);
        jsonw_kv_int(&w, "count", count);
        jsonw_obj_end(&w);
        buf_putc(b, '}');
    } else if (f == FDSN_XML || f == FDSN_QUAKEML) {
        quakeml_end(b);
    }
}

static void render_rows(struct buf *b, const struct fdsn_state *st, const PGresult *pg)
{
    int n = PQntuples(pg);
    for (int i = 0; i < n; i++) {
        switch (st->q.format) {
        case FDSN_TEXT: text_row(b, pg, i); break;
        case FDSN_CSV: csv_row(b, pg, i); break;
        case FDSN_GEOJSON: geojson_row(b, pg, i, st->sent == 0 && i == 0); break;
        default: quakeml_row(b, pg, i); break;
        }
    }
}

/* ---- query: page by page ------------------------------------------------------------------------- */

static void no_data(struct http_req *r, const struct fdsn_state *st)
{
    if (st->q.nodata_404)
        fdsn_error(r, 404, "no events match the request");
    else
        http_reply(r, 204, NULL, "", 0);
}

static void on_page(struct http_req *r, const struct db_result *res);

static void fetch_page(struct http_req *r, struct fdsn_state *st)
{
    st->page = st->remaining < page_rows ? st->remaining : page_rows;
    char rows[24];
    snprintf(rows, sizeof rows, "%" PRId64, st->page);
    st->v.values[47] = st->v.text[47];
    memcpy(st->v.text[47], rows, strlen(rows) + 1);
    if (http_db_query(r, &stmt_query[st->q.f.order], st->v.values, on_page) < 0 && st->bs) {
        /* the 503 could not be sent: the body had begun */
        bodystream_abort(st->bs);
        st->bs = NULL;
    }
}

static void on_more(struct bodystream *s, struct http_req *r)
{
    (void)s;
    fetch_page(r, r->app);
}

static void on_page(struct http_req *r, const struct db_result *res)
{
    struct fdsn_state *st = r->app;
    if (res->err) {
        if (!st->bs) {
            fdsn_db_error(r, res);
            return;
        }
        log_msg(LOG_ERROR, r->request_id, "FDSN answer cut short: a page query failed", "sent=%" PRId64,
                st->sent);
        bodystream_abort(st->bs);
        st->bs = NULL;
        return;
    }
    const PGresult *pg = res->res;
    int n = PQntuples(pg);
    if (!st->bs) {
        if (n == 0) {
            no_data(r, st);
            return;
        }
        st->bs = bodystream_start(r, content_type(st->q.format), true, on_more);
        if (!st->bs)
            return;
        render_head(&st->part, st->q.format);
    }
    render_rows(&st->part, st, pg);
    st->sent += n;
    st->remaining -= n;
    bool last = n < st->page || st->remaining <= 0;
    if (last) {
        render_tail(&st->part, r, st->q.format, st->sent);
        struct bodystream *bs = st->bs;
        st->bs = NULL; /* freed by the stream once written */
        bodystream_send(bs, &st->part, true);
        return;
    }
    /* the next page starts after this one's last row */
    int lastrow = n - 1;
    const char *key = st->q.f.order == QUAKE_ORDER_TIME || st->q.f.order == QUAKE_ORDER_TIME_ASC
                          ? PQgetvalue(pg, lastrow, C_TIME)
                      : PQgetisnull(pg, lastrow, C_MAG) ? "-Infinity"
                                                        : PQgetvalue(pg, lastrow, C_MAG);
    fdsn_sql_set_page(&st->v, key, PQgetvalue(pg, lastrow, C_ID), 0, 1);
    bodystream_send(st->bs, &st->part, false);
}

static void on_count(struct http_req *r, const struct db_result *res)
{
    if (res->err) {
        fdsn_db_error(r, res);
        return;
    }
    struct fdsn_state *st = r->app;
    int64_t n = strtoll(PQgetvalue(res->res, 0, 0), NULL, 10);
    if (st->is_count) {
        struct buf b;
        buf_init(&b);
        if (st->q.p[FP_FORMAT].given && st->q.format == FDSN_GEOJSON) {
            buf_printf(&b, "{\"count\":%" PRId64 ",\"maxAllowed\":%" PRId64 "}", n, max_events);
            http_reply_json(r, 200, &b);
        } else {
            buf_printf(&b, "%" PRId64 "\n", n);
            http_reply_buf(r, 200, "text/plain; charset=utf-8", &b);
        }
        return;
    }
    /* query without a usable limit: the match count decides */
    int64_t remaining = n - st->q.offset;
    if (remaining > max_events) {
        char msg[160];
        snprintf(msg, sizeof msg, "%" PRId64 " events match, more than the %" PRId64
                 " a query may return; narrow the query or use limit and offset", n, max_events);
        fdsn_error(r, 413, msg);
        return;
    }
    st->remaining = max_events;
    fetch_page(r, st);
}

static void query_handler(struct http_req *r)
{
    struct fdsn_state *st = parse(r, false);
    if (!st)
        return;
    const struct fdsn_query *q = &st->q;
    if (q->p[FP_EVENTID].present || (q->has_limit && q->limit <= max_events)) {
        st->remaining = q->has_limit ? q->limit : max_events;
        fetch_page(r, st);
        return;
    }
    (void)http_db_query(r, &stmt_count, st->v.values, on_count);
}

static void count_handler(struct http_req *r)
{
    struct fdsn_state *st = parse(r, true);
    if (!st)
        return;
    (void)http_db_query(r, &stmt_count, st->v.values, on_count);
}

/* ---- static documents ---------------------------------------------------------------------------- */

static void version_handler(struct http_req *r)
{
    http_reply(r, 200, "text/plain; charset=utf-8", FDSN_VERSION "\n", sizeof FDSN_VERSION);
}

static void xml_escape(struct buf *b, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '<': buf_puts(b, "&lt;"); break;
        case '>': buf_puts(b, "&gt;"); break;
        case '&': buf_puts(b, "&amp;"); break;
        case '"': buf_puts(b, "&quot;"); break;
        case '\'': buf_puts(b, "&apos;"); break;
        default:
            if ((unsigned char)*s >= 0x20 || *s == '\t' || *s == '\n')
                buf_putc(b, *s);
        }
    }
}

/* <Catalogs> or <Contributors>: one element per row of the statement's first column. */
static void on_name_list(struct http_req *r, const struct db_result *res, const char *list, const char *item)
{
    if (res->err) {
        fdsn_db_error(r, res);
        return;
    }
    struct buf b;
    buf_init(&b);
    buf_printf(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<%s>\n", list);
    for (int i = 0; i < PQntuples(res->res); i++) {
        buf_printf(&b, "<%s>", item);
        xml_escape(&b, PQgetvalue(res->res, i, 0));
        buf_printf(&b, "</%s>\n", item);
    }
    buf_printf(&b, "</%s>\n", list);
    http_reply_buf(r, 200, "application/xml", &b);
}

static void on_catalogs(struct http_req *r, const struct db_result *res)
{
    on_name_list(r, res, "Catalogs", "Catalog");
}

static void on_contributors(struct http_req *r, const struct db_result *res)
{
    on_name_list(r, res, "Contributors", "Contributor");
}

static void catalogs_handler(struct http_req *r)
{
    (void)http_db_query(r, &stmt_catalogs, NULL, on_catalogs);
}

static void contributors_handler(struct http_req *r)
{
    (void)http_db_query(r, &stmt_contributors, NULL, on_contributors);
}

static const char *wadl_type(const struct param_spec *s)
{
    switch (s->type) {
    case PARAM_INT: return "xs:long";
    case PARAM_FLOAT: return "xs:double";
    case PARAM_BOOL: return "xs:boolean";
    case PARAM_TIME: return "xs:dateTime";
    default: return "xs:string";
    }
}

static void wadl_params(struct buf *b)
{
    for (const struct param_spec *s = fdsn_param_specs; s->name; s++) {
        for (int k = 0; k < 2; k++) {
            const char *name = k ? s->alias : s->name;
            if (!name)
                continue;
            buf_printf(b, "    <param name=\"%s\" style=\"query\" type=\"%s\"", name, wadl_type(s));
            if (s->def) {
                buf_puts(b, " default=\"");
                xml_escape(b, s->def);
                buf_putc(b, '"');
            }
            buf_puts(b, ">\n");
            if (s->help) {
                buf_puts(b, "      <doc xml:lang=\"en\">");
                xml_escape(b, s->help);
                buf_puts(b, "</doc>\n");
            }
            if (s->type == PARAM_ENUM)
                for (const char *const *c = s->choices; *c; c++)
                    buf_printf(b, "      <option value=\"%s\"/>\n", *c);
            buf_puts(b, "    </param>\n");
        }
    }
}

static void wadl_handler(struct http_req *r)
{
    struct buf b;
    buf_init(&b);
    buf_puts(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                 "<application xmlns=\"http://wadl.dev.java.net/2009/02\" "
                 "xmlns:xs=\"http://www.w3.org/2001/XMLSchema\">\n  <resources base=\"");
    base_url(&b);
    buf_puts(&b, FDSN_PREFIX "\">\n");
    static const char *const plain[] = {"version", "catalogs", "contributors", "application.wadl", NULL};
    for (const char *const *p = plain; *p; p++)
        buf_printf(&b, "   <resource path=\"%s\"><method name=\"GET\"/></resource>\n", *p);
    static const char *const withp[] = {"query", "count", NULL};
    for (const char *const *p = withp; *p; p++) {
        buf_printf(&b, "   <resource path=\"%s\">\n   <method name=\"GET\" id=\"%s\">\n   <request>\n", *p, *p);
        wadl_params(&b);
        buf_puts(&b, "   </request>\n   </method>\n   </resource>\n");
    }
    buf_puts(&b, "  </resources>\n</application>\n");
    http_reply_buf(r, 200, "application/xml", &b);
}

/* ---- routes ------------------------------------------------------------------------------------- */

static const int errs_query[] = {400, 401, 403, 404, 413, 501, 503, 0};
static const int errs_none[] = {503, 0};

const struct route quakes_fdsn_routes[] = {
    {.method = "GET", .path = FDSN_PREFIX "version", .handler = version_handler,
     .summary = "FDSN event service version", .tag = "fdsn", .response_type = "text/plain", .errors = errs_none},
    {.method = "GET", .path = FDSN_PREFIX "catalogs", .handler = catalogs_handler,
     .summary = "FDSN catalogs: the networks of the preferred solutions (XML)", .tag = "fdsn", .response_type = "application/xml", .errors = errs_none},
    {.method = "GET", .path = FDSN_PREFIX "contributors", .handler = contributors_handler,
     .summary = "FDSN contributors: every network that contributed to an event (XML)", .tag = "fdsn",
     .response_type = "application/xml", .errors = errs_none},
    {.method = "GET", .path = FDSN_PREFIX "application.wadl", .handler = wadl_handler,
     .summary = "WADL of the FDSN event service (every query parameter)", .tag = "fdsn",
     .response_type = "application/xml", .errors = errs_none},
    {.method = "GET", .path = FDSN_PREFIX "query", .handler = query_handler, .permission = "quakes:read",
     .summary = "FDSN event query (QuakeML 1.2, text, csv, geojson; parameters in application.wadl)", .tag = "fdsn",
     .response_type = "application/xml", .errors = errs_query, .public_if = &quakes_public_read_value,
     .query = fdsn_param_specs, .flags = ROUTE_RAW_QUERY},
    {.method = "GET", .path = FDSN_PREFIX "count", .handler = count_handler, .permission = "quakes:read",
     .summary = "FDSN event count (parameters in application.wadl)", .tag = "fdsn",
     .response_type = "text/plain", .errors = errs_query, .public_if = &quakes_public_read_value,
     .query = fdsn_param_specs, .flags = ROUTE_RAW_QUERY},
    {.method = NULL},
};
