/*
 * fuzz_jwt: access-token verification, the first thing every authenticated request runs on
 * attacker-chosen bytes. Each input is verified against three fixed keys (HS256, ES256 and a
 * verify-only RS256 public key). Checks beyond "no crash, no leak":
 *   - nothing verifies except the tokens listed in signed_tokens, which jwt_sign produced
 *     offline with these keys (the seed corpus holds them); anything else that verifies is a
 *     forgery or a malleable encoding, and aborts;
 *   - a failed verification hands back no claims; an over-long input is MALFORMED;
 *   - base64url decoding is canonical: whatever decodes re-encodes to the same text;
 *   - an input that is a JSON object is taken as claims, signed (HS256, ES256) and verified:
 *     jwt_sign's own output never fails on structure, algorithm or signature, and verified
 *     claims come back equal.
 * The keys are fixed so runs are reproducible: the EC key is built from a constant private
 * scalar, the RSA key is only a public key (its private half was discarded after signing the
 * seeds). They are fuzzing keys and protect nothing.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>

#include "core/buf.h"
#include "core/jwt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const unsigned char hs_secret[] = "strata-fuzz-hs256-secret-0123456789abcdef";

static const unsigned char ec_priv[32] = {
    0xca, 0xa3, 0xc3, 0xa1, 0x3f, 0xf0, 0x42, 0xe0, 0x4e, 0x68, 0x31, 0x4b, 0xf1, 0x07, 0x90, 0x42,
    0x9d, 0x9f, 0xe0, 0x72, 0xa9, 0x65, 0x7a, 0x33, 0xd4, 0x06, 0xe5, 0x3b, 0xc9, 0x99, 0xb4, 0x2a,
};
static const unsigned char ec_pub[65] = {
    0x04, 0xd6, 0x55, 0xe3, 0x35, 0xc1, 0x34, 0x67, 0x08, 0xc3, 0xe3, 0x94, 0xaa, 0xa9, 0x47,
    0x5a, 0xf4, 0xde, 0x3a, 0x50, 0x8f, 0x25, 0x16, 0x23, 0x62, 0xee, 0xad, 0x4f, 0xc5, 0x6c,
    0x08, 0xf7, 0x60, 0x26, 0xfc, 0x88, 0x55, 0x1f, 0xe6, 0xeb, 0x58, 0xa2, 0x99, 0xbb, 0x8f,
    0x47, 0xae, 0x88, 0x27, 0x06, 0xb5, 0x4e, 0x58, 0x5b, 0xbc, 0x16, 0xc6, 0x57, 0xaf, 0x0a,
    0x1d, 0x47, 0x9a, 0x82, 0x8c,
};

static const char rsa_pub_pem[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEApECGucTPKUaXoxJEAks0\n"
    "2zua7+4GxDdHkXS5BJupLwRbGHGB4oM9a4UlE1pe/yi19SmHqZU2OfysA4ADWabo\n"
    "1oHUJkchWdy6scqAdUNCkmz38s2tSWGeDRcMjhiX6sqr2vMs868D0EpRTllzEEUR\n"
    "8izo6U6llD8/bnX54smHtQxMciNRk4SwtoPDeyrt0XJtbzDnlvdI1mxtIywkrZbw\n"
    "KIIyiEscziA1l8Gu5P25971KKeF0YbVDOJzQH8T5BvQxmiyJzYdkIGnnv+CPZjZn\n"
    "+luykWTlibKIRzLzFmiVwcAzkScw5MIRFaQ9KZxYnZo9+x5ZvXWi0qDKYH7Bf0hA\n"
    "/wIDAQAB\n"
    "-----END PUBLIC KEY-----\n";

/* The only inputs allowed to verify: jwt_sign output for these keys (fuzz/corpus/jwt/valid_*) */
static const char *const signed_tokens[] = {
    /* valid_hs256 */
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1c2VyLTQyIiwiaXNzIjoic3RyYXRhIiwiYXVkIjo"
    "ic3RyYXRhLWFwaSIsImV4cCI6MTcwMDAwMDkwMCwiaWF0IjoxNzAwMDAwMDAwLCJuYmYiOjE3MDAwMDAwMDAsImp"
    "0aSI6ImYxIiwicm9sZSI6Im1lbWJlciIsInNjb3BlIjoicXVha2VzOnJlYWQgYm9va3M6cmVhZCJ9.vAAklIOW8_"
    "y22MbHTCcSUlRUnmOUinDNI_ylWoqBRas",
    /* valid_es256 */
    "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6ImVzLTEifQ.eyJzdWIiOiJ1c2VyLTQyIiwiaXNzIjoic"
    "3RyYXRhIiwiYXVkIjoic3RyYXRhLWFwaSIsImV4cCI6MTcwMDAwMDkwMCwiaWF0IjoxNzAwMDAwMDAwLCJuYmYiO"
    "jE3MDAwMDAwMDAsImp0aSI6ImYxIiwicm9sZSI6Im1lbWJlciIsInNjb3BlIjoicXVha2VzOnJlYWQgYm9va3M6c"
    "mVhZCJ9.wZTM5n5XnXpED7T6B2Zu9dQC0pXcC2HbD4-EE8XA2CECuCjQFSX4QFfgX8dno681pgPBuLG7iNDbMYvb"
    "VeKzPA",
    /* valid_rs256 */
    "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6InJzLTEifQ.eyJzdWIiOiJ1c2VyLTQyIiwiaXNzIjoic"
    "3RyYXRhIiwiYXVkIjoic3RyYXRhLWFwaSIsImV4cCI6MTcwMDAwMDkwMCwiaWF0IjoxNzAwMDAwMDAwLCJuYmYiO"
    "jE3MDAwMDAwMDAsImp0aSI6ImYxIiwicm9sZSI6Im1lbWJlciIsInNjb3BlIjoicXVha2VzOnJlYWQgYm9va3M6c"
    "mVhZCJ9.G-gq-wfXbdOr7LP_DiFZM_6OZFxO16mUuSe0iNQV-TZWbrksWG0bALj6cid2vpaq2dgEX3lZY_Vf19fg"
    "4n7pVY08Hp6DmqXeS6zHQpd5jJVHMyGaLBZaYtN5iVdZ73uANwAhG3TEVjE2fzcm5RTkYD8MFw7CZDqclvk0mbNv"
    "thf-f3-TGYzx1pn6smazO31JfVWYviKV8OwEMCjLjrJ4TtIUTF1fDUXn7v3qs-uWj0_W9WVOb7hmduQ7olgBy4Cp"
    "N0hAd-PbQr2_lcKOysEd6VTJuF_zHRxY4vS4tdRRpRaVl1laZuOl9UI_zhi3XYpkvSE4Ys9hJWt3n1j-Pc4BmA",
    /* valid_hs256_aud_array */
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJndy03IiwiaXNzIjoic3RyYXRhIiwiYXVkIjpbIm9"
    "0aGVyIiwic3RyYXRhLWFwaSJdLCJleHAiOjE3MDAwMDA5MDAuNSwicm9sZSI6ImdhdGV3YXkifQ.ix42fSRcmJJJ"
    "_rfzjMH9WqfhUST8y5XpauEp_Ey8ceg",
};

