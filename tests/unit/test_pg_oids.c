/* Unit tests for protocol/pg_oids: the OID map (sort, lookup) and the in-place
 * rewrite of RowDescription and ParameterDescription. Bodies are written out
 * by hand so each case shows the bytes on the wire. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/pg_oids.h"

#define BODY(lit) (const uint8_t *)(lit), (sizeof(lit) - 1)

static pg_oid_pair pairs[] = {{16513, 16831}, {16512, 16830}, {16600, 16700}};
static pg_oid_map types = {pairs, 3};
static pg_oid_pair tpairs[] = {{16400, 16900}};
static pg_oid_map tables = {tpairs, 1};

static void sorted(void)
{
    cr_assert(pg_oid_map_sort(&types));
    cr_assert(pg_oid_map_sort(&tables));
}

/* a copy of a literal body, exactly its size (ASan sees any overrun) */
static uint8_t *dup_body(const uint8_t *b, size_t len)
{
    uint8_t *p = malloc(len ? len : 1);
    memcpy(p, b, len);
    return p;
}

Test(pg_oids, map_sorts_and_finds)
{
    sorted();
    cr_assert_eq(pg_oid_map_get(&types, 16512), 16830);
    cr_assert_eq(pg_oid_map_get(&types, 16513), 16831);
    cr_assert_eq(pg_oid_map_get(&types, 16600), 16700);
    cr_assert_eq(pg_oid_map_get(&types, 23), 23, "a built-in type passes as it is");
    cr_assert_eq(pg_oid_map_get(&types, 16514), 16514, "an unknown type passes as it is");
    cr_assert_eq(pg_oid_map_get(NULL, 16513), 16513);
    pg_oid_map empty = {NULL, 0};
    cr_assert(pg_oid_map_sort(&empty));
    cr_assert_eq(pg_oid_map_get(&empty, 16513), 16513);
}

Test(pg_oids, map_duplicates)
{
    pg_oid_pair same[] = {{5, 6}, {5, 6}, {1, 2}};
    pg_oid_map m = {same, 3};
    cr_assert(pg_oid_map_sort(&m), "the same pair twice is no conflict");
    cr_assert_eq(m.n, 2);
    pg_oid_pair clash[] = {{5, 6}, {5, 7}};
    pg_oid_map c = {clash, 2};
    cr_assert_not(pg_oid_map_sort(&c));
    cr_assert_eq(c.n, 1);
}

/* two fields: status (table 16400, type 16513 = an enum), n (table 0, int4) */
static const uint8_t row_desc[] =
    "\0\x02"
    "status\0" "\0\0\x40\x10" "\0\x02" "\0\0\x40\x81" "\0\x04" "\xff\xff\xff\xff" "\0\0"
    "n\0" "\0\0\0\0" "\0\0" "\0\0\0\x17" "\0\x04" "\xff\xff\xff\xff" "\0\x01";

Test(pg_oids, row_description)
{
    sorted();
    size_t len = sizeof(row_desc) - 1;
    uint8_t *b = dup_body(row_desc, len);
    cr_assert(pg_oids_row_description(b, len, &types, &tables));
    static const uint8_t want[] =
        "\0\x02"
        "status\0" "\0\0\x42\x04" "\0\x02" "\0\0\x41\xbf" "\0\x04" "\xff\xff\xff\xff" "\0\0"
        "n\0" "\0\0\0\0" "\0\0" "\0\0\0\x17" "\0\x04" "\xff\xff\xff\xff" "\0\x01";
    cr_assert_eq(memcmp(b, want, len), 0, "type 16513 -> 16831, table 16400 -> 16900");
    /* no table map: the table OID stays */
    memcpy(b, row_desc, len);
    cr_assert(pg_oids_row_description(b, len, &types, NULL));
    cr_assert_eq(memcmp(b + 9, "\0\0\x40\x10", 4), 0);
    cr_assert_eq(memcmp(b + 15, "\0\0\x41\xbf", 4), 0);
    free(b);
}

