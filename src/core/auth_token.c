#include "core/auth_token.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <sodium.h>

#include "core/auth.h"
#include "core/http.h"
#include "core/jsonw.h"
#include "core/jwt.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/password.h"
#include "core/ratelimit.h"
#include "core/server.h"
#include "core/workpool.h"

extern int64_t auth_rate_per_minute, auth_user_rate_per_minute;

static struct ratelimit *per_addr, *per_user;
static pthread_once_t limits_once = PTHREAD_ONCE_INIT;

static void limits_init(void)
{
    per_addr = ratelimit_new((unsigned)auth_rate_per_minute, (unsigned)auth_rate_per_minute, 65536);
    per_user = ratelimit_new((unsigned)auth_user_rate_per_minute, (unsigned)auth_user_rate_per_minute, 65536);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- RFC 6749 §5.2 replies ----------------------------------------------------------------- */

static void oauth_error(struct http_req *r, int status, const char *error, const char *description)
{
    struct buf b;
    struct jsonw w;
    buf_init(&b);
    jsonw_init(&w, &b);
    jsonw_obj_begin(&w);
    jsonw_kv_str(&w, "error", error);
    if (description)
        jsonw_kv_str(&w, "error_description", description);
    jsonw_obj_end(&w);
    http_add_header(r, "Cache-Control", "no-store");
    http_add_header(r, "Pragma", "no-cache");
    if (status == 401)
        http_add_header(r, "WWW-Authenticate", "Basic realm=\"strata\"");
    http_reply_json(r, status, &b);
}

static void token_reply(struct http_req *r, const struct auth_principal *p, const char *refresh)
{
    struct buf tok;
    buf_init(&tok);
    int64_t expires_in;
    if (auth_issue_access_token(p, &expires_in, &tok) < 0) {
        buf_cleanup(&tok);
        http_reply_problem(r, 500, "could not sign the token");
        return;
    }
    struct buf b;
    struct jsonw w;
    buf_init(&b);
    jsonw_init(&w, &b);
    jsonw_obj_begin(&w);
    jsonw_kv_str(&w, "access_token", tok.data);
    jsonw_kv_str(&w, "token_type", "bearer");
    jsonw_kv_int(&w, "expires_in", expires_in);
    if (refresh)
        jsonw_kv_str(&w, "refresh_token", refresh);
    jsonw_kv_str(&w, "scope", p->scope);
    jsonw_obj_end(&w);
    buf_cleanup(&tok);
    http_add_header(r, "Cache-Control", "no-store");
    http_add_header(r, "Pragma", "no-cache");
    http_reply_json(r, 200, &b);
}

/* ---- request state ------------------------------------------------------------------------- */

struct token_req {
    struct workpool_job job;
    struct http_req *r;
    struct qs form;
    char client_id[80];
    char client_role[40];
    bool confidential;
    char username[80];
    char password[260];
    char hash[PASSWORD_HASH_MAX];
    bool password_ok;
    int64_t user_id;
    char user_role[40];
    bool disabled;
    char scope[1024];
    char refresh[64];
};

static void token_req_free(void *p)
{
    struct token_req *t = p;
    qs_cleanup(&t->form);
    sodium_memzero(t->password, sizeof t->password);
    free(t);
}

/* ---- helpers ------------------------------------------------------------------------------- */

static const char *form_get(struct token_req *t, const char *key)
{
    return qs_get(&t->form, key);
}

/* Scope: requested names must all be permissions the grant allows; default is all of them. */
static bool resolve_scope(const char *requested, const char *allowed, char *out, size_t outlen)
{
    if (!requested || !*requested) {
        snprintf(out, outlen, "%s", allowed);
        return true;
    }
    struct buf b;
    buf_init(&b);
    const char *p = requested;
    bool ok = true;
    while (*p && ok) {
        while (*p == ' ')
            p++;
        const char *e = p;
        while (*e && *e != ' ')
            e++;
        if (e > p) {
            char word[128];
            size_t n = (size_t)(e - p);
            if (n >= sizeof word) {
                ok = false;
                break;
            }
            memcpy(word, p, n);
            word[n] = '\0';
            /* whole-word membership in allowed */
            bool found = false;
            for (const char *a = allowed; (a = strstr(a, word)); a += n)
                if ((a == allowed || a[-1] == ' ') && (a[n] == '\0' || a[n] == ' '))
                    found = true;
            if (!found)
                ok = false;
            else if (!strstr(b.data ? b.data : "", word))
                buf_printf(&b, "%s%s", b.len ? " " : "", word);
        }
        p = e;
    }
    if (ok)
        snprintf(out, outlen, "%s", b.data ? b.data : "");
    buf_cleanup(&b);
    return ok && out[0];
}

/* Client authentication: HTTP Basic (RFC 6749 §2.3.1, both parts form-urlencoded) or
 * client_id/client_secret in the body; never both. Replies and returns false on failure. */
static bool authenticate_client(struct http_req *r, struct token_req *t)
{
    size_t len;
    const char *h = http_header(r, "authorization", &len);
    const char *secret = NULL;
    char basic_id[160], basic_secret[160];
    if (h) {
        if (len < 6 || strncasecmp(h, "Basic ", 6)) {
            oauth_error(r, 401, "invalid_client", "unsupported client authentication");
            return false;
        }
        unsigned char raw[400];
        char b64[520];
        size_t bl = len - 6;
        if (bl >= sizeof b64) {
            oauth_error(r, 401, "invalid_client", "malformed Basic credentials");
            return false;
        }
        /* standard base64 -> base64url for the strict decoder, padding removed */
        for (size_t i = 0; i < bl; i++)
            b64[i] = h[6 + i] == '+' ? '-' : h[6 + i] == '/' ? '_' : h[6 + i];
        while (bl && b64[bl - 1] == '=')
            bl--;
        long n = jwt_b64url_decode(raw, b64, bl);
        char *colon = n > 0 ? memchr(raw, ':', (size_t)n) : NULL;
        if (!colon || form_get(t, "client_secret")) {
            oauth_error(r, n > 0 && colon ? 400 : 401, n > 0 && colon ? "invalid_request" : "invalid_client",
                        n > 0 && colon ? "client credentials given twice" : "malformed Basic credentials");
            return false;
        }
        size_t il = (size_t)(colon - (char *)raw), sl = (size_t)n - il - 1;
        if (il >= sizeof basic_id || sl >= sizeof basic_secret) {
            oauth_error(r, 401, "invalid_client", "malformed Basic credentials");
            return false;
        }
        long a = qs_decode(basic_id, (const char *)raw, il, 1);
        long b = qs_decode(basic_secret, colon + 1, sl, 1);
        if (a < 0 || b < 0) {
            oauth_error(r, 401, "invalid_client", "malformed Basic credentials");
            return false;
        }
        const char *body_id = form_get(t, "client_id");
        if (body_id && strcmp(body_id, basic_id)) {
            oauth_error(r, 400, "invalid_request", "client_id differs from the Basic credentials");
            return false;
        }
        if (strlen(basic_id) >= sizeof t->client_id) {
            oauth_error(r, 401, "invalid_client", "client authentication failed");
            return false;
        }
        memcpy(t->client_id, basic_id, strlen(basic_id) + 1);
        secret = basic_secret;
    } else {
        const char *id = form_get(t, "client_id");
        if (!id || !*id) {
            oauth_error(r, 400, "invalid_request", "client_id is required");
            return false;
        }
        snprintf(t->client_id, sizeof t->client_id, "%s", id);
        secret = form_get(t, "client_secret");
    }
    bool ok_secret = false;
    if (!auth_client_check(t->client_id, secret, &t->confidential, &ok_secret, t->client_role) ||
        (t->confidential && !ok_secret) || (!t->confidential && secret && *secret)) {
        oauth_error(r, 401, "invalid_client", "client authentication failed");
        return false;
    }
    return true;
}

static bool rate_limited(struct http_req *r, int64_t wait_ms);

/* One attempt per request against the client address's bucket (every grant, revoke). */
static bool rate_ok(struct http_req *r)
{
    pthread_once(&limits_once, limits_init);
    int64_t wait_ms = 0;
    char key[128];
    snprintf(key, sizeof key, "a:%s", r->client_addr);
    return ratelimit_take(per_addr, key, now_ms(), &wait_ms) || rate_limited(r, wait_ms);
}

/* Password attempts also count against the username's bucket. */
static bool rate_ok_user(struct http_req *r, const char *username)
{
    pthread_once(&limits_once, limits_init);
    int64_t wait_ms = 0;
    char key[128];
    snprintf(key, sizeof key, "u:%s", username);
    return ratelimit_take(per_user, key, now_ms(), &wait_ms) || rate_limited(r, wait_ms);
}

/* Answers 429 + Retry-After; returns false so callers can write `take || rate_limited`. */
static bool rate_limited(struct http_req *r, int64_t wait_ms)
{
    char ra[32];
    snprintf(ra, sizeof ra, "%lld", (long long)((wait_ms + 999) / 1000));
    http_add_header(r, "Retry-After", ra);
    log_msg(LOG_WARN, r->request_id, "token endpoint rate limit", "client=%s", r->client_addr);
    oauth_error(r, 429, "invalid_request", "too many attempts; retry later");
    return false;
}

/* ---- password grant ------------------------------------------------------------------------ */

static const struct db_stmt stmt_user = {
    .name = "auth_user_by_name",
    .sql = "SELECT id, password_hash, role, disabled FROM users WHERE username = $1",
    .nparams = 1,
};

static const struct db_stmt stmt_refresh_insert = {
    .name = "auth_refresh_insert",
    .sql = "INSERT INTO refresh_tokens (token_hash, family, user_id, client_id, scope, expires_at) "
           "VALUES (decode($1, 'hex'), gen_random_uuid(), $2, $3, $4, now() + make_interval(secs => $5::float8))",
    .nparams = 5,
    .flags = DB_WRITE,
};

static void on_refresh_stored(struct http_req *r, const struct db_result *res)
{
    struct token_req *t = r->app;
    if (res->err) {
        http_reply_db_error(r, res);
        return;
    }
    struct auth_principal p = {.kind = AUTH_USER, .user_id = t->user_id};
    snprintf(p.name, sizeof p.name, "%s", t->username);
    snprintf(p.role, sizeof p.role, "%s", t->user_role);
    snprintf(p.scope, sizeof p.scope, "%s", t->scope);
    snprintf(p.grant, sizeof p.grant, "%s", form_get(t, "grant_type"));
    token_reply(r, &p, t->refresh);
}

static void issue_user_tokens(struct http_req *r, struct token_req *t)
{
    char hash[65], uid[24], ttl[24];
    auth_random_token(t->refresh);
    auth_token_hash(t->refresh, hash);
    snprintf(uid, sizeof uid, "%lld", (long long)t->user_id);
    snprintf(ttl, sizeof ttl, "%lld", (long long)auth_refresh_ttl_seconds());
    const char *vals[] = {hash, uid, t->client_id, t->scope, ttl};
    (void)http_db_query(r, &stmt_refresh_insert, vals, on_refresh_stored);
}

static void verify_work(struct workpool_job *job)
{
    struct token_req *t = (struct token_req *)job;
    t->password_ok = password_verify(t->hash[0] ? t->hash : password_dummy_hash(), t->password) && t->hash[0];
}

static void verify_done(struct workpool_job *job)
{
    struct token_req *t = (struct token_req *)job;
    struct http_req *r = t->r;
    sodium_memzero(t->password, sizeof t->password);
    if (r->req) {
        if (!t->password_ok || t->disabled) {
            log_msg(LOG_INFO, r->request_id, "login failed", "user=%s client=%s", t->username, r->client_addr);
            oauth_error(r, 400, "invalid_grant", "invalid username or password");
        } else {
            char allowed[1024] = "";
            struct buf b;
            buf_init(&b);
            auth_role_permissions(t->user_role, &b);
            snprintf(allowed, sizeof allowed, "%s", b.data ? b.data : "");
            buf_cleanup(&b);
            if (!resolve_scope(form_get(t, "scope"), allowed, t->scope, sizeof t->scope))
                oauth_error(r, 400, "invalid_scope", "the requested scope exceeds the user's permissions");
            else
                issue_user_tokens(r, t);
        }
    }
    http_release(r);
}

static void on_user(struct http_req *r, const struct db_result *res)
{
    struct token_req *t = r->app;
    if (res->err) {
        http_reply_db_error(r, res);
        return;
    }
    t->hash[0] = '\0';
    if (PQntuples(res->res) == 1) {
        t->user_id = atoll(PQgetvalue(res->res, 0, 0));
        snprintf(t->hash, sizeof t->hash, "%s", PQgetvalue(res->res, 0, 1));
        snprintf(t->user_role, sizeof t->user_role, "%s", PQgetvalue(res->res, 0, 2));
        t->disabled = PQgetvalue(res->res, 0, 3)[0] == 't';
    }
    /* Argon2id runs off the loop, for unknown users too (against a dummy hash), so timing
     * does not tell which usernames exist */
    t->job.work = verify_work;
    t->job.done = verify_done;
    t->job.reply_to = &r->loop->work_rx;
    http_hold(r);
    if (workpool_submit(&t->job) < 0) {
        http_release(r);
        http_add_header(r, "Retry-After", "1");
        http_reply_problem(r, 503, "too many logins in progress; retry shortly");
    }
}

static void grant_password(struct http_req *r, struct token_req *t)
{
    const char *u = form_get(t, "username"), *pw = form_get(t, "password");
    if (!u || !*u || !pw || !*pw) {
        oauth_error(r, 400, "invalid_request", "username and password are required");
        return;
    }
    if (strlen(u) >= sizeof t->username || strlen(pw) >= sizeof t->password) {
        oauth_error(r, 400, "invalid_grant", "invalid username or password");
        return;
    }
    if (!rate_ok_user(r, u))
        return;
    snprintf(t->username, sizeof t->username, "%s", u);
    snprintf(t->password, sizeof t->password, "%s", pw);
    const char *vals[] = {t->username};
    (void)http_db_query(r, &stmt_user, vals, on_user);
}

/* ---- client credentials -------------------------------------------------------------------- */

static void grant_client(struct http_req *r, struct token_req *t)
{
    if (!t->confidential) {
        oauth_error(r, 400, "unauthorized_client", "public clients cannot use client_credentials");
        return;
    }
    struct buf b;
    buf_init(&b);
    auth_role_permissions(t->client_role, &b);
    struct auth_principal p = {.kind = AUTH_CLIENT};
    snprintf(p.name, sizeof p.name, "%s", t->client_id);
    snprintf(p.role, sizeof p.role, "%s", t->client_role);
    snprintf(p.grant, sizeof p.grant, "client_credentials");
    bool ok = resolve_scope(form_get(t, "scope"), b.data ? b.data : "", p.scope, sizeof p.scope);
    buf_cleanup(&b);
    if (!ok) {
        oauth_error(r, 400, "invalid_scope", "the requested scope exceeds the client's permissions");
        return;
    }
    token_reply(r, &p, NULL); /* no refresh token: RFC 6749 §4.4.3 */
}

/* ---- refresh token: rotate in one statement; reuse revokes the family ----------------------- */

static const struct db_stmt stmt_rotate = {
    .name = "auth_refresh_rotate",
    .sql = "WITH old AS ("
           "  UPDATE refresh_tokens SET used_at = now()"
           "  WHERE token_hash = decode($1, 'hex') AND client_id = $3 AND used_at IS NULL AND revoked_at IS NULL"
           "    AND expires_at > now()"
           "    AND ($5::text IS NULL OR string_to_array($5, ' ') <@ string_to_array(scope, ' '))"
           "  RETURNING family, user_id, client_id, scope),"
           " ins AS ("
           "  INSERT INTO refresh_tokens (token_hash, family, user_id, client_id, scope, expires_at)"
           "  SELECT decode($2, 'hex'), family, user_id, client_id, scope, now() + make_interval(secs => $4::float8)"
           "  FROM old RETURNING user_id, scope)"
           " SELECT u.id, u.username, u.role, u.disabled, ins.scope FROM ins JOIN users u ON u.id = ins.user_id",
    .nparams = 5,
    .flags = DB_WRITE,
};

static const struct db_stmt stmt_reuse = {
    .name = "auth_refresh_reuse",
    .sql = "WITH fam AS ("
           "  SELECT family, user_id FROM refresh_tokens"
           "  WHERE token_hash = decode($1, 'hex') AND (used_at IS NOT NULL OR revoked_at IS NOT NULL)),"
           " rev AS ("
           "  UPDATE refresh_tokens SET revoked_at = now()"
           "  WHERE family IN (SELECT family FROM fam) AND revoked_at IS NULL RETURNING 1),"
           " aud AS ("  /* once, when this reuse is what revokes the family */
           "  INSERT INTO audit_log (actor, action, target, request_id, outcome, detail)"
           "  SELECT 'system', 'token.family_revoked', 'user:' || u.username, $2, 'success',"
           "         jsonb_build_object('family', fam.family, 'reason', 'refresh token reuse', 'client', $3::text)"
           "  FROM fam JOIN users u ON u.id = fam.user_id WHERE EXISTS (SELECT 1 FROM rev) RETURNING 1)"
           " SELECT (SELECT count(*) FROM fam), (SELECT count(*) FROM rev), (SELECT count(*) FROM aud),"
           "  (SELECT count(*) FROM refresh_tokens WHERE token_hash = decode($1, 'hex') AND client_id = $3"
           "     AND used_at IS NULL AND revoked_at IS NULL AND expires_at > now())",
    .nparams = 3,
    .flags = DB_WRITE,
};

static void on_reuse(struct http_req *r, const struct db_result *res)
{
    if (res->err) {
        http_reply_db_error(r, res);
        return;
    }
    if (atoll(PQgetvalue(res->res, 0, 3)) > 0) {
        /* the token is fine; the rotation refused the scope it asked for */
        oauth_error(r, 400, "invalid_scope", "the requested scope exceeds the original grant");
        return;
    }
    if (atoll(PQgetvalue(res->res, 0, 1)) > 0)
        log_msg(LOG_WARN, r->request_id, "refresh token reuse: family revoked", "client=%s", r->client_addr);
    oauth_error(r, 400, "invalid_grant", "the refresh token is invalid, expired or revoked");
}

static void on_rotate(struct http_req *r, const struct db_result *res)
{
    struct token_req *t = r->app;
    if (res->err) {
        http_reply_db_error(r, res);
        return;
    }
    if (PQntuples(res->res) != 1) {
        char hash[65];
        auth_token_hash(form_get(t, "refresh_token"), hash);
        const char *vals[] = {hash, r->request_id, t->client_id};
        (void)http_db_query(r, &stmt_reuse, vals, on_reuse);
        return;
    }
    t->user_id = atoll(PQgetvalue(res->res, 0, 0));
    snprintf(t->username, sizeof t->username, "%s", PQgetvalue(res->res, 0, 1));
    snprintf(t->user_role, sizeof t->user_role, "%s", PQgetvalue(res->res, 0, 2));
    if (PQgetvalue(res->res, 0, 3)[0] == 't') {
        oauth_error(r, 400, "invalid_grant", "the user is disabled");
        return;
    }
    /* the new token keeps the family's scope, narrowed by the role's current permissions */
    struct buf b;
    buf_init(&b);
    auth_role_permissions(t->user_role, &b);
    const char *family_scope = PQgetvalue(res->res, 0, 4);
    char narrowed[1024];
    bool ok = resolve_scope(form_get(t, "scope") ? form_get(t, "scope") : family_scope, family_scope, narrowed,
                            sizeof narrowed) &&
              resolve_scope(narrowed, b.data ? b.data : "", t->scope, sizeof t->scope);
    buf_cleanup(&b);
    if (!ok) {
        oauth_error(r, 400, "invalid_scope", "the requested scope exceeds the original grant");
        return;
    }
    struct auth_principal p = {.kind = AUTH_USER, .user_id = t->user_id};
    snprintf(p.name, sizeof p.name, "%s", t->username);
    snprintf(p.role, sizeof p.role, "%s", t->user_role);
    snprintf(p.scope, sizeof p.scope, "%s", t->scope);
    snprintf(p.grant, sizeof p.grant, "refresh_token");
    token_reply(r, &p, t->refresh);
}

static void grant_refresh(struct http_req *r, struct token_req *t)
{
    const char *rt = form_get(t, "refresh_token");
    if (!rt || !*rt) {
        oauth_error(r, 400, "invalid_request", "refresh_token is required");
        return;
    }
    char old_hash[65], new_hash[65], ttl[24];
    auth_token_hash(rt, old_hash);
    auth_random_token(t->refresh);
    auth_token_hash(t->refresh, new_hash);
    snprintf(ttl, sizeof ttl, "%lld", (long long)auth_refresh_ttl_seconds());
    const char *scope = form_get(t, "scope");
    const char *vals[] = {old_hash, new_hash, t->client_id, ttl, scope && *scope ? scope : NULL};
    (void)http_db_query(r, &stmt_rotate, vals, on_rotate);
}

/* ---- handlers ------------------------------------------------------------------------------ */

static struct token_req *parse_form(struct http_req *r)
{
    struct token_req *t = xcalloc(1, sizeof *t);
    t->r = r;
    r->app = t;
    r->app_free = token_req_free;
    const char *body = r->req->entity.base;
    size_t len = r->req->entity.len;
    if (qs_parse(&t->form, body ? body : "", body ? len : 0, NULL) < 0) {
        oauth_error(r, 400, "invalid_request", "malformed form body");
        return NULL;
    }
    for (size_t i = 0; i < t->form.n; i++) {
        if (qs_count(&t->form, t->form.pairs[i].key) > 1) {
            oauth_error(r, 400, "invalid_request", "a parameter is given more than once");
            return NULL;
        }
    }
    return t;
}

static void token_handler(struct http_req *r)
{
    struct token_req *t = parse_form(r);
    if (!t)
        return;
    const char *gt = form_get(t, "grant_type");
    if (!gt || !*gt) {
        oauth_error(r, 400, "invalid_request", "grant_type is required");
        return;
    }
    bool known = !strcmp(gt, "password") || !strcmp(gt, "client_credentials") || !strcmp(gt, "refresh_token");
    if (!known) {
        oauth_error(r, 400, "unsupported_grant_type", "supported: password, client_credentials, refresh_token");
        return;
    }
    if (!rate_ok(r) || !authenticate_client(r, t))
        return;
    if (!strcmp(gt, "password"))
        grant_password(r, t);
    else if (!strcmp(gt, "client_credentials"))
        grant_client(r, t);
    else
        grant_refresh(r, t);
}

static const struct db_stmt stmt_revoke = {
    .name = "auth_refresh_revoke",
    .sql = "UPDATE refresh_tokens SET revoked_at = coalesce(revoked_at, now())"
           " WHERE token_hash = decode($1, 'hex') AND client_id = $2",
    .nparams = 2,
    .flags = DB_WRITE,
};

static void on_revoked(struct http_req *r, const struct db_result *res)
{
    if (res->err) {
        http_reply_db_error(r, res);
        return;
    }
    http_add_header(r, "Cache-Control", "no-store");
    http_reply(r, 200, "application/json", "{}", 2);
}

static void revoke_handler(struct http_req *r)
{
    struct token_req *t = parse_form(r);
    if (!t)
        return;
    const char *tok = form_get(t, "token");
    if (!tok || !*tok) {
        oauth_error(r, 400, "invalid_request", "token is required");
        return;
    }
    if (!rate_ok(r) || !authenticate_client(r, t))
        return;
    /* access tokens are short-lived JWTs and are not tracked; refresh tokens are revoked.
     * Unknown tokens answer 200 too (RFC 7009 §2.2). */
    char hash[65];
    auth_token_hash(tok, hash);
    const char *vals[] = {hash, t->client_id};
    (void)http_db_query(r, &stmt_revoke, vals, on_revoked);
}

static void jwks_handler(struct http_req *r)
{
    struct buf b;
    buf_init(&b);
    auth_jwks(&b);
    http_add_header(r, "Cache-Control", "public, max-age=300");
    http_reply_buf(r, 200, "application/jwk-set+json", &b);
}

static const char *const form_only[] = {"application/x-www-form-urlencoded", NULL};
static const int errs_token[] = {400, 401, 413, 415, 429, 503, 0};

const struct route auth_token_routes[] = {
    {.method = "POST", .path = "/api/v1/auth/token", .handler = token_handler, .body_limit = 8192,
     .content_types = form_only, .summary = "OAuth 2.0 token endpoint (password, client_credentials, refresh_token)",
     .tag = "auth", .errors = errs_token, .flags = ROUTE_OAUTH_ERRORS},
    {.method = "POST", .path = "/api/v1/auth/revoke", .handler = revoke_handler, .body_limit = 8192,
     .content_types = form_only, .summary = "Revoke a refresh token (RFC 7009)", .tag = "auth", .errors = errs_token,
     .flags = ROUTE_OAUTH_ERRORS},
    {.method = "GET", .path = "/.well-known/jwks.json", .handler = jwks_handler,
     .summary = "Public keys that verify access tokens (empty for HS256)", .tag = "auth",
     .response_type = "application/jwk-set+json", .flags = ROUTE_INTERNAL},
    {.method = NULL},
};
