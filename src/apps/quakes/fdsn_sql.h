/*
 * quakes fdsn sql: the FDSN service's statements, built from sql.h's column list and filter
 * ($1..$30 as documented there). Same form as sql.h: `#define NAME` then string literals and
 * macro names only.
 *
 * Parameters after sql.h's $1..$30 (fdsn_params.c fills them):
 *   $31 eventid  $32 magnitudetype  $33 catalog (net)  $34 contributor (in sources)   text
 *   $35 minsig  $36 maxsig  $37 minfelt                                             int4
 *   $38 mincdi  $39 maxcdi  $40 minmmi  $41 maxmmi  $42 mingap  $43 maxgap           float8
 *   $44 annulus: inner radius in metres (with the circle's centre $24/$25)           float8
 * The count statement stops there; the query statements add the page:
 *   $45 keyset sort key (microseconds int8, or the magnitude key float8)  $46 keyset id
 *   $47 offset  $48 rows                                                              int8
 *   $49 return the properties (format=geojson only; the others do not read them)      bool
 * A large answer is fetched page by page (fdsn.c): the first page with the FDSN offset, the
 * next ones after the last row sent (keyset), so each page is an index range scan.
 *
 * Extra columns after QUAKES_SQL_COLUMNS: properties::text (NULL unless $49), then the USGS fields that have no
 * typed column (nst, dmin, rms, horizontalError, depthError, magError, magNst,
 * locationSource, magSource).
 */
#ifndef STRATA_QUAKES_FDSN_SQL_H
#define STRATA_QUAKES_FDSN_SQL_H

#include "apps/quakes/sql.h"

#define QUAKES_FDSN_SQL_COUNT_NPARAMS 44
#define QUAKES_FDSN_SQL_NPARAMS 49

#define QUAKES_FDSN_SQL_EXTRA                                                                      \
    " AND ($31::text IS NULL OR id = $31::text)"                                                   \
    " AND ($32::text IS NULL OR lower(magtype) = lower($32::text))"                                \
    " AND ($33::text IS NULL OR net = $33::text)"                                                  \
    " AND ($34::text IS NULL OR strpos(coalesce(sources, ''), ',' || $34::text || ',') > 0)"       \
    " AND ($35::int4 IS NULL OR sig >= $35::int4)"                                                 \
    " AND ($36::int4 IS NULL OR sig <= $36::int4)"                                                 \
    " AND ($37::int4 IS NULL OR felt >= $37::int4)"                                                \
    " AND ($38::float8 IS NULL OR cdi >= $38::float8)"                                             \
    " AND ($39::float8 IS NULL OR cdi <= $39::float8)"                                             \
    " AND ($40::float8 IS NULL OR mmi >= $40::float8)"                                             \
    " AND ($41::float8 IS NULL OR mmi <= $41::float8)"                                             \
    " AND ($42::float8 IS NULL OR gap >= $42::float8)"                                             \
    " AND ($43::float8 IS NULL OR gap <= $43::float8)"                                             \
    " AND ($44::float8 IS NULL"                                                                    \
    "      OR NOT _ST_DWithin(geom, ST_SetSRID(ST_MakePoint($24::float8, $25::float8), 4326)::geography," \
    "                         $44::float8))"

#define QUAKES_FDSN_SQL_SELECT                                                                     \
    QUAKES_SQL_COLUMNS "CASE WHEN $49::bool THEN properties::text END, properties->>'nst', properties->>'dmin', properties->>'rms', " \
    "properties->>'horizontalError', properties->>'depthError', properties->>'magError', "        \
    "properties->>'magNst', properties->>'locationSource', properties->>'magSource' FROM quakes"  \
    QUAKES_SQL_FILTER QUAKES_FDSN_SQL_EXTRA

#define QUAKES_FDSN_SQL_PAGE " OFFSET $47::int8 LIMIT $48::int8"

#define QUAKES_FDSN_SQL_TIMEKEY "'epoch'::timestamptz + $45::int8 * '1 microsecond'::interval"

#define QUAKES_FDSN_SQL_QUERY_TIME                                                                 \
    QUAKES_FDSN_SQL_SELECT                                                                         \
    " AND ($45::int8 IS NULL OR (time, id) < (" QUAKES_FDSN_SQL_TIMEKEY ", $46::text))"            \
    " ORDER BY time DESC, id DESC" QUAKES_FDSN_SQL_PAGE

#define QUAKES_FDSN_SQL_QUERY_TIME_ASC                                                             \
    QUAKES_FDSN_SQL_SELECT                                                                         \
    " AND ($45::int8 IS NULL OR (time, id) > (" QUAKES_FDSN_SQL_TIMEKEY ", $46::text))"            \
    " ORDER BY time ASC, id ASC" QUAKES_FDSN_SQL_PAGE

#define QUAKES_FDSN_SQL_QUERY_MAG                                                                  \
    QUAKES_FDSN_SQL_SELECT                                                                         \
    " AND ($45::float8 IS NULL OR (coalesce(mag, '-Infinity'::float8), id) < ($45::float8, $46::text))" \
    " ORDER BY coalesce(mag, '-Infinity'::float8) DESC, id DESC" QUAKES_FDSN_SQL_PAGE

#define QUAKES_FDSN_SQL_QUERY_MAG_ASC                                                              \
    QUAKES_FDSN_SQL_SELECT                                                                         \
    " AND ($45::float8 IS NULL OR (coalesce(mag, '-Infinity'::float8), id) > ($45::float8, $46::text))" \
    " ORDER BY coalesce(mag, '-Infinity'::float8) ASC, id ASC" QUAKES_FDSN_SQL_PAGE

#define QUAKES_FDSN_SQL_COUNT                                                                      \
    "SELECT count(*) FROM quakes" QUAKES_SQL_FILTER QUAKES_FDSN_SQL_EXTRA

/* catalogs: the networks whose solutions are preferred (net); contributors: every network
 * that contributed to an event (sources, ",us,ak," in USGS data) */
#define QUAKES_FDSN_SQL_CATALOGS                                                                   \
    "SELECT DISTINCT net FROM quakes WHERE net IS NOT NULL AND net <> '' ORDER BY 1"

#define QUAKES_FDSN_SQL_CONTRIBUTORS                                                               \
    "SELECT DISTINCT s FROM quakes, unnest(string_to_array(sources, ',')) AS s"                   \
    " WHERE sources IS NOT NULL AND s <> '' ORDER BY 1"

#endif
