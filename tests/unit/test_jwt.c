/*
 * Unit tests for core/jwt: round trips for HS256/RS256/ES256, known-answer vectors, the attacks
 * the verifier must stop (alg:none, algorithm confusion, tampering, malleable encodings), time
 * and audience rules, strict parsing, key checks and JWK output. Keys are generated at run time
 * with OpenSSL; no key file is committed.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "core/buf.h"
#include "core/jwt.h"

#define NOW 1700000000LL
#define LEEWAY 30

/*
 * Known-answer material. The key is the HMAC key of RFC 7515 appendix A.1 (its JWK "k"
 * base64url-decoded, 64 bytes). RFC_A1_TOKEN is that appendix's complete JWS (header
 * {"typ":"JWT",\r\n "alg":"HS256"}, payload {"iss":"joe",\r\n "exp":1300819380,...}).
 * KAT_TOKEN was computed independently at development time with the OpenSSL CLI:
 *   H=$(printf '%s' '{"alg":"HS256","typ":"JWT"}' | basenc --base64url | tr -d '=\n')
 *   P=$(printf '%s' '<KAT payload below>' | basenc --base64url -w0 | tr -d '=')
 *   printf '%s' "$H.$P" | openssl dgst -sha256 -mac HMAC -macopt hexkey:<key hex> -binary \
 *     | basenc --base64url | tr -d '=\n'
 * (the same command reproduces the RFC's signature dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk).
 */
static const unsigned char rfc_key[64] = {
    0x03, 0x23, 0x35, 0x4b, 0x2b, 0x0f, 0xa5, 0xbc, 0x83, 0x7e, 0x06, 0x65, 0x77, 0x7b, 0xa6, 0x8f,
    0x5a, 0xb3, 0x28, 0xe6, 0xf0, 0x54, 0xc9, 0x28, 0xa9, 0x0f, 0x84, 0xb2, 0xd2, 0x50, 0x2e, 0xbf,
    0xd3, 0xfb, 0x5a, 0x92, 0xd2, 0x06, 0x47, 0xef, 0x96, 0x8a, 0xb4, 0xc3, 0x77, 0x62, 0x3d, 0x22,
    0x3d, 0x2e, 0x21, 0x72, 0x05, 0x2e, 0x4f, 0x08, 0xc0, 0xcd, 0x9a, 0xf5, 0x67, 0xd0, 0x80, 0xa3,
};
static const char rfc_a1_token[] =
    "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9"
    ".eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ"
    ".dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
/* payload: {"sub":"user-42","iss":"strata","aud":"strata-api","exp":2000000000,
 *           "iat":1700000000,"nbf":1700000000} */
static const char kat_token[] =
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"
    ".eyJzdWIiOiJ1c2VyLTQyIiwiaXNzIjoic3RyYXRhIiwiYXVkIjoic3RyYXRhLWFwaSIsImV4cCI6MjAwMDAwMDAwMCwi"
    "aWF0IjoxNzAwMDAwMDAwLCJuYmYiOjE3MDAwMDAwMDB9"
    ".DyidPtctDUZKtBdGD6_VfrYI9NIZNgCOJ3kBkZbqhOQ";

/* Keys made once for the whole run (RSA generation is the slow part). */
static EVP_PKEY *rsa_pkey, *ec_pkey;
static char *rsa_priv_pem, *rsa_pub_pem, *ec_priv_pem, *ec_pub_pem;
static struct jwt_key *hs, *rs, *rs_pub, *es, *es_pub;

static char *pem_of(EVP_PKEY *pkey, int private, const EVP_CIPHER *enc)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *p = NULL;
    int ok = private ? PEM_write_bio_PrivateKey(bio, pkey, enc, enc ? (unsigned char *)"secret" : NULL,
                                                enc ? 6 : 0, NULL, NULL)
                     : PEM_write_bio_PUBKEY(bio, pkey);
    assert_int_equal(ok, 1);
    long n = BIO_get_mem_data(bio, &p);
    char *s = malloc((size_t)n + 1);
    memcpy(s, p, (size_t)n);
    s[n] = '\0';
    BIO_free(bio);
    return s;
}

static struct jwt_key *key_from(enum jwt_alg alg, const char *pem)
{
    char err[128] = "";
    struct jwt_key *k = jwt_key_pem(alg, pem, strlen(pem), err, sizeof(err));
    if (!k)
        fail_msg("jwt_key_pem: %s", err);
    return k;
}

static int setup(void **state)
{
    (void)state;
    rsa_pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    ec_pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    if (!rsa_pkey || !ec_pkey)
        return -1;
    rsa_priv_pem = pem_of(rsa_pkey, 1, NULL);
    rsa_pub_pem = pem_of(rsa_pkey, 0, NULL);
    ec_priv_pem = pem_of(ec_pkey, 1, NULL);
    ec_pub_pem = pem_of(ec_pkey, 0, NULL);
    hs = jwt_key_hs256(rfc_key, sizeof(rfc_key));
    rs = key_from(JWT_RS256, rsa_priv_pem);
    rs_pub = key_from(JWT_RS256, rsa_pub_pem);
    es = key_from(JWT_ES256, ec_priv_pem);
    es_pub = key_from(JWT_ES256, ec_pub_pem);
    return hs ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    jwt_key_free(hs);
    jwt_key_free(rs);
    jwt_key_free(rs_pub);
    jwt_key_free(es);
    jwt_key_free(es_pub);
    free(rsa_priv_pem);
    free(rsa_pub_pem);
    free(ec_priv_pem);
    free(ec_pub_pem);
    EVP_PKEY_free(rsa_pkey);
    EVP_PKEY_free(ec_pkey);
    return 0;
}

/* --- helpers ---------------------------------------------------------------------------- */

static const struct jwt_verify_opts default_opts = {
    .issuer = "strata", .audience = "strata-api", .now = NOW, .leeway = LEEWAY};

static json_t *good_claims(void)
{
    return json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:s}", "sub", "user-42", "iss", "strata",
                     "aud", "strata-api", "exp", (json_int_t)(NOW + 900), "iat", (json_int_t)NOW,
                     "nbf", (json_int_t)NOW, "jti", "j1");
}

static enum jwt_error verify_opts(const struct jwt_key *k, const char *tok,
                                  const struct jwt_verify_opts *o)
{
    json_t *c = (json_t *)1;
    enum jwt_error e = jwt_verify(k, tok, strlen(tok), o, &c);
    if (e == JWT_OK) {
        assert_true(json_is_object(c));
        json_decref(c);
    } else {
        assert_null(c); /* nothing for the caller to free on failure */
    }
    return e;
}

static enum jwt_error verify(const struct jwt_key *k, const char *tok)
{
    return verify_opts(k, tok, &default_opts);
}

static char *sign(const struct jwt_key *k, json_t *claims)
{
    struct buf b;
    buf_init(&b);
    assert_int_equal(jwt_sign(k, NULL, claims, &b), 0);
    json_decref(claims);
    return buf_steal(&b, NULL);
}

static void put_b64(struct buf *b, const char *s)
{
    jwt_b64url_encode(b, (const unsigned char *)s, strlen(s));
}

