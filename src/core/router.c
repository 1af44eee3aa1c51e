/*
 * router: a trie of path segments (see router.h). Each node has its literal children, sorted
 * for binary search, at most one {param} child, and the routes that end there, one per
 * method. Matching is a depth-first walk that tries the literal child before the parameter
 * child and backs up when a branch dead-ends, so "/a/b/d" and "/a/{x}/c" both match.
 *
 * Literal segments are compared with the raw (still percent-encoded) request segment; only
 * parameter values are decoded. Labels point into the route templates, which are static.
 */
#include "core/router.h"

#include <assert.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "core/qs.h"

#define MAX_ALLOW 32 /* distinct methods gathered for an Allow header */

struct rnode {
    const char *label; /* literal children only; points into a template */
    size_t label_len;
    struct rnode **lits; /* sorted by label */
    size_t nlits;
    struct rnode *param;
    const struct route **routes; /* routes ending here, at most one per method */
    size_t nroutes;
};

struct router {
    struct rnode root;
    const struct route **all; /* registration order */
    size_t n, cap;
};

struct seg {
    const char *p;
    size_t len;
    bool param; /* templates only: a {name} segment; p/len are the name */
};

struct router *router_new(void)
{
    return xcalloc(1, sizeof(struct router));
}

static void node_cleanup(struct rnode *n)
{
    for (size_t i = 0; i < n->nlits; i++) {
        node_cleanup(n->lits[i]);
        free(n->lits[i]);
    }
    free(n->lits);
    if (n->param) {
        node_cleanup(n->param);
        free(n->param);
    }
    free(n->routes);
}

void router_free(struct router *r)
{
    if (!r)
        return;
    node_cleanup(&r->root);
    free(r->all);
    free(r);
}

/* RFC 3986 pchar without '%': a template's literal text is written out, never encoded. */
static bool literal_char(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return true;
    return c != '\0' && strchr("-._~!$&'()*+,;=:@", c) != NULL;
}

static bool name_char(unsigned char c, bool first)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
           (!first && c >= '0' && c <= '9');
}

/* Splits a template into segments. "/" has none; a trailing '/' is an empty last literal
 * (a distinct path); an empty segment elsewhere ("//") is malformed. */
static int split_template(const char *path, struct seg *segs, size_t *nsegs)
{
    const char *p = path;
    size_t n = 0, nparams = 0;

    if (!path || path[0] != '/')
        return STRATA_EINVAL;
    if (strcmp(path, "/") == 0)
        goto done;
    while (*p == '/') {
        const char *s = ++p;
        while (*p && *p != '/')
            p++;
        size_t len = (size_t)(p - s);
        if (n == ROUTER_MAX_SEGMENTS)
            return STRATA_EINVAL;
        if (len == 0 && *p == '/')
            return STRATA_EINVAL;
        if (len > 0 && s[0] == '{') {
            if (len < 3 || s[len - 1] != '}' || nparams == ROUTER_MAX_PARAMS)
                return STRATA_EINVAL;
            for (size_t i = 1; i + 1 < len; i++)
                if (!name_char((unsigned char)s[i], i == 1))
                    return STRATA_EINVAL;
            for (size_t j = 0; j < n; j++)
                if (segs[j].param && segs[j].len == len - 2 && !memcmp(segs[j].p, s + 1, len - 2))
                    return STRATA_EINVAL; /* router_param could not tell them apart */
            segs[n++] = (struct seg){s + 1, len - 2, true};
            nparams++;
        } else {
            for (size_t i = 0; i < len; i++)
                if (!literal_char((unsigned char)s[i]))
                    return STRATA_EINVAL;
            segs[n++] = (struct seg){s, len, false};
        }
    }
done:
    *nsegs = n;
    return 0;
}

/* Splits a request path; false when it cannot match any template. */
static bool split_path(const char *path, size_t len, struct seg *segs, size_t *nsegs)
{
    size_t n = 0, i = 1;

    if (len == 0 || path[0] != '/')
        return false;
    if (len == 1)
        goto done;
    for (;;) {
        size_t start = i;
        while (i < len && path[i] != '/')
            i++;
        if (n == ROUTER_MAX_SEGMENTS)
            return false;
        segs[n++] = (struct seg){path + start, i - start, false};
        if (i == len)
            break;
        i++; /* the '/'; a path ending in '/' gets an empty last segment */
    }
done:
    *nsegs = n;
    return true;
}

