/* Nesting guards. libpg_query, protobuf-c's unpacker and our walker all recurse once per
 * tree level, and left-associative chains (1+1+1..., x::t::t..., a JOIN b JOIN c...,
 * SELECT 1 UNION SELECT 1 ...) nest without bound: a ~100 kB query overflows an 8 MB stack
 * inside libpg_query itself. A proxy must not die on a client's query, so input is measured
 * before each recursive stage and refused (classified UNKNOWN) past the limits. */
#include <stdint.h>
#include <stdlib.h>

#include <pg_query.h>

#include "routing/classify_internal.h"

/* A chain level costs at least an operator and an operand, two bytes: shorter input cannot
 * reach the limit and skips the scan. */
#define GUARD_MIN_SCAN_LEN (2u * CLASSIFY_MAX_EXPR_CHAIN)

/* Bison refuses parenthesis nesting long before this; deeper input is refused here too. */
#define GUARD_MAX_PARENS 20000u

static bool is_chain_token(PgQuery__Token t)
{
    switch (t) {
    case PG_QUERY__TOKEN__ASCII_37: /* % */
    case PG_QUERY__TOKEN__ASCII_42: /* * */
    case PG_QUERY__TOKEN__ASCII_43: /* + */
    case PG_QUERY__TOKEN__ASCII_45: /* - */
    case PG_QUERY__TOKEN__ASCII_47: /* / */
    case PG_QUERY__TOKEN__ASCII_60: /* < */
    case PG_QUERY__TOKEN__ASCII_61: /* = */
    case PG_QUERY__TOKEN__ASCII_62: /* > */
    case PG_QUERY__TOKEN__ASCII_94: /* ^ */
    case PG_QUERY__TOKEN__Op:
    case PG_QUERY__TOKEN__TYPECAST:
    case PG_QUERY__TOKEN__LESS_EQUALS:
    case PG_QUERY__TOKEN__GREATER_EQUALS:
    case PG_QUERY__TOKEN__NOT_EQUALS:
    case PG_QUERY__TOKEN__OPERATOR:
    case PG_QUERY__TOKEN__NOT:
    case PG_QUERY__TOKEN__IS:
    case PG_QUERY__TOKEN__ISNULL:
    case PG_QUERY__TOKEN__NOTNULL:
    case PG_QUERY__TOKEN__LIKE:
    case PG_QUERY__TOKEN__ILIKE:
    case PG_QUERY__TOKEN__SIMILAR:
    case PG_QUERY__TOKEN__BETWEEN:
    case PG_QUERY__TOKEN__IN_P:
    case PG_QUERY__TOKEN__COLLATE:
    case PG_QUERY__TOKEN__AT:
    case PG_QUERY__TOKEN__OVERLAPS:
    case PG_QUERY__TOKEN__JOIN:
        return true;
    default:
        return false;
    }
}

/* Upper estimate of expression nesting: operator-like tokens are counted per parenthesis
 * level, and a count restarts where siblings start (',', AND, OR: AND/OR chains are
 * flattened by the grammar). Set operations nest across commas, so they are counted
 * separately and only forgotten with their level. A bulk INSERT of many short rows thus
 * stays small however long it is. */
