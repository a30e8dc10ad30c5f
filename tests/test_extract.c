/*
 * Tests of page extraction and profiles: every fixture page of
 * tests/data/pages/ against its expected JSON (PROVENANCE.md §3) field by
 * field with the built-in wilson profile; layout changes, bot challenges
 * and error pages; the Source fallback rule; the profile spec syntax and
 * its error messages; a user-defined profile; displayed dates to ISO; and
 * funder sentences split into names.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "extract_text.h"
#include "harvest.h"
#include "profile_internal.h"
#include "record_json.h"
#include "strbuf.h"
#include "text.h"

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef SOURCE_ROOT
#define SOURCE_ROOT "."
#endif

static const char *source_root(void)
{
    const char *root = getenv("PROVD_SOURCE_ROOT");

    return root != NULL && root[0] != '\0' ? root : SOURCE_ROOT;
}

/* The bytes of a file under tests/data/pages/; *len gets its size. */
static char *read_page(const char *name, size_t *len)
{
    struct strbuf b = STRBUF_INIT;
    char *path = NULL, chunk[65536];
    FILE *f;
    size_t n;

    if (asprintf(&path, "%s/tests/data/pages/%s", source_root(), name) < 0)
        fail();
    f = fopen(path, "rb");
    if (f == NULL)
        fail_msg("%s: %s", path, strerror(errno));
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        strbuf_add(&b, chunk, n);
    fclose(f);
    free(path);
    *len = b.len;
    return strbuf_steal(&b);
}

/* A copy of page with what replacing the first occurrence of anchor. */
static char *replace(const char *page, const char *anchor, const char *what)
{
    const char *at = strstr(page, anchor);
    struct strbuf b = STRBUF_INIT;

    if (at == NULL)
        fail_msg("anchor not in page: %s", anchor);
    strbuf_add(&b, page, (size_t)(at - page));
    strbuf_adds(&b, what);
    strbuf_adds(&b, at + strlen(anchor));
    return strbuf_steal(&b);
}

static const struct profile *wilson(void)
{
    const struct profile *p = profile_builtin("wilson");

    assert_non_null(p);
    return p;
}

/* Extract a NUL-terminated page with wilson; returns extract_page's rc. */
static int extract_str(const char *page, struct extract_result *res)
{
    return extract_page(wilson(), page, strlen(page), "test.html", NULL, res);
}

/* Compare the record with the expected object key by key; prints each
 * difference and returns how many there were. */
