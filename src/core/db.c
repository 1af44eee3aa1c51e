#include "core/db.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define H2O_USE_LIBUV 0
#include <h2o.h>

#include "core/config.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/timefmt.h"

#define MAX_STMTS 512
#define MAX_RETRIES 3
#define MAX_ABORT_RETRIES 1000
#define N_BACKOFF 7

static const uint64_t backoff_ms[N_BACKOFF] = {100, 200, 400, 800, 1600, 3200, 5000};

static const struct db_stmt *stmts[MAX_STMTS];
static unsigned nstmts;

enum item_kind { ITEM_QUERY, ITEM_PREPARE, ITEM_SYNC, ITEM_TXCTL };

struct db_query {
    struct db_query *prev, *next; /* waiting queue (doubly linked) or in-flight list (next) */
    enum item_kind kind;
    enum { Q_WAITING, Q_INFLIGHT } state;
    struct db_group *group;
    struct db_tx *tx;
    struct db_conn *conn;
    const struct db_stmt *st;
    unsigned stmt_idx;
    const char *sql; /* ITEM_TXCTL: BEGIN / COMMIT / ROLLBACK */
    char **values;
    int nvalues;
    db_cb cb;
    void *arg;
    PGresult *res;
    struct db_query *for_query; /* ITEM_PREPARE: the query that needed it */
    bool abandoned;
    bool prepare_failed;
    char prepare_sqlstate[6];
    int retries;
};

struct queue {
    struct db_query *head, *tail;
    unsigned n;
};

enum conn_state { C_DOWN, C_CONNECTING, C_READY };

struct db_conn {
    struct db_pool *pool;
    struct db_group *group;
    PGconn *pg;
    h2o_socket_t *sock;
    int sock_src_fd; /* PQsocket value the h2o socket was dup'ed from */
    enum conn_state state;
    struct db_query *head, *tail; /* sent, awaiting results, in order */
    unsigned ninflight;           /* ITEM_QUERY/ITEM_TXCTL in flight */
    bool unsynced;
    bool write_wait;
    h2o_timeout_entry_t retry_timer;
    h2o_timeout_entry_t connect_timer;
    unsigned backoff_idx;
    uint64_t prepared[MAX_STMTS / 64];
    struct db_tx *owner;
    uint64_t cancel_sent_ms; /* last PQcancel sent on this connection */
    bool ever_ready;
};

struct db_group {
    struct db_pool *pool;
    const char *name;
    struct db_conn *conns;
    unsigned n;
    struct queue waiting;
    int64_t stmt_timeout_ms;
    bool is_tx;
};

struct db_tx {
    struct db_pool *pool;
    struct db_conn *conn;
    struct db_tx *next_waiting;
    struct queue queue;
    db_tx_cb begin_cb;
    void *arg;
    bool ended;
};

struct db_pool {
    h2o_loop_t *loop;
    char *conninfo;
    struct db_group groups[3]; /* DB_FAST, DB_SLOW, tx */
    h2o_timeout_t backoff[N_BACKOFF];
    h2o_timeout_t connect_timeout;
    h2o_timeout_t zero;
    h2o_timeout_entry_t kick;
    struct db_tx *tx_wait_head, *tx_wait_tail;
    unsigned tx_waiting;
    struct db_pool_stats stats;
    bool closing;
};

#define GROUP_TX 2

/* ---- cancel thread: PQcancel blocks (it opens a connection), so it never runs on a loop ---- */

struct cancel_req {
    PGcancel *cancel;
    struct cancel_req *next;
};

static pthread_mutex_t cancel_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cancel_cv = PTHREAD_COND_INITIALIZER;
static struct cancel_req *cancel_head;
static bool cancel_started;

static void *cancel_main(void *unused)
{
    for (;;) {
        pthread_mutex_lock(&cancel_mu);
        while (!cancel_head)
            pthread_cond_wait(&cancel_cv, &cancel_mu);
        struct cancel_req *r = cancel_head;
        cancel_head = r->next;
        pthread_mutex_unlock(&cancel_mu);
        char err[256];
        if (!PQcancel(r->cancel, err, sizeof err))
            log_msg(LOG_WARN, NULL, "db cancel failed", "%s", err);
        PQfreeCancel(r->cancel);
        free(r);
    }
    return NULL;
}

static void cancel_post(PGcancel *c)
{
    struct cancel_req *r = xmalloc(sizeof *r);
    r->cancel = c;
    pthread_mutex_lock(&cancel_mu);
    if (!cancel_started) {
        pthread_t th;
        if (pthread_create(&th, NULL, cancel_main, NULL) == 0) {
            pthread_detach(th);
            cancel_started = true;
        }
    }
    r->next = cancel_head;
    cancel_head = r;
    pthread_cond_signal(&cancel_cv);
    pthread_mutex_unlock(&cancel_mu);
}

