/*
 * catalog_record: the storage form of a record. Cleans incoming records
 * (valid UTF-8 only, fields cut to their caps), hashes their normalised
 * fields, binds and reads the record columns, writes, replaces (only the
 * parts that changed) and removes the rows derived from a record
 * (citations with their numeric sheet range, people with folded names,
 * the full-text entry) and holds the normalisations
 * queries share. Owns only what it returns; statements come from the
 * handle's cache.
 */
#include "catalog_record.h"

#include "strbuf.h"
#include "text.h"
#include "xmalloc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The string fields of a record with their caps, in hash order. */
static const struct {
    const char *param; /* parameter name: the column name after a colon */
    size_t off;
    size_t max;
} catalog_str_fields[] = {
    {":record_id", offsetof(struct record, record_id), CATALOG_KEY_MAX},
    {":title", offsetof(struct record, title), CATALOG_FIELD_MAX},
    {":date", offsetof(struct record, date), CATALOG_ITEM_MAX},
    {":date_iso", offsetof(struct record, date_iso), 64},
    {":summary", offsetof(struct record, summary), CATALOG_FIELD_MAX},
    {":type", offsetof(struct record, type), CATALOG_ITEM_MAX},
    {":classification", offsetof(struct record, classification), CATALOG_ITEM_MAX},
    {":uploaded", offsetof(struct record, uploaded), 64},
    {":source_text", offsetof(struct record, source), CATALOG_FIELD_MAX},
    {":doc_text", offsetof(struct record, text), CATALOG_TEXT_MAX},
};

static const struct {
    const char *param;
    size_t off;
} catalog_list_fields[] = {
    {":languages", offsetof(struct record, languages)},
    {":original_archives", offsetof(struct record, original_archives)},
    {":funders", offsetof(struct record, funders)},
    {":subjects", offsetof(struct record, subjects)},
    {":people", offsetof(struct record, people)},
    {":places", offsetof(struct record, places)},
    {":contributors", offsetof(struct record, contributors)},
    {":translators", offsetof(struct record, translators)},
};

#define NELEM(a)        (sizeof(a) / sizeof((a)[0]))
#define STR_AT(r, off)  ((char **)((char *)(r) + (off)))
#define LIST_AT(r, off) ((struct strlist *)((char *)(r) + (off)))

char *catalog_clean_str(const char *s, size_t max, bool *repaired)
{
    size_t n;
    char *out;

    if (s == NULL)
        return NULL;
    n = strlen(s);
    if (text_utf8_valid(s, n)) {
        out = xstrdup(s);
    } else {
        out = text_utf8_sanitize(s, n);
        *repaired = true;
        n = strlen(out);
    }
    if (n > max) {
        /* Cut at a character boundary: back over continuation bytes. */
        while (max > 0 && ((unsigned char)out[max] & 0xc0) == 0x80)
            max--;
        out[max] = '\0';
        *repaired = true;
    }
    return out;
}

bool catalog_text_ok(const char *s)
{
    return text_utf8_valid(s, strlen(s));
}

static void catalog_clean_list(struct strlist *dst, const struct strlist *src, bool *repaired)
{
    size_t n = src->n;

    if (n > CATALOG_LIST_MAX) {
        n = CATALOG_LIST_MAX;
        *repaired = true;
    }
    for (size_t i = 0; i < n; i++)
        strlist_add_steal(dst, catalog_clean_str(src->v[i], CATALOG_ITEM_MAX, repaired));
}

struct record *catalog_record_clean(const struct record *r, bool *repaired)
{
    struct record *o = record_new();
    size_t nc = r->n_citations;

