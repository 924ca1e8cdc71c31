/* Leveled logging to stderr. The level is checked before any formatting, so a
 * disabled debug line costs one comparison. Never pass secrets to these. */
#ifndef PGT_LOG_H
#define PGT_LOG_H

#include <stdbool.h>

typedef enum log_level { LOG_ERROR = 0, LOG_WARN, LOG_INFO, LOG_DEBUG } log_level;

extern log_level log_current_level;

bool log_level_parse(const char *name, log_level *out);
const char *log_level_name(log_level level);
void log_write(log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define PGT_LOG(level, ...)                                                                      \
    do {                                                                                         \
        if ((level) <= log_current_level)                                                        \
            log_write((level), __VA_ARGS__);                                                     \
    } while (0)
#define log_error(...) PGT_LOG(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) PGT_LOG(LOG_WARN, __VA_ARGS__)
#define log_info(...) PGT_LOG(LOG_INFO, __VA_ARGS__)
#define log_debug(...) PGT_LOG(LOG_DEBUG, __VA_ARGS__)

#endif
