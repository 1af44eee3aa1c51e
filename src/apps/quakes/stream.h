/*
 * quakes stream: the live catalogue. GET /api/v1/earthquakes/stream (SSE) and /ws/earthquakes
 * (WebSocket, subprotocol "quakes.v1") take the list's filters and send created / updated /
 * deleted events with the change log's sequence number as id.
 *
 * The ingestor (any process) commits rows and their change log, then NOTIFYs quakes_events;
 * every API process's bus thread reads the new change-log rows once, encodes each event once
 * (SSE frame and WebSocket message) and fans it out to its loops, where each subscriber's
 * filter picks what it wants. A client resuming with Last-Event-ID (or last_event_id) first
 * gets what it missed from the change log (bounded retention), then the live feed, with no
 * gap and no duplicate: live events are held while the replay runs.
 */
#ifndef STRATA_QUAKES_STREAM_H
#define STRATA_QUAKES_STREAM_H

#include "core/router.h"

struct bus;

extern const struct route quakes_stream_routes[]; /* ends with a NULL method */
/* Before the server starts: the fan-out topic and the bus subscription. */
int quakes_stream_init(struct bus *bus);

#endif
