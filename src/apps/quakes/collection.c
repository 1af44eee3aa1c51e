#include "apps/quakes/collection.h"

#include <stdlib.h>
#include <string.h>

#include "core/mem.h"

struct scan {
    const char *s;
    size_t n, i;
    unsigned char open[QUAKE_COLLECTION_DEPTH]; /* the brackets open inside the value being skipped */
};

/* A member's value, as far as the sort key cares. */
enum kind { K_OTHER, K_INT, K_NULL };

static void ws(struct scan *sc)
{
    while (sc->i < sc->n) {
        char c = sc->s[sc->i];
        if (c != ' ' && c != '\n' && c != '\r' && c != '\t')
            break;
        sc->i++;
    }
}

/* At '"': moves past the closing quote. false when the text ends first. */
static bool string(struct scan *sc)
{
    size_t i = sc->i + 1;
    for (;;) {
        const char *q = i < sc->n ? memchr(sc->s + i, '"', sc->n - i) : NULL;
        if (!q)
            return false;
        size_t at = (size_t)(q - sc->s), bs = 0;
        while (at - bs > sc->i + 1 && sc->s[at - bs - 1] == '\\')
            bs++;
        i = at + 1;
        if (bs % 2 == 0)
            break;
    }
    sc->i = i;
    return true;
}

/* A string at sc->i: its characters' range (without quotes); *esc when it has an escape. */
static bool string_span(struct scan *sc, size_t *off, size_t *len, bool *esc)
{
    size_t start = sc->i + 1;
    if (!string(sc))
        return false;
    *off = start;
    *len = sc->i - 1 - start;
    *esc = memchr(sc->s + start, '\\', *len) != NULL;
    return true;
}

static bool scalar_char(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' || c == '+' ||
           c == '.';
}

/* A number or literal: at least one character. */
static bool scalar(struct scan *sc)
{
    size_t start = sc->i;
    while (sc->i < sc->n && scalar_char(sc->s[sc->i]))
        sc->i++;
    return sc->i > start;
}

/* Any value, starting at a non-space character, inside `depth` open containers. */
static bool skip_value(struct scan *sc, int depth)
{
    char c = sc->i < sc->n ? sc->s[sc->i] : '\0';
    if (c == '"')
        return string(sc);
    if (c != '{' && c != '[')
        return scalar(sc);
    int d = 0;
    while (sc->i < sc->n) {
        c = sc->s[sc->i];
        switch (c) {
        case '"':
            if (!string(sc))
                return false;
            continue;
        case '{':
        case '[':
            if (depth + d >= QUAKE_COLLECTION_DEPTH)
                return false;
            sc->open[d++] = (unsigned char)c;
            break;
        case '}':
        case ']':
            if (d == 0 || sc->open[d - 1] != (c == '}' ? '{' : '['))
                return false;
            if (--d == 0) {
                sc->i++;
                return true;
            }
            break;
        default:
            break;
        }
        sc->i++;
    }
    return false;
}

/* A value that may be a sort-key integer: *kind says what it was. */
static bool key_value(struct scan *sc, int depth, enum kind *kind, int64_t *v)
{
    size_t start = sc->i;
    *kind = K_OTHER;
    if (!skip_value(sc, depth))
        return false;
    const char *p = sc->s + start, *e = sc->s + sc->i;
    if (e - p == 4 && !memcmp(p, "null", 4)) {
        *kind = K_NULL;
        return true;
    }
    bool neg = p < e && *p == '-';
    if (neg)
        p++;
    if (p == e)
        return true;
    uint64_t x = 0;
    for (; p < e; p++) {
        if (*p < '0' || *p > '9')
            return true;
        unsigned d = (unsigned)(*p - '0');
        if (x > (UINT64_MAX - d) / 10)
            return true;
        x = x * 10 + d;
    }
    if (x > (uint64_t)INT64_MAX) /* INT64_MIN is out of every range that matters here */
        return true;
    *v = neg ? -(int64_t)x : (int64_t)x;
    *kind = K_INT;
    return true;
}

static bool name_is(const struct scan *sc, size_t off, size_t len, const char *name)
{
    return len == strlen(name) && !memcmp(sc->s + off, name, len);
}

/* Walks an object's members at sc->i ('{'), inside `depth` open containers; member() is called
 * with sc->i at each value and must move past it. */
typedef bool (*member_fn)(struct scan *sc, int depth, size_t off, size_t len, bool esc, void *arg);

static bool object(struct scan *sc, int depth, member_fn member, void *arg)
{
    if (depth >= QUAKE_COLLECTION_DEPTH)
        return false;
    sc->i++;
    ws(sc);
    if (sc->i < sc->n && sc->s[sc->i] == '}') {
        sc->i++;
        return true;
    }
    for (;;) {
        size_t off, len;
        bool esc;
        if (sc->i >= sc->n || sc->s[sc->i] != '"' || !string_span(sc, &off, &len, &esc))
            return false;
        ws(sc);
        if (sc->i >= sc->n || sc->s[sc->i] != ':')
            return false;
        sc->i++;
        ws(sc);
        if (!member(sc, depth + 1, off, len, esc, arg))
            return false;
        ws(sc);
        if (sc->i >= sc->n)
            return false;
        if (sc->s[sc->i] == '}') {
            sc->i++;
            return true;
        }
        if (sc->s[sc->i] != ',')
            return false;
        sc->i++;
        ws(sc);
    }
}

/* What one feature's members say about its sort key. */
struct feature_key {
    bool unsure;          /* a member name with an escape: could be one of the key's */
    enum kind time, updated;
    int64_t time_ms, updated_ms;
    bool id_plain;        /* "id" is a string without escapes */
    size_t id_off, id_len;
};

