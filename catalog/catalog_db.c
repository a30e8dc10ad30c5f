/*
 * catalog_db: opening and closing the catalog, the connection settings of
 * RELIABILITY.md (WAL, synchronous FULL, busy timeout, extended error
 * codes, defensive mode, no untrusted schema, no extensions, foreign keys,
 * a length limit, a progress budget for readers), the statement cache,
 * batches, the mapping of SQLite errors to errno values and categories,
 * and the storage-level calls: the WAL size for the daemon's alarm and
 * online backups. A writer refuses, at open, a database it could only
 * read.
 *
 * Owns the sqlite3 handle and every prepared statement of a catalog; no
 * sqlite3 type leaves this folder. Never logs.
 */
#include "catalog_db.h"
#include "catalog_runs.h"

#include "catalog_record.h"
#include "catalog_schema.h"

#include "xmalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Row size cap: far above any capped record, far below Debian's 1e9. */
#define CATALOG_LENGTH_LIMIT (16 * 1024 * 1024)
/* VM steps between two calls of the progress handler. */
#define CATALOG_TICK_STEPS 1000

static int64_t catalog_default_clock(void *data)
{
    (void)data;
    return (int64_t)time(NULL);
}

int64_t catalog_now(struct catalog *c)
{
    return c->clock(c->clock_data);
}

void catalog_clear_error(struct catalog *c)
{
    c->category = PROV_OK;
    c->err = 0;
    c->errmsg[0] = '\0';
}

int catalog_fail(struct catalog *c, int err, enum prov_category cat, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(c->errmsg, sizeof(c->errmsg), fmt, ap);
    va_end(ap);
    c->category = cat;
    c->err = err;
    return err;
}

int catalog_last_err(const struct catalog *c)
{
    return c->err ? c->err : -EPROTO;
}

/* The errno and category of an (extended) SQLite result code. */
static int catalog_map_rc(int rc, enum prov_category *cat)
{
    switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        *cat = PROV_DB_BUSY;
        return -EBUSY;
    case SQLITE_INTERRUPT:
        *cat = PROV_DB_BUSY;
        return -ETIMEDOUT;
    case SQLITE_FULL:
        *cat = PROV_STORAGE_FULL;
        return -ENOSPC;
    case SQLITE_IOERR:
        if (rc == SQLITE_IOERR_NOMEM) {
            *cat = PROV_INTERNAL;
            return -ENOMEM;
        }
        *cat = PROV_STORAGE_IO;
        return -EIO;
    case SQLITE_READONLY:
        *cat = PROV_STORAGE_IO;
        return -EROFS;
    case SQLITE_CANTOPEN:
    case SQLITE_PERM:
    case SQLITE_AUTH:
        *cat = PROV_STORAGE_IO;
        return -EACCES;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
        *cat = PROV_DB_CORRUPT;
        return -EUCLEAN;
    case SQLITE_NOMEM:
        *cat = PROV_INTERNAL;
        return -ENOMEM;
    case SQLITE_TOOBIG:
        *cat = PROV_INTERNAL;
        return -EFBIG;
    default:
        *cat = PROV_INTERNAL;
        return -EPROTO;
    }
}

int catalog_sqlfail(struct catalog *c, int rc, const char *what)
{
    enum prov_category cat;
    int err = catalog_map_rc(rc, &cat);

    if (c->db && sqlite3_errcode(c->db) == rc)
        snprintf(c->errmsg, sizeof(c->errmsg), "%s: %s (%s, code %d)", what, sqlite3_errmsg(c->db),
                 sqlite3_errstr(rc), rc);
    else
        snprintf(c->errmsg, sizeof(c->errmsg), "%s: %s (code %d)", what, sqlite3_errstr(rc), rc);
    if (err == -ETIMEDOUT)
        snprintf(c->errmsg, sizeof(c->errmsg),
                 "%s: query stopped at its budget (%lu000 steps or %u ms)", what, c->budget,
                 c->budget_ms);
    c->category = cat;
    c->err = err;
    /* SQLite may already have rolled back (FULL, IOERR); when it has not,
     * the transaction is ours to end: never leave a half batch open. */
    if (c->db && !sqlite3_get_autocommit(c->db))
        sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
    c->in_batch = false;
    memset(&c->tally, 0, sizeof(c->tally));
    catalog_fts_discard(c);
    return err;
}

