/* COPY FROM STDIN read and rewritten over the protobuf parse tree; see
 * rewrite_copy.h. */
#include "routing/rewrite_copy.h"

#include <pg_query.h>
#include <pg_query/pg_query.pb-c.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


typedef struct parsed_copy {
    PgQueryProtobufParseResult parsed;
    PgQuery__ParseResult *tree;
    PgQuery__CopyStmt *copy;
} parsed_copy;

static void parsed_copy_free(parsed_copy *p)
{
    if (p->tree)
        pg_query__parse_result__free_unpacked(p->tree, NULL);
    pg_query_free_protobuf_parse_result(p->parsed);
}

static bool parse_copy(const char *sql, parsed_copy *p, char *err, size_t err_len)
{
    memset(p, 0, sizeof(*p));
    p->parsed = pg_query_parse_protobuf(sql);
    if (p->parsed.error) {
        snprintf(err, err_len, "%s", p->parsed.error->message);
        return false;
    }
    p->tree = pg_query__parse_result__unpack(NULL, p->parsed.parse_tree.len,
                                             (const uint8_t *)p->parsed.parse_tree.data);
    if (!p->tree || p->tree->n_stmts != 1 || !p->tree->stmts[0]->stmt ||
        p->tree->stmts[0]->stmt->node_case != PG_QUERY__NODE__NODE_COPY_STMT) {
        snprintf(err, err_len, "not a single COPY statement");
        return false;
    }
    p->copy = p->tree->stmts[0]->stmt->copy_stmt;
    return true;
}

static bool is_from_stdin(const PgQuery__CopyStmt *c)
{
    return c->is_from && c->relation && !c->is_program && (!c->filename || !c->filename[0]);
}

/* A column of the COPY's list; NULL when the entry is not a plain name. */
static const char *column_name(const PgQuery__Node *n)
{
    return n && n->node_case == PG_QUERY__NODE__NODE_STRING && n->string ? n->string->sval : NULL;
}

bool copy_shape_read(const char *sql, copy_shape *out, char *err, size_t err_len)
{
    parsed_copy p;
    memset(out, 0, sizeof(*out));
    bool ok = parse_copy(sql, &p, err, err_len);
    if (ok) {
        out->from_stdin = is_from_stdin(p.copy);
        if (p.copy->n_attlist && !(out->columns = calloc(p.copy->n_attlist, sizeof(char *)))) {
            snprintf(err, err_len, "out of memory");
            ok = false;
        }
        for (size_t i = 0; ok && i < p.copy->n_attlist; i++) {
            const char *name = column_name(p.copy->attlist[i]);
            if (!name || !(out->columns[i] = strdup(name))) {
                snprintf(err, err_len, name ? "out of memory" : "unexpected column list");
                ok = false;
            }
            out->n_columns = i + 1;
        }
    }
    parsed_copy_free(&p);
    if (!ok)
        copy_shape_free(out);
    return ok;
}

void copy_shape_free(copy_shape *c)
{
    for (size_t i = 0; i < c->n_columns; i++)
        free(c->columns[i]);
    free(c->columns);
    memset(c, 0, sizeof(*c));
}

/* ---------------------------------------------------------- staging table */

/* A growing string; `failed` is sticky and checked once at the end. */
typedef struct text_buf {
    char *data;
    size_t len, cap;
    bool failed;
} text_buf;

