/*
 * catalog_query: searching the catalog. A filter becomes one SQL query per
 * page whose rows come in record-id order, so a page is the next `limit`
 * ids after the cursor and new records can only appear after it. The
 * query is driven by the narrowest filter it can use in that order: a
 * citation filter known (by a capped count) to match few rows is read
 * whole and sorted; a person or full-text filter is read in id order
 * from its index; otherwise the records are scanned in id order. Every
 * other filter is checked per candidate. Also: one record with
 * everything, its history, and counts.
 *
 * Owns only what it returns; never writes. Readers' calls run under the
 * handle's step budget.
 */
#include "catalog_query.h"

#include "catalog_record.h"

#include "record_json.h"
#include "strbuf.h"
#include "text.h"
#include "xmalloc.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* A filter known to match fewer rows than this is read whole. */
#define CATALOG_MATERIALIZE_MAX 4000

enum catalog_driver {
    CATALOG_DRIVE_INVENTORY, /* citations of one inventory, in id order */
    CATALOG_DRIVE_CITATIONS, /* matching citations read whole */
    CATALOG_DRIVE_PERSON,    /* people index, in id order */
    CATALOG_DRIVE_TEXT,      /* full-text index, in id order */
    CATALOG_DRIVE_RECORDS,   /* records, in id order */
};

void catalog_q_clear(struct catalog_q *q)
{
    free(q->source);
    free(q->archive);
    free(q->fund);
    free(q->inventory);
    free(q->folder);
    free(q->file);
    free(q->contributor);
    free(q->translator);
    free(q->since);
    free(q->until);
    free(q->status);
    free(q->text);
    memset(q, 0, sizeof(*q));
}

