/*
 * Database fault rows of RELIABILITY.md, each provoked as its row says, on
 * real SQLite files in a temporary directory:
 *
 * D2  power loss, simulated by a test-only VFS that wraps the unix VFS,
 *     passes everything through (but the fsync itself: the model, not the
 *     disk, is what survives here) and remembers, per file, what the last
 *     xSync made durable and every write and truncation since. At a random
 *     write, sync, truncation or deletion the power goes: that operation
 *     and all later ones fail, and once the catalog is closed each file is
 *     rebuilt from its durable image plus the unsynced operations, by one
 *     of three models chosen in turn: all dropped; each 512-byte sector of
 *     each write kept or dropped at random (truncations likewise); or each
 *     sector kept, dropped or filled with random bytes. Damage never leaves
 *     the byte range that was written (SQLite's powersafe-overwrite
 *     assumption); the -shm file, memory that a reboot loses, is removed.
 *     Then the catalog must open, pass integrity_check, hold every batch
 *     whose commit returned 0, and hold each batch whole or not at all.
 * D4  a file-size limit (RLIMIT_FSIZE, SIGXFSZ ignored) makes writes fail
 *     with EFBIG in a child: STORAGE_IO, batch rolled back, reads working,
 *     one failed write per failed call (no retry storm), and writing
 *     resumes with the limit raised and in a new process. Then fsync
 *     failing with EIO (through the VFS shim): the same, one failed fsync
 *     per failed call.
 * D5  another process holds BEGIN IMMEDIATE: the writer waits its busy
 *     timeout, then DB_BUSY; readers answer; writing works afterwards.
 * D6  a reader holding one snapshot while 10,000 records are written (1,500
 *     in the regular suite): the WAL grows past the autocheckpoint point,
 *     and in the long suite past journal_size_limit (catalog_wal_bytes()
 *     reports it); after the reader ends the next checkpoints bring it
 *     back under CATALOG_JOURNAL_SIZE_LIMIT.
 * D8  read-only database file, read-only directory, and a new database in
 *     a read-only directory: catalog_open() fails with STORAGE_IO and a
 *     READONLY message, and leaves the file as it was. Run as uid 65534 in
 *     a child when the test runs as root (root ignores permission bits).
 * D10 a child opening an old-version catalog is killed with SIGKILL at a
 *     random time during its migration: the schema objects left are
 *     always exactly those that the code of the version in user_version
 *     makes, and the next open finishes the migration.
 * D11 catalog_backup() from a reader while a child process keeps
 *     committing batches: each copy passes integrity_check, opens with
 *     catalog_open() and holds whole batches only.
 * D12 -wal and -shm removed after a crash: the catalog opens, holds what
 *     the last checkpoint held, and is sound; -shm alone loses nothing.
 *
 * PROVD_LONG=1 raises the counts (D2 200 cycles, D6 10,000 records, D10
 * 100 kills); PROVD_FAULT_SEED fixes the random seed and PROVD_FAULT_ONLY
 * (a cmocka filter such as "test_d2_*") picks tests. Each test prints a
 * figure line starting with its row id. D2, D6, D10 and D11 do not
 * depend on what the disk itself keeps (a simulated power loss, kill -9,
 * WAL sizes, copies), so they run with the fsync calls left out
 * (pl_fast()), which keeps the suite fast on a busy disk.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "catalog.h"
#include "catalog_fixture.h"

#include "strbuf.h"
#include "xmalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define BATCH 5 /* records per batch */

struct env {
    char *dir;
    char *db;
    int64_t now;
};

static uint64_t rng_state;

static uint64_t rnd(void)
{
    /* xorshift64*: good enough to pick crash points and sectors. */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ULL;
}

static long rnd_below(long n)
{
    return n > 0 ? (long)(rnd() % (uint64_t)n) : 0;
}

static bool long_run(void)
{
    const char *v = getenv("PROVD_LONG");

    return v && v[0] && strcmp(v, "0") != 0;
}

static int setup(void **state)
{
    struct env *e = xcalloc(1, sizeof(*e));

    e->dir = fx_tmpdir();
    e->db = fx_path(e->dir, "catalog.db");
    e->now = 1700000000;
    *state = e;
    return 0;
}

static void pl_unregister(void);

static int teardown(void **state)
{
    struct env *e = *state;

    pl_unregister(); /* when a test stopped half way */
    chmod(e->dir, 0700);
    fx_rmtree(e->dir);
    free(e->db);
    free(e->dir);
    free(e);
    return 0;
}

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int64_t file_size(const char *path)
{
    struct stat sb;

    return stat(path, &sb) == 0 ? (int64_t)sb.st_size : -1;
}

static char *suffixed(const char *db, const char *suffix)
{
    return xasprintf("%s%s", db, suffix);
}

/* Key k's record: text_len bytes of text that differ from key to key. */
static struct record *make_record(long k, size_t text_len)
{
    char id[32];
    struct record *r;

    snprintf(id, sizeof(id), "%ld", k);
    r = fx_record(id, "Written under a fault");
    if (text_len) {
        free(r->text);
        r->text = xmalloc(text_len + 1);
        for (size_t i = 0; i < text_len; i++)
            r->text[i] = (char)(i % 9 == 8 ? ' ' : 'a' + (char)((i * 7 + (size_t)k) % 26));
        r->text[text_len] = '\0';
    }
    return r;
}

/* Store batch b (keys b*BATCH ...) in one batch; 0 once committed. */
static int put_batch(struct catalog *c, long b, size_t text_len)
{
    int err = catalog_begin(c);

    for (int i = 0; i < BATCH && err == 0; i++) {
        struct record *r = make_record(b * BATCH + i, text_len);
        struct catalog_page p = {.source = "test", .url = r->url};

        err = catalog_upsert(c, &p, r, NULL);
        record_free(r);
    }
    if (err == 0)
        err = catalog_commit(c, NULL);
    else
        catalog_rollback(c);
    return err;
}

static int64_t record_count(struct catalog *c)
{
    struct catalog_counts n;

    assert_int_equal(catalog_counts(c, NULL, &n), 0);
    return n.records;
}

/* Per key present: a bitmap of the keys of source "test" in the database
 * at path, read with plain SQLite. Returns 0, or -1 when unreadable. */
static int raw_keys(const char *path, unsigned char *present, long max_key)
{
    sqlite3 *db;
    sqlite3_stmt *st = NULL;
    int rc;

    memset(present, 0, (size_t)max_key);
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        sqlite3_close(db);
        return -1;
    }
    rc = sqlite3_prepare_v2(db, "SELECT key FROM records WHERE source = 'test'", -1, &st, NULL);
    while (st && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        long k = strtol((const char *)sqlite3_column_text(st, 0), NULL, 10);

        if (k >= 0 && k < max_key)
            present[k] = 1;
    }
    if (rc != SQLITE_DONE)
        fprintf(stderr, "%s: %s\n", path, sqlite3_errmsg(db));
    sqlite3_finalize(st);
    sqlite3_close(db);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* The first row of sql on the database at path as an int, or -1. */
static int raw_int(const char *path, const char *sql)
{
    sqlite3 *db;
    sqlite3_stmt *st = NULL;
    int v = -1;

    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

/* PRAGMA integrity_check of the file at path with plain SQLite. */
static bool raw_integrity_ok(const char *path)
{
    sqlite3 *db;
    sqlite3_stmt *st = NULL;
    bool ok = false;

    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        ok = strcmp((const char *)sqlite3_column_text(st, 0), "ok") == 0;
    sqlite3_finalize(st);
    sqlite3_close(db);
    return ok;
}

static void copy_file(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
    char buf[65536];
    size_t n;

    assert_non_null(in);
    assert_non_null(out);
    while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
        assert_int_equal(fwrite(buf, 1, n, out), n);
    fclose(in);
    assert_int_equal(fclose(out), 0);
}

/* Wait for child pid at most timeout_s seconds, then kill it; its status. */
static int wait_bounded(pid_t pid, double timeout_s)
{
    double end = now_s() + timeout_s;
    int status = -1;

    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);

        if (r == pid)
            return status;
        if (r < 0)
            return -1;
        if (now_s() > end) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            return status;
        }
        usleep(2000);
    }
}

