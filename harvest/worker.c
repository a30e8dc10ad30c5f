/*
 * worker: the pool of extraction helper processes, parent side. It owns
 * the helpers' pids, their socketpair ends, their libevent events and the
 * queue of requests; it forks each helper into worker_helper_main()
 * (worker_helper.c), reaps only the pids it forked and never installs a
 * signal handler. The frame protocol and the categories reported for each
 * failure are described in worker.h; the frame helpers are in
 * worker_proto.h.
 */
#include "worker_proto.h"

#include "record_json.h"
#include "text.h"
#include "xmalloc.h"

#include <errno.h>
#include <event2/event.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define FIELD_MAX        8192u /* profile name, url and charset */
#define START_TIMEOUT_MS 5000  /* worker_pool_new() waits this long per helper */
#define RESTART_DELAY_MS 1000  /* before restarting a helper that died idle */

struct worker_job {
    struct worker_job *next;
    uint32_t id;
    char *frame; /* the encoded request; freed once sent */
    size_t frame_len;
    worker_done_fn cb;
    void *data;
};

enum helper_state {
    HELPER_DOWN,     /* no process; ev_restart is pending unless freeing */
    HELPER_STARTING, /* forked; waiting for its HELLO (deadline armed) */
    HELPER_IDLE,     /* set up and waiting for a request */
    HELPER_BUSY,     /* job sent (maybe partly); waiting for its REPLY */
};

/* Why a helper is taken down; decides what its page is reported as. */
enum helper_cause {
    CAUSE_EOF,      /* its socket closed: it exited or was killed */
    CAUSE_DEADLINE, /* our wall-clock deadline passed */
    CAUSE_PROTOCOL, /* it sent something it should not have */
    CAUSE_RETIRE,   /* it asked to be replaced after its reply */
};

struct worker_helper {
    struct worker_pool *pool;
    enum helper_state state;
    pid_t pid; /* -1 when DOWN */
    int fd;    /* our socket end; -1 when DOWN */
    struct event *ev_read, *ev_write, *ev_deadline, *ev_restart;
    struct worker_job *job; /* BUSY: the request it is working on */
    size_t out_off;         /* bytes of job->frame already sent */
    char *in;               /* received bytes not yet consumed */
    size_t in_len, in_cap;
    int start_error; /* 0, or why the last start failed */
};

struct worker_pool {
    struct event_base *base;
    bool own_base;
    struct worker_options opts;      /* defaults resolved; profiles copied */
    const struct profile **profiles; /* the copy opts.profiles points to */
    struct worker_helper *helpers;
    struct worker_job *queue_head, *queue_tail;
    unsigned n_queued;
    uint32_t next_id;
    unsigned sandbox;
    bool freeing;
};

static void helper_down(struct worker_helper *h, enum helper_cause cause, const char *detail);
static void pool_dispatch(struct worker_pool *pool);

static void job_free(struct worker_job *job)
{
    if (job == NULL)
        return;
    free(job->frame);
    free(job);
}

/* Hand the result to the job's owner, then free the job and the result. */
static void job_finish(struct worker_job *job, int rc, struct extract_result *res)
{
    job->cb(rc, res, job->data);
    record_free(res->record);
    res->record = NULL;
    job_free(job);
}

static void job_fail(struct worker_job *job, int rc, enum prov_category category,
                     const char *reason)
{
    struct extract_result res = {0};

    res.category = category;
    snprintf(res.reason, sizeof(res.reason), "%s", reason);
    job_finish(job, rc, &res);
}

static bool pool_any_alive(const struct worker_pool *pool)
{
    for (unsigned i = 0; i < pool->opts.helpers; i++)
        if (pool->helpers[i].state != HELPER_DOWN)
            return true;
    return false;
}

/* No helper can run the queue now: fail it rather than let it wait for a
 * helper that may never start. */
static void pool_fail_queue(struct worker_pool *pool, int err)
{
    char reason[200];

    if (err == -ECHILD)
        snprintf(reason, sizeof(reason), "extraction helper exited while setting up");
    else
        snprintf(reason, sizeof(reason), "extraction helper could not start: %s", strerror(-err));
    while (pool->queue_head) {
        struct worker_job *job = pool->queue_head;

        pool->queue_head = job->next;
        if (pool->queue_head == NULL)
            pool->queue_tail = NULL;
        pool->n_queued--;
        job_fail(job, -EIO, PROV_INTERNAL, reason);
    }
}

