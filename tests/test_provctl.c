/*
 * Tests of provctl, the command-line client: the real binary (found
 * through $PROVCTL, else $PROVD_BUILD_ROOT/daemon/provctl) runs as a child
 * process against a fake provd made in this process from daemon/control.c
 * with canned handlers that answer in the shapes of docs/API.md and keep
 * what they were asked. Covered: every command's table and --json output,
 * the parameters sent, error answers and their exit statuses (404 -> 4,
 * 429 -> 1, 503 -> 69), a missing or dead socket (exit 3 and the "is provd
 * running?" message), harvest --wait through queued -> running -> done
 * and -> failed and its --timeout, export streaming (memory that does not
 * grow with the stream, a stream cut short), search --all following
 * cursors, the socket taken from $PROVD_SOCKET and from -c, usage errors,
 * and the offline `extract` on the saved pages of tests/data/pages (their
 * expected JSON), on a missing file, and on URLs served by a local HTTP
 * server.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "control.h"
#include "strbuf.h"

#include <dirent.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef SOURCE_ROOT
#define SOURCE_ROOT "."
#endif

/* ---- canned answers ------------------------------------------------- */

#define RUN_COUNTERS                                                                               \
    "\"counters\":{\"discovered\":4,\"fetched\":3,\"new\":2,\"changed\":1,\"unchanged\":0,"        \
    "\"not_modified\":0,\"skipped\":0,\"gone\":0,\"failed\":1,"                                    \
    "\"failed_by_category\":{\"HTTP_5XX\":1}}"

static const char status_json[] =
    "{\"version\":\"0.1.0\",\"pid\":4242,\"started\":\"2026-11-25T12:00:00Z\","
    "\"state\":\"running\",\"status_line\":\"harvesting wilson, 120/400\","
    "\"catalog\":{\"database\":\"/var/lib/provd/catalog.db\",\"records\":16001,"
    "\"active\":15990,\"gone\":11},"
    "\"runs\":[{\"run_id\":12,\"source\":\"wilson\",\"trigger\":\"manual\","
    "\"state\":\"running\",\"started\":\"2026-11-25T12:00:00Z\",\"ended\":null,"
    "\"progress\":{\"done\":120,\"total\":400}," RUN_COUNTERS ",\"error\":null}],"
    "\"recent_errors\":[{\"url\":\"https://archive.example/document/7\","
    "\"category\":\"HTTP_5XX\",\"message\":\"HTTP 503 from the server\","
    "\"at\":\"2026-11-25T12:01:00Z\"}]}";

static const char sources_json[] =
    "{\"sources\":[{\"name\":\"wilson\",\"profile\":\"wilson\",\"enabled\":true,"
    "\"discovery\":[\"listing\"],\"interval_ms\":86400000,\"delay_ms\":5000,"
    "\"concurrency\":1,\"recheck_ms\":2592000000,\"state\":\"idle\",\"run_id\":null,"
    "\"next_run\":\"2026-11-26T03:12:09Z\",\"last_run\":{\"run_id\":11,"
    "\"source\":\"wilson\",\"trigger\":\"schedule\",\"state\":\"done\","
    "\"started\":\"2026-11-25T03:00:00Z\",\"ended\":\"2026-11-25T04:00:00Z\","
    "\"progress\":{\"done\":4,\"total\":4}," RUN_COUNTERS ",\"error\":null}},"
    "{\"name\":\"demo\",\"profile\":\"wilson\",\"enabled\":false,"
    "\"discovery\":[\"urls\"],\"interval_ms\":3600000,\"delay_ms\":0,"
    "\"concurrency\":2,\"recheck_ms\":86400000,\"state\":\"idle\",\"run_id\":null,"
    "\"next_run\":null,\"last_run\":null}]}";

#define REC_CATALOG(key, status)                                                                   \
    "\"key\":\"" key "\",\"source_name\":\"wilson\",\"status\":\"" status "\","                    \
    "\"first_seen\":\"2026-11-20T10:00:00Z\",\"last_seen\":\"2026-11-25T10:00:00Z\","              \
    "\"versions\":2"

#define REC1_FIELDS                                                                                \
    "\"url\":\"https://archive.example/document/300101\",\"record_id\":\"300101\","                \
    "\"title\":\"Telegram from Molotov to the Soviet Ambassador in Ankara\","                      \
    "\"date\":\"April 19, 1941\",\"date_iso\":\"1941-04-19\","                                     \
    "\"summary\":\"Molotov instructs the ambassador to raise transit through the Straits.\","      \
    "\"type\":\"Telegram\",\"languages\":[\"Russian\"],"                                           \
    "\"original_archives\":[\"RGASPI\"],\"classification\":\"Top Secret\","                        \
    "\"uploaded\":\"2011-11-20\",\"funders\":[\"Leon Levy Foundation\"],"                          \
    "\"subjects\":[\"Turkish Straits\"],\"people\":[\"Molotov, Vyacheslav\"],"                     \
    "\"places\":[\"Turkey\"],"                                                                     \
    "\"source\":\"RGASPI f.17 op.162 d.34, l. 24. Translated by Gary Goldberg.\","                 \
    "\"citations\":[{\"archive\":\"RGASPI\",\"fund\":\"17\",\"inventory\":\"162\","                \
    "\"folder\":null,\"file\":\"34\",\"sheets\":\"24\","                                           \
    "\"text\":\"RGASPI f.17 op.162 d.34, l. 24.\"}],"                                              \
    "\"contributors\":[\"Jamil Hasanli\"],\"translators\":[\"Gary Goldberg\"]"

static const char rec1[] = "{" REC1_FIELDS "," REC_CATALOG("300101", "active") "}";

/* A long title (cut in tables) with a control character that must not
 * reach the terminal. */
static const char rec2[] =
    "{\"url\":\"https://archive.example/document/300102\",\"record_id\":\"300102\","
    "\"title\":\"Record of a Conversation between the Minister of Foreign Affairs and the "
    "Ambassador\\u001b[31m of the People's Republic on the Question of the Border Rivers and "
    "the Joint Commission\","
    "\"date\":\"1958\",\"date_iso\":\"1958\",\"summary\":null,\"type\":null,"
    "\"languages\":[],\"original_archives\":[],\"classification\":null,\"uploaded\":null,"
    "\"funders\":[],\"subjects\":[],\"people\":[],\"places\":[],\"source\":null,"
    "\"citations\":[],\"contributors\":[],\"translators\":[]," REC_CATALOG("300102", "gone") "}";

