/*
 * auth_cli: the operator's commands for users, OAuth2 clients and API keys, and the admin
 * bootstrap at start (SPEC §2, §4):
 *
 *   strata user add NAME --role ROLE [--password-stdin]
 *   strata user passwd NAME [--password-stdin]
 *   strata user disable NAME | enable NAME | list
 *   strata client add NAME --role ROLE     (prints client_id and client_secret once)
 *   strata client list | revoke NAME
 *   strata apikey create NAME --role ROLE [--expires RFC3339]   (prints the key once)
 *   strata apikey list | revoke ID
 *
 * Passwords come from stdin with --password-stdin, else from the terminal (asked twice,
 * without echo) when stdin is one, else from the first line of stdin. Every change is one
 * statement that also writes its audit row (actor "cli") and NOTIFYs strata_auth, so it is
 * all or nothing and every server picks it up within seconds.
 *
 * Blocking libpq, for the command line only: must not run on an event loop. Never prints SQL
 * for expected failures (duplicates, unknown names), never logs a secret.
 */
#ifndef STRATA_AUTH_CLI_H
#define STRATA_AUTH_CLI_H

#include <stddef.h>

#include "core/err.h"

/* cmd: "user", "client" or "apikey"; argv[0] is cmd, argv[1] the action. Settings must be
 * loaded (config_load). Returns the exit status: 0 done, 1 failed (message on stderr),
 * 2 usage. */
int auth_cli_main(const char *cmd, int argc, char **argv);

/* At start (after migrations, before serving): when admin_user is set, creates that user
 * with role admin, or resets its password, role and disabled flag to match admin_password;
 * with admin_user but no admin_password, creates the user (only if new) with a generated
 * password printed once to stdout: "admin password for <name>: <password>". Audited as
 * user.bootstrap (actor "system"). Blocking (Argon2id, libpq). 0, or an error with err set. */
int auth_bootstrap_admin(char *err, size_t errlen) STRATA_MUST_CHECK;

#endif
