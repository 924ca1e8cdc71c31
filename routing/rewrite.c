/* RETURNING rewrite by splicing at a parser-found position; see rewrite.h.
 *
 * RETURNING is the last clause of INSERT, UPDATE and DELETE in PostgreSQL's
 * grammar, so adding to it means inserting text right after the statement's
 * last token. The parse tree says which statement it is and whether it already
 * has a RETURNING list; the scanner says where its last token ends (the
 * statement's span from the parser can include trailing comments). The rest of
 * the client's text, comments and semicolon included, is kept byte for byte.
 * This replaced a deparse of the whole tree, which cost ~650,000 instructions a
 * call (bench/README.md). */
#include "routing/rewrite.h"

#include <pg_query.h>
#include <pg_query/pg_query.pb-c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Whether the statement is one that can take RETURNING, and if so whether it
 * already has a RETURNING list. */
static bool returning_of(const PgQuery__Node *n, bool *has_list)
{
    switch (n->node_case) {
    case PG_QUERY__NODE__NODE_INSERT_STMT:
        *has_list = n->insert_stmt->n_returning_list > 0;
        return true;
    case PG_QUERY__NODE__NODE_UPDATE_STMT:
        *has_list = n->update_stmt->n_returning_list > 0;
        return true;
    case PG_QUERY__NODE__NODE_DELETE_STMT:
        *has_list = n->delete_stmt->n_returning_list > 0;
        return true;
    default:
        return false;
    }
}

/* Where the last token of the statement spanning [from, to) ends, comments
 * and semicolons not counted; 0 when the scanner finds none. */
static size_t last_token_end(const char *sql, size_t from, size_t to, char *err, size_t err_len)
{
    PgQueryScanResult scan = pg_query_scan(sql);
    size_t end = 0;
    if (scan.error) {
        snprintf(err, err_len, "%s", scan.error->message);
        pg_query_free_scan_result(scan);
        return 0;
    }
    PgQuery__ScanResult *toks = pg_query__scan_result__unpack(
        NULL, scan.pbuf.len, (const uint8_t *)scan.pbuf.data);
    for (size_t i = 0; toks && i < toks->n_tokens; i++) {
        const PgQuery__ScanToken *t = toks->tokens[i];
        if (t->token == PG_QUERY__TOKEN__SQL_COMMENT || t->token == PG_QUERY__TOKEN__C_COMMENT ||
            t->token == PG_QUERY__TOKEN__ASCII_59 /* ; */)
            continue;
        if (t->start < 0 || (size_t)t->start < from || (size_t)t->end > to)
            continue;
        if ((size_t)t->end > end)
            end = (size_t)t->end;
    }
    if (!toks)
        snprintf(err, err_len, "out of memory");
    else if (!end)
        snprintf(err, err_len, "no statement text found");
    if (toks)
        pg_query__scan_result__free_unpacked(toks, NULL);
    pg_query_free_scan_result(scan);
    return end;
}

bool rewrite_returning_plan(const char *sql, rewrite_plan *plan, char *err, size_t err_len)
{
    PgQueryProtobufParseResult parsed = pg_query_parse_protobuf(sql);
    bool ok = false;
    if (parsed.error) {
        snprintf(err, err_len, "%s", parsed.error->message);
        pg_query_free_protobuf_parse_result(parsed);
        return false;
    }
    PgQuery__ParseResult *tree = pg_query__parse_result__unpack(
        NULL, parsed.parse_tree.len, (const uint8_t *)parsed.parse_tree.data);
    if (!tree || tree->n_stmts != 1 || !tree->stmts[0]->stmt ||
        !returning_of(tree->stmts[0]->stmt, &plan->has_list)) {
        snprintf(err, err_len, "not a single INSERT, UPDATE or DELETE");
        goto done;
    }
    size_t len = strlen(sql);
    size_t from = (size_t)tree->stmts[0]->stmt_location;
    /* stmt_len 0: the statement runs to the end of the text */
    size_t to = tree->stmts[0]->stmt_len ? from + (size_t)tree->stmts[0]->stmt_len : len;
    size_t at = last_token_end(sql, from, to < len ? to : len, err, err_len);
    if (at) {
        plan->tail = len - at;
        ok = true;
    }
done:
    if (tree)
        pg_query__parse_result__free_unpacked(tree, NULL);
    pg_query_free_protobuf_parse_result(parsed);
    return ok;
}

char *rewrite_returning_apply(const char *sql, size_t len, const rewrite_plan *plan)
{
    /* `RETURNING a` becomes `RETURNING a, *`: the client's items stay first */
    const char *add = plan->has_list ? ", *" : " RETURNING *";
    size_t add_len = strlen(add), at = len - plan->tail;
    char *out = malloc(len + add_len + 1);
    if (!out)
        return NULL;
    memcpy(out, sql, at);
    memcpy(out + at, add, add_len);
    memcpy(out + at + add_len, sql + at, plan->tail + 1);
    return out;
}

char *rewrite_returning_all(const char *sql, char *err, size_t err_len)
{
    rewrite_plan plan;
    if (!rewrite_returning_plan(sql, &plan, err, err_len))
        return NULL;
    char *out = rewrite_returning_apply(sql, strlen(sql), &plan);
    if (!out)
        snprintf(err, err_len, "out of memory");
    return out;
}
