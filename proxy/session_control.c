/* A routed session's part in reloads and pauses (see session_control.h): when
 * it may take a new snapshot (session_adopt.c does it), what the next request
 * concerns, and holding a request for a paused service. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/pg_codes.h"
#include "protocol/pg_ext.h"
#include "protocol/pg_frame.h"
#include "protocol/pg_msg.h"
#include "proxy/backend.h"
#include "proxy/control.h"
#include "proxy/ext_registry.h"
#include "proxy/log.h"
#include "proxy/session.h"
#include "proxy/session_route_int.h"

/* -------------------------------------------------- what a request concerns */

static void add_cls(session *s, const classify_result *cls, uint64_t *mask, bool *work)
{
    for (size_t i = 0; cls && i < cls->n_stmts; i++) {
        const classify_stmt *st = &cls->stmts[i];
        if (st->kind != CLASSIFY_TX_CONTROL && st->kind != CLASSIFY_SESSION)
            *work = true;
        for (int pass = 0; pass < 2; pass++) {
            const classify_name *n = pass ? st->writes : st->reads;
            size_t count = pass ? st->n_writes : st->n_reads;
            for (size_t k = 0; k < count; k++) {
                int owner = route_map_owner(s->cfg->routes, n[k].schema, n[k].name);
                if (owner >= 0)
                    *mask |= (uint64_t)1 << owner;
            }
        }
    }
}

static void add_sql(session *s, const char *sql, uint64_t *mask, bool *work)
{
    const classify_result *cls = classify_cache_get(s->px->classify, sql);
    if (!cls) {
        *mask = ~(uint64_t)0; /* out of memory: assume the worst */
        *work = true;
        return;
    }
    add_cls(s, cls, mask, work);
    classify_result_free(cls);
}

/* The services (bit i: service i of s->cfg) the next whole request in the
 * client's buffer concerns, and whether it does work; false when no whole
 * request is there yet. */
static bool peek_request(session *s, uint64_t *mask, bool *work)
{
    const pg_buf *in = &s->client.in;
    ext_registry *r = &s->op->x.reg;
    size_t pos = 0;
    *mask = 0;
    *work = false;
    while (pos < in->len) {
        pg_frame f;
        const char *err = NULL;
        if (pg_frame_fe(in->data + pos, in->len - pos, &f, &err) != PG_FRAME_OK)
            return false; /* incomplete, or invalid: take_request says so */
        size_t whole = f.hdr_len + f.body_len;
        if (in->len - pos < whole)
            return false;
        const uint8_t *body = in->data + pos + f.hdr_len;
        pos += whole;
        if (!pg_fe_check(f.type, body, f.body_len, &err))
            return true; /* take_request ends the session */
        switch (f.type) {
        case PG_FE_QUERY:
            if (pos == whole) {
                add_sql(s, (const char *)body, mask, work);
                return true;
            }
            return true;
        case PG_FE_PARSE: {
            pg_parse_msg p;
            if (pg_decode_parse(body, f.body_len, &p))
                add_sql(s, p.query, mask, work);
            break;
        }
        case PG_FE_BIND: {
            pg_bind_msg b;
            ext_stmt *st = pg_decode_bind(body, f.body_len, &b) ? ext_find_stmt(r, b.statement)
                                                                 : NULL;
            if (st)
                add_cls(s, st->cls, mask, work);
            break;
        }
        case PG_FE_EXECUTE: {
            pg_execute_msg e;
            ext_portal *p = pg_decode_execute(body, f.body_len, &e) ? ext_find_portal(r, e.portal)
                                                                     : NULL;
            if (p)
                add_cls(s, p->stmt->cls, mask, work);
            break;
        }
        case PG_FE_SYNC:
        case PG_FE_FLUSH:
        case PG_FE_FUNCTION_CALL:
            return true;
        default:
            break;
        }
    }
    return false;
}

/* --------------------------------------------------------------- holding */

static uint64_t paused_mask(const session *s)
{
    uint64_t m = 0;
    if (!control_any_paused(s->px))
        return 0;
    for (size_t i = 0; i < s->cfg->n_services; i++)
        if (control_is_paused(s->px, s->cfg->services[i].name))
            m |= (uint64_t)1 << i;
    return m;
}

/* Whether the running snapshot gives any service in mask another state. */
static bool state_changed(const session *s, uint64_t mask)
{
    const config *now = s->px->cfg;
    for (size_t i = 0; i < s->cfg->n_services; i++) {
        if (!(mask & ((uint64_t)1 << i)))
            continue;
        const service_config *a = &s->cfg->services[i];
        int j = config_service_index(now, a->name);
        if (j < 0)
            return true;
        const service_config *b = &now->services[j];
        if (a->writes != b->writes || a->primary != b->primary || a->reads != b->reads)
            return true;
    }
    return false;
}

