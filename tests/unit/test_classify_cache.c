/* Tests for routing/classify_cache: hits and misses, LRU eviction order, results that outlive
 * their entry or the cache, and that a cached result is identical to a fresh one. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "routing/classify_cache.h"

static classify_cache_stats stats_of(const classify_cache *c)
{
    classify_cache_stats s;
    classify_cache_get_stats(c, &s);
    return s;
}

static void get_and_release(classify_cache *c, const char *sql)
{
    const classify_result *r = classify_cache_get(c, sql);
    cr_assert_not_null(r);
    classify_result_free(r);
}

static bool same_str(const char *a, const char *b)
{
    if (!a || !b)
        return a == b;
    return strcmp(a, b) == 0;
}

static bool same_names(const classify_name *a, size_t na, const classify_name *b, size_t nb)
{
    if (na != nb)
        return false;
    for (size_t i = 0; i < na; i++)
        if (!same_str(a[i].schema, b[i].schema) || !same_str(a[i].name, b[i].name))
            return false;
    return true;
}

/* Field-by-field: the cache must hand out exactly what classify_sql would. */
static void expect_identical(const classify_result *a, const classify_result *b, const char *sql)
{
    cr_assert_eq(a->n_stmts, b->n_stmts, "[%s]", sql);
    cr_expect(same_str(a->error, b->error), "[%s]: error", sql);
    cr_expect_eq(a->error_cursor, b->error_cursor, "[%s]", sql);
    for (size_t i = 0; i < a->n_stmts; i++) {
        const classify_stmt *x = &a->stmts[i], *y = &b->stmts[i];
        cr_expect_eq(x->kind, y->kind, "[%s]", sql);
        cr_expect(x->loc == y->loc && x->len == y->len, "[%s]: range", sql);
        cr_expect(same_names(x->reads, x->n_reads, y->reads, y->n_reads), "[%s]: reads", sql);
        cr_expect(same_names(x->writes, x->n_writes, y->writes, y->n_writes), "[%s]: writes",
                  sql);
        cr_expect(same_names(x->functions, x->n_functions, y->functions, y->n_functions),
                  "[%s]: functions", sql);
        cr_expect_eq(x->volatile_calls, y->volatile_calls, "[%s]", sql);
        cr_expect_eq(x->opaque, y->opaque, "[%s]", sql);
        cr_expect_eq(x->explain, y->explain, "[%s]", sql);
        cr_expect_eq(x->inner_kind, y->inner_kind, "[%s]", sql);
        cr_expect(same_str(x->name, y->name), "[%s]: name", sql);
        cr_expect(x->tx == y->tx && x->isolation == y->isolation && x->access == y->access &&
                      x->deferrable == y->deferrable && x->chain == y->chain,
                  "[%s]: tx", sql);
        cr_expect(x->session == y->session && x->set_local == y->set_local, "[%s]: session",
                  sql);
        cr_expect_eq(x->utility, y->utility, "[%s]", sql);
        cr_expect(same_str(x->target.schema, y->target.schema) &&
                      same_str(x->target.name, y->target.name),
                  "[%s]: target", sql);
        cr_expect_eq(x->returning, y->returning, "[%s]", sql);
        cr_expect_eq(x->copy, y->copy, "[%s]", sql);
        const classify_insert *p = &x->insert, *q = &y->insert;
        cr_expect(p->present == q->present && p->n_values_rows == q->n_values_rows &&
                      p->from_select == q->from_select && p->default_values == q->default_values &&
                      p->uses_default == q->uses_default && p->on_conflict == q->on_conflict &&
                      p->n_columns == q->n_columns,
                  "[%s]: insert", sql);
        for (size_t k = 0; k < p->n_columns && k < q->n_columns; k++)
            cr_expect_str_eq(p->columns[k], q->columns[k], "[%s]", sql);
        cr_expect_str_eq(x->fingerprint, y->fingerprint, "[%s]", sql);
    }
}

Test(classify_cache, miss_then_hit_shares_the_result)
{
    classify_cache *c = classify_cache_new(8);
    cr_assert_not_null(c);
    const char *sql = "SELECT * FROM users WHERE id = $1";
    const classify_result *a = classify_cache_get(c, sql);
    const classify_result *b = classify_cache_get(c, sql);
    cr_assert_not_null(a);
    cr_expect_eq(a, b, "a hit returns the stored result");
    classify_cache_stats s = stats_of(c);
    cr_expect_eq(s.misses, 1);
    cr_expect_eq(s.hits, 1);
    cr_expect_eq(s.entries, 1);
    cr_expect_eq(s.evictions, 0);
    classify_result_free(a);
    classify_result_free(b);
    classify_cache_free(c);
}

Test(classify_cache, keyed_by_exact_text)
{
    classify_cache *c = classify_cache_new(8);
    get_and_release(c, "SELECT 1");
    get_and_release(c, "SELECT 1 ");
    get_and_release(c, "select 1");
    classify_cache_stats s = stats_of(c);
    cr_expect_eq(s.misses, 3, "texts differing in any byte are different keys");
    cr_expect_eq(s.entries, 3);
    classify_cache_free(c);
}

