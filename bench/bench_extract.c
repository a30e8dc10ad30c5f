/*
 * bench_extract: how much of libxml2's own speed page extraction keeps.
 * For every page of a directory (bench/gen_pages.py writes one), in one
 * run on one thread, it times (a) a bare libxml2 parse with provd's parser
 * settings plus one evaluation of each XPath of the profile, and nothing
 * else, and (b) extract_page() with the same profile, which adds decoding,
 * node counting, the post-steps, text cleaning, the provenance parser and
 * the record. Both are timed in thread CPU time, page by page and in
 * alternating order, so other load on the machine slows both alike. It
 * prints pages/s and MB/s of each and the ratio b/a, and exits non-zero
 * when the ratio is under the goal.
 */
#include "harvest.h"
#include "profile_internal.h"
#include "strbuf.h"

#include <dirent.h>
#include <errno.h>
#include <libxml/HTMLparser.h>
#include <libxml/xpath.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BENCH_OPTIONS                                                                              \
    (HTML_PARSE_RECOVER | HTML_PARSE_NONET | HTML_PARSE_NOERROR | HTML_PARSE_NOWARNING |           \
     HTML_PARSE_COMPACT | HTML_PARSE_IGNORE_ENC)

static double bench_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int bench_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The .html files of dir, sorted; *n gets their number. */
static char **bench_list(const char *dir, size_t *n)
{
    DIR *d = opendir(dir);
    char **v = NULL;
    size_t cap = 0;
    struct dirent *de;

    *n = 0;
    if (d == NULL)
        return NULL;
    while ((de = readdir(d)) != NULL) {
        size_t len = strlen(de->d_name);

        if (len < 6 || strcmp(de->d_name + len - 5, ".html") != 0)
            continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 1024;
            v = realloc(v, cap * sizeof(*v));
            if (v == NULL)
                abort();
        }
        if (asprintf(&v[*n], "%s/%s", dir, de->d_name) < 0)
            abort();
        (*n)++;
    }
    closedir(d);
    qsort(v, *n, sizeof(*v), bench_cmp);
    return v;
}

static int bench_read(const char *path, struct strbuf *b)
{
    char chunk[65536];
    FILE *f = fopen(path, "rb");
    size_t n;

    strbuf_reset(b);
    if (f == NULL)
        return -errno;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        strbuf_add(b, chunk, n);
    fclose(f);
    return 0;
}

/* (a): parse and evaluate the profile's XPath set, nothing else. */
static int bench_bare(const struct profile *p, const char *buf, size_t len)
{
    htmlParserCtxtPtr ctxt = htmlNewParserCtxt();
    xmlXPathContextPtr xp;
    xmlDocPtr doc;
    int found = 0;

    doc = htmlCtxtReadMemory(ctxt, buf, (int)len, NULL, "UTF-8", BENCH_OPTIONS);
    xp = xmlXPathNewContext(doc);
    xp->opLimit = 10000000;
    for (size_t i = 0; i < profile_xpath_count(p); i++) {
        xmlXPathObjectPtr res;

        xp->node = (xmlNodePtr)doc;
        xp->opCount = 0;
        res = xmlXPathCompiledEval(profile_xpath_at(p, i)->comp, xp);
        found += res != NULL && res->nodesetval != NULL && res->nodesetval->nodeNr > 0;
        xmlXPathFreeObject(res);
    }
    xmlXPathFreeContext(xp);
    xmlFreeDoc(doc);
    htmlFreeParserCtxt(ctxt);
    return found;
}

/* (b): the whole extraction; 0 when it gave a complete record. */
static int bench_extract(const struct profile *p, const char *buf, size_t len, const char *url)
{
    struct extract_result res = {0};
    int rc = extract_page(p, buf, len, url, "utf-8", &res);

    if (rc == 0 && res.category != PROV_OK)
        rc = -EIO;
    extract_result_clear(&res);
    return rc;
}

