/*
 * engine: the harvest runs. A run discovers a source's URLs (its URL list,
 * sitemaps, listing pages), queues them in a frontier that decides, host by
 * host, what may start when, fetches them with fetch.c, has the extraction
 * helpers turn pages into records, and reports every outcome through the
 * sink. The engine owns its runs, their frontiers and their jobs; it never
 * touches SQLite (the sink does) and never logs (the daemon does, from the
 * outcomes and the run's end).
 *
 * Each URL is a job with an explicit state (enum job_state) driven by
 * job_step(); a run is driven by run_pump(), which asks the frontier for
 * the next job and arms the run's one timer for the time the frontier
 * names. Politeness is per host across the whole engine: every run's
 * frontier, single-page fetches included, shares the engine's host table
 * (frontier_hosts), so two runs on one host keep its delay and
 * concurrency together, the strictest of their settings applying; when a
 * transfer of one run ends, the other runs are pumped too, as their hosts
 * may have become free. A run ends when its discovery has finished and
 * its frontier is drained; its frontier in the sink is written in the
 * same transaction as each outcome, so a run cut short at any instant is
 * resumed by the next harvest_run_start() of its source.
 */
#include "harvest.h"

#include "discover.h"
#include "extract_text.h"
#include "fetch.h"
#include "frontier.h"
#include "urlset.h"
#include "worker.h"
#include "xmalloc.h"

#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* URLs handed to the sink's frontier in one transaction. */
#define ENGINE_ADD_BATCH 512
/* Re-checks added to a scheduled run at most. */
#define ENGINE_DUE_MAX 100000
/* Agreements a source's sitemap lastmods need before they may skip a
 * fetch (see discover.h). */
#define ENGINE_LASTMOD_NEED 3
/* Listing pages walked at most in one run. */
#define ENGINE_LISTING_MAX_PAGES 100000
/* Pages with the extraction helpers (queued or in a helper), engine-wide,
 * at which runs stop starting transfers until one comes back: fetching
 * faster than the helpers extract would only pile bodies up in memory and
 * overflow the pool's queue (whose 256 must exceed this plus the
 * transfers that may be in flight). */
#define ENGINE_EXTRACT_BACKLOG 8

enum job_state {
    JOB_QUEUED,     /* in the frontier, waiting for its host's turn */
    JOB_FETCHING,   /* a transfer is in flight */
    JOB_EXTRACTING, /* the page is with an extraction helper */
    JOB_STORING,    /* the outcome goes to the sink */
    JOB_DONE,       /* finished for this run, whatever the outcome */
};

enum job_kind {
    JOB_RECORD,  /* a record page */
    JOB_SITEMAP, /* a sitemap or sitemap index */
    JOB_LISTING, /* a listing page */
};

struct engine_run;

struct job {
    struct engine_run *run;
    enum job_kind kind;
    enum job_state state;
    char *url;
    /* filled by the fetch, for the extraction and the sink */
    char *final_url;
    char *etag, *last_modified;
    int http_status;
    int64_t lastmod;      /* the sitemap's lastmod, or DISCOVER_LASTMOD_UNKNOWN */
    struct job *next_all; /* every job of the run, for freeing */
};

/* What the engine learns of sitemap lastmods: per URL, the lastmod at its
 * last fetch; per source, whether lastmod has proved to move with the
 * content (discover_lastmod_*). Kept in memory: after a restart a source
 * earns trust again, so a lying lastmod can never skip more than before. */
struct engine_lastmods {
    struct urlset keys; /* "SOURCE\x1fURL" */
    struct engine_lastmod {
        int64_t lastmod;
        int64_t fetched; /* Unix seconds */
    } * v;
    size_t cap;
    struct engine_trust {
        char *source;
        struct discover_lastmod_trust t;
    } * trust;
    size_t n_trust;
};

struct engine_run {
    struct harvest_engine *e;
    int64_t id;
    struct harvest_source src; /* deep copy */
    struct strlist own;        /* the copy's strings */
    char **urls;
    enum harvest_trigger trigger;
    bool every_url;
    bool single;
    bool resumed;
    harvest_run_done_fn done;
    void *data;
    struct harvest_counters c;
    struct frontier *fr;
    struct event *timer;
    struct discover_listing *listing_parser;
    struct discover_listing_state *listing;
    unsigned busy;         /* jobs fetching, extracting or storing */
    unsigned disc_pending; /* sitemap and listing pages not finished */
    unsigned store_failures;
    enum prov_category store_category;
    bool discovery_failed;
    bool finished; /* run_finish() was called: only the reaper may touch it */
    bool held;     /* waits for the extraction backlog to shrink */
    char *error;
    struct job *jobs;
    struct engine_run *next;
};

struct harvest_engine {
    struct event_base *base;
    struct fetch *fetch;
    struct worker_pool *workers;
    struct harvest_sink sink;
    struct harvest_options o;
    struct engine_run *runs;
    struct event *reaper; /* frees finished runs outside their callbacks */
    struct engine_run *dead;
    struct frontier_hosts *hosts; /* politeness per host, shared by every run */
    bool stopping;                /* harvest_engine_stop() was called */
    struct engine_lastmods lm;
};

static void run_pump(struct engine_run *r);
static void run_kick(struct engine_run *r);
static void job_step(struct job *j);

/* A page came back from the helpers: runs held by the backlog go on. */
static void engine_release(struct harvest_engine *e)
{
    for (struct engine_run *r = e->runs; r; r = r->next) {
        if (r->held) {
            r->held = false;
            run_kick(r);
        }
    }
}

