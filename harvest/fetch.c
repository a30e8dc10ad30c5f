/*
 * fetch: libcurl's multi_socket interface driven by a libevent event_base,
 * in the pattern of curl's hiperfifo example: one non-repeating timer that
 * each CURLMOPT_TIMERFUNCTION call replaces (-1 deletes it), one event per
 * socket from CURLMOPT_SOCKETFUNCTION, and finished transfers drained with
 * curl_multi_info_read() after every curl_multi_socket_action(). The timer
 * callback of libcurl only arms the libevent timer, even for a timeout of
 * 0: the action itself always runs from the loop.
 *
 * Owns the CURLM handle, one CURL easy handle per transfer, the watched
 * sockets, the timer and a copy of the options and address policy. Sets
 * every libcurl option RELIABILITY.md lists on each handle, enforces the
 * decoded body cap and the content-type rule in the write callback, and
 * the address policy in CURLOPT_OPENSOCKETFUNCTION. Never owns the
 * event_base, never logs, never calls curl_global_init().
 */
#include "fetch.h"

#include "fetch_outcome.h"
#include "strbuf.h"
#include "xmalloc.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>

#define FETCH_DEFAULT_USER_AGENT "provd/" PROVD_VERSION
#define FETCH_VALIDATOR_MAX      1024 /* bytes of a stored ETag or date */
#define FETCH_BODY_FIRST         16384

static const char *const fetch_default_types[] = {"text/html", "application/xhtml+xml", NULL};

/* One socket libcurl asked us to watch; freed on CURL_POLL_REMOVE or with
 * the engine. */
struct fetch_sock {
    struct event ev;
    struct fetch *f;
    struct fetch_sock *prev, *next;
};

/* One transfer from fetch_start() to its callback. */
struct fetch_transfer {
    struct fetch *f;
    CURL *easy;
    struct curl_slist *headers;
    char *url;
    fetch_done_fn done;
    void *data;
    char errbuf[CURL_ERROR_SIZE];
    char *body; /* decoded bytes so far; cap >= len + 1 once allocated */
    size_t len, cap;
    struct timespec started;
    bool type_checked;     /* the write callback looked at the content type */
    bool type_rejected;    /* ... and refused it */
    bool too_large;        /* the body passed max_body */
    bool denied;           /* the address policy refused a socket */
    int sockets;           /* sockets the policy let through */
    int sockets_at_denial; /* ... when it last refused one */
    char denied_addr[INET6_ADDRSTRLEN + 16];
    struct fetch_transfer *prev, *next;
};

struct fetch {
    struct event_base *base; /* borrowed */
    CURLM *multi;
    struct event *timer;
    struct fetch_options o; /* strings below are the owned copies */
    char *user_agent;
    char *ca_file;
    char **types; /* NULL-terminated, lower case */
    char *accept; /* "Accept: ..." header line */
    struct addrpolicy *policy;
    struct fetch_transfer *transfers;
    int in_flight;
    struct fetch_sock *socks;
    bool cancelling;
    char errmsg[256];
};

static long fetch_ms_since(const struct timespec *t0)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (long)((now.tv_sec - t0->tv_sec) * 1000 + (now.tv_nsec - t0->tv_nsec) / 1000000);
}

void fetch_options_init(struct fetch_options *o)
{
    memset(o, 0, sizeof(*o));
    o->connect_timeout_ms = 10000;
    o->total_timeout_ms = 60000;
    o->low_speed_limit = 1024;
    o->low_speed_time_s = 15;
    o->max_body = 8u << 20;
    o->max_redirects = 5;
    o->max_total_connections = 32;
    o->max_host_connections = 2;
    o->retry_after_cap_s = 3600;
}

