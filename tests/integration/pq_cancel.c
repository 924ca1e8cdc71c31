/* Query cancellation: PQcancel during pg_sleep(30) ends it with 57014
 * within about two seconds and leaves the session usable; a cancel sent
 * while the session is idle changes nothing for it or for anyone else.
 * (A CancelRequest with a wrong key is sent by raw_protocol.py.) */
#include "itest.h"

static void cancel_now(PGconn *c)
{
    char err[256];
    PGcancel *k = PQgetCancel(c);
    if (k == NULL)
        it_fail("PQgetCancel returned NULL");
    if (!PQcancel(k, err, sizeof err))
        it_fail("PQcancel: %s", it_msg(err));
    PQfreeCancel(k);
}

/* Runs `sql` to completion and returns the elapsed seconds; fails on error. */
static double timed_ok(PGconn *c, const char *sql)
{
    double t0 = it_now();
    PGresult *r = it_exec(c, sql);
    PQclear(r);
    return it_now() - t0;
}

int main(int argc, char **argv)
{
    PGconn *a, *b;
    PGresult *r;
    double t0, took;
    if (argc < 2) {
        fprintf(stderr, "usage: %s CONNINFO\n", argv[0]);
        return 2;
    }
    a = it_connect(argv[1]);
    b = it_connect(argv[1]);

    if (!PQsendQuery(a, "select pg_sleep(30)"))
        it_fail("send: %s", it_msg(PQerrorMessage(a)));
    it_sleep(0.5);
    t0 = it_now();
    cancel_now(a);
    r = it_get_result(a, 5);
    took = it_now() - t0;
    if (PQresultStatus(r) != PGRES_FATAL_ERROR || strcmp(it_sqlstate(r), "57014") != 0)
        it_fail("cancelled pg_sleep(30): %s %s, want error 57014", PQresStatus(PQresultStatus(r)),
                it_sqlstate(r));
    if (took > 2.0)
        it_fail("cancel took %.2f s to take effect", took);
    PQclear(r);
    while ((r = it_get_result(a, 5)) != NULL)
        PQclear(r);
    it_ok("pg_sleep(30) cancelled after 0.5 s: 57014 in %.2f s", took);
    if (it_scalar(a, "select 3") != 3)
        it_fail("session unusable after the cancel");
    it_ok("session usable after the cancel");

    /* a cancel for an idle session must not linger and hit its next query,
     * nor reach the query another client is running */
    if (!PQsendQuery(b, "select pg_sleep(1)"))
        it_fail("send: %s", it_msg(PQerrorMessage(b)));
    it_sleep(0.2);
    cancel_now(a); /* a is idle; b is sleeping */
    it_sleep(0.3);
    took = timed_ok(a, "select pg_sleep(0.5)");
    r = it_get_result(b, 5);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        it_fail("other client's pg_sleep(1) was hit by a cancel meant for an idle session: %s %s",
                PQresStatus(PQresultStatus(r)), it_sqlstate(r));
    PQclear(r);
    while ((r = it_get_result(b, 5)) != NULL)
        PQclear(r);
    if (took < 0.45)
        it_fail("pg_sleep(0.5) took only %.2f s", took);
    it_ok("cancels sent while idle: the session's next query and another client's query completed");

    PQfinish(a);
    PQfinish(b);
    puts("cancel: all good");
    return 0;
}