static const struct jwt_verify_opts opts = {
    .issuer = "strata", .audience = "strata-api", .now = 1700000000, .leeway = 30};

static struct jwt_key *hs, *es, *rs;

static struct jwt_key *ec_key(void)
{
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    BIGNUM *priv = BN_bin2bn(ec_priv, sizeof(ec_priv), NULL);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    OSSL_PARAM *params = NULL;
    EVP_PKEY *pkey = NULL;
    BIO *bio = BIO_new(BIO_s_mem());
    struct jwt_key *k = NULL;
    char *pem;
    long n;

    if (!bld || !priv || !ctx || !bio ||
        !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) ||
        !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, priv) ||
        !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, ec_pub, sizeof(ec_pub)))
        abort();
    params = OSSL_PARAM_BLD_to_param(bld);
    if (!params || EVP_PKEY_fromdata_init(ctx) != 1 ||
        EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_KEYPAIR, params) != 1)
        abort();
    /* through PEM, as the server loads its keys */
    if (PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL) != 1)
        abort();
    n = BIO_get_mem_data(bio, &pem);
    k = jwt_key_pem(JWT_ES256, pem, (size_t)n, NULL, 0);
    BIO_free(bio);
    EVP_PKEY_free(pkey);
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    BN_free(priv);
    OSSL_PARAM_BLD_free(bld);
    return k;
}

