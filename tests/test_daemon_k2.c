/*
 * test_daemon_k2: RELIABILITY.md K2, a slow fsync. A provd of its own
 * harvests K2_PAGES generated record pages from fakesite while strace,
 * attached to every thread, delays each fsync and fdatasync by 500 ms.
 * Meanwhile health queries (GET /v1/status) and indexed record queries
 * (GET /v1/records?source=k2) go to the control socket, one after the
 * other, for K2_QUERY_MS: their p99 must be within HEALTH_LIMIT_MS (the
 * catalog's writes are on the writer thread, off the loop). The harvest
 * must still finish, slower, with every page fetched once and every
 * record stored once. The manual trigger itself is not timed: a run's
 * start waits for the writer (its id comes from the catalog).
 *
 * provd runs under strace -f --seccomp-bpf rather than with strace -p
 * attached: an attached strace stops every thread at every system call,
 * which on a loaded machine costs the loop more than any fsync would, and
 * the test would time strace. With the seccomp filter only fsync and
 * fdatasync stop. Skipped, with the reason printed, when strace is
 * missing or cannot trace (ptrace not permitted).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "test_daemon.h"

#include "daemon_http.h"
#include "harvest_world.h"
#include "xmalloc.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define K2_PAGES    300
#define K2_QUERY_MS 10000
#define K2_MAX_Q    4096

static const char *k2_strace(void)
{
    static const char *const where[] = {"/usr/bin/strace", "/bin/strace", "/usr/local/bin/strace"};
    const char *env = getenv("PROVD_STRACE");

    if (env && *env)
        return access(env, X_OK) == 0 ? env : NULL;
    for (size_t i = 0; i < sizeof(where) / sizeof(where[0]); i++)
        if (access(where[i], X_OK) == 0)
            return where[i];
    return NULL;
}

/* Write K2_PAGES pages, each a fixture page under a record id of its own,
 * into the site's directory k2. */
static void k2_pages(void)
{
    const char *src = getenv("PROVD_SOURCE_ROOT");
    char *dir = xasprintf("%s/tests/data/pages", src && *src ? src : SOURCE_ROOT);
    char *out = td_path(W.site, "k2");
    struct hw_fixtures fx = {0};
    const struct hw_fixture *f = NULL;

    assert_int_equal(hw_fixtures_load(dir, &fx), 0);
    for (size_t i = 0; i < fx.n && f == NULL; i++)
        if (strcmp(fx.v[i].name, "rgaspi-telegram") == 0)
            f = &fx.v[i];
    assert_non_null(f);
    assert_int_equal(mkdir(out, 0755), 0);
    for (unsigned i = 0; i < K2_PAGES; i++) {
        char id[32], suffix[32], *path, *page;
        size_t len = 0;

        snprintf(id, sizeof(id), "%u", 810000 + i);
        snprintf(suffix, sizeof(suffix), " (k2 %u)", i);
        page = hw_page(f, id, suffix, &len);
        assert_non_null(page);
        path = xasprintf("%s/r%04u.html", out, i);
        assert_int_equal(daemon_proc_write(path, page, len), 0);
        free(path);
        free(page);
    }
    hw_fixtures_free(&fx);
    free(dir);
    free(out);
}

/* provd's pid while it runs, for the teardown: a failed assertion would
 * otherwise leave it running (strace, killed, lets it go). */
static struct {
    pid_t provd;
    bool used;   /* d was set up */
    struct td d; /* not on the stack: its notify thread outlives a failure */
} K2;

int test_k2_teardown(void **state)
{
    if (K2.provd > 0) {
        kill(K2.provd, SIGKILL);
        K2.provd = 0;
    }
    if (K2.used) {
        td_discard(&K2.d);
        K2.used = false;
    }
    return 0;
}

/* The child of pid that runs program (strace also forks a child of its
 * own to try its seccomp filter); 0 when none does. */
static pid_t k2_child(pid_t pid, const char *program)
{
    char path[96], *text, *end;
    pid_t found = 0;

    snprintf(path, sizeof(path), "/proc/%ld/task/%ld/children", (long)pid, (long)pid);
    text = daemon_proc_read(path, NULL);
    for (char *at = text; at && *at && found == 0; at = end) {
        long v = strtol(at, &end, 10);
        char *cmd;

        if (end == at)
            break;
        snprintf(path, sizeof(path), "/proc/%ld/cmdline", v);
        cmd = daemon_proc_read(path, NULL);
        if (cmd && strcmp(cmd, program) == 0)
            found = (pid_t)v;
        free(cmd);
    }
    free(text);
    return found;
}

