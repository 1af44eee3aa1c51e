#include "apps/quakes/api.h"

#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apps/quakes/cursor.h"
#include "apps/quakes/feature.h"
#include "apps/quakes/filter.h"
#include "apps/quakes/sql.h"
#include "core/auth.h"
#include "core/config.h"
#include "core/http.h"
#include "core/jsonw.h"
#include "core/timefmt.h"

/* ---- settings ---------------------------------------------------------------------------- */

bool quakes_public_read_value = false;
static int64_t max_limit = 1000;

static const struct config_setting api_settings[] = {
    {"quakes_public_read", CFG_BOOL, "false", &quakes_public_read_value, 0, 0, 0, NULL,
     "anyone may read the earthquake catalogue without a token (else it needs quakes:read)"},
    {"quakes_max_limit", CFG_INT, "1000", &max_limit, 0, 1, 1000, NULL,
     "largest page (limit) GET /api/v1/earthquakes serves"},
    {NULL, 0, NULL, NULL, 0, 0, 0, NULL, NULL},
};

static void build_stream_params(void);

void quakes_api_register_config(void)
{
    config_register(api_settings);
    build_stream_params();
}

bool quakes_api_public_read(void)
{
    return quakes_public_read_value;
}

/* ---- cursor key ---------------------------------------------------------------------------
 * Derived once from the auth server key (STRATA_API_KEY_SECRET), so every API process signs
 * and accepts the same cursors and rotating that secret invalidates them. */

static pthread_once_t key_once = PTHREAD_ONCE_INIT;
static unsigned char cursor_key[32];

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c - 'A' + 10;
}

static void derive_cursor_key(void)
{
    char hex[65];
    auth_keyed_hash("strata:quakes:cursor:v1", hex);
    for (size_t i = 0; i < sizeof cursor_key; i++)
        cursor_key[i] = (unsigned char)(hexval(hex[2 * i]) << 4 | hexval(hex[2 * i + 1]));
}

static const unsigned char *server_cursor_key(void)
{
    pthread_once(&key_once, derive_cursor_key);
    return cursor_key;
}

/* Every id the ingest accepts fits in a cursor (and in the {id} path parameter). */
_Static_assert(QUAKE_ID_MAX <= QUAKE_CURSOR_ID_MAX, "event ids must fit in a cursor");

/* ---- statements --------------------------------------------------------------------------- */

static const struct db_stmt stmt_list[QUAKE_ORDER_COUNT] = {
    [QUAKE_ORDER_TIME] = {.name = "quakes_list_time", .sql = QUAKES_SQL_LIST_TIME,
                          .nparams = QUAKES_SQL_NPARAMS, .cls = DB_FAST},
    [QUAKE_ORDER_TIME_ASC] = {.name = "quakes_list_time_asc", .sql = QUAKES_SQL_LIST_TIME_ASC,
                              .nparams = QUAKES_SQL_NPARAMS, .cls = DB_FAST},
    [QUAKE_ORDER_MAG] = {.name = "quakes_list_mag", .sql = QUAKES_SQL_LIST_MAG,
                         .nparams = QUAKES_SQL_NPARAMS, .cls = DB_FAST},
    [QUAKE_ORDER_MAG_ASC] = {.name = "quakes_list_mag_asc", .sql = QUAKES_SQL_LIST_MAG_ASC,
                             .nparams = QUAKES_SQL_NPARAMS, .cls = DB_FAST},
};

static const struct db_stmt stmt_get = {
    .name = "quakes_get", .sql = QUAKES_SQL_GET, .nparams = 1, .cls = DB_FAST,
};

