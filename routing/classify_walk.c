/* The parse-tree walker: collects the tables a statement reads and writes and the functions
 * it calls, honouring CTE scopes and locking clauses. Nodes it has no rule for are walked
 * field by field through protobuf-c's descriptors, so a subquery anywhere is found. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "routing/classify_internal.h"

/* The guards bound the tree to CLASSIFY_MAX_TREE_DEPTH message levels; this is a second
 * line of defence for the walker's own recursion (two frames per level at most). */
#define WALK_MAX_DEPTH (2u * CLASSIFY_MAX_TREE_DEPTH + 64u)

void classify_walk_init(classify_walk *w) { memset(w, 0, sizeof *w); }

void classify_walk_reset(classify_walk *w)
{
    w->reads.n = w->writes.n = w->funcs.n = 0;
    w->n_scope = 0;
    w->depth = 0;
    w->has_dml = w->has_locking = w->has_into = w->volatile_calls = false;
    w->too_deep = false;
    /* oom stays: the caller gives up on the whole result */
}

void classify_walk_fini(classify_walk *w)
{
    free(w->reads.v);
    free(w->writes.v);
    free(w->funcs.v);
    free(w->scope);
    memset(w, 0, sizeof *w);
}

static bool str_eq(const char *a, const char *b)
{
    if (!a || !b)
        return a == b;
    return strcmp(a, b) == 0;
}

static void names_add(classify_walk *w, classify_names *l, const char *schema, const char *name)
{
    if (!name)
        return;
    /* Linear: a statement names few distinct objects, and arrays keep first-seen order. */
    for (size_t i = 0; i < l->n; i++)
        if (str_eq(l->v[i].name, name) && str_eq(l->v[i].schema, schema))
            return;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        classify_name *v = realloc(l->v, cap * sizeof *v);
        if (!v) {
            w->oom = true;
            return;
        }
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n].schema = schema;
    l->v[l->n].name = name;
    l->n++;
}

/* ---- CTE scopes */

static bool scope_has(const classify_walk *w, const char *name)
{
    for (size_t i = w->n_scope; i-- > 0;)
        if (strcmp(w->scope[i], name) == 0)
            return true;
    return false;
}

static void scope_push(classify_walk *w, const char *name)
{
    if (!name)
        return;
    if (w->n_scope == w->cap_scope) {
        size_t cap = w->cap_scope ? w->cap_scope * 2 : 8;
        const char **v = realloc(w->scope, cap * sizeof *v);
        if (!v) {
            w->oom = true;
            return;
        }
        w->scope = v;
        w->cap_scope = cap;
    }
    w->scope[w->n_scope++] = name;
}

static const char *cte_name(const PgQuery__Node *n)
{
    if (!n || n->node_case != PG_QUERY__NODE__NODE_COMMON_TABLE_EXPR)
        return NULL;
    return classify_nz(n->common_table_expr->ctename);
}

/* Brings a WITH clause's names into scope, walking each CTE body with the names it can see:
 * under RECURSIVE every name of the list (itself included), otherwise the earlier ones
 * only, so `WITH users AS (SELECT * FROM users)` still reads the real table. Returns the
 * mark to restore with scope_leave. */
static size_t scope_enter(classify_walk *w, const PgQuery__WithClause *wc)
{
    size_t mark = w->n_scope;
    if (!wc)
        return mark;
    if (wc->recursive)
        for (size_t i = 0; i < wc->n_ctes; i++)
            scope_push(w, cte_name(wc->ctes[i]));
    for (size_t i = 0; i < wc->n_ctes; i++) {
        const PgQuery__Node *c = wc->ctes[i];
        if (!c || c->node_case != PG_QUERY__NODE__NODE_COMMON_TABLE_EXPR)
            continue;
        classify_walk_node(w, c->common_table_expr->ctequery, CLASSIFY_ROLE_READ);
        if (!wc->recursive)
            scope_push(w, cte_name(c));
    }
    return mark;
}

/* Names only, for re-examining a subquery's FROM after its bodies were already walked. */
static size_t scope_enter_names(classify_walk *w, const PgQuery__WithClause *wc)
{
    size_t mark = w->n_scope;
    if (wc)
        for (size_t i = 0; i < wc->n_ctes; i++)
            scope_push(w, cte_name(wc->ctes[i]));
    return mark;
}

static void scope_leave(classify_walk *w, size_t mark) { w->n_scope = mark; }

/* ---- leaves */

