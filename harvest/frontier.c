/*
 * frontier: per-host queues and politeness for one run.
 *
 * Each host keeps a min-heap of its waiting URLs by (ready time, order of
 * arrival); hosts that could start something are in a min-heap by the
 * earliest time they may (ties: the host served longest ago, so hosts take
 * turns). frontier_next() looks at the top host only, so a call costs
 * O(log) and returns either a job or the one time to wake up.
 *
 * It owns its copies of the URLs, the hosts' parsed robots.txt and the
 * heaps; the caller's data pointers are only carried. It never fetches,
 * logs, sleeps or reads a clock.
 */
#include "frontier.h"

#include "discover.h"
#include "xmalloc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

enum item_state { ITEM_QUEUED, ITEM_FLIGHT, ITEM_DONE };

struct fr_item {
    char *url;
    void *data;
    struct fr_host *host;
    int64_t ready_at; /* may not start before */
    uint64_t seq;     /* arrival order, for FIFO among equals */
    unsigned attempts;
    enum item_state state;
    enum prov_category last; /* last failure, PROV_OK when none */
};

enum robots_state {
    RB_NEEDED,   /* robots.txt must be fetched before any URL */
    RB_FETCHING, /* its robots.txt is being fetched */
    RB_READY,    /* rules in hand (robots NULL: robots.txt not used) */
    RB_GAVE_UP,  /* robots.txt kept failing: hand the URLs back */
};

struct fr_host {
    char *origin;       /* scheme://host:port, the key */
    char *robots_url;   /* scheme://authority/robots.txt */
    struct fr_item **q; /* min-heap by (ready_at, seq) */
    size_t n, cap;
    unsigned in_flight, concurrency;
    int64_t delay_ms;
    int64_t last_start;    /* the last request start */
    int64_t next_start;    /* the gap after the last start ends here */
    int64_t blocked_until; /* Retry-After, pause, robots.txt retry */
    unsigned fail_streak;  /* retryable failures in a row */
    enum robots_state rstate;
    struct robots *robots;
    int64_t robots_expires;
    unsigned robots_failures;
    enum prov_category robots_category;
    int64_t crawl_delay_ms;
    size_t hpos;     /* index in the host heap, or SIZE_MAX */
    int64_t key;     /* earliest start, while in the host heap */
    uint64_t served; /* order of the host's last start */
};

/* A string-keyed open-addressing table of pointers. */
struct fr_map {
    void **slots;
    size_t cap, n;
    const char *(*key)(const void *);
};

struct frontier {
    struct frontier_options o;
    struct fr_map items, hosts;
    struct fr_host **hh; /* the host heap */
    size_t hn, hcap;
    unsigned in_flight;
    size_t pending;
    uint64_t seq;
    uint64_t rng;
};

/* ---- Maps ------------------------------------------------------------- */

static uint64_t fr_hash(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ULL;

    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 0x100000001b3ULL;
    }
    return h ^ (h >> 31);
}

static const char *fr_item_key(const void *p)
{
    return ((const struct fr_item *)p)->url;
}

static const char *fr_host_key(const void *p)
{
    return ((const struct fr_host *)p)->origin;
}

static size_t fr_map_slot(const struct fr_map *m, const char *k)
{
    size_t mask = m->cap - 1, i = (size_t)fr_hash(k) & mask;

    while (m->slots[i] != NULL && strcmp(m->key(m->slots[i]), k) != 0)
        i = (i + 1) & mask;
    return i;
}

static void *fr_map_get(const struct fr_map *m, const char *k)
{
    return m->cap ? m->slots[fr_map_slot(m, k)] : NULL;
}

/* Insert p, whose key is not in m yet. */
static void fr_map_put(struct fr_map *m, void *p)
{
    if ((m->n + 1) * 10 > m->cap * 7) {
        struct fr_map old = *m;
        m->cap = m->cap ? m->cap * 2 : 64;
        m->slots = xcalloc(m->cap, sizeof(*m->slots));
        for (size_t i = 0; i < old.cap; i++)
            if (old.slots[i] != NULL)
                m->slots[fr_map_slot(m, m->key(old.slots[i]))] = old.slots[i];
        free(old.slots);
    }
    m->slots[fr_map_slot(m, m->key(p))] = p;
    m->n++;
}

/* ---- Randomness and waits -------------------------------------------- */

