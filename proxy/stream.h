/* A non-blocking byte stream over one socket: an input buffer filled by
 * stream_read(), an output buffer drained by stream_flush(), and the two
 * libev watchers that drive them. It knows nothing of messages or SQL. */
#ifndef PGT_STREAM_H
#define PGT_STREAM_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>

#include "protocol/pg_buf.h"

/* Past this many unsent bytes the peer that produces them stops being read. */
#define STREAM_HIGH_WATER (256u * 1024u)
#define STREAM_READ_CHUNK (16u * 1024u)

typedef struct stream {
    int fd;
    struct ev_loop *loop;
    ev_io rio;
    ev_io wio;
    pg_buf in;
    pg_buf out;
    size_t out_sent; /* bytes at the front of `out` already written */
    bool read_paused;
} stream;

typedef enum stream_io { STREAM_IO_OK, STREAM_IO_AGAIN, STREAM_IO_EOF, STREAM_IO_ERROR } stream_io;

/* fd < 0 leaves the stream unconnected; stream_attach() gives it one later. */
void stream_init(stream *s, struct ev_loop *loop, int fd, void *owner,
                 void (*read_cb)(struct ev_loop *, ev_io *, int),
                 void (*write_cb)(struct ev_loop *, ev_io *, int));
void stream_attach(stream *s, int fd);
/* One recv into `in`; errno tells why on STREAM_IO_ERROR. */
stream_io stream_read(stream *s);
/* Writes as much of `out` as the socket takes; arms the write watcher for
 * the rest. Returns false when the socket failed. */
bool stream_flush(stream *s) __attribute__((warn_unused_result));
/* Sends n bytes at p after whatever `out` already holds. With nothing queued they go
 * straight from p to the socket, so relayed bytes are not copied and an idle-between-
 * messages connection never needs an output buffer; only what the socket does not take
 * is copied into `out` (and the write watcher armed). False when the socket failed or
 * memory ran out (errno says which). */
bool stream_send(stream *s, const void *p, size_t n) __attribute__((warn_unused_result));
/* For a last message before closing: failures do not matter then. */
void stream_try_flush(stream *s);
size_t stream_pending(const stream *s);
void stream_pause_read(stream *s);
void stream_resume_read(stream *s);
/* Stops watchers and closes the socket; buffers are freed too. */
void stream_close(stream *s);
/* Releases idle buffer memory (idle connections cost next to nothing). */
void stream_trim(stream *s);

#endif
