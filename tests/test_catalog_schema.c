/*
 * Tests of catalog/ schema and faults on real SQLite files: migrations
 * from every earlier schema version (with data written the way that
 * version stored it), a newer schema refused, corrupt files refused and
 * left untouched, a writer locked out by another (DB_BUSY), and write
 * errors from a file-size limit (STORAGE_IO) rolling the batch back with
 * writing resuming afterwards. The database files are inspected and
 * prepared with plain SQLite here, the way an operator's tools would.
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
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct env {
    char *dir;
    char *db;
    int64_t now;
};

static int setup(void **state)
{
    struct env *e = xcalloc(1, sizeof(*e));

    e->dir = fx_tmpdir();
    e->db = fx_path(e->dir, "catalog.db");
    e->now = 1700000000;
    *state = e;
    return 0;
}

static int teardown(void **state)
{
    struct env *e = *state;

    fx_rmtree(e->dir);
    free(e->db);
    free(e->dir);
    free(e);
    return 0;
}

static void raw_exec(const char *path, const char *sql)
{
    sqlite3 *db;
    char *msg = NULL;

    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
        fprintf(stderr, "%s: %s\n", sql, msg);
    assert_null(msg);
    sqlite3_close(db);
}

static int raw_int(const char *path, const char *sql)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    int v;

    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    v = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

/* Rows as schema version 1 stored them (the hash is a stand-in: the
 * migration must not care). */
static const char v1_rows[] =
    "INSERT INTO records(id, source, key, record_id, url, title, date_iso, summary, source_text,"
    " contributors, translators, doc_text, hash, first_seen, last_seen, changed)"
    " VALUES(1, 'test', '77', '77', 'https://archive.test/document/77', 'Old record',"
    " '1950', 'A summary.', 'Contributed by Jamil Hasanli and translated by Gary Goldberg.',"
    " '[\"Jamil Hasanli\"]', '[\"Gary Goldberg\", \"GARY GOLDBERG\"]',"
    " 'Talks with Khrushchev.', x'00', 1600000000, 1600000000, 1600000000);"
    "INSERT INTO citations(record, pos, archive, archive_norm, fund, inventory, file, sheets,"
    " sheet_first, sheet_last, text) VALUES(1, 0, 'RGASPI', 'rgaspi', '17', '162', '34',"
    " '20-25', 20, 25, 'RGASPI, f. 17, op. 162, d. 34, ll. 20-25.');"
    "INSERT INTO urls(url, record, first_seen)"
    " VALUES('https://archive.test/document/77', 1, 1600000000);"
    "INSERT INTO versions(record, version, at, event) VALUES(1, 1, 1600000000, 'created');";
/* Fetch state as versions 1 to 3 kept it, in urls keyed by URL alone:
 * - the record's own URL, last fetched by its source: its state (and
 *   validators) go to that source in version 4;
 * - an alias of the record whose state another source wrote: the alias
 *   stays, the state goes (that source fetches the URL again);
 * - a URL that never led to a record: dropped. */
static const char v1_fetch_rows[] =
    "UPDATE urls SET source = 'test', etag = '\"e77\"', last_modified = 'Mon, 01 Jan 2024"
    " 00:00:00 GMT', last_status = 200, next_due = 1700000100, last_attempt = 1600000000,"
    " last_success = 1600000000 WHERE url = 'https://archive.test/document/77';"
    "INSERT INTO urls(url, record, first_seen, source, etag, last_status, next_due,"
    " last_attempt, last_success) VALUES('https://archive.test/document/77?print', 1,"
    " 1600000000, 'other', '\"other\"', 200, 1700000100, 1600000000, 1600000000);"
    "INSERT INTO urls(url, first_seen, source, last_status, failures, next_due, last_attempt,"
    " error_category, error_message) VALUES('https://archive.test/failed/5', 1600000000,"
    " 'test', 503, 2, 0, 1600000000, 'HTTP_5XX', 'HTTP 503');";