    o->url = catalog_clean_str(r->url, CATALOG_KEY_MAX, repaired);
    for (size_t i = 0; i < NELEM(catalog_str_fields); i++)
        *STR_AT(o, catalog_str_fields[i].off) = catalog_clean_str(
            *STR_AT(r, catalog_str_fields[i].off), catalog_str_fields[i].max, repaired);
    for (size_t i = 0; i < NELEM(catalog_list_fields); i++)
        catalog_clean_list(LIST_AT(o, catalog_list_fields[i].off),
                           LIST_AT(r, catalog_list_fields[i].off), repaired);
    if (nc > CATALOG_CITATIONS_MAX) {
        nc = CATALOG_CITATIONS_MAX;
        *repaired = true;
    }
    for (size_t i = 0; i < nc; i++) {
        const struct citation *s = &r->citations[i];
        struct citation c = {
            .archive = catalog_clean_str(s->archive, CATALOG_ITEM_MAX, repaired),
            .fund = catalog_clean_str(s->fund, CATALOG_ITEM_MAX, repaired),
            .inventory = catalog_clean_str(s->inventory, CATALOG_ITEM_MAX, repaired),
            .folder = catalog_clean_str(s->folder, CATALOG_ITEM_MAX, repaired),
            .file = catalog_clean_str(s->file, CATALOG_ITEM_MAX, repaired),
            .sheets = catalog_clean_str(s->sheets, CATALOG_ITEM_MAX, repaired),
            .text = catalog_clean_str(s->text, CATALOG_FIELD_MAX, repaired),
        };

        record_add_citation_steal(o, &c);
    }
    o->partial = r->partial;
    return o;
}

/* ---- content hash ------------------------------------------------------ */

/* Each value goes in as a tag, an 8-byte length (all ones for NULL) and
 * its bytes, so no two different records feed the same byte stream. */
static void catalog_hash_str(struct catalog_hash *h, char tag, const char *s)
{
    unsigned char len[8];
    uint64_t n = s ? strlen(s) : UINT64_MAX;

    for (int i = 0; i < 8; i++)
        len[i] = (unsigned char)(n >> (8 * i));
    catalog_hash_add(h, &tag, 1);
    catalog_hash_add(h, len, 8);
    if (s)
        catalog_hash_add(h, s, (size_t)n);
}

void catalog_record_hash(const struct record *r, unsigned char out[CATALOG_HASH_LEN])
{
    struct catalog_hash h;
    char count[24];

    catalog_hash_init(&h);
    for (size_t i = 0; i < NELEM(catalog_str_fields); i++)
        catalog_hash_str(&h, 's', *STR_AT(r, catalog_str_fields[i].off));
    for (size_t i = 0; i < NELEM(catalog_list_fields); i++) {
        const struct strlist *l = LIST_AT(r, catalog_list_fields[i].off);

        snprintf(count, sizeof(count), "%zu", l->n);
        catalog_hash_str(&h, 'l', count);
        for (size_t k = 0; k < l->n; k++)
            catalog_hash_str(&h, 'e', l->v[k]);
    }
    snprintf(count, sizeof(count), "%zu", r->n_citations);
    catalog_hash_str(&h, 'c', count);
    for (size_t i = 0; i < r->n_citations; i++) {
        const struct citation *c = &r->citations[i];

        catalog_hash_str(&h, 'a', c->archive);
        catalog_hash_str(&h, 'f', c->fund);
        catalog_hash_str(&h, 'i', c->inventory);
        catalog_hash_str(&h, 'p', c->folder);
        catalog_hash_str(&h, 'd', c->file);
        catalog_hash_str(&h, 'l', c->sheets);
        catalog_hash_str(&h, 't', c->text);
    }
    catalog_hash_final(&h, out);
}

/* ---- record columns ---------------------------------------------------- */

/* A list as a compact JSON array of strings, written directly rather
 * than through a jansson tree (one allocation instead of one per item):
 * the same text json_dumps(JSON_COMPACT) gives. The items are valid UTF-8
 * (the record is cleaned), so only quotes, backslashes and control
 * characters need escapes. */
static char *catalog_list_json(const struct strlist *l)
{
    static const char hex[] = "0123456789ABCDEF";
    struct strbuf b = STRBUF_INIT;

    strbuf_addc(&b, '[');
    for (size_t i = 0; i < l->n; i++) {
        const unsigned char *p = (const unsigned char *)l->v[i];

        if (i)
            strbuf_addc(&b, ',');
        strbuf_addc(&b, '"');
        while (*p) {
            const unsigned char *run = p;

            while (*p >= 0x20 && *p != '"' && *p != '\\')
                p++;
            strbuf_add(&b, run, (size_t)(p - run));
            if (*p == '\0')
                break;
            strbuf_addc(&b, '\\');
            switch (*p) {
            case '"':
            case '\\':
                strbuf_addc(&b, (char)*p);
                break;
            case '\b':
                strbuf_addc(&b, 'b');
                break;
            case '\f':
                strbuf_addc(&b, 'f');
                break;
            case '\n':
                strbuf_addc(&b, 'n');
                break;
            case '\r':
                strbuf_addc(&b, 'r');
                break;
            case '\t':
                strbuf_addc(&b, 't');
                break;
            default:
                strbuf_adds(&b, "u00");
                strbuf_addc(&b, hex[*p >> 4]);
                strbuf_addc(&b, hex[*p & 15]);
                break;
            }
            p++;
        }
        strbuf_addc(&b, '"');
    }
    strbuf_addc(&b, ']');
    return strbuf_steal(&b);
}

