/*
 * Tests of catalog/ writes on a real SQLite file in a temporary
 * directory: dedup (one record via two URLs, the same page twice, a
 * changed page, gone and revived, same-document links), partial parses,
 * fetch state, runs and their frontier, batches, bad input, reader
 * handles, and the content hash.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "catalog.h"
#include "catalog_fixture.h"
#include "catalog_hash.h"

#include "text.h"
#include "xmalloc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct env {
    char *dir;
    char *db;
    int64_t now;
    struct catalog *c;
};

static int setup(void **state)
{
    struct env *e = xcalloc(1, sizeof(*e));

    e->dir = fx_tmpdir();
    e->db = fx_path(e->dir, "catalog.db");
    e->now = 1700000000;
    e->c = fx_open(e->db, &e->now, false);
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

static void test_hash_vectors(void **state)
{
    static const struct {
        const char *in;
        const char *hex;
    } v[] = {
        {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
        {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
        {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        struct catalog_hash h;
        unsigned char out[CATALOG_HASH_LEN];
        char hex[65];
        size_t n = strlen(v[i].in);

        /* Feed in two uneven parts to exercise the buffering. */
        catalog_hash_init(&h);
        catalog_hash_add(&h, v[i].in, n / 3);
        catalog_hash_add(&h, v[i].in + n / 3, n - n / 3);
        catalog_hash_final(&h, out);
        for (int k = 0; k < 32; k++)
            snprintf(hex + 2 * k, 3, "%02x", out[k]);
        assert_string_equal(hex, v[i].hex);
    }
}

static void test_new_then_same_twice(void **state)
{
    struct env *e = *state;
    struct record *r = fx_record("100", "Telegram to Moscow");
    struct catalog_detail d;
    struct catalog_history h;

    assert_int_equal(fx_put(e->c, r->url, r), CATALOG_NEW);
    e->now += 3600;
    assert_int_equal(fx_put(e->c, r->url, r), CATALOG_UNCHANGED);
    assert_int_equal(catalog_show(e->c, "test", "100", &d), 0);
    assert_int_equal(d.item.first_seen, 1700000000);
    assert_int_equal(d.item.last_seen, 1700003600);
    assert_int_equal(d.item.versions, 1);
    assert_false(d.item.gone);
    assert_string_equal(d.item.record->title, "Telegram to Moscow");
    assert_string_equal(d.item.record->text, "The document text.");
    catalog_detail_clear(&d);
    assert_int_equal(catalog_history(e->c, NULL, "100", &h), 0);
    assert_int_equal(h.n, 1);
    assert_string_equal(h.v[0].event, "created");
    catalog_history_clear(&h);
    record_free(r);
}

static void test_two_urls_one_record(void **state)
{
    struct env *e = *state;
    struct record *r = fx_record("121885", "Ciphered telegram");
    struct catalog_counts n;
    struct catalog_detail d;

    assert_int_equal(fx_put(e->c, "https://archive.test/document/ciphered-telegram", r),
                     CATALOG_NEW);
    assert_int_equal(fx_put(e->c, "https://archive.test/document/121885", r), CATALOG_UNCHANGED);
    assert_int_equal(catalog_counts(e->c, NULL, &n), 0);
    assert_int_equal(n.records, 1);
    assert_int_equal(n.urls, 2);
    /* Either URL names the record. */
    assert_int_equal(
        catalog_show(e->c, NULL, "https://archive.test/document/ciphered-telegram", &d), 0);
    assert_string_equal(d.item.key, "121885");
    assert_int_equal(d.urls.n, 2);
    assert_true(strlist_contains(&d.urls, "https://archive.test/document/121885"));
    assert_true(strlist_contains(&d.urls, "https://archive.test/document/ciphered-telegram"));
    catalog_detail_clear(&d);
    record_free(r);
}

