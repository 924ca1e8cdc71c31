/* libpq pipeline-mode helpers shared by pq_pipeline.c and dual/pq_dual_pipeline.c: enter and
 * leave pipeline mode, send one statement with an int parameter, and tally the results of
 * everything sent up to a number of Syncs. */
#ifndef PGTANDEM_ITEST_PIPELINE_H
#define PGTANDEM_ITEST_PIPELINE_H

#include "itest.h"

#define IT_MAX_EVENTS 4096

struct it_tally {
    int ok, errors, aborted, syncs, tuples;
    char first_error[6];
    int first_error_at; /* 1-based statement number */
    char first_message[256];
};

/* Reads results until `want_syncs` PIPELINE_SYNC results have arrived. */
static inline void it_pipe_collect(PGconn *c, int want_syncs, struct it_tally *t)
{
    int stmt = 1, guard = 0;
    memset(t, 0, sizeof *t);
    while (t->syncs < want_syncs) {
        PGresult *r = it_get_result(c, 15);
        if (++guard > IT_MAX_EVENTS)
            it_fail("too many results: %d syncs of %d seen", t->syncs, want_syncs);
        if (r == NULL) { /* end of one statement's results */
            stmt++;
            continue;
        }
        switch (PQresultStatus(r)) {
        case PGRES_COMMAND_OK:
            t->ok++;
            break;
        case PGRES_TUPLES_OK:
            t->ok++;
            t->tuples++;
            break;
        case PGRES_FATAL_ERROR:
            if (t->errors++ == 0) {
                snprintf(t->first_error, sizeof t->first_error, "%s", it_sqlstate(r));
                snprintf(t->first_message, sizeof t->first_message, "%s",
                         it_msg(PQresultErrorMessage(r)));
                t->first_error_at = stmt;
            }
            break;
        case PGRES_PIPELINE_ABORTED:
            t->aborted++;
            break;
        case PGRES_PIPELINE_SYNC:
            t->syncs++; /* not followed by a NULL */
            break;
        default:
            it_fail("unexpected result %s", PQresStatus(PQresultStatus(r)));
        }
        PQclear(r);
    }
}

static inline void it_pipe_enter(PGconn *c)
{
    if (!PQenterPipelineMode(c))
        it_fail("PQenterPipelineMode: %s", it_msg(PQerrorMessage(c)));
}

static inline void it_pipe_leave(PGconn *c)
{
    /* fails if anything is still pending: the proxy sent fewer or more results */
    PGresult *extra;
    if (PQpipelineStatus(c) == PQ_PIPELINE_ON && (extra = PQgetResult(c)) != NULL)
        it_fail("unexpected extra result after the last sync: %s",
                PQresStatus(PQresultStatus(extra)));
    if (!PQexitPipelineMode(c))
        it_fail("PQexitPipelineMode: %s", it_msg(PQerrorMessage(c)));
}

static inline void it_pipe_sync(PGconn *c)
{
    if (!PQpipelineSync(c))
        it_fail("PQpipelineSync: %s", it_msg(PQerrorMessage(c)));
}

/* Queues `sql` with text parameters (extended protocol: Parse, Bind, Describe, Execute). */
static inline void it_pipe_send(PGconn *c, const char *sql, int n, const char *const *vals)
{
    if (!PQsendQueryParams(c, sql, n, NULL, vals, NULL, NULL, 0))
        it_fail("send %s: %s", sql, it_msg(PQerrorMessage(c)));
}

static inline void it_pipe_send_int(PGconn *c, const char *sql, int value)
{
    char buf[16];
    const char *vals[1] = {buf};
    snprintf(buf, sizeof buf, "%d", value);
    it_pipe_send(c, sql, 1, vals);
}

#endif
