/* libFuzzer target for the admin console's tokenizer: any line either splits
 * into at most ADMIN_MAX_TOKENS NUL-terminated words that fit their buffers,
 * or is refused with a reason; nothing is read past the line. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/admin_tokens.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *line = malloc(size + 1);
    if (!line)
        return 0;
    memcpy(line, data, size);
    line[size] = '\0';
    admin_tokens t;
    char err[200];
    err[0] = '\0';
    if (admin_tokenize(line, &t, err, sizeof err)) {
        if (t.n > ADMIN_MAX_TOKENS)
            abort();
        for (size_t i = 0; i < t.n; i++)
            if (strnlen(t.word[i], ADMIN_MAX_TOKEN) == ADMIN_MAX_TOKEN)
                abort();
        (void)admin_is(&t, 0, "SHOW");
    } else if (err[0] == '\0') {
        abort(); /* a refusal always says why */
    }
    free(line);
    return 0;
}
