/*
 * test_faults: the fault rows of RELIABILITY.md that no other program
 * proves — allocation failures inside libxml2 while a page is extracted
 * (H15) and inside SQLite across a catalog scenario (P6), system call
 * faults injected into a running provd with strace (P7), a missing or
 * unwritable state directory (K1), a catalog on tmpfs or behind a
 * symbolic link (K3), and a log target that takes nothing (K4).
 *
 * Each row is one cmocka test that prints its figure (print_message,
 * starting with the row id). The program's last lines on stdout are one
 * "ROW <id> <PASS|FAIL> <figure>" line per row, for the long suite's
 * runner. PROVD_LONG=1 widens the sweeps (every libxml2 allocation of
 * the smallest fixture page and every 37th of the others, every SQLite
 * allocation of the catalog scenario, 24 openat fault points, 40 runs
 * with the log target full) and makes the exit status fail when any row
 * did not pass. Without it the program takes about 35 s of CPU in the
 * sanitizer build. PROVD_FAULTS_ONLY='test_k4*' runs one row.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "catalog.h"
#include "catalog_fixture.h"
#include "daemon_http.h"
#include "daemon_proc.h"
#include "harvest.h"
#include "harvest_world.h"
#include "record_json.h"
#include "strbuf.h"
#include "xmalloc.h"

#include <dirent.h>
#include <dlfcn.h>
#include <ucontext.h>
#include <errno.h>
#include <fcntl.h>
#include <libxml/globals.h>
#include <libxml/xmlerror.h>
#include <libxml/xmlmemory.h>
#include <limits.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef SOURCE_ROOT
#define SOURCE_ROOT "."
#endif

#if defined(__SANITIZE_ADDRESS__)
#define TF_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TF_SANITIZED 1
#endif
#endif
/* "Daemon up": a health query answers within this; sanitizer builds run
 * provd several times slower. */
#ifdef TF_SANITIZED
#define TF_HEALTH_MS 200.0
#else
#define TF_HEALTH_MS 100.0
#endif

#define TF_TMPFS_MAGIC 0x01021994l

static bool tf_long;

/* ---- the ROW lines --------------------------------------------------- */

enum { ROW_H15, ROW_P6, ROW_P7, ROW_K1, ROW_K3, ROW_K4, ROW_N };

static struct tf_row {
    const char *id;
    bool ran, pass;
    char figure[800];
} tf_rows[ROW_N] = {{.id = "H15"}, {.id = "P6"}, {.id = "P7"},
                    {.id = "K1"},  {.id = "K3"}, {.id = "K4"}};

