#include "core/jwt.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "core/mem.h"

#define HS256_MIN_SECRET 32
#define RSA_MIN_BITS 2048
#define RSA_MAX_BITS 8192
#define SIG_MAX (RSA_MAX_BITS / 8) /* the largest raw signature any accepted key makes */
#define ES256_COORD 32             /* bytes of R, S, X and Y on P-256 */

struct jwt_key {
    enum jwt_alg alg;
    unsigned char *secret; /* HS256: owned, wiped on free */
    size_t secret_len;
    EVP_PKEY *pkey;        /* RS256/ES256: owned */
    int can_sign;          /* 0 for a public key (verify only) */
};

static const char *alg_name(enum jwt_alg alg)
{
    switch (alg) {
    case JWT_HS256: return "HS256";
    case JWT_RS256: return "RS256";
    case JWT_ES256: return "ES256";
    }
    return "?";
}

/* --- base64url ------------------------------------------------------------------------- */

static const char b64url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

void jwt_b64url_encode(struct buf *out, const unsigned char *p, size_t len)
{
    buf_reserve(out, (len + 2) / 3 * 4);
    char *w = out->data + out->len;
    size_t i = 0;
    for (; i + 3 <= len; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        *w++ = b64url_alphabet[v >> 18];
        *w++ = b64url_alphabet[(v >> 12) & 63];
        *w++ = b64url_alphabet[(v >> 6) & 63];
        *w++ = b64url_alphabet[v & 63];
    }
    if (len - i == 1) {
        uint32_t v = (uint32_t)p[i] << 16;
        *w++ = b64url_alphabet[v >> 18];
        *w++ = b64url_alphabet[(v >> 12) & 63];
    } else if (len - i == 2) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
        *w++ = b64url_alphabet[v >> 18];
        *w++ = b64url_alphabet[(v >> 12) & 63];
        *w++ = b64url_alphabet[(v >> 6) & 63];
    }
    out->len = (size_t)(w - out->data);
    out->data[out->len] = '\0';
}

static int b64url_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