int fetch_options_check(const struct fetch_options *o, char *err, size_t errlen)
{
    const char *what = NULL;

    if (o->connect_timeout_ms <= 0)
        what = "connect timeout must be positive";
    else if (o->total_timeout_ms <= 0)
        what = "total timeout must be positive";
    else if (o->low_speed_limit <= 0 || o->low_speed_time_s <= 0)
        what = "low speed limit and time must be positive";
    else if (o->max_body == 0 || o->max_body > SIZE_MAX / 4)
        what = "body cap out of range";
    else if (o->max_redirects < 0 || o->max_redirects > 100)
        what = "redirects must be 0 to 100";
    else if (o->max_total_connections <= 0 || o->max_host_connections <= 0 ||
             o->max_host_connections > o->max_total_connections)
        what = "connection caps must be positive, per host not above the total";
    else if (o->retry_after_cap_s < 0)
        what = "Retry-After cap must not be negative";
    for (size_t i = 0; what == NULL && o->accept_types && o->accept_types[i]; i++)
        if (o->accept_types[i][0] == '\0' || strpbrk(o->accept_types[i], "\r\n"))
            what = "empty or multi-line accepted content type";
    if (what == NULL)
        return 0;
    snprintf(err, errlen, "%s", what);
    return -EINVAL;
}

/* ---- the event-loop glue (the hiperfifo pattern) --------------------- */

static void fetch_drain(struct fetch *f);

static void fetch_on_socket_event(evutil_socket_t fd, short what, void *arg)
{
    struct fetch *f = arg;
    int running = 0;
    int action =
        ((what & EV_READ) ? CURL_CSELECT_IN : 0) | ((what & EV_WRITE) ? CURL_CSELECT_OUT : 0);

    curl_multi_socket_action(f->multi, fd, action, &running);
    fetch_drain(f);
}

static void fetch_on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct fetch *f = arg;
    int running = 0;

    curl_multi_socket_action(f->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    fetch_drain(f);
}

/* CURLMOPT_TIMERFUNCTION: only (re)arm or delete the one timer. */
static int fetch_on_timer_set(CURLM *multi, long timeout_ms, void *userp)
{
    struct fetch *f = userp;

    if (timeout_ms < 0) {
        evtimer_del(f->timer);
    } else {
        struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
        evtimer_add(f->timer, &tv);
    }
    return 0;
}

static void fetch_sock_free(struct fetch *f, struct fetch_sock *s)
{
    event_del(&s->ev);
    if (s->prev)
        s->prev->next = s->next;
    else
        f->socks = s->next;
    if (s->next)
        s->next->prev = s->prev;
    free(s);
}

/* CURLMOPT_SOCKETFUNCTION: one event per socket, changed in place. */
static int fetch_on_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *sockp)
{
    struct fetch *f = userp;
    struct fetch_sock *s = sockp;

    if (what == CURL_POLL_REMOVE) {
        if (s != NULL)
            fetch_sock_free(f, s);
        return 0;
    }
    if (s == NULL) {
        s = xcalloc(1, sizeof(*s));
        s->f = f;
        s->next = f->socks;
        if (f->socks)
            f->socks->prev = s;
        f->socks = s;
        curl_multi_assign(f->multi, fd, s);
    } else {
        event_del(&s->ev);
    }
    short kind = EV_PERSIST | ((what & CURL_POLL_IN) ? EV_READ : 0) |
                 ((what & CURL_POLL_OUT) ? EV_WRITE : 0);
    event_assign(&s->ev, f->base, fd, kind, fetch_on_socket_event, f);
    event_add(&s->ev, NULL);
    return 0;
}

/* ---- per-transfer callbacks ------------------------------------------ */

static bool fetch_type_accepted(const struct fetch *f, const char *ct)
{
    char media[128];

    if (!fetch_outcome_media_type(ct, media, sizeof(media)))
        return false;
    for (size_t i = 0; f->types[i]; i++)
        if (strcmp(media, f->types[i]) == 0)
            return true;
    return false;
}

static bool fetch_is_file(CURL *easy)
{
    char *scheme = NULL;

    curl_easy_getinfo(easy, CURLINFO_SCHEME, &scheme);
    return scheme != NULL && strcasecmp(scheme, "file") == 0;
}

