/* Routed sessions, used when the config names services. The client's
 * requests are taken one at a time (a simple Query, or an extended-protocol
 * batch up to Sync or Flush), classified, routed (routing/route.h) and run:
 * on one backend, on every backend taking part in the session, or on the two
 * sides of a service in lock-step.
 *
 * Lock-step, and why it keeps both sides in the same order: a mirrored write
 * runs on the primary first, inside a transaction (an autocommit write is
 * wrapped in BEGIN/COMMIT there), so it holds the primary's row locks. Only
 * then does it run on the secondary, and the secondary commits before the
 * primary does. A second writer of the same rows blocks on the primary's
 * locks until the first has committed on both sides, so the secondary applies
 * conflicting writes in the primary's order. What this does not cover: a
 * failure of the primary's COMMIT after the secondary committed (recorded as
 * a divergence), and writes made by code pgtandem can't see (DO blocks,
 * functions, triggers that write other tables), which run on legacy only. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/pg_codes.h"
#include "protocol/pg_frame.h"
#include "protocol/pg_msg.h"
#include "proxy/backend.h"
#include "proxy/catalog.h"
#include "proxy/divergence.h"
#include "proxy/log.h"
#include "proxy/row_images.h"
#include "routing/rewrite.h"
#include "proxy/session.h"

enum op_kind { OP_NONE = 0, OP_SINGLE, OP_ALL, OP_COMMIT, OP_DUAL };

/* Messages at least this large may pass to the client before they are complete. */
#define ROUTE_STREAM_THRESHOLD (64u * 1024u)

static void pump(session *s);

/* ---------------------------------------------------------------- backends */

static backend **slot_of(session *s, int service)
{
    return service < 0 ? &s->legacy : &s->services[service];
}

static backend *side_backend(session *s, int service, route_side side)
{
    return *slot_of(s, side == ROUTE_LEGACY ? -1 : service);
}

/* True when the backend for `service` is connected, has the session's state
 * and nothing in flight. Otherwise starts whatever is missing; the session
 * resumes when the backend answers. */
static bool ensure_backend(session *s, int service)
{
    backend **slot = slot_of(s, service);
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
    if (b->state != BACKEND_READY || b->n_pending)
        return false;
    if (!b->joined) {
        b->joined = true;
        /* the session's SETs and prepared statements, and an open
         * transaction's BEGIN, SET LOCALs and savepoints, in one go */
        pg_buf replay;
        pg_buf_init(&replay);
        pg_buf_put(&replay, s->session_log.data, s->session_log.len);
        if (s->tx_status != PG_TX_IDLE)
            pg_buf_put(&replay, s->tx_log.data, s->tx_log.len);
        pg_buf_put_byte(&replay, 0);
        bool sent = true;
        if (!replay.failed && replay.len > 1)
            sent = backend_send_query(b, (const char *)replay.data, REPLY_SWALLOW);
        pg_buf_free(&replay);
        if (!sent) {
            session_close(s, "53200", "out of memory");
            return false;
        }
        if (b->n_pending) {
            if (!stream_flush(&b->s))
                session_backend_failed(s, b, "08006", "lost connection while joining");
            return false;
        }
    }
    return true;
}

static bool flush_to(session *s, backend *b)
{
    if (!stream_flush(&b->s)) {
        session_backend_failed(s, b, "08006", "lost connection");
        return false;
    }
    return true;
}

static bool send_query(session *s, backend *b, const char *sql, reply_mode mode)
{
    if (!backend_send_query(b, sql, mode)) {
        session_close(s, "53200", "too many requests in flight");
        return false;
    }
    return true;
}

/* ------------------------------------------------------- replies to client */

static void deliver_captured(session *s, backend *b, uint8_t tx_status)
{
    pg_buf_put(&s->client.out, b->captured.data, b->captured.len);
    pg_buf_reset(&b->captured);
    s->tx_status = tx_status;
    pg_buf_ready_for_query(&s->client.out, tx_status);
}

static void reply_error(session *s, const char *sqlstate, const char *msg, uint8_t tx_status)
{
    pg_buf_error(&s->client.out, false, sqlstate, msg);
    s->tx_status = tx_status;
    pg_buf_ready_for_query(&s->client.out, tx_status);
}

static void reply_command(session *s, const char *tag, uint8_t tx_status)
{
    pg_buf_begin_msg(&s->client.out, PG_BE_COMMAND_COMPLETE);
    pg_buf_put_cstring(&s->client.out, tag);
    pg_buf_end_msg(&s->client.out);
    s->tx_status = tx_status;
    pg_buf_ready_for_query(&s->client.out, tx_status);
}

static void op_done(session *s)
{
    route_op *op = &s->op;
    classify_result_free(op->cls);
    pg_buf_free(&op->request);
    pg_buf_free(&op->apply);
    free(op->rewritten);
    for (size_t i = 0; i < s->cfg->n_services; i++)
        if (s->services[i])
            pg_buf_reset(&s->services[i]->captured);
    pg_buf_reset(&s->legacy->captured);
    memset(op, 0, sizeof(*op));
}

