/*
 * soak: RELIABILITY P8 (the soak) on one machine, scaled from 72 hours to
 * what the long suite can afford (30 minutes by default).
 *
 *   soak [-t SECONDS] [-i SAMPLE_INTERVAL]
 *
 * The real provd runs in the foreground in a temporary directory, with a
 * configuration written here, NOTIFY_SOCKET on a datagram socket read in
 * place of systemd (WATCHDOG_USEC 2 s) and one source on tests/fakesite
 * (127.0.0.1 only): a few hundred record pages made from the fixture
 * pages, and fault URLs among them (503 for ever and for a while, 429 with
 * Retry-After, a connection reset and a truncated body on the raw port,
 * a trickling body, a bot challenge, 404s). The source's interval is 20 s,
 * so runs follow each other; between runs this program rewrites a few
 * pages (new versions) and takes one away and back (gone, then back).
 * Two client threads query the control socket all the time, one on fresh
 * connections (status, sources, runs, record pages with filters and
 * cursors, full text, one record, its history, an export now and then, a
 * manual POST /v1/harvest every 15 s, a bad request every tenth time),
 * one on a keep-alive connection that reconnects when the daemon closes
 * it at its per-connection deadline.
 *
 * Every SAMPLE_INTERVAL seconds (10 by default) it samples provd's open
 * descriptors and RSS, its helpers' RSS, the catalog's database and WAL
 * sizes and the record count, and prints a sample line on stderr. At the end it prints
 * a summary and, as the last line on stdout, "ROW P8 PASS|FAIL figures".
 *
 * Criteria. Warm-up is the first 20 % of the run; the growth criteria are
 * judged only for runs of 5 minutes or more (shorter runs have no warm-up
 * worth the name and say "growth not judged"):
 *   - descriptors stable: every sample after warm-up within +-5 of the
 *     first sample after warm-up;
 *   - RSS growth < 10 %: the mean RSS of the last 10 % of the run against
 *     the mean of the 10 % that follows warm-up (20 % to 30 % of the run).
 * Always judged: provd alive at every sample and its watchdog pings
 * coming, descriptors bounded (never more than FD_BOUND), no request
 * without a reply, no 500 reply (503 is the daemon's documented answer to
 * load and is counted, not failed), at least one finished run (a short
 * run may end inside the first one: records stored then), a health query
 * answering at the end (the slowest of three within 100 ms, 200 ms in
 * sanitizer builds), and SIGTERM ending provd with status 0 within 10 s.
 * Exit status 0 only when all of them hold.
 */
#include "daemon_http.h"
#include "daemon_proc.h"
#include "harvest_world.h"
#include "strbuf.h"
#include "xmalloc.h"

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef SOURCE_ROOT
#define SOURCE_ROOT "."
#endif

#if defined(__SANITIZE_ADDRESS__)
#define SOAK_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SOAK_SANITIZED 1
#endif
#endif
#ifdef SOAK_SANITIZED
#define HEALTH_LIMIT_MS 200.0
#else
#define HEALTH_LIMIT_MS 100.0
#endif

#define N_PAGES        300  /* record pages of the source */
#define N_SITES        4    /* fakesites (hosts) */
#define INTERVAL_S     20   /* the source's interval */
#define JUDGE_MIN_S    300  /* growth is judged from this run length on */
#define FD_SLACK       5    /* P8: descriptors stable within +-5 */
#define FD_BOUND       64   /* descriptors never above this, in any run */
#define RSS_GROWTH_MAX 10.0 /* P8: per cent */
#define REQ_TIMEOUT_MS 10000
#define STOP_LIMIT_MS  10000
#define POST_EVERY_MS  15000
#define CLIENT_PAUSE   20 /* ms between a client's requests */

struct sample {
    double t;           /* seconds since READY=1 */
    int fds;            /* provd's open descriptors */
    long rss_kb;        /* provd's RSS */
    long helper_kb;     /* its children's RSS, summed */
    long long wal;      /* bytes of catalog.db-wal */
    long long db;       /* bytes of catalog.db */
    long records;       /* catalog.records of /v1/status; -1 unknown */
    long long last_run; /* newest finished run id */
    unsigned long api;  /* replies so far */
    unsigned watchdog;  /* WATCHDOG=1 since the previous sample */
};

/* What the client threads count (under lock). */
struct counts {
    unsigned long by_class[6]; /* replies by status / 100 (0: other) */
    unsigned long e500;        /* 500 replies */
    unsigned long errors;      /* requests without a reply */
    unsigned long closed;      /* garbage requests closed without a reply */
    unsigned long reconnects;  /* keep-alive connections the daemon ended */
};

