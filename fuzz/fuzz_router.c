/*
 * fuzz_router: matching arbitrary method + path against a realistic route table. Input is
 * "METHOD path": everything up to the first space is the method, the rest the path.
 * Checks: a match binds one value per {param}, values hold no NUL, 405 comes with an Allow
 * list, and a found route's method is the one asked for (or GET for HEAD).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/router.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void handler(struct http_req *r)
{
    (void)r;
}

static const struct route routes[] = {
    {.method = "GET", .path = "/", .handler = handler},
    {.method = "GET", .path = "/healthz", .handler = handler},
    {.method = "GET", .path = "/api/v1/quakes", .handler = handler},
    {.method = "POST", .path = "/api/v1/quakes", .handler = handler},
    {.method = "GET", .path = "/api/v1/quakes/stream", .handler = handler},
    {.method = "GET", .path = "/api/v1/quakes/{id}", .handler = handler},
    {.method = "DELETE", .path = "/api/v1/quakes/{qid}", .handler = handler},
    {.method = "PUT", .path = "/api/v1/quakes/{id}/tags/{tag}", .handler = handler},
    {.method = "GET", .path = "/api/v1/{coll}/{id}/history", .handler = handler},
    {.method = "GET", .path = "/api/v1/quakes/{id}/history", .handler = handler},
    {.method = "HEAD", .path = "/api/v1/files/{name}", .handler = handler},
    {.method = "GET", .path = "/a/{x}/c", .handler = handler},
    {.method = "GET", .path = "/a/b/d", .handler = handler},
    {.method = "PATCH", .path = "/trailing/", .handler = handler},
};

static struct router *router;

static size_t count_params(const char *t)
{
    size_t n = 0;
    for (; *t; t++)
        n += *t == '{';
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    const char *sp = memchr(s, ' ', size);
    size_t mlen = sp ? (size_t)(sp - s) : 0;
    const char *path = sp ? sp + 1 : s;
    size_t plen = sp ? size - mlen - 1 : size;
    struct router_match m;

    if (!router) {
        router = router_new();
        for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
            if (router_add(router, &routes[i]) != 0)
                abort();
    }

    enum router_result res = router_match(router, sp ? s : "GET", sp ? mlen : 3, path, plen, &m);
    switch (res) {
    case ROUTER_FOUND:
        if (!m.route || m.nparams != count_params(m.route->path) || m.allow[0])
            abort();
        for (size_t i = 0; i < m.nparams; i++) {
            char name[64];
            if (!m.values[i] || m.name_lens[i] >= sizeof(name))
                abort();
            memcpy(name, m.names[i], m.name_lens[i]);
            name[m.name_lens[i]] = '\0';
            if (router_param(&m, name) != m.values[i])
                abort();
        }
        if (sp && !(strlen(m.route->method) == mlen && !memcmp(m.route->method, s, mlen)) &&
            !(mlen == 4 && !memcmp(s, "HEAD", 4) && !strcmp(m.route->method, "GET")))
            abort();
        break;
    case ROUTER_METHOD_NOT_ALLOWED:
        if (m.route || m.nparams || !m.allow[0] || strlen(m.allow) >= sizeof(m.allow))
            abort();
        break;
    case ROUTER_NOT_FOUND:
        if (m.route || m.nparams)
            abort();
        break;
    default:
        abort();
    }
    router_match_cleanup(&m);
    return 0;
}
