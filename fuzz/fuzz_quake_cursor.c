/*
 * fuzz_quake_cursor: the keyset cursor of GET /api/v1/earthquakes, which the server reads back
 * from attacker-chosen query strings. Under a fixed key, each input is used three ways:
 *   1. as cursor text: decoding must not crash; whatever decodes must be what encode gives for
 *      the decoded cursor, byte for byte (one spelling per cursor, no malleable encodings),
 *      and must not decode under another key (only the seeds, signed offline with this key,
 *      get that far: anything else that decodes is a forgery);
 *   2. as the bytes of a cursor before its MAC: they are signed here with the key, encoded and
 *      decoded, which drives the checks behind the MAC (version, ordering, lengths, the sort
 *      key, the id's UTF-8) with arbitrary content; a success must again re-encode the same;
 *   3. as the fields of a cursor (ordering, key, id): encode then decode must give the cursor
 *      back whenever encode accepts it.
 * The key is a fuzzing key and protects nothing.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "apps/quakes/cursor.h"
#include "core/buf.h"
#include "core/jwt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const unsigned char key[32] = "strata-fuzz-quake-cursor-key-32b";
static const unsigned char other_key[32] = "strata-fuzz-quake-cursor-key-XXX";

static void check_canonical(const char *text, size_t len, const struct quake_cursor *c)
{
    struct buf again;
    buf_init(&again);
    if (quake_cursor_encode(c, key, sizeof key, &again) != 0 || again.len != len || memcmp(again.data, text, len))
        abort();
    buf_cleanup(&again);
    struct quake_cursor other;
    if (quake_cursor_decode(text, len, other_key, sizeof other_key, &other) == 0)
        abort();
}

static void as_text(const uint8_t *data, size_t size)
{
    struct quake_cursor c;
    if (quake_cursor_decode((const char *)data, size, key, sizeof key, &c) == 0) {
        if (strlen(c.id) != c.id_len || c.id_len == 0)
            abort();
        check_canonical((const char *)data, size, &c);
    }
}

static void as_payload(const uint8_t *data, size_t size)
{
    if (size > QUAKE_CURSOR_RAW_MAX)
        return;
    unsigned char raw[QUAKE_CURSOR_RAW_MAX + EVP_MAX_MD_SIZE];
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    memcpy(raw, data, size);
    if (!HMAC(EVP_sha256(), key, sizeof key, raw, size, md, &mdlen))
        abort();
    memcpy(raw + size, md, QUAKE_CURSOR_MAC_LEN);
    struct buf text;
    buf_init(&text);
    jwt_b64url_encode(&text, raw, size + QUAKE_CURSOR_MAC_LEN);
    struct quake_cursor c;
    if (quake_cursor_decode(text.data, text.len, key, sizeof key, &c) == 0)
        check_canonical(text.data, text.len, &c);
    buf_cleanup(&text);
}

static void as_fields(const uint8_t *data, size_t size)
{
    if (size < 9)
        return;
    struct quake_cursor c = {.order = (enum quake_order)(data[0] % QUAKE_ORDER_COUNT)};
    uint64_t k = 0;
    for (int i = 1; i < 9; i++)
        k = (k << 8) | data[i];
    c.time_us = (int64_t)k;
    memcpy(&c.mag, &k, sizeof k);
    c.id_len = size - 9 > QUAKE_CURSOR_ID_MAX ? QUAKE_CURSOR_ID_MAX + 1 : size - 9;
    memcpy(c.id, data + 9, c.id_len > QUAKE_CURSOR_ID_MAX ? QUAKE_CURSOR_ID_MAX : c.id_len);
    struct buf text;
    buf_init(&text);
    if (quake_cursor_encode(&c, key, sizeof key, &text) == 0) {
        if (c.id_len > QUAKE_CURSOR_ID_MAX || text.len > QUAKE_CURSOR_TEXT_MAX)
            abort();
        struct quake_cursor back;
        if (quake_cursor_decode(text.data, text.len, key, sizeof key, &back) != 0 || back.order != c.order ||
            back.id_len != c.id_len || memcmp(back.id, c.id, c.id_len))
            abort();
        if (quake_order_is_time(c.order) ? back.time_us != c.time_us : memcmp(&back.mag, &c.mag, sizeof c.mag))
            abort();
    } else if (text.len != 0) {
        abort(); /* a refused cursor leaves out unchanged */
    }
    buf_cleanup(&text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    as_text(data, size);
    as_payload(data, size);
    as_fields(data, size);
    return 0;
}
