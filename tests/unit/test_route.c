/* Table-driven tests for routing/route_decide: each case runs real SQL through classify_sql
 * and route_decide under one of several configs (the auth, product, cart and promotion
 * services plus pgbench's tables, in different migration states) and checks the decision. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdio.h>
#include <string.h>

#include "routing/classify.h"
#include "routing/route.h"

/* ---- fixtures: the services, then the states each config puts them in */

enum { AUTH, PRODUCT, CART, PROMOTION, BENCH, N_SVCS };

static const char *const auth_tables[] = {"users", "user_sessions", "public.user_profiles",
                                          "auth.*"};
static const char *const product_tables[] = {"categories", "public.products", "product_*"};
static const char *const cart_tables[] = {"carts", "cart_items", "wishlist*"};
static const char *const promotion_tables[] = {
    "promo_codes",          "promo_usage",      "promotion_campaigns", "campaign_promo_codes",
    "user_promo_eligibility", "promo_analytics", "promo_suggestions"};
static const char *const bench_tables[] = {"pgbench_*"};

typedef struct state {
    route_writes w;
    route_side p;
    route_reads r;
} state;

#define ST_LEGACY {ROUTE_WRITES_LEGACY, ROUTE_LEGACY, ROUTE_READS_LEGACY}
#define ST_DUAL {ROUTE_WRITES_DUAL, ROUTE_LEGACY, ROUTE_READS_LEGACY}
#define ST_DUAL_SHADOW {ROUTE_WRITES_DUAL, ROUTE_LEGACY, ROUTE_READS_SHADOW}
#define ST_DUAL_READSVC {ROUTE_WRITES_DUAL, ROUTE_LEGACY, ROUTE_READS_SERVICE}
#define ST_SVCPRI {ROUTE_WRITES_DUAL, ROUTE_SERVICE, ROUTE_READS_SERVICE}
#define ST_SVCPRI_LEGREADS {ROUTE_WRITES_DUAL, ROUTE_SERVICE, ROUTE_READS_LEGACY}
#define ST_SVCPRI_SHADOW {ROUTE_WRITES_DUAL, ROUTE_SERVICE, ROUTE_READS_SHADOW}
#define ST_SERVICE {ROUTE_WRITES_SERVICE, ROUTE_SERVICE, ROUTE_READS_SERVICE}

typedef enum fixture {
    FX_LEGACY, /* everyone legacy-only: behaviour must be the monolith's */
    FX_DUAL,   /* everyone in dual writes, legacy primary */
    FX_A,      /* auth cut over, product service-primary, cart shadow, promotion dual,
                  bench reading from service; cross-service writes rejected */
    FX_B,      /* auth service-primary shadow, product reading from service, cart cut over,
                  promotion service-primary reading legacy, bench legacy; cross -> legacy */
    FX_C,      /* FX_A's states with cross-service writes sent to legacy */
    N_FX
} fixture;

static const struct {
    state s[N_SVCS];
    route_cross cross;
} fixtures[N_FX] = {
    [FX_LEGACY] = {{ST_LEGACY, ST_LEGACY, ST_LEGACY, ST_LEGACY, ST_LEGACY}, ROUTE_CROSS_REJECT},
    [FX_DUAL] = {{ST_DUAL, ST_DUAL, ST_DUAL, ST_DUAL, ST_DUAL}, ROUTE_CROSS_REJECT},
    [FX_A] = {{ST_SERVICE, ST_SVCPRI, ST_DUAL_SHADOW, ST_DUAL, ST_DUAL_READSVC},
              ROUTE_CROSS_REJECT},
    [FX_B] = {{ST_SVCPRI_SHADOW, ST_DUAL_READSVC, ST_SERVICE, ST_SVCPRI_LEGREADS, ST_LEGACY},
              ROUTE_CROSS_LEGACY},
    [FX_C] = {{ST_SERVICE, ST_SVCPRI, ST_DUAL_SHADOW, ST_DUAL, ST_DUAL_READSVC},
              ROUTE_CROSS_LEGACY},
};

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

static route_map *fixture_map(fixture fx)
{
    route_service svcs[N_SVCS] = {
        {"auth", auth_tables, N_OF(auth_tables), 0, 0, 0},
        {"product", product_tables, N_OF(product_tables), 0, 0, 0},
        {"cart", cart_tables, N_OF(cart_tables), 0, 0, 0},
        {"promotion", promotion_tables, N_OF(promotion_tables), 0, 0, 0},
        {"bench", bench_tables, N_OF(bench_tables), 0, 0, 0},
    };
    for (int i = 0; i < N_SVCS; i++) {
        svcs[i].writes = fixtures[fx].s[i].w;
        svcs[i].primary = fixtures[fx].s[i].p;
        svcs[i].reads = fixtures[fx].s[i].r;
    }
    char err[256];
    route_map *m = route_map_new(svcs, N_SVCS, fixtures[fx].cross, err, sizeof err);
    cr_assert_not_null(m, "fixture %d: %s", (int)fx, err);
    return m;
}

/* ---- cases */

enum { F_REC = 1, F_PREP = 2, F_CURSOR = 4 };

typedef struct rcase {
    fixture fx;
    const char *sql;
    route_action action;
    const char *svc; /* service name, NULL for -1 */
    route_side primary;
    bool shadow;
    bool images;
    const char *msg; /* REJECT: substrings of the message, separated by '|' */
    unsigned flags;
} rcase;

#define LEG ROUTE_RUN_LEGACY
#define SVC ROUTE_RUN_SERVICE
#define PRI ROUTE_RUN_PRIMARY
#define DUA ROUTE_RUN_DUAL
#define EVR ROUTE_RUN_EVERYWHERE
#define REJ ROUTE_REJECT
#define PL ROUTE_LEGACY
#define PS ROUTE_SERVICE

/* the common shapes: no flags, no message */
#define R(fx, sql, act, svc, prim) {fx, sql, act, svc, prim, false, false, NULL, 0}
#define SHADOW(fx, sql, act, svc, prim) {fx, sql, act, svc, prim, true, false, NULL, 0}
#define TEXT(fx, sql, svc, prim) {fx, sql, DUA, svc, prim, false, false, NULL, 0}
#define IMAGES(fx, sql, svc, prim) {fx, sql, DUA, svc, prim, false, true, NULL, 0}
#define NO(fx, sql, svc, prim, msg) {fx, sql, REJ, svc, prim, false, false, msg, 0}
#define FLAG(fx, sql, act, flags) {fx, sql, act, NULL, PL, false, false, NULL, flags}

