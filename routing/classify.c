/* classify_sql: parses a query string once with libpg_query, splits it into statements by
 * the parse tree's locations, classifies each and copies the findings into one arena owned
 * by the reference-counted result. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pg_query.h>

#include "routing/classify_internal.h"

/* Why protobuf and not JSON, measured on this machine (2 cores, shared): for a short
 * INSERT, pg_query_parse (JSON) takes ~2.7 us and pg_query_parse_protobuf +
 * pg_query__parse_result__unpack ~14 us; for a three-table SELECT with a subquery ~9 us
 * against ~60 us. JSON is faster to produce but would need a JSON parser of our own and
 * string-keyed dispatch to walk, where a misspelt key silently hides a table. The unpacked
 * protobuf gives typed C structs checked by the compiler, and its descriptors let the
 * walker descend through every field of node types it has no rule for, so no subquery is
 * missed. Correct routing matters more here than parse time, and classify_cache makes the
 * cost once per distinct query text; classify_sql totals ~20 us for the INSERT. */

/* ---- arena */

typedef struct arena_chunk {
    struct arena_chunk *next;
    size_t used, cap;
    max_align_t data[];
} arena_chunk;

struct classify_arena {
    arena_chunk *head;
};

struct classify_priv {
    classify_arena arena;
    unsigned refs;
};

void *classify_arena_alloc(classify_arena *a, size_t size)
{
    size_t align = sizeof(max_align_t);
    size = (size + align - 1) / align * align;
    if (size == 0)
        size = align;
    arena_chunk *c = a->head;
    if (!c || c->cap - c->used < size) {
        size_t cap = size > 4096 ? size : 4096;
        c = malloc(sizeof *c + cap);
        if (!c)
            return NULL;
        c->used = 0;
        c->cap = cap;
        c->next = a->head;
        a->head = c;
    }
    void *p = (char *)c->data + c->used;
    c->used += size;
    return p;
}

char *classify_arena_strdup(classify_arena *a, const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = classify_arena_alloc(a, n);
    if (p)
        memcpy(p, s, n);
    return p;
}

static void arena_free(classify_arena *a)
{
    for (arena_chunk *c = a->head, *next; c; c = next) {
        next = c->next;
        free(c);
    }
    a->head = NULL;
}

/* ---- names */

const char *classify_kind_name(classify_kind k)
{
    switch (k) {
    case CLASSIFY_UNKNOWN: return "unknown";
    case CLASSIFY_EMPTY: return "empty";
    case CLASSIFY_ERROR: return "error";
    case CLASSIFY_READ: return "read";
    case CLASSIFY_LOCKING_READ: return "locking_read";
    case CLASSIFY_WRITE: return "write";
    case CLASSIFY_DDL: return "ddl";
    case CLASSIFY_TX_CONTROL: return "tx_control";
    case CLASSIFY_SESSION: return "session";
    case CLASSIFY_UTILITY: return "utility";
    }
    return "invalid";
}

const char *classify_tx_kind_name(classify_tx_kind k)
{
    switch (k) {
    case CLASSIFY_TX_NONE: return "none";
    case CLASSIFY_TX_BEGIN: return "begin";
    case CLASSIFY_TX_COMMIT: return "commit";
    case CLASSIFY_TX_ROLLBACK: return "rollback";
    case CLASSIFY_TX_SAVEPOINT: return "savepoint";
    case CLASSIFY_TX_RELEASE: return "release";
    case CLASSIFY_TX_ROLLBACK_TO: return "rollback_to";
    case CLASSIFY_TX_PREPARE: return "prepare";
    case CLASSIFY_TX_COMMIT_PREPARED: return "commit_prepared";
    case CLASSIFY_TX_ROLLBACK_PREPARED: return "rollback_prepared";
    }
    return "invalid";
}

const char *classify_session_kind_name(classify_session_kind k)
{
    switch (k) {
    case CLASSIFY_SESSION_NONE: return "none";
    case CLASSIFY_SESSION_SET: return "set";
    case CLASSIFY_SESSION_RESET: return "reset";
    case CLASSIFY_SESSION_DISCARD: return "discard";
    case CLASSIFY_SESSION_PREPARE: return "prepare";
    case CLASSIFY_SESSION_EXECUTE: return "execute";
    case CLASSIFY_SESSION_DEALLOCATE: return "deallocate";
    case CLASSIFY_SESSION_LISTEN: return "listen";
    case CLASSIFY_SESSION_UNLISTEN: return "unlisten";
    case CLASSIFY_SESSION_NOTIFY: return "notify";
    case CLASSIFY_SESSION_LOAD: return "load";
    case CLASSIFY_SESSION_FETCH: return "fetch";
    case CLASSIFY_SESSION_MOVE: return "move";
    case CLASSIFY_SESSION_CLOSE: return "close";
    case CLASSIFY_SESSION_SET_CONSTRAINTS: return "set_constraints";
    }
    return "invalid";
}