static void put_bytes(text_buf *b, const char *s, size_t n)
{
    if (b->failed)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 128;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *grown = realloc(b->data, cap);
        if (!grown) {
            b->failed = true;
            return;
        }
        b->data = grown;
        b->cap = cap;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

static void put_str(text_buf *b, const char *s)
{
    put_bytes(b, s, strlen(s));
}

static void put_ident(text_buf *b, const char *id)
{
    put_bytes(b, "\"", 1);
    for (const char *p = id; *p; p++) /* a double quote is written twice */
        put_bytes(b, *p == '"' ? "\"\"" : p, *p == '"' ? 2 : 1);
    put_bytes(b, "\"", 1);
}

static void put_relation(text_buf *b, const PgQuery__RangeVar *r)
{
    if (r->schemaname && r->schemaname[0]) {
        put_ident(b, r->schemaname);
        put_bytes(b, ".", 1);
    }
    put_ident(b, r->relname);
}

/* "a", "b" — or `star` when the COPY names no columns (all of them). */
static void put_columns(text_buf *b, const PgQuery__CopyStmt *c, const char *star)
{
    if (!c->n_attlist) {
        put_str(b, star);
        return;
    }
    for (size_t i = 0; i < c->n_attlist; i++) {
        if (i)
            put_str(b, ", ");
        put_ident(b, column_name(c->attlist[i]));
    }
}

/* The finished text (the caller frees it), or NULL when memory ran out. */
static char *take_text(text_buf *b)
{
    if (b->failed || !b->data) {
        free(b->data);
        return NULL;
    }
    return b->data;
}

/* The client's COPY, deparsed from its tree with the target swapped for the
 * staging table: options, column list and WHERE stay as the client wrote them. */
static char *deparse_staged_copy(parsed_copy *p, const char *stage, char *err, size_t err_len)
{
    PgQuery__RangeVar staged = PG_QUERY__RANGE_VAR__INIT;
    staged.schemaname = (char *)"pg_temp";
    staged.relname = (char *)stage;
    staged.inh = true;
    staged.relpersistence = (char *)"p";
    staged.location = -1;
    PgQuery__RangeVar *original = p->copy->relation;
    p->copy->relation = &staged;
    char *out = NULL;
    size_t len = pg_query__parse_result__get_packed_size(p->tree);
    uint8_t *packed = malloc(len ? len : 1);
    if (packed) {
        pg_query__parse_result__pack(p->tree, packed);
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
    p->copy->relation = original; /* the tree frees only what it unpacked */
    return out;
}

bool copy_staging_build(const char *sql, const char *stage, copy_staging *out, char *err,
                        size_t err_len)
{
    parsed_copy p;
    memset(out, 0, sizeof(*out));
    if (!parse_copy(sql, &p, err, err_len)) {
        parsed_copy_free(&p);
        return false;
    }
    bool ok = is_from_stdin(p.copy);
    if (!ok)
        snprintf(err, err_len, "not a COPY ... FROM STDIN");
    for (size_t i = 0; ok && i < p.copy->n_attlist; i++)
        if (!column_name(p.copy->attlist[i])) {
            snprintf(err, err_len, "unexpected column list");
            ok = false;
        }
    if (ok) {
        text_buf b = {0};
        put_str(&b, "CREATE TEMP TABLE pg_temp.");
        put_ident(&b, stage);
        put_str(&b, " ON COMMIT DROP AS SELECT ");
        put_columns(&b, p.copy, "*");
        put_str(&b, " FROM ");
        put_relation(&b, p.copy->relation);
        put_str(&b, " WITH NO DATA");
        out->create = take_text(&b);

        b = (text_buf){0};
        put_str(&b, "INSERT INTO ");
        put_relation(&b, p.copy->relation);
        if (p.copy->n_attlist) {
            put_str(&b, " (");
            put_columns(&b, p.copy, "");
            put_str(&b, ")");
        }
        put_str(&b, " SELECT ");
        put_columns(&b, p.copy, "*");
        put_str(&b, " FROM pg_temp.");
        put_ident(&b, stage);
        put_str(&b, " RETURNING *");
        out->insert = take_text(&b);

        b = (text_buf){0};
        put_str(&b, "DROP TABLE pg_temp.");
        put_ident(&b, stage);
        out->drop = take_text(&b);

        out->copy = deparse_staged_copy(&p, stage, err, err_len);
        ok = out->create && out->insert && out->drop && out->copy;
        if (!ok && !err[0])
            snprintf(err, err_len, "out of memory");
    }
    parsed_copy_free(&p);
    if (!ok)
        copy_staging_free(out);
    return ok;
}

void copy_staging_free(copy_staging *c)
{
    free(c->create);
    free(c->copy);
    free(c->insert);
    free(c->drop);
    memset(c, 0, sizeof(*c));
}
