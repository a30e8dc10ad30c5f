/*
 * killcycles: RELIABILITY.md rows D1 and P2 at scale. A provd daemon
 * harvests a fakesite of generated record pages (fixtures of tests/data/
 * pages under new record ids, some also under an alias URL, some made
 * large, a few rewritten and one added every cycle) and answers API
 * clients, while this program kills it with SIGKILL, cycle after cycle,
 * each time at a moment it has checked to be inside one of four phases
 * (every block of four cycles visits each phase once, in a random order):
 *
 *   fetch      a single-page harvest of a slow URL (fakesite's
 *              /fault/delay on a second site) is in flight: its request is
 *              in fakesite's log, its reply is not due yet, and provd holds
 *              an established TCP connection to that site
 *              (/proc/PID/net/tcp);
 *   extraction a single-page harvest of a large page: the extraction helper
 *              is running and has spent at least 2.5 ms of the last
 *              3.5-12 ms on a CPU (/proc/H/schedstat; a normal page takes
 *              about 1 ms);
 *   commit     provd, stopped with SIGSTOP, has a thread in pwrite64,
 *              write, fsync or fdatasync on the catalog or its WAL
 *              (/proc/PID/task/T/syscall and the fd's link); otherwise it
 *              is continued and looked at again 0.3-3 ms later, and a run
 *              is asked for every half second so that there is writing;
 *   reply      three API clients (records pages, exports, status, harvest
 *              triggers) read slowly; the kill comes while one is early in
 *              an export larger than the socket buffers, and lands when a
 *              client then sees a reply cut short.
 * A kill whose moment did not come within 4 s is made anyway and counted
 * as not landed.
 *
 * Acknowledged, and so never to be lost: a record the catalog held at any
 * earlier check, a record a whole GET /v1/records reply listed, a run id a
 * whole POST /v1/harvest reply named (202). After every kill the catalog
 * is opened read-only: PRAGMA integrity_check must say ok, no record may
 * exist twice (by key or by record id), every acknowledged record and run
 * must be there, and provd's helpers must have died with it. The next
 * cycle restarts provd; its first POST must be answered with the id of the
 * newest run the kill left running (resumed), or that run must be
 * finished. API replies are decoded by daemon_http; one it calls whole
 * must be valid JSON (JSON Lines for exports): a truncated reply must never
 * pass for a whole one.
 *
 * Before the first cycle one uninterrupted harvest fills the catalog. At
 * the end an uninterrupted daemon is triggered again and again, each run
 * waited for, until a trigger starts a new run (no interrupted run left)
 * and that run ends (at most unfinished runs + 3 triggers, and 25), then
 * stopped with SIGTERM. D1 passes when every check after every kill
 * passed and every page's record is then present exactly once, every
 * alias URL leads to it, and (after that new run) it has the page's latest
 * content. P2 passes when D1 does, most kills of every phase landed, every
 * restart resumed the interrupted run, no run is left unfinished nor any
 * frontier entry pending, every acknowledged run finished, no whole reply
 * was invalid and no helper outlived provd.
 *
 *   killcycles [-n CYCLES] [-s SEED] [-p PAGES] [-v] [-k]
 *
 * -n cycles (default 1000), -s seed (default from the clock; printed),
 * -p base record pages (default 300), -v a line per cycle, -k keep the
 * temporary tree (it is kept anyway when a row fails). Programs from
 * $PROVD_BIN and $PROVD_FAKESITE (else under $PROVD_BUILD_ROOT), fixtures
 * from $PROVD_SOURCE_ROOT (else SOURCE_ROOT). Progress every 50 cycles on
 * stderr; the table of phases, the figures and the ROW lines for D1 and P2
 * on stdout, last. Exit 0 only when both rows pass.
 */
#include "daemon_http.h"
#include "daemon_proc.h"
#include "harvest_world.h"
#include "strbuf.h"
#include "xmalloc.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef SOURCE_ROOT
#define SOURCE_ROOT "."
#endif

#define BASE_ID       500000 /* record id of base page i: BASE_ID + i */
#define NEW_ID        700000 /* record id of the page added in cycle c */
#define BIG_EVERY     23     /* base page i is large when i % BIG_EVERY == 5 */
#define BIG_MIN       3      /* ... and at least this many are */
#define FILLER_ITEMS  5000   /* list items in a large page (~370 KB, ~60 ms) */
#define CHANGED_PAGES 6      /* small pages rewritten per cycle */
#define DELAY_MS      700    /* fakesite's delay for the fetch phase */
#define PHASE_WAIT_MS 4000   /* longest wait for a phase's moment */
#define CLIENTS       3      /* API clients in the reply phase */
#define FINAL_ROUNDS  25     /* runs the final daemon may be asked for */

enum phase { PH_FETCH, PH_EXTRACT, PH_COMMIT, PH_REPLY, PH_N };
static const char *const phase_name[PH_N] = {"fetch", "extraction", "commit", "reply"};

/* ---- small things ----------------------------------------------------- */

static uint64_t rng_state;

static uint64_t rng(void)
{
    uint64_t x = rng_state;

    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return rng_state = x;
}

/* A number in [lo, hi]. */
static long rng_in(long lo, long hi)
{
    return hi <= lo ? lo : lo + (long)(rng() % (uint64_t)(hi - lo + 1));
}

static double now_ms(void)
{
    return daemon_http_now_ms();
}