static void test_url_key_without_record_id(void **state)
{
    struct env *e = *state;
    struct record *r = fx_record(NULL, "No record id");
    struct catalog_detail d;

    assert_int_equal(fx_put(e->c, "https://archive.test/page/7", r), CATALOG_NEW);
    assert_int_equal(catalog_show(e->c, "test", "https://archive.test/page/7", &d), 0);
    assert_string_equal(d.item.key, "https://archive.test/page/7");
    assert_string_equal(d.item.record->url, "https://archive.test/page/7");
    catalog_detail_clear(&d);
    record_free(r);
}

/* The fields a version lists, in order, joined by spaces. */
static char *changed_fields(const struct catalog_version *v)
{
    struct strbuf b = STRBUF_INIT;
    size_t i;
    json_t *ch;

    json_array_foreach(v->changes, i, ch)
    {
        if (i)
            strbuf_addc(&b, ' ');
        strbuf_adds(&b, json_string_value(json_object_get(ch, "field")));
    }
    return strbuf_steal(&b);
}

static void test_changed_page(void **state)
{
    struct env *e = *state;
    struct record *r = fx_record("200", "Old title");
    struct catalog_upsert_result res;
    struct catalog_page p = fx_page(r->url, 0);
    struct catalog_history h;
    struct catalog_detail d;
    json_t *ch, *cit;
    char *fields;

    fx_cite(r, "RGASPI", "17", "162", NULL, "34", "24");
    assert_int_equal(fx_put(e->c, r->url, r), CATALOG_NEW);
    record_set(&r->title, "New title");
    fx_cite(r, "APRF", "3", "66", NULL, "65", "7-8");
    e->now += 60;
    assert_int_equal(catalog_upsert(e->c, &p, r, &res), 0);
    assert_int_equal(res.outcome, CATALOG_CHANGED);
    assert_int_equal(res.version, 2);
    assert_int_equal(catalog_history(e->c, "test", "200", &h), 0);
    assert_int_equal(h.n, 2);
    assert_int_equal(h.v[1].version, 2);
    assert_int_equal(h.v[1].at, 1700000060);
    assert_string_equal(h.v[1].event, "changed");
    fields = changed_fields(&h.v[1]);
    assert_string_equal(fields, "title citations");
    free(fields);
    ch = json_array_get(h.v[1].changes, 0);
    assert_string_equal(json_string_value(json_object_get(ch, "old")), "Old title");
    assert_string_equal(json_string_value(json_object_get(ch, "new")), "New title");
    cit = json_object_get(json_array_get(h.v[1].changes, 1), "old");
    assert_int_equal(json_array_size(cit), 1);
    cit = json_object_get(json_array_get(h.v[1].changes, 1), "new");
    assert_int_equal(json_array_size(cit), 2);
    catalog_history_clear(&h);
    /* The stored record is the new one, with both citations. */
    assert_int_equal(catalog_show(e->c, "test", "200", &d), 0);
    assert_string_equal(d.item.record->title, "New title");
    assert_int_equal(d.item.record->n_citations, 2);
    assert_int_equal(d.item.versions, 2);
    catalog_detail_clear(&d);
    /* The old title is no longer found, the new one is. */
    {
        struct catalog_filter f = {.text = "old"};
        char *keys = fx_search_keys(e->c, &f);

        assert_string_equal(keys, "");
        free(keys);
        f.text = "new";
        keys = fx_search_keys(e->c, &f);
        assert_string_equal(keys, "200");
        free(keys);
    }
    record_free(r);
}