static struct {
    char *dir, *site, *sock, *db, *conf, *log;
    const char *provd;
    pid_t pid;
    struct hw_site fs[N_SITES];
    struct daemon_notify nt;
    struct hw_fixtures fx;

    pthread_mutex_t lock;
    struct counts c;
    char key[64];     /* a record key seen in a listing */
    char cursor[256]; /* the last "next" cursor */
    long long run_id; /* the newest run id seen */
    atomic_bool stop;
} S = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* ---- small helpers --------------------------------------------------- */

static double now_s(void)
{
    return daemon_http_now_ms() / 1000.0;
}

static long long file_size(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0 ? (long long)st.st_size : 0;
}

/* RSS of every process whose parent is pid (the extraction helpers). */
static long children_rss_kb(pid_t pid)
{
    DIR *d = opendir("/proc");
    struct dirent *e;
    long sum = 0;

    if (d == NULL)
        return -1;
    while ((e = readdir(d)) != NULL) {
        char path[64], buf[512], *p;
        pid_t child = (pid_t)atoi(e->d_name);
        FILE *f;
        int ppid = 0;

        if (child <= 0)
            continue;
        snprintf(path, sizeof(path), "/proc/%d/stat", (int)child);
        f = fopen(path, "r");
        if (f == NULL)
            continue;
        p = fgets(buf, sizeof(buf), f) ? strrchr(buf, ')') : NULL;
        fclose(f);
        /* after the command name: " S ppid ..." */
        if (p && sscanf(p + 1, " %*c %d", &ppid) == 1 && ppid == pid) {
            long kb = daemon_proc_rss_kb(child);

            if (kb > 0)
                sum += kb;
        }
    }
    closedir(d);
    return sum;
}

static void count_reply(int rc, const struct daemon_http_reply *r, const char *what)
{
    pthread_mutex_lock(&S.lock);
    if (rc < 0 || r->status == 0) {
        if (S.c.errors++ < 10)
            fprintf(stderr, "soak: %s: no reply (rc %d%s)\n", what, rc,
                    r->timed_out ? ", timed out" : "");
    } else {
        S.c.by_class[r->status >= 100 && r->status < 600 ? r->status / 100 : 0]++;
        if (r->status == 500 && S.c.e500++ < 10)
            fprintf(stderr, "soak: %s: 500 %.200s\n", what, r->body);
    }
    pthread_mutex_unlock(&S.lock);
}

/* One request on a fresh connection, counted; the parsed body of a JSON
 * reply with status 200 (the caller decrefs it), else NULL. */
static json_t *api(const char *method, const char *target, const char *body)
{
    struct daemon_http_reply r;
    int rc = daemon_http_request(S.sock, method, target, body, REQ_TIMEOUT_MS, &r);
    json_t *o = NULL;
    char what[300];

    snprintf(what, sizeof(what), "%s %s", method, target);
    count_reply(rc, &r, what);
    if (rc == 0 && r.status == 200 && r.body_len && r.body[0] == '{')
        o = json_loadb(r.body, r.body_len, 0, NULL);
    daemon_http_reply_clear(&r);
    return o;
}

/* Remember a key and the cursor of a records listing. */
static void note_listing(json_t *o)
{
    json_t *recs = json_object_get(o, "records");
    const char *next = json_string_value(json_object_get(o, "next"));
    size_t n = json_array_size(recs);

    pthread_mutex_lock(&S.lock);
    if (n) {
        const char *k =
            json_string_value(json_object_get(json_array_get(recs, (size_t)rand() % n), "key"));

        if (k && strlen(k) < sizeof(S.key))
            snprintf(S.key, sizeof(S.key), "%s", k);
    }
    snprintf(S.cursor, sizeof(S.cursor), "%s", next && strlen(next) < 200 ? next : "");
    pthread_mutex_unlock(&S.lock);
}

/* The newest run id named by GET /v1/sources (running or last). */
static long long newest_run(void)
{
    json_t *o = api("GET", "/v1/sources", NULL), *src;
    long long id = 0;
    size_t i;

    json_array_foreach(json_object_get(o, "sources"), i, src)
    {
        json_int_t a = json_integer_value(json_object_get(src, "run_id"));
        json_int_t b =
            json_integer_value(json_object_get(json_object_get(src, "last_run"), "run_id"));

        if (a > id)
            id = a;
        if (b > id)
            id = b;
    }
    json_decref(o);
    return id;
}

/* ---- the clients ----------------------------------------------------- */

