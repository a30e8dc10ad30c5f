/*
 * Tests of harvest/engine.c against a fake sink (the catalog's stand-in,
 * in memory) and a real site (tests/fakesite) with real extraction
 * helpers: what the engine decides on its own, without SQLite.
 *
 * test_sitemap_lastmod_trust: a sitemap's lastmod skips fetches only once
 * it has proved right for the source (issue 4, discover.h's rule): it
 * must first agree with the content, including once where both moved; a
 * contradiction (content changed, lastmod not) takes the trust away.
 *
 * test_shared_politeness: politeness is per host across the engine (issue
 * 4): two sources on one host harvested at once, and a single-page fetch
 * of a third source meanwhile, keep the strictest delay and concurrency
 * between any two requests, read from fakesite's request log.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "addrpolicy.h"
#include "fetch.h"
#include "harvest.h"
#include "record_json.h"
#include "worker.h"
#include "xmalloc.h"

#include <curl/curl.h>
#include <errno.h>
#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <utime.h>

#define PAGES 6

/* ---- the fake sink ------------------------------------------------------ */

struct fake_url {
    char *url;
    char *etag, *last_modified;
    char *json; /* the stored record, compact JSON */
};

struct fake_sink {
    struct fake_url urls[64];
    size_t n;
    int64_t next_run;
};

static struct fake_url *fake_find(struct fake_sink *f, const char *url, bool add)
{
    for (size_t i = 0; i < f->n; i++)
        if (strcmp(f->urls[i].url, url) == 0)
            return &f->urls[i];
    if (!add || f->n == 64)
        return NULL;
    f->urls[f->n].url = xstrdup(url);
    return &f->urls[f->n++];
}

static int fake_run_start(void *d, const char *source, enum harvest_trigger t, bool single,
                          int64_t *id)
{
    *id = ++((struct fake_sink *)d)->next_run;
    return 0;
}

static int fake_run_unfinished(void *d, const char *source, int64_t *id)
{
    return -ENOENT;
}

static int fake_run_finish(void *d, int64_t id, bool aborted)
{
    return 0;
}

static int fake_frontier_add(void *d, int64_t run, const char *const *urls, size_t n, bool *added)
{
    for (size_t i = 0; i < n; i++)
        added[i] = true;
    return 0;
}

static int fake_frontier_skip(void *d, int64_t run, const char *url)
{
    return 0;
}

static int fake_frontier_pending(void *d, int64_t run, size_t max, struct strlist *urls)
{
    return 0;
}

static int fake_due(void *d, const char *source, int64_t now, size_t max, struct strlist *urls)
{
    return 0;
}

/* Every URL is due: only lastmod may skip one in these tests. */
static int fake_url_state(void *d, const char *source, const char *url,
                          struct harvest_url_state *st)
{
    struct fake_url *u = fake_find(d, url, false);

    if (u == NULL)
        return -ENOENT;
    st->etag = u->etag ? xstrdup(u->etag) : NULL;
    st->last_modified = u->last_modified ? xstrdup(u->last_modified) : NULL;
    st->next_due = 0;
    st->has_record = u->json != NULL;
    return 0;
}

static void fake_validators(struct fake_url *u, const struct harvest_page *pg)
{
    if (pg->etag) {
        free(u->etag);
        u->etag = xstrdup(pg->etag);
    }
    if (pg->last_modified) {
        free(u->last_modified);
        u->last_modified = xstrdup(pg->last_modified);
    }
}

static int fake_store(void *d, const struct harvest_page *pg, const struct record *r, int *outcome)
{
    struct fake_url *u = fake_find(d, pg->url, true);
    struct record *copy = record_dup(r);
    char *json;

    free(copy->url); /* the content, not where it came from */
    copy->url = NULL;
    json = record_to_json_line(copy, RECORD_JSON_TEXT);
    record_free(copy);
    *outcome = u->json == NULL ? 0 : strcmp(u->json, json) != 0 ? 1 : 2;
    free(u->json);
    u->json = json;
    fake_validators(u, pg);
    return 0;
}

