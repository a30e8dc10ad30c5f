/*
 * catalog_upsert: the harvest's writes. One extracted record is stored
 * under its identity (source, key) with dedup by content hash: new, changed
 * (a new version listing each changed field with its old and new value),
 * unchanged (last seen touched) or kept (a partial parse never replaces a
 * complete record). 304 replies touch, 404/410 replies count towards
 * "gone", other failures are recorded on the URL only. Every call also
 * writes the URL's alias and fetch state, the run's counters and its
 * frontier entry, all in the caller's batch (or a transaction of its own).
 *
 * Owns nothing past a call; statements come from the handle's cache.
 */
#include "catalog_db.h"
#include "catalog_record.h"
#include "catalog_runs.h"

#include "record_json.h"
#include "xmalloc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* 404/410 replies in a row that make a record gone. */
#define CATALOG_GONE_AFTER 2

static const char catalog_sql_find[] =
    "SELECT id, hash, status, partial, version FROM records WHERE key = ?1 AND source = ?2";
static const char catalog_sql_insert[] =
    "INSERT INTO records(source, key, " CATALOG_RECORD_COLS ", hash, status, misses,"
    " first_seen, last_seen, changed, version) VALUES(:source, :key, :record_id, :url, :title,"
    " :date, :date_iso, :summary, :type, :languages, :original_archives, :classification,"
    " :uploaded, :funders, :subjects, :people, :places, :source_text, :contributors,"
    " :translators, :doc_text, :partial, :hash, 'active', 0, :now, :now, :now, 1)";
static const char catalog_sql_update[] =
    "UPDATE records SET record_id = :record_id, title = :title, date = :date,"
    " date_iso = :date_iso, summary = :summary, type = :type, languages = :languages,"
    " original_archives = :original_archives, classification = :classification,"
    " uploaded = :uploaded, funders = :funders, subjects = :subjects, people = :people,"
    " places = :places, source_text = :source_text, contributors = :contributors,"
    " translators = :translators, doc_text = :doc_text, partial = :partial, hash = :hash,"
    " version = version + 1, changed = :now, last_seen = :now, misses = 0,"
    " status = 'active', gone_since = NULL WHERE id = :id";
static const char catalog_sql_touch[] =
    "UPDATE records SET last_seen = ?2, misses = 0, status = 'active', gone_since = NULL,"
    " partial = partial AND ?3, hash = ?4 WHERE id = ?1";
static const char catalog_sql_version[] =
    "INSERT INTO versions(record, version, at, run, event, changes)"
    " VALUES(?1, ?2, ?3, ?4, ?5, ?6)";
static const char catalog_sql_alias[] =
    "INSERT INTO urls(url, record, first_seen) VALUES(?1, ?2, ?3)"
    " ON CONFLICT(url) DO UPDATE SET record = excluded.record"
    " WHERE record IS NOT excluded.record";
/* The record of source ?2 that URL ?1 leads to: the one its fetch state
 * names, else the one the URL is an alias of when that record is the
 * source's (aliases are per URL, fetch state per source and URL). */
static const char catalog_sql_by_url[] =
    "SELECT r.id, r.status, r.misses FROM records r WHERE r.id = coalesce("
    "(SELECT record FROM fetch_state WHERE source = ?2 AND url = ?1),"
    "(SELECT o.id FROM records o WHERE o.id = (SELECT record FROM urls WHERE url = ?1)"
    " AND +o.source = ?2))";
static const char catalog_sql_seen[] =
    "UPDATE records SET last_seen = ?2, misses = 0, status = 'active', gone_since = NULL"
    " WHERE id = ?1";
static const char catalog_sql_miss[] =
    "UPDATE records SET misses = ?2, status = ?3,"
    " gone_since = CASE WHEN ?3 = 'gone' THEN coalesce(gone_since, ?4) END WHERE id = ?1";
/* Fetch state is per (source, URL); its record is the source's record
 * that the URL is an alias of, which a store has just written. Written as
 * lookups by key only (the unary + keeps records_status out), so that the
 * planner weighs no index and PRAGMA optimize finds nothing to analyse. */