/* header.payload.sig from literal JSON texts and an already encoded signature */
static char *assemble(const char *hdr, const char *payload, const char *sig_b64)
{
    struct buf b;
    buf_init(&b);
    put_b64(&b, hdr);
    buf_putc(&b, '.');
    put_b64(&b, payload);
    buf_putc(&b, '.');
    buf_puts(&b, sig_b64);
    return buf_steal(&b, NULL);
}

/* A token MACed here, with OpenSSL directly, so that tests do not trust jwt_sign. */
static char *forge_hs(const void *key, size_t klen, const char *hdr, const char *payload)
{
    struct buf b;
    unsigned char mac[32];
    unsigned int n = 0;
    buf_init(&b);
    put_b64(&b, hdr);
    buf_putc(&b, '.');
    put_b64(&b, payload);
    assert_non_null(HMAC(EVP_sha256(), key, (int)klen, (unsigned char *)b.data, b.len, mac, &n));
    buf_putc(&b, '.');
    jwt_b64url_encode(&b, mac, n);
    return buf_steal(&b, NULL);
}

static const char good_payload[] =
    "{\"sub\":\"user-42\",\"iss\":\"strata\",\"aud\":\"strata-api\",\"exp\":1700000900}";
static const char hs_header[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";

static enum jwt_error verify_hs_payload(const char *payload)
{
    char *t = forge_hs(rfc_key, sizeof(rfc_key), hs_header, payload);
    enum jwt_error e = verify(hs, t);
    free(t);
    return e;
}

static enum jwt_error verify_hs_header(const char *hdr)
{
    char *t = forge_hs(rfc_key, sizeof(rfc_key), hdr, good_payload);
    enum jwt_error e = verify(hs, t);
    free(t);
    return e;
}

/* the three parts of a token, split at its dots (each a copy) */
struct parts {
    char *h, *p, *s;
};

static struct parts split(const char *tok)
{
    struct parts x;
    const char *d1 = strchr(tok, '.');
    const char *d2 = strchr(d1 + 1, '.');
    x.h = strndup(tok, (size_t)(d1 - tok));
    x.p = strndup(d1 + 1, (size_t)(d2 - d1 - 1));
    x.s = strdup(d2 + 1);
    return x;
}

static void parts_free(struct parts *x)
{
    free(x->h);
    free(x->p);
    free(x->s);
}

static char *join(const char *h, const char *p, const char *s)
{
    struct buf b;
    buf_init(&b);
    buf_printf(&b, "%s.%s.%s", h, p, s);
    return buf_steal(&b, NULL);
}

static unsigned char *b64dec(const char *s, long *n)
{
    unsigned char *out = malloc(strlen(s) * 3 / 4 + 3);
    *n = jwt_b64url_decode(out, s, strlen(s));
    assert_true(*n >= 0);
    return out;
}

/* --- base64url ---------------------------------------------------------------------------- */

static void test_b64url_vectors(void **state)
{
    (void)state;
    /* RFC 4648 §10, without padding */
    static const char *const plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *const coded[] = {"", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy"};
    unsigned char out[16];
    for (size_t i = 0; i < 7; i++) {
        struct buf b;
        buf_init(&b);
        put_b64(&b, plain[i]);
        assert_string_equal(b.data ? b.data : "", coded[i]);
        buf_cleanup(&b);
        assert_int_equal(jwt_b64url_decode(out, coded[i], strlen(coded[i])), strlen(plain[i]));
        assert_memory_equal(out, plain[i], strlen(plain[i]));
    }
    /* the URL-safe alphabet: 0xfb 0xff -> "-_8" */
    struct buf b;
    buf_init(&b);
    jwt_b64url_encode(&b, (const unsigned char *)"\xfb\xff", 2);
    assert_string_equal(b.data, "-_8");
    buf_cleanup(&b);
    assert_int_equal(jwt_b64url_decode(out, "-_8", 3), 2);
    assert_int_equal(out[0], 0xfb);
    assert_int_equal(out[1], 0xff);

    static const char *const bad[] = {
        "Zg==", "Zm8=", "Zg=", "Z", "Zm9vY", /* padding, impossible lengths */
        "+_8", "/_8", "Zm 9v", "Zm9v\n", "Zm9v.",   /* standard alphabet, space, others */
        "Zh", "Zm9",                                  /* not canonical: unused bits set */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(jwt_b64url_decode(out, bad[i], strlen(bad[i])), -1);
    assert_int_equal(jwt_b64url_decode(out, "Zm\0v", 4), -1);
}

/* --- round trips ---------------------------------------------------------------------------- */

static void round_trip(const struct jwt_key *signer, const struct jwt_key *verifier)
{
    json_t *want = good_claims();
    struct buf b;
    json_t *got = NULL;
    buf_init(&b);
    assert_int_equal(jwt_sign(signer, "key-1", want, &b), 0);
    assert_int_equal(jwt_verify(verifier, b.data, b.len, &default_opts, &got), JWT_OK);
    assert_true(json_equal(want, got));

    /* the header is exactly what the header file promises */
    struct parts x = split(b.data);
    long n;
    unsigned char *h = b64dec(x.h, &n);
    json_t *hdr = json_loadb((char *)h, (size_t)n, 0, NULL);
    assert_non_null(hdr);
    assert_string_equal(json_string_value(json_object_get(hdr, "alg")),
                        jwt_key_alg(signer) == JWT_HS256   ? "HS256"
                        : jwt_key_alg(signer) == JWT_RS256 ? "RS256"
                                                           : "ES256");
    assert_string_equal(json_string_value(json_object_get(hdr, "typ")), "JWT");
    assert_string_equal(json_string_value(json_object_get(hdr, "kid")), "key-1");
    assert_int_equal(json_object_size(hdr), 3);
    json_decref(hdr);
    free(h);
    parts_free(&x);

    json_decref(want);
    json_decref(got);
    buf_cleanup(&b);
}

static void test_round_trip_hs256(void **state)
{
    (void)state;
    round_trip(hs, hs);
}

static void test_round_trip_rs256(void **state)
{
    (void)state;
    round_trip(rs, rs);
    round_trip(rs, rs_pub);
    assert_int_equal(jwt_key_alg(rs_pub), JWT_RS256);
}

static void test_round_trip_es256(void **state)
{
    (void)state;
    round_trip(es, es);
    round_trip(es, es_pub);
    assert_int_equal(jwt_key_alg(es_pub), JWT_ES256);
    /* raw R||S, not DER */
    char *t = sign(es, good_claims());
    struct parts x = split(t);
    long n;
    free(b64dec(x.s, &n));
    assert_int_equal(n, 64);
    parts_free(&x);
    free(t);
}

static void test_round_trip_claims_optional(void **state)
{
    (void)state;
    /* claims may be NULL when the caller only wants the verdict */
    char *t = sign(hs, good_claims());
    assert_int_equal(jwt_verify(hs, t, strlen(t), &default_opts, NULL), JWT_OK);
    free(t);
}

/* --- known answers --------------------------------------------------------------------------- */

static void test_hs256_known_answer_sign(void **state)
{
    (void)state;
    json_t *c = json_pack("{s:s, s:s, s:s, s:I, s:I, s:I}", "sub", "user-42", "iss", "strata", "aud",
                          "strata-api", "exp", (json_int_t)2000000000, "iat",
                          (json_int_t)1700000000, "nbf", (json_int_t)1700000000);
    char *t = sign(hs, c);
    assert_string_equal(t, kat_token);
    free(t);
}

static void test_hs256_known_answer_verify(void **state)
{
    (void)state;
    json_t *c = NULL;
    assert_int_equal(jwt_verify(hs, kat_token, strlen(kat_token), &default_opts, &c), JWT_OK);
    assert_string_equal(json_string_value(json_object_get(c, "sub")), "user-42");
    json_decref(c);

    /* RFC 7515 A.1: its signature verifies (CRLF-laden header and all), so the verdict comes
     * from the claims, which lack "sub"; one changed signature character makes it SIGNATURE */
    struct jwt_verify_opts o = {.issuer = "joe", .audience = "x", .now = 1300819000, .leeway = 0};
    assert_int_equal(verify_opts(hs, rfc_a1_token, &o), JWT_E_CLAIMS);
    char *t = strdup(rfc_a1_token);
    char *s = strrchr(t, '.') + 1;
    s[0] = s[0] == 'd' ? 'e' : 'd';
    assert_int_equal(verify_opts(hs, t, &o), JWT_E_SIGNATURE);
    free(t);

    /* the same token under another secret of the same length */
    unsigned char other[64];
    memcpy(other, rfc_key, sizeof(other));
    other[63] ^= 1;
    struct jwt_key *k = jwt_key_hs256(other, sizeof(other));
    assert_int_equal(verify_opts(k, rfc_a1_token, &o), JWT_E_SIGNATURE);
    assert_int_equal(verify(k, kat_token), JWT_E_SIGNATURE);
    jwt_key_free(k);
}

/* --- algorithm pinning -------------------------------------------------------------------- */

static void test_alg_none_rejected(void **state)
{
    (void)state;
    const struct jwt_key *keys[] = {hs, rs, rs_pub, es, es_pub};
    static const char *const nones[] = {"{\"alg\":\"none\",\"typ\":\"JWT\"}", "{\"alg\":\"none\"}",
                                        "{\"alg\":\"None\"}", "{\"alg\":\"NONE\"}"};
    for (size_t i = 0; i < 5; i++) {
        for (size_t j = 0; j < 4; j++) {
            char *unsigned_tok = assemble(nones[j], good_payload, ""); /* RFC 7519 §6.1 form */
            char *with_sig = assemble(nones[j], good_payload, "c2lnbmF0dXJl");
            char *two_parts = strndup(unsigned_tok, strlen(unsigned_tok) - 1);
            assert_int_equal(verify(keys[i], unsigned_tok), JWT_E_ALG);
            assert_int_equal(verify(keys[i], with_sig), JWT_E_ALG);
            assert_int_equal(verify(keys[i], two_parts), JWT_E_MALFORMED);
            free(unsigned_tok);
            free(with_sig);
            free(two_parts);
        }
    }
    /* alg:none MACed with the real secret is still none */
    assert_int_equal(verify_hs_header("{\"alg\":\"none\"}"), JWT_E_ALG);
}

static void test_alg_confusion_rejected(void **state)
{
    (void)state;
    /* the classic attack: HS256 keyed with the verifier's public PEM */
    char *t = forge_hs(rsa_pub_pem, strlen(rsa_pub_pem), hs_header, good_payload);
    assert_int_equal(verify(rs_pub, t), JWT_E_ALG);
    assert_int_equal(verify(rs, t), JWT_E_ALG);
    free(t);
    t = forge_hs(ec_pub_pem, strlen(ec_pub_pem), hs_header, good_payload);
    assert_int_equal(verify(es_pub, t), JWT_E_ALG);
    free(t);

    /* and every other pairing of configured key and token algorithm */
    char *ht = sign(hs, good_claims());
    char *rt = sign(rs, good_claims());
    char *et = sign(es, good_claims());
    assert_int_equal(verify(hs, rt), JWT_E_ALG);
    assert_int_equal(verify(hs, et), JWT_E_ALG);
    assert_int_equal(verify(rs, ht), JWT_E_ALG);
    assert_int_equal(verify(rs, et), JWT_E_ALG);
    assert_int_equal(verify(es, ht), JWT_E_ALG);
    assert_int_equal(verify(es, rt), JWT_E_ALG);
    free(ht);
    free(rt);
    free(et);
}

static void test_header_checks(void **state)
{
    (void)state;
    assert_int_equal(verify_hs_header("{\"alg\":\"HS256\"}"), JWT_OK);
    assert_int_equal(verify_hs_header("{\"alg\":\"HS256\",\"typ\":\"jwt\"}"), JWT_OK);
    assert_int_equal(verify_hs_header("{\"alg\":\"HS256\",\"kid\":\"whatever\"}"), JWT_OK);
    assert_int_equal(verify_hs_header("{\"typ\":\"JWT\"}"), JWT_E_ALG);
    assert_int_equal(verify_hs_header("{\"alg\":\"hs256\"}"), JWT_E_ALG);
    assert_int_equal(verify_hs_header("{\"alg\":\"HS256 \"}"), JWT_E_ALG);
    assert_int_equal(verify_hs_header("{\"alg\":\"HS384\"}"), JWT_E_ALG);
    assert_int_equal(verify_hs_header("{\"alg\":[\"HS256\"]}"), JWT_E_ALG);
    assert_int_equal(verify_hs_header("{\"alg\":null}"), JWT_E_ALG);
    assert_int_equal(verify_hs_header("{\"alg\":\"HS256\",\"typ\":\"JWS\"}"), JWT_E_ALG);
    assert_int_equal(verify_hs_header("{\"alg\":\"HS256\",\"typ\":1}"), JWT_E_ALG);
    assert_int_equal(verify_hs_header("{\"alg\":\"HS256\",\"crit\":[\"exp\"],\"exp\":1}"),
                     JWT_E_ALG);
    assert_int_equal(verify_hs_header("{\"alg\":\"HS256\",\"crit\":[]}"), JWT_E_ALG);
}

/* --- tampering ------------------------------------------------------------------------------ */

/* Changes one character of the decoded payload ("user-42" -> "user-43") and splices it in. */
static void tamper_payload(const struct jwt_key *k)
{
    char *t = sign(k, good_claims());
    struct parts x = split(t);
    long n;
    unsigned char *p = b64dec(x.p, &n);
    char *hit = memmem(p, (size_t)n, "user-42", 7);
    assert_non_null(hit);
    hit[6] = '3';
    struct buf b;
    buf_init(&b);
    jwt_b64url_encode(&b, p, (size_t)n);
    char *forged = join(x.h, b.data, x.s);
    assert_int_equal(verify(k, forged), JWT_E_SIGNATURE);

    /* and one bit of the signature: in its first, a middle and its last byte */
    long sn;
    unsigned char *sig = b64dec(x.s, &sn);
    const long where[] = {0, sn / 2, sn - 1};
    for (size_t i = 0; i < 3; i++) {
        sig[where[i]] ^= 0x01;
        buf_reset(&b);
        jwt_b64url_encode(&b, sig, (size_t)sn);
        char *badsig = join(x.h, x.p, b.data);
        assert_int_equal(verify(k, badsig), JWT_E_SIGNATURE);
        free(badsig);
        sig[where[i]] ^= 0x01;
    }
    free(sig);

    free(forged);
    buf_cleanup(&b);
    free(p);
    parts_free(&x);
    free(t);
}

static void test_tampered_payload(void **state)
{
    (void)state;
    tamper_payload(hs);
    tamper_payload(rs);
    tamper_payload(es);
}

/* R and S start with a zero byte once in 128 signatures: they must still be padded to 32. */
static void test_es256_many_signatures(void **state)
{
    (void)state;
    json_t *c = good_claims();
    struct buf b;
    buf_init(&b);
    for (int i = 0; i < 1000; i++) {
        json_object_set_new(c, "jti", json_integer(i));
        buf_reset(&b);
        assert_int_equal(jwt_sign(es, NULL, c, &b), 0);
        assert_int_equal(jwt_verify(es_pub, b.data, b.len, &default_opts, NULL), JWT_OK);
    }
    buf_cleanup(&b);
    json_decref(c);
}

static void test_wrong_key(void **state)
{
    (void)state;
    EVP_PKEY *ec2 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    char *pem = pem_of(ec2, 0, NULL);
    struct jwt_key *k = key_from(JWT_ES256, pem);
    char *t = sign(es, good_claims());
    assert_int_equal(verify(k, t), JWT_E_SIGNATURE);
    free(t);
    jwt_key_free(k);
    free(pem);
    EVP_PKEY_free(ec2);

    EVP_PKEY *rsa2 = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    pem = pem_of(rsa2, 0, NULL);
    k = key_from(JWT_RS256, pem);
    t = sign(rs, good_claims());
    assert_int_equal(verify(k, t), JWT_E_SIGNATURE);
    free(t);
    jwt_key_free(k);
    free(pem);
    EVP_PKEY_free(rsa2);
}

/* Signature lengths are fixed per algorithm; anything else, DER included, is refused. */
static void test_signature_lengths(void **state)
{
    (void)state;
    char *t = sign(es, good_claims());
    struct parts x = split(t);
    long n;
    unsigned char *raw = b64dec(x.s, &n);
    assert_int_equal(n, 64);
    unsigned char buf[80] = {0};
    struct buf b;

    /* 63, 65 and 0 bytes */
    buf_init(&b);
    jwt_b64url_encode(&b, raw, 63);
    char *bad = join(x.h, x.p, b.data);
    assert_int_equal(verify(es, bad), JWT_E_SIGNATURE);
    free(bad);
    buf_reset(&b);
    memcpy(buf, raw, 64);
    jwt_b64url_encode(&b, buf, 65);
    bad = join(x.h, x.p, b.data);
    assert_int_equal(verify(es, bad), JWT_E_SIGNATURE);
    free(bad);
    bad = join(x.h, x.p, "");
    assert_int_equal(verify(es, bad), JWT_E_MALFORMED);
    free(bad);

    /* the same signature in DER, as OpenSSL would take it */
    ECDSA_SIG *sig = ECDSA_SIG_new();
    assert_int_equal(ECDSA_SIG_set0(sig, BN_bin2bn(raw, 32, NULL), BN_bin2bn(raw + 32, 32, NULL)), 1);
    unsigned char *der = NULL;
    int dn = i2d_ECDSA_SIG(sig, &der);
    assert_true(dn > 0);
    buf_reset(&b);
    jwt_b64url_encode(&b, der, (size_t)dn);
    bad = join(x.h, x.p, b.data);
    assert_int_equal(verify(es, bad), JWT_E_SIGNATURE);
    free(bad);
    OPENSSL_free(der);
    ECDSA_SIG_free(sig);

    /* R = S = 0 */
    buf_reset(&b);
    memset(buf, 0, sizeof(buf));
    jwt_b64url_encode(&b, buf, 64);
    bad = join(x.h, x.p, b.data);
    assert_int_equal(verify(es, bad), JWT_E_SIGNATURE);
    free(bad);

    free(raw);
    parts_free(&x);
    free(t);

    /* RS256: one byte short; HS256: one byte long */
    t = sign(rs, good_claims());
    x = split(t);
    raw = b64dec(x.s, &n);
    assert_int_equal(n, 256);
    buf_reset(&b);
    jwt_b64url_encode(&b, raw, 255);
    bad = join(x.h, x.p, b.data);
    assert_int_equal(verify(rs_pub, bad), JWT_E_SIGNATURE);
    free(bad);
    free(raw);
    parts_free(&x);
    free(t);

    t = sign(hs, good_claims());
    x = split(t);
    raw = b64dec(x.s, &n);
    memcpy(buf, raw, 32);
    buf[32] = 0;
    buf_reset(&b);
    jwt_b64url_encode(&b, buf, 33);
    bad = join(x.h, x.p, b.data);
    assert_int_equal(verify(hs, bad), JWT_E_SIGNATURE);
    free(bad);
    free(raw);
    parts_free(&x);
    free(t);
    buf_cleanup(&b);
}

/* --- time ------------------------------------------------------------------------------------ */

static enum jwt_error verify_times(const char *extra)
{
    char payload[256];
    snprintf(payload, sizeof(payload),
             "{\"sub\":\"u\",\"iss\":\"strata\",\"aud\":\"strata-api\",%s}", extra);
    return verify_hs_payload(payload);
}

static void test_expiry(void **state)
{
    (void)state;
    /* now = 1700000000, leeway 30 */
    assert_int_equal(verify_times("\"exp\":1699999990"), JWT_OK);  /* expired, within leeway */
    assert_int_equal(verify_times("\"exp\":1699999971"), JWT_OK);
    assert_int_equal(verify_times("\"exp\":1699999970"), JWT_E_EXPIRED); /* now - leeway */
    assert_int_equal(verify_times("\"exp\":1699999000"), JWT_E_EXPIRED);
    assert_int_equal(verify_times("\"exp\":0"), JWT_E_EXPIRED);
    assert_int_equal(verify_times("\"exp\":-5"), JWT_E_EXPIRED);
    assert_int_equal(verify_times("\"exp\":1699999969.5"), JWT_E_EXPIRED);
    assert_int_equal(verify_times("\"exp\":1700000900.25"), JWT_OK);
    assert_int_equal(verify_times("\"exp\":1e300"), JWT_OK);

    /* no leeway: valid strictly before exp (RFC 7519 §4.1.4) */
    char *t = forge_hs(rfc_key, sizeof(rfc_key), hs_header,
                       "{\"sub\":\"u\",\"iss\":\"strata\",\"aud\":\"strata-api\",\"exp\":1700000000}");
    struct jwt_verify_opts o = default_opts;
    o.leeway = 0;
    assert_int_equal(verify_opts(hs, t, &o), JWT_E_EXPIRED);
    o.now = NOW - 1;
    assert_int_equal(verify_opts(hs, t, &o), JWT_OK);
    o.leeway = -100; /* a negative leeway counts as none */
    assert_int_equal(verify_opts(hs, t, &o), JWT_OK);
    free(t);
}

static void test_not_before_and_issued_at(void **state)
{
    (void)state;
    assert_int_equal(verify_times("\"exp\":1700000900,\"nbf\":1700000031"), JWT_E_NOT_YET);
    assert_int_equal(verify_times("\"exp\":1700000900,\"nbf\":1700000030"), JWT_OK);
    assert_int_equal(verify_times("\"exp\":1700000900,\"nbf\":1700000030.5"), JWT_E_NOT_YET);
    assert_int_equal(verify_times("\"exp\":1700000900,\"nbf\":1600000000"), JWT_OK);
    assert_int_equal(verify_times("\"exp\":1700000900,\"iat\":1700000100"), JWT_E_NOT_YET);
    assert_int_equal(verify_times("\"exp\":1700000900,\"iat\":1700000029.9"), JWT_OK);
    /* expiry is judged first */
    assert_int_equal(verify_times("\"exp\":1600000000,\"nbf\":1800000000"), JWT_E_EXPIRED);
}

/* --- issuer and audience ------------------------------------------------------------------------ */

static enum jwt_error verify_iss_aud(const char *iss_aud)
{
    char payload[256];
    snprintf(payload, sizeof(payload), "{\"sub\":\"u\",\"exp\":1700000900%s}", iss_aud);
    return verify_hs_payload(payload);
}

static void test_issuer(void **state)
{
    (void)state;
    assert_int_equal(verify_iss_aud(",\"iss\":\"strata\",\"aud\":\"strata-api\""), JWT_OK);
    assert_int_equal(verify_iss_aud(",\"iss\":\"evil\",\"aud\":\"strata-api\""), JWT_E_ISSUER);
    assert_int_equal(verify_iss_aud(",\"iss\":\"Strata\",\"aud\":\"strata-api\""), JWT_E_ISSUER);
    assert_int_equal(verify_iss_aud(",\"iss\":\"strata \",\"aud\":\"strata-api\""), JWT_E_ISSUER);
    assert_int_equal(verify_iss_aud(",\"iss\":[\"strata\"],\"aud\":\"strata-api\""), JWT_E_ISSUER);
    assert_int_equal(verify_iss_aud(",\"aud\":\"strata-api\""), JWT_E_ISSUER);

    /* a verifier configured without an issuer accepts nothing */
    char *t = sign(hs, good_claims());
    struct jwt_verify_opts o = default_opts;
    o.issuer = NULL;
    assert_int_equal(verify_opts(hs, t, &o), JWT_E_ISSUER);
    o = default_opts;
    o.audience = NULL;
    assert_int_equal(verify_opts(hs, t, &o), JWT_E_AUDIENCE);
    free(t);
}

static void test_audience(void **state)
{
    (void)state;
    assert_int_equal(verify_iss_aud(",\"iss\":\"strata\",\"aud\":\"other\""), JWT_E_AUDIENCE);
    assert_int_equal(verify_iss_aud(",\"iss\":\"strata\""), JWT_E_AUDIENCE);
    assert_int_equal(verify_iss_aud(",\"iss\":\"strata\",\"aud\":1"), JWT_E_AUDIENCE);
    assert_int_equal(verify_iss_aud(",\"iss\":\"strata\",\"aud\":null"), JWT_E_AUDIENCE);
    assert_int_equal(verify_iss_aud(",\"iss\":\"strata\",\"aud\":\"strata-api2\""),
                     JWT_E_AUDIENCE);
    assert_int_equal(verify_iss_aud(",\"iss\":\"strata\",\"aud\":[\"a\",\"strata-api\",\"b\"]"),
                     JWT_OK);
    assert_int_equal(verify_iss_aud(",\"iss\":\"strata\",\"aud\":[\"strata-api\"]"), JWT_OK);
    assert_int_equal(verify_iss_aud(",\"iss\":\"strata\",\"aud\":[1,null,\"strata-api\"]"), JWT_OK);
    assert_int_equal(verify_iss_aud(",\"iss\":\"strata\",\"aud\":[\"a\",\"b\"]"), JWT_E_AUDIENCE);
    assert_int_equal(verify_iss_aud(",\"iss\":\"strata\",\"aud\":[]"), JWT_E_AUDIENCE);
    assert_int_equal(verify_iss_aud(",\"iss\":\"strata\",\"aud\":[[\"strata-api\"]]"),
                     JWT_E_AUDIENCE);
    assert_int_equal(verify_iss_aud(",\"iss\":\"strata\",\"aud\":{\"strata-api\":1}"),
                     JWT_E_AUDIENCE);
}

/* --- required claims ------------------------------------------------------------------------------ */

static void test_required_claims(void **state)
{
    (void)state;
    const char *ia = "\"iss\":\"strata\",\"aud\":\"strata-api\"";
    char p[256];
    snprintf(p, sizeof(p), "{%s,\"sub\":\"u\"}", ia); /* no exp */
    assert_int_equal(verify_hs_payload(p), JWT_E_CLAIMS);
    snprintf(p, sizeof(p), "{%s,\"sub\":\"u\",\"exp\":\"1700000900\"}", ia);
    assert_int_equal(verify_hs_payload(p), JWT_E_CLAIMS);
    snprintf(p, sizeof(p), "{%s,\"sub\":\"u\",\"exp\":null}", ia);
    assert_int_equal(verify_hs_payload(p), JWT_E_CLAIMS);
    snprintf(p, sizeof(p), "{%s,\"exp\":1700000900}", ia); /* no sub */
    assert_int_equal(verify_hs_payload(p), JWT_E_CLAIMS);
    snprintf(p, sizeof(p), "{%s,\"exp\":1700000900,\"sub\":42}", ia);
    assert_int_equal(verify_hs_payload(p), JWT_E_CLAIMS);
    snprintf(p, sizeof(p), "{%s,\"exp\":1700000900,\"sub\":[\"u\"]}", ia);
    assert_int_equal(verify_hs_payload(p), JWT_E_CLAIMS);
    snprintf(p, sizeof(p), "{%s,\"exp\":1700000900,\"sub\":\"\"}", ia);
    assert_int_equal(verify_hs_payload(p), JWT_E_CLAIMS);
    snprintf(p, sizeof(p), "{%s,\"exp\":1700000900,\"sub\":\"u\",\"nbf\":\"0\"}", ia);
    assert_int_equal(verify_hs_payload(p), JWT_E_CLAIMS);
    snprintf(p, sizeof(p), "{%s,\"exp\":1700000900,\"sub\":\"u\",\"iat\":true}", ia);
    assert_int_equal(verify_hs_payload(p), JWT_E_CLAIMS);
    /* claims are judged only once the signature holds */
    char *t = assemble(hs_header, "{\"exp\":1}", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    assert_int_equal(verify(hs, t), JWT_E_SIGNATURE);
    free(t);
}

/* --- malformed input --------------------------------------------------------------------------- */

static void test_malformed(void **state)
{
    (void)state;
    char *good = sign(hs, good_claims());
    struct parts x = split(good);
    /* a syntactically fine signature that is wrong: MALFORMED rather than SIGNATURE below shows
     * the structure is refused before any cryptography */
    const char *sig = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    char *t;

    static const char *const literal[] = {
        "", ".", "..", "...", "garbage", "a.b", "a.b.c.d", "eyJ.eyJ.", "\xff\xfe.\x01.\x02",
        "e30.e30.e30",          /* {} . {} . {} with no alg */
        "W10.e30.AAAA",         /* header [] */
    };
    for (size_t i = 0; i < sizeof(literal) / sizeof(literal[0]); i++) {
        enum jwt_error e = verify(hs, literal[i]);
        if (i == 9) /* {} is an object without alg */
            assert_int_equal(e, JWT_E_ALG);
        else
            assert_int_equal(e, JWT_E_MALFORMED);
    }

    /* two and four parts of a valid token */
    t = join(x.h, x.p, "");
    t[strlen(t) - 1] = '\0';
    assert_int_equal(verify(hs, t), JWT_E_MALFORMED);
    free(t);
    t = join(x.h, x.p, x.s);
    char *four = join(t, "e30", "");
    four[strlen(four) - 1] = '\0';
    assert_int_equal(verify(hs, four), JWT_E_MALFORMED);
    free(four);
    four = join(x.h, x.p, "");
    assert_int_equal(verify(hs, four), JWT_E_MALFORMED); /* empty signature */
    free(four);
    free(t);

    /* empty header or payload */
    t = join("", x.p, x.s);
    assert_int_equal(verify(hs, t), JWT_E_MALFORMED);
    free(t);
    t = join(x.h, "", x.s);
    assert_int_equal(verify(hs, t), JWT_E_MALFORMED);
    free(t);

    /* padding and foreign characters in each part; trailing newline; leading space */
    struct buf b;
    buf_init(&b);
    static const struct {
        const char *lead, *after_h, *after_p, *trail;
    } edits[] = {{"", "=", "", ""},  {"", "", "==", ""}, {"", "", "", "="}, {"", "", "", "\n"},
                 {" ", "", "", ""},  {"", "", "", " "},  {"", "", "+", ""}, {"", "/", "", ""},
                 {"", "", "", "%"}, {"", "\t", "", ""}};
    for (size_t i = 0; i < sizeof(edits) / sizeof(edits[0]); i++) {
        buf_reset(&b);
        buf_printf(&b, "%s%s%s.%s%s.%s%s", edits[i].lead, x.h, edits[i].after_h, x.p,
                   edits[i].after_p, x.s, edits[i].trail);
        assert_int_equal(jwt_verify(hs, b.data, b.len, &default_opts, NULL), JWT_E_MALFORMED);
    }
    /* a NUL inside the given length */
    buf_reset(&b);
    buf_printf(&b, "%s.%s.%s", x.h, x.p, x.s);
    b.data[3] = '\0';
    assert_int_equal(jwt_verify(hs, b.data, b.len, &default_opts, NULL), JWT_E_MALFORMED);
    /* a valid token followed by bytes outside the given length is fine */
    buf_reset(&b);
    buf_printf(&b, "%s.%s.%s.garbage", x.h, x.p, x.s);
    assert_int_equal(jwt_verify(hs, b.data, strlen(good), &default_opts, NULL), JWT_OK);

    /* header and payload that are not JSON objects, or have duplicate keys */
    static const char *const headers[] = {"[\"HS256\"]", "\"HS256\"", "null", "{\"alg\":\"HS256\"",
                                          "{\"alg\":\"HS256\",\"alg\":\"HS256\"}",
                                          "{\"alg\":\"HS256\"} x"};
    for (size_t i = 0; i < sizeof(headers) / sizeof(headers[0]); i++) {
        t = assemble(headers[i], good_payload, sig);
        assert_int_equal(verify(hs, t), JWT_E_MALFORMED);
        free(t);
        t = forge_hs(rfc_key, sizeof(rfc_key), headers[i], good_payload);
        assert_int_equal(verify(hs, t), JWT_E_MALFORMED);
        free(t);
    }
    static const char *const payloads[] = {
        "[1,2]", "42", "\"sub\"", "", "{", "not json",
        "{\"sub\":\"u\",\"iss\":\"strata\",\"aud\":\"strata-api\",\"exp\":1700000900,\"sub\":\"admin\"}",
        "{\"sub\":\"u\\u0000admin\",\"iss\":\"strata\",\"aud\":\"strata-api\",\"exp\":1700000900}",
    };
    for (size_t i = 0; i < sizeof(payloads) / sizeof(payloads[0]); i++) {
        t = assemble(hs_header, payloads[i], sig);
        assert_int_equal(verify(hs, t), JWT_E_MALFORMED);
        free(t);
        if (payloads[i][0]) {
            t = forge_hs(rfc_key, sizeof(rfc_key), hs_header, payloads[i]);
            assert_int_equal(verify(hs, t), JWT_E_MALFORMED);
            free(t);
        }
    }

    /* too long: 10 KB, and one byte over the limit, even when otherwise well formed */
    buf_reset(&b);
    buf_printf(&b, "%s.", x.h);
    while (b.len < 10240)
        buf_putc(&b, 'A');
    buf_printf(&b, ".%s", x.s);
    assert_int_equal(jwt_verify(hs, b.data, b.len, &default_opts, NULL), JWT_E_MALFORMED);
    char filler[JWT_MAX_LEN];
    memset(filler, ' ', sizeof(filler));
    filler[sizeof(filler) - 1] = '\0';
    json_t *big = good_claims();
    struct buf best;
    buf_init(&best);
    for (size_t pad = 5800; pad < sizeof(filler); pad++) { /* the largest token jwt_sign makes */
        struct buf tb;
        buf_init(&tb);
        filler[pad] = '\0';
        json_object_set_new(big, "pad", json_string(filler));
        filler[pad] = ' ';
        int rc = jwt_sign(hs, NULL, big, &tb);
        if (rc) {
            assert_int_equal(rc, STRATA_ETOOBIG);
            assert_null(tb.data);
            break;
        }
        buf_cleanup(&best);
        best = tb;
    }
    buf_cleanup(&b);
    b = best;
    assert_true(b.len <= JWT_MAX_LEN && b.len > JWT_MAX_LEN - 4);
    assert_int_equal(jwt_verify(hs, b.data, b.len, &default_opts, NULL), JWT_OK);
    buf_putc(&b, 'A');
    assert_int_equal(jwt_verify(hs, b.data, b.len, &default_opts, NULL), JWT_E_MALFORMED);
    json_decref(big);

    /* NULL arguments */
    assert_int_equal(jwt_verify(NULL, good, strlen(good), &default_opts, NULL), JWT_E_MALFORMED);
    assert_int_equal(jwt_verify(hs, NULL, 0, &default_opts, NULL), JWT_E_MALFORMED);
    assert_int_equal(jwt_verify(hs, good, strlen(good), NULL, NULL), JWT_E_MALFORMED);

    buf_cleanup(&b);
    parts_free(&x);
    free(good);
}

/* Tokens whose signature part differs only in unused trailing bits must not both verify. */
static void test_signature_single_spelling(void **state)
{
    (void)state;
    char *t = sign(hs, good_claims());
    size_t n = strlen(t);
    /* 32 bytes -> 43 characters; the last carries 4 bits and 2 unused zero bits */
    const char *alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    char orig = t[n - 1];
    int pos = (int)(strchr(alphabet, orig) - alphabet);
    int accepted = 0;
    for (int d = 0; d < 4; d++) {
        t[n - 1] = alphabet[(pos & ~3) | d];
        accepted += verify(hs, t) == JWT_OK;
    }
    assert_int_equal(accepted, 1);
    free(t);
}

/* --- keys ------------------------------------------------------------------------------------ */

static void test_hs256_secret_length(void **state)
{
    (void)state;
    unsigned char s[64] = {0};
    assert_null(jwt_key_hs256(s, 31));
    assert_null(jwt_key_hs256(s, 0));
    assert_null(jwt_key_hs256(NULL, 32));
    struct jwt_key *k = jwt_key_hs256(s, 32);
    assert_non_null(k);
    assert_int_equal(jwt_key_alg(k), JWT_HS256);
    assert_null(jwt_key_jwk(k, "kid")); /* a shared secret is never published */
    jwt_key_free(k);
    jwt_key_free(NULL);
}

static void expect_refused(enum jwt_alg alg, const char *pem, size_t len)
{
    char err[128] = "";
    struct jwt_key *k = jwt_key_pem(alg, pem, len, err, sizeof(err));
    assert_null(k);
    assert_true(err[0] != '\0');
    /* and without an error buffer */
    assert_null(jwt_key_pem(alg, pem, len, NULL, 0));
}

static void test_key_pem_refusals(void **state)
{
    (void)state;
    EVP_PKEY *small = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
    EVP_PKEY *p384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    EVP_PKEY *ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    EVP_PKEY *pss = NULL;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA-PSS", NULL);
    assert_int_equal(EVP_PKEY_keygen_init(ctx), 1);
    assert_int_equal(EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, 2048), 1);
    assert_int_equal(EVP_PKEY_generate(ctx, &pss), 1);
    EVP_PKEY_CTX_free(ctx);
    assert_non_null(small);
    assert_non_null(p384);
    assert_non_null(ed);
    char *pems[] = {pem_of(small, 1, NULL), pem_of(small, 0, NULL), pem_of(p384, 1, NULL),
                    pem_of(p384, 0, NULL), pem_of(ed, 1, NULL),    pem_of(ed, 0, NULL),
                    pem_of(pss, 1, NULL),   pem_of(pss, 0, NULL)};

    expect_refused(JWT_RS256, pems[0], strlen(pems[0])); /* RSA 1024 */
    expect_refused(JWT_RS256, pems[1], strlen(pems[1]));
    expect_refused(JWT_ES256, pems[2], strlen(pems[2])); /* P-384 */
    expect_refused(JWT_ES256, pems[3], strlen(pems[3]));
    expect_refused(JWT_ES256, pems[4], strlen(pems[4])); /* Ed25519 */
    expect_refused(JWT_RS256, pems[5], strlen(pems[5]));
    expect_refused(JWT_RS256, pems[6], strlen(pems[6])); /* RSA-PSS: RS256 is PKCS #1 v1.5 */
    expect_refused(JWT_RS256, pems[7], strlen(pems[7]));
    expect_refused(JWT_ES256, rsa_priv_pem, strlen(rsa_priv_pem)); /* wrong family */
    expect_refused(JWT_ES256, rsa_pub_pem, strlen(rsa_pub_pem));
    expect_refused(JWT_RS256, ec_priv_pem, strlen(ec_priv_pem));
    expect_refused(JWT_RS256, ec_pub_pem, strlen(ec_pub_pem));
    expect_refused(JWT_HS256, rsa_priv_pem, strlen(rsa_priv_pem)); /* not a PEM algorithm */
    expect_refused(JWT_RS256, "not a key", 9);
    expect_refused(JWT_RS256, "", 0);
    expect_refused(JWT_RS256, rsa_pub_pem, strlen(rsa_pub_pem) / 2); /* truncated */

    /* an encrypted private key is refused, without prompting for a passphrase */
    char *enc = pem_of(rsa_pkey, 1, EVP_aes_256_cbc());
    expect_refused(JWT_RS256, enc, strlen(enc));
    free(enc);

    for (size_t i = 0; i < sizeof(pems) / sizeof(pems[0]); i++)
        free(pems[i]);
    EVP_PKEY_free(pss);
    EVP_PKEY_free(small);
    EVP_PKEY_free(p384);
    EVP_PKEY_free(ed);
}

static void test_sign_errors(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b);
    buf_puts(&b, "prefix:");
    json_t *c = good_claims();
    /* a public key cannot sign; out is left as it was */
    assert_int_equal(jwt_sign(rs_pub, NULL, c, &b), STRATA_EINVAL);
    assert_int_equal(jwt_sign(es_pub, NULL, c, &b), STRATA_EINVAL);
    assert_string_equal(b.data, "prefix:");
    json_t *arr = json_array();
    assert_int_equal(jwt_sign(hs, NULL, arr, &b), STRATA_EINVAL);
    assert_int_equal(jwt_sign(hs, NULL, NULL, &b), STRATA_EINVAL);
    assert_int_equal(jwt_sign(hs, "\xff", c, &b), STRATA_EINVAL); /* kid not UTF-8 */
    assert_string_equal(b.data, "prefix:");
    json_decref(arr);

    /* too big to ever verify */
    json_t *big = good_claims();
    char *pad = malloc(JWT_MAX_LEN);
    memset(pad, 'x', JWT_MAX_LEN - 1);
    pad[JWT_MAX_LEN - 1] = '\0';
    json_object_set_new(big, "pad", json_string(pad));
    assert_int_equal(jwt_sign(rs, NULL, big, &b), STRATA_ETOOBIG);
    assert_string_equal(b.data, "prefix:");
    free(pad);
    json_decref(big);

    /* success appends */
    assert_int_equal(jwt_sign(hs, NULL, c, &b), 0);
    assert_int_equal(strncmp(b.data, "prefix:eyJ", 10), 0);
    assert_int_equal(verify(hs, b.data + 7), JWT_OK);
    json_decref(c);
    buf_cleanup(&b);
}

/* --- JWK ---------------------------------------------------------------------------------- */

static BIGNUM *jwk_bn(const json_t *jwk, const char *name, long want_len)
{
    const char *s = json_string_value(json_object_get(jwk, name));
    assert_non_null(s);
    long n;
    unsigned char *raw = b64dec(s, &n);
    if (want_len)
        assert_int_equal(n, want_len);
    else
        assert_true(n > 0 && raw[0] != 0); /* RFC 7518 §6.3.1.1: no leading zero octets */
    BIGNUM *bn = BN_bin2bn(raw, (int)n, NULL);
    free(raw);
    return bn;
}

static void test_jwk_rsa(void **state)
{
    (void)state;
    json_t *jwk = jwt_key_jwk(rs, "k1");
    assert_non_null(jwk);
    assert_string_equal(json_string_value(json_object_get(jwk, "kty")), "RSA");
    assert_string_equal(json_string_value(json_object_get(jwk, "alg")), "RS256");
    assert_string_equal(json_string_value(json_object_get(jwk, "use")), "sig");
    assert_string_equal(json_string_value(json_object_get(jwk, "kid")), "k1");
    assert_string_equal(json_string_value(json_object_get(jwk, "e")), "AQAB");
    assert_int_equal(json_object_size(jwk), 6); /* kty n e alg use kid: nothing private */

    BIGNUM *n = jwk_bn(jwk, "n", 0), *e = jwk_bn(jwk, "e", 0);
    BIGNUM *want_n = NULL, *want_e = NULL;
    assert_int_equal(EVP_PKEY_get_bn_param(rsa_pkey, OSSL_PKEY_PARAM_RSA_N, &want_n), 1);
    assert_int_equal(EVP_PKEY_get_bn_param(rsa_pkey, OSSL_PKEY_PARAM_RSA_E, &want_e), 1);
    assert_int_equal(BN_cmp(n, want_n), 0);
    assert_int_equal(BN_cmp(e, want_e), 0);

    /* the JWK alone rebuilds the verifying key */
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n);
    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e);
    OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
    EVP_PKEY *rebuilt = NULL;
    assert_int_equal(EVP_PKEY_fromdata_init(ctx), 1);
    assert_int_equal(EVP_PKEY_fromdata(ctx, &rebuilt, EVP_PKEY_PUBLIC_KEY, params), 1);
    assert_int_equal(EVP_PKEY_eq(rebuilt, rsa_pkey), 1);
    EVP_PKEY_free(rebuilt);
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);

    /* the public-only key publishes the same, and kid is optional */
    json_t *jwk2 = jwt_key_jwk(rs_pub, NULL);
    assert_null(json_object_get(jwk2, "kid"));
    json_object_set(jwk2, "kid", json_object_get(jwk, "kid"));
    assert_true(json_equal(jwk, jwk2));
    json_decref(jwk2);

    BN_free(n);
    BN_free(e);
    BN_free(want_n);
    BN_free(want_e);
    json_decref(jwk);
}

