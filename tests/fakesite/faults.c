/*
 * faults: fakesite's misbehaving answers under /fault/ on the HTTP port.
 *
 *   /fault/delay/MS               wait MS ms before the headers, then a page
 *   /fault/trickle/MS?bytes=N     chunked page, 1 byte every MS ms, N bytes
 *                                 in all (default 64)
 *   /fault/chunked-endless        chunked body that does not end (stops after
 *                                 4 GiB), sent as fast as the client reads
 *   /fault/gzip-bomb              Content-Encoding: gzip, ~1 MB that inflates
 *                                 to 1 GiB of zeros
 *   /fault/encodings              Content-Encoding: gzip twenty times over
 *   /fault/status/CODE            status CODE with a small page;
 *                                 ?retry-after=S adds Retry-After: S,
 *                                 ?retry-date=S adds it as the HTTP date S
 *                                 seconds ahead
 *   /fault/429/S, /fault/429-date/S   429 with Retry-After in seconds, or
 *                                 as an HTTP date S seconds ahead
 *   /fault/fail/CODE/K/NAME       status CODE for the first K requests of
 *                                 this path, then 200 (per-path counter;
 *                                 ?retry-after=S as above)
 *   /fault/loop/N                 302 to /fault/loop/N+1, for ever
 *   /fault/redirect?to=URL        302 to URL (any scheme, any address);
 *                                 &code=301|303|307|308 for another status
 *   /fault/type?ct=VALUE          200 with Content-Type VALUE, or none
 *                                 without ct
 *   /fault/challenge              503 bot-challenge page ("Just a moment...")
 *   /fault/switch/NAME?a=P&b=P&after=K  the page at path P=a for the first
 *                                 K requests (default 1), then the one at b
 *
 * Slow replies run on timers and are listed on the site, so shutdown frees
 * them; a reply whose client left is noticed (its connection becomes
 * NULL) and freed on the next tick. Large bodies are built once by
 * faults_init() and sent by reference. The raw-socket faults are in raw.c.
 */
#include "fakesite.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define FAULT_BOMB_BLOCK  (1u << 20) /* zeros deflated at a time */
#define FAULT_BOMB_BLOCKS 1024u      /* 1 GiB in all */
#define FAULT_PAD_LINES   20000
#define FAULT_STREAM_MAX  (4ULL << 30)
#define FAULT_STREAM_HIGH (512u << 10) /* keep at most this much queued */

enum { JOB_DELAY, JOB_TRICKLE, JOB_STREAM };

static const char fault_page[] = "<!DOCTYPE html><html><head><title>Fault page</title></head>"
                                 "<body><p>This page took the long way.</p></body></html>\n";

/* ---- start-up: the large bodies -------------------------------------- */

/* gzip member of FAULT_BOMB_BLOCKS blocks of zeros: one block is deflated
 * with a full flush (which resets the history), so the same bytes repeat
 * for every block; the CRC is combined arithmetically. */
static int fault_build_bomb(struct site *s)
{
    static const unsigned char header[10] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3};
    unsigned char *zeros = calloc(1, FAULT_BOMB_BLOCK);
    unsigned char *blk = NULL, *tail = NULL;
    size_t blk_len = 0, tail_len = 0, cap = FAULT_BOMB_BLOCK / 100;
    z_stream z;
    int rc = -1;

    memset(&z, 0, sizeof(z));
    blk = malloc(cap);
    tail = malloc(64);
    if (!zeros || !blk || !tail ||
        deflateInit2(&z, 9, Z_DEFLATED, -15, 9, Z_DEFAULT_STRATEGY) != Z_OK)
        goto out;
    for (int round = 0; round < 2; round++) {
        unsigned char *dst = round == 0 ? blk : blk + blk_len;
        z.next_in = zeros;
        z.avail_in = FAULT_BOMB_BLOCK;
        z.next_out = dst;
        z.avail_out = (uInt)(cap / 2);
        if (deflate(&z, Z_FULL_FLUSH) != Z_OK || z.avail_in != 0 || z.avail_out == 0)
            goto end;
        size_t n = (size_t)(z.next_out - dst);
        if (round == 0)
            blk_len = n;
        else if (n != blk_len || memcmp(blk, dst, n) != 0)
            goto end; /* not periodic: refuse rather than guess */
    }
    z.next_in = zeros;
    z.avail_in = 0;
    z.next_out = tail;
    z.avail_out = 64;
    if (deflate(&z, Z_FINISH) != Z_STREAM_END)
        goto end;
    tail_len = (size_t)(z.next_out - tail);

    uLong one = crc32(0L, zeros, FAULT_BOMB_BLOCK), crc = crc32(0L, Z_NULL, 0);
    for (unsigned i = 0; i < FAULT_BOMB_BLOCKS; i++)
        crc = crc32_combine(crc, one, FAULT_BOMB_BLOCK);
    uint32_t isize = (uint32_t)((unsigned long long)FAULT_BOMB_BLOCK * FAULT_BOMB_BLOCKS);

    s->bomb_len = sizeof(header) + blk_len * FAULT_BOMB_BLOCKS + tail_len + 8;
    s->bomb = malloc(s->bomb_len);
    if (s->bomb == NULL)
        goto end;
    unsigned char *p = s->bomb;
    memcpy(p, header, sizeof(header));
    p += sizeof(header);
    for (unsigned i = 0; i < FAULT_BOMB_BLOCKS; i++, p += blk_len)
        memcpy(p, blk, blk_len);
    memcpy(p, tail, tail_len);
    p += tail_len;
    for (int i = 0; i < 4; i++)
        *p++ = (unsigned char)(crc >> (8 * i));
    for (int i = 0; i < 4; i++)
        *p++ = (unsigned char)(isize >> (8 * i));
    rc = 0;
