/* The admin console's command words. The console's commands are not SQL:
 * a line is split into words (letters, digits and _ . - : /), or quoted
 * strings ('...' or "..."), with an optional trailing semicolon. */
#ifndef PGT_ADMIN_TOKENS_H
#define PGT_ADMIN_TOKENS_H

#include <stdbool.h>
#include <stddef.h>

#define ADMIN_MAX_TOKENS 8
#define ADMIN_MAX_TOKEN 128

typedef struct admin_tokens {
    char word[ADMIN_MAX_TOKENS][ADMIN_MAX_TOKEN];
    size_t n;
} admin_tokens;

/* Splits `line`; false with a sentence in err for an unterminated quote, a
 * character that is not part of a word, a word too long, or too many words. */
bool admin_tokenize(const char *line, admin_tokens *out, char *err, size_t err_len)
    __attribute__((warn_unused_result));
/* Case-insensitive comparison of word i with a keyword; false past the end. */
bool admin_is(const admin_tokens *t, size_t i, const char *keyword);

#endif