/* Whether the content-type rule applies to this response: 2xx over HTTP.
 * Error pages keep their bodies whatever their type. */
static bool fetch_type_applies(CURL *easy)
{
    long status = 0;

    if (fetch_is_file(easy))
        return false;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    return status >= 200 && status < 300;
}

/* CURLOPT_WRITEFUNCTION: decoded bytes, capped. Returning less than n
 * makes libcurl abort the transfer with CURLE_WRITE_ERROR. */
static size_t fetch_on_body(char *ptr, size_t size, size_t nmemb, void *userp)
{
    struct fetch_transfer *t = userp;
    size_t n = size * nmemb;
    size_t max = t->f->o.max_body;

    if (n == 0)
        return 0;
    if (!t->type_checked) {
        t->type_checked = true;
        char *ct = NULL;
        curl_easy_getinfo(t->easy, CURLINFO_CONTENT_TYPE, &ct);
        if (fetch_type_applies(t->easy) && !fetch_type_accepted(t->f, ct)) {
            t->type_rejected = true;
            return 0;
        }
    }
    if (n > max - t->len) {
        t->too_large = true;
        return 0;
    }
    if (t->len + n + 1 > t->cap) {
        size_t want = t->cap ? t->cap * 2 : FETCH_BODY_FIRST;
        if (want < t->len + n + 1)
            want = t->len + n + 1;
        if (want > max + 1)
            want = max + 1;
        t->body = xreallocarray(t->body, want, 1);
        t->cap = want;
    }
    memcpy(t->body + t->len, ptr, n);
    t->len += n;
    t->body[t->len] = '\0';
    return n;
}

/* CURLOPT_OPENSOCKETFUNCTION: the address policy, for every connection
 * libcurl opens (first URL, redirects, each DNS answer). */
static curl_socket_t fetch_on_opensocket(void *clientp, curlsocktype purpose,
                                         struct curl_sockaddr *a)
{
    struct fetch_transfer *t = clientp;
    struct sockaddr_storage ss;
    size_t len = a->addrlen < sizeof(ss) ? a->addrlen : sizeof(ss);

    memset(&ss, 0, sizeof(ss));
    memcpy(&ss, &a->addr, len);
    if (purpose != CURLSOCKTYPE_IPCXN ||
        !addrpolicy_check(t->f->policy, (struct sockaddr *)&ss, len)) {
        char host[INET6_ADDRSTRLEN] = "?";
        unsigned port = 0;
        if (ss.ss_family == AF_INET) {
            const struct sockaddr_in *sin = (const struct sockaddr_in *)&ss;
            inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host));
            port = ntohs(sin->sin_port);
        } else if (ss.ss_family == AF_INET6) {
            const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&ss;
            inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof(host));
            port = ntohs(sin6->sin6_port);
        }
        t->denied = true;
        t->sockets_at_denial = t->sockets;
        snprintf(t->denied_addr, sizeof(t->denied_addr),
                 ss.ss_family == AF_INET6 ? "[%s]:%u" : "%s:%u", host, port);
        return CURL_SOCKET_BAD;
    }
    curl_socket_t fd = socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
    if (fd != CURL_SOCKET_BAD)
        t->sockets++;
    return fd;
}

/* ---- completion ------------------------------------------------------ */

/* A copy of the value of header name in the last response, or NULL. */
static char *fetch_header(CURL *easy, const char *name)
{
    struct curl_header *h = NULL;

    if (curl_easy_header(easy, name, 0, CURLH_HEADER, -1, &h) != CURLHE_OK || h == NULL ||
        h->value == NULL || h->value[0] == '\0' || strlen(h->value) > FETCH_VALIDATOR_MAX)
        return NULL;
    return xstrdup(h->value);
}

static long fetch_usec_to_ms(curl_off_t us)
{
    return us > 0 ? (long)(us / 1000) : -1;
}

