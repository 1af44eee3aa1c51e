#include "core/auth_admin.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "core/auth.h"
#include "core/http.h"
#include "core/jsonw.h"
#include "core/jwt.h"
#include "core/mem.h"
#include "core/password.h"
#include "core/server.h"
#include "core/timefmt.h"
#include "core/workpool.h"

/* A timestamptz column as int8 microseconds since the epoch (exact: extract gives numeric). */
#define EPOCH_US(col) "(extract(epoch FROM " col ") * 1000000)::int8"

/* ---- small helpers ------------------------------------------------------------------------- */

bool auth_admin_username_valid(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > 64)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        bool alnum = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (!alnum && (i == 0 || !strchr("._@-", c)))
            return false;
    }
    return true;
}

void auth_admin_apikey_new(char prefix[AUTH_APIKEY_PREFIX_LEN + 1], char key[AUTH_APIKEY_MAX])
{
    unsigned char raw[AUTH_APIKEY_PREFIX_LEN / 2];
    if (sodium_init() < 0) /* idempotent and thread-safe; the CLI may get here first */
        abort();
    randombytes_buf(raw, sizeof raw);
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < sizeof raw; i++) {
        prefix[2 * i] = hex[raw[i] >> 4];
        prefix[2 * i + 1] = hex[raw[i] & 15];
    }
    prefix[AUTH_APIKEY_PREFIX_LEN] = '\0';
    char secret[64];
    auth_random_token(secret);
    snprintf(key, AUTH_APIKEY_MAX, "stk_%s_%s", prefix, secret);
    sodium_memzero(secret, sizeof secret);
}

static int64_t col_int(const PGresult *res, int row, int col)
{
    return strtoll(PQgetvalue(res, row, col), NULL, 10);
}

static bool col_bool(const PGresult *res, int row, int col)
{
    return PQgetvalue(res, row, col)[0] == 't';
}

static void kv_time(struct jsonw *w, const char *key, const PGresult *res, int row, int col)
{
    jsonw_key(w, key);
    if (PQgetisnull(res, row, col))
        jsonw_null(w);
    else
        jsonw_time(w, col_int(res, row, col));
}

static void kv_text(struct jsonw *w, const char *key, const PGresult *res, int row, int col)
{
    jsonw_kv_str(w, key, PQgetisnull(res, row, col) ? NULL : PQgetvalue(res, row, col));
}

static void reply_busy(struct http_req *r)
{
    http_add_header(r, "Retry-After", "1");
    http_reply_problem(r, 503, "the server is busy hashing passwords; retry shortly");
}

static void reply_created(struct http_req *r, const char *collection, int64_t id, struct buf *b)
{
    char loc[96];
    snprintf(loc, sizeof loc, "/api/v1/%s/%" PRId64, collection, id);
    http_add_header(r, "Location", loc);
    http_reply_json(r, 201, b);
}

/* Body fields. r->body is set only for application/json; anything but an object is a 422. */
static json_t *body_object(struct http_req *r, struct params_errors *errs)
{
    if (!r->body || !json_is_object(r->body)) {
        params_error_add(errs, "body", "must be a JSON object");
        return NULL;
    }
    return r->body;
}

static void reject_unknown_fields(json_t *obj, const char *const *known, struct params_errors *errs)
{
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v) {
        bool ok = false;
        for (size_t i = 0; known[i] && !ok; i++)
            ok = !strcmp(k, known[i]);
        if (!ok)
            params_error_add(errs, k, "unknown field");
    }
}

/* A string field: NULL when absent (and required adds an error) or of the wrong type. */
static const char *str_field(json_t *obj, const char *name, bool required, struct params_errors *errs)
{
    json_t *v = json_object_get(obj, name);
    if (!v || json_is_null(v)) {
        if (required)
            params_error_add(errs, name, "is required");
        return NULL;
    }
    if (!json_is_string(v)) {
        params_error_add(errs, name, "must be a string");
        return NULL;
    }
    return json_string_value(v);
}

static void check_role(const char *role, struct params_errors *errs)
{
    if (role && !auth_role_exists(role))
        params_error_add(errs, "role", "unknown role (GET /api/v1/roles lists them)");
}

static bool reply_field_errors(struct http_req *r, const struct params_errors *errs)
{
    if (errs->n == 0)
        return false;
    http_reply_problem_fields(r, 422, "the request body is invalid", errs->items, errs->n);
    return true;
}

/* ---- keyset cursors ------------------------------------------------------------------------ */

/* Cursor text before encoding: "<kind>:<n1>[:<n2>].<16 hex of HMAC>". The kind keeps one
 * list's cursor out of another; the MAC turns any edit into a 400. */
#define CURSOR_MAC_HEX 16

static void cursor_mac(const char *payload, char mac[CURSOR_MAC_HEX + 1])
{
    char msg[192], h[65];
    snprintf(msg, sizeof msg, "strata-cursor:%s", payload);
    auth_keyed_hash(msg, h);
    memcpy(mac, h, CURSOR_MAC_HEX);
    mac[CURSOR_MAC_HEX] = '\0';
}

static void cursor_encode(struct buf *out, const char *kind, int64_t a, int64_t b, bool two)
{
    char payload[96], mac[CURSOR_MAC_HEX + 1], text[128];
    if (two)
        snprintf(payload, sizeof payload, "%s:%" PRId64 ":%" PRId64, kind, a, b);
    else
        snprintf(payload, sizeof payload, "%s:%" PRId64, kind, a);
    cursor_mac(payload, mac);
    int n = snprintf(text, sizeof text, "%s.%s", payload, mac);
    jwt_b64url_encode(out, (const unsigned char *)text, (size_t)n);
}

