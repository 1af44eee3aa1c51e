#include "core/auth.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <sodium.h>

#include "core/config.h"
#include "core/db.h"
#include "core/http.h"
#include "core/jwt.h"
#include "core/log.h"
#include "core/mem.h"

/* ---- settings ------------------------------------------------------------------------------ */

static char *jwt_secret, *jwt_alg_name, *jwt_key_file, *jwt_issuer, *jwt_audience, *api_key_secret;
static char *admin_user, *admin_password;
static int64_t access_ttl_ms, refresh_ttl_ms, leeway_ms, reload_ms;
int64_t auth_rate_per_minute, auth_user_rate_per_minute;

static const char *const alg_choices[] = {"HS256", "RS256", "ES256", NULL};

static const struct config_setting auth_settings[] = {
    {"jwt_secret", CFG_STRING, "", &jwt_secret, CFG_SECRET, 0, 0, NULL,
     "HS256 signing secret, at least 32 bytes (production: required; development: generated under var_dir)"},
    {"jwt_alg", CFG_ENUM, "HS256", &jwt_alg_name, 0, 0, 0, alg_choices, "access token algorithm: HS256, RS256 or ES256"},
    {"jwt_key_file", CFG_STRING, "", &jwt_key_file, 0, 0, 0, NULL,
     "PEM private key for RS256/ES256 (its public half is served at /.well-known/jwks.json)"},
    {"jwt_issuer", CFG_STRING, "strata", &jwt_issuer, 0, 0, 0, NULL, "access token iss claim"},
    {"jwt_audience", CFG_STRING, "strata-api", &jwt_audience, 0, 0, 0, NULL, "access token aud claim"},
    {"jwt_leeway", CFG_DURATION, "30s", &leeway_ms, 0, 0, 300000, NULL, "clock skew allowed on exp/nbf/iat"},
    {"access_token_ttl", CFG_DURATION, "15m", &access_ttl_ms, 0, 10000, 24LL * 3600 * 1000, NULL,
     "access token lifetime"},
    {"refresh_token_ttl", CFG_DURATION, "720h", &refresh_ttl_ms, 0, 60000, 8760LL * 3600 * 1000, NULL,
     "refresh token lifetime (each use rotates it)"},
    {"api_key_secret", CFG_STRING, "", &api_key_secret, CFG_SECRET, 0, 0, NULL,
     "server key for HMAC of API keys and client secrets, at least 32 bytes (development: generated)"},
    {"admin_user", CFG_STRING, "", &admin_user, 0, 0, 0, NULL, "create or reset this admin user at start"},
    {"admin_password", CFG_STRING, "", &admin_password, CFG_SECRET, 0, 0, NULL,
     "password for admin_user (generated and printed once when empty and the user is new)"},
    {"auth_rate_per_minute", CFG_INT, "30", &auth_rate_per_minute, 0, 1, 100000, NULL,
     "token endpoint attempts per client address per minute (429 above)"},
    {"auth_user_rate_per_minute", CFG_INT, "10", &auth_user_rate_per_minute, 0, 1, 100000, NULL,
     "password attempts per username per minute (429 above)"},
    {"auth_reload_interval", CFG_DURATION, "30s", &reload_ms, 0, 1000, 3600 * 1000, NULL,
     "auth snapshot reload period, besides NOTIFY strata_auth"},
    {NULL, 0, NULL, NULL, 0, 0, 0, NULL, NULL},
};

void auth_register_config(void)
{
    config_register(auth_settings);
}

const char *auth_setting(const char *name)
{
    for (size_t i = 0; auth_settings[i].name; i++)
        if (!strcmp(auth_settings[i].name, name) &&
            (auth_settings[i].type == CFG_STRING || auth_settings[i].type == CFG_ENUM))
            return *(char **)auth_settings[i].target;
    return NULL;
}

const char *const AUTH_NOTIFY_SQL = "SELECT pg_notify('strata_auth', 'changed')";

/* ---- secrets ------------------------------------------------------------------------------- */

static struct jwt_key *signing_key;
static unsigned char hmac_key[64];
static size_t hmac_key_len;

