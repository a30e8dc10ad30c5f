/*
 * frontier: per-host queues for one run, and the per-host politeness that
 * all runs of an engine share.
 *
 * A run's queue for a host (struct fr_hq) is a min-heap of its waiting
 * URLs by (ready time, order of arrival); the run's queues that could
 * start something are in a min-heap by the earliest time they may (ties:
 * the host served longest ago, so hosts take turns). frontier_next() looks
 * at the top queue only, so a call costs O(log) and returns either a job
 * or the one time to wake up. When that time is due is the host's
 * (struct fr_host, in a struct frontier_hosts table): its last start, the
 * transfers in flight of every run, robots.txt, Retry-After and pauses,
 * and the strictest delay and concurrency of the runs using it. A change
 * to a host by one run bumps the table's generation; the other runs put
 * their heap keys right at their next call.
 *
 * The table owns the hosts and their parsed robots.txt; a frontier owns
 * its copies of the URLs, its queues and heap; the caller's data pointers
 * are only carried. It never fetches, logs, sleeps or reads a clock.
 */
#include "frontier.h"

#include "discover.h"
#include "xmalloc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

enum item_state { ITEM_QUEUED, ITEM_FLIGHT, ITEM_DONE };

struct fr_hq;

struct fr_item {
    char *url;
    void *data;
    struct fr_hq *hq;
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

/* A frontier's own delay and concurrency for a host. */
struct fr_user {
    const struct frontier *f;
    int64_t delay_ms;
    unsigned concurrency;
};

/* The politeness state of one host, shared by every frontier of a table:
 * when it may be asked next, not what to ask it. */
struct fr_host {
    char *origin;     /* scheme://host:port, the key */
    char *robots_url; /* scheme://authority/robots.txt */
    unsigned in_flight;
    unsigned concurrency; /* the smallest of the users' */
    int64_t delay_ms;     /* the largest of the users' */
    struct fr_user *users;
    size_t nusers;
    bool started;
    int64_t last_start;    /* the last request start */
    int64_t next_start;    /* the (jittered) gap after it ends here */
    int64_t blocked_until; /* Retry-After, pause, robots.txt retry */
    unsigned fail_streak;  /* retryable failures in a row */
    enum robots_state rstate;
    const struct frontier *robots_owner; /* the frontier fetching robots.txt */
    struct robots *robots;
    int64_t robots_expires;
    unsigned robots_failures;
    enum prov_category robots_category;
    int64_t crawl_delay_ms;
};

/* A string-keyed open-addressing table of pointers. */
struct fr_map {
    void **slots;
    size_t cap, n;
    const char *(*key)(const void *);
};

struct frontier_hosts {
    struct frontier_options o; /* the host-wide fields count */
    struct fr_map hosts;
    unsigned in_flight; /* transfers of every frontier */
    uint64_t gen;       /* bumped on every change to a host */
    uint64_t rng;
    unsigned users; /* frontiers using the table */
};

/* One run's queue for one host. */
struct fr_hq {
    struct fr_host *host;
    struct fr_item **q; /* min-heap by (ready_at, seq) */
    size_t n, cap;
    size_t hpos;     /* index in the frontier's host heap, or SIZE_MAX */
    int64_t key;     /* earliest start, while in the heap */
    uint64_t served; /* order of the run's last start on the host */
};

struct frontier {
    struct frontier_options o;
    struct frontier_hosts *hs;
    bool own_hs;
    struct fr_map items, hqs;
    struct fr_hq **hh; /* the run's host heap */
    size_t hn, hcap;
    unsigned in_flight; /* this run's, robots.txt included */
    size_t pending;
    uint64_t seq;
    uint64_t gen_seen; /* hs->gen when the heap keys were last right */
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

static const char *fr_hq_key(const void *p)
{
    return ((const struct fr_hq *)p)->host->origin;
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

static uint32_t fr_random(struct frontier_hosts *hs)
{
    uint64_t z;

    if (hs->o.random != NULL)
        return hs->o.random(hs->o.random_data);
    /* splitmix64 */
    z = (hs->rng += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return (uint32_t)((z ^ (z >> 31)) >> 32);
}

/* d varied uniformly within +-jitter_pct %. */
static int64_t fr_jitter(struct frontier_hosts *hs, int64_t d)
{
    int64_t span;

    if (d <= 0 || hs->o.jitter_pct == 0)
        return d;
    span = d / 100 * (int64_t)hs->o.jitter_pct + d % 100 * (int64_t)hs->o.jitter_pct / 100;
    return d - span + (int64_t)(((uint64_t)fr_random(hs) * (uint64_t)(2 * span + 1)) >> 32);
}

static int64_t fr_max(int64_t a, int64_t b)
{
    return a > b ? a : b;
}

static int64_t fr_add_ms(int64_t now, int64_t d)
{
    return d > 0 && now > INT64_MAX - d ? INT64_MAX : now + d;
}

/* The least gap that must follow a start on h: the delay, or the
 * robots.txt Crawl-delay up to its cap when that is longer. */
static int64_t fr_least_gap(const struct frontier_hosts *hs, const struct fr_host *h)
{
    int64_t crawl = h->crawl_delay_ms;

    if (crawl > hs->o.crawl_delay_cap_ms)
        crawl = hs->o.crawl_delay_cap_ms;
    return fr_max(h->delay_ms, crawl);
}

/* The gap after a start: the least gap lengthened by up to jitter_pct %,
 * never shortened, so that `delay` holds between any two starts. */
static int64_t fr_gap(struct frontier_hosts *hs, const struct fr_host *h)
{
    int64_t d = fr_least_gap(hs, h), span;

    if (d <= 0 || hs->o.jitter_pct == 0)
        return d;
    span = d / 100 * (int64_t)hs->o.jitter_pct + d % 100 * (int64_t)hs->o.jitter_pct / 100;
    return d + (int64_t)(((uint64_t)fr_random(hs) * (uint64_t)(span + 1)) >> 32);
}

/* ---- Heaps ------------------------------------------------------------- */

static bool fr_item_before(const struct fr_item *a, const struct fr_item *b)
{
    return a->ready_at != b->ready_at ? a->ready_at < b->ready_at : a->seq < b->seq;
}

static void fr_q_push(struct fr_hq *h, struct fr_item *it)
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

static struct fr_item *fr_q_pop(struct fr_hq *h)
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

static bool fr_hq_before(const struct fr_hq *a, const struct fr_hq *b)
{
    return a->key != b->key ? a->key < b->key : a->served < b->served;
}

static void fr_hh_set(struct frontier *f, size_t i, struct fr_hq *h)
{
    f->hh[i] = h;
    h->hpos = i;
}

static void fr_hh_up(struct frontier *f, size_t i)
{
    struct fr_hq *h = f->hh[i];

    while (i > 0 && fr_hq_before(h, f->hh[(i - 1) / 2])) {
        fr_hh_set(f, i, f->hh[(i - 1) / 2]);
        i = (i - 1) / 2;
    }
    fr_hh_set(f, i, h);
}

static void fr_hh_down(struct frontier *f, size_t i)
{
    struct fr_hq *h = f->hh[i];

    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= f->hn)
            break;
        if (c + 1 < f->hn && fr_hq_before(f->hh[c + 1], f->hh[c]))
            c++;
        if (!fr_hq_before(f->hh[c], h))
            break;
        fr_hh_set(f, i, f->hh[c]);
        i = c;
    }
    fr_hh_set(f, i, h);
}

static void fr_hh_remove(struct frontier *f, struct fr_hq *h)
{
    size_t i = h->hpos;
    struct fr_hq *last;

    h->hpos = SIZE_MAX;
    last = f->hh[--f->hn];
    if (i == f->hn)
        return;
    fr_hh_set(f, i, last);
    fr_hh_up(f, i);
    fr_hh_down(f, last->hpos);
}

/* When could the run start something on hq's host, if at all? */
static bool fr_hq_ready(const struct frontier *f, const struct fr_hq *hq, int64_t *key)
{
    const struct fr_host *h = hq->host;

    if (hq->n == 0)
        return false;
    if (h->rstate == RB_GAVE_UP) {
        *key = INT64_MIN; /* hand its URLs back at once */
        return true;
    }
    if (h->rstate == RB_FETCHING || h->in_flight >= h->concurrency)
        return false;
    *key = fr_max(h->next_start, h->blocked_until);
    /* A stricter user may have joined since the last start. */
    if (h->started)
        *key = fr_max(*key, fr_add_ms(h->last_start, fr_least_gap(f->hs, h)));
    if (h->rstate == RB_READY)
        *key = fr_max(*key, hq->q[0]->ready_at);
    return true;
}

/* Put hq where it belongs in the host heap after any change to it. */
static void fr_hq_update(struct frontier *f, struct fr_hq *hq)
{
    int64_t key;

    if (!fr_hq_ready(f, hq, &key)) {
        if (hq->hpos != SIZE_MAX)
            fr_hh_remove(f, hq);
        return;
    }
    hq->key = key;
    if (hq->hpos == SIZE_MAX) {
        if (f->hn == f->hcap) {
            f->hcap = f->hcap ? f->hcap * 2 : 16;
            f->hh = xreallocarray(f->hh, f->hcap, sizeof(*f->hh));
        }
        fr_hh_set(f, f->hn++, hq);
    }
    fr_hh_up(f, hq->hpos);
    fr_hh_down(f, hq->hpos);
}

/* f changed the shared state of a host (and puts its own queue right):
 * other frontiers must look at their heap keys again. */
static void fr_changed(struct frontier *f, struct fr_hq *hq)
{
    if (f->gen_seen == f->hs->gen)
        f->gen_seen++;
    f->hs->gen++;
    fr_hq_update(f, hq);
}

/* Another frontier changed some host: every key of f may be stale. */
static void fr_refresh(struct frontier *f)
{
    if (f->gen_seen == f->hs->gen)
        return;
    for (size_t i = 0; i < f->hqs.cap; i++)
        if (f->hqs.slots[i] != NULL)
            fr_hq_update(f, f->hqs.slots[i]);
    f->gen_seen = f->hs->gen;
}

/* ---- The shared host table ------------------------------------------- */

/* The host's delay and concurrency: the strictest of its users'. */
static void fr_host_settle(struct fr_host *h)
{
    if (h->nusers == 0)
        return;
    h->delay_ms = h->users[0].delay_ms;
    h->concurrency = h->users[0].concurrency;
    for (size_t i = 1; i < h->nusers; i++) {
        h->delay_ms = fr_max(h->delay_ms, h->users[i].delay_ms);
        if (h->users[i].concurrency < h->concurrency)
            h->concurrency = h->users[i].concurrency;
    }
}

static struct fr_user *fr_host_user(struct fr_host *h, const struct frontier *f)
{
    for (size_t i = 0; i < h->nusers; i++)
        if (h->users[i].f == f)
            return &h->users[i];
    return NULL;
}

static void fr_host_leave(struct frontier_hosts *hs, struct fr_host *h, const struct frontier *f)
{
    for (size_t i = 0; i < h->nusers; i++) {
        if (h->users[i].f == f) {
            h->users[i] = h->users[--h->nusers];
            break;
        }
    }
    fr_host_settle(h);
    /* Failures in a row count while runs use the host; a later run starts
     * afresh (a pause or Retry-After still in force holds, though). */
    if (h->nusers == 0)
        h->fail_streak = 0;
    hs->gen++;
}

/* The shared host of the normalised URL url, created on first sight. */
static struct fr_host *fr_host_of(struct frontier_hosts *hs, const char *url)
{
    char origin[DISCOVER_URL_MAX + 32];
    struct fr_host *h;
    const char *auth_end;