static void test_gone_and_revived(void **state)
{
    struct env *e = *state;
    struct record *r = fx_record("300", "Will vanish");
    struct catalog_page p = fx_page(r->url, 0);
    struct catalog_upsert_result res;
    struct catalog_detail d;
    bool gone = true;

    assert_int_equal(fx_put(e->c, r->url, r), CATALOG_NEW);
    /* 404, 200, 404: never two in a row. */
    p.http_status = 404;
    assert_int_equal(catalog_missing(e->c, &p, &gone), 0);
    assert_false(gone);
    assert_int_equal(fx_put(e->c, r->url, r), CATALOG_UNCHANGED);
    assert_int_equal(catalog_missing(e->c, &p, &gone), 0);
    assert_false(gone);
    /* The second in a row: gone, kept, with the date. */
    e->now += 86400;
    p.http_status = 410;
    assert_int_equal(catalog_missing(e->c, &p, &gone), 0);
    assert_true(gone);
    assert_int_equal(catalog_show(e->c, "test", "300", &d), 0);
    assert_true(d.item.gone);
    assert_int_equal(d.item.gone_since, 1700086400);
    assert_string_equal(d.item.record->title, "Will vanish");
    catalog_detail_clear(&d);
    {
        struct catalog_filter f = {.status = "gone"};
        char *keys = fx_search_keys(e->c, &f);

        assert_string_equal(keys, "300");
        free(keys);
    }
    /* It comes back when the page does. */
    p.http_status = 0;
    assert_int_equal(catalog_upsert(e->c, &p, r, &res), 0);
    assert_true(res.revived);
    assert_int_equal(res.outcome, CATALOG_UNCHANGED);
    assert_int_equal(catalog_show(e->c, "test", "300", &d), 0);
    assert_false(d.item.gone);
    assert_int_equal(d.item.gone_since, 0);
    catalog_detail_clear(&d);
    /* A 404 for a URL that never gave a record touches no record. */
    p.url = "https://archive.test/never";
    p.http_status = 404;
    assert_int_equal(catalog_missing(e->c, &p, &gone), 0);
    assert_false(gone);
    record_free(r);
}

static void test_same_document(void **state)
{
    struct env *e = *state;
    struct record *a = fx_record("401", "Copy in RGASPI");
    struct record *b = fx_record("402", "Same sheets, other site");
    struct record *c = fx_record("403", "Other sheets of the file");
    struct record *d2 = fx_record("404", "Same sheets, other file");
    struct catalog_detail d;

    fx_cite(a, "RGASPI", "17", "162", NULL, "34", "20-25");
    fx_cite(b, "R.G.A.S.P.I.", "17", "162", NULL, "34", "24");
    fx_cite(c, "RGASPI", "17", "162", NULL, "34", "30-31");
    fx_cite(d2, "RGASPI", "17", "162", NULL, "35", "24");
    fx_put(e->c, a->url, a);
    fx_put(e->c, b->url, b);
    fx_put(e->c, c->url, c);
    fx_put(e->c, d2->url, d2);
    assert_int_equal(catalog_show(e->c, "test", "401", &d), 0);
    assert_int_equal(d.n_same, 1);
    assert_string_equal(d.same_document[0].key, "402");
    assert_string_equal(d.same_document[0].title, "Same sheets, other site");
    catalog_detail_clear(&d);
    assert_int_equal(catalog_show(e->c, "test", "402", &d), 0);
    assert_int_equal(d.n_same, 1);
    assert_string_equal(d.same_document[0].key, "401");
    catalog_detail_clear(&d);
    assert_int_equal(catalog_show(e->c, "test", "403", &d), 0);
    assert_int_equal(d.n_same, 0);
    catalog_detail_clear(&d);
    record_free(a);
    record_free(b);
    record_free(c);
    record_free(d2);
}