Test(pg_oids, row_description_empty_and_malformed)
{
    sorted();
    uint8_t none[] = {0, 0};
    cr_assert(pg_oids_row_description(none, 2, &types, &tables));
    size_t len = sizeof(row_desc) - 1;
    /* every truncation is refused and left untouched */
    for (size_t cut = 0; cut < len; cut++) {
        uint8_t *b = dup_body(row_desc, cut);
        cr_assert_not(pg_oids_row_description(b, cut, &types, &tables), "cut at %zu", cut);
        cr_assert_eq(memcmp(b, row_desc, cut), 0, "cut at %zu was touched", cut);
        free(b);
    }
    /* one trailing byte too many */
    uint8_t *b = dup_body(row_desc, len + 1);
    b[len] = 0;
    cr_assert_not(pg_oids_row_description(b, len + 1, &types, &tables));
    cr_assert_eq(memcmp(b, row_desc, len), 0);
    free(b);
    /* a name without its NUL */
    uint8_t *c = dup_body(BODY("\0\x01status"));
    cr_assert_not(pg_oids_row_description(c, 8, &types, &tables));
    free(c);
}

Test(pg_oids, parameter_description)
{
    sorted();
    const uint8_t in[] = "\0\x03" "\0\0\x40\x80" "\0\0\0\x19" "\0\0\x40\xd8";
    size_t len = sizeof(in) - 1;
    uint8_t *b = dup_body(in, len);
    cr_assert(pg_oids_parameter_description(b, len, &types));
    static const uint8_t want[] = "\0\x03" "\0\0\x41\xbe" "\0\0\0\x19" "\0\0\x41\x3c";
    cr_assert_eq(memcmp(b, want, len), 0, "16512 -> 16830, text stays, 16600 -> 16700");
    free(b);
    for (size_t cut = 0; cut < len; cut++) {
        uint8_t *t = dup_body(in, cut);
        cr_assert_not(pg_oids_parameter_description(t, cut, &types), "cut at %zu", cut);
        cr_assert_eq(memcmp(t, in, cut), 0);
        free(t);
    }
    uint8_t none[] = {0, 0};
    cr_assert(pg_oids_parameter_description(none, 2, &types));
}

/* ---- binary arrays and composites (map: 16513 -> 16831, 16512 -> 16830, 16600 -> 16700) */

/* an array of one dimension, two elements of type 16513 ('a', 'bc') */
static const uint8_t enum_array[] = "\0\0\0\x01" "\0\0\0\0" "\0\0\x40\x81"
                                    "\0\0\0\x02" "\0\0\0\x01"
                                    "\0\0\0\x01" "a" "\0\0\0\x02" "bc";
/* a composite (int4 7, a NULL of 16512, a 16600 that is an array of 16513 with no elements) */
static const uint8_t composite[] = "\0\0\0\x03"
                                   "\0\0\0\x17" "\0\0\0\x04" "\0\0\0\x07"
                                   "\0\0\x40\x80" "\xff\xff\xff\xff"
                                   "\0\0\x40\xd8" "\0\0\0\x0c" "\0\0\0\0" "\0\0\0\0" "\0\0\x40\x81";

/* a rewritten copy of a value the map must recognise */
static uint8_t *rewritten(const uint8_t *v, size_t len)
{
    sorted();
    uint8_t *b = dup_body(v, len);
    cr_assert(pg_oids_binary_value(b, len, &types));
    return b;
}

Test(pg_oids, binary_array)
{
    size_t len = sizeof(enum_array) - 1;
    uint8_t *b = rewritten(enum_array, len);
    cr_assert_eq(memcmp(b + 8, "\0\0\x41\xbf", 4), 0, "element type 16513 -> 16831");
    cr_assert_eq(memcmp(b + 12, enum_array + 12, len - 12), 0, "the rest stays");
    free(b);
    /* an array of a type the map lacks (int4) is left alone */
    uint8_t ints[] = {0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0x17, 0, 0, 0, 1, 0, 0, 0, 1,
                      0, 0, 0, 4, 0, 0, 0, 9};
    cr_assert_not(pg_oids_binary_value(ints, sizeof(ints), &types));
    cr_assert_eq(ints[11], 0x17);
}

