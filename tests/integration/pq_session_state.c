/* Session state must stay with the session across transactions: SET (and
 * not SET LOCAL), set_config, RESET, temp tables, SQL PREPARE, advisory locks
 * (released when the client goes away). */
#include "itest.h"

static void expect_text(PGconn *c, const char *sql, const char *want)
{
    PGresult *r = it_exec(c, sql);
    const char *got = PQntuples(r) == 1 ? PQgetvalue(r, 0, 0) : "(no row)";
    if (strcmp(got, want) != 0)
        it_fail("%s -> '%s', want '%s'", sql, got, want);
    PQclear(r);
}

int main(int argc, char **argv)
{
    PGconn *a, *b;
    double t0;
    if (argc < 2) {
        fprintf(stderr, "usage: %s CONNINFO\n", argv[0]);
        return 2;
    }
    a = it_connect(argv[1]);
    b = it_connect(argv[1]);

    it_exec_clear(a, "set statement_timeout = '1234ms'");
    it_exec_clear(a, "begin");
    it_exec_clear(a, "set local work_mem = '1234kB'");
    expect_text(a, "show work_mem", "1234kB");
    it_exec_clear(a, "commit");
    expect_text(a, "show statement_timeout", "1234ms");
    expect_text(a, "select current_setting('work_mem') <> '1234kB'", "t");
    expect_text(b, "show statement_timeout", "0");
    it_exec_clear(a, "select set_config('application_name', 'itest_state', false)");
    expect_text(a, "show application_name", "itest_state");
    it_exec_clear(a, "reset statement_timeout");
    expect_text(a, "show statement_timeout", "0");
    it_ok("SET kept across transactions, SET LOCAL dropped at COMMIT, set_config, RESET; "
          "other sessions unaffected");

    it_exec_clear(a, "create temp table itest_tmp (v int)");
    it_exec_clear(a, "insert into itest_tmp values (1), (2)");
    if (it_scalar(a, "select count(*) from itest_tmp") != 2)
        it_fail("temp table lost its rows");
    expect_text(b, "select to_regclass('itest_tmp') is null", "t");
    it_exec_clear(a, "prepare itest_plus(int) as select $1 + 1");
    it_exec_clear(a, "begin");
    if (it_scalar(a, "execute itest_plus(41)") != 42)
        it_fail("EXECUTE of a SQL-prepared statement");
    it_exec_clear(a, "commit");
    it_exec_clear(a, "deallocate itest_plus");
    it_exec_clear(a, "drop table itest_tmp");
    it_ok("temp table and SQL PREPARE live across transactions, invisible to other sessions");

    expect_text(a, "select pg_advisory_lock(77123)::text", "");
    expect_text(b, "select pg_try_advisory_lock(77123)", "f");
    PQfinish(a);
    t0 = it_now();
    for (;;) {
        PGresult *r = it_exec(b, "select pg_try_advisory_lock(77123)");
        int got = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
        PQclear(r);
        if (got)
            break;
        if (it_now() - t0 > 5)
            it_fail("advisory lock still held 5 s after its session ended");
        it_sleep(0.05);
    }
    it_exec_clear(b, "select pg_advisory_unlock(77123)");
    it_ok("advisory lock held for its session, released %.2f s after the client left",
          it_now() - t0);
    PQfinish(b);
    puts("session state: all good");
    return 0;
}
