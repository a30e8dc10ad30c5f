/*
 * catalog: the public interface of the catalog folder — a deduplicated
 * SQLite catalog of records with their history, the harvest's bookkeeping
 * (fetch state per source and URL, runs and their frontier), provenance queries, full
 * text and export. daemon/ and tests include this header only; everything
 * else in catalog/ is internal, and no SQLite type appears here.
 *
 * Conventions:
 * - Functions return 0 on success or a negative errno value. On failure the
 *   handle keeps a message (catalog_errmsg()) and a category
 *   (catalog_category()): PROV_DB_BUSY (-EBUSY: locked out, or -ETIMEDOUT: a
 *   query ran over its budget), PROV_STORAGE_FULL (-ENOSPC), PROV_STORAGE_IO
 *   (-EIO, -EROFS, -EACCES), PROV_DB_CORRUPT (-EUCLEAN), PROV_INTERNAL;
 *   bad arguments give -EINVAL with category PROV_OK.
 * - A storage error inside a batch rolls the whole batch back: nothing of it
 *   is stored, and the caller begins a new batch once the cause is gone.
 * - Times are Unix seconds (UTC) from the handle's clock, which tests may
 *   replace (struct catalog_options).
 * - Strings handed in must be NUL-terminated; invalid UTF-8 is repaired
 *   (U+FFFD) before anything is stored, and oversized fields are cut.
 * - A handle is used by one thread at a time.
 */
#ifndef PROVD_CATALOG_H
#define PROVD_CATALOG_H

#include "errors.h"
#include "record.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* The schema version this code writes (PRAGMA user_version). */
#define CATALOG_SCHEMA_VERSION 5

/* Page sizes of catalog_search(): the default and the hard cap. */
#define CATALOG_PAGE_DEFAULT 50
#define CATALOG_PAGE_MAX     500

struct catalog;

/* A clock: the current time in Unix seconds. */
typedef int64_t (*catalog_clock_fn)(void *data);

struct catalog_options {
    bool readonly;          /* a reader handle (control socket): never writes */
    bool skip_check;        /* writer: skip PRAGMA quick_check at open */
    int busy_timeout_ms;    /* 0: 5000 for the writer, 200 for readers */
    unsigned long budget;   /* VM steps, in thousands, one call may run; 0:
                               20000 for readers, unlimited for the writer */
    unsigned budget_ms;     /* wall-clock time one read call may run, with a
                               budget of steps; 0: steps only */
    unsigned cache_kib;     /* SQLite page cache of the handle; 0: 8192 */
    catalog_clock_fn clock; /* NULL: time(NULL) */
    void *clock_data;
};

/* ---- Handles ----------------------------------------------------------- */

/* Open the catalog at path. The writer (opt NULL or !opt->readonly)
 * creates the file if needed, refuses a file that is not a sound SQLite
 * database (-EUCLEAN, PROV_DB_CORRUPT; the file is never written then),
 * applies pending schema migrations, each in one transaction, and refuses a
 * schema newer than CATALOG_SCHEMA_VERSION (-EPROTO). A reader needs an
 * existing catalog at the current version. *out is always set: on failure
 * to a handle that only answers catalog_errmsg()/catalog_category(); the
 * caller frees it with catalog_close() in both cases. */
int catalog_open(const char *path, const struct catalog_options *opt, struct catalog **out);

/* Close c; an open batch is rolled back. NULL is allowed. */
void catalog_close(struct catalog *c);

/* The message of the last failure on c ("" when none); lives until the
 * next call on c. */
const char *catalog_errmsg(const struct catalog *c);

/* The category of the last failure on c (PROV_OK when none). */
enum prov_category catalog_category(const struct catalog *c);

/* Check the database: PRAGMA quick_check, or with full the whole
 * integrity_check and the full-text index's own check. 0 when sound,
 * -EUCLEAN (PROV_DB_CORRUPT) with the first problem in the message. */
int catalog_check(struct catalog *c, bool full);

/* Housekeeping for an idle writer (no batch open): fold the WAL into the
 * database and truncate it (PRAGMA wal_checkpoint(TRUNCATE)), and let
 * SQLite refresh its planner statistics (PRAGMA optimize). -EBUSY when a
 * reader's snapshot keeps the WAL from being folded completely; harmless,
 * try again later. */