/* Fresh connections, every endpoint in turn. */
static void *client_fresh(void *arg)
{
    static const char *const bad[] = {
        "GET /v1/records?limit=-1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        "GET /v1/nothing-here HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        "DELETE /v1/status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        "GET /v1/records?archive=%ff%fe HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        "hello\r\n\r\n",
    };
    double last_post = daemon_http_now_ms();
    unsigned long i = 0;

    (void)arg;
    while (!atomic_load(&S.stop)) {
        char key[64], cursor[256], *target = NULL, *esc;
        long long run;
        json_t *o = NULL;

        pthread_mutex_lock(&S.lock);
        snprintf(key, sizeof(key), "%s", S.key);
        snprintf(cursor, sizeof(cursor), "%s", S.cursor);
        run = S.run_id;
        pthread_mutex_unlock(&S.lock);

        if (daemon_http_now_ms() - last_post >= POST_EVERY_MS) {
            /* 202 (started or merged) or 429 (cool-down): both fine */
            json_decref(api("POST", "/v1/harvest", "source=soak"));
            last_post = daemon_http_now_ms();
        }
        switch (i++ % 12) {
        case 0:
            o = api("GET", "/v1/status", NULL);
            break;
        case 1:
            o = api("GET", "/v1/records?limit=20", NULL);
            note_listing(o);
            break;
        case 2:
            o = api("GET", "/v1/records?archive=GARF&limit=10", NULL);
            break;
        case 3:
            o = api("GET", "/v1/records?q=memorandum&limit=10", NULL);
            break;
        case 4:
            if (key[0]) {
                esc = daemon_http_escape(key);
                target = xasprintf("/v1/records/%s?source=soak", esc);
                free(esc);
                o = api("GET", target, NULL);
            }
            break;
        case 5:
            if (key[0]) {
                esc = daemon_http_escape(key);
                target = xasprintf("/v1/records/%s/history?source=soak", esc);
                free(esc);
                o = api("GET", target, NULL);
            }
            break;
        case 6:
            o = api("GET", "/v1/sources", NULL);
            break;
        case 7:
            if (run > 0) {
                target = xasprintf("/v1/runs/%lld", run);
                o = api("GET", target, NULL);
            }
            break;
        case 8:
            esc = daemon_http_escape(cursor);
            target = cursor[0] ? xasprintf("/v1/records?limit=50&cursor=%s", esc)
                               : xstrdup("/v1/records?limit=50&status=active&fund=1");
            free(esc);
            o = api("GET", target, NULL);
            note_listing(o);
            break;
        case 9: {
            /* a bad request: 4xx, or a close for garbage */
            const char *req = bad[(i / 12) % (sizeof(bad) / sizeof(bad[0]))];
            struct daemon_http_reply r;
            int rc = daemon_http_raw(S.sock, req, strlen(req), REQ_TIMEOUT_MS, &r);

            if (r.status == 0 && r.closed && !r.timed_out && strncmp(req, "hello", 5) == 0) {
                pthread_mutex_lock(&S.lock);
                S.c.closed++;
                pthread_mutex_unlock(&S.lock);
            } else {
                count_reply(rc, &r, req);
            }
            daemon_http_reply_clear(&r);
            break;
        }
        case 10:
            o = api("GET", "/v1/records?contributor=Goldberg&since=1900-01-01&limit=5", NULL);
            break;
        case 11:
            /* a whole export now and then (every 60th request) */
            if ((i / 12) % 5 == 0)
                o = api("GET", "/v1/export?format=jsonl", NULL);
            else
                o = api("GET", "/v1/records?translator=Gary%20Goldberg&limit=5", NULL);
            break;
        }
        json_decref(o);
        free(target);
        daemon_proc_sleep_ms(CLIENT_PAUSE);
    }
    return NULL;
}

/* One keep-alive connection, reconnecting when the daemon ends it. */
static void *client_keepalive(void *arg)
{
    static const char *const targets[] = {"/v1/status", "/v1/records?limit=5",
                                          "/v1/records?q=Stalin&limit=5"};
    unsigned long i = 0;
    int fd = -1;

    (void)arg;
    while (!atomic_load(&S.stop)) {
        const char *t = targets[i++ % 3];
        struct daemon_http_reply r;
        int rc = -ENOTCONN;

        if (fd >= 0)
            rc = daemon_http_keepalive(fd, "GET", t, REQ_TIMEOUT_MS, &r);
        if (fd < 0 || (rc < 0 && r.status == 0 && !r.timed_out)) {
            /* never connected, or ended by the daemon (its per-connection
             * deadline: EPIPE on the send, or EOF or a reset on the read);
             * the request is made again on a new connection, and a failure
             * there counts */
            if (fd >= 0) {
                daemon_http_reply_clear(&r);
                close(fd);
                pthread_mutex_lock(&S.lock);
                S.c.reconnects++;
                pthread_mutex_unlock(&S.lock);
            }
            fd = daemon_http_connect(S.sock);
            rc = fd >= 0 ? daemon_http_keepalive(fd, "GET", t, REQ_TIMEOUT_MS, &r) : fd;
            if (fd < 0)
                memset(&r, 0, sizeof(r));
        }
        count_reply(rc, &r, t);
        if (rc < 0 || r.closed) {
            if (fd >= 0)
                close(fd);
            fd = -1;
        }
        daemon_http_reply_clear(&r);
        daemon_proc_sleep_ms(CLIENT_PAUSE);
    }
    if (fd >= 0)
        close(fd);
    return NULL;
}

