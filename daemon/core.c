/*
 * core: provd's life cycle. It builds the daemon from its configuration
 * (helpers first, then the catalog, fetch, the engine, the control socket),
 * schedules each source's runs with jitter, turns manual requests and
 * SIGUSR1 into runs, reloads on SIGHUP, and stops on SIGTERM/SIGINT. It
 * owns struct provd's members; the catalog is written only through the
 * engine's sink (sink.c) and read by the API (api.c).
 */
#include "provd.h"

#include "discover.h"
#include "fetch.h"
#include "log.h"
#include "storage.h"
#include "worker.h"
#include "xmalloc.h"

#include <errno.h>
#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

/* Exit statuses (sysexits). */
#define EX_SOFTWARE  70
#define EX_OSERR     71
#define EX_CANTCREAT 73
#define EX_IOERR     74

/* Finished runs kept in memory for GET /v1/runs/ID (older ones come from
 * the catalog). */
#define CORE_KEEP_RUNS 64

/* SIGTERM: transfers in flight are cancelled after this long. */
#define CORE_STOP_GRACE_MS 3000

static int64_t core_now(void)
{
    return (int64_t)time(NULL);
}

/* A random fraction in [-1, 1). */
static double core_jitter(void)
{
    return (double)random() / ((double)RAND_MAX / 2.0) - 1.0;
}

/* ---- runs ----------------------------------------------------------- */

static struct provd_run *core_run_find(struct provd *p, int64_t id)
{
    for (struct provd_run *r = p->runs; r; r = r->next)
        if (r->id == id || (id < 0 && r->queue_id == id))
            return r;
    return NULL;
}

static struct provd_run *core_run_add(struct provd *p, const char *source, enum harvest_trigger t,
                                      bool single)
{
    struct provd_run *r = xcalloc(1, sizeof(*r)), **pp;
    unsigned kept = 0;

    r->source = xstrdup(source);
    r->trigger = t;
    r->single = single;
    r->started = core_now();
    r->queue_id = --p->next_queue_id;
    r->next = p->runs;
    p->runs = r;
    /* Trim old finished runs. */
    for (pp = &p->runs; *pp;) {
        struct provd_run *x = *pp;

        if (x->finished && ++kept > CORE_KEEP_RUNS) {
            *pp = x->next;
            free(x->source);
            free(x->error);
            free(x);
            continue;
        }
        pp = &x->next;
    }
    return r;
}

static void core_runs_free(struct provd *p)
{
    while (p->runs) {
        struct provd_run *r = p->runs;

        p->runs = r->next;
        free(r->source);
        free(r->error);
        free(r);
    }
}

static const char *core_trigger_name(enum harvest_trigger t)
{
    return t == HARVEST_ONCE ? "once" : t == HARVEST_MANUAL ? "manual" : "schedule";
}

static json_t *core_counters_json(const struct harvest_counters *c)
{
    json_t *by = json_object();

    for (int i = 0; i < PROV_CATEGORY_MAX; i++)
        if (c->failed_by[i])
            json_object_set_new(by, prov_category_name((enum prov_category)i),
                                json_integer((json_int_t)c->failed_by[i]));
    return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o}", "discovered",
                     (json_int_t)c->discovered, "fetched", (json_int_t)c->fetched, "new",
                     (json_int_t)c->n_new, "changed", (json_int_t)c->changed, "unchanged",
                     (json_int_t)c->unchanged, "kept", (json_int_t)c->kept, "not_modified",
                     (json_int_t)c->not_modified, "skipped", (json_int_t)c->skipped, "gone",
                     (json_int_t)c->gone, "failed", (json_int_t)c->failed, "failed_by_category",
                     by);
}

static json_t *core_time_json(int64_t t)
{
    char buf[32];

    if (t == 0)
        return json_null();
    catalog_format_time(t, buf, sizeof(buf));
    return json_string(buf);
}

