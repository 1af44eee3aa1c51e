#include "core/auth_cli.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <sodium.h>

#include "core/auth.h"
#include "core/auth_admin.h"
#include "core/config.h"
#include "core/db.h"
#include "core/log.h"
#include "core/password.h"
#include "core/timefmt.h"

#define PASSWORD_INPUT_MAX 1024

/* ---- database ------------------------------------------------------------------------------ */

/* Runs one statement. Returns the result (caller clears) when it succeeded; NULL when it
 * failed, with its SQLSTATE in state (for the caller to turn into a plain message) and the
 * server's message kept for unexpected failures. */
struct cli {
    PGconn *pg;
    char state[6];
    char message[512];
};

static PGresult *run(struct cli *c, const char *sql, int n, const char *const *vals)
{
    PGresult *res = PQexecParams(c->pg, sql, n, NULL, vals, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(res);
    if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) {
        c->state[0] = '\0';
        return res;
    }
    const char *ss = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
    snprintf(c->state, sizeof c->state, "%s", ss ? ss : "");
    snprintf(c->message, sizeof c->message, "%s", msg ? msg : PQerrorMessage(c->pg));
    PQclear(res);
    return NULL;
}

/* An unexpected failure: the server's message, which is about the database, not the input. */
static int db_failed(struct cli *c)
{
    fprintf(stderr, "strata: database error: %s\n", c->message);
    return 1;
}

/* The end of a command that changes one named thing (res: its rows, taken): exit status 1 and
 * "strata: <missing>" on stderr when no row matched, else 0 and <done> on stdout. */
static int one_changed(struct cli *c, PGresult *res, const char *missing, const char *done)
{
    if (!res)
        return db_failed(c);
    int rc = PQntuples(res) == 0;
    if (rc)
        fprintf(stderr, "strata: %s\n", missing);
    else
        printf("%s\n", done);
    PQclear(res);
    return rc;
}

static int cli_connect(struct cli *c)
{
    char err[512];
    if (!cfg.database_url || !cfg.database_url[0]) {
        fprintf(stderr, "strata: STRATA_DATABASE_URL is required\n");
        return 1;
    }
    c->pg = db_connect_blocking(cfg.database_url, err, sizeof err);
    if (!c->pg) {
        fprintf(stderr, "strata: cannot connect to the database: %s\n", err);
        return 1;
    }
    return 0;
}

/* The server-side HMAC key (API keys, client secrets), loaded as the server loads it, so CLI
 * and servers hash alike. main usually loaded it already (then this is a no-op); whoever
 * loaded it calls auth_stop. */
static int load_keys(void)
{
    char err[512];
    if (auth_load_keys(err, sizeof err) < 0) {
        fprintf(stderr, "strata: %s\n", err);
        return 1;
    }
    return 0;
}

/* 0 when the role exists; else prints the known roles and returns 1. */
static int check_role(struct cli *c, const char *role)
{
    const char *vals[] = {role};
    PGresult *res = run(c, "SELECT coalesce(bool_or(name = $1), false), string_agg(name, ', ' ORDER BY name) FROM roles",
                        1, vals);
    if (!res)
        return db_failed(c);
    int rc = 0;
    if (PQgetvalue(res, 0, 0)[0] != 't') {
        fprintf(stderr, "strata: unknown role '%s' (roles: %s)\n", role, PQgetvalue(res, 0, 1));
        rc = 1;
    }
    PQclear(res);
    return rc;
}

/* ---- passwords ----------------------------------------------------------------------------- */

static struct termios saved_tty;
static volatile sig_atomic_t tty_changed;

static void restore_tty_and_die(int sig)
{
    if (tty_changed)
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_tty);
    signal(sig, SIG_DFL);
    raise(sig);
}

