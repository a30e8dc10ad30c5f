/*
 * raw: fakesite's second listener, where replies are written byte by byte
 * because evhttp would not misbehave that way. The request line chooses:
 *
 *   /ok            a correct 200 page, then the connection closes
 *   /reset         Content-Length 100000, 1000 bytes, then a TCP reset
 *                  (SO_LINGER 0)
 *   /truncated     Content-Length 100000, 12 bytes, then a clean close
 *   /overlong      Content-Length 10 and 1,000 bytes more; the connection
 *                  stays open (a client that reused it would read junk)
 *   /garbage       "hello" and a blank line instead of a status line
 *   /huge-headers  2 MB of headers (20,000 X-Pad lines)
 *   anything else  (and anything that is not an HTTP request, such as a
 *                  TLS ClientHello): accepted, read, never answered
 *
 * Every connection is closed at an absolute deadline (60 s); at most 256
 * are open at once (more are closed at accept). Requests are logged like
 * the HTTP port's; silent ones with status 0.
 */
#include "fakesite.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define RAW_MAX_CONNS 256
#define RAW_DEADLINE  60
#define RAW_HEAD_MAX  16384

enum raw_mode {
    RAW_READING, /* waiting for the request head */
    RAW_SILENT,  /* read and drop everything, answer nothing */
    RAW_RESET,   /* once the reply is out: reset */
    RAW_FIN,     /* once the reply is out: shut down writing */
};

struct raw_conn {
    struct site *site;
    struct bufferevent *bev;
    struct event *deadline;
    enum raw_mode mode;
    struct raw_conn *prev, *next;
};

static void raw_close(struct raw_conn *c)
{
    struct site *s = c->site;

    bufferevent_free(c->bev);
    event_free(c->deadline);
    if (c->prev)
        c->prev->next = c->next;
    else
        s->raw_list = c->next;
    if (c->next)
        c->next->prev = c->prev;
    s->raw_conns--;
    free(c);
}

static void raw_on_deadline(evutil_socket_t fd, short what, void *arg)
{
    raw_close(arg);
}

static void raw_on_read(struct bufferevent *bev, void *arg);

static void raw_on_event(struct bufferevent *bev, short what, void *arg)
{
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
        raw_close(arg);
}

/* The whole reply is in the kernel: finish as the mode says. */
static void raw_on_written(struct bufferevent *bev, void *arg)
{
    struct raw_conn *c = arg;
    evutil_socket_t fd = bufferevent_getfd(bev);

    if (c->mode == RAW_RESET) {
        struct linger lg = {1, 0};
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
        raw_close(c);
        return;
    }
    if (c->mode == RAW_FIN)
        shutdown(fd, SHUT_WR);
    c->mode = RAW_SILENT; /* wait for the client to close, or the deadline */
    bufferevent_setcb(bev, raw_on_read, NULL, raw_on_event, c);
    bufferevent_enable(bev, EV_READ);
}

/* The User-Agent value in a request head, copied into out. */
static void raw_user_agent(const char *head, char *out, size_t outlen)
{
    const char *p = head;

    out[0] = '\0';
    while ((p = strstr(p, "\r\n")) != NULL) {
        p += 2;
        if (strncasecmp(p, "User-Agent:", 11) == 0) {
            p += 11;
            while (*p == ' ')
                p++;
            size_t n = strcspn(p, "\r\n");
            if (n >= outlen)
                n = outlen - 1;
            memcpy(out, p, n);
            out[n] = '\0';
            return;
        }
    }
}

static void raw_answer(struct raw_conn *c, const char *path)
{
    struct evbuffer *out = bufferevent_get_output(c->bev);
    static const char page[] = "<!DOCTYPE html><html><head><title>Raw page</title></head>"
                               "<body><p>Plain answer.</p></body></html>\n";
    char filler[1000];

    memset(filler, 'x', sizeof(filler));
    if (strcmp(path, "/ok") == 0) {
        evbuffer_add_printf(out,
                            "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n"
                            "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
                            sizeof(page) - 1, page);
        c->mode = RAW_FIN;
    } else if (strcmp(path, "/reset") == 0) {
        evbuffer_add_printf(out, "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n"
                                 "Content-Length: 100000\r\n\r\n");
        evbuffer_add(out, filler, sizeof(filler));
        c->mode = RAW_RESET;
    } else if (strcmp(path, "/truncated") == 0) {
        evbuffer_add_printf(out, "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n"
                                 "Content-Length: 100000\r\n\r\n<html><body>");
        c->mode = RAW_FIN;
    } else if (strcmp(path, "/overlong") == 0) {
        evbuffer_add_printf(out, "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n"
                                 "Content-Length: 10\r\nConnection: keep-alive\r\n\r\n0123456789");
        evbuffer_add(out, filler, sizeof(filler));
        c->mode = RAW_SILENT;
    } else if (strcmp(path, "/garbage") == 0) {
        evbuffer_add_printf(out, "hello\r\n\r\n");
        c->mode = RAW_FIN;
    } else if (strcmp(path, "/huge-headers") == 0) {
        evbuffer_add_printf(out, "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n");
        evbuffer_add_reference(out, c->site->pad, c->site->pad_len, NULL, NULL);
        evbuffer_add_printf(out, "Content-Length: 5\r\nConnection: close\r\n\r\nhello");
        c->mode = RAW_FIN;
    } else {
        c->mode = RAW_SILENT;
        return;
    }
    bufferevent_setcb(c->bev, raw_on_read, raw_on_written, raw_on_event, c);
    bufferevent_enable(c->bev, EV_WRITE);
}

