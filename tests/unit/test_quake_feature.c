/* Unit tests for apps/quakes/feature: a real USGS feature, nulls and defaults, the properties
 * rendering, and every way a feature is refused (missing, wrong type, out of range). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apps/quakes/feature.h"
#include "core/buf.h"

/* From data/usgs_all_week_2023-08-04.geojson. */
static const char REAL[] =
    "{\"type\":\"Feature\",\"properties\":{\"mag\":1.32,\"place\":\"2 km ESE of Larkfield-Wikiup, CA\","
    "\"time\":1691117533180,\"updated\":1691118251122,\"tz\":null,"
    "\"url\":\"https://earthquake.usgs.gov/earthquakes/eventpage/nc73919986\","
    "\"detail\":\"https://earthquake.usgs.gov/earthquakes/feed/v1.0/detail/nc73919986.geojson\","
    "\"felt\":null,\"cdi\":null,\"mmi\":null,\"alert\":null,\"status\":\"automatic\",\"tsunami\":0,\"sig\":27,"
    "\"net\":\"nc\",\"code\":\"73919986\",\"ids\":\",nc73919986,\",\"sources\":\",nc,\","
    "\"types\":\",nearby-cities,origin,phase-data,scitech-link,\",\"nst\":6,\"dmin\":0.07786,\"rms\":0.01,"
    "\"gap\":143,\"magType\":\"md\",\"type\":\"earthquake\",\"title\":\"M 1.3 - 2 km ESE of Larkfield-Wikiup, CA\"},"
    "\"geometry\":{\"type\":\"Point\",\"coordinates\":[-122.7301636,38.5060005,3.84]},\"id\":\"nc73919986\"}";

/* A minimal valid feature; %s slots: id member, properties extra members, coordinates. */
static char *minimal(const char *id, const char *props, const char *coords)
{
    struct buf b;
    buf_init(&b);
    buf_printf(&b,
               "{\"type\":\"Feature\",%s\"properties\":{\"time\":1691117533180%s%s},"
               "\"geometry\":{\"type\":\"Point\",\"coordinates\":%s}}",
               id, props[0] ? "," : "", props, coords);
    return buf_steal(&b, NULL);
}

static json_t *load(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, JSON_DECODE_ANY, &e);
    if (!j)
        fail_msg("test JSON does not parse: %s: %s", e.text, text);
    return j;
}

/* Parses text; returns the parser's result; *q filled on success. */
static int parse_text(const char *text, struct quake *q, char *err, size_t errlen)
{
    json_t *j = load(text);
    int rc = quake_feature_parse(j, q, err, errlen);
    json_decref(j);
    return rc;
}

/* Expects the feature to be refused with rc and a reason starting with field. */
static void expect_refused(const char *text, int rc, const char *field)
{
    struct quake q;
    char err[256] = "";
    int got = parse_text(text, &q, err, sizeof err);
    if (got != rc)
        fail_msg("expected %d, got %d (%s) for %s", rc, got, err, text);
    if (strncmp(err, field, strlen(field)) != 0 || err[strlen(field)] != ':')
        fail_msg("reason '%s' does not name %s", err, field);
    assert_null(q.id);
    assert_null(q.properties);
}

static void expect_refused_props(const char *props, int rc, const char *field)
{
    char *t = minimal("\"id\":\"ab1\",", props, "[1,2,3]");
    expect_refused(t, rc, field);
    free(t);
}

static void expect_refused_coords(const char *coords, int rc, const char *field)
{
    char *t = minimal("\"id\":\"ab1\",", "", coords);
    expect_refused(t, rc, field);
    free(t);
}

static void expect_ok(const char *text, struct quake *q)
{
    char err[256] = "";
    int rc = parse_text(text, q, err, sizeof err);
    if (rc != 0)
        fail_msg("refused (%s): %s", err, text);
}

