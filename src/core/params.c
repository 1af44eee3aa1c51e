/*
 * params: binding of a parsed query string to a route's declared parameters (see params.h).
 * Every message written here reaches the client in a problem document, so they are short,
 * name no internals and end without a period.
 */
#include "core/params.h"

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/mem.h"
#include "core/timefmt.h"

#define DEFAULT_MAX_LEN 256

size_t params_count(const struct param_spec *specs)
{
    size_t n = 0;
    while (specs && specs[n].name)
        n++;
    return n;
}

const char *params_type_name(enum param_type t)
{
    switch (t) {
    case PARAM_INT: return "integer";
    case PARAM_FLOAT: return "number";
    case PARAM_BOOL: return "boolean";
    case PARAM_TIME:
    case PARAM_ENUM:
    case PARAM_STRING: return "string";
    }
    return "string";
}

/* Longest prefix of s, at most max bytes, that does not end inside a UTF-8 sequence. */
static size_t utf8_prefix(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n <= max)
        return n;
    n = max;
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
        n--;
    return n;
}

void params_error_add(struct params_errors *errs, const char *field, const char *fmt, ...)
{
    va_list ap;
    size_t i;

    if (!errs || errs->n >= PARAMS_MAX_ERRORS)
        return;
    i = errs->n++;
    size_t flen = utf8_prefix(field, sizeof(errs->field[i]) - 1);
    memcpy(errs->field[i], field, flen);
    errs->field[i][flen] = '\0';
    va_start(ap, fmt);
    vsnprintf(errs->message[i], sizeof(errs->message[i]), fmt, ap);
    va_end(ap);
    errs->items[i].field = errs->field[i];
    errs->items[i].message = errs->message[i];
}

/* A decimal number in the JSON grammar's spirit, checked by hand because strtoll/strtod
 * accept leading spaces, hex, "inf" and "nan". */
static bool is_decimal(const char *s, bool allow_frac)
{
    size_t i = 0, nd = 0;

    if (s[i] == '-' || s[i] == '+')
        i++;
    while (s[i] >= '0' && s[i] <= '9')
        i++, nd++;
    if (allow_frac) {
        if (s[i] == '.') {
            i++;
            while (s[i] >= '0' && s[i] <= '9')
                i++, nd++;
        }
        if (nd > 0 && (s[i] == 'e' || s[i] == 'E')) {
            size_t ne = 0;
            i++;
            if (s[i] == '-' || s[i] == '+')
                i++;
            while (s[i] >= '0' && s[i] <= '9')
                i++, ne++;
            if (ne == 0)
                return false;
        }
    }
    return nd > 0 && s[i] == '\0';
}

static int parse_int(const struct param_spec *spec, const char *text, struct param_value *out,
                     char *msg, size_t msglen)
{
    bool bounded = spec->flags & PARAM_BOUNDED;
    int rc = 0;
    long long v = 0;

    if (!is_decimal(text, false)) {
        rc = STRATA_EINVAL;
        goto out;
    }
    errno = 0;
    v = strtoll(text, NULL, 10);
    if (errno == ERANGE || (bounded && (v < spec->imin || v > spec->imax)))
        rc = STRATA_ERANGE;

out:
    if (rc) {
        if (bounded)
            snprintf(msg, msglen, "must be an integer between %lld and %lld",
                     (long long)spec->imin, (long long)spec->imax);
        else
            snprintf(msg, msglen, "must be an integer");
        return rc;
    }
    out->i = v;
    out->f = (double)v;
    return 0;
}

static int parse_float(const struct param_spec *spec, const char *text, struct param_value *out,
                       char *msg, size_t msglen)
{
    bool bounded = spec->flags & PARAM_BOUNDED;
    int rc = 0;
    double v = 0;
    char *end;

    if (!is_decimal(text, true)) {
        rc = STRATA_EINVAL;
        goto out;
    }
    v = strtod(text, &end);
    if (*end != '\0') /* a locale whose decimal point is not '.' */
        rc = STRATA_EINVAL;
    else if (!isfinite(v) || (bounded && (v < spec->fmin || v > spec->fmax)))
        rc = STRATA_ERANGE;

out:
    if (rc) {
        if (bounded)
            snprintf(msg, msglen, "must be a number between %g and %g", spec->fmin,
                     spec->fmax);
        else
            snprintf(msg, msglen, "must be a finite decimal number");
        return rc;
    }
    out->f = v;
    return 0;
}

/* Length of the valid UTF-8 sequence at s (1..4) and its code point, or 0 if invalid. */
static size_t utf8_next(const unsigned char *s, unsigned *cp)
{
    unsigned c = s[0];
    size_t n;
    unsigned min;

    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if (c >= 0xC2 && c <= 0xDF)
        n = 2, min = 0x80, c &= 0x1F;
    else if (c >= 0xE0 && c <= 0xEF)
        n = 3, min = 0x800, c &= 0x0F;
    else if (c >= 0xF0 && c <= 0xF4)
        n = 4, min = 0x10000, c &= 0x07;
    else
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) /* also stops at the NUL */
            return 0;
        c = c << 6 | (s[i] & 0x3F);
    }
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
        return 0;
    *cp = c;
    return n;
}

static int parse_string(const struct param_spec *spec, const char *text, char *msg,
                        size_t msglen)
{
    size_t max = spec->max_len ? spec->max_len : DEFAULT_MAX_LEN;
    const unsigned char *s = (const unsigned char *)text;

    if (strlen(text) > max) {
        snprintf(msg, msglen, "must be at most %zu bytes", max);
        return STRATA_ERANGE;
    }
    while (*s) {
        unsigned cp;
        size_t n = utf8_next(s, &cp);
        if (n == 0) {
            snprintf(msg, msglen, "must be valid UTF-8");
            return STRATA_EINVAL;
        }
        /* C0, DEL and C1: nothing a log line or a header should ever carry */
        if (cp < 0x20 || (cp >= 0x7F && cp <= 0x9F)) {
            snprintf(msg, msglen, "must not contain control characters");
            return STRATA_EINVAL;
        }
        s += n;
    }
    return 0;
}

