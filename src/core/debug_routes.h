/*
 * debug_routes: the /api/v1/_debug routes exist to prove the platform from outside (a query that
 * takes a while, a JSON body round trip). Registered only when STRATA_DEBUG_ROUTES=true;
 * never enable them in production.
 */
#ifndef STRATA_DEBUG_ROUTES_H
#define STRATA_DEBUG_ROUTES_H

#include "core/router.h"

extern const struct route debug_routes[];       /* ends with a NULL method */
extern const struct route debug_authz_routes[]; /* one route per seeded permission */

struct bus;
/* Before the server starts: creates the debug fan-out topic and subscribes it to the bus
 * channel strata_debug (bus may be NULL). */
int debug_routes_init(struct bus *bus);

#endif