    if (discover_url_origin(url, origin, sizeof(origin)) != 0)
        return NULL;
    if ((h = fr_map_get(&hs->hosts, origin)) != NULL)
        return h;
    h = xcalloc(1, sizeof(*h));
    h->origin = xstrdup(origin);
    h->concurrency = hs->o.concurrency;
    h->delay_ms = hs->o.delay_ms;
    if (hs->o.robots && strncmp(url, "http", 4) == 0) {
        auth_end = strstr(url, "://") + 3;
        auth_end += strcspn(auth_end, "/?");
        h->robots_url = xasprintf("%.*s/robots.txt", (int)(auth_end - url), url);
        h->rstate = RB_NEEDED;
    } else {
        h->rstate = RB_READY;
        h->robots_expires = INT64_MAX;
    }
    fr_map_put(&hs->hosts, h);
    return h;
}

static bool fr_options_ok(const struct frontier_options *o)
{
    return !(o->concurrency < 1 || o->max_in_flight < 1 || o->max_attempts < 1 ||
             o->jitter_pct > 50 || o->delay_ms < 0 || o->crawl_delay_cap_ms < 0 ||
             o->retry_after_cap_ms < 0 || o->backoff_ms < 0 || o->backoff_max_ms < o->backoff_ms ||
             o->pause_ms < 0);
}

struct frontier_hosts *frontier_hosts_new(const struct frontier_options *o)
{
    struct frontier_hosts *hs;