static bool verbose;

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static _Noreturn void die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static _Noreturn void die(const char *fmt, ...)
{
    va_list ap;

    fputs("killcycles: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(2);
}

/* A set of strings (open addressing; strings owned). */
struct set {
    char **v;
    size_t cap, n;
};

static uint64_t set_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;

    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static bool set_has(const struct set *s, const char *key)
{
    if (s->cap == 0)
        return false;
    for (size_t i = set_hash(key) & (s->cap - 1);; i = (i + 1) & (s->cap - 1)) {
        if (s->v[i] == NULL)
            return false;
        if (strcmp(s->v[i], key) == 0)
            return true;
    }
}

/* Add key; true when it was new. */
static bool set_add(struct set *s, const char *key)
{
    size_t i;

    if (set_has(s, key))
        return false;
    if ((s->n + 1) * 2 > s->cap) {
        struct set t = {xcalloc(s->cap ? s->cap * 2 : 64, sizeof(char *)), s->cap ? s->cap * 2 : 64,
                        0};

        for (size_t k = 0; k < s->cap; k++)
            if (s->v[k]) {
                for (i = set_hash(s->v[k]) & (t.cap - 1); t.v[i]; i = (i + 1) & (t.cap - 1))
                    ;
                t.v[i] = s->v[k];
                t.n++;
            }
        free(s->v);
        *s = t;
    }
    for (i = set_hash(key) & (s->cap - 1); s->v[i]; i = (i + 1) & (s->cap - 1))
        ;
    s->v[i] = xstrdup(key);
    s->n++;
    return true;
}

static void set_clear(struct set *s)
{
    for (size_t i = 0; i < s->cap; i++)
        free(s->v[i]);
    free(s->v);
    memset(s, 0, sizeof(*s));
}

/* ---- the world: pages, sites, configuration -------------------------- */

struct page {
    char *path;  /* "/document/p-12" */
    char *alias; /* a second URL path of the same record, or NULL */
    char *id;    /* record id */
    const struct hw_fixture *fx;
    bool big;
    unsigned rev; /* bumped when the page is rewritten */
};

struct kc {
    char *dir, *root, *conf, *db, *sock, *log, *urls;
    char *provd, *fakesite;
    struct hw_fixtures fx;
    const struct hw_fixture *tel; /* the fixture large pages are made of */
    char *filler;
    struct hw_site site, slow;
    struct page *pages;
    size_t n_pages, cap_pages;
    pid_t pid;
    unsigned long cycle;

    /* what must never be lost */
    struct set known;          /* record keys seen in the catalog or in whole replies */
    pthread_mutex_t ack_lock;  /* guards acked_keys and acked_runs (API clients) */
    struct set acked_keys;     /* from whole GET /v1/records replies, this cycle */
    int64_t *acked_runs;       /* run ids POST /v1/harvest answered */
    size_t n_acked, cap_acked; /* acked_runs */
    int64_t expect_resume;     /* newest run left running by the last kill, or 0 */

    /* figures */
    unsigned long attempts[PH_N], landed[PH_N], checks_ok[PH_N];
    unsigned long integrity_ok, checks, dups, missing, ack_missing, runs_lost;
    unsigned long unfinished_now, final_unfinished, final_pending, acked_unfinished;
    bool fresh_done; /* the final daemon completed a new full run */
    unsigned long resumes_due, resumes_ok, pending_at_kill, orphans, kills;
    unsigned long replies_whole, replies_cut, replies_bad, max_unfinished;
    unsigned long commit_probes, acked_done, crashes;
    double t_start;
};

static void page_write(struct kc *k, struct page *p)
{
    char *suffix = xasprintf(" (kc %s r%u)", p->id, p->rev);
    size_t len = 0, blen = 0;
    char *html = hw_page(p->fx, p->id, suffix, &len), *big = NULL, *path;

    if (html == NULL)
        die("fixture %s has not the expected shape", p->fx->name);
    /* A transcript of some 3.5 KB, so that exports are larger than what
     * the socket buffers hold. */
    {
        struct strbuf t = STRBUF_INIT;
        char *with;

        for (int i = 0; i < 40; i++)
            strbuf_addf(&t,
                        "<p>Transcript line %d of record %s: the delegation went over item %d "
                        "again.</p>\n",
                        i, p->id, i);
        with = hw_insert(html, len, "tab-pane fade show active", "</div>", t.s, &blen);
        if (with) {
            free(html);
            html = with;
            len = blen;
        }
        strbuf_release(&t);
    }
    if (p->big) {
        big = hw_insert(html, len, "<nav", "</nav>", k->filler, &blen);
        if (big == NULL)
            die("fixture %s has no <nav> for the filler", p->fx->name);
        free(html);
        html = big;
        len = blen;
    }
    path = hw_path(k->root, p->path + 1);
    if (hw_write(path, html, len) < 0)
        die("cannot write %s", path);
    free(path);
    if (p->alias) {
        path = hw_path(k->root, p->alias + 1);
        if (hw_write(path, html, len) < 0)
            die("cannot write %s", path);
        free(path);
    }
    free(html);
    free(suffix);
}

static struct page *page_add(struct kc *k, const char *name, unsigned long id,
                             const struct hw_fixture *fx, bool big, bool alias)
{
    struct page *p;

    if (k->n_pages == k->cap_pages) {
        k->cap_pages = k->cap_pages ? k->cap_pages * 2 : 256;
        k->pages = xreallocarray(k->pages, k->cap_pages, sizeof(*k->pages));
    }
    p = &k->pages[k->n_pages++];
    memset(p, 0, sizeof(*p));
    p->path = xasprintf("/document/%s", name);
    p->id = xasprintf("%lu", id);
    p->alias = alias ? xasprintf("/document/%s", p->id) : NULL;
    p->fx = fx;
    p->big = big;
    page_write(k, p);
    return p;
}

static void world_make(struct kc *k, unsigned long base)
{
    const char *src = getenv("PROVD_SOURCE_ROOT");
    char *fixtures = xasprintf("%s/tests/data/pages", src && *src ? src : SOURCE_ROOT);
    const char *site_args[] = {"--lifetime", "86400", NULL};
    struct strbuf b = STRBUF_INIT;
    unsigned long nbig = 0;

    k->dir = hw_tmpdir("provd-killcycles");
    if (k->dir == NULL)
        die("no temporary directory");
    k->root = hw_path(k->dir, "site");
    k->conf = hw_path(k->dir, "provd.conf");
    k->db = hw_path(k->dir, "state/catalog.db");
    k->sock = hw_path(k->dir, "provd.sock");
    k->log = hw_path(k->dir, "provd.log");
    k->urls = hw_path(k->dir, "main.urls");
    if (hw_fixtures_load(fixtures, &k->fx) < 0 || k->fx.n == 0)
        die("no fixtures in %s", fixtures);
    free(fixtures);
    for (size_t i = 0; i < k->fx.n; i++)
        if (strcmp(k->fx.v[i].name, "rgaspi-telegram") == 0)
            k->tel = &k->fx.v[i];
    if (k->tel == NULL)
        die("fixture rgaspi-telegram is missing");

    /* Filler for large pages: a long list in the navigation bar, which
     * the profile never reads, so the stored record stays small while
     * the parse takes tens of milliseconds. */
    strbuf_adds(&b, "<ul class=\"kc-filler\">");
    for (int i = 0; i < FILLER_ITEMS; i++)
        strbuf_addf(&b, "<li><a href=\"#f%d\">Finding aid entry %d</a> <span>box %d</span></li>", i,
                    i, i % 97);
    strbuf_adds(&b, "</ul>");
    k->filler = strbuf_steal(&b);

    for (unsigned long i = 0; i < base; i++) {
        bool big = i % BIG_EVERY == 5 || (nbig < BIG_MIN && i % 7 == 6);
        char name[32];

        snprintf(name, sizeof(name), "p-%lu", i);
        page_add(k, name, BASE_ID + i, big ? k->tel : &k->fx.v[i % k->fx.n], big, i % 10 == 3);
        nbig += big;
    }
    if (hw_site_start(&k->site, k->fakesite, k->dir, "site", k->root, site_args) < 0)
        die("fakesite did not start: %s", hw_tail(k->site.stderr_to, 2000));
    {
        char *slow_root = hw_path(k->dir, "slow");

        mkdir(slow_root, 0700);
        if (hw_site_start(&k->slow, k->fakesite, k->dir, "slow", slow_root, site_args) < 0)
            die("fakesite (slow) did not start");
        free(slow_root);
    }
    /* The slow site's origin belongs to the source through these URLs,
     * which every full run also fetches. */
    strbuf_addf(&b, "http://127.0.0.1:%u/fault/delay/%d?run=1\n", k->slow.port, DELAY_MS);
    strbuf_addf(&b, "http://127.0.0.1:%u/fault/delay/%d?run=2\n", k->slow.port, DELAY_MS);
    if (hw_write(k->urls, b.s, b.len) < 0)
        die("cannot write %s", k->urls);
    strbuf_release(&b);
    strbuf_addf(&b,
                "[provd]\n"
                "database = %s\n"
                "socket = %s\n"
                "allow-addresses = 127.0.0.1:%u, 127.0.0.1:%u\n"
                "connect-timeout = 2s\n"
                "transfer-timeout = 20s\n"
                "low-speed-time = 10s\n"
                "retries = 1\n"
                "manual-cooldown = 0\n"
                "extract-workers = 1\n"
                "log-level = info\n"
                "\n"
                "[source main]\n"
                "sitemap = http://127.0.0.1:%u/sitemap.xml\n"
                "urls = %s\n"
                "delay = 0\n"
                "concurrency = 4\n"
                "interval = 1h\n",
                k->db, k->sock, k->site.port, k->slow.port, k->site.port, k->urls);
    if (hw_write(k->conf, b.s, b.len) < 0)
        die("cannot write %s", k->conf);
    strbuf_release(&b);
}

/* Stop the sites and free the world (the tree is removed unless kept). */
static void world_free(struct kc *k, bool keep)
{
    hw_site_stop(&k->site);
    hw_site_stop(&k->slow);
    if (keep)
        say("killcycles: the tree is kept in %s", k->dir);
    else
        hw_rmtree(k->dir);
    for (size_t i = 0; i < k->n_pages; i++) {
        free(k->pages[i].path);
        free(k->pages[i].alias);
        free(k->pages[i].id);
    }
    free(k->pages);
    hw_fixtures_free(&k->fx);
    free(k->filler);
    free(k->dir);
    free(k->root);
    free(k->conf);
    free(k->db);
    free(k->sock);
    free(k->log);
    free(k->urls);
    set_clear(&k->known);
    set_clear(&k->acked_keys);
    free(k->acked_runs);
}

/* The changes of one cycle, made while provd is down: a few small pages
 * and every large one rewritten (so they are fetched and extracted
 * again), and one new record, every fifth with an alias URL. */
static void world_change(struct kc *k)
{
    size_t base = k->n_pages;
    char name[32];

    for (int i = 0; i < CHANGED_PAGES; i++) {
        struct page *p = &k->pages[rng() % base];

        p->rev++;
        page_write(k, p);
    }
    for (size_t i = 0; i < base; i++)
        if (k->pages[i].big) {
            k->pages[i].rev++;
            page_write(k, &k->pages[i]);
        }
    snprintf(name, sizeof(name), "n-%lu", k->cycle);
    page_add(k, name, NEW_ID + k->cycle, &k->fx.v[k->cycle % k->fx.n], false, k->cycle % 5 == 0);
}

/* ---- provd ------------------------------------------------------------ */

static void provd_start(struct kc *k)
{
    const char *env[] = {"NOTIFY_SOCKET", "LISTEN_FDS",   "LISTEN_PID",
                         "WATCHDOG_USEC", "WATCHDOG_PID", NULL};
    const char *argv[] = {k->provd, "-c", k->conf, NULL};
    struct daemon_proc_opts o = {.env = env, .log = k->log, .uid = -1};
    double t0 = now_ms();

    k->pid = daemon_proc_spawn(argv, &o);
    if (k->pid <= 0)
        die("cannot start provd: %s", strerror((int)-k->pid));
    for (;;) {
        struct daemon_http_reply r;
        int st = 0, rc = daemon_http_request(k->sock, "GET", "/v1/status", NULL, 2000, &r);
        bool up = rc == 0 && r.status == 200;

        daemon_http_reply_clear(&r);
        if (up)
            return;
        if (daemon_proc_wait(k->pid, 0, &st) == 0)
            die("provd exited (status %#x) at start-up; its log ends:\n%s", st,
                hw_tail(k->log, 3000));
        if (now_ms() - t0 > 30000)
            die("provd did not answer on %s within 30 s", k->sock);
        hw_sleep_ms(3);
    }
}

/* The pids of provd's children (the extraction helpers). */
static size_t provd_children(pid_t pid, pid_t *out, size_t max)
{
    char path[64], *text;
    size_t n = 0;

    snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)pid, (int)pid);
    text = daemon_proc_read(path, NULL);
    for (char *s = text, *end; s && *s && n < max; s = end) {
        long v = strtol(s, &end, 10);

        if (end == s)
            break;
        out[n++] = (pid_t)v;
    }
    free(text);
    return n;
}

