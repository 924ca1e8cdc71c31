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

/* The statement that applies one row: an upsert by primary key (so an
 * INSERT, an UPDATE and an ON CONFLICT all land as the primary's row), or a
 * delete by primary key. */
static bool build_sql(const catalog_table *t, classify_dml dml, const shape *sh, pg_buf *sql)
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
    if (t->n_pkey == 0) /* a plain INSERT: the only kind planned for keyless tables */
        return true;
    put_str(sql, " ON CONFLICT (");
    for (size_t k = 0; k < t->n_pkey; k++) {
        if (k)
            put_str(sql, ", ");
        put_ident(sql, t->pkey[k]);
    }
    put_str(sql, ")");
    bool any = false;
    for (size_t i = sh->client; i < sh->total; i++) {
        bool is_key = false;
        for (size_t k = 0; k < t->n_pkey && !is_key; k++)
            is_key = strcmp(t->pkey[k], sh->names[i]) == 0;
        /* identity ALWAYS can't be assigned by UPDATE; an existing row keeps its value */
        if (is_key || catalog_is_stored(t, sh->names[i]) || catalog_is_always(t, sh->names[i]))
            continue;
        put_str(sql, any ? ", " : " DO UPDATE SET ");
        put_ident(sql, sh->names[i]);
        put_str(sql, " = EXCLUDED.");
        put_ident(sql, sh->names[i]);
        any = true;
    }
    if (!any)
        put_str(sql, " DO NOTHING");
    return true;
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

static bool read_row(const catalog_table *t, classify_dml dml, const shape *sh,
                     const uint8_t *body, size_t len, pg_buf *client, pg_buf *apply)
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
    /* Bind: all parameters as text */
    pg_buf_begin_msg(apply, PG_FE_BIND);
    pg_buf_put_cstring(apply, APPLY_NAME);
    pg_buf_put_cstring(apply, APPLY_NAME);
    pg_buf_put_int16(apply, 0);
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
    pg_buf_put_int16(apply, (int16_t)count);
    for (size_t k = 0; k < count; k++) {
        size_t i = at[k];
        pg_buf_put_int32(apply, vlen[i]);
        if (vlen[i] > 0)
            pg_buf_put(apply, val[i], (size_t)vlen[i]);
    }
    pg_buf_put_int16(apply, 0);
    pg_buf_end_msg(apply);
    pg_buf_execute(apply, APPLY_NAME, 0);
    pg_buf_close(apply, 'P', APPLY_NAME);
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
                      size_t len, bool sync, pg_buf *client, pg_buf *apply, size_t *rows,
                      char *err, size_t err_len)
{
    shape *sh = calloc(1, sizeof(*sh));
    if (!sh) {
        snprintf(err, err_len, "out of memory");
        return false;
    }
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
                ok = build_sql(t, dml, sh, &sql);
                pg_buf_put_byte(&sql, 0);
                pg_buf_parse(apply, APPLY_NAME, (const char *)sql.data);
                ok = ok && !sql.failed;
                pg_buf_free(&sql);
            }
        } else if (f.type == PG_BE_DATA_ROW) {
            ok = sh->total && read_row(t, dml, sh, body, f.body_len, client, apply);
            (*rows)++;
        } else {
            pg_buf_put(client, replies + pos, f.hdr_len + f.body_len);
        }
        pos += f.hdr_len + f.body_len;
    }
    if (ok && *rows)
        pg_buf_close(apply, 'S', APPLY_NAME);
    if (ok && *rows && dml != CLASSIFY_DML_DELETE)
        advance_sequences(t, apply);
    if (ok && *rows && sync)
        pg_buf_simple(apply, PG_FE_SYNC);
    if (!ok || !*rows)
        pg_buf_reset(apply); /* nothing to apply */
    if (!ok)
        snprintf(err, err_len, "unexpected reply shape from the primary");
    ok = ok && !client->failed && !apply->failed;
    free(sh);
    return ok;
}
