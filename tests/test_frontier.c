/*
 * Tests of harvest/frontier.c, driven by a simulated engine: a fake clock,
 * transfers that end after a chosen latency with a chosen outcome, and a
 * loop that does what the real engine does (call frontier_next(), start
 * jobs, sleep until the one wake-up time or the next transfer end). The
 * simulation checks politeness on every start: no two starts on one host
 * closer than delay (jitter only lengthens gaps), concurrency never
 * exceeded, and never a wake-up without something to do. test_shared_hosts
 * drives two frontiers on one host table, as two runs of an engine.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "frontier.h"
#include "xmalloc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SIM_HOSTS  64
#define SIM_FLIGHT 64

struct sim;

/* Fill the outcome of the attempt-th fetch of url; *body is for robots.txt. */
typedef void (*outcome_fn)(struct sim *s, const char *url, unsigned attempt,
                           struct frontier_outcome *o, const char **body);

struct flight {
    char *url;
    bool robots;
    unsigned attempt;
    int64_t end;
};

struct host_log {
    int64_t last_start; /* INT64_MIN: none yet */
    int64_t min_gap;
    unsigned in_flight, max_in_flight;
    size_t starts, fetches;
    int64_t first_fetch;
    int64_t starts_at[8]; /* the first starts, robots.txt included */
};

struct sim {
    struct frontier *f;
    struct frontier_options o;
    int64_t now;
    struct flight fl[SIM_FLIGHT];
    size_t nfl;
    unsigned max_global;
    int64_t lat_min, lat_max;
    outcome_fn outcome;
    uint64_t rng;
    struct host_log hosts[SIM_HOSTS];
    size_t fetches, robots_fetches, disallowed, given_up, finished, retries, wakeups;
    int last_host; /* host of the previous start */
    size_t same_host_twice;
    /* for the caller's behaviour functions */
    const char *robots_body;
    int robots_status;
    int64_t start_log[256];
    size_t nstart_log;
    int host_log_order[64];
    size_t norder;
};

static uint32_t test_random(void *data)
{
    uint64_t *x = data;

    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return (uint32_t)(*x >> 32);
}

static uint32_t random_low(void *data)
{
    (void)data;
    return 0;
}

static uint32_t random_high(void *data)
{
    (void)data;
    return UINT32_MAX;
}

/* URLs look like http://hN.test/...: N is the host's index. */
static int host_index(const char *url)
{
    const char *p = strstr(url, "://h");

    assert_non_null(p);
    return atoi(p + 4);
}

static void outcome_ok(struct sim *s, const char *url, unsigned attempt, struct frontier_outcome *o,
                       const char **body)
{
    (void)url;
    (void)attempt;
    o->category = PROV_OK;
    o->http_status = 200;
    o->retry_after_ms = -1;
    *body = s->robots_body;
    if (strstr(url, "/robots.txt") != NULL && s->robots_status != 0) {
        o->http_status = s->robots_status;
        o->category = s->robots_status >= 500 ? PROV_HTTP_5XX : PROV_OK;
    }
}

static void sim_init(struct sim *s, const struct frontier_options *o)
{
    memset(s, 0, sizeof(*s));
    s->o = *o;
    s->rng = 0x9e3779b97f4a7c15ULL;
    if (s->o.random == NULL) {
        s->o.random = test_random;
        s->o.random_data = &s->rng;
    }
    s->f = frontier_new(&s->o);
    assert_non_null(s->f);
    s->outcome = outcome_ok;
    s->last_host = -1;
    for (int i = 0; i < SIM_HOSTS; i++) {
        s->hosts[i].last_start = INT64_MIN;
        s->hosts[i].min_gap = INT64_MAX;
        s->hosts[i].first_fetch = -1;
    }
}

