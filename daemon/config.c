/*
 * config: provd's configuration — the directive tables (type, bounds,
 * default, help) that the parser, config_print() and the man page
 * generator all read, the loading of a whole configuration with the checks
 * that span directives and sections, and its printing.
 *
 * It owns the struct config it returns and everything reachable from it,
 * including the [profile] objects built by the harvest folder's profile
 * parser and the URL lists read from sources' urls files. The file itself
 * is read by config_ini, values by config_value and URLs by config_urls.
 *
 * It never logs, never exits and keeps no global state: every problem
 * becomes one "file:line: message" string in the caller's error list, and
 * a load either yields a whole configuration or none. It reads files and
 * the environment; it creates, changes and connects to nothing.
 */
#include "config.h"

#include "config_ini.h"
#include "config_value.h"
#include "harvest.h"
#include "xmalloc.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

/* Record links on the Digital Archive's search pages. */
#define WILSON_LISTING_LINKS "//a[contains(@href, '/document/')]/@href"

#define P(f) offsetof(struct config, f)
#define S(f) offsetof(struct config_source, f)

static const struct config_directive provd_table[] = {
    {"database", CONFIG_PATH, P(database), 0, 0, 0, NULL,
     "$STATE_DIRECTORY/catalog.db when systemd sets STATE_DIRECTORY (its first entry), "
     "else provd-state/catalog.db in the current directory",
     "The SQLite catalog file."},
    {"socket", CONFIG_PATH, P(socket), 0, 0, 0, NULL,
     "$RUNTIME_DIRECTORY/provd.sock when systemd sets RUNTIME_DIRECTORY, "
     "else provd.sock in the current directory",
     "The UNIX socket of the control API, which provctl uses. A socket path holds at most 107 "
     "bytes."},
    {"socket-mode", CONFIG_MODE, P(socket_mode), 0, 0777, 0, "0660", NULL,
     "Permission bits, in octal, of the socket when provd creates it. Connecting needs write "
     "permission; a mode that lets every user write (o+w) is refused."},
    {"socket-allow-uids", CONFIG_USERS, P(socket_allow_uids), 0, 0, 0, NULL,
     "the user provd runs as, and root",
     "Users (names or numeric ids) whose connections the API accepts, checked with the peer's "
     "credentials whatever the socket's mode. A list replaces the default."},
    {"socket-allow-gids", CONFIG_GROUPS, P(socket_allow_gids), 0, 0, 0, NULL,
     "the group provd runs as, and root's group",
     "Groups (names or numeric ids) whose members, by primary group, the API accepts. A list "
     "replaces the default."},
    {"user-agent", CONFIG_STRING, P(user_agent), 0, 0, 0, NULL,
     "provd/VERSION (+CONTACT), or provd/VERSION when no contact is set",
     "The User-Agent header of every request."},
    {"contact", CONFIG_STRING, P(contact), 0, 0, 0, NULL, "none",
     "A URL or mail address where site operators can reach whoever runs this harvester; the "
     "default user-agent carries it. Set it before harvesting other people's sites."},
    {"extract-workers", CONFIG_UINT, P(extract_workers), 1, 16, 0, "1", NULL,
     "Helper processes that parse pages outside the event loop."},
    {"extract-cpu-budget", CONFIG_DURATION, P(extract_cpu_budget_ms), 10, 5 * MS_M, 0, "2s", NULL,
     "CPU time one page may cost a helper; a helper that overruns is killed and the page is "
     "reported PARSE_TIMEOUT."},
    {"extract-memory-limit", CONFIG_SIZE, P(extract_memory_limit), 16 * MIB, 16 * GIB, 0, "256MiB",
     NULL, "Address-space limit of a helper process. It must be at least twice max-page-size."},
    {"max-page-size", CONFIG_SIZE, P(max_page_size), 4 * KIB, 256 * MIB, 0, "8MiB", NULL,
     "The most decoded (decompressed) bytes kept of one response; a longer body is stopped and "
     "reported TOO_LARGE."},
    {"connect-timeout", CONFIG_DURATION, P(connect_timeout_ms), 100, 5 * MS_M, 0, "10s", NULL,
     "Longest time for name resolution, the TCP connection and the TLS handshake."},
    {"transfer-timeout", CONFIG_DURATION, P(transfer_timeout_ms), MS_S, MS_H, 0, "60s", NULL,
     "Longest time for a whole transfer; it must be longer than connect-timeout."},
    {"low-speed-limit", CONFIG_SIZE, P(low_speed_limit), 1, GIB, 0, "1024", NULL,
     "Bytes per second below which a transfer counts as stalled."},
    {"low-speed-time", CONFIG_DURATION, P(low_speed_time_ms), MS_S, MS_H, MS_S, "15s", NULL,
     "A transfer stalled for this long, in whole seconds, is stopped and reported TOO_SLOW."},
    {"max-redirects", CONFIG_UINT, P(max_redirects), 0, 20, 0, "5", NULL,
     "Redirects followed per request; one more is reported TOO_MANY_REDIRECTS."},
    {"retries", CONFIG_UINT, P(retries), 1, 10, 0, "3", NULL,
     "Attempts per URL and run for network errors, 408, 429 and 5xx answers; after the last "
     "one the URL waits for the next run."},
    {"retry-after-max", CONFIG_DURATION, P(retry_after_max_ms), MS_S, 7 * MS_D, 0, "1h", NULL,
     "The longest Retry-After wait honoured; a longer one is cut to this."},
    {"crawl-delay-max", CONFIG_DURATION, P(crawl_delay_max_ms), 0, MS_D, 0, "1m", NULL,
     "The longest robots.txt Crawl-delay honoured."},
    {"max-connections", CONFIG_UINT, P(max_connections), 1, 1024, 0, "32", NULL,
     "Transfers in flight over all sources."},
    {"allow-addresses", CONFIG_ADDRS, P(allow_addresses), 0, 0, 0, "",
     "none (public addresses only)",
     "Addresses and networks, each with an optional port or port range, that provd may fetch "
     "from besides public addresses (see ADDRESS LISTS). Loopback, private, link-local and "
     "other special addresses are refused unless listed here."},
    {"db-busy-timeout", CONFIG_DURATION, P(db_busy_timeout_ms), 10, MS_M, 0, "5s", NULL,
     "How long a catalog write waits for a lock held by another process before it is reported "
     "DB_BUSY and queued again."},
    {"api-max-connections", CONFIG_UINT, P(api_max_connections), 1, 4096, 0, "64", NULL,
     "Open API connections; more are answered 503 and closed."},
    {"api-deadline", CONFIG_DURATION, P(api_deadline_ms), MS_S, 10 * MS_M, 0, "10s", NULL,
     "Longest life of an API connection that is not streaming a reply."},
    {"api-query-budget", CONFIG_DURATION, P(api_query_budget_ms), 10, MS_M, 0, "250ms", NULL,
     "Longest run of one catalog query for the API; it must be shorter than api-deadline."},
    {"api-workers", CONFIG_UINT, P(api_workers), 1, 16, 0, "2", NULL,
     "Threads that answer the API's catalog queries (record lists, records and their "
     "histories), each with a read-only catalog connection of its own. Read at start; a reload "
     "keeps the running value."},
    {"api-queue-depth", CONFIG_UINT, P(api_queue_depth), 1, 4096, 0, "64", NULL,
     "Catalog queries that may wait for a free api-workers thread; one more is answered 503 "
     "with Retry-After at once. Read at start; a reload keeps the running value."},
    {"manual-cooldown", CONFIG_DURATION, P(manual_cooldown_ms), 0, MS_D, 0, "60s", NULL,
     "Least time between two manual harvests of one source; a request within it is refused."},
    {"log-level", CONFIG_LOGLEVEL, P(log_level), 0, 0, 0, "info", NULL,
     "The least important messages logged: err, warning, notice, info or debug."},
};