/* ---- the power-loss VFS ------------------------------------------------ */

enum pl_mode {
    PL_PASS,  /* pass everything through */
    PL_COUNT, /* count writes and failed writes (D4) */
    PL_POWER, /* remember durable images; lose power at operation crash_at */
};

struct pl_op {
    bool truncate;
    int64_t off; /* truncate: the new size */
    int len;
    unsigned char *data;
};

/* One file the simulation follows, by name. */
struct pl_track {
    char *path;
    bool exists;
    unsigned char *img; /* what the last sync made durable */
    size_t len, cap;
    struct pl_op *ops; /* since that sync, in order */
    size_t n_ops, cap_ops;
};

struct pl_file {
    sqlite3_file base;
    sqlite3_file *real; /* the unix VFS's file, allocated right after */
    struct pl_track *t; /* NULL when not followed */
};

static struct {
    sqlite3_vfs vfs;
    sqlite3_vfs *unix_vfs;
    enum pl_mode mode;
    long ops, crash_at;
    bool lost;
    struct pl_track **tracks; /* each allocated alone: files keep pointers */
    size_t n_tracks;
    long writes, write_fails; /* PL_COUNT */
    bool registered;
    bool no_fsync;   /* xSync updates the model only (see pl_fast) */
    bool fail_fsync; /* PL_COUNT: every xSync fails with EIO */
    long sync_fails;
} pl;

/* Room for size bytes in t's image, grown by doubling. */
static void pl_img_reserve(struct pl_track *t, size_t size)
{
    if (size <= t->cap)
        return;
    t->cap = t->cap ? t->cap : 65536;
    while (t->cap < size)
        t->cap *= 2;
    t->img = xreallocarray(t->img, t->cap, 1);
}

static struct pl_track *pl_track_find(const char *path)
{
    for (size_t i = 0; i < pl.n_tracks; i++)
        if (strcmp(pl.tracks[i]->path, path) == 0)
            return pl.tracks[i];
    return NULL;
}

/* Start following path with its present contents as the durable image:
 * at the start of a cycle every file is as a completed sync left it. */
static struct pl_track *pl_track_open(const char *path)
{
    struct pl_track *t = pl_track_find(path);
    FILE *f;

    if (t && t->exists)
        return t;
    if (t == NULL) {
        pl.tracks = xreallocarray(pl.tracks, pl.n_tracks + 1, sizeof(*pl.tracks));
        t = xcalloc(1, sizeof(*t));
        pl.tracks[pl.n_tracks++] = t;
        t->path = xstrdup(path);
    }
    t->exists = true;
    t->len = 0;
    f = fopen(path, "rb");
    if (f) {
        unsigned char buf[65536];
        size_t n;

        while ((n = fread(buf, 1, sizeof(buf), f)) > 0) {
            pl_img_reserve(t, t->len + n);
            memcpy(t->img + t->len, buf, n);
            t->len += n;
        }
        fclose(f);
    }
    return t;
}

static void pl_ops_clear(struct pl_track *t)
{
    for (size_t i = 0; i < t->n_ops; i++)
        free(t->ops[i].data);
    t->n_ops = 0;
}

static void pl_push(struct pl_track *t, const struct pl_op *op)
{
    if (t->n_ops == t->cap_ops) {
        t->cap_ops = t->cap_ops ? 2 * t->cap_ops : 64;
        t->ops = xreallocarray(t->ops, t->cap_ops, sizeof(*t->ops));
    }
    t->ops[t->n_ops++] = *op;
}

static void pl_img_write(struct pl_track *t, int64_t off, const unsigned char *data, size_t n)
{
    size_t end = (size_t)off + n;

    if (end > t->len) {
        pl_img_reserve(t, end);
        memset(t->img + t->len, 0, end - t->len);
        t->len = end;
    }
    memcpy(t->img + off, data, n);
}

static void pl_img_truncate(struct pl_track *t, int64_t size)
{
    if ((size_t)size < t->len) {
        t->len = (size_t)size;
    } else if ((size_t)size > t->len) {
        pl_img_reserve(t, (size_t)size);
        memset(t->img + t->len, 0, (size_t)size - t->len);
        t->len = (size_t)size;
    }
}

/* One more operation that changes a file: false when the power is out
 * (now or from before). */
static bool pl_tick(void)
{
    if (pl.mode != PL_POWER)
        return true;
    if (pl.lost)
        return false;
    if (++pl.ops >= pl.crash_at) {
        pl.lost = true;
        return false;
    }
    return true;
}

static int pl_close(sqlite3_file *f)
{
    struct pl_file *p = (struct pl_file *)f;

    return p->real->pMethods->xClose(p->real);
}

static int pl_read(sqlite3_file *f, void *buf, int n, sqlite3_int64 off)
{
    struct pl_file *p = (struct pl_file *)f;

    return p->real->pMethods->xRead(p->real, buf, n, off);
}

static int pl_write(sqlite3_file *f, const void *buf, int n, sqlite3_int64 off)
{
    struct pl_file *p = (struct pl_file *)f;
    int rc;

    if (!pl_tick())
        return SQLITE_IOERR_WRITE;
    rc = p->real->pMethods->xWrite(p->real, buf, n, off);
    if (pl.mode == PL_COUNT) {
        pl.writes++;
        pl.write_fails += rc != SQLITE_OK;
    }
    if (rc == SQLITE_OK && p->t && pl.mode == PL_POWER) {
        struct pl_op op = {.off = off, .len = n, .data = xmalloc((size_t)n)};

        memcpy(op.data, buf, (size_t)n);
        pl_push(p->t, &op);
    }
    return rc;
}

static int pl_truncate(sqlite3_file *f, sqlite3_int64 size)
{
    struct pl_file *p = (struct pl_file *)f;
    int rc;

    if (!pl_tick())
        return SQLITE_IOERR_TRUNCATE;
    rc = p->real->pMethods->xTruncate(p->real, size);
    if (rc == SQLITE_OK && p->t && pl.mode == PL_POWER)
        pl_push(p->t, &(struct pl_op){.truncate = true, .off = size});
    return rc;
}

static int pl_sync(sqlite3_file *f, int flags)
{
    struct pl_file *p = (struct pl_file *)f;
    int rc;

    if (!pl_tick())
        return SQLITE_IOERR_FSYNC;
    if (pl.mode == PL_COUNT && pl.fail_fsync) {
        pl.sync_fails++;
        return SQLITE_IOERR_FSYNC;
    }
    rc = pl.no_fsync ? SQLITE_OK : p->real->pMethods->xSync(p->real, flags);
    if (rc == SQLITE_OK && p->t && pl.mode == PL_POWER) {
        for (size_t i = 0; i < p->t->n_ops; i++) {
            const struct pl_op *op = &p->t->ops[i];

            if (op->truncate)
                pl_img_truncate(p->t, op->off);
            else
                pl_img_write(p->t, op->off, op->data, (size_t)op->len);
        }
        pl_ops_clear(p->t);
    }
    return rc;
}

static int pl_file_size(sqlite3_file *f, sqlite3_int64 *size)
{
    struct pl_file *p = (struct pl_file *)f;

    return p->real->pMethods->xFileSize(p->real, size);
}

static int pl_lock(sqlite3_file *f, int level)
{
    struct pl_file *p = (struct pl_file *)f;

    return p->real->pMethods->xLock(p->real, level);
}

static int pl_unlock(sqlite3_file *f, int level)
{
    struct pl_file *p = (struct pl_file *)f;

    return p->real->pMethods->xUnlock(p->real, level);
}

static int pl_check_reserved(sqlite3_file *f, int *out)
{
    struct pl_file *p = (struct pl_file *)f;

    return p->real->pMethods->xCheckReservedLock(p->real, out);
}

static int pl_file_control(sqlite3_file *f, int op, void *arg)
{
    struct pl_file *p = (struct pl_file *)f;

    return p->real->pMethods->xFileControl(p->real, op, arg);
}

static int pl_sector_size(sqlite3_file *f)
{
    struct pl_file *p = (struct pl_file *)f;

    return p->real->pMethods->xSectorSize(p->real);
}