/* ---- the world ------------------------------------------------------- */

/* Page i of the site, as revision rev (0: the first). */
static int write_page(unsigned i, unsigned rev)
{
    const struct hw_fixture *f = &S.fx.v[i % S.fx.n];
    char id[32], suffix[64], rel[64], *path, *page;
    size_t len = 0;
    int rc;

    snprintf(id, sizeof(id), "%u", 700000 + i);
    suffix[0] = '\0';
    if (rev)
        snprintf(suffix, sizeof(suffix), " (revision %u)", rev);
    snprintf(rel, sizeof(rel), "rec/p%04u.html", i);
    page = hw_page(f, id, suffix, &len);
    if (page == NULL) {
        fprintf(stderr, "soak: fixture %s has not the expected shape\n", f->name);
        return -1;
    }
    path = hw_path(S.site, rel);
    rc = hw_write(path, page, len);
    free(path);
    free(page);
    return rc;
}

/* The fault URLs, asked for on every run: on which fakesite, the path,
 * and whether it is a redirect to that site's raw port (whose faults are
 * reached through a redirect, so that robots.txt comes from a healthy
 * host). provd pauses a host for minutes after five retryable failures in
 * a row (RELIABILITY N15), so the retryable faults are spread over three
 * hosts, at most two on each (four failed attempts at most), and every
 * host also serves good pages. */
static const struct {
    unsigned site;
    const char *path;
    bool raw;
} faults[] = {
    {0, "/fault/fail/503/40/soak-b", false}, /* 503 for the first runs */
    {0, "/fault/delay/700", false},
    {0, "/fault/challenge", false},
    {0, "/rec/missing-1.html", false},
    {0, "/rec/missing-2.html", false},
    {1, "/fault/status/503", false}, /* 503 on every run */
    {1, "/fault/429/2", false},
    {2, "/fault/trickle/300?bytes=200", false},
    {2, "/reset", true},
    {3, "/fault/fail/503/2/soak-a", false}, /* 503 twice, on the first run */
    {3, "/truncated", true},
};

static void add_fault(struct strbuf *b, size_t i)
{
    const struct hw_site *s = &S.fs[faults[i].site];

    if (faults[i].raw)
        strbuf_addf(b, "http://127.0.0.1:%u/fault/redirect?to=http://127.0.0.1:%u%s\n", s->port,
                    s->raw, faults[i].path);
    else
        strbuf_addf(b, "http://127.0.0.1:%u%s\n", s->port, faults[i].path);
}