/* ---- small helpers ------------------------------------------------------------------------ */

void db_register_stmt(const struct db_stmt *st)
{
    for (unsigned i = 0; i < nstmts; i++)
        if (stmts[i] == st)
            return;
    if (nstmts == MAX_STMTS)
        abort();
    stmts[nstmts++] = st;
}

static unsigned stmt_index(const struct db_stmt *st)
{
    for (unsigned i = 0; i < nstmts; i++)
        if (stmts[i] == st)
            return i;
    db_register_stmt(st);
    return nstmts - 1;
}

static void q_push_back(struct queue *q, struct db_query *it)
{
    it->next = NULL;
    it->prev = q->tail;
    if (q->tail)
        q->tail->next = it;
    else
        q->head = it;
    q->tail = it;
    q->n++;
}

static void q_push_front(struct queue *q, struct db_query *it)
{
    it->prev = NULL;
    it->next = q->head;
    if (q->head)
        q->head->prev = it;
    else
        q->tail = it;
    q->head = it;
    q->n++;
}

static void q_remove(struct queue *q, struct db_query *it)
{
    if (it->prev)
        it->prev->next = it->next;
    else
        q->head = it->next;
    if (it->next)
        it->next->prev = it->prev;
    else
        q->tail = it->prev;
    it->prev = it->next = NULL;
    q->n--;
}

static void item_free(struct db_query *it)
{
    if (!it)
        return;
    for (int i = 0; i < it->nvalues; i++)
        free(it->values[i]);
    free(it->values);
    if (it->res)
        PQclear(it->res);
    free(it);
}

static uint64_t now_ms(struct db_pool *p)
{
    return h2o_now(p->loop);
}

static void kick(struct db_pool *p)
{
    if (!h2o_timeout_is_linked(&p->kick))
        h2o_timeout_link(p->loop, &p->zero, &p->kick);
}

static void deliver(struct db_query *it, int err, const PGresult *res, const char *sqlstate, bool timed_out)
{
    struct db_result r = {err, res, sqlstate ? sqlstate : "", timed_out};
    if (!it->abandoned && it->cb)
        it->cb(it->arg, &r);
}

static void conn_fail(struct db_conn *c, const char *why);
static void conn_start(struct db_conn *c);
static void dispatch_group(struct db_group *g);

/* ---- socket plumbing ---------------------------------------------------------------------- */

static void on_readable(h2o_socket_t *sock, const char *err);
static void on_writable(h2o_socket_t *sock, const char *err);

static void conn_close_socket(struct db_conn *c)
{
    if (c->sock) {
        h2o_socket_read_stop(c->sock);
        c->sock->data = NULL;
        h2o_socket_close(c->sock);
        c->sock = NULL;
    }
    c->write_wait = false;
}

/* libpq may switch sockets while connecting: keep our h2o socket on the current one. */
static int conn_sync_socket(struct db_conn *c)
{
    int fd = PQsocket(c->pg);
    if (fd < 0)
        return -1;
    if (c->sock && fd == c->sock_src_fd)
        return 0;
    conn_close_socket(c);
    int dupfd = dup(fd);
    if (dupfd < 0)
        return -1;
    c->sock = h2o_evloop_socket_create(c->pool->loop, dupfd, H2O_SOCKET_FLAG_DONT_READ);
    c->sock->data = c;
    c->sock_src_fd = fd;
    h2o_socket_read_start(c->sock, on_readable);
    return 0;
}

static void want_write(struct db_conn *c)
{
    if (c->sock && !c->write_wait) {
        c->write_wait = true;
        h2o_socket_notify_write(c->sock, on_writable);
    }
}

static void conn_flush(struct db_conn *c)
{
    int r = PQflush(c->pg);
    if (r < 0)
        conn_fail(c, PQerrorMessage(c->pg));
    else if (r == 1)
        want_write(c);
}

/* ---- connecting --------------------------------------------------------------------------- */

