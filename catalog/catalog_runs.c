/*
 * catalog_runs: the harvest's bookkeeping — runs (trigger, start, end,
 * counters), each run's frontier (URLs with pending/done/failed), and the
 * fetch state of each URL as each source fetches it (validators, last
 * status, consecutive failures, next due time, last error). The frontier
 * and the counters are written in the same transaction as the records, so
 * a run a crash interrupted can be resumed from its pending URLs.
 *
 * Owns only what it returns; statements come from the handle's cache.
 */
#include "catalog_runs.h"

#include "catalog_record.h"

#include "xmalloc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Trigger words as stored in runs.kind; a single-page run is "manual"
 * with scope "url". */
static const char *const catalog_trigger_names[] = {"schedule", "manual", "once", "manual"};
static const char *const catalog_run_state_names[] = {"running", "finished", "aborted"};
static const char *const catalog_frontier_names[] = {"pending", "done", "failed"};

/* One statement per counter column (names cannot be bound). */
static const char *const catalog_sql_count[CATALOG_COUNT_MAX] = {
    "UPDATE runs SET n_new = n_new + 1 WHERE id = ?1",
    "UPDATE runs SET n_changed = n_changed + 1 WHERE id = ?1",
    "UPDATE runs SET n_unchanged = n_unchanged + 1 WHERE id = ?1",
    "UPDATE runs SET n_kept = n_kept + 1 WHERE id = ?1",
    "UPDATE runs SET n_not_modified = n_not_modified + 1 WHERE id = ?1",
    "UPDATE runs SET n_missing = n_missing + 1 WHERE id = ?1",
    "UPDATE runs SET n_gone = n_gone + 1 WHERE id = ?1",
    "UPDATE runs SET n_failed = n_failed + 1 WHERE id = ?1",
};

static const char catalog_sql_run_start[] =
    "INSERT INTO runs(source, kind, scope, state, started) VALUES(?1, ?2, ?3, 'running', ?4)";
/* A finished run keeps its frontier's counts; the frontier goes. */
static const char catalog_sql_run_finish[] =
    "UPDATE runs SET state = ?2, finished = ?3,"
    " n_done = (SELECT count(*) FROM frontier WHERE run = ?1 AND state = 'done'),"
    " n_urls_failed = (SELECT count(*) FROM frontier WHERE run = ?1 AND state = 'failed')"
    " WHERE id = ?1 AND state = 'running'";
static const char catalog_sql_run_drop_frontier[] = "DELETE FROM frontier WHERE run = ?1";
static const char catalog_sql_run_get[] =
    "SELECT id, source, kind, state, started, finished, n_new, n_changed, n_unchanged, n_kept,"
    " n_not_modified, n_missing, n_gone, n_failed, scope, merged_into, n_done, n_urls_failed"
    " FROM runs WHERE id = ?1";
static const char catalog_sql_run_last[] =
    "SELECT id FROM runs WHERE source = ?1 ORDER BY id DESC LIMIT 1";
static const char catalog_sql_run_unfinished[] =
    "SELECT id FROM runs WHERE source = ?1 AND state = 'running' ORDER BY id DESC LIMIT 1";
static const char catalog_sql_run_resumable[] = "SELECT id FROM runs WHERE source = ?1"
                                                " AND state = 'running' AND scope = 'source'"
                                                " ORDER BY id DESC LIMIT 1";
static const char catalog_sql_runs_newest[] = "SELECT coalesce(max(id), 0) FROM runs";
/* Taking over the runs of source ?1 an earlier process left unfinished
 * (id <= ?3) into run ?2: their pending URLs, then their end, then their
 * frontier. */
static const char catalog_sql_adopt_urls[] =
    "INSERT INTO frontier(run, url, state, updated)"
    " SELECT ?2, f.url, 'pending', ?4 FROM runs r JOIN frontier f ON f.run = r.id"
    " WHERE r.source = ?1 AND r.state = 'running' AND r.id <> ?2 AND r.id <= ?3"
    " AND f.state = 'pending' ORDER BY f.seq"
    " ON CONFLICT(run, url) DO NOTHING";