int catalog_idle(struct catalog *c);

/* The writer's PRAGMA journal_size_limit: once a checkpoint has folded the
 * whole WAL into the database, the WAL file is cut back to this size. A
 * WAL far above it means checkpoints are being starved (a long reader). */
#define CATALOG_JOURNAL_SIZE_LIMIT (64 * 1024 * 1024)

/* The size in bytes of c's write-ahead log file into *bytes (0 when there
 * is none), for an alarm when checkpoints cannot keep up: compare it with
 * CATALOG_JOURNAL_SIZE_LIMIT. Works on writers and readers; reads the file
 * system only. -EIO (PROV_STORAGE_IO) when the file cannot be examined. */
int catalog_wal_bytes(struct catalog *c, int64_t *bytes);

/* Copy the catalog, as one consistent snapshot, into a new database file
 * dest_path (which must not exist: -EEXIST), with SQLite's online backup
 * API; c may be a reader, and the writer (of this or another process)
 * goes on writing meanwhile. The copy is synced to disk before 0 is
 * returned and opens with catalog_open(). Not inside a batch (-EINVAL).
 * On failure nothing is left at dest_path. */
int catalog_backup(struct catalog *c, const char *dest_path);

/* Create a new, empty database at path with the schema of an earlier
 * version (1 .. CATALOG_SCHEMA_VERSION), as that version's code made it:
 * for migration tests. Fails with -EEXIST when path exists. Writes a
 * message into err (errlen bytes) on failure. */
int catalog_create_version(const char *path, int version, char *err, size_t errlen);

/* ---- Batches (writer) -------------------------------------------------- */

/* Counts of one batch, valid once it is committed. */
struct catalog_tally {
    unsigned long n_new, n_changed, n_unchanged, n_kept;
    unsigned long n_not_modified, n_missing, n_gone, n_failed;
};

/* Begin a batch (BEGIN IMMEDIATE): the writes until catalog_commit() are
 * stored together or not at all. -EBUSY (PROV_DB_BUSY) when another
 * connection holds the write lock past the busy timeout; -EALREADY when a
 * batch is open. Write calls outside a batch run in a transaction of
 * their own. */
int catalog_begin(struct catalog *c);

/* Commit the open batch; on success its counts go to *tally (may be NULL).
 * On failure the batch is rolled back and nothing of it is stored. Only
 * after 0 is returned is the batch acknowledged: it survives a crash or
 * power loss from then on. */
int catalog_commit(struct catalog *c, struct catalog_tally *tally);

/* Roll the open batch back (nothing when none is open). */
void catalog_rollback(struct catalog *c);

/* True while a batch is open. */
bool catalog_in_batch(const struct catalog *c);

/* ---- Harvest writes (writer) ------------------------------------------- */

/* What the harvest knows about one fetch. Only source and url are
 * required. */
struct catalog_page {
    const char *source; /* configured source name */
    const char *url;    /* the URL fetched (the frontier's URL) */
    const char *etag;   /* validators of the response, NULL if none */
    const char *last_modified;
    int http_status;  /* 0: 200 for catalog_upsert(), none else */
    int64_t run_id;   /* the run this fetch belongs to; 0: none */
    int64_t next_due; /* when to fetch the URL again; 0: any time */
};

enum catalog_outcome {
    CATALOG_NEW,       /* a new record */
    CATALOG_CHANGED,   /* a new version with the fields that changed */
    CATALOG_UNCHANGED, /* same content: last-seen touched */
    CATALOG_KEPT,      /* a partial parse of a complete record: not stored */
};

struct catalog_upsert_result {
    enum catalog_outcome outcome;
    int64_t id;      /* the record's catalog id */
    int64_t version; /* its current version */
    bool revived;    /* it was gone and is back */
    bool repaired;   /* a field was cut to its cap or had invalid UTF-8 */
};

/* Store the record r extracted from pg->url (HTTP 200). Identity is
 * (pg->source, key) where key is r->record_id, or the URL when the page has
 * none; pg->url and r->url become aliases of the record. A content hash
 * over the normalised fields decides unchanged (last seen touched) or
 * changed (a new version listing the changed fields with old and new
 * values); nothing is overwritten without its version. A gone record is
 * revived. Fetch state (validators, status, failures reset), the run's
 * counters and its frontier entry (done) are written in the same
 * transaction. res may be NULL. -EINVAL when source is empty or no key can
 * be formed. */
