/*
 * provctl: the command-line client of provd. It parses the command line,
 * finds the control socket (-s, $PROVD_SOCKET, the -c configuration's
 * socket, provd's own default), turns each command into requests of the
 * control API (docs/API.md) and prints the answers as tables or, with
 * --json, as the API's JSON. `extract` needs no daemon: it runs the
 * extraction offline (provctl_extract.c).
 *
 * It owns nothing beyond one process's run: the loaded configuration, the
 * HTTP client and the answers. It writes results to stdout and messages
 * to stderr, and its exit status says what happened (provctl_http.h,
 * provctl(1)).
 */
#include "config.h"
#include "provctl_extract.h"
#include "provctl_http.h"
#include "provctl_show.h"
#include "provctl_table.h"
#include "provctl_wait.h"
#include "strbuf.h"
#include "xmalloc.h"

#include <curl/curl.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The socket of the packaged service (provd.socket, RuntimeDirectory=). */
#ifndef PROVCTL_SYSTEM_SOCKET
#define PROVCTL_SYSTEM_SOCKET "/run/provd/provd.sock"
#endif

/* Long options without a short form. */
enum {
    OPT_JSON = 256,
    OPT_URL,
    OPT_WAIT,
    OPT_TIMEOUT,
    OPT_ALL,
    OPT_LIMIT,
    OPT_CURSOR,
    OPT_FORMAT,
    OPT_PROFILE,
    OPT_PRETTY,
    OPT_TEXT,
    OPT_SOURCE,
    OPT_FILTER, /* + index into provctl_filters */
};

/* The search filters: option name = query parameter name. */
static const char *const provctl_filters[] = {
    "archive",    "fund",  "inventory", "folder", "file",   "sheet", "contributor",
    "translator", "since", "until",     "status", "source", NULL,
};
#define PROVCTL_NFILTERS 12

struct provctl {
    const char *socket_opt;
    const char *config_path;
    bool json;
    struct config *config;
    struct provctl_http *http;
};

static const char provctl_usage_text[] =
    "usage: provctl [-s SOCKET] [-c CONFIG] [--json] COMMAND [ARGS...]\n"
    "\n"
    "commands:\n"
    "  status                          daemon and run state, recent errors\n"
    "  sources                         configured sources and their schedule\n"
    "  harvest [SOURCE] [--url URL] [--wait] [--timeout DURATION]\n"
    "                                  re-harvest every source, one, or one page\n"
    "  search [FILTERS] [--limit N] [--cursor C] [--all] [TEXT...]\n"
    "                                  find records (TEXT is full-text)\n"
    "  show [--source NAME] RECORD     one record with citations, URLs, status\n"
    "  history [--source NAME] RECORD  the versions of a record, field by field\n"
    "  export [--format jsonl|csv] [FILTERS] [TEXT...]\n"
    "                                  stream the matching records\n"
    "  extract [--profile NAME] [--pretty] [--text] FILE|URL...\n"
    "                                  extract saved or fetched pages offline\n"
    "\n"
    "filters: --archive A --fund F --inventory I --folder P --file D --sheet N\n"
    "         --contributor NAME --translator NAME --since DATE --until DATE\n"
    "         --status active|gone --source NAME\n"
    "\n"
    "The socket is -s, else $PROVD_SOCKET, else the socket of the -c\n"
    "configuration, else provd's default. See provctl(1).\n";

static void provctl_usage(FILE *out)
{
    fputs(provctl_usage_text, out);
}

static int provctl_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int provctl_usage_error(const char *fmt, ...)
{
    va_list ap;

    fputs("provctl: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\nTry 'provctl --help'.\n", stderr);
    return PROVCTL_EXIT_USAGE;
}

/* Load the configuration named by -c, or the defaults. Returns 0, or the
 * exit status after printing its errors. */
