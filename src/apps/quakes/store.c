#include "apps/quakes/store.h"

#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "core/buf.h"
#include "core/db.h"
#include "core/mem.h"
#include "core/timefmt.h"

struct quake_store {
    PGconn *pg;
};

#define COLUMNS                                                                                              \
    "id, time, updated, mag, magtype, place, lon, lat, depth_km, status, eventtype, alert, tsunami, sig, "    \
    "felt, cdi, mmi, gap, net, code, sources, title, properties"

/* ON COMMIT DELETE ROWS: every transaction starts with it empty, whatever happened before. */
static const char SQL_STAGING[] =
    "CREATE TEMP TABLE quake_staging ("
    " ord integer NOT NULL, id text NOT NULL, time timestamptz NOT NULL, updated timestamptz NOT NULL,"
    " mag double precision, magtype text, place text, lon double precision NOT NULL,"
    " lat double precision NOT NULL, depth_km double precision NOT NULL, status text NOT NULL,"
    " eventtype text NOT NULL, alert text, tsunami boolean NOT NULL, sig integer, felt integer,"
    " cdi double precision, mmi double precision, gap double precision, net text, code text,"
    " sources text, title text, properties jsonb NOT NULL"
    ") ON COMMIT DELETE ROWS";

static const char SQL_COPY[] = "COPY quake_staging (ord, " COLUMNS ") FROM STDIN";

/* One statement: the newest version of each staged id, upserted; each row actually written
 * logs one event. Data-modifying CTEs run exactly once and see the same snapshot. Rows go in
 * id order, so two ingest processes writing overlapping batches take their row locks in the
 * same order (no deadlock); events are numbered in origin-time order. */
static const char SQL_UPSERT[] =
    "WITH src AS ("
    "  SELECT DISTINCT ON (id) * FROM quake_staging ORDER BY id, updated DESC, ord DESC"
    "), up AS ("
    "  INSERT INTO quakes AS q (" COLUMNS ")"
    "  SELECT " COLUMNS " FROM src ORDER BY id"
    "  ON CONFLICT (id) DO UPDATE SET"
    "   time = EXCLUDED.time, updated = EXCLUDED.updated, mag = EXCLUDED.mag, magtype = EXCLUDED.magtype,"
    "   place = EXCLUDED.place, lon = EXCLUDED.lon, lat = EXCLUDED.lat, depth_km = EXCLUDED.depth_km,"
    "   status = EXCLUDED.status, eventtype = EXCLUDED.eventtype, alert = EXCLUDED.alert,"
    "   tsunami = EXCLUDED.tsunami, sig = EXCLUDED.sig, felt = EXCLUDED.felt, cdi = EXCLUDED.cdi,"
    "   mmi = EXCLUDED.mmi, gap = EXCLUDED.gap, net = EXCLUDED.net, code = EXCLUDED.code,"
    "   sources = EXCLUDED.sources, title = EXCLUDED.title, properties = EXCLUDED.properties,"
    "   ingested_at = now()"
    "  WHERE q.updated < EXCLUDED.updated"
    "  RETURNING q.id, q.time, q.status, q.xmax = 0 AS inserted"
    "), ev AS ("
    "  INSERT INTO quake_events (quake_id, kind)"
    "  SELECT id, CASE WHEN status = 'deleted' THEN 'deleted' WHEN inserted THEN 'created' ELSE 'updated' END"
    "  FROM up ORDER BY time, id"
    "  RETURNING seq, kind"
    ")"
    "SELECT count(*) FILTER (WHERE kind = 'created'), count(*) FILTER (WHERE kind = 'updated'),"
    "       count(*) FILTER (WHERE kind = 'deleted'), coalesce(max(seq), 0)"
    "  FROM ev";

/* ---- errors ------------------------------------------------------------------------------ */

static void set_err(char *err, size_t errlen, const char *what, const char *msg)
{
    snprintf(err, errlen, "%s: %s", what, msg && *msg ? msg : "unknown error");
    size_t l = strlen(err);
    while (l && (err[l - 1] == '\n' || err[l - 1] == ' '))
        err[--l] = '\0';
}

/* What a failed result means for the caller (see store.h). */
static int classify(PGconn *pg, const PGresult *r)
{
    if (PQstatus(pg) != CONNECTION_OK)
        return STRATA_EUNAVAIL;
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    if (!state)
        return STRATA_EIO;
    if (!strncmp(state, "08", 2) || !strncmp(state, "57P", 3))
        return STRATA_EUNAVAIL; /* connection exception, admin/crash shutdown */
    if (!strncmp(state, "22", 2) || !strncmp(state, "23", 2))
        return STRATA_EINVAL; /* data exception, integrity constraint */
    if (!strcmp(state, "40001") || !strcmp(state, "40P01"))
        return STRATA_EBUSY; /* serialization failure, deadlock: the same call may succeed */
    return STRATA_EIO;
}

