/* Small helpers shared by the libpq integration programs in this folder.
 * Each program takes a conninfo (URL or key=value) as argv[1], prints one
 * "  ok ..." line per thing it verified and exits 1 on the first failure,
 * after printing "  FAILED: <reason>". Header-only because CMake turns every
 * .c file here into its own executable. */
#ifndef PGTANDEM_ITEST_H
#define PGTANDEM_ITEST_H

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

static inline void it_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static inline void it_fail(const char *fmt, ...)
{
    va_list ap;
    fputs("  FAILED: ", stdout);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    fputc('\n', stdout);
    fflush(stdout);
    exit(1);
}

static inline void it_ok(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline void it_ok(const char *fmt, ...)
{
    va_list ap;
    fputs("  ok ", stdout);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    fputc('\n', stdout);
    fflush(stdout);
}

static inline double it_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline void it_sleep(double seconds)
{
    struct timespec ts;
    ts.tv_sec = (time_t)seconds;
    ts.tv_nsec = (long)((seconds - (double)ts.tv_sec) * 1e9);
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* A one-line copy of libpq's error message (libpq ends it with '\n'). */
static inline const char *it_msg(const char *m)
{
    static char buf[512];
    size_t n;
    snprintf(buf, sizeof buf, "%s", m ? m : "(null)");
    n = strlen(buf);
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
        buf[--n] = '\0';
    for (char *p = buf; *p; p++)
        if (*p == '\n')
            *p = ' ';
    return buf;
}

static inline void it_quiet_notice(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

/* Connects or fails; NOTICEs (drop table if exists ...) are not printed. */
static inline PGconn *it_connect(const char *conninfo)
{
    PGconn *c = PQconnectdb(conninfo);
    if (c == NULL || PQstatus(c) != CONNECTION_OK)
        it_fail("connect: %s", it_msg(c ? PQerrorMessage(c) : "out of memory"));
    PQsetNoticeProcessor(c, it_quiet_notice, NULL);
    return c;
}

/* Runs one statement that must succeed (command or rows); returns the result. */
static inline PGresult *it_exec(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        it_fail("%s: %s %s", sql, PQresStatus(st), it_msg(PQerrorMessage(c)));
    return r;
}

static inline void it_exec_clear(PGconn *c, const char *sql)
{
    PQclear(it_exec(c, sql));
}

/* First column of the first row as a long; fails unless exactly one row. */
static inline long it_scalar(PGconn *c, const char *sql)
{
    PGresult *r = it_exec(c, sql);
    long v;
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
        it_fail("%s: expected one row, got %d", sql, PQntuples(r));
    v = strtol(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return v;
}

static inline const char *it_sqlstate(const PGresult *r)
{
    const char *s = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    return s ? s : "-----";
}

/* Waits until the connection's socket is readable; false on timeout. */
static inline int it_wait_readable(PGconn *c, double timeout)
{
    struct pollfd p = {.fd = PQsocket(c), .events = POLLIN};
    int rc = poll(&p, 1, (int)(timeout * 1000));
    return rc > 0;
}

/* Reads the next result of an async query, failing after `timeout` seconds
 * (so a proxy that never answers gives a clear failure, not a hang).
 * Returns NULL at the end of a query's results, like PQgetResult. */
static inline PGresult *it_get_result(PGconn *c, double timeout)
{
    double deadline = it_now() + timeout;
    while (PQisBusy(c)) {
        double left = deadline - it_now();
        if (left <= 0 || !it_wait_readable(c, left))
            it_fail("no result within %.1f s", timeout);
        if (!PQconsumeInput(c))
            it_fail("connection lost: %s", it_msg(PQerrorMessage(c)));
    }
    return PQgetResult(c);
}

#endif
