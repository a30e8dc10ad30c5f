/*
 * test_daemon_life: daemons of their own for what changes a daemon's life
 * — SIGHUP with a valid and an invalid file, SIGUSR1, the socket's mode
 * and peers that are not allowed (S1, S2), SIGTERM under load and the
 * restart that resumes the interrupted run (P1), a second daemon on a
 * socket in use and a stale socket after a crash (S3), a corrupt catalog
 * at start-up (D7) and configuration errors (C1, C2).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "test_daemon.h"

#include "catalog.h"
#include "daemon_gen.h"
#include "daemon_http.h"
#include "xmalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* SIGHUP with a valid changed file and with an invalid one; SIGUSR1; the
 * socket's mode and a peer that is not allowed. */
void test_reload_signals_peer(void **state)
{
    static const char base_sources[] =
        "[source site]\nurls = site.urls\ndelay = 0\ninterval = 1h\n";
    static struct td d;
    json_t *o;
    struct stat sb;
    char *urls, *more;
    int64_t max_run = 0, usr1_run = 0;
    json_t *src;
    size_t i;

    td_init(&d, "b");
    urls = td_path(d.dir, "site.urls");
    td_urls_file(urls, "rec", NULL);
    free(urls);
    urls = td_path(d.dir, "extra.urls");
    td_urls_file(urls, "slow-a", NULL);
    free(urls);
    td_config(&d, "manual-cooldown = 0\n", base_sources);
    td_start(&d, 0);
    o = td_get(&d, "/v1/sources");
    assert_int_equal(json_array_size(json_object_get(o, "sources")), 1);
    json_decref(o);

    /* A valid changed file: the new source appears. */
    more = xasprintf("%s\n[source extra]\nurls = extra.urls\ndelay = 0\ninterval = 2h\n",
                     base_sources);
    td_config(&d, "manual-cooldown = 0\n", more);
    free(more);
    daemon_notify_skip(&d.nt);
    kill(d.pid, SIGHUP);
    /* One message: RELOADING=1 with the time it began. */
    assert_true(daemon_notify_wait(&d.nt, "RELOADING=1\nMONOTONIC_USEC=", 10000));
    assert_true(daemon_notify_wait(&d.nt, "READY=1", 10000));
    o = td_get(&d, "/v1/sources");
    assert_int_equal(json_array_size(json_object_get(o, "sources")), 2);
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(o, "sources"), 1), "name")),
                        "extra");
    json_decref(o);
    assert_true(td_log_has(&d, "configuration reloaded"));

    /* An invalid file: refused with file:line, the old one stays. */
    td_write(d.conf, "[provd]\nlog-level = info\n[source site]\nurls = site.urls\n"
                     "no-such-directive = 1\n");
    kill(d.pid, SIGHUP);
    assert_true(daemon_notify_wait(&d.nt, "RELOADING=1", 10000));
    assert_true(daemon_notify_wait(&d.nt, "READY=1", 10000));
    {
        char *where = xasprintf("%s:5:", d.conf);

        for (int k = 0; k < 50 && !td_log_has(&d, where); k++)
            daemon_proc_sleep_ms(50);
        assert_true(td_log_has(&d, where));
        free(where);
    }
    assert_true(td_log_has(&d, "reload refused"));
    o = td_get(&d, "/v1/sources");
    assert_int_equal(json_array_size(json_object_get(o, "sources")), 2);
    json_decref(o);
    td_health(&d, 3);

    /* SIGUSR1: every source is harvested. */
    o = td_get(&d, "/v1/sources");
    json_array_foreach(json_object_get(o, "sources"), i, src)
    {
        json_t *last = json_object_get(src, "last_run");
        int64_t id = json_integer_value(json_object_get(src, "run_id"));

        if (json_is_object(last) && json_integer_value(json_object_get(last, "run_id")) > max_run)
            max_run = json_integer_value(json_object_get(last, "run_id"));
        if (id > max_run)
            max_run = id;
    }
    json_decref(o);
    kill(d.pid, SIGUSR1);
    for (int k = 0; k < 100 && usr1_run == 0; k++) {
        o = td_get(&d, "/v1/sources");
        json_array_foreach(json_object_get(o, "sources"), i, src)
        {
            json_t *last = json_object_get(src, "last_run");
            int64_t id = json_integer_value(json_object_get(src, "run_id"));

            if (id == 0 && json_is_object(last))
                id = json_integer_value(json_object_get(last, "run_id"));
            if (id > max_run &&
                strcmp(json_string_value(json_object_get(src, "name")), "site") == 0)
                usr1_run = id;
        }
        json_decref(o);
        daemon_proc_sleep_ms(100);
    }
    assert_true(usr1_run > max_run);
    o = td_wait_run(&d, usr1_run, 20000);
    assert_string_equal(json_string_value(json_object_get(o, "trigger")), "manual");
    json_decref(o);
    assert_true(td_log_has(&d, "SIGUSR1"));

    /* The socket is created 0660 (the default socket-mode). */
    assert_int_equal(stat(d.sock, &sb), 0);
    assert_true(S_ISSOCK(sb.st_mode));
    assert_int_equal(sb.st_mode & 07777, 0660);
    if (geteuid() != 0) {
        printf("# skipped the peer checks (S1, S2): they need root to act as another user\n");
    } else {
        /* S1: another user cannot even connect; S2: with the mode wrongly
         * 0666 it connects, and the peer check answers 403. */
        for (int wide = 0; wide < 2; wide++) {
            pid_t pid;
            int st = 0;

            assert_int_equal(chmod(d.sock, wide ? 0666 : 0660), 0);
            pid = fork();
            assert_true(pid >= 0);
            if (pid == 0) {
                struct daemon_http_reply r;
                int rc;

                if (setgroups(0, NULL) < 0 || setgid(65534) < 0 || setuid(65534) < 0)
                    _exit(10);
                rc = daemon_http_request(d.sock, "GET", "/v1/status", NULL, 5000, &r);
                if (!wide)
                    _exit(rc == -EACCES ? 0 : 11);
                _exit(rc == 0 && r.status == 403 && strstr(r.body, "\"forbidden\"") ? 0 : 12);
            }
            assert_int_equal(daemon_proc_wait(pid, 10000, &st), 0);
            assert_true(WIFEXITED(st));
            if (WEXITSTATUS(st) != 0)
                fail_msg("peer check (mode %s): child said %d", wide ? "0666" : "0660",
                         WEXITSTATUS(st));
        }
        assert_int_equal(chmod(d.sock, 0660), 0);
    }
    td_health(&d, 3);
    td_health_report("reload, signals, peers");
    {
        int st = td_signal_wait(&d, SIGTERM, 5000, NULL);

        assert_true(st >= 0 && WIFEXITED(st));
        assert_int_equal(WEXITSTATUS(st), 0);
    }
    td_discard(&d);
}

