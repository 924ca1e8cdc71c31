/* Message decoders and validators; see pg_msg.h. */
#include "protocol/pg_msg.h"

#include <string.h>

#include "protocol/pg_codes.h"
#include "protocol/pg_reader.h"

bool pg_decode_startup(const uint8_t *body, size_t len, pg_startup *out, const char **err)
{
    pg_reader r;
    pg_reader_init(&r, body, len);
    memset(out, 0, sizeof(*out));
    out->code = (uint32_t)pg_read_int32(&r);
    if (r.bad) {
        *err = "startup packet too short";
        return false;
    }
    switch (out->code) {
    case PG_SSL_REQUEST_CODE:
    case PG_GSSENC_REQUEST_CODE:
        if (!pg_reader_end(&r)) {
            *err = "invalid length of encryption request";
            return false;
        }
        return true;
    case PG_CANCEL_REQUEST_CODE:
        out->cancel_pid = pg_read_int32(&r);
        out->cancel_key = pg_read_int32(&r);
        if (!pg_reader_end(&r)) {
            *err = "invalid length of cancel request";
            return false;
        }
        return true;
    default:
        break;
    }
    if (out->code >> 16 != 3) {
        *err = "unsupported frontend protocol";
        return false;
    }
    for (;;) {
        const char *name = pg_read_cstring(&r);
        if (r.bad) {
            *err = "startup packet not terminated";
            return false;
        }
        if (!*name)
            break;
        const char *value = pg_read_cstring(&r);
        if (r.bad) {
            *err = "startup parameter has no value";
            return false;
        }
        /* PostgreSQL lets the last of two equal names win; a check that reads
         * the first would be fooled (replication=no, replication=database) */
        if (pg_startup_get(out, name)) {
            *err = "duplicate startup parameter";
            return false;
        }
        if (out->n_params == PG_STARTUP_MAX_PARAMS) {
            *err = "too many startup parameters";
            return false;
        }
        out->names[out->n_params] = name;
        out->values[out->n_params] = value;
        out->n_params++;
    }
    if (!pg_reader_end(&r)) {
        *err = "trailing bytes after startup parameters";
        return false;
    }
    return true;
}

const char *pg_startup_get(const pg_startup *s, const char *name)
{
    for (size_t i = 0; i < s->n_params; i++)
        if (strcmp(s->names[i], name) == 0)
            return s->values[i];
    return NULL;
}

/* int16 count of format codes, each 0 (text) or 1 (binary) */
static bool read_formats(pg_reader *r)
{
    int16_t n = pg_read_int16(r);
    if (n < 0)
        return false;
    for (int i = 0; i < n && !r->bad; i++) {
        int16_t f = pg_read_int16(r);
        if (f != 0 && f != 1)
            return false;
    }
    return !r->bad;
}

/* int16 count of values, each int32 length (-1 = NULL) and bytes */
static bool read_values(pg_reader *r)
{
    int16_t n = pg_read_int16(r);
    if (n < 0)
        return false;
    for (int i = 0; i < n && !r->bad; i++) {
        int32_t vlen = pg_read_int32(r);
        if (vlen < -1)
            return false;
        if (vlen > 0)
            (void)pg_read_bytes(r, (size_t)vlen);
    }
    return !r->bad;
}

static bool check_bind(pg_reader *r, const char **err)
{
    (void)pg_read_cstring(r); /* portal */
    (void)pg_read_cstring(r); /* statement */
    if (!read_formats(r)) {
        *err = "invalid parameter format codes in Bind";
        return false;
    }
    if (!read_values(r)) {
        *err = "invalid parameter values in Bind";
        return false;
    }
    if (!read_formats(r)) {
        *err = "invalid result format codes in Bind";
        return false;
    }
    return true;
}

static bool check_parse(pg_reader *r, const char **err)
{
    (void)pg_read_cstring(r);
    (void)pg_read_cstring(r);
    int16_t n = pg_read_int16(r);
    if (n < 0) {
        *err = "invalid parameter count in Parse";
        return false;
    }
    (void)pg_read_bytes(r, (size_t)n * 4);
    return true;
}

static bool check_function_call(pg_reader *r, const char **err)
{
    (void)pg_read_int32(r);
    if (!read_formats(r) || !read_values(r)) {
        *err = "invalid arguments in FunctionCall";
        return false;
    }
    int16_t f = pg_read_int16(r);
    if (f != 0 && f != 1) {
        *err = "invalid result format in FunctionCall";
        return false;
    }
    return true;
}

bool pg_fe_check(uint8_t type, const uint8_t *body, size_t len, const char **err)
{
    pg_reader r;
    pg_reader_init(&r, body, len);
    *err = NULL;
    switch (type) {
    case PG_FE_QUERY:
    case PG_FE_COPY_FAIL:
        (void)pg_read_cstring(&r);
        break;
    case PG_FE_PARSE:
        if (!check_parse(&r, err))
            return false;
        break;
    case PG_FE_BIND:
        if (!check_bind(&r, err))
            return false;
        break;
    case PG_FE_DESCRIBE:
    case PG_FE_CLOSE: {
        uint8_t what = pg_read_byte(&r);
        if (!r.bad && what != 'S' && what != 'P') {
            *err = type == PG_FE_CLOSE ? "invalid Close target" : "invalid Describe target";
            return false;
        }
        (void)pg_read_cstring(&r);
        break;
    }
    case PG_FE_EXECUTE:
        (void)pg_read_cstring(&r);
        (void)pg_read_int32(&r);
        break;
    case PG_FE_FLUSH:
    case PG_FE_SYNC:
    case PG_FE_TERMINATE:
    case PG_FE_COPY_DONE:
        break;
    case PG_FE_FUNCTION_CALL:
        if (!check_function_call(&r, err))
            return false;
        break;
    case PG_FE_COPY_DATA:
    case PG_FE_PASSWORD:
        return true;
    default:
        *err = "unknown message type";
        return false;
    }
    if (!pg_reader_end(&r)) {
        if (!*err)
            *err = "malformed message";
        return false;
    }
    return true;
}