/* Columns of every statement above (QUAKES_SQL_COLUMNS, then the sort key, then properties). */
enum {
    QCOL_ID, QCOL_TIME, QCOL_UPDATED, QCOL_MAG, QCOL_MAGTYPE, QCOL_PLACE, QCOL_LAT, QCOL_LON, QCOL_DEPTH,
    QCOL_STATUS, QCOL_TYPE, QCOL_ALERT, QCOL_TSUNAMI, QCOL_SIG, QCOL_FELT, QCOL_CDI, QCOL_MMI, QCOL_GAP,
    QCOL_NET, QCOL_URL, QCOL_TITLE, QCOL_SORTKEY, QCOL_PROPERTIES,
};

/* ---- parameters of GET /api/v1/earthquakes ------------------------------------------------- */

enum {
    Q_STARTTIME, Q_ENDTIME, Q_UPDATEDAFTER, Q_MINMAG, Q_MAXMAG, Q_MINDEPTH, Q_MAXDEPTH, Q_MINLAT, Q_MAXLAT,
    Q_MINLON, Q_MAXLON, Q_LAT, Q_LON, Q_RADIUS, Q_ALERT, Q_EVENTTYPE, Q_REVIEW, Q_DELETED, Q_ORDERBY,
    Q_LIMIT, Q_CURSOR, Q_FORMAT,
};

static const char *const alert_choices[] = {"green", "yellow", "orange", "red", NULL};
static const char *const review_choices[] = {"automatic", "reviewed", NULL};
static const char *const deleted_choices[] = {"false", "true", "only", NULL};
static const char *const order_choices[] = {"time", "time-asc", "magnitude", "magnitude-asc", NULL};
static const char *const format_choices[] = {"json", "geojson", NULL};

#define FLOAT_PARAM(n, lo, hi, h)                                                                  \
    {.name = n, .type = PARAM_FLOAT, .flags = PARAM_BOUNDED, .fmin = lo, .fmax = hi, .help = h}

static const struct param_spec list_params[] = {
    [Q_STARTTIME] = {.name = "starttime", .type = PARAM_TIME,
                     .help = "events at or after this time (RFC 3339 or ISO 8601; no offset means UTC)"},
    [Q_ENDTIME] = {.name = "endtime", .type = PARAM_TIME, .help = "events at or before this time"},
    [Q_UPDATEDAFTER] = {.name = "updatedafter", .type = PARAM_TIME, .help = "events updated after this time"},
    [Q_MINMAG] = FLOAT_PARAM("minmagnitude", -10, 12, "magnitude at least this"),
    [Q_MAXMAG] = FLOAT_PARAM("maxmagnitude", -10, 12, "magnitude at most this (events without one are left out)"),
    [Q_MINDEPTH] = FLOAT_PARAM("mindepth", -100, 1000, "depth at least this many km"),
    [Q_MAXDEPTH] = FLOAT_PARAM("maxdepth", -100, 1000, "depth at most this many km"),
    [Q_MINLAT] = FLOAT_PARAM("minlatitude", -90, 90, "rectangle: southern edge (default -90)"),
    [Q_MAXLAT] = FLOAT_PARAM("maxlatitude", -90, 90, "rectangle: northern edge (default 90)"),
    [Q_MINLON] = FLOAT_PARAM("minlongitude", -360, 360,
                             "rectangle: western edge (default -180); minlongitude=170&maxlongitude=190 "
                             "crosses the antimeridian"),
    [Q_MAXLON] = FLOAT_PARAM("maxlongitude", -360, 360, "rectangle: eastern edge (default 180)"),
    [Q_LAT] = FLOAT_PARAM("latitude", -90, 90, "circle: centre latitude (with longitude and maxradiuskm)"),
    [Q_LON] = FLOAT_PARAM("longitude", -180, 180, "circle: centre longitude"),
    [Q_RADIUS] = FLOAT_PARAM("maxradiuskm", 0, 20001.6, "circle: radius in km, on the WGS 84 spheroid"),
    [Q_ALERT] = {.name = "alertlevel", .type = PARAM_ENUM, .choices = alert_choices, .help = "PAGER alert level"},
    [Q_EVENTTYPE] = {.name = "eventtype", .type = PARAM_STRING, .max_len = 64,
                     .help = "event type, e.g. earthquake, quarry blast, explosion"},
    [Q_REVIEW] = {.name = "reviewstatus", .type = PARAM_ENUM, .choices = review_choices,
                  .help = "automatic or reviewed"},
    [Q_DELETED] = {.name = "includedeleted", .type = PARAM_ENUM, .choices = deleted_choices, .def = "false",
                   .help = "false: hide deleted events; true: include them; only: only them"},
    [Q_ORDERBY] = {.name = "orderby", .type = PARAM_ENUM, .choices = order_choices, .def = "time",
                   .help = "time (newest first), time-asc, magnitude (largest first), magnitude-asc"},
    [Q_LIMIT] = {.name = "limit", .type = PARAM_INT, .flags = PARAM_BOUNDED, .imin = 1, .imax = 1000, .def = "50",
                 .help = "events per page (at most quakes_max_limit)"},
    [Q_CURSOR] = {.name = "cursor", .type = PARAM_STRING, .max_len = QUAKE_CURSOR_TEXT_MAX,
                  .help = "next_cursor of the previous page, as given (opaque; tied to orderby)"},
    [Q_FORMAT] = {.name = "format", .type = PARAM_ENUM, .choices = format_choices, .def = "json",
                  .help = "json ({data, next_cursor}) or geojson (a USGS-like FeatureCollection)"},
    {.name = NULL},
};