static int pl_device_characteristics(sqlite3_file *f)
{
    struct pl_file *p = (struct pl_file *)f;

    return p->real->pMethods->xDeviceCharacteristics(p->real);
}

static int pl_shm_map(sqlite3_file *f, int pg, int pgsz, int extend, void volatile **pp)
{
    struct pl_file *p = (struct pl_file *)f;

    return p->real->pMethods->xShmMap(p->real, pg, pgsz, extend, pp);
}

static int pl_shm_lock(sqlite3_file *f, int offset, int n, int flags)
{
    struct pl_file *p = (struct pl_file *)f;

    return p->real->pMethods->xShmLock(p->real, offset, n, flags);
}

static void pl_shm_barrier(sqlite3_file *f)
{
    struct pl_file *p = (struct pl_file *)f;

    p->real->pMethods->xShmBarrier(p->real);
}

static int pl_shm_unmap(sqlite3_file *f, int del)
{
    struct pl_file *p = (struct pl_file *)f;

    return p->real->pMethods->xShmUnmap(p->real, del);
}

/* Version 2: no xFetch, so SQLite never maps the files into memory and
 * every change goes through xWrite. */
static const sqlite3_io_methods pl_methods = {
    .iVersion = 2,
    .xClose = pl_close,
    .xRead = pl_read,
    .xWrite = pl_write,
    .xTruncate = pl_truncate,
    .xSync = pl_sync,
    .xFileSize = pl_file_size,
    .xLock = pl_lock,
    .xUnlock = pl_unlock,
    .xCheckReservedLock = pl_check_reserved,
    .xFileControl = pl_file_control,
    .xSectorSize = pl_sector_size,
    .xDeviceCharacteristics = pl_device_characteristics,
    .xShmMap = pl_shm_map,
    .xShmLock = pl_shm_lock,
    .xShmBarrier = pl_shm_barrier,
    .xShmUnmap = pl_shm_unmap,
};

static int pl_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags, int *out_flags)
{
    struct pl_file *p = (struct pl_file *)f;
    int rc;

    (void)vfs;
    p->real = (sqlite3_file *)(p + 1);
    p->t = NULL;
    rc = pl.unix_vfs->xOpen(pl.unix_vfs, name, p->real, flags, out_flags);
    if (rc != SQLITE_OK) {
        f->pMethods = NULL;
        return rc;
    }
    f->pMethods = &pl_methods;
    if (pl.mode == PL_POWER && name &&
        (flags & (SQLITE_OPEN_MAIN_DB | SQLITE_OPEN_WAL | SQLITE_OPEN_MAIN_JOURNAL)))
        p->t = pl_track_open(name);
    return SQLITE_OK;
}

static int pl_delete(sqlite3_vfs *vfs, const char *name, int sync_dir)
{
    struct pl_track *t;
    int rc;

    (void)vfs;
    if (!pl_tick())
        return SQLITE_IOERR_DELETE;
    rc = pl.unix_vfs->xDelete(pl.unix_vfs, name, sync_dir);
    /* The simulation takes a deletion as durable at once. */
    if (rc == SQLITE_OK && pl.mode == PL_POWER && (t = pl_track_find(name)) != NULL) {
        t->exists = false;
        t->len = 0;
        pl_ops_clear(t);
    }
    return rc;
}

static int pl_access(sqlite3_vfs *vfs, const char *name, int flags, int *out)
{
    (void)vfs;
    return pl.unix_vfs->xAccess(pl.unix_vfs, name, flags, out);
}

static int pl_full_pathname(sqlite3_vfs *vfs, const char *name, int n, char *out)
{
    (void)vfs;
    return pl.unix_vfs->xFullPathname(pl.unix_vfs, name, n, out);
}

static int pl_randomness(sqlite3_vfs *vfs, int n, char *out)
{
    (void)vfs;
    return pl.unix_vfs->xRandomness(pl.unix_vfs, n, out);
}

static int pl_sleep(sqlite3_vfs *vfs, int us)
{
    (void)vfs;
    return pl.unix_vfs->xSleep(pl.unix_vfs, us);
}

static int pl_current_time(sqlite3_vfs *vfs, double *out)
{
    (void)vfs;
    return pl.unix_vfs->xCurrentTime(pl.unix_vfs, out);
}

static int pl_last_error(sqlite3_vfs *vfs, int n, char *out)
{
    (void)vfs;
    return pl.unix_vfs->xGetLastError(pl.unix_vfs, n, out);
}

static int pl_current_time64(sqlite3_vfs *vfs, sqlite3_int64 *out)
{
    (void)vfs;
    return pl.unix_vfs->xCurrentTimeInt64(pl.unix_vfs, out);
}

/* Register the shim as the default VFS, passing everything through. */
static void pl_register(void)
{
    pl.unix_vfs = sqlite3_vfs_find("unix");
    assert_non_null(pl.unix_vfs);
    pl.vfs = (sqlite3_vfs){
        .iVersion = 2,
        .szOsFile = (int)sizeof(struct pl_file) + pl.unix_vfs->szOsFile,
        .mxPathname = pl.unix_vfs->mxPathname,
        .zName = "provd-powerloss",
        .xOpen = pl_open,
        .xDelete = pl_delete,
        .xAccess = pl_access,
        .xFullPathname = pl_full_pathname,
        .xRandomness = pl_randomness,
        .xSleep = pl_sleep,
        .xCurrentTime = pl_current_time,
        .xGetLastError = pl_last_error,
        .xCurrentTimeInt64 = pl_current_time64,
    };
    pl.mode = PL_PASS;
    pl.no_fsync = false;
    assert_int_equal(sqlite3_vfs_register(&pl.vfs, 1), SQLITE_OK);
    pl.registered = true;
}

/*
 * The shim with real fsync calls left out, for tests whose faults do not
 * reach the disk: the simulated power loss (its durability is the model's,
 * kept from the xSync calls SQLite makes) and kill -9 (the page cache
 * outlives a process). A synced write costs tens of milliseconds on a
 * busy disk, and these tests make thousands; what SQLite does is
 * unchanged, as it cannot tell.
 */
static void pl_fast(void)
{
    pl_register();
    pl.no_fsync = true;
}

static void pl_forget(void)
{
    for (size_t i = 0; i < pl.n_tracks; i++) {
        pl_ops_clear(pl.tracks[i]);
        free(pl.tracks[i]->ops);
        free(pl.tracks[i]->img);
        free(pl.tracks[i]->path);
        free(pl.tracks[i]);
    }
    free(pl.tracks);
    pl.tracks = NULL;
    pl.n_tracks = 0;
}

static void pl_unregister(void)
{
    if (pl.registered)
        sqlite3_vfs_unregister(&pl.vfs);
    pl.registered = false;
    pl_forget();
    pl.mode = PL_PASS;
    pl.no_fsync = false;
}

#define PL_SECTOR 512

/* The unsynced operations that reach the disk, by model: 0 none, 1 a
 * random subset of sectors (and truncations), 2 as 1 with some sectors
 * filled with random bytes instead. */
static void pl_apply_unsynced(struct pl_track *t, int model)
{
    for (size_t i = 0; i < t->n_ops && model > 0; i++) {
        const struct pl_op *op = &t->ops[i];
        int64_t pos = op->off, end = op->off + op->len;

        if (op->truncate) {
            if (rnd_below(2))
                pl_img_truncate(t, op->off);
            continue;
        }
        while (pos < end) {
            int64_t stop = (pos / PL_SECTOR + 1) * PL_SECTOR;
            long pick = rnd_below(model == 2 ? 3 : 2);

            if (stop > end)
                stop = end;
            if (pick == 1) {
                pl_img_write(t, pos, op->data + (pos - op->off), (size_t)(stop - pos));
            } else if (pick == 2) {
                unsigned char junk[PL_SECTOR];

                for (int k = 0; k < stop - pos; k++)
                    junk[k] = (unsigned char)rnd();
                pl_img_write(t, pos, junk, (size_t)(stop - pos));
            }
            pos = stop;
        }
    }
}

/* After the power loss, with every connection closed: put on disk what a
 * machine would find at boot, and stop following the files. */