end:
    deflateEnd(&z);
out:
    free(zeros);
    free(blk);
    free(tail);
    if (rc != 0)
        fprintf(stderr, "fakesite: cannot build the gzip bomb\n");
    return rc;
}

int faults_init(struct site *s)
{
    static const char para[] = "<p>An endless record page keeps going and going.</p>\n";
    size_t plen = sizeof(para) - 1;

    if (fault_build_bomb(s) != 0)
        return -1;
    /* 20,000 header lines of ~100 bytes: 2 MB */
    s->pad = malloc((size_t)FAULT_PAD_LINES * 110);
    if (s->pad == NULL)
        return -1;
    for (int i = 0; i < FAULT_PAD_LINES; i++)
        s->pad_len += (size_t)sprintf(s->pad + s->pad_len, "X-Pad-%05d: %0*d\r\n", i, 85, i);
    s->stream_block_len = (64u << 10) / plen * plen;
    s->stream_block = malloc(s->stream_block_len);
    if (s->stream_block == NULL)
        return -1;
    for (size_t i = 0; i < s->stream_block_len; i += plen)
        memcpy(s->stream_block + i, para, plen);
    return 0;
}

/* ---- jobs: replies produced over time -------------------------------- */

static void fault_job_end(struct site_job *j)
{
    struct site *s = j->site;

    event_free(j->timer);
    if (j->prev)
        j->prev->next = j->next;
    else
        s->jobs = j->next;
    if (j->next)
        j->next->prev = j->prev;
    free(j);
}

static struct site_job *fault_job_new(struct site *s, struct evhttp_request *req, int kind, long ms,
                                      bool repeat, event_callback_fn cb)
{
    struct site_job *j = calloc(1, sizeof(*j));
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

    if (j == NULL)
        return NULL;
    j->site = s;
    j->req = req;
    j->kind = kind;
    j->timer = event_new(s->base, -1, repeat ? EV_PERSIST : 0, cb, j);
    if (j->timer == NULL) {
        free(j);
        return NULL;
    }
    j->next = s->jobs;
    if (s->jobs)
        s->jobs->prev = j;
    s->jobs = j;
    event_add(j->timer, &tv);
    return j;
}

void faults_free(struct site *s)
{
    while (s->jobs) {
        struct evhttp_request *req = s->jobs->req;
        /* attached requests go with their connection in evhttp_free() */
        if (evhttp_request_get_connection(req) == NULL)
            evhttp_request_free(req);
        fault_job_end(s->jobs);
    }
    free(s->bomb);
    free(s->pad);
    free(s->stream_block);
}

static void fault_on_delay(evutil_socket_t fd, short what, void *arg)
{
    struct site_job *j = arg;
    struct evhttp_request *req = j->req;
    struct evbuffer *b = evbuffer_new();

    fault_job_end(j);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "text/html; charset=utf-8");
    if (b)
        evbuffer_add(b, fault_page, sizeof(fault_page) - 1);
    site_send(req, 200, b); /* logged on arrival */
    if (b)
        evbuffer_free(b);
}

