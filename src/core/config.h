/*
 * config: every setting Strata has, in tables of (name, type, default, help, flags), as
 * Redis's config.c and PgBouncer's CF_* tables do. Precedence, lowest first: built-in default
 * < INI file (--config FILE; key = name in lower case, e.g. http_addr) < environment
 * (STRATA_<NAME>) < command-line flag (--<name with dashes>=VALUE or --<name> VALUE).
 *
 * The core registers its own table; each app registers its own table (config_register) before
 * config_load, so the core knows no app setting. An invalid value stops the start with a
 * message naming the setting. Values are written into the variables the tables point at.
 */
#ifndef STRATA_CONFIG_H
#define STRATA_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"

enum config_type {
    CFG_STRING,   /* char * (owned by config) */
    CFG_INT,      /* int64_t, with min/max */
    CFG_BOOL,     /* bool: true|false|1|0|yes|no|on|off */
    CFG_DURATION, /* int64_t milliseconds: "250ms", "30s", "5m", "1h"; a bare number is seconds */
    CFG_SIZE,     /* int64_t bytes: "512", "16KiB", "1MiB", "1GiB" (also k, M, G = 1024-based) */
    CFG_ENUM,     /* char * that must be one of choices */
};

enum config_flag {
    CFG_SECRET = 1u << 0, /* masked by config --print and never logged */
};

enum config_source { CFG_SRC_DEFAULT, CFG_SRC_FILE, CFG_SRC_ENV, CFG_SRC_FLAG };

struct config_setting {
    const char *name; /* lower_snake; NULL ends a table */
    enum config_type type;
    const char *def;
    void *target; /* char **, int64_t *, or bool * depending on type */
    unsigned flags;
    int64_t min, max;           /* CFG_INT, CFG_DURATION, CFG_SIZE; both 0: unbounded */
    const char *const *choices; /* CFG_ENUM, NULL-terminated */
    const char *help;
};

/* The core's settings (apps keep theirs in their own modules). */
struct strata_config {
    char *http_addr;
    char *database_url;
    char *env; /* "production" | "development" */
    char *log_level;
    int64_t http_threads;
    int64_t max_connections;
    int64_t header_limit;
    int64_t body_limit;
    int64_t request_timeout_ms;
    int64_t client_timeout_ms;
    int64_t idle_timeout_ms;
    int64_t shutdown_grace_ms;
    char *cors_origins;
    char *trusted_proxies;
    int64_t db_pool_size;
    int64_t db_tx_pool_size;
    int64_t db_queue_max;
    int64_t db_pipeline_depth;
    int64_t db_connect_timeout_ms;
    int64_t statement_timeout_fast_ms;
    int64_t statement_timeout_slow_ms;
    bool auto_migrate;
    bool debug_routes;
    char *metrics_token;
    char *var_dir;
};

extern struct strata_config cfg;

/* Adds a table of settings (static storage). Call before config_load. */
void config_register(const struct config_setting *table);
/* Applies defaults, the file (may be NULL), the environment and the flags. Flags that name a
 * setting are consumed from argv (argc/argv updated); other arguments are left in place.
 * On error, err holds "invalid value for STRATA_X (--x): reason". */
int config_load(const char *file, int *argc, char **argv, char *err, size_t errlen) STRATA_MUST_CHECK;
/* KEY='value'  # source  lines for every setting, secrets masked. */
void config_print(struct buf *out, bool show_secrets);
/* The settings as a Markdown table (README): env var, flag, default, meaning. */
void config_print_markdown(struct buf *out);
void config_free(void);

/* Parsers, exposed for tests and for other modules' values. */
int config_parse_duration(const char *s, int64_t *ms) STRATA_MUST_CHECK;
int config_parse_size(const char *s, int64_t *bytes) STRATA_MUST_CHECK;
int config_parse_bool(const char *s, bool *v) STRATA_MUST_CHECK;

#endif
