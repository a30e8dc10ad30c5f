/*
 * frontier: the URLs of one run that wait to be fetched, queued per host
 * (scheme://host:port), and the politeness that decides which may start
 * when: per-host concurrency and a global cap, a least gap between
 * request starts per host with jitter, robots.txt (fetched first, obeyed,
 * its Crawl-delay honoured up to a cap), Retry-After, exponential back-off
 * with jitter per URL, and a pause for a host that keeps failing
 * (RELIABILITY N14, N15, N23).
 *
 * What to fetch is the run's (struct frontier); when a host may be asked
 * is the host's, kept in a table (struct frontier_hosts) that every run of
 * an engine shares: the last request start, the transfers in flight, the
 * robots.txt rules and Crawl-delay, and the Retry-After and failure pause
 * of each host hold across runs, so two runs on one host together keep
 * its delay and concurrency (failures in a row count while runs use the
 * host: the first run after an idle spell starts with none). When runs
 * with different settings share a host, the strictest applies: the
 * largest delay, the smallest concurrency, among the runs that have URLs
 * of the host.
 *
 * Internal to harvest/ (tests may include it). No event loop and no
 * clock: the caller passes `now` (milliseconds, any monotonic origin) and
 * arms one timer for the time frontier_next() returns. Every operation is
 * O(log n) in the URLs of a host plus O(log h) in the hosts; a call after
 * another run changed a shared host costs O(h log h) in the run's hosts.
 */
#ifndef PROVD_FRONTIER_H
#define PROVD_FRONTIER_H

#include "errors.h"
#include "robots.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* "Wait until something is done": no timer is needed. */
#define FRONTIER_NEVER INT64_MAX

struct frontier_hosts;

struct frontier_options {
    unsigned concurrency;       /* transfers in flight per host, >= 1 */
    unsigned max_in_flight;     /* transfers in flight in all, >= 1 */
    int64_t delay_ms;           /* least gap between starts on one host; 0: none */
    unsigned jitter_pct;        /* gaps grow by up to jitter_pct %, back-offs vary by
                                   +-jitter_pct %; <= 50 */
    int64_t crawl_delay_cap_ms; /* robots.txt Crawl-delay honoured up to this */
    int64_t retry_after_cap_ms; /* Retry-After honoured up to this */
    unsigned max_attempts;      /* fetches of one URL per run, >= 1 */
    int64_t backoff_ms;         /* wait after a URL's first failure */
    int64_t backoff_max_ms;     /* longest wait between a URL's attempts */
    unsigned pause_after;       /* failures in a row on a host before it pauses; 0: never */
    int64_t pause_ms;           /* how long such a host pauses */
    bool robots;                /* fetch and obey robots.txt for http(s) hosts */
    struct robots_options robots_opts;
    /* Uniform 32-bit random values for jitter; NULL: a generator of the
     * frontier's own, seeded with seed. */
    uint32_t (*random)(void *data);
    void *random_data;
    uint64_t seed;
    /* The shared host table (borrowed; it must outlive the frontier), or
     * NULL: a table of the frontier's own, made from these options. With
     * a shared table, its own options decide jitter, randomness, the
     * caps, the pause, robots.txt and max_in_flight (engine-wide); the
     * frontier's decide its delay, concurrency, attempts and back-off. */
    struct frontier_hosts *hosts;
};

/* Fill o with the defaults: concurrency 1, 32 in flight, delay 5 s,
 * jitter 15 % (gaps only lengthened: delay is a floor), Crawl-delay cap 60 s, Retry-After cap 1 h,
 * 4 attempts, back-off 1 s doubling up to 10 min, a 5-minute pause after 5 failures in a row,
 * robots.txt on. */
void frontier_options_init(struct frontier_options *o);

/* A new host table for frontiers that share politeness (one per engine),
 * with a copy of o (its hosts field is ignored); NULL when o is out of
 * bounds. Free it with frontier_hosts_free() after every frontier that
 * uses it. */
struct frontier_hosts *frontier_hosts_new(const struct frontier_options *o);

/* Free hs and its hosts; NULL is allowed. */
void frontier_hosts_free(struct frontier_hosts *hs);

/* Transfers in flight on every host of hs, robots.txt included. */
unsigned frontier_hosts_in_flight(const struct frontier_hosts *hs);

/* The host of url as the runs see it now: the delay and concurrency that
 * apply (the strictest of the runs with URLs there) and its transfers in
 * flight; each out-pointer may be NULL. 0, -ENOENT when no run has used
 * the host, -EINVAL when url has no host. */
int frontier_hosts_get(const struct frontier_hosts *hs, const char *url, int64_t *delay_ms,
                       unsigned *concurrency, unsigned *in_flight);

/* The queue of one run. Opaque. */
struct frontier;

/* A new, empty frontier with a copy of o. Returns NULL when o is out of
 * bounds (see the fields); the caller frees it with frontier_free(). */
struct frontier *frontier_new(const struct frontier_options *o);