static int fake_not_modified(void *d, const struct harvest_page *pg)
{
    fake_validators(fake_find(d, pg->url, true), pg);
    return 0;
}

static int fake_missing(void *d, const struct harvest_page *pg, bool *gone)
{
    *gone = false;
    return 0;
}

static int fake_failed(void *d, const struct harvest_page *pg, enum prov_category c,
                       const char *msg)
{
    fprintf(stderr, "failed: %s: %s: %s\n", pg->url, prov_category_name(c), msg ? msg : "");
    return 0;
}

/* ---- the world: fakesite, fetch, helpers, engine -------------------------- */

struct world {
    char dir[64];
    pid_t site;
    unsigned port;
    struct event_base *base;
    struct fetch *fetch;
    struct worker_pool *pool;
    struct harvest_engine *engine;
    struct fake_sink sink;
    struct harvest_counters last;
    bool done;
    time_t t0; /* the pages' first modification time */
};

static const char *source_root(void)
{
    const char *r = getenv("PROVD_SOURCE_ROOT");

    return r ? r : SOURCE_ROOT;
}

static void world_page(struct world *w, int i, int version, time_t mtime)
{
    static const char *const fixtures[PAGES] = {
        "rgaspi-telegram", "aprf-memorandum-hidden-label", "avprf-papka-no-label",
        "prc-fma-cable",   "rgani-two-citations",          "garf-cyrillic",
    };
    char src[512], dst[128], cmd[1400];
    struct utimbuf ut = {mtime, mtime};

    snprintf(src, sizeof(src), "%s/tests/data/pages/%s.html", source_root(), fixtures[i]);
    snprintf(dst, sizeof(dst), "%s/site/p%d.html", w->dir, i);
    /* version > 0 changes the page's summary: new content. */
    snprintf(cmd, sizeof(cmd), "sed 's|<div class=\"text-block\">|&Revision %d. |' '%s' > '%s'",
             version, src, dst);
    if (version == 0)
        snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", src, dst);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(utime(dst, &ut), 0);
}

