/* libpq pipeline mode against dual-written tables (run by checks.py through pgtandem; also
 * runnable against one PostgreSQL to confirm the expectations).
 *
 * usage: pq_dual_pipeline one-sync abort|continue CLIENT PRIMARY SECONDARY WISHLIST BASE
 *        pq_dual_pipeline sync-each CLIENT PRIMARY SECONDARY WISHLIST BASE
 *        pq_dual_pipeline mixed CLIENT PRIMARY SECONDARY IMAGE_ID PRODUCT_ID
 *
 * one-sync: 100 INSERTs into wishlist_items (ids BASE-1 .. BASE-100) with one Sync, after
 *   the row of #50 was put straight into SECONDARY, so #50 fails there only. `abort` (what
 *   on_mirror_failure=fail, or plain PostgreSQL, must do): 49 ok, an error at #50, 50
 *   PIPELINE_ABORTED, and none of the 100 rows kept anywhere. `continue`: all 100 ok, the
 *   primary keeps 100, the secondary 99 beside its own row. Cleans up both sides after.
 * sync-each: the same 100 INSERTs, each with its own Sync, all succeed: 100 rows on both
 *   sides, identical column for column. The rows stay (compare.py sees them too).
 * mixed: one Sync holding a read of products, an UPDATE of product_images and a read of
 *   the row just written, which must show the new value; the row is identical after.
 *
 * CLIENT, PRIMARY and SECONDARY are libpq conninfos; with all three the same database the
 * one-sync abort case is PostgreSQL's own behaviour. */
#include <stdbool.h>

#include "tests/integration/itest_pipeline.h"

#define N_ROWS 100
#define FAIL_AT 50

static const char insert_sql[] = "INSERT INTO wishlist_items (id, wishlist_id, product_id, note, "
                                 "priority, added_at) VALUES ($1, $2, $3, 'pipeline', 1, "
                                 "'2025-01-01 00:00:00+00')";

static PGconn *direct(const char *conninfo)
{
    PGconn *c = it_connect(conninfo);
    it_exec_clear(c, "SET TimeZone = 'UTC'"); /* row text must not depend on the server */
    return c;
}

static void range_where(char *buf, size_t len, long base)
{
    snprintf(buf, len, "id BETWEEN %ld AND %ld", base - N_ROWS, base - 1);
}

static long count_where(PGconn *c, long base, const char *extra)
{
    char where[96], sql[256];
    range_where(where, sizeof where, base);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM wishlist_items WHERE %s AND %s", where,
             extra);
    return it_scalar(c, sql);
}

static void delete_range(PGconn *c, long base)
{
    char where[96], sql[160];
    range_where(where, sizeof where, base);
    snprintf(sql, sizeof sql, "DELETE FROM wishlist_items WHERE %s", where);
    it_exec_clear(c, sql);
}

/* Every column of the rows matching `where`, as one text, in id order. */
static char *rows_text(PGconn *c, const char *table, const char *where)
{
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT coalesce(string_agg(t::text, E'\\n' ORDER BY id), '') FROM %s t WHERE %s",
             table, where);
    PGresult *r = it_exec(c, sql);
    char *s = strdup(PQgetvalue(r, 0, 0));
    PQclear(r);
    if (!s)
        it_fail("out of memory");
    return s;
}

static void expect_identical(PGconn *p, PGconn *s, const char *table, const char *where)
{
    char *a = rows_text(p, table, where), *b = rows_text(s, table, where);
    if (strcmp(a, b) != 0)
        it_fail("%s where %s differs:\n  primary:   %.300s\n  secondary: %.300s", table, where,
                a, b);
    free(a);
    free(b);
}

static void send_insert(PGconn *c, long wishlist, long base, int i)
{
    char id[24], wl[24], prod[24];
    const char *vals[3] = {id, wl, prod};
    snprintf(id, sizeof id, "%ld", base - i);
    snprintf(wl, sizeof wl, "%ld", wishlist);
    snprintf(prod, sizeof prod, "%d", 4800 + i);
    it_pipe_send(c, insert_sql, 3, vals);
}

static void expect_usable(PGconn *c)
{
    if (it_scalar(c, "SELECT 41 + 1") != 42)
        it_fail("the session does not answer SELECT 41 + 1 after the pipeline");
}