#define CATALOG_FETCH_RECORD                                                                       \
    "(SELECT r.id FROM records r WHERE r.id = (SELECT record FROM urls WHERE url = :url)"          \
    " AND +r.source = :source)"
/* After a store the record is known (:record, the one the URL's alias
 * has just been set to): no need to look it up as the others do. */
static const char catalog_sql_fetch_ok[] =
    "INSERT INTO fetch_state(url, first_seen, source, record, etag, last_modified, last_status,"
    " failures, next_due, last_attempt, last_success)"
    " VALUES(:url, :now, :source, :record, :etag, :lm, :status, 0, :due, :now, :now)"
    " ON CONFLICT(source, url) DO UPDATE SET record = excluded.record, etag = excluded.etag,"
    " last_modified = excluded.last_modified, last_status = excluded.last_status, failures = 0,"
    " next_due = excluded.next_due, last_attempt = excluded.last_attempt,"
    " last_success = excluded.last_success, error_category = NULL, error_message = NULL";
/* A 304 may leave the validators out: the stored ones stay valid then. */
static const char catalog_sql_fetch_304[] =
    "INSERT INTO fetch_state(url, first_seen, source, record, etag, last_modified, last_status,"
    " failures, next_due, last_attempt, last_success)"
    " VALUES(:url, :now, :source, " CATALOG_FETCH_RECORD ", :etag, :lm, 304, 0, :due, :now,"
    " :now)"
    " ON CONFLICT(source, url) DO UPDATE SET record = coalesce(record, excluded.record),"
    " etag = coalesce(excluded.etag, etag),"
    " last_modified = coalesce(excluded.last_modified, last_modified), last_status = 304,"
    " failures = 0, next_due = excluded.next_due, last_attempt = excluded.last_attempt,"
    " last_success = excluded.last_success, error_category = NULL, error_message = NULL";
static const char catalog_sql_fetch_fail[] =
    "INSERT INTO fetch_state(url, first_seen, source, record, last_status, failures, next_due,"
    " last_attempt, error_category, error_message)"
    " VALUES(:url, :now, :source, " CATALOG_FETCH_RECORD ", :status, 1, :due, :now, :cat, :msg)"
    " ON CONFLICT(source, url) DO UPDATE SET record = coalesce(record, excluded.record),"
    " last_status = excluded.last_status, failures = failures + 1,"
    " next_due = excluded.next_due, last_attempt = excluded.last_attempt,"
    " error_category = excluded.error_category, error_message = excluded.error_message";

/* The cleaned strings of a catalog_page, and the record stored from it
 * (0 until then). */
struct catalog_pg {
    char *source, *url, *etag, *last_modified;
    int64_t record;
};

static void catalog_pg_clear(struct catalog_pg *p)
{
    free(p->source);
    free(p->url);
    free(p->etag);
    free(p->last_modified);
}

/* Check and clean pg; url_required says whether pg->url must be set. */
static int catalog_pg_clean(struct catalog *c, const struct catalog_page *pg, bool url_required,
                            struct catalog_pg *out)
{
    bool repaired = false;

    memset(out, 0, sizeof(*out));
    if (pg == NULL || pg->source == NULL || pg->source[0] == '\0')
        return catalog_fail(c, -EINVAL, PROV_OK, "a source name is required");
    if (url_required && (pg->url == NULL || pg->url[0] == '\0'))
        return catalog_fail(c, -EINVAL, PROV_OK, "a URL is required");
    if ((pg->url && strlen(pg->url) > CATALOG_KEY_MAX) || strlen(pg->source) > CATALOG_ITEM_MAX)
        return catalog_fail(c, -EINVAL, PROV_OK, "URL or source name too long");
    out->source = catalog_clean_str(pg->source, CATALOG_ITEM_MAX, &repaired);
    out->url =
        pg->url && pg->url[0] ? catalog_clean_str(pg->url, CATALOG_KEY_MAX, &repaired) : NULL;
    out->etag = catalog_clean_str(pg->etag, CATALOG_ITEM_MAX, &repaired);
    out->last_modified = catalog_clean_str(pg->last_modified, CATALOG_ITEM_MAX, &repaired);
    return 0;
}

