/*
 * sink: the harvest engine's sink on the catalog. Each function maps one
 * engine event onto one catalog call, which writes the page's outcome, its
 * fetch state, the run's counters and its frontier entry together.
 *
 * The calls are batched: they join one open transaction, committed after
 * SINK_BATCH_PAGES outcomes or SINK_BATCH_MS, before a run starts or
 * finishes, and at shutdown (provd_sink_close), so that a harvest pays
 * one fsync per batch rather than per page. A crash loses at most the
 * open batch, whose URLs are still pending in their runs' stored
 * frontiers, so the resumed run fetches them again (DESIGN.md, "Writes
 * are batched"). When a batch is rolled back (a storage error in it, or
 * a failed commit), outcomes the engine was already told were stored are
 * gone: the runs that wrote to the batch are remembered, and finishing
 * them fails, which leaves them unfinished for the next start to resume.
 * Storage errors are passed back unchanged; the daemon logs the category.
 * It owns the batch state (struct provd_sink); the catalog handle is the
 * daemon's.
 */
#include "provd.h"

#include "xmalloc.h"

#include <errno.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

/* Outcomes per transaction at most, and how long one stays open at most. */
#define SINK_BATCH_PAGES 64
#define SINK_BATCH_MS    500
/* Distinct runs one batch may hold (a new one commits the batch first). */
#define SINK_BATCH_RUNS 8

struct provd_sink {
    struct provd *p;
    struct event *timer; /* commits the open batch at its age limit */
    bool open;
    unsigned pages;
    int64_t runs[SINK_BATCH_RUNS]; /* runs that wrote to the open batch */
    size_t n_runs;
    int64_t *damaged; /* runs that lost acknowledged outcomes */
    size_t n_damaged;
};

/* The open batch is gone: every run that wrote to it must not finish. */
static void sink_lost(struct provd_sink *s)
{
    for (size_t i = 0; i < s->n_runs; i++) {
        bool known = false;

        for (size_t k = 0; k < s->n_damaged && !known; k++)
            known = s->damaged[k] == s->runs[i];
        if (!known) {
            s->damaged = xreallocarray(s->damaged, s->n_damaged + 1, sizeof(*s->damaged));
            s->damaged[s->n_damaged++] = s->runs[i];
        }
    }
    s->open = false;
    s->n_runs = 0;
    s->pages = 0;
    evtimer_del(s->timer);
}

/* Commit the open batch, if any. */
static int sink_flush(struct provd_sink *s)
{
    int rc;

    if (!s->open)
        return 0;
    rc = catalog_commit(s->p->db, NULL);
    if (rc < 0) {
        catalog_rollback(s->p->db);
        sink_lost(s);
        return rc;
    }
    s->open = false;
    s->n_runs = 0;
    s->pages = 0;
    evtimer_del(s->timer);
    return 0;
}

static void sink_on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct provd_sink *s = arg;

    /* A failure is remembered against the batch's runs; the next write
     * reports the storage error to the engine. */
    sink_flush(s);
}

/* Make sure a batch is open for a write of run (0: none). */
static int sink_begin(struct provd_sink *s, int64_t run)
{
    bool listed = run == 0;
    int rc;

    for (size_t i = 0; i < s->n_runs && !listed; i++)
        listed = s->runs[i] == run;
    if (s->open && !listed && s->n_runs == SINK_BATCH_RUNS && (rc = sink_flush(s)) < 0)
        return rc;
    if (!s->open) {
        struct timeval tv = {SINK_BATCH_MS / 1000, (SINK_BATCH_MS % 1000) * 1000};

        rc = catalog_begin(s->p->db);
        if (rc < 0)
            return rc;
        s->open = true;
        s->pages = 0;
        s->n_runs = 0;
        listed = run == 0;
        evtimer_add(s->timer, &tv);
    }
    if (!listed)
        s->runs[s->n_runs++] = run;
    return 0;
}

/* After a write in the batch: a failed one rolled the batch back (the
 * catalog's rule); an outcome counts towards the batch's size. */
static int sink_end(struct provd_sink *s, int rc, bool outcome)
{
    if (rc < 0) {
        if (s->open && !catalog_in_batch(s->p->db))
            sink_lost(s);
        return rc;
    }
    if (outcome && ++s->pages >= SINK_BATCH_PAGES)
        return sink_flush(s);
    return 0;
}

static struct catalog_page sink_page(const struct harvest_page *pg)
{
    struct catalog_page cp = {
        .source = pg->source,
        .url = pg->url,
        .etag = pg->etag,
        .last_modified = pg->last_modified,
        .http_status = pg->http_status,
        .run_id = pg->run_id,
        .next_due = pg->next_due,
    };
    return cp;
}

/* Runs start and finish in transactions of their own, after the open
 * batch is committed. */
static int sink_run_start(void *data, const char *source, enum harvest_trigger t, int64_t *run_id)
{
    struct provd_sink *s = data;
    enum catalog_trigger ct = t == HARVEST_ONCE     ? CATALOG_TRIGGER_ONCE
                              : t == HARVEST_MANUAL ? CATALOG_TRIGGER_MANUAL
                                                    : CATALOG_TRIGGER_SCHEDULE;
    int rc = sink_flush(s);

    return rc < 0 ? rc : catalog_run_start(s->p->db, source, ct, run_id);
}

