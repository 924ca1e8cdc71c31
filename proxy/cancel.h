/* CancelRequest forwarding. A client cancels with the key pgtandem gave it;
 * pgtandem looks the session up and sends the matching server-side keys to
 * every backend of that session, each over a short-lived connection. A
 * wrong key matches nothing and does nothing. */
#ifndef PGT_CANCEL_H
#define PGT_CANCEL_H

#include <stdint.h>

#include "proxy/proxy.h"

struct backend;

void cancel_forward(proxy *px, int32_t pid, int32_t key);
/* Sends a CancelRequest for what b runs now (pgtandem's own decision). */
void cancel_backend(proxy *px, const struct backend *b);
/* Drops every forward still in flight (shutdown). */
void cancel_free_all(proxy *px);

#endif
