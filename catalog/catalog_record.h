/*
 * catalog_record: how a record is stored — the cleaning of incoming
 * records (UTF-8 repair, field caps), the content hash, the columns of
 * the records table and the rows derived from a record (citations,
 * people, full-text entry), loading a record back, and the small
 * normalisations the queries share (archive names, people's names,
 * sheet ranges, times). Internal to catalog/.
 */
#ifndef PROVD_CATALOG_RECORD_H
#define PROVD_CATALOG_RECORD_H

#include "catalog_db.h"
#include "catalog_hash.h"

/* Caps: a key or URL longer than CATALOG_KEY_MAX bytes is refused (it is
 * an identity); other fields are cut. */
#define CATALOG_KEY_MAX       4096
#define CATALOG_FIELD_MAX     (64 * 1024)
#define CATALOG_TEXT_MAX      (2 * 1024 * 1024)
#define CATALOG_ITEM_MAX      4096
#define CATALOG_LIST_MAX      1000
#define CATALOG_CITATIONS_MAX 200
#define CATALOG_MESSAGE_MAX   1024

/* The record columns of the records table, in the order
 * catalog_record_from_row() reads them. */
#define CATALOG_RECORD_COLS                                                                        \
    "record_id, url, title, date, date_iso, summary, type, languages, original_archives,"          \
    " classification, uploaded, funders, subjects, people, places, source_text, contributors,"     \
    " translators, doc_text, partial"
#define CATALOG_RECORD_NCOLS 20

/* People's roles in the people table. */
enum { CATALOG_ROLE_CONTRIBUTOR = 1, CATALOG_ROLE_TRANSLATOR = 2 };

/* A new copy of s that is valid UTF-8 and at most max bytes (cut at a
 * character boundary); *repaired is set when anything changed. NULL in,
 * NULL out. */
char *catalog_clean_str(const char *s, size_t max, bool *repaired);

/* True when s is valid UTF-8 (and so holds no stray byte SQLite would
 * store). */
bool catalog_text_ok(const char *s);

/* A new, cleaned copy of r: every string valid UTF-8 and within its cap,
 * lists and citations bounded. *repaired is set when anything changed. */
struct record *catalog_record_clean(const struct record *r, bool *repaired);

/* The content hash of r over its normalised fields (everything but the
 * URL and the partial flag). */
void catalog_record_hash(const struct record *r, unsigned char out[CATALOG_HASH_LEN]);

/* Bind r to the named parameters :record_id ... :partial of st (the names
 * of CATALOG_RECORD_COLS with a colon). Strings are bound static: r must
 * outlive the step. */
void catalog_record_bind(sqlite3_stmt *st, const struct record *r);

/* A new record from the CATALOG_RECORD_COLS columns of st starting at
 * column first (no citations yet). */
struct record *catalog_record_from_row(sqlite3_stmt *st, int first);

/* Load record id into *it (the caller clears it), with its citations and,
 * when text is set, its document text. -ENOENT when there is none. */
int catalog_item_load(struct catalog *c, int64_t id, bool text, struct catalog_item *it);

/* Write the rows derived from r for record id: citations, people and the
 * full-text entry (queued until the transaction ends). */
int catalog_record_write_parts(struct catalog *c, int64_t id, const struct record *r);

/* Bring the rows derived from record id from old (the record as stored:
 * the full-text index needs the old values to forget them) to r,
 * rewriting only the parts whose fields differ: citations, each role's
 * people, the full-text entry (whose index work is the largest part of a
 * store). */
int catalog_record_replace_parts(struct catalog *c, int64_t id, const struct record *old,
                                 const struct record *r);

/* Apply the queued full-text writes of the open transaction (done before
 * every commit and before a read inside the transaction). */
int catalog_fts_flush(struct catalog *c);

/* Drop the queued full-text writes (the transaction rolled back). */
void catalog_fts_discard(struct catalog *c);

/* Archive name for matching: folded case and accents, no spaces or dots.
 * The caller frees it. */
char *catalog_archive_norm(const char *archive);

/* A person's name for matching: white space squashed, case and accents
 * folded. The caller frees it. */
char *catalog_name_fold(const char *name);

/* The lowest and highest sheet number in a sheets string ("11-12",
 * "11, 12", "5-7ob"); false when it holds no number. */
bool catalog_sheets_range(const char *sheets, int64_t *first, int64_t *last);

/* True when sheet n lies inside one of the ranges of sheets. */
bool catalog_sheets_has(const char *sheets, int64_t n);

/* True when a range of a overlaps a range of b. */
bool catalog_sheets_overlap(const char *a, const char *b);

/* Parse a sheet number typed by a user ("12", "12ob"); false when it does
 * not start with a digit. Huge numbers saturate. */
bool catalog_sheet_parse(const char *s, int64_t *n);

/* Register the SQL functions the schema steps and queries use:
 * provd_fold(name), provd_sheet_has(sheets, n), provd_sheets_overlap(a, b).
 * Returns an SQLite result code. */
int catalog_record_register_functions(sqlite3 *db);

/* Parse "YYYY-MM-DDTHH:MM:SSZ"; false when s is not one. */
bool catalog_parse_time(const char *s, int64_t *t);

#endif