static void catalog_list_from_json(struct strlist *l, const char *s)
{
    json_t *a, *e;
    size_t i;

    if (s == NULL)
        return;
    a = json_loads(s, 0, NULL);
    if (a == NULL)
        return;
    json_array_foreach(a, i, e)
    {
        if (json_is_string(e))
            strlist_add(l, json_string_value(e));
    }
    json_decref(a);
}

void catalog_record_bind(sqlite3_stmt *st, const struct record *r)
{
    catalog_bind_named_str(st, ":url", r->url);
    for (size_t i = 0; i < NELEM(catalog_str_fields); i++)
        catalog_bind_named_str(st, catalog_str_fields[i].param,
                               *STR_AT(r, catalog_str_fields[i].off));
    for (size_t i = 0; i < NELEM(catalog_list_fields); i++) {
        const struct strlist *l = LIST_AT(r, catalog_list_fields[i].off);
        int idx = sqlite3_bind_parameter_index(st, catalog_list_fields[i].param);

        if (idx <= 0)
            continue;
        /* Most lists are empty: their text needs no allocation. */
        if (l->n == 0)
            sqlite3_bind_text(st, idx, "[]", 2, SQLITE_STATIC);
        else
            sqlite3_bind_text(st, idx, catalog_list_json(l), -1, free);
    }
    catalog_bind_named_int(st, ":partial", r->partial ? 1 : 0);
}

struct record *catalog_record_from_row(sqlite3_stmt *st, int first)
{
    struct record *r = record_new();
    int i = first;

    r->record_id = catalog_col_dup(st, i++);
    r->url = catalog_col_dup(st, i++);
    r->title = catalog_col_dup(st, i++);
    r->date = catalog_col_dup(st, i++);
    r->date_iso = catalog_col_dup(st, i++);
    r->summary = catalog_col_dup(st, i++);
    r->type = catalog_col_dup(st, i++);
    catalog_list_from_json(&r->languages, (const char *)sqlite3_column_text(st, i++));
    catalog_list_from_json(&r->original_archives, (const char *)sqlite3_column_text(st, i++));
    r->classification = catalog_col_dup(st, i++);
    r->uploaded = catalog_col_dup(st, i++);
    catalog_list_from_json(&r->funders, (const char *)sqlite3_column_text(st, i++));
    catalog_list_from_json(&r->subjects, (const char *)sqlite3_column_text(st, i++));
    catalog_list_from_json(&r->people, (const char *)sqlite3_column_text(st, i++));
    catalog_list_from_json(&r->places, (const char *)sqlite3_column_text(st, i++));
    r->source = catalog_col_dup(st, i++);
    catalog_list_from_json(&r->contributors, (const char *)sqlite3_column_text(st, i++));
    catalog_list_from_json(&r->translators, (const char *)sqlite3_column_text(st, i++));
    r->text = catalog_col_dup(st, i++);
    r->partial = sqlite3_column_int(st, i++) != 0;
    return r;
}

static const char catalog_sql_load[] =
    "SELECT source, key, status, first_seen, last_seen, gone_since, version, " CATALOG_RECORD_COLS
    " FROM records WHERE id = ?1";
/* The same without the document text, which is the bulk of a row. */
static const char catalog_sql_load_notext[] =
    "SELECT source, key, status, first_seen, last_seen, gone_since, version, record_id, url,"
    " title, date, date_iso, summary, type, languages, original_archives, classification,"
    " uploaded, funders, subjects, people, places, source_text, contributors, translators,"
    " NULL, partial FROM records WHERE id = ?1";