static const char rec3[] =
    "{\"url\":\"https://archive.example/document/300103\",\"record_id\":\"300103\","
    "\"title\":\"Report on Deliveries\",\"date\":\"March 1946\",\"date_iso\":\"1946-03\","
    "\"summary\":null,\"type\":\"Report\",\"languages\":[],\"original_archives\":[],"
    "\"classification\":null,\"uploaded\":null,\"funders\":[],\"subjects\":[],\"people\":[],"
    "\"places\":[],\"source\":\"RGANI f. 89, op. 46, d. 12, ll. 3-9; GARF f. R-9401.\","
    "\"citations\":[{\"archive\":\"RGANI\",\"fund\":\"89\",\"inventory\":\"46\","
    "\"folder\":null,\"file\":\"12\",\"sheets\":\"3-9\",\"text\":\"RGANI f. 89, op. 46, d. 12, "
    "ll. 3-9\"},{\"archive\":\"GARF\",\"fund\":\"R-9401\",\"inventory\":null,\"folder\":null,"
    "\"file\":null,\"sheets\":null,\"text\":\"GARF f. R-9401.\"}],"
    "\"contributors\":[],\"translators\":[]," REC_CATALOG("300103", "active") "}";

static const char detail1[] =
    "{" REC1_FIELDS "," REC_CATALOG("300101", "active") ",\"text\":\"To the Ambassador.\","
                                                        "\"urls\":[\"https://archive.example/"
                                                        "document/300101\",\"https://"
                                                        "archive.example/document/"
                                                        "telegram-from-molotov\"],"
                                                        "\"same_document\":[{\"source_name\":"
                                                        "\"wilson\",\"key\":\"300109\","
                                                        "\"title\":\"Another copy of the "
                                                        "telegram\"}]}";

static const char history1[] =
    "{\"source_name\":\"wilson\",\"key\":\"300101\",\"versions\":["
    "{\"version\":1,\"at\":\"2026-11-20T10:00:00Z\",\"run\":5,\"event\":\"created\","
    "\"changes\":[]},"
    "{\"version\":2,\"at\":\"2026-11-25T10:00:00Z\",\"run\":7,\"event\":\"changed\","
    "\"changes\":[{\"field\":\"title\",\"old\":\"Telegram from Molotov\","
    "\"new\":\"Telegram from Molotov to the Soviet Ambassador in Ankara\"},"
    "{\"field\":\"languages\",\"old\":[\"Russian\"],\"new\":[\"Russian\",\"English\"]},"
    "{\"field\":\"classification\",\"old\":null,\"new\":\"Top Secret\"}]}]}";

/* ---- the fake daemon ------------------------------------------------ */

struct fixture {
    char dir[64];
    char sock[128];
    struct event_base *base;
    struct control *ctl;
    char provctl[4096];

    /* what the handlers saw */
    struct strbuf records_queries; /* one line of parameters per request */
    struct strbuf harvest_forms;
    char last_key[256];
    int run_polls[128];
    int export_requests;

    bool tty_err; /* run provctl with stderr on a pseudo-terminal */

    /* the local web site for extract */
    struct evhttp *site;
    unsigned site_port;
};

static void reply_canned(struct control_req *req, int status, const char *text)
{
    json_error_t e;
    json_t *o = json_loads(text, 0, &e);

    if (o == NULL)
        fail_msg("canned JSON does not parse: %s at %d", e.text, e.position);
    control_reply_json(req, status, o);
}

static void h_status(struct control_req *req, void *data)
{
    reply_canned(req, 200, status_json);
}

static void h_sources(struct control_req *req, void *data)
{
    reply_canned(req, 200, sources_json);
}

static const char *const filter_names[] = {
    "archive",     "fund",       "inventory", "folder", "file",   "sheet",
    "contributor", "translator", "since",     "until",  "status", "source",
    "q",           "limit",      "cursor",    "format", NULL,
};

/* "name=value;" for every parameter set, in table order. */
static void note_params(struct control_req *req, struct strbuf *b)
{
    for (size_t i = 0; filter_names[i]; i++) {
        const char *v = control_req_param(req, filter_names[i]);

        if (v)
            strbuf_addf(b, "%s=%s;", filter_names[i], v);
    }
    strbuf_addc(b, '\n');
}

static void h_records(struct control_req *req, void *data)
{
    struct fixture *fx = data;
    const char *cursor = control_req_param(req, "cursor");
    char buf[8192];

    if (control_req_check_params(req, filter_names) < 0)
        return;
    note_params(req, &fx->records_queries);
    if (cursor == NULL)
        snprintf(buf, sizeof(buf), "{\"records\":[%s,%s],\"next\":\"p2 & more\"}", rec1, rec2);
    else if (strcmp(cursor, "p2 & more") == 0)
        snprintf(buf, sizeof(buf), "{\"records\":[%s],\"next\":null}", rec3);
    else {
        control_reply_error(req, 400, "bad_parameter", "bad cursor");
        return;
    }
    reply_canned(req, 200, buf);
}

static void h_record(struct control_req *req, void *data)
{
    struct fixture *fx = data;
    const char *key = control_req_arg(req, 0);

    snprintf(fx->last_key, sizeof(fx->last_key), "%s|%s", key,
             control_req_param(req, "source") ? control_req_param(req, "source") : "");
    if (strcmp(key, "300101") == 0 || strcmp(key, "https://archive.example/doc?id=5&x=/y") == 0)
        reply_canned(req, 200, detail1);
    else if (strcmp(key, "busy") == 0)
        control_reply_error(req, 503, "query_budget", "the query ran over its time budget");
    else
        control_reply_error(req, 404, "unknown_record", "no record '%s'", key);
}

static void h_history(struct control_req *req, void *data)
{
    struct fixture *fx = data;
    const char *key = control_req_arg(req, 0);

    snprintf(fx->last_key, sizeof(fx->last_key), "%s|history", key);
    if (strcmp(key, "300101") == 0)
        reply_canned(req, 200, history1);
    else
        control_reply_error(req, 404, "unknown_record", "no record '%s'", key);
}

#define RUN_FMT                                                                                    \
    "{\"run_id\":%d,\"source\":\"%s\",\"trigger\":\"manual\",\"state\":\"%s\","                    \
    "\"started\":\"2026-11-25T12:00:00Z\",\"ended\":%s,"                                           \
    "\"progress\":{\"done\":%d,\"total\":%d}," RUN_COUNTERS ",\"error\":%s}"

