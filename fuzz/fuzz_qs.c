/*
 * fuzz_qs: query-string parsing and parameter binding, the path every request's query takes.
 * Checks beyond "no crash": the parse result is internally consistent and binding never
 * reports more errors than it may hold.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/params.h"
#include "core/qs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const orders[] = {"time", "time-asc", "magnitude", "magnitude-asc", NULL};

static const struct param_spec specs[] = {
    {.name = "limit", .type = PARAM_INT, .flags = PARAM_BOUNDED, .imin = 1, .imax = 1000,
     .def = "50"},
    {.name = "offset", .type = PARAM_INT},
    {.name = "minmagnitude", .type = PARAM_FLOAT, .flags = PARAM_BOUNDED, .fmin = -10,
     .fmax = 10, .alias = "minmag"},
    {.name = "latitude", .type = PARAM_FLOAT, .flags = PARAM_BOUNDED, .fmin = -90, .fmax = 90,
     .alias = "lat"},
    {.name = "depth", .type = PARAM_FLOAT},
    {.name = "starttime", .type = PARAM_TIME, .alias = "start"},
    {.name = "endtime", .type = PARAM_TIME, .alias = "end"},
    {.name = "orderby", .type = PARAM_ENUM, .choices = orders, .def = "time"},
    {.name = "live", .type = PARAM_BOOL},
    {.name = "q", .type = PARAM_STRING, .max_len = 64},
    {.name = "tag", .type = PARAM_STRING, .flags = PARAM_MULTI | PARAM_EMPTY_OK},
    {.name = "cursor", .type = PARAM_STRING, .flags = PARAM_REQUIRED},
    {.name = NULL},
};

#define NSPECS (sizeof(specs) / sizeof(specs[0]) - 1)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct qs q;
    char *bad = NULL;
    struct param_value v[NSPECS];
    struct params_errors errs;

    int rc = qs_parse(&q, (const char *)data, size, &bad);
    if (rc != 0) {
        if (!bad || q.n != 0 || q.pairs)
            abort();
        free(bad);
        return 0;
    }
    if (bad || q.n > QS_MAX_PAIRS)
        abort();
    for (size_t i = 0; i < q.n; i++) {
        /* decoded strings never grow and hold no NUL before their end */
        if (strlen(q.pairs[i].key) + strlen(q.pairs[i].value) > size)
            abort();
        if (qs_count(&q, q.pairs[i].key) == 0 || !qs_get(&q, q.pairs[i].key))
            abort();
    }

    rc = params_bind(specs, &q, v, &errs);
    if ((rc == 0) != (errs.n == 0) || errs.n > PARAMS_MAX_ERRORS)
        abort();
    for (size_t i = 0; i < errs.n; i++)
        if (strlen(errs.items[i].field) >= sizeof(errs.field[0]) || !errs.items[i].message[0])
            abort();
    if (rc == 0) {
        if (!v[0].present || v[0].i < 1 || v[0].i > 1000) /* limit: bounded, defaulted */
            abort();
        if (!v[7].present || v[7].e < 0 || v[7].e > 3) /* orderby: defaulted */
            abort();
        if (!v[11].present) /* cursor: required */
            abort();
    }
    qs_cleanup(&q);
    return 0;
}
