/*
 * control: provd's control socket. It owns the listening UNIX socket (or
 * the one systemd passed), the evhttp server and one struct control_conn
 * per connection; it never touches the catalog or the harvest engine,
 * which the route handlers reach through their data pointer.
 *
 * libevent 2.1's evhttp has no connection cap, no absolute deadline and
 * no per-connection hook, so every connection's bufferevent is created
 * here (evhttp_set_bevcb) with an extra reference: the connection stays
 * known (counted against the cap, timed by its deadline) until a sweep,
 * which runs only while connections exist, sees that evhttp let go of it.
 * Peer credentials are checked when the first request arrives.
 */
#include "control.h"

#include "strbuf.h"
#include "text.h"
#include "xmalloc.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
/* keyvalq_struct.h needs TAILQ from sys/queue.h first */
#include <event2/keyvalq_struct.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define CONTROL_MAX_PARAMS 64
#define CONTROL_MAX_ARGS   4
#define CONTROL_SWEEP_MS   200
/* After a failed accept() (EMFILE, ENFILE, ENOBUFS) the listener rests
 * this long: the connection stays in the backlog and the socket stays
 * readable, so retrying at once would spin the loop (RELIABILITY S7). */
#define CONTROL_ACCEPT_PAUSE_MS 100

struct control_conn {
    struct control *ctl;
    struct bufferevent *bev; /* evhttp's, plus one reference of ours */
    struct event *deadline;
    struct control_conn *next;
    bool checked;                  /* peer credentials looked at */
    bool denied;                   /* peer not allowed: every request gets 403 */
    bool over_cap;                 /* accepted beyond max_connections: 503 */
    bool expired;                  /* past its deadline: replies close it */
    unsigned grace_ticks;          /* sweeps waited for a reply to go out */
    struct control_stream *stream; /* a reply stream in progress, or NULL */
};

struct control {
    struct event_base *base;
    struct evhttp *http;
    struct evhttp_bound_socket *bound;
    struct control_options opts;
    const struct control_route *routes;
    void *data;
    char *created_path; /* socket file we made, unlinked at the end */
    struct control_conn *conns;
    unsigned n_conns;
    struct event *sweep;
};

struct control_req {
    struct control *ctl;
    struct evhttp_request *req;
    struct control_conn *conn;
    char *args[CONTROL_MAX_ARGS];
    unsigned n_args;
    struct evkeyvalq params;
    bool answered;
};

struct control_stream {
    struct control_conn *conn; /* NULL once the connection is gone */
    struct evhttp_request *req;
    control_more_fn more;        /* a generated stream, or */
    int fd;                      /* a stream read from fd (-1 when none) */
    struct event *readable;      /* fd streams: waits for data */
    bool (*eof_ok)(void *state); /* fd streams: end normally? */
    void *state;
    void (*free_state)(void *);
    struct strbuf buf;
};

/* ---- connections ---------------------------------------------------- */

static struct control_conn *control_conn_find(struct control *c, struct bufferevent *bev)
{
    for (struct control_conn *cc = c->conns; cc; cc = cc->next)
        if (cc->bev == bev)
            return cc;
    return NULL;
}

static bool control_gid_allowed(const struct control *c, gid_t gid)
{
    if (gid == getgid())
        return true;
    for (size_t i = 0; i < c->opts.n_allow_gids; i++)
        if (gid == c->opts.allow_gids[i])
            return true;
    return false;
}

/* The peer may talk to us when it is root, our own user, a listed user, or
 * in our group or a listed group (primary or supplementary: a member of
 * the socket's group passes the file permissions, so it passes here too). */
