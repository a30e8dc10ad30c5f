/*
 * config: reads provd's INI configuration into a struct config, checking
 * every value against the directive tables below (type, bounds, default,
 * help), the same rows that config_print() and the man page generator
 * read. It owns the struct config it returns and everything reachable
 * from it, including the [profile] objects built by the harvest folder's
 * profile parser and the URL lists read from sources' urls files.
 *
 * It never logs, never exits and keeps no global state: every problem
 * becomes one "file:line: message" string in the caller's error list, and
 * a load either yields a whole configuration or none. It reads files and
 * the environment; it creates, changes and connects to nothing.
 */
#include "config.h"

#include "harvest.h"
#include "strbuf.h"
#include "text.h"
#include "xmalloc.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libxml/xmlerror.h>
#include <libxml/xpath.h>

_Static_assert(sizeof(uid_t) == sizeof(unsigned) && sizeof(gid_t) == sizeof(unsigned),
               "struct config_ids holds uid_t and gid_t values as unsigned");

#define MS_S   UINT64_C(1000)
#define MS_M   (60 * MS_S)
#define MS_H   (60 * MS_M)
#define MS_D   (24 * MS_H)
#define KIB    UINT64_C(1024)
#define MIB    (1024 * KIB)
#define GIB    (1024 * MIB)
#define NOLIM  UINT64_MAX
#define URLMAX 4096

/* The largest configuration file read; a bigger one is a mistake. */
#define CONFIG_FILE_MAX (1024 * 1024)

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
    {"api-queue-depth", CONFIG_UINT, P(api_queue_depth), 1, 1024, 0, "16", NULL,
     "API requests waiting for the catalog; more are answered 503 at once."},
    {"api-deadline", CONFIG_DURATION, P(api_deadline_ms), MS_S, 10 * MS_M, 0, "10s", NULL,
     "Longest life of an API connection that is not streaming a reply."},
    {"api-query-budget", CONFIG_DURATION, P(api_query_budget_ms), 10, MS_M, 0, "250ms", NULL,
     "Longest run of one catalog query for the API; it must be shorter than api-deadline."},
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
     "Least time between the starts of two requests to one host; 0 is allowed."},
    {"concurrency", CONFIG_UINT, S(concurrency), 1, 64, 0, "1", NULL,
     "Transfers in flight to one host."},
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

enum section {
    SEC_NONE,    /* before the first header */
    SEC_SKIP,    /* after a bad header: its lines are ignored */
    SEC_PROVD,   /* [provd] */
    SEC_SOURCE,  /* [source NAME]: c->sources[c->n_sources - 1] */
    SEC_PROFILE, /* [profile NAME]: c->profiles[c->n_profiles - 1] */
};

/* Where each directive of a section was set: its line, 0 for the default. */
struct lines_source {
    unsigned at[N_SOURCE];
};

struct parse {
    struct config *c;
    const char *name; /* the file as given, for messages */
    char *dir;        /* its directory as given, for messages */
    char *absdir;     /* its directory, absolute, to resolve names */
    struct strlist *errors;
    size_t n_errors; /* errors of this load */
    bool stopped;    /* CONFIG_MAX_ERRORS reached */
    enum section sec;
    unsigned provd_line;         /* header of [provd]; 0 when none */
    unsigned provd_at[N_PROVD];  /* line of each [provd] directive */
    struct lines_source *src_at; /* one per source */
    unsigned *key_lines;         /* lines of the current profile's keys */
    bool profile_bad;            /* a line of the current profile failed */
};

static const char *const type_names[] = {
    [CONFIG_STRING] = "text",   [CONFIG_NAME] = "name",       [CONFIG_PATH] = "path",
    [CONFIG_URL] = "URL",       [CONFIG_TEMPLATE] = "URL",    [CONFIG_XPATH] = "XPath",
    [CONFIG_BOOL] = "boolean",  [CONFIG_UINT] = "number",     [CONFIG_DURATION] = "duration",
    [CONFIG_SIZE] = "size",     [CONFIG_MODE] = "mode",       [CONFIG_USERS] = "users",
    [CONFIG_GROUPS] = "groups", [CONFIG_ADDRS] = "addresses", [CONFIG_LOGLEVEL] = "level",
};

static const char *const level_names[] = {"err", "warning", "notice", "info", "debug"};

/* ---- Errors ------------------------------------------------------------ */

static void report(struct parse *ps, const char *file, unsigned line, unsigned col, const char *fmt,
                   ...) __attribute__((format(printf, 5, 6)));

/* Add "file:line:col: message" to the error list; line and col 0 are left
 * out. After CONFIG_MAX_ERRORS the parse stops. */
static void report(struct parse *ps, const char *file, unsigned line, unsigned col, const char *fmt,
                   ...)
{
    struct strbuf b = STRBUF_INIT;
    va_list ap;
    char *msg;
    int rc;

    if (ps->stopped)
        return;
    va_start(ap, fmt);
    rc = vasprintf(&msg, fmt, ap);
    va_end(ap);
    if (rc < 0)
        abort(); /* out of memory: fatal, as in xmalloc */
    strbuf_adds(&b, file != NULL ? file : ps->name);
    if (line > 0)
        strbuf_addf(&b, ":%u", line);
    if (col > 0)
        strbuf_addf(&b, ":%u", col);
    strbuf_adds(&b, ": ");
    strbuf_adds(&b, msg);
    free(msg);
    strlist_add_steal(ps->errors, strbuf_steal(&b));
    if (++ps->n_errors >= CONFIG_MAX_ERRORS) {
        strlist_add_steal(ps->errors, xasprintf("%s: too many errors; stopped reading", ps->name));
        ps->n_errors++;
        ps->stopped = true;
    }
}

/* ---- Value syntax ------------------------------------------------------ */

int config_parse_duration(const char *s, uint64_t *ms)
{
    static const struct {
        const char *unit;
        uint64_t ms;
    } units[] = {{"d", MS_D}, {"h", MS_H}, {"m", MS_M}, {"s", MS_S}, {"ms", 1}};
    uint64_t total = 0;
    size_t last = 0; /* index of the previous unit + 1: units must shrink */
    const char *p = s;

    if (strcmp(s, "0") == 0) {
        *ms = 0;
        return 0;
    }
    if (*p == '\0')
        return -EINVAL;
    while (*p != '\0') {
        uint64_t n = 0, mul = 0;
        const char *u;
        size_t ulen, i;
        bool big = false;

        if (!isdigit((unsigned char)*p))
            return -EINVAL;
        for (; isdigit((unsigned char)*p); p++) {
            if (n > (UINT64_MAX - 9) / 10)
                big = true;
            else
                n = n * 10 + (uint64_t)(*p - '0');
        }
        for (u = p; isalpha((unsigned char)*p); p++)
            ;
        ulen = (size_t)(p - u);
        for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
            if (strlen(units[i].unit) == ulen && memcmp(units[i].unit, u, ulen) == 0) {
                mul = units[i].ms;
                break;
            }
        }
        if (mul == 0 || i < last)
            return -EINVAL;
        last = i + 1;
        if (big || n > (UINT64_MAX - total) / mul)
            return -ERANGE;
        total += n * mul;
    }
    *ms = total;
    return 0;
}