static const char catalog_sql_adopt_runs[] =
    "UPDATE runs SET state = 'finished', finished = ?4, merged_into = ?2,"
    " n_done = (SELECT count(*) FROM frontier WHERE run = runs.id AND state = 'done'),"
    " n_urls_failed = (SELECT count(*) FROM frontier WHERE run = runs.id AND state = 'failed')"
    " WHERE source = ?1 AND state = 'running' AND id <> ?2 AND id <= ?3";
static const char catalog_sql_adopt_drop[] =
    "DELETE FROM frontier WHERE run IN (SELECT id FROM runs WHERE merged_into = ?2"
    " AND finished = ?4 AND source = ?1)";
static const char catalog_sql_frontier_counts[] =
    "SELECT state, count(*) FROM frontier WHERE run = ?1 GROUP BY state";
static const char catalog_sql_frontier_add[] =
    "INSERT INTO frontier(run, url, state, updated) VALUES(?1, ?2, 'pending', ?3)"
    " ON CONFLICT(run, url) DO NOTHING";
static const char catalog_sql_frontier_set[] =
    "INSERT INTO frontier(run, url, state, updated) VALUES(?1, ?2, ?3, ?4)"
    " ON CONFLICT(run, url) DO UPDATE SET state = excluded.state, updated = excluded.updated";
static const char catalog_sql_frontier_pending[] =
    "SELECT url FROM frontier WHERE run = ?1 AND state = 'pending' ORDER BY seq LIMIT ?2";
#define CATALOG_FETCH_COLS                                                                         \
    "url, source, etag, last_modified, last_status, failures, next_due, last_attempt,"             \
    " last_success, error_category, error_message, record"
/* The source's own state, else the URL as an alias of one of its records
 * (lookups by key only: the planner weighs no index). */
static const char catalog_sql_fetch_get_source[] =
    "SELECT " CATALOG_FETCH_COLS " FROM fetch_state WHERE source = ?1 AND url = ?2"
    " UNION ALL SELECT url, ?1, NULL, NULL, 0, 0, 0, NULL, NULL, NULL, NULL, record FROM urls"
    " WHERE url = ?2 AND (SELECT source FROM records WHERE id = urls.record) = ?1 LIMIT 1";
/* The state of the source that attempted the URL last, else the alias. */
static const char catalog_sql_fetch_get[] =
    "SELECT * FROM (SELECT " CATALOG_FETCH_COLS " FROM fetch_state WHERE url = ?1"
    " ORDER BY last_attempt IS NULL, last_attempt DESC LIMIT 1)"
    " UNION ALL SELECT u.url, r.source, NULL, NULL, 0, 0, 0, NULL, NULL, NULL, NULL, u.record"
    " FROM urls u LEFT JOIN records r ON r.id = u.record WHERE u.url = ?1 LIMIT 1";
static const char catalog_sql_fetch_due[] =
    "SELECT url FROM fetch_state WHERE source = ?1 AND next_due <= ?2"
    " AND last_attempt IS NOT NULL ORDER BY next_due LIMIT ?3";

const char *catalog_trigger_name(enum catalog_trigger t)
{
    return (unsigned)t < 4 ? catalog_trigger_names[t] : "schedule";
}

const char *catalog_run_state_name(enum catalog_run_state s)
{
    return (unsigned)s < 3 ? catalog_run_state_names[s] : "running";
}

static int catalog_word_index(const char *const *names, size_t n, const char *word)
{
    for (size_t i = 0; word && i < n; i++)
        if (strcmp(names[i], word) == 0)
            return (int)i;
    return 0;
}

int catalog_runs_count(struct catalog *c, int64_t run, enum catalog_counter k)
{
    unsigned long *tally[CATALOG_COUNT_MAX] = {
        &c->tally.n_new,          &c->tally.n_changed, &c->tally.n_unchanged, &c->tally.n_kept,
        &c->tally.n_not_modified, &c->tally.n_missing, &c->tally.n_gone,      &c->tally.n_failed,
    };
    sqlite3_stmt *st;

    (*tally[k])++;
    if (run == 0)
        return 0;
    st = catalog_stmt(c, catalog_sql_count[k]);
    if (st == NULL)
        return catalog_last_err(c);
    sqlite3_bind_int64(st, 1, run);
    return catalog_step_done(c, st, "count in run");
}