#define STALE_AUTH "service auth has moved to its own database"
#define STALE_CART "service cart has moved to its own database"
#define CROSS "writes tables of several services|split it into one statement per service"
#define DDL_NO "must be applied to both databases by the migration team"

static const rcase cases[] = {
    /* ---- nothing to route: the server answers */
    R(FX_A, "", LEG, NULL, PL),
    R(FX_A, "  -- only a comment", LEG, NULL, PL),
    R(FX_A, ";", LEG, NULL, PL),
    R(FX_A, "SELEC * FROM users", LEG, NULL, PL),
    R(FX_A, "INSERT INTO carts (", LEG, NULL, PL),

    /* ---- transaction control: every backend of the session */
    R(FX_A, "BEGIN", EVR, NULL, PL),
    R(FX_A, "START TRANSACTION ISOLATION LEVEL SERIALIZABLE", EVR, NULL, PL),
    R(FX_A, "BEGIN READ ONLY", EVR, NULL, PL),
    R(FX_A, "COMMIT", EVR, NULL, PL),
    R(FX_A, "END", EVR, NULL, PL),
    R(FX_A, "ROLLBACK", EVR, NULL, PL),
    R(FX_A, "ABORT", EVR, NULL, PL),
    R(FX_A, "COMMIT AND CHAIN", EVR, NULL, PL),
    R(FX_A, "SAVEPOINT before_promo", EVR, NULL, PL),
    R(FX_A, "RELEASE SAVEPOINT before_promo", EVR, NULL, PL),
    R(FX_A, "ROLLBACK TO SAVEPOINT before_promo", EVR, NULL, PL),
    R(FX_A, "PREPARE TRANSACTION 'order-42'", EVR, NULL, PL),
    R(FX_A, "COMMIT PREPARED 'order-42'", EVR, NULL, PL),
    R(FX_A, "ROLLBACK PREPARED 'order-42'", EVR, NULL, PL),
    R(FX_LEGACY, "BEGIN", EVR, NULL, PL),

    /* ---- session state: everywhere, except notifications and lookups */
    R(FX_A, "SET search_path TO public", EVR, NULL, PL),
    R(FX_A, "SET LOCAL statement_timeout = 5000", EVR, NULL, PL),
    R(FX_A, "SET TIME ZONE 'UTC'", EVR, NULL, PL),
    R(FX_A, "SET ROLE app_readonly", EVR, NULL, PL),
    R(FX_A, "SET SESSION AUTHORIZATION cart_user", EVR, NULL, PL),
    R(FX_A, "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ", EVR, NULL, PL),
    R(FX_A, "SET CONSTRAINTS ALL DEFERRED", EVR, NULL, PL),
    R(FX_A, "RESET ALL", EVR, NULL, PL),
    R(FX_A, "RESET search_path", EVR, NULL, PL),
    R(FX_A, "DISCARD ALL", EVR, NULL, PL),
    R(FX_A, "DISCARD TEMP", EVR, NULL, PL),
    R(FX_A, "PREPARE add_item AS INSERT INTO cart_items (cart_id, product_id) VALUES ($1, $2)",
      EVR, NULL, PL),
    R(FX_A, "PREPARE get_user (int) AS SELECT * FROM users WHERE id = $1", EVR, NULL, PL),
    R(FX_A, "DEALLOCATE add_item", EVR, NULL, PL),
    R(FX_A, "DEALLOCATE ALL", EVR, NULL, PL),
    R(FX_A, "LOAD 'auto_explain'", EVR, NULL, PL),
    R(FX_A, "CLOSE ALL", EVR, NULL, PL),
    R(FX_A, "SELECT set_config('app.user_id', '42', false)", EVR, NULL, PL),
    R(FX_A, "LISTEN cart_events", LEG, NULL, PL),
    R(FX_A, "UNLISTEN *", LEG, NULL, PL),
    R(FX_A, "NOTIFY cart_events, 'cart 7 changed'", LEG, NULL, PL),
    R(FX_A, "SELECT pg_notify('cart_events', 'x')", LEG, NULL, PL),
    FLAG(FX_A, "EXECUTE add_item(1, 2)", LEG, F_PREP),
    FLAG(FX_A, "EXECUTE get_user(7)", LEG, F_PREP),
    FLAG(FX_A, "FETCH 100 FROM cart_cursor", LEG, F_CURSOR),
    FLAG(FX_A, "MOVE NEXT IN cart_cursor", LEG, F_CURSOR),
    FLAG(FX_A, "CLOSE cart_cursor", LEG, F_CURSOR),
    R(FX_A, "SHOW search_path", LEG, NULL, PL),
    R(FX_A, "SELECT pg_advisory_lock(42)", LEG, NULL, PL),

    /* ---- reads, everyone on legacy */
    R(FX_LEGACY, "SELECT * FROM users WHERE id = $1", LEG, "auth", PL),
    R(FX_LEGACY, "SELECT * FROM carts c JOIN products p ON p.id = c.product_id", LEG, NULL, PL),
    R(FX_LEGACY, "SELECT * FROM audit_log", LEG, NULL, PL),
    R(FX_DUAL, "SELECT * FROM carts WHERE user_id = $1", LEG, "cart", PL),
    R(FX_DUAL, "SELECT abalance FROM pgbench_accounts WHERE aid = $1", LEG, "bench", PL),

    /* ---- reads under FX_A */
    R(FX_A, "SELECT * FROM users WHERE id = $1", SVC, "auth", PS),
    R(FX_A, "SELECT u.id, p.bio FROM users u JOIN user_profiles p ON p.user_id = u.id", SVC,
      "auth", PS),
    R(FX_A, "SELECT * FROM public.user_sessions WHERE token = $1", SVC, "auth", PS),
    R(FX_A, "SELECT * FROM auth.login_attempts WHERE user_id = $1", SVC, "auth", PS),
    R(FX_A, "DECLARE uc CURSOR FOR SELECT * FROM users", SVC, "auth", PS),
    NO(FX_A, "SELECT * FROM users u JOIN audit_log a ON a.user_id = u.id", "auth", PS,
       STALE_AUTH "|users: auth, audit_log: legacy|query them separately"),
    NO(FX_A, "SELECT * FROM users u JOIN carts c ON c.user_id = u.id", NULL, PL,
       STALE_AUTH "|users: auth, carts: cart"),
    NO(FX_A, "SELECT * FROM carts WHERE user_id IN (SELECT id FROM users WHERE email = $1)",
       NULL, PL, STALE_AUTH),
    R(FX_A, "SELECT * FROM products WHERE id = $1", SVC, "product", PS),
    R(FX_A, "SELECT * FROM public.products p JOIN product_inventory i ON i.product_id = p.id",
      SVC, "product", PS),
    R(FX_A, "SELECT * FROM product_variants WHERE product_id = $1", SVC, "product", PS),
    R(FX_A, "TABLE categories", SVC, "product", PS),
    R(FX_A, "COPY (SELECT * FROM products) TO STDOUT", SVC, "product", PS),
    R(FX_A, "EXPLAIN SELECT * FROM products WHERE price > 10", SVC, "product", PS),
    SHADOW(FX_A, "SELECT * FROM carts WHERE user_id = $1", LEG, "cart", PL),
    SHADOW(FX_A, "SELECT * FROM cart_items ci JOIN carts c ON c.id = ci.cart_id", LEG, "cart",
           PL),
    SHADOW(FX_A, "SELECT * FROM wishlist_items WHERE wishlist_id = $1", LEG, "cart", PL),
    SHADOW(FX_A, "WITH c AS (SELECT * FROM carts) SELECT count(*) FROM c", LEG, "cart", PL),
    SHADOW(FX_A, "COPY carts TO STDOUT", LEG, "cart", PL),
    R(FX_A, "DECLARE cart_cursor CURSOR FOR SELECT * FROM cart_items", LEG, "cart", PL),
    R(FX_A, "EXPLAIN UPDATE carts SET status = 'closed' WHERE id = 1", LEG, "cart", PL),
    R(FX_A, "EXPLAIN (ANALYZE, BUFFERS) SELECT * FROM carts WHERE id = 1", LEG, "cart", PL),
    R(FX_B, "DECLARE uc CURSOR FOR SELECT * FROM users", SVC, "auth", PS),
    R(FX_A, "SELECT * FROM promo_codes WHERE code = $1", LEG, "promotion", PL),
    R(FX_A, "SELECT * FROM promo_codes UNION ALL SELECT * FROM promo_usage", LEG, "promotion",
      PL),
    R(FX_A, "SELECT abalance FROM pgbench_accounts WHERE aid = $1", SVC, "bench", PL),
    R(FX_A, "SELECT * FROM carts c JOIN products p ON p.id = c.product_id", LEG, NULL, PL),
    R(FX_A, "SELECT * FROM carts c JOIN audit_log a ON a.cart_id = c.id", LEG, "cart", PL),
    R(FX_A, "SELECT * FROM promo_codes p JOIN promotion_campaigns c ON c.id = p.campaign_id "
            "JOIN cart_items i ON i.promo_code_id = p.id",
      LEG, NULL, PL),
    R(FX_A, "SELECT * FROM audit_log ORDER BY id DESC LIMIT 10", LEG, NULL, PL),
    R(FX_A, "SELECT * FROM order_summary_view", LEG, NULL, PL),
    R(FX_A, "SELECT count(*) FROM pg_catalog.pg_class", LEG, NULL, PL),
    R(FX_A, "SELECT table_name FROM information_schema.tables", LEG, NULL, PL),
    R(FX_A, "SELECT * FROM pg_temp.scratch", LEG, NULL, PL),
    R(FX_A, "SELECT * FROM billing.users", LEG, NULL, PL),
    R(FX_A, "SELECT 1", LEG, NULL, PL),
    R(FX_A, "SELECT now()", LEG, NULL, PL),
    R(FX_A, "SELECT nextval('carts_id_seq')", LEG, NULL, PL),
    R(FX_A, "VALUES (1, 'a'), (2, 'b')", LEG, NULL, PL),

    /* ---- reads under FX_B */
    SHADOW(FX_B, "SELECT * FROM users WHERE email = $1", SVC, "auth", PS),
    SHADOW(FX_B, "SELECT * FROM user_sessions s JOIN users u ON u.id = s.user_id", SVC, "auth",
           PS),
    R(FX_B, "SELECT * FROM products WHERE category_id = $1", SVC, "product", PL),
    R(FX_B, "SELECT * FROM carts WHERE user_id = $1", SVC, "cart", PS),
    R(FX_B, "SELECT * FROM wishlists w JOIN wishlist_items i ON i.wishlist_id = w.id", SVC,
      "cart", PS),
    R(FX_B, "SELECT * FROM promo_codes WHERE code = $1", LEG, "promotion", PS),
    R(FX_B, "SELECT * FROM pgbench_branches", LEG, "bench", PL),
    R(FX_B, "SELECT * FROM users u JOIN promo_usage p ON p.user_id = u.id", LEG, NULL, PL),
    NO(FX_B, "SELECT * FROM carts c JOIN products p ON p.id = c.product_id", NULL, PL,
       STALE_CART),
    NO(FX_B, "SELECT i.*, (SELECT name FROM products WHERE id = i.product_id) FROM cart_items i",
       NULL, PL, STALE_CART "|products: product"),
    NO(FX_B, "SELECT * FROM carts JOIN audit_log USING (id)", "cart", PS, STALE_CART),

    /* ---- locking reads: on the primary */
    R(FX_LEGACY, "SELECT * FROM carts WHERE id = 1 FOR UPDATE", LEG, "cart", PL),
    R(FX_A, "SELECT * FROM carts WHERE id = 1 FOR UPDATE", PRI, "cart", PL),
    R(FX_A, "SELECT * FROM cart_items WHERE cart_id = $1 FOR SHARE", PRI, "cart", PL),
    R(FX_A, "SELECT * FROM products WHERE id = 1 FOR UPDATE", PRI, "product", PS),
    R(FX_A, "SELECT * FROM product_inventory WHERE product_id = $1 FOR NO KEY UPDATE", PRI,
      "product", PS),
    R(FX_A, "SELECT * FROM users WHERE id = 1 FOR UPDATE", SVC, "auth", PS),
    R(FX_A, "SELECT * FROM pgbench_accounts WHERE aid = 1 FOR UPDATE", PRI, "bench", PL),
    R(FX_A, "SELECT * FROM audit_log WHERE id = 1 FOR UPDATE", LEG, NULL, PL),
    R(FX_A, "SELECT * FROM carts c JOIN promo_codes p ON p.id = c.promo_id FOR UPDATE", LEG,
      NULL, PL),
    R(FX_A, "SELECT * FROM carts c JOIN products p ON p.id = c.product_id FOR UPDATE OF c", LEG,
      NULL, PL),
    NO(FX_A, "SELECT * FROM carts c JOIN products p ON p.id = c.product_id FOR UPDATE", NULL, PL,
       "locks tables whose writers lock them on different databases|service product's primary"),
    NO(FX_A, "SELECT * FROM cart_items i JOIN users u ON u.id = i.user_id FOR UPDATE OF i",
       NULL, PL, STALE_AUTH),
    R(FX_A, "SELECT * FROM audit_log a JOIN promo_codes p ON p.id = a.promo_id FOR UPDATE", LEG,
      "promotion", PL),
    R(FX_B, "SELECT * FROM carts WHERE id = 1 FOR UPDATE", SVC, "cart", PS),
    R(FX_B, "SELECT * FROM users WHERE id = 1 FOR NO KEY UPDATE", PRI, "auth", PS),
    R(FX_B, "SELECT * FROM promo_codes WHERE id = 1 FOR UPDATE SKIP LOCKED", PRI, "promotion",
      PS),
    R(FX_B, "SELECT * FROM pgbench_tellers WHERE tid = 1 FOR UPDATE", LEG, "bench", PL),
    R(FX_B, "DECLARE lc CURSOR FOR SELECT * FROM products WHERE id = 1 FOR UPDATE", PRI,
      "product", PL),

    /* ---- LOCK TABLE: like a locking read */
    R(FX_A, "LOCK TABLE carts IN SHARE ROW EXCLUSIVE MODE", PRI, "cart", PL),
    R(FX_A, "LOCK products", PRI, "product", PS),
    R(FX_A, "LOCK TABLE users IN ACCESS EXCLUSIVE MODE", SVC, "auth", PS),
    R(FX_A, "LOCK TABLE audit_log", LEG, NULL, PL),
    R(FX_A, "LOCK TABLE carts, promo_codes IN EXCLUSIVE MODE", LEG, NULL, PL),
    NO(FX_A, "LOCK TABLE carts, products IN EXCLUSIVE MODE", NULL, PL,
       "carts: cart, products: product"),
    NO(FX_A, "LOCK TABLE users, audit_log", "auth", PS, STALE_AUTH),
    R(FX_LEGACY, "LOCK TABLE carts, products IN EXCLUSIVE MODE", LEG, NULL, PL),

    /* ---- writes, everyone on legacy: the monolith's behaviour, cross-service included */
    R(FX_LEGACY, "INSERT INTO carts (user_id) VALUES (1)", LEG, "cart", PL),
    R(FX_LEGACY, "UPDATE users SET last_login = now() WHERE id = $1", LEG, "auth", PL),
    R(FX_LEGACY, "WITH u AS (UPDATE carts SET promo_id = NULL WHERE id = 1) "
                 "DELETE FROM promo_usage WHERE cart_id = 1",
      LEG, NULL, PL),
    R(FX_LEGACY, "INSERT INTO audit_log (cart_id) SELECT id FROM carts", LEG, NULL, PL),

    /* ---- dual writes: text when deterministic, row images otherwise */
    TEXT(FX_DUAL, "INSERT INTO carts (user_id, status) VALUES ($1, 'open')", "cart", PL),
    TEXT(FX_DUAL, "INSERT INTO carts (id, user_id) VALUES (1, 2), (2, 3)", "cart", PL),
    IMAGES(FX_DUAL, "INSERT INTO carts (user_id, created_at) VALUES ($1, now())", "cart", PL),
    IMAGES(FX_DUAL, "INSERT INTO carts VALUES (1, 2)", "cart", PL),
    IMAGES(FX_DUAL, "INSERT INTO carts DEFAULT VALUES", "cart", PL),
    IMAGES(FX_DUAL, "INSERT INTO carts (id, user_id) VALUES (DEFAULT, 1)", "cart", PL),
    IMAGES(FX_DUAL, "INSERT INTO carts (id, user_id) VALUES (nextval('carts_id_seq'), 1)",
           "cart", PL),
    IMAGES(FX_DUAL, "INSERT INTO users (id, email) VALUES (gen_random_uuid(), $1)", "auth", PL),
    IMAGES(FX_DUAL, "INSERT INTO promo_usage (id, used_at) VALUES (1, 'now')", "promotion", PL),
    TEXT(FX_DUAL, "UPDATE carts SET status = 'closed' WHERE id = $1", "cart", PL),
    IMAGES(FX_DUAL, "UPDATE carts SET updated_at = CURRENT_TIMESTAMP WHERE id = 1", "cart", PL),
    TEXT(FX_DUAL, "UPDATE carts SET status = lower($1) WHERE id = 1", "cart", PL),
    TEXT(FX_DUAL, "UPDATE users SET email = lower(trim(email))", "auth", PL),
    TEXT(FX_DUAL, "UPDATE users SET email = pg_catalog.lower(email)", "auth", PL),
    IMAGES(FX_DUAL, "UPDATE users SET email = public.lower(email)", "auth", PL),
    IMAGES(FX_DUAL, "UPDATE users SET display_name = format_name(first_name, last_name)", "auth",
           PL),
    IMAGES(FX_DUAL, "UPDATE products SET price = price * random()", "product", PL),
    TEXT(FX_DUAL,
         "UPDATE products SET attrs = jsonb_set(attrs, '{color}', to_jsonb($1::text)) "
         "WHERE id = $2",
         "product", PL),
    TEXT(FX_DUAL, "UPDATE products SET name = concat(upper(substring(name, 1, 1)), name)",
         "product", PL),
    TEXT(FX_DUAL, "DELETE FROM carts WHERE id = $1", "cart", PL),
    TEXT(FX_DUAL,
         "DELETE FROM cart_items WHERE cart_id IN (SELECT id FROM carts WHERE user_id = $1)",
         "cart", PL),
    IMAGES(FX_DUAL, "DELETE FROM carts WHERE created_at < now() - interval '30 days'", "cart",
           PL),
    TEXT(FX_DUAL,
         "UPDATE product_inventory SET quantity = quantity - 1 WHERE product_id = $1 "
         "RETURNING quantity",
         "product", PL),
    IMAGES(FX_DUAL,
           "INSERT INTO cart_items (cart_id, product_id, price) "
           "SELECT $1, id, price FROM products WHERE id = $2",
           "cart", PL),
    TEXT(FX_DUAL,
         "INSERT INTO cart_items (cart_id, product_id) SELECT c.id, $1 FROM carts c "
         "WHERE c.user_id = $2",
         "cart", PL),
    TEXT(FX_DUAL,
         "INSERT INTO promo_usage (promo_code_id, user_id) SELECT id, $1 FROM promo_codes "
         "WHERE code = $2",
         "promotion", PL),
    TEXT(FX_DUAL,
         "UPDATE promo_codes p SET uses = p.uses + 1 FROM promo_usage u "
         "WHERE u.promo_code_id = p.id AND u.id = $1",
         "promotion", PL),
    TEXT(FX_DUAL,
         "INSERT INTO promo_analytics (promo_code_id, views) VALUES ($1, 1) "
         "ON CONFLICT (promo_code_id) DO UPDATE SET views = promo_analytics.views + 1",
         "promotion", PL),
    IMAGES(FX_DUAL, "UPDATE carts SET note = a.note FROM audit_log a WHERE a.cart_id = carts.id",
           "cart", PL),
    TEXT(FX_DUAL, "TRUNCATE carts, cart_items", "cart", PL),
    TEXT(FX_DUAL, "TRUNCATE pgbench_history", "bench", PL),
    TEXT(FX_DUAL, "COPY carts FROM STDIN", "cart", PL),
    TEXT(FX_DUAL, "COPY carts (id, user_id) FROM STDIN WITH (FORMAT csv)", "cart", PL),
    TEXT(FX_DUAL,
         "MERGE INTO product_inventory t USING products p ON t.product_id = p.id "
         "WHEN MATCHED THEN UPDATE SET quantity = 0",
         "product", PL),
    IMAGES(FX_DUAL,
           "MERGE INTO cart_items ci USING products p ON ci.product_id = p.id "
           "WHEN MATCHED THEN UPDATE SET price = p.price",
           "cart", PL),
    IMAGES(FX_DUAL,
           "WITH n AS (INSERT INTO carts (user_id, created_at) VALUES (1, now()) RETURNING id) "
           "SELECT id FROM n",
           "cart", PL),
    IMAGES(FX_DUAL,
           "WITH d AS (DELETE FROM cart_items WHERE cart_id = $1 RETURNING product_id) "
           "SELECT count(*) FROM d",
           "cart", PL),
    TEXT(FX_DUAL, "UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2", "bench",
         PL),
    TEXT(FX_DUAL, "UPDATE pgbench_tellers SET tbalance = tbalance + $1 WHERE tid = $2", "bench",
         PL),
    IMAGES(FX_DUAL,
           "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) "
           "VALUES ($1, $2, $3, $4, CURRENT_TIMESTAMP)",
           "bench", PL),
    TEXT(FX_DUAL, "EXPLAIN ANALYZE UPDATE carts SET status = 'x' WHERE id = 1", "cart", PL),
    NO(FX_DUAL, "EXPLAIN ANALYZE INSERT INTO carts (user_id, created_at) VALUES (1, now())",
       "cart", PL, "EXPLAIN ANALYZE of this write to tables of service cart"),
    R(FX_DUAL, "INSERT INTO audit_log (event) VALUES ('login')", LEG, NULL, PL),
    R(FX_DUAL, "INSERT INTO audit_log (user_id) SELECT id FROM users", LEG, NULL, PL),
    NO(FX_DUAL,
       "WITH u AS (UPDATE carts SET promo_id = NULL WHERE id = 1 RETURNING id) "
       "DELETE FROM promo_usage WHERE cart_id IN (SELECT id FROM u)",
       NULL, PL, CROSS "|carts: cart|promo_usage: promotion"),
    NO(FX_DUAL,
       "WITH a AS (INSERT INTO audit_log (event) VALUES ('add')) "
       "INSERT INTO cart_items (cart_id, product_id) VALUES (1, 2)",
       "cart", PL, CROSS "|cart_items: cart|audit_log: legacy"),

    /* ---- writes under FX_A */
    R(FX_A, "INSERT INTO users (email, name) VALUES ($1, $2)", SVC, "auth", PS),
    R(FX_A, "UPDATE users SET last_login = now() WHERE id = $1", SVC, "auth", PS),
    R(FX_A, "DELETE FROM user_sessions WHERE expires_at < now()", SVC, "auth", PS),
    R(FX_A, "INSERT INTO auth.login_attempts (user_id) VALUES (1)", SVC, "auth", PS),
    R(FX_A, "INSERT INTO users VALUES (DEFAULT, 'a@b.c')", SVC, "auth", PS),
    R(FX_A, "INSERT INTO user_sessions (user_id, token) SELECT id, $2 FROM users WHERE email = $1",
      SVC, "auth", PS),
    NO(FX_A, "UPDATE users SET cart_count = (SELECT count(*) FROM carts WHERE user_id = users.id)",
       "auth", PS,
       "service auth has moved to its own database, which does not have tables this statement "
       "reads (carts: cart)"),
    NO(FX_A, "INSERT INTO user_profiles (user_id, note) SELECT user_id, note FROM audit_log",
       "auth", PS, "(audit_log: legacy)|pass the values in"),
    TEXT(FX_A, "UPDATE products SET price = $1 WHERE id = $2", "product", PS),
    TEXT(FX_A, "INSERT INTO products (name, price) VALUES ($1, $2)", "product", PS),
    IMAGES(FX_A, "INSERT INTO product_images VALUES ($1, $2, $3)", "product", PS),
    TEXT(FX_A,
         "UPDATE product_inventory SET reserved = 0 WHERE product_id IN "
         "(SELECT id FROM products WHERE category_id = $1)",
         "product", PS),
    NO(FX_A,
       "UPDATE product_inventory i SET quantity = i.quantity - c.quantity FROM cart_items c "
       "WHERE c.product_id = i.product_id AND c.cart_id = $1",
       "product", PS, "whose primary is its own database|(cart_items: cart)"),
    IMAGES(FX_A,
           "INSERT INTO cart_items (cart_id, product_id, price) "
           "SELECT $1, id, price FROM products WHERE id = $2",
           "cart", PL),
    TEXT(FX_A, "INSERT INTO cart_items (cart_id, product_id) VALUES ($1, $2)", "cart", PL),
    IMAGES(FX_A, "DELETE FROM cart_items USING products p WHERE p.id = cart_items.product_id "
                 "AND p.active = false",
           "cart", PL),
    NO(FX_A, "UPDATE carts SET email = (SELECT email FROM users WHERE id = carts.user_id)",
       "cart", PL, STALE_AUTH "|users: auth"),
    TEXT(FX_A, "INSERT INTO promo_usage (promo_code_id, user_id) VALUES ($1, $2)", "promotion",
         PL),
    NO(FX_A,
       "INSERT INTO promo_usage (promo_code_id, user_id) SELECT p.id, u.id FROM promo_codes p, "
       "users u WHERE u.email = $1",
       "promotion", PL, STALE_AUTH),
    NO(FX_A, "INSERT INTO audit_log (user_id) SELECT id FROM users", NULL, PL, STALE_AUTH),
    R(FX_A, "INSERT INTO audit_log (event) VALUES ('x')", LEG, NULL, PL),
    R(FX_A, "UPDATE audit_log SET seen = true FROM carts WHERE carts.id = audit_log.cart_id", LEG,
      NULL, PL),
    TEXT(FX_A, "UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid = 1", "bench", PL),
    NO(FX_A,
       "WITH u AS (UPDATE carts SET promo_id = NULL WHERE id = 1) "
       "DELETE FROM promo_usage WHERE cart_id = 1",
       NULL, PL, CROSS),
    NO(FX_A,
       "WITH s AS (DELETE FROM user_sessions WHERE user_id = 1) "
       "INSERT INTO audit_log (event) VALUES ('logout')",
       "auth", PS, CROSS "|audit_log: legacy|user_sessions: auth"),
    TEXT(FX_A,
         "WITH s AS (UPDATE pgbench_branches SET bbalance = 0) "
         "UPDATE pgbench_accounts SET abalance = 0",
         "bench", PL),

    /* ---- FX_C: FX_A with cross-service writes sent to legacy and recorded */
    {FX_C,
     "WITH u AS (UPDATE carts SET promo_id = NULL WHERE id = 1) "
     "DELETE FROM promo_usage WHERE cart_id = 1",
     LEG, NULL, PL, false, false, NULL, F_REC},
    {FX_C,
     "WITH a AS (INSERT INTO audit_log (event) VALUES ('add')) "
     "INSERT INTO cart_items (cart_id, product_id) VALUES (1, 2)",
     LEG, "cart", PL, false, false, NULL, F_REC},
    NO(FX_C,
       "WITH s AS (DELETE FROM user_sessions WHERE user_id = 1) "
       "INSERT INTO audit_log (event) VALUES ('logout')",
       "auth", PS, STALE_AUTH),
    NO(FX_C,
       "WITH u AS (UPDATE carts SET promo_id = NULL WHERE user_id IN (SELECT id FROM users)) "
       "DELETE FROM promo_usage WHERE cart_id = 1",
       NULL, PL, STALE_AUTH),
    TEXT(FX_C, "INSERT INTO cart_items (cart_id, product_id) VALUES ($1, $2)", "cart", PL),

    /* ---- writes under FX_B */
    TEXT(FX_B, "INSERT INTO users (email) VALUES ($1)", "auth", PS),
    TEXT(FX_B, "UPDATE user_profiles SET bio = $1 WHERE user_id = $2", "auth", PS),
    IMAGES(FX_B,
           "INSERT INTO user_sessions (user_id, token, expires_at) "
           "VALUES ($1, $2, now() + interval '1 day')",
           "auth", PS),
    NO(FX_B,
       "INSERT INTO promo_usage (promo_code_id, user_id) SELECT $1, id FROM users WHERE email = $2",
       "promotion", PS, "service promotion, whose primary is its own database|(users: auth)"),
    R(FX_B, "INSERT INTO carts (user_id) VALUES (1)", SVC, "cart", PS),
    R(FX_B, "UPDATE wishlists SET name = $1 WHERE id = $2", SVC, "cart", PS),
    NO(FX_B,
       "INSERT INTO cart_items (cart_id, product_id, price) SELECT $1, id, price FROM products",
       "cart", PS, STALE_CART ", which does not have tables this statement reads"),
    TEXT(FX_B, "UPDATE products SET price = $1 WHERE id = $2", "product", PL),
    R(FX_B, "UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid = 1", LEG, "bench",
      PL),
    NO(FX_B, "INSERT INTO pgbench_history (aid, delta) SELECT user_id, 1 FROM carts", "bench",
       PL, STALE_CART),
    {FX_B,
     "WITH p AS (UPDATE users SET promo_count = promo_count + 1 WHERE id = 1) "
     "INSERT INTO promo_usage (promo_code_id, user_id) VALUES (1, 1)",
     LEG, NULL, PL, false, false, NULL, F_REC},
    NO(FX_B,
       "WITH c AS (DELETE FROM carts WHERE id = 1) UPDATE products SET stock = stock + 1",
       NULL, PL, STALE_CART),
    R(FX_B, "WITH h AS (INSERT INTO audit_log (event) VALUES ('x')) "
            "INSERT INTO pgbench_history (aid, delta) VALUES (1, 1)",
      LEG, "bench", PL),

    /* ---- DDL */
    R(FX_LEGACY, "ALTER TABLE carts ADD COLUMN note text", LEG, "cart", PL),
    R(FX_LEGACY, "CREATE INDEX ON products (name)", LEG, "product", PL),
    NO(FX_A, "ALTER TABLE carts ADD COLUMN note text", "cart", PL, DDL_NO "|(carts: cart)"),
    NO(FX_A, "CREATE INDEX CONCURRENTLY products_name ON products (name)", "product", PS, DDL_NO),
    NO(FX_A, "DROP TABLE users", "auth", PS, DDL_NO "|users: auth"),
    NO(FX_A, "CREATE TABLE auth.tokens (id int)", "auth", PS, DDL_NO "|auth.tokens: auth"),
    NO(FX_A, "COMMENT ON TABLE promo_codes IS 'codes'", "promotion", PL, DDL_NO),
    NO(FX_A, "GRANT SELECT ON pgbench_accounts TO reporting", "bench", PL, DDL_NO),
    NO(FX_A, "ALTER TABLE audit_log ADD FOREIGN KEY (user_id) REFERENCES users (id)", "auth", PS,
       DDL_NO "|(users: auth)"),
    NO(FX_A, "CREATE VIEW cart_totals AS SELECT cart_id, count(*) FROM cart_items GROUP BY 1",
       "cart", PL, DDL_NO "|cart_items: cart"),
    NO(FX_A, "SELECT * INTO promo_report FROM promo_codes", "promotion", PL, DDL_NO),
    NO(FX_A, "CREATE TEMP TABLE tmp_carts AS SELECT * FROM carts", "cart", PL, DDL_NO),
    R(FX_A, "CREATE TABLE audit_log_2024 (id bigint, event text)", LEG, NULL, PL),
    R(FX_A, "CREATE TEMP TABLE tmp_ids (id int)", LEG, NULL, PL),
    R(FX_A, "CREATE TABLE pg_temp.scratch (id int)", LEG, NULL, PL),
    R(FX_A, "CREATE VIEW recent_events AS SELECT * FROM audit_log WHERE id > 100", LEG, NULL, PL),
    R(FX_A, "SELECT * INTO report FROM audit_log", LEG, NULL, PL),
    R(FX_A, "CREATE FUNCTION one() RETURNS int LANGUAGE sql AS 'SELECT 1'", LEG, NULL, PL),
    R(FX_A, "CREATE SEQUENCE audit_seq", LEG, NULL, PL),
    R(FX_B, "ALTER TABLE pgbench_accounts ADD COLUMN note text", LEG, "bench", PL),
    NO(FX_DUAL, "ALTER TABLE wishlists RENAME TO wish_lists", "cart", PL, DDL_NO),
    NO(FX_DUAL, "CREATE TABLE carts_backup (LIKE carts)", "cart", PL, DDL_NO "|carts: cart"),

    /* ---- maintenance, DO, CALL */
    R(FX_A, "VACUUM", LEG, NULL, PL),
    R(FX_A, "ANALYZE", LEG, NULL, PL),
    R(FX_A, "CHECKPOINT", LEG, NULL, PL),
    R(FX_A, "VACUUM ANALYZE carts", LEG, "cart", PL),
    R(FX_A, "REINDEX TABLE products", LEG, "product", PS),
    R(FX_A, "ANALYZE users", SVC, "auth", PS),
    R(FX_A, "VACUUM (VERBOSE) users, user_sessions", SVC, "auth", PS),
    R(FX_A, "CLUSTER users USING users_pkey", SVC, "auth", PS),
    NO(FX_A, "VACUUM users, audit_log", "auth", PS,
       "names tables that live on different databases|run it once per service"),
    R(FX_A, "REFRESH MATERIALIZED VIEW promo_stats", LEG, NULL, PL),
    R(FX_B, "VACUUM carts", SVC, "cart", PS),
    R(FX_A, "DO $$BEGIN UPDATE carts SET status = 'x'; END$$", LEG, NULL, PL),
    R(FX_A, "CALL refresh_cart_totals(1)", LEG, NULL, PL),
    R(FX_DUAL, "CALL expire_promotions()", LEG, NULL, PL),
};

