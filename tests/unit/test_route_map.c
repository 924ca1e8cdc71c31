/* Tests for route_map: table patterns (exact, schema-qualified, wildcards), which service
 * owns a name, and every reason route_map_new refuses a config, with its message. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdio.h>
#include <string.h>

#include "routing/route.h"

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

#define LEGACY_ONLY ROUTE_WRITES_LEGACY, ROUTE_LEGACY, ROUTE_READS_LEGACY
#define DUAL ROUTE_WRITES_DUAL, ROUTE_LEGACY, ROUTE_READS_LEGACY

static const char *const auth_p[] = {"users", "public.user_sessions", "user_profiles", "auth.*"};
static const char *const product_p[] = {"categories", "product_*", "catalog.*_prices"};
static const char *const cart_p[] = {"carts", "cart_items", "wishlist*", "cart_*_log"};
static const char *const promo_p[] = {"promo_codes", "promo_usage", "promotion_campaigns",
                                      "campaign_promo_codes", "user_promo_eligibility",
                                      "promo_analytics", "promo_suggestions"};
static const char *const bench_p[] = {"pgbench_*"};

static route_map *sample(void)
{
    const route_service svcs[] = {
        {"auth", auth_p, N_OF(auth_p), DUAL},
        {"product", product_p, N_OF(product_p), DUAL},
        {"cart", cart_p, N_OF(cart_p), LEGACY_ONLY},
        {"promotion", promo_p, N_OF(promo_p), DUAL},
        {"bench", bench_p, N_OF(bench_p), LEGACY_ONLY},
    };
    char err[256];
    route_map *m = route_map_new(svcs, N_OF(svcs), ROUTE_CROSS_REJECT, err, sizeof err);
    cr_assert_not_null(m, "%s", err);
    return m;
}

static const char *owner_name(const route_map *m, const char *schema, const char *name)
{
    const route_service *s = route_map_service(m, route_map_owner(m, schema, name));
    return s ? s->name : "-";
}

typedef struct lookup {
    const char *schema, *name, *owner;
} lookup;

static const lookup lookups[] = {
    {NULL, "users", "auth"},
    {"public", "users", "auth"},
    {NULL, "user_sessions", "auth"},
    {"public", "user_sessions", "auth"},
    {NULL, "user_profiles", "auth"},
    {"auth", "users", "auth"}, /* auth.* */
    {"auth", "login_attempts", "auth"},
    {"auth", "x", "auth"},
    {"billing", "users", "-"}, /* users means public.users only */
    {NULL, "Users", "-"},      /* names compare exactly: a quoted "Users" is another table */
    {NULL, "user", "-"},
    {NULL, "users2", "-"},
    {NULL, "categories", "product"},
    {NULL, "product_", "product"}, /* the star matches an empty run too */
    {NULL, "product_images", "product"},
    {NULL, "product_variants", "product"},
    {NULL, "products", "-"}, /* product_* needs the underscore */
    {"public", "product_inventory", "product"},
    {"catalog", "eur_prices", "product"},
    {"catalog", "_prices", "product"},
    {"catalog", "prices", "-"},
    {"catalog", "eur_prices_old", "-"},
    {NULL, "eur_prices", "-"},
    {NULL, "carts", "cart"},
    {NULL, "cart_items", "cart"},
    {NULL, "wishlist", "cart"},
    {NULL, "wishlists", "cart"},
    {NULL, "wishlist_items", "cart"},
    {NULL, "cart_audit_log", "cart"},
    {NULL, "cart_a_b_log", "cart"}, /* backtracking past an early "_log"-less match */
    {NULL, "cart_log", "-"},
    {NULL, "cart_x_log_y", "-"},
    {NULL, "promo_codes", "promotion"},
    {NULL, "user_promo_eligibility", "promotion"},
    {NULL, "promo_suggestions", "promotion"},
    {NULL, "promo", "-"},
    {NULL, "pgbench_accounts", "bench"},
    {NULL, "pgbench_history", "bench"},
    {"pg_catalog", "pg_class", "-"},
    {NULL, "audit_log", "-"},
    {NULL, "", "-"},
};