static void test_real_feature(void **state)
{
    (void)state;
    struct quake q;
    expect_ok(REAL, &q);
    assert_string_equal(q.id, "nc73919986");
    assert_true(q.time_ms == 1691117533180LL);
    assert_true(q.updated_ms == 1691118251122LL);
    assert_true(q.mag == 1.32);
    assert_string_equal(q.magtype, "md");
    assert_string_equal(q.place, "2 km ESE of Larkfield-Wikiup, CA");
    assert_true(q.lon == -122.7301636);
    assert_true(q.lat == 38.5060005);
    assert_true(q.depth_km == 3.84);
    assert_string_equal(q.status, "automatic");
    assert_string_equal(q.type, "earthquake");
    assert_null(q.alert);
    assert_false(q.tsunami);
    assert_true(q.sig == 27);
    assert_true(q.felt == QUAKE_INT_NULL);
    assert_true(isnan(q.cdi) && isnan(q.mmi));
    assert_true(q.gap == 143);
    assert_string_equal(q.net, "nc");
    assert_string_equal(q.code, "73919986");
    assert_string_equal(q.sources, ",nc,");
    assert_string_equal(q.title, "M 1.3 - 2 km ESE of Larkfield-Wikiup, CA");
    assert_false(quake_is_deleted(&q));

    /* properties: every member, equal to the input, numbers written as USGS wrote them */
    json_t *in = load(REAL), *back = load(q.properties);
    assert_true(json_equal(json_object_get(in, "properties"), back));
    assert_non_null(strstr(q.properties, "\"mag\":1.32,"));
    assert_non_null(strstr(q.properties, "\"dmin\":0.07786,"));
    assert_non_null(strstr(q.properties, "\"tz\":null"));
    assert_null(strchr(q.properties, '\n'));
    assert_null(strstr(q.properties, ": "));
    json_decref(in);
    json_decref(back);
    quake_cleanup(&q);
    assert_null(q.id);
    assert_null(q.properties);
    quake_cleanup(&q); /* twice is harmless */
}

static void test_nulls_and_defaults(void **state)
{
    (void)state;
    struct quake q;
    char *t = minimal("\"id\":\"us7000abcd\",",
                      "\"mag\":null,\"status\":null,\"type\":null,\"sig\":null,\"felt\":null,\"gap\":null,"
                      "\"place\":null,\"tsunami\":null",
                      "[10, -20, 0]");
    expect_ok(t, &q);
    assert_true(isnan(q.mag) && isnan(q.gap) && isnan(q.cdi) && isnan(q.mmi));
    assert_true(q.sig == QUAKE_INT_NULL && q.felt == QUAKE_INT_NULL);
    assert_null(q.place);
    assert_null(q.magtype);
    assert_string_equal(q.status, "automatic");
    assert_string_equal(q.type, "earthquake");
    assert_true(q.updated_ms == q.time_ms); /* no updated: the origin time */
    assert_false(q.tsunami);
    assert_true(q.lon == 10 && q.lat == -20 && q.depth_km == 0); /* integers are numbers */
    quake_cleanup(&q);
    free(t);
}

static void test_status_and_tsunami(void **state)
{
    (void)state;
    struct quake q;
    char *t = minimal("\"id\":\"ab1\",", "\"status\":\"DELETED\",\"tsunami\":1", "[0,0,0]");
    expect_ok(t, &q);
    assert_string_equal(q.status, "deleted");
    assert_true(quake_is_deleted(&q));
    assert_true(q.tsunami);
    assert_non_null(strstr(q.properties, "\"status\":\"DELETED\"")); /* as received */
    quake_cleanup(&q);
    free(t);

    t = minimal("\"id\":\"ab1\",", "\"tsunami\":true", "[0,0,0]");
    expect_ok(t, &q);
    assert_true(q.tsunami);
    quake_cleanup(&q);
    free(t);

    expect_refused_props("\"tsunami\":2", STRATA_EINVAL, "tsunami");
    expect_refused_props("\"tsunami\":\"1\"", STRATA_EINVAL, "tsunami");
}

static void test_boundaries_accepted(void **state)
{
    (void)state;
    struct quake q;
    char *t = minimal("\"id\":\"A-b_c.9\",",
                      "\"mag\":-10,\"cdi\":12,\"mmi\":0,\"gap\":360,\"sig\":100000,\"felt\":2147483647,"
                      "\"updated\":253402300799999",
                      "[-180, 90, 1000]");
    expect_ok(t, &q);
    assert_true(q.lon == -180 && q.lat == 90 && q.depth_km == 1000);
    assert_true(q.updated_ms == QUAKE_TIME_MAX_MS);
    assert_true(q.felt == 2147483647);
    quake_cleanup(&q);
    free(t);

    t = minimal("\"id\":\"x\",", "\"mag\":12", "[180, -90, -100]");
    expect_ok(t, &q);
    assert_true(q.depth_km == -100);
    quake_cleanup(&q);
    free(t);

    char id[QUAKE_ID_MAX + 16] = "\"id\":\"";
    size_t n = strlen(id);
    memset(id + n, 'a', QUAKE_ID_MAX);
    snprintf(id + n + QUAKE_ID_MAX, sizeof id - n - QUAKE_ID_MAX, "\",");
    t = minimal(id, "", "[0,0,0]");
    expect_ok(t, &q);
    assert_int_equal(strlen(q.id), QUAKE_ID_MAX);
    quake_cleanup(&q);
    free(t);
}

