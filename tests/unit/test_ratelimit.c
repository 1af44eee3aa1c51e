/* Unit tests for core/ratelimit: burst, refill over time, retry-after values, independent
 * keys, LRU eviction within a bounded table, and exact counting under concurrent callers. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>

#include "core/ratelimit.h"

static void test_burst_then_refused(void **state)
{
    (void)state;
    struct ratelimit *rl = ratelimit_new(60, 5, 100); /* one a second, five at once */
    int64_t now = 1000000, retry = -1;
    for (int i = 0; i < 5; i++)
        assert_true(ratelimit_take(rl, "10.0.0.1", now, &retry));
    assert_false(ratelimit_take(rl, "10.0.0.1", now, &retry));
    assert_int_equal(retry, 1000);
    /* refused attempts do not dig the hole deeper */
    assert_false(ratelimit_take(rl, "10.0.0.1", now, &retry));
    assert_int_equal(retry, 1000);
    ratelimit_free(rl);
}

static void test_refill_over_time(void **state)
{
    (void)state;
    struct ratelimit *rl = ratelimit_new(60, 3, 100);
    int64_t t = 5000, retry = 0;
    for (int i = 0; i < 3; i++)
        assert_true(ratelimit_take(rl, "k", t, NULL));
    assert_false(ratelimit_take(rl, "k", t, &retry));
    assert_int_equal(retry, 1000);
    /* 400 ms later: still 600 ms to go */
    assert_false(ratelimit_take(rl, "k", t + 400, &retry));
    assert_int_equal(retry, 600);
    /* one token back after a second, and only one */
    assert_true(ratelimit_take(rl, "k", t + 1000, NULL));
    assert_false(ratelimit_take(rl, "k", t + 1000, &retry));
    assert_int_equal(retry, 1000);
    /* a long pause refills to the burst, never beyond it */
    t += 60000;
    for (int i = 0; i < 3; i++)
        assert_true(ratelimit_take(rl, "k", t, NULL));
    assert_false(ratelimit_take(rl, "k", t, NULL));
    ratelimit_free(rl);
}

static void test_steady_rate(void **state)
{
    (void)state;
    /* 600 a minute = one every 100 ms; burst 1: exactly one per interval */
    struct ratelimit *rl = ratelimit_new(600, 1, 10);
    int allowed = 0;
    for (int64_t ms = 0; ms < 10000; ms += 10)
        allowed += ratelimit_take(rl, "k", ms, NULL);
    assert_int_equal(allowed, 100);
    ratelimit_free(rl);
}

static void test_retry_after_rounds_up(void **state)
{
    (void)state;
    /* 7 a minute: one every 8571.428 ms (8571428 us): the wait is rounded up, never 0 */
    struct ratelimit *rl = ratelimit_new(7, 1, 10);
    int64_t retry = 0;
    assert_true(ratelimit_take(rl, "k", 0, NULL));
    assert_false(ratelimit_take(rl, "k", 0, &retry));
    assert_int_equal(retry, 8572);
    assert_false(ratelimit_take(rl, "k", 8571, &retry));
    assert_int_equal(retry, 1);
    assert_true(ratelimit_take(rl, "k", 8572, NULL));
    ratelimit_free(rl);
}

static void test_keys_are_independent(void **state)
{
    (void)state;
    struct ratelimit *rl = ratelimit_new(60, 2, 100);
    assert_true(ratelimit_take(rl, "user:alice", 0, NULL));
    assert_true(ratelimit_take(rl, "user:alice", 0, NULL));
    assert_false(ratelimit_take(rl, "user:alice", 0, NULL));
    assert_true(ratelimit_take(rl, "user:bob", 0, NULL));
    assert_true(ratelimit_take(rl, "user:alic", 0, NULL)); /* prefix is another key */
    assert_int_equal(ratelimit_size(rl), 3);
    ratelimit_free(rl);
}

