/*
 * Crash test of catalog/ (RELIABILITY.md D1, P2): a child process harvests
 * into the catalog in small batches — runs with a stored frontier, records
 * that change from run to run — and reports each batch on a pipe only
 * after catalog_commit() returned 0. The parent kills it with SIGKILL
 * after a random number of microseconds (counted from the child's start
 * in one cycle of four, else from its first acknowledged batch), 200
 * times (PROVD_CRASH_CYCLES, PROVD_CRASH_DELAY_MAX and PROVD_CRASH_SEED
 * override), and after each kill checks that the database is sound
 * (integrity_check), that every batch the child reported is there (at its
 * version or a newer one), that no key is stored twice, and that the
 * run's frontier and counters agree with the records: written in the same
 * transaction, they cannot disagree after any crash.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "catalog.h"
#include "catalog_fixture.h"

#include "xmalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define CRASH_BATCH     5  /* records per batch */
#define CRASH_RUN_SPAN  20 /* URLs in one run's frontier */
#define CRASH_RUN_STEP  10 /* keys a run moves on: half of each run is new */
#define CRASH_MAX_KEYS  (1 << 20)
#define CRASH_DELAY_MAX 25000 /* microseconds before the kill */

/* The keys of run id: [first, first + CRASH_RUN_SPAN). */
static long crash_first_key(int64_t run)
{
    return (long)(run - 1) * CRASH_RUN_STEP;
}

static char *crash_url(long key)
{
    return xasprintf("http://crash.test/doc/%ld", key);
}

static char *crash_title(int64_t run, long key)
{
    return xasprintf("run %lld doc %ld", (long long)run, key);
}

/* ---- the child: harvests until killed ---------------------------------- */

static void child_fail(const char *what, struct catalog *c)
{
    fprintf(stderr, "crash child: %s: %s\n", what, c ? catalog_errmsg(c) : "");
    _exit(3);
}

static int64_t child_run(struct catalog *c)
{
    int64_t run = 0;
    int err = catalog_run_unfinished(c, "crash", &run);

    if (err == 0)
        return run;
    if (err != -ENOENT)
        child_fail("find run", c);
    /* A new run and its whole frontier in one batch. */
    if (catalog_begin(c) != 0 || catalog_run_start(c, "crash", CATALOG_TRIGGER_SCHEDULE, &run))
        child_fail("start run", c);
    for (long k = 0; k < CRASH_RUN_SPAN; k++) {
        char *url = crash_url(crash_first_key(run) + k);

        if (catalog_frontier_add(c, run, url) < 0)
            child_fail("frontier", c);
        free(url);
    }
    if (catalog_commit(c, NULL) != 0)
        child_fail("commit run", c);
    return run;
}

static void child_main(const char *db, int out)
{
    struct catalog_options o = {.skip_check = true};
    struct catalog *c;

    if (catalog_open(db, &o, &c) != 0)
        child_fail("open", c);
    for (;;) {
        int64_t run = child_run(c);
        struct strlist pending = {0};
        char ack[4096];
        size_t len = 0;

        if (catalog_frontier_pending(c, run, CRASH_BATCH, &pending) != 0)
            child_fail("pending", c);
        if (pending.n == 0) {
            if (catalog_run_finish(c, run, false) != 0)
                child_fail("finish", c);
            continue;
        }
        if (catalog_begin(c) != 0)
            child_fail("begin", c);
        for (size_t i = 0; i < pending.n; i++) {
            long key = strtol(strrchr(pending.v[i], '/') + 1, NULL, 10);
            struct catalog_page p = {.source = "crash", .url = pending.v[i], .run_id = run};
            struct record *r = record_new();

            r->url = xstrdup(pending.v[i]);
            r->record_id = xasprintf("%ld", key);
            r->title = crash_title(run, key);
            r->text = xasprintf("Document %ld as harvested by run %lld.", key, (long long)run);
            fx_cite(r, "RGASPI", "17", "162", NULL, r->record_id, "1-3");
            if (catalog_upsert(c, &p, r, NULL) != 0)
                child_fail("upsert", c);
            record_free(r);
            len +=
                (size_t)snprintf(ack + len, sizeof(ack) - len, "%ld %lld\n", key, (long long)run);
        }
        len += (size_t)snprintf(ack + len, sizeof(ack) - len, "batch\n");
        if (catalog_commit(c, NULL) != 0)
            child_fail("commit", c);
        /* Acknowledged only now; one write, so a kill cannot split it. */
        if (write(out, ack, len) != (ssize_t)len)
            _exit(4);
        strlist_clear(&pending);
    }
}

