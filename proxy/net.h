/* Small socket helpers shared by the listener, backends and cancel relays. */
#ifndef PGT_NET_H
#define PGT_NET_H

#include <stddef.h>
#include <sys/socket.h>

/* A non-blocking, close-on-exec TCP socket with Nagle off; -1 on failure. */
int net_socket_nonblocking(int family);
/* Seconds of the keepalive probes every backend socket gets (net_keepalive). */
#define NET_KEEPALIVE_IDLE 5
#define NET_KEEPALIVE_INTERVAL 2
#define NET_KEEPALIVE_COUNT 3
/* TCP keepalive and TCP_USER_TIMEOUT on a connected or connecting TCP socket,
 * so a database that vanishes (blackholed, powered off) is noticed in seconds.
 * Best effort: an option the kernel refuses is left at its default. */
void net_keepalive(int fd);
/* The same settings as libpq connection keywords, for the connections
 * pgtandem makes with libpq (catalog, two-phase recovery, shadow reads). */
#define NET_LIBPQ_KEEPALIVE_KEYS "keepalives", "keepalives_idle", "keepalives_interval", \
                                 "keepalives_count", "tcp_user_timeout"
#define NET_LIBPQ_KEEPALIVE_VALUES "1", "5", "2", "3", "11000"
/* "host:port" of a socket address, for logs. */
void net_format_addr(const struct sockaddr *sa, char *out, size_t out_len);
/* Listening socket on host:port; -1 with errno set on failure. */
int net_listen(const char *host, int port, char *err, size_t err_len);

#endif
