/*
 * log: provd's one logger. Lines go to stderr with the journald priority
 * prefix ("<3>" error ... "<7>" debug), which systemd turns into the
 * journal's PRIORITY field; on a terminal the prefix is left out. Writing
 * never blocks: lines that find the target full are dropped and counted.
 */
#ifndef PROVD_LOG_H
#define PROVD_LOG_H

#include <stdarg.h>

enum log_level {
    LOG_LVL_ERR = 3,
    LOG_LVL_WARNING = 4,
    LOG_LVL_NOTICE = 5,
    LOG_LVL_INFO = 6,
    LOG_LVL_DEBUG = 7,
};

/* Set up logging for program name prog at the given maximum level; routes
 * libevent's own messages through log_*. Call once from main(). */
void log_init(const char *prog, enum log_level max);

/* Lines lost so far because the log target was full (a pipe nobody
 * reads, a stalled journald): logging never waits for room. */
unsigned long log_dropped_lines(void);

/* Change the maximum level (e.g. after a reload). */
void log_set_level(enum log_level max);

/* Parse "err", "warning", "notice", "info", "debug"; -1 when unknown. */
int log_level_from_name(const char *name);

void log_msg(enum log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_vmsg(enum log_level lvl, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

/* Like log_msg at warning level, with ": strerror(errno)" appended. */
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Warning level, no errno. */
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Error level, then exit(status). */
void fatalx(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));

/* Rate-limited warning for repeated per-URL errors: at most burst lines per
 * interval_s seconds for one key (a category word); the rest are counted and
 * summarised in the next line that passes. */
void log_ratelimited(const char *key, enum log_level lvl, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