static int compare_record(const char *name, const struct record *r, const json_t *want)
{
    json_t *got = record_to_json(r, RECORD_JSON_TEXT);
    const char *key;
    json_t *w;
    int bad = 0;

    json_object_foreach((json_t *)want, key, w)
    {
        json_t *g = json_object_get(got, key);

        if (g != NULL && json_equal(w, g))
            continue;
        {
            char *ws = json_dumps(w, JSON_ENCODE_ANY | JSON_COMPACT);
            char *gs = g ? json_dumps(g, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;

            printf("%s: %s:\n  expected %s\n  got      %s\n", name, key, ws, gs ? gs : "(absent)");
            free(ws);
            free(gs);
        }
        bad++;
    }
    if (json_object_get(got, "partial") != NULL) {
        printf("%s: record is marked partial\n", name);
        bad++;
    }
    json_decref(got);
    return bad;
}

static void test_fixtures(void **state)
{
    char *dir = NULL;
    struct dirent *de;
    size_t pages = 0, failed = 0;
    DIR *d;

    (void)state;
    if (asprintf(&dir, "%s/tests/data/pages", source_root()) < 0)
        fail();
    d = opendir(dir);
    assert_non_null(d);
    while ((de = readdir(d)) != NULL) {
        size_t n = strlen(de->d_name), len;
        struct extract_result res = {0};
        char html[512], *path = NULL, *body;
        json_error_t jerr;
        json_t *want;
        int rc;

        if (n < 6 || strcmp(de->d_name + n - 5, ".json") != 0)
            continue;
        snprintf(html, sizeof(html), "%.*s.html", (int)(n - 5), de->d_name);
        if (asprintf(&path, "%s/%s", dir, de->d_name) < 0)
            fail();
        want = json_load_file(path, 0, &jerr);
        if (want == NULL)
            fail_msg("%s:%d: %s", path, jerr.line, jerr.text);
        body = read_page(html, &len);
        rc = extract_page(wilson(), body, len, html, NULL, &res);
        if (rc != 0 || res.record == NULL) {
            printf("%s: rc %d, %s: %s\n", html, rc, prov_category_name(res.category), res.reason);
            failed++;
        } else {
            assert_int_equal(res.category, PROV_OK);
            failed += compare_record(html, res.record, want) != 0;
        }
        pages++;
        extract_result_clear(&res);
        json_decref(want);
        free(body);
        free(path);
    }
    closedir(d);
    free(dir);
    printf("fixture pages: %zu, failed: %zu\n", pages, failed);
    assert_true(pages >= 10);
    assert_int_equal(failed, 0);
}

/* The bundled demo pages (examples/pages/): every record page gives a whole
 * record with its citation, and the bot-challenge page is BLOCKED. */
static void test_example_pages(void **state)
{
    char *dir = NULL;
    struct dirent *de;
    size_t records = 0, blocked = 0;
    DIR *d;

    (void)state;
    if (asprintf(&dir, "%s/examples/pages", source_root()) < 0)
        fail();
    d = opendir(dir);
    assert_non_null(d);
    while ((de = readdir(d)) != NULL) {
        size_t n = strlen(de->d_name), len;
        struct extract_result res = {0};
        struct strbuf b = STRBUF_INIT;
        char *path = NULL, chunk[65536];
        FILE *f;
        int rc;

        if (n < 6 || strcmp(de->d_name + n - 5, ".html") != 0)
            continue;
        if (asprintf(&path, "%s/%s", dir, de->d_name) < 0)
            fail();
        f = fopen(path, "rb");
        assert_non_null(f);
        while ((len = fread(chunk, 1, sizeof(chunk), f)) > 0)
            strbuf_add(&b, chunk, len);
        fclose(f);
        rc = extract_page(wilson(), b.s, b.len, de->d_name, NULL, &res);
        printf("%s: %s %s\n", de->d_name, prov_category_name(res.category), res.reason);
        if (strcmp(de->d_name, "challenge.html") == 0) {
            assert_int_equal(rc, -EACCES);
            assert_int_equal(res.category, PROV_BLOCKED);
            blocked++;
        } else {
            assert_int_equal(rc, 0);
            assert_int_equal(res.category, PROV_OK);
            assert_non_null(res.record->record_id);
            assert_non_null(res.record->date_iso);
            assert_non_null(res.record->source);
            assert_true(res.record->n_citations >= 1);
            assert_non_null(res.record->citations[0].archive);
            assert_string_equal(res.record->url, de->d_name);
            records++;
        }
        extract_result_clear(&res);
        strbuf_release(&b);
        free(path);
    }
    closedir(d);
    free(dir);
    assert_true(records >= 8);
    assert_int_equal(blocked, 1);
}

/* Every string of a record is valid UTF-8 with no leading, trailing or
 * doubled white space. */
static void assert_clean(const char *s)
{
    size_t n;

    if (s == NULL)
        return;
    n = strlen(s);
    assert_true(text_utf8_valid(s, n));
    assert_true(n > 0);
    assert_true(s[0] != ' ' && s[n - 1] != ' ');
    assert_null(strstr(s, "  "));
    assert_null(strpbrk(s, "\t\n\r"));
}

static void test_fixture_strings_clean(void **state)
{
    static const char *const names[] = {"entities-whitespace.html", "garf-cyrillic.html",
                                        "windows-1251-meta.html"};

    (void)state;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        struct extract_result res = {0};
        size_t len;
        char *body = read_page(names[i], &len);
        const struct record *r;

        assert_int_equal(extract_page(wilson(), body, len, names[i], NULL, &res), 0);
        r = res.record;
        assert_clean(r->title);
        assert_clean(r->summary);
        assert_clean(r->source);
        assert_clean(r->text);
        assert_clean(r->date);
        for (size_t k = 0; k < r->people.n; k++)
            assert_clean(r->people.v[k]);
        extract_result_clear(&res);
        free(body);
    }
}

