/*
 * Tests of daemon/control.c: routing, JSON errors, parameter checks, the
 * connection cap, the absolute deadline, header and body caps, streamed
 * replies with a client that goes away, peer credentials, and the socket
 * file rules (stale file replaced, live one refused). A real event loop
 * runs in this process; clients are raw sockets in child processes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "control.h"
#include "strbuf.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct fixture {
    char dir[64];
    char path[128];
    struct event_base *base;
    struct control *ctl;
    int streams_freed;
    int stream_parts;
};

static void h_status(struct control_req *req, void *data)
{
    control_reply_json(req, 200, json_pack("{s:s}", "state", "idle"));
}

static void h_record(struct control_req *req, void *data)
{
    static const char *const allowed[] = {"verbose", NULL};

    if (control_req_check_params(req, allowed) < 0)
        return;
    control_reply_json(req, 200,
                       json_pack("{s:s, s:s?}", "key", control_req_arg(req, 0), "verbose",
                                 control_req_param(req, "verbose")));
}

static void h_harvest(struct control_req *req, void *data)
{
    const char *src = control_req_param(req, "source");

    if (src == NULL) {
        control_reply_error(req, 400, "bad_parameter", "source is required");
        return;
    }
    control_reply_json(req, 202, json_pack("{s:s}", "source", src));
}

struct fd_state {
    struct fixture *fx;
    bool ok;
};

static void stream_free_fd(void *state)
{
    struct fd_state *st = state;

    st->fx->streams_freed++;
    free(st);
}

struct stream_state {
    struct fixture *fx;
    int left;
};

static int stream_more(void *state, struct strbuf *out)
{
    struct stream_state *st = state;

    st->fx->stream_parts++;
    for (int i = 0; i < 100; i++)
        strbuf_addf(out, "{\"n\":%d,\"pad\":\"%0200d\"}\n", st->left * 100 + i, 0);
    return --st->left > 0;
}

static void stream_free(void *state)
{
    struct stream_state *st = state;

    st->fx->streams_freed++;
    free(st);
}

static void h_export(struct control_req *req, void *data)
{
    struct fixture *fx = data;
    struct stream_state *st = calloc(1, sizeof(*st));
    const char *n = control_req_param(req, "parts");

    st->fx = fx;
    st->left = n ? atoi(n) : 3;
    control_reply_stream(req, "application/x-ndjson", stream_more, st, stream_free);
}

static bool fd_eof_ok(void *state)
{
    return ((struct fd_state *)state)->ok;
}

/* A pipe fed by a child process stands for the export thread. */
static void h_pipe(struct control_req *req, void *data)
{
    struct fixture *fx = data;
    struct fd_state *st = calloc(1, sizeof(*st));
    const char *mode = control_req_param(req, "mode");
    int pfd[2];
    pid_t pid;

    st->fx = fx;
    st->ok = mode == NULL || strcmp(mode, "fail") != 0;
    assert_int_equal(pipe(pfd), 0);
    pid = fork();
    if (pid == 0) {
        char line[64];
        close(pfd[0]);
        signal(SIGPIPE, SIG_DFL);
        for (int i = 0; i < 3000; i++) {
            int n = snprintf(line, sizeof(line), "line %d\n", i);
            if (write(pfd[1], line, (size_t)n) != n)
                _exit(1);
        }
        _exit(0);
    }
    close(pfd[1]);
    control_reply_fd(req, "text/plain", pfd[0], fd_eof_ok, stream_free_fd, st);
    waitpid(pid, NULL, WNOHANG);
}

static const struct control_route routes[] = {
    {"GET", "/v1/pipe", h_pipe},         {"GET", "/v1/status", h_status},
    {"GET", "/v1/records/{}", h_record}, {"POST", "/v1/harvest", h_harvest},
    {"GET", "/v1/export", h_export},     {NULL, NULL, NULL},
};

static struct control_options fixture_opts(struct fixture *fx)
{
    struct control_options o = {
        .path = fx->path,
        .listen_fd = -1,
        .mode = 0660,
        .max_connections = 8,
        .deadline_ms = 1500,
        .max_headers = 8192,
        .max_body = 65536,
    };
    return o;
}

static int setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof(*fx));
    struct control_options o;
    char err[256];

    strcpy(fx->dir, "/tmp/provd-control-XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    snprintf(fx->path, sizeof(fx->path), "%s/provd.sock", fx->dir);
    fx->base = event_base_new();
    o = fixture_opts(fx);
    fx->ctl = control_new(fx->base, &o, routes, fx, err, sizeof(err));
    if (fx->ctl == NULL)
        fail_msg("control_new: %s", err);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;

    control_free(fx->ctl);
    event_base_free(fx->base);
    rmdir(fx->dir);
    free(fx);
    return 0;
}

