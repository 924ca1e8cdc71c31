/* libFuzzer target for the server side of protocol/scram: arbitrary bytes as
 * client-first and client-final messages, and as verifier text. Checks the
 * output contract on every call and that verifier parse/format round-trips. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/scram.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_SERVER_NONCE "SRV"

static const scram_secret *fuzz_secret(void)
{
    static scram_secret sec;
    static bool ready;
    if (!ready) {
        static const uint8_t salt[4] = {1, 2, 3, 4};
        /* few iterations: the fuzzer should spend its time in the parsers */
        if (!scram_secret_from_password("pencil", salt, sizeof salt, 16, &sec))
            abort();
        ready = true;
    }
    return &sec;
}

/* false + err + no output, or true + a NUL-terminated output of out_len bytes */
static void fuzz_check_result(bool ok, const char *out, size_t out_len, const char *err)
{
    if (ok) {
        if (!out || strlen(out) != out_len)
            abort();
    } else if (out || out_len != 0 || !err) {
        abort();
    }
}

static void fuzz_final(scram_server *s, const uint8_t *in, size_t len)
{
    char *out = NULL;
    size_t out_len = 0;
    const char *err = NULL;
    bool ok = scram_server_final(s, in, len, &out, &out_len, &err);
    fuzz_check_result(ok, out, out_len, err);
    free(out);
}

static void fuzz_exchange(const char *client_first, size_t cf_len, const uint8_t *final,
                          size_t final_len)
{
    scram_server *s = scram_server_new(fuzz_secret(), FUZZ_SERVER_NONCE);
    if (!s)
        abort();
    char *out = NULL;
    size_t out_len = 0;
    const char *err = NULL;
    bool ok = scram_server_first(s, (const uint8_t *)client_first, cf_len, &out, &out_len, &err);
    fuzz_check_result(ok, out, out_len, err);
    free(out);
    /* after a failed first step, final must be refused too: still exercise it */
    fuzz_final(s, final, final_len);
    scram_server_free(s);
}

static void fuzz_verifier(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        return;
    memcpy(text, data, size);
    text[size] = '\0';
    scram_secret sec;
    if (scram_secret_parse(text, &sec)) {
        /* the parser accepts only canonical text, so formatting gives it back */
        char *again = scram_secret_format(&sec);
        if (!again || strcmp(again, text) != 0)
            abort();
        free(again);
        scram_server *s = scram_server_new(&sec, NULL);
        if (!s)
            abort();
        scram_server_free(s);
    }
    /* the same text as a server nonce */
    scram_server_free(scram_server_new(fuzz_secret(), text));
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t mode = data[0] % 4;
    data++;
    size--;
    switch (mode) {
    case 0: {
        /* two fuzzed messages: a 2-byte split point, then both halves */
        if (size < 2)
            return 0;
        size_t split = ((size_t)data[0] << 8 | data[1]);
        data += 2;
        size -= 2;
        if (split > size)
            split = size;
        fuzz_exchange((const char *)data, split, data + split, size - split);
        break;
    }
    case 1:
        /* a valid first step, so every byte goes to the final-message parser */
        fuzz_exchange("n,,n=,r=fuzz", 12, data, size);
        break;
    case 2:
        fuzz_exchange("y,,n=,r=fuzz", 12, data, size);
        break;
    default:
        fuzz_verifier(data, size);
        break;
    }
    return 0;
}