static bool parse_i64(const char *s, const char *end, int64_t *out)
{
    if (s == end || end - s > 19 || (*s == '0' && end - s > 1))
        return false;
    int64_t v = 0;
    for (const char *p = s; p < end; p++) {
        if (*p < '0' || *p > '9' || v > (INT64_MAX - (*p - '0')) / 10)
            return false;
        v = v * 10 + (*p - '0');
    }
    *out = v;
    return true;
}

/* Reads the route's "cursor" parameter. false: a 400 naming the field was sent. *given says
 * whether there was one. */
static bool cursor_read(struct http_req *r, const char *kind, bool two, int64_t *a, int64_t *b, bool *given)
{
    const struct param_value *pv = http_param(r, "cursor");
    *given = false;
    if (!pv || !pv->present)
        return true;
    const char *s = pv->s;
    size_t len = strlen(s);
    unsigned char raw[160];
    long n = len <= 200 ? jwt_b64url_decode(raw, s, len) : -1;
    bool ok = n > CURSOR_MAC_HEX + 2;
    char text[160];
    if (ok) {
        memcpy(text, raw, (size_t)n);
        text[n] = '\0';
        ok = strlen(text) == (size_t)n; /* no NUL inside */
    }
    char *dot = ok ? strrchr(text, '.') : NULL;
    ok = dot && strlen(dot + 1) == CURSOR_MAC_HEX;
    if (ok) {
        *dot = '\0';
        char mac[CURSOR_MAC_HEX + 1];
        cursor_mac(text, mac);
        ok = auth_secret_equal(mac, dot + 1);
    }
    size_t klen = strlen(kind);
    ok = ok && !strncmp(text, kind, klen) && text[klen] == ':';
    if (ok) {
        const char *p = text + klen + 1, *end = dot;
        const char *colon = two ? memchr(p, ':', (size_t)(end - p)) : NULL;
        ok = two ? colon && parse_i64(p, colon, a) && parse_i64(colon + 1, end, b) : parse_i64(p, end, a);
    }
    if (!ok) {
        struct problem_field f = {"cursor", "not a cursor this list gave out (use next_cursor as it is)"};
        http_reply_problem_fields(r, 400, "invalid query parameters", &f, 1);
        return false;
    }
    *given = true;
    return true;
}

/* Ends a page: "next_cursor" (null on the last page) and the Link header that repeats the
 * query with the new cursor. */
static void page_end(struct http_req *r, struct jsonw *w, const char *cursor)
{
    jsonw_key(w, "next_cursor");
    if (!cursor) {
        jsonw_null(w);
        return;
    }
    jsonw_str(w, cursor);
    struct buf link;
    buf_init(&link);
    buf_printf(&link, "<%s?", r->route->path);
    for (size_t i = 0; r->route->query[i].name; i++) {
        const char *name = r->route->query[i].name;
        if (!strcmp(name, "cursor") || !r->params[i].present || !r->params[i].s)
            continue;
        buf_printf(&link, "%s=", name);
        qs_escape(&link, r->params[i].s, NULL);
        buf_putc(&link, '&');
    }
    buf_puts(&link, "cursor=");
    qs_escape(&link, cursor, NULL);
    buf_puts(&link, ">; rel=\"next\"");
    http_add_header(r, "Link", link.data);
    buf_cleanup(&link);
}

#define PAGE_PARAMS                                                                                          \
    {.name = "limit", .type = PARAM_INT, .flags = PARAM_BOUNDED, .imin = 1, .imax = 1000, .def = "50",        \
     .help = "rows per page"},                                                                                \
    {                                                                                                         \
        .name = "cursor", .type = PARAM_STRING, .max_len = 200,                                               \
        .help = "next_cursor of the previous page (opaque)"                                                   \
    }

static const struct param_spec page_params[] = {PAGE_PARAMS, {.name = NULL}};

static const struct param_spec id_path[] = {
    {.name = "id", .type = PARAM_INT, .flags = PARAM_REQUIRED | PARAM_BOUNDED, .imin = 1, .imax = INT64_MAX,
     .help = "numeric id"},
    {.name = NULL},
};

/* ---- users --------------------------------------------------------------------------------- */

#define USER_COLS                                                                                            \
    "id, username, role, disabled, " EPOCH_US("created_at") " AS created_us, " EPOCH_US("updated_at") " AS updated_us"

static void user_json(struct jsonw *w, const PGresult *res, int row)
{
    jsonw_obj_begin(w);
    jsonw_kv_int(w, "id", col_int(res, row, 0));
    kv_text(w, "username", res, row, 1);
    kv_text(w, "role", res, row, 2);
    jsonw_kv_bool(w, "disabled", col_bool(res, row, 3));
    kv_time(w, "created_at", res, row, 4);
    kv_time(w, "updated_at", res, row, 5);
    jsonw_obj_end(w);
}

static const struct db_stmt stmt_users_page = {
    .name = "auth_admin_users_page",
    .sql = "SELECT " USER_COLS " FROM users WHERE id > $1::int8 ORDER BY id LIMIT $2::int8",
    .nparams = 2,
    .cls = DB_FAST,
};

/* Renders a page of rows [0, min(n, limit)) with row_fn; a row beyond limit means there is
 * a next page, whose cursor is made from the last row shown. */
