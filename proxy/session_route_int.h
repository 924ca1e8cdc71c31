/* Shared by the files of the routed session (session_route.c takes requests,
 * route_common.c keeps backends and session state, route_steps.c runs each
 * kind of request). Not for use outside them. */
#ifndef PGT_SESSION_ROUTE_INT_H
#define PGT_SESSION_ROUTE_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "proxy/backend.h"
#include "proxy/catalog.h"
#include "proxy/row_images.h"
#include "proxy/session.h"

enum rs_op_kind { OP_NONE = 0, OP_SINGLE, OP_ALL, OP_COMMIT, OP_DUAL, OP_EXT, OP_COPY_DUAL };

/* backends */
backend **rs_slot_of(session *s, int service);
backend *rs_side_backend(session *s, int service, route_side side);
bool rs_ensure_backend(session *s, int service);
bool rs_flush_to(session *s, backend *b);
bool rs_send_query(session *s, backend *b, const char *sql, reply_mode mode);
/* legacy first, then every service backend the session has */
size_t rs_participants(session *s, backend **out);
bool rs_all_idle(session *s);
/* the order of COMMIT: 0 before 1 (legacy) before 2 */
int rs_commit_group(session *s, const backend *b);
bool rs_same_outcome(const backend_outcome *a, const backend_outcome *b);
const char *rs_stmt_tables(const classify_stmt *st, char *buf, size_t len);

/* replies to the client */
void rs_deliver_captured(session *s, backend *b, uint8_t tx_status);
/* 25P02's text, with the reason when pgtandem aborted the transaction */
const char *rs_aborted_text(session *s);
/* The client's transaction is aborted, by an error of any backend or by pgtandem. */
bool rs_tx_aborted(const session *s);
/* What an aborted transaction still takes, as PostgreSQL's does: ROLLBACK,
 * COMMIT (which rolls back), and ROLLBACK TO SAVEPOINT unless a backend lost
 * under fail took the transaction with it. */
bool rs_aborted_takes(const session *s, const classify_stmt *st);
/* SAVEPOINT, RELEASE or ROLLBACK TO ran everywhere (outcomes from the
 * capture, or the last reply): a backend where it failed while legacy's went
 * through is no longer where the others are, so the transaction is aborted
 * (true, and that backend in *bad; the caller records the divergence); a
 * ROLLBACK TO that went through everywhere ends an aborted state. */
bool rs_savepoint_outcome(session *s, const classify_stmt *st, bool from_capture, backend **bad);
void rs_reply_error(session *s, const char *sqlstate, const char *msg, uint8_t tx_status);
void rs_reply_command(session *s, const char *tag, uint8_t tx_status);
void rs_op_done(session *s);
void rs_drop_lost(session *s);
void rs_note_prepared(session *s, const classify_stmt *st, const classify_result *cls);
/* DECLARE remembers where its cursor lives; FETCH, MOVE and CLOSE go there. */
void rs_route_cursor(session *s, const classify_stmt *st, route_decision *dec);
void rs_track_session_state(session *s, const classify_stmt *st, const char *sql,
                            uint8_t after);

/* mirroring by row images (session_route.c) */
bool rs_generates_values(session *s, const classify_stmt *st);
bool rs_route_execute(session *s, const classify_stmt *st, route_decision *dec, char *why,
                      size_t why_len);
bool rs_plan_images(session *s, const classify_stmt *st, const char *sql, char **rewritten,
                    const catalog_table **table, char *msg, size_t msg_len);

/* the steps of each kind of request; each returns when it must wait */
void rs_step_single(session *s);
void rs_step_all(session *s);
void rs_step_commit(session *s);
void rs_step_dual(session *s);

/* The second half of every mirrored write (route_mirror.c): the steps after
 * the secondary ran it, numbered above any step of their callers' own. */
enum rs_mirror_step {
    MIRROR_SECONDARY_COMMIT = 20,
    MIRROR_PRIMARY_COMMIT,
    MIRROR_FAILED,  /* rolling back; the client gets op->error_text */
    MIRROR_REFUSED, /* the primary refused: rolling back its wrap */
    MIRROR_TWO_PHASE,
};
/* Sends one of pgtandem's own statements and moves the request to `step`. */
void rs_send_then(session *s, backend *b, const char *sql, int step);
/* verify_writes_sample: whether this mirrored write's rows are compared. */
bool rs_verify_sampled(const session *s);
/* The options of the apply of op->table's images on op->second (row_images.h). */
void rs_apply_opts(session *s, bool sync, row_images_opts *o);
/* A verified write: the rows the secondary returned against the images;
 * a difference is recorded as a divergence. */
void rs_verify_rows(session *s, int service, const classify_stmt *st);
/* The statements around the secondary's copy of the write (static buffers:
 * valid until the next call). */
void rs_mirror_guards(const session *s, const char **pre, const char **post);
/* lock_timeout = mirror_timeout for a mirrored statement, and back */
const char *rs_mirror_lock_timeout_on(const session *s);
#define RS_MIRROR_LOCK_TIMEOUT_OFF                                                                \
    "SELECT pg_catalog.set_config('lock_timeout', "                                             \
    "pg_catalog.current_setting('pgtandem.lock_timeout'), true)"
/* The primary changed no row: nothing to mirror, commit its wrap. */
void rs_mirror_nothing(session *s);
/* How a failed mirror was undone, for the client's message: rolled back (an
 * autocommit write), or the client's transaction aborted on both sides. */
const char *rs_mirror_undone(bool wrapped);
/* The secondary has answered: compare, apply the policy, start the commit. */
void rs_mirror_compare(session *s);
/* Runs the MIRROR_* steps. */
void rs_mirror_step(session *s);
void rs_step_ext(session *s); /* route_ext.c */
/* COPY FROM STDIN into a dual-written table (route_copy.c) */
void rs_copy_start(session *s, const classify_stmt *st);
void rs_step_copy(session *s);
void rs_copy_client_input(session *s);
bool rs_copy_in_response(session *s, backend *b, const uint8_t *msg, size_t len);
void rs_copy_free(route_op *op);
void rs_fast_batch_done(session *s);
/* replies of a split simple query that a simple-protocol client must not see */
bool rs_split_hides(uint8_t type);

/* The client's COPY messages go to the backend running its COPY (a request
 * on one backend, or an extended batch's); false when the session closed. */
bool rs_pass_copy_input(session *s);
/* runs the current request as far as it goes, then takes the next */
void rs_pump(session *s);
/* arms the deadline of each secondary the request waits for, disarms the
 * others (mirror_deadline.c) */
void rs_mirror_watch(session *s);

#endif