int config_parse_size(const char *s, uint64_t *bytes)
{
    static const struct {
        const char *unit;
        uint64_t mul;
    } units[] = {{"", 1},      {"B", 1},   {"K", KIB},   {"KiB", KIB},      {"M", MIB},
                 {"MiB", MIB}, {"G", GIB}, {"GiB", GIB}, {"T", 1024 * GIB}, {"TiB", 1024 * GIB}};
    uint64_t n = 0;
    const char *p = s;
    bool big = false;

    if (!isdigit((unsigned char)*p))
        return -EINVAL;
    for (; isdigit((unsigned char)*p); p++) {
        if (n > (UINT64_MAX - 9) / 10)
            big = true;
        else
            n = n * 10 + (uint64_t)(*p - '0');
    }
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcasecmp(p, units[i].unit) != 0)
            continue;
        if (big || n > UINT64_MAX / units[i].mul)
            return -ERANGE;
        *bytes = n * units[i].mul;
        return 0;
    }
    return -EINVAL;
}

char *config_format_duration(uint64_t ms, char *buf, size_t len)
{
    if (ms == 0)
        snprintf(buf, len, "0");
    else if (ms % MS_D == 0)
        snprintf(buf, len, "%" PRIu64 "d", ms / MS_D);
    else if (ms % MS_H == 0)
        snprintf(buf, len, "%" PRIu64 "h", ms / MS_H);
    else if (ms % MS_M == 0)
        snprintf(buf, len, "%" PRIu64 "m", ms / MS_M);
    else if (ms % MS_S == 0)
        snprintf(buf, len, "%" PRIu64 "s", ms / MS_S);
    else
        snprintf(buf, len, "%" PRIu64 "ms", ms);
    return buf;
}

char *config_format_size(uint64_t bytes, char *buf, size_t len)
{
    if (bytes != 0 && bytes % GIB == 0)
        snprintf(buf, len, "%" PRIu64 "GiB", bytes / GIB);
    else if (bytes != 0 && bytes % MIB == 0)
        snprintf(buf, len, "%" PRIu64 "MiB", bytes / MIB);
    else if (bytes != 0 && bytes % KIB == 0)
        snprintf(buf, len, "%" PRIu64 "KiB", bytes / KIB);
    else
        snprintf(buf, len, "%" PRIu64, bytes);
    return buf;
}

/* Parse a plain decimal number; -ERANGE when it does not fit. */
static int parse_uint(const char *s, uint64_t *out)
{
    uint64_t n = 0;
    bool big = false;

    if (*s == '\0')
        return -EINVAL;
    for (; *s != '\0'; s++) {
        if (!isdigit((unsigned char)*s))
            return -EINVAL;
        if (n > (UINT64_MAX - 9) / 10)
            big = true;
        else
            n = n * 10 + (uint64_t)(*s - '0');
    }
    *out = n;
    return big ? -ERANGE : 0;
}

static bool parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"yes", "true", "on"};
    static const char *const no[] = {"no", "false", "off"};

    for (size_t i = 0; i < 3; i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = true;
            return true;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = false;
            return true;
        }
    }
    return false;
}

static bool name_valid(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > 64)
        return false;
    for (; *s != '\0'; s++) {
        if (!isalnum((unsigned char)*s) && *s != '.' && *s != '_' && *s != '-')
            return false;
    }
    return true;
}

/* The value as a range bound, in the directive's own notation. */
static const char *format_bound(const struct config_directive *d, uint64_t v, char *buf, size_t len)
{
    if (d->type == CONFIG_DURATION)
        return config_format_duration(v, buf, len);
    if (d->type == CONFIG_SIZE)
        return config_format_size(v, buf, len);
    if (d->type == CONFIG_MODE)
        snprintf(buf, len, "%04" PRIo64, v);
    else
        snprintf(buf, len, "%" PRIu64, v);
    return buf;
}

/* Check a number against the directive's bounds and step. */
static int check_range(const struct config_directive *d, const char *text, uint64_t v, bool big,
                       char *err, size_t errlen)
{
    char lo[32], hi[32];

    if (big || v < d->min || v > d->max) {
        snprintf(err, errlen, "%s is out of range (allowed: %s to %s)", text,
                 format_bound(d, d->min, lo, sizeof(lo)), format_bound(d, d->max, hi, sizeof(hi)));
        return -ERANGE;
    }
    if (d->step > 0 && v % d->step != 0) {
        snprintf(err, errlen, "%s is not a multiple of %s", text,
                 format_bound(d, d->step, lo, sizeof(lo)));
        return -EINVAL;
    }
    return 0;
}

/* Split a list value at commas and white space; calls fn for each item. */
static int list_each(const char *value,
                     int (*fn)(const char *item, void *data, char *err, size_t errlen), void *data,
                     char *err, size_t errlen)
{
    const char *p = value;

    while (*p != '\0') {
        size_t n = strcspn(p, ", \t");
        int rc;

        if (n > 0) {
            char *item = xstrndup(p, n);

            rc = fn(item, data, err, errlen);
            free(item);
            if (rc < 0)
                return rc;
        }
        p += n;
        p += strspn(p, ", \t");
    }
    return 0;
}

static void ids_add(struct config_ids *ids, unsigned id)
{
    for (size_t i = 0; i < ids->n; i++) {
        if (ids->v[i] == id)
            return;
    }
    ids->v = xreallocarray(ids->v, ids->n + 1, sizeof(*ids->v));
    ids->v[ids->n++] = id;
}

struct ids_ctx {
    struct config_ids *ids;
    bool groups;
};

/* Resolve one user or group name (or number) into its id. */
static int ids_item(const char *item, void *data, char *err, size_t errlen)
{
    struct ids_ctx *ic = data;
    const char *what = ic->groups ? "group" : "user";
    size_t buflen = 16384;
    char *buf = NULL;
    bool found = false;
    unsigned id = 0;
    uint64_t n;
    int rc;

    if (isdigit((unsigned char)item[0])) {
        if (parse_uint(item, &n) < 0 || n >= UINT32_MAX) {
            snprintf(err, errlen, "\"%s\" is not a valid %s id", item, what);
            return -EINVAL;
        }
        ids_add(ic->ids, (unsigned)n);
        return 0;
    }
    for (;;) {
        buf = xreallocarray(buf, buflen, 1);
        if (ic->groups) {
            struct group gr, *res = NULL;

            rc = getgrnam_r(item, &gr, buf, buflen, &res);
            if (rc == 0 && res != NULL) {
                found = true;
                id = res->gr_gid;
            }
        } else {
            struct passwd pw, *res = NULL;

            rc = getpwnam_r(item, &pw, buf, buflen, &res);
            if (rc == 0 && res != NULL) {
                found = true;
                id = res->pw_uid;
            }
        }
        if (rc != ERANGE || buflen >= 1024 * 1024)
            break;
        buflen *= 2;
    }
    free(buf);
    if (!found) {
        snprintf(err, errlen, "unknown %s \"%s\"", what, item);
        return -EINVAL;
    }
    ids_add(ic->ids, id);
    return 0;
}

/* Parse the port part ":P" or ":P-Q" of an address item. */
static int addr_ports(const char *s, struct config_addr *a)
{
    char *dash;
    uint64_t lo, hi;
    char *t = xstrdup(s);
    int rc = -EINVAL;

    dash = strchr(t, '-');
    if (dash != NULL)
        *dash = '\0';
    if (parse_uint(t, &lo) < 0 || lo < 1 || lo > 65535)
        goto out;
    hi = lo;
    if (dash != NULL && (parse_uint(dash + 1, &hi) < 0 || hi < lo || hi > 65535))
        goto out;
    a->port_min = (unsigned)lo;
    a->port_max = (unsigned)hi;
    rc = 0;
out:
    free(t);
    return rc;
}

/* Parse one allow-addresses item: A.B.C.D[/N][:P[-Q]], [IPV6[/N]][:P[-Q]]
 * (also written [IPV6]/N:P-Q) or IPV6[/N] -- the forms of harvest's address
 * policy. */
