/*
 * bench_daemon: provd as a daemon under query load. A catalog of N
 * generated records (tests/daemon_gen.c, 1,000,000 by default) is built
 * once with catalog_import() (or reused with -C); provd runs on a copy of
 * it in the foreground with a harvest going (tests/fakesite serving record
 * pages, 50 ms between requests), and client threads speak raw HTTP/1.1 on
 * the UNIX socket, each on a keep-alive connection of its own.
 *
 * For an indexed field query (archive + fund, or translator) and a
 * full-text query, each with the API's default page of 50 records, it
 * prints the median, p99 and max latency, the throughput, and provd's CPU
 * time per query, for:
 *   - the baseline: what GET /v1/records does inside provd (the catalog
 *     query, the records' JSON, the reply's text) done in this process on
 *     a reader handle of its own, one query after another;
 *   - one client, back to back;
 *   - C clients (50), each sending one request a second, then four a
 *     second (latency counts from when a request was due, so a late reply
 *     also delays the requests behind it), then back to back.
 * Then provd's RSS, and its wake-ups per minute when idle with no run due.
 *
 * Usage: bench_daemon [-n RECORDS] [-c CLIENTS] [-t SECONDS] [-i SECONDS]
 *                     [-C CATALOG] [-P PAGES] [-q] [-k] [-H] [-I]
 *   -n  records in the catalog (default 1000000)
 *   -c  concurrent clients (default 50)
 *   -t  seconds of each load with C clients (default 20; half for the rest)
 *   -i  seconds of each idle measurement (default 60)
 *   -C  the catalog file: built there when missing, reused when it holds
 *       RECORDS records (provd gets a copy; this one is never changed)
 *   -P  a directory of record pages for the harvest (bench/gen_pages.py
 *       makes some); default: tests/data/pages copied into 200 folders
 *   -q  quick: 20,000 records, 3 s loads, 5 s idle (about a minute)
 *   -k  keep the working directory
 *   -H  no harvest during the loads
 *   -I  no idle measurement
 *   -N  run everything at this nice value (-10 keeps other work on a
 *       shared machine from standing in for provd's own latency)
 *
 * Wake-ups are counted twice over the idle window: as the context switches
 * of provd's threads and of its extraction helpers (/proc/PID/task/TID/
 * status; each return from a blocking epoll_wait() or read() is one), and
 * then, when strace is installed and may trace, as the epoll_wait() calls
 * of `strace -f -c -e trace=epoll_wait -p PID`. WATCHDOG_USEC is 30 s, as
 * WatchdogSec= in provd.service: its keep-alive is one wake-up every 15 s.
 *
 * The binaries are found through $PROVD_BIN and $PROVD_FAKESITE, else in
 * the build directory this program lives in.
 */
#include "catalog.h"
#include "daemon_gen.h"
#include "daemon_http.h"
#include "daemon_proc.h"
#include "strbuf.h"
#include "xmalloc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef SOURCE_ROOT
#define SOURCE_ROOT "."
#endif

#define BENCH_WATCHDOG_USEC "30000000"
#define BENCH_MAX_SAMPLES   2000000

struct bench {
    unsigned long records;
    unsigned clients;
    unsigned load_s, idle_s;
    const char *catalog, *pages;
    bool keep, no_harvest, no_idle;
    int nice; /* 0: as started */
    char *dir;
    char sock[600], conf[600], db[600], log[600];
    const char *provd, *fakesite;
    pid_t site, pid;
    unsigned port;
    struct daemon_notify nt;
};

enum query_kind { Q_INDEXED, Q_FULLTEXT };

/* The query a client sends as its n-th request of a kind: the filter,
 * whose strings live in q, and the request target it becomes. */
struct query {
    struct catalog_filter f;
    char fund[16];
    char target[256];
};