static void world_start_site(struct world *w)
{
    char root[128], portfile[128], port[16] = "";
    const char *bin = getenv("PROVD_FAKESITE");

    assert_non_null(bin);
    snprintf(root, sizeof(root), "%s/site", w->dir);
    snprintf(portfile, sizeof(portfile), "%s/port", w->dir);
    w->site = fork();
    if (w->site == 0) {
        char log[128];

        snprintf(log, sizeof(log), "%s/requests.log", w->dir);
        execl(bin, bin, "--root", root, "--port", "0", "--port-file", portfile, "--lifetime", "300",
              "--log", log, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 500 && port[0] == '\0'; i++) {
        FILE *f = fopen(portfile, "r");

        if (f) {
            if (fgets(port, sizeof(port), f) == NULL)
                port[0] = '\0';
            fclose(f);
        }
        if (port[0] == '\0')
            usleep(10000);
    }
    w->port = (unsigned)atoi(port);
    assert_true(w->port > 0);
}

static void world_done(int64_t run_id, const struct harvest_counters *c, bool failed,
                       const char *error, void *data)
{
    struct world *w = data;

    w->last = *c;
    w->done = true;
    if (failed)
        fprintf(stderr, "run %lld failed: %s\n", (long long)run_id, error ? error : "");
}

/* One run of the source; its counters in w->last. */
static void world_run(struct world *w, bool every_url)
{
    char sitemap[96];
    struct harvest_source src = {
        .name = "site",
        .profile = "wilson",
        .sitemap = sitemap,
        .delay_ms = 0,
        .concurrency = 4,
        .recheck_ms = 30ULL * 86400 * 1000,
    };
    int64_t id;

    snprintf(sitemap, sizeof(sitemap), "http://127.0.0.1:%u/sitemap.xml", w->port);
    w->done = false;
    assert_int_equal(harvest_run_start(w->engine, &src,
                                       every_url ? HARVEST_MANUAL : HARVEST_SCHEDULE, every_url,
                                       world_done, w, &id, NULL),
                     0);
    for (int i = 0; i < 3000 && !w->done; i++) {
        struct timeval tv = {0, 10000};

        event_base_loopexit(w->base, &tv);
        event_base_dispatch(w->base);
    }
    assert_true(w->done);
    printf("run: fetched %lu, new %lu, changed %lu, unchanged %lu, not modified %lu, "
           "skipped %lu, failed %lu\n",
           w->last.fetched, w->last.n_new, w->last.changed, w->last.unchanged, w->last.not_modified,
           w->last.skipped, w->last.failed);
}

static int setup(void **state)
{
    struct world *w = xcalloc(1, sizeof(*w));
    struct harvest_sink sink = {
        .data = &w->sink,
        .run_start = fake_run_start,
        .run_unfinished = fake_run_unfinished,
        .run_finish = fake_run_finish,
        .frontier_add = fake_frontier_add,
        .frontier_skip = fake_frontier_skip,
        .frontier_pending = fake_frontier_pending,
        .due = fake_due,
        .url_state = fake_url_state,
        .store = fake_store,
        .not_modified = fake_not_modified,
        .missing = fake_missing,
        .failed = fake_failed,
    };
    static const char *const types[] = {"text/html", "application/xml", "text/xml", "text/plain",
                                        NULL};
    struct fetch_options fo;
    struct addrpolicy *pol = addrpolicy_new();
    char spec[64], err[128], site[96];
    time_t t0 = time(NULL) - 86400;

    w->t0 = t0;
    strcpy(w->dir, "/tmp/provd-engine-XXXXXX");
    assert_non_null(mkdtemp(w->dir));
    snprintf(site, sizeof(site), "%s/site", w->dir);
    assert_int_equal(mkdir(site, 0755), 0);
    for (int i = 0; i < PAGES; i++)
        world_page(w, i, 0, t0);
    world_start_site(w);
    w->base = event_base_new();
    extract_global_init();
    assert_int_equal(worker_pool_new(w->base, NULL, &w->pool), 0);
    fetch_options_init(&fo);
    fo.accept_types = types;
    snprintf(spec, sizeof(spec), "127.0.0.1:%u", w->port);
    assert_int_equal(addrpolicy_allow(pol, spec, err, sizeof(err)), 0);
    fo.policy = pol;
    w->fetch = fetch_new(w->base, &fo);
    addrpolicy_free(pol);
    assert_non_null(w->fetch);
    w->engine = harvest_engine_new(w->base, w->fetch, w->pool, &sink, NULL);
    *state = w;
    return 0;
}

static int teardown(void **state)
{
    struct world *w = *state;
    char cmd[128];

    harvest_engine_stop(w->engine);
    worker_pool_free(w->pool);
    harvest_engine_free(w->engine);
    fetch_free(w->fetch);
    event_base_free(w->base);
    kill(w->site, SIGTERM);
    waitpid(w->site, NULL, 0);
    for (size_t i = 0; i < w->sink.n; i++) {
        free(w->sink.urls[i].url);
        free(w->sink.urls[i].etag);
        free(w->sink.urls[i].last_modified);
        free(w->sink.urls[i].json);
    }
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", w->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", w->dir);
    free(w);
    return 0;
}

static void test_sitemap_lastmod_trust(void **state)
{
    struct world *w = *state;
    time_t t1 = time(NULL) - 3600, t2 = time(NULL) - 60;

    /* 1: everything is new; lastmods are remembered. */
    world_run(w, false);
    assert_int_equal(w->last.n_new, PAGES);
    assert_int_equal(w->last.skipped, 0);

    /* 2: page 0 changes, and so does its lastmod: 304s for the others
     * agree (lastmod same, content same), page 0 agrees with both moving.
     * Nothing is skipped yet: no trust before this run's evidence. */
    world_page(w, 0, 1, t1);
    world_run(w, false);
    assert_int_equal(w->last.skipped, 0);
    assert_int_equal(w->last.changed, 1);
    assert_int_equal(w->last.not_modified + w->last.unchanged, PAGES - 1);

    /* 3: trusted now. Page 1 changes with its lastmod: fetched; the five
     * others have the lastmod of their last fetch: skipped. */
    world_page(w, 1, 1, t1);
    world_run(w, false);
    assert_int_equal(w->last.skipped, PAGES - 1);
    assert_int_equal(w->last.changed, 1);

    /* 4: a lying lastmod: page 2's content changes, its lastmod does not.
     * A manual run fetches everything and sees the contradiction. */
    world_page(w, 2, 1, w->t0);
    world_run(w, true);
    assert_int_equal(w->last.skipped, 0);
    assert_int_equal(w->last.changed, 1);

    /* 5: trust is gone: a scheduled run fetches every page again. */
    world_page(w, 3, 1, t2);
    world_run(w, false);
    assert_int_equal(w->last.skipped, 0);
    assert_int_equal(w->last.changed, 1);
}

