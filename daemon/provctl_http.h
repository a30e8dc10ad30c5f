/*
 * provctl_http: provctl's side of the control API — HTTP/1.1 requests to
 * provd over its UNIX socket with libcurl, JSON replies parsed with
 * jansson, streamed replies copied to a FILE as they arrive, and the
 * mapping from what happened to provctl's exit statuses.
 */
#ifndef PROVD_PROVCTL_HTTP_H
#define PROVD_PROVCTL_HTTP_H

#include "strbuf.h"

#include <jansson.h>
#include <stdio.h>

/* provctl's exit statuses (provctl(1) lists them). */
enum provctl_exit {
    PROVCTL_EXIT_OK = 0,
    PROVCTL_EXIT_FAILED = 1,       /* refused or failed: a 4xx or 5xx answer,
                                      a run that ended failed, a page that
                                      could not be extracted */
    PROVCTL_EXIT_USAGE = 2,        /* bad command line */
    PROVCTL_EXIT_CONNECT = 3,      /* cannot connect to the socket */
    PROVCTL_EXIT_NOT_FOUND = 4,    /* 404: no such record, source or run */
    PROVCTL_EXIT_UNAVAILABLE = 69, /* 503 (busy, try again), or no answer
                                      in time */
    PROVCTL_EXIT_TEMPFAIL = 75,    /* harvest --wait: the run had not ended
                                      when --timeout passed */
    PROVCTL_EXIT_CONFIG = 78,      /* the -c configuration is invalid */
};

/* Bounds of one request: connecting, and the whole exchange (streams are
 * bounded by a stall limit instead, see provctl_http_stream()). */
#define PROVCTL_HTTP_CONNECT_MS 5000
#define PROVCTL_HTTP_TOTAL_MS   30000
#define PROVCTL_HTTP_STALL_S    60

struct provctl_http;

/* The answer to one request. */
struct provctl_reply {
    long status;        /* HTTP status */
    struct strbuf body; /* the body as received (error bodies of streams) */
    json_t *json;       /* body parsed as JSON, or NULL when it is not */
};

/* A client for the socket at path (copied). The socket is opened for each
 * request. Never fails: problems show up when a request is made. */
struct provctl_http *provctl_http_new(const char *path);

/* Free h; NULL is allowed. */
void provctl_http_free(struct provctl_http *h);

/* Send method ("GET" or "POST") for target (a path starting with "/v1",
 * query string included, already escaped) with form as an
 * application/x-www-form-urlencoded body (NULL for none), and wait for the
 * whole answer (at most PROVCTL_HTTP_TOTAL_MS). Returns 0 with *out filled
 * whatever the status; the caller calls provctl_reply_clear(). On failure
 * returns a negative errno: -ECONNREFUSED (or the errno of connect())
 * when the socket cannot be reached, -ETIMEDOUT, -EPROTO when the answer
 * is not HTTP; provctl_http_errmsg() says more. */
int provctl_http_request(struct provctl_http *h, const char *method, const char *target,
                         const char *form, struct provctl_reply *out);

/* GET target and copy a 200 answer's body to to as it arrives, flushing
 * it at every write, without holding more than libcurl's buffer. Any
 * other status fills out->body and out->json instead. A stream that ends
 * early (connection closed without the last chunk) or stalls for
 * PROVCTL_HTTP_STALL_S gives -EPIPE or -ETIMEDOUT. Otherwise as
 * provctl_http_request(). */
int provctl_http_stream(struct provctl_http *h, const char *target, FILE *to,
                        struct provctl_reply *out);

/* Why the last request failed, for messages; lives until the next request
 * on h. */
const char *provctl_http_errmsg(const struct provctl_http *h);

/* The socket path; lives as long as h. */
const char *provctl_http_path(const struct provctl_http *h);

/* Free what r holds; r may be reused. */
void provctl_reply_clear(struct provctl_reply *r);

/* Append "&name=value" (or "?name=value" when q is empty or ends with
 * the path) to q with value percent-encoded; nothing when value is NULL. */
void provctl_query_add(struct strbuf *q, const char *name, const char *value);

/* value percent-encoded as one path segment or parameter; the caller
 * frees it. */
char *provctl_escape(const char *value);

/* Print the failure of a request (rc from provctl_http_request() or
 * provctl_http_stream()) to stderr and return the exit status that fits:
 * "provctl: cannot connect to SOCKET: REASON; is provd running?" and
 * PROVCTL_EXIT_CONNECT, or a timeout or protocol message. */
int provctl_http_fail(const struct provctl_http *h, int rc);

/* Print an error answer as "provctl: ERROR: DETAIL" (adding when to retry
 * for 429 and 503) to stderr and return the exit status for its HTTP
 * status. */
int provctl_reply_fail(const struct provctl_reply *r);

#endif