static uint32_t fr_random(struct frontier *f)
{
    uint64_t z;

    if (f->o.random != NULL)
        return f->o.random(f->o.random_data);
    /* splitmix64 */
    z = (f->rng += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return (uint32_t)((z ^ (z >> 31)) >> 32);
}

/* d varied uniformly within +-jitter_pct %. */
static int64_t fr_jitter(struct frontier *f, int64_t d)
{
    int64_t span;

    if (d <= 0 || f->o.jitter_pct == 0)
        return d;
    span = d / 100 * (int64_t)f->o.jitter_pct + d % 100 * (int64_t)f->o.jitter_pct / 100;
    return d - span + (int64_t)(((uint64_t)fr_random(f) * (uint64_t)(2 * span + 1)) >> 32);
}

static int64_t fr_max(int64_t a, int64_t b)
{
    return a > b ? a : b;
}

static int64_t fr_add_ms(int64_t now, int64_t d)
{
    return d > 0 && now > INT64_MAX - d ? INT64_MAX : now + d;
}

/* The gap that must follow a start on h. */
static int64_t fr_gap(struct frontier *f, const struct fr_host *h)
{
    int64_t crawl = h->crawl_delay_ms;

    if (crawl > f->o.crawl_delay_cap_ms)
        crawl = f->o.crawl_delay_cap_ms;
    return fr_jitter(f, fr_max(h->delay_ms, crawl));
}

/* ---- Heaps ------------------------------------------------------------- */

static bool fr_item_before(const struct fr_item *a, const struct fr_item *b)
{
    return a->ready_at != b->ready_at ? a->ready_at < b->ready_at : a->seq < b->seq;
}

static void fr_q_push(struct fr_host *h, struct fr_item *it)
{
    size_t i;

    if (h->n == h->cap) {
        h->cap = h->cap ? h->cap * 2 : 16;
        h->q = xreallocarray(h->q, h->cap, sizeof(*h->q));
    }
    for (i = h->n++; i > 0 && fr_item_before(it, h->q[(i - 1) / 2]); i = (i - 1) / 2)
        h->q[i] = h->q[(i - 1) / 2];
    h->q[i] = it;
}

static struct fr_item *fr_q_pop(struct fr_host *h)
{
    struct fr_item *top = h->q[0], *last = h->q[--h->n];
    size_t i = 0;

    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n)
            break;
        if (c + 1 < h->n && fr_item_before(h->q[c + 1], h->q[c]))
            c++;
        if (!fr_item_before(h->q[c], last))
            break;
        h->q[i] = h->q[c];
        i = c;
    }
    if (h->n > 0)
        h->q[i] = last;
    return top;
}

static bool fr_host_before(const struct fr_host *a, const struct fr_host *b)
{
    return a->key != b->key ? a->key < b->key : a->served < b->served;
}

static void fr_hh_set(struct frontier *f, size_t i, struct fr_host *h)
{
    f->hh[i] = h;
    h->hpos = i;
}

static void fr_hh_up(struct frontier *f, size_t i)
{
    struct fr_host *h = f->hh[i];

    while (i > 0 && fr_host_before(h, f->hh[(i - 1) / 2])) {
        fr_hh_set(f, i, f->hh[(i - 1) / 2]);
        i = (i - 1) / 2;
    }
    fr_hh_set(f, i, h);
}

static void fr_hh_down(struct frontier *f, size_t i)
{
    struct fr_host *h = f->hh[i];

    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= f->hn)
            break;
        if (c + 1 < f->hn && fr_host_before(f->hh[c + 1], f->hh[c]))
            c++;
        if (!fr_host_before(f->hh[c], h))
            break;
        fr_hh_set(f, i, f->hh[c]);
        i = c;
    }
    fr_hh_set(f, i, h);
}

static void fr_hh_remove(struct frontier *f, struct fr_host *h)
{
    size_t i = h->hpos;
    struct fr_host *last;

    h->hpos = SIZE_MAX;
    last = f->hh[--f->hn];
    if (i == f->hn)
        return;
    fr_hh_set(f, i, last);
    fr_hh_up(f, i);
    fr_hh_down(f, last->hpos);
}

/* When could h start something, if at all? */
static bool fr_host_ready(const struct fr_host *h, int64_t *key)
{
    if (h->n == 0)
        return false;
    if (h->rstate == RB_GAVE_UP) {
        *key = INT64_MIN; /* hand its URLs back at once */
        return true;
    }
    if (h->rstate == RB_FETCHING || h->in_flight >= h->concurrency)
        return false;
    *key = fr_max(h->next_start, h->blocked_until);
    if (h->rstate == RB_READY)
        *key = fr_max(*key, h->q[0]->ready_at);
    return true;
}