struct param_spec quakes_stream_params[QUAKES_FILTER_NPARAMS + 2];

static void build_stream_params(void)
{
    /* the live stream takes the list's filters (not its paging or format) and last_event_id */
    for (size_t i = 0; i < QUAKES_FILTER_NPARAMS; i++)
        quakes_stream_params[i] = list_params[i];
    quakes_stream_params[QUAKES_FILTER_NPARAMS] = (struct param_spec){
        .name = "last_event_id", .type = PARAM_INT, .flags = PARAM_BOUNDED, .imin = 0, .imax = INT64_MAX,
        .help = "resume after this event id (as the Last-Event-ID header; for clients that cannot set it)"};
    quakes_stream_params[QUAKES_FILTER_NPARAMS + 1] = (struct param_spec){.name = NULL};
}

const bool *quakes_api_public_read_flag(void)
{
    return &quakes_public_read_value;
}

_Static_assert(QUAKES_FILTER_NPARAMS == Q_DELETED + 1, "the filters are the list's first parameters");

static const struct param_spec item_path[] = {
    {.name = "id", .type = PARAM_STRING, .flags = PARAM_REQUIRED, .max_len = QUAKE_CURSOR_ID_MAX,
     .help = "USGS event id, e.g. nc73919986"},
    {.name = NULL},
};

/* ---- rendering ------------------------------------------------------------------------------ */

static bool col_null(const PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col);
}

static const char *col_text(const PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? NULL : PQgetvalue(res, row, col);
}

static int64_t col_int(const PGresult *res, int row, int col)
{
    return strtoll(PQgetvalue(res, row, col), NULL, 10);
}

static void kv_number(struct jsonw *w, const char *key, const PGresult *res, int row, int col)
{
    jsonw_key(w, key);
    if (col_null(res, row, col))
        jsonw_null(w);
    else
        jsonw_number_text(w, PQgetvalue(res, row, col), (size_t)PQgetlength(res, row, col));
}

static void kv_text(struct jsonw *w, const char *key, const PGresult *res, int row, int col)
{
    jsonw_kv_str(w, key, col_text(res, row, col));
}

