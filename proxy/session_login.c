/* The client's side of login: startup packet, encryption requests, cancel
 * requests, and password authentication against the auth file. Nothing
 * reaches a backend before the client has proven who it is. */
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/pg_codes.h"
#include "protocol/pg_frame.h"
#include "protocol/pg_msg.h"
#include "proxy/pool.h"
#include "proxy/admin_console.h"
#include "proxy/backend.h"
#include "proxy/cancel.h"
#include "proxy/log.h"
#include "proxy/session.h"

static bool database_known(const config *c, const char *db)
{
    return config_find_database(c, db) != NULL;
}

/* Keeps the startup parameters the backends must also see. */
static bool keep_params(session *s, const pg_startup *st)
{
    s->params_cap = st->n_params ? st->n_params : 1;
    s->param_names = pool_alloc(s->params_cap * sizeof(char *));
    s->param_values = pool_alloc(s->params_cap * sizeof(char *));
    if (!s->param_names || !s->param_values)
        return false;
    for (size_t i = 0; i < st->n_params; i++) {
        const char *n = st->names[i];
        if (strcmp(n, "user") == 0 || strcmp(n, "database") == 0 ||
            strncmp(n, "_pq_.", 5) == 0)
            continue;
        s->param_names[s->n_params] = pool_strdup(n);
        s->param_values[s->n_params] = pool_strdup(st->values[i]);
        if (!s->param_names[s->n_params] || !s->param_values[s->n_params]) {
            pool_free_str(s->param_names[s->n_params]);
            pool_free_str(s->param_values[s->n_params]);
            return false;
        }
        s->n_params++;
    }
    return true;
}

/* For a 3.x client newer than 3.0, say what we speak (3.0) and which
 * protocol options we ignore, as the protocol prescribes. */
static void negotiate_version(session *s, const pg_startup *st)
{
    size_t n_unknown = 0;
    for (size_t i = 0; i < st->n_params; i++)
        if (strncmp(st->names[i], "_pq_.", 5) == 0)
            n_unknown++;
    if ((st->code & 0xffff) == 0 && n_unknown == 0)
        return;
    pg_buf *o = &s->client.out;
    pg_buf_begin_msg(o, PG_BE_NEGOTIATE_PROTOCOL_VERSION);
    pg_buf_put_int32(o, (int32_t)PG_PROTOCOL_3_0);
    pg_buf_put_int32(o, (int32_t)n_unknown);
    for (size_t i = 0; i < st->n_params; i++)
        if (strncmp(st->names[i], "_pq_.", 5) == 0)
            pg_buf_put_cstring(o, st->names[i]);
    pg_buf_end_msg(o);
}

static void start_auth(session *s)
{
    const userlist_entry *e = userlist_find(s->px->users, s->user);
    s->user_known = e != NULL;
    auth_method m = s->cfg->auth_type;
    /* md5 needs a plaintext or md5 secret; with a SCRAM verifier fall back to SCRAM */
    if (m == AUTH_MD5 && e && userlist_entry_kind(e) == SECRET_SCRAM)
        m = AUTH_SCRAM;
    if (m == AUTH_SCRAM && e && userlist_entry_kind(e) == SECRET_MD5)
        m = AUTH_MD5;
    session_set_state(s, SESSION_AUTH);
    if (m == AUTH_SCRAM) {
        static const char mechs[] = "SCRAM-SHA-256\0";
        pg_buf_auth_request(&s->client.out, PG_AUTH_SASL, mechs, sizeof(mechs));
        s->auth = AUTH_STEP_SASL_INITIAL;
    } else if (m == AUTH_MD5) {
        if (RAND_bytes(s->md5_salt, 4) != 1) {
            session_close(s, "53200", "cannot generate a random salt");
            return;
        }
        pg_buf_auth_request(&s->client.out, PG_AUTH_MD5, s->md5_salt, 4);
        s->auth = AUTH_STEP_PASSWORD;
    } else {
        pg_buf_auth_request(&s->client.out, PG_AUTH_CLEARTEXT, NULL, 0);
        s->auth = AUTH_STEP_PASSWORD;
    }
}

static void auth_failed(session *s)
{
    char msg[256];
    snprintf(msg, sizeof(msg), "password authentication failed for user \"%s\"", s->user);
    log_warn("session %llu from %s: %s%s", (unsigned long long)s->id, s->peer, msg,
             s->user_known ? "" : " (unknown user)");
    session_close(s, "28P01", msg);
}

static void auth_succeeded(session *s)
{
    char err[256];
    if (s->admin) {
        scram_server_free(s->scram);
        s->scram = NULL;
        s->auth = AUTH_STEP_NONE;
        admin_console_start(s);
        return;
    }
    pg_buf_auth_request(&s->client.out, PG_AUTH_OK, NULL, 0);
    scram_server_free(s->scram);
    s->scram = NULL;
    s->auth = AUTH_STEP_NONE;
    session_set_state(s, SESSION_CONNECTING);
    s->legacy = backend_start(s, &s->cfg->legacy, err, sizeof(err));
    if (!s->legacy)
        session_close(s, "08006", err);
}

/* Checks a cleartext or md5 password message. */
static void check_password(session *s, const uint8_t *body, size_t len)
{
    const char *given;
    if (!pg_decode_password(body, len, &given)) {
        session_close(s, "08P01", "malformed password message");
        return;
    }
    const userlist_entry *e = userlist_find(s->px->users, s->user);
    bool ok = e && (s->cfg->auth_type == AUTH_PASSWORD
                        ? userlist_check_cleartext(e, given)
                        : userlist_check_md5(e, s->user, s->md5_salt, given));
    if (ok)
        auth_succeeded(s);
    else
        auth_failed(s);
}

