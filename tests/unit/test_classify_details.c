/* Tests for routing/classify's per-statement details beyond kinds and tables: INSERT shape,
 * DML targets, transaction, session and utility details, EXPLAIN and DECLARE. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "routing/classify.h"
#include "tests/unit/expect_columns.h"

static const classify_stmt *only_stmt(const classify_result *r, const char *sql)
{
    cr_assert_not_null(r, "[%s]: out of memory", sql);
    cr_assert_eq(r->n_stmts, 1, "[%s]: %zu statements", sql, r->n_stmts);
    return &r->stmts[0];
}

static bool str_eq(const char *a, const char *b)
{
    if (!a || !b)
        return a == b;
    return strcmp(a, b) == 0;
}

/* ---- INSERT shape */

typedef struct icase {
    const char *sql;
    const char *schema, *table;
    const char *columns; /* comma-separated, NULL for no column list */
    size_t rows;
    bool from_select, default_values, uses_default, returning;
    classify_on_conflict on_conflict;
} icase;

static const icase inserts[] = {
    {"INSERT INTO users (email, name) VALUES ($1, $2)", NULL, "users", "email,name", 1, false,
     false, false, false, CLASSIFY_ON_CONFLICT_NONE},
    {"INSERT INTO users (email, name) VALUES ($1, $2) RETURNING id", NULL, "users", "email,name",
     1, false, false, false, true, CLASSIFY_ON_CONFLICT_NONE},
    {"INSERT INTO users VALUES (DEFAULT, 'a@b.c', 'A')", NULL, "users", NULL, 1, false, false,
     true, false, CLASSIFY_ON_CONFLICT_NONE},
    {"INSERT INTO carts DEFAULT VALUES RETURNING id", NULL, "carts", NULL, 0, false, true, false,
     true, CLASSIFY_ON_CONFLICT_NONE},
    {"INSERT INTO categories (name, parent_id) VALUES ('a', NULL), ('b', 1), ('c', 2)", NULL,
     "categories", "name,parent_id", 3, false, false, false, false, CLASSIFY_ON_CONFLICT_NONE},
    {"INSERT INTO promo_usage (promo_code_id, user_id) SELECT id, $1 FROM promo_codes WHERE code "
     "= $2",
     NULL, "promo_usage", "promo_code_id,user_id", 0, true, false, false, false,
     CLASSIFY_ON_CONFLICT_NONE},
    {"INSERT INTO wishlist_items (wishlist_id, product_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
     NULL, "wishlist_items", "wishlist_id,product_id", 1, false, false, false, false,
     CLASSIFY_ON_CONFLICT_NOTHING},
    {"INSERT INTO product_inventory (product_id, quantity) VALUES ($1, $2) ON CONFLICT "
     "(product_id) DO UPDATE SET quantity = EXCLUDED.quantity RETURNING quantity",
     NULL, "product_inventory", "product_id,quantity", 1, false, false, false, true,
     CLASSIFY_ON_CONFLICT_UPDATE},
    {"INSERT INTO auth.user_sessions (user_id, token) VALUES ($1, gen_random_uuid())", "auth",
     "user_sessions", "user_id,token", 1, false, false, false, false,
     CLASSIFY_ON_CONFLICT_NONE},
    {"INSERT INTO \"Users\" (\"Email\", name) VALUES ($1, $2)", NULL, "Users", "Email,name", 1,
     false, false, false, false, CLASSIFY_ON_CONFLICT_NONE},
    {"INSERT INTO products (name) VALUES ('a') UNION ALL SELECT 'b'", NULL, "products", "name", 0,
     true, false, false, false, CLASSIFY_ON_CONFLICT_NONE},
    {"WITH src AS (SELECT * FROM promo_suggestions) INSERT INTO user_promo_eligibility (user_id) "
     "SELECT user_id FROM src ON CONFLICT DO NOTHING",
     NULL, "user_promo_eligibility", "user_id", 0, true, false, false, false,
     CLASSIFY_ON_CONFLICT_NOTHING},
    {"INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (1, 2, 3, 4, "
     "CURRENT_TIMESTAMP)",
     NULL, "pgbench_history", "tid,bid,aid,delta,mtime", 1, false, false, false, false,
     CLASSIFY_ON_CONFLICT_NONE},
    {"INSERT INTO product_images (product_id, url, position) VALUES ($1, $2, DEFAULT), ($1, $3, "
     "2)",
     NULL, "product_images", "product_id,url,position", 2, false, false, true, false,
     CLASSIFY_ON_CONFLICT_NONE},
    {"INSERT INTO promo_codes (code, meta[1]) VALUES ($1, $2)", NULL, "promo_codes", "code,meta",
     1, false, false, false, false, CLASSIFY_ON_CONFLICT_NONE},
};