json_t *provd_run_json(struct provd *p, int64_t id)
{
    struct provd_run *r = core_run_find(p, id);
    struct harvest_counters c;
    unsigned long total = 0;
    struct catalog_run cr = {0};
    const char *state;
    json_t *o;

    if (r) {
        c = r->counters;
        total = r->total;
        if (!r->finished && r->id && harvest_run_progress(p->engine, r->id, &c, &total) == 0)
            r->counters = c;
        state = r->queued                    ? "queued"
                : !r->finished || r->storing ? "running"
                : r->failed                  ? "failed"
                                             : "done";
        o = json_pack("{s:I, s:s, s:s, s:b, s:s, s:o, s:o, s:{s:I, s:I}, s:o, s:s?}", "run_id",
                      (json_int_t)(r->id ? r->id : r->queue_id), "source", r->source, "trigger",
                      core_trigger_name(r->trigger), "single_page", r->single, "state", state,
                      "started", core_time_json(r->started), "ended",
                      core_time_json(r->finished ? r->ended : 0), "progress", "done",
                      (json_int_t)c.done, "total", (json_int_t)(total ? total : c.discovered),
                      "counters", core_counters_json(&c), "error", r->error);
        return o;
    }
    if (id <= 0 || p->db == NULL || catalog_run_get(p->db, id, &cr) < 0)
        return NULL;
    memset(&c, 0, sizeof(c));
    c.n_new = cr.counts.n_new;
    c.changed = cr.counts.n_changed;
    c.unchanged = cr.counts.n_unchanged;
    c.kept = cr.counts.n_kept;
    c.not_modified = cr.counts.n_not_modified;
    c.gone = cr.counts.n_missing;
    c.failed = cr.counts.n_failed;
    c.done = cr.done + cr.failed;
    c.discovered = cr.pending + cr.done + cr.failed;
    c.fetched = c.n_new + c.changed + c.unchanged + c.kept + c.not_modified + c.gone;
    state = cr.state == CATALOG_RUN_RUNNING   ? "interrupted"
            : cr.state == CATALOG_RUN_ABORTED ? "failed"
                                              : "done";
    o = json_pack("{s:I, s:s, s:s, s:b, s:s, s:o, s:o, s:{s:I, s:I}, s:o, s:n}", "run_id",
                  (json_int_t)cr.id, "source", cr.source, "trigger",
                  catalog_trigger_name(cr.trigger), "single_page", cr.single, "state", state,
                  "started", core_time_json(cr.started), "ended", core_time_json(cr.finished),
                  "progress", "done", (json_int_t)c.done, "total", (json_int_t)c.discovered,
                  "counters", core_counters_json(&c), "error");
    /* Interrupted by a crash, its pending URLs were taken over by a later
     * run of its source, which fetched them. */
    if (o && cr.merged_into)
        json_object_set_new(o, "merged_into", json_integer(cr.merged_into));
    catalog_run_clear(&cr);
    return o;
}

/* ---- status --------------------------------------------------------- */

void provd_status_line(struct provd *p, char *buf, size_t len)
{
    int64_t next = 0;
    unsigned long done = 0, total = 0;
    unsigned running = 0;

    for (struct provd_run *r = p->runs; r; r = r->next) {
        struct harvest_counters c;
        unsigned long t = 0;

        if (r->finished || !r->id || harvest_run_progress(p->engine, r->id, &c, &t) < 0)
            continue;
        running++;
        done += c.done;
        total += t ? t : c.discovered;
    }
    if (running) {
        snprintf(buf, len, "harvesting %u run%s, %lu/%lu URLs done", running,
                 running == 1 ? "" : "s", done, total);
        return;
    }
    for (size_t i = 0; i < p->n_sources; i++)
        if (p->sources[i].next_run && (next == 0 || p->sources[i].next_run < next))
            next = p->sources[i].next_run;
    if (next) {
        char at[32];

        catalog_format_time(next, at, sizeof(at));
        snprintf(buf, len, "idle, next run at %s", at);
    } else {
        snprintf(buf, len, "idle, no run scheduled");
    }
}

/* Seconds between STATUS= progress updates while a run is active; an
 * idle daemon sends none (its only wake-up is the watchdog's). */
#define CORE_STATUS_EVERY 5

static void core_notify_status(struct provd *p);

static void core_status_tick(evutil_socket_t fd, short what, void *arg)
{
    core_notify_status(arg);
}

/* RELIABILITY D6: a reader that holds a snapshot for long keeps the WAL
 * from being checkpointed, and it grows past journal_size_limit. Looked
 * at with each status update (while runs write); said once each way. */
static void core_check_wal(struct provd *p)
{
    int64_t bytes = 0;

    if (p->db == NULL || catalog_wal_bytes(p->db, &bytes) < 0)
        return;
    if (!p->wal_alarm && bytes > CATALOG_JOURNAL_SIZE_LIMIT) {
        p->wal_alarm = true;
        log_msg(LOG_LVL_WARNING,
                "catalog %s: write-ahead log at %lld MiB, over its %d MiB limit: a long "
                "reader is holding back checkpoints",
                p->conf->database, (long long)(bytes >> 20), CATALOG_JOURNAL_SIZE_LIMIT >> 20);
    } else if (p->wal_alarm && bytes <= CATALOG_JOURNAL_SIZE_LIMIT) {
        p->wal_alarm = false;
        log_msg(LOG_LVL_NOTICE, "catalog %s: write-ahead log back to %lld MiB", p->conf->database,
                (long long)(bytes >> 20));
    }
}

static void core_notify_status(struct provd *p)
{
    char line[256];
    bool active;

    if (p->once)
        return;
    core_check_wal(p);
    provd_status_line(p, line, sizeof(line));
    notify_status(line);
    active = p->engine && harvest_engine_runs(p->engine) > 0 && !p->stopping;
    if (p->status_timer == NULL)
        p->status_timer = event_new(p->base, -1, EV_PERSIST, core_status_tick, p);
    if (active && !evtimer_pending(p->status_timer, NULL)) {
        struct timeval tv = {CORE_STATUS_EVERY, 0};

        evtimer_add(p->status_timer, &tv);
    } else if (!active) {
        evtimer_del(p->status_timer);
    }
}

void provd_note_error(struct provd *p, const char *url, enum prov_category cat, const char *msg)
{
    struct provd_error *e = &p->recent[p->n_recent++ % PROVD_RECENT_ERRORS];
    enum log_level lvl =
        cat == PROV_HTTP_4XX || cat == PROV_EXTRACT_EMPTY ? LOG_LVL_NOTICE : LOG_LVL_WARNING;

    snprintf(e->url, sizeof(e->url), "%s", url);
    snprintf(e->message, sizeof(e->message), "%s", msg ? msg : "");
    e->category = cat;
    e->at = core_now();
    log_ratelimited(prov_category_name(cat), lvl, "%s: %s: %s", url, prov_category_name(cat),
                    msg ? msg : "");
}