long jwt_b64url_decode(unsigned char *out, const char *s, size_t len)
{
    uint32_t acc = 0;
    unsigned bits = 0;
    size_t n = 0;

    /* one leftover character carries 6 bits, not a byte: no encoder produces that */
    if (len % 4 == 1 || len > (size_t)LONG_MAX)
        return -1;
    for (size_t i = 0; i < len; i++) {
        int v = b64url_value((unsigned char)s[i]);
        if (v < 0)
            return -1;
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[n++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    /* Unused trailing bits must be zero, so every byte string has exactly one encoding: a
     * signature that verifies under several spellings would make tokens malleable. */
    if (acc != 0)
        return -1;
    return (long)n;
}

/* --- keys ------------------------------------------------------------------------------ */

struct jwt_key *jwt_key_hs256(const unsigned char *secret, size_t len)
{
    if (!secret || len < HS256_MIN_SECRET || len > INT_MAX)
        return NULL;
    struct jwt_key *k = xcalloc(1, sizeof(*k));
    k->alg = JWT_HS256;
    k->secret = xmalloc(len);
    memcpy(k->secret, secret, len);
    k->secret_len = len;
    k->can_sign = 1;
    return k;
}

/* An encrypted PEM must fail, never prompt on the terminal for a passphrase. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)u;
    return -1;
}

static int is_p256(const EVP_PKEY *pkey)
{
    char name[64];
    size_t n = 0;

    if (EVP_PKEY_get_base_id(pkey) != EVP_PKEY_EC)
        return 0;
    if (EVP_PKEY_get_group_name(pkey, name, sizeof(name), &n) != 1)
        return 0;
    return strcmp(name, "prime256v1") == 0 || strcmp(name, "P-256") == 0;
}

struct jwt_key *jwt_key_pem(enum jwt_alg alg, const char *pem, size_t len, char *err, size_t errlen)
{
    struct jwt_key *k = NULL;
    EVP_PKEY *pkey = NULL;
    BIO *bio = NULL;
    const char *why = NULL;
    int can_sign = 0;

    if (alg != JWT_RS256 && alg != JWT_ES256) {
        why = "PEM keys are for RS256 and ES256 only";
        goto out;
    }
    if (!pem || len == 0 || len > INT_MAX) {
        why = "empty key";
        goto out;
    }
    bio = BIO_new_mem_buf(pem, (int)len);
    if (!bio) {
        why = "out of memory";
        goto out;
    }
    pkey = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
    if (pkey) {
        can_sign = 1;
    } else {
        BIO_free(bio);
        bio = BIO_new_mem_buf(pem, (int)len);
        if (bio)
            pkey = PEM_read_bio_PUBKEY(bio, NULL, no_passphrase, NULL);
    }
    if (!pkey) {
        why = "not a PEM private or public key (or an encrypted one)";
        goto out;
    }
    if (alg == JWT_RS256) {
        int bits = EVP_PKEY_get_bits(pkey);
        if (EVP_PKEY_get_base_id(pkey) != EVP_PKEY_RSA) {
            why = "RS256 needs an RSA key";
            goto out;
        }
        if (bits < RSA_MIN_BITS || bits > RSA_MAX_BITS) {
            why = "RS256 needs an RSA key of 2048 to 8192 bits";
            goto out;
        }
    } else if (!is_p256(pkey)) {
        why = "ES256 needs an EC key on P-256 (prime256v1)";
        goto out;
    }
    k = xcalloc(1, sizeof(*k));
    k->alg = alg;
    k->pkey = pkey;
    k->can_sign = can_sign;
    pkey = NULL;
out:
    /* the parse attempts leave entries on this thread's OpenSSL error queue */
    ERR_clear_error();
    if (why && err && errlen)
        snprintf(err, errlen, "%s", why);
    EVP_PKEY_free(pkey);
    BIO_free(bio);
    return k;
}

void jwt_key_free(struct jwt_key *k)
{
    if (!k)
        return;
    if (k->secret) {
        OPENSSL_cleanse(k->secret, k->secret_len);
        free(k->secret);
    }
    EVP_PKEY_free(k->pkey);
    free(k);
}

enum jwt_alg jwt_key_alg(const struct jwt_key *k)
{
    return k->alg;
}

static int set_b64_bn(json_t *obj, const char *name, const BIGNUM *bn, int pad)
{
    int n = pad ? pad : BN_num_bytes(bn);
    unsigned char bytes[SIG_MAX];
    struct buf b;
    int rc = -1;

    buf_init(&b);
    if (n <= 0 || n > (int)sizeof(bytes))
        goto out;
    if (BN_bn2binpad(bn, bytes, n) != n)
        goto out;
    jwt_b64url_encode(&b, bytes, (size_t)n);
    rc = json_object_set_new(obj, name, json_string(b.data));
out:
    buf_cleanup(&b);
    return rc;
}

json_t *jwt_key_jwk(const struct jwt_key *k, const char *kid)
{
    json_t *jwk = NULL;
    BIGNUM *a = NULL, *b = NULL;
    int ok = 0;

    if (!k || k->alg == JWT_HS256)
        return NULL;
    jwk = json_object();
    if (k->alg == JWT_RS256) {
        if (EVP_PKEY_get_bn_param(k->pkey, OSSL_PKEY_PARAM_RSA_N, &a) != 1 ||
            EVP_PKEY_get_bn_param(k->pkey, OSSL_PKEY_PARAM_RSA_E, &b) != 1)
            goto out;
        if (json_object_set_new(jwk, "kty", json_string("RSA")) ||
            set_b64_bn(jwk, "n", a, 0) || set_b64_bn(jwk, "e", b, 0))
            goto out;
    } else {
        /* X and Y rather than the encoded point: the point may be held compressed */
        if (EVP_PKEY_get_bn_param(k->pkey, OSSL_PKEY_PARAM_EC_PUB_X, &a) != 1 ||
            EVP_PKEY_get_bn_param(k->pkey, OSSL_PKEY_PARAM_EC_PUB_Y, &b) != 1)
            goto out;
        if (json_object_set_new(jwk, "kty", json_string("EC")) ||
            json_object_set_new(jwk, "crv", json_string("P-256")) ||
            set_b64_bn(jwk, "x", a, ES256_COORD) || set_b64_bn(jwk, "y", b, ES256_COORD))
            goto out;
    }
    if (json_object_set_new(jwk, "alg", json_string(alg_name(k->alg))) ||
        json_object_set_new(jwk, "use", json_string("sig")))
        goto out;
    if (kid && json_object_set_new(jwk, "kid", json_string(kid)))
        goto out;
    ok = 1;
out:
    ERR_clear_error();
    BN_free(a);
    BN_free(b);
    if (!ok) {
        json_decref(jwk);
        jwk = NULL;
    }
    return jwk;
}

/* --- signatures ------------------------------------------------------------------------ */

/* Signs msg into sig (SIG_MAX bytes) as the JWS signature bytes; returns 0 or -1. */
static int sign_bytes(const struct jwt_key *k, const unsigned char *msg, size_t len,
                      unsigned char *sig, size_t *siglen)
{
    EVP_MD_CTX *md = NULL;
    EVP_PKEY_CTX *pctx = NULL;
    ECDSA_SIG *es = NULL;
    unsigned char der[SIG_MAX];
    size_t derlen = sizeof(der);
    int rc = -1;

    if (k->alg == JWT_HS256) {
        unsigned int n = 0;
        if (!HMAC(EVP_sha256(), k->secret, (int)k->secret_len, msg, len, sig, &n))
            goto out;
        *siglen = n;
        rc = 0;
        goto out;
    }
    md = EVP_MD_CTX_new();
    if (!md || EVP_DigestSignInit(md, &pctx, EVP_sha256(), NULL, k->pkey) != 1)
        goto out;
    if (k->alg == JWT_RS256) {
        size_t n = SIG_MAX;
        if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) != 1 ||
            EVP_DigestSign(md, sig, &n, msg, len) != 1)
            goto out;
        *siglen = n;
        rc = 0;
        goto out;
    }
    /* ES256: OpenSSL speaks DER, JWS wants R||S, each left-padded to 32 bytes */
    if (EVP_DigestSign(md, der, &derlen, msg, len) != 1)
        goto out;
    const unsigned char *p = der;
    es = d2i_ECDSA_SIG(NULL, &p, (long)derlen);
    if (!es)
        goto out;
    const BIGNUM *r = NULL, *s = NULL;
    ECDSA_SIG_get0(es, &r, &s);
    if (BN_bn2binpad(r, sig, ES256_COORD) != ES256_COORD ||
        BN_bn2binpad(s, sig + ES256_COORD, ES256_COORD) != ES256_COORD)
        goto out;
    *siglen = 2 * ES256_COORD;
    rc = 0;
