/* Unit tests for apps/quakes/filter: the cross-parameter rules, the antimeridian boxes of a
 * rectangle, the prefilter boxes of a circle (they must contain the whole circle), and the
 * statement parameters. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "apps/quakes/filter.h"

static const char *first_field(const struct quake_filter *f, size_t *n)
{
    static struct params_errors errs;
    errs.n = 0;
    *n = quake_filter_check(f, &errs);
    return errs.n ? errs.items[0].field : NULL;
}

static void assert_error(const struct quake_filter *f, const char *field)
{
    size_t n;
    const char *got = first_field(f, &n);
    assert_non_null(got);
    assert_string_equal(got, field);
}

static void assert_no_error(const struct quake_filter *f)
{
    size_t n;
    assert_null(first_field(f, &n));
    assert_int_equal(n, 0);
}

static void test_pairs(void **state)
{
    (void)state;
    struct quake_filter f = {0};
    assert_no_error(&f);
    f = (struct quake_filter){.has_start = true, .start_us = 10, .has_end = true, .end_us = 9};
    assert_error(&f, "endtime");
    f.end_us = 10; /* equal is fine: both bounds are inclusive */
    assert_no_error(&f);
    f = (struct quake_filter){.has_minmag = true, .minmag = 5, .has_maxmag = true, .maxmag = 4.9};
    assert_error(&f, "maxmagnitude");
    f = (struct quake_filter){.has_mindepth = true, .mindepth = 10, .has_maxdepth = true, .maxdepth = 1};
    assert_error(&f, "maxdepth");
    f = (struct quake_filter){.has_minlat = true, .minlat = 10, .has_maxlat = true, .maxlat = -10};
    assert_error(&f, "maxlatitude");
    f = (struct quake_filter){.has_minlon = true, .minlon = 190, .has_maxlon = true, .maxlon = 170};
    assert_error(&f, "maxlongitude");
    f = (struct quake_filter){.has_minlon = true, .minlon = 170, .has_maxlon = true, .maxlon = 190};
    assert_no_error(&f); /* across the antimeridian, USGS style */
    /* one side given, the other defaulted: the given one is named */
    f = (struct quake_filter){.has_minlon = true, .minlon = 200};
    assert_error(&f, "minlongitude");
    f = (struct quake_filter){.has_maxlon = true, .maxlon = -200};
    assert_error(&f, "maxlongitude");
    f = (struct quake_filter){.has_minlat = true, .minlat = 45};
    assert_no_error(&f);
}

static void test_circle_needs_all_three(void **state)
{
    (void)state;
    struct quake_filter f = {.has_radius = true, .radius_km = 100};
    assert_error(&f, "latitude");
    size_t n;
    first_field(&f, &n);
    assert_int_equal(n, 2); /* latitude and longitude */
    f = (struct quake_filter){.has_lat = true, .has_radius = true};
    assert_error(&f, "longitude");
    f = (struct quake_filter){.has_lat = true, .has_lon = true};
    assert_error(&f, "maxradiuskm");
    f = (struct quake_filter){.has_lat = true, .has_lon = true, .has_radius = true};
    assert_no_error(&f);
}

static void test_deleted_and_review(void **state)
{
    (void)state;
    struct quake_filter f = {.deleted = QUAKE_DELETED_ONLY, .reviewstatus = "reviewed"};
    assert_error(&f, "reviewstatus");
    f.deleted = QUAKE_DELETED_INCLUDE;
    assert_no_error(&f);
}

static void assert_box(const struct quake_box *b, double xmin, double ymin, double xmax, double ymax)
{
    assert_true(fabs(b->xmin - xmin) < 1e-9 && fabs(b->xmax - xmax) < 1e-9);
    assert_true(fabs(b->ymin - ymin) < 1e-9 && fabs(b->ymax - ymax) < 1e-9);
}

