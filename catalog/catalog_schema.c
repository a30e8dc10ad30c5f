/*
 * catalog_schema: the catalog's tables, built by numbered steps. A new
 * catalog runs them all; an older one runs those it lacks, each in one
 * IMMEDIATE transaction together with the new user_version, so a step
 * interrupted by a crash is simply run again at the next open. Steps that
 * add derived data (the name index, the full-text index) fill it from the
 * records already stored.
 *
 * Owns no memory; statements run on the caller's handle. Never logs.
 */
#include "catalog_schema.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* Step 1: the stored data — records, their citations, their versions, and
 * what is known of each URL: the record it leads to (every URL that led to
 * a record is an alias of it) and its fetch state (validators, last
 * status, failures, next due time, last error). One table keyed by URL
 * rather than two keeps each fetch to one place in one index. Citations
 * have one index, by inventory and then catalog order, that also carries
 * file, folder and sheets: an inventory pages in id order without
 * sorting, a file or sheet is found by scanning its inventory inside the
 * index (tens of thousands of entries at most; the index must cover every
 * column those queries read, as SQLite seeks a WITHOUT ROWID row before
 * testing anything else), and every citation costs one index entry
 * written at a random place rather than two. */
static const char catalog_step1[] =
    "CREATE TABLE records ("
    " id INTEGER PRIMARY KEY,"
    " source TEXT NOT NULL,"
    " key TEXT NOT NULL,"
    " record_id TEXT, url TEXT, title TEXT, date TEXT, date_iso TEXT, summary TEXT, type TEXT,"
    " languages TEXT NOT NULL DEFAULT '[]',"
    " original_archives TEXT NOT NULL DEFAULT '[]',"
    " classification TEXT, uploaded TEXT,"
    " funders TEXT NOT NULL DEFAULT '[]',"
    " subjects TEXT NOT NULL DEFAULT '[]',"
    " people TEXT NOT NULL DEFAULT '[]',"
    " places TEXT NOT NULL DEFAULT '[]',"
    " source_text TEXT,"
    " contributors TEXT NOT NULL DEFAULT '[]',"
    " translators TEXT NOT NULL DEFAULT '[]',"
    " doc_text TEXT,"
    " partial INTEGER NOT NULL DEFAULT 0,"
    " hash BLOB NOT NULL,"
    " status TEXT NOT NULL DEFAULT 'active' CHECK (status = 'active' OR status = 'gone'),"
    " misses INTEGER NOT NULL DEFAULT 0,"
    " gone_since INTEGER,"
    " first_seen INTEGER NOT NULL,"
    " last_seen INTEGER NOT NULL,"
    " changed INTEGER NOT NULL,"
    " version INTEGER NOT NULL DEFAULT 1);"
    "CREATE UNIQUE INDEX records_key ON records(key, source);"
    "CREATE INDEX records_status ON records(source, status);"
    "CREATE TABLE citations ("
    " record INTEGER NOT NULL REFERENCES records(id) ON DELETE CASCADE,"
    " pos INTEGER NOT NULL,"
    " archive TEXT,"
    " archive_norm TEXT,"
    " fund TEXT COLLATE NOCASE,"
    " inventory TEXT COLLATE NOCASE,"
    " folder TEXT COLLATE NOCASE,"
    " file TEXT COLLATE NOCASE,"
    " sheets TEXT,"
    " sheet_first INTEGER,"
    " sheet_last INTEGER,"
    " text TEXT,"
    " PRIMARY KEY (record, pos)) WITHOUT ROWID;"
    "CREATE INDEX citations_unit ON citations(archive_norm, fund, inventory, record, file,"
    " folder, sheet_first, sheet_last, sheets);"
    "CREATE TABLE urls ("
    " url TEXT PRIMARY KEY,"
    " record INTEGER REFERENCES records(id) ON DELETE SET NULL,"
    " first_seen INTEGER NOT NULL,"
    " source TEXT,"
    " etag TEXT,"
    " last_modified TEXT,"
    " last_status INTEGER NOT NULL DEFAULT 0,"
    " failures INTEGER NOT NULL DEFAULT 0,"
    " next_due INTEGER NOT NULL DEFAULT 0,"
    " last_attempt INTEGER,"
    " last_success INTEGER,"
    " error_category TEXT,"
    " error_message TEXT) WITHOUT ROWID;"
    "CREATE INDEX urls_record ON urls(record) WHERE record IS NOT NULL;"
    "CREATE INDEX urls_due ON urls(source, next_due) WHERE last_attempt IS NOT NULL;"
    "CREATE TABLE versions ("
    " record INTEGER NOT NULL REFERENCES records(id) ON DELETE CASCADE,"
    " version INTEGER NOT NULL,"
    " at INTEGER NOT NULL,"
    " run INTEGER,"
    " event TEXT NOT NULL"
    " CHECK (event = 'created' OR event = 'changed' OR event = 'imported'),"
    " changes TEXT,"
    " PRIMARY KEY (record, version)) WITHOUT ROWID;";

