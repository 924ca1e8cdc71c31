/* Bounds-checked reader over one message body. Every getter checks that the
 * field fits; a failure sets a sticky flag and returns a zero value, so a
 * decoder reads all fields and checks pg_reader_end() once at the end, which
 * also insists the body was consumed whole. */
#ifndef PGT_PG_READER_H
#define PGT_PG_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct pg_reader {
    const uint8_t *p;
    size_t len;
    size_t pos;
    bool bad;
} pg_reader;

void pg_reader_init(pg_reader *r, const uint8_t *body, size_t len);
uint8_t pg_read_byte(pg_reader *r);
int16_t pg_read_int16(pg_reader *r);
int32_t pg_read_int32(pg_reader *r);
/* A NUL-terminated string inside the body; returns "" when missing. */
const char *pg_read_cstring(pg_reader *r);
/* n raw bytes; NULL (and bad) when fewer remain. */
const uint8_t *pg_read_bytes(pg_reader *r, size_t n);
size_t pg_reader_remaining(const pg_reader *r);
/* True when nothing failed and every byte was consumed. */
bool pg_reader_end(const pg_reader *r);

#endif
