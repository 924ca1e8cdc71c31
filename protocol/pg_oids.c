/* Rewrites type OIDs in backend messages; see pg_oids.h. */
#include "protocol/pg_oids.h"

#include <stdlib.h>
#include <string.h>

static bool pg_oids_binary_value_at(uint8_t *v, size_t len, const pg_oid_map *m, int depth);

static int by_from(const void *a, const void *b)
{
    uint32_t x = ((const pg_oid_pair *)a)->from, y = ((const pg_oid_pair *)b)->from;
    return x < y ? -1 : x > y;
}

bool pg_oid_map_sort(pg_oid_map *m)
{
    if (!m->n)
        return true;
    qsort(m->pairs, m->n, sizeof(m->pairs[0]), by_from);
    bool ok = true;
    size_t out = 1;
    for (size_t i = 1; i < m->n; i++) {
        if (m->pairs[i].from == m->pairs[out - 1].from) {
            ok = ok && m->pairs[i].to == m->pairs[out - 1].to;
            continue;
        }
        m->pairs[out++] = m->pairs[i];
    }
    m->n = out;
    return ok;
}

uint32_t pg_oid_map_get(const pg_oid_map *m, uint32_t oid)
{
    if (!m)
        return oid;
    size_t lo = 0, hi = m->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (m->pairs[mid].from == oid)
            return m->pairs[mid].to;
        if (m->pairs[mid].from < oid)
            lo = mid + 1;
        else
            hi = mid;
    }
    return oid;
}

static uint32_t get32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void map_at(uint8_t *p, const pg_oid_map *m)
{
    if (m && m->n)
        put32(p, pg_oid_map_get(m, get32(p)));
}

/* Each field: name\0, table oid (4), attnum (2), type oid (4), typlen (2),
 * typmod (4), format (2). One pass checks the whole body, a second writes,
 * so a malformed message is never half rewritten. */
bool pg_oids_row_description(uint8_t *body, size_t len, const pg_oid_map *types,
                             const pg_oid_map *tables)
{
    if (len < 2)
        return false;
    size_t n = ((size_t)body[0] << 8) | body[1];
    size_t pos = 2;
    for (size_t i = 0; i < n; i++) {
        const uint8_t *nul = memchr(body + pos, 0, len - pos);
        if (!nul || len - (size_t)(nul + 1 - body) < 18)
            return false;
        pos = (size_t)(nul + 1 - body) + 18;
    }
    if (pos != len)
        return false;
    pos = 2;
    for (size_t i = 0; i < n; i++) {
        pos += strlen((const char *)body + pos) + 1;
        map_at(body + pos, tables);
        map_at(body + pos + 6, types);
        pos += 18;
    }
    return true;
}

bool pg_oids_parameter_description(uint8_t *body, size_t len, const pg_oid_map *types)
{
    if (len < 2)
        return false;
    size_t n = ((size_t)body[0] << 8) | body[1];
    if (len != 2 + 4 * n)
        return false;
    for (size_t i = 0; i < n; i++)
        map_at(body + 2 + 4 * i, types);
    return true;
}

/* ------------------------------------------------- binary arrays, composites */

#define VALUE_MAX_DEPTH 6
#define ARRAY_MAX_DIMS 6        /* PostgreSQL's MAXDIM */
#define COMPOSITE_MAX_FIELDS 1664 /* MaxTupleAttributeNumber */

static int32_t get_i32(const uint8_t *p)
{
    return (int32_t)get32(p);
}

static bool mapped(const pg_oid_map *m, uint32_t oid)
{
    return pg_oid_map_get(m, oid) != oid;
}

/* A value's length word at *pos (-1: NULL), checked against what is left;
 * *pos moves past the word. */
static bool read_len(const uint8_t *v, size_t len, size_t *pos, int32_t *n)
{
    if (len - *pos < 4)
        return false;
    *n = get_i32(v + *pos);
    *pos += 4;
    return *n == -1 || (*n >= 0 && (size_t)*n <= len - *pos);
}

