/*
 * catalog_export: the catalog as a stream — JSON Lines (one record with
 * its catalog fields and URLs per line) and CSV (RFC 4180, one row per
 * citation) — read page by page from one snapshot, so memory does not
 * grow with the catalog; and the import of such JSON Lines into an empty
 * catalog, in one transaction.
 *
 * Owns only its buffers; output goes through the caller's write function.
 */
#include "catalog_db.h"
#include "catalog_query.h"
#include "catalog_record.h"

#include "record_json.h"
#include "strbuf.h"
#include "xmalloc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Records per page of an export. */
#define CATALOG_EXPORT_PAGE 256
/* Longest JSON line an import reads. */
#define CATALOG_IMPORT_LINE_MAX (64 * 1024 * 1024)

static const char catalog_sql_urls[] = "SELECT url FROM urls WHERE record = ?1 ORDER BY url";

static const char *const catalog_csv_header[] = {
    "source_name", "key",    "record_id",  "url",       "title",    "date",         "date_iso",
    "type",        "status", "first_seen", "last_seen", "versions", "archive",      "fund",
    "inventory",   "folder", "file",       "sheets",    "citation", "contributors", "translators",
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static int catalog_load_urls(struct catalog *c, int64_t id, struct strlist *urls)
{
    sqlite3_stmt *st = catalog_stmt(c, catalog_sql_urls);
    int rc;

    if (st == NULL)
        return catalog_last_err(c);
    sqlite3_bind_int64(st, 1, id);
    while ((rc = catalog_step_row(c, st, "list URLs")) == 1)
        strlist_add(urls, (const char *)sqlite3_column_text(st, 0));
    return rc < 0 ? rc : 0;
}

static void catalog_jsonl_line(const struct catalog_item *it, const struct strlist *urls,
                               struct strbuf *b)
{
    json_t *o = catalog_item_to_json(it, CATALOG_JSON_TEXT);
    json_t *a = json_array();
    char *s;

    for (size_t i = 0; i < urls->n; i++)
        json_array_append_new(a, json_string(urls->v[i]));
    json_object_set_new(o, "urls", a);
    s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    strbuf_adds(b, s ? s : "{}");
    strbuf_addc(b, '\n');
    free(s);
}

/* One CSV field: quoted when it holds a comma, quote, CR or LF. */
static void catalog_csv_field(struct strbuf *b, const char *s, bool first)
{
    if (!first)
        strbuf_addc(b, ',');
    if (s == NULL)
        return;
    if (strpbrk(s, ",\"\r\n") == NULL) {
        strbuf_adds(b, s);
        return;
    }
    strbuf_addc(b, '"');
    for (; *s; s++) {
        if (*s == '"')
            strbuf_addc(b, '"');
        strbuf_addc(b, *s);
    }
    strbuf_addc(b, '"');
}

static char *catalog_join(const struct strlist *l)
{
    struct strbuf b = STRBUF_INIT;

    for (size_t i = 0; i < l->n; i++) {
        if (i)
            strbuf_adds(&b, "; ");
        strbuf_adds(&b, l->v[i]);
    }
    return strbuf_steal(&b);
}

static void catalog_csv_rows(const struct catalog_item *it, struct strbuf *b)
{
    const struct record *r = it->record;
    char first[32], last[32], versions[32];
    char *contributors = catalog_join(&r->contributors);
    char *translators = catalog_join(&r->translators);
    size_t rows = r->n_citations ? r->n_citations : 1;

    catalog_format_time(it->first_seen, first, sizeof(first));
    catalog_format_time(it->last_seen, last, sizeof(last));
    snprintf(versions, sizeof(versions), "%lld", (long long)it->versions);
    for (size_t i = 0; i < rows; i++) {
        const struct citation none = {0};
        const struct citation *ct = r->n_citations ? &r->citations[i] : &none;

        catalog_csv_field(b, it->source, true);
        catalog_csv_field(b, it->key, false);
        catalog_csv_field(b, r->record_id, false);
        catalog_csv_field(b, r->url, false);
        catalog_csv_field(b, r->title, false);
        catalog_csv_field(b, r->date, false);
        catalog_csv_field(b, r->date_iso, false);
        catalog_csv_field(b, r->type, false);
        catalog_csv_field(b, it->gone ? "gone" : "active", false);
        catalog_csv_field(b, first, false);
        catalog_csv_field(b, last, false);
        catalog_csv_field(b, versions, false);
        catalog_csv_field(b, ct->archive, false);
        catalog_csv_field(b, ct->fund, false);
        catalog_csv_field(b, ct->inventory, false);
        catalog_csv_field(b, ct->folder, false);
        catalog_csv_field(b, ct->file, false);
        catalog_csv_field(b, ct->sheets, false);
        catalog_csv_field(b, ct->text, false);
        catalog_csv_field(b, contributors, false);
        catalog_csv_field(b, translators, false);
        strbuf_adds(b, "\r\n");
    }
    free(contributors);
    free(translators);
}

static int catalog_emit(struct catalog *c, catalog_write_fn write, void *data, struct strbuf *b)
{
    int err;

    if (b->len == 0)
        return 0;
    err = write(data, b->s, b->len);
    strbuf_reset(b);
    if (err < 0)
        return catalog_fail(c, err, PROV_OK, "export stopped by its output (error %d)", -err);
    return 0;
}

/* Write one record; the buffer is flushed once it holds enough. */
static int catalog_export_one(struct catalog *c, int64_t id, enum catalog_format fmt,
                              struct strbuf *b)
{
    struct catalog_item it;
    struct strlist urls = {0};
    int err;

    err = catalog_item_load(c, id, fmt == CATALOG_FORMAT_JSONL, &it);
    if (err)
        return err;
    if (fmt == CATALOG_FORMAT_JSONL) {
        err = catalog_load_urls(c, id, &urls);
        if (err == 0)
            catalog_jsonl_line(&it, &urls, b);
    } else {
        catalog_csv_rows(&it, b);
    }
    strlist_clear(&urls);
    catalog_item_clear(&it);
    return err;
}

int catalog_export(struct catalog *c, const struct catalog_filter *f, enum catalog_format fmt,
                   catalog_write_fn write, void *data)
{
    struct strbuf b = STRBUF_INIT;
    struct catalog_q q;
    int64_t after = 0, ids[CATALOG_EXPORT_PAGE];
    size_t n;
    bool own;
    int err;

    err = catalog_read_begin(c, &own);
    if (err)
        return err;
    if (fmt != CATALOG_FORMAT_JSONL && fmt != CATALOG_FORMAT_CSV)
        return catalog_read_end(c, own, catalog_fail(c, -EINVAL, PROV_OK, "unknown format"));
    err = catalog_q_init(c, f, &q);
    if (err)
        return catalog_read_end(c, own, err);
    if (fmt == CATALOG_FORMAT_CSV) {
        for (size_t i = 0; i < NELEM(catalog_csv_header); i++)
            catalog_csv_field(&b, catalog_csv_header[i], i == 0);
        strbuf_adds(&b, "\r\n");
    }
    do {
        /* The budget bounds each page and each record, not the whole
         * export, whose length is the catalog's. */
        catalog_budget_reset(c);
        err = catalog_q_page(c, &q, after, CATALOG_EXPORT_PAGE, ids, &n);
        for (size_t i = 0; err == 0 && i < n; i++) {
            catalog_budget_reset(c);
            err = catalog_export_one(c, ids[i], fmt, &b);
            if (err == 0 && b.len >= 64 * 1024)
                err = catalog_emit(c, write, data, &b);
        }
        if (n > 0)
            after = ids[n - 1];
    } while (err == 0 && n == CATALOG_EXPORT_PAGE);
    if (err == 0)
        err = catalog_emit(c, write, data, &b);
    strbuf_release(&b);
    catalog_q_clear(&q);
    return catalog_read_end(c, own, err);
}

/* ---- import ------------------------------------------------------------ */

static const char catalog_sql_any[] = "SELECT 1 FROM records LIMIT 1";
static const char catalog_sql_import[] =
    "INSERT INTO records(source, key, " CATALOG_RECORD_COLS ", hash, status, misses, gone_since,"
    " first_seen, last_seen, changed, version) VALUES(:source, :key, :record_id, :url, :title,"
    " :date, :date_iso, :summary, :type, :languages, :original_archives, :classification,"
    " :uploaded, :funders, :subjects, :people, :places, :source_text, :contributors,"
    " :translators, :doc_text, :partial, :hash, :status, 0, :gone_since, :first_seen,"
    " :last_seen, :last_seen, :version)";
static const char catalog_sql_import_alias[] =
    "INSERT INTO urls(url, record, first_seen) VALUES(?1, ?2, ?3)"
    " ON CONFLICT(url) DO UPDATE SET record = excluded.record";
static const char catalog_sql_import_version[] =
    "INSERT INTO versions(record, version, at, run, event, changes)"
    " VALUES(?1, ?2, ?3, NULL, 'imported', NULL)";

/* The catalog fields of one exported line. */
struct catalog_import_line {
    const char *key, *source, *status;
    int64_t first_seen, last_seen, gone_since, version;
    const json_t *urls;
};

static int catalog_import_fields(const json_t *o, struct catalog_import_line *l)
{
    const char *first = NULL, *last = NULL, *gone = NULL;
    json_int_t version = 0;

    memset(l, 0, sizeof(*l));
    if (json_unpack((json_t *)o, "{s:s, s:s, s:s, s:s, s:s, s:I, s?s, s?o}", "key", &l->key,
                    "source_name", &l->source, "status", &l->status, "first_seen", &first,
                    "last_seen", &last, "versions", &version, "gone_since", &gone, "urls",
                    &l->urls) != 0)
        return -1;
    if (!catalog_parse_time(first, &l->first_seen) || !catalog_parse_time(last, &l->last_seen))
        return -1;
    if (strcmp(l->status, "active") != 0 && strcmp(l->status, "gone") != 0)
        return -1;
    if (strcmp(l->status, "gone") == 0 &&
        (gone == NULL || !catalog_parse_time(gone, &l->gone_since)))
        return -1;
    if (version < 1 || l->key[0] == '\0' || l->source[0] == '\0' ||
        strlen(l->key) > CATALOG_KEY_MAX || strlen(l->source) > CATALOG_ITEM_MAX ||
        !catalog_text_ok(l->key) || !catalog_text_ok(l->source))
        return -1;
    if (l->urls && !json_is_array(l->urls))
        return -1;
    l->version = version;
    return 0;
}

/* Store one parsed line; -EINVAL (with lineno) when it cannot be one. */
static int catalog_import_one(struct catalog *c, const json_t *o, size_t lineno)
{
    struct catalog_import_line l;
    struct record *r = NULL, *clean = NULL;
    unsigned char hash[CATALOG_HASH_LEN];
    const char *why = NULL;
    sqlite3_stmt *st;
    bool repaired = false;
    int64_t id;
    size_t i;
    json_t *u;
    int rc, err = 0;

    if (catalog_import_fields(o, &l) < 0)
        return catalog_fail(c, -EINVAL, PROV_OK, "line %zu: catalog fields missing or invalid",
                            lineno);
    r = record_from_json(o, &why);
    if (r == NULL)
        return catalog_fail(c, -EINVAL, PROV_OK, "line %zu: bad field %s", lineno, why);
    clean = catalog_record_clean(r, &repaired);
    catalog_record_hash(clean, hash);
    st = catalog_stmt(c, catalog_sql_import);
    if (st == NULL) {
        err = catalog_last_err(c);
        goto out;
    }
    catalog_record_bind(st, clean);
    catalog_bind_named_str(st, ":source", l.source);
    catalog_bind_named_str(st, ":key", l.key);
    sqlite3_bind_blob(st, sqlite3_bind_parameter_index(st, ":hash"), hash, CATALOG_HASH_LEN,
                      SQLITE_STATIC);
    catalog_bind_named_str(st, ":status", l.status);
    if (l.gone_since)
        catalog_bind_named_int(st, ":gone_since", l.gone_since);
    catalog_bind_named_int(st, ":first_seen", l.first_seen);
    catalog_bind_named_int(st, ":last_seen", l.last_seen);
    catalog_bind_named_int(st, ":version", l.version);
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc == SQLITE_CONSTRAINT_UNIQUE) {
        err = catalog_fail(c, -EINVAL, PROV_OK, "line %zu: key %s of %s appears twice", lineno,
                           l.key, l.source);
        goto out;
    }
    if (rc != SQLITE_DONE) {
        err = catalog_sqlfail(c, rc, "import record");
        goto out;
    }
    id = sqlite3_last_insert_rowid(c->db);
    err = catalog_record_write_parts(c, id, clean);
    json_array_foreach(l.urls, i, u)
    {
        if (err || !json_is_string(u) || json_string_value(u)[0] == '\0' ||
            strlen(json_string_value(u)) > CATALOG_KEY_MAX ||
            !catalog_text_ok(json_string_value(u)))
            continue;
        st = catalog_stmt(c, catalog_sql_import_alias);
        if (st == NULL) {
            err = catalog_last_err(c);
            break;
        }
        catalog_bind_str(st, 1, json_string_value(u));
        sqlite3_bind_int64(st, 2, id);
        sqlite3_bind_int64(st, 3, l.first_seen);
        err = catalog_step_done(c, st, "import URL");
    }
    if (err == 0) {
        st = catalog_stmt(c, catalog_sql_import_version);
        if (st == NULL) {
            err = catalog_last_err(c);
            goto out;
        }
        sqlite3_bind_int64(st, 1, id);
        sqlite3_bind_int64(st, 2, l.version);
        sqlite3_bind_int64(st, 3, catalog_now(c));
        err = catalog_step_done(c, st, "import version");
    }
out:
    record_free(clean);
    record_free(r);
    return err;
}

