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
#include "protocol/pg_ext.h"
#include "protocol/pg_frame.h"
#include "protocol/pg_msg.h"
#include "proxy/backend.h"
#include "proxy/catalog.h"
#include "proxy/divergence.h"
#include "proxy/ext_registry.h"
#include "proxy/lex_track.h"
#include "proxy/log.h"
#include "proxy/row_images.h"
#include "routing/rewrite_cache.h"
#include "proxy/session.h"
#include "proxy/session_route_int.h"


/* Complete messages of a batch without Sync or Flush taken at once (see take_request). */
#define ROUTE_BATCH_PIECE STREAM_HIGH_WATER

/* --------------------------------------------------------- taking requests */

static void reject(session *s, const char *sqlstate, const char *msg)
{
    bool in_tx = s->tx_status != PG_TX_IDLE;
    if (in_tx) /* like a server error, it aborts the client's transaction */
        s->tx_poisoned = true;
    rs_reply_error(s, sqlstate, msg, in_tx ? PG_TX_FAILED : PG_TX_IDLE);
}

/* In an aborted transaction (an error on any backend, or pgtandem's), only
 * its end and ROLLBACK TO SAVEPOINT are taken, wherever the statement would
 * go: a backend that did not fail must not run it. False when the request is
 * taken (ROLLBACK TO is routed as usual). */
static bool aborted_request(session *s, const classify_stmt *st)
{
    if (rs_aborted_takes(s, st)) {
        if (st->tx != CLASSIFY_TX_ROLLBACK_TO)
            s->op->kind = OP_COMMIT; /* rolls back everywhere, answers ROLLBACK */
        return false;
    }
    rs_reply_error(s, "25P02", rs_aborted_text(s), PG_TX_FAILED);
    return true;
}

/* The router judges from the text alone; the catalog knows which columns a
 * database fills in itself and which tables have triggers that may stamp
 * values. Either makes a text mirror produce different rows on each side. */
bool rs_generates_values(session *s, const classify_stmt *st)
{
    if (!st->target.name || st->n_writes > 1)
        return st->n_writes > 0; /* writes through WITH: judge none of them as text */
    const catalog_table *t = catalog_find(s->px->catalog, st->target.schema, st->target.name);
    if (!t)
        return true; /* unknown to the catalog: assume the worst */
    if (st->insert.present) {
        if (t->row_trigger || !st->insert.columns || st->insert.uses_default ||
            st->insert.default_values || st->insert.from_select ||
            (st->update.present && st->update.sets_default))
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
    case CLASSIFY_DML_UPDATE: return t->row_trigger || st->update.sets_default;
    default: return true;
    }
}

/* Why an UPDATE (or ON CONFLICT DO UPDATE) can't go by row images when it
 * assigns a primary-key column; NULL when it does not. */
static const char *assigned_key(const classify_stmt *st, const catalog_table *t)
{
    static char why[200];
    for (size_t i = 0; st->update.present && i < st->update.n_columns; i++)
        for (size_t k = 0; k < t->n_pkey; k++)
            if (strcmp(st->update.columns[i], t->pkey[k]) == 0) {
                snprintf(why, sizeof(why),
                         "it changes the primary key (%s), and row images are applied by "
                         "primary key, so the old row would stay on the other side",
                         t->pkey[k]);
                return why;
            }
    return NULL;
}

/* A write whose text would give different rows on each side is mirrored by
 * its row images: the primary returns every column of the rows it changed,
 * the secondary applies those rows by primary key. Refuses (with the reason,
 * in msg) what can't be pinned that way. */