json_t *provd_sources_json(struct provd *p)
{
    json_t *arr = json_array();

    for (size_t i = 0; i < p->n_sources; i++) {
        const struct provd_source *s = &p->sources[i];
        const struct config_source *cs = s->conf;
        json_t *disc = json_array(), *o, *last = json_null();
        struct catalog_run cr = {0};
        int64_t run_id = 0;

        if (cs->urls.n)
            json_array_append_new(disc, json_string("urls"));
        if (cs->sitemap)
            json_array_append_new(disc, json_string("sitemap"));
        if (cs->listing)
            json_array_append_new(disc, json_string("listing"));
        if (harvest_source_run(p->engine, cs->name, &run_id) < 0)
            run_id = 0;
        if (p->db && catalog_run_last(p->db, cs->name, &cr) == 0) {
            last = provd_run_json(p, cr.id);
            catalog_run_clear(&cr);
        }
        o = json_pack("{s:s, s:s, s:b, s:o, s:I, s:I, s:i, s:I, s:s, s:o, s:o, s:o}", "name",
                      cs->name, "profile", cs->profile_name, "enabled", cs->enabled, "discovery",
                      disc, "interval_ms", (json_int_t)cs->interval_ms, "delay_ms",
                      (json_int_t)cs->delay_ms, "concurrency", (int)cs->concurrency, "recheck_ms",
                      (json_int_t)cs->recheck_ms, "state", run_id ? "running" : "idle", "run_id",
                      run_id ? json_integer(run_id) : json_null(), "next_run",
                      core_time_json(s->next_run), "last_run", last ? last : json_null());
        json_array_append_new(arr, o);
    }
    return arr;
}

/* ---- sources and schedule ------------------------------------------ */

static void core_source_view(struct provd_source *s, const struct config_source *cs)
{
    s->conf = cs;
    free(s->urls);
    s->urls = xcalloc(cs->urls.n + 1, sizeof(*s->urls));
    for (size_t i = 0; i < cs->urls.n; i++)
        s->urls[i] = cs->urls.v[i];
    memset(&s->hs, 0, sizeof(s->hs));
    s->hs.name = cs->name;
    s->hs.profile = cs->profile_name;
    s->hs.urls = s->urls;
    s->hs.n_urls = cs->urls.n;
    s->hs.sitemap = cs->sitemap;
    s->hs.listing = cs->listing;
    s->hs.listing_links = cs->listing_links;
    s->hs.listing_next = cs->listing_next;
    s->hs.listing_first_page = cs->listing_first_page;
    s->hs.delay_ms = cs->delay_ms;
    s->hs.concurrency = cs->concurrency;
    s->hs.recheck_ms = cs->recheck_ms;
    s->hs.allow_file = cs->allow_file;
}

static void core_run_done(int64_t run_id, const struct harvest_counters *c, bool failed,
                          const char *error, void *data);
static void core_schedule(struct provd *p, struct provd_source *s, int64_t when);

static struct provd_source *core_source_find(struct provd *p, const char *name)
{
    for (size_t i = 0; i < p->n_sources; i++)
        if (strcmp(p->sources[i].conf->name, name) == 0)
            return &p->sources[i];
    return NULL;
}

/* Start a run of s now. Returns the run, or NULL with *err set. */
static struct provd_run *core_start_run(struct provd *p, struct provd_source *s,
                                        enum harvest_trigger t, const char **err)
{
    struct provd_run *r = core_run_add(p, s->conf->name, t, false);
    bool resumed = false;
    int rc;

    rc = harvest_run_start(p->engine, &s->hs, t, t != HARVEST_SCHEDULE, core_run_done, p, &r->id,
                           &resumed);
    if (rc < 0) {
        r->finished = r->failed = true;
        r->ended = core_now();
        r->error = xasprintf("cannot start: %s", strerror(-rc));
        *err = r->error;
        log_msg(LOG_LVL_ERR, "source %s: %s", s->conf->name, r->error);
        return NULL;
    }
    s->next_run = 0;
    if (s->timer)
        event_del(s->timer);
    log_info("run %lld of source %s started (%s%s)", (long long)r->id, s->conf->name,
             core_trigger_name(t), resumed ? ", resuming an interrupted run" : "");
    core_notify_status(p);
    return r;
}

/* The scheduler's timers carry the daemon and the source's index. */
struct core_timer_arg {
    struct provd *p;
    size_t index;
};

static void core_scheduled(evutil_socket_t fd, short what, void *arg)
{
    struct core_timer_arg *ta = arg;
    struct provd *p = ta->p;
    struct provd_source *s = &p->sources[ta->index];
    const char *err = NULL;
    int64_t running;

    s->next_run = 0;
    if (p->stopping)
        return;
    if (harvest_source_run(p->engine, s->conf->name, &running) == 0) {
        s->rerun = true;
        return;
    }
    if (core_start_run(p, s, HARVEST_SCHEDULE, &err) == NULL)
        core_schedule(p, s, core_now() + 300);
}