static bool control_peer_allowed(const struct control *c, int fd)
{
    struct ucred cred;
    socklen_t len = sizeof(cred);
    gid_t groups[256];

    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
        return false;
    if (cred.uid == 0 || cred.uid == getuid())
        return true;
    for (size_t i = 0; i < c->opts.n_allow_uids; i++)
        if (cred.uid == c->opts.allow_uids[i])
            return true;
    if (control_gid_allowed(c, cred.gid))
        return true;
    len = sizeof(groups);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) == 0) {
        for (size_t i = 0; i < len / sizeof(groups[0]); i++)
            if (control_gid_allowed(c, groups[i]))
                return true;
    }
    return false;
}

/* True while evhttp still holds the connection: it always keeps an event
 * callback on a bufferevent it uses, and bufferevent_free() clears it. */
static bool control_conn_in_use(const struct control_conn *cc)
{
    bufferevent_event_cb ecb = NULL;

    bufferevent_getcb(cc->bev, NULL, NULL, &ecb, NULL);
    return ecb != NULL;
}

static void control_conn_release(struct control *c, struct control_conn *cc)
{
    for (struct control_conn **pp = &c->conns; *pp; pp = &(*pp)->next) {
        if (*pp == cc) {
            *pp = cc->next;
            break;
        }
    }
    c->n_conns--;
    if (cc->stream)
        cc->stream->conn = NULL;
    event_free(cc->deadline);
    /* Our reference is the last one: this closes the socket. */
    bufferevent_decref(cc->bev);
    free(cc);
}

/* Release the connections evhttp is done with. It runs before each new
 * connection is counted, and every CONTROL_SWEEP_MS while connections
 * exist (never when idle) so their sockets close promptly. */
static void control_release_unused(struct control *c)
{
    struct control_conn *cc, *next;

    for (cc = c->conns; cc; cc = next) {
        next = cc->next;
        if (!control_conn_in_use(cc))
            control_conn_release(c, cc);
    }
}

static void control_sweep(evutil_socket_t fd, short what, void *arg)
{
    struct control *c = arg;
    struct timeval tv = {0, CONTROL_SWEEP_MS * 1000};

    control_release_unused(c);
    if (c->conns)
        evtimer_add(c->sweep, &tv);
}

static void control_conn_deadline(evutil_socket_t fd, short what, void *arg)
{
    struct control_conn *cc = arg;

    if (cc->stream) {
        /* A client reading a long export is bounded by evhttp's idle
         * timeout instead; look again later. */
        struct timeval tv = {cc->ctl->opts.deadline_ms / 1000,
                             (cc->ctl->opts.deadline_ms % 1000) * 1000};
        evtimer_add(cc->deadline, &tv);
        return;
    }
    /* A reply still on its way out is not cut, or a keep-alive client
     * would read a response cut short: it gets at most one more deadline
     * to take it, and any later reply closes the connection. What the
     * deadline is for, a request that never ends, sits in the input. */
    if (control_conn_in_use(cc) && evbuffer_get_length(bufferevent_get_output(cc->bev)) > 0 &&
        cc->grace_ticks++ < cc->ctl->opts.deadline_ms / CONTROL_SWEEP_MS) {
        struct timeval tv = {0, CONTROL_SWEEP_MS * 1000};

        cc->expired = true;
        evtimer_add(cc->deadline, &tv);
        return;
    }
    /* evhttp frees an incoming connection on an EOF event; the sweep then
     * drops our reference. */
    if (control_conn_in_use(cc))
        bufferevent_trigger_event(cc->bev, BEV_EVENT_EOF | BEV_EVENT_READING, 0);
}

/* evhttp asks for the bufferevent of each new connection: it is created
 * here with one extra reference, so that the connection stays known until
 * the sweep sees evhttp release it. */
static struct bufferevent *control_bevcb(struct event_base *base, void *arg)
{
    struct control *c = arg;
    struct control_conn *cc;
    struct bufferevent *bev;
    struct timeval tv;
    unsigned ms;

    bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
    if (bev == NULL)
        return NULL;
    bufferevent_incref(bev);
    /* Count only the connections evhttp still holds. */
    control_release_unused(c);
    cc = xcalloc(1, sizeof(*cc));
    cc->ctl = c;
    cc->bev = bev;
    cc->over_cap = c->n_conns >= c->opts.max_connections;
    cc->next = c->conns;
    c->conns = cc;
    c->n_conns++;
    ms = cc->over_cap ? 1000 : c->opts.deadline_ms;
    cc->deadline = evtimer_new(base, control_conn_deadline, cc);
    tv.tv_sec = ms / 1000;
    tv.tv_usec = (ms % 1000) * 1000;
    evtimer_add(cc->deadline, &tv);
    if (!evtimer_pending(c->sweep, NULL)) {
        struct timeval sw = {0, CONTROL_SWEEP_MS * 1000};
        evtimer_add(c->sweep, &sw);
    }
    return bev;
}

/* ---- replies -------------------------------------------------------- */

static void control_send(struct control_req *creq, int status, const char *reason,
                         const char *ctype, const char *body, size_t len)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(creq->req);
    struct evbuffer *out = evbuffer_new();

    evhttp_add_header(h, "Content-Type", ctype);
    evhttp_add_header(h, "Cache-Control", "no-store");
    if ((status == 503 || status == 429) && evhttp_find_header(h, "Retry-After") == NULL)
        evhttp_add_header(h, "Retry-After", "1");
    if (creq->conn && (creq->conn->over_cap || creq->conn->denied || creq->conn->expired))
        evhttp_add_header(h, "Connection", "close");
    evbuffer_add(out, body, len);
    evbuffer_add(out, "\n", 1);
    evhttp_send_reply(creq->req, status, reason, out);
    evbuffer_free(out);
    creq->answered = true;
}

static const char *control_reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 202:
        return "Accepted";
    case 400:
        return "Bad Request";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 409:
        return "Conflict";
    case 413:
        return "Payload Too Large";
    case 429:
        return "Too Many Requests";
    case 500:
        return "Internal Server Error";
    case 503:
        return "Service Unavailable";
    case 507:
        return "Insufficient Storage";
    default:
        return "Status";
    }
}

void control_reply_json(struct control_req *creq, int status, json_t *o)
{
    char *s = json_dumps(o, JSON_COMPACT);

    json_decref(o);
    if (s == NULL) {
        static const char fail[] = "{\"error\":\"internal\",\"detail\":\"cannot encode JSON\"}";
        control_send(creq, 500, control_reason(500), "application/json", fail, sizeof(fail) - 1);
        return;
    }
    control_send(creq, status, control_reason(status), "application/json", s, strlen(s));
    free(s);
}

void control_reply_error(struct control_req *creq, int status, const char *error,
                         const char *detail_fmt, ...)
{
    char detail[512];
    va_list ap;
    char *clean;
    json_t *o;

    va_start(ap, detail_fmt);
    vsnprintf(detail, sizeof(detail), detail_fmt, ap);
    va_end(ap);
    clean = text_utf8_sanitize(detail, strlen(detail));
    o = json_pack("{s:s, s:s}", "error", error, "detail", clean);
    free(clean);
    control_reply_json(creq, status, o);
}

/* ---- answers made later --------------------------------------------- */

struct control_later {
    struct control *ctl;
    struct evhttp_request *req; /* NULL once evhttp has freed it */
    void (*gone)(void *arg);
    void *arg;
};

static void control_later_closed(struct evhttp_connection *evcon, void *arg)
{
    struct control_later *l = arg;
    void (*gone)(void *) = l->gone;

    /* A request still on the connection is freed by evhttp right after
     * this call (control_free()); one it detached first, because the
     * client went away or the deadline passed, is left to us, and
     * answering it frees it. */
    if (l->req && evhttp_request_get_connection(l->req) != NULL)
        l->req = NULL;
    l->gone = NULL;
    if (gone)
        gone(l->arg);
}

