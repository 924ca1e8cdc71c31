/* PostgreSQL md5 authentication: hex(md5(password || user)) is what the server
 * stores; the wire response salts that hex text with 4 random bytes and hashes
 * it again. Digests via OpenSSL EVP (the MD5() shortcut is deprecated in 3.x). */
#include "protocol/auth_md5.h"

#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#define AUTH_MD5_HEX_LEN 32

/* hex(md5(a || b)) into hex[33]. */
static bool auth_md5_hex2(const void *a, size_t alen, const void *b, size_t blen,
                          char hex[AUTH_MD5_HEX_LEN + 1])
{
    static const char digits[] = "0123456789abcdef";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx)
        return false;
    bool ok = EVP_DigestInit_ex(ctx, EVP_md5(), NULL) == 1 &&
              EVP_DigestUpdate(ctx, a, alen) == 1 && EVP_DigestUpdate(ctx, b, blen) == 1 &&
              EVP_DigestFinal_ex(ctx, md, &mdlen) == 1 && mdlen == AUTH_MD5_HEX_LEN / 2;
    EVP_MD_CTX_free(ctx);
    if (ok) {
        for (unsigned int i = 0; i < mdlen; i++) {
            hex[2 * i] = digits[md[i] >> 4];
            hex[2 * i + 1] = digits[md[i] & 0x0f];
        }
        hex[AUTH_MD5_HEX_LEN] = '\0';
    }
    OPENSSL_cleanse(md, sizeof md);
    return ok;
}

/* "md5" + hex(md5(inner_hex || salt)) into out[36]. */
static bool auth_md5_salted(const char inner_hex[AUTH_MD5_HEX_LEN], const uint8_t salt[4],
                            char out[36])
{
    memcpy(out, "md5", 3);
    return auth_md5_hex2(inner_hex, AUTH_MD5_HEX_LEN, salt, 4, out + 3);
}

bool auth_md5_stored(const char *user, const char *password, char out[36])
{
    if (!out)
        return false;
    out[0] = '\0';
    if (!user || !password)
        return false;
    memcpy(out, "md5", 3);
    if (!auth_md5_hex2(password, strlen(password), user, strlen(user), out + 3)) {
        out[0] = '\0';
        return false;
    }
    return true;
}

void auth_md5_password(const char *user, const char *password, const uint8_t salt[4],
                       char out[36])
{
    if (!out)
        return;
    out[0] = '\0';
    if (!user || !password || !salt)
        return;
    char inner[AUTH_MD5_HEX_LEN + 1];
    if (!auth_md5_hex2(password, strlen(password), user, strlen(user), inner) ||
        !auth_md5_salted(inner, salt, out))
        out[0] = '\0';
    /* inner is password-equivalent for md5 auth */
    OPENSSL_cleanse(inner, sizeof inner);
}

bool auth_md5_from_stored(const char *stored_md5, const uint8_t salt[4], char out[36])
{
    if (!out)
        return false;
    out[0] = '\0';
    if (!stored_md5 || !salt)
        return false;
    /* strnlen: never read past a malformed, unterminated-looking value */
    if (strnlen(stored_md5, AUTH_MD5_LEN + 1) != AUTH_MD5_LEN ||
        memcmp(stored_md5, "md5", 3) != 0)
        return false;
    /* The client hashes lowercase hex, so normalise case before salting. */
    char inner[AUTH_MD5_HEX_LEN + 1];
    for (size_t i = 0; i < AUTH_MD5_HEX_LEN; i++) {
        char ch = stored_md5[3 + i];
        if (ch >= 'A' && ch <= 'F')
            ch = (char)(ch - 'A' + 'a');
        if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f'))) {
            OPENSSL_cleanse(inner, sizeof inner);
            return false;
        }
        inner[i] = ch;
    }
    inner[AUTH_MD5_HEX_LEN] = '\0';
    bool ok = auth_md5_salted(inner, salt, out);
    OPENSSL_cleanse(inner, sizeof inner);
    if (!ok)
        out[0] = '\0';
    return ok;
}

bool auth_md5_check(const char *stored_md5, const uint8_t salt[4], const uint8_t *response,
                    size_t len)
{
    if (!response)
        return false;
    if (len == AUTH_MD5_LEN + 1 && response[AUTH_MD5_LEN] == '\0')
        len = AUTH_MD5_LEN;
    char expected[36];
    if (!auth_md5_from_stored(stored_md5, salt, expected))
        return false;
    /* length is public (always 35); only the content comparison must not leak */
    bool ok = len == AUTH_MD5_LEN && CRYPTO_memcmp(expected, response, AUTH_MD5_LEN) == 0;
    OPENSSL_cleanse(expected, sizeof expected);
    return ok;
}
