/*
 * quakes: the live USGS earthquake catalogue (SPEC §5 quakes). This header is what main.c
 * wires: the app's settings, its routes, and the ingest role. The app's modules:
 *   feature.c   GeoJSON feature -> struct quake (validation; fuzzed)
 *   store.c     bulk upsert (staging table + COPY + INSERT ... ON CONFLICT) and the change log
 *   ingest.c    the USGS feed poller, FDSN backfill and file replay (blocking; own thread)
 *   api.c       GET /api/v1/earthquakes, /api/v1/earthquakes/{id}
 *   cursor.c    signed keyset cursors (fuzzed)
 *   stream.c    /api/v1/earthquakes/stream (SSE) and /ws/earthquakes
 */
#ifndef STRATA_QUAKES_H
#define STRATA_QUAKES_H

#include "core/router.h"

void quakes_register_config(void);
extern const struct route quakes_routes[]; /* ends with a NULL method */

/* `strata ingest [--replay FILE [--speed N] [--shift-to-now]] [--backfill --starttime T --endtime T]`
 * Runs in the foreground until done (replay at --speed 0, backfill) or until SIGTERM/SIGINT
 * (polling). Returns the exit status. */
int quakes_ingest_main(int argc, char **argv);

/* For `strata all`: the poller (and the demo replay when quakes_replay_file is set) on a
 * thread of its own beside the HTTP server; stop joins it. */
int quakes_ingest_start(void);
void quakes_ingest_stop(void);

#endif