/* Run the loop until the child exits (at most 20 s); its exit status. */
static int run_until_child(struct fixture *fx, pid_t pid)
{
    int status = -1;

    for (int i = 0; i < 2000; i++) {
        struct timeval tv = {0, 10000};
        pid_t r;

        event_base_loopexit(fx->base, &tv);
        event_base_dispatch(fx->base);
        r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            return WIFEXITED(status) ? WEXITSTATUS(status) : 100 + WTERMSIG(status);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    return -1;
}

static int client_connect(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);

    strcpy(sa.sun_path, path);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Send request, read the whole answer (until close or timeout_ms) into
 * buf; returns bytes read. */
static size_t client_exchange(const char *path, const char *request, size_t reqlen, char *buf,
                              size_t cap, int timeout_ms)
{
    int fd = client_connect(path);
    size_t got = 0;

    if (fd < 0)
        return 0;
    if (reqlen && write(fd, request, reqlen) < 0) {
        close(fd);
        return 0;
    }
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        ssize_t n;

        if (poll(&p, 1, timeout_ms) <= 0)
            break;
        n = read(fd, buf + got, cap - 1 - got);
        if (n <= 0)
            break;
        got += (size_t)n;
        if (got == cap - 1)
            break;
    }
    buf[got] = '\0';
    close(fd);
    return got;
}

/* In a child: one request; exit 0 when the answer contains every needle. */
static void child_expect(const char *path, const char *request, const char *const *needles)
{
    static char buf[1 << 20];

    client_exchange(path, request, strlen(request), buf, sizeof(buf), 3000);
    for (size_t i = 0; needles[i]; i++) {
        if (strstr(buf, needles[i]) == NULL) {
            fprintf(stderr, "missing \"%s\" in answer:\n%.400s\n", needles[i], buf);
            _exit(1);
        }
    }
    _exit(0);
}

static void expect(struct fixture *fx, const char *request, const char *const *needles)
{
    pid_t pid = fork();

    if (pid == 0)
        child_expect(fx->path, request, needles);
    assert_int_equal(run_until_child(fx, pid), 0);
}

