/* Message framing and length limits; see pg_frame.h. */
#include "protocol/pg_frame.h"

#include "protocol/pg_codes.h"

static uint32_t get_u32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

size_t pg_frame_whole_len(const uint8_t *msg)
{
    return 1 + (size_t)get_u32(msg + 1);
}

uint32_t pg_frame_fe_max(uint8_t type)
{
    switch (type) {
    case PG_FE_QUERY:
    case PG_FE_PARSE:
    case PG_FE_BIND:
    case PG_FE_FUNCTION_CALL:
    case PG_FE_COPY_DATA:
        return PG_LONG_MSG_MAX_LEN;
    case PG_FE_PASSWORD:
        return PG_AUTH_MSG_MAX_LEN;
    case PG_FE_CLOSE:
    case PG_FE_DESCRIBE:
    case PG_FE_EXECUTE:
    case PG_FE_FLUSH:
    case PG_FE_SYNC:
    case PG_FE_TERMINATE:
    case PG_FE_COPY_DONE:
    case PG_FE_COPY_FAIL:
        return PG_SMALL_MSG_MAX_LEN;
    default:
        return 0;
    }
}

uint32_t pg_frame_be_max(uint8_t type)
{
    switch (type) {
    /* the ones that carry user data may be long */
    case PG_BE_ROW_DESCRIPTION:
    case PG_BE_DATA_ROW:
    case PG_BE_COPY_DATA:
    case PG_BE_FUNCTION_CALL_RESPONSE:
    case PG_BE_ERROR_RESPONSE:
    case PG_BE_NOTICE_RESPONSE:
    case PG_BE_NOTIFICATION_RESPONSE:
    case PG_BE_PARAMETER_DESCRIPTION:
        return PG_LONG_MSG_MAX_LEN;
    case PG_BE_AUTHENTICATION:
        return PG_AUTH_MSG_MAX_LEN;
    case PG_BE_BACKEND_KEY_DATA:
    case PG_BE_BIND_COMPLETE:
    case PG_BE_CLOSE_COMPLETE:
    case PG_BE_COMMAND_COMPLETE:
    case PG_BE_COPY_DONE:
    case PG_BE_COPY_IN_RESPONSE:
    case PG_BE_COPY_OUT_RESPONSE:
    case PG_BE_COPY_BOTH_RESPONSE:
    case PG_BE_EMPTY_QUERY_RESPONSE:
    case PG_BE_NEGOTIATE_PROTOCOL_VERSION:
    case PG_BE_NO_DATA:
    case PG_BE_PARAMETER_STATUS:
    case PG_BE_PARSE_COMPLETE:
    case PG_BE_PORTAL_SUSPENDED:
    case PG_BE_READY_FOR_QUERY:
        return 30000;
    default:
        return 0;
    }
}

static pg_frame_status frame_typed(const uint8_t *buf, size_t avail, pg_frame *out,
                                   const char **err, uint32_t max)
{
    if (avail < 5)
        return PG_FRAME_INCOMPLETE;
    uint32_t len = get_u32(buf + 1);
    if (max == 0) {
        *err = "unknown message type";
        return PG_FRAME_INVALID;
    }
    if (len < 4) {
        *err = "invalid message length";
        return PG_FRAME_INVALID;
    }
    if (len > max) {
        *err = "message too long";
        return PG_FRAME_INVALID;
    }
    out->type = buf[0];
    out->hdr_len = 5;
    out->body_len = len - 4;
    return PG_FRAME_OK;
}

pg_frame_status pg_frame_fe(const uint8_t *buf, size_t avail, pg_frame *out, const char **err)
{
    return frame_typed(buf, avail, out, err, avail ? pg_frame_fe_max(buf[0]) : 0);
}

pg_frame_status pg_frame_be(const uint8_t *buf, size_t avail, pg_frame *out, const char **err)
{
    return frame_typed(buf, avail, out, err, avail ? pg_frame_be_max(buf[0]) : 0);
}

pg_frame_status pg_frame_startup(const uint8_t *buf, size_t avail, pg_frame *out,
                                 const char **err)
{
    if (avail < 4)
        return PG_FRAME_INCOMPLETE;
    uint32_t len = get_u32(buf);
    /* the shortest valid packet is a length plus a 4-byte code */
    if (len < 8 || len > PG_STARTUP_MAX_LEN) {
        *err = len < 8 ? "invalid startup packet length" : "startup packet too long";
        return PG_FRAME_INVALID;
    }
    out->type = 0;
    out->hdr_len = 4;
    out->body_len = len - 4;
    return PG_FRAME_OK;
}