/* Put h where it belongs in the host heap after any change to it. */
static void fr_host_update(struct frontier *f, struct fr_host *h)
{
    int64_t key;

    if (!fr_host_ready(h, &key)) {
        if (h->hpos != SIZE_MAX)
            fr_hh_remove(f, h);
        return;
    }
    h->key = key;
    if (h->hpos == SIZE_MAX) {
        if (f->hn == f->hcap) {
            f->hcap = f->hcap ? f->hcap * 2 : 16;
            f->hh = xreallocarray(f->hh, f->hcap, sizeof(*f->hh));
        }
        fr_hh_set(f, f->hn++, h);
    }
    fr_hh_up(f, h->hpos);
    fr_hh_down(f, h->hpos);
}

/* ---- Options, creation ------------------------------------------------- */

void frontier_options_init(struct frontier_options *o)
{
    memset(o, 0, sizeof(*o));
    o->concurrency = 1;
    o->max_in_flight = 32;
    o->delay_ms = 5000;
    o->jitter_pct = 15;
    o->crawl_delay_cap_ms = 60000;
    o->retry_after_cap_ms = 3600000;
    o->max_attempts = 4;
    o->backoff_ms = 1000;
    o->backoff_max_ms = 600000;
    o->pause_after = 5;
    o->pause_ms = 300000;
    o->robots = true;
}

struct frontier *frontier_new(const struct frontier_options *o)
{
    struct frontier *f;

    if (o->concurrency < 1 || o->max_in_flight < 1 || o->max_attempts < 1 || o->jitter_pct > 50 ||
        o->delay_ms < 0 || o->crawl_delay_cap_ms < 0 || o->retry_after_cap_ms < 0 ||
        o->backoff_ms < 0 || o->backoff_max_ms < o->backoff_ms || o->pause_ms < 0)
        return NULL;
    f = xcalloc(1, sizeof(*f));
    f->o = *o;
    f->rng = o->seed;
    f->items.key = fr_item_key;
    f->hosts.key = fr_host_key;
    return f;
}

void frontier_free(struct frontier *f)
{
    if (f == NULL)
        return;
    for (size_t i = 0; i < f->items.cap; i++) {
        struct fr_item *it = f->items.slots[i];
        if (it != NULL) {
            free(it->url);
            free(it);
        }
    }
    for (size_t i = 0; i < f->hosts.cap; i++) {
        struct fr_host *h = f->hosts.slots[i];
        if (h != NULL) {
            free(h->origin);
            free(h->robots_url);
            free(h->q);
            robots_free(h->robots);
            free(h);
        }
    }
    free(f->items.slots);
    free(f->hosts.slots);
    free(f->hh);
    free(f);
}

/* The host of the normalised URL url, created on first sight. */
static struct fr_host *fr_host_of(struct frontier *f, const char *url)
{
    char origin[DISCOVER_URL_MAX + 32];
    struct fr_host *h;
    const char *auth_end;

    if (discover_url_origin(url, origin, sizeof(origin)) != 0)
        return NULL;
    if ((h = fr_map_get(&f->hosts, origin)) != NULL)
        return h;
    h = xcalloc(1, sizeof(*h));
    h->origin = xstrdup(origin);
    h->concurrency = f->o.concurrency;
    h->delay_ms = f->o.delay_ms;
    h->hpos = SIZE_MAX;
    h->served = ++f->seq; /* hosts never served take turns in order of arrival */
    if (f->o.robots && strncmp(url, "http", 4) == 0) {
        auth_end = strstr(url, "://") + 3;
        auth_end += strcspn(auth_end, "/?");
        h->robots_url = xasprintf("%.*s/robots.txt", (int)(auth_end - url), url);
        h->rstate = RB_NEEDED;
    } else {
        h->rstate = RB_READY;
        h->robots_expires = INT64_MAX;
    }
    fr_map_put(&f->hosts, h);
    return h;
}

int frontier_set_host(struct frontier *f, const char *url, int64_t delay_ms, unsigned concurrency)
{
    struct fr_host *h;

    if (delay_ms < 0 || concurrency < 1 || (h = fr_host_of(f, url)) == NULL)
        return -EINVAL;
    h->delay_ms = delay_ms;
    h->concurrency = concurrency;
    fr_host_update(f, h);
    return 0;
}

