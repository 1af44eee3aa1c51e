/*
 * quakes sql: the text of every statement the quakes API runs, in one place, as macros made
 * of string literals and other QUAKES_SQL_* macros only. tests/integration/test_quakes_api.py
 * reads this file (through scripts/quakes_sql.py, as bench/ does) and runs EXPLAIN (FORMAT
 * JSON) on the very text the server prepares, with representative parameters on 200,000
 * generated rows, to check that a time window, a magnitude floor and a radius query each use
 * an index. Keep the form:
 * `#define NAME` then string literals and macro names, with line continuations.
 *
 * One list statement per ordering; every filter is a parameter that is NULL when absent, in
 * the `($n IS NULL OR ...)` form. PostgreSQL plans a prepared statement with the actual
 * values (a custom plan) while that is cheaper than its generic plan, and a custom plan folds
 * each absent filter away, so each request is planned for the filters it really has.
 *
 * Parameters of the list statements (filter.h fills them, in this order):
 *   $1 starttime  $2 endtime  $3 updatedafter                        timestamptz
 *   $4 minmagnitude  $5 maxmagnitude  $6 mindepth  $7 maxdepth         float8
 *   $8..$11 rectangle box A, $12..$15 box B (xmin, ymin, xmax, ymax)   float8 (B: antimeridian)
 *   $16..$19 circle prefilter box A, $20..$23 box B                    float8
 *   $24 centre longitude  $25 centre latitude  $26 radius in metres    float8
 *   $27 alertlevel  $28 eventtype  $29 reviewstatus                    text
 *   $30 includedeleted: 'false' | 'true' | 'only'                      text
 *   $31 cursor sort key (timestamptz or float8)  $32 cursor id         keyset position
 *   $33 rows to fetch (page size + 1)  $34 also return properties      int8, bool
 *
 * Magnitude orderings sort on coalesce(mag, '-Infinity'): events without a magnitude come
 * last (first with magnitude-asc), and the keyset is a plain row comparison on the index
 * quakes_magkey_id (0002), which a `mag DESC NULLS LAST` index cannot express.
 */
#ifndef STRATA_QUAKES_SQL_H
#define STRATA_QUAKES_SQL_H

#define QUAKES_SQL_NPARAMS 34

#define QUAKES_SQL_MAGKEY "coalesce(mag, '-Infinity'::float8)"

/* Column order: see the QCOL_* indexes in api.c. */
#define QUAKES_SQL_COLUMNS                                                                         \
    "SELECT id, (extract(epoch FROM time) * 1000000)::int8, (extract(epoch FROM updated) * 1000000)::int8, " \
    "mag, magtype, place, lat, lon, depth_km, status, eventtype, alert, tsunami, sig, felt, cdi, mmi, " \
    "gap, net, properties->>'url', title, "

#define QUAKES_SQL_FILTER                                                                          \
    " WHERE ($1::timestamptz IS NULL OR time >= $1::timestamptz)"                                  \
    " AND ($2::timestamptz IS NULL OR time <= $2::timestamptz)"                                    \
    " AND ($3::timestamptz IS NULL OR updated > $3::timestamptz)"                                  \
    " AND ($4::float8 IS NULL OR coalesce(mag, '-Infinity'::float8) >= $4::float8)"                      \
    " AND ($5::float8 IS NULL OR (coalesce(mag, '-Infinity'::float8) <= $5::float8 AND mag IS NOT NULL))" \
    " AND ($6::float8 IS NULL OR depth_km >= $6::float8)"                                              \
    " AND ($7::float8 IS NULL OR depth_km <= $7::float8)"                                              \
    " AND ($8::float8 IS NULL"                                                                     \
    "      OR pt && ST_MakeEnvelope($8::float8, $9::float8, $10::float8, $11::float8, 4326)"        \
    "      OR pt && ST_MakeEnvelope($12::float8, $13::float8, $14::float8, $15::float8, 4326))"     \
    " AND ($16::float8 IS NULL"                                                                    \
    "      OR pt && ST_MakeEnvelope($16::float8, $17::float8, $18::float8, $19::float8, 4326)"      \
    "      OR pt && ST_MakeEnvelope($20::float8, $21::float8, $22::float8, $23::float8, 4326))"     \
    " AND ($24::float8 IS NULL"                                                                    \
    "      OR _ST_DWithin(geom, ST_SetSRID(ST_MakePoint($24::float8, $25::float8), 4326)::geography," \
    "                     $26::float8))"                                                           \
    " AND ($27::text IS NULL OR alert = $27::text)"                                                \
    " AND ($28::text IS NULL OR eventtype = $28::text)"                                            \
    " AND ($29::text IS NULL OR status = $29::text)"                                               \
    " AND CASE $30::text WHEN 'true' THEN true WHEN 'only' THEN status = 'deleted'"                \
    "     ELSE status <> 'deleted' END"

#define QUAKES_SQL_TAIL_PROPS ", CASE WHEN $34::bool THEN properties::text END FROM quakes"

#define QUAKES_SQL_LIST_TIME                                                                       \
    QUAKES_SQL_COLUMNS "(extract(epoch FROM time) * 1000000)::int8" QUAKES_SQL_TAIL_PROPS          \
    QUAKES_SQL_FILTER                                                                              \
    " AND ($31::timestamptz IS NULL OR (time, id) < ($31::timestamptz, $32::text))"                \
    " ORDER BY time DESC, id DESC LIMIT $33::int8"

#define QUAKES_SQL_LIST_TIME_ASC                                                                   \
    QUAKES_SQL_COLUMNS "(extract(epoch FROM time) * 1000000)::int8" QUAKES_SQL_TAIL_PROPS          \
    QUAKES_SQL_FILTER                                                                              \
    " AND ($31::timestamptz IS NULL OR (time, id) > ($31::timestamptz, $32::text))"                \
    " ORDER BY time ASC, id ASC LIMIT $33::int8"

#define QUAKES_SQL_LIST_MAG                                                                        \
    QUAKES_SQL_COLUMNS QUAKES_SQL_MAGKEY QUAKES_SQL_TAIL_PROPS                                     \
    QUAKES_SQL_FILTER                                                                              \
    " AND ($31::float8 IS NULL OR (coalesce(mag, '-Infinity'::float8), id) < ($31::float8, $32::text))"  \
    " ORDER BY coalesce(mag, '-Infinity'::float8) DESC, id DESC LIMIT $33::int8"

#define QUAKES_SQL_LIST_MAG_ASC                                                                    \
    QUAKES_SQL_COLUMNS QUAKES_SQL_MAGKEY QUAKES_SQL_TAIL_PROPS                                     \
    QUAKES_SQL_FILTER                                                                              \
    " AND ($31::float8 IS NULL OR (coalesce(mag, '-Infinity'::float8), id) > ($31::float8, $32::text))"  \
    " ORDER BY coalesce(mag, '-Infinity'::float8) ASC, id ASC LIMIT $33::int8"

/* One event by id, deleted ones included (the item route shows their status). */
#define QUAKES_SQL_GET                                                                             \
    QUAKES_SQL_COLUMNS "(extract(epoch FROM time) * 1000000)::int8, properties::text FROM quakes"  \
    " WHERE id = $1::text"

#endif