sqlite3_stmt *catalog_stmt(struct catalog *c, const char *sql)
{
    sqlite3_stmt *st = NULL;
    int rc;

    for (size_t i = 0; i < c->n_stmts; i++) {
        if (c->stmts[i].sql == sql) {
            st = c->stmts[i].st;
            sqlite3_reset(st);
            sqlite3_clear_bindings(st);
            return st;
        }
    }
    rc = sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL);
    if (rc != SQLITE_OK) {
        catalog_sqlfail(c, rc, "prepare");
        return NULL;
    }
    /* The set of static texts is fixed, so the cache stays small; it
     * never evicts, as a caller may still be stepping any entry. */
    if (c->n_stmts == c->cap_stmts) {
        c->cap_stmts = c->cap_stmts ? 2 * c->cap_stmts : 64;
        c->stmts = xreallocarray(c->stmts, c->cap_stmts, sizeof(*c->stmts));
    }
    c->stmts[c->n_stmts].sql = sql;
    c->stmts[c->n_stmts].st = st;
    c->n_stmts++;
    return st;
}

int catalog_step_done(struct catalog *c, sqlite3_stmt *st, const char *what)
{
    int rc = sqlite3_step(st);

    sqlite3_reset(st);
    if (rc == SQLITE_DONE || rc == SQLITE_ROW)
        return 0;
    return catalog_sqlfail(c, rc, what);
}

int catalog_step_row(struct catalog *c, sqlite3_stmt *st, const char *what)
{
    int rc = sqlite3_step(st);

    if (rc == SQLITE_ROW)
        return 1;
    sqlite3_reset(st);
    if (rc == SQLITE_DONE)
        return 0;
    return catalog_sqlfail(c, rc, what);
}

int catalog_exec(struct catalog *c, const char *sql)
{
    int rc = sqlite3_exec(c->db, sql, NULL, NULL, NULL);

    return rc == SQLITE_OK ? 0 : catalog_sqlfail(c, rc, sql);
}

static int64_t catalog_monotonic_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void catalog_budget_reset(struct catalog *c)
{
    c->ticks = 0;
    if (c->budget_ms)
        c->deadline_ns = catalog_monotonic_ns() + (int64_t)c->budget_ms * 1000000;
}

/* Called every CATALOG_TICK_STEPS VM steps: a read call stops when it has
 * run its steps or its time (a slow disk or a cold cache makes the same
 * steps take longer, and the time is what the event loop feels). */
static int catalog_progress(void *data)
{
    struct catalog *c = data;

    if (c->budget && ++c->ticks > c->budget)
        return 1;
    return c->budget_ms && c->budget && catalog_monotonic_ns() > c->deadline_ns;
}

void catalog_bind_str(sqlite3_stmt *st, int idx, const char *s)
{
    if (s)
        sqlite3_bind_text(st, idx, s, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, idx);
}

void catalog_bind_named_str(sqlite3_stmt *st, const char *name, const char *s)
{
    int idx = sqlite3_bind_parameter_index(st, name);

    if (idx > 0)
        catalog_bind_str(st, idx, s);
}

void catalog_bind_named_int(sqlite3_stmt *st, const char *name, int64_t v)
{
    int idx = sqlite3_bind_parameter_index(st, name);

    if (idx > 0)
        sqlite3_bind_int64(st, idx, v);
}

char *catalog_col_dup(sqlite3_stmt *st, int i)
{
    const unsigned char *s = sqlite3_column_text(st, i);

    return s ? xstrdup((const char *)s) : NULL;
}