static void test_rect_boxes(void **state)
{
    (void)state;
    struct quake_box b[2];
    assert_int_equal(quake_rect_boxes(-10, 20, -5, 5, b), 1);
    assert_box(&b[0], -10, -5, 20, 5);
    assert_int_equal(quake_rect_boxes(170, 190, -5, 5, b), 2);
    assert_box(&b[0], 170, -5, 180, 5);
    assert_box(&b[1], -180, -5, -170, 5);
    assert_int_equal(quake_rect_boxes(-190, -170, 0, 1, b), 2);
    assert_box(&b[0], 170, 0, 180, 1);
    assert_box(&b[1], -180, 0, -170, 1);
    assert_int_equal(quake_rect_boxes(200, 210, 0, 1, b), 1);
    assert_box(&b[0], -160, 0, -150, 1);
    assert_int_equal(quake_rect_boxes(-360, 360, -90, 90, b), 1);
    assert_box(&b[0], -180, -90, 180, 90);
    assert_int_equal(quake_rect_boxes(0, 360, -1, 1, b), 1);
    assert_box(&b[0], -180, -1, 180, 1);
    /* touching the antimeridian: -180 and 180 are the same meridian, both sides are searched */
    assert_int_equal(quake_rect_boxes(10, 180, 0, 1, b), 2);
    assert_box(&b[0], 10, 0, 180, 1);
    assert_box(&b[1], -180, 0, -180, 1);
    assert_int_equal(quake_rect_boxes(-180, 10, 0, 1, b), 2);
    assert_box(&b[0], -180, 0, 10, 1);
    assert_box(&b[1], 180, 0, 180, 1);
    assert_int_equal(quake_rect_boxes(180, 180, 0, 1, b), 2);
    assert_box(&b[0], -180, 0, -180, 1);
    assert_box(&b[1], 180, 0, 180, 1);
}

static bool in_boxes(const struct quake_box *b, size_t n, double lon, double lat)
{
    for (size_t i = 0; i < n; i++)
        if (lon >= b[i].xmin && lon <= b[i].xmax && lat >= b[i].ymin && lat <= b[i].ymax)
            return true;
    return false;
}

/* Destination point on a sphere of the WGS 84 equatorial radius: the spheroid's parallels are
 * never closer to the axis and its meridian degrees never shorter than 110.574 km, so a box
 * that holds this sphere's circle is what the bound argument in filter.c needs to hold. */
static void destination(double lat, double lon, double bearing, double km, double *olat, double *olon)
{
    const double R = 6378.137, d = km / R, p1 = lat * M_PI / 180, l1 = lon * M_PI / 180;
    double p2 = asin(sin(p1) * cos(d) + cos(p1) * sin(d) * cos(bearing));
    double l2 = l1 + atan2(sin(bearing) * sin(d) * cos(p1), cos(d) - sin(p1) * sin(p2));
    *olat = p2 * 180 / M_PI;
    *olon = fmod(l2 * 180 / M_PI + 540, 360) - 180;
}

static void test_circle_boxes_contain_the_circle(void **state)
{
    (void)state;
    srand(12345);
    const double radii[] = {0, 0.5, 10, 100, 500, 1500, 5000, 12000, 20001.6};
    for (int trial = 0; trial < 400; trial++) {
        double lat = (rand() / (double)RAND_MAX) * 180 - 90;
        double lon = (rand() / (double)RAND_MAX) * 360 - 180;
        if (trial % 10 == 0)
            lon = trial % 20 ? 179.9 : -179.99; /* hug the antimeridian */
        if (trial % 15 == 0)
            lat = trial % 30 ? 88.5 : -89.9; /* and the poles */
        double km = radii[trial % (sizeof radii / sizeof radii[0])];
        struct quake_box b[2];
        size_t n = quake_circle_boxes(lat, lon, km, b);
        assert_true(n == 1 || n == 2);
        for (size_t i = 0; i < n; i++) {
            assert_true(b[i].xmin >= -180 && b[i].xmax <= 180 && b[i].xmin <= b[i].xmax);
            assert_true(b[i].ymin >= -90 && b[i].ymax <= 90 && b[i].ymin <= b[i].ymax);
        }
        assert_true(in_boxes(b, n, lon, lat));
        for (int k = 0; k < 720; k++) {
            double olat, olon;
            destination(lat, lon, k * M_PI / 360, km * (k % 3 == 0 ? 1.0 : (k % 7) / 7.0), &olat, &olon);
            if (!in_boxes(b, n, olon, olat))
                fail_msg("circle (%g, %g, %g km): point (%g, %g) outside its boxes", lat, lon, km, olat, olon);
        }
    }
}