/* Start provd on d's configuration under strace, which delays every
 * fsync and fdatasync by 500 ms and writes them to trace_log; wait for
 * READY=1. d->pid is strace's. Returns provd's pid, or 0 when strace
 * could not run it (the reason is in d's log). */
static pid_t k2_start(struct td *d, const char *strace, const char *trace_log)
{
    char *nsock = td_path(d->dir, "notify.sock");
    char *env_notify = xasprintf("NOTIFY_SOCKET=%s", nsock);
    /* LeakSanitizer cannot run under ptrace; the other daemon tests look
     * for leaks. */
    const char *env[] = {env_notify,
                         "WATCHDOG_USEC=1000000",
                         "WATCHDOG_PID",
                         "LISTEN_FDS",
                         "LISTEN_PID",
                         "ASAN_OPTIONS=detect_leaks=0:abort_on_error=1",
                         NULL};
    const char *argv[] = {strace,
                          "-f",
                          "--seccomp-bpf",
                          "-qq",
                          "-o",
                          trace_log,
                          "-e",
                          "trace=fdatasync,fsync",
                          "-e",
                          "inject=fdatasync,fsync:delay_enter=500000",
                          W.provd,
                          "-c",
                          d->conf,
                          NULL};
    struct daemon_proc_opts o = {.env = env, .log = d->log, .uid = -1};
    pid_t child = 0;

    assert_int_equal(daemon_notify_open(&d->nt, nsock), 0);
    d->pid = daemon_proc_spawn(argv, &o);
    assert_true(d->pid > 0);
    for (int i = 0; i < 3000 && child <= 0; i++) {
        if (daemon_proc_wait(d->pid, 0, NULL) == 0) {
            d->pid = 0;
            goto out;
        }
        child = k2_child(d->pid, W.provd);
        if (child <= 0)
            daemon_proc_sleep_ms(10);
    }
    assert_true(child > 0);
    K2.provd = child;
    if (!daemon_notify_wait(&d->nt, "READY=1", 30000)) {
        char *log = daemon_proc_read(d->log, NULL);

        fail_msg("provd did not say READY=1 under strace; its log:\n%s", log ? log : "(none)");
    }
out:
    free(env_notify);
    free(nsock);
    return child;
}

static int k2_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

static unsigned k2_count(const char *text, const char *needle)
{
    unsigned n = 0;

    for (const char *p = text; p && (p = strstr(p, needle)) != NULL; p++)
        n++;
    return n;
}

