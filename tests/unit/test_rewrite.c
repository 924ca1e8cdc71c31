/* RETURNING rewrite: the client's own items stay first, `*` comes last, and
 * only single INSERT/UPDATE/DELETE statements are rewritten. */
#include <criterion/criterion.h>
#include <stdlib.h>

#include "routing/rewrite.h"

typedef struct rcase {
    const char *in;
    const char *out; /* NULL: must be refused */
} rcase;

static const rcase cases[] = {
    {"INSERT INTO carts (user_id) VALUES (1)",
     "INSERT INTO carts (user_id) VALUES (1) RETURNING *"},
    {"insert into carts (user_id, status) values ($1, 'active'), ($2, 'x')",
     "INSERT INTO carts (user_id, status) VALUES ($1, 'active'), ($2, 'x') RETURNING *"},
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
    {"SELECT 1", NULL},
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
