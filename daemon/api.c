/*
 * api: the endpoints of provd's control socket (docs/API.md). Handlers
 * check their parameters on the loop, where a bad request is answered 400
 * at once, and answer JSON; they never write to the catalog. The catalog
 * queries of /v1/records and its sub-paths, with the building and encoding
 * of their JSON, run as jobs of the query pool (querypool.c) on threads
 * with reader handles of their own; a full queue is answered 503 at once.
 * Each job owns copies of its parameters and its answer; the loop sends
 * the answer when the job comes back. GET /v1/status, the health query,
 * builds its answer on the loop but takes the catalog's counts, which are
 * linear in its size, on a pool of one thread of its own, so that it never
 * waits behind heavy queries nor holds the loop. Without pools (the API
 * fuzz target) the same jobs run on the loop, on the reader handle
 * p->reader. Queries run under the readers' budget: one that overruns
 * answers 503.
 */
#include "provd.h"

#include "log.h"
#include "querypool.h"
#include "strbuf.h"
#include "text.h"
#include "xmalloc.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const filter_params[] = {
    "archive",     "fund",       "inventory", "folder", "file",   "sheet",
    "contributor", "translator", "since",     "until",  "status", "source",
    "q",           "limit",      "cursor",    "format", NULL,
};

/* What the query pool's reader handles and p->reader share: the budget of
 * api-query-budget, in steps and in time. */
static struct catalog_options api_reader_options(const struct config *conf)
{
    /* 2 MiB of page cache each: the pool has several (bench/README.md,
     * "Control socket", on memory). */
    struct catalog_options o = {.readonly = true,
                                .busy_timeout_ms = 200,
                                .cache_kib = 2048,
                                .budget = (unsigned long)conf->api_query_budget_ms * 40,
                                .budget_ms = (unsigned)conf->api_query_budget_ms};
    return o;
}

/* The loop's reader handle, opened on first use (the writer creates the
 * file). */
static struct catalog *api_reader(struct provd *p, struct control_req *req)
{
    if (p->reader == NULL) {
        struct catalog_options o = api_reader_options(p->conf);
        struct catalog *c = NULL;
        int rc = catalog_open(p->conf->database, &o, &c);

        if (rc < 0) {
            control_reply_error(req, 503, "db_unavailable", "%s", catalog_errmsg(c));
            catalog_close(c);
            return NULL;
        }
        p->reader = c;
    }
    return p->reader;
}

/* ---- query jobs ------------------------------------------------------ */

enum api_query {
    API_STATUS,  /* GET /v1/status: the catalog's counts */
    API_COUNTS,  /* the same counts for the cache, with no client waiting */
    API_RECORDS, /* GET /v1/records */
    API_RECORD,  /* GET /v1/records/{} */
    API_HISTORY, /* GET /v1/records/{}/history */
};

#define API_KEPT_MAX 20
/* Status queries that may wait for the status thread. */
#define API_STATUS_DEPTH 64

/* One query: its parameters (copies), then its answer. The loop fills the
 * parameters before submitting and reads the answer after the job came
 * back; a worker thread reads the one and writes the other in between.
 * gone is the only field both touch at once. */
struct api_job {
    enum api_query what;
    struct catalog_filter f; /* API_RECORDS: pointers into kept */
    long limit;
    const char *cursor;
    const char *source, *ref;     /* API_RECORD, API_HISTORY */
    json_t *status_o;             /* API_STATUS: the loop's part of the answer */
    const char *database;         /* API_STATUS */
    struct provd *p;              /* API_STATUS, API_COUNTS: whose cache; loop only */
    struct catalog_counts counts; /* API_STATUS, API_COUNTS: taken when counted */
    bool counted;
    char *kept[API_KEPT_MAX];
    unsigned n_kept;
    struct control_later *later;
    atomic_bool gone; /* the client left: a job not begun is skipped */

    int status;
    char *body; /* JSON text; NULL when skipped or not encodable */
};

/* A copy of s that j owns (NULL stays NULL). */
static const char *api_keep(struct api_job *j, const char *s)
{
    if (s == NULL)
        return NULL;
    if (j->n_kept == API_KEPT_MAX)
        abort(); /* the handlers keep fewer: a programming error */
    j->kept[j->n_kept] = xstrdup(s);
    return j->kept[j->n_kept++];
}

/* CLOCK_MONOTONIC in milliseconds. */
static int64_t api_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void api_job_free(struct api_job *j)
{
    for (unsigned i = 0; i < j->n_kept; i++)
        free(j->kept[i]);
    json_decref(j->status_o);
    free(j->body);
    free(j);
}