static void h_run(struct control_req *req, void *data)
{
    struct fixture *fx = data;
    int id = atoi(control_req_arg(req, 0));
    const char *src = "wilson", *state = "running", *ended = "null", *error = "null";
    int done = 0, total = 4, n;
    char buf[2048];

    if (id <= 0 || id >= 128) {
        control_reply_error(req, 404, "unknown_run", "no run %d", id);
        return;
    }
    n = ++fx->run_polls[id];
    switch (id) {
    case 12: /* queued, running 1/4, running 3/4, done */
        state = n == 1 ? "queued" : n < 4 ? "running" : "done";
        done = n == 1 ? 0 : n == 2 ? 1 : n == 3 ? 3 : 4;
        break;
    case 13: /* one page */
    case 15:
        state = "done";
        done = total = 1;
        src = id == 15 ? "demo" : "wilson";
        break;
    case 14: /* running, then failed */
        src = "failing";
        state = n < 2 ? "running" : "failed";
        done = 1;
        if (n >= 2)
            error = "\"the listing page answered HTTP 500 three times\"";
        break;
    case 99: /* never ends */
        src = "slow";
        done = 5;
        total = 10;
        break;
    default:
        control_reply_error(req, 404, "unknown_run", "no run %d", id);
        return;
    }
    if (strcmp(state, "done") == 0 || strcmp(state, "failed") == 0)
        ended = "\"2026-11-25T12:05:00Z\"";
    snprintf(buf, sizeof(buf), RUN_FMT, id, src, state, ended, done, total, error);
    reply_canned(req, 200, buf);
}

static void h_harvest(struct control_req *req, void *data)
{
    struct fixture *fx = data;
    const char *src = control_req_param(req, "source");
    const char *url = control_req_param(req, "url");

    strbuf_addf(&fx->harvest_forms, "source=%s;url=%s\n", src ? src : "", url ? url : "");
    if (url) {
        char buf[1024];

        snprintf(buf, sizeof(buf),
                 "{\"run_id\":13,\"state\":\"running\",\"source\":\"wilson\",\"url\":\"%s\"}", url);
        reply_canned(req, 202, buf);
    } else if (src == NULL) {
        reply_canned(req, 202,
                     "{\"runs\":[{\"run_id\":12,\"state\":\"queued\",\"source\":\"wilson\","
                     "\"url\":null},{\"run_id\":15,\"state\":\"merged\",\"source\":\"demo\","
                     "\"url\":null}]}");
    } else if (strcmp(src, "wilson") == 0) {
        reply_canned(req, 202,
                     "{\"run_id\":12,\"state\":\"queued\",\"source\":\"wilson\",\"url\":null}");
    } else if (strcmp(src, "failing") == 0) {
        reply_canned(req, 202,
                     "{\"run_id\":14,\"state\":\"running\",\"source\":\"failing\",\"url\":null}");
    } else if (strcmp(src, "slow") == 0) {
        reply_canned(req, 202,
                     "{\"run_id\":99,\"state\":\"running\",\"source\":\"slow\",\"url\":null}");
    } else if (strcmp(src, "busy") == 0) {
        control_reply_error(req, 429, "cooldown",
                            "source busy was harvested on request 18s ago; wait 42s more");
    } else {
        control_reply_error(req, 404, "unknown_source", "no source named '%s'", src);
    }
}

struct export_state {
    int left; /* parts still to send */
    int cut;  /* fail after this many parts (0: never) */
    int sent;
    bool csv;
};

/* 64 KiB of JSON Lines (or CSV rows) a part. */
static int export_more(void *state, struct strbuf *out)
{
    struct export_state *st = state;

    if (st->cut && st->sent == st->cut)
        return -EIO;
    if (st->csv && st->sent == 0)
        strbuf_adds(out, "key,title\r\n");
    for (int i = 0; i < 256; i++) {
        if (st->csv)
            strbuf_addf(out, "%d,\"Title %d, with a comma\"\r\n", st->sent * 256 + i, i);
        else
            strbuf_addf(out, "{\"key\":\"%08d\",\"pad\":\"%0228d\"}\n", st->sent * 256 + i, 0);
    }
    st->sent++;
    return --st->left > 0;
}

static void h_export(struct control_req *req, void *data)
{
    struct fixture *fx = data;
    struct export_state *st = calloc(1, sizeof(*st));
    const char *src = control_req_param(req, "source");
    const char *fmt = control_req_param(req, "format");

    fx->export_requests++;
    note_params(req, &fx->records_queries);
    st->left = 4;
    if (src && strcmp(src, "big") == 0)
        st->left = 512; /* 32 MiB */
    if (src && strcmp(src, "cut") == 0) {
        st->left = 100;
        st->cut = 3;
    }
    st->csv = fmt && strcmp(fmt, "csv") == 0;
    control_reply_stream(req, st->csv ? "text/csv" : "application/x-ndjson", export_more, st, free);
}

static const struct control_route routes[] = {
    {"GET", "/v1/status", h_status},
    {"GET", "/v1/sources", h_sources},
    {"POST", "/v1/harvest", h_harvest},
    {"GET", "/v1/runs/{}", h_run},
    {"GET", "/v1/records", h_records},
    {"GET", "/v1/records/{}", h_record},
    {"GET", "/v1/records/{}/history", h_history},
    {"GET", "/v1/export", h_export},
    {NULL, NULL, NULL},
};

/* The local web site for `extract URL`: /page.html is a saved page,
 * anything else is 404. */
static void site_cb(struct evhttp_request *req, void *arg)
{
    const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
    struct evbuffer *b = evbuffer_new();
    char file[512];
    FILE *f;

    snprintf(file, sizeof(file), "%s/tests/data/pages/rgaspi-telegram.html",
             getenv("PROVD_SOURCE_ROOT") ? getenv("PROVD_SOURCE_ROOT") : SOURCE_ROOT);
    if (path && strcmp(path, "/page.html") == 0 && (f = fopen(file, "rb")) != NULL) {
        char chunk[4096];
        size_t n;

        while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
            evbuffer_add(b, chunk, n);
        fclose(f);
        evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                          "text/html; charset=utf-8");
        evhttp_send_reply(req, 200, "OK", b);
    } else {
        evbuffer_add_printf(b, "not here\n");
        evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "text/plain");
        evhttp_send_reply(req, 404, "Not Found", b);
    }
    evbuffer_free(b);
}

static int setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof(*fx));
    struct control_options o = {
        .listen_fd = -1,
        .mode = 0600,
        .max_connections = 16,
        .deadline_ms = 10000,
        .max_headers = 8192,
        .max_body = 65536,
    };
    const char *bin = getenv("PROVCTL"), *build = getenv("PROVD_BUILD_ROOT");
    struct evhttp_bound_socket *bound;
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);
    char err[256];

    if (bin && *bin)
        snprintf(fx->provctl, sizeof(fx->provctl), "%s", bin);
    else
        snprintf(fx->provctl, sizeof(fx->provctl), "%s/daemon/provctl", build ? build : ".");
    if (access(fx->provctl, X_OK) != 0)
        fail_msg("no provctl at %s (set PROVCTL or PROVD_BUILD_ROOT)", fx->provctl);
    strcpy(fx->dir, "/tmp/provd-provctl-XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    snprintf(fx->sock, sizeof(fx->sock), "%s/provd.sock", fx->dir);
    fx->base = event_base_new();
    o.path = fx->sock;
    fx->ctl = control_new(fx->base, &o, routes, fx, err, sizeof(err));
    if (fx->ctl == NULL)
        fail_msg("control_new: %s", err);
    fx->site = evhttp_new(fx->base);
    evhttp_set_gencb(fx->site, site_cb, fx);
    bound = evhttp_bind_socket_with_handle(fx->site, "127.0.0.1", 0);
    assert_non_null(bound);
    assert_int_equal(getsockname(evhttp_bound_socket_get_fd(bound), (struct sockaddr *)&sa, &len),
                     0);
    fx->site_port = ntohs(sa.sin_port);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    char cmd[128];

    evhttp_free(fx->site);
    control_free(fx->ctl);
    event_base_free(fx->base);
    strbuf_release(&fx->records_queries);
    strbuf_release(&fx->harvest_forms);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fx->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", fx->dir);
    free(fx);
    return 0;
}

