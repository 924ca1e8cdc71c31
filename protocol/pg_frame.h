/* Finds message boundaries in a byte stream and enforces per-type length
 * limits before any body is buffered. Startup-phase packets carry no type
 * byte; every later message is type byte + int32 length (which counts
 * itself, so it is never below 4). */
#ifndef PGT_PG_FRAME_H
#define PGT_PG_FRAME_H

#include <stddef.h>
#include <stdint.h>

typedef enum pg_frame_status {
    PG_FRAME_INCOMPLETE, /* the header is not all there yet */
    PG_FRAME_OK,         /* header valid; the body may still be arriving */
    PG_FRAME_INVALID,    /* the stream is broken: close the connection */
} pg_frame_status;

typedef struct pg_frame {
    uint8_t type;     /* 0 for startup packets */
    size_t hdr_len;   /* 5, or 4 for startup packets */
    size_t body_len;  /* bytes after the header */
} pg_frame;

#define PG_STARTUP_MAX_LEN 10000u
#define PG_SMALL_MSG_MAX_LEN 10000u
#define PG_AUTH_MSG_MAX_LEN 65535u
#define PG_LONG_MSG_MAX_LEN 0x3fffffffu /* ~1 GB, as PostgreSQL */

/* Frontend message from a client after startup. */
pg_frame_status pg_frame_fe(const uint8_t *buf, size_t avail, pg_frame *out, const char **err);
/* Backend message from a server. */
pg_frame_status pg_frame_be(const uint8_t *buf, size_t avail, pg_frame *out, const char **err);
/* Startup-phase packet (StartupMessage, SSLRequest, GSSENCRequest, CancelRequest). */
pg_frame_status pg_frame_startup(const uint8_t *buf, size_t avail, pg_frame *out,
                                 const char **err);
/* Limits by type; 0 means the type is not valid in that direction. */
/* The size of a whole message already framed and buffered (type byte,
 * length word, body): for walking through messages this module accepted. */
size_t pg_frame_whole_len(const uint8_t *msg);

uint32_t pg_frame_fe_max(uint8_t type);
uint32_t pg_frame_be_max(uint8_t type);

#endif
