/*
 * Tests of daemon/config.c: defaults with no file, good files, every kind
 * of error with its exact "file:line: message", the configuration rows of
 * RELIABILITY.md (C1 missing file, C2 syntax, C3 ranges, C4 unknown keys,
 * C5 URL filter, C6 big URL lists, C7 files writable by others), value
 * syntax (durations, sizes, addresses), the printed configuration loading
 * back to itself, and the example files. Each test works in a fresh
 * temporary directory, which is also the current directory, so messages
 * carry short relative names.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "config.h"
#include "harvest.h"
#include "strbuf.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifndef SOURCE_ROOT
#define SOURCE_ROOT "."
#endif

struct fixture {
    char dir[PATH_MAX];
    char oldcwd[PATH_MAX];
    struct strlist errors;
};

static const char *source_root(void)
{
    const char *r = getenv("PROVD_SOURCE_ROOT");

    return r != NULL && r[0] != '\0' ? r : SOURCE_ROOT;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    const char *tmp = getenv("TMPDIR");

    if (f == NULL)
        return -1;
    snprintf(f->dir, sizeof(f->dir), "%s/provd-config-XXXXXX", tmp != NULL ? tmp : "/tmp");
    if (mkdtemp(f->dir) == NULL || getcwd(f->oldcwd, sizeof(f->oldcwd)) == NULL ||
        chdir(f->dir) < 0) {
        free(f);
        return -1;
    }
    unsetenv("STATE_DIRECTORY");
    unsetenv("RUNTIME_DIRECTORY");
    *state = f;
    return 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    if (chdir(f->oldcwd) < 0)
        return -1;
    chmod(f->dir, 0700);
    nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    strlist_clear(&f->errors);
    free(f);
    return 0;
}

static void write_file(const char *path, const char *text, mode_t mode)
{
    FILE *fp = fopen(path, "w");

    assert_non_null(fp);
    assert_int_equal(fputs(text, fp) >= 0, 1);
    assert_int_equal(fclose(fp), 0);
    assert_int_equal(chmod(path, mode), 0);
}

/* Copy a fixture of tests/data/config into the current directory. */
static void copy_fixture(const char *name)
{
    char *src;
    FILE *in, *out;
    char buf[4096];
    size_t n;

    assert_int_not_equal(asprintf(&src, "%s/tests/data/config/%s", source_root(), name), -1);
    in = fopen(src, "r");
    assert_non_null(in);
    out = fopen(name, "w");
    assert_non_null(out);
    while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
        assert_int_equal(fwrite(buf, 1, n, out), n);
    fclose(in);
    assert_int_equal(fclose(out), 0);
    assert_int_equal(chmod(name, 0644), 0);
    free(src);
}

/* Print the list, to see what failed. */
static void errors_dump(const struct strlist *e)
{
    for (size_t i = 0; i < e->n; i++)
        print_message("  error: %s\n", e->v[i]);
}

/* Check errors against want (NULL-terminated); an entry ending in '*'
 * matches any message starting with what comes before it. */
static void errors_expect(const struct strlist *e, const char *const *want)
{
    size_t n = 0;

    while (want[n] != NULL)
        n++;
    if (e->n != n)
        errors_dump(e);
    assert_int_equal(e->n, n);
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(want[i]);

        if (len > 0 && want[i][len - 1] == '*') {
            if (strncmp(e->v[i], want[i], len - 1) != 0)
                errors_dump(e);
            assert_memory_equal(e->v[i], want[i], len - 1);
        } else {
            assert_string_equal(e->v[i], want[i]);
        }
    }
}

static struct config *load_text(struct fixture *f, const char *text)
{
    strlist_clear(&f->errors);
    write_file("t.conf", text, 0644);
    return config_load("t.conf", &f->errors);
}

static struct config *load_ok(struct fixture *f, const char *path)
{
    struct config *c;

    strlist_clear(&f->errors);
    c = config_load(path, &f->errors);
    if (c == NULL)
        errors_dump(&f->errors);
    assert_non_null(c);
    assert_int_equal(f->errors.n, 0);
    return c;
}

/* config_print() output as a string the caller frees. */
static char *printed(const struct config *c)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&buf, &len);

    assert_non_null(fp);
    config_print(c, fp);
    assert_int_equal(fclose(fp), 0);
    return buf;
}

/* True when text holds line as a whole line. */
static bool has_line(const char *text, const char *line)
{
    size_t n = strlen(line);

    for (const char *p = text; (p = strstr(p, line)) != NULL; p++) {
        if ((p == text || p[-1] == '\n') && (p[n] == '\n' || p[n] == '\0'))
            return true;
    }
    return false;
}

/* ---- Value syntax -------------------------------------------------------- */

static void test_durations(void **state)
{
    static const struct {
        const char *s;
        int rc;
        uint64_t ms;
        const char *canonical;
    } cases[] = {
        {"0", 0, 0, "0"},
        {"150ms", 0, 150, "150ms"},
        {"5s", 0, 5000, "5s"},
        {"60s", 0, 60000, "1m"},
        {"10m", 0, 600000, "10m"},
        {"2h", 0, 7200000, "2h"},
        {"1d", 0, 86400000, "1d"},
        {"1h30m", 0, 5400000, "90m"},
        {"1d2h3m4s5ms", 0, 93784005, "93784005ms"},
        {"1500ms", 0, 1500, "1500ms"},
        {"24h", 0, 86400000, "1d"},
        {"5", -EINVAL, 0, NULL}, /* a unit is needed */
        {"", -EINVAL, 0, NULL},
        {"5 s", -EINVAL, 0, NULL},
        {"5sec", -EINVAL, 0, NULL},
        {"1.5s", -EINVAL, 0, NULL},
        {"-5s", -EINVAL, 0, NULL},
        {"30m1h", -EINVAL, 0, NULL}, /* units must shrink */
        {"5s5s", -EINVAL, 0, NULL},
        {"5S", -EINVAL, 0, NULL},
        {"s", -EINVAL, 0, NULL},
        {"99999999999999999999d", -ERANGE, 0, NULL},
        {"300000000000d", -ERANGE, 0, NULL},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint64_t ms = 12345;
        char buf[32];
        int rc = config_parse_duration(cases[i].s, &ms);

        if (rc != cases[i].rc)
            print_message("duration \"%s\"\n", cases[i].s);
        assert_int_equal(rc, cases[i].rc);
        if (rc == 0) {
            assert_int_equal(ms, cases[i].ms);
            assert_string_equal(config_format_duration(ms, buf, sizeof(buf)), cases[i].canonical);
            assert_int_equal(config_parse_duration(buf, &ms), 0);
            assert_int_equal(ms, cases[i].ms);
        }
    }
}

