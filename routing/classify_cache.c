/* LRU cache of classifications: a chained hash table over the key (64-bit FNV-1a) plus a
 * doubly-linked recency list. The key is the exact text, or for a single statement whose
 * classification can't depend on its numbers, the text's shape (classify_shape.h). Entries
 * hold one reference to their result; callers get their own. */
#include <stdlib.h>
#include <string.h>

#include "routing/classify_cache.h"
#include "routing/classify_shape.h"

/* What an entry is charged against CLASSIFY_CACHE_MAX_BYTES besides its key: classify.c's
 * result arena starts with a 4 KiB chunk and copies names out of the text, so key_len
 * again bounds the rest for ordinary statements. */
#define RESULT_COST_BASE ((size_t)4096 + 64)

typedef struct cache_entry {
    struct cache_entry *chain; /* next in the same bucket */
    struct cache_entry *newer, *older;
    uint64_t hash;
    size_t key_len;
    const classify_result *result;
    char key[]; /* the text or its shape (which holds NULs), NUL-terminated */
} cache_entry;

struct classify_cache {
    cache_entry **buckets;
    size_t n_buckets; /* a power of two */
    size_t max_entries;
    cache_entry *newest, *oldest;
    classify_shape_buf shape; /* scratch for the key being looked up */
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

static size_t entry_cost(size_t key_len)
{
    return sizeof(cache_entry) + 2 * (key_len + 1) + RESULT_COST_BASE;
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
    c->stats.bytes -= entry_cost(e->key_len);
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
    classify_shape_buf_free(&c->shape);
    free(c->buckets);
    free(c);
}

/* A hit moves the entry to the front and hands out a new reference. */
static const classify_result *lookup(classify_cache *c, const char *key, size_t len,
                                     uint64_t h)
{
    for (cache_entry *e = c->buckets[h & (c->n_buckets - 1)]; e; e = e->chain) {
        if (e->hash == h && e->key_len == len && memcmp(e->key, key, len) == 0) {
            c->stats.hits++;
            lru_unlink(c, e);
            lru_push_newest(c, e);
            return classify_result_retain(e->result);
        }
    }
    return NULL;
}

static void store(classify_cache *c, const char *key, size_t len, uint64_t h,
                  const classify_result *r)
{
    cache_entry *e = malloc(sizeof *e + len + 1);
    if (!e)
        return; /* the caller's answer is still correct, just not remembered */
    while (c->stats.entries > 0 && (c->stats.entries >= c->max_entries ||
                                    c->stats.bytes + entry_cost(len) > CLASSIFY_CACHE_MAX_BYTES))
        evict_oldest(c);
    e->hash = h;
    e->key_len = len;
    memcpy(e->key, key, len);
    e->key[len] = '\0';
    e->result = classify_result_retain(r);
    cache_entry **bucket = &c->buckets[h & (c->n_buckets - 1)];
    e->chain = *bucket;
    *bucket = e;
    lru_push_newest(c, e);
    c->stats.entries++;
    c->stats.bytes += entry_cost(len);
}

/* Whether every text of this one's shape classifies the same, loc/len aside. The grammar
 * turns the constants of these statements into A_Const nodes, whose values classify_sql
 * never reads and pg_query_fingerprint ignores; EXPLAIN's options, COPY's options and
 * DDL/utility arguments can be plain numbers whose value counts (EXPLAIN (ANALYZE 0)). */
static bool shape_shareable(const classify_result *r)
{
    if (r->n_stmts != 1 || r->error)
        return false;
    const classify_stmt *st = &r->stmts[0];
    bool dml_or_read = st->kind == CLASSIFY_READ || st->kind == CLASSIFY_LOCKING_READ ||
                       st->kind == CLASSIFY_WRITE;
    return dml_or_read && !st->explain && st->copy == CLASSIFY_COPY_NONE &&
           st->session == CLASSIFY_SESSION_NONE && st->utility == CLASSIFY_UTILITY_NONE;
}

const classify_result *classify_cache_get(classify_cache *c, const char *sql)
{
    size_t len = strlen(sql);
    if (c->max_entries == 0 || len > CLASSIFY_CACHE_MAX_KEY) {
        c->stats.misses++;
        return classify_sql(sql);
    }
    /* The exact text first: it finds texts without numbers (their shape is the text) and
     * statements kept on exact keys, without running the scanner. */
    uint64_t h = fnv1a(sql, len);
    const classify_result *hit = lookup(c, sql, len, h);
    if (hit)
        return hit;
    uint64_t shape_h = 0;
    bool has_shape = classify_shape_of(sql, len, &c->shape) > 0;
    if (has_shape) {
        shape_h = fnv1a(c->shape.data, c->shape.len);
        hit = lookup(c, c->shape.data, c->shape.len, shape_h);
        if (hit)
            return hit;
    }
    c->stats.misses++;
    classify_result *r = classify_sql(sql);
    if (!r)
        return NULL;
    if (has_shape && shape_shareable(r))
        store(c, c->shape.data, c->shape.len, shape_h, r);
    else
        store(c, sql, len, h, r);
    return r;
}

void classify_cache_get_stats(const classify_cache *c, classify_cache_stats *out)
{
    *out = c->stats;
}
