/* A bounded LRU cache of classify_sql results keyed by the full query text, so a statement
 * the proxy has seen before is not parsed again. Single-threaded, like the event loop. */
#ifndef PGT_ROUTING_CLASSIFY_CACHE_H
#define PGT_ROUTING_CLASSIFY_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "routing/classify.h"

/* Longer texts (bulk INSERTs, mostly) are classified every time and never stored: they
 * rarely repeat, and storing them would let the cache's memory grow with their size. */
#define CLASSIFY_CACHE_MAX_KEY ((size_t)64 * 1024)

typedef struct classify_cache classify_cache;

typedef struct classify_cache_stats {
    uint64_t hits;
    uint64_t misses; /* including texts too long to store */
    uint64_t evictions;
    size_t entries;
} classify_cache_stats;

/* max_entries 0 turns caching off (every get classifies afresh). NULL when out of memory. */
CLASSIFY_MUST_CHECK classify_cache *classify_cache_new(size_t max_entries);

/* Frees the cache; results handed out stay valid until their holders release them. */
void classify_cache_free(classify_cache *c);

/* The classification of `sql`, from the cache or freshly made (and then stored, evicting
 * the least recently used entry when full). Returns a new reference: release it with
 * classify_result_free. The result is shared and must not be modified. NULL only when
 * memory runs out. */
CLASSIFY_MUST_CHECK const classify_result *classify_cache_get(classify_cache *c, const char *sql);

void classify_cache_get_stats(const classify_cache *c, classify_cache_stats *out);

#endif