/* One line from f without its line end. false at EOF, on error, or when too long. */
static bool read_line(FILE *f, char *out, size_t outlen)
{
    if (!fgets(out, (int)outlen, f))
        return false;
    size_t n = strlen(out);
    bool complete = n && out[n - 1] == '\n';
    while (n && (out[n - 1] == '\n' || out[n - 1] == '\r'))
        out[--n] = '\0';
    if (!complete && !feof(f)) {
        sodium_memzero(out, outlen);
        return false; /* longer than the buffer */
    }
    return true;
}

static bool prompt_no_echo(const char *prompt, char *out, size_t outlen)
{
    struct termios t;
    if (tcgetattr(STDIN_FILENO, &saved_tty) != 0)
        return false;
    t = saved_tty;
    t.c_lflag &= ~(tcflag_t)ECHO;
    t.c_lflag |= ECHONL;
    struct sigaction sa = {.sa_handler = restore_tty_and_die}, old_int, old_term;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    fputs(prompt, stderr);
    fflush(stderr);
    tty_changed = 1;
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &t);
    bool ok = read_line(stdin, out, outlen);
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_tty);
    tty_changed = 0;
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    return ok;
}

/* The new password: stdin (--password-stdin, or stdin is not a terminal) or asked twice. */
static int read_password(bool from_stdin, char *out, size_t outlen)
{
    if (from_stdin || !isatty(STDIN_FILENO)) {
        if (!read_line(stdin, out, outlen) || !out[0]) {
            fprintf(stderr, "strata: no password on stdin (one line, at most %zu bytes)\n", outlen - 2);
            return 1;
        }
        return 0;
    }
    char again[PASSWORD_INPUT_MAX];
    int rc = 1;
    if (!prompt_no_echo("New password: ", out, outlen) || !prompt_no_echo("Repeat password: ", again, sizeof again))
        fprintf(stderr, "strata: no password given\n");
    else if (strcmp(out, again) != 0)
        fprintf(stderr, "strata: the passwords do not match\n");
    else
        rc = 0;
    sodium_memzero(again, sizeof again);
    return rc;
}

/* Reads, checks and hashes a new password for username. */
static int new_password_hash(const char *username, bool from_stdin, char hash[PASSWORD_HASH_MAX])
{
    char pw[PASSWORD_INPUT_MAX];
    int rc = read_password(from_stdin, pw, sizeof pw);
    if (rc == 0) {
        const char *weak = password_weakness(pw, username);
        if (weak) {
            fprintf(stderr, "strata: password rejected: %s\n", weak);
            rc = 1;
        } else if (password_hash(pw, hash) < 0) {
            fprintf(stderr, "strata: the password could not be hashed\n");
            rc = 1;
        }
    }
    sodium_memzero(pw, sizeof pw);
    return rc;
}

/* ---- arguments ----------------------------------------------------------------------------- */

struct args {
    const char *pos[2];  /* positional arguments after the action */
    int npos;
    const char *role;
    const char *expires;
    bool password_stdin;
};

/* Parses argv[2..]; allowed lists the options this action takes ("role", "expires",
 * "password-stdin"). Returns false on anything else. */
static bool parse_args(int argc, char **argv, const char *allowed, struct args *a)
{
    memset(a, 0, sizeof *a);
    for (int i = 2; i < argc; i++) {
        const char *s = argv[i];
        if (strncmp(s, "--", 2) != 0) {
            if (a->npos >= 2)
                return false;
            a->pos[a->npos++] = s;
            continue;
        }
        const char *name = s + 2, *eq = strchr(name, '=');
        size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
        char opt[32];
        if (nlen == 0 || nlen >= sizeof opt)
            return false;
        memcpy(opt, name, nlen);
        opt[nlen] = '\0';
        /* whole-word match in the allowed list */
        const char *hit = strstr(allowed, opt);
        bool ok = hit && (hit == allowed || hit[-1] == ' ') && (hit[nlen] == '\0' || hit[nlen] == ' ');
        if (!ok)
            return false;
        if (!strcmp(opt, "password-stdin")) {
            if (eq)
                return false;
            a->password_stdin = true;
            continue;
        }
        const char *val = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
        if (!val || !*val)
            return false;
        if (!strcmp(opt, "role"))
            a->role = val;
        else
            a->expires = val;
    }
    return true;
}

