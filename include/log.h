/* log.h — one line per event on stderr: "2026-11-28T14:45:33.123Z LEVEL [who] msg".
 * Only daemons and the client log; libraries return errors. Thread-safe. */
#ifndef CLOUDAI_LOG_H
#define CLOUDAI_LOG_H
enum log_level { LOG_DEBUG = 0, LOG_INFO = 1, LOG_WARN = 2, LOG_ERROR = 3 };
void log_init(const char *who, int min_level);   /* who: "master", "worker w1" */
void log_set_level(int min_level);
void log_msg(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#endif
