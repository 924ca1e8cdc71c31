/* Result-set digests for shadow reads; see shadow_digest.h. */
#include "proxy/shadow_digest.h"

#include <stdio.h>
#include <string.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

void row_digest_init(row_digest *d)
{
    memset(d, 0, sizeof(*d));
}

static void field(XXH3_state_t *h, const void *val, int32_t len)
{
    /* the length first, so field boundaries and NULL (-1) are part of the hash */
    XXH3_128bits_update(h, &len, sizeof(len));
    if (len > 0)
        XXH3_128bits_update(h, val, (size_t)len);
}

static void add_row(row_digest *d, XXH3_state_t *h)
{
    XXH128_hash_t r = XXH3_128bits_digest(h);
    d->rows++;
    d->sum_lo += r.low64; /* wraps: addition mod 2^64 is order-free */
    d->sum_hi += r.high64;
    uint64_t link[3] = {d->chain, r.low64, r.high64};
    d->chain = XXH3_64bits(link, sizeof(link));
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

bool row_digest_add_datarow(row_digest *d, const uint8_t *body, size_t len)
{
    if (len < 2)
        return false;
    size_t n = (size_t)body[0] << 8 | body[1], pos = 2;
    XXH3_state_t h;
    XXH3_128bits_reset(&h);
    for (size_t i = 0; i < n; i++) {
        if (len - pos < 4)
            return false;
        int32_t flen = (int32_t)be32(body + pos);
        pos += 4;
        if (flen < -1 || (flen > 0 && (size_t)flen > len - pos))
            return false;
        field(&h, body + pos, flen < 0 ? -1 : flen);
        if (flen > 0)
            pos += (size_t)flen;
    }
    if (pos != len)
        return false;
    add_row(d, &h);
    return true;
}

void row_digest_add_fields(row_digest *d, size_t n, const char *const *vals, const int *lens)
{
    XXH3_state_t h;
    XXH3_128bits_reset(&h);
    for (size_t i = 0; i < n; i++)
        field(&h, vals[i], lens[i] < 0 ? -1 : (int32_t)lens[i]);
    add_row(d, &h);
}

bool row_digest_equal(const row_digest *a, const row_digest *b, bool ordered)
{
    if (a->rows != b->rows || a->sum_lo != b->sum_lo || a->sum_hi != b->sum_hi)
        return false;
    return !ordered || a->chain == b->chain;
}

void row_digest_format(const row_digest *d, bool ordered, char out[17])
{
    uint64_t v = ordered ? d->chain : d->sum_lo ^ d->sum_hi;
    snprintf(out, 17, "%016llx", (unsigned long long)v);
}