/* H11: the page's layout changed under the profile. */
static void test_layout_changes(void **state)
{
    static const struct {
        const char *anchor, *with;
        enum prov_category cat;
        int rc;
        const char *in_reason;
    } cases[] = {
        /* a second h1.title: the title is ambiguous */
        {"<div class=\"text-block\">",
         "<h1 class=\"title\">Another title</h1><div class=\"text-block\">", PROV_EXTRACT_AMBIGUOUS,
         -EBADMSG, "title"},
        /* no Record ID block */
        {"<span class=\"sub-title\">Record ID</span>", "<span class=\"sub-title\">Reference</span>",
         PROV_EXTRACT_EMPTY, -ENODATA, "record_id"},
        /* no title */
        {"<h1 class=\"title\">", "<h1 class=\"heading\">", PROV_EXTRACT_EMPTY, -ENODATA, "title"},
        /* a second Type block: one-value field, two blocks */
        {"<span class=\"sub-title\">Rights</span>", "<span class=\"sub-title\">Type</span>",
         PROV_EXTRACT_AMBIGUOUS, -EBADMSG, "type"},
        /* a second dated header before the sections */
        {"<h1 class=\"title\">", "<p class=\"date\">May 1941</p><h1 class=\"title\">",
         PROV_EXTRACT_AMBIGUOUS, -EBADMSG, "date"},
    };
    size_t len;
    char *base = read_page("rgaspi-telegram.html", &len);

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct extract_result res = {0};
        char *page = replace(base, cases[i].anchor, cases[i].with);
        int rc = extract_str(page, &res);

        printf("layout case %zu: %s: %s\n", i, prov_category_name(res.category), res.reason);
        assert_int_equal(rc, cases[i].rc);
        assert_int_equal(res.category, cases[i].cat);
        assert_null(res.record);
        assert_non_null(strstr(res.reason, cases[i].in_reason));
        assert_true(text_utf8_valid(res.reason, strlen(res.reason)));
        extract_result_clear(&res);
        free(page);
    }
    free(base);
}

static void test_blocked_and_error_pages(void **state)
{
    static const struct {
        const char *page;
        enum prov_category cat;
        const char *in_reason;
    } cases[] = {
        {"<!DOCTYPE html><html><head><title>Just a moment...</title></head><body><div "
         "id=\"cf-challenge-running\">Checking your browser before accessing the site.</div>"
         "<script src=\"/cdn-cgi/challenge-platform/h/g/orchestrate/jsch/v1\"></script></body>"
         "</html>",
         PROV_BLOCKED, "just a moment"},
        {"<html><head><title>Attention Required!</title></head><body><h1 class=\"title\">One "
         "more step</h1><form id=\"challenge-form\"><div class=\"g-recaptcha\"></div></form>"
         "</body></html>",
         PROV_BLOCKED, "captcha"},
        {"<html><head><title>403 Forbidden</title></head><body><h1>Access Denied</h1><p>You "
         "don't have permission to access this page.</p></body></html>",
         PROV_BLOCKED, "access denied"},
        {"<html><head><title>Sign in</title></head><body><h1 class=\"title\">Members</h1><form "
         "method=\"post\"><input name=\"user\"><input type=\"PASSWORD\" name=\"pw\"></form>"
         "</body></html>",
         PROV_BLOCKED, "login wall"},
        {"<html><head><title>Page not found | Wilson Center Digital Archive</title></head><body>"
         "<h1 class=\"title\">Page not found</h1><p>The requested page could not be found.</p>"
         "</body></html>",
         PROV_EXTRACT_EMPTY, "Page not found"},
        {"plain text, not a page at all", PROV_EXTRACT_EMPTY, "record_id"},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct extract_result res = {0};
        int rc = extract_str(cases[i].page, &res);

        printf("page %zu: %s: %s\n", i, prov_category_name(res.category), res.reason);
        assert_true(rc < 0);
        assert_int_equal(res.category, cases[i].cat);
        assert_null(res.record);
        assert_non_null(strstr(res.reason, cases[i].in_reason));
        extract_result_clear(&res);
    }
}

/* A profile's own blocked-marker phrase marks a page BLOCKED. */
static void test_blocked_marker_option(void **state)
{
    struct profile *p = profile_new("marker");
    const char *page = "<html><body><h1>Maintenance</h1><p>Back SOON, Dear Reader.</p></body>"
                       "</html>";
    struct extract_result res = {0};
    char err[256];

    (void)state;
    assert_int_equal(profile_set(p, "record_id", "text //*[@id='rid']", err, sizeof(err)), 0);
    assert_int_equal(profile_set(p, "title", "text //h1", err, sizeof(err)), 0);
    assert_int_equal(extract_page(p, page, strlen(page), NULL, NULL, &res), -ENODATA);
    assert_int_equal(res.category, PROV_EXTRACT_EMPTY);
    assert_int_equal(profile_set(p, "blocked-marker", "\"back soon, dear\"", err, sizeof(err)), 0);
    assert_int_equal(extract_page(p, page, strlen(page), NULL, NULL, &res), -EACCES);
    assert_int_equal(res.category, PROV_BLOCKED);
    assert_non_null(strstr(res.reason, "back soon, dear"));
    extract_result_clear(&res);
    profile_free(p);
}