/* The pages, the fakesites, the URL list and the configuration. */
static int world_make(long seconds)
{
    char *pages =
        xasprintf("%s/tests/data/pages",
                  getenv("PROVD_SOURCE_ROOT") ? getenv("PROVD_SOURCE_ROOT") : SOURCE_ROOT);
    char *lifetime = xasprintf("%ld", seconds + 600);
    const char *args[] = {"--lifetime", lifetime, NULL};
    const char *fakesite = daemon_proc_program("PROVD_FAKESITE", "tests/fakesite/fakesite");
    struct strbuf b = STRBUF_INIT, allow = STRBUF_INIT;
    char *urls = NULL;
    int rc = -1;

    if (hw_fixtures_load(pages, &S.fx) < 0 || S.fx.n == 0) {
        fprintf(stderr, "soak: no fixture pages in %s\n", pages);
        goto out;
    }
    for (unsigned i = 0; i < N_PAGES; i++)
        if (write_page(i, 0) < 0)
            goto out;
    for (unsigned k = 0; k < N_SITES; k++) {
        char name[32];

        snprintf(name, sizeof(name), "fakesite%u", k);
        if (hw_site_start(&S.fs[k], fakesite, S.dir, name, S.site, args) < 0) {
            fprintf(stderr, "soak: fakesite (%s) did not start: %s\n", fakesite,
                    hw_tail(S.fs[k].stderr_to ? S.fs[k].stderr_to : "/dev/null", 500));
            goto out;
        }
        strbuf_addf(&allow, "%s127.0.0.1:%u, 127.0.0.1:%u", k ? ", " : "", S.fs[k].port,
                    S.fs[k].raw);
    }
    /* the record pages on the first site, the faults among them; a few
     * of the pages again on each other site (aliases of the same
     * records), so that every host answers something well */
    for (unsigned i = 0; i < N_PAGES; i++) {
        size_t every = N_PAGES / (sizeof(faults) / sizeof(faults[0]));

        strbuf_addf(&b, "http://127.0.0.1:%u/rec/p%04u.html\n", S.fs[0].port, i);
        if (i % every == every / 2 && i / every < sizeof(faults) / sizeof(faults[0]))
            add_fault(&b, i / every);
    }
    for (unsigned k = 1; k < N_SITES; k++)
        for (unsigned i = 0; i < 4; i++)
            strbuf_addf(&b, "http://127.0.0.1:%u/rec/p%04u.html\n", S.fs[k].port, 100 + 10 * k + i);
    urls = hw_path(S.dir, "soak.urls");
    if (hw_write(urls, strbuf_str(&b), b.len) < 0)
        goto out;
    strbuf_reset(&b);
    strbuf_addf(&b,
                "[provd]\n"
                "database = %s\n"
                "socket = %s\n"
                "allow-addresses = %s\n"
                "connect-timeout = 1s\n"
                "transfer-timeout = 5s\n"
                "low-speed-time = 1s\n"
                "retries = 2\n"
                "retry-after-max = 5s\n"
                "manual-cooldown = 10s\n"
                "log-level = info\n"
                "\n"
                "[source soak]\n"
                "urls = %s\n"
                "interval = %ds\n"
                "delay = 0\n"
                "concurrency = 2\n",
                S.db, S.sock, strbuf_str(&allow), urls, INTERVAL_S);
    rc = hw_write(S.conf, strbuf_str(&b), b.len);
out:
    strbuf_release(&b);
    strbuf_release(&allow);
    free(urls);
    free(pages);
    free(lifetime);
    return rc;
}

static int daemon_start(void)
{
    char *nsock = hw_path(S.dir, "notify.sock");
    char *env_notify = xasprintf("NOTIFY_SOCKET=%s", nsock);
    const char *env[] = {
        env_notify, "WATCHDOG_USEC=2000000", "WATCHDOG_PID", "LISTEN_FDS", "LISTEN_PID", NULL};
    const char *argv[] = {S.provd, "-c", S.conf, NULL};
    struct daemon_proc_opts o = {.env = env, .log = S.log, .uid = -1};
    int rc = -1;

    if (daemon_notify_open(&S.nt, nsock) < 0) {
        fprintf(stderr, "soak: cannot bind %s\n", nsock);
        goto out;
    }
    S.pid = daemon_proc_spawn(argv, &o);
    if (S.pid <= 0 || !daemon_notify_wait(&S.nt, "READY=1", 60000)) {
        fprintf(stderr, "soak: provd did not say READY=1; its log ends:\n%s\n",
                hw_tail(S.log, 3000));
        goto out;
    }
    rc = 0;
out:
    free(env_notify);
    free(nsock);
    return rc;
}

/* ---- samples and the summary ----------------------------------------- */

static void take_sample(struct sample *s, double t0)
{
    json_t *o = api("GET", "/v1/status", NULL);
    json_t *rec = json_object_get(json_object_get(o, "catalog"), "records");
    char *wal = xasprintf("%s-wal", S.db);

    s->t = now_s() - t0;
    s->fds = daemon_proc_fds(S.pid);
    s->rss_kb = daemon_proc_rss_kb(S.pid);
    s->helper_kb = children_rss_kb(S.pid);
    s->wal = file_size(wal);
    s->db = file_size(S.db);
    s->records = json_is_integer(rec) ? (long)json_integer_value(rec) : -1;
    json_decref(o);
    s->last_run = newest_run();
    pthread_mutex_lock(&S.lock);
    if (s->last_run > S.run_id)
        S.run_id = s->last_run;
    s->api = 0;
    for (int i = 0; i < 6; i++)
        s->api += S.c.by_class[i];
    pthread_mutex_unlock(&S.lock);
    s->watchdog = daemon_notify_count(&S.nt, "WATCHDOG=1");
    daemon_notify_skip(&S.nt);
    free(wal);
}

static void print_sample(FILE *f, const char *tag, const struct sample *s)
{
    fprintf(f,
            "%s t=%.0fs fds=%d rss=%.1fMB helpers=%.1fMB db=%.2fMB wal=%.2fMB records=%ld "
            "run=%lld api=%lu watchdog=%u\n",
            tag, s->t, s->fds, s->rss_kb / 1024.0, s->helper_kb / 1024.0, s->db / 1048576.0,
            s->wal / 1048576.0, s->records, s->last_run, s->api, s->watchdog);
}