static void reply_page(struct http_req *r, const PGresult *res, void (*row_fn)(struct jsonw *, const PGresult *, int),
                       const char *kind, bool two, int id_col, int at_col)
{
    int64_t limit = r->params[0].i;
    int n = PQntuples(res);
    int shown = n > limit ? (int)limit : n;
    struct buf b, cur;
    struct jsonw w;
    buf_init(&b);
    buf_init(&cur);
    jsonw_init(&w, &b);
    jsonw_obj_begin(&w);
    jsonw_key(&w, "data");
    jsonw_arr_begin(&w);
    for (int i = 0; i < shown; i++)
        row_fn(&w, res, i);
    jsonw_arr_end(&w);
    if (n > limit && shown > 0) {
        if (two)
            cursor_encode(&cur, kind, col_int(res, shown - 1, at_col), col_int(res, shown - 1, id_col), true);
        else
            cursor_encode(&cur, kind, col_int(res, shown - 1, id_col), 0, false);
    }
    page_end(r, &w, cur.len ? cur.data : NULL);
    jsonw_obj_end(&w);
    buf_cleanup(&cur);
    http_reply_json(r, 200, &b);
}

static void on_users_page(struct http_req *r, const struct db_result *res)
{
    if (res->err) {
        http_reply_db_error(r, res);
        return;
    }
    reply_page(r, res->res, user_json, "u", false, 0, 0);
}

/* A page of an id-ordered list: after the cursor's id, limit + 1 rows (the extra one says
 * "there is more"). */
static void id_page(struct http_req *r, const char *kind, const struct db_stmt *st,
                    void (*cb)(struct http_req *r, const struct db_result *res))
{
    int64_t after = 0, unused;
    bool given;
    if (!cursor_read(r, kind, false, &after, &unused, &given))
        return;
    char a[24], lim[24];
    snprintf(a, sizeof a, "%" PRId64, after);
    snprintf(lim, sizeof lim, "%" PRId64, r->params[0].i + 1);
    const char *vals[] = {a, lim};
    (void)http_db_query(r, st, vals, cb);
}

static void users_list(struct http_req *r)
{
    id_page(r, "u", &stmt_users_page, on_users_page);
}

static const struct db_stmt stmt_user_get = {
    .name = "auth_admin_user_get",
    .sql = "SELECT " USER_COLS " FROM users WHERE id = $1::int8",
    .nparams = 1,
    .cls = DB_FAST,
};

/* One row as the reply: 200, or 201 + Location under collection when collection is given. */
static void reply_one(struct http_req *r, const PGresult *res, void (*row_fn)(struct jsonw *, const PGresult *, int),
                      const char *collection)
{
    struct buf b;
    struct jsonw w;
    buf_init(&b);
    jsonw_init(&w, &b);
    row_fn(&w, res, 0);
    if (collection)
        reply_created(r, collection, col_int(res, 0, 0), &b);
    else
        http_reply_json(r, 200, &b);
}

static void on_user_get(struct http_req *r, const struct db_result *res)
{
    if (res->err) {
        http_reply_db_error(r, res);
        return;
    }
    if (PQntuples(res->res) == 0) {
        http_reply_problem(r, 404, "no such user");
        return;
    }
    reply_one(r, res->res, user_json, NULL);
}

static void user_get(struct http_req *r)
{
    const char *vals[] = {http_path_param(r, "id")};
    (void)http_db_query(r, &stmt_user_get, vals, on_user_get);
}

/* State of a user change that needs a password hash: the hash runs on the workpool. */
struct user_change {
    struct workpool_job job; /* first: the job is the state */
    struct http_req *r;
    char id[24];
    char username[80];
    const char *role;     /* points into r->body */
    int disabled;         /* -1: not given */
    char *password;       /* owned; wiped once hashed */
    char hash[PASSWORD_HASH_MAX];
    int hash_rc;
    void (*next)(struct http_req *r); /* what runs on the loop once hashed */
};

static void user_change_free(void *p)
{
    struct user_change *c = p;
    if (c->password) {
        sodium_memzero(c->password, strlen(c->password));
        free(c->password);
    }
    sodium_memzero(c->hash, sizeof c->hash);
    free(c);
}

static struct user_change *user_change_new(struct http_req *r)
{
    struct user_change *c = xcalloc(1, sizeof *c);
    c->r = r;
    c->disabled = -1;
    r->app = c;
    r->app_free = user_change_free;
    return c;
}

static void hash_work(struct workpool_job *job)
{
    struct user_change *c = (struct user_change *)job;
    c->hash_rc = password_hash(c->password, c->hash);
    sodium_memzero(c->password, strlen(c->password));
}

static void hash_done(struct workpool_job *job)
{
    struct user_change *c = (struct user_change *)job;
    struct http_req *r = c->r;
    if (!r->req) { /* the client left: nothing to write */
        http_release(r);
        return;
    }
    if (c->hash_rc < 0)
        http_reply_problem(r, 500, "the password could not be hashed");
    else
        c->next(r);
    http_release(r); /* after next(): a pending query keeps its own claim on r */
}

/* Hashes c->password off the loop, then runs next(r) on the loop. */
static void hash_then(struct http_req *r, struct user_change *c, void (*next)(struct http_req *r))
{
    c->next = next;
    c->job.work = hash_work;
    c->job.done = hash_done;
    c->job.reply_to = &((struct http_loop *)r->loop)->work_rx;
    http_hold(r);
    if (workpool_submit(&c->job) < 0) {
        http_release(r);
        reply_busy(r);
    }
}

