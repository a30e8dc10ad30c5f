/*
 * sink: the harvest engine's sink on the catalog. Each engine event that
 * writes (a page's outcome, frontier entries, a run's start and end)
 * becomes a job for the writer thread (writer.c), which applies the jobs
 * in order through its own catalog handle, batched into transactions,
 * off the event loop: a slow disk holds up the writer, not the control
 * socket. The engine is told at once that an outcome is stored; what the
 * writer finds (the real new/changed/unchanged outcome, failed writes,
 * whether the run's end could be stored) comes back as results on the
 * loop, which correct the run's counters and mark the run failed when a
 * write was lost (the run then stays unfinished in the catalog and the
 * next start resumes it). Until its end is stored, a run's state stays
 * "running" in the API, so "done" still means "in the catalog".
 *
 * Reads are answered on the loop from the daemon's own handle (p->db),
 * which writes only in run_unfinished (taking over interrupted runs),
 * while the writer is synced and idle. Reads stay consistent with the
 * writes still queued this way: the calls made when a run starts
 * (run_unfinished, due, frontier_pending) first wait until the writer
 * has committed everything queued (writer_sync), and run_start is itself
 * answered by the writer, in order; url_state is read without waiting,
 * since only a URL's own outcome changes its state and a run fetches a
 * URL once, after everything of the runs before it was committed. Whether
 * frontier_add added a URL is known on the loop for runs started by this
 * process (the sink remembers the URLs it added to them); a resumed run's
 * stored frontier predates the process, so for those the writer answers,
 * and the loop waits. The outcome the engine is told by store is a guess
 * (unchanged when the URL already leads to a record, else new), corrected
 * by the writer's result. It owns the per-run bookkeeping and the writer;
 * the catalog handle p->db is the daemon's.
 */
#include "provd.h"

#include "log.h"
#include "writer.h"
#include "xmalloc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A run this process started or resumed, until its end is stored. */
struct sink_run {
    int64_t id;
    bool resumed; /* its stored frontier predates this process */
    char **set;   /* URLs this process added to its stored frontier */
    size_t cap, n;
    long delta[4];          /* stored minus guessed: new, changed, unchanged, kept */
    unsigned lost;          /* writes that failed */
    enum prov_category cat; /* of the last one */
    struct sink_run *next;
};

struct provd_sink {
    struct provd *p;
    struct writer *w;
    struct sink_run *runs;
};

static uint64_t sink_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;

    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

/* Add url to sr's set: true when it was not there yet. */
static bool sink_set_add(struct sink_run *sr, const char *url)
{
    size_t i;

    if ((sr->n + 1) * 2 > sr->cap) {
        size_t cap = sr->cap ? sr->cap * 2 : 256;
        char **v = xcalloc(cap, sizeof(*v));

        for (size_t k = 0; k < sr->cap; k++) {
            if (sr->set[k] == NULL)
                continue;
            for (i = sink_hash(sr->set[k]) & (cap - 1); v[i]; i = (i + 1) & (cap - 1))
                ;
            v[i] = sr->set[k];
        }
        free(sr->set);
        sr->set = v;
        sr->cap = cap;
    }
    for (i = sink_hash(url) & (sr->cap - 1); sr->set[i]; i = (i + 1) & (sr->cap - 1))
        if (strcmp(sr->set[i], url) == 0)
            return false;
    sr->set[i] = xstrdup(url);
    sr->n++;
    return true;
}

static struct sink_run *sink_run_find(struct provd_sink *s, int64_t id)
{
    for (struct sink_run *sr = s->runs; sr; sr = sr->next)
        if (sr->id == id)
            return sr;
    return NULL;
}

static void sink_run_add(struct provd_sink *s, int64_t id, bool resumed)
{
    struct sink_run *sr = sink_run_find(s, id);

    if (sr == NULL) {
        sr = xcalloc(1, sizeof(*sr));
        sr->id = id;
        sr->next = s->runs;
        s->runs = sr;
    }
    sr->resumed = resumed;
}

static void sink_run_free(struct sink_run *sr)
{
    for (size_t k = 0; k < sr->cap; k++)
        free(sr->set[k]);
    free(sr->set);
    free(sr);
}