Test(route_map, owners)
{
    route_map *m = sample();
    for (size_t i = 0; i < N_OF(lookups); i++) {
        const lookup *l = &lookups[i];
        cr_expect_str_eq(owner_name(m, l->schema, l->name), l->owner, "%s.%s",
                         l->schema ? l->schema : "(null)", l->name);
    }
    cr_expect_eq(route_map_owner(m, NULL, NULL), -1);
    cr_expect_eq(route_map_count(m), 5);
    cr_expect_eq(route_map_cross(m), ROUTE_CROSS_REJECT);
    cr_expect_null(route_map_service(m, -1));
    cr_expect_null(route_map_service(m, 5));
    route_map_free(m);
}

Test(route_map, null_and_empty_maps_own_nothing)
{
    cr_expect_eq(route_map_owner(NULL, NULL, "users"), -1);
    cr_expect_eq(route_map_count(NULL), 0);
    cr_expect_null(route_map_service(NULL, 0));
    route_map_free(NULL);
    char err[64];
    route_map *m = route_map_new(NULL, 0, ROUTE_CROSS_LEGACY, err, sizeof err);
    cr_assert_not_null(m, "%s", err);
    cr_expect_eq(route_map_count(m), 0);
    cr_expect_eq(route_map_owner(m, NULL, "users"), -1);
    cr_expect_eq(route_map_cross(m), ROUTE_CROSS_LEGACY);
    route_map_free(m);
}

/* The map keeps its own copies: the config's buffers may be freed or reused right after. */
Test(route_map, copies_what_it_is_given)
{
    char name[16], pat1[16], pat2[16];
    strcpy(name, "cart");
    strcpy(pat1, "carts");
    strcpy(pat2, "cart_*");
    const char *pats[] = {pat1, pat2};
    route_service svc = {name, pats, 2, ROUTE_WRITES_DUAL, ROUTE_SERVICE, ROUTE_READS_SHADOW};
    route_map *m = route_map_new(&svc, 1, ROUTE_CROSS_REJECT, NULL, 0);
    cr_assert_not_null(m);
    memset(name, 'x', sizeof name - 1);
    memset(pat1, 'x', sizeof pat1 - 1);
    memset(pat2, 'x', sizeof pat2 - 1);
    pats[0] = pats[1] = NULL;
    const route_service *s = route_map_service(m, 0);
    cr_expect_str_eq(s->name, "cart");
    cr_expect_eq(s->n_tables, 2);
    cr_expect_str_eq(s->tables[0], "carts");
    cr_expect_str_eq(s->tables[1], "cart_*");
    cr_expect_eq(s->writes, ROUTE_WRITES_DUAL);
    cr_expect_eq(s->primary, ROUTE_SERVICE);
    cr_expect_eq(s->reads, ROUTE_READS_SHADOW);
    cr_expect_eq(route_map_owner(m, NULL, "carts"), 0);
    cr_expect_eq(route_map_owner(m, "public", "cart_items"), 0);
    route_map_free(m);
}

