/* Recording traffic figures from the sessions; see stats_record.h.
 *
 * A routed request's latency runs from the moment pgtandem takes it (its bytes have
 * arrived) to the moment its last reply is queued for the client, and goes to the slot of
 * the one service its statements concerned; a request whose statements concerned several
 * services, or none, goes to the unowned slot. */
#include "proxy/stats_record.h"

#include <string.h>
#include <time.h>

#include "protocol/pg_codes.h"
#include "protocol/pg_frame.h"
#include "protocol/pg_ext.h"
#include "protocol/pg_msg.h"
#include "proxy/backend.h"
#include "proxy/service_stats.h"
#include "proxy/session.h"
#include "proxy/session_route_int.h"
#include "proxy/shadow.h"

#define ATTR_NONE (-1)  /* no statement of one service yet */
#define ATTR_MIXED (-3) /* statements of several services */

uint64_t stats_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void record_latency(proxy *px, int service, uint64_t started_ns, uint64_t now_ns)
{
    uint64_t us = now_ns > started_ns ? (now_ns - started_ns) / 1000 : 0;
    stats_latency_add(&stats_slot(&px->stats, service)->latency, us);
}

/* ------------------------------------------------------------------ routed */

void stats_request_begin(session *s)
{
    s->obs.started_ns = stats_now_ns();
    s->obs.service = ATTR_NONE;
    s->obs.counted_pos = 0;
}

void stats_statement(session *s, const classify_stmt *st, const route_decision *dec)
{
    service_stats *slot = stats_slot(&s->px->stats, dec->service);
    slot->statements++;
    if (dec->action == ROUTE_RUN_DUAL)
        slot->writes_mirrored++;
    if (st->kind == CLASSIFY_READ || st->kind == CLASSIFY_LOCKING_READ) {
        route_side side = dec->action == ROUTE_RUN_SERVICE   ? ROUTE_SERVICE
                          : dec->action == ROUTE_RUN_PRIMARY ? dec->primary
                                                             : ROUTE_LEGACY;
        if (side == ROUTE_SERVICE)
            slot->reads_service++;
        else
            slot->reads_legacy++;
    }
    if (dec->service >= 0 && s->obs.service != ATTR_MIXED)
        s->obs.service = s->obs.service == ATTR_NONE || s->obs.service == dec->service
                             ? dec->service
                             : ATTR_MIXED;
}

/* Shadow only what the other side can answer alike: one read, outside a transaction
 * block (the other side can't see the transaction's own writes), in a session that has
 * not changed its settings (search_path, DateStyle... the shadow connection has the
 * server's defaults). */
static void maybe_shadow(session *s)
{
    route_op *op = s->op;
    const route_decision *dec = &op->dec;
    if (!dec->shadow || op->kind != OP_SINGLE || !op->first || op->cls->n_stmts != 1 ||
        s->tx_status != PG_TX_IDLE || s->session_log.len || s->obs.probe)
        return;
    route_side served = dec->action == ROUTE_RUN_SERVICE ? ROUTE_SERVICE : ROUTE_LEGACY;
    s->obs.probe = shadow_start(s->px, s->cfg, s->id, dec->service, served, &op->cls->stmts[0],
                                (const char *)op->request.data + 5, NULL, 0, NULL, 0);
}

/* An extended batch legacy runs in one piece: shadowed when it executes exactly one
 * statement, a shadowed read bound in the same batch, fetched whole (every DataRow legacy
 * sends for the batch is then that statement's). */
void stats_fast_batch(session *s)
{
    route_op *op = s->op;
    const uint8_t *p = op->request.data;
    size_t pos = 0, len = op->request.len;
    const uint8_t *exec = NULL, *bind = NULL;
    size_t bind_len = 0;
    int executes = 0;
    if (s->tx_status != PG_TX_IDLE || s->session_log.len || s->obs.probe)
        return;
    while (pos + 5 <= len) {
        size_t mlen = pg_frame_whole_len(p + pos);
        if (p[pos] == PG_FE_EXECUTE) {
            executes++;
            exec = p + pos;
        } else if (p[pos] == PG_FE_BIND) {
            bind = p + pos; /* the last Bind before the Execute binds its portal */
            bind_len = mlen;
        }
        pos += mlen;
    }
    pg_execute_msg e;
    pg_bind_msg b;
    if (executes != 1 || !bind || bind > exec ||
        !pg_decode_execute(exec + 5, pg_frame_whole_len(exec) - 5, &e) || e.max_rows != 0 ||
        !pg_decode_bind(bind + 5, bind_len - 5, &b) || strcmp(b.portal, e.portal) != 0)
        return;
    ext_portal *portal = ext_find_portal(&op->x.reg, e.portal);
    const ext_stmt *st = portal ? portal->stmt : NULL;
    pg_parse_msg parse;
    if (!st || !st->dec.shadow || !st->cls || st->cls->n_stmts != 1 || st->parse.len < 5 ||
        !pg_decode_parse(st->parse.data + 5, st->parse.len - 5, &parse))
        return;
    route_side served = st->dec.action == ROUTE_RUN_SERVICE ? ROUTE_SERVICE : ROUTE_LEGACY;
    s->obs.probe = shadow_start(s->px, s->cfg, s->id, st->dec.service, served, &st->cls->stmts[0],
                                st->sql, bind + 5, bind_len - 5, parse.types, parse.n_types);
}

