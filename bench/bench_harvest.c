/*
 * bench_harvest: provd's harvest end to end against two baselines, in one
 * run over one set of pages that fakesite serves on 127.0.0.1:
 *
 * (a) a bare libcurl multi fetch of every page, 32 transfers in flight,
 *     bodies counted and dropped: what the loopback and the server allow;
 * (b) the simplest correct harvester, in one process: one libcurl easy
 *     handle, each page parsed with libxml2 (provd's parser options) and
 *     the wilson profile's XPath set evaluated once, and one INSERT per
 *     page in a transaction of its own, in WAL mode with synchronous FULL
 *     as the catalog has it;
 * (c) `provd --once` with delay 0 and concurrency 32, from the same URL
 *     list into a new catalog, with one extraction helper and again
 *     (c2) with two;
 * (d) `provd --once` again on (c)'s catalog with nothing changed (every
 *     page asked for conditionally, 304).
 *
 * It prints pages/s of each, the ratios c/b, c2/b and d/c with their
 * goals (1.0, 1.4, 10), and the peak RSS of the provd process itself and
 * of its helpers, sampled from /proc (VmHWM) while it runs. Times are
 * wall-clock: other load on the machine slows every part alike only
 * roughly, so compare figures of one run.
 *
 * Usage: bench_harvest -p PROVD -f FAKESITE [-d DIR] [-k] [-P PORT] PAGES
 *   PAGES  a directory of record pages (bench/gen_pages.py writes them)
 *   -d     working directory (default: a new one under $TMPDIR)
 *   -k     keep the working directory (its provd.conf files and catalogs
 *          can be run again, e.g. under perf, with fakesite on the same
 *          port: the catalog's URLs name it)
 *   -P     fakesite's port (default: any free one)
 * bench/bench_harvest.sh builds the page set and calls this.
 */
#include "harvest.h"
#include "profile_internal.h"
#include "strbuf.h"
#include "xmalloc.h"

#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <libxml/HTMLparser.h>
#include <libxml/xpath.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define BENCH_IN_FLIGHT 32
#define BENCH_OPTIONS                                                                              \
    (HTML_PARSE_RECOVER | HTML_PARSE_NONET | HTML_PARSE_NOERROR | HTML_PARSE_NOWARNING |           \
     HTML_PARSE_COMPACT)
#define GOAL_C_B  1.0
#define GOAL_C2_B 1.4
#define GOAL_D_C  10.0
#define GOAL_RSS  (40 * 1024) /* KiB */

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The .html files of dir, sorted by name. */
static struct strlist list_pages(const char *dir)
{
    struct strlist l = {0};
    DIR *d = opendir(dir);
    struct dirent *de;

    while (d && (de = readdir(d)) != NULL) {
        size_t n = strlen(de->d_name);

        if (n > 5 && strcmp(de->d_name + n - 5, ".html") == 0)
            strlist_add(&l, de->d_name);
    }
    if (d)
        closedir(d);
    if (l.n)
        qsort(l.v, l.n, sizeof(*l.v), cmp_str);
    return l;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    remove(path);
    return 0;
}

/* ---- child processes -------------------------------------------------- */

static pid_t spawn(const char *const argv[], const char *out, int in_fd)
{
    pid_t pid = fork();

    if (pid == 0) {
        int null = open("/dev/null", O_RDWR);
        int o = out ? open(out, O_WRONLY | O_CREAT | O_APPEND, 0600) : null;

        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(in_fd >= 0 ? in_fd : null, 0);
        dup2(o >= 0 ? o : null, 1);
        dup2(o >= 0 ? o : null, 2);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    return pid;
}

/* VmHWM of pid in KiB; -1 when it cannot be read. */
static long hwm_kb(pid_t pid)
{
    char path[64], line[256];
    long kb = -1;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    f = fopen(path, "r");
    while (f && fgets(line, sizeof(line), f))
        if (strncmp(line, "VmHWM:", 6) == 0)
            kb = strtol(line + 6, NULL, 10);
    if (f)
        fclose(f);
    return kb;
}

/* The largest VmHWM among pid's children now (its helpers). */
static long children_hwm_kb(pid_t pid)
{
    char path[96];
    long best = -1;
    FILE *f;
    int child;

    snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)pid, (int)pid);
    f = fopen(path, "r");
    while (f && fscanf(f, "%d", &child) == 1) {
        long kb = hwm_kb(child);

        if (kb > best)
            best = kb;
    }
    if (f)
        fclose(f);
    return best;
}