/* Mean RSS (kB) of the samples with from <= t < to; -1 when none. */
static double mean_rss(const struct sample *v, size_t n, double from, double to)
{
    double sum = 0;
    size_t k = 0;

    for (size_t i = 0; i < n; i++)
        if (v[i].t >= from && v[i].t < to && v[i].rss_kb > 0) {
            sum += (double)v[i].rss_kb;
            k++;
        }
    return k ? sum / (double)k : -1;
}

/* Runs finished (done or failed) up to id last, and their failed fetches. */
static unsigned long finished_runs(long long last, unsigned long *failed)
{
    unsigned long n = 0;

    *failed = 0;
    for (long long id = 1; id <= last; id++) {
        char target[64];
        json_t *o;
        const char *st;

        snprintf(target, sizeof(target), "/v1/runs/%lld", id);
        o = api("GET", target, NULL);
        st = json_string_value(json_object_get(o, "state"));
        if (st && (strcmp(st, "done") == 0 || strcmp(st, "failed") == 0)) {
            n++;
            *failed += (unsigned long)json_integer_value(
                json_object_get(json_object_get(o, "counters"), "failed"));
        }
        json_decref(o);
    }
    return n;
}

/* The slowest of three health queries (GET /v1/status on new
 * connections), in ms; -1 when one did not answer 200. */
static double health(void)
{
    double worst = 0;

    for (int i = 0; i < 3; i++) {
        struct daemon_http_reply r;
        int rc = daemon_http_request(S.sock, "GET", "/v1/status", NULL, REQ_TIMEOUT_MS, &r);
        bool ok = rc == 0 && r.status == 200;

        if (r.ms > worst)
            worst = r.ms;
        daemon_http_reply_clear(&r);
        if (!ok)
            return -1;
        daemon_proc_sleep_ms(50);
    }
    return worst;
}

