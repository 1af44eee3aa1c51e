#include "core/ratelimit.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "core/mem.h"

/* Each bucket is kept as GCRA state (the "generic cell rate algorithm", equivalent to a token
 * bucket): tat is the time at which the bucket would be full again. Integer microseconds keep
 * the arithmetic exact; a bucket with tat <= now is full. */
struct bucket {
    struct bucket *hnext;       /* hash chain */
    struct bucket *prev, *next; /* LRU list, most recent first */
    uint64_t hash;
    char *key;
    int64_t tat_us;
};

struct stripe {
    pthread_mutex_t mu;
    struct bucket **slots; /* nslots chains */
    size_t nslots;         /* power of two */
    struct bucket *pool;   /* cap entries, allocated once */
    struct bucket *free;   /* unused entries of pool, through hnext */
    struct bucket lru;     /* sentinel: lru.next is the most recent, lru.prev the oldest */
    size_t used, cap;
    uint64_t evictions;
};

struct ratelimit {
    int64_t interval_us;  /* one token every interval_us */
    int64_t tolerance_us; /* (burst - 1) * interval_us */
    uint64_t seed;
    size_t nstripes;
    struct stripe *stripes;
};

static uint64_t hash_key(uint64_t seed, const char *s)
{
    uint64_t h = 1469598103934665603ULL ^ seed; /* FNV-1a 64, seeded against chosen collisions */
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    h ^= h >> 33; /* final mix so both the stripe and the slot bits are spread */
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return h;
}

static uint64_t random_seed(const void *salt)
{
    uint64_t s = 0;
    if (getrandom(&s, sizeof s, GRND_NONBLOCK) != (ssize_t)sizeof s) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        s = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32) ^ (uint64_t)(uintptr_t)salt;
    }
    return s;
}

struct ratelimit *ratelimit_new(unsigned per_minute, unsigned burst, size_t capacity)
{
    if (per_minute < 1)
        per_minute = 1;
    if (burst < 1)
        burst = 1;
    if (capacity < 1)
        capacity = 1;
    struct ratelimit *rl = xcalloc(1, sizeof *rl);
    rl->interval_us = 60000000LL / (int64_t)per_minute;
    if (rl->interval_us < 1)
        rl->interval_us = 1;
    rl->tolerance_us = (int64_t)(burst - 1) * rl->interval_us;
    rl->seed = random_seed(rl);
    /* small tables (tests, tiny limits) keep exact LRU order in one stripe */
    rl->nstripes = capacity >= 256 ? 16 : 1;
    size_t per = (capacity + rl->nstripes - 1) / rl->nstripes;
    rl->stripes = xcalloc(rl->nstripes, sizeof *rl->stripes);
    for (size_t i = 0; i < rl->nstripes; i++) {
        struct stripe *s = &rl->stripes[i];
        pthread_mutex_init(&s->mu, NULL);
        s->cap = per;
        s->nslots = 1;
        while (s->nslots < per * 2)
            s->nslots <<= 1;
        s->slots = xcalloc(s->nslots, sizeof *s->slots);
        s->pool = xcalloc(per, sizeof *s->pool);
        for (size_t j = 0; j < per; j++) {
            s->pool[j].hnext = s->free;
            s->free = &s->pool[j];
        }
        s->lru.next = s->lru.prev = &s->lru;
    }
    return rl;
}

void ratelimit_free(struct ratelimit *rl)
{
    if (!rl)
        return;
    for (size_t i = 0; i < rl->nstripes; i++) {
        struct stripe *s = &rl->stripes[i];
        for (size_t j = 0; j < s->cap; j++)
            free(s->pool[j].key);
        free(s->pool);
        free(s->slots);
        pthread_mutex_destroy(&s->mu);
    }
    free(rl->stripes);
    free(rl);
}

static void lru_unlink(struct bucket *b)
{
    b->prev->next = b->next;
    b->next->prev = b->prev;
}

static void lru_push_front(struct stripe *s, struct bucket *b)
{
    b->prev = &s->lru;
    b->next = s->lru.next;
    s->lru.next->prev = b;
    s->lru.next = b;
}

static void chain_remove(struct stripe *s, struct bucket *b)
{
    struct bucket **pp = &s->slots[b->hash & (s->nslots - 1)];
    while (*pp != b)
        pp = &(*pp)->hnext;
    *pp = b->hnext;
}

/* A free entry, dropping the least recently used bucket when the stripe is full. */
static struct bucket *take_entry(struct stripe *s, int64_t now_us)
{
    struct bucket *b = s->free;
    if (b) {
        s->free = b->hnext;
        s->used++;
        return b;
    }
    b = s->lru.prev;
    if (b->tat_us > now_us)
        s->evictions++; /* it had not refilled: its key gets a fresh burst */
    lru_unlink(b);
    chain_remove(s, b);
    free(b->key);
    b->key = NULL;
    return b;
}

bool ratelimit_take(struct ratelimit *rl, const char *key, int64_t now_ms, int64_t *retry_after_ms)
{
    int64_t now = now_ms * 1000;
    uint64_t h = hash_key(rl->seed, key);
    struct stripe *s = &rl->stripes[(h >> 48) % rl->nstripes];
    bool allowed;

    pthread_mutex_lock(&s->mu);
    struct bucket *b = s->slots[h & (s->nslots - 1)];
    while (b && (b->hash != h || strcmp(b->key, key)))
        b = b->hnext;
    if (b) {
        lru_unlink(b);
    } else {
        b = take_entry(s, now);
        b->hash = h;
        b->key = xstrdup(key);
        b->tat_us = now; /* a new key starts with a full bucket */
        size_t slot = h & (s->nslots - 1);
        b->hnext = s->slots[slot];
        s->slots[slot] = b;
    }
    lru_push_front(s, b);

    int64_t tat = b->tat_us > now ? b->tat_us : now;
    if (tat - now > rl->tolerance_us) {
        allowed = false;
        if (retry_after_ms) {
            int64_t wait_us = tat - rl->tolerance_us - now;
            int64_t ms = (wait_us + 999) / 1000;
            *retry_after_ms = ms < 1 ? 1 : ms;
        }
    } else {
        allowed = true;
        b->tat_us = tat + rl->interval_us;
    }
    pthread_mutex_unlock(&s->mu);
    return allowed;
}

size_t ratelimit_size(struct ratelimit *rl)
{
    size_t n = 0;
    for (size_t i = 0; i < rl->nstripes; i++) {
        pthread_mutex_lock(&rl->stripes[i].mu);
        n += rl->stripes[i].used;
        pthread_mutex_unlock(&rl->stripes[i].mu);
    }
    return n;
}

uint64_t ratelimit_evictions(struct ratelimit *rl)
{
    uint64_t n = 0;
    for (size_t i = 0; i < rl->nstripes; i++) {
        pthread_mutex_lock(&rl->stripes[i].mu);
        n += rl->stripes[i].evictions;
        pthread_mutex_unlock(&rl->stripes[i].mu);
    }
    return n;
}
