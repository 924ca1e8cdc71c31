/* Tests for routing/classify on whole query texts: multi-statement byte ranges, parse errors
 * with cursors, empty input, fingerprints, the nesting guards, and result ownership. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "routing/classify.h"

static const classify_stmt *only_stmt(const classify_result *r, const char *sql)
{
    cr_assert_not_null(r, "[%s]: out of memory", sql);
    cr_assert_eq(r->n_stmts, 1, "[%s]: %zu statements", sql, r->n_stmts);
    return &r->stmts[0];
}

/* ---- several statements in one string */

typedef struct mexpect {
    classify_kind kind;
    const char *text; /* the exact slice expected at [loc, loc+len) */
} mexpect;

static void expect_split(const char *sql, const mexpect *want, size_t n)
{
    classify_result *r = classify_sql(sql);
    cr_assert_not_null(r);
    cr_assert_null(r->error, "[%s]: %s", sql, r->error);
    cr_assert_eq(r->n_stmts, n, "[%s]: %zu statements", sql, r->n_stmts);
    for (size_t i = 0; i < n; i++) {
        const classify_stmt *st = &r->stmts[i];
        cr_expect_eq(st->kind, want[i].kind, "[%s] #%zu: kind %s", sql, i,
                     classify_kind_name(st->kind));
        cr_assert_leq(st->loc + st->len, strlen(sql));
        cr_expect(st->len == strlen(want[i].text) &&
                      memcmp(sql + st->loc, want[i].text, st->len) == 0,
                  "[%s] #%zu: slice '%.*s', expected '%s'", sql, i, (int)st->len, sql + st->loc,
                  want[i].text);
    }
    classify_result_free(r);
}

Test(classify_text, multi_statement_ranges)
{
    const mexpect a[] = {{CLASSIFY_TX_CONTROL, "BEGIN"},
                         {CLASSIFY_WRITE, "UPDATE users SET name = 'x' WHERE id = 1"},
                         {CLASSIFY_READ, "SELECT * FROM users WHERE id = 1"},
                         {CLASSIFY_TX_CONTROL, "COMMIT"}};
    expect_split("BEGIN; UPDATE users SET name = 'x' WHERE id = 1; SELECT * FROM users WHERE "
                 "id = 1; COMMIT;",
                 a, 4);

    /* semicolons inside literals, identifiers and comments do not split */
    const mexpect b[] = {{CLASSIFY_WRITE, "INSERT INTO promo_codes (code) VALUES ('A;B')"},
                         {CLASSIFY_READ, "SELECT \"odd;name\" FROM t /* ; */"}};
    expect_split("INSERT INTO promo_codes (code) VALUES ('A;B');\n  SELECT \"odd;name\" FROM t "
                 "/* ; */\n",
                 b, 2);

    /* a comment before a statement belongs to it; empty statements vanish */
    const mexpect c[] = {{CLASSIFY_READ, "SELECT 1"},
                         {CLASSIFY_WRITE, "-- clean up\n DELETE FROM carts"},
                         {CLASSIFY_READ, "SELECT 3 -- tail"}};
    expect_split("  SELECT 1 ;; -- clean up\n DELETE FROM carts;  ;SELECT 3 -- tail\n ", c, 3);

    /* dollar quoting */
    const mexpect d[] = {{CLASSIFY_UTILITY, "DO $$ BEGIN PERFORM 1; END $$"},
                         {CLASSIFY_SESSION, "SET search_path = public"}};
    expect_split("DO $$ BEGIN PERFORM 1; END $$; SET search_path = public", d, 2);

    /* multi-byte characters: ranges are bytes */
    const mexpect e[] = {{CLASSIFY_WRITE, "UPDATE products SET name = 'Café' WHERE id = 1"},
                         {CLASSIFY_READ, "SELECT 'naïve'"}};
    expect_split("UPDATE products SET name = 'Café' WHERE id = 1; SELECT 'naïve'", e, 2);
}