/* The typed fields of one event (the members of an object already begun). */
void quakes_event_fields(struct jsonw *w, const PGresult *res, int row)
{
    kv_text(w, "id", res, row, QCOL_ID);
    jsonw_key(w, "time");
    jsonw_time(w, col_int(res, row, QCOL_TIME));
    jsonw_key(w, "updated");
    jsonw_time(w, col_int(res, row, QCOL_UPDATED));
    kv_number(w, "magnitude", res, row, QCOL_MAG);
    kv_text(w, "magtype", res, row, QCOL_MAGTYPE);
    kv_text(w, "place", res, row, QCOL_PLACE);
    kv_number(w, "latitude", res, row, QCOL_LAT);
    kv_number(w, "longitude", res, row, QCOL_LON);
    kv_number(w, "depth_km", res, row, QCOL_DEPTH);
    kv_text(w, "status", res, row, QCOL_STATUS);
    kv_text(w, "type", res, row, QCOL_TYPE);
    kv_text(w, "alert", res, row, QCOL_ALERT);
    jsonw_kv_bool(w, "tsunami", PQgetvalue(res, row, QCOL_TSUNAMI)[0] == 't');
    kv_number(w, "sig", res, row, QCOL_SIG);
    kv_number(w, "felt", res, row, QCOL_FELT);
    kv_number(w, "cdi", res, row, QCOL_CDI);
    kv_number(w, "mmi", res, row, QCOL_MMI);
    kv_number(w, "gap", res, row, QCOL_GAP);
    kv_text(w, "net", res, row, QCOL_NET);
    if (!col_null(res, row, QCOL_URL))
        kv_text(w, "url", res, row, QCOL_URL);
    kv_text(w, "title", res, row, QCOL_TITLE);
}

static void properties_raw(struct jsonw *w, const PGresult *res, int row)
{
    if (col_null(res, row, QCOL_PROPERTIES))
        jsonw_null(w);
    else
        jsonw_raw(w, PQgetvalue(res, row, QCOL_PROPERTIES), (size_t)PQgetlength(res, row, QCOL_PROPERTIES));
}

/* The request's path and query as the client sent them (decoded and encoded again), with the
 * cursor parameter replaced by cursor (or left out when cursor is NULL). */
static void request_url(struct buf *out, const struct http_req *r, const char *cursor)
{
    buf_puts(out, r->route->path);
    char sep = '?';
    for (size_t i = 0; i < r->qs.n; i++) {
        if (!strcmp(r->qs.pairs[i].key, "cursor"))
            continue;
        buf_putc(out, sep);
        sep = '&';
        qs_escape(out, r->qs.pairs[i].key, ":,");
        buf_putc(out, '=');
        qs_escape(out, r->qs.pairs[i].value, ":,");
    }
    if (cursor) {
        buf_putc(out, sep);
        buf_puts(out, "cursor=");
        qs_escape(out, cursor, ":,");
    }
}

/* The cursor after row (the last one shown). false when the row cannot be a position (an id
 * no cursor can carry, which the ingest never stores). */
static bool next_cursor(struct buf *out, enum quake_order order, const PGresult *res, int row)
{
    struct quake_cursor c = {.order = order};
    if (quake_order_is_time(order))
        c.time_us = col_int(res, row, QCOL_SORTKEY);
    else
        c.mag = strtod(PQgetvalue(res, row, QCOL_SORTKEY), NULL);
    c.id_len = (size_t)PQgetlength(res, row, QCOL_ID);
    if (c.id_len > QUAKE_CURSOR_ID_MAX)
        return false;
    memcpy(c.id, PQgetvalue(res, row, QCOL_ID), c.id_len);
    return quake_cursor_encode(&c, server_cursor_key(), sizeof cursor_key, out) == 0;
}

/* bbox [minlon, minlat, mindepth, maxlon, maxlat, maxdepth] of rows [0, n): each bound is
 * written as PostgreSQL's own text of the row that holds it. */