static void pl_rebuild(const char *db, int model)
{
    char *shm = suffixed(db, "-shm");

    for (size_t i = 0; i < pl.n_tracks; i++) {
        struct pl_track *t = pl.tracks[i];
        FILE *f;

        if (!t->exists) {
            unlink(t->path);
            continue;
        }
        pl_apply_unsynced(t, model);
        f = fopen(t->path, "wb");
        assert_non_null(f);
        if (t->len)
            assert_int_equal(fwrite(t->img, 1, t->len, f), t->len);
        assert_int_equal(fclose(f), 0);
    }
    unlink(shm);
    free(shm);
    pl_forget();
    pl.mode = PL_PASS;
}

/* ---- D2 ---------------------------------------------------------------- */

/* Batches per cycle at most: the long suite's, the regular suite's. */
#define D2_BATCHES_LONG 30
#define D2_BATCHES      12

static void test_d2_power_loss(void **state)
{
    struct env *e = *state;
    int cycles = long_run() ? 200 : 20, per_cycle = long_run() ? D2_BATCHES_LONG : D2_BATCHES;
    long max_batches = (long)(cycles + 1) * per_cycle + 1, next = 0, span = 0;
    long acked_total = 0, corrupt = 0, lost = 0, torn = 0, open_failed = 0;
    long models[3] = {0}, mid_run = 0;
    bool *acked = xcalloc((size_t)max_batches, sizeof(bool));
    unsigned char *present = xmalloc((size_t)max_batches * BATCH);
    struct catalog *c;

    pl_fast();
    c = fx_open(e->db, &e->now, false); /* the schema, made before any fault */
    catalog_close(c);
    for (int cycle = 0; cycle <= cycles; cycle++) {
        struct catalog_options o = {.clock = fx_clock, .clock_data = &e->now};
        int model = cycle % 3, err;
        bool cut_mid = false;

        /* Cycle 0 runs without a crash and measures the operations of a
         * full cycle; the others lose power somewhere inside that span. */
        pl.mode = PL_POWER;
        pl.ops = 0;
        pl.lost = false;
        pl.crash_at = cycle == 0 ? LONG_MAX : 1 + rnd_below(span);
        err = catalog_open(e->db, &o, &c);
        if (err != 0 && !pl.lost)
            fail_msg("open without a fault: %s", catalog_errmsg(c));
        for (int b = 0; err == 0 && b < per_cycle; b++) {
            err = put_batch(c, next, 1200);
            if (err == 0)
                acked[next] = true;
            else if (!pl.lost)
                fail_msg("batch without a fault: %s", catalog_errmsg(c));
            next++;
            if (err == 0 && rnd_below(4) == 0)
                catalog_idle(c); /* a checkpoint, truncating the WAL */
        }
        cut_mid = pl.lost;
        if (cycle == 0) {
            span = pl.ops;
            pl_forget();
            pl.mode = PL_PASS;
        }
        pl.lost = true; /* an idle machine loses power too */
        catalog_close(c);
        if (cycle > 0) {
            pl_rebuild(e->db, model);
            models[model]++;
            mid_run += cut_mid;
        }

        o.clock = fx_clock;
        err = catalog_open(e->db, &o, &c);
        if (err) {
            fprintf(stderr, "cycle %d: reopen: %s\n", cycle, catalog_errmsg(c));
            open_failed++;
        } else if (catalog_check(c, true) != 0) {
            fprintf(stderr, "cycle %d: %s\n", cycle, catalog_errmsg(c));
            corrupt++;
        }
        catalog_close(c);
        if (err)
            break;
        assert_int_equal(raw_keys(e->db, present, max_batches * BATCH), 0);
        for (long b = 0; b < next; b++) {
            int n = 0;

            for (int i = 0; i < BATCH; i++)
                n += present[b * BATCH + i];
            if (n != 0 && n != BATCH)
                torn++;
            if (acked[b] && n != BATCH) {
                fprintf(stderr, "cycle %d: acknowledged batch %ld has %d of %d records\n", cycle, b,
                        n, BATCH);
                lost++;
            }
        }
    }
    for (long b = 0; b < next; b++)
        acked_total += acked[b];
    pl_unregister();
    print_message("D2 %d power losses (%ld during writes; models: %ld drop all unsynced, %ld random"
                  " sectors, %ld random sectors with garbage), %ld corrupt, %ld failed opens,"
                  " %ld acknowledged batches lost of %ld, %ld torn batches\n",
                  cycles, mid_run, models[0], models[1], models[2], corrupt, open_failed, lost,
                  acked_total, torn);
    assert_int_equal(open_failed, 0);
    assert_int_equal(corrupt, 0);
    assert_int_equal(lost, 0);
    assert_int_equal(torn, 0);
    assert_true(mid_run > 0);
    free(acked);
    free(present);
}

/* ---- D4 ---------------------------------------------------------------- */

/* Figures of the D4 child, sent to the parent through a pipe. */
struct d4_report {
    int step; /* 0 when every check passed, else the check that did not */
    int err;
    int category;
    long committed;     /* records committed, all told */
    long failed_calls;  /* calls that failed under the limit */
    long max_failures;  /* failed writes in one failed call, the most */
    double max_call_ms; /* the longest failed call */
    char msg[256];
};

/* One batch of big records under the limit: 0, or the failure with the
 * failed writes and time it cost counted into rep. */
static int d4_try(struct catalog *c, long b, struct d4_report *rep)
{
    long fails = pl.write_fails;
    double t0 = now_s(), ms;
    int err = put_batch(c, b, 16 * 1024);

    if (err == 0)
        return 0;
    ms = (now_s() - t0) * 1000;
    rep->failed_calls++;
    if (pl.write_fails - fails > rep->max_failures)
        rep->max_failures = pl.write_fails - fails;
    if (ms > rep->max_call_ms)
        rep->max_call_ms = ms;
    rep->err = err;
    rep->category = (int)catalog_category(c);
    snprintf(rep->msg, sizeof(rep->msg), "%s", catalog_errmsg(c));
    return err;
}

static int d4_child(const char *db, struct d4_report *rep)
{
    int64_t now = 1700000000;
    struct catalog_options o = {.clock = fx_clock, .clock_data = &now};
    struct catalog *c;
    struct rlimit rl;
    char *wal = suffixed(db, "-wal");
    int64_t biggest;
    long b = 0;
    int err = 0;

    signal(SIGXFSZ, SIG_IGN);
    pl_register();
    pl.mode = PL_COUNT;
    if (catalog_open(db, &o, &c) != 0)
        return 1;
    for (; b < 4; b++) {
        if (put_batch(c, b, 0) != 0)
            return 2;
        rep->committed += BATCH;
    }
    biggest = file_size(db) > file_size(wal) ? file_size(db) : file_size(wal);
    free(wal);
    getrlimit(RLIMIT_FSIZE, &rl);
    rl.rlim_cur = (rlim_t)biggest + 64 * 1024;
    if (setrlimit(RLIMIT_FSIZE, &rl) != 0)
        return 3;
    while (err == 0 && b < 400) {
        err = d4_try(c, b++, rep);
        if (err == 0)
            rep->committed += BATCH;
    }
    if (err != -EIO || catalog_category(c) != PROV_STORAGE_IO)
        return 4;
    if (catalog_in_batch(c))
        return 5;
    /* Reads work and see the committed batches only. */
    if (record_count(c) != rep->committed)
        return 6;
    /* Trying again while the cause lasts fails the same way, each call on
     * its own: the catalog never retries by itself. */
    for (int i = 0; i < 3; i++)
        if (d4_try(c, b, rep) != -EIO || catalog_category(c) != PROV_STORAGE_IO)
            return 7;
    if (record_count(c) != rep->committed)
        return 8;
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_FSIZE, &rl) != 0)
        return 9;
    if (put_batch(c, b++, 16 * 1024) != 0)
        return 10;
    rep->committed += BATCH;
    if (catalog_check(c, true) != 0 || record_count(c) != rep->committed)
        return 11;
    catalog_close(c);
    pl_unregister();
    return 0;
}