int catalog_runs_frontier_set(struct catalog *c, int64_t run, const char *url,
                              enum catalog_frontier_state state)
{
    sqlite3_stmt *st;

    if (run == 0)
        return 0;
    st = catalog_stmt(c, catalog_sql_frontier_set);
    if (st == NULL)
        return catalog_last_err(c);
    sqlite3_bind_int64(st, 1, run);
    catalog_bind_str(st, 2, url);
    catalog_bind_str(st, 3, catalog_frontier_names[state]);
    sqlite3_bind_int64(st, 4, catalog_now(c));
    return catalog_step_done(c, st, "store frontier state");
}

int catalog_runs_note_open(struct catalog *c)
{
    sqlite3_stmt *st = catalog_stmt(c, catalog_sql_runs_newest);
    int rc;

    if (st == NULL)
        return catalog_last_err(c);
    rc = catalog_step_row(c, st, "read newest run");
    if (rc < 0)
        return rc;
    c->runs_at_open = rc ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_reset(st);
    return 0;
}

/* Run into's takeover of the runs of source that an earlier process left
 * unfinished (see catalog_run_start()). In the caller's transaction. */
static int catalog_run_adopt(struct catalog *c, const char *source, int64_t into)
{
    const char *const sql[] = {catalog_sql_adopt_urls, catalog_sql_adopt_runs,
                               catalog_sql_adopt_drop};
    int64_t now = catalog_now(c);
    int err = 0;

    for (size_t i = 0; err == 0 && i < sizeof(sql) / sizeof(sql[0]); i++) {
        sqlite3_stmt *st = catalog_stmt(c, sql[i]);

        if (st == NULL)
            return catalog_last_err(c);
        catalog_bind_str(st, 1, source);
        sqlite3_bind_int64(st, 2, into);
        sqlite3_bind_int64(st, 3, c->runs_at_open);
        sqlite3_bind_int64(st, 4, now);
        err = catalog_step_done(c, st, "take over unfinished runs");
    }
    return err;
}

int catalog_run_start(struct catalog *c, const char *source, enum catalog_trigger trigger,
                      int64_t *id)
{
    sqlite3_stmt *st;
    bool own;
    int err;

    catalog_clear_error(c);
    if (source == NULL || source[0] == '\0' || strlen(source) > CATALOG_ITEM_MAX ||
        !catalog_text_ok(source))
        return catalog_fail(c, -EINVAL, PROV_OK, "a valid source name is required");
    err = catalog_write_begin(c, &own);
    if (err)
        return err;
    st = catalog_stmt(c, catalog_sql_run_start);
    if (st == NULL)
        return catalog_write_end(c, own, catalog_last_err(c));
    catalog_bind_str(st, 1, source);
    catalog_bind_str(st, 2, catalog_trigger_name(trigger));
    catalog_bind_str(st, 3, trigger == CATALOG_TRIGGER_PAGE ? "url" : "source");
    sqlite3_bind_int64(st, 4, catalog_now(c));
    err = catalog_step_done(c, st, "start run");
    if (err == 0) {
        *id = sqlite3_last_insert_rowid(c->db);
        if (trigger != CATALOG_TRIGGER_PAGE)
            err = catalog_run_adopt(c, source, *id);
    }
    return catalog_write_end(c, own, err);
}

int catalog_run_finish(struct catalog *c, int64_t id, bool aborted)
{
    sqlite3_stmt *st;
    bool own;
    int err;

    err = catalog_write_begin(c, &own);
    if (err)
        return err;
    st = catalog_stmt(c, catalog_sql_run_finish);
    if (st == NULL)
        return catalog_write_end(c, own, catalog_last_err(c));
    sqlite3_bind_int64(st, 1, id);
    catalog_bind_str(st, 2, aborted ? "aborted" : "finished");
    sqlite3_bind_int64(st, 3, catalog_now(c));
    err = catalog_step_done(c, st, "finish run");
    if (err == 0 && sqlite3_changes(c->db) == 0) {
        /* Nothing written: no need to void the caller's batch. */
        err = catalog_write_end(c, own, 0);
        return err ? err : catalog_fail(c, -ENOENT, PROV_OK, "no running run %lld", (long long)id);
    }
    if (err == 0) {
        st = catalog_stmt(c, catalog_sql_run_drop_frontier);
        if (st == NULL)
            return catalog_write_end(c, own, catalog_last_err(c));
        sqlite3_bind_int64(st, 1, id);
        err = catalog_step_done(c, st, "drop the run's frontier");
    }
    return catalog_write_end(c, own, err);
}

