/* Leveled logging to stderr with a UTC timestamp; see log.h. */
#include "proxy/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

/* The one process-wide setting that is not part of the config snapshot:
 * it must be readable from every module without threading a pointer. */
log_level log_current_level = LOG_INFO;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

bool log_level_parse(const char *name, log_level *out)
{
    for (int i = 0; i <= LOG_DEBUG; i++) {
        if (strcmp(name, level_names[i]) == 0) {
            *out = (log_level)i;
            return true;
        }
    }
    return false;
}

const char *log_level_name(log_level level)
{
    return level <= LOG_DEBUG ? level_names[level] : "?";
}

void log_write(log_level level, const char *fmt, ...)
{
    struct timeval tv;
    struct tm tm;
    char stamp[32];
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    strftime(stamp, sizeof(stamp), "%Y-%m-%d %H:%M:%S", &tm);

    char line[2048];
    int n = snprintf(line, sizeof(line), "%s.%03d %-5s ", stamp, (int)(tv.tv_usec / 1000),
                     log_level_name(level));
    va_list ap;
    va_start(ap, fmt);
    if (n > 0 && (size_t)n < sizeof(line))
        vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
    va_end(ap);
    /* one write per line keeps lines whole when stderr is shared */
    fprintf(stderr, "%s\n", line);
}
