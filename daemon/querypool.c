/*
 * querypool: worker threads for the control API's catalog queries. It
 * owns the threads, their read-only catalog handles (one per thread, never
 * shared), the bounded queue of waiting jobs, the list of finished jobs
 * and the eventfd through which a worker wakes the loop to hand them back.
 * One mutex guards the queue, the finished list and the counts. It never
 * touches a job's contents: run() and done() do, on their own threads.
 *
 * The queue is bounded by depth and counts waiting jobs only; a job a
 * thread runs has left it. So at most workers + depth jobs are accepted
 * and unfinished at once, and one more is refused at the moment it is
 * submitted.
 */
#include "querypool.h"

#include "xmalloc.h"

#include <errno.h>
#include <event2/event.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

struct querypool_job {
    void *job;
    querypool_run_fn run;
    querypool_done_fn done;
    struct querypool_job *next;
};

struct querypool {
    struct querypool_options opts;
    char *database; /* opts.database, our copy */
    pthread_mutex_t lock;
    pthread_cond_t work;          /* a job was queued, or stopping */
    struct querypool_job *head;   /* waiting jobs, oldest first */
    struct querypool_job **tailp; /* where the next one goes */
    struct querypool_job *ready;  /* finished jobs, for the loop */
    unsigned queued, running, queued_most;
    unsigned long done, rejected;
    bool stopping;
    int wake_fd; /* eventfd: a worker finished a job */
    struct event *wake;
    pthread_t *threads;
    unsigned n_threads;
};

/* Hand every finished job to its done function (loop thread). */
static void querypool_deliver(struct querypool *q)
{
    struct querypool_job *list, *next, *rev = NULL;

    pthread_mutex_lock(&q->lock);
    list = q->ready;
    q->ready = NULL;
    pthread_mutex_unlock(&q->lock);
    /* The list is newest first; answer in the order the jobs ended. */
    for (; list; list = next) {
        next = list->next;
        list->next = rev;
        rev = list;
    }
    for (; rev; rev = next) {
        next = rev->next;
        rev->done(rev->job, true);
        free(rev);
    }
}

static void querypool_woken(evutil_socket_t fd, short what, void *arg)
{
    uint64_t n;

    /* The counter is reset by one read; more jobs may have finished since,
     * and the next write wakes the loop again. */
    while (read(fd, &n, sizeof(n)) < 0 && errno == EINTR)
        ;
    querypool_deliver(arg);
}

/* Open the worker's handle: the handle, or NULL with the reason in errmsg. */
static struct catalog *querypool_open(struct querypool *q, char *errmsg, size_t len)
{
    struct catalog_options o = q->opts.reader;
    struct catalog *c = NULL;

    o.readonly = true;
    if (catalog_open(q->opts.database, &o, &c) < 0) {
        snprintf(errmsg, len, "%s", catalog_errmsg(c));
        catalog_close(c);
        return NULL;
    }
    errmsg[0] = '\0';
    return c;
}

static void *querypool_thread(void *arg)
{
    struct querypool *q = arg;
    char errmsg[512] = "";
    struct catalog *c;

    /* Open at once, so that the first query does not pay for it. */
    c = querypool_open(q, errmsg, sizeof(errmsg));

    pthread_mutex_lock(&q->lock);
    for (;;) {
        struct querypool_job *j;
        const uint64_t one = 1;

        while (q->head == NULL && !q->stopping)
            pthread_cond_wait(&q->work, &q->lock);
        j = q->head;
        if (j == NULL)
            break; /* stopping, nothing waits */
        q->head = j->next;
        if (q->head == NULL)
            q->tailp = &q->head;
        q->queued--;
        q->running++;
        pthread_mutex_unlock(&q->lock);

        if (c == NULL)
            c = querypool_open(q, errmsg, sizeof(errmsg));
        j->run(j->job, c, errmsg);

        pthread_mutex_lock(&q->lock);
        q->running--;
        q->done++;
        j->next = q->ready;
        q->ready = j;
        /* An eventfd write fails only when the counter would overflow. */
        while (write(q->wake_fd, &one, sizeof(one)) < 0 && errno == EINTR)
            ;
    }
    pthread_mutex_unlock(&q->lock);
    catalog_close(c);
    return NULL;
}