static void connect_step(struct db_conn *c)
{
    PostgresPollingStatusType st = PQconnectPoll(c->pg);
    if (st == PGRES_POLLING_FAILED) {
        conn_fail(c, PQerrorMessage(c->pg));
        return;
    }
    if (conn_sync_socket(c) < 0) {
        conn_fail(c, "no socket");
        return;
    }
    if (st == PGRES_POLLING_WRITING) {
        want_write(c);
        return;
    }
    if (st == PGRES_POLLING_READING)
        return; /* on_readable will call again */
    /* PGRES_POLLING_OK */
    h2o_timeout_unlink(&c->connect_timer);
    if (PQsetnonblocking(c->pg, 1) != 0 || PQenterPipelineMode(c->pg) != 1) {
        conn_fail(c, PQerrorMessage(c->pg));
        return;
    }
    c->state = C_READY;
    c->backoff_idx = 0;
    memset(c->prepared, 0, sizeof c->prepared);
    if (c->ever_ready) {
        c->pool->stats.reconnects++;
        log_msg(LOG_INFO, NULL, "db reconnected", "group=%s", c->group->name);
    }
    c->ever_ready = true;
    if (c->group->is_tx) {
        /* hand the connection to a waiting transaction, if any */
        dispatch_group(c->group);
    }
    kick(c->pool);
}

static void on_connect_timeout(h2o_timeout_entry_t *e)
{
    struct db_conn *c = H2O_STRUCT_FROM_MEMBER(struct db_conn, connect_timer, e);
    if (c->state == C_CONNECTING)
        conn_fail(c, "connect timeout");
}

static void on_retry(h2o_timeout_entry_t *e)
{
    struct db_conn *c = H2O_STRUCT_FROM_MEMBER(struct db_conn, retry_timer, e);
    conn_start(c);
}

static void conn_start(struct db_conn *c)
{
    char opts[160];
    /* interactive statements never use parallel workers: for small indexed reads starting a
     * worker (which loads PostGIS first) cost 60-100 ms, far more than the query */
    snprintf(opts, sizeof opts, "-c statement_timeout=%lld%s", (long long)c->group->stmt_timeout_ms,
             c->group == &c->pool->groups[DB_FAST] ? " -c max_parallel_workers_per_gather=0" : "");
    const char *const keys[] = {"dbname", "options", "application_name", NULL};
    const char *const vals[] = {c->pool->conninfo, opts, "strata", NULL};
    c->pg = PQconnectStartParams(keys, vals, 1);
    c->state = C_CONNECTING;
    if (!c->pg || PQstatus(c->pg) == CONNECTION_BAD) {
        conn_fail(c, c->pg ? PQerrorMessage(c->pg) : "out of memory");
        return;
    }
    h2o_timeout_link(c->pool->loop, &c->pool->connect_timeout, &c->connect_timer);
    if (conn_sync_socket(c) < 0) {
        conn_fail(c, "no socket");
        return;
    }
    want_write(c); /* PQconnectStart: poll for writing first */
}

static unsigned group_ready(const struct db_group *g)
{
    unsigned n = 0;
    for (unsigned i = 0; i < g->n; i++)
        n += g->conns[i].state == C_READY;
    return n;
}

/* Ready, or still making its first connection: worth queuing for. A group whose connections
 * have all failed is refused at once (503) rather than making callers wait for a backoff. */
static bool group_can_serve(const struct db_group *g)
{
    for (unsigned i = 0; i < g->n; i++) {
        const struct db_conn *c = &g->conns[i];
        if (c->state == C_READY || (c->state == C_CONNECTING && !c->ever_ready && c->backoff_idx == 0))
            return true;
    }
    return false;
}

static void fail_queue(struct queue *q, int err)
{
    while (q->head) {
        struct db_query *it = q->head;
        q_remove(q, it);
        deliver(it, err, NULL, NULL, false);
        item_free(it);
    }
}

static void tx_fail_waiting(struct db_pool *p)
{
    while (p->tx_wait_head) {
        struct db_tx *tx = p->tx_wait_head;
        p->tx_wait_head = tx->next_waiting;
        p->tx_waiting--;
        tx->begin_cb(tx->arg, NULL, STRATA_EUNAVAIL);
        free(tx);
    }
    p->tx_wait_tail = NULL;
}