/* Criterion re-executes the binary for each case, so pointers into this process's image
 * mean nothing there: the cases travel as indices into `cases`. */
static void free_indices(struct criterion_test_params *p)
{
    cr_free(p->params);
}

ParameterizedTestParameters(route, decide)
{
    size_t *idx = cr_malloc(N_OF(cases) * sizeof *idx);
    for (size_t i = 0; i < N_OF(cases); i++)
        idx[i] = i;
    return cr_make_param_array(size_t, idx, N_OF(cases), free_indices);
}

/* Checks every '|'-separated part of `want` occurs in `got`. */
static void assert_message_has(const char *got, const char *want, const char *sql)
{
    char part[512];
    while (*want) {
        const char *bar = strchr(want, '|');
        size_t n = bar ? (size_t)(bar - want) : strlen(want);
        cr_assert_lt(n, sizeof part);
        memcpy(part, want, n);
        part[n] = '\0';
        cr_expect(strstr(got, part) != NULL, "%s\n  message: %s\n  lacks: %s", sql, got, part);
        want += n + (bar ? 1 : 0);
    }
}

ParameterizedTest(size_t *i, route, decide)
{
    const rcase *c = &cases[*i];
    route_map *m = fixture_map(c->fx);
    classify_result *r = classify_sql(c->sql);
    cr_assert_not_null(r);
    cr_assert_eq(r->n_stmts, 1, "%s: %zu statements", c->sql, r->n_stmts);
    route_decision d;
    route_decide(m, &r->stmts[0], &d);

    const route_service *s = route_map_service(m, d.service);
    const char *got_svc = s ? s->name : "(none)";
    cr_expect_eq(d.action, c->action, "%s [fx %d]: action %s, want %s (%s)", c->sql, (int)c->fx,
                 route_action_name(d.action), route_action_name(c->action), d.message);
    cr_expect_str_eq(got_svc, c->svc ? c->svc : "(none)", "%s: service", c->sql);
    cr_expect_eq(d.primary, c->primary, "%s: primary %s", c->sql, route_side_name(d.primary));
    cr_expect_eq(d.shadow, c->shadow, "%s: shadow", c->sql);
    cr_expect_eq(d.row_images, c->images, "%s: row_images", c->sql);
    cr_expect_eq(d.legacy_only_recorded, (c->flags & F_REC) != 0, "%s: recorded", c->sql);
    cr_expect_eq(d.needs_prepared_lookup, (c->flags & F_PREP) != 0, "%s: prepared", c->sql);
    cr_expect_eq(d.needs_cursor_lookup, (c->flags & F_CURSOR) != 0, "%s: cursor", c->sql);
    if (c->action == ROUTE_REJECT) {
        cr_expect(d.sqlstate && strcmp(d.sqlstate, "0A000") == 0, "%s: sqlstate", c->sql);
        cr_expect(strncmp(d.message, "pgtandem: ", 10) == 0, "%s: %s", c->sql, d.message);
        if (c->msg)
            assert_message_has(d.message, c->msg, c->sql);
    } else {
        cr_expect_null(d.sqlstate, "%s: sqlstate set", c->sql);
        cr_expect_str_eq(d.message, "", "%s: message set", c->sql);
    }
    classify_result_free(r);
    route_map_free(m);
}

