/* The databases pgtandem mirrors into, checked at start and before every new
 * config (reload, console change) is used. A BEFORE ROW trigger there that
 * does not skip when pgtandem.mirror is on (a real monolith's updated_at
 * triggers don't) would re-stamp every row pgtandem copies. pgtandem keeps
 * such rows equal to the primary's by setting them again under
 * session_replication_role = replica (row_images.h), which its role may only
 * do after GRANT SET ON PARAMETER session_replication_role (PostgreSQL 15).
 * Blocking libpq reads: call before the snapshot serves anyone. */
#ifndef PGT_MIRROR_CHECK_H
#define PGT_MIRROR_CHECK_H

#include <stdbool.h>
#include <stddef.h>

#include "proxy/catalog.h"
#include "proxy/config.h"

/* For every service with writes = dual, its secondary's database (the
 * service's when primary = legacy, legacy's when primary = service): sets
 * the target's replica_role from the grant, marks in `cat` each of the
 * service's tables that has a BEFORE ROW INSERT/UPDATE trigger there (so its
 * writes go by row images), and refuses (false, the reason and the fix in
 * err) when an unguarded one meets a role without the grant. A database it
 * cannot reach is logged and passed over: a mirror into it fails loudly. */
bool mirror_check(config *c, catalog *cat, char *err, size_t err_len)
    __attribute__((warn_unused_result));
/* As mirror_check, for a console change from `old`: a database `old` already
 * mirrored into, with the same conninfo, keeps its result without a new
 * read (a flip must not stall the event loop on every database); the others
 * are checked. A reload (SIGHUP, RELOAD) reads them all again. */
bool mirror_check_since(config *c, const config *old, catalog *cat, char *err, size_t err_len)
    __attribute__((warn_unused_result));

#endif