static void bench_query(enum query_kind kind, unsigned client, unsigned long n, struct query *q)
{
    static const char *const archives[] = {"RGASPI", "RGANI", "APRF", "AVPRF", "GARF"};
    static const char *const texts[] = {DAEMON_GEN_RARE_WORD, DAEMON_GEN_COMMON_WORD, "ambassador",
                                        "treaty AND border", "plenum OR commission"};
    unsigned long x = n * 7919 + client * 104729;
    char *esc;

    memset(&q->f, 0, sizeof(q->f));
    if (kind == Q_INDEXED && n % 2 == 0) {
        snprintf(q->fund, sizeof(q->fund), "%lu", x % 500);
        q->f.archive = archives[x % 5];
        q->f.fund = q->fund;
        snprintf(q->target, sizeof(q->target), "/v1/records?archive=%s&fund=%s", q->f.archive,
                 q->fund);
        return;
    }
    if (kind == Q_INDEXED) {
        q->f.translator = daemon_gen_translators[x % 6];
        esc = daemon_http_escape(q->f.translator);
        snprintf(q->target, sizeof(q->target), "/v1/records?translator=%s", esc);
    } else {
        q->f.text = texts[x % 5];
        esc = daemon_http_escape(q->f.text);
        snprintf(q->target, sizeof(q->target), "/v1/records?q=%s", esc);
    }
    free(esc);
}

/* ---- load ----------------------------------------------------------- */

struct load {
    struct bench *b;
    enum query_kind kind;
    double period_ms; /* each client sends one request this often; 0: back to back */
    double until;
    pthread_mutex_t lock;
    double *ms;
    size_t n;
    unsigned clients;
    atomic_ulong errors, bytes, retried;
};

struct client {
    struct load *load;
    unsigned id;
};

static void *bench_client(void *arg)
{
    struct client *c = arg;
    struct load *l = c->load;
    double local[4096], next = 0;
    size_t k = 0;
    unsigned long n = 0;
    int fd = daemon_http_connect(l->b->sock);

    /* Paced clients start spread over one period. */
    if (l->period_ms > 0)
        next = daemon_http_now_ms() + l->period_ms * (double)c->id / (double)l->clients;
    while (fd >= 0 && daemon_http_now_ms() < l->until) {
        struct daemon_http_reply r;
        struct query q;
        double sent;
        int rc;

        if (l->period_ms > 0) {
            double wait = next - daemon_http_now_ms();

            if (wait > 0)
                daemon_proc_sleep_ms((int)wait);
            /* Latency counts from when the request was due, so a reply
             * that came late also delays what should have followed. */
            sent = next;
            next += l->period_ms;
        } else {
            sent = daemon_http_now_ms();
        }
        bench_query(l->kind, c->id, n++, &q);
        rc = daemon_http_keepalive(fd, "GET", q.target, 30000, &r);
        if (rc < 0 && r.headers == NULL && (r.closed || rc == -EPIPE || rc == -ECONNRESET)) {
            /* The daemon closed the kept connection before it read the
             * request (its per-connection deadline): as HTTP clients do,
             * send it again on a new one. */
            atomic_fetch_add(&l->retried, 1);
            daemon_http_reply_clear(&r);
            close(fd);
            fd = daemon_http_connect(l->b->sock);
            if (fd < 0)
                break;
            rc = daemon_http_keepalive(fd, "GET", q.target, 30000, &r);
        }
        r.ms = daemon_http_now_ms() - sent;
        if (rc < 0 || r.status != 200) {
            atomic_fetch_add(&l->errors, 1);
            if (l->errors < 5)
                fprintf(stderr, "bench_daemon: %s: rc %d, status %d, %zu bytes\n", q.target, rc,
                        r.status, r.body_len);
        } else {
            atomic_fetch_add(&l->bytes, r.body_len);
            local[k++] = r.ms;
        }
        if (rc < 0 || r.closed) {
            close(fd);
            fd = daemon_http_connect(l->b->sock);
        }
        daemon_http_reply_clear(&r);
        if (k == sizeof(local) / sizeof(local[0]) || daemon_http_now_ms() >= l->until) {
            pthread_mutex_lock(&l->lock);
            for (size_t i = 0; i < k && l->n < BENCH_MAX_SAMPLES; i++)
                l->ms[l->n++] = local[i];
            pthread_mutex_unlock(&l->lock);
            k = 0;
        }
    }
    if (fd >= 0)
        close(fd);
    return NULL;
}

static int bench_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

struct figures {
    double median, p99, max, qps;
    double cpu_ms; /* provd's CPU time per answered query */
    size_t n;
    unsigned long errors, retried;
    double kb;
};

