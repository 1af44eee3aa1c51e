/* Unit tests for apps/quakes/cursor: round trips for every ordering, one spelling per cursor,
 * and refusal of everything encode could not have produced under the key. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "apps/quakes/cursor.h"
#include "core/buf.h"
#include "core/jwt.h"

static const unsigned char key[32] = "unit-test-quake-cursor-key-32byt";
static const unsigned char key2[32] = "unit-test-quake-cursor-key-32byX";

static struct quake_cursor make(enum quake_order o, int64_t t, double m, const char *id)
{
    struct quake_cursor c = {.order = o, .time_us = t, .mag = m, .id_len = strlen(id)};
    memcpy(c.id, id, c.id_len + 1);
    return c;
}

static void encode_ok(const struct quake_cursor *c, struct buf *out)
{
    buf_init(out);
    assert_int_equal(quake_cursor_encode(c, key, sizeof key, out), 0);
    assert_true(out->len > 0 && out->len <= QUAKE_CURSOR_TEXT_MAX);
}

static void assert_rejected(const char *text, size_t len)
{
    struct quake_cursor c;
    c.id_len = 99;
    assert_int_equal(quake_cursor_decode(text, len, key, sizeof key, &c), STRATA_EINVAL);
    assert_int_equal(c.id_len, 0); /* zeroed on failure */
}

/* Cursor text for arbitrary pre-MAC bytes, correctly signed: reaches the checks behind the MAC. */
static void sign_raw(struct buf *out, const unsigned char *raw, size_t n)
{
    unsigned char all[512], md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    assert_true(n + QUAKE_CURSOR_MAC_LEN <= sizeof all);
    memcpy(all, raw, n);
    assert_non_null(HMAC(EVP_sha256(), key, sizeof key, raw, n, md, &mdlen));
    memcpy(all + n, md, QUAKE_CURSOR_MAC_LEN);
    buf_init(out);
    jwt_b64url_encode(out, all, n + QUAKE_CURSOR_MAC_LEN);
}

static size_t raw_head(unsigned char *raw, unsigned version, unsigned order, uint64_t k, const char *id, size_t id_len)
{
    size_t n = 0;
    raw[n++] = (unsigned char)version;
    raw[n++] = (unsigned char)order;
    for (int i = 7; i >= 0; i--)
        raw[n++] = (unsigned char)(k >> (8 * i));
    raw[n++] = (unsigned char)id_len;
    memcpy(raw + n, id, id_len);
    return n + id_len;
}

