#include "apps/quakes/ingest.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "apps/quakes/collection.h"
#include "apps/quakes/feature.h"
#include "apps/quakes/quakes.h"
#include "apps/quakes/store.h"
#include "core/buf.h"
#include "core/config.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/migrate.h"
#include "core/timefmt.h"

#define HTTP_BODY_MAX (256LL * 1024 * 1024) /* a month of the all-events feed is ~10 MiB */
#define HTTP_BACKOFF_MAX_MS 60000
#define DB_BACKOFF_MAX_MS 30000
#define DB_ATTEMPTS 6         /* 1+2+4+8+16 s of backoff before a store call gives up */
#define PRUNE_EVERY_MS 60000
#define REFUSED_LOG_MAX 100   /* per document; then one line saying how many more */
#define USER_AGENT "strata/0.1 (quakes ingest; +https://github.com/strata)"

/* ---- settings ------------------------------------------------------------------------------ */

static struct {
    char *feed_url;
    bool poll;
    int64_t poll_interval_ms;
    int64_t http_timeout_ms;
    int64_t http_retries;
    int64_t http_backoff_ms;
    char *fdsn_url;
    int64_t backfill_window_ms;
    int64_t backfill_limit;
    int64_t batch_size;
    int64_t event_retention_ms;
    char *replay_file;
    char *replay_speed;
    bool replay_shift_to_now;
} set;

#define DAY_MS (24LL * 3600 * 1000)

static const struct config_setting ingest_settings[] = {
    {"quakes_feed_url", CFG_STRING, "https://earthquake.usgs.gov/earthquakes/feed/v1.0/summary/all_hour.geojson",
     &set.feed_url, 0, 0, 0, NULL, "USGS GeoJSON summary feed polled by `strata ingest` and `strata all`"},
    {"quakes_poll", CFG_BOOL, "true", &set.poll, 0, 0, 0, NULL,
     "poll quakes_feed_url (false for offline demos: `make run` sets it)"},
    {"quakes_poll_interval", CFG_DURATION, "60s", &set.poll_interval_ms, 0, 100, DAY_MS, NULL,
     "time from one feed poll to the next"},
    {"quakes_http_timeout", CFG_DURATION, "30s", &set.http_timeout_ms, 0, 100, 3600 * 1000, NULL,
     "longest one USGS request may take, connection included"},
    {"quakes_http_retries", CFG_INT, "3", &set.http_retries, 0, 0, 10, NULL,
     "retries of a USGS request that failed (network error, timeout, 408, 429, 5xx)"},
    {"quakes_http_backoff", CFG_DURATION, "1s", &set.http_backoff_ms, 0, 0, HTTP_BACKOFF_MAX_MS, NULL,
     "wait before the first retry of a USGS request; doubles with each retry (at most 60 s)"},
    {"quakes_fdsn_url", CFG_STRING, "https://earthquake.usgs.gov/fdsnws/event/1/query", &set.fdsn_url, 0, 0, 0,
     NULL, "FDSN event service query URL used by `strata ingest --backfill`"},
    {"quakes_backfill_window", CFG_DURATION, "24h", &set.backfill_window_ms, 0, 1000, 366 * DAY_MS, NULL,
     "time window of one backfill query (halved when a window reaches quakes_backfill_limit)"},
    {"quakes_backfill_limit", CFG_INT, "20000", &set.backfill_limit, 0, 1, 1000000, NULL,
     "most events the FDSN service returns per query; a window that reaches it is split"},
    {"quakes_batch_size", CFG_INT, "5000", &set.batch_size, 0, 1, 1000000, NULL,
     "features per upsert transaction"},
    {"quakes_event_retention", CFG_DURATION, "168h", &set.event_retention_ms, 0, 1000, 3660 * DAY_MS, NULL,
     "how long the change log keeps events (what a live client can catch up on)"},
    {"quakes_replay_file", CFG_STRING, "", &set.replay_file, 0, 0, 0, NULL,
     "GeoJSON FeatureCollection replayed when `strata ingest` / `strata all` start (demo); empty: none"},
    {"quakes_replay_speed", CFG_STRING, "1", &set.replay_speed, 0, 0, 0, NULL,
     "replay pace: N x real time between events (0: as fast as possible)"},
    {"quakes_replay_shift_to_now", CFG_BOOL, "false", &set.replay_shift_to_now, 0, 0, 0, NULL,
     "move replayed times so that the newest event is now"},
    {NULL, 0, NULL, NULL, 0, 0, 0, NULL, NULL},
};

void quakes_ingest_register_config(void)
{
    config_register(ingest_settings);
}

/* ---- counters -------------------------------------------------------------------------------- */

enum counter {
    C_CREATED,
    C_UPDATED,
    C_DELETED,
    C_IGNORED,
    C_INVALID,
    C_POLLS_OK,
    C_POLLS_NOT_MODIFIED,
    C_POLLS_FAILED,
    C_WINDOWS,
    C_PRUNED,
    C_COUNT
};

static atomic_uint_fast64_t counters[C_COUNT];

static void count(enum counter c, uint64_t n)
{
    atomic_fetch_add_explicit(&counters[c], n, memory_order_relaxed);
}

static uint64_t counter(enum counter c)
{
    return atomic_load_explicit(&counters[c], memory_order_relaxed);
}

void quakes_ingest_stats(struct quakes_ingest_stats *out)
{
    out->features_created = counter(C_CREATED);
    out->features_updated = counter(C_UPDATED);
    out->features_deleted = counter(C_DELETED);
    out->features_ignored = counter(C_IGNORED);
    out->features_invalid = counter(C_INVALID);
    out->polls_ok = counter(C_POLLS_OK);
    out->polls_not_modified = counter(C_POLLS_NOT_MODIFIED);
    out->polls_failed = counter(C_POLLS_FAILED);
    out->backfill_windows = counter(C_WINDOWS);
    out->events_pruned = counter(C_PRUNED);
}

/* What one replay, poll or backfill did (for its log lines). */
struct totals {
    uint64_t features, created, updated, deleted, ignored, invalid;
    int64_t max_seq;
};

static void totals_add(struct totals *t, const struct quake_store_counts *c)
{
    t->created += c->created;
    t->updated += c->updated;
    t->deleted += c->deleted;
    t->ignored += c->ignored;
    if (c->max_seq > t->max_seq)
        t->max_seq = c->max_seq;
    count(C_CREATED, c->created);
    count(C_UPDATED, c->updated);
    count(C_DELETED, c->deleted);
    count(C_IGNORED, c->ignored);
}

static void log_totals(struct log_line *l, const struct totals *t)
{
    jsonw_kv_int(&l->w, "features", (int64_t)t->features);
    jsonw_kv_int(&l->w, "created", (int64_t)t->created);
    jsonw_kv_int(&l->w, "updated", (int64_t)t->updated);
    jsonw_kv_int(&l->w, "deleted", (int64_t)t->deleted);
    jsonw_kv_int(&l->w, "ignored", (int64_t)t->ignored);
    jsonw_kv_int(&l->w, "invalid", (int64_t)t->invalid);
    jsonw_kv_int(&l->w, "max_seq", t->max_seq);
}