void classify_walk_table(classify_walk *w, const PgQuery__RangeVar *rv, classify_role role)
{
    if (!rv || !classify_nz(rv->relname))
        return;
    const char *schema = classify_nz(rv->schemaname);
    /* Only an unqualified read can mean a CTE: DML targets are always real tables. */
    if (role == CLASSIFY_ROLE_READ && !schema && !classify_nz(rv->catalogname) &&
        scope_has(w, rv->relname))
        return;
    names_add(w, role == CLASSIFY_ROLE_WRITE ? &w->writes : &w->reads, schema, rv->relname);
}

static const char *string_of(const PgQuery__Node *n)
{
    if (!n || n->node_case != PG_QUERY__NODE__NODE_STRING || !n->string)
        return NULL;
    return classify_nz(n->string->sval);
}

void classify_walk_name_list(classify_walk *w, PgQuery__Node *const *items, size_t n,
                             classify_role role)
{
    if (n == 0)
        return;
    const char *name = string_of(items[n - 1]);
    const char *schema = n >= 2 ? string_of(items[n - 2]) : NULL;
    names_add(w, role == CLASSIFY_ROLE_WRITE ? &w->writes : &w->reads, schema, name);
}

/* Functions whose result differs between two databases running the same statement. The
 * name alone decides, whatever the schema: a false alarm only costs a row-image mirror. */
static const char *const volatile_funcs[] = {
    "now", "clock_timestamp", "statement_timestamp", "transaction_timestamp", "timeofday",
    "random", "setseed", "nextval", "setval", "currval", "lastval", "gen_random_uuid",
    "uuid_generate_v1", "uuid_generate_v1mc", "uuid_generate_v4", "txid_current",
    "txid_current_if_assigned", "pg_current_xact_id", "pg_current_xact_id_if_assigned",
    "pg_backend_pid",
};

static bool is_volatile_func(const char *name)
{
    for (size_t i = 0; i < sizeof volatile_funcs / sizeof volatile_funcs[0]; i++)
        if (strcmp(name, volatile_funcs[i]) == 0)
            return true;
    return false;
}

static void visit_func_call(classify_walk *w, const PgQuery__FuncCall *fc)
{
    if (fc->n_funcname > 0) {
        const char *name = string_of(fc->funcname[fc->n_funcname - 1]);
        const char *schema = fc->n_funcname >= 2 ? string_of(fc->funcname[fc->n_funcname - 2])
                                                 : NULL;
        names_add(w, &w->funcs, schema, name);
        if (name && is_volatile_func(name))
            w->volatile_calls = true;
    }
}

static const char *sql_value_function_name(PgQuery__SQLValueFunctionOp op)
{
    switch (op) {
    case PG_QUERY__SQLVALUE_FUNCTION_OP__SVFOP_CURRENT_DATE: return "current_date";
    case PG_QUERY__SQLVALUE_FUNCTION_OP__SVFOP_CURRENT_TIME:
    case PG_QUERY__SQLVALUE_FUNCTION_OP__SVFOP_CURRENT_TIME_N: return "current_time";
    case PG_QUERY__SQLVALUE_FUNCTION_OP__SVFOP_CURRENT_TIMESTAMP:
    case PG_QUERY__SQLVALUE_FUNCTION_OP__SVFOP_CURRENT_TIMESTAMP_N: return "current_timestamp";
    case PG_QUERY__SQLVALUE_FUNCTION_OP__SVFOP_LOCALTIME:
    case PG_QUERY__SQLVALUE_FUNCTION_OP__SVFOP_LOCALTIME_N: return "localtime";
    case PG_QUERY__SQLVALUE_FUNCTION_OP__SVFOP_LOCALTIMESTAMP:
    case PG_QUERY__SQLVALUE_FUNCTION_OP__SVFOP_LOCALTIMESTAMP_N: return "localtimestamp";
    case PG_QUERY__SQLVALUE_FUNCTION_OP__SVFOP_CURRENT_ROLE: return "current_role";
    case PG_QUERY__SQLVALUE_FUNCTION_OP__SVFOP_CURRENT_USER: return "current_user";
    case PG_QUERY__SQLVALUE_FUNCTION_OP__SVFOP_USER: return "user";
    case PG_QUERY__SQLVALUE_FUNCTION_OP__SVFOP_SESSION_USER: return "session_user";
    case PG_QUERY__SQLVALUE_FUNCTION_OP__SVFOP_CURRENT_CATALOG: return "current_catalog";
    case PG_QUERY__SQLVALUE_FUNCTION_OP__SVFOP_CURRENT_SCHEMA: return "current_schema";
    default: return NULL;
    }
}