static void write_bbox(struct jsonw *w, const PGresult *res, int n)
{
    static const int cols[3] = {QCOL_LON, QCOL_LAT, QCOL_DEPTH};
    int lo[3] = {0, 0, 0}, hi[3] = {0, 0, 0};
    for (int c = 0; c < 3; c++) {
        double vlo = INFINITY, vhi = -INFINITY;
        for (int i = 0; i < n; i++) {
            double v = strtod(PQgetvalue(res, i, cols[c]), NULL);
            if (v < vlo) {
                vlo = v;
                lo[c] = i;
            }
            if (v > vhi) {
                vhi = v;
                hi[c] = i;
            }
        }
    }
    jsonw_key(w, "bbox");
    jsonw_arr_begin(w);
    for (int c = 0; c < 3; c++)
        jsonw_number_text(w, PQgetvalue(res, lo[c], cols[c]), (size_t)PQgetlength(res, lo[c], cols[c]));
    for (int c = 0; c < 3; c++)
        jsonw_number_text(w, PQgetvalue(res, hi[c], cols[c]), (size_t)PQgetlength(res, hi[c], cols[c]));
    jsonw_arr_end(w);
}

static void write_feature(struct jsonw *w, const PGresult *res, int row)
{
    jsonw_obj_begin(w);
    jsonw_kv_str(w, "type", "Feature");
    jsonw_key(w, "properties");
    properties_raw(w, res, row);
    jsonw_key(w, "geometry");
    jsonw_obj_begin(w);
    jsonw_kv_str(w, "type", "Point");
    jsonw_key(w, "coordinates");
    jsonw_arr_begin(w);
    jsonw_number_text(w, PQgetvalue(res, row, QCOL_LON), (size_t)PQgetlength(res, row, QCOL_LON));
    jsonw_number_text(w, PQgetvalue(res, row, QCOL_LAT), (size_t)PQgetlength(res, row, QCOL_LAT));
    jsonw_number_text(w, PQgetvalue(res, row, QCOL_DEPTH), (size_t)PQgetlength(res, row, QCOL_DEPTH));
    jsonw_arr_end(w);
    jsonw_obj_end(w);
    kv_text(w, "id", res, row, QCOL_ID);
    jsonw_obj_end(w);
}

static void on_list(struct http_req *r, const struct db_result *res)
{
    if (res->err) {
        http_reply_db_error(r, res);
        return;
    }
    const PGresult *pg = res->res;
    int64_t limit = r->params[Q_LIMIT].i;
    enum quake_order order = (enum quake_order)r->params[Q_ORDERBY].e;
    bool geojson = r->params[Q_FORMAT].e == 1;
    int n = PQntuples(pg);
    int shown = n > limit ? (int)limit : n;

    struct buf cur, b;
    buf_init(&cur);
    buf_init(&b);
    if (n > shown && shown > 0 && !next_cursor(&cur, order, pg, shown - 1)) {
        /* ending the list here would hide the rest without a word */
        buf_cleanup(&cur);
        buf_cleanup(&b);
        http_reply_problem(r, 500, "an event in this page cannot be paged past (its id is too long)");
        return;
    }
    const char *next = cur.len ? cur.data : NULL;

    struct jsonw w;
    jsonw_init(&w, &b);
    jsonw_obj_begin(&w);
    if (geojson) {
        jsonw_kv_str(&w, "type", "FeatureCollection");
        jsonw_key(&w, "metadata");
        jsonw_obj_begin(&w);
        jsonw_kv_int(&w, "generated", time_now_us() / 1000);
        struct buf url;
        buf_init(&url);
        request_url(&url, r, r->params[Q_CURSOR].present ? r->params[Q_CURSOR].s : NULL);
        jsonw_kv_str(&w, "url", url.data);
        buf_cleanup(&url);
        jsonw_kv_str(&w, "title", "Strata earthquake catalogue");
        jsonw_kv_int(&w, "status", 200);
        jsonw_kv_str(&w, "api", "v1");
        jsonw_kv_int(&w, "count", shown);
        jsonw_kv_str(&w, "next_cursor", next);
        jsonw_obj_end(&w);
        jsonw_key(&w, "features");
        jsonw_arr_begin(&w);
        for (int i = 0; i < shown; i++)
            write_feature(&w, pg, i);
        jsonw_arr_end(&w);
        if (shown > 0)
            write_bbox(&w, pg, shown);
    } else {
        jsonw_key(&w, "data");
        jsonw_arr_begin(&w);
        for (int i = 0; i < shown; i++) {
            jsonw_obj_begin(&w);
            quakes_event_fields(&w, pg, i);
            jsonw_obj_end(&w);
        }
        jsonw_arr_end(&w);
        jsonw_kv_str(&w, "next_cursor", next);
    }
    jsonw_obj_end(&w);
    if (next) {
        struct buf link;
        buf_init(&link);
        buf_putc(&link, '<');
        request_url(&link, r, next);
        buf_puts(&link, ">; rel=\"next\"");
        http_add_header(r, "Link", link.data);
        buf_cleanup(&link);
    }
    buf_cleanup(&cur);
    http_reply_json(r, 200, &b);
}