static int provctl_load_config(struct provctl *p)
{
    struct strlist errors = {0};

    if (p->config)
        return 0;
    p->config = config_load(p->config_path, &errors);
    if (p->config == NULL) {
        for (size_t i = 0; i < errors.n; i++)
            fprintf(stderr, "provctl: %s\n", errors.v[i]);
        if (errors.n == 0)
            fprintf(stderr, "provctl: %s: invalid configuration\n",
                    p->config_path ? p->config_path : "(defaults)");
    }
    strlist_clear(&errors);
    return p->config ? 0 : PROVCTL_EXIT_CONFIG;
}

/* The socket to use: -s, $PROVD_SOCKET, -c's socket, then provd's own
 * default ($RUNTIME_DIRECTORY/provd.sock or ./provd.sock) when it exists
 * or $RUNTIME_DIRECTORY is set, else the packaged service's socket. */
static int provctl_connect(struct provctl *p)
{
    const char *env = getenv("PROVD_SOCKET");
    char *path = NULL;
    int rc;

    if (p->http)
        return 0;
    if (p->socket_opt) {
        path = xstrdup(p->socket_opt);
    } else if (env && *env) {
        path = xstrdup(env);
    } else if (p->config_path) {
        rc = provctl_load_config(p);
        if (rc)
            return rc;
        path = xstrdup(p->config->socket);
    } else {
        struct stat st;
        const char *rt = getenv("RUNTIME_DIRECTORY");

        path = config_default_socket();
        if (!(rt && *rt) && stat(path, &st) < 0) {
            free(path);
            path = xstrdup(PROVCTL_SYSTEM_SOCKET);
        }
    }
    p->http = provctl_http_new(path);
    free(path);
    return 0;
}

/* Handle an option every command accepts; false when c is not one. */
static bool provctl_common_opt(struct provctl *p, int c)
{
    switch (c) {
    case 's':
        p->socket_opt = optarg;
        return true;
    case 'c':
        p->config_path = optarg;
        return true;
    case OPT_JSON:
        p->json = true;
        return true;
    default:
        return false;
    }
}

#define PROVCTL_COMMON_LONGOPTS                                                                    \
    {"socket", required_argument, NULL, 's'}, {"config", required_argument, NULL, 'c'},            \
        {"json", no_argument, NULL, OPT_JSON}, {"help", no_argument, NULL, 'h'},

/* getopt_long over a command's arguments (argv[0] is the command). */
static int provctl_getopt(int argc, char **argv, const struct option *opts)
{
    return getopt_long(argc, argv, "s:c:h", opts, NULL);
}

/* One request whose JSON answer is printed as is (--json) or through
 * show. Returns the exit status. */
static int provctl_get_and_show(struct provctl *p, const char *target,
                                void (*show)(FILE *, const json_t *, unsigned))
{
    struct provctl_reply r;
    int rc = provctl_connect(p);

    if (rc)
        return rc;
    rc = provctl_http_request(p->http, "GET", target, NULL, &r);
    if (rc < 0)
        return provctl_http_fail(p->http, rc);
    if (r.status != 200 || r.json == NULL) {
        rc = provctl_reply_fail(&r);
        provctl_reply_clear(&r);
        return rc;
    }
    if (p->json)
        fwrite(strbuf_str(&r.body), 1, r.body.len, stdout);
    else
        show(stdout, r.json, provctl_term_width(stdout));
    provctl_reply_clear(&r);
    return PROVCTL_EXIT_OK;
}

static int provctl_no_args(struct provctl *p, int argc, char **argv)
{
    static const struct option opts[] = {PROVCTL_COMMON_LONGOPTS{NULL, 0, NULL, 0}};
    int c;

    while ((c = provctl_getopt(argc, argv, opts)) != -1) {
        if (c == 'h') {
            provctl_usage(stdout);
            exit(PROVCTL_EXIT_OK);
        }
        if (!provctl_common_opt(p, c))
            return provctl_usage_error("%s: bad option", argv[0]);
    }
    if (optind < argc)
        return provctl_usage_error("%s takes no arguments", argv[0]);
    return 0;
}