static void test_sizes(void **state)
{
    static const struct {
        const char *s;
        int rc;
        uint64_t bytes;
        const char *canonical;
    } cases[] = {
        {"4096", 0, 4096, "4KiB"},
        {"1000", 0, 1000, "1000"},
        {"0", 0, 0, "0"},
        {"512B", 0, 512, "512"},
        {"64KiB", 0, 65536, "64KiB"},
        {"64K", 0, 65536, "64KiB"},
        {"8MiB", 0, 8388608, "8MiB"},
        {"8mib", 0, 8388608, "8MiB"},
        {"1GiB", 0, 1073741824, "1GiB"},
        {"1536KiB", 0, 1572864, "1536KiB"},
        {"2TiB", 0, UINT64_C(2199023255552), "2048GiB"},
        {"8MB", -EINVAL, 0, NULL}, /* decimal units are not taken */
        {"8 MiB", -EINVAL, 0, NULL},
        {"-1", -EINVAL, 0, NULL},
        {"1.5MiB", -EINVAL, 0, NULL},
        {"MiB", -EINVAL, 0, NULL},
        {"", -EINVAL, 0, NULL},
        {"99999999999999999999", -ERANGE, 0, NULL},
        {"99999999999TiB", -ERANGE, 0, NULL},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint64_t bytes = 7;
        char buf[32];
        int rc = config_parse_size(cases[i].s, &bytes);

        if (rc != cases[i].rc)
            print_message("size \"%s\"\n", cases[i].s);
        assert_int_equal(rc, cases[i].rc);
        if (rc == 0) {
            assert_int_equal(bytes, cases[i].bytes);
            assert_string_equal(config_format_size(bytes, buf, sizeof(buf)), cases[i].canonical);
        }
    }
}

/* config_url_check() is the harvest folder's URL filter (discover_url_check)
 * with its reasons: the configuration accepts what the engine would fetch,
 * and spaces and non-ASCII bytes are percent-encoded rather than refused. */
static void test_url_check(void **state)
{
    static const struct {
        const char *url;
        bool allow_file;
        const char *err; /* NULL: accepted */
    } cases[] = {
        {"https://digitalarchive.wilsoncenter.org/document/112345", false, NULL},
        {"http://127.0.0.1:8080/a?b=c#d", false, NULL},
        {"HTTPS://Example.ORG", false, NULL},
        {"http://[::1]:8080/", false, NULL},
        {"file:///srv/pages/a.html", true, NULL},
        {"file://localhost/srv/a.html", true, NULL},
        {"https://example.org/a b", false, NULL},
        {"https://example.org/\xd0\xb0", false, NULL},
        {"https://example.org:/", false, NULL},
        {"file:///srv/pages/a.html", false, "file URLs are not allowed for this source"},
        {"file://host/x", true, "file URL names a host"},
        {"ftp://example.org/x", false, "scheme not allowed (only http and https)"},
        {"gopher://example.org/", false, "scheme not allowed (only http and https)"},
        {"javascript:alert(1)", false, "scheme not allowed (only http and https)"},
        {"dict://x/", true, "scheme not allowed (only http and https)"},
        {"http://u:p@example.org/", false, "user name or password in URL"},
        {"http://u@example.org/", false, "user name or password in URL"},
        {"https://example.org\\@evil/", false, "backslash in URL"},
        {"https://example.org/a\x01/b", false, "control character in URL"},
        {"example.org/x", false, "not an absolute URL (no scheme)"},
        {"https:example.org", false, "no host in URL"},
        {"https:///path", false, "no host in URL"},
        {"https://exa mple.org", false, "invalid character in host name"},
        {"https://ex!ample.org/", false, "invalid character in host name"},
        {"https://\xd0\xb0.example/", false, "non-ASCII host name (write it in punycode)"},
        {"https://example.org:0/", false, "invalid port in URL"},
        {"https://example.org:65536/", false, "invalid port in URL"},
        {"http://[::1/", false, "invalid IPv6 address in URL"},
        {"", false, "empty URL"},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char err[256] = "";
        int rc = config_url_check(cases[i].url, cases[i].allow_file, err, sizeof(err));

        if ((rc == 0) != (cases[i].err == NULL))
            print_message("url \"%s\": %s\n", cases[i].url, err);
        assert_int_equal(rc == 0, cases[i].err == NULL);
        if (cases[i].err != NULL)
            assert_string_equal(err, cases[i].err);
    }
}

static void test_addresses(void **state)
{
    struct fixture *f = *state;
    static const struct {
        const char *value;
        const char *printed; /* NULL: an error, err */
        const char *err;
    } cases[] = {
        {"127.0.0.1", "allow-addresses = 127.0.0.1", NULL},
        {"127.0.0.1:8000-8099, 10.0.0.0/8", "allow-addresses = 127.0.0.1:8000-8099 10.0.0.0/8",
         NULL},
        {"[::1]:8080 fd00::/8", "allow-addresses = [::1]:8080 fd00::/8", NULL},
        {"[fd00::/8]:443 [fd00::]/16:80-90", "allow-addresses = [fd00::/8]:443 [fd00::/16]:80-90",
         NULL},
        {"0.0.0.0/0", "allow-addresses = 0.0.0.0/0", NULL},
        {"", "allow-addresses =", NULL},
        {"10.1.2.3/8", NULL,
         "t.conf:2: allow-addresses: \"10.1.2.3/8\": the address has bits set after the /8 "
         "prefix"},
        {"localhost", NULL,
         "t.conf:2: allow-addresses: \"localhost\" is not an address (write e.g. "
         "127.0.0.1:8000-8099, 10.0.0.0/8, [::1]:8080 or fd00::/8)"},
        {"127.0.0.1:0", NULL,
         "t.conf:2: allow-addresses: \"127.0.0.1:0\": ports must be P or P-Q with 1 <= P <= Q "
         "<= 65535"},
        {"127.0.0.1:90-80", NULL,
         "t.conf:2: allow-addresses: \"127.0.0.1:90-80\": ports must be P or P-Q with 1 <= P "
         "<= Q <= 65535"},
        {"10.0.0.0/33", NULL,
         "t.conf:2: allow-addresses: \"10.0.0.0/33\": the prefix length must be 0 to 32"},
        {"fd00::/8:80", NULL,
         "t.conf:2: allow-addresses: \"fd00::/8:80\": write an IPv6 address with ports in "
         "brackets, as [2001:db8::]/32:8000-8099"},
        {"0x7f000001", NULL,
         "t.conf:2: allow-addresses: \"0x7f000001\" is not an address (write e.g. "
         "127.0.0.1:8000-8099, 10.0.0.0/8, [::1]:8080 or fd00::/8)"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *text, *out;
        struct config *c;

        assert_int_not_equal(asprintf(&text, "[provd]\nallow-addresses = %s\n", cases[i].value),
                             -1);
        c = load_text(f, text);
        free(text);
        if (cases[i].printed == NULL) {
            const char *want[] = {cases[i].err, NULL};

            assert_null(c);
            errors_expect(&f->errors, want);
            continue;
        }
        if (c == NULL)
            errors_dump(&f->errors);
        assert_non_null(c);
        out = printed(c);
        if (!has_line(out, cases[i].printed))
            print_message("%s", out);
        assert_true(has_line(out, cases[i].printed));
        free(out);
        config_free(c);
    }
}

static void test_addr_match(void **state)
{
    struct fixture *f = *state;
    static const struct {
        const char *addr;
        unsigned port;
        bool allowed;
    } cases[] = {
        {"127.0.0.1", 8000, true},
        {"127.0.0.1", 8099, true},
        {"127.0.0.1", 8100, false},
        {"127.0.0.1", 7999, false},
        {"127.0.0.2", 8000, false},
        {"10.255.1.2", 1, true},
        {"11.0.0.1", 80, false},
        {"::ffff:127.0.0.1", 8050, true},
        {"::ffff:127.0.0.2", 8050, false},
        {"::1", 8080, true},
        {"::1", 8081, false},
        {"fd12:3456::1", 443, true},
        {"fe80::1", 443, false},
        {"192.168.1.1", 80, true},
        {"192.168.2.1", 80, false},
    };
    struct config *c = load_text(f, "[provd]\nallow-addresses = 127.0.0.1:8000-8099 10.0.0.0/8 "
                                    "[::1]:8080 fd00::/8 192.168.1.0/25\n");

    assert_non_null(c);
    assert_int_equal(c->allow_addresses.n, 5);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct sockaddr_in in = {.sin_family = AF_INET};
        struct sockaddr_in6 in6 = {.sin6_family = AF_INET6};
        const struct sockaddr *sa;
        bool allowed = false;

        if (inet_pton(AF_INET, cases[i].addr, &in.sin_addr) == 1) {
            in.sin_port = htons((uint16_t)cases[i].port);
            sa = (const struct sockaddr *)&in;
        } else {
            assert_int_equal(inet_pton(AF_INET6, cases[i].addr, &in6.sin6_addr), 1);
            in6.sin6_port = htons((uint16_t)cases[i].port);
            sa = (const struct sockaddr *)&in6;
        }
        for (size_t k = 0; k < c->allow_addresses.n; k++)
            allowed = allowed || config_addr_match(&c->allow_addresses.v[k], sa);
        if (allowed != cases[i].allowed)
            print_message("%s port %u\n", cases[i].addr, cases[i].port);
        assert_int_equal(allowed, cases[i].allowed);
    }
    config_free(c);
}