static void sasl_step(session *s, const uint8_t *body, size_t len)
{
    const char *err = NULL;
    char *out = NULL;
    size_t out_len = 0;
    if (s->auth == AUTH_STEP_SASL_INITIAL) {
        pg_sasl_initial init;
        if (!pg_decode_sasl_initial(body, len, &init) || !init.data) {
            session_close(s, "08P01", "malformed SASLInitialResponse");
            return;
        }
        if (strcmp(init.mechanism, "SCRAM-SHA-256") != 0) {
            session_close(s, "28000", "client selected an invalid SASL authentication mechanism");
            return;
        }
        const userlist_entry *e = userlist_find(s->px->users, s->user);
        const scram_secret *sec = e ? userlist_entry_scram(e) : NULL;
        /* unknown users go through the motions with a fake secret */
        s->scram = scram_server_new(sec ? sec : userlist_mock_secret(s->px->users), NULL);
        if (!s->scram) {
            session_close(s, "53200", "out of memory");
            return;
        }
        if (!scram_server_first(s->scram, init.data, init.data_len, &out, &out_len, &err)) {
            char msg[256];
            snprintf(msg, sizeof(msg), "malformed SCRAM message: %s", err ? err : "?");
            session_close(s, "08P01", msg);
            return;
        }
        pg_buf_auth_request(&s->client.out, PG_AUTH_SASL_CONTINUE, out, out_len);
        free(out);
        s->auth = AUTH_STEP_SASL_FINAL;
        return;
    }
    if (!scram_server_final(s->scram, body, len, &out, &out_len, &err) || !s->user_known) {
        free(out);
        auth_failed(s);
        return;
    }
    pg_buf_auth_request(&s->client.out, PG_AUTH_SASL_FINAL, out, out_len);
    free(out);
    auth_succeeded(s);
}

/* A whole startup-phase packet; returns bytes consumed, 0 when it closed. */
static void startup_packet(session *s, const uint8_t *body, size_t len, size_t after)
{
    pg_startup st;
    const char *err = NULL;
    if (!pg_decode_startup(body, len, &st, &err)) {
        session_close(s, "08P01", err);
        return;
    }
    if (st.code == PG_SSL_REQUEST_CODE || st.code == PG_GSSENC_REQUEST_CODE) {
        /* bytes behind an encryption request would be read as plaintext
         * although the client believes they are protected: refuse */
        if (after) {
            session_close(s, "08P01", "unexpected data after an encryption request");
            return;
        }
        pg_buf_put_byte(&s->client.out, 'N');
        return;
    }
    if (st.code == PG_CANCEL_REQUEST_CODE) {
        cancel_forward(s->px, st.cancel_pid, st.cancel_key);
        session_close(s, NULL, "cancel request handled");
        return;
    }
    const char *user = pg_startup_get(&st, "user");
    if (!user || !*user) {
        session_close(s, "28000", "no PostgreSQL user name specified in startup packet");
        return;
    }
    const char *repl = pg_startup_get(&st, "replication");
    if (repl && strcmp(repl, "false") != 0 && strcmp(repl, "off") != 0 &&
        strcmp(repl, "0") != 0 && strcmp(repl, "no") != 0) {
        session_close(s, "08P01", "replication connections are not supported by pgtandem");
        return;
    }
    const char *db = pg_startup_get(&st, "database");
    if (!db || !*db)
        db = user;
    s->user = pool_strdup(user);
    s->database = pool_strdup(db);
    if (!s->user || !s->database || !keep_params(s, &st)) {
        session_close(s, "53200", "out of memory");
        return;
    }
    if (strcmp(db, ADMIN_DATABASE) == 0) {
        s->admin = true; /* the admin console: no backend, no routing */
        s->routed = false;
    } else if (!database_known(s->cfg, db)) {
        char msg[256];
        snprintf(msg, sizeof(msg), "database \"%s\" does not exist", db);
        session_close(s, "3D000", msg);
        return;
    }
    negotiate_version(s, &st);
    start_auth(s);
}

void session_login_input(session *s)
{
    pg_buf *in = &s->client.in;
    size_t pos = 0;
    while (s->state == SESSION_STARTUP || s->state == SESSION_AUTH) {
        pg_frame f;
        const char *err = NULL;
        pg_frame_status st = s->state == SESSION_STARTUP
                                 ? pg_frame_startup(in->data + pos, in->len - pos, &f, &err)
                                 : pg_frame_fe(in->data + pos, in->len - pos, &f, &err);
        if (st == PG_FRAME_INCOMPLETE)
            break;
        if (st == PG_FRAME_INVALID) {
            session_close(s, "08P01", err);
            return;
        }
        size_t whole = f.hdr_len + f.body_len;
        if (in->len - pos < whole)
            break;
        const uint8_t *body = in->data + pos + f.hdr_len;
        pos += whole;
        if (s->state == SESSION_STARTUP) {
            startup_packet(s, body, f.body_len, in->len - pos);
        } else if (f.type == PG_FE_TERMINATE) {
            session_close(s, NULL, "client gave up during authentication");
        } else if (f.type != PG_FE_PASSWORD) {
            session_close(s, "08P01", "expected a password response during authentication");
        } else if (s->auth == AUTH_STEP_PASSWORD) {
            check_password(s, body, f.body_len);
        } else {
            sasl_step(s, body, f.body_len);
        }
        if (s->state == SESSION_CLOSED)
            return;
    }
    pg_buf_consume(in, pos);
    if (!stream_flush(&s->client))
        session_close(s, NULL, "client went away during login");
}