void stats_simple_query(session *s)
{
    route_op *op = s->op;
    if (op->kind == OP_EXT || op->kind == OP_NONE || s->tx_poisoned)
        return; /* split into statements (counted at each Execute), or already answered */
    stats_statement(s, &op->cls->stmts[0], &op->dec);
    /* a string of several statements runs whole only when all go to legacy */
    route_decision legacy = {.action = ROUTE_RUN_LEGACY, .service = -1};
    for (size_t i = 1; i < op->cls->n_stmts; i++)
        stats_statement(s, &op->cls->stmts[i], &legacy);
    maybe_shadow(s);
}

void stats_ext_execute(session *s, const uint8_t *msg, size_t len, size_t pos)
{
    if (s->obs.counted_pos == pos + 1 || s->op->x.window_failed)
        return;
    s->obs.counted_pos = pos + 1;
    pg_execute_msg e;
    if (len < 5 || !pg_decode_execute(msg + 5, len - 5, &e))
        return;
    ext_portal *p = ext_find_portal(&s->op->x.reg, e.portal);
    if (p && p->stmt->cls && p->stmt->cls->n_stmts)
        stats_statement(s, &p->stmt->cls->stmts[0], &p->stmt->dec);
}

void stats_reply(session *s, backend *b, uint8_t type, const uint8_t *body, size_t len)
{
    shadow_job *j = s->obs.probe;
    if (!j || b != s->op->first)
        return;
    if (type == PG_BE_DATA_ROW) {
        shadow_primary_row(j, body, len);
    } else if (type == PG_BE_ERROR_RESPONSE) {
        pg_error_fields e;
        if (pg_decode_error(body, len, &e))
            shadow_primary_error(j, e.sqlstate);
    }
}

void stats_reply_streamed(session *s)
{
    if (s->obs.probe) {
        shadow_primary_end(s->obs.probe, false);
        s->obs.probe = NULL;
    }
}

void stats_request_done(session *s)
{
    if (s->obs.probe) {
        shadow_primary_end(s->obs.probe, true);
        s->obs.probe = NULL;
    }
    if (!s->obs.started_ns)
        return;
    int service = s->obs.service >= 0 ? s->obs.service : -1;
    record_latency(s->px, service, s->obs.started_ns, stats_now_ns());
    s->obs.started_ns = 0;
}

void stats_session_end(session *s)
{
    stats_reply_streamed(s); /* an answer cut short is not compared */
}

/* ------------------------------------------------------------- pass-through */

void stats_pt_requests(session *s, uint32_t requests, uint32_t statements)
{
    session_obs *o = &s->obs;
    stats_slot(&s->px->stats, -1)->statements += statements;
    if (!requests)
        return;
    uint64_t now = stats_now_ns();
    while (requests--) {
        if (o->pt_untimed || o->pt_n == STATS_PT_RING) {
            o->pt_untimed++; /* answered after everything in the ring */
            continue;
        }
        o->pt_start[(o->pt_head + o->pt_n) % STATS_PT_RING] = now;
        o->pt_n++;
    }
}

void stats_pt_answered(session *s, uint32_t ready_for_query)
{
    session_obs *o = &s->obs;
    uint64_t now = 0;
    while (ready_for_query--) {
        if (o->pt_n) {
            if (!now)
                now = stats_now_ns();
            record_latency(s->px, -1, o->pt_start[o->pt_head], now);
            o->pt_head = (o->pt_head + 1) % STATS_PT_RING;
            o->pt_n--;
        } else if (o->pt_untimed) {
            o->pt_untimed--;
        }
    }
}