    if (!fr_options_ok(o))
        return NULL;
    hs = xcalloc(1, sizeof(*hs));
    hs->o = *o;
    hs->o.hosts = NULL;
    hs->rng = o->seed;
    hs->hosts.key = fr_host_key;
    return hs;
}

void frontier_hosts_free(struct frontier_hosts *hs)
{
    if (hs == NULL)
        return;
    for (size_t i = 0; i < hs->hosts.cap; i++) {
        struct fr_host *h = hs->hosts.slots[i];
        if (h != NULL) {
            free(h->origin);
            free(h->robots_url);
            free(h->users);
            robots_free(h->robots);
            free(h);
        }
    }
    free(hs->hosts.slots);
    free(hs);
}

unsigned frontier_hosts_in_flight(const struct frontier_hosts *hs)
{
    return hs->in_flight;
}

int frontier_hosts_get(const struct frontier_hosts *hs, const char *url, int64_t *delay_ms,
                       unsigned *concurrency, unsigned *in_flight)
{
    char origin[DISCOVER_URL_MAX + 32];
    const struct fr_host *h;

    if (discover_url_origin(url, origin, sizeof(origin)) != 0)
        return -EINVAL;
    if ((h = fr_map_get(&hs->hosts, origin)) == NULL)
        return -ENOENT;
    if (delay_ms)
        *delay_ms = h->delay_ms;
    if (concurrency)
        *concurrency = h->concurrency;
    if (in_flight)
        *in_flight = h->in_flight;
    return 0;
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

    if (!fr_options_ok(o))
        return NULL;
    f = xcalloc(1, sizeof(*f));
    f->o = *o;
    f->hs = o->hosts;
    if (f->hs == NULL) {
        f->hs = frontier_hosts_new(o);
        f->own_hs = true;
    }
    f->hs->users++;
    f->gen_seen = f->hs->gen;
    f->items.key = fr_item_key;
    f->hqs.key = fr_hq_key;
    return f;
}

void frontier_free(struct frontier *f)
{
    struct frontier_hosts *hs;

    if (f == NULL)
        return;
    hs = f->hs;
    for (size_t i = 0; i < f->items.cap; i++) {
        struct fr_item *it = f->items.slots[i];
        if (it != NULL) {
            /* a transfer the caller dropped (shutdown) frees its place */
            if (it->state == ITEM_FLIGHT) {
                it->hq->host->in_flight--;
                hs->in_flight--;
            }
            free(it->url);
            free(it);
        }
    }
    for (size_t i = 0; i < f->hqs.cap; i++) {
        struct fr_hq *hq = f->hqs.slots[i];
        if (hq != NULL) {
            struct fr_host *h = hq->host;

            if (h->rstate == RB_FETCHING && h->robots_owner == f) {
                h->in_flight--;
                hs->in_flight--;
                h->rstate = RB_NEEDED;
                h->robots_owner = NULL;
            }
            fr_host_leave(hs, h, f);
            free(hq->q);
            free(hq);
        }
    }
    free(f->items.slots);
    free(f->hqs.slots);
    free(f->hh);
    hs->users--;
    if (f->own_hs)
        frontier_hosts_free(hs);
    free(f);
}

/* The run's queue for the host of url, created on first sight; the run
 * becomes one of the host's users with its own delay and concurrency. */
static struct fr_hq *fr_hq_of(struct frontier *f, const char *url)
{
    char origin[DISCOVER_URL_MAX + 32];
    struct fr_host *h;
    struct fr_hq *hq;