/* P1: SIGTERM with a harvest in flight (two pages that take 6 s to come)
 * and API clients connected: exit 0 within 5 s; every record acknowledged
 * before is there after; the interrupted run resumes at the next start
 * and ends. */
void test_sigterm_under_load(void **state)
{
    static struct td d;
    char *urls, *extra, *resumed;
    json_t *o, *before, *after, *v;
    int64_t run;
    int idle, partial, kept, st;
    double took = 0;
    const char *k;
    struct daemon_http_reply r;

    td_init(&d, "c");
    urls = td_path(d.dir, "load.urls");
    extra =
        xasprintf("http://127.0.0.1:%u/fault/delay/6000\nhttp://127.0.0.1:%u/fault/delay/6001\n",
                  W.port, W.port);
    td_urls_file(urls, "load", extra);
    free(extra);
    free(urls);
    td_config(&d, "manual-cooldown = 0\n",
              "[source load]\nurls = load.urls\ndelay = 100ms\nconcurrency = 2\ninterval = 1h\n");
    td_start(&d, 0);
    o = td_json(&d, "POST", "/v1/harvest?source=load", NULL, 202);
    run = json_integer_value(json_object_get(o, "run_id"));
    json_decref(o);
    /* The twelve pages come first; then the two slow ones are in flight. */
    for (int i = 0;; i++) {
        o = td_get(&d, "/v1/records?source=load&limit=500");
        if (json_array_size(json_object_get(o, "records")) == 12)
            break;
        json_decref(o);
        assert_true(i < 200);
        daemon_proc_sleep_ms(100);
    }
    json_decref(o);
    before = td_all_keys(&d, "source=load", 5);
    daemon_proc_sleep_ms(300);
    {
        char *target = xasprintf("/v1/runs/%lld", (long long)run);

        o = td_get(&d, target);
        assert_string_equal(json_string_value(json_object_get(o, "state")), "running");
        json_decref(o);
        free(target);
    }

    /* API clients: one idle, one half-way through a request, one with a
     * reply behind it and the connection kept. */
    idle = daemon_http_connect(d.sock);
    partial = daemon_http_connect(d.sock);
    kept = daemon_http_connect(d.sock);
    assert_true(idle >= 0 && partial >= 0 && kept >= 0);
    daemon_http_send(partial, "GET /v1/records?limit=5 HTTP/1.1\r\nHo", 36);
    assert_int_equal(daemon_http_keepalive(kept, "GET", "/v1/status", 5000, &r), 0);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"running\""));
    daemon_http_reply_clear(&r);

    daemon_notify_skip(&d.nt);
    st = td_signal_wait(&d, SIGTERM, 5000, &took);
    printf("# SIGTERM under load: provd ended after %.0f ms\n", took);
    assert_true(st >= 0);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    assert_true(daemon_notify_wait(&d.nt, "STOPPING=1", 1000));
    close(idle);
    close(partial);
    close(kept);

    /* The next start resumes run `run` and finishes it. */
    td_start(&d, 0);
    resumed = xasprintf("run %lld of source load started (schedule, resuming an interrupted run)",
                        (long long)run);
    for (int i = 0; i < 100 && !td_log_has(&d, resumed); i++)
        daemon_proc_sleep_ms(50);
    assert_true(td_log_has(&d, resumed));
    free(resumed);
    o = td_wait_run(&d, run, 30000);
    assert_string_equal(json_string_value(json_object_get(o, "state")), "done");
    json_decref(o);
    /* The twelve pages were fetched once in all: the resumed run took up
     * only what the first one left pending. */
    {
        char *log = td_path(W.dir, "fakesite.log"), *text = daemon_proc_read(log, NULL);
        unsigned fetched = 0;

        assert_non_null(text);
        for (const char *p = text; (p = strstr(p, "\tGET\t/load/")) != NULL; p++)
            fetched++;
        printf("# pages of the interrupted run fetched %u times in all\n", fetched);
        assert_int_equal(fetched, 12);
        free(text);
        free(log);
    }
    after = td_all_keys(&d, "source=load", 500);
    json_object_foreach(before, k, v)
    {
        assert_non_null(json_object_get(after, k));
    }
    assert_int_equal(json_object_size(after), json_object_size(before));
    json_decref(before);
    json_decref(after);
    st = td_signal_wait(&d, SIGTERM, 5000, NULL);
    assert_true(st >= 0 && WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    td_discard(&d);
}