int catalog_import(struct catalog *c, FILE *in, size_t *count)
{
    char *line = NULL;
    size_t cap = 0, lineno = 0, n = 0;
    unsigned long budget;
    ssize_t len;
    sqlite3_stmt *st;
    bool own;
    int rc, err;

    if (count)
        *count = 0;
    catalog_clear_error(c);
    if (c->in_batch)
        return catalog_fail(c, -EALREADY, PROV_OK, "an import cannot run inside a batch");
    err = catalog_write_begin(c, &own);
    if (err)
        return err;
    st = catalog_stmt(c, catalog_sql_any);
    if (st == NULL)
        return catalog_write_end(c, own, catalog_last_err(c));
    rc = catalog_step_row(c, st, "check empty");
    if (rc != 0) {
        if (rc == 1)
            sqlite3_reset(st);
        return catalog_write_end(
            c, own, rc < 0 ? rc : catalog_fail(c, -EEXIST, PROV_OK, "the catalog is not empty"));
    }
    budget = c->budget;
    c->budget = 0; /* an import is as long as its input, by design */
    while (err == 0 && (len = getline(&line, &cap, in)) >= 0) {
        json_error_t jerr;
        json_t *o;

        lineno++;
        if (len > CATALOG_IMPORT_LINE_MAX) {
            err = catalog_fail(c, -EINVAL, PROV_OK, "line %zu: too long", lineno);
            break;
        }
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        if (len == 0)
            continue;
        o = json_loadb(line, (size_t)len, JSON_REJECT_DUPLICATES, &jerr);
        if (o == NULL) {
            err = catalog_fail(c, -EINVAL, PROV_OK, "line %zu: %s", lineno, jerr.text);
            break;
        }
        err = catalog_import_one(c, o, lineno);
        json_decref(o);
        if (err == 0)
            n++;
    }
    if (err == 0 && ferror(in))
        err = catalog_fail(c, -EIO, PROV_STORAGE_IO, "reading the import failed");
    free(line);
    c->budget = budget;
    err = catalog_write_end(c, own, err);
    if (err == 0 && count)
        *count = n;
    return err;
}
