/* Extended protocol: Execute (on one backend, everywhere, COMMIT in order,
 * or a mirrored write in lock-step) and Sync (secondaries first). See
 * route_ext.c for the engine that calls them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/pg_codes.h"
#include "protocol/pg_ext.h"
#include "protocol/pg_frame.h"
#include "protocol/pg_reader.h"
#include "proxy/backend.h"
#include "proxy/lex_track.h"
#include "proxy/divergence.h"
#include "proxy/ext_registry.h"
#include "proxy/log.h"
#include "proxy/row_images.h"
#include "proxy/route_ext_int.h"
#include "proxy/session.h"
#include "proxy/session_route_int.h"
#include "proxy/two_phase.h"

/* ----------------------------------------------------------------- Execute */

static backend *secondary_of(session *s, const route_decision *d);

static msg_result exec_everywhere(session *s, const msg *m, ext_stmt *st)
{
    route_op *op = s->op;
    const classify_stmt *c = &st->cls->stmts[0];
    backend *list[CONFIG_MAX_SERVICES + 1];
    size_t n;
    if (!ext_targets_of(s, st, list, &n) || !ext_client_turn(s, NULL) || !rs_all_idle(s))
        return MSG_WAIT;
    st->refs++;
    op->unit = st;
    bool ends_tx = c->kind == CLASSIFY_TX_CONTROL &&
                   (c->tx == CLASSIFY_TX_COMMIT || c->tx == CLASSIFY_TX_ROLLBACK);
    if (ends_tx && (s->tx_poisoned || s->tx_status == PG_TX_FAILED)) {
        /* every backend rolls back; the client hears ROLLBACK, as from PostgreSQL */
        for (size_t i = 0; i < n; i++)
            if (!ext_send_internal(s, list[i], "ROLLBACK", REPLY_SWALLOW))
                return MSG_WAIT;
        op->step = ST_EXEC_ABORTED;
        return MSG_BUSY;
    }
    if (c->kind == CLASSIFY_TX_CONTROL && c->tx == CLASSIFY_TX_COMMIT && n > 1 &&
        s->tx_status != PG_TX_IDLE) {
        if (s->cfg->two_phase && !c->chain) {
            op->phase = 0;
            op->step = ST_EXEC_TPC;
            return MSG_BUSY;
        }
        op->phase = -1;
        op->step = ST_EXEC_COMMIT;
        return MSG_BUSY;
    }
    if (!ext_send_to_targets(s, st, list, n, m->whole, m->len))
        return MSG_WAIT;
    op->step = ST_EXEC_ALL;
    return MSG_BUSY;
}

/* The client's picture of the transaction moves with the commands it runs,
 * before its ReadyForQuery: a backend joining in the same window must start
 * with the same BEGIN. */
static void after_session_command(session *s, const ext_stmt *st, bool ok)
{
    const classify_stmt *c = &st->cls->stmts[0];
    if (!ok)
        return;
    if (c->kind == CLASSIFY_TX_CONTROL) {
        if (c->tx == CLASSIFY_TX_BEGIN)
            s->tx_status = PG_TX_IN_BLOCK;
        else if (c->tx == CLASSIFY_TX_COMMIT || c->tx == CLASSIFY_TX_ROLLBACK)
            s->tx_status = PG_TX_IDLE;
        else if (c->tx == CLASSIFY_TX_ROLLBACK_TO && !s->tx_poisoned)
            s->tx_status = PG_TX_IN_BLOCK; /* back at the savepoint, later statements run */
    }
    rs_track_session_state(s, c, st->sql, s->tx_status);
    rs_note_prepared(s, c, st->cls);
}

msg_result ext_exec_all_done(session *s)
{
    if (!rs_all_idle(s))
        return MSG_WAIT;
    const classify_stmt *c = &s->op->unit->cls->stmts[0];
    backend *bad;
    if (rs_savepoint_outcome(s, c, false, &bad))
        /* the client already has legacy's answer: the next statement hears why */
        divergence_record(s, bad->service, "savepoint command failed on one side only",
                          c->fingerprint, "", &s->legacy->rx->last, &bad->rx->last);
    after_session_command(s, s->op->unit, !s->legacy->rx->last.error);
    return MSG_DONE;
}