Test(classify_text, multi_statement_tables_are_per_statement)
{
    const char *sql = "SELECT * FROM users; DELETE FROM carts WHERE user_id = $1; TRUNCATE "
                      "promo_usage";
    classify_result *r = classify_sql(sql);
    cr_assert_eq(r->n_stmts, 3);
    cr_expect_eq(r->stmts[0].n_reads, 1);
    cr_expect_eq(r->stmts[0].n_writes, 0);
    cr_expect_str_eq(r->stmts[0].reads[0].name, "users");
    cr_expect_eq(r->stmts[1].n_reads, 0);
    cr_assert_eq(r->stmts[1].n_writes, 1);
    cr_expect_str_eq(r->stmts[1].writes[0].name, "carts");
    cr_expect_eq(r->stmts[2].kind, CLASSIFY_WRITE);
    cr_assert_eq(r->stmts[2].n_writes, 1);
    cr_expect_str_eq(r->stmts[2].writes[0].name, "promo_usage");
    classify_result_free(r);
}

/* ---- parse errors */

Test(classify_text, parse_errors_carry_message_and_cursor)
{
    struct {
        const char *sql;
        int cursor;
        const char *fragment;
    } cases[] = {
        {"SELEC 1", 1, "syntax error at or near \"SELEC\""},
        {"SELECT 1; SELEC 2", 11, "SELEC"},
        {"SELECT * FROM users WHERE", 26, "end of input"},
        {"SELECT 'é' + ;", 14, "\";\""}, /* characters, not bytes */
        {"INSERT INTO users (a, b VALUES (1, 2)", 25, "VALUES"},
        {"SELECT 'open", 8, "unterminated quoted string"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        classify_result *r = classify_sql(cases[k].sql);
        const classify_stmt *st = only_stmt(r, cases[k].sql);
        cr_expect_eq(st->kind, CLASSIFY_ERROR, "[%s]", cases[k].sql);
        cr_expect_eq(st->loc, 0);
        cr_expect_eq(st->len, strlen(cases[k].sql), "[%s]: error spans the input",
                     cases[k].sql);
        cr_assert_not_null(r->error, "[%s]", cases[k].sql);
        cr_expect(strstr(r->error, cases[k].fragment) != NULL, "[%s]: message '%s'",
                  cases[k].sql, r->error);
        cr_expect_eq(r->error_cursor, cases[k].cursor, "[%s]: cursor %d", cases[k].sql,
                     r->error_cursor);
        cr_expect_str_eq(st->fingerprint, "");
        classify_result_free(r);
    }
}

Test(classify_text, empty_inputs_span_the_input)
{
    const char *cases[] = {"", "  ", "-- c", "/* a */ /* b */", ";", " ; ; "};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        classify_result *r = classify_sql(cases[k]);
        const classify_stmt *st = only_stmt(r, cases[k]);
        cr_expect_eq(st->kind, CLASSIFY_EMPTY, "[%s]", cases[k]);
        cr_expect_eq(st->len, strlen(cases[k]));
        cr_expect_null(r->error);
        classify_result_free(r);
    }
}

/* ---- fingerprints */

static void fingerprint_of(const char *sql, char out[17])
{
    classify_result *r = classify_sql(sql);
    const classify_stmt *st = only_stmt(r, sql);
    memcpy(out, st->fingerprint, 17);
    classify_result_free(r);
}

Test(classify_text, fingerprints)
{
    char a[17], b[17], c[17], d[17];
    fingerprint_of("SELECT * FROM users WHERE id = 1", a);
    fingerprint_of("select *  from users where id = 42 -- other constant", b);
    fingerprint_of("SELECT * FROM carts WHERE id = 1", c);
    fingerprint_of("SELECT * FROM users WHERE id = $1", d);
    cr_expect_eq(strlen(a), 16);
    cr_expect_eq(strspn(a, "0123456789abcdef"), 16, "not hex: %s", a);
    cr_expect_str_eq(a, b, "constants and spacing must not matter");
    cr_expect_str_eq(a, d, "a parameter is a constant too");
    cr_expect_str_neq(a, c);

    /* a statement's fingerprint does not depend on its neighbours */
    classify_result *r = classify_sql("BEGIN; SELECT * FROM users WHERE id = 7; COMMIT");
    cr_assert_eq(r->n_stmts, 3);
    cr_expect_str_eq(r->stmts[1].fingerprint, a);
    classify_result_free(r);
}

/* ---- nesting guards: refuse, never crash */

