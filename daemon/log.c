/*
 * log: formatting and rate limiting of provd's log lines, written to
 * stderr with journald priority prefixes. The only module that prints
 * diagnostics; libraries return errors and daemon/ decides what to say.
 * Writes are single write(2) calls of whole lines, so a blocked or full log
 * target costs one failed write, never a stall of the loop.
 */
#include "log.h"

#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *log_prog = "provd";
static enum log_level log_max = LOG_LVL_INFO;
static int log_prefix = 1;

#define LOG_RL_SLOTS    32
#define LOG_RL_BURST    5
#define LOG_RL_INTERVAL 60

static struct log_rl {
    char key[32];
    time_t start;
    unsigned shown;
    unsigned dropped;
} log_rl[LOG_RL_SLOTS];

static void log_event_cb(int severity, const char *msg)
{
    enum log_level lvl = LOG_LVL_DEBUG;

    if (severity == EVENT_LOG_ERR)
        lvl = LOG_LVL_ERR;
    else if (severity == EVENT_LOG_WARN)
        lvl = LOG_LVL_WARNING;
    log_msg(lvl, "libevent: %s", msg);
}

void log_init(const char *prog, enum log_level max)
{
    log_prog = prog;
    log_max = max;
    log_prefix = !isatty(STDERR_FILENO);
    event_set_log_callback(log_event_cb);
}

void log_set_level(enum log_level max)
{
    log_max = max;
}

int log_level_from_name(const char *name)
{
    static const struct {
        const char *name;
        enum log_level lvl;
    } names[] = {
        {"err", LOG_LVL_ERR},       {"error", LOG_LVL_ERR}, {"warning", LOG_LVL_WARNING},
        {"notice", LOG_LVL_NOTICE}, {"info", LOG_LVL_INFO}, {"debug", LOG_LVL_DEBUG},
    };

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(names[i].name, name) == 0)
            return (int)names[i].lvl;
    return -1;
}

void log_vmsg(enum log_level lvl, const char *fmt, va_list ap)
{
    char line[2048];
    int n = 0, m;

    if (lvl > log_max)
        return;
    if (log_prefix)
        n = snprintf(line, sizeof(line), "<%d>", (int)lvl);
    else
        n = snprintf(line, sizeof(line), "%s: ", log_prog);
    m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    if (m < 0)
        return;
    n += m;
    if ((size_t)n > sizeof(line) - 2)
        n = (int)sizeof(line) - 2;
    line[n++] = '\n';
    /* One write per line; a failed or short write is dropped, never retried
     * in a loop (K4: the daemon never blocks on logging). */
    if (write(STDERR_FILENO, line, (size_t)n) < 0)
        return;
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    log_vmsg(lvl, fmt, ap);
    va_end(ap);
}

void log_warn(const char *fmt, ...)
{
    char buf[1024];
    int saved = errno;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    log_msg(LOG_LVL_WARNING, "%s: %s", buf, strerror(saved));
}

void log_warnx(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    log_vmsg(LOG_LVL_WARNING, fmt, ap);
    va_end(ap);
}

void log_info(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    log_vmsg(LOG_LVL_INFO, fmt, ap);
    va_end(ap);
}

void log_debug(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    log_vmsg(LOG_LVL_DEBUG, fmt, ap);
    va_end(ap);
}

void fatalx(int status, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    log_vmsg(LOG_LVL_ERR, fmt, ap);
    va_end(ap);
    exit(status);
}

void log_ratelimited(const char *key, enum log_level lvl, const char *fmt, ...)
{
    struct log_rl *slot = NULL, *oldest = &log_rl[0];
    time_t now = time(NULL);
    char buf[1024];
    va_list ap;

    for (int i = 0; i < LOG_RL_SLOTS; i++) {
        if (strncmp(log_rl[i].key, key, sizeof(log_rl[i].key) - 1) == 0) {
            slot = &log_rl[i];
            break;
        }
        if (log_rl[i].start < oldest->start)
            oldest = &log_rl[i];
    }
    if (slot == NULL) {
        slot = oldest;
        memset(slot, 0, sizeof(*slot));
        snprintf(slot->key, sizeof(slot->key), "%s", key);
        slot->start = now;
    }
    if (now - slot->start >= LOG_RL_INTERVAL) {
        slot->start = now;
        slot->shown = 0;
    }
    if (slot->shown >= LOG_RL_BURST) {
        slot->dropped++;
        return;
    }
    slot->shown++;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (slot->dropped) {
        log_msg(lvl, "%s (%u similar %s messages suppressed)", buf, slot->dropped, key);
        slot->dropped = 0;
    } else {
        log_msg(lvl, "%s", buf);
    }
}
