/*
 * bus: the event bus between Strata processes (an ingestor tells every API process that new
 * events exist). Messages are small notices — ids, sequence numbers — never whole events:
 * subscribers read the rows themselves, so a notice lost in a reconnect costs nothing once the
 * subscriber resynchronises (its callback gets payload NULL after every (re)connect).
 *
 * Adapters, chosen by STRATA_BUS_URL: "postgres" (default: LISTEN/NOTIFY on the main database,
 * bus_pg.c). A Redis pub/sub adapter comes with the issue that needs it.
 *
 * Callbacks run on the bus's own thread: they may block on their own database connection, and
 * must hand work to event loops (fanout) rather than touch loop state.
 */
#ifndef STRATA_BUS_H
#define STRATA_BUS_H

#include <stddef.h>

#include "core/err.h"

/* payload NULL: (re)connected, messages may have been missed — resynchronise. */
typedef void (*bus_cb)(void *arg, const char *channel, const char *payload);

struct bus;

struct bus_ops {
    const char *scheme;
    struct bus *(*open)(const char *url, char *err, size_t errlen);
    int (*subscribe)(struct bus *b, const char *channel, bus_cb cb, void *arg); /* before start */
    int (*start)(struct bus *b);                                                 /* its thread */
    int (*publish)(struct bus *b, const char *channel, const char *payload);     /* blocking */
    void (*close)(struct bus *b);
};

struct bus {
    const struct bus_ops *ops;
};

void bus_register_config(void);
/* The bus named by STRATA_BUS_URL. */
struct bus *bus_open(char *err, size_t errlen);
int bus_subscribe(struct bus *b, const char *channel, bus_cb cb, void *arg) STRATA_MUST_CHECK;
int bus_start(struct bus *b) STRATA_MUST_CHECK;
int bus_publish(struct bus *b, const char *channel, const char *payload) STRATA_MUST_CHECK;
void bus_close(struct bus *b);

extern const struct bus_ops bus_pg_ops;

#endif
