/*
 * provctl_http: the HTTP client provctl uses to talk to provd. It owns one
 * libcurl easy handle, reused for every request (so one process keeps one
 * connection when the daemon allows it), and the buffers of the answers it
 * returns. Every request is bounded in time; the socket path never leaves
 * the UNIX domain (libcurl is told to speak plain HTTP to that file only).
 * It prints nothing except in provctl_http_fail() and provctl_reply_fail(),
 * whose purpose is the one message provctl shows for a failure.
 */
#include "provctl_http.h"

#include "xmalloc.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* Bodies larger than this are refused: no answer of the API comes near it
 * (pages of search results are capped at 500 records), so a larger one
 * means something other than provd is on the socket. */
#define PROVCTL_HTTP_MAX_BODY (256u << 20)

struct provctl_http {
    char *path;
    CURL *curl;
    char errbuf[CURL_ERROR_SIZE];
    char msg[512];
    bool connect_failed; /* the last failure was connect() itself */
};

/* What the write callback fills. */
struct provctl_sink {
    struct provctl_http *h;
    struct provctl_reply *out;
    FILE *to;       /* streams: where a 200 body goes; NULL otherwise */
    bool to_failed; /* writing to it failed; errno kept in err */
    int err;        /* errno of the failed write */
    long status;    /* read once the headers are in */
    bool too_big;   /* the body passed PROVCTL_HTTP_MAX_BODY */
    unsigned long long streamed;
};

struct provctl_http *provctl_http_new(const char *path)
{
    struct provctl_http *h = xcalloc(1, sizeof(*h));

    h->path = xstrdup(path);
    return h;
}

void provctl_http_free(struct provctl_http *h)
{
    if (h == NULL)
        return;
    if (h->curl)
        curl_easy_cleanup(h->curl);
    free(h->path);
    free(h);
}

const char *provctl_http_errmsg(const struct provctl_http *h)
{
    return h->msg;
}

const char *provctl_http_path(const struct provctl_http *h)
{
    return h->path;
}

void provctl_reply_clear(struct provctl_reply *r)
{
    strbuf_release(&r->body);
    if (r->json)
        json_decref(r->json);
    r->json = NULL;
    r->status = 0;
}

char *provctl_escape(const char *value)
{
    char *e = curl_easy_escape(NULL, value, 0);
    char *copy;

    if (e == NULL) {
        fprintf(stderr, "provctl: out of memory\n");
        exit(PROVCTL_EXIT_FAILED);
    }
    copy = xstrdup(e);
    curl_free(e);
    return copy;
}

void provctl_query_add(struct strbuf *q, const char *name, const char *value)
{
    char *e;

    if (value == NULL)
        return;
    e = provctl_escape(value);
    strbuf_addc(q, strchr(strbuf_str(q), '?') ? '&' : '?');
    strbuf_adds(q, name);
    strbuf_addc(q, '=');
    strbuf_adds(q, e);
    free(e);
}

static size_t provctl_http_write(char *data, size_t size, size_t n, void *arg)
{
    struct provctl_sink *s = arg;
    size_t len = size * n;

    if (s->status == 0)
        curl_easy_getinfo(s->h->curl, CURLINFO_RESPONSE_CODE, &s->status);
    if (s->to && s->status == 200) {
        if (fwrite(data, 1, len, s->to) != len || fflush(s->to) != 0) {
            s->to_failed = true;
            s->err = errno;
            return 0;
        }
        s->streamed += len;
        return len;
    }
    if (s->out->body.len + len > PROVCTL_HTTP_MAX_BODY) {
        s->too_big = true;
        return 0;
    }
    strbuf_add(&s->out->body, data, len);
    return len;
}

/* connect() to the socket ourselves to learn why libcurl could not: its
 * own message does not keep the errno. */
static int provctl_http_probe(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int fd, rc = 0;

    if (strlen(path) >= sizeof(sa.sun_path))
        return -ENAMETOOLONG;
    memcpy(sa.sun_path, path, strlen(path) + 1);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
        rc = -errno;
    close(fd);
    return rc;
}

