/*
 * Tests of catalog/ queries and export on a real SQLite file: each filter
 * alone and combined, sheets inside stored ranges, people with accents and
 * case, full text and its syntax errors, keyset pages stable under
 * concurrent writes, the page-size cap, hostile filter values, the query
 * budget, show/history/counts, JSON Lines and CSV export, and the
 * export -> import round trip.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "catalog.h"
#include "catalog_fixture.h"

#include "xmalloc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct env {
    char *dir;
    char *db;
    int64_t now;
    struct catalog *c;
};

/* A small catalog: each record exercises some filters. */
static void fill(struct catalog *c)
{
    struct record *r;

    r = fx_record("1", "Stalin to Molotov");
    fx_cite(r, "RGASPI", "558", "11", NULL, "71", "3-9");
    strlist_clear(&r->translators);
    strlist_add(&r->translators, "Gary Goldberg");
    strlist_add(&r->contributors, "Jamil Hasanli");
    record_set(&r->date_iso, "1945-11-22");
    fx_put(c, r->url, r);
    record_free(r);

    r = fx_record("2", "Conversation with Khrushchëv");
    fx_cite(r, "AP RF", "3", "66", NULL, "65", "7-8");
    strlist_clear(&r->translators);
    strlist_add(&r->translators, "Svetlana Savranskaya");
    record_set(&r->source, "Translated by Svetlana Savranskaya.");
    strlist_add(&r->contributors, "Jamil Hasanlı");
    record_set(&r->date_iso, "1958");
    fx_put(c, r->url, r);
    record_free(r);

    r = fx_record("3", "AVP RF report");
    fx_cite(r, "AVP RF", "07", "23a", "18", "235", "11, 40");
    record_set(&r->date_iso, "1950-02");
    record_set(&r->text, "Report about the Korean question; signed copy.");
    fx_put(c, r->url, r);
    record_free(r);

    r = fx_record("4", "Two citations");
    fx_cite(r, "RGASPI", "17", "162", NULL, "34", "24");
    fx_cite(r, "APRF", "3", "65", NULL, "9", "1");
    strlist_clear(&r->translators);
    fx_put(c, r->url, r);
    record_free(r);
}

static int setup(void **state)
{
    struct env *e = xcalloc(1, sizeof(*e));

    e->dir = fx_tmpdir();
    e->db = fx_path(e->dir, "catalog.db");
    e->now = 1700000000;
    e->c = fx_open(e->db, &e->now, false);
    fill(e->c);
    *state = e;
    return 0;
}

static int teardown(void **state)
{
    struct env *e = *state;

    catalog_close(e->c);
    fx_rmtree(e->dir);
    free(e->db);
    free(e->dir);
    free(e);
    return 0;
}

static void expect(struct catalog *c, const struct catalog_filter *f, const char *keys)
{
    char *got = fx_search_keys(c, f);

    if (strcmp(got, keys) != 0)
        fprintf(stderr, "expected \"%s\", got \"%s\"\n", keys, got);
    assert_string_equal(got, keys);
    free(got);
}

