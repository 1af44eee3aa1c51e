/*
 * jwt: JSON Web Tokens (RFC 7519) for Strata's access tokens, with OpenSSL 3 only.
 *
 * Signing: HS256 (HMAC-SHA-256 with a shared secret), RS256 (RSASSA-PKCS1-v1_5 SHA-256) or
 * ES256 (ECDSA P-256 SHA-256, signature as raw R||S per RFC 7518 §3.4).
 * Verification pins the configured algorithm BEFORE looking at the signature: a token whose
 * header "alg" differs (including "none", and HS256 when RS256 is configured — the algorithm
 * confusion attack) is rejected. Then: size limit, strict base64url (no padding, no stray
 * characters), header and payload are JSON objects (no duplicate keys), signature valid
 * (constant-time compare for HMAC), "exp" present and in the future, "nbf" and "iat" not in
 * the future (all with the configured leeway), "iss" and "aud" equal to the configured ones
 * ("aud" may be a string or an array containing it), "sub" a non-empty string.
 *
 * Must not: read configuration, touch the network or the database, or allocate on failure
 * paths that callers must free.
 */
#ifndef STRATA_JWT_H
#define STRATA_JWT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "core/buf.h"
#include "core/err.h"

#define JWT_MAX_LEN 8192 /* longer tokens are refused before any parsing */

enum jwt_alg { JWT_HS256, JWT_RS256, JWT_ES256 };

enum jwt_error {
    JWT_OK = 0,
    JWT_E_MALFORMED = -1,  /* not three base64url parts, bad base64, not JSON objects, too long */
    JWT_E_ALG = -2,        /* header alg is not the pinned algorithm (incl. none), typ is not
                              "JWT", or the header has "crit" (extensions we do not implement) */
    JWT_E_SIGNATURE = -3,
    JWT_E_EXPIRED = -4,
    JWT_E_NOT_YET = -5,    /* nbf or iat in the future beyond the leeway */
    JWT_E_ISSUER = -6,
    JWT_E_AUDIENCE = -7,
    JWT_E_CLAIMS = -8,     /* exp/sub missing or of the wrong type */
};

struct jwt_key; /* opaque: the secret or the key pair */

/* HS256 with a secret of at least 32 bytes. */
struct jwt_key *jwt_key_hs256(const unsigned char *secret, size_t len);
/* RS256 or ES256 from a PEM private key (signing + verifying) or public key (verify only).
 * RS256 takes RSA keys of 2048 to 8192 bits, ES256 EC keys on P-256; encrypted PEM is refused
 * (never prompts). Returns NULL with a message in err on failure (wrong type or size for the
 * algorithm, unreadable). */
struct jwt_key *jwt_key_pem(enum jwt_alg alg, const char *pem, size_t len, char *err, size_t errlen);
void jwt_key_free(struct jwt_key *k);
enum jwt_alg jwt_key_alg(const struct jwt_key *k);
/* The public key as a JWK (RFC 7517) object for /.well-known/jwks.json, with "kid", "alg",
 * "use":"sig"; NULL for HS256 (a shared secret is never published). Caller decrefs. */
json_t *jwt_key_jwk(const struct jwt_key *k, const char *kid);

/* Appends to out header.payload.signature for claims (a JSON object; not modified), with
 * header {"alg":...,"typ":"JWT"} plus "kid" when kid is non-NULL. Returns 0; STRATA_EINVAL
 * for a verify-only key or claims that are not an object; STRATA_ETOOBIG when the token would
 * exceed JWT_MAX_LEN; STRATA_EIO when OpenSSL fails. On failure out is left as it was. */
int jwt_sign(const struct jwt_key *k, const char *kid, const json_t *claims, struct buf *out) STRATA_MUST_CHECK;

struct jwt_verify_opts {
    const char *issuer;   /* required match; NULL rejects every token (fails closed) */
    const char *audience; /* required match; NULL rejects every token (fails closed) */
    int64_t now;          /* seconds since the epoch */
    int64_t leeway;       /* seconds */
};

/* Verifies token[0..len). On success *claims (if claims is non-NULL) gets the payload (caller
 * decrefs); on failure it is NULL. Every check that needs no key runs before the signature
 * one; the claims are judged only once the signature holds. */
enum jwt_error jwt_verify(const struct jwt_key *k, const char *token, size_t len,
                          const struct jwt_verify_opts *opts, json_t **claims);
const char *jwt_error_text(enum jwt_error e); /* short English reason, for logs */

/* base64url without padding (RFC 4648 §5), exposed for tests and other modules. */
void jwt_b64url_encode(struct buf *out, const unsigned char *p, size_t len);
/* Strict decode: rejects '=' padding, non-alphabet bytes, impossible lengths and non-zero
 * unused trailing bits (so each byte string has one spelling). Returns the decoded length or
 * -1. out must hold at least len*3/4+3 bytes. */
long jwt_b64url_decode(unsigned char *out, const char *s, size_t len);

#endif