/* One tick of a trickle (one byte) or an endless body (top the queue up). */
static void fault_on_tick(evutil_socket_t fd, short what, void *arg)
{
    struct site_job *j = arg;
    struct evhttp_connection *evcon = evhttp_request_get_connection(j->req);
    struct evbuffer *chunk;

    if (evcon == NULL || j->left == 0) {
        evhttp_send_reply_end(j->req); /* frees the request */
        fault_job_end(j);
        return;
    }
    chunk = evbuffer_new();
    if (chunk == NULL)
        return;
    if (j->kind == JOB_TRICKLE) {
        evbuffer_add(chunk, &fault_page[j->left % (sizeof(fault_page) - 1)], 1);
        j->left--;
        evhttp_send_reply_chunk(j->req, chunk);
    } else {
        struct evbuffer *out = bufferevent_get_output(evhttp_connection_get_bufferevent(evcon));
        while (evbuffer_get_length(out) < FAULT_STREAM_HIGH && j->left > 0) {
            size_t n = j->site->stream_block_len;
            if (n > j->left)
                n = (size_t)j->left;
            evbuffer_add_reference(chunk, j->site->stream_block, n, NULL, NULL);
            evhttp_send_reply_chunk(j->req, chunk);
            j->left -= n;
        }
    }
    evbuffer_free(chunk);
}

static void fault_start_body(struct site *s, struct evhttp_request *req, int kind,
                             unsigned long long bytes, long ms)
{
    if (evhttp_request_get_connection(req) == NULL) {
        site_log_request(s, req, 0);
        evhttp_request_free(req);
        return;
    }
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "text/html; charset=utf-8");
    site_log_request(s, req, 200);
    evhttp_send_reply_start(req, 200, "OK");
    struct site_job *j = fault_job_new(s, req, kind, ms, true, fault_on_tick);
    if (j == NULL) {
        evhttp_send_reply_end(req);
        return;
    }
    j->left = bytes;
}

/* ---- simple answers -------------------------------------------------- */

static void fault_page_reply(struct site *s, struct evhttp_request *req, int status,
                             const char *ctype, const char *html)
{
    struct evbuffer *b = evbuffer_new();

    if (ctype)
        evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", ctype);
    if (b)
        evbuffer_add(b, html, strlen(html));
    site_reply(s, req, status, b);
    if (b)
        evbuffer_free(b);
}

static void fault_status(struct site *s, struct evhttp_request *req, int code, struct evkeyvalq *q)
{
    struct evkeyvalq *out = evhttp_request_get_output_headers(req);
    const char *ra = q ? evhttp_find_header(q, "retry-after") : NULL;
    const char *rd = q ? evhttp_find_header(q, "retry-date") : NULL;
    char buf[160];

    if (ra)
        evhttp_add_header(out, "Retry-After", ra);
    if (rd) {
        site_http_date(time(NULL) + strtol(rd, NULL, 10), buf, sizeof(buf));
        evhttp_add_header(out, "Retry-After", buf);
    }
    snprintf(buf, sizeof(buf),
             "<!DOCTYPE html><html><head><title>Status %d</title></head>"
             "<body><h1>Status %d</h1></body></html>\n",
             code, code);
    fault_page_reply(s, req, code, "text/html; charset=utf-8", buf);
}

static void fault_challenge(struct site *s, struct evhttp_request *req)
{
    struct evkeyvalq *out = evhttp_request_get_output_headers(req);

    evhttp_add_header(out, "cf-mitigated", "challenge");
    evhttp_add_header(out, "Cache-Control", "private, max-age=0, no-store");
    fault_page_reply(s, req, 503, "text/html; charset=UTF-8",
                     "<!DOCTYPE html><html lang=\"en-US\"><head><title>Just a moment...</title>"
                     "<meta http-equiv=\"refresh\" content=\"360\"></head><body>"
                     "<div class=\"main-wrapper\" role=\"main\"><div class=\"main-content\">"
                     "<h1 class=\"zone-name-title h1\">www.example.org</h1>"
                     "<h2 class=\"h2\" id=\"challenge-running\">Checking if the site connection "
                     "is secure</h2><noscript><div class=\"h2\">Enable JavaScript and cookies to "
                     "continue</div></noscript></div></div></body></html>\n");
}

static void fault_redirect(struct site *s, struct evhttp_request *req, const char *to, int code)
{
    if (to == NULL || strpbrk(to, "\r\n") != NULL) {
        fault_status(s, req, 400, NULL);
        return;
    }
    evhttp_add_header(evhttp_request_get_output_headers(req), "Location", to);
    fault_page_reply(s, req, code, "text/html; charset=utf-8",
                     "<html><body><p>Moved.</p></body></html>\n");
}

static long fault_num(const char *s, long lo, long hi, long dflt)
{
    char *end;
    long v;

    if (s == NULL || *s == '\0')
        return dflt;
    v = strtol(s, &end, 10);
    if (*end != '\0' && *end != '/')
        return lo - 1;
    return v < lo || v > hi ? lo - 1 : v;
}

