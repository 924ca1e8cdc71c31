/* Human-readable names of protocol message types, for logs and errors. */
#include "protocol/pg_codes.h"

const char *pg_fe_msg_name(uint8_t type)
{
    switch (type) {
    case PG_FE_BIND: return "Bind";
    case PG_FE_CLOSE: return "Close";
    case PG_FE_COPY_DATA: return "CopyData";
    case PG_FE_COPY_DONE: return "CopyDone";
    case PG_FE_COPY_FAIL: return "CopyFail";
    case PG_FE_DESCRIBE: return "Describe";
    case PG_FE_EXECUTE: return "Execute";
    case PG_FE_FLUSH: return "Flush";
    case PG_FE_FUNCTION_CALL: return "FunctionCall";
    case PG_FE_PARSE: return "Parse";
    case PG_FE_PASSWORD: return "PasswordMessage";
    case PG_FE_QUERY: return "Query";
    case PG_FE_SYNC: return "Sync";
    case PG_FE_TERMINATE: return "Terminate";
    default: return "unknown";
    }
}

const char *pg_be_msg_name(uint8_t type)
{
    switch (type) {
    case PG_BE_AUTHENTICATION: return "Authentication";
    case PG_BE_BACKEND_KEY_DATA: return "BackendKeyData";
    case PG_BE_BIND_COMPLETE: return "BindComplete";
    case PG_BE_CLOSE_COMPLETE: return "CloseComplete";
    case PG_BE_COMMAND_COMPLETE: return "CommandComplete";
    case PG_BE_COPY_DATA: return "CopyData";
    case PG_BE_COPY_DONE: return "CopyDone";
    case PG_BE_COPY_IN_RESPONSE: return "CopyInResponse";
    case PG_BE_COPY_OUT_RESPONSE: return "CopyOutResponse";
    case PG_BE_COPY_BOTH_RESPONSE: return "CopyBothResponse";
    case PG_BE_DATA_ROW: return "DataRow";
    case PG_BE_EMPTY_QUERY_RESPONSE: return "EmptyQueryResponse";
    case PG_BE_ERROR_RESPONSE: return "ErrorResponse";
    case PG_BE_FUNCTION_CALL_RESPONSE: return "FunctionCallResponse";
    case PG_BE_NEGOTIATE_PROTOCOL_VERSION: return "NegotiateProtocolVersion";
    case PG_BE_NO_DATA: return "NoData";
    case PG_BE_NOTICE_RESPONSE: return "NoticeResponse";
    case PG_BE_NOTIFICATION_RESPONSE: return "NotificationResponse";
    case PG_BE_PARAMETER_DESCRIPTION: return "ParameterDescription";
    case PG_BE_PARAMETER_STATUS: return "ParameterStatus";
    case PG_BE_PARSE_COMPLETE: return "ParseComplete";
    case PG_BE_PORTAL_SUSPENDED: return "PortalSuspended";
    case PG_BE_READY_FOR_QUERY: return "ReadyForQuery";
    case PG_BE_ROW_DESCRIPTION: return "RowDescription";
    default: return "unknown";
    }
}
