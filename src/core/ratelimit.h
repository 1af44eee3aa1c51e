/*
 * ratelimit: token buckets keyed by a string (a client address, a username), for limits such
 * as the token endpoint's per-address and per-username rates (SPEC §4).
 *
 * Each key has a bucket holding up to `burst` tokens that refills at `per_minute` tokens a
 * minute; a request takes one token or is refused with the time until one is back. A key
 * seen for the first time starts with a full bucket.
 *
 * Memory is bounded: at most `capacity` buckets (rounded up to a multiple of the stripe
 * count) exist at once. When a new key arrives and its stripe is full, the least recently
 * used bucket of that stripe is dropped. Dropping a bucket that had refilled loses nothing (a
 * full bucket and no bucket behave alike); dropping one that had not is the price of the
 * bound, so choose capacity above the number of keys active within burst/per_minute minutes.
 *
 * Thread-safe: the table is split into stripes, each behind its own mutex, so loops rarely
 * contend. Keys are copied; callers bound their length. Time is the caller's (monotonic
 * milliseconds), which keeps the module pure and testable.
 *
 * Must not: know about HTTP, allocate per call once a key has a bucket, or block for long.
 */
#ifndef STRATA_RATELIMIT_H
#define STRATA_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ratelimit;

/* per_minute >= 1 tokens a minute, burst >= 1 tokens at most, capacity >= 1 buckets. */
struct ratelimit *ratelimit_new(unsigned per_minute, unsigned burst, size_t capacity);
void ratelimit_free(struct ratelimit *rl); /* NULL is a no-op */

/* Takes one token from key's bucket at time now_ms. true: allowed. false: refused, and
 * *retry_after_ms (if not NULL) gets the milliseconds until a token is available (>= 1). */
bool ratelimit_take(struct ratelimit *rl, const char *key, int64_t now_ms, int64_t *retry_after_ms);

/* Buckets held now (for tests and metrics). */
size_t ratelimit_size(struct ratelimit *rl);
/* Buckets dropped before they had refilled, since ratelimit_new (capacity too small). */
uint64_t ratelimit_evictions(struct ratelimit *rl);

#endif
