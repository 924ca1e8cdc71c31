/* Shadow reads: the pool of connections to the other side, the runs, and the comparison.
 * See shadow.h. A job lives until both answers are in (or the session let go and the
 * other side ended); a connection is reused by later jobs for the same database. */
#include "proxy/shadow.h"

#include <ev.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "proxy/config.h"
#include "proxy/log.h"
#include "proxy/net.h"
#include "proxy/proxy.h"
#include "proxy/service_stats.h"
#include "proxy/shadow_digest.h"
#include "proxy/shadow_params.h"

typedef enum conn_state { SC_CONNECTING, SC_SETUP, SC_IDLE, SC_RUNNING } conn_state;

typedef struct shadow_conn {
    shadow_pool *pool;
    PGconn *pg;
    conn_state state;
    char *conninfo; /* which database: a copy of the target's conninfo */
    ev_io io;
    int io_fd, io_events;
    ev_timer deadline;
    shadow_job *job;      /* running, or waiting for the connection to be ready */
    bool closing;         /* freed once the callback that decided it returns */
    bool in_callback;
    struct shadow_conn *next;
} shadow_conn;

struct shadow_pool {
    proxy *px;
    shadow_conn *conns;
    size_t n_conns;
    size_t inflight;
    uint64_t rng;
};

/* How one side answered. */
typedef struct side_answer {
    bool done;
    bool error;      /* the server refused the statement */
    bool unusable;   /* no answer to compare: timed out, connection lost, not digestible */
    char sqlstate[6];
    char message[160];
    row_digest rows;
} side_answer;

struct shadow_job {
    shadow_pool *pool;
    uint64_t session_id;
    char service[64];
    char fingerprint[17];
    char tables[200];
    char *sql;
    uint8_t *bind;          /* extended protocol: the Bind body the parameters point into */
    shadow_params *params;  /* NULL for a simple query */
    bool ordered;
    route_side other; /* where the shadow runs */
    side_answer primary, shadow;
};

/* ------------------------------------------------------------------ jobs */

static service_stats *job_slot(shadow_job *j)
{
    proxy *px = j->pool->px;
    for (size_t i = 0; i < px->cfg->n_services; i++)
        if (strcmp(px->cfg->services[i].name, j->service) == 0)
            return stats_slot(&px->stats, (int)i);
    return NULL; /* the service left the config meanwhile */
}

static void describe(const side_answer *a, bool ordered, char *out, size_t len)
{
    char digest[17];
    row_digest_format(&a->rows, ordered, digest);
    if (a->error)
        snprintf(out, len, "error %s \"%s\"", a->sqlstate, a->message);
    else
        snprintf(out, len, "\"%llu rows, digest %s\"", (unsigned long long)a->rows.rows, digest);
}

/* Errors that say nothing about the data: the other side was slow, busy or going away. */
static bool transient(const char *sqlstate)
{
    return strcmp(sqlstate, "57014") == 0 || strncmp(sqlstate, "08", 2) == 0 ||
           strncmp(sqlstate, "57P", 3) == 0 || strncmp(sqlstate, "53", 2) == 0 ||
           strcmp(sqlstate, "40001") == 0 || strcmp(sqlstate, "40P01") == 0;
}

static void compare(shadow_job *j)
{
    service_stats *slot = job_slot(j);
    const side_answer *p = &j->primary, *q = &j->shadow;
    if (p->unusable || q->unusable || (q->error && transient(q->sqlstate))) {
        if (slot)
            slot->shadow_dropped++;
        log_debug("shadow read of session %llu not compared: %s",
                  (unsigned long long)j->session_id,
                  p->unusable ? "the primary's answer could not be digested" : q->message);
        return;
    }
    bool same = p->error || q->error
                    ? p->error == q->error && strcmp(p->sqlstate, q->sqlstate) == 0
                    : row_digest_equal(&p->rows, &q->rows, j->ordered);
    if (same)
        return;
    if (slot)
        slot->shadow_mismatches++;
    char a[240], b[240];
    describe(p, j->ordered, a, sizeof(a));
    describe(q, j->ordered, b, sizeof(b));
    /* the same key=value line as a write divergence (divergence.c) */
    log_warn("divergence session=%llu service=%s what=\"shadow read differs (%s, %s)\" "
             "tables=%s fingerprint=%s primary=%s secondary=%s",
             (unsigned long long)j->session_id, j->service,
             j->other == ROUTE_LEGACY ? "shadow on legacy" : "shadow on service",
             j->ordered ? "ordered" : "any order", j->tables[0] ? j->tables : "-",
             j->fingerprint[0] ? j->fingerprint : "-", a, b);
}

