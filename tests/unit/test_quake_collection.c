/* Unit tests for apps/quakes/collection: feature spans, sort keys (plain, null, absent,
 * duplicates, escapes), the sorted flag, and the texts the scan leaves to jansson. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "apps/quakes/collection.h"

static int scan(const char *text, struct quake_collection *c)
{
    return quake_collection_scan(text, strlen(text), c);
}

static void assert_span(const char *text, const struct quake_span *sp, const char *want)
{
    assert_int_equal(sp->len, strlen(want));
    assert_memory_equal(text + sp->off, want, sp->len);
}

static void test_spans_and_keys(void **state)
{
    const char *t = " {\"type\":\"FeatureCollection\",\"metadata\":{\"features\":1},\n \"features\" : [ "
                    "{\"id\":\"a1\",\"properties\":{\"time\":10,\"updated\":null}} ,\n"
                    "{\"properties\":{\"s\":\"x\\\"}]\",\"time\":10,\"updated\":12},\"id\":\"a2\"},"
                    "{\"id\":\"a3\",\"properties\":{\"time\":-5}}, 7 ,\"s\",[{}]] } ";
    struct quake_collection c;
    assert_int_equal(scan(t, &c), 0);
    assert_int_equal(c.n, 6);
    assert_span(t, &c.v[0], "{\"id\":\"a1\",\"properties\":{\"time\":10,\"updated\":null}}");
    assert_true(c.v[0].keyed);
    assert_int_equal(c.v[0].time_ms, 10);
    assert_int_equal(c.v[0].updated_ms, 10);
    assert_true(c.v[1].keyed);
    assert_int_equal(c.v[1].updated_ms, 12);
    assert_int_equal(c.v[1].id_len, 2);
    assert_memory_equal(t + c.v[1].id_off, "a2", 2);
    assert_true(c.v[2].keyed); /* updated absent: time */
    assert_int_equal(c.v[2].updated_ms, -5);
    assert_span(t, &c.v[3], "7");
    assert_false(c.v[3].keyed);
    assert_span(t, &c.v[4], "\"s\"");
    assert_span(t, &c.v[5], "[{}]");
    assert_int_equal(t[c.array_begin], '[');
    assert_int_equal(t[c.array_end - 1], ']');
    assert_false(c.sorted); /* unkeyed features, and a3 is older than a2 */
    quake_collection_cleanup(&c);
}

static void test_sorted(void **state)
{
    struct quake_collection c;
    const char *t = "{\"features\":[{\"id\":\"b\",\"properties\":{\"time\":1,\"updated\":5}},"
                    "{\"id\":\"a\",\"properties\":{\"time\":2,\"updated\":3}},"
                    "{\"id\":\"a\",\"properties\":{\"time\":2,\"updated\":4}},"
                    "{\"id\":\"b\",\"properties\":{\"time\":2,\"updated\":4}},"
                    "{\"id\":\"b\",\"properties\":{\"time\":2,\"updated\":4}}]}";
    assert_int_equal(scan(t, &c), 0);
    assert_true(c.sorted);
    quake_collection_cleanup(&c);
    assert_int_equal(scan("{\"features\":[]}", &c), 0);
    assert_true(c.sorted);
    assert_int_equal(c.n, 0);
    quake_collection_cleanup(&c);
    t = "{\"features\":[{\"id\":\"b\",\"properties\":{\"time\":2}},{\"id\":\"a\",\"properties\":{\"time\":2}}]}";
    assert_int_equal(scan(t, &c), 0);
    assert_false(c.sorted); /* same time and updated: the id decides */
    quake_collection_cleanup(&c);
}

static void test_sort(void **state)
{
    (void)state;
    /* newest first, a tie on time broken by updated then id, an exact duplicate kept in file order */
    const char *t = "{\"features\":["
                    "{\"id\":\"c\",\"properties\":{\"time\":30}},"
                    "{\"id\":\"b2\",\"properties\":{\"time\":20,\"updated\":25}},"
                    "{\"id\":\"b1\",\"properties\":{\"time\":20,\"updated\":25}},"
                    "{\"id\":\"b0\",\"properties\":{\"time\":20,\"updated\":21}},"
                    "{\"id\":\"a\",\"properties\":{\"time\":10}},"
                    "{\"id\":\"a\",\"properties\":{\"time\":10}}]}";
    struct quake_collection c;
    assert_int_equal(scan(t, &c), 0);
    assert_false(c.sorted);
    size_t dup_first = c.v[4].off, dup_second = c.v[5].off;
    assert_true(quake_collection_sort(t, &c));
    assert_true(c.sorted);
    static const char *const want[] = {"a", "a", "b0", "b1", "b2", "c"};
    for (size_t i = 0; i < 6; i++) {
        assert_int_equal(c.v[i].id_len, strlen(want[i]));
        assert_memory_equal(t + c.v[i].id_off, want[i], c.v[i].id_len);
    }
    assert_int_equal(c.v[0].off, dup_first);
    assert_int_equal(c.v[1].off, dup_second);
    quake_collection_cleanup(&c);
    /* one unkeyed feature: nothing moves */
    const char *u = "{\"features\":[{\"id\":\"b\",\"properties\":{\"time\":2}},"
                    "{\"id\":\"\\u0061\",\"properties\":{\"time\":1}}]}";
    assert_int_equal(scan(u, &c), 0);
    size_t first = c.v[0].off;
    assert_false(quake_collection_sort(u, &c));
    assert_false(c.sorted);
    assert_int_equal(c.v[0].off, first);
    quake_collection_cleanup(&c);
}