/* ---- running provctl ------------------------------------------------ */

struct result {
    int status; /* exit status, 100 + signal, or -1 when it had to be killed */
    char *out, *err;
    size_t out_len;
    long maxrss_kb;
};

static char *slurp(const char *path, size_t *len)
{
    struct strbuf b = STRBUF_INIT;
    char chunk[65536];
    FILE *f = fopen(path, "rb");
    size_t n;

    assert_non_null(f);
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        strbuf_add(&b, chunk, n);
    fclose(f);
    if (len)
        *len = b.len;
    return strbuf_steal(&b);
}

/* Run provctl with args (NULL-terminated, without argv[0]) in directory
 * cwd (NULL: the test's), with PROVD_SOCKET set to env_socket when not
 * NULL, serving the fake daemon and the site until it exits (at most
 * 30 s). */
static void run_env(struct fixture *fx, const char *cwd, const char *env_socket,
                    const char *const *args, struct result *r)
{
    char out[160], err[160];
    const char *argv[64];
    size_t n = 0;
    struct rusage ru;
    pid_t pid;
    int status = 0;

    int master = -1;

    memset(r, 0, sizeof(*r));
    r->status = -1;
    if (fx->tty_err) {
        struct winsize ws = {.ws_row = 24, .ws_col = 80};

        master = posix_openpt(O_RDWR | O_NOCTTY);
        assert_true(master >= 0);
        assert_int_equal(grantpt(master), 0);
        assert_int_equal(unlockpt(master), 0);
        assert_int_equal(ioctl(master, TIOCSWINSZ, &ws), 0);
    }
    snprintf(out, sizeof(out), "%s/stdout", fx->dir);
    snprintf(err, sizeof(err), "%s/stderr", fx->dir);
    argv[n++] = fx->provctl;
    while (args[n - 1] && n < 63) {
        argv[n] = args[n - 1];
        n++;
    }
    argv[n] = NULL;
    fflush(NULL);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int o = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int e = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int in = open("/dev/null", O_RDONLY);

        if (master >= 0) {
            close(e);
            e = open(ptsname(master), O_RDWR | O_NOCTTY);
        }
        if (o < 0 || e < 0 || in < 0 || dup2(o, 1) < 0 || dup2(e, 2) < 0 || dup2(in, 0) < 0)
            _exit(120);
        if (cwd && chdir(cwd) < 0)
            _exit(121);
        unsetenv("PROVD_SOCKET");
        unsetenv("RUNTIME_DIRECTORY");
        if (env_socket)
            setenv("PROVD_SOCKET", env_socket, 1);
        setenv("COLUMNS", "80", 1);
        execv(fx->provctl, (char *const *)argv);
        _exit(122);
    }
    for (int i = 0; i < 3000; i++) {
        struct timeval tv = {0, 10000};
        pid_t w;

        event_base_loopexit(fx->base, &tv);
        event_base_dispatch(fx->base);
        w = wait4(pid, &status, WNOHANG, &ru);
        if (w == pid) {
            r->status = WIFEXITED(status) ? WEXITSTATUS(status) : 100 + WTERMSIG(status);
            r->maxrss_kb = ru.ru_maxrss;
            break;
        }
    }
    if (r->status == -1) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
    }
    r->out = slurp(out, &r->out_len);
    if (master >= 0) {
        struct strbuf b = STRBUF_INIT;
        char chunk[4096];
        ssize_t got;

        fcntl(master, F_SETFL, O_NONBLOCK);
        while ((got = read(master, chunk, sizeof(chunk))) > 0)
            strbuf_add(&b, chunk, (size_t)got);
        close(master);
        r->err = strbuf_steal(&b);
    } else {
        r->err = slurp(err, NULL);
    }
}

static void run(struct fixture *fx, const char *const *args, struct result *r)
{
    run_env(fx, NULL, NULL, args, r);
}

static void result_free(struct result *r)
{
    free(r->out);
    free(r->err);
}

#define expect_status(r, want)                                                                     \
    do {                                                                                           \
        if ((r)->status != (want))                                                                 \
            fail_msg("exit status %d, expected %d\n--- stdout:\n%s\n--- stderr:\n%s", (r)->status, \
                     (want), (r)->out, (r)->err);                                                  \
    } while (0)

#define expect_in(hay, needle)                                                                     \
    do {                                                                                           \
        if (strstr((hay), (needle)) == NULL)                                                       \
            fail_msg("expected \"%s\" in:\n%s", (needle), (hay));                                  \
    } while (0)

#define expect_not_in(hay, needle)                                                                 \
    do {                                                                                           \
        if (strstr((hay), (needle)) != NULL)                                                       \
            fail_msg("did not expect \"%s\" in:\n%s", (needle), (hay));                            \
    } while (0)

/* Every line of s fits in width terminal columns (UTF-8 counted as code
 * points) and holds no escape character. */
static void expect_fits(const char *s, size_t width)
{
    size_t col = 0;

    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == 0x1b)
            fail_msg("escape character in:\n%s", s);
        if (*p == '\n') {
            col = 0;
            continue;
        }
        if ((*p & 0xC0) != 0x80)
            col++;
        if (col > width)
            fail_msg("a line is wider than %zu columns:\n%s", width, s);
    }
}

static void expect_json_equal(const char *got, const char *want)
{
    json_error_t e;
    json_t *g = json_loads(got, 0, &e), *w = json_loads(want, 0, NULL);

    if (g == NULL)
        fail_msg("output is not one JSON document (%s):\n%s", e.text, got);
    assert_non_null(w);
    if (!json_equal(g, w))
        fail_msg("JSON differs:\n%s\nexpected:\n%s", got, want);
    json_decref(g);
    json_decref(w);
}

/* ---- tests: reading ------------------------------------------------- */