static void fetch_transfer_free(struct fetch_transfer *t)
{
    curl_easy_cleanup(t->easy);
    curl_slist_free_all(t->headers);
    free(t->url);
    free(t->body);
    free(t);
}

/* Build the response of t, detach t from f, call the callback, free t. */
static void fetch_finish(struct fetch_transfer *t, CURLcode rc, bool cancelled)
{
    struct fetch *f = t->f;
    CURL *e = t->easy;
    struct fetch_response r;
    char msg[CURL_ERROR_SIZE + 160];
    char *eff = NULL, *ct = NULL, *etag = NULL, *lm = NULL, *charset = NULL, *ra = NULL;
    curl_off_t us = 0, wire = 0;
    long status = 0, redirects = 0, connects = 0;
    bool is_file = fetch_is_file(e);

    curl_multi_remove_handle(f->multi, e);
    if (t->prev)
        t->prev->next = t->next;
    else
        f->transfers = t->next;
    if (t->next)
        t->next->prev = t->prev;
    f->in_flight--;

    memset(&r, 0, sizeof(r));
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(e, CURLINFO_EFFECTIVE_URL, &eff);
    curl_easy_getinfo(e, CURLINFO_CONTENT_TYPE, &ct);
    curl_easy_getinfo(e, CURLINFO_REDIRECT_COUNT, &redirects);
    curl_easy_getinfo(e, CURLINFO_NUM_CONNECTS, &connects);
    curl_easy_getinfo(e, CURLINFO_SIZE_DOWNLOAD_T, &wire);
    r.url = t->url;
    r.effective_url = eff ? eff : t->url;
    r.status = status;
    r.curl_code = (int)rc;
    r.redirects = redirects;
    r.connects = connects;
    r.wire_bytes = (long long)wire;
    r.elapsed_ms = fetch_ms_since(&t->started);
    curl_easy_getinfo(e, CURLINFO_CONNECT_TIME_T, &us);
    r.connect_ms = fetch_usec_to_ms(us);
    us = 0;
    curl_easy_getinfo(e, CURLINFO_STARTTRANSFER_TIME_T, &us);
    r.first_byte_ms = fetch_usec_to_ms(us);
    r.retry_after_s = -1;
    if (status > 0 && !is_file) {
        etag = fetch_header(e, "ETag");
        lm = fetch_header(e, "Last-Modified");
        ra = fetch_header(e, "Retry-After");
        r.retry_after_s = fetch_outcome_retry_after(ra, time(NULL), f->o.retry_after_cap_s);
    }
    char media[128];
    if (fetch_outcome_media_type(ct, media, sizeof(media))) {
        r.content_type = media;
        charset = fetch_outcome_charset(ct);
    }
    r.charset = charset;
    r.etag = etag;
    r.last_modified = lm;
    r.not_modified = status == 304;

    if (cancelled) {
        r.cancelled = true;
        r.category = PROV_INTERNAL;
        snprintf(msg, sizeof(msg), "cancelled");
    } else {
        struct fetch_outcome out = {
            .curl_code = (int)rc,
            .curl_error = t->errbuf,
            .status = status,
            .is_file = is_file,
            .content_type = ct,
            .type_accepted = fetch_type_accepted(f, ct),
            .too_large = t->too_large,
            .type_rejected = t->type_rejected,
            /* Denied unless another address was let through after the
             * refusal (an IPv6 address refused, its IPv4 twin used): a
             * redirect's first hop may have opened a socket before. */
            .denied = t->denied && t->sockets == t->sockets_at_denial ? t->denied_addr : NULL,
            .max_body = f->o.max_body,
            .max_redirects = f->o.max_redirects,
        };
        r.category = fetch_outcome_classify(&out, msg, sizeof(msg));
    }
    r.errmsg = msg;
    if (!cancelled && rc == CURLE_OK &&
        (r.category == PROV_OK || r.category == PROV_HTTP_4XX || r.category == PROV_HTTP_5XX ||
         r.category == PROV_RATE_LIMITED || r.category == PROV_HTTP_PROTOCOL)) {
        r.body = t->body ? t->body : xcalloc(1, 1);
        r.body_len = t->len;
        t->body = NULL;
    }

    t->done(&r, t->data);

    free(r.body);
    free(etag);
    free(lm);
    free(ra);
    free(charset);
    fetch_transfer_free(t);
}

