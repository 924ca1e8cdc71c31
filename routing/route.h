/* Routing decisions: which service owns a table (route_map, built once per config snapshot)
 * and where one classified statement runs under the services' migration states
 * (route_decide). Pure: no I/O, no logging, no global state. */
#ifndef PGT_ROUTING_ROUTE_H
#define PGT_ROUTING_ROUTE_H

#include <stdbool.h>
#include <stddef.h>

#include "routing/classify.h"

#if defined(__GNUC__)
#define ROUTE_MUST_CHECK __attribute__((warn_unused_result))
#else
#define ROUTE_MUST_CHECK
#endif

/* ---- The migration state of a service -------------------------------------------------
 *
 * A service moves, live, through
 *   writes=legacy                                   (legacy only)
 *   writes=dual, primary=legacy, reads=legacy       (dual writes)
 *   ... reads=shadow                                (reads served by the primary, compared)
 *   ... reads=service                               (reads from the service's database)
 *   writes=dual, primary=service                    (legacy still written: rollback possible)
 *   writes=service, primary=service, reads=service  (service only; legacy's copy goes stale)
 * and back. route_map_new refuses the combinations that would serve stale data. */

typedef enum route_side { ROUTE_LEGACY = 0, ROUTE_SERVICE } route_side;
typedef enum route_writes {
    ROUTE_WRITES_LEGACY = 0,
    ROUTE_WRITES_DUAL,
    ROUTE_WRITES_SERVICE
} route_writes;
typedef enum route_reads {
    ROUTE_READS_LEGACY = 0,
    ROUTE_READS_SERVICE,
    ROUTE_READS_SHADOW
} route_reads;
/* What to do with one statement that writes tables of several services, or owned and
 * unowned tables together (config: cross_service_writes). */
typedef enum route_cross { ROUTE_CROSS_REJECT = 0, ROUTE_CROSS_LEGACY } route_cross;

/* What the config says of one service. Table patterns, written as PostgreSQL stores the
 * names (unquoted identifiers in lower case), whitespace already trimmed by the caller:
 *   users          public.users (pgtandem assumes the default search_path, so an
 *                  unqualified name in a statement or a pattern means schema public)
 *   auth.users     one table of schema auth
 *   user_*         a `*` anywhere in the table part matches any run of characters
 *                  (several stars allowed); the schema part has no wildcard
 *   auth.*         every table of schema auth
 * Schemas starting with "pg_" and information_schema can't be owned: they are the
 * server's own. */
typedef struct route_service {
    const char *name;
    const char *const *tables;
    size_t n_tables;
    route_writes writes;
    route_side primary;
    route_reads reads;
} route_service;

/* Opaque and immutable once built; holds its own copies of every string given to it. */
typedef struct route_map route_map;

/* Compiles the services' table patterns. Returns NULL with a sentence in err (naming the
 * service and pattern, and why) when:
 *   - a service name is empty or given twice, or a pattern is empty or malformed (more than
 *     one dot, an empty part, a wildcard in the schema, whitespace or a double quote, a
 *     part longer than PostgreSQL's 63-byte identifier limit, a system schema);
 *   - two services claim the same table: the same exact name, identical patterns, or one
 *     pattern that covers the other entirely (an exact name of one matched by the other's
 *     wildcard, `auth.*` against anything in schema auth, `user_*` against `user_s*`).
 *     Wildcards that merely overlap (`user_*` and `*_sessions`) are accepted; a table
 *     matching both belongs to the service listed first;
 *   - a state can't be served consistently: writes=service with primary=legacy,
 *     primary=service with writes=legacy, reads=service or shadow with writes=legacy (the
 *     service database would not be kept current), or writes=service with reads=legacy or
 *     shadow (legacy's copy is no longer written, so reading or comparing it is wrong);
 *   - memory runs out.
 * err may be NULL when err_len is 0. A service with no tables is allowed (it owns nothing).
 * n may be 0: every statement then runs on legacy. */
ROUTE_MUST_CHECK route_map *route_map_new(const route_service *svcs, size_t n, route_cross cross,
                                          char *err, size_t err_len);
void route_map_free(route_map *m);

/* The service owning schema.name: an index into the services given to route_map_new, or
 * -1 when none does. schema NULL means "public": pgtandem assumes the default search_path,
 * so a session that changes it can make an unqualified name mean another table than the
 * one looked up here. Names are compared byte for byte (they arrive case-folded from the
 * parser). Exact names take precedence over wildcards. */
