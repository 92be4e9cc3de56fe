/* log.c — one line per event on stderr, built in a stack buffer and
 * written with a single write(2), so lines from different threads never
 * interleave (a line is at most PIPE_BUF = 4096 bytes, which POSIX makes
 * atomic on a pipe). Format: "2026-11-28T14:45:33.123Z LEVEL [who] msg". */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LOG_LINE_MAX 4096

static char log_who[64] = "cloudai";
static atomic_int log_min = LOG_INFO;

static const char *const level_names[] = { "DEBUG", "INFO", "WARN", "ERROR" };

/* Not thread-safe against log_msg: call once at start, before threads. */
void log_init(const char *who, int min_level)
{
    snprintf(log_who, sizeof log_who, "%s", who ? who : "cloudai");
    atomic_store(&log_min, min_level);
}

/* Thread-safe. */
void log_set_level(int min_level)
{
    atomic_store(&log_min, min_level);
}

/* Thread-safe. Control characters in the message (a peer-supplied name
 * with a newline, say) become spaces so one event stays one line. */
void log_msg(int level, const char *fmt, ...)
{
    if (level < atomic_load(&log_min)) return;
    int saved_errno = errno;   /* callers log, then look at errno */
    if (level < LOG_DEBUG) level = LOG_DEBUG;
    if (level > LOG_ERROR) level = LOG_ERROR;

    char line[LOG_LINE_MAX];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(line, sizeof line, "%Y-%m-%dT%H:%M:%S", &tm);
    int k = snprintf(line + n, sizeof line - n, ".%03ldZ %s [%s] ",
                     ts.tv_nsec / 1000000, level_names[level], log_who);
    if (k < 0) return;
    n += (size_t)k < sizeof line - n ? (size_t)k : sizeof line - n - 1;
    size_t head = n;

    va_list ap;
    va_start(ap, fmt);
    k = vsnprintf(line + n, sizeof line - n, fmt, ap);
    va_end(ap);
    if (k > 0) n += (size_t)k < sizeof line - n ? (size_t)k : sizeof line - n - 1;
    while (n > head && (line[n - 1] == '\n' || line[n - 1] == '\r')) n--;
    for (size_t i = head; i < n; i++)
        if ((unsigned char)line[i] < 0x20 || line[i] == 0x7f) line[i] = ' ';
    if (n >= sizeof line - 1) n = sizeof line - 2;
    line[n++] = '\n';

    const char *p = line;
    while (n > 0) {
        ssize_t w = write(STDERR_FILENO, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) break;   /* nowhere to report a failing stderr */
        p += w;
        n -= (size_t)w;
    }
    errno = saved_errno;
}