int catalog_upsert(struct catalog *c, const struct catalog_page *pg, const struct record *r,
                   struct catalog_upsert_result *res);

/* HTTP 304 for pg->url: the record it leads to is seen again (last seen,
 * revived if gone), the validators of the reply replace the stored ones
 * when present, the frontier entry is done. 0 also when the URL leads to
 * no record. */
int catalog_not_modified(struct catalog *c, const struct catalog_page *pg);

/* HTTP 404 or 410 (pg->http_status) for pg->url. The second in a row
 * marks the record the URL leads to gone (kept, with the date); *gone
 * (may be NULL) tells whether it is gone now. Fetch state counts the
 * failure; the frontier entry is done. */
int catalog_missing(struct catalog *c, const struct catalog_page *pg, bool *gone);

/* Any other failed fetch of pg->url (network, 5xx, blocked, a page without
 * the required fields, ...): the category and message are stored in the
 * URL's fetch state, its failures counted, its frontier entry failed. No
 * record is touched. message may be NULL. */
int catalog_fetch_failed(struct catalog *c, const struct catalog_page *pg,
                         enum prov_category category, const char *message);

/* ---- Fetch state ------------------------------------------------------- */

struct catalog_fetch_state {
    char *url;
    char *source;
    char *etag;          /* NULL when none */
    char *last_modified; /* NULL when none */
    int last_status;     /* HTTP status of the last attempt, 0 when none */
    int failures;        /* consecutive failed attempts */
    int64_t next_due;    /* 0: any time */
    int64_t last_attempt;
    int64_t last_success;     /* 0: never */
    enum prov_category error; /* of the last attempt; PROV_OK when it worked */
    char *error_message;      /* NULL when none */
    int64_t record;           /* the record the URL leads to, 0 when none */
};

/* The fetch state of url as source fetches it into *st (the caller clears
 * it): validators, status, failures, next due time, last error, and the
 * record of source the URL leads to. Each source keeps its own: a URL
 * listed by two sources is fetched, validated and stored by each. -ENOENT
 * when the catalog knows nothing of the URL for source; a URL only known
 * as an alias of a record of source (where a fetch was redirected to) has
 * last_attempt 0. */
int catalog_fetch_get_source(struct catalog *c, const char *source, const char *url,
                             struct catalog_fetch_state *st);

/* The fetch state of url for whichever source attempted it last (for
 * display and tools; the harvest uses catalog_fetch_get_source()), or,
 * when no source fetched it, the URL as an alias (last_attempt 0). -ENOENT
 * when the catalog knows nothing of the URL. */
int catalog_fetch_get(struct catalog *c, const char *url, struct catalog_fetch_state *st);

/* Free what st owns; st may be reused. */
void catalog_fetch_state_clear(struct catalog_fetch_state *st);

/* Append to urls up to max URLs of source whose next due time is at or
 * before now, earliest first. */
int catalog_fetch_due(struct catalog *c, const char *source, int64_t now, size_t max,
                      struct strlist *urls);

/* ---- Runs and their frontier ------------------------------------------- */

/* CATALOG_TRIGGER_PAGE is a manual request for one URL (a run whose scope
 * is that URL, not the source); its trigger word is "manual". */
enum catalog_trigger {
    CATALOG_TRIGGER_SCHEDULE,
    CATALOG_TRIGGER_MANUAL,
    CATALOG_TRIGGER_ONCE,
    CATALOG_TRIGGER_PAGE
};
enum catalog_run_state { CATALOG_RUN_RUNNING, CATALOG_RUN_FINISHED, CATALOG_RUN_ABORTED };
enum catalog_frontier_state {
    CATALOG_FRONTIER_PENDING,
    CATALOG_FRONTIER_DONE,
    CATALOG_FRONTIER_FAILED
};

struct catalog_run {
    int64_t id;
    char *source;
    enum catalog_trigger trigger;
    enum catalog_run_state state;
    int64_t started, finished; /* finished: 0 while running */
    struct catalog_tally counts;
    unsigned long pending, done, failed; /* frontier entries by state */
    bool single;                         /* a single-page run (CATALOG_TRIGGER_PAGE) */
    int64_t merged_into;                 /* 0, or the run that took over its pending URLs */
};