static const char catalog_sql_citations[] =
    "SELECT archive, fund, inventory, folder, file, sheets, text FROM citations"
    " WHERE record = ?1 ORDER BY pos";

int catalog_item_load(struct catalog *c, int64_t id, bool text, struct catalog_item *it)
{
    sqlite3_stmt *st = catalog_stmt(c, text ? catalog_sql_load : catalog_sql_load_notext);
    int rc;

    memset(it, 0, sizeof(*it));
    if (st == NULL)
        return catalog_last_err(c);
    sqlite3_bind_int64(st, 1, id);
    rc = catalog_step_row(c, st, "load record");
    if (rc < 0)
        return rc;
    if (rc == 0)
        return catalog_fail(c, -ENOENT, PROV_OK, "no record %lld", (long long)id);
    it->id = id;
    it->source = catalog_col_dup(st, 0);
    it->key = catalog_col_dup(st, 1);
    it->gone = strcmp((const char *)sqlite3_column_text(st, 2), "gone") == 0;
    it->first_seen = sqlite3_column_int64(st, 3);
    it->last_seen = sqlite3_column_int64(st, 4);
    it->gone_since = sqlite3_column_int64(st, 5);
    it->versions = sqlite3_column_int64(st, 6);
    it->record = catalog_record_from_row(st, 7);
    sqlite3_reset(st);
    st = catalog_stmt(c, catalog_sql_citations);
    if (st == NULL)
        goto fail;
    sqlite3_bind_int64(st, 1, id);
    while ((rc = catalog_step_row(c, st, "load citations")) == 1) {
        struct citation ct = {
            .archive = catalog_col_dup(st, 0),
            .fund = catalog_col_dup(st, 1),
            .inventory = catalog_col_dup(st, 2),
            .folder = catalog_col_dup(st, 3),
            .file = catalog_col_dup(st, 4),
            .sheets = catalog_col_dup(st, 5),
            .text = catalog_col_dup(st, 6),
        };

        record_add_citation_steal(it->record, &ct);
    }
    if (rc < 0)
        goto fail;
    return 0;
fail:
    catalog_item_clear(it);
    return catalog_last_err(c);
}

void catalog_item_clear(struct catalog_item *it)
{
    free(it->source);
    free(it->key);
    record_free(it->record);
    memset(it, 0, sizeof(*it));
}

/* ---- derived rows ------------------------------------------------------ */

static const char catalog_sql_cit_insert[] =
    "INSERT INTO citations(record, pos, archive, archive_norm, fund, inventory, folder, file,"
    " sheets, sheet_first, sheet_last, text) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10,"
    " ?11, ?12)";
static const char catalog_sql_person_insert[] =
    "INSERT INTO people(record, role, pos, name, name_fold) VALUES(?1, ?2, ?3, ?4, ?5)";
static const char catalog_sql_fts_insert[] =
    "INSERT INTO records_fts(rowid, title, summary, source_text, doc_text)"
    " VALUES(?1, ?2, ?3, ?4, ?5)";
static const char catalog_sql_fts_delete[] =
    "INSERT INTO records_fts(records_fts, rowid, title, summary, source_text, doc_text)"
    " VALUES('delete', ?1, ?2, ?3, ?4, ?5)";
static const char catalog_sql_cit_delete[] = "DELETE FROM citations WHERE record = ?1";
static const char catalog_sql_role_delete[] = "DELETE FROM people WHERE record = ?1 AND role = ?2";

static int catalog_write_citations(struct catalog *c, int64_t id, const struct record *r)
{
    for (size_t i = 0; i < r->n_citations; i++) {
        const struct citation *ct = &r->citations[i];
        sqlite3_stmt *st = catalog_stmt(c, catalog_sql_cit_insert);
        char *norm = ct->archive ? catalog_archive_norm(ct->archive) : NULL;
        int64_t first, last;
        int err;

        if (st == NULL) {
            free(norm);
            return catalog_last_err(c);
        }
        sqlite3_bind_int64(st, 1, id);
        sqlite3_bind_int64(st, 2, (int64_t)i);
        catalog_bind_str(st, 3, ct->archive);
        catalog_bind_str(st, 4, norm);
        catalog_bind_str(st, 5, ct->fund);
        catalog_bind_str(st, 6, ct->inventory);
        catalog_bind_str(st, 7, ct->folder);
        catalog_bind_str(st, 8, ct->file);
        catalog_bind_str(st, 9, ct->sheets);
        if (catalog_sheets_range(ct->sheets, &first, &last)) {
            sqlite3_bind_int64(st, 10, first);
            sqlite3_bind_int64(st, 11, last);
        }
        catalog_bind_str(st, 12, ct->text);
        err = catalog_step_done(c, st, "store citation");
        free(norm);
        if (err)
            return err;
    }
    return 0;
}