/* PROVENANCE.md §1: an unlabelled first block is the Source only when it
 * comes before the Rights block. */
static void test_source_fallback(void **state)
{
    size_t len;
    char *base = read_page("avprf-papka-no-label.html", &len);
    char *no_rights, *labelled_other;
    struct extract_result res = {0};

    (void)state;
    assert_int_equal(extract_str(base, &res), 0);
    assert_non_null(res.record->source);
    assert_int_equal(res.record->n_citations, 1);
    /* without a Rights block after it, the unlabelled block is not taken */
    no_rights = replace(base, "<span class=\"sub-title\">Rights</span>",
                        "<span class=\"sub-title\">Terms</span>");
    assert_int_equal(extract_str(no_rights, &res), 0);
    assert_null(res.record->source);
    assert_int_equal(res.record->n_citations, 0);
    assert_int_equal(res.record->translators.n, 0);
    /* a first block labelled something else is not the Source either */
    labelled_other = replace(base, "<div class=\"information-block col-md-6\">\n              \n",
                             "<div class=\"information-block col-md-6\">\n              <span "
                             "class=\"sub-title\">Summary</span>\n");
    assert_int_equal(extract_str(labelled_other, &res), 0);
    assert_null(res.record->source);
    extract_result_clear(&res);
    free(labelled_other);
    free(no_rights);
    free(base);
}

static void test_date_iso(void **state)
{
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"November 22, 1945", "1945-11-22"},
        {"February 1946", "1946-02"},
        {"1958", "1958"},
        {"July 06, 1945", "1945-07-06"},
        {"april 9, 1941", "1941-04-09"},
        {"Sept. 3, 1939", "1939-09-03"},
        {"Nov 1, 1950", "1950-11-01"},
        {"22 November 1945", "1945-11-22"},
        {"February 29, 1948", "1948-02-29"},
        {"1945-11-22", "1945-11-22"},
        {"1945-11", "1945-11"},
        {"  March,  1953 ", "1953-03"},
        {"February 29, 1949", NULL},
        {"April 31, 1941", NULL},
        {"Spring 1945", NULL},
        {"1950s", NULL},
        {"c. 1958", NULL},
        {"November 1945 to March 1946", NULL},
        {"", NULL},
        {"Mar 0, 1950", NULL},
        {"1945-13", NULL},
        {"Nov. 22, 45", NULL},
    };

    (void)state;
    assert_null(extract_date_iso(NULL));
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *got = extract_date_iso(cases[i].in);

        if (cases[i].out == NULL) {
            if (got != NULL)
                fail_msg("\"%s\" gave \"%s\", expected none", cases[i].in, got);
        } else {
            if (got == NULL || strcmp(got, cases[i].out) != 0)
                fail_msg("\"%s\" gave \"%s\", expected \"%s\"", cases[i].in, got ? got : "none",
                         cases[i].out);
        }
        free(got);
    }
}

static void test_names(void **state)
{
    static const struct {
        const char *in;
        const char *out[4];
    } cases[] = {
        {"the Leon Levy Foundation.", {"Leon Levy Foundation"}},
        {"X and Y", {"X", "Y"}},
        {"the Leon Levy Foundation, the Carnegie Corporation of New York, and the John D. and "
         "Catherine T. MacArthur Foundation.",
         {"Leon Levy Foundation", "Carnegie Corporation of New York",
          "John D. and Catherine T. MacArthur Foundation"}},
        {"A; B and A", {"A", "B"}},
        {"Henry Luce Foundation", {"Henry Luce Foundation"}},
        {"", {NULL}},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct strlist l = {0};
        size_t n = 0;

        extract_text_names(cases[i].in, &l);
        while (n < 4 && cases[i].out[n] != NULL)
            n++;
        if (l.n != n)
            fail_msg("\"%s\": %zu names, expected %zu", cases[i].in, l.n, n);
        for (size_t k = 0; k < n; k++)
            assert_string_equal(l.v[k], cases[i].out[k]);
        strlist_clear(&l);
    }
}

