/*
 * writer: the catalog's writes on a thread of their own. The loop queues
 * write jobs (a page's outcome, frontier entries, a run's start or end);
 * the thread applies them in order through its own catalog handle,
 * batched into transactions of at most WRITER_BATCH_PAGES outcomes or
 * WRITER_BATCH_MS, so that one slow fsync holds up the writer only and
 * never the loop, which keeps answering the control socket.
 *
 * A job is applied inside the open batch, so a page's outcome and its
 * frontier entry are written in the same transaction. A crash loses at
 * most the open batch and what is still queued; those URLs are still
 * pending in their runs' stored frontiers and the resumed run fetches
 * them again. When a write fails or a batch is rolled back, outcomes the
 * engine was already told about are gone: the runs concerned are
 * remembered as damaged, and finishing them fails, which leaves them
 * unfinished for the next start to resume.
 *
 * Results go back to the loop through an eventfd: the thread appends them
 * to a list and the loop's event hands them to the owner's callback in
 * queue order. The queue is bounded (WRITER_QUEUE_MAX); a full queue makes
 * the queuing call wait for room, which is the back-pressure on the
 * harvest. The writer owns its thread, its queue, its catalog handle and
 * the eventfd; it never touches the loop's own catalog handle and never
 * logs.
 */
#include "writer.h"

#include "xmalloc.h"

#include <errno.h>
#include <event2/event.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

/* Distinct runs one batch may hold (a new one commits the batch first). */
#define WRITER_BATCH_RUNS 8

struct writer_job {
    enum writer_op op;
    int64_t run_id;
    char *source, *url, *etag, *last_modified, *message;
    int http_status;
    int64_t next_due;
    struct record *record;
    int guess;
    enum prov_category category;
    enum catalog_trigger trigger;
    bool aborted;
    char **urls; /* WRITER_FRONTIER_ADD */
    size_t n_urls;
    /* A job the loop waits for: the writer sets done and the reply. */
    bool wait, done;
    bool *added;
    int rc;
    int64_t id;
    struct writer_job *next;
};

struct writer_res {
    struct writer_result r;
    char *errmsg, *url;
    struct writer_res *next;
};

struct writer {
    struct event_base *base;
    struct catalog *db; /* the thread's own handle */
    writer_result_fn fn;
    void *data;
    pthread_t thread;
    bool started;

    pthread_mutex_t lock;
    pthread_cond_t more;  /* jobs queued, or stopping */
    pthread_cond_t room;  /* the queue has room */
    pthread_cond_t reply; /* a waited-for job is done */
    struct writer_job *head, *tail;
    size_t n_queued; /* jobs in the queue */
    size_t n_busy;   /* jobs queued or being applied */
    bool batch_open; /* the thread's open, as last seen under lock */
    bool stopping;

    /* Results for the loop, under res_lock. */
    pthread_mutex_t res_lock;
    struct writer_res *res_head, *res_tail;
    int efd;
    struct event *ev;

    /* Batch state: the thread's only. */
    bool open;
    unsigned pages;
    struct timespec deadline;
    int64_t runs[WRITER_BATCH_RUNS];
    size_t n_runs;
    int64_t *damaged;
    size_t n_damaged;
};

/* ---- results -------------------------------------------------------- */

static void writer_post(struct writer *w, const struct writer_job *j, int rc, int outcome)
{
    struct writer_res *res = xcalloc(1, sizeof(*res));
    uint64_t one = 1;

    res->r.op = j->op;
    res->r.run_id = j->run_id;
    res->r.rc = rc;
    res->r.outcome = outcome;
    res->r.guess = j->guess;
    res->r.category = rc < 0 ? catalog_category(w->db) : PROV_OK;
    if (rc < 0 && res->r.category == PROV_OK)
        res->r.category = PROV_STORAGE_IO;
    res->errmsg = xstrdup(rc < 0 ? catalog_errmsg(w->db) : "");
    res->url = xstrdup_or_null(j->url);
    pthread_mutex_lock(&w->res_lock);
    if (w->res_tail)
        w->res_tail->next = res;
    else
        w->res_head = res;
    w->res_tail = res;
    pthread_mutex_unlock(&w->res_lock);
    /* A full counter (never, at 2^64 - 2) would only delay the wake-up. */
    if (write(w->efd, &one, sizeof(one)) < 0)
        return;
}

