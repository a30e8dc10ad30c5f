/*
 * test_daemon_util: the helpers of the test_daemon program — files and
 * pages, starting and stopping a provd under test, JSON requests, the
 * health queries and their report, provctl runs. Every wait is bounded;
 * failures end the current test through cmocka.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "test_daemon.h"

#include "daemon_http.h"
#include "strbuf.h"
#include "xmalloc.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef SOURCE_ROOT
#define SOURCE_ROOT "."
#endif

char *td_path(const char *dir, const char *name)
{
    return xasprintf("%s/%s", dir, name);
}

void td_write(const char *path, const char *text)
{
    assert_int_equal(daemon_proc_write(path, text, strlen(text)), 0);
}

/* Copy every .html file of tests/data/pages into dir. */
void td_copy_pages(const char *dir)
{
    char *src = xasprintf("%s/tests/data/pages",
                          getenv("PROVD_SOURCE_ROOT") ? getenv("PROVD_SOURCE_ROOT") : SOURCE_ROOT);
    DIR *d = opendir(src);
    struct dirent *e;

    assert_non_null(d);
    mkdir(dir, 0755);
    while ((e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name), len;
        char *from, *to, *text;

        if (n < 6 || strcmp(e->d_name + n - 5, ".html") != 0)
            continue;
        from = xasprintf("%s/%s", src, e->d_name);
        to = xasprintf("%s/%s", dir, e->d_name);
        text = daemon_proc_read(from, &len);
        assert_non_null(text);
        assert_int_equal(daemon_proc_write(to, text, len), 0);
        free(text);
        free(from);
        free(to);
    }
    closedir(d);
    free(src);
}

/* A urls file naming every page under the site's directory rel (on the
 * second fakesite for the slow-* directories). */
void td_urls_file(const char *path, const char *rel, const char *extra)
{
    unsigned port = strncmp(rel, "slow", 4) == 0 ? W.port2 : W.port;
    char *dir = xasprintf("%s/%s", W.site, rel);
    struct strbuf b = STRBUF_INIT;
    struct dirent **list;
    int n = scandir(dir, &list, NULL, alphasort);

    assert_true(n > 0);
    for (int i = 0; i < n; i++) {
        if (list[i]->d_name[0] != '.')
            strbuf_addf(&b, "http://127.0.0.1:%u/%s/%s\n", port, rel, list[i]->d_name);
        free(list[i]);
    }
    free(list);
    if (extra)
        strbuf_adds(&b, extra);
    td_write(path, strbuf_str(&b));
    strbuf_release(&b);
    free(dir);
}

void td_init(struct td *d, const char *name)
{
    memset(d, 0, sizeof(*d));
    d->nt.fd = -1;
    snprintf(d->dir, sizeof(d->dir), "%s/%s", W.dir, name);
    assert_int_equal(mkdir(d->dir, 0711), 0);
    /* Others may search the directory (the peer test connects as nobody)
     * but never write it: provd refuses such a socket directory. */
    chmod(d->dir, 0711);
    snprintf(d->conf, sizeof(d->conf), "%s/provd.conf", d->dir);
    snprintf(d->sock, sizeof(d->sock), "%s/provd.sock", d->dir);
    snprintf(d->db, sizeof(d->db), "%s/catalog.db", d->dir);
    snprintf(d->log, sizeof(d->log), "%s/provd.log", d->dir);
}

/* Write d's configuration: [provd] with the paths, the fakesite port and
 * provd_extra lines, then the sources text. */
void td_config(struct td *d, const char *provd_extra, const char *sources)
{
    char *text = xasprintf("[provd]\ndatabase = %s\nsocket = %s\nallow-addresses = 127.0.0.1:%u"
                           " 127.0.0.1:%u\nlog-level = info\n%s\n%s",
                           d->db, d->sock, W.port, W.port2, provd_extra ? provd_extra : "",
                           sources ? sources : "");

    td_write(d->conf, text);
    free(text);
}

/* Start provd on d's configuration and wait for READY=1. nofile: the
 * RLIMIT_NOFILE to give it (0: ours). */
void td_start(struct td *d, long nofile)
{
    char *nsock = td_path(d->dir, "notify.sock");
    char *env_notify = xasprintf("NOTIFY_SOCKET=%s", nsock);
    const char *env[] = {
        env_notify, "WATCHDOG_USEC=1000000", "WATCHDOG_PID", "LISTEN_FDS", "LISTEN_PID", NULL};
    const char *argv[] = {W.provd, "-c", d->conf, NULL};
    struct daemon_proc_opts o = {.env = env, .log = d->log, .nofile = nofile, .uid = -1};

    if (d->nt.fd < 0)
        assert_int_equal(daemon_notify_open(&d->nt, nsock), 0);
    d->pid = daemon_proc_spawn(argv, &o);
    assert_true(d->pid > 0);
    if (!daemon_notify_wait(&d->nt, "READY=1", 30000)) {
        char *log = daemon_proc_read(d->log, NULL);

        fail_msg("provd did not say READY=1; its log:\n%s", log ? log : "(none)");
    }
    free(env_notify);
    free(nsock);
}

