/*
 * daemon_proc: what the daemon's integration tests and benchmark need
 * around the processes they run — temporary directories and files, child
 * processes with a bounded wait, the port files fakesite writes, a
 * NOTIFY_SOCKET listener standing in for systemd, and the figures Linux
 * keeps per process in /proc (CPU time, RSS, context switches, open fds).
 */
#ifndef PROVD_TESTS_DAEMON_PROC_H
#define PROVD_TESTS_DAEMON_PROC_H

#include "strbuf.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* A new directory under $TMPDIR (else /tmp) named prefix-XXXXXX, mode
 * 0700. The caller frees the string. NULL on failure. */
char *daemon_proc_tmpdir(const char *prefix);

/* Remove dir and everything below it (symbolic links are not followed). */
void daemon_proc_rmtree(const char *dir);

/* Write len bytes to path (created or truncated, mode 0644); 0 or -errno. */
int daemon_proc_write(const char *path, const void *data, size_t len);

/* The whole file as a NUL-terminated string (its length in *len when not
 * NULL); NULL when it cannot be read. The caller frees it. */
char *daemon_proc_read(const char *path, size_t *len);

/* Where a built program is: the environment variable env when set, else
 * $PROVD_BUILD_ROOT/rel. The result lives until the next call with the
 * same env. */
const char *daemon_proc_program(const char *env, const char *rel);

/* How to start a child. */
struct daemon_proc_opts {
    const char *const *env; /* "NAME=VALUE" to set, "NAME" to unset; NULL-ended */
    const char *log;        /* stdout and stderr appended here; NULL: /dev/null */
    long nofile;            /* RLIMIT_NOFILE of the child; 0: inherited */
    int uid;                /* run as this uid and gid with no groups; -1: as we are */
};

/* fork + exec argv (argv[0] is a path). The child dies with us
 * (PR_SET_PDEATHSIG) and reads /dev/null. Returns its pid or -errno. */
pid_t daemon_proc_spawn(const char *const argv[], const struct daemon_proc_opts *o);

/* Wait up to timeout_ms for pid to exit; 0 with its wait status in
 * *wstatus (may be NULL), or -ETIMEDOUT (still running). */
int daemon_proc_wait(pid_t pid, int timeout_ms, int *wstatus);

/* SIGKILL pid and reap it (no-op for pid <= 0). */
void daemon_proc_kill(pid_t pid);

/* The number a child writes to path (fakesite's --port-file), waiting up
 * to timeout_ms; 0 when none came or the child died. */
unsigned daemon_proc_port_file(const char *path, pid_t pid, int timeout_ms);

/* Sleep ms milliseconds. */
void daemon_proc_sleep_ms(int ms);

/* ---- /proc figures (summed over the process's threads) ---- */

/* User + system CPU time in milliseconds; -1 when unknown. */
double daemon_proc_cpu_ms(pid_t pid);

/* Resident set size in KiB (VmRSS); -1 when unknown. */
long daemon_proc_rss_kb(pid_t pid);

/* Peak resident set size in KiB (VmHWM); -1 when unknown. */
long daemon_proc_hwm_kb(pid_t pid);

/* Any "Name:  N kB" line of /proc/PID/status (name with its colon, as
 * "RssAnon:"); -1 when unknown. */
long daemon_proc_status_kb(pid_t pid, const char *name);

/* Voluntary + involuntary context switches of every thread: each one a
 * time the process went to sleep and was woken, or was preempted. */
long daemon_proc_switches(pid_t pid);

/* Open file descriptors; -1 when unknown. */
int daemon_proc_fds(pid_t pid);

/* ---- NOTIFY_SOCKET ---- */

/* A datagram socket bound where NOTIFY_SOCKET points, and every message
 * received so far (each followed by "\n\n"). A thread of its own reads
 * the socket all the time, as systemd does: sd_notify() blocks the sender
 * once a few datagrams wait unread (net.unix.max_dgram_qlen, 10 by
 * default), which would freeze the daemon's loop, not test it. */
struct daemon_notify {
    int fd;
    char path[108];
    pthread_t reader;
    pthread_mutex_t lock;
    bool running; /* the reader thread exists */
    volatile bool stop;
    struct strbuf all; /* under lock */
    size_t mark;       /* waits look at messages after this offset */
};

/* Bind path (removed first) and start reading. 0 or -errno. */
int daemon_notify_open(struct daemon_notify *n, const char *path);

/* Stop reading, close the socket, remove its file, free the messages. */
void daemon_notify_close(struct daemon_notify *n);

/* The messages received so far, from offset from; the caller frees it. */
char *daemon_notify_text(struct daemon_notify *n, size_t from);

/* Wait up to timeout_ms for a message after the mark that contains
 * needle; true when one came (the mark then moves past it). */
bool daemon_notify_wait(struct daemon_notify *n, const char *needle, int timeout_ms);

/* Messages after the mark that contain needle (drains first). */
unsigned daemon_notify_count(struct daemon_notify *n, const char *needle);

/* Move the mark to the end of what has been received (drains first). */
void daemon_notify_skip(struct daemon_notify *n);

#endif