static void test_round_trip_every_ordering(void **state)
{
    (void)state;
    const struct quake_cursor cases[] = {
        make(QUAKE_ORDER_TIME, INT64_C(1691117533180000), 0, "nc73919986"),
        make(QUAKE_ORDER_TIME_ASC, INT64_C(-86400000000), 0, "old"),
        make(QUAKE_ORDER_MAG, 0, 4.5, "us7000kg30"),
        make(QUAKE_ORDER_MAG, 0, -0.25, "ak023"),
        make(QUAKE_ORDER_MAG_ASC, 0, -INFINITY, "no-magnitude"),
        make(QUAKE_ORDER_MAG_ASC, 0, 1.32, "s\xc3\xa9isme-\xe6\x9d\xb1"),
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct buf t;
        encode_ok(&cases[i], &t);
        struct quake_cursor back;
        assert_int_equal(quake_cursor_decode(t.data, t.len, key, sizeof key, &back), 0);
        assert_int_equal(back.order, cases[i].order);
        assert_int_equal(back.id_len, cases[i].id_len);
        assert_string_equal(back.id, cases[i].id);
        if (quake_order_is_time(back.order))
            assert_int_equal(back.time_us, cases[i].time_us);
        else
            assert_memory_equal(&back.mag, &cases[i].mag, sizeof back.mag);
        /* base64url alphabet only, no padding */
        assert_int_equal(strspn(t.data, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"), t.len);
        buf_cleanup(&t);
    }
}

static void test_longest_id(void **state)
{
    (void)state;
    char id[QUAKE_CURSOR_ID_MAX + 2];
    memset(id, 'x', sizeof id - 1);
    id[QUAKE_CURSOR_ID_MAX] = '\0';
    struct quake_cursor c = make(QUAKE_ORDER_TIME, 1, 0, id);
    struct buf t;
    encode_ok(&c, &t);
    struct quake_cursor back;
    assert_int_equal(quake_cursor_decode(t.data, t.len, key, sizeof key, &back), 0);
    assert_int_equal(back.id_len, QUAKE_CURSOR_ID_MAX);
    buf_cleanup(&t);
}

static void test_encode_refuses(void **state)
{
    (void)state;
    struct buf out;
    buf_init(&out);
    struct quake_cursor c = make(QUAKE_ORDER_TIME, 1, 0, "");
    assert_int_equal(quake_cursor_encode(&c, key, sizeof key, &out), STRATA_EINVAL); /* empty id */
    c = make(QUAKE_ORDER_MAG, 0, NAN, "a");
    assert_int_equal(quake_cursor_encode(&c, key, sizeof key, &out), STRATA_EINVAL);
    c = make(QUAKE_ORDER_MAG, 0, INFINITY, "a");
    assert_int_equal(quake_cursor_encode(&c, key, sizeof key, &out), STRATA_EINVAL);
    c = make(QUAKE_ORDER_TIME, INT64_C(253402300800000000), 0, "a"); /* year 10000 */
    assert_int_equal(quake_cursor_encode(&c, key, sizeof key, &out), STRATA_EINVAL);
    c = make(QUAKE_ORDER_TIME, 1, 0, "a\xc0\xaf"); /* overlong '/' */
    assert_int_equal(quake_cursor_encode(&c, key, sizeof key, &out), STRATA_EINVAL);
    c = make(QUAKE_ORDER_TIME, 1, 0, "ab");
    c.id[1] = '\0'; /* NUL inside the id */
    assert_int_equal(quake_cursor_encode(&c, key, sizeof key, &out), STRATA_EINVAL);
    c = make(QUAKE_ORDER_TIME, 1, 0, "a");
    c.id_len = QUAKE_CURSOR_ID_MAX + 1;
    assert_int_equal(quake_cursor_encode(&c, key, sizeof key, &out), STRATA_EINVAL);
    c = make((enum quake_order)4, 1, 0, "a");
    assert_int_equal(quake_cursor_encode(&c, key, sizeof key, &out), STRATA_EINVAL);
    assert_int_equal(out.len, 0); /* untouched */
    buf_cleanup(&out);
}

static void test_every_byte_flip_is_refused(void **state)
{
    (void)state;
    struct quake_cursor c = make(QUAKE_ORDER_MAG, 0, 6.1, "us7000kg30");
    struct buf t;
    encode_ok(&c, &t);
    unsigned char raw[QUAKE_CURSOR_RAW_MAX];
    long n = jwt_b64url_decode(raw, t.data, t.len);
    assert_true(n > 0);
    for (long i = 0; i < n; i++) {
        for (int bit = 0; bit < 8; bit++) {
            raw[i] ^= (unsigned char)(1u << bit);
            struct buf m;
            buf_init(&m);
            jwt_b64url_encode(&m, raw, (size_t)n);
            assert_rejected(m.data, m.len);
            buf_cleanup(&m);
            raw[i] ^= (unsigned char)(1u << bit);
        }
    }
    /* truncated or extended by one byte */
    struct buf m;
    buf_init(&m);
    jwt_b64url_encode(&m, raw, (size_t)n - 1);
    assert_rejected(m.data, m.len);
    buf_reset(&m);
    raw[n] = 0;
    jwt_b64url_encode(&m, raw, (size_t)n + 1);
    assert_rejected(m.data, m.len);
    buf_cleanup(&m);
    buf_cleanup(&t);
}

static void test_other_key_refused(void **state)
{
    (void)state;
    struct quake_cursor c = make(QUAKE_ORDER_TIME, 42, 0, "nc1");
    struct buf t;
    encode_ok(&c, &t);
    struct quake_cursor back;
    assert_int_equal(quake_cursor_decode(t.data, t.len, key2, sizeof key2, &back), STRATA_EINVAL);
    assert_int_equal(quake_cursor_decode(t.data, t.len, key, sizeof key - 1, &back), STRATA_EINVAL);
    buf_cleanup(&t);
}

static void test_text_forms_refused(void **state)
{
    (void)state;
    struct quake_cursor c = make(QUAKE_ORDER_TIME, 42, 0, "nc1");
    struct buf t;
    encode_ok(&c, &t);
    char s[QUAKE_CURSOR_TEXT_MAX + 8];
    memcpy(s, t.data, t.len);
    memcpy(s + t.len, "==", 2);
    assert_rejected(s, t.len + 2);                /* padding */
    assert_rejected(t.data, t.len - 1);           /* truncated text */
    memcpy(s, t.data, t.len);
    s[3] = '+';                                   /* standard alphabet */
    assert_rejected(s, t.len);
    s[3] = '\0';                                  /* NUL byte */
    assert_rejected(s, t.len);
    assert_rejected("", 0);
    assert_rejected("not a cursor", 12);
    char long_text[QUAKE_CURSOR_TEXT_MAX + 2];
    memset(long_text, 'A', sizeof long_text);
    assert_rejected(long_text, sizeof long_text);
    buf_cleanup(&t);
}

/* Correctly signed, but not something encode produces: refused behind the MAC. */
static void test_signed_but_invalid(void **state)
{
    (void)state;
    unsigned char raw[400];
    struct buf t;
    struct {
        unsigned version, order;
        uint64_t k;
        const char *id;
        size_t id_len;
    } cases[] = {
        {2, 0, 1, "a", 1},                             /* version */
        {1, 4, 1, "a", 1},                             /* ordering */
        {1, 0, 1, "", 0},                              /* empty id */
        {1, 0, 1, "a\0b", 3},                          /* NUL in id */
        {1, 0, 1, "\xed\xa0\x80", 3},                  /* surrogate */
        {1, 0, 1, "\xf4\x90\x80\x80", 4},              /* above U+10FFFF */
        {1, 0, 1, "\xe2\x82", 2},                      /* truncated sequence */
        {1, 2, UINT64_C(0x7ff8000000000000), "a", 1},  /* NaN magnitude */
        {1, 2, UINT64_C(0xfff8000000000001), "a", 1},  /* negative NaN */
        {1, 3, UINT64_C(0x7ff0000000000000), "a", 1},  /* +Infinity */
        {1, 0, UINT64_C(253402300800000000), "a", 1},  /* year 10000 */
        {1, 1, (uint64_t)INT64_MIN, "a", 1},           /* before year 1 */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t n = raw_head(raw, cases[i].version, cases[i].order, cases[i].k, cases[i].id, cases[i].id_len);
        sign_raw(&t, raw, n);
        assert_rejected(t.data, t.len);
        buf_cleanup(&t);
    }
    /* the id length byte disagreeing with the data */
    size_t n = raw_head(raw, 1, 0, 1, "abc", 3);
    raw[10] = 4;
    sign_raw(&t, raw, n);
    assert_rejected(t.data, t.len);
    buf_cleanup(&t);
    /* and the same bytes with everything right decode (the cases above fail for their reason) */
    n = raw_head(raw, 1, 3, UINT64_C(0xfff0000000000000), "a", 1);
    sign_raw(&t, raw, n);
    struct quake_cursor c;
    assert_int_equal(quake_cursor_decode(t.data, t.len, key, sizeof key, &c), 0);
    assert_true(isinf(c.mag) && c.mag < 0);
    buf_cleanup(&t);
}

static void test_order_names(void **state)
{
    (void)state;
    assert_string_equal(quake_order_name(QUAKE_ORDER_TIME), "time");
    assert_string_equal(quake_order_name(QUAKE_ORDER_TIME_ASC), "time-asc");
    assert_string_equal(quake_order_name(QUAKE_ORDER_MAG), "magnitude");
    assert_string_equal(quake_order_name(QUAKE_ORDER_MAG_ASC), "magnitude-asc");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_every_ordering),
        cmocka_unit_test(test_longest_id),
        cmocka_unit_test(test_encode_refuses),
        cmocka_unit_test(test_every_byte_flip_is_refused),
        cmocka_unit_test(test_other_key_refused),
        cmocka_unit_test(test_text_forms_refused),
        cmocka_unit_test(test_signed_but_invalid),
        cmocka_unit_test(test_order_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