const char *classify_utility_kind_name(classify_utility_kind k)
{
    switch (k) {
    case CLASSIFY_UTILITY_NONE: return "none";
    case CLASSIFY_UTILITY_VACUUM: return "vacuum";
    case CLASSIFY_UTILITY_ANALYZE: return "analyze";
    case CLASSIFY_UTILITY_CHECKPOINT: return "checkpoint";
    case CLASSIFY_UTILITY_LOCK: return "lock";
    case CLASSIFY_UTILITY_DO: return "do";
    case CLASSIFY_UTILITY_CALL: return "call";
    case CLASSIFY_UTILITY_CLUSTER: return "cluster";
    case CLASSIFY_UTILITY_REINDEX: return "reindex";
    case CLASSIFY_UTILITY_REFRESH_MATVIEW: return "refresh_matview";
    }
    return "invalid";
}

/* ---- result lifetime */

const classify_result *classify_result_retain(const classify_result *r)
{
    if (r)
        r->priv_->refs++;
    return r;
}

void classify_result_free(const classify_result *r)
{
    if (!r || --r->priv_->refs > 0)
        return;
    struct classify_priv *p = r->priv_;
    arena_free(&p->arena);
    free(p);
    free((classify_result *)r);
}

/* ---- building */

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* PostgreSQL's statement ranges start right after the previous ';' and run to the end of
 * the string for the last one; trimming whitespace gives the proxy clean slices. */
static void trim_range(const char *sql, size_t *loc, size_t *len)
{
    while (*len > 0 && is_space(sql[*loc])) {
        (*loc)++;
        (*len)--;
    }
    while (*len > 0 && is_space(sql[*loc + *len - 1]))
        (*len)--;
}

static const char *copy_opt(classify_arena *a, const char *s, bool *oom)
{
    if (!s)
        return NULL;
    char *c = classify_arena_strdup(a, s);
    if (!c)
        *oom = true;
    return c;
}

static const classify_name *copy_names(classify_arena *a, const classify_names *l, bool *oom)
{
    if (l->n == 0)
        return NULL;
    classify_name *v = classify_arena_alloc(a, l->n * sizeof *v);
    if (!v) {
        *oom = true;
        return NULL;
    }
    for (size_t i = 0; i < l->n; i++) {
        v[i].schema = copy_opt(a, l->v[i].schema, oom);
        v[i].name = copy_opt(a, l->v[i].name, oom);
    }
    return v;
}

/* The INSERT and UPDATE column arrays are already in the arena, but their strings still
 * point into the tree. */
static void copy_columns(classify_arena *a, const char *const *columns, size_t n, bool *oom)
{
    const char **cols = (const char **)columns;
    for (size_t i = 0; i < n; i++)
        cols[i] = copy_opt(a, cols[i], oom);
}

/* Moves everything the statement points at out of the parse tree into the arena. */
static bool finish_stmt(classify_arena *a, const classify_walk *w, classify_stmt *st)
{
    bool oom = false;
    st->reads = copy_names(a, &w->reads, &oom);
    st->n_reads = w->reads.n;
    st->writes = copy_names(a, &w->writes, &oom);
    st->n_writes = w->writes.n;
    st->functions = copy_names(a, &w->funcs, &oom);
    st->n_functions = w->funcs.n;
    st->volatile_calls = w->volatile_calls;
    st->name = copy_opt(a, st->name, &oom);
    st->target.schema = copy_opt(a, st->target.schema, &oom);
    st->target.name = copy_opt(a, st->target.name, &oom);
    copy_columns(a, st->insert.columns, st->insert.n_columns, &oom);
    copy_columns(a, st->update.columns, st->update.n_columns, &oom);
    return !oom;
}

/* Fingerprints the statement alone, so the same statement gets the same fingerprint
 * whatever else was sent with it. */
static void fingerprint(classify_stmt *st, const char *sql, bool whole, char *scratch)
{
    const char *text = sql;
    if (!whole) {
        memcpy(scratch, sql + st->loc, st->len);
        scratch[st->len] = '\0';
        text = scratch;
    }
    PgQueryFingerprintResult f = pg_query_fingerprint(text);
    if (!f.error && f.fingerprint_str && strlen(f.fingerprint_str) < sizeof st->fingerprint)
        memcpy(st->fingerprint, f.fingerprint_str, strlen(f.fingerprint_str) + 1);
    pg_query_free_fingerprint_result(f);
}