static void conn_fail(struct db_conn *c, const char *why)
{
    struct db_pool *p = c->pool;
    bool was_ready = c->state == C_READY;
    if (!p->closing && (was_ready || !c->ever_ready || c->backoff_idx == 0)) {
        char msg[256];
        snprintf(msg, sizeof msg, "%s", why ? why : "");
        size_t l = strlen(msg);
        while (l && (msg[l - 1] == '\n' || msg[l - 1] == ' '))
            msg[--l] = '\0';
        log_msg(was_ready ? LOG_ERROR : LOG_WARN, NULL, was_ready ? "db connection lost" : "db connect failed",
                "group=%s: %s", c->group->name, msg);
    }
    h2o_timeout_unlink(&c->connect_timer);
    conn_close_socket(c);
    if (c->pg) {
        PQfinish(c->pg);
        c->pg = NULL;
    }
    c->state = C_DOWN;
    c->unsynced = false;
    /* statements that were sent may or may not have run: report, never resend */
    struct db_query *it = c->head;
    c->head = c->tail = NULL;
    c->ninflight = 0;
    while (it) {
        struct db_query *next = it->next;
        if (it->kind == ITEM_QUERY || it->kind == ITEM_TXCTL) {
            p->stats.errors++;
            deliver(it, STRATA_EUNAVAIL, NULL, NULL, false);
        }
        item_free(it);
        it = next;
    }
    if (c->owner) {
        struct db_tx *tx = c->owner;
        tx->conn = NULL;
        c->owner = NULL;
        fail_queue(&tx->queue, STRATA_EUNAVAIL);
    }
    if (!p->closing) {
        if (!group_can_serve(c->group)) {
            fail_queue(&c->group->waiting, STRATA_EUNAVAIL);
            if (c->group->is_tx)
                tx_fail_waiting(p);
        }
        h2o_timeout_link(p->loop, &p->backoff[c->backoff_idx], &c->retry_timer);
        if (c->backoff_idx + 1 < N_BACKOFF)
            c->backoff_idx++;
    }
}

/* ---- results ------------------------------------------------------------------------------ */

static void maybe_cancel_head(struct db_conn *c)
{
    struct db_query *h = c->head;
    while (h && h->kind == ITEM_PREPARE)
        h = h->next;
    if (!h || h->kind != ITEM_QUERY || !h->abandoned || h->state != Q_INFLIGHT || h->res)
        return;
    if (h->retries < 0)
        return; /* already cancelled */
    h->retries = -1;
    PGcancel *cn = PQgetCancel(c->pg);
    if (cn) {
        c->cancel_sent_ms = now_ms(c->pool);
        c->pool->stats.cancels++;
        cancel_post(cn);
    }
}

static void pop_head(struct db_conn *c)
{
    struct db_query *it = c->head;
    c->head = it->next;
    if (!c->head)
        c->tail = NULL;
    it->next = NULL;
    if (it->kind == ITEM_QUERY || it->kind == ITEM_TXCTL)
        c->ninflight--;
}

static struct queue *conn_queue(struct db_conn *c)
{
    if (c->group->is_tx)
        return c->owner ? &c->owner->queue : NULL;
    return &c->group->waiting;
}

static void complete(struct db_conn *c, struct db_query *it)
{
    struct db_pool *p = c->pool;
    if (it->kind == ITEM_PREPARE) {
        ExecStatusType pst = it->res ? PQresultStatus(it->res) : PGRES_FATAL_ERROR;
        if (pst != PGRES_COMMAND_OK) {
            /* not prepared on this connection: the next use prepares again */
            c->prepared[it->stmt_idx / 64] &= ~(1ull << (it->stmt_idx % 64));
            /* aborted by an earlier error is not a failure of this statement's SQL */
            if (it->for_query && pst != PGRES_PIPELINE_ABORTED) {
                it->for_query->prepare_failed = true;
                const char *ss = it->res ? PQresultErrorField(it->res, PG_DIAG_SQLSTATE) : NULL;
                snprintf(it->for_query->prepare_sqlstate, 6, "%s", ss ? ss : "");
                log_msg(LOG_ERROR, NULL, "db prepare failed", "statement=%s sqlstate=%s: %s",
                        it->for_query->st->name, ss ? ss : "", it->res ? PQresultErrorMessage(it->res) : "");
            }
        }
        item_free(it);
        return;
    }
    ExecStatusType st = it->res ? PQresultStatus(it->res) : PGRES_FATAL_ERROR;
    switch (st) {
    case PGRES_TUPLES_OK:
    case PGRES_COMMAND_OK:
        deliver(it, 0, it->res, NULL, false);
        break;
    case PGRES_PIPELINE_ABORTED:
        if (it->prepare_failed) {
            p->stats.errors++;
            deliver(it, STRATA_EIO, NULL, it->prepare_sqlstate, false);
        } else if (!it->abandoned && it->retries >= 0 && it->retries < MAX_ABORT_RETRIES && conn_queue(c)) {
            /* it never ran: send it again in the next batch. Each round the statement that
             * failed first leaves the batch, so this ends; the cap only guards against bugs. */
            it->retries++;
            PQclear(it->res);
            it->res = NULL;
            it->state = Q_WAITING;
            it->conn = NULL;
            q_push_front(conn_queue(c), it);
            kick(p);
            return;
        } else {
            p->stats.errors++;
            deliver(it, STRATA_EIO, NULL, "", false);
        }
        break;
    default: {
        const char *ss = it->res ? PQresultErrorField(it->res, PG_DIAG_SQLSTATE) : NULL;
        bool cancelled = ss && !strcmp(ss, "57014");
        if (ss && !strcmp(ss, "26000") && !it->abandoned && it->retries >= 0 && it->retries < MAX_RETRIES &&
            conn_queue(c)) {
            /* its PREPARE, sent for an earlier statement in another sync segment, failed: the
             * statement never ran; prepare again and resend */
            c->prepared[it->stmt_idx / 64] &= ~(1ull << (it->stmt_idx % 64));
            it->retries++;
            PQclear(it->res);
            it->res = NULL;
            it->state = Q_WAITING;
            q_push_front(conn_queue(c), it);
            kick(p);
            return;
        }
        if (cancelled && !it->abandoned && it->retries >= 0 && it->retries < MAX_RETRIES &&
            c->cancel_sent_ms && now_ms(p) - c->cancel_sent_ms < 5000 && conn_queue(c)) {
            /* hit by a cancel meant for the statement before it */
            it->retries++;
            PQclear(it->res);
            it->res = NULL;
            it->state = Q_WAITING;
            q_push_front(conn_queue(c), it);
            kick(p);
            return;
        }
        p->stats.errors++;
        if (cancelled)
            p->stats.timeouts++;
        if (!it->abandoned && !cancelled)
            log_msg(LOG_ERROR, NULL, "db statement failed", "statement=%s sqlstate=%s: %s",
                    it->st ? it->st->name : it->sql, ss ? ss : "", it->res ? PQresultErrorMessage(it->res) : "");
        deliver(it, STRATA_EIO, it->res, ss, cancelled);
        break;
    }
    }
    item_free(it);
}