static void sink_run_drop(struct provd_sink *s, int64_t id)
{
    for (struct sink_run **pp = &s->runs; *pp; pp = &(*pp)->next) {
        if ((*pp)->id == id) {
            struct sink_run *sr = *pp;

            *pp = sr->next;
            sink_run_free(sr);
            return;
        }
    }
}

static struct provd_run *sink_daemon_run(struct provd *p, int64_t id)
{
    for (struct provd_run *r = p->runs; r; r = r->next)
        if (r->id == id)
            return r;
    return NULL;
}

/* The end of a run is stored (or could not be): its counters take the
 * catalog's outcomes, and a lost write fails it. */
static void sink_run_stored(struct provd_sink *s, const struct writer_result *res)
{
    struct sink_run *sr = sink_run_find(s, res->run_id);
    struct provd_run *r = sink_daemon_run(s->p, res->run_id);

    if (r && sr) {
        unsigned long *slot[] = {&r->counters.n_new, &r->counters.changed, &r->counters.unchanged,
                                 &r->counters.kept};

        for (int i = 0; i < 4; i++)
            *slot[i] = (unsigned long)((long)*slot[i] + sr->delta[i]);
    }
    if (r) {
        r->storing = false;
        if (res->rc < 0 && !r->failed) {
            r->failed = true;
            free(r->error);
            if (sr && sr->lost)
                r->error =
                    xasprintf("%u write%s could not be stored (%s); the run resumes "
                              "next time",
                              sr->lost, sr->lost == 1 ? "" : "s", prov_category_name(sr->cat));
            else
                r->error = xasprintf("the run's end could not be stored (%s: %s)",
                                     prov_category_name(res->category), res->errmsg);
            log_msg(LOG_LVL_ERR, "run %lld of %s failed: %s", (long long)r->id, r->source,
                    r->error);
        }
    }
    sink_run_drop(s, res->run_id);
}

