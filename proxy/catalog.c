/* Loads table facts from the legacy catalog; see catalog.h. */
#include "proxy/catalog.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uthash.h>

#include "proxy/net.h"

typedef struct entry {
    catalog_table t;
    char *key; /* schema.name */
    UT_hash_handle hh;
} entry;

struct catalog {
    entry *by_name;
    size_t count;
};

/* One row per user table: its generated columns (a default that is not a
 * plain constant, or an identity) and whether a BEFORE ROW trigger fires on
 * INSERT or UPDATE (tgtype bits: 1 row, 2 before, 4 insert, 16 update); its
 * stored generated columns (attgenerated 's') and identity ALWAYS columns,
 * which an applying INSERT or UPDATE must not assign. */
static const char catalog_sql[] =
    "SELECT n.nspname, c.relname,"
    "  ARRAY(SELECT a.attname::text FROM pg_attribute a"
    "        LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum"
    "        WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped"
    "          AND (a.attidentity <> '' OR (d.oid IS NOT NULL AND pg_get_expr(d.adbin, d.adrelid)"
    "               !~ '^(''([^'']|'''')*''|-?[0-9.]+|true|false|NULL)(::[a-z ]+(\\[\\])?)?$'))"
    "        ORDER BY a.attnum),"
    "  EXISTS(SELECT 1 FROM pg_trigger t WHERE t.tgrelid = c.oid AND NOT t.tgisinternal"
    "         AND t.tgenabled <> 'D' AND (t.tgtype & 3) = 3 AND (t.tgtype & 20) <> 0),"
    "  ARRAY(SELECT a.attname::text FROM pg_index i"
    "        JOIN LATERAL unnest(i.indkey) WITH ORDINALITY k(attnum, ord) ON true"
    "        JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum"
    "        WHERE i.indrelid = c.oid AND i.indisprimary ORDER BY k.ord),"
    "  (SELECT count(*) FROM pg_attribute a"
    "   WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped),"
    "  ARRAY(SELECT a.attname::text FROM pg_attribute a"
    "        WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped"
    "          AND pg_get_serial_sequence(c.oid::regclass::text, a.attname) IS NOT NULL"
    "        ORDER BY a.attnum),"
    "  ARRAY(SELECT a.attname::text FROM pg_attribute a"
    "        WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped"
    "          AND a.attgenerated = 's' ORDER BY a.attnum),"
    "  ARRAY(SELECT a.attname::text FROM pg_attribute a"
    "        WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped"
    "          AND a.attidentity = 'a' ORDER BY a.attnum)"
    " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
    " WHERE c.relkind IN ('r', 'p')"
    "   AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')";

static char *make_key(const char *schema, const char *name)
{
    size_t n = strlen(schema) + strlen(name) + 2;
    char *k = malloc(n);
    if (k)
        snprintf(k, n, "%s.%s", schema, name);
    return k;
}

/* "{a,b}" from array_out; the names here are plain identifiers or quoted */
static bool parse_array(const char *text, char ***out, size_t *n)
{
    *out = NULL;
    *n = 0;
    size_t len = strlen(text);
    if (len < 2)
        return false;
    char *body = strndup(text + 1, len - 2);
    if (!body)
        return false;
    bool ok = true;
    for (char *save = NULL, *tok = strtok_r(body, ",", &save); ok && tok;
         tok = strtok_r(NULL, ",", &save)) {
        if (*tok == '"') { /* quoted element: strip quotes (names with , or \ are rare) */
            tok++;
            tok[strcspn(tok, "\"")] = '\0';
        }
        char **grown = realloc(*out, (*n + 1) * sizeof(char *));
        ok = grown && (grown[*n] = strdup(tok));
        if (grown) {
            *out = grown;
            if (ok)
                (*n)++;
        }
    }
    free(body);
    return ok;
}

static void entry_free(entry *e)
{
    for (size_t i = 0; i < e->t.n_generated; i++)
        free(e->t.generated[i]);
    free(e->t.generated);
    for (size_t i = 0; i < e->t.n_pkey; i++)
        free(e->t.pkey[i]);
    for (size_t i = 0; i < e->t.n_sequenced; i++)
        free(e->t.sequenced[i]);
    free(e->t.sequenced);
    for (size_t i = 0; i < e->t.n_stored; i++)
        free(e->t.stored[i]);
    free(e->t.stored);
    for (size_t i = 0; i < e->t.n_always; i++)
        free(e->t.always[i]);
    free(e->t.always);
    free(e->t.pkey);
    free(e->t.schema);
    free(e->t.name);
    free(e->key);
    free(e);
}