Test(classify_details, insert_shape)
{
    for (size_t k = 0; k < sizeof inserts / sizeof inserts[0]; k++) {
        const icase *c = &inserts[k];
        classify_result *r = classify_sql(c->sql);
        const classify_stmt *st = only_stmt(r, c->sql);
        cr_expect_eq(st->kind, CLASSIFY_WRITE, "[%s]", c->sql);
        cr_expect(st->insert.present, "[%s]: no insert details", c->sql);
        cr_expect(str_eq(st->target.schema, c->schema) && str_eq(st->target.name, c->table),
                  "[%s]: target %s.%s", c->sql, st->target.schema, st->target.name);
        expect_columns(c->sql, st->insert.columns, st->insert.n_columns, c->columns);
        cr_expect_eq(st->insert.n_values_rows, c->rows, "[%s]: rows %zu", c->sql,
                     st->insert.n_values_rows);
        cr_expect_eq(st->insert.from_select, c->from_select, "[%s]: from_select", c->sql);
        cr_expect_eq(st->insert.default_values, c->default_values, "[%s]: default_values",
                     c->sql);
        cr_expect_eq(st->insert.uses_default, c->uses_default, "[%s]: uses_default", c->sql);
        cr_expect_eq(st->returning, c->returning, "[%s]: returning", c->sql);
        cr_expect_eq(st->insert.on_conflict, c->on_conflict, "[%s]: on_conflict", c->sql);
        classify_result_free(r);
    }
}

/* ---- targets of other DML */

typedef struct tcase {
    const char *sql;
    const char *schema, *table;
    bool returning;
    classify_copy_dir copy;
    classify_dml dml;
} tcase;

static const tcase targets[] = {
    {"UPDATE users SET name = $1 WHERE id = $2", NULL, "users", false, CLASSIFY_COPY_NONE, CLASSIFY_DML_UPDATE},
    {"UPDATE product_inventory SET quantity = quantity - 1 WHERE product_id = $1 RETURNING "
     "quantity",
     NULL, "product_inventory", true, CLASSIFY_COPY_NONE, CLASSIFY_DML_UPDATE},
    {"DELETE FROM cart.cart_items WHERE cart_id = $1 RETURNING *", "cart", "cart_items", true,
     CLASSIFY_COPY_NONE, CLASSIFY_DML_DELETE},
    {"DELETE FROM user_sessions WHERE expires_at < now()", NULL, "user_sessions", false,
     CLASSIFY_COPY_NONE, CLASSIFY_DML_DELETE},
    {"WITH d AS (DELETE FROM carts RETURNING id) UPDATE cart_items SET cart_id = NULL WHERE "
     "cart_id IN (SELECT id FROM d)",
     NULL, "cart_items", false, CLASSIFY_COPY_NONE, CLASSIFY_DML_UPDATE},
    {"MERGE INTO promo_analytics a USING promo_usage u ON a.promo_code_id = u.promo_code_id WHEN "
     "MATCHED THEN DELETE",
     NULL, "promo_analytics", false, CLASSIFY_COPY_NONE, CLASSIFY_DML_MERGE},
    {"COPY products FROM STDIN", NULL, "products", false, CLASSIFY_COPY_FROM, CLASSIFY_DML_COPY},
    {"COPY public.products TO STDOUT", "public", "products", false, CLASSIFY_COPY_TO, CLASSIFY_DML_COPY},
    {"SELECT * FROM users", NULL, NULL, false, CLASSIFY_COPY_NONE, CLASSIFY_DML_NONE},
};

