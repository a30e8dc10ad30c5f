/*
 * control: the HTTP/1.1 + JSON server on provd's UNIX socket (libevent's
 * evhttp), with the limits of RELIABILITY.md: peer-credential checks, a
 * connection cap answering 503, an absolute per-connection deadline,
 * header and body caps, allowed methods, and JSON errors. It routes
 * requests to handlers; what the endpoints mean is daemon/api.c's business.
 */
#ifndef PROVD_CONTROL_H
#define PROVD_CONTROL_H

#include <event2/event.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct strbuf;

struct control_options {
    const char *path;        /* socket path; used when listen_fd < 0 */
    int listen_fd;           /* a listening socket from systemd, or -1 */
    mode_t mode;             /* permissions of a socket we create (0660) */
    const uid_t *allow_uids; /* peers allowed besides our own uid and root */
    size_t n_allow_uids;
    const gid_t *allow_gids; /* peers whose primary gid is listed are allowed */
    size_t n_allow_gids;
    unsigned max_connections; /* connections over this get 503 */
    unsigned deadline_ms;     /* absolute lifetime of a connection without a
                                 reply stream in progress */
    size_t max_headers;       /* bytes of request headers (8192) */
    size_t max_body;          /* bytes of request body (65536) */
};

struct control;
struct control_req;

typedef void (*control_fn)(struct control_req *req, void *data);

/* One route: method ("GET" or "POST") and a path pattern in which "{}"
 * matches one non-empty path segment ("/v1/records/{}/history"). */
struct control_route {
    const char *method;
    const char *pattern;
    control_fn fn;
};

/* Start serving on base. routes is a table ending with a {NULL} row; it
 * and opts->allow_* must outlive the server. data is passed to every
 * handler. Returns NULL with a message in err on failure (socket in use by
 * a live server, path too long, directory writable by others, ...). */
struct control *control_new(struct event_base *base, const struct control_options *opts,
                            const struct control_route *routes, void *data, char *err,
                            size_t errlen);

/* Stop accepting new connections; requests in progress finish. */
void control_stop_accepting(struct control *c);

/* Close every connection, remove the socket file if we created it, free
 * c. NULL is allowed. */
void control_free(struct control *c);

/* Number of open connections. */
unsigned control_connections(const struct control *c);

/* ---- inside a handler ---------------------------------------------- */

/* The value of the i-th "{}" segment, URL-decoded; NULL if none. Lives as
 * long as the request. */
const char *control_req_arg(struct control_req *req, unsigned i);

/* The value of parameter name from the query string or a form-encoded
 * POST body, URL-decoded and checked as UTF-8 without NUL; NULL when
 * absent. Lives as long as the request. */
const char *control_req_param(struct control_req *req, const char *name);

/* Check that every parameter's name is in allowed (a NULL-terminated
 * list) and none is repeated; otherwise answer 400 and return -EINVAL. */
int control_req_check_params(struct control_req *req, const char *const *allowed);

/* Answer with status and the JSON value o (stolen). */
void control_reply_json(struct control_req *req, int status, json_t *o);

/* Set the Retry-After of the answer to come (seconds, at least 1). */
void control_req_retry_after(struct control_req *req, long seconds);

/* Answer {"error": error, "detail": ...} with status; for 503 and 429 a
 * Retry-After of one second is added unless one was set. */
void control_reply_error(struct control_req *req, int status, const char *error,
                         const char *detail_fmt, ...) __attribute__((format(printf, 4, 5)));

/* A streamed reply: more(state, out) appends the next part to out and
 * returns 1 while there is more, 0 at the end, or a negative errno (the
 * stream is cut). It is called again only after the previous part reached
 * the socket, so memory stays bounded by one part. free_state is called
 * once in every case, also when the client goes away. */
typedef int (*control_more_fn)(void *state, struct strbuf *out);
void control_reply_stream(struct control_req *req, const char *content_type, control_more_fn more,
                          void *state, void (*free_state)(void *));

/* A reply streamed from a file descriptor (a pipe fed by another thread):
 * control reads fd when it is readable and sends what it reads, one part
 * at a time, each after the previous one reached the socket. At end of
 * file it asks eof_ok(state): true ends the reply normally, false cuts it
 * (the client sees an incomplete chunked body). control closes fd and
 * calls free_state(state) once in every case, also when the client goes
 * away first (the writer then gets EPIPE). fd is made non-blocking. */
void control_reply_fd(struct control_req *req, const char *content_type, int fd,
                      bool (*eof_ok)(void *state), void (*free_state)(void *), void *state);

/* ---- answers made later ---------------------------------------------- */

struct control_later;

/* Keep req open after the handler returns, for an answer made elsewhere
 * (a query thread) and sent later from the loop with control_later_reply().
 * Parameters and arguments die with the handler: copy what the answer
 * needs before returning. gone(arg), when not NULL, is called on the loop
 * at most once if the connection ends before the answer; the handle stays
 * the caller's all the same. Loop thread only. */
struct control_later *control_req_later(struct control_req *req, void (*gone)(void *arg),
                                        void *arg);

/* Send the answer kept by l: status, a Retry-After of retry_after_s
 * seconds when positive, and body, len bytes of JSON (copied; NULL sends
 * a 500). When the client has gone, nothing is sent. Frees l. Loop thread
 * only, and before control_free(). */
void control_later_reply(struct control_later *l, int status, long retry_after_s, const char *body,
                         size_t len);

#endif