/* The answer: status and o (stolen), encoded. */
static void api_job_answer(struct api_job *j, int status, json_t *o)
{
    j->status = status;
    free(j->body);
    j->body = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
}

static void api_job_error(struct api_job *j, int status, const char *error, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void api_job_error(struct api_job *j, int status, const char *error, const char *fmt, ...)
{
    char detail[512];
    char *clean;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    clean = text_utf8_sanitize(detail, strlen(detail));
    api_job_answer(j, status, json_pack("{s:s, s:s}", "error", error, "detail", clean));
    free(clean);
}

/* A catalog failure, with the fitting status. */
static void api_job_catalog_error(struct api_job *j, struct catalog *c, int rc)
{
    switch (rc) {
    case -EINVAL:
        api_job_error(j, 400, "bad_parameter", "%s", catalog_errmsg(c));
        return;
    case -ENOENT:
        api_job_error(j, 404, "unknown_record", "%s", catalog_errmsg(c));
        return;
    case -EEXIST:
        api_job_error(j, 400, "ambiguous_key", "%s (add source=NAME)", catalog_errmsg(c));
        return;
    case -ETIMEDOUT:
        api_job_error(j, 503, "query_budget", "the query ran over its time budget: %s",
                      catalog_errmsg(c));
        return;
    case -EBUSY:
        api_job_error(j, 503, "db_busy", "%s", catalog_errmsg(c));
        return;
    default:
        api_job_error(j, 500, "internal", "%s: %s", prov_category_name(catalog_category(c)),
                      catalog_errmsg(c));
        return;
    }
}

/* The "catalog" member of a status answer. */
static json_t *api_counts_json(const char *database, const struct catalog_counts *n, int64_t at)
{
    char when[40];

    catalog_format_time(at, when, sizeof(when));
    return json_pack("{s:s, s:I, s:I, s:I, s:I, s:s}", "database", database, "records",
                     (json_int_t)n->records, "active", (json_int_t)n->active, "gone",
                     (json_int_t)n->gone, "failing_urls", (json_int_t)n->failing, "counted_at",
                     when);
}

static void api_job_status(struct api_job *j, struct catalog *c)
{
    json_t *o = j->status_o;

    if (catalog_counts(c, NULL, &j->counts) < 0) {
        if (j->what == API_STATUS)
            api_job_catalog_error(j, c, -EIO);
        return;
    }
    j->counted = true;
    if (j->what == API_COUNTS)
        return;
    j->status_o = NULL;
    json_object_set_new(o, "catalog", api_counts_json(j->database, &j->counts, time(NULL)));
    api_job_answer(j, 200, o);
}

static void api_job_records(struct api_job *j, struct catalog *c)
{
    struct catalog_results res = {0};
    json_t *arr;
    int rc = catalog_search(c, &j->f, j->limit, j->cursor, &res);

    if (rc < 0) {
        api_job_catalog_error(j, c, rc);
        return;
    }
    arr = json_array();
    for (size_t i = 0; i < res.n; i++)
        json_array_append_new(arr, catalog_item_to_json(&res.items[i], 0));
    api_job_answer(j, 200,
                   json_pack("{s:o, s:s?}", "records", arr, "next", res.next ? res.next : NULL));
    catalog_results_clear(&res);
}

static void api_job_record(struct api_job *j, struct catalog *c)
{
    struct catalog_detail d = {0};
    int rc = catalog_show(c, j->source, j->ref, &d);

    if (rc < 0) {
        api_job_catalog_error(j, c, rc);
        return;
    }
    api_job_answer(j, 200, catalog_detail_to_json(&d));
    catalog_detail_clear(&d);
}

static void api_job_history(struct api_job *j, struct catalog *c)
{
    struct catalog_history h = {0};
    int rc = catalog_history(c, j->source, j->ref, &h);

    if (rc < 0) {
        api_job_catalog_error(j, c, rc);
        return;
    }
    api_job_answer(j, 200, catalog_history_to_json(&h));
    catalog_history_clear(&h);
}

/* querypool_run_fn: on a query thread (or on the loop without a pool). */
static void api_job_run(void *arg, struct catalog *c, const char *errmsg)
{
    struct api_job *j = arg;

    if (atomic_load(&j->gone))
        return;
    if (c == NULL) {
        api_job_error(j, 503, "db_unavailable", "%s", errmsg);
        return;
    }
    switch (j->what) {
    case API_STATUS:
    case API_COUNTS:
        api_job_status(j, c);
        return;
    case API_RECORDS:
        api_job_records(j, c);
        return;
    case API_RECORD:
        api_job_record(j, c);
        return;
    case API_HISTORY:
        api_job_history(j, c);
        return;
    }
}

/* querypool_done_fn: on the loop; sends the answer. */
static void api_job_done(void *arg, bool ran)
{
    static const char stopping[] = "{\"error\":\"stopping\",\"detail\":\"provd is stopping\"}";
    struct api_job *j = arg;

    if (j->p && (j->what == API_STATUS || j->what == API_COUNTS)) {
        if (ran && j->counted) {
            j->p->counts = j->counts;
            j->p->counted_ms = api_now_ms();
            j->p->counted_at = (int64_t)time(NULL);
        }
        if (j->what == API_COUNTS)
            j->p->counting = false;
    }
    if (j->what == API_COUNTS)
        ; /* no client */
    else if (!ran)
        control_later_reply(j->later, 503, 1, stopping, sizeof(stopping) - 1);
    else
        control_later_reply(j->later, j->status, 0, j->body, j->body ? strlen(j->body) : 0);
    api_job_free(j);
}

static void api_job_gone(void *arg)
{
    struct api_job *j = arg;

    atomic_store(&j->gone, true);
}

/* Run j for req: on pool, or at once on the loop without one. A full
 * queue is answered 503 at once. j is the callee's. */
static void api_submit(struct provd *p, struct querypool *pool, struct control_req *req,
                       struct api_job *j)
{
    struct querypool_stats st;
    struct catalog *c;
    int rc;

    if (pool == NULL) {
        c = api_reader(p, req);
        if (c == NULL) {
            api_job_free(j);
            return;
        }
        j->later = control_req_later(req, NULL, NULL);
        api_job_run(j, c, "");
        api_job_done(j, true);
        return;
    }
    rc = querypool_submit(pool, j, api_job_run, api_job_done);
    if (rc == -EAGAIN) {
        querypool_stats(pool, &st);
        control_reply_error(req, 503, "queue_full",
                            "%u queries are being answered and %u wait; try again later",
                            st.running, st.queued);
        api_job_free(j);
        return;
    }
    if (rc < 0) {
        control_reply_error(req, 503, "stopping", "provd is stopping");
        api_job_free(j);
        return;
    }
    /* The job may already run: the worker touches neither later nor the
     * connection, and done() comes on this thread after we return. */
    j->later = control_req_later(req, api_job_gone, j);
}

int provd_api_start(struct provd *p, char *err, size_t errlen)
{
    struct querypool_options o = {
        .database = p->conf->database,
        .reader = api_reader_options(p->conf),
        .workers = p->conf->api_workers,
        .depth = p->conf->api_queue_depth,
    };

    p->qpool = querypool_new(p->base, &o, err, errlen);
    if (p->qpool == NULL)
        return -EAGAIN;
    /* GET /v1/status, the health query, has a thread of its own: it never
     * waits behind the heavy queries, and its counts never hold the loop. */
    o.workers = 1;
    o.depth = API_STATUS_DEPTH;
    p->status_pool = querypool_new(p->base, &o, err, errlen);
    return p->status_pool ? 0 : -EAGAIN;
}

void provd_api_stop(struct provd *p)
{
    querypool_free(p->status_pool);
    p->status_pool = NULL;
    querypool_free(p->qpool);
    p->qpool = NULL;
}

/* Read the filters of a query; 0, or -EINVAL after answering 400. */
static int api_filter(struct control_req *req, struct catalog_filter *f)
{
    const char *sheet = control_req_param(req, "sheet");
    const char *status = control_req_param(req, "status");

    memset(f, 0, sizeof(*f));
    f->source = control_req_param(req, "source");
    f->archive = control_req_param(req, "archive");
    f->fund = control_req_param(req, "fund");
    f->inventory = control_req_param(req, "inventory");
    f->folder = control_req_param(req, "folder");
    f->file = control_req_param(req, "file");
    f->contributor = control_req_param(req, "contributor");
    f->translator = control_req_param(req, "translator");
    f->since = control_req_param(req, "since");
    f->until = control_req_param(req, "until");
    f->text = control_req_param(req, "q");
    if (sheet) {
        size_t n = strspn(sheet, "0123456789");

        if (n == 0 || sheet[n] != '\0' || n > 9) {
            control_reply_error(req, 400, "bad_parameter",
                                "sheet must be a whole number below 10^9");
            return -EINVAL;
        }
        f->sheet = sheet;
    }
    if (status) {
        if (strcmp(status, "active") != 0 && strcmp(status, "gone") != 0) {
            control_reply_error(req, 400, "bad_parameter", "status is active or gone");
            return -EINVAL;
        }
        f->status = status;
    }
    return 0;
}

/* limit: 1..CATALOG_PAGE_MAX, larger values are cut to the cap. */
static int api_limit(struct control_req *req, long *limit)
{
    const char *s = control_req_param(req, "limit");
    size_t n;

    *limit = CATALOG_PAGE_DEFAULT;
    if (s == NULL)
        return 0;
    n = strspn(s, "0123456789");
    if (n == 0 || s[n] != '\0') {
        control_reply_error(req, 400, "bad_parameter", "limit must be a whole number from 1 to %d",
                            CATALOG_PAGE_MAX);
        return -EINVAL;
    }
    *limit = n > 6 ? CATALOG_PAGE_MAX : strtol(s, NULL, 10);
    if (*limit < 1) {
        control_reply_error(req, 400, "bad_parameter", "limit must be at least 1");
        return -EINVAL;
    }
    if (*limit > CATALOG_PAGE_MAX)
        *limit = CATALOG_PAGE_MAX;
    return 0;
}

static void api_status(struct control_req *req, void *data)
{
    static const char *const none[] = {NULL};
    struct provd *p = data;
    char line[256], at[32];
    json_t *o, *runs, *errs;
    struct api_job *j;

    if (control_req_check_params(req, none) < 0)
        return;
    provd_status_line(p, line, sizeof(line));
    catalog_format_time(p->started, at, sizeof(at));
    o = json_pack("{s:s, s:i, s:s, s:s, s:s, s:n}", "version", PROVD_VERSION, "pid", (int)getpid(),
                  "started", at, "state", harvest_engine_runs(p->engine) ? "running" : "idle",
                  "status_line", line, "catalog");
    runs = json_array();
    for (struct provd_run *r = p->runs; r; r = r->next) {
        if (!r->finished)
            json_array_append_new(runs, provd_run_json(p, r->id ? r->id : r->queue_id));
    }
    json_object_set_new(o, "runs", runs);
    errs = json_array();
    for (unsigned i = 0; i < p->n_recent && i < PROVD_RECENT_ERRORS; i++) {
        const struct provd_error *e = &p->recent[(p->n_recent - 1 - i) % PROVD_RECENT_ERRORS];

        catalog_format_time(e->at, at, sizeof(at));
        json_array_append_new(errs, json_pack("{s:s, s:s, s:s, s:s}", "url", e->url, "category",
                                              prov_category_name(e->category), "message",
                                              e->message, "at", at));
    }
    json_object_set_new(o, "recent_errors", errs);
    if (p->qpool) {
        struct querypool_stats st;

        querypool_stats(p->qpool, &st);
        json_object_set_new(
            o, "queries",
            json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "workers", (json_int_t)st.workers,
                      "queue_depth", (json_int_t)st.depth, "running", (json_int_t)st.running,
                      "queued", (json_int_t)st.queued, "queued_most", (json_int_t)st.queued_most,
                      "answered", (json_int_t)st.done, "refused", (json_int_t)st.rejected));
    }
    if (p->status_pool && p->counted_ms) {
        /* Counting is linear in the catalog's size (seconds at a million
         * records): the answer uses the last counts, and a fresh count is
         * taken in the background once they are a few seconds old. */
        json_object_set_new(o, "catalog",
                            api_counts_json(p->conf->database, &p->counts, p->counted_at));
        control_reply_json(req, 200, o);
        if (!p->counting && api_now_ms() - p->counted_ms >= PROVD_COUNTS_FRESH_MS) {
            j = xcalloc(1, sizeof(*j));
            j->what = API_COUNTS;
            j->p = p;
            p->counting = querypool_submit(p->status_pool, j, api_job_run, api_job_done) == 0;
            if (!p->counting)
                api_job_free(j);
        }
        return;
    }
    /* The first time, the counts are taken by the status thread while the
     * client waits. */
    j = xcalloc(1, sizeof(*j));
    j->what = API_STATUS;
    j->status_o = o;
    j->p = p;
    j->database = api_keep(j, p->conf->database);
    api_submit(p, p->status_pool, req, j);
}

