/*
 * harvest: the public interface of the harvest folder — extraction
 * profiles, page extraction and the provenance parser (and, later, the
 * fetch engine). daemon/ and tests include this header only; everything
 * else in harvest/ is internal. Nothing here logs or touches SQLite.
 */
#ifndef PROVD_HARVEST_H
#define PROVD_HARVEST_H

#include "errors.h"
#include "record.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- Provenance parser (harvest/provenance.c; no libxml2) ------------ */

/* Parse a Source text (already white-space normalised) and append its
 * citations to r->citations and its credits to r->contributors and
 * r->translators, in the canonical forms of PROVENANCE.md §3. Never fails:
 * text with no citation or credit adds nothing. */
void provenance_parse(const char *source, struct record *r);

/* ---- Extraction profiles (harvest/profile.c) ------------------------- */

/* A profile is data: for each record field, a post-step and an XPath,
 * plus the XPaths of the information blocks and section headings the
 * steps read (docs/profiles.md gives the spec syntax). Opaque. */
struct profile;

/* The built-in profile called name ("wilson"), or NULL. Built on first
 * use and kept for the life of the process (not thread-safe on that
 * first call); never freed. */
const struct profile *profile_builtin(const char *name);

/* A new profile called name with no fields; the caller frees it. Runs
 * extract_global_init() (idempotent), since its XPaths are compiled here,
 * possibly while the configuration is read. */
struct profile *profile_new(const char *name);

/* Free p and what it owns; NULL is allowed. Built-in profiles must not be
 * passed. */
void profile_free(struct profile *p);

/* The profile's name; lives as long as p. */
const char *profile_name(const struct profile *p);

/* Set field (a record field name such as "title" or "source", '-' and
 * '_' alike, or an option: "blocks", "block-label", "block-value",
 * "block-pill", "headings", "blocked-marker") from a one-line spec such
 * as "text //h1" or "block \"Record ID\"". A field set again is replaced;
 * blocked-marker adds one phrase each time. Returns 0, or -EINVAL with a
 * one-line message in err (at most errlen bytes) when the key or step is
 * unknown, the step does not suit the field, or the XPath does not
 * compile or cannot run. A failed call leaves p as it was. */
int profile_set(struct profile *p, const char *field, const char *spec, char *err, size_t errlen);

/* Check that p can be used, after its last profile_set(): the required
 * fields (record_id, title) are set, and the options the block and section
 * steps need are. Returns 0 or -EINVAL with a message in err. */
int profile_check(const struct profile *p, char *err, size_t errlen);

/* ---- Page extraction (harvest/extract.c) ----------------------------- */

struct extract_result {
    struct record *record;       /* owned by the result; NULL on failure */
    enum prov_category category; /* PROV_OK, PROV_PARSE_PARTIAL (record set,
                                    partial), PROV_EXTRACT_EMPTY,
                                    PROV_BLOCKED, PROV_PARSE_TIMEOUT, ... */
    char reason[256];            /* human-readable reason when not PROV_OK */
};

/* Extract one page of len bytes (at most 8 MiB) with profile p. url names
 * the page (it becomes record->url; NULL allowed); charset is the HTTP
 * header's charset label or NULL (encoding precedence: header, BOM, <meta>,
 * UTF-8; an unknown label is skipped). res must be zeroed or cleared; a
 * record it still holds is freed first. On success returns 0 and
 * res->record is set: category PROV_OK, or PROV_PARSE_PARTIAL with
 * record->partial set when the parse ended early after the required
 * fields. Otherwise returns a negative errno with res->category and
 * res->reason set and no record: -ENODATA (EXTRACT_EMPTY: no record_id or
 * title, or nothing to parse; PARSE_PARTIAL: the parse ended before
 * them), -EACCES (BLOCKED: bot challenge or login wall), -EBADMSG
 * (EXTRACT_AMBIGUOUS: a one-value field matched several nodes), -EFBIG
 * (TOO_LARGE), -ETIME (PARSE_TIMEOUT: an XPath hit its cost limit),
 * -EINVAL (CONFIG: the profile's XPath gave the wrong kind of value), -EIO
 * (INTERNAL). The caller calls extract_result_clear() in both cases. */
int extract_page(const struct profile *p, const char *body, size_t len, const char *url,
                 const char *charset, struct extract_result *res);