static int provctl_cmd_status(struct provctl *p, int argc, char **argv)
{
    int rc = provctl_no_args(p, argc, argv);

    return rc ? rc : provctl_get_and_show(p, "/v1/status", provctl_show_status);
}

static int provctl_cmd_sources(struct provctl *p, int argc, char **argv)
{
    int rc = provctl_no_args(p, argc, argv);

    return rc ? rc : provctl_get_and_show(p, "/v1/sources", provctl_show_sources);
}

/* Collect the run ids of a POST /v1/harvest answer; *refused counts the
 * entries that carry an error instead. */
static size_t provctl_run_ids(const json_t *reply, long long **ids, size_t *refused)
{
    const json_t *runs = json_object_get(reply, "runs");
    size_t n = 0, i;
    json_t *o;

    *refused = 0;
    *ids = xcalloc(json_is_array(runs) ? json_array_size(runs) + 1 : 1, sizeof(**ids));
    if (!json_is_array(runs)) {
        if (json_is_integer(json_object_get(reply, "run_id")))
            (*ids)[n++] = json_integer_value(json_object_get(reply, "run_id"));
        return n;
    }
    json_array_foreach(runs, i, o)
    {
        if (json_object_get(o, "error") || !json_is_integer(json_object_get(o, "run_id"))) {
            (*refused)++;
            continue;
        }
        (*ids)[n++] = json_integer_value(json_object_get(o, "run_id"));
    }
    return n;
}

static int provctl_cmd_harvest(struct provctl *p, int argc, char **argv)
{
    static const struct option opts[] = {
        PROVCTL_COMMON_LONGOPTS{"url", required_argument, NULL, OPT_URL},
        {"wait", no_argument, NULL, OPT_WAIT},
        {"timeout", required_argument, NULL, OPT_TIMEOUT},
        {NULL, 0, NULL, 0},
    };
    const char *url = NULL, *source = NULL;
    struct strbuf form = STRBUF_INIT;
    struct provctl_reply r = {0};
    uint64_t timeout_ms = 0;
    long long *ids = NULL;
    size_t n, refused;
    bool wait = false;
    int c, rc;

    while ((c = provctl_getopt(argc, argv, opts)) != -1) {
        if (provctl_common_opt(p, c))
            continue;
        switch (c) {
        case OPT_URL:
            url = optarg;
            break;
        case OPT_WAIT:
            wait = true;
            break;
        case OPT_TIMEOUT:
            if (config_parse_duration(optarg, &timeout_ms) < 0)
                return provctl_usage_error("--timeout %s: not a duration (30s, 10m, 2h)", optarg);
            break;
        case 'h':
            provctl_usage(stdout);
            exit(PROVCTL_EXIT_OK);
        default:
            return provctl_usage_error("%s: bad option", argv[0]);
        }
    }
    if (optind < argc)
        source = argv[optind++];
    if (optind < argc)
        return provctl_usage_error("harvest: unexpected argument '%s'", argv[optind]);
    rc = provctl_connect(p);
    if (rc)
        return rc;
    provctl_query_add(&form, "source", source);
    provctl_query_add(&form, "url", url);
    /* provctl_query_add() writes a query string; the body has no '?' */
    rc = provctl_http_request(p->http, "POST", "/v1/harvest", form.len ? form.s + 1 : NULL, &r);
    strbuf_release(&form);
    if (rc < 0)
        return provctl_http_fail(p->http, rc);
    if (r.status < 200 || r.status > 299 || !json_is_object(r.json)) {
        rc = provctl_reply_fail(&r);
        goto out;
    }
    n = provctl_run_ids(r.json, &ids, &refused);
    if (!wait || p->json == false) {
        if (p->json)
            fwrite(strbuf_str(&r.body), 1, r.body.len, stdout);
        else
            provctl_show_harvest(wait ? stderr : stdout, r.json);
    }
    rc = refused ? PROVCTL_EXIT_FAILED : PROVCTL_EXIT_OK;
    if (wait && n > 0) {
        int wrc;

        fflush(stdout);
        wrc = provctl_wait_runs(p->http, ids, n, timeout_ms, p->json, stdout, stderr);
        if (wrc != PROVCTL_EXIT_OK)
            rc = wrc;
    }
out:
    free(ids);
    provctl_reply_clear(&r);
    return rc;
}