static void helper_arm_deadline(struct worker_helper *h, unsigned ms)
{
    struct timeval tv = {ms / 1000, (long)(ms % 1000) * 1000};

    evtimer_add(h->ev_deadline, &tv);
}

static void helper_read_cb(evutil_socket_t fd, short what, void *arg);
static void helper_write_cb(evutil_socket_t fd, short what, void *arg);

/* Fork helper h. Returns 0 (h is STARTING) or a negative errno (h stays
 * DOWN). */
static int helper_start(struct worker_helper *h)
{
    struct worker_pool *pool = h->pool;
    pid_t parent = getpid();
    int sv[2];
    pid_t pid;

    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        return h->start_error = -errno;
    pid = fork();
    if (pid < 0) {
        int err = -errno;

        close(sv[0]);
        close(sv[1]);
        return h->start_error = err;
    }
    if (pid == 0)
        worker_helper_main(&pool->opts, sv[1], parent);
    close(sv[1]);
    evutil_make_socket_nonblocking(sv[0]);
    h->pid = pid;
    h->fd = sv[0];
    h->in_len = 0;
    h->out_off = 0;
    h->state = HELPER_STARTING;
    h->ev_read = event_new(pool->base, h->fd, EV_READ | EV_PERSIST, helper_read_cb, h);
    h->ev_write = event_new(pool->base, h->fd, EV_WRITE | EV_PERSIST, helper_write_cb, h);
    if (h->ev_read == NULL || h->ev_write == NULL) {
        fprintf(stderr, "<2>provd: cannot create libevent events\n");
        abort();
    }
    event_add(h->ev_read, NULL);
    helper_arm_deadline(h, pool->opts.wall_ms);
    return 0;
}

static void helper_restart_later(struct worker_helper *h)
{
    struct timeval tv = {RESTART_DELAY_MS / 1000, (RESTART_DELAY_MS % 1000) * 1000};

    evtimer_add(h->ev_restart, &tv);
}

static void helper_restart_cb(evutil_socket_t fd, short what, void *arg)
{
    struct worker_helper *h = arg;

    if (h->state != HELPER_DOWN || h->pool->freeing)
        return;
    if (helper_start(h) < 0) {
        helper_restart_later(h);
        if (!pool_any_alive(h->pool))
            pool_fail_queue(h->pool, h->start_error);
    }
}

/* Kill and reap h's process, close its socket. Returns the wait status, or
 * -1 when there was no process to reap. */
static int helper_reap(struct worker_helper *h)
{
    int status = -1;

    if (h->ev_read)
        event_free(h->ev_read);
    if (h->ev_write)
        event_free(h->ev_write);
    h->ev_read = h->ev_write = NULL;
    evtimer_del(h->ev_deadline);
    if (h->fd >= 0)
        close(h->fd);
    h->fd = -1;
    if (h->pid > 0) {
        /* after EOF the helper is exiting or has closed its end on
         * purpose; SIGKILL settles both and cannot change the status of a
         * process that is already exiting */
        kill(h->pid, SIGKILL);
        while (waitpid(h->pid, &status, 0) < 0 && errno == EINTR)
            ;
    }
    h->pid = -1;
    h->state = HELPER_DOWN;
    h->in_len = 0;
    h->out_off = 0;
    if (h->in_cap > 1 << 20) {
        free(h->in);
        h->in = NULL;
        h->in_cap = 0;
    }
    return status;
}

/* Describe how the helper that had a page in hand ended. */
static int helper_verdict(const struct worker_helper *h, enum helper_cause cause, int status,
                          const char *detail, struct extract_result *res)
{
    const struct worker_options *o = &h->pool->opts;
    char *reason = res->reason;
    size_t size = sizeof(res->reason);

    switch (cause) {
    case CAUSE_DEADLINE:
        res->category = PROV_PARSE_TIMEOUT;
        snprintf(reason, size, "extraction exceeded its deadline of %u ms; helper killed",
                 o->wall_ms);
        return -ETIMEDOUT;
    case CAUSE_PROTOCOL:
        res->category = PROV_INTERNAL;
        snprintf(reason, size, "extraction helper sent a malformed frame (%s); helper killed",
                 detail);
        return -EIO;
    case CAUSE_EOF:
    case CAUSE_RETIRE:
        break;
    }
    res->category = PROV_INTERNAL;
    if (status != -1 && WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);
        const char *name = sigabbrev_np(sig);

        if (sig == SIGPROF || sig == SIGXCPU) {
            res->category = PROV_PARSE_TIMEOUT;
            snprintf(reason, size, "extraction exceeded its CPU budget of %u ms", o->cpu_ms);
            return -ETIMEDOUT;
        }
        if (name)
            snprintf(reason, size, "extraction helper killed by SIG%s", name);
        else
            snprintf(reason, size, "extraction helper killed by signal %d", sig);
    } else if (status != -1 && WIFEXITED(status)) {
        snprintf(reason, size, "extraction helper exited with status %d", WEXITSTATUS(status));
    } else {
        snprintf(reason, size, "extraction helper vanished");
    }
    return -EIO;
}