/* Step 2: people by role for name queries (filled from the records), and
 * the harvest's runs and their frontier.
 * Frontier rows are kept in the order they were added, so marking them
 * done as the harvest moves along rewrites few pages. */
static const char catalog_step2[] =
    "CREATE TABLE people ("
    " record INTEGER NOT NULL REFERENCES records(id) ON DELETE CASCADE,"
    " role INTEGER NOT NULL CHECK (role = 1 OR role = 2),"
    " pos INTEGER NOT NULL,"
    " name TEXT NOT NULL,"
    " name_fold TEXT NOT NULL,"
    " PRIMARY KEY (record, role, pos)) WITHOUT ROWID;"
    "CREATE INDEX people_name ON people(role, name_fold, record);"
    "INSERT INTO people(record, role, pos, name, name_fold)"
    " SELECT r.id, 1, min(j.key), j.value, provd_fold(j.value)"
    " FROM records r, json_each(r.contributors) j"
    " WHERE json_valid(r.contributors) AND j.type = 'text' AND provd_fold(j.value) <> ''"
    " GROUP BY r.id, provd_fold(j.value);"
    "INSERT INTO people(record, role, pos, name, name_fold)"
    " SELECT r.id, 2, min(j.key), j.value, provd_fold(j.value)"
    " FROM records r, json_each(r.translators) j"
    " WHERE json_valid(r.translators) AND j.type = 'text' AND provd_fold(j.value) <> ''"
    " GROUP BY r.id, provd_fold(j.value);"
    "CREATE TABLE runs ("
    " id INTEGER PRIMARY KEY,"
    " source TEXT NOT NULL,"
    " kind TEXT NOT NULL CHECK (kind = 'schedule' OR kind = 'manual' OR kind = 'once'),"
    " state TEXT NOT NULL DEFAULT 'running'"
    " CHECK (state = 'running' OR state = 'finished' OR state = 'aborted'),"
    " started INTEGER NOT NULL,"
    " finished INTEGER,"
    " n_new INTEGER NOT NULL DEFAULT 0,"
    " n_changed INTEGER NOT NULL DEFAULT 0,"
    " n_unchanged INTEGER NOT NULL DEFAULT 0,"
    " n_kept INTEGER NOT NULL DEFAULT 0,"
    " n_not_modified INTEGER NOT NULL DEFAULT 0,"
    " n_missing INTEGER NOT NULL DEFAULT 0,"
    " n_gone INTEGER NOT NULL DEFAULT 0,"
    " n_failed INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX runs_source ON runs(source, id);"
    "CREATE TABLE frontier ("
    " seq INTEGER PRIMARY KEY,"
    " run INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,"
    " url TEXT NOT NULL,"
    " state TEXT NOT NULL DEFAULT 'pending'"
    " CHECK (state = 'pending' OR state = 'done' OR state = 'failed'),"
    " updated INTEGER);"
    "CREATE UNIQUE INDEX frontier_url ON frontier(run, url);"
    "CREATE INDEX frontier_pending ON frontier(run, seq) WHERE state = 'pending';";

/* Step 3: the full-text index over title, summary, source text and
 * document text, kept outside the records (external content) and filled
 * from them. Accents are folded; column sizes are not kept because
 * results come in catalog order, not by rank. Segments are merged 16 at a
 * time rather than 4: a third less merge work on every write, for a few
 * more segments to read per query (far inside the full-text budget). */
