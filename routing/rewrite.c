/* RETURNING rewrite over the protobuf parse tree; see rewrite.h. */
#include "routing/rewrite.h"

#include <pg_query.h>
#include <pg_query/pg_query.pb-c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Where the statement keeps its RETURNING list; NULL for other statements. */
static bool returning_list(PgQuery__Node *n, size_t **count, PgQuery__Node ****list)
{
    switch (n->node_case) {
    case PG_QUERY__NODE__NODE_INSERT_STMT:
        *count = &n->insert_stmt->n_returning_list;
        *list = &n->insert_stmt->returning_list;
        return true;
    case PG_QUERY__NODE__NODE_UPDATE_STMT:
        *count = &n->update_stmt->n_returning_list;
        *list = &n->update_stmt->returning_list;
        return true;
    case PG_QUERY__NODE__NODE_DELETE_STMT:
        *count = &n->delete_stmt->n_returning_list;
        *list = &n->delete_stmt->returning_list;
        return true;
    default:
        return false;
    }
}

char *rewrite_returning_all(const char *sql, char *err, size_t err_len)
{
    PgQueryProtobufParseResult parsed = pg_query_parse_protobuf(sql);
    char *out = NULL;
    if (parsed.error) {
        snprintf(err, err_len, "%s", parsed.error->message);
        pg_query_free_protobuf_parse_result(parsed);
        return NULL;
    }
    PgQuery__ParseResult *tree = pg_query__parse_result__unpack(
        NULL, parsed.parse_tree.len, (const uint8_t *)parsed.parse_tree.data);
    size_t *count = NULL;
    PgQuery__Node ***list = NULL;
    if (!tree || tree->n_stmts != 1 || !tree->stmts[0]->stmt ||
        !returning_list(tree->stmts[0]->stmt, &count, &list)) {
        snprintf(err, err_len, "not a single INSERT, UPDATE or DELETE");
        goto done;
    }
    /* RETURNING ..., * : the new item lives on the stack and is taken out
     * again before the tree is freed */
    PgQuery__AStar star = PG_QUERY__A__STAR__INIT;
    PgQuery__Node star_node = PG_QUERY__NODE__INIT;
    star_node.node_case = PG_QUERY__NODE__NODE_A_STAR;
    star_node.a_star = &star;
    PgQuery__Node *fields[1] = {&star_node};
    PgQuery__ColumnRef ref = PG_QUERY__COLUMN_REF__INIT;
    ref.n_fields = 1;
    ref.fields = fields;
    ref.location = -1;
    PgQuery__Node ref_node = PG_QUERY__NODE__INIT;
    ref_node.node_case = PG_QUERY__NODE__NODE_COLUMN_REF;
    ref_node.column_ref = &ref;
    PgQuery__ResTarget target = PG_QUERY__RES_TARGET__INIT;
    target.val = &ref_node;
    target.location = -1;
    PgQuery__Node target_node = PG_QUERY__NODE__INIT;
    target_node.node_case = PG_QUERY__NODE__NODE_RES_TARGET;
    target_node.res_target = &target;

    size_t old_n = *count;
    PgQuery__Node **old_list = *list;
    PgQuery__Node **grown = malloc((old_n + 1) * sizeof(*grown));
    if (!grown) {
        snprintf(err, err_len, "out of memory");
        goto done;
    }
    if (old_n)
        memcpy(grown, old_list, old_n * sizeof(*grown));
    grown[old_n] = &target_node;
    *list = grown;
    *count = old_n + 1;

    size_t len = pg_query__parse_result__get_packed_size(tree);
    uint8_t *packed = malloc(len ? len : 1);
    if (packed) {
        pg_query__parse_result__pack(tree, packed);
        PgQueryProtobuf pb = {.len = len, .data = (char *)packed};
        PgQueryDeparseResult dep = pg_query_deparse_protobuf(pb);
        if (dep.error)
            snprintf(err, err_len, "%s", dep.error->message);
        else if (!(out = strdup(dep.query)))
            snprintf(err, err_len, "out of memory");
        pg_query_free_deparse_result(dep);
        free(packed);
    } else {
        snprintf(err, err_len, "out of memory");
    }
    *list = old_list;
    *count = old_n;
    free(grown);
done:
    if (tree)
        pg_query__parse_result__free_unpacked(tree, NULL);
    pg_query_free_protobuf_parse_result(parsed);
    return out;
}
