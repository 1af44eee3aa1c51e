/*
 * quake cursor: the opaque keyset cursor of GET /api/v1/earthquakes. It carries the ordering
 * and the position after the last event shown (its sort key and its id), signed with
 * HMAC-SHA-256 under a key the caller gives, so a client can neither forge a position nor
 * reuse one ordering's cursor for another without the server noticing.
 *
 * Wire form: base64url (no padding) of
 *   version (1 byte, 1) | ordering (1) | sort key (8, big-endian) | id length (1) | id |
 *   HMAC-SHA-256 of all the bytes before it, truncated to 16 bytes (RFC 2104 §5)
 * The sort key is the event time in microseconds since the epoch for the time orderings, and
 * the IEEE-754 binary64 bits of the magnitude (-Infinity: no magnitude) for the magnitude
 * orderings.
 *
 * Pure: no configuration, no I/O; the server derives its key from the auth server key
 * (api.c), tests and the fuzz target pass a fixed one. Must not accept a cursor whose MAC
 * does not verify, or one whose decoded fields could not have been produced by encode.
 */
#ifndef STRATA_QUAKES_CURSOR_H
#define STRATA_QUAKES_CURSOR_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"

enum quake_order {
    QUAKE_ORDER_TIME = 0,     /* newest first: time DESC, id DESC */
    QUAKE_ORDER_TIME_ASC = 1, /* time ASC, id ASC */
    QUAKE_ORDER_MAG = 2,      /* largest first: magnitude DESC, id DESC; no magnitude last */
    QUAKE_ORDER_MAG_ASC = 3,  /* magnitude ASC, id ASC; no magnitude first */
};
#define QUAKE_ORDER_COUNT 4

#define QUAKE_CURSOR_ID_MAX 255 /* bytes of an event id a cursor can carry */
#define QUAKE_CURSOR_MAC_LEN 16
#define QUAKE_CURSOR_RAW_MAX (1 + 1 + 8 + 1 + QUAKE_CURSOR_ID_MAX + QUAKE_CURSOR_MAC_LEN)
#define QUAKE_CURSOR_TEXT_MAX 384 /* base64url of QUAKE_CURSOR_RAW_MAX bytes, rounded up */

struct quake_cursor {
    enum quake_order order;
    int64_t time_us; /* time orderings: the last event's time */
    double mag;      /* magnitude orderings: the last event's magnitude, -INFINITY when none */
    size_t id_len;
    char id[QUAKE_CURSOR_ID_MAX + 1]; /* NUL-terminated; no NUL inside */
};

/* The ordering's name in the API ("time", "time-asc", "magnitude", "magnitude-asc"). */
const char *quake_order_name(enum quake_order o);
static inline int quake_order_is_time(enum quake_order o)
{
    return o == QUAKE_ORDER_TIME || o == QUAKE_ORDER_TIME_ASC;
}

/* Appends the cursor text to out. STRATA_EINVAL when c cannot be encoded (id empty, longer
 * than QUAKE_CURSOR_ID_MAX or containing NUL, magnitude NaN or +Infinity, ordering unknown);
 * out is then unchanged. */
int quake_cursor_encode(const struct quake_cursor *c, const unsigned char *key, size_t keylen,
                        struct buf *out) STRATA_MUST_CHECK;

/* Parses text[0..len). 0 and *out filled, or STRATA_EINVAL for anything encode could not have
 * produced under this key (bad base64url, wrong length or version, MAC mismatch, an id with
 * NUL or invalid UTF-8, a magnitude that is NaN or +Infinity, a time outside years
 * 0001..9999). On failure *out is zeroed. */
int quake_cursor_decode(const char *text, size_t len, const unsigned char *key, size_t keylen,
                        struct quake_cursor *out) STRATA_MUST_CHECK;

#endif