static int usage(const char *line)
{
    fprintf(stderr, "usage: strata %s\n", line);
    return 2;
}

static void print_time_col(const PGresult *res, int row, int col, int width)
{
    char t[TIMEFMT_LEN] = "-";
    if (!PQgetisnull(res, row, col)) {
        time_format(strtoll(PQgetvalue(res, row, col), NULL, 10), t);
        t[19] = 'Z'; /* whole seconds are enough for a listing */
        t[20] = '\0';
    }
    printf("%-*s", width, t);
}

#define EPOCH_US(col) "(extract(epoch FROM " col ") * 1000000)::int8"

/* ---- users --------------------------------------------------------------------------------- */

static int user_exists(struct cli *c, const char *name, bool *exists)
{
    const char *vals[] = {name};
    PGresult *res = run(c, "SELECT 1 FROM users WHERE username = $1", 1, vals);
    if (!res)
        return db_failed(c);
    *exists = PQntuples(res) > 0;
    PQclear(res);
    return 0;
}

static int user_add(struct cli *c, const struct args *a)
{
    const char *name = a->pos[0];
    if (!auth_admin_username_valid(name)) {
        fprintf(stderr, "strata: invalid username '%s': 1-64 letters, digits or . _ @ -, starting with a letter or digit\n",
                name);
        return 1;
    }
    bool exists;
    int rc = check_role(c, a->role);
    if (rc == 0)
        rc = user_exists(c, name, &exists);
    if (rc)
        return rc;
    if (exists) {
        fprintf(stderr, "strata: user '%s' already exists\n", name);
        return 1;
    }
    char hash[PASSWORD_HASH_MAX];
    if (new_password_hash(name, a->password_stdin, hash))
        return 1;
    const char *vals[] = {name, hash, a->role};
    PGresult *res = run(c,
                        "WITH u AS (INSERT INTO users (username, password_hash, role) VALUES ($1, $2, $3)"
                        "  RETURNING id, username),"
                        " a AS (INSERT INTO audit_log (actor, action, target, outcome, detail)"
                        "  SELECT 'cli', 'user.create', 'user:' || username, 'success',"
                        "   jsonb_build_object('role', $3::text) FROM u)"
                        " SELECT id, pg_notify('strata_auth', 'users') FROM u",
                        3, vals);
    sodium_memzero(hash, sizeof hash);
    if (!res && !strcmp(c->state, "23505")) {
        fprintf(stderr, "strata: user '%s' already exists\n", name);
        return 1;
    }
    if (!res)
        return db_failed(c);
    printf("user '%s' created (id %s, role %s)\n", name, PQgetvalue(res, 0, 0), a->role);
    PQclear(res);
    return 0;
}

static int user_passwd(struct cli *c, const struct args *a)
{
    const char *name = a->pos[0];
    bool exists;
    if (user_exists(c, name, &exists))
        return 1;
    if (!exists) {
        fprintf(stderr, "strata: no user '%s'\n", name);
        return 1;
    }
    char hash[PASSWORD_HASH_MAX];
    if (new_password_hash(name, a->password_stdin, hash))
        return 1;
    /* a new password ends every session of the user: their refresh tokens are revoked */
    const char *vals[] = {name, hash};
    PGresult *res = run(c,
                        "WITH u AS (UPDATE users SET password_hash = $2, updated_at = now() WHERE username = $1"
                        "  RETURNING id, username),"
                        " rt AS (UPDATE refresh_tokens SET revoked_at = now()"
                        "  WHERE user_id IN (SELECT id FROM u) AND revoked_at IS NULL RETURNING 1),"
                        " a AS (INSERT INTO audit_log (actor, action, target, outcome, detail)"
                        "  SELECT 'cli', 'user.passwd', 'user:' || username, 'success',"
                        "   jsonb_build_object('refresh_tokens_revoked', (SELECT count(*) FROM rt)) FROM u)"
                        " SELECT id, pg_notify('strata_auth', 'users') FROM u",
                        2, vals);
    sodium_memzero(hash, sizeof hash);
    char missing[192], done[192];
    snprintf(missing, sizeof missing, "no user '%s'", name);
    snprintf(done, sizeof done, "password changed for '%s'", name);
    return one_changed(c, res, missing, done);
}