static void fetch_drain(struct fetch *f)
{
    CURLMsg *m;
    int left;

    while ((m = curl_multi_info_read(f->multi, &left)) != NULL) {
        if (m->msg != CURLMSG_DONE)
            continue;
        char *priv = NULL;
        CURLcode rc = m->data.result;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &priv);
        if (priv != NULL)
            fetch_finish((struct fetch_transfer *)(void *)priv, rc, false);
    }
}

/* ---- public interface ------------------------------------------------ */

struct fetch *fetch_new(struct event_base *base, const struct fetch_options *o)
{
    char err[256];
    struct fetch *f;
    const char *const *types;
    size_t n = 0;

    if (base == NULL || o == NULL || fetch_options_check(o, err, sizeof(err)) != 0)
        return NULL;
    f = xcalloc(1, sizeof(*f));
    f->base = base;
    f->o = *o;
    f->user_agent = xstrdup(o->user_agent ? o->user_agent : FETCH_DEFAULT_USER_AGENT);
    f->ca_file = xstrdup_or_null(o->ca_file);
    f->policy = o->policy ? addrpolicy_dup(o->policy) : addrpolicy_new();
    types = o->accept_types ? o->accept_types : fetch_default_types;
    while (types[n])
        n++;
    f->types = xcalloc(n + 1, sizeof(char *));
    struct strbuf acc = STRBUF_INIT;
    strbuf_adds(&acc, "Accept: ");
    for (size_t i = 0; i < n; i++) {
        char media[128];
        f->types[i] = fetch_outcome_media_type(types[i], media, sizeof(media)) ? xstrdup(media)
                                                                               : xstrdup(types[i]);
        strbuf_addf(&acc, "%s%s", i ? ", " : "", f->types[i]);
    }
    f->accept = strbuf_steal(&acc);
    f->o.user_agent = f->user_agent;
    f->o.ca_file = f->ca_file;
    f->o.accept_types = NULL;
    f->o.policy = NULL;

    f->multi = curl_multi_init();
    f->timer = evtimer_new(base, fetch_on_timer, f);
    if (f->multi == NULL || f->timer == NULL ||
        curl_multi_setopt(f->multi, CURLMOPT_SOCKETFUNCTION, fetch_on_socket) != CURLM_OK ||
        curl_multi_setopt(f->multi, CURLMOPT_SOCKETDATA, f) != CURLM_OK ||
        curl_multi_setopt(f->multi, CURLMOPT_TIMERFUNCTION, fetch_on_timer_set) != CURLM_OK ||
        curl_multi_setopt(f->multi, CURLMOPT_TIMERDATA, f) != CURLM_OK ||
        curl_multi_setopt(f->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, o->max_total_connections) !=
            CURLM_OK ||
        curl_multi_setopt(f->multi, CURLMOPT_MAX_HOST_CONNECTIONS, o->max_host_connections) !=
            CURLM_OK) {
        fetch_free(f);
        return NULL;
    }
    return f;
}

int fetch_cancel_all(struct fetch *f)
{
    int n = 0;

    if (f == NULL || f->cancelling)
        return 0;
    f->cancelling = true;
    while (f->transfers != NULL) {
        fetch_finish(f->transfers, CURLE_ABORTED_BY_CALLBACK, true);
        n++;
    }
    f->cancelling = false;
    return n;
}

