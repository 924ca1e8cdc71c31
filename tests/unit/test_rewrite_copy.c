/* COPY FROM STDIN read from its parse tree, and the statements that run it
 * through a staging table: only the target changes, quoting survives. */
#include <criterion/criterion.h>
#include <stdlib.h>

#include "routing/rewrite_copy.h"

Test(rewrite_copy, shape)
{
    char err[256] = "";
    copy_shape c;
    cr_assert(copy_shape_read("copy wishlist_items (id, \"Note\") from stdin with (format csv)", &c,
                              err, sizeof(err)), "%s", err);
    cr_expect(c.from_stdin);
    cr_assert_eq(c.n_columns, 2);
    cr_expect_str_eq(c.columns[0], "id");
    cr_expect_str_eq(c.columns[1], "Note");
    copy_shape_free(&c);

    cr_assert(copy_shape_read("COPY carts FROM STDIN", &c, err, sizeof(err)));
    cr_expect(c.from_stdin);
    cr_expect_null(c.columns);
    copy_shape_free(&c);

    cr_assert(copy_shape_read("COPY carts FROM '/tmp/x.csv'", &c, err, sizeof(err)));
    cr_expect(!c.from_stdin);
    copy_shape_free(&c);
    cr_assert(copy_shape_read("COPY carts FROM PROGRAM 'cat /tmp/x'", &c, err, sizeof(err)));
    cr_expect(!c.from_stdin);
    copy_shape_free(&c);
    cr_assert(copy_shape_read("COPY carts TO STDOUT", &c, err, sizeof(err)));
    cr_expect(!c.from_stdin);
    copy_shape_free(&c);

    cr_expect(!copy_shape_read("SELECT 1", &c, err, sizeof(err)));
    cr_expect(!copy_shape_read("COPY a FROM STDIN; COPY b FROM STDIN", &c, err, sizeof(err)));
}

Test(rewrite_copy, staging)
{
    char err[256] = "";
    copy_staging st;
    cr_assert(copy_staging_build("copy cart.wishlist_items (wishlist_id, \"odd\"\"name\") from stdin "
                                 "with (format binary)",
                                 "stage", &st, err, sizeof(err)), "%s", err);
    cr_expect_str_eq(st.create, "CREATE TEMP TABLE pg_temp.\"stage\" ON COMMIT DROP AS SELECT "
                                "\"wishlist_id\", \"odd\"\"name\" FROM \"cart\".\"wishlist_items\" "
                                "WITH NO DATA");
    cr_expect_str_eq(st.insert, "INSERT INTO \"cart\".\"wishlist_items\" (\"wishlist_id\", "
                                "\"odd\"\"name\") SELECT \"wishlist_id\", \"odd\"\"name\" FROM "
                                "pg_temp.\"stage\" RETURNING *");
    cr_expect_str_eq(st.drop, "DROP TABLE pg_temp.\"stage\"");
    cr_expect_str_eq(st.copy, "COPY pg_temp.stage(wishlist_id, \"odd\"\"name\") FROM STDIN WITH "
                              "(FORMAT BINARY)", "got %s", st.copy);
    copy_staging_free(&st);

    cr_assert(copy_staging_build("COPY carts FROM STDIN WHERE id > 3", "stage", &st, err,
                                 sizeof(err)), "%s", err);
    cr_expect_str_eq(st.create, "CREATE TEMP TABLE pg_temp.\"stage\" ON COMMIT DROP AS SELECT * "
                                "FROM \"carts\" WITH NO DATA");
    cr_expect_str_eq(st.insert, "INSERT INTO \"carts\" SELECT * FROM pg_temp.\"stage\" RETURNING *");
    cr_expect_str_eq(st.copy, "COPY pg_temp.stage FROM STDIN WHERE id > 3", "got %s", st.copy);
    copy_staging_free(&st);

    cr_expect(!copy_staging_build("COPY carts FROM '/etc/passwd'", "stage", &st, err, sizeof(err)));
    cr_expect(err[0] != '\0');
    cr_expect(!copy_staging_build("COPY carts TO STDOUT", "stage", &st, err, sizeof(err)));
}
