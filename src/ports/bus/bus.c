#include "ports/bus/bus.h"

#include <stdio.h>
#include <string.h>

#include "core/config.h"

static char *bus_url;

static const struct config_setting bus_settings[] = {
    {"bus_url", CFG_STRING, "postgres", &bus_url, CFG_SECRET, 0, 0, NULL,
     "event bus between processes: postgres (LISTEN/NOTIFY on the database)"},
    {NULL, 0, NULL, NULL, 0, 0, 0, NULL, NULL},
};

void bus_register_config(void)
{
    config_register(bus_settings);
}

static const struct bus_ops *const adapters[] = {&bus_pg_ops, NULL};

struct bus *bus_open(char *err, size_t errlen)
{
    for (size_t i = 0; adapters[i]; i++) {
        size_t n = strlen(adapters[i]->scheme);
        if (!strncmp(bus_url, adapters[i]->scheme, n) && (bus_url[n] == '\0' || bus_url[n] == ':'))
            return adapters[i]->open(bus_url, err, errlen);
    }
    snprintf(err, errlen, "invalid value for STRATA_BUS_URL: unknown scheme (supported: postgres)");
    return NULL;
}

int bus_subscribe(struct bus *b, const char *channel, bus_cb cb, void *arg)
{
    return b->ops->subscribe(b, channel, cb, arg);
}

int bus_start(struct bus *b)
{
    return b->ops->start(b);
}

int bus_publish(struct bus *b, const char *channel, const char *payload)
{
    return b->ops->publish(b, channel, payload);
}

void bus_close(struct bus *b)
{
    if (b)
        b->ops->close(b);
}