static const struct config_directive source_table[] = {
    {"profile", CONFIG_NAME, S(profile_name), 0, 0, 0, "wilson", NULL,
     "The extraction profile: the built-in wilson, or the name of a [profile] section of this "
     "file."},
    {"urls", CONFIG_PATH, S(urls_file), 0, 0, 0, NULL, "none",
     "A file of URLs to harvest, one a line (see URL LISTS); a relative name is taken from the "
     "configuration file's directory. It is read when the configuration is loaded."},
    {"sitemap", CONFIG_URL, S(sitemap), 0, 0, 0, NULL, "none",
     "A sitemap or sitemap index; its lastmod dates decide what is fetched again."},
    {"listing", CONFIG_TEMPLATE, S(listing), 0, 0, 0, NULL, "none",
     "Listing pages: a URL in which {page} stands for the page number. Discovery stops when a "
     "page yields nothing new."},
    {"listing-links", CONFIG_XPATH, S(listing_links), 0, 0, 0, NULL,
     "for the wilson profile, " WILSON_LISTING_LINKS "; none otherwise, and then it must be set "
     "with listing",
     "XPath selecting the record links (a elements or href attributes) of a listing page."},
    {"listing-next", CONFIG_XPATH, S(listing_next), 0, 0, 0, NULL, "none",
     "XPath selecting the link to the next listing page, for sites whose listings are not "
     "numbered."},
    {"listing-first-page", CONFIG_UINT, S(listing_first_page), 0, 1000000, 0, "0", NULL,
     "The number that replaces {page} on the first listing page."},
    {"interval", CONFIG_DURATION, S(interval_ms), MS_S, 365 * MS_D, 0, "1d", NULL,
     "Time from the start of one full run of the source to the start of the next."},
    {"delay", CONFIG_DURATION, S(delay_ms), 0, MS_H, 0, "5s", NULL,
     "Least time between the starts of two requests to one host, counted over every source and "
     "single-page request using that host; while sources naming the same host run together, the "
     "largest delay applies. 0 is allowed."},
    {"concurrency", CONFIG_UINT, S(concurrency), 1, 64, 0, "1", NULL,
     "Transfers in flight to one host, counted over every source using it; while sources naming "
     "the same host run together, the smallest applies."},
    {"recheck", CONFIG_DURATION, S(recheck_ms), MS_S, 3650 * MS_D, 0, "30d", NULL,
     "Known records are fetched again once in this period, spread over it rather than all at "
     "once."},
    {"enabled", CONFIG_BOOL, S(enabled), 0, 0, 0, "yes", NULL,
     "A disabled source is checked and listed but never harvested."},
    {"allow-file", CONFIG_BOOL, S(allow_file), 0, 0, 0, "no", NULL,
     "Allow file: URLs and local file names in this source's urls file and its sitemap and "
     "listing URLs. Without it only http and https are fetched."},
};

