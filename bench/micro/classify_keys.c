/* Micro-benchmark for classify_cache's keys: what a shape key costs (libpg_query's
 * scanner, read from its wire bytes or unpacked) against a full classify_sql and the
 * other libpg_query entry points that ignore constants (normalize, fingerprint), and
 * what a cache hit by shape costs end to end. Single thread; prints ns per call.
 *   build-x/bench_classify_keys [iterations]     (default 20000) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <pg_query.h>
#include <pg_query/pg_query.pb-c.h>

#include "routing/classify_cache.h"
#include "routing/classify_shape.h"

static const char *const queries[] = {
    "SELECT abalance FROM pgbench_accounts WHERE aid = 48213;",
    "UPDATE pgbench_accounts SET abalance = abalance + -4211 WHERE aid = 813302;",
    "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (7, 1, 813302, -4211, "
    "CURRENT_TIMESTAMP);",
    "SELECT o.id, o.total, c.email FROM orders o JOIN customers c ON c.id = o.customer_id "
    "WHERE o.created_at > now() - interval '7 days' AND o.total > 100.50 AND c.id IN "
    "(SELECT customer_id FROM vip WHERE level >= 3) ORDER BY o.total DESC LIMIT 20",
};

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static void do_classify(const char *q, classify_cache *c)
{
    (void)c;
    classify_result_free(classify_sql(q));
}

static void do_scan_unpack(const char *q, classify_cache *c)
{
    (void)c;
    PgQueryScanResult r = pg_query_scan(q);
    PgQuery__ScanResult *sr =
        pg_query__scan_result__unpack(NULL, r.pbuf.len, (const uint8_t *)r.pbuf.data);
    if (sr)
        pg_query__scan_result__free_unpacked(sr, NULL);
    pg_query_free_scan_result(r);
}

static void do_scan_only(const char *q, classify_cache *c)
{
    (void)c;
    pg_query_free_scan_result(pg_query_scan(q));
}

static classify_shape_buf shape;
static void do_shape(const char *q, classify_cache *c)
{
    (void)c;
    (void)classify_shape_of(q, strlen(q), &shape);
}

static void do_normalize(const char *q, classify_cache *c)
{
    (void)c;
    pg_query_free_normalize_result(pg_query_normalize(q));
}

static void do_fingerprint(const char *q, classify_cache *c)
{
    (void)c;
    pg_query_free_fingerprint_result(pg_query_fingerprint(q));
}

static void do_cache_hit(const char *q, classify_cache *c)
{
    classify_result_free(classify_cache_get(c, q));
}

typedef struct method {
    const char *name;
    void (*fn)(const char *, classify_cache *);
} method;

int main(int argc, char **argv)
{
    int iters = argc > 1 ? atoi(argv[1]) : 20000;
    const method methods[] = {
        {"classify_sql", do_classify},
        {"pg_query_scan", do_scan_only},
        {"scan + unpack", do_scan_unpack},
        {"shape key (scan + wire read)", do_shape},
        {"pg_query_normalize", do_normalize},
        {"pg_query_fingerprint", do_fingerprint},
        {"cache hit by shape", do_cache_hit},
    };
    classify_cache *c = classify_cache_new(100);
    for (size_t q = 0; q < sizeof queries / sizeof queries[0]; q++) {
        printf("query %zu (%zu bytes): %.60s...\n", q + 1, strlen(queries[q]), queries[q]);
        classify_result_free(classify_cache_get(c, queries[q])); /* warm the entry */
        for (size_t m = 0; m < sizeof methods / sizeof methods[0]; m++) {
            double t0 = now_ns();
            for (int i = 0; i < iters; i++)
                methods[m].fn(queries[q], c);
            printf("  %-30s %8.0f ns\n", methods[m].name, (now_ns() - t0) / iters);
        }
    }
    classify_cache_stats s;
    classify_cache_get_stats(c, &s);
    printf("cache: %llu hits, %llu misses, %zu entries\n", (unsigned long long)s.hits,
           (unsigned long long)s.misses, s.entries);
    classify_cache_free(c);
    classify_shape_buf_free(&shape);
    return 0;
}
