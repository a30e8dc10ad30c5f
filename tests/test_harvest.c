/*
 * test_harvest: the harvest end to end. Each test writes a site from the
 * fixture pages (tests/data/pages, copied with other record ids and
 * titles), serves it with fakesite on 127.0.0.1, writes a provd.conf into
 * a temporary directory and runs `provd -c FILE --once` as a child
 * process; then it reads the catalog (catalog.h, read-only) and
 * fakesite's request log. What each test proves is said above it.
 *
 * Programs come from $PROVD_BIN and $PROVD_FAKESITE (tests/meson.build
 * sets them), else from under $PROVD_BUILD_ROOT; fixtures from
 * $PROVD_SOURCE_ROOT, else the SOURCE_ROOT the build passes. Timing
 * bounds are loose on purpose: the machine is shared. Set
 * PROVD_TEST_KEEP=1 to keep the temporary tree for a look afterwards.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "catalog.h"
#include "daemon_http.h"
#include "discover.h"
#include "harvest_world.h"
#include "strbuf.h"
#include "xmalloc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#define CONTACT "mailto:harvest-test@example.invalid"
/* Longest a `provd --once` of these tests may take before it counts as
 * hung (it normally takes seconds). */
#define ONCE_LIMIT_MS 120000
/* The slack allowed between a request's start in provd and its arrival in
 * fakesite's log on a busy machine: the loopback connect and send take a
 * few ms that vary from request to request, and more when both cores are
 * busy with other builds (a scheduler slice or two, more under ASan). The
 * frontier's jitter only lengthens gaps, so the delay itself is the floor.
 * One late arrival shortens the gap after the one before it, so a single
 * gap is held to half the delay, and the span of all the requests, which
 * no late arrival but the first can shorten, to the sum of the delays. */
#define GAP_SLACK_MS 40

static struct {
    char *tmp;
    char *provd, *fakesite, *pages;
    struct hw_fixtures fx;
} G;

/* ---- set-up ----------------------------------------------------------- */

static char *program(const char *env, const char *rel)
{
    const char *v = getenv(env), *build = getenv("PROVD_BUILD_ROOT");

    if (v && *v)
        return xstrdup(v);
    return xasprintf("%s/%s", build && *build ? build : ".", rel);
}

static int group_setup(void **state)
{
    const char *src = getenv("PROVD_SOURCE_ROOT");

    G.tmp = hw_tmpdir("provd-harvest");
    G.provd = program("PROVD_BIN", "daemon/provd");
    G.fakesite = program("PROVD_FAKESITE", "tests/fakesite/fakesite");
    G.pages = xasprintf("%s/tests/data/pages", src && *src ? src : SOURCE_ROOT);
    if (G.tmp == NULL || hw_fixtures_load(G.pages, &G.fx) < 0 || G.fx.n < 4) {
        fprintf(stderr, "test_harvest: no temporary directory or no fixtures in %s\n", G.pages);
        return -1;
    }
    if (access(G.provd, X_OK) != 0 || access(G.fakesite, X_OK) != 0) {
        fprintf(stderr, "test_harvest: %s or %s is missing\n", G.provd, G.fakesite);
        return -1;
    }
    return 0;
}

static int group_teardown(void **state)
{
    const char *keep = getenv("PROVD_TEST_KEEP");

    if (keep && *keep == '1')
        fprintf(stderr, "test_harvest: kept %s\n", G.tmp);
    else
        hw_rmtree(G.tmp);
    hw_fixtures_free(&G.fx);
    free(G.tmp);
    free(G.provd);
    free(G.fakesite);
    free(G.pages);
    return 0;
}

/* ---- one test's world: sites, a configuration, a catalog ------------- */

#define MAX_SITES 10

struct world {
    char *dir;
    struct hw_site site[MAX_SITES];
    size_t nsites;
    char *conf, *db, *out;
    struct strbuf allow; /* extra allow-addresses entries */
};

static void world_init(struct world *w, const char *name)
{
    memset(w, 0, sizeof(*w));
    w->dir = hw_path(G.tmp, name);
    assert_int_equal(mkdir(w->dir, 0700), 0);
    w->conf = hw_path(w->dir, "provd.conf");
    w->db = hw_path(w->dir, "state/catalog.db");
    w->out = hw_path(w->dir, "provd.out");
}

static void world_free(struct world *w)
{
    for (size_t i = 0; i < w->nsites; i++)
        hw_site_stop(&w->site[i]);
    free(w->dir);
    free(w->conf);
    free(w->db);
    free(w->out);
    strbuf_release(&w->allow);
}

/* Start a fakesite serving dir/root_name; returns it. */
static struct hw_site *world_site(struct world *w, const char *name, const char *const *args)
{
    struct hw_site *s = &w->site[w->nsites];
    char *root = hw_path(w->dir, name);

    assert_true(w->nsites < MAX_SITES);
    mkdir(root, 0700);
    if (hw_site_start(s, G.fakesite, w->dir, name, root, args) < 0) {
        free(root);
        fail_msg("fakesite %s did not start", name);
    }
    free(root);
    w->nsites++;
    return s;
}

/* Write provd.conf: a [provd] section that allows every site's ports (and
 * w->allow), with short limits, then the sources text. */
static void world_conf(struct world *w, const char *extra, const char *sources)
{
    struct strbuf b = {0};

    strbuf_addf(&b,
                "[provd]\n"
                "database = %s\n"
                "socket = %s/provd.sock\n"
                "contact = " CONTACT "\n"
                "connect-timeout = 1s\n"
                "transfer-timeout = 5s\n"
                "low-speed-time = 1s\n"
                "max-page-size = 1MiB\n"
                "retries = 2\n"
                "allow-addresses = ",
                w->db, w->dir);
    for (size_t i = 0; i < w->nsites; i++)
        strbuf_addf(&b, "%s127.0.0.1:%u, 127.0.0.1:%u", i ? ", " : "", w->site[i].port,
                    w->site[i].raw);
    if (w->allow.len)
        strbuf_addf(&b, ", %s", strbuf_str(&w->allow));
    strbuf_addf(&b, "\n%s\n%s", extra ? extra : "", sources);
    assert_int_equal(hw_write(w->conf, strbuf_str(&b), b.len), 0);
    strbuf_release(&b);
}

/* Run provd --once on w's configuration; fail unless it exits with want. */
static void world_once(struct world *w, int want)
{
    int rc = hw_provd_once(G.provd, w->conf, w->out, ONCE_LIMIT_MS);

    if (rc != want)
        fail_msg("provd --once exited %d, want %d; its output ends:\n%s", rc, want,
                 hw_tail(w->out, 3000));
}

static struct catalog *world_catalog(struct world *w)
{
    struct catalog_options o = {.readonly = true};
    struct catalog *c = NULL;

    if (catalog_open(w->db, &o, &c) < 0)
        fail_msg("catalog %s: %s", w->db, catalog_errmsg(c));
    return c;
}

/* ---- pages ------------------------------------------------------------ */

/* Write fixture f as record id into root/rel with title suffix. */
static void write_page(const char *root, const char *rel, const struct hw_fixture *f,
                       const char *id, const char *suffix)
{
    size_t len = 0;
    char *page = hw_page(f, id, suffix, &len), *path = hw_path(root, rel);

    if (page == NULL)
        fail_msg("fixture %s has not the expected shape", f->name);
    assert_int_equal(hw_write(path, page, len), 0);
    free(page);
    free(path);
}

static const struct hw_fixture *fixture_named(const char *name)
{
    for (size_t i = 0; i < G.fx.n; i++)
        if (strcmp(G.fx.v[i].name, name) == 0)
            return &G.fx.v[i];
    fail_msg("no fixture %s", name);
    return NULL;
}

/* Write lines (NULL-ended array of n) into path, one a line. */
static void write_lines(const char *path, char *const *lines, size_t n)
{
    struct strbuf b = {0};

    for (size_t i = 0; i < n; i++)
        strbuf_addf(&b, "%s\n", lines[i]);
    assert_int_equal(hw_write(path, strbuf_str(&b), b.len), 0);
    strbuf_release(&b);
}

/* ---- catalog checks ---------------------------------------------------- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Assert that the records of source are exactly the record ids want[n]
 * (any order), each once. */