static struct figures bench_load(struct bench *b, enum query_kind kind, unsigned clients,
                                 double period_ms, unsigned seconds)
{
    struct load l = {.b = b, .kind = kind, .clients = clients, .period_ms = period_ms};
    struct client *cs = xcalloc(clients, sizeof(*cs));
    pthread_t *th = xcalloc(clients, sizeof(*th));
    struct figures f = {0};
    double t0 = daemon_http_now_ms(), cpu0 = daemon_proc_cpu_ms(b->pid);

    pthread_mutex_init(&l.lock, NULL);
    l.ms = xcalloc(BENCH_MAX_SAMPLES, sizeof(double));
    l.until = t0 + seconds * 1000.0;
    for (unsigned i = 0; i < clients; i++) {
        cs[i].load = &l;
        cs[i].id = i;
        pthread_create(&th[i], NULL, bench_client, &cs[i]);
    }
    for (unsigned i = 0; i < clients; i++)
        pthread_join(th[i], NULL);
    qsort(l.ms, l.n, sizeof(double), bench_cmp);
    f.n = l.n;
    f.errors = atomic_load(&l.errors);
    f.retried = atomic_load(&l.retried);
    if (l.n) {
        f.median = l.ms[l.n / 2];
        f.p99 = l.ms[(size_t)((double)l.n * 0.99)];
        f.max = l.ms[l.n - 1];
        f.kb = (double)atomic_load(&l.bytes) / (double)l.n / 1024.0;
    }
    f.qps = (double)l.n / ((daemon_http_now_ms() - t0) / 1000.0);
    if (l.n)
        f.cpu_ms = (daemon_proc_cpu_ms(b->pid) - cpu0) / (double)l.n;
    pthread_mutex_destroy(&l.lock);
    free(l.ms);
    free(cs);
    free(th);
    return f;
}

/* The baseline: what GET /v1/records does in provd (api.c), done here on
 * a reader handle of our own on the same catalog, one query after
 * another: catalog_search(), catalog_item_to_json() for each record, the
 * reply object, json_dumps(). The socket path adds evhttp, the request's
 * parsing and the transfer to it. */
static struct figures bench_inprocess(struct bench *b, enum query_kind kind, unsigned seconds)
{
    struct catalog_options o = {.readonly = true, .busy_timeout_ms = 200, .budget = 250 * 40};
    struct catalog *c = NULL;
    struct figures f = {0};
    double *ms = xcalloc(BENCH_MAX_SAMPLES, sizeof(double)), t0 = daemon_http_now_ms();
    double until = t0 + seconds * 1000.0, cpu = 0;
    unsigned long n = 0;
    size_t k = 0, bytes = 0;

    if (catalog_open(b->db, &o, &c) < 0) {
        fprintf(stderr, "baseline: %s\n", catalog_errmsg(c));
        f.errors = 1;
        goto out;
    }
    while (daemon_http_now_ms() < until && k < BENCH_MAX_SAMPLES) {
        struct catalog_results res = {0};
        struct timespec c0, c1;
        struct query q;
        double q0 = daemon_http_now_ms();
        json_t *arr, *reply;
        char *text;

        bench_query(kind, 0, n++, &q);
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
        if (catalog_search(c, &q.f, 0, NULL, &res) < 0) {
            f.errors++;
            continue;
        }
        arr = json_array();
        for (size_t i = 0; i < res.n; i++)
            json_array_append_new(arr, catalog_item_to_json(&res.items[i], 0));
        reply = json_pack("{s:o, s:s?}", "records", arr, "next", res.next);
        text = json_dumps(reply, JSON_COMPACT);
        bytes += text ? strlen(text) : 0;
        free(text);
        json_decref(reply);
        catalog_results_clear(&res);
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c1);
        cpu += (double)(c1.tv_sec - c0.tv_sec) * 1e3 + (double)(c1.tv_nsec - c0.tv_nsec) / 1e6;
        ms[k++] = daemon_http_now_ms() - q0;
    }
    qsort(ms, k, sizeof(double), bench_cmp);
    f.n = k;
    if (k) {
        f.median = ms[k / 2];
        f.p99 = ms[(size_t)((double)k * 0.99)];
        f.max = ms[k - 1];
        f.kb = (double)bytes / (double)k / 1024.0;
        f.cpu_ms = cpu / (double)k;
    }
    f.qps = (double)k / ((daemon_http_now_ms() - t0) / 1000.0);
