/* SQL classification: what a query string does (kind, tables read and written, functions
 * called, INSERT shape, UPDATE SET list, fingerprint), per statement, from libpg_query's parse tree.
 * Pure: no I/O, no global state besides libpg_query's own per-thread memory context. */
#ifndef PGT_ROUTING_CLASSIFY_H
#define PGT_ROUTING_CLASSIFY_H

#include <stdbool.h>
#include <stddef.h>

#if defined(__GNUC__)
#define CLASSIFY_MUST_CHECK __attribute__((warn_unused_result))
#else
#define CLASSIFY_MUST_CHECK
#endif

typedef enum classify_kind {
    CLASSIFY_UNKNOWN = 0,  /* parsed, but not a statement we know how to route, or over limits */
    CLASSIFY_EMPTY,        /* no statement at all: empty, whitespace, comments, lone ';' */
    CLASSIFY_ERROR,        /* libpg_query could not parse it; the server will say why */
    CLASSIFY_READ,         /* SELECT, VALUES, TABLE, SHOW, EXPLAIN, COPY ... TO, DECLARE */
    CLASSIFY_LOCKING_READ, /* SELECT ... FOR UPDATE/SHARE: reads, and row-locks `writes` */
    CLASSIFY_WRITE,        /* INSERT/UPDATE/DELETE/MERGE/TRUNCATE/COPY FROM, data-modifying WITH */
    CLASSIFY_DDL,          /* CREATE/ALTER/DROP/COMMENT/GRANT..., SELECT INTO, CREATE TABLE AS */
    CLASSIFY_TX_CONTROL,   /* see classify_tx_kind */
    CLASSIFY_SESSION,      /* see classify_session_kind */
    CLASSIFY_UTILITY,      /* see classify_utility_kind */
} classify_kind;

typedef enum classify_tx_kind {
    CLASSIFY_TX_NONE = 0,
    CLASSIFY_TX_BEGIN, /* BEGIN and START TRANSACTION */
    CLASSIFY_TX_COMMIT,
    CLASSIFY_TX_ROLLBACK,
    CLASSIFY_TX_SAVEPOINT,
    CLASSIFY_TX_RELEASE,
    CLASSIFY_TX_ROLLBACK_TO,
    CLASSIFY_TX_PREPARE, /* PREPARE TRANSACTION 'gid' */
    CLASSIFY_TX_COMMIT_PREPARED,
    CLASSIFY_TX_ROLLBACK_PREPARED,
} classify_tx_kind;

typedef enum classify_isolation {
    CLASSIFY_ISO_DEFAULT = 0, /* not stated in the statement */
    CLASSIFY_ISO_READ_UNCOMMITTED,
    CLASSIFY_ISO_READ_COMMITTED,
    CLASSIFY_ISO_REPEATABLE_READ,
    CLASSIFY_ISO_SERIALIZABLE,
} classify_isolation;

typedef enum classify_access {
    CLASSIFY_ACCESS_DEFAULT = 0, /* not stated in the statement */
    CLASSIFY_ACCESS_READ_ONLY,
    CLASSIFY_ACCESS_READ_WRITE,
} classify_access;

typedef enum classify_session_kind {
    CLASSIFY_SESSION_NONE = 0,
    CLASSIFY_SESSION_SET, /* SET [LOCAL], SET ROLE, SET SESSION AUTHORIZATION, SET TRANSACTION */
    CLASSIFY_SESSION_RESET, /* RESET name, RESET ALL (name NULL) */
    CLASSIFY_SESSION_DISCARD,
    CLASSIFY_SESSION_PREPARE, /* PREPARE name AS ...: inner_kind and the tables are the query's */
    CLASSIFY_SESSION_EXECUTE,
    CLASSIFY_SESSION_DEALLOCATE, /* name NULL for DEALLOCATE ALL */
    CLASSIFY_SESSION_LISTEN,
    CLASSIFY_SESSION_UNLISTEN, /* name NULL for UNLISTEN * */
    CLASSIFY_SESSION_NOTIFY,
    CLASSIFY_SESSION_LOAD,
    CLASSIFY_SESSION_FETCH,
    CLASSIFY_SESSION_MOVE,
    CLASSIFY_SESSION_CLOSE, /* CLOSE cursor; name NULL for CLOSE ALL */
    CLASSIFY_SESSION_SET_CONSTRAINTS,
} classify_session_kind;

