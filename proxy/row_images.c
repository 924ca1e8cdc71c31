/* Row images from RETURNING replies; see row_images.h. */
#include "proxy/row_images.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/pg_codes.h"
#include "protocol/pg_ext.h"
#include "protocol/pg_frame.h"
#include "protocol/pg_reader.h"

#define MAX_COLUMNS 1600 /* PostgreSQL's own limit per table */

/* The statements and portals that apply rows have names of their own and are
 * closed after use, so they never replace the client's unnamed statement or
 * portal on the secondary. */
#define APPLY_NAME "pgtandem_apply"
#define FIX_NAME "pgtandem_fix"
#define ROLE_NAME "pgtandem_role"
#define SEQUENCE_NAME "pgtandem_sequence"

typedef struct shape {
    size_t total;       /* columns in each row */
    size_t client;      /* the first `client` belong to the client's RETURNING */
    const char *names[MAX_COLUMNS];
} shape;

static void put_ident(pg_buf *b, const char *id)
{
    pg_buf_put_byte(b, '"');
    for (const char *p = id; *p; p++) {
        if (*p == '"')
            pg_buf_put_byte(b, '"');
        pg_buf_put_byte(b, (uint8_t)*p);
    }
    pg_buf_put_byte(b, '"');
}

static void put_str(pg_buf *b, const char *s)
{
    pg_buf_put(b, s, strlen(s));
}

static void put_param(pg_buf *b, size_t n)
{
    char tmp[32];
    snprintf(tmp, sizeof(tmp), "$%zu", n);
    put_str(b, tmp);
}

static ssize_t column_index(const shape *sh, const char *name)
{
    for (size_t i = sh->client; i < sh->total; i++)
        if (strcmp(sh->names[i], name) == 0)
            return (ssize_t)i;
    return -1;
}

/* " RETURNING" every column of the image, in its order: what the secondary
 * wrote, printed like the primary's image, for verify_writes_sample. */
static void put_returning(const shape *sh, pg_buf *sql)
{
    put_str(sql, " RETURNING ");
    for (size_t i = sh->client; i < sh->total; i++) {
        if (i > sh->client)
            put_str(sql, ", ");
        put_ident(sql, sh->names[i]);
    }
}

static bool is_key(const catalog_table *t, const char *column)
{
    for (size_t k = 0; k < t->n_pkey; k++)
        if (strcmp(t->pkey[k], column) == 0)
            return true;
    return false;
}

/* The statement that applies one row: an upsert by primary key (so an
 * INSERT, an UPDATE and an ON CONFLICT all land as the primary's row), or a
 * delete by primary key. With `returning`, it returns what it wrote. */
static bool build_sql(const catalog_table *t, classify_dml dml, const shape *sh, bool returning,
                      pg_buf *sql)
{
    put_str(sql, dml == CLASSIFY_DML_DELETE ? "DELETE FROM " : "INSERT INTO ");
    put_ident(sql, t->schema);
    pg_buf_put_byte(sql, '.');
    put_ident(sql, t->name);
    if (dml == CLASSIFY_DML_DELETE) {
        put_str(sql, " WHERE ");
        for (size_t k = 0; k < t->n_pkey; k++) {
            if (k)
                put_str(sql, " AND ");
            put_ident(sql, t->pkey[k]);
            put_str(sql, " = ");
            put_param(sql, k + 1);
        }
        if (returning)
            put_returning(sh, sql);
        return true;
    }
    /* a stored generated column is computed by each database from the
     * others: naming it is an error (428C9), and it needs no value */
    put_str(sql, " (");
    size_t given = 0;
    for (size_t i = sh->client; i < sh->total; i++) {
        if (catalog_is_stored(t, sh->names[i]))
            continue;
        if (given)
            put_str(sql, ", ");
        put_ident(sql, sh->names[i]);
        given++;
    }
    put_str(sql, ") OVERRIDING SYSTEM VALUE VALUES (");
    for (size_t k = 0; k < given; k++) {
        if (k)
            put_str(sql, ", ");
        put_param(sql, k + 1);
    }
    put_str(sql, ")");
    if (t->n_pkey == 0) { /* a plain INSERT: the only kind planned for keyless tables */
        if (returning)
            put_returning(sh, sql);
        return true;
    }
    put_str(sql, " ON CONFLICT (");
    for (size_t k = 0; k < t->n_pkey; k++) {
        if (k)
            put_str(sql, ", ");
        put_ident(sql, t->pkey[k]);
    }
    put_str(sql, ")");
    bool any = false;
    for (size_t i = sh->client; i < sh->total; i++) {
        /* identity ALWAYS can't be assigned by UPDATE; an existing row keeps its value */
        if (is_key(t, sh->names[i]) || catalog_is_stored(t, sh->names[i]) ||
            catalog_is_always(t, sh->names[i]))
            continue;
        put_str(sql, any ? ", " : " DO UPDATE SET ");
        put_ident(sql, sh->names[i]);
        put_str(sql, " = EXCLUDED.");
        put_ident(sql, sh->names[i]);
        any = true;
    }
    if (!any)
        put_str(sql, " DO NOTHING");
    if (returning)
        put_returning(sh, sql);
    return true;
}