/* ---- transactions ------------------------------------------------------ */

int catalog_write_begin(struct catalog *c, bool *own)
{
    int rc;

    *own = false;
    catalog_clear_error(c);
    if (c->failed)
        return catalog_fail(c, -EBADF, PROV_INTERNAL, "the catalog is not open");
    if (c->readonly)
        return catalog_fail(c, -EROFS, PROV_OK, "a reader handle cannot write");
    if (c->in_batch)
        return 0;
    rc = sqlite3_exec(c->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return catalog_sqlfail(c, rc, "begin");
    *own = true;
    return 0;
}

int catalog_write_end(struct catalog *c, bool own, int err)
{
    int rc;

    if (err != 0) {
        /* A call that failed half way must not leave half its writes in
         * the batch: the whole batch goes. */
        if (!sqlite3_get_autocommit(c->db))
            sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
        c->in_batch = false;
        memset(&c->tally, 0, sizeof(c->tally));
        catalog_fts_discard(c);
        return err;
    }
    if (!own)
        return 0;
    err = catalog_fts_flush(c);
    if (err)
        return err;
    rc = sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return catalog_sqlfail(c, rc, "commit");
    return 0;
}

int catalog_read_begin(struct catalog *c, bool *own)
{
    int rc;

    *own = false;
    catalog_clear_error(c);
    if (c->failed)
        return catalog_fail(c, -EBADF, PROV_INTERNAL, "the catalog is not open");
    catalog_budget_reset(c);
    if (!sqlite3_get_autocommit(c->db))
        return catalog_fts_flush(c); /* reads inside a batch see its text */
    rc = sqlite3_exec(c->db, "BEGIN", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return catalog_sqlfail(c, rc, "begin read");
    *own = true;
    return 0;
}

int catalog_read_end(struct catalog *c, bool own, int err)
{
    if (own && !sqlite3_get_autocommit(c->db))
        sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL);
    return err;
}

int catalog_begin(struct catalog *c)
{
    bool own;
    int err;

    if (c->in_batch) {
        catalog_clear_error(c);
        return catalog_fail(c, -EALREADY, PROV_OK, "a batch is already open");
    }
    err = catalog_write_begin(c, &own);
    if (err)
        return err;
    c->in_batch = true;
    memset(&c->tally, 0, sizeof(c->tally));
    return 0;
}

int catalog_commit(struct catalog *c, struct catalog_tally *tally)
{
    int rc;

    catalog_clear_error(c);
    if (!c->in_batch)
        return catalog_fail(c, -EINVAL, PROV_OK, "no batch is open");
    if (catalog_fts_flush(c) != 0)
        return catalog_last_err(c);
    rc = sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return catalog_sqlfail(c, rc, "commit");
    c->in_batch = false;
    if (tally)
        *tally = c->tally;
    memset(&c->tally, 0, sizeof(c->tally));
    return 0;
}

void catalog_rollback(struct catalog *c)
{
    if (c == NULL || c->db == NULL)
        return;
    if (!sqlite3_get_autocommit(c->db))
        sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
    c->in_batch = false;
    memset(&c->tally, 0, sizeof(c->tally));
    catalog_fts_discard(c);
}

bool catalog_in_batch(const struct catalog *c)
{
    return c->in_batch;
}

/* ---- open and close ---------------------------------------------------- */

const char *catalog_errmsg(const struct catalog *c)
{
    return c->errmsg;
}

enum prov_category catalog_category(const struct catalog *c)
{
    return c->category;
}

/* Connection settings shared by writer and readers. */
static int catalog_configure(struct catalog *c, int busy_ms, unsigned cache_kib)
{
    char pragmas[192];
    int rc = SQLITE_OK;

    sqlite3_extended_result_codes(c->db, 1);
    sqlite3_busy_timeout(c->db, busy_ms);
    sqlite3_limit(c->db, SQLITE_LIMIT_LENGTH, CATALOG_LENGTH_LIMIT);
    sqlite3_limit(c->db, SQLITE_LIMIT_SQL_LENGTH, 1024 * 1024);
    sqlite3_limit(c->db, SQLITE_LIMIT_ATTACHED, 0);
    if (sqlite3_db_config(c->db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL) != SQLITE_OK ||
        sqlite3_db_config(c->db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL) != SQLITE_OK ||
        sqlite3_db_config(c->db, SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, 0, NULL) != SQLITE_OK ||
        sqlite3_db_config(c->db, SQLITE_DBCONFIG_DQS_DML, 0, NULL) != SQLITE_OK ||
        sqlite3_db_config(c->db, SQLITE_DBCONFIG_DQS_DDL, 0, NULL) != SQLITE_OK)
        return catalog_fail(c, -EPROTO, PROV_INTERNAL, "sqlite3_db_config refused a setting");
    sqlite3_progress_handler(c->db, CATALOG_TICK_STEPS, catalog_progress, c);
    rc = catalog_record_register_functions(c->db);
    if (rc != SQLITE_OK)
        return catalog_sqlfail(c, rc, "register functions");
    /* foreign_keys and trusted_schema are per connection. A page cache of
     * 8 MiB at most per connection keeps the daemon's memory small
     * (bench/README.md, "Control socket"); the operating system's page
     * cache holds the rest of a hot catalog. */
    snprintf(pragmas, sizeof(pragmas),
             "PRAGMA foreign_keys = ON; PRAGMA trusted_schema = OFF;"
             " PRAGMA cache_size = -%u; PRAGMA temp_store = MEMORY;",
             cache_kib ? cache_kib : 8192);
    return catalog_exec(c, pragmas);
}

/* The writer's persistent settings: WAL, FULL sync, a bounded WAL. */
static int catalog_configure_writer(struct catalog *c)
{
    sqlite3_stmt *st;
    char sql[160];
    int rc, err;

    rc = sqlite3_prepare_v2(c->db, "PRAGMA journal_mode = WAL", -1, &st, NULL);
    if (rc != SQLITE_OK)
        return catalog_sqlfail(c, rc, "journal_mode");
    rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        sqlite3_finalize(st);
        return catalog_sqlfail(c, rc, "journal_mode");
    }
    if (strcmp((const char *)sqlite3_column_text(st, 0), "wal") != 0) {
        sqlite3_finalize(st);
        return catalog_fail(c, -EIO, PROV_STORAGE_IO,
                            "the database cannot use write-ahead logging");
    }
    sqlite3_finalize(st);
    snprintf(sql, sizeof(sql),
             "PRAGMA synchronous = FULL; PRAGMA journal_size_limit = %d;"
             " PRAGMA wal_autocheckpoint = 1000;",
             CATALOG_JOURNAL_SIZE_LIMIT);
    err = catalog_exec(c, sql);
    return err;
}