/* A transfer of run r ended, or r let go of its hosts: the other runs
 * may wait for the same hosts, so they look again on the next loop turn. */
static void engine_wake_others(struct harvest_engine *e, const struct engine_run *r)
{
    for (struct engine_run *o = e->runs; o; o = o->next)
        if (o != r && !o->finished && !o->held)
            run_kick(o);
}

static int64_t engine_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t engine_wall(void)
{
    return (int64_t)time(NULL);
}

/* ---- runs ----------------------------------------------------------- */

static const char *run_keep(struct engine_run *r, const char *s)
{
    if (s == NULL)
        return NULL;
    strlist_add(&r->own, s);
    return r->own.v[r->own.n - 1];
}

static void run_copy_source(struct engine_run *r, const struct harvest_source *src)
{
    r->src = *src;
    r->src.name = run_keep(r, src->name);
    r->src.profile = run_keep(r, src->profile);
    r->src.sitemap = run_keep(r, src->sitemap);
    r->src.listing = run_keep(r, src->listing);
    r->src.listing_links = run_keep(r, src->listing_links);
    r->src.listing_next = run_keep(r, src->listing_next);
    r->urls = xcalloc(src->n_urls + 1, sizeof(*r->urls));
    for (size_t i = 0; i < src->n_urls; i++)
        r->urls[i] = xstrdup(src->urls[i]);
    r->src.urls = (const char *const *)r->urls;
}

static void run_free(struct engine_run *r)
{
    struct job *j, *next;

    if (r->timer)
        event_free(r->timer);
    frontier_free(r->fr);
    discover_listing_free(r->listing_parser);
    discover_listing_state_free(r->listing);
    for (j = r->jobs; j; j = next) {
        next = j->next_all;
        free(j->url);
        free(j->final_url);
        free(j->etag);
        free(j->last_modified);
        free(j);
    }
    for (size_t i = 0; i < r->src.n_urls; i++)
        free(r->urls[i]);
    free(r->urls);
    strlist_clear(&r->own);
    free(r->error);
    free(r);
}

static void engine_reap(evutil_socket_t fd, short what, void *arg)
{
    struct harvest_engine *e = arg;

    while (e->dead) {
        struct engine_run *r = e->dead;

        e->dead = r->next;
        run_free(r);
        /* its settings no longer count on its hosts */
        engine_wake_others(e, NULL);
    }
}

static void run_unlink(struct engine_run *r)
{
    struct harvest_engine *e = r->e;

    for (struct engine_run **pp = &e->runs; *pp; pp = &(*pp)->next) {
        if (*pp == r) {
            *pp = r->next;
            break;
        }
    }
}

/* Keep the first error of a run: prefix ": " detail. */
static void run_set_error(struct engine_run *r, const char *prefix, const char *detail)
{
    if (r->error == NULL)
        r->error = xasprintf("%s%s%s", prefix, *prefix ? ": " : "", detail ? detail : "");
}

/* Arm the run's timer to fire on the next loop turn. */
static void run_kick(struct engine_run *r)
{
    struct timeval tv = {0, 0};

    evtimer_add(r->timer, &tv);
}

/* End the run: tell the sink and the caller, free it on the next loop
 * turn (we may be deep inside a callback of one of its jobs). */
static void run_finish(struct engine_run *r)
{
    struct harvest_engine *e = r->e;
    bool failed = r->discovery_failed || r->store_failures > 0;
    char buf[256];

    /* The run's timer may already be due in this loop turn (a wake-up
     * for a delay that the last job's end made moot): it must not pump,
     * and so finish, the run a second time. */
    r->finished = true;
    evtimer_del(r->timer);
    run_unlink(r);
    if (r->store_failures) {
        /* The pages that could not be stored are still pending in the
         * run's frontier: leaving the run unfinished lets the next run of
         * the source resume them once storage works again. */
        snprintf(buf, sizeof(buf), "%u page%s could not be stored (%s); the run resumes next time",
                 r->store_failures, r->store_failures == 1 ? "" : "s",
                 prov_category_name(r->store_category));
        run_set_error(r, "", buf);
    } else if (e->sink.run_finish(e->sink.data, r->id, r->discovery_failed) < 0) {
        failed = true;
        run_set_error(r, "", "the run's end could not be stored");
    }
    r->done(r->id, &r->c, failed, r->error, r->data);
    r->next = e->dead;
    e->dead = r;
    event_active(e->reaper, EV_TIMEOUT, 1);
}

static void run_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    run_pump(arg);
}

/* ---- adding URLs ---------------------------------------------------- */

static struct job *job_new(struct engine_run *r, enum job_kind kind, const char *url)
{
    struct job *j = xcalloc(1, sizeof(*j));

    j->run = r;
    j->kind = kind;
    j->url = xstrdup(url);
    j->lastmod = DISCOVER_LASTMOD_UNKNOWN;
    j->next_all = r->jobs;
    r->jobs = j;
    return j;
}

/* Queue a discovery page (sitemap or listing) in the frontier. */
static void run_add_discovery(struct engine_run *r, enum job_kind kind, const char *url)
{
    struct job *j = job_new(r, kind, url);

    if (frontier_add(r->fr, j->url, j, engine_now_ms()) == 0) {
        r->disc_pending++;
        return;
    }
    /* Already walked in this run (a sitemap index naming itself). */
    j->state = JOB_DONE;
}