Test(classify_details, dml_targets)
{
    for (size_t k = 0; k < sizeof targets / sizeof targets[0]; k++) {
        const tcase *c = &targets[k];
        classify_result *r = classify_sql(c->sql);
        const classify_stmt *st = only_stmt(r, c->sql);
        cr_expect(str_eq(st->target.schema, c->schema) && str_eq(st->target.name, c->table),
                  "[%s]: target %s.%s", c->sql, st->target.schema, st->target.name);
        cr_expect_eq(st->returning, c->returning, "[%s]: returning", c->sql);
        cr_expect_eq(st->copy, c->copy, "[%s]: copy", c->sql);
        cr_expect_eq(st->dml, c->dml, "[%s]: dml", c->sql);
        cr_expect(!st->insert.present, "[%s]: insert details", c->sql);
        classify_result_free(r);
    }
}

/* ---- transaction control */

typedef struct xcase {
    const char *sql;
    classify_kind kind;
    classify_tx_kind tx;
    classify_isolation iso;
    classify_access access;
    bool deferrable, chain;
    const char *name;
} xcase;

static const xcase txs[] = {
    {"BEGIN", CLASSIFY_TX_CONTROL, CLASSIFY_TX_BEGIN, CLASSIFY_ISO_DEFAULT,
     CLASSIFY_ACCESS_DEFAULT, false, false, NULL},
    {"BEGIN ISOLATION LEVEL SERIALIZABLE, READ ONLY, DEFERRABLE", CLASSIFY_TX_CONTROL,
     CLASSIFY_TX_BEGIN, CLASSIFY_ISO_SERIALIZABLE, CLASSIFY_ACCESS_READ_ONLY, true, false, NULL},
    {"START TRANSACTION READ WRITE", CLASSIFY_TX_CONTROL, CLASSIFY_TX_BEGIN,
     CLASSIFY_ISO_DEFAULT, CLASSIFY_ACCESS_READ_WRITE, false, false, NULL},
    {"START TRANSACTION ISOLATION LEVEL READ COMMITTED", CLASSIFY_TX_CONTROL, CLASSIFY_TX_BEGIN,
     CLASSIFY_ISO_READ_COMMITTED, CLASSIFY_ACCESS_DEFAULT, false, false, NULL},
    {"BEGIN WORK ISOLATION LEVEL READ UNCOMMITTED", CLASSIFY_TX_CONTROL, CLASSIFY_TX_BEGIN,
     CLASSIFY_ISO_READ_UNCOMMITTED, CLASSIFY_ACCESS_DEFAULT, false, false, NULL},
    {"BEGIN ISOLATION LEVEL REPEATABLE READ NOT DEFERRABLE", CLASSIFY_TX_CONTROL,
     CLASSIFY_TX_BEGIN, CLASSIFY_ISO_REPEATABLE_READ, CLASSIFY_ACCESS_DEFAULT, false, false,
     NULL},
    {"COMMIT", CLASSIFY_TX_CONTROL, CLASSIFY_TX_COMMIT, CLASSIFY_ISO_DEFAULT,
     CLASSIFY_ACCESS_DEFAULT, false, false, NULL},
    {"END TRANSACTION", CLASSIFY_TX_CONTROL, CLASSIFY_TX_COMMIT, CLASSIFY_ISO_DEFAULT,
     CLASSIFY_ACCESS_DEFAULT, false, false, NULL},
    {"COMMIT AND CHAIN", CLASSIFY_TX_CONTROL, CLASSIFY_TX_COMMIT, CLASSIFY_ISO_DEFAULT,
     CLASSIFY_ACCESS_DEFAULT, false, true, NULL},
    {"ROLLBACK AND NO CHAIN", CLASSIFY_TX_CONTROL, CLASSIFY_TX_ROLLBACK, CLASSIFY_ISO_DEFAULT,
     CLASSIFY_ACCESS_DEFAULT, false, false, NULL},
    {"ABORT", CLASSIFY_TX_CONTROL, CLASSIFY_TX_ROLLBACK, CLASSIFY_ISO_DEFAULT,
     CLASSIFY_ACCESS_DEFAULT, false, false, NULL},
    {"SAVEPOINT before_items", CLASSIFY_TX_CONTROL, CLASSIFY_TX_SAVEPOINT, CLASSIFY_ISO_DEFAULT,
     CLASSIFY_ACCESS_DEFAULT, false, false, "before_items"},
    {"RELEASE before_items", CLASSIFY_TX_CONTROL, CLASSIFY_TX_RELEASE, CLASSIFY_ISO_DEFAULT,
     CLASSIFY_ACCESS_DEFAULT, false, false, "before_items"},
    {"ROLLBACK TO before_items", CLASSIFY_TX_CONTROL, CLASSIFY_TX_ROLLBACK_TO,
     CLASSIFY_ISO_DEFAULT, CLASSIFY_ACCESS_DEFAULT, false, false, "before_items"},
    {"PREPARE TRANSACTION 'pgt-7'", CLASSIFY_TX_CONTROL, CLASSIFY_TX_PREPARE,
     CLASSIFY_ISO_DEFAULT, CLASSIFY_ACCESS_DEFAULT, false, false, "pgt-7"},
    {"COMMIT PREPARED 'pgt-7'", CLASSIFY_TX_CONTROL, CLASSIFY_TX_COMMIT_PREPARED,
     CLASSIFY_ISO_DEFAULT, CLASSIFY_ACCESS_DEFAULT, false, false, "pgt-7"},
    {"ROLLBACK PREPARED 'pgt-7'", CLASSIFY_TX_CONTROL, CLASSIFY_TX_ROLLBACK_PREPARED,
     CLASSIFY_ISO_DEFAULT, CLASSIFY_ACCESS_DEFAULT, false, false, "pgt-7"},
    /* session-level transaction settings are SESSION, but their modes are still read */
    {"SET TRANSACTION ISOLATION LEVEL SERIALIZABLE READ ONLY", CLASSIFY_SESSION, CLASSIFY_TX_NONE,
     CLASSIFY_ISO_SERIALIZABLE, CLASSIFY_ACCESS_READ_ONLY, false, false, "TRANSACTION"},
    {"SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY", CLASSIFY_SESSION, CLASSIFY_TX_NONE,
     CLASSIFY_ISO_DEFAULT, CLASSIFY_ACCESS_READ_ONLY, false, false, "SESSION CHARACTERISTICS"},
};