static void test_missing_required(void **state)
{
    (void)state;
    char *t = minimal("", "", "[0,0,0]");
    expect_refused(t, STRATA_EINVAL, "id");
    free(t);
    t = minimal("\"id\":null,", "", "[0,0,0]");
    expect_refused(t, STRATA_EINVAL, "id");
    free(t);
    expect_refused("{\"type\":\"Feature\",\"id\":\"a\",\"properties\":{\"mag\":1},"
                   "\"geometry\":{\"type\":\"Point\",\"coordinates\":[0,0,0]}}",
                   STRATA_EINVAL, "time");
    expect_refused("{\"type\":\"Feature\",\"id\":\"a\",\"properties\":{\"time\":null},"
                   "\"geometry\":{\"type\":\"Point\",\"coordinates\":[0,0,0]}}",
                   STRATA_EINVAL, "time");
    expect_refused("{\"type\":\"Feature\",\"id\":\"a\",\"properties\":{\"time\":1}}", STRATA_EINVAL, "geometry");
    expect_refused("{\"type\":\"Feature\",\"id\":\"a\",\"properties\":{\"time\":1},\"geometry\":null}",
                   STRATA_EINVAL, "geometry");
    expect_refused("{\"type\":\"Feature\",\"id\":\"a\",\"properties\":{\"time\":1},"
                   "\"geometry\":{\"type\":\"Point\"}}",
                   STRATA_EINVAL, "geometry.coordinates");
    expect_refused("{\"type\":\"Feature\",\"id\":\"a\","
                   "\"geometry\":{\"type\":\"Point\",\"coordinates\":[0,0,0]}}",
                   STRATA_EINVAL, "properties");
    expect_refused_coords("[1,2]", STRATA_EINVAL, "geometry.coordinates");
    expect_refused_coords("[1,2,3,4]", STRATA_EINVAL, "geometry.coordinates");
    expect_refused_coords("[]", STRATA_EINVAL, "geometry.coordinates");
}

static void test_wrong_types(void **state)
{
    (void)state;
    expect_refused("[]", STRATA_EINVAL, "feature");
    expect_refused("\"Feature\"", STRATA_EINVAL, "feature");
    expect_refused("{\"type\":\"FeatureCollection\",\"id\":\"a\"}", STRATA_EINVAL, "type");
    expect_refused("{\"id\":\"a\",\"properties\":{\"time\":1},"
                   "\"geometry\":{\"type\":\"Point\",\"coordinates\":[0,0,0]}}",
                   STRATA_EINVAL, "type");
    char *t = minimal("\"id\":42,", "", "[0,0,0]");
    expect_refused(t, STRATA_EINVAL, "id");
    free(t);
    t = minimal("\"id\":\"a\",\"properties\":[],", "", "[0,0,0]"); /* duplicate key: jansson keeps the last */
    struct quake q;
    expect_ok(t, &q);
    quake_cleanup(&q);
    free(t);
    expect_refused("{\"type\":\"Feature\",\"id\":\"a\",\"properties\":[1],"
                   "\"geometry\":{\"type\":\"Point\",\"coordinates\":[0,0,0]}}",
                   STRATA_EINVAL, "properties");
    expect_refused("{\"type\":\"Feature\",\"id\":\"a\",\"properties\":{\"time\":\"2023-08-04\"},"
                   "\"geometry\":{\"type\":\"Point\",\"coordinates\":[0,0,0]}}",
                   STRATA_EINVAL, "time");
    expect_refused("{\"type\":\"Feature\",\"id\":\"a\",\"properties\":{\"time\":1691117533180.5},"
                   "\"geometry\":{\"type\":\"Point\",\"coordinates\":[0,0,0]}}",
                   STRATA_EINVAL, "time");
    expect_refused_props("\"updated\":\"x\"", STRATA_EINVAL, "updated");
    expect_refused_props("\"mag\":\"4.5\"", STRATA_EINVAL, "mag");
    expect_refused_props("\"mag\":true", STRATA_EINVAL, "mag");
    expect_refused_props("\"sig\":1.5", STRATA_EINVAL, "sig");
    expect_refused_props("\"felt\":\"3\"", STRATA_EINVAL, "felt");
    expect_refused_props("\"gap\":[1]", STRATA_EINVAL, "gap");
    expect_refused_props("\"place\":5", STRATA_EINVAL, "place");
    expect_refused_props("\"status\":{}", STRATA_EINVAL, "status");
    expect_refused_props("\"type\":false", STRATA_EINVAL, "type");
    expect_refused_props("\"magType\":1", STRATA_EINVAL, "magType");
    expect_refused_props("\"title\":[]", STRATA_EINVAL, "title");
    expect_refused_coords("[\"1\",2,3]", STRATA_EINVAL, "geometry.coordinates[0]");
    expect_refused_coords("[1,null,3]", STRATA_EINVAL, "geometry.coordinates[1]");
    expect_refused_coords("{\"lon\":1}", STRATA_EINVAL, "geometry.coordinates");
    expect_refused("{\"type\":\"Feature\",\"id\":\"a\",\"properties\":{\"time\":1},"
                   "\"geometry\":{\"type\":\"LineString\",\"coordinates\":[0,0,0]}}",
                   STRATA_EINVAL, "geometry.type");
    expect_refused("{\"type\":\"Feature\",\"id\":\"a\",\"properties\":{\"time\":1},\"geometry\":[0,0,0]}",
                   STRATA_EINVAL, "geometry");
}

