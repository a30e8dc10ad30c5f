/*
 * harvest_world: the test harness of test_harvest.c — temporary files,
 * pages made from the fixtures, fakesite and provd as child processes,
 * and fakesite's request log read back. It owns the strings and the child
 * processes it hands out until their _free/_stop; it never opens the
 * catalog (the tests do, through catalog.h).
 */
#include "harvest_world.h"

#include "xmalloc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- files ---------------------------------------------------------- */

char *hw_tmpdir(const char *prefix)
{
    const char *base = getenv("TMPDIR");
    char *dir = xasprintf("%s/%s-XXXXXX", base && *base ? base : "/tmp", prefix);

    if (mkdtemp(dir) == NULL) {
        free(dir);
        return NULL;
    }
    return dir;
}

char *hw_path(const char *dir, const char *rel)
{
    return xasprintf("%s/%s", dir, rel);
}

/* mkdir -p of the directory part of path. */
static int hw_mkparents(const char *path)
{
    char *p = xstrdup(path);
    int rc = 0;

    for (char *s = strchr(p + 1, '/'); s; s = strchr(s + 1, '/')) {
        *s = '\0';
        if (mkdir(p, 0700) != 0 && errno != EEXIST) {
            rc = -errno;
            break;
        }
        *s = '/';
    }
    free(p);
    return rc;
}

int hw_write(const char *path, const void *data, size_t len)
{
    char *tmp = xasprintf("%s.tmp", path);
    FILE *f;
    int rc = hw_mkparents(path);

    if (rc == 0 && (f = fopen(tmp, "w")) != NULL) {
        if (fwrite(data, 1, len, f) != len)
            rc = -EIO;
        if (fclose(f) != 0 && rc == 0)
            rc = -errno;
        /* renamed into place so that fakesite never serves half a file */
        if (rc == 0 && rename(tmp, path) != 0)
            rc = -errno;
    } else if (rc == 0) {
        rc = -errno;
    }
    free(tmp);
    return rc;
}

/* nftw callback: remove one entry; a failure does not stop the walk. */
static int hw_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    remove(path);
    return 0;
}

void hw_rmtree(const char *dir)
{
    if (dir)
        nftw(dir, hw_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static char *hw_slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t n = 0, cap = 0;

    if (f == NULL)
        return NULL;
    for (;;) {
        if (n + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 16384;
            buf = xreallocarray(buf, cap, 1);
        }
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0)
            break;
    }
    fclose(f);
    buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}

/* ---- fixture pages -------------------------------------------------- */

static int hw_fixture_cmp(const void *a, const void *b)
{
    return strcmp(((const struct hw_fixture *)a)->name, ((const struct hw_fixture *)b)->name);
}

int hw_fixtures_load(const char *dir, struct hw_fixtures *out)
{
    DIR *d = opendir(dir);
    struct dirent *de;

    memset(out, 0, sizeof(*out));
    if (d == NULL)
        return -errno;
    while ((de = readdir(d)) != NULL) {
        size_t nl = strlen(de->d_name);
        struct hw_fixture fx = {0};
        char *base, *html_path, *json_path;
        json_t *j;

        if (nl < 6 || strcmp(de->d_name + nl - 5, ".html") != 0)
            continue;
        base = xstrndup(de->d_name, nl - 5);
        html_path = xasprintf("%s/%s.html", dir, base);
        json_path = xasprintf("%s/%s.json", dir, base);
        j = json_load_file(json_path, 0, NULL);
        fx.html = hw_slurp(html_path, &fx.len);
        if (j && fx.html && json_is_string(json_object_get(j, "record_id"))) {
            fx.name = base;
            fx.record_id = xstrdup(json_string_value(json_object_get(j, "record_id")));
            out->v = xreallocarray(out->v, out->n + 1, sizeof(*out->v));
            out->v[out->n++] = fx;
        } else {
            free(base);
            free(fx.html);
        }
        json_decref(j);
        free(html_path);
        free(json_path);
    }
    closedir(d);
    if (out->n)
        qsort(out->v, out->n, sizeof(*out->v), hw_fixture_cmp);
    return out->n ? 0 : -ENOENT;
}

void hw_fixtures_free(struct hw_fixtures *f)
{
    for (size_t i = 0; i < f->n; i++) {
        free(f->v[i].name);
        free(f->v[i].html);
        free(f->v[i].record_id);
    }
    free(f->v);
    memset(f, 0, sizeof(*f));
}