/* SIGKILL provd, reap it, and make sure its helpers went with it. */
static void provd_kill(struct kc *k)
{
    pid_t kids[16];
    size_t n = provd_children(k->pid, kids, 16);
    int st = 0;

    kill(k->pid, SIGKILL);
    if (daemon_proc_wait(k->pid, 10000, &st) < 0)
        die("provd %d did not die from SIGKILL", (int)k->pid);
    if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGKILL) {
        say("cycle %lu: provd ended on its own (status %#x) before the kill; its log ends:\n%s",
            k->cycle, st, hw_tail(k->log, 2000));
        k->crashes++;
    }
    k->pid = 0;
    k->kills++;
    /* We are the helpers' subreaper: once provd is gone they are our
     * children, and each must end (PR_SET_PDEATHSIG) without being told. */
    for (size_t i = 0; i < n; i++) {
        if (daemon_proc_wait(kids[i], 3000, &st) < 0) {
            say("cycle %lu: helper %d outlived provd", k->cycle, (int)kids[i]);
            daemon_proc_kill(kids[i]);
            k->orphans++;
        }
    }
}

/* One API request on a fresh connection: the parsed JSON body of a whole
 * reply, else NULL; the status in *status (0: none). */
static json_t *api(struct kc *k, const char *method, const char *target, const char *body,
                   int timeout_ms, int *status)
{
    struct daemon_http_reply r;
    int rc = daemon_http_request(k->sock, method, target, body, timeout_ms, &r);
    json_t *o = NULL;

    *status = r.status;
    if (rc == 0 && r.complete)
        o = json_loadb(r.body, r.body_len, 0, NULL);
    daemon_http_reply_clear(&r);
    return o;
}

static void ack_run(struct kc *k, int64_t id)
{
    pthread_mutex_lock(&k->ack_lock);
    for (size_t i = 0; i < k->n_acked; i++)
        if (k->acked_runs[i] == id)
            goto out;
    if (k->n_acked == k->cap_acked) {
        k->cap_acked = k->cap_acked ? k->cap_acked * 2 : 256;
        k->acked_runs = xreallocarray(k->acked_runs, k->cap_acked, sizeof(*k->acked_runs));
    }
    k->acked_runs[k->n_acked++] = id;
out:
    pthread_mutex_unlock(&k->ack_lock);
}

/* POST /v1/harvest with body; the run id acknowledged (0: none). */
static int64_t trigger(struct kc *k, const char *body)
{
    int status = 0;
    json_t *o = api(k, "POST", "/v1/harvest", body, 10000, &status);
    json_t *id = o ? json_object_get(o, "run_id") : NULL;
    int64_t run = status == 202 && json_is_integer(id) ? (int64_t)json_integer_value(id) : 0;

    if (run > 0)
        ack_run(k, run);
    else
        say("cycle %lu: POST /v1/harvest %s answered %d", k->cycle, body, status);
    json_decref(o);
    return run;
}

/* ---- the reply phase: API clients --------------------------------------- */

struct client {
    struct kc *k;
    pthread_t th;
    unsigned idx;
    atomic_long bytes; /* relayed bytes of the reply being read */
    atomic_bool busy;  /* a reply has begun and is not complete yet */
    atomic_int kind;   /* of the request in flight: 0 records, 1 export, 2 status, 3 harvest */
    unsigned long whole, cut, bad, none;
    char *cursor;
};