static void usage(void)
{
    fprintf(stderr, "usage: bench_extract [-n PAGES] [-p PROFILE] [-g GOAL] [-c CPU] DIR\n"
                    "  DIR holds the pages (bench/gen_pages.py DIR writes 10,000 of them)\n"
                    "  -n  use at most PAGES pages (all)\n"
                    "  -p  built-in profile (wilson)\n"
                    "  -g  lowest acceptable ratio b/a (0.85)\n"
                    "  -c  pin the benchmark to this CPU\n");
    exit(2);
}

int main(int argc, char **argv)
{
    const char *profile_name_arg = "wilson";
    double goal = 0.85, ta = 0, tb = 0, mb = 0, ratio;
    size_t limit = (size_t)-1, n, total, ok = 0, done = 0;
    struct strbuf buf = STRBUF_INIT;
    const struct profile *p;
    char **files;
    int opt, cpu = -1;

    while ((opt = getopt(argc, argv, "n:p:g:c:")) != -1) {
        switch (opt) {
        case 'n':
            limit = strtoul(optarg, NULL, 10);
            break;
        case 'p':
            profile_name_arg = optarg;
            break;
        case 'g':
            goal = strtod(optarg, NULL);
            break;
        case 'c':
            cpu = atoi(optarg);
            break;
        default:
            usage();
        }
    }
    if (optind + 1 != argc)
        usage();
    if (cpu >= 0) {
        cpu_set_t set;

        CPU_ZERO(&set);
        CPU_SET(cpu, &set);
        if (sched_setaffinity(0, sizeof(set), &set) < 0)
            perror("sched_setaffinity");
    }
    extract_global_init();
    p = profile_builtin(profile_name_arg);
    if (p == NULL) {
        fprintf(stderr, "bench_extract: no built-in profile %s\n", profile_name_arg);
        return 2;
    }
    files = bench_list(argv[optind], &total);
    n = total;
    if (n == 0) {
        fprintf(stderr, "bench_extract: no .html pages in %s\n", argv[optind]);
        return 2;
    }
    if (n > limit)
        n = limit;
    /* warm caches and the allocator on a few pages, untimed */
    for (size_t i = 0; i < n && i < 20; i++) {
        if (bench_read(files[i], &buf) == 0) {
            bench_bare(p, buf.s, buf.len);
            bench_extract(p, buf.s, buf.len, files[i]);
        }
    }
    for (size_t i = 0; i < n; i++) {
        double t0, t1, t2;
        int rc = 0;

        if (bench_read(files[i], &buf) < 0) {
            perror(files[i]);
            continue;
        }
        if (i % 2 == 0) {
            t0 = bench_now();
            bench_bare(p, buf.s, buf.len);
            t1 = bench_now();
            rc = bench_extract(p, buf.s, buf.len, files[i]);
            t2 = bench_now();
            ta += t1 - t0;
            tb += t2 - t1;
        } else {
            t0 = bench_now();
            rc = bench_extract(p, buf.s, buf.len, files[i]);
            t1 = bench_now();
            bench_bare(p, buf.s, buf.len);
            t2 = bench_now();
            tb += t1 - t0;
            ta += t2 - t1;
        }
        ok += rc == 0;
        done++;
        mb += (double)buf.len / 1e6;
    }
    ratio = ta / tb;
    printf("extraction benchmark: %zu pages, %.1f MB (%.1f KB a page), profile %s, %zu XPaths\n",
           done, mb, mb * 1e3 / 1.024 / (double)done, profile_name(p), profile_xpath_count(p));
    printf("(a) libxml2 parse + XPath set: %8.1f pages/s %7.1f MB/s  %8.3f s CPU\n",
           (double)done / ta, mb / ta, ta);
    printf("(b) extract_page:              %8.1f pages/s %7.1f MB/s  %8.3f s CPU\n",
           (double)done / tb, mb / tb, tb);
    printf("b/a: %.3f (goal %.2f: %s); complete records: %zu of %zu\n", ratio, goal,
           ratio >= goal ? "met" : "NOT met", ok, done);
    for (size_t i = 0; i < total; i++)
        free(files[i]);
    free(files);
    strbuf_release(&buf);
    return ratio >= goal && ok == done ? 0 : 1;
}