static int catalog_fetch_write(struct catalog *c, const char *sql, const struct catalog_pg *p,
                               const struct catalog_page *pg, int status, enum prov_category cat,
                               const char *msg)
{
    sqlite3_stmt *st = catalog_stmt(c, sql);

    if (st == NULL)
        return catalog_last_err(c);
    catalog_bind_named_str(st, ":url", p->url);
    catalog_bind_named_str(st, ":source", p->source);
    catalog_bind_named_str(st, ":etag", p->etag);
    catalog_bind_named_str(st, ":lm", p->last_modified);
    catalog_bind_named_int(st, ":status", status);
    catalog_bind_named_int(st, ":due", pg->next_due);
    catalog_bind_named_int(st, ":now", catalog_now(c));
    catalog_bind_named_str(st, ":cat", cat == PROV_OK ? NULL : prov_category_name(cat));
    catalog_bind_named_str(st, ":msg", msg);
    if (p->record)
        catalog_bind_named_int(st, ":record", p->record);
    return catalog_step_done(c, st, "store fetch state");
}

static int catalog_alias(struct catalog *c, const char *url, int64_t id)
{
    sqlite3_stmt *st;

    if (url == NULL || url[0] == '\0')
        return 0;
    st = catalog_stmt(c, catalog_sql_alias);
    if (st == NULL)
        return catalog_last_err(c);
    catalog_bind_str(st, 1, url);
    sqlite3_bind_int64(st, 2, id);
    sqlite3_bind_int64(st, 3, catalog_now(c));
    return catalog_step_done(c, st, "store URL alias");
}

/* The changes between two versions of a record as a JSON array text;
 * *n gets the number of changed fields. */
static char *catalog_diff(const struct record *old, const struct record *new, size_t *n)
{
    json_t *o = record_to_json(old, RECORD_JSON_TEXT);
    json_t *w = record_to_json(new, RECORD_JSON_TEXT);
    json_t *changes = json_array(), *v;
    const char *key;
    char *s;

    json_object_foreach(w, key, v)
    {
        json_t *ov = json_object_get(o, key);

        if (strcmp(key, "url") == 0 || strcmp(key, "partial") == 0)
            continue;
        if (ov == NULL)
            ov = json_null();
        if (json_equal(ov, v))
            continue;
        json_array_append_new(changes,
                              json_pack("{s:s, s:O, s:O}", "field", key, "old", ov, "new", v));
    }
    *n = json_array_size(changes);
    s = json_dumps(changes, JSON_COMPACT);
    json_decref(changes);
    json_decref(o);
    json_decref(w);
    return s ? s : xstrdup("[]");
}

static int catalog_version_add(struct catalog *c, int64_t id, int64_t version, int64_t run,
                               const char *event, const char *changes)
{
    sqlite3_stmt *st = catalog_stmt(c, catalog_sql_version);

    if (st == NULL)
        return catalog_last_err(c);
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, version);
    sqlite3_bind_int64(st, 3, catalog_now(c));
    if (run)
        sqlite3_bind_int64(st, 4, run);
    catalog_bind_str(st, 5, event);
    catalog_bind_str(st, 6, changes);
    return catalog_step_done(c, st, "store version");
}

static int catalog_insert(struct catalog *c, const struct catalog_pg *p, const char *key,
                          const struct record *r, const unsigned char *hash, int64_t *id)
{
    sqlite3_stmt *st = catalog_stmt(c, catalog_sql_insert);
    int err;

    if (st == NULL)
        return catalog_last_err(c);
    catalog_record_bind(st, r);
    catalog_bind_named_str(st, ":source", p->source);
    catalog_bind_named_str(st, ":key", key);
    sqlite3_bind_blob(st, sqlite3_bind_parameter_index(st, ":hash"), hash, CATALOG_HASH_LEN,
                      SQLITE_STATIC);
    catalog_bind_named_int(st, ":now", catalog_now(c));
    err = catalog_step_done(c, st, "store record");
    if (err)
        return err;
    *id = sqlite3_last_insert_rowid(c->db);
    return catalog_record_write_parts(c, *id, r);
}

/* Replace the stored record id (version old_version) by r, keeping the
 * old values in a new version. */