void fetch_free(struct fetch *f)
{
    if (f == NULL)
        return;
    fetch_cancel_all(f);
    if (f->multi)
        curl_multi_cleanup(f->multi);
    while (f->socks)
        fetch_sock_free(f, f->socks);
    if (f->timer)
        event_free(f->timer);
    for (size_t i = 0; f->types && f->types[i]; i++)
        free(f->types[i]);
    free(f->types);
    free(f->accept);
    free(f->user_agent);
    free(f->ca_file);
    addrpolicy_free(f->policy);
    free(f);
}

int fetch_in_flight(const struct fetch *f)
{
    return f ? f->in_flight : 0;
}

const char *fetch_errmsg(const struct fetch *f)
{
    return f->errmsg;
}

/* True when s (a stored validator) is short and free of control bytes, so
 * it cannot split a request header. */
static bool fetch_validator_ok(const char *s)
{
    size_t n = 0;

    for (; s[n]; n++)
        if (((unsigned char)s[n] < 0x20 && s[n] != '\t') || s[n] == 0x7f)
            return false;
    return n > 0 && n <= FETCH_VALIDATOR_MAX;
}

/* Check a file: URL before libcurl reads it synchronously: a missing file
 * is reported through the callback, anything but a regular file (a FIFO
 * would block the loop) is refused here. */
static int fetch_check_file(CURLU *u, char *err, size_t errlen)
{
    char *path = NULL;
    struct stat st;
    int rc = 0;

    if (curl_url_get(u, CURLUPART_PATH, &path, CURLU_URLDECODE) != CURLUE_OK) {
        snprintf(err, errlen, "file: URL without a usable path");
        return -EINVAL;
    }
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "file: URL names something other than a regular file");
        rc = -EINVAL;
    }
    curl_free(path);
    return rc;
}

#define FETCH_SETOPT(opt, val)                                                                     \
    do {                                                                                           \
        if (curl_easy_setopt(e, opt, val) != CURLE_OK) {                                           \
            failed = #opt;                                                                         \
            goto out;                                                                              \
        }                                                                                          \
    } while (0)