typedef enum classify_utility_kind {
    CLASSIFY_UTILITY_NONE = 0,
    CLASSIFY_UTILITY_VACUUM,
    CLASSIFY_UTILITY_ANALYZE,
    CLASSIFY_UTILITY_CHECKPOINT,
    CLASSIFY_UTILITY_LOCK, /* LOCK TABLE: the locked tables are in `writes` */
    CLASSIFY_UTILITY_DO,   /* opaque */
    CLASSIFY_UTILITY_CALL, /* opaque; the procedure is in `functions` */
    CLASSIFY_UTILITY_CLUSTER,
    CLASSIFY_UTILITY_REINDEX,
    CLASSIFY_UTILITY_REFRESH_MATVIEW,
} classify_utility_kind;

typedef enum classify_on_conflict {
    CLASSIFY_ON_CONFLICT_NONE = 0,
    CLASSIFY_ON_CONFLICT_NOTHING,
    CLASSIFY_ON_CONFLICT_UPDATE,
} classify_on_conflict;

typedef enum classify_copy_dir {
    CLASSIFY_COPY_NONE = 0,
    CLASSIFY_COPY_FROM, /* into a table: WRITE */
    CLASSIFY_COPY_TO,   /* out of a table or query: READ (unless the query writes) */
} classify_copy_dir;

/* Which statement-level DML `target` belongs to. */
typedef enum classify_dml {
    CLASSIFY_DML_NONE = 0,
    CLASSIFY_DML_INSERT,
    CLASSIFY_DML_UPDATE,
    CLASSIFY_DML_DELETE,
    CLASSIFY_DML_MERGE,
    CLASSIFY_DML_COPY,
} classify_dml;

/* A possibly schema-qualified name, as PostgreSQL resolved its spelling: unquoted
 * identifiers folded to lower case, quoted ones kept. schema is NULL when unqualified. */
typedef struct classify_name {
    const char *schema;
    const char *name;
} classify_name;

/* Shape of a statement-level INSERT (the top-level one, or the inner one of PREPARE and
 * EXPLAIN), for deciding how to mirror generated values. INSERTs inside WITH are not
 * described here; their targets are still in `writes`. */
typedef struct classify_insert {
    bool present;
    const char *const *columns; /* explicit column list, in order; NULL when none given */
    size_t n_columns;
    size_t n_values_rows; /* rows of a plain VALUES source; 0 otherwise */
    bool from_select;     /* the source is a query other than a plain VALUES list */
    bool default_values;  /* INSERT ... DEFAULT VALUES */
    bool uses_default;    /* a VALUES row holds the DEFAULT keyword */
    classify_on_conflict on_conflict;
} classify_insert;

/* SET list of the same statement-level UPDATE (top-level, or inner of PREPARE and EXPLAIN;
 * UPDATEs inside WITH are not described), or of that INSERT's ON CONFLICT DO UPDATE, for
 * deciding how to mirror it. Not present for DO NOTHING or any other statement. */
typedef struct classify_update {
    bool present;
    /* The assigned columns in SET order, one per assignment, spelt as PostgreSQL resolved
     * them: `SET (a, b) = ...` gives a and b; `SET c[1] = ..., c.f = ...` gives c twice. */
    const char *const *columns;
    size_t n_columns;
    bool sets_default; /* a column is assigned the DEFAULT keyword, alone or in a row:
                          each database then computes that value itself */
} classify_update;

