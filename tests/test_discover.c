/*
 * Tests of harvest/discover.c: the URL filter, normaliser and resolver,
 * URL list files (RELIABILITY C5, C6), sitemaps with hostile XML, listing
 * pages with hostile links (H12), the lastmod trust rule and the listing
 * walk. Fixtures live in tests/data/discover/.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "discover.h"
#include "strbuf.h"
#include "xmalloc.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef SOURCE_ROOT
#define SOURCE_ROOT "."
#endif

static const char *source_root(void)
{
    const char *r = getenv("PROVD_SOURCE_ROOT");

    return r != NULL && r[0] != '\0' ? r : SOURCE_ROOT;
}

static char *fixture_path(const char *name)
{
    return xasprintf("%s/tests/data/discover/%s", source_root(), name);
}

/* The whole fixture; *len gets its size. */
static char *fixture(const char *name, size_t *len)
{
    char *path = fixture_path(name);
    FILE *f = fopen(path, "rb");
    struct strbuf b = STRBUF_INIT;
    char buf[4096];
    size_t got;

    assert_non_null(f);
    while ((got = fread(buf, 1, sizeof(buf), f)) > 0)
        strbuf_add(&b, buf, got);
    fclose(f);
    free(path);
    *len = b.len;
    return strbuf_steal(&b);
}

static double now_seconds(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- URL filter and normaliser ---------------------------------------- */

static void test_url_normalize(void **state)
{
    static const struct {
        const char *in;
        unsigned flags;
        const char *out;    /* NULL: refused */
        const char *reason; /* a word of the reason when refused */
    } cases[] = {
        {"HTTP://Example.ORG", 0, "http://example.org/", NULL},
        {"https://example.org:443/a/./b/../c?q=1#frag", 0, "https://example.org/a/c?q=1", NULL},
        {"http://example.org:80/x", 0, "http://example.org/x", NULL},
        {"http://example.org:8080/x", 0, "http://example.org:8080/x", NULL},
        {"https://example.org:80/x", 0, "https://example.org:80/x", NULL},
        {"HTTPS://EXAMPLE.org/A?B=C", 0, "https://example.org/A?B=C", NULL},
        {"http://example.org?x", 0, "http://example.org/?x", NULL},
        {"http://example.org/a/../../b", 0, "http://example.org/b", NULL},
        {"http://example.org/a/b/..", 0, "http://example.org/a/", NULL},
        {"  http://example.org/a b  ", 0, "http://example.org/a%20b", NULL},
        {"http://ex\tample.org/\n", 0, "http://example.org/", NULL},
        {"http://example.org/%7euser/%2f%zz%", 0, "http://example.org/~user/%2F%25zz%25", NULL},
        {"http://example.org/\xd0\xb4\xd0\xbe\xd0\xba", 0, "http://example.org/%D0%B4%D0%BE%D0%BA",
         NULL},
        {"http://example.org/a?b=<c>&d=\"e\"", 0, "http://example.org/a?b=%3Cc%3E&d=%22e%22", NULL},
        {"http://[::1]:8080/x", 0, "http://[::1]:8080/x", NULL},
        {"http://127.0.0.1:8000", 0, "http://127.0.0.1:8000/", NULL},
        {"http://example.org:/x", 0, "http://example.org/x", NULL},
        {"file:///etc/passwd", DISCOVER_ALLOW_FILE, "file:///etc/passwd", NULL},
        {"file://localhost/tmp/a%20b.html", DISCOVER_ALLOW_FILE, "file:///tmp/a%20b.html", NULL},
        {"file:/tmp/x/../y", DISCOVER_ALLOW_FILE, "file:///tmp/y", NULL},
        /* refused: RELIABILITY C5 and H12 */
        {"file:///etc/passwd", 0, NULL, "file"},
        {"file://evil.example.net/share", DISCOVER_ALLOW_FILE, NULL, "host"},
        {"file:relative", DISCOVER_ALLOW_FILE, NULL, "absolute"},
        {"ftp://example.org/pub", 0, NULL, "scheme"},
        {"gopher://example.org/1", 0, NULL, "scheme"},
        {"dict://example.org/d:x", 0, NULL, "scheme"},
        {"javascript:alert(1)", 0, NULL, "scheme"},
        {" JavaScript:alert(1)", 0, NULL, "scheme"},
        {"java\nscript:alert(1)", 0, NULL, "scheme"},
        {"data:text/html,<b>x</b>", 0, NULL, "scheme"},
        {"http://user:pw@example.org/", 0, NULL, "password"},
        {"http://@example.org/", 0, NULL, "password"},
        {"http://example.org\\@evil.example.net/", 0, NULL, "backslash"},
        {"http:///path", 0, NULL, "host"},
        {"http:path", 0, NULL, "host"},
        {"//example.org/x", 0, NULL, "absolute"},
        {"/document/1", 0, NULL, "absolute"},
        {"", 0, NULL, "empty"},
        {"http://exa mple.org/", 0, NULL, "host"},
        {"http://ex\xc3\xa4mple.org/", 0, NULL, "punycode"},
        {"http://example.org:99999/", 0, NULL, "port"},
        {"http://example.org:0/", 0, NULL, "port"},
        {"http://example.org:8o/", 0, NULL, "port"},
        {"http://[::1/", 0, NULL, "IPv6"},
        {"http://example.org/a\x01"
         "b",
         0, NULL, "control"},
        {"http://example.org/\x7f/", 0, NULL, "control"},
    };
    const char *why;

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *got = discover_url_normalize(cases[i].in, cases[i].flags, &why);
        if (cases[i].out == NULL) {
            if (got != NULL)
                fail_msg("case %zu (%s): accepted as %s", i, cases[i].in, got);
            assert_non_null(why);
            if (strstr(why, cases[i].reason) == NULL)
                fail_msg("case %zu (%s): reason \"%s\" lacks \"%s\"", i, cases[i].in, why,
                         cases[i].reason);
            assert_int_equal(discover_url_check(cases[i].in, cases[i].flags, NULL), -EINVAL);
        } else {
            if (got == NULL)
                fail_msg("case %zu (%s): refused: %s", i, cases[i].in, why);
            assert_string_equal(got, cases[i].out);
            assert_null(why);
            assert_int_equal(discover_url_check(cases[i].in, cases[i].flags, NULL), 0);
            /* the normal form is a fixed point */
            char *again = discover_url_normalize(got, cases[i].flags, NULL);
            assert_non_null(again);
            assert_string_equal(again, got);
            free(again);
        }
        free(got);
    }
}

