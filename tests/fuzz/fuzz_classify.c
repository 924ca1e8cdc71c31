/* libFuzzer target for routing/classify: arbitrary bytes as a query string, classified
 * fresh and through a small cache; checks the result's invariants (ranges inside the input
 * and in order, names present, one statement on error) and that both paths agree. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "routing/classify.h"
#include "routing/classify_cache.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok)
{
    if (!ok)
        abort();
}

static void check_names(const classify_name *v, size_t n)
{
    check(n == 0 || v != NULL);
    for (size_t i = 0; i < n; i++)
        check(v[i].name != NULL && (v[i].schema == NULL || v[i].schema[0] != '\0'));
}

static void check_result(const classify_result *r, size_t len)
{
    check(r->n_stmts >= 1 && r->stmts != NULL);
    if (r->error)
        check(r->n_stmts == 1);
    size_t end = 0;
    for (size_t i = 0; i < r->n_stmts; i++) {
        const classify_stmt *st = &r->stmts[i];
        check(st->kind >= CLASSIFY_UNKNOWN && st->kind <= CLASSIFY_UTILITY);
        check(st->loc >= end && st->loc <= len && st->len <= len - st->loc);
        end = st->loc + st->len;
        check_names(st->reads, st->n_reads);
        check_names(st->writes, st->n_writes);
        check_names(st->functions, st->n_functions);
        size_t fp = strlen(st->fingerprint);
        check(fp == 0 || fp == 16);
        for (size_t k = 0; k < st->insert.n_columns; k++)
            check(st->insert.columns[k] != NULL);
        check((st->kind == CLASSIFY_ERROR) == (r->error != NULL && r->stmts[0].kind ==
                                                                       CLASSIFY_ERROR));
    }
}

static classify_cache *cache;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *sql = malloc(size + 1);
    if (!sql)
        return 0;
    memcpy(sql, data, size);
    sql[size] = '\0';
    size_t len = strlen(sql); /* an embedded NUL ends the text, as in a Query message */

    classify_result *fresh = classify_sql(sql);
    if (fresh) {
        check_result(fresh, len);
        if (!cache)
            cache = classify_cache_new(16);
        const classify_result *cached = cache ? classify_cache_get(cache, sql) : NULL;
        if (cached) {
            check(cached->n_stmts == fresh->n_stmts);
            for (size_t i = 0; i < fresh->n_stmts; i++) {
                check(cached->stmts[i].kind == fresh->stmts[i].kind);
                check(cached->stmts[i].loc == fresh->stmts[i].loc);
                check(cached->stmts[i].n_writes == fresh->stmts[i].n_writes);
                check(strcmp(cached->stmts[i].fingerprint, fresh->stmts[i].fingerprint) == 0);
            }
            classify_result_free(cached);
        }
        classify_result_free(fresh);
    }
    free(sql);
    return 0;
}