static bool param_f(const struct param_value *p, int i, double *out)
{
    if (!p[i].present)
        return false;
    *out = p[i].f;
    return true;
}

void quakes_filter_bind(const struct param_value *p, struct quake_filter *out)
{
    struct quake_filter f = {0};
    if ((f.has_start = p[Q_STARTTIME].present))
        f.start_us = p[Q_STARTTIME].i;
    if ((f.has_end = p[Q_ENDTIME].present))
        f.end_us = p[Q_ENDTIME].i;
    if ((f.has_updated = p[Q_UPDATEDAFTER].present))
        f.updated_us = p[Q_UPDATEDAFTER].i;
    f.has_minmag = param_f(p, Q_MINMAG, &f.minmag);
    f.has_maxmag = param_f(p, Q_MAXMAG, &f.maxmag);
    f.has_mindepth = param_f(p, Q_MINDEPTH, &f.mindepth);
    f.has_maxdepth = param_f(p, Q_MAXDEPTH, &f.maxdepth);
    f.has_minlat = param_f(p, Q_MINLAT, &f.minlat);
    f.has_maxlat = param_f(p, Q_MAXLAT, &f.maxlat);
    f.has_minlon = param_f(p, Q_MINLON, &f.minlon);
    f.has_maxlon = param_f(p, Q_MAXLON, &f.maxlon);
    f.has_lat = param_f(p, Q_LAT, &f.lat);
    f.has_lon = param_f(p, Q_LON, &f.lon);
    f.has_radius = param_f(p, Q_RADIUS, &f.radius_km);
    f.alert = p[Q_ALERT].present ? p[Q_ALERT].s : NULL;
    f.eventtype = p[Q_EVENTTYPE].present ? p[Q_EVENTTYPE].s : NULL;
    f.reviewstatus = p[Q_REVIEW].present ? p[Q_REVIEW].s : NULL;
    f.deleted = (enum quake_deleted)p[Q_DELETED].e;
    *out = f;
}

static void list_handler(struct http_req *r)
{
    const struct param_value *p = r->params;
    struct quake_filter f;
    quakes_filter_bind(p, &f);
    f.order = (enum quake_order)p[Q_ORDERBY].e;
    f.fetch = p[Q_LIMIT].i + 1;
    f.with_properties = p[Q_FORMAT].e == 1;

    struct params_errors errs = {.n = 0};
    quake_filter_check(&f, &errs);
    if (p[Q_LIMIT].i > max_limit)
        params_error_add(&errs, "limit", "must be at most %" PRId64 " (quakes_max_limit)", max_limit);
    struct quake_cursor after;
    bool has_after = false;
    if (p[Q_CURSOR].present) {
        const char *s = p[Q_CURSOR].s;
        if (quake_cursor_decode(s, strlen(s), server_cursor_key(), sizeof cursor_key, &after) < 0)
            params_error_add(&errs, "cursor", "not a cursor this list gave out (use next_cursor as it is)");
        else if (after.order != f.order)
            params_error_add(&errs, "cursor", "belongs to orderby=%s, not orderby=%s", quake_order_name(after.order),
                             quake_order_name(f.order));
        else
            has_after = true;
    }
    if (errs.n) {
        http_reply_problem_fields(r, 400, "invalid query parameters", errs.items, errs.n);
        return;
    }
    struct quake_sql_params sp;
    quake_filter_sql_params(&f, has_after ? &after : NULL, &sp);
    (void)http_db_query(r, &stmt_list[f.order], sp.values, on_list);
}

