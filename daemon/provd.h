/*
 * provd: the daemon's own state, shared by its modules (core.c: start-up,
 * scheduling, triggers and shutdown; sink.c: the harvest engine's sink on
 * the catalog; api.c: the control socket's endpoints; notify.c: systemd).
 * One struct provd per process, created in main() and passed down: no
 * globals.
 */
#ifndef PROVD_PROVD_H
#define PROVD_PROVD_H

#include "catalog.h"
#include "config.h"
#include "control.h"
#include "harvest.h"

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

struct event;
struct event_base;

/* GET /v1/status answers with the catalog's counts as last taken; they are
 * taken again in the background once they are this old. */
#define PROVD_COUNTS_FRESH_MS 2000
struct fetch;
struct provd_sink;
struct querypool;
struct worker_pool;

/* The last per-URL errors, for GET /v1/status. */
#define PROVD_RECENT_ERRORS 16

struct provd_error {
    char url[512];
    char message[256];
    enum prov_category category;
    int64_t at;
};

/* A run the daemon knows: active in the engine, or queued behind one. */
struct provd_run {
    int64_t id;       /* 0 while queued */
    int64_t queue_id; /* negative id shown for a queued run */
    char *source;
    enum harvest_trigger trigger;
    bool single; /* one page (POST /v1/harvest url=) */
    bool queued;
    bool finished;
    bool failed;
    bool storing; /* ended in the engine; its end is not stored yet */
    char *error;
    int64_t started, ended;
    struct harvest_counters counters;
    unsigned long total;
    struct provd_run *next;
};

/* Per configured source: its schedule. */
struct provd_source {
    const struct config_source *conf;
    struct harvest_source hs; /* view of conf for the engine */
    const char **urls;        /* hs.urls storage */
    struct event *timer;      /* next scheduled run */
    int64_t next_run;         /* Unix seconds; 0 when not scheduled */
    int64_t last_manual;      /* Unix seconds of the last manual trigger */
    bool rerun;               /* a trigger arrived while running: run again */
};

struct provd {
    struct event_base *base;
    struct config *conf;
    const char *conf_path;
    bool once; /* provd --once */
    bool stopping;

    struct catalog *db;            /* the loop's: creates the catalog, then reads
                                      (the writer thread has its own; sink.c) */
    struct catalog *reader;        /* control socket queries */
    struct querypool *qpool;       /* API query threads (api.c); NULL: on the loop */
    struct querypool *status_pool; /* the thread of GET /v1/status's counts */
    /* The catalog's counts as last taken by the status thread: status
     * answers from them at once and has them taken again in the
     * background once they are PROVD_COUNTS_FRESH_MS old. */
    struct catalog_counts counts;
    int64_t counted_ms; /* CLOCK_MONOTONIC; 0: never */
    int64_t counted_at; /* Unix seconds */
    bool counting;      /* a refresh is queued or running */
    struct worker_pool *workers;
    struct fetch *fetch;
    struct harvest_engine *engine;
    struct provd_sink *sink; /* the engine's sink and its writer thread */
    struct control *control;

    struct provd_source *sources;
    size_t n_sources;
    struct config **retired; /* configurations replaced by reloads: the
                                helpers may still look profiles up in them */
    size_t n_retired;

    struct provd_run *runs; /* newest first; finished ones are trimmed */
    int64_t next_queue_id;
    unsigned once_failed; /* --once: sources that could not be harvested */
    unsigned once_left;

    struct provd_error recent[PROVD_RECENT_ERRORS];
    unsigned n_recent;

    int64_t started;
    struct event *sig_term, *sig_int, *sig_hup, *sig_usr1;
    struct event *watchdog;
    struct event *stop_timer;
    struct event *status_timer; /* STATUS= progress while runs are active */
    bool wal_alarm;             /* the catalog's WAL is over its size limit (RELIABILITY D6) */
    int exit_status;
};

/* ---- core.c ---- */

/* Bring the daemon up on p->conf: catalog, helpers, fetch, engine, and
 * (unless once) the control socket, schedule and signals. 0, or an exit
 * status with the reason logged. */
int provd_start(struct provd *p);

/* Tear everything down (after the loop ended). */
void provd_stop(struct provd *p);

/* Manual trigger from the API or SIGUSR1. source NULL: every enabled
 * source; url: one page. On success fills *o with a new JSON reply object
 * and returns the HTTP status; on refusal returns 4xx and sets *err_word
 * and *detail (static or in detail_buf), and for a cool-down 429
 * *retry_after_s with the seconds left (0 otherwise). */
int provd_trigger(struct provd *p, const char *source, const char *url, json_t **o,
                  const char **err_word, char *detail, size_t detail_len, long *retry_after_s);

/* JSON of a run known to the daemon or the catalog; NULL when unknown. */
json_t *provd_run_json(struct provd *p, int64_t id);

/* JSON of every configured source with its schedule and state. */
json_t *provd_sources_json(struct provd *p);

/* The one-line status ("idle, next run at …" or run progress). */
void provd_status_line(struct provd *p, char *buf, size_t len);

/* Remember a per-URL error for the status endpoint (and log it,
 * rate-limited). */
void provd_note_error(struct provd *p, const char *url, enum prov_category cat, const char *msg);

/* Reload the configuration from p->conf_path (SIGHUP). */
void provd_reload(struct provd *p);

/* ---- sink.c ---- */

/* The engine's sink on the catalog: starts the writer thread (writer.c)
 * with its own handle on p->conf->database, and reads with p->db on the
 * loop; its state goes to p->sink. 0, or a negative errno with the reason
 * logged. */
int provd_sink_init(struct provd *p, struct harvest_sink *sink);

/* Write and commit everything the writer still has queued, stop it, and
 * free the sink's state; call it after the engine is freed and before
 * the catalog is closed. NULL p->sink is allowed. */
void provd_sink_close(struct provd *p);

/* ---- api.c ---- */

/* The control socket's routes; data is the struct provd. */
extern const struct control_route provd_api_routes[];

/* Start the API's query threads (api-workers, api-queue-depth). 0, or a
 * negative errno with the reason in err. Without it the queries run on
 * the loop. */
int provd_api_start(struct provd *p, char *err, size_t errlen);

/* Finish every query job (those not begun answer 503) and join the
 * threads; before control_free(). */
void provd_api_stop(struct provd *p);

/* ---- export.c ---- */

/* GET /v1/export: streams the catalog from a thread through a pipe. */
void api_export(struct control_req *req, void *data);

/* ---- notify.c ---- */

/* sd_notify wrappers; no-ops without NOTIFY_SOCKET. */
void notify_ready(void);
void notify_status(const char *line);
void notify_reloading(void);
void notify_stopping(void);
/* Arm the watchdog keep-alive on base when WATCHDOG_USEC is set; returns
 * the event (NULL when none). */
struct event *notify_watchdog_start(struct event_base *base);

#endif
