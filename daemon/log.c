/*
 * log: formatting and rate limiting of provd's log lines, written to
 * stderr with journald priority prefixes. The only module that prints
 * diagnostics; libraries return errors and daemon/ decides what to say.
 * It owns the descriptor it writes to: stderr reopened non-blocking when
 * stderr is a pipe, FIFO or terminal, stderr itself (sent with
 * MSG_DONTWAIT) when it is a socket such as journald's stream. A line
 * that does not fit into a full log target is dropped and counted, never
 * waited for (RELIABILITY.md K4); the count is reported in a line of its
 * own as soon as the target takes lines again. A socket that took only
 * part of a line gets the rest before anything else, so lines never mix.
 */
#include "log.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char *log_prog = "provd";
static enum log_level log_max = LOG_LVL_INFO;
static int log_prefix = 1;

/* How lines leave the process. */
enum log_sink {
    LOG_SINK_WRITE, /* write(2) on log_fd (regular file, or a non-blocking reopen) */
    LOG_SINK_POLL,  /* write(2) on stderr after poll(2) says it has room */
    LOG_SINK_SEND,  /* send(2) with MSG_DONTWAIT on the stderr socket */
};

static int log_fd = STDERR_FILENO;
static enum log_sink log_sink = LOG_SINK_WRITE;
static unsigned long log_dropped;      /* lines lost to a full log target */
static unsigned long log_dropped_seen; /* of those, already reported */
static char log_pending[2048];         /* unsent tail of a line (sockets) */
static size_t log_pending_len;
/* Guards the sink state above: a line from another thread must not slip
 * into the middle of a pending tail. Held only around non-blocking
 * writes. */
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

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

/* Choose how to write to stderr without ever blocking. A pipe, FIFO or
 * terminal is opened again through /proc: the new open file description
 * can be non-blocking without changing stderr's own flags, which other
 * processes share. When /proc is missing, poll(2) before each write
 * stands in (a pipe with a free slot takes a whole line at once). */
static void log_open_target(void)
{
    struct stat st;
    int fd;

    if (log_fd != STDERR_FILENO)
        close(log_fd);
    log_fd = STDERR_FILENO;
    log_sink = LOG_SINK_WRITE;
    if (fstat(STDERR_FILENO, &st) < 0)
        return;
    if (S_ISSOCK(st.st_mode)) {
        log_sink = LOG_SINK_SEND;
    } else if (S_ISFIFO(st.st_mode) || S_ISCHR(st.st_mode)) {
        fd = open("/proc/self/fd/2", O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY | O_APPEND);
        if (fd >= 0)
            log_fd = fd;
        else
            log_sink = LOG_SINK_POLL;
    }
}

void log_init(const char *prog, enum log_level max)
{
    log_prog = prog;
    log_max = max;
    log_prefix = !isatty(STDERR_FILENO);
    log_open_target();
    event_set_log_callback(log_event_cb);
}

unsigned long log_dropped_lines(void)
{
    unsigned long n;

    pthread_mutex_lock(&log_lock);
    n = log_dropped;
    pthread_mutex_unlock(&log_lock);
    return n;
}

/* Write len bytes without waiting: the count written, or -1 (EAGAIN and
 * the like: nothing went out). */
static ssize_t log_put(const char *buf, size_t len)
{
    ssize_t n;

    if (log_sink == LOG_SINK_SEND) {
        n = send(log_fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n < 0 && errno == ENOTSOCK)
            n = write(log_fd, buf, len);
        return n;
    }
    if (log_sink == LOG_SINK_POLL) {
        struct pollfd pfd = {.fd = log_fd, .events = POLLOUT};

        if (poll(&pfd, 1, 0) != 1 || !(pfd.revents & POLLOUT))
            return -1;
    }
    return write(log_fd, buf, len);
}

/* Send one whole line, or drop it and count it. The rest of a line that
 * a socket took in part goes first; while it cannot, new lines are
 * dropped. Lines are at most 2048 bytes, within PIPE_BUF, so a pipe takes
 * each whole or not at all. */
static void log_emit(const char *line, size_t len)
{
    ssize_t n;

    if (log_pending_len > 0) {
        n = log_put(log_pending, log_pending_len);
        if (n > 0) {
            memmove(log_pending, log_pending + n, log_pending_len - (size_t)n);
            log_pending_len -= (size_t)n;
        }
        if (log_pending_len > 0) {
            log_dropped++;
            return;
        }
    }
    if (log_dropped > log_dropped_seen) {
        char note[160];
        int m = snprintf(
            note, sizeof(note), "%s%s%lu log line%s dropped: the log target was full\n",
            log_prefix ? "<4>" : log_prog, log_prefix ? "" : ": ", log_dropped - log_dropped_seen,
            log_dropped - log_dropped_seen == 1 ? "" : "s");

        n = log_put(note, (size_t)m);
        if (n != m) {
            if (n > 0) {
                memcpy(log_pending, note + n, (size_t)(m - n));
                log_pending_len = (size_t)(m - n);
                log_dropped_seen = log_dropped;
            }
            log_dropped++;
            return;
        }
        log_dropped_seen = log_dropped;
    }
    n = log_put(line, len);
    if (n == (ssize_t)len)
        return;
    if (n > 0) {
        memcpy(log_pending, line + n, len - (size_t)n);
        log_pending_len = len - (size_t)n;
    } else {
        log_dropped++;
    }
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
    pthread_mutex_lock(&log_lock);
    log_emit(line, (size_t)n);
    pthread_mutex_unlock(&log_lock);
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
