/* Bind parameters for shadow reads; see shadow_params.h. */
#include "proxy/shadow_params.h"

#include <string.h>

static bool get16(const uint8_t *p, size_t len, size_t *pos, int *out)
{
    if (len - *pos < 2)
        return false;
    *out = (int16_t)((uint16_t)p[*pos] << 8 | p[*pos + 1]);
    *pos += 2;
    return true;
}

static bool get32(const uint8_t *p, size_t len, size_t *pos, int32_t *out)
{
    if (len - *pos < 4)
        return false;
    *out = (int32_t)((uint32_t)p[*pos] << 24 | (uint32_t)p[*pos + 1] << 16 |
                     (uint32_t)p[*pos + 2] << 8 | p[*pos + 3]);
    *pos += 4;
    return true;
}

static bool skip_cstring(const uint8_t *p, size_t len, size_t *pos)
{
    const uint8_t *nul = memchr(p + *pos, 0, len - *pos);
    if (!nul)
        return false;
    *pos = (size_t)(nul - p) + 1;
    return true;
}

bool shadow_params_from_bind(const uint8_t *p, size_t len, const uint8_t *types,
                             size_t n_types, shadow_params *out)
{
    size_t pos = 0;
    int n_formats, n_params, n_results;
    if (!skip_cstring(p, len, &pos) || !skip_cstring(p, len, &pos) ||
        !get16(p, len, &pos, &n_formats) || n_formats < 0)
        return false;
    size_t formats_at = pos;
    if ((len - pos) / 2 < (size_t)n_formats)
        return false;
    pos += 2 * (size_t)n_formats;
    if (!get16(p, len, &pos, &n_params) || n_params < 0 || n_params > SHADOW_MAX_PARAMS ||
        (n_formats > 1 && n_formats != n_params))
        return false;
    out->n = n_params;
    for (int i = 0; i < n_params; i++) {
        int32_t plen;
        if (!get32(p, len, &pos, &plen) || plen < -1 || (plen > 0 && (size_t)plen > len - pos))
            return false;
        int fmt = 0;
        if (n_formats) {
            size_t at = formats_at + 2 * (size_t)(n_formats == 1 ? 0 : i);
            fmt = (int16_t)((uint16_t)p[at] << 8 | p[at + 1]);
        }
        if (fmt != 0 && fmt != 1)
            return false;
        out->values[i] = plen < 0 ? NULL : (const char *)p + pos;
        out->lengths[i] = plen < 0 ? 0 : plen;
        out->formats[i] = fmt;
        out->types[i] = 0;
        if ((size_t)i < n_types)
            out->types[i] = (unsigned)types[4 * i] << 24 | (unsigned)types[4 * i + 1] << 16 |
                            (unsigned)types[4 * i + 2] << 8 | types[4 * i + 3];
        if (plen > 0)
            pos += (size_t)plen;
    }
    if (!get16(p, len, &pos, &n_results) || n_results < 0 || (len - pos) / 2 < (size_t)n_results)
        return false;
    out->result_format = 0;
    for (int i = 0; i < n_results; i++) {
        int fmt = (int16_t)((uint16_t)p[pos + 2 * (size_t)i] << 8 | p[pos + 2 * (size_t)i + 1]);
        if ((fmt != 0 && fmt != 1) || (i > 0 && fmt != out->result_format))
            return false; /* mixed formats */
        out->result_format = fmt;
    }
    return pos + 2 * (size_t)n_results == len;
}