    if (discover_url_origin(url, origin, sizeof(origin)) != 0)
        return NULL;
    if ((hq = fr_map_get(&f->hqs, origin)) != NULL)
        return hq;
    if ((h = fr_host_of(f->hs, url)) == NULL)
        return NULL;
    /* The first user of a host whose robots.txt was given up on tries
     * again: giving up holds for the runs that saw it fail. */
    if (h->nusers == 0 && h->rstate == RB_GAVE_UP) {
        h->rstate = RB_NEEDED;
        h->robots_failures = 0;
    }
    h->users = xreallocarray(h->users, h->nusers + 1, sizeof(*h->users));
    h->users[h->nusers++] = (struct fr_user){f, f->o.delay_ms, f->o.concurrency};
    fr_host_settle(h);
    hq = xcalloc(1, sizeof(*hq));
    hq->host = h;
    hq->hpos = SIZE_MAX;
    hq->served = ++f->seq; /* hosts never served take turns in order of arrival */
    fr_map_put(&f->hqs, hq);
    f->hs->gen++;
    return hq;
}

int frontier_set_host(struct frontier *f, const char *url, int64_t delay_ms, unsigned concurrency)
{
    struct fr_hq *hq;
    struct fr_user *u;

    if (delay_ms < 0 || concurrency < 1 || (hq = fr_hq_of(f, url)) == NULL)
        return -EINVAL;
    u = fr_host_user(hq->host, f);
    u->delay_ms = delay_ms;
    u->concurrency = concurrency;
    fr_host_settle(hq->host);
    fr_changed(f, hq);
    return 0;
}

int frontier_add(struct frontier *f, const char *url, void *data, int64_t now)
{
    struct fr_hq *hq;
    struct fr_item *it;

    if (fr_map_get(&f->items, url) != NULL)
        return -EEXIST;
    if ((hq = fr_hq_of(f, url)) == NULL)
        return -EINVAL;
    it = xcalloc(1, sizeof(*it));
    it->url = xstrdup(url);
    it->data = data;
    it->hq = hq;
    it->ready_at = now;
    it->seq = ++f->seq;
    it->state = ITEM_QUEUED;
    fr_map_put(&f->items, it);
    fr_q_push(hq, it);
    f->pending++;
    fr_refresh(f);
    fr_hq_update(f, hq);
    return 0;
}

/* ---- Scheduling ------------------------------------------------------- */

/* Count a start on hq's host at now. */
static void fr_start(struct frontier *f, struct fr_hq *hq, int64_t now)
{
    struct fr_host *h = hq->host;

    h->in_flight++;
    f->hs->in_flight++;
    f->in_flight++;
    h->started = true;
    h->last_start = now;
    h->next_start = fr_add_ms(now, fr_gap(f->hs, h));
    hq->served = ++f->seq;
}

/* Count the end of a transfer on hq's host. */
static void fr_end(struct frontier *f, struct fr_hq *hq)
{
    hq->host->in_flight--;
    f->hs->in_flight--;
    f->in_flight--;
}

enum frontier_status frontier_next(struct frontier *f, int64_t now, struct frontier_job *job,
                                   int64_t *wake_at)
{
    struct fr_hq *hq;
    struct fr_host *h;
    struct fr_item *it;

    memset(job, 0, sizeof(*job));
    *wake_at = FRONTIER_NEVER;
    fr_refresh(f);
    if (f->hn == 0)
        return f->pending == 0 && f->in_flight == 0 ? FRONTIER_DRAINED : FRONTIER_WAIT;
    hq = f->hh[0];
    h = hq->host;
    if (h->rstate == RB_GAVE_UP) {
        it = fr_q_pop(hq);
        it->state = ITEM_DONE;
        it->last = h->robots_category;
        f->pending--;
        fr_hq_update(f, hq);
        *job =
            (struct frontier_job){FRONTIER_JOB_GIVEN_UP, it->url, it->data, it->attempts, it->last};
        return FRONTIER_READY;
    }
    if (f->hs->in_flight >= f->hs->o.max_in_flight)
        return FRONTIER_WAIT;
    if (hq->key > now) {
        *wake_at = hq->key;
        return FRONTIER_WAIT;
    }
    if (h->rstate == RB_NEEDED || (h->rstate == RB_READY && now >= h->robots_expires)) {
        h->rstate = RB_FETCHING;
        h->robots_owner = f;
        fr_start(f, hq, now);
        fr_changed(f, hq);
        *job = (struct frontier_job){FRONTIER_JOB_ROBOTS, h->robots_url, NULL, 0, PROV_OK};
        return FRONTIER_READY;
    }
    it = fr_q_pop(hq);
    f->pending--;
    if (h->robots != NULL && !robots_allowed_url(h->robots, it->url)) {
        it->state = ITEM_DONE;
        fr_hq_update(f, hq);
        *job = (struct frontier_job){FRONTIER_JOB_DISALLOWED, it->url, it->data, it->attempts,
                                     PROV_OK};
        return FRONTIER_READY;
    }
    it->state = ITEM_FLIGHT;
    it->attempts++;
    fr_start(f, hq, now);
    fr_changed(f, hq);
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

/* A Retry-After from a reply holds back the whole host, for every run;
 * returns the capped wait, or -1 when there is none. */
static int64_t fr_retry_after(struct frontier_hosts *hs, struct fr_host *h,
                              const struct frontier_outcome *o, int64_t now)
{
    int64_t ra;

    if (o->retry_after_ms < 0)
        return -1;
    ra =
        o->retry_after_ms < hs->o.retry_after_cap_ms ? o->retry_after_ms : hs->o.retry_after_cap_ms;
    h->blocked_until = fr_max(h->blocked_until, fr_add_ms(now, ra));
    return ra;
}

int frontier_done(struct frontier *f, const char *url, const struct frontier_outcome *o,
                  int64_t now, int64_t *retry_at)
{
    struct fr_item *it = fr_map_get(&f->items, url);
    struct frontier_hosts *hs = f->hs;
    struct fr_host *h;
    struct fr_hq *hq;
    int64_t ra, wait;
    int disp;

    if (it == NULL)
        return -ENOENT;
    if (it->state != ITEM_FLIGHT)
        return -EINVAL;
    hq = it->hq;
    h = hq->host;
    fr_end(f, hq);
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
    ra = fr_retry_after(hs, h, o, now);
    if (hs->o.pause_after > 0 && ++h->fail_streak >= hs->o.pause_after) {
        h->blocked_until = fr_max(h->blocked_until, fr_add_ms(now, fr_jitter(hs, hs->o.pause_ms)));
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
        wait = fr_jitter(hs, wait);
    }
    it->ready_at = fr_add_ms(now, wait);
    it->seq = ++f->seq;
    it->state = ITEM_QUEUED;
    fr_q_push(hq, it);
    f->pending++;
    if (retry_at != NULL)
        *retry_at = it->ready_at;
    disp = FRONTIER_RETRY;
out:
    fr_refresh(f);
    fr_changed(f, hq);
    return disp;
}

int frontier_robots_done(struct frontier *f, const char *url, const struct frontier_outcome *o,
                         const char *body, size_t len, int64_t now)
{
    char origin[DISCOVER_URL_MAX + 32];
    struct frontier_hosts *hs = f->hs;
    struct fr_hq *hq;
    struct fr_host *h;
    struct robots_decision d;

    if (discover_url_origin(url, origin, sizeof(origin)) != 0 ||
        (hq = fr_map_get(&f->hqs, origin)) == NULL || hq->host->robots_url == NULL ||
        strcmp(hq->host->robots_url, url) != 0)
        return -ENOENT;
    h = hq->host;
    if (h->rstate != RB_FETCHING || h->robots_owner != f)
        return -EINVAL;
    fr_end(f, hq);
    h->robots_owner = NULL;
    robots_decide(&hs->o.robots_opts, o->http_status, h->robots != NULL, h->robots_failures, now,
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
        h->crawl_delay_ms = robots_crawl_delay_ms(h->robots, hs->o.crawl_delay_cap_ms);
        /* the robots.txt request itself is the last start: a Crawl-delay
         * learnt from it spaces the next one too */
        h->next_start = fr_max(h->next_start, fr_add_ms(h->last_start, fr_gap(hs, h)));
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
        fr_retry_after(hs, h, o, now);
    fr_refresh(f);
    fr_changed(f, hq);
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
