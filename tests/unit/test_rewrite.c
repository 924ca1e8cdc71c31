/* RETURNING rewrite: the client's own items stay first, `*` comes last, and
 * only single INSERT/UPDATE/DELETE statements are rewritten. */
#include <criterion/criterion.h>
#include <pg_query.h>
#include <pg_query/pg_query.pb-c.h>
#include <stdlib.h>

#include "routing/rewrite.h"
#include "routing/rewrite_cache.h"

typedef struct rcase {
    const char *in;
    const char *out; /* NULL: must be refused */
} rcase;

static const rcase cases[] = {
    {"INSERT INTO carts (user_id) VALUES (1)",
     "INSERT INTO carts (user_id) VALUES (1) RETURNING *"},
    /* the client's text is kept as written: only RETURNING is added */
    {"insert into carts (user_id, status) values ($1, 'active'), ($2, 'x')",
     "insert into carts (user_id, status) values ($1, 'active'), ($2, 'x') RETURNING *"},
    {"UPDATE users SET last_login = now() WHERE id = 3",
     "UPDATE users SET last_login = now() WHERE id = 3 RETURNING *"},
    {"DELETE FROM user_sessions WHERE expires_at < now() RETURNING id",
     "DELETE FROM user_sessions WHERE expires_at < now() RETURNING id, *"},
    {"INSERT INTO promo_usage (user_id) SELECT id FROM users ON CONFLICT (id) DO UPDATE SET "
     "user_id = excluded.user_id RETURNING id AS new_id",
     "INSERT INTO promo_usage (user_id) SELECT id FROM users ON CONFLICT (id) DO UPDATE SET "
     "user_id = excluded.user_id RETURNING id AS new_id, *"},
    {"UPDATE auth.users u SET email = lower(u.email) FROM user_profiles p WHERE p.user_id = u.id",
     "UPDATE auth.users u SET email = lower(u.email) FROM user_profiles p WHERE p.user_id = "
     "u.id RETURNING *"},
    /* trailing semicolons, spaces and comments stay after the added text */
    {"INSERT INTO t VALUES (1);", "INSERT INTO t VALUES (1) RETURNING *;"},
    {"UPDATE t SET a = 1 ;  ;\n", "UPDATE t SET a = 1 RETURNING * ;  ;\n"},
    {"DELETE FROM t WHERE id = 4 -- the old one\n",
     "DELETE FROM t WHERE id = 4 RETURNING * -- the old one\n"},
    {"DELETE FROM t WHERE id = 4 /* c1 */ -- c2\n ; /* c3 */",
     "DELETE FROM t WHERE id = 4 RETURNING * /* c1 */ -- c2\n ; /* c3 */"},
    {"/* lead */ -- x\n  INSERT INTO t VALUES (2)", "/* lead */ -- x\n  INSERT INTO t VALUES (2) RETURNING *"},
    {"UPDATE t SET a = 2 /* returning x */", "UPDATE t SET a = 2 RETURNING * /* returning x */"},
    /* strings, quoted names and dollar quotes that look like RETURNING */
    {"INSERT INTO t (note) VALUES ('x RETURNING y')",
     "INSERT INTO t (note) VALUES ('x RETURNING y') RETURNING *"},
    {"UPDATE t SET note = 'a; b' WHERE note = E'returning\\' ;'",
     "UPDATE t SET note = 'a; b' WHERE note = E'returning\\' ;' RETURNING *"},
    {"INSERT INTO t (body) VALUES ($f$ RETURNING id; -- $f$)",
     "INSERT INTO t (body) VALUES ($f$ RETURNING id; -- $f$) RETURNING *"},
    {"UPDATE t SET b = $$x$$ WHERE \"returning\" = 1 RETURNING \"returning\" ;",
     "UPDATE t SET b = $$x$$ WHERE \"returning\" = 1 RETURNING \"returning\", * ;"},
    /* the RETURNING of a CTE is not the statement's */
    {"WITH gone AS (DELETE FROM a WHERE id = 1 RETURNING *) INSERT INTO b SELECT * FROM gone",
     "WITH gone AS (DELETE FROM a WHERE id = 1 RETURNING *) INSERT INTO b SELECT * FROM gone "
     "RETURNING *"},
    {"WITH v AS (SELECT 1 AS x) UPDATE t SET a = v.x FROM v RETURNING t.a -- done",
     "WITH v AS (SELECT 1 AS x) UPDATE t SET a = v.x FROM v RETURNING t.a, * -- done"},
    /* ON CONFLICT, with and without RETURNING */
    {"INSERT INTO t (id, n) VALUES (1, 2) ON CONFLICT (id) DO NOTHING;",
     "INSERT INTO t (id, n) VALUES (1, 2) ON CONFLICT (id) DO NOTHING RETURNING *;"},
    {"INSERT INTO t (id, n) VALUES (1, 2) ON CONFLICT (id) DO UPDATE SET n = t.n + 1 "
     "WHERE t.n < 9 RETURNING (t.n), xmax = 0 AS inserted",
     "INSERT INTO t (id, n) VALUES (1, 2) ON CONFLICT (id) DO UPDATE SET n = t.n + 1 "
     "WHERE t.n < 9 RETURNING (t.n), xmax = 0 AS inserted, *"},
    {"DELETE FROM t RETURNING *", "DELETE FROM t RETURNING *, *"},
    {"SELECT 1", NULL},
    {"WITH x AS (INSERT INTO t VALUES (1) RETURNING id) SELECT * FROM x", NULL},
    {"INSERT INTO a VALUES (1); -- only one\n", "INSERT INTO a VALUES (1) RETURNING *; -- only one\n"},
    {"-- nothing but a comment", NULL},
    {";", NULL},
    {"INSERT INTO a VALUES (1); INSERT INTO b VALUES (2)", NULL},
    {"UPDATE oops SET", NULL},
    {"", NULL},
};