static int catalog_write_people(struct catalog *c, int64_t id, int role, const struct strlist *l)
{
    struct strlist seen = {0};
    int err = 0;

    for (size_t i = 0; i < l->n && err == 0; i++) {
        char *fold = catalog_name_fold(l->v[i]);
        sqlite3_stmt *st;

        /* A name listed twice in one role is one person: the name index
         * then holds each record once per name. */
        if (fold[0] == '\0' || strlist_contains(&seen, fold)) {
            free(fold);
            continue;
        }
        st = catalog_stmt(c, catalog_sql_person_insert);
        if (st == NULL) {
            free(fold);
            err = catalog_last_err(c);
            break;
        }
        sqlite3_bind_int64(st, 1, id);
        sqlite3_bind_int(st, 2, role);
        sqlite3_bind_int64(st, 3, (int64_t)i);
        catalog_bind_str(st, 4, l->v[i]);
        catalog_bind_str(st, 5, fold);
        err = catalog_step_done(c, st, "store person");
        strlist_add_steal(&seen, fold);
    }
    strlist_clear(&seen);
    return err;
}

/* Queued full-text bytes after which the queue is applied at once, so a
 * long transaction (an import) does not hold every text in memory. */
#define CATALOG_FTS_QUEUE_BYTES (8 * 1024 * 1024)

static size_t catalog_len(const char *s)
{
    return s ? strlen(s) : 0;
}

static int catalog_fts_queue(struct catalog *c, int64_t id, const struct record *r, bool del)
{
    struct catalog_fts_op *op;

    if (c->n_fts == c->cap_fts) {
        c->cap_fts = c->cap_fts ? 2 * c->cap_fts : 64;
        c->fts = xreallocarray(c->fts, c->cap_fts, sizeof(*c->fts));
    }
    op = &c->fts[c->n_fts++];
    op->id = id;
    op->del = del;
    op->title = xstrdup_or_null(r->title);
    op->summary = xstrdup_or_null(r->summary);
    op->source = xstrdup_or_null(r->source);
    op->text = xstrdup_or_null(r->text);
    c->fts_bytes += catalog_len(r->title) + catalog_len(r->summary) + catalog_len(r->source) +
                    catalog_len(r->text);
    return c->fts_bytes > CATALOG_FTS_QUEUE_BYTES ? catalog_fts_flush(c) : 0;
}

void catalog_fts_discard(struct catalog *c)
{
    for (size_t i = 0; i < c->n_fts; i++) {
        free(c->fts[i].title);
        free(c->fts[i].summary);
        free(c->fts[i].source);
        free(c->fts[i].text);
    }
    c->n_fts = 0;
    c->fts_bytes = 0;
}

int catalog_fts_flush(struct catalog *c)
{
    int err = 0;

    for (size_t i = 0; i < c->n_fts && err == 0; i++) {
        const struct catalog_fts_op *op = &c->fts[i];
        sqlite3_stmt *st =
            catalog_stmt(c, op->del ? catalog_sql_fts_delete : catalog_sql_fts_insert);

        if (st == NULL) {
            err = catalog_last_err(c);
            break;
        }
        sqlite3_bind_int64(st, 1, op->id);
        catalog_bind_str(st, 2, op->title);
        catalog_bind_str(st, 3, op->summary);
        catalog_bind_str(st, 4, op->source);
        catalog_bind_str(st, 5, op->text);
        err = catalog_step_done(c, st, "full-text index");
    }
    /* On failure catalog_sqlfail() has rolled the transaction back and
     * discarded the queue already. */
    catalog_fts_discard(c);
    return err;
}