/* Arm s's timer for Unix time when. */
static void core_schedule(struct provd *p, struct provd_source *s, int64_t when)
{
    int64_t now = core_now();
    struct timeval tv;

    if (!s->conf->enabled || p->once)
        return;
    if (when < now)
        when = now;
    s->next_run = when;
    tv.tv_sec = (time_t)(when - now);
    tv.tv_usec = 0;
    event_add(s->timer, &tv);
}

/* The next run of s after one that started at 'from': interval with ±5 %
 * jitter, so sources and daemons do not bunch up. */
static int64_t core_next_after(const struct provd_source *s, int64_t from)
{
    double iv = (double)s->conf->interval_ms / 1000.0;

    return from + (int64_t)(iv + iv * 0.05 * core_jitter());
}

/* First run of each source after start-up: an interrupted run resumes at
 * once; otherwise the interval since the last run, or within a few
 * seconds for a source that never ran. */
static void core_schedule_initial(struct provd *p, struct provd_source *s)
{
    struct catalog_run cr = {0};
    int64_t now = core_now(), id;

    if (catalog_run_unfinished(p->db, s->conf->name, &id) == 0) {
        core_schedule(p, s, now);
        return;
    }
    if (catalog_run_last(p->db, s->conf->name, &cr) == 0) {
        int64_t when = core_next_after(s, cr.started);

        catalog_run_clear(&cr);
        core_schedule(p, s, when);
        return;
    }
    /* Never harvested: start within a few seconds (jittered, so several
     * new sources do not start in the same instant). */
    core_schedule(p, s, now + (int64_t)(3 + 2 * core_jitter()));
}

static void core_run_done(int64_t run_id, const struct harvest_counters *c, bool failed,
                          const char *error, void *data)
{
    struct provd *p = data;
    struct provd_run *r = core_run_find(p, run_id);
    struct provd_source *s;

    if (r) {
        r->finished = true;
        r->failed = failed;
        r->ended = core_now();
        r->counters = *c;
        r->total = c->discovered;
        if (error) {
            free(r->error);
            r->error = xstrdup(error);
        }
    }
    log_msg(failed ? LOG_LVL_ERR : LOG_LVL_INFO,
            "run %lld of %s %s: discovered %lu, fetched %lu, new %lu, changed %lu, unchanged %lu, "
            "not modified %lu, skipped %lu, gone %lu, failed %lu%s%s",
            (long long)run_id, r ? r->source : "?", failed ? "failed" : "done", c->discovered,
            c->fetched, c->n_new, c->changed, c->unchanged, c->not_modified, c->skipped, c->gone,
            c->failed, error ? ": " : "", error ? error : "");
    if (p->once) {
        if (failed)
            p->once_failed++;
        if (r && !r->single && --p->once_left == 0)
            event_base_loopexit(p->base, NULL);
        return;
    }
    s = r && !r->single ? core_source_find(p, r->source) : NULL;
    if (s && !p->stopping) {
        const char *err = NULL;

        if (s->rerun) {
            s->rerun = false;
            if (core_start_run(p, s, HARVEST_MANUAL, &err) != NULL)
                return;
        }
        core_schedule(p, s, core_next_after(s, r->started));
    }
    core_notify_status(p);
}

/* ---- manual triggers ------------------------------------------------ */

/* The source a URL belongs to: listed in its URL file, or on the host of
 * its sitemap or listing. */
static struct provd_source *core_source_of_url(struct provd *p, const char *url, const char *only)
{
    char origin[512], other[512];
    const char *reason;
    char *norm = discover_url_normalize(url, DISCOVER_ALLOW_FILE, &reason);

    if (norm == NULL || discover_url_origin(norm, origin, sizeof(origin)) < 0) {
        free(norm);
        return NULL;
    }
    for (size_t i = 0; i < p->n_sources; i++) {
        struct provd_source *s = &p->sources[i];
        const char *roots[2] = {s->conf->sitemap, s->conf->listing};
        bool match = false;

        if (only && strcmp(only, s->conf->name) != 0)
            continue;
        if (strncmp(norm, "file:", 5) == 0 && !s->conf->allow_file)
            continue;
        for (size_t k = 0; k < s->conf->urls.n && !match; k++)
            match = strcmp(s->conf->urls.v[k], norm) == 0 ||
                    (discover_url_origin(s->conf->urls.v[k], other, sizeof(other)) == 0 &&
                     strcmp(other, origin) == 0 && strncmp(norm, "file:", 5) != 0);
        for (size_t k = 0; k < 2 && !match; k++) {
            char *rn = roots[k] ? discover_url_normalize(roots[k], 0, &reason) : NULL;

            match = rn && discover_url_origin(rn, other, sizeof(other)) == 0 &&
                    strcmp(other, origin) == 0;
            free(rn);
        }
        if (match) {
            free(norm);
            return s;
        }
    }
    free(norm);
    return NULL;
}

