/* Two-phase commit driver; the protocol and its argument are in two_phase.h. */
#include "proxy/two_phase.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/backend.h"
#include "proxy/divergence.h"
#include "proxy/log.h"
#include "proxy/session.h"
#include "proxy/session_route_int.h"

enum { STEP_XID = 1, STEP_PREPARE, STEP_DECIDE, STEP_FINISH, STEP_ABORT };

/* PostgreSQL's limit for a gid is 200 bytes with the terminator. */
#define GID_MAX 200

static const char *name_of(session *s, const backend *b)
{
    return b->service < 0 ? "legacy" : s->cfg->services[b->service].name;
}

bool tpc_gid(const char *decider, const char *xid, const char *member, char *out, size_t len)
{
    /* names are config section names; ':' inside one would make the gid ambiguous */
    if (strchr(decider, ':') || strchr(member, ':') || strchr(decider, '\'') ||
        strchr(member, '\''))
        return false;
    int n = snprintf(out, len, "pgtandem:%s:%s:%s", decider, xid, member);
    return n > 0 && (size_t)n < len && n < GID_MAX;
}

bool tpc_parse_gid(const char *gid, char *decider, size_t dlen, char *xid, size_t xlen)
{
    if (strncmp(gid, "pgtandem:", 9) != 0)
        return false;
    const char *d = gid + 9, *x = strchr(d, ':');
    if (!x || x == d || (size_t)(x - d) >= dlen)
        return false;
    x++;
    const char *m = strchr(x, ':');
    if (!m || m == x || (size_t)(m - x) >= xlen || !m[1])
        return false;
    for (const char *p = x; p < m; p++)
        if (*p < '0' || *p > '9')
            return false;
    memcpy(decider, d, (size_t)(x - 1 - d));
    decider[x - 1 - d] = '\0';
    memcpy(xid, x, (size_t)(m - x));
    xid[m - x] = '\0';
    return true;
}

two_phase *tpc_start(session *s, backend *const *members, size_t n)
{
    two_phase *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    t->n = n;
    for (size_t i = 0; i < n; i++) {
        t->members[i] = members[i];
        if (members[i] == s->legacy)
            t->decider = members[i];
    }
    if (!t->decider)
        t->decider = members[0];
    /* the decider's transaction id names the decision: it must have one */
    if (rs_send_query(s, t->decider, "SELECT pg_catalog.pg_current_xact_id()::text",
                      REPLY_SWALLOW))
        rs_flush_to(s, t->decider);
    t->step = STEP_XID;
    return t;
}

static bool all_idle(const two_phase *t)
{
    for (size_t i = 0; i < t->n; i++)
        if (!backend_idle(t->members[i]))
            return false;
    return true;
}

static void send_sql(session *s, backend *b, const char *verb, const char *gid)
{
    char sql[GID_MAX + 64];
    if (gid)
        snprintf(sql, sizeof(sql), "%s '%s'", verb, gid);
    else
        snprintf(sql, sizeof(sql), "%s", verb);
    if (rs_send_query(s, b, sql, REPLY_SWALLOW))
        rs_flush_to(s, b);
}

static void member_gid(session *s, two_phase *t, const backend *b, char *gid, size_t len)
{
    if (!tpc_gid(name_of(s, t->decider), t->xid, name_of(s, b), gid, len))
        gid[0] = '\0';
}

/* Every prepared member rolls back by gid; members whose transaction is
 * still open (all of them before PREPARE, the decider before its COMMIT) roll
 * back; the client gets `state`/`text`. */
static void abort_all(session *s, two_phase *t, const char *state, const char *text)
{
    bool before_prepare = t->step == STEP_XID, decider_open = t->step <= STEP_PREPARE;
    snprintf(t->error_state, sizeof(t->error_state), "%s", state);
    snprintf(t->error_text, sizeof(t->error_text), "%s", text);
    for (size_t i = 0; i < t->n; i++) {
        backend *b = t->members[i];
        if (b->state != BACKEND_READY)
            continue;
        if (t->prepared[i]) {
            char gid[GID_MAX + 8];
            member_gid(s, t, b, gid, sizeof(gid));
            send_sql(s, b, "ROLLBACK PREPARED", gid);
        } else if (before_prepare || (b == t->decider && decider_open)) {
            send_sql(s, b, "ROLLBACK", NULL);
        }
    }
    t->step = STEP_ABORT;
}

static bool is_primary(session *s, const backend *b)
{
    return b->service >= 0 && s->cfg->services[b->service].primary == ROUTE_SERVICE;
}

static void prepare_members(session *s, two_phase *t)
{
    for (size_t i = 0; i < t->n; i++) {
        backend *b = t->members[i];
        if (b == t->decider)
            continue;
        char gid[GID_MAX + 8];
        member_gid(s, t, b, gid, sizeof(gid));
        send_sql(s, b, "PREPARE TRANSACTION", gid);
    }
    t->step = STEP_PREPARE;
}

/* Every member but the decider answered PREPARE. A primary that could not
 * prepare fails the transaction, as its own COMMIT failing would; a
 * secondary's failure is a divergence, and the policy decides. */
