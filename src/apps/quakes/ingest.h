/*
 * ingest: the quakes app's writers, all blocking, all on a thread of their own (never on an
 * event loop): the USGS summary-feed poller (libcurl easy interface, conditional requests,
 * timeouts, retries with backoff), the FDSN event-service backfill by time windows (split
 * when a window reaches the service's event limit; progress kept in quake_backfill_progress
 * so a second run continues), and the replay of a GeoJSON FeatureCollection file in origin-
 * time order at N x real time. Everything goes through store.c; a bad feature is counted,
 * logged once with its id and skipped, a failed poll is counted and logged, and a lost
 * database connection is reopened with backoff.
 *
 * quakes_ingest_main / quakes_ingest_start / quakes_ingest_stop are declared in quakes.h.
 *
 * Must not: run on an event-loop thread, or know about HTTP routes or the live stream (they
 * learn about changes from quake_events and NOTIFY quakes_events).
 */
#ifndef STRATA_QUAKES_INGEST_H
#define STRATA_QUAKES_INGEST_H

#include <stdint.h>

/* Counters since the process started (relaxed atomics; any thread may read them). */
struct quakes_ingest_stats {
    uint64_t features_created; /* new event ids stored */
    uint64_t features_updated; /* a newer `updated` replaced the stored version */
    uint64_t features_deleted; /* a newer version with status "deleted" was stored */
    uint64_t features_ignored; /* same or older `updated` than stored: nothing written */
    uint64_t features_invalid; /* refused (missing/wrong/out-of-range member): skipped */
    uint64_t polls_ok;         /* feed polls that succeeded (including not_modified) */
    uint64_t polls_not_modified; /* ... of which answered 304 Not Modified */
    uint64_t polls_failed;     /* feed polls that failed after their retries */
    uint64_t backfill_windows; /* FDSN windows fetched and stored */
    uint64_t events_pruned;    /* change-log rows removed by retention */
};

void quakes_ingest_stats(struct quakes_ingest_stats *out);

/* Registers the ingest settings table (quakes_feed_url, ...); quakes_register_config calls it. */
void quakes_ingest_register_config(void);

#endif
