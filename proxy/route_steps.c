/* Routed sessions: running one request on one backend, on every backend,
 * as a COMMIT in order, or as a lock-step mirrored write. The lock-step
 * argument is at the top of session_route.c. */
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
#include "proxy/two_phase.h"

/* --------------------------------------------------------------- op steps */

void rs_step_single(session *s)
{
    route_op *op = s->op;
    if (op->step == 0) {
        if (!rs_ensure_backend(s, op->first->service))
            return;
        if (!backend_send_raw(op->first, op->request.data, op->request.len, REPLY_FORWARD)) {
            session_close(s, "53200", "too many requests in flight");
            return;
        }
        op->step = 1;
        if (rs_flush_to(s, op->first))
            /* a COPY's data may have come with it, before the server asked */
            (void)rs_pass_copy_input(s);
        return;
    }
    if (!backend_idle(op->first))
        return;
    if (op->fast_ext)
        rs_fast_batch_done(s);
    rs_op_done(s);
}

void rs_step_all(session *s)
{
    route_op *op = s->op;
    backend *list[CONFIG_MAX_SERVICES + 1];
    size_t n = rs_participants(s, list);
    if (op->step == 0) {
        for (size_t i = 0; i < n; i++)
            if (!rs_ensure_backend(s, list[i]->service))
                return;
        for (size_t i = 0; i < n; i++) {
            if (!backend_send_raw(list[i], op->request.data, op->request.len, REPLY_CAPTURE)) {
                session_close(s, "53200", "too many requests in flight");
                return;
            }
            if (!rs_flush_to(s, list[i]))
                return;
        }
        op->step = 1;
        return;
    }
    if (!rs_all_idle(s))
        return;
    const classify_stmt *st = &op->cls->stmts[0];
    for (size_t i = 1; i < n; i++)
        if (!rs_same_outcome(&s->legacy->rx->capture_outcome, &list[i]->rx->capture_outcome))
            divergence_record(s, list[i]->service, "session command differs", st->fingerprint,
                              "", &s->legacy->rx->capture_outcome, &list[i]->rx->capture_outcome);
    const char *sql = (const char *)op->request.data + 5;
    if (!s->legacy->rx->capture_outcome.error) {
        rs_track_session_state(s, st, sql, s->legacy->rx->capture_outcome.tx_status);
        rs_note_prepared(s, st, op->cls);
    }
    backend *bad;
    if (rs_savepoint_outcome(s, st, true, &bad)) {
        const backend_outcome *o = &bad->rx->capture_outcome;
        char m[700];
        snprintf(m, sizeof(m),
                 "pgtandem: %s ran on legacy but failed on the database of service %s (%s); the "
                 "transaction is aborted: roll back, or roll back to an earlier savepoint",
                 st->tx == CLASSIFY_TX_SAVEPOINT ? "SAVEPOINT"
                 : st->tx == CLASSIFY_TX_RELEASE ? "RELEASE SAVEPOINT"
                                                 : "ROLLBACK TO SAVEPOINT",
                 s->cfg->services[bad->service].name, o->message);
        pg_buf_reset(&s->legacy->captured);
        rs_reply_error(s, o->sqlstate[0] ? o->sqlstate : "XX000", m, PG_TX_FAILED);
        rs_op_done(s);
        return;
    }
    rs_deliver_captured(s, s->legacy, s->legacy->rx->capture_outcome.tx_status);
    rs_op_done(s);
}

static void rollback_everywhere(session *s)
{
    backend *list[CONFIG_MAX_SERVICES + 1];
    size_t n = rs_participants(s, list);
    for (size_t i = 0; i < n; i++)
        if (list[i]->state == BACKEND_READY && rs_send_query(s, list[i], "ROLLBACK", REPLY_SWALLOW))
            rs_flush_to(s, list[i]);
}

/* With two_phase on, a COMMIT reaching several backends in a transaction
 * goes through PREPARE TRANSACTION (two_phase.h). COMMIT AND CHAIN keeps the
 * ordered commit: a prepared transaction can't chain. */
static bool start_two_phase(session *s, backend **list, size_t n)
{
    route_op *op = s->op;
    if (!s->cfg->two_phase || op->cls->stmts[0].chain)
        return false;
    backend *in_tx[CONFIG_MAX_SERVICES + 1];
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (list[i]->state == BACKEND_READY && list[i]->tx_status != PG_TX_IDLE)
            in_tx[k++] = list[i];
    if (k < 2)
        return false;
    op->tpc = tpc_start(s, in_tx, k);
    if (!op->tpc) {
        session_close(s, "53200", "out of memory");
        return true;
    }
    op->step = 30;
    return true;
}