static void raw_on_read(struct bufferevent *bev, void *arg)
{
    struct raw_conn *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    size_t len = evbuffer_get_length(in);
    unsigned char first;

    if (c->mode != RAW_READING || len == 0) {
        evbuffer_drain(in, len);
        return;
    }
    evbuffer_copyout(in, &first, 1);
    struct evbuffer_ptr end = evbuffer_search(in, "\r\n\r\n", 4, NULL);
    if (first < 'A' || first > 'Z' || (end.pos < 0 && len > RAW_HEAD_MAX)) {
        site_log(c->site, "RAW", "-", 0, false, NULL);
        c->mode = RAW_SILENT;
        evbuffer_drain(in, len);
        return;
    }
    if (end.pos < 0 || (size_t)end.pos > RAW_HEAD_MAX)
        return;

    char *head = malloc((size_t)end.pos + 1);
    char method[16] = "", path[1024] = "", ua[512];
    if (head == NULL)
        return;
    evbuffer_remove(in, head, (size_t)end.pos);
    head[end.pos] = '\0';
    evbuffer_drain(in, evbuffer_get_length(in));
    if (sscanf(head, "%15s %1023s", method, path) != 2)
        strcpy(path, "-");
    raw_user_agent(head, ua, sizeof(ua));
    free(head);
    raw_answer(c, path);
    site_log(c->site, method[0] ? method : "-", path,
             c->mode == RAW_SILENT && strcmp(path, "/overlong") != 0 ? 0 : 200, false, ua);
}

static void raw_on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
                          int salen, void *arg)
{
    struct site *s = arg;
    struct raw_conn *c;
    struct timeval deadline = {RAW_DEADLINE, 0};

    if (s->raw_conns >= RAW_MAX_CONNS || (c = calloc(1, sizeof(*c))) == NULL) {
        close(fd);
        return;
    }
    c->site = s;
    c->bev = bufferevent_socket_new(s->base, fd, BEV_OPT_CLOSE_ON_FREE);
    c->deadline = evtimer_new(s->base, raw_on_deadline, c);
    if (c->bev == NULL || c->deadline == NULL) {
        if (c->bev)
            bufferevent_free(c->bev);
        else
            close(fd);
        if (c->deadline)
            event_free(c->deadline);
        free(c);
        return;
    }
    c->next = s->raw_list;
    if (s->raw_list)
        s->raw_list->prev = c;
    s->raw_list = c;
    s->raw_conns++;
    bufferevent_setcb(c->bev, raw_on_read, NULL, raw_on_event, c);
    bufferevent_enable(c->bev, EV_READ);
    evtimer_add(c->deadline, &deadline);
}

int raw_listen(struct site *s, unsigned port)
{
    struct sockaddr_in sin;
    socklen_t sl = sizeof(sin);

    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sin.sin_port = htons((uint16_t)port);
    s->raw_listener =
        evconnlistener_new_bind(s->base, raw_on_accept, s,
                                LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC,
                                64, (struct sockaddr *)&sin, sizeof(sin));
    if (s->raw_listener == NULL) {
        fprintf(stderr, "fakesite: cannot bind the raw listener\n");
        return -1;
    }
    if (getsockname(evconnlistener_get_fd(s->raw_listener), (struct sockaddr *)&sin, &sl) != 0)
        return -1;
    s->raw_port = ntohs(sin.sin_port);
    return 0;
}

void raw_free(struct site *s)
{
    while (s->raw_list)
        raw_close(s->raw_list);
    if (s->raw_listener)
        evconnlistener_free(s->raw_listener);
    s->raw_listener = NULL;
}