struct proc_result {
    int status;                 /* exit status, -1 when killed by a signal */
    double seconds;             /* spawn to exit */
    long rss_kb, helper_rss_kb; /* peaks sampled from /proc */
    long ru_maxrss_kb;          /* wait4: the process and the helpers it reaped */
    double cpu_s;               /* user + system, helpers included */
};

/* Run argv to its end, sampling the peak RSS of it and its children. */
static void run_measured(const char *const argv[], const char *out, struct proc_result *r)
{
    double t0 = now_s();
    pid_t pid = spawn(argv, out, -1);
    struct rusage ru;
    int st = 0;

    memset(r, 0, sizeof(*r));
    r->rss_kb = r->helper_rss_kb = -1;
    for (;;) {
        long kb = hwm_kb(pid), hk = children_hwm_kb(pid);
        pid_t w;

        if (kb > r->rss_kb)
            r->rss_kb = kb;
        if (hk > r->helper_rss_kb)
            r->helper_rss_kb = hk;
        w = wait4(pid, &st, WNOHANG, &ru);
        if (w == pid)
            break;
        if (w < 0) {
            perror("wait4");
            exit(1);
        }
        sleep_ms(10);
    }
    r->seconds = now_s() - t0;
    r->status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    r->ru_maxrss_kb = ru.ru_maxrss;
    r->cpu_s = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
               (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* ---- (a) bare libcurl multi ------------------------------------------- */

static size_t drop_body(char *ptr, size_t size, size_t nmemb, void *data)
{
    *(size_t *)data += size * nmemb;
    return size * nmemb;
}

static double bench_multi(const struct strlist *urls, size_t *ok, double *mb)
{
    CURLM *m = curl_multi_init();
    CURL *easy[BENCH_IN_FLIGHT];
    size_t bytes[BENCH_IN_FLIGHT] = {0}, next = 0, total = 0;
    int running = 0;
    double t0 = now_s();

    *ok = 0;
    for (int i = 0; i < BENCH_IN_FLIGHT; i++) {
        easy[i] = curl_easy_init();
        curl_easy_setopt(easy[i], CURLOPT_WRITEFUNCTION, drop_body);
        curl_easy_setopt(easy[i], CURLOPT_WRITEDATA, &bytes[i]);
        curl_easy_setopt(easy[i], CURLOPT_PRIVATE, (void *)(intptr_t)i);
        if (next < urls->n) {
            curl_easy_setopt(easy[i], CURLOPT_URL, urls->v[next++]);
            curl_multi_add_handle(m, easy[i]);
        }
    }
    do {
        CURLMsg *msg;
        int left;

        curl_multi_perform(m, &running);
        while ((msg = curl_multi_info_read(m, &left)) != NULL) {
            void *priv = NULL;
            long status = 0;
            int i;

            if (msg->msg != CURLMSG_DONE)
                continue;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&priv);
            curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &status);
            i = (int)(intptr_t)priv;
            *ok += msg->data.result == CURLE_OK && status == 200;
            total += bytes[i];
            bytes[i] = 0;
            curl_multi_remove_handle(m, easy[i]);
            if (next < urls->n) {
                curl_easy_setopt(easy[i], CURLOPT_URL, urls->v[next++]);
                curl_multi_add_handle(m, easy[i]);
                running++;
            }
        }
        if (running)
            curl_multi_poll(m, NULL, 0, 1000, NULL);
    } while (running);
    for (int i = 0; i < BENCH_IN_FLIGHT; i++)
        curl_easy_cleanup(easy[i]);
    curl_multi_cleanup(m);
    *mb = (double)total / 1e6;
    return now_s() - t0;
}

/* ---- (b) the simplest harvester ---------------------------------------- */