PGconn *catalog_connect(const backend_target *t, const char *application_name)
{
    char port[16];
    snprintf(port, sizeof(port), "%d", t->port);
    const char *keys[] = {"host", "port", "dbname", "user", "password", "connect_timeout",
                          "application_name", NET_LIBPQ_KEEPALIVE_KEYS, NULL};
    const char *vals[] = {t->host, port, t->dbname, t->user, t->password, "10",
                          application_name, NET_LIBPQ_KEEPALIVE_VALUES, NULL};
    return PQconnectdbParams(keys, vals, 0);
}

catalog *catalog_load(const backend_target *t, char *err, size_t err_len)
{
    PGconn *conn = catalog_connect(t, "pgtandem-catalog");
    if (PQstatus(conn) != CONNECTION_OK) {
        snprintf(err, err_len, "cannot read the catalog of %s: %s", t->name,
                 PQerrorMessage(conn));
        err[strcspn(err, "\n")] = '\0';
        PQfinish(conn);
        return NULL;
    }
    PGresult *r = PQexec(conn, catalog_sql);
    catalog *c = calloc(1, sizeof(*c));
    bool ok = c && PQresultStatus(r) == PGRES_TUPLES_OK;
    if (!ok)
        snprintf(err, err_len, "cannot read the catalog of %s: %s", t->name,
                 c ? PQresultErrorMessage(r) : "out of memory");
    for (int i = 0; ok && i < PQntuples(r); i++) {
        entry *e = calloc(1, sizeof(*e));
        ok = e && (e->t.schema = strdup(PQgetvalue(r, i, 0))) &&
             (e->t.name = strdup(PQgetvalue(r, i, 1))) &&
             (e->key = make_key(e->t.schema, e->t.name)) &&
             parse_array(PQgetvalue(r, i, 2), &e->t.generated, &e->t.n_generated);
        if (!ok) {
            if (e)
                entry_free(e);
            snprintf(err, err_len, "out of memory reading the catalog");
            break;
        }
        e->t.row_trigger = PQgetvalue(r, i, 3)[0] == 't';
        e->t.n_columns = (size_t)strtoul(PQgetvalue(r, i, 5), NULL, 10);
        if (!parse_array(PQgetvalue(r, i, 4), &e->t.pkey, &e->t.n_pkey) ||
            !parse_array(PQgetvalue(r, i, 6), &e->t.sequenced, &e->t.n_sequenced) ||
            !parse_array(PQgetvalue(r, i, 7), &e->t.stored, &e->t.n_stored) ||
            !parse_array(PQgetvalue(r, i, 8), &e->t.always, &e->t.n_always)) {
            entry_free(e);
            ok = false;
            snprintf(err, err_len, "out of memory reading the catalog");
            break;
        }
        HASH_ADD_KEYPTR(hh, c->by_name, e->key, strlen(e->key), e);
        c->count++;
    }
    PQclear(r);
    PQfinish(conn);
    if (!ok) {
        err[strcspn(err, "\n")] = '\0';
        catalog_free(c);
        return NULL;
    }
    return c;
}

void catalog_free(catalog *c)
{
    if (!c)
        return;
    entry *e, *tmp;
    HASH_ITER(hh, c->by_name, e, tmp) {
        HASH_DEL(c->by_name, e);
        entry_free(e);
    }
    free(c);
}

void catalog_mark_trigger(catalog *c, const char *schema, const char *name)
{
    char key[256];
    snprintf(key, sizeof(key), "%s.%s", schema, name);
    entry *e = NULL;
    HASH_FIND_STR(c->by_name, key, e);
    if (e)
        e->t.row_trigger = true;
}

const catalog_table *catalog_find(const catalog *c, const char *schema, const char *name)
{
    char key[256];
    snprintf(key, sizeof(key), "%s.%s", schema ? schema : "public", name);
    entry *e = NULL;
    HASH_FIND_STR(c->by_name, key, e);
    return e ? &e->t : NULL;
}

static bool listed(char *const *names, size_t n, const char *column)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(names[i], column) == 0)
            return true;
    return false;
}

bool catalog_is_stored(const catalog_table *t, const char *column)
{
    return listed(t->stored, t->n_stored, column);
}

bool catalog_is_always(const catalog_table *t, const char *column)
{
    return listed(t->always, t->n_always, column);
}

size_t catalog_count(const catalog *c)
{
    return c->count;
}
