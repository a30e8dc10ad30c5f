/*
 * daemon_http: the tests' HTTP/1.1 client on provd's UNIX socket. It owns
 * nothing beyond the connection it opens for a one-shot request and the
 * reply buffers it hands out; a reply is read with poll() against one
 * absolute deadline, so no test can hang on a silent daemon. It never
 * touches the daemon's files.
 */
#include "daemon_http.h"

#include "strbuf.h"
#include "xmalloc.h"

#include <ctype.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* Headers larger than this are not a reply we want. */
#define DAEMON_HTTP_MAX_HEADERS (256 * 1024)

double daemon_http_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

int daemon_http_connect(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int fd, err;

    if (strlen(path) >= sizeof(sa.sun_path))
        return -ENAMETOOLONG;
    memcpy(sa.sun_path, path, strlen(path) + 1);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        err = -errno;
        close(fd);
        return err;
    }
    return fd;
}

int daemon_http_send(int fd, const void *data, size_t len)
{
    const char *p = data;

    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

void daemon_http_reply_clear(struct daemon_http_reply *r)
{
    free(r->headers);
    free(r->body);
    memset(r, 0, sizeof(*r));
}

/* Read more bytes into in before the deadline: >0 bytes read, 0 at EOF,
 * -ETIMEDOUT or -errno. */
static ssize_t daemon_http_fill(int fd, struct strbuf *in, double deadline)
{
    char buf[65536];

    for (;;) {
        double left = deadline - daemon_http_now_ms();
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        ssize_t n;
        int rc;

        if (left <= 0)
            return -ETIMEDOUT;
        rc = poll(&pfd, 1, (int)left + 1);
        if (rc < 0 && errno == EINTR)
            continue;
        if (rc < 0)
            return -errno;
        if (rc == 0)
            continue;
        n = recv(fd, buf, sizeof(buf), 0);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n < 0)
            return errno == ECONNRESET ? 0 : -errno;
        if (n > 0)
            strbuf_add(in, buf, (size_t)n);
        return n;
    }
}

/* The first CRLF in the n bytes at p, or NULL. */
static const char *daemon_http_crlf(const char *p, size_t n)
{
    for (size_t i = 0; i + 1 < n; i++)
        if (p[i] == '\r' && p[i + 1] == '\n')
            return p + i;
    return NULL;
}

/* Decode as much of a chunked body in in[*pos..] as is there into out.
 * Returns 1 when the last chunk was seen, 0 when more bytes are needed,
 * -EPROTO on a bad chunk line. */
static int daemon_http_chunks(const struct strbuf *in, size_t *pos, struct strbuf *out)
{
    for (;;) {
        const char *p, *eol;
        size_t avail;
        unsigned long size;
        char *end;

        if (in->s == NULL || *pos >= in->len)
            return 0;
        p = in->s + *pos;
        avail = in->len - *pos;
        eol = daemon_http_crlf(p, avail);
        if (eol == NULL)
            return 0;
        size = strtoul(p, &end, 16);
        if (end == p || (*end != '\r' && *end != ';'))
            return -EPROTO;
        if (size == 0) {
            /* Trailers end with an empty line. */
            const char *fin = memmem(eol, avail - (size_t)(eol - p), "\r\n\r\n", 4);

            if (fin == NULL)
                return 0;
            *pos += (size_t)(fin + 4 - p);
            return 1;
        }
        if (avail - (size_t)(eol + 2 - p) < size + 2)
            return 0;
        strbuf_add(out, eol + 2, size);
        *pos += (size_t)(eol + 2 - p) + size + 2;
    }
}