Test(route, enough_cases)
{
    cr_expect_geq(N_OF(cases), 150, "only %zu cases", N_OF(cases));
}

/* ---- beyond one statement of real SQL */

static void decide_sql(fixture fx, const char *sql, size_t n_want, route_decision *out)
{
    route_map *m = fixture_map(fx);
    classify_result *r = classify_sql(sql);
    cr_assert_not_null(r);
    cr_assert_eq(r->n_stmts, n_want, "%s", sql);
    for (size_t i = 0; i < r->n_stmts; i++)
        route_decide(m, &r->stmts[i], &out[i]);
    classify_result_free(r);
    route_map_free(m);
}

Test(route, each_statement_of_a_query_on_its_own)
{
    route_decision d[5];
    decide_sql(FX_A,
               "BEGIN; UPDATE carts SET status = 'paid' WHERE id = 1; SELECT * FROM carts; "
               "SELECT * FROM users; COMMIT",
               5, d);
    cr_expect_eq(d[0].action, ROUTE_RUN_EVERYWHERE);
    cr_expect_eq(d[1].action, ROUTE_RUN_DUAL);
    cr_expect_not(d[1].row_images);
    cr_expect_eq(d[2].action, ROUTE_RUN_LEGACY);
    cr_expect(d[2].shadow);
    cr_expect_eq(d[3].action, ROUTE_RUN_SERVICE);
    cr_expect_eq(d[4].action, ROUTE_RUN_EVERYWHERE);
}