/* Development only: a random secret kept in var_dir/<name> (0600), created once. */
static int dev_secret(const char *name, char **value, char *err, size_t errlen)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", cfg.var_dir, name);
    char buf[256];
    FILE *f = fopen(path, "r");
    if (f) {
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[n] = '\0';
        while (n && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
            buf[--n] = '\0';
        if (n >= 32) {
            free(*value);
            *value = xstrdup(buf);
            return 0;
        }
    }
    if (mkdir(cfg.var_dir, 0700) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "cannot create %s for development secrets: %s", cfg.var_dir, strerror(errno));
        return STRATA_EIO;
    }
    char token[64];
    auth_random_token(token);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd < 0) {
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
        return STRATA_EIO;
    }
    size_t len = strlen(token);
    bool ok = write(fd, token, len) == (ssize_t)len;
    close(fd);
    if (!ok) {
        snprintf(err, errlen, "cannot write %s", path);
        return STRATA_EIO;
    }
    free(*value);
    *value = xstrdup(token);
    log_msg(LOG_WARN, NULL, "development secret generated", "setting=%s file=%s", name, path);
    return 0;
}

static int check_secret(const char *setting, const char *env, char **value, char *err, size_t errlen)
{
    if (*value && strlen(*value) >= 32)
        return 0;
    if (!strcmp(cfg.env, "development"))
        return dev_secret(setting, value, err, errlen);
    snprintf(err, errlen, "%s must be set to at least 32 bytes when STRATA_ENV=production", env);
    return STRATA_EINVAL;
}

void auth_random_token(char out[64])
{
    unsigned char rnd[32];
    if (sodium_init() < 0)
        abort();
    randombytes_buf(rnd, sizeof rnd);
    struct buf b;
    buf_init(&b);
    jwt_b64url_encode(&b, rnd, sizeof rnd);
    snprintf(out, 64, "%s", b.data);
    buf_cleanup(&b);
}

static void hex(const unsigned char *p, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * n] = '\0';
}

void auth_token_hash(const char *token, char out[65])
{
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)token, strlen(token), md);
    hex(md, sizeof md, out);
}

void auth_keyed_hash(const char *secret, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    HMAC(EVP_sha256(), hmac_key, (int)hmac_key_len, (const unsigned char *)secret, strlen(secret), md, &len);
    hex(md, len, out);
}

bool auth_secret_equal(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la != lb)
        return false;
    return CRYPTO_memcmp(a, b, la) == 0;
}

/* ---- snapshot ------------------------------------------------------------------------------ */

struct strmap { /* open addressing: string -> index, read-only once built */
    char **keys;
    size_t *vals;
    size_t cap;
};

static uint64_t fnv(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static void strmap_init(struct strmap *m, size_t n)
{
    m->cap = 16;
    while (m->cap < n * 2 + 1)
        m->cap *= 2;
    m->keys = xcalloc(m->cap, sizeof *m->keys);
    m->vals = xcalloc(m->cap, sizeof *m->vals);
}

static void strmap_put(struct strmap *m, char *key, size_t val)
{
    size_t i = fnv(key) & (m->cap - 1);
    while (m->keys[i])
        i = (i + 1) & (m->cap - 1);
    m->keys[i] = key;
    m->vals[i] = val;
}

static bool strmap_get(const struct strmap *m, const char *key, size_t *val)
{
    if (!m->cap)
        return false;
    size_t i = fnv(key) & (m->cap - 1);
    while (m->keys[i]) {
        if (!strcmp(m->keys[i], key)) {
            *val = m->vals[i];
            return true;
        }
        i = (i + 1) & (m->cap - 1);
    }
    return false;
}

static void strmap_free(struct strmap *m)
{
    free(m->keys);
    free(m->vals);
}

struct snap_role {
    char *name;
    char *perms; /* " perm1 perm2 " with surrounding spaces for whole-word search */
};
struct snap_user {
    char *name;
    int64_t id;
    char *role;
    bool disabled;
};
struct snap_client {
    char *id;
    char *role; /* NULL: public */
    char *secret_hash;
    bool revoked;
};
struct snap_key {
    char *prefix;
    int64_t id;
    char *hmac_hex;
    char *role;
    int64_t expires_at; /* epoch seconds, 0 = never */
    bool revoked;
};

struct snapshot {
    atomic_int refs;
    PGresult *res[4]; /* the strings point into these */
    struct snap_role *roles;
    size_t nroles;
    struct snap_user *users;
    size_t nusers;
    struct snap_client *clients;
    size_t nclients;
    struct snap_key *keys;
    size_t nkeys;
    struct strmap role_map, user_map, client_map, key_map;
};

static pthread_mutex_t snap_mu = PTHREAD_MUTEX_INITIALIZER;
static struct snapshot *current;

static void snap_unref(struct snapshot *s)
{
    if (!s || atomic_fetch_sub(&s->refs, 1) != 1)
        return;
    for (size_t i = 0; i < s->nroles; i++)
        free(s->roles[i].perms);
    free(s->roles);
    free(s->users);
    free(s->clients);
    free(s->keys);
    strmap_free(&s->role_map);
    strmap_free(&s->user_map);
    strmap_free(&s->client_map);
    strmap_free(&s->key_map);
    for (int i = 0; i < 4; i++)
        if (s->res[i])
            PQclear(s->res[i]);
    free(s);
}

static struct snapshot *snap_get(void)
{
    pthread_mutex_lock(&snap_mu);
    struct snapshot *s = current;
    if (s)
        atomic_fetch_add(&s->refs, 1);
    pthread_mutex_unlock(&snap_mu);
    return s;
}

static PGresult *q(PGconn *pg, const char *sql, char *err, size_t errlen)
{
    PGresult *r = PQexec(pg, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        snprintf(err, errlen, "%s", PQresultErrorMessage(r));
        PQclear(r);
        return NULL;
    }
    return r;
}

/* Runs a statement that returns no rows; false (err filled) on failure. */
static bool cmd(PGconn *pg, const char *sql, char *err, size_t errlen)
{
    PGresult *r = PQexec(pg, sql);
    bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok)
        snprintf(err, errlen, "%s", PQresultErrorMessage(r));
    PQclear(r);
    return ok;
}

