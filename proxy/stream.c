/* Non-blocking byte stream; see stream.h. */
#include "proxy/stream.h"

#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

void stream_init(stream *s, struct ev_loop *loop, int fd, void *owner,
                 void (*read_cb)(struct ev_loop *, ev_io *, int),
                 void (*write_cb)(struct ev_loop *, ev_io *, int))
{
    s->fd = -1;
    s->loop = loop;
    pg_buf_init(&s->in);
    pg_buf_init(&s->out);
    s->out_sent = 0;
    s->read_paused = false;
    ev_init(&s->rio, read_cb);
    ev_init(&s->wio, write_cb);
    s->rio.data = owner;
    s->wio.data = owner;
    if (fd >= 0)
        stream_attach(s, fd);
}

void stream_attach(stream *s, int fd)
{
    s->fd = fd;
    ev_io_set(&s->rio, fd, EV_READ);
    ev_io_set(&s->wio, fd, EV_WRITE);
    ev_io_start(s->loop, &s->rio);
}

stream_io stream_read(stream *s)
{
    if (!pg_buf_reserve(&s->in, STREAM_READ_CHUNK)) {
        errno = ENOMEM;
        return STREAM_IO_ERROR;
    }
    /* a buffer grown for one large message does not make every later read that large */
    size_t room = s->in.cap - s->in.len;
    if (room > STREAM_HIGH_WATER)
        room = STREAM_HIGH_WATER;
    ssize_t n = recv(s->fd, s->in.data + s->in.len, room, 0);
    if (n > 0) {
        s->in.len += (size_t)n;
        return STREAM_IO_OK;
    }
    if (n == 0)
        return STREAM_IO_EOF;
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
        return STREAM_IO_AGAIN;
    return STREAM_IO_ERROR;
}

bool stream_flush(stream *s)
{
    if (s->out.failed) {
        errno = ENOMEM;
        return false;
    }
    while (s->out_sent < s->out.len) {
        ssize_t n = send(s->fd, s->out.data + s->out_sent, s->out.len - s->out_sent,
                         MSG_NOSIGNAL);
        if (n > 0) {
            s->out_sent += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            ev_io_start(s->loop, &s->wio);
            return true;
        }
        return false;
    }
    s->out.len = 0;
    s->out_sent = 0;
    ev_io_stop(s->loop, &s->wio);
    return true;
}

bool stream_send(stream *s, const void *p, size_t n)
{
    if (stream_pending(s) || s->out.failed) {
        pg_buf_put(&s->out, p, n);
        return stream_flush(s);
    }
    const uint8_t *next = p;
    while (n) {
        ssize_t sent = send(s->fd, next, n, MSG_NOSIGNAL);
        if (sent > 0) {
            next += sent;
            n -= (size_t)sent;
        } else if (sent < 0 && errno == EINTR) {
            continue;
        } else if (sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            break;
        } else {
            return false;
        }
    }
    if (n == 0)
        return true;
    pg_buf_put(&s->out, next, n);
    if (s->out.failed) {
        errno = ENOMEM;
        return false;
    }
    ev_io_start(s->loop, &s->wio);
    return true;
}

void stream_try_flush(stream *s)
{
    if (!stream_flush(s))
        return;
}

size_t stream_pending(const stream *s)
{
    return s->out.len - s->out_sent;
}

void stream_pause_read(stream *s)
{
    if (!s->read_paused) {
        s->read_paused = true;
        ev_io_stop(s->loop, &s->rio);
    }
}

void stream_resume_read(stream *s)
{
    if (s->read_paused) {
        s->read_paused = false;
        if (s->fd >= 0)
            ev_io_start(s->loop, &s->rio);
    }
}

void stream_close(stream *s)
{
    ev_io_stop(s->loop, &s->rio);
    ev_io_stop(s->loop, &s->wio);
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
    pg_buf_free(&s->in);
    pg_buf_free(&s->out);
    s->out_sent = 0;
}

void stream_trim(stream *s)
{
    if (s->in.len == 0 && s->in.cap)
        pg_buf_free(&s->in);
    if (s->out.len == 0 && s->out.cap)
        pg_buf_free(&s->out);
}