static void test_clock_going_back_is_harmless(void **state)
{
    (void)state;
    struct ratelimit *rl = ratelimit_new(60, 1, 10);
    int64_t retry = 0;
    assert_true(ratelimit_take(rl, "k", 100000, NULL));
    assert_false(ratelimit_take(rl, "k", 50000, &retry)); /* earlier time: no free token */
    assert_true(retry >= 1000);
    ratelimit_free(rl);
}

static void test_eviction_is_lru_and_bounded(void **state)
{
    (void)state;
    struct ratelimit *rl = ratelimit_new(60, 1, 2);
    assert_true(ratelimit_take(rl, "a", 0, NULL));
    assert_true(ratelimit_take(rl, "b", 0, NULL));
    assert_false(ratelimit_take(rl, "a", 0, NULL)); /* a is now the most recent */
    assert_int_equal(ratelimit_size(rl), 2);
    /* c needs room: b, the least recently used, goes */
    assert_true(ratelimit_take(rl, "c", 0, NULL));
    assert_int_equal(ratelimit_size(rl), 2);
    assert_int_equal(ratelimit_evictions(rl), 1); /* b had not refilled */
    assert_false(ratelimit_take(rl, "a", 0, NULL)); /* a kept its state */
    assert_true(ratelimit_take(rl, "b", 0, NULL));  /* b starts over (and evicts c) */
    assert_false(ratelimit_take(rl, "a", 0, NULL));
    /* evicting a bucket that had refilled is not counted: it lost nothing */
    assert_true(ratelimit_take(rl, "d", 10000, NULL));
    assert_int_equal(ratelimit_evictions(rl), 2);
    assert_int_equal(ratelimit_size(rl), 2);
    ratelimit_free(rl);
}

static void test_many_keys_stay_within_capacity(void **state)
{
    (void)state;
    struct ratelimit *rl = ratelimit_new(60, 3, 1000);
    char key[32];
    for (int i = 0; i < 20000; i++) {
        snprintf(key, sizeof key, "198.51.100.%d:%d", i % 256, i);
        assert_true(ratelimit_take(rl, key, i, NULL));
    }
    assert_true(ratelimit_size(rl) <= 1008); /* capacity rounded up to the 16 stripes */
    assert_true(ratelimit_size(rl) >= 900);
    ratelimit_free(rl);
}

struct hammer {
    struct ratelimit *rl;
    int allowed;
};

static void *hammer_thread(void *p)
{
    struct hammer *h = p;
    char key[16];
    for (int i = 0; i < 20000; i++) {
        snprintf(key, sizeof key, "k%d", i % 50);
        h->allowed += ratelimit_take(h->rl, key, 0, NULL);
    }
    return NULL;
}

static void test_concurrent_takes_are_exact(void **state)
{
    (void)state;
    /* 8 threads, 50 keys, no time passing: exactly burst tokens per key in total */
    struct ratelimit *rl = ratelimit_new(60, 10, 4096);
    pthread_t th[8];
    struct hammer hs[8];
    for (int i = 0; i < 8; i++) {
        hs[i] = (struct hammer){rl, 0};
        assert_int_equal(pthread_create(&th[i], NULL, hammer_thread, &hs[i]), 0);
    }
    int total = 0;
    for (int i = 0; i < 8; i++) {
        pthread_join(th[i], NULL);
        total += hs[i].allowed;
    }
    assert_int_equal(total, 50 * 10);
    assert_int_equal(ratelimit_size(rl), 50);
    ratelimit_free(rl);
}

static void test_free_null(void **state)
{
    (void)state;
    ratelimit_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_burst_then_refused),
        cmocka_unit_test(test_refill_over_time),
        cmocka_unit_test(test_steady_rate),
        cmocka_unit_test(test_retry_after_rounds_up),
        cmocka_unit_test(test_keys_are_independent),
        cmocka_unit_test(test_clock_going_back_is_harmless),
        cmocka_unit_test(test_eviction_is_lru_and_bounded),
        cmocka_unit_test(test_many_keys_stay_within_capacity),
        cmocka_unit_test(test_concurrent_takes_are_exact),
        cmocka_unit_test(test_free_null),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
