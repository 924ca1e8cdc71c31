/* rewrite_returning_all remembered per statement shape (classify_shape.h), so
 * a write repeated with other numbers (pgbench's INSERT INTO pgbench_history
 * ... VALUES (7, 1, 48213, ...)) is parsed once: later texts of the same shape
 * cost one scan and a lookup. Single-threaded, like the event loop. Pure: no
 * I/O. */
#ifndef PGT_ROUTING_REWRITE_CACHE_H
#define PGT_ROUTING_REWRITE_CACHE_H

#include <stddef.h>
#include <stdint.h>

typedef struct rewrite_cache rewrite_cache;

/* Texts longer than this are planned every time and never stored. */
#define REWRITE_CACHE_MAX_KEY ((size_t)4096)

/* Slots of the direct-mapped table: a new shape replaces whatever held its
 * slot. At most this many keys of REWRITE_CACHE_MAX_KEY bytes are held. */
#define REWRITE_CACHE_SLOTS 128

typedef struct rewrite_cache_stats {
    uint64_t hits, misses;
} rewrite_cache_stats;

/* NULL when out of memory. */
rewrite_cache *rewrite_cache_new(void) __attribute__((warn_unused_result));
void rewrite_cache_free(rewrite_cache *c);

/* Same contract and result as rewrite_returning_all (rewrite.h). c may be
 * NULL: then nothing is remembered. Refusals are not remembered. */
char *rewrite_cache_returning_all(rewrite_cache *c, const char *sql, char *err, size_t err_len)
    __attribute__((warn_unused_result));

void rewrite_cache_get_stats(const rewrite_cache *c, rewrite_cache_stats *out);

#endif