/* ---- the parent: kills and checks -------------------------------------- */

struct crash {
    char *dir, *db;
    int32_t *acked; /* per key: the run of its newest acknowledged batch, 0 if none */
    long max_key;
    long n_acked_batches;
};

/* Wait (at most 10 s) until the child acknowledged its first batch;
 * what it wrote goes to b. */
static void crash_wait_first(int fd, struct strbuf *b)
{
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    char buf[4096];
    ssize_t n;

    while (strstr(strbuf_str(b), "batch\n") == NULL) {
        assert_int_equal(poll(&pfd, 1, 10000), 1);
        n = read(fd, buf, sizeof(buf));
        assert_true(n > 0);
        strbuf_add(b, buf, (size_t)n);
    }
}

/* Read the rest of the child's acknowledgements after b and record them. */
static void crash_read_acks(struct crash *s, int fd, struct strbuf *b)
{
    char buf[4096];
    ssize_t n;
    const char *p;

    while ((n = read(fd, buf, sizeof(buf))) > 0)
        strbuf_add(b, buf, (size_t)n);
    for (p = strbuf_str(b); *p;) {
        long key;
        long long run;
        int used = 0;

        if (strncmp(p, "batch\n", 6) == 0) {
            s->n_acked_batches++;
            p += 6;
            continue;
        }
        assert_int_equal(sscanf(p, "%ld %lld\n%n", &key, &run, &used), 2);
        assert_true(key >= 0 && key < CRASH_MAX_KEYS);
        assert_true(run >= s->acked[key]);
        s->acked[key] = (int32_t)run;
        if (key > s->max_key)
            s->max_key = key;
        p += used;
    }
}

/* The run whose title the stored record of key carries, 0 when none. */
static int64_t crash_stored_run(struct catalog *c, long key)
{
    struct catalog_detail d;
    char id[32];
    long long run = 0;
    long k = -1;
    int err;

    snprintf(id, sizeof(id), "%ld", key);
    err = catalog_show(c, "crash", id, &d);
    if (err == -ENOENT)
        return 0;
    assert_int_equal(err, 0);
    assert_int_equal(sscanf(d.item.record->title, "run %lld doc %ld", &run, &k), 2);
    assert_int_equal(k, key);
    catalog_detail_clear(&d);
    return run;
}

/* Every key at most once, counted over a full export. */
static void crash_check_once(struct catalog *c, struct crash *s)
{
    struct strbuf out = STRBUF_INIT;
    unsigned char *seen = xcalloc(CRASH_MAX_KEYS, 1);
    const char *p;
    long lines = 0;

    assert_int_equal(catalog_export(c, NULL, CATALOG_FORMAT_JSONL, fx_write_buf, &out), 0);
    for (p = strbuf_str(&out); (p = strstr(p, "\"key\":\"")) != NULL; p++) {
        long key = strtol(p + 7, NULL, 10);

        assert_true(key >= 0 && key < CRASH_MAX_KEYS);
        assert_int_equal(seen[key], 0);
        seen[key] = 1;
        lines++;
    }
    for (long k = 0; k <= s->max_key; k++)
        if (s->acked[k])
            assert_int_equal(seen[k], 1);
    free(seen);
    strbuf_release(&out);
}

/* The unfinished run: a done URL carries the run's version, a pending one
 * an older one (or none); counters match the done entries. */
static void crash_check_frontier(struct catalog *c)
{
    struct strlist pending = {0};
    struct catalog_run run;
    int64_t id;
    unsigned long done = 0;

    if (catalog_run_unfinished(c, "crash", &id) != 0)
        return;
    assert_int_equal(catalog_frontier_pending(c, id, CRASH_RUN_SPAN, &pending), 0);
    for (long k = 0; k < CRASH_RUN_SPAN; k++) {
        long key = crash_first_key(id) + k;
        char *url = crash_url(key);
        int64_t stored = crash_stored_run(c, key);

        if (strlist_contains(&pending, url)) {
            assert_true(stored < id);
        } else {
            assert_int_equal(stored, id);
            done++;
        }
        free(url);
    }
    assert_int_equal(catalog_run_get(c, id, &run), 0);
    assert_int_equal(run.done, done);
    assert_int_equal(run.pending, pending.n);
    assert_int_equal(run.counts.n_new + run.counts.n_changed + run.counts.n_unchanged, done);
    catalog_run_clear(&run);
    strlist_clear(&pending);
}