static void writer_deliver(struct writer *w)
{
    struct writer_res *list;

    pthread_mutex_lock(&w->res_lock);
    list = w->res_head;
    w->res_head = w->res_tail = NULL;
    pthread_mutex_unlock(&w->res_lock);
    while (list) {
        struct writer_res *res = list;

        list = res->next;
        res->r.errmsg = res->errmsg;
        res->r.url = res->url;
        w->fn(&res->r, w->data);
        free(res->errmsg);
        free(res->url);
        free(res);
    }
}

static void writer_on_results(evutil_socket_t fd, short what, void *arg)
{
    struct writer *w = arg;
    uint64_t n;

    if (read(fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
        return;
    writer_deliver(w);
}

/* ---- the batch (thread side) ---------------------------------------- */

static void writer_damage(struct writer *w, int64_t run)
{
    if (run == 0)
        return;
    for (size_t k = 0; k < w->n_damaged; k++)
        if (w->damaged[k] == run)
            return;
    w->damaged = xreallocarray(w->damaged, w->n_damaged + 1, sizeof(*w->damaged));
    w->damaged[w->n_damaged++] = run;
}

/* The open batch is gone: every run that wrote to it must not finish. */
static void writer_lost(struct writer *w)
{
    for (size_t i = 0; i < w->n_runs; i++)
        writer_damage(w, w->runs[i]);
    w->open = false;
    w->n_runs = 0;
    w->pages = 0;
}

static int writer_flush(struct writer *w)
{
    int rc;

    if (!w->open)
        return 0;
    rc = catalog_commit(w->db, NULL);
    if (rc < 0) {
        catalog_rollback(w->db);
        writer_lost(w);
        return rc;
    }
    w->open = false;
    w->n_runs = 0;
    w->pages = 0;
    return 0;
}

/* Make sure a batch is open for a write of run (0: none). */
static int writer_begin(struct writer *w, int64_t run)
{
    bool listed = run == 0;
    int rc;

    for (size_t i = 0; i < w->n_runs && !listed; i++)
        listed = w->runs[i] == run;
    if (w->open && !listed && w->n_runs == WRITER_BATCH_RUNS && (rc = writer_flush(w)) < 0)
        return rc;
    if (!w->open) {
        rc = catalog_begin(w->db);
        if (rc < 0)
            return rc;
        w->open = true;
        w->pages = 0;
        w->n_runs = 0;
        listed = run == 0;
        clock_gettime(CLOCK_MONOTONIC, &w->deadline);
        w->deadline.tv_sec += WRITER_BATCH_MS / 1000;
        w->deadline.tv_nsec += (long)(WRITER_BATCH_MS % 1000) * 1000000L;
        if (w->deadline.tv_nsec >= 1000000000L) {
            w->deadline.tv_sec++;
            w->deadline.tv_nsec -= 1000000000L;
        }
    }
    if (!listed)
        w->runs[w->n_runs++] = run;
    return 0;
}

/* After a write in the batch: a failed one rolled the batch back (the
 * catalog's rule) or at least lost this job's write; an outcome counts
 * towards the batch's size. */
static int writer_end(struct writer *w, const struct writer_job *j, int rc, bool outcome)
{
    if (rc < 0) {
        writer_damage(w, j->run_id);
        if (w->open && !catalog_in_batch(w->db))
            writer_lost(w);
        return rc;
    }
    if (outcome && ++w->pages >= WRITER_BATCH_PAGES)
        return writer_flush(w);
    return 0;
}

static struct catalog_page writer_page(const struct writer_job *j)
{
    struct catalog_page cp = {
        .source = j->source,
        .url = j->url,
        .etag = j->etag,
        .last_modified = j->last_modified,
        .http_status = j->http_status,
        .run_id = j->run_id,
        .next_due = j->next_due,
    };
    return cp;
}

static bool writer_take_damaged(struct writer *w, int64_t run)
{
    for (size_t k = 0; k < w->n_damaged; k++) {
        if (w->damaged[k] == run) {
            w->damaged[k] = w->damaged[--w->n_damaged];
            return true;
        }
    }
    return false;
}

/* Apply one job on the thread. */
static void writer_apply(struct writer *w, struct writer_job *j)
{
    struct catalog_page cp = writer_page(j);
    struct catalog_upsert_result res;
    int rc = 0, flush_rc, outcome = j->guess;

    switch (j->op) {
    case WRITER_STORE:
        rc = writer_begin(w, j->run_id);
        if (rc == 0)
            rc = catalog_upsert(w->db, &cp, j->record, &res);
        if (rc == 0)
            outcome = res.outcome == CATALOG_NEW         ? 0
                      : res.outcome == CATALOG_CHANGED   ? 1
                      : res.outcome == CATALOG_UNCHANGED ? 2
                                                         : 3;
        writer_post(w, j, rc, outcome);
        flush_rc = writer_end(w, j, rc, true);
        /* A failed commit after the store loses it too: say so. */
        if (rc == 0 && flush_rc < 0)
            writer_post(w, &(struct writer_job){.op = WRITER_SYNC, .run_id = j->run_id}, flush_rc,
                        0);
        return;
    case WRITER_NOT_MODIFIED:
    case WRITER_MISSING:
    case WRITER_FAILED:
        rc = writer_begin(w, j->run_id);
        if (rc == 0)
            rc = j->op == WRITER_NOT_MODIFIED ? catalog_not_modified(w->db, &cp)
                 : j->op == WRITER_MISSING
                     ? catalog_missing(w->db, &cp, NULL)
                     : catalog_fetch_failed(w->db, &cp, j->category, j->message);
        if (rc < 0)
            writer_post(w, j, rc, 0);
        rc = writer_end(w, j, rc, true);
        break;
    case WRITER_FRONTIER_ADD:
        rc = writer_begin(w, j->run_id);
        for (size_t i = 0; rc == 0 && i < j->n_urls; i++) {
            rc = catalog_frontier_add(w->db, j->run_id, j->urls[i]);
            if (j->added)
                j->added[i] = rc > 0;
            if (rc > 0)
                rc = 0;
        }
        if (rc < 0 && !j->wait)
            writer_post(w, j, rc, 0);
        j->rc = writer_end(w, j, rc, false);
        if (rc < 0)
            j->rc = rc;
        break;
    case WRITER_FRONTIER_SKIP:
        rc = writer_begin(w, j->run_id);
        if (rc == 0)
            rc = catalog_frontier_mark(w->db, j->run_id, j->url, CATALOG_FRONTIER_DONE);
        if (rc < 0)
            writer_post(w, j, rc, 0);
        rc = writer_end(w, j, rc, false);
        break;
    case WRITER_RUN_START:
        rc = writer_flush(w);
        if (rc == 0)
            rc = catalog_run_start(w->db, j->source, j->trigger, &j->id);
        j->rc = rc;
        break;
    case WRITER_RUN_FINISH:
        rc = writer_flush(w);
        if (writer_take_damaged(w, j->run_id))
            rc = -EIO;
        else if (rc == 0)
            rc = catalog_run_finish(w->db, j->run_id, j->aborted);
        j->rc = rc;
        writer_post(w, j, rc, 0);
        break;
    case WRITER_SYNC:
        j->rc = writer_flush(w);
        break;
    }
}

static void writer_job_free(struct writer_job *j)
{
    free(j->source);
    free(j->url);
    free(j->etag);
    free(j->last_modified);
    free(j->message);
    record_free(j->record);
    for (size_t i = 0; i < j->n_urls; i++)
        free(j->urls[i]);
    free(j->urls);
    free(j);
}

static bool writer_past(const struct timespec *t)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return now.tv_sec > t->tv_sec || (now.tv_sec == t->tv_sec && now.tv_nsec >= t->tv_nsec);
}

static void *writer_thread(void *arg)
{
    struct writer *w = arg;

    pthread_mutex_lock(&w->lock);
    for (;;) {
        struct writer_job *j;

        while (w->head == NULL && !w->stopping) {
            if (!w->open) {
                pthread_cond_wait(&w->more, &w->lock);
            } else if (pthread_cond_timedwait(&w->more, &w->lock, &w->deadline) == ETIMEDOUT) {
                pthread_mutex_unlock(&w->lock);
                writer_flush(w);
                pthread_mutex_lock(&w->lock);
                w->batch_open = w->open;
            }
        }
        if (w->head == NULL)
            break; /* stopping, with nothing left */
        j = w->head;
        w->head = j->next;
        if (w->head == NULL)
            w->tail = NULL;
        w->n_queued--;
        pthread_cond_signal(&w->room);
        pthread_mutex_unlock(&w->lock);

        writer_apply(w, j);
        /* An old batch is committed even while jobs keep coming. */
        if (w->open && writer_past(&w->deadline))
            writer_flush(w);

        pthread_mutex_lock(&w->lock);
        w->n_busy--;
        w->batch_open = w->open;
        if (j->wait) {
            j->done = true;
            pthread_cond_broadcast(&w->reply);
        } else {
            writer_job_free(j);
        }
    }
    pthread_mutex_unlock(&w->lock);
    writer_flush(w);
    return NULL;
}

/* ---- queuing (loop side) -------------------------------------------- */

static struct writer_job *writer_job_page(enum writer_op op, const struct catalog_page *pg)
{
    struct writer_job *j = xcalloc(1, sizeof(*j));

    j->op = op;
    j->run_id = pg->run_id;
    j->source = xstrdup_or_null(pg->source);
    j->url = xstrdup_or_null(pg->url);
    j->etag = xstrdup_or_null(pg->etag);
    j->last_modified = xstrdup_or_null(pg->last_modified);
    j->http_status = pg->http_status;
    j->next_due = pg->next_due;
    return j;
}

/* Queue j; with j->wait, wait for it to be applied, return its rc and
 * its id in *id (may be NULL); the job is freed here then. */
static int writer_push_wait(struct writer *w, struct writer_job *j, int64_t *id)
{
    bool wait = j->wait; /* the thread frees a job not waited for */
    int rc = 0;

    pthread_mutex_lock(&w->lock);
    /* Waited-for jobs do not wait for room: they wait for their turn
     * anyway, and the loop holds no other job back meanwhile. */
    while (!wait && w->n_queued >= WRITER_QUEUE_MAX)
        pthread_cond_wait(&w->room, &w->lock);
    if (w->tail)
        w->tail->next = j;
    else
        w->head = j;
    w->tail = j;
    w->n_queued++;
    w->n_busy++;
    pthread_cond_signal(&w->more);
    if (wait) {
        while (!j->done)
            pthread_cond_wait(&w->reply, &w->lock);
        rc = j->rc;
        if (id)
            *id = j->id;
    }
    pthread_mutex_unlock(&w->lock);
    if (wait)
        writer_job_free(j);
    return rc;
}

static void writer_push(struct writer *w, struct writer_job *j)
{
    writer_push_wait(w, j, NULL);
}

void writer_store(struct writer *w, const struct catalog_page *pg, const struct record *r,
                  int guess)
{
    struct writer_job *j = writer_job_page(WRITER_STORE, pg);

    j->record = record_dup(r);
    j->guess = guess;
    writer_push(w, j);
}

void writer_not_modified(struct writer *w, const struct catalog_page *pg)
{
    writer_push(w, writer_job_page(WRITER_NOT_MODIFIED, pg));
}

void writer_missing(struct writer *w, const struct catalog_page *pg)
{
    writer_push(w, writer_job_page(WRITER_MISSING, pg));
}

void writer_failed(struct writer *w, const struct catalog_page *pg, enum prov_category cat,
                   const char *message)
{
    struct writer_job *j = writer_job_page(WRITER_FAILED, pg);

    j->category = cat;
    j->message = xstrdup_or_null(message);
    writer_push(w, j);
}

int writer_frontier_add(struct writer *w, int64_t run, const char *const *urls, size_t n,
                        bool *added)
{
    struct writer_job *j = xcalloc(1, sizeof(*j));

    j->op = WRITER_FRONTIER_ADD;
    j->run_id = run;
    j->urls = xcalloc(n ? n : 1, sizeof(*j->urls));
    for (size_t i = 0; i < n; i++)
        j->urls[i] = xstrdup(urls[i]);
    j->n_urls = n;
    j->added = added;
    j->wait = added != NULL;
    return writer_push_wait(w, j, NULL);
}

void writer_frontier_skip(struct writer *w, int64_t run, const char *url)
{
    struct writer_job *j = xcalloc(1, sizeof(*j));

    j->op = WRITER_FRONTIER_SKIP;
    j->run_id = run;
    j->url = xstrdup(url);
    writer_push(w, j);
}

int writer_run_start(struct writer *w, const char *source, enum catalog_trigger t, int64_t *id)
{
    struct writer_job *j = xcalloc(1, sizeof(*j));

    j->op = WRITER_RUN_START;
    j->source = xstrdup(source);
    j->trigger = t;
    j->wait = true;
    return writer_push_wait(w, j, id);
}

int writer_run_finish(struct writer *w, int64_t run, bool aborted, bool wait)
{
    struct writer_job *j = xcalloc(1, sizeof(*j));

    j->op = WRITER_RUN_FINISH;
    j->run_id = run;
    j->aborted = aborted;
    j->wait = wait;
    return writer_push_wait(w, j, NULL);
}

void writer_sync(struct writer *w)
{
    struct writer_job *j;
    bool idle;

    pthread_mutex_lock(&w->lock);
    idle = w->n_busy == 0 && !w->batch_open;
    pthread_mutex_unlock(&w->lock);
    if (idle)
        return;
    j = xcalloc(1, sizeof(*j));
    j->op = WRITER_SYNC;
    j->wait = true;
    writer_push_wait(w, j, NULL);
}

size_t writer_queued(struct writer *w)
{
    size_t n;

    pthread_mutex_lock(&w->lock);
    n = w->n_queued;
    pthread_mutex_unlock(&w->lock);
    return n;
}

/* ---- life cycle ----------------------------------------------------- */

int writer_new(struct event_base *base, const char *path, int busy_timeout_ms, writer_result_fn fn,
               void *data, struct writer **out, char *err, size_t errlen)
{
    struct catalog_options o = {.busy_timeout_ms = busy_timeout_ms, .skip_check = true};
    struct writer *w = xcalloc(1, sizeof(*w));
    pthread_condattr_t ca;
    int rc;

    *out = NULL;
    w->base = base;
    w->fn = fn;
    w->data = data;
    w->efd = -1;
    pthread_mutex_init(&w->lock, NULL);
    pthread_mutex_init(&w->res_lock, NULL);
    /* The thread's timed wait for the batch's age is on the monotonic
     * clock. */
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&w->more, &ca);
    pthread_condattr_destroy(&ca);
    pthread_cond_init(&w->room, NULL);
    pthread_cond_init(&w->reply, NULL);
    rc = catalog_open(path, &o, &w->db);
    if (rc < 0) {
        snprintf(err, errlen, "writer handle: %s", catalog_errmsg(w->db));
        goto out;
    }
    w->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (w->efd < 0) {
        rc = -errno;
        snprintf(err, errlen, "eventfd: %s", strerror(errno));
        goto out;
    }
    w->ev = event_new(base, w->efd, EV_READ | EV_PERSIST, writer_on_results, w);
    event_add(w->ev, NULL);
    rc = -pthread_create(&w->thread, NULL, writer_thread, w);
    if (rc < 0) {
        snprintf(err, errlen, "cannot start the writer thread: %s", strerror(-rc));
        goto out;
    }
    w->started = true;
    *out = w;
    return 0;
out:
    writer_free(w);
    return rc;
}

void writer_free(struct writer *w)
{
    if (w == NULL)
        return;
    if (w->started) {
        pthread_mutex_lock(&w->lock);
        w->stopping = true;
        pthread_cond_signal(&w->more);
        pthread_mutex_unlock(&w->lock);
        pthread_join(w->thread, NULL);
    }
    /* Results the loop has not seen yet still reach the owner. */
    if (w->fn)
        writer_deliver(w);
    catalog_close(w->db);
    if (w->ev)
        event_free(w->ev);
    if (w->efd >= 0)
        close(w->efd);
    pthread_mutex_destroy(&w->lock);
    pthread_mutex_destroy(&w->res_lock);
    pthread_cond_destroy(&w->more);
    pthread_cond_destroy(&w->room);
    pthread_cond_destroy(&w->reply);
    free(w->damaged);
    free(w);
}