bool rs_plan_images(session *s, const classify_stmt *st, const char *sql, char **rewritten,
                    const catalog_table **table, char *msg, size_t msg_len)
{
    const catalog_table *t =
        st->target.name ? catalog_find(s->px->catalog, st->target.schema, st->target.name) : NULL;
    char err[256] = "";
    const char *why = NULL, *key = NULL;
    *rewritten = NULL;
    if (st->dml == CLASSIFY_DML_COPY) { /* a simple-query COPY goes to route_copy.c */
        snprintf(msg, msg_len,
                 "pgtandem: COPY into %s over the extended query protocol, or inside a query "
                 "string with other statements, is not supported; send the COPY alone as a "
                 "simple query (psql's \\copy, psycopg's cursor.copy())",
                 st->target.name ? st->target.name : "a dual-written table");
        return false;
    }
    if (st->n_writes != 1 || !t)
        why = "it writes through WITH or a table pgtandem does not know";
    else if (st->dml != CLASSIFY_DML_INSERT && st->dml != CLASSIFY_DML_UPDATE &&
             st->dml != CLASSIFY_DML_DELETE)
        why = "only INSERT, UPDATE and DELETE can be mirrored by row images (not MERGE or COPY)";
    else if (t->n_pkey == 0 &&
             (st->dml != CLASSIFY_DML_INSERT || st->insert.on_conflict != CLASSIFY_ON_CONFLICT_NONE))
        /* new rows can be copied as they are; changed ones must be found again */
        why = "the table has no primary key, so the rows it changes can't be pinned";
    else if ((key = assigned_key(st, t)))
        /* the row image carries the new key only: the old row would stay behind */
        why = key;
    else if (!(*rewritten = rewrite_cache_returning_all(s->px->rewrites, sql, err, sizeof(err))))
        why = err;
    if (why) {
        snprintf(msg, msg_len,
                 "pgtandem: this write to %s generates values on each database and can't be "
                 "mirrored: %s",
                 st->target.name ? st->target.name : "a dual-written table", why);
        return false;
    }
    *table = t;
    return true;
}

static bool plan_row_images(session *s, const classify_stmt *st)
{
    route_op *op = s->op;
    char m[512];
    if (!rs_plan_images(s, st, (const char *)op->request.data + 5, &op->rewritten, &op->table, m,
                        sizeof(m))) {
        reject(s, "0A000", m);
        return false;
    }
    op->images = true;
    return true;
}

/* EXECUTE of an SQL-prepared statement runs where its query would: legacy
 * alone, one side, or both in lock-step as its text. A query that generates
 * values can't be mirrored this way (RETURNING can't be added to an
 * EXECUTE); it is refused (false, with why) rather than run on one side. */
bool rs_route_execute(session *s, const classify_stmt *st, route_decision *dec, char *why,
                      size_t why_len)
{
    const classify_result *prep =
        st->name ? ext_find_sql_prepared(&s->op->x.reg, st->name) : NULL;
    if (!prep)
        return true; /* unknown here: legacy says what PostgreSQL says */
    classify_stmt inner = prep->stmts[0];
    inner.kind = inner.inner_kind;
    inner.session = CLASSIFY_SESSION_NONE;
    route_decide(s->cfg->routes, &inner, dec);
    if (dec->action == ROUTE_RUN_DUAL && (dec->row_images || rs_generates_values(s, &inner))) {
        snprintf(why, why_len,
                 "pgtandem: EXECUTE %s writes %s with values each database would generate on its "
                 "own, and an EXECUTE can't be mirrored by row images; use the extended query "
                 "protocol's prepared statements, or give every generated column a value",
                 st->name, inner.target.name ? inner.target.name : "a dual-written table");
        return false;
    }
    return true;
}

static bool route_execute(session *s, const classify_stmt *st)
{
    char m[400];
    if (rs_route_execute(s, st, &s->op->dec, m, sizeof(m)))
        return true;
    reject(s, "0A000", m);
    rs_op_done(s);
    return false;
}

/* A query string whose statements go to different places runs as one
 * extended-protocol batch, a statement at a time, in one implicit
 * transaction, as PostgreSQL runs a multi-statement query; the replies only
 * the extended protocol has are dropped (see op->split). */