static void test_unkeyed(void **state)
{
    static const char *const texts[] = {
        "{\"features\":[{\"id\":\"a\",\"properties\":{\"time\":1.5}}]}",
        "{\"features\":[{\"id\":\"a\",\"properties\":{\"time\":\"1\"}}]}",
        "{\"features\":[{\"id\":\"a\",\"properties\":{\"updated\":1}}]}",
        "{\"features\":[{\"id\":\"a\",\"properties\":{\"time\":1,\"updated\":2.0}}]}",
        "{\"features\":[{\"id\":\"a\",\"properties\":{\"time\":99999999999999999999}}]}",
        "{\"features\":[{\"id\":\"a\\u0062\",\"properties\":{\"time\":1}}]}",
        "{\"features\":[{\"id\":5,\"properties\":{\"time\":1}}]}",
        "{\"features\":[{\"id\":\"a\",\"properties\":{\"ti\\u006de\":1,\"time\":1}}]}",
        "{\"features\":[{\"id\":\"a\",\"properties\":{\"time\":1},\"properties\":null}]}",
        "{\"features\":[{\"id\":\"a\",\"properties\":{\"time\":1},\"id\":null}]}",
    };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        struct quake_collection c;
        assert_int_equal(scan(texts[i], &c), 0);
        assert_int_equal(c.n, 1);
        assert_false(c.v[0].keyed);
        assert_false(c.sorted);
        quake_collection_cleanup(&c);
    }
}

static void test_last_duplicate_wins(void **state)
{
    struct quake_collection c;
    const char *t = "{\"features\":[{\"id\":\"x\",\"id\":\"a\",\"properties\":{\"time\":9},"
                    "\"properties\":{\"time\":1,\"time\":2}}],\"features\":[{\"id\":\"b\",\"properties\":{\"time\":3}}]}";
    assert_int_equal(scan(t, &c), 0);
    assert_int_equal(c.n, 1);
    assert_memory_equal(t + c.v[0].id_off, "b", 1);
    quake_collection_cleanup(&c);
    t = "{\"features\":[{\"id\":\"x\",\"id\":\"a\",\"properties\":{\"time\":9},\"properties\":{\"time\":1,\"time\":2}}]}";
    assert_int_equal(scan(t, &c), 0);
    assert_true(c.v[0].keyed);
    assert_int_equal(c.v[0].time_ms, 2);
    assert_memory_equal(t + c.v[0].id_off, "a", 1);
    quake_collection_cleanup(&c);
}

static void test_refused(void **state)
{
    static const char *const texts[] = {
        "", "   ", "[]", "{}", "{not json", "{\"type\":\"Feature\"}", "{\"features\":{}}",
        "{\"features\":[1,2}", "{\"features\":[{\"a\":[}]}", "{\"features\":[1 2]}", "{\"features\":[1]",
        "{\"features\":[1]} x", "{\"features\":[1],\"features\":null}", "{\"feat\\u0075res\":[]}",
        "{\"features\":[\"unterminated]}", "{\"features\":[{\"id\" \"a\"}]}",
    };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        struct quake_collection c;
        assert_int_equal(scan(texts[i], &c), STRATA_EINVAL);
        assert_int_equal(c.n, 0);
        quake_collection_cleanup(&c);
    }
}

static void test_depth_limit(void **state)
{
    char t[8 * QUAKE_COLLECTION_DEPTH];
    size_t n = 0;
    n += (size_t)sprintf(t, "{\"features\":[");
    for (int i = 0; i < QUAKE_COLLECTION_DEPTH; i++)
        t[n++] = '[';
    for (int i = 0; i < QUAKE_COLLECTION_DEPTH; i++)
        t[n++] = ']';
    n += (size_t)sprintf(t + n, "]}");
    struct quake_collection c;
    assert_int_equal(quake_collection_scan(t, n, &c), STRATA_EINVAL);
    quake_collection_cleanup(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spans_and_keys), cmocka_unit_test(test_sorted), cmocka_unit_test(test_sort),
        cmocka_unit_test(test_unkeyed),        cmocka_unit_test(test_last_duplicate_wins),
        cmocka_unit_test(test_refused),        cmocka_unit_test(test_depth_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
