/*
 * openapi_routes: /openapi.json (the OpenAPI 3.1 document of the router in use, rendered once
 * per process by openapi.c) and the Swagger UI at /docs, whose files come from the npm package
 * swagger-ui-dist (installed by scripts/ui.sh; never from a CDN) in the folder the docs_ui_dir
 * setting names. Those files are read into memory once; a request never touches the disk, and
 * only the few files the page needs are served (any other name is 404). Without the folder,
 * /docs answers 503 naming the setting while /openapi.json keeps working.
 *
 * Must not: serve anything but that fixed list of files, or let the page load code from
 * elsewhere (its Content-Security-Policy allows only this origin).
 */
#ifndef STRATA_OPENAPI_ROUTES_H
#define STRATA_OPENAPI_ROUTES_H

#include "core/router.h"

extern const struct route openapi_routes[]; /* ends with a NULL method */

/* Adds the docs_ui_dir setting; call before config_load. */
void openapi_register_config(void);

#endif