static classify_result *new_result(void)
{
    classify_result *r = calloc(1, sizeof *r);
    struct classify_priv *p = calloc(1, sizeof *p);
    if (!r || !p) {
        free(r);
        free(p);
        return NULL;
    }
    p->refs = 1;
    r->priv_ = p;
    return r;
}

/* One statement spanning the whole input, for EMPTY, ERROR and over-limit UNKNOWN. */
static bool single(classify_result *r, classify_kind kind, size_t len, const char *error,
                   int cursor)
{
    classify_stmt *st = classify_arena_alloc(&r->priv_->arena, sizeof *st);
    if (!st)
        return false;
    memset(st, 0, sizeof *st);
    st->kind = kind;
    st->loc = 0;
    st->len = len;
    r->stmts = st;
    r->n_stmts = 1;
    if (error) {
        r->error = classify_arena_strdup(&r->priv_->arena, error);
        if (!r->error)
            return false;
        r->error_cursor = cursor;
    }
    return true;
}

static const char too_deep_msg[] = "statement nests too deeply for pgtandem to classify";

static bool classify_tree(classify_result *r, const char *sql, size_t sql_len,
                          const PgQuery__ParseResult *tree)
{
    classify_arena *a = &r->priv_->arena;
    classify_stmt *stmts = classify_arena_alloc(a, tree->n_stmts * sizeof *stmts);
    char *scratch = tree->n_stmts > 1 ? malloc(sql_len + 1) : NULL;
    if (!stmts || (tree->n_stmts > 1 && !scratch)) {
        free(scratch);
        return false;
    }
    memset(stmts, 0, tree->n_stmts * sizeof *stmts);
    classify_walk w;
    classify_walk_init(&w);
    bool ok = true, too_deep = false;
    for (size_t i = 0; ok && i < tree->n_stmts; i++) {
        const PgQuery__RawStmt *raw = tree->stmts[i];
        classify_stmt *st = &stmts[i];
        size_t loc = raw->stmt_location > 0 ? (size_t)raw->stmt_location : 0;
        if (loc > sql_len)
            loc = sql_len;
        size_t len = raw->stmt_len > 0 ? (size_t)raw->stmt_len : sql_len - loc;
        if (len > sql_len - loc)
            len = sql_len - loc;
        trim_range(sql, &loc, &len);
        st->loc = loc;
        st->len = len;
        classify_walk_reset(&w);
        ok = classify_dispatch(&w, a, raw->stmt, st) && finish_stmt(a, &w, st);
        too_deep = too_deep || w.too_deep;
        if (ok)
            fingerprint(st, sql, tree->n_stmts == 1, scratch);
    }
    classify_walk_fini(&w);
    free(scratch);
    if (!ok)
        return false;
    if (too_deep)
        return single(r, CLASSIFY_UNKNOWN, sql_len, too_deep_msg, 0);
    r->stmts = stmts;
    r->n_stmts = tree->n_stmts;
    return true;
}

classify_result *classify_sql(const char *sql)
{
    classify_result *r = new_result();
    if (!r)
        return NULL;
    size_t sql_len = strlen(sql);
    bool ok;
    if (!classify_guard_text(sql, sql_len)) {
        ok = single(r, CLASSIFY_UNKNOWN, sql_len, too_deep_msg, 0);
    } else {
        PgQueryProtobufParseResult pr = pg_query_parse_protobuf(sql);
        if (pr.error) {
            const char *msg = pr.error->message ? pr.error->message : "syntax error";
            ok = single(r, CLASSIFY_ERROR, sql_len, msg, pr.error->cursorpos);
        } else if (!classify_guard_tree((const unsigned char *)pr.parse_tree.data,
                                        pr.parse_tree.len)) {
            ok = single(r, CLASSIFY_UNKNOWN, sql_len, too_deep_msg, 0);
        } else {
            PgQuery__ParseResult *tree = pg_query__parse_result__unpack(
                NULL, pr.parse_tree.len, (const uint8_t *)pr.parse_tree.data);
            if (!tree)
                ok = false; /* the guard accepted the bytes, so only memory can fail here */
            else if (tree->n_stmts == 0)
                ok = single(r, CLASSIFY_EMPTY, sql_len, NULL, 0);
            else
                ok = classify_tree(r, sql, sql_len, tree);
            if (tree)
                pg_query__parse_result__free_unpacked(tree, NULL);
        }
        pg_query_free_protobuf_parse_result(pr);
    }
    if (!ok) {
        classify_result_free(r);
        return NULL;
    }
    return r;
}