static void split_query(session *s, const char *sql)
{
    route_op *op = s->op;
    pg_buf batch;
    pg_buf_init(&batch);
    for (size_t i = 0; i < op->cls->n_stmts; i++) {
        const classify_stmt *st = &op->cls->stmts[i];
        char *text = strndup(sql + st->loc, st->len);
        if (!text) {
            batch.failed = true;
            break;
        }
        pg_buf_parse(&batch, "", text);
        free(text);
        pg_buf_bind_text(&batch, "", "", NULL, 0);
        pg_buf_describe(&batch, 'P', "");
        pg_buf_execute(&batch, "", 0);
    }
    pg_buf_simple(&batch, PG_FE_SYNC);
    if (batch.failed) {
        pg_buf_free(&batch);
        session_close(s, "53200", "out of memory");
        return;
    }
    pg_buf_free(&op->request);
    op->request = batch;
    op->kind = OP_EXT;
    op->pos = 0;
    op->split = true;
}

/* Takes over `query`, the Query message. */
static void start_query(session *s, pg_buf *query)
{
    route_op *op = s->op;
    op->request = *query;
    pg_buf_init(query);
    const char *sql = (const char *)op->request.data + 5;
    op->cls = classify_cache_get(s->px->classify, sql);
    if (!op->cls) {
        session_close(s, "53200", "out of memory");
        return;
    }
    const classify_stmt *st = &op->cls->stmts[0];
    char why[512];
    bool refused = lex_refuses(s, sql, op->cls, why, sizeof(why));
    lex_window_ended(s); /* the Query's ReadyForQuery brings the server's word */
    if (rs_tx_aborted(s)) {
        if (aborted_request(s, st)) {
            rs_op_done(s);
            return;
        }
        if (op->kind == OP_COMMIT)
            return;
    }
    if (refused) {
        reject(s, "0A000", why);
        rs_op_done(s);
        return;
    }
    route_decide(s->cfg->routes, st, &op->dec);
    if (op->cls->n_stmts == 1)
        rs_route_cursor(s, st, &op->dec);
    if (op->dec.needs_prepared_lookup && op->cls->n_stmts == 1 && !route_execute(s, st))
        return;
    for (size_t i = 1; i < op->cls->n_stmts; i++) {
        route_decision other;
        route_decide(s->cfg->routes, &op->cls->stmts[i], &other);
        if (other.action != ROUTE_RUN_LEGACY || op->dec.action != ROUTE_RUN_LEGACY) {
            if (lex_split_refuses(s, sql, op->cls, why, sizeof(why))) {
                reject(s, "0A000", why);
                rs_op_done(s);
            } else {
                split_query(s, sql);
            }
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
        op->first = rs_side_backend(s, op->dec.service, ROUTE_SERVICE);
        if (!op->first && !rs_ensure_backend(s, op->dec.service) && s->state == SESSION_CLOSED)
            return;
        op->first = rs_side_backend(s, op->dec.service, ROUTE_SERVICE);
        break;
    case ROUTE_RUN_PRIMARY:
        op->kind = OP_SINGLE;
        if (op->dec.primary == ROUTE_SERVICE && !s->services[op->dec.service] &&
            !rs_ensure_backend(s, op->dec.service) && s->state == SESSION_CLOSED)
            return;
        op->first = rs_side_backend(s, op->dec.service, op->dec.primary);
        break;
    case ROUTE_RUN_EVERYWHERE:
        op->kind = st->kind == CLASSIFY_TX_CONTROL && st->tx == CLASSIFY_TX_COMMIT &&
                           s->tx_status != PG_TX_IDLE
                       ? OP_COMMIT
                       : OP_ALL;
        break;
    case ROUTE_RUN_DUAL:
        if (st->copy == CLASSIFY_COPY_FROM) { /* route_copy.c */
            rs_copy_start(s, st);
            return;
        }
        if ((op->dec.row_images || rs_generates_values(s, st)) && !plan_row_images(s, st)) {
            rs_op_done(s);
            return;
        }
        if (!s->services[op->dec.service] && !rs_ensure_backend(s, op->dec.service) &&
            s->state == SESSION_CLOSED)
            return;
        op->kind = OP_DUAL;
        op->first = rs_side_backend(s, op->dec.service, op->dec.primary);
        op->second = rs_side_backend(s, op->dec.service,
                                  op->dec.primary == ROUTE_LEGACY ? ROUTE_SERVICE : ROUTE_LEGACY);
        break;
    case ROUTE_REJECT:
        reject(s, op->dec.sqlstate, op->dec.message);
        rs_op_done(s);
        return;
    }
}

/* Extended protocol, fast path: a batch whose every statement runs on
 * legacy alone, while no service backend has messages of the current Sync
 * window, goes to legacy as it is, in one piece. The registry still learns
 * its statements and portals, so later batches can use them. Anything else
 * goes through the message-by-message engine (route_ext.c). */
static bool any_service_joined(const session *s)
{
    for (size_t i = 0; i < s->cfg->n_services; i++)
        if (s->services[i])
            return true;
    return false;
}

static bool legacy_alone(const session *s, const ext_stmt *st)
{
    const route_decision *d = &st->dec;
    const classify_stmt *c = &st->cls->stmts[0];
    switch (d->action) {
    case ROUTE_RUN_LEGACY: return true;
    case ROUTE_RUN_PRIMARY: return d->primary == ROUTE_LEGACY;
    case ROUTE_RUN_EVERYWHERE:
        /* BEGIN/COMMIT/ROLLBACK while legacy is the only backend; SETs go
         * through the engine, which remembers them for backends that join */
        return !any_service_joined(s) && c->kind == CLASSIFY_TX_CONTROL &&
               (c->tx == CLASSIFY_TX_BEGIN || c->tx == CLASSIFY_TX_COMMIT ||
                c->tx == CLASSIFY_TX_ROLLBACK);
    default: return false;
    }
}

static const ext_stmt *referenced(session *s, const uint8_t *m, size_t len)
{
    ext_registry *r = &s->op->x.reg;
    const uint8_t *body = m + 5;
    if (m[0] == PG_FE_BIND) {
        pg_bind_msg b;
        return pg_decode_bind(body, len - 5, &b) ? ext_find_stmt(r, b.statement) : NULL;
    }
    if (m[0] == PG_FE_EXECUTE) {
        pg_execute_msg e;
        ext_portal *p = pg_decode_execute(body, len - 5, &e) ? ext_find_portal(r, e.portal) : NULL;
        return p ? p->stmt : NULL;
    }
    pg_target_msg t;
    if ((m[0] == PG_FE_DESCRIBE || m[0] == PG_FE_CLOSE) && pg_decode_target(body, len - 5, &t)) {
        if (t.kind == 'S')
            return ext_find_stmt(r, t.name);
        ext_portal *p = ext_find_portal(r, t.name);
        return p ? p->stmt : NULL;
    }
    return NULL;
}

/* A message naming a portal that is a cursor DECLAREd on a service backend. */
static bool names_service_cursor(session *s, const uint8_t *m, size_t len)
{
    ext_registry *r = &s->op->x.reg;
    const char *portal = NULL;
    pg_execute_msg e;
    pg_target_msg t;
    if (!r->cursors)
        return false;
    if (m[0] == PG_FE_EXECUTE && pg_decode_execute(m + 5, len - 5, &e))
        portal = e.portal;
    else if ((m[0] == PG_FE_DESCRIBE || m[0] == PG_FE_CLOSE) &&
             pg_decode_target(m + 5, len - 5, &t) && t.kind == 'P')
        portal = t.name;
    int where;
    return portal && portal[0] && !ext_find_portal(r, portal) &&
           ext_find_cursor(r, portal, &where) && where >= 0;
}

/* A Parse of the fast path, classified and routed once: judged by
 * batch_for_legacy, registered as it is by register_batch. */
static ext_stmt *fast_stmt(session *s, const uint8_t *m, size_t len)
{
    ext_stmt *st = ext_stmt_new((const char *)m + 5, m, len);
    if (!st || !(st->cls = classify_cache_get(s->px->classify, st->sql))) {
        ext_stmt_unref(st);
        return NULL;
    }
    if (st->cls->n_stmts == 1) {
        route_decide(s->cfg->routes, &st->cls->stmts[0], &st->dec);
    } else { /* empty, or several: legacy answers as PostgreSQL does */
        st->dec.action = ROUTE_RUN_LEGACY;
        st->dec.service = -1;
    }
    st->prepared_on = 1; /* legacy */
    st->fast_batch = true;
    return st;
}

typedef struct fast_parses {
    ext_stmt **st;
    size_t n, cap;
} fast_parses;

static void fast_parses_free(fast_parses *f)
{
    for (size_t i = 0; i < f->n; i++)
        ext_stmt_unref(f->st[i]);
    free(f->st);
}

/* The messages of a fast-path candidate, in order; see batch_for_legacy. */
static bool judge_batch(session *s, const uint8_t *p, size_t len, fast_parses *out)
{
    size_t pos = 0;
    while (pos < len) {
        size_t mlen = pg_frame_whole_len(p + pos);
        const uint8_t *m = p + pos;
        if (m[0] == PG_FE_PARSE) {
            const char *name = (const char *)m + 5;
            /* the server refuses to replace a named statement; only the engine
             * keeps the old entry when that happens */
            if (name[0] && ext_find_stmt(&s->op->x.reg, name))
                return false;
            if (out->n == out->cap) {
                size_t cap = out->cap ? 2 * out->cap : 8;
                ext_stmt **grown = realloc(out->st, cap * sizeof(*grown));
                if (!grown)
                    return false;
                out->st = grown;
                out->cap = cap;
            }
            ext_stmt *st = fast_stmt(s, m, mlen);
            if (!st)
                return false;
            out->st[out->n++] = st;
            /* a text the server may read otherwise: the engine says why */
            if (!legacy_alone(s, st) || lex_refuses(s, st->sql, st->cls, NULL, 0))
                return false;
            lex_note(s, st->cls); /* it may be executed further on */
        } else {
            const ext_stmt *st = referenced(s, m, mlen);
            if ((st && !legacy_alone(s, st)) || names_service_cursor(s, m, mlen))
                return false;
            if (st && (m[0] == PG_FE_BIND || m[0] == PG_FE_EXECUTE))
                lex_note(s, st->cls);
        }
        pos += mlen;
    }
    return true;
}

/* Whether the batch can take the fast path; its Parses, in order, in `out`
 * (released by the caller). */
static bool batch_for_legacy(session *s, const uint8_t *p, size_t len, fast_parses *out)
{
    const route_ext_state *x = &s->op->x;
    if (x->touched || x->window_failed || rs_tx_aborted(s))
        return false;
    /* what is not taken here the engine judges again from the start */
    bool suspect = s->lex_suspect, fast = judge_batch(s, p, len, out);
    if (!fast)
        s->lex_suspect = suspect;
    return fast;
}

/* The registry's side of a fast-path batch: statements, portals, closes.
 * Takes over the statements in `parses`. */
static void register_batch(session *s, const uint8_t *p, size_t len, fast_parses *parses)
{
    ext_registry *r = &s->op->x.reg;
    size_t pos = 0, next = 0;
    while (pos < len) {
        size_t mlen = pg_frame_whole_len(p + pos);
        const uint8_t *m = p + pos;
        pg_bind_msg b;
        pg_target_msg t;
        if (m[0] == PG_FE_PARSE && next < parses->n) {
            ext_put_stmt(r, parses->st[next]);
            parses->st[next++] = NULL;
        } else if (m[0] == PG_FE_BIND && pg_decode_bind(m + 5, mlen - 5, &b)) {
            ext_stmt *st = ext_find_stmt(r, b.statement);
            if (st)
                (void)ext_put_portal(r, b.portal, st);
        } else if (m[0] == PG_FE_EXECUTE) {
            stats_ext_execute(s, m, mlen, pos);
        } else if (m[0] == PG_FE_CLOSE && pg_decode_target(m + 5, mlen - 5, &t)) {
            if (t.kind == 'S')
                ext_drop_stmt(r, t.name);
            else
                ext_drop_portal(r, t.name);
        }
        pos += mlen;
    }
}

/* After a fast-path batch: a failure means some of its statements may not
 * exist on the server. Forgetting them is safe: pgtandem sends what it does
 * not know to legacy, which is where they were prepared. */
void rs_fast_batch_done(session *s)
{
    ext_registry *r = &s->op->x.reg;
    ext_stmt *st, *tmp;
    bool failed = s->legacy->rx->last.error;
    HASH_ITER(hh, r->stmts, st, tmp)
    {
        if (failed && st->fast_batch)
            ext_drop_stmt(r, st->name);
        else
            st->fast_batch = false;
    }
    if (s->legacy->tx_status == PG_TX_IDLE)
        ext_drop_portals(r);
}

/* A FunctionCall that can't go to legacy alone (a service database is inside the open
 * window, or pgtandem aborted the transaction) is refused like a statement: an error and
 * the ReadyForQuery a FunctionCall always gets. An open window ends with it, failed, as
 * the engine ends one at Sync, so no backend keeps half of it. In a window pgtandem knows
 * failed it is skipped until Sync, as PostgreSQL skips it. */
static void refuse_function_call(session *s)
{
    route_op *op = s->op;
    const char *msg = "pgtandem: a function call while service databases take part in the "
                      "batch or transaction is not supported";
    if (op->x.window_failed) {
        rs_op_done(s);
        return;
    }
    if (!op->x.touched) {
        if (s->tx_poisoned)
            rs_reply_error(s, "25P02", rs_aborted_text(s), PG_TX_FAILED);
        else
            reject(s, "0A000", msg);
        rs_op_done(s);
        return;
    }
    pg_buf_error(&s->client.out, false, "0A000", msg);
    op->x.client_error = true; /* the engine fails the window before its Sync */
    pg_buf_simple(&op->request, PG_FE_SYNC);
    op->kind = OP_EXT;
    op->pos = 0;
}

/* Takes the first `len` bytes of the client's input, extended-protocol messages ending with
 * `end` (Sync, Flush or FunctionCall), as the next request. */
static void take_batch(session *s, size_t len, uint8_t end)
{
    pg_buf *in = &s->client.in;
    route_op *op = s->op;
    bool synced = end != PG_FE_FLUSH;
    stats_request_begin(s);
    pg_buf_init(&op->request);
    fast_parses parses = {0};
    bool fast = batch_for_legacy(s, in->data, len, &parses);
    if (fast)
        register_batch(s, in->data, len, &parses);
    if (!fast && s->ctl.window_open)
        op->x.touched |= 1; /* legacy (slot 0) is in the window: the engine syncs it too */
    /* A FunctionCall behind messages of the fast path whose replies may still be coming
     * goes after them as they did: legacy skips it if one of them failed, and answers the
     * client's Sync then, as PostgreSQL does. */
    bool call_in_window = fast && end == PG_FE_FUNCTION_CALL && s->ctl.window_open;
    s->ctl.window_open = fast && (!synced || call_in_window); /* legacy is inside the window */
    fast_parses_free(&parses);
    if (fast) {
        if (synced && !call_in_window) {
            lex_window_ended(s); /* its ReadyForQuery brings the server's word */
            op->kind = OP_SINGLE;
            op->first = s->legacy;
            op->fast_ext = true;
            pg_buf_put(&op->request, in->data, len);
            stats_fast_batch(s);
        } else {
            /* replies to a Flush come without a ReadyForQuery; a FunctionCall's with one,
             * which session_route_backend_input passes on */
            pg_buf_put(&s->legacy->s.out, in->data, len);
            rs_flush_to(s, s->legacy);
        }
    } else if (end == PG_FE_FUNCTION_CALL) {
        refuse_function_call(s);
    } else {
        op->kind = OP_EXT;
        op->pos = 0;
        pg_buf_put(&op->request, in->data, len);
    }
    if (op->request.failed) {
        session_close(s, "53200", "out of memory");
        return;
    }
    pg_buf_consume(in, len);
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
            break;
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
            pg_buf query;
            pg_buf_init(&query);
            if (in->len == whole) { /* alone in the buffer, as a large one is: no copy */
                query = *in;
                pg_buf_init(in);
            } else {
                pg_buf_put(&query, in->data, whole);
                pg_buf_consume(in, whole);
            }
            if (query.failed) {
                session_close(s, "53200", "out of memory");
                return;
            }
            stats_request_begin(s);
            s->ctl.window_open = false;
            start_query(s, &query);
            if (s->state == SESSION_READY)
                stats_simple_query(s);
            pg_buf_free(&query);
            return;
        }
        if (f.type == PG_FE_COPY_DATA || f.type == PG_FE_COPY_DONE || f.type == PG_FE_COPY_FAIL) {
            if (batch) {
                /* an Execute before them began a COPY: the batch up to here runs first,
                 * and the COPY it began takes them (session_route_client_input) */
                take_batch(s, pos, PG_FE_FLUSH);
                return;
            }
            /* stray COPY messages: the server ignores them after a failed COPY */
            pg_buf_put(&s->legacy->s.out, in->data, whole);
            pg_buf_consume(in, whole);
            pos = 0;
            rs_flush_to(s, s->legacy);
            continue;
        }
        if (f.type == PG_FE_FUNCTION_CALL && batch) {
            /* a simple-protocol message: the batch before it runs first */
            take_batch(s, pos, PG_FE_FLUSH);
            return;
        }
        batch = true;
        pos += whole;
        if (f.type == PG_FE_SYNC || f.type == PG_FE_FLUSH || f.type == PG_FE_FUNCTION_CALL) {
            take_batch(s, pos, f.type);
            return;
        }
    }
    /* A batch that goes on without Sync or Flush (libpq's pipeline mode sends thousands of
     * statements before its Sync) runs in pieces, each as if it ended with a Flush, as
     * PostgreSQL runs messages as they come: the client's input stays bounded. */
    if (batch && pos >= ROUTE_BATCH_PIECE && s->state == SESSION_READY)
        take_batch(s, pos, PG_FE_FLUSH);
}