static void expect_records(struct catalog *c, const char *source, char *const *want, size_t n)
{
    struct catalog_filter f = {.source = source};
    struct strlist got = {0};
    char **exp = xcalloc(n ? n : 1, sizeof(*exp));
    char *cursor = NULL;

    do {
        struct catalog_results res = {0};

        if (catalog_search(c, &f, CATALOG_PAGE_MAX, cursor, &res) < 0)
            fail_msg("search %s: %s", source, catalog_errmsg(c));
        for (size_t i = 0; i < res.n; i++)
            strlist_add(&got,
                        res.items[i].record->record_id ? res.items[i].record->record_id : "(none)");
        free(cursor);
        cursor = xstrdup_or_null(res.next);
        catalog_results_clear(&res);
    } while (cursor);
    memcpy(exp, want, n * sizeof(*exp));
    if (got.n)
        qsort(got.v, got.n, sizeof(*got.v), cmp_str);
    if (n)
        qsort(exp, n, sizeof(*exp), cmp_str);
    if (got.n != n)
        fail_msg("source %s holds %zu records, want %zu", source, got.n, n);
    for (size_t i = 0; i < n; i++)
        if (strcmp(got.v[i], exp[i]) != 0)
            fail_msg("source %s: record %s where %s was expected (or a duplicate)", source,
                     got.v[i], exp[i]);
    free(exp);
    strlist_clear(&got);
}

/* The newest run of source, which must have finished. */
static void last_run(struct catalog *c, const char *source, struct catalog_run *run)
{
    if (catalog_run_last(c, source, run) < 0)
        fail_msg("no run of %s: %s", source, catalog_errmsg(c));
    if (run->state != CATALOG_RUN_FINISHED)
        fail_msg("run %lld of %s is %s", (long long)run->id, source,
                 catalog_run_state_name(run->state));
}

/* The fields a record's version n changed, sorted and joined by ",". */
static char *version_fields(struct catalog *c, const char *source, const char *ref, size_t n,
                            size_t *versions)
{
    struct catalog_history h = {0};
    struct strlist f = {0};
    struct strbuf b = {0};

    if (catalog_history(c, source, ref, &h) < 0)
        fail_msg("history of %s: %s", ref, catalog_errmsg(c));
    *versions = h.n;
    if (n < h.n) {
        for (size_t i = 0; i < json_array_size(h.v[n].changes); i++)
            strlist_add(
                &f, json_string_value(json_object_get(json_array_get(h.v[n].changes, i), "field")));
        if (f.n)
            qsort(f.v, f.n, sizeof(*f.v), cmp_str);
        for (size_t i = 0; i < f.n; i++)
            strbuf_addf(&b, "%s%s", i ? "," : "", f.v[i]);
    }
    strlist_clear(&f);
    catalog_history_clear(&h);
    return b.len ? strbuf_steal(&b) : xstrdup("");
}

/* The new value of field in version n of ref, as JSON text. */
static char *version_new_value(struct catalog *c, const char *source, const char *ref, size_t n,
                               const char *field)
{
    struct catalog_history h = {0};
    char *v = NULL;

    assert_int_equal(catalog_history(c, source, ref, &h), 0);
    for (size_t i = 0; n < h.n && i < json_array_size(h.v[n].changes); i++) {
        json_t *ch = json_array_get(h.v[n].changes, i);

        if (strcmp(json_string_value(json_object_get(ch, "field")), field) == 0)
            v = json_dumps(json_object_get(ch, "new"), JSON_ENCODE_ANY);
    }
    catalog_history_clear(&h);
    return v;
}

static void fetch_state(struct catalog *c, const char *url, struct catalog_fetch_state *st)
{
    memset(st, 0, sizeof(*st));
    if (catalog_fetch_get(c, url, st) < 0)
        fail_msg("no fetch state for %s: %s", url, catalog_errmsg(c));
}

static bool gone(struct catalog *c, const char *source, const char *ref)
{
    struct catalog_detail d = {0};
    bool g;

    if (catalog_show(c, source, ref, &d) < 0)
        fail_msg("record %s not found: %s", ref, catalog_errmsg(c));
    g = d.item.gone;
    catalog_detail_clear(&d);
    return g;
}

/* ---- 1. full harvest, conditional re-run, changes, gone, N24 ---------- */

#define CYCLE_RECORDS 48

/*
 * Proves, over five runs of one catalog:
 * 1. a full harvest through a sitemap stores every record exactly once,
 *    with a record reachable under two URLs (/document/<slug> and
 *    /document/<id>) merged into one record holding both URLs; every page
 *    is asked for once, unconditionally; the run counts 48 new and 12
 *    unchanged (the second URL of a merged record); exit status 0;
 * 2. a second run sends only conditional requests for record pages, each
 *    answered 304, and re-extracts nothing: not modified = 60, new,
 *    changed and unchanged 0, no new version;
 * 3. a page rewritten between runs gives a new version whose changes are
 *    exactly the fields that changed (title and summary);
 * 4. N16: a page that disappears gives 404, is not retried, and its
 *    record is kept; after the second 404 in a row it is marked gone, not
 *    deleted;
 * N24: a URL whose content switches between runs (fakesite's
 *    /fault/switch) stays one record, with a second version listing the
 *    field that changed.
 */