#define N_PROVD  (sizeof(provd_table) / sizeof(provd_table[0]))
#define N_SOURCE (sizeof(source_table) / sizeof(source_table[0]))

_Static_assert(N_PROVD <= CONFIG_INI_MAX_DIRECTIVES && N_SOURCE <= CONFIG_INI_MAX_DIRECTIVES,
               "config_ini keeps one line number per directive in fixed arrays");

static const char *const type_names[] = {
    [CONFIG_STRING] = "text",   [CONFIG_NAME] = "name",       [CONFIG_PATH] = "path",
    [CONFIG_URL] = "URL",       [CONFIG_TEMPLATE] = "URL",    [CONFIG_XPATH] = "XPath",
    [CONFIG_BOOL] = "boolean",  [CONFIG_UINT] = "number",     [CONFIG_DURATION] = "duration",
    [CONFIG_SIZE] = "size",     [CONFIG_MODE] = "mode",       [CONFIG_USERS] = "users",
    [CONFIG_GROUPS] = "groups", [CONFIG_ADDRS] = "addresses", [CONFIG_LOGLEVEL] = "level",
};

/* ---- The whole configuration ------------------------------------------- */

static char *env_first(const char *var)
{
    const char *v = getenv(var);

    if (v == NULL || v[0] == '\0')
        return NULL;
    return xstrndup(v, strcspn(v, ":"));
}

