/*
 * feature: one USGS GeoJSON feature (jansson tree) -> struct quake, validated. The summary
 * feeds, the FDSN event service (format=geojson) and replay files all carry these.
 *
 * A feature is accepted only when everything stored from it is within these ranges, so a bad
 * feature is refused here, with a reason, instead of failing a whole batch in PostgreSQL:
 *   id            1..QUAKE_ID_MAX characters of [A-Za-z0-9._-] (feature "id")
 *   time          required integer milliseconds since 1970, in [QUAKE_TIME_MIN_MS, QUAKE_TIME_MAX_MS]
 *   updated       integer milliseconds, same range; time when null or absent
 *   coordinates   geometry {"type":"Point","coordinates":[lon, lat, depth_km]}, all numbers:
 *                 lon in [-180, 180], lat in [-90, 90], depth in [QUAKE_DEPTH_MIN_KM, QUAKE_DEPTH_MAX_KM]
 *   mag           number in [QUAKE_MAG_MIN, QUAKE_MAG_MAX], or null (NaN)
 *   cdi, mmi      number in [0, QUAKE_INTENSITY_MAX], or null (NaN)
 *   gap           number in [0, 360], or null (NaN)
 *   sig           integer in [0, QUAKE_SIG_MAX], or null (QUAKE_INT_NULL)
 *   felt          integer in [0, INT32_MAX], or null (QUAKE_INT_NULL)
 *   tsunami       0, 1, true, false or null (false)
 *   status        string (stored in lower case; "automatic" when null), type (event type;
 *                 "earthquake" when null), magType, place, alert, net, code, sources, title:
 *                 string or null (NULL)
 *   properties    object, re-rendered compact (shortest round-trip numbers) in at most
 *                 QUAKE_PROPERTIES_MAX bytes, nested at most QUAKE_PROPERTIES_DEPTH deep, with
 *                 no U+0000 in any key or string (PostgreSQL's text and jsonb refuse it)
 * Other members (bbox, unknown properties) are kept in properties or ignored.
 *
 * Must not: do I/O, log, or keep state: it is pure, and fuzzed (fuzz/fuzz_quake_feature.c).
 */
#ifndef STRATA_QUAKES_FEATURE_H
#define STRATA_QUAKES_FEATURE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

#define QUAKE_ID_MAX 128
#define QUAKE_TIME_MIN_MS (-62135596800000LL) /* 0001-01-01T00:00:00Z */
#define QUAKE_TIME_MAX_MS 253402300799999LL   /* 9999-12-31T23:59:59.999Z */
#define QUAKE_DEPTH_MIN_KM (-100.0)           /* events above sea level have negative depths */
#define QUAKE_DEPTH_MAX_KM 1000.0
#define QUAKE_MAG_MIN (-10.0)
#define QUAKE_MAG_MAX 12.0
#define QUAKE_INTENSITY_MAX 12.0 /* Modified Mercalli XII */
#define QUAKE_SIG_MAX 100000
#define QUAKE_PROPERTIES_MAX (256 * 1024)
#define QUAKE_PROPERTIES_DEPTH 32
#define QUAKE_INT_NULL INT64_MIN /* sig, felt: JSON null */

struct quake {
    char *id;
    int64_t time_ms, updated_ms;
    double mag; /* NaN: null */
    char *magtype, *place;
    double lon, lat, depth_km;
    char *status; /* never NULL, lower case */
    char *type;   /* event type; never NULL */
    char *alert;
    bool tsunami;
    int64_t sig, felt; /* QUAKE_INT_NULL: null */
    double cdi, mmi, gap; /* NaN: null */
    char *net, *code, *sources, *title;
    char *properties; /* compact JSON object text; never NULL */
};

/* Fills *out (all strings owned by it; release with quake_cleanup) and returns 0; or returns
 * STRATA_EINVAL (missing member, wrong type) / STRATA_ERANGE (out of range) with *out left
 * empty and the reason in err ("time: missing", "geometry.coordinates[1]: latitude out of
 * range"). Never fails for anything else. */
int quake_feature_parse(const json_t *feature, struct quake *out, char *err, size_t errlen) STRATA_MUST_CHECK;

/* The feature's "id" when it is a string (for logging a refused feature), else NULL. */
const char *quake_feature_id(const json_t *feature);

/* True when the stored row is a deletion (status "deleted"). */
bool quake_is_deleted(const struct quake *q);

/* Frees what quake_feature_parse allocated; leaves *q empty. Safe on an empty struct. */
void quake_cleanup(struct quake *q);

#endif
