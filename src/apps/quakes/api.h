/*
 * quakes api: the catalogue's read routes, GET /api/v1/earthquakes (filters, keyset cursors,
 * json|geojson) and GET /api/v1/earthquakes/{id} (full event, ETag). Its settings
 * (quakes_public_read, quakes_max_limit) are registered by quakes_register_config through
 * quakes_api_register_config.
 *
 * Must not: write to the database, or know about ingest or the live stream.
 */
#ifndef STRATA_QUAKES_API_H
#define STRATA_QUAKES_API_H

#include <stdbool.h>

#include "core/params.h"
#include "core/router.h"

/* Registers the API's settings table; call before config_load. */
void quakes_api_register_config(void);

/* Setting quakes_public_read: anonymous callers may read the catalogue (the routes point
 * their public_if at it; the live stream routes may do the same through this). */
bool quakes_api_public_read(void);

extern const struct route quakes_api_routes[]; /* ends with a NULL method */

/* Shared with the live stream (stream.c): the filter parameters are the list's first
 * QUAKES_FILTER_NPARAMS declarations; quakes_stream_params adds last_event_id after them. */
#define QUAKES_FILTER_NPARAMS 18
extern struct param_spec quakes_stream_params[];
struct quake_filter;
struct param_value;
struct jsonw;
/* Binds the filter parameters (p in declaration order) into f; cross-field rules are checked
 * by quake_filter_check. */
void quakes_filter_bind(const struct param_value *p, struct quake_filter *f);
const bool *quakes_api_public_read_flag(void);
extern bool quakes_public_read_value; /* the quakes_public_read setting, for route public_if */
/* One event's typed fields from a row of QUAKES_SQL_COLUMNS (into an object already begun). */
#include <libpq-fe.h>
void quakes_event_fields(struct jsonw *w, const PGresult *res, int row);

#endif
