/*
 * quakes fdsn: the FDSN event web service (fdsnws-event 1.2, as USGS ComCat serves it) under
 * /fdsnws/event/1/: version, catalogs, contributors, application.wadl (always public), and
 * query and count (permission quakes:read, or anonymous with quakes_public_read).
 *
 * query/count declare no .query spec: the handler binds the parameters itself so that every
 * error (an unknown parameter too) is the FDSN error document, not problem+json. The WADL,
 * rendered from the same declarations, lists them (the OpenAPI document does not).
 *
 * Must not: write to the database.
 */
#ifndef STRATA_QUAKES_FDSN_H
#define STRATA_QUAKES_FDSN_H

#include "core/router.h"

/* Registers the setting quakes_fdsn_max_events; call before config_load. */
void quakes_fdsn_register_config(void);

extern const struct route quakes_fdsn_routes[]; /* ends with a NULL method */

#endif
