/*
 * querypool: the control API's query threads. A fixed number of worker
 * threads, each with a read-only catalog handle of its own, take jobs from
 * one bounded queue; a job's result goes back to the event loop, which
 * calls the job's done function there. A full queue refuses a job at once,
 * so that the caller can answer 503 instead of letting it wait.
 */
#ifndef PROVD_QUERYPOOL_H
#define PROVD_QUERYPOOL_H

#include "catalog.h"

#include <stdbool.h>
#include <stddef.h>

struct event_base;
struct querypool;

struct querypool_options {
    const char *database;          /* the catalog file, opened read-only */
    struct catalog_options reader; /* each worker's handle (readonly is forced) */
    unsigned workers;              /* threads, at least 1 */
    unsigned depth;                /* jobs waiting for a thread, at least 1 */
};

/* Runs on a worker thread. c is the worker's reader handle, or NULL when
 * the catalog cannot be opened (errmsg then says why; otherwise ""). It
 * must touch nothing the loop thread uses: only the job and c. */
typedef void (*querypool_run_fn)(void *job, struct catalog *c, const char *errmsg);

/* Runs on the loop thread once per submitted job: after run() (ran true),
 * or without it (ran false) when the pool is freed before the job
 * started. It owns the job from then on. */
typedef void (*querypool_done_fn)(void *job, bool ran);

/* Counts for the status endpoint. */
struct querypool_stats {
    unsigned workers, depth;
    unsigned running;       /* jobs on a thread now */
    unsigned queued;        /* jobs waiting now */
    unsigned queued_most;   /* the most that ever waited at once */
    unsigned long done;     /* jobs run to the end */
    unsigned long rejected; /* jobs refused because the queue was full */
};

/* Start the worker threads on base (the loop that will call the done
 * functions). Each thread opens its handle as it starts, and again at its
 * next job while the opening fails. opts is copied. Returns NULL with a
 * message in err when a thread or the wake-up descriptor cannot be made. */
struct querypool *querypool_new(struct event_base *base, const struct querypool_options *opts,
                                char *err, size_t errlen);

/* Queue job, to be run by run() on a worker and finished by done() on the
 * loop. Loop thread only. 0; -EAGAIN when depth jobs already wait (job
 * stays the caller's: nothing is called); -ESHUTDOWN once the pool is
 * being freed. */
int querypool_submit(struct querypool *q, void *job, querypool_run_fn run, querypool_done_fn done);

/* The pool's counts now. Loop thread only. */
void querypool_stats(struct querypool *q, struct querypool_stats *out);

/* Stop: jobs that have not started are finished with done(job, false),
 * running ones end (their queries are budgeted) and are finished with
 * done(job, true), the threads are joined and their handles closed. Call
 * it on the loop thread, with the loop no longer running or from one of
 * its callbacks. NULL is allowed. */
void querypool_free(struct querypool *q);

#endif
