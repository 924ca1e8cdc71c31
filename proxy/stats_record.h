/* Recording a session's traffic into px->stats (service_stats.h): the routed session
 * calls in when a request is taken, when each statement is routed and when the request
 * has answered; the pass-through relay counts requests as it frames them. Also hands
 * sampled shadow reads to shadow.c. */
#ifndef PGT_STATS_RECORD_H
#define PGT_STATS_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct session session;
typedef struct backend backend;
typedef struct classify_stmt classify_stmt;
struct route_decision;
struct shadow_job;

/* Request start times of a pass-through session, oldest first: replies come in order,
 * one ReadyForQuery per Query, Sync or FunctionCall. */
#define STATS_PT_RING 16

/* Kept in each session (session.h). */
typedef struct session_obs {
    uint64_t started_ns;   /* the routed request in progress began (monotonic); 0: none */
    int service;           /* the service its statements concerned; see stats_record.c */
    size_t counted_pos;    /* 1 + position of the last Execute counted in the request */
    struct shadow_job *probe; /* a shadow read comparing this request's answer */
    /* pass-through */
    uint64_t pt_start[STATS_PT_RING];
    uint32_t pt_head, pt_n;
    uint32_t pt_untimed; /* requests past a full ring: answered after the ring's, untimed */
} session_obs;

uint64_t stats_now_ns(void);

/* ---- routed sessions */
/* A request (simple Query, or extended batch up to Sync/Flush) was taken. */
void stats_request_begin(session *s);
/* A simple query was routed as a whole (not split): its statements counted by the
 * decision of the first, and a shadow read started when the decision asks for one. */
void stats_simple_query(session *s);
/* An extended batch about to run on legacy in one piece (op->request): may start a
 * shadow read of its one statement. */
void stats_fast_batch(session *s);
/* One statement routed: counted in the slot of dec->service. */
void stats_statement(session *s, const classify_stmt *st, const struct route_decision *dec);
/* The extended engine is about to run the Execute at `pos` of the request (counted once
 * even when the engine comes back to it). */
void stats_ext_execute(session *s, const uint8_t *msg, size_t len, size_t pos);
/* The request has its last reply: latency recorded, a shadow read told the answer. */
void stats_request_done(session *s);
/* A reply the client is getting from `b` (shadow reads digest the primary's rows). */
void stats_reply(session *s, backend *b, uint8_t type, const uint8_t *body, size_t len);
/* A reply too large to hold passes through in pieces: it can't be digested. */
void stats_reply_streamed(session *s);
/* The session ends. */
void stats_session_end(session *s);

/* ---- pass-through sessions: cheap, once per read, not per message */
void stats_pt_requests(session *s, uint32_t requests, uint32_t statements);
void stats_pt_answered(session *s, uint32_t ready_for_query);

#endif
