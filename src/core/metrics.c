#include "core/metrics.h"

#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <sys/resource.h>
#include <unistd.h>

#include "core/config.h"
#include "core/http.h"
#include "core/mem.h"

#define SLOTS_PER_ROUTE 16
#define N_BUCKETS 14

static const double bucket_le[N_BUCKETS] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                            0.1,    0.25,  0.5,    1,     2.5,  5,    10};

struct status_slot {
    _Atomic int key; /* status * 16 + method index; 0 = free */
    _Atomic uint64_t count;
    _Atomic uint64_t sum_us;
    _Atomic uint64_t buckets[N_BUCKETS];
};

struct route_stats {
    const struct route *route; /* NULL: unmatched */
    struct status_slot slots[SLOTS_PER_ROUTE];
};

static const char *const methods[] = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "OTHER"};
#define N_METHODS 8

static struct route_stats *routes; /* [0] is "unmatched" */
static size_t nroutes;
static _Atomic uint64_t dropped; /* observations with no free slot */

struct loop_snapshot {
    pthread_mutex_t mu;
    unsigned inflight, conns;
    struct db_pool_stats db;
};

static struct loop_snapshot *snaps;
static unsigned nsnaps;
static uint64_t start_time_s;

void metrics_init(const struct router *r, unsigned nloops)
{
    nroutes = router_count(r) + 1;
    routes = xcalloc(nroutes, sizeof *routes);
    for (size_t i = 1; i < nroutes; i++)
        routes[i].route = router_at(r, i - 1);
    nsnaps = nloops;
    snaps = xcalloc(nloops ? nloops : 1, sizeof *snaps);
    for (unsigned i = 0; i < nloops; i++)
        pthread_mutex_init(&snaps[i].mu, NULL);
    start_time_s = (uint64_t)time(NULL);
}

static int method_index(const char *m, size_t len)
{
    for (int i = 0; i < N_METHODS - 1; i++)
        if (strlen(methods[i]) == len && !memcmp(methods[i], m, len))
            return i;
    return N_METHODS - 1;
}

static struct route_stats *find_route(const struct route *route)
{
    if (!route || !routes)
        return routes;
    /* route declarations are arrays in static storage; a linear scan over ~100 pointers is
     * a few cache lines, cheaper than hashing for the route counts Strata has */
    for (size_t i = 1; i < nroutes; i++)
        if (routes[i].route == route)
            return &routes[i];
    return routes;
}

void metrics_observe_request(const struct route *route, const char *method, size_t method_len, int status,
                             double seconds)
{
    struct route_stats *rs = find_route(route);
    if (!rs)
        return;
    int key = status * 16 + method_index(method, method_len) + 1;
    struct status_slot *slot = NULL;
    for (int i = 0; i < SLOTS_PER_ROUTE && !slot; i++) {
        int k = atomic_load_explicit(&rs->slots[i].key, memory_order_acquire);
        if (k == key) {
            slot = &rs->slots[i];
        } else if (k == 0) {
            int expect = 0;
            if (atomic_compare_exchange_strong(&rs->slots[i].key, &expect, key) || expect == key)
                slot = &rs->slots[i];
        }
    }
    if (!slot) {
        atomic_fetch_add_explicit(&dropped, 1, memory_order_relaxed);
        return;
    }
    atomic_fetch_add_explicit(&slot->count, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&slot->sum_us, (uint64_t)(seconds * 1e6), memory_order_relaxed);
    for (int b = 0; b < N_BUCKETS; b++) {
        if (seconds <= bucket_le[b]) {
            atomic_fetch_add_explicit(&slot->buckets[b], 1, memory_order_relaxed);
            break;
        }
    }
}

void metrics_publish_loop(unsigned idx, unsigned inflight, unsigned conns, const struct db_pool_stats *db)
{
    if (idx >= nsnaps)
        return;
    pthread_mutex_lock(&snaps[idx].mu);
    snaps[idx].inflight = inflight;
    snaps[idx].conns = conns;
    if (db)
        snaps[idx].db = *db;
    pthread_mutex_unlock(&snaps[idx].mu);
}

static void label_escape(struct buf *b, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\' || *s == '"')
            buf_putc(b, '\\');
        if (*s == '\n') {
            buf_puts(b, "\\n");
            continue;
        }
        buf_putc(b, *s);
    }
}

