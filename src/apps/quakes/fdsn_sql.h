/*
 * quakes fdsn sql: the FDSN service's statements, built from sql.h's column list and filter
 * ($1..$30 as documented there), with 1-based FDSN paging as OFFSET $31 LIMIT $32 and
 * eventid as $33 (in the count statement: $31). Same form
 * as sql.h: `#define NAME` then string literals and macro names only.
 *
 * Extra columns after QUAKES_SQL_COLUMNS: properties::text, then the USGS CSV fields that
 * have no typed column (nst, dmin, rms, horizontalError, depthError, magError, magNst,
 * locationSource, magSource).
 */
#ifndef STRATA_QUAKES_FDSN_SQL_H
#define STRATA_QUAKES_FDSN_SQL_H

#include "apps/quakes/sql.h"

#define QUAKES_FDSN_SQL_NPARAMS 33
#define QUAKES_FDSN_SQL_COUNT_NPARAMS 31

#define QUAKES_FDSN_SQL_SELECT                                                                     \
    QUAKES_SQL_COLUMNS "properties::text, properties->>'nst', properties->>'dmin', properties->>'rms', " \
    "properties->>'horizontalError', properties->>'depthError', properties->>'magError', "        \
    "properties->>'magNst', properties->>'locationSource', properties->>'magSource' FROM quakes"  \
    QUAKES_SQL_FILTER " AND ($33::text IS NULL OR id = $33::text)"

#define QUAKES_FDSN_SQL_PAGE " OFFSET $31::int8 LIMIT $32::int8"

#define QUAKES_FDSN_SQL_QUERY_TIME                                                                 \
    QUAKES_FDSN_SQL_SELECT " ORDER BY time DESC, id DESC" QUAKES_FDSN_SQL_PAGE

#define QUAKES_FDSN_SQL_QUERY_TIME_ASC                                                             \
    QUAKES_FDSN_SQL_SELECT " ORDER BY time ASC, id ASC" QUAKES_FDSN_SQL_PAGE

#define QUAKES_FDSN_SQL_QUERY_MAG                                                                  \
    QUAKES_FDSN_SQL_SELECT " ORDER BY coalesce(mag, '-Infinity'::float8) DESC, id DESC" QUAKES_FDSN_SQL_PAGE

#define QUAKES_FDSN_SQL_QUERY_MAG_ASC                                                              \
    QUAKES_FDSN_SQL_SELECT " ORDER BY coalesce(mag, '-Infinity'::float8) ASC, id ASC" QUAKES_FDSN_SQL_PAGE

#define QUAKES_FDSN_SQL_COUNT                                                                      \
    "SELECT count(*) FROM quakes" QUAKES_SQL_FILTER " AND ($31::text IS NULL OR id = $31::text)"

#define QUAKES_FDSN_SQL_CONTRIBUTORS                                                               \
    "SELECT DISTINCT net FROM quakes WHERE net IS NOT NULL AND net <> '' ORDER BY 1"

#endif
