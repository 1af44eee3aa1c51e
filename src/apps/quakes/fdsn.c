#include "apps/quakes/fdsn.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apps/quakes/api.h"
#include "apps/quakes/fdsn_sql.h"
#include "apps/quakes/filter.h"
#include "core/config.h"
#include "core/http.h"
#include "core/jsonw.h"
#include "core/timefmt.h"

#define FDSN_VERSION "1.2.0"
#define FDSN_PREFIX "/fdsnws/event/1/"
#define KM_PER_DEGREE 111.19492664455873

/* ---- settings ------------------------------------------------------------------------------ */

static int64_t max_events = 20000;
static char *public_base; /* quakes_fdsn_base_url: "" means relative URLs */

static const struct config_setting fdsn_settings[] = {
    {"quakes_fdsn_max_events", CFG_INT, "20000", &max_events, 0, 1, 1000000, NULL,
     "most events one FDSN query may return without a limit (more matching: 413)"},
    {"quakes_fdsn_base_url", CFG_STRING, "", &public_base, 0, 0, 0, NULL,
     "scheme://host[:port] the FDSN documents use in URLs (WADL base, error documents); empty: relative"},
    {NULL, 0, NULL, NULL, 0, 0, 0, NULL, NULL},
};

static void build_route_params(void);