static int user_set_disabled(struct cli *c, const struct args *a, bool disable)
{
    const char *name = a->pos[0];
    const char *vals[] = {name, disable ? "true" : "false"};
    /* disabling also revokes the user's refresh tokens; access tokens stop working when the
     * servers reload their snapshot on the NOTIFY */
    PGresult *res = run(c,
                        "WITH u AS (UPDATE users SET disabled = $2::bool, updated_at = now() WHERE username = $1"
                        "  RETURNING id, username),"
                        " rt AS (UPDATE refresh_tokens SET revoked_at = now()"
                        "  WHERE $2::bool AND user_id IN (SELECT id FROM u) AND revoked_at IS NULL RETURNING 1),"
                        " a AS (INSERT INTO audit_log (actor, action, target, outcome, detail)"
                        "  SELECT 'cli', CASE WHEN $2::bool THEN 'user.disable' ELSE 'user.enable' END,"
                        "   'user:' || username, 'success',"
                        "   jsonb_build_object('refresh_tokens_revoked', (SELECT count(*) FROM rt)) FROM u)"
                        " SELECT id, pg_notify('strata_auth', 'users') FROM u",
                        2, vals);
    char missing[192], done[192];
    snprintf(missing, sizeof missing, "no user '%s'", name);
    snprintf(done, sizeof done, "user '%s' %s", name, disable ? "disabled" : "enabled");
    return one_changed(c, res, missing, done);
}

static int user_list(struct cli *c)
{
    PGresult *res = run(c,
                        "SELECT id, username, role, disabled, " EPOCH_US("created_at") " FROM users ORDER BY id",
                        0, NULL);
    if (!res)
        return db_failed(c);
    printf("%-8s %-32s %-12s %-9s %s\n", "ID", "USERNAME", "ROLE", "STATUS", "CREATED");
    for (int i = 0; i < PQntuples(res); i++) {
        printf("%-8s %-32s %-12s %-9s ", PQgetvalue(res, i, 0), PQgetvalue(res, i, 1), PQgetvalue(res, i, 2),
               PQgetvalue(res, i, 3)[0] == 't' ? "disabled" : "active");
        print_time_col(res, i, 4, 0);
        putchar('\n');
    }
    PQclear(res);
    return 0;
}

static int cmd_user(struct cli *c, int argc, char **argv)
{
    const char *action = argc > 1 ? argv[1] : "";
    struct args a;
    if (!strcmp(action, "add")) {
        if (!parse_args(argc, argv, "role password-stdin", &a) || a.npos != 1 || !a.role)
            return usage("user add NAME --role ROLE [--password-stdin]");
        return cli_connect(c) ? 1 : user_add(c, &a);
    }
    if (!strcmp(action, "passwd")) {
        if (!parse_args(argc, argv, "password-stdin", &a) || a.npos != 1)
            return usage("user passwd NAME [--password-stdin]");
        return cli_connect(c) ? 1 : user_passwd(c, &a);
    }
    if (!strcmp(action, "disable") || !strcmp(action, "enable")) {
        if (!parse_args(argc, argv, "", &a) || a.npos != 1)
            return usage(!strcmp(action, "disable") ? "user disable NAME" : "user enable NAME");
        return cli_connect(c) ? 1 : user_set_disabled(c, &a, !strcmp(action, "disable"));
    }
    if (!strcmp(action, "list")) {
        if (!parse_args(argc, argv, "", &a) || a.npos != 0)
            return usage("user list");
        return cli_connect(c) ? 1 : user_list(c);
    }
    return usage("user add|passwd|disable|enable|list ...");
}