char *config_default_database(void)
{
    char *dir = env_first("STATE_DIRECTORY");
    char *path = dir != NULL ? xasprintf("%s/catalog.db", dir) : xstrdup("provd-state/catalog.db");

    free(dir);
    return path;
}

char *config_default_socket(void)
{
    char *dir = env_first("RUNTIME_DIRECTORY");
    char *path = dir != NULL ? xasprintf("%s/provd.sock", dir) : xstrdup("provd.sock");

    free(dir);
    return path;
}

/* Defaults that depend on the environment or on other values, and the
 * checks that span several [provd] directives. */
static void provd_finish(struct config_ini *ps)
{
    struct config *c = ps->c;
    unsigned line;

    if (c->database == NULL)
        c->database = config_default_database();
    if (c->socket == NULL)
        c->socket = config_default_socket();
    if (c->socket_allow_uids.n == 0 && config_ini_provd_line(ps, "socket-allow-uids") == 0) {
        config_value_ids_add(&c->socket_allow_uids, (unsigned)getuid());
        config_value_ids_add(&c->socket_allow_uids, 0);
    }
    if (c->socket_allow_gids.n == 0 && config_ini_provd_line(ps, "socket-allow-gids") == 0) {
        config_value_ids_add(&c->socket_allow_gids, (unsigned)getgid());
        config_value_ids_add(&c->socket_allow_gids, 0);
    }
    if (c->user_agent == NULL) {
        if (c->contact != NULL)
            c->user_agent = xasprintf("provd/%s (+%s)", PROVD_VERSION, c->contact);
        else
            c->user_agent = xasprintf("provd/%s", PROVD_VERSION);
    }
    if (strlen(c->socket) > CONFIG_SOCKET_PATH_MAX)
        config_ini_report(ps, NULL, config_ini_provd_line(ps, "socket"), 0,
                          "socket: %s is %zu bytes long; a UNIX socket path holds at most %d",
                          c->socket, strlen(c->socket), CONFIG_SOCKET_PATH_MAX);
    if (c->transfer_timeout_ms <= c->connect_timeout_ms) {
        char a[32], b[32];

        line = config_ini_provd_line(ps, "transfer-timeout");
        config_ini_report(ps, NULL, line > 0 ? line : config_ini_provd_line(ps, "connect-timeout"),
                          0, "transfer-timeout (%s) must be longer than connect-timeout (%s)",
                          config_format_duration(c->transfer_timeout_ms, a, sizeof(a)),
                          config_format_duration(c->connect_timeout_ms, b, sizeof(b)));
    }
    if (c->api_query_budget_ms >= c->api_deadline_ms) {
        char a[32], b[32];

        line = config_ini_provd_line(ps, "api-query-budget");
        config_ini_report(ps, NULL, line > 0 ? line : config_ini_provd_line(ps, "api-deadline"), 0,
                          "api-query-budget (%s) must be shorter than api-deadline (%s)",
                          config_format_duration(c->api_query_budget_ms, a, sizeof(a)),
                          config_format_duration(c->api_deadline_ms, b, sizeof(b)));
    }
    if (c->extract_memory_limit / 2 < c->max_page_size) {
        char a[32], b[32];

        line = config_ini_provd_line(ps, "extract-memory-limit");
        config_ini_report(ps, NULL, line > 0 ? line : config_ini_provd_line(ps, "max-page-size"), 0,
                          "extract-memory-limit (%s) must be at least twice max-page-size (%s)",
                          config_format_size(c->extract_memory_limit, a, sizeof(a)),
                          config_format_size(c->max_page_size, b, sizeof(b)));
    }
}