/* ---- sitemap lastmods ---------------------------------------------- */

static struct discover_lastmod_trust *lastmod_trust(struct harvest_engine *e, const char *source)
{
    struct engine_lastmods *lm = &e->lm;

    for (size_t i = 0; i < lm->n_trust; i++)
        if (strcmp(lm->trust[i].source, source) == 0)
            return &lm->trust[i].t;
    lm->trust = xreallocarray(lm->trust, lm->n_trust + 1, sizeof(*lm->trust));
    memset(&lm->trust[lm->n_trust], 0, sizeof(lm->trust[0]));
    lm->trust[lm->n_trust].source = xstrdup(source);
    return &lm->trust[lm->n_trust++].t;
}

/* The stored entry of url in source; NULL when none (add: create it). */
static struct engine_lastmod *lastmod_entry(struct harvest_engine *e, const char *source,
                                            const char *url, bool add)
{
    struct engine_lastmods *lm = &e->lm;
    char *key = xasprintf("%s\x1f%s", source, url);
    long i = urlset_index(&lm->keys, key, strlen(key));

    if (i < 0 && add) {
        urlset_add(&lm->keys, key, strlen(key));
        i = (long)lm->keys.n - 1;
        if ((size_t)i >= lm->cap) {
            lm->cap = lm->cap ? lm->cap * 2 : 256;
            lm->v = xreallocarray(lm->v, lm->cap, sizeof(*lm->v));
        }
        lm->v[i].lastmod = DISCOVER_LASTMOD_UNKNOWN;
        lm->v[i].fetched = 0;
    }
    free(key);
    return i < 0 ? NULL : &lm->v[i];
}

/* May the fetch of url be skipped on the strength of its sitemap lastmod? */
static bool lastmod_skip(struct engine_run *r, const char *url, int64_t lastmod)
{
    struct harvest_engine *e = r->e;
    struct engine_lastmod *st;
    int64_t max_age = r->src.recheck_ms ? (int64_t)(r->src.recheck_ms / 1000) : 30 * 86400;

    if (r->every_url || lastmod == DISCOVER_LASTMOD_UNKNOWN)
        return false;
    st = lastmod_entry(e, r->src.name, url, false);
    return st &&
           discover_lastmod_may_skip(lastmod_trust(e, r->src.name), ENGINE_LASTMOD_NEED,
                                     st->lastmod, lastmod, st->fetched, engine_wall(), max_age);
}

/* A record page with a sitemap lastmod was fetched: teach the source's
 * trust whether lastmod moved with the content, and remember the lastmod. */
static void lastmod_learn(struct job *j, bool content_changed)
{
    struct engine_run *r = j->run;
    struct engine_lastmod *st;

    if (j->lastmod == DISCOVER_LASTMOD_UNKNOWN)
        return;
    st = lastmod_entry(r->e, r->src.name, j->url, true);
    if (st->lastmod != DISCOVER_LASTMOD_UNKNOWN)
        discover_lastmod_observe(lastmod_trust(r->e, r->src.name), st->lastmod != j->lastmod,
                                 content_changed);
    st->lastmod = j->lastmod;
    st->fetched = engine_wall();
}

static void lastmods_release(struct engine_lastmods *lm)
{
    urlset_release(&lm->keys);
    free(lm->v);
    for (size_t i = 0; i < lm->n_trust; i++)
        free(lm->trust[i].source);
    free(lm->trust);
}

/* Queue record URLs: the sink's frontier first (in batches, one
 * transaction each), then the in-memory one. Known URLs that are not due
 * are marked done without a fetch, unless every URL is to be fetched. */
static void run_add_records(struct engine_run *r, const char *const *urls, const int64_t *lastmods,
                            size_t n)
{
    struct harvest_engine *e = r->e;
    const char *batch[ENGINE_ADD_BATCH];
    int64_t mods[ENGINE_ADD_BATCH];
    bool added[ENGINE_ADD_BATCH];
    size_t m = 0;
    int64_t now = engine_wall();

    for (size_t i = 0; i <= n; i++) {
        if (i < n) {
            const char *reason;
            char *norm = discover_url_normalize(
                urls[i], r->src.allow_file ? DISCOVER_ALLOW_FILE : 0, &reason);

            if (norm == NULL)
                continue;
            /* Seen in this run already? The frontier answers -EEXIST. */
            if (frontier_category(r->fr, norm) >= 0) {
                free(norm);
                continue;
            }
            strlist_add_steal(&r->own, norm);
            mods[m] = lastmods ? lastmods[i] : DISCOVER_LASTMOD_UNKNOWN;
            batch[m++] = r->own.v[r->own.n - 1];
            if (m < ENGINE_ADD_BATCH)
                continue;
        }
        if (m == 0)
            break;
        if (e->sink.frontier_add(e->sink.data, r->id, batch, m, added) < 0) {
            r->store_failures += (unsigned)m;
            r->store_category = PROV_STORAGE_IO;
            m = 0;
            continue;
        }
        for (size_t k = 0; k < m; k++) {
            struct harvest_url_state st = {0};
            struct job *j;

            if (!added[k])
                continue; /* in this run's stored frontier already */
            if (!r->every_url &&
                (lastmod_skip(r, batch[k], mods[k]) ||
                 (e->sink.url_state(e->sink.data, r->src.name, batch[k], &st) == 0 &&
                  st.next_due > now))) {
                free(st.etag);
                free(st.last_modified);
                if (e->sink.frontier_skip(e->sink.data, r->id, batch[k]) == 0) {
                    r->c.skipped++;
                    r->c.done++;
                    r->c.discovered++;
                    continue;
                }
            }
            free(st.etag);
            free(st.last_modified);
            j = job_new(r, JOB_RECORD, batch[k]);
            j->lastmod = mods[k];
            if (frontier_add(r->fr, j->url, j, engine_now_ms()) == 0)
                r->c.discovered++;
            else
                j->state = JOB_DONE;
        }
        m = 0;
    }
}

