/*
 * discover_list: URL list files — one URL or local file name a line — read
 * into a list of normalised URLs without duplicates, every line through
 * the URL filter of discover_url (RELIABILITY C5, C6).
 *
 * It owns the lists it returns and the buffers of one load; it reads the
 * file it is given and nothing else, and never fetches or logs.
 */
#include "discover.h"

#include "strbuf.h"
#include "urlset.h"
#include "xmalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct discover_list {
    struct urlset set;
    size_t rejected, duplicates;
    char **errors;
    size_t nerrors;
};

/* Longest line read whole; longer ones are refused without being kept. */
#define LIST_LINE_MAX (DISCOVER_URL_MAX + 1024)

struct list_loader {
    struct discover_list *l;
    const char *name, *dir;
    unsigned flags;
    size_t max_urls;
    struct strbuf line;
    bool overlong;
    unsigned long lineno;
    struct strbuf norm, tmp, path;
    int rc;
};

static bool list_space(int c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

static void list_reject(struct list_loader *ld, const char *reason)
{
    ld->l->rejected++;
    discover_add_error(&ld->l->errors, &ld->l->nerrors, ld->name, ld->lineno, reason);
}

/* Append the n bytes of a file path to ld->path as they are: '%', '?',
 * '#', backslashes, white space and control bytes are escaped so that the
 * URL keeps them in its path (discover_url_norm escapes the rest). A NUL
 * is left for the filter to refuse. */
static void list_add_literal(struct list_loader *ld, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];

        if (c == '%' || c == '?' || c == '#' || c == '\\' || (c > 0 && c <= ' ') || c == 0x7f)
            discover_url_add_pct(&ld->path, c);
        else
            strbuf_addc(&ld->path, (char)c);
    }
}

/* Turn a file path into a file URL in ld->path; relative paths join the
 * list's directory. */
static const char *list_file_url(struct list_loader *ld, const char *p, size_t n)
{
    strbuf_reset(&ld->path);
    strbuf_adds(&ld->path, "file://");
    if (p[0] != '/') {
        if (ld->dir == NULL)
            return "relative file path but the list has no directory";
        list_add_literal(ld, ld->dir, strlen(ld->dir));
        strbuf_addc(&ld->path, '/');
    }
    list_add_literal(ld, p, n);
    return NULL;
}

/* The length of the file name at the start of the n bytes at s: up to a
 * '#' after white space or the end, without trailing white space. */
static size_t list_name_len(const char *s, size_t n)
{
    size_t end = n;

    for (size_t i = 1; i < n; i++) {
        if (s[i] == '#' && list_space((unsigned char)s[i - 1])) {
            end = i;
            break;
        }
    }
    while (end > 0 && list_space((unsigned char)s[end - 1]))
        end--;
    return end;
}

static void list_line(struct list_loader *ld)
{
    const char *s = strbuf_str(&ld->line), *why;
    size_t n = ld->line.len, tok, rest;
    struct discover_url_parts u;

    ld->lineno++;
    if (ld->overlong) {
        list_reject(ld, "line too long");
        goto out;
    }
    if (ld->lineno == 1 && n >= 3 && memcmp(s, "\xef\xbb\xbf", 3) == 0) {
        s += 3;
        n -= 3;
    }
    while (n > 0 && list_space((unsigned char)s[0])) {
        s++;
        n--;
    }
    if (n == 0 || s[0] == '#')
        goto out;
    for (tok = 0; tok < n && !list_space((unsigned char)s[tok]); tok++)
        ;
    discover_url_split(s, tok, &u);
    if (u.scheme_len == 0) {
        if (!(ld->flags & DISCOVER_ALLOW_FILE)) {
            list_reject(ld, "not a URL (no scheme; file paths need a source that allows file "
                            "URLs)");
            goto out;
        }
        if ((why = list_file_url(ld, s, list_name_len(s, n))) != NULL) {
            list_reject(ld, why);
            goto out;
        }
        s = strbuf_str(&ld->path);
        tok = ld->path.len;
    } else {
        for (rest = tok; rest < n && list_space((unsigned char)s[rest]); rest++)
            ;
        if (rest < n && s[rest] != '#') {
            list_reject(ld, "white space inside a URL");
            goto out;
        }
    }
    if ((why = discover_url_norm(&ld->norm, &ld->tmp, s, tok, ld->flags)) != NULL) {
        list_reject(ld, why);
        goto out;
    }
    if (ld->l->set.n >= ld->max_urls && !urlset_has(&ld->l->set, ld->norm.s, ld->norm.len)) {
        ld->rc = -EFBIG;
        goto out;
    }
    if (!urlset_add(&ld->l->set, ld->norm.s, ld->norm.len))
        ld->l->duplicates++;
out:
    strbuf_reset(&ld->line);
    ld->overlong = false;
}

static void list_feed(struct list_loader *ld, const char *p, size_t n)
{
    while (n > 0 && ld->rc == 0) {
        const char *nl = memchr(p, '\n', n);
        size_t take = nl != NULL ? (size_t)(nl - p) : n;

        if (!ld->overlong) {
            if (ld->line.len + take > LIST_LINE_MAX) {
                ld->overlong = true;
                strbuf_reset(&ld->line);
            } else {
                strbuf_add(&ld->line, p, take);
            }
        }
        if (nl != NULL) {
            list_line(ld);
            take++;
        }
        p += take;
        n -= take;
    }
}

