/*
 * bench_catalog: the catalog's write throughput against a bare SQLite
 * baseline, and its query latencies at catalog scale, in one run.
 *
 * (a1) a bare prepared INSERT loop writes the rows that hold the generated
 *     records (one records row, its citation rows, its people rows) into
 *     plain tables with no index, in batches, with the catalog's
 *     durability settings (WAL, synchronous FULL, page size); its page
 *     cache is 32 MiB, the catalog's 8 MiB (at 100,000 records 8, 32 and
 *     128 MiB gave the same CPU time within noise, on both sides);
 * (a2) the same, keeping the catalog's full-text index as well;
 * (b) catalog_upsert() stores the same records in batches of the same
 *     size, as a harvest run does (run counters, frontier, fetch state,
 *     URL alias, dedup lookup, content hash, citations, people, FTS5).
 * Each of them reports records/s, its CPU time and the bytes it handed to
 * write calls per record (WAL and checkpoints: the I/O it costs).
 * Then the catalog grows to the large size and the latencies of lookups
 * (median, p99) are measured on a reader handle, as the control socket
 * would see them, plus the database bytes per record.
 *
 * Records are generated deterministically from their number: Zipf-
 * distributed vocabulary, archives, funds, people; realistic lengths.
 *
 * Usage: bench_catalog [-n RECORDS] [-N LARGE] [-b BATCH] [-q QUERIES]
 *                      [-d DIR] [-k] [-Q]
 *   -n  records of the throughput runs (default 100000)
 *   -N  records of the latency run (default 1000000; 0 skips it)
 *   -b  records per batch (default 100)
 *   -q  queries per kind (default 1000)
 *   -d  directory for the databases (default: a new one under $TMPDIR)
 *   -k  keep the databases
 *   -Q  only measure the latencies, on a catalog an earlier run kept in
 *       DIR (-d, -k) with LARGE records
 */
#include "catalog.h"

#include "record_json.h"
#include "strbuf.h"
#include "xmalloc.h"

#include <errno.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- deterministic generator ------------------------------------------ */