typedef struct classify_stmt {
    classify_kind kind;
    size_t loc, len; /* byte range in the input, surrounding whitespace trimmed, no ';' */

    /* Tables, deduplicated, in first-seen order. `writes` is what the statement's text
     * modifies (or row-locks, or LOCKs); whether it runs now is `kind`'s business: EXPLAIN
     * without ANALYZE is READ and PREPARE is SESSION even when their inner statement
     * writes. The target of INSERT/UPDATE/DELETE/MERGE is in `reads` only when the
     * statement also reads it through FROM, USING or a subquery. Locked tables of a
     * LOCKING_READ are in both lists. For DDL, the objects created or changed are in
     * `writes` and tables only referenced (REFERENCES, INHERITS, LIKE, a view's query) in
     * `reads`. CTE names and functions in FROM are never tables. */
    const classify_name *reads;
    size_t n_reads;
    const classify_name *writes;
    size_t n_writes;

    /* Every function named anywhere in the statement, deduplicated; SQL-standard value
     * functions (CURRENT_TIMESTAMP, CURRENT_USER, ...) appear under their lower-case SQL
     * names. volatile_calls is set when one of them is known to give a different value on
     * each database (now, random, nextval, gen_random_uuid, CURRENT_DATE, ...) or a string
     * constant is one of the time words 'now', 'today', 'tomorrow', 'yesterday' (cast to a
     * date/time type it is evaluated at run time). Any other function may be volatile too:
     * the router decides from `functions`. */
    const classify_name *functions;
    size_t n_functions;
    bool volatile_calls;

    bool opaque;  /* runs code not in the text (DO, CALL): the table lists are incomplete */
    bool explain; /* an EXPLAIN; kind is the inner statement's under ANALYZE, else READ */
    bool ordered; /* a SELECT (or set operation) with ORDER BY at its top level: the order of
                     its rows is part of its answer */
    classify_kind inner_kind; /* for EXPLAIN, PREPARE, DECLARE: the inner statement's kind */

    /* The statement's own object name: savepoint (SAVEPOINT/RELEASE/ROLLBACK TO), GID
     * (2PC), prepared statement (PREPARE/EXECUTE/DEALLOCATE), cursor (DECLARE/FETCH/MOVE/
     * CLOSE), channel (LISTEN/UNLISTEN/NOTIFY), setting (SET/RESET: as the parser spells
     * it, e.g. "search_path", "role", "session_authorization", "TRANSACTION"), file (LOAD).
     * NULL when none. */
    const char *name;

    classify_tx_kind tx;
    classify_isolation isolation; /* BEGIN/START, SET TRANSACTION, SET SESSION CHARACTERISTICS */
    classify_access access;       /* likewise */
    bool deferrable;              /* likewise: DEFERRABLE stated */
    bool chain;                   /* COMMIT/ROLLBACK AND CHAIN */

    classify_session_kind session;
    bool set_local; /* SET LOCAL */

    classify_utility_kind utility;

    /* Statement-level DML (see classify_insert for which statement that is). */
    classify_name target; /* INSERT/UPDATE/DELETE/MERGE/COPY table; name NULL otherwise */
    classify_dml dml;     /* which of those `target` is the table of */
    bool returning;       /* INSERT/UPDATE/DELETE ... RETURNING */
    classify_insert insert;
    classify_update update; /* an UPDATE's, or the INSERT's ON CONFLICT DO UPDATE's */
    classify_copy_dir copy;

    char fingerprint[17]; /* pg_query_fingerprint, 16 hex digits; "" when not parsed */
} classify_stmt;

struct classify_priv;

/* Immutable once returned; may be shared (see classify_result_retain). */
typedef struct classify_result {
    const classify_stmt *stmts; /* at least one; one EMPTY/ERROR/UNKNOWN statement spanning
                                   the whole input when there is nothing else to report */
    size_t n_stmts;
    /* Set when the input could not be classified statement by statement: a syntax error
     * (one ERROR statement) or the input exceeds the classifier's nesting limit (one
     * UNKNOWN statement). Otherwise NULL. */
    const char *error;
    int error_cursor; /* 1-based character position PostgreSQL reports; 0 if none */
    struct classify_priv *priv_; /* internal: storage and reference count */
} classify_result;

/* Classifies a NUL-terminated query string (one or more statements). Returns NULL only when
 * memory runs out. Release with classify_result_free. Costs ~20 us for a short INSERT (see
 * classify_cache). Recursion in libpg_query and protobuf-c grows with the statement's
 * nesting, which is capped (deeper input is UNKNOWN): at the cap it needs ~2 MB of C
 * stack, so call it from a thread with at least 4 MB (the main thread has 8 MB). */
CLASSIFY_MUST_CHECK classify_result *classify_sql(const char *sql);

/* Takes another reference to a result; each reference is released by classify_result_free.
 * Not thread-safe: the proxy uses results from one thread. */
const classify_result *classify_result_retain(const classify_result *r);

/* Releases one reference; the last one frees the result. NULL is ignored. */
void classify_result_free(const classify_result *r);

/* Stable lower-case names for logs and tests ("read", "locking_read", ...). */
const char *classify_kind_name(classify_kind k);
const char *classify_tx_kind_name(classify_tx_kind k);
const char *classify_session_kind_name(classify_session_kind k);
const char *classify_utility_kind_name(classify_utility_kind k);

#endif
