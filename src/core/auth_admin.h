/*
 * auth_admin: the administration API for users, roles, API keys and the audit log (SPEC §4):
 *
 *   GET/POST   /api/v1/users            GET/PATCH /api/v1/users/{id}        users:admin
 *   GET        /api/v1/roles                                                users:admin
 *   GET/POST   /api/v1/api-keys         GET/DELETE /api/v1/api-keys/{id}    apikeys:admin
 *   GET        /api/v1/audit                                                audit:read
 *
 * Every change is one statement (CTEs make the user change, the refresh-token revocation and
 * the NOTIFY strata_auth atomic), writes an audit row, and reaches every process's auth
 * snapshot within seconds. Passwords are hashed on the workpool, never on the loop. Secrets
 * (passwords, API keys) are never logged or audited; an API key is shown once, at creation.
 *
 * Lists page by keyset with an opaque cursor: base64url of the last row's key plus a short
 * HMAC with the server key, so a tampered or foreign cursor is a 400, not a silent jump.
 *
 * Must not: block the loop, show SQL text, or let an admin lock themselves out (disable
 * themselves, or take away their own users:admin).
 */
#ifndef STRATA_AUTH_ADMIN_H
#define STRATA_AUTH_ADMIN_H

#include <stdbool.h>

#include "core/router.h"

extern const struct route auth_admin_routes[];

/* API keys: "stk_" + 12 hex characters (the public prefix that finds the row) + "_" + a
 * 32-byte random secret in base64url. */
#define AUTH_APIKEY_PREFIX_LEN 12
#define AUTH_APIKEY_MAX 96

/* A new key and its prefix (12 hex characters, as stored in api_keys.prefix). */
void auth_admin_apikey_new(char prefix[AUTH_APIKEY_PREFIX_LEN + 1], char key[AUTH_APIKEY_MAX]);

/* The users.username rule: 1-64 of [A-Za-z0-9._@-], starting with a letter or digit. */
bool auth_admin_username_valid(const char *name);

#endif