/* ---- the ingest thread's state --------------------------------------------------------------- */

enum job_kind { JOB_ROLE, JOB_REPLAY, JOB_BACKFILL };

struct job {
    enum job_kind kind;
    bool idle_when_done; /* JOB_ROLE from the CLI: a role runs until stopped */
    const char *file;    /* JOB_REPLAY */
    double speed;
    bool shift;
    int64_t start_ms, end_ms; /* JOB_BACKFILL */
    int status;               /* exit status, set when the job ends */
};

static struct {
    pthread_once_t once;
    pthread_mutex_t mu;
    pthread_cond_t cv; /* signalled on stop */
    atomic_bool stop;
    atomic_bool done; /* the thread finished its job */
    bool running;     /* a thread was started and not joined */
    pthread_t thread;
    struct job job;
    CURL *curl;
    struct quake_store *store;
    int db_attempts; /* connection attempts before a store call gives up */
    bool pruned;
    int64_t last_prune_ms;
    char *etag, *last_modified; /* validators of the last feed response stored */
} g = {.once = PTHREAD_ONCE_INIT};

static void init_once(void)
{
    pthread_condattr_t a;
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    pthread_cond_init(&g.cv, &a);
    pthread_condattr_destroy(&a);
    pthread_mutex_init(&g.mu, NULL);
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t wall_ms(void)
{
    return time_now_us() / 1000;
}

static bool stopping(void)
{
    return atomic_load(&g.stop);
}

static void request_stop(void)
{
    pthread_mutex_lock(&g.mu);
    atomic_store(&g.stop, true);
    pthread_cond_broadcast(&g.cv);
    pthread_mutex_unlock(&g.mu);
}

/* Waits ms (or until a stop); returns false when stopping. */
static bool sleep_ms(int64_t ms)
{
    if (ms <= 0)
        return !stopping();
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    int64_t ns = ts.tv_nsec + (ms % 1000) * 1000000;
    ts.tv_sec += (time_t)(ms / 1000 + ns / 1000000000);
    ts.tv_nsec = (long)(ns % 1000000000);
    pthread_mutex_lock(&g.mu);
    while (!atomic_load(&g.stop))
        if (pthread_cond_timedwait(&g.cv, &g.mu, &ts) == ETIMEDOUT)
            break;
    pthread_mutex_unlock(&g.mu);
    return !stopping();
}

/* ---- database -------------------------------------------------------------------------------- */

/* g.store connected, reopening it with backoff (1 s, 2 s, ... 30 s) up to `attempts` times.
 * Returns 0, or -1 when it gave up or is stopping (logged). */
static int store_ready(int attempts)
{
    char err[512];
    int64_t delay = 1000;
    for (int i = 1; !g.store; i++) {
        if (stopping())
            return -1;
        g.store = quake_store_open(cfg.database_url, cfg.statement_timeout_slow_ms, err, sizeof err);
        if (g.store) {
            if (i > 1)
                log_msg(LOG_INFO, NULL, "quakes ingest database connected", "attempts=%d", i);
            break;
        }
        struct log_line l;
        if (log_begin(&l, LOG_WARN, "quakes ingest database unavailable", NULL)) {
            jsonw_kv_str(&l.w, "error", err);
            jsonw_kv_int(&l.w, "attempt", i);
            jsonw_kv_int(&l.w, "retry_in_ms", i < attempts ? delay : -1);
            log_end(&l);
        }
        if (i >= attempts || !sleep_ms(delay))
            return -1;
        delay = delay * 2 > DB_BACKOFF_MAX_MS ? DB_BACKOFF_MAX_MS : delay * 2;
    }
    return 0;
}

static void store_drop(void)
{
    quake_store_free(g.store);
    g.store = NULL;
}

static void log_refused(const char *source, const char *id, const char *reason)
{
    struct log_line l;
    if (!log_begin(&l, LOG_WARN, "quake feature refused", NULL))
        return;
    jsonw_kv_str(&l.w, "source", source);
    jsonw_kv_str(&l.w, "id", id);
    jsonw_kv_str(&l.w, "reason", reason);
    log_end(&l);
}

/* Upserts q[0..n) in one transaction (copy: their COPY text when already encoded, else NULL).
 * A value the server refuses (which feature.c should have caught) is found by halving: that one
 * feature is counted invalid, the others land. Returns 0, or -1 when the database stayed
 * unavailable, failed otherwise, or a stop came (logged). */
static int store_part(const struct quake *q, size_t n, const struct buf *copy, const char *source,
                      struct totals *t)
{
    char err[1024];
    for (int lost = 0;;) {
        if (store_ready(g.db_attempts) < 0)
            return -1;
        struct quake_store_counts c;
        int64_t t0 = mono_ms();
        int rc = copy ? quake_store_upsert_encoded(g.store, copy, n, &c, err, sizeof err)
                      : quake_store_upsert(g.store, q, n, &c, err, sizeof err);
        if (rc == 0) {
            totals_add(t, &c);
            struct log_line l;
            if (log_begin(&l, LOG_DEBUG, "quakes batch stored", NULL)) {
                jsonw_kv_str(&l.w, "source", source);
                jsonw_kv_int(&l.w, "features", (int64_t)n);
                jsonw_kv_int(&l.w, "created", (int64_t)c.created);
                jsonw_kv_int(&l.w, "updated", (int64_t)c.updated);
                jsonw_kv_int(&l.w, "deleted", (int64_t)c.deleted);
                jsonw_kv_int(&l.w, "ignored", (int64_t)c.ignored);
                jsonw_kv_int(&l.w, "ms", mono_ms() - t0);
                log_end(&l);
            }
            return 0;
        }
        if (rc == STRATA_EUNAVAIL && ++lost < DB_ATTEMPTS) {
            log_msg(LOG_WARN, NULL, "quakes ingest database connection lost", "%s", err);
            store_drop();
            continue;
        }
        if (rc == STRATA_EBUSY && ++lost < DB_ATTEMPTS) {
            log_msg(LOG_WARN, NULL, "quakes upsert conflicted with another writer, retrying", "%s", err);
            if (!sleep_ms(100LL * lost))
                return -1;
            continue;
        }
        if (rc == STRATA_EINVAL) {
            if (n == 1) {
                log_refused(source, q->id, err);
                t->invalid++;
                count(C_INVALID, 1);
                return 0;
            }
            size_t half = n / 2;
            if (store_part(q, half, NULL, source, t) < 0)
                return -1;
            return store_part(q + half, n - half, NULL, source, t);
        }
        log_msg(LOG_ERROR, NULL, "quakes store failed", "%s", err);
        if (rc == STRATA_EUNAVAIL)
            store_drop();
        return -1;
    }
}

static void prune_maybe(void)
{
    char err[512];
    uint64_t removed = 0;
    int64_t now = mono_ms();
    if (g.pruned && now - g.last_prune_ms < PRUNE_EVERY_MS)
        return;
    if (!g.store)
        return;
    g.pruned = true;
    g.last_prune_ms = now;
    int rc = quake_store_prune(g.store, set.event_retention_ms, &removed, err, sizeof err);
    if (rc < 0) {
        log_msg(LOG_WARN, NULL, "quakes change log prune failed", "%s", err);
        if (rc == STRATA_EUNAVAIL)
            store_drop();
        return;
    }
    count(C_PRUNED, removed);
    if (removed)
        log_msg(LOG_INFO, NULL, "quakes change log pruned", "removed=%" PRIu64, removed);
}

/* ---- features -------------------------------------------------------------------------------- */

struct quake_vec {
    struct quake *v;
    size_t *src; /* index of each quake's feature in the document (before sorting) */
    size_t n, cap;
};

static void vec_free(struct quake_vec *qv)
{
    for (size_t i = 0; i < qv->n; i++)
        quake_cleanup(&qv->v[i]);
    free(qv->v);
    free(qv->src);
    memset(qv, 0, sizeof *qv);
}

static struct quake *vec_slot(struct quake_vec *qv, size_t src)
{
    if (qv->n == qv->cap) {
        qv->cap = qv->cap ? qv->cap * 2 : 256;
        qv->v = xrealloc(qv->v, qv->cap * sizeof *qv->v);
        qv->src = xrealloc(qv->src, qv->cap * sizeof *qv->src);
    }
    qv->src[qv->n] = src;
    return &qv->v[qv->n];
}

/* The valid features of a FeatureCollection, appended to out; refused ones are counted in
 * t->invalid and logged (the first REFUSED_LOG_MAX of the document one by one). Returns 0, or
 * STRATA_EINVAL when doc has no "features" array (err says so). */
static int collect(const json_t *doc, const char *source, struct quake_vec *out, struct totals *t, char *err,
                   size_t errlen)
{
    const json_t *features = json_object_get(doc, "features");
    if (!json_is_array(features)) {
        snprintf(err, errlen, "not a GeoJSON FeatureCollection (no \"features\" array)");
        return STRATA_EINVAL;
    }
    size_t i, refused = 0;
    const json_t *f;
    char why[256];
    json_array_foreach(features, i, f) {
        struct quake *q = vec_slot(out, i);
        if (quake_feature_parse(f, q, why, sizeof why) == 0) {
            out->n++;
            t->features++;
            continue;
        }
        if (refused++ < REFUSED_LOG_MAX)
            log_refused(source, quake_feature_id(f), why);
    }
    if (refused > REFUSED_LOG_MAX)
        log_msg(LOG_WARN, NULL, "quake features refused, not logged one by one", "source=%s more=%zu", source,
                refused - REFUSED_LOG_MAX);
    t->invalid += refused;
    count(C_INVALID, refused);
    return 0;
}

/* Stores quakes in batches of quakes_batch_size. 0, or -1 (database gone, or stopping). */
static int store_all(const struct quake *q, size_t n, const char *source, struct totals *t)
{
    size_t batch = (size_t)set.batch_size;
    for (size_t i = 0; i < n; i += batch) {
        if (stopping())
            return -1;
        size_t m = n - i < batch ? n - i : batch;
        if (store_part(q + i, m, NULL, source, t) < 0)
            return -1;
        prune_maybe();
    }
    return 0;
}

/* ---- HTTP ------------------------------------------------------------------------------------- */

struct http_resp {
    long status;
    struct buf body;
    bool too_big;
    char etag[256];
    char last_modified[128];
};

static size_t on_body(char *p, size_t size, size_t nmemb, void *arg)
{
    struct http_resp *r = arg;
    size_t n = size * nmemb;
    if ((long long)(r->body.len + n) > HTTP_BODY_MAX) {
        r->too_big = true;
        return 0;
    }
    buf_append(&r->body, p, n);
    return n;
}

/* "Name: value\r\n" -> value (trimmed) into out when the name matches (case-insensitive). */
static void header_value(const char *p, size_t n, const char *name, char *out, size_t outlen)
{
    size_t nl = strlen(name);
    if (n <= nl || strncasecmp(p, name, nl) != 0 || p[nl] != ':')
        return;
    const char *v = p + nl + 1, *e = p + n;
    while (v < e && (*v == ' ' || *v == '\t'))
        v++;
    while (e > v && (e[-1] == '\r' || e[-1] == '\n' || e[-1] == ' ' || e[-1] == '\t'))
        e--;
    if ((size_t)(e - v) >= outlen)
        return; /* absurdly long: not used as a validator */
    for (const char *c = v; c < e; c++)
        if ((unsigned char)*c < 0x20)
            return;
    memcpy(out, v, (size_t)(e - v));
    out[e - v] = '\0';
}

static size_t on_header(char *p, size_t size, size_t nmemb, void *arg)
{
    struct http_resp *r = arg;
    size_t n = size * nmemb;
    if (n >= 5 && !memcmp(p, "HTTP/", 5)) { /* a new response (after a redirect): forget the last */
        r->etag[0] = r->last_modified[0] = '\0';
        return n;
    }
    header_value(p, n, "etag", r->etag, sizeof r->etag);
    header_value(p, n, "last-modified", r->last_modified, sizeof r->last_modified);
    return n;
}

static int on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
    return stopping() ? 1 : 0; /* non-zero aborts the transfer */
}