static void test_cycle(void **state)
{
    struct world w;
    struct hw_site *s, *sw;
    char *root, *ids[CYCLE_RECORDS], *paths[CYCLE_RECORDS + CYCLE_RECORDS / 4], *alias_of[64];
    size_t npaths = 0, nalias = 0, mark;
    int changed = -1, doomed = CYCLE_RECORDS - 1;
    const char *changed_path = NULL, *doomed_path = NULL;
    const struct hw_fixture *tel = fixture_named("rgaspi-telegram");
    struct catalog *c;
    struct catalog_run run;
    struct catalog_counts counts;
    struct hw_log log;
    char *url, *list, *sources, *fields;
    char sw_id[] = "320000", *sw_ids[] = {sw_id};
    size_t nver;

    world_init(&w, "cycle");
    s = world_site(&w, "site", NULL);
    sw = world_site(&w, "switch", NULL);
    root = xstrdup(s->root);

    /* 48 records from the fixtures; every fourth also under its id */
    for (int i = 0; i < CYCLE_RECORDS; i++) {
        const struct hw_fixture *f = &G.fx.v[(size_t)i % G.fx.n];
        char *suffix = xasprintf(" (copy %zu)", (size_t)i / G.fx.n);

        ids[i] = xasprintf("%d", 310000 + i);
        paths[npaths] = xasprintf("/document/%s-%zu", f->name, (size_t)i / G.fx.n);
        write_page(root, paths[npaths] + 1, f, ids[i], suffix);
        npaths++;
        if (i % 4 == 0) {
            paths[npaths] = xasprintf("/document/%s", ids[i]);
            write_page(root, paths[npaths] + 1, f, ids[i], suffix);
            alias_of[nalias++] = paths[npaths];
            npaths++;
        }
        if (changed < 0 && f == tel && i % 4 != 0) {
            changed = i;
            changed_path = paths[npaths - 1];
        }
        if (i == doomed)
            doomed_path = paths[npaths - 1];
        free(suffix);
    }
    /* neither has an alias: their URL is their record's only one */
    assert_true(changed >= 0 && doomed % 4 != 0);
    /* the doomed page is also listed, so it is still asked for once its
     * file (and so its sitemap entry) is gone */
    url = hw_url(s->port, doomed_path);
    list = hw_path(w.dir, "main.urls");
    write_lines(list, &url, 1);
    free(url);

    /* N24: the first request of the switch URL gets a.html, later ones
     * b.html: the same record with another summary */
    {
        size_t la = 0, lb = 0;
        char *a = hw_page(tel, "320000", " (switch)", &la), *b;
        char *pa = hw_path(sw->root, "a.html"), *pb = hw_path(sw->root, "b.html");
        char *su = hw_url(sw->port, "/fault/switch/n24?a=/a.html&b=/b.html&after=1");
        char *sl = hw_path(w.dir, "switch.urls");

        assert_non_null(a);
        b = hw_insert(a, la, "document-header", "</p>", " Switched.", &lb);
        assert_non_null(b);
        assert_int_equal(hw_write(pa, a, la), 0);
        assert_int_equal(hw_write(pb, b, lb), 0);
        write_lines(sl, &su, 1);
        sources = xasprintf("[source main]\n"
                            "sitemap = http://127.0.0.1:%u/sitemap.xml\n"
                            "urls = %s\n"
                            "delay = 0\n"
                            "concurrency = 4\n"
                            "\n"
                            "[source switch]\n"
                            "urls = %s\n"
                            "delay = 0\n",
                            s->port, list, sl);
        free(a);
        free(b);
        free(pa);
        free(pb);
        free(su);
        free(sl);
    }
    world_conf(&w, NULL, sources);

    /* 1. the full harvest */
    mark = hw_log_lines(s->log);
    world_once(&w, 0);
    c = world_catalog(&w);
    expect_records(c, "main", ids, CYCLE_RECORDS);
    expect_records(c, "switch", sw_ids, 1);
    assert_int_equal(catalog_counts(c, "main", &counts), 0);
    assert_int_equal(counts.records, CYCLE_RECORDS);
    assert_int_equal(counts.urls, (int64_t)npaths);
    assert_int_equal(counts.versions, CYCLE_RECORDS);
    for (size_t k = 0; k < nalias; k++) {
        struct catalog_detail d = {0};
        char *u = hw_url(s->port, alias_of[k]);

        if (catalog_show(c, "main", u, &d) < 0)
            fail_msg("alias %s leads to no record: %s", u, catalog_errmsg(c));
        assert_int_equal(d.urls.n, 2);
        assert_string_equal(d.item.record->record_id, alias_of[k] + strlen("/document/"));
        catalog_detail_clear(&d);
        free(u);
    }
    last_run(c, "main", &run);
    assert_int_equal(run.counts.n_new, CYCLE_RECORDS);
    assert_int_equal(run.counts.n_unchanged, nalias);
    assert_int_equal(run.counts.n_changed, 0);
    catalog_run_clear(&run);
    assert_int_equal(hw_log_read(s->log, mark, &log), 0);
    assert_true(log.n > 0);
    assert_string_equal(log.v[0].path, "/robots.txt");
    for (size_t k = 0; k < npaths; k++) {
        assert_int_equal(hw_log_count(&log, paths[k]), 1);
        for (size_t i = 0; i < log.n; i++)
            if (strcmp(log.v[i].path, paths[k]) == 0) {
                assert_false(log.v[i].cond);
                assert_int_equal(log.v[i].status, 200);
            }
    }
    hw_log_free(&log);
    catalog_close(c);

    /* 2. nothing changed: only conditional requests, nothing extracted */
    mark = hw_log_lines(s->log);
    world_once(&w, 0);
    assert_int_equal(hw_log_read(s->log, mark, &log), 0);
    for (size_t k = 0; k < npaths; k++)
        assert_int_equal(hw_log_count(&log, paths[k]), 1);
    for (size_t i = 0; i < log.n; i++) {
        if (strncmp(log.v[i].path, "/document/", 10) != 0)
            continue;
        if (!log.v[i].cond || log.v[i].status != 304)
            fail_msg("second run: %s asked %s, answered %d", log.v[i].path,
                     log.v[i].cond ? "conditionally" : "unconditionally", log.v[i].status);
    }
    hw_log_free(&log);
    c = world_catalog(&w);
    last_run(c, "main", &run);
    assert_int_equal(run.counts.n_not_modified, npaths);
    assert_int_equal(run.counts.n_new, 0);
    assert_int_equal(run.counts.n_changed, 0);
    assert_int_equal(run.counts.n_unchanged, 0);
    catalog_run_clear(&run);
    assert_int_equal(catalog_counts(c, "main", &counts), 0);
    assert_int_equal(counts.versions, CYCLE_RECORDS);
    /* N24: one row, a second version with the changed field */
    expect_records(c, "switch", sw_ids, 1);
    fields = version_fields(c, "switch", "320000", 1, &nver);
    assert_int_equal(nver, 2);
    assert_string_equal(fields, "summary");
    free(fields);
    last_run(c, "switch", &run);
    assert_int_equal(run.counts.n_changed, 1);
    catalog_run_clear(&run);
    catalog_close(c);

    /* 3. one page rewritten: a new version with exactly its changes */
    {
        const char *rel = changed_path;
        char *p = hw_path(root, rel + 1), *page, *t, *v, *suffix;
        size_t len = 0, lt = 0, lv = 0;

        suffix = xasprintf(" (copy %zu)", (size_t)changed / G.fx.n);
        page = hw_page(tel, ids[changed], suffix, &len);
        free(suffix);
        t = hw_insert(page, len, "document-header", "</h1>", " revised", &lt);
        v = hw_insert(t, lt, "document-header", "</p>", " Revised.", &lv);
        assert_non_null(v);
        assert_int_equal(hw_write(p, v, lv), 0);
        mark = hw_log_lines(s->log);
        world_once(&w, 0);
        assert_int_equal(hw_log_read(s->log, mark, &log), 0);
        for (size_t i = 0; i < log.n; i++) {
            if (strncmp(log.v[i].path, "/document/", 10) != 0)
                continue;
            assert_true(log.v[i].cond);
            assert_int_equal(log.v[i].status, strcmp(log.v[i].path, rel) == 0 ? 200 : 304);
        }
        hw_log_free(&log);
        c = world_catalog(&w);
        fields = version_fields(c, "main", ids[changed], 1, &nver);
        assert_int_equal(nver, 2);
        assert_string_equal(fields, "summary,title");
        free(fields);
        fields = version_new_value(c, "main", ids[changed], 1, "title");
        assert_non_null(fields);
        assert_non_null(strstr(fields, ") revised"));
        free(fields);
        last_run(c, "main", &run);
        assert_int_equal(run.counts.n_changed, 1);
        assert_int_equal(run.counts.n_not_modified, npaths - 1);
        assert_int_equal(run.counts.n_new, 0);
        catalog_run_clear(&run);
        assert_int_equal(catalog_counts(c, "main", &counts), 0);
        assert_int_equal(counts.versions, CYCLE_RECORDS + 1);
        catalog_close(c);
        free(page);
        free(t);
        free(v);
        free(p);
    }

    /* 4. N16: the doomed page goes away; gone after the second 404 */
    {
        const char *rel = doomed_path;
        char *p = hw_path(root, rel + 1);
        struct catalog_fetch_state st;

        assert_int_equal(unlink(p), 0);
        free(p);
        url = hw_url(s->port, rel);
        for (int round = 1; round <= 2; round++) {
            mark = hw_log_lines(s->log);
            world_once(&w, 0);
            assert_int_equal(hw_log_read(s->log, mark, &log), 0);
            assert_int_equal(hw_log_count(&log, rel), 1); /* 404 is not retried */
            hw_log_free(&log);
            c = world_catalog(&w);
            fetch_state(c, url, &st);
            assert_int_equal(st.last_status, 404);
            assert_true(st.record != 0);
            catalog_fetch_state_clear(&st);
            assert_int_equal(gone(c, "main", ids[doomed]), round == 2);
            assert_int_equal(catalog_counts(c, "main", &counts), 0);
            assert_int_equal(counts.records, CYCLE_RECORDS); /* kept, not deleted */
            assert_int_equal(counts.gone, round == 2 ? 1 : 0);
            catalog_close(c);
        }
        free(url);
    }

    for (size_t k = 0; k < npaths; k++)
        free(paths[k]);
    for (int i = 0; i < CYCLE_RECORDS; i++)
        free(ids[i]);
    free(list);
    free(sources);
    free(root);
    world_free(&w);
}

/* ---- 2. politeness ----------------------------------------------------- */

#define POLITE_DELAY_MS  150
#define POLITE_PARALLEL  3   /* the source's concurrency */
#define POLITE_SLOW_MS   400 /* /fault/delay: replies this late */
#define POLITE_SLOW_URLS 6
#define POLITE_RECORDS   10
#define POLITE_PRIVATE   3
#define CRAWL_DELAY_MS   400
#define CRAWL_RECORDS    5

/* The least gap between request starts a frontier with this delay may
 * leave, less the slack between provd's start and fakesite's log. */
static long least_gap(long delay_ms)
{
    return delay_ms / 2;
}