/* 'now' and friends become a timestamp when PostgreSQL casts the constant, which happens at
 * run time on each database; the cast may be implicit (inserting into a timestamptz
 * column), so any string constant that is exactly such a word counts. */
static bool is_time_word(const char *s)
{
    static const char *const words[] = {"now", "today", "tomorrow", "yesterday"};
    while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r'))
        n--;
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
        const char *word = words[i];
        if (strlen(word) != n)
            continue;
        size_t k = 0;
        while (k < n && (s[k] | 0x20) == word[k])
            k++;
        if (k == n)
            return true;
    }
    return false;
}

/* ---- generic descent */

static bool is_skipped(size_t offset, const size_t *skip, size_t n_skip)
{
    for (size_t i = 0; i < n_skip; i++)
        if (skip[i] == offset)
            return true;
    return false;
}

/* Visits every message-typed field of `m` except those at the given struct offsets. */
static void walk_fields(classify_walk *w, const ProtobufCMessage *m, classify_role role,
                        const size_t *skip, size_t n_skip)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;
    const char *base = (const char *)m;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (f->type != PROTOBUF_C_TYPE_MESSAGE || is_skipped(f->offset, skip, n_skip))
            continue;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n;
            ProtobufCMessage *const *v;
            memcpy(&n, base + f->quantifier_offset, sizeof n);
            memcpy(&v, base + f->offset, sizeof v);
            for (size_t k = 0; k < n; k++)
                if (v[k])
                    classify_walk_msg(w, v[k], role);
        } else {
            if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
                uint32_t which;
                memcpy(&which, base + f->quantifier_offset, sizeof which);
                if (which != f->id)
                    continue;
            }
            const ProtobufCMessage *sub;
            memcpy(&sub, base + f->offset, sizeof sub);
            if (sub)
                classify_walk_msg(w, sub, role);
        }
    }
}

#define SKIP(...) ((const size_t[]){__VA_ARGS__}), (sizeof((const size_t[]){__VA_ARGS__}) / sizeof(size_t))

/* ---- locking clauses */

static void lock_select(classify_walk *w, const PgQuery__SelectStmt *s);

/* FOR UPDATE locks the tables of its own query level: the FROM list, through joins and
 * subqueries in FROM, but not subqueries in expressions. With OF, only the FROM items whose
 * reference name (alias, else table name) is listed. */
static void lock_from_item(classify_walk *w, const PgQuery__Node *n, const char *only)
{
    if (!n)
        return;
    switch (n->node_case) {
    case PG_QUERY__NODE__NODE_RANGE_VAR: {
        const PgQuery__RangeVar *rv = n->range_var;
        if (!classify_nz(rv->schemaname) && scope_has(w, rv->relname))
            return; /* PostgreSQL refuses to lock a CTE; nothing of ours to record */
        const char *ref = rv->alias ? classify_nz(rv->alias->aliasname) : NULL;
        if (!ref)
            ref = rv->relname;
        if (!only || str_eq(only, ref))
            classify_walk_table(w, rv, CLASSIFY_ROLE_WRITE);
        return;
    }
    case PG_QUERY__NODE__NODE_RANGE_TABLE_SAMPLE:
        lock_from_item(w, n->range_table_sample->relation, only);
        return;
    case PG_QUERY__NODE__NODE_JOIN_EXPR: {
        const PgQuery__JoinExpr *j = n->join_expr;
        if (only && j->alias && str_eq(only, classify_nz(j->alias->aliasname)))
            only = NULL;
        lock_from_item(w, j->larg, only);
        lock_from_item(w, j->rarg, only);
        return;
    }
    case PG_QUERY__NODE__NODE_RANGE_SUBSELECT: {
        const PgQuery__RangeSubselect *rs = n->range_subselect;
        const char *ref = rs->alias ? classify_nz(rs->alias->aliasname) : NULL;
        if ((!only || str_eq(only, ref)) && rs->subquery &&
            rs->subquery->node_case == PG_QUERY__NODE__NODE_SELECT_STMT)
            lock_select(w, rs->subquery->select_stmt);
        return;
    }
    default:
        return; /* functions, VALUES, XMLTABLE: no table rows to lock */
    }
}

static void lock_select(classify_walk *w, const PgQuery__SelectStmt *s)
{
    if (!s)
        return;
    size_t mark = scope_enter_names(w, s->with_clause);
    if (s->larg || s->rarg) {
        lock_select(w, s->larg);
        lock_select(w, s->rarg);
    }
    for (size_t i = 0; i < s->n_from_clause; i++)
        lock_from_item(w, s->from_clause[i], NULL);
    scope_leave(w, mark);
}