/* One GET. 0 with resp->status set when a response came, else STRATA_EIO (err) or
 * STRATA_ETOOBIG. conditional: send the validators of the last stored feed response. */
static int http_get(const char *url, bool conditional, struct http_resp *resp, char *err, size_t errlen)
{
    char errbuf[CURL_ERROR_SIZE] = "";
    struct curl_slist *hdrs = NULL;
    char h[512];
    CURL *c = g.curl;

    curl_easy_reset(c); /* keeps the connection cache: polls reuse their connection */
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)set.http_timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)(set.http_timeout_ms < 10000 ? set.http_timeout_ms : 10000));
    curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, ""); /* whatever libcurl decodes (gzip) */
    curl_easy_setopt(c, CURLOPT_USERAGENT, USER_AGENT);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, resp);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, resp);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    hdrs = curl_slist_append(hdrs, "Accept: application/geo+json, application/json;q=0.9, */*;q=0.1");
    if (conditional && g.etag) {
        snprintf(h, sizeof h, "If-None-Match: %s", g.etag);
        hdrs = curl_slist_append(hdrs, h);
    }
    if (conditional && g.last_modified) {
        snprintf(h, sizeof h, "If-Modified-Since: %s", g.last_modified);
        hdrs = curl_slist_append(hdrs, h);
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);

    CURLcode cc = curl_easy_perform(c);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(hdrs);
    if (cc != CURLE_OK) {
        if (resp->too_big) {
            snprintf(err, errlen, "response larger than %lld bytes", (long long)HTTP_BODY_MAX);
            return STRATA_ETOOBIG;
        }
        snprintf(err, errlen, "%s", errbuf[0] ? errbuf : curl_easy_strerror(cc));
        return STRATA_EIO;
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
    return 0;
}