int daemon_http_read(int fd, bool head, int timeout_ms, struct daemon_http_reply *r)
{
    double t0 = daemon_http_now_ms(), deadline = t0 + timeout_ms;
    struct strbuf in = STRBUF_INIT, body = STRBUF_INIT;
    size_t hlen = 0, pos = 0;
    long long clen = -1;
    bool chunked = false;
    const char *end;
    char val[64];
    ssize_t n;
    int rc = 0;

    memset(r, 0, sizeof(*r));
    /* The header block. */
    for (;;) {
        end = in.len ? memmem(in.s, in.len, "\r\n\r\n", 4) : NULL;
        if (end) {
            hlen = (size_t)(end - in.s) + 4;
            break;
        }
        if (in.len > DAEMON_HTTP_MAX_HEADERS) {
            rc = -EPROTO;
            goto out;
        }
        n = daemon_http_fill(fd, &in, deadline);
        if (n == 0) {
            r->closed = true;
            rc = -ECONNRESET;
            goto out;
        }
        if (n < 0) {
            r->timed_out = n == -ETIMEDOUT;
            rc = (int)n;
            goto out;
        }
    }
    r->headers = xstrndup(in.s, hlen);
    if (sscanf(r->headers, "HTTP/1.%*d %d", &r->status) != 1) {
        r->status = 0;
        rc = -EPROTO;
        goto out;
    }
    if (daemon_http_header(r, "Content-Length", val, sizeof(val)))
        clen = strtoll(val, NULL, 10);
    if (daemon_http_header(r, "Transfer-Encoding", val, sizeof(val)) && strcasestr(val, "chunked"))
        chunked = true;
    pos = hlen;
    if (head || r->status == 204 || r->status == 304 || (r->status >= 100 && r->status < 200)) {
        r->complete = true;
        goto out;
    }
    for (;;) {
        if (chunked) {
            int c = daemon_http_chunks(&in, &pos, &body);

            if (c < 0) {
                rc = c;
                goto out;
            }
            if (c == 1) {
                r->complete = true;
                goto out;
            }
        } else if (clen >= 0 && in.len - hlen >= (size_t)clen) {
            strbuf_add(&body, in.s + hlen, (size_t)clen);
            r->complete = true;
            goto out;
        }
        n = daemon_http_fill(fd, &in, deadline);
        if (n == 0) {
            r->closed = true;
            if (!chunked && clen < 0) {
                /* Delimited by the close. */
                strbuf_add(&body, in.s + hlen, in.len - hlen);
                r->complete = true;
                goto out;
            }
            if (!chunked)
                strbuf_add(&body, in.s + hlen, in.len - hlen);
            rc = -ECONNRESET;
            goto out;
        }
        if (n < 0) {
            r->timed_out = n == -ETIMEDOUT;
            rc = (int)n;
            goto out;
        }
    }
out:
    /* See whether the server closed after the reply: at once, or, when
     * the reply said "Connection: close", within a second (the server
     * closes once the reply is written, a loop turn later, and later still
     * on a busy machine). */
    if (rc == 0 && !r->closed) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int wait_ms = r->headers && strcasestr(r->headers, "connection: close") ? 1000 : 0;
        char c;

        if (poll(&pfd, 1, wait_ms) == 1 && recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) == 0)
            r->closed = true;
    }
    r->body_len = body.len;
    r->body = strbuf_steal(&body);
    strbuf_release(&in);
    r->ms = daemon_http_now_ms() - t0;
    return rc;
}

int daemon_http_raw(const char *path, const void *req, size_t len, int timeout_ms,
                    struct daemon_http_reply *r)
{
    int fd = daemon_http_connect(path), rc, send_rc;
    double t0 = daemon_http_now_ms();

    memset(r, 0, sizeof(*r));
    if (fd < 0)
        return fd;
    send_rc = daemon_http_send(fd, req, len);
    /* Even when the send failed part-way the daemon may have answered. */
    rc = daemon_http_read(fd, len >= 5 && memcmp(req, "HEAD ", 5) == 0, timeout_ms, r);
    if (rc < 0 && r->status == 0 && send_rc < 0)
        rc = send_rc;
    r->ms = daemon_http_now_ms() - t0;
    close(fd);
    return rc;
}

int daemon_http_request(const char *path, const char *method, const char *target, const char *body,
                        int timeout_ms, struct daemon_http_reply *r)
{
    struct strbuf req = STRBUF_INIT;
    int rc;

    strbuf_addf(&req, "%s %s HTTP/1.1\r\nHost: provd\r\nConnection: close\r\n", method, target);
    if (body)
        strbuf_addf(&req,
                    "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: %zu\r\n",
                    strlen(body));
    strbuf_adds(&req, "\r\n");
    if (body)
        strbuf_adds(&req, body);
    rc = daemon_http_raw(path, req.s, req.len, timeout_ms, r);
    strbuf_release(&req);
    return rc;
}

int daemon_http_keepalive(int fd, const char *method, const char *target, int timeout_ms,
                          struct daemon_http_reply *r)
{
    char req[4096];
    double t0 = daemon_http_now_ms();
    int n, rc;

    memset(r, 0, sizeof(*r));
    n = snprintf(req, sizeof(req), "%s %s HTTP/1.1\r\nHost: provd\r\n\r\n", method, target);
    if (n < 0 || (size_t)n >= sizeof(req))
        return -E2BIG;
    rc = daemon_http_send(fd, req, (size_t)n);
    if (rc < 0)
        return rc;
    rc = daemon_http_read(fd, strcmp(method, "HEAD") == 0, timeout_ms, r);
    r->ms = daemon_http_now_ms() - t0;
    return rc;
}

const char *daemon_http_header(const struct daemon_http_reply *r, const char *name, char *buf,
                               size_t len)
{
    size_t nl = strlen(name);
    const char *p;

    if (r->headers == NULL)
        return NULL;
    p = strstr(r->headers, "\r\n");
    while (p && p[2] != '\r' && p[2] != '\0') {
        const char *line = p + 2, *eol = strstr(line, "\r\n");

        if (eol == NULL)
            break;
        if (strncasecmp(line, name, nl) == 0 && line[nl] == ':') {
            const char *v = line + nl + 1;
            size_t n;

            while (*v == ' ' || *v == '\t')
                v++;
            n = (size_t)(eol - v);
            if (n >= len)
                n = len - 1;
            memcpy(buf, v, n);
            buf[n] = '\0';
            return buf;
        }
        p = eol;
    }
    return NULL;
}

char *daemon_http_escape(const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    struct strbuf b = STRBUF_INIT;

    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (isalnum(*p) || strchr("-._~", *p)) {
            strbuf_addc(&b, (char)*p);
        } else {
            strbuf_addc(&b, '%');
            strbuf_addc(&b, hex[*p >> 4]);
            strbuf_addc(&b, hex[*p & 15]);
        }
    }
    return strbuf_steal(&b);
}