static atomic_bool clients_stop;

struct reader {
    int fd;
    struct daemon_http_reply r;
    int rc;
    atomic_bool done;
};

static void *reader_main(void *arg)
{
    struct reader *rd = arg;

    rd->rc = daemon_http_read(rd->fd, false, 20000, &rd->r);
    atomic_store(&rd->done, true);
    return NULL;
}

/* Check a whole reply and take what it acknowledges. */
static void client_judge(struct client *c, int kind, struct daemon_http_reply *r)
{
    struct kc *k = c->k;
    json_error_t jerr;
    json_t *o = NULL;

    if (kind == 1) { /* JSON Lines */
        char *save = NULL, *copy = xstrdup(r->body);

        for (char *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
            json_t *one = json_loads(l, 0, &jerr);

            if (one == NULL) {
                say("cycle %lu: a whole export reply holds a bad line: %s", k->cycle, jerr.text);
                c->bad++;
                break;
            }
            json_decref(one);
        }
        free(copy);
        return;
    }
    o = json_loadb(r->body, r->body_len, 0, &jerr);
    if (o == NULL) {
        say("cycle %lu: a whole reply (status %d, %zu bytes) is not JSON: %s", k->cycle, r->status,
            r->body_len, jerr.text);
        c->bad++;
        return;
    }
    if (kind == 0 && r->status == 200) {
        json_t *recs = json_object_get(o, "records"), *next = json_object_get(o, "next");
        size_t i;
        json_t *it;

        pthread_mutex_lock(&k->ack_lock);
        json_array_foreach(recs, i, it)
        {
            const char *key = json_string_value(json_object_get(it, "key"));

            if (key)
                set_add(&k->acked_keys, key);
        }
        pthread_mutex_unlock(&k->ack_lock);
        free(c->cursor);
        c->cursor = json_is_string(next) ? xstrdup(json_string_value(next)) : NULL;
    } else if (kind == 3 && r->status == 202) {
        json_t *id = json_object_get(o, "run_id");

        if (json_is_integer(id) && json_integer_value(id) > 0)
            ack_run(k, (int64_t)json_integer_value(id));
    }
    json_decref(o);
}

/* One request, its reply relayed slowly through a socketpair into
 * daemon_http_read(), counting the bytes as they come. */
static void client_once(struct client *c, unsigned long n)
{
    static const int kinds[] = {0, 1, 0, 2, 0, 1, 3, 0};
    int kind = kinds[(n + c->idx) % (sizeof(kinds) / sizeof(kinds[0]))];
    struct reader rd = {.fd = -1};
    char *req, *esc = NULL, buf[16384];
    int fd, sp[2];
    pthread_t th;

    atomic_store(&c->kind, kind);

    if (kind == 0) {
        esc = c->cursor ? daemon_http_escape(c->cursor) : NULL;
        req = xasprintf("GET /v1/records?limit=500%s%s HTTP/1.1\r\nHost: provd\r\n"
                        "Connection: close\r\n\r\n",
                        esc ? "&cursor=" : "", esc ? esc : "");
    } else if (kind == 1) {
        req = xstrdup("GET /v1/export?format=jsonl HTTP/1.1\r\nHost: provd\r\n"
                      "Connection: close\r\n\r\n");
    } else if (kind == 2) {
        req = xstrdup("GET /v1/status HTTP/1.1\r\nHost: provd\r\nConnection: close\r\n\r\n");
    } else {
        req = xstrdup("POST /v1/harvest HTTP/1.1\r\nHost: provd\r\nConnection: close\r\n"
                      "Content-Type: application/x-www-form-urlencoded\r\n"
                      "Content-Length: 11\r\n\r\nsource=main");
    }
    free(esc);
    fd = daemon_http_connect(c->k->sock);
    if (fd < 0 || daemon_http_send(fd, req, strlen(req)) < 0 ||
        socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0) {
        if (fd >= 0)
            close(fd);
        free(req);
        c->none++;
        hw_sleep_ms(5);
        return;
    }
    free(req);
    rd.fd = sp[1];
    if (pthread_create(&th, NULL, reader_main, &rd) != 0)
        die("pthread_create failed");
    atomic_store(&c->bytes, 0);
    while (!atomic_load(&rd.done)) {
        struct pollfd pf = {.fd = fd, .events = POLLIN};
        ssize_t got, off = 0;

        if (atomic_load(&clients_stop) && atomic_load(&c->bytes) == 0)
            break;
        if (poll(&pf, 1, 5) <= 0)
            continue;
        got = recv(fd, buf, sizeof(buf), 0);
        if (got <= 0)
            break;
        atomic_fetch_add(&c->bytes, (long)got);
        atomic_store(&c->busy, true);
        while (off < got && !atomic_load(&rd.done)) {
            struct pollfd po = {.fd = sp[0], .events = POLLOUT};
            ssize_t w;

            if (poll(&po, 1, 5) <= 0)
                continue;
            w = send(sp[0], buf + off, (size_t)(got - off), MSG_DONTWAIT | MSG_NOSIGNAL);
            if (w > 0)
                off += w;
            else if (w < 0 && errno != EAGAIN && errno != EINTR)
                break;
        }
        usleep(1000); /* a slow reader: replies stay in flight a while */
    }
    shutdown(sp[0], SHUT_WR);
    pthread_join(th, NULL);
    atomic_store(&c->busy, false);
    if (rd.rc == 0 && rd.r.complete)
        c->whole++, client_judge(c, kind, &rd.r);
    else if (rd.r.status > 0)
        c->cut++;
    else
        c->none++;
    daemon_http_reply_clear(&rd.r);
    close(sp[0]);
    close(sp[1]);
    close(fd);
}

static void *client_main(void *arg)
{
    struct client *c = arg;

    for (unsigned long n = 0; !atomic_load(&clients_stop); n++)
        client_once(c, n);
    return NULL;
}

/* ---- phases: wait for the moment, then kill ------------------------------ */

/* How many of provd's sockets have an established TCP connection to
 * 127.0.0.1:port (from /proc/PID/fd and /proc/PID/net/tcp). */
static int tcp_established(pid_t pid, unsigned port)
{
    char path[64], *tcp;
    DIR *d;
    struct dirent *e;
    unsigned long inodes[256];
    size_t n = 0;
    int found = 0;

    snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
    if ((d = opendir(path)) == NULL)
        return 0;
    while ((e = readdir(d)) != NULL && n < 256) {
        char link[128], fdp[400];
        ssize_t len;

        snprintf(fdp, sizeof(fdp), "%s/%s", path, e->d_name);
        len = readlink(fdp, link, sizeof(link) - 1);
        if (len > 0) {
            link[len] = '\0';
            if (sscanf(link, "socket:[%lu]", &inodes[n]) == 1)
                n++;
        }
    }
    closedir(d);
    snprintf(path, sizeof(path), "/proc/%d/net/tcp", (int)pid);
    tcp = daemon_proc_read(path, NULL);
    for (char *l = tcp ? strchr(tcp, '\n') : NULL; l && *l; l = strchr(l + 1, '\n')) {
        unsigned rport = 0, st = 0;
        unsigned long inode = 0;

        if (sscanf(l + 1, "%*s %*x:%*x %*x:%x %x %*s %*s %*s %*s %*s %lu", &rport, &st, &inode) !=
            3)
            continue;
        for (size_t i = 0; i < n; i++)
            if (inodes[i] == inode && rport == port && st == 1)
                found++;
    }
    free(tcp);
    return found;
}

