/*
 * quake filter: what a catalogue query asks for, the rules that tie its parameters together
 * (min <= max for every pair, a circle needs its centre and radius, ...) and its translation
 * into the parameters of the list statements in sql.h, including the longitude/latitude boxes
 * that make a rectangle across the antimeridian and a circle's index prefilter.
 *
 * The single-parameter rules (types, ranges, enums) live in the route's declaration; this
 * module checks only what involves several parameters. Pure: no I/O, no configuration.
 */
#ifndef STRATA_QUAKES_FILTER_H
#define STRATA_QUAKES_FILTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "apps/quakes/cursor.h"
#include "apps/quakes/sql.h"
#include "core/params.h"

enum quake_deleted {
    QUAKE_DELETED_HIDE = 0, /* includedeleted=false (default) */
    QUAKE_DELETED_INCLUDE,  /* includedeleted=true */
    QUAKE_DELETED_ONLY,     /* includedeleted=only */
};

struct quake_filter {
    bool has_start, has_end, has_updated;
    int64_t start_us, end_us, updated_us; /* microseconds since the epoch */
    bool has_minmag, has_maxmag, has_mindepth, has_maxdepth;
    double minmag, maxmag, mindepth, maxdepth;
    /* rectangle: any of the four may be given; the others default to the whole globe */
    bool has_minlat, has_maxlat, has_minlon, has_maxlon;
    double minlat, maxlat, minlon, maxlon; /* longitudes in [-360, 360], USGS style */
    /* circle: all three or none */
    bool has_lat, has_lon, has_radius;
    double lat, lon, radius_km;
    const char *alert, *eventtype, *reviewstatus; /* NULL: any */
    enum quake_deleted deleted;
    enum quake_order order;
    int64_t fetch;        /* rows to fetch: the page size + 1 (the extra row says "there is more") */
    bool with_properties; /* return the properties jsonb (format=geojson) */
};

/* A longitude/latitude box, edges included. */
struct quake_box {
    double xmin, ymin, xmax, ymax;
};

/* Cross-parameter rules. Adds one error per broken rule, naming the field to fix; returns
 * the number added. */
size_t quake_filter_check(const struct quake_filter *f, struct params_errors *errs);

/* The rectangle [minlon, maxlon] x [minlat, maxlat] (longitudes in [-360, 360], minlon <=
 * maxlon; a span of 360 degrees or more is the whole globe) as one or two boxes with
 * longitudes in [-180, 180]: a box that crosses or touches the antimeridian gets its other
 * side too, since -180 and 180 are the same meridian. Returns the number of boxes. */
size_t quake_rect_boxes(double minlon, double maxlon, double minlat, double maxlat, struct quake_box out[2]);

/* Boxes that contain every point within radius_km of (lat, lon) on the WGS 84 spheroid, for
 * an index prefilter before the exact distance check: latitude +- r / 110.574 km (the
 * shortest degree of latitude), longitude +- r / (111.3195 km * cos(the box's largest
 * latitude)), split at the antimeridian; the whole longitude range when the box reaches a
 * pole or spans 360 degrees. Slightly enlarged (0.1 %) so rounding never loses a point.
 * Returns the number of boxes (1 or 2). */
size_t quake_circle_boxes(double lat, double lon, double radius_km, struct quake_box out[2]);

/* The list statements' parameters ($1..$QUAKES_SQL_NPARAMS, see sql.h) for f and the keyset
 * position after (NULL: first page). values[i] is NULL for SQL NULL, else points into text[i]
 * or at a string of f (which must outlive the query call; db_query copies them). */
struct quake_sql_params {
    const char *values[QUAKES_SQL_NPARAMS];
    char text[QUAKES_SQL_NPARAMS][48];
};
void quake_filter_sql_params(const struct quake_filter *f, const struct quake_cursor *after,
                             struct quake_sql_params *p);

#endif