Test(classify_details, transactions)
{
    for (size_t k = 0; k < sizeof txs / sizeof txs[0]; k++) {
        const xcase *c = &txs[k];
        classify_result *r = classify_sql(c->sql);
        const classify_stmt *st = only_stmt(r, c->sql);
        cr_expect_eq(st->kind, c->kind, "[%s]: kind %s", c->sql, classify_kind_name(st->kind));
        cr_expect_eq(st->tx, c->tx, "[%s]: tx %s", c->sql, classify_tx_kind_name(st->tx));
        cr_expect_eq(st->isolation, c->iso, "[%s]: isolation %d", c->sql, st->isolation);
        cr_expect_eq(st->access, c->access, "[%s]: access %d", c->sql, st->access);
        cr_expect_eq(st->deferrable, c->deferrable, "[%s]: deferrable", c->sql);
        cr_expect_eq(st->chain, c->chain, "[%s]: chain", c->sql);
        cr_expect(str_eq(st->name, c->name), "[%s]: name %s", c->sql, st->name);
        classify_result_free(r);
    }
}

/* ---- session state */

typedef struct scase {
    const char *sql;
    classify_session_kind session;
    const char *name;
    bool local;
    classify_kind inner;
} scase;

static const scase sessions[] = {
    {"SET search_path TO promotion, public", CLASSIFY_SESSION_SET, "search_path", false,
     CLASSIFY_UNKNOWN},
    {"SET LOCAL statement_timeout = '5s'", CLASSIFY_SESSION_SET, "statement_timeout", true,
     CLASSIFY_UNKNOWN},
    {"SET SESSION work_mem TO DEFAULT", CLASSIFY_SESSION_SET, "work_mem", false,
     CLASSIFY_UNKNOWN},
    {"SET ROLE shop_app", CLASSIFY_SESSION_SET, "role", false, CLASSIFY_UNKNOWN},
    {"SET SESSION AUTHORIZATION DEFAULT", CLASSIFY_SESSION_SET, "session_authorization", false,
     CLASSIFY_UNKNOWN},
    {"SET TIME ZONE 'UTC'", CLASSIFY_SESSION_SET, "timezone", false, CLASSIFY_UNKNOWN},
    {"SET LOCAL pgtandem.mirror = on", CLASSIFY_SESSION_SET, "pgtandem.mirror", true,
     CLASSIFY_UNKNOWN},
    {"RESET search_path", CLASSIFY_SESSION_RESET, "search_path", false, CLASSIFY_UNKNOWN},
    {"RESET ALL", CLASSIFY_SESSION_RESET, NULL, false, CLASSIFY_UNKNOWN},
    {"DISCARD ALL", CLASSIFY_SESSION_DISCARD, "all", false, CLASSIFY_UNKNOWN},
    {"DISCARD TEMP", CLASSIFY_SESSION_DISCARD, "temp", false, CLASSIFY_UNKNOWN},
    {"PREPARE get_user (int) AS SELECT * FROM users WHERE id = $1", CLASSIFY_SESSION_PREPARE,
     "get_user", false, CLASSIFY_READ},
    {"PREPARE add_item AS INSERT INTO cart_items (cart_id) VALUES ($1)", CLASSIFY_SESSION_PREPARE,
     "add_item", false, CLASSIFY_WRITE},
    {"PREPARE lock_inv AS SELECT * FROM product_inventory WHERE product_id = $1 FOR UPDATE",
     CLASSIFY_SESSION_PREPARE, "lock_inv", false, CLASSIFY_LOCKING_READ},
    {"EXECUTE get_user(1)", CLASSIFY_SESSION_EXECUTE, "get_user", false, CLASSIFY_UNKNOWN},
    {"DEALLOCATE PREPARE get_user", CLASSIFY_SESSION_DEALLOCATE, "get_user", false,
     CLASSIFY_UNKNOWN},
    {"DEALLOCATE ALL", CLASSIFY_SESSION_DEALLOCATE, NULL, false, CLASSIFY_UNKNOWN},
    {"LISTEN pgtandem_flip", CLASSIFY_SESSION_LISTEN, "pgtandem_flip", false, CLASSIFY_UNKNOWN},
    {"UNLISTEN pgtandem_flip", CLASSIFY_SESSION_UNLISTEN, "pgtandem_flip", false,
     CLASSIFY_UNKNOWN},
    {"UNLISTEN *", CLASSIFY_SESSION_UNLISTEN, NULL, false, CLASSIFY_UNKNOWN},
    {"NOTIFY pgtandem_flip, 'cart_db'", CLASSIFY_SESSION_NOTIFY, "pgtandem_flip", false,
     CLASSIFY_UNKNOWN},
    {"LOAD 'auto_explain'", CLASSIFY_SESSION_LOAD, "auto_explain", false, CLASSIFY_UNKNOWN},
    {"FETCH FORWARD 5 FROM cur", CLASSIFY_SESSION_FETCH, "cur", false, CLASSIFY_UNKNOWN},
    {"MOVE LAST IN cur", CLASSIFY_SESSION_MOVE, "cur", false, CLASSIFY_UNKNOWN},
    {"CLOSE cur", CLASSIFY_SESSION_CLOSE, "cur", false, CLASSIFY_UNKNOWN},
    {"CLOSE ALL", CLASSIFY_SESSION_CLOSE, NULL, false, CLASSIFY_UNKNOWN},
    {"SET CONSTRAINTS ALL IMMEDIATE", CLASSIFY_SESSION_SET_CONSTRAINTS, NULL, false,
     CLASSIFY_UNKNOWN},
};