/* ---- Defaults ------------------------------------------------------------ */

static void test_defaults(void **state)
{
    struct fixture *f = *state;
    struct config *c = load_ok(f, NULL);
    char *out;

    assert_null(c->path);
    assert_string_equal(c->database, "provd-state/catalog.db");
    assert_string_equal(c->socket, "provd.sock");
    assert_int_equal(c->socket_mode, 0660);
    assert_int_equal(c->socket_allow_uids.v[0], getuid());
    assert_int_equal(c->socket_allow_uids.n, getuid() == 0 ? 1 : 2);
    assert_int_equal(c->socket_allow_uids.v[c->socket_allow_uids.n - 1], 0);
    assert_int_equal(c->socket_allow_gids.v[0], getgid());
    assert_string_equal(c->user_agent, "provd/" PROVD_VERSION);
    assert_null(c->contact);
    assert_int_equal(c->extract_workers, 1);
    assert_int_equal(c->extract_cpu_budget_ms, 2000);
    assert_int_equal(c->extract_memory_limit, 256 << 20);
    assert_int_equal(c->max_page_size, 8 << 20);
    assert_int_equal(c->connect_timeout_ms, 10000);
    assert_int_equal(c->transfer_timeout_ms, 60000);
    assert_int_equal(c->low_speed_limit, 1024);
    assert_int_equal(c->low_speed_time_ms, 15000);
    assert_int_equal(c->max_redirects, 5);
    assert_int_equal(c->retries, 3);
    assert_int_equal(c->retry_after_max_ms, 3600000);
    assert_int_equal(c->crawl_delay_max_ms, 60000);
    assert_int_equal(c->max_connections, 32);
    assert_int_equal(c->allow_addresses.n, 0);
    assert_int_equal(c->db_busy_timeout_ms, 5000);
    assert_int_equal(c->api_max_connections, 64);
    assert_int_equal(c->api_deadline_ms, 10000);
    assert_int_equal(c->api_query_budget_ms, 250);
    assert_int_equal(c->manual_cooldown_ms, 60000);
    assert_int_equal(c->log_level, 6);
    assert_int_equal(c->n_sources, 0);
    assert_int_equal(c->n_profiles, 0);
    out = printed(c);
    assert_true(has_line(out, "[provd]"));
    assert_true(has_line(out, "socket-mode = 0660"));
    assert_true(has_line(out, "transfer-timeout = 1m"));
    assert_true(has_line(out, "; contact is not set"));
    free(out);
    config_free(c);

    /* systemd's directories, the first of several */
    setenv("STATE_DIRECTORY", "/var/lib/provd:/var/lib/other", 1);
    setenv("RUNTIME_DIRECTORY", "/run/provd", 1);
    c = load_ok(f, NULL);
    assert_string_equal(c->database, "/var/lib/provd/catalog.db");
    assert_string_equal(c->socket, "/run/provd/provd.sock");
    config_free(c);

    /* an empty file is the defaults too */
    c = load_text(f, "; nothing\n\n");
    assert_non_null(c);
    assert_string_equal(c->database, "/var/lib/provd/catalog.db");
    assert_string_equal(c->path, "t.conf");
    config_free(c);

    /* a default that cannot work is an error like any other */
    setenv("RUNTIME_DIRECTORY",
           "/run/a-directory-name-long-enough-that-the-socket-path-in-it-does-not-fit-into-"
           "the-sun-path-of-a-unix-socket-address",
           1);
    strlist_clear(&f->errors);
    assert_null(config_load(NULL, &f->errors));
    {
        char *sock = config_default_socket(), *msg;
        const char *want[] = {NULL, NULL};

        assert_int_not_equal(asprintf(&msg,
                                      "defaults: socket: %s is %zu bytes long; a UNIX socket "
                                      "path holds at most 107",
                                      sock, strlen(sock)),
                             -1);
        want[0] = msg;
        errors_expect(&f->errors, want);
        free(msg);
        free(sock);
    }
    unsetenv("STATE_DIRECTORY");
    unsetenv("RUNTIME_DIRECTORY");
}

/* Every row of the tables is complete and its default is in range (a bad
 * default would make config_load(NULL) fail). */