static void test_partial_never_replaces(void **state)
{
    struct env *e = *state;
    struct record *r = fx_record("500", "Complete");
    struct record *p = fx_record("500", "Compl");
    struct catalog_detail d;

    fx_put(e->c, r->url, r);
    p->partial = true;
    record_set(&p->text, NULL);
    assert_int_equal(fx_put(e->c, p->url, p), CATALOG_KEPT);
    assert_int_equal(catalog_show(e->c, "test", "500", &d), 0);
    assert_string_equal(d.item.record->title, "Complete");
    assert_int_equal(d.item.versions, 1);
    assert_false(d.item.record->partial);
    catalog_detail_clear(&d);
    /* A partial record is stored when there is nothing better, and a
     * complete one replaces it. */
    record_set(&p->record_id, "501");
    assert_int_equal(fx_put(e->c, "https://archive.test/document/501", p), CATALOG_NEW);
    record_set(&r->record_id, "501");
    assert_int_equal(fx_put(e->c, "https://archive.test/document/501", r), CATALOG_CHANGED);
    assert_int_equal(catalog_show(e->c, "test", "501", &d), 0);
    assert_false(d.item.record->partial);
    assert_string_equal(d.item.record->title, "Complete");
    catalog_detail_clear(&d);
    record_free(r);
    record_free(p);
}

static void test_fetch_state(void **state)
{
    struct env *e = *state;
    struct record *r = fx_record("600", "Validators");
    struct catalog_page p = fx_page(r->url, 0);
    struct catalog_fetch_state fs;
    struct strlist due = {0};

    assert_int_equal(catalog_fetch_get(e->c, r->url, &fs), -ENOENT);
    p.etag = "\"v1\"";
    p.last_modified = "Mon, 01 Jan 2024 00:00:00 GMT";
    p.next_due = e->now + 100;
    assert_int_equal(catalog_upsert(e->c, &p, r, NULL), 0);
    assert_int_equal(catalog_fetch_get(e->c, r->url, &fs), 0);
    assert_string_equal(fs.etag, "\"v1\"");
    assert_string_equal(fs.last_modified, "Mon, 01 Jan 2024 00:00:00 GMT");
    assert_int_equal(fs.last_status, 200);
    assert_int_equal(fs.failures, 0);
    assert_int_equal(fs.next_due, 1700000100);
    assert_int_equal(fs.error, PROV_OK);
    assert_true(fs.record > 0);
    catalog_fetch_state_clear(&fs);
    /* 304 without validators keeps them; the record is seen again. */
    e->now += 10;
    p.etag = p.last_modified = NULL;
    assert_int_equal(catalog_not_modified(e->c, &p), 0);
    assert_int_equal(catalog_fetch_get(e->c, r->url, &fs), 0);
    assert_string_equal(fs.etag, "\"v1\"");
    assert_int_equal(fs.last_status, 304);
    catalog_fetch_state_clear(&fs);
    p.etag = "\"v2\"";
    assert_int_equal(catalog_not_modified(e->c, &p), 0);
    assert_int_equal(catalog_fetch_get(e->c, r->url, &fs), 0);
    assert_string_equal(fs.etag, "\"v2\"");
    catalog_fetch_state_clear(&fs);
    /* Failures count up with their category and message. */
    p.http_status = 503;
    assert_int_equal(catalog_fetch_failed(e->c, &p, PROV_HTTP_5XX, "HTTP 503"), 0);
    assert_int_equal(catalog_fetch_failed(e->c, &p, PROV_TIMEOUT, "timed out"), 0);
    assert_int_equal(catalog_fetch_get(e->c, r->url, &fs), 0);
    assert_int_equal(fs.failures, 2);
    assert_int_equal(fs.error, PROV_TIMEOUT);
    assert_string_equal(fs.error_message, "timed out");
    assert_string_equal(fs.etag, "\"v2\"");
    catalog_fetch_state_clear(&fs);
    {
        struct catalog_counts n;

        assert_int_equal(catalog_counts(e->c, "test", &n), 0);
        assert_int_equal(n.failing, 1);
        assert_int_equal(catalog_counts(e->c, "other", &n), 0);
        assert_int_equal(n.failing, 0);
    }
    /* A failure never touches the record. */
    {
        struct catalog_detail d;

        assert_int_equal(catalog_show(e->c, "test", "600", &d), 0);
        assert_string_equal(d.item.record->title, "Validators");
        assert_int_equal(d.item.last_seen, 1700000010);
        catalog_detail_clear(&d);
    }
    /* Due URLs, earliest first. */
    p.url = "https://archive.test/a";
    p.next_due = 5;
    assert_int_equal(catalog_fetch_failed(e->c, &p, PROV_CONNECT, NULL), 0);
    p.url = "https://archive.test/b";
    p.next_due = 1;
    assert_int_equal(catalog_fetch_failed(e->c, &p, PROV_CONNECT, NULL), 0);
    assert_int_equal(catalog_fetch_due(e->c, "test", 10, 10, &due), 0);
    assert_int_equal(due.n, 2);
    assert_string_equal(due.v[0], "https://archive.test/b");
    assert_string_equal(due.v[1], "https://archive.test/a");
    strlist_clear(&due);
    record_free(r);
}

