#include "apps/quakes/fdsn_params.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static const char *const order_choices[] = {"time", "time-asc", "magnitude", "magnitude-asc", NULL};
static const char *const format_choices[] = {"xml", "quakeml", "text", "csv", "geojson", NULL};
static const char *const nodata_choices[] = {"204", "404", NULL};
static const char *const alert_choices[] = {"green", "yellow", "orange", "red", NULL};
static const char *const review_choices[] = {"automatic", "reviewed", NULL};
static const char *const deleted_choices[] = {"false", "true", "only", NULL};

#define FLOAT(n, a, lo, hi, h)                                                                     \
    {.name = n, .alias = a, .type = PARAM_FLOAT, .flags = PARAM_BOUNDED, .fmin = lo, .fmax = hi, .help = h}
#define INT(n, lo, hi, h)                                                                          \
    {.name = n, .type = PARAM_INT, .flags = PARAM_BOUNDED, .imin = lo, .imax = hi, .help = h}
#define STR(n, a, len, h) {.name = n, .alias = a, .type = PARAM_STRING, .max_len = len, .help = h}

const struct param_spec fdsn_param_specs[FP_COUNT_ + 1] = {
    [FP_START] = {.name = "starttime", .alias = "start", .type = PARAM_TIME, .help = "events at or after this time"},
    [FP_END] = {.name = "endtime", .alias = "end", .type = PARAM_TIME, .help = "events at or before this time"},
    [FP_MINLAT] = FLOAT("minlatitude", "minlat", -90, 90, "southern edge"),
    [FP_MAXLAT] = FLOAT("maxlatitude", "maxlat", -90, 90, "northern edge"),
    [FP_MINLON] = FLOAT("minlongitude", "minlon", -360, 360, "western edge"),
    [FP_MAXLON] = FLOAT("maxlongitude", "maxlon", -360, 360, "eastern edge"),
    [FP_LAT] = FLOAT("latitude", "lat", -90, 90, "circle centre latitude (default 0 with a radius)"),
    [FP_LON] = FLOAT("longitude", "lon", -180, 180, "circle centre longitude (default 0 with a radius)"),
    [FP_MINRADIUS] = FLOAT("minradius", NULL, 0, 180, "events at least this far from the centre, degrees"),
    [FP_MAXRADIUS] = FLOAT("maxradius", NULL, 0, 180, "events at most this far from the centre, degrees"),
    [FP_MINRADIUSKM] = FLOAT("minradiuskm", NULL, 0, 20001.6, "events at least this far from the centre, km"),
    [FP_MAXRADIUSKM] = FLOAT("maxradiuskm", NULL, 0, 20001.6, "events at most this far from the centre, km"),
    [FP_MINDEPTH] = FLOAT("mindepth", NULL, -100, 1000, "depth at least, km"),
    [FP_MAXDEPTH] = FLOAT("maxdepth", NULL, -100, 1000, "depth at most, km"),
    [FP_MINMAG] = FLOAT("minmagnitude", "minmag", -10, 12, "magnitude at least"),
    [FP_MAXMAG] = FLOAT("maxmagnitude", "maxmag", -10, 12, "magnitude at most"),
    [FP_MAGTYPE] = STR("magnitudetype", "magtype", 16, "magnitude type (ml, md, mb, mww, ...; any case)"),
    [FP_EVENTID] = STR("eventid", NULL, 64, "one event by id"),
    [FP_LIMIT] = INT("limit", 1, 1000000, "most events returned"),
    [FP_OFFSET] = {.name = "offset", .type = PARAM_INT, .flags = PARAM_BOUNDED, .imin = 1,
                   .imax = INT64_MAX / 2, .def = "1", .help = "1-based index of the first event returned"},
    [FP_ORDERBY] = {.name = "orderby", .type = PARAM_ENUM, .choices = order_choices, .def = "time",
                    .help = "time, time-asc, magnitude, magnitude-asc"},
    [FP_CATALOG] = STR("catalog", NULL, 16, "events whose preferred solution comes from this catalog (network)"),
    [FP_CONTRIBUTOR] = STR("contributor", NULL, 16, "events this network contributed to"),
    [FP_EVENTTYPE] = STR("eventtype", NULL, 64, "event type (earthquake, quarry blast, ...)"),
    [FP_REVIEW] = {.name = "reviewstatus", .type = PARAM_ENUM, .choices = review_choices,
                   .help = "automatic or reviewed"},
    [FP_ALERT] = {.name = "alertlevel", .type = PARAM_ENUM, .choices = alert_choices, .help = "PAGER alert level"},
    [FP_MINSIG] = INT("minsig", 0, 100000, "significance at least"),
    [FP_MAXSIG] = INT("maxsig", 0, 100000, "significance at most"),
    [FP_MINFELT] = INT("minfelt", 0, 100000000, "at least this many felt reports (DYFI)"),
    [FP_MINCDI] = FLOAT("mincdi", NULL, 0, 12, "community intensity (DYFI) at least"),
    [FP_MAXCDI] = FLOAT("maxcdi", NULL, 0, 12, "community intensity (DYFI) at most"),
    [FP_MINMMI] = FLOAT("minmmi", NULL, 0, 12, "instrumental intensity (ShakeMap) at least"),
    [FP_MAXMMI] = FLOAT("maxmmi", NULL, 0, 12, "instrumental intensity (ShakeMap) at most"),
    [FP_MINGAP] = FLOAT("mingap", NULL, 0, 360, "azimuthal gap at least, degrees"),
    [FP_MAXGAP] = FLOAT("maxgap", NULL, 0, 360, "azimuthal gap at most, degrees"),
    [FP_DELETED] = {.name = "includedeleted", .type = PARAM_ENUM, .choices = deleted_choices, .def = "false",
                    .help = "false, true or only"},
    [FP_UPDATED] = {.name = "updatedafter", .type = PARAM_TIME, .help = "events updated after this time"},
    [FP_FORMAT] = {.name = "format", .type = PARAM_ENUM, .choices = format_choices, .def = "xml",
                   .help = "xml (QuakeML 1.2, also quakeml), text, csv or geojson"},
    [FP_NODATA] = {.name = "nodata", .type = PARAM_ENUM, .choices = nodata_choices, .def = "204",
                   .help = "status when nothing matches"},
    [FP_ARRIVALS] = {.name = "includearrivals", .type = PARAM_BOOL, .def = "false",
                     .help = "true: 501 (no arrivals are stored)"},
    [FP_ALLORIGINS] = {.name = "includeallorigins", .type = PARAM_BOOL, .def = "false",
                       .help = "accepted; one origin per event is stored"},
    [FP_ALLMAGS] = {.name = "includeallmagnitudes", .type = PARAM_BOOL, .def = "false",
                    .help = "accepted; one magnitude per event is stored"},
    [FP_JSONERROR] = {.name = "jsonerror", .type = PARAM_BOOL, .def = "false", .help = "errors as JSON"},
    {.name = NULL},
};