static void job_free(shadow_job *j)
{
    free(j->params);
    free(j->bind);
    free(j->sql);
    free(j);
}

/* Whichever side ends last compares and frees. */
static void job_side_done(shadow_job *j, side_answer *side)
{
    side->done = true;
    if (side == &j->shadow)
        j->pool->inflight--;
    if (!j->primary.done || !j->shadow.done)
        return;
    compare(j);
    job_free(j);
}

void shadow_primary_row(shadow_job *j, const uint8_t *body, size_t len)
{
    if (!row_digest_add_datarow(&j->primary.rows, body, len))
        j->primary.unusable = true;
}

void shadow_primary_error(shadow_job *j, const char *sqlstate)
{
    if (j->primary.error)
        return;
    j->primary.error = true;
    snprintf(j->primary.sqlstate, sizeof(j->primary.sqlstate), "%s", sqlstate);
    snprintf(j->primary.message, sizeof(j->primary.message), "the statement failed");
}

void shadow_primary_end(shadow_job *j, bool comparable)
{
    if (!comparable)
        j->primary.unusable = true;
    job_side_done(j, &j->primary);
}

/* ----------------------------------------------------------- connections */

static void conn_io_cb(struct ev_loop *loop, ev_io *w, int revents);
static void conn_deadline_cb(struct ev_loop *loop, ev_timer *w, int revents);
static void conn_step(shadow_conn *c);

static void ignore_notice(void *arg, const char *message)
{
    (void)arg;
    (void)message; /* the other side's notices are nobody's business */
}

static void watch(shadow_conn *c, int fd, int events)
{
    struct ev_loop *loop = c->pool->px->loop;
    if (c->io_fd == fd && c->io_events == events && ev_is_active(&c->io))
        return;
    ev_io_stop(loop, &c->io);
    c->io_fd = fd;
    c->io_events = events;
    if (fd >= 0 && events) {
        ev_io_set(&c->io, fd, events);
        ev_io_start(loop, &c->io);
    }
}

static void arm_deadline(shadow_conn *c, double seconds)
{
    struct ev_loop *loop = c->pool->px->loop;
    ev_timer_stop(loop, &c->deadline);
    if (seconds > 0) {
        ev_timer_set(&c->deadline, seconds, 0.0);
        ev_timer_start(loop, &c->deadline);
    }
}

static void conn_free(shadow_conn *c)
{
    shadow_pool *p = c->pool;
    for (shadow_conn **pp = &p->conns; *pp; pp = &(*pp)->next)
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    p->n_conns--;
    ev_io_stop(p->px->loop, &c->io);
    ev_timer_stop(p->px->loop, &c->deadline);
    if (c->pg)
        PQfinish(c->pg);
    free(c->conninfo);
    free(c);
}

/* The connection is of no more use: its job ends without an answer. */
static void conn_fail(shadow_conn *c, const char *why)
{
    if (c->job) {
        shadow_job *j = c->job;
        c->job = NULL;
        j->shadow.unusable = true;
        snprintf(j->shadow.message, sizeof(j->shadow.message), "%s", why);
        job_side_done(j, &j->shadow);
    }
    log_debug("shadow connection closed: %s", why);
    c->closing = true;
    watch(c, -1, 0);
    ev_timer_stop(c->pool->px->loop, &c->deadline);
    if (!c->in_callback)
        conn_free(c);
}