out:
    ECDSA_SIG_free(es);
    EVP_MD_CTX_free(md);
    ERR_clear_error();
    return rc;
}

/* 1 if sig is a valid signature of msg under k, else 0. The length was checked already. */
static int verify_bytes(const struct jwt_key *k, const unsigned char *msg, size_t len,
                        const unsigned char *sig, size_t siglen)
{
    EVP_MD_CTX *md = NULL;
    EVP_PKEY_CTX *pctx = NULL;
    ECDSA_SIG *es = NULL;
    BIGNUM *r = NULL, *s = NULL;
    unsigned char *der = NULL;
    int ok = 0;

    if (k->alg == JWT_HS256) {
        unsigned char mac[EVP_MAX_MD_SIZE];
        unsigned int n = 0;
        if (HMAC(EVP_sha256(), k->secret, (int)k->secret_len, msg, len, mac, &n) && n == siglen)
            ok = CRYPTO_memcmp(mac, sig, siglen) == 0;
        OPENSSL_cleanse(mac, sizeof(mac));
        goto out;
    }
    md = EVP_MD_CTX_new();
    if (!md || EVP_DigestVerifyInit(md, &pctx, EVP_sha256(), NULL, k->pkey) != 1)
        goto out;
    if (k->alg == JWT_RS256) {
        if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) != 1)
            goto out;
        ok = EVP_DigestVerify(md, sig, siglen, msg, len) == 1;
        goto out;
    }
    es = ECDSA_SIG_new();
    r = BN_bin2bn(sig, ES256_COORD, NULL);
    s = BN_bin2bn(sig + ES256_COORD, ES256_COORD, NULL);
    if (!es || !r || !s || ECDSA_SIG_set0(es, r, s) != 1)
        goto out;
    r = s = NULL; /* owned by es now */
    int derlen = i2d_ECDSA_SIG(es, &der);
    if (derlen <= 0)
        goto out;
    ok = EVP_DigestVerify(md, der, (size_t)derlen, msg, len) == 1;
