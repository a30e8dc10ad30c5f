/*
 * writer: the catalog's writes on a thread of their own. The harvest's
 * outcomes are queued here by the sink (sink.c, on the event loop) and
 * written by one thread through its own catalog handle, in batches, so
 * that a slow disk (fsync) never holds up the loop and the control
 * socket. Results the loop needs (stored outcomes, failed writes, the end
 * of a run) come back through a callback run on the loop.
 */
#ifndef PROVD_WRITER_H
#define PROVD_WRITER_H

#include "catalog.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct writer;

/* Outcomes per transaction at most, and how long one stays open at most. */
#define WRITER_BATCH_PAGES 64
#define WRITER_BATCH_MS    500
/* Jobs queued at most: a full queue makes the loop wait for room. Each
 * job may hold a whole record (some KB of text), so the bound is also
 * what the queue may cost in memory; four batches keep the thread busy. */
#define WRITER_QUEUE_MAX (4 * WRITER_BATCH_PAGES)

enum writer_op {
    WRITER_STORE,
    WRITER_NOT_MODIFIED,
    WRITER_MISSING,
    WRITER_FAILED,
    WRITER_FRONTIER_ADD,
    WRITER_FRONTIER_SKIP,
    WRITER_RUN_START,
    WRITER_RUN_FINISH,
    WRITER_SYNC,
};

/* What the writer reports to the loop: every store (with the outcome the
 * catalog found), every run's end, and every write that failed. */
struct writer_result {
    enum writer_op op;
    int64_t run_id;
    int rc;                      /* 0 or a negative errno */
    int outcome;                 /* WRITER_STORE: 0 new, 1 changed, 2 unchanged, 3 kept */
    int guess;                   /* WRITER_STORE: the outcome the engine was told */
    enum prov_category category; /* of a failure (PROV_OK otherwise) */
    const char *errmsg;          /* catalog message of a failure, or "" */
    const char *url;             /* the page's URL, or NULL */
};

/* Called on the loop (or in writer_free) for each result, in the order
 * the jobs were queued; res and its strings live for the call only. */
typedef void (*writer_result_fn)(const struct writer_result *res, void *data);

/* Open a writer handle on the catalog at path (which must exist: the
 * daemon's own open created and checked it) with busy_timeout_ms, and
 * start the thread. Results go to fn on base's loop. 0 with *out set, or
 * a negative errno with the reason in err (errlen bytes). */
int writer_new(struct event_base *base, const char *path, int busy_timeout_ms, writer_result_fn fn,
               void *data, struct writer **out, char *err, size_t errlen);

/* Drain the queue, commit, stop the thread, close the handle, and hand
 * the results still undelivered to the callback. NULL is allowed. */
void writer_free(struct writer *w);

/* Queue the outcome of one fetched page. pg and r are copied. guess is
 * the outcome the caller told the engine (see struct writer_result). May
 * wait while the queue is full. */
void writer_store(struct writer *w, const struct catalog_page *pg, const struct record *r,
                  int guess);
void writer_not_modified(struct writer *w, const struct catalog_page *pg);
void writer_missing(struct writer *w, const struct catalog_page *pg);
void writer_failed(struct writer *w, const struct catalog_page *pg, enum prov_category cat,
                   const char *message);

/* Add n URLs to run's stored frontier. With added NULL the call is
 * queued; otherwise it waits until the writer has applied it (after every
 * job queued before it) and added[i] tells whether urls[i] was new to the
 * stored frontier; it returns 0 or the catalog's error. */
int writer_frontier_add(struct writer *w, int64_t run, const char *const *urls, size_t n,
                        bool *added);
void writer_frontier_skip(struct writer *w, int64_t run, const char *url);

/* Start a run: waits until every job queued before it is committed, then
 * stores the run in a transaction of its own. 0 with *id set, or the
 * catalog's error. */
int writer_run_start(struct writer *w, const char *source, enum catalog_trigger t, int64_t *id);

/* Finish run: after the jobs queued before it are committed, the run is
 * marked finished (aborted: failed), unless one of its writes was lost
 * (a failed write or a rolled-back batch), which leaves it unfinished for
 * the next start to resume. With wait the call returns that outcome (0,
 * -EIO for a lost write, or the catalog's error); otherwise it returns 0
 * and the outcome comes as a WRITER_RUN_FINISH result. */
int writer_run_finish(struct writer *w, int64_t run, bool aborted, bool wait);

/* Wait until every job queued so far is written and committed. Returns
 * at once when nothing is queued or open. */
void writer_sync(struct writer *w);

/* Jobs queued and not yet applied. */
size_t writer_queued(struct writer *w);

#endif
