/* A routed session adopting a new config snapshot (called by session_control.c
 * at a transaction boundary). Service backends move to their service's new slot by
 * name; one whose service is gone or whose conninfo changed is closed (the next
 * statement for it connects afresh and replays the session's SETs). Prepared
 * statements keep their names: each is routed again under the new snapshot; where
 * its prepared form no longer fits (mirroring by row images starts, stops or moves
 * to another primary) it is closed on the backends that have it, and a row-image
 * statement is prepared again on its new primary before the session takes the
 * client's next request. Others are prepared lazily where they are next needed, as
 * for a backend that joins. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/pg_codes.h"
#include "protocol/pg_ext.h"
#include "protocol/pg_frame.h"
#include "protocol/pg_reader.h"
#include "proxy/backend.h"
#include "proxy/ext_registry.h"
#include "proxy/log.h"
#include "proxy/pool.h"
#include "proxy/route_ext_int.h"
#include "proxy/session.h"
#include "proxy/session_route_int.h"

static uint64_t slot_bit(int service)
{
    return (uint64_t)1 << (service + 1); /* -1 (legacy) is bit 0, as in prepared_on */
}

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

void session_adopt(session *s)
{
    config *old = s->cfg, *fresh = s->px->cfg;
    /* the session's backend slots are sized for its snapshot (pool.h) */
    backend **slots = NULL;
    if (fresh->n_services &&
        !(slots = pool_alloc(fresh->n_services * sizeof(backend *)))) {
        log_warn("session %llu: out of memory taking the new configuration; trying again at "
                 "the next boundary", (unsigned long long)s->id);
        return;
    }
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
    pool_free(s->services, old->n_services * sizeof(backend *));
    if (slots)
        memcpy(slots, moved, fresh->n_services * sizeof(backend *));
    s->services = slots;
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
bool session_adopt_reprepare(session *s)
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