/* The lookup route.h describes for EXECUTE: decide again with the PREPARE's inner kind. */
static route_decision decide_prepared(fixture fx, const char *prepare)
{
    route_map *m = fixture_map(fx);
    classify_result *r = classify_sql(prepare);
    cr_assert_not_null(r);
    classify_stmt inner = r->stmts[0];
    cr_assert_eq(inner.session, CLASSIFY_SESSION_PREPARE);
    inner.kind = inner.inner_kind;
    inner.session = CLASSIFY_SESSION_NONE;
    route_decision d;
    route_decide(m, &inner, &d);
    classify_result_free(r);
    route_map_free(m);
    return d;
}

Test(route, execute_decided_from_what_was_prepared)
{
    route_decision d = decide_prepared(
        FX_A, "PREPARE add_item AS INSERT INTO cart_items (cart_id, product_id) VALUES ($1, $2)");
    cr_expect_eq(d.action, ROUTE_RUN_DUAL);
    cr_expect_not(d.row_images);
    d = decide_prepared(FX_A,
                        "PREPARE new_cart AS INSERT INTO carts (user_id, created_at) "
                        "VALUES ($1, now())");
    cr_expect_eq(d.action, ROUTE_RUN_DUAL);
    cr_expect(d.row_images);
    d = decide_prepared(FX_A, "PREPARE get_user (int) AS SELECT * FROM users WHERE id = $1");
    cr_expect_eq(d.action, ROUTE_RUN_SERVICE);
    d = decide_prepared(FX_A, "PREPARE lock_cart AS SELECT * FROM carts WHERE id = $1 FOR UPDATE");
    cr_expect_eq(d.action, ROUTE_RUN_PRIMARY);
    cr_expect_eq(d.primary, ROUTE_LEGACY);
}

