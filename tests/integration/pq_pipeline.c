/* Extended protocol through libpq's pipeline mode: many Parse/Bind/Execute
 * with one Sync and an error in the middle (the rest is skipped, one
 * ReadyForQuery, the implicit transaction rolled back), a Sync after every
 * statement (an error only spoils its own segment), a Flush without Sync
 * (results must arrive before the Sync), and named statements with Describe. */
#include "itest_pipeline.h"

static long count_rows(PGconn *c, const char *table)
{
    char sql[128];
    snprintf(sql, sizeof sql, "select count(*) from %s", table);
    return it_scalar(c, sql);
}

static void reset_table(PGconn *c, const char *table)
{
    char sql[160];
    snprintf(sql, sizeof sql, "drop table if exists %s", table);
    it_exec_clear(c, sql);
    snprintf(sql, sizeof sql, "create table %s (id int primary key)", table);
    it_exec_clear(c, sql);
}

/* n inserts, one Sync; statement fail_at fails with `sqlstate`. */
static void one_sync(PGconn *c, const char *table, int n, int fail_at, int dup)
{
    char ins[128], bad[128];
    struct it_tally t;
    const char *want = dup ? "23505" : "22012";
    reset_table(c, table);
    snprintf(ins, sizeof ins, "insert into %s values ($1::int)", table);
    snprintf(bad, sizeof bad, dup ? "insert into %s values ($1::int - 1)" : "select 1/($1::int * 0)",
             table);
    it_pipe_enter(c);
    for (int i = 1; i <= n; i++)
        it_pipe_send_int(c, i == fail_at ? bad : ins, i);
    it_pipe_sync(c);
    it_pipe_collect(c, 1, &t);
    it_pipe_leave(c);
    if (t.ok != fail_at - 1 || t.errors != 1 || t.aborted != n - fail_at || t.syncs != 1)
        it_fail("%d statements, one Sync, #%d failing: got ok=%d errors=%d aborted=%d syncs=%d; "
                "want ok=%d errors=1 aborted=%d syncs=1",
                n, fail_at, t.ok, t.errors, t.aborted, t.syncs, fail_at - 1, n - fail_at);
    if (strcmp(t.first_error, want) != 0 || t.first_error_at != fail_at)
        it_fail("error %s at #%d, want %s at #%d", t.first_error, t.first_error_at, want, fail_at);
    if (count_rows(c, table) != 0)
        it_fail("%ld rows kept; the implicit transaction must roll back", count_rows(c, table));
    it_ok("%d statements + 1 Sync, error %s at #%d: %d ok, %d PIPELINE_ABORTED, 1 PIPELINE_SYNC, "
          "0 rows kept",
          n, want, fail_at, t.ok, t.aborted);
}

static void sync_each(PGconn *c, const char *table)
{
    char ins[128], bad[64];
    struct it_tally t;
    const int n = 5;
    reset_table(c, table);
    snprintf(ins, sizeof ins, "insert into %s values ($1::int)", table);
    snprintf(bad, sizeof bad, "select 1/($1::int * 0)");
    it_pipe_enter(c);
    for (int i = 1; i <= n; i++) {
        it_pipe_send_int(c, i == 2 ? bad : ins, i);
        it_pipe_sync(c);
    }
    it_pipe_collect(c, n, &t);
    it_pipe_leave(c);
    if (t.syncs != n || t.ok != n - 1 || t.errors != 1 || t.aborted != 0)
        it_fail("Sync after each of %d, #2 failing: ok=%d errors=%d aborted=%d syncs=%d", n, t.ok,
                t.errors, t.aborted, t.syncs);
    if (count_rows(c, table) != n - 1)
        it_fail("%ld rows, want %d (#3 must still run)", count_rows(c, table), n - 1);
    it_ok("Sync after each of %d statements, #2 failing: %d PIPELINE_SYNC, #3..#5 ran, %d rows", n,
          t.syncs, n - 1);
}

