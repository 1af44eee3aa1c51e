#include "core/config.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/mem.h"

struct strata_config cfg;

static const char *const env_choices[] = {"production", "development", NULL};
static const char *const level_choices[] = {"debug", "info", "warn", "error", NULL};

static const struct config_setting core_settings[] = {
    {"http_addr", CFG_STRING, "127.0.0.1:8080", &cfg.http_addr, 0, 0, 0, NULL,
     "HTTP listen address, host:port (IPv6 as [::1]:8080)"},
    {"database_url", CFG_STRING, "", &cfg.database_url, CFG_SECRET, 0, 0, NULL,
     "PostgreSQL connection URL (libpq form); required"},
    {"env", CFG_ENUM, "production", &cfg.env, 0, 0, 0, env_choices,
     "production or development (development relaxes secret requirements)"},
    {"log_level", CFG_ENUM, "info", &cfg.log_level, 0, 0, 0, level_choices,
     "lowest log level written: debug, info, warn, error"},
    {"http_threads", CFG_INT, "0", &cfg.http_threads, 0, 0, 256, NULL,
     "event-loop threads; 0 means one per CPU core"},
    {"max_connections", CFG_INT, "4096", &cfg.max_connections, 0, 1, 1000000, NULL,
     "open client connections per process; accepting pauses above it"},
    {"header_limit", CFG_SIZE, "16KiB", &cfg.header_limit, 0, 1024, 256 * 1024, NULL,
     "largest request line + headers accepted (431 above)"},
    {"body_limit", CFG_SIZE, "1MiB", &cfg.body_limit, 0, 1024, 64LL * 1024 * 1024 * 1024, NULL,
     "largest request body for routes that do not set their own (413 above)"},
    {"request_timeout", CFG_DURATION, "30s", &cfg.request_timeout_ms, 0, 100, 3600 * 1000, NULL,
     "time a request may take to be answered once received (503 after)"},
    {"client_timeout", CFG_DURATION, "10s", &cfg.client_timeout_ms, 0, 100, 3600 * 1000, NULL,
     "time a client has to send a complete request; slow clients are cut off"},
    {"idle_timeout", CFG_DURATION, "60s", &cfg.idle_timeout_ms, 0, 100, 3600 * 1000, NULL,
     "HTTP/2 connections idle longer than this are closed (HTTP/1.1 idle keep-alive is bounded by client_timeout)"},
    {"shutdown_grace", CFG_DURATION, "10s", &cfg.shutdown_grace_ms, 0, 0, 3600 * 1000, NULL,
     "on SIGTERM/SIGINT, time in-flight requests get to finish"},
    {"cors_origins", CFG_STRING, "", &cfg.cors_origins, 0, 0, 0, NULL,
     "comma-separated origins allowed by CORS (exact match; empty: none)"},
    {"trusted_proxies", CFG_STRING, "", &cfg.trusted_proxies, 0, 0, 0, NULL,
     "comma-separated addresses/CIDRs whose X-Forwarded-For is trusted"},
    {"db_pool_size", CFG_INT, "2", &cfg.db_pool_size, 0, 1, 64, NULL,
     "pipelined PostgreSQL connections per event loop"},
    {"db_tx_pool_size", CFG_INT, "2", &cfg.db_tx_pool_size, 0, 0, 64, NULL,
     "PostgreSQL connections per event loop reserved for transactions"},
    {"db_queue_max", CFG_INT, "1024", &cfg.db_queue_max, 0, 1, 1000000, NULL,
     "queries waiting for a connection per event loop before 503"},
    {"db_pipeline_depth", CFG_INT, "128", &cfg.db_pipeline_depth, 0, 1, 10000, NULL,
     "queries in flight on one connection"},
    {"db_connect_timeout", CFG_DURATION, "5s", &cfg.db_connect_timeout_ms, 0, 100, 600 * 1000, NULL,
     "time allowed to establish a PostgreSQL connection"},
    {"statement_timeout_fast", CFG_DURATION, "5s", &cfg.statement_timeout_fast_ms, 0, 0,
     24LL * 3600 * 1000, NULL, "statement_timeout for interactive queries (0: none)"},
    {"statement_timeout_slow", CFG_DURATION, "60s", &cfg.statement_timeout_slow_ms, 0, 0,
     24LL * 3600 * 1000, NULL, "statement_timeout for reports and bulk work (0: none)"},
    {"auto_migrate", CFG_BOOL, "true", &cfg.auto_migrate, 0, 0, 0, NULL,
     "apply pending migrations at start"},
    {"debug_routes", CFG_BOOL, "false", &cfg.debug_routes, 0, 0, 0, NULL,
     "serve /api/v1/_debug/* (tests and diagnostics only; never in production)"},
    {"metrics_token", CFG_STRING, "", &cfg.metrics_token, CFG_SECRET, 0, 0, NULL,
     "when set, /metrics requires Authorization: Bearer <token>"},
    {"var_dir", CFG_STRING, "var", &cfg.var_dir, 0, 0, 0, NULL,
     "folder for generated state (development secrets, temp files)"},
    {NULL, 0, NULL, NULL, 0, 0, 0, NULL, NULL},
};