/* fetch: a slow single-page harvest; kill before its reply is due. */
static bool phase_fetch(struct kc *k)
{
    size_t mark = hw_log_lines(k->slow.log);
    char *body = xasprintf("url=http://127.0.0.1:%u/fault/delay/%d%%3Fc%%3D%lu", k->slow.port,
                           DELAY_MS, k->cycle);
    double t0 = now_ms(), arrived = -1, due, at;
    int est = 0;

    trigger(k, body);
    free(body);
    while (arrived < 0 && now_ms() - t0 < PHASE_WAIT_MS) {
        struct hw_log l;

        hw_sleep_ms(2);
        if (hw_log_read(k->slow.log, mark, &l) < 0)
            continue;
        for (size_t i = 0; i < l.n && arrived < 0; i++)
            if (strncmp(l.v[i].path, "/fault/delay/", 13) == 0)
                arrived = (double)l.v[i].ms;
        hw_log_free(&l);
    }
    if (arrived < 0) {
        provd_kill(k);
        return false;
    }
    due = arrived + DELAY_MS;
    at = arrived + (double)rng_in(20, DELAY_MS - 250);
    while (now_ms() < at)
        hw_sleep_ms(1);
    est = tcp_established(k->pid, k->slow.port);
    at = now_ms();
    provd_kill(k);
    if (verbose)
        say("  fetch: arrival %.0f ms after the trigger, kill %.0f ms after it, %.0f ms before "
            "the reply, %d connection(s)",
            arrived - t0, at - arrived, due - at, est);
    return est > 0 && at < due - 50;
}

/* CPU time of a process in nanoseconds (schedstat), -1 when gone. */
static long long cpu_ns(pid_t pid)
{
    char path[64], *t;
    long long v = -1;

    snprintf(path, sizeof(path), "/proc/%d/schedstat", (int)pid);
    t = daemon_proc_read(path, NULL);
    if (t)
        v = strtoll(t, NULL, 10);
    free(t);
    return v;
}

static char proc_state(pid_t pid, pid_t tid)
{
    char path[96], *t, *p, s = '?';

    snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", (int)pid, (int)tid);
    t = daemon_proc_read(path, NULL);
    if (t && (p = strrchr(t, ')')) != NULL && p[1] == ' ')
        s = p[2];
    free(t);
    return s;
}

/* extraction: a large page harvested on its own; kill while the helper
 * has spent most of the last 4 ms on a CPU and is still running. */
static bool phase_extract(struct kc *k)
{
    struct page *big[64];
    size_t nb = 0;
    double t0 = now_ms();
    long long prev[16] = {0};
    double prev_t = 0;

    for (size_t i = 0; i < k->n_pages && nb < 64; i++)
        if (k->pages[i].big)
            big[nb++] = &k->pages[i];
    if (nb) {
        char *u = hw_url(k->site.port, big[rng() % nb]->path);
        char *esc = daemon_http_escape(u), *body = xasprintf("url=%s", esc);

        trigger(k, body);
        free(u);
        free(esc);
        free(body);
    }
    while (now_ms() - t0 < PHASE_WAIT_MS) {
        pid_t kids[16];
        size_t n = provd_children(k->pid, kids, 16);
        double t = now_ms();

        for (size_t i = 0; i < n && i < 16; i++) {
            long long ns = cpu_ns(kids[i]);

            if (prev_t > 0 && prev[i] > 0 && ns > 0 && t - prev_t >= 3.5 && t - prev_t < 12 &&
                (double)(ns - prev[i]) / 1e6 >= 2.5 && proc_state(kids[i], kids[i]) == 'R') {
                provd_kill(k);
                if (verbose)
                    say("  extraction: helper %d ran %.1f of the last %.1f ms", (int)kids[i],
                        (double)(ns - prev[i]) / 1e6, t - prev_t);
                return true;
            }
        }
        if (prev_t == 0 || t - prev_t >= 3.5) {
            for (size_t i = 0; i < n && i < 16; i++)
                prev[i] = cpu_ns(kids[i]);
            prev_t = now_ms();
        }
        hw_sleep_ms(1);
    }
    provd_kill(k);
    return false;
}

/* Does thread tid of pid sit in a write or sync of the catalog? */
static bool in_catalog_write(struct kc *k, pid_t pid, const char *tid)
{
    char path[320], *t, link[1024];
    long nr;
    unsigned long fd;
    ssize_t len;
    bool hit = false;

    snprintf(path, sizeof(path), "/proc/%d/task/%s/syscall", (int)pid, tid);
    t = daemon_proc_read(path, NULL);
    if (t == NULL || sscanf(t, "%ld %lx", &nr, &fd) != 2 ||
        (nr != SYS_pwrite64 && nr != SYS_fsync && nr != SYS_fdatasync && nr != SYS_write)) {
        free(t);
        return false;
    }
    free(t);
    snprintf(path, sizeof(path), "/proc/%d/fd/%lu", (int)pid, fd);
    len = readlink(path, link, sizeof(link) - 1);
    if (len > 0) {
        link[len] = '\0';
        hit = strncmp(link, k->db, strlen(k->db)) == 0; /* the database, -wal or -journal */
    }
    return hit;
}

/* commit: stop provd now and then until a thread is caught writing or
 * syncing the catalog; kill it there. A run that ends meanwhile leaves
 * nothing to write, so a new one is asked for every half second. */
static bool phase_commit(struct kc *k)
{
    double t0 = now_ms(), t_trigger = t0;
    char taskdir[64];

    snprintf(taskdir, sizeof(taskdir), "/proc/%d/task", (int)k->pid);
    hw_sleep_ms((int)rng_in(0, 40));
    while (now_ms() - t0 < PHASE_WAIT_MS) {
        double ts = now_ms();
        bool stopped = false, hit = false;
        DIR *d;
        struct dirent *e;

        kill(k->pid, SIGSTOP);
        k->commit_probes++;
        while (!stopped && now_ms() - ts < 500) {
            stopped = true;
            if ((d = opendir(taskdir)) == NULL)
                break;
            while ((e = readdir(d)) != NULL)
                if (e->d_name[0] != '.' && proc_state(k->pid, (pid_t)atoi(e->d_name)) != 'T' &&
                    proc_state(k->pid, (pid_t)atoi(e->d_name)) != 't')
                    stopped = false;
            closedir(d);
        }
        if ((d = opendir(taskdir)) != NULL) {
            while ((e = readdir(d)) != NULL && !hit)
                hit = e->d_name[0] != '.' && in_catalog_write(k, k->pid, e->d_name);
            closedir(d);
        }
        if (hit) {
            provd_kill(k); /* SIGKILL ends a stopped process too */
            if (verbose)
                say("  commit: caught after %.0f ms", now_ms() - t0);
            return true;
        }
        kill(k->pid, SIGCONT);
        usleep((useconds_t)rng_in(300, 3000));
        if (now_ms() - t_trigger > 500) {
            trigger(k, "source=main");
            t_trigger = now_ms();
        }
    }
    kill(k->pid, SIGCONT);
    provd_kill(k);
    return false;
}

