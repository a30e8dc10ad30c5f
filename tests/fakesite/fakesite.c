/*
 * fakesite: a local HTTP site for provd's tests and benchmarks, on
 * libevent's evhttp, that serves a directory of pages the way an archive
 * does and misbehaves on request.
 *
 *   fakesite --root DIR [--port N] [--port-file F] [--raw-port-file F]
 *            [--log FILE] [--robots-agent NAME] [--robots-disallow PATH]...
 *            [--crawl-delay SECONDS] [--robots-status CODE]
 *            [--sitemap-size N] [--lifetime SECONDS]
 *
 * It binds 127.0.0.1 only (port 0 picks a free port), writes the chosen
 * port to the port file (atomically, by rename) once it accepts, and stops
 * on SIGTERM or SIGINT, when its parent dies, when stdin is a pipe or
 * socket that closes, or after --lifetime seconds (default 600).
 *
 * Pages: every regular file under DIR (hidden ones excepted) is served as
 * text/html at its relative path, with a content-hash ETag and the file's
 * Last-Modified; If-None-Match and If-Modified-Since give 304. Files are
 * read on each request, so a test may change them between runs.
 *   /robots.txt            User-agent (--robots-agent, default *), the
 *                          --robots-disallow paths, --crawl-delay; or the
 *                          status --robots-status with no rules
 *   /sitemap.xml           every page with its lastmod
 *   /sitemap-index.xml     an index of /sitemap-1.xml, /sitemap-2.xml, ...
 *                          holding --sitemap-size pages each (default 1000)
 *   /list?page=N           listing pages from N=0, ten links a page in a
 *                          Drupal Views table, with a rel="next" link while
 *                          more pages follow
 * Faults under /fault/ are listed in faults.c; the raw port's (the port
 * written to --raw-port-file: resets, truncation, garbage, silence, huge
 * headers) in raw.c.
 *
 * Request log (--log): one line per request, tab-separated: CLOCK_MONOTONIC
 * milliseconds, method, path with query, status, "cond" when the request
 * carried If-None-Match or If-Modified-Since (else "-"), User-Agent.
 *
 * Bounded: header and body size limits, idle timeouts, a file size cap,
 * capped counters and listings, an fd limit; the large fault bodies are
 * built once at start-up and sent by reference.
 */
#include "fakesite.h"

#include <dirent.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define SITE_FILE_MAX  (64L << 20) /* largest page served */
#define SITE_MAX_PAGES 200000      /* largest listing */
#define SITE_MAX_DEPTH 8
#define SITE_LIST_SIZE 10

struct site_page {
    char *path; /* "/a/b.html" */
    time_t mtime;
};

/* A directory seen by a scan, with its modification time: when none has
 * changed, no page was added, removed or renamed. */
struct site_dir {
    char *rel;
    struct timespec mtime;
};

struct site_pages {
    struct site_page *v;
    size_t n, cap;
    struct site_dir *dirs;
    size_t ndirs, dcap;
};

