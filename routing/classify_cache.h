/* A bounded LRU cache of classify_sql results, so a statement the proxy has seen before is
 * not parsed again. A single SELECT/INSERT/UPDATE/DELETE/MERGE is keyed by its shape: the
 * text with its numeric constants blanked out (classify_shape.h), so `WHERE aid = 17` and
 * `WHERE aid = 42` share one entry; string constants are kept, as they can name tables
 * ('users'::regclass, nextval('seq')). Everything else - several statements in one text,
 * EXPLAIN, COPY, DDL, SET and other commands whose numbers can matter - is keyed by the
 * exact text. Single-threaded, like the event loop.
 *
 * Cost (bench/micro/classify_keys.c; see bench/README.md): the exact-text probe is a hash;
 * a text with numbers that misses it runs libpg_query's scanner, ~1.4 us for pgbench's
 * 56-byte SELECT against ~14 us for classify_sql (10%; ~7 us against ~86 us for a
 * 242-byte join). */
#ifndef PGT_ROUTING_CLASSIFY_CACHE_H
#define PGT_ROUTING_CLASSIFY_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "routing/classify.h"

/* Longer texts (bulk INSERTs, mostly) are classified every time and never stored: they
 * rarely repeat, and storing them would let the cache's memory grow with their size. */
#define CLASSIFY_CACHE_MAX_KEY ((size_t)64 * 1024)

/* Memory bound besides max_entries: every entry is charged its key and an estimate of its
 * result (classify.c's arena starts at 4 KiB), and the least recently used entries go
 * when the sum would pass this, so many distinct long texts can't grow the cache unbounded.
 * For short statements that is ~3,800 entries, whatever max_entries says. */
#define CLASSIFY_CACHE_MAX_BYTES ((size_t)16 * 1024 * 1024)

typedef struct classify_cache classify_cache;

typedef struct classify_cache_stats {
    uint64_t hits;
    uint64_t misses; /* including texts too long to store */
    uint64_t evictions;
    size_t entries;
    size_t bytes; /* charged against CLASSIFY_CACHE_MAX_BYTES */
} classify_cache_stats;

/* max_entries 0 turns caching off (every get classifies afresh). NULL when out of memory. */
CLASSIFY_MUST_CHECK classify_cache *classify_cache_new(size_t max_entries);

/* Frees the cache; results handed out stay valid until their holders release them. */
void classify_cache_free(classify_cache *c);

/* The classification of `sql`, from the cache or freshly made (and then stored, evicting
 * the least recently used entries when full). Returns a new reference: release it with
 * classify_result_free. The result is shared and must not be modified. NULL only when
 * memory runs out.
 *
 * A result found by shape was made from another text of the same shape: every field is
 * what classify_sql(sql) would give except the statement's loc/len, which are byte
 * offsets into that other text (its numbers may be longer or shorter). Callers of a
 * single-statement result must use the whole text, not loc/len; results of texts with
 * several statements are only ever stored and found by their exact text, so their loc/len
 * are right. */
CLASSIFY_MUST_CHECK const classify_result *classify_cache_get(classify_cache *c, const char *sql);

void classify_cache_get_stats(const classify_cache *c, classify_cache_stats *out);

#endif
