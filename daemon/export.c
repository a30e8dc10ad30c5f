/*
 * export: GET /v1/export. The catalog streams a consistent snapshot through
 * a callback (catalog_export), which would hold the event loop for as long
 * as the export lasts; so each export runs in a thread of its own, on a
 * reader handle of its own, writing into a pipe that the control socket
 * drains as fast as the client reads. The pipe is the back-pressure: a slow
 * client blocks the thread, never the loop, and memory stays bounded by the
 * pipe. A client that goes away closes the read end; the thread's next
 * write fails with EPIPE and it ends.
 */
#include "provd.h"

#include "xmalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct export_job {
    atomic_int refs; /* the thread and the stream each hold one */
    atomic_bool ok;  /* the export reached its end */
    int wfd;
    char *database;
    enum catalog_format fmt;
    struct catalog_filter f;
    char *strings[13]; /* owned copies of the filter's strings */
};

static void export_job_unref(void *arg)
{
    struct export_job *job = arg;

    if (atomic_fetch_sub(&job->refs, 1) != 1)
        return;
    for (size_t i = 0; i < sizeof(job->strings) / sizeof(job->strings[0]); i++)
        free(job->strings[i]);
    free(job->database);
    free(job);
}

static bool export_eof_ok(void *arg)
{
    struct export_job *job = arg;

    return atomic_load(&job->ok);
}

static int export_write(void *data, const char *buf, size_t len)
{
    struct export_job *job = data;

    while (len > 0) {
        ssize_t n = write(job->wfd, buf, len);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

static void *export_thread(void *arg)
{
    struct export_job *job = arg;
    /* No budget: an export may read the whole catalog, and it runs off the
     * loop. */
    struct catalog_options o = {.readonly = true, .busy_timeout_ms = 5000, .budget = 0};
    struct catalog *c = NULL;

    if (catalog_open(job->database, &o, &c) == 0 &&
        catalog_export(c, &job->f, job->fmt, export_write, job) == 0)
        atomic_store(&job->ok, true);
    catalog_close(c);
    close(job->wfd);
    export_job_unref(job);
    return NULL;
}

/* Copy s into the job, so the filter outlives the request. */
static const char *export_keep(struct export_job *job, size_t *i, const char *s)
{
    if (s == NULL)
        return NULL;
    job->strings[*i] = xstrdup(s);
    return job->strings[(*i)++];
}

void api_export(struct control_req *req, void *data)
{
    static const char *const allowed[] = {"archive", "fund",        "inventory",  "folder", "file",
                                          "sheet",   "contributor", "translator", "since",  "until",
                                          "status",  "source",      "q",          "format", NULL};
    struct provd *p = data;
    const char *format = control_req_param(req, "format");
    struct export_job *job;
    const char *sheet = control_req_param(req, "sheet");
    const char *status = control_req_param(req, "status");
    pthread_attr_t attr;
    pthread_t tid;
    size_t k = 0;
    int pfd[2];

    if (control_req_check_params(req, allowed) < 0)
        return;
    if (format && strcmp(format, "jsonl") != 0 && strcmp(format, "csv") != 0) {
        control_reply_error(req, 400, "bad_parameter", "format is jsonl or csv");
        return;
    }
    if (sheet && (strspn(sheet, "0123456789") != strlen(sheet) || !*sheet || strlen(sheet) > 9)) {
        control_reply_error(req, 400, "bad_parameter", "sheet must be a whole number below 10^9");
        return;
    }
    if (status && strcmp(status, "active") != 0 && strcmp(status, "gone") != 0) {
        control_reply_error(req, 400, "bad_parameter", "status is active or gone");
        return;
    }
    if (pipe2(pfd, O_CLOEXEC) < 0) {
        control_reply_error(req, 503, "busy", "cannot start an export: %s", strerror(errno));
        return;
    }
    job = xcalloc(1, sizeof(*job));
    atomic_init(&job->refs, 2);
    atomic_init(&job->ok, false);
    job->wfd = pfd[1];
    job->database = xstrdup(p->conf->database);
    job->fmt = format && strcmp(format, "csv") == 0 ? CATALOG_FORMAT_CSV : CATALOG_FORMAT_JSONL;
    job->f.source = export_keep(job, &k, control_req_param(req, "source"));
    job->f.archive = export_keep(job, &k, control_req_param(req, "archive"));
    job->f.fund = export_keep(job, &k, control_req_param(req, "fund"));
    job->f.inventory = export_keep(job, &k, control_req_param(req, "inventory"));
    job->f.folder = export_keep(job, &k, control_req_param(req, "folder"));
    job->f.file = export_keep(job, &k, control_req_param(req, "file"));
    job->f.sheet = export_keep(job, &k, sheet);
    job->f.contributor = export_keep(job, &k, control_req_param(req, "contributor"));
    job->f.translator = export_keep(job, &k, control_req_param(req, "translator"));
    job->f.since = export_keep(job, &k, control_req_param(req, "since"));
    job->f.until = export_keep(job, &k, control_req_param(req, "until"));
    job->f.status = export_keep(job, &k, status);
    job->f.text = export_keep(job, &k, control_req_param(req, "q"));
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&tid, &attr, export_thread, job) != 0) {
        pthread_attr_destroy(&attr);
        close(pfd[0]);
        close(pfd[1]);
        atomic_store(&job->refs, 1);
        export_job_unref(job);
        control_reply_error(req, 503, "busy", "cannot start an export thread");
        return;
    }
    pthread_attr_destroy(&attr);
    control_reply_fd(
        req, job->fmt == CATALOG_FORMAT_CSV ? "text/csv; charset=utf-8" : "application/x-ndjson",
        pfd[0], export_eof_ok, export_job_unref, job);
}
