/*
 * fetch: HTTP(S) transfers on the daemon's event loop (internal to
 * harvest/; the frontier and tests include it).
 *
 * One struct fetch drives any number of transfers with libcurl's
 * multi_socket interface on a libevent event_base it does not own. A
 * transfer is started with fetch_start() and ends exactly once, through
 * its completion callback, called from the event loop (never from inside
 * fetch_start()). The callback gets a struct fetch_response that says what
 * happened in one stable category (common/errors.h) plus the details.
 *
 * Every transfer is bounded: connect, total and low-speed timeouts, a cap
 * on decoded body bytes, at most max_redirects redirects, http and https
 * only (file: when the request allows it, never through a redirect), an
 * address policy checked on every socket (redirects and DNS answers
 * included), TLS verification with TLS 1.2 at least, no HTTP/0.9, no
 * cookies, netrc or proxies from the environment.
 *
 * Categories of a completed transfer:
 *   OK                 2xx with an accepted content type (any type for
 *                      file:), or 304 Not Modified (not_modified is set)
 *   CONNECT            connection refused or failed, or reset before a
 *                      response began
 *   TIMEOUT            connect timeout (DNS, TCP and TLS included) or total
 *                      timeout
 *   TOO_SLOW           fewer than low_speed_limit bytes/s for low_speed_time
 *   TOO_LARGE          more than max_body decoded bytes, or oversized headers
 *   TOO_MANY_REDIRECTS more than max_redirects redirects
 *   PROTOCOL_DENIED    a scheme other than http/https (file: unless allowed),
 *                      or an address the policy denies
 *   TLS                certificate or handshake failure
 *   DNS                the name did not resolve (or resolving timed out)
 *   HTTP_PROTOCOL      garbage or HTTP/0.9 replies, bad encodings, a 3xx
 *                      that could not be followed, other odd statuses
 *   HTTP_4XX           4xx other than 429; a file: URL that cannot be read
 *   HTTP_5XX           5xx (503 included: see retry_after_s)
 *   RATE_LIMITED       429
 *   PARTIAL_BODY       the connection ended before the body did
 *   CONTENT_TYPE       a 2xx whose media type is not accepted, or none
 *   INTERNAL           cancelled (cancelled is set) or a libcurl failure
 *
 * A file: URL is read by libcurl inside the loop, synchronously; only
 * regular files are accepted for that reason. Retry-After, content-type
 * and category rules live in fetch_outcome.h.
 *
 * curl_global_init() must have been called (main does it once).
 */
#ifndef PROVD_FETCH_H
#define PROVD_FETCH_H

#include "addrpolicy.h"
#include "errors.h"

#include <stdbool.h>
#include <stddef.h>

struct event_base;
struct fetch;

/* Limits and identity shared by every transfer of one struct fetch. */
struct fetch_options {
    const char *user_agent;          /* sent on every request; NULL: "provd/VERSION" */
    long connect_timeout_ms;         /* DNS + TCP + TLS; default 10000 */
    long total_timeout_ms;           /* whole transfer; default 60000 */
    long low_speed_limit;            /* bytes per second; default 1024 */
    long low_speed_time_s;           /* seconds below the limit; default 15 */
    size_t max_body;                 /* decoded body bytes; default 8 MiB */
    long max_redirects;              /* default 5 */
    long max_total_connections;      /* libcurl connection cap; default 32 */
    long max_host_connections;       /* per host and port; default 2 */
    long retry_after_cap_s;          /* Retry-After is cut to this; default 3600 */
    const char *const *accept_types; /* NULL-terminated media types accepted
                                        on 2xx; NULL: text/html and
                                        application/xhtml+xml */
    const struct addrpolicy *policy; /* copied by fetch_new(); NULL: public
                                        addresses only */
    const char *ca_file;             /* CA bundle; NULL: the system's */
};

/* What a completed transfer hands to its callback. Strings are borrowed and
 * live until the callback returns, except body, which the callback may take
 * (set resp->body to NULL and free it later). */
