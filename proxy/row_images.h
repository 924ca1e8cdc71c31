/* Mirroring by row images: the primary ran a write with RETURNING of every
 * column (routing/rewrite.h). From its replies this builds what the client
 * sees (the client's own columns only) and the extended-protocol batch that
 * applies the same rows on the secondary, by primary key. */
#ifndef PGT_ROW_IMAGES_H
#define PGT_ROW_IMAGES_H

#include <stdbool.h>
#include <stddef.h>

#include "protocol/pg_buf.h"
#include "proxy/catalog.h"
#include "proxy/shadow_digest.h"
#include "routing/classify.h"

/* Around the primary's RETURNING statement, when the client has no RETURNING
 * list of its own (so only pgtandem reads the output): the images are text,
 * and some output settings make text that reads back as another value on the
 * other side: DateStyle SQL/Postgres/German print time zone abbreviations
 * (IST is read as Israel time, not India's), extra_float_digits < 1 rounds
 * floats. ISO dates carry a numeric offset and read back the same in any
 * TimeZone. Only output is pinned: the date order (input) stays the client's,
 * and the settings come back at once, so the client's session is unchanged. */
#define ROW_IMAGES_PIN                                                                        \
    "SELECT pg_catalog.set_config('pgtandem.datestyle', pg_catalog.current_setting('DateStyle')," \
    " true), pg_catalog.set_config('pgtandem.extra_float_digits',"                              \
    " pg_catalog.current_setting('extra_float_digits'), true),"                                 \
    " pg_catalog.set_config('DateStyle', 'ISO, ' || pg_catalog.split_part("                     \
    "pg_catalog.current_setting('DateStyle'), ', ', 2), true),"                                 \
    " pg_catalog.set_config('extra_float_digits', GREATEST("                         \
    "pg_catalog.current_setting('extra_float_digits')::int, 1)::text, true)"
#define ROW_IMAGES_UNPIN                                                                      \
    "SELECT pg_catalog.set_config('DateStyle', pg_catalog.current_setting('pgtandem.datestyle')," \
    " true), pg_catalog.set_config('extra_float_digits',"                                       \
    " pg_catalog.current_setting('pgtandem.extra_float_digits'), true)"

/* session_replication_role around the passes that must not fire the
 * secondary's ordinary triggers; needs GRANT SET ON PARAMETER (README). */
#define ROW_IMAGES_REPLICA "SET LOCAL session_replication_role = replica"
#define ROW_IMAGES_ORIGIN "SET LOCAL session_replication_role = origin"

typedef struct row_images_opts {
    bool sync; /* end the apply with a Sync */
    /* The secondary has triggers that would re-stamp the rows and pgtandem
     * may set session_replication_role there: the upsert runs as usual (so
     * cascades and other triggers do their work), then each row is set again
     * to the image under the replica role, where ordinary triggers are quiet. */
    bool replica_pass;
    /* verify_writes_sample: the apply's last statement returns each row it
     * wrote (row_images_digest_reply), and `digest` gets the images' */
    bool verify;
} row_images_opts;

/* replies: the primary's captured messages (no ReadyForQuery), starting
 * with the RowDescription of its RETURNING list.
 * client: receives the replies with pgtandem's extra columns cut.
 * apply: receives the messages that apply the rows (nothing at all when no
 * row changed).
 * digest: with o->verify, the digest of the images' columns (else untouched;
 * may be NULL then).
 * Returns false with err when the replies don't have the expected shape. */
bool row_images_build(const catalog_table *t, classify_dml dml, const uint8_t *replies,
                      size_t len, const row_images_opts *o, pg_buf *client, pg_buf *apply,
                      size_t *rows, row_digest *digest, char *err, size_t err_len)
    __attribute__((warn_unused_result));

/* The digest of the rows a verified apply returned on the secondary: its
 * first `rows` DataRows of t's width. */
void row_images_digest_reply(const catalog_table *t, const uint8_t *replies, size_t len,
                             uint64_t rows, row_digest *out);

#endif