static void sim_add(struct sim *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void sim_add(struct sim *s, const char *fmt, ...)
{
    char url[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(url, sizeof(url), fmt, ap);
    va_end(ap);
    assert_int_equal(frontier_add(s->f, url, NULL, s->now), 0);
}

static int64_t sim_latency(struct sim *s)
{
    if (s->lat_max <= s->lat_min)
        return s->lat_min;
    return s->lat_min + (int64_t)(test_random(&s->rng) % (uint32_t)(s->lat_max - s->lat_min + 1));
}

/* Record a start on the job's host and check politeness. */
static void sim_start(struct sim *s, const struct frontier_job *job)
{
    int h = host_index(job->url);
    struct host_log *hl = &s->hosts[h];
    int64_t floor = s->o.delay_ms;

    if (hl->last_start != INT64_MIN) {
        int64_t gap = s->now - hl->last_start;
        if (gap < hl->min_gap)
            hl->min_gap = gap;
        if (gap < floor)
            fail_msg("host %d: starts %lld ms apart, delay %lld", h, (long long)gap,
                     (long long)s->o.delay_ms);
    }
    hl->last_start = s->now;
    if (hl->starts < 8)
        hl->starts_at[hl->starts] = s->now;
    hl->starts++;
    if (++hl->in_flight > hl->max_in_flight)
        hl->max_in_flight = hl->in_flight;
    if (s->nfl + 1 > s->max_global)
        s->max_global = (unsigned)s->nfl + 1;
    if (h == s->last_host)
        s->same_host_twice++;
    s->last_host = h;
    if (s->norder < 64)
        s->host_log_order[s->norder++] = h;
    assert_true(s->nfl < SIM_FLIGHT);
    s->fl[s->nfl++] = (struct flight){xstrdup(job->url), job->kind == FRONTIER_JOB_ROBOTS,
                                      job->attempt, s->now + sim_latency(s)};
}

/* End every transfer due at s->now; returns how many ended. */
static size_t sim_finish_due(struct sim *s)
{
    size_t ended = 0;

    for (size_t i = 0; i < s->nfl;) {
        struct flight fl = s->fl[i];
        struct frontier_outcome o = {PROV_OK, 200, -1};
        const char *body = NULL;
        int64_t retry_at;
        int rc;

        if (fl.end > s->now) {
            i++;
            continue;
        }
        s->fl[i] = s->fl[--s->nfl];
        s->hosts[host_index(fl.url)].in_flight--;
        s->outcome(s, fl.url, fl.attempt, &o, &body);
        if (fl.robots) {
            rc = frontier_robots_done(s->f, fl.url, &o, body, body ? strlen(body) : 0, s->now);
            assert_int_equal(rc, 0);
        } else {
            rc = frontier_done(s->f, fl.url, &o, s->now, &retry_at);
            assert_true(rc >= 0);
            if (rc == FRONTIER_RETRY) {
                s->retries++;
                assert_true(retry_at >= s->now);
            } else if (rc == FRONTIER_GIVEN_UP) {
                s->given_up++;
            } else {
                s->finished++;
            }
        }
        free(fl.url);
        ended++;
    }
    return ended;
}

/* Run until the frontier drains (or until the clock passes until). */
static void sim_run(struct sim *s, int64_t until)
{
    struct frontier_job job;
    int64_t wake;
    bool woke_by_timer = false;

    for (;;) {
        enum frontier_status st = frontier_next(s->f, s->now, &job, &wake);
        if (st == FRONTIER_DRAINED) {
            assert_int_equal(s->nfl, 0);
            return;
        }
        if (st == FRONTIER_READY) {
            woke_by_timer = false;
            switch (job.kind) {
            case FRONTIER_JOB_FETCH:
                s->fetches++;
                if (s->hosts[host_index(job.url)].first_fetch < 0)
                    s->hosts[host_index(job.url)].first_fetch = s->now;
                s->hosts[host_index(job.url)].fetches++;
                if (s->nstart_log < 256)
                    s->start_log[s->nstart_log++] = s->now;
                sim_start(s, &job);
                break;
            case FRONTIER_JOB_ROBOTS:
                s->robots_fetches++;
                assert_non_null(strstr(job.url, "/robots.txt"));
                sim_start(s, &job);
                break;
            case FRONTIER_JOB_DISALLOWED:
                s->disallowed++;
                break;
            case FRONTIER_JOB_GIVEN_UP:
                s->given_up++;
                break;
            }
            assert_true(frontier_in_flight(s->f) <= s->o.max_in_flight);
            continue;
        }
        /* A timer wake-up must always find something to start: the
         * frontier never asks to be woken early. */
        if (woke_by_timer)
            fail_msg("woke at %lld for nothing", (long long)s->now);
        int64_t next = wake;
        for (size_t i = 0; i < s->nfl; i++)
            if (s->fl[i].end < next)
                next = s->fl[i].end;
        if (next == FRONTIER_NEVER)
            fail_msg("stuck at %lld: nothing in flight and no wake-up", (long long)s->now);
        assert_true(next >= s->now);
        if (next > until)
            return;
        s->now = next;
        s->wakeups++;
        woke_by_timer = sim_finish_due(s) == 0;
    }
}

static void sim_free(struct sim *s)
{
    for (size_t i = 0; i < s->nfl; i++)
        free(s->fl[i].url);
    frontier_free(s->f);
}

static struct frontier_options base_options(void)
{
    struct frontier_options o;

    frontier_options_init(&o);
    o.robots = false;
    return o;
}

/* "http://hH.test/TAG/I" in a static buffer: frontier_add() copies it. */
static const char *tmp_url(int h, const char *tag, int i)
{
    static char buf[64];

    snprintf(buf, sizeof(buf), "http://h%d.test/%s/%d", h, tag, i);
    return buf;
}

/* ---- Tests --------------------------------------------------------------- */

static void test_politeness(void **state)
{
    struct frontier_options o = base_options();
    struct sim s;

    (void)state;
    o.delay_ms = 1000;
    o.jitter_pct = 20;
    o.concurrency = 2;
    o.max_in_flight = 4;
    sim_init(&s, &o);
    s.lat_min = 50;
    s.lat_max = 3000;
    for (int h = 0; h < 3; h++)
        for (int i = 0; i < 20; i++)
            sim_add(&s, "http://h%d.test/doc/%d", h, i);
    sim_run(&s, INT64_MAX);
    assert_int_equal(s.fetches, 60);
    assert_int_equal(s.finished, 60);
    for (int h = 0; h < 3; h++) {
        assert_true(s.hosts[h].min_gap >= 1000);
        assert_true(s.hosts[h].max_in_flight <= 2);
        assert_int_equal(s.hosts[h].fetches, 20);
    }
    assert_true(s.max_global <= 4);
    /* with latencies up to 3 s against a 1 s gap, two at once did happen */
    assert_int_equal(s.hosts[0].max_in_flight, 2);
    assert_int_equal(frontier_pending(s.f), 0);
    sim_free(&s);
}

/* Jitter stays within its bounds and reaches them; it lengthens gaps
 * only, so the delay is a floor. */
static void test_jitter_bounds(void **state)
{
    uint32_t (*fns[2])(void *) = {random_low, random_high};
    const int64_t want[2] = {1000, 1150};

    (void)state;
    for (int k = 0; k < 2; k++) {
        struct frontier_options o = base_options();
        struct sim s;
        o.delay_ms = 1000;
        o.jitter_pct = 15;
        o.random = fns[k];
        sim_init(&s, &o);
        for (int i = 0; i < 5; i++)
            sim_add(&s, "http://h0.test/%d", i);
        sim_run(&s, INT64_MAX);
        assert_int_equal(s.hosts[0].min_gap, want[k]);
        assert_int_equal(s.now, 4 * want[k]);
        sim_free(&s);
    }
}

/* delay 0: no waiting at all, for local mirrors and tests. */
static void test_zero_delay(void **state)
{
    struct frontier_options o = base_options();
    struct sim s;

    (void)state;
    o.delay_ms = 0;
    o.concurrency = 4;
    o.max_in_flight = 8;
    sim_init(&s, &o);
    for (int h = 0; h < 3; h++)
        for (int i = 0; i < 30; i++)
            sim_add(&s, "http://h%d.test/%d", h, i);
    sim_run(&s, INT64_MAX);
    assert_int_equal(s.fetches, 90);
    assert_int_equal(s.now, 0);
    assert_true(s.max_global <= 8);
    for (int h = 0; h < 3; h++)
        assert_true(s.hosts[h].max_in_flight <= 4);
    sim_free(&s);
}

/* The global cap: with it reached, frontier_next() asks for no timer. */
static void test_global_cap(void **state)
{
    struct frontier_options o = base_options();
    struct frontier *f;
    struct frontier_job job;
    int64_t wake;
    char url[64];

    (void)state;
    o.delay_ms = 0;
    o.concurrency = 5;
    o.max_in_flight = 2;
    f = frontier_new(&o);
    for (int i = 0; i < 4; i++) {
        snprintf(url, sizeof(url), "http://h%d.test/x", i);
        assert_int_equal(frontier_add(f, url, (void *)(uintptr_t)(i + 1), 0), 0);
    }
    assert_int_equal(frontier_next(f, 0, &job, &wake), FRONTIER_READY);
    assert_int_equal(job.kind, FRONTIER_JOB_FETCH);
    assert_int_equal(job.attempt, 1);
    assert_string_equal(job.url, "http://h0.test/x");
    assert_ptr_equal(job.data, (void *)(uintptr_t)1);
    assert_int_equal(frontier_next(f, 0, &job, &wake), FRONTIER_READY);
    assert_int_equal(frontier_next(f, 0, &job, &wake), FRONTIER_WAIT);
    assert_true(wake == FRONTIER_NEVER);
    assert_int_equal(frontier_in_flight(f), 2);
    assert_int_equal(frontier_pending(f), 2);
    struct frontier_outcome ok = {PROV_OK, 200, -1};
    assert_int_equal(frontier_done(f, "http://h0.test/x", &ok, 5, NULL), FRONTIER_FINISHED);
    assert_int_equal(frontier_next(f, 5, &job, &wake), FRONTIER_READY);
    frontier_free(f);
}

/* Hosts take turns: none is served twice in a row while others wait. */
static void test_fairness(void **state)
{
    struct frontier_options o = base_options();
    struct sim s;

    (void)state;
    o.delay_ms = 0;
    o.max_in_flight = 1;
    sim_init(&s, &o);
    s.lat_min = s.lat_max = 10;
    /* host 0 queues everything first; the others still get their turns */
    for (int i = 0; i < 10; i++)
        sim_add(&s, "http://h0.test/%d", i);
    for (int i = 0; i < 10; i++) {
        sim_add(&s, "http://h1.test/%d", i);
        sim_add(&s, "http://h2.test/%d", i);
    }
    sim_run(&s, INT64_MAX);
    assert_int_equal(s.fetches, 30);
    assert_int_equal(s.same_host_twice, 0);
    for (size_t i = 0; i < 30; i++)
        assert_int_equal(s.host_log_order[i], (int)(i % 3));
    sim_free(&s);

    /* with a gap per host, a slow host does not hold back fast ones */
    o.max_in_flight = 4;
    o.jitter_pct = 0;
    sim_init(&s, &o);
    s.lat_min = s.lat_max = 10;
    assert_int_equal(frontier_set_host(s.f, "http://h0.test/", 1000, 1), 0);
    for (int i = 0; i < 5; i++)
        sim_add(&s, "http://h0.test/%d", i);
    for (int i = 0; i < 50; i++)
        sim_add(&s, "http://h1.test/%d", i);
    sim_run(&s, INT64_MAX);
    assert_true(s.hosts[0].min_gap >= 1000);
    assert_int_equal(s.hosts[1].fetches, 50);
    assert_int_equal(s.now, 4000 + 10);
    sim_free(&s);
}

static void outcome_429(struct sim *s, const char *url, unsigned attempt,
                        struct frontier_outcome *o, const char **body)
{
    outcome_ok(s, url, attempt, o, body);
    if (strstr(url, "/limited") != NULL && attempt == 1) {
        o->category = PROV_RATE_LIMITED;
        o->http_status = 429;
        o->retry_after_ms = strstr(url, "h1.") ? 36000000 : 3000;
    }
}

/* RELIABILITY N14: Retry-After holds back the host, up to the cap. */
static void test_retry_after(void **state)
{
    struct frontier_options o = base_options();
    struct sim s;

    (void)state;
    o.delay_ms = 100;
    o.jitter_pct = 0;
    o.retry_after_cap_ms = 3600000;
    sim_init(&s, &o);
    s.outcome = outcome_429;
    s.lat_min = s.lat_max = 10;
    sim_add(&s, "http://h0.test/limited");
    sim_add(&s, "http://h0.test/a");
    sim_add(&s, "http://h0.test/b");
    sim_add(&s, "http://h2.test/a");
    sim_add(&s, "http://h2.test/b");
    sim_add(&s, "http://h2.test/c");
    sim_run(&s, INT64_MAX);
    /* h0: /limited at 0, 429 at 10 -> nothing on h0 before 3010; then
     * the waiting URLs at the usual pace, and /limited again */
    assert_int_equal(s.hosts[0].fetches, 4);
    assert_int_equal(s.hosts[0].starts_at[1], 3010);
    assert_int_equal(s.hosts[0].starts_at[2], 3110);
    assert_int_equal(s.hosts[0].starts_at[3], 3210);
    assert_int_equal(s.retries, 1);
    /* the other host went on meanwhile, at its own pace */
    assert_int_equal(s.hosts[2].fetches, 3);
    assert_int_equal(s.hosts[2].starts_at[2], 200);
    /* it succeeded the second time */
    assert_int_equal(frontier_category(s.f, "http://h0.test/limited"), PROV_OK);
    sim_free(&s);

    /* a Retry-After of 10 hours is honoured for the cap: 1 hour */
    sim_init(&s, &o);
    s.outcome = outcome_429;
    s.lat_min = s.lat_max = 10;
    sim_add(&s, "http://h1.test/limited");
    sim_add(&s, "http://h1.test/a");
    sim_run(&s, INT64_MAX);
    assert_int_equal(s.hosts[1].fetches, 3);
    assert_int_equal(s.hosts[1].starts_at[1], 3600000 + 10);
    sim_free(&s);
}

static void outcome_always_503(struct sim *s, const char *url, unsigned attempt,
                               struct frontier_outcome *o, const char **body)
{
    outcome_ok(s, url, attempt, o, body);
    if (strstr(url, "/down") != NULL) {
        o->category = PROV_HTTP_5XX;
        o->http_status = 503;
    }
}

/* RELIABILITY N15: exponential back-off, at most N attempts, category kept. */
static void test_backoff_sequence(void **state)
{
    struct frontier_options o = base_options();
    struct sim s;
    static const int64_t want[] = {0, 1000, 3000, 7000, 15000, 23000};

    (void)state;
    o.delay_ms = 0;
    o.jitter_pct = 0;
    o.backoff_ms = 1000;
    o.backoff_max_ms = 8000;
    o.max_attempts = 6;
    o.pause_after = 0;
    sim_init(&s, &o);
    s.outcome = outcome_always_503;
    sim_add(&s, "http://h0.test/down");
    sim_run(&s, INT64_MAX);
    assert_int_equal(s.fetches, 6);
    assert_int_equal(s.retries, 5);
    assert_int_equal(s.given_up, 1);
    for (size_t i = 0; i < 6; i++)
        assert_int_equal(s.start_log[i], want[i]);
    assert_int_equal(frontier_category(s.f, "http://h0.test/down"), PROV_HTTP_5XX);
    assert_int_equal(frontier_category(s.f, "http://nowhere.test/"), -1);
    sim_free(&s);

    /* with jitter, each wait stays within its bounds */
    o.jitter_pct = 20;
    o.max_attempts = 4;
    sim_init(&s, &o);
    s.outcome = outcome_always_503;
    sim_add(&s, "http://h0.test/down");
    sim_run(&s, INT64_MAX);
    assert_int_equal(s.fetches, 4);
    for (size_t i = 1; i < 4; i++) {
        int64_t gap = s.start_log[i] - s.start_log[i - 1], base = 1000LL << (i - 1);
        assert_true(gap >= base * 8 / 10 && gap <= base * 12 / 10);
    }
    sim_free(&s);

    /* a final failure is not retried */
    struct frontier *f = frontier_new(&o);
    struct frontier_job job;
    int64_t wake;
    struct frontier_outcome gone = {PROV_HTTP_4XX, 404, -1};
    assert_int_equal(frontier_add(f, "http://h0.test/gone", NULL, 0), 0);
    assert_int_equal(frontier_next(f, 0, &job, &wake), FRONTIER_READY);
    assert_int_equal(frontier_done(f, "http://h0.test/gone", &gone, 1, NULL), FRONTIER_FINISHED);
    assert_int_equal(frontier_next(f, 1, &job, &wake), FRONTIER_DRAINED);
    assert_int_equal(frontier_category(f, "http://h0.test/gone"), PROV_HTTP_4XX);
    frontier_free(f);
}

/* RELIABILITY N15: a host that keeps failing pauses. */
static void test_host_pause(void **state)
{
    struct frontier_options o = base_options();
    struct sim s;

    (void)state;
    o.delay_ms = 0;
    o.jitter_pct = 0;
    o.max_attempts = 1;
    o.pause_after = 3;
    o.pause_ms = 60000;
    sim_init(&s, &o);
    s.outcome = outcome_always_503;
    s.lat_min = s.lat_max = 100;
    for (int i = 0; i < 3; i++)
        sim_add(&s, "http://h0.test/down/%d", i);
    sim_add(&s, "http://h0.test/up");
    sim_run(&s, INT64_MAX);
    assert_int_equal(s.fetches, 4);
    assert_int_equal(s.given_up, 3);
    /* starts at 0, 100, 200; the third failure at 300 pauses until 60300 */
    assert_int_equal(s.start_log[3], 60300);
    sim_free(&s);

    /* a success between failures resets the count */
    sim_init(&s, &o);
    s.outcome = outcome_always_503;
    s.lat_min = s.lat_max = 100;
    sim_add(&s, "http://h0.test/down/1");
    sim_add(&s, "http://h0.test/down/2");
    sim_add(&s, "http://h0.test/up/1");
    sim_add(&s, "http://h0.test/down/3");
    sim_add(&s, "http://h0.test/down/4");
    sim_add(&s, "http://h0.test/up/2");
    sim_run(&s, INT64_MAX);
    assert_int_equal(s.fetches, 6);
    assert_int_equal(s.now, 600);
    sim_free(&s);
}

static void test_robots(void **state)
{
    struct frontier_options o = base_options();
    struct sim s;

    (void)state;
    o.robots = true;
    o.delay_ms = 500;
    o.jitter_pct = 0;
    o.crawl_delay_cap_ms = 2000;
    sim_init(&s, &o);
    s.lat_min = s.lat_max = 10;
    s.robots_body = "User-agent: *\nDisallow: /private\nCrawl-delay: 1.5\n\n"
                    "User-agent: otherbot\nDisallow: /\n";
    for (int i = 0; i < 4; i++) {
        sim_add(&s, "http://h0.test/public/%d", i);
        sim_add(&s, "http://h0.test/private/%d", i);
    }
    sim_run(&s, INT64_MAX);
    assert_int_equal(s.robots_fetches, 1);
    assert_int_equal(s.fetches, 4);
    assert_int_equal(s.disallowed, 4);
    /* robots.txt first at 0, then the pages 1.5 s apart (Crawl-delay is
     * larger than the delay and under the cap) */
    assert_int_equal(s.hosts[0].first_fetch, 1500);
    assert_int_equal(s.hosts[0].min_gap, 1500);
    sim_free(&s);

    /* a Crawl-delay above the cap counts for the cap */
    sim_init(&s, &o);
    s.robots_body = "User-agent: provd\nCrawl-delay: 30\n";
    sim_add(&s, "http://h0.test/a");
    sim_add(&s, "http://h0.test/b");
    sim_run(&s, INT64_MAX);
    assert_int_equal(s.hosts[0].min_gap, 2000);
    sim_free(&s);

    /* robots.txt 404: everything allowed, the plain delay */
    sim_init(&s, &o);
    s.robots_body = "User-agent: *\nDisallow: /\n";
    s.robots_status = 404;
    sim_add(&s, "http://h0.test/a");
    sim_add(&s, "http://h0.test/b");
    sim_run(&s, INT64_MAX);
    assert_int_equal(s.fetches, 2);
    assert_int_equal(s.disallowed, 0);
    assert_int_equal(s.hosts[0].min_gap, 500);
    sim_free(&s);

    /* file: URLs have no robots.txt */
    sim_init(&s, &o);
    assert_int_equal(frontier_add(s.f, "file:///srv/demo/a.html", NULL, 0), 0);
    struct frontier_job job;
    int64_t wake;
    assert_int_equal(frontier_next(s.f, 0, &job, &wake), FRONTIER_READY);
    assert_int_equal(job.kind, FRONTIER_JOB_FETCH);
    sim_free(&s);
}

/* robots.txt 5xx: wait and ask again; after max_attempts, hand the URLs
 * back with the category. */
static void test_robots_failures(void **state)
{
    struct frontier_options o = base_options();
    struct sim s;

    (void)state;
    o.robots = true;
    o.delay_ms = 0;
    o.jitter_pct = 0;
    o.max_attempts = 3;
    o.robots_opts.retry_ms = 1000;
    sim_init(&s, &o);
    s.robots_status = 503;
    for (int i = 0; i < 5; i++)
        sim_add(&s, "http://h0.test/%d", i);
    sim_add(&s, "http://h1.test/x");
    sim_run(&s, INT64_MAX);
    assert_int_equal(s.robots_fetches, 3 + 3);
    assert_int_equal(s.fetches, 0);
    assert_int_equal(s.given_up, 6);
    /* asked at 0, 1000 and 3000 */
    assert_int_equal(s.now, 3000);
    assert_int_equal(frontier_category(s.f, "http://h0.test/3"), PROV_HTTP_5XX);
    sim_free(&s);

    /* a robots.txt that recovers lets the URLs through */
    struct frontier *f;
    struct frontier_job job;
    int64_t wake;
    struct frontier_outcome down = {PROV_HTTP_5XX, 500, -1}, up = {PROV_OK, 200, -1};
    f = frontier_new(&o);
    assert_int_equal(frontier_add(f, "https://h0.test/doc", NULL, 0), 0);
    assert_int_equal(frontier_next(f, 0, &job, &wake), FRONTIER_READY);
    assert_int_equal(job.kind, FRONTIER_JOB_ROBOTS);
    assert_string_equal(job.url, "https://h0.test/robots.txt");
    assert_int_equal(frontier_next(f, 0, &job, &wake), FRONTIER_WAIT);
    assert_true(wake == FRONTIER_NEVER);
    assert_int_equal(frontier_robots_done(f, "https://h0.test/robots.txt", &down, NULL, 0, 5), 0);
    assert_int_equal(frontier_next(f, 5, &job, &wake), FRONTIER_WAIT);
    assert_int_equal(wake, 1005);
    assert_int_equal(frontier_next(f, 1005, &job, &wake), FRONTIER_READY);
    assert_int_equal(job.kind, FRONTIER_JOB_ROBOTS);
    assert_int_equal(frontier_robots_done(f, "https://h0.test/robots.txt", &up, "", 0, 1010), 0);
    assert_int_equal(frontier_next(f, 1010, &job, &wake), FRONTIER_READY);
    assert_int_equal(job.kind, FRONTIER_JOB_FETCH);
    assert_string_equal(job.url, "https://h0.test/doc");
    /* errors */
    assert_int_equal(frontier_robots_done(f, "https://h0.test/robots.txt", &up, "", 0, 1010),
                     -EINVAL);
    assert_int_equal(frontier_robots_done(f, "https://h9.test/robots.txt", &up, "", 0, 1010),
                     -ENOENT);
    frontier_free(f);
}

/* Rules expire after robots_opts.expiry_ms and are fetched again. */
static void test_robots_expiry(void **state)
{
    struct frontier_options o = base_options();
    struct sim s;

    (void)state;
    o.robots = true;
    o.delay_ms = 1000;
    o.jitter_pct = 0;
    o.robots_opts.expiry_ms = 10000;
    sim_init(&s, &o);
    s.robots_body = "User-agent: *\nDisallow: /none\n";
    for (int i = 0; i < 25; i++)
        sim_add(&s, "http://h0.test/%d", i);
    sim_run(&s, INT64_MAX);
    assert_int_equal(s.fetches, 25);
    /* 28 starts 1 s apart: robots.txt at 0, 10 and 20 s */
    assert_int_equal(s.robots_fetches, 3);
    assert_int_equal(s.hosts[0].min_gap, 1000);
    sim_free(&s);
}

/* ---- Two runs on one host table ------------------------------------------ */

#define MS_RUNS 2

/* Two frontiers sharing a host table, driven like an engine drives its
 * runs: each asks its own frontier, transfers end after a fixed latency,
 * and every start is checked against the host's record of starts, whichever
 * run made it. */
struct msim {
    struct frontier_hosts *hs;
    struct frontier *f[MS_RUNS];
    bool free_drained; /* free a run's frontier once it drains */
    int64_t now, lat;
    struct mflight {
        char *url;
        int run;
        bool robots;
        unsigned attempt;
        int64_t end;
    } fl[SIM_FLIGHT];
    size_t nfl;
    outcome_fn outcome;
    const char *robots_body;
    struct {
        int64_t last;
        size_t starts;
        int64_t at[64];
        int run[64];
        unsigned in_flight, max_in_flight;
    } host[4];
    size_t robots_fetches;
    int64_t drained_at[MS_RUNS];
};

static void msim_init(struct msim *m, const struct frontier_options *ho)
{
    memset(m, 0, sizeof(*m));
    m->hs = frontier_hosts_new(ho);
    assert_non_null(m->hs);
    m->lat = 10;
    for (int h = 0; h < 4; h++)
        m->host[h].last = INT64_MIN;
    for (int r = 0; r < MS_RUNS; r++)
        m->drained_at[r] = -1;
}

/* Run r: its own delay and concurrency, the shared table. */
static void msim_run_new(struct msim *m, int r, int64_t delay_ms, unsigned concurrency)
{
    struct frontier_options o = base_options();

    o.delay_ms = delay_ms;
    o.concurrency = concurrency;
    o.hosts = m->hs;
    m->f[r] = frontier_new(&o);
    assert_non_null(m->f[r]);
}

static void msim_start(struct msim *m, int r, const struct frontier_job *job)
{
    int h = host_index(job->url);

    assert_true(h < 4 && m->nfl < SIM_FLIGHT);
    if (m->host[h].starts < 64) {
        m->host[h].at[m->host[h].starts] = m->now;
        m->host[h].run[m->host[h].starts] = r;
    }
    m->host[h].starts++;
    m->host[h].last = m->now;
    if (++m->host[h].in_flight > m->host[h].max_in_flight)
        m->host[h].max_in_flight = m->host[h].in_flight;
    m->fl[m->nfl++] = (struct mflight){xstrdup(job->url), r, job->kind == FRONTIER_JOB_ROBOTS,
                                       job->attempt, m->now + m->lat};
}

static void msim_finish_due(struct msim *m)
{
    for (size_t i = 0; i < m->nfl;) {
        struct mflight fl = m->fl[i];
        struct frontier_outcome o = {PROV_OK, 200, -1};
        const char *body = m->robots_body;

        if (fl.end > m->now) {
            i++;
            continue;
        }
        m->fl[i] = m->fl[--m->nfl];
        m->host[host_index(fl.url)].in_flight--;
        if (m->outcome)
            m->outcome(NULL, fl.url, fl.attempt, &o, &body);
        if (fl.robots)
            assert_int_equal(frontier_robots_done(m->f[fl.run], fl.url, &o, body,
                                                  body ? strlen(body) : 0, m->now),
                             0);
        else
            assert_true(frontier_done(m->f[fl.run], fl.url, &o, m->now, NULL) >= 0);
        free(fl.url);
    }
}

/* Until every run drains. The run asked first changes after each start,
 * as the order of an engine's timers is arbitrary. */
static void msim_loop(struct msim *m)
{
    for (unsigned turn = 0;;) {
        int64_t next = FRONTIER_NEVER;
        bool live = false;

        for (int k = 0; k < MS_RUNS; k++) {
            int r = (int)((turn + (unsigned)k) % MS_RUNS);

            struct frontier_job job;
            int64_t wake;
            enum frontier_status st;

            if (m->f[r] == NULL)
                continue;
            while ((st = frontier_next(m->f[r], m->now, &job, &wake)) == FRONTIER_READY) {
                if (job.kind == FRONTIER_JOB_ROBOTS)
                    m->robots_fetches++;
                if (job.kind == FRONTIER_JOB_FETCH || job.kind == FRONTIER_JOB_ROBOTS) {
                    msim_start(m, r, &job);
                    turn++;
                }
            }
            if (st == FRONTIER_DRAINED) {
                if (m->drained_at[r] < 0)
                    m->drained_at[r] = m->now;
                if (m->free_drained) {
                    frontier_free(m->f[r]);
                    m->f[r] = NULL;
                    /* the other run may go faster now: ask them again */
                    k = -1;
                }
                continue;
            }
            live = true;
            if (wake < next)
                next = wake;
        }
        if (!live && m->nfl == 0)
            return;
        for (size_t i = 0; i < m->nfl; i++)
            if (m->fl[i].end < next)
                next = m->fl[i].end;
        if (next == FRONTIER_NEVER)
            fail_msg("stuck at %lld", (long long)m->now);
        assert_true(next >= m->now);
        m->now = next;
        msim_finish_due(m);
    }
}

static void msim_free(struct msim *m)
{
    for (size_t i = 0; i < m->nfl; i++)
        free(m->fl[i].url);
    for (int r = 0; r < MS_RUNS; r++)
        frontier_free(m->f[r]);
    frontier_hosts_free(m->hs);
}

/* The least gap between consecutive starts on host h among starts
 * [from, to). */
static int64_t msim_min_gap(const struct msim *m, int h, size_t from, size_t to)
{
    int64_t min = INT64_MAX;

    for (size_t i = from + 1; i < to && i < 64; i++)
        if (m->host[h].at[i] - m->host[h].at[i - 1] < min)
            min = m->host[h].at[i] - m->host[h].at[i - 1];
    return min;
}

static void outcome_429_once(struct sim *s, const char *url, unsigned attempt,
                             struct frontier_outcome *o, const char **body)
{
    (void)s;
    o->category = PROV_OK;
    o->http_status = 200;
    o->retry_after_ms = -1;
    if (strstr(url, "/limited") != NULL && attempt == 1) {
        o->category = PROV_RATE_LIMITED;
        o->http_status = 429;
        o->retry_after_ms = 5000;
    }
    (void)body;
}

/*
 * Politeness is the host's, not the run's: two runs on one host table
 * - together keep the stricter delay and concurrency (1000 ms over 400,
 *   1 over 2) between any two starts on the shared host, whichever run
 *   made them, while each run's other host keeps that run's own pace;
 * - once the strict run is gone, the other goes on at its own delay;
 * - share one robots.txt fetch, and one Retry-After holds both back.
 */
static void test_shared_hosts(void **state)
{
    struct frontier_options ho = base_options();
    struct msim m;
    size_t both_until = 0;
    int64_t delay;
    unsigned conc;

    (void)state;
    ho.jitter_pct = 0;
    msim_init(&m, &ho);
    m.free_drained = true;
    msim_run_new(&m, 0, 1000, 2);
    msim_run_new(&m, 1, 400, 1);
    for (int i = 0; i < 4; i++)
        assert_int_equal(frontier_add(m.f[0], tmp_url(0, "a", i), NULL, 0), 0);
    for (int i = 0; i < 10; i++)
        assert_int_equal(frontier_add(m.f[1], tmp_url(0, "b", i), NULL, 0), 0);
    for (int i = 0; i < 5; i++)
        assert_int_equal(frontier_add(m.f[1], tmp_url(1, "b", i), NULL, 0), 0);
    assert_int_equal(frontier_hosts_get(m.hs, "http://h0.test/", &delay, &conc, NULL), 0);
    assert_int_equal(delay, 1000);
    assert_int_equal(conc, 1);
    assert_int_equal(frontier_hosts_get(m.hs, "http://h1.test/", &delay, &conc, NULL), 0);
    assert_int_equal(delay, 400);
    assert_int_equal(frontier_hosts_get(m.hs, "http://h9.test/", NULL, NULL, NULL), -ENOENT);
    msim_loop(&m);
    assert_int_equal(m.host[0].starts, 14);
    assert_int_equal(m.host[1].starts, 5);
    assert_int_equal(m.host[0].max_in_flight, 1);
    /* both runs took turns on h0 while both were there */
    for (size_t i = 0; i < m.host[0].starts; i++)
        if (m.host[0].at[i] <= m.drained_at[0])
            both_until = i + 1;
    assert_true(both_until >= 5);
    print_message("    shared host: %zu starts while both runs were on it, least gap %lld ms; "
                  "after: %lld ms\n",
                  both_until, (long long)msim_min_gap(&m, 0, 0, both_until),
                  (long long)msim_min_gap(&m, 0, both_until, m.host[0].starts));
    assert_int_equal(msim_min_gap(&m, 0, 0, both_until), 1000);
    assert_int_equal(msim_min_gap(&m, 0, both_until, m.host[0].starts), 400);
    assert_int_equal(msim_min_gap(&m, 1, 0, m.host[1].starts), 400);
    /* runs 0 and 1 both started on h0 before run 0 drained */
    {
        bool saw[2] = {false, false};
        for (size_t i = 0; i < both_until; i++)
            saw[m.host[0].run[i]] = true;
        assert_true(saw[0] && saw[1]);
    }
    assert_int_equal(frontier_hosts_in_flight(m.hs), 0);
    msim_free(&m);

    /* one robots.txt for both runs; a Retry-After to one holds both */
    ho.robots = true;
    msim_init(&m, &ho);
    m.outcome = outcome_429_once;
    m.robots_body = "User-agent: *\nDisallow: /private\n";
    msim_run_new(&m, 0, 100, 1);
    msim_run_new(&m, 1, 100, 1);
    assert_int_equal(frontier_add(m.f[0], "http://h0.test/limited", NULL, 0), 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(frontier_add(m.f[1], tmp_url(0, "b", i), NULL, 0), 0);
    msim_loop(&m);
    assert_int_equal(m.robots_fetches, 1);
    /* robots.txt at 0; /limited (run 0's only URL) gets a 429 with
     * Retry-After 5 s 10 ms after its start: the next start on the host,
     * from either run, is 5 s after that */
    assert_int_equal(m.host[0].starts, 6);
    assert_int_equal(m.host[0].at[0], 0);
    {
        size_t lim = 1;
        while (lim < 6 && m.host[0].run[lim] != 0)
            lim++;
        assert_true(lim < 5);
        assert_int_equal(m.host[0].at[lim + 1], m.host[0].at[lim] + 10 + 5000);
    }
    assert_int_equal(msim_min_gap(&m, 0, 0, 6), 100);
    msim_free(&m);
}

/* Failures in a row on a shared host add up over the runs that use it, and
 * the pause they cause holds for every run, later ones too; a run that
 * comes after the host went idle starts with no failures counted. */
static void test_shared_pause(void **state)
{
    struct frontier_options ho = base_options(), o = base_options();
    struct frontier_outcome down = {PROV_HTTP_5XX, 503, -1};
    struct frontier_hosts *hs;
    struct frontier *f1, *f2, *f3;
    struct frontier_job job;
    int64_t wake;

    (void)state;
    ho.jitter_pct = 0;
    ho.pause_after = 3;
    ho.pause_ms = 60000;
    hs = frontier_hosts_new(&ho);
    o.delay_ms = 0;
    o.concurrency = 2;
    o.max_attempts = 1;
    o.hosts = hs;
    f1 = frontier_new(&o);
    f2 = frontier_new(&o);
    assert_int_equal(frontier_add(f1, "http://h0.test/down/1", NULL, 0), 0);
    assert_int_equal(frontier_add(f1, "http://h0.test/down/2", NULL, 0), 0);
    assert_int_equal(frontier_add(f2, "http://h0.test/down/3", NULL, 0), 0);
    assert_int_equal(frontier_add(f2, "http://h0.test/ok", NULL, 0), 0);
    /* three failures, two runs: the host pauses */
    assert_int_equal(frontier_next(f1, 0, &job, &wake), FRONTIER_READY);
    assert_int_equal(frontier_done(f1, job.url, &down, 10, NULL), FRONTIER_GIVEN_UP);
    assert_int_equal(frontier_next(f2, 10, &job, &wake), FRONTIER_READY);
    assert_string_equal(job.url, "http://h0.test/down/3");
    assert_int_equal(frontier_done(f2, job.url, &down, 20, NULL), FRONTIER_GIVEN_UP);
    assert_int_equal(frontier_next(f1, 20, &job, &wake), FRONTIER_READY);
    assert_int_equal(frontier_done(f1, job.url, &down, 30, NULL), FRONTIER_GIVEN_UP);
    assert_int_equal(frontier_next(f2, 30, &job, &wake), FRONTIER_WAIT);
    assert_int_equal(wake, 60030);
    assert_int_equal(frontier_next(f1, 30, &job, &wake), FRONTIER_DRAINED);
    frontier_free(f1);
    frontier_free(f2);
    /* a later run: the pause still holds, the count starts afresh */
    f3 = frontier_new(&o);
    assert_int_equal(frontier_add(f3, "http://h0.test/down/4", NULL, 100), 0);
    assert_int_equal(frontier_add(f3, "http://h0.test/down/5", NULL, 100), 0);
    assert_int_equal(frontier_next(f3, 100, &job, &wake), FRONTIER_WAIT);
    assert_int_equal(wake, 60030);
    assert_int_equal(frontier_next(f3, 60030, &job, &wake), FRONTIER_READY);
    assert_int_equal(frontier_done(f3, job.url, &down, 60040, NULL), FRONTIER_GIVEN_UP);
    assert_int_equal(frontier_next(f3, 60040, &job, &wake), FRONTIER_READY);
    assert_int_equal(job.kind, FRONTIER_JOB_FETCH);
    assert_int_equal(frontier_done(f3, job.url, &down, 60050, NULL), FRONTIER_GIVEN_UP);
    assert_int_equal(frontier_next(f3, 60050, &job, &wake), FRONTIER_DRAINED);
    assert_int_equal(frontier_hosts_in_flight(hs), 0);
    frontier_free(f3);
    frontier_hosts_free(hs);
}

static void test_api_errors(void **state)
{
    struct frontier_options o = base_options();
    struct frontier *f;
    struct frontier_outcome ok = {PROV_OK, 200, -1};
    struct frontier_job job;
    int64_t wake;

    (void)state;
    f = frontier_new(&o);
    assert_int_equal(frontier_add(f, "http://h0.test/a", NULL, 0), 0);
    assert_int_equal(frontier_add(f, "http://h0.test/a", NULL, 0), -EEXIST);
    assert_int_equal(frontier_add(f, "mailto:x@h0.test", NULL, 0), -EINVAL);
    assert_int_equal(frontier_set_host(f, "http://h0.test/", -1, 1), -EINVAL);
    assert_int_equal(frontier_set_host(f, "http://h0.test/", 0, 0), -EINVAL);
    assert_int_equal(frontier_done(f, "http://h0.test/b", &ok, 0, NULL), -ENOENT);
    assert_int_equal(frontier_done(f, "http://h0.test/a", &ok, 0, NULL), -EINVAL);
    assert_int_equal(frontier_next(f, 0, &job, &wake), FRONTIER_READY);
    assert_int_equal(frontier_done(f, "http://h0.test/a", &ok, 0, NULL), FRONTIER_FINISHED);
    assert_int_equal(frontier_done(f, "http://h0.test/a", &ok, 0, NULL), -EINVAL);
    /* a URL is queued once per run, even after it is done */
    assert_int_equal(frontier_add(f, "http://h0.test/a", NULL, 0), -EEXIST);
    assert_int_equal(frontier_next(f, 0, &job, &wake), FRONTIER_DRAINED);
    frontier_free(f);
    frontier_free(NULL);

    o.concurrency = 0;
    assert_null(frontier_new(&o));
    o.concurrency = 1;
    o.jitter_pct = 60;
    assert_null(frontier_new(&o));
    o.jitter_pct = 10;
    o.max_attempts = 0;
    assert_null(frontier_new(&o));
    o.max_attempts = 1;
    o.backoff_max_ms = o.backoff_ms - 1;
    assert_null(frontier_new(&o));

    assert_true(frontier_retryable(PROV_HTTP_5XX));
    assert_true(frontier_retryable(PROV_CONNECT));
    assert_true(frontier_retryable(PROV_RATE_LIMITED));
    assert_false(frontier_retryable(PROV_HTTP_4XX));
    assert_false(frontier_retryable(PROV_TOO_LARGE));
    assert_false(frontier_retryable(PROV_OK));
}

/* RELIABILITY N23: 100,000 URLs on 50 hosts, politely and quickly. */
static void test_many_urls(void **state)
{
    struct frontier_options o = base_options();
    struct sim s;
    struct timespec t0, t1;
    double dt;

    (void)state;
    o.delay_ms = 100;
    o.jitter_pct = 10;
    o.concurrency = 2;
    o.max_in_flight = 32;
    sim_init(&s, &o);
    s.lat_min = 5;
    s.lat_max = 400;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < 100000; i++)
        sim_add(&s, "http://h%d.test/document/%d", i % 50, i);
    sim_run(&s, INT64_MAX);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    dt = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    print_message("    100000 URLs on 50 hosts: %.2f s of CPU for %.0f s of simulated "
                  "harvest, %zu wake-ups\n",
                  dt, (double)s.now / 1000, s.wakeups);
    assert_int_equal(s.fetches, 100000);
    assert_int_equal(s.finished, 100000);
    for (int h = 0; h < 50; h++) {
        assert_int_equal(s.hosts[h].fetches, 2000);
        assert_true(s.hosts[h].min_gap >= 100);
        assert_true(s.hosts[h].max_in_flight <= 2);
    }
    assert_true(s.max_global <= 32);
    /* 2000 starts per host at least 100 ms apart */
    assert_true(s.now >= 1999 * 100);
    assert_true(dt < 20.0);
    sim_free(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_politeness),       cmocka_unit_test(test_jitter_bounds),
        cmocka_unit_test(test_zero_delay),       cmocka_unit_test(test_global_cap),
        cmocka_unit_test(test_fairness),         cmocka_unit_test(test_retry_after),
        cmocka_unit_test(test_backoff_sequence), cmocka_unit_test(test_host_pause),
        cmocka_unit_test(test_robots),           cmocka_unit_test(test_robots_failures),
        cmocka_unit_test(test_robots_expiry),    cmocka_unit_test(test_api_errors),
        cmocka_unit_test(test_many_urls),        cmocka_unit_test(test_shared_hosts),
        cmocka_unit_test(test_shared_pause),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
