/* Per-statement classification: maps one parsed statement to its kind and sub-kind, fills
 * the transaction/session/utility details, the INSERT shape and the UPDATE SET list, and
 * runs the walker over the parts whose tables and functions matter. */
#include <string.h>

#include "routing/classify_internal.h"

static bool ascii_ieq(const char *a, const char *b)
{
    for (; *a && *b; a++, b++) {
        char x = (*a >= 'A' && *a <= 'Z') ? (char)(*a + 32) : *a;
        char y = (*b >= 'A' && *b <= 'Z') ? (char)(*b + 32) : *b;
        if (x != y)
            return false;
    }
    return *a == *b;
}

static const PgQuery__DefElem *def_elem(const PgQuery__Node *n)
{
    return (n && n->node_case == PG_QUERY__NODE__NODE_DEF_ELEM) ? n->def_elem : NULL;
}

/* EXPLAIN's boolean options, read the way PostgreSQL's defGetBoolean reads them. */
static bool def_bool(const PgQuery__DefElem *d)
{
    const PgQuery__Node *a = d->arg;
    if (!a)
        return true;
    switch (a->node_case) {
    case PG_QUERY__NODE__NODE_STRING:
        return a->string->sval &&
               (ascii_ieq(a->string->sval, "true") || ascii_ieq(a->string->sval, "on"));
    case PG_QUERY__NODE__NODE_INTEGER:
        return a->integer->ival != 0;
    case PG_QUERY__NODE__NODE_BOOLEAN:
        return a->boolean->boolval;
    default:
        return false;
    }
}

static const PgQuery__AConst *a_const(const PgQuery__Node *n)
{
    return (n && n->node_case == PG_QUERY__NODE__NODE_A_CONST) ? n->a_const : NULL;
}

static bool const_truthy(const PgQuery__Node *n)
{
    const PgQuery__AConst *c = a_const(n);
    if (!c)
        return false;
    if (c->val_case == PG_QUERY__A__CONST__VAL_IVAL)
        return c->ival && c->ival->ival != 0;
    if (c->val_case == PG_QUERY__A__CONST__VAL_BOOLVAL)
        return c->boolval && c->boolval->boolval;
    return false;
}

/* Transaction modes of BEGIN/START TRANSACTION/SET TRANSACTION/SET SESSION
 * CHARACTERISTICS, which the grammar turns into DefElems. */
static void tx_modes(classify_stmt *st, PgQuery__Node *const *opts, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const PgQuery__DefElem *d = def_elem(opts[i]);
        if (!d || !d->defname)
            continue;
        if (strcmp(d->defname, "transaction_isolation") == 0) {
            const PgQuery__AConst *c = a_const(d->arg);
            const char *v = (c && c->val_case == PG_QUERY__A__CONST__VAL_SVAL && c->sval)
                                ? c->sval->sval
                                : NULL;
            if (!v)
                continue;
            if (ascii_ieq(v, "read uncommitted"))
                st->isolation = CLASSIFY_ISO_READ_UNCOMMITTED;
            else if (ascii_ieq(v, "read committed"))
                st->isolation = CLASSIFY_ISO_READ_COMMITTED;
            else if (ascii_ieq(v, "repeatable read"))
                st->isolation = CLASSIFY_ISO_REPEATABLE_READ;
            else if (ascii_ieq(v, "serializable"))
                st->isolation = CLASSIFY_ISO_SERIALIZABLE;
        } else if (strcmp(d->defname, "transaction_read_only") == 0) {
            st->access = const_truthy(d->arg) ? CLASSIFY_ACCESS_READ_ONLY
                                              : CLASSIFY_ACCESS_READ_WRITE;
        } else if (strcmp(d->defname, "transaction_deferrable") == 0) {
            st->deferrable = const_truthy(d->arg);
        }
    }
}

static void set_target(classify_stmt *st, const PgQuery__RangeVar *rv)
{
    if (!rv)
        return;
    st->target.schema = classify_nz(rv->schemaname);
    st->target.name = classify_nz(rv->relname);
}

/* Only the first statement-level DML is described: with EXPLAIN or PREPARE that is the
 * inner statement, and DML inside WITH never gets here. */
