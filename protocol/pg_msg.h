/* Decoders and validators for individual protocol messages. Pointers in the
 * decoded structs borrow from the message body; they live as long as it.
 * Every decoder checks each field and that the body was consumed whole. */
#ifndef PGT_PG_MSG_H
#define PGT_PG_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PG_STARTUP_MAX_PARAMS 64

typedef struct pg_startup {
    uint32_t code; /* protocol version or a request code (SSL, GSSENC, cancel) */
    int32_t cancel_pid;
    int32_t cancel_key;
    size_t n_params;
    const char *names[PG_STARTUP_MAX_PARAMS];
    const char *values[PG_STARTUP_MAX_PARAMS];
} pg_startup;

/* body = packet after its length word. */
bool pg_decode_startup(const uint8_t *body, size_t len, pg_startup *out, const char **err)
    __attribute__((warn_unused_result));
const char *pg_startup_get(const pg_startup *s, const char *name);

/* Structural check of a frontend message sent after startup. */
bool pg_fe_check(uint8_t type, const uint8_t *body, size_t len, const char **err)
    __attribute__((warn_unused_result));

typedef struct pg_sasl_initial {
    const char *mechanism;
    const uint8_t *data; /* NULL when the client sent length -1 */
    size_t data_len;
} pg_sasl_initial;
bool pg_decode_sasl_initial(const uint8_t *body, size_t len, pg_sasl_initial *out)
    __attribute__((warn_unused_result));
/* A PasswordMessage: one string, nothing after it. */
bool pg_decode_password(const uint8_t *body, size_t len, const char **password)
    __attribute__((warn_unused_result));

/* ---- backend messages ---- */
typedef struct pg_error_fields {
    const char *severity; /* the non-localized 'V' when present, else 'S' */
    const char *sqlstate;
    const char *message;
    const char *detail; /* NULL when absent */
} pg_error_fields;
/* ErrorResponse / NoticeResponse; fails when severity, SQLSTATE or message is missing. */
bool pg_decode_error(const uint8_t *body, size_t len, pg_error_fields *out)
    __attribute__((warn_unused_result));

typedef struct pg_auth_request {
    int32_t code;
    const uint8_t *data; /* the rest of the body */
    size_t data_len;
} pg_auth_request;
bool pg_decode_auth_request(const uint8_t *body, size_t len, pg_auth_request *out)
    __attribute__((warn_unused_result));
/* In an AuthenticationSASL payload, whether the list names `mechanism`. */
bool pg_sasl_offers(const uint8_t *data, size_t len, const char *mechanism);

bool pg_decode_parameter_status(const uint8_t *body, size_t len, const char **name,
                                const char **value) __attribute__((warn_unused_result));
bool pg_decode_backend_key(const uint8_t *body, size_t len, int32_t *pid, int32_t *key)
    __attribute__((warn_unused_result));
bool pg_decode_ready_for_query(const uint8_t *body, size_t len, uint8_t *tx_status)
    __attribute__((warn_unused_result));
/* Structural check of a whole backend message (DataRow field lengths, etc.). */
bool pg_be_check(uint8_t type, const uint8_t *body, size_t len, const char **err)
    __attribute__((warn_unused_result));

#endif
