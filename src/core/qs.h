/*
 * qs: URL query-string parser (application/x-www-form-urlencoded, WHATWG URL §5.1).
 * Splits on '&', then on the first '='; '+' decodes to a space and %XX to its byte.
 * Keeps repeated keys in order, and empty values ("a=" and "a" both give a = ""). Empty
 * pieces ("&&") are skipped. A '%' not followed by two hex digits, a decoded NUL byte, or
 * more than QS_MAX_PAIRS pairs is an error: the caller answers 400.
 *
 * Must not: interpret the values (that is params.c's job).
 */
#ifndef STRATA_QS_H
#define STRATA_QS_H

#include <stddef.h>

#include "core/err.h"

#define QS_MAX_PAIRS 128

struct qs_pair {
    char *key;   /* decoded, NUL-terminated, owned by the qs */
    char *value; /* decoded, NUL-terminated, owned by the qs; "" when absent */
};

struct qs {
    struct qs_pair *pairs;
    size_t n;
};

/* Parses s[0..len) (without the leading '?'). On error q is left empty and, when bad_key is
 * not NULL, *bad_key receives a malloc'd copy of the raw key that failed (caller frees). */
int qs_parse(struct qs *q, const char *s, size_t len, char **bad_key) STRATA_MUST_CHECK;
void qs_cleanup(struct qs *q);

/* First value for key, or NULL. */
const char *qs_get(const struct qs *q, const char *key);
size_t qs_count(const struct qs *q, const char *key);

/* Decodes one percent-encoded component (no '+' rule when plus_is_space is 0). Writes at
 * most len bytes + NUL to out (out may be s). Returns decoded length or STRATA_EINVAL. */
long qs_decode(char *out, const char *s, size_t len, int plus_is_space);
/* Appends s percent-encoded for a query string: RFC 3986's unreserved characters
 * (A-Z a-z 0-9 - . _ ~) and those in also_safe (e.g. ":,") are kept, every other byte is %XX. */
struct buf;
void qs_escape(struct buf *out, const char *s, const char *also_safe);

#endif