/* reply: API clients at work; kill while one of them is early in an
 * export, which is larger than the socket buffers. Landed when a client
 * then saw a reply cut short. */
static bool phase_reply(struct kc *k)
{
    struct client c[CLIENTS];
    double t0 = now_ms();
    bool caught = false;
    unsigned long cut = 0;

    memset(c, 0, sizeof(c));
    atomic_store(&clients_stop, false);
    for (unsigned i = 0; i < CLIENTS; i++) {
        c[i].k = k;
        c[i].idx = i;
        atomic_init(&c[i].bytes, 0);
        atomic_init(&c[i].busy, false);
        atomic_init(&c[i].kind, 2);
        if (pthread_create(&c[i].th, NULL, client_main, &c[i]) != 0)
            die("pthread_create failed");
    }
    hw_sleep_ms((int)rng_in(30, 300));
    while (!caught && now_ms() - t0 < PHASE_WAIT_MS) {
        for (unsigned i = 0; i < CLIENTS && !caught; i++)
            caught = atomic_load(&c[i].busy) && atomic_load(&c[i].kind) == 1 &&
                     atomic_load(&c[i].bytes) > 0 && atomic_load(&c[i].bytes) < 65536;
        if (!caught)
            hw_sleep_ms(1);
    }
    provd_kill(k);
    atomic_store(&clients_stop, true);
    for (unsigned i = 0; i < CLIENTS; i++) {
        pthread_join(c[i].th, NULL);
        k->replies_whole += c[i].whole;
        k->replies_cut += c[i].cut;
        k->replies_bad += c[i].bad;
        cut += c[i].cut;
        free(c[i].cursor);
    }
    if (verbose)
        say("  reply: %lu replies cut short", cut);
    return caught && cut > 0;
}

/* ---- checks ---------------------------------------------------------- */

/* One integer from sql; -1 on error (message printed). */
static long long db_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    long long v = -1;

    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    else
        say("sql %s: %s", sql, sqlite3_errmsg(db));
    sqlite3_finalize(st);
    return v;
}