Test(pg_oids, binary_composite_nested)
{
    size_t len = sizeof(composite) - 1;
    uint8_t *b = rewritten(composite, len);
    cr_assert_eq(memcmp(b + 4, "\0\0\0\x17", 4), 0, "int4 stays");
    cr_assert_eq(memcmp(b + 16, "\0\0\x41\xbe", 4), 0, "16512 -> 16830");
    cr_assert_eq(memcmp(b + 24, "\0\0\x41\x3c", 4), 0, "16600 -> 16700");
    cr_assert_eq(memcmp(b + 40, "\0\0\x41\xbf", 4), 0, "inside the field: 16513 -> 16831");
    free(b);
}

Test(pg_oids, binary_not_quite)
{
    sorted();
    /* every truncation or extension of a recognised value is left as it was */
    const uint8_t *vals[] = {enum_array, composite};
    size_t lens[] = {sizeof(enum_array) - 1, sizeof(composite) - 1};
    for (size_t k = 0; k < 2; k++) {
        for (size_t cut = 0; cut <= lens[k] + 1; cut++) {
            if (cut == lens[k])
                continue;
            uint8_t *b = calloc(1, cut ? cut : 1);
            memcpy(b, vals[k], cut < lens[k] ? cut : lens[k]);
            cr_assert_not(pg_oids_binary_value(b, cut, &types), "value %zu cut at %zu", k, cut);
            cr_assert_eq(memcmp(b, vals[k], cut < lens[k] ? cut : lens[k]), 0);
            free(b);
        }
    }
    /* a text value never starts with a NUL byte */
    uint8_t text[] = "happy, sad and meh";
    cr_assert_not(pg_oids_binary_value(text, sizeof(text) - 1, &types));
    /* flags other than 0 or 1, or more than 6 dimensions */
    uint8_t *b = dup_body(enum_array, sizeof(enum_array) - 1);
    b[7] = 2;
    cr_assert_not(pg_oids_binary_value(b, sizeof(enum_array) - 1, &types));
    b[7] = 0;
    b[3] = 7;
    cr_assert_not(pg_oids_binary_value(b, sizeof(enum_array) - 1, &types));
    free(b);
    /* an empty map changes nothing */
    pg_oid_map none = {NULL, 0};
    uint8_t *c = dup_body(composite, sizeof(composite) - 1);
    cr_assert_not(pg_oids_binary_value(c, sizeof(composite) - 1, &none));
    free(c);
}

Test(pg_oids, data_row)
{
    sorted();
    /* DataRow: a text value, a NULL, the enum array */
    size_t alen = sizeof(enum_array) - 1;
    size_t len = 2 + 4 + 3 + 4 + 4 + alen;
    uint8_t *row = calloc(1, len);
    memcpy(row, "\0\x03" "\0\0\0\x03" "abc" "\xff\xff\xff\xff", 13);
    row[13] = 0, row[14] = 0, row[15] = 0, row[16] = (uint8_t)alen;
    memcpy(row + 17, enum_array, alen);
    pg_oids_data_row(row, len, &types);
    cr_assert_eq(memcmp(row + 17 + 8, "\0\0\x41\xbf", 4), 0);
    cr_assert_eq(memcmp(row + 6, "abc", 3), 0);
    /* a row cut inside its last value: that value is left alone */
    memcpy(row + 17 + 8, "\0\0\x40\x81", 4);
    pg_oids_data_row(row, len - 1, &types);
    cr_assert_eq(memcmp(row + 17 + 8, "\0\0\x40\x81", 4), 0);
    free(row);
}