static bool describe_insert(classify_arena *arena, classify_stmt *st,
                            const PgQuery__InsertStmt *s)
{
    if (st->target.name)
        return true;
    set_target(st, s->relation);
    st->dml = CLASSIFY_DML_INSERT;
    st->returning = s->n_returning_list > 0;
    classify_insert *ins = &st->insert;
    ins->present = true;
    if (s->n_cols > 0) {
        const char **cols = classify_arena_alloc(arena, s->n_cols * sizeof *cols);
        if (!cols)
            return false;
        size_t n = 0;
        for (size_t i = 0; i < s->n_cols; i++) {
            const PgQuery__Node *c = s->cols[i];
            if (c && c->node_case == PG_QUERY__NODE__NODE_RES_TARGET &&
                classify_nz(c->res_target->name))
                cols[n++] = c->res_target->name;
        }
        ins->columns = cols;
        ins->n_columns = n;
    }
    const PgQuery__Node *src = s->select_stmt;
    if (!src) {
        ins->default_values = true;
    } else if (src->node_case == PG_QUERY__NODE__NODE_SELECT_STMT) {
        const PgQuery__SelectStmt *sel = src->select_stmt;
        bool plain = sel->op == PG_QUERY__SET_OPERATION__SETOP_NONE ||
                     sel->op == PG_QUERY__SET_OPERATION__SET_OPERATION_UNDEFINED;
        if (plain && sel->n_values_lists > 0) {
            ins->n_values_rows = sel->n_values_lists;
            for (size_t r = 0; r < sel->n_values_lists && !ins->uses_default; r++) {
                const PgQuery__Node *row = sel->values_lists[r];
                if (!row || row->node_case != PG_QUERY__NODE__NODE_LIST)
                    continue;
                for (size_t k = 0; k < row->list->n_items; k++) {
                    const PgQuery__Node *item = row->list->items[k];
                    if (item && item->node_case == PG_QUERY__NODE__NODE_SET_TO_DEFAULT)
                        ins->uses_default = true;
                }
            }
        } else {
            ins->from_select = true;
        }
    }
    if (s->on_conflict_clause) {
        switch (s->on_conflict_clause->action) {
        case PG_QUERY__ON_CONFLICT_ACTION__ONCONFLICT_NOTHING:
            ins->on_conflict = CLASSIFY_ON_CONFLICT_NOTHING;
            break;
        case PG_QUERY__ON_CONFLICT_ACTION__ONCONFLICT_UPDATE:
            ins->on_conflict = CLASSIFY_ON_CONFLICT_UPDATE;
            return classify_describe_set_list(arena, &st->update,
                                              s->on_conflict_clause->target_list,
                                              s->on_conflict_clause->n_target_list);
        default:
            break;
        }
    }
    return true;
}

/* What a query did, judged from everything the walker saw in it. */
static classify_kind query_kind(const classify_walk *w)
{
    if (w->has_dml)
        return CLASSIFY_WRITE;
    if (w->has_locking)
        return CLASSIFY_LOCKING_READ;
    return CLASSIFY_READ;
}

static bool is_table_like(PgQuery__ObjectType t)
{
    return t == PG_QUERY__OBJECT_TYPE__OBJECT_TABLE || t == PG_QUERY__OBJECT_TYPE__OBJECT_VIEW ||
           t == PG_QUERY__OBJECT_TYPE__OBJECT_MATVIEW ||
           t == PG_QUERY__OBJECT_TYPE__OBJECT_FOREIGN_TABLE;
}

static const PgQuery__List *list_of(const PgQuery__Node *n)
{
    return (n && n->node_case == PG_QUERY__NODE__NODE_LIST) ? n->list : NULL;
}