#define MAX_TABLES 16

static const struct config_setting *tables[MAX_TABLES];
static size_t ntables;
static enum config_source *sources[MAX_TABLES];
static bool core_registered;

void config_register(const struct config_setting *table)
{
    if (ntables == MAX_TABLES)
        abort();
    tables[ntables++] = table;
}

static size_t table_len(const struct config_setting *t)
{
    size_t n = 0;
    while (t[n].name)
        n++;
    return n;
}

/* ---- value parsers ----------------------------------------------------------------------- */

static int parse_int(const char *s, int64_t *v)
{
    if (!*s || isspace((unsigned char)*s))
        return STRATA_EINVAL;
    char *end;
    errno = 0;
    long long x = strtoll(s, &end, 10);
    if (errno || *end)
        return STRATA_EINVAL;
    *v = x;
    return 0;
}

/* Splits "123unit" into a non-negative number and its unit suffix. */
static int number_unit(const char *s, double *num, const char **unit)
{
    if (!*s || !isdigit((unsigned char)*s))
        return STRATA_EINVAL;
    char *end;
    errno = 0;
    double x = strtod(s, &end);
    if (errno || x < 0 || end == s)
        return STRATA_EINVAL;
    *num = x;
    *unit = end;
    return 0;
}

int config_parse_duration(const char *s, int64_t *ms)
{
    double x;
    const char *u;
    if (number_unit(s, &x, &u) < 0)
        return STRATA_EINVAL;
    double mult;
    if (!*u || !strcmp(u, "s"))
        mult = 1000;
    else if (!strcmp(u, "ms"))
        mult = 1;
    else if (!strcmp(u, "m") || !strcmp(u, "min"))
        mult = 60000;
    else if (!strcmp(u, "h"))
        mult = 3600000;
    else
        return STRATA_EINVAL;
    double v = x * mult;
    if (v > 9.0e15)
        return STRATA_ERANGE;
    *ms = (int64_t)v;
    return 0;
}

int config_parse_size(const char *s, int64_t *bytes)
{
    double x;
    const char *u;
    if (number_unit(s, &x, &u) < 0)
        return STRATA_EINVAL;
    double mult;
    if (!*u || !strcmp(u, "B"))
        mult = 1;
    else if (!strcasecmp(u, "k") || !strcmp(u, "KiB") || !strcmp(u, "KB"))
        mult = 1024.0;
    else if (!strcmp(u, "M") || !strcmp(u, "MiB") || !strcmp(u, "MB"))
        mult = 1024.0 * 1024;
    else if (!strcmp(u, "G") || !strcmp(u, "GiB") || !strcmp(u, "GB"))
        mult = 1024.0 * 1024 * 1024;
    else
        return STRATA_EINVAL;
    double v = x * mult;
    if (v > 9.0e15)
        return STRATA_ERANGE;
    *bytes = (int64_t)v;
    return 0;
}

int config_parse_bool(const char *s, bool *v)
{
    static const char *const yes[] = {"true", "1", "yes", "on"};
    static const char *const no[] = {"false", "0", "no", "off"};
    for (size_t i = 0; i < 4; i++) {
        if (!strcasecmp(s, yes[i])) {
            *v = true;
            return 0;
        }
        if (!strcasecmp(s, no[i])) {
            *v = false;
            return 0;
        }
    }
    return STRATA_EINVAL;
}

static void env_name(const struct config_setting *s, char *out, size_t n)
{
    size_t j = (size_t)snprintf(out, n, "STRATA_");
    for (const char *p = s->name; *p && j + 1 < n; p++)
        out[j++] = (char)toupper((unsigned char)*p);
    out[j] = '\0';
}

static void flag_name(const struct config_setting *s, char *out, size_t n)
{
    size_t j = (size_t)snprintf(out, n, "--");
    for (const char *p = s->name; *p && j + 1 < n; p++)
        out[j++] = *p == '_' ? '-' : *p;
    out[j] = '\0';
}

