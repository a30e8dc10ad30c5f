/*
 * config: provd's configuration — the directive tables, the INI parser that
 * reads them, and the effective configuration it produces.
 *
 * Every directive is one row of a table (name, type, bounds, default, help
 * line); the parser, `provd --check-config -v` (config_print) and the man
 * page generator (conf_man) read the same rows. A load is atomic: it yields
 * a complete new struct config or NULL and the list of every error found,
 * each written "file:line: message" ("file:line:column: message" for
 * syntax errors). Nothing global is kept.
 */
#ifndef PROVD_CONFIG_H
#define PROVD_CONFIG_H

#include "record.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct profile;
struct sockaddr;

/* Exit status of provd and provctl for a configuration error (sysexits'
 * EX_CONFIG); provd.service lists it in RestartPreventExitStatus=. */
#define CONFIG_EX_CONFIG 78
/* Exit status when the system, not the configuration, failed the load. */
#define CONFIG_EX_OSERR 71

/* At most this many URLs are read from one source's urls file. */
#define CONFIG_MAX_URLS 1000000

/* Errors collected from one file before the parser gives up. */
#define CONFIG_MAX_ERRORS 100

/* The longest path a UNIX socket address can hold (sun_path less the NUL). */
#define CONFIG_SOCKET_PATH_MAX 107

/* The type of a directive's value: how it is read, stored and printed. */
enum config_type {
    CONFIG_STRING,   /* one line of printable text; char * */
    CONFIG_NAME,     /* a section name: letters, digits, '.', '_', '-'; char * */
    CONFIG_PATH,     /* a file name, relative ones against the file's directory;
                        char * */
    CONFIG_URL,      /* an http or https URL (file: with allow-file); char * */
    CONFIG_TEMPLATE, /* a CONFIG_URL holding "{page}" once; char * */
    CONFIG_XPATH,    /* an XPath 1.0 expression that compiles; char * */
    CONFIG_BOOL,     /* yes/no, true/false, on/off; bool */
    CONFIG_UINT,     /* a decimal number; unsigned */
    CONFIG_DURATION, /* "150ms", "5s", "10m", "2h", "1d", "1h30m"; uint64_t ms */
    CONFIG_SIZE,     /* "4096", "64KiB", "8MiB", "1GiB"; uint64_t bytes */
    CONFIG_MODE,     /* octal permission bits ("0660"); unsigned */
    CONFIG_USERS,    /* user names or uids; struct config_ids */
    CONFIG_GROUPS,   /* group names or gids; struct config_ids */
    CONFIG_ADDRS,    /* addresses and networks with ports; struct config_addrs */
    CONFIG_LOGLEVEL, /* err, warning, notice, info, debug; int priority 3..7 */
};

/* One row of a directive table. The value lives at offset in struct
 * config ([provd]) or struct config_source ([source NAME]). */
struct config_directive {
    const char *name;
    enum config_type type;
    size_t offset;
    uint64_t min, max;       /* inclusive bounds of numeric types (ms, bytes) */
    uint64_t step;           /* a numeric value must be a multiple of step (0: any) */
    const char *def;         /* the default in configuration syntax, or NULL when
                                it is computed at load (see doc_default) */
    const char *doc_default; /* how the man page states a computed default;
                                NULL when def says it all or there is none */
    const char *help;        /* one or two sentences for the man page */
};

/* The sections whose directives are fixed by a table. */
enum config_section {
    CONFIG_SECTION_PROVD,  /* [provd] */
    CONFIG_SECTION_SOURCE, /* [source NAME] */
};

/* A list of numeric user or group ids. */
struct config_ids {
    unsigned *v;
    size_t n;
};

/* One entry of allow-addresses: an address or network and a port range. */
struct config_addr {
    int family;                  /* AF_INET or AF_INET6 */
    unsigned char addr[16];      /* network byte order; 4 bytes for AF_INET */
    unsigned prefix;             /* leading bits that must match */
    unsigned port_min, port_max; /* inclusive; 1..65535 when none was given */
};

struct config_addrs {
    struct config_addr *v;
    size_t n;
};

/* A [profile NAME] section: its lines as written, and the profile the
 * harvest folder built from them. */
struct config_profile {
    char *name;
    unsigned line;           /* line of the section header */
    struct strlist keys;     /* as written, in order */
    struct strlist values;   /* values[i] belongs to keys[i] */
    struct profile *profile; /* owned; passed profile_check() */
};

/* A [source NAME] section. Paths are absolute once loaded. */
struct config_source {
    char *name;
    unsigned line; /* line of the section header */
    char *profile_name;
    const struct profile *profile; /* built-in, or owned by a config_profile */
    char *urls_file;               /* NULL when not set */
    struct strlist urls;           /* the file's URLs, read by harvest's URL
                                      list loader: normalised, file names
                                      turned into file:// URLs, duplicates
                                      removed, in file order */
    char *sitemap;                 /* NULL when not set */
    char *listing;                 /* NULL when not set; holds "{page}" */
    char *listing_links;           /* XPath; NULL without listing */
    char *listing_next;            /* XPath; NULL when not set */
    unsigned listing_first_page;
    uint64_t interval_ms;
    uint64_t delay_ms;
    unsigned concurrency;
    uint64_t recheck_ms;
    bool enabled;
    bool allow_file;
};