static void test_routes_and_errors(void **state)
{
    struct fixture *fx = *state;
    static const struct {
        const char *request;
        const char *needles[4];
    } cases[] = {
        /* Garbage (S8) is answered 400 or closed; the next case shows the
         * server still answers. */
        {"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n", {NULL}},
        {"GET /v1/status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
         {"HTTP/1.1 200", "application/json", "{\"state\":\"idle\"}", NULL}},
        {"GET /v1/records/121885?verbose=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
         {"200", "\"key\":\"121885\"", "\"verbose\":\"1\"", NULL}},
        {"GET /v1/records/a%20b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
         {"200", "\"key\":\"a b\"", NULL}},
        {"GET /v1/records/x?bogus=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
         {"400", "unknown parameter", NULL}},
        {"GET /v1/records/x?verbose=1&verbose=2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
         {"400", "repeated", NULL}},
        {"GET /v1/records/x?verbose=%00 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
         {"400", "\"error\":\"bad_request\"", NULL}},
        {"GET /v1/records/x?verbose=%ff%fe HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
         {"400", "bad_request", NULL}},
        {"GET /v1/nothing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
         {"404", "\"error\":\"not_found\"", NULL}},
        {"POST /v1/status HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
         {"405", "method_not_allowed", NULL}},
        {"DELETE /v1/status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", {"405", NULL}},
        {"TRACE /v1/status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", {"405", NULL}},
        {"POST /v1/harvest HTTP/1.1\r\nHost: x\r\nContent-Type: "
         "application/x-www-form-urlencoded\r\nContent-Length: 11\r\nConnection: "
         "close\r\n\r\nsource=demo",
         {"202", "\"source\":\"demo\"", NULL}},
        {"POST /v1/harvest?source=q HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: "
         "close\r\n\r\n",
         {"202", "\"source\":\"q\"", NULL}},
        {"POST /v1/harvest HTTP/1.1\r\nHost: x\r\nContent-Length: 200000\r\nConnection: "
         "close\r\n\r\n",
         {"413", NULL}},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        expect(fx, cases[i].request, cases[i].needles);
}

static void test_fd_stream(void **state)
{
    struct fixture *fx = *state;
    static const char *const whole[] = {"200", "line 0\n", "line 2999\n", "\r\n0\r\n\r\n", NULL};
    pid_t pid;

    expect(fx, "GET /v1/pipe HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", whole);
    /* A failed producer: the body ends without the closing chunk. */
    pid = fork();
    if (pid == 0) {
        static char buf[1 << 16];
        const char *rq = "GET /v1/pipe?mode=fail HTTP/1.1\r\nHost: x\r\n\r\n";
        size_t n = client_exchange(fx->path, rq, strlen(rq), buf, sizeof(buf), 3000);
        _exit(n > 0 && strstr(buf, "line 2999\n") && !strstr(buf, "\r\n0\r\n\r\n") ? 0 : 1);
    }
    assert_int_equal(run_until_child(fx, pid), 0);
    for (int i = 0; i < 100 && fx->streams_freed < 2; i++) {
        struct timeval tv = {0, 10000};
        event_base_loopexit(fx->base, &tv);
        event_base_dispatch(fx->base);
    }
    assert_int_equal(fx->streams_freed, 2);
}

static void test_header_cap(void **state)
{
    struct fixture *fx = *state;
    struct strbuf b = STRBUF_INIT;
    static const char *const needles[] = {"HTTP/1.1 4", NULL};

    strbuf_adds(&b, "GET /v1/status HTTP/1.1\r\nHost: x\r\n");
    for (int i = 0; i < 1000; i++)
        strbuf_addf(&b, "X-Pad-%d: %020d\r\n", i, i);
    strbuf_adds(&b, "\r\n");
    expect(fx, b.s, needles);
    strbuf_release(&b);
}

static void test_stream_and_disconnect(void **state)
{
    struct fixture *fx = *state;
    static const char *const full[] = {"200", "Transfer-Encoding: chunked", "\"n\":100", NULL};
    pid_t pid;

    expect(fx, "GET /v1/export?parts=3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", full);
    assert_int_equal(fx->streams_freed, 1);

    /* A client that reads the headers and goes away mid-stream: the state
     * is freed, nothing leaks, the server keeps answering. */
    pid = fork();
    if (pid == 0) {
        int fd = client_connect(fx->path);
        char buf[512];
        const char *rq = "GET /v1/export?parts=100000 HTTP/1.1\r\nHost: x\r\n\r\n";

        if (fd < 0 || write(fd, rq, strlen(rq)) < 0 || read(fd, buf, sizeof(buf)) <= 0)
            _exit(1);
        _exit(0);
    }
    assert_int_equal(run_until_child(fx, pid), 0);
    for (int i = 0; i < 200 && fx->streams_freed < 2; i++) {
        struct timeval tv = {0, 10000};
        event_base_loopexit(fx->base, &tv);
        event_base_dispatch(fx->base);
    }
    assert_int_equal(fx->streams_freed, 2);
    assert_true(fx->stream_parts < 100000);
    {
        static const char *const ok[] = {"200", NULL};
        expect(fx, "GET /v1/status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", ok);
    }
}

static void test_deadline_and_cap(void **state)
{
    struct fixture *fx = *state;
    int fds[12];
    pid_t pid;
    time_t start = time(NULL);

    /* 12 idle connections (slowloris that never finishes its headers):
     * the first 8 count against the cap, the rest are over it. */
    for (int i = 0; i < 12; i++) {
        fds[i] = client_connect(fx->path);
        assert_true(fds[i] >= 0);
        assert_int_equal(write(fds[i], "GET /v1/st", 10), 10);
    }
    for (int i = 0; i < 20; i++) {
        struct timeval tv = {0, 10000};
        event_base_loopexit(fx->base, &tv);
        event_base_dispatch(fx->base);
    }
    assert_int_equal(control_connections(fx->ctl), 12);

    /* Over the cap: a complete request gets 503 at once. */
    pid = fork();
    if (pid == 0) {
        static const char *const busy[] = {"503", "Retry-After", NULL};
        child_expect(fx->path, "GET /v1/status HTTP/1.1\r\nHost: x\r\n\r\n", busy);
    }
    assert_int_equal(run_until_child(fx, pid), 0);

    /* The absolute deadline (1.5 s) closes every idle connection. */
    while (control_connections(fx->ctl) > 0 && time(NULL) - start < 10) {
        struct timeval tv = {0, 50000};
        event_base_loopexit(fx->base, &tv);
        event_base_dispatch(fx->base);
    }
    assert_int_equal(control_connections(fx->ctl), 0);
    for (int i = 0; i < 12; i++) {
        char c;
        assert_true(read(fds[i], &c, 1) <= 0 || c == 'H');
        close(fds[i]);
    }
    {
        static const char *const ok[] = {"200", NULL};
        expect(fx, "GET /v1/status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", ok);
    }
}

static void test_socket_file_rules(void **state)
{
    struct fixture *fx = *state;
    struct control_options o = fixture_opts(fx);
    struct control *second;
    struct stat st;
    char err[256];

    /* A live server owns the path: a second one is refused. */
    second = control_new(fx->base, &o, routes, fx, err, sizeof(err));
    assert_null(second);
    assert_non_null(strstr(err, "another process is listening"));

    /* Mode is applied. */
    assert_int_equal(stat(fx->path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0660);

    /* A stale socket file (nothing listens) is replaced. */
    control_free(fx->ctl);
    fx->ctl = NULL;
    {
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        int fd = socket(AF_UNIX, SOCK_STREAM, 0);
        strcpy(sa.sun_path, fx->path);
        assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        close(fd);
    }
    fx->ctl = control_new(fx->base, &o, routes, fx, err, sizeof(err));
    assert_non_null(fx->ctl);

    /* A regular file in the way is not removed. */
    {
        char other[160];
        struct control_options o2 = o;
        int fd;

        snprintf(other, sizeof(other), "%s/not-a-socket", fx->dir);
        fd = open(other, O_CREAT | O_WRONLY, 0600);
        close(fd);
        o2.path = other;
        assert_null(control_new(fx->base, &o2, routes, fx, err, sizeof(err)));
        assert_non_null(strstr(err, "not a socket"));
        assert_int_equal(unlink(other), 0);
    }

    /* A directory writable by others is refused. */
    {
        char dir[160], path[200];
        struct control_options o3 = o;

        snprintf(dir, sizeof(dir), "%s/open", fx->dir);
        assert_int_equal(mkdir(dir, 0777), 0);
        assert_int_equal(chmod(dir, 0777), 0);
        snprintf(path, sizeof(path), "%s/provd.sock", dir);
        o3.path = path;
        assert_null(control_new(fx->base, &o3, routes, fx, err, sizeof(err)));
        assert_non_null(strstr(err, "writable by others"));
        rmdir(dir);
    }
}

static void test_peer_credentials(void **state)
{
    struct fixture *fx = *state;
    pid_t pid;

    if (getuid() != 0)
        skip(); /* needs root to act as another user; CI runs as root */
    /* Make the socket reachable for uid 65534 (as if its mode were wrongly
     * 0666): the peer check must still refuse it. */
    assert_int_equal(chmod(fx->dir, 0755), 0);
    assert_int_equal(chmod(fx->path, 0666), 0);
    pid = fork();
    if (pid == 0) {
        static const char *const denied[] = {"403", "forbidden", NULL};
        if (setgroups(0, NULL) < 0 || setgid(65534) < 0 || setuid(65534) < 0)
            _exit(2);
        child_expect(fx->path, "GET /v1/status HTTP/1.1\r\nHost: x\r\n\r\n", denied);
    }
    assert_int_equal(run_until_child(fx, pid), 0);
    /* A member of our group through a supplementary group is allowed, as
     * the socket's group permission lets it in. */
    pid = fork();
    if (pid == 0) {
        static const char *const ok[] = {"200", NULL};
        gid_t ours = getgid();

        if (setgroups(1, &ours) < 0 || setgid(65534) < 0 || setuid(65534) < 0)
            _exit(2);
        child_expect(fx->path, "GET /v1/status HTTP/1.1\r\nHost: x\r\n\r\n", ok);
    }
    assert_int_equal(run_until_child(fx, pid), 0);
    /* With the right mode (0660, owner root) the same user cannot even
     * connect. */
    assert_int_equal(chmod(fx->path, 0660), 0);
    pid = fork();
    if (pid == 0) {
        if (setgroups(0, NULL) < 0 || setgid(65534) < 0 || setuid(65534) < 0)
            _exit(2);
        _exit(client_connect(fx->path) < 0 && errno == EACCES ? 0 : 1);
    }
    assert_int_equal(run_until_child(fx, pid), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_routes_and_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_header_cap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fd_stream, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stream_and_disconnect, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deadline_and_cap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_socket_file_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(test_peer_credentials, setup, teardown),
    };

    signal(SIGPIPE, SIG_IGN);
    if (getenv("TEST_FILTER"))
        cmocka_set_test_filter(getenv("TEST_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