static int addr_item(const char *item, void *data, char *err, size_t errlen)
{
    struct config_addrs *list = data;
    struct config_addr a = {.port_min = 1, .port_max = 65535};
    char *t = xstrdup(item), *host = t, *rest, *pfx = NULL, sep;
    unsigned maxbits;
    uint64_t n;
    int rc = -EINVAL;

    if (t[0] == '[') {
        char *close = strchr(t, ']');

        if (close == NULL)
            goto bad;
        *close = '\0';
        host = t + 1;
        rest = close + 1;
        a.family = AF_INET6;
        pfx = strchr(host, '/');
        if (pfx != NULL)
            *pfx++ = '\0';
    } else if (strchr(t, ':') != strrchr(t, ':')) {
        a.family = AF_INET6;
        rest = t + strcspn(t, "/");
        if (strchr(rest, ':') != NULL) {
            snprintf(err, errlen,
                     "\"%s\": write an IPv6 address with ports in brackets, as "
                     "[2001:db8::]/32:8000-8099",
                     item);
            goto out;
        }
    } else {
        a.family = AF_INET;
        rest = t + strcspn(t, "/:");
    }
    maxbits = a.family == AF_INET ? 32 : 128;
    a.prefix = maxbits;
    sep = *rest;
    if (sep != '\0')
        *rest++ = '\0';
    if (inet_pton(a.family, host, a.addr) != 1)
        goto bad;
    if (sep == '/' && pfx == NULL) {
        size_t d = strcspn(rest, ":");

        pfx = rest;
        sep = rest[d];
        rest[d] = '\0';
        rest += d + (sep != '\0');
    }
    if (pfx != NULL) {
        if (parse_uint(pfx, &n) < 0 || n > maxbits) {
            snprintf(err, errlen, "\"%s\": the prefix length must be 0 to %u", item, maxbits);
            goto out;
        }
        a.prefix = (unsigned)n;
    }
    if (sep == ':' && addr_ports(rest, &a) < 0) {
        snprintf(err, errlen, "\"%s\": ports must be P or P-Q with 1 <= P <= Q <= 65535", item);
        goto out;
    }
    if (sep != ':' && sep != '\0')
        goto bad;
    for (unsigned bit = a.prefix; bit < maxbits; bit++) {
        if (a.addr[bit / 8] & (0x80u >> (bit % 8))) {
            snprintf(err, errlen, "\"%s\": the address has bits set after the /%u prefix", item,
                     a.prefix);
            goto out;
        }
    }
    list->v = xreallocarray(list->v, list->n + 1, sizeof(*list->v));
    list->v[list->n++] = a;
    rc = 0;
    goto out;
bad:
    snprintf(err, errlen,
             "\"%s\" is not an address (write e.g. 127.0.0.1:8000-8099, 10.0.0.0/8, "
             "[::1]:8080 or fd00::/8)",
             item);
out:
    free(t);
    return rc;
}

bool config_addr_match(const struct config_addr *a, const struct sockaddr *sa)
{
    const unsigned char *bytes;
    unsigned port, full;

    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;

        bytes = (const unsigned char *)&in->sin_addr;
        port = ntohs(in->sin_port);
        if (a->family != AF_INET)
            return false;
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;

        bytes = in6->sin6_addr.s6_addr;
        port = ntohs(in6->sin6_port);
        if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
            if (a->family != AF_INET)
                return false;
            bytes += 12;
        } else if (a->family != AF_INET6) {
            return false;
        }
    } else {
        return false;
    }
    if (port < a->port_min || port > a->port_max)
        return false;
    full = a->prefix / 8;
    if (memcmp(bytes, a->addr, full) != 0)
        return false;
    if (a->prefix % 8 != 0) {
        unsigned char mask = (unsigned char)(0xffu << (8 - a->prefix % 8));

        if ((bytes[full] & mask) != (a->addr[full] & mask))
            return false;
    }
    return true;
}

int config_url_check(const char *url, bool allow_file, char *err, size_t errlen)
{
    size_t len = strlen(url), slen, alen, hlen;
    char scheme[16];
    const char *auth, *host, *port;

    if (len == 0) {
        snprintf(err, errlen, "empty URL");
        return -EINVAL;
    }
    if (len > URLMAX) {
        snprintf(err, errlen, "URL is longer than %d bytes", URLMAX);
        return -EINVAL;
    }
    for (const unsigned char *p = (const unsigned char *)url; *p != '\0'; p++) {
        if (*p <= ' ' || *p == 0x7f || *p == '\\') {
            snprintf(err, errlen, "URL contains white space, a control character or a backslash");
            return -EINVAL;
        }
        if (*p >= 0x80) {
            snprintf(err, errlen, "URL contains non-ASCII characters (percent-encode them)");
            return -EINVAL;
        }
    }
    slen = isalpha((unsigned char)url[0]) ? strspn(url, "abcdefghijklmnopqrstuvwxyz"
                                                        "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+.-")
                                          : 0;
    if (slen == 0 || url[slen] != ':') {
        snprintf(err, errlen, "\"%s\" has no scheme (write http:// or https://)", url);
        return -EINVAL;
    }
    if (slen >= sizeof(scheme)) {
        snprintf(err, errlen, "scheme \"%.*s\" is not allowed (http and https only)", (int)slen,
                 url);
        return -EINVAL;
    }
    for (size_t i = 0; i < slen; i++)
        scheme[i] = (char)tolower((unsigned char)url[i]);
    scheme[slen] = '\0';
    if (strcmp(scheme, "file") == 0) {
        if (!allow_file) {
            snprintf(err, errlen, "file: URLs need allow-file = yes in the source");
            return -EINVAL;
        }
        if (strncmp(url + 5, "///", 3) != 0 && strncasecmp(url + 5, "//localhost/", 12) != 0) {
            snprintf(err, errlen, "a file: URL must be file:///absolute/path");
            return -EINVAL;
        }
        return 0;
    }
    if (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0) {
        snprintf(err, errlen, "scheme \"%s\" is not allowed (%s only)", scheme,
                 allow_file ? "http, https and file" : "http and https");
        return -EINVAL;
    }
    if (strncmp(url + slen + 1, "//", 2) != 0) {
        snprintf(err, errlen, "%s: URL needs // and a host", scheme);
        return -EINVAL;
    }
    auth = url + slen + 3;
    alen = strcspn(auth, "/?#");
    if (memchr(auth, '@', alen) != NULL) {
        snprintf(err, errlen, "a user name or password in the URL is not allowed");
        return -EINVAL;
    }
    host = auth;
    if (host[0] == '[') {
        const char *close = memchr(host, ']', alen);
        char v6[64];
        unsigned char bin[16];

        if (close == NULL || (size_t)(close - host - 1) >= sizeof(v6)) {
            snprintf(err, errlen, "bad IPv6 address in the URL's host");
            return -EINVAL;
        }
        memcpy(v6, host + 1, (size_t)(close - host - 1));
        v6[close - host - 1] = '\0';
        if (inet_pton(AF_INET6, v6, bin) != 1) {
            snprintf(err, errlen, "bad IPv6 address in the URL's host");
            return -EINVAL;
        }
        hlen = (size_t)(close - host) + 1;
    } else {
        hlen = strcspn(host, ":/?#");
        if (hlen == 0) {
            snprintf(err, errlen, "URL has no host");
            return -EINVAL;
        }
        for (size_t i = 0; i < hlen; i++) {
            if (!isalnum((unsigned char)host[i]) && strchr("-._~%", host[i]) == NULL) {
                snprintf(err, errlen, "bad character '%c' in the URL's host", host[i]);
                return -EINVAL;
            }
        }
    }
    port = host + hlen;
    if (port < auth + alen) {
        uint64_t n;
        char digits[8];
        size_t plen = (size_t)(auth + alen - port) - 1;

        if (*port != ':' || plen == 0 || plen >= sizeof(digits)) {
            snprintf(err, errlen, "bad port in the URL");
            return -EINVAL;
        }
        memcpy(digits, port + 1, plen);
        digits[plen] = '\0';
        if (parse_uint(digits, &n) < 0 || n < 1 || n > 65535) {
            snprintf(err, errlen, "bad port in the URL");
            return -EINVAL;
        }
    }
    return 0;
}