static int catalog_run_load(struct catalog *c, int64_t id, struct catalog_run *run)
{
    sqlite3_stmt *st = catalog_stmt(c, catalog_sql_run_get);
    int rc;

    memset(run, 0, sizeof(*run));
    if (st == NULL)
        return catalog_last_err(c);
    sqlite3_bind_int64(st, 1, id);
    rc = catalog_step_row(c, st, "read run");
    if (rc < 0)
        return rc;
    if (rc == 0)
        return catalog_fail(c, -ENOENT, PROV_OK, "no run %lld", (long long)id);
    run->id = sqlite3_column_int64(st, 0);
    run->source = catalog_col_dup(st, 1);
    run->trigger =
        catalog_word_index(catalog_trigger_names, 3, (const char *)sqlite3_column_text(st, 2));
    run->state =
        catalog_word_index(catalog_run_state_names, 3, (const char *)sqlite3_column_text(st, 3));
    run->started = sqlite3_column_int64(st, 4);
    run->finished = sqlite3_column_int64(st, 5);
    run->counts.n_new = (unsigned long)sqlite3_column_int64(st, 6);
    run->counts.n_changed = (unsigned long)sqlite3_column_int64(st, 7);
    run->counts.n_unchanged = (unsigned long)sqlite3_column_int64(st, 8);
    run->counts.n_kept = (unsigned long)sqlite3_column_int64(st, 9);
    run->counts.n_not_modified = (unsigned long)sqlite3_column_int64(st, 10);
    run->counts.n_missing = (unsigned long)sqlite3_column_int64(st, 11);
    run->counts.n_gone = (unsigned long)sqlite3_column_int64(st, 12);
    run->counts.n_failed = (unsigned long)sqlite3_column_int64(st, 13);
    if (sqlite3_column_type(st, 14) == SQLITE_TEXT &&
        strcmp((const char *)sqlite3_column_text(st, 14), "url") == 0) {
        run->single = true;
        if (run->trigger == CATALOG_TRIGGER_MANUAL)
            run->trigger = CATALOG_TRIGGER_PAGE;
    }
    run->merged_into = sqlite3_column_int64(st, 15);
    /* A finished run's frontier is gone; its counts stayed. */
    run->done = (unsigned long)sqlite3_column_int64(st, 16);
    run->failed = (unsigned long)sqlite3_column_int64(st, 17);
    sqlite3_reset(st);
    st = catalog_stmt(c, catalog_sql_frontier_counts);
    if (st == NULL)
        goto fail;
    sqlite3_bind_int64(st, 1, id);
    while ((rc = catalog_step_row(c, st, "count frontier")) == 1) {
        const char *state = (const char *)sqlite3_column_text(st, 0);
        unsigned long n = (unsigned long)sqlite3_column_int64(st, 1);

        if (strcmp(state, "pending") == 0)
            run->pending = n;
        else if (strcmp(state, "done") == 0)
            run->done += n;
        else
            run->failed += n;
    }
    if (rc < 0)
        goto fail;
    return 0;
fail:
    catalog_run_clear(run);
    return catalog_last_err(c);
}

int catalog_run_get(struct catalog *c, int64_t id, struct catalog_run *run)
{
    bool own;
    int err = catalog_read_begin(c, &own);

    memset(run, 0, sizeof(*run));
    if (err)
        return err;
    return catalog_read_end(c, own, catalog_run_load(c, id, run));
}

