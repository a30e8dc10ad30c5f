/*
 * Tests of harvest/robots.c: matching (the longest rule wins, Allow wins
 * a tie, * and $), group choice for provd's product token, tolerance of
 * messy files, Crawl-delay, the 500 KiB cap, and the fetch-outcome policy.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "robots.h"
#include "strbuf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct match_case {
    const char *txt;  /* robots.txt body */
    const char *path; /* path and query */
    bool allowed;
};

static void run_cases(const struct match_case *c, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct robots *r = robots_parse(c[i].txt, strlen(c[i].txt), NULL);
        bool got = robots_allowed(r, c[i].path);
        if (got != c[i].allowed)
            fail_msg("case %zu: %s for \"%s\" under\n%s", i, got ? "allowed" : "disallowed",
                     c[i].path, c[i].txt);
        robots_free(r);
    }
}

#define UA "User-agent: *\n"

/* The matching rules as Google documents them, with cases of our own. */
static void test_matching(void **state)
{
    static const struct match_case cases[] = {
        /* "/" and "/" followed by a star cover everything */
        {UA "Disallow: /\n", "/", false},
        {UA "Disallow: /\n", "/record/12?tab=scan", false},
        {UA "Disallow: /*\n", "/anything", false},
        /* "/$" is the root alone */
        {UA "Disallow: /$\n", "/", false},
        {UA "Disallow: /$\n", "/index.html", true},
        {UA "Disallow: /$\n", "/?page=1", true},
        /* a plain prefix is case-sensitive and anchored at the start */
        {UA "Disallow: /archive\n", "/archive", false},
        {UA "Disallow: /archive\n", "/archive.html", false},
        {UA "Disallow: /archive\n", "/archive/fond-89.html", false},
        {UA "Disallow: /archive\n", "/archives", false},
        {UA "Disallow: /archive\n", "/archive.php?id=7", false},
        {UA "Disallow: /archive\n", "/Archive.asp", true},
        {UA "Disallow: /archive\n", "/state-archive", true},
        {UA "Disallow: /archive\n", "/?q=archive", true},
        {UA "Disallow: /archive\n", "/docs/archive", true},
        /* a trailing * changes nothing */
        {UA "Disallow: /archive*\n", "/archives/x", false},
        {UA "Disallow: /archive*\n", "/Archive", true},
        /* a trailing slash: the folder only */
        {UA "Disallow: /archive/\n", "/archive/", false},
        {UA "Disallow: /archive/\n", "/archive/?sort=date", false},
        {UA "Disallow: /archive/\n", "/archive/opis-2.htm", false},
        {UA "Disallow: /archive/\n", "/archive", true},
        {UA "Disallow: /archive/\n", "/archive.html", true},
        {UA "Disallow: /archive/\n", "/old/archive/", true},
        /* a * inside */
        {UA "Disallow: /*.pdf\n", "/scan.pdf", false},
        {UA "Disallow: /*.pdf\n", "/fond/89/scan.pdf?page=2", false},
        {UA "Disallow: /*.pdf\n", "/scan.pdf.html", false},
        {UA "Disallow: /*.pdf\n", "/scan.pdf/", false},
        {UA "Disallow: /*.pdf\n", "/", true},
        {UA "Disallow: /*.pdf\n", "/SCAN.PDF", true},
        /* * with $ */
        {UA "Disallow: /*.pdf$\n", "/scan.pdf", false},
        {UA "Disallow: /*.pdf$\n", "/fond/scan.pdf", false},
        {UA "Disallow: /*.pdf$\n", "/scan.pdf?page=2", true},
        {UA "Disallow: /*.pdf$\n", "/scan.pdf/", true},
        {UA "Disallow: /*.pdf$\n", "/scan.pdfx", true},
        {UA "Disallow: /*.pdf$\n", "/a.pdf.pdf", false},
        /* a prefix, then * */
        {UA "Disallow: /doc*.xml\n", "/doc.xml", false},
        {UA "Disallow: /doc*.xml\n", "/documents/index.xml?x=1", false},
        {UA "Disallow: /doc*.xml\n", "/Doc.XML", true},
        {UA "Disallow: /a*b*c$\n", "/a-b-c", false},
        {UA "Disallow: /a*b*c$\n", "/abcabc", false},
        {UA "Disallow: /a*b*c$\n", "/a-b-c-d", true},
        {UA "Disallow: /a*b*c$\n", "/ac-b", true},
        {UA "Disallow: /**x\n", "/yyx", false},
        /* precedence: the longest match wins */
        {UA "Allow: /r\nDisallow: /\n", "/records", true},
        {UA "Allow: /r\nDisallow: /\n", "/search", false},
        {UA "Disallow: /\nAllow: /r\n", "/records", true},
        {UA "Allow: /rec\nDisallow: /*.html\n", "/records.html", false},
        {UA "Allow: /records\nDisallow: /*.html\n", "/records.html", true},
        {UA "Allow: /$\nDisallow: /\n", "/", true},
        {UA "Allow: /$\nDisallow: /\n", "/records.html", false},
        {UA "Disallow: /private\nAllow: /private/public\n", "/private/public/a", true},
        {UA "Disallow: /private\nAllow: /private/public\n", "/private/x", false},
        /* a tie goes to Allow, whatever the order */
        {UA "Allow: /folder\nDisallow: /folder\n", "/folder/page", true},
        {UA "Disallow: /folder\nAllow: /folder\n", "/folder/page", true},
        {UA "Allow: /item\nDisallow: /*.ph\n", "/item.php", true},
        /* nothing matches: allowed */
        {UA "Disallow: /private\n", "/public", true},
        {"", "/anything", true},
        /* an empty Disallow forbids nothing */
        {UA "Disallow:\n", "/x", true},
        {UA "Disallow: \nDisallow: /y\n", "/x", true},
        /* robots.txt itself is always allowed */
        {UA "Disallow: /\n", "/robots.txt", true},
        /* a pattern without a leading slash is read as if it had one */
        {UA "Disallow: private\n", "/private/a", false},
        /* percent escapes compare in canonical form */
        {UA "Disallow: /%7Ejoe\n", "/~joe/notes", false},
        {UA "Disallow: /~joe\n", "/%7ejoe/notes", false},
        {UA "Disallow: /a%2fb\n", "/a%2Fb", false},
        {UA "Disallow: /a%2Fb\n", "/a/b", true},
        {UA "Disallow: /\xd0\xb0\xd1\x80\xd1\x85\n", "/%D0%B0%D1%80%D1%85%D0%B8%D0%B2", false},
        {UA "Disallow: /%d0%b0\n", "/\xd0\xb0", false},
        /* the query is part of the path */
        {UA "Disallow: /*?sort=\n", "/list?sort=date", false},
        {UA "Disallow: /*?sort=\n", "/list?page=2", true},
        {UA "Disallow: /search?\n", "/search", true},
    };

    (void)state;
    run_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

/* Which group applies, and how messy files are read. */
static void test_groups_and_tolerance(void **state)
{
    static const struct match_case cases[] = {
        /* provd's own group replaces the * group */
        {"User-agent: *\nDisallow: /\n\nUser-agent: provd\nDisallow: /private\n", "/public", true},
        {"User-agent: *\nDisallow: /\n\nUser-agent: provd\nDisallow: /private\n", "/private",
         false},
        /* an empty provd group allows everything even when * forbids it */
        {"User-agent: provd\nAllow: /\n\nUser-agent: *\nDisallow: /\n", "/x", true},
        /* product token with a version, any case */
        {"User-agent: PROVD/2.1\nDisallow: /x\nUser-agent: *\nDisallow: /\n", "/y", true},
        {"User-agent: PROVD/2.1\nDisallow: /x\nUser-agent: *\nDisallow: /\n", "/x", false},
        /* a longer token is another robot */
        {"User-agent: provdbot\nDisallow: /\n", "/x", true},
        {"User-agent: provdbot\nDisallow: /\nUser-agent: *\nDisallow: /y\n", "/x", true},
        /* several agents share one group */
        {"User-agent: otherbot\nUser-agent: provd\nDisallow: /shared\n", "/shared", false},
        /* two provd groups merge */
        {"User-agent: provd\nDisallow: /a\n\nUser-agent: other\nDisallow: /b\n\n"
         "User-agent: provd\nDisallow: /c\n",
         "/c", false},
        {"User-agent: provd\nDisallow: /a\n\nUser-agent: other\nDisallow: /b\n\n"
         "User-agent: provd\nDisallow: /c\n",
         "/b", true},
        /* a rule ends the agent list: the next User-agent starts a group */
        {"User-agent: provd\nDisallow: /a\nUser-agent: other\nDisallow: /b\n", "/b", true},
        /* rules before any User-agent belong to no group */
        {"Disallow: /\nUser-agent: *\nDisallow: /x\n", "/y", true},
        /* Sitemap lines and unknown lines do not break a group */
        {"User-agent: provd\nSitemap: https://e.org/s.xml\nDisallow: /x\n", "/x", false},
        {"User-agent: provd\nHost: e.org\nDisallow: /x\n", "/x", false},
        /* field names in any case; a misspelling; a missing colon */
        {"USER-AGENT: *\nDISALLOW: /x\n", "/x", false},
        {"user-agent: *\ndisallow: /x\n", "/x", false},
        {"User-agent: *\nDissallow: /x\n", "/x", false},
        {"User-agent *\nDisallow /x\n", "/x", false},
        /* BOM, CRLF and lone CR line ends */
        {"\xef\xbb\xbfUser-agent: *\r\nDisallow: /x\r\n", "/x", false},
        {"User-agent: *\rDisallow: /x\r", "/x", false},
        /* comments, white space, garbage lines */
        {"# robots for e.org\nUser-agent: * # everyone\n  Disallow:   /x   # not x\n", "/x", false},
        {"<html><body>Not Found</body></html>\n", "/x", true},
        {"User-agent: *\n\x01\x02garbage: \xff\xfe\nthis line means nothing\nDisallow: /x\n", "/x",
         false},
        {"User-agent: *\nDisallow: /x", "/x", false}, /* no final newline */
    };

    (void)state;
    run_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_crawl_delay(void **state)
{
    static const struct {
        const char *txt;
        int64_t cap, want;
    } cases[] = {
        {"User-agent: *\nCrawl-delay: 10\n", -1, 10000},
        {"User-agent: *\nCrawl-delay: 10\n", 5000, 5000},
        {"User-agent: *\nCrawl-delay: 0.5\n", -1, 500},
        {"User-agent: *\ncrawl-delay: 2.25\n", -1, 2250},
        {"User-agent: *\nCrawl-delay: soon\n", -1, 0},
        {"User-agent: *\nCrawl-delay: -3\n", -1, 0},
        {"User-agent: *\nCrawl-delay:\n", -1, 0},
        {"User-agent: *\nDisallow: /x\n", -1, 0},
        {"User-agent: *\nCrawl-delay: 99999999999999999999\n", -1, 86400000},
        {"User-agent: *\nCrawl-delay: 30\nUser-agent: provd\nCrawl-delay: 2\n", -1, 2000},
        {"User-agent: other\nCrawl-delay: 30\n", -1, 0},
        {"User-agent: provd\nCrawl-delay: 1\nCrawl-delay: 4\n", -1, 4000},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct robots *r = robots_parse(cases[i].txt, strlen(cases[i].txt), NULL);
        int64_t got = robots_crawl_delay_ms(r, cases[i].cap);
        if (got != cases[i].want)
            fail_msg("case %zu: delay %lld, want %lld", i, (long long)got,
                     (long long)cases[i].want);
        robots_free(r);
    }
}

static void test_urls_and_fixed_rules(void **state)
{
    static const char txt[] = "User-agent: *\nDisallow: /private\nDisallow: /*?print=\n";
    struct robots *r = robots_parse(txt, strlen(txt), "provd");

    (void)state;
    assert_int_equal(robots_rule_count(r), 2);
    assert_false(robots_truncated(r));
    assert_false(robots_allowed_url(r, "https://example.org/private/a"));
    assert_true(robots_allowed_url(r, "https://example.org/public#private"));
    assert_false(robots_allowed_url(r, "https://example.org/doc?print=1"));
    assert_true(robots_allowed_url(r, "https://example.org"));
    assert_true(robots_allowed_url(r, "https://example.org?x=private"));
    assert_true(robots_allowed_url(r, "https://example.org:8443/robots.txt"));
    assert_true(robots_allowed(r, ""));
    robots_free(r);

    r = robots_new_allow_all();
    assert_true(robots_allowed(r, "/private"));
    assert_int_equal(robots_crawl_delay_ms(r, -1), 0);
    robots_free(r);
    r = robots_new_disallow_all();
    assert_false(robots_allowed(r, "/"));
    assert_false(robots_allowed_url(r, "https://example.org/x"));
    assert_true(robots_allowed(r, "/robots.txt"));
    robots_free(r);
    robots_free(NULL);

    /* another product token */
    static const char other[] = "User-agent: archivebot\nDisallow: /\nUser-agent: *\nAllow: /\n";
    r = robots_parse(other, strlen(other), "ArchiveBot");
    assert_false(robots_allowed(r, "/x"));
    robots_free(r);
}

/* Only the first 500 KiB count; a line cut at the limit is dropped. */
static void test_size_cap(void **state)
{
    struct strbuf b = STRBUF_INIT;
    struct robots *r;

    (void)state;
    strbuf_adds(&b, "User-agent: *\nDisallow: /early\n");
    while (b.len + 40 < ROBOTS_MAX_BYTES - 12)
        strbuf_adds(&b, "# padding padding padding padding\n");
    strbuf_addc(&b, '#');
    while (b.len < ROBOTS_MAX_BYTES - 13)
        strbuf_addc(&b, 'x');
    strbuf_addc(&b, '\n');
    /* this line straddles the limit; its first 11 bytes, "Disallow: /",
     * would forbid everything if the cut line were read */
    assert_int_equal(b.len, ROBOTS_MAX_BYTES - 12);
    strbuf_adds(&b, "Disallow: /straddle-the-limit-with-a-long-path\n");
    strbuf_adds(&b, "Disallow: /late\n");
    assert_true(b.len > ROBOTS_MAX_BYTES);
    r = robots_parse(b.s, b.len, NULL);
    assert_true(robots_truncated(r));
    assert_false(robots_allowed(r, "/early"));
    assert_true(robots_allowed(r, "/late"));
    assert_true(robots_allowed(r, "/x"));
    assert_int_equal(robots_rule_count(r), 1);
    robots_free(r);
    strbuf_release(&b);
}

/* A hostile file: many wildcard rules against a long path stay cheap. */
static void test_pathological(void **state)
{
    struct strbuf b = STRBUF_INIT, path = STRBUF_INIT;
    struct robots *r;
    struct timespec t0, t1;
    double dt;

    (void)state;
    strbuf_adds(&b, "User-agent: *\n");
    while (b.len < ROBOTS_MAX_BYTES - 64)
        strbuf_adds(&b, "Disallow: /*a*a*a*a*a*a*a*a*a*a*a*a*b$\n");
    strbuf_addc(&path, '/');
    for (int i = 0; i < 4000; i++)
        strbuf_addc(&path, 'a');
    r = robots_parse(b.s, b.len, NULL);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < 10; i++)
        assert_true(robots_allowed(r, path.s));
    clock_gettime(CLOCK_MONOTONIC, &t1);
    dt = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    print_message("    %zu wildcard rules x 4 KB path: %.1f ms per check\n", robots_rule_count(r),
                  dt * 100);
    assert_true(dt < 10.0);
    strbuf_adds(&path, "b");
    assert_false(robots_allowed(r, path.s));
    robots_free(r);
    strbuf_release(&b);
    strbuf_release(&path);
}

static void test_decide(void **state)
{
    const int64_t now = 1000000, day = 86400000, min = 60000, hour = 3600000;
    static const struct {
        int status;
        bool cached;
        unsigned failures;
        enum robots_verdict verdict;
        int64_t after; /* refetch_at - now */
        bool failed;
    } cases[] = {
        {200, false, 0, ROBOTS_USE_BODY, 86400000, false},
        {204, true, 3, ROBOTS_USE_BODY, 86400000, false},
        {404, false, 0, ROBOTS_ALLOW_ALL, 86400000, false},
        {410, true, 0, ROBOTS_ALLOW_ALL, 86400000, false},
        {401, false, 0, ROBOTS_ALLOW_ALL, 86400000, false},
        {403, false, 0, ROBOTS_ALLOW_ALL, 86400000, false},
        {301, false, 0, ROBOTS_ALLOW_ALL, 86400000, false},
        {429, false, 0, ROBOTS_DISALLOW_ALL, 60000, true},
        {500, false, 0, ROBOTS_DISALLOW_ALL, 60000, true},
        {503, false, 1, ROBOTS_DISALLOW_ALL, 120000, true},
        {503, false, 3, ROBOTS_DISALLOW_ALL, 480000, true},
        {503, false, 10, ROBOTS_DISALLOW_ALL, 3600000, true},
        {503, false, 4000000000u, ROBOTS_DISALLOW_ALL, 3600000, true},
        {0, false, 0, ROBOTS_DISALLOW_ALL, 60000, true},
        {0, true, 0, ROBOTS_KEEP_CACHED, 60000, true},
        {502, true, 2, ROBOTS_KEEP_CACHED, 240000, true},
        {100, false, 0, ROBOTS_DISALLOW_ALL, 60000, true},
    };
    struct robots_decision d;
    struct robots_options o = {.expiry_ms = hour, .retry_ms = 5000, .retry_max_ms = min};

    (void)state;
    (void)day;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        robots_decide(NULL, cases[i].status, cases[i].cached, cases[i].failures, now, &d);
        if (d.verdict != cases[i].verdict || d.refetch_at - now != cases[i].after ||
            d.failed != cases[i].failed)
            fail_msg("case %zu (status %d): verdict %d after %lld", i, cases[i].status, d.verdict,
                     (long long)(d.refetch_at - now));
    }
    robots_decide(&o, 200, false, 0, now, &d);
    assert_int_equal(d.refetch_at, now + hour);
    robots_decide(&o, 503, false, 2, now, &d);
    assert_int_equal(d.refetch_at, now + 20000);
    robots_decide(&o, 503, false, 5, now, &d);
    assert_int_equal(d.refetch_at, now + min);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matching),    cmocka_unit_test(test_groups_and_tolerance),
        cmocka_unit_test(test_crawl_delay), cmocka_unit_test(test_urls_and_fixed_rules),
        cmocka_unit_test(test_size_cap),    cmocka_unit_test(test_pathological),
        cmocka_unit_test(test_decide),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