out:
    OPENSSL_free(der);
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(es);
    EVP_MD_CTX_free(md);
    ERR_clear_error();
    return ok;
}

static size_t expected_sig_len(const struct jwt_key *k)
{
    switch (k->alg) {
    case JWT_HS256: return 32;
    case JWT_ES256: return 2 * ES256_COORD;
    case JWT_RS256: return (size_t)EVP_PKEY_get_size(k->pkey);
    }
    return 0;
}

/* --- signing --------------------------------------------------------------------------- */

int jwt_sign(const struct jwt_key *k, const char *kid, const json_t *claims, struct buf *out)
{
    json_t *hdr = NULL;
    char *htext = NULL, *ptext = NULL;
    unsigned char sig[SIG_MAX];
    size_t siglen = 0;
    size_t start = out ? out->len : 0;
    int had_data = out && out->data;
    int rc = STRATA_EINVAL;

    if (!k || !out || !json_is_object(claims) || !k->can_sign)
        goto out;
    hdr = json_pack("{s:s, s:s}", "alg", alg_name(k->alg), "typ", "JWT");
    if (!hdr || (kid && json_object_set_new(hdr, "kid", json_string(kid))))
        goto out;
    htext = json_dumps(hdr, JSON_COMPACT);
    ptext = json_dumps(claims, JSON_COMPACT);
    if (!htext || !ptext)
        goto out;
    jwt_b64url_encode(out, (const unsigned char *)htext, strlen(htext));
    buf_putc(out, '.');
    jwt_b64url_encode(out, (const unsigned char *)ptext, strlen(ptext));
    if (sign_bytes(k, (const unsigned char *)out->data + start, out->len - start, sig, &siglen)) {
        rc = STRATA_EIO;
        goto out;
    }
    buf_putc(out, '.');
    jwt_b64url_encode(out, sig, siglen);
    /* a token the verifier would refuse is useless to hand out */
    rc = out->len - start > JWT_MAX_LEN ? STRATA_ETOOBIG : STRATA_OK;
out:
    if (rc && out && !had_data) {
        buf_cleanup(out);
    } else if (rc && out) {
        out->len = start;
        out->data[start] = '\0';
    }
    free(htext);
    free(ptext);
    json_decref(hdr);
    return rc;
}

/* --- verification ---------------------------------------------------------------------- */

static json_t *parse_object(const unsigned char *p, size_t len)
{
    json_t *v = json_loadb((const char *)p, len, JSON_REJECT_DUPLICATES, NULL);
    if (v && !json_is_object(v)) {
        json_decref(v);
        v = NULL;
    }
    return v;
}

/* The header must name exactly the pinned algorithm and nothing we would have to obey. */
static enum jwt_error check_header(const struct jwt_key *k, const json_t *hdr)
{
    const json_t *alg = json_object_get(hdr, "alg");
    const json_t *typ = json_object_get(hdr, "typ");

    if (!json_is_string(alg) || strcmp(json_string_value(alg), alg_name(k->alg)) != 0)
        return JWT_E_ALG;
    if (typ && (!json_is_string(typ) || strcasecmp(json_string_value(typ), "JWT") != 0))
        return JWT_E_ALG;
    /* RFC 7515 §4.1.11: extensions we do not implement make the token invalid */
    if (json_object_get(hdr, "crit"))
        return JWT_E_ALG;
    return JWT_OK;
}

static int aud_matches(const json_t *aud, const char *want)
{
    if (json_is_string(aud))
        return strcmp(json_string_value(aud), want) == 0;
    if (json_is_array(aud)) {
        size_t i;
        const json_t *v;
        json_array_foreach(aud, i, v)
            if (json_is_string(v) && strcmp(json_string_value(v), want) == 0)
                return 1;
    }
    return 0;
}

