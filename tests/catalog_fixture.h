/*
 * catalog_fixture: helpers the catalog tests share — a temporary
 * directory, a fake clock, records built in one line, and a buffer to
 * export into. Test code only.
 */
#ifndef PROVD_CATALOG_FIXTURE_H
#define PROVD_CATALOG_FIXTURE_H

#include "catalog.h"
#include "strbuf.h"

/* A new directory under $TMPDIR (or /tmp); the caller frees the name. */
char *fx_tmpdir(void);

/* Remove dir and everything in it. */
void fx_rmtree(const char *dir);

/* dir/name in a new string. */
char *fx_path(const char *dir, const char *name);

/* The fake clock: returns *(int64_t *)data. */
int64_t fx_clock(void *data);

/* Open the writer (or a reader) at path with the fake clock *now;
 * fails the test when it cannot. */
struct catalog *fx_open(const char *path, int64_t *now, bool readonly);

/* A record with record id id (NULL: none), title and a default set of
 * other fields: URL https://archive.test/document/ID, a summary, a date,
 * one translator "Gary Goldberg". The caller frees it. */
struct record *fx_record(const char *id, const char *title);

/* Append a citation to r. */
void fx_cite(struct record *r, const char *archive, const char *fund, const char *inventory,
             const char *folder, const char *file, const char *sheets);

/* A page of source "test" for url, in run run. */
struct catalog_page fx_page(const char *url, int64_t run);

/* Upsert r fetched from url (source "test", no run); asserts success and
 * returns the outcome. */
enum catalog_outcome fx_put(struct catalog *c, const char *url, const struct record *r);

/* catalog_write_fn appending to a struct strbuf. */
int fx_write_buf(void *data, const char *buf, size_t len);

/* Keys of a search page joined by spaces (for compact assertions); the
 * caller frees it. */
char *fx_keys(const struct catalog_results *res);

/* Search with filter f and return the keys of the first page (at most
 * 500) as fx_keys() does; asserts success. */
char *fx_search_keys(struct catalog *c, const struct catalog_filter *f);

#endif