/* The requests of l from first on spread over at least their delays. */
static void check_span(const struct hw_log *l, size_t first, long delay_ms, const char *what)
{
    double span;
    long need;

    if (l->n < first + 2)
        return;
    span = l->v[l->n - 1].ms - l->v[first].ms;
    need = (long)(l->n - first - 1) * delay_ms - GAP_SLACK_MS;
    print_message("%s: %zu requests over %.0f ms (at least %ld)\n", what, l->n - first, span, need);
    if (span < need)
        fail_msg("%s: %zu requests in %.0f ms; a delay of %ld ms needs %ld", what, l->n - first,
                 span, delay_ms, need);
}

/*
 * Proves, from fakesite's request log (not by sleeping), with two sources
 * harvested at once by one `provd --once`:
 * - robots.txt is the first request to each host, and its Disallow is
 *   obeyed: the disallowed pages (listed in the sitemap) are never asked
 *   for, and each ends as ROBOTS_DISALLOWED in its fetch state;
 * - no two requests to a host start closer than the delay (150 ms
 *   configured);
 * - never more than `concurrency` (3) transfers in flight to the host:
 *   /fault/delay/400 pages hold each transfer open for 400 ms, so any
 *   request arriving while three of them are unanswered would be a
 *   fourth in flight; and three are in flight at times: the limit is
 *   used, not cut short by a connection cap below it (which would also
 *   queue transfers inside libcurl and start them later than the
 *   frontier allowed);
 * - robots.txt's Crawl-delay (0.4 s) beats a shorter configured delay on
 *   the second host;
 * - every request names provd and the configured contact in its
 *   User-Agent.
 */
static void test_politeness(void **state)
{
    static const char *const polite_args[] = {"--robots-disallow", "/private/", NULL};
    static const char *const crawl_args[] = {"--crawl-delay", "0.4", NULL};
    struct world w;
    struct hw_site *a, *b;
    char *ids[POLITE_RECORDS], *cids[CRAWL_RECORDS], *slow[POLITE_SLOW_URLS], *list, *sources;
    char *priv[POLITE_PRIVATE];
    struct catalog *c;
    struct hw_log log;
    long min_gap = -1, max_flight = 0;

    world_init(&w, "polite");
    a = world_site(&w, "polite", polite_args);
    b = world_site(&w, "crawl", crawl_args);
    for (int i = 0; i < POLITE_RECORDS; i++) {
        char *rel = xasprintf("document/pol-%d", i);

        ids[i] = xasprintf("%d", 340000 + i);
        write_page(a->root, rel, &G.fx.v[(size_t)i % G.fx.n], ids[i], "");
        free(rel);
    }
    for (int i = 0; i < POLITE_PRIVATE; i++) {
        char *rel = xasprintf("/private/p-%d", i), *id = xasprintf("%d", 341000 + i);

        write_page(a->root, rel + 1, &G.fx.v[(size_t)i % G.fx.n], id, "");
        priv[i] = hw_url(a->port, rel);
        free(rel);
        free(id);
    }
    for (int i = 0; i < CRAWL_RECORDS; i++) {
        char *rel = xasprintf("document/crawl-%d", i);

        cids[i] = xasprintf("%d", 342000 + i);
        write_page(b->root, rel, &G.fx.v[(size_t)i % G.fx.n], cids[i], "");
        free(rel);
    }
    for (int i = 0; i < POLITE_SLOW_URLS; i++) {
        char *rel = xasprintf("/fault/delay/%d?n=%d", POLITE_SLOW_MS, i);

        slow[i] = hw_url(a->port, rel);
        free(rel);
    }
    list = hw_path(w.dir, "slow.urls");
    write_lines(list, slow, POLITE_SLOW_URLS);
    sources = xasprintf("[source polite]\n"
                        "urls = %s\n"
                        "sitemap = http://127.0.0.1:%u/sitemap.xml\n"
                        "delay = %dms\n"
                        "concurrency = %d\n"
                        "\n"
                        "[source crawl]\n"
                        "sitemap = http://127.0.0.1:%u/sitemap.xml\n"
                        "delay = 50ms\n"
                        "concurrency = 1\n",
                        list, a->port, POLITE_DELAY_MS, POLITE_PARALLEL, b->port);
    world_conf(&w, NULL, sources);
    world_once(&w, 0);

    c = world_catalog(&w);
    expect_records(c, "polite", ids, POLITE_RECORDS);
    expect_records(c, "crawl", cids, CRAWL_RECORDS);
    for (int i = 0; i < POLITE_PRIVATE; i++) {
        struct catalog_fetch_state st;

        fetch_state(c, priv[i], &st);
        assert_int_equal(st.error, PROV_ROBOTS_DISALLOWED);
        assert_int_equal(st.record, 0);
        catalog_fetch_state_clear(&st);
    }
    catalog_close(c);

    /* the first host: robots.txt first, Disallow, gaps, concurrency */
    assert_int_equal(hw_log_read(a->log, 0, &log), 0);
    assert_true(log.n >= 2 + POLITE_RECORDS + POLITE_SLOW_URLS);
    assert_string_equal(log.v[0].path, "/robots.txt");
    for (size_t i = 0; i < log.n; i++) {
        long flight = 1;

        if (strncmp(log.v[i].path, "/private/", 9) == 0)
            fail_msg("%s was asked for although robots.txt disallows it", log.v[i].path);
        if (strstr(log.v[i].ua, "provd/") == NULL || strstr(log.v[i].ua, CONTACT) == NULL)
            fail_msg("User-Agent '%s' does not name provd and its contact", log.v[i].ua);
        if (i > 0 && (min_gap < 0 || log.v[i].ms - log.v[i - 1].ms < min_gap))
            min_gap = (long)(log.v[i].ms - log.v[i - 1].ms);
        /* earlier slow requests still unanswered when this one arrived */
        for (size_t k = 0; k < i; k++)
            if (strncmp(log.v[k].path, "/fault/delay/", 13) == 0 &&
                log.v[k].ms + POLITE_SLOW_MS - 5 > log.v[i].ms)
                flight++;
        if (flight > max_flight)
            max_flight = flight;
    }
    print_message("polite host: %zu requests, least gap %ld ms (delay %d ms), at most %ld in "
                  "flight\n",
                  log.n, min_gap, POLITE_DELAY_MS, max_flight);
    if (min_gap < least_gap(POLITE_DELAY_MS))
        fail_msg("two requests started %ld ms apart; delay is %d ms", min_gap, POLITE_DELAY_MS);
    check_span(&log, 0, POLITE_DELAY_MS, "polite host");
    assert_int_equal(max_flight, POLITE_PARALLEL);
    hw_log_free(&log);

    /* the second host: Crawl-delay 0.4 s over delay 50 ms */
    min_gap = -1;
    assert_int_equal(hw_log_read(b->log, 0, &log), 0);
    assert_int_equal(log.n, 2 + CRAWL_RECORDS);
    assert_string_equal(log.v[0].path, "/robots.txt");
    for (size_t i = 1; i < log.n; i++)
        if (min_gap < 0 || log.v[i].ms - log.v[i - 1].ms < min_gap)
            min_gap = (long)(log.v[i].ms - log.v[i - 1].ms);
    print_message("crawl-delay host: least gap %ld ms (Crawl-delay %d ms)\n", min_gap,
                  CRAWL_DELAY_MS);
    if (min_gap < least_gap(CRAWL_DELAY_MS))
        fail_msg("two requests started %ld ms apart; Crawl-delay is %d ms", min_gap,
                 CRAWL_DELAY_MS);
    /* from the first page: robots.txt comes before the Crawl-delay is known */
    check_span(&log, 1, CRAWL_DELAY_MS, "crawl-delay host");
    hw_log_free(&log);

    for (int i = 0; i < POLITE_RECORDS; i++)
        free(ids[i]);
    for (int i = 0; i < CRAWL_RECORDS; i++)
        free(cids[i]);
    for (int i = 0; i < POLITE_SLOW_URLS; i++)
        free(slow[i]);
    for (int i = 0; i < POLITE_PRIVATE; i++)
        free(priv[i]);
    free(list);
    free(sources);
    world_free(&w);
}

/* ---- 3. the fault rows ------------------------------------------------- */

#define FAULT_SITES 8
#define FAULT_GOOD  2 /* record pages per site */

enum fault_via {
    VIA_PATH,  /* a path on the site's HTTP port */
    VIA_RAW,   /* a redirect to a path on the site's raw port */
    VIA_URL,   /* a redirect to url (%u: nothing) */
    VIA_HOLE,  /* a redirect to the port whose accept queue is full */
    VIA_HTTPS, /* a redirect to https on the site's raw port */
};

