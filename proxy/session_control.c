/* A routed session's part in reloads and pauses (see session_control.h).
 *
 * Adopting a snapshot: service backends move to their service's new slot by
 * name; one whose service is gone or whose conninfo changed is closed (the
 * next statement for it connects afresh and replays the session's SETs).
 * Prepared statements keep their names: each is routed again under the new
 * snapshot; where its prepared form no longer fits (mirroring by row images
 * starts, stops or moves to another primary) it is closed on the backends
 * that have it, and a row-image statement is prepared again on its new
 * primary before the session takes the client's next request. Others are
 * prepared lazily where they are next needed, as for a backend that joins. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/pg_codes.h"
#include "protocol/pg_ext.h"
#include "protocol/pg_frame.h"
#include "protocol/pg_msg.h"
#include "protocol/pg_reader.h"
#include "proxy/backend.h"
#include "proxy/control.h"
#include "proxy/ext_registry.h"
#include "proxy/log.h"
#include "proxy/route_ext_int.h"
#include "proxy/session.h"
#include "proxy/session_route_int.h"

static uint64_t slot_bit(int service)
{
    return (uint64_t)1 << (service + 1); /* -1 (legacy) is bit 0, as in prepared_on */
}

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

/* ------------------------------------------------------------- adopting */

typedef enum stmt_need { NEED_NOTHING, NEED_CLOSE, NEED_REPREPARE, NEED_DROP } stmt_need;

static backend *primary_of(session *s, const route_decision *d)
{
    return rs_side_backend(s, d->service, d->primary);
}

static int primary_slot(const route_decision *d)
{
    return d->primary == ROUTE_LEGACY ? -1 : d->service;
}

/* Routes st again under s->cfg (already the new snapshot); says what its
 * prepared copies need. */
static stmt_need replan(session *s, ext_stmt *st)
{
    if (st->cls->n_stmts != 1)
        return NEED_NOTHING; /* legacy answers it, whatever the routing */
    const classify_stmt *c = &st->cls->stmts[0];
    route_decision d;
    char why[512];
    route_decide(s->cfg->routes, c, &d);
    if (d.needs_prepared_lookup && !rs_route_execute(s, c, &d, why, sizeof(why)))
        return NEED_DROP;
    if (d.action == ROUTE_REJECT)
        return NEED_DROP;
    bool images = d.action == ROUTE_RUN_DUAL && (d.row_images || rs_generates_values(s, c));
    if (!images) {
        stmt_need need = st->images ? NEED_CLOSE : NEED_NOTHING;
        st->dec = d;
        if (st->images) {
            st->images = false;
            free(st->rewritten);
            st->rewritten = NULL;
            st->table = NULL;
            pg_buf_reset(&st->row_desc);
            st->client_cols = 0;
        }
        return need;
    }
    bool same_primary = st->images && st->dec.action == ROUTE_RUN_DUAL &&
                        primary_slot(&st->dec) == primary_slot(&d);
    bool on_primary = (st->prepared_on & slot_bit(primary_slot(&d))) != 0;
    if (!st->images) {
        char *rewritten = NULL;
        const catalog_table *t = NULL;
        if (!rs_plan_images(s, c, st->sql, &rewritten, &t, why, sizeof(why)))
            return NEED_DROP;
        st->rewritten = rewritten;
        st->table = t;
        st->images = true;
    }
    st->dec = d;
    return same_primary && on_primary ? NEED_NOTHING : NEED_REPREPARE;
}

/* Close of statement `name` on b, pgtandem's own request. */
static bool send_close(session *s, backend *b, const char *name)
{
    pg_buf m;
    pg_buf_init(&m);
    pg_buf_close(&m, 'S', name);
    pg_buf_simple(&m, PG_FE_SYNC);
    bool ok = !m.failed && backend_send_raw(b, m.data, m.len, REPLY_SWALLOW) && rs_flush_to(s, b);
    pg_buf_free(&m);
    return ok;
}