int route_map_owner(const route_map *m, const char *schema, const char *name);
/* The map's copy of service idx (strings owned by the map), NULL when out of range. */
const route_service *route_map_service(const route_map *m, int idx);
size_t route_map_count(const route_map *m);
route_cross route_map_cross(const route_map *m);

/* ---- The decision for one statement ---------------------------------------------------- */

typedef enum route_action {
    ROUTE_RUN_LEGACY,     /* legacy only */
    ROUTE_RUN_SERVICE,    /* the service's database only */
    ROUTE_RUN_PRIMARY,    /* only the service's current primary side (locks) */
    ROUTE_RUN_DUAL,       /* write on both: primary first, then the secondary in lock-step */
    ROUTE_RUN_EVERYWHERE, /* transaction control and session state: every backend taking part */
    ROUTE_REJECT,         /* refuse with `message`, SQLSTATE `sqlstate` */
} route_action;

typedef struct route_decision {
    route_action action;
    /* The service the statement concerns when exactly one service's tables are involved
     * (whatever the action, for metrics and logs), -1 when none or several. */
    int service;
    /* That service's primary side (ROUTE_LEGACY when service is -1). It is the side that
     * runs first and answers the client for DUAL and PRIMARY, and the side serving a
     * shadow read. */
    route_side primary;
    /* A read served by `action`'s side that is also to run on the other side, for
     * comparison only: the client never sees the second answer. */
    bool shadow;
    /* DUAL only: the secondary must apply the primary's row images (RETURNING) instead of
     * the statement's text, because the text may produce different rows there. */
    bool row_images;
    /* A cross-service write run on legacy only because cross_service_writes=legacy: the
     * services' databases miss it, so it is to be recorded for catch-up. */
    bool legacy_only_recorded;
    /* EXECUTE of an SQL-level prepared statement: where it runs depends on what was
     * prepared. action is LEGACY as a fallback; the proxy should look the statement up
     * and decide again (see route_decide). */
    bool needs_prepared_lookup;
    /* FETCH, MOVE or CLOSE of a named cursor: it must go where its DECLARE ran, which only
     * the session knows. action is LEGACY as a fallback. */
    bool needs_cursor_lookup;
    const char *sqlstate; /* REJECT only: a static string ("0A000"); NULL otherwise */
    char message[512];    /* REJECT only: one sentence naming the tables and owners */
} route_decision;