msg_result ext_exec_aborted_done(session *s)
{
    if (!rs_all_idle(s))
        return MSG_WAIT;
    s->tx_poisoned = false;
    s->op->x.lost_service = 0;
    pg_buf_begin_msg(&s->client.out, PG_BE_COMMAND_COMPLETE);
    pg_buf_put_cstring(&s->client.out, "ROLLBACK");
    pg_buf_end_msg(&s->client.out);
    after_session_command(s, s->op->unit, true);
    return MSG_DONE;
}

/* COMMIT in groups: each secondary before its primary (see rs_commit_group). */
msg_result ext_exec_commit_step(session *s, const msg *m)
{
    route_op *op = s->op;
    backend *list[CONFIG_MAX_SERVICES + 1];
    size_t n = rs_participants(s, list);
    if (!rs_all_idle(s))
        return MSG_WAIT;
    if (op->phase >= 0) {
        for (size_t i = 0; i < n; i++) {
            const backend_outcome *o = &list[i]->rx->last;
            if (rs_commit_group(s, list[i]) != op->phase || list[i] == s->legacy)
                continue;
            if (o->error || strcmp(o->tag, "COMMIT") != 0) {
                divergence_record(s, list[i]->service, "secondary commit failed",
                                  op->unit->cls->stmts[0].fingerprint, "", NULL, o);
                if (s->cfg->on_mirror_failure == MIRROR_FAIL && op->phase == 0)
                    op->failed = true;
            }
        }
    }
    if (op->failed) {
        /* the rest rolls back instead; the client hears why */
        for (size_t i = 0; i < n; i++)
            if (rs_commit_group(s, list[i]) > op->phase &&
                !ext_send_internal(s, list[i], "ROLLBACK", REPLY_SWALLOW))
                return MSG_WAIT;
        pg_buf_error(&s->client.out, false, "40000",
                     "pgtandem: a service database could not commit; the transaction was "
                     "rolled back on both sides");
        s->tx_status = PG_TX_IDLE;
        pg_buf_reset(&s->tx_log);
        pg_buf_reset(&s->tx_session_log);
        op->failed = false;
        s->op->x.window_failed = true;
        return MSG_DONE;
    }
    while (++op->phase <= 2) {
        bool sent = false;
        for (size_t i = 0; i < n; i++) {
            if (rs_commit_group(s, list[i]) != op->phase)
                continue;
            /* only legacy's answer reaches the client */
            if (!ext_send_stmt_msg(s, op->unit, list[i], m->whole, m->len,
                               list[i] == s->legacy ? REPLY_FORWARD : REPLY_SWALLOW))
                return MSG_WAIT;
            sent = true;
        }
        if (sent)
            return MSG_BUSY;
    }
    after_session_command(s, op->unit, !s->legacy->rx->last.error);
    return MSG_DONE;
}

static bool send_sync(session *s, backend *b)
{
    pg_buf sync;
    pg_buf_init(&sync);
    pg_buf_simple(&sync, PG_FE_SYNC);
    bool ok = !sync.failed && backend_send_raw(b, sync.data, sync.len, REPLY_SWALLOW);
    pg_buf_free(&sync);
    if (!ok) {
        session_close(s, "53200", "too many requests in flight");
        return false;
    }
    return rs_flush_to(s, b);
}

/* The client's COMMIT with two_phase on: each backend's window is ended with
 * a Sync of pgtandem's (its transaction block stays open), then the members
 * commit by two-phase commit (two_phase.h), and the client hears COMMIT or
 * why not. */
msg_result ext_exec_tpc_step(session *s)
{
    route_op *op = s->op;
    backend *list[CONFIG_MAX_SERVICES + 1];
    size_t n = rs_participants(s, list);
    if (!rs_all_idle(s))
        return MSG_WAIT;
    if (op->phase == 0) {
        op->phase = 1;
        bool sent = false;
        for (size_t i = 0; i < n; i++)
            if (list[i]->state == BACKEND_READY && (op->x.touched & ext_bit_of(list[i]))) {
                if (!send_sync(s, list[i]))
                    return MSG_WAIT;
                sent = true;
            }
        if (sent)
            return MSG_WAIT;
    }
    if (op->phase == 1) {
        backend *in_tx[CONFIG_MAX_SERVICES + 1];
        size_t k = 0;
        for (size_t i = 0; i < n; i++)
            if (list[i]->state == BACKEND_READY && list[i]->tx_status != PG_TX_IDLE)
                in_tx[k++] = list[i];
        op->phase = 2;
        if (k) {
            if (!(op->tpc = tpc_start(s, in_tx, k))) {
                session_close(s, "53200", "out of memory");
                return MSG_WAIT;
            }
            return MSG_WAIT;
        }
    }
    tpc_result r = op->tpc ? tpc_step(s, op->tpc) : TPC_COMMITTED;
    if (r == TPC_RUNNING)
        return MSG_WAIT;
    if (r == TPC_COMMITTED) {
        pg_buf_begin_msg(&s->client.out, PG_BE_COMMAND_COMPLETE);
        pg_buf_put_cstring(&s->client.out, "COMMIT");
        pg_buf_end_msg(&s->client.out);
        after_session_command(s, op->unit, true);
    } else {
        pg_buf_reset(&s->tx_log);
        pg_buf_reset(&s->tx_session_log);
        s->tx_status = PG_TX_IDLE;
        ext_client_error(s, op->tpc->error_state, op->tpc->error_text);
    }
    free(op->tpc);
    op->tpc = NULL;
    return MSG_DONE;
}

