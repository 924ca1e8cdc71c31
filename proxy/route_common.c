/* Routed sessions: backends joining on demand, replies assembled for the
 * client, and the session state a joining backend must replay. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/pg_codes.h"
#include "proxy/backend.h"
#include "proxy/catalog.h"
#include "proxy/divergence.h"
#include "proxy/log.h"
#include "proxy/row_images.h"
#include "proxy/session.h"
#include "proxy/session_route_int.h"

/* ---------------------------------------------------------------- backends */

backend **rs_slot_of(session *s, int service)
{
    return service < 0 ? &s->legacy : &s->services[service];
}

backend *rs_side_backend(session *s, int service, route_side side)
{
    return *rs_slot_of(s, side == ROUTE_LEGACY ? -1 : service);
}

/* ------------------------------------------------------------ session logs
 *
 * What a joining backend replays: entries of "key\0statement\0". The key
 * names what a later entry replaces ("set:NAME" for SET/RESET NAME), empty for
 * the rest. Each entry goes as its own Query, so one that fails on that
 * database (a PREPARE of a table it lacks) costs only itself. */

static void log_append(pg_buf *log, const char *key, const char *sql)
{
    pg_buf_put(log, key, strlen(key) + 1);
    pg_buf_put(log, sql, strlen(sql) + 1);
}

/* The entry at *pos (key and statement), moving *pos past it; false at the end. */
static bool log_next(const pg_buf *log, size_t *pos, const char **key, const char **sql)
{
    if (*pos >= log->len)
        return false;
    *key = (const char *)log->data + *pos;
    *pos += strlen(*key) + 1;
    *sql = (const char *)log->data + *pos;
    *pos += strlen(*sql) + 1;
    return true;
}

/* SET NAME again: the earlier SET/RESET of NAME goes, unless a statement
 * that may depend on it (a PREPARE, ...) came after it. Keeps the log from
 * growing with a session that sets the same thing over and over. */
static void log_drop_superseded(pg_buf *log, const char *key)
{
    size_t pos = 0, start = 0, drop_at = SIZE_MAX, drop_len = 0;
    const char *k, *q;
    while (start = pos, log_next(log, &pos, &k, &q)) {
        if (strcmp(k, key) == 0) {
            drop_at = start;
            drop_len = pos - start;
        } else if (strncmp(k, "set:", 4) != 0) {
            drop_at = SIZE_MAX;
        }
    }
    if (drop_at == SIZE_MAX)
        return;
    memmove(log->data + drop_at, log->data + drop_at + drop_len, log->len - drop_at - drop_len);
    log->len -= drop_len;
}

/* The n-th statement a joining backend replays; NULL past the last. */
static const char *replay_entry(session *s, uint32_t n)
{
    uint32_t i = 0;
    size_t pos = 0;
    const char *k, *q;
    while (log_next(&s->session_log, &pos, &k, &q))
        if (i++ == n)
            return q;
    if (s->tx_status == PG_TX_IDLE)
        return NULL;
    if (!s->tx_log.len) /* begun in a way we did not see (extended) */
        return i == n ? "BEGIN" : NULL;
    pos = 0;
    while (log_next(&s->tx_log, &pos, &k, &q))
        if (i++ == n)
            return q;
    return NULL;
}

/* Sends the next entries of the session's state to b, as many as its queue
 * takes; true once every entry is sent. */
static bool replay_some(session *s, backend *b)
{
    const char *sql;
    while (b->n_pending + 2 < BACKEND_MAX_PENDING && (sql = replay_entry(s, b->replayed))) {
        if (!backend_send_query(b, sql, REPLY_SWALLOW)) {
            session_close(s, "53200", "out of memory");
            return false;
        }
        b->replayed++;
    }
    if (replay_entry(s, b->replayed) && b->n_pending) {
        if (!stream_flush(&b->s))
            session_backend_failed(s, b, "08006", "lost connection while joining");
        return false; /* more once these are answered */
    }
    b->joined = true;
    return true;
}

/* True when the backend for `service` is connected, has the session's state
 * and nothing in flight. Otherwise starts whatever is missing; the session
 * resumes when the backend answers. */