/* Decides where `st` runs under map `m` (NULL behaves as a map without services). Always
 * fills *out. The rules, by kind:
 *
 * EMPTY, ERROR, UNKNOWN: LEGACY; the server produces its own answer or error.
 *
 * TX_CONTROL: EVERYWHERE (PREPARE TRANSACTION and COMMIT/ROLLBACK PREPARED included; if two
 * databases share one server, their GIDs share one namespace and the proxy must keep them
 * apart).
 *
 * SESSION: EVERYWHERE for SET, RESET, DISCARD, PREPARE, DEALLOCATE, LOAD, SET CONSTRAINTS
 * and CLOSE ALL. PREPARE runs everywhere so EXECUTE can later go anywhere; the proxy must
 * tolerate it failing on a database that lacks the tables. LISTEN, UNLISTEN and NOTIFY:
 * LEGACY; notifications come from legacy only, so NOTIFY is not mirrored and a listener on
 * a service database would never hear anything. EXECUTE: LEGACY with
 * needs_prepared_lookup; to route it, copy the PREPARE's classify_stmt, set kind to its
 * inner_kind and session to CLASSIFY_SESSION_NONE, and call route_decide with that.
 * FETCH, MOVE, CLOSE name: LEGACY with needs_cursor_lookup (DECLARE is routed as the query
 * it declares, never shadowed: the cursor must live on one backend).
 *
 * READ (SELECT, SHOW, COPY TO, DECLARE, EXPLAIN without ANALYZE, whose inner tables all
 * count as read): no tables: LEGACY, except a call to set_config(), which changes session
 * state and so runs EVERYWHERE. All tables owned by one service S: S in writes=service ->
 * SERVICE; else by S.reads: legacy -> LEGACY, service -> SERVICE, shadow -> S's primary
 * side with shadow set (not for EXPLAIN: two plans never match). Any other mix (unowned
 * tables, several services) -> LEGACY, where everything is current; but REJECT when one
 * of the services is in writes=service, as legacy's copy of its tables is stale and its
 * database has nothing else.
 *
 * LOCKING_READ (SELECT ... FOR UPDATE/SHARE) and LOCK: the locks must be taken where the
 * writers of those rows take theirs, the primary. All tables owned by one service S: by
 * S.writes: legacy -> LEGACY, dual -> PRIMARY, service -> SERVICE (reads and shadow do not
 * apply: a lock is not compared). Only unowned tables: LEGACY. A mix: LEGACY when legacy is
 * where every locked table's writers lock first (unowned, or a service whose primary is
 * legacy) and every table is current there; otherwise REJECT (a service in writes=service
 * involved, or a locked table of a service whose primary is its own database: a lock on
 * legacy would not hold its writers back). So LOCK of tables of several services works
 * while legacy is their primary and is refused after any of them flips.
 *
 * WRITE (INSERT, UPDATE, DELETE, MERGE, TRUNCATE, COPY FROM, data-modifying WITH, EXPLAIN
 * ANALYZE of one), by the owners of the tables written:
 *   - none owned: LEGACY; REJECT if it reads tables of a writes=service service.
 *   - one service S, nothing else written:
 *       writes=legacy: LEGACY (REJECT if it reads tables of a writes=service service);
 *       writes=service: SERVICE; REJECT if it reads any table S's database lacks;
 *       writes=dual: DUAL, primary S.primary. row_images is set when the text may give
 *         other rows on the secondary: volatile_calls; a read of any table S does not own
 *         (the secondary may not have it: INSERT INTO cart_items SELECT ... FROM products);
 *         an INSERT without a column list, with DEFAULT or DEFAULT VALUES (the table's own
 *         defaults may generate values); a function outside a short list of deterministic
 *         built-ins (route_fn_deterministic); a write with no statement-level target that
 *         reads or calls anything (a data-modifying WITH whose shape is not described).
 *         REJECT when such a read can't be served by the primary: S's primary is its own
 *         database (which lacks the table), or the table's service is in writes=service.
 *         EXPLAIN ANALYZE of a dual write that needs row images is REJECTed: its output is a
 *         plan, so there are no rows to mirror.
 *       Not seen here, so for the proxy to refine with the catalog: columns an INSERT or
 *       COPY leaves out may have generated defaults (serial, now()), UPDATE ... SET c =
 *       DEFAULT, and whether a bare TRUNCATE-like write is really a WITH whose INSERT
 *       relies on defaults.
 *   - several services, or owned and unowned tables: while every service written is in
 *     writes=legacy, LEGACY (nothing is mirrored yet, so nothing to split or record; a
 *     config listing services must not change behaviour before their migration starts).
 *     Otherwise cross=reject -> REJECT naming each table written and its owner;
 *     cross=legacy -> LEGACY with legacy_only_recorded, REJECT anyway when a service
 *     involved (written or read) is in writes=service.
 *
 * DDL: touching (creating, changing, or only referencing) no owned table, or only tables
 * of writes=legacy services: LEGACY. Otherwise REJECT: schema changes to migrated tables
 * are the migration team's to apply to both databases. CREATE TEMP TABLE goes to LEGACY by
 * this rule when its name and query involve no owned table; classify_stmt does not say
 * whether a table is temporary, so one named like an owned table, or filled from one, is
 * refused like any other DDL (pg_temp.name is never owned).
 *
 * UTILITY: LOCK as above. DO and CALL: LEGACY; the code they run is invisible here, so a
 * DO block or procedure that writes owned tables changes legacy only and the databases
 * diverge until it is rewritten as plain statements. VACUUM, ANALYZE, CLUSTER, REINDEX,
 * REFRESH MATERIALIZED VIEW, CHECKPOINT: LEGACY (each service database maintains itself),
 * SERVICE when every table named belongs to one writes=service service, REJECT when a
 * writes=service service's tables are named with others (run it once per database).
 *
 * A statement marked opaque is routed as its kind says, but never DUAL: that becomes LEGACY.
 */
void route_decide(const route_map *m, const classify_stmt *st, route_decision *out);

/* Whether a function (as listed in classify_stmt.functions) is known to give the same
 * result on both databases for the same arguments and rows: a short list of built-ins,
 * unqualified or in pg_catalog. */
bool route_fn_deterministic(const classify_name *fn);

/* Stable lower-case names for logs and tests ("legacy", "dual", ...). */
const char *route_action_name(route_action a);
const char *route_side_name(route_side s);
const char *route_writes_name(route_writes w);
const char *route_reads_name(route_reads r);

#endif