static void one_sync(bool cont, PGconn *cl, PGconn *p, PGconn *s, long wishlist, long base)
{
    char sql[256];
    struct it_tally t;
    delete_range(p, base);
    delete_range(s, base);
    snprintf(sql, sizeof sql,
             "INSERT INTO wishlist_items (id, wishlist_id, product_id, note, priority, added_at) "
             "VALUES (%ld, %ld, %d, 'direct', 1, '2025-01-01 00:00:00+00')",
             base - FAIL_AT, wishlist, 4800 + FAIL_AT);
    it_exec_clear(s, sql);
    it_pipe_enter(cl);
    for (int i = 1; i <= N_ROWS; i++)
        send_insert(cl, wishlist, base, i);
    it_pipe_sync(cl);
    it_pipe_collect(cl, 1, &t);
    it_pipe_leave(cl);
    expect_usable(cl);
    long on_p = count_where(p, base, "note = 'pipeline'");
    long on_s = count_where(s, base, "note = 'pipeline'");
    long direct_kept = count_where(s, base, "note = 'direct'");
    if (!cont) {
        if (t.ok != FAIL_AT - 1 || t.errors != 1 || t.first_error_at != FAIL_AT ||
            t.aborted != N_ROWS - FAIL_AT || t.syncs != 1)
            it_fail("one Sync, #%d failing on the secondary: ok=%d errors=%d (first %s at #%d: "
                    "%s) aborted=%d syncs=%d; want ok=%d, the error at #%d, aborted=%d, syncs=1",
                    FAIL_AT, t.ok, t.errors, t.first_error, t.first_error_at, t.first_message,
                    t.aborted, t.syncs, FAIL_AT - 1, FAIL_AT, N_ROWS - FAIL_AT);
        if (on_p != 0 || on_s != 0 || direct_kept != 1)
            it_fail("after the failed pipeline the primary keeps %ld of the %d rows, the secondary "
                    "%ld (and %ld of its own row); want 0, 0 and 1",
                    on_p, N_ROWS, on_s, direct_kept);
        it_ok("%d INSERTs + 1 Sync, #%d failing on the secondary: %d ok, error %s at #%d (%.120s), "
              "%d PIPELINE_ABORTED; no row kept on either side",
              N_ROWS, FAIL_AT, t.ok, t.first_error, t.first_error_at, t.first_message, t.aborted);
    } else {
        if (t.ok != N_ROWS || t.errors != 0 || t.syncs != 1)
            it_fail("one Sync, #%d failing on the secondary, on_mirror_failure=continue: ok=%d "
                    "errors=%d (first %s at #%d: %s) syncs=%d; want all %d ok",
                    FAIL_AT, t.ok, t.errors, t.first_error, t.first_error_at, t.first_message,
                    t.syncs, N_ROWS);
        if (on_p != N_ROWS || on_s != N_ROWS - 1 || direct_kept != 1)
            it_fail("primary keeps %ld rows (want %d), secondary %ld (want %d) and %ld of its own "
                    "(want 1)",
                    on_p, N_ROWS, on_s, N_ROWS - 1, direct_kept);
        it_ok("%d INSERTs + 1 Sync, #%d failing on the secondary only: all ok for the client, "
              "primary %ld rows, secondary %ld + its own",
              N_ROWS, FAIL_AT, on_p, on_s);
    }
    delete_range(p, base);
    delete_range(s, base);
}

static void sync_each(PGconn *cl, PGconn *p, PGconn *s, long wishlist, long base)
{
    char where[96];
    struct it_tally t;
    delete_range(p, base);
    delete_range(s, base);
    it_pipe_enter(cl);
    for (int i = 1; i <= N_ROWS; i++) {
        send_insert(cl, wishlist, base, i);
        it_pipe_sync(cl);
    }
    it_pipe_collect(cl, N_ROWS, &t);
    it_pipe_leave(cl);
    expect_usable(cl);
    if (t.ok != N_ROWS || t.errors != 0 || t.aborted != 0)
        it_fail("%d INSERTs, a Sync after each: ok=%d errors=%d (first %s at #%d: %s) "
                "aborted=%d; want all ok",
                N_ROWS, t.ok, t.errors, t.first_error, t.first_error_at, t.first_message,
                t.aborted);
    long on_p = count_where(p, base, "true"), on_s = count_where(s, base, "true");
    if (on_p != N_ROWS || on_s != N_ROWS)
        it_fail("primary holds %ld rows, secondary %ld; want %d on each", on_p, on_s, N_ROWS);
    range_where(where, sizeof where, base);
    expect_identical(p, s, "wishlist_items", where);
    it_ok("%d INSERTs, %d Syncs: all ok, %d identical rows on both sides", N_ROWS, t.syncs,
          N_ROWS);
}