static void conn_read(struct db_conn *c)
{
    if (!PQconsumeInput(c->pg)) {
        conn_fail(c, PQerrorMessage(c->pg));
        return;
    }
    while (c->head && c->state == C_READY) {
        if (PQisBusy(c->pg))
            break;
        PGresult *r = PQgetResult(c->pg);
        struct db_query *it = c->head;
        if (it->kind == ITEM_SYNC) {
            ExecStatusType s = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
            if (r)
                PQclear(r);
            if (s != PGRES_PIPELINE_SYNC) {
                conn_fail(c, "pipeline out of step");
                return;
            }
            pop_head(c);
            item_free(it);
            continue;
        }
        if (r == NULL) {
            pop_head(c);
            complete(c, it);
            if (c->state != C_READY)
                return;
            maybe_cancel_head(c);
            continue;
        }
        if (!it->res)
            it->res = r;
        else
            PQclear(r);
    }
    if (c->state == C_READY && PQstatus(c->pg) == CONNECTION_BAD)
        conn_fail(c, PQerrorMessage(c->pg));
}

static void on_readable(h2o_socket_t *sock, const char *err)
{
    struct db_conn *c = sock->data;
    if (!c)
        return;
    if (c->state == C_CONNECTING) {
        connect_step(c);
        return;
    }
    if (c->state == C_READY)
        conn_read(c);
    if (c->state == C_READY && c->group->waiting.n)
        kick(c->pool);
}

static void on_writable(h2o_socket_t *sock, const char *err)
{
    struct db_conn *c = sock->data;
    if (!c)
        return;
    c->write_wait = false;
    if (c->state == C_CONNECTING) {
        connect_step(c);
        return;
    }
    if (c->state == C_READY)
        conn_flush(c);
}

/* ---- sending ------------------------------------------------------------------------------ */

static void push_inflight(struct db_conn *c, struct db_query *it)
{
    it->next = NULL;
    it->prev = NULL;
    it->state = Q_INFLIGHT;
    it->conn = c;
    if (c->tail)
        c->tail->next = it;
    else
        c->head = it;
    c->tail = it;
    if (it->kind == ITEM_QUERY || it->kind == ITEM_TXCTL)
        c->ninflight++;
}

static bool send_item(struct db_conn *c, struct db_query *it)
{
    if (it->kind == ITEM_TXCTL) {
        if (!PQsendQueryParams(c->pg, it->sql, 0, NULL, NULL, NULL, NULL, 0))
            return false;
        push_inflight(c, it);
        c->unsynced = true;
        return true;
    }
    unsigned idx = it->stmt_idx;
    if (!(c->prepared[idx / 64] & (1ull << (idx % 64)))) {
        if (!PQsendPrepare(c->pg, it->st->name, it->st->sql, it->st->nparams, NULL))
            return false;
        struct db_query *pr = xcalloc(1, sizeof *pr);
        pr->kind = ITEM_PREPARE;
        pr->stmt_idx = idx;
        pr->for_query = it;
        push_inflight(c, pr);
        c->prepared[idx / 64] |= 1ull << (idx % 64);
    }
    it->prepare_failed = false;
    if (!PQsendQueryPrepared(c->pg, it->st->name, it->nvalues, (const char *const *)it->values, NULL, NULL, 0))
        return false;
    push_inflight(c, it);
    c->unsynced = true;
    c->pool->stats.queries++;
    return true;
}

