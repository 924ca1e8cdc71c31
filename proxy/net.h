/* Small socket helpers shared by the listener, backends and cancel relays. */
#ifndef PGT_NET_H
#define PGT_NET_H

#include <stddef.h>
#include <sys/socket.h>

/* A non-blocking, close-on-exec TCP socket with Nagle off; -1 on failure. */
int net_socket_nonblocking(int family);
/* "host:port" of a socket address, for logs. */
void net_format_addr(const struct sockaddr *sa, char *out, size_t out_len);
/* Listening socket on host:port; -1 with errno set on failure. */
int net_listen(const char *host, int port, char *err, size_t err_len);

#endif