static const struct db_stmt stmt_user_insert = {
    .name = "auth_admin_user_insert",
    .sql = "WITH u AS (INSERT INTO users (username, password_hash, role) VALUES ($1, $2, $3)"
           "  RETURNING " USER_COLS ")"
           " SELECT u.*, pg_notify('strata_auth', 'users') FROM u",
    .nparams = 3,
    .cls = DB_FAST,
    .flags = DB_WRITE,
};

static void audit_user(struct http_req *r, const char *action, const char *username, const char *outcome,
                       const char *detail)
{
    char target[96];
    snprintf(target, sizeof target, "user:%s", username);
    http_audit(r, action, target, outcome, detail);
}

static void on_user_inserted(struct http_req *r, const struct db_result *res)
{
    struct user_change *c = r->app;
    struct buf d;
    struct jsonw w;
    buf_init(&d);
    jsonw_init(&w, &d);
    jsonw_obj_begin(&w);
    jsonw_kv_str(&w, "role", c->role);
    if (res->err && !strcmp(res->sqlstate, "23505")) {
        jsonw_kv_str(&w, "reason", "username taken");
        jsonw_obj_end(&w);
        audit_user(r, "user.create", c->username, "failure", d.data);
        char msg[160];
        snprintf(msg, sizeof msg, "a user named '%s' already exists", c->username);
        struct problem_field f = {"username", "already taken"};
        http_reply_problem_fields(r, 409, msg, &f, 1);
    } else if (res->err && !strcmp(res->sqlstate, "23503")) { /* role removed meanwhile */
        struct problem_field f = {"role", "unknown role (GET /api/v1/roles lists them)"};
        http_reply_problem_fields(r, 422, "the request body is invalid", &f, 1);
    } else if (res->err) {
        http_reply_db_error(r, res);
    } else {
        jsonw_obj_end(&w);
        audit_user(r, "user.create", c->username, "success", d.data);
        http_reply_after_auth_sync(r); /* the new user can log in as soon as the 201 arrives */
        reply_one(r, res->res, user_json, "users");
    }
    buf_cleanup(&d);
}

static void user_insert(struct http_req *r)
{
    struct user_change *c = r->app;
    const char *vals[] = {c->username, c->hash, c->role};
    (void)http_db_query(r, &stmt_user_insert, vals, on_user_inserted);
}

static void user_create(struct http_req *r)
{
    struct params_errors errs = {.n = 0};
    static const char *const known[] = {"username", "password", "role", NULL};
    json_t *o = body_object(r, &errs);
    const char *username = NULL, *password = NULL, *role = NULL;
    if (o) {
        reject_unknown_fields(o, known, &errs);
        username = str_field(o, "username", true, &errs);
        password = str_field(o, "password", true, &errs);
        role = str_field(o, "role", true, &errs);
    }
    if (username && !auth_admin_username_valid(username))
        params_error_add(&errs, "username", "1-64 letters, digits or . _ @ -, starting with a letter or digit");
    if (password) {
        const char *weak = password_weakness(password, username ? username : "");
        if (weak)
            params_error_add(&errs, "password", "%s", weak);
    }
    check_role(role, &errs);
    if (reply_field_errors(r, &errs))
        return;
    struct user_change *c = user_change_new(r);
    snprintf(c->username, sizeof c->username, "%s", username);
    c->role = role;
    c->password = xstrdup(password);
    hash_then(r, c, user_insert);
}

/* One statement: the change, the revocation of the user's refresh tokens when they are
 * disabled, change role or get a new password, and the NOTIFY, all or nothing. "old" reads
 * the row as it was (every part of a statement sees the same snapshot). */
static const struct db_stmt stmt_user_update = {
    .name = "auth_admin_user_update",
    .sql = "WITH old AS (SELECT id, role, disabled FROM users WHERE id = $1::int8),"
           " u AS (UPDATE users SET role = coalesce($2, role), disabled = coalesce($3::bool, disabled),"
           "   password_hash = coalesce($4, password_hash), updated_at = now()"
           "   WHERE id = $1::int8 RETURNING " USER_COLS "),"
           " rt AS (UPDATE refresh_tokens SET revoked_at = now()"
           "   WHERE user_id = $1::int8 AND revoked_at IS NULL AND EXISTS (SELECT 1 FROM u)"
           "     AND ($3::bool IS TRUE OR $4 IS NOT NULL OR EXISTS (SELECT 1 FROM old WHERE old.role <> $2))"
           "   RETURNING 1)"
           " SELECT u.*, old.role, old.disabled, (SELECT count(*) FROM rt), pg_notify('strata_auth', 'users')"
           " FROM u JOIN old ON old.id = u.id",
    .nparams = 4,
    .cls = DB_FAST,
    .flags = DB_WRITE,
};