static void list_loader_init(struct list_loader *ld, const char *name, const char *dir,
                             const struct discover_list_options *o)
{
    memset(ld, 0, sizeof(*ld));
    ld->l = xcalloc(1, sizeof(*ld->l));
    ld->name = name;
    ld->dir = dir;
    ld->flags = o != NULL ? o->url_flags : 0;
    ld->max_urls = o != NULL && o->max_urls ? o->max_urls : DISCOVER_LIST_MAX_URLS;
    if (ld->max_urls > UINT32_MAX - 1)
        ld->max_urls = UINT32_MAX - 1;
}

/* Finish the load: the last line, the scratch buffers, and *out. */
static int list_loader_finish(struct list_loader *ld, int rc, struct discover_list **out, char *err,
                              size_t errlen)
{
    if (rc == 0 && ld->rc == 0 && (ld->line.len > 0 || ld->overlong))
        list_line(ld);
    if (rc == 0 && ld->rc == -EFBIG) {
        rc = -EFBIG;
        discover_set_err(err, errlen, "%s: more than %zu URLs; refused", ld->name, ld->max_urls);
    }
    strbuf_release(&ld->line);
    strbuf_release(&ld->norm);
    strbuf_release(&ld->tmp);
    strbuf_release(&ld->path);
    if (rc != 0) {
        discover_list_free(ld->l);
        *out = NULL;
        return rc;
    }
    *out = ld->l;
    return 0;
}

static size_t list_max_bytes(const struct discover_list_options *o)
{
    return o != NULL && o->max_bytes ? o->max_bytes : DISCOVER_LIST_MAX_BYTES;
}

int discover_list_parse(const char *name, const char *dir, const char *bytes, size_t len,
                        const struct discover_list_options *o, struct discover_list **out,
                        char *err, size_t errlen)
{
    struct list_loader ld;
    int rc = 0;

    list_loader_init(&ld, name, dir, o);
    if (len > list_max_bytes(o)) {
        rc = -EFBIG;
        discover_set_err(err, errlen, "%s: larger than %zu bytes; refused", name,
                         list_max_bytes(o));
    } else {
        list_feed(&ld, bytes, len);
    }
    return list_loader_finish(&ld, rc, out, err, errlen);
}

int discover_list_read(int fd, const char *name, const char *dir,
                       const struct discover_list_options *o, struct discover_list **out, char *err,
                       size_t errlen)
{
    struct list_loader ld;
    struct stat st;
    char *buf = NULL;
    size_t total = 0;
    ssize_t got;
    int rc = 0;

    list_loader_init(&ld, name, dir, o);
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (size_t)st.st_size > list_max_bytes(o)) {
        rc = -EFBIG;
        goto toobig;
    }
    buf = xmalloc(1 << 16);
    while ((got = read(fd, buf, 1 << 16)) != 0) {
        if (got < 0) {
            if (errno == EINTR)
                continue;
            rc = -errno;
            discover_set_err(err, errlen, "%s: %s", name, strerror(-rc));
            break;
        }
        total += (size_t)got;
        if (total > list_max_bytes(o)) {
            rc = -EFBIG;
            goto toobig;
        }
        list_feed(&ld, buf, (size_t)got);
        if (ld.rc != 0)
            break;
    }
    goto out;
toobig:
    discover_set_err(err, errlen, "%s: larger than %zu bytes; refused", name, list_max_bytes(o));
out:
    free(buf);
    return list_loader_finish(&ld, rc, out, err, errlen);
}

int discover_list_load(const char *path, const struct discover_list_options *o,
                       struct discover_list **out, char *err, size_t errlen)
{
    struct stat st;
    char *real = NULL, *slash;
    int fd, rc;

    *out = NULL;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        rc = -errno;
        discover_set_err(err, errlen, "%s: %s", path, strerror(-rc));
        return rc;
    }
    if (fstat(fd, &st) != 0) {
        rc = -errno;
        discover_set_err(err, errlen, "%s: %s", path, strerror(-rc));
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        discover_set_err(err, errlen, "%s: not a regular file", path);
        rc = -EINVAL;
        goto out;
    }
    if ((real = realpath(path, NULL)) == NULL) {
        rc = -errno;
        discover_set_err(err, errlen, "%s: %s", path, strerror(-rc));
        goto out;
    }
    slash = strrchr(real, '/');
    if (slash != NULL)
        *slash = '\0';
    rc = discover_list_read(fd, path, real, o, out, err, errlen);
out:
    free(real);
    close(fd);
    return rc;
}

void discover_list_free(struct discover_list *l)
{
    if (l == NULL)
        return;
    urlset_release(&l->set);
    discover_free_errors(l->errors, l->nerrors);
    free(l);
}

size_t discover_list_count(const struct discover_list *l)
{
    return l->set.n;
}

const char *discover_list_url(const struct discover_list *l, size_t i)
{
    return urlset_get(&l->set, i);
}

size_t discover_list_rejected(const struct discover_list *l)
{
    return l->rejected;
}

size_t discover_list_duplicates(const struct discover_list *l)
{
    return l->duplicates;
}

size_t discover_list_nerrors(const struct discover_list *l)
{
    return l->nerrors;
}

const char *discover_list_error(const struct discover_list *l, size_t i)
{
    return l->errors[i];
}