out:
    catalog_close(c);
    free(ms);
    return f;
}

/* ---- set-up --------------------------------------------------------- */

static int bench_copy(const char *from, const char *to)
{
    int in = open(from, O_RDONLY | O_CLOEXEC), out = -1, rc = 0;
    static char buf[1 << 20];
    ssize_t n;

    if (in < 0)
        return -errno;
    out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (out < 0) {
        rc = -errno;
        close(in);
        return rc;
    }
    while (rc == 0 && (n = read(in, buf, sizeof(buf))) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 || write(out, buf, (size_t)n) != n)
            rc = -EIO;
    }
    close(in);
    if (close(out) < 0 && rc == 0)
        rc = -errno;
    return rc;
}

/* The catalog: imported into path when missing (or holding a different
 * number of records). */
static int bench_catalog(const char *path, unsigned long n)
{
    struct catalog_options ro = {.readonly = true};
    struct catalog_counts cnt = {0};
    struct catalog *c = NULL;
    double t0 = daemon_http_now_ms();
    size_t got = 0;
    FILE *in;
    int rc;

    if (access(path, F_OK) == 0) {
        rc = catalog_open(path, &ro, &c);
        if (rc == 0 && catalog_counts(c, NULL, &cnt) == 0 && (unsigned long)cnt.records == n) {
            catalog_close(c);
            printf("catalog: reusing %s (%lu records)\n", path, n);
            return 0;
        }
        catalog_close(c);
        c = NULL;
        unlink(path);
    }
    printf("catalog: importing %lu generated records into %s ...\n", n, path);
    fflush(stdout);
    rc = catalog_open(path, NULL, &c);
    if (rc < 0) {
        fprintf(stderr, "catalog %s: %s\n", path, catalog_errmsg(c));
        catalog_close(c);
        return rc;
    }
    in = daemon_gen_open("bulk", 0, n);
    rc = in ? catalog_import(c, in, &got) : -ENOMEM;
    if (in)
        fclose(in);
    if (rc < 0)
        fprintf(stderr, "import: %s\n", catalog_errmsg(c));
    catalog_close(c);
    if (rc == 0)
        printf("catalog: %zu records in %.0f s\n", got, (daemon_http_now_ms() - t0) / 1000.0);
    return rc;
}

/* The harvest's pages under site/: the -P directory's pages, or the
 * saved test pages copied into 200 folders; the urls file lists them. */
static int bench_pages(struct bench *b, const char *site, const char *urls_path)
{
    struct strbuf urls = STRBUF_INIT;
    const char *root = getenv("PROVD_SOURCE_ROOT") ? getenv("PROVD_SOURCE_ROOT") : SOURCE_ROOT;
    char *src = b->pages ? xstrdup(b->pages) : xasprintf("%s/tests/data/pages", root);
    struct dirent **list;
    int n = scandir(src, &list, NULL, alphasort), rc = 0;
    unsigned copies = b->pages ? 1 : 200;

    if (n < 0) {
        fprintf(stderr, "pages %s: %s\n", src, strerror(errno));
        free(src);
        return -1;
    }
    mkdir(site, 0755);
    for (unsigned d = 0; d < copies; d++) {
        char *dir = xasprintf("%s/p%03u", site, d);

        mkdir(dir, 0755);
        for (int i = 0; i < n && rc == 0; i++) {
            size_t len = strlen(list[i]->d_name);
            char *from, *to;

            if (len < 6 || strcmp(list[i]->d_name + len - 5, ".html") != 0)
                continue;
            from = xasprintf("%s/%s", src, list[i]->d_name);
            to = xasprintf("%s/%s", dir, list[i]->d_name);
            rc = bench_copy(from, to);
            strbuf_addf(&urls, "http://127.0.0.1:%u/p%03u/%s\n", b->port, d, list[i]->d_name);
            free(from);
            free(to);
        }
        free(dir);
    }
    for (int i = 0; i < n; i++)
        free(list[i]);
    free(list);
    free(src);
    if (rc == 0)
        rc = daemon_proc_write(urls_path, urls.s, urls.len);
    strbuf_release(&urls);
    return rc;
}