Test(route, opaque_is_never_dual)
{
    route_map *m = fixture_map(FX_DUAL);
    const classify_name carts = {NULL, "carts"};
    classify_stmt st = {.kind = CLASSIFY_WRITE, .writes = &carts, .n_writes = 1};
    route_decision d;
    route_decide(m, &st, &d);
    cr_expect_eq(d.action, ROUTE_RUN_DUAL); /* the same statement, not opaque */
    st.opaque = true;
    route_decide(m, &st, &d);
    cr_expect_eq(d.action, ROUTE_RUN_LEGACY);
    cr_expect_not(d.row_images);
    cr_expect_str_eq(route_map_service(m, d.service)->name, "cart");
    route_map_free(m);
}

Test(route, no_map_and_no_statement_mean_legacy)
{
    route_decision d[3];
    classify_result *r = classify_sql("UPDATE carts SET status = 'x'; BEGIN; SELECT * FROM users");
    cr_assert_not_null(r);
    for (size_t i = 0; i < 3; i++)
        route_decide(NULL, &r->stmts[i], &d[i]);
    cr_expect_eq(d[0].action, ROUTE_RUN_LEGACY);
    cr_expect_eq(d[0].service, -1);
    cr_expect_eq(d[1].action, ROUTE_RUN_EVERYWHERE);
    cr_expect_eq(d[2].action, ROUTE_RUN_LEGACY);
    route_decide(NULL, NULL, &d[0]);
    cr_expect_eq(d[0].action, ROUTE_RUN_LEGACY);
    classify_result_free(r);
}