bool rs_ensure_backend(session *s, int service)
{
    backend **slot = rs_slot_of(s, service);
    if (!*slot) {
        char err[256];
        *slot = backend_start(s, &s->cfg->services[service].target, err, sizeof(err));
        if (!*slot) {
            session_close(s, "08006", err);
            return false;
        }
        (*slot)->service = service;
        log_info("session %llu: joining %s", (unsigned long long)s->id,
                 s->cfg->services[service].name);
        return false;
    }
    backend *b = *slot;
    if (b->state == BACKEND_CLOSED)
        return true; /* lost: requests fail at once until the request ends */
    if (b->state != BACKEND_READY || b->n_pending)
        return false;
    if (!b->joined) {
        /* the session's SETs and prepared statements, and an open
         * transaction's BEGIN, SET LOCALs and savepoints */
        if (!replay_some(s, b))
            return false;
        if (b->n_pending) {
            if (!stream_flush(&b->s))
                session_backend_failed(s, b, "08006", "lost connection while joining");
            return false;
        }
    }
    return true;
}

bool rs_flush_to(session *s, backend *b)
{
    if (b->state == BACKEND_CLOSED)
        return true;
    if (!stream_flush(&b->s)) {
        session_backend_failed(s, b, "08006", "lost connection");
        return false;
    }
    return true;
}

bool rs_send_query(session *s, backend *b, const char *sql, reply_mode mode)
{
    if (!backend_send_query(b, sql, mode)) {
        session_close(s, "53200", "too many requests in flight");
        return false;
    }
    return true;
}

/* ------------------------------------------------------------ participants */

size_t rs_participants(session *s, backend **out)
{
    size_t n = 0;
    out[n++] = s->legacy;
    for (size_t i = 0; i < s->cfg->n_services; i++)
        if (s->services[i])
            out[n++] = s->services[i];
    return n;
}

bool rs_all_idle(session *s)
{
    backend *list[CONFIG_MAX_SERVICES + 1];
    size_t n = rs_participants(s, list);
    for (size_t i = 0; i < n; i++)
        if (!backend_idle(list[i]))
            return false;
    return true;
}

const char *rs_stmt_tables(const classify_stmt *st, char *buf, size_t len)
{
    buf[0] = '\0';
    size_t used = 0;
    for (size_t i = 0; i < st->n_writes && used + 1 < len; i++)
        used += (size_t)snprintf(buf + used, len - used, "%s%s", i ? "," : "",
                                 st->writes[i].name);
    return buf;
}

bool rs_same_outcome(const backend_outcome *a, const backend_outcome *b)
{
    if (a->error || b->error)
        return a->error == b->error && strcmp(a->sqlstate, b->sqlstate) == 0;
    return strcmp(a->tag, b->tag) == 0;
}

/* COMMIT with several backends: services whose primary is legacy commit
 * first, then legacy, then services whose primary is the service: every
 * secondary commits before its primary. */
int rs_commit_group(session *s, const backend *b)
{
    if (b->service < 0)
        return 1;
    return s->cfg->services[b->service].primary == ROUTE_LEGACY ? 0 : 2;
}

/* ------------------------------------------------------- replies to client */

void rs_deliver_captured(session *s, backend *b, uint8_t tx_status)
{
    pg_buf_put(&s->client.out, b->captured.data, b->captured.len);
    pg_buf_reset(&b->captured);
    s->tx_status = tx_status;
    pg_buf_ready_for_query(&s->client.out, tx_status);
}

const char *rs_aborted_text(session *s)
{
    static char text[300];
    int lost = s->op->x.lost_service;
    if (lost <= 0 || (size_t)lost > s->cfg->n_services)
        return "current transaction is aborted, commands ignored until end of transaction block";
    snprintf(text, sizeof(text),
             "current transaction is aborted: pgtandem lost the connection to the database of "
             "service %s in the middle of it (on_mirror_failure = fail); roll back and retry",
             s->cfg->services[lost - 1].name);
    return text;
}

bool rs_tx_aborted(const session *s)
{
    return s->tx_poisoned || s->tx_status == PG_TX_FAILED;
}

bool rs_aborted_takes(const session *s, const classify_stmt *st)
{
    if (st->kind != CLASSIFY_TX_CONTROL)
        return false;
    if (st->tx == CLASSIFY_TX_COMMIT || st->tx == CLASSIFY_TX_ROLLBACK)
        return true;
    /* the lost backend's transaction is gone, savepoints and all */
    return st->tx == CLASSIFY_TX_ROLLBACK_TO && s->op->x.lost_service == 0;
}