int frontier_add(struct frontier *f, const char *url, void *data, int64_t now)
{
    struct fr_host *h;
    struct fr_item *it;

    if (fr_map_get(&f->items, url) != NULL)
        return -EEXIST;
    if ((h = fr_host_of(f, url)) == NULL)
        return -EINVAL;
    it = xcalloc(1, sizeof(*it));
    it->url = xstrdup(url);
    it->data = data;
    it->host = h;
    it->ready_at = now;
    it->seq = ++f->seq;
    it->state = ITEM_QUEUED;
    fr_map_put(&f->items, it);
    fr_q_push(h, it);
    f->pending++;
    fr_host_update(f, h);
    return 0;
}

/* ---- Scheduling ------------------------------------------------------- */

/* Count a start on h at now. */
static void fr_start(struct frontier *f, struct fr_host *h, int64_t now)
{
    h->in_flight++;
    f->in_flight++;
    h->last_start = now;
    h->next_start = fr_add_ms(now, fr_gap(f, h));
    h->served = ++f->seq;
}

enum frontier_status frontier_next(struct frontier *f, int64_t now, struct frontier_job *job,
                                   int64_t *wake_at)
{
    struct fr_host *h;
    struct fr_item *it;

    memset(job, 0, sizeof(*job));
    *wake_at = FRONTIER_NEVER;
    if (f->hn == 0)
        return f->pending == 0 && f->in_flight == 0 ? FRONTIER_DRAINED : FRONTIER_WAIT;
    h = f->hh[0];
    if (h->rstate == RB_GAVE_UP) {
        it = fr_q_pop(h);
        it->state = ITEM_DONE;
        it->last = h->robots_category;
        f->pending--;
        fr_host_update(f, h);
        *job =
            (struct frontier_job){FRONTIER_JOB_GIVEN_UP, it->url, it->data, it->attempts, it->last};
        return FRONTIER_READY;
    }
    if (f->in_flight >= f->o.max_in_flight)
        return FRONTIER_WAIT;
    if (h->key > now) {
        *wake_at = h->key;
        return FRONTIER_WAIT;
    }
    if (h->rstate == RB_NEEDED || (h->rstate == RB_READY && now >= h->robots_expires)) {
        h->rstate = RB_FETCHING;
        fr_start(f, h, now);
        fr_host_update(f, h);
        *job = (struct frontier_job){FRONTIER_JOB_ROBOTS, h->robots_url, NULL, 0, PROV_OK};
        return FRONTIER_READY;
    }
    it = fr_q_pop(h);
    f->pending--;
    if (h->robots != NULL && !robots_allowed_url(h->robots, it->url)) {
        it->state = ITEM_DONE;
        fr_host_update(f, h);
        *job = (struct frontier_job){FRONTIER_JOB_DISALLOWED, it->url, it->data, it->attempts,
                                     PROV_OK};
        return FRONTIER_READY;
    }
    it->state = ITEM_FLIGHT;
    it->attempts++;
    fr_start(f, h, now);
    fr_host_update(f, h);
    *job = (struct frontier_job){FRONTIER_JOB_FETCH, it->url, it->data, it->attempts, PROV_OK};
    return FRONTIER_READY;
}

bool frontier_retryable(enum prov_category c)
{
    switch (c) {
    case PROV_CONNECT:
    case PROV_TIMEOUT:
    case PROV_TOO_SLOW:
    case PROV_DNS:
    case PROV_HTTP_PROTOCOL:
    case PROV_HTTP_5XX:
    case PROV_RATE_LIMITED:
    case PROV_PARTIAL_BODY:
    case PROV_BLOCKED:
        return true;
    default:
        return false;
    }
}

/* A Retry-After from a reply holds back the whole host; returns the
 * capped wait, or -1 when there is none. */
static int64_t fr_retry_after(struct frontier *f, struct fr_host *h,
                              const struct frontier_outcome *o, int64_t now)
{
    int64_t ra;

    if (o->retry_after_ms < 0)
        return -1;
    ra = o->retry_after_ms < f->o.retry_after_cap_ms ? o->retry_after_ms : f->o.retry_after_cap_ms;
    h->blocked_until = fr_max(h->blocked_until, fr_add_ms(now, ra));
    return ra;
}