static void on_user_updated(struct http_req *r, const struct db_result *res)
{
    struct user_change *c = r->app;
    if (res->err && !strcmp(res->sqlstate, "23503")) {
        struct problem_field f = {"role", "unknown role (GET /api/v1/roles lists them)"};
        http_reply_problem_fields(r, 422, "the request body is invalid", &f, 1);
        return;
    }
    if (res->err) {
        http_reply_db_error(r, res);
        return;
    }
    const PGresult *pr = res->res;
    if (PQntuples(pr) == 0) {
        http_reply_problem(r, 404, "no such user");
        return;
    }
    http_reply_after_auth_sync(r); /* disabled / new role in force here before the answer */
    /* what changed, never the password itself */
    struct buf d;
    struct jsonw w;
    buf_init(&d);
    jsonw_init(&w, &d);
    jsonw_obj_begin(&w);
    if (c->role) {
        jsonw_key(&w, "role");
        jsonw_obj_begin(&w);
        kv_text(&w, "from", pr, 0, 6);
        kv_text(&w, "to", pr, 0, 2);
        jsonw_obj_end(&w);
    }
    if (c->disabled >= 0) {
        jsonw_key(&w, "disabled");
        jsonw_obj_begin(&w);
        jsonw_kv_bool(&w, "from", col_bool(pr, 0, 7));
        jsonw_kv_bool(&w, "to", col_bool(pr, 0, 3));
        jsonw_obj_end(&w);
    }
    if (c->password)
        jsonw_kv_bool(&w, "password_changed", true);
    jsonw_kv_int(&w, "refresh_tokens_revoked", col_int(pr, 0, 8));
    jsonw_obj_end(&w);
    audit_user(r, "user.update", PQgetvalue(pr, 0, 1), "success", d.data);
    buf_cleanup(&d);
    reply_one(r, pr, user_json, NULL);
}

static void user_update_run(struct http_req *r)
{
    struct user_change *c = r->app;
    const char *dis = c->disabled < 0 ? NULL : c->disabled ? "true" : "false";
    const char *vals[] = {c->id, c->role, dis, c->password ? c->hash : NULL};
    (void)http_db_query(r, &stmt_user_update, vals, on_user_updated);
}

/* With a new password: the username first (the strength rule refuses passwords that contain
 * it), then the hash, then the update. */
static void on_user_for_password(struct http_req *r, const struct db_result *res)
{
    struct user_change *c = r->app;
    if (res->err) {
        http_reply_db_error(r, res);
        return;
    }
    if (PQntuples(res->res) == 0) {
        http_reply_problem(r, 404, "no such user");
        return;
    }
    snprintf(c->username, sizeof c->username, "%s", PQgetvalue(res->res, 0, 1));
    const char *weak = password_weakness(c->password, c->username);
    if (weak) {
        struct problem_field f = {"password", weak};
        http_reply_problem_fields(r, 422, "the request body is invalid", &f, 1);
        return;
    }
    hash_then(r, c, user_update_run);
}

/* May the caller keep administering users with this role? */
static bool role_keeps_users_admin(const char *role)
{
    struct buf perms;
    buf_init(&perms);
    bool ok = auth_role_permissions(role, &perms) && perms.data;
    if (ok) {
        ok = false;
        for (char *save = NULL, *t = strtok_r(perms.data, " ", &save); t && !ok; t = strtok_r(NULL, " ", &save))
            ok = !strcmp(t, "users:admin");
    }
    buf_cleanup(&perms);
    return ok;
}

static void user_update(struct http_req *r)
{
    struct params_errors errs = {.n = 0};
    static const char *const known[] = {"role", "disabled", "password", NULL};
    json_t *o = body_object(r, &errs);
    const char *role = NULL, *password = NULL;
    int disabled = -1;
    if (o) {
        reject_unknown_fields(o, known, &errs);
        role = str_field(o, "role", false, &errs);
        password = str_field(o, "password", false, &errs);
        json_t *d = json_object_get(o, "disabled");
        if (d && !json_is_null(d)) {
            if (json_is_boolean(d))
                disabled = json_is_true(d);
            else
                params_error_add(&errs, "disabled", "must be true or false");
        }
        if (errs.n == 0 && !role && !password && disabled < 0)
            params_error_add(&errs, "body", "nothing to change: give role, disabled or password");
    }
    check_role(role, &errs);
    const char *weak = password ? password_weakness(password, NULL) : NULL; /* the username check follows */
    if (weak)
        params_error_add(&errs, "password", "%s", weak);
    int64_t id = strtoll(http_path_param(r, "id"), NULL, 10);
    if (r->auth.kind == AUTH_USER && r->auth.user_id == id) {
        if (disabled == 1)
            params_error_add(&errs, "disabled", "you cannot disable yourself");
        if (role && auth_role_exists(role) && !role_keeps_users_admin(role))
            params_error_add(&errs, "role", "you cannot take away your own users:admin permission");
    }
    if (reply_field_errors(r, &errs))
        return;
    struct user_change *c = user_change_new(r);
    snprintf(c->id, sizeof c->id, "%" PRId64, id);
    c->role = role;
    c->disabled = disabled;
    if (password) {
        c->password = xstrdup(password);
        const char *vals[] = {c->id};
        (void)http_db_query(r, &stmt_user_get, vals, on_user_for_password);
    } else {
        user_update_run(r);
    }
}

/* ---- roles --------------------------------------------------------------------------------- */

static const struct db_stmt stmt_roles = {
    .name = "auth_admin_roles",
    .sql = "SELECT r.name, r.description,"
           " coalesce(json_agg(rp.permission ORDER BY rp.permission) FILTER (WHERE rp.permission IS NOT NULL),"
           "   '[]')::text"
           " FROM roles r LEFT JOIN role_permissions rp ON rp.role = r.name GROUP BY r.name ORDER BY r.name",
    .cls = DB_FAST,
};