static void api_sources(struct control_req *req, void *data)
{
    static const char *const none[] = {NULL};
    struct provd *p = data;

    if (control_req_check_params(req, none) < 0)
        return;
    control_reply_json(req, 200, json_pack("{s:o}", "sources", provd_sources_json(p)));
}

static void api_harvest(struct control_req *req, void *data)
{
    static const char *const allowed[] = {"source", "url", NULL};
    struct provd *p = data;
    const char *word = NULL;
    char detail[512] = "";
    json_t *o = NULL;
    int status;

    if (control_req_check_params(req, allowed) < 0)
        return;
    long retry = 0;

    status = provd_trigger(p, control_req_param(req, "source"), control_req_param(req, "url"), &o,
                           &word, detail, sizeof(detail), &retry);
    if (o) {
        control_reply_json(req, status, o);
        return;
    }
    if (retry > 0) {
        /* The cool-down: say when, in the header and in the body. */
        control_req_retry_after(req, retry);
        control_reply_json(req, status,
                           json_pack("{s:s, s:s, s:I}", "error", word, "detail", detail,
                                     "retry_after_ms", (json_int_t)retry * 1000));
        return;
    }
    control_reply_error(req, status, word ? word : "internal", "%s", detail);
}

static void api_run(struct control_req *req, void *data)
{
    static const char *const none[] = {NULL};
    struct provd *p = data;
    const char *arg = control_req_arg(req, 0);
    char *end = NULL;
    long long id;
    json_t *o;

    if (control_req_check_params(req, none) < 0)
        return;
    errno = 0;
    id = strtoll(arg, &end, 10);
    if (errno || end == arg || *end != '\0') {
        control_reply_error(req, 400, "bad_parameter", "a run id is a whole number");
        return;
    }
    o = provd_run_json(p, id);
    if (o == NULL) {
        control_reply_error(req, 404, "unknown_run", "no run %lld", id);
        return;
    }
    control_reply_json(req, 200, o);
}