static classify_kind dispatch_ddl_names(classify_walk *w, const PgQuery__Node *n)
{
    if (n->node_case == PG_QUERY__NODE__NODE_DROP_STMT) {
        const PgQuery__DropStmt *d = n->drop_stmt;
        if (is_table_like(d->remove_type))
            for (size_t i = 0; i < d->n_objects; i++) {
                const PgQuery__List *l = list_of(d->objects[i]);
                if (l)
                    classify_walk_name_list(w, l->items, l->n_items, CLASSIFY_ROLE_WRITE);
            }
    } else {
        const PgQuery__CommentStmt *c = n->comment_stmt;
        const PgQuery__List *l = list_of(c->object);
        if (l && is_table_like(c->objtype))
            classify_walk_name_list(w, l->items, l->n_items, CLASSIFY_ROLE_WRITE);
        else if (l && c->objtype == PG_QUERY__OBJECT_TYPE__OBJECT_COLUMN && l->n_items >= 2)
            classify_walk_name_list(w, l->items, l->n_items - 1, CLASSIFY_ROLE_WRITE);
    }
    return CLASSIFY_DDL;
}

static classify_kind dispatch(classify_walk *w, classify_arena *arena,
                              const PgQuery__Node *n, classify_stmt *st);

static classify_kind dispatch_tx(classify_stmt *st, const PgQuery__TransactionStmt *t)
{
    static const classify_tx_kind map[] = {
        [PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_BEGIN] = CLASSIFY_TX_BEGIN,
        [PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_START] = CLASSIFY_TX_BEGIN,
        [PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_COMMIT] = CLASSIFY_TX_COMMIT,
        [PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_ROLLBACK] = CLASSIFY_TX_ROLLBACK,
        [PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_SAVEPOINT] = CLASSIFY_TX_SAVEPOINT,
        [PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_RELEASE] = CLASSIFY_TX_RELEASE,
        [PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_ROLLBACK_TO] = CLASSIFY_TX_ROLLBACK_TO,
        [PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_PREPARE] = CLASSIFY_TX_PREPARE,
        [PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_COMMIT_PREPARED] =
            CLASSIFY_TX_COMMIT_PREPARED,
        [PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_ROLLBACK_PREPARED] =
            CLASSIFY_TX_ROLLBACK_PREPARED,
    };
    if ((unsigned)t->kind >= sizeof map / sizeof map[0] || map[t->kind] == CLASSIFY_TX_NONE)
        return CLASSIFY_UNKNOWN;
    st->tx = map[t->kind];
    st->chain = t->chain;
    st->name = classify_nz(t->savepoint_name) ? t->savepoint_name : classify_nz(t->gid);
    tx_modes(st, t->options, t->n_options);
    return CLASSIFY_TX_CONTROL;
}

static classify_kind dispatch_set(classify_stmt *st, const PgQuery__VariableSetStmt *v)
{
    st->name = classify_nz(v->name);
    st->set_local = v->is_local;
    switch (v->kind) {
    case PG_QUERY__VARIABLE_SET_KIND__VAR_RESET:
    case PG_QUERY__VARIABLE_SET_KIND__VAR_RESET_ALL:
        st->session = CLASSIFY_SESSION_RESET;
        break;
    case PG_QUERY__VARIABLE_SET_KIND__VAR_SET_MULTI:
        tx_modes(st, v->args, v->n_args);
        st->session = CLASSIFY_SESSION_SET;
        break;
    default:
        st->session = CLASSIFY_SESSION_SET;
        break;
    }
    return CLASSIFY_SESSION;
}