/* extract_text_clean() is a one-pass text_squash_ws(text_utf8_sanitize());
 * on any mix of spaces, words, wide spaces, NULs and broken bytes both
 * must agree. */
static void test_clean_matches_squash(void **state)
{
    static const char *const parts[] = {"a",
                                        "word",
                                        " ",
                                        "  ",
                                        "\t",
                                        "\n",
                                        "\r\n",
                                        "\xc2\xa0",
                                        "\xe2\x80\x83",
                                        "\xe3\x80\x80",
                                        "\xd0\x9f",
                                        "\xff",
                                        "\xc3",
                                        "\x00",
                                        "\xef\xbb\xbf",
                                        ".",
                                        "\xf0\x9f\x93\x9c",
                                        "\v"};
    unsigned seed = 12345;

    (void)state;
    for (int round = 0; round < 20000; round++) {
        struct strbuf b = STRBUF_INIT;
        int n = (int)((seed = seed * 1103515245u + 12345u) >> 16) % 12;
        char *fixed, *want, *got;

        for (int i = 0; i < n; i++) {
            size_t k =
                ((seed = seed * 1103515245u + 12345u) >> 16) % (sizeof(parts) / sizeof(*parts));

            strbuf_add(&b, parts[k], parts[k][0] == '\0' ? 1 : strlen(parts[k]));
        }
        fixed = text_utf8_sanitize(strbuf_str(&b), b.len);
        want = text_squash_ws(fixed);
        got = extract_text_clean(strbuf_str(&b), b.len);
        if (want[0] == '\0')
            assert_null(got);
        else if (got == NULL || strcmp(got, want) != 0)
            fail_msg("round %d: \"%s\" but \"%s\"", round, got ? got : "(null)", want);
        free(got);
        free(want);
        free(fixed);
        strbuf_release(&b);
    }
}

static void test_profile_errors(void **state)
{
    static const struct {
        const char *key, *spec, *in_err;
    } cases[] = {
        {"titel", "text //h1", "unknown profile key"},
        {"title", "txt //h1", "unknown step"},
        {"title", "text", "missing XPath"},
        {"title", "text   ", "missing XPath"},
        {"title", "text //h1[", "does not compile"},
        {"title", "text //h1[@class='x'", "does not compile"},
        {"title", "text no-such-function(//h1)", "cannot run (unknown function)"},
        {"title", "text $var", "variables are not allowed"},
        {"title", "text //h1[", "invalid expression"},
        {"title", "pills //h1", "holds one value"},
        {"languages", "text //li", "is a list"},
        {"source", "block Source", "expected a quoted label"},
        {"source", "block \"Source", "unterminated"},
        {"source", "block \"\"", "empty label"},
        {"source", "block \"Source\" first-before", "expected a quoted label"},
        {"source", "block \"Source\" and more", "unexpected text"},
        {"type", "attr //x", "expected an attribute name"},
        {"type", "attr data-x //x[", "does not compile"},
        {"type", "attr", "expected an attribute name"},
        {"subjects", "section \"Subjects\"", "missing XPath"},
        {"funders", "after //x", "expected a quoted phrase"},
        {"blocks", "//div[", "does not compile"},
        {"blocked-marker", "\"\"", "empty"},
        {"title", "text \xff//h1", "not valid UTF-8"},
    };
    struct profile *p = profile_new("bad");
    char err[256];

    (void)state;
    assert_string_equal(profile_name(p), "bad");
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        err[0] = '\0';
        if (profile_set(p, cases[i].key, cases[i].spec, err, sizeof(err)) != -EINVAL)
            fail_msg("%s = %s was accepted", cases[i].key, cases[i].spec);
        if (strstr(err, cases[i].in_err) == NULL)
            fail_msg("%s = %s: message \"%s\" lacks \"%s\"", cases[i].key, cases[i].spec, err,
                     cases[i].in_err);
    }
    /* nothing was set by the failed lines */
    assert_int_equal(profile_check(p, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "record_id"));
    assert_int_equal(profile_set(p, "record-id", "text //x", err, sizeof(err)), 0);
    assert_int_equal(profile_set(p, "title", "text //h1", err, sizeof(err)), 0);
    assert_int_equal(profile_check(p, err, sizeof(err)), 0);
    /* block and section steps need the profile's block and heading XPaths */
    assert_int_equal(profile_set(p, "source", "block \"Source\"", err, sizeof(err)), 0);
    assert_int_equal(profile_check(p, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "\"blocks\" is not set"));
    assert_int_equal(profile_set(p, "blocks", "//dl", err, sizeof(err)), 0);
    assert_int_equal(profile_set(p, "block_label", "//dt", err, sizeof(err)), 0);
    assert_int_equal(profile_set(p, "block-value", "//dd", err, sizeof(err)), 0);
    assert_int_equal(profile_check(p, err, sizeof(err)), 0);
    assert_int_equal(profile_set(p, "places", "section \"Places\" //li", err, sizeof(err)), 0);
    assert_int_equal(profile_check(p, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "headings"));
    profile_free(p);
    profile_free(NULL);
    assert_null(profile_builtin("nope"));
    assert_null(profile_builtin(NULL));
    assert_ptr_equal(profile_builtin("wilson"), profile_builtin("wilson"));
    assert_string_equal(profile_name(profile_builtin("wilson")), "wilson");
    assert_int_equal(profile_check(profile_builtin("wilson"), err, sizeof(err)), 0);
}

