/*
 * store: writes quakes and their change log, in bulk, on a blocking libpq connection of the
 * ingest thread's own. One quake_store_upsert is one transaction:
 *   COPY (text format) into a temporary staging table,
 *   one INSERT ... ON CONFLICT (id) DO UPDATE ... WHERE quakes.updated < EXCLUDED.updated
 *   whose RETURNING (xmax = 0 tells an insert from an update) feeds the quake_events rows
 *   (created | updated | deleted, seq increasing in origin-time order),
 *   NOTIFY quakes_events '<highest seq>' (ids only: the payload stays far below 8000 bytes),
 *   COMMIT.
 * An older or equal `updated` leaves the row alone and logs nothing (ignored). A row whose new
 * status is "deleted" logs `deleted` (the row stays, with that status). The same id twice in
 * one call keeps the newest `updated`. Also: pruning the change log, and the FDSN backfill
 * progress.
 *
 * Must not: run on an event-loop thread (every call blocks), parse JSON, or log (the caller
 * decides what a failure means: retry, reconnect, bisect).
 */
#ifndef STRATA_QUAKES_STORE_H
#define STRATA_QUAKES_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "apps/quakes/feature.h"
#include "core/buf.h"
#include "core/err.h"

struct quake_store; /* a connection and its staging table */

struct quake_store_counts {
    uint64_t created, updated, deleted; /* rows written, by the kind of event logged */
    uint64_t ignored;                   /* same or older `updated` than stored (or a duplicate in the call) */
    int64_t max_seq;                    /* highest quake_events.seq written; 0 when none */
};

/* Connects (blocking) with the given statement_timeout (0: none). NULL with err on failure. */
struct quake_store *quake_store_open(const char *conninfo, int64_t statement_timeout_ms, char *err, size_t errlen);
void quake_store_free(struct quake_store *s);

/* Upserts n quakes in one transaction; *c gets what happened. Errors (the transaction is rolled
 * back): STRATA_EUNAVAIL (connection lost: reopen and retry), STRATA_EBUSY (serialization
 * failure or deadlock with another writer: retry as is), STRATA_EINVAL (the server refused a
 * value: retry in smaller parts to find it), STRATA_EIO (anything else). */
int quake_store_upsert(struct quake_store *s, const struct quake *q, size_t n, struct quake_store_counts *c,
                       char *err, size_t errlen) STRATA_MUST_CHECK;

/* Appends the COPY text quake_store_upsert would send for q[0..n) to out. Pure (no connection):
 * another thread may encode the next batch while one is stored. */
void quake_store_encode(const struct quake *q, size_t n, struct buf *out);

/* quake_store_upsert of n quakes whose COPY text quake_store_encode wrote to copy. */
int quake_store_upsert_encoded(struct quake_store *s, const struct buf *copy, size_t n,
                               struct quake_store_counts *c, char *err, size_t errlen) STRATA_MUST_CHECK;

/* Deletes change-log rows older than retention_ms; *removed gets how many. */
int quake_store_prune(struct quake_store *s, int64_t retention_ms, uint64_t *removed, char *err,
                      size_t errlen) STRATA_MUST_CHECK;

/* Backfill progress for the range [start_ms, end_ms): created at start_ms when new;
 * *done_until_ms gets how far it got. */
int quake_store_backfill_begin(struct quake_store *s, int64_t start_ms, int64_t end_ms, int64_t *done_until_ms,
                               char *err, size_t errlen) STRATA_MUST_CHECK;
/* Records that [.., done_until_ms) is stored, after a window of `features` features. */
int quake_store_backfill_advance(struct quake_store *s, int64_t start_ms, int64_t end_ms, int64_t done_until_ms,
                                 uint64_t features, char *err, size_t errlen) STRATA_MUST_CHECK;

#endif