static sqlite3 *db_open(struct kc *k)
{
    sqlite3 *db = NULL;

    if (sqlite3_open_v2(k->db, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
        die("cannot open %s: %s", k->db, db ? sqlite3_errmsg(db) : "no memory");
    sqlite3_busy_timeout(db, 5000);
    return db;
}

/* The checks after a kill: true when the D1 checks pass. With final set
 * (at the end) it also takes the figures of runs for P2: runs not
 * finished, frontier entries pending, acknowledged runs finished. */
static bool check_catalog(struct kc *k, bool final)
{
    sqlite3 *db = db_open(k);
    sqlite3_stmt *st = NULL;
    struct set now = {0};
    bool ok = true;
    long long v;
    unsigned long lost = 0, lost_ack = 0, unfinished = 0;
    int64_t newest = 0;

    k->checks++;
    /* integrity */
    if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW &&
        strcmp((const char *)sqlite3_column_text(st, 0), "ok") == 0 &&
        sqlite3_step(st) == SQLITE_DONE) {
        k->integrity_ok++;
    } else {
        say("cycle %lu: integrity_check: %s", k->cycle,
            sqlite3_column_text(st, 0) ? (const char *)sqlite3_column_text(st, 0)
                                       : sqlite3_errmsg(db));
        ok = false;
    }
    sqlite3_finalize(st);
    /* duplicates by identity and by record id */
    v = db_int(db, "SELECT count(*) FROM (SELECT 1 FROM records GROUP BY source, key "
                   "HAVING count(*) > 1)");
    v += db_int(db, "SELECT count(*) FROM (SELECT 1 FROM records WHERE record_id IS NOT NULL "
                    "GROUP BY source, record_id HAVING count(*) > 1)");
    if (v != 0) {
        say("cycle %lu: %lld duplicate record(s)", k->cycle, v);
        k->dups += v > 0 ? (unsigned long)v : 1;
        ok = false;
    }
    /* nothing known is lost */
    if (sqlite3_prepare_v2(db, "SELECT key FROM records WHERE source = 'main'", -1, &st, NULL) ==
        SQLITE_OK)
        while (sqlite3_step(st) == SQLITE_ROW)
            set_add(&now, (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    for (size_t i = 0; i < k->known.cap; i++)
        if (k->known.v[i] && !set_has(&now, k->known.v[i])) {
            if (lost++ < 5)
                say("cycle %lu: record %s is gone from the catalog", k->cycle, k->known.v[i]);
        }
    pthread_mutex_lock(&k->ack_lock);
    for (size_t i = 0; i < k->acked_keys.cap; i++)
        if (k->acked_keys.v[i] && !set_has(&now, k->acked_keys.v[i])) {
            if (lost_ack++ < 5)
                say("cycle %lu: record %s, listed by a whole API reply, is gone", k->cycle,
                    k->acked_keys.v[i]);
        }
    set_clear(&k->acked_keys);
    pthread_mutex_unlock(&k->ack_lock);
    if (lost || lost_ack) {
        k->missing += lost;
        k->ack_missing += lost_ack;
        ok = false;
    }
    for (size_t i = 0; i < now.cap; i++)
        if (now.v[i])
            set_add(&k->known, now.v[i]);
    set_clear(&now);
    /* acknowledged runs exist (at the end: finished) */
    if (sqlite3_prepare_v2(db, "SELECT state FROM runs WHERE id = ?", -1, &st, NULL) != SQLITE_OK)
        die("%s", sqlite3_errmsg(db));
    for (size_t i = 0; i < k->n_acked; i++) {
        const char *state;

        sqlite3_reset(st);
        sqlite3_bind_int64(st, 1, k->acked_runs[i]);
        state = sqlite3_step(st) == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0) : NULL;
        if (state == NULL) {
            say("cycle %lu: acknowledged run %lld is missing", k->cycle,
                (long long)k->acked_runs[i]);
            k->runs_lost++;
            ok = false;
        } else if (final && strcmp(state, "finished") == 0) {
            k->acked_done++;
        } else if (final) {
            if (k->acked_unfinished++ < 5)
                say("final: acknowledged run %lld is %s", (long long)k->acked_runs[i], state);
        }
    }
    sqlite3_finalize(st);
    /* unfinished runs and what they still have pending */
    if (sqlite3_prepare_v2(db, "SELECT id FROM runs WHERE state = 'running' ORDER BY id", -1, &st,
                           NULL) == SQLITE_OK)
        while (sqlite3_step(st) == SQLITE_ROW) {
            newest = sqlite3_column_int64(st, 0);
            unfinished++;
        }
    sqlite3_finalize(st);
    if (unfinished > k->max_unfinished)
        k->max_unfinished = unfinished;
    v = db_int(db, "SELECT count(*) FROM frontier f JOIN runs r ON r.id = f.run "
                   "WHERE r.state = 'running' AND f.state = 'pending'");
    k->unfinished_now = unfinished;
    if (!final) {
        k->pending_at_kill += v > 0 ? (unsigned long)v : 0;
        k->expect_resume = newest;
    } else {
        v = db_int(db, "SELECT count(*) FROM runs WHERE state <> 'finished'");
        k->final_unfinished = v > 0 ? (unsigned long)v : 0;
        v = db_int(db, "SELECT count(*) FROM frontier WHERE state = 'pending'");
        k->final_pending = v > 0 ? (unsigned long)v : 0;
        if (k->final_unfinished || k->final_pending)
            say("final: %lu run(s) not finished, %lu frontier URL(s) pending", k->final_unfinished,
                k->final_pending);
    }
    sqlite3_close(db);
    return ok;
}

/* The end state: every page's record once, every alias leading to it,
 * and, when the final daemon completed a new full run, the latest content
 * of every page. */
static bool check_records(struct kc *k)
{
    sqlite3 *db = db_open(k);
    sqlite3_stmt *st = NULL, *al = NULL;
    unsigned long bad = 0;
    long long n = db_int(db, "SELECT count(*) FROM records");

    if (n != (long long)k->n_pages) {
        say("final: the catalog holds %lld records, the site %zu", n, k->n_pages);
        bad++;
    }
    if (sqlite3_prepare_v2(db,
                           "SELECT count(*), max(title) FROM records WHERE source = 'main' AND "
                           "key = ?1 AND record_id = ?1",
                           -1, &st, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db,
                           "SELECT r.record_id FROM urls u JOIN records r ON r.id = u.record "
                           "WHERE u.url = ?",
                           -1, &al, NULL) != SQLITE_OK)
        die("%s", sqlite3_errmsg(db));
    for (size_t i = 0; i < k->n_pages; i++) {
        const struct page *p = &k->pages[i];
        char *suffix = xasprintf("(kc %s r%u)", p->id, p->rev);
        const char *title;

        sqlite3_reset(st);
        sqlite3_bind_text(st, 1, p->id, -1, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_ROW || sqlite3_column_int(st, 0) != 1) {
            if (bad++ < 5)
                say("final: record %s is there %d times", p->id, sqlite3_column_int(st, 0));
        } else if (k->fresh_done && ((title = (const char *)sqlite3_column_text(st, 1)) == NULL ||
                                     strstr(title, suffix) == NULL)) {
            if (bad++ < 5)
                say("final: record %s has title \"%s\", not the latest (%s)", p->id,
                    title ? title : "", suffix);
        }
        for (int a = 0; a < 2; a++) {
            const char *path = a ? p->alias : p->path;
            char *u;

            if (path == NULL)
                continue;
            u = hw_url(k->site.port, path);
            sqlite3_reset(al);
            sqlite3_bind_text(al, 1, u, -1, SQLITE_TRANSIENT);
            if (sqlite3_step(al) != SQLITE_ROW || sqlite3_column_text(al, 0) == NULL ||
                strcmp((const char *)sqlite3_column_text(al, 0), p->id) != 0) {
                if (bad++ < 5)
                    say("final: %s does not lead to record %s", u, p->id);
            }
            free(u);
        }
        free(suffix);
    }
    sqlite3_finalize(st);
    sqlite3_finalize(al);
    sqlite3_close(db);
    return bad == 0;
}

/* ---- cycles ----------------------------------------------------------- */

/* Is run id in state (read-only, beside a running daemon)? */
static bool run_state_is(struct kc *k, int64_t id, const char *state)
{
    sqlite3 *db = db_open(k);
    sqlite3_stmt *st = NULL;
    bool is = false;

    if (sqlite3_prepare_v2(db, "SELECT state FROM runs WHERE id = ?", -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, id);
        is = sqlite3_step(st) == SQLITE_ROW &&
             strcmp((const char *)sqlite3_column_text(st, 0), state) == 0;
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return is;
}

static bool cycle_run(struct kc *k, enum phase ph)
{
    int64_t expect = k->expect_resume, run;
    bool landed = false, ok;
    double t0 = now_ms(), t_up, t_kill;

    world_change(k);
    provd_start(k);
    t_up = now_ms();
    run = trigger(k, "source=main");
    if (expect) {
        k->resumes_due++;
        if (run == expect || run_state_is(k, expect, "finished"))
            k->resumes_ok++;
        else
            say("cycle %lu: run %lld was interrupted, but the trigger answered run %lld", k->cycle,
                (long long)expect, (long long)run);
    }
    k->attempts[ph]++;
    switch (ph) {
    case PH_FETCH:
        landed = phase_fetch(k);
        break;
    case PH_EXTRACT:
        landed = phase_extract(k);
        break;
    case PH_COMMIT:
        landed = phase_commit(k);
        break;
    default:
        landed = phase_reply(k);
        break;
    }
    k->landed[ph] += landed;
    t_kill = now_ms();
    ok = check_catalog(k, false);
    k->checks_ok[ph] += ok;
    if (verbose)
        say("cycle %lu: %s, %s, checks %s, %zu records known; ms: start %.0f, phase %.0f, "
            "check %.0f",
            k->cycle, phase_name[ph], landed ? "landed" : "missed", ok ? "ok" : "FAILED",
            k->known.n, t_up - t0, t_kill - t_up, now_ms() - t_kill);
    return ok;
}

/* Wait up to 300 s for run to end (GET /v1/runs/ID); true when it did. */
static bool run_wait(struct kc *k, int64_t run)
{
    double t0 = now_ms();
    bool done = false;

    while (!done && now_ms() - t0 < 300000) {
        char target[64];
        int status = 0;
        json_t *o;

        snprintf(target, sizeof(target), "/v1/runs/%lld", (long long)run);
        o = api(k, "GET", target, NULL, 5000, &status);
        done = o && json_is_string(json_object_get(o, "state")) &&
               strcmp(json_string_value(json_object_get(o, "state")), "running") != 0 &&
               strcmp(json_string_value(json_object_get(o, "state")), "queued") != 0;
        json_decref(o);
        if (!done)
            hw_sleep_ms(50);
    }
    return done;
}

/* Stop provd with SIGTERM: true when it exited 0. */
static bool provd_stop(struct kc *k)
{
    int st = 0;

    kill(k->pid, SIGTERM);
    if (daemon_proc_wait(k->pid, 30000, &st) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        say("provd did not stop cleanly on SIGTERM (status %#x)", st);
        daemon_proc_kill(k->pid);
        k->pid = 0;
        return false;
    }
    k->pid = 0;
    return true;
}

/* The first harvest, uninterrupted, so that the catalog holds every page
 * before the first kill. */
static void initial_harvest(struct kc *k)
{
    int64_t run;

    provd_start(k);
    run = trigger(k, "source=main");
    if (run == 0 || !run_wait(k, run) || !provd_stop(k))
        die("the initial harvest failed; provd's log ends:\n%s", hw_tail(k->log, 3000));
    if (!check_catalog(k, false) || k->known.n != k->n_pages)
        die("the initial harvest stored %zu records of %zu pages", k->known.n, k->n_pages);
}

/* An uninterrupted daemon: one trigger after another, each waited for,
 * until a trigger starts a new run (none was left unfinished) and that run
 * ends; at most as many as there are unfinished runs, plus three, and
 * FINAL_ROUNDS. Then SIGTERM: true when provd exited 0. */
static bool final_stage(struct kc *k, unsigned *rounds)
{
    unsigned max = (unsigned)k->unfinished_now + 3;

    if (max > FINAL_ROUNDS)
        max = FINAL_ROUNDS;
    world_change(k);
    provd_start(k);
    for (*rounds = 0; *rounds < max && !k->fresh_done; (*rounds)++) {
        int64_t before = k->expect_resume, run;
        bool done;

        run = trigger(k, "source=main");
        if (run == 0)
            break;
        done = run_wait(k, run);
        if (!done) {
            say("final: run %lld did not end within 300 s", (long long)run);
            break;
        }
        k->fresh_done = before == 0;
        /* which runs are still unfinished (read-only, beside the daemon) */
        {
            sqlite3 *db = db_open(k);

            k->expect_resume =
                db_int(db, "SELECT coalesce(max(id), 0) FROM runs WHERE state = 'running'");
            sqlite3_close(db);
        }
    }
    return provd_stop(k);
}

static void usage(void)
{
    fprintf(stderr, "usage: killcycles [-n CYCLES] [-s SEED] [-p PAGES] [-v] [-k]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    struct kc k;
    unsigned long cycles = 1000, base = 300, failed_cycles = 0;
    unsigned long long seed = (unsigned long long)time(NULL) ^ ((unsigned long long)getpid() << 16);
    bool keep = false, stopped, final_ok, records_ok, runs_ok, d1, p2, phases_ok = true;
    unsigned rounds = 0;
    enum phase order[PH_N] = {PH_FETCH, PH_EXTRACT, PH_COMMIT, PH_REPLY};
    double took;
    int opt;

    while ((opt = getopt(argc, argv, "n:s:p:vk")) != -1) {
        switch (opt) {
        case 'n':
            cycles = strtoul(optarg, NULL, 10);
            break;
        case 's':
            seed = strtoull(optarg, NULL, 10);
            break;
        case 'p':
            base = strtoul(optarg, NULL, 10);
            break;
        case 'v':
            verbose = true;
            break;
        case 'k':
            keep = true;
            break;
        default:
            usage();
        }
    }
    if (cycles == 0 || base < 10 || optind != argc)
        usage();
    memset(&k, 0, sizeof(k));
    pthread_mutex_init(&k.ack_lock, NULL);
    rng_state = seed ? seed : 1;
    signal(SIGPIPE, SIG_IGN);
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    k.provd = xstrdup(daemon_proc_program("PROVD_BIN", "daemon/provd"));
    k.fakesite = xstrdup(daemon_proc_program("PROVD_FAKESITE", "tests/fakesite/fakesite"));
    if (access(k.provd, X_OK) != 0 || access(k.fakesite, X_OK) != 0)
        die("%s or %s is missing", k.provd, k.fakesite);
    say("killcycles: %lu cycles, %lu base pages, seed %llu", cycles, base, seed);
    k.t_start = now_ms();
    world_make(&k, base);
    initial_harvest(&k);

    for (k.cycle = 1; k.cycle <= cycles; k.cycle++) {
        /* each block of four cycles visits every phase, in a random order */
        if ((k.cycle - 1) % PH_N == 0)
            for (int i = PH_N - 1; i > 0; i--) {
                int j = (int)rng_in(0, i);
                enum phase t = order[i];

                order[i] = order[j];
                order[j] = t;
            }
        if (!cycle_run(&k, order[(k.cycle - 1) % PH_N]))
            failed_cycles++;
        if (k.cycle % 50 == 0)
            say("killcycles: %lu/%lu cycles, %.0f s, %zu records, %lu failed", k.cycle, cycles,
                (now_ms() - k.t_start) / 1000, k.known.n, failed_cycles);
    }
    stopped = final_stage(&k, &rounds);
    final_ok = check_catalog(&k, true);
    records_ok = check_records(&k);
    runs_ok = stopped && k.fresh_done && k.final_unfinished == 0 && k.final_pending == 0 &&
              k.acked_unfinished == 0;
    took = (now_ms() - k.t_start) / 1000;

    printf("%-11s %8s %8s %10s\n", "phase", "kills", "landed", "checks ok");
    for (int i = 0; i < PH_N; i++) {
        printf("%-11s %8lu %8lu %10lu\n", phase_name[i], k.attempts[i], k.landed[i],
               k.checks_ok[i]);
        /* a phase counts as hit when most of its kills landed in it */
        if (k.landed[i] == 0 || k.landed[i] * 2 < k.attempts[i])
            phases_ok = false;
    }
    printf("cycles %lu in %.0f s (%.2f s a cycle, final stage included), seed %llu\n", cycles, took,
           took / (double)cycles, seed);
    printf("integrity ok %lu/%lu, duplicates %lu, known records lost %lu, acknowledged records "
           "lost %lu, acknowledged runs lost %lu, provd deaths not ours %lu\n",
           k.integrity_ok, k.checks, k.dups, k.missing, k.ack_missing, k.runs_lost, k.crashes);
    printf("runs resumed at restart %lu/%lu, URLs pending at kills %lu, most unfinished runs at "
           "once %lu, helpers outliving provd %lu, commit probes %lu\n",
           k.resumes_ok, k.resumes_due, k.pending_at_kill, k.max_unfinished, k.orphans,
           k.commit_probes);
    printf("API replies whole %lu, cut short %lu, whole but invalid %lu\n", k.replies_whole,
           k.replies_cut, k.replies_bad);
    printf("final: %u trigger(s), new full run %s, records %s (%zu pages), runs not finished "
           "%lu, frontier pending %lu, acknowledged runs finished %lu/%zu, SIGTERM %s\n",
           rounds, k.fresh_done ? "done" : "never reached", records_ok ? "ok" : "FAILED", k.n_pages,
           k.final_unfinished, k.final_pending, k.acked_done, k.n_acked,
           stopped ? "exit 0" : "FAILED");
    d1 = failed_cycles == 0 && final_ok && k.integrity_ok == k.checks && k.dups == 0 &&
         k.missing == 0 && k.ack_missing == 0 && k.runs_lost == 0 && k.crashes == 0 && records_ok;
    p2 = d1 && runs_ok && phases_ok && k.resumes_ok == k.resumes_due && k.replies_bad == 0 &&
         k.orphans == 0;
    printf("ROW D1 %s %lu cycles, integrity ok %lu/%lu, dup %lu, missing %lu, acked lost %lu\n",
           d1 ? "PASS" : "FAIL", cycles, k.integrity_ok, k.checks, k.dups, k.missing + k.runs_lost,
           k.ack_missing);
    printf("ROW P2 %s landed f%lu/%lu e%lu/%lu c%lu/%lu r%lu/%lu, resumed %lu/%lu, acked runs "
           "done %lu/%zu\n",
           p2 ? "PASS" : "FAIL", k.landed[PH_FETCH], k.attempts[PH_FETCH], k.landed[PH_EXTRACT],
           k.attempts[PH_EXTRACT], k.landed[PH_COMMIT], k.attempts[PH_COMMIT], k.landed[PH_REPLY],
           k.attempts[PH_REPLY], k.resumes_ok, k.resumes_due, k.acked_done, k.n_acked);
    fflush(stdout);

    if (k.pid > 0)
        daemon_proc_kill(k.pid);
    world_free(&k, keep || !(d1 && p2));
    free(k.provd);
    free(k.fakesite);
    pthread_mutex_destroy(&k.ack_lock);
    return d1 && p2 ? 0 : 1;
}