static size_t keep_body(char *ptr, size_t size, size_t nmemb, void *data)
{
    strbuf_add(data, ptr, size * nmemb);
    return size * nmemb;
}

static int sql_ok(sqlite3 *db, int rc, const char *what)
{
    if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW) {
        fprintf(stderr, "bench_harvest: %s: %s\n", what, sqlite3_errmsg(db));
        exit(1);
    }
    return rc;
}

/* Parse buf, evaluate every XPath of p and join their string values. */
static char *simple_extract(const struct profile *p, const char *buf, size_t len, char **title)
{
    htmlParserCtxtPtr ctxt = htmlNewParserCtxt();
    xmlDocPtr doc = htmlCtxtReadMemory(ctxt, buf, (int)len, NULL, NULL, BENCH_OPTIONS);
    xmlXPathContextPtr xp = doc ? xmlXPathNewContext(doc) : NULL;
    struct strbuf out = {0};

    *title = NULL;
    for (size_t i = 0; xp && i < profile_xpath_count(p); i++) {
        xmlXPathObjectPtr res;
        xmlChar *s;

        xp->node = (xmlNodePtr)doc;
        xp->opLimit = 10000000;
        xp->opCount = 0;
        res = xmlXPathCompiledEval(profile_xpath_at(p, i)->comp, xp);
        s = res ? xmlXPathCastToString(res) : NULL;
        strbuf_addf(&out, "%s\x1f", s ? (const char *)s : "");
        if (*title == NULL && s && strstr(profile_xpath_at(p, i)->expr, "h1"))
            *title = xstrdup((const char *)s);
        xmlFree(s);
        xmlXPathFreeObject(res);
    }
    if (xp)
        xmlXPathFreeContext(xp);
    if (doc)
        xmlFreeDoc(doc);
    htmlFreeParserCtxt(ctxt);
    return strbuf_steal(&out);
}

static double bench_simple(const struct strlist *urls, const struct profile *p, const char *dbpath,
                           size_t *ok)
{
    CURL *easy = curl_easy_init();
    struct strbuf body = {0};
    sqlite3 *db = NULL;
    sqlite3_stmt *ins = NULL;
    double t0 = now_s();

    *ok = 0;
    sql_ok(db, sqlite3_open(dbpath, &db), "open");
    sql_ok(db,
           sqlite3_exec(db,
                        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;"
                        " CREATE TABLE pages(url TEXT PRIMARY KEY, title TEXT, fields TEXT);",
                        NULL, NULL, NULL),
           "schema");
    sql_ok(
        db,
        sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO pages VALUES (?1, ?2, ?3)", -1, &ins, NULL),
        "prepare");
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, keep_body);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, &body);
    for (size_t i = 0; i < urls->n; i++) {
        long status = 0;
        char *title = NULL, *fields;

        strbuf_reset(&body);
        curl_easy_setopt(easy, CURLOPT_URL, urls->v[i]);
        if (curl_easy_perform(easy) != CURLE_OK)
            continue;
        curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
        if (status != 200 || body.len == 0)
            continue;
        fields = simple_extract(p, body.s, body.len, &title);
        sql_ok(db, sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), "begin");
        sqlite3_bind_text(ins, 1, urls->v[i], -1, SQLITE_STATIC);
        sqlite3_bind_text(ins, 2, title, -1, SQLITE_STATIC);
        sqlite3_bind_text(ins, 3, fields, -1, SQLITE_STATIC);
        sql_ok(db, sqlite3_step(ins), "insert");
        sqlite3_reset(ins);
        sql_ok(db, sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), "commit");
        *ok += title != NULL && *title != '\0';
        free(title);
        free(fields);
    }
    sqlite3_finalize(ins);
    sqlite3_close(db);
    curl_easy_cleanup(easy);
    strbuf_release(&body);
    return now_s() - t0;
}

/* ---- (c), (d) provd --once ---------------------------------------------- */