int catalog_record_write_parts(struct catalog *c, int64_t id, const struct record *r)
{
    int err;

    err = catalog_write_citations(c, id, r);
    if (err == 0)
        err = catalog_write_people(c, id, CATALOG_ROLE_CONTRIBUTOR, &r->contributors);
    if (err == 0)
        err = catalog_write_people(c, id, CATALOG_ROLE_TRANSLATOR, &r->translators);
    if (err == 0)
        err = catalog_fts_queue(c, id, r, false);
    return err;
}

static bool catalog_str_eq(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

static bool catalog_list_eq(const struct strlist *a, const struct strlist *b)
{
    if (a->n != b->n)
        return false;
    for (size_t i = 0; i < a->n; i++)
        if (!catalog_str_eq(a->v[i], b->v[i]))
            return false;
    return true;
}

static bool catalog_citations_eq(const struct record *a, const struct record *b)
{
    if (a->n_citations != b->n_citations)
        return false;
    for (size_t i = 0; i < a->n_citations; i++) {
        const struct citation *x = &a->citations[i], *y = &b->citations[i];

        if (!catalog_str_eq(x->archive, y->archive) || !catalog_str_eq(x->fund, y->fund) ||
            !catalog_str_eq(x->inventory, y->inventory) || !catalog_str_eq(x->folder, y->folder) ||
            !catalog_str_eq(x->file, y->file) || !catalog_str_eq(x->sheets, y->sheets) ||
            !catalog_str_eq(x->text, y->text))
            return false;
    }
    return true;
}

/* Run a delete statement sql for record id (and role, when not 0). */
static int catalog_delete_rows(struct catalog *c, const char *sql, int64_t id, int role)
{
    sqlite3_stmt *st = catalog_stmt(c, sql);

    if (st == NULL)
        return catalog_last_err(c);
    sqlite3_bind_int64(st, 1, id);
    if (role)
        sqlite3_bind_int(st, 2, role);
    return catalog_step_done(c, st, "remove old rows");
}

int catalog_record_replace_parts(struct catalog *c, int64_t id, const struct record *old,
                                 const struct record *r)
{
    const struct strlist *roles[2][2] = {{&old->contributors, &r->contributors},
                                         {&old->translators, &r->translators}};
    int err = 0;

    if (!catalog_citations_eq(old, r)) {
        err = catalog_delete_rows(c, catalog_sql_cit_delete, id, 0);
        if (err == 0)
            err = catalog_write_citations(c, id, r);
    }
    for (int k = 0; k < 2 && err == 0; k++) {
        int role = k == 0 ? CATALOG_ROLE_CONTRIBUTOR : CATALOG_ROLE_TRANSLATOR;

        if (catalog_list_eq(roles[k][0], roles[k][1]))
            continue;
        err = catalog_delete_rows(c, catalog_sql_role_delete, id, role);
        if (err == 0)
            err = catalog_write_people(c, id, role, roles[k][1]);
    }
    if (err == 0 &&
        !(catalog_str_eq(old->title, r->title) && catalog_str_eq(old->summary, r->summary) &&
          catalog_str_eq(old->source, r->source) && catalog_str_eq(old->text, r->text))) {
        err = catalog_fts_queue(c, id, old, true);
        if (err == 0)
            err = catalog_fts_queue(c, id, r, false);
    }
    return err;
}

/* ---- normalisations ---------------------------------------------------- */

char *catalog_archive_norm(const char *archive)
{
    char *f = text_fold(archive);
    size_t o = 0;

    for (size_t i = 0; f[i]; i++)
        if (f[i] != ' ' && f[i] != '.' && f[i] != '\t')
            f[o++] = f[i];
    f[o] = '\0';
    return f;
}

char *catalog_name_fold(const char *name)
{
    char *sq = text_squash_ws(name);
    char *f = text_fold(sq);

    free(sq);
    return f;
}

/* Read a number at *p (digits only), saturating; false when none. */
static bool catalog_num(const char **p, int64_t *n)
{
    const char *s = *p;
    int64_t v = 0;

    if (*s < '0' || *s > '9')
        return false;
    while (*s >= '0' && *s <= '9') {
        if (v < INT64_MAX / 10 - 10)
            v = v * 10 + (*s - '0');
        s++;
    }
    *p = s;
    *n = v;
    return true;
}

/* Next range in a sheets string: "12", "12-14", "5-7ob", "18–21"; the
 * scan moves past it. False when no number is left. */
static bool catalog_next_range(const char **p, int64_t *a, int64_t *b)
{
    const char *s = *p;

    while (*s && (*s < '0' || *s > '9'))
        s++;
    if (!catalog_num(&s, a))
        return false;
    *b = *a;
    if (s[0] == 'o' && s[1] == 'b')
        s += 2;
    while (*s == ' ')
        s++;
    if (*s == '-' || strncmp(s, "\xe2\x80\x93", 3) == 0 || strncmp(s, "\xe2\x80\x94", 3) == 0) {
        s += *s == '-' ? 1 : 3;
        while (*s == ' ')
            s++;
        if (!catalog_num(&s, b))
            *b = *a;
    }
    if (*b < *a) {
        int64_t t = *a;

        *a = *b;
        *b = t;
    }
    *p = s;
    return true;
}

bool catalog_sheets_range(const char *sheets, int64_t *first, int64_t *last)
{
    const char *p = sheets;
    int64_t a, b;
    bool any = false;

    if (sheets == NULL)
        return false;
    while (catalog_next_range(&p, &a, &b)) {
        if (!any || a < *first)
            *first = a;
        if (!any || b > *last)
            *last = b;
        any = true;
    }
    return any;
}

bool catalog_sheets_has(const char *sheets, int64_t n)
{
    const char *p = sheets;
    int64_t a, b;

    if (sheets == NULL)
        return false;
    while (catalog_next_range(&p, &a, &b))
        if (a <= n && n <= b)
            return true;
    return false;
}

bool catalog_sheets_overlap(const char *x, const char *y)
{
    const char *p = x;
    int64_t a, b;

    if (x == NULL || y == NULL)
        return false;
    while (catalog_next_range(&p, &a, &b)) {
        const char *q = y;
        int64_t c, d;

        while (catalog_next_range(&q, &c, &d))
            if (a <= d && c <= b)
                return true;
    }
    return false;
}

bool catalog_sheet_parse(const char *s, int64_t *n)
{
    while (*s == ' ')
        s++;
    return catalog_num(&s, n);
}

static void catalog_fn_fold(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    const char *s = (const char *)sqlite3_value_text(argv[0]);
    char *f;

    (void)argc;
    if (s == NULL) {
        sqlite3_result_null(ctx);
        return;
    }
    f = catalog_name_fold(s);
    sqlite3_result_text(ctx, f, -1, free);
}

static void catalog_fn_sheet_has(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    sqlite3_result_int(ctx, catalog_sheets_has((const char *)sqlite3_value_text(argv[0]),
                                               sqlite3_value_int64(argv[1])));
}

static void catalog_fn_overlap(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    sqlite3_result_int(ctx, catalog_sheets_overlap((const char *)sqlite3_value_text(argv[0]),
                                                   (const char *)sqlite3_value_text(argv[1])));
}

int catalog_record_register_functions(sqlite3 *db)
{
    /* DIRECTONLY: usable in our statements, never from a schema object a
     * tampered file could carry. */
    const int flags = SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_DIRECTONLY;
    int rc;

    rc = sqlite3_create_function(db, "provd_fold", 1, flags, NULL, catalog_fn_fold, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_create_function(db, "provd_sheet_has", 2, flags, NULL, catalog_fn_sheet_has,
                                     NULL, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_create_function(db, "provd_sheets_overlap", 2, flags, NULL, catalog_fn_overlap,
                                     NULL, NULL);
    return rc;
}

/* ---- times ------------------------------------------------------------- */

void catalog_format_time(int64_t t, char *buf, size_t len)
{
    time_t tt = (time_t)t;
    struct tm tm;

    if (gmtime_r(&tt, &tm) == NULL || strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(buf, len, "%lld", (long long)t);
}

bool catalog_parse_time(const char *s, int64_t *t)
{
    struct tm tm = {0};
    char z = 0;
    int n = 0;

    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%c%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
               &tm.tm_min, &tm.tm_sec, &z, &n) != 7 ||
        z != 'Z' || s[n] != '\0')
        return false;
    if (tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 ||
        tm.tm_min > 59 || tm.tm_sec > 60)
        return false;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    *t = (int64_t)timegm(&tm);
    return true;
}
