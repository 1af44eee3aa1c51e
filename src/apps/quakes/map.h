/*
 * quakes map: the live dashboard. GET / is a small page (HTML written in map.c) whose script
 * and styles are served files under GET /map/{file}, so the page's Content-Security-Policy
 * needs no inline script or style:
 *   map.js, map.css, favicon.svg     this app's own files, from quakes_web_dir
 *                                    (default src/apps/quakes/web, in the repository)
 *   leaflet.js, leaflet.css          npm leaflet           } from quakes_map_assets_dir
 *   topojson-client.min.js           npm topojson-client   } (default build/ui/node_modules,
 *   countries-110m.json              npm world-atlas       }  installed by scripts/ui.sh)
 * Nothing else is served (a fixed whitelist). The files are read once, on the first request
 * that needs them, and kept in memory; the page names each with ?v=<hash of its content>, so
 * they can be cached for a day and a new server version is still picked up at once. When a
 * file is missing the page and the files answer 503 naming the setting.
 *
 * The page itself talks to the public API only: POST /api/v1/auth/token (client strata-web),
 * GET /api/v1/earthquakes and GET /api/v1/earthquakes/stream (SSE).
 *
 * Must not: touch the database, or know how the list or the stream are made.
 */
#ifndef STRATA_QUAKES_MAP_H
#define STRATA_QUAKES_MAP_H

#include "core/router.h"

/* Registers quakes_web_dir and quakes_map_assets_dir; call before config_load
 * (quakes_register_config does). */
void quakes_map_register_config(void);

extern const struct route quakes_map_routes[]; /* ends with a NULL method */

#endif
