/*
 * daemon_http: a small, blocking HTTP/1.1 client on a UNIX socket for the
 * daemon's integration tests and benchmark. It writes requests byte for
 * byte as given (so tests can send broken ones) and reads one reply with
 * an absolute time limit, decoding Content-Length and chunked bodies. No
 * library beyond libc: what it reports is what went over the socket.
 */
#ifndef PROVD_TESTS_DAEMON_HTTP_H
#define PROVD_TESTS_DAEMON_HTTP_H

#include <stdbool.h>
#include <stddef.h>

/* One reply. status is 0 when none arrived (closed, timed out, garbage). */
struct daemon_http_reply {
    int status;
    char *headers;   /* the header block as received (status line included) */
    char *body;      /* decoded body, NUL-terminated; never NULL after a read */
    size_t body_len; /* bytes in body */
    bool complete;   /* the body ended as its framing said (length or last chunk) */
    bool closed;     /* the server closed the connection (EOF seen) */
    bool timed_out;  /* the time limit passed first */
    double ms;       /* from the call's start to the end of the reply */
};

/* Connect to the UNIX socket at path. Returns a blocking fd, or -errno
 * (-EACCES when the file's mode forbids us, -ECONNREFUSED, -ENOENT). */
int daemon_http_connect(const char *path);

/* Write all len bytes of data to fd; 0, or -errno (-EPIPE when the peer is
 * gone). */
int daemon_http_send(int fd, const void *data, size_t len);

/* Read one reply from fd within timeout_ms into r (cleared first; the
 * caller clears it after). head: the request was HEAD (no body follows).
 * Returns 0 when a whole reply arrived, else -ETIMEDOUT, -ECONNRESET (the
 * connection ended first; r->status may still be set) or -EPROTO. */
int daemon_http_read(int fd, bool head, int timeout_ms, struct daemon_http_reply *r);

/* One request on a fresh connection that is closed afterwards: method,
 * target ("/v1/status?x=1"), an optional form-encoded body (NULL: none).
 * Returns what daemon_http_read() returns, or the connect error. */
int daemon_http_request(const char *path, const char *method, const char *target, const char *body,
                        int timeout_ms, struct daemon_http_reply *r);

/* The same with the whole request given raw (request line, headers, body),
 * for malformed requests. */
int daemon_http_raw(const char *path, const void *req, size_t len, int timeout_ms,
                    struct daemon_http_reply *r);

/* A request on an open keep-alive connection fd (the benchmark). */
int daemon_http_keepalive(int fd, const char *method, const char *target, int timeout_ms,
                          struct daemon_http_reply *r);

/* The value of header name in r (case-insensitive) copied into buf; NULL
 * when absent. */
const char *daemon_http_header(const struct daemon_http_reply *r, const char *name, char *buf,
                               size_t len);

/* Free what r owns; r may be reused. */
void daemon_http_reply_clear(struct daemon_http_reply *r);

/* Percent-encode s for a query string or a path segment into a new string
 * (unreserved bytes kept). The caller frees it. */
char *daemon_http_escape(const char *s);

/* Milliseconds of CLOCK_MONOTONIC. */
double daemon_http_now_ms(void);

#endif