static void test_status(void **state)
{
    struct fixture *fx = *state;
    const char *table[] = {"-s", fx->sock, "status", NULL};
    const char *json[] = {"-s", fx->sock, "--json", "status", NULL};
    const char *after[] = {"status", "--json", "-s", fx->sock, NULL};
    struct result r;

    run(fx, table, &r);
    expect_status(&r, 0);
    expect_in(r.out, "provd 0.1.0 (pid 4242), started 2026-11-25T12:00:00Z");
    expect_in(r.out, "state:   running — harvesting wilson, 120/400\n");
    expect_in(r.out, "/var/lib/provd/catalog.db: 16001 records (15990 active, 11 gone)");
    expect_in(r.out, "RUN  SOURCE  TRIGGER  STATE    PROGRESS       STARTED\n"
                     " 12  wilson  manual   running  120/400 (30%)  2026-11-25T12:00:00Z\n");
    expect_in(r.out, "recent errors:");
    expect_in(r.out, "HTTP_5XX");
    expect_in(r.out, "https://archive.example/document/7");
    expect_fits(r.out, 80);
    result_free(&r);

    run(fx, json, &r);
    expect_status(&r, 0);
    expect_json_equal(r.out, status_json);
    result_free(&r);

    /* global options after the command work too */
    run(fx, after, &r);
    expect_status(&r, 0);
    expect_json_equal(r.out, status_json);
    result_free(&r);
}

static void test_sources(void **state)
{
    struct fixture *fx = *state;
    const char *table[] = {"-s", fx->sock, "sources", NULL};
    const char *json[] = {"-s", fx->sock, "sources", "--json", NULL};
    struct result r;
    char *line;

    run(fx, table, &r);
    expect_status(&r, 0);
    expect_in(r.out, "NAME    PROFILE  ENABLED  DISCOVERY  INTERVAL  DELAY  CONC  STATE");
    line = strstr(r.out, "\nwilson  wilson   yes      listing    1d        5s        1  idle   "
                         "2026-11-26T03:12:09Z  #11 done 2026-11-25T04:00:00Z (new 2, changed 1, "
                         "failed 1)\n");
    if (line == NULL)
        fail_msg("no row for wilson:\n%s", r.out);
    expect_in(r.out, "\ndemo    wilson   no       urls       1h        0         2  idle   -    "
                     "                 never\n");
    result_free(&r);

    run(fx, json, &r);
    expect_status(&r, 0);
    expect_json_equal(r.out, sources_json);
    result_free(&r);
}

static void test_search(void **state)
{
    struct fixture *fx = *state;
    const char *table[] = {
        "-s",      fx->sock,  "search",  "--archive", "RGASPI",        "--fund",
        "17",      "stalin",  "--sheet", "24",        "--contributor", "Hasanli & Co/x",
        "molotov", "--limit", "2",       NULL};
    const char *all[] = {"-s", fx->sock, "search", "--all", "--status", "active", NULL};
    const char *json[] = {"-s", fx->sock, "--json", "search", "--source", "wilson", NULL};
    const char *json_all[] = {"-s", fx->sock, "--json", "search", "--all", NULL};
    char want[16384];
    struct result r;

    run(fx, table, &r);
    expect_status(&r, 0);
    /* the parameters arrive decoded, the words joined as q */
    expect_in(strbuf_str(&fx->records_queries),
              "archive=RGASPI;fund=17;sheet=24;contributor=Hasanli & Co/x;q=stalin molotov;"
              "limit=2;\n");
    expect_in(r.out, "KEY     DATE        CITATION                      TITLE");
    expect_in(r.out, "300101  1941-04-19  RGASPI f.17 op.162 d.34 l.24  Telegram from Molotov");
    /* a long title is cut to the width, the escape sequence removed */
    expect_in(r.out, "300102  1958        -                             (gone) Record of a");
    expect_in(r.out, "\xE2\x80\xA6\n");
    expect_fits(r.out, 80);
    expect_in(r.err, "more records follow: add --cursor 'p2 & more', or --all");
    result_free(&r);

    /* --all follows the cursor: three records, one header */
    strbuf_reset(&fx->records_queries);
    run(fx, all, &r);
    expect_status(&r, 0);
    expect_in(strbuf_str(&fx->records_queries),
              "status=active;\nstatus=active;cursor=p2 & more;\n");
    expect_in(r.out, "300101");
    expect_in(r.out, "300103  1946-03     RGANI f.89 op.46 d.12 l.3-9 +1  Report on Deliveries");
    assert_null(strstr(strstr(r.out, "KEY") + 3, "KEY  "));
    expect_not_in(r.err, "more records follow");
    result_free(&r);

    run(fx, json, &r);
    expect_status(&r, 0);
    snprintf(want, sizeof(want), "{\"records\":[%s,%s],\"next\":\"p2 & more\"}", rec1, rec2);
    expect_json_equal(r.out, want);
    result_free(&r);

    run(fx, json_all, &r);
    expect_status(&r, 0);
    snprintf(want, sizeof(want), "{\"records\":[%s,%s,%s],\"next\":null}", rec1, rec2, rec3);
    expect_json_equal(r.out, want);
    result_free(&r);
}

static void test_show(void **state)
{
    struct fixture *fx = *state;
    const char *table[] = {"-s", fx->sock, "show", "300101", NULL};
    const char *url_key[] = {"-s",       fx->sock, "show",
                             "--source", "wilson", "https://archive.example/doc?id=5&x=/y",
                             "--json",   NULL};
    struct result r;

    run(fx, table, &r);
    expect_status(&r, 0);
    assert_string_equal(fx->last_key, "300101|");
    expect_in(r.out, "Key:              300101\n");
    expect_in(r.out,
              "Title:            Telegram from Molotov to the Soviet Ambassador in Ankara\n");
    expect_in(r.out, "Date:             April 19, 1941 (1941-04-19)\n");
    expect_in(r.out, "Harvest source:   wilson\n");
    expect_in(r.out, "Status:           active, 2 versions, first seen 2026-11-20T10:00:00Z");
    expect_in(r.out, "Translators:      Gary Goldberg\n");
    expect_in(r.out, "Source:           RGASPI f.17 op.162 d.34, l. 24. Translated by Gary");
    expect_in(r.out, "Citations:\n  1. archive RGASPI, fund 17, inventory 162, file 34, sheets 24\n"
                     "     RGASPI f.17 op.162 d.34, l. 24.\n");
    expect_in(r.out, "URLs:\n  https://archive.example/document/300101\n"
                     "  https://archive.example/document/telegram-from-molotov\n");
    expect_in(r.out, "Same document:\n  300109 [wilson] Another copy of the telegram\n");
    expect_fits(r.out, 80);
    result_free(&r);

    /* a key with '/', '?', '&' travels as one path segment */
    run(fx, url_key, &r);
    expect_status(&r, 0);
    assert_string_equal(fx->last_key, "https://archive.example/doc?id=5&x=/y|wilson");
    expect_json_equal(r.out, detail1);
    result_free(&r);
}