/* S3: a second provd on a socket in use refuses to start and the first
 * keeps serving; after a crash (SIGKILL) the stale socket file is
 * replaced at the next start. */
void test_stale_socket(void **state)
{
    static struct td d;
    struct stat sb;
    char *log2;
    const char *argv[4];
    struct daemon_proc_opts o = {.uid = -1};
    pid_t pid;
    int st = 0;

    td_init(&d, "f");
    td_config(&d, NULL, NULL);
    td_start(&d, 0);
    log2 = td_path(d.dir, "second.log");
    argv[0] = W.provd;
    argv[1] = "-c";
    argv[2] = d.conf;
    argv[3] = NULL;
    o.log = log2;
    pid = daemon_proc_spawn(argv, &o);
    assert_true(pid > 0);
    if (daemon_proc_wait(pid, 20000, &st) < 0) {
        daemon_proc_kill(pid);
        fail_msg("a second provd on the same socket kept running");
    }
    assert_true(WIFEXITED(st));
    assert_int_not_equal(WEXITSTATUS(st), 0);
    {
        char *text = daemon_proc_read(log2, NULL);

        assert_non_null(text);
        if (strstr(text, "another process is listening") == NULL)
            fail_msg("second provd: %s", text);
        free(text);
    }
    td_health(&d, 3);

    /* A crash leaves the socket file behind. */
    kill(d.pid, SIGKILL);
    assert_int_equal(daemon_proc_wait(d.pid, 5000, NULL), 0);
    d.pid = 0;
    assert_int_equal(stat(d.sock, &sb), 0);
    assert_true(S_ISSOCK(sb.st_mode));
    td_start(&d, 0);
    td_health(&d, 3);
    td_health_report("a second provd, a stale socket");
    st = td_signal_wait(&d, SIGTERM, 5000, NULL);
    assert_true(st >= 0 && WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    td_discard(&d);
    free(log2);
}

/* D7: a catalog with garbage at offset 0: provd refuses to start (non-zero
 * exit, DB_CORRUPT in the log) and leaves the file as it was. */
void test_db_corrupt(void **state)
{
    static struct td d;
    struct catalog *c = NULL;
    FILE *in;
    char *before, *after, *wal;
    size_t n0, n1;
    const char *argv[4];
    struct daemon_proc_opts o = {.uid = -1};
    pid_t pid;
    int st = 0, fd;

    td_init(&d, "d");
    td_config(&d, NULL, NULL);
    assert_int_equal(catalog_open(d.db, NULL, &c), 0);
    in = daemon_gen_open("bulk", 0, 50);
    assert_int_equal(catalog_import(c, in, NULL), 0);
    fclose(in);
    catalog_close(c);
    fd = open(d.db, O_WRONLY);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, "this is no database, just garbage at offset zero!!", 50, 0), 50);
    close(fd);
    before = daemon_proc_read(d.db, &n0);
    argv[0] = W.provd;
    argv[1] = "-c";
    argv[2] = d.conf;
    argv[3] = NULL;
    o.log = d.log;
    pid = daemon_proc_spawn(argv, &o);
    assert_true(pid > 0);
    if (daemon_proc_wait(pid, 20000, &st) < 0) {
        daemon_proc_kill(pid);
        fail_msg("provd kept running on a corrupt catalog");
    }
    assert_true(WIFEXITED(st));
    assert_int_not_equal(WEXITSTATUS(st), 0);
    printf("# corrupt catalog: provd exited %d\n", WEXITSTATUS(st));
    assert_true(td_log_has(&d, "DB_CORRUPT"));
    after = daemon_proc_read(d.db, &n1);
    assert_int_equal(n0, n1);
    assert_memory_equal(before, after, n0);
    wal = xasprintf("%s-wal", d.db);
    assert_int_equal(access(wal, F_OK), -1);
    free(wal);
    free(before);
    free(after);
}