static void route_labels(struct buf *b, const struct route_stats *rs, int key)
{
    buf_puts(b, "route=\"");
    label_escape(b, rs->route ? rs->route->path : "unmatched");
    buf_printf(b, "\",method=\"%s\",status=\"%d\"", methods[(key - 1) % 16 < N_METHODS ? (key - 1) % 16 : N_METHODS - 1],
               (key - 1) / 16);
}

static void render_http(struct buf *b)
{
    buf_puts(b, "# HELP strata_http_requests_total HTTP requests answered, by route template, method and status.\n"
                "# TYPE strata_http_requests_total counter\n");
    for (size_t i = 0; i < nroutes; i++) {
        for (int s = 0; s < SLOTS_PER_ROUTE; s++) {
            const struct status_slot *sl = &routes[i].slots[s];
            int key = atomic_load(&sl->key);
            if (!key)
                continue;
            buf_puts(b, "strata_http_requests_total{");
            route_labels(b, &routes[i], key);
            buf_printf(b, "} %llu\n", (unsigned long long)atomic_load(&sl->count));
        }
    }
    buf_puts(b, "# HELP strata_http_request_duration_seconds Time from request received to answer handed to the socket.\n"
                "# TYPE strata_http_request_duration_seconds histogram\n");
    for (size_t i = 0; i < nroutes; i++) {
        for (int s = 0; s < SLOTS_PER_ROUTE; s++) {
            const struct status_slot *sl = &routes[i].slots[s];
            int key = atomic_load(&sl->key);
            if (!key)
                continue;
            uint64_t cum = 0;
            for (int k = 0; k < N_BUCKETS; k++) {
                cum += atomic_load(&sl->buckets[k]);
                buf_puts(b, "strata_http_request_duration_seconds_bucket{");
                route_labels(b, &routes[i], key);
                buf_printf(b, ",le=\"%g\"} %llu\n", bucket_le[k], (unsigned long long)cum);
            }
            uint64_t count = atomic_load(&sl->count);
            buf_puts(b, "strata_http_request_duration_seconds_bucket{");
            route_labels(b, &routes[i], key);
            buf_printf(b, ",le=\"+Inf\"} %llu\n", (unsigned long long)count);
            buf_puts(b, "strata_http_request_duration_seconds_sum{");
            route_labels(b, &routes[i], key);
            buf_printf(b, "} %.6f\n", (double)atomic_load(&sl->sum_us) / 1e6);
            buf_puts(b, "strata_http_request_duration_seconds_count{");
            route_labels(b, &routes[i], key);
            buf_printf(b, "} %llu\n", (unsigned long long)count);
        }
    }
    buf_printf(b, "# HELP strata_metrics_dropped_total Observations not recorded (more than %d statuses on one route).\n"
                  "# TYPE strata_metrics_dropped_total counter\nstrata_metrics_dropped_total %llu\n",
               SLOTS_PER_ROUTE, (unsigned long long)atomic_load(&dropped));
}

static void gauge(struct buf *b, const char *name, const char *help, const char *type, double v)
{
    buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n%s %.17g\n", name, help, name, type, name, v);
}