static backend *secondary_of(session *s, const route_decision *d)
{
    return rs_side_backend(s, d->service, d->primary == ROUTE_LEGACY ? ROUTE_SERVICE : ROUTE_LEGACY);
}

/* Under `continue` a failed mirror must cost the secondary that one write,
 * not the window's others: each write runs under a savepoint, inside a
 * transaction pgtandem begins there when the client has none (committed or
 * rolled back with the client's at Sync). */
#define CONTINUE_SAVEPOINT "pgtandem_continue"

static bool open_savepoint(session *s, backend *b)
{
    if (!b->own_tx && s->tx_status == PG_TX_IDLE) {
        if (!ext_send_internal(s, b, "BEGIN", REPLY_SWALLOW))
            return false;
        b->own_tx = true;
    }
    return ext_send_internal(s, b, "SAVEPOINT " CONTINUE_SAVEPOINT, REPLY_SWALLOW);
}

/* The secondary failed: Sync ends its skipping (its transaction is now
 * aborted), then back to the savepoint. */
msg_result ext_dual_recover(session *s)
{
    route_op *op = s->op;
    backend *b = op->second;
    if (op->phase == 0) {
        op->phase = 1;
        (void)send_sync(s, b);
        return MSG_WAIT;
    }
    if (!backend_idle(b))
        return MSG_WAIT;
    if (b->state == BACKEND_READY &&
        (!ext_send_internal(s, b, "ROLLBACK TO SAVEPOINT " CONTINUE_SAVEPOINT, REPLY_SWALLOW) ||
         !ext_send_internal(s, b, "RELEASE SAVEPOINT " CONTINUE_SAVEPOINT, REPLY_SWALLOW)))
        return MSG_WAIT;
    pg_buf_put(&s->client.out, op->first->captured.data, op->first->captured.len);
    pg_buf_reset(&op->first->captured);
    return MSG_DONE;
}

static msg_result exec_dual(session *s, const msg *m, const pg_execute_msg *e, ext_stmt *st)
{
    route_op *op = s->op;
    backend *list[CONFIG_MAX_SERVICES + 1];
    size_t n;
    if (!ext_targets_of(s, st, list, &n) || !ext_client_turn(s, NULL))
        return MSG_WAIT;
    if (s->cfg->two_phase && s->tx_status == PG_TX_IDLE) {
        /* the window becomes a transaction block on both sides, committed at
         * Sync by two-phase commit; a BEGIN after earlier statements of the
         * window takes them into the block */
        backend *pair[2] = {list[0], secondary_of(s, &st->dec)};
        for (int i = 0; i < 2; i++) {
            if (pair[i]->own_tx)
                continue;
            if (!ext_send_internal(s, pair[i], "BEGIN", REPLY_SWALLOW))
                return MSG_WAIT;
            pair[i]->own_tx = true;
        }
    }
    pg_buf out;
    pg_buf_init(&out);
    if (st->images) {
        /* every row the write touched is needed: no row limit */
        pg_buf_execute(&out, e->portal, 0);
    } else {
        pg_buf_put(&out, m->whole, m->len);
    }
    bool pin = st->images && st->client_cols == 0; /* row_images.h */
    bool ok = !out.failed && (!pin || ext_send_internal(s, list[0], ROW_IMAGES_PIN, REPLY_SWALLOW)) &&
              ext_send(s, list[0], out.data, out.len, REPLY_CAPTURE) &&
              (!pin || ext_send_internal(s, list[0], ROW_IMAGES_UNPIN, REPLY_SWALLOW));
    pg_buf_free(&out);
    if (!ok) {
        if (s->state == SESSION_READY)
            session_close(s, "53200", "out of memory");
        return MSG_WAIT;
    }
    st->refs++;
    op->unit = st;
    op->first = list[0];
    op->second = secondary_of(s, &st->dec);
    op->step = ST_DUAL_PRIMARY;
    return MSG_BUSY;
}