/* Free f and everything it holds; NULL is allowed. Transfers of f still
 * in flight (a shutdown) stop counting on their hosts, and f stops
 * counting as a user of its hosts' settings. */
void frontier_free(struct frontier *f);

/* Set this run's gap and concurrency for the host of url (for a source
 * whose settings differ from the frontier's defaults). The host applies
 * the strictest values of all the runs that use it. Returns 0 or
 * -EINVAL. */
int frontier_set_host(struct frontier *f, const char *url, int64_t delay_ms, unsigned concurrency);

/* Queue url (normalised by discover_url_normalize()) with the caller's
 * data pointer, ready from now. Returns 0; -EEXIST when url was already
 * queued in this run (it is not queued twice, whatever its state);
 * -EINVAL when url is not a normalised http, https or file URL. */
int frontier_add(struct frontier *f, const char *url, void *data, int64_t now);

enum frontier_job_kind {
    FRONTIER_JOB_FETCH,      /* fetch url, then call frontier_done() */
    FRONTIER_JOB_ROBOTS,     /* fetch url (a robots.txt), then frontier_robots_done() */
    FRONTIER_JOB_DISALLOWED, /* robots.txt forbids url: finished, never fetched */
    FRONTIER_JOB_GIVEN_UP,   /* url waits for the next run: its host's robots.txt
                              could not be fetched; category says why */
};

struct frontier_job {
    enum frontier_job_kind kind;
    const char *url;             /* lives as long as the frontier */
    void *data;                  /* the pointer given to frontier_add(); NULL for robots.txt */
    unsigned attempt;            /* 1 for a URL's first fetch in this run */
    enum prov_category category; /* FRONTIER_JOB_GIVEN_UP: the last failure */
};

enum frontier_status {
    FRONTIER_READY,   /* *job is filled: act on it, then call again */
    FRONTIER_WAIT,    /* nothing may start before *wake_at (FRONTIER_NEVER:
                         not before a frontier_done(), _robots_done() or _add(),
                         of this run or of another run sharing the host table) */
    FRONTIER_DRAINED, /* nothing queued and nothing in flight */
};

/* The next thing to do at time now. A _FETCH or _ROBOTS job counts as a
 * start on its host from now on. Call it again after every job, every
 * frontier_done() and when the timer for *wake_at fires; it never returns
 * a job early, so one timer is all the caller needs. */
enum frontier_status frontier_next(struct frontier *f, int64_t now, struct frontier_job *job,
                                   int64_t *wake_at);

struct frontier_outcome {
    enum prov_category category; /* PROV_OK, or what went wrong */
    int http_status;             /* final HTTP status; 0 when there was none */
    int64_t retry_after_ms;      /* the response's Retry-After, relative; < 0: none */
};

/* Is a failure of this category worth another attempt in this run?
 * (connect, DNS, timeouts, resets and partial bodies, 5xx, 429, bot
 * challenges: yes; 4xx, size and protocol refusals, parse results: no) */
bool frontier_retryable(enum prov_category c);

enum frontier_disposition {
    FRONTIER_FINISHED, /* done for this run (fetched, or failed for good: 404) */
    FRONTIER_RETRY,    /* will be tried again, not before *retry_at */
    FRONTIER_GIVEN_UP, /* its last attempt failed: it waits for the next run
                          with its category (frontier_category()) */
};

/* Report the end of a FRONTIER_JOB_FETCH for url at time now. A retryable failure
 * is tried again after a back-off (backoff_ms doubling per attempt, with
 * jitter, at most backoff_max_ms) or after the Retry-After, which also
 * holds back every URL of the host (at most retry_after_cap_ms); after
 * max_attempts it is given up. pause_after retryable failures in a row
 * pause the host for pause_ms. Returns the disposition (retry_at, which
 * may be NULL, gets the retry time), or -ENOENT when url was not queued,
 * -EINVAL when it is not in flight. */
int frontier_done(struct frontier *f, const char *url, const struct frontier_outcome *o,
                  int64_t now, int64_t *retry_at);

/* Report the end of a FRONTIER_JOB_ROBOTS (url as the job gave it; body and len the
 * response body, may be NULL/0). The outcome is judged by robots_decide():
 * rules from a 2xx body, everything allowed on 4xx, and on 5xx, 429 or a
 * network error the host's URLs wait (or keep a cached copy's rules) and
 * robots.txt is fetched again later; after max_attempts such failures in
 * a row the host's URLs are handed back as FRONTIER_JOB_GIVEN_UP jobs.
 * Returns 0, -ENOENT for an unknown url, -EINVAL when none is in flight. */
int frontier_robots_done(struct frontier *f, const char *url, const struct frontier_outcome *o,
                         const char *body, size_t len, int64_t now);

/* The category of url's last failure in this run (PROV_OK when none), or
 * -1 when url is not in the frontier. */
int frontier_category(const struct frontier *f, const char *url);

/* URLs queued and not started, and transfers in flight (robots.txt
 * included). */
size_t frontier_pending(const struct frontier *f);
unsigned frontier_in_flight(const struct frontier *f);

#endif
