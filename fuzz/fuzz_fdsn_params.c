/*
 * fuzz_fdsn_params: the FDSN event service's parameter reader (apps/quakes/fdsn_params) on
 * arbitrary query strings, through the same qs_parse every request takes. Beyond "no crash":
 * an accepted query is coherent (min <= max where both are given, an annulus only inside its
 * circle, a 0-based offset, limits in range) and its statement parameters are filled for
 * every page form without reading past them (ASan).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "apps/quakes/fdsn_params.h"
#include "core/qs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 8192)
        return 0;
    struct qs q;
    if (qs_parse(&q, (const char *)data, size, NULL) < 0)
        return 0;
    static struct fdsn_query fq;
    static struct fdsn_sql_values v;
    char msg[512];
    for (int is_count = 0; is_count < 2; is_count++) {
        int status = fdsn_query_parse(&q, is_count, &fq, msg, sizeof msg);
        if (status != 0) {
            if ((status != 400 && status != 501) || !msg[0] || strlen(msg) >= sizeof msg)
                abort();
            continue;
        }
        const struct quake_filter *f = &fq.f;
        if ((f->has_minmag && f->has_maxmag && f->minmag > f->maxmag) ||
            (f->has_mindepth && f->has_maxdepth && f->mindepth > f->maxdepth) ||
            (f->has_start && f->has_end && f->start_us > f->end_us) || fq.offset < 0 ||
            (fq.has_limit && fq.limit < 1) || (fq.minradius_m > 0 && (!f->has_radius || fq.minradius_m > f->radius_km * 1000 + 1e-6)) ||
            (f->has_radius && (!f->has_lat || !f->has_lon)))
            abort();
        fdsn_sql_values(&fq, &v);
        for (int i = 0; i < QUAKES_FDSN_SQL_NPARAMS; i++)
            if (v.values[i] && strlen(v.values[i]) > 200)
                abort();
        fdsn_sql_set_page(&v, "1690000000000000", "us7000kfm5", 0, 1000);
        fdsn_sql_set_page(&v, "-Infinity", "x", 5, 1);
    }
    qs_cleanup(&q);
    return 0;
}