/* The same fetch state as version 4 keeps it (per source and URL). */
static const char v4_fetch_rows[] =
    "INSERT INTO fetch_state(source, url, record, first_seen, etag, last_modified,"
    " last_status, next_due, last_attempt, last_success) VALUES('test',"
    " 'https://archive.test/document/77', 1, 1600000000, '\"e77\"', 'Mon, 01 Jan 2024"
    " 00:00:00 GMT', 200, 1700000100, 1600000000, 1600000000);"
    "INSERT INTO urls(url, record, first_seen) VALUES('https://archive.test/document/77?print',"
    " 1, 1600000000);";
/* Runs, from version 2 on: one finished (2 URLs done, 1 failed), one a
 * crash left running with a URL pending. */
static const char v2_run_rows[] =
    "INSERT INTO runs(id, source, kind, state, started, finished) VALUES"
    " (7, 'test', 'schedule', 'finished', 1600000000, 1600000100),"
    " (8, 'test', 'manual', 'running', 1600000200, NULL);"
    "INSERT INTO frontier(run, url, state, updated) VALUES"
    " (7, 'https://archive.test/a', 'done', 1), (7, 'https://archive.test/b', 'done', 1),"
    " (7, 'https://archive.test/c', 'failed', 1), (8, 'https://archive.test/d', 'pending', 1);";
/* What version 3 added: the record in the full-text index. */
static const char v3_rows[] =
    "INSERT INTO records_fts(rowid, title, summary, source_text, doc_text) VALUES(1,"
    " 'Old record', 'A summary.', 'Contributed by Jamil Hasanli and translated by Gary"
    " Goldberg.', 'Talks with Khrushchev.');";
/* What version 2 added for the same record. */
static const char v2_rows[] = "INSERT INTO people(record, role, pos, name, name_fold)"
                              " VALUES(1, 1, 0, 'Jamil Hasanli', 'jamil hasanli'),"
                              " (1, 2, 0, 'Gary Goldberg', 'gary goldberg');";