static void test_runs_and_frontier(void **state)
{
    struct env *e = *state;
    struct record *r = fx_record("700", "In a run");
    struct catalog_tally t;
    struct catalog_run run;
    struct strlist pending = {0};
    int64_t id = 0, found = 0;
    struct catalog_page p;

    assert_int_equal(catalog_run_unfinished(e->c, "test", &found), -ENOENT);
    assert_int_equal(catalog_run_start(e->c, "test", CATALOG_TRIGGER_MANUAL, &id), 0);
    assert_int_equal(catalog_frontier_add(e->c, id, r->url), 1);
    assert_int_equal(catalog_frontier_add(e->c, id, "https://archive.test/x"), 1);
    assert_int_equal(catalog_frontier_add(e->c, id, "https://archive.test/y"), 1);
    assert_int_equal(catalog_frontier_add(e->c, id, "https://archive.test/y"), 0);
    assert_int_equal(catalog_frontier_pending(e->c, id, 10, &pending), 0);
    assert_int_equal(pending.n, 3);
    strlist_clear(&pending);
    /* One batch: a record, a failure; both frontier states go with it. */
    assert_int_equal(catalog_begin(e->c), 0);
    p = fx_page(r->url, id);
    assert_int_equal(catalog_upsert(e->c, &p, r, NULL), 0);
    p = fx_page("https://archive.test/x", id);
    assert_int_equal(catalog_fetch_failed(e->c, &p, PROV_BLOCKED, "bot challenge"), 0);
    assert_int_equal(catalog_commit(e->c, &t), 0);
    assert_int_equal(t.n_new, 1);
    assert_int_equal(t.n_failed, 1);
    /* Added again, a done URL stays done. */
    assert_int_equal(catalog_frontier_add(e->c, id, r->url), 0);
    assert_int_equal(catalog_frontier_pending(e->c, id, 10, &pending), 0);
    assert_int_equal(pending.n, 1);
    assert_string_equal(pending.v[0], "https://archive.test/y");
    strlist_clear(&pending);
    assert_int_equal(catalog_run_unfinished(e->c, "test", &found), 0);
    assert_int_equal(found, id);
    assert_int_equal(catalog_run_get(e->c, id, &run), 0);
    assert_int_equal(run.trigger, CATALOG_TRIGGER_MANUAL);
    assert_int_equal(run.state, CATALOG_RUN_RUNNING);
    assert_int_equal(run.counts.n_new, 1);
    assert_int_equal(run.counts.n_failed, 1);
    assert_int_equal(run.pending, 1);
    assert_int_equal(run.done, 1);
    assert_int_equal(run.failed, 1);
    catalog_run_clear(&run);
    e->now += 5;
    assert_int_equal(catalog_run_finish(e->c, id, false), 0);
    assert_int_equal(catalog_run_finish(e->c, id, false), -ENOENT);
    assert_int_equal(catalog_run_unfinished(e->c, "test", &found), -ENOENT);
    assert_int_equal(catalog_run_last(e->c, "test", &run), 0);
    assert_int_equal(run.id, id);
    assert_int_equal(run.state, CATALOG_RUN_FINISHED);
    assert_int_equal(run.finished, 1700000005);
    assert_string_equal(catalog_run_state_name(run.state), "finished");
    assert_string_equal(catalog_trigger_name(run.trigger), "manual");
    /* Its frontier is gone; its counts stayed. */
    assert_int_equal(run.pending, 0);
    assert_int_equal(run.done, 1);
    assert_int_equal(run.failed, 1);
    catalog_run_clear(&run);
    assert_int_equal(catalog_frontier_pending(e->c, id, 10, &pending), 0);
    assert_int_equal(pending.n, 0);
    record_free(r);
}

