/* A client that dies mid-transaction: a child connects, BEGINs, updates a
 * row (taking its lock) and inserts a marker, then dies without COMMIT, once
 * by _exit and once by SIGKILL. The parent must see the marker gone, the row
 * unchanged and its lock released (the backend rolled back), and new
 * connections must still work. */
#include <signal.h>
#include <sys/wait.h>

#include "itest.h"

static void child(const char *conninfo, const char *table, int how)
{
    char sql[512];
    PGconn *c = PQconnectdb(conninfo);
    if (PQstatus(c) != CONNECTION_OK)
        _exit(10);
    snprintf(sql, sizeof sql,
             "begin; update %1$s set marker = 'child' where id = 1; "
             "insert into %1$s values (2, 'uncommitted')",
             table);
    if (PQresultStatus(PQexec(c, sql)) != PGRES_COMMAND_OK)
        _exit(11);
    if (how == SIGKILL)
        kill(getpid(), SIGKILL);
    _exit(0); /* no Terminate, no COMMIT: the socket just closes */
}

static void one_death(const char *conninfo, PGconn *p, const char *table, int how)
{
    char sql[512];
    int status;
    double t0;
    pid_t pid = fork();
    if (pid < 0)
        it_fail("fork");
    if (pid == 0)
        child(conninfo, table, how);
    if (waitpid(pid, &status, 0) != pid)
        it_fail("waitpid");
    if (how == SIGKILL ? !(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
                       : !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
        it_fail("child did not get to its open transaction (status 0x%x)", status);

    /* the row lock must go away once the server notices the dead client */
    it_exec_clear(p, "set lock_timeout = '500ms'");
    snprintf(sql, sizeof sql, "update %s set marker = 'parent' where id = 1", table);
    t0 = it_now();
    for (;;) {
        PGresult *r = PQexec(p, sql);
        if (PQresultStatus(r) == PGRES_COMMAND_OK) {
            PQclear(r);
            break;
        }
        if (strcmp(it_sqlstate(r), "55P03") != 0 || it_now() - t0 > 8)
            it_fail("row lock of the dead client still held after %.1f s: %s", it_now() - t0,
                    it_msg(PQresultErrorMessage(r)));
        PQclear(r);
    }
    snprintf(sql, sizeof sql, "select count(*) from %s where id = 2 or marker = 'child'", table);
    if (it_scalar(p, sql) != 0)
        it_fail("the dead client's uncommitted work is visible");
    it_ok("client %s in a transaction: rolled back, lock released after %.2f s",
          how == SIGKILL ? "killed by SIGKILL" : "gone by _exit", it_now() - t0);
}

int main(int argc, char **argv)
{
    PGconn *p, *fresh;
    char table[64], sql[512];
    if (argc < 2) {
        fprintf(stderr, "usage: %s CONNINFO\n", argv[0]);
        return 2;
    }
    p = it_connect(argv[1]);
    snprintf(table, sizeof table, "itest_killed_%ld", (long)getpid());
    snprintf(sql, sizeof sql,
             "drop table if exists %1$s; create table %1$s (id int primary key, marker text); "
             "insert into %1$s values (1, 'initial')",
             table);
    it_exec_clear(p, sql);
    fflush(stdout);
    one_death(argv[1], p, table, 0);
    one_death(argv[1], p, table, SIGKILL);
    fresh = it_connect(argv[1]);
    if (it_scalar(fresh, "select 12") != 12)
        it_fail("new connection unusable");
    it_ok("new connections still work");
    PQfinish(fresh);
    snprintf(sql, sizeof sql, "drop table %s", table);
    it_exec_clear(p, sql);
    PQfinish(p);
    puts("client killed mid-transaction: all good");
    return 0;
}