static void render_loops(struct buf *b)
{
    unsigned inflight = 0, conns = 0;
    struct db_pool_stats t = {0};
    for (unsigned i = 0; i < nsnaps; i++) {
        pthread_mutex_lock(&snaps[i].mu);
        inflight += snaps[i].inflight;
        conns += snaps[i].conns;
        const struct db_pool_stats *d = &snaps[i].db;
        t.conns_ready += d->conns_ready;
        t.conns_total += d->conns_total;
        t.inflight += d->inflight;
        t.waiting += d->waiting;
        t.tx_in_use += d->tx_in_use;
        t.queries += d->queries;
        t.errors += d->errors;
        t.timeouts += d->timeouts;
        t.cancels += d->cancels;
        t.reconnects += d->reconnects;
        t.rejected += d->rejected;
        pthread_mutex_unlock(&snaps[i].mu);
    }
    gauge(b, "strata_http_requests_in_flight", "Requests received and not yet finished.", "gauge", inflight);
    gauge(b, "strata_http_connections_open", "Open client connections.", "gauge", conns);
    gauge(b, "strata_db_connections", "PostgreSQL connections configured (all loops, all groups).", "gauge", t.conns_total);
    gauge(b, "strata_db_connections_ready", "PostgreSQL connections up and usable.", "gauge", t.conns_ready);
    gauge(b, "strata_db_tx_connections_in_use", "Connections lent to a transaction.", "gauge", t.tx_in_use);
    gauge(b, "strata_db_pipeline_depth", "Statements sent and not yet answered (all connections).", "gauge", t.inflight);
    gauge(b, "strata_db_waiting", "Statements and transactions waiting for a connection.", "gauge", t.waiting);
    buf_puts(b, "# HELP strata_db_statements_total Statements by outcome.\n# TYPE strata_db_statements_total counter\n");
    buf_printf(b, "strata_db_statements_total{outcome=\"sent\"} %llu\n", (unsigned long long)t.queries);
    buf_printf(b, "strata_db_statements_total{outcome=\"error\"} %llu\n", (unsigned long long)t.errors);
    buf_printf(b, "strata_db_statements_total{outcome=\"timeout\"} %llu\n", (unsigned long long)t.timeouts);
    buf_printf(b, "strata_db_statements_total{outcome=\"cancelled\"} %llu\n", (unsigned long long)t.cancels);
    buf_printf(b, "strata_db_statements_total{outcome=\"rejected\"} %llu\n", (unsigned long long)t.rejected);
    gauge(b, "strata_db_reconnects_total", "Connections re-established after a failure.", "counter", (double)t.reconnects);
}

static void render_process(struct buf *b)
{
    long pages = 0, rss = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
            rss = 0;
        fclose(f);
    }
    gauge(b, "process_resident_memory_bytes", "Resident memory size in bytes.", "gauge",
          (double)rss * (double)sysconf(_SC_PAGESIZE));
    unsigned fds = 0;
    DIR *d = opendir("/proc/self/fd");
    if (d) {
        while (readdir(d))
            fds++;
        closedir(d);
        fds = fds >= 3 ? fds - 3 : 0; /* ".", ".." and the directory's own fd */
    }
    gauge(b, "process_open_fds", "Open file descriptors.", "gauge", fds);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
        gauge(b, "process_max_fds", "Limit of open file descriptors.", "gauge", (double)rl.rlim_cur);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    gauge(b, "process_cpu_seconds_total", "User and system CPU time spent.", "counter",
          (double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6);
    gauge(b, "process_start_time_seconds", "Start time of the process since the Unix epoch.", "gauge",
          (double)start_time_s);
}

#define MAX_RENDERERS 16
static void (*renderers[MAX_RENDERERS])(struct buf *out);
static size_t nrenderers;

void metrics_register_renderer(void (*fn)(struct buf *out))
{
    if (nrenderers < MAX_RENDERERS)
        renderers[nrenderers++] = fn;
}

void metrics_render(struct buf *out)
{
    render_http(out);
    render_loops(out);
    render_process(out);
    for (size_t i = 0; i < nrenderers; i++)
        renderers[i](out);
}

static bool token_ok(struct http_req *r)
{
    if (!cfg.metrics_token || !cfg.metrics_token[0])
        return true;
    size_t len;
    const char *h = http_header(r, "authorization", &len);
    const char *want = cfg.metrics_token;
    size_t wl = strlen(want);
    if (!h || len != wl + 7 || strncasecmp(h, "Bearer ", 7))
        return false;
    unsigned char diff = 0; /* constant time over the token's length */
    for (size_t i = 0; i < wl; i++)
        diff |= (unsigned char)(h[7 + i] ^ want[i]);
    return diff == 0;
}

static void metrics_handler(struct http_req *r)
{
    if (!token_ok(r)) {
        http_add_header(r, "WWW-Authenticate", "Bearer realm=\"metrics\"");
        http_reply_problem(r, 401, "a valid metrics token is required");
        return;
    }
    struct buf b;
    buf_init(&b);
    metrics_render(&b);
    http_reply_buf(r, 200, "text/plain; version=0.0.4; charset=utf-8", &b);
}

static const int errs_metrics[] = {401, 0};

const struct route metrics_routes[] = {
    {.method = "GET", .path = "/metrics", .handler = metrics_handler, .summary = "Prometheus metrics",
     .tag = "operations", .errors = errs_metrics, .response_type = "text/plain; version=0.0.4",
     .flags = ROUTE_INTERNAL},
    {.method = NULL},
};
