/* Every wait on a secondary is bounded (README "Bounded waits"): while a
 * routed session waits for a secondary's answer to a mirrored write or to its
 * commit, that backend's deadline runs. At mirror_timeout the statement is
 * cancelled on the secondary (its error then goes through the policy like any
 * other failed mirror); a secondary that does not answer the cancel either
 * within MIRROR_CANCEL_GRACE is given up: a service connection is dropped (the
 * policy decides, the miss is recorded), a legacy one ends the session. This
 * is the last line of defence against a wait that no database can see, such as
 * two sessions mirroring one service in opposite orders. */
#include <stdio.h>

#include "proxy/backend.h"
#include "proxy/cancel.h"
#include "proxy/log.h"
#include "proxy/route_ext_int.h"
#include "proxy/session.h"
#include "proxy/session_route_int.h"

/* seconds a cancelled secondary has to answer before it is given up */
#define MIRROR_CANCEL_GRACE 2.0

/* Whether b commits in the group now committing while a later group (its
 * primary) still waits for it (rs_commit_group: secondaries first). */
static bool commits_before_primary(session *s, const backend *b)
{
    int phase = s->op->phase;
    if (phase < 0 || rs_commit_group(s, b) != phase)
        return false;
    backend *list[CONFIG_MAX_SERVICES + 1];
    size_t n = rs_participants(s, list);
    for (size_t i = 0; i < n; i++)
        if (rs_commit_group(s, list[i]) > phase)
            return true;
    return false;
}

/* Whether the request in progress waits for b as a secondary: the second half
 * of a mirrored write (statement, COPY, extended Execute), or the commit of a
 * group that commits before its primary (COMMIT by either protocol, and the
 * Sync that ends a window pgtandem wrapped in a transaction). */
static bool waits_as_secondary(session *s, const backend *b)
{
    const route_op *op = s->op;
    if (!op || b->state != BACKEND_READY || b->n_pending == 0)
        return false;
    switch (op->kind) {
    case OP_DUAL:
    case OP_COPY_DUAL:
        return b == op->second;
    case OP_EXT: /* op->second stays set after the mirrored Execute */
        if (op->step == ST_SYNC || op->step == ST_EXEC_COMMIT)
            return commits_before_primary(s, b);
        return b == op->second && op->step == ST_DUAL_SECONDARY;
    case OP_COMMIT:
        return commits_before_primary(s, b);
    default:
        return false;
    }
}

void rs_mirror_watch(session *s)
{
    backend *list[CONFIG_MAX_SERVICES + 1];
    size_t n = rs_participants(s, list);
    for (size_t i = 0; i < n; i++) {
        backend *b = list[i];
        if (!waits_as_secondary(s, b)) {
            if (b->deadline_cancelled || backend_deadline_armed(b))
                backend_disarm_deadline(b);
        } else if (!backend_deadline_armed(b)) {
            backend_arm_deadline(b, s->cfg->mirror_timeout);
        }
    }
}

void session_backend_timed_out(session *s, backend *b)
{
    if (!session_route_op_ensure(s) || !waits_as_secondary(s, b))
        return;
    const char *name = b == s->legacy ? "legacy" : s->cfg->services[b->service].name;
    if (!b->deadline_cancelled) {
        log_warn("session %llu backend %s: no answer to a mirrored statement within "
                 "mirror_timeout (%g s); cancelling it there", (unsigned long long)s->id, name,
                 s->cfg->mirror_timeout);
        cancel_backend(s->px, b);
        backend_arm_deadline(b, MIRROR_CANCEL_GRACE);
        b->deadline_cancelled = true;
        return;
    }
    char why[300];
    snprintf(why, sizeof(why),
             "the %s database did not answer a mirrored statement within mirror_timeout "
             "(%g s), nor its cancel within %g s", name, s->cfg->mirror_timeout,
             MIRROR_CANCEL_GRACE);
    if (b == s->legacy) {
        session_close(s, "08006", why);
        return;
    }
    session_route_backend_lost(s, b, why);
}
