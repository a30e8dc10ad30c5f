/*
 * sink: the harvest engine's sink on the catalog. Each function maps one
 * engine event onto one catalog call (one transaction: the page's outcome,
 * its fetch state, the run's counters and its frontier entry together).
 * Storage errors are passed back unchanged; the engine leaves the URL
 * pending and the daemon logs the category.
 */
#include "provd.h"

#include "xmalloc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

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

static int sink_run_start(void *data, const char *source, enum harvest_trigger t, int64_t *run_id)
{
    struct provd *p = data;
    enum catalog_trigger ct = t == HARVEST_ONCE     ? CATALOG_TRIGGER_ONCE
                              : t == HARVEST_MANUAL ? CATALOG_TRIGGER_MANUAL
                                                    : CATALOG_TRIGGER_SCHEDULE;

    return catalog_run_start(p->db, source, ct, run_id);
}

static int sink_run_unfinished(void *data, const char *source, int64_t *run_id)
{
    struct provd *p = data;

    return catalog_run_unfinished(p->db, source, run_id);
}

static int sink_run_finish(void *data, int64_t run_id, bool aborted)
{
    struct provd *p = data;

    return catalog_run_finish(p->db, run_id, aborted);
}

static int sink_frontier_add(void *data, int64_t run_id, const char *const *urls, size_t n,
                             bool *added)
{
    struct provd *p = data;
    int rc = catalog_begin(p->db);

    for (size_t i = 0; rc == 0 && i < n; i++) {
        rc = catalog_frontier_add(p->db, run_id, urls[i]);
        added[i] = rc > 0;
        if (rc > 0)
            rc = 0;
    }
    if (rc == 0)
        return catalog_commit(p->db, NULL);
    catalog_rollback(p->db);
    return rc;
}

static int sink_frontier_skip(void *data, int64_t run_id, const char *url)
{
    struct provd *p = data;

    return catalog_frontier_mark(p->db, run_id, url, CATALOG_FRONTIER_DONE);
}

static int sink_due(void *data, const char *source, int64_t now, size_t max, struct strlist *urls)
{
    struct provd *p = data;

    return catalog_fetch_due(p->db, source, now, max, urls);
}

static int sink_frontier_pending(void *data, int64_t run_id, size_t max, struct strlist *urls)
{
    struct provd *p = data;

    return catalog_frontier_pending(p->db, run_id, max, urls);
}

static int sink_url_state(void *data, const char *url, struct harvest_url_state *st)
{
    struct provd *p = data;
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
    struct provd *p = data;
    struct catalog_page cp = sink_page(pg);
    struct catalog_upsert_result res;
    int rc = catalog_upsert(p->db, &cp, r, &res);

    if (rc == 0)
        *outcome = res.outcome == CATALOG_NEW         ? 0
                   : res.outcome == CATALOG_CHANGED   ? 1
                   : res.outcome == CATALOG_UNCHANGED ? 2
                                                      : 3;
    return rc;
}

static int sink_not_modified(void *data, const struct harvest_page *pg)
{
    struct provd *p = data;
    struct catalog_page cp = sink_page(pg);

    return catalog_not_modified(p->db, &cp);
}

static int sink_missing(void *data, const struct harvest_page *pg, bool *gone)
{
    struct provd *p = data;
    struct catalog_page cp = sink_page(pg);

    return catalog_missing(p->db, &cp, gone);
}

static int sink_failed(void *data, const struct harvest_page *pg, enum prov_category cat,
                       const char *message)
{
    struct provd *p = data;
    struct catalog_page cp = sink_page(pg);

    provd_note_error(p, pg->url, cat, message);
    return catalog_fetch_failed(p->db, &cp, cat, message);
}

void provd_sink_init(struct provd *p, struct harvest_sink *sink)
{
    memset(sink, 0, sizeof(*sink));
    sink->data = p;
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