/* A listing template: a URL with "{page}" exactly once. */
static int template_check(const char *tmpl, bool allow_file, char *err, size_t errlen)
{
    const char *at = strstr(tmpl, "{page}");
    char *url;
    int rc;

    if (at == NULL || strstr(at + 6, "{page}") != NULL) {
        snprintf(err, errlen, "the URL must hold {page} exactly once");
        return -EINVAL;
    }
    url = xasprintf("%.*s1%s", (int)(at - tmpl), tmpl, at + 6);
    rc = config_url_check(url, allow_file, err, errlen);
    free(url);
    return rc;
}

struct xpath_err {
    char *buf;
    size_t len;
    bool set;
};

#if LIBXML_VERSION >= 21200
static void xpath_error(void *data, const xmlError *e)
#else
static void xpath_error(void *data, xmlErrorPtr e)
#endif
{
    /* libxml2 2.9 leaves message unset for XPath errors raised through a
     * context's handler; these are its words for the codes (xpath.c) */
    static const char *const words[] = {
        "no error",
        "Number encoding",
        "Unfinished literal",
        "Start of literal",
        "Expected $ for variable reference",
        "Undefined variable",
        "Invalid predicate",
        "Invalid expression",
        "Missing closing curly brace",
        "Unregistered function",
        "Invalid operand",
        "Invalid type",
        "Invalid number of arguments",
    };
    struct xpath_err *xe = data;
    const char *msg = "syntax error";
    size_t n;

    if (xe->set || e == NULL)
        return;
    if (e->message != NULL)
        msg = e->message;
    else if (e->code >= XML_XPATH_EXPRESSION_OK &&
             e->code < XML_XPATH_EXPRESSION_OK + (int)(sizeof(words) / sizeof(words[0])))
        msg = words[e->code - XML_XPATH_EXPRESSION_OK];
    n = strcspn(msg, "\n");
    snprintf(xe->buf, xe->len, "invalid XPath (%.*s at character %d)", (int)n, msg, e->int1 + 1);
    xe->set = true;
}

/* Compile an XPath expression to check it; libxml2's message on failure. */
static int xpath_check(const char *expr, char *err, size_t errlen)
{
    struct xpath_err xe = {err, errlen, false};
    xmlXPathContextPtr ctx;
    xmlXPathCompExprPtr comp;

    xmlInitParser();
    ctx = xmlXPathNewContext(NULL);
    if (ctx == NULL)
        abort();
    ctx->error = xpath_error;
    ctx->userData = &xe;
    comp = xmlXPathCtxtCompile(ctx, (const xmlChar *)expr);
    xmlXPathFreeContext(ctx);
    if (comp != NULL) {
        xmlXPathFreeCompExpr(comp);
        return 0;
    }
    if (!xe.set)
        snprintf(err, errlen, "invalid XPath");
    return -EINVAL;
}

/* ---- Paths ------------------------------------------------------------- */

/* dir + "/" + rel with "." and ".." segments removed (lexically). dir
 * must be absolute; an absolute rel is taken as it is. */
static char *path_join(const char *dir, const char *rel)
{
    char *joined = rel[0] == '/' ? xstrdup(rel) : xasprintf("%s/%s", dir, rel);
    char *out = xmalloc(strlen(joined) + 2);
    const char *p = joined;
    size_t n = 0;

    while (*p != '\0') {
        size_t seg = strcspn(p, "/");

        if (seg == 2 && p[0] == '.' && p[1] == '.') {
            while (n > 0 && out[n - 1] != '/')
                n--;
            if (n > 0)
                n--;
        } else if (seg > 0 && !(seg == 1 && p[0] == '.')) {
            out[n++] = '/';
            memcpy(out + n, p, seg);
            n += seg;
        }
        p += seg;
        if (*p == '/')
            p++;
    }
    if (n == 0)
        out[n++] = '/';
    out[n] = '\0';
    free(joined);
    return out;
}

/* How a resolved path reads in messages: relative to the configuration
 * file's directory as the user named it, when it lies under it. */
static char *path_display(const struct parse *ps, const char *abs)
{
    size_t n = strlen(ps->absdir);

    if (strncmp(abs, ps->absdir, n) == 0 && abs[n] == '/') {
        if (strcmp(ps->dir, ".") == 0)
            return xstrdup(abs + n + 1);
        return xasprintf("%s/%s", ps->dir, abs + n + 1);
    }
    return xstrdup(abs);
}

/* The directory part of path ("." when it has none). */
static char *path_dirname(const char *path)
{
    const char *slash = strrchr(path, '/');

    if (slash == NULL)
        return xstrdup(".");
    if (slash == path)
        return xstrdup("/");
    return xstrndup(path, (size_t)(slash - path));
}

/* Refuse a file or directory that users other than its owner and group
 * may write to (RELIABILITY C7). */
static bool mode_safe(struct parse *ps, const char *display, const struct stat *st,
                      const char *what)
{
    if ((st->st_mode & S_IWOTH) == 0)
        return true;
    report(ps, display, 0, 0, "refusing %s writable by every user (mode %04o); chmod o-w it", what,
           (unsigned)(st->st_mode & 07777));
    return false;
}

/* Open a file for reading after the checks every file of the
 * configuration passes: a regular file, neither it nor its directory
 * writable by every user. Returns the descriptor or -1 (reported). */
static int open_checked(struct parse *ps, const char *path, const char *display, const char *what,
                        off_t maxsize, struct stat *st)
{
    struct stat dst;
    char *dir;
    int fd;

    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        report(ps, display, 0, 0, "cannot open %s: %s", what, strerror(errno));
        return -1;
    }
    if (fstat(fd, st) < 0) {
        report(ps, display, 0, 0, "cannot stat %s: %s", what, strerror(errno));
        goto fail;
    }
    if (!S_ISREG(st->st_mode)) {
        report(ps, display, 0, 0, "%s is not a regular file", what);
        goto fail;
    }
    if (maxsize > 0 && st->st_size > maxsize) {
        report(ps, display, 0, 0, "%s is larger than %lld bytes", what, (long long)maxsize);
        goto fail;
    }
    if (!mode_safe(ps, display, st, what))
        goto fail;
    dir = path_dirname(path);
    if (stat(dir, &dst) < 0) {
        report(ps, dir, 0, 0, "cannot stat the directory of %s: %s", display, strerror(errno));
        free(dir);
        goto fail;
    }
    if (!mode_safe(ps, dir, &dst, "a directory of configuration files")) {
        free(dir);
        goto fail;
    }
    free(dir);
    return fd;
fail:
    close(fd);
    return -1;
}

/* ---- Setting values ------------------------------------------------------ */

static void field_clear(const struct config_directive *d, void *field)
{
    switch (d->type) {
    case CONFIG_STRING:
    case CONFIG_NAME:
    case CONFIG_PATH:
    case CONFIG_URL:
    case CONFIG_TEMPLATE:
    case CONFIG_XPATH: {
        char **sp = field;

        free(*sp);
        *sp = NULL;
        break;
    }
    case CONFIG_USERS:
    case CONFIG_GROUPS: {
        struct config_ids *ids = field;

        free(ids->v);
        ids->v = NULL;
        ids->n = 0;
        break;
    }
    case CONFIG_ADDRS: {
        struct config_addrs *a = field;

        free(a->v);
        a->v = NULL;
        a->n = 0;
        break;
    }
    default:
        break;
    }
}