/* Parse search/export options into a query; words left are the text. */
struct provctl_search {
    struct strbuf query;
    const char *limit, *cursor, *format;
    bool all;
};

static int provctl_search_args(struct provctl *p, int argc, char **argv, bool export,
                               struct provctl_search *s)
{
    struct option opts[PROVCTL_NFILTERS + 16] = {PROVCTL_COMMON_LONGOPTS};
    const char *values[PROVCTL_NFILTERS] = {0};
    struct strbuf text = STRBUF_INIT;
    size_t k = 4;
    int c;

    for (size_t i = 0; i < PROVCTL_NFILTERS; i++)
        opts[k++] =
            (struct option){provctl_filters[i], required_argument, NULL, OPT_FILTER + (int)i};
    if (export) {
        opts[k++] = (struct option){"format", required_argument, NULL, OPT_FORMAT};
    } else {
        opts[k++] = (struct option){"limit", required_argument, NULL, OPT_LIMIT};
        opts[k++] = (struct option){"cursor", required_argument, NULL, OPT_CURSOR};
        opts[k++] = (struct option){"all", no_argument, NULL, OPT_ALL};
    }
    opts[k] = (struct option){NULL, 0, NULL, 0};
    while ((c = provctl_getopt(argc, argv, opts)) != -1) {
        if (provctl_common_opt(p, c))
            continue;
        if (c >= OPT_FILTER && c < OPT_FILTER + PROVCTL_NFILTERS) {
            values[c - OPT_FILTER] = optarg;
            continue;
        }
        switch (c) {
        case OPT_LIMIT:
            s->limit = optarg;
            break;
        case OPT_CURSOR:
            s->cursor = optarg;
            break;
        case OPT_ALL:
            s->all = true;
            break;
        case OPT_FORMAT:
            if (strcmp(optarg, "jsonl") != 0 && strcmp(optarg, "csv") != 0)
                return provctl_usage_error("--format %s: use jsonl or csv", optarg);
            s->format = optarg;
            break;
        case 'h':
            provctl_usage(stdout);
            exit(PROVCTL_EXIT_OK);
        default:
            return provctl_usage_error("%s: bad option", argv[0]);
        }
    }
    if (s->all && s->cursor)
        return provctl_usage_error("%s", "--all and --cursor do not go together");
    for (int i = optind; i < argc; i++) {
        if (text.len)
            strbuf_addc(&text, ' ');
        strbuf_adds(&text, argv[i]);
    }
    if (export)
        provctl_query_add(&s->query, "format", s->format ? s->format : "jsonl");
    for (size_t i = 0; i < PROVCTL_NFILTERS; i++)
        provctl_query_add(&s->query, provctl_filters[i], values[i]);
    if (text.len)
        provctl_query_add(&s->query, "q", strbuf_str(&text));
    provctl_query_add(&s->query, "limit", s->limit);
    strbuf_release(&text);
    return 0;
}

