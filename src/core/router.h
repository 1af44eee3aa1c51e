/*
 * router: maps (method, path) to a route declaration. Paths are templates of '/'-separated
 * segments, each a literal or a {name} parameter; a literal segment wins over a parameter at
 * the same depth ("/items/stream" before "/items/{id}"). HEAD matches GET routes. A path
 * that matches no template is ROUTER_NOT_FOUND; a path that matches with another method is
 * ROUTER_METHOD_NOT_ALLOWED with the Allow list filled. When several templates match a path,
 * the first in precedence order that takes the method wins, and Allow lists every method any
 * of them takes. Paths are given without the query; a trailing slash makes another path.
 * Literal segments compare with the raw request segment; {param} values are percent-decoded
 * and never empty.
 *
 * The route declaration is the one place where a route states its permission, limits,
 * parameters and errors; the server enforces them and the OpenAPI document is rendered from
 * them. The router owns nothing it is given: route declarations are static.
 */
#ifndef STRATA_ROUTER_H
#define STRATA_ROUTER_H

#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"
#include "core/params.h"

#define ROUTER_MAX_PARAMS 8
#define ROUTER_MAX_SEGMENTS 32

struct http_req;
typedef void (*route_handler_fn)(struct http_req *r);

enum route_flag {
    ROUTE_STREAM = 1u << 0, /* long-lived response (SSE): not subject to the request timeout */
    ROUTE_INTERNAL = 1u << 1, /* operational route (health, metrics, docs): not under /api */
    ROUTE_OAUTH_ERRORS = 1u << 2, /* 400/401/429 use RFC 6749 §5.2 JSON, not problem+json */
    /* The handler binds .query itself (params_bind on r->qs) and answers parameter errors in its
     * own format (the FDSN error document); the core only documents .query in the API. */
    ROUTE_RAW_QUERY = 1u << 3,
};

struct route {
    const char *method;  /* "GET", "POST", ... */
    const char *path;    /* template, e.g. "/api/v1/things/{id}" */
    route_handler_fn handler;
    const char *permission;      /* NULL: public; else the RBAC permission (auth issue) */
    const char *summary;         /* one line for the API docs */
    const char *tag;             /* API docs group */
    const struct param_spec *query;       /* NULL or NULL-name-terminated */
    const struct param_spec *path_params; /* types of the {name} segments, same form */
    size_t body_limit;           /* bytes; 0: no body accepted */
    const char *const *content_types; /* accepted request body types, NULL-terminated */
    const int *errors;           /* error statuses this route answers, 0-terminated */
    const char *response_type;   /* success content type; NULL means application/json */
    int success_status;          /* 0 means 200 */
    unsigned flags;
    /* When non-NULL and true at request time, the permission is not required (a setting such
     * as STRATA_QUAKES_PUBLIC_READ opening a catalogue to anonymous readers). Credentials, when
     * given, still identify the caller. */
    const bool *public_if;
};

struct router;

enum router_result {
    ROUTER_FOUND = 0,
    ROUTER_NOT_FOUND = 1,
    ROUTER_METHOD_NOT_ALLOWED = 2,
};

struct router_match {
    const struct route *route;
    size_t nparams;
    const char *names[ROUTER_MAX_PARAMS]; /* point into the template (not NUL-terminated) */
    size_t name_lens[ROUTER_MAX_PARAMS];
    char *values[ROUTER_MAX_PARAMS];      /* percent-decoded, NUL-terminated, owned */
    char allow[128];                      /* "GET, HEAD, POST" for METHOD_NOT_ALLOWED */
};

struct router *router_new(void);
void router_free(struct router *r);
/* Registers a route. STRATA_EINVAL for a malformed template, STRATA_EDUP when the same
 * method and template shape is already registered. */
int router_add(struct router *r, const struct route *route) STRATA_MUST_CHECK;
/* Fills m on every result; call router_match_cleanup(m) after each call to free the values. */
enum router_result router_match(const struct router *r, const char *method, size_t method_len,
                                const char *path, size_t path_len, struct router_match *m);
void router_match_cleanup(struct router_match *m);
/* Value of a path parameter by name, or NULL. */
const char *router_param(const struct router_match *m, const char *name);

/* Registered routes in registration order (for the API docs and tests). */
size_t router_count(const struct router *r);
const struct route *router_at(const struct router *r, size_t i);

#endif
