/* Tests for routing/classify's description of UPDATE SET lists (and of INSERT ... ON
 * CONFLICT DO UPDATE's): which columns are assigned and whether any gets DEFAULT, which the
 * router needs to tell a text mirror from one that lets each database compute a value. */
#include <criterion/criterion.h>
#include <string.h>

#include "routing/classify.h"
#include "tests/unit/expect_columns.h"

typedef struct ucase {
    const char *sql;
    classify_kind kind;
    classify_dml dml;
    const char *table;
    bool present;
    const char *columns; /* comma-separated, in SET order; NULL when none */
    bool sets_default;
} ucase;

static const ucase cases[] = {
    {"UPDATE users SET name = $1 WHERE id = $2", CLASSIFY_WRITE, CLASSIFY_DML_UPDATE, "users",
     true, "name", false},
    {"UPDATE product_images SET alt_text = 'x', position = position + 1 WHERE id = 7",
     CLASSIFY_WRITE, CLASSIFY_DML_UPDATE, "product_images", true, "alt_text,position", false},
    /* multi-assignment: each column of the row once, in the order written */
    {"UPDATE carts SET (status, subtotal) = ('open', 0), user_id = 5", CLASSIFY_WRITE,
     CLASSIFY_DML_UPDATE, "carts", true, "status,subtotal,user_id", false},
    {"UPDATE carts SET (status, subtotal) = (SELECT 'a', 1)", CLASSIFY_WRITE,
     CLASSIFY_DML_UPDATE, "carts", true, "status,subtotal", false},
    /* DEFAULT: alone, inside a row, as the only element of ROW() */
    {"UPDATE product_images SET created_at = DEFAULT WHERE id = 1", CLASSIFY_WRITE,
     CLASSIFY_DML_UPDATE, "product_images", true, "created_at", true},
    {"UPDATE carts SET (status, updated_at) = ('open', DEFAULT)", CLASSIFY_WRITE,
     CLASSIFY_DML_UPDATE, "carts", true, "status,updated_at", true},
    {"UPDATE carts SET (updated_at) = ROW(DEFAULT)", CLASSIFY_WRITE, CLASSIFY_DML_UPDATE,
     "carts", true, "updated_at", true},
    /* the word default as a value is not the keyword */
    {"UPDATE carts SET status = 'default', note = \"default\"", CLASSIFY_WRITE,
     CLASSIFY_DML_UPDATE, "carts", true, "status,note", false},
    /* subscripts and fields name their column */
    {"UPDATE promo_codes SET meta[1] = 'a', addr.city = 'b'", CLASSIFY_WRITE,
     CLASSIFY_DML_UPDATE, "promo_codes", true, "meta,addr", false},
    {"UPDATE cart_items ci SET quantity = p.stock FROM products p WHERE p.id = ci.product_id",
     CLASSIFY_WRITE, CLASSIFY_DML_UPDATE, "cart_items", true, "quantity", false},
    /* top-level UPDATE under WITH is described; the CTE's own UPDATE is not */
    {"WITH d AS (UPDATE carts SET subtotal = DEFAULT RETURNING id) UPDATE cart_items SET "
     "cart_id = NULL WHERE cart_id IN (SELECT id FROM d)",
     CLASSIFY_WRITE, CLASSIFY_DML_UPDATE, "cart_items", true, "cart_id", false},
    {"WITH u AS (UPDATE carts SET subtotal = 1 RETURNING id) SELECT * FROM u", CLASSIFY_WRITE,
     CLASSIFY_DML_NONE, NULL, false, NULL, false},
    /* the inner statement of EXPLAIN and PREPARE, as for INSERT */
    {"EXPLAIN ANALYZE UPDATE carts SET updated_at = DEFAULT, status = 'x'", CLASSIFY_WRITE,
     CLASSIFY_DML_UPDATE, "carts", true, "updated_at,status", true},
    {"EXPLAIN UPDATE carts SET status = 'x'", CLASSIFY_READ, CLASSIFY_DML_UPDATE, "carts", true,
     "status", false},
    {"PREPARE bump (int) AS UPDATE product_inventory SET quantity = quantity + 1 WHERE "
     "product_id = $1",
     CLASSIFY_SESSION, CLASSIFY_DML_UPDATE, "product_inventory", true, "quantity", false},
    /* ON CONFLICT DO UPDATE: the INSERT keeps its shape, the SET list is described */
    {"INSERT INTO product_inventory (product_id, quantity) VALUES ($1, $2) ON CONFLICT "
     "(product_id) DO UPDATE SET quantity = EXCLUDED.quantity, updated_at = DEFAULT",
     CLASSIFY_WRITE, CLASSIFY_DML_INSERT, "product_inventory", true, "quantity,updated_at",
     true},
    {"INSERT INTO carts (id, status) VALUES (1, 'a') ON CONFLICT (id) DO UPDATE SET (status, "
     "subtotal) = (EXCLUDED.status, 0)",
     CLASSIFY_WRITE, CLASSIFY_DML_INSERT, "carts", true, "status,subtotal", false},
    {"INSERT INTO wishlist_items (wishlist_id, product_id) VALUES ($1, $2) ON CONFLICT DO "
     "NOTHING",
     CLASSIFY_WRITE, CLASSIFY_DML_INSERT, "wishlist_items", false, NULL, false},
    {"INSERT INTO carts (id) VALUES (DEFAULT)", CLASSIFY_WRITE, CLASSIFY_DML_INSERT, "carts",
     false, NULL, false},
    /* quoted names keep their spelling, unquoted ones fold */
    {"UPDATE \"Carts\" SET \"Status\" = 'a', SubTotal = 1, (\"Note\", X) = ('n', DEFAULT)",
     CLASSIFY_WRITE, CLASSIFY_DML_UPDATE, "Carts", true, "Status,subtotal,Note,x", true},
    /* statements with no SET list */
    {"DELETE FROM carts WHERE id = 1", CLASSIFY_WRITE, CLASSIFY_DML_DELETE, "carts", false, NULL,
     false},
    {"MERGE INTO carts c USING saved_carts s ON c.id = s.id WHEN MATCHED THEN UPDATE SET "
     "status = DEFAULT",
     CLASSIFY_WRITE, CLASSIFY_DML_MERGE, "carts", false, NULL, false},
    {"SELECT * FROM carts FOR UPDATE", CLASSIFY_LOCKING_READ, CLASSIFY_DML_NONE, NULL, false,
     NULL, false},
};