long long site_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void site_http_date(time_t t, char *out, size_t outlen)
{
    static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    struct tm tm;

    gmtime_r(&t, &tm);
    snprintf(out, outlen, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday], tm.tm_mday,
             months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* Parse an IMF-fixdate; -1 when it is not one. */
static time_t site_parse_date(const char *s)
{
    struct tm tm;
    const char *end;

    memset(&tm, 0, sizeof(tm));
    end = strptime(s, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    if (end == NULL || *end != '\0')
        return -1;
    return timegm(&tm);
}

/* Copy s into out with control bytes, tabs and non-ASCII replaced. */
static void site_clean(const char *s, char *out, size_t outlen)
{
    size_t i = 0;

    for (; s && *s && i + 1 < outlen; s++)
        out[i++] = ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f) ? '?' : *s;
    if (i == 0 && outlen > 1)
        out[i++] = '-';
    out[i] = '\0';
}

void site_log(struct site *s, const char *method, const char *path, int status, bool conditional,
              const char *user_agent)
{
    char p[2048], ua[512];

    if (s->log == NULL)
        return;
    site_clean(path, p, sizeof(p));
    site_clean(user_agent, ua, sizeof(ua));
    fprintf(s->log, "%lld\t%s\t%s\t%d\t%s\t%s\n", site_now_ms(), method, p, status,
            conditional ? "cond" : "-", ua);
    fflush(s->log);
}

static const char *site_method(struct evhttp_request *req)
{
    switch (evhttp_request_get_command(req)) {
    case EVHTTP_REQ_GET:
        return "GET";
    case EVHTTP_REQ_HEAD:
        return "HEAD";
    default:
        return "OTHER";
    }
}

void site_log_request(struct site *s, struct evhttp_request *req, int status)
{
    struct evkeyvalq *in = evhttp_request_get_input_headers(req);
    bool cond =
        evhttp_find_header(in, "If-None-Match") || evhttp_find_header(in, "If-Modified-Since");

    site_log(s, site_method(req), evhttp_request_get_uri(req), status, cond,
             evhttp_find_header(in, "User-Agent"));
}

void site_send(struct evhttp_request *req, int status, struct evbuffer *body)
{
    if (evhttp_request_get_connection(req) == NULL) {
        evhttp_request_free(req); /* the client left while we waited */
        return;
    }
    /* evhttp has no phrase for 429 */
    evhttp_send_reply(req, status, status == 429 ? "Too Many Requests" : NULL, body);
}

void site_reply(struct site *s, struct evhttp_request *req, int status, struct evbuffer *body)
{
    site_log_request(s, req, status);
    site_send(req, status, body);
}

unsigned long site_count(struct site *s, const char *path)
{
    for (size_t i = 0; i < s->ncounters; i++)
        if (strcmp(s->counters[i].path, path) == 0)
            return ++s->counters[i].n;
    if (s->ncounters == SITE_MAX_COUNTERS)
        return 1; /* full: new paths count as first requests */
    s->counters[s->ncounters].path = strdup(path);
    if (s->counters[s->ncounters].path == NULL)
        return 1;
    s->counters[s->ncounters].n = 1;
    return s->counters[s->ncounters++].n;
}

static void site_text(struct site *s, struct evhttp_request *req, int status, const char *ctype,
                      const char *text)
{
    struct evbuffer *b = evbuffer_new();

    if (ctype)
        evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", ctype);
    if (b)
        evbuffer_add(b, text, strlen(text));
    site_reply(s, req, status, b);
    if (b)
        evbuffer_free(b);
}

static void site_not_found(struct site *s, struct evhttp_request *req)
{
    site_text(s, req, 404, "text/html; charset=utf-8",
              "<!DOCTYPE html><html><head><title>Page not found</title></head>"
              "<body><h1>Page not found</h1></body></html>\n");
}

/* True when path (decoded) is safe to append to the root. */
static bool site_path_ok(const char *path, size_t len)
{
    if (len == 0 || path[0] != '/' || strlen(path) != len)
        return false;
    for (const char *p = path; *p; p++) {
        if (p[0] == '/' && p[1] == '.')
            return false; /* no "..", no hidden files */
    }
    return true;
}

static uint64_t site_hash(const unsigned char *p, size_t n)
{
    uint64_t h = 1469598103934665603ULL;

    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 1099511628211ULL;
    return h;
}

void site_serve_file(struct site *s, struct evhttp_request *req, const char *path)
{
    struct evkeyvalq *in = evhttp_request_get_input_headers(req);
    struct evkeyvalq *out = evhttp_request_get_output_headers(req);
    struct evbuffer *body = NULL;
    unsigned char *data = NULL;
    char *full = NULL;
    size_t dlen;
    char *decoded = evhttp_uridecode(path, 0, &dlen);
    struct stat st;
    int fd = -1;

    if (decoded == NULL || !site_path_ok(decoded, dlen))
        goto notfound;
    if (strcmp(decoded, "/") == 0) {
        free(decoded);
        decoded = strdup("/index.html");
        if (decoded == NULL)
            goto notfound;
    }
    if (asprintf(&full, "%s%s", s->root, decoded) < 0) {
        full = NULL;
        goto notfound;
    }
    fd = open(full, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > SITE_FILE_MAX)
        goto notfound;
    dlen = (size_t)st.st_size;
    data = malloc(dlen + 1);
    if (data == NULL)
        goto notfound;
    for (size_t got = 0; got < dlen;) {
        ssize_t n = read(fd, data + got, dlen - got);
        if (n <= 0)
            goto notfound;
        got += (size_t)n;
    }

    char etag[40], lm[40];
    snprintf(etag, sizeof(etag), "\"%016llx\"", (unsigned long long)site_hash(data, dlen));
    site_http_date(st.st_mtime, lm, sizeof(lm));
    evhttp_add_header(out, "ETag", etag);
    evhttp_add_header(out, "Last-Modified", lm);
    evhttp_add_header(out, "Cache-Control", "no-cache");

    const char *inm = evhttp_find_header(in, "If-None-Match");
    const char *ims = evhttp_find_header(in, "If-Modified-Since");
    bool fresh = false;
    if (inm != NULL) {
        fresh = strstr(inm, etag) != NULL || strcmp(inm, "*") == 0;
    } else if (ims != NULL) {
        time_t t = site_parse_date(ims);
        fresh = t != -1 && st.st_mtime <= t;
    }
    if (fresh) {
        site_reply(s, req, 304, NULL);
        goto out;
    }
    evhttp_add_header(out, "Content-Type", "text/html; charset=utf-8");
    body = evbuffer_new();
    if (body && evhttp_request_get_command(req) != EVHTTP_REQ_HEAD)
        evbuffer_add(body, data, dlen);
    site_reply(s, req, 200, body);
    goto out;
notfound:
    site_not_found(s, req);
out:
    if (body)
        evbuffer_free(body);
    if (fd >= 0)
        close(fd);
    free(data);
    free(full);
    free(decoded);
}

/* ---- the page list (sitemaps, listings) ------------------------------ */

static void site_pages_free(struct site_pages *p)
{
    for (size_t i = 0; i < p->n; i++)
        free(p->v[i].path);
    free(p->v);
    for (size_t i = 0; i < p->ndirs; i++)
        free(p->dirs[i].rel);
    free(p->dirs);
    memset(p, 0, sizeof(*p));
}

/* True when no directory of scan p changed since. */
static bool site_pages_fresh(struct site *s, const struct site_pages *p)
{
    for (size_t i = 0; i < p->ndirs; i++) {
        char *full = NULL;
        struct stat st;
        bool same;
        if (asprintf(&full, "%s%s", s->root, p->dirs[i].rel) < 0)
            return false;
        same = stat(full, &st) == 0 && st.st_mtim.tv_sec == p->dirs[i].mtime.tv_sec &&
               st.st_mtim.tv_nsec == p->dirs[i].mtime.tv_nsec;
        free(full);
        if (!same)
            return false;
    }
    return p->ndirs > 0;
}

static void site_scan_dir(const char *root, const char *rel, int depth, struct site_pages *p)
{
    char *dir = NULL;
    DIR *d;
    struct dirent *de;

    if (depth > SITE_MAX_DEPTH || asprintf(&dir, "%s%s", root, rel) < 0)
        return;
    d = opendir(dir);
    free(dir);
    if (d == NULL)
        return;
    struct stat dst;
    if (fstat(dirfd(d), &dst) == 0) {
        if (p->ndirs == p->dcap) {
            size_t cap = p->dcap ? p->dcap * 2 : 16;
            struct site_dir *v = realloc(p->dirs, cap * sizeof(*v));
            if (v == NULL) {
                closedir(d);
                return;
            }
            p->dirs = v;
            p->dcap = cap;
        }
        p->dirs[p->ndirs].rel = strdup(rel);
        p->dirs[p->ndirs++].mtime = dst.st_mtim;
    }
    while ((de = readdir(d)) != NULL && p->n < SITE_MAX_PAGES) {
        char *child = NULL, *full = NULL;
        struct stat st;
        if (de->d_name[0] == '.')
            continue;
        if (asprintf(&child, "%s/%s", rel, de->d_name) < 0)
            continue;
        if (asprintf(&full, "%s%s", root, child) < 0) {
            free(child);
            continue;
        }
        if (lstat(full, &st) != 0) {
            /* vanished meanwhile */
        } else if (S_ISDIR(st.st_mode)) {
            site_scan_dir(root, child, depth + 1, p);
        } else if (S_ISREG(st.st_mode)) {
            if (p->n == p->cap) {
                size_t cap = p->cap ? p->cap * 2 : 256;
                struct site_page *v = realloc(p->v, cap * sizeof(*v));
                if (v == NULL) {
                    free(child);
                    free(full);
                    break;
                }
                p->v = v;
                p->cap = cap;
            }
            p->v[p->n].path = child;
            p->v[p->n++].mtime = st.st_mtime;
            child = NULL;
        }
        free(child);
        free(full);
    }
    closedir(d);
}

static int site_page_cmp(const void *a, const void *b)
{
    return strcmp(((const struct site_page *)a)->path, ((const struct site_page *)b)->path);
}

/* Every page under the root, sorted by path. */
static void site_scan(struct site *s, struct site_pages *p)
{
    memset(p, 0, sizeof(*p));
    site_scan_dir(s->root, "", 0, p);
    if (p->n > 1)
        qsort(p->v, p->n, sizeof(p->v[0]), site_page_cmp);
}

/* Append path to b percent-encoded, '/' and unreserved bytes kept. */
static void site_add_path(struct evbuffer *b, const char *path)
{
    for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            strchr("/-._~", *p))
            evbuffer_add(b, p, 1);
        else
            evbuffer_add_printf(b, "%%%02X", *p);
    }
}