/* YYYY, YYYY-MM or YYYY-MM-DD. */
static bool catalog_date_ok(const char *s)
{
    static const char *const shapes[] = {"dddd", "dddd-dd", "dddd-dd-dd"};

    for (size_t k = 0; k < 3; k++) {
        const char *p = shapes[k];
        size_t i;

        for (i = 0; p[i] && s[i]; i++)
            if (p[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != p[i])
                break;
        if (p[i] == '\0' && s[i] == '\0')
            return true;
    }
    return false;
}

/* Check one filter value; *out gets a copy, NULL when the value is unset. */
static int catalog_q_value(struct catalog *c, const char *name, const char *v, char **out)
{
    *out = NULL;
    if (v == NULL || v[0] == '\0')
        return 0;
    if (strlen(v) > CATALOG_ITEM_MAX)
        return catalog_fail(c, -EINVAL, PROV_OK, "filter %s: value too long", name);
    if (!catalog_text_ok(v))
        return catalog_fail(c, -EINVAL, PROV_OK, "filter %s: not valid UTF-8", name);
    *out = xstrdup(v);
    return 0;
}

int catalog_q_init(struct catalog *c, const struct catalog_filter *f, struct catalog_q *q)
{
    static const struct catalog_filter none = {0};
    char *archive = NULL, *sheet = NULL, *contributor = NULL, *translator = NULL, *until = NULL;
    int err;

    memset(q, 0, sizeof(*q));
    if (f == NULL)
        f = &none;
    if ((err = catalog_q_value(c, "source", f->source, &q->source)) ||
        (err = catalog_q_value(c, "archive", f->archive, &archive)) ||
        (err = catalog_q_value(c, "fund", f->fund, &q->fund)) ||
        (err = catalog_q_value(c, "inventory", f->inventory, &q->inventory)) ||
        (err = catalog_q_value(c, "folder", f->folder, &q->folder)) ||
        (err = catalog_q_value(c, "file", f->file, &q->file)) ||
        (err = catalog_q_value(c, "sheet", f->sheet, &sheet)) ||
        (err = catalog_q_value(c, "contributor", f->contributor, &contributor)) ||
        (err = catalog_q_value(c, "translator", f->translator, &translator)) ||
        (err = catalog_q_value(c, "since", f->since, &q->since)) ||
        (err = catalog_q_value(c, "until", f->until, &until)) ||
        (err = catalog_q_value(c, "status", f->status, &q->status)) ||
        (err = catalog_q_value(c, "text", f->text, &q->text)))
        goto out;
    if (archive)
        q->archive = catalog_archive_norm(archive);
    if (contributor)
        q->contributor = catalog_name_fold(contributor);
    if (translator)
        q->translator = catalog_name_fold(translator);
    if (sheet && !catalog_sheet_parse(sheet, &q->sheet)) {
        err = catalog_fail(c, -EINVAL, PROV_OK, "filter sheet: not a sheet number");
        goto out;
    }
    q->has_sheet = sheet != NULL;
    if ((q->since && !catalog_date_ok(q->since)) || (until && !catalog_date_ok(until))) {
        err = catalog_fail(c, -EINVAL, PROV_OK,
                           "filters since/until: dates are YYYY, YYYY-MM or YYYY-MM-DD");
        goto out;
    }
    /* "until 1945" takes in 1945-12-31: compare below "1945" + DEL. */
    if (until)
        q->until = xasprintf("%s\x7f", until);
    if (q->status && strcmp(q->status, "active") != 0 && strcmp(q->status, "gone") != 0) {
        err = catalog_fail(c, -EINVAL, PROV_OK, "filter status: active or gone");
        goto out;
    }
    q->has_cit = q->archive || q->fund || q->inventory || q->folder || q->file || q->has_sheet;
out:
    free(archive);
    free(sheet);
    free(contributor);
    free(translator);
    free(until);
    if (err)
        catalog_q_clear(q);
    return err;
}

/* The conditions on one citation row called a. */
static void catalog_q_cit(struct strbuf *b, const struct catalog_q *q, const char *a)
{
    if (q->archive)
        strbuf_addf(b, " AND %s.archive_norm = :archive", a);
    if (q->fund)
        strbuf_addf(b, " AND %s.fund = :fund", a);
    if (q->inventory)
        strbuf_addf(b, " AND %s.inventory = :inventory", a);
    if (q->folder)
        strbuf_addf(b, " AND %s.folder = :folder", a);
    if (q->file)
        strbuf_addf(b, " AND %s.file = :file", a);
    if (q->has_sheet)
        strbuf_addf(b,
                    " AND %s.sheet_first <= :sheet AND %s.sheet_last >= :sheet"
                    " AND provd_sheet_has(%s.sheets, :sheet)",
                    a, a, a);
}

static void catalog_q_bind(sqlite3_stmt *st, const struct catalog_q *q, int64_t after,
                           int64_t limit)
{
    catalog_bind_named_str(st, ":source", q->source);
    catalog_bind_named_str(st, ":archive", q->archive);
    catalog_bind_named_str(st, ":fund", q->fund);
    catalog_bind_named_str(st, ":inventory", q->inventory);
    catalog_bind_named_str(st, ":folder", q->folder);
    catalog_bind_named_str(st, ":file", q->file);
    catalog_bind_named_int(st, ":sheet", q->sheet);
    catalog_bind_named_str(st, ":contributor", q->contributor);
    catalog_bind_named_str(st, ":translator", q->translator);
    catalog_bind_named_str(st, ":since", q->since);
    catalog_bind_named_str(st, ":until", q->until);
    catalog_bind_named_str(st, ":status", q->status);
    catalog_bind_named_str(st, ":text", q->text);
    catalog_bind_named_int(st, ":after", after);
    catalog_bind_named_int(st, ":limit", limit);
}

/* Run a query on the filter: a count, or ids into out. A full-text
 * syntax error is the caller's mistake: -EINVAL. */
static int catalog_q_run(struct catalog *c, const struct catalog_q *q, const char *sql,
                         int64_t after, int64_t limit, int64_t *out, size_t *n)
{
    sqlite3_stmt *st = NULL;
    int rc, err = 0;

    *n = 0;
    rc = sqlite3_prepare_v2(c->db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK)
        return catalog_sqlfail(c, rc, "prepare query");
    catalog_q_bind(st, q, after, limit);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        out[(*n)++] = sqlite3_column_int64(st, 0);
    if (rc != SQLITE_DONE) {
        if (rc == SQLITE_ERROR && q->text)
            err = catalog_fail(c, -EINVAL, PROV_OK, "full-text query: %s", sqlite3_errmsg(c->db));
        else
            err = catalog_sqlfail(c, rc, "query");
    }
    sqlite3_finalize(st);
    return err;
}

/* A capped count of the rows a filter part matches: est_sql counts at
 * most CATALOG_MATERIALIZE_MAX of them. */
static int catalog_q_estimate(struct catalog *c, const struct catalog_q *q, const char *est_sql,
                              int64_t after, int64_t *count)
{
    size_t n;

    *count = CATALOG_MATERIALIZE_MAX;
    return catalog_q_run(c, q, est_sql, after, CATALOG_MATERIALIZE_MAX, count, &n);
}

static int catalog_q_choose(struct catalog *c, const struct catalog_q *q, int64_t after,
                            enum catalog_driver *d)
{
    int64_t cit = CATALOG_MATERIALIZE_MAX;
    struct strbuf b = STRBUF_INIT;
    int err = 0;

    /* An inventory reads in id order from the citation index, however
     * large it is, and a file, folder or sheet inside it is checked on
     * the index entries as they pass. */
    if (q->archive && q->fund && q->inventory) {
        *d = CATALOG_DRIVE_INVENTORY;
        return 0;
    }
    /* Only an archive opens the citation index: without one a count would
     * itself be a scan. Dates have no index of their own (one more index
     * written at random places for every record would cost more than the
     * rare date-only query); they are checked per candidate. */
    if (q->has_cit && q->archive) {
        strbuf_adds(&b, "SELECT count(*) FROM (SELECT 1 FROM citations c"
                        " WHERE c.record > :after");
        catalog_q_cit(&b, q, "c");
        strbuf_adds(&b, " LIMIT :limit)");
        err = catalog_q_estimate(c, q, strbuf_str(&b), after, &cit);
        strbuf_reset(&b);
    }
    strbuf_release(&b);
    if (err)
        return err;
    if (cit < CATALOG_MATERIALIZE_MAX)
        *d = CATALOG_DRIVE_CITATIONS;
    else if (q->translator || q->contributor)
        *d = CATALOG_DRIVE_PERSON;
    else if (q->text)
        *d = CATALOG_DRIVE_TEXT;
    else
        *d = CATALOG_DRIVE_RECORDS;
    return 0;
}

/* The page query for driver d. */
static char *catalog_q_sql(const struct catalog_q *q, enum catalog_driver d)
{
    struct strbuf b = STRBUF_INIT;
    const char *order = "r.id";
    /* The person that drives, when one does. */
    bool drive_tr = d == CATALOG_DRIVE_PERSON && q->translator;
    bool drive_co = d == CATALOG_DRIVE_PERSON && !q->translator;

    switch (d) {
    case CATALOG_DRIVE_INVENTORY:
        /* GROUP BY: a record citing the inventory twice comes once. */
        strbuf_adds(&b, "SELECT r.id FROM citations c INDEXED BY citations_unit"
                        " CROSS JOIN records r WHERE c.record > :after");
        catalog_q_cit(&b, q, "c");
        strbuf_adds(&b, " AND r.id = c.record");
        order = "c.record";
        break;
    case CATALOG_DRIVE_CITATIONS:
        strbuf_adds(&b, "SELECT r.id FROM records r WHERE r.id IN (SELECT c.record FROM"
                        " citations c WHERE c.record > :after");
        catalog_q_cit(&b, q, "c");
        strbuf_adds(&b, ") AND r.id > :after");
        break;
    case CATALOG_DRIVE_PERSON:
        strbuf_addf(&b,
                    "SELECT r.id FROM people p CROSS JOIN records r WHERE p.role = %d"
                    " AND p.name_fold = %s AND p.record > :after AND r.id = p.record",
                    drive_tr ? CATALOG_ROLE_TRANSLATOR : CATALOG_ROLE_CONTRIBUTOR,
                    drive_tr ? ":translator" : ":contributor");
        order = "p.record";
        break;
    case CATALOG_DRIVE_TEXT:
        strbuf_adds(&b, "SELECT r.id FROM records_fts f CROSS JOIN records r"
                        " WHERE f.records_fts MATCH :text AND f.rowid > :after"
                        " AND r.id = f.rowid");
        order = "f.rowid";
        break;
    case CATALOG_DRIVE_RECORDS:
        strbuf_adds(&b, "SELECT r.id FROM records r WHERE r.id > :after");
        break;
    }
    if (q->source)
        strbuf_adds(&b, " AND r.source = :source");
    if (q->status)
        strbuf_adds(&b, " AND r.status = :status");
    if (q->since)
        strbuf_adds(&b, " AND r.date_iso >= :since");
    if (q->until)
        strbuf_adds(&b, " AND r.date_iso <= :until");
    if (q->has_cit && d != CATALOG_DRIVE_CITATIONS && d != CATALOG_DRIVE_INVENTORY) {
        strbuf_adds(&b, " AND EXISTS (SELECT 1 FROM citations c WHERE c.record = r.id");
        catalog_q_cit(&b, q, "c");
        strbuf_adds(&b, ")");
    }
    if (q->translator && !drive_tr)
        strbuf_addf(&b,
                    " AND EXISTS (SELECT 1 FROM people t WHERE t.record = r.id"
                    " AND t.role = %d AND t.name_fold = :translator)",
                    CATALOG_ROLE_TRANSLATOR);
    if (q->contributor && !drive_co)
        strbuf_addf(&b,
                    " AND EXISTS (SELECT 1 FROM people o WHERE o.record = r.id"
                    " AND o.role = %d AND o.name_fold = :contributor)",
                    CATALOG_ROLE_CONTRIBUTOR);
    if (q->text && d != CATALOG_DRIVE_TEXT)
        strbuf_adds(&b, " AND EXISTS (SELECT 1 FROM records_fts x WHERE x.records_fts MATCH"
                        " :text AND x.rowid = r.id)");
    if (d == CATALOG_DRIVE_INVENTORY)
        strbuf_adds(&b, " GROUP BY c.record");
    strbuf_addf(&b, " ORDER BY %s LIMIT :limit", order);
    return strbuf_steal(&b);
}

int catalog_q_page(struct catalog *c, const struct catalog_q *q, int64_t after, size_t max,
                   int64_t *ids, size_t *n)
{
    enum catalog_driver d;
    char *sql;
    int err;

    *n = 0;
    err = catalog_q_choose(c, q, after, &d);
    if (err)
        return err;
    sql = catalog_q_sql(q, d);
    err = catalog_q_run(c, q, sql, after, (int64_t)max, ids, n);
    free(sql);
    return err;
}

/* ---- search ------------------------------------------------------------ */

static int catalog_cursor_parse(const char *s, int64_t *after)
{
    uint64_t v = 0;
    size_t i;

    if (s == NULL || s[0] != 'r' || s[1] == '\0' || strlen(s) > 17)
        return -1;
    for (i = 1; s[i]; i++) {
        int d;

        if (s[i] >= '0' && s[i] <= '9')
            d = s[i] - '0';
        else if (s[i] >= 'a' && s[i] <= 'f')
            d = s[i] - 'a' + 10;
        else
            return -1;
        v = v * 16 + (uint64_t)d;
    }
    if (v > INT64_MAX)
        return -1;
    *after = (int64_t)v;
    return 0;
}

int catalog_search(struct catalog *c, const struct catalog_filter *f, long limit,
                   const char *cursor, struct catalog_results *out)
{
    struct catalog_q q;
    int64_t after = 0, ids[CATALOG_PAGE_MAX + 1];
    size_t n = 0, want;
    bool own;
    int err;

    memset(out, 0, sizeof(*out));
    err = catalog_read_begin(c, &own);
    if (err)
        return err;
    if (cursor && cursor[0] && catalog_cursor_parse(cursor, &after) < 0)
        return catalog_read_end(c, own, catalog_fail(c, -EINVAL, PROV_OK, "bad cursor"));
    err = catalog_q_init(c, f, &q);
    if (err)
        return catalog_read_end(c, own, err);
    want = limit <= 0 ? CATALOG_PAGE_DEFAULT
                      : (limit > CATALOG_PAGE_MAX ? CATALOG_PAGE_MAX : (size_t)limit);
    err = catalog_q_page(c, &q, after, want + 1, ids, &n);
    if (err)
        goto out;
    if (n > want) {
        n = want;
        out->next = xasprintf("r%" PRIx64, (uint64_t)ids[n - 1]);
    }
    out->items = xcalloc(n ? n : 1, sizeof(*out->items));
    for (size_t i = 0; i < n; i++) {
        err = catalog_item_load(c, ids[i], false, &out->items[i]);
        if (err)
            goto out;
        out->n++;
    }
out:
    catalog_q_clear(&q);
    if (err)
        catalog_results_clear(out);
    return catalog_read_end(c, own, err);
}

void catalog_results_clear(struct catalog_results *res)
{
    for (size_t i = 0; i < res->n; i++)
        catalog_item_clear(&res->items[i]);
    free(res->items);
    free(res->next);
    memset(res, 0, sizeof(*res));
}

json_t *catalog_item_to_json(const struct catalog_item *it, unsigned flags)
{
    json_t *o = record_to_json(it->record, flags & CATALOG_JSON_TEXT ? RECORD_JSON_TEXT : 0);
    char t[32];

    json_object_set_new(o, "key", json_string(it->key));
    json_object_set_new(o, "source_name", json_string(it->source));
    json_object_set_new(o, "status", json_string(it->gone ? "gone" : "active"));
    catalog_format_time(it->first_seen, t, sizeof(t));
    json_object_set_new(o, "first_seen", json_string(t));
    catalog_format_time(it->last_seen, t, sizeof(t));
    json_object_set_new(o, "last_seen", json_string(t));
    if (it->gone) {
        catalog_format_time(it->gone_since, t, sizeof(t));
        json_object_set_new(o, "gone_since", json_string(t));
    }
    json_object_set_new(o, "versions", json_integer(it->versions));
    return o;
}

/* ---- one record -------------------------------------------------------- */

static const char catalog_sql_by_key_source[] =
    "SELECT id FROM records WHERE key = ?1 AND source = ?2";
static const char catalog_sql_by_key[] = "SELECT id FROM records WHERE key = ?1 LIMIT 2";
static const char catalog_sql_by_alias[] =
    "SELECT u.record FROM urls u JOIN records r ON r.id = u.record"
    " WHERE u.url = ?1 AND (?2 IS NULL OR r.source = ?2)";
static const char catalog_sql_urls[] = "SELECT url FROM urls WHERE record = ?1 ORDER BY url";
static const char catalog_sql_same[] =
    "SELECT DISTINCT o.record, r.source, r.key, r.title FROM citations m"
    " JOIN citations o ON o.archive_norm = m.archive_norm AND o.fund = m.fund"
    " AND o.inventory IS m.inventory AND o.file = m.file"
    " JOIN records r ON r.id = o.record"
    " WHERE m.record = ?1 AND o.record <> ?1 AND m.archive_norm IS NOT NULL"
    " AND m.fund IS NOT NULL AND m.file IS NOT NULL AND m.sheet_first IS NOT NULL"
    " AND o.sheet_first <= m.sheet_last AND o.sheet_last >= m.sheet_first"
    " AND (m.folder IS NULL OR o.folder IS NULL OR o.folder = m.folder)"
    " AND provd_sheets_overlap(m.sheets, o.sheets) ORDER BY o.record LIMIT 100";
static const char catalog_sql_history[] =
    "SELECT version, at, run, event, changes FROM versions WHERE record = ?1 ORDER BY version";

/* The id of the record ref names (see catalog_show()). */
static int catalog_resolve(struct catalog *c, const char *source, const char *ref, int64_t *id)
{
    sqlite3_stmt *st;
    int rc;

    if (ref == NULL || ref[0] == '\0' || strlen(ref) > CATALOG_KEY_MAX || !catalog_text_ok(ref) ||
        (source && !catalog_text_ok(source)))
        return catalog_fail(c, -EINVAL, PROV_OK, "a record key or URL is required");
    st = catalog_stmt(c, source ? catalog_sql_by_key_source : catalog_sql_by_key);
    if (st == NULL)
        return catalog_last_err(c);
    catalog_bind_str(st, 1, ref);
    if (source)
        catalog_bind_str(st, 2, source);
    rc = catalog_step_row(c, st, "find record");
    if (rc < 0)
        return rc;
    if (rc == 1) {
        *id = sqlite3_column_int64(st, 0);
        rc = catalog_step_row(c, st, "find record");
        if (rc < 0)
            return rc;
        if (rc == 1) {
            sqlite3_reset(st);
            return catalog_fail(c, -EEXIST, PROV_OK,
                                "key %s names records in several sources: give the source", ref);
        }
        return 0;
    }
    st = catalog_stmt(c, catalog_sql_by_alias);
    if (st == NULL)
        return catalog_last_err(c);
    catalog_bind_str(st, 1, ref);
    catalog_bind_str(st, 2, source);
    rc = catalog_step_row(c, st, "find URL");
    if (rc < 0)
        return rc;
    if (rc == 0)
        return catalog_fail(c, -ENOENT, PROV_OK, "no record %s", ref);
    *id = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    return 0;
}

static int catalog_show_links(struct catalog *c, struct catalog_detail *d)
{
    sqlite3_stmt *st = catalog_stmt(c, catalog_sql_urls);
    int rc;

    if (st == NULL)
        return catalog_last_err(c);
    sqlite3_bind_int64(st, 1, d->item.id);
    while ((rc = catalog_step_row(c, st, "list URLs")) == 1)
        strlist_add(&d->urls, (const char *)sqlite3_column_text(st, 0));
    if (rc < 0)
        return rc;
    st = catalog_stmt(c, catalog_sql_same);
    if (st == NULL)
        return catalog_last_err(c);
    sqlite3_bind_int64(st, 1, d->item.id);
    while ((rc = catalog_step_row(c, st, "same document")) == 1) {
        struct catalog_link *l;

        d->same_document = xreallocarray(d->same_document, d->n_same + 1, sizeof(*l));
        l = &d->same_document[d->n_same++];
        l->id = sqlite3_column_int64(st, 0);
        l->source = catalog_col_dup(st, 1);
        l->key = catalog_col_dup(st, 2);
        l->title = catalog_col_dup(st, 3);
    }
    return rc < 0 ? rc : 0;
}

int catalog_show(struct catalog *c, const char *source, const char *ref, struct catalog_detail *out)
{
    int64_t id = 0;
    bool own;
    int err;

    memset(out, 0, sizeof(*out));
    err = catalog_read_begin(c, &own);
    if (err)
        return err;
    err = catalog_resolve(c, source, ref, &id);
    if (err == 0)
        err = catalog_item_load(c, id, true, &out->item);
    if (err == 0)
        err = catalog_show_links(c, out);
    if (err)
        catalog_detail_clear(out);
    return catalog_read_end(c, own, err);
}

void catalog_detail_clear(struct catalog_detail *d)
{
    catalog_item_clear(&d->item);
    strlist_clear(&d->urls);
    for (size_t i = 0; i < d->n_same; i++) {
        free(d->same_document[i].source);
        free(d->same_document[i].key);
        free(d->same_document[i].title);
    }
    free(d->same_document);
    memset(d, 0, sizeof(*d));
}

json_t *catalog_detail_to_json(const struct catalog_detail *d)
{
    json_t *o = catalog_item_to_json(&d->item, CATALOG_JSON_TEXT);
    json_t *urls = json_array(), *same = json_array();

    for (size_t i = 0; i < d->urls.n; i++)
        json_array_append_new(urls, json_string(d->urls.v[i]));
    for (size_t i = 0; i < d->n_same; i++)
        json_array_append_new(
            same, json_pack("{s:s?, s:s?, s:s?}", "source_name", d->same_document[i].source, "key",
                            d->same_document[i].key, "title", d->same_document[i].title));
    json_object_set_new(o, "urls", urls);
    json_object_set_new(o, "same_document", same);
    return o;
}

/* ---- history ----------------------------------------------------------- */

int catalog_history(struct catalog *c, const char *source, const char *ref,
                    struct catalog_history *out)
{
    sqlite3_stmt *st;
    struct catalog_item it = {0};
    int64_t id = 0;
    bool own;
    int rc, err;

    memset(out, 0, sizeof(*out));
    err = catalog_read_begin(c, &own);
    if (err)
        return err;
    err = catalog_resolve(c, source, ref, &id);
    if (err == 0)
        err = catalog_item_load(c, id, false, &it);
    if (err)
        goto out;
    out->id = id;
    out->source = it.source;
    out->key = it.key;
    it.source = it.key = NULL;
    st = catalog_stmt(c, catalog_sql_history);
    if (st == NULL) {
        err = catalog_last_err(c);
        goto out;
    }
    sqlite3_bind_int64(st, 1, id);
    while ((rc = catalog_step_row(c, st, "read history")) == 1) {
        struct catalog_version *v;
        const char *changes = (const char *)sqlite3_column_text(st, 4);

        out->v = xreallocarray(out->v, out->n + 1, sizeof(*v));
        v = &out->v[out->n++];
        v->version = sqlite3_column_int64(st, 0);
        v->at = sqlite3_column_int64(st, 1);
        v->run = sqlite3_column_int64(st, 2);
        v->event = catalog_col_dup(st, 3);
        v->changes = changes ? json_loads(changes, 0, NULL) : NULL;
        if (v->changes == NULL)
            v->changes = json_array();
    }
    if (rc < 0)
        err = rc;
out:
    catalog_item_clear(&it);
    if (err)
        catalog_history_clear(out);
    return catalog_read_end(c, own, err);
}

void catalog_history_clear(struct catalog_history *h)
{
    for (size_t i = 0; i < h->n; i++) {
        free(h->v[i].event);
        json_decref(h->v[i].changes);
    }
    free(h->v);
    free(h->source);
    free(h->key);
    memset(h, 0, sizeof(*h));
}

json_t *catalog_history_to_json(const struct catalog_history *h)
{
    json_t *vs = json_array();
    char t[32];

    for (size_t i = 0; i < h->n; i++) {
        const struct catalog_version *v = &h->v[i];

        catalog_format_time(v->at, t, sizeof(t));
        json_array_append_new(vs, json_pack("{s:I, s:s, s:o, s:s, s:O}", "version",
                                            (json_int_t)v->version, "at", t, "run",
                                            v->run ? json_integer(v->run) : json_null(), "event",
                                            v->event, "changes", v->changes));
    }
    return json_pack("{s:s, s:s, s:o}", "source_name", h->source, "key", h->key, "versions", vs);
}

/* ---- counts ------------------------------------------------------------ */

static int catalog_count1(struct catalog *c, const char *sql, const char *source, int64_t *out)
{
    sqlite3_stmt *st = catalog_stmt(c, sql);
    int rc;

    *out = 0;
    if (st == NULL)
        return catalog_last_err(c);
    catalog_bind_str(st, 1, source);
    rc = catalog_step_row(c, st, "count");
    if (rc <= 0)
        return rc;
    *out = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    return 0;
}

int catalog_counts(struct catalog *c, const char *source, struct catalog_counts *out)
{
    static const char status_sql[] = "SELECT count(*) FROM records WHERE (?1 IS NULL OR source"
                                     " = ?1) AND status = 'active'";
    static const char gone_sql[] = "SELECT count(*) FROM records WHERE (?1 IS NULL OR source"
                                   " = ?1) AND status = 'gone'";
    static const char versions_sql[] =
        "SELECT count(*) FROM versions v WHERE ?1 IS NULL OR v.record IN"
        " (SELECT id FROM records WHERE source = ?1)";
    static const char urls_sql[] =
        "SELECT count(*) FROM urls u WHERE u.record IS NOT NULL AND (?1 IS NULL OR"
        " u.record IN (SELECT id FROM records WHERE source = ?1))";
    static const char failing_sql[] = "SELECT count(*) FROM fetch_state WHERE failures > 0"
                                      " AND (?1 IS NULL OR source = ?1)";
    static const char runs_sql[] = "SELECT count(*) FROM runs WHERE ?1 IS NULL OR source = ?1";
    unsigned long budget = c->budget;
    bool own;
    int err;

    memset(out, 0, sizeof(*out));
    err = catalog_read_begin(c, &own);
    if (err)
        return err;
    /* Counting is linear by nature and never user-shaped: no budget. */
    c->budget = 0;
    if ((err = catalog_count1(c, status_sql, source, &out->active)) == 0 &&
        (err = catalog_count1(c, gone_sql, source, &out->gone)) == 0 &&
        (err = catalog_count1(c, versions_sql, source, &out->versions)) == 0 &&
        (err = catalog_count1(c, urls_sql, source, &out->urls)) == 0 &&
        (err = catalog_count1(c, failing_sql, source, &out->failing)) == 0)
        err = catalog_count1(c, runs_sql, source, &out->runs);
    out->records = out->active + out->gone;
    c->budget = budget;
    return catalog_read_end(c, own, err);
}
