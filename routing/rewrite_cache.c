/* A direct-mapped table from a statement's shape to its rewrite plan. Texts of
 * one shape differ only in numeric constants, which are single tokens: the
 * parser sees the same statement with the same RETURNING list, and what
 * follows the last token (the plan's tail) is the same bytes. So the plan of
 * one serves all. Keys are copied; a text without numbers is its own key. */
#include "routing/rewrite_cache.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "routing/classify_shape.h"
#include "routing/rewrite.h"

typedef struct slot {
    uint64_t hash;
    char *key; /* NULL: empty */
    size_t key_len;
    rewrite_plan plan;
} slot;

struct rewrite_cache {
    slot slots[REWRITE_CACHE_SLOTS];
    classify_shape_buf shape; /* scratch for the key being looked up */
    rewrite_cache_stats stats;
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

rewrite_cache *rewrite_cache_new(void)
{
    return calloc(1, sizeof(rewrite_cache));
}

void rewrite_cache_free(rewrite_cache *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < REWRITE_CACHE_SLOTS; i++)
        free(c->slots[i].key);
    classify_shape_buf_free(&c->shape);
    free(c);
}

char *rewrite_cache_returning_all(rewrite_cache *c, const char *sql, char *err, size_t err_len)
{
    size_t len = strlen(sql);
    if (!c || len > REWRITE_CACHE_MAX_KEY)
        return rewrite_returning_all(sql, err, err_len);
    const char *key = sql;
    size_t key_len = len;
    if (classify_shape_of(sql, len, &c->shape) > 0)
        key = c->shape.data, key_len = c->shape.len;
    uint64_t h = fnv1a(key, key_len);
    slot *sl = &c->slots[h % REWRITE_CACHE_SLOTS];
    rewrite_plan plan;
    if (sl->key && sl->hash == h && sl->key_len == key_len && memcmp(sl->key, key, key_len) == 0 &&
        sl->plan.tail <= len) {
        c->stats.hits++;
        plan = sl->plan;
    } else {
        c->stats.misses++;
        if (!rewrite_returning_plan(sql, &plan, err, err_len))
            return NULL;
        char *copy = malloc(key_len + 1);
        if (copy) { /* without memory the rewrite still goes ahead, unremembered */
            memcpy(copy, key, key_len);
            copy[key_len] = '\0';
            free(sl->key);
            *sl = (slot){.hash = h, .key = copy, .key_len = key_len, .plan = plan};
        }
    }
    char *out = rewrite_returning_apply(sql, len, &plan);
    if (!out)
        snprintf(err, err_len, "out of memory");
    return out;
}

void rewrite_cache_get_stats(const rewrite_cache *c, rewrite_cache_stats *out)
{
    *out = c ? c->stats : (rewrite_cache_stats){0};
}