/* Record row's figure (also printed at once, starting with its id). */
static void tf_figure(int row, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void tf_figure(int row, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(tf_rows[row].figure, sizeof(tf_rows[row].figure), fmt, ap);
    va_end(ap);
    print_message("%s %s\n", tf_rows[row].id, tf_rows[row].figure);
}

static const char *tf_source_root(void)
{
    const char *s = getenv("PROVD_SOURCE_ROOT");

    return s && *s ? s : SOURCE_ROOT;
}

/* ---- allocator hooks --------------------------------------------------- */

/* One counter per library: when armed, allocation number fail_at (1-based)
 * of that library fails, once; hit tells whether it happened. */
struct tf_fail {
    bool armed;
    unsigned long count, fail_at;
    bool hit;
};

static struct tf_fail tf_xml, tf_sql;

static bool tf_fail_now(struct tf_fail *f)
{
    if (!f->armed)
        return false;
    if (++f->count != f->fail_at)
        return false;
    f->hit = true;
    return true;
}

static void tf_arm(struct tf_fail *f, unsigned long fail_at)
{
    f->count = 0;
    f->fail_at = fail_at;
    f->hit = false;
    f->armed = true;
}

/* Every block libxml2 holds, with the run that allocated it (0: outside
 * the runs), in an open-addressing table: what a run leaves behind is
 * found, counted and freed here. libxml2 2.9.14 itself leaks on some of
 * its allocation-failure paths (a half-built parser context, for one);
 * those are counted in H15's figure instead of failing the sanitizer
 * build, while a run without a failure must leave nothing. */
#define TF_TRACK_SIZE (1u << 18)

static struct tf_block {
    void *p;
    size_t size;
    unsigned long run;
} * tf_blocks;
static unsigned long tf_run_id;

static size_t tf_track_slot(const void *p)
{
    return (size_t)(((uintptr_t)p >> 4) * 0x9e3779b97f4a7c15ull >> 46) & (TF_TRACK_SIZE - 1);
}

static void tf_track_put(void *p, size_t size, unsigned long run)
{
    size_t i = tf_track_slot(p);

    while (tf_blocks[i].p != NULL)
        i = (i + 1) & (TF_TRACK_SIZE - 1);
    tf_blocks[i] = (struct tf_block){p, size, run};
}

static void tf_track_add(void *p, size_t size)
{
    if (p != NULL)
        tf_track_put(p, size, tf_run_id);
}

/* Remove p; the rest of its cluster is put in again (linear probing). */
static void tf_track_del(const void *p)
{
    size_t i = tf_track_slot(p);

    if (p == NULL)
        return;
    while (tf_blocks[i].p != p) {
        if (tf_blocks[i].p == NULL)
            return; /* allocated before the hooks */
        i = (i + 1) & (TF_TRACK_SIZE - 1);
    }
    tf_blocks[i].p = NULL;
    for (i = (i + 1) & (TF_TRACK_SIZE - 1); tf_blocks[i].p != NULL;
         i = (i + 1) & (TF_TRACK_SIZE - 1)) {
        struct tf_block b = tf_blocks[i];

        tf_blocks[i].p = NULL;
        tf_track_put(b.p, b.size, b.run);
    }
}

/* Blocks run left behind: counted, their bytes added to *bytes, freed. */
static unsigned long tf_track_sweep(unsigned long run, size_t *bytes)
{
    unsigned long n = 0;
    bool again = true;

    /* Removing a block moves others of its cluster: scan until clean. */
    while (again) {
        again = false;
        for (size_t i = 0; i < TF_TRACK_SIZE; i++) {
            if (tf_blocks[i].p != NULL && tf_blocks[i].run == run) {
                void *p = tf_blocks[i].p;

                *bytes += tf_blocks[i].size;
                n++;
                tf_track_del(p);
                free(p);
                again = true;
            }
        }
    }
    return n;
}

static void *tf_xml_malloc(size_t n)
{
    void *p = tf_fail_now(&tf_xml) ? NULL : malloc(n);

    tf_track_add(p, n);
    return p;
}

static void *tf_xml_realloc(void *p, size_t n)
{
    void *q;

    if (tf_fail_now(&tf_xml))
        return NULL;
    tf_track_del(p);
    q = realloc(p, n);
    tf_track_add(q != NULL ? q : p, n); /* a real failure keeps p */
    return q;
}

static char *tf_xml_strdup(const char *s)
{
    char *p = tf_fail_now(&tf_xml) ? NULL : strdup(s);

    tf_track_add(p, p ? strlen(p) + 1 : 0);
    return p;
}

static void tf_xml_free(void *p)
{
    tf_track_del(p);
    free(p);
}

static sqlite3_mem_methods tf_sql_orig;

static void *tf_sql_malloc(int n)
{
    return tf_fail_now(&tf_sql) ? NULL : tf_sql_orig.xMalloc(n);
}

static void *tf_sql_realloc(void *p, int n)
{
    return tf_fail_now(&tf_sql) ? NULL : tf_sql_orig.xRealloc(p, n);
}

/* ---- H15: malloc failure during parse and extraction ------------------- */

struct tf_page {
    char *name;
    char *html;
    size_t len;
    char *ref; /* the record as JSON, extracted without faults */
};

static size_t tf_pages_load(struct tf_page **out)
{
    char *dir = xasprintf("%s/tests/data/pages", tf_source_root());
    struct dirent **list;
    struct tf_page *v = NULL;
    size_t n = 0;
    int k = scandir(dir, &list, NULL, alphasort);

    assert_true(k > 0);
    for (int i = 0; i < k; i++) {
        size_t l = strlen(list[i]->d_name);

        if (l > 5 && strcmp(list[i]->d_name + l - 5, ".html") == 0) {
            char *path = xasprintf("%s/%s", dir, list[i]->d_name);

            v = xreallocarray(v, n + 1, sizeof(*v));
            v[n].name = xstrdup(list[i]->d_name);
            v[n].html = daemon_proc_read(path, &v[n].len);
            v[n].ref = NULL;
            assert_non_null(v[n].html);
            free(path);
            n++;
        }
        free(list[i]);
    }
    free(list);
    free(dir);
    *out = v;
    return n;
}

/* Outcomes of the runs in which the failure happened. */
struct tf_h15_tally {
    unsigned long runs, hits, errors, partial, same, loops, lib_crashes, leaky_runs, leaked_blocks;
    size_t leaked_bytes;
    unsigned long by_cat[PROV_CATEGORY_MAX];
};

/* The regular suite's sampling of allocations (see the test); each point
 * forks a probe, slow for a sanitized process with a large heap. */
#ifdef TF_SANITIZED
#define TF_H15_FIRST  20
#define TF_H15_POINTS 30
#else
#define TF_H15_FIRST  40
#define TF_H15_POINTS 100
#endif

/* CPU time a probe may take: a page takes a few ms (tens under ASan). */
#ifdef TF_SANITIZED
#define TF_PROBE_CPU_US 600000
#else
#define TF_PROBE_CPU_US 250000
#endif

/* The probe's exit status when it crashed inside libxml2 itself. */
#define TF_H15_LIB_CRASH 3

/* SIGSEGV/SIGBUS in a probe: a fault whose instruction lies in libxml2
 * ends the probe with TF_H15_LIB_CRASH; any other dies of the signal. */
static void tf_h15_fault(int sig, siginfo_t *si, void *ucv)
{
#if defined(__x86_64__)
    const ucontext_t *uc = ucv;
    Dl_info info;

    if (dladdr((void *)uc->uc_mcontext.gregs[REG_RIP], &info) && info.dli_fname &&
        strstr(info.dli_fname, "libxml2"))
        _exit(TF_H15_LIB_CRASH);
#endif
    (void)si;
    (void)ucv;
    signal(sig, SIG_DFL);
    raise(sig);
}

/* Does extracting pg with allocation fail_at failing finish? libxml2
 * 2.9.14's HTML parser can spin for ever after some failed allocations
 * (inside htmlParseDocument, no allocation, callback or error after the
 * first): in provd the extraction helpers' CPU budget ends that
 * (PARSE_TIMEOUT). A child process tries first, under a CPU timer, so the
 * test can tell. */
static bool tf_h15_finishes(const struct profile *prof, const struct tf_page *pg,
                            unsigned long fail_at, bool *lib_crash)
{
    pid_t pid = fork();
    int st = 0;

    assert_true(pid >= 0);
    if (pid == 0) {
        struct itimerval it = {.it_value = {0, TF_PROBE_CPU_US}};
        struct extract_result res = {0};

        /* A crash must end this child, not return into cmocka's runner
         * (which would go on with the next tests here). */
        struct sigaction sa = {.sa_sigaction = tf_h15_fault, .sa_flags = SA_SIGINFO};

        sigaction(SIGSEGV, &sa, NULL);
        sigaction(SIGBUS, &sa, NULL);
        signal(SIGILL, SIG_DFL);
        signal(SIGFPE, SIG_DFL);
        signal(SIGABRT, SIG_DFL);
        signal(SIGPROF, SIG_DFL);
        setitimer(ITIMER_PROF, &it, NULL);
        alarm(20);
        tf_arm(&tf_xml, fail_at);
        extract_page(prof, pg->html, pg->len, "https://archive.test/page", NULL, &res);
        _exit(0);
    }
    /* The child ends by itself: its CPU timer, or alarm() at worst. */
    while (waitpid(pid, &st, 0) < 0)
        assert_int_equal(errno, EINTR);
    if (WIFSIGNALED(st) && WTERMSIG(st) == SIGPROF)
        return false;
    if (WIFEXITED(st) && WEXITSTATUS(st) == TF_H15_LIB_CRASH) {
        /* libxml2 2.9.14 dereferences NULL on some of its own
         * out-of-memory paths (XPath evaluation, the HTML parser). In
         * provd that ends an extraction helper, which is replaced, and
         * the page is reported failed (test_worker); counted, not run. */
        *lib_crash = true;
        return false;
    }
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        fail_msg("%s: N=%lu: extraction crashed (wait status %#x)", pg->name, fail_at, st);
    return true;
}

/* What libxml2 still holds of run fail_at once everything of ours is
 * freed: nothing unless an allocation failed (then counted and freed). */
static void tf_h15_leftovers(const struct tf_page *pg, unsigned long fail_at, bool hit,
                             struct tf_h15_tally *t)
{
    size_t bytes = 0;
    unsigned long n;

    /* The last error's strings belong to libxml2's global state. */
    xmlResetLastError();
    n = tf_track_sweep(fail_at, &bytes);
    tf_run_id = 0;
    if (n > 0 && !hit)
        fail_msg("%s: a run without a failure left %lu libxml2 blocks (%zu bytes)", pg->name, n,
                 bytes);
    if (n > 0) {
        t->leaky_runs++;
        t->leaked_blocks += n;
        t->leaked_bytes += bytes;
    }
}

/* Extract pg with allocation fail_at failing; check the outcome. Returns
 * true when the failure happened. */
static bool tf_h15_run(const struct profile *prof, const struct tf_page *pg, unsigned long fail_at,
                       struct tf_h15_tally *t)
{
    struct extract_result res = {0};
    char *got = NULL;
    int rc;

    bool lib_crash = false;

    if (!tf_h15_finishes(prof, pg, fail_at, &lib_crash)) {
        t->runs++;
        t->hits++;
        if (lib_crash)
            t->lib_crashes++;
        else
            t->loops++;
        return true;
    }
    tf_run_id = fail_at;
    tf_arm(&tf_xml, fail_at);
    rc = extract_page(prof, pg->html, pg->len, "https://archive.test/page", NULL, &res);
    tf_xml.armed = false;
    t->runs++;
    if (rc == 0)
        got = record_to_json_line(res.record, RECORD_JSON_TEXT);
    if (!tf_xml.hit) {
        /* Nothing failed: the reference record, whole. */
        if (rc != 0 || res.category != PROV_OK || strcmp(got, pg->ref) != 0)
            fail_msg("%s: run without a failure (N=%lu) differs: rc %d %s", pg->name, fail_at, rc,
                     prov_category_name(res.category));
        free(got);
        extract_result_clear(&res);
        tf_h15_leftovers(pg, fail_at, false, t);
        return false;
    }
    t->hits++;
    if (rc < 0) {
        if (res.record != NULL || res.category == PROV_OK || res.reason[0] == '\0')
            fail_msg("%s: N=%lu: error %d without a clear category and reason, or with a record",
                     pg->name, fail_at, rc);
        t->errors++;
        t->by_cat[res.category]++;
    } else if (res.category == PROV_PARSE_PARTIAL) {
        if (!res.record->partial)
            fail_msg("%s: N=%lu: PARSE_PARTIAL without record->partial", pg->name, fail_at);
        t->partial++;
    } else {
        /* Claimed complete: it must be the record itself, not a record
         * with fields lost to the failed allocation. */
        if (res.category != PROV_OK || res.record->partial || strcmp(got, pg->ref) != 0)
            fail_msg("%s: N=%lu: a record claimed complete differs from the reference:\n%s\n%s",
                     pg->name, fail_at, got, pg->ref);
        t->same++;
    }
    free(got);
    extract_result_clear(&res);
    tf_h15_leftovers(pg, fail_at, true, t);
    return true;
}

/* Allocations libxml2 makes while pg is extracted. */
static unsigned long tf_h15_count(const struct profile *prof, const struct tf_page *pg)
{
    struct extract_result res = {0};

    tf_arm(&tf_xml, ULONG_MAX);
    assert_int_equal(extract_page(prof, pg->html, pg->len, "https://archive.test/page", NULL, &res),
                     0);
    tf_xml.armed = false;
    extract_result_clear(&res);
    return tf_xml.count;
}

static void test_h15_malloc_failure_in_extract(void **state)
{
    const struct profile *prof = profile_builtin("wilson");
    struct tf_h15_tally t = {0};
    struct tf_page *pages;
    size_t n = tf_pages_load(&pages), smallest = 0, largest = 0, swept = 0;
    unsigned long most = 0;
    struct strbuf cats = STRBUF_INIT, how = STRBUF_INIT;

    (void)state;
    tf_rows[ROW_H15].ran = true;
    assert_non_null(prof);
    for (size_t i = 0; i < n; i++) {
        struct extract_result res = {0};

        assert_int_equal(extract_page(prof, pages[i].html, pages[i].len,
                                      "https://archive.test/page", NULL, &res),
                         0);
        pages[i].ref = record_to_json_line(res.record, RECORD_JSON_TEXT);
        extract_result_clear(&res);
        if (pages[i].len < pages[smallest].len)
            smallest = i;
        if (pages[i].len > pages[largest].len)
            largest = i;
    }
    /* Long suite: every allocation of the smallest page, every 37th of
     * the others. Regular suite: the smallest and the largest page, the
     * first TF_H15_FIRST allocations each, then TF_H15_POINTS points spread
     * over the rest; the last point always lies past the end, so each
     * sweep ends with a run the failure did not reach. */
    for (size_t i = 0; i < n; i++) {
        unsigned long total, step, fail_at;

        if (!tf_long && i != smallest && i != largest)
            continue;
        total = tf_h15_count(prof, &pages[i]);
        if (total > most)
            most = total;
        step = tf_long ? (i == smallest ? 1 : 37) : (total + TF_H15_POINTS - 1) / TF_H15_POINTS;
        for (fail_at = 1;; fail_at += fail_at < TF_H15_FIRST ? 1 : step) {
            bool hit = tf_h15_run(prof, &pages[i], fail_at, &t);

            if (!hit)
                break;
            if (fail_at > total)
                fail_msg("%s: allocation %lu failed though the page makes %lu", pages[i].name,
                         fail_at, total);
        }
        strbuf_addf(&how, "%s%s (%lu allocations, step %lu)", how.len ? ", " : "", pages[i].name,
                    total, step);
        swept++;
    }
    for (int c = 0; c < PROV_CATEGORY_MAX; c++)
        if (t.by_cat[c])
            strbuf_addf(&cats, "%s%s %lu", cats.len ? ", " : "",
                        prov_category_name((enum prov_category)c), t.by_cat[c]);
    tf_figure(ROW_H15,
              "%zu pages swept from N=1 to past the last libxml2 allocation (%s): %lu failed "
              "allocations: error returned %lu (%s), flagged partial %lu, absorbed with the "
              "identical record %lu, libxml2 2.9.14 loops (helper CPU budget) %lu, libxml2 "
              "2.9.14 crashes inside itself (helper replaced) %lu; wrong complete record 0, "
              "crash in provd's code 0; blocks libxml2 itself leaked on its failure paths: "
              "%lu in %lu runs (%zu bytes), after runs without a failure: 0",
              swept, strbuf_str(&how), t.hits, t.errors, cats.len ? strbuf_str(&cats) : "none",
              t.partial, t.same, t.loops, t.lib_crashes, t.leaked_blocks, t.leaky_runs,
              t.leaked_bytes);
    assert_true(t.hits > 0);
    strbuf_release(&cats);
    strbuf_release(&how);
    for (size_t i = 0; i < n; i++) {
        free(pages[i].name);
        free(pages[i].html);
        free(pages[i].ref);
    }
    free(pages);
    tf_rows[ROW_H15].pass = true;
}

/* ---- P6: SQLite allocation failures across a catalog scenario ---------- */

#define TF_P6_RECORDS 3

static int64_t tf_p6_now = 1700000000;

/* A directory on tmpfs when there is one (the sweep opens a catalog
 * thousands of times; fsync there costs nothing), else $TMPDIR. */
static char *tf_fast_tmpdir(const char *prefix)
{
    struct statfs fs;

    if (statfs("/dev/shm", &fs) == 0 && (long)fs.f_type == TF_TMPFS_MAGIC &&
        access("/dev/shm", W_OK) == 0) {
        char *t = xasprintf("/dev/shm/%s-XXXXXX", prefix);

        if (mkdtemp(t) != NULL)
            return t;
        free(t);
    }
    return daemon_proc_tmpdir(prefix);
}

struct tf_p6_tally {
    unsigned long runs, hits, failed_calls, acked, by_cat[PROV_CATEGORY_MAX];
};

/* A failed catalog call must say what and why. */
static void tf_p6_failed(struct catalog *c, int rc, const char *what, unsigned long fail_at,
                         struct tf_p6_tally *t)
{
    enum prov_category cat = catalog_category(c);

    if (rc >= 0)
        return;
    if (cat == PROV_OK || catalog_errmsg(c)[0] == '\0')
        fail_msg("P6 N=%lu: %s failed (%d) without a category or message", fail_at, what, rc);
    if (cat == PROV_DB_CORRUPT)
        fail_msg("P6 N=%lu: %s: an allocation failure reported as DB_CORRUPT: %s", fail_at, what,
                 catalog_errmsg(c));
    t->failed_calls++;
    t->by_cat[cat]++;
}

/* The scenario with SQLite's allocation fail_at failing: open (creating
 * the schema), upsert records, search, export, close. Then, with no
 * faults, reopen: integrity_check passes and every acknowledged record is
 * there, whole. Returns true when the failure happened. */
static bool tf_p6_run(const char *dir, unsigned long fail_at, struct tf_p6_tally *t)
{
    struct catalog_options o = {.clock = fx_clock, .clock_data = &tf_p6_now};
    char *path = fx_path(dir, "catalog.db");
    bool acked[TF_P6_RECORDS] = {false};
    struct catalog *c = NULL;
    char id[32], title[64];
    int rc;

    fx_rmtree(dir);
    assert_int_equal(mkdir(dir, 0700), 0);
    tf_arm(&tf_sql, fail_at);
    rc = catalog_open(path, &o, &c);
    tf_p6_failed(c, rc, "open", fail_at, t);
    if (rc == 0) {
        struct catalog_results res = {0};
        struct strbuf out = STRBUF_INIT;

        for (int i = 0; i < TF_P6_RECORDS; i++) {
            struct record *r;
            struct catalog_page pg;
            char url[80];

            snprintf(id, sizeof(id), "P6-%d", i);
            snprintf(title, sizeof(title), "Memorandum number %d", i);
            snprintf(url, sizeof(url), "https://archive.test/document/P6-%d", i);
            r = fx_record(id, title);
            fx_cite(r, "RGASPI", "17", "3", NULL, "1045", "12-14");
            pg = fx_page(url, 0);
            rc = catalog_upsert(c, &pg, r, NULL);
            tf_p6_failed(c, rc, "upsert", fail_at, t);
            acked[i] = rc == 0;
            record_free(r);
        }
        rc = catalog_search(c, NULL, 50, NULL, &res);
        tf_p6_failed(c, rc, "search", fail_at, t);
        catalog_results_clear(&res);
        rc = catalog_export(c, NULL, CATALOG_FORMAT_JSONL, fx_write_buf, &out);
        tf_p6_failed(c, rc, "export", fail_at, t);
        strbuf_release(&out);
    }
    catalog_close(c);
    tf_sql.armed = false;
    t->runs++;

    /* The aftermath, with no faults. */
    c = NULL;
    rc = catalog_open(path, &o, &c);
    if (rc < 0)
        fail_msg("P6 N=%lu: the catalog does not open afterwards: %s: %s", fail_at,
                 prov_category_name(catalog_category(c)), catalog_errmsg(c));
    if (catalog_check(c, true) < 0)
        fail_msg("P6 N=%lu: integrity check failed: %s", fail_at, catalog_errmsg(c));
    for (int i = 0; i < TF_P6_RECORDS; i++) {
        struct catalog_detail d = {0};

        snprintf(id, sizeof(id), "P6-%d", i);
        snprintf(title, sizeof(title), "Memorandum number %d", i);
        rc = catalog_show(c, "test", id, &d);
        if (acked[i] && rc < 0)
            fail_msg("P6 N=%lu: acknowledged record %s lost: %s", fail_at, id, catalog_errmsg(c));
        if (rc == 0 &&
            (d.item.record == NULL || d.item.record->title == NULL ||
             strcmp(d.item.record->title, title) != 0 || d.item.record->n_citations != 1))
            fail_msg("P6 N=%lu: record %s stored but not whole", fail_at, id);
        t->acked += acked[i];
        catalog_detail_clear(&d);
    }
    catalog_close(c);
    free(path);
    if (tf_sql.hit)
        t->hits++;
    return tf_sql.hit;
}

static void test_p6_malloc_failure_sweep(void **state)
{
    struct tf_p6_tally t = {0};
    char *dir = tf_fast_tmpdir("provd-p6");
    char *db = fx_path(dir, "s");
    unsigned long total, step, fail_at, last = 0;
    struct strbuf cats = STRBUF_INIT;
    sqlite3_mem_methods m;

    (void)state;
    tf_rows[ROW_P6].ran = true;
    assert_non_null(dir);
    /* Our allocator goes in while SQLite is shut down. */
    assert_int_equal(sqlite3_shutdown(), SQLITE_OK);
    assert_int_equal(sqlite3_config(SQLITE_CONFIG_GETMALLOC, &tf_sql_orig), SQLITE_OK);
    m = tf_sql_orig;
    m.xMalloc = tf_sql_malloc;
    m.xRealloc = tf_sql_realloc;
    assert_int_equal(sqlite3_config(SQLITE_CONFIG_MALLOC, &m), SQLITE_OK);
    assert_int_equal(sqlite3_initialize(), SQLITE_OK);

    /* How many allocations the whole scenario makes. */
    assert_false(tf_p6_run(db, ULONG_MAX, &t));
    total = tf_sql.count;
    assert_true(total > 0);
    memset(&t, 0, sizeof(t));
    step = tf_long ? 1 : (total + 299) / 300;
    for (fail_at = 1;; fail_at += step) {
        bool hit = tf_p6_run(db, fail_at, &t);

        if (!hit && fail_at > total)
            break;
        last = fail_at;
    }
    for (int c = 0; c < PROV_CATEGORY_MAX; c++)
        if (t.by_cat[c])
            strbuf_addf(&cats, "%s%s %lu", cats.len ? ", " : "", prov_category_name(c),
                        t.by_cat[c]);
    tf_figure(ROW_P6,
              "scenario of %lu SQLite allocations swept N=1..%lu step %lu: %lu runs, %lu "
              "failed allocations, %lu failed calls (%s), integrity_check ok %lu/%lu, "
              "acknowledged records %lu, lost 0, crash 0",
              total, last, step, t.runs, t.hits, t.failed_calls,
              cats.len ? strbuf_str(&cats) : "none", t.runs, t.runs, t.acked);
    assert_true(t.hits > 0);
    strbuf_release(&cats);

    assert_int_equal(sqlite3_shutdown(), SQLITE_OK);
    assert_int_equal(sqlite3_config(SQLITE_CONFIG_MALLOC, &tf_sql_orig), SQLITE_OK);
    assert_int_equal(sqlite3_initialize(), SQLITE_OK);
    fx_rmtree(dir);
    free(db);
    free(dir);
    tf_rows[ROW_P6].pass = true;
}

/* ---- a provd under test ------------------------------------------------ */

struct tf_d {
    char *dir, *conf, *sock, *db, *log;
    pid_t pid; /* provd */
    struct daemon_notify nt;
    unsigned port; /* fakesite's, when the test has one */
};

static const char *tf_provd(void)
{
    return daemon_proc_program("PROVD_BIN", "daemon/provd");
}

static void tf_write(const char *path, const char *text)
{
    assert_int_equal(daemon_proc_write(path, text, strlen(text)), 0);
}

static void tf_d_init(struct tf_d *d, const char *prefix)
{
    memset(d, 0, sizeof(*d));
    d->nt.fd = -1;
    d->pid = -1;
    d->dir = daemon_proc_tmpdir(prefix);
    assert_non_null(d->dir);
    d->conf = xasprintf("%s/provd.conf", d->dir);
    d->sock = xasprintf("%s/provd.sock", d->dir);
    d->db = xasprintf("%s/catalog.db", d->dir);
    d->log = xasprintf("%s/provd.log", d->dir);
}

/* [provd] with d's paths, extra lines, then sources (both may be NULL). */
static void tf_d_config(struct tf_d *d, const char *extra, const char *sources)
{
    char *allow = d->port ? xasprintf("allow-addresses = 127.0.0.1:%u\n", d->port) : xstrdup("");
    char *text = xasprintf("[provd]\ndatabase = %s\nsocket = %s\n%slog-level = info\n"
                           "manual-cooldown = 0\n%s\n%s",
                           d->db, d->sock, allow, extra ? extra : "", sources ? sources : "");

    tf_write(d->conf, text);
    free(text);
    free(allow);
}

/* Start provd on d's configuration, stdout and stderr to log (NULL:
 * d->log); wait for READY=1. */
static void tf_d_start(struct tf_d *d, const char *log)
{
    char *nsock = xasprintf("%s/notify.sock", d->dir);
    char *env_notify = xasprintf("NOTIFY_SOCKET=%s", nsock);
    const char *env[] = {env_notify,   "WATCHDOG_USEC", "WATCHDOG_PID",
                         "LISTEN_FDS", "LISTEN_PID",    NULL};
    struct daemon_proc_opts o = {.env = env, .log = log ? log : d->log, .uid = -1};
    const char *argv[] = {tf_provd(), "-c", d->conf, NULL};

    if (d->nt.fd < 0)
        assert_int_equal(daemon_notify_open(&d->nt, nsock), 0);
    d->pid = daemon_proc_spawn(argv, &o);
    assert_true(d->pid > 0);
    if (!daemon_notify_wait(&d->nt, "READY=1", 30000)) {
        char *text = daemon_proc_read(d->log, NULL);

        fail_msg("provd did not say READY=1; its log:\n%s", text ? text : "(none)");
    }
    free(env_notify);
    free(nsock);
}

/* SIGTERM provd and wait for the child we spawned: its wait status, or -1
 * when it had to be killed. */
static int tf_d_stop(struct tf_d *d)
{
    int st = -1;

    if (d->pid <= 0)
        return -1;
    kill(d->pid, SIGTERM);
    if (daemon_proc_wait(d->pid, 15000, &st) < 0) {
        daemon_proc_kill(d->pid);
        st = -1;
    }
    d->pid = -1;
    return st;
}

static void tf_d_free(struct tf_d *d)
{
    if (d->pid > 0)
        daemon_proc_kill(d->pid);
    if (d->nt.fd >= 0)
        daemon_notify_close(&d->nt);
    if (d->dir)
        daemon_proc_rmtree(d->dir);
    free(d->dir);
    free(d->conf);
    free(d->sock);
    free(d->db);
    free(d->log);
    memset(d, 0, sizeof(*d));
}

/* One GET /v1/status: its time in ms, or -1 when no 200 came within
 * timeout_ms. */
static double tf_health(const struct tf_d *d, int timeout_ms)
{
    struct daemon_http_reply r;
    int rc = daemon_http_request(d->sock, "GET", "/v1/status", NULL, timeout_ms, &r);
    double ms = rc == 0 && r.status == 200 ? r.ms : -1;

    daemon_http_reply_clear(&r);
    return ms;
}

/* Health query times. */
struct tf_lat {
    double v[4096];
    size_t n;
};

static void tf_lat_add(struct tf_lat *l, double ms)
{
    if (l->n < sizeof(l->v) / sizeof(l->v[0]))
        l->v[l->n++] = ms;
}

static int tf_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

/* The q-quantile (0..1) of l; sorts l. */
static double tf_lat_q(struct tf_lat *l, double q)
{
    if (l->n == 0)
        return 0;
    qsort(l->v, l->n, sizeof(l->v[0]), tf_cmp_double);
    return l->v[(size_t)(q * (double)(l->n - 1) + 0.5)];
}

/* Start a run of source and wait for its end: "done" or "failed", or
 * NULL when it did not end within timeout_ms (or could not start). While
 * waiting, health queries every 50 ms, their times added to lat. */
static const char *tf_run(const struct tf_d *d, const char *source, int timeout_ms,
                          struct tf_lat *lat)
{
    char target[128];
    struct daemon_http_reply r;
    json_t *o;
    long long id;
    int rc;

    snprintf(target, sizeof(target), "/v1/harvest?source=%s", source);
    rc = daemon_http_request(d->sock, "POST", target, NULL, 5000, &r);
    if (rc < 0 || r.status != 202) {
        daemon_http_reply_clear(&r);
        return NULL;
    }
    o = json_loadb(r.body, r.body_len, 0, NULL);
    id = json_integer_value(json_object_get(o, "run_id"));
    json_decref(o);
    daemon_http_reply_clear(&r);
    snprintf(target, sizeof(target), "/v1/runs/%lld", id);
    for (double t0 = daemon_http_now_ms(); daemon_http_now_ms() - t0 < timeout_ms;) {
        const char *st;
        double ms = tf_health(d, 2000);

        tf_lat_add(lat, ms < 0 ? 1e9 : ms);
        if (daemon_http_request(d->sock, "GET", target, NULL, 5000, &r) == 0 && r.status == 200) {
            o = json_loadb(r.body, r.body_len, 0, NULL);
            st = json_string_value(json_object_get(o, "state"));
            st = st == NULL                  ? NULL
                 : strcmp(st, "done") == 0   ? "done"
                 : strcmp(st, "failed") == 0 ? "failed"
                                             : NULL;
            json_decref(o);
            if (st) {
                daemon_http_reply_clear(&r);
                return st;
            }
        }
        daemon_http_reply_clear(&r);
        daemon_proc_sleep_ms(50);
    }
    return NULL;
}

/* A fakesite serving the fixture pages under /p/ in dir/site; the urls
 * file dir/NAME.urls lists them and n_missing pages that do not exist. */
static void tf_site(struct hw_site *s, const char *dir, const char *urls_name, int n_missing)
{
    char *root = xasprintf("%s/site", dir), *pages = xasprintf("%s/site/p", dir);
    char *src = xasprintf("%s/tests/data/pages", tf_source_root());
    char *urls = xasprintf("%s/%s.urls", dir, urls_name);
    struct strbuf b = STRBUF_INIT;
    struct dirent **list;
    int k = scandir(src, &list, NULL, alphasort);

    assert_true(k > 0);
    mkdir(root, 0755);
    mkdir(pages, 0755);
    assert_int_equal(hw_site_start(s,
                                   daemon_proc_program("PROVD_FAKESITE", "tests/fakesite/fakesite"),
                                   dir, "fakesite", root, NULL),
                     0);
    for (int i = 0; i < k; i++) {
        size_t l = strlen(list[i]->d_name), len;

        if (l > 5 && strcmp(list[i]->d_name + l - 5, ".html") == 0) {
            char *from = xasprintf("%s/%s", src, list[i]->d_name);
            char *to = xasprintf("%s/%s", pages, list[i]->d_name);
            char *text = daemon_proc_read(from, &len);

            assert_non_null(text);
            assert_int_equal(daemon_proc_write(to, text, len), 0);
            strbuf_addf(&b, "http://127.0.0.1:%u/p/%s\n", s->port, list[i]->d_name);
            free(text);
            free(from);
            free(to);
        }
        free(list[i]);
    }
    free(list);
    for (int i = 0; i < n_missing; i++)
        strbuf_addf(&b, "http://127.0.0.1:%u/missing/%0200d-%d.html\n", s->port, 0, i);
    tf_write(urls, strbuf_str(&b));
    strbuf_release(&b);
    free(urls);
    free(src);
    free(pages);
    free(root);
}

/* ---- P7: system call faults (strace) ----------------------------------- */

static const char *tf_strace(void)
{
    static char found[256];
    const char *path = getenv("PATH");

    if (found[0])
        return found;
    for (const char *p = path ? path : "/usr/bin:/bin"; p && *p;) {
        const char *colon = strchr(p, ':');
        size_t n = colon ? (size_t)(colon - p) : strlen(p);

        snprintf(found, sizeof(found), "%.*s/strace", (int)n, p);
        if (access(found, X_OK) == 0)
            return found;
        p = colon ? colon + 1 : NULL;
    }
    found[0] = '\0';
    return NULL;
}

/* Why strace cannot be used here, or NULL when it can. */
static const char *tf_strace_unusable(void)
{
    const char *argv[] = {tf_strace(), "-f", "-qq",          "--seccomp-bpf", "-o",
                          "/dev/null", "-e", "trace=openat", "/bin/true",     NULL};
    struct daemon_proc_opts o = {.uid = -1};
    pid_t pid;
    int st = 0;

    if (argv[0] == NULL)
        return "strace is not installed";
    pid = daemon_proc_spawn(argv, &o);
    if (pid < 0 || daemon_proc_wait(pid, 10000, &st) < 0) {
        daemon_proc_kill(pid);
        return "strace did not run";
    }
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        return "strace cannot trace here (ptrace not permitted?)";
    return NULL;
}

/* TracerPid of pid: nonzero once a tracer is attached. */
static long tf_tracer_of(pid_t pid)
{
    char path[64];
    long v;

    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    v = daemon_proc_status_kb(pid, "TracerPid:");
    (void)path;
    return v;
}

/* Attach strace to provd's main thread only (the loop: the control
 * socket's accept and replies, the log lines), injecting inject into the
 * syscalls of trace. Worker threads stay untouched: their eventfd wake-ups
 * cannot fail with EAGAIN in reality (a full counter). Returns strace's
 * pid once it is attached. */
static pid_t tf_attach(pid_t pid, const char *trace, const char *inject)
{
    char spid[16], *t = xasprintf("trace=%s", trace);
    const char *argv[] = {tf_strace(), "-qq",  "-o", "/dev/null", "-e", t,
                          "-e",        inject, "-p", spid,        NULL};
    struct daemon_proc_opts o = {.uid = -1};
    pid_t tracer;

    snprintf(spid, sizeof(spid), "%d", (int)pid);
    tracer = daemon_proc_spawn(argv, &o);
    assert_true(tracer > 0);
    for (int i = 0; i < 500 && tf_tracer_of(pid) <= 0; i++)
        daemon_proc_sleep_ms(10);
    assert_true(tf_tracer_of(pid) > 0);
    free(t);
    return tracer;
}

/* Stop strace (it detaches on SIGTERM) and reap it. */
static void tf_detach(pid_t tracer)
{
    kill(tracer, SIGTERM);
    if (daemon_proc_wait(tracer, 10000, NULL) < 0)
        daemon_proc_kill(tracer);
}

/* accept4 fails with err for the first `calls` attempts: provd rests
 * between attempts (CPU over 2 s), then answers the waiting client. */
static void tf_p7_accept(const char *err, int calls, struct strbuf *fig)
{
    char inject[96];
    struct tf_d d;
    struct daemon_http_reply r;
    double cpu0, cpu1, t0, after;
    pid_t tracer;
    int fd, rc;

    snprintf(inject, sizeof(inject), "inject=accept4:error=%s:when=1..%d", err, calls);
    tf_d_init(&d, "provd-p7a");
    tf_d_config(&d, NULL, NULL);
    tf_d_start(&d, NULL);
    tracer = tf_attach(d.pid, "accept4", inject);
    fd = daemon_http_connect(d.sock);
    assert_true(fd >= 0);
    assert_int_equal(daemon_http_send(fd, "GET /v1/status HTTP/1.1\r\nHost: provd\r\n\r\n", 40), 0);
    t0 = daemon_http_now_ms();
    cpu0 = daemon_proc_cpu_ms(d.pid);
    daemon_proc_sleep_ms(2000);
    cpu1 = daemon_proc_cpu_ms(d.pid);
    rc = daemon_http_read(fd, false, 20000, &r);
    if (rc != 0 || r.status != 200)
        fail_msg("P7 accept4 %s: no answer after the faults (rc %d, status %d)", err, rc, r.status);
    after = daemon_http_now_ms() - t0;
    daemon_http_reply_clear(&r);
    close(fd);
    print_message("P7 accept4 %s x%d: CPU %.0f ms over 2 s while failing, answered after %.0f ms\n",
                  err, calls, cpu1 - cpu0, after);
    if (cpu1 - cpu0 > 100.0)
        fail_msg("P7 accept4 %s: %.0f ms of CPU in 2 s: a busy loop", err, cpu1 - cpu0);
    /* Every accept4 so far failed or was the one that answered: the
     * faults really happened (calls of them, one per rest). */
    if (after < 1000.0)
        fail_msg("P7 accept4 %s: answered after %.0f ms: the faults did not happen", err, after);
    tf_detach(tracer);
    assert_true(tf_health(&d, 2000) >= 0);
    rc = tf_d_stop(&d);
    assert_true(WIFEXITED(rc) && WEXITSTATUS(rc) == 0);
    strbuf_addf(fig, "accept4 %s x%d: CPU %.0f ms/2 s, answered after %.1f s; ", err, calls,
                cpu1 - cpu0, after / 1000.0);
    tf_d_free(&d);
}

/* write and writev of provd's loop fail with err at the calls when
 * selects; every request gets a reply or a close, never a hang, and
 * provd stays up and answers once the faults end. */
static void tf_p7_write(const char *err, const char *when, int n_req, struct strbuf *fig)
{
    char inject[96];
    struct tf_d d;
    int ok = 0, closed = 0;
    bool last_ok = false;
    pid_t tracer;

    snprintf(inject, sizeof(inject), "inject=write,writev:error=%s:when=%s", err, when);
    tf_d_init(&d, "provd-p7w");
    tf_d_config(&d, NULL, NULL);
    tf_d_start(&d, NULL);
    tracer = tf_attach(d.pid, "write,writev", inject);
    for (int i = 0; i < n_req; i++) {
        struct daemon_http_reply r;
        int rc = daemon_http_request(d.sock, "GET", "/v1/status", NULL, 5000, &r);

        if (rc == 0 && r.status == 200 && r.complete) {
            ok++;
            last_ok = i == n_req - 1;
        } else if (!r.timed_out && (r.closed || rc == -ECONNRESET)) {
            closed++;
        } else {
            fail_msg("P7 %s: request %d neither answered nor closed (rc %d, status %d)", inject, i,
                     rc, r.status);
        }
        daemon_http_reply_clear(&r);
    }
    tf_detach(tracer);
    assert_true(kill(d.pid, 0) == 0);
    assert_true(last_ok);
    print_message("P7 write/writev %s when=%s: %d requests, %d answered, %d closed\n", err, when,
                  n_req, ok, closed);
    assert_int_equal(WEXITSTATUS(tf_d_stop(&d)), 0);
    strbuf_addf(fig, "write/writev %s: %d/%d answered, %d closed, 0 hung; ", err, ok, n_req,
                closed);
    tf_d_free(&d);
}

/* LeakSanitizer cannot run in a traced process (it stops with an error
 * at exit); the leak check of provd is the other tests' job. */
static const char *const tf_traced_env[] = {"ASAN_OPTIONS=detect_leaks=0:abort_on_error=1", NULL};

/* Main-thread calls of syscall in one unfaulted `provd --once` run. */
static long tf_p7_count(const char *dir, const char *conf, const char *syscall)
{
    char *trace = xasprintf("%s/%s.trace", dir, syscall), *log = xasprintf("%s/count.log", dir);
    char *t = xasprintf("trace=%s", syscall);
    const char *argv[] = {tf_strace(), "-f", "-qq", "--seccomp-bpf", "-o", trace, "-e", t,
                          tf_provd(),  "-c", conf,  "--once",        NULL};
    struct daemon_proc_opts o = {.env = tf_traced_env, .log = log, .uid = -1};
    pid_t pid = daemon_proc_spawn(argv, &o);
    long n = 0, main_pid = -1;
    char *text, *line;
    int st = 0;

    assert_true(pid > 0);
    assert_int_equal(daemon_proc_wait(pid, 60000, &st), 0);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    text = daemon_proc_read(trace, NULL);
    assert_non_null(text);
    for (line = text; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        long p = strtol(line, NULL, 10);

        if (main_pid < 0)
            main_pid = p;
        n += p == main_pid && strstr(line, syscall) != NULL && strstr(line, "resumed>") == NULL;
    }
    free(text);
    free(trace);
    free(log);
    free(t);
    return n;
}

struct tf_p7_tally {
    unsigned points, done, err_exits;
};

/* provd --once with syscall failing with EMFILE at the calls when
 * selects ("N+": from call N on) in every thread (each
 * counts its own calls): the run ends (an exit status, not a signal or a
 * hang) with an error line when it fails, and the catalog is sound. */
static void tf_p7_point(const char *dir, const char *conf, const char *db, const char *syscall,
                        const char *when, struct tf_p7_tally *t)
{
    char inject[96], *log = xasprintf("%s/once-%s-%s.log", dir, syscall, when);
    char *tr = xasprintf("trace=%s", syscall);
    const char *argv[] = {tf_strace(), "-f",     "-qq", "--seccomp-bpf", "-o",       "/dev/null",
                          "-e",        tr,       "-e",  inject,          tf_provd(), "-c",
                          conf,        "--once", NULL};
    struct daemon_proc_opts o = {.env = tf_traced_env, .log = log, .uid = -1};
    struct catalog *c = NULL;
    char *text, *e;
    pid_t pid;
    int st = 0;

    snprintf(inject, sizeof(inject), "inject=%s:error=EMFILE:when=%s", syscall, when);
    unlink(db);
    pid = daemon_proc_spawn(argv, &o);
    assert_true(pid > 0);
    if (daemon_proc_wait(pid, 60000, &st) < 0) {
        daemon_proc_kill(pid);
        fail_msg("P7 %s EMFILE at %s: provd --once did not end in 60 s", syscall, when);
    }
    if (!WIFEXITED(st))
        fail_msg("P7 %s EMFILE at %s: killed by signal %d; log:\n%s", syscall, when, WTERMSIG(st),
                 hw_tail(log, 2000));
    text = daemon_proc_read(log, NULL);
    assert_non_null(text);
    t->points++;
    if (WEXITSTATUS(st) == 0) {
        t->done++;
    } else {
        /* The loader's own failures (before main) say so themselves;
         * provd's say why in an error line. */
        e = strstr(text, "<3>");
        if (e == NULL && strstr(text, "error while loading") == NULL)
            fail_msg("P7 %s EMFILE at %s: exit %d without an error line:\n%s", syscall, when,
                     WEXITSTATUS(st), hw_tail(log, 2000));
        if (e != NULL)
            print_message("P7 %s EMFILE at %s: exit %d: %.*s\n", syscall, when, WEXITSTATUS(st),
                          (int)strcspn(e, "\n"), e);
        t->err_exits++;
    }
    if (access(db, F_OK) == 0) {
        struct catalog_options co = {.readonly = false};

        if (catalog_open(db, &co, &c) < 0 || catalog_check(c, true) < 0)
            fail_msg("P7 %s EMFILE at %s: catalog unsound: %s", syscall, when, catalog_errmsg(c));
    }
    catalog_close(c);
    free(text);
    free(tr);
    free(log);
}

/* Sweep syscall's EMFILE over a `provd --once` harvest: from its last
 * main-thread calls back (regular) or over all of them (long). */
static void tf_p7_sweep(const char *dir, const char *conf, const char *db, const char *syscall,
                        struct strbuf *fig)
{
    struct tf_p7_tally t = {0};
    long total = tf_p7_count(dir, conf, syscall), points[24];
    unsigned n = 0;

    assert_true(total > 0);
    if (tf_long) {
        for (long k = total + 1; k >= 1 && n < 24; k -= total / 23 + 1)
            points[n++] = k;
    } else {
        long back[] = {0, 2, 8, total / 2};

        for (size_t i = 0; i < 4; i++)
            if (total - back[i] >= 1)
                points[n++] = total - back[i];
    }
    for (unsigned i = 0; i < n; i++) {
        char when[32];

        snprintf(when, sizeof(when), "%ld+", points[i]);
        tf_p7_point(dir, conf, db, syscall, when, &t);
    }
    strbuf_addf(fig,
                "%s EMFILE from %u points of %ld main-thread calls: %u harvests done, %u clean "
                "error exits, 0 crashes or hangs; ",
                syscall, t.points, total, t.done, t.err_exits);
}

static void test_p7_syscall_faults(void **state)
{
    const char *why = tf_strace_unusable();
    struct strbuf fig = STRBUF_INIT;
    struct hw_site site;
    char *dir, *conf, *db;

    (void)state;
    tf_rows[ROW_P7].ran = true;
    if (why) {
        tf_figure(ROW_P7, "skipped: %s", why);
        skip();
    }
    tf_p7_accept("EMFILE", 25, &fig);
    tf_p7_accept("ENFILE", 25, &fig);
    tf_p7_write("EAGAIN", "1+2", 20, &fig);
    tf_p7_write("EIO", "1..6", 12, &fig);

    /* openat EMFILE through a harvest. */
    dir = daemon_proc_tmpdir("provd-p7o");
    conf = xasprintf("%s/provd.conf", dir);
    db = xasprintf("%s/catalog.db", dir);
    tf_site(&site, dir, "pages", 3);
    {
        char *text = xasprintf("[provd]\ndatabase = %s\nsocket = %s/provd.sock\n"
                               "allow-addresses = 127.0.0.1:%u\nlog-level = info\n"
                               "[source pages]\nurls = pages.urls\ndelay = 0\ninterval = 1h\n",
                               db, dir, site.port);

        tf_write(conf, text);
        free(text);
    }
    tf_p7_sweep(dir, conf, db, "openat", &fig);
    hw_site_stop(&site);
    daemon_proc_rmtree(dir);
    free(dir);
    free(conf);
    free(db);
    tf_figure(ROW_P7, "%.*s", (int)fig.len - 2, strbuf_str(&fig)); /* without the last "; " */
    strbuf_release(&fig);
    tf_rows[ROW_P7].pass = true;
}

/* ---- K1: state directory missing or not writable ----------------------- */

/* provd --once on a configuration naming database db, as uid (-1: us);
 * its exit status (-1 for a signal or a hang) and log. */
static int tf_once(const char *dir, const char *db, int uid, char **log_text)
{
    char *conf = xasprintf("%s/once.conf", dir), *log = xasprintf("%s/once.log", dir);
    char *text =
        xasprintf("[provd]\ndatabase = %s\nsocket = %s/provd.sock\nlog-level = info\n", db, dir);
    const char *argv[] = {tf_provd(), "-c", conf, "--once", NULL};
    struct daemon_proc_opts o = {.log = log, .uid = uid};
    pid_t pid;
    int st = 0, rc = -1;

    tf_write(conf, text);
    chmod(conf, 0644);
    unlink(log);
    pid = daemon_proc_spawn(argv, &o);
    assert_true(pid > 0);
    if (daemon_proc_wait(pid, 30000, &st) < 0)
        daemon_proc_kill(pid);
    else if (WIFEXITED(st))
        rc = WEXITSTATUS(st);
    *log_text = daemon_proc_read(log, NULL);
    if (*log_text == NULL)
        *log_text = xstrdup("");
    free(text);
    free(conf);
    free(log);
    return rc;
}

static void test_k1_state_directory(void **state)
{
    char *dir = daemon_proc_tmpdir("provd-k1"), *db, *log;
    int rc, uid = geteuid() == 0 ? 65534 : -1;
    int rc_missing, rc_locked, rc_made;

    (void)state;
    tf_rows[ROW_K1].ran = true;
    assert_non_null(dir);
    chmod(dir, 0755);

    /* Missing, with a missing parent: not made, a clear error, 73. */
    db = xasprintf("%s/no/such/dir/catalog.db", dir);
    rc = rc_missing = tf_once(dir, db, -1, &log);
    if (rc != 73 || !strstr(log, "state directory") || !strstr(log, "<3>"))
        fail_msg("K1 missing directory: exit %d, log:\n%s", rc, log);
    free(log);
    free(db);

    /* Missing, one level: made (0700) as StateDirectory= would. */
    db = xasprintf("%s/made/catalog.db", dir);
    rc = rc_made = tf_once(dir, db, -1, &log);
    if (rc != 0)
        fail_msg("K1 one missing level: exit %d, log:\n%s", rc, log);
    free(log);
    free(db);
    {
        char *made = xasprintf("%s/made", dir);
        struct stat st;

        assert_int_equal(stat(made, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0700);
        free(made);
    }

    /* Wrong owner or mode: a directory provd's user cannot write. As root
     * provd runs as nobody (root would bypass the mode). */
    {
        char *locked = xasprintf("%s/locked", dir);

        assert_int_equal(mkdir(locked, 0755), 0);
        if (uid < 0)
            chmod(locked, 0555);
        db = xasprintf("%s/catalog.db", locked);
        rc = rc_locked = tf_once(dir, db, uid, &log);
        if (rc != 73 || !strstr(log, "not writable") || !strstr(log, "<3>"))
            fail_msg("K1 unwritable directory: exit %d, log:\n%s", rc, log);
        assert_int_equal(access(db, F_OK), -1);
        chmod(locked, 0755);
        free(log);
        free(db);
        free(locked);
    }
    tf_figure(ROW_K1,
              "missing directory (and parent): exit %d with \"state directory\" error; one "
              "missing level: made 0700, exit %d; directory not writable by provd's uid %d: "
              "exit %d with \"not writable\" error, no file created",
              rc_missing, rc_made, uid < 0 ? (int)geteuid() : uid, rc_locked);
    daemon_proc_rmtree(dir);
    free(dir);
    tf_rows[ROW_K1].pass = true;
}

/* ---- K3: catalog on tmpfs or behind a symbolic link -------------------- */

static void test_k3_storage_warnings(void **state)
{
    char *dir = daemon_proc_tmpdir("provd-k3"), *db, *link, *log, *shm = NULL;
    struct statfs fs;
    bool dir_volatile;
    int rc;
    struct strbuf fig = STRBUF_INIT;

    (void)state;
    tf_rows[ROW_K3].ran = true;
    assert_non_null(dir);
    assert_int_equal(statfs(dir, &fs), 0);
    dir_volatile = (long)fs.f_type == TF_TMPFS_MAGIC;

    /* A plain file on the test directory: no warning (unless that is
     * tmpfs itself). */
    db = xasprintf("%s/real.db", dir);
    rc = tf_once(dir, db, -1, &log);
    if (rc != 0)
        fail_msg("K3 plain path: exit %d, log:\n%s", rc, log);
    if (strstr(log, "symbolic link") || (!dir_volatile && strstr(log, " is on ")))
        fail_msg("K3 plain path warned:\n%s", log);
    free(log);

    /* The database named through a symbolic link. */
    link = xasprintf("%s/link.db", dir);
    assert_int_equal(symlink(db, link), 0);
    rc = tf_once(dir, link, -1, &log);
    if (rc != 0 || !strstr(log, "<4>") || !strstr(log, "is a symbolic link"))
        fail_msg("K3 symbolic link: exit %d, no warning:\n%s", rc, log);
    strbuf_addf(&fig, "symlinked path: warned, exit %d; ", rc);
    free(log);

    /* On tmpfs. */
    shm = tf_fast_tmpdir("provd-k3");
    if (shm && statfs(shm, &fs) == 0 && (long)fs.f_type == TF_TMPFS_MAGIC) {
        char *on_shm = xasprintf("%s/catalog.db", shm);

        rc = tf_once(dir, on_shm, -1, &log);
        if (rc != 0 || !strstr(log, "<4>") || !strstr(log, "is on tmpfs"))
            fail_msg("K3 tmpfs: exit %d, no warning:\n%s", rc, log);
        strbuf_addf(&fig, "tmpfs: warned, exit %d; ", rc);
        free(log);
        free(on_shm);
    } else {
        strbuf_adds(&fig, "tmpfs: no tmpfs to try; ");
    }
    strbuf_addf(&fig, "plain path on %s: %s", dir_volatile ? "tmpfs" : "disk",
                dir_volatile ? "tmpfs warning only" : "no warning");
    tf_figure(ROW_K3, "%s", strbuf_str(&fig));
    strbuf_release(&fig);
    if (shm)
        daemon_proc_rmtree(shm);
    daemon_proc_rmtree(dir);
    free(shm);
    free(link);
    free(db);
    free(dir);
    tf_rows[ROW_K3].pass = true;
}

/* ---- K4: the log target is full ---------------------------------------- */

static void test_k4_log_target_full(void **state)
{
    struct tf_d d;
    struct hw_site site;
    char *fifo, *drained = NULL;
    int rfd, wfd, runs = tf_long ? 40 : 12, done = 0, queued = 0;
    static struct tf_lat lat;
    double p99, worst;
    char fill[4096];
    struct strbuf all = STRBUF_INIT;

    (void)state;
    tf_rows[ROW_K4].ran = true;
    tf_d_init(&d, "provd-k4");
    tf_site(&site, d.dir, "pages", 40);
    d.port = site.port;
    tf_d_config(&d, NULL, "[source pages]\nurls = pages.urls\ndelay = 0\ninterval = 1h\n");
    /* stderr: a FIFO of one page that the test fills and nobody reads. */
    fifo = xasprintf("%s/stderr.fifo", d.dir);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    rfd = open(fifo, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    assert_true(rfd >= 0);
    wfd = open(fifo, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    assert_true(wfd >= 0);
    assert_true(fcntl(rfd, F_SETPIPE_SZ, 4096) > 0);
    memset(fill, '.', sizeof(fill));
    while (write(wfd, fill, sizeof(fill)) > 0)
        ;
    close(wfd);
    ioctl(rfd, FIONREAD, &queued);
    assert_true(queued >= 4096);

    tf_d_start(&d, fifo);
    for (int i = 0; i < runs; i++) {
        const char *st = tf_run(&d, "pages", 30000, &lat);

        if (st == NULL)
            fail_msg("K4: run %d did not finish with the log target full", i);
        done++;
    }
    ioctl(rfd, FIONREAD, &queued);
    /* Drain, have provd log one more line, and read what came. */
    while (read(rfd, fill, sizeof(fill)) > 0)
        ;
    assert_non_null(tf_run(&d, "pages", 30000, &lat));
    daemon_proc_sleep_ms(200);
    {
        ssize_t n;

        while ((n = read(rfd, fill, sizeof(fill))) > 0)
            strbuf_add(&all, fill, (size_t)n);
        drained = xstrdup(strbuf_str(&all));
    }
    p99 = tf_lat_q(&lat, 0.99);
    worst = lat.v[lat.n - 1];
    print_message("K4 %d runs with stderr full (%d bytes queued): %zu health queries, p99 %.1f ms, "
                  "slowest %.1f ms; after draining:\n%s\n",
                  done, queued, lat.n, p99, worst, drained);
    /* "Daemon up": p99 within the limit; and never blocked (a blocked
     * write would hold the loop until the pipe drains: forever here). */
    if (p99 > TF_HEALTH_MS || worst > 1000.0)
        fail_msg("K4: health queries p99 %.1f ms, slowest %.1f ms with the log target full", p99,
                 worst);
    if (!strstr(drained, "log lines dropped") && !strstr(drained, "log line dropped"))
        fail_msg("K4: no count of dropped lines after draining:\n%s", drained);
    assert_int_equal(WEXITSTATUS(tf_d_stop(&d)), 0);
    tf_figure(ROW_K4,
              "stderr a FIFO of 4096 bytes kept full: %d harvest runs (%d pages each, 40 "
              "failing) finished, health p99 %.1f ms (limit %.0f), slowest %.1f ms, dropped lines "
              "counted and reported once the target drained",
              done, 12 + 40, p99, TF_HEALTH_MS, worst);
    close(rfd);
    hw_site_stop(&site);
    strbuf_release(&all);
    free(drained);
    free(fifo);
    tf_d_free(&d);
    tf_rows[ROW_K4].pass = true;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_h15_malloc_failure_in_extract),
        cmocka_unit_test(test_p6_malloc_failure_sweep),
        cmocka_unit_test(test_p7_syscall_faults),
        cmocka_unit_test(test_k1_state_directory),
        cmocka_unit_test(test_k3_storage_warnings),
        cmocka_unit_test(test_k4_log_target_full),
    };
    int failed, bad = 0;

    tf_long = getenv("PROVD_LONG") && strcmp(getenv("PROVD_LONG"), "1") == 0;
    /* Before libxml2 allocates anything: its allocations go through the
     * counting hooks from the start (they only fail when armed). */
    tf_blocks = xcalloc(TF_TRACK_SIZE, sizeof(*tf_blocks));
    xmlMemSetup(tf_xml_free, tf_xml_malloc, tf_xml_realloc, tf_xml_strdup);
    extract_global_init();
    /* One row alone, e.g. PROVD_FAULTS_ONLY='test_k4*' (cmocka's pattern). */
    if (getenv("PROVD_FAULTS_ONLY"))
        cmocka_set_test_filter(getenv("PROVD_FAULTS_ONLY"));
    failed = cmocka_run_group_tests(tests, NULL, NULL);
    fflush(stderr);
    for (int i = 0; i < ROW_N; i++) {
        if (!tf_rows[i].ran && getenv("PROVD_FAULTS_ONLY"))
            continue;
        printf("ROW %s %s %s\n", tf_rows[i].id, tf_rows[i].pass ? "PASS" : "FAIL",
               tf_rows[i].figure[0] ? tf_rows[i].figure
                                    : "failed before its figure (see the test output above)");
        bad += !tf_rows[i].pass;
    }
    fflush(stdout);
    if (tf_long)
        return bad ? 1 : failed;
    return failed;
}