static void test_tables(void **state)
{
    (void)state;
    for (int s = CONFIG_SECTION_PROVD; s <= CONFIG_SECTION_SOURCE; s++) {
        size_t n;
        const struct config_directive *t = config_directives((enum config_section)s, &n);

        assert_true(n > 10);
        for (size_t i = 0; i < n; i++) {
            assert_non_null(t[i].name);
            assert_non_null(t[i].help);
            assert_true(strlen(t[i].help) > 10);
            assert_string_not_equal(config_type_name(t[i].type), "value");
            if (t[i].type == CONFIG_UINT || t[i].type == CONFIG_DURATION ||
                t[i].type == CONFIG_SIZE)
                assert_true(t[i].min <= t[i].max && t[i].max > 0);
            for (size_t k = 0; k < i; k++)
                assert_string_not_equal(t[i].name, t[k].name);
        }
    }
}

/* ---- Good files ------------------------------------------------------------ */

static void test_good_full(void **state)
{
    struct fixture *f = *state;
    static const char *const lines[] = {
        "socket = /run/provd-test/provd.sock",
        "socket-mode = 0600",
        "socket-allow-uids = 0 1000 1001",
        "socket-allow-gids = 0 100",
        "user-agent = provd/" PROVD_VERSION " (+mailto:archivist@example.org)",
        "contact = mailto:archivist@example.org",
        "extract-workers = 4",
        "extract-cpu-budget = 1500ms",
        "extract-memory-limit = 512MiB",
        "max-page-size = 4MiB",
        "connect-timeout = 5s",
        "transfer-timeout = 2m",
        "low-speed-limit = 2KiB",
        "low-speed-time = 30s",
        "max-redirects = 0",
        "retries = 10",
        "retry-after-max = 2h",
        "crawl-delay-max = 30s",
        "max-connections = 8",
        "allow-addresses = 127.0.0.1:8000-8099 10.0.0.0/8 [::1]:8080 fd00::/8",
        "db-busy-timeout = 2s",
        "api-max-connections = 128",
        "api-deadline = 30s",
        "api-query-budget = 1s",
        "manual-cooldown = 0",
        "log-level = debug",
        "[source wilson]",
        "profile = wilson",
        "listing = https://digitalarchive.wilsoncenter.org/search?page={page}",
        "listing-links = //a[contains(@href, '/document/')]/@href",
        "listing-next = //a[@rel='next']/@href",
        "listing-first-page = 1",
        "interval = 90m",
        "delay = 0",
        "concurrency = 2",
        "recheck = 7d",
        "enabled = no",
        "[source files]",
        "allow-file = yes",
        "sitemap = https://example.org/sitemap.xml",
        "; sitemap is not set",
    };
    struct config *c;
    const struct config_source *s;
    char *out, *want;

    copy_fixture("good-full.conf");
    copy_fixture("good.urls");
    c = load_ok(f, "good-full.conf");
    assert_int_equal(c->n_sources, 2);
    assert_int_equal(c->log_level, 7);
    assert_int_equal(c->connect_timeout_ms, 5000);
    assert_int_equal(c->low_speed_limit, 2048);
    assert_int_equal(c->manual_cooldown_ms, 0);
    assert_int_equal(c->socket_allow_uids.n, 3);
    assert_int_equal(c->socket_allow_uids.v[2], 1001);
    assert_int_equal(asprintf(&want, "%s/state/catalog.db", f->dir) > 0, 1);
    assert_string_equal(c->database, want);
    free(want);

    s = config_source_find(c, "wilson");
    assert_non_null(s);
    assert_int_equal(s->line, 32);
    assert_ptr_equal(s->profile, profile_builtin("wilson"));
    assert_int_equal(s->interval_ms, 5400000);
    assert_int_equal(s->delay_ms, 0);
    assert_int_equal(s->concurrency, 2);
    assert_false(s->enabled);
    assert_false(s->allow_file);
    assert_null(s->urls_file);
    assert_int_equal(s->urls.n, 0);

    s = config_source_find(c, "files");
    assert_non_null(s);
    assert_true(s->enabled);
    assert_true(s->allow_file);
    assert_null(s->listing);
    assert_null(s->listing_links);
    assert_int_equal(asprintf(&want, "%s/good.urls", f->dir) > 0, 1);
    assert_string_equal(s->urls_file, want);
    free(want);
    assert_int_equal(s->urls.n, 4);
    assert_string_equal(s->urls.v[0], "https://example.org/document/1");
    assert_string_equal(s->urls.v[1], "https://example.org/document/2");
    assert_int_equal(asprintf(&want, "file://%s/pages/a.html", f->dir) > 0, 1);
    assert_string_equal(s->urls.v[2], want);
    free(want);
    assert_int_equal(asprintf(&want, "file://%s/pages/with%%20space.html", f->dir) > 0, 1);
    assert_string_equal(s->urls.v[3], want);
    free(want);
    assert_null(config_source_find(c, "nope"));

    out = printed(c);
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
        if (!has_line(out, lines[i]))
            print_message("missing \"%s\" in:\n%s", lines[i], out);
        assert_true(has_line(out, lines[i]));
    }
    free(out);
    config_free(c);
}

/* Values in every spelling the syntax allows. */
static void test_good_spellings(void **state)
{
    struct fixture *f = *state;
    struct config *c;
    const struct config_source *s;

    c = load_text(f, "\xef\xbb\xbf"
                     "# a BOM, CRLF ends, comments of both kinds, odd spacing\r\n"
                     "[ provd ]   ; header comment\r\n"
                     "  log-level=WARNING\r\n"
                     "contact = https://example.org/bot#who ; the '#' in the URL stays\r\n"
                     "connect-timeout =\t1s500ms\t# a comment after a tab\r\n"
                     "socket-mode = 660\r\n"
                     "socket-allow-uids = root\r\n"
                     "socket-allow-gids = root, 0\r\n"
                     "\r\n"
                     "[source  caps.Name_1 ]\r\n"
                     "sitemap = HTTPS://EXAMPLE.ORG/SITEMAP.XML\r\n"
                     "enabled = Off\r\n"
                     "allow-file = TRUE\r\n"
                     "delay = 0\r\n");
    if (c == NULL)
        errors_dump(&f->errors);
    assert_non_null(c);
    assert_int_equal(c->log_level, 4);
    assert_string_equal(c->contact, "https://example.org/bot#who");
    assert_string_equal(c->user_agent, "provd/" PROVD_VERSION " (+https://example.org/bot#who)");
    assert_int_equal(c->connect_timeout_ms, 1500);
    assert_int_equal(c->socket_mode, 0660);
    assert_int_equal(c->socket_allow_uids.n, 1);
    assert_int_equal(c->socket_allow_uids.v[0], 0);
    assert_int_equal(c->socket_allow_gids.n, 1);
    assert_int_equal(c->socket_allow_gids.v[0], 0);
    assert_int_equal(c->n_sources, 1);
    s = &c->sources[0];
    assert_string_equal(s->name, "caps.Name_1");
    assert_int_equal(s->line, 10);
    assert_string_equal(s->sitemap, "HTTPS://EXAMPLE.ORG/SITEMAP.XML");
    assert_false(s->enabled);
    assert_true(s->allow_file);
    assert_int_equal(s->delay_ms, 0);
    assert_string_equal(s->profile_name, "wilson");
    config_free(c);
}