/* A result of the writer, on the loop. */
static void sink_result(const struct writer_result *res, void *data)
{
    struct provd_sink *s = data;
    struct sink_run *sr = sink_run_find(s, res->run_id);

    if (res->op == WRITER_RUN_FINISH) {
        sink_run_stored(s, res);
        return;
    }
    if (res->rc < 0) {
        char msg[256];

        if (sr) {
            sr->lost++;
            sr->cat = res->category;
        }
        snprintf(msg, sizeof(msg), "not stored: %s", res->errmsg);
        provd_note_error(s->p, res->url ? res->url : "(batch)", res->category, msg);
        return;
    }
    if (res->op == WRITER_STORE && sr && res->outcome != res->guess) {
        sr->delta[res->outcome >= 0 && res->outcome <= 3 ? res->outcome : 3]++;
        sr->delta[res->guess >= 0 && res->guess <= 3 ? res->guess : 3]--;
    }
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

/* A run starts in a transaction of its own, after everything queued
 * before it is committed; the loop waits for its id. */
static int sink_run_start(void *data, const char *source, enum harvest_trigger t, bool single,
                          int64_t *run_id)
{
    struct provd_sink *s = data;
    enum catalog_trigger ct = single                ? CATALOG_TRIGGER_PAGE
                              : t == HARVEST_ONCE   ? CATALOG_TRIGGER_ONCE
                              : t == HARVEST_MANUAL ? CATALOG_TRIGGER_MANUAL
                                                    : CATALOG_TRIGGER_SCHEDULE;
    int rc = writer_run_start(s->w, source, ct, run_id);

    if (rc == 0)
        sink_run_add(s, *run_id, false);
    return rc;
}

static int sink_run_unfinished(void *data, const char *source, int64_t *run_id)
{
    struct provd_sink *s = data;
    int rc;

    /* Taking over the other unfinished runs writes: the writer is idle
     * once synced, and the loop queues nothing meanwhile. */
    writer_sync(s->w);
    rc = catalog_run_resume(s->p->db, source, run_id);
    if (rc == 0)
        sink_run_add(s, *run_id, true);
    else if (rc != -ENOENT)
        log_msg(LOG_LVL_ERR, "source %s: cannot look for an interrupted run: %s: %s", source,
                prov_category_name(catalog_category(s->p->db)), catalog_errmsg(s->p->db));
    return rc;
}

/* The end is queued behind the run's writes; the API shows the run as
 * running until the writer has stored it. provd --once has no API and
 * waits, so that its exit status counts a run whose writes were lost. */
static int sink_run_finish(void *data, int64_t run_id, bool aborted)
{
    struct provd_sink *s = data;
    struct provd_run *r = sink_daemon_run(s->p, run_id);

    if (r && !s->p->once)
        r->storing = true;
    return writer_run_finish(s->w, run_id, aborted, s->p->once);
}

static int sink_frontier_add(void *data, int64_t run_id, const char *const *urls, size_t n,
                             bool *added)
{
    struct provd_sink *s = data;
    struct sink_run *sr = sink_run_find(s, run_id);

    if (sr == NULL || sr->resumed)
        return writer_frontier_add(s->w, run_id, urls, n, added);
    for (size_t i = 0; i < n; i++)
        added[i] = sink_set_add(sr, urls[i]);
    return writer_frontier_add(s->w, run_id, urls, n, NULL);
}

static int sink_frontier_skip(void *data, int64_t run_id, const char *url)
{
    struct provd_sink *s = data;

    writer_frontier_skip(s->w, run_id, url);
    return 0;
}

static int sink_due(void *data, const char *source, int64_t now, size_t max, struct strlist *urls)
{
    struct provd_sink *s = data;

    writer_sync(s->w);
    return catalog_fetch_due(s->p->db, source, now, max, urls);
}

static int sink_frontier_pending(void *data, int64_t run_id, size_t max, struct strlist *urls)
{
    struct provd_sink *s = data;

    writer_sync(s->w);
    return catalog_frontier_pending(s->p->db, run_id, max, urls);
}

static int sink_url_state(void *data, const char *source, const char *url,
                          struct harvest_url_state *st)
{
    struct provd_sink *s = data;
    struct provd *p = s->p;
    struct catalog_fetch_state fs = {0};
    int rc = catalog_fetch_get_source(p->db, source, url, &fs);

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

/* The outcome told to the engine is a guess (see the top); the writer's
 * result corrects the run's counters. */
static int sink_store(void *data, const struct harvest_page *pg, const struct record *r,
                      int *outcome)
{
    struct provd_sink *s = data;
    struct catalog_page cp = sink_page(pg);
    struct catalog_fetch_state fs = {0};
    bool known =
        catalog_fetch_get_source(s->p->db, pg->source, pg->url, &fs) == 0 && fs.record != 0;

    catalog_fetch_state_clear(&fs);
    *outcome = known ? 2 : 0;
    writer_store(s->w, &cp, r, *outcome);
    return 0;
}

static int sink_not_modified(void *data, const struct harvest_page *pg)
{
    struct provd_sink *s = data;
    struct catalog_page cp = sink_page(pg);

    writer_not_modified(s->w, &cp);
    return 0;
}

static int sink_missing(void *data, const struct harvest_page *pg, bool *gone)
{
    struct provd_sink *s = data;
    struct catalog_page cp = sink_page(pg);

    /* The engine does not use it; the catalog decides when it is stored. */
    *gone = false;
    writer_missing(s->w, &cp);
    return 0;
}

static int sink_failed(void *data, const struct harvest_page *pg, enum prov_category cat,
                       const char *message)
{
    struct provd_sink *s = data;
    struct catalog_page cp = sink_page(pg);

    provd_note_error(s->p, pg->url, cat, message);
    writer_failed(s->w, &cp, cat, message);
    return 0;
}

void provd_sink_close(struct provd *p)
{
    struct provd_sink *s = p->sink;

    if (s == NULL)
        return;
    /* Everything queued is written and committed before the thread ends;
     * its last results still reach the runs. */
    writer_free(s->w);
    while (s->runs) {
        struct sink_run *sr = s->runs;

        s->runs = sr->next;
        sink_run_free(sr);
    }
    free(s);
    p->sink = NULL;
}

int provd_sink_init(struct provd *p, struct harvest_sink *sink)
{
    struct provd_sink *s = xcalloc(1, sizeof(*s));
    char err[256];
    int rc;

    s->p = p;
    rc = writer_new(p->base, p->conf->database, (int)p->conf->db_busy_timeout_ms, sink_result, s,
                    &s->w, err, sizeof(err));
    if (rc < 0) {
        log_msg(LOG_LVL_ERR, "catalog %s: %s", p->conf->database, err);
        free(s);
        return rc;
    }
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
    return 0;
}