/* The primary has run the write: now the secondary, between pgtandem's own
 * statements that mark its connection as applying a mirror. */
msg_result ext_dual_primary_done(session *s, const msg *m)
{
    route_op *op = s->op;
    ext_stmt *st = op->unit;
    if (!backend_idle(op->first))
        return MSG_WAIT;
    if (op->first->rx->capture_outcome.error) {
        /* refused on the primary: the secondary never sees it */
        pg_buf_put(&s->client.out, op->first->captured.data, op->first->captured.len);
        pg_buf_reset(&op->first->captured);
        ext_fail_window(s);
        return MSG_DONE;
    }
    const pg_buf *run = NULL;
    if (st->images) {
        pg_buf in, client;
        char err[160];
        size_t rows = 0;
        pg_buf_init(&in);
        pg_buf_init(&client);
        pg_buf_free(&op->apply); /* the last Execute's of the same window */
        pg_buf_put(&in, st->row_desc.data, st->row_desc.len);
        pg_buf_put(&in, op->first->captured.data, op->first->captured.len);
        row_images_opts o;
        op->table = st->table;
        rs_apply_opts(s, false, &o);
        op->pinned = st->client_cols == 0;
        bool ok = !in.failed && row_images_build(st->table, st->cls->stmts[0].dml, in.data,
                                                 in.len, &o, &client, &op->apply, &rows,
                                                 &op->primary_digest, err, sizeof(err));
        pg_buf_free(&in);
        if (!ok) {
            pg_buf_free(&client);
            session_close(s, "XX000", err);
            return MSG_WAIT;
        }
        /* the client asked for no RowDescription here: drop the rebuilt one */
        size_t skip = 0;
        if (client.len >= 5 && client.data[0] == PG_BE_ROW_DESCRIPTION)
            skip = pg_frame_whole_len(client.data);
        pg_buf_reset(&op->first->captured);
        pg_buf_put(&op->first->captured, client.data + skip, client.len - skip);
        pg_buf_free(&client);
        op->primary_rows = rows;
        if (op->apply.len == 0) /* no row changed: nothing to mirror */
            goto deliver;
        run = &op->apply;
    }
    if (s->cfg->on_mirror_failure == MIRROR_CONTINUE && !open_savepoint(s, op->second))
        return MSG_WAIT;
    bool pin = run && op->verify && op->pinned; /* what it returns prints like the images */
    if (!ext_send_internal(s, op->second, "SELECT pg_catalog.set_config('pgtandem.mirror', 'on', true)",
                       REPLY_SWALLOW) ||
        !ext_send_internal(s, op->second, rs_mirror_lock_timeout_on(s), REPLY_SWALLOW) ||
        (pin && !ext_send_internal(s, op->second, ROW_IMAGES_PIN, REPLY_SWALLOW)) ||
        !(run ? ext_send(s, op->second, run->data, run->len, REPLY_CAPTURE)
              : ext_send(s, op->second, m->whole, m->len, REPLY_CAPTURE)) ||
        (pin && !ext_send_internal(s, op->second, ROW_IMAGES_UNPIN, REPLY_SWALLOW)) ||
        !ext_send_internal(s, op->second, RS_MIRROR_LOCK_TIMEOUT_OFF, REPLY_SWALLOW) ||
        !ext_send_internal(s, op->second,
                       "SELECT pg_catalog.set_config('pgtandem.mirror', 'off', true)",
                       REPLY_SWALLOW) ||
        (s->cfg->on_mirror_failure == MIRROR_CONTINUE &&
         !ext_send_internal(s, op->second, "RELEASE SAVEPOINT " CONTINUE_SAVEPOINT, REPLY_SWALLOW)))
        return MSG_WAIT;
    op->step = ST_DUAL_SECONDARY;
    return MSG_BUSY;
deliver:
    pg_buf_put(&s->client.out, op->first->captured.data, op->first->captured.len);
    pg_buf_reset(&op->first->captured);
    return MSG_DONE;
}

/* The secondary's SQLSTATE for the client, except a lost connection: the
 * client's own connection is fine, and 08xxx would tell it otherwise. */
