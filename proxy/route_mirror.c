/* The second half of a mirrored write, shared by statements (rs_step_dual)
 * and COPY (rs_step_copy): the secondary's outcome compared with the
 * primary's, the policy on a mismatch, then the commit in lock-step order
 * (secondary first) or by two-phase commit. The lock-step argument is at the
 * top of session_route.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/pg_codes.h"
#include "proxy/backend.h"
#include "proxy/divergence.h"
#include "proxy/session.h"
#include "proxy/session_route_int.h"
#include "proxy/two_phase.h"

void rs_send_then(session *s, backend *b, const char *sql, int step)
{
    if (!rs_send_query(s, b, sql, REPLY_SWALLOW))
        return;
    s->op->step = step;
    rs_flush_to(s, b);
}

bool rs_verify_sampled(const session *s)
{
    double p = s->cfg->verify_writes_sample;
    return p >= 1.0 || (p > 0.0 && (double)random() / ((double)RAND_MAX + 1.0) < p);
}

void rs_apply_opts(session *s, bool sync, row_images_opts *o)
{
    route_op *op = s->op;
    op->verify = rs_verify_sampled(s);
    o->sync = sync;
    o->verify = op->verify;
    o->replica_pass = op->table->row_trigger && op->second->target->replica_role;
}

void rs_verify_rows(session *s, int service, const classify_stmt *st)
{
    route_op *op = s->op;
    if (!op->verify)
        return;
    row_digest q;
    row_images_digest_reply(op->table, op->second->captured.data, op->second->captured.len,
                            op->primary_rows, &q);
    if (row_digest_equal(&op->primary_digest, &q, false))
        return;
    backend_outcome po = {0}, qo = {0};
    char pd[17], qd[17], tables[256];
    row_digest_format(&op->primary_digest, false, pd);
    row_digest_format(&q, false, qd);
    snprintf(po.tag, sizeof(po.tag), "%llu rows, digest %s",
             (unsigned long long)op->primary_digest.rows, pd);
    snprintf(qo.tag, sizeof(qo.tag), "%llu rows, digest %s", (unsigned long long)q.rows, qd);
    divergence_record(s, service, "rows written differ", st->fingerprint,
                      rs_stmt_tables(st, tables, sizeof(tables)), &po, &qo);
}

/* What the messages call the write: a COPY, or any other statement. */
static const char *noun(const route_op *op)
{
    return op->copy ? "COPY" : "write";
}

void rs_mirror_guards(const session *s, const char **pre, const char **post)
{
    static char pre_buf[320], post_buf[256];
    const route_op *op = s->op;
    /* under continue, inside the client's transaction, a savepoint lets a
     * failed mirror cost the secondary only this write */
    bool guarded = !op->wrapped && s->cfg->on_mirror_failure == MIRROR_CONTINUE;
    snprintf(pre_buf, sizeof(pre_buf), "%s; %s",
             op->wrapped ? "BEGIN; SET LOCAL pgtandem.mirror = on"
             : guarded   ? "SAVEPOINT pgtandem_continue; SET LOCAL pgtandem.mirror = on"
                         : "SET LOCAL pgtandem.mirror = on",
             rs_mirror_lock_timeout_on(s));
    snprintf(post_buf, sizeof(post_buf), "%s; %s", RS_MIRROR_LOCK_TIMEOUT_OFF,
             guarded ? "SET LOCAL pgtandem.mirror = off; RELEASE SAVEPOINT pgtandem_continue"
                     : "SET LOCAL pgtandem.mirror = off");
    *pre = pre_buf;
    *post = post_buf;
}

const char *rs_mirror_lock_timeout_on(const session *s)
{
    /* the secondary's lock waits end by themselves at mirror_timeout; the
     * client's own lock_timeout comes back after the mirrored statement */
    static char sql[200];
    snprintf(sql, sizeof(sql),
             "SELECT pg_catalog.set_config('pgtandem.lock_timeout', "
             "pg_catalog.current_setting('lock_timeout'), true), "
             "pg_catalog.set_config('lock_timeout', '%ldms', true)",
             (long)(s->cfg->mirror_timeout * 1000.0));
    return sql;
}