/* Runs a crash left: the next run of the source takes them over. */
static void test_runs_after_a_crash(void **state)
{
    struct env *e = *state;
    struct strlist pending = {0};
    struct catalog_run run;
    int64_t full, page, page2, live, id = 0;

    /* An earlier process: a run of the source with two URLs pending (one
     * done), and two single-page runs, one of a URL the full run has. */
    assert_int_equal(catalog_run_start(e->c, "test", CATALOG_TRIGGER_SCHEDULE, &full), 0);
    assert_int_equal(catalog_frontier_add(e->c, full, "https://archive.test/a"), 1);
    assert_int_equal(catalog_frontier_add(e->c, full, "https://archive.test/b"), 1);
    assert_int_equal(
        catalog_frontier_mark(e->c, full, "https://archive.test/a", CATALOG_FRONTIER_DONE), 0);
    assert_int_equal(catalog_run_start(e->c, "test", CATALOG_TRIGGER_PAGE, &page), 0);
    assert_int_equal(catalog_frontier_add(e->c, page, "https://archive.test/p"), 1);
    assert_int_equal(catalog_run_start(e->c, "test", CATALOG_TRIGGER_PAGE, &page2), 0);
    assert_int_equal(catalog_frontier_add(e->c, page2, "https://archive.test/b"), 1);
    /* A single-page run never takes over anything, even from its own
     * process: page and page2 are still running. */
    assert_int_equal(catalog_run_get(e->c, page, &run), 0);
    assert_int_equal(run.state, CATALOG_RUN_RUNNING);
    assert_true(run.single);
    assert_string_equal(catalog_trigger_name(run.trigger), "manual");
    catalog_run_clear(&run);
    /* The crash; the next process starts a single-page run first. */
    catalog_close(e->c);
    e->c = fx_open(e->db, &e->now, false);
    assert_int_equal(catalog_run_start(e->c, "test", CATALOG_TRIGGER_PAGE, &live), 0);
    assert_int_equal(catalog_frontier_add(e->c, live, "https://archive.test/q"), 1);
    e->now += 10;
    assert_int_equal(catalog_run_resume(e->c, "test", &id), 0);
    assert_int_equal(id, full);
    assert_int_equal(catalog_frontier_pending(e->c, full, 10, &pending), 0);
    assert_int_equal(pending.n, 2);
    assert_string_equal(pending.v[0], "https://archive.test/b");
    assert_string_equal(pending.v[1], "https://archive.test/p");
    strlist_clear(&pending);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(catalog_run_get(e->c, i ? page2 : page, &run), 0);
        assert_int_equal(run.state, CATALOG_RUN_FINISHED);
        assert_int_equal(run.merged_into, full);
        assert_int_equal(run.finished, 1700000010);
        assert_int_equal(run.pending, 0);
        catalog_run_clear(&run);
    }
    /* The live single-page run of this process is left alone. */
    assert_int_equal(catalog_run_get(e->c, live, &run), 0);
    assert_int_equal(run.state, CATALOG_RUN_RUNNING);
    assert_int_equal(run.merged_into, 0);
    assert_int_equal(run.pending, 1);
    catalog_run_clear(&run);
    assert_int_equal(catalog_run_finish(e->c, live, false), 0);
    assert_int_equal(catalog_run_finish(e->c, full, false), 0);
    assert_int_equal(catalog_run_resume(e->c, "test", &id), -ENOENT);

    /* Only a single-page run left by a crash: nothing to resume; a new run
     * of the source takes it over. */
    assert_int_equal(catalog_run_start(e->c, "test", CATALOG_TRIGGER_PAGE, &page), 0);
    assert_int_equal(catalog_frontier_add(e->c, page, "https://archive.test/r"), 1);
    catalog_close(e->c);
    e->c = fx_open(e->db, &e->now, false);
    assert_int_equal(catalog_run_resume(e->c, "test", &id), -ENOENT);
    assert_int_equal(catalog_run_start(e->c, "test", CATALOG_TRIGGER_MANUAL, &full), 0);
    assert_int_equal(catalog_frontier_pending(e->c, full, 10, &pending), 0);
    assert_int_equal(pending.n, 1);
    assert_string_equal(pending.v[0], "https://archive.test/r");
    strlist_clear(&pending);
    assert_int_equal(catalog_run_get(e->c, page, &run), 0);
    assert_int_equal(run.merged_into, full);
    catalog_run_clear(&run);
    assert_int_equal(catalog_run_unfinished(e->c, "test", &id), 0);
    assert_int_equal(id, full);
}