/* Parse value for directive d into its field in base (a struct config or
 * struct config_source). absdir resolves relative paths. Returns 0, or a
 * negative errno with the message in err. */
static int value_set(const struct config_directive *d, void *base, const char *value,
                     const char *absdir, char *err, size_t errlen)
{
    void *field = (char *)base + d->offset;
    uint64_t n = 0;
    int rc;

    if (value[0] == '\0' && d->type != CONFIG_ADDRS) {
        snprintf(err, errlen, "needs a value");
        return -EINVAL;
    }
    switch (d->type) {
    case CONFIG_STRING:
        if (strlen(value) > 1024) {
            snprintf(err, errlen, "is longer than 1024 bytes");
            return -EINVAL;
        }
        for (const unsigned char *p = (const unsigned char *)value; *p != '\0'; p++) {
            if (*p < ' ' || *p >= 0x7f) {
                snprintf(err, errlen, "must be printable ASCII text");
                return -EINVAL;
            }
        }
        break;
    case CONFIG_NAME:
        if (!name_valid(value)) {
            snprintf(err, errlen, "\"%s\" is not a name (1 to 64 letters, digits, '.', '_' or '-')",
                     value);
            return -EINVAL;
        }
        break;
    case CONFIG_PATH:
        if (strlen(value) >= PATH_MAX) {
            snprintf(err, errlen, "path is too long");
            return -EINVAL;
        }
        break;
    case CONFIG_URL:
    case CONFIG_TEMPLATE:
        /* checked when the section ends: allow-file may follow */
        break;
    case CONFIG_XPATH:
        if ((rc = xpath_check(value, err, errlen)) < 0)
            return rc;
        break;
    case CONFIG_BOOL:
        if (!parse_bool(value, field)) {
            snprintf(err, errlen, "\"%s\" is not a boolean (yes, no, true, false, on, off)", value);
            return -EINVAL;
        }
        return 0;
    case CONFIG_UINT:
    case CONFIG_DURATION:
    case CONFIG_SIZE:
    case CONFIG_MODE: {
        const char *v = value[0] == '-' ? value + 1 : value;

        if (d->type == CONFIG_UINT)
            rc = parse_uint(v, &n);
        else if (d->type == CONFIG_DURATION)
            rc = config_parse_duration(v, &n);
        else if (d->type == CONFIG_SIZE)
            rc = config_parse_size(v, &n);
        else if (v[0] != '\0' && strspn(v, "01234567") == strlen(v) && strlen(v) <= 4)
            rc = 0;
        else
            rc = -EINVAL;
        if (rc == -EINVAL) {
            static const char *const hints[] = {
                [CONFIG_UINT] = "a number",
                [CONFIG_DURATION] = "a duration (write e.g. 150ms, 5s, 10m, 2h, 1d or 1h30m)",
                [CONFIG_SIZE] = "a size (write e.g. 4096, 64KiB, 8MiB or 1GiB)",
                [CONFIG_MODE] = "an octal mode (write e.g. 0660)",
            };
            snprintf(err, errlen, "\"%s\" is not %s", value, hints[d->type]);
            return rc;
        }
        if (d->type == CONFIG_MODE) {
            n = 0;
            for (const char *p = v; *p != '\0'; p++)
                n = n * 8 + (uint64_t)(*p - '0');
            if (value[0] != '-' && (n & 0002) != 0) {
                snprintf(err, errlen, "%s lets every user write; leave o+w out", value);
                return -EINVAL;
            }
        }
        /* a negative value is out of range whatever its size */
        rc = check_range(d, value, n, value[0] == '-' || rc == -ERANGE, err, errlen);
        if (rc < 0)
            return rc;
        if (d->type == CONFIG_UINT || d->type == CONFIG_MODE)
            *(unsigned *)field = (unsigned)n;
        else
            *(uint64_t *)field = n;
        return 0;
    }
    case CONFIG_USERS:
    case CONFIG_GROUPS: {
        struct config_ids ids = {NULL, 0};
        struct ids_ctx ic = {&ids, d->type == CONFIG_GROUPS};

        rc = list_each(value, ids_item, &ic, err, errlen);
        if (rc < 0) {
            free(ids.v);
            return rc;
        }
        field_clear(d, field);
        *(struct config_ids *)field = ids;
        return 0;
    }
    case CONFIG_ADDRS: {
        struct config_addrs addrs = {NULL, 0};

        rc = list_each(value, addr_item, &addrs, err, errlen);
        if (rc < 0) {
            free(addrs.v);
            return rc;
        }
        field_clear(d, field);
        *(struct config_addrs *)field = addrs;
        return 0;
    }
    case CONFIG_LOGLEVEL:
        for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
            if (strcasecmp(value, level_names[i]) == 0) {
                *(int *)field = 3 + (int)i;
                return 0;
            }
        }
        snprintf(err, errlen, "\"%s\" is not a log level (err, warning, notice, info, debug)",
                 value);
        return -EINVAL;
    }
    field_clear(d, field);
    if (d->type == CONFIG_PATH)
        *(char **)field = path_join(absdir, value);
    else
        *(char **)field = xstrdup(value);
    return 0;
}

/* Set the table's written defaults in base. */
static void defaults_apply(struct parse *ps, const struct config_directive *table, size_t n,
                           void *base)
{
    char err[256];

    for (size_t i = 0; i < n; i++) {
        if (table[i].def != NULL &&
            value_set(&table[i], base, table[i].def, ".", err, sizeof(err)) < 0)
            report(ps, "internal", 0, 0, "default of %s: %s", table[i].name, err);
    }
}

static const struct config_directive *table_find(const struct config_directive *table, size_t n,
                                                 const char *name, size_t *idx)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(table[i].name, name) == 0) {
            *idx = i;
            return &table[i];
        }
    }
    return NULL;
}

/* The line where the current-or-given source set directive name; 0 when
 * it kept its default. */
static unsigned source_at(const struct parse *ps, size_t s, const char *name)
{
    size_t i;

    if (table_find(source_table, N_SOURCE, name, &i) == NULL)
        abort(); /* a name missing from the table is a bug here */
    return ps->src_at[s].at[i];
}

/* ---- URL lists ----------------------------------------------------------- */

/* An open-addressing set of strings (borrowed), to drop duplicate URLs.
 * Slots keep the hash so that probing rarely touches the strings. */
struct urlset {
    struct urlslot {
        const char *s;
        uint64_t h;
    } * slot;
    size_t cap, n;
};

static uint64_t hash_str(const char *s)
{
    uint64_t h = UINT64_C(14695981039346656037);

    for (; *s != '\0'; s++) {
        h ^= (unsigned char)*s;
        h *= UINT64_C(1099511628211);
    }
    return h ^ (h >> 29);
}

/* Add s; false when it was there already. */
static bool urlset_add(struct urlset *set, const char *s)
{
    uint64_t h = hash_str(s);
    size_t i;

    if (2 * (set->n + 1) > set->cap) {
        struct urlset big = {NULL, set->cap ? set->cap * 2 : 64, 0};

        big.slot = xcalloc(big.cap, sizeof(*big.slot));
        for (size_t k = 0; k < set->cap; k++) {
            if (set->slot[k].s == NULL)
                continue;
            for (i = set->slot[k].h & (big.cap - 1); big.slot[i].s != NULL;
                 i = (i + 1) & (big.cap - 1))
                ;
            big.slot[i] = set->slot[k];
            big.n++;
        }
        free(set->slot);
        *set = big;
    }
    for (i = h & (set->cap - 1); set->slot[i].s != NULL; i = (i + 1) & (set->cap - 1)) {
        if (set->slot[i].h == h && strcmp(set->slot[i].s, s) == 0)
            return false;
    }
    set->slot[i].s = s;
    set->slot[i].h = h;
    set->n++;
    return true;
}