void test_k2_slow_fsync(void **state)
{
    const char *strace = k2_strace();
    char *trace_log, *urls, *target, *text;
    double *ms = xcalloc(K2_MAX_Q, sizeof(*ms)), t0, t_end, harvest_ms;
    unsigned n = 0, syncs, fetched;
    pid_t provd;
    int st = 0;
    int64_t run;
    json_t *o, *keys;
    long stored_mid = -1;
    struct td *d = &K2.d;

    if (strace == NULL) {
        print_message("K2 skipped: strace is not installed\n");
        free(ms);
        skip();
    }
    k2_pages();
    td_init(d, "k2");
    K2.used = true;
    urls = td_path(d->dir, "k2.urls");
    td_urls_file(urls, "k2", NULL);
    free(urls);
    td_config(d, "manual-cooldown = 0\n",
              "[source k2]\nurls = k2.urls\ndelay = 30ms\nconcurrency = 4\ninterval = 1h\n");
    trace_log = td_path(d->dir, "strace.log");
    provd = k2_start(d, strace, trace_log);
    if (provd <= 0) {
        text = daemon_proc_read(d->log, NULL);
        print_message("K2 skipped: provd cannot run under strace: %.300s\n", text ? text : "");
        free(text);
        td_discard(d);
        K2.used = false;
        free(trace_log);
        free(ms);
        skip();
    }

    o = td_json(d, "POST", "/v1/harvest?source=k2", NULL, 202);
    run = json_integer_value(json_object_get(o, "run_id"));
    json_decref(o);
    target = xasprintf("/v1/runs/%lld", (long long)run);

    /* Queries, one after the other, while the harvest runs. */
    t0 = daemon_http_now_ms();
    t_end = 0;
    while (daemon_http_now_ms() - t0 < K2_QUERY_MS && n < K2_MAX_Q) {
        struct daemon_http_reply r;
        const char *q = n % 2 ? "/v1/records?source=k2&limit=20" : "/v1/status";
        int rc = daemon_http_request(d->sock, "GET", q, NULL, 5000, &r);

        if (rc < 0 || r.status != 200)
            fail_msg("K2: %s: rc %d, status %d", q, rc, r.status);
        ms[n++] = r.ms;
        daemon_http_reply_clear(&r);
        if (n % 50 == 0 && t_end == 0) {
            o = td_get(d, target);
            if (strcmp(json_string_value(json_object_get(o, "state")), "running") != 0)
                t_end = daemon_http_now_ms();
            else if (stored_mid < 0 && daemon_http_now_ms() - t0 > K2_QUERY_MS / 2)
                stored_mid = (long)json_integer_value(
                    json_object_get(json_object_get(o, "progress"), "done"));
            json_decref(o);
        }
        daemon_proc_sleep_ms(10);
    }
    o = td_wait_run(d, run, 120000);
    if (t_end == 0)
        t_end = daemon_http_now_ms();
    harvest_ms = t_end - t0;
    assert_string_equal(json_string_value(json_object_get(o, "state")), "done");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(o, "counters"), "new")),
                     K2_PAGES);
    json_decref(o);
    free(target);

    text = daemon_proc_read(trace_log, NULL);
    syncs = k2_count(text, "fsync(") + k2_count(text, "fdatasync(");
    free(text);

    /* Every page fetched once, every record stored once. */
    {
        char *log = td_path(W.dir, "fakesite.log");

        text = daemon_proc_read(log, NULL);
        assert_non_null(text);
        fetched = k2_count(text, "\tGET\t/k2/");
        free(text);
        free(log);
    }
    keys = td_all_keys(d, "source=k2", 100);

    qsort(ms, n, sizeof(*ms), k2_cmp);
    print_message(
        "K2 slow fsync (500 ms): %u queries, p50 %.1f ms, p99 %.1f ms, max %.1f ms; "
        "%u syncs delayed; %ld pages done half-way; %zu records stored, %u pages fetched, "
        "run ended after %.1f s%s\n",
        n, ms[n / 2], ms[(n * 99) / 100], ms[n - 1], syncs, stored_mid, json_object_size(keys),
        fetched, harvest_ms / 1000.0, t_end - t0 < K2_QUERY_MS ? " (within the query window)" : "");
    assert_true(n >= 100);
    assert_true(ms[(n * 99) / 100] <= HEALTH_LIMIT_MS);
    assert_true(syncs > 0);
    assert_int_equal(fetched, K2_PAGES);
    assert_int_equal(json_object_size(keys), K2_PAGES);
    /* Half-way through the window the run had moved on (or was over). */
    assert_true(stored_mid != 0);
    json_decref(keys);

    /* strace ends with provd and passes its exit status on. The last
     * close checkpoints the catalog, paying the delay on each sync. */
    t0 = daemon_http_now_ms();
    kill(provd, SIGTERM);
    if (daemon_proc_wait(d->pid, 20000, &st) != 0) {
        char path[64], *status, *log = daemon_proc_read(d->log, NULL);

        snprintf(path, sizeof(path), "/proc/%ld/status", (long)provd);
        status = daemon_proc_read(path, NULL);
        fail_msg("K2: provd did not end within 20 s of SIGTERM; its status:\n%.400s\nits "
                 "log ends:\n%s",
                 status ? status : "(gone)",
                 log && strlen(log) > 2000 ? log + strlen(log) - 2000
                 : log                     ? log
                                           : "");
    }
    print_message("K2 SIGTERM: provd ended after %.0f ms\n", daemon_http_now_ms() - t0);
    K2.provd = 0;
    d->pid = 0;
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    td_discard(d);
    K2.used = false;
    free(trace_log);
    free(ms);
}