/* Take h down: reap it, report its page (if any) as cause says, restart
 * it (at once if it died on a page, later otherwise). */
static void helper_down(struct worker_helper *h, enum helper_cause cause, const char *detail)
{
    struct worker_pool *pool = h->pool;
    enum helper_state was = h->state;
    struct worker_job *job = h->job;
    struct extract_result res = {0};
    int status, rc = 0;

    h->job = NULL;
    status = helper_reap(h);
    if (job)
        rc = helper_verdict(h, cause, status, detail, &res);
    if (was == HELPER_STARTING && h->start_error == 0)
        h->start_error = -ECHILD;
    if (was == HELPER_BUSY || cause == CAUSE_RETIRE) {
        if (helper_start(h) < 0)
            helper_restart_later(h);
    } else {
        helper_restart_later(h);
    }
    if (!pool_any_alive(pool))
        pool_fail_queue(pool, h->start_error ? h->start_error : -ECHILD);
    if (job)
        job_finish(job, rc, &res);
    pool_dispatch(pool);
}

static void helper_flush(struct worker_helper *h)
{
    struct worker_job *job = h->job;

    while (job && job->frame && h->out_off < job->frame_len) {
        ssize_t n = send(h->fd, job->frame + h->out_off, job->frame_len - h->out_off,
                         MSG_NOSIGNAL | MSG_DONTWAIT);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            event_add(h->ev_write, NULL);
            return;
        }
        if (n < 0) {
            /* the helper is gone: its EOF or our deadline reports it */
            break;
        }
        h->out_off += (size_t)n;
    }
    event_del(h->ev_write);
    if (job) {
        free(job->frame);
        job->frame = NULL;
    }
}

static void helper_write_cb(evutil_socket_t fd, short what, void *arg)
{
    helper_flush(arg);
}

static void helper_send(struct worker_helper *h, struct worker_job *job)
{
    h->job = job;
    h->out_off = 0;
    h->state = HELPER_BUSY;
    helper_arm_deadline(h, h->pool->opts.wall_ms);
    helper_flush(h);
}

static void pool_dispatch(struct worker_pool *pool)
{
    for (unsigned i = 0; i < pool->opts.helpers && pool->queue_head; i++) {
        struct worker_helper *h = &pool->helpers[i];
        struct worker_job *job;

        if (h->state != HELPER_IDLE)
            continue;
        job = pool->queue_head;
        pool->queue_head = job->next;
        if (pool->queue_head == NULL)
            pool->queue_tail = NULL;
        pool->n_queued--;
        job->next = NULL;
        helper_send(h, job);
    }
}

/* Decode a REPLY payload into rc and res; NULL on success, else what is
 * wrong with it. */
static const char *reply_decode(const char *payload, size_t len, int *rc,
                                struct extract_result *res)
{
    struct worker_frame_reader rd = {payload, payload + len};
    uint32_t urc, category, flags;
    const char *reason, *json, *err = NULL;
    size_t reason_len, json_len;
    json_t *o;

    if (worker_frame_get_u32(&rd, &urc) < 0 || worker_frame_get_u32(&rd, &category) < 0 ||
        worker_frame_get_u32(&rd, &flags) < 0 ||
        worker_frame_get_str(&rd, &reason, &reason_len) < 0 ||
        worker_frame_get_str(&rd, &json, &json_len) < 0 || rd.p != rd.end)
        return "truncated reply";
    *rc = (int)urc;
    if (*rc > 0 || *rc < -4095 || category >= PROV_CATEGORY_MAX)
        return "bad return code or category";
    if (reason_len >= sizeof(res->reason) || !text_utf8_valid(reason, reason_len))
        return "bad reason";
    res->category = (enum prov_category)category;
    memcpy(res->reason, reason, reason_len);
    res->reason[reason_len] = '\0';
    if (*rc < 0)
        return (json_len == 0 && category != PROV_OK) ? NULL : "failure with a record";
    if (json_len == 0 || (category != PROV_OK && category != PROV_PARSE_PARTIAL))
        return "success without a record";
    o = json_loadb(json, json_len, 0, NULL);
    if (o == NULL)
        return "record is not JSON";
    res->record = record_from_json(o, &err);
    json_decref(o);
    if (res->record == NULL)
        return "record has a wrong type";
    res->record->partial = (flags & WORKER_REPLY_PARTIAL) != 0;
    res->category = res->record->partial ? PROV_PARSE_PARTIAL : PROV_OK;
    return NULL;
}

