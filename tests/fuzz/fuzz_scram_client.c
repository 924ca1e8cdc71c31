/* libFuzzer target for the client side of protocol/scram: arbitrary bytes as
 * server-first and server-final messages, plus a differential check that any
 * password the client accepts logs in to a server holding that password. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/scram.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CLIENT_NONCE "fuzz"
#define FUZZ_MAX_ITERATIONS 32 /* PBKDF2 cost per input stays tiny */

static scram_client *fuzz_client_started(void)
{
    scram_client *c = scram_client_new("pencil", FUZZ_CLIENT_NONCE);
    if (!c)
        abort();
    scram_client_set_max_iterations(c, FUZZ_MAX_ITERATIONS);
    char *out = NULL;
    size_t out_len = 0;
    if (!scram_client_first(c, &out, &out_len) || strlen(out) != out_len)
        abort();
    free(out);
    return c;
}

static void fuzz_client(const uint8_t *first, size_t first_len, const uint8_t *final,
                        size_t final_len)
{
    scram_client *c = fuzz_client_started();
    char *out = NULL;
    size_t out_len = 0;
    const char *err = NULL;
    bool ok = scram_client_continue(c, first, first_len, &out, &out_len, &err);
    if (ok ? (!out || strlen(out) != out_len) : (out || out_len != 0 || !err))
        abort();
    free(out);
    err = NULL;
    ok = scram_client_final(c, final, final_len, &err);
    if (!ok && (!err || strlen(err) > 200))
        abort();
    scram_client_free(c);
}

/* Our client and our server must agree on any password the API accepts. */
static void fuzz_password(const uint8_t *data, size_t size)
{
    char *pw = malloc(size + 1);
    if (!pw)
        return;
    memcpy(pw, data, size);
    pw[size] = '\0';
    static const uint8_t salt[3] = {9, 8, 7};
    scram_secret sec;
    scram_client *c = scram_client_new(pw, NULL);
    bool have_secret = scram_secret_from_password(pw, salt, sizeof salt, 2, &sec);
    if (!c || !have_secret) {
        /* both refuse the same inputs (only over-long passwords) */
        if (c || have_secret)
            abort();
        free(pw);
        return;
    }
    scram_server *s = scram_server_new(&sec, NULL);
    if (!s)
        abort();
    char *m1 = NULL, *m2 = NULL, *m3 = NULL, *m4 = NULL;
    size_t l1, l2, l3, l4;
    const char *err = NULL;
    if (!scram_client_first(c, &m1, &l1) ||
        !scram_server_first(s, (uint8_t *)m1, l1, &m2, &l2, &err) ||
        !scram_client_continue(c, (uint8_t *)m2, l2, &m3, &l3, &err) ||
        !scram_server_final(s, (uint8_t *)m3, l3, &m4, &l4, &err) ||
        !scram_client_final(c, (uint8_t *)m4, l4, &err))
        abort();
    free(m1);
    free(m2);
    free(m3);
    free(m4);
    scram_server_free(s);
    scram_client_free(c);
    free(pw);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char good_first[] = "r=fuzzSRV,s=AQIDBA==,i=16";
    if (size < 1)
        return 0;
    uint8_t mode = data[0] % 4;
    data++;
    size--;
    switch (mode) {
    case 0: {
        if (size < 2)
            return 0;
        size_t split = ((size_t)data[0] << 8 | data[1]);
        data += 2;
        size -= 2;
        if (split > size)
            split = size;
        fuzz_client(data, split, data + split, size - split);
        break;
    }
    case 1:
        /* a valid server-first, so every byte reaches the server-final parser */
        fuzz_client((const uint8_t *)good_first, sizeof good_first - 1, data, size);
        break;
    case 2:
        fuzz_client(data, size, (const uint8_t *)"v=", 2);
        break;
    default:
        if (size > 2 * SCRAM_MAX_PASSWORD_LEN)
            return 0;
        fuzz_password(data, size);
        break;
    }
    return 0;
}
