/* Message type bytes and special startup codes of the PostgreSQL v3 wire
 * protocol, named once, with PostgreSQL's own names, plus to-string helpers
 * for logs. Frontend = sent by the client, backend = sent by the server. */
#ifndef PGT_PG_CODES_H
#define PGT_PG_CODES_H

#include <stdint.h>

/* frontend messages */
#define PG_FE_BIND 'B'
#define PG_FE_CLOSE 'C'
#define PG_FE_COPY_DATA 'd'
#define PG_FE_COPY_DONE 'c'
#define PG_FE_COPY_FAIL 'f'
#define PG_FE_DESCRIBE 'D'
#define PG_FE_EXECUTE 'E'
#define PG_FE_FLUSH 'H'
#define PG_FE_FUNCTION_CALL 'F'
#define PG_FE_PARSE 'P'
#define PG_FE_PASSWORD 'p' /* also SASLInitialResponse, SASLResponse, GSSResponse */
#define PG_FE_QUERY 'Q'
#define PG_FE_SYNC 'S'
#define PG_FE_TERMINATE 'X'

/* backend messages */
#define PG_BE_AUTHENTICATION 'R'
#define PG_BE_BACKEND_KEY_DATA 'K'
#define PG_BE_BIND_COMPLETE '2'
#define PG_BE_CLOSE_COMPLETE '3'
#define PG_BE_COMMAND_COMPLETE 'C'
#define PG_BE_COPY_DATA 'd'
#define PG_BE_COPY_DONE 'c'
#define PG_BE_COPY_IN_RESPONSE 'G'
#define PG_BE_COPY_OUT_RESPONSE 'H'
#define PG_BE_COPY_BOTH_RESPONSE 'W'
#define PG_BE_DATA_ROW 'D'
#define PG_BE_EMPTY_QUERY_RESPONSE 'I'
#define PG_BE_ERROR_RESPONSE 'E'
#define PG_BE_FUNCTION_CALL_RESPONSE 'V'
#define PG_BE_NEGOTIATE_PROTOCOL_VERSION 'v'
#define PG_BE_NO_DATA 'n'
#define PG_BE_NOTICE_RESPONSE 'N'
#define PG_BE_NOTIFICATION_RESPONSE 'A'
#define PG_BE_PARAMETER_DESCRIPTION 't'
#define PG_BE_PARAMETER_STATUS 'S'
#define PG_BE_PARSE_COMPLETE '1'
#define PG_BE_PORTAL_SUSPENDED 's'
#define PG_BE_READY_FOR_QUERY 'Z'
#define PG_BE_ROW_DESCRIPTION 'T'

/* AuthenticationRequest subtypes */
#define PG_AUTH_OK 0
#define PG_AUTH_CLEARTEXT 3
#define PG_AUTH_MD5 5
#define PG_AUTH_GSS 7
#define PG_AUTH_GSS_CONTINUE 8
#define PG_AUTH_SSPI 9
#define PG_AUTH_SASL 10
#define PG_AUTH_SASL_CONTINUE 11
#define PG_AUTH_SASL_FINAL 12

/* codes carried where a startup packet's protocol version goes */
#define PG_PROTOCOL_3_0 196608u /* 3 << 16 */
#define PG_PROTOCOL_3_2 196610u
#define PG_CANCEL_REQUEST_CODE 80877102u
#define PG_SSL_REQUEST_CODE 80877103u
#define PG_GSSENC_REQUEST_CODE 80877104u

/* transaction status byte of ReadyForQuery */
#define PG_TX_IDLE 'I'
#define PG_TX_IN_BLOCK 'T'
#define PG_TX_FAILED 'E'

const char *pg_fe_msg_name(uint8_t type);
const char *pg_be_msg_name(uint8_t type);

#endif