/* The id from a one-column query on source; -ENOENT when no row. */
static int catalog_run_find(struct catalog *c, const char *sql, const char *source, int64_t *id)
{
    sqlite3_stmt *st = catalog_stmt(c, sql);
    int rc;

    if (st == NULL)
        return catalog_last_err(c);
    catalog_bind_str(st, 1, source);
    rc = catalog_step_row(c, st, "find run");
    if (rc < 0)
        return rc;
    if (rc == 0)
        return catalog_fail(c, -ENOENT, PROV_OK, "no such run of %s", source);
    *id = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    return 0;
}

int catalog_run_last(struct catalog *c, const char *source, struct catalog_run *run)
{
    int64_t id = 0;
    bool own;
    int err = catalog_read_begin(c, &own);

    memset(run, 0, sizeof(*run));
    if (err)
        return err;
    err = catalog_run_find(c, catalog_sql_run_last, source, &id);
    if (err == 0)
        err = catalog_run_load(c, id, run);
    return catalog_read_end(c, own, err);
}

int catalog_run_unfinished(struct catalog *c, const char *source, int64_t *id)
{
    bool own;
    int err = catalog_read_begin(c, &own);

    if (err)
        return err;
    return catalog_read_end(c, own, catalog_run_find(c, catalog_sql_run_unfinished, source, id));
}

int catalog_run_resume(struct catalog *c, const char *source, int64_t *id)
{
    bool own;
    int err;

    catalog_clear_error(c);
    err = catalog_write_begin(c, &own);
    if (err)
        return err;
    err = catalog_run_find(c, catalog_sql_run_resumable, source, id);
    if (err == 0)
        err = catalog_run_adopt(c, source, *id);
    if (err == -ENOENT) {
        /* Nothing written: no need to void the caller's batch. */
        int end = catalog_write_end(c, own, 0);

        return end ? end : catalog_fail(c, -ENOENT, PROV_OK, "no unfinished run of %s", source);
    }
    return catalog_write_end(c, own, err);
}

void catalog_run_clear(struct catalog_run *run)
{
    free(run->source);
    memset(run, 0, sizeof(*run));
}

int catalog_frontier_add(struct catalog *c, int64_t run, const char *url)
{
    sqlite3_stmt *st;
    bool own, added;
    int err;

    catalog_clear_error(c);
    if (run <= 0 || url == NULL || url[0] == '\0' || strlen(url) > CATALOG_KEY_MAX ||
        !catalog_text_ok(url))
        return catalog_fail(c, -EINVAL, PROV_OK, "a run and a valid URL are required");
    err = catalog_write_begin(c, &own);
    if (err)
        return err;
    st = catalog_stmt(c, catalog_sql_frontier_add);
    if (st == NULL)
        return catalog_write_end(c, own, catalog_last_err(c));
    sqlite3_bind_int64(st, 1, run);
    catalog_bind_str(st, 2, url);
    sqlite3_bind_int64(st, 3, catalog_now(c));
    err = catalog_step_done(c, st, "add to frontier");
    added = err == 0 && sqlite3_changes(c->db) > 0;
    err = catalog_write_end(c, own, err);
    return err < 0 ? err : added;
}

int catalog_frontier_mark(struct catalog *c, int64_t run, const char *url,
                          enum catalog_frontier_state state)
{
    bool own;
    int err;

    catalog_clear_error(c);
    if (run <= 0 || url == NULL || url[0] == '\0' || strlen(url) > CATALOG_KEY_MAX ||
        !catalog_text_ok(url) || (unsigned)state > CATALOG_FRONTIER_FAILED)
        return catalog_fail(c, -EINVAL, PROV_OK, "a run, a valid URL and a state are required");
    err = catalog_write_begin(c, &own);
    if (err)
        return err;
    return catalog_write_end(c, own, catalog_runs_frontier_set(c, run, url, state));
}

/* Append the first column of every row of st to l. */
static int catalog_collect(struct catalog *c, sqlite3_stmt *st, struct strlist *l)
{
    int rc;

    while ((rc = catalog_step_row(c, st, "list URLs")) == 1)
        strlist_add(l, (const char *)sqlite3_column_text(st, 0));
    return rc;
}