static void close_everywhere(session *s, ext_stmt *st)
{
    backend *list[CONFIG_MAX_SERVICES + 1];
    size_t n = rs_participants(s, list);
    for (size_t i = 0; i < n; i++) {
        backend *b = list[i];
        uint64_t bit = slot_bit(b == s->legacy ? -1 : b->service);
        if ((st->prepared_on & bit) && b->state == BACKEND_READY && !send_close(s, b, st->name))
            return;
        st->prepared_on &= ~bit;
    }
    st->prepared_on = 0;
}

static bool queue_reprepare(session *s, const char *name)
{
    session_ctl *c = &s->ctl;
    char **grown = realloc(c->reprepare, (c->n_reprepare + 1) * sizeof(*grown));
    if (!grown)
        return false;
    c->reprepare = grown;
    if (!(grown[c->n_reprepare] = strdup(name)))
        return false;
    c->n_reprepare++;
    return true;
}

/* Which new slot each old service slot moves to (-1: its backend goes). */
static void slot_map(const config *old, const config *fresh, int *map)
{
    for (size_t i = 0; i < old->n_services; i++) {
        int j = config_service_index(fresh, old->services[i].name);
        if (j >= 0 && strcmp(old->services[i].target.conninfo,
                             fresh->services[j].target.conninfo) != 0)
            j = -1;
        map[i] = j;
    }
}

static void adopt(session *s)
{
    config *old = s->cfg, *fresh = s->px->cfg;
    int map[CONFIG_MAX_SERVICES];
    slot_map(old, fresh, map);
    backend *moved[CONFIG_MAX_SERVICES] = {0};
    for (size_t i = 0; i < old->n_services; i++) {
        backend *b = s->services[i];
        if (!b)
            continue;
        if (map[i] < 0) {
            log_info("session %llu: leaving %s (%s)", (unsigned long long)s->id,
                     old->services[i].name,
                     config_service_index(fresh, old->services[i].name) < 0
                         ? "no longer configured"
                         : "its conninfo changed");
            if (b->state == BACKEND_READY) {
                pg_buf_simple(&b->s.out, PG_FE_TERMINATE);
                stream_try_flush(&b->s);
            }
            backend_free(b);
            continue;
        }
        b->service = map[i];
        b->target = &fresh->services[map[i]].target;
        moved[map[i]] = b;
    }
    memcpy(s->services, moved, sizeof(moved));
    s->legacy->target = &fresh->legacy; /* unchanged by a reload (control.c keep_fixed) */
    for (ext_stmt *st = s->op->x.reg.stmts; st; st = st->hh.next) {
        uint64_t bits = st->prepared_on & 1;
        for (size_t i = 0; i < old->n_services; i++)
            if ((st->prepared_on & slot_bit((int)i)) && map[i] >= 0)
                bits |= slot_bit(map[i]);
        st->prepared_on = bits;
    }
    uint64_t touched = 0;
    for (size_t i = 0; i < old->n_services; i++)
        if ((s->ctl.tx_touched & ((uint64_t)1 << i)) && map[i] >= 0)
            touched |= (uint64_t)1 << map[i];
    s->ctl.tx_touched = touched;
    s->op->x.touched = 0;
    s->op->x.lost_service = 0;
    s->cfg = config_ref(fresh);
    config_unref(old);

    ext_stmt *st, *tmp;
    HASH_ITER(hh, s->op->x.reg.stmts, st, tmp)
    {
        switch (replan(s, st)) {
        case NEED_NOTHING:
            break;
        case NEED_CLOSE:
            close_everywhere(s, st);
            break;
        case NEED_REPREPARE:
            close_everywhere(s, st);
            if (!queue_reprepare(s, st->name)) {
                session_close(s, "53200", "out of memory");
                return;
            }
            break;
        case NEED_DROP:
            log_info("session %llu: prepared statement \"%s\" is refused under the new routing "
                     "and was closed", (unsigned long long)s->id, st->name);
            close_everywhere(s, st);
            ext_drop_stmt(&s->op->x.reg, st->name);
            break;
        }
        if (s->state != SESSION_READY)
            return;
    }
    log_debug("session %llu: adopted the new configuration", (unsigned long long)s->id);
}