static classify_kind dispatch_session(classify_walk *w, classify_arena *arena,
                                      const PgQuery__Node *n, classify_stmt *st)
{
    switch (n->node_case) {
    case PG_QUERY__NODE__NODE_VARIABLE_SET_STMT:
        return dispatch_set(st, n->variable_set_stmt);
    case PG_QUERY__NODE__NODE_DISCARD_STMT: {
        static const char *const modes[] = {"", "all", "plans", "sequences", "temp"};
        unsigned m = (unsigned)n->discard_stmt->target;
        st->session = CLASSIFY_SESSION_DISCARD;
        st->name = m < sizeof modes / sizeof modes[0] ? classify_nz(modes[m]) : NULL;
        break;
    }
    case PG_QUERY__NODE__NODE_PREPARE_STMT:
        st->session = CLASSIFY_SESSION_PREPARE;
        st->name = classify_nz(n->prepare_stmt->name);
        st->inner_kind = dispatch(w, arena, n->prepare_stmt->query, st);
        break;
    case PG_QUERY__NODE__NODE_EXECUTE_STMT:
        st->session = CLASSIFY_SESSION_EXECUTE;
        st->name = classify_nz(n->execute_stmt->name);
        classify_walk_node(w, n, CLASSIFY_ROLE_READ); /* parameters may call functions */
        break;
    case PG_QUERY__NODE__NODE_DEALLOCATE_STMT:
        st->session = CLASSIFY_SESSION_DEALLOCATE;
        st->name = classify_nz(n->deallocate_stmt->name);
        break;
    case PG_QUERY__NODE__NODE_LISTEN_STMT:
        st->session = CLASSIFY_SESSION_LISTEN;
        st->name = classify_nz(n->listen_stmt->conditionname);
        break;
    case PG_QUERY__NODE__NODE_UNLISTEN_STMT:
        st->session = CLASSIFY_SESSION_UNLISTEN;
        st->name = classify_nz(n->unlisten_stmt->conditionname);
        break;
    case PG_QUERY__NODE__NODE_NOTIFY_STMT:
        st->session = CLASSIFY_SESSION_NOTIFY;
        st->name = classify_nz(n->notify_stmt->conditionname);
        break;
    case PG_QUERY__NODE__NODE_LOAD_STMT:
        st->session = CLASSIFY_SESSION_LOAD;
        st->name = classify_nz(n->load_stmt->filename);
        break;
    case PG_QUERY__NODE__NODE_FETCH_STMT:
        st->session = n->fetch_stmt->ismove ? CLASSIFY_SESSION_MOVE : CLASSIFY_SESSION_FETCH;
        st->name = classify_nz(n->fetch_stmt->portalname);
        break;
    case PG_QUERY__NODE__NODE_CLOSE_PORTAL_STMT:
        st->session = CLASSIFY_SESSION_CLOSE;
        st->name = classify_nz(n->close_portal_stmt->portalname);
        break;
    case PG_QUERY__NODE__NODE_CONSTRAINTS_SET_STMT:
        st->session = CLASSIFY_SESSION_SET_CONSTRAINTS;
        break;
    default:
        return CLASSIFY_UNKNOWN;
    }
    return CLASSIFY_SESSION;
}

static classify_kind dispatch_utility(classify_walk *w, const PgQuery__Node *n,
                                      classify_stmt *st)
{
    switch (n->node_case) {
    case PG_QUERY__NODE__NODE_VACUUM_STMT:
        st->utility = n->vacuum_stmt->is_vacuumcmd ? CLASSIFY_UTILITY_VACUUM
                                                   : CLASSIFY_UTILITY_ANALYZE;
        break;
    case PG_QUERY__NODE__NODE_CHECK_POINT_STMT:
        st->utility = CLASSIFY_UTILITY_CHECKPOINT;
        break;
    case PG_QUERY__NODE__NODE_LOCK_STMT:
        st->utility = CLASSIFY_UTILITY_LOCK;
        break;
    case PG_QUERY__NODE__NODE_DO_STMT:
        st->utility = CLASSIFY_UTILITY_DO;
        st->opaque = true;
        return CLASSIFY_UTILITY; /* the body is PL/pgSQL text, not a tree */
    case PG_QUERY__NODE__NODE_CALL_STMT:
        st->utility = CLASSIFY_UTILITY_CALL;
        st->opaque = true;
        classify_walk_node(w, n, CLASSIFY_ROLE_READ);
        return CLASSIFY_UTILITY;
    case PG_QUERY__NODE__NODE_CLUSTER_STMT:
        st->utility = CLASSIFY_UTILITY_CLUSTER;
        break;
    case PG_QUERY__NODE__NODE_REINDEX_STMT:
        st->utility = CLASSIFY_UTILITY_REINDEX;
        /* REINDEX INDEX names an index, which is not a table. */
        if (n->reindex_stmt->kind != PG_QUERY__REINDEX_OBJECT_TYPE__REINDEX_OBJECT_TABLE)
            return CLASSIFY_UTILITY;
        break;
    case PG_QUERY__NODE__NODE_REFRESH_MAT_VIEW_STMT:
        st->utility = CLASSIFY_UTILITY_REFRESH_MATVIEW;
        break;
    default:
        return CLASSIFY_UNKNOWN;
    }
    /* Maintenance and LOCK act on the named tables where they live: record them written. */
    classify_walk_node(w, n, CLASSIFY_ROLE_WRITE);
    return CLASSIFY_UTILITY;
}