/* A copy of the len bytes at s with [at, at + cut) replaced by text. */
static char *hw_splice(const char *s, size_t len, size_t at, size_t cut, const char *text,
                       size_t *out_len)
{
    size_t tl = strlen(text), n = len - cut + tl;
    char *r = xmalloc(n + 1);

    memcpy(r, s, at);
    memcpy(r + at, text, tl);
    memcpy(r + at + tl, s + at + cut, len - at - cut);
    r[n] = '\0';
    *out_len = n;
    return r;
}

char *hw_insert(const char *html, size_t len, const char *marker, const char *tag, const char *text,
                size_t *out_len)
{
    const char *m = strstr(html, marker), *t = m ? strstr(m, tag) : NULL;

    if (t == NULL || (size_t)(t - html) > len)
        return NULL;
    return hw_splice(html, len, (size_t)(t - html), 0, text, out_len);
}

char *hw_page(const struct hw_fixture *f, const char *new_id, const char *suffix, size_t *out_len)
{
    char *want = xasprintf(">%s<", f->record_id), *with = xasprintf(">%s<", new_id);
    const char *at = strstr(f->html, want);
    char *page = NULL, *renamed;
    size_t n;

    /* the id must appear once, in its information block */
    if (at == NULL || strstr(at + 1, want) != NULL)
        goto out;
    renamed = hw_splice(f->html, f->len, (size_t)(at - f->html), strlen(want), with, &n);
    page = hw_insert(renamed, n, "document-header", "</h1>", suffix, out_len);
    free(renamed);
out:
    free(want);
    free(with);
    return page;
}

/* ---- processes ------------------------------------------------------ */

void hw_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* The child side of a spawn: stdin from in_fd (or /dev/null), output to
 * out, dies with its parent. Never returns. */
static _Noreturn void hw_exec(const char *const argv[], int in_fd, const char *out)
{
    int null = open("/dev/null", O_RDWR);
    int o = out ? open(out, O_WRONLY | O_CREAT | O_APPEND, 0600) : null;

    prctl(PR_SET_PDEATHSIG, SIGKILL);
    dup2(in_fd >= 0 ? in_fd : null, 0);
    dup2(o >= 0 ? o : null, 1);
    dup2(o >= 0 ? o : null, 2);
    execv(argv[0], (char *const *)argv);
    _exit(127);
}

pid_t hw_spawn(const char *const argv[], const char *out)
{
    pid_t pid = fork();

    if (pid < 0)
        return -errno;
    if (pid == 0)
        hw_exec(argv, -1, out);
    return pid;
}

int hw_wait(pid_t pid, int timeout_ms, int *status)
{
    for (int waited = 0;; waited += 10) {
        int st = 0;
        pid_t r = waitpid(pid, &st, WNOHANG);

        if (r == pid) {
            if (status)
                *status = st;
            return 0;
        }
        if (r < 0)
            return -errno;
        if (waited >= timeout_ms)
            return -ETIMEDOUT;
        hw_sleep_ms(10);
    }
}

