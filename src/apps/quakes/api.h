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

#include "core/router.h"

/* Registers the API's settings table; call before config_load. */
void quakes_api_register_config(void);

/* Setting quakes_public_read: anonymous callers may read the catalogue (the routes point
 * their public_if at it; the live stream routes may do the same through this). */
bool quakes_api_public_read(void);

extern const struct route quakes_api_routes[]; /* ends with a NULL method */

#endif
