/* Tests for routing/classify_cache: hits and misses, keys by shape (numbers blanked out)
 * and by exact text, LRU eviction order, the memory bound, results that outlive their entry
 * or the cache, and that a cached result is identical to a fresh one. */
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

static void expect_counts(const classify_cache *c, uint64_t hits, uint64_t misses,
                          size_t entries)
{
    classify_cache_stats s = stats_of(c);
    cr_expect_eq(s.hits, hits, "hits");
    cr_expect_eq(s.misses, misses, "misses");
    cr_expect_eq(s.entries, entries, "entries");
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

/* Field-by-field: the cache must hand out exactly what classify_sql would; a result shared
 * by shape may differ only in loc/len (`same_text` false). */
static void expect_same_result(const classify_result *a, const classify_result *b,
                               const char *sql, bool same_text)
{
    cr_assert_eq(a->n_stmts, b->n_stmts, "[%s]", sql);
    cr_expect(same_str(a->error, b->error), "[%s]: error", sql);
    cr_expect_eq(a->error_cursor, b->error_cursor, "[%s]", sql);
    for (size_t i = 0; i < a->n_stmts; i++) {
        const classify_stmt *x = &a->stmts[i], *y = &b->stmts[i];
        cr_expect_eq(x->kind, y->kind, "[%s]", sql);
        if (same_text)
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

static void expect_identical(const classify_result *a, const classify_result *b, const char *sql)
{
    expect_same_result(a, b, sql, true);
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
    cr_expect_eq(s.misses, 3, "texts differing in any byte but a number's are different keys");
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
            snprintf(sql, sizeof sql, "SELECT * FROM products WHERE sku = '%d'", i);
            get_and_release(c, sql);
        }
    classify_cache_stats s = stats_of(c);
    cr_expect_eq(s.entries, 100);
    cr_expect_eq(s.misses, 2000, "a cycle longer than the cache never hits under LRU");
    cr_expect_eq(s.evictions, 1900);
    /* the most recent 100 are all there */
    for (int i = 900; i < 1000; i++) {
        snprintf(sql, sizeof sql, "SELECT * FROM products WHERE sku = '%d'", i);
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

/* ---- keys by shape */

Test(classify_cache, texts_differing_only_in_numbers_share_an_entry)
{
    classify_cache *c = classify_cache_new(8);
    get_and_release(c, "SELECT abalance FROM pgbench_accounts WHERE aid = 7;");
    get_and_release(c, "SELECT abalance FROM pgbench_accounts WHERE aid = 813302;");
    get_and_release(c, "UPDATE t SET x = x + -1.5 WHERE id = 3");
    get_and_release(c, "UPDATE t SET x = x + -22.25 WHERE id = 40000");
    expect_counts(c, 2, 2, 2);
    classify_cache_free(c);
}

Test(classify_cache, integer_and_float_constants_are_different_shapes)
{
    /* 2147483648 does not fit int4: the scanner makes it a float token, and the grammar
     * may treat it differently (FETCH, array bounds), so the key keeps the token type. */
    classify_cache *c = classify_cache_new(8);
    get_and_release(c, "SELECT * FROM t WHERE id = 1");
    get_and_release(c, "SELECT * FROM t WHERE id = 1.0");
    get_and_release(c, "SELECT * FROM t WHERE id = 2147483648");
    cr_expect_eq(stats_of(c).hits, 1, "the float and the too-large integer share a shape");
    cr_expect_eq(stats_of(c).entries, 2);
    classify_cache_free(c);
}

Test(classify_cache, string_constants_are_kept)
{
    classify_cache *c = classify_cache_new(8);
    const classify_result *a = classify_cache_get(c, "SELECT nextval('orders_id_seq')");
    const classify_result *b = classify_cache_get(c, "SELECT nextval('users_id_seq')");
    get_and_release(c, "SELECT 'users'::regclass");
    get_and_release(c, "SELECT 'orders'::regclass");
    get_and_release(c, "SELECT now()::timestamp");
    get_and_release(c, "SELECT 'now'::timestamp");
    cr_expect_neq(a, b);
    expect_counts(c, 0, 6, 6);
    classify_result_free(a);
    classify_result_free(b);
    classify_cache_free(c);
}

Test(classify_cache, several_statements_are_keyed_by_exact_text)
{
    classify_cache *c = classify_cache_new(8);
    const char *first = "SELECT 1; UPDATE t SET a = 2 WHERE id = 3";
    const char *second = "SELECT 10; UPDATE t SET a = 20 WHERE id = 30";
    const classify_result *a = classify_cache_get(c, first);
    const classify_result *b = classify_cache_get(c, second);
    cr_expect_eq(stats_of(c).hits, 0, "same shape, but not merged");
    cr_assert_eq(b->n_stmts, 2);
    /* loc/len point into each text itself */
    cr_expect_eq(b->stmts[1].loc, strlen("SELECT 10; "));
    cr_expect_eq(b->stmts[1].len, strlen("UPDATE t SET a = 20 WHERE id = 30"));
    cr_expect_eq(a->stmts[1].loc, strlen("SELECT 1; "));
    get_and_release(c, second);
    cr_expect_eq(stats_of(c).hits, 1, "the exact text hits");
    classify_result_free(a);
    classify_result_free(b);
    classify_cache_free(c);
}

/* Pairs of texts of one shape: the second is answered from the first's entry, or by its
 * exact text when a number's value could change the classification. Either way the answer
 * must be what classify_sql gives for the second text. */
Test(classify_cache, shared_results_equal_fresh_ones)
{
    static const struct {
        const char *first, *second;
        bool shared;
    } pairs[] = {
        {"INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (1, 2, 3, -4, "
         "CURRENT_TIMESTAMP)",
         "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (10, 20, 30, -40, "
         "CURRENT_TIMESTAMP)",
         true},
        {"SELECT * FROM carts WHERE id = 5 FOR UPDATE", "SELECT * FROM carts WHERE id = 55 "
                                                        "FOR UPDATE",
         true},
        {"SELECT price::numeric(10,2) FROM products ORDER BY 1 LIMIT 5 OFFSET 10",
         "SELECT price::numeric(12,4) FROM products ORDER BY 2 LIMIT 50 OFFSET 0", true},
        {"DELETE FROM carts WHERE created < now() - 30 * interval '1 day'",
         "DELETE FROM carts WHERE created < now() - 7 * interval '1 day'", true},
        {"SELECT 1::float(10)", "SELECT 1::float(60)", false},  /* float4 vs an error */
        {"SELECT '{}'::int[3]", "SELECT '{}'::int[4]", false}, /* array bound */
        {"EXPLAIN (ANALYZE 1) UPDATE t SET a = 1", "EXPLAIN (ANALYZE 0) UPDATE t SET a = 1",
         false},
        {"FETCH 5 FROM cur", "FETCH 6 FROM cur", false},
        {"SET statement_timeout = 1000", "SET statement_timeout = 2000", false},
        {"SELECT 1; SELECT 2", "SELECT 3; SELECT 4", false},
    };
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        classify_cache *c = classify_cache_new(8);
        get_and_release(c, pairs[i].first);
        const classify_result *cached = classify_cache_get(c, pairs[i].second);
        classify_result *fresh = classify_sql(pairs[i].second);
        cr_assert_not_null(cached);
        cr_assert_not_null(fresh);
        cr_expect_eq(stats_of(c).hits, pairs[i].shared ? 1 : 0, "[%s]", pairs[i].second);
        expect_same_result(fresh, cached, pairs[i].second, !pairs[i].shared);
        classify_result_free(fresh);
        classify_result_free(cached);
        classify_cache_free(c);
    }
}

Test(classify_cache, value_dependent_texts_still_hit_by_exact_text)
{
    classify_cache *c = classify_cache_new(8);
    get_and_release(c, "EXPLAIN (ANALYZE 1) DELETE FROM t WHERE id = 1");
    const classify_result *r = classify_cache_get(c, "EXPLAIN (ANALYZE 1) DELETE FROM t WHERE id = 1");
    cr_expect_eq(stats_of(c).hits, 1);
    cr_expect_eq(r->stmts[0].kind, CLASSIFY_WRITE);
    classify_result_free(r);
    r = classify_cache_get(c, "EXPLAIN (ANALYZE 0) DELETE FROM t WHERE id = 1");
    cr_expect_eq(r->stmts[0].kind, CLASSIFY_READ);
    classify_result_free(r);
    classify_cache_free(c);
}

Test(classify_cache, memory_stays_bounded_with_many_long_shapes)
{
    /* 2,000 distinct 8 KiB texts would take ~25 MB; the byte budget evicts first. */
    size_t n = 8 * 1024;
    char *sql = malloc(n + 64);
    cr_assert_not_null(sql);
    classify_cache *c = classify_cache_new(100000);
    for (int i = 0; i < 2000; i++) {
        int head = snprintf(sql, 64, "SELECT '%d", i);
        memset(sql + head, 'x', n);
        strcpy(sql + head + n, "'");
        get_and_release(c, sql);
        cr_assert_leq(stats_of(c).bytes, CLASSIFY_CACHE_MAX_BYTES);
    }
    classify_cache_stats s = stats_of(c);
    cr_expect_gt(s.evictions, 0);
    cr_expect_lt(s.entries, 2000);
    classify_cache_free(c);
    free(sql);
}
