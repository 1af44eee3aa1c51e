/*
 * health: /healthz (the process answers) and /readyz (the database answers and every
 * migration this binary knows is applied). Load balancers and orchestrators poll these.
 */
#ifndef STRATA_HEALTH_H
#define STRATA_HEALTH_H

#include "core/router.h"

extern const struct route health_routes[]; /* ends with a NULL method */

#endif