struct error_case {
    const char *text;
    const char *want[8];
};

static void run_error_cases(struct fixture *f, const struct error_case *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct config *c = load_text(f, cases[i].text);

        if (c != NULL)
            print_message("accepted:\n%s", cases[i].text);
        assert_null(c);
        errors_expect(&f->errors, cases[i].want);
    }
}

/* [profile NAME] sections go line by line to the harvest folder's profile
 * parser; the messages after "file:line: " are that parser's. */
static void test_profiles(void **state)
{
    struct fixture *f = *state;
    static const struct error_case cases[] = {
        {"[profile p]\nrecord_id = text //x\ntitle = text //h1\ncolour = text //b\n",
         {"t.conf:4: colour: *", NULL}},
        /* both required fields missing: reported at the header */
        {"[profile p]\ndate = text //time\n", {"t.conf:1: *", NULL}},
        /* a bad line is not reported again as a missing field */
        {"[profile p]\nrecord_id = text //x\ntitle = bogus //h1\n", {"t.conf:3: title: *", NULL}},
        {"[profile p]\nrecord_id = text //x\ntitle = text //h1[\n", {"t.conf:3: title: *", NULL}},
        {"[profile p]\nrecord_id = text //x\nrecord-id = text //y\ntitle = text //h1\n",
         {"t.conf:3: duplicate key \"record-id\" (first at line 2)", NULL}},
        {"[profile p]\nrecord_id = text //x\ntitle = text //h1\n[profile p]\n",
         {"t.conf:4: duplicate [profile p] (first at line 1)", NULL}},
        /* a source naming a broken profile adds no error of its own */
        {"[profile p]\ntitle = text //h1\ncolour = text //b\n[source s]\nprofile = p\n"
         "sitemap = https://example.org/s\n",
         {"t.conf:3: colour: *", NULL}},
        /* listing-links has a default for the wilson profile only */
        {"[profile p]\nrecord_id = text //x\ntitle = text //h1\n[source s]\nprofile = p\n"
         "listing = https://example.org/?page={page}\n",
         {"t.conf:6: listing: listing-links must be set too (there is a default for the wilson "
          "profile only)",
          NULL}},
    };
    struct config *c;
    const struct config_source *src;
    char *out;

    c = load_text(f, "[source s]\n"
                     "profile = mini\n"
                     "listing = https://example.org/list?page={page}\n"
                     "listing-links = //a[@class='record']/@href\n"
                     "\n"
                     "[profile mini]\n"
                     "record_id = attr content //meta[@name='record-id']\n"
                     "title = text //h1\n"
                     "blocked-marker = \"checking your browser\"\n"
                     "blocked-marker = \"access denied\"\n");
    if (c == NULL)
        errors_dump(&f->errors);
    assert_non_null(c);
    assert_int_equal(c->n_profiles, 1);
    assert_string_equal(c->profiles[0].name, "mini");
    assert_int_equal(c->profiles[0].line, 6);
    assert_int_equal(c->profiles[0].keys.n, 4);
    src = config_source_find(c, "s");
    assert_non_null(src);
    assert_non_null(src->profile);
    assert_ptr_equal(src->profile, c->profiles[0].profile);
    assert_string_equal(profile_name(src->profile), "mini");
    assert_string_equal(src->listing_links, "//a[@class='record']/@href");
    out = printed(c);
    assert_true(has_line(out, "[profile mini]"));
    assert_true(has_line(out, "record_id = attr content //meta[@name='record-id']"));
    assert_true(has_line(out, "blocked-marker = \"access denied\""));
    free(out);
    config_free(c);

    /* the built-in profile, and the default listing-links that comes with it */
    c = load_text(f, "[source w]\nlisting = https://example.org/?page={page}\n");
    assert_non_null(c);
    assert_ptr_equal(c->sources[0].profile, profile_builtin("wilson"));
    assert_string_equal(c->sources[0].listing_links, "//a[contains(@href, '/document/')]/@href");
    config_free(c);

    run_error_cases(f, cases, sizeof(cases) / sizeof(cases[0]));
}

/* ---- Errors ---------------------------------------------------------------- */

static void test_errors_syntax(void **state)
{
    static const struct error_case cases[] = {
        {"[provd]\nlog-level\n",
         {"t.conf:2:10: syntax error: expected '=' after \"log-level\"", NULL}},
        {"[provd]\n  = 5s\n", {"t.conf:2:3: syntax error: expected a key name", NULL}},
        {"[provd]\nlog.level = info\n",
         {"t.conf:2:4: syntax error: expected '=' after \"log\"", NULL}},
        {"[provd\n", {"t.conf:1:7: syntax error: expected ']'", NULL}},
        {"[provd] x\n", {"t.conf:1:9: syntax error: unexpected text after ']'", NULL}},
        {"[source \xd0\xb0\xd0\xb1] x\n",
         {"t.conf:1:13: syntax error: unexpected text after ']'", NULL}},
        {"delay = 5s\n", {"t.conf:1: \"delay\" is outside any section", NULL}},
        {"[provd]\ncontact = \xff\n", {"t.conf:2: not valid UTF-8 text", NULL}},
        {"[sauce x]\n",
         {"t.conf:1: unknown section [sauce] (sections are [provd], [source NAME], [profile "
          "NAME])",
          NULL}},
        {"[provd x]\n", {"t.conf:1: [provd] takes no name", NULL}},
        {"[source]\n", {"t.conf:1: [source] needs a name: [source NAME]", NULL}},
        {"[source a/b]\n",
         {"t.conf:1: [source a/b]: a name is 1 to 64 letters, digits, '.', '_' or '-'", NULL}},
        {"[provd]\n[provd]\n", {"t.conf:2: duplicate section [provd] (first at line 1)", NULL}},
        /* lines after a bad header are skipped, not reported again */
        {"[provd x]\nnonsense = 1\n[provd]\ncolour = 1\n",
         {"t.conf:1: [provd] takes no name", "t.conf:4: unknown key \"colour\" in [provd]", NULL}},
    };

    struct fixture *f = *state;
    static const char nul[] = "[provd]\ncontact = a\0b\n[source]\n";
    static const char *const want_nul[] = {"t.conf:2: not valid UTF-8 text",
                                           "t.conf:3: [source] needs a name: [source NAME]", NULL};
    FILE *fp;

    run_error_cases(f, cases, sizeof(cases) / sizeof(cases[0]));

    /* a NUL byte inside a line; reading goes on after it */
    fp = fopen("t.conf", "w");
    assert_non_null(fp);
    assert_int_equal(fwrite(nul, 1, sizeof(nul) - 1, fp), sizeof(nul) - 1);
    assert_int_equal(fclose(fp), 0);
    strlist_clear(&f->errors);
    assert_null(config_load("t.conf", &f->errors));
    errors_expect(&f->errors, want_nul);
}