static bool is_ddl(PgQuery__Node__NodeCase c)
{
    switch (c) {
    case PG_QUERY__NODE__NODE_ALTER_TABLE_STMT:
    case PG_QUERY__NODE__NODE_ALTER_DOMAIN_STMT:
    case PG_QUERY__NODE__NODE_GRANT_STMT:
    case PG_QUERY__NODE__NODE_GRANT_ROLE_STMT:
    case PG_QUERY__NODE__NODE_ALTER_DEFAULT_PRIVILEGES_STMT:
    case PG_QUERY__NODE__NODE_CREATE_STMT:
    case PG_QUERY__NODE__NODE_DEFINE_STMT:
    case PG_QUERY__NODE__NODE_INDEX_STMT:
    case PG_QUERY__NODE__NODE_CREATE_FUNCTION_STMT:
    case PG_QUERY__NODE__NODE_ALTER_FUNCTION_STMT:
    case PG_QUERY__NODE__NODE_RENAME_STMT:
    case PG_QUERY__NODE__NODE_RULE_STMT:
    case PG_QUERY__NODE__NODE_VIEW_STMT:
    case PG_QUERY__NODE__NODE_CREATE_DOMAIN_STMT:
    case PG_QUERY__NODE__NODE_CREATEDB_STMT:
    case PG_QUERY__NODE__NODE_DROPDB_STMT:
    case PG_QUERY__NODE__NODE_CREATE_SEQ_STMT:
    case PG_QUERY__NODE__NODE_ALTER_SEQ_STMT:
    case PG_QUERY__NODE__NODE_CREATE_TRIG_STMT:
    case PG_QUERY__NODE__NODE_CREATE_PLANG_STMT:
    case PG_QUERY__NODE__NODE_CREATE_ROLE_STMT:
    case PG_QUERY__NODE__NODE_ALTER_ROLE_STMT:
    case PG_QUERY__NODE__NODE_DROP_ROLE_STMT:
    case PG_QUERY__NODE__NODE_CREATE_SCHEMA_STMT:
    case PG_QUERY__NODE__NODE_ALTER_DATABASE_STMT:
    case PG_QUERY__NODE__NODE_ALTER_DATABASE_REFRESH_COLL_STMT:
    case PG_QUERY__NODE__NODE_ALTER_DATABASE_SET_STMT:
    case PG_QUERY__NODE__NODE_ALTER_ROLE_SET_STMT:
    case PG_QUERY__NODE__NODE_CREATE_CONVERSION_STMT:
    case PG_QUERY__NODE__NODE_CREATE_CAST_STMT:
    case PG_QUERY__NODE__NODE_CREATE_OP_CLASS_STMT:
    case PG_QUERY__NODE__NODE_CREATE_OP_FAMILY_STMT:
    case PG_QUERY__NODE__NODE_ALTER_OP_FAMILY_STMT:
    case PG_QUERY__NODE__NODE_CREATE_TABLE_SPACE_STMT:
    case PG_QUERY__NODE__NODE_DROP_TABLE_SPACE_STMT:
    case PG_QUERY__NODE__NODE_ALTER_OBJECT_DEPENDS_STMT:
    case PG_QUERY__NODE__NODE_ALTER_OBJECT_SCHEMA_STMT:
    case PG_QUERY__NODE__NODE_ALTER_OWNER_STMT:
    case PG_QUERY__NODE__NODE_ALTER_OPERATOR_STMT:
    case PG_QUERY__NODE__NODE_ALTER_TYPE_STMT:
    case PG_QUERY__NODE__NODE_DROP_OWNED_STMT:
    case PG_QUERY__NODE__NODE_REASSIGN_OWNED_STMT:
    case PG_QUERY__NODE__NODE_COMPOSITE_TYPE_STMT:
    case PG_QUERY__NODE__NODE_CREATE_ENUM_STMT:
    case PG_QUERY__NODE__NODE_CREATE_RANGE_STMT:
    case PG_QUERY__NODE__NODE_ALTER_ENUM_STMT:
    case PG_QUERY__NODE__NODE_ALTER_TSDICTIONARY_STMT:
    case PG_QUERY__NODE__NODE_ALTER_TSCONFIGURATION_STMT:
    case PG_QUERY__NODE__NODE_CREATE_FDW_STMT:
    case PG_QUERY__NODE__NODE_ALTER_FDW_STMT:
    case PG_QUERY__NODE__NODE_CREATE_FOREIGN_SERVER_STMT:
    case PG_QUERY__NODE__NODE_ALTER_FOREIGN_SERVER_STMT:
    case PG_QUERY__NODE__NODE_CREATE_USER_MAPPING_STMT:
    case PG_QUERY__NODE__NODE_ALTER_USER_MAPPING_STMT:
    case PG_QUERY__NODE__NODE_DROP_USER_MAPPING_STMT:
    case PG_QUERY__NODE__NODE_ALTER_TABLE_SPACE_OPTIONS_STMT:
    case PG_QUERY__NODE__NODE_ALTER_TABLE_MOVE_ALL_STMT:
    case PG_QUERY__NODE__NODE_SEC_LABEL_STMT:
    case PG_QUERY__NODE__NODE_CREATE_FOREIGN_TABLE_STMT:
    case PG_QUERY__NODE__NODE_IMPORT_FOREIGN_SCHEMA_STMT:
    case PG_QUERY__NODE__NODE_CREATE_EXTENSION_STMT:
    case PG_QUERY__NODE__NODE_ALTER_EXTENSION_STMT:
    case PG_QUERY__NODE__NODE_ALTER_EXTENSION_CONTENTS_STMT:
    case PG_QUERY__NODE__NODE_CREATE_EVENT_TRIG_STMT:
    case PG_QUERY__NODE__NODE_ALTER_EVENT_TRIG_STMT:
    case PG_QUERY__NODE__NODE_REPLICA_IDENTITY_STMT:
    case PG_QUERY__NODE__NODE_ALTER_SYSTEM_STMT:
    case PG_QUERY__NODE__NODE_CREATE_POLICY_STMT:
    case PG_QUERY__NODE__NODE_ALTER_POLICY_STMT:
    case PG_QUERY__NODE__NODE_CREATE_TRANSFORM_STMT:
    case PG_QUERY__NODE__NODE_CREATE_AM_STMT:
    case PG_QUERY__NODE__NODE_CREATE_PUBLICATION_STMT:
    case PG_QUERY__NODE__NODE_ALTER_PUBLICATION_STMT:
    case PG_QUERY__NODE__NODE_CREATE_SUBSCRIPTION_STMT:
    case PG_QUERY__NODE__NODE_ALTER_SUBSCRIPTION_STMT:
    case PG_QUERY__NODE__NODE_DROP_SUBSCRIPTION_STMT:
    case PG_QUERY__NODE__NODE_CREATE_STATS_STMT:
    case PG_QUERY__NODE__NODE_ALTER_COLLATION_STMT:
    case PG_QUERY__NODE__NODE_ALTER_STATS_STMT:
        return true;
    default:
        return false;
    }
}