/* Resolve each source's profile, once every [profile] has been read. */
static void sources_finish(struct config_ini *ps)
{
    struct config *c = ps->c;
    for (size_t s = 0; s < c->n_sources; s++) {
        struct config_source *src = &c->sources[s];
        unsigned pline = config_ini_source_line(ps, s, "profile");
        bool defined = false;

        for (size_t k = 0; k < c->n_profiles; k++) {
            if (strcmp(c->profiles[k].name, src->profile_name) == 0) {
                src->profile = c->profiles[k].profile;
                defined = true;
            }
        }
        if (!defined)
            src->profile = profile_builtin(src->profile_name);
        if (!defined && src->profile == NULL)
            config_ini_report(
                ps, NULL, pline > 0 ? pline : src->line, 0,
                "profile: unknown profile \"%s\" (neither built in nor a [profile %s] "
                "section)",
                src->profile_name, src->profile_name);
        if (src->listing != NULL && src->listing_links == NULL) {
            if (!defined && strcmp(src->profile_name, "wilson") == 0)
                src->listing_links = xstrdup(WILSON_LISTING_LINKS);
            else
                config_ini_report(
                    ps, NULL, config_ini_source_line(ps, s, "listing"), 0,
                    "listing: listing-links must be set too (there is a default for the "
                    "wilson profile only)");
        }
    }
}

struct config *config_load(const char *path, struct strlist *errors)
{
    struct config *c = xcalloc(1, sizeof(*c));
    struct config_ini ps;
    bool ok;

    if (config_ini_begin(&ps, c, path, errors) == 0) {
        c->path = xstrdup_or_null(path);
        config_ini_defaults(&ps, provd_table, N_PROVD, c);
        if (path != NULL)
            config_ini_read(&ps, path);
        if (!ps.stopped) {
            provd_finish(&ps);
            sources_finish(&ps);
        }
    }
    int os_errno = ps.os_errno;

    ok = ps.n_errors == 0;
    config_ini_end(&ps);
    if (!ok) {
        config_free(c);
        errno = os_errno ? os_errno : EINVAL;
        return NULL;
    }
    return c;
}

static void fields_free(const struct config_directive *table, size_t n, void *base)
{
    for (size_t i = 0; i < n; i++)
        config_value_clear(&table[i], (char *)base + table[i].offset);
}

void config_free(struct config *c)
{
    if (c == NULL)
        return;
    fields_free(provd_table, N_PROVD, c);
    for (size_t i = 0; i < c->n_sources; i++) {
        fields_free(source_table, N_SOURCE, &c->sources[i]);
        free(c->sources[i].name);
        strlist_clear(&c->sources[i].urls);
    }
    free(c->sources);
    for (size_t i = 0; i < c->n_profiles; i++) {
        free(c->profiles[i].name);
        strlist_clear(&c->profiles[i].keys);
        strlist_clear(&c->profiles[i].values);
        profile_free(c->profiles[i].profile);
    }
    free(c->profiles);
    free(c->path);
    free(c);
}

const struct config_source *config_source_find(const struct config *c, const char *name)
{
    for (size_t i = 0; i < c->n_sources; i++) {
        if (strcmp(c->sources[i].name, name) == 0)
            return &c->sources[i];
    }
    return NULL;
}

const struct config_directive *config_directives(enum config_section s, size_t *n)
{
    if (s == CONFIG_SECTION_PROVD) {
        *n = N_PROVD;
        return provd_table;
    }
    *n = N_SOURCE;
    return source_table;
}