static int provctl_http_perform(struct provctl_http *h, const char *method, const char *target,
                                const char *form, FILE *to, struct provctl_reply *out)
{
    struct provctl_sink sink = {.h = h, .out = out, .to = to};
    struct sockaddr_un sa;
    char *url = NULL;
    CURLcode cc;
    int rc = 0;

    memset(out, 0, sizeof(*out));
    h->msg[0] = '\0';
    h->errbuf[0] = '\0';
    h->connect_failed = false;
    if (strlen(h->path) >= sizeof(sa.sun_path)) {
        snprintf(h->msg, sizeof(h->msg), "%s", strerror(ENAMETOOLONG));
        h->connect_failed = true;
        return -ENAMETOOLONG;
    }
    if (h->curl == NULL) {
        h->curl = curl_easy_init();
        if (h->curl == NULL) {
            snprintf(h->msg, sizeof(h->msg), "cannot set up libcurl");
            return -EIO;
        }
    } else {
        curl_easy_reset(h->curl);
    }
    url = xasprintf("http://provd%s", target);
    curl_easy_setopt(h->curl, CURLOPT_URL, url);
    curl_easy_setopt(h->curl, CURLOPT_UNIX_SOCKET_PATH, h->path);
    curl_easy_setopt(h->curl, CURLOPT_PROTOCOLS_STR, "http");
    curl_easy_setopt(h->curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h->curl, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(h->curl, CURLOPT_ERRORBUFFER, h->errbuf);
    curl_easy_setopt(h->curl, CURLOPT_USERAGENT, "provctl/" PROVD_VERSION);
    curl_easy_setopt(h->curl, CURLOPT_CONNECTTIMEOUT_MS, (long)PROVCTL_HTTP_CONNECT_MS);
    if (to) {
        curl_easy_setopt(h->curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(h->curl, CURLOPT_LOW_SPEED_TIME, (long)PROVCTL_HTTP_STALL_S);
    } else {
        curl_easy_setopt(h->curl, CURLOPT_TIMEOUT_MS, (long)PROVCTL_HTTP_TOTAL_MS);
    }
    curl_easy_setopt(h->curl, CURLOPT_WRITEFUNCTION, provctl_http_write);
    curl_easy_setopt(h->curl, CURLOPT_WRITEDATA, &sink);
    if (strcmp(method, "POST") == 0) {
        curl_easy_setopt(h->curl, CURLOPT_POSTFIELDS, form ? form : "");
        curl_easy_setopt(h->curl, CURLOPT_POSTFIELDSIZE, (long)(form ? strlen(form) : 0));
    }

    cc = curl_easy_perform(h->curl);
    curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &out->status);
    switch (cc) {
    case CURLE_OK:
        break;
    case CURLE_COULDNT_CONNECT:
        rc = provctl_http_probe(h->path);
        if (rc == 0)
            rc = -ECONNREFUSED;
        snprintf(h->msg, sizeof(h->msg), "%s", strerror(-rc));
        h->connect_failed = true;
        goto out;
    case CURLE_OPERATION_TIMEDOUT:
        rc = -ETIMEDOUT;
        if (out->status == 0 && sink.streamed == 0 && out->body.len == 0)
            snprintf(h->msg, sizeof(h->msg), "no answer within %d s",
                     to ? PROVCTL_HTTP_STALL_S : PROVCTL_HTTP_TOTAL_MS / 1000);
        else
            snprintf(h->msg, sizeof(h->msg), "the answer stalled: %s", h->errbuf);
        goto out;
    case CURLE_WRITE_ERROR:
        if (sink.to_failed) {
            rc = -EPIPE;
            snprintf(h->msg, sizeof(h->msg), "cannot write the output: %s", strerror(sink.err));
            goto out;
        }
        rc = -E2BIG;
        snprintf(h->msg, sizeof(h->msg), "the answer is larger than %u MiB",
                 PROVCTL_HTTP_MAX_BODY >> 20);
        goto out;
    case CURLE_PARTIAL_FILE:
    case CURLE_RECV_ERROR:
        rc = -EPIPE;
        snprintf(h->msg, sizeof(h->msg), "the answer was cut short (%s)",
                 h->errbuf[0] ? h->errbuf : curl_easy_strerror(cc));
        goto out;
    default:
        rc = -EPROTO;
        snprintf(h->msg, sizeof(h->msg), "%s", h->errbuf[0] ? h->errbuf : curl_easy_strerror(cc));
        goto out;
    }
    if (out->body.len > 0)
        out->json = json_loadb(strbuf_str(&out->body), out->body.len, 0, NULL);
out:
    free(url);
    return rc;
}

int provctl_http_request(struct provctl_http *h, const char *method, const char *target,
                         const char *form, struct provctl_reply *out)
{
    return provctl_http_perform(h, method, target, form, NULL, out);
}

int provctl_http_stream(struct provctl_http *h, const char *target, FILE *to,
                        struct provctl_reply *out)
{
    return provctl_http_perform(h, "GET", target, NULL, to, out);
}

int provctl_http_fail(const struct provctl_http *h, int rc)
{
    if (h->connect_failed) {
        const char *hint = "is provd running?";

        if (rc == -EACCES || rc == -EPERM)
            hint = "is this user allowed to use the socket?";
        fprintf(stderr, "provctl: cannot connect to %s: %s; %s\n", h->path, h->msg, hint);
        return PROVCTL_EXIT_CONNECT;
    }
    fprintf(stderr, "provctl: %s: %s\n", h->path, h->msg);
    return rc == -ETIMEDOUT ? PROVCTL_EXIT_UNAVAILABLE : PROVCTL_EXIT_FAILED;
}

int provctl_reply_fail(const struct provctl_reply *r)
{
    const char *error = NULL, *detail = NULL;
    json_t *retry = NULL;

    if (r->json && json_is_object(r->json)) {
        error = json_string_value(json_object_get(r->json, "error"));
        detail = json_string_value(json_object_get(r->json, "detail"));
        retry = json_object_get(r->json, "retry_after_ms");
    }
    if (error) {
        fprintf(stderr, "provctl: %s: %s", error, detail ? detail : "(no detail)");
        if (json_is_integer(retry))
            fprintf(stderr, " (retry in %lld s)",
                    (long long)((json_integer_value(retry) + 999) / 1000));
        else if (r->status == 503)
            fprintf(stderr, " (try again shortly)");
        fputc('\n', stderr);
    } else {
        /* Not an API error body: show its first line, bounded. */
        const char *b = strbuf_str(&r->body);
        int n = (int)strcspn(b, "\r\n");

        fprintf(stderr, "provctl: provd answered HTTP %ld%s%.*s\n", r->status, n ? ": " : "",
                n > 200 ? 200 : n, b);
    }
    if (r->status == 404)
        return PROVCTL_EXIT_NOT_FOUND;
    if (r->status == 503)
        return PROVCTL_EXIT_UNAVAILABLE;
    return PROVCTL_EXIT_FAILED;
}
