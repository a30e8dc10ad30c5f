/*
 * fakesite: shared state of the fault-injecting test site (see fakesite.c
 * for what it serves). Test-only; nothing of provd links it.
 */
#ifndef PROVD_FAKESITE_H
#define PROVD_FAKESITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

struct event_base;
struct evconnlistener;
struct evhttp;
struct evhttp_request;
struct evbuffer;
struct site_pages;

#define SITE_MAX_DISALLOW 64
#define SITE_MAX_COUNTERS 4096

/* A per-path request counter (fail sequences, switching pages). */
struct site_counter {
    char *path;
    unsigned long n;
};

/* A reply that is still being produced on a timer (delay, trickle,
 * endless body); listed so that shutdown can free it. */
struct site_job {
    struct site *site;
    struct evhttp_request *req;
    struct event *timer;
    int kind;                /* enum in faults.c */
    unsigned long long left; /* bytes still to send */
    struct site_job *prev, *next;
};

struct site {
    struct event_base *base;
    struct evhttp *http;
    const char *root;
    FILE *log;
    unsigned http_port;
    unsigned raw_port;

    const char *robots_agent;
    const char *disallow[SITE_MAX_DISALLOW];
    size_t ndisallow;
    const char *crawl_delay;
    int robots_status;
    long sitemap_size; /* URLs per child sitemap of the index */

    struct site_counter counters[SITE_MAX_COUNTERS];
    size_t ncounters;
    struct site_job *jobs;

    unsigned char *bomb; /* gzip of 1 GiB of zeros */
    size_t bomb_len;
    char *pad; /* 2 MB of X-Pad header lines */
    size_t pad_len;
    char *stream_block; /* 64 KiB of HTML for endless bodies */
    size_t stream_block_len;

    struct site_pages *list_cache; /* last scan for /list */

    struct evconnlistener *raw_listener;
    struct raw_conn *raw_list;
    int raw_conns;
};

/* Milliseconds on CLOCK_MONOTONIC (the clock tests compare with). */
long long site_now_ms(void);

/* Append one line to the request log: time, method, path, status,
 * "cond" or "-", user agent. */
void site_log(struct site *s, const char *method, const char *path, int status, bool conditional,
              const char *user_agent);

/* Log req (evhttp) with the status it is answered with. */
void site_log_request(struct site *s, struct evhttp_request *req, int status);

/* Send req as a complete reply with body (may be NULL), without logging.
 * Frees a request whose client has already gone. */
void site_send(struct evhttp_request *req, int status, struct evbuffer *body);

/* Log req with status and send it as a complete reply with body (may be
 * NULL). Frees a request whose client has already gone. */
void site_reply(struct site *s, struct evhttp_request *req, int status, struct evbuffer *body);

/* Serve the file at path (URL-decoded, under the root) with validators and
 * 304 handling; 404 when there is no such page. */
void site_serve_file(struct site *s, struct evhttp_request *req, const char *path);

/* The counter of path after counting one more request. */
unsigned long site_count(struct site *s, const char *path);

/* Format t as an HTTP date into out (at least 32 bytes). */
void site_http_date(time_t t, char *out, size_t outlen);

/* Handle a request under /fault/ (faults.c). */
void faults_handle(struct site *s, struct evhttp_request *req, const char *path, const char *query);

/* Build the gzip bomb, header pad and stream block (faults.c). Returns 0 or
 * -1 with a message on stderr. */
int faults_init(struct site *s);

/* Free what faults_init() and running jobs hold. */
void faults_free(struct site *s);

/* Open the raw listener on 127.0.0.1:port (0 = any); sets s->raw_port.
 * Returns 0 or -1 (raw.c). */
int raw_listen(struct site *s, unsigned port);

/* Close the raw listener and its connections. */
void raw_free(struct site *s);

#endif