/* The backend the client's COPY data goes to, if a COPY is taking it. */
static backend *copy_sink(session *s)
{
    route_op *op = s->op;
    switch (op->kind) {
    case OP_SINGLE: return op->step == 1 ? op->first : NULL;
    case OP_EXT: return op->x.copy_to;
    case OP_COPY_DUAL: return op->first;
    default: return NULL;
    }
}

/* Bytes of complete messages at the front of `in`. */
static size_t whole_messages(const pg_buf *in)
{
    size_t pos = 0;
    while (pos < in->len) {
        pg_frame f;
        const char *err = NULL;
        if (pg_frame_fe(in->data + pos, in->len - pos, &f, &err) != PG_FRAME_OK ||
            in->len - pos < f.hdr_len + f.body_len)
            break;
        pos += f.hdr_len + f.body_len;
    }
    return pos;
}

/* Runs the current request as far as it can go, then takes the next. */
void rs_pump(session *s)
{
    for (;;) {
        if (s->state != SESSION_READY)
            return;
        route_op *op = s->op;
        int kind = op->kind, step = op->step, phase = op->phase;
        size_t at = op->pos;
        switch (op->kind) {
        case OP_SINGLE: rs_step_single(s); break;
        case OP_ALL: rs_step_all(s); break;
        case OP_COMMIT: rs_step_commit(s); break;
        case OP_DUAL: rs_step_dual(s); break;
        case OP_EXT: rs_step_ext(s); break;
        case OP_COPY_DUAL: rs_step_copy(s); break;
        default: break;
        }
        if (s->state != SESSION_READY)
            return;
        if (op->kind != OP_NONE) {
            /* a step that moved on may go further at once (a lost
             * backend answers nothing); one that waits waits for I/O */
            if (op->kind == kind && op->step == step && op->phase == phase && op->pos == at)
                break;
            continue;
        }
        rs_drop_lost(s);
        /* a newer config is adopted, and a paused service waited for, here */
        if (!session_control_boundary(s)) {
            if (s->state != SESSION_READY)
                return;
            break;
        }
        size_t before = s->client.in.len;
        take_request(s);
        if (s->state != SESSION_READY)
            return;
        if (op->kind == OP_NONE && s->client.in.len == before)
            break; /* nothing whole to take */
    }
    rs_mirror_watch(s); /* a wait on a secondary is bounded */
    if (!stream_flush(&s->client)) {
        session_close(s, NULL, "client connection lost");
        return;
    }
    /* a client that pipelines faster than we answer waits for us, and one whose COPY data
     * the server takes slower than it comes; one in the middle of a message is read on, as
     * a request runs only once it is whole */
    backend *sink = copy_sink(s);
    if (whole_messages(&s->client.in) > STREAM_HIGH_WATER ||
        (sink && stream_pending(&sink->s) > STREAM_HIGH_WATER))
        stream_pause_read(&s->client);
    else
        stream_resume_read(&s->client);
}

