/* Splits an admin console line into words; see admin_tokens.h. */
#include "proxy/admin_tokens.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static bool word_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '.' || c == '-' || c == ':' || c == '/';
}

static bool space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

bool admin_tokenize(const char *line, admin_tokens *out, char *err, size_t err_len)
{
    out->n = 0;
    const char *p = line;
    for (;;) {
        while (space(*p))
            p++;
        if (*p == '\0')
            return true;
        if (*p == ';') {
            for (p++; space(*p); p++)
                ;
            if (*p) {
                snprintf(err, err_len, "one command at a time, please (text after \";\")");
                return false;
            }
            return true;
        }
        if (out->n == ADMIN_MAX_TOKENS) {
            snprintf(err, err_len, "too many words (at most %d)", ADMIN_MAX_TOKENS);
            return false;
        }
        char *w = out->word[out->n];
        size_t len = 0;
        if (*p == '\'' || *p == '"') {
            char q = *p++;
            while (*p && *p != q) {
                if (len + 1 == ADMIN_MAX_TOKEN) {
                    snprintf(err, err_len, "a quoted word is too long");
                    return false;
                }
                w[len++] = *p++;
            }
            if (*p != q) {
                snprintf(err, err_len, "unterminated quoted word");
                return false;
            }
            p++;
        } else if (word_char(*p)) {
            while (word_char(*p)) {
                if (len + 1 == ADMIN_MAX_TOKEN) {
                    snprintf(err, err_len, "a word is too long");
                    return false;
                }
                w[len++] = *p++;
            }
        } else {
            snprintf(err, err_len, "unexpected character \"%c\"", *p);
            return false;
        }
        w[len] = '\0';
        out->n++;
    }
}

bool admin_is(const admin_tokens *t, size_t i, const char *keyword)
{
    return i < t->n && strcasecmp(t->word[i], keyword) == 0;
}
