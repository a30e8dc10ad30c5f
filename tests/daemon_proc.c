/*
 * daemon_proc: temporary files, child processes, port files, a stand-in
 * for systemd's notification socket and /proc figures, for the daemon's
 * integration tests and benchmark. It owns the directories and sockets it
 * creates and the children it spawns; every wait is bounded.
 */
#include "daemon_proc.h"

#include "xmalloc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

void daemon_proc_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

char *daemon_proc_tmpdir(const char *prefix)
{
    const char *tmp = getenv("TMPDIR");
    char *dir = xasprintf("%s/%s-XXXXXX", tmp && *tmp ? tmp : "/tmp", prefix);

    if (mkdtemp(dir) == NULL) {
        free(dir);
        return NULL;
    }
    return dir;
}

static int daemon_proc_rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

void daemon_proc_rmtree(const char *dir)
{
    if (dir && *dir)
        nftw(dir, daemon_proc_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int daemon_proc_write(const char *path, const void *data, size_t len)
{
    const char *p = data;
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644), err = 0;

    if (fd < 0)
        return -errno;
    while (len > 0) {
        ssize_t n = write(fd, p, len);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            err = -errno;
            break;
        }
        p += n;
        len -= (size_t)n;
    }
    if (close(fd) < 0 && err == 0)
        err = -errno;
    return err;
}

char *daemon_proc_read(const char *path, size_t *len)
{
    FILE *f = fopen(path, "re");
    struct strbuf b = STRBUF_INIT;
    char buf[65536];
    size_t n;

    if (f == NULL)
        return NULL;
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
        strbuf_add(&b, buf, n);
    fclose(f);
    if (len)
        *len = b.len;
    return strbuf_steal(&b);
}

const char *daemon_proc_program(const char *env, const char *rel)
{
    static char buf[4][1024];
    static const char *names[4];
    const char *v = getenv(env), *build = getenv("PROVD_BUILD_ROOT");
    size_t i;

    if (v && *v)
        return v;
    for (i = 0; i < 4 && names[i] && strcmp(names[i], env) != 0; i++)
        ;
    if (i == 4)
        i = 0;
    names[i] = env;
    snprintf(buf[i], sizeof(buf[i]), "%s/%s", build && *build ? build : ".", rel);
    return buf[i];
}

pid_t daemon_proc_spawn(const char *const argv[], const struct daemon_proc_opts *o)
{
    pid_t pid = fork();

    if (pid < 0)
        return -errno;
    if (pid == 0) {
        int in = open("/dev/null", O_RDONLY);
        int out = open(o && o->log ? o->log : "/dev/null", O_WRONLY | O_CREAT | O_APPEND, 0644);

        if (in >= 0)
            dup2(in, 0);
        if (out >= 0) {
            dup2(out, 1);
            dup2(out, 2);
        }
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        for (size_t i = 0; o && o->env && o->env[i]; i++) {
            const char *eq = strchr(o->env[i], '=');

            if (eq) {
                char *name = xstrndup(o->env[i], (size_t)(eq - o->env[i]));

                setenv(name, eq + 1, 1);
                free(name);
            } else {
                unsetenv(o->env[i]);
            }
        }
        if (o && o->nofile > 0) {
            struct rlimit rl = {(rlim_t)o->nofile, (rlim_t)o->nofile};

            setrlimit(RLIMIT_NOFILE, &rl);
        }
        if (o && o->uid >= 0) {
            if (setgroups(0, NULL) < 0 || setgid((gid_t)o->uid) < 0 || setuid((uid_t)o->uid) < 0)
                _exit(126);
        }
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    return pid;
}

int daemon_proc_wait(pid_t pid, int timeout_ms, int *wstatus)
{
    struct timespec t0, t;
    int st = 0;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        pid_t r = waitpid(pid, &st, WNOHANG);

        if (r == pid) {
            if (wstatus)
                *wstatus = st;
            return 0;
        }
        if (r < 0 && errno != EINTR)
            return -errno;
        clock_gettime(CLOCK_MONOTONIC, &t);
        if ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 >= timeout_ms)
            return -ETIMEDOUT;
        daemon_proc_sleep_ms(5);
    }
}

void daemon_proc_kill(pid_t pid)
{
    if (pid <= 0)
        return;
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

unsigned daemon_proc_port_file(const char *path, pid_t pid, int timeout_ms)
{
    for (int waited = 0; waited < timeout_ms; waited += 20) {
        FILE *f = fopen(path, "re");
        unsigned port = 0;

        if (f) {
            int n = fscanf(f, "%u", &port);

            fclose(f);
            if (n == 1 && port > 0)
                return port;
        }
        if (pid > 0 && waitpid(pid, NULL, WNOHANG) == pid)
            return 0;
        daemon_proc_sleep_ms(20);
    }
    return 0;
}

/* ---- /proc ---------------------------------------------------------- */

double daemon_proc_cpu_ms(pid_t pid)
{
    char path[64], *s, *p;
    unsigned long long ut, st;
    double ms = -1;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    s = daemon_proc_read(path, NULL);
    /* Fields after the command name, which may hold spaces: state is the
     * 3rd field, utime the 14th, stime the 15th. */
    p = s ? strrchr(s, ')') : NULL;
    if (p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) == 2)
        ms = (double)(ut + st) * 1000.0 / (double)sysconf(_SC_CLK_TCK);
    free(s);
    return ms;
}

