/*
 * test_daemon.h: what the files of the test_daemon program share — the
 * daemons under test, the world around them (fakesite, binaries, the
 * group's daemon A), and the helpers of test_daemon_util.c. See
 * test_daemon.c for what the program covers and its timing rule.
 */
#ifndef PROVD_TESTS_TEST_DAEMON_H
#define PROVD_TESTS_TEST_DAEMON_H

#include "daemon_proc.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#if defined(__SANITIZE_ADDRESS__)
#define TD_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TD_SANITIZED 1
#endif
#endif
/* The slowest health query allowed ("daemon up"); sanitizer builds run
 * provd several times slower. */
#ifdef TD_SANITIZED
#define HEALTH_LIMIT_MS 200.0
#else
#define HEALTH_LIMIT_MS 100.0
#endif

/* Generated records in daemon A's catalog (source "bulk"). */
#define BULK_N 3000
/* api-max-connections and api-deadline of daemon A. */
#define A_MAX_CONN    16
#define A_DEADLINE_MS 2000

/* One provd under test. */
struct td {
    char dir[512];
    char conf[600], sock[600], db[600], log[600];
    pid_t pid;
    struct daemon_notify nt;
};

struct td_world {
    char *dir; /* everything lives below */
    char site[600];
    pid_t fakesite;
    unsigned port;
    /* A second fakesite on the same pages for the slow-* directories: its
     * own host to provd, whose politeness is per host (a source with a
     * delay on a shared host would slow every source on it). */
    pid_t fakesite2;
    unsigned port2;
    const char *provd, *provctl;
    struct td a;         /* the group's daemon */
    int64_t slow_run;    /* the run of source slow started by test_triggers */
    double health[2048]; /* probe times less provd's waits for a CPU */
    double health_raw_max;
    unsigned n_health;
};

extern struct td_world W;

/* ---- test_daemon_util.c ---- */

/* dir/name, a new string. */
char *td_path(const char *dir, const char *name);
/* Write text to path (asserts). */
void td_write(const char *path, const char *text);
/* Copy the saved record pages of tests/data/pages into dir. */
void td_copy_pages(const char *dir);
/* Write a urls file naming every page under the site's directory rel,
 * then extra (may be NULL). */
void td_urls_file(const char *path, const char *rel, const char *extra);
/* Make d's directory W.dir/name and its paths. */
void td_init(struct td *d, const char *name);
/* Write d's configuration: [provd] with the paths, the fakesite port and
 * provd_extra lines, then the sources text. */
void td_config(struct td *d, const char *provd_extra, const char *sources);
/* Start provd on d's configuration and wait for READY=1; nofile is the
 * RLIMIT_NOFILE to give it (0: ours). */
void td_start(struct td *d, long nofile);
/* Send sig and wait up to timeout_ms for the exit: the wait status, or -1
 * when provd did not end (it is killed then); *took_ms (may be NULL) gets
 * the time it took. */
int td_signal_wait(struct td *d, int sig, int timeout_ms, double *took_ms);
/* Kill d if it runs and close its notification socket. */
void td_discard(struct td *d);
/* True when d's log holds needle. */
bool td_log_has(const struct td *d, const char *needle);
/* A request whose reply must have status expect and a JSON body; the
 * parsed body (the caller decrefs it). */
json_t *td_json(const struct td *d, const char *method, const char *target, const char *body,
                int expect);
/* td_json() of a GET that must answer 200. */
json_t *td_get(const struct td *d, const char *target);
/* Poll GET /v1/runs/ID until the run is done or failed; its JSON. */
json_t *td_wait_run(const struct td *d, int64_t id, int timeout_ms);
/* The set ("source/key" -> true) of the records matching query, following
 * the cursor with pages of page_size; asserts that no record repeats. */
json_t *td_all_keys(const struct td *d, const char *query, int page_size);
/* CPU time and time spent runnable but waiting for a CPU, in ms, of
 * provd's loop thread (its main thread); zeros when the kernel does not
 * keep them. */
void td_schedstat(pid_t pid, double *run_ms, double *wait_ms);
/* n health queries on fresh connections; each must answer 200. Their
 * times, less provd's waits for a CPU, are kept for td_health_report(). */
void td_health(const struct td *d, int n);
/* Print the health queries since the last report; assert the slowest. */
void td_health_report(const char *what);
/* Run provctl with the arguments (NULL-ended) on d's socket: its exit
 * status, with its output in *out (the caller frees it). */
int td_provctl(const struct td *d, char **out, ...);
/* A whole raw request to daemon A: the reply's status (0: none); *closed
 * tells whether the server closed. Error replies must be JSON. */
int td_raw(const char *req, size_t len, bool *closed);
/* A request to daemon A: its status; error replies must be JSON. */
int td_status_of(const char *method, const char *target, const char *body);

/* ---- test_daemon_rows.c: RELIABILITY's socket rows ---- */

void test_oversized(void **state);
void test_slowloris(void **state);
void test_flood(void **state);
void test_garbage_methods(void **state);
void test_hostile_params(void **state);
void test_query_budget(void **state);
void test_saturation(void **state);
void test_keepalive_deadline(void **state);
void test_disconnects(void **state);
void test_fuzz(void **state);
void test_fd_exhaustion(void **state);

/* ---- test_daemon_life.c: signals, restarts, start-up failures ---- */

void test_reload_signals_peer(void **state);
void test_sigterm_under_load(void **state);
void test_stale_socket(void **state);
void test_db_corrupt(void **state);
void test_config_errors(void **state);

/* ---- test_daemon_k2.c: a slow fsync (K2) ---- */

void test_k2_slow_fsync(void **state);
/* Kills the provd test_k2_slow_fsync left running when it failed. */
int test_k2_teardown(void **state);

#endif