Test(classify_details, sessions)
{
    for (size_t k = 0; k < sizeof sessions / sizeof sessions[0]; k++) {
        const scase *c = &sessions[k];
        classify_result *r = classify_sql(c->sql);
        const classify_stmt *st = only_stmt(r, c->sql);
        cr_expect_eq(st->kind, CLASSIFY_SESSION, "[%s]: kind %s", c->sql,
                     classify_kind_name(st->kind));
        cr_expect_eq(st->session, c->session, "[%s]: session %s", c->sql,
                     classify_session_kind_name(st->session));
        cr_expect(str_eq(st->name, c->name), "[%s]: name %s", c->sql, st->name);
        cr_expect_eq(st->set_local, c->local, "[%s]: set_local", c->sql);
        cr_expect_eq(st->inner_kind, c->inner, "[%s]: inner %s", c->sql,
                     classify_kind_name(st->inner_kind));
        classify_result_free(r);
    }
}

/* ---- utility */

typedef struct ucase {
    const char *sql;
    classify_utility_kind utility;
    bool opaque;
} ucase;

static const ucase utilities[] = {
    {"VACUUM FULL products", CLASSIFY_UTILITY_VACUUM, false},
    {"VACUUM ANALYZE", CLASSIFY_UTILITY_VACUUM, false},
    {"ANALYZE VERBOSE users (email)", CLASSIFY_UTILITY_ANALYZE, false},
    {"CHECKPOINT", CLASSIFY_UTILITY_CHECKPOINT, false},
    {"LOCK TABLE carts IN ROW EXCLUSIVE MODE", CLASSIFY_UTILITY_LOCK, false},
    {"DO $$ BEGIN DELETE FROM carts; END $$", CLASSIFY_UTILITY_DO, true},
    {"DO LANGUAGE plpgsql 'BEGIN NULL; END'", CLASSIFY_UTILITY_DO, true},
    {"CALL promotion.expire_codes()", CLASSIFY_UTILITY_CALL, true},
    {"CLUSTER", CLASSIFY_UTILITY_CLUSTER, false},
    {"REINDEX SCHEMA public", CLASSIFY_UTILITY_REINDEX, false},
    {"REFRESH MATERIALIZED VIEW promo_stats WITH NO DATA", CLASSIFY_UTILITY_REFRESH_MATVIEW,
     false},
};

