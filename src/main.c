/*
 * strata: one binary, one subcommand per role. This file only parses the command line,
 * loads configuration and hands over to the module that does the work.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "apps/quakes/api.h"
#include "apps/quakes/fdsn.h"
#include "apps/quakes/map.h"
#include "apps/quakes/quakes.h"
#include "apps/quakes/stream.h"
#include "core/auth.h"
#include "core/auth_admin.h"
#include "core/auth_cli.h"
#include "core/auth_token.h"
#include "core/config.h"
#include "core/debug_routes.h"
#include "core/health.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/migrate.h"
#include "core/openapi_routes.h"
#include "core/password.h"
#include "core/workpool.h"
#include "ports/bus/bus.h"
#include "core/router.h"
#include "core/server.h"
#include "core/sse.h"
#include "core/ws.h"

#define STRATA_VERSION "0.1.0"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: strata [--config FILE] <command> [--setting value ...]\n"
            "\n"
            "commands:\n"
            "  serve         HTTP API server\n"
            "  worker        background worker (job processing, schedules)\n"
            "  ingest        data ingestors (USGS feeds)\n"
            "  mqtt-bridge   MQTT to telemetry bridge\n"
            "  all           every role in one process (development, small installs)\n"
            "  migrate       apply pending database migrations and exit\n"
            "  config --print [--show-secrets]   effective settings as KEY='value'  # source\n"
            "  config --markdown                 the settings table (README)\n"
            "  version       print the version\n"
            "  user add NAME --role ROLE [--password-stdin] | passwd NAME | disable NAME | enable NAME | list\n"
            "  client add NAME --role ROLE | list | revoke NAME\n"
            "  apikey create NAME --role ROLE [--expires RFC3339] | list | revoke ID\n"
            "\n"
            "Every setting can be given as --name value (see `strata config --print`).\n");
}

/* Long-running roles take SIGTERM/SIGINT with sigwait. Block them before any thread exists so
 * every thread inherits the block (a thread that did not would let the default action kill
 * the process mid-request), and undo an inherited "ignore": a background job of a
 * non-interactive shell starts with SIGINT ignored, and an ignored signal never reaches
 * sigwait. */
static void take_over_stop_signals(void)
{
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
}

static int add_routes(struct router *r, const struct route *routes)
{
    for (size_t i = 0; routes[i].method; i++) {
        if (router_add(r, &routes[i]) < 0) {
            fprintf(stderr, "strata: cannot register route %s %s\n", routes[i].method, routes[i].path);
            return -1;
        }
    }
    return 0;
}

static int check_database_url(void)
{
    if (!cfg.database_url || !cfg.database_url[0]) {
        fprintf(stderr, "strata: STRATA_DATABASE_URL is required (e.g. postgresql://user@127.0.0.1:5432/strata)\n");
        return -1;
    }
    return 0;
}

static int cmd_migrate(bool quiet)
{
    char err[1024];
    unsigned applied = 0;
    if (migrate_run(cfg.database_url, &applied, err, sizeof err) < 0) {
        log_msg(LOG_ERROR, NULL, "migration failed", "%s", err);
        fprintf(stderr, "strata: migration failed: %s\n", err);
        return 1;
    }
    if (!quiet)
        printf("migrations: %u applied, %u known\n", applied, strata_migrations_count);
    return 0;
}

static int cmd_serve(bool all)
{
    if (cfg.auto_migrate && cmd_migrate(true) != 0)
        return 1;
    struct router *r = router_new();
    int status = 1;
    if (add_routes(r, health_routes) < 0 || add_routes(r, metrics_routes) < 0 || add_routes(r, openapi_routes) < 0)
        goto out;
    if (add_routes(r, auth_token_routes) < 0 || add_routes(r, auth_admin_routes) < 0)
        goto out;
    if (add_routes(r, quakes_api_routes) < 0 || add_routes(r, quakes_stream_routes) < 0 ||
        add_routes(r, quakes_map_routes) < 0 || add_routes(r, quakes_fdsn_routes) < 0)
        goto out;
    if (cfg.debug_routes && (add_routes(r, debug_routes) < 0 || add_routes(r, debug_authz_routes) < 0))
        goto out;
    char err[512];
    struct bus *bus = bus_open(err, sizeof err);
    if (!bus) {
        fprintf(stderr, "strata: %s\n", err);
        status = 2;
        goto out;
    }
    if (debug_routes_init(cfg.debug_routes ? bus : NULL) < 0 || quakes_stream_init(bus) < 0 || bus_start(bus) < 0) {
        fprintf(stderr, "strata: cannot start the event bus\n");
        goto out_bus;
    }
    if (auth_load_keys(err, sizeof err) < 0 || auth_bootstrap_admin(err, sizeof err) < 0 ||
        auth_start(err, sizeof err) < 0) {
        fprintf(stderr, "strata: %s\n", err);
        status = 2;
        goto out_bus;
    }
    if (workpool_start(2, 1024) < 0) {
        fprintf(stderr, "strata: cannot start worker threads\n");
        goto out_auth;
    }
    if (all && quakes_ingest_start() < 0) {
        fprintf(stderr, "strata: cannot start the quakes ingestor\n");
        workpool_stop();
        goto out_auth;
    }
    status = server_run(r);
    if (all)
        quakes_ingest_stop();
    workpool_stop();
out_auth:
    auth_stop();
out_bus:
    bus_close(bus);
out:
    router_free(r);
    return status;
}