/* Runs sql (no parameters) expecting `want`; on failure fills err and returns the class. */
static int exec_simple(PGconn *pg, const char *sql, ExecStatusType want, const char *what, char *err, size_t errlen)
{
    PGresult *r = PQexec(pg, sql);
    int rc = 0;
    if (PQresultStatus(r) != want) {
        set_err(err, errlen, what, r ? PQresultErrorMessage(r) : PQerrorMessage(pg));
        rc = classify(pg, r);
    }
    PQclear(r);
    return rc;
}

static void rollback(PGconn *pg)
{
    if (PQstatus(pg) == CONNECTION_OK && PQtransactionStatus(pg) != PQTRANS_IDLE)
        PQclear(PQexec(pg, "ROLLBACK"));
}

/* ---- connection -------------------------------------------------------------------------- */

struct quake_store *quake_store_open(const char *conninfo, int64_t statement_timeout_ms, char *err, size_t errlen)
{
    PGconn *pg = db_connect_blocking(conninfo, err, errlen);
    if (!pg)
        return NULL;
    char setup[256];
    snprintf(setup, sizeof setup,
             "SET statement_timeout = %" PRId64 "; SET client_min_messages = warning;"
             " SET application_name = 'strata-ingest';"
             " SET work_mem = '64MB'", /* a batch's DISTINCT ON sorts whole rows: keep it in memory */
             statement_timeout_ms);
    if (exec_simple(pg, setup, PGRES_COMMAND_OK, "session setup", err, errlen) < 0 ||
        exec_simple(pg, SQL_STAGING, PGRES_COMMAND_OK, "staging table", err, errlen) < 0) {
        PQfinish(pg);
        return NULL;
    }
    struct quake_store *s = xcalloc(1, sizeof *s);
    s->pg = pg;
    return s;
}

void quake_store_free(struct quake_store *s)
{
    if (!s)
        return;
    PQfinish(s->pg);
    free(s);
}

/* ---- COPY text format ---------------------------------------------------------------------- */

static void copy_text(struct buf *b, const char *s)
{
    if (!s) {
        buf_puts(b, "\\N");
        return;
    }
    const char *run = s;
    for (;; s++) {
        static const bool special[256] = {['\0'] = true, ['\\'] = true, ['\t'] = true, ['\n'] = true, ['\r'] = true};
        while (!special[(unsigned char)*s])
            s++;
        const char *esc = NULL;
        switch (*s) {
        case '\0': break;
        case '\\': esc = "\\\\"; break;
        case '\t': esc = "\\t"; break;
        case '\n': esc = "\\n"; break;
        case '\r': esc = "\\r"; break;
        }
        if (!esc)
            break;
        buf_append(b, run, (size_t)(s - run));
        buf_puts(b, esc);
        run = s + 1;
    }
    buf_append(b, run, (size_t)(s - run));
}

static void copy_double(struct buf *b, double v)
{
    if (isnan(v))
        buf_puts(b, "\\N");
    else
        buf_printf(b, "%.17g", v);
}

static void copy_int(struct buf *b, int64_t v)
{
    if (v == QUAKE_INT_NULL)
        buf_puts(b, "\\N");
    else
        buf_printf(b, "%" PRId64, v);
}

static void copy_time(struct buf *b, int64_t ms)
{
    char t[TIMEFMT_LEN];
    buf_append(b, t, time_format_us(ms * 1000, t));
}

static void copy_row(struct buf *b, size_t ord, const struct quake *q)
{
    buf_printf(b, "%zu\t", ord);
    copy_text(b, q->id);
    buf_putc(b, '\t');
    copy_time(b, q->time_ms);
    buf_putc(b, '\t');
    copy_time(b, q->updated_ms);
    buf_putc(b, '\t');
    copy_double(b, q->mag);
    buf_putc(b, '\t');
    copy_text(b, q->magtype);
    buf_putc(b, '\t');
    copy_text(b, q->place);
    buf_putc(b, '\t');
    copy_double(b, q->lon);
    buf_putc(b, '\t');
    copy_double(b, q->lat);
    buf_putc(b, '\t');
    copy_double(b, q->depth_km);
    buf_putc(b, '\t');
    copy_text(b, q->status);
    buf_putc(b, '\t');
    copy_text(b, q->type);
    buf_putc(b, '\t');
    copy_text(b, q->alert);
    buf_puts(b, q->tsunami ? "\tt\t" : "\tf\t");
    copy_int(b, q->sig);
    buf_putc(b, '\t');
    copy_int(b, q->felt);
    buf_putc(b, '\t');
    copy_double(b, q->cdi);
    buf_putc(b, '\t');
    copy_double(b, q->mmi);
    buf_putc(b, '\t');
    copy_double(b, q->gap);
    buf_putc(b, '\t');
    copy_text(b, q->net);
    buf_putc(b, '\t');
    copy_text(b, q->code);
    buf_putc(b, '\t');
    copy_text(b, q->sources);
    buf_putc(b, '\t');
    copy_text(b, q->title);
    buf_putc(b, '\t');
    copy_text(b, q->properties);
    buf_putc(b, '\n');
}

