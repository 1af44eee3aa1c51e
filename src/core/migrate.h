/*
 * migrate: versioned SQL migrations, compiled into the binary (scripts/embed.sh turns
 * src/core/migrations/NNNN_name.sql and src/apps/<app>/migrations/NNNN_name.sql into a table).
 * The core's run first, then each app's in name order, each module's in version order. All
 * pending migrations are applied in one transaction under an advisory lock, so concurrent
 * starts of several processes apply them once, and recorded in schema_migrations
 * (module, version, name, checksum, applied_at). A recorded migration whose SQL has changed
 * since is reported and stops the start: migrations are append-only.
 *
 * Blocking: for start-up and `strata migrate` only, never on an event loop.
 */
#ifndef STRATA_MIGRATE_H
#define STRATA_MIGRATE_H

#include <stddef.h>

#include "core/err.h"

struct migration {
    const char *module;
    unsigned version;
    const char *name;
    const char *sql;
};

extern const struct migration strata_migrations[];
extern const unsigned strata_migrations_count;

/* Applies what is pending; *applied gets how many were applied now. */
int migrate_run(const char *conninfo, unsigned *applied, char *err, size_t errlen) STRATA_MUST_CHECK;

#endif