static void site_iso_date(time_t t, char *out, size_t outlen)
{
    struct tm tm;

    gmtime_r(&t, &tm);
    strftime(out, outlen, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* A sitemap of pages [from, to). */
static void site_sitemap(struct site *s, struct evhttp_request *req, const struct site_pages *p,
                         size_t from, size_t to)
{
    struct evbuffer *b = evbuffer_new();
    char date[32];

    if (b == NULL)
        return site_not_found(s, req);
    evbuffer_add_printf(b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                           "<urlset xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">\n");
    for (size_t i = from; i < to && i < p->n; i++) {
        site_iso_date(p->v[i].mtime, date, sizeof(date));
        evbuffer_add_printf(b, "<url><loc>http://127.0.0.1:%u", s->http_port);
        site_add_path(b, p->v[i].path);
        evbuffer_add_printf(b, "</loc><lastmod>%s</lastmod></url>\n", date);
    }
    evbuffer_add_printf(b, "</urlset>\n");
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "application/xml; charset=utf-8");
    site_reply(s, req, 200, b);
    evbuffer_free(b);
}

static void site_sitemap_index(struct site *s, struct evhttp_request *req,
                               const struct site_pages *p)
{
    struct evbuffer *b = evbuffer_new();
    size_t parts = p->n ? (p->n + (size_t)s->sitemap_size - 1) / (size_t)s->sitemap_size : 1;
    char date[32];

    if (b == NULL)
        return site_not_found(s, req);
    evbuffer_add_printf(b,
                        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                        "<sitemapindex xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">\n");
    for (size_t k = 0; k < parts; k++) {
        time_t newest = 0;
        for (size_t i = k * (size_t)s->sitemap_size;
             i < (k + 1) * (size_t)s->sitemap_size && i < p->n; i++)
            if (p->v[i].mtime > newest)
                newest = p->v[i].mtime;
        site_iso_date(newest, date, sizeof(date));
        evbuffer_add_printf(b,
                            "<sitemap><loc>http://127.0.0.1:%u/sitemap-%zu.xml</loc>"
                            "<lastmod>%s</lastmod></sitemap>\n",
                            s->http_port, k + 1, date);
    }
    evbuffer_add_printf(b, "</sitemapindex>\n");
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "application/xml; charset=utf-8");
    site_reply(s, req, 200, b);
    evbuffer_free(b);
}

/* Escape text for HTML into b. */
static void site_add_html(struct evbuffer *b, const char *text)
{
    for (; *text; text++) {
        switch (*text) {
        case '<':
            evbuffer_add(b, "&lt;", 4);
            break;
        case '>':
            evbuffer_add(b, "&gt;", 4);
            break;
        case '&':
            evbuffer_add(b, "&amp;", 5);
            break;
        case '"':
            evbuffer_add(b, "&quot;", 6);
            break;
        default:
            evbuffer_add(b, text, 1);
        }
    }
}

/* One listing page, as Drupal Views renders a table with a pager. */
static void site_listing(struct site *s, struct evhttp_request *req, const char *query,
                         const struct site_pages *p)
{
    struct evkeyvalq q;
    long page = 0;
    struct evbuffer *b;

    memset(&q, 0, sizeof(q));
    if (query && evhttp_parse_query_str(query, &q) == 0) {
        const char *v = evhttp_find_header(&q, "page");
        char *end;
        if (v) {
            page = strtol(v, &end, 10);
            if (*end != '\0' || page < 0 || page > SITE_MAX_PAGES)
                page = -1;
        }
    }
    evhttp_clear_headers(&q);
    if (page < 0)
        return site_not_found(s, req);
    b = evbuffer_new();
    if (b == NULL)
        return site_not_found(s, req);
    evbuffer_add_printf(
        b,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<title>Search results | Page %ld</title></head>\n<body>\n"
        "<div class=\"view view-search-results view-id-search_results\">\n"
        "<div class=\"view-content\">\n<table class=\"views-table cols-2\">\n"
        "<thead><tr><th class=\"views-field views-field-title\">Title</th>"
        "<th class=\"views-field views-field-changed\">Updated</th></tr></thead>\n<tbody>\n",
        page);
    size_t first = (size_t)page * SITE_LIST_SIZE;
    for (size_t i = first; i < first + SITE_LIST_SIZE && i < p->n; i++) {
        char date[32];
        site_iso_date(p->v[i].mtime, date, sizeof(date));
        evbuffer_add_printf(b, "<tr class=\"%s\"><td class=\"views-field views-field-title\">",
                            (i - first) % 2 ? "even" : "odd");
        evbuffer_add_printf(b, "<a href=\"");
        site_add_path(b, p->v[i].path);
        evbuffer_add_printf(b, "\" hreflang=\"en\">");
        site_add_html(b, p->v[i].path + 1);
        evbuffer_add_printf(b,
                            "</a></td><td class=\"views-field views-field-changed\">"
                            "<time datetime=\"%s\">%.10s</time></td></tr>\n",
                            date, date);
    }
    evbuffer_add_printf(b, "</tbody>\n</table>\n</div>\n");
    if (first + SITE_LIST_SIZE < p->n)
        evbuffer_add_printf(b,
                            "<nav class=\"pager\" role=\"navigation\"><ul class=\"pager__items "
                            "js-pager__items\">\n<li class=\"pager__item pager__item--next\">"
                            "<a href=\"/list?page=%ld\" title=\"Go to next page\" rel=\"next\">"
                            "Next \xe2\x80\xba</a></li>\n</ul></nav>\n",
                            page + 1);
    else if (first >= p->n)
        evbuffer_add_printf(b, "<div class=\"view-empty\">No results.</div>\n");
    evbuffer_add_printf(b, "</div>\n</body></html>\n");
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "text/html; charset=utf-8");
    site_reply(s, req, 200, b);
    evbuffer_free(b);
}

static void site_robots(struct site *s, struct evhttp_request *req)
{
    struct evbuffer *b;

    if (s->robots_status != 200) {
        site_text(s, req, s->robots_status, "text/plain", "robots.txt unavailable\n");
        return;
    }
    b = evbuffer_new();
    if (b == NULL)
        return site_not_found(s, req);
    evbuffer_add_printf(b, "User-agent: %s\n", s->robots_agent);
    if (s->ndisallow == 0)
        evbuffer_add_printf(b, "Disallow:\n");
    for (size_t i = 0; i < s->ndisallow; i++)
        evbuffer_add_printf(b, "Disallow: %s\n", s->disallow[i]);
    if (s->crawl_delay)
        evbuffer_add_printf(b, "Crawl-delay: %s\n", s->crawl_delay);
    evbuffer_add_printf(b, "\nSitemap: http://127.0.0.1:%u/sitemap.xml\n", s->http_port);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "text/plain; charset=utf-8");
    site_reply(s, req, 200, b);
    evbuffer_free(b);
}