static void resp_reset(struct http_resp *r)
{
    buf_reset(&r->body);
    r->status = 0;
    r->too_big = false;
    r->etag[0] = r->last_modified[0] = '\0';
}

static bool retryable(long status)
{
    return status == 408 || status == 429 || status >= 500;
}

/* GET with retries: a network error, a timeout, 408, 429 or 5xx is retried after
 * quakes_http_backoff, doubling, at most quakes_http_retries times. Returns 0 with the last
 * response (whatever its status; the caller judges it), or -1 with no response (err). */
static int fetch(const char *url, bool conditional, const char *what, struct http_resp *resp, char *err,
                 size_t errlen)
{
    int64_t delay = set.http_backoff_ms;
    for (int attempt = 0;; attempt++) {
        resp_reset(resp);
        int rc = http_get(url, conditional, resp, err, errlen);
        if (rc == STRATA_ETOOBIG || stopping())
            return -1;
        if (rc == 0 && !retryable(resp->status))
            return 0;
        if (rc == 0)
            snprintf(err, errlen, "HTTP %ld", resp->status);
        if (attempt >= set.http_retries)
            return rc == 0 ? 0 : -1;
        struct log_line l;
        if (log_begin(&l, LOG_WARN, "quakes request failed, retrying", NULL)) {
            jsonw_kv_str(&l.w, "what", what);
            jsonw_kv_str(&l.w, "error", err);
            jsonw_kv_int(&l.w, "attempt", attempt + 1);
            jsonw_kv_int(&l.w, "retry_in_ms", delay);
            log_end(&l);
        }
        if (!sleep_ms(delay))
            return -1;
        delay = delay * 2 > HTTP_BACKOFF_MAX_MS ? HTTP_BACKOFF_MAX_MS : delay * 2;
    }
}

static json_t *parse_body(const struct http_resp *r, char *err, size_t errlen)
{
    json_error_t je;
    /* U+0000 is allowed here so that one such feature is refused alone, not the document */
    json_t *doc = json_loadb(r->body.data ? r->body.data : "", r->body.len, JSON_ALLOW_NUL, &je);
    if (!doc)
        snprintf(err, errlen, "invalid JSON at line %d column %d: %s", je.line, je.column, je.text);
    return doc;
}

/* ---- poller ---------------------------------------------------------------------------------- */

static void keep_validators(const struct http_resp *r)
{
    free(g.etag);
    free(g.last_modified);
    g.etag = r->etag[0] ? xstrdup(r->etag) : NULL;
    g.last_modified = r->last_modified[0] ? xstrdup(r->last_modified) : NULL;
}

static void poll_once(struct http_resp *resp)
{
    char err[1024] = "";
    struct totals t = {0};
    struct quake_vec qv = {0};
    json_t *doc = NULL;
    bool ok = false;
    int64_t t0 = mono_ms();

    if (fetch(set.feed_url, true, "poll", resp, err, sizeof err) < 0)
        goto out;
    if (resp->status == 304) {
        ok = true;
        count(C_POLLS_NOT_MODIFIED, 1);
        goto out;
    }
    if (resp->status != 200) {
        snprintf(err, sizeof err, "HTTP %ld", resp->status);
        goto out;
    }
    if (!(doc = parse_body(resp, err, sizeof err)) || collect(doc, "poll", &qv, &t, err, sizeof err) < 0)
        goto out;
    json_decref(doc);
    doc = NULL;
    if (store_all(qv.v, qv.n, "poll", &t) < 0) {
        snprintf(err, sizeof err, "database unavailable");
        goto out;
    }
    keep_validators(resp); /* only once stored: a failed store fetches everything again */
    ok = true;
out:
    json_decref(doc);
    vec_free(&qv);
    if (ok) {
        count(C_POLLS_OK, 1);
        struct log_line l;
        enum log_level lvl = resp->status == 304 || (t.created + t.updated + t.deleted + t.invalid) == 0
                                 ? LOG_DEBUG : LOG_INFO;
        if (log_begin(&l, lvl, "quakes poll", NULL)) {
            jsonw_kv_int(&l.w, "status", resp->status);
            log_totals(&l, &t);
            jsonw_kv_int(&l.w, "ms", mono_ms() - t0);
            log_end(&l);
        }
    } else if (!stopping()) {
        count(C_POLLS_FAILED, 1);
        struct log_line l;
        if (log_begin(&l, LOG_WARN, "quakes poll failed", NULL)) {
            jsonw_kv_str(&l.w, "url", set.feed_url);
            jsonw_kv_str(&l.w, "error", err);
            jsonw_kv_int(&l.w, "ms", mono_ms() - t0);
            log_end(&l);
        }
    }
}

static void poll_loop(void)
{
    struct http_resp resp = {0};
    buf_init(&resp.body);
    log_msg(LOG_INFO, NULL, "quakes poller started", "url=%s interval_ms=%" PRId64, set.feed_url,
            set.poll_interval_ms);
    while (!stopping()) {
        int64_t next = mono_ms() + set.poll_interval_ms;
        poll_once(&resp);
        prune_maybe();
        if (!sleep_ms(next - mono_ms()))
            break;
    }
    buf_cleanup(&resp.body);
}

/* ---- replay ---------------------------------------------------------------------------------- */

static int cmp_quake(const void *a, const void *b)
{
    const struct quake *x = a, *y = b;
    if (x->time_ms != y->time_ms)
        return x->time_ms < y->time_ms ? -1 : 1;
    if (x->updated_ms != y->updated_ms)
        return x->updated_ms < y->updated_ms ? -1 : 1;
    return strcmp(x->id, y->id);
}

/* Moves every valid feature by the same delta so the newest origin time is now: time and
 * updated in the document's properties, then parsed again (the stored properties say the
 * same as the columns). Returns the delta in ms. */
static int64_t shift_to_now(json_t *doc, struct quake_vec *qv, struct totals *t)
{
    if (qv->n == 0)
        return 0;
    int64_t newest = qv->v[0].time_ms;
    for (size_t i = 1; i < qv->n; i++)
        if (qv->v[i].time_ms > newest)
            newest = qv->v[i].time_ms;
    int64_t delta = wall_ms() - newest;
    json_t *features = json_object_get(doc, "features");
    size_t kept = 0;
    char why[256];
    for (size_t i = 0; i < qv->n; i++) {
        json_t *f = json_array_get(features, qv->src[i]);
        json_t *props = json_object_get(f, "properties");
        json_t *upd = json_object_get(props, "updated");
        json_object_set_new(props, "time", json_integer(qv->v[i].time_ms + delta));
        if (json_is_integer(upd))
            json_object_set_new(props, "updated", json_integer(json_integer_value(upd) + delta));
        quake_cleanup(&qv->v[i]);
        if (quake_feature_parse(f, &qv->v[kept], why, sizeof why) == 0) {
            qv->src[kept++] = qv->src[i];
        } else { /* shifted out of the representable range */
            log_refused("replay", quake_feature_id(f), why);
            t->features--;
            t->invalid++;
            count(C_INVALID, 1);
        }
    }
    qv->n = kept;
    return delta;
}