int catalog_check(struct catalog *c, bool full)
{
    sqlite3_stmt *st = NULL;
    unsigned long budget = c->budget;
    int rc, err = 0;

    catalog_clear_error(c);
    if (c->failed)
        return catalog_fail(c, -EBADF, PROV_INTERNAL, "the catalog is not open");
    if (!sqlite3_get_autocommit(c->db) && catalog_fts_flush(c) != 0)
        return catalog_last_err(c);
    c->budget = 0; /* a check reads everything, by design */
    rc = sqlite3_prepare_v2(c->db, full ? "PRAGMA integrity_check(1)" : "PRAGMA quick_check(1)", -1,
                            &st, NULL);
    if (rc != SQLITE_OK) {
        err = catalog_sqlfail(c, rc, "check");
        goto out;
    }
    rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        err = catalog_sqlfail(c, rc, "check");
        goto out;
    }
    if (strcmp((const char *)sqlite3_column_text(st, 0), "ok") != 0) {
        err = catalog_fail(c, -EUCLEAN, PROV_DB_CORRUPT, "database check failed: %s",
                           (const char *)sqlite3_column_text(st, 0));
        goto out;
    }
    if (full && catalog_schema_has_fts(c)) {
        /* The full-text index's own check compares it with the records;
         * it needs a write transaction, so readers skip it. */
        if (!c->readonly) {
            rc = sqlite3_exec(c->db,
                              "INSERT INTO records_fts(records_fts, rank)"
                              " VALUES('integrity-check', 1)",
                              NULL, NULL, NULL);
            if (rc != SQLITE_OK)
                err = catalog_sqlfail(c, rc, "full-text index check");
            if (err == -EPROTO || err == -EUCLEAN) {
                /* FTS5 reports a damaged index as SQLITE_CORRUPT_VTAB or
                 * as a plain error: both mean the index cannot be trusted. */
                c->err = err = -EUCLEAN;
                c->category = PROV_DB_CORRUPT;
            }
        }
    }