static void test_url_length_cap(void **state)
{
    struct strbuf b = STRBUF_INIT;
    const char *why;
    char *u;

    (void)state;
    strbuf_adds(&b, "https://example.org/");
    while (b.len < DISCOVER_URL_MAX - 1)
        strbuf_addc(&b, 'a');
    u = discover_url_normalize(strbuf_str(&b), 0, &why);
    assert_non_null(u);
    assert_int_equal(strlen(u), DISCOVER_URL_MAX - 1);
    free(u);
    strbuf_adds(&b, "aa");
    assert_null(discover_url_normalize(strbuf_str(&b), 0, &why));
    assert_non_null(strstr(why, "too long"));
    /* escaping that makes it too long is caught after normalisation */
    strbuf_reset(&b);
    strbuf_adds(&b, "https://example.org/");
    while (b.len < DISCOVER_URL_MAX - 10)
        strbuf_addc(&b, ' ');
    strbuf_addc(&b, 'x');
    assert_null(discover_url_normalize(strbuf_str(&b), 0, &why));
    assert_non_null(strstr(why, "too long"));
    strbuf_release(&b);
}

/* RFC 3986 §5.4's examples, and hostile references. */
static void test_url_resolve(void **state)
{
    static const char *base = "http://a/b/c/d;p?q";
    static const struct {
        const char *ref, *out;
    } cases[] = {
        {"g", "http://a/b/c/g"},
        {"./g", "http://a/b/c/g"},
        {"g/", "http://a/b/c/g/"},
        {"/g", "http://a/g"},
        {"//g", "http://g/"},
        {"?y", "http://a/b/c/d;p?y"},
        {"g?y", "http://a/b/c/g?y"},
        {"#s", "http://a/b/c/d;p?q"},
        {"g#s", "http://a/b/c/g"},
        {"g?y#s", "http://a/b/c/g?y"},
        {";x", "http://a/b/c/;x"},
        {"g;x", "http://a/b/c/g;x"},
        {"", "http://a/b/c/d;p?q"},
        {".", "http://a/b/c/"},
        {"./", "http://a/b/c/"},
        {"..", "http://a/b/"},
        {"../", "http://a/b/"},
        {"../g", "http://a/b/g"},
        {"../..", "http://a/"},
        {"../../", "http://a/"},
        {"../../g", "http://a/g"},
        {"../../../g", "http://a/g"},
        {"../../../../g", "http://a/g"},
        {"/./g", "http://a/g"},
        {"/../g", "http://a/g"},
        {"g.", "http://a/b/c/g."},
        {".g", "http://a/b/c/.g"},
        {"g..", "http://a/b/c/g.."},
        {"..g", "http://a/b/c/..g"},
        {"./../g", "http://a/b/g"},
        {"./g/.", "http://a/b/c/g/"},
        {"g/./h", "http://a/b/c/g/h"},
        {"g/../h", "http://a/b/c/h"},
        {"g;x=1/./y", "http://a/b/c/g;x=1/y"},
        {"g;x=1/../y", "http://a/b/c/y"},
        {"g?y/./x", "http://a/b/c/g?y/./x"},
        {"g#s/../x", "http://a/b/c/g"},
        {"  HTTPS://A/x  ", "https://a/x"},
        /* refused */
        {"g:h", NULL},
        {"http:g", NULL},
        {"javascript:alert(1)", NULL},
        {"jav\tascript:alert(1)", NULL},
        {"data:text/html,hi", NULL},
        {"file:///etc/passwd", NULL},
        {"//user@evil/", NULL},
        {"\\\\evil\\x", NULL},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *why = NULL;
        char *got = discover_url_resolve(base, cases[i].ref, 0, &why);
        if (cases[i].out == NULL) {
            if (got != NULL)
                fail_msg("resolve \"%s\": accepted as %s", cases[i].ref, got);
            assert_non_null(why);
        } else {
            if (got == NULL)
                fail_msg("resolve \"%s\": refused: %s", cases[i].ref, why);
            assert_string_equal(got, cases[i].out);
        }
        free(got);
    }
    /* a file: base only yields file: URLs for sources that allow them */
    char *f = discover_url_resolve("file:///srv/demo/list.html", "pages/a.html",
                                   DISCOVER_ALLOW_FILE, NULL);
    assert_string_equal(f, "file:///srv/demo/pages/a.html");
    free(f);
    assert_null(discover_url_resolve("file:///srv/demo/list.html", "pages/a.html", 0, NULL));
    /* a base without a path */
    f = discover_url_resolve("https://example.org", "document/1", 0, NULL);
    assert_string_equal(f, "https://example.org/document/1");
    free(f);
}