static enum jwt_error check_claims(const json_t *c, const struct jwt_verify_opts *o)
{
    const json_t *exp = json_object_get(c, "exp");
    const json_t *nbf = json_object_get(c, "nbf");
    const json_t *iat = json_object_get(c, "iat");
    const json_t *sub = json_object_get(c, "sub");
    const json_t *iss = json_object_get(c, "iss");
    double leeway = o->leeway > 0 ? (double)o->leeway : 0;
    double now = (double)o->now;

    if (!json_is_number(exp) || (nbf && !json_is_number(nbf)) || (iat && !json_is_number(iat)))
        return JWT_E_CLAIMS;
    if (!json_is_string(sub) || json_string_length(sub) == 0)
        return JWT_E_CLAIMS;
    /* RFC 7519 §4.1.4: valid only while now is before exp */
    if (now >= json_number_value(exp) + leeway)
        return JWT_E_EXPIRED;
    if ((nbf && json_number_value(nbf) > now + leeway) ||
        (iat && json_number_value(iat) > now + leeway))
        return JWT_E_NOT_YET;
    if (!o->issuer || !json_is_string(iss) || strcmp(json_string_value(iss), o->issuer) != 0)
        return JWT_E_ISSUER;
    if (!o->audience || !aud_matches(json_object_get(c, "aud"), o->audience))
        return JWT_E_AUDIENCE;
    return JWT_OK;
}

enum jwt_error jwt_verify(const struct jwt_key *k, const char *token, size_t len,
                          const struct jwt_verify_opts *opts, json_t **claims)
{
    /* decoded parts, back to back: base64url shrinks, so the token's size is enough */
    unsigned char dec[JWT_MAX_LEN];
    json_t *hdr = NULL, *payload = NULL;
    enum jwt_error rc = JWT_E_MALFORMED;

    if (claims)
        *claims = NULL;
    if (!k || !token || !opts || len == 0 || len > JWT_MAX_LEN)
        goto out;

    const char *end = token + len;
    const char *dot1 = memchr(token, '.', len);
    const char *dot2 = dot1 ? memchr(dot1 + 1, '.', (size_t)(end - dot1 - 1)) : NULL;
    if (!dot2 || memchr(dot2 + 1, '.', (size_t)(end - dot2 - 1)))
        goto out;
    size_t hlen = (size_t)(dot1 - token), plen = (size_t)(dot2 - dot1 - 1);
    size_t slen = (size_t)(end - dot2 - 1);
    if (hlen == 0 || plen == 0)
        goto out;

    unsigned char *h = dec;
    long hn = jwt_b64url_decode(h, token, hlen);
    if (hn <= 0)
        goto out;
    unsigned char *p = h + hn;
    long pn = jwt_b64url_decode(p, dot1 + 1, plen);
    if (pn <= 0)
        goto out;
    unsigned char *sig = p + pn;
    long sn = jwt_b64url_decode(sig, dot2 + 1, slen);
    if (sn < 0)
        goto out;

    hdr = parse_object(h, (size_t)hn);
    if (!hdr)
        goto out;
    rc = check_header(k, hdr);
    if (rc != JWT_OK)
        goto out;
    rc = JWT_E_MALFORMED;
    payload = parse_object(p, (size_t)pn);
    if (!payload || sn == 0)
        goto out;

    rc = JWT_E_SIGNATURE;
    if ((size_t)sn != expected_sig_len(k) ||
        !verify_bytes(k, (const unsigned char *)token, hlen + 1 + plen, sig, (size_t)sn))
        goto out;

    rc = check_claims(payload, opts);
    if (rc == JWT_OK && claims) {
        *claims = payload;
        payload = NULL;
    }
out:
    json_decref(hdr);
    json_decref(payload);
    return rc;
}

const char *jwt_error_text(enum jwt_error e)
{
    switch (e) {
    case JWT_OK: return "ok";
    case JWT_E_MALFORMED: return "malformed token";
    case JWT_E_ALG: return "unexpected algorithm or header";
    case JWT_E_SIGNATURE: return "bad signature";
    case JWT_E_EXPIRED: return "token expired";
    case JWT_E_NOT_YET: return "token not yet valid";
    case JWT_E_ISSUER: return "wrong issuer";
    case JWT_E_AUDIENCE: return "wrong audience";
    case JWT_E_CLAIMS: return "missing or invalid claims";
    }
    return "unknown error";
}