out:
    sqlite3_finalize(st);
    c->budget = budget;
    return err;
}

/* A writer that cannot open or write its files: say which permission is
 * missing, as SQLite's words ("unable to open database file", "attempt to
 * write a readonly database") do not. Checked with the effective ids, as
 * the kernel checks SQLite's open(). */
static void catalog_explain_storage(struct catalog *c, const char *path)
{
    char *dir = xstrdup(path), *slash = strrchr(dir, '/');
    const char *d = ".";
    char msg[sizeof(c->errmsg)];

    if (slash) {
        slash[slash == dir ? 1 : 0] = '\0';
        d = dir;
    }
    /* The refusal above already says READONLY: keep its detail only. */
    snprintf(msg, sizeof(msg), "%s",
             strncmp(c->errmsg, "READONLY: ", 10) == 0 ? c->errmsg + 10 : c->errmsg);
    if (faccessat(AT_FDCWD, path, F_OK, AT_EACCESS) == 0 &&
        faccessat(AT_FDCWD, path, R_OK | W_OK, AT_EACCESS) != 0)
        catalog_fail(c, -EROFS, PROV_STORAGE_IO,
                     "READONLY: this process cannot write the database file %s: %s", path, msg);
    else if (faccessat(AT_FDCWD, d, W_OK | X_OK, AT_EACCESS) != 0)
        catalog_fail(c, -EROFS, PROV_STORAGE_IO,
                     "READONLY: this process cannot create files in the directory %s (the writer"
                     " needs the database's -wal and -shm files there): %s",
                     d, msg);
    free(dir);
}

static int catalog_open_target(const char *path, const struct catalog_options *opt,
                               struct catalog **out, int target)
{
    static const struct catalog_options defaults = {0};
    struct catalog *c = xcalloc(1, sizeof(*c));
    int flags, rc, err;

