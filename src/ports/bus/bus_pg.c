/* bus_pg: the embedded bus adapter — PostgreSQL LISTEN/NOTIFY on the main database. A thread
 * of its own holds one listening connection (blocking libpq, never on an event loop) and
 * reconnects with backoff; publishing uses a second connection under a mutex. */
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "core/config.h"
#include "core/db.h"
#include "core/log.h"
#include "core/mem.h"
#include "ports/bus/bus.h"

#define MAX_SUBS 16

struct pg_sub {
    char *channel;
    bus_cb cb;
    void *arg;
};

struct bus_pg {
    struct bus base;
    struct pg_sub subs[MAX_SUBS];
    size_t nsubs;
    pthread_t thread;
    bool running;
    int stop_pipe[2];
    pthread_mutex_t pub_mu;
    PGconn *pub;
};

static struct bus *pg_open(const char *url, char *err, size_t errlen)
{
    struct bus_pg *b = xcalloc(1, sizeof *b);
    b->base.ops = &bus_pg_ops;
    b->stop_pipe[0] = b->stop_pipe[1] = -1;
    pthread_mutex_init(&b->pub_mu, NULL);
    return &b->base;
}

static int pg_subscribe(struct bus *base, const char *channel, bus_cb cb, void *arg)
{
    struct bus_pg *b = (struct bus_pg *)base;
    if (b->running || b->nsubs == MAX_SUBS)
        return STRATA_EINVAL;
    b->subs[b->nsubs++] = (struct pg_sub){xstrdup(channel), cb, arg};
    return 0;
}

static PGconn *listen_all(struct bus_pg *b)
{
    char err[256];
    PGconn *pg = db_connect_blocking(cfg.database_url, err, sizeof err);
    if (!pg)
        return NULL;
    for (size_t i = 0; i < b->nsubs; i++) {
        char *ident = PQescapeIdentifier(pg, b->subs[i].channel, strlen(b->subs[i].channel));
        char sql[256];
        snprintf(sql, sizeof sql, "LISTEN %s", ident ? ident : "\"\"");
        PQfreemem(ident);
        PGresult *r = PQexec(pg, sql);
        bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
        PQclear(r);
        if (!ok) {
            PQfinish(pg);
            return NULL;
        }
    }
    return pg;
}

static void dispatch(struct bus_pg *b, PGconn *pg)
{
    PGnotify *nt;
    while ((nt = PQnotifies(pg))) {
        for (size_t i = 0; i < b->nsubs; i++)
            if (!strcmp(b->subs[i].channel, nt->relname))
                b->subs[i].cb(b->subs[i].arg, nt->relname, nt->extra ? nt->extra : "");
        PQfreemem(nt);
    }
}

static void *pg_main(void *arg)
{
    struct bus_pg *b = arg;
    PGconn *pg = NULL;
    int backoff = 100;
    for (;;) {
        if (!pg) {
            pg = listen_all(b);
            if (pg) {
                backoff = 100;
                for (size_t i = 0; i < b->nsubs; i++) /* resynchronise: notices may be lost */
                    b->subs[i].cb(b->subs[i].arg, b->subs[i].channel, NULL);
            }
        }
        /* notifications libpq already read (while a LISTEN ran) wait in its queue: the socket
         * will not wake poll for them */
        if (pg)
            dispatch(b, pg);
        struct pollfd fds[2] = {{b->stop_pipe[0], POLLIN, 0}, {pg ? PQsocket(pg) : -1, POLLIN, 0}};
        int n = poll(fds, 2, pg ? 30000 : backoff);
        if (n > 0 && (fds[0].revents & POLLIN))
            break;
        if (!pg) {
            backoff = backoff < 5000 ? backoff * 2 : 5000;
            continue;
        }
        if (n > 0 && (fds[1].revents & (POLLIN | POLLERR | POLLHUP))) {
            if (!PQconsumeInput(pg)) {
                log_msg(LOG_WARN, NULL, "bus connection lost", "%s", PQerrorMessage(pg));
                PQfinish(pg);
                pg = NULL;
                continue;
            }
            dispatch(b, pg);
        }
    }
    if (pg)
        PQfinish(pg);
    return NULL;
}

static int pg_start(struct bus *base)
{
    struct bus_pg *b = (struct bus_pg *)base;
    if (b->running)
        return 0;
    if (pipe2(b->stop_pipe, O_CLOEXEC) != 0 || pthread_create(&b->thread, NULL, pg_main, b) != 0)
        return STRATA_EIO;
    b->running = true;
    return 0;
}

static int pg_publish(struct bus *base, const char *channel, const char *payload)
{
    struct bus_pg *b = (struct bus_pg *)base;
    int rc = STRATA_EUNAVAIL;
    pthread_mutex_lock(&b->pub_mu);
    for (int attempt = 0; attempt < 2 && rc != 0; attempt++) {
        if (!b->pub || PQstatus(b->pub) != CONNECTION_OK) {
            if (b->pub)
                PQfinish(b->pub);
            char err[256];
            b->pub = db_connect_blocking(cfg.database_url, err, sizeof err);
            if (!b->pub)
                continue;
        }
        const char *vals[] = {channel, payload};
        PGresult *r = PQexecParams(b->pub, "SELECT pg_notify($1, $2)", 2, NULL, vals, NULL, NULL, 0);
        rc = PQresultStatus(r) == PGRES_TUPLES_OK ? 0 : STRATA_EIO;
        PQclear(r);
    }
    pthread_mutex_unlock(&b->pub_mu);
    return rc;
}

static void pg_close(struct bus *base)
{
    struct bus_pg *b = (struct bus_pg *)base;
    if (b->running) {
        if (write(b->stop_pipe[1], "x", 1) != 1)
            log_msg(LOG_WARN, NULL, "bus stop signal failed", NULL);
        pthread_join(b->thread, NULL);
        close(b->stop_pipe[0]);
        close(b->stop_pipe[1]);
    }
    if (b->pub)
        PQfinish(b->pub);
    for (size_t i = 0; i < b->nsubs; i++)
        free(b->subs[i].channel);
    pthread_mutex_destroy(&b->pub_mu);
    free(b);
}

const struct bus_ops bus_pg_ops = {
    .scheme = "postgres",
    .open = pg_open,
    .subscribe = pg_subscribe,
    .start = pg_start,
    .publish = pg_publish,
    .close = pg_close,
};
