/*
 * catalog_fixture: shared helpers of the catalog tests (temporary
 * directories, fake clock, record builders). Test code only.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "catalog_fixture.h"

#include "xmalloc.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

char *fx_tmpdir(void)
{
    const char *base = getenv("TMPDIR");
    char *t;

    if (base == NULL || base[0] == '\0')
        base = "/tmp";
    t = xasprintf("%s/provd-catalog-XXXXXX", base);
    assert_non_null(mkdtemp(t));
    return t;
}

static int fx_rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

void fx_rmtree(const char *dir)
{
    nftw(dir, fx_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

char *fx_path(const char *dir, const char *name)
{
    return xasprintf("%s/%s", dir, name);
}

int64_t fx_clock(void *data)
{
    return *(int64_t *)data;
}

struct catalog *fx_open(const char *path, int64_t *now, bool readonly)
{
    struct catalog_options o = {.readonly = readonly, .clock = fx_clock, .clock_data = now};
    struct catalog *c;
    int err = catalog_open(path, &o, &c);

    if (err)
        fprintf(stderr, "catalog_open: %s\n", catalog_errmsg(c));
    assert_int_equal(err, 0);
    return c;
}

struct record *fx_record(const char *id, const char *title)
{
    struct record *r = record_new();

    if (id) {
        r->record_id = xstrdup(id);
        r->url = xasprintf("https://archive.test/document/%s", id);
    }
    r->title = xstrdup(title);
    r->date = xstrdup("April 19, 1941");
    r->date_iso = xstrdup("1941-04-19");
    r->summary = xstrdup("A telegram about the harvest.");
    r->type = xstrdup("Telegram");
    strlist_add(&r->languages, "Russian");
    r->source = xstrdup("Translated by Gary Goldberg.");
    strlist_add(&r->translators, "Gary Goldberg");
    r->text = xstrdup("The document text.");
    return r;
}

void fx_cite(struct record *r, const char *archive, const char *fund, const char *inventory,
             const char *folder, const char *file, const char *sheets)
{
    struct citation c = {
        .archive = xstrdup_or_null(archive),
        .fund = xstrdup_or_null(fund),
        .inventory = xstrdup_or_null(inventory),
        .folder = xstrdup_or_null(folder),
        .file = xstrdup_or_null(file),
        .sheets = xstrdup_or_null(sheets),
        .text = xasprintf("%s, f. %s, op. %s, d. %s, ll. %s", archive ? archive : "-",
                          fund ? fund : "-", inventory ? inventory : "-", file ? file : "-",
                          sheets ? sheets : "-"),
    };

    record_add_citation_steal(r, &c);
}

struct catalog_page fx_page(const char *url, int64_t run)
{
    struct catalog_page p = {.source = "test", .url = url, .run_id = run};

    return p;
}

enum catalog_outcome fx_put(struct catalog *c, const char *url, const struct record *r)
{
    struct catalog_page p = fx_page(url, 0);
    struct catalog_upsert_result res;
    int err = catalog_upsert(c, &p, r, &res);

    if (err)
        fprintf(stderr, "catalog_upsert: %s\n", catalog_errmsg(c));
    assert_int_equal(err, 0);
    return res.outcome;
}

int fx_write_buf(void *data, const char *buf, size_t len)
{
    strbuf_add(data, buf, len);
    return 0;
}

char *fx_keys(const struct catalog_results *res)
{
    struct strbuf b = STRBUF_INIT;

    for (size_t i = 0; i < res->n; i++) {
        if (i)
            strbuf_addc(&b, ' ');
        strbuf_adds(&b, res->items[i].key);
    }
    return strbuf_steal(&b);
}

char *fx_search_keys(struct catalog *c, const struct catalog_filter *f)
{
    struct catalog_results res;
    char *keys;
    int err = catalog_search(c, f, CATALOG_PAGE_MAX, NULL, &res);

    if (err)
        fprintf(stderr, "catalog_search: %s\n", catalog_errmsg(c));
    assert_int_equal(err, 0);
    keys = fx_keys(&res);
    catalog_results_clear(&res);
    return keys;
}