static void conn_sync(struct db_conn *c)
{
    if (!c->unsynced)
        return;
    if (!PQpipelineSync(c->pg)) {
        conn_fail(c, PQerrorMessage(c->pg));
        return;
    }
    struct db_query *s = xcalloc(1, sizeof *s);
    s->kind = ITEM_SYNC;
    push_inflight(c, s);
    c->unsynced = false;
    conn_flush(c);
}

static void dispatch_tx_conn(struct db_conn *c)
{
    /* one statement per sync: an error aborts nothing but the failing statement */
    struct db_tx *tx = c->owner;
    while (tx && tx->queue.head && c->state == C_READY) {
        struct db_query *it = tx->queue.head;
        q_remove(&tx->queue, it);
        if (!send_item(c, it)) {
            q_push_front(&tx->queue, it);
            conn_fail(c, PQerrorMessage(c->pg));
            return;
        }
        conn_sync(c);
    }
}

static void tx_assign(struct db_pool *p);

static void dispatch_group(struct db_group *g)
{
    int64_t depth = cfg.db_pipeline_depth > 0 ? cfg.db_pipeline_depth : 128;
    if (g->is_tx) {
        tx_assign(g->pool);
        for (unsigned i = 0; i < g->n; i++)
            if (g->conns[i].state == C_READY && g->conns[i].owner)
                dispatch_tx_conn(&g->conns[i]);
        return;
    }
    while (g->waiting.head) {
        struct db_conn *best = NULL;
        for (unsigned i = 0; i < g->n; i++) {
            struct db_conn *c = &g->conns[i];
            if (c->state == C_READY && (!best || c->ninflight < best->ninflight))
                best = c;
        }
        if (!best || best->ninflight >= (unsigned)depth)
            break;
        struct db_query *it = g->waiting.head;
        bool isolate = it->st && (it->st->flags & DB_WRITE);
        q_remove(&g->waiting, it);
        if (isolate)
            conn_sync(best); /* close the batch before: nothing of others shares its transaction */
        if (best->state != C_READY || !send_item(best, it)) {
            q_push_front(&g->waiting, it);
            if (best->state == C_READY)
                conn_fail(best, PQerrorMessage(best->pg));
            continue;
        }
        if (isolate)
            conn_sync(best);
    }
    for (unsigned i = 0; i < g->n; i++)
        if (g->conns[i].state == C_READY)
            conn_sync(&g->conns[i]);
}

static void on_kick(h2o_timeout_entry_t *e)
{
    struct db_pool *p = H2O_STRUCT_FROM_MEMBER(struct db_pool, kick, e);
    for (int g = 0; g < 3; g++)
        dispatch_group(&p->groups[g]);
}

/* ---- public API --------------------------------------------------------------------------- */

static void group_init(struct db_pool *p, struct db_group *g, const char *name, unsigned n, int64_t timeout, bool is_tx)
{
    g->pool = p;
    g->name = name;
    g->n = n;
    g->is_tx = is_tx;
    g->stmt_timeout_ms = timeout;
    g->conns = xcalloc(n ? n : 1, sizeof *g->conns);
    for (unsigned i = 0; i < n; i++) {
        struct db_conn *c = &g->conns[i];
        c->pool = p;
        c->group = g;
        c->sock_src_fd = -1;
        c->retry_timer.cb = on_retry;
        c->connect_timer.cb = on_connect_timeout;
    }
}

struct db_pool *db_pool_new(struct st_h2o_evloop_t *loop, const char *conninfo)
{
    struct db_pool *p = xcalloc(1, sizeof *p);
    p->loop = loop;
    p->conninfo = xstrdup(conninfo);
    for (int i = 0; i < N_BACKOFF; i++)
        h2o_timeout_init(loop, &p->backoff[i], backoff_ms[i]);
    h2o_timeout_init(loop, &p->connect_timeout, (uint64_t)cfg.db_connect_timeout_ms);
    h2o_timeout_init(loop, &p->zero, 0);
    p->kick.cb = on_kick;
    unsigned nfast = (unsigned)(cfg.db_pool_size > 0 ? cfg.db_pool_size : 1);
    unsigned nslow = 1;
    group_init(p, &p->groups[DB_FAST], "fast", nfast, cfg.statement_timeout_fast_ms, false);
    group_init(p, &p->groups[DB_SLOW], "slow", nslow, cfg.statement_timeout_slow_ms, false);
    group_init(p, &p->groups[GROUP_TX], "tx", (unsigned)cfg.db_tx_pool_size, cfg.statement_timeout_slow_ms, true);
    for (int g = 0; g < 3; g++)
        for (unsigned i = 0; i < p->groups[g].n; i++)
            conn_start(&p->groups[g].conns[i]);
    return p;
}