struct fault {
    const char *row;
    unsigned site;
    enum fault_via via;
    const char *target;
    enum prov_category want, alt; /* alt: also right (PROV_OK: none) */
    unsigned attempts;            /* requests in the log; 0: one or two */
    long gap_ms;                  /* least gap between the attempts */
};

/* Retryable faults (CONNECT, TIMEOUT, TOO_SLOW, DNS, HTTP_PROTOCOL,
 * HTTP_5XX, RATE_LIMITED, PARTIAL_BODY, BLOCKED) are spread so that no
 * host sees five failures in a row, which would pause it for minutes
 * (frontier: pause_after 5). Back-off is 1 s ± 15 %; Retry-After is
 * honoured exactly. */
static const struct fault faults[] = {
    {"N1", 0, VIA_URL, "http://127.0.0.1:1/", PROV_CONNECT, PROV_OK, 2, 700},
    {"N2", 0, VIA_HOLE, NULL, PROV_TIMEOUT, PROV_OK, 2, 700},
    {"N7", 0, VIA_RAW, "/overlong", PROV_EXTRACT_EMPTY, PROV_OK, 1, 0},
    {"N17", 0, VIA_PATH, "/fault/type?ct=application/xml", PROV_CONTENT_TYPE, PROV_OK, 1, 0},
    {"N3", 1, VIA_RAW, "/silent", PROV_TOO_SLOW, PROV_TIMEOUT, 2, 700},
    {"N4", 1, VIA_PATH, "/fault/trickle/500?bytes=200", PROV_TOO_SLOW, PROV_OK, 2, 700},
    {"N5", 1, VIA_PATH, "/fault/chunked-endless", PROV_TOO_LARGE, PROV_OK, 1, 0},
    {"N6", 2, VIA_RAW, "/truncated", PROV_PARTIAL_BODY, PROV_OK, 2, 700},
    {"N21", 2, VIA_RAW, "/reset", PROV_PARTIAL_BODY, PROV_CONNECT, 2, 700},
    {"N8", 2, VIA_PATH, "/fault/gzip-bomb", PROV_TOO_LARGE, PROV_OK, 1, 0},
    {"N9", 3, VIA_PATH, "/fault/encodings", PROV_HTTP_PROTOCOL, PROV_OK, 2, 700},
    {"N22", 3, VIA_RAW, "/garbage", PROV_HTTP_PROTOCOL, PROV_OK, 2, 700},
    {"N10", 3, VIA_PATH, "/fault/loop/0", PROV_TOO_MANY_REDIRECTS, PROV_OK, 1, 0},
    {"N14", 4, VIA_PATH, "/fault/429/2", PROV_RATE_LIMITED, PROV_OK, 2, 1800},
    {"N13", 4, VIA_RAW, "/huge-headers", PROV_TOO_LARGE, PROV_HTTP_PROTOCOL, 0, 0},
    {"N17", 4, VIA_PATH, "/fault/type", PROV_CONTENT_TYPE, PROV_OK, 1, 0},
    {"N14", 5, VIA_PATH, "/fault/429-date/3", PROV_RATE_LIMITED, PROV_OK, 2, 1800},
    /* 429 once, then a page (which is no record page) */
    {"N14", 5, VIA_PATH, "/fault/fail/429/1/n14?retry-after=2", PROV_EXTRACT_EMPTY, PROV_OK, 2,
     1800},
    /* 503 once, then a page */
    {"N15", 5, VIA_PATH, "/fault/fail/503/1/n15", PROV_EXTRACT_EMPTY, PROV_OK, 2, 700},
    {"N11", 5, VIA_URL, "file:///etc/passwd", PROV_PROTOCOL_DENIED, PROV_OK, 1, 0},
    {"N17", 5, VIA_PATH, "/fault/type?ct=application/octet-stream", PROV_CONTENT_TYPE, PROV_OK, 1,
     0},
    {"N15", 6, VIA_PATH, "/fault/fail/503/99/n15", PROV_HTTP_5XX, PROV_OK, 2, 700},
    {"BLOCKED", 6, VIA_PATH, "/fault/challenge", PROV_BLOCKED, PROV_OK, 2, 700},
    /* 1 or 2 requests: when the redirect's first hop opened a new
     * connection, fetch.c reports the denied second hop as CONNECT (its
     * rule wants no socket opened in the whole transfer), which is
     * retried; the retry, on a reused connection, is PROTOCOL_DENIED */
    {"N12", 6, VIA_URL, "http://127.0.0.2:80/", PROV_PROTOCOL_DENIED, PROV_OK, 0, 0},
    {"N17", 6, VIA_PATH, "/fault/type?ct=text/plain", PROV_CONTENT_TYPE, PROV_OK, 1, 0},
    {"N19", 7, VIA_HTTPS, NULL, PROV_TIMEOUT, PROV_TLS, 2, 700},
    {"N20", 7, VIA_URL, "http://x.invalid/", PROV_DNS, PROV_OK, 2, 700},
    {"N16", 7, VIA_PATH, "/fault/status/404", PROV_HTTP_4XX, PROV_OK, 1, 0},
    {"N17", 7, VIA_PATH, "/fault/type?ct=image/png", PROV_CONTENT_TYPE, PROV_OK, 1, 0},
};

#define NFAULTS (sizeof(faults) / sizeof(faults[0]))

/* Percent-encode s for a query value. */
static char *query_escape(const char *s)
{
    struct strbuf b = {0};

    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;

        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
            ch == '-' || ch == '.' || ch == '_' || ch == '~')
            strbuf_addc(&b, (char)ch);
        else
            strbuf_addf(&b, "%%%02X", ch);
    }
    return strbuf_steal(&b);
}

/* A listening socket on 127.0.0.1 whose accept queue is full, so that
 * the kernel drops further SYNs (N2); -1 when this kernel answers them
 * anyway. fill[8] receives the connections that fill it. */
static int connect_hole(unsigned *port, int fill[8])
{
    struct sockaddr_in sin = {.sin_family = AF_INET};
    socklen_t sl = sizeof(sin);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), probe;
    bool dropped = false;

    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (int i = 0; i < 8; i++)
        fill[i] = -1;
    if (fd < 0 || bind(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0 || listen(fd, 0) != 0 ||
        getsockname(fd, (struct sockaddr *)&sin, &sl) != 0)
        goto fail;
    *port = ntohs(sin.sin_port);
    for (int i = 0; i < 8; i++) {
        fill[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fill[i] >= 0)
            connect(fill[i], (struct sockaddr *)&sin, sizeof(sin));
    }
    hw_sleep_ms(50);
    probe = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (probe >= 0 && connect(probe, (struct sockaddr *)&sin, sizeof(sin)) != 0 &&
        errno == EINPROGRESS) {
        struct pollfd pfd = {probe, POLLOUT, 0};

        dropped = poll(&pfd, 1, 300) == 0;
    }
    if (probe >= 0)
        close(probe);
    if (dropped)
        return fd;
fail:
    for (int i = 0; i < 8; i++)
        if (fill[i] >= 0)
            close(fill[i]);
    if (fd >= 0)
        close(fd);
    return -1;
}

/* The URL of fault f on site s, as provd lists it (normalised). */
static char *fault_url(const struct fault *f, const struct hw_site *s, unsigned hole)
{
    char *to = NULL, *esc, *raw, *norm;
    const char *reason;

    switch (f->via) {
    case VIA_PATH:
        raw = hw_url(s->port, f->target);
        goto normalise;
    case VIA_RAW:
        to = xasprintf("http://127.0.0.1:%u%s", s->raw, f->target);
        break;
    case VIA_URL:
        to = xstrdup(f->target);
        break;
    case VIA_HOLE:
        to = xasprintf("http://127.0.0.1:%u/", hole);
        break;
    case VIA_HTTPS:
        to = xasprintf("https://127.0.0.1:%u/", s->raw);
        break;
    }
    esc = query_escape(to);
    raw = xasprintf("http://127.0.0.1:%u/fault/redirect?to=%s", s->port, esc);
    free(esc);
    free(to);
normalise:
    norm = discover_url_normalize(raw, 0, &reason);
    if (norm == NULL)
        fail_msg("%s: %s", raw, reason);
    free(raw);
    return norm;
}

/* Arrival times (ms) of the requests for path in l, in order, into t[8];
 * returns how many. */