struct control_later *control_req_later(struct control_req *creq, void (*gone)(void *arg),
                                        void *arg)
{
    struct control_later *l = xcalloc(1, sizeof(*l));
    struct evhttp_connection *evcon = evhttp_request_get_connection(creq->req);

    l->ctl = creq->ctl;
    l->req = creq->req;
    l->gone = gone;
    l->arg = arg;
    if (evcon)
        evhttp_connection_set_closecb(evcon, control_later_closed, l);
    creq->answered = true;
    return l;
}

void control_later_reply(struct control_later *l, int status, long retry_after_s, const char *body,
                         size_t len)
{
    static const char fail[] = "{\"error\":\"internal\",\"detail\":\"cannot encode JSON\"}";
    struct control_req creq = {.ctl = l->ctl, .req = l->req};
    struct evhttp_connection *evcon;

    if (l->req == NULL) {
        free(l);
        return;
    }
    TAILQ_INIT(&creq.params);
    evcon = evhttp_request_get_connection(l->req);
    if (evcon) {
        evhttp_connection_set_closecb(evcon, NULL, NULL);
        creq.conn = control_conn_find(l->ctl, evhttp_connection_get_bufferevent(evcon));
    }
    /* Without a connection evhttp_send_reply() only frees the request. */
    if (retry_after_s > 0)
        control_req_retry_after(&creq, retry_after_s);
    if (body)
        control_send(&creq, status, control_reason(status), "application/json", body, len);
    else
        control_send(&creq, 500, control_reason(500), "application/json", fail, sizeof(fail) - 1);
    free(l);
}

/* ---- streams -------------------------------------------------------- */

static void control_stream_end(struct control_stream *st)
{
    if (st->readable)
        event_free(st->readable);
    if (st->fd >= 0)
        close(st->fd);
    if (st->free_state)
        st->free_state(st->state);
    strbuf_release(&st->buf);
    if (st->conn)
        st->conn->stream = NULL;
    free(st);
}

static void control_stream_cut(struct control_stream *st);

static void control_stream_closed(struct evhttp_connection *evcon, void *arg)
{
    struct control_stream *st = arg;

    /* The connection is being freed: no chunk callback will come. evhttp
     * has detached the unfinished request from it and leaves it to us;
     * ending the reply on a detached request frees it. */
    evhttp_send_reply_end(st->req);
    control_stream_end(st);
}

static void control_stream_pump(struct evhttp_connection *evcon, void *arg)
{
    struct control_stream *st = arg;
    struct evbuffer *out;
    int rc;

    strbuf_reset(&st->buf);
    rc = st->more(st->state, &st->buf);
    out = evbuffer_new();
    evbuffer_add(out, strbuf_str(&st->buf), st->buf.len);
    if (rc > 0) {
        evhttp_send_reply_chunk_with_cb(st->req, out, control_stream_pump, st);
        evbuffer_free(out);
        return;
    }
    if (st->buf.len)
        evhttp_send_reply_chunk(st->req, out);
    evbuffer_free(out);
    if (rc < 0) {
        control_stream_cut(st);
        return;
    }
    evhttp_connection_set_closecb(evhttp_request_get_connection(st->req), NULL, NULL);
    evhttp_send_reply_end(st->req);
    control_stream_end(st);
}

/* Cut a stream: the client sees a chunked body without its last chunk,
 * never a short answer that looks complete. The connection's close
 * callback ends the stream. */
static void control_stream_cut(struct control_stream *st)
{
    if (st->conn) {
        bufferevent_trigger_event(st->conn->bev, BEV_EVENT_ERROR | BEV_EVENT_WRITING, 0);
        return;
    }
    evhttp_send_reply_end(st->req);
    control_stream_end(st);
}

static void control_fd_flushed(struct evhttp_connection *evcon, void *arg)
{
    struct control_stream *st = arg;

    event_add(st->readable, NULL);
}