/* A profile written as a configuration section would write it, over a page
 * of another layout. */
static void test_user_profile(void **state)
{
    static const char *const spec[][2] = {
        {"record_id", "attr content //meta[@name='record-id']"},
        {"title", "text //article/h1"},
        {"date", "text //time"},
        {"summary", "text normalize-space(//article/p[@class='lead'])"},
        {"headings", "//article/h3"},
        {"subjects", "section \"Topics\" //li"},
        {"places", "section \"PLACES:\" //li"},
        {"blocks", "//dl/div"},
        {"block-label", "//dt"},
        {"block-value", "//dd"},
        {"block-pill", "//dd//b"},
        {"source", "block \"Where kept\""},
        {"languages", "block \"languages\""},
        {"type", "block \"Kind\""},
        {"funders", "after \"paid for by\" //footer/p"},
        {"original_archives", "attr data-archive //dl/div"},
        {"text", "text //article/section"},
        {"blocked-marker", "please wait while we verify"},
    };
    const char *page =
        "<html><head><meta name=\"record-id\" content=\" 42 \"></head><body><article>"
        "<h1>A  Letter</h1><time>March 1953</time><p class=\"lead\"> Short\n summary. </p>"
        "<section><p>First.</p><p>Second.</p></section>"
        "<h3>Topics</h3><ul><li>One</li><li>Two</li><li>One</li></ul>"
        "<h3>Places</h3><ul><li>Riga</li></ul></article>"
        "<dl><div data-archive=\"GARF\"><dt>Where kept:</dt><dd>GARF, f. 5446, op. 1, d. 12, l. "
        "4.</dd></div><div data-archive=\"RGASPI\"><dt>Languages</dt><dd><b>Russian</b> and "
        "<b>Latvian</b></dd></div><div><dt>Kind</dt><dd>Letter</dd></div></dl>"
        "<footer><p>Paid for by Alpha Fund and Beta Trust.</p></footer></body></html>";
    struct profile *p = profile_new("mine");
    struct extract_result res = {0};
    const struct record *r;
    char err[256];

    (void)state;
    for (size_t i = 0; i < sizeof(spec) / sizeof(spec[0]); i++)
        if (profile_set(p, spec[i][0], spec[i][1], err, sizeof(err)) < 0)
            fail_msg("%s: %s", spec[i][0], err);
    assert_int_equal(profile_check(p, err, sizeof(err)), 0);
    assert_int_equal(extract_page(p, page, strlen(page), "mine.html", "utf-8", &res), 0);
    r = res.record;
    assert_string_equal(r->record_id, "42");
    assert_string_equal(r->title, "A Letter");
    assert_string_equal(r->date, "March 1953");
    assert_string_equal(r->date_iso, "1953-03");
    assert_string_equal(r->summary, "Short summary.");
    assert_int_equal(r->subjects.n, 2);
    assert_string_equal(r->subjects.v[0], "One");
    assert_string_equal(r->subjects.v[1], "Two");
    assert_int_equal(r->places.n, 1);
    assert_string_equal(r->places.v[0], "Riga");
    assert_string_equal(r->source, "GARF, f. 5446, op. 1, d. 12, l. 4.");
    assert_int_equal(r->n_citations, 1);
    assert_string_equal(r->citations[0].archive, "GARF");
    assert_int_equal(r->languages.n, 2);
    assert_string_equal(r->languages.v[0], "Russian");
    assert_string_equal(r->languages.v[1], "Latvian");
    assert_string_equal(r->type, "Letter");
    assert_int_equal(r->funders.n, 2);
    assert_string_equal(r->funders.v[0], "Alpha Fund");
    assert_string_equal(r->funders.v[1], "Beta Trust");
    assert_int_equal(r->original_archives.n, 2);
    assert_string_equal(r->original_archives.v[1], "RGASPI");
    assert_string_equal(r->text, "First. Second.");
    assert_string_equal(r->url, "mine.html");
    extract_result_clear(&res);
    /* the profile's own marker */
    {
        const char *wait = "<html><body>Please wait while we verify your browser</body></html>";

        assert_int_equal(extract_page(p, wait, strlen(wait), NULL, NULL, &res), -EACCES);
        assert_int_equal(res.category, PROV_BLOCKED);
        extract_result_clear(&res);
    }
    profile_free(p);
}