/* The client's Parse with the rewritten text, then Describe, for pgtandem. */
static bool put_reprepare(pg_buf *out, const ext_stmt *st)
{
    pg_parse_msg p;
    if (!pg_decode_parse(st->parse.data + 5, st->parse.len - 5, &p))
        return false;
    pg_buf_close(out, 'S', p.name);
    pg_buf_begin_msg(out, PG_FE_PARSE);
    pg_buf_put_cstring(out, p.name);
    pg_buf_put_cstring(out, st->rewritten);
    pg_buf_put_int16(out, (int16_t)p.n_types);
    pg_buf_put(out, p.types, p.n_types * 4);
    pg_buf_end_msg(out);
    pg_buf_describe(out, 'S', p.name);
    pg_buf_simple(out, PG_FE_SYNC);
    return !out->failed;
}

/* Learns the rows of the statement prepared again; false when it failed. */
static bool reprepare_answer(ext_stmt *st, backend *b)
{
    const pg_buf *cap = &b->captured;
    bool parsed = false;
    for (size_t pos = 0; pos + 5 <= cap->len;) {
        const uint8_t *whole = cap->data + pos;
        size_t len = pg_frame_whole_len(whole);
        if (whole[0] == PG_BE_PARSE_COMPLETE)
            parsed = true;
        if (whole[0] == PG_BE_ROW_DESCRIPTION) {
            pg_buf_reset(&st->row_desc);
            pg_buf_put(&st->row_desc, whole, len);
            pg_reader r;
            pg_reader_init(&r, whole + 5, len - 5);
            int16_t cols = pg_read_int16(&r);
            if (cols >= 0 && (size_t)cols >= st->table->n_columns)
                st->client_cols = (size_t)cols - st->table->n_columns;
        }
        pos += len;
    }
    pg_buf_reset(&b->captured);
    return parsed && !b->rx->capture_outcome.error && st->row_desc.len > 0;
}

/* Prepares the queued statements again, one at a time; true when done. */
static bool reprepare_step(session *s)
{
    session_ctl *c = &s->ctl;
    for (;;) {
        if (c->reprepare_unit) {
            backend *b = c->reprepare_on;
            if (!backend_idle(b))
                return false;
            ext_stmt *st = c->reprepare_unit;
            if (reprepare_answer(st, b)) {
                st->prepared_on |= slot_bit(b == s->legacy ? -1 : b->service);
                log_debug("session %llu: prepared statement \"%s\" prepared again on %s for "
                          "the new routing", (unsigned long long)s->id, st->name, b->target->name);
            } else {
                log_warn("session %llu: prepared statement \"%s\" could not be prepared again "
                         "on its new primary (%s) and was dropped", (unsigned long long)s->id,
                         st->name, b->rx->capture_outcome.message);
                ext_drop_stmt(&s->op->x.reg, st->name);
            }
            ext_stmt_unref(st);
            c->reprepare_unit = NULL;
            c->reprepare_on = NULL;
        }
        if (c->n_reprepare == 0)
            return true;
        char *name = c->reprepare[c->n_reprepare - 1];
        ext_stmt *st = ext_find_stmt(&s->op->x.reg, name);
        if (!st || !st->images) {
            free(name);
            c->n_reprepare--;
            continue;
        }
        int slot = primary_slot(&st->dec);
        if (!ext_usable(s, slot) || s->state != SESSION_READY)
            return false; /* joining: the session runs again when it is ready */
        backend *b = primary_of(s, &st->dec);
        if (b->state != BACKEND_READY) { /* lost: lazily, like any lost backend */
            free(name);
            c->n_reprepare--;
            continue;
        }
        pg_buf m;
        pg_buf_init(&m);
        bool ok = put_reprepare(&m, st) && backend_send_raw(b, m.data, m.len, REPLY_CAPTURE);
        pg_buf_free(&m);
        if (!ok) {
            session_close(s, "53200", "out of memory");
            return false;
        }
        pg_buf_reset(&b->captured);
        st->refs++;
        c->reprepare_unit = st;
        c->reprepare_on = b;
        free(name);
        c->n_reprepare--;
        if (!rs_flush_to(s, b))
            return false;
    }
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
    if ((c->reprepare_unit || c->n_reprepare) && !reprepare_step(s))
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
        adopt(s);
        if (s->state != SESSION_READY || ((c->reprepare_unit || c->n_reprepare) &&
                                          !reprepare_step(s)))
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