/* Start a run of source; its id goes to *id. A run of the whole source
 * (any trigger but CATALOG_TRIGGER_PAGE) also takes over every run of
 * source an earlier process left unfinished: their pending URLs join its
 * frontier, and they are finished with merged_into set to *id. */
int catalog_run_start(struct catalog *c, const char *source, enum catalog_trigger trigger,
                      int64_t *id);

/* Resume source's newest unfinished run of the whole source: 0 with its
 * id in *id, after it took over every other run of source an earlier
 * process left unfinished (as catalog_run_start() does); -ENOENT when
 * there is none (unfinished single-page runs alone do not count). */
int catalog_run_resume(struct catalog *c, const char *source, int64_t *id);

/* Finish run id as finished (aborted false) or aborted. -ENOENT when no
 * such running run exists. Its frontier's counts are kept with the run
 * and the frontier itself is dropped. */
int catalog_run_finish(struct catalog *c, int64_t id, bool aborted);

/* Run id into *run (the caller clears it); -ENOENT when unknown. */
int catalog_run_get(struct catalog *c, int64_t id, struct catalog_run *run);

/* The newest run of source into *run; -ENOENT when it never ran. */
int catalog_run_last(struct catalog *c, const char *source, struct catalog_run *run);

/* The id of the newest run of source still marked running (one a crash
 * interrupted): 0 and *id set, or -ENOENT. */
int catalog_run_unfinished(struct catalog *c, const char *source, int64_t *id);

/* Free what run owns; run may be reused. */
void catalog_run_clear(struct catalog_run *run);

/* The stable words of triggers and run states ("schedule", "running", ...). */
const char *catalog_trigger_name(enum catalog_trigger t);
const char *catalog_run_state_name(enum catalog_run_state s);

/* Add url to run's frontier as pending; an URL already there keeps its
 * state. Returns 1 when url was added, 0 when it was there already. */
int catalog_frontier_add(struct catalog *c, int64_t run, const char *url);

/* Set the state of url in run's frontier (added when missing). */
int catalog_frontier_mark(struct catalog *c, int64_t run, const char *url,
                          enum catalog_frontier_state state);

/* Append to urls up to max URLs still pending in run's frontier, in the
 * order they were added. */
int catalog_frontier_pending(struct catalog *c, int64_t run, size_t max, struct strlist *urls);

/* ---- Queries ----------------------------------------------------------- */

/* Filters combine with AND; NULL or "" leaves a filter out. Citation
 * filters must all hold for the same citation. archive matches ignoring
 * case, spaces and dots (AP RF = APRF); fund, inventory, folder and file
 * match ignoring ASCII case; sheet is a number that must lie inside the
 * citation's sheets; people match whole names ignoring case and accents;
 * since/until bound date_iso (YYYY, YYYY-MM or YYYY-MM-DD, inclusive);
 * status is "active" or "gone"; text is an FTS5 query over title,
 * summary, source text and document text. */
struct catalog_filter {
    const char *source;
    const char *archive, *fund, *inventory, *folder, *file, *sheet;
    const char *contributor, *translator;
    const char *since, *until;
    const char *status;
    const char *text;
};

/* One record with its catalog fields. */
struct catalog_item {
    int64_t id;
    char *source;
    char *key;
    bool gone;
    int64_t first_seen, last_seen, gone_since; /* gone_since: 0 unless gone */
    int64_t versions;
    struct record *record;
};

struct catalog_results {
    struct catalog_item *items;
    size_t n;
    char *next; /* cursor of the next page, NULL on the last */
};

/* One page of the records matching f, in catalog order, into *out (the
 * caller clears it). limit <= 0 means CATALOG_PAGE_DEFAULT; larger than
 * CATALOG_PAGE_MAX is cut to it. cursor is NULL for the first page, else
 * out->next of the previous one: pages stay free of duplicates and gaps
 * while writes happen (new records appear at the end). The document text
 * is not loaded. -EINVAL for a bad filter value, cursor or full-text
 * syntax (the message says which); -ETIMEDOUT (PROV_DB_BUSY) when the
 * query ran over its budget. */