/* The effective configuration: a plain struct, read directly; every field
 * holds its default when the file did not set it. Owned by whoever
 * config_load() returned it to; freed with config_free(). */
struct config {
    char *path; /* the file as given to config_load(), or NULL */

    /* [provd] */
    char *database;
    char *socket;
    unsigned socket_mode;
    struct config_ids socket_allow_uids;
    struct config_ids socket_allow_gids;
    char *user_agent;
    char *contact; /* NULL when not set */
    unsigned extract_workers;
    uint64_t extract_cpu_budget_ms;
    uint64_t extract_memory_limit;
    uint64_t max_page_size;
    uint64_t connect_timeout_ms;
    uint64_t transfer_timeout_ms;
    uint64_t low_speed_limit; /* bytes per second */
    uint64_t low_speed_time_ms;
    unsigned max_redirects;
    unsigned retries;
    uint64_t retry_after_max_ms;
    uint64_t crawl_delay_max_ms;
    unsigned max_connections;
    struct config_addrs allow_addresses;
    uint64_t db_busy_timeout_ms;
    unsigned api_max_connections;
    uint64_t api_deadline_ms;
    uint64_t api_query_budget_ms;
    unsigned api_workers;     /* query threads */
    unsigned api_queue_depth; /* queries waiting for a thread */
    uint64_t manual_cooldown_ms;
    int log_level;

    struct config_source *sources;
    size_t n_sources;
    struct config_profile *profiles;
    size_t n_profiles;
};

/* Read the configuration file path, or the defaults alone when path is
 * NULL. Returns a new configuration, or NULL after appending every error
 * found to errors (one "file:line: message" string each; the file's own
 * problems, such as a missing file or one writable by other users, come
 * as "file: message"). Sources' urls files are read here too. Reads the
 * environment (STATE_DIRECTORY, RUNTIME_DIRECTORY) for defaults; changes
 * nothing outside what it returns. */
struct config *config_load(const char *path, struct strlist *errors);

/* Free c and everything it owns; NULL is allowed. */
void config_free(struct config *c);

/* The source called name, or NULL; lives as long as c. */
const struct config_source *config_source_find(const struct config *c, const char *name);

/* Write the effective configuration to out in configuration syntax, every
 * directive included, so that loading the output gives the same
 * configuration. */
void config_print(const struct config *c, FILE *out);

/* The directive table of section s; *n receives its length. Static. */
const struct config_directive *config_directives(enum config_section s, size_t *n);

/* The name of a value type as the man page shows it ("duration"). Static. */
const char *config_type_name(enum config_type t);

/* Parse a duration ("0", "150ms", "5s", "10m", "2h", "1d", "1h30m") into
 * milliseconds. Returns 0, or -EINVAL (not a duration) or -ERANGE (too
 * long). */
int config_parse_duration(const char *s, uint64_t *ms);

/* Parse a size ("4096", "512B", "64KiB", "8MiB", "1GiB"; K, M, G are the
 * same binary units) into bytes. Returns 0, -EINVAL or -ERANGE. */
int config_parse_size(const char *s, uint64_t *bytes);

/* Write ms as the shortest exact duration ("1d", "90m", "1500ms") into buf
 * (at least 32 bytes). Returns buf. */
char *config_format_duration(uint64_t ms, char *buf, size_t len);

/* Write bytes as the largest exact binary unit ("8MiB", "1000") into buf
 * (at least 32 bytes). Returns buf. */
char *config_format_size(uint64_t bytes, char *buf, size_t len);

/* Check a URL that provd may fetch with the harvest folder's URL filter,
 * the one the fetch engine applies (discover_url_check()): http or https
 * (and file: when allow_file is set), a host, no user name or password, no
 * control character or backslash, at most 4096 bytes; spaces and non-ASCII
 * bytes are percent-encoded, not refused. Returns 0, or -EINVAL with the
 * filter's reason in err (at most errlen bytes). */
int config_url_check(const char *url, bool allow_file, char *err, size_t errlen);

/* Write a in the syntax of allow-addresses and of harvest's address policy
 * (addrpolicy_allow): "10.0.0.0/8", "127.0.0.1:8000-8099", "[fd00::/8]:443",
 * "::1". buf should hold 80 bytes. Returns buf. */
char *config_addr_format(const struct config_addr *a, char *buf, size_t len);

/* True when address sa (AF_INET or AF_INET6; IPv4-mapped IPv6 addresses
 * count as IPv4) with its port falls inside entry a. */
bool config_addr_match(const struct config_addr *a, const struct sockaddr *sa);

/* The default catalog path: $STATE_DIRECTORY/catalog.db (the first entry
 * when it lists several), else provd-state/catalog.db in the current
 * directory. The caller frees it. */
char *config_default_database(void);

/* The default socket path: $RUNTIME_DIRECTORY/provd.sock, else provd.sock
 * in the current directory. The caller frees it. */
char *config_default_socket(void);

#endif