static void usage(void)
{
    fprintf(stderr, "usage: soak [-t SECONDS] [-i SAMPLE_INTERVAL]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    long seconds = 1800, every = 10;
    struct sample *v = NULL;
    size_t n = 0, cap = 0;
    pthread_t th[2];
    bool threads = false, pass = true, judged;
    double t0, end, hms = -1, stop_ms = 0;
    unsigned rev = 0, gone_page = 7;
    int opt, st = -1;
    struct strbuf why = STRBUF_INIT, row = STRBUF_INIT;

    while ((opt = getopt(argc, argv, "t:i:")) != -1) {
        char *e = NULL;

        if (opt != 't' && opt != 'i')
            usage();
        if (opt == 't')
            seconds = strtol(optarg, &e, 10);
        else
            every = strtol(optarg, &e, 10);
        if (*e != '\0' || (opt == 't' ? seconds < 10 : every < 1))
            usage();
    }
    if (optind != argc)
        usage();
    signal(SIGPIPE, SIG_IGN);
    S.nt.fd = -1;
    S.provd = daemon_proc_program("PROVD_BIN", "daemon/provd");
    if (access(S.provd, X_OK) != 0) {
        fprintf(stderr, "soak: no provd at %s (set PROVD_BIN or PROVD_BUILD_ROOT)\n", S.provd);
        printf("ROW P8 FAIL no provd binary\n");
        return 1;
    }
    S.dir = daemon_proc_tmpdir("provd-soak");
    if (S.dir == NULL) {
        printf("ROW P8 FAIL no temporary directory\n");
        return 1;
    }
    chmod(S.dir, 0700);
    S.site = hw_path(S.dir, "site");
    S.sock = hw_path(S.dir, "provd.sock");
    S.db = hw_path(S.dir, "catalog.db");
    S.conf = hw_path(S.dir, "provd.conf");
    S.log = hw_path(S.dir, "provd.log");
    mkdir(S.site, 0755);
    if (world_make(seconds) < 0 || daemon_start() < 0) {
        strbuf_adds(&why, "set-up failed; ");
        pass = false;
        goto stop;
    }
    fprintf(stderr, "soak: %ld s, a sample every %ld s, provd pid %d, in %s\n", seconds, every,
            (int)S.pid, S.dir);

    t0 = now_s();
    end = t0 + (double)seconds;
    if (pthread_create(&th[0], NULL, client_fresh, NULL) != 0 ||
        pthread_create(&th[1], NULL, client_keepalive, NULL) != 0) {
        strbuf_adds(&why, "no client threads; ");
        pass = false;
        goto stop;
    }
    threads = true;
    for (;;) {
        double next = now_s() + (double)every;
        struct sample *s;

        if (n == cap) {
            cap = cap ? 2 * cap : 256;
            v = xreallocarray(v, cap, sizeof(*v));
        }
        s = &v[n++];
        take_sample(s, t0);
        print_sample(stderr, "sample", s);
        if (daemon_proc_wait(S.pid, 0, &st) == 0) {
            S.pid = 0;
            strbuf_addf(&why, "provd died at %.0f s (wait status %d); ", s->t, st);
            pass = false;
            break;
        }
        if (n > 1 && s->watchdog == 0) {
            strbuf_addf(&why, "no watchdog ping in the %.0f s before t=%.0f s; ", (double)every,
                        s->t);
            pass = false;
        }
        if (now_s() >= end)
            break;
        /* between runs: two pages change, one page leaves or comes back */
        rev++;
        write_page((rev * 2) % N_PAGES, rev);
        write_page((rev * 2 + 1) % N_PAGES, rev);
        if (rev % 2) {
            char rel[64], *path;

            snprintf(rel, sizeof(rel), "rec/p%04u.html", gone_page);
            path = hw_path(S.site, rel);
            unlink(path);
            free(path);
        } else {
            write_page(gone_page, rev);
        }
        while (now_s() < next && now_s() < end)
            daemon_proc_sleep_ms(200);
    }
    atomic_store(&S.stop, true);
    pthread_join(th[0], NULL);
    pthread_join(th[1], NULL);
    threads = false;

stop:
    if (threads) {
        atomic_store(&S.stop, true);
        pthread_join(th[0], NULL);
        pthread_join(th[1], NULL);
    }
    if (S.pid > 0 && n > 0) {
        const struct sample *first = &v[0], *last = &v[n - 1];
        int fmin = first->fds, fmax = first->fds, ref_fds = first->fds;
        long long wal_max = 0;
        long rmin = -1, rmax = 0;
        unsigned long runs, failed, replies = 0;
        double span = last->t, base = -1, tail = -1, growth = 0;
        size_t ref = 0;

        judged = (double)seconds >= JUDGE_MIN_S;
        S.run_id = newest_run();
        runs = finished_runs(S.run_id, &failed);
        hms = health();
        for (size_t i = 0; i < n; i++) {
            if (v[i].rss_kb > 0 && (rmin < 0 || v[i].rss_kb < rmin))
                rmin = v[i].rss_kb;
            if (v[i].rss_kb > rmax)
                rmax = v[i].rss_kb;
            if (v[i].fds < fmin)
                fmin = v[i].fds;
            if (v[i].fds > fmax)
                fmax = v[i].fds;
            if (v[i].wal > wal_max)
                wal_max = v[i].wal;
        }
        for (int i = 0; i < 6; i++)
            replies += S.c.by_class[i];

        fprintf(stderr, "\nsummary\n");
        print_sample(stderr, "  first", first);
        print_sample(stderr, "  last ", last);
        fprintf(stderr, "  fds min %d max %d; RSS min %.1f MB, max %.1f MB\n", fmin, fmax,
                rmin / 1024.0, rmax / 1024.0);
        if (judged) {
            /* warm-up: the first 20 % of the run */
            for (ref = 0; ref < n && v[ref].t < 0.2 * span; ref++)
                ;
            if (ref == n)
                ref = n - 1;
            ref_fds = v[ref].fds;
            for (size_t i = ref; i < n; i++)
                if (abs(v[i].fds - ref_fds) > FD_SLACK) {
                    strbuf_addf(&why, "fds %d at %.0f s, %d after warm-up; ", v[i].fds, v[i].t,
                                ref_fds);
                    pass = false;
                    break;
                }
            base = mean_rss(v, n, 0.2 * span, 0.3 * span);
            tail = mean_rss(v, n, 0.9 * span, span + 1);
            if (base <= 0 || tail <= 0) {
                strbuf_adds(&why, "too few samples for the RSS means; ");
                pass = false;
            } else {
                growth = (tail - base) / base * 100.0;
                if (growth >= RSS_GROWTH_MAX) {
                    strbuf_addf(&why, "RSS grew %.1f %%; ", growth);
                    pass = false;
                }
            }
            fprintf(stderr,
                    "  warm-up: the first 20 %% (%.0f s); fds after it %d, at the end %d (max "
                    "%d, criterion +-%d)\n"
                    "  RSS mean 20-30 %% of the run %.1f MB, last 10 %% %.1f MB: %+.1f %% "
                    "(criterion < %.0f %%)\n",
                    0.2 * span, ref_fds, last->fds, fmax, FD_SLACK, base / 1024, tail / 1024,
                    growth, RSS_GROWTH_MAX);
        } else {
            fprintf(stderr, "  growth not judged for runs under %d minutes\n", JUDGE_MIN_S / 60);
        }
        if (fmax > FD_BOUND) {
            strbuf_addf(&why, "fds reached %d (bound %d); ", fmax, FD_BOUND);
            pass = false;
        }
        fprintf(stderr,
                "  WAL max %.2f MB, at the end %.2f MB; records %ld\n"
                "  runs finished %lu (failed fetches in them %lu)\n"
                "  API replies %lu: 1xx %lu, 2xx %lu, 3xx %lu, 4xx %lu, 5xx %lu (500: %lu); "
                "without a reply %lu; garbage closed %lu; keep-alive reconnects %lu\n"
                "  health at the end: slowest of 3 %.1f ms (limit %.0f)\n",
                wal_max / 1048576.0, last->wal / 1048576.0, last->records, runs, failed, replies,
                S.c.by_class[1], S.c.by_class[2], S.c.by_class[3], S.c.by_class[4], S.c.by_class[5],
                S.c.e500, S.c.errors, S.c.closed, S.c.reconnects, hms, HEALTH_LIMIT_MS);
        if (S.c.errors) {
            strbuf_addf(&why, "%lu requests without a reply; ", S.c.errors);
            pass = false;
        }
        if (S.c.e500) {
            strbuf_addf(&why, "%lu replies 500; ", S.c.e500);
            pass = false;
        }
        /* a short run (in a sanitizer build, on a busy machine) may end
         * inside the first harvest: it must have stored records */
        if (judged ? runs == 0 : last->records <= 0) {
            strbuf_adds(&why, judged ? "no run finished; " : "no record stored; ");
            pass = false;
        }
        if (hms < 0 || hms > HEALTH_LIMIT_MS) {
            strbuf_addf(&why, "health query at the end: %.1f ms; ", hms);
            pass = false;
        }
        {
            double t = daemon_http_now_ms();

            kill(S.pid, SIGTERM);
            if (daemon_proc_wait(S.pid, STOP_LIMIT_MS, &st) < 0) {
                strbuf_addf(&why, "SIGTERM did not end provd in %d ms; ", STOP_LIMIT_MS);
                daemon_proc_kill(S.pid);
                pass = false;
            } else if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
                strbuf_addf(&why, "provd ended with wait status %d after SIGTERM; ", st);
                pass = false;
            }
            stop_ms = daemon_http_now_ms() - t;
            S.pid = 0;
            fprintf(stderr, "  SIGTERM: ended in %.0f ms, wait status %d\n", stop_ms, st);
        }
        if (span >= 60)
            strbuf_addf(&row, "%.0f min", span / 60);
        else
            strbuf_addf(&row, "%.0f s", span);
        strbuf_addf(&row, ": fds %d->%d (max %d), RSS %.1f->%.1f MB", judged ? ref_fds : first->fds,
                    last->fds, fmax, (judged ? base : (double)first->rss_kb) / 1024,
                    (judged ? tail : (double)last->rss_kb) / 1024);
        if (judged)
            strbuf_addf(&row, " (%+.1f %%)", growth);
        else
            strbuf_adds(&row, " (growth not judged under 5 min)");
        strbuf_addf(&row, ", WAL max %.1f MB, %lu runs, %lu API replies (%lu 5xx)",
                    wal_max / 1048576.0, runs, replies, S.c.by_class[5]);
    } else if (S.pid > 0) {
        daemon_proc_kill(S.pid);
        S.pid = 0;
    }
    if (why.len) {
        fprintf(stderr, "soak: FAIL: %s\nprovd's log ends:\n%s\n", strbuf_str(&why),
                hw_tail(S.log, 2000));
    }
    daemon_notify_close(&S.nt);
    for (unsigned k = 0; k < N_SITES; k++)
        if (S.fs[k].pid > 0)
            hw_site_stop(&S.fs[k]);
    hw_fixtures_free(&S.fx);
    if (getenv("PROVD_KEEP_TMP") == NULL)
        daemon_proc_rmtree(S.dir);
    else
        fprintf(stderr, "soak: kept %s\n", S.dir);
    fflush(stderr);
    printf("ROW P8 %s %s%s%s\n", pass ? "PASS" : "FAIL", row.len ? strbuf_str(&row) : "",
           pass ? "" : " -- ", pass ? "" : strbuf_str(&why));
    strbuf_release(&row);
    strbuf_release(&why);
    free(v);
    free(S.site);
    free(S.sock);
    free(S.db);
    free(S.conf);
    free(S.log);
    free(S.dir);
    return pass ? 0 : 1;
}