bool rs_savepoint_outcome(session *s, const classify_stmt *st, bool from_capture, backend **bad)
{
    *bad = NULL;
    if (st->kind != CLASSIFY_TX_CONTROL ||
        (st->tx != CLASSIFY_TX_SAVEPOINT && st->tx != CLASSIFY_TX_RELEASE &&
         st->tx != CLASSIFY_TX_ROLLBACK_TO))
        return false;
    backend *list[CONFIG_MAX_SERVICES + 1];
    size_t n = rs_participants(s, list);
    const backend_outcome *l = from_capture ? &s->legacy->rx->capture_outcome : &s->legacy->rx->last;
    if (l->error)
        return false; /* the client hears legacy's error: aborted as on PostgreSQL */
    for (size_t i = 1; i < n && !*bad; i++) {
        if (list[i]->state == BACKEND_CLOSED)
            continue; /* a lost backend is the loss's business (on_mirror_failure) */
        const backend_outcome *o = from_capture ? &list[i]->rx->capture_outcome : &list[i]->rx->last;
        if (o->error)
            *bad = list[i];
    }
    if (*bad) {
        s->tx_poisoned = true;
        return true;
    }
    if (st->tx == CLASSIFY_TX_ROLLBACK_TO)
        s->tx_poisoned = false; /* every backend is back at the savepoint */
    return false;
}

void rs_reply_error(session *s, const char *sqlstate, const char *msg, uint8_t tx_status)
{
    pg_buf_error(&s->client.out, false, sqlstate, msg);
    s->tx_status = tx_status;
    pg_buf_ready_for_query(&s->client.out, tx_status);
}

void rs_reply_command(session *s, const char *tag, uint8_t tx_status)
{
    pg_buf_begin_msg(&s->client.out, PG_BE_COMMAND_COMPLETE);
    pg_buf_put_cstring(&s->client.out, tag);
    pg_buf_end_msg(&s->client.out);
    s->tx_status = tx_status;
    pg_buf_ready_for_query(&s->client.out, tx_status);
}

/* Lost service backends go once no request refers to them; the next
 * statement for the service connects afresh. */
void rs_drop_lost(session *s)
{
    route_op *op = s->op;
    for (size_t i = 0; i < s->cfg->n_services; i++) {
        if (s->services[i] && s->services[i]->state == BACKEND_CLOSED) {
            uint64_t bit = (uint64_t)1 << (i + 1);
            op->x.touched &= ~bit;
            for (ext_stmt *st = op->x.reg.stmts; st; st = st->hh.next)
                st->prepared_on &= ~bit;
            backend_free(s->services[i]);
            s->services[i] = NULL;
        }
    }
}

/* What one request holds. */
static void op_free_request(route_op *op)
{
    classify_result_free(op->cls);
    pg_buf_free(&op->request);
    pg_buf_free(&op->apply);
    free(op->rewritten);
    free(op->tpc);
    rs_copy_free(op);
    ext_stmt_unref(op->unit);
}

void session_route_op_free(session *s)
{
    if (!s->op)
        return;
    op_free_request(s->op); /* a session may end in the middle of a request (a COPY) */
    ext_registry_free(&s->op->x.reg);
    free(s->op);
    s->op = NULL;
}

void rs_op_done(session *s)
{
    route_op *op = s->op;
    stats_request_done(s);
    op_free_request(op);
    for (size_t i = 0; i < s->cfg->n_services; i++)
        if (s->services[i])
            pg_buf_reset(&s->services[i]->captured);
    pg_buf_reset(&s->legacy->captured);
    rs_drop_lost(s);
    route_ext_state keep = op->x;
    memset(op, 0, sizeof(*op));
    op->x = keep;
}

/* ----------------------------------------------------------- session state */

