#include "apps/quakes/feature.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/jsonw.h"
#include "core/mem.h"

static int fail(char *err, size_t errlen, int rc, const char *field, const char *why)
{
    snprintf(err, errlen, "%s: %s", field, why);
    return rc;
}

static bool valid_id(const char *s, size_t len)
{
    if (len == 0 || len > QUAKE_ID_MAX || strlen(s) != len)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!isalnum(c) && c != '.' && c != '_' && c != '-')
            return false;
    }
    return true;
}

/* A string member: absent or null -> *out stays NULL; a string -> copied; else wrong type. */
static int get_string(const json_t *props, const char *key, char **out, char *err, size_t errlen)
{
    const json_t *v = json_object_get(props, key);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return fail(err, errlen, STRATA_EINVAL, key, "must be a string or null");
    /* NUL inside is refused for the whole properties object before this runs */
    *out = xstrndup(json_string_value(v), json_string_length(v));
    return 0;
}

/* A number member in [lo, hi]; absent or null -> NaN. */
static int get_number(const json_t *props, const char *key, double lo, double hi, double *out, char *err,
                      size_t errlen)
{
    const json_t *v = json_object_get(props, key);
    *out = NAN;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_number(v))
        return fail(err, errlen, STRATA_EINVAL, key, "must be a number or null");
    double x = json_number_value(v);
    if (!(x >= lo && x <= hi))
        return fail(err, errlen, STRATA_ERANGE, key, "out of range");
    *out = x;
    return 0;
}

/* An integer member in [lo, hi]; absent or null -> QUAKE_INT_NULL. */
static int get_int(const json_t *props, const char *key, int64_t lo, int64_t hi, int64_t *out, char *err,
                   size_t errlen)
{
    const json_t *v = json_object_get(props, key);
    *out = QUAKE_INT_NULL;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_integer(v))
        return fail(err, errlen, STRATA_EINVAL, key, "must be an integer or null");
    json_int_t x = json_integer_value(v);
    if (x < lo || x > hi)
        return fail(err, errlen, STRATA_ERANGE, key, "out of range");
    *out = (int64_t)x;
    return 0;
}

static int get_time(const json_t *props, const char *key, bool required, int64_t *out, char *err, size_t errlen)
{
    const json_t *v = json_object_get(props, key);
    if (!v || json_is_null(v)) {
        if (required)
            return fail(err, errlen, STRATA_EINVAL, key, "missing");
        *out = QUAKE_INT_NULL;
        return 0;
    }
    if (!json_is_integer(v))
        return fail(err, errlen, STRATA_EINVAL, key, "must be integer milliseconds since 1970");
    json_int_t x = json_integer_value(v);
    if (x < QUAKE_TIME_MIN_MS || x > QUAKE_TIME_MAX_MS)
        return fail(err, errlen, STRATA_ERANGE, key, "out of range");
    *out = (int64_t)x;
    return 0;
}

/* Renders a jansson value compactly. Refuses U+0000 (PostgreSQL text and jsonb cannot hold
 * it) and nesting deeper than QUAKE_PROPERTIES_DEPTH; stops early past the size limit. */
static int render(struct jsonw *w, const json_t *j, int depth, char *err, size_t errlen)
{
    const char *key;
    size_t klen, i;
    json_t *v;

    if (w->out->len > QUAKE_PROPERTIES_MAX)
        return fail(err, errlen, STRATA_ERANGE, "properties", "too large");
    switch (json_typeof(j)) {
    case JSON_OBJECT:
    case JSON_ARRAY:
        if (depth >= QUAKE_PROPERTIES_DEPTH)
            return fail(err, errlen, STRATA_ERANGE, "properties", "nested too deep");
        break;
    default:
        break;
    }
    switch (json_typeof(j)) {
    case JSON_OBJECT:
        jsonw_obj_begin(w);
        json_object_keylen_foreach((json_t *)j, key, klen, v) {
            if (memchr(key, '\0', klen))
                return fail(err, errlen, STRATA_EINVAL, "properties", "a key contains U+0000");
            jsonw_keyn(w, key, klen);
            int rc = render(w, v, depth + 1, err, errlen);
            if (rc < 0)
                return rc;
        }
        jsonw_obj_end(w);
        break;
    case JSON_ARRAY:
        jsonw_arr_begin(w);
        json_array_foreach((json_t *)j, i, v) {
            int rc = render(w, v, depth + 1, err, errlen);
            if (rc < 0)
                return rc;
        }
        jsonw_arr_end(w);
        break;
    case JSON_STRING:
        if (memchr(json_string_value(j), '\0', json_string_length(j)))
            return fail(err, errlen, STRATA_EINVAL, "properties", "a string contains U+0000");
        jsonw_strn(w, json_string_value(j), json_string_length(j));
        break;
    case JSON_INTEGER:
        jsonw_int(w, json_integer_value(j));
        break;
    case JSON_REAL:
        jsonw_double(w, json_real_value(j));
        break;
    case JSON_TRUE:
        jsonw_bool(w, true);
        break;
    case JSON_FALSE:
        jsonw_bool(w, false);
        break;
    case JSON_NULL:
        jsonw_null(w);
        break;
    }
    return 0;
}