static void test_history(void **state)
{
    struct fixture *fx = *state;
    const char *table[] = {"-s", fx->sock, "history", "300101", NULL};
    const char *json[] = {"-s", fx->sock, "--json", "history", "300101", NULL};
    struct result r;

    run(fx, table, &r);
    expect_status(&r, 0);
    expect_in(r.out, "300101 (wilson): 2 versions\n");
    expect_in(r.out, "version 1  2026-11-20T10:00:00Z  run 5  created\n"
                     "  (first version: every field as harvested)\n");
    expect_in(r.out, "version 2  2026-11-25T10:00:00Z  run 7  changed\n");
    expect_in(r.out, "  title:\n    - Telegram from Molotov\n"
                     "    + Telegram from Molotov to the Soviet Ambassador in Ankara\n");
    expect_in(r.out, "  languages:\n    - Russian\n    + Russian; English\n");
    expect_in(r.out, "  classification:\n    - (none)\n    + Top Secret\n");
    result_free(&r);

    run(fx, json, &r);
    expect_status(&r, 0);
    expect_json_equal(r.out, history1);
    result_free(&r);
}

/* ---- tests: errors -------------------------------------------------- */

static void test_errors(void **state)
{
    struct fixture *fx = *state;
    const char *missing[] = {"-s", fx->sock, "show", "nope", NULL};
    const char *busy[] = {"-s", fx->sock, "show", "busy", NULL};
    const char *cooldown[] = {"-s", fx->sock, "harvest", "busy", NULL};
    const char *unknown[] = {"-s", fx->sock, "harvest", "nosuch", "--wait", NULL};
    const char *bad_cursor[] = {"-s", fx->sock, "search", "--cursor", "zzz", NULL};
    struct result r;

    run(fx, missing, &r);
    expect_status(&r, 4);
    expect_in(r.err, "provctl: unknown_record: no record 'nope'\n");
    assert_string_equal(r.out, "");
    result_free(&r);

    run(fx, busy, &r);
    expect_status(&r, 69);
    expect_in(r.err, "provctl: query_budget: the query ran over its time budget");
    result_free(&r);

    run(fx, cooldown, &r);
    expect_status(&r, 1);
    expect_in(r.err, "provctl: cooldown: source busy was harvested on request 18s ago; wait 42s "
                     "more\n");
    result_free(&r);

    run(fx, unknown, &r);
    expect_status(&r, 4);
    expect_in(r.err, "provctl: unknown_source: no source named 'nosuch'");
    result_free(&r);

    run(fx, bad_cursor, &r);
    expect_status(&r, 1);
    expect_in(r.err, "provctl: bad_parameter: bad cursor");
    result_free(&r);
}

static void test_cannot_connect(void **state)
{
    struct fixture *fx = *state;
    char none[160], dead[160], want[400];
    const char *args_none[] = {"-s", none, "status", NULL};
    const char *args_dead[] = {"-s", dead, "sources", NULL};
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    struct result r;
    int fd;

    snprintf(none, sizeof(none), "%s/none.sock", fx->dir);
    run(fx, args_none, &r);
    expect_status(&r, 3);
    snprintf(want, sizeof(want),
             "provctl: cannot connect to %s: No such file or directory; is provd running?\n", none);
    assert_string_equal(r.err, want);
    result_free(&r);

    /* a socket file nobody listens on (left by a crash) */
    snprintf(dead, sizeof(dead), "%s/dead.sock", fx->dir);
    strcpy(sa.sun_path, dead);
    fd = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    close(fd);
    run(fx, args_dead, &r);
    expect_status(&r, 3);
    snprintf(want, sizeof(want),
             "provctl: cannot connect to %s: Connection refused; is provd running?\n", dead);
    assert_string_equal(r.err, want);
    result_free(&r);
}

static void test_socket_choice(void **state)
{
    struct fixture *fx = *state;
    const char *plain[] = {"--json", "status", NULL};
    char conf[160], bad[160];
    const char *with_conf[] = {"-c", conf, "--json", "status", NULL};
    const char *with_bad[] = {"-c", bad, "status", NULL};
    struct result r;
    FILE *f;

    /* $PROVD_SOCKET */
    run_env(fx, NULL, fx->sock, plain, &r);
    expect_status(&r, 0);
    expect_json_equal(r.out, status_json);
    result_free(&r);

    /* -c: the configuration's socket, relative to the file */
    snprintf(conf, sizeof(conf), "%s/provd.conf", fx->dir);
    f = fopen(conf, "w");
    assert_non_null(f);
    fprintf(f, "[provd]\nsocket = provd.sock\n");
    fclose(f);
    run(fx, with_conf, &r);
    expect_status(&r, 0);
    expect_json_equal(r.out, status_json);
    result_free(&r);

    /* an invalid configuration: exit 78 with file:line */
    snprintf(bad, sizeof(bad), "%s/bad.conf", fx->dir);
    f = fopen(bad, "w");
    assert_non_null(f);
    fprintf(f, "[provd]\nno-such-key = 1\n");
    fclose(f);
    run(fx, with_bad, &r);
    expect_status(&r, 78);
    expect_in(r.err, "bad.conf:2");
    result_free(&r);
}

static void test_usage(void **state)
{
    struct fixture *fx = *state;
    const char *cases[][5] = {
        {"frobnicate", NULL},
        {"show", NULL},
        {"search", "--limit", NULL},
        {"export", "--format", "xml", NULL},
        {"harvest", "a", "b", NULL},
        {"harvest", "--timeout", "soon", NULL},
        {"status", "extra", NULL},
        {"extract", NULL},
        {NULL},
    };
    const char *help[] = {"--help", NULL};
    const char *version[] = {"--version", NULL};
    struct result r;

    for (size_t i = 0; cases[i][0]; i++) {
        run(fx, cases[i], &r);
        if (r.status != 2)
            fail_msg("provctl %s ...: exit %d, expected 2\n%s", cases[i][0], r.status, r.err);
        expect_in(r.err, "provctl");
        result_free(&r);
    }
    run(fx, help, &r);
    expect_status(&r, 0);
    expect_in(r.out, "usage: provctl");
    result_free(&r);
    run(fx, version, &r);
    expect_status(&r, 0);
    expect_in(r.out, "provctl 0.1.0\n");
    result_free(&r);
}

/* ---- tests: harvest ------------------------------------------------- */