/* ---- OAuth2 clients ------------------------------------------------------------------------ */

static bool client_id_valid(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > 64)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        bool alnum = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9');
        if (!alnum && (i == 0 || !strchr("._-", ch)))
            return false;
    }
    return true;
}

static int client_add(struct cli *c, const struct args *a)
{
    const char *id = a->pos[0];
    if (!client_id_valid(id)) {
        fprintf(stderr, "strata: invalid client id '%s': 1-64 letters, digits or . _ -, starting with a letter or digit\n",
                id);
        return 1;
    }
    if (check_role(c, a->role) || load_keys())
        return 1;
    char secret[64], hash[65];
    auth_random_token(secret);
    auth_keyed_hash(secret, hash);
    const char *vals[] = {id, hash, a->role};
    PGresult *res = run(c,
                        "WITH k AS (INSERT INTO oauth_clients (id, name, secret_hash, role) VALUES ($1, $1, $2, $3)"
                        "  RETURNING id),"
                        " a AS (INSERT INTO audit_log (actor, action, target, outcome, detail)"
                        "  SELECT 'cli', 'client.create', 'client:' || id, 'success',"
                        "   jsonb_build_object('role', $3::text) FROM k)"
                        " SELECT id, pg_notify('strata_auth', 'clients') FROM k",
                        3, vals);
    int rc = 0;
    if (!res && !strcmp(c->state, "23505")) {
        fprintf(stderr, "strata: client '%s' already exists\n", id);
        rc = 1;
    } else if (!res) {
        rc = db_failed(c);
    } else {
        printf("client_id: %s\nclient_secret: %s\n", id, secret);
        fflush(stdout);
        fprintf(stderr, "strata: store the client secret now; it is not shown again\n");
        PQclear(res);
    }
    sodium_memzero(secret, sizeof secret);
    return rc;
}

static int client_list(struct cli *c)
{
    PGresult *res = run(c,
                        "SELECT id, coalesce(role, '-'), secret_hash IS NOT NULL, revoked, " EPOCH_US("created_at")
                        " FROM oauth_clients ORDER BY created_at, id",
                        0, NULL);
    if (!res)
        return db_failed(c);
    printf("%-32s %-12s %-13s %-8s %s\n", "CLIENT_ID", "ROLE", "TYPE", "STATUS", "CREATED");
    for (int i = 0; i < PQntuples(res); i++) {
        printf("%-32s %-12s %-13s %-8s ", PQgetvalue(res, i, 0), PQgetvalue(res, i, 1),
               PQgetvalue(res, i, 2)[0] == 't' ? "confidential" : "public",
               PQgetvalue(res, i, 3)[0] == 't' ? "revoked" : "active");
        print_time_col(res, i, 4, 0);
        putchar('\n');
    }
    PQclear(res);
    return 0;
}

static int client_revoke(struct cli *c, const struct args *a)
{
    const char *vals[] = {a->pos[0]};
    PGresult *res = run(c,
                        "WITH k AS (UPDATE oauth_clients SET revoked = true WHERE id = $1 AND NOT revoked RETURNING id),"
                        " rt AS (UPDATE refresh_tokens SET revoked_at = now()"
                        "  WHERE client_id IN (SELECT id FROM k) AND revoked_at IS NULL RETURNING 1),"
                        " a AS (INSERT INTO audit_log (actor, action, target, outcome, detail)"
                        "  SELECT 'cli', 'client.revoke', 'client:' || id, 'success',"
                        "   jsonb_build_object('refresh_tokens_revoked', (SELECT count(*) FROM rt)) FROM k)"
                        " SELECT id, pg_notify('strata_auth', 'clients') FROM k",
                        1, vals);
    char missing[192], done[192];
    snprintf(missing, sizeof missing, "no active client '%s'", a->pos[0]);
    snprintf(done, sizeof done, "client '%s' revoked", a->pos[0]);
    return one_changed(c, res, missing, done);
}