static json_t *core_trigger_source(struct provd *p, struct provd_source *s, int *status,
                                   const char **word, char *detail, size_t len, long *retry)
{
    int64_t now = core_now(), running = 0, cooldown = (int64_t)(p->conf->manual_cooldown_ms / 1000);
    const char *err = NULL;
    struct provd_run *r;

    if (harvest_source_run(p->engine, s->conf->name, &running) == 0) {
        *status = 202;
        return json_pack("{s:I, s:s, s:s, s:n}", "run_id", (json_int_t)running, "state", "merged",
                         "source", s->conf->name, "url");
    }
    if (s->last_manual && now - s->last_manual < cooldown) {
        *status = 429;
        *word = "cooldown";
        snprintf(detail, len, "source %s was harvested on request %llds ago; wait %llds more",
                 s->conf->name, (long long)(now - s->last_manual),
                 (long long)(cooldown - (now - s->last_manual)));
        *retry = (long)(cooldown - (now - s->last_manual));
        return NULL;
    }
    r = core_start_run(p, s, HARVEST_MANUAL, &err);
    if (r == NULL) {
        *status = 503;
        *word = "busy";
        snprintf(detail, len, "%s", err ? err : "cannot start a run");
        return NULL;
    }
    s->last_manual = now;
    *status = 202;
    return json_pack("{s:I, s:s, s:s, s:n}", "run_id", (json_int_t)r->id, "state", "running",
                     "source", s->conf->name, "url");
}

int provd_trigger(struct provd *p, const char *source, const char *url, json_t **o,
                  const char **err_word, char *detail, size_t detail_len, long *retry_after_s)
{
    struct provd_source *s = NULL;
    int status = 500;

    *o = NULL;
    *retry_after_s = 0;
    if (p->stopping) {
        *err_word = "busy";
        snprintf(detail, detail_len, "provd is stopping");
        return 503;
    }
    if (source) {
        s = core_source_find(p, source);
        if (s == NULL) {
            *err_word = "unknown_source";
            snprintf(detail, detail_len, "no source named '%.100s'", source);
            return 404;
        }
    }
    if (url) {
        struct provd_run *r;
        int64_t id = 0;
        int rc;

        s = core_source_of_url(p, url, source);
        if (s == NULL) {
            *err_word = "url_outside_sources";
            snprintf(detail, detail_len, "%.300s belongs to no configured source%s%.100s", url,
                     source ? " named " : "", source ? source : "");
            return 409;
        }
        r = core_run_add(p, s->conf->name, HARVEST_MANUAL, true);
        rc = harvest_fetch_one(p->engine, &s->hs, url, core_run_done, p, &id);
        if (rc < 0) {
            r->finished = r->failed = true;
            r->error = xasprintf("cannot fetch: %s", strerror(-rc));
            *err_word = rc == -EINVAL ? "bad_parameter" : "busy";
            snprintf(detail, detail_len, "%s", r->error);
            return rc == -EINVAL ? 400 : 503;
        }
        r->id = id;
        *o = json_pack("{s:I, s:s, s:s, s:s}", "run_id", (json_int_t)id, "state", "running",
                       "source", s->conf->name, "url", url);
        return 202;
    }
    if (s) {
        *o = core_trigger_source(p, s, &status, err_word, detail, detail_len, retry_after_s);
        return status;
    }
    *o = json_pack("{s:[]}", "runs");
    for (size_t i = 0; i < p->n_sources; i++) {
        const char *w = NULL;
        char d[256];
        long retry = 0;
        int st;
        json_t *one;

        if (!p->sources[i].conf->enabled)
            continue;
        one = core_trigger_source(p, &p->sources[i], &st, &w, d, sizeof(d), &retry);
        if (one == NULL)
            one = json_pack("{s:s, s:s, s:s}", "source", p->sources[i].conf->name, "error", w,
                            "detail", d);
        json_array_append_new(json_object_get(*o, "runs"), one);
    }
    return 202;
}

/* ---- building the daemon -------------------------------------------- */

static void core_sources_free(struct provd *p)
{
    for (size_t i = 0; i < p->n_sources; i++) {
        if (p->sources[i].timer) {
            free(event_get_callback_arg(p->sources[i].timer));
            event_free(p->sources[i].timer);
        }
        free(p->sources[i].urls);
    }
    free(p->sources);
    p->sources = NULL;
    p->n_sources = 0;
}

/* Build p->sources from conf; previous manual cool-downs are kept. */
static void core_sources_build(struct provd *p, const struct config *conf)
{
    struct provd_source *old = p->sources;
    size_t n_old = p->n_sources;

    p->sources = xcalloc(conf->n_sources ? conf->n_sources : 1, sizeof(*p->sources));
    p->n_sources = conf->n_sources;
    for (size_t i = 0; i < conf->n_sources; i++) {
        struct provd_source *s = &p->sources[i];
        struct core_timer_arg *ta = xcalloc(1, sizeof(*ta));

        core_source_view(s, &conf->sources[i]);
        ta->p = p;
        ta->index = i;
        s->timer = evtimer_new(p->base, core_scheduled, ta);
        for (size_t k = 0; k < n_old; k++)
            if (strcmp(old[k].conf->name, conf->sources[i].name) == 0)
                s->last_manual = old[k].last_manual;
    }
    if (old) {
        struct provd_source *cur = p->sources;
        size_t n_cur = p->n_sources;

        p->sources = old;
        p->n_sources = n_old;
        core_sources_free(p);
        p->sources = cur;
        p->n_sources = n_cur;
    }
}

/* Media types a 2xx may have: record and listing pages (HTML), sitemaps
 * (XML) and robots.txt (plain text). The engine holds record pages to
 * HTML itself, per job. */