/* A resumed run queues what its stored frontier still has pending. */
static int run_add_pending(struct engine_run *r)
{
    struct harvest_engine *e = r->e;
    struct strlist pending = {0};
    int rc = e->sink.frontier_pending(e->sink.data, r->id, SIZE_MAX, &pending);

    for (size_t i = 0; rc == 0 && i < pending.n; i++) {
        struct job *j = job_new(r, JOB_RECORD, pending.v[i]);

        if (frontier_add(r->fr, j->url, j, engine_now_ms()) == 0)
            r->c.discovered++;
        else
            j->state = JOB_DONE;
    }
    strlist_clear(&pending);
    return rc;
}

/* ---- discovery results ---------------------------------------------- */

static bool run_known(const char *url, void *data)
{
    struct engine_run *r = data;
    struct harvest_engine *e = r->e;
    struct harvest_url_state st = {0};
    bool known = e->sink.url_state(e->sink.data, r->src.name, url, &st) == 0 && st.has_record;

    free(st.etag);
    free(st.last_modified);
    return known;
}

static void run_sitemap_page(struct engine_run *r, struct job *j, const char *body, size_t len)
{
    struct discover_sitemap sm = {0};
    unsigned flags = r->src.allow_file ? DISCOVER_ALLOW_FILE : 0;
    int rc = discover_sitemap_parse(body, len, j->url, NULL, flags, &sm);

    if (rc < 0 && sm.n == 0) {
        run_set_error(r, "sitemap", sm.errmsg);
        r->discovery_failed = true;
    }
    if (sm.kind == DISCOVER_SITEMAP_INDEX) {
        for (size_t i = 0; i < sm.n; i++)
            run_add_discovery(r, JOB_SITEMAP, sm.entries[i].url);
    } else if (sm.n) {
        const char **urls = xcalloc(sm.n, sizeof(*urls));
        int64_t *mods = xcalloc(sm.n, sizeof(*mods));

        for (size_t i = 0; i < sm.n; i++) {
            urls[i] = sm.entries[i].url;
            mods[i] = sm.entries[i].lastmod;
        }
        run_add_records(r, urls, mods, sm.n);
        free(urls);
        free(mods);
    }
    discover_sitemap_clear(&sm);
}

static void run_listing_page(struct engine_run *r, struct job *j, const char *body, size_t len)
{
    struct discover_page page = {0};
    enum discover_listing_status st;

    if (discover_listing_parse(r->listing_parser, body, len, j->url, &page) < 0) {
        run_set_error(r, "listing", page.errmsg);
        st = discover_listing_fail(r->listing);
    } else {
        run_add_records(r, (const char *const *)page.links, NULL, page.n);
        st = discover_listing_step(r->listing, &page, r->every_url ? NULL : run_known, r, NULL);
    }
    discover_page_clear(&page);
    if (st == DISCOVER_LISTING_FETCH)
        run_add_discovery(r, JOB_LISTING, discover_listing_state_url(r->listing));
    else if (st == DISCOVER_LISTING_END_FAILED && discover_listing_state_pages(r->listing) <= 1)
        r->discovery_failed = true;
}

/* A discovery page could not be had. A listing walk ends there; the run
 * fails when nothing at all could be discovered. */
static void run_discovery_failed(struct engine_run *r, struct job *j, enum prov_category cat,
                                 const char *msg)
{
    char what[600];

    snprintf(what, sizeof(what), "%s %s: %s: %s", j->kind == JOB_SITEMAP ? "sitemap" : "listing",
             j->url, prov_category_name(cat), msg ? msg : "");
    run_set_error(r, "", what);
    if (j->kind == JOB_LISTING) {
        discover_listing_fail(r->listing);
        if (discover_listing_state_pages(r->listing) == 0 && r->c.discovered == 0)
            r->discovery_failed = true;
    } else if (r->c.discovered == 0) {
        r->discovery_failed = true;
    }
}

/* ---- jobs ----------------------------------------------------------- */

static struct harvest_page job_page(const struct job *j)
{
    const struct engine_run *r = j->run;
    uint64_t h = 1469598103934665603ULL;
    struct harvest_page pg;
    int64_t spread;