static void test_errors_values(void **state)
{
    static const struct error_case cases[] = {
        {"[provd]\ndelay = 5s\n", {"t.conf:2: unknown key \"delay\" in [provd]", NULL}},
        {"[provd]\nlog-level = info\nlog-level = debug\n",
         {"t.conf:3: duplicate key \"log-level\" (first at line 2)", NULL}},
        {"[provd]\ncontact =\n", {"t.conf:2: contact: needs a value", NULL}},
        {"[provd]\ncontact = ; only a comment\n", {"t.conf:2: contact: needs a value", NULL}},
        {"[provd]\nuser-agent = caf\xc3\xa9\n",
         {"t.conf:2: user-agent: must be printable ASCII text", NULL}},
        {"[provd]\nconnect-timeout = 5 sec\n",
         {"t.conf:2: connect-timeout: \"5 sec\" is not a duration (write e.g. 150ms, 5s, 10m, "
          "2h, 1d or 1h30m)",
          NULL}},
        {"[provd]\nconnect-timeout = 5\n",
         {"t.conf:2: connect-timeout: \"5\" is not a duration (write e.g. 150ms, 5s, 10m, 2h, "
          "1d or 1h30m)",
          NULL}},
        {"[provd]\nmax-page-size = 8MB\n",
         {"t.conf:2: max-page-size: \"8MB\" is not a size (write e.g. 4096, 64KiB, 8MiB or "
          "1GiB)",
          NULL}},
        {"[provd]\nretries = three\n", {"t.conf:2: retries: \"three\" is not a number", NULL}},
        {"[provd]\nretries = +3\n", {"t.conf:2: retries: \"+3\" is not a number", NULL}},
        {"[provd]\nsocket-mode = 0689\n",
         {"t.conf:2: socket-mode: \"0689\" is not an octal mode (write e.g. 0660)", NULL}},
        {"[provd]\nsocket-mode = 0666\n",
         {"t.conf:2: socket-mode: 0666 lets every user write; leave o+w out", NULL}},
        {"[provd]\nsocket-mode = 1770\n",
         {"t.conf:2: socket-mode: 1770 is out of range (allowed: 0000 to 0777)", NULL}},
        {"[provd]\nlog-level = loud\n",
         {"t.conf:2: log-level: \"loud\" is not a log level (err, warning, notice, info, debug)",
          NULL}},
        {"[provd]\nsocket-allow-uids = 0 no-such-user-here\n",
         {"t.conf:2: socket-allow-uids: unknown user \"no-such-user-here\"", NULL}},
        {"[provd]\nsocket-allow-gids = no-such-group-here\n",
         {"t.conf:2: socket-allow-gids: unknown group \"no-such-group-here\"", NULL}},
        {"[provd]\nsocket-allow-uids = 4294967295\n",
         {"t.conf:2: socket-allow-uids: \"4294967295\" is not a valid user id", NULL}},
        {"[source s]\nsitemap = https://example.org/s\nenabled = maybe\n",
         {"t.conf:3: enabled: \"maybe\" is not a boolean (yes, no, true, false, on, off)", NULL}},
        {"[source s]\nsitemap = https://example.org/s\nprofile = a b\n",
         {"t.conf:3: profile: \"a b\" is not a name (1 to 64 letters, digits, '.', '_' or '-')",
          NULL}},
        {"[source s]\nlisting = https://example.org/?p={page}\nlisting-links = //a[\n",
         {"t.conf:3: listing-links: invalid XPath (Invalid expression at character 5)", NULL}},
        /* cross checks */
        {"[provd]\nconnect-timeout = 1m\ntransfer-timeout = 1m\n",
         {"t.conf:3: transfer-timeout (1m) must be longer than connect-timeout (1m)", NULL}},
        {"[provd]\nconnect-timeout = 2m\n",
         {"t.conf:2: transfer-timeout (1m) must be longer than connect-timeout (2m)", NULL}},
        {"[provd]\napi-deadline = 1s\napi-query-budget = 1s\n",
         {"t.conf:3: api-query-budget (1s) must be shorter than api-deadline (1s)", NULL}},
        {"[provd]\nmax-page-size = 200MiB\n",
         {"t.conf:2: extract-memory-limit (256MiB) must be at least twice max-page-size "
          "(200MiB)",
          NULL}},
        {"[provd]\nsocket = "
         "sockets/a-name-that-is-long-enough-that-the-whole-path-does-not-fit-into-the-"
         "socket-address.sock\n",
         {"t.conf:2: socket: /*", NULL}},
    };

    run_error_cases(*state, cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_errors_sources(void **state)
{
    static const struct error_case cases[] = {
        {"[source s]\ndelay = 1s\n", {"t.conf:1: [source s] needs urls, sitemap or listing", NULL}},
        {"[source s]\nlisting = https://example.org/search\n",
         {"t.conf:2: listing: the URL must hold {page} exactly once", NULL}},
        {"[source s]\nlisting = https://example.org/{page}?p={page}\n",
         {"t.conf:2: listing: the URL must hold {page} exactly once", NULL}},
        {"[source s]\nsitemap = https://example.org/s\nlisting-next = //a\nlisting-first-page = "
         "1\n",
         {"t.conf:3: listing-next: only meaningful with listing",
          "t.conf:4: listing-first-page: only meaningful with listing", NULL}},
        {"[source s]\nsitemap = https://example.org/s\nprofile = nosuch\n",
         {"t.conf:3: profile: unknown profile \"nosuch\" (neither built in nor a [profile "
          "nosuch] section)",
          NULL}},
        {"[source s]\nurls = missing.urls\n",
         {"missing.urls: cannot open URL list: No such file or directory", NULL}},
        {"[source s]\nurls = /\n", {"/: URL list is not a regular file", NULL}},
        {"[source a]\nsitemap = https://example.org/s\n[source a]\n[source b]\n",
         {"t.conf:3: duplicate [source a] (first at line 1)",
          "t.conf:4: [source b] needs urls, sitemap or listing", NULL}},
        {"[profile wilson]\n",
         {"t.conf:1: [profile wilson]: wilson is a built-in profile; choose another name", NULL}},
    };

    run_error_cases(*state, cases, sizeof(cases) / sizeof(cases[0]));
}

/* Errors go on after the first: a file with many gets them all, up to the
 * cap. */
static void test_errors_all_collected(void **state)
{
    struct fixture *f = *state;
    struct strbuf b = STRBUF_INIT;

    strbuf_adds(&b, "[provd]\n");
    for (int i = 0; i < 150; i++)
        strbuf_addf(&b, "key%d = %d\n", i, i);
    assert_null(load_text(f, strbuf_str(&b)));
    assert_int_equal(f->errors.n, CONFIG_MAX_ERRORS + 1);
    assert_string_equal(f->errors.v[0], "t.conf:2: unknown key \"key0\" in [provd]");
    assert_string_equal(f->errors.v[CONFIG_MAX_ERRORS - 1],
                        "t.conf:101: unknown key \"key99\" in [provd]");
    assert_string_equal(f->errors.v[CONFIG_MAX_ERRORS], "t.conf: too many errors; stopped reading");
    strbuf_release(&b);
}

/* ---- RELIABILITY.md C1-C7 ---------------------------------------------------- */

static void test_c1_missing(void **state)
{
    struct fixture *f = *state;
    static const char *const missing[] = {
        "nope.conf: cannot open configuration file: No such file or directory", NULL};
    static const char *const dir[] = {"sub: configuration file is not a regular file", NULL};
    static const char *const nodir[] = {
        "nodir/x.conf: cannot open configuration file: No such file or directory", NULL};

    assert_null(config_load("nope.conf", &f->errors));
    errors_expect(&f->errors, missing);
    strlist_clear(&f->errors);

    assert_null(config_load("nodir/x.conf", &f->errors));
    errors_expect(&f->errors, nodir);
    strlist_clear(&f->errors);

    assert_int_equal(mkdir("sub", 0755), 0);
    assert_null(config_load("sub", &f->errors));
    errors_expect(&f->errors, dir);
    strlist_clear(&f->errors);

    /* unreadable: root reads it anyway, so only as another user */
    write_file("locked.conf", "[provd]\n", 0000);
    if (geteuid() != 0) {
        static const char *const locked[] = {
            "locked.conf: cannot open configuration file: Permission denied", NULL};

        assert_null(config_load("locked.conf", &f->errors));
        errors_expect(&f->errors, locked);
    } else {
        struct config *c = config_load("locked.conf", &f->errors);

        assert_non_null(c);
        config_free(c);
    }
    strlist_clear(&f->errors);

    /* a file too big to be a configuration */
    {
        char *big = malloc(2 << 20);
        static const char *const want[] = {
            "big.conf: configuration file is larger than 1048576 bytes", NULL};

        assert_non_null(big);
        memset(big, ';', (2 << 20) - 1);
        big[(2 << 20) - 1] = '\0';
        write_file("big.conf", big, 0644);
        free(big);
        assert_null(config_load("big.conf", &f->errors));
        errors_expect(&f->errors, want);
    }
}

static void test_c2_syntax(void **state)
{
    struct fixture *f = *state;
    static const char *const want[] = {
        "c2-syntax.conf:3:11: syntax error: expected '=' after \"log-level\"",
        "c2-syntax.conf:4:15: syntax error: expected ']'",
        "c2-syntax.conf:5:1: syntax error: expected a key name",
        "c2-syntax.conf:6:13: syntax error: unexpected text after ']'",
        NULL,
    };

    copy_fixture("c2-syntax.conf");
    assert_null(config_load("c2-syntax.conf", &f->errors));
    errors_expect(&f->errors, want);
}

static void test_c3_range(void **state)
{
    struct fixture *f = *state;
    static const char *const want[] = {
        "c3-range.conf:4: connect-timeout: 0 is out of range (allowed: 100ms to 5m)",
        "c3-range.conf:5: transfer-timeout: -5s is out of range (allowed: 1s to 1h)",
        "c3-range.conf:6: max-connections: 0 is out of range (allowed: 1 to 1024)",
        "c3-range.conf:7: max-page-size: 1TiB is out of range (allowed: 4KiB to 256MiB)",
        "c3-range.conf:8: retries: 99999999999999999999999 is out of range (allowed: 1 to 10)",
        "c3-range.conf:9: low-speed-time: 1500ms is not a multiple of 1s",
        "c3-range.conf:13: concurrency: 1000000 is out of range (allowed: 1 to 64)",
        "c3-range.conf:14: delay: -1s is out of range (allowed: 0 to 1h)",
        "c3-range.conf:15: interval: 0 is out of range (allowed: 1s to 365d)",
        NULL,
    };

    copy_fixture("c3-range.conf");
    assert_null(config_load("c3-range.conf", &f->errors));
    errors_expect(&f->errors, want);
}

static void test_c4_unknown(void **state)
{
    struct fixture *f = *state;
    static const char *const want[] = {
        "c4-unknown.conf:3: unknown key \"colour\" in [provd]",
        "c4-unknown.conf:6: duplicate key \"sitemap\" (first at line 5)",
        "c4-unknown.conf:7: unknown key \"speed\" in [source a]",
        "c4-unknown.conf:8: duplicate [source a] (first at line 4)",
        "c4-unknown.conf:9: unknown section [sauce] (sections are [provd], [source NAME], "
        "[profile NAME])",
        "c4-unknown.conf:10: [profile] needs a name: [profile NAME]",
        NULL,
    };

    copy_fixture("c4-unknown.conf");
    assert_null(config_load("c4-unknown.conf", &f->errors));
    errors_expect(&f->errors, want);
}

static void test_c5_urls(void **state)
{
    struct fixture *f = *state;
    static const char *const want[] = {
        "c5-urls.conf:4: sitemap: scheme not allowed (only http and https)",
        "c5-urls.conf:5: listing: scheme not allowed (only http and https)",
        "c5-urls.conf:7: sitemap: user name or password in URL",
        "c5-urls.conf:9: sitemap: file URLs are not allowed for this source",
        "c5.urls:3: scheme not allowed (only http and https)",
        "c5.urls:4: scheme not allowed (only http and https)",
        "c5.urls:5: scheme not allowed (only http and https)",
        "c5.urls:6: user name or password in URL",
        "c5.urls:7: file URLs are not allowed for this source",
        "c5.urls:8: not a URL (no scheme; file paths need a source that allows file URLs)",
        NULL,
    };

    copy_fixture("c5-urls.conf");
    copy_fixture("c5.urls");
    assert_null(config_load("c5-urls.conf", &f->errors));
    errors_expect(&f->errors, want);
}

/* A urls file is read by the harvest folder's list loader, so the source
 * holds what the engine will fetch: URLs normalised, duplicates found after
 * normalisation, non-ASCII bytes percent-encoded, and file names (with
 * allow-file) taken literally up to a comment, spaces included. */
static void test_url_list_normalised(void **state)
{
    struct fixture *f = *state;
    const struct config_source *s;
    struct config *c;
    char *want;

    write_file("n.urls",
               "HTTPS://Example.ORG:443/document/1\n"
               "https://example.org/document/1#top\n"
               "https://example.org/caf\xc3\xa9\n"
               "pages/two  words%.html   # a comment\n",
               0644);
    c = load_text(f, "[source n]\nurls = n.urls\nallow-file = yes\n");
    if (c == NULL)
        errors_dump(&f->errors);
    assert_non_null(c);
    s = config_source_find(c, "n");
    assert_non_null(s);
    assert_int_equal(s->urls.n, 3);
    assert_string_equal(s->urls.v[0], "https://example.org/document/1");
    assert_string_equal(s->urls.v[1], "https://example.org/caf%C3%A9");
    assert_int_equal(asprintf(&want, "file://%s/pages/two%%20%%20words%%25.html", f->dir) > 0, 1);
    assert_string_equal(s->urls.v[2], want);
    free(want);
    config_free(c);
}

/* C6: a big list with duplicates loads within a bounded time, and one
 * over the cap is refused cleanly. */
static void test_c6_big_list(void **state)
{
    struct fixture *f = *state;
    FILE *fp = fopen("big.urls", "w");
    struct timespec t0, t1;
    struct config *c;
    double secs;

    assert_non_null(fp);
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < 100000; i++)
            fprintf(fp, "https://example.org/document/%d\n", i);
    }
    assert_int_equal(fclose(fp), 0);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    c = load_text(f, "[source big]\nurls = big.urls\n");
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_non_null(c);
    secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    print_message("200000 lines, 100000 distinct URLs loaded in %.3f s\n", secs);
    assert_true(secs < 10.0);
    assert_int_equal(c->sources[0].urls.n, 100000);
    assert_string_equal(c->sources[0].urls.v[99999], "https://example.org/document/99999");
    config_free(c);

    /* one URL over the cap */
    fp = fopen("big.urls", "w");
    assert_non_null(fp);
    for (int i = 0; i <= CONFIG_MAX_URLS; i++)
        fprintf(fp, "https://example.org/%d\n", i);
    assert_int_equal(fclose(fp), 0);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_null(load_text(f, "[source big]\nurls = big.urls\n"));
    clock_gettime(CLOCK_MONOTONIC, &t1);
    secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    print_message("%d URLs refused in %.3f s\n", CONFIG_MAX_URLS + 1, secs);
    {
        char want[128];
        const char *list[] = {want, NULL};

        snprintf(want, sizeof(want), "big.urls: more than %d URLs; refused", CONFIG_MAX_URLS);
        errors_expect(&f->errors, list);
    }
}