bool rs_pass_copy_input(session *s)
{
    route_op *op = s->op;
    /* a COPY into a dual-written table takes its data in route_copy.c */
    backend *copy_to = op->kind == OP_COPY_DUAL ? NULL : copy_sink(s);
    if (copy_to) {
        pg_buf *in = &s->client.in;
        size_t pos = 0;
        bool ended = false;
        while (pos < in->len && !ended) {
            pg_frame f;
            const char *err = NULL;
            if (pg_frame_fe(in->data + pos, in->len - pos, &f, &err) != PG_FRAME_OK)
                break;
            if (f.type != PG_FE_COPY_DATA && f.type != PG_FE_COPY_DONE &&
                f.type != PG_FE_COPY_FAIL)
                break;
            size_t whole = f.hdr_len + f.body_len;
            if (in->len - pos < whole) {
                if (!pg_buf_reserve(in, whole - (in->len - pos)))
                    session_close(s, "53200", "out of memory");
                break;
            }
            pos += whole;
            ended = f.type != PG_FE_COPY_DATA;
        }
        if (pos) {
            pg_buf_put(&copy_to->s.out, in->data, pos);
            /* the server took the Flush behind the engine's Execute during the COPY: the
             * COPY's CommandComplete needs one of its own */
            if (ended && op->kind == OP_EXT)
                pg_buf_simple(&copy_to->s.out, PG_FE_FLUSH);
            pg_buf_consume(in, pos);
            if (!rs_flush_to(s, copy_to))
                return false;
            if (stream_pending(&copy_to->s) > STREAM_HIGH_WATER)
                stream_pause_read(&s->client);
        }
    }
    return s->state == SESSION_READY;
}

void session_route_client_input(session *s)
{
    /* COPY data from the client belongs to the request in flight */
    if (s->op->kind == OP_COPY_DUAL) { /* kept for the secondary too: route_copy.c */
        rs_copy_client_input(s);
        return;
    }
    if (rs_pass_copy_input(s))
        rs_pump(s);
}