Test(route, decision_does_not_depend_on_what_out_held)
{
    route_map *m = fixture_map(FX_A);
    classify_result *r = classify_sql("SELECT * FROM promo_codes");
    cr_assert_not_null(r);
    route_decision d;
    memset(&d, 0x5a, sizeof d);
    route_decide(m, &r->stmts[0], &d);
    cr_expect_eq(d.action, ROUTE_RUN_LEGACY);
    cr_expect_not(d.shadow);
    cr_expect_not(d.row_images);
    cr_expect_not(d.legacy_only_recorded);
    cr_expect_not(d.needs_prepared_lookup);
    cr_expect_not(d.needs_cursor_lookup);
    cr_expect_null(d.sqlstate);
    cr_expect_str_eq(d.message, "");
    classify_result_free(r);
    route_map_free(m);
}

/* A message naming more tables than fit is cut with "...", never overrun. */
Test(route, long_messages_are_truncated)
{
    char sql[4096];
    size_t n = (size_t)snprintf(sql, sizeof sql, "WITH ");
    for (int i = 0; i < 20; i++)
        n += (size_t)snprintf(sql + n, sizeof sql - n,
                              "u%d AS (DELETE FROM product_archive_partition_number_%02d), ", i, i);
    snprintf(sql + n, sizeof sql - n, "c AS (DELETE FROM carts) SELECT 1");
    route_decision d;
    decide_sql(FX_DUAL, sql, 1, &d);
    cr_assert_eq(d.action, ROUTE_REJECT, "%s", d.message);
    size_t len = strlen(d.message);
    cr_expect_eq(len, sizeof d.message - 1);
    cr_expect_str_eq(d.message + len - 3, "...");
    cr_expect(strstr(d.message, "product_archive_partition_number_00: product") != NULL);
}