static void site_handle(struct evhttp_request *req, void *arg)
{
    struct site *s = arg;
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    const char *query = uri ? evhttp_uri_get_query(uri) : NULL;
    struct site_pages pages;
    unsigned long n;
    char tail;

    if (path == NULL || path[0] == '\0')
        path = "/";
    if (strcmp(path, "/robots.txt") == 0) {
        site_robots(s, req);
    } else if (strncmp(path, "/fault/", 7) == 0) {
        faults_handle(s, req, path, query);
    } else if (strcmp(path, "/sitemap.xml") == 0) {
        site_scan(s, &pages);
        site_sitemap(s, req, &pages, 0, pages.n);
        site_pages_free(&pages);
    } else if (strcmp(path, "/sitemap-index.xml") == 0) {
        site_scan(s, &pages);
        site_sitemap_index(s, req, &pages);
        site_pages_free(&pages);
    } else if (sscanf(path, "/sitemap-%lu.xm%c", &n, &tail) == 2 && tail == 'l' && n > 0 &&
               strlen(path) < 32) {
        site_scan(s, &pages);
        size_t from = (n - 1) * (size_t)s->sitemap_size;
        if (from >= pages.n && !(n == 1 && pages.n == 0))
            site_not_found(s, req);
        else
            site_sitemap(s, req, &pages, from, from + (size_t)s->sitemap_size);
        site_pages_free(&pages);
    } else if (strcmp(path, "/list") == 0) {
        /* listings are asked for page after page: scan again only when a
         * directory changed (sitemaps, which show lastmod, always scan) */
        if (s->list_cache == NULL || !site_pages_fresh(s, s->list_cache)) {
            if (s->list_cache == NULL)
                s->list_cache = calloc(1, sizeof(*s->list_cache));
            else
                site_pages_free(s->list_cache);
            if (s->list_cache == NULL)
                return site_not_found(s, req);
            site_scan(s, s->list_cache);
        }
        site_listing(s, req, query, s->list_cache);
    } else {
        site_serve_file(s, req, path);
    }
}

