/*
 * fdsn params: the FDSN event service's query parameters (fdsnws-event 1.2 names, their short
 * forms and the USGS extensions), read from a parsed query string into a struct fdsn_query,
 * and that query's statement parameters (fdsn_sql.h). Every rule lives here: types and
 * ranges, min <= max, the circle and its annulus, what is not supported (501). Pure: no I/O,
 * no configuration; the application.wadl and the OpenAPI document are rendered from
 * fdsn_param_specs.
 */
#ifndef STRATA_QUAKES_FDSN_PARAMS_H
#define STRATA_QUAKES_FDSN_PARAMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "apps/quakes/fdsn_sql.h"
#include "apps/quakes/feature.h"
#include "apps/quakes/filter.h"
#include "core/params.h"
#include "core/qs.h"

#define FDSN_KM_PER_DEGREE 111.19492664455873

enum fdsn_param {
    FP_START, FP_END, FP_MINLAT, FP_MAXLAT, FP_MINLON, FP_MAXLON, FP_LAT, FP_LON, FP_MINRADIUS,
    FP_MAXRADIUS, FP_MINRADIUSKM, FP_MAXRADIUSKM, FP_MINDEPTH, FP_MAXDEPTH, FP_MINMAG, FP_MAXMAG,
    FP_MAGTYPE, FP_EVENTID, FP_LIMIT, FP_OFFSET, FP_ORDERBY, FP_CATALOG, FP_CONTRIBUTOR, FP_EVENTTYPE,
    FP_REVIEW, FP_ALERT, FP_MINSIG, FP_MAXSIG, FP_MINFELT, FP_MINCDI, FP_MAXCDI, FP_MINMMI, FP_MAXMMI,
    FP_MINGAP, FP_MAXGAP, FP_DELETED, FP_UPDATED, FP_FORMAT, FP_NODATA, FP_ARRIVALS, FP_ALLORIGINS,
    FP_ALLMAGS, FP_JSONERROR, FP_COUNT_
};

/* In the order of the format parameter's choices; QuakeML is the default. */
enum fdsn_format { FDSN_XML, FDSN_QUAKEML, FDSN_TEXT, FDSN_CSV, FDSN_GEOJSON };

/* NULL-name-terminated, indexed by enum fdsn_param. */
extern const struct param_spec fdsn_param_specs[FP_COUNT_ + 1];

struct fdsn_query {
    struct param_value p[FP_COUNT_];
    struct quake_filter f;
    enum fdsn_format format;
    bool nodata_404;
    bool has_limit;
    int64_t limit;      /* when has_limit */
    int64_t offset;     /* 0-based (the FDSN offset minus 1) */
    double minradius_m; /* 0: no annulus */
};

/* Reads q into out. Returns 0, or the HTTP status to answer (400 for a bad or contradictory
 * parameter, 501 for what the service does not do) with a one-line description in msg.
 * is_count: the count route (format=geojson only changes its answer's form). */
int fdsn_query_parse(const struct qs *q, bool is_count, struct fdsn_query *out, char *msg, size_t msglen);

/* The statements' parameters $1..$QUAKES_FDSN_SQL_NPARAMS (fdsn_sql.h) for fq, without a
 * keyset position and with fq's offset; fdsn_sql_set_page changes the page. values[i] points
 * into text[i], at a string of fq, or is NULL. fq must outlive v. */
struct fdsn_sql_values {
    const char *values[QUAKES_FDSN_SQL_NPARAMS];
    char text[QUAKES_FDSN_SQL_NPARAMS][48];
    char id[QUAKE_ID_MAX + 1]; /* the keyset id ($46) */
};
void fdsn_sql_values(const struct fdsn_query *fq, struct fdsn_sql_values *v);
/* The next page: after the row whose sort key is key (microseconds for the time orderings, the
 * magnitude text or "-Infinity" for the magnitude orderings) and id; key NULL for the first
 * page (with fq's offset). rows: how many to fetch. */
void fdsn_sql_set_page(struct fdsn_sql_values *v, const char *key, const char *id, int64_t offset, int64_t rows);

#endif
