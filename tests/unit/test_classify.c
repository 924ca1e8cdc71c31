/* Table-driven tests for routing/classify: for each statement its kind, the tables it reads
 * and writes (order-insensitive), the volatile flag and, where given, its functions. The
 * tables are the migration's (auth, product, cart, promotion services) and pgbench's. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdio.h>
#include <string.h>

#include "routing/classify.h"

typedef struct ccase {
    const char *sql;
    classify_kind kind;
    const char *reads;  /* comma-separated "name" or "schema.name"; "" for none */
    const char *writes; /* likewise */
    bool vol;           /* volatile_calls */
    const char *funcs;  /* likewise, or NULL to leave unchecked */
} ccase;

#define RD CLASSIFY_READ
#define LR CLASSIFY_LOCKING_READ
#define WR CLASSIFY_WRITE
#define DL CLASSIFY_DDL
#define TX CLASSIFY_TX_CONTROL
#define SS CLASSIFY_SESSION
#define UT CLASSIFY_UTILITY
#define EM CLASSIFY_EMPTY
#define ER CLASSIFY_ERROR

static const ccase cases[] = {
    /* ---- plain reads */
    {"SELECT 1", RD, "", "", false, ""},
    {"SELECT * FROM users", RD, "users", "", false, ""},
    {"SELECT id, email FROM users WHERE id = $1", RD, "users", "", false, ""},
    {"SELECT u.id, p.bio FROM users u JOIN user_profiles p ON p.user_id = u.id", RD,
     "users,user_profiles", "", false, ""},
    {"SELECT * FROM products p LEFT JOIN product_images i ON i.product_id = p.id", RD,
     "products,product_images", "", false, ""},
    {"SELECT * FROM products p RIGHT OUTER JOIN product_variants v ON v.product_id = p.id", RD,
     "products,product_variants", "", false, ""},
    {"SELECT * FROM carts FULL JOIN cart_items ON carts.id = cart_items.cart_id", RD,
     "carts,cart_items", "", false, ""},
    {"SELECT * FROM users CROSS JOIN categories", RD, "users,categories", "", false, ""},
    {"SELECT * FROM users NATURAL JOIN user_sessions", RD, "users,user_sessions", "", false, ""},
    {"SELECT * FROM users u JOIN user_sessions s USING (id) JOIN user_profiles p USING (id)", RD,
     "users,user_sessions,user_profiles", "", false, ""},
    {"SELECT count(*) FROM products", RD, "products", "", false, "count"},
    {"SELECT category_id, count(*) FROM products GROUP BY category_id HAVING count(*) > 5", RD,
     "products", "", false, "count"},
    {"SELECT DISTINCT ON (user_id) * FROM user_sessions ORDER BY user_id, created_at DESC", RD,
     "user_sessions", "", false, ""},
    {"SELECT * FROM products ORDER BY price DESC LIMIT 10 OFFSET 20", RD, "products", "", false,
     ""},
    {"VALUES (1, 'a'), (2, 'b')", RD, "", "", false, ""},
    {"TABLE categories", RD, "categories", "", false, ""},
    {"SHOW search_path", RD, "", "", false, ""},
    {"SHOW ALL", RD, "", "", false, ""},
    {"SELECT * FROM products TABLESAMPLE SYSTEM (10)", RD, "products", "", false, ""},
    {"SELECT * FROM ONLY products", RD, "products", "", false, ""},
    {"SELECT * FROM generate_series(1, 10) g", RD, "", "", false, "generate_series"},
    {"SELECT * FROM ROWS FROM (generate_series(1, 3), generate_series(1, 4)) AS t(a, b)", RD, "",
     "", false, "generate_series"},
    {"SELECT * FROM products p, LATERAL unnest(p.tags) AS t(tag)", RD, "products", "", false,
     "unnest"},
    {"SELECT * FROM unnest($1::int[]) AS ids(id) JOIN products ON products.id = ids.id", RD,
     "products", "", false, "unnest"},
    {"SELECT lower(email), upper(name) FROM users", RD, "users", "", false, "lower,upper"},
    {"SELECT pg_catalog.lower(email) FROM users", RD, "users", "", false, "pg_catalog.lower"},
    {"SELECT * FROM users WHERE email ILIKE $1 AND created_at > $2::timestamptz", RD, "users", "",
     false, ""},
    {"SELECT row_number() OVER (PARTITION BY category_id ORDER BY price) FROM products", RD,
     "products", "", false, "row_number"},
    {"SELECT coalesce(nickname, name) FROM user_profiles", RD, "user_profiles", "", false, ""},
    {"SELECT EXTRACT(year FROM created_at) FROM users", RD, "users", "", false,
     "pg_catalog.extract"},
    {"SELECT * FROM promo_codes WHERE code = ANY($1)", RD, "promo_codes", "", false, ""},
    {"SELECT CASE WHEN quantity > 0 THEN 'in' ELSE 'out' END FROM product_inventory", RD,
     "product_inventory", "", false, ""},
    {"SELECT json_agg(c) FROM categories c", RD, "categories", "", false, "json_agg"},
    {"SELECT p.name, array_agg(i.url ORDER BY i.position) FROM products p JOIN product_images i "
     "ON i.product_id = p.id GROUP BY p.name",
     RD, "products,product_images", "", false, "array_agg"},
    {"SELECT * FROM wishlists w JOIN wishlist_items wi ON wi.wishlist_id = w.id WHERE w.user_id "
     "= $1",
     RD, "wishlists,wishlist_items", "", false, ""},
    {"SELECT c.name, count(p.id) FROM categories c LEFT JOIN products p ON p.category_id = c.id "
     "GROUP BY ROLLUP (c.name)",
     RD, "categories,products", "", false, "count"},

    /* ---- set operations */
    {"SELECT id FROM users UNION SELECT user_id FROM user_sessions", RD, "users,user_sessions",
     "", false, ""},
    {"SELECT product_id FROM cart_items INTERSECT SELECT product_id FROM wishlist_items", RD,
     "cart_items,wishlist_items", "", false, ""},
    {"SELECT id FROM products EXCEPT ALL SELECT product_id FROM product_inventory WHERE "
     "quantity = 0",
     RD, "products,product_inventory", "", false, ""},
    {"(SELECT id FROM users ORDER BY id LIMIT 5) UNION ALL (SELECT id FROM users ORDER BY id "
     "DESC LIMIT 5)",
     RD, "users", "", false, ""},
    {"SELECT code FROM promo_codes UNION SELECT name FROM promotion_campaigns UNION SELECT "
     "reason FROM promo_suggestions",
     RD, "promo_codes,promotion_campaigns,promo_suggestions", "", false, ""},

    /* ---- CTEs: names in scope are not tables */
    {"WITH recent AS (SELECT * FROM user_sessions WHERE created_at > $1) SELECT * FROM recent",
     RD, "user_sessions", "", false, ""},
    {"WITH a AS (SELECT * FROM products), b AS (SELECT * FROM a WHERE price > 10) SELECT * FROM "
     "b JOIN categories c ON c.id = b.category_id",
     RD, "products,categories", "", false, ""},
    {"WITH users AS (SELECT * FROM users WHERE active) SELECT * FROM users", RD, "users", "",
     false, ""},
    {"WITH RECURSIVE tree AS (SELECT id, parent_id FROM categories WHERE id = $1 UNION ALL "
     "SELECT c.id, c.parent_id FROM categories c JOIN tree t ON c.parent_id = t.id) SELECT * "
     "FROM tree",
     RD, "categories", "", false, ""},
    {"WITH x AS (SELECT 1) SELECT * FROM x, public.x", RD, "public.x", "", false, ""},
    {"SELECT * FROM (WITH inner_cte AS (SELECT * FROM carts) SELECT * FROM inner_cte) s JOIN "
     "inner_cte ON true",
     RD, "carts,inner_cte", "", false, ""},
    {"WITH c AS (SELECT * FROM carts) SELECT * FROM cart_items WHERE cart_id IN (SELECT id FROM "
     "c)",
     RD, "carts,cart_items", "", false, ""},
    {"WITH c AS MATERIALIZED (SELECT * FROM promo_codes) SELECT * FROM c", RD, "promo_codes", "",
     false, ""},
    {"WITH a AS (SELECT * FROM b), b AS (SELECT 1) SELECT * FROM a", RD, "b", "", false, ""},
    {"WITH RECURSIVE a AS (SELECT * FROM b), b AS (SELECT 1) SELECT * FROM a", RD, "", "", false,
     ""},
    {"WITH t AS (SELECT * FROM users) SELECT * FROM (WITH t AS (SELECT * FROM carts) SELECT * "
     "FROM t) s, t",
     RD, "users,carts", "", false, ""},
    {"WITH s AS (SELECT * FROM user_sessions) SELECT (SELECT count(*) FROM s), (SELECT count(*) "
     "FROM users)",
     RD, "user_sessions,users", "", false, "count"},

    /* ---- data-modifying WITH */
    {"WITH x AS (DELETE FROM a RETURNING *) INSERT INTO b SELECT * FROM x", WR, "", "a,b", false,
     ""},
    {"WITH moved AS (DELETE FROM cart_items WHERE cart_id = $1 RETURNING product_id) INSERT "
     "INTO wishlist_items (wishlist_id, product_id) SELECT $2, product_id FROM moved",
     WR, "", "cart_items,wishlist_items", false, ""},
    {"WITH upd AS (UPDATE product_inventory SET quantity = quantity - 1 WHERE product_id = $1 "
     "RETURNING *) SELECT * FROM upd",
     WR, "", "product_inventory", false, ""},
    {"WITH ins AS (INSERT INTO carts (user_id) VALUES ($1) RETURNING id) INSERT INTO cart_items "
     "(cart_id, product_id) SELECT id, $2 FROM ins",
     WR, "", "carts,cart_items", false, ""},
    {"WITH d AS (DELETE FROM user_sessions WHERE expires_at < now() RETURNING user_id) SELECT "
     "count(*) FROM d JOIN users u ON u.id = d.user_id",
     WR, "users", "user_sessions", true, "now,count"},
    /* PostgreSQL 15 rejects MERGE in WITH only after parsing; the grammar accepts it, and
     * calling it a write is the safe reading. */
    {"WITH m AS (MERGE INTO x USING y ON x.id = y.id WHEN MATCHED THEN DELETE) SELECT 1", WR, "y",
     "x", false, ""},

    /* ---- subqueries anywhere */
    {"SELECT * FROM users WHERE id IN (SELECT user_id FROM carts)", RD, "users,carts", "", false,
     ""},
    {"SELECT * FROM users u WHERE EXISTS (SELECT 1 FROM wishlists w WHERE w.user_id = u.id)", RD,
     "users,wishlists", "", false, ""},
    {"SELECT * FROM users u WHERE NOT EXISTS (SELECT 1 FROM user_sessions s WHERE s.user_id = "
     "u.id)",
     RD, "users,user_sessions", "", false, ""},
    {"SELECT name, (SELECT count(*) FROM cart_items ci WHERE ci.product_id = p.id) AS in_carts "
     "FROM products p",
     RD, "products,cart_items", "", false, "count"},
    {"SELECT * FROM products WHERE price > (SELECT avg(price) FROM products)", RD, "products", "",
     false, "avg"},
    {"SELECT category_id FROM products GROUP BY category_id HAVING count(*) > (SELECT count(*) / "
     "10 FROM categories)",
     RD, "products,categories", "", false, "count"},
    {"SELECT * FROM (SELECT * FROM (SELECT * FROM promo_usage) a) b", RD, "promo_usage", "",
     false, ""},
    {"SELECT * FROM products WHERE id = ANY (SELECT product_id FROM product_variants WHERE sku = "
     "$1)",
     RD, "products,product_variants", "", false, ""},
    {"SELECT * FROM products WHERE price > ALL (SELECT price FROM product_variants)", RD,
     "products,product_variants", "", false, ""},
    {"SELECT CASE WHEN EXISTS (SELECT 1 FROM promo_codes WHERE code = $1) THEN 1 ELSE 0 END", RD,
     "promo_codes", "", false, ""},
    {"SELECT * FROM products ORDER BY (SELECT max(created_at) FROM product_images WHERE "
     "product_id = products.id)",
     RD, "products,product_images", "", false, "max"},
    {"SELECT * FROM users LIMIT (SELECT count(*) FROM user_profiles)", RD, "users,user_profiles",
     "", false, "count"},
    {"SELECT coalesce((SELECT discount FROM promo_codes WHERE code = $1), 0)", RD, "promo_codes",
     "", false, ""},
    {"SELECT * FROM carts c JOIN LATERAL (SELECT sum(quantity) AS n FROM cart_items WHERE "
     "cart_id = c.id) t ON true",
     RD, "carts,cart_items", "", false, "sum"},
    {"SELECT * FROM users u, LATERAL (SELECT * FROM user_sessions s WHERE s.user_id = u.id ORDER "
     "BY s.created_at DESC LIMIT 1) last",
     RD, "users,user_sessions", "", false, ""},
    {"SELECT f(x) FROM (VALUES (1), (2)) v(x)", RD, "", "", false, "f"},
    {"SELECT * FROM promotion_campaigns pc WHERE pc.id IN (SELECT campaign_id FROM "
     "campaign_promo_codes WHERE promo_code_id IN (SELECT id FROM promo_codes WHERE active))",
     RD, "promotion_campaigns,campaign_promo_codes,promo_codes", "", false, ""},
    {"SELECT * FROM promo_suggestions WHERE score > (SELECT percentile_cont(0.9) WITHIN GROUP "
     "(ORDER BY score) FROM promo_suggestions)",
     RD, "promo_suggestions", "", false, "percentile_cont"},
    {"SELECT ARRAY(SELECT url FROM product_images WHERE product_id = p.id) FROM products p", RD,
     "products,product_images", "", false, ""},
    {"SELECT * FROM users WHERE (id, email) IN (SELECT user_id, email FROM user_profiles)", RD,
     "users,user_profiles", "", false, ""},
    {"SELECT * FROM products p WHERE p.category_id IN (SELECT id FROM categories UNION SELECT "
     "parent_id FROM categories)",
     RD, "products,categories", "", false, ""},
    {"SELECT greatest((SELECT max(price) FROM products), (SELECT max(price) FROM "
     "product_variants))",
     RD, "products,product_variants", "", false, "max"},

    /* ---- locking reads: locked tables are written-intent */
    {"SELECT * FROM product_inventory WHERE product_id = $1 FOR UPDATE", LR, "product_inventory",
     "product_inventory", false, ""},
    {"SELECT * FROM carts c JOIN cart_items i ON i.cart_id = c.id WHERE c.id = $1 FOR UPDATE", LR,
     "carts,cart_items", "carts,cart_items", false, ""},
    {"SELECT * FROM carts c JOIN cart_items i ON i.cart_id = c.id WHERE c.id = $1 FOR UPDATE OF "
     "c",
     LR, "carts,cart_items", "carts", false, ""},
    {"SELECT * FROM carts c JOIN cart_items i ON i.cart_id = c.id FOR SHARE OF i", LR,
     "carts,cart_items", "cart_items", false, ""},
    {"SELECT * FROM promo_codes WHERE code = $1 FOR NO KEY UPDATE SKIP LOCKED", LR, "promo_codes",
     "promo_codes", false, ""},
    {"SELECT * FROM users FOR KEY SHARE NOWAIT", LR, "users", "users", false, ""},
    {"SELECT * FROM users u WHERE u.id IN (SELECT user_id FROM carts) FOR UPDATE", LR,
     "users,carts", "users", false, ""},
    {"SELECT * FROM (SELECT * FROM product_inventory WHERE quantity > 0) inv FOR UPDATE", LR,
     "product_inventory", "product_inventory", false, ""},
    {"SELECT * FROM product_inventory i, products p WHERE p.id = i.product_id FOR UPDATE OF i "
     "FOR SHARE OF p",
     LR, "product_inventory,products", "product_inventory,products", false, ""},
    {"SELECT * FROM products FOR UPDATE OF products", LR, "products", "products", false, ""},
    {"WITH c AS (SELECT * FROM carts) SELECT * FROM c JOIN cart_items ci ON ci.cart_id = c.id FOR "
     "UPDATE OF ci",
     LR, "carts,cart_items", "cart_items", false, ""},
    {"SELECT * FROM (SELECT * FROM user_sessions FOR UPDATE) s", LR, "user_sessions",
     "user_sessions", false, ""},
    {"SELECT * FROM pgbench_accounts WHERE aid = 1 FOR UPDATE", LR, "pgbench_accounts",
     "pgbench_accounts", false, ""},
    {"SELECT * FROM generate_series(1, 3) g, wishlists w FOR UPDATE", LR, "wishlists",
     "wishlists", false, "generate_series"},

    /* ---- INSERT */
    {"INSERT INTO users (email, name) VALUES ($1, $2)", WR, "", "users", false, ""},
    {"INSERT INTO users (email, name) VALUES ($1, $2) RETURNING id, created_at", WR, "", "users",
     false, ""},
    {"INSERT INTO users VALUES (DEFAULT, 'a@b.c', 'A')", WR, "", "users", false, ""},
    {"INSERT INTO user_sessions (user_id, token, created_at) VALUES ($1, gen_random_uuid(), "
     "now())",
     WR, "", "user_sessions", true, "gen_random_uuid,now"},
    {"INSERT INTO carts DEFAULT VALUES RETURNING id", WR, "", "carts", false, ""},
    {"INSERT INTO products (name, category_id) SELECT name, $1 FROM products WHERE category_id = "
     "$2",
     WR, "products", "products", false, ""},
    {"INSERT INTO promo_usage (promo_code_id, user_id) SELECT id, $1 FROM promo_codes WHERE code "
     "= $2",
     WR, "promo_codes", "promo_usage", false, ""},
    {"INSERT INTO product_inventory (product_id, quantity) VALUES ($1, $2) ON CONFLICT "
     "(product_id) DO UPDATE SET quantity = product_inventory.quantity + EXCLUDED.quantity",
     WR, "", "product_inventory", false, ""},
    {"INSERT INTO wishlist_items (wishlist_id, product_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
     WR, "", "wishlist_items", false, ""},
    {"INSERT INTO cart_items (cart_id, product_id, quantity) VALUES ($1, $2, 1) ON CONFLICT "
     "(cart_id, product_id) DO UPDATE SET quantity = cart_items.quantity + 1 WHERE "
     "cart_items.quantity < (SELECT max_per_order FROM products WHERE id = EXCLUDED.product_id)",
     WR, "products", "cart_items", false, ""},
    {"INSERT INTO user_promo_eligibility (user_id, promo_code_id) VALUES ($1, $2) ON CONFLICT ON "
     "CONSTRAINT upe_pkey DO UPDATE SET checked_at = (SELECT max(used_at) FROM promo_usage)",
     WR, "promo_usage", "user_promo_eligibility", false, "max"},
    {"INSERT INTO promo_analytics (campaign_id, views) VALUES ((SELECT id FROM "
     "promotion_campaigns WHERE name = $1), 1)",
     WR, "promotion_campaigns", "promo_analytics", false, ""},
    {"INSERT INTO categories (name, parent_id) VALUES ('Shoes', NULL), ('Boots', NULL), "
     "('Sandals', NULL)",
     WR, "", "categories", false, ""},
    {"INSERT INTO auth.users (email) VALUES ($1)", WR, "", "auth.users", false, ""},
    {"INSERT INTO \"Users\" (\"Email\") VALUES ($1)", WR, "", "Users", false, ""},
    {"INSERT INTO products (id, name) OVERRIDING SYSTEM VALUE VALUES (1, 'x')", WR, "",
     "products", false, ""},
    {"INSERT INTO product_images (product_id, url) VALUES ($1, $2), ($1, $3)", WR, "",
     "product_images", false, ""},
    {"INSERT INTO promo_suggestions SELECT * FROM promo_suggestions_staging", WR,
     "promo_suggestions_staging", "promo_suggestions", false, ""},
    {"INSERT INTO users (id, email) VALUES (nextval('users_id_seq'), $1)", WR, "", "users", true,
     "nextval"},
    {"INSERT INTO users (email, created_at) VALUES ($1, 'now')", WR, "", "users", true, ""},
    {"INSERT INTO promo_codes (code, discount) VALUES (upper($1), 10) RETURNING *", WR, "",
     "promo_codes", false, "upper"},
    {"INSERT INTO product_variants (product_id, sku) SELECT p.id, s.sku FROM products p JOIN "
     "(VALUES ('A'), ('B')) s(sku) ON true",
     WR, "products", "product_variants", false, ""},
    {"INSERT INTO wishlists (user_id) SELECT id FROM users WHERE id NOT IN (SELECT user_id FROM "
     "wishlists)",
     WR, "users,wishlists", "wishlists", false, ""},

    /* ---- UPDATE */
    {"UPDATE users SET name = $1 WHERE id = $2", WR, "", "users", false, ""},
    {"UPDATE users SET updated_at = now() WHERE id = $1", WR, "", "users", true, "now"},
    {"UPDATE product_inventory SET quantity = quantity - $1 WHERE product_id = $2 RETURNING "
     "quantity",
     WR, "", "product_inventory", false, ""},
    {"UPDATE products p SET price = v.price FROM product_variants v WHERE v.product_id = p.id", WR,
     "product_variants", "products", false, ""},
    {"UPDATE carts SET total = (SELECT sum(price * quantity) FROM cart_items WHERE cart_id = "
     "carts.id)",
     WR, "cart_items", "carts", false, "sum"},
    {"UPDATE users SET (name, email) = (SELECT name, email FROM user_profiles WHERE user_id = "
     "users.id) WHERE id = $1",
     WR, "user_profiles", "users", false, ""},
    {"UPDATE promo_codes SET uses = uses + 1 WHERE id IN (SELECT promo_code_id FROM promo_usage "
     "WHERE user_id = $1)",
     WR, "promo_usage", "promo_codes", false, ""},
    {"UPDATE ONLY categories SET name = 'x' WHERE id = 1", WR, "", "categories", false, ""},
    {"UPDATE public.products SET price = price * 1.1 WHERE category_id = ANY($1::int[])", WR, "",
     "public.products", false, ""},
    {"UPDATE users SET name = 'x' WHERE CURRENT OF c1", WR, "", "users", false, ""},
    {"UPDATE carts SET updated_at = CURRENT_TIMESTAMP WHERE id = $1", WR, "", "carts", true,
     "current_timestamp"},
    {"UPDATE product_inventory i SET quantity = i.quantity - ci.quantity FROM cart_items ci JOIN "
     "carts c ON c.id = ci.cart_id WHERE ci.product_id = i.product_id AND c.id = $1",
     WR, "cart_items,carts", "product_inventory", false, ""},
    {"UPDATE users SET last_seen = statement_timestamp() WHERE id = $1", WR, "", "users", true,
     "statement_timestamp"},

    /* ---- DELETE */
    {"DELETE FROM user_sessions WHERE expires_at < now()", WR, "", "user_sessions", true, "now"},
    {"DELETE FROM cart_items WHERE cart_id = $1 RETURNING product_id", WR, "", "cart_items",
     false, ""},
    {"DELETE FROM cart_items ci USING carts c WHERE c.id = ci.cart_id AND c.user_id = $1", WR,
     "carts", "cart_items", false, ""},
    {"DELETE FROM wishlist_items WHERE wishlist_id IN (SELECT id FROM wishlists WHERE user_id = "
     "$1)",
     WR, "wishlists", "wishlist_items", false, ""},
    {"DELETE FROM promo_usage WHERE NOT EXISTS (SELECT 1 FROM promo_codes p WHERE p.id = "
     "promo_usage.promo_code_id)",
     WR, "promo_codes", "promo_usage", false, ""},
    {"DELETE FROM products", WR, "", "products", false, ""},
    {"WITH stale AS (SELECT id FROM carts WHERE updated_at < now() - interval '30 days') DELETE "
     "FROM cart_items WHERE cart_id IN (SELECT id FROM stale)",
     WR, "carts", "cart_items", true, "now"},
    {"DELETE FROM ONLY promotion.promo_codes WHERE expires_at < $1", WR, "",
     "promotion.promo_codes", false, ""},

    /* ---- MERGE: target written, source read */
    {"MERGE INTO product_inventory t USING (SELECT product_id, sum(qty) AS q FROM incoming_stock "
     "GROUP BY product_id) s ON t.product_id = s.product_id WHEN MATCHED THEN UPDATE SET "
     "quantity = t.quantity + s.q WHEN NOT MATCHED THEN INSERT (product_id, quantity) VALUES "
     "(s.product_id, s.q)",
     WR, "incoming_stock", "product_inventory", false, "sum"},
    {"MERGE INTO promo_analytics a USING promo_usage u ON a.promo_code_id = u.promo_code_id WHEN "
     "MATCHED THEN UPDATE SET uses = a.uses + 1 WHEN NOT MATCHED THEN INSERT (promo_code_id, "
     "uses) VALUES (u.promo_code_id, 1)",
     WR, "promo_usage", "promo_analytics", false, ""},
    {"MERGE INTO wishlists w USING users u ON w.user_id = u.id WHEN NOT MATCHED THEN INSERT "
     "(user_id) VALUES (u.id) WHEN MATCHED AND u.deleted THEN DELETE",
     WR, "users", "wishlists", false, ""},
    {"WITH src AS (SELECT * FROM promo_suggestions WHERE score > 0.5) MERGE INTO "
     "user_promo_eligibility e USING src ON e.user_id = src.user_id WHEN NOT MATCHED THEN INSERT "
     "(user_id, promo_code_id) VALUES (src.user_id, src.promo_code_id)",
     WR, "promo_suggestions", "user_promo_eligibility", false, ""},
    {"MERGE INTO products p USING product_variants v ON p.id = v.product_id WHEN MATCHED AND "
     "v.price < (SELECT min(price) FROM products) THEN UPDATE SET price = v.price",
     WR, "product_variants,products", "products", false, "min"},
    {"MERGE INTO carts c USING (VALUES ($1::bigint)) v(uid) ON c.user_id = v.uid WHEN NOT MATCHED "
     "THEN INSERT (user_id, created_at) VALUES (v.uid, now())",
     WR, "", "carts", true, "now"},

    /* ---- COPY */
    {"COPY products FROM STDIN WITH (FORMAT csv)", WR, "", "products", false, ""},
    {"COPY products (id, name) TO STDOUT", RD, "products", "", false, ""},
    {"COPY (SELECT * FROM users WHERE created_at > now() - interval '1 day') TO STDOUT WITH CSV "
     "HEADER",
     RD, "users", "", true, "now"},
    {"COPY public.categories FROM '/tmp/cats.csv'", WR, "", "public.categories", false, ""},
    {"COPY (DELETE FROM user_sessions WHERE expires_at < now() RETURNING *) TO STDOUT", WR, "",
     "user_sessions", true, "now"},
    {"COPY cart_items FROM STDIN WHERE quantity > 0", WR, "", "cart_items", false, ""},
    {"COPY pgbench_accounts TO STDOUT (FORMAT binary)", RD, "pgbench_accounts", "", false, ""},

    /* ---- TRUNCATE and LOCK */
    {"TRUNCATE cart_items", WR, "", "cart_items", false, ""},
    {"TRUNCATE TABLE carts, cart_items RESTART IDENTITY CASCADE", WR, "", "carts,cart_items",
     false, ""},
    {"TRUNCATE ONLY public.promo_usage", WR, "", "public.promo_usage", false, ""},
    {"LOCK TABLE products IN ACCESS EXCLUSIVE MODE", UT, "", "products", false, ""},
    {"LOCK product_inventory, products IN SHARE ROW EXCLUSIVE MODE NOWAIT", UT, "",
     "product_inventory,products", false, ""},
    {"LOCK TABLE ONLY auth.users", UT, "", "auth.users", false, ""},

    /* ---- DDL */
    {"CREATE TABLE promo_archive (id bigint PRIMARY KEY, code text NOT NULL)", DL, "",
     "promo_archive", false, ""},
    {"CREATE TABLE IF NOT EXISTS cart_events (id bigserial, cart_id bigint REFERENCES carts(id), "
     "at timestamptz DEFAULT now())",
     DL, "carts", "cart_events", true, "now"},
    {"ALTER TABLE users ADD COLUMN last_login timestamptz", DL, "", "users", false, ""},
    {"ALTER TABLE cart_items ADD CONSTRAINT fk_product FOREIGN KEY (product_id) REFERENCES "
     "products (id)",
     DL, "products", "cart_items", false, ""},
    {"DROP TABLE promo_archive", DL, "", "promo_archive", false, ""},
    {"DROP TABLE IF EXISTS a, public.b CASCADE", DL, "", "a,public.b", false, ""},
    {"CREATE INDEX CONCURRENTLY idx_users_email ON users (lower(email))", DL, "", "users", false,
     "lower"},
    {"CREATE UNIQUE INDEX ON product_variants (product_id, sku)", DL, "", "product_variants",
     false, ""},
    {"DROP INDEX idx_users_email", DL, "", "", false, ""},
    {"CREATE VIEW active_promos AS SELECT * FROM promo_codes WHERE expires_at > now()", DL,
     "promo_codes", "active_promos", true, "now"},
    {"CREATE MATERIALIZED VIEW promo_stats AS SELECT promo_code_id, count(*) FROM promo_usage "
     "GROUP BY 1",
     DL, "promo_usage", "promo_stats", false, "count"},
    {"CREATE TABLE users_backup AS SELECT * FROM users", DL, "users", "users_backup", false, ""},
    {"SELECT * INTO TEMP recent_sessions FROM user_sessions WHERE created_at > $1", DL,
     "user_sessions", "recent_sessions", false, ""},
    {"SELECT id INTO archived_ids FROM carts UNION SELECT id FROM wishlists", DL,
     "carts,wishlists", "archived_ids", false, ""},
    {"COMMENT ON TABLE users IS 'accounts'", DL, "", "users", false, ""},
    {"COMMENT ON COLUMN public.users.email IS 'login'", DL, "", "public.users", false, ""},
    {"GRANT SELECT, INSERT ON products, categories TO shop_app", DL, "", "products,categories",
     false, ""},
    {"REVOKE ALL ON TABLE promo_codes FROM PUBLIC", DL, "", "promo_codes", false, ""},
    {"CREATE SCHEMA IF NOT EXISTS promotion", DL, "", "", false, ""},
    {"CREATE SEQUENCE order_seq", DL, "", "order_seq", false, ""},
    {"ALTER TABLE products RENAME TO items", DL, "", "products", false, ""},
    {"CREATE TABLE product_variants_2024 (LIKE product_variants INCLUDING ALL)", DL,
     "product_variants", "product_variants_2024", false, ""},
    {"CREATE TABLE special_products () INHERITS (products)", DL, "products", "special_products",
     false, ""},
    {"CREATE FUNCTION cart_total(bigint) RETURNS numeric LANGUAGE sql AS 'SELECT sum(price) FROM "
     "cart_items WHERE cart_id = $1'",
     DL, "", "", false, ""},
    {"CREATE OR REPLACE FUNCTION touch() RETURNS int LANGUAGE sql BEGIN ATOMIC INSERT INTO "
     "promo_usage DEFAULT VALUES; SELECT 1; END",
     DL, "", "", false, ""},
    {"CREATE TRIGGER trg_touch BEFORE UPDATE ON users FOR EACH ROW EXECUTE FUNCTION "
     "touch_updated_at()",
     DL, "", "users", false, ""},
    {"CREATE EXTENSION IF NOT EXISTS pgcrypto", DL, "", "", false, ""},
    {"ALTER TABLE ONLY public.users ALTER COLUMN email SET NOT NULL", DL, "", "public.users",
     false, ""},
    {"CREATE TYPE cart_status AS ENUM ('open', 'closed')", DL, "", "", false, ""},
    {"CREATE ROLE shop_app LOGIN", DL, "", "", false, ""},
    {"ALTER TABLE promo_codes SET SCHEMA promotion", DL, "", "promo_codes", false, ""},
    {"CREATE RULE r AS ON INSERT TO carts DO ALSO INSERT INTO cart_events (cart_id) VALUES "
     "(NEW.id)",
     DL, "", "carts", false, ""},
    {"DROP VIEW active_promos", DL, "", "active_promos", false, ""},
    {"CREATE DATABASE cart_db", DL, "", "", false, ""},
    {"ALTER SYSTEM SET work_mem = '64MB'", DL, "", "", false, ""},

    /* ---- transaction control */
    {"BEGIN", TX, "", "", false, ""},
    {"BEGIN ISOLATION LEVEL SERIALIZABLE", TX, "", "", false, ""},
    {"START TRANSACTION READ ONLY", TX, "", "", false, ""},
    {"BEGIN TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ WRITE", TX, "", "", false, ""},
    {"COMMIT", TX, "", "", false, ""},
    {"END", TX, "", "", false, ""},
    {"ROLLBACK", TX, "", "", false, ""},
    {"ABORT", TX, "", "", false, ""},
    {"SAVEPOINT sp1", TX, "", "", false, ""},
    {"RELEASE SAVEPOINT sp1", TX, "", "", false, ""},
    {"ROLLBACK TO SAVEPOINT sp1", TX, "", "", false, ""},
    {"PREPARE TRANSACTION 'pgt-1'", TX, "", "", false, ""},
    {"COMMIT PREPARED 'pgt-1'", TX, "", "", false, ""},
    {"ROLLBACK PREPARED 'pgt-1'", TX, "", "", false, ""},
    {"COMMIT AND CHAIN", TX, "", "", false, ""},

    /* ---- session state */
    {"SET search_path TO promotion, public", SS, "", "", false, ""},
    {"SET LOCAL statement_timeout = '5s'", SS, "", "", false, ""},
    {"SET ROLE shop_app", SS, "", "", false, ""},
    {"SET SESSION AUTHORIZATION shop_app", SS, "", "", false, ""},
    {"RESET search_path", SS, "", "", false, ""},
    {"RESET ALL", SS, "", "", false, ""},
    {"DISCARD ALL", SS, "", "", false, ""},
    {"SET TRANSACTION ISOLATION LEVEL SERIALIZABLE", SS, "", "", false, ""},
    {"PREPARE get_user (int) AS SELECT * FROM users WHERE id = $1", SS, "users", "", false, ""},
    {"PREPARE add_item AS INSERT INTO cart_items (cart_id, product_id) VALUES ($1, $2)", SS, "",
     "cart_items", false, ""},
    {"EXECUTE get_user(42)", SS, "", "", false, ""},
    {"EXECUTE add_session(now())", SS, "", "", true, "now"},
    {"DEALLOCATE get_user", SS, "", "", false, ""},
    {"DEALLOCATE ALL", SS, "", "", false, ""},
    {"LISTEN cart_events", SS, "", "", false, ""},
    {"UNLISTEN *", SS, "", "", false, ""},
    {"NOTIFY cart_events, 'changed'", SS, "", "", false, ""},
    {"LOAD 'auto_explain'", SS, "", "", false, ""},
    {"FETCH 10 FROM c1", SS, "", "", false, ""},
    {"MOVE NEXT IN c1", SS, "", "", false, ""},
    {"CLOSE c1", SS, "", "", false, ""},
    {"SET CONSTRAINTS ALL DEFERRED", SS, "", "", false, ""},
    {"SET TIME ZONE 'UTC'", SS, "", "", false, ""},

    /* ---- utility */
    {"VACUUM", UT, "", "", false, ""},
    {"VACUUM (ANALYZE, VERBOSE) products", UT, "", "products", false, ""},
    {"ANALYZE users", UT, "", "users", false, ""},
    {"CHECKPOINT", UT, "", "", false, ""},
    {"DO $$ BEGIN UPDATE users SET name = 'x'; END $$", UT, "", "", false, ""},
    {"CALL refresh_promo_stats($1)", UT, "", "", false, "refresh_promo_stats"},
    {"CLUSTER products USING products_pkey", UT, "", "products", false, ""},
    {"REINDEX TABLE products", UT, "", "products", false, ""},
    {"REINDEX INDEX products_pkey", UT, "", "", false, ""},
    {"REFRESH MATERIALIZED VIEW CONCURRENTLY promo_stats", UT, "", "promo_stats", false, ""},

    /* ---- EXPLAIN and cursors */
    {"EXPLAIN SELECT * FROM products", RD, "products", "", false, ""},
    {"EXPLAIN ANALYZE SELECT * FROM products", RD, "products", "", false, ""},
    {"EXPLAIN ANALYZE UPDATE products SET price = price + 1", WR, "", "products", false, ""},
    {"EXPLAIN UPDATE products SET price = price + 1", RD, "", "products", false, ""},
    {"EXPLAIN (ANALYZE false) DELETE FROM carts", RD, "", "carts", false, ""},
    {"EXPLAIN (ANALYZE, BUFFERS) INSERT INTO carts (user_id) VALUES (1)", WR, "", "carts", false,
     ""},
    {"EXPLAIN ANALYZE SELECT * FROM carts FOR UPDATE", LR, "carts", "carts", false, ""},
    {"EXPLAIN (ANALYZE on) CREATE TABLE t2 AS SELECT * FROM users", DL, "users", "t2", false, ""},
    {"DECLARE c1 CURSOR FOR SELECT * FROM products", RD, "products", "", false, ""},
    {"DECLARE c2 CURSOR FOR SELECT * FROM carts WHERE id = $1 FOR UPDATE", LR, "carts", "carts",
     false, ""},

    /* ---- pgbench's statements */
    {"UPDATE pgbench_accounts SET abalance = abalance + 4321 WHERE aid = 12345;", WR, "",
     "pgbench_accounts", false, ""},
    {"SELECT abalance FROM pgbench_accounts WHERE aid = 12345;", RD, "pgbench_accounts", "", false,
     ""},
    {"UPDATE pgbench_tellers SET tbalance = tbalance + 4321 WHERE tid = 7;", WR, "",
     "pgbench_tellers", false, ""},
    {"UPDATE pgbench_branches SET bbalance = bbalance + 4321 WHERE bid = 1;", WR, "",
     "pgbench_branches", false, ""},
    {"INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (7, 1, 12345, 4321, "
     "CURRENT_TIMESTAMP);",
     WR, "", "pgbench_history", true, "current_timestamp"},
    {"select count(*) from pgbench_branches", RD, "pgbench_branches", "", false, "count"},
    {"vacuum pgbench_branches", UT, "", "pgbench_branches", false, ""},
    {"truncate pgbench_history", WR, "", "pgbench_history", false, ""},
    {"SELECT * FROM pgbench_accounts a JOIN pgbench_branches b USING (bid) WHERE a.aid BETWEEN "
     "$1 AND $2",
     RD, "pgbench_accounts,pgbench_branches", "", false, ""},
    {"UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2", WR, "",
     "pgbench_accounts", false, ""},

    /* ---- volatile calls */
    {"SELECT now()", RD, "", "", true, "now"},
    {"SELECT random()", RD, "", "", true, "random"},
    {"SELECT clock_timestamp(), statement_timestamp(), transaction_timestamp(), timeofday()", RD,
     "", "", true, "clock_timestamp,statement_timestamp,transaction_timestamp,timeofday"},
    {"SELECT nextval('carts_id_seq')", RD, "", "", true, "nextval"},
    {"SELECT setval('carts_id_seq', 100)", RD, "", "", true, "setval"},
    {"SELECT currval('carts_id_seq')", RD, "", "", true, "currval"},
    {"SELECT gen_random_uuid()", RD, "", "", true, "gen_random_uuid"},
    {"SELECT uuid_generate_v4()", RD, "", "", true, "uuid_generate_v4"},
    {"SELECT public.uuid_generate_v4()", RD, "", "", true, "public.uuid_generate_v4"},
    {"SELECT txid_current()", RD, "", "", true, "txid_current"},
    {"SELECT pg_backend_pid()", RD, "", "", true, "pg_backend_pid"},
    {"SELECT CURRENT_DATE, LOCALTIMESTAMP, CURRENT_TIME(3)", RD, "", "", true,
     "current_date,localtimestamp,current_time"},
    {"SELECT current_user, session_user", RD, "", "", true, "current_user,session_user"},
    {"SELECT lower('ABC'), length('x'), abs(-1)", RD, "", "", false, "lower,length,abs"},
    {"SELECT 'today'::date", RD, "", "", true, ""},
    {"SELECT TIMESTAMP 'now'", RD, "", "", true, ""},
    {"SELECT 'now is the time'", RD, "", "", false, ""},
    {"SELECT date_trunc('day', $1::timestamptz)", RD, "", "", false, "date_trunc"},
    {"SELECT * FROM users WHERE created_at > now() - interval '1 hour'", RD, "users", "", true,
     "now"},
    {"SELECT pg_catalog.now()", RD, "", "", true, "pg_catalog.now"},

    /* ---- names: schemas, quoting, case folding */
    {"SELECT * FROM public.users", RD, "public.users", "", false, ""},
    {"SELECT * FROM auth.users", RD, "auth.users", "", false, ""},
    {"SELECT * FROM \"Users\"", RD, "Users", "", false, ""},
    {"SELECT * FROM USERS", RD, "users", "", false, ""},
    {"select * from Public.Users", RD, "public.users", "", false, ""},
    {"SELECT * FROM \"public\".\"Products\"", RD, "public.Products", "", false, ""},
    {"SELECT * FROM \"public\".users", RD, "public.users", "", false, ""},
    {"SELECT * FROM poc.public.users", RD, "public.users", "", false, ""},
    {"SELECT * FROM \"user sessions\"", RD, "user sessions", "", false, ""},
    {"SELECT * FROM \"Promo\".\"Codes\" c JOIN promo_usage u ON u.code_id = c.id", RD,
     "Promo.Codes,promo_usage", "", false, ""},
    {"SELECT * FROM users u JOIN public.users pu ON pu.id = u.id", RD, "users,public.users", "",
     false, ""},
    {"/* leading */ SELECT * FROM users -- trailing", RD, "users", "", false, ""},

    /* ---- nothing, or not SQL */
    {"", EM, "", "", false, ""},
    {"   \n\t ", EM, "", "", false, ""},
    {"-- just a comment", EM, "", "", false, ""},
    {"/* block */", EM, "", "", false, ""},
    {";", EM, "", "", false, ""},
    {";;  ;", EM, "", "", false, ""},
    {"SELEC * FROM users", ER, "", "", false, ""},
    {"SELECT * FROM", ER, "", "", false, ""},
    {"INSERT INTO users VALUES (", ER, "", "", false, ""},
    {"SELECT 'unterminated", ER, "", "", false, ""},
    {"SELECT 1; SELEC 2", ER, "", "", false, ""},
    {"UPDATE SET x = 1", ER, "", "", false, ""},
};