/* ---- politeness shared by runs ------------------------------------------- */

/* Two sources on one host: A asks for 300 ms and 2 in flight, B for 150
 * ms and 1; the host gets the stricter of each. */
#define SHARED_DELAY_A 300
#define SHARED_DELAY_B 150
#define SHARED_SLOW_MS 700
/* A request's start in the engine and its arrival in fakesite's log are
 * apart by the loopback connect and send, which varies by a few ms and,
 * when the two cores are busy with other builds, by up to a scheduler
 * slice or two; 40 ms covers that and stays far below the delays. */
#define SHARED_SLACK_MS 40

struct logged {
    long long ms;
    char path[160];
};

/* fakesite's request log: arrival ms and path of each request. */
static size_t read_log(const char *dir, struct logged *v, size_t max)
{
    char path[128], line[1024];
    size_t n = 0;
    FILE *f;

    snprintf(path, sizeof(path), "%s/requests.log", dir);
    f = fopen(path, "r");
    assert_non_null(f);
    while (n < max && fgets(line, sizeof(line), f)) {
        char method[16];

        if (sscanf(line, "%lld\t%15s\t%159s", &v[n].ms, method, v[n].path) == 3)
            n++;
    }
    fclose(f);
    return n;
}

struct shared_runs {
    int done;
    int64_t a_id, b_id;
    /* CLOCK_MONOTONIC ms (fakesite's log clock) when the runs of sources a
     * and b ended: their settings count on the host until then */
    long long a_end, b_end;
};

static void shared_done(int64_t run_id, const struct harvest_counters *c, bool failed,
                        const char *error, void *data)
{
    struct shared_runs *sr = data;
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    if (run_id == sr->a_id)
        sr->a_end = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    if (run_id == sr->b_id)
        sr->b_end = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    sr->done++;
}