static void test_url_origin_and_scope(void **state)
{
    char buf[64];
    static const char *const hosts[] = {"mirror.example.com", "*.example.net"};
    struct discover_scope scope = {hosts, 2};

    (void)state;
    assert_int_equal(discover_url_origin("https://example.org/x?y", buf, sizeof(buf)), 0);
    assert_string_equal(buf, "https://example.org:443");
    assert_int_equal(discover_url_origin("http://example.org/", buf, sizeof(buf)), 0);
    assert_string_equal(buf, "http://example.org:80");
    assert_int_equal(discover_url_origin("http://127.0.0.1:8080/a", buf, sizeof(buf)), 0);
    assert_string_equal(buf, "http://127.0.0.1:8080");
    assert_int_equal(discover_url_origin("http://[::1]:81/", buf, sizeof(buf)), 0);
    assert_string_equal(buf, "http://[::1]:81");
    assert_int_equal(discover_url_origin("file:///srv/x.html", buf, sizeof(buf)), 0);
    assert_string_equal(buf, "file://");
    assert_int_equal(discover_url_origin("https://example.org/", buf, 10), -ENAMETOOLONG);
    assert_int_equal(discover_url_origin("mailto:x@example.org", buf, sizeof(buf)), -EINVAL);

    assert_true(discover_in_scope("https://example.org/a", "https://example.org/s", NULL));
    assert_true(discover_in_scope("http://example.org/a", "https://example.org:8443/s", NULL));
    assert_false(discover_in_scope("https://example.org.evil.net/a", "https://example.org/", NULL));
    assert_false(discover_in_scope("https://evil.example.org/a", "https://example.org/", NULL));
    assert_false(discover_in_scope("https://mirror.example.com/a", "https://example.org/", NULL));
    assert_true(discover_in_scope("https://mirror.example.com/a", "https://example.org/", &scope));
    assert_true(discover_in_scope("https://a.b.example.net/a", "https://example.org/", &scope));
    assert_false(discover_in_scope("https://example.net/a", "https://example.org/", &scope));
    assert_false(discover_in_scope("https://badexample.net/a", "https://example.org/", &scope));
    assert_false(discover_in_scope("file:///etc/passwd", "https://example.org/", &scope));
    assert_true(discover_in_scope("file:///srv/a.html", "file:///srv/list.html", NULL));
}

/* ---- URL list files ----------------------------------------------------- */

static void test_list_fixture(void **state)
{
    char *path = fixture_path("urls.txt");
    char err[256] = "";
    struct discover_list *l = NULL;
    static const char *const want[] = {
        "https://example.org/document/1",
        "https://example.org/document/2",
        "http://example.org:8080/document/5",
    };
    static const struct {
        unsigned line;
        const char *reason;
    } rejects[] = {
        {6, "file URLs are not allowed"}, {7, "scheme not allowed"},
        {8, "scheme not allowed"},        {9, "scheme not allowed"},
        {10, "user name or password"},    {11, "scheme not allowed"},
        {12, "scheme not allowed"},       {13, "white space inside a URL"},
        {14, "not a URL (no scheme"},
    };

    (void)state;
    assert_int_equal(discover_list_load(path, NULL, &l, err, sizeof(err)), 0);
    assert_non_null(l);
    assert_int_equal(discover_list_count(l), 3);
    for (size_t i = 0; i < 3; i++)
        assert_string_equal(discover_list_url(l, i), want[i]);
    assert_int_equal(discover_list_duplicates(l), 1);
    assert_int_equal(discover_list_rejected(l), 9);
    assert_int_equal(discover_list_nerrors(l), 9);
    for (size_t i = 0; i < 9; i++) {
        char prefix[512];
        snprintf(prefix, sizeof(prefix), "%s:%u: %s", path, rejects[i].line, rejects[i].reason);
        if (strncmp(discover_list_error(l, i), prefix, strlen(prefix)) != 0)
            fail_msg("error %zu is \"%s\", want \"%s...\"", i, discover_list_error(l, i), prefix);
    }
    discover_list_free(l);
    free(path);
}

static void test_list_demo_paths(void **state)
{
    char *path = fixture_path("demo.urls");
    char *dir = fixture_path("");
    char *real = realpath(dir, NULL), *want;
    char err[256] = "";
    struct discover_list *l = NULL;
    struct discover_list_options o = {.url_flags = DISCOVER_ALLOW_FILE};

    (void)state;
    assert_non_null(real);
    assert_int_equal(discover_list_load(path, &o, &l, err, sizeof(err)), 0);
    assert_int_equal(discover_list_count(l), 4);
    want = xasprintf("file://%s/pages/a.html", real);
    assert_string_equal(discover_list_url(l, 0), want);
    free(want);
    /* paths are literal: a '%' in a file name is escaped */
    want = xasprintf("file://%s/pages/b%%2520c.html", real);
    assert_string_equal(discover_list_url(l, 1), want);
    free(want);
    assert_string_equal(discover_list_url(l, 2), "file:///absolute/path.html");
    assert_string_equal(discover_list_url(l, 3), "https://example.org/document/9");
    discover_list_free(l);

    /* without file URLs, paths are refused with a reason each */
    assert_int_equal(discover_list_load(path, NULL, &l, err, sizeof(err)), 0);
    assert_int_equal(discover_list_count(l), 1);
    assert_int_equal(discover_list_rejected(l), 3);
    discover_list_free(l);

    /* in memory without a directory, a relative path has nothing to join */
    static const char text[] = "a.html\n/abs.html\n";
    assert_int_equal(discover_list_parse("mem", NULL, text, strlen(text), &o, &l, err, 256), 0);
    assert_int_equal(discover_list_count(l), 1);
    assert_string_equal(discover_list_error(l, 0),
                        "mem:1: relative file path but the list has no directory");
    discover_list_free(l);
    free(real);
    free(dir);
    free(path);
}

