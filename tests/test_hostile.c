/*
 * Hostile pages (RELIABILITY.md H1-H13, "HTML and extraction"): each page
 * is generated here, mostly by planting the hostile part in a real-shaped
 * fixture page, and must give a clear result (a category and a reason, a
 * record only when it is whole or marked partial), valid UTF-8, no crash
 * and bounded time, in the plain and the ASan+UBSan builds. H11 (layout
 * changes) is in test_extract.c. H6 (attribute flood) is quadratic inside
 * libxml2 and bounded by the helper process's CPU budget, not here: this
 * file only checks that a smaller flood ends cleanly.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "harvest.h"
#include "record_json.h"
#include "strbuf.h"
#include "text.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef SOURCE_ROOT
#define SOURCE_ROOT "."
#endif

#define MIB (1024u * 1024)

static const char *source_root(void)
{
    const char *root = getenv("PROVD_SOURCE_ROOT");

    return root != NULL && root[0] != '\0' ? root : SOURCE_ROOT;
}

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

/* The telegram fixture with n bytes at what put just before anchor (or
 * replacing it when replace is set); *len gets the new size. */
static char *plant(const char *anchor, const char *what, size_t n, bool replace, size_t *len)
{
    size_t blen;
    char *base = read_page("rgaspi-telegram.html", &blen);
    const char *at = strstr(base, anchor);
    struct strbuf b = STRBUF_INIT;

    if (at == NULL)
        fail_msg("anchor not in page: %s", anchor);
    strbuf_add(&b, base, (size_t)(at - base));
    strbuf_add(&b, what, n);
    strbuf_adds(&b, replace ? at + strlen(anchor) : at);
    free(base);
    *len = b.len;
    return strbuf_steal(&b);
}

/* The telegram fixture up to anchor, then n bytes at what, and nothing
 * more: a page that ends inside what. */
static char *cut_after(const char *anchor, const char *what, size_t n, size_t *len)
{
    size_t blen;
    char *base = read_page("rgaspi-telegram.html", &blen);
    const char *at = strstr(base, anchor);
    struct strbuf b = STRBUF_INIT;

    if (at == NULL)
        fail_msg("anchor not in page: %s", anchor);
    strbuf_add(&b, base, (size_t)(at - base));
    strbuf_add(&b, what, n);
    free(base);
    *len = b.len;
    return strbuf_steal(&b);
}

/* Places in the telegram fixture: inside the document text (before the
 * record's information blocks), and after everything the record needs. */
#define IN_TEXT   "<p>Report their reply"
#define AFTER_ALL "    <footer"

static char *repeat(const char *unit, size_t reps, size_t *len)
{
    size_t u = strlen(unit);
    char *s = malloc(u * reps + 1);

    assert_non_null(s);
    for (size_t i = 0; i < reps; i++)
        memcpy(s + i * u, unit, u);
    s[u * reps] = '\0';
    *len = u * reps;
    return s;
}