static classify_kind dispatch(classify_walk *w, classify_arena *arena,
                              const PgQuery__Node *n, classify_stmt *st)
{
    if (!n)
        return CLASSIFY_UNKNOWN;
    switch (n->node_case) {
    case PG_QUERY__NODE__NODE_SELECT_STMT:
        st->ordered = n->select_stmt->n_sort_clause > 0;
        classify_walk_node(w, n, CLASSIFY_ROLE_READ);
        return w->has_into ? CLASSIFY_DDL : query_kind(w);
    case PG_QUERY__NODE__NODE_INSERT_STMT:
        if (!describe_insert(arena, st, n->insert_stmt))
            w->oom = true;
        classify_walk_node(w, n, CLASSIFY_ROLE_READ);
        return CLASSIFY_WRITE;
    case PG_QUERY__NODE__NODE_UPDATE_STMT:
        if (!st->target.name) {
            const PgQuery__UpdateStmt *u = n->update_stmt;
            set_target(st, u->relation);
            st->dml = CLASSIFY_DML_UPDATE;
            st->returning = u->n_returning_list > 0;
            if (!classify_describe_set_list(arena, &st->update, u->target_list,
                                            u->n_target_list))
                w->oom = true;
        }
        classify_walk_node(w, n, CLASSIFY_ROLE_READ);
        return CLASSIFY_WRITE;
    case PG_QUERY__NODE__NODE_DELETE_STMT:
        if (!st->target.name) {
            set_target(st, n->delete_stmt->relation);
            st->dml = CLASSIFY_DML_DELETE;
            st->returning = n->delete_stmt->n_returning_list > 0;
        }
        classify_walk_node(w, n, CLASSIFY_ROLE_READ);
        return CLASSIFY_WRITE;
    case PG_QUERY__NODE__NODE_MERGE_STMT:
        if (!st->target.name) {
            set_target(st, n->merge_stmt->relation);
            st->dml = CLASSIFY_DML_MERGE;
        }
        classify_walk_node(w, n, CLASSIFY_ROLE_READ);
        return CLASSIFY_WRITE;
    case PG_QUERY__NODE__NODE_COPY_STMT: {
        const PgQuery__CopyStmt *c = n->copy_stmt;
        st->copy = c->is_from ? CLASSIFY_COPY_FROM : CLASSIFY_COPY_TO;
        if (c->relation) {
            if (!st->target.name) {
                set_target(st, c->relation);
                st->dml = CLASSIFY_DML_COPY;
            }
            classify_walk_table(w, c->relation,
                                c->is_from ? CLASSIFY_ROLE_WRITE : CLASSIFY_ROLE_READ);
            classify_walk_node(w, c->where_clause, CLASSIFY_ROLE_READ);
            return c->is_from ? CLASSIFY_WRITE : CLASSIFY_READ;
        }
        classify_walk_node(w, c->query, CLASSIFY_ROLE_READ);
        return query_kind(w);
    }
    case PG_QUERY__NODE__NODE_TRUNCATE_STMT:
        classify_walk_node(w, n, CLASSIFY_ROLE_WRITE);
        return CLASSIFY_WRITE;
    case PG_QUERY__NODE__NODE_EXPLAIN_STMT: {
        const PgQuery__ExplainStmt *e = n->explain_stmt;
        bool analyze = false;
        for (size_t i = 0; i < e->n_options; i++) {
            const PgQuery__DefElem *d = def_elem(e->options[i]);
            if (d && d->defname && strcmp(d->defname, "analyze") == 0)
                analyze = def_bool(d);
        }
        st->explain = true;
        st->inner_kind = dispatch(w, arena, e->query, st);
        return analyze ? st->inner_kind : CLASSIFY_READ;
    }
    case PG_QUERY__NODE__NODE_CREATE_TABLE_AS_STMT:
        classify_walk_node(w, n, CLASSIFY_ROLE_READ); /* into: written, query: read */
        return CLASSIFY_DDL;
    case PG_QUERY__NODE__NODE_DECLARE_CURSOR_STMT:
        st->name = classify_nz(n->declare_cursor_stmt->portalname);
        st->inner_kind = dispatch(w, arena, n->declare_cursor_stmt->query, st);
        return st->inner_kind;
    case PG_QUERY__NODE__NODE_VARIABLE_SHOW_STMT:
        st->name = classify_nz(n->variable_show_stmt->name);
        return CLASSIFY_READ;
    case PG_QUERY__NODE__NODE_TRANSACTION_STMT:
        return dispatch_tx(st, n->transaction_stmt);
    case PG_QUERY__NODE__NODE_DROP_STMT:
    case PG_QUERY__NODE__NODE_COMMENT_STMT:
        return dispatch_ddl_names(w, n);
    default:
        break;
    }
    if (is_ddl(n->node_case)) {
        classify_walk_node(w, n, CLASSIFY_ROLE_WRITE);
        return CLASSIFY_DDL;
    }
    classify_kind k = dispatch_session(w, arena, n, st);
    if (k == CLASSIFY_UNKNOWN)
        k = dispatch_utility(w, n, st);
    return k;
}

bool classify_dispatch(classify_walk *w, classify_arena *arena, const PgQuery__Node *stmt,
                       classify_stmt *st)
{
    st->kind = dispatch(w, arena, stmt, st);
    return !w->oom;
}