/* EIO from fsync, through the shim: each failing commit is STORAGE_IO
 * after one failed fsync, its batch rolled back; reads keep working; when
 * fsync works again so does writing, and after a reopen exactly the
 * acknowledged batches are there. records: the count before. */
static void d4_fsync_eio(struct env *e, int64_t records, long *fails, long *calls)
{
    struct catalog *c;
    long before;

    pl_register();
    pl.mode = PL_COUNT;
    c = fx_open(e->db, &e->now, false);
    pl.fail_fsync = true;
    for (*calls = 0; *calls < 3; (*calls)++) {
        before = pl.sync_fails;
        assert_int_equal(put_batch(c, 200000 + *calls, 100), -EIO);
        assert_int_equal(catalog_category(c), PROV_STORAGE_IO);
        assert_false(catalog_in_batch(c));
        assert_int_equal(pl.sync_fails - before, 1);
        assert_int_equal(record_count(c), records);
    }
    pl.fail_fsync = false;
    assert_int_equal(put_batch(c, 200010, 100), 0);
    assert_int_equal(record_count(c), records + BATCH);
    assert_int_equal(catalog_check(c, true), 0);
    catalog_close(c);
    *fails = pl.sync_fails;
    pl_unregister();
    c = fx_open(e->db, &e->now, false);
    assert_int_equal(record_count(c), records + BATCH);
    assert_int_equal(catalog_check(c, true), 0);
    catalog_close(c);
}

static void test_d4_efbig(void **state)
{
    struct env *e = *state;
    struct d4_report rep = {0};
    long fsync_fails = 0, fsync_calls = 0;
    struct catalog *c;
    int fds[2], status;
    pid_t pid;

    c = fx_open(e->db, &e->now, false);
    catalog_close(c);
    assert_int_equal(pipe(fds), 0);
    fflush(NULL);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        rep.step = d4_child(e->db, &rep);
        if (write(fds[1], &rep, sizeof(rep)) != (ssize_t)sizeof(rep))
            _exit(2);
        _exit(0);
    }
    close(fds[1]);
    assert_int_equal(read(fds[0], &rep, sizeof(rep)), (ssize_t)sizeof(rep));
    close(fds[0]);
    status = wait_bounded(pid, 120);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    if (rep.step != 0)
        fprintf(stderr, "D4 child failed at check %d (err %d, category %s: %s)\n", rep.step,
                rep.err, prov_category_name((enum prov_category)rep.category), rep.msg);
    assert_int_equal(rep.step, 0);
    /* A new process without the limit writes on. */
    c = fx_open(e->db, &e->now, false);
    assert_int_equal(record_count(c), rep.committed);
    assert_int_equal(put_batch(c, 100000, 100), 0);
    assert_int_equal(catalog_check(c, true), 0);
    assert_int_equal(record_count(c), rep.committed + BATCH);
    catalog_close(c);
    d4_fsync_eio(e, rep.committed + BATCH, &fsync_fails, &fsync_calls);
    print_message("D4 EFBIG under RLIMIT_FSIZE: %s (%s); %ld failed calls, at most %ld failed"
                  " write(s) and %.1f ms each; %ld committed records kept and readable; writing"
                  " resumed with the limit raised and in a new process\n",
                  prov_category_name((enum prov_category)rep.category), rep.msg, rep.failed_calls,
                  rep.max_failures, rep.max_call_ms, rep.committed);
    print_message("D4 EIO from fsync: STORAGE_IO on %ld calls with %ld failed fsync(s) in all,"
                  " batches rolled back, reads working, writing resumed once fsync worked\n",
                  fsync_calls, fsync_fails);
    assert_true(rep.failed_calls == 4);
    assert_true(rep.max_failures >= 1 && rep.max_failures <= 2);
}

/* ---- D5 ---------------------------------------------------------------- */

/* Another process: hold the write lock (BEGIN IMMEDIATE) from the moment
 * it says so on ready until release reaches end of file. */
static int d5_locker(const char *path, int ready, int release)
{
    sqlite3 *db;
    char ch;

    if (sqlite3_open(path, &db) != SQLITE_OK ||
        sqlite3_exec(db, "BEGIN IMMEDIATE; SELECT count(*) FROM records;", NULL, NULL, NULL) !=
            SQLITE_OK)
        return 1;
    if (write(ready, "L", 1) != 1)
        return 2;
    while (read(release, &ch, 1) > 0)
        ;
    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_close(db);
    return 0;
}

static void test_d5_writer_locked_out(void **state)
{
    struct env *e = *state;
    const int busy_ms = 400;
    struct catalog_options o = {
        .busy_timeout_ms = busy_ms, .clock = fx_clock, .clock_data = &e->now};
    struct catalog *w, *rd;
    struct catalog_results res;
    struct record *r;
    struct catalog_page p;
    struct pollfd pfd;
    int ready[2], release[2], status;
    double t0, wait_begin, wait_upsert, read_ms;
    char ch;
    pid_t pid;

    w = fx_open(e->db, &e->now, false);
    assert_int_equal(put_batch(w, 0, 0), 0);
    assert_int_equal(put_batch(w, 1, 0), 0);
    catalog_close(w);
    assert_int_equal(pipe(ready), 0);
    assert_int_equal(pipe(release), 0);
    fflush(NULL);
    pid = fork(); /* no connection is open here */
    assert_true(pid >= 0);
    if (pid == 0) {
        close(ready[0]);
        close(release[1]);
        _exit(d5_locker(e->db, ready[1], release[0]));
    }
    close(ready[1]);
    close(release[0]);
    pfd = (struct pollfd){.fd = ready[0], .events = POLLIN};
    assert_int_equal(poll(&pfd, 1, 10000), 1);
    assert_int_equal(read(ready[0], &ch, 1), 1);

    assert_int_equal(catalog_open(e->db, &o, &w), 0);
    rd = fx_open(e->db, &e->now, true);
    t0 = now_s();
    assert_int_equal(catalog_begin(w), -EBUSY);
    wait_begin = now_s() - t0;
    assert_int_equal(catalog_category(w), PROV_DB_BUSY);
    assert_false(catalog_in_batch(w));
    r = make_record(100, 0);
    p = (struct catalog_page){.source = "test", .url = r->url};
    t0 = now_s();
    assert_int_equal(catalog_upsert(w, &p, r, NULL), -EBUSY);
    wait_upsert = now_s() - t0;
    assert_int_equal(catalog_category(w), PROV_DB_BUSY);
    /* The waits last the busy timeout, not the lock's lifetime (which is
     * the whole test); the margin above is for a loaded machine. */
    assert_true(wait_begin >= busy_ms / 1000.0 * 0.9 && wait_begin < busy_ms / 1000.0 + 5);
    assert_true(wait_upsert >= busy_ms / 1000.0 * 0.9 && wait_upsert < busy_ms / 1000.0 + 5);
    /* Readers answer meanwhile, and the data is intact. */
    t0 = now_s();
    assert_int_equal(catalog_search(rd, NULL, 0, NULL, &res), 0);
    read_ms = (now_s() - t0) * 1000;
    assert_int_equal(res.n, 2 * BATCH);
    catalog_results_clear(&res);
    assert_int_equal(record_count(w), 2 * BATCH);

    close(release[1]); /* the other process lets go */
    status = wait_bounded(pid, 30);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    close(ready[0]);
    assert_int_equal(catalog_upsert(w, &p, r, NULL), 0);
    assert_int_equal(put_batch(w, 2, 0), 0);
    assert_int_equal(record_count(w), 3 * BATCH + 1);
    assert_int_equal(catalog_check(w, true), 0);
    record_free(r);
    catalog_close(rd);
    catalog_close(w);
    print_message("D5 another process held BEGIN IMMEDIATE: begin gave DB_BUSY after %.0f ms,"
                  " a write call after %.0f ms (busy timeout %d ms); a reader answered in %.1f ms;"
                  " data intact; writing resumed once the lock was gone\n",
                  wait_begin * 1000, wait_upsert * 1000, busy_ms, read_ms);
}

/* ---- D6 ---------------------------------------------------------------- */