static int cmd_client(struct cli *c, int argc, char **argv)
{
    const char *action = argc > 1 ? argv[1] : "";
    struct args a;
    if (!strcmp(action, "add")) {
        if (!parse_args(argc, argv, "role", &a) || a.npos != 1 || !a.role)
            return usage("client add NAME --role ROLE");
        return cli_connect(c) ? 1 : client_add(c, &a);
    }
    if (!strcmp(action, "list")) {
        if (!parse_args(argc, argv, "", &a) || a.npos != 0)
            return usage("client list");
        return cli_connect(c) ? 1 : client_list(c);
    }
    if (!strcmp(action, "revoke")) {
        if (!parse_args(argc, argv, "", &a) || a.npos != 1)
            return usage("client revoke NAME");
        return cli_connect(c) ? 1 : client_revoke(c, &a);
    }
    return usage("client add|list|revoke ...");
}

/* ---- API keys ------------------------------------------------------------------------------ */

static int apikey_create(struct cli *c, const struct args *a)
{
    const char *name = a->pos[0];
    char expires[TIMEFMT_LEN] = "";
    if (strlen(name) > 100) {
        fprintf(stderr, "strata: the key name is longer than 100 bytes\n");
        return 1;
    }
    for (const char *p = name; *p; p++) {
        if ((unsigned char)*p < 0x20 || *p == 0x7f) {
            fprintf(stderr, "strata: the key name has control characters\n");
            return 1;
        }
    }
    if (a->expires) {
        int64_t us;
        if (time_parse(a->expires, strlen(a->expires), &us) < 0) {
            fprintf(stderr, "strata: --expires '%s' is not an RFC 3339 time\n", a->expires);
            return 1;
        }
        if (us <= time_now_us()) {
            fprintf(stderr, "strata: --expires must be in the future\n");
            return 1;
        }
        time_format_us(us, expires);
    }
    if (check_role(c, a->role) || load_keys())
        return 1;
    char prefix[AUTH_APIKEY_PREFIX_LEN + 1], key[AUTH_APIKEY_MAX], hmac[65];
    PGresult *res = NULL;
    for (int attempt = 0; attempt < 3 && !res; attempt++) {
        auth_admin_apikey_new(prefix, key);
        auth_keyed_hash(key, hmac);
        const char *vals[] = {prefix, hmac, name, a->role, expires[0] ? expires : NULL};
        res = run(c,
                  "WITH k AS (INSERT INTO api_keys (prefix, key_hmac, name, role, created_by, expires_at)"
                  "  VALUES ($1, decode($2, 'hex'), $3, $4, 'cli', $5::timestamptz) RETURNING id, prefix, expires_at),"
                  " a AS (INSERT INTO audit_log (actor, action, target, outcome, detail)"
                  "  SELECT 'cli', 'apikey.create', 'apikey:' || prefix, 'success',"
                  "   jsonb_build_object('id', id, 'name', $3::text, 'role', $4::text, 'expires_at', expires_at) FROM k)"
                  " SELECT id, pg_notify('strata_auth', 'api_keys') FROM k",
                  5, vals);
        if (!res && strcmp(c->state, "23505") != 0)
            break; /* only a prefix collision is worth another draw */
    }
    int rc = 0;
    if (!res) {
        rc = db_failed(c);
    } else {
        printf("id: %s\nprefix: %s\nkey: %s\n", PQgetvalue(res, 0, 0), prefix, key);
        fflush(stdout);
        fprintf(stderr, "strata: store the key now; it is not shown again\n");
        PQclear(res);
    }
    sodium_memzero(key, sizeof key);
    return rc;
}