static int sink_run_unfinished(void *data, const char *source, int64_t *run_id)
{
    struct provd_sink *s = data;

    return catalog_run_unfinished(s->p->db, source, run_id);
}

static int sink_run_finish(void *data, int64_t run_id, bool aborted)
{
    struct provd_sink *s = data;
    int rc = sink_flush(s);

    for (size_t k = 0; k < s->n_damaged; k++) {
        if (s->damaged[k] == run_id) {
            s->damaged[k] = s->damaged[--s->n_damaged];
            return -EIO;
        }
    }
    return rc < 0 ? rc : catalog_run_finish(s->p->db, run_id, aborted);
}

static int sink_frontier_add(void *data, int64_t run_id, const char *const *urls, size_t n,
                             bool *added)
{
    struct provd_sink *s = data;
    int rc = sink_begin(s, run_id);

    for (size_t i = 0; rc == 0 && i < n; i++) {
        rc = catalog_frontier_add(s->p->db, run_id, urls[i]);
        added[i] = rc > 0;
        if (rc > 0)
            rc = 0;
    }
    return sink_end(s, rc, false);
}

static int sink_frontier_skip(void *data, int64_t run_id, const char *url)
{
    struct provd_sink *s = data;
    int rc = sink_begin(s, run_id);

    if (rc == 0)
        rc = catalog_frontier_mark(s->p->db, run_id, url, CATALOG_FRONTIER_DONE);
    return sink_end(s, rc, false);
}

static int sink_due(void *data, const char *source, int64_t now, size_t max, struct strlist *urls)
{
    struct provd_sink *s = data;

    return catalog_fetch_due(s->p->db, source, now, max, urls);
}

static int sink_frontier_pending(void *data, int64_t run_id, size_t max, struct strlist *urls)
{
    struct provd_sink *s = data;

    return catalog_frontier_pending(s->p->db, run_id, max, urls);
}

static int sink_url_state(void *data, const char *url, struct harvest_url_state *st)
{
    struct provd_sink *s = data;
    struct provd *p = s->p;
    struct catalog_fetch_state fs = {0};
    int rc = catalog_fetch_get(p->db, url, &fs);

    if (rc < 0)
        return rc;
    st->etag = fs.etag;
    st->last_modified = fs.last_modified;
    fs.etag = fs.last_modified = NULL;
    st->next_due = fs.next_due;
    st->has_record = fs.record != 0;
    catalog_fetch_state_clear(&fs);
    return 0;
}

static int sink_store(void *data, const struct harvest_page *pg, const struct record *r,
                      int *outcome)
{
    struct provd_sink *s = data;
    struct catalog_page cp = sink_page(pg);
    struct catalog_upsert_result res;
    int rc = sink_begin(s, pg->run_id);

    if (rc == 0)
        rc = catalog_upsert(s->p->db, &cp, r, &res);
    if (rc == 0)
        *outcome = res.outcome == CATALOG_NEW         ? 0
                   : res.outcome == CATALOG_CHANGED   ? 1
                   : res.outcome == CATALOG_UNCHANGED ? 2
                                                      : 3;
    return sink_end(s, rc, true);
}

static int sink_not_modified(void *data, const struct harvest_page *pg)
{
    struct provd_sink *s = data;
    struct catalog_page cp = sink_page(pg);
    int rc = sink_begin(s, pg->run_id);

    if (rc == 0)
        rc = catalog_not_modified(s->p->db, &cp);
    return sink_end(s, rc, true);
}

static int sink_missing(void *data, const struct harvest_page *pg, bool *gone)
{
    struct provd_sink *s = data;
    struct catalog_page cp = sink_page(pg);
    int rc = sink_begin(s, pg->run_id);

    if (rc == 0)
        rc = catalog_missing(s->p->db, &cp, gone);
    return sink_end(s, rc, true);
}

static int sink_failed(void *data, const struct harvest_page *pg, enum prov_category cat,
                       const char *message)
{
    struct provd_sink *s = data;
    struct catalog_page cp = sink_page(pg);
    int rc = sink_begin(s, pg->run_id);

    provd_note_error(s->p, pg->url, cat, message);
    if (rc == 0)
        rc = catalog_fetch_failed(s->p->db, &cp, cat, message);
    return sink_end(s, rc, true);
}

void provd_sink_close(struct provd *p)
{
    struct provd_sink *s = p->sink;

    if (s == NULL)
        return;
    sink_flush(s);
    event_free(s->timer);
    free(s->damaged);
    free(s);
    p->sink = NULL;
}

void provd_sink_init(struct provd *p, struct harvest_sink *sink)
{
    struct provd_sink *s = xcalloc(1, sizeof(*s));

    s->p = p;
    s->timer = evtimer_new(p->base, sink_on_timer, s);
    p->sink = s;
    memset(sink, 0, sizeof(*sink));
    sink->data = s;
    sink->run_start = sink_run_start;
    sink->run_unfinished = sink_run_unfinished;
    sink->run_finish = sink_run_finish;
    sink->frontier_add = sink_frontier_add;
    sink->frontier_skip = sink_frontier_skip;
    sink->frontier_pending = sink_frontier_pending;
    sink->due = sink_due;
    sink->url_state = sink_url_state;
    sink->store = sink_store;
    sink->not_modified = sink_not_modified;
    sink->missing = sink_missing;
    sink->failed = sink_failed;
}
