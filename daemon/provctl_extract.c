/*
 * provctl_extract: runs page extraction offline for `provctl extract`.
 * It owns, for the length of one call, an extraction helper pool on its
 * own event loop (the page is parsed in the helper process, never here,
 * exactly as in the daemon) and, when some input is a URL, a fetch engine
 * on a private event_base with the configuration's limits and address
 * policy. It reads files and the network, writes records to one stream
 * and failures to another, and touches no catalog and no control socket.
 */
#include "provctl_extract.h"

#include "config.h"
#include "fetch.h"
#include "harvest.h"
#include "provctl_http.h"
#include "record_json.h"
#include "worker.h"
#include "xmalloc.h"

#include <curl/curl.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* One page's bytes and where they came from. */
struct provctl_page {
    char *body;
    size_t len;
    char *charset;            /* from the HTTP header; NULL for files */
    enum prov_category error; /* PROV_OK when body is set */
    char reason[512];
};

struct provctl_fetching {
    struct event_base *base;
    struct provctl_page *page;
    bool done;
};

static bool provctl_is_url(const char *s)
{
    return strncmp(s, "http://", 7) == 0 || strncmp(s, "https://", 8) == 0;
}

/* Read at most max bytes of name ("-": standard input) into page. */
static void provctl_read_file(const char *name, size_t max, struct provctl_page *page)
{
    int fd = strcmp(name, "-") == 0 ? STDIN_FILENO : open(name, O_RDONLY | O_CLOEXEC);
    size_t cap = 64 * 1024, len = 0;
    struct stat st;
    char *buf = NULL;

    if (fd < 0) {
        page->error = PROV_STORAGE_IO;
        snprintf(page->reason, sizeof(page->reason), "cannot open: %s", strerror(errno));
        return;
    }
    if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        page->error = PROV_STORAGE_IO;
        snprintf(page->reason, sizeof(page->reason), "is a directory");
        goto out;
    }
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (uint64_t)st.st_size > max) {
        page->error = PROV_TOO_LARGE;
        snprintf(page->reason, sizeof(page->reason), "%lld bytes, more than the %zu allowed",
                 (long long)st.st_size, max);
        goto out;
    }
    buf = xmalloc(cap + 1);
    for (;;) {
        ssize_t r;

        if (len == cap) {
            if (cap > max)
                break;
            cap *= 2;
            buf = xreallocarray(buf, cap + 1, 1);
        }
        r = read(fd, buf + len, cap - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            page->error = PROV_STORAGE_IO;
            snprintf(page->reason, sizeof(page->reason), "cannot read: %s", strerror(errno));
            free(buf);
            goto out;
        }
        if (r == 0)
            break;
        len += (size_t)r;
    }
    if (len > max) {
        page->error = PROV_TOO_LARGE;
        snprintf(page->reason, sizeof(page->reason), "more than the %zu bytes allowed", max);
        free(buf);
        goto out;
    }
    buf[len] = '\0';
    page->body = buf;
    page->len = len;
    page->error = PROV_OK;
out:
    if (fd != STDIN_FILENO)
        close(fd);
}

static void provctl_fetched(struct fetch_response *resp, void *data)
{
    struct provctl_fetching *f = data;
    struct provctl_page *page = f->page;

    page->error = resp->category;
    if (resp->category == PROV_OK) {
        page->body = resp->body;
        page->len = resp->body_len;
        resp->body = NULL;
        page->charset = xstrdup_or_null(resp->charset);
    } else if (resp->status > 0) {
        snprintf(page->reason, sizeof(page->reason), "HTTP %ld: %s", resp->status, resp->errmsg);
    } else {
        snprintf(page->reason, sizeof(page->reason), "%s", resp->errmsg);
    }
    f->done = true;
    event_base_loopbreak(f->base);
}

/* Fetch url with fe on base into page, waiting for the transfer's end
 * (bounded by the fetch limits). */
static void provctl_fetch_url(struct fetch *fe, struct event_base *base, const char *url,
                              struct provctl_page *page)
{
    struct provctl_fetching f = {.base = base, .page = page};
    struct fetch_request req = {.url = url, .done = provctl_fetched, .data = &f};

    if (fetch_start(fe, &req) < 0) {
        page->error = PROV_PROTOCOL_DENIED;
        snprintf(page->reason, sizeof(page->reason), "%s", fetch_errmsg(fe));
        return;
    }
    while (!f.done)
        event_base_loop(base, EVLOOP_ONCE);
}

/* A fetch engine with the daemon's limits from cfg; NULL (and a message
 * in err) when they are refused. */
static struct fetch *provctl_fetch_new(const struct config *cfg, struct event_base *base, FILE *err)
{
    struct addrpolicy *policy = addrpolicy_new();
    struct fetch_options fo;
    struct fetch *fe = NULL;
    char msg[256];