static void apply_locking(classify_walk *w, const PgQuery__SelectStmt *s,
                          const PgQuery__LockingClause *lc)
{
    w->has_locking = true;
    if (lc->n_locked_rels == 0) {
        for (size_t i = 0; i < s->n_from_clause; i++)
            lock_from_item(w, s->from_clause[i], NULL);
        return;
    }
    for (size_t k = 0; k < lc->n_locked_rels; k++) {
        const PgQuery__Node *r = lc->locked_rels[k];
        if (!r || r->node_case != PG_QUERY__NODE__NODE_RANGE_VAR)
            continue;
        const char *only = classify_nz(r->range_var->relname);
        if (!only)
            continue;
        for (size_t i = 0; i < s->n_from_clause; i++)
            lock_from_item(w, s->from_clause[i], only);
    }
}

/* ---- statements with their own scoping rules */

static void walk_select(classify_walk *w, const PgQuery__SelectStmt *s)
{
    size_t mark = scope_enter(w, s->with_clause);
    walk_fields(w, &s->base, CLASSIFY_ROLE_READ,
                SKIP(offsetof(PgQuery__SelectStmt, with_clause),
                     offsetof(PgQuery__SelectStmt, into_clause),
                     offsetof(PgQuery__SelectStmt, locking_clause)));
    if (s->into_clause) {
        w->has_into = true;
        classify_walk_table(w, s->into_clause->rel, CLASSIFY_ROLE_WRITE);
    }
    for (size_t i = 0; i < s->n_locking_clause; i++) {
        const PgQuery__Node *n = s->locking_clause[i];
        if (n && n->node_case == PG_QUERY__NODE__NODE_LOCKING_CLAUSE)
            apply_locking(w, s, n->locking_clause);
    }
    scope_leave(w, mark);
}

static void walk_insert(classify_walk *w, const PgQuery__InsertStmt *s)
{
    w->has_dml = true;
    size_t mark = scope_enter(w, s->with_clause);
    classify_walk_table(w, s->relation, CLASSIFY_ROLE_WRITE);
    walk_fields(w, &s->base, CLASSIFY_ROLE_READ,
                SKIP(offsetof(PgQuery__InsertStmt, with_clause),
                     offsetof(PgQuery__InsertStmt, relation)));
    scope_leave(w, mark);
}

static void walk_update(classify_walk *w, const PgQuery__UpdateStmt *s)
{
    w->has_dml = true;
    size_t mark = scope_enter(w, s->with_clause);
    classify_walk_table(w, s->relation, CLASSIFY_ROLE_WRITE);
    walk_fields(w, &s->base, CLASSIFY_ROLE_READ,
                SKIP(offsetof(PgQuery__UpdateStmt, with_clause),
                     offsetof(PgQuery__UpdateStmt, relation)));
    scope_leave(w, mark);
}

static void walk_delete(classify_walk *w, const PgQuery__DeleteStmt *s)
{
    w->has_dml = true;
    size_t mark = scope_enter(w, s->with_clause);
    classify_walk_table(w, s->relation, CLASSIFY_ROLE_WRITE);
    walk_fields(w, &s->base, CLASSIFY_ROLE_READ,
                SKIP(offsetof(PgQuery__DeleteStmt, with_clause),
                     offsetof(PgQuery__DeleteStmt, relation)));
    scope_leave(w, mark);
}

static void walk_merge(classify_walk *w, const PgQuery__MergeStmt *s)
{
    w->has_dml = true;
    size_t mark = scope_enter(w, s->with_clause);
    classify_walk_table(w, s->relation, CLASSIFY_ROLE_WRITE);
    walk_fields(w, &s->base, CLASSIFY_ROLE_READ,
                SKIP(offsetof(PgQuery__MergeStmt, with_clause),
                     offsetof(PgQuery__MergeStmt, relation)));
    scope_leave(w, mark);
}

/* ---- dispatch by message type */

void classify_walk_node(classify_walk *w, const PgQuery__Node *n, classify_role role)
{
    if (n)
        classify_walk_msg(w, &n->base, role);
}