static void test_each_filter(void **state)
{
    struct env *e = *state;
    const struct {
        struct catalog_filter f;
        const char *keys;
    } cases[] = {
        {{0}, "1 2 3 4"},
        {{.source = "test"}, "1 2 3 4"},
        {{.source = "other"}, ""},
        {{.archive = "APRF"}, "2 4"},
        {{.archive = "ap rf"}, "2 4"},
        {{.archive = "A.P. R.F."}, "2 4"},
        {{.archive = "rgaspi"}, "1 4"},
        {{.archive = "AVPRF"}, "3"},
        {{.fund = "558"}, "1"},
        {{.fund = "7"}, ""}, /* leading zeros are part of the fund */
        {{.fund = "07"}, "3"},
        {{.inventory = "23A"}, "3"},
        {{.folder = "18"}, "3"},
        {{.file = "34"}, "4"},
        {{.sheet = "5"}, "1"},
        {{.sheet = "9"}, "1"},
        {{.sheet = "10"}, ""},
        {{.sheet = "40"}, "3"},
        {{.sheet = "20"}, ""}, /* between the sheets of "11, 40" */
        {{.sheet = "8ob"}, "1 2"},
        {{.translator = "Gary Goldberg"}, "1 3"},
        {{.translator = "GARY  goldberg"}, "1 3"},
        {{.translator = "svetlana savranskaya"}, "2"},
        {{.contributor = "jamil hasanli"}, "1 2"},
        {{.contributor = "Jamil Hasanlı"}, "1 2"},
        {{.translator = "Jamil Hasanli"}, ""},
        {{.since = "1950"}, "2 3"},
        {{.until = "1950"}, "1 3 4"},
        {{.since = "1945-11", .until = "1945-11"}, "1"},
        {{.since = "1950-02-01"}, "2"},
        {{.status = "active"}, "1 2 3 4"},
        {{.status = "gone"}, ""},
        {{.text = "khrushchev"}, "2"},
        {{.text = "Korean"}, "3"},
        {{.text = "\"signed copy\""}, "3"},
        {{.text = "molotov OR korean"}, "1 3"},
        {{.text = "goldberg"}, "1 3 4"}, /* in the Source text */
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        expect(e->c, &cases[i].f, cases[i].keys);
}

static void test_combined_filters(void **state)
{
    struct env *e = *state;
    const struct {
        struct catalog_filter f;
        const char *keys;
    } cases[] = {
        {{.archive = "RGASPI", .translator = "gary goldberg"}, "1"},
        {{.archive = "APRF", .fund = "3", .inventory = "66"}, "2"},
        {{.archive = "APRF", .fund = "3", .inventory = "65", .file = "9", .sheet = "1"}, "4"},
        /* Citation filters hold for one citation, not across two. */
        {{.archive = "APRF", .file = "34"}, ""},
        {{.archive = "RGASPI", .file = "34", .sheet = "24"}, "4"},
        {{.text = "telegram", .contributor = "jamil hasanli"}, "1 2"},
        {{.text = "telegram", .contributor = "jamil hasanli", .since = "1950"}, "2"},
        {{.fund = "3", .status = "active", .source = "test"}, "2 4"},
        {{.translator = "gary goldberg", .text = "korean"}, "3"},
        {{.archive = "AVPRF", .fund = "07", .folder = "18", .file = "235", .sheet = "11"}, "3"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        expect(e->c, &cases[i].f, cases[i].keys);
}

static void test_bad_filters(void **state)
{
    struct env *e = *state;
    struct catalog_results res;
    const struct catalog_filter bad[] = {
        {.sheet = "abc"},         {.since = "1945/11"},    {.until = "19450"},
        {.status = "deleted"},    {.archive = "\xff\xfe"}, {.text = "telegram AND"},
        {.text = "\"unbalanced"},
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(catalog_search(e->c, &bad[i], 0, NULL, &res), -EINVAL);
        assert_int_not_equal(catalog_errmsg(e->c)[0], '\0');
        assert_int_equal(res.n, 0);
    }
    assert_int_equal(catalog_search(e->c, &bad[5], 0, NULL, &res), -EINVAL);
    assert_non_null(strstr(catalog_errmsg(e->c), "full-text query"));
    assert_int_equal(catalog_search(e->c, NULL, 0, "not-a-cursor", &res), -EINVAL);
    assert_int_equal(catalog_search(e->c, NULL, 0, "r123456789abcdef0123", &res), -EINVAL);
}

static void test_hostile_values_are_data(void **state)
{
    struct env *e = *state;
    struct catalog_counts n;
    const struct catalog_filter hostile[] = {
        {.archive = "'; DROP TABLE records; --"},
        {.fund = "558' OR '1'='1"},
        {.inventory = "%00"},
        {.file = "%"},
        {.folder = "_"},
        {.translator = "\" OR 1=1 --"},
        {.source = "test' --"},
        {.sheet = "99999999999999999999999999999"},
        {.sheet = "18446744073709551617"},
        {.since = "9999-99-99"},
        {.text = "\"'; DROP TABLE records; --\""},
    };

    for (size_t i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++)
        expect(e->c, &hostile[i], "");
    assert_int_equal(catalog_counts(e->c, NULL, &n), 0);
    assert_int_equal(n.records, 4);
}

static void test_pages_and_cap(void **state)
{
    struct env *e = *state;
    struct catalog_results res;
    struct strbuf all = STRBUF_INIT;
    char *cursor = NULL;
    int pages = 0;

    for (int i = 0; i < 600; i++) {
        char id[16];
        struct record *r;

        snprintf(id, sizeof(id), "p%03d", i);
        r = fx_record(id, "Paged");
        fx_put(e->c, r->url, r);
        record_free(r);
    }
    /* The cap: a huge limit gives CATALOG_PAGE_MAX. */
    assert_int_equal(catalog_search(e->c, NULL, 1000000000L, NULL, &res), 0);
    assert_int_equal(res.n, CATALOG_PAGE_MAX);
    assert_non_null(res.next);
    catalog_results_clear(&res);
    assert_int_equal(catalog_search(e->c, NULL, -5, NULL, &res), 0);
    assert_int_equal(res.n, CATALOG_PAGE_DEFAULT);
    catalog_results_clear(&res);
    /* Pages of 7 over the 600 "Paged" records: every one once, in order. */
    do {
        struct catalog_filter f = {.text = "paged"};
        char *keys;

        assert_int_equal(catalog_search(e->c, &f, 7, cursor, &res), 0);
        free(cursor);
        cursor = res.next ? xstrdup(res.next) : NULL;
        keys = fx_keys(&res);
        if (all.len && res.n)
            strbuf_addc(&all, ' ');
        strbuf_adds(&all, keys);
        free(keys);
        catalog_results_clear(&res);
        pages++;
    } while (cursor);
    assert_int_equal(pages, 600 / 7 + 1);
    {
        struct strbuf want = STRBUF_INIT;

        for (int i = 0; i < 600; i++)
            strbuf_addf(&want, i ? " p%03d" : "p%03d", i);
        assert_string_equal(strbuf_str(&all), strbuf_str(&want));
        strbuf_release(&want);
    }
    strbuf_release(&all);
}

static void test_inventory_pages(void **state)
{
    struct env *e = *state;
    struct catalog_filter f = {.archive = "GARF", .fund = "R-5446", .inventory = "1"};
    struct catalog_results res;
    struct strbuf all = STRBUF_INIT, want = STRBUF_INIT;
    char *cursor = NULL;

    for (int i = 0; i < 40; i++) {
        char id[16], file[16];
        struct record *r;

        snprintf(id, sizeof(id), "g%02d", i);
        snprintf(file, sizeof(file), "%d", i % 5);
        r = fx_record(id, "Inventory");
        if (i % 3 != 2)
            fx_cite(r, "GARF", "R-5446", "1", NULL, file, "1-2");
        if (i % 4 == 0) /* a second citation of the same inventory */
            fx_cite(r, "GARF", "R-5446", "1", NULL, "99", "5");
        if (i % 3 == 2 && i % 4 != 0)
            fx_cite(r, "GARF", "R-5446", "2", NULL, file, "1-2");
        fx_put(e->c, r->url, r);
        record_free(r);
        if (i % 3 != 2 || i % 4 == 0)
            strbuf_addf(&want, want.len ? " %s" : "%s", id);
    }
    do {
        char *keys;

        assert_int_equal(catalog_search(e->c, &f, 7, cursor, &res), 0);
        free(cursor);
        cursor = res.next ? xstrdup(res.next) : NULL;
        keys = fx_keys(&res);
        if (all.len && res.n)
            strbuf_addc(&all, ' ');
        strbuf_adds(&all, keys);
        free(keys);
        catalog_results_clear(&res);
    } while (cursor);
    assert_string_equal(strbuf_str(&all), strbuf_str(&want));
    /* With a file or a sheet the same citation must hold both. */
    f.file = "99";
    expect(e->c, &f, "g00 g04 g08 g12 g16 g20 g24 g28 g32 g36");
    f.file = NULL;
    f.sheet = "5";
    expect(e->c, &f, "g00 g04 g08 g12 g16 g20 g24 g28 g32 g36");
    f.sheet = NULL;
    f.inventory = "2";
    expect(e->c, &f, "g02 g05 g11 g14 g17 g23 g26 g29 g35 g38");
    strbuf_release(&all);
    strbuf_release(&want);
}

static void test_pages_stable_under_writes(void **state)
{
    struct env *e = *state;
    struct catalog *rd = fx_open(e->db, &e->now, true);
    struct catalog_results res;
    struct strlist seen = {0};
    char *cursor = NULL;
    int round = 0;

    for (int i = 0; i < 100; i++) {
        char id[16];
        struct record *r;

        snprintf(id, sizeof(id), "s%03d", i);
        r = fx_record(id, "Stable");
        fx_put(e->c, r->url, r);
        record_free(r);
    }
    do {
        struct catalog_filter f = {.text = "stable"};

        assert_int_equal(catalog_search(rd, &f, 9, cursor, &res), 0);
        free(cursor);
        cursor = res.next ? xstrdup(res.next) : NULL;
        for (size_t i = 0; i < res.n; i++) {
            assert_false(strlist_contains(&seen, res.items[i].key));
            strlist_add(&seen, res.items[i].key);
        }
        catalog_results_clear(&res);
        /* Between pages the writer adds matching records and changes old
         * ones: nothing seen twice, nothing present at the start missed. */
        {
            char id[16];
            struct record *r;

            snprintf(id, sizeof(id), "n%03d", round);
            r = fx_record(id, "Stable newcomer");
            fx_put(e->c, r->url, r);
            record_free(r);
            snprintf(id, sizeof(id), "s%03d", (round * 37) % 100);
            r = fx_record(id, "Stable but changed");
            fx_put(e->c, r->url, r);
            record_free(r);
        }
        round++;
    } while (cursor && round < 1000);
    for (int i = 0; i < 100; i++) {
        char id[16];

        snprintf(id, sizeof(id), "s%03d", i);
        assert_true(strlist_contains(&seen, id));
    }
    strlist_clear(&seen);
    catalog_close(rd);
}

static void test_budget(void **state)
{
    struct env *e = *state;
    struct catalog_options o = {.readonly = true, .budget = 1};
    struct catalog_filter slow = {.fund = "nowhere"};
    struct catalog_results res;
    struct catalog *rd;

    assert_int_equal(catalog_begin(e->c), 0);
    for (int i = 0; i < 3000; i++) {
        char id[16];
        struct record *r;
        struct catalog_page p;

        snprintf(id, sizeof(id), "b%04d", i);
        r = fx_record(id, "Budget");
        p = fx_page(r->url, 0);
        assert_int_equal(catalog_upsert(e->c, &p, r, NULL), 0);
        record_free(r);
    }
    assert_int_equal(catalog_commit(e->c, NULL), 0);
    assert_int_equal(catalog_open(e->db, &o, &rd), 0);
    /* A fund without an archive scans every record: over 1000 steps. */
    assert_int_equal(catalog_search(rd, &slow, 0, NULL, &res), -ETIMEDOUT);
    assert_int_equal(catalog_category(rd), PROV_DB_BUSY);
    assert_non_null(strstr(catalog_errmsg(rd), "budget"));
    /* The next call has its own budget. */
    assert_int_equal(catalog_search(rd, NULL, 1, NULL, &res), 0);
    assert_int_equal(res.n, 1);
    catalog_results_clear(&res);
    catalog_close(rd);
    /* The writer has no budget by default. */
    assert_int_equal(catalog_search(e->c, &slow, 0, NULL, &res), 0);
    assert_int_equal(res.n, 0);
    catalog_results_clear(&res);
    /* A budget of time as well: steps enough for the query, 1 ms not (it
     * takes several; a slow disk or a cold cache makes the same steps take
     * longer, and the time is what the event loop feels). */
    o.budget = 1000000;
    o.budget_ms = 1;
    assert_int_equal(catalog_open(e->db, &o, &rd), 0);
    for (int i = 0; i < 20; i++) {
        /* A prefix matching every record, 500 of them loaded: several ms. */
        struct catalog_filter slower = {.text = "b*"};
        int rc = catalog_search(rd, &slower, 500, NULL, &res);

        if (rc == 0)
            catalog_results_clear(&res);
        if (rc == -ETIMEDOUT) {
            assert_non_null(strstr(catalog_errmsg(rd), "1 ms"));
            break;
        }
        assert_int_equal(rc, 0);
        assert_int_not_equal(i, 19); /* stopped by its time at least once */
    }
    catalog_close(rd);
}

static void test_show_history_counts(void **state)
{
    struct env *e = *state;
    struct catalog_detail d;
    struct catalog_history h;
    struct catalog_counts n;
    struct record *r = fx_record("2", "Conversation with Khrushchev");
    struct catalog_page p = fx_page(r->url, 0);
    json_t *j;

    p.source = "elsewhere";
    assert_int_equal(catalog_upsert(e->c, &p, r, NULL), 0);
    assert_int_equal(catalog_show(e->c, NULL, "2", &d), -EEXIST);
    assert_int_equal(catalog_show(e->c, "elsewhere", "2", &d), 0);
    assert_string_equal(d.item.source, "elsewhere");
    j = catalog_detail_to_json(&d);
    assert_string_equal(json_string_value(json_object_get(j, "key")), "2");
    assert_string_equal(json_string_value(json_object_get(j, "source_name")), "elsewhere");
    assert_string_equal(json_string_value(json_object_get(j, "status")), "active");
    assert_string_equal(json_string_value(json_object_get(j, "first_seen")),
                        "2023-11-14T22:13:20Z");
    assert_int_equal(json_integer_value(json_object_get(j, "versions")), 1);
    assert_true(json_is_array(json_object_get(j, "urls")));
    assert_true(json_is_string(json_object_get(j, "text")));
    json_decref(j);
    catalog_detail_clear(&d);
    assert_int_equal(catalog_show(e->c, "test", "nope", &d), -ENOENT);
    assert_int_equal(catalog_show(e->c, "test", "", &d), -EINVAL);
    assert_int_equal(catalog_history(e->c, "test", "1", &h), 0);
    j = catalog_history_to_json(&h);
    assert_string_equal(json_string_value(json_object_get(j, "key")), "1");
    assert_int_equal(json_array_size(json_object_get(j, "versions")), 1);
    json_decref(j);
    catalog_history_clear(&h);
    assert_int_equal(catalog_counts(e->c, NULL, &n), 0);
    assert_int_equal(n.records, 5);
    assert_int_equal(n.active, 5);
    assert_int_equal(n.versions, 5);
    assert_int_equal(catalog_counts(e->c, "elsewhere", &n), 0);
    assert_int_equal(n.records, 1);
    /* The URL now leads to the newer record, in the other source. */
    assert_int_equal(n.urls, 1);
    assert_int_equal(catalog_counts(e->c, "test", &n), 0);
    assert_int_equal(n.records, 4);
    assert_int_equal(n.urls, 3);
    record_free(r);
}

static int fail_write(void *data, const char *buf, size_t len)
{
    (void)data;
    (void)buf;
    (void)len;
    return -EPIPE;
}

static void test_export_csv(void **state)
{
    struct env *e = *state;
    struct strbuf out = STRBUF_INIT;
    struct record *r = fx_record("5", "Title, with \"quotes\"\nand a line");
    struct catalog_filter f = {.archive = "APRF"};
    const char *p;
    int lines = 0;

    fx_put(e->c, r->url, r);
    assert_int_equal(catalog_export(e->c, NULL, CATALOG_FORMAT_CSV, fx_write_buf, &out), 0);
    p = strbuf_str(&out);
    assert_true(strncmp(p, "source_name,key,record_id,url,title,", 36) == 0);
    assert_non_null(strstr(p, "\"Title, with \"\"quotes\"\"\nand a line\""));
    /* Header, one row per citation (record 4 has two), one for 5. */
    for (const char *q = p; (q = strstr(q, "\r\n")) != NULL; q += 2)
        lines++;
    assert_int_equal(lines, 1 + 1 + 1 + 1 + 2 + 1);
    assert_non_null(strstr(p, ",AVP RF,07,23a,18,235,\"11, 40\","));
    strbuf_reset(&out);
    assert_int_equal(catalog_export(e->c, &f, CATALOG_FORMAT_CSV, fx_write_buf, &out), 0);
    lines = 0;
    for (const char *q = strbuf_str(&out); (q = strstr(q, "\r\n")) != NULL; q += 2)
        lines++;
    assert_int_equal(lines, 1 + 1 + 2);
    strbuf_release(&out);
    assert_int_equal(catalog_export(e->c, NULL, CATALOG_FORMAT_JSONL, fail_write, NULL), -EPIPE);
    record_free(r);
}

static void test_export_import_round_trip(void **state)
{
    struct env *e = *state;
    struct strbuf first = STRBUF_INIT, second = STRBUF_INIT;
    struct record *r = fx_record("1", "Stalin to Molotov, changed");
    struct catalog_page p = fx_page("https://archive.test/alias/1", 0);
    char *db2 = fx_path(e->dir, "copy.db");
    struct catalog *c2;
    FILE *in;
    size_t n = 0;
    bool gone;

    /* Give the catalog history, an alias and a gone record first. */
    fx_cite(r, "RGASPI", "558", "11", NULL, "71", "3-9");
    e->now += 100;
    assert_int_equal(catalog_upsert(e->c, &p, r, NULL), 0);
    p = fx_page("https://archive.test/document/3", 0);
    p.http_status = 404;
    assert_int_equal(catalog_missing(e->c, &p, &gone), 0);
    assert_int_equal(catalog_missing(e->c, &p, &gone), 0);
    assert_true(gone);
    assert_int_equal(catalog_export(e->c, NULL, CATALOG_FORMAT_JSONL, fx_write_buf, &first), 0);
    assert_non_null(strstr(strbuf_str(&first), "\"status\":\"gone\""));
    assert_non_null(strstr(strbuf_str(&first), "\"versions\":2"));
    c2 = fx_open(db2, &e->now, false);
    in = fmemopen(first.s, first.len, "r");
    assert_int_equal(catalog_import(c2, in, &n), 0);
    fclose(in);
    assert_int_equal(n, 4);
    assert_int_equal(catalog_export(c2, NULL, CATALOG_FORMAT_JSONL, fx_write_buf, &second), 0);
    assert_string_equal(strbuf_str(&first), strbuf_str(&second));
    /* The copy answers queries like the original. */
    {
        struct catalog_filter f = {.translator = "gary goldberg", .archive = "RGASPI"};
        char *keys = fx_search_keys(c2, &f);

        assert_string_equal(keys, "1");
        free(keys);
    }
    /* Import wants an empty catalog. */
    in = fmemopen(first.s, first.len, "r");
    assert_int_equal(catalog_import(c2, in, &n), -EEXIST);
    fclose(in);
    catalog_close(c2);
    strbuf_release(&second);
    strbuf_release(&first);
    free(db2);
    record_free(r);
}

static void test_import_bad_line_stores_nothing(void **state)
{
    struct env *e = *state;
    char *db2 = fx_path(e->dir, "bad.db");
    struct catalog *c2 = fx_open(db2, &e->now, false);
    struct strbuf out = STRBUF_INIT;
    struct catalog_counts n;
    FILE *in;

    assert_int_equal(catalog_export(e->c, NULL, CATALOG_FORMAT_JSONL, fx_write_buf, &out), 0);
    strbuf_adds(&out, "{\"key\": 5}\n");
    in = fmemopen(out.s, out.len, "r");
    assert_int_equal(catalog_import(c2, in, NULL), -EINVAL);
    fclose(in);
    assert_non_null(strstr(catalog_errmsg(c2), "line 5"));
    assert_int_equal(catalog_counts(c2, NULL, &n), 0);
    assert_int_equal(n.records, 0);
    /* The same key twice in one file is refused too. */
    strbuf_reset(&out);
    assert_int_equal(catalog_export(e->c, NULL, CATALOG_FORMAT_JSONL, fx_write_buf, &out), 0);
    assert_int_equal(catalog_export(e->c, NULL, CATALOG_FORMAT_JSONL, fx_write_buf, &out), 0);
    in = fmemopen(out.s, out.len, "r");
    assert_int_equal(catalog_import(c2, in, NULL), -EINVAL);
    fclose(in);
    assert_non_null(strstr(catalog_errmsg(c2), "twice"));
    assert_int_equal(catalog_counts(c2, NULL, &n), 0);
    assert_int_equal(n.records, 0);
    strbuf_release(&out);
    catalog_close(c2);
    free(db2);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_each_filter),
        T(test_combined_filters),
        T(test_bad_filters),
        T(test_hostile_values_are_data),
        T(test_pages_and_cap),
        T(test_inventory_pages),
        T(test_pages_stable_under_writes),
        T(test_budget),
        T(test_show_history_counts),
        T(test_export_csv),
        T(test_export_import_round_trip),
        T(test_import_bad_line_stores_nothing),
    };
#undef T

    return cmocka_run_group_tests(tests, NULL, NULL);
}