static void test_d6_wal_growth(void **state)
{
    struct env *e = *state;
    /* The row's 10,000 records (3 KB of text each) make a WAL beyond
     * journal_size_limit, but cost about 80 MB of synced writes: the long
     * suite runs them, the regular one fewer and smaller. */
    const bool full = long_run();
    const long records = full ? 10000 : 1500, per_batch = 100;
    const size_t text_len = full ? 3000 : 2000;
    struct catalog *w, *rd;
    sqlite3 *reader;
    char *wal = suffixed(e->db, "-wal");
    int64_t bytes, peak = 0, page_size, after_reader, after_idle;
    long b;

    pl_fast();
    w = fx_open(e->db, &e->now, false);
    rd = fx_open(e->db, &e->now, true);
    assert_int_equal(put_batch(w, 0, 0), 0);
    page_size = raw_int(e->db, "PRAGMA page_size");
    assert_true(page_size > 0);
    /* The long reader: one snapshot, held open. */
    assert_int_equal(sqlite3_open_v2(e->db, &reader, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_exec(reader, "BEGIN; SELECT count(*) FROM records;", NULL, NULL, NULL),
                     SQLITE_OK);
    for (b = 1; b <= records / per_batch; b++) {
        assert_int_equal(catalog_begin(w), 0);
        for (long i = 0; i < per_batch; i++) {
            struct record *r = make_record(b * 1000 + i, text_len);
            struct catalog_page p = {.source = "test", .url = r->url};

            assert_int_equal(catalog_upsert(w, &p, r, NULL), 0);
            record_free(r);
        }
        assert_int_equal(catalog_commit(w, NULL), 0);
        assert_int_equal(catalog_wal_bytes(w, &bytes), 0);
        assert_int_equal(bytes, file_size(wal));
        if (bytes > peak)
            peak = bytes;
    }
    /* The reader's snapshot pins the WAL: no checkpoint got past it, so it
     * grew far beyond the 1000 pages of the automatic checkpoint. The
     * reader handle sees the same size: the alarm works there too. */
    assert_true(peak > 1000 * page_size);
    assert_int_equal(catalog_wal_bytes(rd, &bytes), 0);
    assert_int_equal(bytes, peak);
    assert_int_equal(catalog_idle(w), -EBUSY);
    assert_int_equal(catalog_category(w), PROV_DB_BUSY);

    assert_int_equal(sqlite3_exec(reader, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(reader);
    /* The next commits: the automatic checkpoint now folds the whole WAL
     * in, and the writer after it restarts the WAL and cuts the file to
     * journal_size_limit. */
    assert_int_equal(put_batch(w, 1, 0), 0);
    assert_int_equal(put_batch(w, 2, 0), 0);
    assert_int_equal(catalog_wal_bytes(w, &after_reader), 0);
    assert_true(after_reader <= CATALOG_JOURNAL_SIZE_LIMIT);
    if (full) {
        assert_true(peak > CATALOG_JOURNAL_SIZE_LIMIT);
        assert_true(after_reader < peak);
    }
    /* The idle checkpoint truncates it. */
    assert_int_equal(catalog_idle(w), 0);
    assert_int_equal(catalog_wal_bytes(w, &after_idle), 0);
    assert_true(after_idle < 1024 * 1024); /* what PRAGMA optimize wrote */
    assert_int_equal(record_count(w), records + 3 * BATCH);
    assert_int_equal(catalog_check(w, true), 0);
    catalog_close(rd);
    catalog_close(w);
    print_message("D6 %ld records in %ld batches under a held snapshot: WAL peaked at %.1f MiB"
                  " (autocheckpoint at %.1f MiB, journal_size_limit %.0f MiB);"
                  " after the reader ended: %.2f MiB after the next commits, %.2f after the idle"
                  " checkpoint (+ PRAGMA optimize)\n",
                  records, records / per_batch, peak / 1048576.0, 1000 * page_size / 1048576.0,
                  CATALOG_JOURNAL_SIZE_LIMIT / 1048576.0, after_reader / 1048576.0,
                  after_idle / 1048576.0);
    free(wal);
}

/* ---- D8 ---------------------------------------------------------------- */

/* Three messages a child can leave for its parent. */
static char (*d8_shared_msgs(void))[512]
{
    void *p = mmap(NULL, 3 * 512, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

    assert_true(p != MAP_FAILED);
    memset(p, 0, 3 * 512);
    return p;
}

/* Open the writer at path, expecting a refusal: 0 when it is refused with
 * STORAGE_IO and a READONLY message, else a non-zero code; the message
 * goes to msg. */
static int d8_expect_refused(const char *path, char *msg, size_t len)
{
    struct catalog *c;
    int err = catalog_open(path, NULL, &c), bad = 0;

    snprintf(msg, len, "%s", catalog_errmsg(c));
    if (err != -EROFS && err != -EACCES)
        bad = 1;
    else if (catalog_category(c) != PROV_STORAGE_IO)
        bad = 2;
    else if (strstr(catalog_errmsg(c), "READONLY") == NULL)
        bad = 3;
    catalog_close(c);
    return bad;
}

static bool d8_same(const char *path, const char *copy)
{
    FILE *a = fopen(path, "rb"), *b = fopen(copy, "rb");
    bool same = a && b;
    int ca, cb;

    while (same) {
        ca = fgetc(a);
        cb = fgetc(b);
        same = ca == cb;
        if (ca == EOF || cb == EOF)
            break;
    }
    if (a)
        fclose(a);
    if (b)
        fclose(b);
    return same;
}

/* The checks, as a user that permission bits apply to. Returns 0 or the
 * number of the check that failed; the messages go to msgs. */
static int d8_checks(struct env *e, char msgs[3][512])
{
    char *copy = fx_path(e->dir, "before.db");
    char *sub = fx_path(e->dir, "sub"), *fresh = fx_path(sub, "new.db");
    char *wal = suffixed(e->db, "-wal"), *shm = suffixed(e->db, "-shm");
    int64_t now = 1700000000;
    struct catalog_options ro = {.readonly = true, .clock = fx_clock, .clock_data = &now};
    struct catalog *c;
    int rc = 0;

    /* A read-only file in a writable directory. */
    if (chmod(e->db, 0444) != 0)
        return 10;
    if ((rc = d8_expect_refused(e->db, msgs[0], 512)) != 0)
        return 10 + rc;
    if (!d8_same(e->db, copy))
        return 14;
    /* A reader still works: the daemon can answer queries. */
    if (catalog_open(e->db, &ro, &c) != 0 || record_count(c) != BATCH)
        return 15;
    catalog_close(c);
    /* A writable file in a read-only directory, with no -wal and -shm
     * left (with both there, SQLite needs no new file and simply works). */
    unlink(wal);
    unlink(shm);
    if (chmod(e->db, 0644) != 0 || chmod(e->dir, 0555) != 0)
        return 20;
    if ((rc = d8_expect_refused(e->db, msgs[1], 512)) != 0)
        return 20 + rc;
    if (!d8_same(e->db, copy))
        return 24;
    /* A new catalog in a read-only directory. */
    if ((rc = d8_expect_refused(fresh, msgs[2], 512)) != 0)
        return 30 + rc;
    if (access(fresh, F_OK) == 0)
        return 34;
    free(copy);
    free(sub);
    free(fresh);
    free(wal);
    free(shm);
    return 0;
}

static void test_d8_read_only(void **state)
{
    struct env *e = *state;
    char(*msgs)[512] = d8_shared_msgs();
    struct catalog *c;
    char *copy = fx_path(e->dir, "before.db"), *sub = fx_path(e->dir, "sub");
    int status, rc;
    bool as_root = geteuid() == 0;
    pid_t pid;

    c = fx_open(e->db, &e->now, false);
    assert_int_equal(put_batch(c, 0, 0), 0);
    catalog_close(c);
    copy_file(e->db, copy);
    assert_int_equal(mkdir(sub, 0555), 0);
    if (as_root) {
        const char *paths[] = {e->dir, e->db, copy, sub};

        for (size_t i = 0; i < 4; i++)
            assert_int_equal(chown(paths[i], 65534, 65534), 0);
    }
    fflush(NULL);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (as_root && (setgroups(0, NULL) != 0 || setresgid(65534, 65534, 65534) != 0 ||
                        setresuid(65534, 65534, 65534) != 0))
            _exit(1);
        _exit(d8_checks(e, msgs));
    }
    status = wait_bounded(pid, 60);
    chmod(e->dir, 0700);
    chmod(sub, 0700);
    assert_true(WIFEXITED(status));
    rc = WEXITSTATUS(status);
    if (rc != 0)
        fprintf(stderr, "D8 check %d failed; messages: [%s] [%s] [%s]\n", rc, msgs[0], msgs[1],
                msgs[2]);
    assert_int_equal(rc, 0);
    print_message("D8 as %s: read-only file, read-only directory and a new file in a read-only"
                  " directory each refused with STORAGE_IO READONLY; files untouched; a reader"
                  " still opens\n",
                  as_root ? "uid 65534 (dropped from root)" : "this user");
    for (int i = 0; i < 3; i++)
        print_message("  message: %s\n", msgs[i]);
    munmap(msgs, 3 * 512);
    free(copy);
    free(sub);
}

/* ---- D10 --------------------------------------------------------------- */

/* Records as schema version 1 stored them, generated in SQL. */
static const char d10_rows[] =
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < %d)"
    " INSERT INTO records(id, source, key, record_id, url, title, date_iso, summary, source_text,"
    " contributors, translators, doc_text, hash, first_seen, last_seen, changed)"
    " SELECT i, 'test', i, i, 'https://archive.test/document/' || i, 'Old record ' || i, '1950',"
    " 'A summary.', 'Contributed by Jamil Hasanli and translated by Gary Goldberg.',"
    " '[\"Jamil Hasanli\"]', '[\"Gary Goldberg\"]',"
    " 'Talks with Khrushchev, part ' || i || '. ' || hex(randomblob(300)), x'00',"
    " 1600000000, 1600000000, 1600000000 FROM n;"
    "INSERT INTO citations(record, pos, archive, archive_norm, fund, inventory, file, sheets,"
    " sheet_first, sheet_last, text) SELECT id, 0, 'RGASPI', 'rgaspi', '17', '162', id, '20-25',"
    " 20, 25, 'RGASPI, f. 17, op. 162, d. ' || id || ', ll. 20-25.' FROM records;"
    "INSERT INTO urls(url, record, first_seen) SELECT url, id, 1600000000 FROM records;"
    "INSERT INTO versions(record, version, at, event)"
    " SELECT id, 1, 1600000000, 'created' FROM records;";

/* The schema objects of the database at path, "type name" sorted and
 * joined by "; ": to compare with what a version's code makes. */
static char *d10_schema(const char *path)
{
    struct strbuf sb = {0};
    sqlite3 *db;
    sqlite3_stmt *st = NULL;

    strbuf_adds(&sb, "");
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(db, "SELECT type, name FROM sqlite_master ORDER BY name", -1, &st,
                           NULL) == SQLITE_OK)
        while (sqlite3_step(st) == SQLITE_ROW)
            strbuf_addf(&sb, "%s %s; ", (const char *)sqlite3_column_text(st, 0),
                        (const char *)sqlite3_column_text(st, 1));
    sqlite3_finalize(st);
    sqlite3_close(db);
    return strbuf_steal(&sb);
}

/* A fresh copy of the old-version template at db, with no WAL. */
static void d10_fresh(const char *tpl, const char *db)
{
    char *wal = suffixed(db, "-wal"), *shm = suffixed(db, "-shm");

    unlink(db);
    unlink(wal);
    unlink(shm);
    copy_file(tpl, db);
    free(wal);
    free(shm);
}

/* Open (and so migrate) db in a child; kill it after delay_us unless it
 * is negative. The child's run time in seconds. */
static double d10_child(const char *db, long delay_us, bool *killed)
{
    double t0 = now_s();
    int status;
    pid_t pid;

    fflush(NULL);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct catalog *c;
        int err = catalog_open(db, NULL, &c);

        catalog_close(c);
        _exit(err == 0 ? 0 : 1);
    }
    if (delay_us >= 0) {
        usleep((useconds_t)delay_us);
        kill(pid, SIGKILL);
    }
    status = wait_bounded(pid, 60);
    *killed = WIFSIGNALED(status);
    if (!*killed)
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    return now_s() - t0;
}

