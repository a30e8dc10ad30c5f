/*
 * provctl_wait: follows harvest runs to their end for `provctl harvest
 * --wait`. It owns the last answer seen for each run and a short window
 * of progress samples (for the rate and the time left); it asks the
 * daemon through provctl_http and writes only progress (to err) and the
 * final result (to out). Polling is paced by the monotonic clock, so a
 * slow answer delays the next look instead of piling requests up.
 */
#include "provctl_wait.h"

#include "provctl_show.h"
#include "provctl_table.h"
#include "strbuf.h"
#include "xmalloc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Columns kept for the counts after the bar ("120/400 30%  4.2/s  ETA
 * 1m07s"). */
#define PROVCTL_WAIT_TAIL_W 36

/* Progress samples kept for the rate: about the last ten seconds. */
#define PROVCTL_WAIT_SAMPLES 20

struct provctl_sample {
    uint64_t t_ms;
    long long done;
};

struct provctl_waiter {
    struct provctl_sample s[PROVCTL_WAIT_SAMPLES];
    size_t n_s, next_s;
    bool tty;
    bool drawn;          /* a bar is on the terminal's current line */
    uint64_t last_line;  /* when the last plain line was written */
    char last_text[256]; /* the runs and states it named */
    char last_counts[64];
};

static uint64_t provctl_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void provctl_sleep_ms(uint64_t ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000};

    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* A run has ended once it is neither queued nor running: done, failed,
 * or "interrupted" (a run the daemon found unfinished after a crash). */
static bool provctl_run_ended(const json_t *run)
{
    const char *st = json_string_value(json_object_get(run, "state"));

    return st && strcmp(st, "queued") != 0 && strcmp(st, "running") != 0;
}

/* "1h02m", "3m07s", "42s". */
static void provctl_fmt_eta(char *buf, size_t len, double s)
{
    long long t = (long long)(s + 0.5);

    if (t >= 3600)
        snprintf(buf, len, "%lldh%02lldm", t / 3600, t / 60 % 60);
    else if (t >= 60)
        snprintf(buf, len, "%lldm%02llds", t / 60, t % 60);
    else
        snprintf(buf, len, "%llds", t);
}

/* Pages per second over the sample window; negative when unknown. */
static double provctl_rate(struct provctl_waiter *w, uint64_t now, long long done)
{
    const struct provctl_sample *old;

    w->s[w->next_s] = (struct provctl_sample){now, done};
    w->next_s = (w->next_s + 1) % PROVCTL_WAIT_SAMPLES;
    if (w->n_s < PROVCTL_WAIT_SAMPLES)
        w->n_s++;
    old = &w->s[w->n_s < PROVCTL_WAIT_SAMPLES ? 0 : w->next_s];
    if (now - old->t_ms < 1000)
        return -1;
    return (double)(done - old->done) * 1000.0 / (double)(now - old->t_ms);
}

/* Draw the state of every run: one bar or line. */
static void provctl_draw(struct provctl_waiter *w, json_t *const *runs, size_t n, FILE *err,
                         uint64_t now)
{
    long long done = 0, total = 0;
    size_t running = 0, queued = 0, ended = 0;
    struct strbuf head = STRBUF_INIT, tail = STRBUF_INIT;
    double rate;

    for (size_t i = 0; i < n; i++) {
        const json_t *p = json_object_get(runs[i], "progress");
        const char *st = json_string_value(json_object_get(runs[i], "state"));

        done += json_integer_value(json_object_get(p, "done"));
        total += json_integer_value(json_object_get(p, "total"));
        if (provctl_run_ended(runs[i]))
            ended++;
        else if (st && strcmp(st, "queued") == 0)
            queued++;
        else
            running++;
    }
    rate = provctl_rate(w, now, done);
    /* head: who and in which state; tail: the counts, once work began */
    if (n == 1) {
        const char *src = json_string_value(json_object_get(runs[0], "source"));
        const char *st = json_string_value(json_object_get(runs[0], "state"));

        strbuf_addf(&head, "run %lld (%s): %s",
                    (long long)json_integer_value(json_object_get(runs[0], "run_id")),
                    src ? src : "-", st ? st : "-");
    } else {
        strbuf_addf(&head, "%zu runs: %zu running, %zu queued, %zu ended", n, running, queued,
                    ended);
    }
    if (running + ended > 0) {
        strbuf_addf(&tail, " %lld/%lld", done, total);
        if (total > 0)
            strbuf_addf(&tail, " %lld%%", done * 100 / total);
        if (rate >= 0) {
            strbuf_addf(&tail, "  %.1f/s", rate);
            if (rate > 0 && total > done) {
                char eta[32];

                provctl_fmt_eta(eta, sizeof(eta), (double)(total - done) / rate);
                strbuf_addf(&tail, "  ETA %s", eta);
            }
        }
    }

    if (w->tty) {
        unsigned width = provctl_term_width(err);
        char *h = provctl_text_fit(strbuf_str(&head), width / 2);
        /* the bar keeps its length while the counts after it change */
        size_t used = provctl_text_width(h) + 3 + PROVCTL_WAIT_TAIL_W;

        fprintf(err, "\r\033[K%s", h);
        if (total > 0 && used + 10 <= width) {
            size_t barw = width - used > 40 ? 40 : width - used;
            size_t fill = (size_t)((double)barw * (double)done / (double)total);

            if (fill > barw)
                fill = barw;
            fputs(" [", err);
            for (size_t i = 0; i < barw; i++)
                fputc(i < fill ? '#' : '.', err);
            fputc(']', err);
        }
        fputs(strbuf_str(&tail), err);
        fflush(err);
        w->drawn = true;
        free(h);
    } else {
        /* A line at once when a state changed; when only the counts
         * moved, at most one every PROVCTL_WAIT_LINE_MS. */
        char counts[64];
        bool state_changed = strcmp(strbuf_str(&head), w->last_text) != 0;

        snprintf(counts, sizeof(counts), "%lld/%lld", done, total);
        if (state_changed ||
            (strcmp(counts, w->last_counts) != 0 && now - w->last_line >= PROVCTL_WAIT_LINE_MS)) {
            char *clean = provctl_text_fit(strbuf_str(&head), 0);

            fprintf(err, "%s%s\n", clean, strbuf_str(&tail));
            fflush(err);
            free(clean);
            snprintf(w->last_text, sizeof(w->last_text), "%s", strbuf_str(&head));
            snprintf(w->last_counts, sizeof(w->last_counts), "%s", counts);
            w->last_line = now;
        }
    }
    strbuf_release(&head);
    strbuf_release(&tail);
}