static void after_prepare(session *s, two_phase *t)
{
    const backend *failed = NULL;
    for (size_t i = 0; i < t->n; i++) {
        backend *b = t->members[i];
        if (b == t->decider)
            continue;
        const backend_outcome *o = &b->rx->last;
        t->prepared[i] = !o->error && strcmp(o->tag, "PREPARE TRANSACTION") == 0;
        if (t->prepared[i])
            continue;
        bool primary = is_primary(s, b);
        if (!primary)
            divergence_record(s, b->service, "secondary prepare failed", "", "", NULL, o);
        if (primary || s->cfg->on_mirror_failure == MIRROR_FAIL)
            failed = b;
    }
    if (failed) {
        char text[480];
        const backend_outcome *o = &failed->rx->last;
        snprintf(text, sizeof(text),
                 "pgtandem: the database of service %s could not prepare the transaction "
                 "(%s); it was rolled back on every database",
                 name_of(s, failed), o->error ? o->message : "its transaction had failed");
        abort_all(s, t, o->error && strncmp(o->sqlstate, "08", 2) != 0 ? o->sqlstate : "40000",
                  text);
        return;
    }
    send_sql(s, t->decider, "COMMIT", NULL);
    t->step = STEP_DECIDE;
}

static void after_decision(session *s, two_phase *t)
{
    const backend_outcome *o = &t->decider->rx->last;
    bool committed = !o->error && strcmp(o->tag, "COMMIT") == 0;
    if (!committed && t->decider->state != BACKEND_READY) {
        /* the decision may or may not have been made: only the decider knows */
        snprintf(t->error_state, sizeof(t->error_state), "08007");
        snprintf(t->error_text, sizeof(t->error_text),
                 "pgtandem lost the %s database while committing: the outcome is unknown "
                 "until it is back; the prepared parts elsewhere follow its record (resolved "
                 "at pgtandem's start and every 30 s)",
                 name_of(s, t->decider));
        log_error("two-phase commit: lost the decider %s while committing xid %s; its "
                  "prepared members wait for the resolver",
                  name_of(s, t->decider), t->xid);
        t->step = STEP_ABORT;
        return;
    }
    if (!committed) {
        char text[480];
        snprintf(text, sizeof(text), "%s%s",
                 o->error ? o->message : "the transaction had failed and was rolled back",
                 " (pgtandem: rolled back on every database)");
        abort_all(s, t, o->error ? o->sqlstate : "40000", text);
        return;
    }
    for (size_t i = 0; i < t->n; i++) {
        if (!t->prepared[i])
            continue;
        char gid[GID_MAX + 8];
        member_gid(s, t, t->members[i], gid, sizeof(gid));
        send_sql(s, t->members[i], "COMMIT PREPARED", gid);
    }
    t->step = STEP_FINISH;
}

tpc_result tpc_step(session *s, two_phase *t)
{
    if (!all_idle(t))
        return TPC_RUNNING;
    switch (t->step) {
    case STEP_XID: {
        const backend_outcome *o = &t->decider->rx->last;
        if (o->error || !o->value[0]) {
            char text[400];
            snprintf(text, sizeof(text),
                     "pgtandem: could not start the two-phase commit on %s (%s); the "
                     "transaction was rolled back on every database",
                     name_of(s, t->decider), o->error ? o->message : "no transaction id");
            abort_all(s, t, "40000", text);
            return TPC_RUNNING;
        }
        snprintf(t->xid, sizeof(t->xid), "%s", o->value);
        for (size_t i = 0; i < t->n; i++) {
            char gid[GID_MAX + 8];
            if (!tpc_gid(name_of(s, t->decider), t->xid, name_of(s, t->members[i]), gid,
                         sizeof(gid))) {
                abort_all(s, t, "0A000",
                          "pgtandem: a service name can't be part of a two-phase commit "
                          "identifier (it contains ':' or a quote, or is too long)");
                return TPC_RUNNING;
            }
        }
        prepare_members(s, t);
        return TPC_RUNNING;
    }
    case STEP_PREPARE:
        after_prepare(s, t);
        return TPC_RUNNING;
    case STEP_DECIDE:
        after_decision(s, t);
        return TPC_RUNNING;
    case STEP_FINISH:
        for (size_t i = 0; i < t->n; i++) {
            const backend_outcome *o = &t->members[i]->rx->last;
            if (t->prepared[i] && (o->error || strcmp(o->tag, "COMMIT PREPARED") != 0))
                log_warn("two-phase commit: COMMIT PREPARED of xid %s failed on %s (%s); "
                         "the resolver commits it from %s's record",
                         t->xid, name_of(s, t->members[i]), o->error ? o->message : o->tag,
                         name_of(s, t->decider));
        }
        return TPC_COMMITTED;
    case STEP_ABORT:
        return strcmp(t->error_state, "08007") == 0 ? TPC_UNKNOWN : TPC_ABORTED;
    }
    return TPC_ABORTED;
}
