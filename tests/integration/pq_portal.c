/* Portals read a few rows at a time: a cursor in a transaction fetched with
 * FETCH 1 twice, then the rest, through both the simple and the extended
 * protocol, and a WITH HOLD cursor that must outlive its transaction on the
 * same backend. (Execute with max_rows and PortalSuspended at the wire level is
 * checked by raw_protocol.py.) */
#include "itest.h"

/* Fetches with the simple protocol (extended=0) or with PQexecParams. */
static void expect_fetch(PGconn *c, const char *sql, int extended, const char *want)
{
    char got[256] = "";
    PGresult *r = extended ? PQexecParams(c, sql, 0, NULL, NULL, NULL, NULL, 0) : PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        it_fail("%s: %s %s", sql, PQresStatus(PQresultStatus(r)), it_msg(PQerrorMessage(c)));
    for (int i = 0; i < PQntuples(r); i++) {
        size_t n = strlen(got);
        snprintf(got + n, sizeof got - n, "%s%s", i ? "," : "", PQgetvalue(r, i, 0));
    }
    PQclear(r);
    if (strcmp(got, want) != 0)
        it_fail("%s (%s protocol): got [%s], want [%s]", sql, extended ? "extended" : "simple", got,
                want);
    it_ok("%-22s (%s) -> [%s]", sql, extended ? "extended" : "simple", got);
}

static void cursor_in_transaction(PGconn *c, int extended)
{
    it_exec_clear(c, "begin");
    it_exec_clear(c, "declare itest_cur cursor for select g from generate_series(1, 10) g");
    expect_fetch(c, "fetch 1 from itest_cur", extended, "1");
    expect_fetch(c, "fetch 1 from itest_cur", extended, "2");
    expect_fetch(c, "fetch 3 from itest_cur", extended, "3,4,5");
    expect_fetch(c, "fetch all from itest_cur", extended, "6,7,8,9,10");
    expect_fetch(c, "fetch 1 from itest_cur", extended, "");
    it_exec_clear(c, "close itest_cur");
    it_exec_clear(c, "commit");
}

static void cursor_with_hold(PGconn *c)
{
    it_exec_clear(c, "begin");
    it_exec_clear(c, "declare itest_hold cursor with hold for "
                     "select g from generate_series(1, 3) g order by g");
    it_exec_clear(c, "commit");
    expect_fetch(c, "fetch 1 from itest_hold", 0, "1");
    expect_fetch(c, "fetch 1 from itest_hold", 1, "2");
    it_exec_clear(c, "close itest_hold");
    it_ok("WITH HOLD cursor read after COMMIT on the same session");
}

int main(int argc, char **argv)
{
    PGconn *c;
    if (argc < 2) {
        fprintf(stderr, "usage: %s CONNINFO\n", argv[0]);
        return 2;
    }
    c = it_connect(argv[1]);
    cursor_in_transaction(c, 0);
    cursor_in_transaction(c, 1);
    cursor_with_hold(c);
    if (PQtransactionStatus(c) != PQTRANS_IDLE)
        it_fail("transaction status %d at the end, want IDLE", PQtransactionStatus(c));
    PQfinish(c);
    puts("portals and cursors: all good");
    return 0;
}