/* Parses and stores one value. msg gets the reason on failure. */
static int apply(const struct config_setting *s, const char *v, char *msg, size_t msglen)
{
    int64_t n = 0;
    int rc = 0;
    switch (s->type) {
    case CFG_STRING: {
        char **p = s->target;
        free(*p);
        *p = xstrdup(v);
        return 0;
    }
    case CFG_ENUM: {
        for (const char *const *c = s->choices; *c; c++) {
            if (!strcmp(*c, v)) {
                char **p = s->target;
                free(*p);
                *p = xstrdup(v);
                return 0;
            }
        }
        size_t used = (size_t)snprintf(msg, msglen, "must be one of:");
        for (const char *const *c = s->choices; *c && used < msglen; c++)
            used += (size_t)snprintf(msg + used, msglen - used, " %s", *c);
        return STRATA_EINVAL;
    }
    case CFG_BOOL:
        if (config_parse_bool(v, s->target) < 0) {
            snprintf(msg, msglen, "must be true or false");
            return STRATA_EINVAL;
        }
        return 0;
    case CFG_INT:
        rc = parse_int(v, &n);
        if (rc < 0)
            snprintf(msg, msglen, "must be an integer");
        break;
    case CFG_DURATION:
        rc = config_parse_duration(v, &n);
        if (rc < 0)
            snprintf(msg, msglen, "must be a duration such as 500ms, 30s, 5m or 1h");
        break;
    case CFG_SIZE:
        rc = config_parse_size(v, &n);
        if (rc < 0)
            snprintf(msg, msglen, "must be a size such as 512, 16KiB or 1MiB");
        break;
    }
    if (rc < 0)
        return rc;
    if ((s->min || s->max) && (n < s->min || n > s->max)) {
        snprintf(msg, msglen, "must be between %" PRId64 " and %" PRId64 "%s", s->min, s->max,
                 s->type == CFG_DURATION ? " ms" : s->type == CFG_SIZE ? " bytes" : "");
        return STRATA_ERANGE;
    }
    *(int64_t *)s->target = n;
    return 0;
}

static const struct config_setting *find(const char *name, size_t len, enum config_source **src)
{
    for (size_t t = 0; t < ntables; t++) {
        for (size_t i = 0; tables[t][i].name; i++) {
            if (strlen(tables[t][i].name) == len && !memcmp(tables[t][i].name, name, len)) {
                *src = &sources[t][i];
                return &tables[t][i];
            }
        }
    }
    return NULL;
}

static void trim(char **s, char **e)
{
    while (*s < *e && isspace((unsigned char)**s))
        (*s)++;
    while (*e > *s && isspace((unsigned char)(*e)[-1]))
        (*e)--;
}

/* INI: "key = value" lines; '#' or ';' start comments; [sections] are ignored (one namespace);
 * values may be quoted with "..." or '...'. */
static int load_file(const char *file, char *err, size_t errlen)
{
    FILE *f = fopen(file, "r");
    if (!f) {
        snprintf(err, errlen, "cannot read config file %s: %s", file, strerror(errno));
        return STRATA_EIO;
    }
    char line[4096];
    int lineno = 0, rc = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        char *s = line, *e = line + strlen(line);
        trim(&s, &e);
        if (s == e || *s == '#' || *s == ';' || *s == '[')
            continue;
        char *eq = memchr(s, '=', (size_t)(e - s));
        if (!eq) {
            snprintf(err, errlen, "%s:%d: expected key = value", file, lineno);
            rc = STRATA_EINVAL;
            goto out;
        }
        char *ks = s, *ke = eq, *vs = eq + 1, *ve = e;
        trim(&ks, &ke);
        trim(&vs, &ve);
        if (ve - vs >= 2 && (*vs == '"' || *vs == '\'') && ve[-1] == *vs) {
            vs++;
            ve--;
        }
        *ve = '\0';
        enum config_source *src;
        const struct config_setting *st = find(ks, (size_t)(ke - ks), &src);
        if (!st) {
            snprintf(err, errlen, "%s:%d: unknown setting '%.*s'", file, lineno, (int)(ke - ks), ks);
            rc = STRATA_EINVAL;
            goto out;
        }
        char msg[256] = "";
        if (apply(st, vs, msg, sizeof msg) < 0) {
            snprintf(err, errlen, "invalid value for %s in %s:%d: %s", st->name, file, lineno, msg);
            rc = STRATA_EINVAL;
            goto out;
        }
        *src = CFG_SRC_FILE;
    }
out:
    fclose(f);
    return rc;
}

