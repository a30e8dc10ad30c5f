/*
 * harvest_world: what the harvest integration tests (test_harvest.c) need
 * around the programs they run — a temporary tree, record pages made from
 * the fixtures, fakesite instances on 127.0.0.1, fakesite's request log,
 * and `provd --once` runs as child processes with a bounded wait.
 * Test-only.
 */
#ifndef PROVD_TESTS_HARVEST_WORLD_H
#define PROVD_TESTS_HARVEST_WORLD_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* ---- files ---------------------------------------------------------- */

/* A new directory under $TMPDIR (else /tmp) named prefix-XXXXXX, mode
 * 0700; the caller frees the string. NULL on failure. */
char *hw_tmpdir(const char *prefix);

/* dir "/" rel, allocated. */
char *hw_path(const char *dir, const char *rel);

/* Write len bytes to path, making its missing parent directories. 0 or
 * -errno. */
int hw_write(const char *path, const void *data, size_t len);

/* Remove dir and everything below it (links are not followed). */
void hw_rmtree(const char *dir);

/* ---- record pages from the fixtures -------------------------------- */

/* One fixture page of tests/data/pages: its HTML bytes and the record id
 * its expected JSON names. */
struct hw_fixture {
    char *name; /* file name without .html */
    char *html;
    size_t len;
    char *record_id;
};

struct hw_fixtures {
    struct hw_fixture *v;
    size_t n;
};

/* Load every page of dir that has a .json next to it, sorted by name.
 * 0, or -errno. */
int hw_fixtures_load(const char *dir, struct hw_fixtures *out);
void hw_fixtures_free(struct hw_fixtures *f);

/* A copy of html (len bytes) with text inserted just before the first
 * occurrence of tag that follows the first occurrence of marker; NULL
 * when either is missing. *out_len gets the new length. */
char *hw_insert(const char *html, size_t len, const char *marker, const char *tag, const char *text,
                size_t *out_len);

/* Fixture f as record new_id: its record id replaced and suffix added to
 * its title; NULL when the fixture does not have the expected shape. */
char *hw_page(const struct hw_fixture *f, const char *new_id, const char *suffix, size_t *out_len);

/* ---- fakesite ------------------------------------------------------- */

struct hw_site {
    pid_t pid;
    int stdin_w;     /* closing it stops fakesite */
    unsigned port;   /* HTTP port on 127.0.0.1 */
    unsigned raw;    /* raw-socket port */
    char *root;      /* directory served */
    char *log;       /* request log */
    char *stderr_to; /* fakesite's own messages */
};

/* Start fakesite (program path) serving root, its files named after
 * name in dir, with extra options args (NULL-ended, may be NULL). 0, or
 * -1 when it did not come up within 10 s. */
int hw_site_start(struct hw_site *s, const char *program, const char *dir, const char *name,
                  const char *root, const char *const *args);

/* Stop s (SIGTERM, then SIGKILL after 5 s) and free its strings. */
void hw_site_stop(struct hw_site *s);

/* "http://127.0.0.1:PORT" path, allocated. */
char *hw_url(unsigned port, const char *path);

/* ---- the request log ------------------------------------------------ */

struct hw_req {
    long long ms; /* CLOCK_MONOTONIC milliseconds when handled */
    char *method;
    char *path; /* with the query */
    int status;
    bool cond; /* If-None-Match or If-Modified-Since was sent */
    char *ua;
};

struct hw_log {
    struct hw_req *v;
    size_t n;
};

/* Read the request log at path from line first on (0: all). 0 or -errno. */
int hw_log_read(const char *path, size_t first, struct hw_log *out);
void hw_log_free(struct hw_log *l);

/* Lines in the log now (a mark for hw_log_read()). */
size_t hw_log_lines(const char *path);

/* Requests of l whose path is path exactly. */
size_t hw_log_count(const struct hw_log *l, const char *path);

/* ---- processes ------------------------------------------------------ */

/* fork + exec argv (argv[0] a path) with stdin from /dev/null, stdout and
 * stderr appended to out, and SIGKILL when we die. pid or -errno. */
pid_t hw_spawn(const char *const argv[], const char *out);

/* Wait up to timeout_ms for pid; 0 with its wait status in *status, or
 * -ETIMEDOUT. */
int hw_wait(pid_t pid, int timeout_ms, int *status);

/* SIGKILL pid and reap it. */
void hw_kill(pid_t pid);

/* Run `provd -c conf --once`, output appended to out, for at most
 * timeout_ms: its exit status, or -1 (killed by a signal, or killed by us
 * at the time limit). */
int hw_provd_once(const char *provd, const char *conf, const char *out, int timeout_ms);

/* The last bytes of a file, for failure messages; static storage. */
const char *hw_tail(const char *path, size_t bytes);

/* Sleep ms milliseconds. */
void hw_sleep_ms(int ms);

#endif
