/* Size classes 16 bytes apart; each class carves objects from 64 KiB
 * anonymous mappings and keeps a free list threaded through freed objects.
 * Untouched parts of a mapping cost no RSS. */
#include "proxy/pool.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#if defined(__SANITIZE_ADDRESS__)
#define POOL_PLAIN_MALLOC 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define POOL_PLAIN_MALLOC 1
#endif
#endif

#ifdef POOL_PLAIN_MALLOC

void *pool_alloc(size_t n)
{
    return calloc(1, n ? n : 1);
}

void pool_free(void *p, size_t n)
{
    (void)n;
    free(p);
}

#else

#define GRAIN 16
#define N_CLASSES (POOL_MAX_OBJECT / GRAIN)
#define CHUNK ((size_t)64 * 1024)

typedef struct free_obj {
    struct free_obj *next;
} free_obj;

typedef struct size_class {
    free_obj *free;
    char *next, *end; /* the uncarved rest of the newest chunk */
} size_class;

static size_class classes[N_CLASSES];

static size_class *class_of(size_t n, size_t *size)
{
    size_t i = (n + GRAIN - 1) / GRAIN;
    if (i == 0)
        i = 1;
    *size = i * GRAIN;
    return &classes[i - 1];
}

void *pool_alloc(size_t n)
{
    if (n > POOL_MAX_OBJECT)
        return calloc(1, n);
    size_t size;
    size_class *c = class_of(n, &size);
    if (c->free) {
        free_obj *o = c->free;
        c->free = o->next;
        memset(o, 0, size);
        return o;
    }
    if ((size_t)(c->end - c->next) < size) {
        void *m = mmap(NULL, CHUNK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED)
            return NULL;
        c->next = m;
        c->end = (char *)m + CHUNK;
    }
    void *p = c->next; /* fresh mappings are zeroed */
    c->next += size;
    return p;
}

void pool_free(void *p, size_t n)
{
    if (!p)
        return;
    if (n > POOL_MAX_OBJECT) {
        free(p);
        return;
    }
    size_t size;
    size_class *c = class_of(n, &size);
    free_obj *o = p;
    o->next = c->free;
    c->free = o;
}

#endif

char *pool_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = pool_alloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

void pool_free_str(char *s)
{
    if (s)
        pool_free(s, strlen(s) + 1);
}