static void test_batch_rollback(void **state)
{
    struct env *e = *state;
    struct record *r = fx_record("800", "Rolled back");
    struct catalog_counts n;
    struct catalog_page p = fx_page(r->url, 0);

    assert_int_equal(catalog_commit(e->c, NULL), -EINVAL);
    assert_int_equal(catalog_begin(e->c), 0);
    assert_true(catalog_in_batch(e->c));
    assert_int_equal(catalog_begin(e->c), -EALREADY);
    assert_int_equal(catalog_upsert(e->c, &p, r, NULL), 0);
    catalog_rollback(e->c);
    assert_false(catalog_in_batch(e->c));
    assert_int_equal(catalog_counts(e->c, NULL, &n), 0);
    assert_int_equal(n.records, 0);
    /* A call refused before it wrote anything leaves the batch open. */
    assert_int_equal(catalog_begin(e->c), 0);
    assert_int_equal(catalog_upsert(e->c, &p, r, NULL), 0);
    assert_int_equal(catalog_run_finish(e->c, 12345, false), -ENOENT);
    assert_true(catalog_in_batch(e->c));
    assert_int_equal(catalog_commit(e->c, NULL), 0);
    assert_int_equal(catalog_counts(e->c, NULL, &n), 0);
    assert_int_equal(n.records, 1);
    record_free(r);
}

static void test_bad_input(void **state)
{
    struct env *e = *state;
    struct record *r = fx_record("900", "Bad \xff\xfe bytes \xc3\x28");
    struct catalog_upsert_result res;
    struct catalog_page p = fx_page(r->url, 0);
    struct catalog_detail d;
    char *huge = xmalloc(3 * 1024 * 1024 + 1);

    memset(huge, 'a', 3 * 1024 * 1024);
    huge[3 * 1024 * 1024] = '\0';
    /* Two-byte characters straddle the cap: the cut must not split one. */
    for (size_t i = 0; i + 1 < 3 * 1024 * 1024; i += 2) {
        huge[i] = '\xd0';
        huge[i + 1] = '\xb0';
    }
    record_set(&r->text, huge);
    record_set(&r->summary, huge);
    assert_int_equal(catalog_upsert(e->c, &p, r, &res), 0);
    assert_true(res.repaired);
    assert_int_equal(catalog_show(e->c, "test", "900", &d), 0);
    assert_true(text_utf8_valid(d.item.record->title, strlen(d.item.record->title)));
    assert_string_equal(d.item.record->title, "Bad \xef\xbf\xbd\xef\xbf\xbd bytes \xef\xbf\xbd(");
    assert_true(strlen(d.item.record->text) <= 2 * 1024 * 1024);
    assert_true(strlen(d.item.record->text) > 2 * 1024 * 1024 - 4);
    assert_true(text_utf8_valid(d.item.record->text, strlen(d.item.record->text)));
    assert_true(strlen(d.item.record->summary) <= 64 * 1024);
    assert_true(text_utf8_valid(d.item.record->summary, strlen(d.item.record->summary)));
    catalog_detail_clear(&d);
    /* Identities are never cut: refused. */
    huge[5000] = '\0';
    record_set(&r->record_id, huge);
    assert_int_equal(catalog_upsert(e->c, &p, r, NULL), -EINVAL);
    record_set(&r->record_id, NULL);
    record_set(&r->url, NULL);
    p.url = NULL;
    assert_int_equal(catalog_upsert(e->c, &p, r, NULL), -EINVAL);
    assert_int_not_equal(catalog_errmsg(e->c)[0], '\0');
    p.url = "https://archive.test/z";
    p.source = "";
    assert_int_equal(catalog_upsert(e->c, &p, r, NULL), -EINVAL);
    assert_int_equal(catalog_category(e->c), PROV_OK);
    free(huge);
    record_free(r);
}