/* The second pass of an apply into a database whose triggers would re-stamp
 * the rows (run under session_replication_role = replica, where ordinary
 * triggers don't fire): every column set again to the image, by primary key.
 * Its parameters are the upsert's. Wrapped in a SELECT so that its rows are
 * not counted as rows applied; with `returning`, it returns what it wrote. */
static void build_fix_sql(const catalog_table *t, const shape *sh, bool returning, pg_buf *sql)
{
    put_str(sql, "WITH pgtandem_fixed AS (UPDATE ");
    put_ident(sql, t->schema);
    pg_buf_put_byte(sql, '.');
    put_ident(sql, t->name);
    size_t param = 0, set = 0;
    for (size_t i = sh->client; i < sh->total; i++) {
        if (catalog_is_stored(t, sh->names[i]))
            continue;
        param++;
        if (is_key(t, sh->names[i]) || catalog_is_always(t, sh->names[i]))
            continue;
        put_str(sql, set++ ? ", " : " SET ");
        put_ident(sql, sh->names[i]);
        put_str(sql, " = ");
        put_param(sql, param);
    }
    if (!set) { /* nothing but the key: a no-op that still returns the row */
        put_str(sql, " SET ");
        put_ident(sql, t->pkey[0]);
        put_str(sql, " = ");
        put_ident(sql, t->pkey[0]);
    }
    put_str(sql, " WHERE ");
    param = 0;
    size_t keys = 0;
    for (size_t i = sh->client; i < sh->total; i++) {
        if (catalog_is_stored(t, sh->names[i]))
            continue;
        param++;
        if (!is_key(t, sh->names[i]))
            continue;
        if (keys++)
            put_str(sql, " AND ");
        put_ident(sql, sh->names[i]);
        put_str(sql, " = ");
        put_param(sql, param);
    }
    if (returning)
        put_returning(sh, sql);
    else
        put_str(sql, " RETURNING 1");
    put_str(sql, returning ? ") SELECT * FROM pgtandem_fixed" : ") SELECT FROM pgtandem_fixed WHERE false");
}

static bool read_shape(const catalog_table *t, const uint8_t *body, size_t len, shape *sh,
                       pg_buf *client)
{
    pg_reader r;
    pg_reader_init(&r, body, len);
    int16_t n = pg_read_int16(&r);
    if (n < 0 || (size_t)n < t->n_columns || (size_t)n > MAX_COLUMNS)
        return false;
    sh->total = (size_t)n;
    sh->client = (size_t)n - t->n_columns;
    size_t cut_at = 0;
    for (size_t i = 0; i < sh->total; i++) {
        sh->names[i] = pg_read_cstring(&r);
        (void)pg_read_bytes(&r, 18); /* table oid, attnum, type oid, len, typmod, format */
        if (i + 1 == sh->client)
            cut_at = r.pos;
    }
    if (!pg_reader_end(&r))
        return false;
    if (sh->client) { /* the client's own columns, as a RowDescription of their own */
        pg_buf_begin_msg(client, PG_BE_ROW_DESCRIPTION);
        pg_buf_put_int16(client, (int16_t)sh->client);
        pg_buf_put(client, body + 2, cut_at - 2);
        pg_buf_end_msg(client);
    }
    return true;
}

static void put_bind(pg_buf *b, const char *name, const uint8_t *const *val,
                     const int32_t *vlen, const size_t *at, size_t count)
{
    /* all parameters as text */
    pg_buf_begin_msg(b, PG_FE_BIND);
    pg_buf_put_cstring(b, name);
    pg_buf_put_cstring(b, name);
    pg_buf_put_int16(b, 0);
    pg_buf_put_int16(b, (int16_t)count);
    for (size_t k = 0; k < count; k++) {
        size_t i = at[k];
        pg_buf_put_int32(b, vlen[i]);
        if (vlen[i] > 0)
            pg_buf_put(b, val[i], (size_t)vlen[i]);
    }
    pg_buf_put_int16(b, 0);
    pg_buf_end_msg(b);
    pg_buf_execute(b, name, 0);
    pg_buf_close(b, 'P', name);
}