/* file:// URL of an absolute path, percent-encoding what a URL path may
 * not hold as it is. */
static char *file_url(const char *abspath)
{
    static const char keep[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                               "-._~/!$&'()*+,;=:@";
    struct strbuf b = STRBUF_INIT;

    strbuf_adds(&b, "file://");
    for (const unsigned char *p = (const unsigned char *)abspath; *p != '\0'; p++) {
        if (strchr(keep, *p) != NULL)
            strbuf_addc(&b, (char)*p);
        else
            strbuf_addf(&b, "%%%02X", *p);
    }
    return strbuf_steal(&b);
}

/* Read a source's urls file into src->urls. */
static void urls_load(struct parse *ps, struct config_source *src)
{
    char *display = path_display(ps, src->urls_file);
    char *udir = path_dirname(src->urls_file);
    struct urlset seen = {NULL, 0, 0};
    struct stat st;
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    unsigned lineno = 0;
    FILE *f;
    int fd;

    fd = open_checked(ps, src->urls_file, display, "URL list", 0, &st);
    if (fd < 0)
        goto out;
    f = fdopen(fd, "r");
    if (f == NULL) {
        close(fd);
        report(ps, display, 0, 0, "cannot read URL list: %s", strerror(errno));
        goto out;
    }
    while (!ps->stopped && (len = getline(&line, &cap, f)) >= 0) {
        char err[256], *s = line, *url;
        size_t n;

        lineno++;
        for (ssize_t k = 1; k < len; k++) {
            if (line[k] == '#' && (line[k - 1] == ' ' || line[k - 1] == '\t')) {
                len = k;
                line[len] = '\0';
                break;
            }
        }
        while (len > 0 && strchr(" \t\r\n", line[len - 1]) != NULL)
            line[--len] = '\0';
        s += strspn(s, " \t");
        if (*s == '\0' || *s == '#')
            continue;
        n = strlen(s);
        if ((size_t)len != (size_t)(s - line) + n || !text_utf8_valid(s, n)) {
            report(ps, display, lineno, 0, "not valid UTF-8 text");
            continue;
        }
        if (isalpha((unsigned char)s[0]) &&
            s[strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+.-")] ==
                ':') {
            if (config_url_check(s, src->allow_file, err, sizeof(err)) < 0) {
                report(ps, display, lineno, 0, "%s", err);
                continue;
            }
            url = xstrdup(s);
        } else {
            char *abs;

            if (!src->allow_file) {
                report(ps, display, lineno, 0,
                       "\"%s\" is a file name; local files need allow-file = yes in "
                       "[source %s]",
                       s, src->name);
                continue;
            }
            abs = path_join(udir, s);
            url = file_url(abs);
            free(abs);
            if (strlen(url) > URLMAX) {
                report(ps, display, lineno, 0, "URL is longer than %d bytes", URLMAX);
                free(url);
                continue;
            }
        }
        if (!urlset_add(&seen, url)) {
            free(url); /* a duplicate */
            continue;
        }
        if (src->urls.n >= CONFIG_MAX_URLS) {
            report(ps, display, lineno, 0, "more than %d URLs in one list", CONFIG_MAX_URLS);
            free(url);
            break;
        }
        strlist_add_steal(&src->urls, url);
    }
    if (ferror(f))
        report(ps, display, 0, 0, "cannot read URL list: %s", strerror(errno));
    fclose(f);
out:
    free(line);
    free(seen.slot);
    free(udir);
    free(display);
}

/* ---- Sections ------------------------------------------------------------ */

static struct config_source *source_cur(struct parse *ps)
{
    return &ps->c->sources[ps->c->n_sources - 1];
}

/* Checks that need the whole [source] section. */
static void source_finish(struct parse *ps)
{
    struct config_source *src = source_cur(ps);
    size_t s = ps->c->n_sources - 1;
    char err[256];

    if (src->sitemap != NULL &&
        config_url_check(src->sitemap, src->allow_file, err, sizeof(err)) < 0)
        report(ps, NULL, source_at(ps, s, "sitemap"), 0, "sitemap: %s", err);
    if (src->listing != NULL && template_check(src->listing, src->allow_file, err, sizeof(err)) < 0)
        report(ps, NULL, source_at(ps, s, "listing"), 0, "listing: %s", err);
    if (src->urls_file == NULL && src->sitemap == NULL && src->listing == NULL)
        report(ps, NULL, src->line, 0, "[source %s] needs urls, sitemap or listing", src->name);
    if (src->listing == NULL) {
        static const char *const needs_listing[] = {"listing-links", "listing-next",
                                                    "listing-first-page"};

        for (size_t k = 0; k < 3; k++) {
            unsigned line = source_at(ps, s, needs_listing[k]);

            if (line > 0)
                report(ps, NULL, line, 0, "%s: only meaningful with listing", needs_listing[k]);
        }
    }
    if (src->urls_file != NULL)
        urls_load(ps, src);
}

static void profile_finish(struct parse *ps)
{
    struct config_profile *cp = &ps->c->profiles[ps->c->n_profiles - 1];
    char err[256] = "";

    /* after a bad line, missing fields would only repeat that error */
    if (!ps->profile_bad && profile_check(cp->profile, err, sizeof(err)) < 0) {
        report(ps, NULL, cp->line, 0, "%s", err);
        ps->profile_bad = true;
    }
    if (ps->profile_bad) {
        profile_free(cp->profile);
        cp->profile = NULL;
    }
    ps->profile_bad = false;
    free(ps->key_lines);
    ps->key_lines = NULL;
}

static void section_finish(struct parse *ps)
{
    if (ps->sec == SEC_SOURCE)
        source_finish(ps);
    else if (ps->sec == SEC_PROFILE)
        profile_finish(ps);
    ps->sec = SEC_NONE;
}

/* The column (1-based, in characters) of byte offset off of line. */
static unsigned column(const char *line, size_t off)
{
    unsigned col = 1;

    for (size_t i = 0; i < off; i++) {
        if (((unsigned char)line[i] & 0xc0) != 0x80)
            col++;
    }
    return col;
}

/* A section header line "[kind NAME]". */
static void header_parse(struct parse *ps, const char *line, const char *p, unsigned lineno)
{
    const char *close = strchr(p, ']');
    char *inner, *kind, *name;
    const char *after;

    section_finish(ps);
    ps->sec = SEC_SKIP;
    if (close == NULL) {
        report(ps, NULL, lineno, column(line, strlen(line)), "syntax error: expected ']'");
        return;
    }
    after = close + 1 + strspn(close + 1, " \t");
    if (*after != '\0' && *after != ';' && *after != '#') {
        report(ps, NULL, lineno, column(line, (size_t)(after - line)),
               "syntax error: unexpected text after ']'");
        return;
    }
    inner = xstrndup(p + 1, (size_t)(close - p - 1));
    kind = inner + strspn(inner, " \t");
    name = kind + strcspn(kind, " \t");
    if (*name != '\0')
        *name++ = '\0';
    name += strspn(name, " \t");
    for (size_t n = strlen(name); n > 0 && (name[n - 1] == ' ' || name[n - 1] == '\t'); n--)
        name[n - 1] = '\0';

    if (strcmp(kind, "provd") == 0) {
        if (*name != '\0') {
            report(ps, NULL, lineno, 0, "[provd] takes no name");
        } else if (ps->provd_line > 0) {
            report(ps, NULL, lineno, 0, "duplicate section [provd] (first at line %u)",
                   ps->provd_line);
        } else {
            ps->provd_line = lineno;
            ps->sec = SEC_PROVD;
        }
    } else if (strcmp(kind, "source") == 0 || strcmp(kind, "profile") == 0) {
        bool source = strcmp(kind, "source") == 0;

        if (*name == '\0') {
            report(ps, NULL, lineno, 0, "[%s] needs a name: [%s NAME]", kind, kind);
        } else if (!name_valid(name)) {
            report(ps, NULL, lineno, 0,
                   "[%s %s]: a name is 1 to 64 letters, digits, '.', '_' or '-'", kind, name);
        } else if (source) {
            struct config *c = ps->c;
            const struct config_source *dup = config_source_find(c, name);

            if (dup != NULL) {
                report(ps, NULL, lineno, 0, "duplicate [source %s] (first at line %u)", name,
                       dup->line);
            } else {
                c->sources = xreallocarray(c->sources, c->n_sources + 1, sizeof(*c->sources));
                ps->src_at = xreallocarray(ps->src_at, c->n_sources + 1, sizeof(*ps->src_at));
                memset(&c->sources[c->n_sources], 0, sizeof(*c->sources));
                memset(&ps->src_at[c->n_sources], 0, sizeof(*ps->src_at));
                c->sources[c->n_sources].name = xstrdup(name);
                c->sources[c->n_sources].line = lineno;
                defaults_apply(ps, source_table, N_SOURCE, &c->sources[c->n_sources]);
                c->n_sources++;
                ps->sec = SEC_SOURCE;
            }
        } else {
            struct config *c = ps->c;
            struct config_profile *cp;
            size_t k;

            for (k = 0; k < c->n_profiles && strcmp(c->profiles[k].name, name) != 0; k++)
                ;
            if (k < c->n_profiles) {
                report(ps, NULL, lineno, 0, "duplicate [profile %s] (first at line %u)", name,
                       c->profiles[k].line);
            } else if (profile_builtin(name) != NULL) {
                report(ps, NULL, lineno, 0,
                       "[profile %s]: %s is a built-in profile; choose another name", name, name);
            } else {
                c->profiles = xreallocarray(c->profiles, c->n_profiles + 1, sizeof(*c->profiles));
                cp = &c->profiles[c->n_profiles++];
                memset(cp, 0, sizeof(*cp));
                cp->name = xstrdup(name);
                cp->line = lineno;
                cp->profile = profile_new(name);
                ps->sec = SEC_PROFILE;
            }
        }
    } else {
        report(ps, NULL, lineno, 0,
               "unknown section [%s] (sections are [provd], [source NAME], [profile NAME])", kind);
    }
    free(inner);
}

/* A directive of [provd] or [source]: look it up in its table. */
static void directive_set(struct parse *ps, const char *key, const char *value, unsigned lineno)
{
    bool provd = ps->sec == SEC_PROVD;
    const struct config_directive *table = provd ? provd_table : source_table;
    size_t n = provd ? N_PROVD : N_SOURCE, i;
    const struct config_directive *d = table_find(table, n, key, &i);
    unsigned *at = provd ? ps->provd_at : ps->src_at[ps->c->n_sources - 1].at;
    void *base = provd ? (void *)ps->c : (void *)source_cur(ps);
    char err[512];

    if (d == NULL) {
        if (provd)
            report(ps, NULL, lineno, 0, "unknown key \"%s\" in [provd]", key);
        else
            report(ps, NULL, lineno, 0, "unknown key \"%s\" in [source %s]", key,
                   source_cur(ps)->name);
        return;
    }
    if (at[i] > 0) {
        report(ps, NULL, lineno, 0, "duplicate key \"%s\" (first at line %u)", key, at[i]);
        return;
    }
    at[i] = lineno;
    if (value_set(d, base, value, ps->absdir, err, sizeof(err)) < 0)
        report(ps, NULL, lineno, 0, "%s: %s", key, err);
}

/* Key names equal when '-' and '_' are taken as the same. */
static bool key_same(const char *a, const char *b)
{
    for (; *a != '\0' && *b != '\0'; a++, b++) {
        if (*a != *b && !((*a == '-' || *a == '_') && (*b == '-' || *b == '_')))
            return false;
    }
    return *a == *b;
}

/* A line of a [profile]: handed to the harvest folder's profile parser. */
static void profile_line(struct parse *ps, const char *key, const char *value, unsigned lineno)
{
    struct config_profile *cp = &ps->c->profiles[ps->c->n_profiles - 1];
    char err[512] = "";

    /* the profile parser takes record_id and record-id alike; blocked-marker
     * adds one more marker each time, so it may be repeated */
    for (size_t k = 0; k < cp->keys.n && !key_same(key, "blocked-marker"); k++) {
        if (key_same(cp->keys.v[k], key)) {
            report(ps, NULL, lineno, 0, "duplicate key \"%s\" (first at line %u)", key,
                   ps->key_lines[k]);
            return;
        }
    }
    ps->key_lines = xreallocarray(ps->key_lines, cp->keys.n + 1, sizeof(*ps->key_lines));
    ps->key_lines[cp->keys.n] = lineno;
    strlist_add(&cp->keys, key);
    strlist_add(&cp->values, value);
    if (profile_set(cp->profile, key, value, err, sizeof(err)) < 0) {
        report(ps, NULL, lineno, 0, "%s: %s", key, err[0] != '\0' ? err : "invalid value");
        ps->profile_bad = true;
    }
}

/* One line of the file, without its line end. */
static void line_parse(struct parse *ps, char *line, size_t len, unsigned lineno)
{
    char *p = line + strspn(line, " \t"), *key, *value;
    size_t klen;

    if (strlen(line) != len || !text_utf8_valid(line, len)) {
        report(ps, NULL, lineno, 0, "not valid UTF-8 text");
        return;
    }
    if (*p == '\0' || *p == ';' || *p == '#')
        return;
    if (*p == '[') {
        header_parse(ps, line, p, lineno);
        return;
    }
    klen = strspn(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-");
    if (klen == 0) {
        report(ps, NULL, lineno, column(line, (size_t)(p - line)),
               "syntax error: expected a key name");
        return;
    }
    key = p;
    p += klen;
    p += strspn(p, " \t");
    if (*p != '=') {
        report(ps, NULL, lineno, column(line, (size_t)(p - line)),
               "syntax error: expected '=' after \"%.*s\"", (int)klen, key);
        return;
    }
    key[klen] = '\0';
    value = p + 1;
    /* a comment starts at ';' or '#' after white space */
    for (char *q = value; *q != '\0'; q++) {
        if ((*q == ';' || *q == '#') && (q[-1] == ' ' || q[-1] == '\t')) {
            *q = '\0';
            break;
        }
    }
    value += strspn(value, " \t");
    for (size_t n = strlen(value); n > 0 && (value[n - 1] == ' ' || value[n - 1] == '\t'); n--)
        value[n - 1] = '\0';

    switch (ps->sec) {
    case SEC_NONE:
        report(ps, NULL, lineno, 0, "\"%s\" is outside any section", key);
        break;
    case SEC_SKIP:
        break;
    case SEC_PROVD:
    case SEC_SOURCE:
        directive_set(ps, key, value, lineno);
        break;
    case SEC_PROFILE:
        profile_line(ps, key, value, lineno);
        break;
    }
}

/* Read and parse the file; false when it could not be read at all. */
static void file_parse(struct parse *ps, const char *path)
{
    struct stat st;
    char *buf = NULL, *p, *end;
    size_t got = 0;
    unsigned lineno = 0;
    int fd;

    fd = open_checked(ps, path, path, "configuration file", CONFIG_FILE_MAX, &st);
    if (fd < 0)
        return;
    buf = xmalloc((size_t)st.st_size + 1);
    while (got <= (size_t)st.st_size) {
        ssize_t r = read(fd, buf + got, (size_t)st.st_size + 1 - got);

        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            report(ps, path, 0, 0, "cannot read configuration file: %s", strerror(errno));
            goto out;
        }
        if (r == 0)
            break;
        got += (size_t)r;
    }
    if (got > (size_t)st.st_size) {
        report(ps, path, 0, 0, "configuration file changed while being read");
        goto out;
    }
    buf[got] = '\0';
    p = buf;
    end = buf + got;
    if (got >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0)
        p += 3;
    while (p < end && !ps->stopped) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);

        if (len > 0 && p[len - 1] == '\r')
            len--;
        p[len] = '\0';
        line_parse(ps, p, len, ++lineno);
        p = nl != NULL ? nl + 1 : end;
    }
    section_finish(ps);
out:
    free(buf);
    close(fd);
}

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