static int apikey_list(struct cli *c)
{
    PGresult *res = run(c,
                        "SELECT id, prefix, role, created_by, " EPOCH_US("expires_at") ","
                        " CASE WHEN revoked_at IS NOT NULL THEN 'revoked'"
                        "  WHEN expires_at <= now() THEN 'expired' ELSE 'active' END, name"
                        " FROM api_keys ORDER BY id",
                        0, NULL);
    if (!res)
        return db_failed(c);
    printf("%-8s %-14s %-12s %-20s %-21s %-8s %s\n", "ID", "PREFIX", "ROLE", "CREATED_BY", "EXPIRES", "STATUS",
           "NAME");
    for (int i = 0; i < PQntuples(res); i++) {
        printf("%-8s %-14s %-12s %-20s ", PQgetvalue(res, i, 0), PQgetvalue(res, i, 1), PQgetvalue(res, i, 2),
               PQgetvalue(res, i, 3));
        print_time_col(res, i, 4, 21);
        printf(" %-8s %s\n", PQgetvalue(res, i, 5), PQgetvalue(res, i, 6));
    }
    PQclear(res);
    return 0;
}

static int apikey_revoke(struct cli *c, const struct args *a)
{
    const char *vals[] = {a->pos[0]};
    PGresult *res = run(c,
                        "WITH k AS (UPDATE api_keys SET revoked_at = now() WHERE id = $1::int8 AND revoked_at IS NULL"
                        "  RETURNING id, prefix, name),"
                        " a AS (INSERT INTO audit_log (actor, action, target, outcome, detail)"
                        "  SELECT 'cli', 'apikey.revoke', 'apikey:' || prefix, 'success',"
                        "   jsonb_build_object('id', id, 'name', name) FROM k)"
                        " SELECT id, pg_notify('strata_auth', 'api_keys') FROM k",
                        1, vals);
    char missing[192], done[192];
    snprintf(missing, sizeof missing, "no active API key with id %s", a->pos[0]);
    snprintf(done, sizeof done, "API key %s revoked", a->pos[0]);
    return one_changed(c, res, missing, done);
}

static bool is_id(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > 18 || s[0] == '0')
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

static int cmd_apikey(struct cli *c, int argc, char **argv)
{
    const char *action = argc > 1 ? argv[1] : "";
    struct args a;
    if (!strcmp(action, "create")) {
        if (!parse_args(argc, argv, "role expires", &a) || a.npos != 1 || !a.role || !a.pos[0][0])
            return usage("apikey create NAME --role ROLE [--expires RFC3339]");
        return cli_connect(c) ? 1 : apikey_create(c, &a);
    }
    if (!strcmp(action, "list")) {
        if (!parse_args(argc, argv, "", &a) || a.npos != 0)
            return usage("apikey list");
        return cli_connect(c) ? 1 : apikey_list(c);
    }
    if (!strcmp(action, "revoke")) {
        if (!parse_args(argc, argv, "", &a) || a.npos != 1 || !is_id(a.pos[0]))
            return usage("apikey revoke ID   (the numeric id from `strata apikey list`)");
        return cli_connect(c) ? 1 : apikey_revoke(c, &a);
    }
    return usage("apikey create|list|revoke ...");
}

int auth_cli_main(const char *cmd, int argc, char **argv)
{
    struct cli c = {.pg = NULL};
    int rc;
    if (!strcmp(cmd, "user"))
        rc = cmd_user(&c, argc, argv);
    else if (!strcmp(cmd, "client"))
        rc = cmd_client(&c, argc, argv);
    else if (!strcmp(cmd, "apikey"))
        rc = cmd_apikey(&c, argc, argv);
    else
        rc = usage("user|client|apikey ...");
    if (c.pg)
        PQfinish(c.pg);
    return rc;
}

/* ---- bootstrap admin ----------------------------------------------------------------------- */

