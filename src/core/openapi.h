/*
 * openapi: the OpenAPI 3.1 document of a router, rendered from its route declarations alone:
 * paths, operations, parameters with the types and bounds params.c enforces, request bodies
 * with their accepted types and byte limits, the success response, every problem+json error
 * the route declares (plus those the request pipeline in http.c answers for it), and the
 * security requirement of its permission. Because nothing is written by hand, the document
 * cannot drift from what the server does.
 *
 * Operations appear in registration order, grouped by path template; templates that differ
 * only in parameter names ("/items/{id}" GET, "/items/{key}" DELETE) are one OpenAPI path,
 * spelled as the first one registered. operationIds are derived from method and path and are
 * unique within the document. Methods OpenAPI 3.1 has no field for are left out.
 *
 * Must not: talk HTTP or read configuration (openapi_routes serves the document), or know
 * any route: everything comes from the router it is given.
 */
#ifndef STRATA_OPENAPI_H
#define STRATA_OPENAPI_H

#include "core/buf.h"
#include "core/router.h"

#define OPENAPI_TOKEN_URL "/api/v1/auth/token"

/* Appends the document (UTF-8 JSON) to out. Deterministic: the same router gives the same
 * bytes. */
void openapi_render(const struct router *r, struct buf *out);

#endif