static uint64_t mix(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static double unit(uint64_t *s)
{
    return (double)(mix(s) >> 11) / 9007199254740992.0;
}

struct zipf {
    double *cdf;
    size_t n;
};

static void zipf_init(struct zipf *z, size_t n, double s)
{
    double sum = 0;

    z->cdf = xcalloc(n, sizeof(double));
    z->n = n;
    for (size_t i = 0; i < n; i++) {
        sum += 1.0 / pow((double)(i + 1), s);
        z->cdf[i] = sum;
    }
    for (size_t i = 0; i < n; i++)
        z->cdf[i] /= sum;
}

static size_t zipf_draw(const struct zipf *z, uint64_t *s)
{
    double u = unit(s);
    size_t lo = 0, hi = z->n - 1;

    while (lo < hi) {
        size_t mid = (lo + hi) / 2;

        if (z->cdf[mid] < u)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static const char *const topic_words[] = {
    "soviet",       "union",        "telegram",  "memorandum", "conversation", "ambassador",
    "minister",     "foreign",      "affairs",   "central",    "committee",    "party",
    "meeting",      "china",        "korea",     "war",        "nuclear",      "treaty",
    "delegation",   "secretary",    "embassy",   "report",     "cable",        "general",
    "comrade",      "stalin",       "mao",       "khrushchev", "kim",          "moscow",
    "beijing",      "berlin",       "germany",   "poland",     "hungary",      "cuba",
    "missile",      "economic",     "military",  "assistance", "agreement",    "question",
    "situation",    "government",   "people",    "republic",   "socialist",    "soldiers",
    "border",       "negotiations", "president", "prime",      "chairman",     "letter",
    "instructions",
};

#define NWORDS      20000
#define NARCHIVES   40
#define NPEOPLE     600
#define SOURCE_NAME "archive"

struct gen {
    char **words;
    struct zipf vocab, archives, funds, inventories, people;
    char *archive_names[NARCHIVES];
    char *people_names[NPEOPLE];
};

static const char *const syllables[] = {"ka", "lo", "mi",  "ra", "te",  "sun", "vo",  "de", "zan",
                                        "pe", "li", "gor", "ni", "sta", "mo",  "ven", "ba", "ru",
                                        "ko", "na", "chi", "el", "tar", "os",  "im",  "ul", "pra"};

static void gen_init(struct gen *g)
{
    static const char *const archives[] = {
        "RGASPI",  "AP RF", "AVP RF", "RGANI", "GARF",   "RGAE",        "RGVA", "TsAMO",
        "PRC FMA", "BArch", "MNL OL", "AMVnR", "AAN",    "SAPMO-BArch", "NARA", "TNA",
        "AMAE",    "ANIC",  "KPR",    "AMZV",  "UPA",    "AIPN",        "SSA",  "HDA SBU",
        "TsDAHOU", "RGALI", "LYA",    "ERAF",  "ACNSAS", "AHC",         "FRUS", "CWIHP",
        "NKIDP",   "SADCC", "MOFA",   "AVPRI", "TsGA",   "DAFA",        "PAAA", "NSA",
    };
    static const char *const first[] = {
        "Gary",     "Svetlana", "Jamil", "Sergey", "Kathryn", "Vladislav", "James", "Christian",
        "Mark",     "Vojtech",  "Csaba", "Balázs", "Douglas", "Ana",       "Pál",   "Jordan",
        "Radosław", "Zoë",      "Kiril", "Jürgen", "Ondřej",  "Natalia",   "Bernd", "Lorenz",
        "Shen",     "Li",       "Chen",  "Oleg",   "Raymond", "Hope",
    };
    static const char *const last[] = {
        "Goldberg",  "Savranskaya", "Hasanli", "Radchenko", "Weathersby", "Zubok",
        "Hershberg", "Ostermann",   "Kramer",  "Mastny",    "Békés",      "Selvage",
        "Németh",    "Baev",        "Byrne",   "Kowalski",  "Dvořák",     "Müller",
        "Lüthi",     "Zhihua",      "Danhui",  "Jian",      "Garthoff",   "Harrison",
        "Wolff",     "Schmidt",     "Popov",   "Ivanova",   "Kuznetsov",  "Horváth",
    };
    uint64_t s = 42;

    g->words = xcalloc(NWORDS, sizeof(char *));
    for (size_t i = 0; i < NWORDS; i++) {
        struct strbuf b = STRBUF_INIT;

        if (i < sizeof(topic_words) / sizeof(topic_words[0])) {
            g->words[i] = xstrdup(topic_words[i]);
            continue;
        }
        for (int k = 0, n = 2 + (int)(mix(&s) % 3); k < n; k++)
            strbuf_adds(&b, syllables[mix(&s) % (sizeof(syllables) / sizeof(syllables[0]))]);
        strbuf_addf(&b, "%c", (char)('a' + i % 26));
        g->words[i] = strbuf_steal(&b);
    }
    zipf_init(&g->vocab, NWORDS, 1.0);
    zipf_init(&g->archives, NARCHIVES, 1.2);
    zipf_init(&g->funds, 2000, 1.1);
    zipf_init(&g->inventories, 100, 1.3);
    zipf_init(&g->people, NPEOPLE, 1.1);
    for (size_t i = 0; i < NARCHIVES; i++)
        g->archive_names[i] = xstrdup(archives[i]);
    for (size_t i = 0; i < NPEOPLE; i++)
        g->people_names[i] = xasprintf("%s %s", first[i % 30], last[(i / 30 + i * 7) % 30]);
}

static char *gen_words(const struct gen *g, uint64_t *s, int n, bool capital)
{
    struct strbuf b = STRBUF_INIT;

    for (int i = 0; i < n; i++) {
        const char *w = g->words[zipf_draw(&g->vocab, s)];

        if (i)
            strbuf_addc(&b, ' ');
        if (i == 0 && capital)
            strbuf_addc(&b, (char)(w[0] - 32));
        strbuf_adds(&b, i == 0 && capital ? w + 1 : w);
    }
    return strbuf_steal(&b);
}

/* Record number id (1-based), always the same for the same id. */
static struct record *gen_record(const struct gen *g, uint64_t id)
{
    struct record *r = record_new();
    uint64_t s = id * 2654435761ULL + 7;
    int ncit = unit(&s) < 0.15 ? 2 : 1;
    struct strbuf src = STRBUF_INIT;
    const char *tr = g->people_names[zipf_draw(&g->people, &s)];
    const char *co = g->people_names[zipf_draw(&g->people, &s)];

    r->record_id = xasprintf("%llu", (unsigned long long)id);
    r->url = xasprintf("https://archive.example/document/%llu", (unsigned long long)id);
    r->title = gen_words(g, &s, 6 + (int)(mix(&s) % 8), true);
    r->date_iso = xasprintf("%d-%02d-%02d", 1917 + (int)(mix(&s) % 75), 1 + (int)(mix(&s) % 12),
                            1 + (int)(mix(&s) % 28));
    r->date = xstrdup(r->date_iso);
    r->summary = gen_words(g, &s, 20 + (int)(mix(&s) % 25), true);
    r->type = xstrdup(mix(&s) % 2 ? "Telegram" : "Memorandum");
    strlist_add(&r->languages, mix(&s) % 3 ? "Russian" : "Chinese");
    r->uploaded = xstrdup("2011-11-20");
    strlist_add(&r->subjects, g->words[zipf_draw(&g->vocab, &s)]);
    strlist_add(&r->people, g->people_names[zipf_draw(&g->people, &s)]);
    for (int i = 0; i < ncit; i++) {
        size_t a = zipf_draw(&g->archives, &s);
        long first = 1 + (long)(mix(&s) % 400), len = (long)(mix(&s) % 8);
        struct citation c = {0};

        c.archive = xstrdup(g->archive_names[a]);
        c.fund = xasprintf("%zu", 1 + zipf_draw(&g->funds, &s));
        c.inventory = xasprintf("%zu", 1 + zipf_draw(&g->inventories, &s));
        c.file = xasprintf("%llu", (unsigned long long)(1 + mix(&s) % 3000));
        c.sheets = len ? xasprintf("%ld-%ld", first, first + len) : xasprintf("%ld", first);
        c.text = xasprintf("%s, f. %s, op. %s, d. %s, ll. %s.", c.archive, c.fund, c.inventory,
                           c.file, c.sheets);
        strbuf_addf(&src, "%s%s", i ? "; " : "", c.text);
        record_add_citation_steal(r, &c);
    }
    strlist_add(&r->translators, tr);
    strlist_add(&r->contributors, co);
    strbuf_addf(&src, " Contributed by %s and translated by %s.", co, tr);
    r->source = strbuf_steal(&src);
    r->text = gen_words(g, &s, 150 + (int)(mix(&s) % 250), true);
    return r;
}

/* ---- timing ------------------------------------------------------------ */

static double now_s(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static double cpu_s(void)
{
    struct timespec t;

    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Bytes this process has handed to write calls so far (/proc/self/io,
 * "wchar": the WAL, the database at checkpoints), -1 when unknown. What a
 * loop writes per record is its I/O cost, which the wall-clock time shows
 * on a busy disk and the CPU time does not. */
static long long io_written(void)
{
    FILE *f = fopen("/proc/self/io", "r");
    char line[128];
    long long v = -1;

    if (f == NULL)
        return -1;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "wchar: %lld", &v) == 1)
            break;
    fclose(f);
    return v;
}

/* Kilobytes written per record since w0 (io_written()), or -1. */
static double io_kb_per_record(long long w0, size_t n)
{
    long long w = io_written();

    return w < 0 || w0 < 0 ? -1.0 : (double)(w - w0) / 1e3 / (double)n;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

static double thread_cpu_s(void)
{
    struct timespec t;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Wall-clock latencies, and the CPU time of the same queries (what the
 * query costs, without the waits of a busy machine). */
static void report_latency(const char *what, double *ms, double *cpu, size_t n)
{
    qsort(ms, n, sizeof(double), cmp_double);
    qsort(cpu, n, sizeof(double), cmp_double);
    printf("  %-30s median %7.3f ms  p99 %7.3f ms | CPU median %6.3f ms  p99 %6.3f ms\n", what,
           ms[n / 2], ms[(size_t)((double)n * 0.99)], cpu[n / 2], cpu[(size_t)((double)n * 0.99)]);
    fflush(stdout);
}

static void die(const char *what, const char *msg)
{
    fprintf(stderr, "bench_catalog: %s: %s\n", what, msg);
    exit(1);
}

/* ---- (a) the bare INSERT loop ------------------------------------------ */

static char *list_json(const struct strlist *l)
{
    json_t *a = json_array();
    char *s;

    for (size_t i = 0; i < l->n; i++)
        json_array_append_new(a, json_string(l->v[i]));
    s = json_dumps(a, JSON_COMPACT);
    json_decref(a);
    return s;
}

static void bare_exec(sqlite3 *db, const char *sql)
{
    char *msg = NULL;

    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
        die(sql, msg);
}

/* The catalog's full-text index, as (a2) writes it. */
#define FTS_DDL                                                                                    \
    "CREATE VIRTUAL TABLE records_fts USING fts5(title, summary, source_text, doc_text,"           \
    " content='records', content_rowid='id', columnsize=0,"                                        \
    " tokenize='unicode61 remove_diacritics 2');"                                                  \
    "INSERT INTO records_fts(records_fts, rank) VALUES('automerge', 16);"

/* Write the full-text rows of records first..last (ids first+1..). */
static void bare_fts(sqlite3 *db, sqlite3_stmt *fs, struct record **recs, size_t first, size_t last)
{
    for (size_t k = first; k <= last; k++) {
        sqlite3_bind_int64(fs, 1, (sqlite3_int64)k + 1);
        sqlite3_bind_text(fs, 2, recs[k]->title, -1, SQLITE_STATIC);
        sqlite3_bind_text(fs, 3, recs[k]->summary, -1, SQLITE_STATIC);
        sqlite3_bind_text(fs, 4, recs[k]->source, -1, SQLITE_STATIC);
        sqlite3_bind_text(fs, 5, recs[k]->text, -1, SQLITE_STATIC);
        if (sqlite3_step(fs) != SQLITE_DONE)
            die("insert full text", sqlite3_errmsg(db));
        sqlite3_reset(fs);
    }
}

/* (a): with fts, the same full-text index is kept too, its rows written
 * together at the end of each batch (the cheapest order for FTS5). */
static double bench_bare(const char *path, struct record **recs, size_t n, size_t batch, bool fts,
                         double *cpu, double *kb)
{
    long long w0;
    sqlite3_stmt *fs = NULL;
    sqlite3 *db;
    sqlite3_stmt *rs, *cs, *ps;
    double t0, c0;

    if (sqlite3_open(path, &db) != SQLITE_OK)
        die("open", path);
    bare_exec(db, "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;"
                  " PRAGMA cache_size = -32768; PRAGMA journal_size_limit = 67108864;");
    bare_exec(db, "CREATE TABLE records (id INTEGER PRIMARY KEY, source TEXT, key TEXT,"
                  " record_id TEXT, url TEXT, title TEXT, date TEXT, date_iso TEXT,"
                  " summary TEXT, type TEXT, languages TEXT, original_archives TEXT,"
                  " classification TEXT, uploaded TEXT, funders TEXT, subjects TEXT,"
                  " people TEXT, places TEXT, source_text TEXT, contributors TEXT,"
                  " translators TEXT, doc_text TEXT, partial INTEGER);"
                  "CREATE TABLE citations (record INTEGER, pos INTEGER, archive TEXT,"
                  " fund TEXT, inventory TEXT, folder TEXT, file TEXT, sheets TEXT, text TEXT);"
                  "CREATE TABLE people (record INTEGER, role INTEGER, pos INTEGER, name TEXT);");
    if (fts) {
        bare_exec(db, FTS_DDL);
        if (sqlite3_prepare_v2(db,
                               "INSERT INTO records_fts(rowid, title, summary, source_text,"
                               " doc_text) VALUES(?1, ?2, ?3, ?4, ?5)",
                               -1, &fs, NULL) != SQLITE_OK)
            die("prepare", sqlite3_errmsg(db));
    }
    if (sqlite3_prepare_v2(db,
                           "INSERT INTO records VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10,"
                           " ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23)",
                           -1, &rs, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "INSERT INTO citations VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                           -1, &cs, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "INSERT INTO people VALUES(?1, ?2, ?3, ?4)", -1, &ps, NULL) !=
            SQLITE_OK)
        die("prepare", sqlite3_errmsg(db));
    t0 = now_s();
    c0 = cpu_s();
    w0 = io_written();
    for (size_t i = 0; i < n; i++) {
        const struct record *r = recs[i];
        const struct strlist *lists[] = {
            &r->languages, &r->original_archives, &r->funders,    &r->subjects, &r->people,
            &r->places,    &r->contributors,      &r->translators};
        sqlite3_int64 id = (sqlite3_int64)i + 1;

        if (i % batch == 0)
            bare_exec(db, "BEGIN IMMEDIATE");
        sqlite3_bind_int64(rs, 1, id);
        sqlite3_bind_text(rs, 2, SOURCE_NAME, -1, SQLITE_STATIC);
        sqlite3_bind_text(rs, 3, r->record_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(rs, 4, r->record_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(rs, 5, r->url, -1, SQLITE_STATIC);
        sqlite3_bind_text(rs, 6, r->title, -1, SQLITE_STATIC);
        sqlite3_bind_text(rs, 7, r->date, -1, SQLITE_STATIC);
        sqlite3_bind_text(rs, 8, r->date_iso, -1, SQLITE_STATIC);
        sqlite3_bind_text(rs, 9, r->summary, -1, SQLITE_STATIC);
        sqlite3_bind_text(rs, 10, r->type, -1, SQLITE_STATIC);
        sqlite3_bind_text(rs, 11, list_json(lists[0]), -1, free);
        sqlite3_bind_text(rs, 12, list_json(lists[1]), -1, free);
        sqlite3_bind_text(rs, 13, r->classification, -1, SQLITE_STATIC);
        sqlite3_bind_text(rs, 14, r->uploaded, -1, SQLITE_STATIC);
        for (int k = 2; k < 6; k++)
            sqlite3_bind_text(rs, 13 + k, list_json(lists[k]), -1, free);
        sqlite3_bind_text(rs, 19, r->source, -1, SQLITE_STATIC);
        sqlite3_bind_text(rs, 20, list_json(lists[6]), -1, free);
        sqlite3_bind_text(rs, 21, list_json(lists[7]), -1, free);
        sqlite3_bind_text(rs, 22, r->text, -1, SQLITE_STATIC);
        sqlite3_bind_int(rs, 23, r->partial);
        if (sqlite3_step(rs) != SQLITE_DONE)
            die("insert", sqlite3_errmsg(db));
        sqlite3_reset(rs);
        for (size_t k = 0; k < r->n_citations; k++) {
            const struct citation *c = &r->citations[k];

            sqlite3_bind_int64(cs, 1, id);
            sqlite3_bind_int64(cs, 2, (sqlite3_int64)k);
            sqlite3_bind_text(cs, 3, c->archive, -1, SQLITE_STATIC);
            sqlite3_bind_text(cs, 4, c->fund, -1, SQLITE_STATIC);
            sqlite3_bind_text(cs, 5, c->inventory, -1, SQLITE_STATIC);
            sqlite3_bind_text(cs, 6, c->folder, -1, SQLITE_STATIC);
            sqlite3_bind_text(cs, 7, c->file, -1, SQLITE_STATIC);
            sqlite3_bind_text(cs, 8, c->sheets, -1, SQLITE_STATIC);
            sqlite3_bind_text(cs, 9, c->text, -1, SQLITE_STATIC);
            if (sqlite3_step(cs) != SQLITE_DONE)
                die("insert citation", sqlite3_errmsg(db));
            sqlite3_reset(cs);
        }
        for (int role = 1; role <= 2; role++) {
            const struct strlist *l = role == 1 ? &r->contributors : &r->translators;

            for (size_t k = 0; k < l->n; k++) {
                sqlite3_bind_int64(ps, 1, id);
                sqlite3_bind_int(ps, 2, role);
                sqlite3_bind_int64(ps, 3, (sqlite3_int64)k);
                sqlite3_bind_text(ps, 4, l->v[k], -1, SQLITE_STATIC);
                if (sqlite3_step(ps) != SQLITE_DONE)
                    die("insert person", sqlite3_errmsg(db));
                sqlite3_reset(ps);
            }
        }
        if (i % batch == batch - 1 || i == n - 1) {
            if (fs)
                bare_fts(db, fs, recs, i - i % batch, i);
            bare_exec(db, "COMMIT");
        }
    }
    t0 = now_s() - t0;
    *cpu = cpu_s() - c0;
    *kb = io_kb_per_record(w0, n);
    sqlite3_finalize(rs);
    sqlite3_finalize(cs);
    sqlite3_finalize(ps);
    sqlite3_finalize(fs);
    sqlite3_close(db);
    return t0;
}

/* ---- (b) catalog upserts ------------------------------------------------ */

static int64_t run_begin(struct catalog *c, const struct gen *g, const uint64_t *ids, size_t from,
                         size_t to, size_t batch)
{
    int64_t run = 0;

    (void)g;
    if (catalog_run_start(c, SOURCE_NAME, CATALOG_TRIGGER_ONCE, &run) != 0)
        die("run", catalog_errmsg(c));
    for (size_t i = from; i < to; i++) {
        char *url = xasprintf("https://archive.example/document/%llu", (unsigned long long)ids[i]);

        if ((i - from) % (batch * 10) == 0 && catalog_begin(c) != 0)
            die("begin", catalog_errmsg(c));
        if (catalog_frontier_add(c, run, url) < 0)
            die("frontier", catalog_errmsg(c));
        free(url);
        if ((i - from) % (batch * 10) == batch * 10 - 1 || i == to - 1)
            if (catalog_commit(c, NULL) != 0)
                die("commit", catalog_errmsg(c));
    }
    return run;
}

static void upsert_range(struct catalog *c, int64_t run, struct record **recs, const struct gen *g,
                         const uint64_t *ids, size_t from, size_t to, size_t batch)
{
    for (size_t i = from; i < to; i++) {
        struct record *r = recs ? recs[i - from] : gen_record(g, ids[i]);
        /* Re-checks spread over the following day, as a scheduler would. */
        struct catalog_page p = {.source = SOURCE_NAME,
                                 .url = r->url,
                                 .etag = "\"e1\"",
                                 .run_id = run,
                                 .next_due = 1700086400 + (int64_t)i};

        if ((i - from) % batch == 0 && catalog_begin(c) != 0)
            die("begin", catalog_errmsg(c));
        if (catalog_upsert(c, &p, r, NULL) != 0)
            die("upsert", catalog_errmsg(c));
        if ((i - from) % batch == batch - 1 || i == to - 1)
            if (catalog_commit(c, NULL) != 0)
                die("commit", catalog_errmsg(c));
        if (recs == NULL)
            record_free(r);
    }
}

/* ---- latencies ----------------------------------------------------------- */

struct first_page {
    size_t lines, want;
};

static int first_page_write(void *data, const char *buf, size_t len)
{
    struct first_page *fp = data;

    for (size_t i = 0; i < len; i++)
        fp->lines += buf[i] == '\n';
    return fp->lines >= fp->want ? -ECANCELED : 0;
}

static void search_or_die(struct catalog *rd, const struct catalog_filter *f, size_t *hits)
{
    struct catalog_results res;

    if (catalog_search(rd, f, CATALOG_PAGE_DEFAULT, NULL, &res) != 0)
        die("search", catalog_errmsg(rd));
    *hits += res.n;
    catalog_results_clear(&res);
}

static void bench_queries(const char *path, const struct gen *g, size_t n, size_t q)
{
    struct catalog_options o = {.readonly = true};
    struct catalog *rd;
    double *ms = xcalloc(q, sizeof(double)), *cpu = xcalloc(q, sizeof(double));
    uint64_t s = 99;
    size_t hits = 0;

    if (catalog_open(path, &o, &rd) != 0)
        die("open reader", catalog_errmsg(rd));
    printf("latency on a reader handle, %zu records, first page of %d:\n", n, CATALOG_PAGE_DEFAULT);
    for (int kind = 0; kind < 6; kind++) {
        const char *names[] = {"lookup by record key",          "archive + fund + inventory",
                               "sheet in range (unit + sheet)", "translator",
                               "full text (1-2 words)",         "export, first page (JSONL)"};
        size_t runs = kind == 5 ? q / 10 + 1 : q;

        hits = 0;
        for (size_t i = 0; i < runs + 20; i++) {
            uint64_t id = 1 + mix(&s) % n;
            struct record *r = gen_record(g, id);
            const struct citation *c = &r->citations[0];
            struct catalog_filter f = {0};
            char sheet[32], text[128];
            double t0 = now_s(), c0 = thread_cpu_s();

            switch (kind) {
            case 0: {
                struct catalog_detail d;

                if (catalog_show(rd, SOURCE_NAME, r->record_id, &d) != 0)
                    die("show", catalog_errmsg(rd));
                hits++;
                catalog_detail_clear(&d);
                break;
            }
            case 1:
                f.archive = c->archive;
                f.fund = c->fund;
                f.inventory = c->inventory;
                search_or_die(rd, &f, &hits);
                break;
            case 2:
                snprintf(sheet, sizeof(sheet), "%ld", strtol(c->sheets, NULL, 10));
                f.archive = c->archive;
                f.fund = c->fund;
                f.inventory = c->inventory;
                f.file = c->file;
                f.sheet = sheet;
                search_or_die(rd, &f, &hits);
                break;
            case 3:
                f.translator = g->people_names[zipf_draw(&g->people, &s)];
                search_or_die(rd, &f, &hits);
                break;
            case 4:
                /* Words people look for: neither the commonest nor hapaxes. */
                if (mix(&s) % 2)
                    snprintf(text, sizeof(text), "%s", g->words[50 + mix(&s) % 5000]);
                else
                    snprintf(text, sizeof(text), "%s %s", g->words[20 + mix(&s) % 500],
                             g->words[50 + mix(&s) % 5000]);
                f.text = text;
                search_or_die(rd, &f, &hits);
                break;
            case 5: {
                struct first_page fp = {0, CATALOG_PAGE_DEFAULT};
                int err = catalog_export(rd, NULL, CATALOG_FORMAT_JSONL, first_page_write, &fp);

                if (err != -ECANCELED)
                    die("export", catalog_errmsg(rd));
                hits += fp.lines;
                break;
            }
            }
            /* The first 20 warm the caches and are not counted. */
            if (i >= 20) {
                ms[i - 20] = (now_s() - t0) * 1e3;
                cpu[i - 20] = (thread_cpu_s() - c0) * 1e3;
            }
            record_free(r);
        }
        report_latency(names[kind], ms, cpu, runs);
        printf("  %-30s %.1f results per query, %zu queries\n", "",
               (double)hits / (double)(runs + 20), runs);
    }
    catalog_close(rd);
    free(ms);
    free(cpu);
}

static long long file_size(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0 ? (long long)st.st_size : 0;
}

static void remove_db(const char *db)
{
    const char *suffix[] = {"", "-wal", "-shm"};

    for (int i = 0; i < 3; i++) {
        char *p = xasprintf("%s%s", db, suffix[i]);

        unlink(p);
        free(p);
    }
}

int main(int argc, char **argv)
{
    size_t n = 100000, big = 1000000, batch = 100, q = 1000;
    const char *dir = NULL;
    bool keep = false, queries_only = false;
    struct gen g;
    struct record **recs;
    uint64_t *ids;
    char *bare_db, *cat_db, *tmp = NULL;
    struct catalog_options o = {.skip_check = true};
    struct catalog *c;
    double ta, ta2, tb, t0, ca, ca2, cb, ka, ka2, kb;
    long long w0;
    int64_t run;
    int opt;

    while ((opt = getopt(argc, argv, "n:N:b:q:d:kQ")) != -1) {
        switch (opt) {
        case 'n':
            n = strtoul(optarg, NULL, 10);
            break;
        case 'N':
            big = strtoul(optarg, NULL, 10);
            break;
        case 'b':
            batch = strtoul(optarg, NULL, 10);
            break;
        case 'q':
            q = strtoul(optarg, NULL, 10);
            break;
        case 'd':
            dir = optarg;
            break;
        case 'k':
            keep = true;
            break;
        case 'Q':
            queries_only = true;
            break;
        default:
            fprintf(stderr,
                    "usage: %s [-n RECORDS] [-N LARGE] [-b BATCH] [-q QUERIES]"
                    " [-d DIR] [-k]\n",
                    argv[0]);
            return 2;
        }
    }
    if (n == 0 || batch == 0 || q == 0 || (big && big < n))
        die("options", "need RECORDS > 0, BATCH > 0, QUERIES > 0, LARGE >= RECORDS or 0");
    if (dir == NULL) {
        const char *base = getenv("TMPDIR");

        tmp = xasprintf("%s/bench-catalog-XXXXXX", base && base[0] ? base : "/tmp");
        if (mkdtemp(tmp) == NULL)
            die("mkdtemp", strerror(errno));
        dir = tmp;
    }
    bare_db = xasprintf("%s/bare.db", dir);
    cat_db = xasprintf("%s/catalog.db", dir);
    gen_init(&g);
    if (queries_only) {
        if (tmp || big == 0)
            die("options", "-Q needs -d DIR and -N LARGE of an earlier run");
        bench_queries(cat_db, &g, big, q);
        free(bare_db);
        free(cat_db);
        return 0;
    }
    /* Keys arrive in a shuffled order, as pages of a listing do. */
    ids = xcalloc(big > n ? big : n, sizeof(uint64_t));
    for (size_t i = 0; i < (big > n ? big : n); i++)
        ids[i] = i + 1;
    {
        uint64_t s = 7;

        for (size_t i = (big > n ? big : n) - 1; i > 0; i--) {
            size_t j = mix(&s) % (i + 1);
            uint64_t t = ids[i];

            ids[i] = ids[j];
            ids[j] = t;
        }
    }
    /* The throughput records are made before the clocks start. */
    recs = xcalloc(n, sizeof(*recs));
    for (size_t i = 0; i < n; i++)
        recs[i] = gen_record(&g, ids[i]);
    printf("bench_catalog: %zu records, batches of %zu, SQLite %s, in %s\n", n, batch,
           sqlite3_libversion(), dir);
    ta = bench_bare(bare_db, recs, n, batch, false, &ca, &ka);
    printf("(a1) bare INSERT loop, rows only:       %7.0f records/s (%.2f s; CPU %.2f s;"
           " %.1f kB written per record)\n",
           (double)n / ta, ta, ca, ka);
    remove_db(bare_db);
    ta2 = bench_bare(bare_db, recs, n, batch, true, &ca2, &ka2);
    printf("(a2) bare INSERT loop, rows + FTS5:     %7.0f records/s (%.2f s; CPU %.2f s;"
           " %.1f kB written per record)\n",
           (double)n / ta2, ta2, ca2, ka2);
    remove_db(bare_db);
    fflush(stdout);
    if (catalog_open(cat_db, &o, &c) != 0)
        die("open", catalog_errmsg(c));
    t0 = now_s();
    run = run_begin(c, &g, ids, 0, n, batch);
    printf("    (frontier of %zu URLs stored in %.2f s, not counted)\n", n, now_s() - t0);
    t0 = now_s();
    cb = cpu_s();
    w0 = io_written();
    upsert_range(c, run, recs, &g, ids, 0, n, batch);
    tb = now_s() - t0;
    cb = cpu_s() - cb;
    kb = io_kb_per_record(w0, n);
    printf("(b)  catalog upserts:                   %7.0f records/s (%.2f s; CPU %.2f s;"
           " %.1f kB written per record)\n",
           (double)n / tb, tb, cb, kb);
    printf("     b/a1 = %.2f wall, %.2f CPU;  b/a2 = %.2f wall, %.2f CPU\n", ta / tb, ca / cb,
           ta2 / tb, ca2 / cb);
    fflush(stdout);
    if (catalog_run_finish(c, run, false) != 0)
        die("finish", catalog_errmsg(c));
    for (size_t i = 0; i < n; i++)
        record_free(recs[i]);
    free(recs);
    if (big > n) {
        t0 = now_s();
        run = run_begin(c, &g, ids, n, big, batch);
        upsert_range(c, run, NULL, &g, ids, n, big, batch);
        catalog_run_finish(c, run, false);
        printf("grown to %zu records in %.0f s (generation included)\n", big, now_s() - t0);
    }
    /* Fold the WAL into the database before measuring size and reads. */
    catalog_close(c);
    printf("database: %lld bytes, %.0f bytes per record\n", file_size(cat_db),
           (double)file_size(cat_db) / (double)(big > n ? big : n));
    fflush(stdout);
    bench_queries(cat_db, &g, big > n ? big : n, q);
    if (!keep) {
        remove_db(cat_db);
        if (tmp)
            rmdir(tmp);
    }
    free(ids);
    free(bare_db);
    free(cat_db);
    free(tmp);
    return 0;
}