static void describe(const struct params_errors *errs, char *msg, size_t msglen)
{
    size_t n = 0;
    msg[0] = 0;
    for (size_t i = 0; i < errs->n && n < msglen - 1; i++) {
        int k = snprintf(msg + n, msglen - n, "%s%s: %s", i ? "; " : "", errs->field[i], errs->message[i]);
        if (k < 0)
            break;
        n += (size_t)k;
    }
}

static void pair(struct params_errors *errs, const struct param_value *p, int lo, int hi)
{
    if (p[lo].present && p[hi].present && p[lo].f > p[hi].f)
        params_error_add(errs, fdsn_param_specs[hi].name, "must not be less than %s", fdsn_param_specs[lo].name);
}

int fdsn_query_parse(const struct qs *q, bool is_count, struct fdsn_query *out, char *msg, size_t msglen)
{
    memset(out, 0, sizeof *out);
    struct params_errors errs = {.n = 0};
    if (params_bind(fdsn_param_specs, q, out->p, &errs) < 0) {
        describe(&errs, msg, msglen);
        return 400;
    }
    const struct param_value *p = out->p;
    struct quake_filter *f = &out->f;
#define SETF(idx, has, val)                                                                          \
    if ((f->has = p[idx].present))                                                                 \
        f->val = p[idx].f;
    if ((f->has_start = p[FP_START].present))
        f->start_us = p[FP_START].i;
    if ((f->has_end = p[FP_END].present))
        f->end_us = p[FP_END].i;
    if ((f->has_updated = p[FP_UPDATED].present))
        f->updated_us = p[FP_UPDATED].i;
    SETF(FP_MINMAG, has_minmag, minmag)
    SETF(FP_MAXMAG, has_maxmag, maxmag)
    SETF(FP_MINDEPTH, has_mindepth, mindepth)
    SETF(FP_MAXDEPTH, has_maxdepth, maxdepth)
    SETF(FP_MINLAT, has_minlat, minlat)
    SETF(FP_MAXLAT, has_maxlat, maxlat)
    SETF(FP_MINLON, has_minlon, minlon)
    SETF(FP_MAXLON, has_maxlon, maxlon)
    SETF(FP_LAT, has_lat, lat)
    SETF(FP_LON, has_lon, lon)
#undef SETF
    if (p[FP_MAXRADIUS].present && p[FP_MAXRADIUSKM].present)
        params_error_add(&errs, "maxradius", "give maxradius or maxradiuskm, not both");
    if (p[FP_MINRADIUS].present && p[FP_MINRADIUSKM].present)
        params_error_add(&errs, "minradius", "give minradius or minradiuskm, not both");
    if (p[FP_MAXRADIUS].present) {
        f->has_radius = true;
        f->radius_km = p[FP_MAXRADIUS].f * FDSN_KM_PER_DEGREE;
    } else if (p[FP_MAXRADIUSKM].present) {
        f->has_radius = true;
        f->radius_km = p[FP_MAXRADIUSKM].f;
    }
    double min_km = p[FP_MINRADIUS].present ? p[FP_MINRADIUS].f * FDSN_KM_PER_DEGREE
                    : p[FP_MINRADIUSKM].present ? p[FP_MINRADIUSKM].f
                                                : 0;
    if (min_km > 0) {
        if (!f->has_radius) {
            /* maxradius defaults to 180 degrees: the whole globe around the centre */
            f->has_radius = true;
            f->radius_km = 180 * FDSN_KM_PER_DEGREE;
        } else if (min_km > f->radius_km) {
            params_error_add(&errs, p[FP_MINRADIUS].present ? "minradius" : "minradiuskm",
                             "must not be greater than the maximum radius");
        }
        out->minradius_m = min_km * 1000;
    }
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
    pair(&errs, p, FP_MINSIG, FP_MAXSIG);
    pair(&errs, p, FP_MINCDI, FP_MAXCDI);
    pair(&errs, p, FP_MINMMI, FP_MAXMMI);
    pair(&errs, p, FP_MINGAP, FP_MAXGAP);
    f->alert = p[FP_ALERT].present ? p[FP_ALERT].s : NULL;
    f->eventtype = p[FP_EVENTTYPE].present ? p[FP_EVENTTYPE].s : NULL;
    f->reviewstatus = p[FP_REVIEW].present ? p[FP_REVIEW].s : NULL;
    f->deleted = (enum quake_deleted)p[FP_DELETED].e;
    f->order = (enum quake_order)p[FP_ORDERBY].e;
    f->fetch = 1;
    quake_filter_check(f, &errs);
    if (errs.n) {
        describe(&errs, msg, msglen);
        return 400;
    }
    out->format = (enum fdsn_format)p[FP_FORMAT].e;
    out->nodata_404 = p[FP_NODATA].e == 1;
    out->has_limit = p[FP_LIMIT].present;
    out->limit = p[FP_LIMIT].i;
    out->offset = p[FP_OFFSET].i - 1;
    if (!is_count && p[FP_ARRIVALS].b) {
        snprintf(msg, msglen, "includearrivals=true is not supported (the catalogue holds no arrivals)");
        return 501;
    }
    return 0;
}