/* C1, C2: a missing or unreadable configuration, and a syntax error, end
 * provd with 78 and a message naming the file. */
void test_config_errors(void **state)
{
    char *missing = td_path(W.dir, "no-such.conf"), *bad = td_path(W.dir, "bad.conf");
    char *secret = td_path(W.dir, "secret.conf"), *log = td_path(W.dir, "config.log");
    const struct {
        const char *path, *needle;
        int uid; /* -1: as we are */
    } cases[] = {
        {missing, "no-such.conf", -1},  /* C1: missing */
        {W.dir, W.dir, -1},             /* C1: not a file */
        {secret, "secret.conf", 65534}, /* C1: unreadable (root only) */
        {bad, "bad.conf:3", -1},        /* C2: syntax error with its line */
    };

    td_write(bad, "[provd]\nlog-level = info\n[source x\n");
    td_write(secret, "[provd]\nlog-level = info\n");
    chmod(secret, 0600);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *argv[] = {W.provd, "-c", cases[i].path, NULL};
        struct daemon_proc_opts o = {.log = log, .uid = cases[i].uid};
        char *text;
        pid_t pid;
        int st = 0;

        if (cases[i].uid >= 0 && geteuid() != 0) {
            printf("# skipped the unreadable configuration: it needs root to act as another "
                   "user\n");
            continue;
        }
        unlink(log);
        pid = daemon_proc_spawn(argv, &o);
        assert_true(pid > 0);
        assert_int_equal(daemon_proc_wait(pid, 10000, &st), 0);
        assert_true(WIFEXITED(st));
        text = daemon_proc_read(log, NULL);
        assert_non_null(text);
        if (WEXITSTATUS(st) != 78 || strstr(text, cases[i].needle) == NULL)
            fail_msg("%s: exit %d, expected 78 and '%s' in: %s", cases[i].path, WEXITSTATUS(st),
                     cases[i].needle, text);
        free(text);
    }
    free(missing);
    free(bad);
    free(secret);
    free(log);
}