#define COPY_CHUNK (256 * 1024)

void quake_store_encode(const struct quake *q, size_t n, struct buf *out)
{
    for (size_t i = 0; i < n; i++)
        copy_row(out, i, &q[i]);
}

/* Streams the rows: q[0..n) encoded here chunk by chunk (PostgreSQL reads one chunk while the
 * next is encoded), or the text `pre` already encoded. Returns 0 or an error class (the COPY is
 * then ended with an error). */
static int copy_rows(PGconn *pg, const struct quake *q, size_t n, const struct buf *pre, char *err, size_t errlen)
{
    PGresult *r = PQexec(pg, SQL_COPY);
    int rc = 0;
    if (PQresultStatus(r) != PGRES_COPY_IN) {
        set_err(err, errlen, "COPY", r ? PQresultErrorMessage(r) : PQerrorMessage(pg));
        rc = classify(pg, r);
        PQclear(r);
        return rc;
    }
    PQclear(r);
    if (pre) {
        for (size_t off = 0; off < pre->len && rc == 0; off += COPY_CHUNK) {
            size_t m = pre->len - off < COPY_CHUNK ? pre->len - off : COPY_CHUNK;
            if (PQputCopyData(pg, pre->data + off, (int)m) != 1) {
                set_err(err, errlen, "COPY data", PQerrorMessage(pg));
                rc = STRATA_EUNAVAIL;
            }
        }
    } else {
        struct buf b;
        buf_init(&b);
        for (size_t i = 0; i < n && rc == 0; i++) {
            copy_row(&b, i, &q[i]);
            if (b.len >= COPY_CHUNK || i + 1 == n) {
                if (PQputCopyData(pg, b.data, (int)b.len) != 1) {
                    set_err(err, errlen, "COPY data", PQerrorMessage(pg));
                    rc = STRATA_EUNAVAIL;
                }
                buf_reset(&b);
            }
        }
        buf_cleanup(&b);
    }
    if (PQputCopyEnd(pg, rc ? "aborted by strata" : NULL) != 1 && rc == 0) {
        set_err(err, errlen, "COPY end", PQerrorMessage(pg));
        rc = STRATA_EUNAVAIL;
    }
    /* the COPY's own outcome, then libpq's terminating NULL */
    while ((r = PQgetResult(pg)) != NULL) {
        if (PQresultStatus(r) != PGRES_COMMAND_OK && rc == 0) {
            set_err(err, errlen, "COPY", PQresultErrorMessage(r));
            rc = classify(pg, r);
        }
        PQclear(r);
    }
    if (rc == 0 && PQstatus(pg) != CONNECTION_OK) {
        set_err(err, errlen, "COPY", PQerrorMessage(pg));
        rc = STRATA_EUNAVAIL;
    }
    return rc;
}

static uint64_t col_u64(const PGresult *r, int col)
{
    return strtoull(PQgetvalue(r, 0, col), NULL, 10);
}

static int upsert(struct quake_store *s, const struct quake *q, size_t n, const struct buf *pre,
                  struct quake_store_counts *c, char *err, size_t errlen)
{
    PGconn *pg = s->pg;
    PGresult *r = NULL;
    int rc;

    memset(c, 0, sizeof *c);
    if (n == 0)
        return 0;
    if ((rc = exec_simple(pg, "BEGIN", PGRES_COMMAND_OK, "BEGIN", err, errlen)) < 0 ||
        (rc = copy_rows(pg, q, n, pre, err, errlen)) < 0)
        goto out;
    r = PQexec(pg, SQL_UPSERT);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
        set_err(err, errlen, "upsert", r ? PQresultErrorMessage(r) : PQerrorMessage(pg));
        rc = classify(pg, r);
        goto out;
    }
    c->created = col_u64(r, 0);
    c->updated = col_u64(r, 1);
    c->deleted = col_u64(r, 2);
    c->max_seq = (int64_t)col_u64(r, 3);
    c->ignored = n - (c->created + c->updated + c->deleted);
    PQclear(r);
    r = NULL;
    if (c->max_seq > 0) {
        char seq[24];
        snprintf(seq, sizeof seq, "%" PRId64, c->max_seq);
        const char *vals[1] = {seq};
        r = PQexecParams(pg, "SELECT pg_notify('quakes_events', $1)", 1, NULL, vals, NULL, NULL, 0);
        if (PQresultStatus(r) != PGRES_TUPLES_OK) {
            set_err(err, errlen, "NOTIFY", r ? PQresultErrorMessage(r) : PQerrorMessage(pg));
            rc = classify(pg, r);
            goto out;
        }
    }
    rc = exec_simple(pg, "COMMIT", PGRES_COMMAND_OK, "COMMIT", err, errlen);