static void send_job(shadow_conn *c)
{
    shadow_job *j = c->job;
    const shadow_params *sp = j->params;
    int sent = sp ? PQsendQueryParams(c->pg, j->sql, sp->n, sp->types, sp->values, sp->lengths,
                                      sp->formats, sp->result_format)
                  : PQsendQueryParams(c->pg, j->sql, 0, NULL, NULL, NULL, NULL, 0);
    if (!sent || !PQsetSingleRowMode(c->pg)) {
        conn_fail(c, PQerrorMessage(c->pg));
        return;
    }
    c->state = SC_RUNNING;
    /* the server's statement_timeout should end it first; this is the backstop */
    arm_deadline(c, c->pool->px->cfg->shadow_timeout + 2.0);
}

static void take_result(shadow_conn *c, PGresult *r)
{
    shadow_job *j = c->job;
    ExecStatusType st = PQresultStatus(r);
    if (!j)
        return;
    if (st == PGRES_COPY_OUT || st == PGRES_COPY_IN || st == PGRES_COPY_BOTH) {
        conn_fail(c, "a shadow read turned into COPY"); /* never sent: see shadow_start */
        return;
    }
    if (st == PGRES_SINGLE_TUPLE) {
        int n = PQnfields(r);
        const char *vals[1600];
        int lens[1600];
        if (n > 1600) {
            j->shadow.unusable = true;
            return;
        }
        for (int i = 0; i < n; i++) {
            bool null = PQgetisnull(r, 0, i);
            vals[i] = null ? NULL : PQgetvalue(r, 0, i);
            lens[i] = null ? -1 : PQgetlength(r, 0, i);
        }
        row_digest_add_fields(&j->shadow.rows, (size_t)n, vals, lens);
    } else if (st == PGRES_FATAL_ERROR && !j->shadow.error) {
        const char *code = PQresultErrorField(r, PG_DIAG_SQLSTATE);
        const char *msg = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
        j->shadow.error = true;
        snprintf(j->shadow.sqlstate, sizeof(j->shadow.sqlstate), "%s", code ? code : "XX000");
        snprintf(j->shadow.message, sizeof(j->shadow.message), "%s", msg ? msg : "error");
    }
}

/* Reads what the server sent; moves on when a command has all its results. */
static void conn_read(shadow_conn *c)
{
    if (!PQconsumeInput(c->pg)) {
        conn_fail(c, PQerrorMessage(c->pg));
        return;
    }
    while (!c->closing && !PQisBusy(c->pg)) {
        PGresult *r = PQgetResult(c->pg);
        if (r) {
            if (c->state == SC_SETUP && PQresultStatus(r) != PGRES_COMMAND_OK) {
                PQclear(r);
                conn_fail(c, "setting up the shadow connection failed");
                return;
            }
            if (c->state == SC_RUNNING)
                take_result(c, r);
            PQclear(r);
            if (c->closing)
                return;
            continue;
        }
        /* the command is complete */
        if (c->state == SC_RUNNING && c->job) {
            shadow_job *j = c->job;
            c->job = NULL;
            job_side_done(j, &j->shadow);
        }
        if (c->state == SC_SETUP || c->state == SC_RUNNING) {
            c->state = SC_IDLE;
            arm_deadline(c, 0);
        }
        if (c->state == SC_IDLE && c->job)
            send_job(c);
        else
            break;
    }
}

/* Sends what is queued; watches for the server's answer or room to write. */
static void conn_pump(shadow_conn *c)
{
    int fd = PQsocket(c->pg);
    int flushed = PQflush(c->pg);
    if (flushed < 0) {
        conn_fail(c, PQerrorMessage(c->pg));
        return;
    }
    watch(c, fd, EV_READ | (flushed ? EV_WRITE : 0));
}