static void on_roles(struct http_req *r, const struct db_result *res)
{
    if (res->err) {
        http_reply_db_error(r, res);
        return;
    }
    struct buf b;
    struct jsonw w;
    buf_init(&b);
    jsonw_init(&w, &b);
    jsonw_obj_begin(&w);
    jsonw_key(&w, "data");
    jsonw_arr_begin(&w);
    for (int i = 0; i < PQntuples(res->res); i++) {
        jsonw_obj_begin(&w);
        kv_text(&w, "name", res->res, i, 0);
        kv_text(&w, "description", res->res, i, 1);
        jsonw_key(&w, "permissions");
        jsonw_raw(&w, PQgetvalue(res->res, i, 2), (size_t)PQgetlength(res->res, i, 2));
        jsonw_obj_end(&w);
    }
    jsonw_arr_end(&w);
    jsonw_obj_end(&w);
    http_reply_json(r, 200, &b);
}

static void roles_list(struct http_req *r)
{
    (void)http_db_query(r, &stmt_roles, NULL, on_roles);
}

/* ---- API keys ------------------------------------------------------------------------------ */

#define KEY_COLS                                                                                             \
    "id, name, role, prefix, created_by, " EPOCH_US("expires_at") " AS expires_us, " EPOCH_US("revoked_at")     \
        " AS revoked_us, " EPOCH_US("created_at") " AS created_us"

static void key_json(struct jsonw *w, const PGresult *res, int row)
{
    jsonw_obj_begin(w);
    jsonw_kv_int(w, "id", col_int(res, row, 0));
    kv_text(w, "name", res, row, 1);
    kv_text(w, "role", res, row, 2);
    kv_text(w, "prefix", res, row, 3);
    kv_text(w, "created_by", res, row, 4);
    kv_time(w, "expires_at", res, row, 5);
    kv_time(w, "revoked_at", res, row, 6);
    kv_time(w, "created_at", res, row, 7);
    jsonw_obj_end(w);
}

static const struct db_stmt stmt_keys_page = {
    .name = "auth_admin_keys_page",
    .sql = "SELECT " KEY_COLS " FROM api_keys WHERE id > $1::int8 ORDER BY id LIMIT $2::int8",
    .nparams = 2,
    .cls = DB_FAST,
};

static void on_keys_page(struct http_req *r, const struct db_result *res)
{
    if (res->err) {
        http_reply_db_error(r, res);
        return;
    }
    reply_page(r, res->res, key_json, "k", false, 0, 0);
}

static void keys_list(struct http_req *r)
{
    id_page(r, "k", &stmt_keys_page, on_keys_page);
}

static const struct db_stmt stmt_key_get = {
    .name = "auth_admin_key_get",
    .sql = "SELECT " KEY_COLS " FROM api_keys WHERE id = $1::int8",
    .nparams = 1,
    .cls = DB_FAST,
};

static void on_key_get(struct http_req *r, const struct db_result *res)
{
    if (res->err) {
        http_reply_db_error(r, res);
        return;
    }
    if (PQntuples(res->res) == 0) {
        http_reply_problem(r, 404, "no such API key");
        return;
    }
    reply_one(r, res->res, key_json, NULL);
}

static void key_get(struct http_req *r)
{
    const char *vals[] = {http_path_param(r, "id")};
    (void)http_db_query(r, &stmt_key_get, vals, on_key_get);
}

struct key_create {
    char prefix[AUTH_APIKEY_PREFIX_LEN + 1];
    char key[AUTH_APIKEY_MAX];
    char hmac[65];
    char created_by[96];
    char expires[TIMEFMT_LEN];
    const char *name, *role; /* point into r->body */
    int attempts;
};

static void key_create_free(void *p)
{
    struct key_create *k = p;
    sodium_memzero(k->key, sizeof k->key);
    free(k);
}

static const struct db_stmt stmt_key_insert = {
    .name = "auth_admin_key_insert",
    .sql = "WITH k AS (INSERT INTO api_keys (prefix, key_hmac, name, role, created_by, expires_at)"
           "  VALUES ($1, decode($2, 'hex'), $3, $4, $5, $6::timestamptz) RETURNING " KEY_COLS ")"
           " SELECT k.*, pg_notify('strata_auth', 'api_keys') FROM k",
    .nparams = 6,
    .cls = DB_FAST,
    .flags = DB_WRITE,
};

static void key_insert(struct http_req *r);

static void on_key_inserted(struct http_req *r, const struct db_result *res)
{
    struct key_create *k = r->app;
    if (res->err && !strcmp(res->sqlstate, "23505") && k->attempts < 3) {
        key_insert(r); /* a prefix collision (48 random bits): draw again */
        return;
    }
    if (res->err && !strcmp(res->sqlstate, "23503")) {
        struct problem_field f = {"role", "unknown role (GET /api/v1/roles lists them)"};
        http_reply_problem_fields(r, 422, "the request body is invalid", &f, 1);
        return;
    }
    if (res->err) {
        http_reply_db_error(r, res);
        return;
    }
    const PGresult *pr = res->res;
    http_reply_after_auth_sync(r); /* the key works as soon as the 201 arrives */
    struct buf d;
    struct jsonw w;
    buf_init(&d);
    jsonw_init(&w, &d);
    jsonw_obj_begin(&w);
    jsonw_kv_int(&w, "id", col_int(pr, 0, 0));
    jsonw_kv_str(&w, "name", k->name);
    jsonw_kv_str(&w, "role", k->role);
    kv_time(&w, "expires_at", pr, 0, 5);
    jsonw_obj_end(&w);
    char target[64];
    snprintf(target, sizeof target, "apikey:%s", k->prefix);
    http_audit(r, "apikey.create", target, "success", d.data);
    buf_cleanup(&d);

    struct buf b;
    buf_init(&b);
    jsonw_init(&w, &b);
    jsonw_obj_begin(&w);
    jsonw_kv_int(&w, "id", col_int(pr, 0, 0));
    kv_text(&w, "name", pr, 0, 1);
    kv_text(&w, "role", pr, 0, 2);
    kv_text(&w, "prefix", pr, 0, 3);
    kv_text(&w, "created_by", pr, 0, 4);
    kv_time(&w, "expires_at", pr, 0, 5);
    kv_time(&w, "created_at", pr, 0, 7);
    jsonw_kv_str(&w, "key", k->key); /* the only time it is shown */
    jsonw_obj_end(&w);
    http_add_header(r, "Cache-Control", "no-store");
    reply_created(r, "api-keys", col_int(pr, 0, 0), &b);
}