out:
    PQclear(r);
    if (rc < 0) {
        rollback(pg);
        memset(c, 0, sizeof *c);
    }
    return rc;
}

int quake_store_upsert(struct quake_store *s, const struct quake *q, size_t n, struct quake_store_counts *c,
                       char *err, size_t errlen)
{
    return upsert(s, q, n, NULL, c, err, errlen);
}

int quake_store_upsert_encoded(struct quake_store *s, const struct buf *copy, size_t n,
                               struct quake_store_counts *c, char *err, size_t errlen)
{
    return upsert(s, NULL, n, copy, c, err, errlen);
}

/* ---- change log, backfill progress --------------------------------------------------------- */

/* One parameterized statement expecting `want`; *out gets the result when asked for. */
static int exec_params(PGconn *pg, const char *sql, int n, const char *const *vals, ExecStatusType want,
                       const char *what, PGresult **out, char *err, size_t errlen)
{
    PGresult *r = PQexecParams(pg, sql, n, NULL, vals, NULL, NULL, 0);
    int rc = 0;
    if (PQresultStatus(r) != want) {
        set_err(err, errlen, what, r ? PQresultErrorMessage(r) : PQerrorMessage(pg));
        rc = classify(pg, r);
    }
    if (out && rc == 0)
        *out = r;
    else
        PQclear(r);
    return rc;
}

int quake_store_prune(struct quake_store *s, int64_t retention_ms, uint64_t *removed, char *err, size_t errlen)
{
    char ms[24];
    snprintf(ms, sizeof ms, "%" PRId64, retention_ms);
    const char *vals[1] = {ms};
    PGresult *r = NULL;
    *removed = 0;
    int rc = exec_params(s->pg, "DELETE FROM quake_events WHERE at < now() - $1::bigint * interval '1 millisecond'",
                         1, vals, PGRES_COMMAND_OK, "prune", &r, err, errlen);
    if (rc == 0) {
        *removed = strtoull(PQcmdTuples(r), NULL, 10);
        PQclear(r);
    }
    return rc;
}

static void fmt_time(int64_t ms, char out[TIMEFMT_LEN])
{
    time_format_us(ms * 1000, out);
}

int quake_store_backfill_begin(struct quake_store *s, int64_t start_ms, int64_t end_ms, int64_t *done_until_ms,
                               char *err, size_t errlen)
{
    char a[TIMEFMT_LEN], b[TIMEFMT_LEN];
    fmt_time(start_ms, a);
    fmt_time(end_ms, b);
    const char *vals[2] = {a, b};
    PGresult *r = NULL;
    int rc = exec_params(s->pg,
                         "INSERT INTO quake_backfill_progress AS p (starttime, endtime, done_until)"
                         " VALUES ($1, $2, $1)"
                         " ON CONFLICT (starttime, endtime) DO UPDATE SET updated_at = now()"
                         " RETURNING (extract(epoch FROM p.done_until) * 1000)::bigint",
                         2, vals, PGRES_TUPLES_OK, "backfill progress", &r, err, errlen);
    if (rc == 0) {
        *done_until_ms = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
        PQclear(r);
    }
    return rc;
}

int quake_store_backfill_advance(struct quake_store *s, int64_t start_ms, int64_t end_ms, int64_t done_until_ms,
                                 uint64_t features, char *err, size_t errlen)
{
    char a[TIMEFMT_LEN], b[TIMEFMT_LEN], d[TIMEFMT_LEN], n[24];
    fmt_time(start_ms, a);
    fmt_time(end_ms, b);
    fmt_time(done_until_ms, d);
    snprintf(n, sizeof n, "%" PRIu64, features);
    const char *vals[4] = {a, b, d, n};
    return exec_params(s->pg,
                       "UPDATE quake_backfill_progress SET done_until = $3, windows = windows + 1,"
                       " features = features + $4::bigint, updated_at = now()"
                       " WHERE starttime = $1 AND endtime = $2",
                       4, vals, PGRES_COMMAND_OK, "backfill progress", NULL, err, errlen);
}