void db_pool_free(struct db_pool *p)
{
    if (!p)
        return;
    p->closing = true;
    tx_fail_waiting(p);
    for (int g = 0; g < 3; g++) {
        struct db_group *gr = &p->groups[g];
        fail_queue(&gr->waiting, STRATA_EUNAVAIL);
        for (unsigned i = 0; i < gr->n; i++) {
            struct db_conn *c = &gr->conns[i];
            h2o_timeout_unlink(&c->retry_timer);
            struct db_tx *owner = c->owner;
            if (c->state != C_DOWN)
                conn_fail(c, "pool closing");
            if (owner)
                owner->conn = NULL;
        }
        free(gr->conns);
    }
    if (h2o_timeout_is_linked(&p->kick))
        h2o_timeout_unlink(&p->kick);
    for (int i = 0; i < N_BACKOFF; i++)
        h2o_timeout_dispose(p->loop, &p->backoff[i]);
    h2o_timeout_dispose(p->loop, &p->connect_timeout);
    h2o_timeout_dispose(p->loop, &p->zero);
    free(p->conninfo);
    free(p);
}

bool db_pool_ready(const struct db_pool *p, enum db_class cls)
{
    return group_ready(&p->groups[cls]) > 0;
}

void db_pool_get_stats(const struct db_pool *p, struct db_pool_stats *s)
{
    *s = p->stats;
    s->conns_ready = s->conns_total = s->inflight = s->waiting = s->tx_in_use = 0;
    for (int g = 0; g < 3; g++) {
        const struct db_group *gr = &p->groups[g];
        s->conns_total += gr->n;
        s->conns_ready += group_ready(gr);
        s->waiting += gr->waiting.n;
        for (unsigned i = 0; i < gr->n; i++) {
            s->inflight += gr->conns[i].ninflight;
            s->tx_in_use += gr->conns[i].owner != NULL;
        }
    }
    s->waiting += p->tx_waiting;
}

static struct db_query *item_new(const struct db_stmt *st, const char *const *values, db_cb cb, void *arg)
{
    struct db_query *it = xcalloc(1, sizeof *it);
    it->kind = ITEM_QUERY;
    it->st = st;
    it->stmt_idx = stmt_index(st);
    it->cb = cb;
    it->arg = arg;
    it->nvalues = st->nparams;
    if (st->nparams) {
        it->values = xcalloc((size_t)st->nparams, sizeof(char *));
        for (int i = 0; i < st->nparams; i++)
            it->values[i] = values && values[i] ? xstrdup(values[i]) : NULL;
    }
    return it;
}

int db_query(struct db_pool *p, const struct db_stmt *st, const char *const *values, db_cb cb, void *arg,
             struct db_query **handle)
{
    struct db_group *g = &p->groups[st->cls];
    if (!group_can_serve(g)) {
        p->stats.rejected++;
        return STRATA_EUNAVAIL;
    }
    if (g->waiting.n >= (unsigned)cfg.db_queue_max) {
        p->stats.rejected++;
        return STRATA_EBUSY;
    }
    struct db_query *it = item_new(st, values, cb, arg);
    it->group = g;
    it->state = Q_WAITING;
    q_push_back(&g->waiting, it);
    kick(p);
    if (handle)
        *handle = it;
    return 0;
}

void db_query_abandon(struct db_query *q)
{
    if (!q || q->abandoned)
        return;
    q->abandoned = true;
    if (q->state == Q_WAITING) {
        struct queue *qu = q->tx ? &q->tx->queue : &q->group->waiting;
        q_remove(qu, q);
        item_free(q);
        return;
    }
    if (q->conn)
        maybe_cancel_head(q->conn);
}

/* ---- transactions ------------------------------------------------------------------------- */

static void on_begin(void *arg, const struct db_result *r)
{
    struct db_tx *tx = arg;
    if (r->err) {
        /* the connection goes back; the caller learns it failed */
        if (tx->conn) {
            tx->conn->owner = NULL;
            tx->conn = NULL;
        }
        tx->begin_cb(tx->arg, NULL, r->err);
        free(tx);
        return;
    }
    tx->begin_cb(tx->arg, tx, 0);
}