static int catalog_change(struct catalog *c, int64_t id, int64_t run, const struct record *r,
                          const unsigned char *hash, int64_t old_version, bool *changed)
{
    struct catalog_item old;
    sqlite3_stmt *st;
    char *changes = NULL;
    size_t n = 0;
    int err;

    err = catalog_item_load(c, id, true, &old);
    if (err)
        return err == -ENOENT ? catalog_fail(c, -EPROTO, PROV_INTERNAL, "record vanished") : err;
    changes = catalog_diff(old.record, r, &n);
    *changed = n > 0;
    if (n == 0) {
        /* Same fields under a different hash (the hashed form changed
         * between provd versions): nothing to record, only the hash. */
        st = catalog_stmt(c, catalog_sql_touch);
        if (st == NULL) {
            err = catalog_last_err(c);
            goto out;
        }
        sqlite3_bind_int64(st, 1, id);
        sqlite3_bind_int64(st, 2, catalog_now(c));
        sqlite3_bind_int(st, 3, r->partial);
        sqlite3_bind_blob(st, 4, hash, CATALOG_HASH_LEN, SQLITE_STATIC);
        err = catalog_step_done(c, st, "touch record");
        goto out;
    }
    st = catalog_stmt(c, catalog_sql_update);
    if (st == NULL) {
        err = catalog_last_err(c);
        goto out;
    }
    catalog_record_bind(st, r);
    sqlite3_bind_blob(st, sqlite3_bind_parameter_index(st, ":hash"), hash, CATALOG_HASH_LEN,
                      SQLITE_STATIC);
    catalog_bind_named_int(st, ":now", catalog_now(c));
    catalog_bind_named_int(st, ":id", id);
    err = catalog_step_done(c, st, "update record");
    /* Only the derived rows whose fields changed are rewritten: a new
     * date must not cost a new full-text entry. */
    if (err == 0)
        err = catalog_record_replace_parts(c, id, old.record, r);
    if (err == 0)
        err = catalog_version_add(c, id, old_version + 1, run, "changed", changes);
out:
    free(changes);
    catalog_item_clear(&old);
    return err;
}

/* The body of catalog_upsert(), inside the transaction. */
static int catalog_upsert_tx(struct catalog *c, const struct catalog_pg *p, const char *key,
                             int64_t run, const struct record *r, struct catalog_upsert_result *res)
{
    unsigned char hash[CATALOG_HASH_LEN];
    sqlite3_stmt *st;
    enum catalog_counter counter;
    int rc, err;

    catalog_record_hash(r, hash);
    st = catalog_stmt(c, catalog_sql_find);
    if (st == NULL)
        return catalog_last_err(c);
    catalog_bind_str(st, 1, key);
    catalog_bind_str(st, 2, p->source);
    rc = catalog_step_row(c, st, "find record");
    if (rc < 0)
        return rc;
    if (rc == 0) {
        err = catalog_insert(c, p, key, r, hash, &res->id);
        if (err == 0)
            err = catalog_version_add(c, res->id, 1, run, "created", NULL);
        res->outcome = CATALOG_NEW;
        res->version = 1;
        counter = CATALOG_COUNT_NEW;
    } else {
        bool same = sqlite3_column_bytes(st, 1) == CATALOG_HASH_LEN &&
                    memcmp(sqlite3_column_blob(st, 1), hash, CATALOG_HASH_LEN) == 0;
        bool stored_partial = sqlite3_column_int(st, 3) != 0;

        res->id = sqlite3_column_int64(st, 0);
        res->revived = strcmp((const char *)sqlite3_column_text(st, 2), "gone") == 0;
        res->version = sqlite3_column_int64(st, 4);
        sqlite3_reset(st);
        if (same || (r->partial && !stored_partial)) {
            res->outcome = same ? CATALOG_UNCHANGED : CATALOG_KEPT;
            counter = same ? CATALOG_COUNT_UNCHANGED : CATALOG_COUNT_KEPT;
            st = catalog_stmt(c, same ? catalog_sql_touch : catalog_sql_seen);
            if (st == NULL)
                return catalog_last_err(c);
            sqlite3_bind_int64(st, 1, res->id);
            sqlite3_bind_int64(st, 2, catalog_now(c));
            if (same) {
                sqlite3_bind_int(st, 3, r->partial);
                sqlite3_bind_blob(st, 4, hash, CATALOG_HASH_LEN, SQLITE_STATIC);
            }
            err = catalog_step_done(c, st, "touch record");
        } else {
            bool changed = false;

            err = catalog_change(c, res->id, run, r, hash, res->version, &changed);
            res->outcome = changed ? CATALOG_CHANGED : CATALOG_UNCHANGED;
            counter = changed ? CATALOG_COUNT_CHANGED : CATALOG_COUNT_UNCHANGED;
            if (changed)
                res->version++;
        }
    }
    if (err == 0)
        err = catalog_alias(c, p->url, res->id);
    if (err == 0 && r->url && (p->url == NULL || strcmp(r->url, p->url) != 0))
        err = catalog_alias(c, r->url, res->id);
    if (err == 0)
        err = catalog_runs_count(c, run, counter);
    return err;
}