int catalog_frontier_pending(struct catalog *c, int64_t run, size_t max, struct strlist *urls)
{
    sqlite3_stmt *st;
    bool own;
    int err = catalog_read_begin(c, &own);

    if (err)
        return err;
    st = catalog_stmt(c, catalog_sql_frontier_pending);
    if (st == NULL)
        return catalog_read_end(c, own, catalog_last_err(c));
    sqlite3_bind_int64(st, 1, run);
    sqlite3_bind_int64(st, 2, max > INT64_MAX ? INT64_MAX : (int64_t)max);
    return catalog_read_end(c, own, catalog_collect(c, st, urls));
}

/* One row of a fetch-state query, bound by the caller, into *fs. */
static int catalog_fetch_read(struct catalog *c, sqlite3_stmt *st, bool own,
                              struct catalog_fetch_state *fs)
{
    int rc = catalog_step_row(c, st, "read fetch state");

    if (rc <= 0)
        return catalog_read_end(
            c, own, rc < 0 ? rc : catalog_fail(c, -ENOENT, PROV_OK, "URL never fetched"));
    fs->url = catalog_col_dup(st, 0);
    fs->source = catalog_col_dup(st, 1);
    fs->etag = catalog_col_dup(st, 2);
    fs->last_modified = catalog_col_dup(st, 3);
    fs->last_status = sqlite3_column_int(st, 4);
    fs->failures = sqlite3_column_int(st, 5);
    fs->next_due = sqlite3_column_int64(st, 6);
    fs->last_attempt = sqlite3_column_int64(st, 7);
    fs->last_success = sqlite3_column_int64(st, 8);
    if (sqlite3_column_type(st, 9) == SQLITE_TEXT) {
        int cat = prov_category_from_name((const char *)sqlite3_column_text(st, 9));

        fs->error = cat < 0 ? PROV_INTERNAL : (enum prov_category)cat;
    }
    fs->error_message = catalog_col_dup(st, 10);
    fs->record = sqlite3_column_int64(st, 11);
    sqlite3_reset(st);
    return catalog_read_end(c, own, 0);
}

int catalog_fetch_get_source(struct catalog *c, const char *source, const char *url,
                             struct catalog_fetch_state *fs)
{
    sqlite3_stmt *st;
    bool own;
    int err;

    memset(fs, 0, sizeof(*fs));
    err = catalog_read_begin(c, &own);
    if (err)
        return err;
    st = catalog_stmt(c, catalog_sql_fetch_get_source);
    if (st == NULL)
        return catalog_read_end(c, own, catalog_last_err(c));
    catalog_bind_str(st, 1, source);
    catalog_bind_str(st, 2, url);
    return catalog_fetch_read(c, st, own, fs);
}

int catalog_fetch_get(struct catalog *c, const char *url, struct catalog_fetch_state *fs)
{
    sqlite3_stmt *st;
    bool own;
    int err;

    memset(fs, 0, sizeof(*fs));
    err = catalog_read_begin(c, &own);
    if (err)
        return err;
    st = catalog_stmt(c, catalog_sql_fetch_get);
    if (st == NULL)
        return catalog_read_end(c, own, catalog_last_err(c));
    catalog_bind_str(st, 1, url);
    return catalog_fetch_read(c, st, own, fs);
}

void catalog_fetch_state_clear(struct catalog_fetch_state *fs)
{
    free(fs->url);
    free(fs->source);
    free(fs->etag);
    free(fs->last_modified);
    free(fs->error_message);
    memset(fs, 0, sizeof(*fs));
}

int catalog_fetch_due(struct catalog *c, const char *source, int64_t now, size_t max,
                      struct strlist *urls)
{
    sqlite3_stmt *st;
    bool own;
    int err = catalog_read_begin(c, &own);

    if (err)
        return err;
    st = catalog_stmt(c, catalog_sql_fetch_due);
    if (st == NULL)
        return catalog_read_end(c, own, catalog_last_err(c));
    catalog_bind_str(st, 1, source);
    sqlite3_bind_int64(st, 2, now);
    sqlite3_bind_int64(st, 3, max > INT64_MAX ? INT64_MAX : (int64_t)max);
    return catalog_read_end(c, own, catalog_collect(c, st, urls));
}