/* The line where [provd] set name, 0 when it kept its default. */
static unsigned provd_at(const struct parse *ps, const char *name)
{
    size_t i;

    return table_find(provd_table, N_PROVD, name, &i) ? ps->provd_at[i] : 0;
}

/* Defaults that depend on the environment or on other values, and the
 * checks that span several [provd] directives. */
static void provd_finish(struct parse *ps)
{
    struct config *c = ps->c;
    unsigned line;

    if (c->database == NULL)
        c->database = config_default_database();
    if (c->socket == NULL)
        c->socket = config_default_socket();
    if (c->socket_allow_uids.n == 0 && provd_at(ps, "socket-allow-uids") == 0) {
        ids_add(&c->socket_allow_uids, (unsigned)getuid());
        ids_add(&c->socket_allow_uids, 0);
    }
    if (c->socket_allow_gids.n == 0 && provd_at(ps, "socket-allow-gids") == 0) {
        ids_add(&c->socket_allow_gids, (unsigned)getgid());
        ids_add(&c->socket_allow_gids, 0);
    }
    if (c->user_agent == NULL) {
        if (c->contact != NULL)
            c->user_agent = xasprintf("provd/%s (+%s)", PROVD_VERSION, c->contact);
        else
            c->user_agent = xasprintf("provd/%s", PROVD_VERSION);
    }
    if (strlen(c->socket) > CONFIG_SOCKET_PATH_MAX)
        report(ps, NULL, provd_at(ps, "socket"), 0,
               "socket: %s is %zu bytes long; a UNIX socket path holds at most %d", c->socket,
               strlen(c->socket), CONFIG_SOCKET_PATH_MAX);
    if (c->transfer_timeout_ms <= c->connect_timeout_ms) {
        char a[32], b[32];

        line = provd_at(ps, "transfer-timeout");
        report(ps, NULL, line > 0 ? line : provd_at(ps, "connect-timeout"), 0,
               "transfer-timeout (%s) must be longer than connect-timeout (%s)",
               config_format_duration(c->transfer_timeout_ms, a, sizeof(a)),
               config_format_duration(c->connect_timeout_ms, b, sizeof(b)));
    }
    if (c->api_query_budget_ms >= c->api_deadline_ms) {
        char a[32], b[32];

        line = provd_at(ps, "api-query-budget");
        report(ps, NULL, line > 0 ? line : provd_at(ps, "api-deadline"), 0,
               "api-query-budget (%s) must be shorter than api-deadline (%s)",
               config_format_duration(c->api_query_budget_ms, a, sizeof(a)),
               config_format_duration(c->api_deadline_ms, b, sizeof(b)));
    }
    if (c->extract_memory_limit / 2 < c->max_page_size) {
        char a[32], b[32];

        line = provd_at(ps, "extract-memory-limit");
        report(ps, NULL, line > 0 ? line : provd_at(ps, "max-page-size"), 0,
               "extract-memory-limit (%s) must be at least twice max-page-size (%s)",
               config_format_size(c->extract_memory_limit, a, sizeof(a)),
               config_format_size(c->max_page_size, b, sizeof(b)));
    }
}