static void test_harvest(void **state)
{
    struct fixture *fx = *state;
    const char *one[] = {"-s", fx->sock, "harvest", "wilson", NULL};
    const char *all[] = {"-s", fx->sock, "harvest", NULL};
    const char *url[] = {
        "-s", fx->sock, "harvest", "--url", "https://archive.example/d?a=1&b=2", "--json", NULL};
    struct result r;

    run(fx, one, &r);
    expect_status(&r, 0);
    assert_string_equal(r.out, "run 12 queued for wilson\n");
    result_free(&r);

    run(fx, all, &r);
    expect_status(&r, 0);
    assert_string_equal(r.out, "run 12 queued for wilson\n"
                               "merged into run 15 of demo, which is running\n");
    result_free(&r);

    run(fx, url, &r);
    expect_status(&r, 0);
    expect_json_equal(r.out, "{\"run_id\":13,\"state\":\"running\",\"source\":\"wilson\","
                             "\"url\":\"https://archive.example/d?a=1&b=2\"}");
    assert_string_equal(strbuf_str(&fx->harvest_forms),
                        "source=wilson;url=\nsource=;url=\n"
                        "source=;url=https://archive.example/d?a=1&b=2\n");
    result_free(&r);
}

static void test_harvest_wait(void **state)
{
    struct fixture *fx = *state;
    const char *done[] = {"-s", fx->sock, "harvest", "wilson", "--wait", NULL};
    const char *failed[] = {"-s", fx->sock, "harvest", "failing", "--wait", NULL};
    const char *both[] = {"-s", fx->sock, "harvest", "--wait", "--json", NULL};
    const char *slow[] = {"-s", fx->sock, "harvest", "slow", "--wait", "--timeout", "1200ms", NULL};
    struct result r;

    run(fx, done, &r);
    expect_status(&r, 0);
    assert_int_equal(fx->run_polls[12], 4);
    /* progress on stderr (not a terminal: plain lines), result on stdout */
    expect_in(r.err, "run 12 queued for wilson\n");
    expect_in(r.err, "run 12 (wilson): queued\n");
    expect_in(r.err, "run 12 (wilson): running 1/4 25%");
    expect_in(r.err, "run 12 (wilson): done 4/4 100%");
    expect_in(r.out, "run 12 (wilson, manual): done — discovered 4, fetched 3, new 2, changed 1");
    expect_in(r.out, "failed 1 (HTTP_5XX 1)\n");
    result_free(&r);

    /* on a terminal: a bar redrawn in place */
    memset(fx->run_polls, 0, sizeof(fx->run_polls));
    fx->tty_err = true;
    run(fx, done, &r);
    fx->tty_err = false;
    expect_status(&r, 0);
    expect_in(r.err, "\r\033[Krun 12 (wilson): running [###");
    expect_in(r.err, "] 1/4 25%");
    expect_in(r.err, "] 3/4 75%");
    {
        const char *bar = strstr(r.err, "\r\033[Krun 12 (wilson): done [");

        if (bar == NULL)
            fail_msg("no final bar in:\n%s", r.err);
        bar += strlen("\r\033[Krun 12 (wilson): done [");
        assert_true(strspn(bar, "#") >= 10 && bar[strspn(bar, "#")] == ']');
        expect_in(bar, "] 4/4 100%");
        /* the bar is cleared before the result is printed */
        assert_string_equal(r.err + strlen(r.err) - 4, "\r\033[K");
    }
    expect_in(r.out, "run 12 (wilson, manual): done");
    result_free(&r);

    run(fx, failed, &r);
    expect_status(&r, 1);
    expect_in(r.out, "run 14 (failing, manual): failed");
    expect_in(r.out, "error: the listing page answered HTTP 500 three times");
    result_free(&r);

    /* several runs; --json gives the final runs as one document */
    memset(fx->run_polls, 0, sizeof(fx->run_polls));
    run(fx, both, &r);
    expect_status(&r, 0);
    {
        json_t *o = json_loads(r.out, 0, NULL);
        json_t *runs = json_object_get(o, "runs");

        assert_non_null(o);
        assert_int_equal(json_array_size(runs), 2);
        assert_string_equal(json_string_value(json_object_get(json_array_get(runs, 0), "state")),
                            "done");
        assert_int_equal(json_integer_value(json_object_get(json_array_get(runs, 1), "run_id")),
                         15);
        json_decref(o);
    }
    expect_in(r.err, "2 runs: ");
    result_free(&r);

    /* a run that does not end: --timeout bounds the wait */
    run(fx, slow, &r);
    expect_status(&r, 75);
    expect_in(r.err, "provctl: run 99 is still running after");
    assert_true(fx->run_polls[99] >= 1 && fx->run_polls[99] <= 5);
    result_free(&r);
}

/* ---- tests: export -------------------------------------------------- */

static void test_export(void **state)
{
    struct fixture *fx = *state;
    const char *small[] = {"-s", fx->sock, "export", "--archive", "RGASPI", NULL};
    const char *csv[] = {"-s", fx->sock, "export", "--format", "csv", NULL};
    const char *big[] = {"-s", fx->sock, "export", "--source", "big", NULL};
    const char *cut[] = {"-s", fx->sock, "export", "--source", "cut", NULL};
    struct result r;
    long small_rss;

    run(fx, small, &r);
    expect_status(&r, 0);
    expect_in(strbuf_str(&fx->records_queries), "archive=RGASPI;format=jsonl;\n");
    assert_int_equal(r.out_len, 4 * 256 * 256);
    expect_in(r.out, "{\"key\":\"00000000\",");
    expect_in(r.out, "{\"key\":\"00001023\",");
    small_rss = r.maxrss_kb;
    result_free(&r);

    run(fx, csv, &r);
    expect_status(&r, 0);
    assert_memory_equal(r.out, "key,title\r\n0,\"Title 0, with a comma\"\r\n", 36);
    result_free(&r);

    /* 32 MiB go through without provctl holding them: its peak memory
     * stays within a few MiB of the small export's */
    run(fx, big, &r);
    expect_status(&r, 0);
    assert_int_equal(r.out_len, 512 * 256 * 256);
    expect_in(r.out + r.out_len - 300, "{\"key\":\"00131071\",");
    print_message("export peak RSS: %ld KiB for 256 KiB, %ld KiB for 32 MiB\n", small_rss,
                  r.maxrss_kb);
    if (r.maxrss_kb > small_rss + 8 * 1024)
        fail_msg("peak memory %ld KiB for 32 MiB against %ld KiB for 256 KiB", r.maxrss_kb,
                 small_rss);
    result_free(&r);

    /* a stream cut by the daemon is an error, not a short success */
    run(fx, cut, &r);
    expect_status(&r, 1);
    expect_in(r.err, "cut short");
    assert_int_equal(r.out_len, 3 * 256 * 256);
    result_free(&r);
}

/* ---- tests: extract ------------------------------------------------- */

static const char *pages_dir(void)
{
    static char dir[4096];
    const char *root = getenv("PROVD_SOURCE_ROOT");

    snprintf(dir, sizeof(dir), "%s/tests/data/pages", root && *root ? root : SOURCE_ROOT);
    return dir;
}

/* Compare one extracted record with its expected file: every key of the
 * expected object must match; "text" (printed with --text) is compared
 * only when the expected file has it. */