static const char *mirror_sqlstate(const backend_outcome *q)
{
    if (!q->error || strncmp(q->sqlstate, "08", 2) == 0)
        return "XX000";
    return q->sqlstate;
}

msg_result ext_dual_secondary_done(session *s)
{
    route_op *op = s->op;
    ext_stmt *st = op->unit;
    const classify_stmt *c = &st->cls->stmts[0];
    if (!backend_idle(op->second))
        return MSG_WAIT;
    const backend_outcome *p = &op->first->rx->capture_outcome, *q = &op->second->rx->capture_outcome;
    bool match = st->images ? !q->error && q->rows == op->primary_rows : rs_same_outcome(p, q);
    if (match && st->images) {
        op->table = st->table;
        rs_verify_rows(s, st->dec.service, c);
    }
    pg_buf_reset(&op->second->captured);
    if (!match) {
        char tables[256];
        divergence_record(s, st->dec.service, "outcome differs", c->fingerprint,
                          rs_stmt_tables(c, tables, sizeof(tables)), p, q);
        if (s->cfg->on_mirror_failure == MIRROR_FAIL) {
            char qdesc[96], text[700];
            if (st->images && !q->error)
                snprintf(qdesc, sizeof(qdesc), "%llu of %llu rows applied",
                         (unsigned long long)q->rows, (unsigned long long)op->primary_rows);
            snprintf(text, sizeof(text),
                     "pgtandem: the write to %s could not be mirrored to the %s side of service "
                     "%s (%s); %s",
                     rs_stmt_tables(c, tables, sizeof(tables)),
                     op->second->service < 0 ? "legacy" : "service",
                     s->cfg->services[st->dec.service].name,
                     q->error ? q->message : st->images ? qdesc : q->tag,
                     rs_mirror_undone(s->tx_status == PG_TX_IDLE));
            pg_buf_reset(&op->first->captured);
            ext_client_error(s, mirror_sqlstate(q), text);
            return MSG_DONE;
        }
    }
    if (q->error && s->cfg->on_mirror_failure == MIRROR_CONTINUE &&
        op->second->state == BACKEND_READY) {
        op->phase = 0;
        op->step = ST_DUAL_RECOVER;
        return MSG_BUSY;
    }
    pg_buf_put(&s->client.out, op->first->captured.data, op->first->captured.len);
    pg_buf_reset(&op->first->captured);
    return MSG_DONE;
}

msg_result ext_on_execute(session *s, const msg *m)
{
    pg_execute_msg e;
    if (!pg_decode_execute(m->body, m->body_len, &e)) {
        return ext_malformed(s, "Execute");
    }
    ext_portal *p = ext_find_portal(&s->op->x.reg, e.portal);
    if (!p)
        return ext_to_cursor(s, m, e.portal);
    ext_stmt *st = p->stmt;
    lex_note(s, st->cls);
    switch (st->dec.action) {
    case ROUTE_RUN_EVERYWHERE:
        return exec_everywhere(s, m, st);
    case ROUTE_RUN_DUAL:
        return exec_dual(s, m, &e, st);
    default: {
        backend *list[CONFIG_MAX_SERVICES + 1];
        size_t n;
        if (!ext_targets_of(s, st, list, &n) || n == 0 || !ext_client_turn(s, list[0]))
            return MSG_WAIT;
        return ext_send(s, list[0], m->whole, m->len, REPLY_FORWARD) ? MSG_DONE : MSG_WAIT;
    }
    }
}

/* -------------------------------------------------------------------- Sync */

static size_t own_tx_count(session *s, backend **list, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += list[i]->own_tx && (s->op->x.touched & ext_bit_of(list[i]));
    return k;
}