/* Roles that apps fill (worker tasks, ingestors, the MQTT bridge). Until an app registers a
 * task, the role has nothing to run: it says so and waits for a stop signal, so process
 * supervisors and `strata all` already treat it like the finished role. */
static int cmd_idle_role(const char *role)
{
    log_msg(LOG_INFO, NULL, "role started with no tasks registered", "role=%s", role);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    int sig;
    sigwait(&set, &sig);
    log_msg(LOG_INFO, NULL, "stopped", "role=%s", role);
    return 0;
}

int main(int argc, char **argv)
{
    const char *config_file = NULL;
    int a = 1;
    while (a < argc && argv[a][0] == '-') {
        if (!strcmp(argv[a], "--config") && a + 1 < argc) {
            config_file = argv[a + 1];
            a += 2;
        } else if (!strncmp(argv[a], "--config=", 9)) {
            config_file = argv[a] + 9;
            a++;
        } else if (!strcmp(argv[a], "-h") || !strcmp(argv[a], "--help")) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "strata: unknown option %s (global options come before the command)\n", argv[a]);
            usage(stderr);
            return 2;
        }
    }
    if (a >= argc) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[a];
    /* the subcommand's own arguments, with argv[0] = command name */
    int sargc = argc - a;
    char **sargv = argv + a;

    if (!strcmp(cmd, "version")) {
        printf("strata %s (libpq %d)\n", STRATA_VERSION, PQlibVersion());
        return 0;
    }
    openapi_register_config();
    auth_register_config();
    password_register_config();
    sse_register_config();
    ws_register_config();
    quakes_register_config();
    bus_register_config();
    char err[512];
    if (config_load(config_file, &sargc, sargv, err, sizeof err) < 0) {
        fprintf(stderr, "strata: %s\n", err);
        return 2;
    }
    log_set_level(cfg.log_level);
    int status = 2;
    if (!strcmp(cmd, "config")) {
        bool print = false, secrets = false, markdown = false;
        for (int i = 1; i < sargc; i++) {
            if (!strcmp(sargv[i], "--print"))
                print = true;
            else if (!strcmp(sargv[i], "--show-secrets"))
                secrets = true;
            else if (!strcmp(sargv[i], "--markdown"))
                print = markdown = true;
            else {
                fprintf(stderr, "strata: unknown argument to config: %s\n", sargv[i]);
                goto out;
            }
        }
        if (!print) {
            fprintf(stderr, "usage: strata config --print [--show-secrets]\n");
            goto out;
        }
        struct buf b;
        buf_init(&b);
        if (markdown)
            config_print_markdown(&b);
        else
            config_print(&b, secrets);
        fwrite(b.data ? b.data : "", 1, b.len, stdout);
        buf_cleanup(&b);
        status = 0;
        goto out;
    }
    if (!strcmp(cmd, "ingest")) {
        take_over_stop_signals();
        status = quakes_ingest_main(sargc, sargv);
        goto out;
    }
    if (!strcmp(cmd, "user") || !strcmp(cmd, "client") || !strcmp(cmd, "apikey")) {
        if (check_database_url() < 0 || auth_load_keys(err, sizeof err) < 0) {
            if (cfg.database_url && cfg.database_url[0])
                fprintf(stderr, "strata: %s\n", err);
            status = 1;
            goto out;
        }
        status = auth_cli_main(cmd, sargc, sargv);
        auth_stop();
        goto out;
    }
    if (sargc > 1) {
        fprintf(stderr, "strata: unknown argument to %s: %s\n", cmd, sargv[1]);
        goto out;
    }
    if (!strcmp(cmd, "serve") || !strcmp(cmd, "all")) {
        if (check_database_url() < 0)
            goto out;
        take_over_stop_signals();
        status = cmd_serve(!strcmp(cmd, "all"));
    } else if (!strcmp(cmd, "migrate")) {
        if (check_database_url() < 0)
            goto out;
        status = cmd_migrate(false);
    } else if (!strcmp(cmd, "worker") || !strcmp(cmd, "mqtt-bridge")) {
        if (check_database_url() < 0)
            goto out;
        take_over_stop_signals();
        status = cmd_idle_role(cmd);
    } else {
        fprintf(stderr, "strata: unknown command '%s'\n", cmd);
        usage(stderr);
    }
out:
    config_free();
    return status;
}
