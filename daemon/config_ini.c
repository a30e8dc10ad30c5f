/*
 * config_ini: the reader behind config_load() — the INI file read line by
 * line into sections and directives, each value set through its table row
 * (config_value), sources' URLs checked and their urls files read
 * (config_urls), [profile] lines handed to the harvest folder's profile
 * parser — and the error list of one load.
 *
 * It fills the struct config it is given and owns only the state of one
 * load (struct config_ini). It never logs, never exits and keeps no global
 * state: every problem becomes one "file:line: message" string in the
 * caller's error list. It opens the configuration file and sources' urls
 * files after checking who may write them, and changes nothing.
 */
#include "config_ini.h"

#include "config_urls.h"
#include "config_value.h"
#include "harvest.h"
#include "strbuf.h"
#include "text.h"
#include "xmalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The largest configuration file read; a bigger one is a mistake. */
#define CONFIG_FILE_MAX (1024 * 1024)

/* ---- Errors ------------------------------------------------------------ */

/* Add msg, a whole message, to the error list (msg is stolen). After
 * CONFIG_MAX_ERRORS the parse stops. */
static void report_msg(struct config_ini *ps, char *msg)
{
    if (ps->stopped) {
        free(msg);
        return;
    }
    strlist_add_steal(ps->errors, msg);
    if (++ps->n_errors >= CONFIG_MAX_ERRORS) {
        strlist_add_steal(ps->errors, xasprintf("%s: too many errors; stopped reading", ps->name));
        ps->n_errors++;
        ps->stopped = true;
    }
}

void config_ini_report(struct config_ini *ps, const char *file, unsigned line, unsigned col,
                       const char *fmt, ...)
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
    report_msg(ps, strbuf_steal(&b));
}

/* ---- Files ------------------------------------------------------------- */

/* How a resolved path reads in messages: relative to the configuration
 * file's directory as the user named it, when it lies under it. */
static char *path_display(const struct config_ini *ps, const char *abs)
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
static bool mode_safe(struct config_ini *ps, const char *display, const struct stat *st,
                      const char *what)
{
    if ((st->st_mode & S_IWOTH) == 0)
        return true;
    config_ini_report(ps, display, 0, 0,
                      "refusing %s writable by every user (mode %04o); chmod o-w it", what,
                      (unsigned)(st->st_mode & 07777));
    return false;
}

/* Open a file for reading after the checks every file of the
 * configuration passes: a regular file, neither it nor its directory
 * writable by every user. Returns the descriptor or -1 (reported). */
