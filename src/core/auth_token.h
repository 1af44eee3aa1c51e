/*
 * auth_token: the OAuth 2.0 token endpoint (RFC 6749: password, client_credentials and
 * refresh_token grants), token revocation (RFC 7009) and the JWKS document. Errors use the
 * RFC 6749 §5.2 format, not problem+json.
 */
#ifndef STRATA_AUTH_TOKEN_H
#define STRATA_AUTH_TOKEN_H

#include "core/router.h"

extern const struct route auth_token_routes[]; /* ends with a NULL method */

#endif