int auth_bootstrap_admin(char *err, size_t errlen)
{
    const char *name = auth_setting("admin_user");
    const char *pw = auth_setting("admin_password");
    if (!name || !name[0])
        return 0;
    bool have_pw = pw && pw[0];
    if (!auth_admin_username_valid(name)) {
        snprintf(err, errlen, "invalid value for STRATA_ADMIN_USER: 1-64 letters, digits or . _ @ -");
        return STRATA_EINVAL;
    }
    if (have_pw) {
        const char *weak = password_weakness(pw, name);
        if (weak && strcmp(cfg.env, "development") != 0) {
            snprintf(err, errlen, "STRATA_ADMIN_PASSWORD is too weak: %s", weak);
            return STRATA_EINVAL;
        }
        if (weak)
            log_msg(LOG_WARN, NULL, "weak admin password accepted in development", "%s", weak);
    }
    struct cli c = {.pg = NULL};
    c.pg = db_connect_blocking(cfg.database_url, err, errlen);
    if (!c.pg)
        return STRATA_EUNAVAIL;
    int rc = STRATA_EIO;
    char generated[64] = "", hash[PASSWORD_HASH_MAX] = "";
    PGresult *res = NULL;
    const char *vals1[] = {name};
    res = run(&c, "SELECT password_hash, role, disabled FROM users WHERE username = $1", 1, vals1);
    if (!res)
        goto db_error;
    bool exists = PQntuples(res) == 1;
    if (exists && !have_pw) { /* nothing to reset: the operator keeps the password they have */
        rc = 0;
        goto out;
    }
    if (exists && !strcmp(PQgetvalue(res, 0, 1), "admin") && PQgetvalue(res, 0, 2)[0] == 'f' &&
        password_verify(PQgetvalue(res, 0, 0), pw)) {
        rc = 0; /* already as configured: no new hash, no audit row on every start */
        goto out;
    }
    PQclear(res);
    res = NULL;
    if (!have_pw) {
        auth_random_token(generated);
        pw = generated;
    }
    if (password_hash(pw, hash) < 0) {
        snprintf(err, errlen, "the admin password could not be hashed");
        goto out;
    }
    const char *vals2[] = {name, hash, have_pw ? "true" : "false"};
    /* Several processes may start at once (strata all, replicas): a generated password is
     * only set (and printed) by the one whose INSERT wins; a configured one is an upsert. A
     * reset also ends the user's sessions. */
    res = run(&c,
              "WITH u AS (INSERT INTO users (username, password_hash, role) VALUES ($1, $2, 'admin')"
              "  ON CONFLICT (username) DO UPDATE SET password_hash = EXCLUDED.password_hash, role = 'admin',"
              "   disabled = false, updated_at = now() WHERE $3::bool"
              "  RETURNING id, username, (xmax = 0) AS created),"
              " rt AS (UPDATE refresh_tokens SET revoked_at = now()"
              "  WHERE user_id IN (SELECT id FROM u WHERE NOT created) AND revoked_at IS NULL RETURNING 1),"
              " a AS (INSERT INTO audit_log (actor, action, target, outcome, detail)"
              "  SELECT 'system', 'user.bootstrap', 'user:' || username, 'success',"
              "   jsonb_build_object('created', created, 'refresh_tokens_revoked', (SELECT count(*) FROM rt)) FROM u)"
              " SELECT id, created, pg_notify('strata_auth', 'users') FROM u",
              3, vals2);
    if (!res)
        goto db_error;
    if (PQntuples(res) == 1 && !have_pw) {
        printf("admin password for %s: %s\n", name, generated);
        fflush(stdout);
    }
    if (PQntuples(res) == 1)
        log_msg(LOG_INFO, NULL, PQgetvalue(res, 0, 1)[0] == 't' ? "admin user created" : "admin user reset",
                "user=%s", name);
    rc = 0;
    goto out;
db_error:
    snprintf(err, errlen, "admin bootstrap failed: %s", c.message);
out:
    sodium_memzero(generated, sizeof generated);
    sodium_memzero(hash, sizeof hash);
    if (res)
        PQclear(res);
    PQfinish(c.pg);
    return rc;
}