struct fetch_response {
    const char *url;             /* as requested */
    const char *effective_url;   /* after redirects; the requested URL when
                                    nothing was received */
    long status;                 /* final HTTP status; 0 when no response
                                    came, and for file: URLs */
    enum prov_category category; /* see the table at the top */
    const char *errmsg;          /* why, when category is not OK; else "" */
    int curl_code;               /* libcurl's CURLcode, for diagnostics */
    char *body;                  /* decoded body, NUL-terminated (the NUL is
                                    not counted); set for OK, HTTP_4XX,
                                    HTTP_5XX, RATE_LIMITED and 3xx
                                    HTTP_PROTOCOL answers; NULL otherwise */
    size_t body_len;
    const char *content_type;  /* media type, lower case, no parameters;
                                  NULL when the response had none */
    const char *charset;       /* charset parameter as sent, unquoted; NULL
                                  when absent */
    const char *etag;          /* validators of the final response, NULL
                                  when absent (on a 304 without them the */
    const char *last_modified; /* stored ones stay valid) */
    long retry_after_s;        /* Retry-After in seconds from now, either
                                  form, cut to retry_after_cap_s; -1 when
                                  absent or unreadable */
    bool not_modified;         /* status 304 */
    bool cancelled;            /* ended by fetch_cancel_all()/fetch_free() */
    long redirects;            /* redirects followed */
    long connects;             /* new connections this transfer opened */
    long elapsed_ms;           /* fetch_start() to completion */
    long connect_ms;           /* until connected, as libcurl counts it; -1
                                  when not known */
    long first_byte_ms;        /* until the first response byte; -1 when none
                                  came */
    long long wire_bytes;      /* body bytes received before decoding */
};

/* Called once per transfer, from the event loop. It may call fetch_start()
 * and fetch_cancel_all(), but not fetch_free(). */
typedef void (*fetch_done_fn)(struct fetch_response *resp, void *data);

struct fetch_request {
    const char *url;           /* absolute http, https (or file) URL */
    const char *etag;          /* stored validator for If-None-Match, or NULL */
    const char *last_modified; /* stored validator for If-Modified-Since, or
                                  NULL */
    bool allow_file;           /* the source lists file: URLs; the URL itself
                                  may then be file:, redirects never */
    fetch_done_fn done;        /* required */
    void *data;                /* handed to done */
};

/* Fill o with the defaults listed in struct fetch_options. */
void fetch_options_init(struct fetch_options *o);

/* Check o's values (timeouts and limits positive, at most 100 redirects,
 * per-host connections not above the total). Returns 0, or -EINVAL with a
 * message in err (at most errlen bytes). */
int fetch_options_check(const struct fetch_options *o, char *err, size_t errlen);

/* A new fetch engine on base, which must outlive it. o is copied (strings
 * and the policy too). Returns NULL when o fails fetch_options_check() or
 * libcurl cannot set up a multi handle. */
struct fetch *fetch_new(struct event_base *base, const struct fetch_options *o);

/* Cancel what is in flight (callbacks are called, as fetch_cancel_all()
 * does) and free f; NULL is allowed. Not from inside a callback. */
void fetch_free(struct fetch *f);

/* Start one transfer; req and its strings are copied. Returns 0, and the
 * callback will be called exactly once; or a negative errno and the
 * callback is never called: -EINVAL for a missing callback, a URL libcurl
 * cannot parse, a validator holding control characters, or a file: URL
 * (when allowed) that names something other than a regular file; -ECANCELED
 * while fetch_cancel_all() runs; -EIO when libcurl refuses the transfer.
 * fetch_errmsg() then says why. */
int fetch_start(struct fetch *f, const struct fetch_request *req);

/* End every transfer in flight now: each callback is called with cancelled
 * set and category INTERNAL, before this returns. Returns how many were
 * cancelled. Bounded: no network wait. */
int fetch_cancel_all(struct fetch *f);

/* How many transfers were started and have not completed yet. */
int fetch_in_flight(const struct fetch *f);

/* Why the last fetch_start() failed; "" when it did not. Lives until the
 * next fetch_start() on f. */
const char *fetch_errmsg(const struct fetch *f);

#endif
