/* Two-phase commit of one transaction that spans several databases
 * (`two_phase = on`). Every member but one is prepared (PREPARE TRANSACTION);
 * then the decider — legacy when it takes part — commits, and that commit is
 * the decision; then the prepared members commit (or roll back) by gid.
 *
 * Why it closes the window: without it the secondary commits before the
 * primary, and a primary whose COMMIT then fails (a deferred constraint, a
 * lost connection) leaves the write on one side only. With it, a member that
 * answered PREPARE can no longer fail to commit, and nothing commits until
 * the decider has.
 *
 * Lock-step ordering still holds: each primary releases its row locks only
 * after its secondary is prepared (it keeps its locks until COMMIT PREPARED)
 * or committed, so a conflicting transaction reaches both sides in the same
 * order.
 *
 * The gid is "pgtandem:<decider>:<decider's xid>:<member>", so an orphan left
 * by a crash between the decision and COMMIT PREPARED is resolved from the
 * decider's own record: pg_xact_status() (two_phase_recover.h). */
#ifndef PGT_TWO_PHASE_H
#define PGT_TWO_PHASE_H

#include <stdbool.h>
#include <stddef.h>

#include "proxy/config.h"

typedef struct session session;
typedef struct backend backend;

typedef enum tpc_result { TPC_RUNNING, TPC_COMMITTED, TPC_ABORTED, TPC_UNKNOWN } tpc_result;

typedef struct two_phase {
    int step;
    size_t n;
    backend *members[CONFIG_MAX_SERVICES + 1]; /* each in a transaction block, idle */
    bool prepared[CONFIG_MAX_SERVICES + 1];
    backend *decider;
    char xid[32];
    /* the client's error when the result is TPC_ABORTED or TPC_UNKNOWN */
    char error_state[6];
    char error_text[512];
} two_phase;

/* Starts committing `members` (at least two, each idle in a transaction
 * block). The session's op owns the returned state; NULL when out of memory. */
two_phase *tpc_start(session *s, backend *const *members, size_t n);
/* Moves on as far as the answers allow. */
tpc_result tpc_step(session *s, two_phase *t);

/* The gid of `member`'s part ("pgtandem:..."), false when it would not fit. */
bool tpc_gid(const char *decider, const char *xid, const char *member, char *out, size_t len);
/* Splits a gid made by tpc_gid; false for any other text. */
bool tpc_parse_gid(const char *gid, char *decider, size_t dlen, char *xid, size_t xlen);

#endif