static double cpu_seconds(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const struct profile *wilson(void)
{
    const struct profile *p = profile_builtin("wilson");

    assert_non_null(p);
    return p;
}

static void assert_valid(const char *s)
{
    if (s != NULL)
        assert_true(text_utf8_valid(s, strlen(s)));
}

static void assert_list_valid(const struct strlist *l)
{
    for (size_t i = 0; i < l->n; i++)
        assert_valid(l->v[i]);
}

/* Every string a record holds is valid UTF-8 (SQLite TEXT never gets
 * anything else), and so is the serialised record. */
static void assert_record_valid(const struct record *r)
{
    const char *s[] = {r->url,  r->record_id,      r->title,    r->date,   r->date_iso, r->summary,
                       r->type, r->classification, r->uploaded, r->source, r->text};
    char *line;

    for (size_t i = 0; i < sizeof(s) / sizeof(s[0]); i++)
        assert_valid(s[i]);
    assert_list_valid(&r->languages);
    assert_list_valid(&r->original_archives);
    assert_list_valid(&r->funders);
    assert_list_valid(&r->subjects);
    assert_list_valid(&r->people);
    assert_list_valid(&r->places);
    assert_list_valid(&r->contributors);
    assert_list_valid(&r->translators);
    for (size_t i = 0; i < r->n_citations; i++) {
        assert_valid(r->citations[i].archive);
        assert_valid(r->citations[i].text);
    }
    line = record_to_json_line(r, RECORD_JSON_TEXT);
    assert_true(text_utf8_valid(line, strlen(line)));
    free(line);
}

/* Run one page; print and return the result's rc. */
static int run(const char *what, const char *page, size_t len, const char *charset,
               struct extract_result *res)
{
    double t0 = cpu_seconds();
    int rc = extract_page(wilson(), page, len, "hostile.html", charset, res);

    printf("%-28s %9zu bytes %6.3f s CPU  rc %d  %s: %s\n", what, len, cpu_seconds() - t0, rc,
           prov_category_name(res->category), res->reason);
    assert_true(text_utf8_valid(res->reason, strlen(res->reason)));
    if (rc == 0) {
        assert_non_null(res->record);
        assert_record_valid(res->record);
        assert_int_equal(res->record->partial, res->category == PROV_PARSE_PARTIAL);
    } else {
        assert_null(res->record);
        assert_true(res->category != PROV_OK);
        assert_true(res->reason[0] != '\0');
    }
    return rc;
}

/* The record of the untouched fixture, to compare hostile variants with. */
static struct record *clean_record(void)
{
    struct extract_result res = {0};
    size_t len;
    char *page = read_page("rgaspi-telegram.html", &len);
    struct record *r;

    assert_int_equal(extract_page(wilson(), page, len, "hostile.html", NULL, &res), 0);
    r = res.record;
    res.record = NULL;
    free(page);
    return r;
}

static void test_h1_empty(void **state)
{
    struct extract_result res = {0};

    (void)state;
    assert_int_equal(run("H1 0 bytes", "", 0, NULL, &res), -ENODATA);
    assert_int_equal(res.category, PROV_EXTRACT_EMPTY);
    assert_int_equal(run("H1 NULL body", NULL, 0, "utf-8", &res), -ENODATA);
    assert_int_equal(run("H1 white space", " \r\n\t ", 5, NULL, &res), -ENODATA);
    assert_int_equal(res.category, PROV_EXTRACT_EMPTY);
    assert_int_equal(run("H1 BOM only", "\xef\xbb\xbf", 3, NULL, &res), -ENODATA);
    assert_int_equal(run("H1 UTF-16 BOM only", "\xff\xfe", 2, NULL, &res), -ENODATA);
    extract_result_clear(&res);
}

static void test_h2_invalid_utf8(void **state)
{
    static const char *const charsets[] = {"utf-8", NULL, "UTF8"};
    size_t n, len;
    char *junk = repeat("\xff\xfe\xc3\x28", 100000, &n);
    struct record *clean = clean_record();

    (void)state;
    for (size_t i = 0; i < sizeof(charsets) / sizeof(charsets[0]); i++) {
        struct extract_result res = {0};
        char *page = plant(IN_TEXT, junk, n, false, &len);

        /* and a bad byte inside the title */
        memcpy(strstr(page, "<h1 class=\"title\">Telegram") + 18, "Tel\xe9gram", 8);
        assert_int_equal(run("H2 invalid UTF-8", page, len, charsets[i], &res), 0);
        assert_int_equal(res.category, PROV_OK);
        assert_non_null(strstr(res.record->title, "Tel\xef\xbf\xbdgram from Molotov"));
        /* nothing after the damage is lost */
        assert_string_equal(res.record->record_id, clean->record_id);
        assert_string_equal(res.record->source, clean->source);
        assert_int_equal(res.record->n_citations, 1);
        assert_non_null(strstr(res.record->text, "\xef\xbf\xbd"));
        extract_result_clear(&res);
        free(page);
    }
    record_free(clean);
    free(junk);
}

static void test_h3_nul_bytes(void **state)
{
    struct extract_result res = {0};
    struct strbuf b = STRBUF_INIT;
    size_t len, n;
    char *nuls = calloc(1000, 1), *page;
    struct record *clean = clean_record();

    (void)state;
    /* 1,000 NULs in the document text, in an attribute, and one in the
     * title in place of a space */
    strbuf_adds(&b, "<div data-x=\"a");
    strbuf_add(&b, nuls, 1000);
    strbuf_adds(&b, "b\">x");
    strbuf_add(&b, nuls, 1000);
    strbuf_adds(&b, "y</div>");
    page = plant(IN_TEXT, b.s, b.len, false, &len);
    memcpy(strstr(page, "Telegram from Molotov"), "Telegram\0from", 13);
    assert_int_equal(run("H3 NUL bytes", page, len, "utf-8", &res), 0);
    assert_int_equal(res.category, PROV_OK);
    assert_string_equal(res.record->title, clean->title);
    assert_string_equal(res.record->record_id, clean->record_id);
    assert_string_equal(res.record->source, clean->source);
    assert_non_null(strstr(res.record->text, "x y"));
    assert_non_null(strstr(res.record->text, "Report their reply"));
    n = res.record->subjects.n;
    assert_int_equal(n, clean->subjects.n);
    extract_result_clear(&res);
    /* the same page read as windows-1251 keeps its NULs as spaces too */
    assert_int_equal(run("H3 NUL bytes, windows-1251", page, len, "windows-1251", &res), 0);
    assert_string_equal(res.record->record_id, clean->record_id);
    extract_result_clear(&res);
    free(page);
    strbuf_release(&b);
    free(nuls);
    record_free(clean);
}

static void test_h4_deep_nesting(void **state)
{
    struct extract_result res = {0};
    size_t n, len;
    char *divs = repeat("<div>", 100000, &n), *page;
    json_t *o;

    (void)state;
    /* before the information blocks: the record cannot be read whole */
    page = plant(IN_TEXT, divs, n, false, &len);
    assert_int_equal(run("H4 nesting in the text", page, len, NULL, &res), -ENODATA);
    assert_int_equal(res.category, PROV_PARSE_PARTIAL);
    assert_non_null(strstr(res.reason, "256"));
    free(page);
    /* after everything the record needs: a record, marked partial */
    page = plant(AFTER_ALL, divs, n, false, &len);
    assert_int_equal(run("H4 nesting at the end", page, len, NULL, &res), 0);
    assert_int_equal(res.category, PROV_PARSE_PARTIAL);
    assert_true(res.record->partial);
    o = record_to_json(res.record, 0);
    assert_true(json_is_true(json_object_get(o, "partial")));
    json_decref(o);
    extract_result_clear(&res);
    free(page);
    free(divs);
}

/* Append the UTF-16LE encoding of the UTF-8 string s to b. */
static void utf16le(struct strbuf *b, const char *s, size_t n)
{
    const char *p = s, *end = s + n;

    while (p < end) {
        long cp = text_utf8_next(&p, end);
        unsigned char u[4];

        assert_true(cp >= 0);
        if (cp >= 0x10000) {
            unsigned long v = (unsigned long)cp - 0x10000, hi = 0xd800 + (v >> 10),
                          lo = 0xdc00 + (v & 0x3ff);

            u[0] = hi & 0xff, u[1] = hi >> 8, u[2] = lo & 0xff, u[3] = lo >> 8;
            strbuf_add(b, u, 4);
        } else {
            u[0] = (unsigned char)(cp & 0xff), u[1] = (unsigned char)(cp >> 8);
            strbuf_add(b, u, 2);
        }
    }
}

static void test_h5_huge_text(void **state)
{
    struct extract_result res = {0};
    struct strbuf b = STRBUF_INIT;
    size_t n, len, cjk_n;
    char *big = repeat("a", 20 * 1000 * 1000, &n), *page, *cjk;

    (void)state;
    assert_int_equal(run("H5 20 MB text node", big, n, NULL, &res), -EFBIG);
    assert_int_equal(res.category, PROV_TOO_LARGE);
    free(big);
    /* just under the input cap, but over libxml2's 10 MB text limit once
     * decoded: 3.6 million CJK characters in UTF-16 are 7.2 MB as fetched
     * and 10.8 MB as UTF-8 */
    cjk = repeat("\xe6\x96\x87", 3600 * 1000, &cjk_n);
    page = plant(AFTER_ALL, "<p>", 3, false, &len);
    {
        char *at = strstr(page, "<p>    <footer");
        assert_non_null(at);
        strbuf_add(&b, "\xff\xfe", 2);
        utf16le(&b, page, (size_t)(at - page) + 3);
        utf16le(&b, cjk, cjk_n);
        utf16le(&b, at + 3, strlen(at + 3));
    }
    assert_true(b.len < 8 * MIB);
    assert_int_equal(run("H5 10.8 MB text node", b.s, b.len, NULL, &res), 0);
    assert_int_equal(res.category, PROV_PARSE_PARTIAL);
    assert_true(res.record->partial);
    assert_non_null(strstr(res.reason, "10 MB"));
    assert_string_equal(res.record->record_id, "300101");
    extract_result_clear(&res);
    strbuf_release(&b);
    free(page);
    free(cjk);
}

static void test_h6_attribute_flood(void **state)
{
    struct extract_result res = {0};
    struct strbuf b = STRBUF_INIT;
    size_t len;
    char *page;
    double t0;

    (void)state;
    /* 5,000 attributes (the 100,000 of H6 cost about 30 s in libxml2 and
     * are stopped by the helper's CPU budget) */
    strbuf_adds(&b, "<div");
    for (int i = 0; i < 5000; i++)
        strbuf_addf(&b, " data-a%d=\"%d\"", i, i);
    strbuf_adds(&b, ">flood</div>");
    page = plant(IN_TEXT, b.s, b.len, false, &len);
    t0 = cpu_seconds();
    assert_int_equal(run("H6 5,000 attributes", page, len, NULL, &res), 0);
    assert_int_equal(res.category, PROV_OK);
    assert_non_null(strstr(res.record->text, "flood"));
    printf("H6 5,000 attributes: %.3f s CPU\n", cpu_seconds() - t0);
    extract_result_clear(&res);
    free(page);
    strbuf_release(&b);
}

static void test_h7_unterminated(void **state)
{
    struct extract_result res = {0};
    struct strbuf b = STRBUF_INIT;
    size_t n, len;
    char *fill = repeat("x <p class=\"date\">1941</p> ", 75000, &n), *page;

    (void)state;
    page = malloc(20 * MIB);
    assert_non_null(page);
    memset(page, 'x', 20 * MIB);
    memcpy(page, "<!--", 4);
    assert_int_equal(run("H7 20 MB comment", page, 20 * MIB, NULL, &res), -EFBIG);
    assert_int_equal(res.category, PROV_TOO_LARGE);
    free(page);
    strbuf_adds(&b, "<!--");
    strbuf_add(&b, fill, n);
    /* 2 MB: under the cap, and everything after it is swallowed */
    page = plant(IN_TEXT, b.s, b.len, false, &len);
    assert_int_equal(run("H7 2 MB comment in text", page, len, NULL, &res), -ENODATA);
    assert_int_equal(res.category, PROV_PARSE_PARTIAL);
    assert_non_null(strstr(res.reason, "comment"));
    free(page);
    page = plant(AFTER_ALL, b.s, b.len, false, &len);
    assert_int_equal(run("H7 2 MB comment at the end", page, len, NULL, &res), 0);
    assert_int_equal(res.category, PROV_PARSE_PARTIAL);
    free(page);
    /* an unclosed <script> or <style> that runs to the end of the page */
    strbuf_reset(&b);
    strbuf_adds(&b, "<script>var s = \"");
    strbuf_add(&b, fill, n);
    page = cut_after(IN_TEXT, b.s, b.len, &len);
    assert_int_equal(run("H7 2 MB script in text", page, len, NULL, &res), -ENODATA);
    assert_int_equal(res.category, PROV_PARSE_PARTIAL);
    assert_non_null(strstr(res.reason, "<script>"));
    free(page);
    page = cut_after(AFTER_ALL, b.s, b.len, &len);
    assert_int_equal(run("H7 2 MB script at the end", page, len, NULL, &res), 0);
    assert_int_equal(res.category, PROV_PARSE_PARTIAL);
    free(page);
    /* one that a later script's end tag closes swallows the blocks between:
     * no record, and no hollow one */
    page = plant(IN_TEXT, b.s, b.len, false, &len);
    assert_int_equal(run("H7 script closed later", page, len, NULL, &res), -ENODATA);
    assert_int_equal(res.category, PROV_EXTRACT_EMPTY);
    free(page);
    strbuf_reset(&b);
    strbuf_adds(&b, "<STYLE media=all>p { color: red }");
    strbuf_add(&b, fill, n);
    page = cut_after(AFTER_ALL, b.s, b.len, &len);
    assert_int_equal(run("H7 2 MB style at the end", page, len, NULL, &res), 0);
    assert_int_equal(res.category, PROV_PARSE_PARTIAL);
    assert_non_null(strstr(res.reason, "<style>"));
    free(page);
    /* a page that ends with a closed script is whole */
    page = plant(AFTER_ALL, "<script>var a = '<script>';</script>", 37, false, &len);
    assert_int_equal(run("H7 closed script", page, len, NULL, &res), 0);
    assert_int_equal(res.category, PROV_OK);
    extract_result_clear(&res);
    free(page);
    strbuf_release(&b);
    free(fill);
}

static void test_h8_node_explosion(void **state)
{
    struct extract_result res = {0};
    size_t n, len;
    char *ps = repeat("<p>", 300000, &n), *page;

    (void)state;
    assert_int_equal(run("H8 300k <p> alone", ps, n, NULL, &res), -ENODATA);
    assert_int_equal(res.category, PROV_PARSE_PARTIAL);
    assert_non_null(strstr(res.reason, "200000 nodes"));
    page = plant(AFTER_ALL, ps, n, false, &len);
    assert_int_equal(run("H8 300k <p> at the end", page, len, NULL, &res), 0);
    assert_int_equal(res.category, PROV_PARSE_PARTIAL);
    assert_true(res.record->partial);
    extract_result_clear(&res);
    free(page);
    free(ps);
    /* 60k nodes are within budget */
    ps = repeat("<b>x</b>", 30000, &n);
    page = plant(AFTER_ALL, ps, n, false, &len);
    assert_int_equal(run("H8 60k nodes", page, len, NULL, &res), 0);
    assert_int_equal(res.category, PROV_OK);
    extract_result_clear(&res);
    free(page);
    free(ps);
}

static void test_h9_bad_references(void **state)
{
    static const char *const refs = "A&#xFFFFFFFF;B&#0;C&#xD800;D&#99999999999;E&#x110000;F&#;G"
                                    "&#xDFFF;H&#65;I&bogus;J&#x1F4DC;K";
    struct extract_result res = {0};
    size_t len;
    char *page;

    (void)state;
    page = plant("Telegram from Molotov to the Soviet Ambassador in Ankara on the Straits "
                 "Question</h1>",
                 refs, strlen(refs), false, &len);
    assert_int_equal(run("H9 bad references", page, len, NULL, &res), 0);
    assert_int_equal(res.category, PROV_OK);
    printf("title: %s\n", res.record->title);
    /* references to no character are dropped, the good ones decoded */
    assert_true(res.record->title[0] == 'A');
    assert_null(strstr(res.record->title, "&#"));
    assert_non_null(strstr(res.record->title, "AI&bogus;J\xf0\x9f\x93\x9c"
                                              "KTelegram from Molotov"));
    extract_result_clear(&res);
    free(page);
}

static void test_h10_xpath_cost(void **state)
{
    struct extract_result res = {0};
    struct profile *p = profile_new("slow");
    size_t n, len;
    char *ps = repeat("<p>x</p>", 20000, &n), *page, err[256];
    double t0;

    (void)state;
    /* a profile whose XPath is quadratic on this shape */
    assert_int_equal(
        profile_set(p, "record_id", "text //p[count(following::p) = 0]", err, sizeof(err)), 0);
    assert_int_equal(profile_set(p, "title", "text //title", err, sizeof(err)), 0);
    t0 = cpu_seconds();
    assert_int_equal(extract_page(p, ps, n, NULL, NULL, &res), -ETIME);
    printf("H10 quadratic XPath: %.3f s CPU, %s: %s\n", cpu_seconds() - t0,
           prov_category_name(res.category), res.reason);
    assert_int_equal(res.category, PROV_PARSE_TIMEOUT);
    assert_non_null(strstr(res.reason, "record_id"));
    extract_result_clear(&res);
    profile_free(p);
    free(ps);
    /* the wilson profile on 20k dates after the section headings */
    ps = repeat("<span class=\"date\">1941</span>", 20000, &n);
    page = plant(AFTER_ALL, ps, n, false, &len);
    t0 = cpu_seconds();
    assert_int_equal(run("H10 20k dates", page, len, NULL, &res), -ETIME);
    assert_int_equal(res.category, PROV_PARSE_TIMEOUT);
    /* The operation limit, not a clock, stops it: the figure is printed,
     * never asserted (shared machines are noisy). */
    printf("H10 20k dates: %.3f s CPU\n", cpu_seconds() - t0);
    free(page);
    free(ps);
}

static void test_h12_hostile_links(void **state)
{
    static const char *const links =
        "<base href=\"file:///etc/\"><meta http-equiv=\"refresh\" content=\"0; "
        "url=javascript:alert(1)\"><a href=\"javascript:alert(1)\">js</a><a "
        "href=\"data:text/html,<h1 class=title>x</h1>\">data</a><a "
        "href=\"file:///etc/passwd\">f</a>"
        "<iframe src=\"gopher://127.0.0.1/\"></iframe>";
    struct extract_result res = {0};
    struct record *clean = clean_record();
    size_t len;
    char *page = plant(IN_TEXT, links, strlen(links), false, &len);

    (void)state;
    assert_int_equal(run("H12 hostile links", page, len, NULL, &res), 0);
    assert_int_equal(res.category, PROV_OK);
    /* the record names the page as given, never a URL the page suggests */
    assert_string_equal(res.record->url, "hostile.html");
    assert_string_equal(res.record->title, clean->title);
    assert_string_equal(res.record->record_id, clean->record_id);
    assert_null(strstr(res.record->source, "file:"));
    extract_result_clear(&res);
    free(page);
    record_free(clean);
}

/* The Cyrillic fixture in UTF-16 of either byte order, with or without
 * its BOM. */
static char *cyrillic_utf16(bool bom, bool big_endian, size_t *len)
{
    struct strbuf b = STRBUF_INIT;
    size_t n;
    char *page = read_page("garf-cyrillic.html", &n);

    if (bom)
        strbuf_add(&b, "\xff\xfe", 2);
    utf16le(&b, page, n);
    if (big_endian)
        for (size_t i = 0; i + 1 < b.len; i += 2) {
            char c = b.s[i];

            b.s[i] = b.s[i + 1];
            b.s[i + 1] = c;
        }
    free(page);
    *len = b.len;
    return strbuf_steal(&b);
}

static void test_h13_encodings(void **state)
{
    static const struct {
        const char *what;
        bool bom, be;
        const char *charset;
    } utf16[] = {
        {"H13 UTF-16LE BOM", true, false, NULL},
        {"H13 UTF-16BE BOM", true, true, NULL},
        {"H13 utf-16 header + BOM", true, true, "utf-16"},
        {"H13 UTF-16BE header", false, true, "UTF-16BE"},
        {"H13 utf-16 header, no BOM", false, false, "utf-16"},
    };
    const char *title = "Докладная записка Л. П. Берии И. В. Сталину о строительстве";
    const char *title1251 = "Шифротелеграмма посла в Пекине";
    struct extract_result res = {0};
    size_t len;
    char *page;

    (void)state;
    for (size_t i = 0; i < sizeof(utf16) / sizeof(utf16[0]); i++) {
        page = cyrillic_utf16(utf16[i].bom, utf16[i].be, &len);
        assert_int_equal(run(utf16[i].what, page, len, utf16[i].charset, &res), 0);
        assert_string_equal(res.record->title, title);
        assert_int_equal(res.record->n_citations, 1);
        free(page);
    }
    /* the windows-1251 fixture declares its charset only in <meta> */
    page = read_page("windows-1251-meta.html", &len);
    assert_int_equal(run("H13 meta windows-1251", page, len, NULL, &res), 0);
    assert_string_equal(res.record->title, title1251);
    /* an unknown or unsafe header label is skipped: the meta decides */
    assert_int_equal(run("H13 unknown header label", page, len, "x-no-such-charset", &res), 0);
    assert_string_equal(res.record->title, title1251);
    assert_int_equal(run("H13 label with //", page, len, "utf-8//IGNORE", &res), 0);
    assert_string_equal(res.record->title, title1251);
    assert_int_equal(run("H13 header windows-1251", page, len, " \"Windows-1251\" ", &res), 0);
    assert_string_equal(res.record->title, title1251);
    /* a wrong header wins over the meta, and the damage stays valid UTF-8 */
    assert_int_equal(run("H13 header utf-8 (wrong)", page, len, "utf-8", &res), 0);
    assert_non_null(strstr(res.record->title, "\xef\xbf\xbd"));
    assert_string_equal(res.record->record_id, "300112");
    free(page);
    /* a UTF-8 page whose meta claims windows-1251: the header (utf-8) wins,
     * and so does a BOM without a header */
    page = read_page("garf-cyrillic.html", &len);
    {
        struct strbuf b = STRBUF_INIT;
        char *at = strstr(page, "<meta charset=\"utf-8\" />");

        assert_non_null(at);
        memcpy(at, "<meta charset=\"cp1251\"/>", 24);
        assert_int_equal(run("H13 header beats meta", page, len, "utf-8", &res), 0);
        assert_string_equal(res.record->title, title);
        assert_int_equal(run("H13 meta alone (wrong)", page, len, NULL, &res), 0);
        assert_true(strcmp(res.record->title, title) != 0);
        strbuf_add(&b, "\xef\xbb\xbf", 3);
        strbuf_add(&b, page, len);
        assert_int_equal(run("H13 BOM beats meta", b.s, b.len, NULL, &res), 0);
        assert_string_equal(res.record->title, title);
        strbuf_release(&b);
    }
    extract_result_clear(&res);
    free(page);
}

static void test_input_cap(void **state)
{
    struct extract_result res = {0};
    size_t len;
    char *page = read_page("rgaspi-telegram.html", &len), *big;

    (void)state;
    /* exactly 8 MiB is read (comment padding), one byte more is refused */
    big = malloc(8 * MIB + 1);
    assert_non_null(big);
    memset(big, ' ', 8 * MIB + 1);
    memcpy(big, page, len);
    assert_int_equal(run("cap: 8 MiB", big, 8 * MIB, NULL, &res), 0);
    assert_int_equal(run("cap: 8 MiB + 1", big, 8 * MIB + 1, NULL, &res), -EFBIG);
    assert_int_equal(res.category, PROV_TOO_LARGE);
    extract_result_clear(&res);
    free(big);
    free(page);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_h1_empty),          cmocka_unit_test(test_h2_invalid_utf8),
        cmocka_unit_test(test_h3_nul_bytes),      cmocka_unit_test(test_h4_deep_nesting),
        cmocka_unit_test(test_h5_huge_text),      cmocka_unit_test(test_h6_attribute_flood),
        cmocka_unit_test(test_h7_unterminated),   cmocka_unit_test(test_h8_node_explosion),
        cmocka_unit_test(test_h9_bad_references), cmocka_unit_test(test_h10_xpath_cost),
        cmocka_unit_test(test_h12_hostile_links), cmocka_unit_test(test_h13_encodings),
        cmocka_unit_test(test_input_cap),
    };

    extract_global_init();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