/* Send sig and wait up to timeout_ms for the exit; the wait status, or -1
 * when it did not end (it is killed then). */
int td_signal_wait(struct td *d, int sig, int timeout_ms, double *took_ms)
{
    double t0 = daemon_http_now_ms();
    int st = 0;

    if (d->pid <= 0)
        return -1;
    kill(d->pid, sig);
    if (daemon_proc_wait(d->pid, timeout_ms, &st) < 0) {
        daemon_proc_kill(d->pid);
        d->pid = 0;
        return -1;
    }
    if (took_ms)
        *took_ms = daemon_http_now_ms() - t0;
    d->pid = 0;
    return st;
}

void td_discard(struct td *d)
{
    if (d->pid > 0)
        daemon_proc_kill(d->pid);
    d->pid = 0;
    daemon_notify_close(&d->nt);
}

/* True when provd's log holds needle. */
bool td_log_has(const struct td *d, const char *needle)
{
    char *log = daemon_proc_read(d->log, NULL);
    bool has = log && strstr(log, needle);

    free(log);
    return has;
}

/* A request whose reply must have status expect and a JSON body; returns
 * the parsed body (the caller decrefs it). */
json_t *td_json(const struct td *d, const char *method, const char *target, const char *body,
                int expect)
{
    struct daemon_http_reply r;
    json_error_t jerr;
    json_t *o;
    int rc = daemon_http_request(d->sock, method, target, body, 10000, &r);

    if (rc < 0 || r.status != expect)
        fail_msg("%s %s: expected %d, got %d (rc %d): %.400s", method, target, expect, r.status, rc,
                 r.body ? r.body : "");
    o = json_loadb(r.body, r.body_len, 0, &jerr);
    if (o == NULL)
        fail_msg("%s %s: not JSON (%s): %.200s", method, target, jerr.text, r.body);
    daemon_http_reply_clear(&r);
    return o;
}

json_t *td_get(const struct td *d, const char *target)
{
    return td_json(d, "GET", target, NULL, 200);
}

/* Poll GET /v1/runs/ID until its state is done or failed. */
json_t *td_wait_run(const struct td *d, int64_t id, int timeout_ms)
{
    char target[64];

    snprintf(target, sizeof(target), "/v1/runs/%lld", (long long)id);
    for (double t0 = daemon_http_now_ms();;) {
        json_t *o = td_get(d, target);
        const char *st = json_string_value(json_object_get(o, "state"));

        assert_non_null(st);
        if (strcmp(st, "done") == 0 || strcmp(st, "failed") == 0)
            return o;
        if (daemon_http_now_ms() - t0 > timeout_ms) {
            char was[32];

            snprintf(was, sizeof(was), "%s", st);
            json_decref(o);
            fail_msg("run %lld still %s after %d ms", (long long)id, was, timeout_ms);
        }
        json_decref(o);
        daemon_proc_sleep_ms(100);
    }
}

/* Every key of the records matching query (a query string without limit
 * or cursor), following the cursor with pages of page_size. */
json_t *td_all_keys(const struct td *d, const char *query, int page_size)
{
    json_t *keys = json_object();
    char *cursor = NULL;
    unsigned pages = 0;

    for (;;) {
        char *target = xasprintf("/v1/records?%s&limit=%d%s%s", query, page_size,
                                 cursor ? "&cursor=" : "", cursor ? cursor : "");
        json_t *o = td_get(d, target), *rec;
        json_t *next = json_object_get(o, "next");
        size_t i;

        assert_true(json_is_array(json_object_get(o, "records")));
        assert_true(json_array_size(json_object_get(o, "records")) <= (size_t)page_size);
        json_array_foreach(json_object_get(o, "records"), i, rec)
        {
            const char *key = json_string_value(json_object_get(rec, "key"));
            const char *src = json_string_value(json_object_get(rec, "source_name"));
            char *id = xasprintf("%s/%s", src ? src : "?", key ? key : "?");

            assert_non_null(key);
            /* A cursor never repeats a record. */
            assert_null(json_object_get(keys, id));
            json_object_set_new(keys, id, json_true());
            free(id);
        }
        free(cursor);
        cursor = NULL;
        if (json_is_string(next))
            cursor = daemon_http_escape(json_string_value(next));
        else
            assert_true(json_is_null(next));
        json_decref(o);
        free(target);
        assert_true(++pages < 1000);
        if (cursor == NULL)
            return keys;
    }
}