static const char catalog_step3[] =
    "CREATE VIRTUAL TABLE records_fts USING fts5(title, summary, source_text, doc_text,"
    " content='records', content_rowid='id', columnsize=0,"
    " tokenize='unicode61 remove_diacritics 2');"
    "INSERT INTO records_fts(records_fts) VALUES('rebuild');"
    "INSERT INTO records_fts(records_fts, rank) VALUES('automerge', 16);";

/* Step 4: fetch state per (source, URL). Until now it lived in urls, keyed
 * by URL alone, so a URL listed by two sources shared its validators: the
 * second source could be answered 304 and never store a record of its
 * own. Fetch state moves to a table of its own (fetch_state), keyed by URL
 * and source (that order serves lookups by URL alone too, with no second
 * index to write), with the record that the source's fetch of the URL led
 * to; urls keeps what it is for, the URLs that led to records (aliases).
 *
 * Old rows carry no trustworthy owner (urls.source is the last source that
 * fetched the URL), so a row's state goes to the source of the record the
 * URL is an alias of, and only when that source is the one that fetched it
 * last (or none is recorded): then its validators describe that source's
 * record. Every other row is dropped: the URL is simply fetched again,
 * unconditionally, by each source that lists it, and its state is rebuilt
 * from that fetch. URLs that never led to a record lose their rows in urls
 * too (they held fetch state only), and the fetch columns left in urls are
 * cleared: nothing writes them any more. The statements walk urls in
 * table order (CROSS JOIN, unary +): no index is weighed, so PRAGMA
 * optimize does not take the step's queries as a reason to analyse. */
static const char catalog_step4[] =
    "CREATE TABLE fetch_state ("
    " source TEXT NOT NULL,"
    " url TEXT NOT NULL,"
    " record INTEGER REFERENCES records(id) ON DELETE SET NULL,"
    " first_seen INTEGER NOT NULL,"
    " etag TEXT,"
    " last_modified TEXT,"
    " last_status INTEGER NOT NULL DEFAULT 0,"
    " failures INTEGER NOT NULL DEFAULT 0,"
    " next_due INTEGER NOT NULL DEFAULT 0,"
    " last_attempt INTEGER,"
    " last_success INTEGER,"
    " error_category TEXT,"
    " error_message TEXT,"
    " PRIMARY KEY (url, source)) WITHOUT ROWID;"
    "CREATE INDEX fetch_state_due ON fetch_state(source, next_due)"
    " WHERE last_attempt IS NOT NULL;"
    "CREATE INDEX fetch_state_record ON fetch_state(record) WHERE record IS NOT NULL;"
    "INSERT INTO fetch_state(source, url, record, first_seen, etag, last_modified, last_status,"
    " failures, next_due, last_attempt, last_success, error_category, error_message)"
    " SELECT r.source, u.url, u.record, u.first_seen, u.etag, u.last_modified, u.last_status,"
    " u.failures, u.next_due, u.last_attempt, u.last_success, u.error_category,"
    " u.error_message FROM urls u CROSS JOIN records r ON r.id = +u.record"
    " WHERE u.last_attempt IS NOT NULL AND (u.source IS NULL OR u.source = r.source);"
    "DROP INDEX urls_due;"
    "DELETE FROM urls WHERE +record IS NULL;"
    "UPDATE urls SET source = NULL, etag = NULL, last_modified = NULL, last_status = 0,"
    " failures = 0, next_due = 0, last_attempt = NULL, last_success = NULL,"
    " error_category = NULL, error_message = NULL"
    " WHERE +source IS NOT NULL OR +last_attempt IS NOT NULL;";

/* Step 5: runs know their scope (the source, or one URL of a single-page
 * request) and which run took over one a crash left unfinished; a
 * finished run keeps its frontier's counts and drops the frontier, which
 * otherwise grew by every URL of every run. */
