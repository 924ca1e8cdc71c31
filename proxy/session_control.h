/* What a routed session does for the control plane: it takes a new config
 * snapshot only at a transaction boundary (never inside a transaction that
 * has done work, with an extended-protocol window open or a request in
 * flight), following services by name, and it holds a request that
 * concerns a paused service, or a fenced one (a flip of its primary or
 * writes, control.c) while transactions of the old order are open. */
#ifndef PGT_SESSION_CONTROL_H
#define PGT_SESSION_CONTROL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct session session;
struct ext_stmt;
struct backend;

typedef struct session_ctl {
    bool tx_known;        /* the open transaction was watched from its start */
    bool tx_did_work;     /* it ran something besides BEGIN, SET, SAVEPOINT */
    uint64_t tx_touched;  /* services it concerned (bit i: service i of s->cfg) */
    bool window_open;     /* extended messages went to legacy without a Sync */
    bool held;            /* the next request waits for a paused service */
    double held_since;
    uint64_t held_mask;   /* the paused (or fenced) services it waits for */
    bool held_fence;      /* it waits for a flip's fence, not only for a pause */
    char **reprepare;     /* statements to prepare again on a new primary */
    size_t n_reprepare;
    struct ext_stmt *reprepare_unit;
    struct backend *reprepare_on;
} session_ctl;

/* Called by the routed session with no request in progress, before it takes
 * the next one: adopts a newer config when it may, and says whether the next
 * request may be taken now (false: wait; the session is kicked when that
 * changes). */
bool session_control_boundary(session *s);
/* Runs a routed session's loop from outside its callbacks (a reload, a
 * RESUME); the session may be freed by it. */
void session_control_kick(session *s);
/* A held request has waited longer than pause_timeout: refuse it. */
void session_control_timeout(session *s, const char *sqlstate, const char *why);
/* Whether the session has a transaction (or a request in flight) that
 * concerns the named service and began under another primary or writes than
 * the running snapshot gives it: what a flip's fence waits for. */
bool session_control_old_order(const session *s, const char *name);
/* For SHOW SERVICES: whether the session's open transaction concerns the
 * named service, and whether its next request waits for it. */
bool session_control_touches(const session *s, const char *name);
bool session_control_waits_for(const session *s, const char *name);
void session_control_free(session *s);

/* session_adopt.c, for session_control.c: takes s->px->cfg; then prepares again,
 * one at a time, what must be (true when nothing is left to wait for). */
void session_adopt(session *s);
bool session_adopt_reprepare(session *s);

#endif