/* Looks for "schema.name" or "name" in a result list. */
static bool has_name(const classify_name *v, size_t n, const char *spec, size_t spec_len)
{
    const char *dot = memchr(spec, '.', spec_len);
    for (size_t i = 0; i < n; i++) {
        if (dot) {
            size_t sl = (size_t)(dot - spec), nl = spec_len - sl - 1;
            if (v[i].schema && strlen(v[i].schema) == sl && memcmp(v[i].schema, spec, sl) == 0 &&
                strlen(v[i].name) == nl && memcmp(v[i].name, dot + 1, nl) == 0)
                return true;
        } else if (!v[i].schema && strlen(v[i].name) == spec_len &&
                   memcmp(v[i].name, spec, spec_len) == 0) {
            return true;
        }
    }
    return false;
}

static void format_names(char *buf, size_t cap, const classify_name *v, size_t n)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n && used < cap; i++) {
        int k = snprintf(buf + used, cap - used, "%s%s%s%s", i ? "," : "",
                         v[i].schema ? v[i].schema : "", v[i].schema ? "." : "", v[i].name);
        if (k < 0)
            break;
        used += (size_t)k;
    }
}

static void expect_names(const char *what, const char *sql, const classify_name *v, size_t n,
                         const char *expected)
{
    char got[512];
    format_names(got, sizeof got, v, n);
    size_t want = 0;
    bool all_found = true;
    for (const char *p = expected; *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        want++;
        if (!has_name(v, n, p, len))
            all_found = false;
        p += len + (end ? 1 : 0);
    }
    cr_expect(all_found && want == n, "%s of [%s]: expected {%s}, got {%s}", what, sql, expected,
              got);
}