/* An XPath that gives no node set where a step needs nodes is a profile
 * error, reported as CONFIG with the field's name. */
/* docs/profiles.md writes the built-in profile out as a configuration
 * section; read through profile_set() it must be the same profile. */
static void test_docs_profile_is_builtin(void **state)
{
    const struct profile *w = wilson();
    struct profile *p = profile_new("wilson-copy");
    struct extract_result a = {0}, b = {0};
    char *path = NULL, line[4096], err[256], *ja, *jb, *body;
    bool in = false;
    size_t len, lines = 0;
    FILE *f;

    (void)state;
    if (asprintf(&path, "%s/docs/profiles.md", source_root()) < 0)
        fail();
    f = fopen(path, "r");
    assert_non_null(f);
    while (fgets(line, sizeof(line), f) != NULL) {
        char *eq, *end = line + strlen(line);

        while (end > line && (end[-1] == '\n' || end[-1] == ' '))
            *--end = '\0';
        if (strcmp(line, "[profile wilson-copy]") == 0) {
            in = true;
            continue;
        }
        if (!in)
            continue;
        if (strncmp(line, "```", 3) == 0)
            break;
        eq = strstr(line, " = ");
        assert_non_null(eq);
        *eq = '\0';
        if (profile_set(p, line, eq + 3, err, sizeof(err)) < 0)
            fail_msg("docs/profiles.md: %s: %s", line, err);
        lines++;
    }
    fclose(f);
    free(path);
    assert_true(lines >= 20);
    assert_int_equal(profile_check(p, err, sizeof(err)), 0);
    assert_int_equal(profile_xpath_count(p), profile_xpath_count(w));
    for (size_t i = 0; i < profile_xpath_count(w); i++)
        assert_string_equal(profile_xpath_at(p, i)->expr, profile_xpath_at(w, i)->expr);
    body = read_page("tags-classes-vary.html", &len);
    assert_int_equal(extract_page(w, body, len, "x", NULL, &a), 0);
    assert_int_equal(extract_page(p, body, len, "x", NULL, &b), 0);
    ja = record_to_json_line(a.record, RECORD_JSON_TEXT);
    jb = record_to_json_line(b.record, RECORD_JSON_TEXT);
    assert_string_equal(ja, jb);
    free(ja);
    free(jb);
    free(body);
    extract_result_clear(&a);
    extract_result_clear(&b);
    profile_free(p);
}

static void test_wrong_result_type(void **state)
{
    struct profile *p = profile_new("types");
    const char *page = "<html><body><h1>T</h1><p id=\"r\">7</p></body></html>";
    struct extract_result res = {0};
    char err[256];

    (void)state;
    assert_int_equal(profile_set(p, "record_id", "text string(//p[@id='r'])", err, sizeof(err)), 0);
    assert_int_equal(profile_set(p, "title", "text //h1", err, sizeof(err)), 0);
    assert_int_equal(profile_set(p, "people", "pills count(//p)", err, sizeof(err)), 0);
    assert_int_equal(extract_page(p, page, strlen(page), NULL, NULL, &res), -EINVAL);
    assert_int_equal(res.category, PROV_CONFIG);
    assert_non_null(strstr(res.reason, "people"));
    assert_int_equal(profile_set(p, "people", "pills //h1 | //p", err, sizeof(err)), 0);
    assert_int_equal(extract_page(p, page, strlen(page), NULL, NULL, &res), 0);
    assert_string_equal(res.record->record_id, "7");
    assert_int_equal(res.record->people.n, 2);
    extract_result_clear(&res);
    profile_free(p);
}