int config_load(const char *file, int *argc, char **argv, char *err, size_t errlen)
{
    char msg[256];
    if (!core_registered) {
        /* the core's table always comes first so --print lists it first */
        memmove(tables + 1, tables, ntables * sizeof tables[0]);
        tables[0] = core_settings;
        ntables++;
        core_registered = true;
    }
    for (size_t t = 0; t < ntables; t++) {
        size_t n = table_len(tables[t]);
        free(sources[t]);
        sources[t] = xcalloc(n ? n : 1, sizeof(enum config_source));
        for (size_t i = 0; i < n; i++) {
            if (apply(&tables[t][i], tables[t][i].def, msg, sizeof msg) < 0) {
                snprintf(err, errlen, "built-in default of %s is invalid: %s", tables[t][i].name, msg);
                return STRATA_EINVAL;
            }
        }
    }
    if (file && load_file(file, err, errlen) < 0)
        return STRATA_EINVAL;
    for (size_t t = 0; t < ntables; t++) {
        for (size_t i = 0; tables[t][i].name; i++) {
            char name[96];
            env_name(&tables[t][i], name, sizeof name);
            const char *v = getenv(name);
            if (!v)
                continue;
            if (apply(&tables[t][i], v, msg, sizeof msg) < 0) {
                snprintf(err, errlen, "invalid value for %s: %s", name, msg);
                return STRATA_EINVAL;
            }
            sources[t][i] = CFG_SRC_ENV;
        }
    }
    int out = 1;
    for (int a = 1; a < *argc; a++) {
        const char *arg = argv[a];
        const struct config_setting *st = NULL;
        enum config_source *src = NULL;
        const char *val = NULL;
        if (!strncmp(arg, "--", 2) && arg[2]) {
            const char *nm = arg + 2, *eq = strchr(nm, '=');
            size_t len = eq ? (size_t)(eq - nm) : strlen(nm);
            char key[96];
            if (len < sizeof key) {
                for (size_t k = 0; k < len; k++)
                    key[k] = nm[k] == '-' ? '_' : nm[k];
                st = find(key, len, &src);
            }
            if (st) {
                if (eq) {
                    val = eq + 1;
                } else if (a + 1 < *argc) {
                    val = argv[++a];
                } else {
                    snprintf(err, errlen, "%s needs a value", arg);
                    return STRATA_EINVAL;
                }
            }
        }
        if (!st) {
            argv[out++] = argv[a];
            continue;
        }
        if (apply(st, val, msg, sizeof msg) < 0) {
            char fl[96];
            flag_name(st, fl, sizeof fl);
            snprintf(err, errlen, "invalid value for %s: %s", fl, msg);
            return STRATA_EINVAL;
        }
        *src = CFG_SRC_FLAG;
    }
    argv[out] = NULL;
    *argc = out;
    return 0;
}

static void shell_quote(struct buf *out, const char *s)
{
    buf_putc(out, '\'');
    for (; *s; s++) {
        if (*s == '\'')
            buf_puts(out, "'\\''");
        else
            buf_putc(out, *s);
    }
    buf_putc(out, '\'');
}

void config_print(struct buf *out, bool show_secrets)
{
    static const char *const src_names[] = {"default", "file", "env", "flag"};
    for (size_t t = 0; t < ntables; t++) {
        for (size_t i = 0; tables[t][i].name; i++) {
            const struct config_setting *s = &tables[t][i];
            char name[96], val[64];
            env_name(s, name, sizeof name);
            const char *v = val;
            switch (s->type) {
            case CFG_STRING:
            case CFG_ENUM:
                v = *(char **)s->target;
                break;
            case CFG_BOOL:
                v = *(bool *)s->target ? "true" : "false";
                break;
            case CFG_DURATION:
                snprintf(val, sizeof val, "%" PRId64 "ms", *(int64_t *)s->target);
                break;
            default:
                snprintf(val, sizeof val, "%" PRId64, *(int64_t *)s->target);
                break;
            }
            buf_printf(out, "%s=", name);
            if ((s->flags & CFG_SECRET) && !show_secrets && v && *v)
                v = "********";
            shell_quote(out, v ? v : "");
            buf_printf(out, "  # %s\n", src_names[sources[t][i]]);
        }
    }
}

void config_print_markdown(struct buf *out)
{
    buf_puts(out, "| environment | flag / INI key | default | meaning |\n|---|---|---|---|\n");
    for (size_t t = 0; t < ntables; t++) {
        for (size_t i = 0; tables[t][i].name; i++) {
            const struct config_setting *s = &tables[t][i];
            char env[96], flag[96];
            env_name(s, env, sizeof env);
            flag_name(s, flag, sizeof flag);
            buf_printf(out, "| `%s` | `%s` / `%s` | %s%s%s | %s%s |\n", env, flag, s->name, s->def[0] ? "`" : "",
                       s->def[0] ? s->def : "(empty)", s->def[0] ? "`" : "", s->help,
                       (s->flags & CFG_SECRET) ? " (secret)" : "");
        }
    }
}

void config_free(void)
{
    for (size_t t = 0; t < ntables; t++) {
        for (size_t i = 0; tables[t][i].name; i++) {
            const struct config_setting *s = &tables[t][i];
            if (s->type == CFG_STRING || s->type == CFG_ENUM) {
                free(*(char **)s->target);
                *(char **)s->target = NULL;
            }
        }
        free(sources[t]);
        sources[t] = NULL;
    }
}

