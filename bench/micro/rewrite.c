/* Micro-benchmark of the RETURNING rewrite for row images: rewrite_returning_all
 * (parse + scan + splice) and rewrite_cache_returning_all (a shape lookup after the
 * first text), on pgbench's history INSERT with other numbers on every call.
 * Single thread; prints ns per call.
 *   build-x/bench_rewrite [iterations]     (default 20000) */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "routing/rewrite.h"
#include "routing/rewrite_cache.h"

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 20000;
    rewrite_cache *c = rewrite_cache_new();
    if (!c || n <= 0)
        return 1;
    for (int cached = 0; cached < 2; cached++) {
        double t0 = now_ns();
        for (int i = 0; i < n; i++) {
            char q[200], err[256];
            snprintf(q, sizeof(q),
                     "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (%d, %d, "
                     "%d, %d, CURRENT_TIMESTAMP);",
                     i % 100 + 1, i % 10 + 1, i * 37 % 1000000 + 1, i % 10000 - 5000);
            char *r = cached ? rewrite_cache_returning_all(c, q, err, sizeof(err))
                             : rewrite_returning_all(q, err, sizeof(err));
            if (!r) {
                fprintf(stderr, "refused: %s\n", err);
                return 1;
            }
            free(r);
        }
        printf("%-28s %8.0f ns/call\n",
               cached ? "rewrite_cache_returning_all" : "rewrite_returning_all",
               (now_ns() - t0) / n);
    }
    rewrite_cache_free(c);
    return 0;
}