int catalog_search(struct catalog *c, const struct catalog_filter *f, long limit,
                   const char *cursor, struct catalog_results *out);

/* Free what res owns; res may be reused. */
void catalog_results_clear(struct catalog_results *res);

/* Free what it owns; it may be reused. */
void catalog_item_clear(struct catalog_item *it);

enum {
    CATALOG_JSON_TEXT = 1 << 0, /* include the document text */
};

/* A new JSON object: the record shape of PROVENANCE.md §3 plus key,
 * source_name (the configured source: "source" is already the Source text
 * of §3), status, first_seen, last_seen (UTC, "YYYY-MM-DDTHH:MM:SSZ"),
 * gone_since (when gone) and versions. The caller decrefs it. */
json_t *catalog_item_to_json(const struct catalog_item *it, unsigned flags);

/* Another record naming the same archival unit with overlapping sheets. */
struct catalog_link {
    int64_t id;
    char *source, *key, *title;
};

struct catalog_detail {
    struct catalog_item item; /* with the document text */
    struct strlist urls;      /* every URL that led to the record */
    struct catalog_link *same_document;
    size_t n_same;
};

/* One record with everything into *out (the caller clears it). ref is its
 * key (within source, or in any source when source is NULL) or one of its
 * URLs. -ENOENT when none; -EEXIST when source is NULL and the key names
 * records in several sources. */
int catalog_show(struct catalog *c, const char *source, const char *ref,
                 struct catalog_detail *out);

/* Free what d owns; d may be reused. */
void catalog_detail_clear(struct catalog_detail *d);

/* A new JSON object for d: catalog_item_to_json() with the text, plus
 * "urls" and "same_document". */
json_t *catalog_detail_to_json(const struct catalog_detail *d);

/* One version of a record. changes is a JSON array of {"field", "old",
 * "new"} objects (empty for the first version). */
struct catalog_version {
    int64_t version;
    int64_t at;
    int64_t run; /* 0: outside a run */
    char *event; /* "created", "changed" or "imported" */
    json_t *changes;
};

struct catalog_history {
    int64_t id;
    char *source, *key;
    struct catalog_version *v;
    size_t n;
};

/* The versions of the record named as in catalog_show(), oldest first,
 * into *out (the caller clears it). */
int catalog_history(struct catalog *c, const char *source, const char *ref,
                    struct catalog_history *out);

/* Free what h owns; h may be reused. */
void catalog_history_clear(struct catalog_history *h);

/* A new JSON object for h. */
json_t *catalog_history_to_json(const struct catalog_history *h);

struct catalog_counts {
    int64_t records, active, gone;
    int64_t versions; /* stored versions, all records */
    int64_t urls;     /* URLs leading to records */
    int64_t failing;  /* URLs whose last fetch failed */
    int64_t runs;
};

/* Counts of the catalog, or of one source when source is not NULL. */
int catalog_counts(struct catalog *c, const char *source, struct catalog_counts *out);

/* The time t as "YYYY-MM-DDTHH:MM:SSZ" into buf (at least 21 bytes). */
void catalog_format_time(int64_t t, char *buf, size_t len);

/* ---- Export and import ------------------------------------------------- */

enum catalog_format { CATALOG_FORMAT_JSONL, CATALOG_FORMAT_CSV };

/* Receives len bytes of output; returns 0, or a negative errno to stop. */
typedef int (*catalog_write_fn)(void *data, const char *buf, size_t len);

/* Stream the records matching f (NULL: all) through write, in catalog
 * order, from one consistent snapshot; memory use does not grow with the
 * catalog. JSONL: one catalog_item_to_json() object with the text and
 * "urls" per line. CSV (RFC 4180, CRLF): a header, then one row per
 * citation (one row with empty citation columns for a record without).
 * Returns write's error when it stops the export. */
int catalog_export(struct catalog *c, const struct catalog_filter *f, enum catalog_format fmt,
                   catalog_write_fn write, void *data);

/* Import the JSON Lines of catalog_export() from in into an empty
 * catalog, all or nothing (one transaction): records with their key,
 * source, status, times, version count and URLs. *n (may be NULL) gets
 * the number of records. -EEXIST when the catalog holds records, -EINVAL
 * with the line number in the message for a bad line. */
int catalog_import(struct catalog *c, FILE *in, size_t *n);

#endif