static size_t arrivals(const struct hw_log *l, const char *path, long long t[8])
{
    size_t n = 0;

    for (size_t i = 0; i < l->n && n < 8; i++)
        if (strcmp(l->v[i].path, path) == 0)
            t[n++] = l->v[i].ms;
    return n;
}

/*
 * Proves each applicable fault row of RELIABILITY.md N1-N24 ends as its
 * row says when provd harvests it (--once, retries = 2, connect timeout
 * 1 s, low-speed time 1 s, page cap 1 MiB): a URL list mixes good record
 * pages with fault URLs on eight fakesites (raw-socket faults and other
 * addresses reached through a redirect, so that robots.txt is fetched
 * from a healthy host). For every fault URL the catalog's fetch state
 * holds the row's category, and no record; retryable faults were asked
 * for `retries` times, spaced by the back-off (≥ 0.7 s for 1 s ± 15 %) or by Retry-After
 * (≥ 1.8 s for 2 s), and final ones (404, size, protocol and type
 * refusals) once; nothing of a failed fetch is stored (only the good
 * pages are records); and provd exits 0, having run the source. N18
 * (certificates) needs a TLS server and N23 many ports: test_fetch covers
 * those at the fetch layer; N24 is in test_cycle.
 */
static void test_faults(void **state)
{
    struct world w;
    char *urls[NFAULTS + FAULT_SITES * FAULT_GOOD], *ids[FAULT_SITES * FAULT_GOOD];
    char *furl[NFAULTS] = {0}, *list, *sources;
    size_t nurls = 0, nids = 0;
    unsigned hole = 0;
    int fill[8], hole_fd = connect_hole(&hole, fill);
    struct catalog *c;

    world_init(&w, "faults");
    if (hole_fd >= 0)
        strbuf_addf(&w.allow, "127.0.0.1:%u", hole);
    else
        print_message("N2 skipped: this kernel answers SYNs past a full accept queue\n");
    strbuf_addf(&w.allow, "%s127.0.0.1:1", w.allow.len ? ", " : "");
    for (unsigned k = 0; k < FAULT_SITES; k++) {
        char *name = xasprintf("f%u", k);
        struct hw_site *s = world_site(&w, name, NULL);

        for (int g = 0; g < FAULT_GOOD; g++) {
            char *rel = xasprintf("/document/good-%u-%d", k, g);

            ids[nids] = xasprintf("%u", 350000 + k * 10 + (unsigned)g);
            write_page(s->root, rel + 1, &G.fx.v[nids % G.fx.n], ids[nids], "");
            urls[nurls++] = hw_url(s->port, rel);
            nids++;
            free(rel);
        }
        free(name);
    }
    for (size_t i = 0; i < NFAULTS; i++) {
        if (faults[i].via == VIA_HOLE && hole_fd < 0)
            continue;
        furl[i] = fault_url(&faults[i], &w.site[faults[i].site], hole);
        urls[nurls++] = xstrdup(furl[i]);
    }
    list = hw_path(w.dir, "faults.urls");
    write_lines(list, urls, nurls);
    sources = xasprintf("[source faults]\n"
                        "urls = %s\n"
                        "delay = 50ms\n"
                        "concurrency = 2\n",
                        list);
    world_conf(&w, NULL, sources);
    world_once(&w, 0);

    c = world_catalog(&w);
    /* nothing of a failed fetch is stored */
    expect_records(c, "faults", ids, nids);
    for (size_t i = 0; i < NFAULTS; i++) {
        const struct fault *f = &faults[i];
        const struct hw_site *s = &w.site[f->site];
        struct catalog_fetch_state st;
        const char *path;
        struct hw_log log;
        long long t[8];
        char gap[48];
        size_t n;

        if (furl[i] == NULL)
            continue;
        fetch_state(c, furl[i], &st);
        if (st.error != f->want && (f->alt == PROV_OK || st.error != f->alt))
            fail_msg("%s %s: stored %s (%s), want %s", f->row, furl[i],
                     prov_category_name(st.error), st.error_message ? st.error_message : "",
                     prov_category_name(f->want));
        if (st.record != 0)
            fail_msg("%s %s leads to a record", f->row, furl[i]);
        if (f->want == PROV_HTTP_4XX)
            assert_int_equal(st.last_status, 404);
        /* attempts and their spacing, from the site's log */
        path = strchr(furl[i] + strlen("http://"), '/');
        assert_int_equal(hw_log_read(s->log, 0, &log), 0);
        n = arrivals(&log, path, t);
        hw_log_free(&log);
        if (f->attempts && n != f->attempts)
            fail_msg("%s %s: asked for %zu times, want %u", f->row, path, n, f->attempts);
        if (f->attempts == 0 && (n < 1 || n > 2))
            fail_msg("%s %s: asked for %zu times", f->row, path, n);
        if (n == 2 && f->gap_ms && t[1] - t[0] < f->gap_ms)
            fail_msg("%s %s: attempts %lld ms apart, want at least %ld", f->row, path, t[1] - t[0],
                     f->gap_ms);
        if (n == 2)
            snprintf(gap, sizeof(gap), ", %lld ms apart", t[1] - t[0]);
        else
            gap[0] = '\0';
        print_message("%-7s %-58.58s %s, %zu request%s%s\n", f->row, path,
                      prov_category_name(st.error), n, n == 1 ? "" : "s", gap);
        catalog_fetch_state_clear(&st);
    }
    catalog_close(c);

    if (hole_fd >= 0) {
        for (int i = 0; i < 8; i++)
            if (fill[i] >= 0)
                close(fill[i]);
        close(hole_fd);
    }
    for (size_t i = 0; i < nurls; i++)
        free(urls[i]);
    for (size_t i = 0; i < nids; i++)
        free(ids[i]);
    for (size_t i = 0; i < NFAULTS; i++)
        free(furl[i]);
    free(list);
    free(sources);
    world_free(&w);
}

/* ---- 4. SIGKILL part-way, then resume ---------------------------------- */

#define RESUME_PAGES   200
#define RESUME_KILL_AT 50

/*
 * Proves that a run killed with SIGKILL part-way resumes: provd --once
 * harvests 200 pages (delay 20 ms) and is killed once 50 or more records
 * are stored; the catalog then holds the run as unfinished. A second
 * `provd --once` continues that run (same id, no new run), asks only for
 * the pages not yet stored (exactly 200 − stored, each once), and ends
 * with every record exactly once, the run finished with 200 new records,
 * and integrity_check ok.
 */