struct querypool *querypool_new(struct event_base *base, const struct querypool_options *opts,
                                char *err, size_t errlen)
{
    struct querypool *q = xcalloc(1, sizeof(*q));
    sigset_t all, old;
    int rc;

    q->opts = *opts;
    q->opts.database = q->database = xstrdup(opts->database);
    if (q->opts.workers < 1)
        q->opts.workers = 1;
    if (q->opts.depth < 1)
        q->opts.depth = 1;
    q->tailp = &q->head;
    pthread_mutex_init(&q->lock, NULL);
    pthread_cond_init(&q->work, NULL);
    q->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (q->wake_fd < 0) {
        snprintf(err, errlen, "eventfd: %s", strerror(errno));
        goto fail;
    }
    q->wake = event_new(base, q->wake_fd, EV_READ | EV_PERSIST, querypool_woken, q);
    if (q->wake == NULL || event_add(q->wake, NULL) < 0) {
        snprintf(err, errlen, "cannot watch the query threads' eventfd");
        goto fail;
    }
    q->threads = xcalloc(q->opts.workers, sizeof(*q->threads));
    /* Signals stay with the loop thread (libevent's signal events). */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    for (unsigned i = 0; i < q->opts.workers; i++) {
        rc = pthread_create(&q->threads[i], NULL, querypool_thread, q);
        if (rc != 0) {
            snprintf(err, errlen, "query thread: %s", strerror(rc));
            break;
        }
        q->n_threads++;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (q->n_threads < q->opts.workers)
        goto fail;
    return q;
fail:
    querypool_free(q);
    return NULL;
}

int querypool_submit(struct querypool *q, void *job, querypool_run_fn run, querypool_done_fn done)
{
    struct querypool_job *j;

    pthread_mutex_lock(&q->lock);
    if (q->stopping) {
        pthread_mutex_unlock(&q->lock);
        return -ESHUTDOWN;
    }
    if (q->queued >= q->opts.depth) {
        q->rejected++;
        pthread_mutex_unlock(&q->lock);
        return -EAGAIN;
    }
    j = xcalloc(1, sizeof(*j));
    j->job = job;
    j->run = run;
    j->done = done;
    *q->tailp = j;
    q->tailp = &j->next;
    q->queued++;
    if (q->queued > q->queued_most)
        q->queued_most = q->queued;
    pthread_cond_signal(&q->work);
    pthread_mutex_unlock(&q->lock);
    return 0;
}

void querypool_stats(struct querypool *q, struct querypool_stats *out)
{
    pthread_mutex_lock(&q->lock);
    out->workers = q->opts.workers;
    out->depth = q->opts.depth;
    out->running = q->running;
    out->queued = q->queued;
    out->queued_most = q->queued_most;
    out->done = q->done;
    out->rejected = q->rejected;
    pthread_mutex_unlock(&q->lock);
}

void querypool_free(struct querypool *q)
{
    struct querypool_job *waiting, *next;

    if (q == NULL)
        return;
    pthread_mutex_lock(&q->lock);
    q->stopping = true;
    waiting = q->head;
    q->head = NULL;
    q->tailp = &q->head;
    q->queued = 0;
    pthread_cond_broadcast(&q->work);
    pthread_mutex_unlock(&q->lock);
    for (unsigned i = 0; i < q->n_threads; i++)
        pthread_join(q->threads[i], NULL);
    for (; waiting; waiting = next) {
        next = waiting->next;
        waiting->done(waiting->job, false);
        free(waiting);
    }
    querypool_deliver(q);
    if (q->wake)
        event_free(q->wake);
    if (q->wake_fd >= 0)
        close(q->wake_fd);
    pthread_cond_destroy(&q->work);
    pthread_mutex_destroy(&q->lock);
    free(q->threads);
    free(q->database);
    free(q);
}