static void test_out_of_range(void **state)
{
    (void)state;
    expect_refused_coords("[180.0001, 0, 0]", STRATA_ERANGE, "geometry.coordinates[0]");
    expect_refused_coords("[-181, 0, 0]", STRATA_ERANGE, "geometry.coordinates[0]");
    expect_refused_coords("[0, 90.5, 0]", STRATA_ERANGE, "geometry.coordinates[1]");
    expect_refused_coords("[0, -91, 0]", STRATA_ERANGE, "geometry.coordinates[1]");
    expect_refused_coords("[0, 0, 1000.1]", STRATA_ERANGE, "geometry.coordinates[2]");
    expect_refused_coords("[0, 0, -101]", STRATA_ERANGE, "geometry.coordinates[2]");
    expect_refused_coords("[0, 0, 1e300]", STRATA_ERANGE, "geometry.coordinates[2]");
    expect_refused_props("\"mag\":12.01", STRATA_ERANGE, "mag");
    expect_refused_props("\"mag\":-10.5", STRATA_ERANGE, "mag");
    expect_refused_props("\"cdi\":-1", STRATA_ERANGE, "cdi");
    expect_refused_props("\"mmi\":13", STRATA_ERANGE, "mmi");
    expect_refused_props("\"gap\":361", STRATA_ERANGE, "gap");
    expect_refused_props("\"sig\":-1", STRATA_ERANGE, "sig");
    expect_refused_props("\"sig\":100001", STRATA_ERANGE, "sig");
    expect_refused_props("\"felt\":2147483648", STRATA_ERANGE, "felt");
    expect_refused_props("\"updated\":253402300800000", STRATA_ERANGE, "updated");
    expect_refused_props("\"updated\":-62135596800001", STRATA_ERANGE, "updated");
    expect_refused("{\"type\":\"Feature\",\"id\":\"a\",\"properties\":{\"time\":9223372036854775807},"
                   "\"geometry\":{\"type\":\"Point\",\"coordinates\":[0,0,0]}}",
                   STRATA_ERANGE, "time");
}

static void test_bad_ids(void **state)
{
    (void)state;
    static const char *const ids[] = {"\"\"", "\"a b\"", "\"a/b\"", "\"a?b\"", "\"%41\"", "\"caf\\u00e9\"",
                                      "\"a\\nb\"", "\"a\\\"b\""};
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        char id[64];
        snprintf(id, sizeof id, "\"id\":%s,", ids[i]);
        char *t = minimal(id, "", "[0,0,0]");
        expect_refused(t, STRATA_EINVAL, "id");
        free(t);
    }
    char id[QUAKE_ID_MAX + 16] = "\"id\":\"";
    size_t n = strlen(id);
    memset(id + n, 'a', QUAKE_ID_MAX + 1);
    snprintf(id + n + QUAKE_ID_MAX + 1, sizeof id - n - QUAKE_ID_MAX - 1, "\",");
    char *t = minimal(id, "", "[0,0,0]");
    expect_refused(t, STRATA_EINVAL, "id");
    free(t);
    /* U+0000 inside the id (jansson keeps it when built in code) */
    json_t *j = load(REAL);
    json_object_set_new(j, "id", json_stringn("ab\0c", 4));
    struct quake q;
    char err[128];
    assert_int_equal(quake_feature_parse(j, &q, err, sizeof err), STRATA_EINVAL);
    assert_string_equal(quake_feature_id(j), "ab");
    json_decref(j);
}