static void test_resume(void **state)
{
    struct world w;
    struct hw_site *s;
    char *ids[RESUME_PAGES], *sources;
    const char *argv[5];
    struct catalog *c = NULL;
    struct catalog_counts counts = {0};
    struct catalog_run run;
    int64_t unfinished = 0;
    size_t mark, asked = 0;
    struct hw_log log;
    pid_t pid;

    world_init(&w, "resume");
    s = world_site(&w, "site", NULL);
    for (int i = 0; i < RESUME_PAGES; i++) {
        char *rel = xasprintf("document/r-%03d", i);

        ids[i] = xasprintf("%d", 360000 + i);
        write_page(s->root, rel, &G.fx.v[(size_t)i % G.fx.n], ids[i], "");
        free(rel);
    }
    sources = xasprintf("[source resume]\n"
                        "sitemap = http://127.0.0.1:%u/sitemap.xml\n"
                        "delay = 20ms\n"
                        "concurrency = 1\n",
                        s->port);
    world_conf(&w, NULL, sources);

    argv[0] = G.provd;
    argv[1] = "-c";
    argv[2] = w.conf;
    argv[3] = "--once";
    argv[4] = NULL;
    pid = hw_spawn(argv, w.out);
    assert_true(pid > 0);
    for (int waited = 0; counts.records < RESUME_KILL_AT; waited += 20) {
        struct catalog_options o = {.readonly = true};

        if (waited > 60000 || hw_wait(pid, 0, NULL) == 0) {
            hw_kill(pid);
            fail_msg("provd stored %lld records in %d ms and %s", (long long)counts.records, waited,
                     waited > 60000 ? "is still running" : "exited");
        }
        hw_sleep_ms(20);
        if (c == NULL && access(w.db, F_OK) == 0 && catalog_open(w.db, &o, &c) < 0) {
            catalog_close(c);
            c = NULL;
        }
        if (c && catalog_counts(c, "resume", &counts) < 0)
            memset(&counts, 0, sizeof(counts));
    }
    /* Count again on a connection opened after the kill: a commit whose
     * WAL frames were written, but not yet indexed in the -shm file, when
     * provd died is durable; only a connection that recovers the WAL
     * index (the first to open it) sees it. */
    catalog_close(c);
    hw_kill(pid);
    c = world_catalog(&w);
    assert_int_equal(catalog_counts(c, "resume", &counts), 0);
    assert_true(counts.records < RESUME_PAGES);
    assert_int_equal(catalog_run_unfinished(c, "resume", &unfinished), 0);
    catalog_close(c);
    print_message("killed with %lld of %d records stored (run %lld)\n", (long long)counts.records,
                  RESUME_PAGES, (long long)unfinished);

    mark = hw_log_lines(s->log);
    world_once(&w, 0);
    c = world_catalog(&w);
    expect_records(c, "resume", ids, RESUME_PAGES);
    last_run(c, "resume", &run);
    assert_int_equal(run.id, unfinished);
    assert_int_equal(run.counts.n_new, RESUME_PAGES);
    catalog_run_clear(&run);
    {
        struct catalog_counts after;

        assert_int_equal(catalog_counts(c, "resume", &after), 0);
        assert_int_equal(after.runs, 1);
        assert_int_equal(after.records, RESUME_PAGES);
    }
    if (catalog_check(c, true) < 0)
        fail_msg("integrity: %s", catalog_errmsg(c));
    catalog_close(c);

    assert_int_equal(hw_log_read(s->log, mark, &log), 0);
    for (size_t i = 0; i < log.n; i++) {
        if (strncmp(log.v[i].path, "/document/", 10) != 0)
            continue;
        asked++;
        assert_int_equal(hw_log_count(&log, log.v[i].path), 1);
    }
    hw_log_free(&log);
    print_message("the resumed run asked for %zu pages\n", asked);
    assert_int_equal(asked, RESUME_PAGES - counts.records);

    for (int i = 0; i < RESUME_PAGES; i++)
        free(ids[i]);
    free(sources);
    world_free(&w);
}

/* ---- 5. politeness per host across sources and single pages ---------- */

#define SHARED_DELAY_MS 250
#define SHARED_PARALLEL 2   /* both sources' concurrency */
#define SHARED_SLOW_MS  600 /* /fault/delay: replies this late */
#define SHARED_PAGES    6   /* sh-0..2 for a, sh-3..4 for b, sh-5 asked alone */

/* Check the requests of l from first on: consecutive arrivals at least the
 * delay apart (less the slack), never more than SHARED_PARALLEL slow
 * transfers unanswered; returns the most in flight. */
static long shared_check(const struct hw_log *l, size_t first, const char *what)
{
    long min_gap = -1, max_flight = 0;

    for (size_t i = first; i < l->n; i++) {
        long flight = 1;

        if (i > first && (min_gap < 0 || l->v[i].ms - l->v[i - 1].ms < min_gap))
            min_gap = (long)(l->v[i].ms - l->v[i - 1].ms);
        for (size_t k = first; k < i; k++)
            if (strncmp(l->v[k].path, "/fault/delay/", 13) == 0 &&
                l->v[k].ms + SHARED_SLOW_MS - 5 > l->v[i].ms)
                flight++;
        if (flight > max_flight)
            max_flight = flight;
    }
    print_message("%s: %zu requests, least gap %ld ms (delay %d ms), at most %ld in flight\n", what,
                  l->n - first, min_gap, SHARED_DELAY_MS, max_flight);
    if (min_gap < least_gap(SHARED_DELAY_MS))
        fail_msg("%s: two requests to the host started %ld ms apart; delay is %d ms", what, min_gap,
                 SHARED_DELAY_MS);
    check_span(l, first, SHARED_DELAY_MS, what);
    if (max_flight > SHARED_PARALLEL)
        fail_msg("%s: %ld transfers in flight to the host; concurrency is %d", what, max_flight,
                 SHARED_PARALLEL);
    return max_flight;
}

/* POST /v1/harvest with body on w's socket; the reply's status. */
static int shared_post(struct world *w, const char *body)
{
    struct daemon_http_reply r = {0};
    char *sock = hw_path(w->dir, "provd.sock");
    int status;

    daemon_http_request(sock, "POST", "/v1/harvest", body, 5000, &r);
    status = r.status;
    if (status != 202)
        print_message("POST /v1/harvest %s: %d %s\n", body ? body : "", status,
                      r.body ? r.body : "");
    daemon_http_reply_clear(&r);
    free(sock);
    return status;
}

/*
 * Proves, from fakesite's request log, that politeness belongs to the
 * host, not to the run (issue 4):
 * - two sources naming one host, each with delay 250 ms and concurrency
 *   2, harvested at the same time by one `provd --once`: consecutive
 *   request starts to the host are at least 250 ms apart (less the slack
 *   above) and at most two transfers are in flight, /fault/delay/600
 *   pages holding transfers open — where separate frontiers would each
 *   keep their own pace and allow four; robots.txt is asked for once;
 * - the daemon, both sources re-harvested on request and a single page
 *   (POST /v1/harvest with source and url) asked for while their runs go
 *   on: the page waits its turn like every other request to the host.
 */
static void test_shared_host(void **state)
{
    struct world w;
    struct hw_site *s;
    char *ids[SHARED_PAGES], *a_urls[5], *b_urls[3], *a_list, *b_list, *sources, *one, *body;
    char *esc;
    const char *argv[4];
    struct hw_log log;
    struct catalog *c;
    size_t mark, at_one = 0;
    pid_t pid;
    int up = 0;

    world_init(&w, "shared");
    s = world_site(&w, "site", NULL);
    for (int i = 0; i < SHARED_PAGES; i++) {
        char *rel = xasprintf("document/sh-%d", i);

        ids[i] = xasprintf("%d", 370000 + i);
        write_page(s->root, rel, &G.fx.v[(size_t)i % G.fx.n], ids[i], "");
        free(rel);
    }
    for (int i = 0; i < 3; i++) {
        char *rel = xasprintf("/document/sh-%d", i);

        a_urls[i] = hw_url(s->port, rel);
        free(rel);
    }
    for (int i = 0; i < 2; i++) {
        char *rel = xasprintf("/fault/delay/%d?n=a%d", SHARED_SLOW_MS, i);

        a_urls[3 + i] = hw_url(s->port, rel);
        free(rel);
    }
    for (int i = 0; i < 2; i++) {
        char *rel = xasprintf("/document/sh-%d", 3 + i);

        b_urls[i] = hw_url(s->port, rel);
        free(rel);
    }
    {
        char *rel = xasprintf("/fault/delay/%d?n=b0", SHARED_SLOW_MS);

        b_urls[2] = hw_url(s->port, rel);
        free(rel);
    }
    one = hw_url(s->port, "/document/sh-5");
    a_list = hw_path(w.dir, "a.urls");
    b_list = hw_path(w.dir, "b.urls");
    write_lines(a_list, a_urls, 5);
    write_lines(b_list, b_urls, 3);
    sources = xasprintf("[source a]\nurls = %s\ndelay = %dms\nconcurrency = %d\n\n"
                        "[source b]\nurls = %s\ndelay = %dms\nconcurrency = %d\n",
                        a_list, SHARED_DELAY_MS, SHARED_PARALLEL, b_list, SHARED_DELAY_MS,
                        SHARED_PARALLEL);
    world_conf(&w, NULL, sources);

    /* 1: both sources at once, --once */
    world_once(&w, 0);
    c = world_catalog(&w);
    expect_records(c, "a", ids, 3);
    expect_records(c, "b", ids + 3, 2);
    catalog_close(c);
    assert_int_equal(hw_log_read(s->log, 0, &log), 0);
    assert_int_equal(log.n, 1 + 5 + 3);
    assert_int_equal(hw_log_count(&log, "/robots.txt"), 1);
    /* with 600 ms replies against a 250 ms gap, two at once did happen */
    assert_int_equal(shared_check(&log, 0, "two sources, --once"), SHARED_PARALLEL);
    hw_log_free(&log);

    /* 2: the daemon; both runs requested, then one page of a meanwhile.
     * The sources ran a moment ago, so no scheduled run starts on its own
     * (interval 1 day). */
    mark = hw_log_lines(s->log);
    argv[0] = G.provd;
    argv[1] = "-c";
    argv[2] = w.conf;
    argv[3] = NULL;
    pid = hw_spawn(argv, w.out);
    assert_true(pid > 0);
    for (int i = 0; i < 500 && !up; i++) {
        struct daemon_http_reply r = {0};
        char *sock = hw_path(w.dir, "provd.sock");

        up = daemon_http_request(sock, "GET", "/v1/status", NULL, 1000, &r) == 0 && r.status == 200;
        daemon_http_reply_clear(&r);
        free(sock);
        if (!up)
            hw_sleep_ms(20);
    }
    if (!up) {
        hw_kill(pid);
        fail_msg("provd did not answer on its socket; its output ends:\n%s", hw_tail(w.out, 2000));
    }
    assert_int_equal(shared_post(&w, ""), 202);
    for (int i = 0; i < 1000 && hw_log_lines(s->log) < mark + 3; i++)
        hw_sleep_ms(10);
    esc = daemon_http_escape(one);
    body = xasprintf("source=a&url=%s", esc);
    assert_int_equal(shared_post(&w, body), 202);
    /* robots.txt (a new process), 5 + 3 pages again, and the one page */
    for (int i = 0; i < 3000 && hw_log_lines(s->log) < mark + 1 + 5 + 3 + 1; i++)
        hw_sleep_ms(10);
    hw_sleep_ms(SHARED_SLOW_MS); /* nothing more arrives */
    kill(pid, SIGTERM);
    if (hw_wait(pid, 20000, NULL) < 0) {
        hw_kill(pid);
        fail_msg("provd did not stop on SIGTERM");
    }
    assert_int_equal(hw_log_read(s->log, mark, &log), 0);
    assert_int_equal(log.n, 1 + 5 + 3 + 1);
    assert_int_equal(hw_log_count(&log, "/document/sh-5"), 1);
    for (size_t i = 0; i < log.n; i++)
        if (strcmp(log.v[i].path, "/document/sh-5") == 0)
            at_one = i;
    /* it came after requests of the runs that were under way */
    assert_true(at_one >= 3);
    shared_check(&log, 0, "daemon, two runs and a single page");
    hw_log_free(&log);
    c = world_catalog(&w);
    {
        char *a_ids[] = {ids[0], ids[1], ids[2], ids[5]};

        expect_records(c, "a", a_ids, 4);
    }
    catalog_close(c);

    for (int i = 0; i < SHARED_PAGES; i++)
        free(ids[i]);
    for (int i = 0; i < 5; i++)
        free(a_urls[i]);
    for (int i = 0; i < 3; i++)
        free(b_urls[i]);
    free(a_list);
    free(b_list);
    free(sources);
    free(one);
    free(esc);
    free(body);
    world_free(&w);
}

