/*
 * catalog_db: the handle behind struct catalog — the sqlite3 connection,
 * its settings, the statement cache, transactions, the query budget and
 * the mapping of SQLite errors to errno values and categories. Internal to
 * catalog/.
 */
#ifndef PROVD_CATALOG_DB_H
#define PROVD_CATALOG_DB_H

#include "catalog.h"

#include <sqlite3.h>

struct catalog_stmt {
    const char *sql; /* static text: the cache is keyed by its address */
    sqlite3_stmt *st;
};

/* A full-text write waiting for the end of its transaction. */
struct catalog_fts_op {
    int64_t id;
    bool del; /* forget these values (old version) rather than add them */
    char *title, *summary, *source, *text;
};

struct catalog {
    sqlite3 *db;
    bool readonly;
    bool failed;   /* open failed: only errmsg/category work */
    bool in_batch; /* a batch opened by catalog_begin() */
    catalog_clock_fn clock;
    void *clock_data;
    unsigned long budget; /* progress ticks (1000 VM steps each); 0: none */
    unsigned long ticks;
    unsigned budget_ms;  /* wall-clock time one read call may run; 0: none */
    int64_t deadline_ns; /* CLOCK_MONOTONIC end of the current call */
    enum prov_category category;
    int err; /* negative errno of the last failure, 0 when none */
    char errmsg[512];
    struct catalog_stmt *stmts; /* one per static statement text, grows */
    size_t n_stmts, cap_stmts;
    struct catalog_tally tally; /* of the open batch */
    /* The newest run id when this writer opened the catalog: a run at or
     * below it still marked running was left by an earlier process. */
    int64_t runs_at_open;
    /* Full-text writes of the open transaction, applied together just
     * before it commits: FTS5 writes its pending data out at every
     * statement savepoint once it is in a transaction, so interleaving
     * its writes with the other tables' would make one index segment per
     * record. */
    struct catalog_fts_op *fts;
    size_t n_fts, cap_fts, fts_bytes;
};

/* Open the writer at path with the schema brought to version only (for
 * catalog_create_version()); as catalog_open() otherwise. */
int catalog_open_version(const char *path, int version, struct catalog **out);

/* The current time from the handle's clock. */
int64_t catalog_now(struct catalog *c);

/* Forget the last error. */
void catalog_clear_error(struct catalog *c);

/* Record a failure that is not SQLite's: err (a negative errno) is
 * returned. */
int catalog_fail(struct catalog *c, int err, enum prov_category cat, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Record the SQLite failure rc of step what: the message, the category and
 * the errno are set from rc, and an open transaction is rolled back (the
 * batch with it). Returns the negative errno. */
int catalog_sqlfail(struct catalog *c, int rc, const char *what);

/* The cached prepared statement for the static text sql, reset and with
 * cleared bindings; NULL after recording the failure (the caller returns
 * c's error: catalog_last_err()). */
sqlite3_stmt *catalog_stmt(struct catalog *c, const char *sql);

/* The negative errno of the last recorded failure. */
int catalog_last_err(const struct catalog *c);

/* Step st expecting no row (SQLITE_DONE); reset it. 0 or the failure. */
int catalog_step_done(struct catalog *c, sqlite3_stmt *st, const char *what);

/* Step st: 1 for a row, 0 for the end (st is then reset), or a failure. */
int catalog_step_row(struct catalog *c, sqlite3_stmt *st, const char *what);

/* Run SQL text with no result rows. */
int catalog_exec(struct catalog *c, const char *sql);

/* For a write call: refuse readers and failed handles, and open a
 * transaction of its own when no batch is open (*own set). */
int catalog_write_begin(struct catalog *c, bool *own);

/* End a write call begun with catalog_write_begin(): on err == 0 commit
 * an own transaction; on a failure roll back the transaction, the open
 * batch included, so no call is ever half stored. Returns err or the
 * commit's failure. */
int catalog_write_end(struct catalog *c, bool own, int err);

/* For a read call: refuse failed handles, restart the budget and open a
 * read transaction (one snapshot) when none is open (*own set). */
int catalog_read_begin(struct catalog *c, bool *own);

/* End a read call begun with catalog_read_begin(); returns err. */
int catalog_read_end(struct catalog *c, bool own, int err);

/* Restart the query budget. */
void catalog_budget_reset(struct catalog *c);

/* Bind a string or NULL (static: it must outlive the step). */
void catalog_bind_str(sqlite3_stmt *st, int idx, const char *s);

/* Bind by parameter name (":name"); nothing when st has no such name. */
void catalog_bind_named_str(sqlite3_stmt *st, const char *name, const char *s);
void catalog_bind_named_int(sqlite3_stmt *st, const char *name, int64_t v);

/* A new copy of column i, or NULL when it is NULL. */
char *catalog_col_dup(sqlite3_stmt *st, int i);

#endif