static const char catalog_step5[] =
    "ALTER TABLE runs ADD COLUMN scope TEXT NOT NULL DEFAULT 'source'"
    " CHECK (scope = 'source' OR scope = 'url');"
    "ALTER TABLE runs ADD COLUMN merged_into INTEGER;"
    "ALTER TABLE runs ADD COLUMN n_done INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE runs ADD COLUMN n_urls_failed INTEGER NOT NULL DEFAULT 0;"
    "UPDATE runs SET"
    " n_done = (SELECT count(*) FROM frontier f WHERE f.run = runs.id AND f.state = 'done'),"
    " n_urls_failed ="
    " (SELECT count(*) FROM frontier f WHERE f.run = runs.id AND f.state = 'failed')"
    " WHERE state <> 'running';"
    "DELETE FROM frontier WHERE run IN (SELECT id FROM runs WHERE state <> 'running');";

/* CHECK constraints compare with OR rather than IN (...): SQLite builds a
 * temporary table for an IN list at every row written. */
static const char *const catalog_steps[CATALOG_SCHEMA_VERSION] = {
    catalog_step1, catalog_step2, catalog_step3, catalog_step4, catalog_step5,
};

int catalog_schema_version(struct catalog *c, int *version)
{
    sqlite3_stmt *st = NULL;
    int rc, err = 0;

    rc = sqlite3_prepare_v2(c->db, "PRAGMA user_version", -1, &st, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        if (version)
            *version = sqlite3_column_int(st, 0);
    } else {
        err = catalog_sqlfail(c, rc, "read schema version");
    }
    sqlite3_finalize(st);
    return err;
}

int catalog_schema_migrate_to(struct catalog *c, int target)
{
    int version, err;

    err = catalog_schema_version(c, &version);
    if (err)
        return err;
    if (version > CATALOG_SCHEMA_VERSION)
        return catalog_fail(c, -EPROTO, PROV_CONFIG,
                            "schema version %d is newer than this provd's %d", version,
                            CATALOG_SCHEMA_VERSION);
    while (version < target) {
        char setv[64];

        err = catalog_exec(c, "BEGIN IMMEDIATE");
        if (err)
            return err;
        /* Another process may have migrated while we waited for the lock. */
        err = catalog_schema_version(c, &version);
        if (err)
            return err;
        if (version >= target) {
            catalog_exec(c, "COMMIT");
            break;
        }
        snprintf(setv, sizeof(setv), "PRAGMA user_version = %d", version + 1);
        err = catalog_exec(c, catalog_steps[version]);
        if (err == 0)
            err = catalog_exec(c, setv);
        if (err == 0)
            err = catalog_exec(c, "COMMIT");
        if (err) {
            char msg[sizeof(c->errmsg)];

            snprintf(msg, sizeof(msg), "%s", c->errmsg);
            return catalog_fail(c, err, c->category, "schema step %d: %s", version + 1, msg);
        }
        version++;
    }
    return 0;
}

int catalog_schema_migrate(struct catalog *c)
{
    return catalog_schema_migrate_to(c, CATALOG_SCHEMA_VERSION);
}

int catalog_schema_require(struct catalog *c)
{
    int version, err;

    err = catalog_schema_version(c, &version);
    if (err)
        return err;
    if (version != CATALOG_SCHEMA_VERSION)
        return catalog_fail(c, -EPROTO, PROV_CONFIG,
                            "schema version %d, this provd reads %d: open the catalog for"
                            " writing first",
                            version, CATALOG_SCHEMA_VERSION);
    return 0;
}

bool catalog_schema_has_fts(struct catalog *c)
{
    int version;

    return catalog_schema_version(c, &version) == 0 && version >= 3;
}

int catalog_create_version(const char *path, int version, char *err, size_t errlen)
{
    struct catalog *c;
    FILE *f;
    int rc;

    if (version < 1 || version > CATALOG_SCHEMA_VERSION) {
        snprintf(err, errlen, "no schema version %d", version);
        return -EINVAL;
    }
    f = fopen(path, "r");
    if (f) {
        fclose(f);
        snprintf(err, errlen, "%s exists", path);
        return -EEXIST;
    }
    rc = catalog_open_version(path, version, &c);
    if (rc)
        snprintf(err, errlen, "%s", catalog_errmsg(c));
    catalog_close(c);
    return rc;
}