static int provctl_cmd_search(struct provctl *p, int argc, char **argv)
{
    struct provctl_search s = {.query = STRBUF_INIT};
    struct provctl_table *table = NULL;
    char *cursor = NULL;
    size_t total = 0;
    int rc = provctl_search_args(p, argc, argv, false, &s);

    if (rc == 0)
        rc = provctl_connect(p);
    if (rc)
        goto out;
    cursor = xstrdup_or_null(s.cursor);
    if (p->json && s.all)
        fputs("{\"records\":[", stdout);
    for (;;) {
        struct strbuf target = STRBUF_INIT;
        struct provctl_reply r;
        const json_t *records, *next;

        strbuf_addf(&target, "/v1/records%s", strbuf_str(&s.query));
        provctl_query_add(&target, "cursor", cursor);
        rc = provctl_http_request(p->http, "GET", strbuf_str(&target), NULL, &r);
        strbuf_release(&target);
        if (rc < 0) {
            rc = provctl_http_fail(p->http, rc);
            goto out;
        }
        records = json_object_get(r.json, "records");
        next = json_object_get(r.json, "next");
        if (r.status != 200 || !json_is_array(records)) {
            rc = provctl_reply_fail(&r);
            provctl_reply_clear(&r);
            goto out;
        }
        if (p->json && !s.all) {
            fwrite(strbuf_str(&r.body), 1, r.body.len, stdout);
        } else if (p->json) {
            size_t i;
            json_t *o;

            json_array_foreach(records, i, o)
            {
                if (total + i > 0)
                    fputc(',', stdout);
                json_dumpf(o, stdout, JSON_COMPACT);
            }
            total += json_array_size(records);
        } else {
            /* rows of every page go into one table, so that --all
             * prints one header and one alignment */
            if (table == NULL)
                table = provctl_show_records_new();
            total += provctl_show_records_add(table, records);
        }
        free(cursor);
        cursor = json_is_string(next) ? xstrdup(json_string_value(next)) : NULL;
        provctl_reply_clear(&r);
        fflush(stdout);
        if (!s.all || cursor == NULL)
            break;
    }
    if (p->json && s.all)
        fputs("],\"next\":null}\n", stdout);
    if (table && total > 0)
        provctl_table_print(table, stdout, provctl_term_width(stdout));
    if (!p->json && total == 0)
        fprintf(stderr, "provctl: no matching records\n");
    if (!p->json && cursor)
        fprintf(stderr, "provctl: more records follow: add --cursor '%s', or --all\n", cursor);
    rc = PROVCTL_EXIT_OK;
out:
    provctl_table_free(table);
    free(cursor);
    strbuf_release(&s.query);
    return rc;
}

static int provctl_cmd_export(struct provctl *p, int argc, char **argv)
{
    struct provctl_search s = {.query = STRBUF_INIT};
    struct strbuf target = STRBUF_INIT;
    struct provctl_reply r;
    int rc = provctl_search_args(p, argc, argv, true, &s);

    if (rc == 0)
        rc = provctl_connect(p);
    if (rc)
        goto out;
    strbuf_addf(&target, "/v1/export%s", strbuf_str(&s.query));
    rc = provctl_http_stream(p->http, strbuf_str(&target), stdout, &r);
    if (rc < 0) {
        rc = provctl_http_fail(p->http, rc);
    } else if (r.status != 200) {
        rc = provctl_reply_fail(&r);
    } else {
        rc = PROVCTL_EXIT_OK;
    }
    provctl_reply_clear(&r);
out:
    strbuf_release(&target);
    strbuf_release(&s.query);
    return rc;
}

/* show and history: one RECORD argument. */
static int provctl_cmd_record(struct provctl *p, int argc, char **argv, bool history)
{
    static const struct option opts[] = {
        PROVCTL_COMMON_LONGOPTS{"source", required_argument, NULL, OPT_SOURCE},
        {NULL, 0, NULL, 0},
    };
    struct strbuf target = STRBUF_INIT;
    const char *source = NULL;
    char *key;
    int c, rc;

    while ((c = provctl_getopt(argc, argv, opts)) != -1) {
        if (provctl_common_opt(p, c))
            continue;
        if (c == OPT_SOURCE) {
            source = optarg;
            continue;
        }
        if (c == 'h') {
            provctl_usage(stdout);
            exit(PROVCTL_EXIT_OK);
        }
        return provctl_usage_error("%s: bad option", argv[0]);
    }
    if (argc - optind != 1)
        return provctl_usage_error("%s needs one RECORD (a key or a URL)", argv[0]);
    key = provctl_escape(argv[optind]);
    strbuf_addf(&target, "/v1/records/%s%s", key, history ? "/history" : "");
    provctl_query_add(&target, "source", source);
    rc = provctl_get_and_show(p, strbuf_str(&target),
                              history ? provctl_show_history : provctl_show_record);
    strbuf_release(&target);
    free(key);
    return rc;
}