void faults_handle(struct site *s, struct evhttp_request *req, const char *path, const char *query)
{
    struct evkeyvalq q;
    const char *f = path + 7; /* after "/fault/" */
    long n, k;

    memset(&q, 0, sizeof(q));
    q.tqh_first = NULL;
    q.tqh_last = &q.tqh_first;
    if (query)
        evhttp_parse_query_str(query, &q);

    if (strncmp(f, "delay/", 6) == 0 && (n = fault_num(f + 6, 0, 120000, -1)) >= 0) {
        site_log_request(s, req, 200);
        if (fault_job_new(s, req, JOB_DELAY, n, false, fault_on_delay) == NULL)
            fault_status(s, req, 500, &q);
    } else if (strncmp(f, "trickle/", 8) == 0 && (n = fault_num(f + 8, 1, 60000, -1)) > 0 &&
               (k = fault_num(evhttp_find_header(&q, "bytes"), 1, 100000, 64)) > 0) {
        fault_start_body(s, req, JOB_TRICKLE, (unsigned long long)k, n);
    } else if (strcmp(f, "chunked-endless") == 0) {
        fault_start_body(s, req, JOB_STREAM, FAULT_STREAM_MAX, 1);
    } else if (strcmp(f, "gzip-bomb") == 0) {
        struct evbuffer *b = evbuffer_new();
        struct evkeyvalq *out = evhttp_request_get_output_headers(req);
        evhttp_add_header(out, "Content-Type", "text/html; charset=utf-8");
        evhttp_add_header(out, "Content-Encoding", "gzip");
        if (b)
            evbuffer_add_reference(b, s->bomb, s->bomb_len, NULL, NULL);
        site_reply(s, req, 200, b);
        if (b)
            evbuffer_free(b);
    } else if (strcmp(f, "encodings") == 0) {
        char enc[256] = "gzip";
        for (int i = 1; i < 20; i++)
            strcat(enc, ", gzip");
        evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Encoding", enc);
        fault_page_reply(s, req, 200, "text/html", "not really compressed\n");
    } else if (strncmp(f, "status/", 7) == 0 && (n = fault_num(f + 7, 200, 599, -1)) > 0) {
        fault_status(s, req, (int)n, &q);
    } else if (strncmp(f, "429/", 4) == 0 && (n = fault_num(f + 4, 0, 1000000, -1)) >= 0) {
        char v[32];
        snprintf(v, sizeof(v), "%ld", n);
        evhttp_add_header(&q, "retry-after", v);
        fault_status(s, req, 429, &q);
    } else if (strncmp(f, "429-date/", 9) == 0 && (n = fault_num(f + 9, 0, 1000000, -1)) >= 0) {
        char v[32];
        snprintf(v, sizeof(v), "%ld", n);
        evhttp_add_header(&q, "retry-date", v);
        fault_status(s, req, 429, &q);
    } else if (strncmp(f, "fail/", 5) == 0 && (n = fault_num(f + 5, 400, 599, -1)) > 0 &&
               strchr(f + 5, '/') && (k = fault_num(strchr(f + 5, '/') + 1, 0, 1000, -1)) >= 0) {
        if (site_count(s, path) <= (unsigned long)k)
            fault_status(s, req, (int)n, &q);
        else
            fault_page_reply(s, req, 200, "text/html; charset=utf-8", fault_page);
    } else if (strncmp(f, "loop", 4) == 0 && (f[4] == '\0' || f[4] == '/')) {
        char to[64];
        n = f[4] ? fault_num(f + 5, 0, 1000000, -1) : 0;
        snprintf(to, sizeof(to), "/fault/loop/%ld", n + 1);
        fault_redirect(s, req, n >= 0 ? to : NULL, 302);
    } else if (strcmp(f, "redirect") == 0) {
        n = fault_num(evhttp_find_header(&q, "code"), 300, 308, 302);
        fault_redirect(s, req, evhttp_find_header(&q, "to"), n > 0 ? (int)n : 302);
    } else if (strcmp(f, "type") == 0) {
        const char *ct = evhttp_find_header(&q, "ct");
        fault_page_reply(s, req, 200, ct && !strpbrk(ct, "\r\n") ? ct : NULL,
                         "<html><body><p>A page of some type.</p></body></html>\n");
    } else if (strcmp(f, "challenge") == 0) {
        fault_challenge(s, req);
    } else if (strncmp(f, "switch/", 7) == 0 && evhttp_find_header(&q, "a") &&
               evhttp_find_header(&q, "b") &&
               (k = fault_num(evhttp_find_header(&q, "after"), 0, 1000000, 1)) >= 0) {
        bool first = site_count(s, path) <= (unsigned long)k;
        site_serve_file(s, req, evhttp_find_header(&q, first ? "a" : "b"));
    } else {
        fault_status(s, req, 404, &q);
    }
    evhttp_clear_headers(&q);
}
