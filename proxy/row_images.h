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
#include "routing/classify.h"

/* replies: the primary's captured messages (no ReadyForQuery), starting
 * with the RowDescription of its RETURNING list.
 * client: receives the replies with pgtandem's extra columns cut.
 * apply: receives the messages that apply the rows, ending with a Sync when
 * `sync` is set (nothing at all when no row changed).
 * Returns false with err when the replies don't have the expected shape. */
bool row_images_build(const catalog_table *t, classify_dml dml, const uint8_t *replies,
                      size_t len, bool sync, pg_buf *client, pg_buf *apply, size_t *rows,
                      char *err, size_t err_len) __attribute__((warn_unused_result));

#endif
