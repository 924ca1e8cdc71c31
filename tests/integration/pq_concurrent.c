/* Many clients at once: N threads (default 200) each connect, wait until all
 * are connected, then run a parameterised select, a small transaction that
 * inserts its own row, and a read of it. Every client must succeed and every
 * row must be there. All threads connect at once: a connection storm, as
 * when a service restarts with a full pool. On a busy two-core machine 200
 * simultaneous SCRAM logins can take PostgreSQL itself several seconds. */
#include <pthread.h>

#include "itest.h"

struct worker {
    const char *conninfo;
    const char *table;
    int id;
    char error[256];
};

static pthread_barrier_t all_connected;

static void *work(void *arg)
{
    struct worker *w = arg;
    PGconn *c = PQconnectdb(w->conninfo);
    PGresult *r = NULL;
    char id[16], sql[256];
    const char *vals[1] = {id};
    int connected = PQstatus(c) == CONNECTION_OK;

    if (!connected)
        snprintf(w->error, sizeof w->error, "connect: %.200s", PQerrorMessage(c));
    pthread_barrier_wait(&all_connected); /* every client holds a session now */
    if (!connected)
        goto out;
    snprintf(id, sizeof id, "%d", w->id);
    r = PQexecParams(c, "select $1::int", 1, NULL, vals, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || strcmp(PQgetvalue(r, 0, 0), id) != 0) {
        snprintf(w->error, sizeof w->error, "select $1::int: %.200s", PQerrorMessage(c));
        goto out;
    }
    PQclear(r);
    r = PQexec(c, "begin");
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        snprintf(w->error, sizeof w->error, "begin: %.200s", PQerrorMessage(c));
        goto out;
    }
    PQclear(r);
    snprintf(sql, sizeof sql, "insert into %s values ($1::int, pg_backend_pid())", w->table);
    r = PQexecParams(c, sql, 1, NULL, vals, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        snprintf(w->error, sizeof w->error, "insert: %.200s", PQerrorMessage(c));
        goto out;
    }
    PQclear(r);
    r = PQexec(c, "commit");
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        snprintf(w->error, sizeof w->error, "commit: %.200s", PQerrorMessage(c));
        goto out;
    }
    PQclear(r);
    snprintf(sql, sizeof sql, "select count(*) from %s where id = $1::int", w->table);
    r = PQexecParams(c, sql, 1, NULL, vals, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || strcmp(PQgetvalue(r, 0, 0), "1") != 0)
        snprintf(w->error, sizeof w->error, "read back: %.200s", PQerrorMessage(c));
out:
    PQclear(r);
    PQfinish(c);
    return NULL;
}

int main(int argc, char **argv)
{
    int n = argc > 2 ? atoi(argv[2]) : 200, failed = 0;
    struct worker *w;
    pthread_t *th;
    PGconn *c;
    char table[64], sql[512];
    double t0;
    if (argc < 2 || n < 1) {
        fprintf(stderr, "usage: %s CONNINFO [CLIENTS]\n", argv[0]);
        return 2;
    }
    c = it_connect(argv[1]);
    snprintf(table, sizeof table, "itest_conc_%ld", (long)getpid());
    snprintf(sql, sizeof sql, "drop table if exists %1$s; create table %1$s (id int primary key, pid int)",
             table);
    it_exec_clear(c, sql);
    w = calloc((size_t)n, sizeof *w);
    th = calloc((size_t)n, sizeof *th);
    if (w == NULL || th == NULL)
        it_fail("out of memory");
    pthread_barrier_init(&all_connected, NULL, (unsigned)n);
    t0 = it_now();
    for (int i = 0; i < n; i++) {
        w[i] = (struct worker){.conninfo = argv[1], .table = table, .id = i + 1};
        if (pthread_create(&th[i], NULL, work, &w[i]) != 0)
            it_fail("pthread_create #%d", i);
    }
    for (int i = 0; i < n; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < n; i++)
        if (w[i].error[0]) {
            if (failed++ < 5)
                printf("  client %d: %s\n", w[i].id, w[i].error);
        }
    if (failed)
        it_fail("%d of %d concurrent clients failed", failed, n);
    snprintf(sql, sizeof sql, "select count(*) from %s", table);
    if (it_scalar(c, sql) != n)
        it_fail("%ld rows, want %d", it_scalar(c, sql), n);
    it_ok("%d clients connected at once, each ran a parameterised select and a transaction "
          "(%.2f s)",
          n, it_now() - t0);
    snprintf(sql, sizeof sql, "drop table %s", table);
    it_exec_clear(c, sql);
    PQfinish(c);
    free(w);
    free(th);
    puts("concurrent clients: all good");
    return 0;
}