    if (opt == NULL)
        opt = &defaults;
    *out = c;
    c->readonly = opt->readonly;
    c->clock = opt->clock ? opt->clock : catalog_default_clock;
    c->clock_data = opt->clock_data;
    c->budget = opt->budget ? opt->budget : (opt->readonly ? 20000 : 0);
    c->budget_ms = opt->budget_ms;
    flags = SQLITE_OPEN_EXRESCODE | SQLITE_OPEN_NOMUTEX;
    flags |= opt->readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
    rc = sqlite3_open_v2(path, &c->db, flags, NULL);
    if (rc != SQLITE_OK) {
        err = catalog_sqlfail(c, rc, path);
        goto fail;
    }
    /* SQLite quietly opens a file it may not write read-only; the first
     * write would fail much later, so the writer refuses here. */
    if (!opt->readonly && sqlite3_db_readonly(c->db, "main") == 1) {
        err = catalog_fail(c, -EROFS, PROV_STORAGE_IO,
                           "READONLY: SQLite could open %s for reading only", path);
        goto fail;
    }
    err = catalog_configure(
        c, opt->busy_timeout_ms > 0 ? opt->busy_timeout_ms : (opt->readonly ? 200 : 5000),
        opt->cache_kib);
    if (err)
        goto fail;
    /* The first read of the file: a file that is not a database fails
     * here with NOTADB, before anything could be written to it. */
    err = catalog_schema_version(c, NULL);
    if (err)
        goto fail;
    if (!opt->readonly && !opt->skip_check) {
        err = catalog_check(c, false);
        if (err)
            goto fail;
    }
    if (!opt->readonly) {
        err = catalog_configure_writer(c);
        if (err)
            goto fail;
    }
    err = opt->readonly ? catalog_schema_require(c) : catalog_schema_migrate_to(c, target);
    if (err)
        goto fail;
    if (!opt->readonly && target == CATALOG_SCHEMA_VERSION) {
        err = catalog_runs_note_open(c);
        if (err)
            goto fail;
    }
    catalog_clear_error(c);
    return 0;
fail:
    if (!opt->readonly && c->category == PROV_STORAGE_IO)
        catalog_explain_storage(c, path);
    err = c->err ? c->err : err;
    for (size_t i = 0; i < c->n_stmts; i++)
        sqlite3_finalize(c->stmts[i].st);
    c->n_stmts = 0;
    sqlite3_close_v2(c->db);
    c->db = NULL;
    c->failed = true;
    if (c->errmsg[0] == '\0')
        snprintf(c->errmsg, sizeof(c->errmsg), "cannot open %s", path);
    return err;
}

int catalog_idle(struct catalog *c)
{
    sqlite3_stmt *st = NULL;
    int rc, err = 0;

    catalog_clear_error(c);
    if (c->failed)
        return catalog_fail(c, -EBADF, PROV_INTERNAL, "the catalog is not open");
    if (c->readonly || c->in_batch)
        return catalog_fail(c, -EINVAL, PROV_OK, "only an idle writer can do housekeeping");
    /* optimize first: what it writes (statistics) goes out with the
     * checkpoint, which leaves the log empty. */
    err = catalog_exec(c, "PRAGMA optimize");
    if (err)
        return err;
    rc = sqlite3_prepare_v2(c->db, "PRAGMA wal_checkpoint(TRUNCATE)", -1, &st, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc != SQLITE_ROW)
        err = catalog_sqlfail(c, rc, "checkpoint");
    else if (sqlite3_column_int(st, 0) != 0)
        err = catalog_fail(c, -EBUSY, PROV_DB_BUSY, "checkpoint blocked by a reader");
    sqlite3_finalize(st);
    return err;
}

int catalog_wal_bytes(struct catalog *c, int64_t *bytes)
{
    const char *db, *wal;
    struct stat sb;

    *bytes = 0;
    catalog_clear_error(c);
    if (c->failed)
        return catalog_fail(c, -EBADF, PROV_INTERNAL, "the catalog is not open");
    db = sqlite3_db_filename(c->db, "main");
    if (db == NULL || db[0] == '\0')
        return 0; /* a temporary database has no log file */
    wal = sqlite3_filename_wal(db);
    if (stat(wal, &sb) != 0) {
        if (errno == ENOENT)
            return 0;
        return catalog_fail(c, -EIO, PROV_STORAGE_IO, "%s: %s", wal, strerror(errno));
    }
    *bytes = (int64_t)sb.st_size;
    return 0;
}

/* Make the rename of a finished copy durable: sync its directory. */
static int catalog_sync_dir(const char *path)
{
    char *dir = xstrdup(path), *slash = strrchr(dir, '/');
    int fd, err = 0;

    if (slash)
        slash[slash == dir ? 1 : 0] = '\0';
    fd = open(slash ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || fsync(fd) != 0)
        err = -errno;
    if (fd >= 0)
        close(fd);
    free(dir);
    return err;
}