static void test_circle_boxes_shapes(void **state)
{
    (void)state;
    struct quake_box b[2];
    assert_int_equal(quake_circle_boxes(0, 0, 111.3195, b), 1);
    assert_true(b[0].ymax > 1.0 && b[0].ymax < 1.01 && b[0].xmax > 1.0 && b[0].xmax < 1.01);
    assert_int_equal(quake_circle_boxes(-18, 179, 500, b), 2); /* across the antimeridian */
    assert_true(b[0].xmax == 180 && b[1].xmin == -180 && b[1].xmax < -170);
    assert_int_equal(quake_circle_boxes(85, 10, 600, b), 1); /* reaches the pole: all longitudes */
    assert_box(&b[0], -180, b[0].ymin, 180, 90);
    assert_int_equal(quake_circle_boxes(60, 10, 20001.6, b), 1);
    assert_box(&b[0], -180, -90, 180, 90);
}

static void test_sql_params(void **state)
{
    (void)state;
    struct quake_filter f = {.order = QUAKE_ORDER_TIME, .fetch = 51};
    struct quake_sql_params p;
    quake_filter_sql_params(&f, NULL, &p);
    for (int i = 0; i < QUAKES_SQL_NPARAMS; i++) {
        if (i == 29 || i == 32 || i == 33)
            continue;
        if (p.values[i])
            fail_msg("$%d should be NULL, is %s", i + 1, p.values[i]);
    }
    assert_string_equal(p.values[29], "false");
    assert_string_equal(p.values[32], "51");
    assert_string_equal(p.values[33], "false");

    f = (struct quake_filter){.has_start = true, .start_us = INT64_C(1691107200000001), .has_minmag = true,
                              .minmag = 2.5, .has_maxmag = true, .maxmag = 1e-50, .has_minlon = true,
                              .minlon = 170, .has_maxlon = true, .maxlon = 190, .has_lat = true, .lat = 10,
                              .has_lon = true, .lon = 20, .has_radius = true, .radius_km = 1.5,
                              .alert = "red", .eventtype = "quarry blast", .reviewstatus = "reviewed",
                              .deleted = QUAKE_DELETED_ONLY, .order = QUAKE_ORDER_MAG, .fetch = 1001,
                              .with_properties = true};
    struct quake_cursor after = {.order = QUAKE_ORDER_MAG, .mag = -INFINITY, .id_len = 3};
    memcpy(after.id, "ab1", 4);
    quake_filter_sql_params(&f, &after, &p);
    assert_string_equal(p.values[0], "2023-08-04T00:00:00.000001Z");
    assert_null(p.values[1]);
    assert_string_equal(p.values[3], "2.5");
    assert_string_equal(p.values[4], "1e-50");
    assert_string_equal(p.values[7], "170");
    assert_string_equal(p.values[9], "180");
    assert_string_equal(p.values[11], "-180");
    assert_string_equal(p.values[13], "-170");
    assert_string_equal(p.values[12], "-90");
    assert_string_equal(p.values[14], "90");
    assert_non_null(p.values[15]);
    assert_null(p.values[19]); /* the circle needs one box here */
    assert_string_equal(p.values[23], "20");
    assert_string_equal(p.values[24], "10");
    assert_string_equal(p.values[25], "1500");
    assert_string_equal(p.values[26], "red");
    assert_string_equal(p.values[27], "quarry blast");
    assert_string_equal(p.values[28], "reviewed");
    assert_string_equal(p.values[29], "only");
    assert_string_equal(p.values[30], "-Infinity");
    assert_string_equal(p.values[31], "ab1");
    assert_string_equal(p.values[32], "1001");
    assert_string_equal(p.values[33], "true");

    struct quake_cursor t = {.order = QUAKE_ORDER_TIME_ASC, .time_us = INT64_C(1691117533180000), .id_len = 1};
    memcpy(t.id, "x", 2);
    f = (struct quake_filter){.order = QUAKE_ORDER_TIME_ASC, .fetch = 2, .deleted = QUAKE_DELETED_INCLUDE};
    quake_filter_sql_params(&f, &t, &p);
    assert_string_equal(p.values[30], "2023-08-04T02:52:13.180000Z");
    assert_string_equal(p.values[29], "true");
    f.has_maxdepth = true;
    f.maxdepth = 1.32;
    quake_filter_sql_params(&f, NULL, &p);
    assert_string_equal(p.values[6], "1.3200000000000001"); /* the same double, 17 digits */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pairs),
        cmocka_unit_test(test_circle_needs_all_three),
        cmocka_unit_test(test_deleted_and_review),
        cmocka_unit_test(test_rect_boxes),
        cmocka_unit_test(test_circle_boxes_contain_the_circle),
        cmocka_unit_test(test_circle_boxes_shapes),
        cmocka_unit_test(test_sql_params),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