static void set_text(struct fdsn_sql_values *v, int param, const struct param_value *pv)
{
    v->values[param - 1] = pv->present ? pv->s : NULL;
}

static void set_number(struct fdsn_sql_values *v, int param, const struct param_value *pv, bool integer)
{
    if (!pv->present) {
        v->values[param - 1] = NULL;
        return;
    }
    char *t = v->text[param - 1];
    if (integer)
        snprintf(t, sizeof v->text[0], "%" PRId64, pv->i);
    else
        snprintf(t, sizeof v->text[0], "%.17g", pv->f);
    v->values[param - 1] = t;
}

void fdsn_sql_values(const struct fdsn_query *fq, struct fdsn_sql_values *v)
{
    memset(v, 0, sizeof *v);
    struct quake_sql_params base;
    quake_filter_sql_params(&fq->f, NULL, &base);
    _Static_assert(sizeof base.text[0] == sizeof v->text[0], "same text size");
    for (int i = 0; i < 30; i++) {
        if (base.values[i] == base.text[i]) {
            memcpy(v->text[i], base.text[i], sizeof v->text[i]);
            v->values[i] = v->text[i];
        } else {
            v->values[i] = base.values[i]; /* a string of fq */
        }
    }
    const struct param_value *p = fq->p;
    set_text(v, 31, &p[FP_EVENTID]);
    set_text(v, 32, &p[FP_MAGTYPE]);
    set_text(v, 33, &p[FP_CATALOG]);
    set_text(v, 34, &p[FP_CONTRIBUTOR]);
    set_number(v, 35, &p[FP_MINSIG], true);
    set_number(v, 36, &p[FP_MAXSIG], true);
    set_number(v, 37, &p[FP_MINFELT], true);
    set_number(v, 38, &p[FP_MINCDI], false);
    set_number(v, 39, &p[FP_MAXCDI], false);
    set_number(v, 40, &p[FP_MINMMI], false);
    set_number(v, 41, &p[FP_MAXMMI], false);
    set_number(v, 42, &p[FP_MINGAP], false);
    set_number(v, 43, &p[FP_MAXGAP], false);
    if (fq->minradius_m > 0) {
        snprintf(v->text[43], sizeof v->text[0], "%.17g", fq->minradius_m);
        v->values[43] = v->text[43];
    }
    v->values[48] = fq->format == FDSN_GEOJSON ? "true" : "false";
    fdsn_sql_set_page(v, NULL, NULL, fq->offset, 1);
}

void fdsn_sql_set_page(struct fdsn_sql_values *v, const char *key, const char *id, int64_t offset, int64_t rows)
{
    if (key) {
        snprintf(v->text[44], sizeof v->text[0], "%s", key);
        snprintf(v->id, sizeof v->id, "%s", id);
        v->values[44] = v->text[44];
        v->values[45] = v->id;
    } else {
        v->values[44] = v->values[45] = NULL;
    }
    snprintf(v->text[46], sizeof v->text[0], "%" PRId64, offset);
    snprintf(v->text[47], sizeof v->text[0], "%" PRId64, rows);
    v->values[46] = v->text[46];
    v->values[47] = v->text[47];
}