int catalog_upsert(struct catalog *c, const struct catalog_page *pg, const struct record *r,
                   struct catalog_upsert_result *res)
{
    struct catalog_upsert_result dummy;
    struct catalog_pg p;
    struct record *clean = NULL;
    const char *key;
    bool own = false, repaired = false;
    int err;

    if (res == NULL)
        res = &dummy;
    memset(res, 0, sizeof(*res));
    catalog_clear_error(c);
    if (r == NULL)
        return catalog_fail(c, -EINVAL, PROV_OK, "no record");
    err = catalog_pg_clean(c, pg, false, &p);
    if (err)
        return err;
    if (r->record_id && strlen(r->record_id) > CATALOG_KEY_MAX) {
        err = catalog_fail(c, -EINVAL, PROV_OK, "record id too long");
        goto out;
    }
    if (r->url && strlen(r->url) > CATALOG_KEY_MAX) {
        err = catalog_fail(c, -EINVAL, PROV_OK, "record URL too long");
        goto out;
    }
    clean = catalog_record_clean(r, &repaired);
    if (clean->url == NULL && p.url)
        clean->url = xstrdup(p.url);
    /* The key: the page's own record id, else the URL it came from. */
    key = clean->record_id && clean->record_id[0] ? clean->record_id : clean->url;
    if (key == NULL || key[0] == '\0') {
        err = catalog_fail(c, -EINVAL, PROV_OK, "the record has neither a record id nor a URL");
        goto out;
    }
    err = catalog_write_begin(c, &own);
    if (err)
        goto out;
    err = catalog_upsert_tx(c, &p, key, pg->run_id, clean, res);
    p.record = res->id;
    if (err == 0 && p.url)
        err = catalog_fetch_write(c, catalog_sql_fetch_ok, &p, pg,
                                  pg->http_status ? pg->http_status : 200, PROV_OK, NULL);
    if (err == 0 && p.url)
        err = catalog_runs_frontier_set(c, pg->run_id, p.url, CATALOG_FRONTIER_DONE);
    err = catalog_write_end(c, own, err);
    res->repaired = repaired;
out:
    record_free(clean);
    catalog_pg_clear(&p);
    return err;
}

/* The record of source that url leads to: *id (0 when none), its status
 * and misses. */
static int catalog_by_url(struct catalog *c, const char *source, const char *url, int64_t *id,
                          bool *gone, int *misses)
{
    sqlite3_stmt *st = catalog_stmt(c, catalog_sql_by_url);
    int rc;

    *id = 0;
    *gone = false;
    *misses = 0;
    if (st == NULL)
        return catalog_last_err(c);
    catalog_bind_str(st, 1, url);
    catalog_bind_str(st, 2, source);
    rc = catalog_step_row(c, st, "find URL");
    if (rc <= 0)
        return rc;
    *id = sqlite3_column_int64(st, 0);
    *gone = strcmp((const char *)sqlite3_column_text(st, 1), "gone") == 0;
    *misses = sqlite3_column_int(st, 2);
    sqlite3_reset(st);
    return 0;
}