void quakes_fdsn_register_config(void)
{
    config_register(fdsn_settings);
    build_route_params();
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
static const struct db_stmt stmt_contributors = {
    .name = "quakes_fdsn_contributors", .sql = QUAKES_FDSN_SQL_CONTRIBUTORS, .nparams = 0, .cls = DB_FAST,
};

enum {
    C_ID, C_TIME, C_UPDATED, C_MAG, C_MAGTYPE, C_PLACE, C_LAT, C_LON, C_DEPTH, C_STATUS, C_TYPE, C_ALERT,
    C_TSUNAMI, C_SIG, C_FELT, C_CDI, C_MMI, C_GAP, C_NET, C_URL, C_TITLE, C_PROPERTIES, C_NST, C_DMIN, C_RMS,
    C_HERR, C_DERR, C_MERR, C_MAGNST, C_LOCSRC, C_MAGSRC,
};

/* ---- parameters ------------------------------------------------------------------------------ */

enum {
    F_START, F_END, F_MINLAT, F_MAXLAT, F_MINLON, F_MAXLON, F_LAT, F_LON, F_MINRADIUS, F_MAXRADIUS,
    F_MINRADIUSKM, F_MAXRADIUSKM, F_MINDEPTH, F_MAXDEPTH, F_MINMAG, F_MAXMAG, F_EVENTID, F_LIMIT, F_OFFSET,
    F_ORDERBY, F_EVENTTYPE, F_REVIEW, F_ALERT, F_DELETED, F_UPDATED, F_FORMAT, F_NODATA, F_ARRIVALS,
    F_ALLORIGINS, F_ALLMAGS, F_JSONERROR, F_COUNT_
};

static const char *const order_choices[] = {"time", "time-asc", "magnitude", "magnitude-asc", NULL};
static const char *const format_choices[] = {"text", "geojson", "csv", "xml", "quakeml", NULL};
static const char *const nodata_choices[] = {"204", "404", NULL};
static const char *const alert_choices[] = {"green", "yellow", "orange", "red", NULL};
static const char *const review_choices[] = {"automatic", "reviewed", NULL};
static const char *const deleted_choices[] = {"false", "true", "only", NULL};
enum { FMT_TEXT, FMT_GEOJSON, FMT_CSV, FMT_XML, FMT_QUAKEML };

#define FP(n, a, lo, hi, h)                                                                        \
    {.name = n, .alias = a, .type = PARAM_FLOAT, .flags = PARAM_BOUNDED, .fmin = lo, .fmax = hi, .help = h}

static const struct param_spec fdsn_params[] = {
    [F_START] = {.name = "starttime", .alias = "start", .type = PARAM_TIME, .help = "events at or after this time"},
    [F_END] = {.name = "endtime", .alias = "end", .type = PARAM_TIME, .help = "events at or before this time"},
    [F_MINLAT] = FP("minlatitude", "minlat", -90, 90, "southern edge"),
    [F_MAXLAT] = FP("maxlatitude", "maxlat", -90, 90, "northern edge"),
    [F_MINLON] = FP("minlongitude", "minlon", -360, 360, "western edge"),
    [F_MAXLON] = FP("maxlongitude", "maxlon", -360, 360, "eastern edge"),
    [F_LAT] = FP("latitude", "lat", -90, 90, "circle centre latitude"),
    [F_LON] = FP("longitude", "lon", -180, 180, "circle centre longitude"),
    [F_MINRADIUS] = FP("minradius", NULL, 0, 180, "inner radius in degrees (only 0 is supported)"),
    [F_MAXRADIUS] = FP("maxradius", NULL, 0, 180, "radius in degrees"),
    [F_MINRADIUSKM] = FP("minradiuskm", NULL, 0, 20001.6, "inner radius in km (only 0 is supported)"),
    [F_MAXRADIUSKM] = FP("maxradiuskm", NULL, 0, 20001.6, "radius in km"),
    [F_MINDEPTH] = FP("mindepth", NULL, -100, 1000, "depth at least, km"),
    [F_MAXDEPTH] = FP("maxdepth", NULL, -100, 1000, "depth at most, km"),
    [F_MINMAG] = FP("minmagnitude", "minmag", -10, 12, "magnitude at least"),
    [F_MAXMAG] = FP("maxmagnitude", "maxmag", -10, 12, "magnitude at most"),
    [F_EVENTID] = {.name = "eventid", .type = PARAM_STRING, .max_len = 64, .help = "one event by id"},
    [F_LIMIT] = {.name = "limit", .type = PARAM_INT, .flags = PARAM_BOUNDED, .imin = 1, .imax = 1000000,
                 .help = "most events returned"},
    [F_OFFSET] = {.name = "offset", .type = PARAM_INT, .flags = PARAM_BOUNDED, .imin = 1, .imax = INT64_MAX / 2,
                  .def = "1", .help = "1-based index of the first event returned"},
    [F_ORDERBY] = {.name = "orderby", .type = PARAM_ENUM, .choices = order_choices, .def = "time",
                   .help = "time, time-asc, magnitude, magnitude-asc"},
    [F_EVENTTYPE] = {.name = "eventtype", .type = PARAM_STRING, .max_len = 64, .help = "event type"},
    [F_REVIEW] = {.name = "reviewstatus", .type = PARAM_ENUM, .choices = review_choices, .help = "review status"},
    [F_ALERT] = {.name = "alertlevel", .type = PARAM_ENUM, .choices = alert_choices, .help = "PAGER alert level"},
    [F_DELETED] = {.name = "includedeleted", .type = PARAM_ENUM, .choices = deleted_choices, .def = "false",
                   .help = "false, true or only"},
    [F_UPDATED] = {.name = "updatedafter", .type = PARAM_TIME, .help = "events updated after this time"},
    [F_FORMAT] = {.name = "format", .type = PARAM_ENUM, .choices = format_choices, .def = "text",
                  .help = "text, geojson or csv (xml/quakeml: 501, not implemented)"},
    [F_NODATA] = {.name = "nodata", .type = PARAM_ENUM, .choices = nodata_choices, .def = "204",
                  .help = "status when nothing matches"},
    [F_ARRIVALS] = {.name = "includearrivals", .type = PARAM_BOOL, .def = "false", .help = "true: 501"},
    [F_ALLORIGINS] = {.name = "includeallorigins", .type = PARAM_BOOL, .def = "false", .help = "accepted, no effect"},
    [F_ALLMAGS] = {.name = "includeallmagnitudes", .type = PARAM_BOOL, .def = "false",
                   .help = "accepted, no effect"},
    [F_JSONERROR] = {.name = "jsonerror", .type = PARAM_BOOL, .def = "false", .help = "errors as JSON"},
    {.name = NULL},
};
_Static_assert(sizeof fdsn_params / sizeof fdsn_params[0] == F_COUNT_ + 1, "one spec per F_ index");

/* What the route declares to the core: the same names, every one a plain string, so the core
 * passes them through and the handler's own params_bind (fdsn_params) answers type and range
 * errors with the FDSN error document. The core still rejects an unknown parameter (with
 * problem+json naming it) before the handler runs: a route without a .query spec accepts no
 * parameter at all. The OpenAPI document lists the names; the WADL has their real types. */
static struct param_spec fdsn_route_params[F_COUNT_ + 1];

static void build_route_params(void)
{
    for (size_t i = 0; i < F_COUNT_; i++)
        fdsn_route_params[i] = (struct param_spec){.name = fdsn_params[i].name, .alias = fdsn_params[i].alias,
                                                   .type = PARAM_STRING, .max_len = 256,
                                                   .help = fdsn_params[i].help};
    fdsn_route_params[F_COUNT_] = (struct param_spec){.name = NULL};
}

/* ---- error document -------------------------------------------------------------------------- */

static void url_escape(struct buf *out, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || strchr("-._~:,", c)) {
            buf_putc(out, (char)c);
        } else {
            buf_putc(out, '%');
            buf_putc(out, hex[c >> 4]);
            buf_putc(out, hex[c & 15]);
        }
    }
}

