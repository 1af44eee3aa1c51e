/*
 * db: asynchronous PostgreSQL access for event-loop threads. Never blocks the loop.
 *
 * One db_pool per event loop, with three groups of connections:
 *   fast  pipelined connections for interactive statements (statement_timeout_fast)
 *   slow  pipelined connections for reports and bulk work (statement_timeout_slow)
 *   tx    connections lent to one transaction at a time (db_tx_*)
 * A statement's class picks its group, and each connection is opened with its group's
 * statement_timeout, so no SET is ever sent per query. Independent statements from many
 * requests share a connection in pipeline mode and are flushed once per loop turn; one
 * failing statement aborts the rest of its batch, and those are re-sent (they did not run).
 *
 * Queries wait in a bounded queue per group (db_queue_max); a full queue or a group with no
 * live connection is refused at once (STRATA_EBUSY / STRATA_EUNAVAIL -> 503 + Retry-After).
 * Connections that fail are reopened with exponential backoff (100 ms .. 5 s), on the loop.
 * A query whose caller no longer wants it (client gone) is dropped if still queued, or
 * cancelled on the server (PQcancel, on a helper thread) if running.
 *
 * Must not: know about HTTP, or any app's SQL.
 */
#ifndef STRATA_DB_H
#define STRATA_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "core/err.h"

struct st_h2o_evloop_t;

enum db_class { DB_FAST = 0, DB_SLOW = 1 };

/* Statement flags. */
enum db_stmt_flag {
    /* The statement changes data. In pipeline mode every statement up to a Sync shares one
     * implicit transaction, so a failing neighbour would roll a write back after its caller
     * was told it succeeded: a writing statement is therefore always sent between two Syncs
     * of its own. */
    DB_WRITE = 1u << 0,
};

/* A prepared statement. Declare them static. */
struct db_stmt {
    const char *name; /* unique, e.g. "core_schema_version" */
    const char *sql;
    int nparams;
    enum db_class cls;
    unsigned flags; /* enum db_stmt_flag */
};

struct db_result {
    int err;              /* 0, or STRATA_EUNAVAIL (connection lost), STRATA_EIO (statement failed) */
    const PGresult *res;  /* valid during the callback; NULL when err != 0 before execution */
    const char *sqlstate; /* five characters when the server answered with an error, else "" */
    bool timed_out;       /* statement_timeout fired (SQLSTATE 57014) */
};

typedef void (*db_cb)(void *arg, const struct db_result *r);

struct db_pool;
struct db_query;
struct db_tx;

struct db_pool_stats {
    unsigned conns_ready, conns_total; /* all groups */
    unsigned inflight;                 /* statements sent, not answered */
    unsigned waiting;                  /* queued for a connection */
    unsigned tx_in_use;
    uint64_t queries, errors, timeouts, cancels, reconnects, rejected;
};

void db_register_stmt(const struct db_stmt *st);

struct db_pool *db_pool_new(struct st_h2o_evloop_t *loop, const char *conninfo);
/* Closes every connection; pending callbacks get STRATA_EUNAVAIL first. */
void db_pool_free(struct db_pool *p);
bool db_pool_ready(const struct db_pool *p, enum db_class cls);
void db_pool_get_stats(const struct db_pool *p, struct db_pool_stats *s);

/* Queues a prepared statement. values are copied (NULL entries are SQL NULL, text format).
 * The callback runs later, on this loop, exactly once unless db_query_abandon is called.
 * Returns STRATA_EBUSY (queue full) or STRATA_EUNAVAIL (no live connection) without queuing. */
int db_query(struct db_pool *p, const struct db_stmt *st, const char *const *values, db_cb cb, void *arg,
             struct db_query **handle) STRATA_MUST_CHECK;
/* The caller lost interest: the callback will not run; the statement is dropped or cancelled. */
void db_query_abandon(struct db_query *q);

/* Transactions: a tx connection is lent to the caller between begin and end. */
typedef void (*db_tx_cb)(void *arg, struct db_tx *tx, int err);
int db_tx_begin(struct db_pool *p, db_tx_cb cb, void *arg) STRATA_MUST_CHECK;
int db_tx_query(struct db_tx *tx, const struct db_stmt *st, const char *const *values, db_cb cb,
                void *arg) STRATA_MUST_CHECK;
/* COMMIT (commit=true) or ROLLBACK, then the connection goes back to the pool; cb gets the
 * outcome of the COMMIT/ROLLBACK. */
int db_tx_end(struct db_tx *tx, bool commit, db_cb cb, void *arg) STRATA_MUST_CHECK;

/* Blocking helpers for start-up and CLI commands only (never on an event-loop thread). */
PGconn *db_connect_blocking(const char *conninfo, char *err, size_t errlen);

#endif