static char *write_conf(const char *dir, const char *name, unsigned port, const char *list,
                        unsigned workers)
{
    char *conf = xasprintf("%s/%s.conf", dir, name);
    FILE *f = fopen(conf, "w");

    if (f == NULL) {
        perror(conf);
        exit(1);
    }
    fprintf(f,
            "[provd]\n"
            "database = %s/%s/catalog.db\n"
            "socket = %s/provd.sock\n"
            "contact = mailto:bench@example.invalid\n"
            "extract-workers = %u\n"
            "max-connections = %d\n"
            "allow-addresses = 127.0.0.1:%u\n"
            "log-level = notice\n"
            "\n"
            "[source bench]\n"
            "urls = %s\n"
            "delay = 0\n"
            "concurrency = %d\n",
            dir, name, dir, workers, BENCH_IN_FLIGHT, port, list, BENCH_IN_FLIGHT);
    fclose(f);
    return conf;
}

/* Records in a catalog, read with plain SQLite. */
static long count_records(const char *dir, const char *name)
{
    char *path = xasprintf("%s/%s/catalog.db", dir, name);
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    long n = -1;

    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(db, "SELECT count(*) FROM records", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        n = (long)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    free(path);
    return n;
}

static void run_provd(const char *provd, const char *conf, const char *out, struct proc_result *r)
{
    const char *argv[] = {provd, "-c", conf, "--once", NULL};

    run_measured(argv, out, r);
    if (r->status != 0) {
        fprintf(stderr, "bench_harvest: provd -c %s --once exited %d (see %s)\n", conf, r->status,
                out);
        exit(1);
    }
}

static void usage(void)
{
    fprintf(stderr, "usage: bench_harvest -p PROVD -f FAKESITE [-d DIR] [-k] [-P PORT] PAGES\n");
    exit(2);
}

/* A line of results for one provd run. */
static void print_provd(const char *label, const struct proc_result *r, size_t pages, long recs)
{
    printf("%s %8.1f pages/s  %7.2f s  CPU %6.2f s (%.2f ms/page)  records %ld\n", label,
           (double)pages / r->seconds, r->seconds, r->cpu_s, r->cpu_s * 1e3 / (double)pages, recs);
    printf("    peak RSS: provd %ld KiB, largest helper %ld KiB (wait4 maxrss %ld KiB)\n",
           r->rss_kb, r->helper_rss_kb, r->ru_maxrss_kb);
}

int main(int argc, char **argv)
{
    const char *provd = NULL, *fakesite = NULL, *pages_dir, *port_arg = "0";
    char *dir = NULL, *port_file, *list_path, *conf1, *conf2, *out, *db;
    bool keep = false;
    struct strlist names, urls = {0};
    struct proc_result c1, c2, d;
    const struct profile *p;
    unsigned port = 0;
    size_t ok_a, ok_b;
    double ta, tb, mb_a, rate_a, rate_b, rate_c1, rate_c2, rate_d;
    int opt, pipefd[2];
    pid_t site;
    FILE *f;
    bool met;

    while ((opt = getopt(argc, argv, "p:f:d:kP:")) != -1) {
        switch (opt) {
        case 'p':
            provd = optarg;
            break;
        case 'f':
            fakesite = optarg;
            break;
        case 'd':
            dir = xstrdup(optarg);
            break;
        case 'k':
            keep = true;
            break;
        case 'P':
            port_arg = optarg;
            break;
        default:
            usage();
        }
    }
    if (provd == NULL || fakesite == NULL || optind + 1 != argc)
        usage();
    pages_dir = argv[optind];
    names = list_pages(pages_dir);
    if (names.n == 0) {
        fprintf(stderr, "bench_harvest: no .html pages in %s\n", pages_dir);
        return 2;
    }
    if (dir == NULL) {
        const char *t = getenv("TMPDIR");

        dir = xasprintf("%s/provd-bench-harvest-XXXXXX", t && *t ? t : "/tmp");
        if (mkdtemp(dir) == NULL) {
            perror(dir);
            return 1;
        }
    } else {
        mkdir(dir, 0700);
    }
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    extract_global_init();
    p = profile_builtin("wilson");

    /* the site */
    port_file = xasprintf("%s/site.port", dir);
    unlink(port_file);
    if (pipe(pipefd) != 0)
        return 1;
    {
        const char *sargv[] = {fakesite,      "--root",  pages_dir,    "--port", port_arg,
                               "--port-file", port_file, "--lifetime", "7200",   NULL};

        site = spawn(sargv, NULL, pipefd[0]);
        close(pipefd[0]);
    }
    for (int waited = 0; port == 0 && waited < 10000; waited += 20) {
        f = fopen(port_file, "r");
        if (f) {
            if (fscanf(f, "%u", &port) != 1)
                port = 0;
            fclose(f);
        }
        if (port == 0)
            sleep_ms(20);
    }
    if (port == 0) {
        fprintf(stderr, "bench_harvest: fakesite did not start\n");
        return 1;
    }
    list_path = xasprintf("%s/pages.urls", dir);
    f = fopen(list_path, "w");
    for (size_t i = 0; i < names.n; i++) {
        strlist_add_steal(&urls, xasprintf("http://127.0.0.1:%u/%s", port, names.v[i]));
        fprintf(f, "%s\n", urls.v[i]);
    }
    fclose(f);
    printf("harvest benchmark: %zu pages from %s, fakesite on 127.0.0.1:%u, %ld CPUs online\n",
           urls.n, pages_dir, port, sysconf(_SC_NPROCESSORS_ONLN));
    fflush(stdout);

    /* (a), (b) */
    ta = bench_multi(&urls, &ok_a, &mb_a);
    rate_a = (double)urls.n / ta;
    printf("(a) libcurl multi, %d in flight:        %8.1f pages/s  %7.2f s  %.1f MB, %zu ok\n",
           BENCH_IN_FLIGHT, rate_a, ta, mb_a, ok_a);
    fflush(stdout);
    db = xasprintf("%s/simple.db", dir);
    tb = bench_simple(&urls, p, db, &ok_b);
    rate_b = (double)urls.n / tb;
    printf("(b) fetch + parse + XPath + INSERT:       %8.1f pages/s  %7.2f s  %zu with a title\n",
           rate_b, tb, ok_b);
    fflush(stdout);

    /* (c), (d), (c2) */
    out = xasprintf("%s/provd.out", dir);
    conf1 = write_conf(dir, "c1", port, list_path, 1);
    conf2 = write_conf(dir, "c2", port, list_path, 2);
    run_provd(provd, conf1, out, &c1);
    rate_c1 = (double)urls.n / c1.seconds;
    print_provd("(c) provd --once, 1 helper:          ", &c1, urls.n, count_records(dir, "c1"));
    fflush(stdout);
    run_provd(provd, conf1, out, &d);
    rate_d = (double)urls.n / d.seconds;
    print_provd("(d) provd --once again, unchanged:   ", &d, urls.n, count_records(dir, "c1"));
    fflush(stdout);
    run_provd(provd, conf2, out, &c2);
    rate_c2 = (double)urls.n / c2.seconds;
    print_provd("(c2) provd --once, 2 helpers:        ", &c2, urls.n, count_records(dir, "c2"));

    met = rate_c1 / rate_b >= GOAL_C_B && rate_c2 / rate_b >= GOAL_C2_B &&
          rate_d / rate_c1 >= GOAL_D_C && c1.rss_kb <= GOAL_RSS && c2.rss_kb <= GOAL_RSS &&
          d.rss_kb <= GOAL_RSS;
    printf("c/b %.2f (goal %.1f), c2/b %.2f (goal %.1f), d/c %.1f (goal %.0f), provd peak RSS "
           "%ld KiB (goal %d): %s\n",
           rate_c1 / rate_b, GOAL_C_B, rate_c2 / rate_b, GOAL_C2_B, rate_d / rate_c1, GOAL_D_C,
           c1.rss_kb > c2.rss_kb ? c1.rss_kb : c2.rss_kb, GOAL_RSS,
           met ? "goals met" : "goals NOT met");

    close(pipefd[1]);
    kill(site, SIGTERM);
    waitpid(site, NULL, 0);
    if (!keep)
        nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    else
        printf("kept %s\n", dir);
    strlist_clear(&names);
    strlist_clear(&urls);
    free(dir);
    free(port_file);
    free(list_path);
    free(conf1);
    free(conf2);
    free(out);
    free(db);
    curl_global_cleanup();
    return met ? 0 : 1;
}