/* The replay file's text: mapped when it is a regular file, else read. */
struct replay_text {
    const char *data;
    size_t len;
    void *map;
    struct buf owned;
};

static int replay_open(const char *file, struct replay_text *rt, char *err, size_t errlen)
{
    struct stat st;
    int rc = -1;
    buf_init(&rt->owned);
    int fd = open(file, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) < 0) {
        snprintf(err, errlen, "%s", strerror(errno));
        goto out;
    }
    if (S_ISREG(st.st_mode) && st.st_size > 0) {
        void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m != MAP_FAILED) {
            madvise(m, (size_t)st.st_size, MADV_SEQUENTIAL);
            rt->map = m;
            rt->data = m;
            rt->len = (size_t)st.st_size;
            rc = 0;
            goto out;
        }
    }
    for (;;) {
        buf_reserve(&rt->owned, 1 << 20);
        ssize_t got = read(fd, rt->owned.data + rt->owned.len, rt->owned.cap - rt->owned.len - 1);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            snprintf(err, errlen, "%s", strerror(errno));
            goto out;
        }
        if (got == 0)
            break;
        rt->owned.len += (size_t)got;
    }
    rt->data = rt->owned.data ? rt->owned.data : "";
    rt->len = rt->owned.len;
    rc = 0;
out:
    if (fd >= 0)
        close(fd);
    return rc;
}

static void replay_close(struct replay_text *rt)
{
    if (rt->map)
        munmap(rt->map, rt->len);
    buf_cleanup(&rt->owned);
    memset(rt, 0, sizeof *rt);
}

/* Whether the file can be stored while it is parsed: a FeatureCollection whose features all
 * have a plainly written sort key (collection.c), put in replay order by their spans when the
 * file is not in it already (USGS feeds are newest first), with valid JSON around its features
 * array. */
static bool streamable(const struct replay_text *rt, struct quake_collection *coll)
{
    if (quake_collection_scan(rt->data, rt->len, coll) < 0)
        return false;
    if (!coll->sorted && !quake_collection_sort(rt->data, coll))
        return false;
    struct buf rest;
    buf_init(&rest);
    buf_append(&rest, rt->data, coll->array_begin);
    buf_puts(&rest, "[]");
    buf_append(&rest, rt->data + coll->array_end, rt->len - coll->array_end);
    json_t *doc = json_loadb(rest.data, rest.len, JSON_ALLOW_NUL, NULL);
    bool ok = json_is_array(json_object_get(doc, "features"));
    json_decref(doc);
    buf_cleanup(&rest);
    return ok;
}

/* A batch of parsed features and their COPY text, from the parser thread to the store. */
struct replay_batch {
    struct quake *q;
    size_t n;
    struct buf copy;
};

static void batch_free(struct replay_batch *b)
{
    if (!b)
        return;
    for (size_t i = 0; i < b->n; i++)
        quake_cleanup(&b->q[i]);
    free(b->q);
    buf_cleanup(&b->copy);
    free(b);
}

#define PIPE_DEPTH 3 /* batches parsed ahead of the one being stored */

struct replay_pipe {
    const char *text;
    const struct quake_collection *coll;
    size_t batch;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct replay_batch *ring[PIPE_DEPTH];
    size_t head, count;
    bool eof;  /* the parser is done: no batch after those in the ring */
    bool quit; /* the store side gave up: the parser stops */
    uint64_t features, invalid; /* the parser's, read once it is joined */
};

/* Hands b to the store side; false (b not taken) when it has quit. */
static bool pipe_push(struct replay_pipe *p, struct replay_batch *b)
{
    pthread_mutex_lock(&p->mu);
    while (p->count == PIPE_DEPTH && !p->quit)
        pthread_cond_wait(&p->cv, &p->mu);
    bool ok = !p->quit;
    if (ok) {
        p->ring[(p->head + p->count) % PIPE_DEPTH] = b;
        p->count++;
        pthread_cond_broadcast(&p->cv);
    }
    pthread_mutex_unlock(&p->mu);
    return ok;
}

/* The next batch, or NULL once the parser is done and everything was taken. */
static struct replay_batch *pipe_pop(struct replay_pipe *p)
{
    struct replay_batch *b = NULL;
    pthread_mutex_lock(&p->mu);
    while (p->count == 0 && !p->eof)
        pthread_cond_wait(&p->cv, &p->mu);
    if (p->count) {
        b = p->ring[p->head];
        p->head = (p->head + 1) % PIPE_DEPTH;
        p->count--;
        pthread_cond_broadcast(&p->cv);
    }
    pthread_mutex_unlock(&p->mu);
    return b;
}

/* The parser thread: each feature's text through jansson and feature.c, in file order, in
 * batches of quakes_batch_size with their COPY text encoded. */