static void test_properties_refused(void **state)
{
    (void)state;
    struct quake q;
    char err[256];

    /* U+0000 in a string or a key anywhere in properties: PostgreSQL cannot store it */
    json_t *j = load(REAL);
    json_object_set_new(json_object_get(j, "properties"), "extra", json_stringn("a\0b", 3));
    assert_int_equal(quake_feature_parse(j, &q, err, sizeof err), STRATA_EINVAL);
    assert_non_null(strstr(err, "U+0000"));
    json_decref(j);
    j = load(REAL);
    json_t *inner = json_object();
    json_object_setn_new(inner, "k\0y", 3, json_true());
    json_object_set_new(json_object_get(j, "properties"), "nested", inner);
    assert_int_equal(quake_feature_parse(j, &q, err, sizeof err), STRATA_EINVAL);
    json_decref(j);

    /* nesting */
    struct buf b;
    buf_init(&b);
    buf_puts(&b, "{\"type\":\"Feature\",\"id\":\"a\",\"geometry\":{\"type\":\"Point\",\"coordinates\":[0,0,0]},"
                 "\"properties\":{\"time\":1,\"deep\":");
    for (int i = 0; i < QUAKE_PROPERTIES_DEPTH; i++)
        buf_putc(&b, '[');
    for (int i = 0; i < QUAKE_PROPERTIES_DEPTH; i++)
        buf_putc(&b, ']');
    buf_puts(&b, "}}");
    expect_refused(b.data, STRATA_ERANGE, "properties");
    buf_reset(&b);

    /* size */
    buf_puts(&b, "{\"type\":\"Feature\",\"id\":\"a\",\"geometry\":{\"type\":\"Point\",\"coordinates\":[0,0,0]},"
                 "\"properties\":{\"time\":1,\"big\":\"");
    for (int i = 0; i < QUAKE_PROPERTIES_MAX; i++)
        buf_putc(&b, 'x');
    buf_puts(&b, "\"}}");
    expect_refused(b.data, STRATA_ERANGE, "properties");
    buf_cleanup(&b);
}

static void test_properties_kept(void **state)
{
    (void)state;
    struct quake q;
    /* unknown members, nesting, unicode, "</", large integers and exponents survive */
    char *t = minimal("\"id\":\"ab1\",",
                      "\"extra\":{\"a\":[1,2.5,-0.001,1e-7,12345678901234],\"s\":\"caf\\u00e9 </x> \\\"q\\\"\\t\"},"
                      "\"big\":9007199254740993,\"e\":1.5e300",
                      "[0,0,0]");
    expect_ok(t, &q);
    json_t *in = load(t), *back = load(q.properties);
    assert_true(json_equal(json_object_get(in, "properties"), back));
    assert_non_null(strstr(q.properties, "9007199254740993"));
    json_decref(in);
    json_decref(back);
    quake_cleanup(&q);
    free(t);
}

static void test_feature_id_helper(void **state)
{
    (void)state;
    json_t *j = load("{\"id\":\"x1\"}");
    assert_string_equal(quake_feature_id(j), "x1");
    json_decref(j);
    j = load("{\"id\":5}");
    assert_null(quake_feature_id(j));
    json_decref(j);
    j = load("[1]");
    assert_null(quake_feature_id(j));
    json_decref(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_real_feature),
        cmocka_unit_test(test_nulls_and_defaults),
        cmocka_unit_test(test_status_and_tsunami),
        cmocka_unit_test(test_boundaries_accepted),
        cmocka_unit_test(test_missing_required),
        cmocka_unit_test(test_wrong_types),
        cmocka_unit_test(test_out_of_range),
        cmocka_unit_test(test_bad_ids),
        cmocka_unit_test(test_properties_refused),
        cmocka_unit_test(test_properties_kept),
        cmocka_unit_test(test_feature_id_helper),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