Test(classify_details, utilities)
{
    for (size_t k = 0; k < sizeof utilities / sizeof utilities[0]; k++) {
        const ucase *c = &utilities[k];
        classify_result *r = classify_sql(c->sql);
        const classify_stmt *st = only_stmt(r, c->sql);
        cr_expect_eq(st->kind, CLASSIFY_UTILITY, "[%s]: kind %s", c->sql,
                     classify_kind_name(st->kind));
        cr_expect_eq(st->utility, c->utility, "[%s]: utility %s", c->sql,
                     classify_utility_kind_name(st->utility));
        cr_expect_eq(st->opaque, c->opaque, "[%s]: opaque", c->sql);
        classify_result_free(r);
    }
}

Test(classify_details, call_records_schema_qualified_procedure)
{
    classify_result *r = classify_sql("CALL promotion.expire_codes(now())");
    const classify_stmt *st = only_stmt(r, "CALL");
    cr_assert_eq(st->n_functions, 2);
    cr_expect_str_eq(st->functions[0].schema, "promotion");
    cr_expect_str_eq(st->functions[0].name, "expire_codes");
    cr_expect(st->volatile_calls);
    classify_result_free(r);
}

/* ---- EXPLAIN and DECLARE */

Test(classify_details, explain_flags)
{
    struct {
        const char *sql;
        classify_kind kind, inner;
    } cases[] = {
        {"EXPLAIN SELECT 1", CLASSIFY_READ, CLASSIFY_READ},
        {"EXPLAIN DELETE FROM carts", CLASSIFY_READ, CLASSIFY_WRITE},
        {"EXPLAIN ANALYZE DELETE FROM carts", CLASSIFY_WRITE, CLASSIFY_WRITE},
        {"EXPLAIN (ANALYZE TRUE, FORMAT JSON) DELETE FROM carts", CLASSIFY_WRITE, CLASSIFY_WRITE},
        {"EXPLAIN (ANALYZE 0) DELETE FROM carts", CLASSIFY_READ, CLASSIFY_WRITE},
        {"EXPLAIN (ANALYZE off) UPDATE carts SET total = 0", CLASSIFY_READ, CLASSIFY_WRITE},
        {"EXPLAIN (VERBOSE) SELECT * FROM carts FOR SHARE", CLASSIFY_READ, CLASSIFY_LOCKING_READ},
        {"EXPLAIN ANALYZE EXECUTE get_user(1)", CLASSIFY_SESSION, CLASSIFY_SESSION},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        classify_result *r = classify_sql(cases[k].sql);
        const classify_stmt *st = only_stmt(r, cases[k].sql);
        cr_expect(st->explain, "[%s]: explain flag", cases[k].sql);
        cr_expect_eq(st->kind, cases[k].kind, "[%s]: kind %s", cases[k].sql,
                     classify_kind_name(st->kind));
        cr_expect_eq(st->inner_kind, cases[k].inner, "[%s]: inner %s", cases[k].sql,
                     classify_kind_name(st->inner_kind));
        classify_result_free(r);
    }
}