static void helper_on_hello(struct worker_helper *h, const char *payload, size_t len)
{
    struct worker_frame_reader rd = {payload, payload + len};
    uint32_t bits, err;

    if (worker_frame_get_u32(&rd, &bits) < 0 || worker_frame_get_u32(&rd, &err) < 0 ||
        rd.p != rd.end) {
        helper_down(h, CAUSE_PROTOCOL, "bad hello");
        return;
    }
    if ((int)err < 0) {
        /* it exits by itself; its EOF takes it down */
        h->start_error = (int)err;
        return;
    }
    h->start_error = 0;
    h->pool->sandbox &= bits;
    h->state = HELPER_IDLE;
    evtimer_del(h->ev_deadline);
    pool_dispatch(h->pool);
}

static void helper_on_reply(struct worker_helper *h, const char *payload, size_t len)
{
    struct worker_job *job = h->job;
    struct extract_result res = {0};
    const char *bad;
    uint32_t flags = 0;
    int rc = 0;

    if (len >= 12)
        memcpy(&flags, payload + 8, sizeof(flags));
    bad = reply_decode(payload, len, &rc, &res);
    if (bad) {
        record_free(res.record);
        helper_down(h, CAUSE_PROTOCOL, bad);
        return;
    }
    h->job = NULL;
    h->state = HELPER_IDLE;
    evtimer_del(h->ev_deadline);
    if (flags & WORKER_REPLY_RETIRE)
        helper_down(h, CAUSE_RETIRE, NULL);
    job_finish(job, rc, &res);
    pool_dispatch(h->pool);
}

/* Consume whole frames from h->in. Stops after any frame that may change
 * h (a reply runs a callback). */
static void helper_input(struct worker_helper *h)
{
    while (h->in_len >= WORKER_FRAME_HEADER) {
        uint32_t hdr[3];
        size_t total;

        memcpy(hdr, h->in, sizeof(hdr));
        if (h->state == HELPER_STARTING && hdr[0] == WORKER_FRAME_HELLO && hdr[2] <= 64) {
            /* fine */
        } else if (h->state == HELPER_BUSY && hdr[0] == WORKER_FRAME_REPLY &&
                   hdr[1] == h->job->id && hdr[2] <= worker_reply_max(&h->pool->opts) &&
                   h->job->frame == NULL) {
            /* fine: a reply to the whole request (its frame is freed once
             * sent) */
        } else {
            helper_down(h, CAUSE_PROTOCOL, "unexpected frame");
            return;
        }
        total = WORKER_FRAME_HEADER + hdr[2];
        if (h->in_len < total)
            return;
        if (hdr[0] == WORKER_FRAME_HELLO) {
            helper_on_hello(h, h->in + WORKER_FRAME_HEADER, hdr[2]);
            if (h->state == HELPER_DOWN)
                return;
            memmove(h->in, h->in + total, h->in_len - total);
            h->in_len -= total;
            continue;
        }
        if (h->in_len != total) {
            helper_down(h, CAUSE_PROTOCOL, "bytes after the reply");
            return;
        }
        h->in_len = 0;
        helper_on_reply(h, h->in + WORKER_FRAME_HEADER, hdr[2]);
        return;
    }
}

/* Read what the socket has. Returns >0, 0 on EOF, -EAGAIN, or -errno. */
static ssize_t helper_fill(struct worker_helper *h)
{
    ssize_t n;

    if (h->in_cap - h->in_len < 65536) {
        h->in_cap = h->in_cap ? h->in_cap * 2 : 65536;
        h->in = xreallocarray(h->in, 1, h->in_cap);
    }
    do
        n = recv(h->fd, h->in + h->in_len, h->in_cap - h->in_len, MSG_DONTWAIT);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return (errno == EAGAIN || errno == EWOULDBLOCK) ? -EAGAIN : -errno;
    h->in_len += (size_t)n;
    return n;
}

