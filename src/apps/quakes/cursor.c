#include "apps/quakes/cursor.h"

#include <math.h>
#include <stdbool.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "core/jwt.h"

#define CURSOR_VERSION 1
#define HEAD_LEN 11 /* version, ordering, 8-byte key, id length */

/* Times a cursor may carry: 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59.999999Z, the range
 * timefmt formats and parses, so the position always goes back to SQL as valid text. */
#define TIME_MIN_US (INT64_C(-62135596800) * 1000000)
#define TIME_MAX_US (INT64_C(253402300800) * 1000000 - 1)

const char *quake_order_name(enum quake_order o)
{
    switch (o) {
    case QUAKE_ORDER_TIME: return "time";
    case QUAKE_ORDER_TIME_ASC: return "time-asc";
    case QUAKE_ORDER_MAG: return "magnitude";
    case QUAKE_ORDER_MAG_ASC: return "magnitude-asc";
    }
    return "?";
}

/* Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing above U+10FFFF. The id
 * goes back to PostgreSQL as text, which would refuse anything else. */
static bool utf8_valid(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        size_t len;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xC2 && c <= 0xDF) {
            len = 2;
            cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            len = 3;
            cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            len = 4;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (n - i < len)
            return false;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10FFFF ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += len;
    }
    return true;
}

static bool mag_valid(double m)
{
    return !isnan(m) && !(isinf(m) && m > 0);
}

static uint64_t key_bits(const struct quake_cursor *c)
{
    if (quake_order_is_time(c->order))
        return (uint64_t)c->time_us;
    uint64_t u;
    memcpy(&u, &c->mag, sizeof u);
    return u;
}

static void mac(const unsigned char *key, size_t keylen, const unsigned char *msg, size_t n,
                unsigned char out[QUAKE_CURSOR_MAC_LEN])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    static const unsigned char empty = 0;
    if (!HMAC(EVP_sha256(), keylen ? key : &empty, (int)keylen, msg, n, md, &mdlen) ||
        mdlen < QUAKE_CURSOR_MAC_LEN) {
        /* OpenSSL cannot compute SHA-256: nothing can be signed or verified; fail closed. */
        memset(out, 0, QUAKE_CURSOR_MAC_LEN);
        return;
    }
    memcpy(out, md, QUAKE_CURSOR_MAC_LEN);
}

int quake_cursor_encode(const struct quake_cursor *c, const unsigned char *key, size_t keylen, struct buf *out)
{
    if ((unsigned)c->order >= QUAKE_ORDER_COUNT || c->id_len == 0 || c->id_len > QUAKE_CURSOR_ID_MAX ||
        memchr(c->id, '\0', c->id_len) || !utf8_valid((const unsigned char *)c->id, c->id_len))
        return STRATA_EINVAL;
    if (quake_order_is_time(c->order) ? c->time_us < TIME_MIN_US || c->time_us > TIME_MAX_US : !mag_valid(c->mag))
        return STRATA_EINVAL;
    unsigned char raw[QUAKE_CURSOR_RAW_MAX];
    size_t n = 0;
    raw[n++] = CURSOR_VERSION;
    raw[n++] = (unsigned char)c->order;
    uint64_t k = key_bits(c);
    for (int i = 7; i >= 0; i--)
        raw[n++] = (unsigned char)(k >> (8 * i));
    raw[n++] = (unsigned char)c->id_len;
    memcpy(raw + n, c->id, c->id_len);
    n += c->id_len;
    mac(key, keylen, raw, n, raw + n);
    n += QUAKE_CURSOR_MAC_LEN;
    jwt_b64url_encode(out, raw, n);
    return 0;
}

int quake_cursor_decode(const char *text, size_t len, const unsigned char *key, size_t keylen,
                        struct quake_cursor *out)
{
    memset(out, 0, sizeof *out);
    unsigned char raw[QUAKE_CURSOR_TEXT_MAX * 3 / 4 + 3];
    if (len == 0 || len > QUAKE_CURSOR_TEXT_MAX)
        return STRATA_EINVAL;
    long n = jwt_b64url_decode(raw, text, len);
    if (n < HEAD_LEN + 1 + QUAKE_CURSOR_MAC_LEN || n > QUAKE_CURSOR_RAW_MAX)
        return STRATA_EINVAL;
    size_t id_len = raw[10];
    if (raw[0] != CURSOR_VERSION || raw[1] >= QUAKE_ORDER_COUNT || id_len == 0 ||
        (size_t)n != HEAD_LEN + id_len + QUAKE_CURSOR_MAC_LEN)
        return STRATA_EINVAL;
    unsigned char want[QUAKE_CURSOR_MAC_LEN];
    mac(key, keylen, raw, (size_t)n - QUAKE_CURSOR_MAC_LEN, want);
    if (CRYPTO_memcmp(want, raw + n - QUAKE_CURSOR_MAC_LEN, QUAKE_CURSOR_MAC_LEN) != 0)
        return STRATA_EINVAL;

    /* Signed by us, so these hold unless the key leaked; checked anyway, so that a decoded
     * cursor is always safe to hand to SQL. */
    struct quake_cursor c = {.order = (enum quake_order)raw[1], .id_len = id_len};
    uint64_t k = 0;
    for (int i = 2; i < 10; i++)
        k = (k << 8) | raw[i];
    if (quake_order_is_time(c.order)) {
        c.time_us = (int64_t)k;
        if (c.time_us < TIME_MIN_US || c.time_us > TIME_MAX_US)
            return STRATA_EINVAL;
    } else {
        memcpy(&c.mag, &k, sizeof k);
        if (!mag_valid(c.mag))
            return STRATA_EINVAL;
    }
    if (memchr(raw + HEAD_LEN, '\0', id_len) || !utf8_valid(raw + HEAD_LEN, id_len))
        return STRATA_EINVAL;
    memcpy(c.id, raw + HEAD_LEN, id_len);
    c.id[id_len] = '\0';
    *out = c;
    return 0;
}