    /* The next re-check: recheck ± 25 %, placed by a hash of the URL so
     * that pages first harvested together are re-checked apart. */
    for (const char *s = j->url; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    spread = (int64_t)(r->src.recheck_ms / 1000);
    pg.source = r->src.name;
    pg.url = j->url;
    pg.final_url = j->final_url ? j->final_url : j->url;
    pg.run_id = r->id;
    pg.etag = j->etag;
    pg.last_modified = j->last_modified;
    pg.http_status = j->http_status;
    pg.next_due =
        spread > 0 ? engine_wall() + spread * 3 / 4 + (int64_t)(h % (uint64_t)(spread / 2 + 1)) : 0;
    return pg;
}

static void job_finish(struct job *j)
{
    struct engine_run *r = j->run;

    j->state = JOB_DONE;
    r->busy--;
    if (j->kind == JOB_RECORD)
        r->c.done++;
    else
        r->disc_pending--;
    run_pump(r);
}

/* A storage error: the page's outcome is not stored and its URL stays
 * pending in the run's stored frontier. */
static void job_store_failed(struct job *j, int rc)
{
    struct engine_run *r = j->run;

    r->store_failures++;
    r->store_category = rc == -ENOSPC  ? PROV_STORAGE_FULL
                        : rc == -EBUSY ? PROV_DB_BUSY
                                       : PROV_STORAGE_IO;
}

static void job_failed(struct job *j, enum prov_category cat, const char *msg)
{
    struct engine_run *r = j->run;
    struct harvest_engine *e = r->e;
    struct harvest_page pg;
    int rc;

    if (j->kind != JOB_RECORD) {
        run_discovery_failed(r, j, cat, msg);
        return;
    }
    pg = job_page(j);
    pg.next_due = 0;
    rc = e->sink.failed(e->sink.data, &pg, cat, msg);
    if (rc < 0) {
        job_store_failed(j, rc);
        return;
    }
    r->c.failed++;
    r->c.failed_by[cat < PROV_CATEGORY_MAX ? cat : PROV_INTERNAL]++;
}

static void job_extracted(int rc, struct extract_result *res, void *data)
{
    struct job *j = data;
    struct engine_run *r = j->run;
    struct harvest_engine *e = r->e;
    struct harvest_page pg;
    int outcome = 0;

    if (e->stopping) {
        /* The pool is being freed: the page is dropped and its URL stays
         * pending in the stored frontier. */
        j->state = JOB_DONE;
        r->busy--;
        return;
    }
    j->state = JOB_STORING;
    if (rc < 0 || res->record == NULL) {
        job_failed(j, res->category, res->reason);
        job_finish(j);
        engine_release(e);
        return;
    }
    pg = job_page(j);
    rc = e->sink.store(e->sink.data, &pg, res->record, &outcome);
    if (rc < 0) {
        job_store_failed(j, rc);
    } else {
        unsigned long *slot[] = {&r->c.n_new, &r->c.changed, &r->c.unchanged, &r->c.kept};

        (*slot[outcome >= 0 && outcome <= 3 ? outcome : 3])++;
        if (outcome <= 2)
            lastmod_learn(j, outcome != 2);
    }
    job_finish(j);
    engine_release(e);
}

/* The category of a record page's response, which may be stricter than
 * the fetch's: the fetch also accepts the media types of sitemaps and
 * robots.txt, so a 2xx record page that is not HTML is CONTENT_TYPE here;
 * and a 403 or 503 whose body is a bot challenge is BLOCKED, not an
 * ordinary HTTP error. The reason goes to msg (len bytes) when the
 * category differs from the fetch's. */
static enum prov_category job_judge(const struct job *j, const struct fetch_response *resp,
                                    char *msg, size_t len)
{
    const char *ct = resp->content_type, *marker;

    if (j->kind != JOB_RECORD)
        return resp->category;
    if (resp->category == PROV_OK && resp->status >= 200 && resp->status < 300 && ct != NULL &&
        strcmp(ct, "text/html") != 0 && strcmp(ct, "application/xhtml+xml") != 0) {
        snprintf(msg, len, "content type '%.100s' is not a record page's", ct);
        return PROV_CONTENT_TYPE;
    }
    if ((resp->status == 403 || resp->status == 503) && resp->body != NULL &&
        (marker = extract_text_marker(resp->body, resp->body_len, NULL)) != NULL) {
        snprintf(msg, len, "HTTP status %ld with a bot challenge (\"%.60s\")", resp->status,
                 marker);
        return PROV_BLOCKED;
    }
    return resp->category;
}

static void job_fetched(struct fetch_response *resp, void *data)
{
    struct job *j = data;
    struct engine_run *r = j->run;
    struct harvest_engine *e = r->e;
    struct frontier_outcome fo = {.category = resp->category,
                                  .http_status = (int)resp->status,
                                  .retry_after_ms =
                                      resp->retry_after_s >= 0 ? resp->retry_after_s * 1000 : -1};
    char why[192];
    enum prov_category cat;
    const char *msg;
    int disp;

    if (resp->cancelled) {
        /* Engine shutdown: the URL stays pending for the next run. */
        j->state = JOB_DONE;
        r->busy--;
        return;
    }
    cat = job_judge(j, resp, why, sizeof(why));
    msg = cat != resp->category ? why : resp->errmsg;
    fo.category = cat;
    if (cat == PROV_HTTP_4XX && (resp->status == 404 || resp->status == 410))
        fo.category = PROV_OK; /* final: the catalog counts it towards gone */
    disp = frontier_done(r->fr, j->url, &fo, engine_now_ms(), NULL);
    engine_wake_others(e, r);
    if (resp->status > 0 || resp->category == PROV_OK)
        r->c.fetched++;
    if (disp == FRONTIER_RETRY) {
        j->state = JOB_QUEUED;
        r->busy--;
        run_pump(r);
        return;
    }
    free(j->final_url);
    free(j->etag);
    free(j->last_modified);
    j->final_url = xstrdup_or_null(resp->effective_url);
    j->etag = xstrdup_or_null(resp->etag);
    j->last_modified = xstrdup_or_null(resp->last_modified);
    j->http_status = (int)resp->status;

    if (disp == FRONTIER_GIVEN_UP || (cat != PROV_OK && fo.category != PROV_OK)) {
        job_failed(j, cat, msg);
        job_finish(j);
        return;
    }
    if (j->kind == JOB_SITEMAP || j->kind == JOB_LISTING) {
        if (resp->not_modified || resp->status == 404 || resp->status == 410) {
            job_failed(j, resp->not_modified ? PROV_HTTP_PROTOCOL : PROV_HTTP_4XX,
                       resp->not_modified ? "304 without a validator sent" : "not found");
        } else if (j->kind == JOB_SITEMAP) {
            run_sitemap_page(r, j, resp->body, resp->body_len);
        } else {
            run_listing_page(r, j, resp->body, resp->body_len);
        }
        job_finish(j);
        return;
    }
    if (resp->not_modified) {
        struct harvest_page pg = job_page(j);
        int rc = e->sink.not_modified(e->sink.data, &pg);

        if (rc < 0) {
            job_store_failed(j, rc);
        } else {
            r->c.not_modified++;
            lastmod_learn(j, false);
        }
        job_finish(j);
        return;
    }
    if (resp->status == 404 || resp->status == 410) {
        struct harvest_page pg = job_page(j);
        bool gone = false;
        int rc = e->sink.missing(e->sink.data, &pg, &gone);

        if (rc < 0)
            job_store_failed(j, rc);
        else
            r->c.gone++;
        job_finish(j);
        return;
    }
    {
        struct worker_request wr = {
            .profile = r->src.profile,
            .url = j->url,
            .charset = resp->charset,
            .body = resp->body ? resp->body : "",
            .len = resp->body_len,
        };
        int rc;

        j->state = JOB_EXTRACTING;
        rc = worker_pool_submit(e->workers, &wr, job_extracted, j);
        if (rc < 0) {
            job_failed(j, rc == -EMSGSIZE ? PROV_TOO_LARGE : PROV_INTERNAL,
                       rc == -EAGAIN ? "extraction queue full" : strerror(-rc));
            job_finish(j);
        }
    }
}

/* Start the transfer of a job the frontier handed out. */
static void job_step(struct job *j)
{
    struct engine_run *r = j->run;
    struct harvest_engine *e = r->e;
    struct harvest_url_state st = {0};
    struct fetch_request req = {0};
    int rc;

    switch (j->state) {
    case JOB_QUEUED:
        req.url = j->url;
        req.allow_file = r->src.allow_file;
        req.done = job_fetched;
        req.data = j;
        if (j->kind == JOB_RECORD &&
            e->sink.url_state(e->sink.data, r->src.name, j->url, &st) == 0) {
            req.etag = st.etag;
            req.last_modified = st.last_modified;
        }
        j->state = JOB_FETCHING;
        r->busy++;
        rc = fetch_start(e->fetch, &req);
        free(st.etag);
        free(st.last_modified);
        if (rc < 0) {
            struct frontier_outcome fo = {.category = PROV_PROTOCOL_DENIED, .retry_after_ms = -1};

            frontier_done(r->fr, j->url, &fo, engine_now_ms(), NULL);
            engine_wake_others(e, r);
            job_failed(j, PROV_PROTOCOL_DENIED, fetch_errmsg(e->fetch));
            job_finish(j);
        }
        return;
    case JOB_FETCHING:
    case JOB_EXTRACTING:
    case JOB_STORING:
    case JOB_DONE:
        /* Driven by their callbacks. */
        return;
    }
}

/* robots.txt transfers carry no job: their data is the run. */
struct robots_fetch {
    struct engine_run *run;
    char *url;
};

static void robots_fetched(struct fetch_response *resp, void *data)
{
    struct robots_fetch *rf = data;
    struct engine_run *r = rf->run;
    struct frontier_outcome fo = {.category = resp->category,
                                  .http_status = (int)resp->status,
                                  .retry_after_ms =
                                      resp->retry_after_s >= 0 ? resp->retry_after_s * 1000 : -1};

    r->busy--;
    if (!resp->cancelled) {
        frontier_robots_done(r->fr, rf->url, &fo, resp->body, resp->body_len, engine_now_ms());
        engine_wake_others(r->e, r);
        run_pump(r);
    }
    free(rf->url);
    free(rf);
}

/* ---- the pump ------------------------------------------------------- */

static void run_pump(struct engine_run *r)
{
    struct harvest_engine *e = r->e;

    if (r->finished)
        return;
    for (;;) {
        struct frontier_job fj;
        int64_t wake = FRONTIER_NEVER, now = engine_now_ms();
        enum frontier_status st;

        if (e->workers && worker_pool_pending(e->workers) >= ENGINE_EXTRACT_BACKLOG) {
            r->held = true; /* engine_release() kicks it */
            return;
        }
        st = frontier_next(r->fr, now, &fj, &wake);

        if (st == FRONTIER_READY) {
            struct job *j = fj.data;

            switch (fj.kind) {
            case FRONTIER_JOB_FETCH:
                job_step(j);
                break;
            case FRONTIER_JOB_ROBOTS: {
                struct robots_fetch *rf = xcalloc(1, sizeof(*rf));
                struct fetch_request req = {.url = fj.url, .done = robots_fetched, .data = rf};

                rf->run = r;
                rf->url = xstrdup(fj.url);
                r->busy++;
                if (fetch_start(e->fetch, &req) < 0) {
                    struct frontier_outcome fo = {.category = PROV_PROTOCOL_DENIED,
                                                  .retry_after_ms = -1};

                    r->busy--;
                    frontier_robots_done(r->fr, rf->url, &fo, NULL, 0, engine_now_ms());
                    engine_wake_others(e, r);
                    free(rf->url);
                    free(rf);
                }
                break;
            }
            case FRONTIER_JOB_DISALLOWED:
            case FRONTIER_JOB_GIVEN_UP:
                r->busy++;
                job_failed(
                    j, fj.kind == FRONTIER_JOB_DISALLOWED ? PROV_ROBOTS_DISALLOWED : fj.category,
                    fj.kind == FRONTIER_JOB_DISALLOWED
                        ? "robots.txt disallows it"
                        : "its host's robots.txt could not be fetched");
                j->state = JOB_DONE;
                r->busy--;
                if (j->kind == JOB_RECORD)
                    r->c.done++;
                else
                    r->disc_pending--;
                break;
            }
            continue;
        }
        if (st == FRONTIER_WAIT) {
            if (wake != FRONTIER_NEVER) {
                struct timeval tv;
                int64_t ms = wake > now ? wake - now : 0;

                tv.tv_sec = (time_t)(ms / 1000);
                tv.tv_usec = (suseconds_t)((ms % 1000) * 1000);
                evtimer_add(r->timer, &tv);
            }
            return;
        }
        /* Drained: nothing queued, nothing in flight. */
        if (r->busy == 0 && r->disc_pending == 0)
            run_finish(r);
        return;
    }
}

/* ---- starting runs -------------------------------------------------- */

static struct engine_run *run_new(struct harvest_engine *e, const struct harvest_source *src,
                                  enum harvest_trigger t, bool every_url, harvest_run_done_fn done,
                                  void *data)
{
    struct engine_run *r = xcalloc(1, sizeof(*r));
    struct frontier_options fo;

    r->e = e;
    run_copy_source(r, src);
    r->trigger = t;
    r->every_url = every_url;
    r->done = done;
    r->data = data;
    /* The run's own part; the host-wide part is the engine's table's. */
    frontier_options_init(&fo);
    fo.concurrency = src->concurrency ? src->concurrency : 1;
    fo.delay_ms = (int64_t)src->delay_ms;
    fo.max_attempts = e->o.retries;
    fo.backoff_ms = (int64_t)e->o.retry_base_ms;
    fo.hosts = e->hosts;
    r->fr = frontier_new(&fo);
    r->timer = evtimer_new(e->base, run_timer_cb, r);
    return r;
}

/* Set up the discovery of r: its URL list, its sitemap and its listing
 * walk. Returns 0, or -EINVAL with r->error set. */
static int run_discover(struct engine_run *r)
{
    unsigned flags = r->src.allow_file ? DISCOVER_ALLOW_FILE : 0;
    char err[256];

    if (r->src.n_urls)
        run_add_records(r, r->src.urls, NULL, r->src.n_urls);
    if (r->src.sitemap) {
        const char *reason;
        char *u = discover_url_normalize(r->src.sitemap, flags, &reason);

        if (u == NULL) {
            run_set_error(r, "sitemap URL refused", reason);
            return -EINVAL;
        }
        run_add_discovery(r, JOB_SITEMAP, u);
        free(u);
    }
    if (r->src.listing) {
        struct discover_listing_options lo = {.links_xpath = r->src.listing_links,
                                              .next_xpath = r->src.listing_next,
                                              .url_flags = flags};
        struct discover_listing_state_options so = {
            .start = r->src.listing,
            .first_page = r->src.listing_first_page,
            .max_pages = ENGINE_LISTING_MAX_PAGES,
            .mode = r->trigger == HARVEST_SCHEDULE && !r->every_url ? DISCOVER_LISTING_INCREMENTAL
                                                                    : DISCOVER_LISTING_FULL,
            .url_flags = flags,
        };

        if (discover_listing_new(&lo, &r->listing_parser, err, sizeof(err)) < 0 ||
            (r->listing = discover_listing_state_new(&so, err, sizeof(err))) == NULL) {
            run_set_error(r, "listing", err);
            return -EINVAL;
        }
        run_add_discovery(r, JOB_LISTING, discover_listing_state_url(r->listing));
    }
    if (r->trigger == HARVEST_SCHEDULE && !r->every_url) {
        /* Known records whose re-check is due, even when the listing no
         * longer shows them. */
        struct strlist due = {0};

        if (r->e->sink.due(r->e->sink.data, r->src.name, engine_wall(), ENGINE_DUE_MAX, &due) == 0)
            run_add_records(r, (const char *const *)due.v, NULL, due.n);
        strlist_clear(&due);
    }
    return 0;
}

int harvest_run_start(struct harvest_engine *e, const struct harvest_source *src,
                      enum harvest_trigger t, bool every_url, harvest_run_done_fn done, void *data,
                      int64_t *run_id, bool *resumed)
{
    struct engine_run *r;
    int64_t id = 0;
    int rc;

    if (harvest_source_run(e, src->name, &id) == 0)
        return -EBUSY;
    r = run_new(e, src, t, every_url, done, data);
    if (r->fr == NULL) {
        run_free(r);
        return -EINVAL;
    }
    rc = e->sink.run_unfinished(e->sink.data, src->name, &r->id);
    if (rc == 0) {
        r->resumed = true;
        rc = run_add_pending(r);
    } else if (rc == -ENOENT) {
        /* A new run may have taken over URLs of runs a crash left. Any
         * other answer (a storage error) starts nothing: a new run would
         * leave an interrupted one behind. */
        rc = e->sink.run_start(e->sink.data, src->name, t, false, &r->id);
        if (rc == 0)
            rc = run_add_pending(r);
    }
    if (rc < 0) {
        run_free(r);
        return rc;
    }
    r->next = e->runs;
    e->runs = r;
    if (run_discover(r) < 0)
        r->discovery_failed = true;
    *run_id = r->id;
    if (resumed)
        *resumed = r->resumed;
    /* Start from the loop, never inside the caller. */
    run_kick(r);
    return 0;
}

int harvest_fetch_one(struct harvest_engine *e, const struct harvest_source *src, const char *url,
                      harvest_run_done_fn done, void *data, int64_t *run_id)
{
    struct engine_run *r;
    const char *reason;
    char *norm = discover_url_normalize(url, src->allow_file ? DISCOVER_ALLOW_FILE : 0, &reason);
    int rc;

    if (norm == NULL)
        return -EINVAL;
    r = run_new(e, src, HARVEST_MANUAL, true, done, data);
    r->single = true;
    rc = r->fr ? e->sink.run_start(e->sink.data, src->name, HARVEST_MANUAL, true, &r->id) : -EINVAL;
    if (rc < 0) {
        free(norm);
        run_free(r);
        return rc;
    }
    r->next = e->runs;
    e->runs = r;
    run_add_records(r, (const char *const *)&norm, NULL, 1);
    free(norm);
    *run_id = r->id;
    run_kick(r);
    return 0;
}

int harvest_run_add_url(struct harvest_engine *e, int64_t run_id, const char *url)
{
    for (struct engine_run *r = e->runs; r; r = r->next) {
        if (r->id == run_id) {
            run_add_records(r, &url, NULL, 1);
            run_pump(r);
            return 0;
        }
    }
    return -ENOENT;
}

int harvest_source_run(const struct harvest_engine *e, const char *source, int64_t *run_id)
{
    for (const struct engine_run *r = e->runs; r; r = r->next) {
        if (!r->single && strcmp(r->src.name, source) == 0) {
            *run_id = r->id;
            return 0;
        }
    }
    return -ENOENT;
}

int harvest_run_progress(const struct harvest_engine *e, int64_t run_id, struct harvest_counters *c,
                         unsigned long *total)
{
    for (const struct engine_run *r = e->runs; r; r = r->next) {
        if (r->id == run_id) {
            *c = r->c;
            *total = r->c.discovered;
            return 0;
        }
    }
    return -ENOENT;
}

unsigned harvest_engine_runs(const struct harvest_engine *e)
{
    unsigned n = 0;

    for (const struct engine_run *r = e->runs; r; r = r->next)
        n++;
    return n;
}

struct harvest_engine *harvest_engine_new(struct event_base *base, struct fetch *f,
                                          struct worker_pool *w, const struct harvest_sink *sink,
                                          const struct harvest_options *o)
{
    struct harvest_engine *e = xcalloc(1, sizeof(*e));
    struct frontier_options fo;

    e->base = base;
    e->fetch = f;
    e->workers = w;
    e->sink = *sink;
    e->o.retries = 3;
    e->o.retry_base_ms = 1000;
    e->o.retry_after_max_ms = 3600 * 1000;
    e->o.crawl_delay_max_ms = 60 * 1000;
    e->o.host_pause_after = 5;
    e->o.max_in_flight = 32;
    if (o) {
        e->o = *o;
        if (e->o.retries == 0)
            e->o.retries = 1;
        if (e->o.max_in_flight == 0)
            e->o.max_in_flight = 32;
        if (e->o.retry_base_ms == 0)
            e->o.retry_base_ms = 1000;
    }
    frontier_options_init(&fo);
    fo.max_in_flight = e->o.max_in_flight;
    fo.crawl_delay_cap_ms = (int64_t)e->o.crawl_delay_max_ms;
    fo.retry_after_cap_ms = (int64_t)e->o.retry_after_max_ms;
    fo.pause_after = e->o.host_pause_after;
    fo.seed = (uint64_t)engine_now_ms() ^ (uint64_t)(uintptr_t)e;
    e->hosts = frontier_hosts_new(&fo);
    if (e->hosts == NULL) {
        /* caps beyond what the frontier takes (the configuration bounds
         * them): the defaults rather than no shared politeness */
        frontier_options_init(&fo);
        fo.seed = (uint64_t)engine_now_ms() ^ (uint64_t)(uintptr_t)e;
        e->hosts = frontier_hosts_new(&fo);
    }
    e->reaper = event_new(base, -1, 0, engine_reap, e);
    return e;
}

void harvest_engine_stop(struct harvest_engine *e)
{
    if (e == NULL || e->stopping)
        return;
    e->stopping = true;
    /* Cancelled transfers call back with cancelled set: their jobs only
     * drop their count, and their URLs stay pending in the stored
     * frontier. */
    if (e->fetch)
        fetch_cancel_all(e->fetch);
}

void harvest_engine_free(struct harvest_engine *e)
{
    if (e == NULL)
        return;
    harvest_engine_stop(e);
    while (e->runs) {
        struct engine_run *r = e->runs;

        e->runs = r->next;
        run_free(r);
    }
    engine_reap(-1, 0, e);
    frontier_hosts_free(e->hosts);
    lastmods_release(&e->lm);
    event_free(e->reaper);
    free(e);
}