static void api_records(struct control_req *req, void *data)
{
    struct provd *p = data;
    struct catalog_filter f;
    struct api_job *j;
    long limit;

    if (control_req_check_params(req, filter_params) < 0 || api_filter(req, &f) < 0 ||
        api_limit(req, &limit) < 0)
        return;
    if (control_req_param(req, "format")) {
        control_reply_error(req, 400, "bad_parameter", "format belongs to /v1/export");
        return;
    }
    j = xcalloc(1, sizeof(*j));
    j->what = API_RECORDS;
    j->limit = limit;
    j->cursor = api_keep(j, control_req_param(req, "cursor"));
    j->f.source = api_keep(j, f.source);
    j->f.archive = api_keep(j, f.archive);
    j->f.fund = api_keep(j, f.fund);
    j->f.inventory = api_keep(j, f.inventory);
    j->f.folder = api_keep(j, f.folder);
    j->f.file = api_keep(j, f.file);
    j->f.sheet = api_keep(j, f.sheet);
    j->f.contributor = api_keep(j, f.contributor);
    j->f.translator = api_keep(j, f.translator);
    j->f.since = api_keep(j, f.since);
    j->f.until = api_keep(j, f.until);
    j->f.status = api_keep(j, f.status);
    j->f.text = api_keep(j, f.text);
    api_submit(p, p->qpool, req, j);
}

/* GET /v1/records/{} and /v1/records/{}/history. */
static void api_one_record(struct control_req *req, void *data, enum api_query what)
{
    static const char *const allowed[] = {"source", NULL};
    struct api_job *j;

    if (control_req_check_params(req, allowed) < 0)
        return;
    j = xcalloc(1, sizeof(*j));
    j->what = what;
    j->source = api_keep(j, control_req_param(req, "source"));
    j->ref = api_keep(j, control_req_arg(req, 0));
    api_submit(data, ((struct provd *)data)->qpool, req, j);
}

static void api_record(struct control_req *req, void *data)
{
    api_one_record(req, data, API_RECORD);
}

static void api_history(struct control_req *req, void *data)
{
    api_one_record(req, data, API_HISTORY);
}

const struct control_route provd_api_routes[] = {
    {"GET", "/v1/status", api_status},
    {"GET", "/v1/sources", api_sources},
    {"POST", "/v1/harvest", api_harvest},
    {"GET", "/v1/runs/{}", api_run},
    {"GET", "/v1/records", api_records},
    {"GET", "/v1/records/{}", api_record},
    {"GET", "/v1/records/{}/history", api_history},
    {"GET", "/v1/export", api_export},
    {NULL, NULL, NULL},
};