static void test_jwk_ec(void **state)
{
    (void)state;
    json_t *jwk = jwt_key_jwk(es, "k2");
    assert_non_null(jwk);
    assert_string_equal(json_string_value(json_object_get(jwk, "kty")), "EC");
    assert_string_equal(json_string_value(json_object_get(jwk, "crv")), "P-256");
    assert_string_equal(json_string_value(json_object_get(jwk, "alg")), "ES256");
    assert_string_equal(json_string_value(json_object_get(jwk, "use")), "sig");
    assert_string_equal(json_string_value(json_object_get(jwk, "kid")), "k2");
    assert_null(json_object_get(jwk, "d"));
    assert_int_equal(json_object_size(jwk), 7);

    /* x and y are the 32-byte halves of OpenSSL's uncompressed point 04||X||Y */
    unsigned char point[65];
    size_t plen = 0;
    assert_int_equal(EVP_PKEY_get_octet_string_param(ec_pkey, OSSL_PKEY_PARAM_PUB_KEY, point,
                                                     sizeof(point), &plen),
                     1);
    assert_int_equal(plen, 65);
    assert_int_equal(point[0], 4);
    long n;
    unsigned char *x = b64dec(json_string_value(json_object_get(jwk, "x")), &n);
    assert_int_equal(n, 32);
    assert_memory_equal(x, point + 1, 32);
    unsigned char *y = b64dec(json_string_value(json_object_get(jwk, "y")), &n);
    assert_int_equal(n, 32);
    assert_memory_equal(y, point + 33, 32);

    /* the JWK alone rebuilds the verifying key */
    unsigned char rebuilt_point[65] = {4};
    memcpy(rebuilt_point + 1, x, 32);
    memcpy(rebuilt_point + 33, y, 32);
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)"P-256", 0),
        OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, rebuilt_point, 65),
        OSSL_PARAM_construct_end(),
    };
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    EVP_PKEY *rebuilt = NULL;
    assert_int_equal(EVP_PKEY_fromdata_init(ctx), 1);
    assert_int_equal(EVP_PKEY_fromdata(ctx, &rebuilt, EVP_PKEY_PUBLIC_KEY, params), 1);
    assert_int_equal(EVP_PKEY_eq(rebuilt, ec_pkey), 1);
    EVP_PKEY_free(rebuilt);
    EVP_PKEY_CTX_free(ctx);

    json_t *jwk2 = jwt_key_jwk(es_pub, "k2");
    assert_true(json_equal(jwk, jwk2));
    json_decref(jwk2);
    free(x);
    free(y);
    json_decref(jwk);

    /* keys whose X, and keys whose Y, starts with a zero byte still publish 32-byte
     * coordinates (RFC 7518 §6.2.1.2); one key in 256 has each */
    int seen_x = 0, seen_y = 0;
    for (int tries = 0; tries < 20000 && !(seen_x && seen_y); tries++) {
        EVP_PKEY *p = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
        assert_int_equal(EVP_PKEY_get_octet_string_param(p, OSSL_PKEY_PARAM_PUB_KEY, point,
                                                         sizeof(point), &plen),
                         1);
        if (point[1] != 0 && point[33] != 0) {
            EVP_PKEY_free(p);
            continue;
        }
        char *pem = pem_of(p, 0, NULL);
        struct jwt_key *k = key_from(JWT_ES256, pem);
        jwk = jwt_key_jwk(k, NULL);
        x = b64dec(json_string_value(json_object_get(jwk, "x")), &n);
        assert_int_equal(n, 32);
        assert_memory_equal(x, point + 1, 32);
        y = b64dec(json_string_value(json_object_get(jwk, "y")), &n);
        assert_int_equal(n, 32);
        assert_memory_equal(y, point + 33, 32);
        free(x);
        free(y);
        json_decref(jwk);
        jwt_key_free(k);
        free(pem);
        seen_x |= point[1] == 0;
        seen_y |= point[33] == 0;
        EVP_PKEY_free(p);
    }
    assert_true(seen_x && seen_y);
}

