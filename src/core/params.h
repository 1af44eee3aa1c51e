/*
 * params: typed parameter declarations and their validation. A route declares its query
 * (and path) parameters as a NULL-name-terminated array of param_spec; params_bind checks a
 * parsed query string against it and fills one param_value per spec, in spec order. The same
 * declarations generate the OpenAPI document, so what is documented is what is enforced.
 *
 * Rules: an unknown parameter is an error naming it; a parameter given twice is an error
 * unless PARAM_MULTI; an empty value is "absent" for every type except PARAM_STRING with
 * PARAM_EMPTY_OK; an alias (FDSN short form) counts as the same parameter.
 */
#ifndef STRATA_PARAMS_H
#define STRATA_PARAMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/problem.h"
#include "core/qs.h"

enum param_type {
    PARAM_INT,    /* decimal int64 */
    PARAM_FLOAT,  /* finite decimal, no hex, no inf/nan */
    PARAM_BOOL,   /* true|false|1|0 (case-insensitive) */
    PARAM_TIME,   /* timefmt.h forms; value in microseconds since the epoch */
    PARAM_ENUM,   /* one of choices (exact match); value is the index */
    PARAM_STRING, /* UTF-8 text up to max_len bytes, no control characters */
};

enum param_flag {
    PARAM_REQUIRED = 1u << 0,
    PARAM_BOUNDED = 1u << 1,   /* min/max below apply */
    PARAM_MULTI = 1u << 2,     /* may repeat; the last value wins in param_value, all are in the qs */
    PARAM_EMPTY_OK = 1u << 3,  /* PARAM_STRING: "" is a present value */
};

struct param_spec {
    const char *name; /* NULL ends the array */
    enum param_type type;
    unsigned flags;
    int64_t imin, imax;        /* PARAM_INT with PARAM_BOUNDED */
    double fmin, fmax;         /* PARAM_FLOAT with PARAM_BOUNDED */
    const char *const *choices; /* PARAM_ENUM: NULL-terminated */
    size_t max_len;            /* PARAM_STRING: 0 means 256 */
    const char *def;           /* default, applied when absent (parsed like input) */
    const char *alias;         /* optional second name */
    const char *help;          /* one line for the API docs */
};

struct param_value {
    bool present; /* given, or defaulted */
    bool given;   /* given by the client */
    int64_t i;    /* PARAM_INT; PARAM_TIME (microseconds) */
    double f;     /* PARAM_FLOAT (also set for PARAM_INT) */
    bool b;       /* PARAM_BOOL */
    int e;        /* PARAM_ENUM index */
    const char *s; /* raw text; points into the qs (or the spec's def) */
};

#define PARAMS_MAX_ERRORS 8

struct params_errors {
    size_t n;
    struct problem_field items[PARAMS_MAX_ERRORS];
    char field[PARAMS_MAX_ERRORS][64];
    char message[PARAMS_MAX_ERRORS][160];
};

/* Binds q against specs into out[] (one per spec). Returns 0, or STRATA_EINVAL with errs
 * filled (at most PARAMS_MAX_ERRORS, the first ones found, in query order). */
int params_bind(const struct param_spec *specs, const struct qs *q, struct param_value *out,
                struct params_errors *errs) STRATA_MUST_CHECK;

/* Parses one value against one spec. On error returns STRATA_EINVAL/STRATA_ERANGE and writes
 * a user-facing message (no trailing period) to msg. */
int params_parse_value(const struct param_spec *spec, const char *text, struct param_value *out,
                       char *msg, size_t msglen) STRATA_MUST_CHECK;

size_t params_count(const struct param_spec *specs);
const char *params_type_name(enum param_type t); /* "integer", "number", ... (OpenAPI names) */

/* Adds one error (field, printf message) if room remains. */
void params_error_add(struct params_errors *errs, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