void rs_mirror_nothing(session *s)
{
    route_op *op = s->op;
    if (!op->wrapped) {
        rs_deliver_captured(s, op->first, op->first->rx->capture_outcome.tx_status);
        rs_op_done(s);
        return;
    }
    rs_send_then(s, op->first, "COMMIT", MIRROR_PRIMARY_COMMIT);
}

/* Wrapped: the pair's own transactions roll back. Otherwise the client's
 * transaction is aborted, as a failed statement aborts it in PostgreSQL:
 * every backend keeps where it is, and pgtandem takes only ROLLBACK, which
 * ends it everywhere, or ROLLBACK TO SAVEPOINT, which brings every backend
 * back to a savepoint taken before the write (undoing it on both sides). */
static void mirror_failed(session *s)
{
    route_op *op = s->op;
    if (op->wrapped) {
        backend *pair[2] = {op->first, op->second};
        for (size_t i = 0; i < 2; i++)
            if (pair[i]->state == BACKEND_READY &&
                rs_send_query(s, pair[i], "ROLLBACK", REPLY_SWALLOW))
                rs_flush_to(s, pair[i]);
    } else {
        s->tx_poisoned = true;
    }
    op->step = MIRROR_FAILED;
}

const char *rs_mirror_undone(bool wrapped)
{
    return wrapped ? "it was rolled back on both databases"
                   : "the transaction is aborted on both databases; ROLLBACK, or ROLLBACK TO "
                     "SAVEPOINT, undoes the write on both";
}

void rs_mirror_compare(session *s)
{
    route_op *op = s->op;
    const classify_stmt *st = &op->cls->stmts[0];
    const service_config *svc = &s->cfg->services[op->dec.service];
    const backend_outcome *p = &op->first->rx->capture_outcome,
                          *q = &op->second->rx->capture_outcome;
    char tables[256];
    bool match = op->images ? !q->error && q->rows == op->primary_rows : rs_same_outcome(p, q);
    if (match && op->images)
        rs_verify_rows(s, op->dec.service, st);
    if (!match) {
        divergence_record(s, op->dec.service, "outcome differs", st->fingerprint,
                          rs_stmt_tables(st, tables, sizeof(tables)), p, q);
        if (s->cfg->on_mirror_failure == MIRROR_FAIL) {
            /* a lost secondary is not the client's connection: no 08xxx */
            snprintf(op->error_state, sizeof(op->error_state), "%s",
                     q->error && strncmp(q->sqlstate, "08", 2) != 0 ? q->sqlstate : "XX000");
            char qdesc[96];
            if (op->images && !q->error)
                snprintf(qdesc, sizeof(qdesc), "%llu of %llu rows applied",
                         (unsigned long long)q->rows, (unsigned long long)op->primary_rows);
            snprintf(op->error_text, sizeof(op->error_text),
                     "pgtandem: the %s %s %s could not be mirrored to the %s side of "
                     "service %s (%s); %s",
                     noun(op), op->copy ? "into" : "to", rs_stmt_tables(st, tables, sizeof(tables)),
                     op->second->service < 0 ? "legacy" : "service", svc->name,
                     q->error ? q->message : op->images ? qdesc : q->tag,
                     rs_mirror_undone(op->wrapped));
            mirror_failed(s);
            return;
        }
    }
    if (!op->wrapped) {
        if (q->error && s->cfg->on_mirror_failure == MIRROR_CONTINUE &&
            rs_send_query(s, op->second,
                          "ROLLBACK TO SAVEPOINT pgtandem_continue; "
                          "RELEASE SAVEPOINT pgtandem_continue",
                          REPLY_SWALLOW))
            rs_flush_to(s, op->second);
        rs_deliver_captured(s, op->first, op->first->rx->capture_outcome.tx_status);
        rs_op_done(s);
        return;
    }
    if (s->cfg->two_phase) {
        backend *pair[2] = {op->first, op->second};
        if (!(op->tpc = tpc_start(s, pair, 2))) {
            session_close(s, "53200", "out of memory");
            return;
        }
        op->step = MIRROR_TWO_PHASE;
        return;
    }
    rs_send_then(s, op->second, "COMMIT", MIRROR_SECONDARY_COMMIT);
}