static const char *const core_fetch_types[] = {
    "text/html", "application/xhtml+xml", "application/xml", "text/xml", "text/plain", NULL};

static int core_fetch_new(struct provd *p)
{
    struct fetch_options fo;
    struct addrpolicy *pol = addrpolicy_new();
    char err[256], spec[96];

    fetch_options_init(&fo);
    fo.user_agent = p->conf->user_agent;
    fo.accept_types = core_fetch_types;
    fo.connect_timeout_ms = (long)p->conf->connect_timeout_ms;
    fo.total_timeout_ms = (long)p->conf->transfer_timeout_ms;
    fo.low_speed_limit = (long)p->conf->low_speed_limit;
    fo.low_speed_time_s = (long)((p->conf->low_speed_time_ms + 999) / 1000);
    fo.max_body = (size_t)p->conf->max_page_size;
    fo.max_redirects = (long)p->conf->max_redirects;
    fo.max_total_connections = (long)p->conf->max_connections;
    /* The frontier holds each host to its source's concurrency; a lower
     * libcurl cap would queue transfers the frontier counts as started
     * and send them later, closer together than delay allows. */
    fo.max_host_connections = fo.max_total_connections;
    fo.retry_after_cap_s = (long)(p->conf->retry_after_max_ms / 1000);
    for (size_t i = 0; i < p->conf->allow_addresses.n; i++) {
        config_addr_format(&p->conf->allow_addresses.v[i], spec, sizeof(spec));
        if (addrpolicy_allow(pol, spec, err, sizeof(err)) < 0) {
            log_msg(LOG_LVL_ERR, "allow-addresses %s: %s", spec, err);
            addrpolicy_free(pol);
            return CONFIG_EX_CONFIG;
        }
    }
    fo.policy = pol;
    if (fetch_options_check(&fo, err, sizeof(err)) < 0) {
        log_msg(LOG_LVL_ERR, "fetch settings: %s", err);
        addrpolicy_free(pol);
        return CONFIG_EX_CONFIG;
    }
    p->fetch = fetch_new(p->base, &fo);
    addrpolicy_free(pol);
    if (p->fetch == NULL) {
        log_msg(LOG_LVL_ERR, "cannot set up libcurl");
        return EX_SOFTWARE;
    }
    return 0;
}

static int core_workers_new(struct provd *p)
{
    struct worker_options wo = {0};
    const struct profile **profiles = NULL;
    int rc;

    if (p->conf->n_profiles) {
        profiles = xcalloc(p->conf->n_profiles, sizeof(*profiles));
        for (size_t i = 0; i < p->conf->n_profiles; i++)
            profiles[i] = p->conf->profiles[i].profile;
    }
    wo.helpers = p->conf->extract_workers;
    wo.cpu_ms = (unsigned)p->conf->extract_cpu_budget_ms;
    wo.memory_bytes = (size_t)p->conf->extract_memory_limit;
    wo.max_page = (size_t)p->conf->max_page_size;
    wo.profiles = profiles;
    wo.n_profiles = p->conf->n_profiles;
    rc = worker_pool_new(p->base, &wo, &p->workers);
    /* The pool keeps its own copy of the array; only the profiles must
     * outlive it, and they belong to p->conf, which a reload retires but
     * does not free. */
    free(profiles);
    if (rc < 0) {
        log_msg(LOG_LVL_ERR, "cannot start the extraction helpers: %s", strerror(-rc));
        return EX_OSERR;
    }
    return 0;
}

/* Make the database's directory when it is missing (outside systemd,
 * where StateDirectory= does it). */
static int core_state_dir(const char *db)
{
    char *dir = xstrdup(db), *slash = strrchr(dir, '/');
    struct stat st;
    int rc = 0;

    if (slash && slash != dir) {
        *slash = '\0';
        if (stat(dir, &st) < 0 && (errno != ENOENT || mkdir(dir, 0700) < 0)) {
            log_msg(LOG_LVL_ERR, "state directory %s: %s", dir, strerror(errno));
            rc = EX_CANTCREAT;
        } else if (eaccess(dir, W_OK | X_OK) < 0) {
            /* Wrong owner or mode: SQLite could not create its -wal and
             * -shm files there (RELIABILITY.md K1). */
            log_msg(LOG_LVL_ERR, "state directory %s is not writable by uid %u: %s", dir,
                    (unsigned)geteuid(), strerror(errno));
            rc = EX_CANTCREAT;
        }
    }
    free(dir);
    return rc;
}

static int core_catalog_open(struct provd *p)
{
    /* The harvest writes through the writer thread's handle (8 MiB of
     * cache); this one only keeps the books of runs. */
    struct catalog_options o = {.busy_timeout_ms = (int)p->conf->db_busy_timeout_ms,
                                .cache_kib = 2048};
    int rc = core_state_dir(p->conf->database);

    if (rc)
        return rc;
    rc = catalog_open(p->conf->database, &o, &p->db);
    if (rc < 0) {
        enum prov_category cat = catalog_category(p->db);

        log_msg(LOG_LVL_ERR, "catalog %s: %s: %s", p->conf->database, prov_category_name(cat),
                catalog_errmsg(p->db));
        if (cat == PROV_DB_CORRUPT)
            log_msg(LOG_LVL_ERR,
                    "the catalog was not changed; restore it from a backup made with "
                    "`sqlite3 %s \".backup FILE\"` or VACUUM INTO, or move it away to start "
                    "an empty one",
                    p->conf->database);
        catalog_close(p->db);
        p->db = NULL;
        return cat == PROV_STORAGE_IO || cat == PROV_STORAGE_FULL ? EX_IOERR : EX_SOFTWARE;
    }
    storage_warn(p->conf->database);
    return 0;
}