/* ---- process: options, lifetime, listeners --------------------------- */

static void site_on_stop(evutil_socket_t fd, short what, void *arg)
{
    event_base_loopexit(arg, NULL);
}

static void site_on_stdin(evutil_socket_t fd, short what, void *arg)
{
    char buf[256];
    ssize_t n = read(fd, buf, sizeof(buf));

    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
        event_base_loopexit(arg, NULL);
}

static int site_write_port(const char *file, unsigned port)
{
    char *tmp = NULL;
    FILE *f;

    if (asprintf(&tmp, "%s.tmp", file) < 0)
        return -1;
    f = fopen(tmp, "w");
    if (f == NULL || fprintf(f, "%u\n", port) < 0 || fclose(f) != 0 || rename(tmp, file) != 0) {
        fprintf(stderr, "fakesite: cannot write %s: %s\n", file, strerror(errno));
        free(tmp);
        return -1;
    }
    free(tmp);
    return 0;
}

static void site_usage(void)
{
    fprintf(stderr, "usage: fakesite --root DIR [--port N] [--port-file F] [--raw-port-file F]\n"
                    "       [--log FILE] [--robots-agent NAME] [--robots-disallow PATH]...\n"
                    "       [--crawl-delay S] [--robots-status CODE] [--sitemap-size N]\n"
                    "       [--lifetime SECONDS]\n");
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"root", required_argument, NULL, 'r'},
        {"port", required_argument, NULL, 'p'},
        {"port-file", required_argument, NULL, 'f'},
        {"raw-port-file", required_argument, NULL, 'F'},
        {"log", required_argument, NULL, 'l'},
        {"robots-agent", required_argument, NULL, 'a'},
        {"robots-disallow", required_argument, NULL, 'd'},
        {"crawl-delay", required_argument, NULL, 'c'},
        {"robots-status", required_argument, NULL, 's'},
        {"sitemap-size", required_argument, NULL, 'm'},
        {"lifetime", required_argument, NULL, 't'},
        {NULL, 0, NULL, 0},
    };
    struct site s;
    const char *port_file = NULL, *raw_port_file = NULL, *log_file = NULL;
    long port = 0, lifetime = 600;
    struct evhttp_bound_socket *bound;
    struct event *ev_term = NULL, *ev_int = NULL, *ev_stdin = NULL, *ev_life = NULL;
    struct stat st;
    int opt, rc = 1;

    memset(&s, 0, sizeof(s));
    s.robots_agent = "*";
    s.robots_status = 200;
    s.sitemap_size = 1000;
    while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (opt) {
        case 'r':
            s.root = optarg;
            break;
        case 'p':
            port = strtol(optarg, NULL, 10);
            break;
        case 'f':
            port_file = optarg;
            break;
        case 'F':
            raw_port_file = optarg;
            break;
        case 'l':
            log_file = optarg;
            break;
        case 'a':
            s.robots_agent = optarg;
            break;
        case 'd':
            if (s.ndisallow < SITE_MAX_DISALLOW)
                s.disallow[s.ndisallow++] = optarg;
            break;
        case 'c':
            s.crawl_delay = optarg;
            break;
        case 's':
            s.robots_status = (int)strtol(optarg, NULL, 10);
            break;
        case 'm':
            s.sitemap_size = strtol(optarg, NULL, 10);
            break;
        case 't':
            lifetime = strtol(optarg, NULL, 10);
            break;
        default:
            site_usage();
            return 2;
        }
    }
    if (s.root == NULL || optind != argc || port < 0 || port > 65535 || s.sitemap_size <= 0 ||
        lifetime <= 0 || s.robots_status < 100 || s.robots_status > 599) {
        site_usage();
        return 2;
    }

    /* stop with the parent; bound the fds, hence the connections */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur > 1024) {
        rl.rlim_cur = 1024;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    signal(SIGPIPE, SIG_IGN);

    if (log_file) {
        s.log = fopen(log_file, "a");
        if (s.log == NULL) {
            fprintf(stderr, "fakesite: %s: %s\n", log_file, strerror(errno));
            return 1;
        }
    }
    s.base = event_base_new();
    s.http = s.base ? evhttp_new(s.base) : NULL;
    if (s.http == NULL || faults_init(&s) != 0)
        goto out;
    evhttp_set_allowed_methods(s.http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
    evhttp_set_max_headers_size(s.http, 65536);
    evhttp_set_max_body_size(s.http, 4096);
    evhttp_set_timeout(s.http, 60);
    evhttp_set_default_content_type(s.http, NULL); /* "none" must mean none */
    evhttp_set_gencb(s.http, site_handle, &s);
    bound = evhttp_bind_socket_with_handle(s.http, "127.0.0.1", (ev_uint16_t)port);
    if (bound == NULL) {
        fprintf(stderr, "fakesite: cannot bind 127.0.0.1:%ld\n", port);
        goto out;
    }
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    if (getsockname(evhttp_bound_socket_get_fd(bound), (struct sockaddr *)&ss, &sl) != 0)
        goto out;
    s.http_port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (raw_listen(&s, 0) != 0)
        goto out;

    ev_term = evsignal_new(s.base, SIGTERM, site_on_stop, s.base);
    ev_int = evsignal_new(s.base, SIGINT, site_on_stop, s.base);
    ev_life = evtimer_new(s.base, site_on_stop, s.base);
    if (!ev_term || !ev_int || !ev_life)
        goto out;
    struct timeval life = {lifetime, 0};
    event_add(ev_term, NULL);
    event_add(ev_int, NULL);
    event_add(ev_life, &life);
    if (fstat(0, &st) == 0 && (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode))) {
        ev_stdin = event_new(s.base, 0, EV_READ | EV_PERSIST, site_on_stdin, s.base);
        if (ev_stdin)
            event_add(ev_stdin, NULL);
    }
    if ((port_file && site_write_port(port_file, s.http_port) != 0) ||
        (raw_port_file && site_write_port(raw_port_file, s.raw_port) != 0))
        goto out;
    event_base_dispatch(s.base);
    rc = 0;
out:
    if (ev_term)
        event_free(ev_term);
    if (ev_int)
        event_free(ev_int);
    if (ev_life)
        event_free(ev_life);
    if (ev_stdin)
        event_free(ev_stdin);
    raw_free(&s);
    faults_free(&s);
    if (s.http)
        evhttp_free(s.http);
    for (size_t i = 0; i < s.ncounters; i++)
        free(s.counters[i].path);
    if (s.list_cache) {
        site_pages_free(s.list_cache);
        free(s.list_cache);
    }
    if (s.base)
        event_base_free(s.base);
    if (s.log)
        fclose(s.log);
    return rc;
}
