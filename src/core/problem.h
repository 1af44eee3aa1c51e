/*
 * problem: RFC 9457 problem details. Renders {"type","title","status","detail"} plus
 * "errors":[{"field","message"}] for validation failures and "request_id" so a user can
 * quote it to an operator. The text is always ours: never an SQL message or a stack trace.
 */
#ifndef STRATA_PROBLEM_H
#define STRATA_PROBLEM_H

#include <stddef.h>

#include "core/buf.h"

#define PROBLEM_CONTENT_TYPE "application/problem+json"

struct problem_field {
    const char *field;
    const char *message;
};

/* Standard reason phrase for an HTTP status ("Not Found"); "Error" when unknown. */
const char *problem_title(int status);
/* A type URI per status: "about:blank" for the plain statuses, a Strata URI
 * ("https://strata.dev/problems/validation") for 400/422 with field errors. */
void problem_render(struct buf *out, int status, const char *detail,
                    const struct problem_field *fields, size_t nfields, const char *request_id);

#endif