static int parse_geometry(const json_t *feature, struct quake *q, char *err, size_t errlen)
{
    static const char *const names[] = {"geometry.coordinates[0]", "geometry.coordinates[1]",
                                        "geometry.coordinates[2]"};
    static const double lo[] = {-180.0, -90.0, QUAKE_DEPTH_MIN_KM};
    static const double hi[] = {180.0, 90.0, QUAKE_DEPTH_MAX_KM};
    static const char *const what[] = {"longitude out of range", "latitude out of range", "depth out of range"};
    double c[3];

    const json_t *g = json_object_get(feature, "geometry");
    if (!g || json_is_null(g))
        return fail(err, errlen, STRATA_EINVAL, "geometry", "missing");
    if (!json_is_object(g))
        return fail(err, errlen, STRATA_EINVAL, "geometry", "must be an object");
    const json_t *type = json_object_get(g, "type");
    if (!json_is_string(type) || strcmp(json_string_value(type), "Point") != 0)
        return fail(err, errlen, STRATA_EINVAL, "geometry.type", "must be \"Point\"");
    const json_t *coords = json_object_get(g, "coordinates");
    if (!coords || json_is_null(coords))
        return fail(err, errlen, STRATA_EINVAL, "geometry.coordinates", "missing");
    if (!json_is_array(coords) || json_array_size(coords) != 3)
        return fail(err, errlen, STRATA_EINVAL, "geometry.coordinates", "must be [longitude, latitude, depth]");
    for (size_t i = 0; i < 3; i++) {
        const json_t *v = json_array_get(coords, i);
        if (!json_is_number(v))
            return fail(err, errlen, STRATA_EINVAL, names[i], "must be a number");
        c[i] = json_number_value(v);
        if (!(c[i] >= lo[i] && c[i] <= hi[i]))
            return fail(err, errlen, STRATA_ERANGE, names[i], what[i]);
    }
    q->lon = c[0];
    q->lat = c[1];
    q->depth_km = c[2];
    return 0;
}

