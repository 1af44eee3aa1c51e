#include "apps/quakes/filter.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/timefmt.h"

/* WGS 84: the shortest degree of latitude (at the equator, meridional radius a(1-e^2)) and a
 * degree of longitude on the equator (a = 6378.137 km); a parallel at latitude phi is at
 * least a*cos(phi) from the axis, so a degree of longitude there is at least 111.3195*cos(phi). */
#define KM_PER_DEG_LAT_MIN 110.574
#define KM_PER_DEG_LON_EQ 111.3195
#define BOX_MARGIN 1.001   /* relative */
#define BOX_EPSILON 1e-9   /* degrees, for radius 0 */

/* One min/max pair: name the parameter the client gave (the max one when both were). */
static void check_pair(struct params_errors *errs, bool has_min, double min, bool has_max, double max,
                       const char *min_name, const char *max_name, double def_min, double def_max)
{
    if (!has_min && !has_max)
        return;
    double lo = has_min ? min : def_min, hi = has_max ? max : def_max;
    if (lo <= hi)
        return;
    if (has_min && has_max)
        params_error_add(errs, max_name, "must not be less than %s (%g)", min_name, lo);
    else if (has_min)
        params_error_add(errs, min_name, "must not be greater than %s (%g when absent)", max_name, hi);
    else
        params_error_add(errs, max_name, "must not be less than %s (%g when absent)", min_name, lo);
}

size_t quake_filter_check(const struct quake_filter *f, struct params_errors *errs)
{
    size_t before = errs->n;
    if (f->has_start && f->has_end && f->start_us > f->end_us)
        params_error_add(errs, "endtime", "must not be before starttime");
    check_pair(errs, f->has_minmag, f->minmag, f->has_maxmag, f->maxmag, "minmagnitude", "maxmagnitude",
               -INFINITY, INFINITY);
    check_pair(errs, f->has_mindepth, f->mindepth, f->has_maxdepth, f->maxdepth, "mindepth", "maxdepth",
               -INFINITY, INFINITY);
    check_pair(errs, f->has_minlat, f->minlat, f->has_maxlat, f->maxlat, "minlatitude", "maxlatitude", -90, 90);
    check_pair(errs, f->has_minlon, f->minlon, f->has_maxlon, f->maxlon, "minlongitude", "maxlongitude", -180,
               180);
    if (f->has_lat || f->has_lon || f->has_radius) {
#define CIRCLE_MSG "is required with %s (a circle needs latitude, longitude and maxradiuskm)"
        const char *given = f->has_radius ? "maxradiuskm" : f->has_lat ? "latitude" : "longitude";
        if (!f->has_lat)
            params_error_add(errs, "latitude", CIRCLE_MSG, given);
        if (!f->has_lon)
            params_error_add(errs, "longitude", CIRCLE_MSG, given);
        if (!f->has_radius)
            params_error_add(errs, "maxradiuskm", CIRCLE_MSG, given);
#undef CIRCLE_MSG
    }
    if (f->deleted == QUAKE_DELETED_ONLY && f->reviewstatus)
        params_error_add(errs, "reviewstatus", "deleted events have no review status: not with includedeleted=only");
    return errs->n - before;
}

static struct quake_box box(double xmin, double ymin, double xmax, double ymax)
{
    return (struct quake_box){xmin, ymin, xmax, ymax};
}

size_t quake_rect_boxes(double minlon, double maxlon, double minlat, double maxlat, struct quake_box out[2])
{
    double width = maxlon - minlon;
    if (!(width < 360)) {
        out[0] = box(-180, minlat, 180, maxlat);
        return 1;
    }
    double a = minlon;
    while (a < -180)
        a += 360;
    while (a >= 180)
        a -= 360;
    double b = maxlon + (a - minlon);
    if (b >= 180) {
        out[0] = box(a, minlat, 180, maxlat);
        out[1] = box(-180, minlat, b - 360, maxlat);
        return 2;
    }
    out[0] = box(a, minlat, b, maxlat);
    if (a == -180) {
        out[1] = box(180, minlat, 180, maxlat);
        return 2;
    }
    return 1;
}

size_t quake_circle_boxes(double lat, double lon, double radius_km, struct quake_box out[2])
{
    double dlat = radius_km / KM_PER_DEG_LAT_MIN * BOX_MARGIN + BOX_EPSILON;
    double lo = lat - dlat, hi = lat + dlat;
    if (lo <= -90 || hi >= 90) {
        out[0] = box(-180, fmax(lo, -90), 180, fmin(hi, 90));
        return 1;
    }
    double phimax = fmax(fabs(lo), fabs(hi)) * M_PI / 180;
    double dlon = radius_km / (KM_PER_DEG_LON_EQ * cos(phimax)) * BOX_MARGIN + BOX_EPSILON;
    if (!(dlon < 180)) {
        out[0] = box(-180, lo, 180, hi);
        return 1;
    }
    double a = lon - dlon, b = lon + dlon;
    if (a <= -180) {
        out[0] = box(a + 360, lo, 180, hi);
        out[1] = box(-180, lo, b, hi);
        return 2;
    }
    if (b >= 180) {
        out[0] = box(a, lo, 180, hi);
        out[1] = box(-180, lo, b - 360, hi);
        return 2;
    }
    out[0] = box(a, lo, b, hi);
    return 1;
}