bool pg_decode_sasl_initial(const uint8_t *body, size_t len, pg_sasl_initial *out)
{
    pg_reader r;
    pg_reader_init(&r, body, len);
    out->mechanism = pg_read_cstring(&r);
    int32_t n = pg_read_int32(&r);
    out->data = NULL;
    out->data_len = 0;
    if (n >= 0) {
        out->data = pg_read_bytes(&r, (size_t)n);
        out->data_len = (size_t)n;
    } else if (n != -1) {
        return false;
    }
    return pg_reader_end(&r);
}

bool pg_decode_password(const uint8_t *body, size_t len, const char **password)
{
    pg_reader r;
    pg_reader_init(&r, body, len);
    *password = pg_read_cstring(&r);
    return pg_reader_end(&r);
}

bool pg_decode_error(const uint8_t *body, size_t len, pg_error_fields *out)
{
    pg_reader r;
    pg_reader_init(&r, body, len);
    memset(out, 0, sizeof(*out));
    const char *localized = NULL;
    for (;;) {
        uint8_t code = pg_read_byte(&r);
        if (r.bad)
            return false;
        if (code == 0)
            break;
        const char *v = pg_read_cstring(&r);
        if (r.bad)
            return false;
        switch (code) {
        case 'S': localized = v; break;
        case 'V': out->severity = v; break;
        case 'C': out->sqlstate = v; break;
        case 'M': out->message = v; break;
        case 'D': out->detail = v; break;
        default: break;
        }
    }
    if (!out->severity)
        out->severity = localized;
    return pg_reader_end(&r) && out->severity && out->message && out->sqlstate &&
           strlen(out->sqlstate) == 5;
}

bool pg_decode_auth_request(const uint8_t *body, size_t len, pg_auth_request *out)
{
    if (len < 4)
        return false;
    pg_reader r;
    pg_reader_init(&r, body, len);
    out->code = pg_read_int32(&r);
    out->data = body + 4;
    out->data_len = len - 4;
    return true;
}

bool pg_sasl_offers(const uint8_t *data, size_t len, const char *mechanism)
{
    pg_reader r;
    pg_reader_init(&r, data, len);
    for (;;) {
        const char *m = pg_read_cstring(&r);
        if (r.bad || !*m)
            return false;
        if (strcmp(m, mechanism) == 0)
            return true;
    }
}

bool pg_decode_parameter_status(const uint8_t *body, size_t len, const char **name,
                                const char **value)
{
    pg_reader r;
    pg_reader_init(&r, body, len);
    *name = pg_read_cstring(&r);
    *value = pg_read_cstring(&r);
    return pg_reader_end(&r);
}

bool pg_decode_backend_key(const uint8_t *body, size_t len, int32_t *pid, int32_t *key)
{
    pg_reader r;
    pg_reader_init(&r, body, len);
    *pid = pg_read_int32(&r);
    *key = pg_read_int32(&r);
    return pg_reader_end(&r);
}

bool pg_decode_ready_for_query(const uint8_t *body, size_t len, uint8_t *tx_status)
{
    pg_reader r;
    pg_reader_init(&r, body, len);
    *tx_status = pg_read_byte(&r);
    return pg_reader_end(&r) &&
           (*tx_status == PG_TX_IDLE || *tx_status == PG_TX_IN_BLOCK ||
            *tx_status == PG_TX_FAILED);
}

static bool check_data_row(pg_reader *r)
{
    int16_t n = pg_read_int16(r);
    if (n < 0)
        return false;
    for (int i = 0; i < n && !r->bad; i++) {
        int32_t flen = pg_read_int32(r);
        if (flen < -1)
            return false;
        if (flen > 0)
            (void)pg_read_bytes(r, (size_t)flen);
    }
    return true;
}

bool pg_be_check(uint8_t type, const uint8_t *body, size_t len, const char **err)
{
    pg_reader r;
    pg_reader_init(&r, body, len);
    *err = "malformed message from server";
    switch (type) {
    case PG_BE_DATA_ROW:
        if (!check_data_row(&r)) {
            *err = "invalid field length in DataRow from server";
            return false;
        }
        return pg_reader_end(&r);
    case PG_BE_ERROR_RESPONSE:
    case PG_BE_NOTICE_RESPONSE: {
        pg_error_fields f;
        if (!pg_decode_error(body, len, &f)) {
            *err = "ErrorResponse or NoticeResponse without severity, SQLSTATE or message";
            return false;
        }
        return true;
    }
    case PG_BE_READY_FOR_QUERY: {
        uint8_t st;
        return pg_decode_ready_for_query(body, len, &st);
    }
    case PG_BE_COMMAND_COMPLETE:
        (void)pg_read_cstring(&r);
        return pg_reader_end(&r);
    case PG_BE_PARSE_COMPLETE:
    case PG_BE_BIND_COMPLETE:
    case PG_BE_CLOSE_COMPLETE:
    case PG_BE_NO_DATA:
    case PG_BE_EMPTY_QUERY_RESPONSE:
    case PG_BE_PORTAL_SUSPENDED:
    case PG_BE_COPY_DONE:
        return len == 0;
    default:
        return true;
    }
}