void rs_route_cursor(session *s, const classify_stmt *st, route_decision *dec)
{
    ext_registry *r = &s->op->x.reg;
    int where;
    if (dec->needs_cursor_lookup && st->name) {
        if (!ext_find_cursor(r, st->name, &where))
            return; /* legacy answers, as PostgreSQL would, if it is unknown there too */
        dec->action = where < 0 ? ROUTE_RUN_LEGACY : ROUTE_RUN_SERVICE;
        dec->service = where;
        if (st->session == CLASSIFY_SESSION_CLOSE)
            ext_drop_cursor(r, st->name);
        return;
    }
    if (st->kind == CLASSIFY_SESSION && st->session == CLASSIFY_SESSION_CLOSE)
        ext_drop_cursor(r, NULL); /* CLOSE ALL */
    /* a DECLARE is classified as its query, with the cursor's name */
    if (!st->name || st->explain || st->inner_kind == CLASSIFY_UNKNOWN ||
        (st->kind != CLASSIFY_READ && st->kind != CLASSIFY_LOCKING_READ))
        return;
    switch (dec->action) {
    case ROUTE_RUN_LEGACY: where = -1; break;
    case ROUTE_RUN_SERVICE: where = dec->service; break;
    case ROUTE_RUN_PRIMARY: where = dec->primary == ROUTE_LEGACY ? -1 : dec->service; break;
    default: return;
    }
    if (!ext_put_cursor(r, st->name, where))
        log_warn("session %llu: out of memory remembering cursor %s", (unsigned long long)s->id,
                 st->name);
}

/* PREPARE, DEALLOCATE and DISCARD that succeeded: the statements they name. */
void rs_note_prepared(session *s, const classify_stmt *st, const classify_result *cls)
{
    ext_registry *r = &s->op->x.reg;
    if (st->kind != CLASSIFY_SESSION)
        return;
    if (st->session == CLASSIFY_SESSION_PREPARE && st->name && cls->n_stmts == 1) {
        if (!ext_put_sql_prepared(r, st->name, cls))
            log_warn("session %llu: out of memory remembering PREPARE %s",
                     (unsigned long long)s->id, st->name);
    } else if (st->session == CLASSIFY_SESSION_DEALLOCATE) {
        ext_drop_sql_prepared(r, st->name);
        if (!st->name) /* DEALLOCATE ALL: protocol-level statements too */
            ext_drop_stmts(r);
    } else if (st->session == CLASSIFY_SESSION_DISCARD) {
        ext_drop_sql_prepared(r, NULL);
        ext_drop_stmts(r);
    }
}

/* An entry of the open transaction's log. A transaction begun where pgtandem
 * did not see it (an extended BEGIN on legacy alone) gets its BEGIN first, or
 * a backend joining later would replay a savepoint outside any transaction
 * and run the rest in autocommit. */
static void tx_log_append(session *s, const char *sql, uint8_t after)
{
    if (!s->tx_log.len && after != PG_TX_IDLE)
        log_append(&s->tx_log, "", "BEGIN");
    log_append(&s->tx_log, "", sql);
}

/* Remembers what a backend that joins later must replay. */
void rs_track_session_state(session *s, const classify_stmt *st, const char *sql,
                                uint8_t after)
{
    if (st->kind == CLASSIFY_TX_CONTROL) {
        switch (st->tx) {
        case CLASSIFY_TX_BEGIN:
            pg_buf_reset(&s->tx_log);
            pg_buf_reset(&s->tx_session_log);
            log_append(&s->tx_log, "", sql);
            break;
        case CLASSIFY_TX_SAVEPOINT:
        case CLASSIFY_TX_RELEASE:
        case CLASSIFY_TX_ROLLBACK_TO:
            tx_log_append(s, sql, after);
            break;
        case CLASSIFY_TX_COMMIT:
            pg_buf_put(&s->session_log, s->tx_session_log.data, s->tx_session_log.len);
            /* fallthrough */
        default:
            pg_buf_reset(&s->tx_log);
            pg_buf_reset(&s->tx_session_log);
            break;
        }
        return;
    }
    if (st->kind != CLASSIFY_SESSION)
        return;
    char key[80] = "";
    if ((st->session == CLASSIFY_SESSION_SET || st->session == CLASSIFY_SESSION_RESET) &&
        st->name && strlen(st->name) < sizeof(key) - 4)
        snprintf(key, sizeof(key), "set:%s", st->name);
    if (st->set_local) {
        tx_log_append(s, sql, after);
    } else if (after != PG_TX_IDLE) {
        log_append(&s->tx_session_log, key, sql); /* undone if the transaction rolls back */
    } else {
        if (key[0])
            log_drop_superseded(&s->session_log, key);
        log_append(&s->session_log, key, sql);
    }
}