static void crash_check(struct crash *s, int cycle, int cycles)
{
    struct catalog *c;
    bool deep = cycle % 25 == 0 || cycle == cycles - 1;
    long sampled = 0;
    int err = catalog_open(s->db, NULL, &c);

    if (err)
        fprintf(stderr, "cycle %d: open: %s\n", cycle, catalog_errmsg(c));
    assert_int_equal(err, 0);
    err = catalog_check(c, deep);
    if (err)
        fprintf(stderr, "cycle %d: check: %s\n", cycle, catalog_errmsg(c));
    assert_int_equal(err, 0);
    /* Acknowledged records: all of them now and then, else the newest
     * ones and a spread of older ones. */
    for (long k = s->max_key; k >= 0; k--) {
        if (s->acked[k] == 0)
            continue;
        if (!deep && sampled >= 60 && k % 37 != 0)
            continue;
        assert_true(crash_stored_run(c, k) >= s->acked[k]);
        sampled++;
    }
    crash_check_frontier(c);
    if (deep)
        crash_check_once(c, s);
    catalog_close(c);
}

/* Start the child: this program again, fresh (a fork of a large test
 * process is slow under sanitizers), writing to fds[1]. */
static pid_t crash_spawn(const char *db, const int fds[2])
{
    posix_spawn_file_actions_t fa;
    char fd[16];
    char *argv[] = {(char *)"test_catalog_crash", (char *)"--child", (char *)db, fd, NULL};
    pid_t pid;

    snprintf(fd, sizeof(fd), "%d", fds[1]);
    assert_int_equal(posix_spawn_file_actions_init(&fa), 0);
    assert_int_equal(posix_spawn_file_actions_addclose(&fa, fds[0]), 0);
    assert_int_equal(posix_spawn(&pid, "/proc/self/exe", &fa, NULL, argv, environ), 0);
    posix_spawn_file_actions_destroy(&fa);
    return pid;
}

static void test_sigkill_cycles(void **state)
{
    struct crash s = {0};
    const char *env = getenv("PROVD_CRASH_CYCLES");
    int cycles = env ? atoi(env) : 200;
    unsigned seed = (unsigned)time(NULL);
    long killed_in_batch = 0, delay_max = CRASH_DELAY_MAX;

    (void)state;
    if (getenv("PROVD_CRASH_DELAY_MAX"))
        delay_max = atol(getenv("PROVD_CRASH_DELAY_MAX"));
    if (getenv("PROVD_CRASH_SEED"))
        seed = (unsigned)strtoul(getenv("PROVD_CRASH_SEED"), NULL, 10);
    srandom(seed);
    s.dir = fx_tmpdir();
    s.db = fx_path(s.dir, "crash.db");
    s.acked = xcalloc(CRASH_MAX_KEYS, sizeof(*s.acked));
    for (int cycle = 0; cycle < cycles; cycle++) {
        int fds[2], status;
        long before = s.n_acked_batches;
        struct strbuf acks = STRBUF_INIT;
        pid_t pid;

        assert_int_equal(pipe(fds), 0);
        pid = crash_spawn(s.db, fds);
        close(fds[1]);
        /* One kill in four lands anywhere from the start (open, WAL
         * recovery, run set-up); the others once writing is under way. */
        if (cycle % 4 != 0)
            crash_wait_first(fds[0], &acks);
        usleep((useconds_t)(random() % delay_max));
        kill(pid, SIGKILL);
        assert_int_equal(waitpid(pid, &status, 0), pid);
        if (!WIFSIGNALED(status))
            fprintf(stderr, "cycle %d (seed %u): child exited with %d\n", cycle, seed,
                    WEXITSTATUS(status));
        assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
        crash_read_acks(&s, fds[0], &acks);
        strbuf_release(&acks);
        close(fds[0]);
        if (s.n_acked_batches > before)
            killed_in_batch++;
        crash_check(&s, cycle, cycles);
    }
    printf("crash: %d SIGKILL cycles (seed %u), %ld acknowledged batches, %ld keys,"
           " %ld cycles acknowledged something\n",
           cycles, seed, s.n_acked_batches, s.max_key + 1, killed_in_batch);
    /* The kills must land while batches are being written, or the test
     * proves nothing. */
    assert_true(killed_in_batch >= cycles / 2);
    free(s.acked);
    fx_rmtree(s.dir);
    free(s.db);
    free(s.dir);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sigkill_cycles),
    };

    if (argc == 4 && strcmp(argv[1], "--child") == 0) {
        child_main(argv[2], atoi(argv[3]));
        return 5;
    }

    return cmocka_run_group_tests(tests, NULL, NULL);
}