/* XPaths may select attributes, text, comments and namespace nodes; every
 * step must cope (the ASan build checks the memory side). */
static void test_odd_node_kinds(void **state)
{
    static const char *const spec[][2] = {
        {"record_id", "text (//@id)[1]"},
        {"title", "text (//h2/text())[1]"},
        {"headings", "//h2 | //namespace::* | //comment()[. = ' none ']"},
        {"subjects", "section \"Topics\" //li/text() | //namespace::* | //li/@class"},
        {"people", "pills //namespace::* | //comment() | //@class"},
        {"blocks", "//div | //namespace::*"},
        {"block-label", "//div/text() | //namespace::* | //@title"},
        {"block-value", "//span | //namespace::*"},
        {"block-pill", "//b | //namespace::* | //b/text()"},
        {"source", "block \"Kept\" first-before \"Nothing\""},
        {"languages", "block \"Kept\""},
        {"places", "attr class //namespace::* | //li | //li/text()"},
        {"funders", "after \"by\" //namespace::* | //p | //p/@title"},
        {"summary", "attr title (//p)[1]"},
    };
    const char *page = "<html><body><h2 id=\"r7\">Topics</h2><!-- c --><ul><li class=\"k\">One</li>"
                       "<li>Two</li></ul><div title=\"Kept\">Kept<span>GARF, f. 1, op. 2, d. 3, l. "
                       "4.<b>Russian</b></span></div><p title=\"t\">Paid by A and B.</p></body>"
                       "</html>";
    struct profile *p = profile_new("odd");
    struct extract_result res = {0};
    char err[256];

    (void)state;
    for (size_t i = 0; i < sizeof(spec) / sizeof(spec[0]); i++)
        if (profile_set(p, spec[i][0], spec[i][1], err, sizeof(err)) < 0)
            fail_msg("%s: %s", spec[i][0], err);
    assert_int_equal(profile_check(p, err, sizeof(err)), 0);
    assert_int_equal(extract_page(p, page, strlen(page), NULL, NULL, &res), 0);
    assert_string_equal(res.record->record_id, "r7");
    assert_string_equal(res.record->title, "Topics");
    assert_true(strlist_contains(&res.record->subjects, "One"));
    assert_true(strlist_contains(&res.record->people, "k"));
    assert_string_equal(res.record->source, "GARF, f. 1, op. 2, d. 3, l. 4.Russian");
    assert_true(strlist_contains(&res.record->languages, "Russian"));
    assert_true(strlist_contains(&res.record->places, "k"));
    assert_true(strlist_contains(&res.record->funders, "A"));
    assert_string_equal(res.record->summary, "t");
    extract_result_clear(&res);
    profile_free(p);
}

static void test_result_reuse(void **state)
{
    struct extract_result res = {0};
    size_t len;
    char *body = read_page("rgaspi-telegram.html", &len);

    (void)state;
    assert_int_equal(extract_page(wilson(), body, len, "a", NULL, &res), 0);
    /* a second call on the same result frees the first record */
    assert_int_equal(extract_page(wilson(), body, len, "b", NULL, &res), 0);
    assert_string_equal(res.record->url, "b");
    assert_int_equal(extract_page(wilson(), "", 0, "c", NULL, &res), -ENODATA);
    assert_null(res.record);
    assert_int_equal(extract_page(NULL, body, len, "d", NULL, &res), -EINVAL);
    assert_int_equal(res.category, PROV_CONFIG);
    extract_result_clear(&res);
    extract_result_clear(&res);
    free(body);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixtures),
        cmocka_unit_test(test_fixture_strings_clean),
        cmocka_unit_test(test_example_pages),
        cmocka_unit_test(test_layout_changes),
        cmocka_unit_test(test_blocked_and_error_pages),
        cmocka_unit_test(test_blocked_marker_option),
        cmocka_unit_test(test_source_fallback),
        cmocka_unit_test(test_date_iso),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_clean_matches_squash),
        cmocka_unit_test(test_profile_errors),
        cmocka_unit_test(test_user_profile),
        cmocka_unit_test(test_docs_profile_is_builtin),
        cmocka_unit_test(test_wrong_result_type),
        cmocka_unit_test(test_odd_node_kinds),
        cmocka_unit_test(test_result_reuse),
    };

    extract_global_init();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