/* ----------------------------------------------------------- session state */

static void log_append(pg_buf *log, const char *sql)
{
    pg_buf_put(log, sql, strlen(sql));
    pg_buf_put(log, ";\n", 2);
}

/* Remembers what a backend that joins later must replay. */
static void track_session_state(session *s, const classify_stmt *st, const char *sql,
                                uint8_t after)
{
    if (st->kind == CLASSIFY_TX_CONTROL) {
        switch (st->tx) {
        case CLASSIFY_TX_BEGIN:
            pg_buf_reset(&s->tx_log);
            pg_buf_reset(&s->tx_session_log);
            log_append(&s->tx_log, sql);
            break;
        case CLASSIFY_TX_SAVEPOINT:
        case CLASSIFY_TX_RELEASE:
        case CLASSIFY_TX_ROLLBACK_TO:
            log_append(&s->tx_log, sql);
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
    if (st->set_local)
        log_append(&s->tx_log, sql);
    else if (after != PG_TX_IDLE)
        log_append(&s->tx_session_log, sql); /* undone if the transaction rolls back */
    else
        log_append(&s->session_log, sql);
}

/* --------------------------------------------------------------- op steps */

static size_t participants(session *s, backend **out)
{
    size_t n = 0;
    out[n++] = s->legacy;
    for (size_t i = 0; i < s->cfg->n_services; i++)
        if (s->services[i])
            out[n++] = s->services[i];
    return n;
}

static bool all_idle(session *s)
{
    backend *list[CONFIG_MAX_SERVICES + 1];
    size_t n = participants(s, list);
    for (size_t i = 0; i < n; i++)
        if (!backend_idle(list[i]))
            return false;
    return true;
}

static const char *stmt_tables(const classify_stmt *st, char *buf, size_t len)
{
    buf[0] = '\0';
    size_t used = 0;
    for (size_t i = 0; i < st->n_writes && used + 1 < len; i++)
        used += (size_t)snprintf(buf + used, len - used, "%s%s", i ? "," : "",
                                 st->writes[i].name);
    return buf;
}

static bool same_outcome(const backend_outcome *a, const backend_outcome *b)
{
    if (a->error || b->error)
        return a->error == b->error && strcmp(a->sqlstate, b->sqlstate) == 0;
    return strcmp(a->tag, b->tag) == 0;
}

static void step_single(session *s)
{
    route_op *op = &s->op;
    if (op->step == 0) {
        if (!ensure_backend(s, op->first->service))
            return;
        if (!backend_send_raw(op->first, op->request.data, op->request.len, REPLY_FORWARD)) {
            session_close(s, "53200", "too many requests in flight");
            return;
        }
        op->step = 1;
        flush_to(s, op->first);
        return;
    }
    if (backend_idle(op->first))
        op_done(s);
}

static void step_all(session *s)
{
    route_op *op = &s->op;
    backend *list[CONFIG_MAX_SERVICES + 1];
    size_t n = participants(s, list);
    if (op->step == 0) {
        for (size_t i = 0; i < n; i++)
            if (!ensure_backend(s, list[i]->service))
                return;
        for (size_t i = 0; i < n; i++) {
            if (!backend_send_raw(list[i], op->request.data, op->request.len, REPLY_CAPTURE)) {
                session_close(s, "53200", "too many requests in flight");
                return;
            }
            if (!flush_to(s, list[i]))
                return;
        }
        op->step = 1;
        return;
    }
    if (!all_idle(s))
        return;
    const classify_stmt *st = &op->cls->stmts[0];
    for (size_t i = 1; i < n; i++)
        if (!same_outcome(&s->legacy->capture_outcome, &list[i]->capture_outcome))
            divergence_record(s, list[i]->service, "session command differs", st->fingerprint,
                              "", &s->legacy->capture_outcome, &list[i]->capture_outcome);
    const char *sql = (const char *)op->request.data + 5;
    if (!s->legacy->capture_outcome.error)
        track_session_state(s, st, sql, s->legacy->capture_outcome.tx_status);
    deliver_captured(s, s->legacy, s->legacy->capture_outcome.tx_status);
    op_done(s);
}

/* COMMIT with several backends: services whose primary is legacy commit
 * first, then legacy, then services whose primary is the service: every
 * secondary commits before its primary. */
static int commit_group(session *s, const backend *b)
{
    if (b->service < 0)
        return 1;
    return s->cfg->services[b->service].primary == ROUTE_LEGACY ? 0 : 2;
}

static void rollback_everywhere(session *s)
{
    backend *list[CONFIG_MAX_SERVICES + 1];
    size_t n = participants(s, list);
    for (size_t i = 0; i < n; i++)
        if (list[i]->state == BACKEND_READY && send_query(s, list[i], "ROLLBACK", REPLY_SWALLOW))
            flush_to(s, list[i]);
}

static void step_commit(session *s)
{
    route_op *op = &s->op;
    backend *list[CONFIG_MAX_SERVICES + 1];
    size_t n = participants(s, list);
    if (!all_idle(s))
        return;
    if (op->step == 0) {
        if (s->tx_poisoned || s->legacy->tx_status == PG_TX_FAILED) {
            rollback_everywhere(s);
            op->step = 10;
            return;
        }
        op->phase = -1;
        op->step = 1;
    }
    if (op->step == 10) {
        s->tx_poisoned = false;
        pg_buf_reset(&s->tx_log);
        pg_buf_reset(&s->tx_session_log);
        reply_command(s, "ROLLBACK", PG_TX_IDLE);
        op_done(s);
        return;
    }
    /* check the group that just committed */
    if (op->phase >= 0) {
        for (size_t i = 0; i < n; i++) {
            if (commit_group(s, list[i]) != op->phase)
                continue;
            const backend_outcome *o = &list[i]->capture_outcome;
            if (list[i] == s->legacy)
                continue;
            if (o->error || strcmp(o->tag, "COMMIT") != 0) {
                divergence_record(s, list[i]->service, "secondary commit failed",
                                  op->cls->stmts[0].fingerprint, "", NULL, o);
                if (s->cfg->on_mirror_failure == MIRROR_FAIL && op->phase == 0) {
                    rollback_everywhere(s);
                    op->failed = true;
                }
            }
        }
        if (op->failed) {
            op->step = 11;
            return;
        }
    }
    if (op->step == 11) {
        pg_buf_reset(&s->tx_log);
        pg_buf_reset(&s->tx_session_log);
        reply_error(s, "40000",
                    "pgtandem: a service database could not commit; the transaction was rolled "
                    "back on both sides",
                    PG_TX_IDLE);
        op_done(s);
        return;
    }
    while (++op->phase <= 2) {
        bool sent = false;
        for (size_t i = 0; i < n; i++) {
            if (commit_group(s, list[i]) != op->phase)
                continue;
            if (!backend_send_raw(list[i], op->request.data, op->request.len, REPLY_CAPTURE))
                return;
            flush_to(s, list[i]);
            sent = true;
        }
        if (sent)
            return;
    }
    /* all committed: the client sees legacy's answer */
    track_session_state(s, &op->cls->stmts[0], (const char *)op->request.data + 5, PG_TX_IDLE);
    deliver_captured(s, s->legacy, s->legacy->capture_outcome.tx_status);
    op_done(s);
}

static void mirror_failed(session *s, bool wrapped)
{
    route_op *op = &s->op;
    if (wrapped) {
        if (send_query(s, op->first, "ROLLBACK", REPLY_SWALLOW))
            flush_to(s, op->first);
        if (send_query(s, op->second, "ROLLBACK", REPLY_SWALLOW))
            flush_to(s, op->second);
    } else {
        rollback_everywhere(s);
        s->tx_poisoned = true;
    }
    op->step = 8;
}

/* Replaces the primary's captured replies with what the client asked for,
 * and prepares the batch that applies the same rows on the secondary. */
static bool take_row_images(session *s)
{
    route_op *op = &s->op;
    pg_buf client;
    char err[160];
    size_t rows = 0;
    pg_buf_init(&client);
    pg_buf_init(&op->apply);
    bool ok = row_images_build(op->table, op->cls->stmts[0].dml, op->first->captured.data,
                               op->first->captured.len, &client, &op->apply, &rows, err,
                               sizeof(err));
    if (!ok) {
        pg_buf_free(&client);
        session_close(s, "XX000", err);
        return false;
    }
    pg_buf_free(&op->first->captured);
    op->first->captured = client;
    op->primary_rows = rows;
    return true;
}

static void step_dual(session *s)
{
    route_op *op = &s->op;
    const classify_stmt *st = &op->cls->stmts[0];
    const service_config *svc = &s->cfg->services[op->dec.service];
    char tables[256];
    switch (op->step) {
    case 0:
        if (!ensure_backend(s, -1) || !ensure_backend(s, op->dec.service))
            return;
        op->wrapped = s->tx_status == PG_TX_IDLE;
        if (op->wrapped && !send_query(s, op->first, "BEGIN", REPLY_SWALLOW))
            return;
        if (op->images ? !send_query(s, op->first, op->rewritten, REPLY_CAPTURE)
                       : !backend_send_raw(op->first, op->request.data, op->request.len,
                                           REPLY_CAPTURE))
            return;
        op->step = 1;
        flush_to(s, op->first);
        return;
    case 1: {
        if (!backend_idle(op->first))
            return;
        if (op->first->capture_outcome.error) {
            /* the primary refused: the secondary never sees it */
            if (op->wrapped) {
                if (send_query(s, op->first, "ROLLBACK", REPLY_SWALLOW))
                    flush_to(s, op->first);
                op->step = 9;
                return;
            }
            deliver_captured(s, op->first, op->first->capture_outcome.tx_status);
            op_done(s);
            return;
        }
        if (op->images && !take_row_images(s))
            return;
        if (op->images && op->apply.len == 0) {
            /* no row changed: nothing to mirror */
            if (!op->wrapped) {
                deliver_captured(s, op->first, op->first->capture_outcome.tx_status);
                op_done(s);
                return;
            }
            if (!send_query(s, op->first, "COMMIT", REPLY_SWALLOW))
                return;
            op->step = 4;
            flush_to(s, op->first);
            return;
        }
        const char *pre = op->wrapped ? "BEGIN; SET LOCAL pgtandem.mirror = on"
                                      : "SET LOCAL pgtandem.mirror = on";
        const pg_buf *req = op->images ? &op->apply : &op->request;
        if (!send_query(s, op->second, pre, REPLY_SWALLOW) ||
            !backend_send_raw(op->second, req->data, req->len, REPLY_CAPTURE) ||
            !send_query(s, op->second, "SET LOCAL pgtandem.mirror = off", REPLY_SWALLOW))
            return;
        op->step = 2;
        flush_to(s, op->second);
        return;
    }
    case 2: {
        if (!backend_idle(op->second))
            return;
        const backend_outcome *p = &op->first->capture_outcome, *q = &op->second->capture_outcome;
        bool match = op->images ? !q->error && q->rows == op->primary_rows : same_outcome(p, q);
        if (!match) {
            divergence_record(s, op->dec.service, "outcome differs", st->fingerprint,
                              stmt_tables(st, tables, sizeof(tables)), p, q);
            if (s->cfg->on_mirror_failure == MIRROR_FAIL) {
                if (q->error)
                    snprintf(op->error_state, sizeof(op->error_state), "%s", q->sqlstate);
                else
                    snprintf(op->error_state, sizeof(op->error_state), "XX000");
                char qdesc[96];
                if (op->images && !q->error)
                    snprintf(qdesc, sizeof(qdesc), "%llu of %llu rows applied",
                             (unsigned long long)q->rows, (unsigned long long)op->primary_rows);
                snprintf(op->error_text, sizeof(op->error_text),
                         "pgtandem: the write to %s could not be mirrored to the %s side of "
                         "service %s (%s); it was rolled back on both databases",
                         stmt_tables(st, tables, sizeof(tables)),
                         op->second->service < 0 ? "legacy" : "service", svc->name,
                         q->error ? q->message : op->images ? qdesc : q->tag);
                mirror_failed(s, op->wrapped);
                return;
            }
        }
        if (!op->wrapped) {
            deliver_captured(s, op->first, op->first->capture_outcome.tx_status);
            op_done(s);
            return;
        }
        if (!send_query(s, op->second, "COMMIT", REPLY_SWALLOW))
            return;
        op->step = 3;
        flush_to(s, op->second);
        return;
    }
    case 3: {
        if (!backend_idle(op->second))
            return;
        const backend_outcome *q = &op->second->last;
        if (q->error || strcmp(q->tag, "COMMIT") != 0) {
            divergence_record(s, op->dec.service, "secondary commit failed", st->fingerprint,
                              stmt_tables(st, tables, sizeof(tables)), NULL, q);
            if (s->cfg->on_mirror_failure == MIRROR_FAIL) {
                snprintf(op->error_state, sizeof(op->error_state), "%s",
                         q->error ? q->sqlstate : "40000");
                snprintf(op->error_text, sizeof(op->error_text),
                         "pgtandem: the %s database of service %s could not commit the write; "
                         "it was rolled back on both databases",
                         op->second->service < 0 ? "legacy" : "service", svc->name);
                if (send_query(s, op->first, "ROLLBACK", REPLY_SWALLOW))
                    flush_to(s, op->first);
                op->step = 8;
                return;
            }
        }
        if (!send_query(s, op->first, "COMMIT", REPLY_SWALLOW))
            return;
        op->step = 4;
        flush_to(s, op->first);
        return;
    }
    case 4: {
        if (!backend_idle(op->first))
            return;
        const backend_outcome *p = &op->first->last;
        if (p->error) {
            /* the window two-phase commit closes: the secondary has it, the primary not */
            divergence_record(s, op->dec.service, "primary commit failed after the secondary's",
                              st->fingerprint, stmt_tables(st, tables, sizeof(tables)), p, NULL);
            pg_buf_reset(&op->first->captured);
            reply_error(s, p->sqlstate, p->message, PG_TX_IDLE);
        } else {
            deliver_captured(s, op->first, PG_TX_IDLE);
        }
        op_done(s);
        return;
    }
    case 8:
        if (!all_idle(s))
            return;
        reply_error(s, op->error_state, op->error_text,
                    op->wrapped ? PG_TX_IDLE : PG_TX_FAILED);
        op_done(s);
        return;
    case 9:
        if (!backend_idle(op->first))
            return;
        deliver_captured(s, op->first, PG_TX_IDLE);
        op_done(s);
        return;
    }
}

/* --------------------------------------------------------- taking requests */

static void reject(session *s, const char *sqlstate, const char *msg)
{
    bool in_tx = s->tx_status != PG_TX_IDLE;
    if (in_tx) /* like a server error, it aborts the client's transaction */
        s->tx_poisoned = true;
    reply_error(s, sqlstate, msg, in_tx ? PG_TX_FAILED : PG_TX_IDLE);
}

/* In a transaction pgtandem aborted, only the end of it is accepted. */
static bool poisoned_request(session *s, const classify_stmt *st)
{
    if (st->kind == CLASSIFY_TX_CONTROL &&
        (st->tx == CLASSIFY_TX_COMMIT || st->tx == CLASSIFY_TX_ROLLBACK)) {
        s->op.kind = OP_COMMIT; /* rolls back everywhere, answers ROLLBACK */
        return false;
    }
    reply_error(s, "25P02",
                "current transaction is aborted, commands ignored until end of transaction block",
                PG_TX_FAILED);
    return true;
}

/* The router judges from the text alone; the catalog knows which columns a
 * database fills in itself and which tables have triggers that may stamp
 * values. Either makes a text mirror produce different rows on each side. */
static bool generates_values(session *s, const classify_stmt *st)
{
    if (!st->target.name || st->n_writes > 1)
        return st->n_writes > 0; /* writes through WITH: judge none of them as text */
    const catalog_table *t = catalog_find(s->px->catalog, st->target.schema, st->target.name);
    if (!t)
        return true; /* unknown to the catalog: assume the worst */
    if (st->insert.present) {
        if (t->row_trigger || !st->insert.columns || st->insert.uses_default ||
            st->insert.default_values || st->insert.from_select)
            return true;
        for (size_t i = 0; i < t->n_generated; i++) {
            bool given = false;
            for (size_t j = 0; j < st->insert.n_columns && !given; j++)
                given = strcmp(st->insert.columns[j], t->generated[i]) == 0;
            if (!given)
                return true;
        }
        return false;
    }
    /* UPDATE and MERGE fire BEFORE UPDATE triggers; a DELETE generates nothing;
     * COPY FROM fills defaults like an INSERT without a column list */
    switch (st->dml) {
    case CLASSIFY_DML_DELETE: return false;
    case CLASSIFY_DML_UPDATE: return t->row_trigger;
    default: return true;
    }
}

/* A write whose text would give different rows on each side is mirrored by
 * its row images: the primary returns every column of the rows it changed,
 * the secondary applies those rows by primary key. Refuses (with the reason)
 * what can't be pinned that way. */
static bool plan_row_images(session *s, const classify_stmt *st)
{
    route_op *op = &s->op;
    const catalog_table *t =
        st->target.name ? catalog_find(s->px->catalog, st->target.schema, st->target.name) : NULL;
    char m[512], err[256] = "";
    const char *why = NULL;
    if (st->n_writes != 1 || !t)
        why = "it writes through WITH or a table pgtandem does not know";
    else if (st->dml != CLASSIFY_DML_INSERT && st->dml != CLASSIFY_DML_UPDATE &&
             st->dml != CLASSIFY_DML_DELETE)
        why = "only INSERT, UPDATE and DELETE can be mirrored by row images (not MERGE or COPY)";
    else if (t->n_pkey == 0)
        why = "the table has no primary key, so its rows can't be pinned";
    else if (!(op->rewritten = rewrite_returning_all((const char *)op->request.data + 5, err,
                                                     sizeof(err))))
        why = err;
    if (why) {
        snprintf(m, sizeof(m),
                 "pgtandem: this write to %s generates values on each database and can't be "
                 "mirrored: %s",
                 st->target.name ? st->target.name : "a dual-written table", why);
        reject(s, "0A000", m);
        return false;
    }
    op->images = true;
    op->table = t;
    return true;
}

static void start_query(session *s, const uint8_t *msg, size_t len)
{
    route_op *op = &s->op;
    const char *sql = (const char *)msg + 5;
    op->cls = classify_cache_get(s->px->classify, sql);
    if (!op->cls) {
        session_close(s, "53200", "out of memory");
        return;
    }
    pg_buf_init(&op->request);
    pg_buf_put(&op->request, msg, len);
    const classify_stmt *st = &op->cls->stmts[0];
    if (s->tx_poisoned) {
        if (poisoned_request(s, st))
            op_done(s);
        return;
    }
    route_decide(s->cfg->routes, st, &op->dec);
    for (size_t i = 1; i < op->cls->n_stmts; i++) {
        route_decision other;
        route_decide(s->cfg->routes, &op->cls->stmts[i], &other);
        if (other.action != ROUTE_RUN_LEGACY || op->dec.action != ROUTE_RUN_LEGACY) {
            reject(s, "0A000",
                   "pgtandem: a query string with several statements that touch migrated "
                   "tables is not supported yet; send the statements one at a time");
            op_done(s);
            return;
        }
    }
    switch (op->dec.action) {
    case ROUTE_RUN_LEGACY:
        op->kind = OP_SINGLE;
        op->first = s->legacy;
        break;
    case ROUTE_RUN_SERVICE:
        op->kind = OP_SINGLE;
        op->first = side_backend(s, op->dec.service, ROUTE_SERVICE);
        if (!op->first && !ensure_backend(s, op->dec.service) && s->state == SESSION_CLOSED)
            return;
        op->first = side_backend(s, op->dec.service, ROUTE_SERVICE);
        break;
    case ROUTE_RUN_PRIMARY:
        op->kind = OP_SINGLE;
        if (op->dec.primary == ROUTE_SERVICE && !s->services[op->dec.service] &&
            !ensure_backend(s, op->dec.service) && s->state == SESSION_CLOSED)
            return;
        op->first = side_backend(s, op->dec.service, op->dec.primary);
        break;
    case ROUTE_RUN_EVERYWHERE:
        op->kind = st->kind == CLASSIFY_TX_CONTROL && st->tx == CLASSIFY_TX_COMMIT &&
                           s->tx_status != PG_TX_IDLE
                       ? OP_COMMIT
                       : OP_ALL;
        break;
    case ROUTE_RUN_DUAL:
        if ((op->dec.row_images || generates_values(s, st)) && !plan_row_images(s, st)) {
            op_done(s);
            return;
        }
        if (!s->services[op->dec.service] && !ensure_backend(s, op->dec.service) &&
            s->state == SESSION_CLOSED)
            return;
        op->kind = OP_DUAL;
        op->first = side_backend(s, op->dec.service, op->dec.primary);
        op->second = side_backend(s, op->dec.service,
                                  op->dec.primary == ROUTE_LEGACY ? ROUTE_SERVICE : ROUTE_LEGACY);
        break;
    case ROUTE_REJECT:
        reject(s, op->dec.sqlstate, op->dec.message);
        op_done(s);
        return;
    }
}

/* Extended protocol: until routing of Parse lands, a batch runs on legacy
 * when every statement it parses belongs there, and is refused otherwise. */
static bool batch_routes_to_legacy(session *s, const uint8_t *p, size_t len, char *why,
                                   size_t why_len)
{
    size_t pos = 0;
    while (pos < len) {
        uint8_t type = p[pos];
        size_t mlen = ((size_t)p[pos + 1] << 24) | ((size_t)p[pos + 2] << 16) |
                      ((size_t)p[pos + 3] << 8) | p[pos + 4];
        if (type == PG_FE_PARSE) {
            const char *name = (const char *)p + pos + 5;
            const char *sql = name + strlen(name) + 1;
            const classify_result *r = classify_cache_get(s->px->classify, sql);
            if (!r)
                return false;
            bool ok = true;
            for (size_t i = 0; ok && i < r->n_stmts; i++) {
                route_decision d;
                route_decide(s->cfg->routes, &r->stmts[i], &d);
                ok = d.action == ROUTE_RUN_LEGACY ||
                     (d.action == ROUTE_RUN_EVERYWHERE && s->cfg->n_services == 0);
            }
            classify_result_free(r);
            if (!ok) {
                snprintf(why, why_len,
                         "pgtandem: the extended query protocol is not supported yet for "
                         "statements that must run on a service database (\"%.80s\")",
                         sql);
                return false;
            }
        }
        pos += 1 + mlen;
    }
    return true;
}

/* Takes the next whole request from the client, if there is one. */
static void take_request(session *s)
{
    pg_buf *in = &s->client.in;
    size_t pos = 0;
    bool batch = false;
    while (pos < in->len) {
        pg_frame f;
        const char *err = NULL;
        pg_frame_status st = pg_frame_fe(in->data + pos, in->len - pos, &f, &err);
        if (st == PG_FRAME_INCOMPLETE)
            break;
        if (st == PG_FRAME_INVALID) {
            session_close(s, "08P01", err);
            return;
        }
        size_t whole = f.hdr_len + f.body_len;
        if (in->len - pos < whole) {
            if (!pg_buf_reserve(in, whole - (in->len - pos)))
                session_close(s, "53200", "out of memory");
            return;
        }
        if (!pg_fe_check(f.type, in->data + pos + f.hdr_len, f.body_len, &err)) {
            char m[160];
            snprintf(m, sizeof(m), "protocol violation by the client: %s", err);
            session_close(s, "08P01", m);
            return;
        }
        if (f.type == PG_FE_TERMINATE) {
            session_close(s, NULL, "client terminated the session");
            return;
        }
        if (s->skip_to_sync) {
            pg_buf_consume(in, pos + whole);
            pos = 0;
            if (f.type == PG_FE_SYNC) {
                s->skip_to_sync = false;
                pg_buf_ready_for_query(&s->client.out, s->tx_status);
            }
            continue;
        }
        if (f.type == PG_FE_QUERY && !batch) {
            uint8_t *copy = malloc(whole);
            if (!copy) {
                session_close(s, "53200", "out of memory");
                return;
            }
            memcpy(copy, in->data, whole);
            pg_buf_consume(in, whole);
            start_query(s, copy, whole);
            free(copy);
            return;
        }
        if (f.type == PG_FE_COPY_DATA || f.type == PG_FE_COPY_DONE || f.type == PG_FE_COPY_FAIL) {
            /* stray COPY messages: the server ignores them after a failed COPY */
            pg_buf_put(&s->legacy->s.out, in->data, whole);
            pg_buf_consume(in, whole);
            pos = 0;
            flush_to(s, s->legacy);
            continue;
        }
        batch = true;
        pos += whole;
        if (f.type == PG_FE_SYNC || f.type == PG_FE_FLUSH || f.type == PG_FE_FUNCTION_CALL) {
            char why[256];
            bool synced = f.type != PG_FE_FLUSH;
            const char *state = "0A000";
            if (s->tx_poisoned) {
                state = "25P02";
                snprintf(why, sizeof(why), "current transaction is aborted, commands ignored "
                                           "until end of transaction block");
            }
            if (s->tx_poisoned || !batch_routes_to_legacy(s, in->data, pos, why, sizeof(why))) {
                /* like a server error, a refusal aborts the client's transaction */
                if (s->tx_status != PG_TX_IDLE) {
                    s->tx_poisoned = true;
                    s->tx_status = PG_TX_FAILED;
                }
                pg_buf_error(&s->client.out, false, state, why);
                if (synced)
                    pg_buf_ready_for_query(&s->client.out, s->tx_status);
                else
                    s->skip_to_sync = true;
                pg_buf_consume(in, pos);
                return;
            }
            if (synced) {
                route_op *op = &s->op;
                op->kind = OP_SINGLE;
                op->first = s->legacy;
                op->step = 0;
                pg_buf_init(&op->request);
                pg_buf_put(&op->request, in->data, pos);
            } else {
                /* replies to a Flush come without a ReadyForQuery */
                pg_buf_put(&s->legacy->s.out, in->data, pos);
                flush_to(s, s->legacy);
            }
            pg_buf_consume(in, pos);
            return;
        }
    }
}

/* Runs the current request as far as it can go, then takes the next. */
static void pump(session *s)
{
    for (;;) {
        if (s->state != SESSION_READY)
            return;
        route_op *op = &s->op;
        switch (op->kind) {
        case OP_SINGLE: step_single(s); break;
        case OP_ALL: step_all(s); break;
        case OP_COMMIT: step_commit(s); break;
        case OP_DUAL: step_dual(s); break;
        default: break;
        }
        if (s->state != SESSION_READY)
            return;
        if (op->kind != OP_NONE)
            break;
        size_t before = s->client.in.len;
        take_request(s);
        if (s->state != SESSION_READY)
            return;
        if (op->kind == OP_NONE && s->client.in.len == before)
            break; /* nothing whole to take */
    }
    if (!stream_flush(&s->client)) {
        session_close(s, NULL, "client connection lost");
        return;
    }
    /* a client that pipelines faster than we answer waits for us */
    if (s->client.in.len > STREAM_HIGH_WATER)
        stream_pause_read(&s->client);
    else
        stream_resume_read(&s->client);
}

void session_route_client_input(session *s)
{
    /* COPY data from the client belongs to the request in flight */
    route_op *op = &s->op;
    if (op->kind == OP_SINGLE && op->step == 1) {
        pg_buf *in = &s->client.in;
        size_t pos = 0;
        while (pos < in->len) {
            pg_frame f;
            const char *err = NULL;
            if (pg_frame_fe(in->data + pos, in->len - pos, &f, &err) != PG_FRAME_OK)
                break;
            if (f.type != PG_FE_COPY_DATA && f.type != PG_FE_COPY_DONE &&
                f.type != PG_FE_COPY_FAIL)
                break;
            size_t whole = f.hdr_len + f.body_len;
            if (in->len - pos < whole) {
                if (!pg_buf_reserve(in, whole))
                    session_close(s, "53200", "out of memory");
                break;
            }
            pos += whole;
        }
        if (pos) {
            pg_buf_put(&op->first->s.out, in->data, pos);
            pg_buf_consume(in, pos);
            if (!flush_to(s, op->first))
                return;
            if (stream_pending(&op->first->s) > STREAM_HIGH_WATER)
                stream_pause_read(&s->client);
        }
    }
    pump(s);
}

/* ------------------------------------------------------- backend replies */

static void note_reply(backend *b, uint8_t type, const uint8_t *body, size_t len)
{
    if (type == PG_BE_ERROR_RESPONSE) {
        pg_error_fields e;
        if (pg_decode_error(body, len, &e) && !b->cur.error) {
            b->cur.error = true;
            snprintf(b->cur.sqlstate, sizeof(b->cur.sqlstate), "%s", e.sqlstate);
            snprintf(b->cur.message, sizeof(b->cur.message), "%s", e.message);
        }
    } else if (type == PG_BE_COMMAND_COMPLETE) {
        snprintf(b->cur.tag, sizeof(b->cur.tag), "%.*s", (int)(len ? len - 1 : 0),
                 (const char *)body);
        const char *last = strrchr(b->cur.tag, ' ');
        /* rows written; pgtandem's own SELECTs (sequence upkeep) don't count */
        if (last && strncmp(b->cur.tag, "SELECT", 6) != 0)
            b->cur.rows += strtoull(last + 1, NULL, 10);
    }
}

void session_route_backend_input(session *s, backend *b)
{
    pg_buf *in = &b->s.in;
    size_t pos = 0, need = 0;
    bool done_any = false;
    while (pos < in->len && s->state == SESSION_READY) {
        size_t avail = in->len - pos;
        reply_mode mode = b->n_pending ? b->pending[0] : REPLY_FORWARD;
        bool to_client = mode == REPLY_FORWARD && (b->n_pending || b == s->legacy);
        if (b->stream_left) {
            size_t n = avail < b->stream_left ? avail : b->stream_left;
            if (to_client)
                pg_buf_put(&s->client.out, in->data + pos, n);
            pos += n;
            b->stream_left -= n;
            continue;
        }
        pg_frame f;
        const char *err = NULL;
        pg_frame_status st = pg_frame_be(in->data + pos, avail, &f, &err);
        if (st == PG_FRAME_INCOMPLETE)
            break;
        if (st == PG_FRAME_INVALID) {
            session_backend_failed(s, b, "08P01", err);
            return;
        }
        size_t whole = f.hdr_len + f.body_len;
        if (avail < whole) {
            if (to_client && (f.type == PG_BE_DATA_ROW || f.type == PG_BE_COPY_DATA) &&
                whole >= ROUTE_STREAM_THRESHOLD) {
                pg_buf_put(&s->client.out, in->data + pos, avail);
                b->stream_left = whole - avail;
                pos = in->len;
            } else {
                need = whole;
            }
            break;
        }
        const uint8_t *body = in->data + pos + f.hdr_len;
        if (!pg_be_check(f.type, body, f.body_len, &err)) {
            session_backend_failed(s, b, "08P01", err);
            return;
        }
        bool from_legacy = b == s->legacy;
        switch (f.type) {
        case PG_BE_NOTIFICATION_RESPONSE:
        case PG_BE_PARAMETER_STATUS:
            /* the client hears only legacy's: it is the server it believes it talks to */
            if (from_legacy)
                pg_buf_put(&s->client.out, in->data + pos, whole);
            break;
        case PG_BE_NOTICE_RESPONSE:
            if (to_client || (mode == REPLY_CAPTURE && b->n_pending))
                pg_buf_put(to_client ? &s->client.out : &b->captured, in->data + pos, whole);
            break;
        case PG_BE_READY_FOR_QUERY:
            b->tx_status = body[0];
            if (!b->n_pending)
                break; /* answers a Sync we did not count; nothing to do */
            b->cur.tx_status = body[0];
            if (mode == REPLY_FORWARD) {
                pg_buf_put(&s->client.out, in->data + pos, whole);
                s->tx_status = body[0];
            }
            if (mode == REPLY_CAPTURE)
                b->capture_outcome = b->cur;
            b->last = b->cur;
            memset(&b->cur, 0, sizeof(b->cur));
            memmove(b->pending, b->pending + 1, (b->n_pending - 1) * sizeof(b->pending[0]));
            b->n_pending--;
            done_any = true;
            break;
        default:
            note_reply(b, f.type, body, f.body_len);
            if (f.type == PG_BE_ERROR_RESPONSE && !b->n_pending && !from_legacy)
                break;
            if (to_client)
                pg_buf_put(&s->client.out, in->data + pos, whole);
            else if (mode == REPLY_CAPTURE && b->n_pending)
                pg_buf_put(&b->captured, in->data + pos, whole);
            break;
        }
        pos += whole;
    }
    if (s->state != SESSION_READY)
        return;
    pg_buf_consume(in, pos);
    if (need > in->len && !pg_buf_reserve(in, need - in->len)) {
        session_close(s, "53200", "out of memory");
        return;
    }
    if (s->client.out.failed || b->captured.failed) {
        session_close(s, "53200", "out of memory");
        return;
    }
    if (done_any)
        pump(s);
    else if (!stream_flush(&s->client))
        session_close(s, NULL, "client connection lost");
    else if (stream_pending(&s->client) > STREAM_HIGH_WATER)
        stream_pause_read(&b->s);
}

void session_route_backend_ready(session *s, backend *b)
{
    /* a service backend finished logging in: drop its greeting, carry on */
    pg_buf_free(&b->params);
    pump(s);
}