Test(route_map, accepted_overlaps)
{
    /* Wildcards that only partly overlap are accepted; the first service listed wins. */
    static const char *const a[] = {"user_*"}, *const b[] = {"*_sessions"};
    route_service svcs[] = {{"a", a, 1, DUAL}, {"b", b, 1, DUAL}};
    route_map *m = route_map_new(svcs, 2, ROUTE_CROSS_REJECT, NULL, 0);
    cr_assert_not_null(m);
    cr_expect_eq(route_map_owner(m, NULL, "user_sessions"), 0);
    cr_expect_eq(route_map_owner(m, NULL, "user_profiles"), 0);
    cr_expect_eq(route_map_owner(m, NULL, "cart_sessions"), 1);
    route_map_free(m);
    route_service swapped[] = {svcs[1], svcs[0]};
    m = route_map_new(swapped, 2, ROUTE_CROSS_REJECT, NULL, 0);
    cr_assert_not_null(m);
    cr_expect_eq(route_map_owner(m, NULL, "user_sessions"), 0);
    cr_expect_str_eq(route_map_service(m, 0)->name, "b");
    route_map_free(m);

    /* The same name twice in one service, exact and wildcard, and a service with no
     * tables: all harmless. Same table name in two schemas: two tables. */
    static const char *const c[] = {"carts", "carts", "public.carts", "cart*"};
    static const char *const d[] = {"archive.carts"};
    route_service more[] = {{"c", c, 4, DUAL}, {"d", d, 1, DUAL}, {"e", NULL, 0, DUAL}};
    m = route_map_new(more, 3, ROUTE_CROSS_REJECT, NULL, 0);
    cr_assert_not_null(m);
    cr_expect_eq(route_map_owner(m, NULL, "carts"), 0);
    cr_expect_eq(route_map_owner(m, "archive", "carts"), 1);
    route_map_free(m);
}

/* ---- refusals */

typedef struct bad {
    const char *what;
    const char *p1;    /* service "alpha"'s one pattern */
    const char *p2;    /* service "beta"'s one pattern, or NULL for no second service */
    route_writes w;    /* alpha's state */
    route_side p;
    route_reads r;
    const char *want1; /* substrings the message must hold */
    const char *want2;
} bad;

#define OK_STATE ROUTE_WRITES_DUAL, ROUTE_LEGACY, ROUTE_READS_LEGACY

static const bad bads[] = {
    {"empty pattern", "", NULL, OK_STATE, "service alpha", "empty"},
    {"empty schema", ".users", NULL, OK_STATE, "\".users\"", "schema part is empty"},
    {"empty table", "auth.", NULL, OK_STATE, "\"auth.\"", "table part is empty"},
    {"two dots", "db.auth.users", NULL, OK_STATE, "\"db.auth.users\"", "more than one dot"},
    {"schema wildcard", "au*.users", NULL, OK_STATE, "\"au*.users\"", "table part only"},
    {"star schema", "*.users", NULL, OK_STATE, "\"*.users\"", "table part only"},
    {"inner space", "auth. users", NULL, OK_STATE, "\"auth. users\"", "whitespace"},
    {"untrimmed", "users ", NULL, OK_STATE, "\"users \"", "whitespace"},
    {"tab", "us\ters", NULL, OK_STATE, "service alpha", "whitespace"},
    {"quoted", "\"Users\"", NULL, OK_STATE, "double quotes", "as stored"},
    {"too long table",
     "a234567890123456789012345678901234567890123456789012345678901234", NULL, OK_STATE,
     "63-byte", "service alpha"},
    {"too long schema",
     "a234567890123456789012345678901234567890123456789012345678901234.t", NULL, OK_STATE,
     "63-byte", "service alpha"},
    {"pg_catalog", "pg_catalog.pg_class", NULL, OK_STATE, "system schemas", "pg_catalog"},
    {"pg_temp", "pg_temp.scratch", NULL, OK_STATE, "system schemas", "pg_temp"},
    {"information_schema", "information_schema.tables", NULL, OK_STATE, "system schemas",
     "information_schema"},
    {"same exact name", "users", "users", OK_STATE, "names the same table as",
     "service beta, table pattern \"users\""},
    {"same name, spelt two ways", "users", "public.users", OK_STATE, "names the same table as",
     "service alpha"},
    {"identical wildcards", "user_*", "public.user_*", OK_STATE, "is the same pattern as",
     "a table can belong to one service only"},
    {"exact under wildcard", "user_*", "user_promo_eligibility", OK_STATE,
     "table pattern \"user_promo_eligibility\": is covered by pattern \"user_*\"",
     "of service alpha"},
    {"wildcard over exact", "user_promo_eligibility", "user_*", OK_STATE,
     "service beta, table pattern \"user_*\": covers pattern \"user_promo_eligibility\"",
     "of service alpha"},
    {"schema star over table", "auth.*", "auth.users", OK_STATE, "is covered by",
     "\"auth.*\""},
    {"table under schema star", "auth.users", "auth.*", OK_STATE, "covers", "\"auth.users\""},
    {"nested wildcards", "user_*", "user_s*", OK_STATE, "is covered by", "service beta"},
    {"public star over all", "*", "carts", OK_STATE, "is covered by", "\"carts\""},
    {"writes service, legacy primary", "users", NULL, ROUTE_WRITES_SERVICE, ROUTE_LEGACY,
     ROUTE_READS_SERVICE, "writes=service, primary=legacy", "needs primary=service"},
    {"service primary, legacy writes", "users", NULL, ROUTE_WRITES_LEGACY, ROUTE_SERVICE,
     ROUTE_READS_LEGACY, "primary=service", "needs writes=dual or writes=service"},
    {"service reads, legacy writes", "users", NULL, ROUTE_WRITES_LEGACY, ROUTE_LEGACY,
     ROUTE_READS_SERVICE, "reads=service", "would not be kept current"},
    {"shadow reads, legacy writes", "users", NULL, ROUTE_WRITES_LEGACY, ROUTE_LEGACY,
     ROUTE_READS_SHADOW, "reads=shadow", "would not be kept current"},
    {"service writes, legacy reads", "users", NULL, ROUTE_WRITES_SERVICE, ROUTE_SERVICE,
     ROUTE_READS_LEGACY, "needs reads=service", "no longer written"},
    {"service writes, shadow reads", "users", NULL, ROUTE_WRITES_SERVICE, ROUTE_SERVICE,
     ROUTE_READS_SHADOW, "needs reads=service", "no longer written"},
    {"state out of range", "users", NULL, (route_writes)7, ROUTE_LEGACY, ROUTE_READS_LEGACY,
     "out of range", "service alpha"},
};