static void test_list_errors(void **state)
{
    char err[256] = "";
    struct discover_list *l = (struct discover_list *)1;
    struct discover_list_options o = {.max_urls = 3};
    struct strbuf b = STRBUF_INIT;

    (void)state;
    assert_int_equal(discover_list_load("/nonexistent/provd/urls", NULL, &l, err, sizeof(err)),
                     -ENOENT);
    assert_null(l);
    assert_non_null(strstr(err, "/nonexistent/provd/urls"));

    /* more URLs than allowed: refused cleanly, nothing returned */
    static const char four[] = "http://a/1\nhttp://a/2\nhttp://a/1\nhttp://a/3\nhttp://a/4\n";
    assert_int_equal(discover_list_parse("four", NULL, four, strlen(four), &o, &l, err, 256),
                     -EFBIG);
    assert_null(l);
    assert_non_null(strstr(err, "more than 3 URLs"));
    /* duplicates do not count towards the limit */
    assert_int_equal(discover_list_parse("four", NULL, four, 44, &o, &l, err, 256), 0);
    assert_int_equal(discover_list_count(l), 3);
    discover_list_free(l);
    o.max_urls = 0;
    o.max_bytes = 10;
    assert_int_equal(discover_list_parse("four", NULL, four, strlen(four), &o, &l, err, 256),
                     -EFBIG);
    assert_null(l);

    /* an endless line is refused without being kept, and the next line
     * still loads; the last line needs no newline */
    strbuf_adds(&b, "https://example.org/");
    for (int i = 0; i < 1 << 20; i++)
        strbuf_addc(&b, 'x');
    strbuf_adds(&b, "\nhttps://example.org/after\r\nhttp://last");
    assert_int_equal(discover_list_parse("long", NULL, b.s, b.len, NULL, &l, err, 256), 0);
    assert_int_equal(discover_list_count(l), 2);
    assert_string_equal(discover_list_url(l, 0), "https://example.org/after");
    assert_string_equal(discover_list_url(l, 1), "http://last/");
    assert_string_equal(discover_list_error(l, 0), "long:1: line too long");
    discover_list_free(l);
    strbuf_release(&b);

    /* a NUL inside a line is a control character */
    static const char nul[] = "https://example.org/a\0b\nhttps://example.org/c\n";
    assert_int_equal(discover_list_parse("nul", NULL, nul, sizeof(nul) - 1, NULL, &l, err, 256), 0);
    assert_int_equal(discover_list_count(l), 1);
    assert_string_equal(discover_list_error(l, 0), "nul:1: control character in URL");
    discover_list_free(l);

    /* only the first DISCOVER_MAX_ERRORS messages are kept, all are counted */
    strbuf_reset(&b);
    for (int i = 0; i < 250; i++)
        strbuf_addf(&b, "ftp://example.org/%d\n", i);
    assert_int_equal(discover_list_parse("ftp", NULL, b.s, b.len, NULL, &l, err, 256), 0);
    assert_int_equal(discover_list_count(l), 0);
    assert_int_equal(discover_list_rejected(l), 250);
    assert_int_equal(discover_list_nerrors(l), DISCOVER_MAX_ERRORS);
    discover_list_free(l);
    strbuf_release(&b);
}

/* RELIABILITY C6: 10^6 URLs (a tenth of them repeated) load in seconds
 * (about 2 s in a plain build on one loaded core; sanitizers triple it). */
#if defined(__SANITIZE_ADDRESS__)
#define LOAD_SECONDS_MAX 30.0
#else
#define LOAD_SECONDS_MAX 10.0
#endif

static void test_list_million(void **state)
{
    struct strbuf b = STRBUF_INIT;
    struct discover_list *l = NULL;
    char err[256];
    double t0, dt;
    const size_t n = 1000000;

    (void)state;
    for (size_t i = 0; i < n; i++) {
        size_t k = i % 10 == 9 ? i - 5 : i;
        strbuf_addf(&b, "https://host%zu.example.org/document/record-%zu\n", k % 50, k);
    }
    t0 = now_seconds();
    assert_int_equal(discover_list_parse("big", NULL, b.s, b.len, NULL, &l, err, 256), 0);
    dt = now_seconds() - t0;
    print_message("    1e6 lines (%.1f MB) loaded in %.2f s\n", (double)b.len / 1e6, dt);
    assert_int_equal(discover_list_count(l) + discover_list_duplicates(l), n);
    assert_int_equal(discover_list_duplicates(l), n / 10);
    assert_string_equal(discover_list_url(l, 1), "https://host1.example.org/document/record-1");
    assert_true(dt < LOAD_SECONDS_MAX);
    discover_list_free(l);
    strbuf_release(&b);
}

/* ---- Sitemaps ---------------------------------------------------------- */