static void tx_send_ctl(struct db_tx *tx, const char *sql, db_cb cb, void *arg)
{
    struct db_query *it = xcalloc(1, sizeof *it);
    it->kind = ITEM_TXCTL;
    it->sql = sql;
    it->cb = cb;
    it->arg = arg;
    it->tx = tx;
    it->state = Q_WAITING;
    it->retries = MAX_ABORT_RETRIES; /* never resent */
    q_push_back(&tx->queue, it);
    kick(tx->pool);
}

static void tx_assign(struct db_pool *p)
{
    struct db_group *g = &p->groups[GROUP_TX];
    while (p->tx_wait_head) {
        struct db_conn *free_c = NULL;
        for (unsigned i = 0; i < g->n; i++)
            if (g->conns[i].state == C_READY && !g->conns[i].owner)
                free_c = &g->conns[i];
        if (!free_c)
            return;
        struct db_tx *tx = p->tx_wait_head;
        p->tx_wait_head = tx->next_waiting;
        if (!p->tx_wait_head)
            p->tx_wait_tail = NULL;
        p->tx_waiting--;
        tx->conn = free_c;
        free_c->owner = tx;
        tx_send_ctl(tx, "BEGIN", on_begin, tx);
    }
}

int db_tx_begin(struct db_pool *p, db_tx_cb cb, void *arg)
{
    if (!group_can_serve(&p->groups[GROUP_TX]))
        return STRATA_EUNAVAIL;
    if (p->tx_waiting >= (unsigned)cfg.db_queue_max)
        return STRATA_EBUSY;
    struct db_tx *tx = xcalloc(1, sizeof *tx);
    tx->pool = p;
    tx->begin_cb = cb;
    tx->arg = arg;
    if (p->tx_wait_tail)
        p->tx_wait_tail->next_waiting = tx;
    else
        p->tx_wait_head = tx;
    p->tx_wait_tail = tx;
    p->tx_waiting++;
    kick(p);
    return 0;
}

int db_tx_query(struct db_tx *tx, const struct db_stmt *st, const char *const *values, db_cb cb, void *arg)
{
    if (!tx->conn || tx->ended)
        return STRATA_EUNAVAIL;
    struct db_query *it = item_new(st, values, cb, arg);
    it->tx = tx;
    it->state = Q_WAITING;
    it->retries = MAX_ABORT_RETRIES; /* inside a transaction nothing is resent */
    q_push_back(&tx->queue, it);
    kick(tx->pool);
    return 0;
}

struct tx_end_ctx {
    struct db_tx *tx;
    db_cb cb;
    void *arg;
};

static void on_end(void *arg, const struct db_result *r)
{
    struct tx_end_ctx *e = arg;
    struct db_tx *tx = e->tx;
    struct db_conn *c = tx->conn;
    if (c) {
        c->owner = NULL;
        if (r->err && c->state == C_READY)
            conn_fail(c, "transaction end failed"); /* never lend a connection in an unknown state */
        kick(c->pool);
    }
    if (e->cb)
        e->cb(e->arg, r);
    free(e);
    free(tx);
}

int db_tx_end(struct db_tx *tx, bool commit, db_cb cb, void *arg)
{
    if (tx->ended)
        return STRATA_EINVAL;
    tx->ended = true;
    struct tx_end_ctx *e = xmalloc(sizeof *e);
    e->tx = tx;
    e->cb = cb;
    e->arg = arg;
    if (!tx->conn) {
        struct db_result r = {STRATA_EUNAVAIL, NULL, "", false};
        on_end(e, &r);
        return 0;
    }
    tx_send_ctl(tx, commit ? "COMMIT" : "ROLLBACK", on_end, e);
    return 0;
}

PGconn *db_connect_blocking(const char *conninfo, char *err, size_t errlen)
{
    const char *const keys[] = {"dbname", "application_name", "connect_timeout", NULL};
    const char *const vals[] = {conninfo, "strata", "10", NULL};
    PGconn *pg = PQconnectdbParams(keys, vals, 1);
    if (!pg || PQstatus(pg) != CONNECTION_OK) {
        snprintf(err, errlen, "%s", pg ? PQerrorMessage(pg) : "out of memory");
        size_t l = strlen(err);
        while (l && (err[l - 1] == '\n' || err[l - 1] == ' '))
            err[--l] = '\0';
        if (pg)
            PQfinish(pg);
        return NULL;
    }
    return pg;
}