/* ---- statement parameters --------------------------------------------------------------- */

enum {
    P_START = 0, P_END, P_UPDATED, P_MINMAG, P_MAXMAG, P_MINDEPTH, P_MAXDEPTH,
    P_RECT_A = 7, P_RECT_B = 11, P_CIRCLE_A = 15, P_CIRCLE_B = 19,
    P_LON = 23, P_LAT, P_METRES, P_ALERT, P_EVENTTYPE, P_REVIEW, P_DELETED,
    P_AFTER_KEY, P_AFTER_ID, P_FETCH, P_PROPS,
};
_Static_assert(P_PROPS + 1 == QUAKES_SQL_NPARAMS, "sql.h and filter.c disagree on the parameters");

static void set_text(struct quake_sql_params *p, int i, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void set_text(struct quake_sql_params *p, int i, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->text[i], sizeof p->text[i], fmt, ap);
    va_end(ap);
    p->values[i] = p->text[i];
}

static void set_time(struct quake_sql_params *p, int i, int64_t us)
{
    time_format_us(us, p->text[i]);
    p->values[i] = p->text[i];
}

/* A float8 value: 17 significant digits give PostgreSQL the very same double. */
static void set_double(struct quake_sql_params *p, int i, double v)
{
    if (isinf(v))
        set_text(p, i, "%s", v < 0 ? "-Infinity" : "Infinity");
    else
        set_text(p, i, "%.17g", v);
}

static void set_boxes(struct quake_sql_params *p, int first_a, int first_b, const struct quake_box *b, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        int i = k == 0 ? first_a : first_b;
        set_text(p, i, "%.17g", b[k].xmin);
        set_text(p, i + 1, "%.17g", b[k].ymin);
        set_text(p, i + 2, "%.17g", b[k].xmax);
        set_text(p, i + 3, "%.17g", b[k].ymax);
    }
}

void quake_filter_sql_params(const struct quake_filter *f, const struct quake_cursor *after,
                             struct quake_sql_params *p)
{
    memset(p->values, 0, sizeof p->values);
    if (f->has_start)
        set_time(p, P_START, f->start_us);
    if (f->has_end)
        set_time(p, P_END, f->end_us);
    if (f->has_updated)
        set_time(p, P_UPDATED, f->updated_us);
    if (f->has_minmag)
        set_double(p, P_MINMAG, f->minmag);
    if (f->has_maxmag)
        set_double(p, P_MAXMAG, f->maxmag);
    if (f->has_mindepth)
        set_double(p, P_MINDEPTH, f->mindepth);
    if (f->has_maxdepth)
        set_double(p, P_MAXDEPTH, f->maxdepth);
    struct quake_box b[2];
    if (f->has_minlat || f->has_maxlat || f->has_minlon || f->has_maxlon) {
        size_t n = quake_rect_boxes(f->has_minlon ? f->minlon : -180, f->has_maxlon ? f->maxlon : 180,
                                    f->has_minlat ? f->minlat : -90, f->has_maxlat ? f->maxlat : 90, b);
        set_boxes(p, P_RECT_A, P_RECT_B, b, n);
    }
    if (f->has_lat && f->has_lon && f->has_radius) {
        size_t n = quake_circle_boxes(f->lat, f->lon, f->radius_km, b);
        set_boxes(p, P_CIRCLE_A, P_CIRCLE_B, b, n);
        set_text(p, P_LON, "%.17g", f->lon);
        set_text(p, P_LAT, "%.17g", f->lat);
        set_text(p, P_METRES, "%.17g", f->radius_km * 1000);
    }
    p->values[P_ALERT] = f->alert;
    p->values[P_EVENTTYPE] = f->eventtype;
    p->values[P_REVIEW] = f->reviewstatus;
    p->values[P_DELETED] = f->deleted == QUAKE_DELETED_ONLY ? "only" : f->deleted == QUAKE_DELETED_INCLUDE ? "true" : "false";
    if (after) {
        if (quake_order_is_time(after->order))
            set_time(p, P_AFTER_KEY, after->time_us);
        else
            set_double(p, P_AFTER_KEY, after->mag);
        p->values[P_AFTER_ID] = after->id;
    }
    set_text(p, P_FETCH, "%" PRId64, f->fetch);
    p->values[P_PROPS] = f->with_properties ? "true" : "false";
}
