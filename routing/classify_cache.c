/* LRU cache of classifications: a chained hash table over the query text (64-bit FNV-1a;
 * libxxhash's header is not installed on the project's machines) plus a doubly-linked
 * recency list. Entries hold one reference to their result; callers get their own. */
#include <stdlib.h>
#include <string.h>

#include "routing/classify_cache.h"

typedef struct cache_entry {
    struct cache_entry *chain; /* next in the same bucket */
    struct cache_entry *newer, *older;
    uint64_t hash;
    size_t key_len;
    const classify_result *result;
    char key[]; /* the query text, NUL-terminated */
} cache_entry;

struct classify_cache {
    cache_entry **buckets;
    size_t n_buckets; /* a power of two */
    size_t max_entries;
    cache_entry *newest, *oldest;
    classify_cache_stats stats;
};

static uint64_t fnv1a(const char *s, size_t n)
{
    uint64_t h = 0xcbf29ce484222325u;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 0x100000001b3u;
    }
    return h;
}

classify_cache *classify_cache_new(size_t max_entries)
{
    classify_cache *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->max_entries = max_entries;
    if (max_entries == 0)
        return c;
    /* Twice as many buckets as entries keeps chains short without resizing. */
    size_t n = 16;
    while (n < max_entries * 2 && n < ((size_t)1 << 30))
        n *= 2;
    c->buckets = calloc(n, sizeof *c->buckets);
    if (!c->buckets) {
        free(c);
        return NULL;
    }
    c->n_buckets = n;
    return c;
}

static void lru_unlink(classify_cache *c, cache_entry *e)
{
    if (e->newer)
        e->newer->older = e->older;
    else
        c->newest = e->older;
    if (e->older)
        e->older->newer = e->newer;
    else
        c->oldest = e->newer;
    e->newer = e->older = NULL;
}

static void lru_push_newest(classify_cache *c, cache_entry *e)
{
    e->older = c->newest;
    e->newer = NULL;
    if (c->newest)
        c->newest->newer = e;
    c->newest = e;
    if (!c->oldest)
        c->oldest = e;
}

static void evict_oldest(classify_cache *c)
{
    cache_entry *e = c->oldest;
    if (!e)
        return;
    lru_unlink(c, e);
    cache_entry **p = &c->buckets[e->hash & (c->n_buckets - 1)];
    while (*p && *p != e)
        p = &(*p)->chain;
    if (*p)
        *p = e->chain;
    classify_result_free(e->result);
    free(e);
    c->stats.entries--;
    c->stats.evictions++;
}

void classify_cache_free(classify_cache *c)
{
    if (!c)
        return;
    for (cache_entry *e = c->newest, *next; e; e = next) {
        next = e->older;
        classify_result_free(e->result);
        free(e);
    }
    free(c->buckets);
    free(c);
}

const classify_result *classify_cache_get(classify_cache *c, const char *sql)
{
    size_t len = strlen(sql);
    if (c->max_entries == 0 || len > CLASSIFY_CACHE_MAX_KEY) {
        c->stats.misses++;
        return classify_sql(sql);
    }
    uint64_t h = fnv1a(sql, len);
    cache_entry **bucket = &c->buckets[h & (c->n_buckets - 1)];
    for (cache_entry *e = *bucket; e; e = e->chain) {
        if (e->hash == h && e->key_len == len && memcmp(e->key, sql, len) == 0) {
            c->stats.hits++;
            lru_unlink(c, e);
            lru_push_newest(c, e);
            return classify_result_retain(e->result);
        }
    }
    c->stats.misses++;
    classify_result *r = classify_sql(sql);
    if (!r)
        return NULL;
    cache_entry *e = malloc(sizeof *e + len + 1);
    if (!e)
        return r; /* still a correct answer, just not remembered */
    if (c->stats.entries >= c->max_entries)
        evict_oldest(c);
    e->hash = h;
    e->key_len = len;
    memcpy(e->key, sql, len + 1);
    e->result = classify_result_retain(r);
    e->chain = *bucket;
    *bucket = e;
    lru_push_newest(c, e);
    c->stats.entries++;
    return r;
}

void classify_cache_get_stats(const classify_cache *c, classify_cache_stats *out)
{
    *out = c->stats;
}