static void test_c7_writable(void **state)
{
    struct fixture *f = *state;
    static const char *const file[] = {
        "t.conf: refusing configuration file writable by every user (mode 0666); chmod o-w it",
        NULL};
    static const char *const dir[] = {
        "open: refusing a directory of configuration files writable by every user (mode 0777); "
        "chmod o-w it",
        NULL};
    static const char *const list[] = {
        "w.urls: refusing URL list writable by every user (mode 0646); chmod o-w it", NULL};
    struct config *c;

    write_file("t.conf", "[provd]\n", 0666);
    assert_null(config_load("t.conf", &f->errors));
    errors_expect(&f->errors, file);
    strlist_clear(&f->errors);

    /* group-writable is the administrator's choice, not refused */
    assert_int_equal(chmod("t.conf", 0664), 0);
    c = config_load("t.conf", &f->errors);
    assert_non_null(c);
    config_free(c);

    assert_int_equal(mkdir("open", 0777), 0);
    assert_int_equal(chmod("open", 0777), 0);
    write_file("open/p.conf", "[provd]\n", 0644);
    assert_null(config_load("open/p.conf", &f->errors));
    errors_expect(&f->errors, dir);
    strlist_clear(&f->errors);

    write_file("w.urls", "https://example.org/\n", 0646);
    assert_null(load_text(f, "[source s]\nurls = w.urls\n"));
    errors_expect(&f->errors, list);
}