static bool valid_method(const char *m)
{
    size_t i = 0;
    if (!m)
        return false;
    for (; m[i]; i++)
        if (m[i] < 'A' || m[i] > 'Z')
            return false;
    return i > 0;
}

static int label_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);
    if (c)
        return c;
    return alen < blen ? -1 : alen > blen;
}

/* Index of the literal child labelled s, or where it would be inserted (*found false). */
static size_t find_lit(const struct rnode *n, const char *s, size_t len, bool *found)
{
    size_t lo = 0, hi = n->nlits;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = label_cmp(n->lits[mid]->label, n->lits[mid]->label_len, s, len);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return lo;
}

static struct rnode *child_for(struct rnode *n, const struct seg *s)
{
    bool found;
    size_t at;
    struct rnode *c;

    if (s->param) {
        if (!n->param)
            n->param = xcalloc(1, sizeof(*n->param));
        return n->param;
    }
    at = find_lit(n, s->p, s->len, &found);
    if (found)
        return n->lits[at];
    c = xcalloc(1, sizeof(*c));
    c->label = s->p;
    c->label_len = s->len;
    n->lits = xrealloc(n->lits, (n->nlits + 1) * sizeof(*n->lits));
    memmove(n->lits + at + 1, n->lits + at, (n->nlits - at) * sizeof(*n->lits));
    n->lits[at] = c;
    n->nlits++;
    return c;
}

int router_add(struct router *r, const struct route *route)
{
    struct seg segs[ROUTER_MAX_SEGMENTS];
    size_t nsegs = 0;
    struct rnode *n = &r->root;
    int rc;

    if (!route || !valid_method(route->method))
        return STRATA_EINVAL;
    rc = split_template(route->path, segs, &nsegs);
    if (rc)
        return rc;
    /* The trie path is the template's shape, so a duplicate ends at this same node. A refused
     * route may leave empty nodes behind; they match nothing. */
    for (size_t i = 0; i < nsegs; i++)
        n = child_for(n, &segs[i]);
    for (size_t i = 0; i < n->nroutes; i++)
        if (strcmp(n->routes[i]->method, route->method) == 0)
            return STRATA_EDUP;
    n->routes = xrealloc(n->routes, (n->nroutes + 1) * sizeof(*n->routes));
    n->routes[n->nroutes++] = route;
    if (r->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 16;
        r->all = xrealloc(r->all, r->cap * sizeof(*r->all));
    }
    r->all[r->n++] = route;
    return 0;
}

/* A parameter value must be non-empty, correctly percent-encoded and free of NUL once
 * decoded (the same rules as qs_decode, checked without allocating while backtracking). */
static bool param_ok(const char *p, size_t len)
{
    static const char hex[] = "0123456789abcdefABCDEF";
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (p[i] == '\0')
            return false;
        if (p[i] != '%')
            continue;
        if (len - i < 3 || !memchr(hex, p[i + 1], 22) || !memchr(hex, p[i + 2], 22) ||
            (p[i + 1] == '0' && p[i + 2] == '0'))
            return false;
        i += 2;
    }
    return true;
}

struct walk {
    const struct seg *segs;
    size_t nsegs;
    const char *method;
    size_t mlen;
    size_t bound[ROUTER_MAX_PARAMS]; /* segment index of each parameter on the current path */
    size_t nbound;
    const struct route *route;
    bool path_matched;
    const char *allow[MAX_ALLOW];
    size_t nallow;
};

static bool method_is(const char *m, const char *s, size_t len)
{
    return strlen(m) == len && memcmp(m, s, len) == 0;
}

static void allow_add(struct walk *wk, const char *m)
{
    for (size_t i = 0; i < wk->nallow; i++)
        if (strcmp(wk->allow[i], m) == 0)
            return;
    if (wk->nallow < MAX_ALLOW)
        wk->allow[wk->nallow++] = m;
}

static const struct route *pick(const struct rnode *n, const char *m, size_t mlen)
{
    for (size_t i = 0; i < n->nroutes; i++)
        if (method_is(n->routes[i]->method, m, mlen))
            return n->routes[i];
    if (method_is("HEAD", m, mlen))
        for (size_t i = 0; i < n->nroutes; i++)
            if (strcmp(n->routes[i]->method, "GET") == 0)
                return n->routes[i];
    return NULL;
}