static void test_reader_handle(void **state)
{
    struct env *e = *state;
    struct record *r = fx_record("1000", "Seen by readers");
    struct catalog *rd = fx_open(e->db, &e->now, true);
    struct catalog_page p = fx_page(r->url, 0);
    struct catalog_results res;

    fx_put(e->c, r->url, r);
    assert_int_equal(catalog_search(rd, NULL, 0, NULL, &res), 0);
    assert_int_equal(res.n, 1);
    assert_string_equal(res.items[0].key, "1000");
    /* Search results leave the document text out. */
    assert_null(res.items[0].record->text);
    catalog_results_clear(&res);
    assert_int_equal(catalog_upsert(rd, &p, r, NULL), -EROFS);
    assert_int_equal(catalog_begin(rd), -EROFS);
    catalog_close(rd);
    record_free(r);
}

static void test_idle(void **state)
{
    struct env *e = *state;
    struct record *r = fx_record("1100", "Before housekeeping");
    char *wal = xasprintf("%s-wal", e->db);
    struct stat sb;

    fx_put(e->c, r->url, r);
    assert_int_equal(stat(wal, &sb), 0);
    assert_true(sb.st_size > 0);
    assert_int_equal(catalog_idle(e->c), 0);
    assert_int_equal(stat(wal, &sb), 0);
    assert_int_equal(sb.st_size, 0);
    assert_int_equal(catalog_begin(e->c), 0);
    assert_int_equal(catalog_idle(e->c), -EINVAL);
    catalog_rollback(e->c);
    free(wal);
    record_free(r);
}

static void test_open_failures(void **state)
{
    struct env *e = *state;
    struct catalog *c;
    char *missing = fx_path(e->dir, "missing.db");
    struct catalog_options ro = {.readonly = true};

    /* A reader never creates a catalog. */
    assert_true(catalog_open(missing, &ro, &c) < 0);
    assert_int_not_equal(catalog_errmsg(c)[0], '\0');
    assert_int_equal(catalog_search(c, NULL, 0, NULL, &(struct catalog_results){0}), -EBADF);
    catalog_close(c);
    free(missing);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hash_vectors),
        cmocka_unit_test_setup_teardown(test_new_then_same_twice, setup, teardown),
        cmocka_unit_test_setup_teardown(test_two_urls_one_record, setup, teardown),
        cmocka_unit_test_setup_teardown(test_url_key_without_record_id, setup, teardown),
        cmocka_unit_test_setup_teardown(test_changed_page, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gone_and_revived, setup, teardown),
        cmocka_unit_test_setup_teardown(test_same_document, setup, teardown),
        cmocka_unit_test_setup_teardown(test_partial_never_replaces, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fetch_state, setup, teardown),
        cmocka_unit_test_setup_teardown(test_runs_and_frontier, setup, teardown),
        cmocka_unit_test_setup_teardown(test_runs_after_a_crash, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batch_rollback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_input, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reader_handle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_failures, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