static int parse_enum(const struct param_spec *spec, const char *text, struct param_value *out,
                      char *msg, size_t msglen)
{
    size_t used;

    for (int i = 0; spec->choices && spec->choices[i]; i++) {
        if (strcmp(spec->choices[i], text) == 0) {
            out->e = i;
            return 0;
        }
    }
    used = (size_t)snprintf(msg, msglen, "must be one of: ");
    for (size_t i = 0; spec->choices && spec->choices[i] && used < msglen; i++)
        used += (size_t)snprintf(msg + used, msglen - used, "%s%s", i ? ", " : "",
                                 spec->choices[i]);
    return STRATA_EINVAL;
}

int params_parse_value(const struct param_spec *spec, const char *text, struct param_value *out,
                       char *msg, size_t msglen)
{
    int rc = 0;

    out->s = text;
    switch (spec->type) {
    case PARAM_INT:
        rc = parse_int(spec, text, out, msg, msglen);
        break;
    case PARAM_FLOAT:
        rc = parse_float(spec, text, out, msg, msglen);
        break;
    case PARAM_BOOL:
        if (strcasecmp(text, "true") == 0 || strcmp(text, "1") == 0) {
            out->b = true;
        } else if (strcasecmp(text, "false") == 0 || strcmp(text, "0") == 0) {
            out->b = false;
        } else {
            snprintf(msg, msglen, "must be true or false");
            rc = STRATA_EINVAL;
        }
        break;
    case PARAM_TIME:
        if (time_parse(text, strlen(text), &out->i) < 0) {
            snprintf(msg, msglen, "must be a valid RFC 3339 or ISO 8601 time");
            rc = STRATA_EINVAL;
        }
        break;
    case PARAM_ENUM:
        rc = parse_enum(spec, text, out, msg, msglen);
        break;
    case PARAM_STRING:
        rc = parse_string(spec, text, msg, msglen);
        break;
    default:
        snprintf(msg, msglen, "has an unsupported type");
        rc = STRATA_EINVAL;
        break;
    }
    if (rc == 0)
        out->present = true;
    return rc;
}

static const struct param_spec *find_spec(const struct param_spec *specs, const char *key,
                                          size_t *idx)
{
    for (size_t i = 0; specs && specs[i].name; i++) {
        if (strcmp(specs[i].name, key) == 0 ||
            (specs[i].alias && strcmp(specs[i].alias, key) == 0)) {
            *idx = i;
            return &specs[i];
        }
    }
    return NULL;
}

static bool is_absent(const struct param_spec *spec, const char *text)
{
    return text[0] == '\0' && !(spec->type == PARAM_STRING && (spec->flags & PARAM_EMPTY_OK));
}

/* What params_bind learned about one spec while reading the query. */
struct seen {
    unsigned count; /* times given, under its name or alias, empty or not */
    bool bad;       /* an error was already reported for it */
};

int params_bind(const struct param_spec *specs, const struct qs *q, struct param_value *out,
                struct params_errors *errs)
{
    size_t nspecs = params_count(specs);
    struct seen seen_stack[32];
    struct seen *seen = nspecs <= 32 ? seen_stack : xcalloc(nspecs, sizeof(*seen));
    bool failed = false;
    char msg[sizeof(errs->message[0])];

    if (errs)
        errs->n = 0;
    memset(seen, 0, nspecs * sizeof(*seen));
    memset(out, 0, nspecs * sizeof(*out));

    for (size_t i = 0; q && i < q->n; i++) {
        const char *key = q->pairs[i].key, *val = q->pairs[i].value;
        size_t k;
        const struct param_spec *spec = find_spec(specs, key, &k);
        struct param_value v;

        if (!spec) {
            params_error_add(errs, key, "unknown parameter");
            failed = true;
            continue;
        }
        seen[k].count++;
        if (seen[k].count > 1 && !(spec->flags & PARAM_MULTI)) {
            if (!seen[k].bad) /* once per parameter, however often it repeats */
                params_error_add(errs, key, "given more than once");
            seen[k].bad = true;
            failed = true;
            continue;
        }
        if (is_absent(spec, val))
            continue;
        memset(&v, 0, sizeof(v));
        if (params_parse_value(spec, val, &v, msg, sizeof(msg)) < 0) {
            params_error_add(errs, key, "%s", msg);
            seen[k].bad = true;
            failed = true;
            continue;
        }
        v.given = true;
        out[k] = v;
    }

    for (size_t k = 0; k < nspecs; k++) {
        const struct param_spec *spec = &specs[k];
        if (out[k].present || seen[k].bad)
            continue;
        if (spec->def && !is_absent(spec, spec->def)) {
            struct param_value v;
            memset(&v, 0, sizeof(v));
            /* A default that does not parse is the route author's bug, not the client's. */
            int rc = params_parse_value(spec, spec->def, &v, msg, sizeof(msg));
            assert(rc == 0);
            if (rc == 0)
                out[k] = v;
        }
        if (!out[k].present && (spec->flags & PARAM_REQUIRED)) {
            params_error_add(errs, spec->name, "is required");
            failed = true;
        }
    }

    if (seen != seen_stack)
        free(seen);
    return failed ? STRATA_EINVAL : 0;
}
