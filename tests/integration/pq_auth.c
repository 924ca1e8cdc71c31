/* Authentication failures as libpq reports them: the right password
 * connects; a wrong password and an unknown user are refused with "password
 * authentication failed"; the good login still works afterwards. The SQLSTATE
 * (28P01) of a failed login is checked by raw_protocol.py, since libpq keeps
 * no result for a failed connection. */
#include "itest.h"

/* Connects with argv[1]'s parameters, some of them replaced. */
static PGconn *connect_with(const char *conninfo, const char *user, const char *password)
{
    char *err = NULL;
    PQconninfoOption *opts = PQconninfoParse(conninfo, &err), *o;
    const char *keys[64], *vals[64];
    int n = 0;
    PGconn *c;
    if (opts == NULL)
        it_fail("bad conninfo: %s", it_msg(err));
    for (o = opts; o->keyword != NULL && n < 60; o++) {
        const char *v = o->val;
        if (user && strcmp(o->keyword, "user") == 0)
            v = user;
        else if (password && strcmp(o->keyword, "password") == 0)
            v = password;
        if (v == NULL)
            continue;
        keys[n] = o->keyword;
        vals[n++] = v;
    }
    keys[n] = NULL;
    vals[n] = NULL;
    c = PQconnectdbParams(keys, vals, 0);
    PQconninfoFree(opts);
    return c;
}

static void expect_refused(const char *conninfo, const char *user, const char *password,
                           const char *what)
{
    PGconn *c = connect_with(conninfo, user, password);
    const char *msg = it_msg(PQerrorMessage(c));
    if (PQstatus(c) == CONNECTION_OK)
        it_fail("%s: the connection was accepted", what);
    if (strstr(msg, "password authentication failed") == NULL)
        it_fail("%s: refused, but the message lacks 'password authentication failed': %s", what,
                msg);
    it_ok("%s refused: %s", what, msg);
    PQfinish(c);
}

int main(int argc, char **argv)
{
    PGconn *c;
    if (argc < 2) {
        fprintf(stderr, "usage: %s CONNINFO\n", argv[0]);
        return 2;
    }
    c = it_connect(argv[1]);
    if (it_scalar(c, "select 1") != 1)
        it_fail("good login unusable");
    PQfinish(c);
    it_ok("right password accepted");
    expect_refused(argv[1], NULL, "not-the-password", "wrong password");
    expect_refused(argv[1], "itest_no_such_user", "whatever", "unknown user");
    c = it_connect(argv[1]);
    if (it_scalar(c, "select 2") != 2)
        it_fail("good login unusable after the failures");
    PQfinish(c);
    it_ok("right password still accepted after the failures");
    puts("authentication: all good");
    return 0;
}