static void test_error_text(void **state)
{
    (void)state;
    const enum jwt_error all[] = {JWT_OK,         JWT_E_MALFORMED, JWT_E_ALG,
                                  JWT_E_SIGNATURE, JWT_E_EXPIRED,  JWT_E_NOT_YET,
                                  JWT_E_ISSUER,   JWT_E_AUDIENCE,  JWT_E_CLAIMS};
    for (size_t i = 0; i < 9; i++) {
        assert_true(jwt_error_text(all[i])[0] != '\0');
        for (size_t j = 0; j < i; j++)
            assert_string_not_equal(jwt_error_text(all[i]), jwt_error_text(all[j]));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_b64url_vectors),
        cmocka_unit_test(test_round_trip_hs256),
        cmocka_unit_test(test_round_trip_rs256),
        cmocka_unit_test(test_round_trip_es256),
        cmocka_unit_test(test_round_trip_claims_optional),
        cmocka_unit_test(test_hs256_known_answer_sign),
        cmocka_unit_test(test_hs256_known_answer_verify),
        cmocka_unit_test(test_alg_none_rejected),
        cmocka_unit_test(test_alg_confusion_rejected),
        cmocka_unit_test(test_header_checks),
        cmocka_unit_test(test_tampered_payload),
        cmocka_unit_test(test_es256_many_signatures),
        cmocka_unit_test(test_wrong_key),
        cmocka_unit_test(test_signature_lengths),
        cmocka_unit_test(test_signature_single_spelling),
        cmocka_unit_test(test_expiry),
        cmocka_unit_test(test_not_before_and_issued_at),
        cmocka_unit_test(test_issuer),
        cmocka_unit_test(test_audience),
        cmocka_unit_test(test_required_claims),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_hs256_secret_length),
        cmocka_unit_test(test_key_pem_refusals),
        cmocka_unit_test(test_sign_errors),
        cmocka_unit_test(test_jwk_rsa),
        cmocka_unit_test(test_jwk_ec),
        cmocka_unit_test(test_error_text),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
