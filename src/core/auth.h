/*
 * auth: who is calling, and may they. SPEC §4.
 *
 * Credentials: "Authorization: Bearer <JWT access token>", "X-API-Key: <key>", and — for
 * stream routes only (ROUTE_STREAM), since browsers cannot set headers on EventSource and
 * WebSocket — an "access_token" query parameter or a "bearer.<token>" WebSocket subprotocol.
 *
 * Decisions are made against an in-memory snapshot of roles, permissions, users, clients and
 * API keys. Every process keeps one: loaded at start, reloaded on NOTIFY strata_auth (sent by
 * every change: disable a user, change a role, revoke a key or client) and every
 * auth_reload_interval as a safety net, so a revocation bites on every process within
 * seconds, not at token expiry. Snapshots are immutable and reference-counted; a reload swaps
 * the pointer.
 *
 * Must not: block an event loop (the snapshot loader runs on its own thread), log a secret.
 */
#ifndef STRATA_AUTH_H
#define STRATA_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"

enum auth_kind { AUTH_NONE = 0, AUTH_USER, AUTH_CLIENT, AUTH_APIKEY };

struct auth_principal {
    enum auth_kind kind;
    int64_t user_id;   /* AUTH_USER */
    int64_t key_id;    /* AUTH_APIKEY */
    char name[80];     /* username, client id, or "apikey:<prefix>" */
    char role[40];
    char scope[1024];  /* space-separated permissions granted to this token; "" = all of the role's */
    char jti[64];      /* access token id (AUTH_USER / AUTH_CLIENT) */
    char grant[24];    /* how the token was obtained: password, refresh_token, client_credentials */
};

/* String value of an auth setting by name (admin_user, admin_password, ...), or NULL. */
const char *auth_setting(const char *name);
/* "user:<name>", "client:<id>", "apikey:<prefix>" or "anonymous", for audit rows and logs. */
void auth_actor(const struct auth_principal *p, char *out, size_t len);
/* Client lookup for the token endpoint. Returns false when unknown or revoked. *confidential
 * tells whether it has a secret; secret (may be NULL) is checked in constant time when it has;
 * role receives the client's role (confidential clients only). */
bool auth_client_check(const char *client_id, const char *secret, bool *confidential, bool *secret_ok,
                       char role[40]);

/* The auth settings table; call before config_load. */
void auth_register_config(void);
/* After config_load: checks secrets against STRATA_ENV (production: missing or short secret
 * stops the start; development: a random secret is generated once under var_dir), loads
 * keys, loads the first snapshot (blocking) and starts the reload thread. */
int auth_start(char *err, size_t errlen) STRATA_MUST_CHECK;
/* Only the secrets and keys (what the CLI needs to hash API keys and client secrets). */
int auth_load_keys(char *err, size_t errlen) STRATA_MUST_CHECK;
void auth_stop(void);
/* An event-loop thread ending: frees its verified-token cache. */
void auth_thread_cleanup(void);

/* Identifies the caller from the request's credentials. Returns 0 and fills p (kind NONE when
 * no credential was given), or STRATA_EINVAL with a short reason when a credential was given
 * but is not valid (expired, revoked, bad signature, unknown key...). */
struct http_req;
int auth_identify(struct http_req *r, struct auth_principal *p, const char **reason);

/* Does the principal hold this permission now (its role's current permissions, narrowed by
 * the token's scope)? */
bool auth_has(const struct auth_principal *p, const char *permission);
bool auth_is_admin(const struct auth_principal *p);
/* Object-level rule every app uses: the owner (a user id) or an admin. */
bool auth_owner_or_admin(const struct auth_principal *p, int64_t owner_user_id);

/* Role -> permissions (space-separated) from the current snapshot; false if unknown role. */
bool auth_role_permissions(const char *role, struct buf *out);
bool auth_role_exists(const char *role);

/* Tokens and keys. */
int auth_issue_access_token(const struct auth_principal *p, int64_t *expires_in, struct buf *out) STRATA_MUST_CHECK;
/* New opaque secret (refresh token, API key secret part, client secret): 32 random bytes,
 * base64url. */
void auth_random_token(char out[64]);
/* SHA-256 of a token, as 64 hex characters (refresh tokens are stored hashed). */
void auth_token_hash(const char *token, char out[65]);
/* HMAC-SHA-256 with the server key, as 64 hex characters (API keys, client secrets). */
void auth_keyed_hash(const char *secret, char out[65]);
/* Constant-time equality of two NUL-terminated strings of equal expected length. */
bool auth_secret_equal(const char *a, const char *b);
/* Tells every process to reload its snapshot (NOTIFY strata_auth) — done by the changers. */
extern const char *const AUTH_NOTIFY_SQL;

int64_t auth_refresh_ttl_seconds(void);

/* Read-your-writes for auth changes: a handler that just committed a change (and its NOTIFY)
 * takes a ticket; the local snapshot has the change once auth_synced(ticket). Other processes
 * follow within the NOTIFY's latency (milliseconds). */
uint64_t auth_sync_ticket(void);
bool auth_synced(uint64_t ticket);

/* The JWKS document (public keys; empty "keys" for HS256). */
void auth_jwks(struct buf *out);

#endif
