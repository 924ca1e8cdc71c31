/* Shared between the classify_*.c files only: the parse-tree walker that collects tables and
 * functions, the per-statement dispatcher, the nesting guards and the result's arena.
 * Names here point into the unpacked parse tree until classify.c copies them out. */
#ifndef PGT_ROUTING_CLASSIFY_INTERNAL_H
#define PGT_ROUTING_CLASSIFY_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <pg_query/pg_query.pb-c.h>

#include "routing/classify.h"

/* protobuf-c hands out "" for absent strings; the classifier speaks NULL. */
static inline const char *classify_nz(const char *s) { return (s && *s) ? s : NULL; }

/* ---- arena: every string and array of one classify_result lives here */
typedef struct classify_arena classify_arena;
CLASSIFY_MUST_CHECK void *classify_arena_alloc(classify_arena *a, size_t size);
CLASSIFY_MUST_CHECK char *classify_arena_strdup(classify_arena *a, const char *s);

/* ---- walker */
typedef enum classify_role {
    CLASSIFY_ROLE_READ,
    CLASSIFY_ROLE_WRITE,
} classify_role;

typedef struct classify_names {
    classify_name *v;
    size_t n, cap;
} classify_names;

typedef struct classify_walk {
    classify_names reads, writes, funcs;
    const char **scope; /* CTE names visible here, innermost last */
    size_t n_scope, cap_scope;
    unsigned depth;
    bool has_dml;     /* an INSERT/UPDATE/DELETE/MERGE was seen anywhere */
    bool has_locking; /* a FOR UPDATE/SHARE clause was seen anywhere */
    bool has_into;    /* SELECT ... INTO, on whichever branch of a set operation */
    bool volatile_calls;
    bool oom;
    bool too_deep; /* defensive: the guards should have stopped such input earlier */
} classify_walk;

void classify_walk_init(classify_walk *w);
void classify_walk_reset(classify_walk *w); /* forget one statement's findings */
void classify_walk_fini(classify_walk *w);

/* Visits a subtree: RangeVars are recorded under `role` unless a construct on the way says
 * otherwise (a SELECT's FROM is always read, a DML target always written). */
void classify_walk_node(classify_walk *w, const PgQuery__Node *n, classify_role role);
void classify_walk_msg(classify_walk *w, const ProtobufCMessage *m, classify_role role);
void classify_walk_table(classify_walk *w, const PgQuery__RangeVar *rv, classify_role role);
/* Records a qualified name given as a list of String nodes (DROP TABLE a.b, COMMENT ON). */
void classify_walk_name_list(classify_walk *w, PgQuery__Node *const *items, size_t n,
                             classify_role role);

/* ---- per-statement dispatch: fills kind and details in `st` (strings still point into
 * the tree) and the walker's lists; `arena` holds the INSERT and UPDATE column arrays. */
CLASSIFY_MUST_CHECK bool classify_dispatch(classify_walk *w, classify_arena *arena,
                                           const PgQuery__Node *stmt, classify_stmt *st);

/* ---- SET lists (classify_update.c): describes the ResTargets of an UPDATE or of ON
 * CONFLICT DO UPDATE into `up`; the column array lives in `arena`, the names in the tree. */
CLASSIFY_MUST_CHECK bool classify_describe_set_list(classify_arena *arena, classify_update *up,
                                                    PgQuery__Node *const *targets, size_t n);

/* ---- guards against input that would overflow the C stack in libpg_query, protobuf-c or
 * the walker: all three recurse once per level of the tree. */
#define CLASSIFY_MAX_TREE_DEPTH 2000u  /* message nesting levels in the protobuf tree */
#define CLASSIFY_MAX_EXPR_CHAIN 5000u  /* estimated expression nesting before parsing */

/* Upper estimate of how deeply libpg_query would nest the tree for `sql` (from its token
 * stream; cheap to skip for short input). False when too deep to hand to the parser. */
bool classify_guard_text(const char *sql, size_t len);
/* Exact protobuf message nesting of a serialized parse tree, without recursion. False when
 * deeper than CLASSIFY_MAX_TREE_DEPTH or malformed. */
bool classify_guard_tree(const unsigned char *buf, size_t len);

/* One protobuf varint from buf[*pos, end), advancing *pos; false when truncated. */
bool classify_read_varint(const unsigned char *buf, size_t end, size_t *pos, uint64_t *out);

#endif