    fetch_options_init(&fo);
    fo.user_agent = cfg->user_agent;
    fo.connect_timeout_ms = (long)cfg->connect_timeout_ms;
    fo.total_timeout_ms = (long)cfg->transfer_timeout_ms;
    fo.low_speed_limit = (long)cfg->low_speed_limit;
    fo.low_speed_time_s = (long)(cfg->low_speed_time_ms / 1000);
    fo.max_body = (size_t)cfg->max_page_size;
    fo.max_redirects = (long)cfg->max_redirects;
    fo.max_total_connections = (long)cfg->max_connections;
    if (fo.max_host_connections > fo.max_total_connections)
        fo.max_host_connections = fo.max_total_connections;
    fo.retry_after_cap_s = (long)(cfg->retry_after_max_ms / 1000);
    for (size_t i = 0; i < cfg->allow_addresses.n; i++) {
        char spec[80];

        config_addr_format(&cfg->allow_addresses.v[i], spec, sizeof(spec));
        if (addrpolicy_allow(policy, spec, msg, sizeof(msg)) < 0) {
            fprintf(err, "provctl: allow-addresses %s: %s\n", spec, msg);
            goto out;
        }
    }
    fo.policy = policy;
    if (fetch_options_check(&fo, msg, sizeof(msg)) < 0) {
        fprintf(err, "provctl: fetch limits: %s\n", msg);
        goto out;
    }
    fe = fetch_new(base, &fo);
    if (fe == NULL)
        fprintf(err, "provctl: cannot set up libcurl\n");
out:
    addrpolicy_free(policy);
    return fe;
}

/* The profile called name among cfg's [profile] sections and the
 * built-in ones, or NULL. */
static const struct profile *provctl_find_profile(const struct config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->n_profiles; i++)
        if (strcmp(cfg->profiles[i].name, name) == 0)
            return cfg->profiles[i].profile;
    return profile_builtin(name);
}

/* Print one record as JSON. */
static void provctl_print_record(const struct record *r, const struct provctl_extract_options *o,
                                 FILE *out)
{
    json_t *j = record_to_json(r, o->text ? RECORD_JSON_TEXT : 0);
    char *s = json_dumps(j, o->pretty ? JSON_INDENT(2) : JSON_COMPACT);

    fprintf(out, "%s\n", s ? s : "null");
    fflush(out);
    free(s);
    json_decref(j);
}

int provctl_extract_run(const struct config *cfg, const struct provctl_extract_options *o,
                        char *const *inputs, size_t n, FILE *out, FILE *err)
{
    const char *pname = o->profile ? o->profile : "wilson";
    const struct profile **profiles = NULL;
    struct worker_options wo = {0};
    struct worker_pool *pool = NULL;
    struct event_base *base = NULL;
    struct fetch *fe = NULL;
    bool any_url = false, curl_up = false;
    int status = PROVCTL_EXIT_OK, rc;

    if (provctl_find_profile(cfg, pname) == NULL) {
        fprintf(err, "provctl: unknown profile '%s'\n", pname);
        return PROVCTL_EXIT_USAGE;
    }
    extract_global_init();
    profiles = xcalloc(cfg->n_profiles + 1, sizeof(*profiles));
    for (size_t i = 0; i < cfg->n_profiles; i++)
        profiles[i] = cfg->profiles[i].profile;
    wo.helpers = 1;
    wo.cpu_ms = (unsigned)cfg->extract_cpu_budget_ms;
    wo.memory_bytes = (size_t)cfg->extract_memory_limit;
    wo.max_page = (size_t)cfg->max_page_size;
    wo.profiles = profiles;
    wo.n_profiles = cfg->n_profiles;
    /* The helper is forked before libcurl or any socket exists. */
    rc = worker_pool_new(NULL, &wo, &pool);
    if (rc < 0) {
        fprintf(err, "provctl: cannot start the extraction helper: %s\n", strerror(-rc));
        status = PROVCTL_EXIT_FAILED;
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        any_url = any_url || provctl_is_url(inputs[i]);
    if (any_url) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
            fprintf(err, "provctl: cannot initialise libcurl\n");
            status = PROVCTL_EXIT_FAILED;
            goto out;
        }
        curl_up = true;
        base = event_base_new();
        fe = base ? provctl_fetch_new(cfg, base, err) : NULL;
        if (fe == NULL) {
            status = PROVCTL_EXIT_FAILED;
            goto out;
        }
    }

    for (size_t i = 0; i < n; i++) {
        struct provctl_page page = {.error = PROV_INTERNAL};
        struct extract_result res = {0};
        struct worker_request req = {.profile = pname, .url = inputs[i]};

        if (provctl_is_url(inputs[i]))
            provctl_fetch_url(fe, base, inputs[i], &page);
        else
            provctl_read_file(inputs[i], wo.max_page, &page);
        if (page.error != PROV_OK) {
            fprintf(err, "%s: %s: %s\n", inputs[i], prov_category_name(page.error), page.reason);
            status = PROVCTL_EXIT_FAILED;
            goto next;
        }
        req.charset = page.charset;
        req.body = page.body;
        req.len = page.len;
        rc = worker_pool_extract_sync(pool, &req, &res);
        if (rc == 0 && res.record) {
            provctl_print_record(res.record, o, out);
            if (res.category != PROV_OK)
                fprintf(err, "%s: %s: %s\n", inputs[i], prov_category_name(res.category),
                        res.reason[0] ? res.reason : "the record may be incomplete");
        } else {
            enum prov_category c = res.category != PROV_OK ? res.category : PROV_INTERNAL;

            fprintf(err, "%s: %s: %s\n", inputs[i], prov_category_name(c),
                    res.reason[0] ? res.reason : strerror(rc < 0 ? -rc : EIO));
            status = PROVCTL_EXIT_FAILED;
        }
        extract_result_clear(&res);
    next:
        free(page.body);
        free(page.charset);
    }
out:
    fetch_free(fe);
    if (base)
        event_base_free(base);
    if (curl_up)
        curl_global_cleanup();
    worker_pool_free(pool);
    free(profiles);
    return status;
}