static void test_d10_migration_killed(void **state)
{
    struct env *e = *state;
    const int n_records = 400;
    int cycles = long_run() ? 100 : 12;
    char *tpl = fx_path(e->dir, "v1.db"), err[256], sql[sizeof(d10_rows) + 16];
    long at_version[CATALOG_SCHEMA_VERSION + 1] = {0}, inconsistent = 0, not_killed = 0;
    char *expect[CATALOG_SCHEMA_VERSION + 1] = {0}, left[128];
    size_t used = 0;
    double span = 0, measured;
    sqlite3 *db;
    bool killed;

    pl_fast();
    /* What each version's code makes, to compare a killed migration with. */
    for (int v = 1; v <= CATALOG_SCHEMA_VERSION; v++) {
        char name[32], *ref;

        snprintf(name, sizeof(name), "ref%d.db", v);
        ref = fx_path(e->dir, name);
        assert_int_equal(catalog_create_version(ref, v, err, sizeof(err)), 0);
        expect[v] = d10_schema(ref);
        free(ref);
    }
    assert_int_equal(catalog_create_version(tpl, 1, err, sizeof(err)), 0);
    snprintf(sql, sizeof(sql), d10_rows, n_records);
    assert_int_equal(sqlite3_open(tpl, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
    assert_int_equal(raw_int(tpl, "PRAGMA user_version"), 1);

    /* How long an uninterrupted open with its migration takes. */
    for (int i = 0; i < 2; i++) {
        d10_fresh(tpl, e->db);
        span += d10_child(e->db, -1, &killed) / 2;
    }
    measured = span;
    for (int cycle = 0; cycle < cycles; cycle++) {
        struct catalog *c;
        char *have;
        int v;

        d10_fresh(tpl, e->db);
        d10_child(e->db, rnd_below((long)(span * 1.3e6)), &killed);
        not_killed += !killed;
        if (!killed)
            span *= 0.8; /* the machine got faster than when measured */
        /* What the kill left: a version and exactly the schema that
         * version's code makes, and a sound file. */
        v = raw_int(e->db, "PRAGMA user_version");
        have = d10_schema(e->db);
        if (v < 1 || v > CATALOG_SCHEMA_VERSION || strcmp(have, expect[v]) != 0 ||
            !raw_integrity_ok(e->db)) {
            fprintf(stderr, "cycle %d: user_version %d with schema %s\n", cycle, v, have);
            inconsistent++;
            free(have);
            continue;
        }
        free(have);
        at_version[v]++;
        /* The next open finishes the migration. */
        c = fx_open(e->db, &e->now, false);
        assert_int_equal(raw_int(e->db, "PRAGMA user_version"), CATALOG_SCHEMA_VERSION);
        assert_int_equal(catalog_check(c, true), 0);
        assert_int_equal(record_count(c), n_records);
        catalog_close(c);
    }
    for (int v = 1; v <= CATALOG_SCHEMA_VERSION; v++)
        used += (size_t)snprintf(left + used, sizeof(left) - used, "%s%d: %ld", v > 1 ? ", " : "",
                                 v, at_version[v]);
    print_message("D10 %d kills while opening a version-1 catalog of %d records (open and"
                  " migration about %.0f ms): left at version %s (%ld exited before the kill);"
                  " %ld inconsistent; every reopen finished the migration, integrity ok\n",
                  cycles, n_records, measured * 1000, left, not_killed, inconsistent);
    assert_int_equal(inconsistent, 0);
    assert_true(at_version[CATALOG_SCHEMA_VERSION] < cycles); /* some were mid-way */
    for (int v = 1; v <= CATALOG_SCHEMA_VERSION; v++)
        free(expect[v]);
    free(tpl);
}

/* ---- D11 --------------------------------------------------------------- */

/* The writer process: batch after batch, each acknowledged with one byte
 * after its commit returned 0, until killed (or 60 s pass). */
static int d11_writer(const char *path, int ack)
{
    int64_t now = 1700000000;
    struct catalog_options o = {.clock = fx_clock, .clock_data = &now};
    struct catalog *c;
    double end = now_s() + 60;

    if (catalog_open(path, &o, &c) != 0)
        return 1;
    for (long b = 0; now_s() < end; b++) {
        if (put_batch(c, b, 2000) != 0)
            return 2;
        if (write(ack, "b", 1) != 1)
            return 3;
    }
    catalog_close(c);
    return 0;
}

/* Acknowledgements that arrived so far (non-blocking). */
static long d11_drain(int fd)
{
    char buf[4096];
    ssize_t n;
    long total = 0;

    while ((n = read(fd, buf, sizeof(buf))) > 0)
        total += n;
    return total;
}

static void test_d11_online_backup(void **state)
{
    struct env *e = *state;
    struct catalog *c, *rd, *copy;
    int fds[2], status, n_backups = 3;
    long acked = 0, before, after, during = 0, batches[3];
    double ms[3];
    pid_t pid;

    pl_fast();
    c = fx_open(e->db, &e->now, false);
    catalog_close(c);
    assert_int_equal(pipe(fds), 0);
    fflush(NULL);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        _exit(d11_writer(e->db, fds[1]));
    }
    close(fds[1]);
    assert_int_equal(fcntl(fds[0], F_SETFL, O_NONBLOCK), 0);
    rd = fx_open(e->db, &e->now, true);
    /* Some history first, so that a copy takes a while. */
    for (double end = now_s() + 30; acked < 60 && now_s() < end; usleep(5000))
        acked += d11_drain(fds[0]);
    assert_true(acked >= 60);
    for (int k = 0; k < n_backups; k++) {
        char name[32], *dest;
        double t0;
        int64_t n;

        snprintf(name, sizeof(name), "copy%d.db", k);
        dest = fx_path(e->dir, name);
        before = acked += d11_drain(fds[0]);
        t0 = now_s();
        assert_int_equal(catalog_backup(rd, dest), 0);
        ms[k] = (now_s() - t0) * 1000;
        after = acked += d11_drain(fds[0]);
        during += after > before;
        assert_int_equal(catalog_backup(rd, dest), -EEXIST);
        /* The copy: sound, opens with the catalog, whole batches only,
         * from a moment between the two counts. */
        assert_true(raw_integrity_ok(dest));
        copy = fx_open(dest, &e->now, false);
        assert_int_equal(catalog_check(copy, true), 0);
        n = record_count(copy);
        catalog_close(copy);
        assert_int_equal(n % BATCH, 0);
        batches[k] = (long)(n / BATCH);
        assert_true(batches[k] >= before && batches[k] <= after + 1);
        free(dest);
        usleep(20000);
    }
    /* The writer never noticed: it is still committing. */
    before = acked += d11_drain(fds[0]);
    for (double end = now_s() + 10; acked == before && now_s() < end; usleep(5000))
        acked += d11_drain(fds[0]);
    assert_true(acked > before);
    kill(pid, SIGKILL);
    status = wait_bounded(pid, 30);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    close(fds[0]);
    catalog_close(rd);
    /* A writer outside a batch can copy too; inside one it cannot. */
    c = fx_open(e->db, &e->now, false);
    assert_int_equal(catalog_begin(c), 0);
    {
        char *dest = fx_path(e->dir, "copy-w.db");

        assert_int_equal(catalog_backup(c, dest), -EINVAL);
        catalog_rollback(c);
        assert_int_equal(catalog_backup(c, dest), 0);
        assert_true(raw_integrity_ok(dest));
        free(dest);
    }
    catalog_close(c);
    print_message("D11 %d backups (backup API) from a reader while another process committed"
                  " batches: %ld, %ld and %ld batches copied in %.0f, %.0f and %.0f ms,"
                  " %ld with commits during the copy; every copy passed integrity_check and"
                  " opened with catalog_open, whole batches only\n",
                  n_backups, batches[0], batches[1], batches[2], ms[0], ms[1], ms[2], during);
}

/* ---- D12 --------------------------------------------------------------- */

/* A writer that checkpoints after batch 0, commits batch 1 into the WAL
 * only, says so, and waits to be killed. */
static int d12_writer(const char *path, int ack)
{
    int64_t now = 1700000000;
    struct catalog_options o = {.clock = fx_clock, .clock_data = &now};
    struct catalog *c;

    if (catalog_open(path, &o, &c) != 0 || put_batch(c, 0, 0) != 0 || catalog_idle(c) != 0 ||
        put_batch(c, 1, 0) != 0)
        return 1;
    if (write(ack, "k", 1) != 1)
        return 2;
    for (int i = 0; i < 600; i++)
        sleep(1);
    return 3;
}

/* Keys present of batches 0 and 1 in the catalog at path. */
static void d12_open_and_count(struct env *e, const char *path, int *b0, int *b1)
{
    unsigned char present[2 * BATCH];
    struct catalog *c = fx_open(path, &e->now, false);

    assert_int_equal(catalog_check(c, true), 0);
    catalog_close(c);
    assert_int_equal(raw_keys(path, present, 2 * BATCH), 0);
    *b0 = *b1 = 0;
    for (int i = 0; i < BATCH; i++) {
        *b0 += present[i];
        *b1 += present[BATCH + i];
    }
}

static void test_d12_wal_removed(void **state)
{
    struct env *e = *state;
    char *wal = suffixed(e->db, "-wal"), *shm = suffixed(e->db, "-shm");
    char *db2 = fx_path(e->dir, "second.db"), *wal2 = suffixed(db2, "-wal");
    int fds[2], status, b0, b1, c0, c1;
    int64_t wal_size;
    char ch;
    pid_t pid;

    assert_int_equal(pipe(fds), 0);
    fflush(NULL);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        _exit(d12_writer(e->db, fds[1]));
    }
    close(fds[1]);
    assert_int_equal(read(fds[0], &ch, 1), 1);
    kill(pid, SIGKILL);
    status = wait_bounded(pid, 30);
    assert_true(WIFSIGNALED(status));
    close(fds[0]);
    wal_size = file_size(wal);
    assert_true(wal_size > 0);
    assert_true(file_size(shm) > 0);
    /* A second copy of the stopped catalog, for the -shm-only case. */
    copy_file(e->db, db2);
    copy_file(wal, wal2);

    /* Both removed: batch 1 lived only in the WAL and is gone; batch 0,
     * checkpointed, is there; the catalog opens and is sound. */
    assert_int_equal(unlink(wal), 0);
    assert_int_equal(unlink(shm), 0);
    d12_open_and_count(e, e->db, &b0, &b1);
    assert_int_equal(b0, BATCH);
    assert_int_equal(b1, 0);
    /* Only -shm removed (it is rebuilt from the WAL): nothing is lost. */
    d12_open_and_count(e, db2, &c0, &c1);
    assert_int_equal(c0, BATCH);
    assert_int_equal(c1, BATCH);
    print_message("D12 after a kill -9 with %lld bytes of WAL: -wal and -shm removed -> opens,"
                  " integrity ok, %d/%d records of the checkpointed batch kept, %d/%d of the"
                  " batch committed after the last checkpoint lost; -shm alone removed -> %d/%d"
                  " and %d/%d kept\n",
                  (long long)wal_size, b0, BATCH, BATCH - b1, BATCH, c0, BATCH, c1, BATCH);
    free(wal);
    free(shm);
    free(db2);
    free(wal2);
}

int main(void)
{
    const char *seed = getenv("PROVD_FAULT_SEED");
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_d2_power_loss),     T(test_d4_efbig),        T(test_d5_writer_locked_out),
        T(test_d6_wal_growth),     T(test_d8_read_only),    T(test_d10_migration_killed),
        T(test_d11_online_backup), T(test_d12_wal_removed),
    };
#undef T

    rng_state =
        seed && seed[0] ? strtoull(seed, NULL, 10) : (uint64_t)time(NULL) ^ (uint64_t)getpid();
    if (rng_state == 0)
        rng_state = 1;
    printf("seed %llu (PROVD_FAULT_SEED)\n", (unsigned long long)rng_state);
    if (getenv("PROVD_FAULT_ONLY"))
        cmocka_set_test_filter(getenv("PROVD_FAULT_ONLY"));
    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