Test(route, deterministic_functions)
{
    const classify_name yes[] = {{NULL, "lower"}, {"pg_catalog", "upper"}, {NULL, "jsonb_set"},
                                 {"pg_catalog", "btrim"}, {NULL, "count"}};
    const classify_name no[] = {{NULL, "now"},        {NULL, "random"},
                                {"public", "lower"},  {NULL, "sum"},
                                {NULL, "format_name"}, {"pg_catalog", "extract"},
                                {NULL, "set_config"}, {NULL, "Lower"}};
    for (size_t i = 0; i < N_OF(yes); i++)
        cr_expect(route_fn_deterministic(&yes[i]), "%s", yes[i].name);
    for (size_t i = 0; i < N_OF(no); i++)
        cr_expect_not(route_fn_deterministic(&no[i]), "%s", no[i].name);
    cr_expect_not(route_fn_deterministic(NULL));
}

Test(route, names)
{
    cr_expect_str_eq(route_action_name(ROUTE_RUN_LEGACY), "legacy");
    cr_expect_str_eq(route_action_name(ROUTE_RUN_SERVICE), "service");
    cr_expect_str_eq(route_action_name(ROUTE_RUN_PRIMARY), "primary");
    cr_expect_str_eq(route_action_name(ROUTE_RUN_DUAL), "dual");
    cr_expect_str_eq(route_action_name(ROUTE_RUN_EVERYWHERE), "everywhere");
    cr_expect_str_eq(route_action_name(ROUTE_REJECT), "reject");
    cr_expect_str_eq(route_action_name((route_action)99), "?");
    cr_expect_str_eq(route_side_name(ROUTE_SERVICE), "service");
    cr_expect_str_eq(route_writes_name(ROUTE_WRITES_DUAL), "dual");
    cr_expect_str_eq(route_reads_name(ROUTE_READS_SHADOW), "shadow");
}