static bool read_row(const catalog_table *t, classify_dml dml, const shape *sh,
                     const uint8_t *body, size_t len, pg_buf *client, pg_buf *apply,
                     pg_buf *fix, row_digest *digest)
{
    const uint8_t *val[MAX_COLUMNS];
    int32_t vlen[MAX_COLUMNS];
    pg_reader r;
    pg_reader_init(&r, body, len);
    int16_t n = pg_read_int16(&r);
    if (n < 0 || (size_t)n != sh->total)
        return false;
    size_t cut_at = 2;
    for (size_t i = 0; i < sh->total; i++) {
        vlen[i] = pg_read_int32(&r);
        val[i] = vlen[i] > 0 ? pg_read_bytes(&r, (size_t)vlen[i]) : NULL;
        if (i + 1 == sh->client)
            cut_at = r.pos;
    }
    if (!pg_reader_end(&r))
        return false;
    if (sh->client) {
        pg_buf_begin_msg(client, PG_BE_DATA_ROW);
        pg_buf_put_int16(client, (int16_t)sh->client);
        pg_buf_put(client, body + 2, cut_at - 2);
        pg_buf_end_msg(client);
    }
    if (digest) { /* the image's own columns, as the secondary will return them */
        const char *fields[MAX_COLUMNS];
        int lens[MAX_COLUMNS];
        for (size_t i = sh->client; i < sh->total; i++) {
            fields[i - sh->client] = vlen[i] > 0 ? (const char *)val[i] : "";
            lens[i - sh->client] = vlen[i];
        }
        row_digest_add_fields(digest, sh->total - sh->client, fields, lens);
    }
    size_t count = 0;
    size_t at[MAX_COLUMNS];
    if (dml == CLASSIFY_DML_DELETE) {
        for (size_t k = 0; k < t->n_pkey; k++) {
            ssize_t i = column_index(sh, t->pkey[k]);
            if (i < 0)
                return false;
            at[count++] = (size_t)i;
        }
    } else {
        for (size_t i = sh->client; i < sh->total; i++)
            if (!catalog_is_stored(t, sh->names[i]))
                at[count++] = i;
    }
    put_bind(apply, APPLY_NAME, val, vlen, at, count);
    if (fix)
        put_bind(fix, FIX_NAME, val, vlen, at, count);
    return true;
}

/* Rows arrive on the secondary with their ids already chosen, so its own
 * sequences don't move. Keep each serial key's sequence at least at the
 * largest id, so that the day the service becomes primary its nextval()
 * does not hand out ids that are taken. setval is not transactional: two
 * applies committing close together could otherwise set it back. */
static void advance_sequences(const catalog_table *t, pg_buf *apply)
{
    for (size_t k = 0; k < t->n_pkey; k++) {
        bool sequenced = false;
        for (size_t g = 0; g < t->n_sequenced && !sequenced; g++)
            sequenced = strcmp(t->sequenced[g], t->pkey[k]) == 0;
        if (!sequenced)
            continue;
        pg_buf sql;
        pg_buf_init(&sql);
        put_str(&sql, "SELECT setval(s, m) FROM (SELECT pg_get_serial_sequence($1, $2) AS s, max(");
        put_ident(&sql, t->pkey[k]);
        put_str(&sql, ") AS m FROM ");
        put_ident(&sql, t->schema);
        pg_buf_put_byte(&sql, '.');
        put_ident(&sql, t->name);
        /* only forward: a concurrent apply whose rows this snapshot can't see
         * yet may already have moved the sequence past m */
        put_str(&sql, ") x WHERE s IS NOT NULL AND m IS NOT NULL"
                      " AND m > coalesce(pg_sequence_last_value(s::regclass), 0)");
        pg_buf_put_byte(&sql, 0);
        char qualified[300];
        snprintf(qualified, sizeof(qualified), "\"%s\".\"%s\"", t->schema, t->name);
        pg_buf_parse(apply, SEQUENCE_NAME, (const char *)sql.data);
        pg_buf_free(&sql);
        const char *params[2] = {qualified, t->pkey[k]};
        pg_buf_bind_text(apply, SEQUENCE_NAME, SEQUENCE_NAME, params, 2);
        pg_buf_execute(apply, SEQUENCE_NAME, 0);
        pg_buf_close(apply, 'P', SEQUENCE_NAME);
        pg_buf_close(apply, 'S', SEQUENCE_NAME);
    }
}

