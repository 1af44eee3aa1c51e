#include "core/migrate.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "core/db.h"
#include "core/log.h"
#include "core/mem.h"

/* Same key in every Strata process: "strata.migrations" folded into 63 bits. */
#define MIGRATE_LOCK_KEY "7224736418412851117"

static uint64_t checksum(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a: detects edits, not an adversary */
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    return h;
}

static int cmp_migration(const void *a, const void *b)
{
    const struct migration *x = *(const struct migration *const *)a, *y = *(const struct migration *const *)b;
    bool xc = !strcmp(x->module, "core"), yc = !strcmp(y->module, "core");
    if (xc != yc)
        return xc ? -1 : 1;
    int c = strcmp(x->module, y->module);
    if (c)
        return c;
    return x->version < y->version ? -1 : x->version > y->version;
}

static bool exec_ok(PGconn *pg, const char *sql, char *err, size_t errlen)
{
    PGresult *r = PQexec(pg, sql);
    ExecStatusType st = PQresultStatus(r);
    bool ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
    if (!ok)
        snprintf(err, errlen, "%s", PQresultErrorMessage(r));
    PQclear(r);
    return ok;
}

int migrate_run(const char *conninfo, unsigned *applied, char *err, size_t errlen)
{
    int rc = STRATA_EIO;
    const struct migration **order = NULL;
    PGresult *have = NULL;
    *applied = 0;
    PGconn *pg = db_connect_blocking(conninfo, err, errlen);
    if (!pg)
        return STRATA_EUNAVAIL;
    exec_ok(pg, "SET client_min_messages = warning", err, errlen);
    if (!exec_ok(pg, "BEGIN", err, errlen) ||
        !exec_ok(pg, "SELECT pg_advisory_xact_lock(" MIGRATE_LOCK_KEY ")", err, errlen) ||
        !exec_ok(pg,
                 "CREATE TABLE IF NOT EXISTS schema_migrations ("
                 " module text NOT NULL, version integer NOT NULL, name text NOT NULL,"
                 " checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now(),"
                 " PRIMARY KEY (module, version))",
                 err, errlen))
        goto out;
    have = PQexec(pg, "SELECT module, version, checksum FROM schema_migrations");
    if (PQresultStatus(have) != PGRES_TUPLES_OK) {
        snprintf(err, errlen, "%s", PQresultErrorMessage(have));
        goto out;
    }
    order = xcalloc(strata_migrations_count ? strata_migrations_count : 1, sizeof *order);
    for (unsigned i = 0; i < strata_migrations_count; i++)
        order[i] = &strata_migrations[i];
    qsort(order, strata_migrations_count, sizeof *order, cmp_migration);
    for (unsigned i = 0; i < strata_migrations_count; i++) {
        const struct migration *m = order[i];
        char sum[24];
        snprintf(sum, sizeof sum, "%016" PRIx64, checksum(m->sql));
        bool done = false;
        for (int row = 0; row < PQntuples(have); row++) {
            if (!strcmp(PQgetvalue(have, row, 0), m->module) && (unsigned)atoi(PQgetvalue(have, row, 1)) == m->version) {
                done = true;
                if (strcmp(PQgetvalue(have, row, 2), sum)) {
                    snprintf(err, errlen, "migration %s/%s was changed after it was applied; add a new migration instead",
                             m->module, m->name);
                    goto out;
                }
            }
        }
        if (done)
            continue;
        if (!exec_ok(pg, m->sql, err, errlen)) {
            char why[512];
            snprintf(why, sizeof why, "%s", err);
            snprintf(err, errlen, "migration %s/%s failed: %s", m->module, m->name, why);
            goto out;
        }
        char ver[16];
        snprintf(ver, sizeof ver, "%u", m->version);
        const char *vals[] = {m->module, ver, m->name, sum};
        PGresult *ins = PQexecParams(pg, "INSERT INTO schema_migrations (module, version, name, checksum) VALUES ($1,$2,$3,$4)",
                                     4, NULL, vals, NULL, NULL, 0);
        bool ok = PQresultStatus(ins) == PGRES_COMMAND_OK;
        if (!ok)
            snprintf(err, errlen, "%s", PQresultErrorMessage(ins));
        PQclear(ins);
        if (!ok)
            goto out;
        log_msg(LOG_INFO, NULL, "migration applied", "%s/%s", m->module, m->name);
        (*applied)++;
    }
    if (!exec_ok(pg, "COMMIT", err, errlen))
        goto out;
    rc = 0;
out:
    if (rc != 0) {
        size_t l = strlen(err);
        while (l && (err[l - 1] == '\n' || err[l - 1] == ' '))
            err[--l] = '\0';
        *applied = 0;
    }
    free(order);
    if (have)
        PQclear(have);
    PQfinish(pg);
    return rc;
}