/* ---- Printing and examples -------------------------------------------------- */

/* The printed configuration loads back to the same configuration. */
static void test_print_roundtrip(void **state)
{
    struct fixture *f = *state;
    struct config *c, *again;
    char *first, *second;
    FILE *fp;

    copy_fixture("good-full.conf");
    copy_fixture("good.urls");
    c = load_ok(f, "good-full.conf");
    first = printed(c);
    fp = fopen("printed.conf", "w");
    assert_non_null(fp);
    fputs(first, fp);
    assert_int_equal(fclose(fp), 0);
    again = load_ok(f, "printed.conf");
    second = printed(again);
    /* the first line names the file; the rest must match */
    assert_string_equal(strchr(first, '\n'), strchr(second, '\n'));
    assert_int_equal(again->sources[1].urls.n, c->sources[1].urls.n);
    free(first);
    free(second);
    config_free(c);
    config_free(again);
}

static void test_examples(void **state)
{
    struct fixture *f = *state;
    char *path;
    struct config *c;
    const struct config_source *s;

    assert_int_not_equal(asprintf(&path, "%s/examples/provd.conf", source_root()), -1);
    c = load_ok(f, path);
    free(path);
    s = config_source_find(c, "wilson");
    assert_non_null(s);
    assert_string_equal(s->listing, "https://digitalarchive.wilsoncenter.org/search?page={page}");
    assert_int_equal(s->delay_ms, 5000);
    assert_int_equal(s->concurrency, 1);
    assert_int_equal(s->interval_ms, 86400000);
    assert_int_equal(s->recheck_ms, 30 * 86400000ULL);
    assert_non_null(c->contact);
    config_free(c);

    assert_int_not_equal(asprintf(&path, "%s/examples/demo.conf", source_root()), -1);
    c = load_ok(f, path);
    free(path);
    s = config_source_find(c, "demo");
    assert_non_null(s);
    assert_true(s->allow_file);
    assert_true(s->urls.n >= 9);
    for (size_t i = 0; i < s->urls.n; i++) {
        assert_memory_equal(s->urls.v[i], "file:///", 8);
        assert_non_null(strstr(s->urls.v[i], "/examples/pages/"));
    }
    assert_int_equal(c->n_profiles, 1);
    assert_string_equal(c->profiles[0].name, "demo-minimal");
    assert_non_null(c->profiles[0].profile);
    config_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_durations),
        cmocka_unit_test(test_sizes),
        cmocka_unit_test(test_url_check),
        cmocka_unit_test(test_tables),
        cmocka_unit_test_setup_teardown(test_addresses, setup, teardown),
        cmocka_unit_test_setup_teardown(test_addr_match, setup, teardown),
        cmocka_unit_test_setup_teardown(test_defaults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_good_full, setup, teardown),
        cmocka_unit_test_setup_teardown(test_good_spellings, setup, teardown),
        cmocka_unit_test_setup_teardown(test_profiles, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors_syntax, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors_values, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors_sources, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors_all_collected, setup, teardown),
        cmocka_unit_test_setup_teardown(test_c1_missing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_c2_syntax, setup, teardown),
        cmocka_unit_test_setup_teardown(test_c3_range, setup, teardown),
        cmocka_unit_test_setup_teardown(test_c4_unknown, setup, teardown),
        cmocka_unit_test_setup_teardown(test_c5_urls, setup, teardown),
        cmocka_unit_test_setup_teardown(test_url_list_normalised, setup, teardown),
        cmocka_unit_test_setup_teardown(test_c6_big_list, setup, teardown),
        cmocka_unit_test_setup_teardown(test_c7_writable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_print_roundtrip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_examples, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