static int bench_config(struct bench *b, bool enabled)
{
    char *text = xasprintf("[provd]\ndatabase = %s\nsocket = %s\nallow-addresses = 127.0.0.1:%u\n"
                           "log-level = info\n\n"
                           "[source bench]\nurls = bench.urls\ndelay = 50ms\nconcurrency = 1\n"
                           "interval = 1d\nenabled = %s\n",
                           b->db, b->sock, b->port, enabled ? "yes" : "no");
    int rc = daemon_proc_write(b->conf, text, strlen(text));

    free(text);
    return rc;
}

static int bench_start(struct bench *b)
{
    char *nsock = xasprintf("%s/notify.sock", b->dir);
    char *env_notify = xasprintf("NOTIFY_SOCKET=%s", nsock);
    const char *env[] = {env_notify,     "WATCHDOG_USEC=" BENCH_WATCHDOG_USEC,
                         "WATCHDOG_PID", "LISTEN_FDS",
                         "LISTEN_PID",   NULL};
    const char *argv[] = {b->provd, "-c", b->conf, NULL};
    struct daemon_proc_opts o = {.env = env, .log = b->log, .uid = -1};
    double t0 = daemon_http_now_ms();
    int rc = 0;

    if (b->nt.fd < 0 && daemon_notify_open(&b->nt, nsock) < 0)
        rc = -1;
    if (rc == 0) {
        daemon_notify_skip(&b->nt);
        b->pid = daemon_proc_spawn(argv, &o);
        if (b->pid <= 0 || !daemon_notify_wait(&b->nt, "READY=1", 600000))
            rc = -1;
    }
    if (rc == 0)
        printf("provd %d ready in %.1f s\n", (int)b->pid, (daemon_http_now_ms() - t0) / 1000.0);
    else
        fprintf(stderr, "provd did not start; see %s\n", b->log);
    free(env_notify);
    free(nsock);
    return rc;
}

static int bench_stop(struct bench *b)
{
    int st = 0;

    if (b->pid <= 0)
        return 0;
    kill(b->pid, SIGTERM);
    if (daemon_proc_wait(b->pid, 10000, &st) < 0) {
        daemon_proc_kill(b->pid);
        st = -1;
    }
    b->pid = 0;
    return st;
}

/* GET target on a fresh connection; the parsed JSON or NULL. */
static json_t *bench_get(struct bench *b, const char *method, const char *target)
{
    struct daemon_http_reply r;
    json_t *o = NULL;

    if (daemon_http_request(b->sock, method, target, NULL, 30000, &r) == 0 && r.status < 300)
        o = json_loadb(r.body, r.body_len, 0, NULL);
    daemon_http_reply_clear(&r);
    return o;
}

/* The pages the bench source's current run has done, or -1. */
static long bench_progress(struct bench *b, int64_t run)
{
    char target[64];
    json_t *o;
    long done = -1;

    snprintf(target, sizeof(target), "/v1/runs/%lld", (long long)run);
    o = bench_get(b, "GET", target);
    if (o)
        done = (long)json_integer_value(json_object_get(json_object_get(o, "progress"), "done"));
    json_decref(o);
    return done;
}

/* provd's extraction helpers: its child processes. */
static size_t bench_children(pid_t parent, pid_t *out, size_t max)
{
    DIR *d = opendir("/proc");
    struct dirent *e;
    size_t n = 0;

    while (d && (e = readdir(d)) != NULL && n < max) {
        char path[300], *s, *p;
        int ppid = 0;

        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
        s = daemon_proc_read(path, NULL);
        p = s ? strrchr(s, ')') : NULL;
        if (p && sscanf(p + 2, "%*c %d", &ppid) == 1 && ppid == parent)
            out[n++] = (pid_t)atoi(e->d_name);
        free(s);
    }
    if (d)
        closedir(d);
    return n;
}