Test(classify_details, declare_cursor)
{
    classify_result *r = classify_sql("DECLARE big NO SCROLL CURSOR WITH HOLD FOR SELECT * FROM "
                                      "promo_analytics");
    const classify_stmt *st = only_stmt(r, "DECLARE");
    cr_expect_eq(st->kind, CLASSIFY_READ);
    cr_expect_eq(st->inner_kind, CLASSIFY_READ);
    cr_expect_str_eq(st->name, "big");
    cr_assert_eq(st->n_reads, 1);
    cr_expect_str_eq(st->reads[0].name, "promo_analytics");
    classify_result_free(r);
}

/* ---- ORDER BY at the top level: shadow reads compare such rows in order */

Test(classify_details, ordered_only_at_top_level)
{
    static const struct {
        const char *sql;
        bool ordered;
    } cases[] = {
        {"SELECT id FROM carts ORDER BY id", true},
        {"SELECT id FROM carts", false},
        {"SELECT id FROM carts WHERE id IN (SELECT id FROM carts ORDER BY id LIMIT 3)", false},
        {"SELECT * FROM (SELECT id FROM carts ORDER BY id) t", false},
        {"SELECT id FROM carts UNION SELECT id FROM wishlists ORDER BY 1", true},
        {"WITH c AS (SELECT id FROM carts ORDER BY id) SELECT * FROM c", false},
        {"SELECT count(*) OVER (ORDER BY id) FROM carts", false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        classify_result *r = classify_sql(cases[i].sql);
        const classify_stmt *st = only_stmt(r, cases[i].sql);
        cr_expect_eq(st->ordered, cases[i].ordered, "[%s]: ordered %d", cases[i].sql,
                     st->ordered);
        classify_result_free(r);
    }
}