static void key_insert(struct http_req *r)
{
    struct key_create *k = r->app;
    k->attempts++;
    auth_admin_apikey_new(k->prefix, k->key);
    auth_keyed_hash(k->key, k->hmac);
    const char *vals[] = {k->prefix, k->hmac, k->name, k->role, k->created_by, k->expires[0] ? k->expires : NULL};
    (void)http_db_query(r, &stmt_key_insert, vals, on_key_inserted);
}

static bool text_ok(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n < 1 || n > max)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return false;
    return true;
}

static void key_create(struct http_req *r)
{
    struct params_errors errs = {.n = 0};
    static const char *const known[] = {"name", "role", "expires_at", NULL};
    json_t *o = body_object(r, &errs);
    const char *name = NULL, *role = NULL, *expires = NULL;
    if (o) {
        reject_unknown_fields(o, known, &errs);
        name = str_field(o, "name", true, &errs);
        role = str_field(o, "role", true, &errs);
        expires = str_field(o, "expires_at", false, &errs);
    }
    if (name && !text_ok(name, 100))
        params_error_add(&errs, "name", "1-100 characters, no control characters");
    check_role(role, &errs);
    int64_t exp_us = 0;
    if (expires) {
        if (time_parse(expires, strlen(expires), &exp_us) < 0)
            params_error_add(&errs, "expires_at", "not an RFC 3339 time");
        else if (exp_us <= time_now_us())
            params_error_add(&errs, "expires_at", "must be in the future");
    }
    if (reply_field_errors(r, &errs))
        return;
    struct key_create *k = xcalloc(1, sizeof *k);
    r->app = k;
    r->app_free = key_create_free;
    k->name = name;
    k->role = role;
    auth_actor(&r->auth, k->created_by, sizeof k->created_by);
    if (expires)
        time_format_us(exp_us, k->expires);
    key_insert(r);
}

static const struct db_stmt stmt_key_revoke = {
    .name = "auth_admin_key_revoke",
    .sql = "WITH k AS (UPDATE api_keys SET revoked_at = now() WHERE id = $1::int8 AND revoked_at IS NULL"
           "  RETURNING id, prefix, name)"
           " SELECT k.id, k.prefix, k.name, pg_notify('strata_auth', 'api_keys') FROM k",
    .nparams = 1,
    .cls = DB_FAST,
    .flags = DB_WRITE,
};

static void on_key_revoked(struct http_req *r, const struct db_result *res)
{
    if (res->err) {
        http_reply_db_error(r, res);
        return;
    }
    if (PQntuples(res->res) == 0) {
        http_reply_problem(r, 404, "no such API key, or it is already revoked");
        return;
    }
    http_reply_after_auth_sync(r); /* revoked here before the answer */
    char target[64];
    snprintf(target, sizeof target, "apikey:%s", PQgetvalue(res->res, 0, 1));
    struct buf d;
    struct jsonw w;
    buf_init(&d);
    jsonw_init(&w, &d);
    jsonw_obj_begin(&w);
    jsonw_kv_int(&w, "id", col_int(res->res, 0, 0));
    kv_text(&w, "name", res->res, 0, 2);
    jsonw_obj_end(&w);
    http_audit(r, "apikey.revoke", target, "success", d.data);
    buf_cleanup(&d);
    http_reply(r, 204, NULL, "", 0);
}

static void key_revoke(struct http_req *r)
{
    const char *vals[] = {http_path_param(r, "id")};
    (void)http_db_query(r, &stmt_key_revoke, vals, on_key_revoked);
}

/* ---- audit log ----------------------------------------------------------------------------- */

static const char *const outcome_choices[] = {"success", "failure", "denied", NULL};

/* limit and cursor first: reply_page reads params[0] */
static const struct param_spec audit_params[] = {
    PAGE_PARAMS,
    {.name = "actor", .type = PARAM_STRING, .max_len = 128, .help = "exact actor, e.g. user:admin, cli, apikey:<prefix>"},
    {.name = "action", .type = PARAM_STRING, .max_len = 64, .help = "exact action, e.g. user.create"},
    {.name = "outcome", .type = PARAM_ENUM, .choices = outcome_choices, .help = "success, failure or denied"},
    {.name = "since", .type = PARAM_TIME, .help = "rows at or after this time"},
    {.name = "until", .type = PARAM_TIME, .help = "rows before this time"},
    {.name = NULL},
};

static const struct db_stmt stmt_audit_page = {
    .name = "auth_admin_audit_page",
    .sql = "SELECT id, " EPOCH_US("at") ", actor, action, target, request_id, outcome, detail::text FROM audit_log"
           " WHERE ($1::text IS NULL OR actor = $1) AND ($2::text IS NULL OR action = $2)"
           "   AND ($3::text IS NULL OR outcome = $3)"
           "   AND ($4::timestamptz IS NULL OR at >= $4) AND ($5::timestamptz IS NULL OR at < $5)"
           "   AND ($6::timestamptz IS NULL OR (at, id) < ($6, $7::int8))"
           " ORDER BY at DESC, id DESC LIMIT $8::int8",
    .nparams = 8,
    .cls = DB_SLOW,
};