/* Criterion runs each case in a re-executed process where pointers into the parent's
 * image mean nothing, so the cases travel as indices into `cases`. */
static void free_indices(struct criterion_test_params *p) { cr_free(p->params); }

ParameterizedTestParameters(classify, table)
{
    size_t n = sizeof cases / sizeof cases[0];
    size_t *idx = cr_malloc(n * sizeof *idx);
    for (size_t i = 0; i < n; i++)
        idx[i] = i;
    return cr_make_param_array(size_t, idx, n, free_indices);
}

ParameterizedTest(size_t *i, classify, table)
{
    const ccase *c = &cases[*i];
    classify_result *r = classify_sql(c->sql);
    cr_assert_not_null(r);
    cr_assert_eq(r->n_stmts, 1, "[%s]: %zu statements", c->sql, r->n_stmts);
    const classify_stmt *st = &r->stmts[0];
    cr_expect_eq(st->kind, c->kind, "[%s]: kind %s, expected %s", c->sql,
                 classify_kind_name(st->kind), classify_kind_name(c->kind));
    expect_names("reads", c->sql, st->reads, st->n_reads, c->reads);
    expect_names("writes", c->sql, st->writes, st->n_writes, c->writes);
    cr_expect_eq(st->volatile_calls, c->vol, "[%s]: volatile_calls %d", c->sql,
                 st->volatile_calls);
    if (c->funcs)
        expect_names("functions", c->sql, st->functions, st->n_functions, c->funcs);
    if (c->kind == CLASSIFY_ERROR) {
        cr_expect_not_null(r->error, "[%s]: no error message", c->sql);
        cr_expect_gt(r->error_cursor, 0, "[%s]: no cursor", c->sql);
    } else if (c->kind != CLASSIFY_EMPTY) {
        cr_expect_null(r->error, "[%s]: unexpected error %s", c->sql, r->error);
        cr_expect_eq(strlen(st->fingerprint), 16, "[%s]: fingerprint '%s'", c->sql,
                     st->fingerprint);
    }
    classify_result_free(r);
}

/* The table is the contract's breadth: keep it at 200 statements or more. */
Test(classify, table_size)
{
    cr_expect_geq(sizeof cases / sizeof cases[0], 200, "only %zu statements",
                  sizeof cases / sizeof cases[0]);
}
