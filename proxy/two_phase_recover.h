/* Start-up checks and orphan resolution for two-phase commit (two_phase.h).
 * Blocking libpq work: run before the proxy serves, or in a child process. */
#ifndef PGT_TWO_PHASE_RECOVER_H
#define PGT_TWO_PHASE_RECOVER_H

#include <stdbool.h>
#include <stddef.h>

#include "proxy/config.h"

/* two_phase = on needs max_prepared_transactions > 0 on legacy and on every
 * service database pgtandem writes. False with the reason in err. */
bool tpc_check_servers(const config *c, char *err, size_t err_len)
    __attribute__((warn_unused_result));

/* Finds pgtandem's prepared transactions older than min_age_s seconds on
 * every configured database and commits or rolls back each as its decider's
 * record says (pg_xact_status of the xid in its gid). Undecided ones (still
 * in progress) are left alone; ones whose decider can't tell are logged for a
 * human. Returns how many it resolved. */
int tpc_resolve_orphans(const config *c, int min_age_s);

struct proxy;
/* With two_phase on: resolves orphans now, then every 30 s in a child
 * process (blocking libpq stays off the event loop), leaving alone what is
 * younger than 30 s: a live session is still finishing those. */
void tpc_resolver_start(struct proxy *px);
void tpc_resolver_stop(struct proxy *px);

#endif
