/* The migration control plane of the whole process: reloading the config,
 * changing a service's state from the admin console (kept in the state
 * file), pausing a service, and acknowledging divergences. Sessions follow
 * at their next transaction boundary (session_control.c). */
#ifndef PGT_CONTROL_H
#define PGT_CONTROL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proxy/config.h"

typedef struct proxy proxy;
typedef struct control control;

bool control_init(proxy *px) __attribute__((warn_unused_result));
void control_free(proxy *px);

/* Re-reads the config file (and the state file). On failure the running
 * config stays and err says why; `origin` ("SIGHUP", "RELOAD") is for the log. */
bool control_reload(proxy *px, const char *origin, char *err, size_t err_len)
    __attribute__((warn_unused_result));

/* SET SERVICE name key value [FORCE]: key is writes, primary or reads. On
 * success msg says what changed; on failure why (refusals name the reason
 * and that FORCE overrides it). */
bool control_set_service(proxy *px, const char *name, const char *key, const char *value,
                         bool force, char *msg, size_t msg_len)
    __attribute__((warn_unused_result));

bool control_pause(proxy *px, const char *name, char *msg, size_t msg_len)
    __attribute__((warn_unused_result));
bool control_resume(proxy *px, const char *name, char *msg, size_t msg_len)
    __attribute__((warn_unused_result));
/* The engineer has compared the tables: the service's divergences so far
 * no longer count as unresolved. */
bool control_acknowledge(proxy *px, const char *name, char *msg, size_t msg_len)
    __attribute__((warn_unused_result));

bool control_is_paused(const proxy *px, const char *name);
bool control_any_paused(const proxy *px);
/* A flip of the named service's primary or writes waits for transactions of
 * the old order to end (see control.c fence_flips). */
bool control_is_fenced(const proxy *px, const char *name);
/* Seconds since the service was paused; 0 when it is not. */
double control_paused_for(const proxy *px, const char *name);
/* Divergences of service idx (of px->cfg) not resolved (see README). */
uint64_t control_unresolved(const proxy *px, int idx);
/* Transactions open in sessions, touching the named service, and
 * requests waiting because it is paused. */
void control_count_service(const proxy *px, const char *name, size_t *open_tx, size_t *waiting);

double control_now(void);

#endif