static void control_fd_readable(evutil_socket_t fd, short what, void *arg)
{
    struct control_stream *st = arg;
    char buf[65536];
    struct evbuffer *out;
    ssize_t n = read(fd, buf, sizeof(buf));

    if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        event_add(st->readable, NULL);
        return;
    }
    if (n > 0) {
        out = evbuffer_new();
        evbuffer_add(out, buf, (size_t)n);
        evhttp_send_reply_chunk_with_cb(st->req, out, control_fd_flushed, st);
        evbuffer_free(out);
        return;
    }
    if (n < 0 || !st->eof_ok(st->state)) {
        control_stream_cut(st);
        return;
    }
    evhttp_connection_set_closecb(evhttp_request_get_connection(st->req), NULL, NULL);
    evhttp_send_reply_end(st->req);
    control_stream_end(st);
}

static struct control_stream *control_stream_begin(struct control_req *creq,
                                                   const char *content_type, void *state,
                                                   void (*free_state)(void *))
{
    struct control_stream *st = xcalloc(1, sizeof(*st));
    struct evkeyvalq *h = evhttp_request_get_output_headers(creq->req);

    st->conn = creq->conn;
    st->req = creq->req;
    st->fd = -1;
    st->state = state;
    st->free_state = free_state;
    if (creq->conn)
        creq->conn->stream = st;
    evhttp_add_header(h, "Content-Type", content_type);
    evhttp_add_header(h, "Cache-Control", "no-store");
    evhttp_connection_set_closecb(evhttp_request_get_connection(creq->req), control_stream_closed,
                                  st);
    evhttp_send_reply_start(creq->req, 200, "OK");
    creq->answered = true;
    return st;
}

void control_reply_fd(struct control_req *creq, const char *content_type, int fd,
                      bool (*eof_ok)(void *state), void (*free_state)(void *), void *state)
{
    struct control_stream *st = control_stream_begin(creq, content_type, state, free_state);

    evutil_make_socket_nonblocking(fd);
    st->fd = fd;
    st->eof_ok = eof_ok;
    st->readable = event_new(creq->ctl->base, fd, EV_READ, control_fd_readable, st);
    event_add(st->readable, NULL);
}

void control_reply_stream(struct control_req *creq, const char *content_type, control_more_fn more,
                          void *state, void (*free_state)(void *))
{
    struct control_stream *st = control_stream_begin(creq, content_type, state, free_state);

    st->more = more;
    control_stream_pump(evhttp_request_get_connection(creq->req), st);
}

/* ---- requests ------------------------------------------------------- */

/* URL-decode s into a new string; NULL when it is not valid UTF-8 or
 * holds a NUL. */
static char *control_decode(const char *s)
{
    size_t len = 0;
    char *d = evhttp_uridecode(s, 1, &len);

    if (d == NULL)
        return NULL;
    if (len != strlen(d) || !text_utf8_valid(d, len)) {
        free(d);
        return NULL;
    }
    return d;
}

static bool control_match(const char *pattern, const char *path, struct control_req *creq)
{
    const char *p = pattern, *s = path;

    creq->n_args = 0;
    while (*p && *s) {
        if (p[0] == '{' && p[1] == '}') {
            const char *end = strchr(s, '/');
            size_t n = end ? (size_t)(end - s) : strlen(s);
            char *raw;

            if (n == 0 || creq->n_args == CONTROL_MAX_ARGS)
                return false;
            raw = xstrndup(s, n);
            creq->args[creq->n_args] = control_decode(raw);
            free(raw);
            if (creq->args[creq->n_args] == NULL)
                return false;
            creq->n_args++;
            p += 2;
            s += n;
            continue;
        }
        if (*p != *s)
            return false;
        p++;
        s++;
    }
    return *p == '\0' && *s == '\0';
}

static void control_req_reset_args(struct control_req *creq)
{
    for (unsigned i = 0; i < creq->n_args; i++)
        free(creq->args[i]);
    creq->n_args = 0;
}

/* Parse the query string and a form body into creq->params; -1 on a
 * malformed or oversized set. */
