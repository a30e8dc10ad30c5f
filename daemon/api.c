/*
 * api: the endpoints of provd's control socket (docs/API.md). Handlers
 * check their parameters, ask the daemon core or the catalog's reader
 * handle, and answer JSON; they never write to the catalog. Queries run
 * under the reader's budget: one that overruns answers 503, never stalls
 * the loop for long.
 */
#include "provd.h"

#include "log.h"
#include "strbuf.h"
#include "xmalloc.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const filter_params[] = {
    "archive",     "fund",       "inventory", "folder", "file",   "sheet",
    "contributor", "translator", "since",     "until",  "status", "source",
    "q",           "limit",      "cursor",    "format", NULL,
};

/* Answer a catalog failure with the fitting status. */
static void api_catalog_error(struct control_req *req, struct catalog *c, int rc)
{
    switch (rc) {
    case -EINVAL:
        control_reply_error(req, 400, "bad_parameter", "%s", catalog_errmsg(c));
        return;
    case -ENOENT:
        control_reply_error(req, 404, "unknown_record", "%s", catalog_errmsg(c));
        return;
    case -EEXIST:
        control_reply_error(req, 400, "ambiguous_key", "%s (add source=NAME)", catalog_errmsg(c));
        return;
    case -ETIMEDOUT:
        control_reply_error(req, 503, "query_budget", "the query ran over its time budget: %s",
                            catalog_errmsg(c));
        return;
    case -EBUSY:
        control_reply_error(req, 503, "db_busy", "%s", catalog_errmsg(c));
        return;
    default:
        control_reply_error(req, 500, "internal", "%s: %s", prov_category_name(catalog_category(c)),
                            catalog_errmsg(c));
        return;
    }
}

/* The reader handle, opened on first use (the writer creates the file). */
static struct catalog *api_reader(struct provd *p, struct control_req *req)
{
    if (p->reader == NULL) {
        struct catalog_options o = {.readonly = true,
                                    .busy_timeout_ms = 200,
                                    .budget = (unsigned long)p->conf->api_query_budget_ms * 40,
                                    .budget_ms = (unsigned)p->conf->api_query_budget_ms};
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
    struct catalog_counts counts = {0};
    char line[256], at[32];
    json_t *o, *runs, *errs;
    struct catalog *c;

    if (control_req_check_params(req, none) < 0)
        return;
    provd_status_line(p, line, sizeof(line));
    catalog_format_time(p->started, at, sizeof(at));
    o = json_pack("{s:s, s:i, s:s, s:s, s:s}", "version", PROVD_VERSION, "pid", (int)getpid(),
                  "started", at, "state", harvest_engine_runs(p->engine) ? "running" : "idle",
                  "status_line", line);
    c = api_reader(p, req);
    if (c == NULL) {
        json_decref(o);
        return;
    }
    if (catalog_counts(c, NULL, &counts) < 0) {
        json_decref(o);
        api_catalog_error(req, c, -EIO);
        return;
    }
    json_object_set_new(o, "catalog",
                        json_pack("{s:s, s:I, s:I, s:I, s:I}", "database", p->conf->database,
                                  "records", (json_int_t)counts.records, "active",
                                  (json_int_t)counts.active, "gone", (json_int_t)counts.gone,
                                  "failing_urls", (json_int_t)counts.failing));
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
    control_reply_json(req, 200, o);
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
    struct catalog_results res = {0};
    struct catalog *c;
    long limit;
    json_t *arr;
    int rc;

    if (control_req_check_params(req, filter_params) < 0 || api_filter(req, &f) < 0 ||
        api_limit(req, &limit) < 0)
        return;
    if (control_req_param(req, "format")) {
        control_reply_error(req, 400, "bad_parameter", "format belongs to /v1/export");
        return;
    }
    c = api_reader(p, req);
    if (c == NULL)
        return;
    rc = catalog_search(c, &f, limit, control_req_param(req, "cursor"), &res);
    if (rc < 0) {
        api_catalog_error(req, c, rc);
        return;
    }
    arr = json_array();
    for (size_t i = 0; i < res.n; i++)
        json_array_append_new(arr, catalog_item_to_json(&res.items[i], 0));
    control_reply_json(
        req, 200, json_pack("{s:o, s:s?}", "records", arr, "next", res.next ? res.next : NULL));
    catalog_results_clear(&res);
}

static void api_record(struct control_req *req, void *data)
{
    static const char *const allowed[] = {"source", NULL};
    struct provd *p = data;
    struct catalog_detail d = {0};
    struct catalog *c;
    int rc;

    if (control_req_check_params(req, allowed) < 0)
        return;
    c = api_reader(p, req);
    if (c == NULL)
        return;
    rc = catalog_show(c, control_req_param(req, "source"), control_req_arg(req, 0), &d);
    if (rc < 0) {
        api_catalog_error(req, c, rc);
        return;
    }
    control_reply_json(req, 200, catalog_detail_to_json(&d));
    catalog_detail_clear(&d);
}

static void api_history(struct control_req *req, void *data)
{
    static const char *const allowed[] = {"source", NULL};
    struct provd *p = data;
    struct catalog_history h = {0};
    struct catalog *c;
    int rc;

    if (control_req_check_params(req, allowed) < 0)
        return;
    c = api_reader(p, req);
    if (c == NULL)
        return;
    rc = catalog_history(c, control_req_param(req, "source"), control_req_arg(req, 0), &h);
    if (rc < 0) {
        api_catalog_error(req, c, rc);
        return;
    }
    control_reply_json(req, 200, catalog_history_to_json(&h));
    catalog_history_clear(&h);
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