static bool tokens_ok(const PgQuery__ScanResult *sr)
{
    uint32_t *chain = calloc(GUARD_MAX_PARENS + 1, sizeof *chain);
    uint32_t *setops = calloc(GUARD_MAX_PARENS + 1, sizeof *setops);
    bool ok = chain && setops;
    size_t depth = 0, sum = 0;
    for (size_t i = 0; ok && i < sr->n_tokens; i++) {
        PgQuery__Token t = sr->tokens[i]->token;
        switch (t) {
        case PG_QUERY__TOKEN__ASCII_40: /* ( */
        case PG_QUERY__TOKEN__ASCII_91: /* [ */
            if (++depth > GUARD_MAX_PARENS) {
                ok = false;
                break;
            }
            chain[depth] = setops[depth] = 0;
            break;
        case PG_QUERY__TOKEN__ASCII_41: /* ) */
        case PG_QUERY__TOKEN__ASCII_93: /* ] */
            if (depth > 0) {
                sum -= chain[depth] + setops[depth];
                depth--;
            }
            break;
        case PG_QUERY__TOKEN__ASCII_44: /* , */
        case PG_QUERY__TOKEN__AND:
        case PG_QUERY__TOKEN__OR:
            sum -= chain[depth];
            chain[depth] = 0;
            break;
        case PG_QUERY__TOKEN__ASCII_59: /* ; */
            depth = 0;
            sum = 0;
            chain[0] = setops[0] = 0;
            break;
        case PG_QUERY__TOKEN__UNION:
        case PG_QUERY__TOKEN__INTERSECT:
        case PG_QUERY__TOKEN__EXCEPT:
            setops[depth]++;
            sum++;
            break;
        default:
            if (is_chain_token(t)) {
                chain[depth]++;
                sum++;
            }
            break;
        }
        if (sum + depth > CLASSIFY_MAX_EXPR_CHAIN)
            ok = false;
    }
    free(chain);
    free(setops);
    return ok;
}

bool classify_guard_text(const char *sql, size_t len)
{
    if (len < GUARD_MIN_SCAN_LEN)
        return true;
    PgQueryScanResult r = pg_query_scan(sql);
    bool ok = true;
    /* A scan error means the parser will fail at the same place, before nesting deeply. */
    if (!r.error) {
        PgQuery__ScanResult *sr =
            pg_query__scan_result__unpack(NULL, r.pbuf.len, (const uint8_t *)r.pbuf.data);
        ok = sr && tokens_ok(sr);
        if (sr)
            pg_query__scan_result__free_unpacked(sr, NULL);
    }
    pg_query_free_scan_result(r);
    return ok;
}

bool classify_read_varint(const unsigned char *buf, size_t end, size_t *pos, uint64_t *out)
{
    uint64_t v = 0;
    for (unsigned shift = 0; shift < 64; shift += 7) {
        if (*pos >= end)
            return false;
        unsigned char b = buf[(*pos)++];
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *out = v;
            return true;
        }
    }
    return false;
}

/* Walks the protobuf wire format with an explicit stack, using the message descriptors to
 * tell nested messages from strings and packed scalars. */
bool classify_guard_tree(const unsigned char *buf, size_t len)
{
    typedef struct frame {
        const ProtobufCMessageDescriptor *desc;
        size_t end;
    } frame;
    frame *stack = malloc((CLASSIFY_MAX_TREE_DEPTH + 1) * sizeof *stack);
    if (!stack)
        return false;
    size_t depth = 0, pos = 0;
    stack[0].desc = &pg_query__parse_result__descriptor;
    stack[0].end = len;
    bool ok = true;
    while (ok) {
        while (depth > 0 && pos == stack[depth].end)
            depth--;
        if (depth == 0 && pos == len)
            break;
        uint64_t tag, n;
        if (!classify_read_varint(buf, stack[depth].end, &pos, &tag)) {
            ok = false;
            break;
        }
        size_t end = stack[depth].end;
        switch (tag & 7) {
        case 0:
            ok = classify_read_varint(buf, end, &pos, &n);
            break;
        case 1:
            ok = end - pos >= 8;
            pos += ok ? 8 : 0;
            break;
        case 5:
            ok = end - pos >= 4;
            pos += ok ? 4 : 0;
            break;
        case 2: {
            if (!classify_read_varint(buf, end, &pos, &n) || n > end - pos) {
                ok = false;
                break;
            }
            const ProtobufCFieldDescriptor *f =
                tag >> 3 > UINT32_MAX
                    ? NULL
                    : protobuf_c_message_descriptor_get_field(stack[depth].desc,
                                                              (unsigned)(tag >> 3));
            if (f && f->type == PROTOBUF_C_TYPE_MESSAGE && f->descriptor) {
                if (depth + 1 > CLASSIFY_MAX_TREE_DEPTH) {
                    ok = false;
                    break;
                }
                depth++;
                stack[depth].desc = f->descriptor;
                stack[depth].end = pos + (size_t)n;
            } else {
                pos += (size_t)n;
            }
            break;
        }
        default:
            ok = false;
            break;
        }
    }
    free(stack);
    return ok;
}