static void provctl_undraw(struct provctl_waiter *w, FILE *err)
{
    if (w->drawn) {
        fputs("\r\033[K", err);
        fflush(err);
        w->drawn = false;
    }
}

int provctl_wait_runs(struct provctl_http *h, const long long *ids, size_t n, uint64_t timeout_ms,
                      bool json, FILE *out, FILE *err)
{
    struct provctl_waiter w = {.tty = isatty(fileno(err))};
    json_t **runs = xcalloc(n, sizeof(*runs));
    uint64_t start = provctl_now_ms();
    int status = PROVCTL_EXIT_OK;

    for (;;) {
        uint64_t t0 = provctl_now_ms(), spent;
        bool all_ended = true;

        for (size_t i = 0; i < n; i++) {
            struct provctl_reply r;
            char target[64];
            int rc;

            if (runs[i] && provctl_run_ended(runs[i]))
                continue;
            snprintf(target, sizeof(target), "/v1/runs/%lld", ids[i]);
            rc = provctl_http_request(h, "GET", target, NULL, &r);
            if (rc < 0) {
                provctl_undraw(&w, err);
                status = provctl_http_fail(h, rc);
                goto out;
            }
            if (r.status != 200 || !json_is_object(r.json)) {
                provctl_undraw(&w, err);
                status = provctl_reply_fail(&r);
                provctl_reply_clear(&r);
                goto out;
            }
            if (runs[i])
                json_decref(runs[i]);
            runs[i] = json_incref(r.json);
            provctl_reply_clear(&r);
            if (!provctl_run_ended(runs[i]))
                all_ended = false;
        }
        provctl_draw(&w, runs, n, err, provctl_now_ms());
        if (all_ended)
            break;
        spent = provctl_now_ms() - start;
        if (timeout_ms && spent >= timeout_ms) {
            provctl_undraw(&w, err);
            for (size_t i = 0; i < n; i++)
                if (!provctl_run_ended(runs[i]))
                    fprintf(err, "provctl: run %lld is still %s after %.1f s; not waiting longer\n",
                            ids[i],
                            json_string_value(json_object_get(runs[i], "state"))
                                ? json_string_value(json_object_get(runs[i], "state"))
                                : "going",
                            (double)spent / 1000.0);
            status = PROVCTL_EXIT_TEMPFAIL;
            goto out;
        }
        {
            uint64_t since = provctl_now_ms() - t0;
            uint64_t pause = since < PROVCTL_WAIT_POLL_MS ? PROVCTL_WAIT_POLL_MS - since : 0;

            if (timeout_ms && spent + pause > timeout_ms)
                pause = timeout_ms - spent;
            provctl_sleep_ms(pause);
        }
    }
    provctl_undraw(&w, err);
    for (size_t i = 0; i < n; i++) {
        const char *st = json_string_value(json_object_get(runs[i], "state"));

        if (st == NULL || strcmp(st, "done") != 0)
            status = PROVCTL_EXIT_FAILED;
    }
    if (json) {
        json_t *doc = n == 1 ? json_incref(runs[0]) : json_pack("{s:[]}", "runs");

        for (size_t i = 0; n > 1 && i < n; i++)
            json_array_append(json_object_get(doc, "runs"), runs[i]);
        json_dumpf(doc, out, JSON_COMPACT);
        fputc('\n', out);
        json_decref(doc);
    } else {
        for (size_t i = 0; i < n; i++)
            provctl_show_run_line(out, runs[i]);
    }
out:
    for (size_t i = 0; i < n; i++)
        if (runs[i])
            json_decref(runs[i]);
    free(runs);
    return status;
}
