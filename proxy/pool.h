/* Long-lived small objects (sessions, backends, their strings) kept apart
 * from malloc's heap, packed in pages of their own size class. Logins
 * allocate and free tens of kilobytes of short-lived buffers; long-lived
 * structs malloc'd among them pin the heap's pages long after the buffers are
 * gone (bench/README.md: ~2.6 KiB of free heap per idle client). Freed objects
 * are reused by their class and never handed back, as in pgbouncer's slabs.
 * Single-threaded, like the event loop. Under AddressSanitizer every call is
 * plain calloc/free, so the sanitizer still sees each object. */
#ifndef PGT_POOL_H
#define PGT_POOL_H

#include <stddef.h>

/* Zeroed memory of n bytes; NULL when out of memory. Sizes above
 * POOL_MAX_OBJECT come from malloc. */
void *pool_alloc(size_t n) __attribute__((warn_unused_result));
/* Gives back what pool_alloc(n) returned, with the same n. NULL is fine. */
void pool_free(void *p, size_t n);

/* A copy of s in the pool; give it back with pool_free_str (s unchanged). */
char *pool_strdup(const char *s) __attribute__((warn_unused_result));
void pool_free_str(char *s);

#define POOL_MAX_OBJECT ((size_t)4096)

#endif