static bool property_member(struct scan *sc, int depth, size_t off, size_t len, bool esc, void *arg)
{
    struct feature_key *k = arg;
    if (esc)
        k->unsure = true;
    if (name_is(sc, off, len, "time"))
        return key_value(sc, depth, &k->time, &k->time_ms);
    if (name_is(sc, off, len, "updated"))
        return key_value(sc, depth, &k->updated, &k->updated_ms);
    return skip_value(sc, depth);
}

static bool feature_member(struct scan *sc, int depth, size_t off, size_t len, bool esc, void *arg)
{
    struct feature_key *k = arg;
    if (esc)
        k->unsure = true;
    if (name_is(sc, off, len, "id")) {
        bool id_esc;
        k->id_plain = false;
        if (sc->i < sc->n && sc->s[sc->i] == '"') {
            if (!string_span(sc, &k->id_off, &k->id_len, &id_esc))
                return false;
            k->id_plain = !id_esc;
            return true;
        }
        return skip_value(sc, depth);
    }
    if (name_is(sc, off, len, "properties")) {
        /* the last "properties" counts: forget what an earlier one said */
        k->time = k->updated = K_OTHER;
        if (sc->i < sc->n && sc->s[sc->i] == '{') {
            k->updated = K_NULL; /* absent: time */
            return object(sc, depth, property_member, k);
        }
        return skip_value(sc, depth);
    }
    return skip_value(sc, depth);
}

static void push(struct quake_collection *c, const struct quake_span *sp)
{
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 1024;
        c->v = xrealloc(c->v, c->cap * sizeof *c->v);
    }
    c->v[c->n++] = *sp;
}

/* At '[' of the features array (inside the top-level object). */
static bool features(struct scan *sc, struct quake_collection *c)
{
    c->n = 0;
    c->array_begin = sc->i;
    sc->i++;
    ws(sc);
    if (sc->i < sc->n && sc->s[sc->i] == ']') {
        c->array_end = ++sc->i;
        return true;
    }
    for (;;) {
        struct quake_span sp = {.off = sc->i};
        if (sc->i < sc->n && sc->s[sc->i] == '{') {
            struct feature_key k = {.time = K_OTHER, .updated = K_OTHER};
            if (!object(sc, 2, feature_member, &k))
                return false;
            if (!k.unsure && k.id_plain && k.time == K_INT && k.updated != K_OTHER) {
                sp.keyed = true;
                sp.time_ms = k.time_ms;
                sp.updated_ms = k.updated == K_INT ? k.updated_ms : k.time_ms;
                sp.id_off = k.id_off;
                sp.id_len = k.id_len;
            }
        } else if (!skip_value(sc, 2)) {
            return false;
        }
        sp.len = sc->i - sp.off;
        push(c, &sp);
        ws(sc);
        if (sc->i >= sc->n)
            return false;
        if (sc->s[sc->i] == ']') {
            c->array_end = ++sc->i;
            return true;
        }
        if (sc->s[sc->i] != ',')
            return false;
        sc->i++;
        ws(sc);
    }
}

struct top {
    struct quake_collection *c;
    bool have; /* the last "features" member is an array */
};

static bool top_member(struct scan *sc, int depth, size_t off, size_t len, bool esc, void *arg)
{
    struct top *t = arg;
    if (esc)
        return false;
    if (!name_is(sc, off, len, "features"))
        return skip_value(sc, depth);
    t->have = sc->i < sc->n && sc->s[sc->i] == '[';
    return t->have ? features(sc, t->c) : skip_value(sc, depth);
}

int quake_span_cmp(const char *text, const struct quake_span *a, const struct quake_span *b)
{
    if (a->time_ms != b->time_ms)
        return a->time_ms < b->time_ms ? -1 : 1;
    if (a->updated_ms != b->updated_ms)
        return a->updated_ms < b->updated_ms ? -1 : 1;
    size_t n = a->id_len < b->id_len ? a->id_len : b->id_len;
    int r = memcmp(text + a->id_off, text + b->id_off, n);
    if (r)
        return r;
    return a->id_len < b->id_len ? -1 : a->id_len > b->id_len;
}

static int span_order(const void *a, const void *b, void *text)
{
    const struct quake_span *x = a, *y = b;
    int r = quake_span_cmp(text, x, y);
    return r ? r : x->off < y->off ? -1 : x->off > y->off;
}

bool quake_collection_sort(const char *text, struct quake_collection *c)
{
    for (size_t i = 0; i < c->n; i++)
        if (!c->v[i].keyed)
            return false;
    qsort_r(c->v, c->n, sizeof *c->v, span_order, (void *)(uintptr_t)text);
    c->sorted = true;
    return true;
}

int quake_collection_scan(const char *text, size_t len, struct quake_collection *out)
{
    memset(out, 0, sizeof *out);
    struct scan *sc = xmalloc(sizeof *sc);
    struct top t = {.c = out};
    int rc = STRATA_EINVAL;

    sc->s = text;
    sc->n = len;
    sc->i = 0;
    ws(sc);
    if (sc->i >= sc->n || sc->s[sc->i] != '{' || !object(sc, 0, top_member, &t) || !t.have)
        goto out;
    ws(sc);
    if (sc->i != sc->n)
        goto out;
    out->sorted = true;
    for (size_t i = 0; i < out->n && out->sorted; i++)
        if (!out->v[i].keyed || (i > 0 && quake_span_cmp(text, &out->v[i - 1], &out->v[i]) > 0))
            out->sorted = false;
    rc = 0;
out:
    if (rc < 0)
        out->n = 0;
    free(sc);
    return rc;
}

void quake_collection_cleanup(struct quake_collection *c)
{
    free(c->v);
    memset(c, 0, sizeof *c);
}