static struct snapshot *snap_load(PGconn *pg, char *err, size_t errlen)
{
    /* one snapshot of the four tables: a role change and the user it concerns, committed
     * between two of the reads, are never seen half */
    if (!cmd(pg, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", err, errlen))
        return NULL;
    struct snapshot *s = xcalloc(1, sizeof *s);
    atomic_init(&s->refs, 1);
    s->res[0] = q(pg,
                  "SELECT r.name, coalesce(string_agg(rp.permission, ' ' ORDER BY rp.permission), '') "
                  "FROM roles r LEFT JOIN role_permissions rp ON rp.role = r.name GROUP BY r.name",
                  err, errlen);
    s->res[1] = s->res[0] ? q(pg, "SELECT username, id, role, disabled FROM users", err, errlen) : NULL;
    s->res[2] = s->res[1] ? q(pg, "SELECT id, role, secret_hash, revoked FROM oauth_clients", err, errlen) : NULL;
    s->res[3] = s->res[2] ? q(pg,
                              "SELECT prefix, id, encode(key_hmac, 'hex'), role, "
                              "coalesce(extract(epoch FROM expires_at)::bigint, 0), revoked_at IS NOT NULL FROM api_keys",
                              err, errlen)
                          : NULL;
    char end_err[256];
    bool ended = cmd(pg, s->res[3] ? "COMMIT" : "ROLLBACK", end_err, sizeof end_err);
    if (!s->res[3] || !ended) {
        if (s->res[3])
            snprintf(err, errlen, "%s", end_err);
        snap_unref(s);
        return NULL;
    }
    PGresult *r = s->res[0];
    s->nroles = (size_t)PQntuples(r);
    s->roles = xcalloc(s->nroles + 1, sizeof *s->roles);
    strmap_init(&s->role_map, s->nroles);
    for (size_t i = 0; i < s->nroles; i++) {
        s->roles[i].name = PQgetvalue(r, (int)i, 0);
        struct buf b;
        buf_init(&b);
        buf_printf(&b, " %s ", PQgetvalue(r, (int)i, 1));
        s->roles[i].perms = buf_steal(&b, NULL);
        strmap_put(&s->role_map, s->roles[i].name, i);
    }
    r = s->res[1];
    s->nusers = (size_t)PQntuples(r);
    s->users = xcalloc(s->nusers + 1, sizeof *s->users);
    strmap_init(&s->user_map, s->nusers);
    for (size_t i = 0; i < s->nusers; i++) {
        s->users[i] = (struct snap_user){PQgetvalue(r, (int)i, 0), atoll(PQgetvalue(r, (int)i, 1)),
                                         PQgetvalue(r, (int)i, 2), PQgetvalue(r, (int)i, 3)[0] == 't'};
        strmap_put(&s->user_map, s->users[i].name, i);
    }
    r = s->res[2];
    s->nclients = (size_t)PQntuples(r);
    s->clients = xcalloc(s->nclients + 1, sizeof *s->clients);
    strmap_init(&s->client_map, s->nclients);
    for (size_t i = 0; i < s->nclients; i++) {
        s->clients[i] = (struct snap_client){PQgetvalue(r, (int)i, 0),
                                             PQgetisnull(r, (int)i, 1) ? NULL : PQgetvalue(r, (int)i, 1),
                                             PQgetisnull(r, (int)i, 2) ? NULL : PQgetvalue(r, (int)i, 2),
                                             PQgetvalue(r, (int)i, 3)[0] == 't'};
        strmap_put(&s->client_map, s->clients[i].id, i);
    }
    r = s->res[3];
    s->nkeys = (size_t)PQntuples(r);
    s->keys = xcalloc(s->nkeys + 1, sizeof *s->keys);
    strmap_init(&s->key_map, s->nkeys);
    for (size_t i = 0; i < s->nkeys; i++) {
        s->keys[i] = (struct snap_key){PQgetvalue(r, (int)i, 0), atoll(PQgetvalue(r, (int)i, 1)),
                                       PQgetvalue(r, (int)i, 2), PQgetvalue(r, (int)i, 3),
                                       atoll(PQgetvalue(r, (int)i, 4)), PQgetvalue(r, (int)i, 5)[0] == 't'};
        strmap_put(&s->key_map, s->keys[i].prefix, i);
    }
    return s;
}

static void snap_publish(struct snapshot *s)
{
    pthread_mutex_lock(&snap_mu);
    struct snapshot *old = current;
    current = s;
    pthread_mutex_unlock(&snap_mu);
    snap_unref(old);
}

/* ---- reload thread ------------------------------------------------------------------------- */

static pthread_t reload_thread;
static int stop_pipe[2] = {-1, -1};
static int poke_pipe[2] = {-1, -1};
static bool reload_running;
static atomic_uint_fast64_t sync_requested, sync_done;

uint64_t auth_sync_ticket(void)
{
    uint64_t t = atomic_fetch_add(&sync_requested, 1) + 1;
    if (poke_pipe[1] >= 0 && write(poke_pipe[1], "p", 1) != 1) {
        /* the pipe is full: a reload is already pending, which serves this ticket too */
    }
    return t;
}

bool auth_synced(uint64_t ticket)
{
    return !reload_running || atomic_load(&sync_done) >= ticket;
}

static PGconn *listen_connect(void)
{
    char err[256];
    PGconn *pg = db_connect_blocking(cfg.database_url, err, sizeof err);
    if (!pg)
        return NULL;
    PGresult *r = PQexec(pg, "LISTEN strata_auth");
    bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    if (!ok) {
        PQfinish(pg);
        return NULL;
    }
    return pg;
}

static void reload(PGconn *pg)
{
    char err[512];
    struct snapshot *s = snap_load(pg, err, sizeof err);
    if (s)
        snap_publish(s);
    else
        log_msg(LOG_ERROR, NULL, "auth snapshot reload failed", "%s", err);
}

static void *reload_main(void *unused)
{
    PGconn *pg = NULL;
    for (;;) {
        if (!pg) {
            pg = listen_connect();
            if (pg)
                reload(pg); /* changes made while disconnected */
        }
        /* A notification that arrived while a reload ran its queries on this connection was
         * read by libpq then and waits in its queue: the socket will not wake poll for it. */
        bool queued = false;
        if (pg) {
            PGnotify *nt;
            while ((nt = PQnotifies(pg))) {
                queued = true;
                PQfreemem(nt);
            }
        }
        struct pollfd fds[3] = {{stop_pipe[0], POLLIN, 0}, {pg ? PQsocket(pg) : -1, POLLIN, 0},
                                {poke_pipe[0], POLLIN, 0}};
        int n = poll(fds, 3, queued ? 0 : pg ? (int)reload_ms : 1000);
        if (n > 0 && (fds[0].revents & POLLIN))
            break;
        if (!pg)
            continue;
        bool changed = queued || n == 0; /* queued, or the periodic safety net */
        uint64_t serving = atomic_load(&sync_requested); /* tickets taken before this reload starts */
        if (n > 0 && (fds[2].revents & POLLIN)) {
            char drain[64];
            while (read(poke_pipe[0], drain, sizeof drain) > 0) {
            }
            changed = true;
        }
        if (n > 0 && (fds[1].revents & (POLLIN | POLLERR | POLLHUP))) {
            if (!PQconsumeInput(pg)) {
                log_msg(LOG_WARN, NULL, "auth listener lost its connection", "%s", PQerrorMessage(pg));
                PQfinish(pg);
                pg = NULL;
                continue;
            }
            PGnotify *nt;
            while ((nt = PQnotifies(pg))) {
                changed = true;
                PQfreemem(nt);
            }
        }
        if (changed) {
            reload(pg);
            atomic_store(&sync_done, serving);
        }
    }
    if (pg)
        PQfinish(pg);
    return NULL;
}

static bool keys_loaded;

int auth_load_keys(char *err, size_t errlen)
{
    if (keys_loaded)
        return 0;
    if (check_secret("api_key_secret", "STRATA_API_KEY_SECRET", &api_key_secret, err, errlen) < 0)
        return STRATA_EINVAL;
    hmac_key_len = strlen(api_key_secret) < sizeof hmac_key ? strlen(api_key_secret) : sizeof hmac_key;
    memcpy(hmac_key, api_key_secret, hmac_key_len);

    if (!strcmp(jwt_alg_name, "HS256")) {
        if (check_secret("jwt_secret", "STRATA_JWT_SECRET", &jwt_secret, err, errlen) < 0)
            return STRATA_EINVAL;
        signing_key = jwt_key_hs256((const unsigned char *)jwt_secret, strlen(jwt_secret));
    } else {
        if (!jwt_key_file[0]) {
            snprintf(err, errlen, "STRATA_JWT_KEY_FILE is required with STRATA_JWT_ALG=%s", jwt_alg_name);
            return STRATA_EINVAL;
        }
        FILE *f = fopen(jwt_key_file, "r");
        if (!f) {
            snprintf(err, errlen, "cannot read STRATA_JWT_KEY_FILE %s: %s", jwt_key_file, strerror(errno));
            return STRATA_EINVAL;
        }
        char pem[16384];
        size_t n = fread(pem, 1, sizeof pem, f);
        fclose(f);
        char kerr[256] = "";
        signing_key = jwt_key_pem(!strcmp(jwt_alg_name, "RS256") ? JWT_RS256 : JWT_ES256, pem, n, kerr, sizeof kerr);
        if (!signing_key) {
            snprintf(err, errlen, "invalid value for STRATA_JWT_KEY_FILE: %s", kerr);
            return STRATA_EINVAL;
        }
        /* a public key verifies but cannot issue tokens: refuse it now, not at the first login */
        json_t *probe = json_pack("{s:s}", "sub", "probe");
        struct buf b;
        buf_init(&b);
        int rc = jwt_sign(signing_key, NULL, probe, &b);
        json_decref(probe);
        buf_cleanup(&b);
        if (rc < 0) {
            jwt_key_free(signing_key);
            signing_key = NULL;
            snprintf(err, errlen, "invalid value for STRATA_JWT_KEY_FILE: a private key is needed to sign tokens");
            return STRATA_EINVAL;
        }
    }
    if (!signing_key) {
        snprintf(err, errlen, "invalid value for STRATA_JWT_SECRET: at least 32 bytes");
        return STRATA_EINVAL;
    }
    keys_loaded = true;
    return 0;
}

int auth_start(char *err, size_t errlen)
{
    if (auth_load_keys(err, errlen) < 0)
        return STRATA_EINVAL;
    PGconn *pg = db_connect_blocking(cfg.database_url, err, errlen);
    if (!pg)
        return STRATA_EUNAVAIL;
    struct snapshot *s = snap_load(pg, err, errlen);
    PQfinish(pg);
    if (!s)
        return STRATA_EIO;
    snap_publish(s);
    if (pipe2(stop_pipe, O_CLOEXEC) != 0 || pipe2(poke_pipe, O_CLOEXEC | O_NONBLOCK) != 0 || pthread_create(&reload_thread, NULL, reload_main, NULL) != 0) {
        snprintf(err, errlen, "cannot start the auth reload thread");
        return STRATA_EIO;
    }
    reload_running = true;
    return 0;
}

void auth_stop(void)
{
    if (reload_running) {
        if (write(stop_pipe[1], "x", 1) != 1)
            log_msg(LOG_WARN, NULL, "auth stop signal failed", NULL);
        pthread_join(reload_thread, NULL);
        close(stop_pipe[0]);
        close(stop_pipe[1]);
        close(poke_pipe[0]);
        close(poke_pipe[1]);
        poke_pipe[0] = poke_pipe[1] = -1;
        reload_running = false;
    }
    snap_publish(NULL);
    jwt_key_free(signing_key);
    signing_key = NULL;
    keys_loaded = false;
}

/* ---- decisions ----------------------------------------------------------------------------- */

static bool word_in(const char *list, const char *word)
{
    size_t wl = strlen(word);
    for (const char *p = list; (p = strstr(p, word)); p += wl) {
        bool start = p == list || p[-1] == ' ';
        bool end = p[wl] == '\0' || p[wl] == ' ';
        if (start && end)
            return true;
    }
    return false;
}

static const struct snap_role *role_of(const struct snapshot *s, const char *role)
{
    size_t i;
    return s && strmap_get(&s->role_map, role, &i) ? &s->roles[i] : NULL;
}

bool auth_has(const struct auth_principal *p, const char *permission)
{
    if (p->kind == AUTH_NONE)
        return false;
    struct snapshot *s = snap_get();
    const struct snap_role *r = role_of(s, p->role);
    bool ok = r && word_in(r->perms, permission) && (!p->scope[0] || word_in(p->scope, permission));
    snap_unref(s);
    return ok;
}

bool auth_is_admin(const struct auth_principal *p)
{
    return p->kind != AUTH_NONE && !strcmp(p->role, "admin");
}

bool auth_owner_or_admin(const struct auth_principal *p, int64_t owner_user_id)
{
    return auth_is_admin(p) || (p->kind == AUTH_USER && p->user_id == owner_user_id);
}

bool auth_role_permissions(const char *role, struct buf *out)
{
    struct snapshot *s = snap_get();
    const struct snap_role *r = role_of(s, role);
    if (r) {
        const char *p = r->perms;
        while (*p == ' ')
            p++;
        size_t n = strlen(p);
        while (n && p[n - 1] == ' ')
            n--;
        buf_append(out, p, n);
    }
    snap_unref(s);
    return r != NULL;
}

bool auth_role_exists(const char *role)
{
    struct snapshot *s = snap_get();
    bool ok = role_of(s, role) != NULL;
    snap_unref(s);
    return ok;
}

void auth_actor(const struct auth_principal *p, char *out, size_t len)
{
    switch (p->kind) {
    case AUTH_USER:
        snprintf(out, len, "user:%s", p->name);
        break;
    case AUTH_CLIENT:
        snprintf(out, len, "client:%s", p->name);
        break;
    case AUTH_APIKEY:
        snprintf(out, len, "%s", p->name);
        break;
    default:
        snprintf(out, len, "anonymous");
    }
}

bool auth_client_check(const char *client_id, const char *secret, bool *confidential, bool *secret_ok, char role[40])
{
    struct snapshot *s = snap_get();
    size_t i;
    bool found = s && strmap_get(&s->client_map, client_id, &i) && !s->clients[i].revoked;
    *confidential = false;
    *secret_ok = false;
    role[0] = '\0';
    if (found) {
        const struct snap_client *c = &s->clients[i];
        *confidential = c->secret_hash != NULL;
        if (c->role)
            snprintf(role, 40, "%s", c->role);
        if (c->secret_hash && secret) {
            char h[65];
            auth_keyed_hash(secret, h);
            *secret_ok = auth_secret_equal(h, c->secret_hash);
        }
    }
    snap_unref(s);
    return found;
}

/* ---- identification ------------------------------------------------------------------------ */

/* Verified tokens, per event-loop thread: a protected request then costs one SHA-256 of the
 * token instead of a signature check and a JSON parse (measured ~15 µs, bench/README.md).
 * Only what the signature vouched for is cached; expiry and the snapshot checks (user
 * disabled, role changed, client revoked) run on every request. */
#define TOKEN_CACHE 256

struct token_entry {
    unsigned char hash[SHA256_DIGEST_LENGTH];
    bool used;
    int64_t exp, nbf;
    struct auth_principal p; /* kind, name, role, scope, jti, grant */
};

static _Thread_local struct token_entry *token_cache;

static int principal_from_claims(json_t *claims, struct auth_principal *p, int64_t *exp, int64_t *nbf,
                                 const char **reason)
{
    const char *sub = json_string_value(json_object_get(claims, "sub"));
    const char *role = json_string_value(json_object_get(claims, "role"));
    const char *scope = json_string_value(json_object_get(claims, "scope"));
    const char *gty = json_string_value(json_object_get(claims, "gty"));
    const char *jti = json_string_value(json_object_get(claims, "jti"));
    *reason = "token claims incomplete";
    if (!sub || !role || !gty)
        return STRATA_EINVAL;
    snprintf(p->name, sizeof p->name, "%s", sub);
    snprintf(p->role, sizeof p->role, "%s", role);
    snprintf(p->scope, sizeof p->scope, "%s", scope ? scope : "");
    snprintf(p->jti, sizeof p->jti, "%s", jti ? jti : "");
    snprintf(p->grant, sizeof p->grant, "%s", gty);
    p->kind = !strcmp(gty, "client_credentials") ? AUTH_CLIENT : AUTH_USER;
    *exp = (int64_t)json_number_value(json_object_get(claims, "exp"));
    json_t *n = json_object_get(claims, "nbf");
    *nbf = n ? (int64_t)json_number_value(n) : 0;
    return 0;
}

static int principal_check(struct auth_principal *p, const char **reason);

void auth_thread_cleanup(void)
{
    free(token_cache);
    token_cache = NULL;
}

static int identify_jwt(const char *tok, size_t len, struct auth_principal *p, const char **reason)
{
    int64_t now = (int64_t)time(NULL), leeway = leeway_ms / 1000;
    unsigned char h[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)tok, len, h);
    if (!token_cache)
        token_cache = xcalloc(TOKEN_CACHE, sizeof *token_cache); /* one per loop thread, for its life */
    struct token_entry *slot = &token_cache[(h[0] | (h[1] << 8)) % TOKEN_CACHE];
    if (slot->used && CRYPTO_memcmp(slot->hash, h, sizeof h) == 0) {
        if (slot->exp + leeway <= now) {
            *reason = jwt_error_text(JWT_E_EXPIRED);
            return STRATA_EINVAL;
        }
        if (slot->nbf - leeway > now) {
            *reason = jwt_error_text(JWT_E_NOT_YET);
            return STRATA_EINVAL;
        }
        *p = slot->p;
    } else {
        struct jwt_verify_opts o = {jwt_issuer, jwt_audience, now, leeway};
        json_t *claims = NULL;
        enum jwt_error e = jwt_verify(signing_key, tok, len, &o, &claims);
        if (e != JWT_OK) {
            *reason = jwt_error_text(e);
            return STRATA_EINVAL;
        }
        int64_t exp, nbf;
        int rc = principal_from_claims(claims, p, &exp, &nbf, reason);
        json_decref(claims);
        if (rc < 0) {
            p->kind = AUTH_NONE;
            return rc;
        }
        memcpy(slot->hash, h, sizeof h);
        slot->used = true;
        slot->exp = exp;
        slot->nbf = nbf;
        slot->p = *p;
    }
    return principal_check(p, reason);
}

/* The snapshot's word on a principal the token vouched for. */
static int principal_check(struct auth_principal *p, const char **reason)
{
    int rc;
    const char *sub = p->name, *role = p->role;
    struct snapshot *s = snap_get();
    size_t i;
    if (p->kind == AUTH_CLIENT) {
        bool ok = s && strmap_get(&s->client_map, sub, &i) && !s->clients[i].revoked && s->clients[i].role &&
                  !strcmp(s->clients[i].role, role);
        *reason = "client revoked or its role changed";
        rc = ok ? 0 : STRATA_EINVAL;
    } else {
        bool ok = s && strmap_get(&s->user_map, sub, &i) && !s->users[i].disabled && !strcmp(s->users[i].role, role);
        if (ok)
            p->user_id = s->users[i].id;
        *reason = "user disabled or role changed";
        rc = ok ? 0 : STRATA_EINVAL;
    }
    snap_unref(s);
    if (rc < 0)
        p->kind = AUTH_NONE;
    return rc;
}

/* X-API-Key: stk_<12 hex prefix>_<secret> */
static int identify_key(const char *key, size_t len, struct auth_principal *p, const char **reason)
{
    *reason = "invalid API key";
    if (len < 4 + 12 + 1 + 20 || len > 200 || memcmp(key, "stk_", 4) || key[16] != '_')
        return STRATA_EINVAL;
    char prefix[13], whole[201];
    memcpy(prefix, key + 4, 12);
    prefix[12] = '\0';
    memcpy(whole, key, len);
    whole[len] = '\0';
    char h[65];
    auth_keyed_hash(whole, h);
    struct snapshot *s = snap_get();
    size_t i;
    int rc = STRATA_EINVAL;
    if (s && strmap_get(&s->key_map, prefix, &i) && auth_secret_equal(h, s->keys[i].hmac_hex)) {
        const struct snap_key *k = &s->keys[i];
        if (k->revoked) {
            *reason = "API key revoked";
        } else if (k->expires_at && k->expires_at <= (int64_t)time(NULL)) {
            *reason = "API key expired";
        } else {
            p->kind = AUTH_APIKEY;
            p->key_id = k->id;
            snprintf(p->name, sizeof p->name, "apikey:%s", k->prefix);
            snprintf(p->role, sizeof p->role, "%s", k->role);
            p->scope[0] = '\0';
            rc = 0;
        }
    }
    snap_unref(s);
    return rc;
}

int auth_identify(struct http_req *r, struct auth_principal *p, const char **reason)
{
    memset(p, 0, sizeof *p);
    *reason = NULL;
    size_t len;
    const char *h = http_header(r, "authorization", &len);
    if (h) {
        if (len > 7 && !strncasecmp(h, "Bearer ", 7))
            return identify_jwt(h + 7, len - 7, p, reason);
        *reason = "unsupported authorization scheme";
        return STRATA_EINVAL;
    }
    h = http_header(r, "x-api-key", &len);
    if (h)
        return identify_key(h, len, p, reason);
    if (r->route && (r->route->flags & ROUTE_STREAM)) {
        /* browsers: ?access_token= (EventSource) or the bearer.<token> subprotocol (WebSocket) */
        const char *t = qs_get(&r->qs, "access_token");
        if (t)
            return identify_jwt(t, strlen(t), p, reason);
        h = http_header(r, "sec-websocket-protocol", &len);
        for (size_t i = 0; h && i < len;) {
            while (i < len && (h[i] == ' ' || h[i] == ','))
                i++;
            size_t j = i;
            while (j < len && h[j] != ',' && h[j] != ' ')
                j++;
            if (j - i > 7 && !memcmp(h + i, "bearer.", 7))
                return identify_jwt(h + i + 7, j - i - 7, p, reason);
            i = j;
        }
    }
    return 0;
}

int auth_issue_access_token(const struct auth_principal *p, int64_t *expires_in, struct buf *out)
{
    int64_t now = (int64_t)time(NULL);
    int64_t ttl = access_ttl_ms / 1000;
    unsigned char rnd[16];
    char jti[33];
    randombytes_buf(rnd, sizeof rnd);
    hex(rnd, sizeof rnd, jti);
    json_t *c = json_object();
    json_object_set_new(c, "iss", json_string(jwt_issuer));
    json_object_set_new(c, "sub", json_string(p->name));
    json_object_set_new(c, "aud", json_string(jwt_audience));
    json_object_set_new(c, "iat", json_integer(now));
    json_object_set_new(c, "nbf", json_integer(now));
    json_object_set_new(c, "exp", json_integer(now + ttl));
    json_object_set_new(c, "jti", json_string(jti));
    json_object_set_new(c, "role", json_string(p->role));
    json_object_set_new(c, "scope", json_string(p->scope));
    json_object_set_new(c, "gty", json_string(p->grant[0] ? p->grant : "password"));
    int rc = jwt_sign(signing_key, jwt_key_alg(signing_key) == JWT_HS256 ? NULL : "strata-1", c, out);
    json_decref(c);
    *expires_in = ttl;
    return rc;
}

int64_t auth_refresh_ttl_seconds(void)
{
    return refresh_ttl_ms / 1000;
}

void auth_jwks(struct buf *out)
{
    json_t *doc = json_object(), *keys = json_array();
    json_t *k = signing_key ? jwt_key_jwk(signing_key, "strata-1") : NULL;
    if (k)
        json_array_append_new(keys, k);
    json_object_set_new(doc, "keys", keys);
    char *text = json_dumps(doc, JSON_COMPACT);
    buf_puts(out, text);
    free(text);
    json_decref(doc);
}