long daemon_proc_status_kb(pid_t pid, const char *name)
{
    char path[64], *s, *p;
    long v = -1;

    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    s = daemon_proc_read(path, NULL);
    p = s ? strstr(s, name) : NULL;
    if (p)
        v = strtol(p + strlen(name), NULL, 10);
    free(s);
    return v;
}

long daemon_proc_rss_kb(pid_t pid)
{
    return daemon_proc_status_kb(pid, "VmRSS:");
}

long daemon_proc_hwm_kb(pid_t pid)
{
    return daemon_proc_status_kb(pid, "VmHWM:");
}

long daemon_proc_switches(pid_t pid)
{
    char path[64];
    struct dirent *e;
    long sum = 0;
    DIR *d;

    snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
    d = opendir(path);
    if (d == NULL)
        return -1;
    while ((e = readdir(d)) != NULL) {
        char file[300], *s, *p;

        if (e->d_name[0] == '.')
            continue;
        snprintf(file, sizeof(file), "/proc/%d/task/%s/status", (int)pid, e->d_name);
        s = daemon_proc_read(file, NULL);
        if (s && (p = strstr(s, "\nvoluntary_ctxt_switches:")) != NULL)
            sum += strtol(p + 25, NULL, 10);
        if (s && (p = strstr(s, "\nnonvoluntary_ctxt_switches:")) != NULL)
            sum += strtol(p + 28, NULL, 10);
        free(s);
    }
    closedir(d);
    return sum;
}

int daemon_proc_fds(pid_t pid)
{
    char path[64];
    struct dirent *e;
    int n = 0;
    DIR *d;

    snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
    d = opendir(path);
    if (d == NULL)
        return -1;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

/* ---- NOTIFY_SOCKET -------------------------------------------------- */

static void *daemon_notify_reader(void *arg)
{
    struct daemon_notify *n = arg;
    char buf[4096];

    while (!n->stop) {
        struct pollfd pfd = {.fd = n->fd, .events = POLLIN};
        ssize_t len;

        if (poll(&pfd, 1, 20) <= 0)
            continue;
        while ((len = recv(n->fd, buf, sizeof(buf), MSG_DONTWAIT)) >= 0) {
            pthread_mutex_lock(&n->lock);
            strbuf_add(&n->all, buf, (size_t)len);
            strbuf_adds(&n->all, "\n\n");
            pthread_mutex_unlock(&n->lock);
        }
    }
    return NULL;
}

int daemon_notify_open(struct daemon_notify *n, const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int err;

    memset(n, 0, sizeof(*n));
    n->fd = -1;
    if (strlen(path) >= sizeof(sa.sun_path) || strlen(path) >= sizeof(n->path))
        return -ENAMETOOLONG;
    memcpy(n->path, path, strlen(path) + 1);
    memcpy(sa.sun_path, path, strlen(path) + 1);
    unlink(path);
    n->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (n->fd < 0)
        return -errno;
    if (bind(n->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        err = -errno;
        close(n->fd);
        n->fd = -1;
        return err;
    }
    pthread_mutex_init(&n->lock, NULL);
    err = pthread_create(&n->reader, NULL, daemon_notify_reader, n);
    if (err) {
        pthread_mutex_destroy(&n->lock);
        close(n->fd);
        n->fd = -1;
        return -err;
    }
    n->running = true;
    return 0;
}

void daemon_notify_close(struct daemon_notify *n)
{
    if (n->running) {
        n->stop = true;
        pthread_join(n->reader, NULL);
        pthread_mutex_destroy(&n->lock);
        n->running = false;
    }
    if (n->fd >= 0) {
        close(n->fd);
        unlink(n->path);
    }
    n->fd = -1;
    strbuf_release(&n->all);
    n->mark = 0;
}

char *daemon_notify_text(struct daemon_notify *n, size_t from)
{
    char *s;

    if (!n->running)
        return xstrdup("");
    pthread_mutex_lock(&n->lock);
    s = xstrdup(from < n->all.len ? n->all.s + from : "");
    pthread_mutex_unlock(&n->lock);
    return s;
}

bool daemon_notify_wait(struct daemon_notify *n, const char *needle, int timeout_ms)
{
    for (int waited = 0;; waited += 10) {
        char *text = daemon_notify_text(n, n->mark), *hit = strstr(text, needle);

        if (hit) {
            char *end = strstr(hit, "\n\n");

            n->mark += end ? (size_t)(end - text) + 2 : strlen(text);
            free(text);
            return true;
        }
        free(text);
        if (waited >= timeout_ms)
            return false;
        daemon_proc_sleep_ms(10);
    }
}

unsigned daemon_notify_count(struct daemon_notify *n, const char *needle)
{
    char *text = daemon_notify_text(n, n->mark);
    unsigned count = 0;

    for (const char *p = text; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        count++;
    free(text);
    return count;
}

void daemon_notify_skip(struct daemon_notify *n)
{
    if (!n->running)
        return;
    pthread_mutex_lock(&n->lock);
    n->mark = n->all.len;
    pthread_mutex_unlock(&n->lock);
}