Test(classify_cache, cached_equals_fresh)
{
    const char *sqls[] = {
        "INSERT INTO users (email, name) VALUES ($1, $2), ($3, DEFAULT) ON CONFLICT DO NOTHING "
        "RETURNING id",
        "WITH x AS (DELETE FROM carts RETURNING *) INSERT INTO cart_archive SELECT * FROM x",
        "SELECT * FROM carts c JOIN cart_items i ON i.cart_id = c.id FOR UPDATE OF c",
        "BEGIN ISOLATION LEVEL SERIALIZABLE READ ONLY; SELECT now(); COMMIT AND CHAIN",
        "SET LOCAL search_path = promotion",
        "COPY products FROM STDIN",
        "SELEC broken",
        "",
        "EXPLAIN ANALYZE UPDATE products SET price = 1",
    };
    classify_cache *c = classify_cache_new(4);
    for (int round = 0; round < 2; round++) {
        for (size_t i = 0; i < sizeof sqls / sizeof sqls[0]; i++) {
            classify_result *fresh = classify_sql(sqls[i]);
            const classify_result *cached = classify_cache_get(c, sqls[i]);
            cr_assert_not_null(fresh);
            cr_assert_not_null(cached);
            expect_identical(fresh, cached, sqls[i]);
            classify_result_free(fresh);
            classify_result_free(cached);
        }
    }
    classify_cache_free(c);
}

Test(classify_cache, evicts_least_recently_used)
{
    classify_cache *c = classify_cache_new(3);
    get_and_release(c, "SELECT 'a'");
    get_and_release(c, "SELECT 'b'");
    get_and_release(c, "SELECT 'c'");
    get_and_release(c, "SELECT 'a'"); /* a becomes the most recent; b is now the oldest */
    get_and_release(c, "SELECT 'd'"); /* evicts b */
    classify_cache_stats s = stats_of(c);
    cr_expect_eq(s.entries, 3);
    cr_expect_eq(s.evictions, 1);
    cr_expect_eq(s.hits, 1);

    get_and_release(c, "SELECT 'a'");
    get_and_release(c, "SELECT 'c'");
    get_and_release(c, "SELECT 'd'");
    s = stats_of(c);
    cr_expect_eq(s.hits, 4, "a, c and d survived");

    get_and_release(c, "SELECT 'b'");
    s = stats_of(c);
    cr_expect_eq(s.hits, 4, "b was evicted");
    cr_expect_eq(s.misses, 5);
    cr_expect_eq(s.evictions, 2);
    classify_cache_free(c);
}

Test(classify_cache, results_outlive_eviction_and_the_cache)
{
    classify_cache *c = classify_cache_new(1);
    const classify_result *kept = classify_cache_get(c, "SELECT * FROM wishlists");
    get_and_release(c, "SELECT * FROM carts"); /* evicts the wishlists entry */
    cr_expect_eq(stats_of(c).evictions, 1);
    cr_expect_str_eq(kept->stmts[0].reads[0].name, "wishlists");
    const classify_result *other = classify_cache_get(c, "SELECT * FROM carts");
    classify_cache_free(c);
    cr_expect_str_eq(other->stmts[0].reads[0].name, "carts");
    classify_result_free(kept);
    classify_result_free(other);
}

Test(classify_cache, many_entries_stay_bounded)
{
    classify_cache *c = classify_cache_new(100);
    char sql[64];
    for (int round = 0; round < 2; round++)
        for (int i = 0; i < 1000; i++) {
            snprintf(sql, sizeof sql, "SELECT * FROM products WHERE id = %d", i);
            get_and_release(c, sql);
        }
    classify_cache_stats s = stats_of(c);
    cr_expect_eq(s.entries, 100);
    cr_expect_eq(s.misses, 2000, "a cycle longer than the cache never hits under LRU");
    cr_expect_eq(s.evictions, 1900);
    /* the most recent 100 are all there */
    for (int i = 900; i < 1000; i++) {
        snprintf(sql, sizeof sql, "SELECT * FROM products WHERE id = %d", i);
        get_and_release(c, sql);
    }
    cr_expect_eq(stats_of(c).hits, 100);
    classify_cache_free(c);
}

Test(classify_cache, disabled_cache_still_classifies)
{
    classify_cache *c = classify_cache_new(0);
    cr_assert_not_null(c);
    const classify_result *r = classify_cache_get(c, "DELETE FROM carts");
    cr_assert_not_null(r);
    cr_expect_eq(r->stmts[0].kind, CLASSIFY_WRITE);
    classify_result_free(r);
    get_and_release(c, "DELETE FROM carts");
    classify_cache_stats s = stats_of(c);
    cr_expect_eq(s.hits, 0);
    cr_expect_eq(s.misses, 2);
    cr_expect_eq(s.entries, 0);
    classify_cache_free(c);
}

Test(classify_cache, long_texts_are_not_stored)
{
    size_t rows = CLASSIFY_CACHE_MAX_KEY / 8;
    char *sql = malloc(64 + rows * 8);
    cr_assert_not_null(sql);
    strcpy(sql, "INSERT INTO promo_usage (user_id) VALUES (1)");
    char *p = sql + strlen(sql);
    for (size_t i = 0; i < rows; i++) {
        memcpy(p, ", (1234)", 8);
        p += 8;
    }
    *p = '\0';
    cr_assert_gt(strlen(sql), CLASSIFY_CACHE_MAX_KEY);
    classify_cache *c = classify_cache_new(4);
    const classify_result *r = classify_cache_get(c, sql);
    cr_assert_not_null(r);
    cr_expect_eq(r->stmts[0].insert.n_values_rows, rows + 1);
    classify_result_free(r);
    get_and_release(c, sql);
    classify_cache_stats s = stats_of(c);
    cr_expect_eq(s.entries, 0);
    cr_expect_eq(s.misses, 2);
    classify_cache_free(c);
    free(sql);
}

Test(classify_cache, free_null_is_a_no_op) { classify_cache_free(NULL); }