static void test_shared_politeness(void **state)
{
    struct world *w = *state;
    char a_urls[4][96], b_urls[3][96], one[96];
    const char *a_list[4], *b_list[3];
    struct harvest_source a = {.name = "a",
                               .profile = "wilson",
                               .urls = a_list,
                               .n_urls = 4,
                               .delay_ms = SHARED_DELAY_A,
                               .concurrency = 2};
    struct harvest_source b = {.name = "b",
                               .profile = "wilson",
                               .urls = b_list,
                               .n_urls = 3,
                               .delay_ms = SHARED_DELAY_B,
                               .concurrency = 1};
    struct harvest_source c = {.name = "c", .profile = "wilson", .delay_ms = 0, .concurrency = 4};
    struct logged log[32];
    int64_t id_c;
    struct shared_runs sr = {0};
    size_t n, robots = 0, from_b = 0, single = 0, both = 0;
    long long min_gap = -1, need;

    snprintf(a_urls[0], sizeof(a_urls[0]), "http://127.0.0.1:%u/p0.html", w->port);
    snprintf(a_urls[1], sizeof(a_urls[1]), "http://127.0.0.1:%u/fault/delay/%d", w->port,
             SHARED_SLOW_MS);
    snprintf(a_urls[2], sizeof(a_urls[2]), "http://127.0.0.1:%u/p1.html", w->port);
    snprintf(a_urls[3], sizeof(a_urls[3]), "http://127.0.0.1:%u/p1.html?again", w->port);
    for (int i = 0; i < 4; i++)
        a_list[i] = a_urls[i];
    for (int i = 0; i < 3; i++) {
        snprintf(b_urls[i], sizeof(b_urls[i]), "http://127.0.0.1:%u/p%d.html", w->port, i + 2);
        b_list[i] = b_urls[i];
    }
    snprintf(one, sizeof(one), "http://127.0.0.1:%u/p5.html", w->port);
    assert_int_equal(
        harvest_run_start(w->engine, &a, HARVEST_MANUAL, true, shared_done, &sr, &sr.a_id, NULL),
        0);
    assert_int_equal(
        harvest_run_start(w->engine, &b, HARVEST_MANUAL, true, shared_done, &sr, &sr.b_id, NULL),
        0);
    /* a manual single page of a source with no delay at all, once the
     * runs have made three requests */
    for (int i = 0; i < 500 && read_log(w->dir, log, 32) < 3; i++) {
        struct timeval tv = {0, 10000};

        event_base_loopexit(w->base, &tv);
        event_base_dispatch(w->base);
    }
    assert_int_equal(harvest_fetch_one(w->engine, &c, one, shared_done, &sr, &id_c), 0);
    for (int i = 0; i < 1500 && sr.done < 3; i++) {
        struct timeval tv = {0, 10000};

        event_base_loopexit(w->base, &tv);
        event_base_dispatch(w->base);
    }
    assert_int_equal(sr.done, 3);

    n = read_log(w->dir, log, 32);
    /* robots.txt once for the host, then 4 + 3 + 1 pages */
    assert_int_equal(n, 9);
    for (size_t i = 0; i < n; i++) {
        long flight = 1;

        robots += strcmp(log[i].path, "/robots.txt") == 0;
        from_b += strcmp(log[i].path, "/p2.html") == 0 || strcmp(log[i].path, "/p3.html") == 0 ||
                  strcmp(log[i].path, "/p4.html") == 0;
        if (strcmp(log[i].path, "/p5.html") == 0) {
            single++;
            /* it waited its turn behind the runs' requests */
            assert_true(i >= 3);
        }
        /* the host's delay: the largest of the runs going on at the
         * request's start (a's 300 ms, else b's 150 ms, else c's none);
         * its concurrency: the smallest (b's 1 while b goes on, else a's
         * 2, the only one the slow reply could exceed) */
        need = log[i].ms <= sr.a_end ? SHARED_DELAY_A : log[i].ms <= sr.b_end ? SHARED_DELAY_B : 0;
        if (i > 0 && log[i].ms <= sr.a_end && log[i].ms <= sr.b_end) {
            both++;
            if (min_gap < 0 || log[i].ms - log[i - 1].ms < min_gap)
                min_gap = log[i].ms - log[i - 1].ms;
        }
        if (i > 0 && log[i].ms - log[i - 1].ms < need - SHARED_SLACK_MS)
            fail_msg("%s arrived %lld ms after the request before; the host's delay is %lld ms",
                     log[i].path, log[i].ms - log[i - 1].ms, need);
        /* a slow reply holds one transfer until it is answered */
        for (size_t k = 0; k < i; k++)
            if (strncmp(log[k].path, "/fault/delay/", 13) == 0 &&
                log[k].ms + SHARED_SLOW_MS - SHARED_SLACK_MS > log[i].ms)
                flight++;
        if (flight > (log[i].ms <= sr.b_end ? 1 : 2))
            fail_msg("%s arrived %lld ms after the first request with %ld in flight", log[i].path,
                     log[i].ms - log[0].ms, flight);
    }
    printf("shared host: %zu requests, %zu while both runs went on, least gap then %lld ms "
           "(stricter delay %d ms)\n",
           n, both, min_gap, SHARED_DELAY_A);
    /* b's three pages, each at least 300 ms after the one before while a
     * goes on, keep b going for three requests at least */
    assert_true(both >= 3);
    assert_int_equal(robots, 1);
    assert_int_equal(from_b, 3);
    assert_int_equal(single, 1);
    assert_true(min_gap >= SHARED_DELAY_A - SHARED_SLACK_MS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_sitemap_lastmod_trust, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shared_politeness, setup, teardown),
    };
    int rc;

    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