int fetch_start(struct fetch *f, const struct fetch_request *req)
{
    struct fetch_transfer *t = NULL;
    CURLU *u = NULL;
    CURL *e = NULL;
    char *scheme = NULL;
    const char *failed = NULL;
    int rc = -EINVAL;

    f->errmsg[0] = '\0';
    if (f->cancelling) {
        snprintf(f->errmsg, sizeof(f->errmsg), "transfers are being cancelled");
        return -ECANCELED;
    }
    if (req == NULL || req->url == NULL || req->done == NULL) {
        snprintf(f->errmsg, sizeof(f->errmsg), "request without URL or callback");
        return -EINVAL;
    }
    if ((req->etag && !fetch_validator_ok(req->etag)) ||
        (req->last_modified && !fetch_validator_ok(req->last_modified))) {
        snprintf(f->errmsg, sizeof(f->errmsg), "stored validator with control characters");
        return -EINVAL;
    }
    u = curl_url();
    if (u == NULL || curl_url_set(u, CURLUPART_URL, req->url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK) {
        snprintf(f->errmsg, sizeof(f->errmsg), "URL cannot be parsed: %.200s", req->url);
        goto out;
    }
    if (req->allow_file && strcasecmp(scheme, "file") == 0 &&
        fetch_check_file(u, f->errmsg, sizeof(f->errmsg)) != 0)
        goto out;

    rc = -EIO;
    t = xcalloc(1, sizeof(*t));
    t->f = f;
    t->url = xstrdup(req->url);
    t->done = req->done;
    t->data = req->data;
    e = t->easy = curl_easy_init();
    if (e == NULL) {
        failed = "curl_easy_init";
        goto out;
    }
    t->headers = curl_slist_append(NULL, f->accept);
    if (t->headers != NULL && req->etag != NULL) {
        char *h = xasprintf("If-None-Match: %s", req->etag);
        struct curl_slist *l = curl_slist_append(t->headers, h);
        free(h);
        t->headers = l ? l : t->headers;
        failed = l ? NULL : "If-None-Match";
    }
    if (t->headers != NULL && req->last_modified != NULL && failed == NULL) {
        char *h = xasprintf("If-Modified-Since: %s", req->last_modified);
        struct curl_slist *l = curl_slist_append(t->headers, h);
        free(h);
        t->headers = l ? l : t->headers;
        failed = l ? NULL : "If-Modified-Since";
    }
    if (t->headers == NULL || failed != NULL) {
        failed = failed ? failed : "Accept";
        goto out;
    }

    FETCH_SETOPT(CURLOPT_URL, t->url);
    FETCH_SETOPT(CURLOPT_PRIVATE, (void *)t);
    FETCH_SETOPT(CURLOPT_ERRORBUFFER, t->errbuf);
    FETCH_SETOPT(CURLOPT_WRITEFUNCTION, fetch_on_body);
    FETCH_SETOPT(CURLOPT_WRITEDATA, (void *)t);
    FETCH_SETOPT(CURLOPT_OPENSOCKETFUNCTION, fetch_on_opensocket);
    FETCH_SETOPT(CURLOPT_OPENSOCKETDATA, (void *)t);
    FETCH_SETOPT(CURLOPT_PROTOCOLS_STR, req->allow_file ? "http,https,file" : "http,https");
    FETCH_SETOPT(CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    FETCH_SETOPT(CURLOPT_FOLLOWLOCATION, 1L);
    FETCH_SETOPT(CURLOPT_MAXREDIRS, f->o.max_redirects);
    FETCH_SETOPT(CURLOPT_CONNECTTIMEOUT_MS, f->o.connect_timeout_ms);
    FETCH_SETOPT(CURLOPT_TIMEOUT_MS, f->o.total_timeout_ms);
    FETCH_SETOPT(CURLOPT_LOW_SPEED_LIMIT, f->o.low_speed_limit);
    FETCH_SETOPT(CURLOPT_LOW_SPEED_TIME, f->o.low_speed_time_s);
    FETCH_SETOPT(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)f->o.max_body);
    FETCH_SETOPT(CURLOPT_ACCEPT_ENCODING, "");
    FETCH_SETOPT(CURLOPT_NOSIGNAL, 1L);
    FETCH_SETOPT(CURLOPT_SSL_VERIFYPEER, 1L);
    FETCH_SETOPT(CURLOPT_SSL_VERIFYHOST, 2L);
    FETCH_SETOPT(CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
    if (f->ca_file)
        FETCH_SETOPT(CURLOPT_CAINFO, f->ca_file);
    FETCH_SETOPT(CURLOPT_USERAGENT, f->user_agent);
    FETCH_SETOPT(CURLOPT_HTTP09_ALLOWED, 0L);
    FETCH_SETOPT(CURLOPT_NETRC, (long)CURL_NETRC_IGNORED);
    FETCH_SETOPT(CURLOPT_UNRESTRICTED_AUTH, 0L);
    FETCH_SETOPT(CURLOPT_PROXY, ""); /* no proxy from the environment */
    FETCH_SETOPT(CURLOPT_HTTPHEADER, t->headers);
    /* no CURLOPT_COOKIEFILE: the cookie engine stays off */

    clock_gettime(CLOCK_MONOTONIC, &t->started);
    if (curl_multi_add_handle(f->multi, e) != CURLM_OK) {
        failed = "curl_multi_add_handle";
        goto out;
    }
    t->next = f->transfers;
    if (f->transfers)
        f->transfers->prev = t;
    f->transfers = t;
    f->in_flight++;
    t = NULL;
    rc = 0;
out:
    if (rc != 0 && failed != NULL)
        snprintf(f->errmsg, sizeof(f->errmsg), "libcurl refused %s", failed);
    if (t != NULL)
        fetch_transfer_free(t);
    curl_free(scheme);
    curl_url_cleanup(u);
    return rc;
}