int frontier_done(struct frontier *f, const char *url, const struct frontier_outcome *o,
                  int64_t now, int64_t *retry_at)
{
    struct fr_item *it = fr_map_get(&f->items, url);
    struct fr_host *h;
    int64_t ra, wait;
    int disp;

    if (it == NULL)
        return -ENOENT;
    if (it->state != ITEM_FLIGHT)
        return -EINVAL;
    h = it->host;
    h->in_flight--;
    f->in_flight--;
    if (!frontier_retryable(o->category)) {
        /* an answer, even a 404, shows the host is up */
        if (o->http_status > 0)
            h->fail_streak = 0;
        it->state = ITEM_DONE;
        it->last = o->category;
        disp = FRONTIER_FINISHED;
        goto out;
    }
    it->last = o->category;
    ra = fr_retry_after(f, h, o, now);
    if (f->o.pause_after > 0 && ++h->fail_streak >= f->o.pause_after) {
        h->blocked_until = fr_max(h->blocked_until, fr_add_ms(now, fr_jitter(f, f->o.pause_ms)));
        h->fail_streak = 0;
    }
    if (it->attempts >= f->o.max_attempts) {
        it->state = ITEM_DONE;
        disp = FRONTIER_GIVEN_UP;
        goto out;
    }
    if (ra >= 0) {
        wait = ra;
    } else {
        wait = f->o.backoff_ms;
        for (unsigned i = 1; i < it->attempts && wait < f->o.backoff_max_ms; i++)
            wait *= 2;
        if (wait > f->o.backoff_max_ms)
            wait = f->o.backoff_max_ms;
        wait = fr_jitter(f, wait);
    }
    it->ready_at = fr_add_ms(now, wait);
    it->seq = ++f->seq;
    it->state = ITEM_QUEUED;
    fr_q_push(h, it);
    f->pending++;
    if (retry_at != NULL)
        *retry_at = it->ready_at;
    disp = FRONTIER_RETRY;
out:
    fr_host_update(f, h);
    return disp;
}

int frontier_robots_done(struct frontier *f, const char *url, const struct frontier_outcome *o,
                         const char *body, size_t len, int64_t now)
{
    char origin[DISCOVER_URL_MAX + 32];
    struct fr_host *h;
    struct robots_decision d;

    if (discover_url_origin(url, origin, sizeof(origin)) != 0 ||
        (h = fr_map_get(&f->hosts, origin)) == NULL || h->robots_url == NULL ||
        strcmp(h->robots_url, url) != 0)
        return -ENOENT;
    if (h->rstate != RB_FETCHING)
        return -EINVAL;
    h->in_flight--;
    f->in_flight--;
    robots_decide(&f->o.robots_opts, o->http_status, h->robots != NULL, h->robots_failures, now,
                  &d);
    switch (d.verdict) {
    case ROBOTS_USE_BODY:
    case ROBOTS_ALLOW_ALL:
        robots_free(h->robots);
        h->robots = d.verdict == ROBOTS_USE_BODY ? robots_parse(body != NULL ? body : "", len, NULL)
                                                 : robots_new_allow_all();
        h->robots_failures = 0;
        h->rstate = RB_READY;
        h->robots_expires = d.refetch_at;
        h->crawl_delay_ms = robots_crawl_delay_ms(h->robots, f->o.crawl_delay_cap_ms);
        /* the robots.txt request itself is the last start: a Crawl-delay
         * learnt from it spaces the next one too */
        h->next_start = fr_max(h->next_start, fr_add_ms(h->last_start, fr_gap(f, h)));
        break;
    case ROBOTS_KEEP_CACHED:
        /* keep obeying the rules we have; ask again later */
        h->robots_failures++;
        h->rstate = RB_READY;
        h->robots_expires = d.refetch_at;
        break;
    case ROBOTS_DISALLOW_ALL:
        h->robots_failures++;
        h->robots_category = o->category != PROV_OK
                                 ? o->category
                                 : (o->http_status == 429 ? PROV_RATE_LIMITED : PROV_HTTP_5XX);
        if (h->robots_failures >= f->o.max_attempts) {
            h->rstate = RB_GAVE_UP;
        } else {
            h->rstate = RB_NEEDED;
            h->blocked_until = fr_max(h->blocked_until, d.refetch_at);
        }
        break;
    }
    if (d.failed)
        fr_retry_after(f, h, o, now);
    fr_host_update(f, h);
    return 0;
}

int frontier_category(const struct frontier *f, const char *url)
{
    const struct fr_item *it = fr_map_get(&f->items, url);

    return it != NULL ? (int)it->last : -1;
}

size_t frontier_pending(const struct frontier *f)
{
    return f->pending;
}

unsigned frontier_in_flight(const struct frontier *f)
{
    return f->in_flight;
}