static void flush_without_sync(PGconn *c)
{
    PGresult *r;
    it_pipe_enter(c);
    it_pipe_send_int(c, "select $1::int + 1", 41);
    if (!PQsendFlushRequest(c) || PQflush(c) != 0)
        it_fail("PQsendFlushRequest: %s", it_msg(PQerrorMessage(c)));
    r = it_get_result(c, 5); /* must arrive with no Sync sent */
    if (PQresultStatus(r) != PGRES_TUPLES_OK || strcmp(PQgetvalue(r, 0, 0), "42") != 0)
        it_fail("Flush: got %s", PQresStatus(PQresultStatus(r)));
    PQclear(r);
    if ((r = it_get_result(c, 5)) != NULL)
        it_fail("Flush: extra result %s", PQresStatus(PQresultStatus(r)));
    it_pipe_sync(c);
    r = it_get_result(c, 5);
    if (PQresultStatus(r) != PGRES_PIPELINE_SYNC)
        it_fail("after Flush, Sync gave %s", PQresStatus(PQresultStatus(r)));
    PQclear(r);
    it_pipe_leave(c);
    it_ok("Parse/Bind/Execute + Flush without Sync: result arrived before the Sync");
}

static void named_statements(PGconn *c)
{
    PGresult *r;
    const char *vals[1];
    char buf[16];
    long sum = 0;
    it_pipe_enter(c);
    if (!PQsendPrepare(c, "itest_double", "select $1::int * 2", 1, NULL))
        it_fail("PQsendPrepare: %s", it_msg(PQerrorMessage(c)));
    for (int i = 1; i <= 3; i++) {
        snprintf(buf, sizeof buf, "%d", i);
        vals[0] = buf;
        if (!PQsendQueryPrepared(c, "itest_double", 1, vals, NULL, NULL, 0))
            it_fail("PQsendQueryPrepared: %s", it_msg(PQerrorMessage(c)));
    }
    if (!PQsendDescribePrepared(c, "itest_double"))
        it_fail("PQsendDescribePrepared: %s", it_msg(PQerrorMessage(c)));
    it_pipe_sync(c);
    r = it_get_result(c, 10);
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        it_fail("Parse of a named statement: %s %s", PQresStatus(PQresultStatus(r)),
                it_msg(PQresultErrorMessage(r)));
    PQclear(r);
    if ((r = it_get_result(c, 5)) != NULL)
        it_fail("extra result after Parse");
    for (int i = 1; i <= 3; i++) {
        r = it_get_result(c, 10);
        if (PQresultStatus(r) != PGRES_TUPLES_OK)
            it_fail("execute #%d: %s %s", i, PQresStatus(PQresultStatus(r)),
                    it_msg(PQresultErrorMessage(r)));
        sum += strtol(PQgetvalue(r, 0, 0), NULL, 10);
        PQclear(r);
        if ((r = it_get_result(c, 5)) != NULL)
            it_fail("extra result after execute #%d", i);
    }
    r = it_get_result(c, 10);
    if (PQresultStatus(r) != PGRES_COMMAND_OK || PQnparams(r) != 1 || PQnfields(r) != 1 ||
        PQparamtype(r, 0) != 23 /* int4 */)
        it_fail("Describe: %s nparams=%d nfields=%d", PQresStatus(PQresultStatus(r)), PQnparams(r),
                PQnfields(r));
    PQclear(r);
    if ((r = it_get_result(c, 5)) != NULL)
        it_fail("extra result after Describe");
    r = it_get_result(c, 10);
    if (PQresultStatus(r) != PGRES_PIPELINE_SYNC)
        it_fail("want PIPELINE_SYNC, got %s", PQresStatus(PQresultStatus(r)));
    PQclear(r);
    it_pipe_leave(c);
    if (sum != 12)
        it_fail("named statement results sum to %ld, want 12", sum);
    it_exec_clear(c, "deallocate itest_double");
    it_ok("named Parse + 3 Bind/Execute + Describe statement in one pipeline: 2,4,6; 1 param int4");
}

int main(int argc, char **argv)
{
    PGconn *c;
    char table[64], sql[96];
    if (argc < 2) {
        fprintf(stderr, "usage: %s CONNINFO\n", argv[0]);
        return 2;
    }
    c = it_connect(argv[1]);
    snprintf(table, sizeof table, "itest_pipe_%ld", (long)getpid());
    one_sync(c, table, 10, 5, 0);
    if (it_scalar(c, "select 5") != 5)
        it_fail("session unusable after the aborted pipeline");
    it_ok("session usable after the aborted pipeline");
    sync_each(c, table);
    one_sync(c, table, 100, 50, 1);
    flush_without_sync(c);
    named_statements(c);
    if (it_scalar(c, "select 9") != 9)
        it_fail("session unusable at the end");
    snprintf(sql, sizeof sql, "drop table %s", table);
    it_exec_clear(c, sql);
    PQfinish(c);
    puts("pipeline mode: all good");
    return 0;
}
