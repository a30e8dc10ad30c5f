/*
 * Tests of harvest/engine.c against a fake sink (the catalog's stand-in,
 * in memory) and a real site (tests/fakesite) with real extraction
 * helpers: what the engine decides on its own, without SQLite.
 *
 * test_sitemap_lastmod_trust: a sitemap's lastmod skips fetches only once
 * it has proved right for the source (issue 4, discover.h's rule): it
 * must first agree with the content, including once where both moved; a
 * contradiction (content changed, lastmod not) takes the trust away.
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

static int fake_run_start(void *d, const char *source, enum harvest_trigger t, int64_t *id)
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
static int fake_url_state(void *d, const char *url, struct harvest_url_state *st)
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
        execl(bin, bin, "--root", root, "--port", "0", "--port-file", portfile, "--lifetime", "300",
              (char *)NULL);
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_sitemap_lastmod_trust, setup, teardown),
    };
    int rc;

    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