void td_schedstat(pid_t pid, double *run_ms, double *wait_ms)
{
    char path[64];
    unsigned long long run = 0, wait = 0;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%d/task/%d/schedstat", (int)pid, (int)pid);
    f = fopen(path, "r");
    if (f) {
        if (fscanf(f, "%llu %llu", &run, &wait) != 2)
            run = wait = 0;
        fclose(f);
    }
    *run_ms = (double)run / 1e6;
    *wait_ms = (double)wait / 1e6;
}

/* n health probes on fresh connections; each must answer 200. Each
 * probe's time is counted less the time provd's loop thread spent
 * runnable but waiting for a CPU meanwhile: what the machine withheld is
 * not provd's latency (the raw maximum is reported too). */
void td_health(const struct td *d, int n)
{
    for (int i = 0; i < n; i++) {
        struct daemon_http_reply r;
        double run0 = 0, wait0 = 0, run1 = 0, wait1 = 0, ms;
        int rc;

        td_schedstat(d->pid, &run0, &wait0);
        rc = daemon_http_request(d->sock, "GET", "/v1/status", NULL, 5000, &r);
        td_schedstat(d->pid, &run1, &wait1);
        if (rc < 0 || r.status != 200)
            fail_msg("health query: rc %d, status %d: %.200s", rc, r.status, r.body);
        if (r.ms > W.health_raw_max)
            W.health_raw_max = r.ms;
        ms = r.ms - (wait1 - wait0);
        if (W.n_health < sizeof(W.health) / sizeof(W.health[0]))
            W.health[W.n_health++] = ms > 0 ? ms : 0;
        daemon_http_reply_clear(&r);
    }
}

static int td_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

/* Print the probes since the last report and assert the slowest. */
void td_health_report(const char *what)
{
    double v[2048], max;
    unsigned n = W.n_health;

    assert_true(n > 0);
    memcpy(v, W.health, n * sizeof(v[0]));
    qsort(v, n, sizeof(v[0]), td_cmp_double);
    max = v[n - 1];
    printf("# %s: %u health probes, median %.1f ms, max %.1f ms (limit %.0f ms; %.1f ms with "
           "the waits for a CPU)\n",
           what, n, v[n / 2], max, HEALTH_LIMIT_MS, W.health_raw_max);
    W.n_health = 0;
    W.health_raw_max = 0;
    assert_true(max <= HEALTH_LIMIT_MS);
}

/* Run provctl with args (NULL-ended) on daemon d's socket; its exit
 * status, with stdout and stderr in *out (the caller frees it). */
int td_provctl(const struct td *d, char **out, ...)
{
    const char *argv[24] = {W.provctl, "-s", d->sock};
    char *log = td_path(W.dir, "provctl.out");
    struct daemon_proc_opts o = {.log = log, .uid = -1};
    size_t n = 3;
    va_list ap;
    pid_t pid;
    int st = 0;

    va_start(ap, out);
    while (n < 23 && (argv[n] = va_arg(ap, const char *)) != NULL)
        n++;
    va_end(ap);
    argv[n] = NULL;
    unlink(log);
    pid = daemon_proc_spawn(argv, &o);
    assert_true(pid > 0);
    if (daemon_proc_wait(pid, 20000, &st) < 0) {
        daemon_proc_kill(pid);
        fail_msg("provctl %s did not end", argv[3]);
    }
    *out = daemon_proc_read(log, NULL);
    free(log);
    assert_non_null(*out);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* A request given whole; returns the status (0: none) and whether the
 * server closed. */
int td_raw(const char *req, size_t len, bool *closed)
{
    struct daemon_http_reply r;
    int status;

    daemon_http_raw(W.a.sock, req, len, 5000, &r);
    status = r.status;
    if (closed)
        *closed = r.closed;
    /* (A reply to HEAD has no body.) */
    if (status >= 400 && r.headers && strstr(r.headers, "application/json") &&
        strncmp(req, "HEAD ", 5) != 0) {
        json_t *o = json_loadb(r.body, r.body_len, 0, NULL);

        /* Errors are JSON with a word and a detail. */
        assert_non_null(o);
        assert_true(json_is_string(json_object_get(o, "error")));
        assert_true(json_is_string(json_object_get(o, "detail")));
        json_decref(o);
    }
    daemon_http_reply_clear(&r);
    return status;
}

int td_status_of(const char *method, const char *target, const char *body)
{
    struct daemon_http_reply r;
    int status;

    daemon_http_request(W.a.sock, method, target, body, 5000, &r);
    status = r.status;
    if (status >= 400) {
        json_t *o = json_loadb(r.body, r.body_len, 0, NULL);

        if (o == NULL || !json_is_string(json_object_get(o, "error")))
            fail_msg("%s %s: %d without a JSON error: %.200s", method, target, status, r.body);
        json_decref(o);
    }
    daemon_http_reply_clear(&r);
    return status;
}
