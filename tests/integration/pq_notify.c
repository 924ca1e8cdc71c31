/* LISTEN/NOTIFY between two client connections: the payload arrives while the
 * listener is idle, pg_notify() works through the extended protocol, and a
 * NOTIFY in a rolled-back transaction is never delivered. */
#include "itest.h"

/* Waits up to `timeout` s for a notification on `c`; NULL if none came. */
static PGnotify *wait_notify(PGconn *c, double timeout)
{
    double deadline = it_now() + timeout;
    for (;;) {
        PGnotify *n;
        if (!PQconsumeInput(c))
            it_fail("listener lost: %s", it_msg(PQerrorMessage(c)));
        if ((n = PQnotifies(c)) != NULL)
            return n;
        if (it_now() >= deadline || !it_wait_readable(c, deadline - it_now()))
            return NULL;
    }
}

static void expect_notify(PGconn *l, const char *chan, const char *payload)
{
    PGnotify *n = wait_notify(l, 5);
    if (n == NULL)
        it_fail("no notification on %s within 5 s (want payload '%s')", chan, payload);
    if (strcmp(n->relname, chan) != 0 || strcmp(n->extra, payload) != 0)
        it_fail("got notification %s '%s', want %s '%s'", n->relname, n->extra, chan, payload);
    it_ok("notification %s '%s' arrived", n->relname, n->extra);
    PQfreemem(n);
}

int main(int argc, char **argv)
{
    PGconn *listener, *talker;
    PGnotify *n;
    PGresult *r;
    char chan[64], sql[256], payload[64];
    const char *vals[2];
    if (argc < 2) {
        fprintf(stderr, "usage: %s CONNINFO\n", argv[0]);
        return 2;
    }
    listener = it_connect(argv[1]);
    talker = it_connect(argv[1]);
    snprintf(chan, sizeof chan, "itest_chan_%ld", (long)getpid());
    snprintf(payload, sizeof payload, "hello from %ld", (long)getpid());

    snprintf(sql, sizeof sql, "listen %s", chan);
    it_exec_clear(listener, sql);
    snprintf(sql, sizeof sql, "notify %s, '%s'", chan, payload);
    it_exec_clear(talker, sql);
    expect_notify(listener, chan, payload);

    vals[0] = chan;
    vals[1] = "via pg_notify";
    r = PQexecParams(talker, "select pg_notify($1, $2)", 2, NULL, vals, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        it_fail("pg_notify: %s", it_msg(PQerrorMessage(talker)));
    PQclear(r);
    expect_notify(listener, chan, "via pg_notify");

    it_exec_clear(talker, "begin");
    snprintf(sql, sizeof sql, "notify %s, 'rolled back'", chan);
    it_exec_clear(talker, sql);
    it_exec_clear(talker, "rollback");
    snprintf(sql, sizeof sql, "notify %s, 'after rollback'", chan);
    it_exec_clear(talker, sql);
    expect_notify(listener, chan, "after rollback");
    if ((n = wait_notify(listener, 0.5)) != NULL)
        it_fail("unexpected notification '%s'", n->extra);
    it_ok("NOTIFY in a rolled-back transaction was not delivered");

    /* the listener is still a working session */
    if (it_scalar(listener, "select 1") != 1)
        it_fail("listener unusable");
    PQfinish(listener);
    PQfinish(talker);
    puts("LISTEN/NOTIFY: all good");
    return 0;
}