/* ---- GET /api/v1/earthquakes/{id} ------------------------------------------------------------- */

/* Does an If-None-Match value (a list of entity tags, or "*") match etag? Weak comparison
 * (RFC 9110 §13.1.2): W/ prefixes are ignored. */
static bool etag_matches(const char *header, size_t len, const char *etag)
{
    const char *opaque = etag[0] == 'W' ? etag + 2 : etag;
    size_t olen = strlen(opaque);
    size_t i = 0;
    while (i < len) {
        while (i < len && (header[i] == ' ' || header[i] == '\t' || header[i] == ','))
            i++;
        size_t start = i;
        if (i < len && header[i] == '*')
            return true;
        if (i + 1 < len && header[i] == 'W' && header[i + 1] == '/')
            start = i += 2;
        if (i < len && header[i] == '"') {
            i++;
            while (i < len && header[i] != '"')
                i++;
            if (i < len)
                i++;
            if (i - start == olen && !memcmp(header + start, opaque, olen))
                return true;
        } else {
            while (i < len && header[i] != ',')
                i++;
        }
    }
    return false;
}

static void on_get(struct http_req *r, const struct db_result *res)
{
    if (res->err) {
        http_reply_db_error(r, res);
        return;
    }
    const PGresult *pg = res->res;
    if (PQntuples(pg) == 0) {
        http_reply_problem(r, 404, "no such earthquake");
        return;
    }
    char etag[48];
    snprintf(etag, sizeof etag, "W/\"%" PRId64 "\"", col_int(pg, 0, QCOL_UPDATED));
    http_add_header(r, "ETag", etag);
    size_t inm_len = 0;
    const char *inm = http_header(r, "if-none-match", &inm_len);
    if (inm && etag_matches(inm, inm_len, etag)) {
        http_reply(r, 304, NULL, "", 0);
        return;
    }
    struct buf b;
    struct jsonw w;
    buf_init(&b);
    jsonw_init(&w, &b);
    jsonw_obj_begin(&w);
    quakes_event_fields(&w, pg, 0);
    jsonw_key(&w, "properties");
    properties_raw(&w, pg, 0);
    jsonw_obj_end(&w);
    http_reply_json(r, 200, &b);
}

static void get_handler(struct http_req *r)
{
    const char *vals[] = {http_path_param(r, "id")};
    (void)http_db_query(r, &stmt_get, vals, on_get);
}

/* ---- routes ---------------------------------------------------------------------------------- */

static const int errs_list[] = {400, 401, 403, 503, 0};
static const int errs_get[] = {401, 403, 404, 503, 0};

const struct route quakes_api_routes[] = {
    {.method = "GET", .path = "/api/v1/earthquakes", .handler = list_handler, .permission = "quakes:read",
     .summary = "Search the earthquake catalogue (filters, keyset paging, json or geojson)", .tag = "quakes",
     .query = list_params, .errors = errs_list, .public_if = &quakes_public_read_value},
    {.method = "GET", .path = "/api/v1/earthquakes/{id}", .handler = get_handler, .permission = "quakes:read",
     .summary = "One earthquake with every USGS property (ETag; If-None-Match gives 304)", .tag = "quakes",
     .path_params = item_path, .errors = errs_get, .public_if = &quakes_public_read_value},
    {.method = NULL},
};