/*
 * The backup API rather than VACUUM INTO: VACUUM INTO attaches the target,
 * and every catalog connection allows no attached databases (a tampered
 * database cannot reach other files); and the backup API copies pages as
 * they are, so the copy is byte for byte what integrity_check saw. One
 * step of all pages (-1) runs in one read transaction: a consistent
 * snapshot that the writer cannot restart, whereas copying in slices
 * starts over whenever another connection commits, and a busy harvest
 * could keep it from ever finishing. The copy is written under a
 * temporary name, synced, then renamed, so dest_path never names half a
 * copy.
 */
int catalog_backup(struct catalog *c, const char *dest_path)
{
    sqlite3 *dst = NULL;
    sqlite3_backup *b;
    char *tmp = NULL;
    int rc, err = 0;

    catalog_clear_error(c);
    if (c->failed)
        return catalog_fail(c, -EBADF, PROV_INTERNAL, "the catalog is not open");
    if (c->in_batch || !sqlite3_get_autocommit(c->db))
        return catalog_fail(c, -EINVAL, PROV_OK, "no backup inside a batch");
    if (access(dest_path, F_OK) == 0)
        return catalog_fail(c, -EEXIST, PROV_OK, "%s exists", dest_path);
    tmp = xasprintf("%s.partial", dest_path);
    unlink(tmp); /* the remains of an interrupted backup */
    rc = sqlite3_open_v2(tmp, &dst,
                         SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_EXRESCODE |
                             SQLITE_OPEN_NOMUTEX,
                         NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(dst, "PRAGMA synchronous = FULL", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        err = catalog_sqlfail(c, rc, tmp);
        if (dst)
            catalog_fail(c, err, c->category, "%s: %s", tmp, sqlite3_errmsg(dst));
        goto out;
    }
    b = sqlite3_backup_init(dst, "main", c->db, "main");
    if (b == NULL) {
        err = catalog_sqlfail(c, sqlite3_extended_errcode(dst), "backup");
        catalog_fail(c, err, c->category, "backup: %s", sqlite3_errmsg(dst));
        goto out;
    }
    rc = sqlite3_backup_step(b, -1);
    sqlite3_backup_finish(b);
    if (rc != SQLITE_DONE) {
        err = catalog_sqlfail(c, rc, "backup");
        goto out;
    }
    /* The copy's commit synced the file (synchronous FULL); closing
     * reports any error the close itself met. */
    rc = sqlite3_close(dst);
    dst = NULL;
    if (rc != SQLITE_OK) {
        err = catalog_sqlfail(c, rc, "close backup");
        goto out;
    }
    if (rename(tmp, dest_path) != 0 || catalog_sync_dir(dest_path) != 0) {
        err = catalog_fail(c, -EIO, PROV_STORAGE_IO, "%s: %s", dest_path, strerror(errno));
        goto out;
    }
out:
    if (dst)
        sqlite3_close_v2(dst);
    if (err) {
        char *j = xasprintf("%s-journal", tmp);

        unlink(tmp);
        unlink(j);
        free(j);
    }
    free(tmp);
    return err;
}

int catalog_open(const char *path, const struct catalog_options *opt, struct catalog **out)
{
    return catalog_open_target(path, opt, out, CATALOG_SCHEMA_VERSION);
}

int catalog_open_version(const char *path, int version, struct catalog **out)
{
    return catalog_open_target(path, NULL, out, version);
}

void catalog_close(struct catalog *c)
{
    if (c == NULL)
        return;
    if (c->db) {
        catalog_rollback(c);
        for (size_t i = 0; i < c->n_stmts; i++)
            sqlite3_finalize(c->stmts[i].st);
        if (!c->readonly) {
            c->budget = 0;
            sqlite3_exec(c->db, "PRAGMA optimize", NULL, NULL, NULL);
        }
        sqlite3_close_v2(c->db);
    }
    catalog_fts_discard(c);
    free(c->fts);
    free(c->stmts);
    free(c);
}