static void test_w3c_datetime(void **state)
{
    static const struct {
        const char *s;
        int64_t t;
    } cases[] = {
        {"2011-11-20", 1321747200},
        {" 2011-11-20\n", 1321747200},
        {"1997-07-16T19:20:30.45+01:00", 869077230},
        {"1997-07-16T19:20+01:00", 869077200},
        {"2004", 1072915200},
        {"2004-02", 1075593600},
        {"2024-03-01T10:00:00Z", 1709287200},
        {"2000-02-29T23:59:59Z", 951868799},
        {"1969-12-31", -86400},
        {"2020-06-01T12:00-05:30", 1591032600},
        {"2020-06-01T12:00:00-0530", 1591032600},
        {"2004-02-30", DISCOVER_LASTMOD_UNKNOWN},
        {"2003-02-29", DISCOVER_LASTMOD_UNKNOWN},
        {"2004-13", DISCOVER_LASTMOD_UNKNOWN},
        {"2004-12-01T24:00Z", DISCOVER_LASTMOD_UNKNOWN},
        {"2004-12-01T10:00:00.Z", DISCOVER_LASTMOD_UNKNOWN},
        {"04-12-01", DISCOVER_LASTMOD_UNKNOWN},
        {"not a date", DISCOVER_LASTMOD_UNKNOWN},
        {"", DISCOVER_LASTMOD_UNKNOWN},
        {"2004-12-01 junk", DISCOVER_LASTMOD_UNKNOWN},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        if (discover_w3c_datetime(cases[i].s) != cases[i].t)
            fail_msg("\"%s\": %lld, want %lld", cases[i].s,
                     (long long)discover_w3c_datetime(cases[i].s), (long long)cases[i].t);
}

static void test_sitemap_urlset(void **state)
{
    size_t len;
    char *xml = fixture("sitemap.xml", &len);
    struct discover_sitemap sm = {0};
    static const char *const hosts[] = {"mirror.example.com"};
    struct discover_scope scope = {hosts, 1};

    (void)state;
    assert_int_equal(
        discover_sitemap_parse(xml, len, "https://example.org/sitemap.xml", &scope, 0, &sm), 0);
    assert_int_equal(sm.kind, DISCOVER_SITEMAP_URLSET);
    assert_int_equal(sm.n, 4);
    assert_string_equal(sm.entries[0].url, "https://example.org/document/kennan-long-telegram");
    assert_int_equal(sm.entries[0].lastmod, 1321747200);
    assert_string_equal(sm.entries[1].url,
                        "https://example.org/document/109230?lang=en&tab=translation");
    assert_int_equal(sm.entries[1].lastmod, 869077230);
    assert_string_equal(sm.entries[2].url, "https://example.org/node/42");
    assert_int_equal(sm.entries[2].lastmod, DISCOVER_LASTMOD_UNKNOWN);
    assert_string_equal(sm.entries[3].url, "https://mirror.example.com/document/7");
    assert_int_equal(sm.entries[3].lastmod, 1072915200);
    /* off-site, javascript:, file:, no <loc>; the #section one repeats */
    assert_int_equal(sm.rejected, 4);
    assert_int_equal(sm.duplicates, 1);
    assert_int_equal(sm.nerrors, 4);
    assert_string_equal(sm.errors[0],
                        "https://example.org/sitemap.xml:16: outside the source's scope");
    assert_non_null(strstr(sm.errors[1], ":17: scheme not allowed"));
    assert_non_null(strstr(sm.errors[2], ":18: file URLs are not allowed"));
    assert_non_null(strstr(sm.errors[3], ":19: entry without <loc>"));
    for (size_t i = 0; i < sm.n; i++)
        assert_null(strstr(sm.entries[i].url, "scan.jpg"));
    discover_sitemap_clear(&sm);

    /* without the allow-list the mirror is out of scope */
    assert_int_equal(
        discover_sitemap_parse(xml, len, "https://example.org/sitemap.xml", NULL, 0, &sm), 0);
    assert_int_equal(sm.n, 3);
    assert_int_equal(sm.rejected, 5);
    discover_sitemap_clear(&sm);
    free(xml);
}

static void test_sitemap_index(void **state)
{
    size_t len;
    char *xml = fixture("sitemap_index.xml", &len);
    struct discover_sitemap sm = {0};

    (void)state;
    assert_int_equal(
        discover_sitemap_parse(xml, len, "https://example.org/sitemap.xml", NULL, 0, &sm), 0);
    assert_int_equal(sm.kind, DISCOVER_SITEMAP_INDEX);
    assert_int_equal(sm.n, 2);
    assert_string_equal(sm.entries[0].url, "https://example.org/sitemap.xml?page=1");
    assert_int_equal(sm.entries[0].lastmod, 1709287200);
    assert_string_equal(sm.entries[1].url, "https://example.org/sitemap.xml?page=2");
    assert_int_equal(sm.entries[1].lastmod, DISCOVER_LASTMOD_UNKNOWN);
    assert_int_equal(sm.rejected, 1);
    discover_sitemap_clear(&sm);
    free(xml);
}

static void test_sitemap_hostile(void **state)
{
    size_t len;
    char *xml = fixture("billion_laughs.xml", &len);
    struct discover_sitemap sm = {0};
    double t0 = now_seconds();
    int rc;

    (void)state;
    /* billion laughs: entities are never expanded; whatever the parser
     * makes of the document, it is quick and no "lol" reaches a URL */
    rc = discover_sitemap_parse(xml, len, "https://example.org/sitemap.xml", NULL, 0, &sm);
    assert_true(rc == 0 || rc == -EBADMSG);
    assert_true(now_seconds() - t0 < 2.0);
    for (size_t i = 0; i < sm.n; i++)
        assert_null(strstr(sm.entries[i].url, "lol"));
    discover_sitemap_clear(&sm);
    free(xml);

    /* external entities are neither read nor fetched */
    xml = fixture("xxe.xml", &len);
    rc = discover_sitemap_parse(xml, len, "https://example.org/sitemap.xml", NULL, 0, &sm);
    assert_true(rc == 0 || rc == -EBADMSG);
    for (size_t i = 0; i < sm.n; i++)
        assert_string_equal(sm.entries[i].url, "https://example.org/document/");
    discover_sitemap_clear(&sm);
    free(xml);

    /* not a sitemap */
    static const char html[] = "<html><body><a href='/document/1'>x</a></body></html>";
    assert_int_equal(
        discover_sitemap_parse(html, strlen(html), "https://example.org/s.xml", NULL, 0, &sm),
        -EINVAL);
    assert_non_null(strstr(sm.errmsg, "<html>"));
    discover_sitemap_clear(&sm);
    /* a urlset in a foreign namespace is not a sitemap either */
    static const char foreign[] = "<urlset xmlns='urn:x'><url><loc>https://example.org/a</loc>"
                                  "</url></urlset>";
    assert_int_equal(
        discover_sitemap_parse(foreign, strlen(foreign), "https://example.org/s.xml", NULL, 0, &sm),
        -EINVAL);
    discover_sitemap_clear(&sm);
    /* truncated: what came before the break is kept */
    static const char cut[] = "<urlset><url><loc>https://example.org/a</loc></url><url><loc>http";
    assert_int_equal(
        discover_sitemap_parse(cut, strlen(cut), "https://example.org/s.xml", NULL, 0, &sm),
        -EBADMSG);
    assert_int_equal(sm.n, 1);
    assert_string_equal(sm.entries[0].url, "https://example.org/a");
    assert_true(sm.errmsg[0] != '\0');
    discover_sitemap_clear(&sm);
    /* gzip bytes and empty bodies */
    static const char gz[] = "\x1f\x8b\x08\x00rest";
    assert_int_equal(
        discover_sitemap_parse(gz, sizeof(gz) - 1, "https://example.org/s.xml.gz", NULL, 0, &sm),
        -EINVAL);
    discover_sitemap_clear(&sm);
    assert_int_equal(discover_sitemap_parse("", 0, "https://example.org/s.xml", NULL, 0, &sm),
                     -EBADMSG);
    discover_sitemap_clear(&sm);
    assert_int_equal(
        discover_sitemap_parse(cut, strlen(cut), "ftp://example.org/s.xml", NULL, 0, &sm), -EINVAL);
    discover_sitemap_clear(&sm);
}

static void test_lastmod_trust(void **state)
{
    struct discover_lastmod_trust t = {0};
    const int64_t day = 86400, now = 1700000000;

    (void)state;
    /* a constant lastmod that agrees with unchanged content earns nothing */
    for (int i = 0; i < 50; i++)
        discover_lastmod_observe(&t, false, false);
    assert_false(discover_lastmod_trusted(&t, 5));
    assert_false(discover_lastmod_may_skip(&t, 5, 100, 100, now - day, now, 30 * day));
    /* once lastmod has moved with the content, the streak counts */
    discover_lastmod_observe(&t, true, true);
    assert_true(discover_lastmod_trusted(&t, 5));
    assert_true(discover_lastmod_may_skip(&t, 5, 100, 100, now - day, now, 30 * day));
    /* the rest of the rule */
    assert_false(discover_lastmod_may_skip(&t, 5, 100, 101, now - day, now, 30 * day));
    assert_false(discover_lastmod_may_skip(&t, 5, DISCOVER_LASTMOD_UNKNOWN,
                                           DISCOVER_LASTMOD_UNKNOWN, now - day, now, 30 * day));
    assert_false(discover_lastmod_may_skip(&t, 5, 100, 100, now - 30 * day, now, 30 * day));
    assert_false(discover_lastmod_may_skip(&t, 5, 100, 100, INT64_MIN, now, 30 * day));
    assert_false(discover_lastmod_may_skip(&t, 5, 100, 100, now + 10, now, 30 * day));
    /* lastmod changed but content did not: neutral */
    discover_lastmod_observe(&t, true, false);
    assert_true(discover_lastmod_trusted(&t, 5));
    /* a change that lastmod hid: trust is gone, and must be earned again */
    discover_lastmod_observe(&t, false, true);
    assert_false(discover_lastmod_trusted(&t, 5));
    assert_int_equal(t.agree, 0);
    for (int i = 0; i < 4; i++)
        discover_lastmod_observe(&t, i == 0, i == 0);
    assert_false(discover_lastmod_trusted(&t, 5));
    discover_lastmod_observe(&t, false, false);
    assert_true(discover_lastmod_trusted(&t, 5));
    assert_true(discover_lastmod_trusted(&t, 0));
}

/* ---- Listing pages ------------------------------------------------------ */

static void test_listing_page(void **state)
{
    size_t len;
    char *html = fixture("listing.html", &len);
    struct discover_listing *l = NULL;
    struct discover_listing_options o = {.next_xpath = DISCOVER_PAGER_NEXT_XPATH};
    struct discover_page p = {0};
    char err[256];

    (void)state;
    assert_int_equal(discover_listing_new(&o, &l, err, sizeof(err)), 0);
    assert_int_equal(discover_listing_parse(l, html, len, "https://example.org/search?page=3", &p),
                     0);
    assert_int_equal(p.n, 4);
    assert_string_equal(p.links[0], "https://example.org/document/telegram-from-moscow");
    assert_string_equal(p.links[1], "https://example.org/document/109230");
    assert_string_equal(p.links[2], "https://example.org/document/cable-no-5?x=1");
    assert_string_equal(p.links[3],
                        "https://example.org/document/%D0%BF%D0%B8%D1%81%D1%8C%D0%BC%D0%BE");
    assert_int_equal(p.rejected, 0);
    assert_string_equal(p.next, "https://example.org/search?page=4");
    discover_page_clear(&p);
    discover_listing_free(l);

    /* the last page: no links in a table, no next link */
    free(html);
    html = fixture("listing_last.html", &len);
    assert_int_equal(discover_listing_new(&o, &l, err, sizeof(err)), 0);
    assert_int_equal(
        discover_listing_parse(l, html, len, "https://example.org/search?page=1616", &p), 0);
    assert_int_equal(p.n, 0);
    assert_null(p.next);
    discover_page_clear(&p);
    discover_listing_free(l);
    free(html);
}

/* RELIABILITY H12: hostile links are never returned. */
static void test_listing_hostile(void **state)
{
    size_t len;
    char *html = fixture("listing_hostile.html", &len);
    struct discover_listing *l = NULL;
    static const char *const hosts[] = {"mirror.example.com"};
    struct discover_scope scope = {hosts, 1};
    struct discover_listing_options o = {.scope = &scope};
    struct discover_page p = {0};
    char err[256];

    (void)state;
    assert_int_equal(discover_listing_new(&o, &l, err, sizeof(err)), 0);
    assert_int_equal(discover_listing_parse(l, html, len, "https://example.org/search?page=0", &p),
                     0);
    assert_int_equal(p.n, 3);
    assert_string_equal(p.links[0], "https://example.org/document/good-one");
    assert_string_equal(p.links[1], "https://mirror.example.com/document/allowed-mirror");
    assert_string_equal(p.links[2], "https://example.org/document/relative-two");
    assert_int_equal(p.rejected, 9);
    for (size_t i = 0; i < p.n; i++) {
        assert_null(strstr(p.links[i], "evil"));
        assert_int_equal(strncmp(p.links[i], "https://", 8), 0);
    }
    discover_page_clear(&p);
    discover_listing_free(l);

    /* even a source allowed file URLs gets none from an http page */
    o.url_flags = DISCOVER_ALLOW_FILE;
    assert_int_equal(discover_listing_new(&o, &l, err, sizeof(err)), 0);
    assert_int_equal(discover_listing_parse(l, html, len, "https://example.org/search?page=0", &p),
                     0);
    assert_int_equal(p.n, 3);
    discover_page_clear(&p);
    discover_listing_free(l);
    free(html);
}

static void test_listing_base_and_xpaths(void **state)
{
    size_t len;
    char *html = fixture("listing_base.html", &len);
    struct discover_listing *l = NULL;
    struct discover_listing_options o = {.links_xpath = "//table//a/@href",
                                         .next_xpath = "//a[@rel='next']"};
    struct discover_page p = {0};
    char err[256];

    (void)state;
    assert_int_equal(discover_listing_new(&o, &l, err, sizeof(err)), 0);
    assert_int_equal(discover_listing_parse(l, html, len, "https://example.org/search?page=7", &p),
                     0);
    assert_int_equal(p.n, 2);
    assert_string_equal(p.links[0], "https://example.org/archive/document/one");
    assert_string_equal(p.links[1], "https://example.org/document/two");
    assert_string_equal(p.next, "https://example.org/archive/search?page=8");
    discover_page_clear(&p);
    /* a <base href> on another host is ignored: links resolve against
     * the page itself */
    assert_int_equal(discover_listing_parse(l, html, len, "https://other.example.org/s", &p), 0);
    assert_int_equal(p.n, 2);
    assert_string_equal(p.links[0], "https://other.example.org/document/one");
    assert_string_equal(p.links[1], "https://other.example.org/document/two");
    assert_string_equal(p.next, "https://other.example.org/search?page=8");
    discover_page_clear(&p);
    discover_listing_free(l);

    /* string results and text nodes work as values */
    o.links_xpath = "string((//table//a)[2]/@href)";
    o.next_xpath = NULL;
    assert_int_equal(discover_listing_new(&o, &l, err, sizeof(err)), 0);
    assert_int_equal(discover_listing_parse(l, html, len, "https://example.org/x", &p), 0);
    assert_int_equal(p.n, 1);
    assert_string_equal(p.links[0], "https://example.org/document/two");
    discover_page_clear(&p);
    discover_listing_free(l);

    /* bad XPaths are refused when compiled, with the expression named */
    o.links_xpath = "//table//a[";
    assert_int_equal(discover_listing_new(&o, &l, err, sizeof(err)), -EINVAL);
    assert_null(l);
    assert_non_null(strstr(err, "//table//a["));
    o.links_xpath = "//a";
    o.next_xpath = "//a[@rel=";
    assert_int_equal(discover_listing_new(&o, &l, err, sizeof(err)), -EINVAL);
    /* a page URL that is refused */
    o.next_xpath = NULL;
    assert_int_equal(discover_listing_new(&o, &l, err, sizeof(err)), 0);
    assert_int_equal(discover_listing_parse(l, html, len, "javascript:x", &p), -EINVAL);
    discover_page_clear(&p);
    discover_listing_free(l);
    free(html);
}

static void test_listing_page_url(void **state)
{
    const char *why;
    char *u;

    (void)state;
    u = discover_listing_page_url("https://Example.org/search?page={page}", 0, 0, &why);
    assert_string_equal(u, "https://example.org/search?page=0");
    free(u);
    u = discover_listing_page_url("https://example.org/p/{page}/?n={page}", 1615, 0, &why);
    assert_string_equal(u, "https://example.org/p/1615/?n=1615");
    free(u);
    assert_null(discover_listing_page_url("https://example.org/search", 1, 0, &why));
    assert_non_null(strstr(why, "{page}"));
    assert_null(discover_listing_page_url("ftp://example.org/{page}", 1, 0, &why));
}

/* ---- The listing walk ---------------------------------------------------- */

/* A fake site: page i of a template lists links[i] (NULL-terminated). */
struct fake_site {
    const char *const *pages[8];
    size_t npages;
    const char *known[8];
};

static bool fake_known(const char *url, void *data)
{
    struct fake_site *s = data;

    for (size_t i = 0; i < 8 && s->known[i]; i++)
        if (strcmp(s->known[i], url) == 0)
            return true;
    return false;
}

/* Page n of the fake site as a discover_page (links borrowed). */
static void fake_page(const struct fake_site *s, size_t n, struct discover_page *p)
{
    memset(p, 0, sizeof(*p));
    if (n >= s->npages)
        return;
    p->links = (char **)(uintptr_t)s->pages[n];
    while (s->pages[n][p->n] != NULL)
        p->n++;
}

/* Walk the fake site; returns the final status and the pages fetched. */
static enum discover_listing_status walk(struct fake_site *site,
                                         const struct discover_listing_state_options *o,
                                         unsigned long *pages, size_t *fresh_total)
{
    char err[256];
    struct discover_listing_state *s = discover_listing_state_new(o, err, sizeof(err));
    enum discover_listing_status st;
    size_t fresh;

    assert_non_null(s);
    *fresh_total = 0;
    while ((st = discover_listing_state_status(s)) == DISCOVER_LISTING_FETCH) {
        const char *url = discover_listing_state_url(s);
        const char *q = strstr(url, "page=");
        struct discover_page p;
        assert_non_null(q);
        fake_page(site, strtoul(q + 5, NULL, 10), &p);
        discover_listing_step(s, &p, fake_known, site, &fresh);
        *fresh_total += fresh;
    }
    assert_null(discover_listing_state_url(s));
    *pages = discover_listing_state_pages(s);
    discover_listing_state_free(s);
    return st;
}

static void test_listing_walk(void **state)
{
    static const char *const p0[] = {"https://e.org/document/1", "https://e.org/document/2", NULL};
    static const char *const p1[] = {"https://e.org/document/3", "https://e.org/document/4", NULL};
    static const char *const p2[] = {"https://e.org/document/5", NULL};
    static const char *const p3[] = {NULL};
    struct fake_site site = {.pages = {p0, p1, p2, p3}, .npages = 4};
    struct discover_listing_state_options o = {.start = "https://e.org/search?page={page}"};
    unsigned long pages;
    size_t fresh;

    (void)state;
    /* full: walks to the empty page */
    assert_int_equal(walk(&site, &o, &pages, &fresh), DISCOVER_LISTING_END_EMPTY);
    assert_int_equal(pages, 4);
    assert_int_equal(fresh, 5);
    /* incremental with nothing known: the same walk */
    o.mode = DISCOVER_LISTING_INCREMENTAL;
    assert_int_equal(walk(&site, &o, &pages, &fresh), DISCOVER_LISTING_END_EMPTY);
    assert_int_equal(pages, 4);
    /* incremental: page 1 holds only known records, so the walk stops
     * after it; page 0 still had one new record */
    site.known[0] = "https://e.org/document/2";
    site.known[1] = "https://e.org/document/3";
    site.known[2] = "https://e.org/document/4";
    assert_int_equal(walk(&site, &o, &pages, &fresh), DISCOVER_LISTING_END_NOTHING_NEW);
    assert_int_equal(pages, 2);
    assert_int_equal(fresh, 1);
    /* full ignores what is known */
    o.mode = DISCOVER_LISTING_FULL;
    assert_int_equal(walk(&site, &o, &pages, &fresh), DISCOVER_LISTING_END_EMPTY);
    assert_int_equal(pages, 4);
    assert_int_equal(fresh, 2);
    /* a page limit */
    o.max_pages = 2;
    assert_int_equal(walk(&site, &o, &pages, &fresh), DISCOVER_LISTING_END_LIMIT);
    assert_int_equal(pages, 2);
    o.max_pages = 0;
    /* a first page other than 0 */
    o.first_page = 2;
    assert_int_equal(walk(&site, &o, &pages, &fresh), DISCOVER_LISTING_END_EMPTY);
    assert_int_equal(pages, 2);
    o.first_page = 0;
    /* a site that serves its last page again for every later number */
    struct fake_site rep = {.pages = {p0, p1, p1, p1, p1}, .npages = 5};
    assert_int_equal(walk(&rep, &o, &pages, &fresh), DISCOVER_LISTING_END_REPEAT);
    assert_int_equal(pages, 3);
}

static void test_listing_walk_next_links(void **state)
{
    static const char *const links[] = {"https://e.org/document/1", NULL};
    static const char *const links2[] = {"https://e.org/document/2", NULL};
    struct discover_listing_state_options o = {.start = "https://E.org/list"};
    struct discover_listing_state *s;
    struct discover_page p = {.links = (char **)(uintptr_t)links, .n = 1};
    char err[256], next1[] = "https://e.org/list?after=1", next2[] = "https://e.org/list";

    (void)state;
    s = discover_listing_state_new(&o, err, sizeof(err));
    assert_string_equal(discover_listing_state_url(s), "https://e.org/list");
    p.next = next1;
    assert_int_equal(discover_listing_step(s, &p, NULL, NULL, NULL), DISCOVER_LISTING_FETCH);
    assert_string_equal(discover_listing_state_url(s), "https://e.org/list?after=1");
    /* a next link back to a walked page ends the walk */
    p.links = (char **)(uintptr_t)links2;
    p.next = next2;
    assert_int_equal(discover_listing_step(s, &p, NULL, NULL, NULL), DISCOVER_LISTING_END_LOOP);
    /* stepping a finished walk changes nothing */
    assert_int_equal(discover_listing_step(s, &p, NULL, NULL, NULL), DISCOVER_LISTING_END_LOOP);
    assert_string_equal(discover_listing_status_name(discover_listing_state_status(s)), "END_LOOP");
    discover_listing_state_free(s);

    /* no next link */
    s = discover_listing_state_new(&o, err, sizeof(err));
    p.next = NULL;
    assert_int_equal(discover_listing_step(s, &p, NULL, NULL, NULL), DISCOVER_LISTING_END_NO_NEXT);
    discover_listing_state_free(s);

    /* a page that could not be had */
    s = discover_listing_state_new(&o, err, sizeof(err));
    assert_int_equal(discover_listing_fail(s), DISCOVER_LISTING_END_FAILED);
    assert_null(discover_listing_state_url(s));
    discover_listing_state_free(s);

    /* a start URL that is refused */
    o.start = "gopher://e.org/{page}";
    assert_null(discover_listing_state_new(&o, err, sizeof(err)));
    assert_non_null(strstr(err, "scheme"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_url_normalize),
        cmocka_unit_test(test_url_length_cap),
        cmocka_unit_test(test_url_resolve),
        cmocka_unit_test(test_url_origin_and_scope),
        cmocka_unit_test(test_list_fixture),
        cmocka_unit_test(test_list_demo_paths),
        cmocka_unit_test(test_list_errors),
        cmocka_unit_test(test_list_million),
        cmocka_unit_test(test_w3c_datetime),
        cmocka_unit_test(test_sitemap_urlset),
        cmocka_unit_test(test_sitemap_index),
        cmocka_unit_test(test_sitemap_hostile),
        cmocka_unit_test(test_lastmod_trust),
        cmocka_unit_test(test_listing_page),
        cmocka_unit_test(test_listing_hostile),
        cmocka_unit_test(test_listing_base_and_xpaths),
        cmocka_unit_test(test_listing_page_url),
        cmocka_unit_test(test_listing_walk),
        cmocka_unit_test(test_listing_walk_next_links),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