Test(rewrite, returning_all)
{
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char err[256] = "";
        char *got = rewrite_returning_all(cases[i].in, err, sizeof(err));
        if (!cases[i].out) {
            cr_expect_null(got, "[%s] should be refused, got %s", cases[i].in, got);
            cr_expect(err[0] != '\0', "[%s] refused without a reason", cases[i].in);
        } else {
            cr_expect(got != NULL, "[%s] refused: %s", cases[i].in, err);
            if (got)
                cr_expect_str_eq(got, cases[i].out, "[%s]", cases[i].in);
        }
        free(got);
    }
}

/* Every rewrite is one statement whose RETURNING list, as the parser reads it,
 * is the client's items plus `*` last: what the row images are taken from. */
static size_t returning_items(const char *sql, size_t *n_stmts, bool *star_last)
{
    PgQueryProtobufParseResult r = pg_query_parse_protobuf(sql);
    size_t n = 0;
    *n_stmts = 0;
    *star_last = false;
    if (!r.error) {
        PgQuery__ParseResult *t = pg_query__parse_result__unpack(
            NULL, r.parse_tree.len, (const uint8_t *)r.parse_tree.data);
        *n_stmts = t ? t->n_stmts : 0;
        if (t && t->n_stmts == 1 && t->stmts[0]->stmt) {
            PgQuery__Node *s = t->stmts[0]->stmt;
            PgQuery__Node **list = NULL;
            if (s->node_case == PG_QUERY__NODE__NODE_INSERT_STMT)
                n = s->insert_stmt->n_returning_list, list = s->insert_stmt->returning_list;
            else if (s->node_case == PG_QUERY__NODE__NODE_UPDATE_STMT)
                n = s->update_stmt->n_returning_list, list = s->update_stmt->returning_list;
            else if (s->node_case == PG_QUERY__NODE__NODE_DELETE_STMT)
                n = s->delete_stmt->n_returning_list, list = s->delete_stmt->returning_list;
            if (n) {
                PgQuery__Node *v = list[n - 1]->res_target->val;
                *star_last = v->node_case == PG_QUERY__NODE__NODE_COLUMN_REF &&
                             v->column_ref->n_fields == 1 &&
                             v->column_ref->fields[0]->node_case == PG_QUERY__NODE__NODE_A_STAR;
            }
        }
        if (t)
            pg_query__parse_result__free_unpacked(t, NULL);
    }
    pg_query_free_protobuf_parse_result(r);
    return n;
}