static void *replay_parser(void *arg)
{
    struct replay_pipe *p = arg;
    struct replay_batch *b = NULL;
    size_t refused = 0;
    char why[256];

    for (size_t i = 0; i < p->coll->n; i++) {
        if (!b) {
            if (stopping())
                break;
            b = xcalloc(1, sizeof *b);
            b->q = xmalloc(p->batch * sizeof *b->q);
            buf_init(&b->copy);
        }
        const struct quake_span *sp = &p->coll->v[i];
        json_error_t je;
        /* U+0000 is allowed so that feature.c refuses the feature with its reason */
        json_t *f = json_loadb(p->text + sp->off, sp->len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
        if (f && quake_feature_parse(f, &b->q[b->n], why, sizeof why) == 0) {
            b->n++;
            p->features++;
        } else {
            if (!f)
                snprintf(why, sizeof why, "invalid JSON at column %d: %s", je.column, je.text);
            if (refused++ < REFUSED_LOG_MAX)
                log_refused("replay", f ? quake_feature_id(f) : NULL, why);
            count(C_INVALID, 1);
        }
        json_decref(f);
        if (b->n == p->batch) {
            quake_store_encode(b->q, b->n, &b->copy);
            if (!pipe_push(p, b))
                break;
            b = NULL;
        }
    }
    if (b && b->n) {
        quake_store_encode(b->q, b->n, &b->copy);
        if (pipe_push(p, b))
            b = NULL;
    }
    batch_free(b);
    if (refused > REFUSED_LOG_MAX)
        log_msg(LOG_WARN, NULL, "quake features refused, not logged one by one", "source=replay more=%zu",
                refused - REFUSED_LOG_MAX);
    p->invalid = refused;
    pthread_mutex_lock(&p->mu);
    p->eof = true;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

/* Stores a streamable file (see streamable) while the parser thread parses it. Returns 0, or -1
 * when the database failed or a stop came (logged). */
static int replay_stream(const struct replay_text *rt, const struct quake_collection *coll, struct totals *t)
{
    struct replay_pipe p = {.text = rt->data, .coll = coll, .batch = (size_t)set.batch_size};
    pthread_t parser;
    int rc = 0;

    pthread_mutex_init(&p.mu, NULL);
    pthread_cond_init(&p.cv, NULL);
    int e = pthread_create(&parser, NULL, replay_parser, &p); /* SIGTERM/SIGINT stay blocked */
    if (e != 0) {
        log_msg(LOG_ERROR, NULL, "quakes replay cannot start its parser thread", "%s", strerror(e));
        rc = -1;
        goto out;
    }
    for (struct replay_batch *b; (b = pipe_pop(&p)) != NULL;) {
        rc = stopping() ? -1 : store_part(b->q, b->n, &b->copy, "replay", t);
        batch_free(b);
        if (rc < 0)
            break;
        prune_maybe();
    }
    pthread_mutex_lock(&p.mu);
    p.quit = true;
    pthread_cond_broadcast(&p.cv);
    pthread_mutex_unlock(&p.mu);
    pthread_join(parser, NULL);
    for (; p.count; p.count--, p.head = (p.head + 1) % PIPE_DEPTH)
        batch_free(p.ring[p.head]);
    t->features += p.features;
    t->invalid += p.invalid;
out:
    pthread_cond_destroy(&p.cv);
    pthread_mutex_destroy(&p.mu);
    return rc;
}

/* Replays a file in event-time order. A file already in that order, at --speed 0 without
 * --shift-to-now, is stored while it is parsed (replay_stream); any other is parsed whole with
 * jansson, then sorted. */
static int run_replay(const char *file, double speed, bool shift)
{
    char err[512];
    struct totals t = {0};
    struct quake_vec qv = {0};
    struct replay_text rt = {0};
    struct quake_collection coll = {0};
    json_error_t je;
    json_t *doc = NULL;
    int status = 1;
    int64_t delta = 0;

    if (replay_open(file, &rt, err, sizeof err) < 0) {
        log_msg(LOG_ERROR, NULL, "quakes replay file unreadable", "file=%s error=%s", file, err);
        goto out;
    }
    bool stream = speed == 0 && !shift && streamable(&rt, &coll);
    if (!stream) {
        quake_collection_cleanup(&coll);
        if (!(doc = json_loadb(rt.data, rt.len, JSON_ALLOW_NUL, &je))) {
            log_msg(LOG_ERROR, NULL, "quakes replay file unreadable", "file=%s line=%d column=%d error=%s", file,
                    je.line, je.column, je.text);
            goto out;
        }
        if (collect(doc, "replay", &qv, &t, err, sizeof err) < 0) {
            log_msg(LOG_ERROR, NULL, "quakes replay file unusable", "file=%s error=%s", file, err);
            goto out;
        }
        if (shift)
            delta = shift_to_now(doc, &qv, &t);
        json_decref(doc);
        doc = NULL;
        qsort(qv.v, qv.n, sizeof *qv.v, cmp_quake);
    }

    struct log_line l;
    if (log_begin(&l, LOG_INFO, "quakes replay started", NULL)) {
        jsonw_kv_str(&l.w, "file", file);
        /* streamed: features found, not yet validated (the done line counts the invalid ones) */
        jsonw_kv_int(&l.w, "features", (int64_t)(stream ? coll.n : qv.n));
        jsonw_kv_int(&l.w, "invalid", (int64_t)t.invalid);
        jsonw_kv_double(&l.w, "speed", speed);
        jsonw_kv_int(&l.w, "shift_ms", delta);
        jsonw_kv_bool(&l.w, "streamed", stream);
        log_end(&l);
    }
    if (store_ready(g.db_attempts) < 0)
        goto out;
    prune_maybe();
    if (stream) {
        if (replay_stream(&rt, &coll, &t) < 0)
            goto out;
    } else if (speed == 0) {
        if (store_all(qv.v, qv.n, "replay", &t) < 0)
            goto out;
    } else {
        /* event i is due (time_i - time_0) / speed after the start */
        int64_t base = mono_ms();
        size_t batch = (size_t)set.batch_size;
        for (size_t i = 0; i < qv.n;) {
            double due = (double)base + (double)(qv.v[i].time_ms - qv.v[0].time_ms) / speed;
            int64_t wait = (int64_t)ceil(due - (double)mono_ms());
            if (wait > 0) {
                if (!sleep_ms(wait))
                    goto out;
                continue;
            }
            size_t j = i + 1;
            double now = (double)mono_ms();
            while (j < qv.n && j - i < batch &&
                   (double)base + (double)(qv.v[j].time_ms - qv.v[0].time_ms) / speed <= now)
                j++;
            if (store_part(qv.v + i, j - i, NULL, "replay", &t) < 0)
                goto out;
            prune_maybe();
            i = j;
        }
    }
    status = 0;
out:
    if (status == 0 || !stopping()) {
        struct log_line d;
        if (log_begin(&d, status == 0 ? LOG_INFO : LOG_ERROR, status == 0 ? "quakes replay done" : "quakes replay failed",
                      NULL)) {
            jsonw_kv_str(&d.w, "file", file);
            log_totals(&d, &t);
            log_end(&d);
        }
    } else {
        log_msg(LOG_INFO, NULL, "quakes replay stopped", "file=%s", file);
        status = 0;
    }
    json_decref(doc);
    vec_free(&qv);
    quake_collection_cleanup(&coll);
    replay_close(&rt);
    return status;
}

/* ---- backfill -------------------------------------------------------------------------------- */

/* FDSN time: UTC without the zone letter (2023-08-04T00:00:00.000). */
static void fdsn_time(int64_t ms, char out[TIMEFMT_LEN])
{
    size_t n = time_format(ms * 1000, out);
    if (n && out[n - 1] == 'Z')
        out[n - 1] = '\0';
}

static bool says_limit(const struct http_resp *r)
{
    return r->body.data && (strcasestr(r->body.data, "limit") || strcasestr(r->body.data, "too many"));
}

struct backfill {
    int64_t start_ms, end_ms; /* the requested range (progress key) */
    struct totals t;
    struct http_resp resp;
};

/* Records that the range is stored up to done_ms, reconnecting once if needed. */
static int backfill_advance(struct backfill *bf, int64_t done_ms, uint64_t features)
{
    char err[512];
    for (int attempt = 0; attempt < 2; attempt++) {
        if (store_ready(g.db_attempts) < 0)
            return -1;
        int rc = quake_store_backfill_advance(g.store, bf->start_ms, bf->end_ms, done_ms, features, err, sizeof err);
        if (rc == 0)
            return 0;
        if (rc != STRATA_EUNAVAIL)
            break;
        store_drop();
    }
    log_msg(LOG_ERROR, NULL, "quakes backfill progress not recorded", "%s", err);
    return -1;
}

/* Fetches and stores [a, b), halving it while the service says it holds too many events.
 * Returns 0, or -1 (logged). */
static int backfill_window(struct backfill *bf, int64_t a, int64_t b)
{
    char err[1024] = "", ta[TIMEFMT_LEN], tb[TIMEFMT_LEN];
    struct buf url;
    struct quake_vec qv = {0};
    struct totals t = {0};
    json_t *doc = NULL;
    int rc = -1;
    size_t received = 0;

    fdsn_time(a, ta);
    fdsn_time(b - 1, tb); /* the service's endtime is inclusive; times have milliseconds */
    buf_init(&url);
    buf_printf(&url, "%s%cformat=geojson&starttime=%s&endtime=%s&orderby=time-asc", set.fdsn_url,
               strchr(set.fdsn_url, '?') ? '&' : '?', ta, tb);
    if (fetch(url.data, false, "backfill", &bf->resp, err, sizeof err) < 0)
        goto fail;
    if (bf->resp.status == 400 && says_limit(&bf->resp))
        goto split;
    if (bf->resp.status == 204) {
        received = 0;
    } else if (bf->resp.status != 200) {
        snprintf(err, sizeof err, "HTTP %ld", bf->resp.status);
        goto fail;
    } else {
        if (!(doc = parse_body(&bf->resp, err, sizeof err)))
            goto fail;
        received = json_array_size(json_object_get(doc, "features"));
        if ((int64_t)received >= set.backfill_limit)
            goto split;
        if (collect(doc, "backfill", &qv, &t, err, sizeof err) < 0)
            goto fail;
        json_decref(doc);
        doc = NULL;
    }
    if (store_all(qv.v, qv.n, "backfill", &t) < 0 || backfill_advance(bf, b, qv.n) < 0)
        goto out_quiet;
    count(C_WINDOWS, 1);
    bf->t.features += t.features;
    bf->t.created += t.created;
    bf->t.updated += t.updated;
    bf->t.deleted += t.deleted;
    bf->t.ignored += t.ignored;
    bf->t.invalid += t.invalid;
    if (t.max_seq > bf->t.max_seq)
        bf->t.max_seq = t.max_seq;
    struct log_line l;
    if (log_begin(&l, LOG_INFO, "quakes backfill window", NULL)) {
        jsonw_kv_str(&l.w, "starttime", ta);
        jsonw_kv_str(&l.w, "endtime", tb);
        log_totals(&l, &t);
        log_end(&l);
    }
    rc = 0;
    goto out_quiet;

split:
    json_decref(doc);
    doc = NULL;
    if (b - a <= 1000) {
        snprintf(err, sizeof err, "more than quakes_backfill_limit=%" PRId64 " events in one second",
                 set.backfill_limit);
        goto fail;
    }
    log_msg(LOG_INFO, NULL, "quakes backfill window split", "starttime=%s endtime=%s received=%zu status=%ld", ta,
            tb, received, bf->resp.status);
    {
        int64_t mid = a + (b - a) / 2;
        rc = backfill_window(bf, a, mid);
        if (rc == 0)
            rc = backfill_window(bf, mid, b);
    }
    goto out_quiet;
fail:
    if (!stopping()) {
        struct log_line f;
        if (log_begin(&f, LOG_ERROR, "quakes backfill window failed", NULL)) {
            jsonw_kv_str(&f.w, "starttime", ta);
            jsonw_kv_str(&f.w, "endtime", tb);
            jsonw_kv_str(&f.w, "error", err);
            log_end(&f);
        }
    }
out_quiet:
    json_decref(doc);
    vec_free(&qv);
    buf_cleanup(&url);
    return rc;
}

static int run_backfill(int64_t start_ms, int64_t end_ms)
{
    char err[512], ts[TIMEFMT_LEN], te[TIMEFMT_LEN], td[TIMEFMT_LEN];
    struct backfill bf = {.start_ms = start_ms, .end_ms = end_ms};
    int64_t done = start_ms;
    int status = 1;

    buf_init(&bf.resp.body);
    time_format(start_ms * 1000, ts);
    time_format(end_ms * 1000, te);
    if (store_ready(g.db_attempts) < 0)
        goto out;
    if (quake_store_backfill_begin(g.store, start_ms, end_ms, &done, err, sizeof err) < 0) {
        log_msg(LOG_ERROR, NULL, "quakes backfill progress unreadable", "%s", err);
        goto out;
    }
    time_format(done * 1000, td);
    log_msg(LOG_INFO, NULL, done >= end_ms ? "quakes backfill already complete" : "quakes backfill started",
            "starttime=%s endtime=%s resume_from=%s", ts, te, td);
    prune_maybe();
    for (int64_t a = done; a < end_ms;) {
        int64_t b = end_ms - a > set.backfill_window_ms ? a + set.backfill_window_ms : end_ms;
        if (stopping() || backfill_window(&bf, a, b) < 0)
            goto out;
        a = b;
    }
    status = 0;
out:
    if (status != 0 && stopping()) {
        log_msg(LOG_INFO, NULL, "quakes backfill stopped", "starttime=%s endtime=%s", ts, te);
        status = 0;
    } else {
        struct log_line l;
        if (log_begin(&l, status == 0 ? LOG_INFO : LOG_ERROR,
                      status == 0 ? "quakes backfill done" : "quakes backfill failed", NULL)) {
            jsonw_kv_str(&l.w, "starttime", ts);
            jsonw_kv_str(&l.w, "endtime", te);
            log_totals(&l, &bf.t);
            log_end(&l);
        }
    }
    buf_cleanup(&bf.resp.body);
    return status;
}

/* ---- the thread ------------------------------------------------------------------------------ */

static int run_job(struct job *j)
{
    int status = 0;
    switch (j->kind) {
    case JOB_REPLAY:
        return run_replay(j->file, j->speed, j->shift);
    case JOB_BACKFILL:
        return run_backfill(j->start_ms, j->end_ms);
    case JOB_ROLE:
        if (set.replay_file[0])
            status = run_replay(set.replay_file, j->speed, set.replay_shift_to_now);
        if (set.poll)
            poll_loop();
        else if (j->idle_when_done && !stopping())
            log_msg(LOG_INFO, NULL, "quakes ingest idle until stopped", "%s",
                    set.replay_file[0] ? "replay done; quakes_poll=false" : "quakes_poll=false, no quakes_replay_file");
        while (j->idle_when_done && sleep_ms(3600 * 1000))
            ;
        return set.poll || j->idle_when_done ? 0 : status;
    }
    return status;
}

static void *ingest_thread(void *arg)
{
    struct job *j = arg;
    g.curl = curl_easy_init();
    if (!g.curl) {
        log_msg(LOG_ERROR, NULL, "quakes ingest cannot start libcurl", NULL);
        j->status = 1;
    } else {
        j->status = run_job(j);
    }
    store_drop();
    if (g.curl)
        curl_easy_cleanup(g.curl);
    g.curl = NULL;
    free(g.etag);
    free(g.last_modified);
    g.etag = g.last_modified = NULL;
    pthread_mutex_lock(&g.mu);
    atomic_store(&g.done, true);
    pthread_cond_broadcast(&g.cv);
    pthread_mutex_unlock(&g.mu);
    return NULL;
}

/* Starts the thread with SIGTERM/SIGINT blocked in it: the process's signal handling (sigwait
 * in the main thread) stays where it is. */
static int start_thread(const struct job *j)
{
    pthread_once(&g.once, init_once);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        log_msg(LOG_ERROR, NULL, "quakes ingest cannot initialise libcurl", NULL);
        return STRATA_EIO;
    }
    atomic_store(&g.stop, false);
    atomic_store(&g.done, false);
    g.job = *j;
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    int e = pthread_create(&g.thread, NULL, ingest_thread, &g.job);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (e != 0) {
        log_msg(LOG_ERROR, NULL, "quakes ingest cannot start its thread", "%s", strerror(e));
        curl_global_cleanup();
        return STRATA_EIO;
    }
    g.running = true;
    return 0;
}

static int join_thread(void)
{
    if (!g.running)
        return 0;
    request_stop();
    pthread_join(g.thread, NULL);
    g.running = false;
    curl_global_cleanup();
    return g.job.status;
}

/* quakes_replay_speed or --speed: a finite number >= 0. */
static int parse_speed(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (!*s || *end || errno || !isfinite(v) || v < 0)
        return STRATA_EINVAL;
    *out = v;
    return 0;
}

int quakes_ingest_start(void)
{
    struct job j = {.kind = JOB_ROLE};
    if (parse_speed(set.replay_speed, &j.speed) < 0) {
        log_msg(LOG_ERROR, NULL, "invalid setting", "STRATA_QUAKES_REPLAY_SPEED must be a number >= 0, not '%s'",
                set.replay_speed);
        return STRATA_EINVAL;
    }
    if (!set.replay_file[0] && !set.poll) {
        log_msg(LOG_INFO, NULL, "quakes ingest not started", "quakes_poll=false, no quakes_replay_file");
        return 0;
    }
    g.db_attempts = DB_ATTEMPTS;
    return start_thread(&j);
}

void quakes_ingest_stop(void)
{
    (void)join_thread();
}

/* ---- strata ingest ---------------------------------------------------------------------------- */

static int usage(const char *msg, const char *arg)
{
    fprintf(stderr, "strata ingest: %s%s%s\n", msg, arg ? ": " : "", arg ? arg : "");
    fprintf(stderr, "usage: strata ingest                       poll the USGS feed until stopped\n"
                    "       strata ingest --replay FILE [--speed N] [--shift-to-now]\n"
                    "       strata ingest --backfill --starttime T --endtime T\n");
    return 2;
}

/* --name VALUE or --name=VALUE: *val gets VALUE and *i moves past it. */
static bool opt_value(int argc, char **argv, int *i, const char *name, const char **val)
{
    size_t n = strlen(name);
    if (strncmp(argv[*i], name, n) != 0)
        return false;
    if (argv[*i][n] == '=') {
        *val = argv[*i] + n + 1;
        return true;
    }
    if (argv[*i][n] != '\0')
        return false;
    *val = *i + 1 < argc ? argv[++*i] : NULL;
    return true;
}

static int parse_time_ms(const char *s, int64_t *ms)
{
    int64_t us;
    if (!s || time_parse(s, strlen(s), &us) < 0)
        return STRATA_EINVAL;
    *ms = us >= 0 ? us / 1000 : -((-us + 999) / 1000);
    return 0;
}

int quakes_ingest_main(int argc, char **argv)
{
    struct job j = {.kind = JOB_ROLE, .idle_when_done = true};
    const char *speed = NULL, *start = NULL, *end = NULL, *v;
    bool backfill = false;

    for (int i = 1; i < argc; i++) {
        if (opt_value(argc, argv, &i, "--replay", &v)) {
            if (!v || !*v)
                return usage("--replay needs a file", NULL);
            j.kind = JOB_REPLAY;
            j.file = v;
        } else if (opt_value(argc, argv, &i, "--speed", &v)) {
            if (!v)
                return usage("--speed needs a value", NULL);
            speed = v;
        } else if (!strcmp(argv[i], "--shift-to-now")) {
            j.shift = true;
        } else if (!strcmp(argv[i], "--backfill")) {
            backfill = true;
        } else if (opt_value(argc, argv, &i, "--starttime", &v)) {
            if (!(start = v))
                return usage("--starttime needs a time", NULL);
        } else if (opt_value(argc, argv, &i, "--endtime", &v)) {
            if (!(end = v))
                return usage("--endtime needs a time", NULL);
        } else {
            return usage("unknown argument", argv[i]);
        }
    }
    if (backfill && j.kind == JOB_REPLAY)
        return usage("--replay and --backfill are separate runs", NULL);
    if ((speed || j.shift) && j.kind != JOB_REPLAY)
        return usage("--speed and --shift-to-now go with --replay", NULL);
    if ((start || end) && !backfill)
        return usage("--starttime and --endtime go with --backfill", NULL);
    if (backfill) {
        if (!start || !end)
            return usage("--backfill needs --starttime and --endtime", NULL);
        if (parse_time_ms(start, &j.start_ms) < 0)
            return usage("--starttime is not an RFC 3339 / ISO 8601 time", start);
        if (parse_time_ms(end, &j.end_ms) < 0)
            return usage("--endtime is not an RFC 3339 / ISO 8601 time", end);
        if (j.start_ms >= j.end_ms)
            return usage("--starttime must be before --endtime", NULL);
        j.kind = JOB_BACKFILL;
    }
    if (parse_speed(speed ? speed : set.replay_speed, &j.speed) < 0)
        return usage(speed ? "--speed must be a number >= 0" : "STRATA_QUAKES_REPLAY_SPEED must be a number >= 0",
                     speed ? speed : set.replay_speed);
    if (!cfg.database_url || !cfg.database_url[0]) {
        fprintf(stderr, "strata: STRATA_DATABASE_URL is required (e.g. postgresql://user@127.0.0.1:5432/strata)\n");
        return 2;
    }
    if (cfg.auto_migrate) {
        char err[1024];
        unsigned applied = 0;
        if (migrate_run(cfg.database_url, &applied, err, sizeof err) < 0) {
            log_msg(LOG_ERROR, NULL, "migration failed", "%s", err);
            return 1;
        }
    }

    /* signals are taken here, by sigtimedwait; the job runs on the ingest thread */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    /* one-shot runs fail fast when the database cannot be reached at all; the role keeps trying */
    g.db_attempts = j.kind == JOB_ROLE ? DB_ATTEMPTS : 1;
    if (j.kind != JOB_ROLE) {
        char err[512];
        pthread_once(&g.once, init_once);
        g.store = quake_store_open(cfg.database_url, cfg.statement_timeout_slow_ms, err, sizeof err);
        if (!g.store) {
            log_msg(LOG_ERROR, NULL, "quakes ingest database unavailable", "%s", err);
            return 1;
        }
        g.db_attempts = DB_ATTEMPTS;
    }
    if (start_thread(&j) < 0) {
        store_drop();
        return 1;
    }
    const struct timespec tick = {0, 100 * 1000 * 1000};
    while (!atomic_load(&g.done)) {
        int sig = sigtimedwait(&sigs, NULL, &tick);
        if (sig == SIGTERM || sig == SIGINT) {
            log_msg(LOG_INFO, NULL, "quakes ingest stopping", "signal=%s", sig == SIGINT ? "SIGINT" : "SIGTERM");
            request_stop();
        }
    }
    int status = join_thread();
    log_msg(LOG_INFO, NULL, "stopped", "role=ingest status=%d", status);
    return status;
}