static void init_keys(void)
{
    if (hs)
        return;
    hs = jwt_key_hs256(hs_secret, sizeof(hs_secret) - 1);
    es = ec_key();
    rs = jwt_key_pem(JWT_RS256, rsa_pub_pem, sizeof(rsa_pub_pem) - 1, NULL, 0);
    if (!hs || !es || !rs)
        abort();
}

static int is_signed_token(const uint8_t *data, size_t size)
{
    for (size_t i = 0; i < sizeof(signed_tokens) / sizeof(signed_tokens[0]); i++)
        if (strlen(signed_tokens[i]) == size && memcmp(signed_tokens[i], data, size) == 0)
            return 1;
    return 0;
}

static void check_verify(const struct jwt_key *k, const uint8_t *data, size_t size)
{
    json_t *claims = (json_t *)&claims; /* must be overwritten either way */
    enum jwt_error e = jwt_verify(k, (const char *)data, size, &opts, &claims);

    if (e > JWT_OK || e < JWT_E_CLAIMS || !jwt_error_text(e))
        abort();
    if (size > JWT_MAX_LEN && e != JWT_E_MALFORMED)
        abort();
    if (e != JWT_OK) {
        if (claims)
            abort();
        return;
    }
    if (!is_signed_token(data, size) || !json_is_object(claims))
        abort();
    json_decref(claims);
}

static void check_b64(const uint8_t *data, size_t size)
{
    unsigned char out[JWT_MAX_LEN];
    struct buf b;

    if (size > JWT_MAX_LEN)
        return;
    long n = jwt_b64url_decode(out, (const char *)data, size);
    if (n < 0)
        return;
    if ((size_t)n > size * 3 / 4)
        abort();
    buf_init(&b);
    jwt_b64url_encode(&b, out, (size_t)n);
    if (b.len != size || (size && memcmp(b.data, data, size) != 0))
        abort();
    buf_cleanup(&b);
}

static void check_round_trip(const struct jwt_key *k, const json_t *claims)
{
    struct buf tok;
    json_t *got = NULL;

    buf_init(&tok);
    int rc = jwt_sign(k, "fuzz", claims, &tok);
    if (rc == STRATA_ETOOBIG) {
        if (tok.data)
            abort();
        return;
    }
    if (rc != 0)
        abort();
    enum jwt_error e = jwt_verify(k, tok.data, tok.len, &opts, &got);
    if (e == JWT_E_MALFORMED || e == JWT_E_ALG || e == JWT_E_SIGNATURE)
        abort();
    if (e == JWT_OK && !json_equal(got, claims))
        abort();
    json_decref(got);
    buf_cleanup(&tok);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    init_keys();
    check_verify(hs, data, size);
    check_verify(es, data, size);
    check_verify(rs, data, size);
    check_b64(data, size);

    if (size && data[0] == '{' && size <= JWT_MAX_LEN) {
        json_t *claims = json_loadb((const char *)data, size, 0, NULL);
        if (json_is_object(claims)) {
            check_round_trip(hs, claims);
            check_round_trip(es, claims);
        }
        json_decref(claims);
    }
    return 0;
}