static int control_parse_params(struct control_req *creq, const struct evhttp_uri *uri)
{
    const char *q = evhttp_uri_get_query(uri);
    struct evbuffer *body = evhttp_request_get_input_buffer(creq->req);
    const char *ctype =
        evhttp_find_header(evhttp_request_get_input_headers(creq->req), "Content-Type");
    struct evkeyvalq more;
    struct evkeyval *kv;
    size_t n = 0;

    TAILQ_INIT(&creq->params);
    /* evhttp decodes %00 into a string that silently ends early. */
    if (q && (strstr(q, "%00") || evhttp_parse_query_str(q, &creq->params) < 0))
        return -1;
    if (evbuffer_get_length(body) > 0) {
        size_t len = evbuffer_get_length(body);
        char *form;
        int rc;

        if (ctype && strncmp(ctype, "application/x-www-form-urlencoded", 33) != 0)
            return -1;
        form = xmalloc(len + 1);
        evbuffer_copyout(body, form, len);
        form[len] = '\0';
        TAILQ_INIT(&more);
        rc = strlen(form) == len && !strstr(form, "%00") ? evhttp_parse_query_str(form, &more) : -1;
        free(form);
        if (rc < 0) {
            evhttp_clear_headers(&more);
            return -1;
        }
        while ((kv = TAILQ_FIRST(&more)) != NULL) {
            TAILQ_REMOVE(&more, kv, next);
            TAILQ_INSERT_TAIL(&creq->params, kv, next);
        }
    }
    TAILQ_FOREACH(kv, &creq->params, next)
    {
        if (++n > CONTROL_MAX_PARAMS)
            return -1;
        if (!text_utf8_valid(kv->key, strlen(kv->key)) ||
            !text_utf8_valid(kv->value, strlen(kv->value)))
            return -1;
    }
    return 0;
}

void control_req_retry_after(struct control_req *creq, long seconds)
{
    char v[32];

    snprintf(v, sizeof(v), "%ld", seconds > 0 ? seconds : 1);
    evhttp_add_header(evhttp_request_get_output_headers(creq->req), "Retry-After", v);
}

const char *control_req_arg(struct control_req *creq, unsigned i)
{
    return i < creq->n_args ? creq->args[i] : NULL;
}

const char *control_req_param(struct control_req *creq, const char *name)
{
    return evhttp_find_header(&creq->params, name);
}

int control_req_check_params(struct control_req *creq, const char *const *allowed)
{
    struct evkeyval *kv, *kv2;

    TAILQ_FOREACH(kv, &creq->params, next)
    {
        bool ok = false;

        for (size_t i = 0; allowed[i]; i++)
            if (strcmp(allowed[i], kv->key) == 0)
                ok = true;
        if (!ok) {
            control_reply_error(creq, 400, "bad_parameter", "unknown parameter '%.64s'", kv->key);
            return -EINVAL;
        }
        for (kv2 = TAILQ_NEXT(kv, next); kv2; kv2 = TAILQ_NEXT(kv2, next)) {
            if (strcmp(kv->key, kv2->key) == 0) {
                control_reply_error(creq, 400, "bad_parameter", "parameter '%.64s' is repeated",
                                    kv->key);
                return -EINVAL;
            }
        }
    }
    return 0;
}