/* Free what res owns; res may be reused. */
void extract_result_clear(struct extract_result *res);

/* Turn a displayed date ("November 22, 1945", "February 1946", "1958",
 * "July 06, 1945") into YYYY-MM-DD, YYYY-MM or YYYY; NULL when the text is
 * not a date. The caller frees the result. */
char *extract_date_iso(const char *displayed);

/* Process-wide set-up of libxml2 (xmlInitParser, catalogs off, silent
 * structured and generic error handlers); call from main() before any
 * extraction and before starting threads. Calling it again does no harm. */
void extract_global_init(void);

/* ---- The harvest engine (harvest/engine.c) --------------------------- */

struct event_base;
struct fetch;
struct worker_pool;

enum harvest_trigger { HARVEST_SCHEDULE, HARVEST_MANUAL, HARVEST_ONCE };

/* One configured source, as the engine needs it. harvest_run_start()
 * copies it, so a configuration reload does not disturb a running run. */
struct harvest_source {
    const char *name;
    const char *profile;     /* profile name known to the worker pool */
    const char *const *urls; /* the source's URL list (checked) */
    size_t n_urls;
    const char *sitemap;       /* sitemap or sitemap index URL, or NULL */
    const char *listing;       /* listing URL template with {page}, or NULL */
    const char *listing_links; /* XPath of record links */
    const char *listing_next;  /* XPath of the next-page link, or NULL */
    unsigned listing_first_page;
    /* Politeness is per host across the engine: every run and single-page
     * fetch shares one record of each host's starts, transfers, robots.txt
     * and pauses, and while runs of sources with different settings use a
     * host, the largest delay and the smallest concurrency apply. */
    uint64_t delay_ms;    /* between request starts to one host */
    unsigned concurrency; /* transfers in flight per host */
    uint64_t recheck_ms;  /* known URLs are re-fetched spread over this */
    bool allow_file;      /* the URL list names file: URLs */
};

/* A run's counters. */
struct harvest_counters {
    unsigned long discovered; /* URLs in the run's frontier */
    unsigned long fetched;    /* transfers that completed with a response */
    unsigned long n_new, changed, unchanged, kept;
    unsigned long not_modified; /* 304 */
    unsigned long skipped;      /* known URLs not due for a re-check */
    unsigned long gone;         /* 404/410 (the record is marked gone after two) */
    unsigned long failed;       /* URLs given up for this run */
    unsigned long failed_by[PROV_CATEGORY_MAX];
    unsigned long done; /* URLs finished, any outcome */
};

/* What the engine knows about one finished fetch, for the sink. */
struct harvest_page {
    const char *source;
    const char *url;       /* the frontier's URL */
    const char *final_url; /* after redirects */
    int64_t run_id;
    const char *etag; /* validators of the response, or NULL */
    const char *last_modified;
    int http_status;
    int64_t next_due; /* Unix seconds of the next re-check */
};

/* What the sink knows about one URL of one source. */
struct harvest_url_state {
    char *etag;          /* owned; NULL when none */
    char *last_modified; /* owned; NULL when none */
    int64_t next_due;    /* Unix seconds; 0 when any time */
    bool has_record;     /* the URL leads to a stored record */
};

/* Where the engine stores what it learns: the daemon wires these to the
 * catalog, tests to fakes. Each write is one transaction: the page's
 * outcome and its frontier entry are stored together or not at all.
 * Functions return 0 or a negative errno; a failed write leaves the URL
 * pending in the run's frontier. */