/* Each element of `count`, from `pos`: length (4, -1 for NULL) and bytes.
 * With `write`, elements of a mapped type (elem_oid, or per element the OID
 * before it when elem_oid is 0) are looked into. True when they end at len. */
static bool walk_items(uint8_t *v, size_t len, size_t pos, uint64_t count, bool per_item_oid,
                       uint32_t elem_oid, const pg_oid_map *m, int depth, bool write)
{
    for (uint64_t i = 0; i < count; i++) {
        uint32_t oid = elem_oid;
        if (per_item_oid) {
            if (len - pos < 4)
                return false;
            oid = get32(v + pos);
            if (write)
                map_at(v + pos, m);
            pos += 4;
        }
        int32_t n;
        if (!read_len(v, len, &pos, &n))
            return false;
        if (n == -1)
            continue;
        if (write && depth < VALUE_MAX_DEPTH && mapped(m, oid))
            (void)pg_oids_binary_value_at(v + pos, (size_t)n, m, depth + 1);
        pos += (size_t)n;
    }
    return pos == len;
}

/* ndim, flags, element OID, ndim (size, lower bound) pairs, then the items */
static bool walk_array(uint8_t *v, size_t len, const pg_oid_map *m, int depth, bool write)
{
    if (len < 12)
        return false;
    int32_t ndim = get_i32(v), flags = get_i32(v + 4);
    uint32_t elem = get32(v + 8);
    if (ndim < 0 || ndim > ARRAY_MAX_DIMS || (flags != 0 && flags != 1) || !mapped(m, elem) ||
        len - 12 < (size_t)ndim * 8)
        return false;
    uint64_t count = ndim ? 1 : 0;
    for (int32_t d = 0; d < ndim; d++) {
        int32_t size = get_i32(v + 12 + 8 * (size_t)d);
        if (size < 0)
            return false;
        count *= (uint64_t)size;
        if (count > len) /* each item takes 4 bytes at least */
            return false;
    }
    if (write)
        map_at(v + 8, m);
    return walk_items(v, len, 12 + (size_t)ndim * 8, count, false, elem, m, depth, write);
}

/* field count, then per field: OID, length, bytes */
static bool walk_composite(uint8_t *v, size_t len, const pg_oid_map *m, int depth, bool write)
{
    if (len < 4)
        return false;
    int32_t n = get_i32(v);
    if (n < 1 || n > COMPOSITE_MAX_FIELDS)
        return false;
    bool any = false; /* one field of a mapped type at least */
    size_t pos = 4;
    for (int32_t i = 0; i < n; i++) {
        if (len - pos < 4)
            return false;
        any = any || mapped(m, get32(v + pos));
        pos += 4;
        int32_t flen;
        if (!read_len(v, len, &pos, &flen))
            return false;
        if (flen != -1)
            pos += (size_t)flen;
    }
    return pos == len && any && walk_items(v, len, 4, (uint64_t)n, true, 0, m, depth, write);
}

static bool pg_oids_binary_value_at(uint8_t *v, size_t len, const pg_oid_map *m, int depth)
{
    if (!m || !m->n || len < 4 || v[0] != 0)
        return false;
    if (walk_array(v, len, m, depth, false))
        return walk_array(v, len, m, depth, true);
    if (walk_composite(v, len, m, depth, false))
        return walk_composite(v, len, m, depth, true);
    return false;
}

bool pg_oids_binary_value(uint8_t *v, size_t len, const pg_oid_map *types)
{
    return pg_oids_binary_value_at(v, len, types, 0);
}

void pg_oids_data_row(uint8_t *body, size_t len, const pg_oid_map *types)
{
    if (len < 2 || !types || !types->n)
        return;
    size_t n = ((size_t)body[0] << 8) | body[1], pos = 2;
    for (size_t i = 0; i < n; i++) {
        int32_t vlen;
        if (!read_len(body, len, &pos, &vlen))
            return;
        if (vlen == -1)
            continue;
        if (vlen >= 12 && body[pos] == 0)
            (void)pg_oids_binary_value(body + pos, (size_t)vlen, types);
        pos += (size_t)vlen;
    }
}