static int provctl_cmd_show(struct provctl *p, int argc, char **argv)
{
    return provctl_cmd_record(p, argc, argv, false);
}

static int provctl_cmd_history(struct provctl *p, int argc, char **argv)
{
    return provctl_cmd_record(p, argc, argv, true);
}

static int provctl_cmd_extract(struct provctl *p, int argc, char **argv)
{
    static const struct option opts[] = {
        PROVCTL_COMMON_LONGOPTS{"profile", required_argument, NULL, OPT_PROFILE},
        {"pretty", no_argument, NULL, OPT_PRETTY},
        {"text", no_argument, NULL, OPT_TEXT},
        {NULL, 0, NULL, 0},
    };
    struct provctl_extract_options o = {0};
    int c, rc;

    while ((c = provctl_getopt(argc, argv, opts)) != -1) {
        if (provctl_common_opt(p, c))
            continue;
        switch (c) {
        case OPT_PROFILE:
            o.profile = optarg;
            break;
        case OPT_PRETTY:
            o.pretty = true;
            break;
        case OPT_TEXT:
            o.text = true;
            break;
        case 'h':
            provctl_usage(stdout);
            exit(PROVCTL_EXIT_OK);
        default:
            return provctl_usage_error("%s: bad option", argv[0]);
        }
    }
    if (optind >= argc)
        return provctl_usage_error("%s", "extract needs at least one FILE or URL");
    rc = provctl_load_config(p);
    if (rc)
        return rc;
    return provctl_extract_run(p->config, &o, argv + optind, (size_t)(argc - optind), stdout,
                               stderr);
}

static const struct {
    const char *name;
    int (*fn)(struct provctl *p, int argc, char **argv);
} provctl_commands[] = {
    {"status", provctl_cmd_status},   {"sources", provctl_cmd_sources},
    {"harvest", provctl_cmd_harvest}, {"search", provctl_cmd_search},
    {"show", provctl_cmd_show},       {"history", provctl_cmd_history},
    {"export", provctl_cmd_export},   {"extract", provctl_cmd_extract},
};

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        PROVCTL_COMMON_LONGOPTS{"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    struct provctl p = {0};
    bool curl_up = false;
    int c, rc = -1;

    /* Output to a closed pipe (provctl export | head) ends provctl quietly. */
    signal(SIGPIPE, SIG_DFL);
    while ((c = getopt_long(argc, argv, "+s:c:hV", opts, NULL)) != -1) {
        if (provctl_common_opt(&p, c))
            continue;
        switch (c) {
        case 'h':
            provctl_usage(stdout);
            return PROVCTL_EXIT_OK;
        case 'V':
            printf("provctl %s\n", PROVD_VERSION);
            return PROVCTL_EXIT_OK;
        default:
            fputs("Try 'provctl --help'.\n", stderr);
            return PROVCTL_EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        provctl_usage(stderr);
        return PROVCTL_EXIT_USAGE;
    }
    argc -= optind;
    argv += optind;
    for (size_t i = 0; i < sizeof(provctl_commands) / sizeof(provctl_commands[0]); i++) {
        if (strcmp(argv[0], provctl_commands[i].name) != 0)
            continue;
        /* extract forks its helper before libcurl is set up. */
        if (strcmp(argv[0], "extract") != 0) {
            if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
                fprintf(stderr, "provctl: cannot initialise libcurl\n");
                return PROVCTL_EXIT_FAILED;
            }
            curl_up = true;
        }
        optind = 0; /* glibc: start over at argv[1] */
        rc = provctl_commands[i].fn(&p, argc, argv);
        break;
    }
    if (rc < 0)
        rc = provctl_usage_error("unknown command '%s'", argv[0]);
    provctl_http_free(p.http);
    if (curl_up)
        curl_global_cleanup();
    config_free(p.config);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        perror("provctl: standard output");
        if (rc == 0)
            rc = PROVCTL_EXIT_FAILED;
    }
    return rc;
}
