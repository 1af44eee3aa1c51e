/*
 * password: Argon2id password hashes (libsodium crypto_pwhash_str, PHC string format with its
 * own salt and parameters, so the limits can be raised later without invalidating old hashes).
 * Blocking and memory-hungry by design: call from a workpool job or the CLI, never on an event
 * loop.
 */
#ifndef STRATA_PASSWORD_H
#define STRATA_PASSWORD_H

#include <stdbool.h>

#include "core/err.h"

#define PASSWORD_HASH_MAX 128

void password_register_config(void);
int password_hash(const char *password, char out[PASSWORD_HASH_MAX]) STRATA_MUST_CHECK;
bool password_verify(const char *hash, const char *password);
/* A hash of a random password with the current parameters: verifying against it costs what a
 * real verification costs, so an unknown username takes as long as a wrong password. */
const char *password_dummy_hash(void);
/* NULL when acceptable, else a user-facing reason: 12..256 bytes, at least 3 character
 * classes or 20+ bytes, not containing the username. */
const char *password_weakness(const char *password, const char *username);

#endif