void rs_step_commit(session *s)
{
    route_op *op = s->op;
    backend *list[CONFIG_MAX_SERVICES + 1];
    size_t n = rs_participants(s, list);
    if (!rs_all_idle(s))
        return;
    if (op->step == 0) {
        if (s->tx_poisoned || s->legacy->tx_status == PG_TX_FAILED ||
            s->tx_status == PG_TX_FAILED) {
            rollback_everywhere(s);
            op->step = 10;
            return;
        }
        if (start_two_phase(s, list, n))
            return;
        op->phase = -1;
        op->step = 1;
    }
    if (op->step == 30) {
        tpc_result r = tpc_step(s, op->tpc);
        if (r == TPC_RUNNING)
            return;
        pg_buf_reset(&s->tx_log);
        pg_buf_reset(&s->tx_session_log);
        if (r == TPC_COMMITTED) {
            rs_track_session_state(s, &op->cls->stmts[0], (const char *)op->request.data + 5,
                                   PG_TX_IDLE);
            rs_reply_command(s, "COMMIT", PG_TX_IDLE);
        } else {
            rs_reply_error(s, op->tpc->error_state, op->tpc->error_text, PG_TX_IDLE);
        }
        rs_op_done(s);
        return;
    }
    if (op->step == 10) {
        s->tx_poisoned = false;
        op->x.lost_service = 0;
        pg_buf_reset(&s->tx_log);
        pg_buf_reset(&s->tx_session_log);
        rs_reply_command(s, "ROLLBACK", PG_TX_IDLE);
        rs_op_done(s);
        return;
    }
    if (op->step == 11) { /* the rollback after a failed commit is done */
        pg_buf_reset(&s->tx_log);
        pg_buf_reset(&s->tx_session_log);
        rs_reply_error(s, "40000",
                    "pgtandem: a service database could not commit; the transaction was rolled "
                    "back on both sides",
                    PG_TX_IDLE);
        rs_op_done(s);
        return;
    }
    /* check the group that just committed */
    if (op->phase >= 0) {
        for (size_t i = 0; i < n; i++) {
            if (rs_commit_group(s, list[i]) != op->phase)
                continue;
            const backend_outcome *o = &list[i]->rx->capture_outcome;
            if (list[i] == s->legacy)
                continue;
            if (o->error || strcmp(o->tag, "COMMIT") != 0) {
                divergence_record(s, list[i]->service, "secondary commit failed",
                                  op->cls->stmts[0].fingerprint, "", NULL, o);
                if (s->cfg->on_mirror_failure == MIRROR_FAIL && op->phase == 0)
                    op->failed = true;
            }
        }
        if (op->failed) {
            rollback_everywhere(s);
            op->step = 11;
            return;
        }
    }
    while (++op->phase <= 2) {
        bool sent = false;
        for (size_t i = 0; i < n; i++) {
            if (rs_commit_group(s, list[i]) != op->phase)
                continue;
            if (!backend_send_raw(list[i], op->request.data, op->request.len, REPLY_CAPTURE))
                return;
            rs_flush_to(s, list[i]);
            sent = true;
        }
        if (sent)
            return;
    }
    /* all committed: the client sees legacy's answer */
    rs_track_session_state(s, &op->cls->stmts[0], (const char *)op->request.data + 5, PG_TX_IDLE);
    rs_deliver_captured(s, s->legacy, s->legacy->rx->capture_outcome.tx_status);
    rs_op_done(s);
}

/* Replaces the primary's captured replies with what the client asked for,
 * and prepares the batch that applies the same rows on the secondary. */
static bool take_row_images(session *s)
{
    route_op *op = s->op;
    pg_buf client;
    char err[160];
    size_t rows = 0;
    pg_buf_init(&client);
    pg_buf_init(&op->apply);
    row_images_opts o;
    rs_apply_opts(s, true, &o);
    bool ok = row_images_build(op->table, op->cls->stmts[0].dml, op->first->captured.data,
                               op->first->captured.len, &o, &client, &op->apply, &rows,
                               &op->primary_digest, err, sizeof(err));
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

void rs_step_dual(session *s)
{
    route_op *op = s->op;
    switch (op->step) {
    case 0:
        if (!rs_ensure_backend(s, -1) || !rs_ensure_backend(s, op->dec.service))
            return;
        op->wrapped = s->tx_status == PG_TX_IDLE;
        if (op->wrapped && !rs_send_query(s, op->first, "BEGIN", REPLY_SWALLOW))
            return;
        bool pin = op->pinned = op->images && !op->cls->stmts[0].returning; /* row_images.h */
        if ((pin && !rs_send_query(s, op->first, ROW_IMAGES_PIN, REPLY_SWALLOW)) ||
            (op->images ? !rs_send_query(s, op->first, op->rewritten, REPLY_CAPTURE)
                        : !backend_send_raw(op->first, op->request.data, op->request.len,
                                            REPLY_CAPTURE)) ||
            (pin && !rs_send_query(s, op->first, ROW_IMAGES_UNPIN, REPLY_SWALLOW)))
            return;
        op->step = 1;
        rs_flush_to(s, op->first);
        return;
    case 1: {
        if (!backend_idle(op->first))
            return;
        if (op->first->rx->capture_outcome.error) {
            /* the primary refused: the secondary never sees it */
            if (op->wrapped) {
                if (rs_send_query(s, op->first, "ROLLBACK", REPLY_SWALLOW))
                    rs_flush_to(s, op->first);
                op->step = MIRROR_REFUSED;
                return;
            }
            rs_deliver_captured(s, op->first, op->first->rx->capture_outcome.tx_status);
            rs_op_done(s);
            return;
        }
        if (op->images && !take_row_images(s))
            return;
        if (op->images && op->apply.len == 0) {
            rs_mirror_nothing(s); /* no row changed: nothing to mirror */
            return;
        }
        const char *pre, *post;
        rs_mirror_guards(s, &pre, &post);
        const pg_buf *req = op->images ? &op->apply : &op->request;
        /* what it returns to verify prints like the images */
        bool pin_second = op->images && op->verify && op->pinned;
        if (!rs_send_query(s, op->second, pre, REPLY_SWALLOW) ||
            (pin_second && !rs_send_query(s, op->second, ROW_IMAGES_PIN, REPLY_SWALLOW)) ||
            !backend_send_raw(op->second, req->data, req->len, REPLY_CAPTURE) ||
            (pin_second && !rs_send_query(s, op->second, ROW_IMAGES_UNPIN, REPLY_SWALLOW)) ||
            !rs_send_query(s, op->second, post, REPLY_SWALLOW))
            return;
        op->step = 2;
        rs_flush_to(s, op->second);
        return;
    }
    case 2:
        if (backend_idle(op->second))
            rs_mirror_compare(s);
        return;
    default:
        rs_mirror_step(s);
        return;
    }
}