static void helper_read_cb(evutil_socket_t fd, short what, void *arg)
{
    struct worker_helper *h = arg;
    ssize_t n = helper_fill(h);

    if (n == -EAGAIN)
        return;
    if (n <= 0) {
        helper_down(h, CAUSE_EOF, NULL);
        return;
    }
    helper_input(h);
}

static void helper_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
    struct worker_helper *h = arg;

    if (h->state == HELPER_STARTING || h->state == HELPER_BUSY)
        helper_down(h, CAUSE_DEADLINE, NULL);
}

/* Wait (blocking, bounded) until h has said hello or died. Returns 0 when
 * it is IDLE, else a negative errno. */
static int helper_wait_hello(struct worker_helper *h)
{
    struct timespec start, now;

    clock_gettime(CLOCK_MONOTONIC, &start);
    while (h->state == HELPER_STARTING) {
        struct pollfd pfd = {h->fd, POLLIN, 0};
        long left;
        ssize_t n;

        clock_gettime(CLOCK_MONOTONIC, &now);
        left = START_TIMEOUT_MS -
               ((now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000);
        if (left <= 0) {
            helper_down(h, CAUSE_DEADLINE, NULL);
            return -ETIMEDOUT;
        }
        if (poll(&pfd, 1, (int)left) < 0 && errno != EINTR)
            return -errno;
        n = helper_fill(h);
        if (n == -EAGAIN)
            continue;
        if (n <= 0) {
            int err = h->start_error;

            helper_down(h, CAUSE_EOF, NULL);
            return err ? err : -ECHILD;
        }
        helper_input(h);
    }
    return h->state == HELPER_IDLE ? 0 : (h->start_error ? h->start_error : -ECHILD);
}

int worker_pool_new(struct event_base *base, const struct worker_options *opts,
                    struct worker_pool **out)
{
    struct worker_options o = opts ? *opts : (struct worker_options){0};
    struct worker_pool *pool = xcalloc(1, sizeof(*pool));
    int rc = 0;

    if (o.helpers == 0)
        o.helpers = 1;
    if (o.cpu_ms == 0)
        o.cpu_ms = 2000;
    if (o.wall_ms == 0)
        o.wall_ms = o.cpu_ms > 10000 / 3 ? 3 * o.cpu_ms : 10000;
    if (o.memory_bytes == 0)
        o.memory_bytes = (size_t)256 << 20;
    if (o.max_page == 0)
        o.max_page = (size_t)8 << 20;
    if (o.queue_max == 0)
        o.queue_max = 256;
    if (o.extract == NULL)
        o.extract = extract_page;
    if (o.max_page > (UINT32_MAX - 2 * WORKER_FRAME_SLACK) / 2 || o.helpers > 64) {
        free(pool);
        return -EINVAL;
    }
    if (o.n_profiles) {
        pool->profiles = xcalloc(o.n_profiles, sizeof(*pool->profiles));
        memcpy(pool->profiles, o.profiles, o.n_profiles * sizeof(*pool->profiles));
    }
    o.profiles = pool->profiles;
    pool->opts = o;
    pool->sandbox = ~0u;
    pool->next_id = 1;
    pool->base = base;
    if (base == NULL) {
        pool->base = event_base_new();
        pool->own_base = true;
        if (pool->base == NULL) {
            free(pool->profiles);
            free(pool);
            return -EIO;
        }
    }
    pool->helpers = xcalloc(o.helpers, sizeof(*pool->helpers));
    for (unsigned i = 0; i < o.helpers; i++) {
        struct worker_helper *h = &pool->helpers[i];

        h->pool = pool;
        h->pid = -1;
        h->fd = -1;
        h->ev_deadline = evtimer_new(pool->base, helper_deadline_cb, h);
        h->ev_restart = evtimer_new(pool->base, helper_restart_cb, h);
        if (h->ev_deadline == NULL || h->ev_restart == NULL) {
            fprintf(stderr, "<2>provd: cannot create libevent timers\n");
            abort();
        }
    }
    for (unsigned i = 0; i < o.helpers && rc == 0; i++) {
        rc = helper_start(&pool->helpers[i]);
        if (rc == 0)
            rc = helper_wait_hello(&pool->helpers[i]);
    }
    if (rc < 0) {
        pool->freeing = true;
        worker_pool_free(pool);
        return rc;
    }
    *out = pool;
    return 0;
}

void worker_pool_free(struct worker_pool *pool)
{
    struct worker_job *cancel = NULL, **tail = &cancel;

    if (pool == NULL)
        return;
    pool->freeing = true;
    for (unsigned i = 0; i < pool->opts.helpers; i++) {
        struct worker_helper *h = &pool->helpers[i];

        if (h->job) {
            *tail = h->job;
            tail = &h->job->next;
            h->job->next = NULL;
            h->job = NULL;
        }
        helper_reap(h);
        event_free(h->ev_deadline);
        event_free(h->ev_restart);
        free(h->in);
    }
    *tail = pool->queue_head;
    pool->queue_head = pool->queue_tail = NULL;
    pool->n_queued = 0;
    while (cancel) {
        struct worker_job *job = cancel;

        cancel = job->next;
        job_fail(job, -ECANCELED, PROV_INTERNAL,
                 "extraction helper pool shut down before the page was extracted");
    }
    free(pool->helpers);
    if (pool->own_base)
        event_base_free(pool->base);
    free(pool->profiles);
    free(pool);
}

int worker_pool_submit(struct worker_pool *pool, const struct worker_request *req,
                       worker_done_fn cb, void *data)
{
    struct worker_job *job;
    char *w;
    size_t plen, ulen, clen;

    if (pool->freeing)
        return -ECANCELED;
    if (req->profile == NULL || req->url == NULL || cb == NULL ||
        (req->body == NULL && req->len > 0))
        return -EINVAL;
    plen = strlen(req->profile);
    ulen = strlen(req->url);
    clen = req->charset ? strlen(req->charset) : 0;
    if (plen == 0 || ulen == 0 || plen > FIELD_MAX || ulen > FIELD_MAX || clen > FIELD_MAX)
        return -EINVAL;
    if (req->len > pool->opts.max_page)
        return -EMSGSIZE;
    if (worker_find_profile(&pool->opts, req->profile) == NULL)
        return -ENOENT;
    if (pool->n_queued >= pool->opts.queue_max)
        return -EAGAIN;

    job = xcalloc(1, sizeof(*job));
    job->id = pool->next_id++;
    if (pool->next_id == 0)
        pool->next_id = 1;
    job->cb = cb;
    job->data = data;
    job->frame_len = WORKER_FRAME_HEADER + 16 + plen + ulen + clen + req->len;
    job->frame =
        worker_frame_new(WORKER_FRAME_REQUEST, job->id, job->frame_len - WORKER_FRAME_HEADER, &w);
    worker_frame_put_str(&w, req->profile, plen);
    worker_frame_put_str(&w, req->url, ulen);
    worker_frame_put_str(&w, req->charset, clen);
    worker_frame_put_str(&w, req->body, req->len);

    if (pool->queue_tail)
        pool->queue_tail->next = job;
    else
        pool->queue_head = job;
    pool->queue_tail = job;
    pool->n_queued++;
    pool_dispatch(pool);
    return 0;
}

struct sync_wait {
    bool done;
    int rc;
    struct extract_result *res;
};

static void sync_done(int rc, struct extract_result *res, void *data)
{
    struct sync_wait *w = data;

    w->rc = rc;
    *w->res = *res;
    res->record = NULL;
    w->done = true;
}

int worker_pool_extract_sync(struct worker_pool *pool, const struct worker_request *req,
                             struct extract_result *res)
{
    struct sync_wait w = {false, 0, res};
    int rc;

    if (!pool->own_base)
        return -EINVAL;
    rc = worker_pool_submit(pool, req, sync_done, &w);
    if (rc < 0)
        return rc;
    /* the job always has a pending event behind it (its helper's socket
     * and deadline, or a restart timer), so the loop cannot run dry */
    while (!w.done)
        event_base_loop(pool->base, EVLOOP_ONCE);
    return w.rc;
}

pid_t worker_pool_helper_pid(const struct worker_pool *pool, unsigned i)
{
    if (i >= pool->opts.helpers || pool->helpers[i].state == HELPER_DOWN)
        return -1;
    return pool->helpers[i].pid;
}

unsigned worker_pool_pending(const struct worker_pool *pool)
{
    unsigned n = pool->n_queued;

    for (unsigned i = 0; i < pool->opts.helpers; i++)
        if (pool->helpers[i].job)
            n++;
    return n;
}

unsigned worker_pool_sandbox(const struct worker_pool *pool)
{
    return pool->sandbox;
}