static void conn_connect_step(shadow_conn *c)
{
    switch (PQconnectPoll(c->pg)) {
    case PGRES_POLLING_READING:
        watch(c, PQsocket(c->pg), EV_READ);
        return;
    case PGRES_POLLING_WRITING:
        watch(c, PQsocket(c->pg), EV_WRITE);
        return;
    case PGRES_POLLING_OK: {
        PQsetNoticeProcessor(c->pg, ignore_notice, NULL);
        if (PQsetnonblocking(c->pg, 1) != 0) {
            conn_fail(c, "cannot make the connection non-blocking");
            return;
        }
        /* read-only: whatever the classifier missed can't write on the other side */
        char setup[160];
        snprintf(setup, sizeof(setup),
                 "SET default_transaction_read_only = on; SET statement_timeout = %ld",
                 (long)(c->pool->px->cfg->shadow_timeout * 1000.0));
        if (!PQsendQuery(c->pg, setup)) {
            conn_fail(c, PQerrorMessage(c->pg));
            return;
        }
        c->state = SC_SETUP;
        conn_pump(c);
        return;
    }
    default:
        conn_fail(c, PQerrorMessage(c->pg));
        return;
    }
}

static void conn_step(shadow_conn *c)
{
    if (c->state == SC_CONNECTING) {
        conn_connect_step(c);
        return;
    }
    conn_read(c);
    if (!c->closing)
        conn_pump(c);
}

static void conn_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    shadow_conn *c = w->data;
    c->in_callback = true;
    conn_step(c);
    c->in_callback = false;
    if (c->closing)
        conn_free(c);
}

static void conn_deadline_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    shadow_conn *c = w->data;
    c->in_callback = true;
    conn_fail(c, c->state == SC_CONNECTING ? "connecting timed out" : "timed out");
    c->in_callback = false;
    conn_free(c);
}

static shadow_conn *conn_open(shadow_pool *p, const char *conninfo)
{
    shadow_conn *c = calloc(1, sizeof(*c));
    if (!c || !(c->conninfo = strdup(conninfo))) {
        free(c);
        return NULL;
    }
    const char *keys[] = {"dbname", "application_name", "gssencmode", "connect_timeout",
                          NET_LIBPQ_KEEPALIVE_KEYS, NULL};
    const char *vals[] = {conninfo, "pgtandem shadow reads", "disable", "5",
                          NET_LIBPQ_KEEPALIVE_VALUES, NULL};
    c->pool = p;
    c->io_fd = -1;
    c->pg = PQconnectStartParams(keys, vals, 1);
    ev_init(&c->io, conn_io_cb);
    c->io.data = c;
    ev_init(&c->deadline, conn_deadline_cb);
    c->deadline.data = c;
    c->next = p->conns;
    p->conns = c;
    p->n_conns++;
    if (!c->pg || PQstatus(c->pg) == CONNECTION_BAD) {
        log_warn("shadow reads: cannot connect: %s", c->pg ? PQerrorMessage(c->pg) : "out of memory");
        conn_free(c);
        return NULL;
    }
    c->state = SC_CONNECTING;
    arm_deadline(c, 10.0);
    watch(c, PQsocket(c->pg), EV_WRITE);
    return c;
}

/* An idle connection to conninfo, or a new one (closing an idle one to another database
 * when the pool is full). NULL when none can be had. */
static shadow_conn *conn_for(shadow_pool *p, const char *conninfo, size_t max)
{
    shadow_conn *spare = NULL;
    for (shadow_conn *c = p->conns; c; c = c->next) {
        if (c->job || c->closing)
            continue;
        bool idle = c->state == SC_IDLE || c->state == SC_SETUP || c->state == SC_CONNECTING;
        if (idle && strcmp(c->conninfo, conninfo) == 0)
            return c;
        if (c->state == SC_IDLE)
            spare = c;
    }
    if (p->n_conns >= max) {
        if (!spare)
            return NULL;
        conn_free(spare);
    }
    return conn_open(p, conninfo);
}

/* ------------------------------------------------------------------ start */

static shadow_pool *pool_of(proxy *px)
{
    if (!px->shadow) {
        px->shadow = calloc(1, sizeof(*px->shadow));
        if (px->shadow) {
            px->shadow->px = px;
            px->shadow->rng = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32) ^ 0x9e3779b97f4a7c15ull;
        }
    }
    return px->shadow;
}

/* xorshift64*: a uniform number in [0, 1) */
static double next_uniform(shadow_pool *p)
{
    uint64_t x = p->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    p->rng = x;
    return (double)((x * 0x2545F4914F6CDD1Dull) >> 11) / 9007199254740992.0;
}

