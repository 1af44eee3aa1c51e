/*
 * fuzz_quake_feature: USGS GeoJSON features from untrusted feeds. The input is parsed with
 * jansson (U+0000 allowed, so the parser's own refusal of it is exercised); a
 * FeatureCollection has each of its features parsed, anything else is parsed as one feature.
 * Never crash; and every feature the parser accepts must be within the ranges feature.h
 * documents (abort otherwise), with properties that parse back to a JSON object equal to the
 * input's (numbers compared by value).
 */
#include <ctype.h>
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "apps/quakes/feature.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_INPUT (1u << 20)

/* Equal trees, numbers compared by value (the renderer writes 35.0 as 35). */
static bool same(const json_t *a, const json_t *b)
{
    const char *key;
    size_t klen, i;
    json_t *v;

    if (json_is_number(a))
        return json_is_number(b) && json_number_value(a) == json_number_value(b) &&
               (!json_is_integer(a) || !json_is_integer(b) || json_integer_value(a) == json_integer_value(b));
    if (json_typeof(a) != json_typeof(b))
        return false;
    switch (json_typeof(a)) {
    case JSON_OBJECT:
        if (json_object_size(a) != json_object_size(b))
            return false;
        json_object_keylen_foreach((json_t *)a, key, klen, v) {
            const json_t *o = json_object_getn(b, key, klen);
            if (!o || !same(v, o))
                return false;
        }
        return true;
    case JSON_ARRAY:
        if (json_array_size(a) != json_array_size(b))
            return false;
        json_array_foreach((json_t *)a, i, v)
            if (!same(v, json_array_get(b, i)))
                return false;
        return true;
    case JSON_STRING:
        return json_string_length(a) == json_string_length(b) &&
               memcmp(json_string_value(a), json_string_value(b), json_string_length(a)) == 0;
    default:
        return true;
    }
}

static void check_range(double v, double lo, double hi, bool nullable)
{
    if (isnan(v) ? !nullable : !(v >= lo && v <= hi))
        abort();
}

static void check_text(const char *s)
{
    if (!s)
        return;
    json_t *j = json_string(s); /* refuses invalid UTF-8 */
    if (!j)
        abort();
    json_decref(j);
}

static void check(const json_t *feature, const struct quake *q)
{
    size_t n = q->id ? strlen(q->id) : 0;
    if (n == 0 || n > QUAKE_ID_MAX)
        abort();
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)q->id[i]) && !strchr("._-", q->id[i]))
            abort();
    if (strcmp(q->id, quake_feature_id(feature)) != 0)
        abort();
    if (q->time_ms < QUAKE_TIME_MIN_MS || q->time_ms > QUAKE_TIME_MAX_MS || q->updated_ms < QUAKE_TIME_MIN_MS ||
        q->updated_ms > QUAKE_TIME_MAX_MS)
        abort();
    check_range(q->lon, -180, 180, false);
    check_range(q->lat, -90, 90, false);
    check_range(q->depth_km, QUAKE_DEPTH_MIN_KM, QUAKE_DEPTH_MAX_KM, false);
    check_range(q->mag, QUAKE_MAG_MIN, QUAKE_MAG_MAX, true);
    check_range(q->cdi, 0, QUAKE_INTENSITY_MAX, true);
    check_range(q->mmi, 0, QUAKE_INTENSITY_MAX, true);
    check_range(q->gap, 0, 360, true);
    if (q->sig != QUAKE_INT_NULL && (q->sig < 0 || q->sig > QUAKE_SIG_MAX))
        abort();
    if (q->felt != QUAKE_INT_NULL && (q->felt < 0 || q->felt > INT32_MAX))
        abort();
    if (!q->status || !q->type || !q->properties)
        abort();
    for (const char *p = q->status; *p; p++)
        if (isupper((unsigned char)*p))
            abort();
    const char *texts[] = {q->magtype, q->place, q->status, q->type, q->alert,
                           q->net,     q->code,  q->sources, q->title};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++)
        check_text(texts[i]);

    /* properties: bounded, the same object as the input's, with no U+0000 (jansson refuses
     * "\u0000" without JSON_ALLOW_NUL, so parsing back proves it) */
    size_t plen = strlen(q->properties);
    if (plen > QUAKE_PROPERTIES_MAX)
        abort();
    json_t *back = json_loadb(q->properties, plen, JSON_REJECT_DUPLICATES, NULL);
    if (!back || !json_is_object(back) || !same(json_object_get(feature, "properties"), back))
        abort();
    json_decref(back);
}

static void one(const json_t *feature)
{
    struct quake q;
    char err[256];
    if (quake_feature_parse(feature, &q, err, sizeof err) == 0) {
        check(feature, &q);
        quake_cleanup(&q);
    } else if (q.id || q.properties || !err[0]) {
        abort(); /* a refusal leaves the struct empty and says why */
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > MAX_INPUT)
        return 0;
    json_t *doc = json_loadb((const char *)data, size, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    if (!doc)
        return 0;
    const json_t *features = json_object_get(doc, "features");
    if (json_is_array(features)) {
        size_t i;
        const json_t *f;
        json_array_foreach(features, i, f)
            one(f);
    } else {
        one(doc);
    }
    json_decref(doc);
    return 0;
}