static void control_dispatch(struct evhttp_request *req, void *arg)
{
    struct control *c = arg;
    struct control_req creq = {.ctl = c, .req = req};
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *method, *path;
    bool path_known = false;
    char *decoded_path;

    TAILQ_INIT(&creq.params);
    creq.conn = evcon ? control_conn_find(c, evhttp_connection_get_bufferevent(evcon)) : NULL;
    if (creq.conn && creq.conn->over_cap) {
        control_reply_error(&creq, 503, "busy", "too many connections (at most %u)",
                            c->opts.max_connections);
        return;
    }
    if (creq.conn && !creq.conn->checked) {
        creq.conn->checked = true;
        creq.conn->denied = !control_peer_allowed(c, bufferevent_getfd(creq.conn->bev));
    }
    if (creq.conn && creq.conn->denied) {
        control_reply_error(&creq, 403, "forbidden", "peer is not allowed to use this socket");
        return;
    }
    switch (evhttp_request_get_command(req)) {
    case EVHTTP_REQ_GET:
    case EVHTTP_REQ_HEAD:
        method = "GET";
        break;
    case EVHTTP_REQ_POST:
        method = "POST";
        break;
    default:
        control_reply_error(&creq, 405, "method_not_allowed", "use GET or POST");
        return;
    }
    path = uri ? evhttp_uri_get_path(uri) : NULL;
    decoded_path = path ? xstrdup(path) : NULL;
    if (decoded_path == NULL || control_parse_params(&creq, uri) < 0) {
        control_reply_error(&creq, 400, "bad_request",
                            "malformed path or parameters (UTF-8 without NUL, at most %d "
                            "parameters, form-encoded body)",
                            CONTROL_MAX_PARAMS);
        goto out;
    }
    for (const struct control_route *r = c->routes; r->method; r++) {
        if (!control_match(r->pattern, decoded_path, &creq)) {
            control_req_reset_args(&creq);
            continue;
        }
        path_known = true;
        if (strcmp(r->method, method) != 0) {
            control_req_reset_args(&creq);
            continue;
        }
        r->fn(&creq, c->data);
        if (!creq.answered)
            control_reply_error(&creq, 500, "internal", "handler gave no answer");
        goto out;
    }
    if (path_known)
        control_reply_error(&creq, 405, "method_not_allowed", "%s is not allowed on %.200s", method,
                            decoded_path);
    else
        control_reply_error(&creq, 404, "not_found", "no endpoint %.200s", decoded_path);
out:
    control_req_reset_args(&creq);
    evhttp_clear_headers(&creq.params);
    free(decoded_path);
}

/* ---- the socket ----------------------------------------------------- */

static void control_accept_enable(struct evhttp_bound_socket *bound, void *arg)
{
    evconnlistener_enable(evhttp_bound_socket_get_listener(bound));
}

static void control_accept_resume(evutil_socket_t fd, short what, void *arg)
{
    /* Listeners removed meanwhile (control_stop_accepting) are no longer
     * bound, so only live ones come back. */
    evhttp_foreach_bound_socket(arg, control_accept_enable, NULL);
}

/* accept() failed for a reason that retrying at once cannot cure (out of
 * file descriptors): stop listening for a moment instead of spinning,
 * while the deadlines and the sweep give descriptors back. libevent hands
 * this callback the evhttp (the listener's own argument), not our struct;
 * the one-shot timer lives on the base, so control_free() must not be
 * followed by more turns of the loop on the same base within
 * CONTROL_ACCEPT_PAUSE_MS of such an error (provd frees it after the loop
 * has ended). */
static void control_accept_error(struct evconnlistener *lev, void *http)
{
    struct timeval tv = {0, CONTROL_ACCEPT_PAUSE_MS * 1000};

    evconnlistener_disable(lev);
    event_base_once(evconnlistener_get_base(lev), -1, EV_TIMEOUT, control_accept_resume, http, &tv);
}

