/* The SET list of an UPDATE or of INSERT ... ON CONFLICT DO UPDATE: which columns it assigns
 * and whether any of them gets DEFAULT. The router needs both: a DEFAULT is evaluated by each
 * database on its own, like a function call the text does not show. */
#include "routing/classify_internal.h"

static bool is_default(const PgQuery__Node *n)
{
    return n && n->node_case == PG_QUERY__NODE__NODE_SET_TO_DEFAULT;
}

/* `SET (a, b) = (DEFAULT, 1)`: the parser gives each column a MultiAssignRef that shares the
 * row source and names its position in it; only a row constructor can hold DEFAULT (a
 * subquery cannot). */
static bool multi_assign_default(const PgQuery__MultiAssignRef *m)
{
    const PgQuery__Node *src = m->source;
    if (!src || src->node_case != PG_QUERY__NODE__NODE_ROW_EXPR || m->colno < 1)
        return false;
    const PgQuery__RowExpr *row = src->row_expr;
    return (size_t)m->colno <= row->n_args && is_default(row->args[m->colno - 1]);
}

static bool assigns_default(const PgQuery__Node *val)
{
    if (is_default(val))
        return true;
    return val && val->node_case == PG_QUERY__NODE__NODE_MULTI_ASSIGN_REF &&
           multi_assign_default(val->multi_assign_ref);
}

bool classify_describe_set_list(classify_arena *arena, classify_update *up,
                                PgQuery__Node *const *targets, size_t n)
{
    up->present = true;
    if (n == 0)
        return true;
    const char **cols = classify_arena_alloc(arena, n * sizeof *cols);
    if (!cols)
        return false;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const PgQuery__Node *t = targets[i];
        if (!t || t->node_case != PG_QUERY__NODE__NODE_RES_TARGET)
            continue;
        const PgQuery__ResTarget *rt = t->res_target;
        if (classify_nz(rt->name))
            cols[k++] = rt->name;
        if (assigns_default(rt->val))
            up->sets_default = true;
    }
    up->columns = k > 0 ? cols : NULL;
    up->n_columns = k;
    return true;
}