static void check_migrated(struct env *e, bool with_data, bool with_runs)
{
    struct catalog *c = fx_open(e->db, &e->now, false);
    const char *expect = with_data ? "77" : "";
    struct catalog_filter f = {0};
    char *keys;

    assert_int_equal(raw_int(e->db, "PRAGMA user_version"), CATALOG_SCHEMA_VERSION);
    f.translator = "Gary Goldberg";
    keys = fx_search_keys(c, &f);
    assert_string_equal(keys, expect);
    free(keys);
    memset(&f, 0, sizeof(f));
    f.contributor = "jamil hasanli";
    keys = fx_search_keys(c, &f);
    assert_string_equal(keys, expect);
    free(keys);
    memset(&f, 0, sizeof(f));
    f.text = "khrushchev";
    keys = fx_search_keys(c, &f);
    assert_string_equal(keys, expect);
    free(keys);
    memset(&f, 0, sizeof(f));
    f.archive = "RGASPI";
    f.sheet = "22";
    keys = fx_search_keys(c, &f);
    assert_string_equal(keys, expect);
    free(keys);
    assert_int_equal(catalog_check(c, true), 0);
    if (with_data) {
        struct catalog_fetch_state fs;
        struct strlist due = {0};

        /* version 4: fetch state per (source, URL), migrated as the step
         * says */
        assert_int_equal(
            catalog_fetch_get_source(c, "test", "https://archive.test/document/77", &fs), 0);
        assert_string_equal(fs.etag, "\"e77\"");
        assert_string_equal(fs.last_modified, "Mon, 01 Jan 2024 00:00:00 GMT");
        assert_int_equal(fs.last_attempt, 1600000000);
        assert_int_equal(fs.record, 1);
        catalog_fetch_state_clear(&fs);
        assert_int_equal(
            catalog_fetch_get_source(c, "other", "https://archive.test/document/77", &fs), -ENOENT);
        assert_int_equal(
            catalog_fetch_get_source(c, "other", "https://archive.test/document/77?print", &fs),
            -ENOENT);
        /* still an alias of the record, for its source, never fetched by it */
        assert_int_equal(
            catalog_fetch_get_source(c, "test", "https://archive.test/document/77?print", &fs), 0);
        assert_null(fs.etag);
        assert_int_equal(fs.last_attempt, 0);
        assert_int_equal(fs.record, 1);
        catalog_fetch_state_clear(&fs);
        assert_int_equal(catalog_fetch_get_source(c, "test", "https://archive.test/failed/5", &fs),
                         -ENOENT);
        assert_int_equal(catalog_fetch_get(c, "https://archive.test/failed/5", &fs), -ENOENT);
        assert_int_equal(catalog_fetch_due(c, "test", 1700000200, 10, &due), 0);
        assert_int_equal(due.n, 1);
        assert_string_equal(due.v[0], "https://archive.test/document/77");
        strlist_clear(&due);
        assert_int_equal(raw_int(e->db, "SELECT count(*) FROM urls"), 2);
        assert_int_equal(raw_int(e->db, "SELECT count(*) FROM fetch_state"), 1);
    }
    if (with_runs) {
        struct catalog_run run;
        struct strlist pending = {0};

        /* version 5: a finished run keeps its counts, not its frontier;
         * an unfinished one keeps both, and resumes as a run of the source */
        assert_int_equal(catalog_run_get(c, 7, &run), 0);
        assert_int_equal(run.done, 2);
        assert_int_equal(run.failed, 1);
        assert_int_equal(run.pending, 0);
        assert_false(run.single);
        catalog_run_clear(&run);
        assert_int_equal(raw_int(e->db, "SELECT count(*) FROM frontier WHERE run = 7"), 0);
        assert_int_equal(catalog_frontier_pending(c, 8, 10, &pending), 0);
        assert_int_equal(pending.n, 1);
        strlist_clear(&pending);
        assert_int_equal(catalog_run_get(c, 8, &run), 0);
        assert_int_equal(run.state, CATALOG_RUN_RUNNING);
        catalog_run_clear(&run);
    }
    if (with_data) {
        struct record *r = fx_record("77", "Old record");
        struct catalog_history h;

        /* The same content under the old stand-in hash: unchanged. */
        record_set(&r->date, NULL);
        record_set(&r->date_iso, "1950");
        record_set(&r->summary, "A summary.");
        record_set(&r->type, NULL);
        strlist_clear(&r->languages);
        record_set(&r->source, "Contributed by Jamil Hasanli and translated by Gary Goldberg.");
        strlist_add(&r->contributors, "Jamil Hasanli");
        strlist_add(&r->translators, "GARY GOLDBERG");
        record_set(&r->text, "Talks with Khrushchev.");
        fx_cite(r, "RGASPI", "17", "162", NULL, "34", "20-25");
        record_set(&r->citations[0].text, "RGASPI, f. 17, op. 162, d. 34, ll. 20-25.");
        assert_int_equal(fx_put(c, r->url, r), CATALOG_UNCHANGED);
        record_set(&r->title, "Renamed");
        assert_int_equal(fx_put(c, r->url, r), CATALOG_CHANGED);
        assert_int_equal(catalog_history(c, "test", "77", &h), 0);
        assert_int_equal(h.n, 2);
        catalog_history_clear(&h);
        record_free(r);
    }
    catalog_close(c);
}

static void test_migrate_from_each_version(void **state)
{
    struct env *e = *state;
    char err[256];

    /* Version 0: an empty file. */
    fclose(fopen(e->db, "w"));
    check_migrated(e, false, false);
    for (int v = 1; v < CATALOG_SCHEMA_VERSION; v++) {
        fx_rmtree(e->dir);
        assert_int_equal(mkdir(e->dir, 0700), 0);
        assert_int_equal(catalog_create_version(e->db, v, err, sizeof(err)), 0);
        assert_int_equal(raw_int(e->db, "PRAGMA user_version"), v);
        raw_exec(e->db, v1_rows);
        raw_exec(e->db, v < 4 ? v1_fetch_rows : v4_fetch_rows);
        if (v >= 2)
            raw_exec(e->db, v2_run_rows);
        if (v >= 2)
            raw_exec(e->db, v2_rows);
        if (v >= 3)
            raw_exec(e->db, v3_rows);
        check_migrated(e, true, v >= 2);
    }
    assert_int_equal(catalog_create_version(e->db, 1, err, sizeof(err)), -EEXIST);
    assert_int_equal(catalog_create_version(e->db, 0, err, sizeof(err)), -EINVAL);
}