/* Consumes the client's next request and answers it with an error. */
static void refuse_request(session *s, const char *sqlstate, const char *why)
{
    pg_buf *in = &s->client.in;
    size_t pos = 0;
    uint8_t last = 0;
    while (pos < in->len && last != PG_FE_QUERY && last != PG_FE_SYNC && last != PG_FE_FLUSH &&
           last != PG_FE_FUNCTION_CALL) {
        pg_frame f;
        const char *err = NULL;
        if (pg_frame_fe(in->data + pos, in->len - pos, &f, &err) != PG_FRAME_OK)
            break;
        pos += f.hdr_len + f.body_len;
        last = f.type;
    }
    pg_buf_consume(in, pos);
    bool in_tx = s->tx_status != PG_TX_IDLE;
    if (in_tx) /* like a server error, it aborts the client's transaction */
        s->tx_poisoned = true;
    if (last == PG_FE_FLUSH) {
        /* no ReadyForQuery before the client's Sync, which ends the skipping */
        pg_buf_error(&s->client.out, false, sqlstate, why);
        s->skip_to_sync = true;
        if (in_tx)
            s->tx_status = PG_TX_FAILED;
        return;
    }
    rs_reply_error(s, sqlstate, why, in_tx ? PG_TX_FAILED : PG_TX_IDLE);
}

static bool quiet(session *s)
{
    return !s->skip_to_sync && !s->ctl.window_open && s->op->x.touched == 0 &&
           !s->op->x.window_failed && rs_all_idle(s);
}

bool session_control_boundary(session *s)
{
    session_ctl *c = &s->ctl;
    if ((c->reprepare_unit || c->n_reprepare) && !session_adopt_reprepare(s))
        return false;
    bool idle = s->tx_status == PG_TX_IDLE && !c->window_open;
    if (idle) {
        c->tx_did_work = false;
        c->tx_touched = 0;
        c->tx_known = true;
    } else if (!c->tx_known) {
        /* a transaction begun while nobody watched: assume the worst */
        c->tx_did_work = true;
        c->tx_touched = ~(uint64_t)0;
        c->tx_known = true;
    }
    if (s->cfg != s->px->cfg && quiet(s) &&
        (idle || (!c->tx_did_work && !s->tx_poisoned))) {
        session_adopt(s);
        if (s->state != SESSION_READY || ((c->reprepare_unit || c->n_reprepare) &&
                                          !session_adopt_reprepare(s)))
            return false;
    }
    bool pausing = control_any_paused(s->px);
    uint64_t mask = 0;
    bool work = false;
    if (pausing) {
        if (!peek_request(s, &mask, &work))
            return true; /* nothing whole yet */
        uint64_t blocked = mask & paused_mask(s) & ~c->tx_touched;
        if (blocked) {
            if (!c->held) {
                c->held = true;
                c->held_since = control_now();
                log_debug("session %llu: waits for a paused service", (unsigned long long)s->id);
            }
            c->held_mask = blocked;
            return false;
        }
    }
    if (c->held) {
        c->held = false;
        if (!idle && c->tx_did_work && state_changed(s, c->held_mask)) {
            /* its transaction began under the old routing and has done work: it can't
             * go on under the new one, nor under the old one beside sessions on the new */
            refuse_request(s, "40001",
                           "pgtandem: the routing of a service this transaction needs changed "
                           "while it waited for the service to resume; roll back and retry");
            return session_control_boundary(s);
        }
    }
    if (!pausing) {
        /* what a request concerns matters only while a service is paused: otherwise
         * nothing is looked at (no cost), and a transaction that was not watched from
         * its start counts as touching everything (above) */
        c->tx_known = false;
        return true;
    }
    c->tx_touched |= mask;
    c->tx_did_work = c->tx_did_work || work;
    return true;
}

void session_control_timeout(session *s, const char *why)
{
    s->processing = true;
    s->ctl.held = false;
    refuse_request(s, "57014", why);
    log_info("session %llu: a request waited too long for a paused service",
             (unsigned long long)s->id);
    rs_pump(s);
    s->processing = false;
    session_release_if_closed(s);
}

void session_control_kick(session *s)
{
    if (!s->op)
        return; /* idle, its route state swept (session_trim_if_idle): nothing is held */
    s->processing = true;
    rs_pump(s);
    s->processing = false;
    session_release_if_closed(s);
}

bool session_control_touches(const session *s, const char *name)
{
    if (s->tx_status == PG_TX_IDLE && !s->ctl.window_open)
        return false;
    int i = config_service_index(s->cfg, name);
    return i >= 0 && (s->ctl.tx_touched & ((uint64_t)1 << i));
}

bool session_control_waits_for(const session *s, const char *name)
{
    int i = config_service_index(s->cfg, name);
    return s->ctl.held && i >= 0 && (s->ctl.held_mask & ((uint64_t)1 << i));
}

void session_control_free(session *s)
{
    session_ctl *c = &s->ctl;
    for (size_t i = 0; i < c->n_reprepare; i++)
        free(c->reprepare[i]);
    free(c->reprepare);
    c->reprepare = NULL;
    c->n_reprepare = 0;
    ext_stmt_unref(c->reprepare_unit);
    c->reprepare_unit = NULL;
}