void classify_walk_msg(classify_walk *w, const ProtobufCMessage *m, classify_role role)
{
    if (!m || w->oom)
        return;
    if (w->depth >= WALK_MAX_DEPTH) {
        w->too_deep = true;
        return;
    }
    w->depth++;
    const ProtobufCMessageDescriptor *d = m->descriptor;

    if (d == &pg_query__node__descriptor) {
        /* Node is a oneof whose members are all message pointers sharing one offset. */
        const PgQuery__Node *n = (const PgQuery__Node *)m;
        if (n->node_case != PG_QUERY__NODE__NODE__NOT_SET && d->n_fields > 0) {
            const ProtobufCMessage *sub;
            memcpy(&sub, (const char *)m + d->fields[0].offset, sizeof sub);
            classify_walk_msg(w, sub, role);
        }
    } else if (d == &pg_query__range_var__descriptor) {
        classify_walk_table(w, (const PgQuery__RangeVar *)m, role);
    } else if (d == &pg_query__func_call__descriptor) {
        visit_func_call(w, (const PgQuery__FuncCall *)m);
        walk_fields(w, m, role, SKIP(offsetof(PgQuery__FuncCall, funcname)));
    } else if (d == &pg_query__sqlvalue_function__descriptor) {
        const PgQuery__SQLValueFunction *f = (const PgQuery__SQLValueFunction *)m;
        names_add(w, &w->funcs, NULL, sql_value_function_name(f->op));
        w->volatile_calls = true;
    } else if (d == &pg_query__a__const__descriptor) {
        const PgQuery__AConst *c = (const PgQuery__AConst *)m;
        if (c->val_case == PG_QUERY__A__CONST__VAL_SVAL && c->sval && c->sval->sval &&
            is_time_word(c->sval->sval))
            w->volatile_calls = true;
    } else if (d == &pg_query__select_stmt__descriptor) {
        walk_select(w, (const PgQuery__SelectStmt *)m);
    } else if (d == &pg_query__insert_stmt__descriptor) {
        walk_insert(w, (const PgQuery__InsertStmt *)m);
    } else if (d == &pg_query__update_stmt__descriptor) {
        walk_update(w, (const PgQuery__UpdateStmt *)m);
    } else if (d == &pg_query__delete_stmt__descriptor) {
        walk_delete(w, (const PgQuery__DeleteStmt *)m);
    } else if (d == &pg_query__merge_stmt__descriptor) {
        walk_merge(w, (const PgQuery__MergeStmt *)m);
    } else if (d == &pg_query__locking_clause__descriptor) {
        /* Only a SELECT can carry one; its OF list names aliases, not tables. */
        w->has_locking = true;
    } else if (d == &pg_query__into_clause__descriptor) {
        classify_walk_table(w, ((const PgQuery__IntoClause *)m)->rel, CLASSIFY_ROLE_WRITE);
    } else if (d == &pg_query__constraint__descriptor) {
        /* REFERENCES users(id): the referenced table is read, not changed. */
        classify_walk_table(w, ((const PgQuery__Constraint *)m)->pktable, CLASSIFY_ROLE_READ);
        walk_fields(w, m, role, SKIP(offsetof(PgQuery__Constraint, pktable)));
    } else if (d == &pg_query__table_like_clause__descriptor) {
        classify_walk_table(w, ((const PgQuery__TableLikeClause *)m)->relation,
                            CLASSIFY_ROLE_READ);
    } else if (d == &pg_query__create_stmt__descriptor) {
        const PgQuery__CreateStmt *c = (const PgQuery__CreateStmt *)m;
        for (size_t i = 0; i < c->n_inh_relations; i++)
            classify_walk_node(w, c->inh_relations[i], CLASSIFY_ROLE_READ);
        walk_fields(w, m, role, SKIP(offsetof(PgQuery__CreateStmt, inh_relations)));
    } else if (d == &pg_query__create_trig_stmt__descriptor) {
        const PgQuery__CreateTrigStmt *t = (const PgQuery__CreateTrigStmt *)m;
        classify_walk_table(w, t->constrrel, CLASSIFY_ROLE_READ);
        walk_fields(w, m, role, SKIP(offsetof(PgQuery__CreateTrigStmt, constrrel)));
    } else if (d == &pg_query__create_function_stmt__descriptor) {
        /* A BEGIN ATOMIC body runs later, when called: creating it touches no table. */
        walk_fields(w, m, role, SKIP(offsetof(PgQuery__CreateFunctionStmt, sql_body)));
    } else if (d == &pg_query__rule_stmt__descriptor) {
        /* Likewise a rule's actions run when the rule fires. */
        walk_fields(w, m, role, SKIP(offsetof(PgQuery__RuleStmt, actions)));
    } else {
        walk_fields(w, m, role, NULL, 0);
    }
    w->depth--;
}