/* The public base (the core does not show handlers the request's authority). */
static void base_url(struct buf *out, const struct http_req *r)
{
    (void)r;
    if (public_base && public_base[0]) {
        size_t n = strlen(public_base);
        while (n && public_base[n - 1] == '/')
            n--;
        buf_append(out, public_base, n);
    }
}

static void request_url(struct buf *out, const struct http_req *r)
{
    base_url(out, r);
    buf_puts(out, r->route->path);
    char sep = '?';
    for (size_t i = 0; i < r->qs.n; i++) {
        buf_putc(out, sep);
        sep = '&';
        url_escape(out, r->qs.pairs[i].key);
        buf_putc(out, '=');
        url_escape(out, r->qs.pairs[i].value);
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
    base_url(&b, r);
    buf_puts(&b, FDSN_PREFIX "application.wadl\n\nRequest:\n");
    request_url(&b, r);
    buf_printf(&b, "\n\nRequest Submitted:\n%s\n\nService version:\n" FDSN_VERSION "\n", now);
    http_reply_buf(r, status, "text/plain; charset=utf-8", &b);
}

static void fdsn_db_error(struct http_req *r, const struct db_result *res)
{
    http_reply_db_error(r, res);
}

/* ---- request state ---------------------------------------------------------------------------- */

struct fdsn_state {
    struct param_value p[F_COUNT_];
    struct quake_filter f;
    struct quake_sql_params sp;
    const char *values[QUAKES_FDSN_SQL_NPARAMS];
    char offset_text[24], limit_text[24];
    int64_t limit; /* rows to fetch */
    bool is_count;
};

static void state_free(void *p)
{
    free(p);
}

/* Binds and checks the query; on error the FDSN error is sent and NULL returned. */
static struct fdsn_state *parse(struct http_req *r, bool is_count)
{
    struct fdsn_state *st = calloc(1, sizeof *st);
    if (!st) {
        fdsn_error(r, 500, "out of memory");
        return NULL;
    }
    r->app = st;
    r->app_free = state_free;
    st->is_count = is_count;
    struct params_errors errs = {.n = 0};
    char msg[512];
    if (params_bind(fdsn_params, &r->qs, st->p, &errs) < 0) {
        size_t n = 0;
        msg[0] = 0;
        for (size_t i = 0; i < errs.n && n < sizeof msg - 1; i++)
            n += (size_t)snprintf(msg + n, sizeof msg - n, "%s%s: %s", i ? "; " : "", errs.field[i], errs.message[i]);
        fdsn_error(r, 400, msg);
        return NULL;
    }
    const struct param_value *p = st->p;
    struct quake_filter *f = &st->f;
#define SETF(idx, has, val)                                                                          \
    if ((f->has = p[idx].present))                                                                 \
        f->val = p[idx].f;
    if ((f->has_start = p[F_START].present))
        f->start_us = p[F_START].i;
    if ((f->has_end = p[F_END].present))
        f->end_us = p[F_END].i;
    if ((f->has_updated = p[F_UPDATED].present))
        f->updated_us = p[F_UPDATED].i;
    SETF(F_MINMAG, has_minmag, minmag)
    SETF(F_MAXMAG, has_maxmag, maxmag)
    SETF(F_MINDEPTH, has_mindepth, mindepth)
    SETF(F_MAXDEPTH, has_maxdepth, maxdepth)
    SETF(F_MINLAT, has_minlat, minlat)
    SETF(F_MAXLAT, has_maxlat, maxlat)
    SETF(F_MINLON, has_minlon, minlon)
    SETF(F_MAXLON, has_maxlon, maxlon)
    SETF(F_LAT, has_lat, lat)
    SETF(F_LON, has_lon, lon)
#undef SETF
    if (p[F_MAXRADIUS].present && p[F_MAXRADIUSKM].present)
        params_error_add(&errs, "maxradius", "give maxradius or maxradiuskm, not both");
    if (p[F_MAXRADIUS].present) {
        f->has_radius = true;
        f->radius_km = p[F_MAXRADIUS].f * KM_PER_DEGREE;
    } else if (p[F_MAXRADIUSKM].present) {
        f->has_radius = true;
        f->radius_km = p[F_MAXRADIUSKM].f;
    }
    if ((p[F_MINRADIUS].present && p[F_MINRADIUS].f > 0) || (p[F_MINRADIUSKM].present && p[F_MINRADIUSKM].f > 0))
        params_error_add(&errs, p[F_MINRADIUS].present ? "minradius" : "minradiuskm",
                         "a minimum radius above 0 is not supported");
    /* FDSN: latitude/longitude default to 0 when a radius is given */
    if (f->has_radius) {
        if (!f->has_lat) {
            f->has_lat = true;
            f->lat = 0;
        }
        if (!f->has_lon) {
            f->has_lon = true;
            f->lon = 0;
        }
    } else if (f->has_lat || f->has_lon) {
        /* a centre without a radius: the whole globe (maxradius defaults to 180) */
        f->has_lat = f->has_lon = false;
    }
    f->alert = p[F_ALERT].present ? p[F_ALERT].s : NULL;
    f->eventtype = p[F_EVENTTYPE].present ? p[F_EVENTTYPE].s : NULL;
    f->reviewstatus = p[F_REVIEW].present ? p[F_REVIEW].s : NULL;
    f->deleted = (enum quake_deleted)p[F_DELETED].e;
    f->order = (enum quake_order)p[F_ORDERBY].e;
    f->fetch = 1;
    quake_filter_check(f, &errs);
    if (errs.n) {
        size_t n = 0;
        msg[0] = 0;
        for (size_t i = 0; i < errs.n && n < sizeof msg - 1; i++)
            n += (size_t)snprintf(msg + n, sizeof msg - n, "%s%s: %s", i ? "; " : "", errs.field[i], errs.message[i]);
        fdsn_error(r, 400, msg);
        return NULL;
    }
    if (!is_count) {
        int fmt = p[F_FORMAT].e;
        if (fmt == FMT_XML || fmt == FMT_QUAKEML) {
            fdsn_error(r, 501, "format=xml (QuakeML) is not implemented; use format=text, csv or geojson");
            return NULL;
        }
        if (p[F_ARRIVALS].b) {
            fdsn_error(r, 501, "includearrivals=true is not supported (the catalogue holds no arrivals)");
            return NULL;
        }
    }
    quake_filter_sql_params(f, NULL, &st->sp);
    for (int i = 0; i < QUAKES_FDSN_SQL_COUNT_NPARAMS - 1; i++)
        st->values[i] = st->sp.values[i];
    st->values[QUAKES_FDSN_SQL_COUNT_NPARAMS - 1] = p[F_EVENTID].present ? p[F_EVENTID].s : NULL;
    return st;
}

/* ---- rendering -------------------------------------------------------------------------------- */

static const char *cell(const PGresult *pg, int row, int col)
{
    return PQgetisnull(pg, row, col) ? "" : PQgetvalue(pg, row, col);
}

static void put_time(struct buf *b, const PGresult *pg, int row, int col, bool zulu)
{
    char t[TIMEFMT_LEN];
    size_t n = time_format(strtoll(PQgetvalue(pg, row, col), NULL, 10), t);
    if (!zulu && n && t[n - 1] == 'Z')
        t[--n] = 0;
    buf_append(b, t, n);
}

static void put_text_field(struct buf *b, const char *s)
{
    for (; *s; s++)
        buf_putc(b, *s == '|' || *s == '\n' || *s == '\r' ? ' ' : *s);
}

static void render_text(struct buf *b, const PGresult *pg)
{
    buf_puts(b, "#EventID|Time|Latitude|Longitude|Depth/km|Author|Catalog|Contributor|ContributorID|MagType|"
                "Magnitude|MagAuthor|EventLocationName\n");
    int n = PQntuples(pg);
    for (int i = 0; i < n; i++) {
        put_text_field(b, cell(pg, i, C_ID));
        buf_putc(b, '|');
        put_time(b, pg, i, C_TIME, false);
        buf_printf(b, "|%s|%s|%s|", cell(pg, i, C_LAT), cell(pg, i, C_LON), cell(pg, i, C_DEPTH));
        put_text_field(b, cell(pg, i, C_NET));
        buf_puts(b, "|strata|");
        put_text_field(b, cell(pg, i, C_NET));
        buf_putc(b, '|');
        put_text_field(b, cell(pg, i, C_ID));
        buf_putc(b, '|');
        put_text_field(b, cell(pg, i, C_MAGTYPE));
        buf_printf(b, "|%s|", cell(pg, i, C_MAG));
        put_text_field(b, cell(pg, i, C_MAGSRC)[0] ? cell(pg, i, C_MAGSRC) : cell(pg, i, C_NET));
        buf_putc(b, '|');
        put_text_field(b, cell(pg, i, C_PLACE));
        buf_putc(b, '\n');
    }
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

static void render_csv(struct buf *b, const PGresult *pg)
{
    buf_puts(b, "time,latitude,longitude,depth,mag,magType,nst,gap,dmin,rms,net,id,updated,place,type,"
                "horizontalError,depthError,magError,magNst,status,locationSource,magSource\n");
    static const int cols[] = {C_LAT, C_LON, C_DEPTH, C_MAG, C_MAGTYPE, C_NST, C_GAP, C_DMIN, C_RMS, C_NET, C_ID};
    static const int cols2[] = {C_PLACE, C_TYPE, C_HERR, C_DERR, C_MERR, C_MAGNST, C_STATUS};
    int n = PQntuples(pg);
    for (int i = 0; i < n; i++) {
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
}

static void num(struct jsonw *w, const PGresult *pg, int row, int col)
{
    if (PQgetisnull(pg, row, col))
        jsonw_null(w);
    else
        jsonw_number_text(w, PQgetvalue(pg, row, col), (size_t)PQgetlength(pg, row, col));
}

static void render_geojson(struct buf *b, struct http_req *r, const PGresult *pg,
                           int count)
{
    struct jsonw w;
    jsonw_init(&w, b);
    jsonw_obj_begin(&w);
    jsonw_kv_str(&w, "type", "FeatureCollection");
    jsonw_key(&w, "metadata");
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
    jsonw_key(&w, "features");
    jsonw_arr_begin(&w);
    int n = PQntuples(pg);
    for (int i = 0; i < n; i++) {
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
    jsonw_arr_end(&w);
    jsonw_obj_end(&w);
}

static void no_data(struct http_req *r, const struct fdsn_state *st)
{
    if (st->p[F_NODATA].e == 1)
        fdsn_error(r, 404, "no events match the request");
    else
        http_reply(r, 204, NULL, "", 0);
}

static void on_query(struct http_req *r, const struct db_result *res)
{
    if (res->err) {
        fdsn_db_error(r, res);
        return;
    }
    struct fdsn_state *st = r->app;
    const PGresult *pg = res->res;
    int n = PQntuples(pg);
    if (n == 0) {
        no_data(r, st);
        return;
    }
    struct buf b;
    buf_init(&b);
    switch (st->p[F_FORMAT].e) {
    case FMT_GEOJSON:
        render_geojson(&b, r, pg, n);
        http_reply_buf(r, 200, "application/json", &b);
        break;
    case FMT_CSV:
        render_csv(&b, pg);
        http_reply_buf(r, 200, "text/csv; charset=utf-8", &b);
        break;
    default:
        render_text(&b, pg);
        http_reply_buf(r, 200, "text/plain; charset=utf-8", &b);
        break;
    }
}

static void run_query(struct http_req *r, struct fdsn_state *st, int64_t limit)
{
    const struct param_value *p = st->p;
    int64_t offset = p[F_OFFSET].i - 1;
    snprintf(st->offset_text, sizeof st->offset_text, "%" PRId64, offset);
    snprintf(st->limit_text, sizeof st->limit_text, "%" PRId64, limit);
    st->values[30] = st->offset_text;
    st->values[31] = st->limit_text;
    st->values[32] = p[F_EVENTID].present ? p[F_EVENTID].s : NULL;
    (void)http_db_query(r, &stmt_query[st->f.order], st->values, on_query);
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
        if (st->p[F_FORMAT].present && st->p[F_FORMAT].e == FMT_GEOJSON) {
            buf_printf(&b, "{\"count\":%" PRId64 ",\"maxAllowed\":%" PRId64 "}", n, max_events);
            http_reply_json(r, 200, &b);
        } else {
            buf_printf(&b, "%" PRId64 "\n", n);
            http_reply_buf(r, 200, "text/plain; charset=utf-8", &b);
        }
        return;
    }
    /* query without a usable limit: the match count decides */
    int64_t remaining = n - (st->p[F_OFFSET].i - 1);
    if (remaining > max_events) {
        char msg[160];
        snprintf(msg, sizeof msg, "%" PRId64 " events match, more than the %" PRId64
                 " a query may return; narrow the query or use limit and offset", n, max_events);
        fdsn_error(r, 413, msg);
        return;
    }
    run_query(r, st, max_events);
}

static void query_handler(struct http_req *r)
{
    struct fdsn_state *st = parse(r, false);
    if (!st)
        return;
    const struct param_value *p = st->p;
    if (p[F_EVENTID].present || (p[F_LIMIT].present && p[F_LIMIT].i <= max_events)) {
        run_query(r, st, p[F_LIMIT].present ? p[F_LIMIT].i : max_events);
        return;
    }
    (void)http_db_query(r, &stmt_count, st->values, on_count);
}

static void count_handler(struct http_req *r)
{
    struct fdsn_state *st = parse(r, true);
    if (!st)
        return;
    (void)http_db_query(r, &stmt_count, st->values, on_count);
}

/* ---- static documents ---------------------------------------------------------------------------- */

static void version_handler(struct http_req *r)
{
    http_reply(r, 200, "text/plain; charset=utf-8", FDSN_VERSION "\n", sizeof FDSN_VERSION);
}

static void catalogs_handler(struct http_req *r)
{
    static const char doc[] = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                              "<Catalogs>\n<Catalog>strata</Catalog>\n</Catalogs>\n";
    http_reply(r, 200, "application/xml", doc, sizeof doc - 1);
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

static void on_contributors(struct http_req *r, const struct db_result *res)
{
    if (res->err) {
        fdsn_db_error(r, res);
        return;
    }
    struct buf b;
    buf_init(&b);
    buf_puts(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Contributors>\n");
    for (int i = 0; i < PQntuples(res->res); i++) {
        buf_puts(&b, "<Contributor>");
        xml_escape(&b, PQgetvalue(res->res, i, 0));
        buf_puts(&b, "</Contributor>\n");
    }
    buf_puts(&b, "</Contributors>\n");
    http_reply_buf(r, 200, "application/xml", &b);
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
    for (const struct param_spec *s = fdsn_params; s->name; s++) {
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
    base_url(&b, r);
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
     .summary = "FDSN catalogs (XML)", .tag = "fdsn", .response_type = "application/xml", .errors = errs_none},
    {.method = "GET", .path = FDSN_PREFIX "contributors", .handler = contributors_handler,
     .summary = "FDSN contributors: the networks in the catalogue (XML)", .tag = "fdsn",
     .response_type = "application/xml", .errors = errs_none},
    {.method = "GET", .path = FDSN_PREFIX "application.wadl", .handler = wadl_handler,
     .summary = "WADL of the FDSN event service (every query parameter)", .tag = "fdsn",
     .response_type = "application/xml", .errors = errs_none},
    {.method = "GET", .path = FDSN_PREFIX "query", .handler = query_handler, .permission = "quakes:read",
     .summary = "FDSN event query (text, csv, geojson; parameters in application.wadl)", .tag = "fdsn",
     .response_type = "text/plain", .errors = errs_query, .public_if = &quakes_public_read_value,
     .query = fdsn_route_params},
    {.method = "GET", .path = FDSN_PREFIX "count", .handler = count_handler, .permission = "quakes:read",
     .summary = "FDSN event count (parameters in application.wadl)", .tag = "fdsn",
     .response_type = "text/plain", .errors = errs_query, .public_if = &quakes_public_read_value,
     .query = fdsn_route_params},
    {.method = NULL},
};