static int parse(const json_t *feature, struct quake *q, char *err, size_t errlen)
{
    int rc;

    if (!json_is_object(feature))
        return fail(err, errlen, STRATA_EINVAL, "feature", "must be an object");
    const json_t *type = json_object_get(feature, "type");
    if (!json_is_string(type) || strcmp(json_string_value(type), "Feature") != 0)
        return fail(err, errlen, STRATA_EINVAL, "type", "must be \"Feature\"");
    const json_t *id = json_object_get(feature, "id");
    if (!id || json_is_null(id))
        return fail(err, errlen, STRATA_EINVAL, "id", "missing");
    if (!json_is_string(id))
        return fail(err, errlen, STRATA_EINVAL, "id", "must be a string");
    if (!valid_id(json_string_value(id), json_string_length(id)))
        return fail(err, errlen, STRATA_EINVAL, "id", "must be 1-128 characters of A-Z a-z 0-9 . _ -");
    const json_t *props = json_object_get(feature, "properties");
    if (!props || json_is_null(props))
        return fail(err, errlen, STRATA_EINVAL, "properties", "missing");
    if (!json_is_object(props))
        return fail(err, errlen, STRATA_EINVAL, "properties", "must be an object");

    /* first: the whole properties object (also proves no string in it holds U+0000) */
    struct buf b;
    struct jsonw w;
    buf_init(&b);
    jsonw_init(&w, &b);
    rc = render(&w, props, 0, err, errlen);
    if (rc == 0 && b.len > QUAKE_PROPERTIES_MAX)
        rc = fail(err, errlen, STRATA_ERANGE, "properties", "too large");
    if (rc < 0) {
        buf_cleanup(&b);
        return rc;
    }
    q->properties = buf_steal(&b, NULL);
    q->id = xstrdup(json_string_value(id));

    if ((rc = get_time(props, "time", true, &q->time_ms, err, errlen)) < 0 ||
        (rc = get_time(props, "updated", false, &q->updated_ms, err, errlen)) < 0 ||
        (rc = parse_geometry(feature, q, err, errlen)) < 0 ||
        (rc = get_number(props, "mag", QUAKE_MAG_MIN, QUAKE_MAG_MAX, &q->mag, err, errlen)) < 0 ||
        (rc = get_number(props, "cdi", 0, QUAKE_INTENSITY_MAX, &q->cdi, err, errlen)) < 0 ||
        (rc = get_number(props, "mmi", 0, QUAKE_INTENSITY_MAX, &q->mmi, err, errlen)) < 0 ||
        (rc = get_number(props, "gap", 0, 360, &q->gap, err, errlen)) < 0 ||
        (rc = get_int(props, "sig", 0, QUAKE_SIG_MAX, &q->sig, err, errlen)) < 0 ||
        (rc = get_int(props, "felt", 0, INT32_MAX, &q->felt, err, errlen)) < 0 ||
        (rc = get_string(props, "magType", &q->magtype, err, errlen)) < 0 ||
        (rc = get_string(props, "place", &q->place, err, errlen)) < 0 ||
        (rc = get_string(props, "status", &q->status, err, errlen)) < 0 ||
        (rc = get_string(props, "type", &q->type, err, errlen)) < 0 ||
        (rc = get_string(props, "alert", &q->alert, err, errlen)) < 0 ||
        (rc = get_string(props, "net", &q->net, err, errlen)) < 0 ||
        (rc = get_string(props, "code", &q->code, err, errlen)) < 0 ||
        (rc = get_string(props, "sources", &q->sources, err, errlen)) < 0 ||
        (rc = get_string(props, "title", &q->title, err, errlen)) < 0)
        return rc;
    if (q->updated_ms == QUAKE_INT_NULL)
        q->updated_ms = q->time_ms;

    const json_t *ts = json_object_get(props, "tsunami");
    if (!ts || json_is_null(ts) || json_is_false(ts))
        q->tsunami = false;
    else if (json_is_true(ts))
        q->tsunami = true;
    else if (json_is_integer(ts) && (json_integer_value(ts) == 0 || json_integer_value(ts) == 1))
        q->tsunami = json_integer_value(ts) == 1;
    else
        return fail(err, errlen, STRATA_EINVAL, "tsunami", "must be 0, 1, a boolean or null");

    if (!q->status)
        q->status = xstrdup("automatic");
    for (char *p = q->status; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    if (!q->type)
        q->type = xstrdup("earthquake");
    return 0;
}

int quake_feature_parse(const json_t *feature, struct quake *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    out->mag = out->cdi = out->mmi = out->gap = NAN;
    out->sig = out->felt = QUAKE_INT_NULL;
    int rc = parse(feature, out, err, errlen);
    if (rc < 0)
        quake_cleanup(out);
    return rc;
}

const char *quake_feature_id(const json_t *feature)
{
    const json_t *id = json_object_get(feature, "id");
    return json_is_string(id) ? json_string_value(id) : NULL;
}

bool quake_is_deleted(const struct quake *q)
{
    return q->status && !strcmp(q->status, "deleted");
}

void quake_cleanup(struct quake *q)
{
    char **strs[] = {&q->id,  &q->magtype, &q->place, &q->status,  &q->type,  &q->alert,
                     &q->net, &q->code,    &q->sources, &q->title, &q->properties};
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++) {
        free(*strs[i]);
        *strs[i] = NULL;
    }
    memset(q, 0, sizeof *q);
    q->mag = q->cdi = q->mmi = q->gap = NAN;
    q->sig = q->felt = QUAKE_INT_NULL;
}