static void expect_record(const json_t *got, const char *expected_file)
{
    json_error_t e;
    json_t *want = json_load_file(expected_file, 0, &e);
    json_t *copy;

    if (want == NULL)
        fail_msg("%s: %s", expected_file, e.text);
    copy = json_deep_copy(got);
    if (json_object_get(want, "text") == NULL)
        json_object_del(copy, "text");
    if (!json_equal(copy, want)) {
        char *g = json_dumps(copy, JSON_INDENT(1));

        fail_msg("%s differs; got:\n%s", expected_file, g);
    }
    json_decref(copy);
    json_decref(want);
}

/* dir/NAME.json for the page NAME.html; the caller frees it. */
static char *expected_path(const char *dir, const char *html)
{
    struct strbuf b = STRBUF_INIT;

    strbuf_addf(&b, "%s/", dir);
    strbuf_add(&b, html, strlen(html) - 5);
    strbuf_adds(&b, ".json");
    return strbuf_steal(&b);
}

static void test_extract_pages(void **state)
{
    struct fixture *fx = *state;
    const char *dir = pages_dir();
    const char *argv[64] = {"extract", "--text"};
    char *names[60];
    size_t n = 0, k = 2, lines = 0;
    struct dirent *d;
    struct result r;
    DIR *dp = opendir(dir);
    const char *p;

    assert_non_null(dp);
    while ((d = readdir(dp)) != NULL && n < 50) {
        size_t len = strlen(d->d_name);
        char *json;
        bool ok;

        if (len < 6 || strcmp(d->d_name + len - 5, ".html") != 0)
            continue;
        json = expected_path(dir, d->d_name);
        ok = access(json, R_OK) == 0;
        free(json);
        if (!ok)
            continue;
        names[n++] = strdup(d->d_name);
    }
    closedir(dp);
    if (n == 0)
        fail_msg("no saved page with its expected JSON in %s", dir);
    for (size_t i = 0; i < n; i++) {
        argv[k++] = names[i];
        if (i == 0)
            argv[k++] = "missing-page.html"; /* fails; the others go on */
    }
    argv[k] = NULL;
    run_env(fx, dir, NULL, argv, &r);
    expect_status(&r, 1);
    expect_in(r.err, "missing-page.html: STORAGE_IO: cannot open: No such file or directory\n");
    /* one compact object a line, in argument order */
    p = r.out;
    for (size_t i = 0; i < n; i++) {
        const char *nl = strchr(p, '\n');
        json_error_t e;
        json_t *o;
        char *json;

        if (nl == NULL)
            fail_msg("%zu lines for %zu pages:\n%s\n%s", lines, n, r.out, r.err);
        o = json_loadb(p, (size_t)(nl - p), 0, &e);
        if (o == NULL)
            fail_msg("line %zu is not JSON: %s", i + 1, e.text);
        assert_string_equal(json_string_value(json_object_get(o, "url")), names[i]);
        json = expected_path(dir, names[i]);
        expect_record(o, json);
        free(json);
        json_decref(o);
        lines++;
        p = nl + 1;
    }
    assert_string_equal(p, "");
    result_free(&r);
    for (size_t i = 0; i < n; i++)
        free(names[i]);
}

static void test_extract_options(void **state)
{
    struct fixture *fx = *state;
    const char *pretty[] = {"extract", "--pretty", "rgaspi-telegram.html", NULL};
    const char *profile[] = {"extract", "--profile", "nosuch", "rgaspi-telegram.html", NULL};
    struct result r;
    json_t *o;

    run_env(fx, pages_dir(), NULL, pretty, &r);
    expect_status(&r, 0);
    assert_string_equal(r.err, "");
    expect_in(r.out, "{\n  \"url\": \"rgaspi-telegram.html\",\n  \"record_id\": \"300101\",");
    o = json_loads(r.out, 0, NULL);
    assert_non_null(o);
    assert_null(json_object_get(o, "text")); /* only with --text */
    assert_string_equal(json_string_value(json_object_get(o, "title")),
                        "Telegram from Molotov to the Soviet Ambassador in Ankara on the Straits "
                        "Question");
    json_decref(o);
    result_free(&r);

    run_env(fx, pages_dir(), NULL, profile, &r);
    expect_status(&r, 2);
    expect_in(r.err, "provctl: unknown profile 'nosuch'\n");
    result_free(&r);
}

static void test_extract_urls(void **state)
{
    struct fixture *fx = *state;
    char conf[160], page[128], missing[128], want[256];
    const char *allowed[] = {"-c", conf, "extract", page, missing, NULL};
    const char *denied[] = {"extract", page, NULL};
    struct result r;
    json_t *o;
    FILE *f;

    snprintf(page, sizeof(page), "http://127.0.0.1:%u/page.html", fx->site_port);
    snprintf(missing, sizeof(missing), "http://127.0.0.1:%u/missing.html", fx->site_port);
    snprintf(conf, sizeof(conf), "%s/extract.conf", fx->dir);
    f = fopen(conf, "w");
    assert_non_null(f);
    fprintf(f, "[provd]\nallow-addresses = 127.0.0.1:%u\n", fx->site_port);
    fclose(f);

    run(fx, allowed, &r);
    expect_status(&r, 1);
    o = json_loads(r.out, 0, NULL);
    if (o == NULL)
        fail_msg("no record:\n%s\n%s", r.out, r.err);
    assert_string_equal(json_string_value(json_object_get(o, "url")), page);
    assert_string_equal(json_string_value(json_object_get(o, "record_id")), "300101");
    json_decref(o);
    snprintf(want, sizeof(want), "%s: HTTP_4XX: ", missing);
    expect_in(r.err, want);
    result_free(&r);

    /* the default address policy refuses loopback */
    run(fx, denied, &r);
    expect_status(&r, 1);
    snprintf(want, sizeof(want), "%s: PROTOCOL_DENIED: ", page);
    expect_in(r.err, want);
    assert_string_equal(r.out, "");
    result_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_status, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sources, setup, teardown),
        cmocka_unit_test_setup_teardown(test_search, setup, teardown),
        cmocka_unit_test_setup_teardown(test_show, setup, teardown),
        cmocka_unit_test_setup_teardown(test_history, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cannot_connect, setup, teardown),
        cmocka_unit_test_setup_teardown(test_socket_choice, setup, teardown),
        cmocka_unit_test_setup_teardown(test_usage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_harvest, setup, teardown),
        cmocka_unit_test_setup_teardown(test_harvest_wait, setup, teardown),
        cmocka_unit_test_setup_teardown(test_export, setup, teardown),
        cmocka_unit_test_setup_teardown(test_extract_pages, setup, teardown),
        cmocka_unit_test_setup_teardown(test_extract_options, setup, teardown),
        cmocka_unit_test_setup_teardown(test_extract_urls, setup, teardown),
    };

    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