/* The whole file, to compare before and after. */
static char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long len;

    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    len = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = xmalloc((size_t)len + 1);
    assert_int_equal(fread(buf, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    *n = (size_t)len;
    return buf;
}

static void scribble(const char *path, long off, size_t n)
{
    FILE *f = fopen(path, "r+b");

    assert_non_null(f);
    fseek(f, off, SEEK_SET);
    for (size_t i = 0; i < n; i++)
        fputc(0xa5, f);
    fclose(f);
}

static void make_catalog(struct env *e, int records)
{
    struct catalog *c = fx_open(e->db, &e->now, false);

    for (int i = 0; i < records; i++) {
        char id[16];
        struct record *r;

        snprintf(id, sizeof(id), "%d", i);
        r = fx_record(id, "Stored before the damage");
        fx_cite(r, "RGASPI", "17", "3", NULL, id, "1-2");
        fx_put(c, r->url, r);
        record_free(r);
    }
    catalog_close(c);
}

static void expect_refused(struct env *e, int want_err, enum prov_category want_cat)
{
    struct catalog *c;
    size_t n1, n2;
    char *before = slurp(e->db, &n1), *after;
    int err = catalog_open(e->db, NULL, &c);

    assert_int_equal(err, want_err);
    assert_int_equal(catalog_category(c), want_cat);
    assert_int_not_equal(catalog_errmsg(c)[0], '\0');
    catalog_close(c);
    after = slurp(e->db, &n2);
    assert_int_equal(n1, n2);
    assert_memory_equal(before, after, n1);
    free(before);
    free(after);
}

static void test_corrupt_refused(void **state)
{
    struct env *e = *state;

    make_catalog(e, 50);
    scribble(e->db, 0, 16); /* the header */
    expect_refused(e, -EUCLEAN, PROV_DB_CORRUPT);
    fx_rmtree(e->dir);
    assert_int_equal(mkdir(e->dir, 0700), 0);
    make_catalog(e, 50);
    scribble(e->db, 4096, 4096); /* page 2 */
    expect_refused(e, -EUCLEAN, PROV_DB_CORRUPT);
}

static void test_newer_schema_refused(void **state)
{
    struct env *e = *state;

    make_catalog(e, 1);
    raw_exec(e->db, "PRAGMA user_version = 99");
    expect_refused(e, -EPROTO, PROV_CONFIG);
}

static double elapsed(const struct timespec *t0)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

static void test_writer_locked_out(void **state)
{
    struct env *e = *state;
    struct catalog_options o = {.busy_timeout_ms = 150, .clock = fx_clock, .clock_data = &e->now};
    struct catalog *a, *b, *rd;
    struct record *r = fx_record("1", "Held");
    struct catalog_page p = fx_page(r->url, 0);
    struct catalog_results res;
    struct timespec t0;

    assert_int_equal(catalog_open(e->db, &o, &a), 0);
    assert_int_equal(catalog_open(e->db, &o, &b), 0);
    rd = fx_open(e->db, &e->now, true);
    assert_int_equal(catalog_begin(a), 0);
    assert_int_equal(catalog_upsert(a, &p, r, NULL), 0);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(catalog_begin(b), -EBUSY);
    assert_true(elapsed(&t0) >= 0.1 && elapsed(&t0) < 5);
    assert_int_equal(catalog_category(b), PROV_DB_BUSY);
    assert_false(catalog_in_batch(b));
    assert_int_equal(catalog_upsert(b, &p, r, NULL), -EBUSY);
    /* Readers are not held up by the writer. */
    assert_int_equal(catalog_search(rd, NULL, 0, NULL, &res), 0);
    assert_int_equal(res.n, 0);
    catalog_results_clear(&res);
    assert_int_equal(catalog_commit(a, NULL), 0);
    /* The cause gone, the other writer proceeds. */
    assert_int_equal(catalog_begin(b), 0);
    assert_int_equal(catalog_upsert(b, &p, r, NULL), 0);
    assert_int_equal(catalog_commit(b, NULL), 0);
    assert_int_equal(catalog_search(rd, NULL, 0, NULL, &res), 0);
    assert_int_equal(res.n, 1);
    catalog_results_clear(&res);
    catalog_close(rd);
    catalog_close(b);
    catalog_close(a);
    record_free(r);
}

/* The child of test_write_error: exit 0 when every step behaved, else the
 * number of the step that did not. cmocka's asserts are not for a forked
 * child, so the checks are plain. */
static int write_error_child(const char *db)
{
    int64_t now = 1700000000;
    struct catalog_options o = {.clock = fx_clock, .clock_data = &now};
    struct catalog *c;
    struct catalog_counts n;
    struct rlimit rl;
    char *wal = xasprintf("%s-wal", db);
    struct stat sb;
    off_t biggest;
    int err = 0, i, committed = 0;

    signal(SIGXFSZ, SIG_IGN);
    if (catalog_open(db, &o, &c) != 0)
        return 1;
    /* Give the WAL a size to grow from, then cap file sizes above it. */
    for (i = 0; i < 5; i++) {
        char id[16];
        struct record *r;

        snprintf(id, sizeof(id), "ok%d", i);
        r = fx_record(id, "Before the limit");
        if (catalog_upsert(c, &(struct catalog_page){.source = "test", .url = r->url}, r, NULL))
            return 2;
        record_free(r);
        committed++;
    }
    biggest = stat(db, &sb) == 0 ? sb.st_size : 0;
    if (stat(wal, &sb) == 0 && sb.st_size > biggest)
        biggest = sb.st_size;
    getrlimit(RLIMIT_FSIZE, &rl);
    rl.rlim_cur = (rlim_t)biggest + 8192;
    if (setrlimit(RLIMIT_FSIZE, &rl) != 0)
        return 3;
    for (i = 0; i < 2000 && err == 0; i++) {
        struct record *r;
        char id[16];

        if (i % 5 == 0 && catalog_begin(c) != 0)
            return 4;
        snprintf(id, sizeof(id), "big%d", i);
        r = fx_record(id, "Grows the files");
        free(r->text);
        r->text = xmalloc(16 * 1024 + 1);
        for (int k = 0; k < 16 * 1024; k++)
            r->text[k] = (char)('a' + (k * 7 + i) % 26);
        r->text[16 * 1024] = '\0';
        err = catalog_upsert(c, &(struct catalog_page){.source = "test", .url = r->url}, r, NULL);
        record_free(r);
        if (err == 0 && i % 5 == 4) {
            err = catalog_commit(c, NULL);
            if (err == 0)
                committed += 5;
        }
    }
    if (err != -EIO && err != -ENOSPC)
        return 5;
    if (catalog_category(c) != PROV_STORAGE_IO && catalog_category(c) != PROV_STORAGE_FULL)
        return 6;
    if (catalog_in_batch(c))
        return 7;
    /* Reads keep working and see exactly the committed batches. */
    if (catalog_counts(c, NULL, &n) != 0 || n.records != committed)
        return 8;
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_FSIZE, &rl);
    /* The cause gone, writing resumes. */
    if (catalog_begin(c) != 0)
        return 9;
    for (i = 0; i < 5; i++) {
        char id[16];
        struct record *r;

        snprintf(id, sizeof(id), "after%d", i);
        r = fx_record(id, "After the limit");
        if (catalog_upsert(c, &(struct catalog_page){.source = "test", .url = r->url}, r, NULL))
            return 10;
        record_free(r);
    }
    if (catalog_commit(c, NULL) != 0)
        return 11;
    if (catalog_check(c, true) != 0)
        return 12;
    if (catalog_counts(c, NULL, &n) != 0 || n.records != committed + 5)
        return 13;
    catalog_close(c);
    free(wal);
    return 0;
}

static void test_write_error(void **state)
{
    struct env *e = *state;
    int status = -1;
    pid_t pid;

    fflush(NULL);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(write_error_child(e->db));
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    if (WEXITSTATUS(status) != 0)
        fprintf(stderr, "write-error child failed at step %d\n", WEXITSTATUS(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_migrate_from_each_version), T(test_corrupt_refused), T(test_newer_schema_refused),
        T(test_writer_locked_out),         T(test_write_error),
    };
#undef T

    return cmocka_run_group_tests(tests, NULL, NULL);
}