static void bench_print(const char *what, const struct figures *f, double goal)
{
    printf("  %-38s %7zu %8.2f %8.2f %8.1f %7.0f %6.2f %6.1f %4lu %4lu%s\n", what, f->n, f->median,
           f->p99, f->max, f->qps, f->cpu_ms, f->kb, f->errors, f->retried,
           goal > 0 ? (f->p99 <= goal ? "  goal met" : "  goal MISSED") : "");
}

int main(int argc, char **argv)
{
    struct bench b = {.records = 1000000, .clients = 50, .load_s = 20, .idle_s = 60};
    char *site, *urls, *sitelog, *pf, *tmp;
    json_t *o;
    int64_t run = 0;
    long done0, done1, rss, hwm, helpers_rss = 0;
    pid_t kids[16];
    size_t n_kids;
    int c, rc = 1;

    while ((c = getopt(argc, argv, "n:c:t:i:C:P:qkHIN:")) != -1) {
        switch (c) {
        case 'n':
            b.records = strtoul(optarg, NULL, 10);
            break;
        case 'c':
            b.clients = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case 't':
            b.load_s = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case 'i':
            b.idle_s = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case 'C':
            b.catalog = optarg;
            break;
        case 'P':
            b.pages = optarg;
            break;
        case 'q':
            b.records = 20000;
            b.load_s = 3;
            b.idle_s = 5;
            break;
        case 'k':
            b.keep = true;
            break;
        case 'H':
            b.no_harvest = true;
            break;
        case 'I':
            b.no_idle = true;
            break;
        case 'N':
            b.nice = atoi(optarg);
            break;
        default:
            fprintf(stderr, "usage: bench_daemon [-n RECORDS] [-c CLIENTS] [-t SECONDS] "
                            "[-i SECONDS] [-C CATALOG] [-P PAGES] [-q] [-k] [-H] [-I] "
                            "[-N NICE]\n");
            return 2;
        }
    }
    if (b.clients == 0 || b.clients > 1000 || b.records == 0) {
        fprintf(stderr, "bench_daemon: 1 to 1000 clients and at least one record\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    setvbuf(stdout, NULL, _IOLBF, 0);
    /* Everything started from here (fakesite, provd, its helpers, the
     * client threads) inherits the priority. */
    if (b.nice && setpriority(PRIO_PROCESS, 0, b.nice) < 0)
        perror("bench_daemon: setpriority");
    b.nt.fd = -1;
    if (getenv("PROVD_BUILD_ROOT") == NULL) {
        char self[PATH_MAX];

        if (realpath(argv[0], self) != NULL)
            setenv("PROVD_BUILD_ROOT", dirname(dirname(self)), 1);
    }
    b.provd = daemon_proc_program("PROVD_BIN", "daemon/provd");
    b.fakesite = daemon_proc_program("PROVD_FAKESITE", "tests/fakesite/fakesite");
    b.dir = daemon_proc_tmpdir("provd-bench");
    if (b.dir == NULL) {
        perror("bench_daemon: temporary directory");
        return 1;
    }
    snprintf(b.sock, sizeof(b.sock), "%s/provd.sock", b.dir);
    snprintf(b.conf, sizeof(b.conf), "%s/provd.conf", b.dir);
    snprintf(b.db, sizeof(b.db), "%s/catalog.db", b.dir);
    snprintf(b.log, sizeof(b.log), "%s/provd.log", b.dir);

    /* The catalog, built once and copied (provd must not change the
     * kept one). */
    tmp = b.catalog ? xstrdup(b.catalog) : xasprintf("%s/built.db", b.dir);
    if (bench_catalog(tmp, b.records) < 0 || bench_copy(tmp, b.db) < 0) {
        free(tmp);
        goto out;
    }
    if (!b.catalog)
        unlink(tmp);
    free(tmp);

    /* fakesite and its pages. */
    site = xasprintf("%s/site", b.dir);
    pf = xasprintf("%s/site.port", b.dir);
    sitelog = xasprintf("%s/site.log", b.dir);
    mkdir(site, 0755);
    {
        const char *sargv[] = {b.fakesite,    "--root", site,         "--port", "0",
                               "--port-file", pf,       "--lifetime", "7200",   NULL};
        struct daemon_proc_opts so = {.log = sitelog, .uid = -1};

        b.site = daemon_proc_spawn(sargv, &so);
        b.port = daemon_proc_port_file(pf, b.site, 10000);
    }
    urls = xasprintf("%s/bench.urls", b.dir);
    if (b.port == 0 || bench_pages(&b, site, urls) < 0) {
        fprintf(stderr, "bench_daemon: fakesite (%s) or its pages failed\n", b.fakesite);
        free(site);
        free(pf);
        free(sitelog);
        free(urls);
        goto out;
    }
    free(site);
    free(pf);
    free(sitelog);
    free(urls);

    /* provd with a harvest going. */
    if (bench_config(&b, !b.no_harvest) < 0 || bench_start(&b) < 0)
        goto out;
    if (!b.no_harvest) {
        o = bench_get(&b, "POST", "/v1/harvest?source=bench");
        if (o)
            run = json_integer_value(json_object_get(o, "run_id"));
        json_decref(o);
        if (run <= 0) {
            fprintf(stderr, "bench_daemon: the harvest did not start\n");
            goto out;
        }
        daemon_proc_sleep_ms(2000);
    }
    done0 = bench_progress(&b, run);

    {
        double la[3] = {0};

        getloadavg(la, 3);
        printf("\n%lu records, %s, load average %.1f, nice %d; latency (ms) from when a "
               "request was due to the end of its reply, provd's CPU time (ms) per query; re: "
               "requests sent again on a new connection after the daemon closed the kept one "
               "at its api-deadline:\n",
               b.records, run ? "a harvest going (delay 50 ms)" : "no harvest", la[0], b.nice);
    }
    {
        static const struct {
            const char *name;
            bool many;
            double period_ms; /* 0: back to back */
        } phases[] = {
            {"1 client, back to back", false, 0},
            {"each 1/s", true, 1000},
            {"each 4/s", true, 250},
            {"back to back", true, 0},
        };
        static const char *const kinds[] = {"indexed", "full text"};
        static const double goals[] = {10.0, 60.0};

        printf("  %-38s %7s %8s %8s %8s %7s %6s %6s %4s %4s\n", "", "n", "median", "p99", "max",
               "q/s", "cpu/q", "KB/q", "err", "re");
        for (int k = Q_INDEXED; k <= Q_FULLTEXT; k++) {
            struct figures f = bench_inprocess(&b, (enum query_kind)k, b.load_s / 2 + 1);
            char what[96];

            snprintf(what, sizeof(what), "%s, in process (baseline)", kinds[k]);
            bench_print(what, &f, 0);
        }
        for (size_t ph = 0; ph < sizeof(phases) / sizeof(phases[0]); ph++) {
            for (int k = Q_INDEXED; k <= Q_FULLTEXT; k++) {
                unsigned clients = phases[ph].many ? b.clients : 1;
                struct figures f = bench_load(&b, (enum query_kind)k, clients, phases[ph].period_ms,
                                              phases[ph].many ? b.load_s : b.load_s / 2 + 1);
                char what[96];

                if (phases[ph].many)
                    snprintf(what, sizeof(what), "%s, %u clients %s", kinds[k], clients,
                             phases[ph].name);
                else
                    snprintf(what, sizeof(what), "%s, %s", kinds[k], phases[ph].name);
                bench_print(what, &f, phases[ph].many ? goals[k] : 0);
            }
        }
    }
    done1 = bench_progress(&b, run);
    rss = daemon_proc_rss_kb(b.pid);
    hwm = daemon_proc_hwm_kb(b.pid);
    n_kids = bench_children(b.pid, kids, 16);
    for (size_t i = 0; i < n_kids; i++)
        helpers_rss += daemon_proc_rss_kb(kids[i]);
    if (run)
        printf("  harvest meanwhile: %ld pages stored\n", done1 - done0);
    printf("  provd RSS %ld KiB (anonymous %ld, file %ld), peak %ld KiB%s; %zu helper%s %ld "
           "KiB\n",
           rss, daemon_proc_status_kb(b.pid, "RssAnon:"), daemon_proc_status_kb(b.pid, "RssFile:"),
           hwm, hwm <= 40 * 1024 ? "  (goal 40 MiB met)" : "  (goal 40 MiB MISSED)", n_kids,
           n_kids == 1 ? "" : "s", helpers_rss);

    /* Idle: no run due (the source disabled), nobody connected. */
    if (bench_stop(&b) != 0)
        fprintf(stderr, "bench_daemon: provd did not stop cleanly\n");
    if (b.no_idle) {
        rc = 0;
        goto out;
    }
    if (bench_config(&b, false) < 0 || bench_start(&b) < 0)
        goto out;
    daemon_proc_sleep_ms(3000);
    {
        char *trace = xasprintf("%s/strace.out", b.dir);
        char pidbuf[16];
        const char *sargv[] = {"/usr/bin/strace",
                               "-f",
                               "-c",
                               "-e",
                               "trace=epoll_wait",
                               "-o",
                               trace,
                               "-p",
                               pidbuf,
                               NULL};
        struct daemon_proc_opts so = {.uid = -1};
        long sw0, sw1, ksw0 = 0, ksw1 = 0;
        unsigned wd0, wd1;
        pid_t st = -1;
        char *text;

        /* First the context switches alone (a tracer would add its own). */
        snprintf(pidbuf, sizeof(pidbuf), "%d", (int)b.pid);
        n_kids = bench_children(b.pid, kids, 16);
        sw0 = daemon_proc_switches(b.pid);
        for (size_t i = 0; i < n_kids; i++)
            ksw0 += daemon_proc_switches(kids[i]);
        wd0 = daemon_notify_count(&b.nt, "WATCHDOG=1");
        daemon_proc_sleep_ms((int)b.idle_s * 1000);
        sw1 = daemon_proc_switches(b.pid);
        for (size_t i = 0; i < n_kids; i++)
            ksw1 += daemon_proc_switches(kids[i]);
        wd1 = daemon_notify_count(&b.nt, "WATCHDOG=1");
        printf("\nidle for %u s (no run due, no client, WATCHDOG_USEC=%s):\n", b.idle_s,
               BENCH_WATCHDOG_USEC);
        printf("  context switches: provd %ld (%.1f/min), %zu helper%s %ld; WATCHDOG=1 sent %u "
               "(%.1f/min)\n",
               sw1 - sw0, (double)(sw1 - sw0) * 60.0 / b.idle_s, n_kids, n_kids == 1 ? "" : "s",
               ksw1 - ksw0, wd1 - wd0, (double)(wd1 - wd0) * 60.0 / b.idle_s);
        /* Then the loop's returns from epoll_wait, counted by strace. */
        if (access(sargv[0], X_OK) == 0)
            st = daemon_proc_spawn(sargv, &so);
        if (st > 0) {
            daemon_proc_sleep_ms((int)b.idle_s * 1000);
            kill(st, SIGINT);
            daemon_proc_wait(st, 5000, NULL);
        }
        text = st > 0 ? daemon_proc_read(trace, NULL) : NULL;
        if (text) {
            char *line = strstr(text, "epoll_wait");

            /* "% time seconds usecs/call calls errors syscall" */
            if (line) {
                char *bol = line;
                long calls = 0;

                while (bol > text && bol[-1] != '\n')
                    bol--;
                if (sscanf(bol, "%*f %*f %*d %ld", &calls) == 1)
                    printf("  strace -f -c -e trace=epoll_wait over %u s: %ld calls (%.1f/min)\n",
                           b.idle_s, calls, (double)calls * 60.0 / b.idle_s);
                else
                    printf("  strace:\n%s", text);
            } else {
                printf("  strace over %u s: no epoll_wait call\n", b.idle_s);
            }
            free(text);
        }
        free(trace);
    }
    if (bench_stop(&b) != 0)
        fprintf(stderr, "bench_daemon: provd did not stop cleanly\n");
    rc = 0;
out:
    if (b.pid > 0)
        daemon_proc_kill(b.pid);
    if (b.site > 0) {
        kill(b.site, SIGTERM);
        if (daemon_proc_wait(b.site, 3000, NULL) < 0)
            daemon_proc_kill(b.site);
    }
    daemon_notify_close(&b.nt);
    if (b.keep)
        printf("kept %s\n", b.dir);
    else
        daemon_proc_rmtree(b.dir);
    free(b.dir);
    return rc;
}