void hw_kill(pid_t pid)
{
    if (pid <= 0)
        return;
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

int hw_provd_once(const char *provd, const char *conf, const char *out, int timeout_ms)
{
    const char *argv[] = {provd, "-c", conf, "--once", NULL};
    pid_t pid = hw_spawn(argv, out);
    int st = 0;

    if (pid < 0)
        return -1;
    if (hw_wait(pid, timeout_ms, &st) < 0) {
        hw_kill(pid);
        return -1;
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

const char *hw_tail(const char *path, size_t bytes)
{
    static char buf[4096];
    size_t len = 0;
    char *all = hw_slurp(path, &len);

    if (bytes >= sizeof(buf))
        bytes = sizeof(buf) - 1;
    if (all == NULL)
        snprintf(buf, sizeof(buf), "(%s unreadable)", path);
    else
        snprintf(buf, sizeof(buf), "%s", len > bytes ? all + len - bytes : all);
    free(all);
    return buf;
}

/* ---- fakesite ------------------------------------------------------- */

char *hw_url(unsigned port, const char *path)
{
    return xasprintf("http://127.0.0.1:%u%s", port, path);
}

static unsigned hw_port_file(const char *path, pid_t pid, int timeout_ms)
{
    for (int waited = 0; waited < timeout_ms; waited += 20) {
        FILE *f = fopen(path, "r");
        unsigned port = 0;

        if (f) {
            int n = fscanf(f, "%u", &port);

            fclose(f);
            if (n == 1 && port > 0)
                return port;
        }
        if (waitpid(pid, NULL, WNOHANG) == pid)
            return 0;
        hw_sleep_ms(20);
    }
    return 0;
}

int hw_site_start(struct hw_site *s, const char *program, const char *dir, const char *name,
                  const char *root, const char *const *args)
{
    char *port_file = xasprintf("%s/%s.port", dir, name);
    char *raw_file = xasprintf("%s/%s.raw", dir, name);
    const char *argv[64];
    size_t n = 0;
    int p[2];

    memset(s, 0, sizeof(*s));
    s->pid = -1;
    s->stdin_w = -1;
    s->root = xstrdup(root);
    s->log = xasprintf("%s/%s.log", dir, name);
    s->stderr_to = xasprintf("%s/%s.err", dir, name);
    argv[n++] = program;
    argv[n++] = "--root";
    argv[n++] = root;
    argv[n++] = "--port";
    argv[n++] = "0";
    argv[n++] = "--port-file";
    argv[n++] = port_file;
    argv[n++] = "--raw-port-file";
    argv[n++] = raw_file;
    argv[n++] = "--log";
    argv[n++] = s->log;
    argv[n++] = "--lifetime";
    argv[n++] = "600";
    for (size_t i = 0; args && args[i] && n < 62; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    if (pipe2(p, O_CLOEXEC) != 0)
        goto fail;
    s->pid = fork();
    if (s->pid == 0)
        hw_exec(argv, p[0], s->stderr_to);
    close(p[0]);
    s->stdin_w = p[1];
    if (s->pid < 0)
        goto fail;
    s->port = hw_port_file(port_file, s->pid, 10000);
    s->raw = s->port ? hw_port_file(raw_file, s->pid, 10000) : 0;
    if (s->port == 0 || s->raw == 0)
        goto fail;
    free(port_file);
    free(raw_file);
    return 0;
fail:
    free(port_file);
    free(raw_file);
    return -1;
}

void hw_site_stop(struct hw_site *s)
{
    if (s->stdin_w >= 0)
        close(s->stdin_w);
    if (s->pid > 0) {
        kill(s->pid, SIGTERM);
        if (hw_wait(s->pid, 5000, NULL) < 0)
            hw_kill(s->pid);
    }
    free(s->root);
    free(s->log);
    free(s->stderr_to);
    memset(s, 0, sizeof(*s));
    s->pid = -1;
    s->stdin_w = -1;
}

/* ---- the request log ------------------------------------------------ */

size_t hw_log_lines(const char *path)
{
    size_t len = 0, n = 0;
    char *all = hw_slurp(path, &len);

    for (size_t i = 0; all && i < len; i++)
        n += all[i] == '\n';
    free(all);
    return n;
}

int hw_log_read(const char *path, size_t first, struct hw_log *out)
{
    size_t len = 0, line = 0;
    char *all = hw_slurp(path, &len), *save = NULL;

    memset(out, 0, sizeof(*out));
    if (all == NULL)
        return -errno;
    for (char *l = strtok_r(all, "\n", &save); l; l = strtok_r(NULL, "\n", &save), line++) {
        char *f[6] = {0}, *fs = NULL;
        struct hw_req r = {0};
        int k = 0;

        if (line < first)
            continue;
        for (char *t = strtok_r(l, "\t", &fs); t && k < 6; t = strtok_r(NULL, "\t", &fs))
            f[k++] = t;
        if (k < 6)
            continue;
        r.ms = strtoll(f[0], NULL, 10);
        r.method = xstrdup(f[1]);
        r.path = xstrdup(f[2]);
        r.status = (int)strtol(f[3], NULL, 10);
        r.cond = strcmp(f[4], "cond") == 0;
        r.ua = xstrdup(f[5]);
        out->v = xreallocarray(out->v, out->n + 1, sizeof(*out->v));
        out->v[out->n++] = r;
    }
    free(all);
    return 0;
}

void hw_log_free(struct hw_log *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i].method);
        free(l->v[i].path);
        free(l->v[i].ua);
    }
    free(l->v);
    memset(l, 0, sizeof(*l));
}

size_t hw_log_count(const struct hw_log *l, const char *path)
{
    size_t n = 0;

    for (size_t i = 0; i < l->n; i++)
        n += strcmp(l->v[i].path, path) == 0;
    return n;
}