msg_result ext_sync_step(session *s)
{
    route_op *op = s->op;
    route_ext_state *x = &op->x;
    backend *list[CONFIG_MAX_SERVICES + 1];
    size_t n = rs_participants(s, list);
    if (!rs_all_idle(s))
        return MSG_WAIT;
    if (op->step != ST_SYNC) {
        if (x->client_error)
            ext_fail_window(s);
        if (!rs_all_idle(s))
            return MSG_WAIT;
        op->step = ST_SYNC;
        op->phase = -1;
    } else {
        /* the group that just synced: a secondary that could not commit */
        for (size_t i = 0; i < n; i++) {
            backend *b = list[i];
            bool failed = b->rx->last.error || strcmp(b->rx->last.tag, "ROLLBACK") == 0;
            if (!(x->touched & ext_bit_of(b)) || rs_commit_group(s, b) != op->phase ||
                b == s->legacy || !failed || x->window_failed)
                continue;
            divergence_record(s, b->service, "secondary commit failed", "", "", NULL, &b->rx->last);
            if (s->cfg->on_mirror_failure == MIRROR_FAIL && op->phase == 0) {
                pg_buf_error(&s->client.out, false, "40000",
                             "pgtandem: a service database could not commit; the transaction "
                             "was rolled back on both sides");
                ext_fail_window(s);
                return MSG_WAIT; /* the abort goes out before the next group's Sync */
            }
        }
    }
    /* two_phase on: the transactions pgtandem began for this window's mirrored
     * writes stay open through Sync and commit together below */
    bool by_two_phase = s->cfg->two_phase && !x->window_failed && own_tx_count(s, list, n) >= 2;
    while (++op->phase <= 2) {
        bool sent = false;
        for (size_t i = 0; i < n; i++) {
            backend *b = list[i];
            if (!(x->touched & ext_bit_of(b)) || rs_commit_group(s, b) != op->phase)
                continue;
            if (b->ext_failed && !x->window_failed && b != s->legacy)
                /* continue policy: the backend's transaction fails with this window */
                divergence_record(s, b->service,
                                  "secondary rolled back the batch it failed in", "", "", NULL,
                                  &b->rx->ext_error);
            pg_buf sync;
            pg_buf_init(&sync);
            pg_buf_simple(&sync, PG_FE_SYNC);
            bool ok = !sync.failed && backend_send_raw(b, sync.data, sync.len, REPLY_SWALLOW);
            pg_buf_free(&sync);
            if (b->own_tx && by_two_phase) {
                /* committed below, with the others */
            } else {
                if (ok && b->own_tx) /* the transaction pgtandem began ends with the client's */
                    ok = backend_send_query(b, x->window_failed ? "ROLLBACK" : "COMMIT",
                                            REPLY_SWALLOW);
                b->own_tx = false;
            }
            if (!ok) {
                session_close(s, "53200", "too many requests in flight");
                return MSG_WAIT;
            }
            if (!rs_flush_to(s, b))
                return MSG_WAIT;
            sent = true;
        }
        if (sent)
            return MSG_WAIT;
    }
    if (by_two_phase || op->tpc) {
        if (!op->tpc) {
            backend *members[CONFIG_MAX_SERVICES + 1];
            size_t k = 0;
            for (size_t i = 0; i < n; i++) {
                if (list[i]->own_tx && list[i]->state == BACKEND_READY &&
                    list[i]->tx_status != PG_TX_IDLE)
                    members[k++] = list[i];
                list[i]->own_tx = false;
            }
            if (k && !(op->tpc = tpc_start(s, members, k))) {
                session_close(s, "53200", "out of memory");
                return MSG_WAIT;
            }
        }
        tpc_result r = op->tpc ? tpc_step(s, op->tpc) : TPC_COMMITTED;
        if (r == TPC_RUNNING)
            return MSG_WAIT;
        if (r != TPC_COMMITTED) {
            pg_buf_error(&s->client.out, false, op->tpc->error_state, op->tpc->error_text);
            x->window_failed = true;
        }
        free(op->tpc);
        op->tpc = NULL;
    }
    /* every backend answered: one ReadyForQuery for the client */
    uint8_t status = s->tx_status;
    for (size_t i = n; i-- > 0;) /* legacy's status wins */
        if (x->touched & ext_bit_of(list[i]))
            status = list[i]->tx_status;
    if ((x->window_failed || s->tx_poisoned) && status != PG_TX_IDLE) {
        /* some backends may still be in a good transaction: none of them may go
         * on until ROLLBACK, or ROLLBACK TO SAVEPOINT on every backend */
        s->tx_poisoned = true;
        status = PG_TX_FAILED;
    }
    if (x->window_failed)
        ext_drop_stmt(&x->reg, ""); /* the server may not have it */
    s->tx_status = status;
    if (status == PG_TX_IDLE) {
        ext_drop_portals(&x->reg);
        pg_buf_reset(&s->tx_log);
        pg_buf_reset(&s->tx_session_log);
    }
    pg_buf_ready_for_query(&s->client.out, status);
    x->touched = 0;
    x->window_failed = false;
    x->client_error = false;
    lex_window_ended(s);
    return MSG_DONE;
}