static struct harvest_options core_harvest_options(const struct config *c)
{
    struct harvest_options o = {
        .retries = c->retries,
        .retry_base_ms = 1000,
        .retry_after_max_ms = c->retry_after_max_ms,
        .crawl_delay_max_ms = c->crawl_delay_max_ms,
        .host_pause_after = 5,
        .max_in_flight = c->max_connections,
    };
    return o;
}

/* ---- signals ------------------------------------------------------- */

static void core_stop_now(evutil_socket_t fd, short what, void *arg)
{
    struct provd *p = arg;

    event_base_loopexit(p->base, NULL);
}

static void core_on_term(evutil_socket_t sig, short what, void *arg)
{
    struct provd *p = arg;
    struct timeval tv = {CORE_STOP_GRACE_MS / 1000, (CORE_STOP_GRACE_MS % 1000) * 1000};

    if (p->stopping) {
        event_base_loopexit(p->base, NULL);
        return;
    }
    p->stopping = true;
    log_info("%s: stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
    notify_stopping();
    control_stop_accepting(p->control);
    for (size_t i = 0; i < p->n_sources; i++)
        event_del(p->sources[i].timer);
    /* Pages already fetched are stored as they finish; whatever is still
     * in flight when the grace period ends is cancelled and stays pending
     * in its run's frontier, to be resumed at the next start. */
    if (harvest_engine_runs(p->engine) == 0) {
        event_base_loopexit(p->base, NULL);
        return;
    }
    p->stop_timer = evtimer_new(p->base, core_stop_now, p);
    evtimer_add(p->stop_timer, &tv);
}

static void core_on_hup(evutil_socket_t sig, short what, void *arg)
{
    provd_reload(arg);
}

static void core_on_usr1(evutil_socket_t sig, short what, void *arg)
{
    struct provd *p = arg;
    const char *word = NULL;
    char detail[256];
    json_t *o = NULL;
    long retry;

    log_info("SIGUSR1: harvesting every source");
    provd_trigger(p, NULL, NULL, &o, &word, detail, sizeof(detail), &retry);
    json_decref(o);
}

void provd_reload(struct provd *p)
{
    struct strlist errors = {0};
    struct config *next;

    notify_reloading();
    next = config_load(p->conf_path, &errors);
    if (next == NULL) {
        for (size_t i = 0; i < errors.n; i++)
            log_msg(LOG_LVL_ERR, "%s", errors.v[i]);
        log_msg(LOG_LVL_ERR, "reload refused: the running configuration stays in force");
        strlist_clear(&errors);
        notify_ready();
        core_notify_status(p);
        return;
    }
    strlist_clear(&errors);
    if (strcmp(next->database, p->conf->database) != 0 ||
        strcmp(next->socket, p->conf->socket) != 0 ||
        next->extract_workers != p->conf->extract_workers || next->n_profiles ||
        p->conf->n_profiles)
        log_warnx("reload: database, socket, extraction helpers and [profile] sections take "
                  "effect at the next restart");
    log_set_level((enum log_level)next->log_level);
    /* Runs in progress keep their own copy of their source; the old
     * configuration stays alive while the helpers may refer to it. */
    core_sources_build(p, next);
    p->retired = xreallocarray(p->retired, p->n_retired + 1, sizeof(*p->retired));
    p->retired[p->n_retired++] = p->conf;
    p->conf = next;
    for (size_t i = 0; i < p->n_sources; i++) {
        int64_t running;

        if (harvest_source_run(p->engine, p->sources[i].conf->name, &running) < 0)
            core_schedule_initial(p, &p->sources[i]);
    }
    log_info("configuration reloaded from %s: %zu sources",
             p->conf_path ? p->conf_path : "(defaults)", p->n_sources);
    notify_ready();
    core_notify_status(p);
}

/* ---- --once progress -------------------------------------------------- */

static void core_progress(evutil_socket_t fd, short what, void *arg)
{
    struct provd *p = arg;
    unsigned long done = 0, total = 0;
    static int64_t t0;
    static unsigned long done0;
    int64_t now = core_now();
    double rate;
    char eta[32] = "?";

    for (struct provd_run *r = p->runs; r; r = r->next) {
        struct harvest_counters c;
        unsigned long t = 0;

        if (r->finished) {
            done += r->counters.done;
            total += r->counters.discovered;
        } else if (r->id && harvest_run_progress(p->engine, r->id, &c, &t) == 0) {
            done += c.done;
            total += t ? t : c.discovered;
        }
    }
    if (t0 == 0) {
        t0 = now;
        done0 = done;
    }
    rate = now > t0 ? (double)(done - done0) / (double)(now - t0) : 0.0;
    if (rate > 0 && total >= done)
        snprintf(eta, sizeof(eta), "%lds", (long)((double)(total - done) / rate));
    fprintf(stderr, "\r\033[K%lu/%lu URLs, %.1f/s, ETA %s", done, total, rate, eta);
}

/* ---- start and stop ------------------------------------------------- */

int provd_start(struct provd *p)
{
    struct harvest_sink sink;
    struct harvest_options ho;
    int rc;

    p->started = core_now();
    srandom((unsigned)(time(NULL) ^ getpid()));
    extract_global_init();
    /* Helpers first: they fork before the catalog or any socket exists. */
    rc = core_workers_new(p);
    if (rc)
        return rc;
    rc = core_catalog_open(p);
    if (rc)
        return rc;
    rc = core_fetch_new(p);
    if (rc)
        return rc;
    if (provd_sink_init(p, &sink) < 0)
        return EX_IOERR;
    ho = core_harvest_options(p->conf);
    p->engine = harvest_engine_new(p->base, p->fetch, p->workers, &sink, &ho);
    core_sources_build(p, p->conf);

    if (p->once) {
        for (size_t i = 0; i < p->n_sources; i++) {
            const char *err = NULL;

            if (!p->sources[i].conf->enabled)
                continue;
            if (core_start_run(p, &p->sources[i], HARVEST_ONCE, &err) == NULL)
                p->once_failed++;
            else
                p->once_left++;
        }
        if (p->once_left == 0)
            event_base_loopexit(p->base, NULL);
        if (isatty(STDERR_FILENO)) {
            struct timeval tv = {1, 0};

            p->watchdog = event_new(p->base, -1, EV_PERSIST, core_progress, p);
            event_add(p->watchdog, &tv);
        }
        return 0;
    }

    {
        struct control_options co = {
            .path = p->conf->socket,
            .listen_fd = -1,
            .mode = p->conf->socket_mode,
            .allow_uids = p->conf->socket_allow_uids.v,
            .n_allow_uids = p->conf->socket_allow_uids.n,
            .allow_gids = p->conf->socket_allow_gids.v,
            .n_allow_gids = p->conf->socket_allow_gids.n,
            .max_connections = p->conf->api_max_connections,
            .deadline_ms = (unsigned)p->conf->api_deadline_ms,
            .max_headers = 8192,
            .max_body = 65536,
        };
        char err[512];
        int n = sd_listen_fds(1);

        if (n == 1)
            co.listen_fd = SD_LISTEN_FDS_START;
        else if (n > 1)
            log_warnx("systemd passed %d sockets; using the first", n);
        if (provd_api_start(p, err, sizeof(err)) < 0) {
            log_msg(LOG_LVL_ERR, "query threads: %s", err);
            return EX_OSERR;
        }
        p->control = control_new(p->base, &co, provd_api_routes, p, err, sizeof(err));
        if (p->control == NULL) {
            log_msg(LOG_LVL_ERR, "control socket: %s", err);
            return EX_OSERR;
        }
    }
    p->sig_term = evsignal_new(p->base, SIGTERM, core_on_term, p);
    p->sig_int = evsignal_new(p->base, SIGINT, core_on_term, p);
    p->sig_hup = evsignal_new(p->base, SIGHUP, core_on_hup, p);
    p->sig_usr1 = evsignal_new(p->base, SIGUSR1, core_on_usr1, p);
    event_add(p->sig_term, NULL);
    event_add(p->sig_int, NULL);
    event_add(p->sig_hup, NULL);
    event_add(p->sig_usr1, NULL);
    for (size_t i = 0; i < p->n_sources; i++)
        core_schedule_initial(p, &p->sources[i]);
    p->watchdog = notify_watchdog_start(p->base);
    log_info("provd %s ready: catalog %s, socket %s, %zu source%s", PROVD_VERSION,
             p->conf->database, p->conf->socket, p->n_sources, p->n_sources == 1 ? "" : "s");
    notify_ready();
    core_notify_status(p);
    return 0;
}

void provd_stop(struct provd *p)
{
    if (p->once && p->watchdog && isatty(STDERR_FILENO))
        fputc('\n', stderr);
    /* The engine stops first: it cancels transfers (their runs stay
     * resumable) and drops what the helpers still hand back, then the pool
     * goes, then the engine, before the catalog closes. */
    harvest_engine_stop(p->engine);
    worker_pool_free(p->workers);
    p->workers = NULL;
    harvest_engine_free(p->engine);
    p->engine = NULL;
    provd_sink_close(p);
    provd_api_stop(p); /* its last answers go out through control */
    control_free(p->control);
    p->control = NULL;
    fetch_free(p->fetch);
    p->fetch = NULL;
    catalog_close(p->reader);
    p->reader = NULL;
    catalog_close(p->db);
    p->db = NULL;
    core_sources_free(p);
    core_runs_free(p);
    if (p->sig_term) {
        event_free(p->sig_term);
        event_free(p->sig_int);
        event_free(p->sig_hup);
        event_free(p->sig_usr1);
    }
    if (p->watchdog)
        event_free(p->watchdog);
    if (p->stop_timer)
        event_free(p->stop_timer);
    if (p->status_timer)
        event_free(p->status_timer);
    for (size_t i = 0; i < p->n_retired; i++)
        config_free(p->retired[i]);
    free(p->retired);
}