/* Resolve each source's profile, once every [profile] has been read. */
static void sources_finish(struct parse *ps)
{
    struct config *c = ps->c;
    for (size_t s = 0; s < c->n_sources; s++) {
        struct config_source *src = &c->sources[s];
        unsigned pline = source_at(ps, s, "profile");
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
            report(ps, NULL, pline > 0 ? pline : src->line, 0,
                   "profile: unknown profile \"%s\" (neither built in nor a [profile %s] "
                   "section)",
                   src->profile_name, src->profile_name);
        if (src->listing != NULL && src->listing_links == NULL) {
            if (!defined && strcmp(src->profile_name, "wilson") == 0)
                src->listing_links = xstrdup(WILSON_LISTING_LINKS);
            else
                report(ps, NULL, source_at(ps, s, "listing"), 0,
                       "listing: listing-links must be set too (there is a default for the "
                       "wilson profile only)");
        }
    }
}

struct config *config_load(const char *path, struct strlist *errors)
{
    struct config *c = xcalloc(1, sizeof(*c));
    struct parse ps = {.c = c, .errors = errors, .sec = SEC_NONE};

    ps.name = path != NULL ? path : "defaults";
    ps.dir = path != NULL ? path_dirname(path) : xstrdup(".");
    ps.absdir = realpath(ps.dir, NULL);
    if (ps.absdir == NULL) {
        if (path != NULL)
            report(&ps, path, 0, 0, "cannot open configuration file: %s", strerror(errno));
        else
            report(&ps, ps.dir, 0, 0, "cannot resolve the current directory: %s", strerror(errno));
        goto out;
    }
    c->path = xstrdup_or_null(path);
    defaults_apply(&ps, provd_table, N_PROVD, c);
    if (path != NULL)
        file_parse(&ps, path);
    if (!ps.stopped) {
        provd_finish(&ps);
        sources_finish(&ps);
    }
out:
    free(ps.key_lines);
    free(ps.src_at);
    free(ps.dir);
    free(ps.absdir);
    if (ps.n_errors > 0) {
        config_free(c);
        return NULL;
    }
    return c;
}

static void fields_free(const struct config_directive *table, size_t n, void *base)
{
    for (size_t i = 0; i < n; i++)
        field_clear(&table[i], (char *)base + table[i].offset);
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

/* ---- Printing ------------------------------------------------------------ */

char *config_addr_format(const struct config_addr *a, char *buf, size_t len)
{
    char host[INET6_ADDRSTRLEN], pfx[8] = "", ports[16] = "";
    unsigned full = a->family == AF_INET ? 32 : 128;
    bool has_ports = a->port_min != 1 || a->port_max != 65535;

    inet_ntop(a->family, a->addr, host, sizeof(host));
    if (a->prefix != full)
        snprintf(pfx, sizeof(pfx), "/%u", a->prefix);
    if (has_ports && a->port_min == a->port_max)
        snprintf(ports, sizeof(ports), ":%u", a->port_min);
    else if (has_ports)
        snprintf(ports, sizeof(ports), ":%u-%u", a->port_min, a->port_max);
    if (a->family == AF_INET6 && has_ports)
        snprintf(buf, len, "[%s%s]%s", host, pfx, ports);
    else
        snprintf(buf, len, "%s%s%s", host, pfx, ports);
    return buf;
}

/* Print one directive as "name = value"; as a comment when quiet (a
 * value that is there but does not apply). */
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

        fprintf(out, "%s = %s\n", d->name, lvl >= 3 && lvl <= 7 ? level_names[lvl - 3] : "info");
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