bool row_images_build(const catalog_table *t, classify_dml dml, const uint8_t *replies,
                      size_t len, const row_images_opts *o, pg_buf *client, pg_buf *apply,
                      size_t *rows, row_digest *digest, char *err, size_t err_len)
{
    shape *sh = calloc(1, sizeof(*sh));
    if (!sh) {
        snprintf(err, err_len, "out of memory");
        return false;
    }
    /* a second pass needs the key to find the rows again; a keyless INSERT
     * runs under the replica role as a whole instead */
    bool replica = o->replica_pass && dml != CLASSIFY_DML_DELETE;
    bool fix_pass = replica && t->n_pkey > 0;
    pg_buf fix;
    pg_buf_init(&fix);
    if (digest)
        row_digest_init(digest);
    bool ok = true;
    *rows = 0;
    size_t pos = 0;
    while (ok && pos < len) {
        pg_frame f;
        const char *ferr = NULL;
        if (pg_frame_be(replies + pos, len - pos, &f, &ferr) != PG_FRAME_OK ||
            len - pos < f.hdr_len + f.body_len) {
            ok = false;
            break;
        }
        const uint8_t *body = replies + pos + f.hdr_len;
        if (f.type == PG_BE_ROW_DESCRIPTION) {
            ok = sh->total == 0 && read_shape(t, body, f.body_len, sh, client);
            if (ok) {
                pg_buf sql;
                pg_buf_init(&sql);
                if (replica && !fix_pass)
                    pg_buf_run_once(apply, ROLE_NAME, ROW_IMAGES_REPLICA);
                ok = build_sql(t, dml, sh, o->verify && !fix_pass, &sql);
                pg_buf_put_byte(&sql, 0);
                /* an apply that failed midway (a cancel, a lock timeout) skipped its
                 * closing Close; closing a missing name is no error */
                pg_buf_close(apply, 'S', APPLY_NAME);
                pg_buf_parse(apply, APPLY_NAME, (const char *)sql.data);
                if (fix_pass) {
                    pg_buf_reset(&sql);
                    build_fix_sql(t, sh, o->verify, &sql);
                    pg_buf_put_byte(&sql, 0);
                    pg_buf_parse(&fix, FIX_NAME, (const char *)sql.data);
                }
                ok = ok && !sql.failed;
                pg_buf_free(&sql);
            }
        } else if (f.type == PG_BE_DATA_ROW) {
            ok = sh->total && read_row(t, dml, sh, body, f.body_len, client, apply,
                                       fix_pass ? &fix : NULL, o->verify ? digest : NULL);
            (*rows)++;
        } else {
            pg_buf_put(client, replies + pos, f.hdr_len + f.body_len);
        }
        pos += f.hdr_len + f.body_len;
    }
    if (ok && *rows) {
        pg_buf_close(apply, 'S', APPLY_NAME);
        if (fix_pass) { /* after the upsert ran as usual (cascades, audit triggers) */
            pg_buf_run_once(apply, ROLE_NAME, ROW_IMAGES_REPLICA);
            pg_buf_put(apply, fix.data, fix.len);
            pg_buf_close(apply, 'S', FIX_NAME);
        }
        if (replica)
            pg_buf_run_once(apply, ROLE_NAME, ROW_IMAGES_ORIGIN);
    }
    if (ok && *rows && dml != CLASSIFY_DML_DELETE)
        advance_sequences(t, apply);
    if (ok && *rows && o->sync)
        pg_buf_simple(apply, PG_FE_SYNC);
    if (!ok || !*rows)
        pg_buf_reset(apply); /* nothing to apply */
    if (!ok)
        snprintf(err, err_len, "unexpected reply shape from the primary");
    ok = ok && !client->failed && !apply->failed && !fix.failed;
    pg_buf_free(&fix);
    free(sh);
    return ok;
}

void row_images_digest_reply(const catalog_table *t, const uint8_t *replies, size_t len,
                             uint64_t rows, row_digest *out)
{
    row_digest_init(out);
    size_t pos = 0;
    while (pos < len && out->rows < rows) {
        pg_frame f;
        const char *ferr = NULL;
        if (pg_frame_be(replies + pos, len - pos, &f, &ferr) != PG_FRAME_OK ||
            len - pos < f.hdr_len + f.body_len)
            return;
        const uint8_t *body = replies + pos + f.hdr_len;
        /* the apply's rows come before the sequence upkeep's one-column rows */
        if (f.type == PG_BE_DATA_ROW && f.body_len >= 2 &&
            (size_t)((body[0] << 8) | body[1]) == t->n_columns)
            (void)row_digest_add_datarow(out, body, f.body_len);
        pos += f.hdr_len + f.body_len;
    }
}