struct harvest_sink {
    void *data;
    /* single: a run of one URL (harvest_fetch_one()), not of the source.
     * A run of the source takes over the runs of that source an earlier
     * process left unfinished (their pending URLs join its frontier). */
    int (*run_start)(void *data, const char *source, enum harvest_trigger t, bool single,
                     int64_t *run_id);
    /* The newest run of the whole source that a crash left unfinished
     * (having taken over the others, as run_start does): 0, or -ENOENT. */
    int (*run_unfinished)(void *data, const char *source, int64_t *run_id);
    int (*run_finish)(void *data, int64_t run_id, bool aborted);
    /* Add n URLs to the run's frontier in one transaction; added[i] tells
     * whether urls[i] was new to it (false: it was there already, pending
     * or done). */
    int (*frontier_add)(void *data, int64_t run_id, const char *const *urls, size_t n, bool *added);
    /* Mark url done in the run's frontier without fetching it (not due). */
    int (*frontier_skip)(void *data, int64_t run_id, const char *url);
    int (*frontier_pending)(void *data, int64_t run_id, size_t max, struct strlist *urls);
    /* Append up to max URLs of source due for a re-check at now (Unix
     * seconds). */
    int (*due)(void *data, const char *source, int64_t now, size_t max, struct strlist *urls);
    /* What source knows of url (each source keeps its own validators and
     * due time for a URL that several sources list); -ENOENT when source
     * never fetched it. */
    int (*url_state)(void *data, const char *source, const char *url, struct harvest_url_state *st);
    /* outcome: 0 new, 1 changed, 2 unchanged, 3 kept (a partial parse of a
     * complete record). */
    int (*store)(void *data, const struct harvest_page *pg, const struct record *r, int *outcome);
    int (*not_modified)(void *data, const struct harvest_page *pg);
    int (*missing)(void *data, const struct harvest_page *pg, bool *gone);
    int (*failed)(void *data, const struct harvest_page *pg, enum prov_category cat,
                  const char *message);
};

struct harvest_options {
    unsigned retries;            /* attempts per URL and run (3) */
    uint64_t retry_base_ms;      /* first back-off (1000), doubled each time */
    uint64_t retry_after_max_ms; /* Retry-After honoured up to this (1 h) */
    uint64_t crawl_delay_max_ms; /* robots.txt Crawl-delay cap (60 s) */
    unsigned host_pause_after;   /* consecutive failures that pause a host (5) */
    unsigned max_in_flight;      /* transfers at once, all hosts (32) */
};

struct harvest_engine;

/* Called once when a run ends: failed tells whether it could not be
 * harvested at all (discovery failed, storage failed), error says why. */
typedef void (*harvest_run_done_fn)(int64_t run_id, const struct harvest_counters *c, bool failed,
                                    const char *error, void *data);

/* A new engine on base, fetching with f and extracting with w (both must
 * outlive it), storing through sink (copied). o may be NULL. */
struct harvest_engine *harvest_engine_new(struct event_base *base, struct fetch *f,
                                          struct worker_pool *w, const struct harvest_sink *sink,
                                          const struct harvest_options *o);

/* Stop: transfers in flight are cancelled and pages that come back from
 * the extraction helpers from now on are dropped; runs are left
 * unfinished in the sink (a later harvest_run_start() resumes them) and no
 * run callback is called. Free the worker pool after this and before
 * harvest_engine_free(). */
void harvest_engine_stop(struct harvest_engine *e);

/* Stop (if not yet) and free e and its runs. NULL is allowed. */
void harvest_engine_free(struct harvest_engine *e);

/* Start a run of src (copied). When the sink holds an unfinished run of
 * the source, that run is resumed (*resumed set) instead of a new one.
 * every_url: fetch every discovered URL, known or not (--once and manual
 * runs); otherwise known URLs are fetched only when due. Returns 0 with
 * *run_id set, -EBUSY when the source is running already, or the sink's
 * error. done is called once, later, from the loop. */
int harvest_run_start(struct harvest_engine *e, const struct harvest_source *src,
                      enum harvest_trigger t, bool every_url, harvest_run_done_fn done, void *data,
                      int64_t *run_id, bool *resumed);

/* Add url to the running run run_id (a manual request merged into it).
 * -ENOENT when no such run is active. */
int harvest_run_add_url(struct harvest_engine *e, int64_t run_id, const char *url);

/* Fetch and store one page of src now, as a run of its own with trigger
 * manual, even while the source's own run goes on; it waits its turn on
 * the page's host like any run's request. */
int harvest_fetch_one(struct harvest_engine *e, const struct harvest_source *src, const char *url,
                      harvest_run_done_fn done, void *data, int64_t *run_id);

/* The active run of source: 0 with *run_id set, or -ENOENT. Single-page
 * runs do not count. */
int harvest_source_run(const struct harvest_engine *e, const char *source, int64_t *run_id);

/* Live counters of an active run into *c, and the frontier size into
 * *total: 0, or -ENOENT when run_id is not active. */
int harvest_run_progress(const struct harvest_engine *e, int64_t run_id, struct harvest_counters *c,
                         unsigned long *total);

/* Number of runs active. */
unsigned harvest_engine_runs(const struct harvest_engine *e);

#endif