/* The job's own copy of the Bind and its parameters; false when they can't be shadowed. */
static bool take_params(shadow_job *j, const uint8_t *bind, size_t len, const uint8_t *types,
                        size_t n_types)
{
    j->bind = malloc(len ? len : 1);
    j->params = malloc(sizeof(*j->params));
    if (!j->bind || !j->params)
        return false;
    memcpy(j->bind, bind, len);
    return shadow_params_from_bind(j->bind, len, types, n_types, j->params);
}

shadow_job *shadow_start(proxy *px, const config *cfg, uint64_t session_id, int service,
                         route_side served_by, const classify_stmt *st, const char *sql,
                         const uint8_t *bind, size_t bind_len, const uint8_t *types,
                         size_t n_types)
{
    /* COPY TO answers in CopyData, not rows; a known-volatile call (now(), random()...)
     * answers differently on each side whatever the data */
    if (service < 0 || (size_t)service >= cfg->n_services || st->copy != CLASSIFY_COPY_NONE ||
        st->volatile_calls)
        return NULL;
    const service_config *svc = &cfg->services[service];
    shadow_pool *p = pool_of(px);
    if (!p)
        return NULL;
    if (svc->shadow_sample < 1.0 && next_uniform(p) >= svc->shadow_sample)
        return NULL;
    service_stats *slot = stats_slot(&px->stats, service);
    size_t max = (size_t)px->cfg->shadow_max_inflight;
    route_side other = served_by == ROUTE_LEGACY ? ROUTE_SERVICE : ROUTE_LEGACY;
    const char *conninfo = other == ROUTE_LEGACY ? cfg->legacy.conninfo : svc->target.conninfo;
    shadow_conn *c = p->inflight < max ? conn_for(p, conninfo, max) : NULL;
    shadow_job *j = c ? calloc(1, sizeof(*j)) : NULL;
    if (j)
        j->sql = strdup(sql);
    if (j && j->sql && bind && !take_params(j, bind, bind_len, types, n_types)) {
        job_free(j); /* parameters it can't pass on (see shadow_params.h): not shadowed */
        return NULL;
    }
    if (!j || !j->sql) {
        if (j)
            job_free(j);
        slot->shadow_dropped++;
        return NULL;
    }
    j->pool = p;
    j->session_id = session_id;
    j->other = other;
    j->ordered = st->ordered;
    snprintf(j->service, sizeof(j->service), "%s", svc->name);
    snprintf(j->fingerprint, sizeof(j->fingerprint), "%s", st->fingerprint);
    size_t used = 0;
    for (size_t i = 0; i < st->n_reads && used + 1 < sizeof(j->tables); i++)
        used += (size_t)snprintf(j->tables + used, sizeof(j->tables) - used, "%s%s",
                                 i ? "," : "", st->reads[i].name);
    row_digest_init(&j->primary.rows);
    row_digest_init(&j->shadow.rows);
    p->inflight++;
    slot->shadow_reads++;
    c->job = j;
    if (c->state == SC_IDLE) {
        c->in_callback = true; /* a failure here must not free c under our feet */
        send_job(c);
        if (!c->closing)
            conn_pump(c);
        c->in_callback = false;
        if (c->closing)
            conn_free(c);
    }
    /* a job given to a connection that is still connecting is sent once it is ready;
     * if the connection fails meanwhile, the job ends unanswered (conn_fail) */
    return j;
}

size_t shadow_inflight(const shadow_pool *p)
{
    return p ? p->inflight : 0;
}

size_t shadow_connections(const shadow_pool *p)
{
    return p ? p->n_conns : 0;
}

void shadow_pool_free(shadow_pool *p)
{
    if (!p)
        return;
    while (p->conns) {
        shadow_conn *c = p->conns;
        if (c->job) { /* the session side may still hold the job: shutdown frees sessions first */
            shadow_job *j = c->job;
            c->job = NULL;
            j->shadow.unusable = true;
            job_side_done(j, &j->shadow);
        }
        conn_free(c);
    }
    free(p);
}