/* ---- 6. fetch state per source ------------------------------------------ */

#define SAME_PAGES 2

/* The requests for path in l: how many, how many conditional, and how
 * many answered 200 and 304. */
static void same_counts(const struct hw_log *l, const char *path, int *n, int *cond, int *ok,
                        int *nm)
{
    *n = *cond = *ok = *nm = 0;
    for (size_t i = 0; i < l->n; i++) {
        if (strcmp(l->v[i].path, path) != 0)
            continue;
        (*n)++;
        *cond += l->v[i].cond;
        *ok += l->v[i].status == 200;
        *nm += l->v[i].status == 304;
    }
}

/*
 * Proves that fetch state belongs to (source, URL) (issue 4): two sources
 * list the same URLs.
 * 1. source a alone harvests them; then page 0 changes;
 * 2. source b alone: it sends no validators (a's are not b's), and stores
 *    records of its own for both URLs, next to a's;
 * 3. both sources: each sends a conditional request with its own
 *    validators — a's for page 0 are those of the old content (200, a new
 *    version of a's record), b's those of the new (304); page 1 gets two
 *    304s. Each source's fetch state names its own record.
 */
static void test_same_url(void **state)
{
    struct world w;
    struct hw_site *s;
    char *ids[SAME_PAGES], *urls[SAME_PAGES], *list, *conf_a, *conf_b, *conf_ab;
    struct hw_log log;
    struct catalog *c;
    struct catalog_fetch_state fa, fb;
    size_t mark, versions;
    int n, cond, ok, nm;
    char *fields;

    world_init(&w, "same");
    s = world_site(&w, "site", NULL);
    for (int i = 0; i < SAME_PAGES; i++) {
        char *rel = xasprintf("document/same-%d", i);

        ids[i] = xasprintf("%d", 380000 + i);
        write_page(s->root, rel, &G.fx.v[(size_t)i % G.fx.n], ids[i], "");
        urls[i] = xasprintf("http://127.0.0.1:%u/%s", s->port, rel);
        free(rel);
    }
    list = hw_path(w.dir, "same.urls");
    write_lines(list, urls, SAME_PAGES);
    conf_a = xasprintf("[source a]\nurls = %s\ndelay = 0\nconcurrency = 1\n", list);
    conf_b = xasprintf("[source b]\nurls = %s\ndelay = 0\nconcurrency = 1\n", list);
    conf_ab = xasprintf("%s\n%s", conf_a, conf_b);

    /* 1 */
    world_conf(&w, NULL, conf_a);
    world_once(&w, 0);
    write_page(s->root, "document/same-0", &G.fx.v[0], ids[0], " (revised)");

    /* 2 */
    mark = hw_log_lines(s->log);
    world_conf(&w, NULL, conf_b);
    world_once(&w, 0);
    assert_int_equal(hw_log_read(s->log, mark, &log), 0);
    for (int i = 0; i < SAME_PAGES; i++) {
        const char *path = strstr(urls[i], "/document/");

        same_counts(&log, path, &n, &cond, &ok, &nm);
        assert_int_equal(n, 1);
        if (cond)
            fail_msg("source b sent validators for %s that it never received", path);
        assert_int_equal(ok, 1);
    }
    hw_log_free(&log);
    c = world_catalog(&w);
    expect_records(c, "a", ids, SAME_PAGES);
    expect_records(c, "b", ids, SAME_PAGES);
    catalog_close(c);

    /* 3 */
    mark = hw_log_lines(s->log);
    world_conf(&w, NULL, conf_ab);
    world_once(&w, 0);
    assert_int_equal(hw_log_read(s->log, mark, &log), 0);
    same_counts(&log, strstr(urls[0], "/document/"), &n, &cond, &ok, &nm);
    assert_int_equal(n, 2);
    assert_int_equal(cond, 2);
    assert_int_equal(ok, 1);
    assert_int_equal(nm, 1);
    same_counts(&log, strstr(urls[1], "/document/"), &n, &cond, &ok, &nm);
    assert_int_equal(n, 2);
    assert_int_equal(cond, 2);
    assert_int_equal(nm, 2);
    hw_log_free(&log);

    c = world_catalog(&w);
    fields = version_fields(c, "a", ids[0], 1, &versions);
    assert_int_equal(versions, 2);
    assert_string_equal(fields, "title");
    free(fields);
    free(version_fields(c, "b", ids[0], 1, &versions));
    assert_int_equal(versions, 1);
    for (int i = 0; i < SAME_PAGES; i++) {
        assert_int_equal(catalog_fetch_get_source(c, "a", urls[i], &fa), 0);
        assert_int_equal(catalog_fetch_get_source(c, "b", urls[i], &fb), 0);
        assert_non_null(fa.etag);
        assert_non_null(fb.etag);
        /* both hold the validators of the current page now */
        assert_string_equal(fa.etag, fb.etag);
        assert_true(fa.record != 0 && fb.record != 0 && fa.record != fb.record);
        assert_string_equal(fa.source, "a");
        assert_string_equal(fb.source, "b");
        catalog_fetch_state_clear(&fa);
        catalog_fetch_state_clear(&fb);
    }
    catalog_close(c);

    for (int i = 0; i < SAME_PAGES; i++) {
        free(ids[i]);
        free(urls[i]);
    }
    free(list);
    free(conf_a);
    free(conf_b);
    free(conf_ab);
    world_free(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cycle),       cmocka_unit_test(test_politeness),
        cmocka_unit_test(test_faults),      cmocka_unit_test(test_resume),
        cmocka_unit_test(test_shared_host), cmocka_unit_test(test_same_url),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