static void audit_json(struct jsonw *w, const PGresult *res, int row)
{
    jsonw_obj_begin(w);
    jsonw_kv_int(w, "id", col_int(res, row, 0));
    kv_time(w, "at", res, row, 1);
    kv_text(w, "actor", res, row, 2);
    kv_text(w, "action", res, row, 3);
    kv_text(w, "target", res, row, 4);
    kv_text(w, "request_id", res, row, 5);
    kv_text(w, "outcome", res, row, 6);
    jsonw_key(w, "detail");
    jsonw_raw(w, PQgetvalue(res, row, 7), (size_t)PQgetlength(res, row, 7));
    jsonw_obj_end(w);
}

static void on_audit_page(struct http_req *r, const struct db_result *res)
{
    if (res->err) {
        http_reply_db_error(r, res);
        return;
    }
    reply_page(r, res->res, audit_json, "a", true, 0, 1);
}

static void audit_list(struct http_req *r)
{
    int64_t at = 0, id = 0;
    bool given;
    if (!cursor_read(r, "a", true, &at, &id, &given))
        return;
    const struct param_value *p = r->params;
    char since[TIMEFMT_LEN], until[TIMEFMT_LEN], cat[TIMEFMT_LEN], cid[24], lim[24];
    if (p[5].present)
        time_format_us(p[5].i, since);
    if (p[6].present)
        time_format_us(p[6].i, until);
    if (given)
        time_format_us(at, cat);
    snprintf(cid, sizeof cid, "%" PRId64, id);
    snprintf(lim, sizeof lim, "%" PRId64, p[0].i + 1);
    const char *vals[] = {
        p[2].present ? p[2].s : NULL,
        p[3].present ? p[3].s : NULL,
        p[4].present ? outcome_choices[p[4].e] : NULL,
        p[5].present ? since : NULL,
        p[6].present ? until : NULL,
        given ? cat : NULL,
        cid,
        lim,
    };
    (void)http_db_query(r, &stmt_audit_page, vals, on_audit_page);
}

/* ---- routes -------------------------------------------------------------------------------- */

static const char *const json_only[] = {"application/json", NULL};
static const int errs_list[] = {503, 0}; /* 400 (cursor) is implied by the parameters */
static const int errs_get[] = {404, 503, 0};
static const int errs_user_create[] = {409, 422, 503, 0};
static const int errs_user_update[] = {404, 422, 503, 0};
static const int errs_key_create[] = {422, 503, 0};
static const int errs_roles[] = {503, 0};

const struct route auth_admin_routes[] = {
    {.method = "GET", .path = "/api/v1/users", .handler = users_list, .permission = "users:admin",
     .query = page_params, .errors = errs_list, .summary = "Lists users (keyset paging by id)", .tag = "admin"},
    {.method = "POST", .path = "/api/v1/users", .handler = user_create, .permission = "users:admin",
     .body_limit = 4096, .content_types = json_only, .errors = errs_user_create, .success_status = 201,
     .summary = "Creates a user: {username, password, role}", .tag = "admin"},
    {.method = "GET", .path = "/api/v1/users/{id}", .handler = user_get, .permission = "users:admin",
     .path_params = id_path, .errors = errs_get, .summary = "One user", .tag = "admin"},
    {.method = "PATCH", .path = "/api/v1/users/{id}", .handler = user_update, .permission = "users:admin",
     .path_params = id_path, .body_limit = 4096, .content_types = json_only, .errors = errs_user_update,
     .summary = "Changes a user's role, disabled flag or password (disabling or a new role or password "
                "revokes their refresh tokens)",
     .tag = "admin"},
    {.method = "GET", .path = "/api/v1/roles", .handler = roles_list, .permission = "users:admin",
     .errors = errs_roles, .summary = "Roles and their permissions", .tag = "admin"},
    {.method = "POST", .path = "/api/v1/api-keys", .handler = key_create, .permission = "apikeys:admin",
     .body_limit = 4096, .content_types = json_only, .errors = errs_key_create, .success_status = 201,
     .summary = "Creates an API key: {name, role, expires_at?}; the key is shown only in this response",
     .tag = "admin"},
    {.method = "GET", .path = "/api/v1/api-keys", .handler = keys_list, .permission = "apikeys:admin",
     .query = page_params, .errors = errs_list, .summary = "Lists API keys, without secrets (keyset paging by id)",
     .tag = "admin"},
    {.method = "GET", .path = "/api/v1/api-keys/{id}", .handler = key_get, .permission = "apikeys:admin",
     .path_params = id_path, .errors = errs_get, .summary = "One API key, without its secret", .tag = "admin"},
    {.method = "DELETE", .path = "/api/v1/api-keys/{id}", .handler = key_revoke, .permission = "apikeys:admin",
     .path_params = id_path, .errors = errs_get, .success_status = 204,
     .summary = "Revokes an API key (effective on every process within seconds)", .tag = "admin"},
    {.method = "GET", .path = "/api/v1/audit", .handler = audit_list, .permission = "audit:read",
     .query = audit_params, .errors = errs_list,
     .summary = "Audit log, newest first (keyset paging by time and id)", .tag = "admin"},
    {.method = NULL},
};