static void secondary_committed(session *s)
{
    route_op *op = s->op;
    const classify_stmt *st = &op->cls->stmts[0];
    const backend_outcome *q = &op->second->rx->last;
    char tables[256];
    if (q->error || strcmp(q->tag, "COMMIT") != 0) {
        divergence_record(s, op->dec.service, "secondary commit failed", st->fingerprint,
                          rs_stmt_tables(st, tables, sizeof(tables)), NULL, q);
        if (s->cfg->on_mirror_failure == MIRROR_FAIL) {
            snprintf(op->error_state, sizeof(op->error_state), "%s",
                     q->error ? q->sqlstate : "40000");
            snprintf(op->error_text, sizeof(op->error_text),
                     "pgtandem: the %s database of service %s could not commit the %s; it was "
                     "rolled back on both databases",
                     op->second->service < 0 ? "legacy" : "service",
                     s->cfg->services[op->dec.service].name, noun(op));
            if (rs_send_query(s, op->first, "ROLLBACK", REPLY_SWALLOW))
                rs_flush_to(s, op->first);
            op->step = MIRROR_FAILED;
            return;
        }
    }
    rs_send_then(s, op->first, "COMMIT", MIRROR_PRIMARY_COMMIT);
}

static void primary_committed(session *s)
{
    route_op *op = s->op;
    const backend_outcome *p = &op->first->rx->last;
    char tables[256];
    if (p->error) {
        /* the window two-phase commit closes: the secondary has it, the primary not */
        divergence_record(s, op->dec.service, "primary commit failed after the secondary's",
                          op->cls->stmts[0].fingerprint,
                          rs_stmt_tables(&op->cls->stmts[0], tables, sizeof(tables)), p, NULL);
        pg_buf_reset(&op->first->captured);
        rs_reply_error(s, p->sqlstate, p->message, PG_TX_IDLE);
    } else {
        rs_deliver_captured(s, op->first, PG_TX_IDLE);
    }
    rs_op_done(s);
}

void rs_mirror_step(session *s)
{
    route_op *op = s->op;
    switch (op->step) {
    case MIRROR_TWO_PHASE: {
        tpc_result r = tpc_step(s, op->tpc);
        if (r == TPC_RUNNING)
            return;
        if (r == TPC_COMMITTED) {
            rs_deliver_captured(s, op->first, PG_TX_IDLE);
        } else {
            pg_buf_reset(&op->first->captured);
            rs_reply_error(s, op->tpc->error_state, op->tpc->error_text, PG_TX_IDLE);
        }
        rs_op_done(s);
        return;
    }
    case MIRROR_SECONDARY_COMMIT:
        if (backend_idle(op->second))
            secondary_committed(s);
        return;
    case MIRROR_PRIMARY_COMMIT:
        if (backend_idle(op->first))
            primary_committed(s);
        return;
    case MIRROR_FAILED:
        if (!rs_all_idle(s))
            return;
        rs_reply_error(s, op->error_state, op->error_text,
                       op->wrapped ? PG_TX_IDLE : PG_TX_FAILED);
        rs_op_done(s);
        return;
    case MIRROR_REFUSED:
        if (!backend_idle(op->first))
            return;
        rs_deliver_captured(s, op->first, PG_TX_IDLE);
        rs_op_done(s);
        return;
    }
}