/* The next result of the pipeline, which must have status `want`. */
static PGresult *next_result(PGconn *c, ExecStatusType want, const char *what)
{
    PGresult *r = it_get_result(c, 15);
    if (!r || PQresultStatus(r) != want)
        it_fail("%s: got %s %s %s", what, r ? PQresStatus(PQresultStatus(r)) : "no result",
                r ? it_sqlstate(r) : "", r ? it_msg(PQresultErrorMessage(r)) : "");
    if (want != PGRES_PIPELINE_SYNC && it_get_result(c, 15) != NULL)
        it_fail("%s: more than one result", what);
    return r;
}

static void mixed(PGconn *cl, PGconn *p, PGconn *s, long image, long product)
{
    char sql[160], img[24], prod[24], marker[64];
    snprintf(sql, sizeof sql, "SELECT name FROM products WHERE id = %ld", product);
    PGresult *want = it_exec(p, sql);
    snprintf(img, sizeof img, "%ld", image);
    snprintf(prod, sizeof prod, "%ld", product);
    snprintf(marker, sizeof marker, "pipelined write %ld", (long)getpid());
    const char *read_vals[1] = {prod}, *write_vals[2] = {marker, img}, *back_vals[1] = {img};

    it_pipe_enter(cl);
    it_pipe_send(cl, "SELECT name FROM products WHERE id = $1", 1, read_vals);
    it_pipe_send(cl, "UPDATE product_images SET alt_text = $1 WHERE id = $2", 2, write_vals);
    it_pipe_send(cl, "SELECT alt_text FROM product_images WHERE id = $1", 1, back_vals);
    it_pipe_sync(cl);
    PGresult *r = next_result(cl, PGRES_TUPLES_OK, "read of products");
    if (PQntuples(r) != 1 || strcmp(PQgetvalue(r, 0, 0), PQgetvalue(want, 0, 0)) != 0)
        it_fail("read of products %ld gave %d row(s) [%s], want [%s]", product, PQntuples(r),
                PQntuples(r) ? PQgetvalue(r, 0, 0) : "", PQgetvalue(want, 0, 0));
    PQclear(r);
    r = next_result(cl, PGRES_COMMAND_OK, "UPDATE product_images");
    if (strcmp(PQcmdTuples(r), "1") != 0)
        it_fail("UPDATE product_images touched %s rows, want 1", PQcmdTuples(r));
    PQclear(r);
    r = next_result(cl, PGRES_TUPLES_OK, "read of the row just written");
    if (PQntuples(r) != 1 || strcmp(PQgetvalue(r, 0, 0), marker) != 0)
        it_fail("read-your-write in the same pipeline gave [%s], want [%s]",
                PQntuples(r) ? PQgetvalue(r, 0, 0) : "(no row)", marker);
    PQclear(r);
    PQclear(next_result(cl, PGRES_PIPELINE_SYNC, "Sync"));
    it_pipe_leave(cl);
    PQclear(want);
    expect_usable(cl);
    snprintf(sql, sizeof sql, "id = %ld", image);
    expect_identical(p, s, "product_images", sql);
    it_ok("read, write, read-your-write in one Sync: the read saw the write; row identical");
}

int main(int argc, char **argv)
{
    bool one = argc >= 8 && strcmp(argv[1], "one-sync") == 0;
    bool each = argc >= 7 && strcmp(argv[1], "sync-each") == 0;
    bool mix = argc >= 7 && strcmp(argv[1], "mixed") == 0;
    if (!one && !each && !mix) {
        fprintf(stderr, "usage: see the comment at the top of %s\n", __FILE__);
        return 2;
    }
    bool cont = one && strcmp(argv[2], "continue") == 0;
    if (one && !cont && strcmp(argv[2], "abort") != 0)
        it_fail("one-sync wants abort or continue, not %s", argv[2]);
    char **a = one ? argv + 3 : argv + 2; /* CLIENT PRIMARY SECONDARY X Y */
    PGconn *cl = it_connect(a[0]), *p = direct(a[1]), *s = direct(a[2]);
    if (one)
        one_sync(cont, cl, p, s, atol(a[3]), atol(a[4]));
    else if (each)
        sync_each(cl, p, s, atol(a[3]), atol(a[4]));
    else
        mixed(cl, p, s, atol(a[3]), atol(a[4]));
    PQfinish(cl);
    PQfinish(p);
    PQfinish(s);
    return 0;
}