Test(classify_update, set_lists)
{
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        const ucase *c = &cases[k];
        classify_result *r = classify_sql(c->sql);
        cr_assert_not_null(r, "[%s]: out of memory", c->sql);
        cr_assert_eq(r->n_stmts, 1, "[%s]: %zu statements", c->sql, r->n_stmts);
        const classify_stmt *st = &r->stmts[0];
        cr_expect_eq(st->kind, c->kind, "[%s]: kind %s", c->sql, classify_kind_name(st->kind));
        cr_expect_eq(st->dml, c->dml, "[%s]: dml %d", c->sql, st->dml);
        if (c->table)
            cr_expect(st->target.name && strcmp(st->target.name, c->table) == 0,
                      "[%s]: target %s", c->sql, st->target.name);
        else
            cr_expect_null(st->target.name, "[%s]: target %s", c->sql, st->target.name);
        cr_expect_eq(st->update.present, c->present, "[%s]: present", c->sql);
        expect_columns(c->sql, st->update.columns, st->update.n_columns, c->columns);
        cr_expect_eq(st->update.sets_default, c->sets_default, "[%s]: sets_default", c->sql);
        classify_result_free(r);
    }
}

/* Statements of one query string are described each on their own, and the names outlive
 * the parse tree (they are copied into the result). */
Test(classify_update, per_statement_in_one_string)
{
    classify_result *r = classify_sql("UPDATE carts SET status = DEFAULT; UPDATE \"Users\" SET "
                                      "\"Name\" = 'a'; SELECT 1");
    cr_assert_not_null(r);
    cr_assert_eq(r->n_stmts, 3);
    cr_expect(r->stmts[0].update.present && r->stmts[0].update.sets_default);
    cr_assert_eq(r->stmts[0].update.n_columns, 1);
    cr_expect_str_eq(r->stmts[0].update.columns[0], "status");
    cr_expect(r->stmts[1].update.present && !r->stmts[1].update.sets_default);
    cr_assert_eq(r->stmts[1].update.n_columns, 1);
    cr_expect_str_eq(r->stmts[1].update.columns[0], "Name");
    cr_expect(!r->stmts[2].update.present);
    classify_result_free(r);
}

/* An UPDATE is not an INSERT: the INSERT shape stays empty. */
Test(classify_update, update_has_no_insert_shape)
{
    classify_result *r = classify_sql("UPDATE carts SET updated_at = DEFAULT");
    cr_assert_not_null(r);
    const classify_stmt *st = &r->stmts[0];
    cr_expect(!st->insert.present);
    cr_expect(!st->insert.uses_default);
    cr_expect(!st->volatile_calls, "DEFAULT is reported by sets_default, not as a call");
    cr_expect_eq(st->n_functions, 0);
    classify_result_free(r);
}