Test(rewrite, output_parses_with_star_last)
{
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (!cases[i].out)
            continue;
        size_t in_stmts, out_stmts;
        bool in_star, out_star;
        size_t in_items = returning_items(cases[i].in, &in_stmts, &in_star);
        size_t out_items = returning_items(cases[i].out, &out_stmts, &out_star);
        cr_expect_eq(in_stmts, 1, "[%s] input is not one statement", cases[i].in);
        cr_expect_eq(out_stmts, 1, "[%s] rewrite is not one statement", cases[i].out);
        cr_expect(out_star, "[%s] RETURNING does not end with *", cases[i].out);
        cr_expect_eq(out_items, in_items + 1, "[%s] client's RETURNING items not kept",
                     cases[i].out);
    }
}

/* The cache gives what the uncached rewrite gives, for the first text of a
 * shape and for later texts of that shape with other numbers. */
Test(rewrite, cache_same_as_uncached)
{
    rewrite_cache *c = rewrite_cache_new();
    cr_assert_not_null(c);
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
            char err[256] = "";
            char *got = rewrite_cache_returning_all(c, cases[i].in, err, sizeof(err));
            if (!cases[i].out) {
                cr_expect_null(got, "[%s] should be refused, got %s", cases[i].in, got);
                cr_expect(err[0] != '\0', "[%s] refused without a reason", cases[i].in);
            } else if (got) {
                cr_expect_str_eq(got, cases[i].out, "[%s] pass %d", cases[i].in, pass);
            } else {
                cr_expect_fail("[%s] refused: %s", cases[i].in, err);
            }
            free(got);
        }
    rewrite_cache_stats st;
    rewrite_cache_get_stats(c, &st);
    cr_expect_gt(st.hits, 0, "second pass never hit");

    /* numbers of another length, and a comment after them that holds numbers */
    static const rcase same_shape[] = {
        {"INSERT INTO h (tid, delta) VALUES (7, -2341) /* n 1 */;",
         "INSERT INTO h (tid, delta) VALUES (7, -2341) RETURNING * /* n 1 */;"},
        {"INSERT INTO h (tid, delta) VALUES (123456, -1) /* n 1 */;",
         "INSERT INTO h (tid, delta) VALUES (123456, -1) RETURNING * /* n 1 */;"},
        {"INSERT INTO h (tid, delta) VALUES (5, 0.25) /* n 1 */;", /* a float: another shape */
         "INSERT INTO h (tid, delta) VALUES (5, 0.25) RETURNING * /* n 1 */;"},
        {"INSERT INTO h (tid, delta) VALUES (5, 99) /* n 22 */;", /* the comment differs */
         "INSERT INTO h (tid, delta) VALUES (5, 99) RETURNING * /* n 22 */;"},
        {"UPDATE h SET delta = 3 WHERE tid = 1 RETURNING tid",
         "UPDATE h SET delta = 3 WHERE tid = 1 RETURNING tid, *"},
        {"UPDATE h SET delta = 31 WHERE tid = 10000000000 RETURNING tid",
         "UPDATE h SET delta = 31 WHERE tid = 10000000000 RETURNING tid, *"},
    };
    rewrite_cache_get_stats(c, &st);
    uint64_t hits0 = st.hits;
    for (size_t i = 0; i < sizeof(same_shape) / sizeof(same_shape[0]); i++) {
        char err[256] = "";
        char *got = rewrite_cache_returning_all(c, same_shape[i].in, err, sizeof(err));
        cr_expect(got != NULL, "[%s] refused: %s", same_shape[i].in, err);
        if (got)
            cr_expect_str_eq(got, same_shape[i].out, "[%s]", same_shape[i].in);
        free(got);
    }
    rewrite_cache_get_stats(c, &st);
    cr_expect_eq(st.hits - hits0, 1, "only the second text shares the first one's shape");
    rewrite_cache_free(c);
}