static char *repeat(const char *head, const char *unit, size_t n, const char *tail)
{
    size_t hl = strlen(head), ul = strlen(unit), tl = strlen(tail);
    char *s = malloc(hl + ul * n + tl + 1);
    cr_assert_not_null(s);
    memcpy(s, head, hl);
    for (size_t i = 0; i < n; i++)
        memcpy(s + hl + i * ul, unit, ul);
    memcpy(s + hl + n * ul, tail, tl + 1);
    return s;
}

static void expect_too_deep(char *sql)
{
    classify_result *r = classify_sql(sql);
    const classify_stmt *st = only_stmt(r, "deep");
    cr_expect_eq(st->kind, CLASSIFY_UNKNOWN, "kind %s", classify_kind_name(st->kind));
    cr_expect_not_null(r->error);
    cr_expect_eq(st->len, strlen(sql));
    classify_result_free(r);
    free(sql);
}

Test(classify_text, deep_chains_are_refused)
{
    expect_too_deep(repeat("SELECT 1", "+1", 200000, ""));        /* stops before the parser */
    expect_too_deep(repeat("SELECT 1", "+1", 3000, ""));          /* stops after the parser */
    expect_too_deep(repeat("SELECT 1", "::int", 60000, ""));
    expect_too_deep(repeat("SELECT * FROM a", " JOIN a USING (x)", 60000, ""));
    expect_too_deep(repeat("SELECT 1", " UNION SELECT 1", 60000, ""));
    expect_too_deep(repeat("SELECT 1", " UNION SELECT 1, 2", 60000, ""));
}

Test(classify_text, long_but_flat_statements_are_classified)
{
    /* a bulk INSERT: many rows, each shallow */
    char *sql = repeat("INSERT INTO product_images (product_id, url) VALUES (1, 'x')",
                       ", ($1 + 1, lower('y'))", 20000, " RETURNING id");
    classify_result *r = classify_sql(sql);
    const classify_stmt *st = only_stmt(r, "bulk insert");
    cr_expect_eq(st->kind, CLASSIFY_WRITE);
    cr_expect_eq(st->insert.n_values_rows, 20001);
    cr_expect(st->returning);
    cr_expect_eq(st->n_functions, 1);
    classify_result_free(r);
    free(sql);

    /* a long OR list: the grammar flattens it */
    sql = repeat("SELECT * FROM users WHERE id = 0", " OR id = 1", 20000, "");
    r = classify_sql(sql);
    st = only_stmt(r, "or chain");
    cr_expect_eq(st->kind, CLASSIFY_READ);
    cr_expect_eq(st->n_reads, 1);
    classify_result_free(r);
    free(sql);

    /* moderately deep arithmetic stays within the limits */
    sql = repeat("SELECT 1", "+1", 500, " FROM pgbench_accounts");
    r = classify_sql(sql);
    st = only_stmt(r, "sum");
    cr_expect_eq(st->kind, CLASSIFY_READ);
    cr_expect_eq(st->n_reads, 1);
    classify_result_free(r);
    free(sql);
}

/* ---- ownership */

Test(classify_text, retain_and_free)
{
    classify_result *r = classify_sql("SELECT * FROM users");
    const classify_result *again = classify_result_retain(r);
    cr_expect_eq(again, r);
    classify_result_free(r);
    /* still alive through the second reference */
    cr_expect_str_eq(again->stmts[0].reads[0].name, "users");
    classify_result_free(again);
    classify_result_free(NULL);
}

Test(classify_text, names)
{
    cr_expect_str_eq(classify_kind_name(CLASSIFY_LOCKING_READ), "locking_read");
    cr_expect_str_eq(classify_kind_name(CLASSIFY_TX_CONTROL), "tx_control");
    cr_expect_str_eq(classify_kind_name((classify_kind)99), "invalid");
    cr_expect_str_eq(classify_tx_kind_name(CLASSIFY_TX_ROLLBACK_TO), "rollback_to");
    cr_expect_str_eq(classify_session_kind_name(CLASSIFY_SESSION_SET_CONSTRAINTS),
                     "set_constraints");
    cr_expect_str_eq(classify_utility_kind_name(CLASSIFY_UTILITY_REFRESH_MATVIEW),
                     "refresh_matview");
}