static int control_listen(const char *path, mode_t mode, char **created, char *err, size_t errlen)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    char *dir = xstrdup(path), *slash;
    struct stat st;
    mode_t old;
    int fd = -1;

    if (strlen(path) >= sizeof(sa.sun_path)) {
        snprintf(err, errlen, "socket path %s is too long (at most %zu bytes)", path,
                 sizeof(sa.sun_path) - 1);
        goto fail;
    }
    memcpy(sa.sun_path, path, strlen(path) + 1);
    slash = strrchr(dir, '/');
    if (slash)
        *(slash == dir ? slash + 1 : slash) = '\0';
    else
        strcpy(dir, ".");
    if (stat(dir, &st) < 0) {
        snprintf(err, errlen, "socket directory %s: %s", dir, strerror(errno));
        goto fail;
    }
    if ((st.st_mode & S_IWOTH) && !(st.st_mode & S_ISVTX)) {
        snprintf(err, errlen, "socket directory %s is writable by others; refusing to use it", dir);
        goto fail;
    }
    if (lstat(path, &st) == 0) {
        int probe;

        if (!S_ISSOCK(st.st_mode)) {
            snprintf(err, errlen, "%s exists and is not a socket", path);
            goto fail;
        }
        probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (probe >= 0 && connect(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
            close(probe);
            snprintf(err, errlen, "another process is listening on %s", path);
            goto fail;
        }
        if (probe >= 0)
            close(probe);
        if (unlink(path) < 0) {
            snprintf(err, errlen, "cannot remove stale socket %s: %s", path, strerror(errno));
            goto fail;
        }
    }
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        goto fail;
    }
    /* The file is never visible with wider permissions than mode. */
    old = umask(~mode & 0777);
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        umask(old);
        snprintf(err, errlen, "bind %s: %s", path, strerror(errno));
        goto fail;
    }
    umask(old);
    *created = xstrdup(path);
    if (chmod(path, mode) < 0 || listen(fd, 128) < 0) {
        snprintf(err, errlen, "listen on %s: %s", path, strerror(errno));
        goto fail;
    }
    free(dir);
    return fd;
fail:
    if (fd >= 0)
        close(fd);
    free(dir);
    return -1;
}

struct control *control_new(struct event_base *base, const struct control_options *opts,
                            const struct control_route *routes, void *data, char *err,
                            size_t errlen)
{
    struct control *c = xcalloc(1, sizeof(*c));
    int fd = opts->listen_fd;

    c->base = base;
    c->opts = *opts;
    c->routes = routes;
    c->data = data;
    if (fd < 0) {
        fd = control_listen(opts->path, opts->mode, &c->created_path, err, errlen);
        if (fd < 0)
            goto fail;
    } else {
        evutil_make_socket_nonblocking(fd);
    }
    c->sweep = evtimer_new(base, control_sweep, c);
    c->http = evhttp_new(base);
    evhttp_set_max_headers_size(c->http, (ev_ssize_t)opts->max_headers);
    evhttp_set_max_body_size(c->http, (ev_ssize_t)opts->max_body);
    evhttp_set_timeout(c->http, (int)((opts->deadline_ms + 999) / 1000));
    /* Every standard method reaches control_dispatch, which answers 405
     * in JSON for all but GET, HEAD and POST (evhttp itself would say 501). */
    evhttp_set_allowed_methods(c->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                                            EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
                                            EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE |
                                            EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH);
    evhttp_set_default_content_type(c->http, "application/json");
    evhttp_set_bevcb(c->http, control_bevcb, c);
    evhttp_set_gencb(c->http, control_dispatch, c);
    c->bound = evhttp_accept_socket_with_handle(c->http, fd);
    if (c->bound == NULL) {
        snprintf(err, errlen, "cannot accept on the control socket");
        close(fd);
        goto fail;
    }
    evconnlistener_set_error_cb(evhttp_bound_socket_get_listener(c->bound), control_accept_error);
    return c;
fail:
    control_free(c);
    return NULL;
}

void control_stop_accepting(struct control *c)
{
    if (c && c->bound) {
        evhttp_del_accept_socket(c->http, c->bound);
        c->bound = NULL;
    }
}

void control_free(struct control *c)
{
    if (c == NULL)
        return;
    if (c->http)
        evhttp_free(c->http);
    while (c->conns)
        control_conn_release(c, c->conns);
    if (c->sweep)
        event_free(c->sweep);
    if (c->created_path) {
        unlink(c->created_path);
        free(c->created_path);
    }
    free(c);
}

unsigned control_connections(const struct control *c)
{
    return c->n_conns;
}
