/*
 * qs: application/x-www-form-urlencoded query parsing (see qs.h). All pairs and their
 * decoded strings live in one allocation owned by q->pairs, so a request's query costs one
 * malloc and one free.
 */
#include "core/qs.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/mem.h"

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

long qs_decode(char *out, const char *s, size_t len, int plus_is_space)
{
    size_t j = 0;

    /* Writing never overtakes reading (j <= i), which is what makes out == s safe. */
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '%') {
            if (len - i < 3)
                return STRATA_EINVAL;
            int hi = hexval(s[i + 1]);
            int lo = hexval(s[i + 2]);
            if (hi < 0 || lo < 0)
                return STRATA_EINVAL;
            out[j++] = (char)(hi << 4 | lo);
            i += 2;
        } else if (c == '+' && plus_is_space) {
            out[j++] = ' ';
        } else {
            out[j++] = c;
        }
    }
    out[j] = '\0';
    return (long)j;
}

/* Decodes into *dst (advanced past the NUL); false on bad encoding or an embedded NUL,
 * which no C-string consumer downstream could see past. */
static bool decode_part(char **dst, const char *s, size_t len)
{
    long n = qs_decode(*dst, s, len, 1);
    if (n < 0 || memchr(*dst, '\0', (size_t)n))
        return false;
    *dst += n + 1;
    return true;
}

/* The raw (undecoded) key of the piece starting at p, for the caller's error message. */
static char *raw_key(const char *p, const char *end)
{
    const char *amp = memchr(p, '&', (size_t)(end - p));
    const char *pend = amp ? amp : end;
    const char *eq = memchr(p, '=', (size_t)(pend - p));
    return xstrndup(p, (size_t)((eq ? eq : pend) - p));
}

int qs_parse(struct qs *q, const char *s, size_t len, char **bad_key)
{
    int rc = 0;
    size_t pieces = 1;
    const char *p = s, *end = s + len;
    char *store;

    q->pairs = NULL;
    q->n = 0;
    if (bad_key)
        *bad_key = NULL;
    if (len == 0)
        goto out;

    for (size_t i = 0; i < len; i++)
        pieces += s[i] == '&';
    if (pieces > QS_MAX_PAIRS)
        pieces = QS_MAX_PAIRS;
    /* Decoding never grows a string; each pair needs two NULs at most. */
    q->pairs = xmalloc(pieces * sizeof(struct qs_pair) + len + 2 * pieces);
    store = (char *)(q->pairs + pieces);

    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *pend = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(pend - p));
        const char *kend = eq ? eq : pend;
        struct qs_pair *pair;

        if (pend == p) { /* "&&": nothing between */
            p = pend + 1;
            continue;
        }
        if (q->n == QS_MAX_PAIRS) {
            rc = STRATA_ETOOBIG;
            goto out;
        }
        pair = &q->pairs[q->n];
        pair->key = store;
        if (!decode_part(&store, p, (size_t)(kend - p))) {
            rc = STRATA_EINVAL;
            goto out;
        }
        pair->value = store;
        if (!decode_part(&store, eq ? eq + 1 : pend, eq ? (size_t)(pend - eq - 1) : 0)) {
            rc = STRATA_EINVAL;
            goto out;
        }
        q->n++;
        p = amp ? amp + 1 : end;
    }

out:
    if (rc) {
        if (bad_key)
            *bad_key = raw_key(p, end);
        qs_cleanup(q);
    }
    return rc;
}

void qs_cleanup(struct qs *q)
{
    free(q->pairs);
    q->pairs = NULL;
    q->n = 0;
}

const char *qs_get(const struct qs *q, const char *key)
{
    for (size_t i = 0; i < q->n; i++)
        if (strcmp(q->pairs[i].key, key) == 0)
            return q->pairs[i].value;
    return NULL;
}

size_t qs_count(const struct qs *q, const char *key)
{
    size_t n = 0;
    for (size_t i = 0; i < q->n; i++)
        n += strcmp(q->pairs[i].key, key) == 0;
    return n;
}

void qs_escape(struct buf *out, const char *s, const char *also_safe)
{
    static const char hex[] = "0123456789ABCDEF";
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || strchr("-._~", c) ||
            (also_safe && strchr(also_safe, c))) {
            buf_putc(out, (char)c);
        } else {
            buf_putc(out, '%');
            buf_putc(out, hex[c >> 4]);
            buf_putc(out, hex[c & 15]);
        }
    }
}