static int open_checked(struct config_ini *ps, const char *path, const char *display,
                        const char *what, off_t maxsize, struct stat *st)
{
    struct stat dst;
    char *dir;
    int fd;

    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        int e = errno;

        /* Out of descriptors or memory: the system's trouble, not the
         * configuration's (config_load() says so through errno). */
        if (ps->os_errno == 0 && (e == EMFILE || e == ENFILE || e == ENOMEM || e == ENOBUFS))
            ps->os_errno = e;
        config_ini_report(ps, display, 0, 0, "cannot open %s: %s", what, strerror(e));
        return -1;
    }
    if (fstat(fd, st) < 0) {
        config_ini_report(ps, display, 0, 0, "cannot stat %s: %s", what, strerror(errno));
        goto fail;
    }
    if (!S_ISREG(st->st_mode)) {
        config_ini_report(ps, display, 0, 0, "%s is not a regular file", what);
        goto fail;
    }
    if (maxsize > 0 && st->st_size > maxsize) {
        config_ini_report(ps, display, 0, 0, "%s is larger than %lld bytes", what,
                          (long long)maxsize);
        goto fail;
    }
    if (!mode_safe(ps, display, st, what))
        goto fail;
    dir = path_dirname(path);
    if (stat(dir, &dst) < 0) {
        config_ini_report(ps, dir, 0, 0, "cannot stat the directory of %s: %s", display,
                          strerror(errno));
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

/* ---- Tables ------------------------------------------------------------ */

void config_ini_defaults(struct config_ini *ps, const struct config_directive *table, size_t n,
                         void *base)
{
    char err[256];

    for (size_t i = 0; i < n; i++) {
        if (table[i].def != NULL &&
            config_value_set(&table[i], base, table[i].def, ".", err, sizeof(err)) < 0)
            config_ini_report(ps, "internal", 0, 0, "default of %s: %s", table[i].name, err);
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

unsigned config_ini_source_line(const struct config_ini *ps, size_t s, const char *name)
{
    size_t n, i;
    const struct config_directive *table = config_directives(CONFIG_SECTION_SOURCE, &n);

    if (table_find(table, n, name, &i) == NULL)
        abort(); /* a name missing from the table is a bug here */
    return ps->src_at[s].at[i];
}

unsigned config_ini_provd_line(const struct config_ini *ps, const char *name)
{
    size_t n, i;
    const struct config_directive *table = config_directives(CONFIG_SECTION_PROVD, &n);

    return table_find(table, n, name, &i) ? ps->provd_at[i] : 0;
}

/* ---- URLs ---------------------------------------------------------------- */

/* Read a source's urls file into src->urls (config_urls_read()), after the
 * checks of every file the configuration reads; not once the load has
 * stopped. */
static void urls_load(struct config_ini *ps, struct config_source *src)
{
    char *display, *udir;
    struct strlist msgs = {0};
    struct stat st;
    int fd;

    if (ps->stopped)
        return;
    display = path_display(ps, src->urls_file);
    udir = path_dirname(src->urls_file);
    fd = open_checked(ps, src->urls_file, display, "URL list", 0, &st);
    if (fd >= 0) {
        config_urls_read(src, fd, display, udir, &msgs);
        close(fd);
    }
    for (size_t i = 0; i < msgs.n; i++)
        report_msg(ps, xstrdup(msgs.v[i]));
    strlist_clear(&msgs);
    free(udir);
    free(display);
}

/* ---- Sections ------------------------------------------------------------ */

static struct config_source *source_cur(struct config_ini *ps)
{
    return &ps->c->sources[ps->c->n_sources - 1];
}

/* Checks that need the whole [source] section. */
static void source_finish(struct config_ini *ps)
{
    struct config_source *src = source_cur(ps);
    size_t s = ps->c->n_sources - 1;
    char err[256];

    if (src->sitemap != NULL &&
        config_url_check(src->sitemap, src->allow_file, err, sizeof(err)) < 0)
        config_ini_report(ps, NULL, config_ini_source_line(ps, s, "sitemap"), 0, "sitemap: %s",
                          err);
    if (src->listing != NULL && config_urls_template_check(src->listing, src->listing_first_page,
                                                           src->allow_file, err, sizeof(err)) < 0)
        config_ini_report(ps, NULL, config_ini_source_line(ps, s, "listing"), 0, "listing: %s",
                          err);
    if (src->urls_file == NULL && src->sitemap == NULL && src->listing == NULL)
        config_ini_report(ps, NULL, src->line, 0, "[source %s] needs urls, sitemap or listing",
                          src->name);
    if (src->listing == NULL) {
        static const char *const needs_listing[] = {"listing-links", "listing-next",
                                                    "listing-first-page"};

        for (size_t k = 0; k < 3; k++) {
            unsigned line = config_ini_source_line(ps, s, needs_listing[k]);

            if (line > 0)
                config_ini_report(ps, NULL, line, 0, "%s: only meaningful with listing",
                                  needs_listing[k]);
        }
    }
    if (src->urls_file != NULL)
        urls_load(ps, src);
}

static void profile_finish(struct config_ini *ps)
{
    struct config_profile *cp = &ps->c->profiles[ps->c->n_profiles - 1];
    char err[256] = "";

    /* after a bad line, missing fields would only repeat that error */
    if (!ps->profile_bad && profile_check(cp->profile, err, sizeof(err)) < 0) {
        config_ini_report(ps, NULL, cp->line, 0, "%s", err);
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

static void section_finish(struct config_ini *ps)
{
    if (ps->sec == CONFIG_INI_SOURCE)
        source_finish(ps);
    else if (ps->sec == CONFIG_INI_PROFILE)
        profile_finish(ps);
    ps->sec = CONFIG_INI_NONE;
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
static void header_parse(struct config_ini *ps, const char *line, const char *p, unsigned lineno)
{
    const char *close = strchr(p, ']');
    char *inner, *kind, *name;
    const char *after;

    section_finish(ps);
    ps->sec = CONFIG_INI_SKIP;
    if (close == NULL) {
        config_ini_report(ps, NULL, lineno, column(line, strlen(line)),
                          "syntax error: expected ']'");
        return;
    }
    after = close + 1 + strspn(close + 1, " \t");
    if (*after != '\0' && *after != ';' && *after != '#') {
        config_ini_report(ps, NULL, lineno, column(line, (size_t)(after - line)),
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
            config_ini_report(ps, NULL, lineno, 0, "[provd] takes no name");
        } else if (ps->provd_line > 0) {
            config_ini_report(ps, NULL, lineno, 0, "duplicate section [provd] (first at line %u)",
                              ps->provd_line);
        } else {
            ps->provd_line = lineno;
            ps->sec = CONFIG_INI_PROVD;
        }
    } else if (strcmp(kind, "source") == 0 || strcmp(kind, "profile") == 0) {
        bool source = strcmp(kind, "source") == 0;

        if (*name == '\0') {
            config_ini_report(ps, NULL, lineno, 0, "[%s] needs a name: [%s NAME]", kind, kind);
        } else if (!config_value_name_valid(name)) {
            config_ini_report(ps, NULL, lineno, 0,
                              "[%s %s]: a name is 1 to 64 letters, digits, '.', '_' or '-'", kind,
                              name);
        } else if (source) {
            struct config *c = ps->c;
            const struct config_source *dup = config_source_find(c, name);
            const struct config_directive *table;
            size_t n;

            if (dup != NULL) {
                config_ini_report(ps, NULL, lineno, 0, "duplicate [source %s] (first at line %u)",
                                  name, dup->line);
            } else {
                c->sources = xreallocarray(c->sources, c->n_sources + 1, sizeof(*c->sources));
                ps->src_at = xreallocarray(ps->src_at, c->n_sources + 1, sizeof(*ps->src_at));
                memset(&c->sources[c->n_sources], 0, sizeof(*c->sources));
                memset(&ps->src_at[c->n_sources], 0, sizeof(*ps->src_at));
                c->sources[c->n_sources].name = xstrdup(name);
                c->sources[c->n_sources].line = lineno;
                table = config_directives(CONFIG_SECTION_SOURCE, &n);
                config_ini_defaults(ps, table, n, &c->sources[c->n_sources]);
                c->n_sources++;
                ps->sec = CONFIG_INI_SOURCE;
            }
        } else {
            struct config *c = ps->c;
            struct config_profile *cp;
            size_t k;

            for (k = 0; k < c->n_profiles && strcmp(c->profiles[k].name, name) != 0; k++)
                ;
            if (k < c->n_profiles) {
                config_ini_report(ps, NULL, lineno, 0, "duplicate [profile %s] (first at line %u)",
                                  name, c->profiles[k].line);
            } else if (profile_builtin(name) != NULL) {
                config_ini_report(ps, NULL, lineno, 0,
                                  "[profile %s]: %s is a built-in profile; choose another name",
                                  name, name);
            } else {
                c->profiles = xreallocarray(c->profiles, c->n_profiles + 1, sizeof(*c->profiles));
                cp = &c->profiles[c->n_profiles++];
                memset(cp, 0, sizeof(*cp));
                cp->name = xstrdup(name);
                cp->line = lineno;
                cp->profile = profile_new(name);
                ps->sec = CONFIG_INI_PROFILE;
            }
        }
    } else {
        config_ini_report(
            ps, NULL, lineno, 0,
            "unknown section [%s] (sections are [provd], [source NAME], [profile NAME])", kind);
    }
    free(inner);
}

/* A directive of [provd] or [source]: look it up in its table. */
static void directive_set(struct config_ini *ps, const char *key, const char *value,
                          unsigned lineno)
{
    bool provd = ps->sec == CONFIG_INI_PROVD;
    size_t n, i;
    const struct config_directive *table =
        config_directives(provd ? CONFIG_SECTION_PROVD : CONFIG_SECTION_SOURCE, &n);
    const struct config_directive *d = table_find(table, n, key, &i);
    unsigned *at = provd ? ps->provd_at : ps->src_at[ps->c->n_sources - 1].at;
    void *base = provd ? (void *)ps->c : (void *)source_cur(ps);
    char err[512];

    if (d == NULL) {
        if (provd)
            config_ini_report(ps, NULL, lineno, 0, "unknown key \"%s\" in [provd]", key);
        else
            config_ini_report(ps, NULL, lineno, 0, "unknown key \"%s\" in [source %s]", key,
                              source_cur(ps)->name);
        return;
    }
    if (at[i] > 0) {
        config_ini_report(ps, NULL, lineno, 0, "duplicate key \"%s\" (first at line %u)", key,
                          at[i]);
        return;
    }
    at[i] = lineno;
    if (config_value_set(d, base, value, ps->absdir, err, sizeof(err)) < 0)
        config_ini_report(ps, NULL, lineno, 0, "%s: %s", key, err);
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
static void profile_line(struct config_ini *ps, const char *key, const char *value, unsigned lineno)
{
    struct config_profile *cp = &ps->c->profiles[ps->c->n_profiles - 1];
    char err[512] = "";

    /* the profile parser takes record_id and record-id alike; blocked-marker
     * adds one more marker each time, so it may be repeated */
    for (size_t k = 0; k < cp->keys.n && !key_same(key, "blocked-marker"); k++) {
        if (key_same(cp->keys.v[k], key)) {
            config_ini_report(ps, NULL, lineno, 0, "duplicate key \"%s\" (first at line %u)", key,
                              ps->key_lines[k]);
            return;
        }
    }
    ps->key_lines = xreallocarray(ps->key_lines, cp->keys.n + 1, sizeof(*ps->key_lines));
    ps->key_lines[cp->keys.n] = lineno;
    strlist_add(&cp->keys, key);
    strlist_add(&cp->values, value);
    if (profile_set(cp->profile, key, value, err, sizeof(err)) < 0) {
        config_ini_report(ps, NULL, lineno, 0, "%s: %s", key,
                          err[0] != '\0' ? err : "invalid value");
        ps->profile_bad = true;
    }
}

/* One line of the file, without its line end. */
static void line_parse(struct config_ini *ps, char *line, size_t len, unsigned lineno)
{
    char *p = line + strspn(line, " \t"), *key, *value;
    size_t klen;

    if (strlen(line) != len || !text_utf8_valid(line, len)) {
        config_ini_report(ps, NULL, lineno, 0, "not valid UTF-8 text");
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
        config_ini_report(ps, NULL, lineno, column(line, (size_t)(p - line)),
                          "syntax error: expected a key name");
        return;
    }
    key = p;
    p += klen;
    p += strspn(p, " \t");
    if (*p != '=') {
        config_ini_report(ps, NULL, lineno, column(line, (size_t)(p - line)),
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
    case CONFIG_INI_NONE:
        config_ini_report(ps, NULL, lineno, 0, "\"%s\" is outside any section", key);
        break;
    case CONFIG_INI_SKIP:
        break;
    case CONFIG_INI_PROVD:
    case CONFIG_INI_SOURCE:
        directive_set(ps, key, value, lineno);
        break;
    case CONFIG_INI_PROFILE:
        profile_line(ps, key, value, lineno);
        break;
    }
}

void config_ini_read(struct config_ini *ps, const char *path)
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
            config_ini_report(ps, path, 0, 0, "cannot read configuration file: %s",
                              strerror(errno));
            goto out;
        }
        if (r == 0)
            break;
        got += (size_t)r;
    }
    if (got > (size_t)st.st_size) {
        config_ini_report(ps, path, 0, 0, "configuration file changed while being read");
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

/* ---- One load ------------------------------------------------------------ */

int config_ini_begin(struct config_ini *ps, struct config *c, const char *path,
                     struct strlist *errors)
{
    int err;

    memset(ps, 0, sizeof(*ps));
    ps->c = c;
    ps->errors = errors;
    ps->sec = CONFIG_INI_NONE;
    ps->name = path != NULL ? path : "defaults";
    ps->dir = path != NULL ? path_dirname(path) : xstrdup(".");
    ps->absdir = realpath(ps->dir, NULL);
    if (ps->absdir != NULL)
        return 0;
    err = errno;
    if (path != NULL)
        config_ini_report(ps, path, 0, 0, "cannot open configuration file: %s", strerror(err));
    else
        config_ini_report(ps, ps->dir, 0, 0, "cannot resolve the current directory: %s",
                          strerror(err));
    return -err;
}

void config_ini_end(struct config_ini *ps)
{
    free(ps->key_lines);
    free(ps->src_at);
    free(ps->dir);
    free(ps->absdir);
    ps->key_lines = NULL;
    ps->src_at = NULL;
    ps->dir = ps->absdir = NULL;
}