static void free_indices(struct criterion_test_params *p)
{
    cr_free(p->params);
}

/* Criterion re-executes the binary per case: pass indices, not pointers. */
ParameterizedTestParameters(route_map, refused)
{
    size_t *idx = cr_malloc(N_OF(bads) * sizeof *idx);
    for (size_t i = 0; i < N_OF(bads); i++)
        idx[i] = i;
    return cr_make_param_array(size_t, idx, N_OF(bads), free_indices);
}

ParameterizedTest(size_t *i, route_map, refused)
{
    const bad *b = &bads[*i];
    const char *p1[] = {b->p1}, *p2[] = {b->p2};
    route_service svcs[] = {{"alpha", p1, 1, b->w, b->p, b->r},
                            {"beta", p2, 1, ROUTE_WRITES_DUAL, ROUTE_LEGACY, ROUTE_READS_LEGACY}};
    char err[256];
    route_map *m = route_map_new(svcs, b->p2 ? 2 : 1, ROUTE_CROSS_REJECT, err, sizeof err);
    cr_expect_null(m, "%s: accepted", b->what);
    route_map_free(m);
    cr_expect(strstr(err, b->want1) != NULL, "%s: \"%s\" lacks \"%s\"", b->what, err, b->want1);
    cr_expect(strstr(err, b->want2) != NULL, "%s: \"%s\" lacks \"%s\"", b->what, err, b->want2);
}

static bool refused_with(const route_service *svcs, size_t n, route_cross cross,
                         const char *want)
{
    char err[256] = "untouched";
    route_map *m = route_map_new(svcs, n, cross, err, sizeof err);
    route_map_free(m);
    cr_expect(strstr(err, want) != NULL, "\"%s\" lacks \"%s\"", err, want);
    return m == NULL;
}