int catalog_not_modified(struct catalog *c, const struct catalog_page *pg)
{
    struct catalog_pg p;
    int64_t id;
    bool own = false, gone;
    int misses, err;

    catalog_clear_error(c);
    err = catalog_pg_clean(c, pg, true, &p);
    if (err)
        return err;
    err = catalog_write_begin(c, &own);
    if (err)
        goto out;
    err = catalog_by_url(c, p.source, p.url, &id, &gone, &misses);
    if (err == 0 && id) {
        sqlite3_stmt *st = catalog_stmt(c, catalog_sql_seen);

        if (st == NULL) {
            err = catalog_last_err(c);
        } else {
            sqlite3_bind_int64(st, 1, id);
            sqlite3_bind_int64(st, 2, catalog_now(c));
            err = catalog_step_done(c, st, "touch record");
        }
    }
    if (err == 0)
        err = catalog_fetch_write(c, catalog_sql_fetch_304, &p, pg, 304, PROV_OK, NULL);
    if (err == 0)
        err = catalog_runs_count(c, pg->run_id, CATALOG_COUNT_NOT_MODIFIED);
    if (err == 0)
        err = catalog_runs_frontier_set(c, pg->run_id, p.url, CATALOG_FRONTIER_DONE);
    err = catalog_write_end(c, own, err);
out:
    catalog_pg_clear(&p);
    return err;
}

int catalog_missing(struct catalog *c, const struct catalog_page *pg, bool *gone_out)
{
    struct catalog_pg p;
    int64_t id;
    bool own = false, gone, now_gone = false;
    int misses, err, status;
    char msg[32];

    catalog_clear_error(c);
    err = catalog_pg_clean(c, pg, true, &p);
    if (err)
        return err;
    status = pg->http_status ? pg->http_status : 404;
    err = catalog_write_begin(c, &own);
    if (err)
        goto out;
    err = catalog_by_url(c, p.source, p.url, &id, &gone, &misses);
    if (err == 0 && id) {
        sqlite3_stmt *st = catalog_stmt(c, catalog_sql_miss);

        misses++;
        now_gone = gone || misses >= CATALOG_GONE_AFTER;
        if (st == NULL) {
            err = catalog_last_err(c);
        } else {
            sqlite3_bind_int64(st, 1, id);
            sqlite3_bind_int(st, 2, misses);
            catalog_bind_str(st, 3, now_gone ? "gone" : "active");
            sqlite3_bind_int64(st, 4, catalog_now(c));
            err = catalog_step_done(c, st, "count miss");
        }
        if (err == 0 && now_gone && !gone)
            err = catalog_runs_count(c, pg->run_id, CATALOG_COUNT_GONE);
    }
    snprintf(msg, sizeof(msg), "HTTP %d", status);
    if (err == 0)
        err = catalog_fetch_write(c, catalog_sql_fetch_fail, &p, pg, status, PROV_HTTP_4XX, msg);
    if (err == 0)
        err = catalog_runs_count(c, pg->run_id, CATALOG_COUNT_MISSING);
    if (err == 0)
        err = catalog_runs_frontier_set(c, pg->run_id, p.url, CATALOG_FRONTIER_DONE);
    err = catalog_write_end(c, own, err);
    if (err == 0 && gone_out)
        *gone_out = now_gone;
out:
    catalog_pg_clear(&p);
    return err;
}

int catalog_fetch_failed(struct catalog *c, const struct catalog_page *pg,
                         enum prov_category category, const char *message)
{
    struct catalog_pg p;
    bool own = false, repaired = false;
    char *msg;
    int err;

    catalog_clear_error(c);
    err = catalog_pg_clean(c, pg, true, &p);
    if (err)
        return err;
    if (category == PROV_OK || (int)category < 0 || category >= PROV_CATEGORY_MAX)
        category = PROV_INTERNAL;
    msg = catalog_clean_str(message, CATALOG_MESSAGE_MAX, &repaired);
    err = catalog_write_begin(c, &own);
    if (err == 0)
        err =
            catalog_fetch_write(c, catalog_sql_fetch_fail, &p, pg, pg->http_status, category, msg);
    if (err == 0)
        err = catalog_runs_count(c, pg->run_id, CATALOG_COUNT_FAILED);
    if (err == 0)
        err = catalog_runs_frontier_set(c, pg->run_id, p.url, CATALOG_FRONTIER_FAILED);
    err = catalog_write_end(c, own, err);
    free(msg);
    catalog_pg_clear(&p);
    return err;
}