const char *config_type_name(enum config_type t)
{
    if ((size_t)t >= sizeof(type_names) / sizeof(type_names[0]) || type_names[t] == NULL)
        return "value";
    return type_names[t];
}

static void directive_print(const struct config_directive *d, const void *base, bool quiet,
                            FILE *out)
{
    const void *field = (const char *)base + d->offset;
    char buf[32], abuf[80];

    if (quiet)
        fputs("; ", out);
    switch (d->type) {
    case CONFIG_STRING:
    case CONFIG_NAME:
    case CONFIG_PATH:
    case CONFIG_URL:
    case CONFIG_TEMPLATE:
    case CONFIG_XPATH: {
        const char *s = *(char *const *)field;

        if (s == NULL)
            fprintf(out, "%s%s is not set\n", quiet ? "" : "; ", d->name);
        else
            fprintf(out, "%s = %s\n", d->name, s);
        return;
    }
    case CONFIG_BOOL:
        fprintf(out, "%s = %s\n", d->name, *(const bool *)field ? "yes" : "no");
        return;
    case CONFIG_UINT:
        fprintf(out, "%s = %u\n", d->name, *(const unsigned *)field);
        return;
    case CONFIG_MODE:
        fprintf(out, "%s = %04o\n", d->name, *(const unsigned *)field);
        return;
    case CONFIG_DURATION:
        fprintf(out, "%s = %s\n", d->name,
                config_format_duration(*(const uint64_t *)field, buf, sizeof(buf)));
        return;
    case CONFIG_SIZE:
        fprintf(out, "%s = %s\n", d->name,
                config_format_size(*(const uint64_t *)field, buf, sizeof(buf)));
        return;
    case CONFIG_USERS:
    case CONFIG_GROUPS: {
        const struct config_ids *ids = field;

        fprintf(out, "%s =", d->name);
        for (size_t i = 0; i < ids->n; i++)
            fprintf(out, " %u", ids->v[i]);
        fputc('\n', out);
        return;
    }
    case CONFIG_ADDRS: {
        const struct config_addrs *a = field;

        fprintf(out, "%s =", d->name);
        for (size_t i = 0; i < a->n; i++)
            fprintf(out, " %s", config_addr_format(&a->v[i], abuf, sizeof(abuf)));
        fputc('\n', out);
        return;
    }
    case CONFIG_LOGLEVEL: {
        int lvl = *(const int *)field;

        fprintf(out, "%s = %s\n", d->name, config_value_level_name(lvl));
        return;
    }
    }
}

void config_print(const struct config *c, FILE *out)
{
    fprintf(out, "; provd %s, effective configuration from %s\n", PROVD_VERSION,
            c->path != NULL ? c->path : "the built-in defaults");
    fputs("[provd]\n", out);
    for (size_t i = 0; i < N_PROVD; i++)
        directive_print(&provd_table[i], c, false, out);
    for (size_t p = 0; p < c->n_profiles; p++) {
        const struct config_profile *cp = &c->profiles[p];

        fprintf(out, "\n[profile %s]\n", cp->name);
        for (size_t k = 0; k < cp->keys.n; k++)
            fprintf(out, "%s = %s\n", cp->keys.v[k], cp->values.v[k]);
    }
    for (size_t s = 0; s < c->n_sources; s++) {
        const struct config_source *src = &c->sources[s];

        fprintf(out, "\n[source %s]\n", src->name);
        for (size_t i = 0; i < N_SOURCE; i++) {
            /* listing-* directives without a listing are errors: comment them */
            bool quiet = src->listing == NULL && strncmp(source_table[i].name, "listing-", 8) == 0;

            directive_print(&source_table[i], src, quiet, out);
        }
        if (src->urls_file != NULL)
            fprintf(out, "; %zu URL%s read from %s\n", src->urls.n, src->urls.n == 1 ? "" : "s",
                    src->urls_file);
    }
}