Test(route_map, refused_services)
{
    static const char *const t[] = {"users"}, *const u[] = {"carts"};
    static const char *const has_null[] = {"users", NULL};
    route_service unnamed[] = {{NULL, t, 1, DUAL}};
    route_service empty_name[] = {{"", t, 1, DUAL}};
    route_service twice[] = {{"auth", t, 1, DUAL}, {"auth", u, 1, DUAL}};
    route_service null_list[] = {{"auth", NULL, 2, DUAL}};
    route_service null_pattern[] = {{"auth", has_null, 2, DUAL}};
    route_service fine[] = {{"auth", t, 1, DUAL}};
    cr_expect(refused_with(unnamed, 1, ROUTE_CROSS_REJECT, "service #1 has no name"));
    cr_expect(refused_with(empty_name, 1, ROUTE_CROSS_REJECT, "has no name"));
    cr_expect(refused_with(twice, 2, ROUTE_CROSS_REJECT, "service auth is configured twice"));
    cr_expect(refused_with(null_list, 1, ROUTE_CROSS_REJECT, "table list missing"));
    cr_expect(refused_with(null_pattern, 1, ROUTE_CROSS_REJECT, "table pattern #2: missing"));
    cr_expect(refused_with(NULL, 3, ROUTE_CROSS_REJECT, "no services given"));
    cr_expect(refused_with(fine, 1, (route_cross)5, "cross_service_writes"));
}

Test(route_map, error_buffer_optional_and_bounded)
{
    static const char *const t[] = {"users"};
    route_service twice[] = {{"auth", t, 1, DUAL}, {"auth", t, 1, DUAL}};
    cr_expect_null(route_map_new(twice, 2, ROUTE_CROSS_REJECT, NULL, 0));
    char err[8];
    memset(err, '#', sizeof err);
    cr_expect_null(route_map_new(twice, 2, ROUTE_CROSS_REJECT, err, 5));
    cr_expect_str_eq(err, "serv");
    cr_expect_eq(err[5], '#');
    /* success leaves an empty message behind */
    char ok[32] = "stale text";
    route_map *m = route_map_new(twice, 1, ROUTE_CROSS_REJECT, ok, sizeof ok);
    cr_expect_not_null(m);
    cr_expect_str_eq(ok, "");
    route_map_free(m);
}

/* Every valid state of the migration path builds. */
Test(route_map, valid_states)
{
    static const char *const t[] = {"users"};
    const route_service states[] = {
        {"s", t, 1, ROUTE_WRITES_LEGACY, ROUTE_LEGACY, ROUTE_READS_LEGACY},
        {"s", t, 1, ROUTE_WRITES_DUAL, ROUTE_LEGACY, ROUTE_READS_LEGACY},
        {"s", t, 1, ROUTE_WRITES_DUAL, ROUTE_LEGACY, ROUTE_READS_SHADOW},
        {"s", t, 1, ROUTE_WRITES_DUAL, ROUTE_LEGACY, ROUTE_READS_SERVICE},
        {"s", t, 1, ROUTE_WRITES_DUAL, ROUTE_SERVICE, ROUTE_READS_SERVICE},
        {"s", t, 1, ROUTE_WRITES_DUAL, ROUTE_SERVICE, ROUTE_READS_SHADOW},
        {"s", t, 1, ROUTE_WRITES_DUAL, ROUTE_SERVICE, ROUTE_READS_LEGACY},
        {"s", t, 1, ROUTE_WRITES_SERVICE, ROUTE_SERVICE, ROUTE_READS_SERVICE},
    };
    for (size_t i = 0; i < N_OF(states); i++) {
        char err[256];
        route_map *m = route_map_new(&states[i], 1, ROUTE_CROSS_REJECT, err, sizeof err);
        cr_expect_not_null(m, "state #%zu: %s", i, err);
        route_map_free(m);
    }
}