static bool walk(struct walk *wk, const struct rnode *n, size_t depth)
{
    if (depth == wk->nsegs) {
        if (n->nroutes == 0)
            return false;
        wk->path_matched = true;
        wk->route = pick(n, wk->method, wk->mlen);
        if (wk->route)
            return true;
        for (size_t i = 0; i < n->nroutes; i++)
            allow_add(wk, n->routes[i]->method);
        return false;
    }

    const struct seg *s = &wk->segs[depth];
    bool found;
    size_t at = find_lit(n, s->p, s->len, &found);
    if (found && walk(wk, n->lits[at], depth + 1))
        return true;
    if (n->param && param_ok(s->p, s->len)) {
        assert(wk->nbound < ROUTER_MAX_PARAMS);
        wk->bound[wk->nbound++] = depth;
        if (walk(wk, n->param, depth + 1))
            return true;
        wk->nbound--;
    }
    return false;
}

static int cmp_method(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void render_allow(struct walk *wk, char *out, size_t outlen)
{
    size_t used = 0;

    for (size_t i = 0; i < wk->nallow; i++)
        if (strcmp(wk->allow[i], "GET") == 0)
            allow_add(wk, "HEAD");
    qsort(wk->allow, wk->nallow, sizeof(wk->allow[0]), cmp_method);
    out[0] = '\0';
    for (size_t i = 0; i < wk->nallow; i++) {
        size_t len = strlen(wk->allow[i]);
        size_t sep = used ? 2 : 0;
        if (used + sep + len + 1 > outlen)
            break; /* a whole method or none: a cut name would be a lie */
        memcpy(out + used, ", ", sep);
        memcpy(out + used + sep, wk->allow[i], len);
        used += sep + len;
        out[used] = '\0';
    }
}

enum router_result router_match(const struct router *r, const char *method, size_t method_len,
                                const char *path, size_t path_len, struct router_match *m)
{
    struct seg segs[ROUTER_MAX_SEGMENTS];
    struct seg tsegs[ROUTER_MAX_SEGMENTS];
    struct walk wk;
    size_t nsegs = 0, ntsegs = 0, k = 0;

    memset(m, 0, sizeof(*m));
    if (!path || !split_path(path, path_len, segs, &nsegs))
        return ROUTER_NOT_FOUND;
    memset(&wk, 0, sizeof(wk));
    wk.segs = segs;
    wk.nsegs = nsegs;
    wk.method = method ? method : "";
    wk.mlen = method ? method_len : 0;
    if (!walk(&wk, &r->root, 0)) {
        if (!wk.path_matched)
            return ROUTER_NOT_FOUND;
        render_allow(&wk, m->allow, sizeof(m->allow));
        return ROUTER_METHOD_NOT_ALLOWED;
    }

    m->route = wk.route;
    /* Names come from the matched route's own template: routes sharing a node may name
     * their parameters differently. */
    int trc = split_template(wk.route->path, tsegs, &ntsegs);
    assert(trc == 0); /* it parsed when it was added, and templates are static */
    (void)trc;
    for (size_t i = 0; i < ntsegs && k < wk.nbound; i++) {
        if (!tsegs[i].param)
            continue;
        const struct seg *v = &segs[wk.bound[k]];
        long dn;
        m->names[k] = tsegs[i].p;
        m->name_lens[k] = tsegs[i].len;
        m->values[k] = xmalloc(v->len + 1);
        dn = qs_decode(m->values[k], v->p, v->len, 0);
        assert(dn >= 0 && strlen(m->values[k]) == (size_t)dn);
        (void)dn;
        k++;
    }
    m->nparams = k;
    return ROUTER_FOUND;
}

void router_match_cleanup(struct router_match *m)
{
    for (size_t i = 0; i < m->nparams; i++) {
        free(m->values[i]);
        m->values[i] = NULL;
    }
    m->nparams = 0;
}

const char *router_param(const struct router_match *m, const char *name)
{
    size_t len = strlen(name);
    for (size_t i = 0; i < m->nparams; i++)
        if (m->name_lens[i] == len && memcmp(m->names[i], name, len) == 0)
            return m->values[i];
    return NULL;
}

size_t router_count(const struct router *r)
{
    return r->n;
}

const struct route *router_at(const struct router *r, size_t i)
{
    return i < r->n ? r->all[i] : NULL;
}
