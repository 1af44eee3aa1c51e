/*
 * log: structured JSON log lines on stderr, one object per line, written with one write(2) so
 * lines from different threads never interleave. Fields: time, level, msg, then what the
 * caller adds (request_id, route, status, ...). Secrets never reach this module: callers log
 * route templates and paths without query strings, never headers or bodies.
 *
 * Log once, where an error is handled.
 */
#ifndef STRATA_LOG_H
#define STRATA_LOG_H

#include <stdbool.h>

#include "core/buf.h"
#include "core/jsonw.h"

enum log_level { LOG_DEBUG = 0, LOG_INFO = 1, LOG_WARN = 2, LOG_ERROR = 3 };

struct log_line {
    struct buf buf;
    struct jsonw w; /* add fields with jsonw_kv_* between log_begin and log_end */
};

void log_set_level(const char *name); /* "debug" | "info" | "warn" | "error" */
bool log_enabled(enum log_level level);
/* Starts a line; returns false (and nothing to end) when the level is filtered out. */
bool log_begin(struct log_line *l, enum log_level level, const char *msg, const char *request_id);
void log_end(struct log_line *l);

/* One-shot: {"time","level","msg","request_id"?,"detail"?}. request_id may be NULL. */
void log_msg(enum log_level level, const char *request_id, const char *msg, const char *detail_fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
