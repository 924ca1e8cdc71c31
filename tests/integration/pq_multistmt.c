/* Simple-query protocol: one Query carrying several statements, with and
 * without an error in the middle, the empty query, and the transaction status
 * reported by ReadyForQuery. Each outcome is checked against what PostgreSQL
 * itself does; with a second conninfo (argv[2], straight to the database) the
 * same script is also run there and the two transcripts must be identical. */
#include "itest.h"

struct step {
    const char *sql;      /* %1$s is the scratch table */
    const char *expected; /* transcript: one "STATUS:detail" per result */
};

static const struct step steps[] = {
    {"select 1 as a; select 2 as b; select 3 as c", "TUPLES_OK:1|TUPLES_OK:2|TUPLES_OK:3"},
    /* an implicit transaction: the first INSERT is rolled back with the error */
    {"insert into %1$s values (1); select 1/0; insert into %1$s values (2)",
     "COMMAND_OK:INSERT 0 1|FATAL_ERROR:22012"},
    {"select count(*) from %1$s", "TUPLES_OK:0"},
    /* an explicit COMMIT inside the string ends the first transaction */
    {"begin; insert into %1$s values (10); commit; insert into %1$s values (11); select 1/0; "
     "insert into %1$s values (12)",
     "COMMAND_OK:BEGIN|COMMAND_OK:INSERT 0 1|COMMAND_OK:COMMIT|COMMAND_OK:INSERT 0 1|"
     "FATAL_ERROR:22012"},
    {"select string_agg(id::text, ',' order by id) from %1$s", "TUPLES_OK:10"},
    {"", "EMPTY_QUERY:"},
    {"select 'x'; ;", "TUPLES_OK:x"},
    /* error in the first statement: nothing after it runs */
    {"select nosuchcolumn from %1$s; insert into %1$s values (20)", "FATAL_ERROR:42703"},
    {"select count(*) from %1$s where id = 20", "TUPLES_OK:0"},
    {"select 42", "TUPLES_OK:42"},
};

static const char *status_name(ExecStatusType st)
{
    const char *s = PQresStatus(st); /* "PGRES_TUPLES_OK" */
    return strncmp(s, "PGRES_", 6) == 0 ? s + 6 : s;
}

/* Sends one Query and describes every result it produced. */
static void transcript(PGconn *c, const char *sql, char *out, size_t outlen)
{
    PGresult *r;
    out[0] = '\0';
    if (!PQsendQuery(c, sql))
        it_fail("send %s: %s", sql, it_msg(PQerrorMessage(c)));
    while ((r = it_get_result(c, 10)) != NULL) {
        ExecStatusType st = PQresultStatus(r);
        const char *detail = "";
        size_t n = strlen(out);
        if (st == PGRES_FATAL_ERROR || st == PGRES_NONFATAL_ERROR)
            detail = it_sqlstate(r);
        else if (st == PGRES_TUPLES_OK)
            detail = PQntuples(r) > 0 ? PQgetvalue(r, 0, 0) : "(no rows)";
        else if (st == PGRES_COMMAND_OK)
            detail = PQcmdStatus(r);
        snprintf(out + n, outlen - n, "%s%s:%s", n ? "|" : "", status_name(st), detail);
        PQclear(r);
    }
}

/* Runs the whole script; returns the concatenated transcript. */
static void run_script(PGconn *c, const char *table, char *all, size_t alllen, int check)
{
    char sql[512], got[512], create[128], drop[128];
    snprintf(create, sizeof create, "create table %s (id int primary key)", table);
    snprintf(drop, sizeof drop, "drop table if exists %s", table);
    it_exec_clear(c, drop);
    it_exec_clear(c, create);
    all[0] = '\0';
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        size_t n = strlen(all);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
        snprintf(sql, sizeof sql, steps[i].sql, table);
#pragma GCC diagnostic pop
        transcript(c, sql, got, sizeof got);
        if (check && strcmp(got, steps[i].expected) != 0)
            it_fail("%s\n    expected %s\n    got      %s", sql, steps[i].expected, got);
        if (check)
            it_ok("%-60.60s -> %s", sql[0] ? sql : "(empty query)", got);
        snprintf(all + n, alllen - n, "%s\n", got);
    }
    it_exec_clear(c, drop);
}

static void check_txn_status(PGconn *c)
{
    PGresult *r;
    it_exec_clear(c, "begin");
    if (PQtransactionStatus(c) != PQTRANS_INTRANS)
        it_fail("after BEGIN: transaction status %d, want INTRANS", PQtransactionStatus(c));
    r = PQexec(c, "select 1/0");
    PQclear(r);
    if (PQtransactionStatus(c) != PQTRANS_INERROR)
        it_fail("after an error in BEGIN: status %d, want INERROR", PQtransactionStatus(c));
    r = PQexec(c, "select 1");
    if (PQresultStatus(r) != PGRES_FATAL_ERROR || strcmp(it_sqlstate(r), "25P02") != 0)
        it_fail("statement in a failed transaction: %s %s, want 25P02",
                PQresStatus(PQresultStatus(r)), it_sqlstate(r));
    PQclear(r);
    it_exec_clear(c, "rollback");
    if (PQtransactionStatus(c) != PQTRANS_IDLE)
        it_fail("after ROLLBACK: status %d, want IDLE", PQtransactionStatus(c));
    it_ok("transaction status: BEGIN -> T, error -> E (25P02 after), ROLLBACK -> I");
}

int main(int argc, char **argv)
{
    static char mine[8192], theirs[8192];
    char table[64];
    PGconn *c;
    if (argc < 2) {
        fprintf(stderr, "usage: %s CONNINFO [REFERENCE_CONNINFO]\n", argv[0]);
        return 2;
    }
    c = it_connect(argv[1]);
    snprintf(table, sizeof table, "itest_ms_%ld", (long)getpid());
    run_script(c, table, mine, sizeof mine, 1);
    check_txn_status(c);
    if (it_scalar(c, "select 7") != 7)
        it_fail("session not usable at the end");
    PQfinish(c);
    if (argc > 2) {
        PGconn *ref = it_connect(argv[2]);
        snprintf(table, sizeof table, "itest_msref_%ld", (long)getpid());
        run_script(ref, table, theirs, sizeof theirs, 0);
        PQfinish(ref);
        if (strcmp(mine, theirs) != 0)
            it_fail("transcript differs from PostgreSQL's:\n--- tested\n%s--- reference\n%s", mine,
                    theirs);
        it_ok("transcript identical to the reference connection's");
    }
    puts("multi-statement simple query: all good");
    return 0;
}
