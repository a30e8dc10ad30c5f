/*
 * discover: the URL filter and normaliser, URL list files, sitemaps and
 * listing pages, and the rules that decide when a walk over them ends.
 *
 * It owns the URLs it returns (in lists, sitemap and page results) and the
 * libxml2 documents and readers it opens for the length of one call. It
 * never fetches, never reads a clock, never logs, and never substitutes an
 * XML entity or loads a DTD: bytes come in, URLs and decisions go out.
 */
#include "discover.h"

#include "strbuf.h"
#include "xmalloc.h"

#include <libxml/HTMLparser.h>
#include <libxml/xmlreader.h>
#include <libxml/xpath.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* XPath steps allowed per listing query: far above any sane page. */
#define DISCOVER_XPATH_OP_LIMIT 50000000UL

static void discover_set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void discover_set_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* Keep one "NAME:LINE: reason" message, up to DISCOVER_MAX_ERRORS. */
static void discover_add_error(char ***v, size_t *n, const char *name, unsigned long line,
                               const char *reason)
{
    if (*n >= DISCOVER_MAX_ERRORS)
        return;
    if (*v == NULL)
        *v = xcalloc(DISCOVER_MAX_ERRORS, sizeof(**v));
    (*v)[(*n)++] = xasprintf("%s:%lu: %s", name, line, reason);
}

static void discover_free_errors(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* ---- Character classes (ASCII only, never the locale) ---------------- */

static bool url_alpha(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool url_digit(int c)
{
    return c >= '0' && c <= '9';
}

static int url_hexval(int c)
{
    if (url_digit(c))
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static bool url_unreserved(int c)
{
    return url_alpha(c) || url_digit(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

static bool url_subdelim(int c)
{
    return c != 0 && strchr("!$&'()*+,;=", c) != NULL;
}

static int url_lower(int c)
{
    return (c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c;
}

static bool url_ieq(const char *a, size_t n, const char *b)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (b[i] == '\0' || url_lower((unsigned char)a[i]) != url_lower((unsigned char)b[i]))
            return false;
    return b[i] == '\0';
}

static bool url_ieqn(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (url_lower((unsigned char)a[i]) != url_lower((unsigned char)b[i]))
            return false;
    return true;
}

/* ---- Splitting, normalising and resolving URLs ----------------------- */

/* A URL reference split as in RFC 3986 appendix B; pointers into the
 * string split, no copies. The fragment is dropped. */
struct url_parts {
    const char *scheme;
    size_t scheme_len; /* 0: no scheme */
    bool has_auth;
    const char *auth;
    size_t auth_len;
    const char *path;
    size_t path_len;
    bool has_query;
    const char *query;
    size_t query_len;
};

static void url_split(const char *s, size_t n, struct url_parts *u)
{
    size_t i = 0, start;

    memset(u, 0, sizeof(*u));
    if (n > 0 && url_alpha((unsigned char)s[0])) {
        for (i = 1; i < n; i++) {
            int c = (unsigned char)s[i];
            if (!url_alpha(c) && !url_digit(c) && c != '+' && c != '-' && c != '.')
                break;
        }
        if (i < n && s[i] == ':') {
            u->scheme = s;
            u->scheme_len = i;
            i++;
        } else {
            i = 0;
        }
    }
    if (i + 1 < n && s[i] == '/' && s[i + 1] == '/') {
        i += 2;
        start = i;
        while (i < n && s[i] != '/' && s[i] != '?' && s[i] != '#')
            i++;
        u->has_auth = true;
        u->auth = s + start;
        u->auth_len = i - start;
    }
    start = i;
    while (i < n && s[i] != '?' && s[i] != '#')
        i++;
    u->path = s + start;
    u->path_len = i - start;
    if (i < n && s[i] == '?') {
        start = ++i;
        while (i < n && s[i] != '#')
            i++;
        u->has_query = true;
        u->query = s + start;
        u->query_len = i - start;
    }
}

/* Copy s into out without surrounding white space or control bytes and
 * without embedded tabs and newlines; refuse other control bytes and
 * backslashes (which browsers read as '/', a parser differential). */
static const char *url_clean(struct strbuf *out, const char *s, size_t n)
{
    strbuf_reset(out);
    while (n > 0 && (unsigned char)s[0] <= 0x20) {
        s++;
        n--;
    }
    while (n > 0 && (unsigned char)s[n - 1] <= 0x20)
        n--;
    if (n > DISCOVER_URL_MAX)
        return "URL too long";
    for (size_t i = 0, run = 0; i <= n; i++) {
        unsigned char c = i < n ? (unsigned char)s[i] : '\0';
        if (i < n && c >= 0x20 && c != 0x7f && c != '\\')
            continue;
        strbuf_add(out, s + run, i - run);
        run = i + 1;
        if (i == n || c == '\t' || c == '\n' || c == '\r')
            continue;
        return c == '\\' ? "backslash in URL" : "control character in URL";
    }
    return NULL;
}

static void url_add_pct(struct strbuf *out, unsigned char c)
{
    static const char hex[] = "0123456789ABCDEF";
    char b[3] = {'%', hex[c >> 4], hex[c & 15]};

    strbuf_add(out, b, 3);
}

/* Append a path (query when query is set) with percent escapes made
 * canonical: valid escapes upper-cased or decoded when unreserved, stray
 * '%' and unsafe bytes encoded. */
static void url_add_encoded(struct strbuf *out, const char *s, size_t n, bool query)
{
    size_t run = 0;

    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c != '%' && (url_unreserved(c) || url_subdelim(c) || c == ':' || c == '@' || c == '/' ||
                         (query && c == '?')))
            continue;
        strbuf_add(out, s + run, i - run);
        if (c == '%') {
            int hi = i + 2 < n ? url_hexval((unsigned char)s[i + 1]) : -1;
            int lo = hi >= 0 ? url_hexval((unsigned char)s[i + 2]) : -1;
            if (hi >= 0 && lo >= 0) {
                unsigned char v = (unsigned char)(hi * 16 + lo);
                if (url_unreserved(v))
                    strbuf_addc(out, (char)v);
                else
                    url_add_pct(out, v);
                i += 2;
            } else {
                url_add_pct(out, '%');
            }
        } else {
            url_add_pct(out, c);
        }
        run = i + 1;
    }
    strbuf_add(out, s + run, n - run);
}

/* Drop the last segment and its '/' from the output s[0..w). */
static size_t url_pop_segment(const char *s, size_t w)
{
    while (w > 0 && s[w - 1] != '/')
        w--;
    if (w > 0)
        w--;
    return w;
}

/* RFC 3986 §5.2.4 remove_dot_segments, in place over s[0..n); returns the
 * new length. The output never outruns the input, so one buffer does. */
static size_t url_remove_dots(char *s, size_t n)
{
    size_t r = 0, w = 0;

    while (r < n) {
        size_t left = n - r;
        const char *in = s + r;

        if (left >= 3 && memcmp(in, "../", 3) == 0) {
            r += 3;
        } else if (left >= 2 && memcmp(in, "./", 2) == 0) {
            r += 2;
        } else if (left >= 3 && memcmp(in, "/./", 3) == 0) {
            r += 2;
        } else if (left == 2 && memcmp(in, "/.", 2) == 0) {
            r += 1;
            s[r] = '/';
        } else if (left >= 4 && memcmp(in, "/../", 4) == 0) {
            r += 3;
            w = url_pop_segment(s, w);
        } else if (left == 3 && memcmp(in, "/..", 3) == 0) {
            r += 2;
            s[r] = '/';
            w = url_pop_segment(s, w);
        } else if ((left == 1 && in[0] == '.') || (left == 2 && memcmp(in, "..", 2) == 0)) {
            r = n;
        } else {
            size_t k = r;
            if (s[k] == '/')
                k++;
            while (k < n && s[k] != '/')
                k++;
            memmove(s + w, s + r, k - r);
            w += k - r;
            r = k;
        }
    }
    return w;
}

/* Append "host[:port]" of an http(s) authority, lower-cased, without the
 * scheme's default port. */
static const char *url_add_host(struct strbuf *out, const char *a, size_t n, unsigned defport)
{
    size_t i = 0, hlen;
    unsigned long port = 0;

    if (memchr(a, '@', n) != NULL)
        return "user name or password in URL";
    if (n > 0 && a[0] == '[') {
        for (i = 1; i < n && a[i] != ']'; i++)
            if (url_hexval((unsigned char)a[i]) < 0 && a[i] != ':' && a[i] != '.')
                return "invalid IPv6 address in URL";
        if (i >= n || i == 1)
            return "invalid IPv6 address in URL";
        i++;
    } else {
        for (i = 0; i < n && a[i] != ':'; i++) {
            unsigned char c = (unsigned char)a[i];
            if (c >= 0x80)
                return "non-ASCII host name (write it in punycode)";
            if (!url_alpha(c) && !url_digit(c) && c != '-' && c != '.' && c != '_')
                return "invalid character in host name";
        }
    }
    hlen = i;
    if (hlen == 0)
        return "no host in URL";
    if (hlen > 255)
        return "host name too long";
    if (i < n) {
        if (a[i] != ':')
            return "invalid character in host name";
        if (n - i - 1 > 5)
            return "invalid port in URL";
        for (size_t k = i + 1; k < n; k++) {
            if (!url_digit((unsigned char)a[k]))
                return "invalid port in URL";
            port = port * 10 + (unsigned long)(a[k] - '0');
        }
        if (n - i - 1 > 0 && (port == 0 || port > 65535))
            return "invalid port in URL";
    }
    strbuf_add(out, a, hlen);
    for (size_t k = out->len - hlen; k < out->len; k++)
        out->s[k] = (char)url_lower((unsigned char)out->s[k]);
    if (port != 0 && port != defport)
        strbuf_addf(out, ":%lu", port);
    return NULL;
}

/* Normalise the n bytes at s into out (see discover_url_normalize());
 * tmp is scratch space. Returns NULL, or the reason for refusing. */
static const char *url_norm(struct strbuf *out, struct strbuf *tmp, const char *s, size_t n,
                            unsigned flags)
{
    struct url_parts u;
    const char *why;
    size_t p0;

    if ((why = url_clean(tmp, s, n)) != NULL)
        return why;
    url_split(strbuf_str(tmp), tmp->len, &u);
    strbuf_reset(out);
    if (tmp->len == 0)
        return "empty URL";
    if (u.scheme_len == 0)
        return "not an absolute URL (no scheme)";
    if (url_ieq(u.scheme, u.scheme_len, "http") || url_ieq(u.scheme, u.scheme_len, "https")) {
        bool tls = u.scheme_len == 5;
        strbuf_adds(out, tls ? "https://" : "http://");
        if (!u.has_auth)
            return "no host in URL";
        if ((why = url_add_host(out, u.auth, u.auth_len, tls ? 443 : 80)) != NULL)
            return why;
    } else if (url_ieq(u.scheme, u.scheme_len, "file")) {
        if (!(flags & DISCOVER_ALLOW_FILE))
            return "file URLs are not allowed for this source";
        if (u.has_auth && u.auth_len > 0 && !url_ieq(u.auth, u.auth_len, "localhost"))
            return "file URL names a host";
        if (u.path_len == 0 || u.path[0] != '/')
            return "file URL path is not absolute";
        strbuf_adds(out, "file://");
    } else {
        return "scheme not allowed (only http and https)";
    }
    p0 = out->len;
    if (u.path_len == 0)
        strbuf_addc(out, '/');
    else
        url_add_encoded(out, u.path, u.path_len, false);
    out->len = p0 + url_remove_dots(out->s + p0, out->len - p0);
    if (out->len == p0)
        strbuf_addc(out, '/');
    out->s[out->len] = '\0';
    if (u.has_query) {
        strbuf_addc(out, '?');
        url_add_encoded(out, u.query, u.query_len, true);
    }
    if (out->len > DISCOVER_URL_MAX)
        return "URL too long";
    return NULL;
}

char *discover_url_normalize(const char *url, unsigned flags, const char **reason)
{
    struct strbuf out = STRBUF_INIT, tmp = STRBUF_INIT;
    const char *why = url_norm(&out, &tmp, url, strlen(url), flags);

    strbuf_release(&tmp);
    if (reason != NULL)
        *reason = why;
    if (why != NULL) {
        strbuf_release(&out);
        return NULL;
    }
    return strbuf_steal(&out);
}

int discover_url_check(const char *url, unsigned flags, const char **reason)
{
    char *u = discover_url_normalize(url, flags, reason);

    free(u);
    return u != NULL ? 0 : -EINVAL;
}

/* Resolve ref against the normalised base into out (RFC 3986 §5.2.2), then
 * normalise. tmp and tmp2 are scratch space. */
static const char *url_resolve(struct strbuf *out, struct strbuf *tmp, struct strbuf *tmp2,
                               const char *base, const char *ref, size_t reflen, unsigned flags)
{
    struct url_parts b, r;
    const char *why, *refc;

    if ((why = url_clean(tmp2, ref, reflen)) != NULL)
        return why;
    refc = strbuf_str(tmp2);
    url_split(refc, tmp2->len, &r);
    if (r.scheme_len > 0)
        return url_norm(out, tmp, refc, tmp2->len, flags);
    url_split(base, strlen(base), &b);
    if (b.scheme_len == 0)
        return "base URL is not absolute";
    strbuf_reset(tmp);
    strbuf_add(tmp, b.scheme, b.scheme_len);
    strbuf_addc(tmp, ':');
    if (r.has_auth) {
        strbuf_adds(tmp, "//");
        strbuf_add(tmp, r.auth, r.auth_len);
        strbuf_add(tmp, r.path, r.path_len);
    } else {
        if (b.has_auth) {
            strbuf_adds(tmp, "//");
            strbuf_add(tmp, b.auth, b.auth_len);
        }
        if (r.path_len == 0) {
            strbuf_add(tmp, b.path, b.path_len);
            if (!r.has_query && b.has_query) {
                strbuf_addc(tmp, '?');
                strbuf_add(tmp, b.query, b.query_len);
            }
        } else if (r.path[0] == '/') {
            strbuf_add(tmp, r.path, r.path_len);
        } else {
            const char *slash = NULL;
            for (size_t i = b.path_len; i > 0; i--) {
                if (b.path[i - 1] == '/') {
                    slash = b.path + i - 1;
                    break;
                }
            }
            if (slash != NULL)
                strbuf_add(tmp, b.path, (size_t)(slash - b.path) + 1);
            else if (b.has_auth)
                strbuf_addc(tmp, '/');
            strbuf_add(tmp, r.path, r.path_len);
        }
    }
    if (r.has_query) {
        strbuf_addc(tmp, '?');
        strbuf_add(tmp, r.query, r.query_len);
    }
    /* url_norm cleans into its scratch buffer first, so hand it a copy. */
    strbuf_reset(tmp2);
    strbuf_add(tmp2, strbuf_str(tmp), tmp->len);
    return url_norm(out, tmp, strbuf_str(tmp2), tmp2->len, flags);
}

char *discover_url_resolve(const char *base, const char *ref, unsigned flags, const char **reason)
{
    struct strbuf out = STRBUF_INIT, tmp = STRBUF_INIT, tmp2 = STRBUF_INIT, nb = STRBUF_INIT;
    const char *why;

    why = url_norm(&nb, &tmp, base, strlen(base), flags | DISCOVER_ALLOW_FILE);
    if (why == NULL)
        why = url_resolve(&out, &tmp, &tmp2, strbuf_str(&nb), ref, strlen(ref), flags);
    strbuf_release(&tmp);
    strbuf_release(&tmp2);
    strbuf_release(&nb);
    if (reason != NULL)
        *reason = why;
    if (why != NULL) {
        strbuf_release(&out);
        return NULL;
    }
    return strbuf_steal(&out);
}

/* The host (without port) of a normalised http(s) URL, or NULL for other
 * URLs; *len gets its length. */
static const char *url_host(const char *url, size_t *len)
{
    struct url_parts u;
    const char *a, *colon;

    url_split(url, strlen(url), &u);
    if (!u.has_auth || u.auth_len == 0 ||
        !(url_ieq(u.scheme, u.scheme_len, "http") || url_ieq(u.scheme, u.scheme_len, "https")))
        return NULL;
    a = u.auth;
    if (a[0] == '[') {
        colon = memchr(a, ']', u.auth_len);
        *len = colon != NULL ? (size_t)(colon - a) + 1 : u.auth_len;
    } else {
        colon = memchr(a, ':', u.auth_len);
        *len = colon != NULL ? (size_t)(colon - a) : u.auth_len;
    }
    return a;
}

int discover_url_origin(const char *url, char *buf, size_t n)
{
    struct url_parts u;
    const char *host;
    size_t hlen;
    unsigned port;
    int w;

    url_split(url, strlen(url), &u);
    if (url_ieq(u.scheme, u.scheme_len, "file")) {
        w = snprintf(buf, n, "file://");
    } else {
        if ((host = url_host(url, &hlen)) == NULL)
            return -EINVAL;
        port = u.scheme_len == 5 ? 443 : 80;
        if (hlen < u.auth_len)
            port = (unsigned)strtoul(u.auth + hlen + 1, NULL, 10);
        w = snprintf(buf, n, "%.*s://%.*s:%u", (int)u.scheme_len, u.scheme, (int)hlen, host, port);
    }
    if (w < 0 || (size_t)w >= n)
        return -ENAMETOOLONG;
    return 0;
}

static bool url_host_matches(const char *host, size_t hlen, const char *pattern)
{
    size_t plen;

    if (pattern[0] == '*' && pattern[1] == '.') {
        plen = strlen(pattern + 1);
        return hlen > plen && url_ieq(host + hlen - plen, plen, pattern + 1);
    }
    return url_ieq(host, hlen, pattern);
}

bool discover_in_scope(const char *url, const char *from, const struct discover_scope *scope)
{
    const char *h, *fh;
    size_t hl, fhl;

    if (strncmp(url, "file:", 5) == 0)
        return strncmp(from, "file:", 5) == 0;
    if ((h = url_host(url, &hl)) == NULL)
        return false;
    fh = url_host(from, &fhl);
    if (fh != NULL && fhl == hl && url_ieqn(h, fh, hl))
        return true;
    if (scope != NULL)
        for (size_t i = 0; i < scope->nhosts; i++)
            if (url_host_matches(h, hl, scope->hosts[i]))
                return true;
    return false;
}

/* ---- A set of strings in one arena ------------------------------------ */

/* Strings are appended to one arena (no per-string allocation) and found
 * through an open-addressing table whose slots hold the top 32 bits of
 * the hash (which also place the slot) and the string's index, kept at
 * most 70 % full: about len + 1 + 8 + 12 to 24 bytes per string, O(1) per
 * add, and a string is compared only when its hash bits match. */
struct urlset {
    char *arena;
    size_t alen, acap;
    size_t *offs; /* start of string i in the arena */
    size_t n, ocap;
    uint64_t *slots; /* 0: empty, else hash << 32 | (index + 1) */
    size_t scap;     /* a power of two */
};

static uint64_t urlset_hash(const char *s, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ULL;

    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 0x100000001b3ULL;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return h;
}

static const char *urlset_get(const struct urlset *u, size_t i)
{
    return u->arena + u->offs[i];
}

/* The slot holding s (*found) or the empty slot where it would go. */
static size_t urlset_find(const struct urlset *u, const char *s, size_t n, uint64_t h, bool *found)
{
    uint64_t tag = h >> 32;
    size_t mask = u->scap - 1, i = (size_t)tag & mask;

    for (;; i = (i + 1) & mask) {
        uint64_t v = u->slots[i];
        if (v == 0) {
            *found = false;
            return i;
        }
        if (v >> 32 == tag) {
            const char *t = urlset_get(u, (size_t)(v & 0xffffffffu) - 1);
            if (memcmp(t, s, n) == 0 && t[n] == '\0') {
                *found = true;
                return i;
            }
        }
    }
}

static void urlset_grow_slots(struct urlset *u)
{
    size_t cap = u->scap ? u->scap * 2 : 64, mask = cap - 1;
    uint64_t *old = u->slots;
    size_t oldcap = u->scap;

    /* The stored hash bits give each entry its new place without
     * touching the string. */
    u->slots = xcalloc(cap, sizeof(*u->slots));
    u->scap = cap;
    for (size_t i = 0; i < oldcap; i++) {
        if (old[i] == 0)
            continue;
        size_t j = (size_t)(old[i] >> 32) & mask;
        while (u->slots[j] != 0)
            j = (j + 1) & mask;
        u->slots[j] = old[i];
    }
    free(old);
}

static bool urlset_has(const struct urlset *u, const char *s, size_t n)
{
    bool found;

    if (u->scap == 0)
        return false;
    urlset_find(u, s, n, urlset_hash(s, n), &found);
    return found;
}

/* Add the n bytes at s (no NUL among them); false when already present. */
static bool urlset_add(struct urlset *u, const char *s, size_t n)
{
    uint64_t h = urlset_hash(s, n);
    bool found;
    size_t slot;

    if ((u->n + 1) * 10 > u->scap * 7)
        urlset_grow_slots(u);
    slot = urlset_find(u, s, n, h, &found);
    if (found)
        return false;
    if (u->alen + n + 1 > u->acap) {
        size_t cap = u->acap ? u->acap : 4096;
        while (cap < u->alen + n + 1)
            cap *= 2;
        u->arena = xreallocarray(u->arena, cap, 1);
        u->acap = cap;
    }
    if (u->n == u->ocap) {
        u->ocap = u->ocap ? u->ocap * 2 : 64;
        u->offs = xreallocarray(u->offs, u->ocap, sizeof(*u->offs));
    }
    memcpy(u->arena + u->alen, s, n);
    u->arena[u->alen + n] = '\0';
    u->offs[u->n] = u->alen;
    u->alen += n + 1;
    u->slots[slot] = (h >> 32) << 32 | (uint64_t)(++u->n);
    return true;
}

static void urlset_release(struct urlset *u)
{
    free(u->arena);
    free(u->offs);
    free(u->slots);
    memset(u, 0, sizeof(*u));
}

/* ---- URL list files ----------------------------------------------------- */

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

/* Turn a file path into a file URL in ld->path: relative paths join the
 * list's directory; '%', '?' and '#' are escaped so they stay in the path
 * (url_norm escapes the rest). */
static const char *list_file_url(struct list_loader *ld, const char *p, size_t n)
{
    strbuf_reset(&ld->path);
    strbuf_adds(&ld->path, "file://");
    if (p[0] != '/') {
        if (ld->dir == NULL)
            return "relative file path but the list has no directory";
        for (const char *d = ld->dir; *d; d++) {
            if (*d == '%' || *d == '?' || *d == '#')
                url_add_pct(&ld->path, (unsigned char)*d);
            else
                strbuf_addc(&ld->path, *d);
        }
        strbuf_addc(&ld->path, '/');
    }
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '%' || p[i] == '?' || p[i] == '#')
            url_add_pct(&ld->path, (unsigned char)p[i]);
        else
            strbuf_addc(&ld->path, p[i]);
    }
    return NULL;
}

static void list_line(struct list_loader *ld)
{
    const char *s = strbuf_str(&ld->line), *why;
    size_t n = ld->line.len, tok, rest;
    struct url_parts u;

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
    for (rest = tok; rest < n && list_space((unsigned char)s[rest]); rest++)
        ;
    if (rest < n && s[rest] != '#') {
        list_reject(ld, "white space inside a URL");
        goto out;
    }
    url_split(s, tok, &u);
    if (u.scheme_len == 0) {
        if (!(ld->flags & DISCOVER_ALLOW_FILE)) {
            list_reject(ld, "not a URL (no scheme; file paths need a source that allows file "
                            "URLs)");
            goto out;
        }
        if ((why = list_file_url(ld, s, tok)) != NULL) {
            list_reject(ld, why);
            goto out;
        }
        s = strbuf_str(&ld->path);
        tok = ld->path.len;
    }
    if ((why = url_norm(&ld->norm, &ld->tmp, s, tok, ld->flags)) != NULL) {
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

int discover_list_load(const char *path, const struct discover_list_options *o,
                       struct discover_list **out, char *err, size_t errlen)
{
    struct list_loader ld;
    struct stat st;
    char *real = NULL, *slash, *buf = NULL;
    size_t total = 0;
    ssize_t got;
    int fd, rc = 0;

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
        close(fd);
        return rc;
    }
    if (!S_ISREG(st.st_mode)) {
        discover_set_err(err, errlen, "%s: not a regular file", path);
        close(fd);
        return -EINVAL;
    }
    if ((real = realpath(path, NULL)) == NULL) {
        rc = -errno;
        discover_set_err(err, errlen, "%s: %s", path, strerror(-rc));
        close(fd);
        return rc;
    }
    slash = strrchr(real, '/');
    if (slash != NULL)
        *slash = '\0';
    list_loader_init(&ld, path, real, o);
    if ((size_t)st.st_size > list_max_bytes(o)) {
        rc = -EFBIG;
        goto toobig;
    }
    buf = xmalloc(1 << 16);
    while ((got = read(fd, buf, 1 << 16)) != 0) {
        if (got < 0) {
            if (errno == EINTR)
                continue;
            rc = -errno;
            discover_set_err(err, errlen, "%s: %s", path, strerror(-rc));
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
    discover_set_err(err, errlen, "%s: larger than %zu bytes; refused", path, list_max_bytes(o));
out:
    rc = list_loader_finish(&ld, rc, out, err, errlen);
    free(buf);
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

/* ---- Sitemaps ------------------------------------------------------------ */

static bool w3c_digits(const char **p, int n, int *v)
{
    *v = 0;
    for (int i = 0; i < n; i++) {
        if (!url_digit((unsigned char)(*p)[i]))
            return false;
        *v = *v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    return true;
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar. */
static int64_t w3c_days(int64_t y, int m, int d)
{
    int64_t era, yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int w3c_mdays(int y, int m)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

    return m == 2 && leap ? 29 : days[m - 1];
}

int64_t discover_w3c_datetime(const char *s)
{
    int y, mo = 1, d = 1, h = 0, mi = 0, sec = 0, zh = 0, zm = 0, sign = 0;
    const char *p = s;

    while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
        p++;
    if (!w3c_digits(&p, 4, &y))
        return DISCOVER_LASTMOD_UNKNOWN;
    if (*p == '-') {
        p++;
        if (!w3c_digits(&p, 2, &mo) || mo < 1 || mo > 12)
            return DISCOVER_LASTMOD_UNKNOWN;
        if (*p == '-') {
            p++;
            if (!w3c_digits(&p, 2, &d) || d < 1 || d > w3c_mdays(y, mo))
                return DISCOVER_LASTMOD_UNKNOWN;
            if (*p == 'T' || *p == 't') {
                p++;
                if (!w3c_digits(&p, 2, &h) || h > 23 || *p++ != ':' || !w3c_digits(&p, 2, &mi) ||
                    mi > 59)
                    return DISCOVER_LASTMOD_UNKNOWN;
                if (*p == ':') {
                    p++;
                    if (!w3c_digits(&p, 2, &sec) || sec > 60)
                        return DISCOVER_LASTMOD_UNKNOWN;
                    if (*p == '.') {
                        p++;
                        if (!url_digit((unsigned char)*p))
                            return DISCOVER_LASTMOD_UNKNOWN;
                        while (url_digit((unsigned char)*p))
                            p++;
                    }
                }
                if (*p == 'Z' || *p == 'z') {
                    p++;
                } else if (*p == '+' || *p == '-') {
                    sign = *p++ == '+' ? 1 : -1;
                    if (!w3c_digits(&p, 2, &zh) || zh > 23)
                        return DISCOVER_LASTMOD_UNKNOWN;
                    if (*p == ':')
                        p++;
                    if (url_digit((unsigned char)*p) && (!w3c_digits(&p, 2, &zm) || zm > 59))
                        return DISCOVER_LASTMOD_UNKNOWN;
                }
            }
        }
    }
    while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
        p++;
    if (*p != '\0')
        return DISCOVER_LASTMOD_UNKNOWN;
    return w3c_days(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - sign * (zh * 3600 + zm * 60);
}

static const char *const sitemap_namespaces[] = {
    "http://www.sitemaps.org/schemas/sitemap/0.9",
    "https://www.sitemaps.org/schemas/sitemap/0.9",
    "http://www.google.com/schemas/sitemap/0.84",
    "http://www.google.com/schemas/sitemap/0.9",
};

static bool sitemap_ns_ok(const xmlChar *ns)
{
    if (ns == NULL || *ns == '\0')
        return true;
    for (size_t i = 0; i < sizeof(sitemap_namespaces) / sizeof(sitemap_namespaces[0]); i++)
        if (strcmp((const char *)ns, sitemap_namespaces[i]) == 0)
            return true;
    return false;
}

enum sitemap_field { SITEMAP_NONE, SITEMAP_LOC, SITEMAP_LASTMOD };

struct sitemap_ctx {
    struct discover_sitemap *out;
    const char *from; /* the sitemap's normalised URL */
    const struct discover_scope *scope;
    unsigned flags;
    struct urlset seen;
    struct strbuf loc, lastmod, norm, tmp;
    enum sitemap_field field;
    bool in_entry, have_loc, too_long;
    unsigned long line;
    size_t cap;
    char xmlerr[200];
    int xmlerr_line;
};

static void sitemap_xml_error(void *data, xmlErrorPtr e)
{
    struct sitemap_ctx *c = data;

    if (c->xmlerr[0] != '\0' || e == NULL || e->level < XML_ERR_ERROR)
        return;
    snprintf(c->xmlerr, sizeof(c->xmlerr), "%s", e->message ? e->message : "XML error");
    c->xmlerr[strcspn(c->xmlerr, "\n")] = '\0';
    c->xmlerr_line = e->line;
}

static void sitemap_reject(struct sitemap_ctx *c, const char *reason)
{
    c->out->rejected++;
    discover_add_error(&c->out->errors, &c->out->nerrors, c->from, c->line, reason);
}

/* One <url> or <sitemap> element ended: check and keep its <loc>. */
static void sitemap_entry(struct sitemap_ctx *c)
{
    struct discover_sitemap *out = c->out;
    const char *why;

    if (!c->have_loc) {
        sitemap_reject(c, "entry without <loc>");
        return;
    }
    if (c->too_long) {
        sitemap_reject(c, "URL too long");
        return;
    }
    if ((why = url_norm(&c->norm, &c->tmp, strbuf_str(&c->loc), c->loc.len, c->flags)) != NULL) {
        sitemap_reject(c, why);
        return;
    }
    if (!discover_in_scope(c->norm.s, c->from, c->scope)) {
        sitemap_reject(c, "outside the source's scope");
        return;
    }
    if (!urlset_add(&c->seen, c->norm.s, c->norm.len)) {
        out->duplicates++;
        return;
    }
    if (out->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 64;
        out->entries = xreallocarray(out->entries, c->cap, sizeof(*out->entries));
    }
    out->entries[out->n].url = xstrndup(c->norm.s, c->norm.len);
    out->entries[out->n].lastmod =
        c->lastmod.len ? discover_w3c_datetime(strbuf_str(&c->lastmod)) : DISCOVER_LASTMOD_UNKNOWN;
    out->n++;
}

/* Handle one reader node; returns 0 or a negative errno to stop. */
static int sitemap_node(struct sitemap_ctx *c, xmlTextReaderPtr r)
{
    int type = xmlTextReaderNodeType(r), depth = xmlTextReaderDepth(r);
    const xmlChar *name, *value;
    bool ok;

    switch (type) {
    case XML_READER_TYPE_ELEMENT:
        name = xmlTextReaderConstLocalName(r);
        ok = sitemap_ns_ok(xmlTextReaderConstNamespaceUri(r)) && name != NULL;
        if (depth == 0) {
            if (ok && strcmp((const char *)name, "urlset") == 0) {
                c->out->kind = DISCOVER_SITEMAP_URLSET;
            } else if (ok && strcmp((const char *)name, "sitemapindex") == 0) {
                c->out->kind = DISCOVER_SITEMAP_INDEX;
            } else {
                snprintf(c->out->errmsg, sizeof(c->out->errmsg),
                         "not a sitemap: the root element is <%s>",
                         name ? (const char *)name : "?");
                return -EINVAL;
            }
        } else if (depth == 1) {
            const char *want = c->out->kind == DISCOVER_SITEMAP_URLSET ? "url" : "sitemap";
            if (ok && strcmp((const char *)name, want) == 0 && !xmlTextReaderIsEmptyElement(r)) {
                c->in_entry = true;
                c->have_loc = c->too_long = false;
                c->field = SITEMAP_NONE;
                strbuf_reset(&c->loc);
                strbuf_reset(&c->lastmod);
                c->line = (unsigned long)xmlGetLineNo(xmlTextReaderCurrentNode(r));
            }
        } else if (depth == 2 && c->in_entry && ok && !xmlTextReaderIsEmptyElement(r)) {
            if (strcmp((const char *)name, "loc") == 0) {
                c->field = SITEMAP_LOC;
                c->have_loc = true;
                c->line = (unsigned long)xmlGetLineNo(xmlTextReaderCurrentNode(r));
            } else if (strcmp((const char *)name, "lastmod") == 0) {
                c->field = SITEMAP_LASTMOD;
            }
        }
        break;
    case XML_READER_TYPE_TEXT:
    case XML_READER_TYPE_CDATA:
    case XML_READER_TYPE_WHITESPACE:
    case XML_READER_TYPE_SIGNIFICANT_WHITESPACE:
        /* Only text directly inside <loc> or <lastmod>; an entity
         * reference there is a node of its own and is never expanded. */
        if (depth != 3 || c->field == SITEMAP_NONE)
            break;
        value = xmlTextReaderConstValue(r);
        if (value == NULL)
            break;
        if (c->field == SITEMAP_LOC) {
            size_t vlen = strlen((const char *)value);
            if (c->loc.len + vlen > DISCOVER_URL_MAX + 256)
                c->too_long = true;
            else
                strbuf_add(&c->loc, value, vlen);
        } else if (c->lastmod.len < 64) {
            strbuf_adds(&c->lastmod, (const char *)value);
        }
        break;
    case XML_READER_TYPE_END_ELEMENT:
        if (depth == 2) {
            c->field = SITEMAP_NONE;
        } else if (depth == 1 && c->in_entry) {
            sitemap_entry(c);
            c->in_entry = false;
        }
        break;
    default:
        break;
    }
    return 0;
}

int discover_sitemap_parse(const char *bytes, size_t len, const char *sitemap_url,
                           const struct discover_scope *scope, unsigned url_flags,
                           struct discover_sitemap *out)
{
    struct sitemap_ctx c;
    xmlTextReaderPtr r = NULL;
    char *from;
    const char *why;
    int ret, rc = 0;

    memset(&c, 0, sizeof(c));
    c.out = out;
    c.scope = scope;
    c.flags = url_flags;
    from = discover_url_normalize(sitemap_url, url_flags | DISCOVER_ALLOW_FILE, &why);
    if (from == NULL) {
        snprintf(out->errmsg, sizeof(out->errmsg), "sitemap URL refused: %s", why);
        return -EINVAL;
    }
    c.from = from;
    if (len > DISCOVER_SITEMAP_MAX_BYTES) {
        snprintf(out->errmsg, sizeof(out->errmsg), "sitemap larger than %lu bytes",
                 (unsigned long)DISCOVER_SITEMAP_MAX_BYTES);
        rc = -EFBIG;
        goto out;
    }
    if (len >= 2 && (unsigned char)bytes[0] == 0x1f && (unsigned char)bytes[1] == 0x8b) {
        snprintf(out->errmsg, sizeof(out->errmsg), "gzip-compressed sitemap: not decoded");
        rc = -EINVAL;
        goto out;
    }
    /* No XML_PARSE_NOENT, DTDLOAD, DTDATTR or HUGE: entities stay
     * references, no DTD is read, the parser's size limits hold. */
    r = xmlReaderForMemory(bytes, (int)len, from, NULL,
                           XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    if (r == NULL) {
        snprintf(out->errmsg, sizeof(out->errmsg), "cannot start the XML parser");
        rc = -EBADMSG;
        goto out;
    }
    xmlTextReaderSetStructuredErrorHandler(r, sitemap_xml_error, &c);
    while ((ret = xmlTextReaderRead(r)) == 1)
        if ((rc = sitemap_node(&c, r)) != 0)
            break;
    if (rc == 0 && ret < 0) {
        snprintf(out->errmsg, sizeof(out->errmsg), "%s:%d: %s", from, c.xmlerr_line,
                 c.xmlerr[0] ? c.xmlerr : "not well-formed XML");
        rc = -EBADMSG;
    } else if (rc == 0 && len == 0) {
        snprintf(out->errmsg, sizeof(out->errmsg), "empty sitemap");
        rc = -EBADMSG;
    }
out:
    xmlFreeTextReader(r);
    urlset_release(&c.seen);
    strbuf_release(&c.loc);
    strbuf_release(&c.lastmod);
    strbuf_release(&c.norm);
    strbuf_release(&c.tmp);
    free(from);
    return rc;
}

void discover_sitemap_clear(struct discover_sitemap *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->entries[i].url);
    free(s->entries);
    discover_free_errors(s->errors, s->nerrors);
    memset(s, 0, sizeof(*s));
}

void discover_lastmod_observe(struct discover_lastmod_trust *t, bool lastmod_changed,
                              bool content_changed)
{
    if (!lastmod_changed && content_changed) {
        t->agree = 0;
        t->agree_changed = 0;
    } else if (lastmod_changed == content_changed) {
        if (t->agree < UINT32_MAX)
            t->agree++;
        if (lastmod_changed && t->agree_changed < UINT32_MAX)
            t->agree_changed++;
    }
}

bool discover_lastmod_trusted(const struct discover_lastmod_trust *t, unsigned need)
{
    return t->agree >= (need ? need : 1) && t->agree_changed >= 1;
}

bool discover_lastmod_may_skip(const struct discover_lastmod_trust *t, unsigned need,
                               int64_t stored_lastmod, int64_t sitemap_lastmod, int64_t last_fetch,
                               int64_t now, int64_t max_age)
{
    if (!discover_lastmod_trusted(t, need))
        return false;
    if (stored_lastmod == DISCOVER_LASTMOD_UNKNOWN || sitemap_lastmod == DISCOVER_LASTMOD_UNKNOWN)
        return false;
    if (stored_lastmod != sitemap_lastmod)
        return false;
    if (max_age <= 0 || now < 0 || last_fetch > now)
        return false;
    return last_fetch > now - max_age;
}

/* ---- Listing pages --------------------------------------------------------- */

struct discover_listing {
    xmlXPathCompExprPtr links, next, base;
    char **hosts;
    struct discover_scope scope;
    unsigned flags;
};

struct xpath_err {
    char msg[160];
};

static void discover_xpath_error(void *data, xmlErrorPtr e)
{
    struct xpath_err *x = data;

    if (x->msg[0] == '\0' && e != NULL && e->message != NULL) {
        snprintf(x->msg, sizeof(x->msg), "%s", e->message);
        x->msg[strcspn(x->msg, "\n")] = '\0';
    }
}

static int listing_compile(const char *expr, xmlXPathCompExprPtr *out, char *err, size_t errlen)
{
    struct xpath_err x = {{0}};
    xmlXPathContextPtr ctx = xmlXPathNewContext(NULL);

    if (ctx == NULL) {
        discover_set_err(err, errlen, "cannot create an XPath context");
        return -ENOMEM;
    }
    ctx->error = discover_xpath_error;
    ctx->userData = &x;
    *out = xmlXPathCtxtCompile(ctx, (const xmlChar *)expr);
    xmlXPathFreeContext(ctx);
    if (*out == NULL) {
        discover_set_err(err, errlen, "XPath \"%s\" does not compile: %s", expr,
                         x.msg[0] ? x.msg : "syntax error");
        return -EINVAL;
    }
    return 0;
}

int discover_listing_new(const struct discover_listing_options *o, struct discover_listing **out,
                         char *err, size_t errlen)
{
    struct discover_listing *l = xcalloc(1, sizeof(*l));
    const char *links = o != NULL && o->links_xpath ? o->links_xpath : DISCOVER_WILSON_LINKS_XPATH;
    int rc;

    *out = NULL;
    if ((rc = listing_compile(links, &l->links, err, errlen)) != 0)
        goto out;
    if (o != NULL && o->next_xpath != NULL &&
        (rc = listing_compile(o->next_xpath, &l->next, err, errlen)) != 0)
        goto out;
    if ((rc = listing_compile("(//base[@href])[1]/@href", &l->base, err, errlen)) != 0)
        goto out;
    if (o != NULL && o->scope != NULL && o->scope->nhosts > 0) {
        l->hosts = xcalloc(o->scope->nhosts, sizeof(*l->hosts));
        for (size_t i = 0; i < o->scope->nhosts; i++)
            l->hosts[i] = xstrdup(o->scope->hosts[i]);
        l->scope.nhosts = o->scope->nhosts;
        l->scope.hosts = (const char *const *)l->hosts;
    }
    l->flags = o != NULL ? o->url_flags : 0;
    *out = l;
    l = NULL;
out:
    discover_listing_free(l);
    return rc;
}

void discover_listing_free(struct discover_listing *l)
{
    if (l == NULL)
        return;
    xmlXPathFreeCompExpr(l->links);
    xmlXPathFreeCompExpr(l->next);
    xmlXPathFreeCompExpr(l->base);
    for (size_t i = 0; i < l->scope.nhosts; i++)
        free(l->hosts[i]);
    free(l->hosts);
    free(l);
}

/* The link a selected node stands for: an element's href, an attribute's
 * or a text node's value. The caller frees it with xmlFree(). */
static xmlChar *listing_node_value(xmlNodePtr n)
{
    switch (n->type) {
    case XML_ELEMENT_NODE:
        return xmlGetProp(n, (const xmlChar *)"href");
    case XML_ATTRIBUTE_NODE:
    case XML_TEXT_NODE:
    case XML_CDATA_SECTION_NODE:
        return xmlNodeGetContent(n);
    default:
        return NULL;
    }
}

struct listing_run {
    const struct discover_listing *l;
    const char *page; /* normalised page URL */
    const char *base; /* what links resolve against */
    struct strbuf out, tmp, tmp2;
};

/* Resolve and check one value; the normalised URL is left in lr->out.
 * Returns false when it is refused or out of scope. */
static bool listing_accept(struct listing_run *lr, const xmlChar *v)
{
    const char *s = (const char *)v;

    if (url_resolve(&lr->out, &lr->tmp, &lr->tmp2, lr->base, s, strlen(s), lr->l->flags) != NULL)
        return false;
    return discover_in_scope(lr->out.s, lr->page, &lr->l->scope);
}

/* Evaluate comp and call fn on the value of each selected node (or on the
 * string result) until it returns false. Returns 0 or -EINVAL. */
static int listing_eval(xmlXPathContextPtr ctx, xmlXPathCompExprPtr comp,
                        bool (*fn)(void *data, const xmlChar *v), void *data)
{
    xmlXPathObjectPtr res = xmlXPathCompiledEval(comp, ctx);

    if (res == NULL)
        return -EINVAL;
    if (res->type == XPATH_NODESET && res->nodesetval != NULL) {
        for (int i = 0; i < res->nodesetval->nodeNr; i++) {
            xmlChar *v = listing_node_value(res->nodesetval->nodeTab[i]);
            bool more = v == NULL || fn(data, v);
            xmlFree(v);
            if (!more)
                break;
        }
    } else if (res->type == XPATH_STRING && res->stringval != NULL && res->stringval[0]) {
        fn(data, res->stringval);
    }
    xmlXPathFreeObject(res);
    return 0;
}

struct listing_links {
    struct listing_run *lr;
    struct discover_page *page;
    struct urlset seen;
    size_t cap;
};

static bool listing_take_link(void *data, const xmlChar *v)
{
    struct listing_links *ll = data;
    struct discover_page *p = ll->page;

    if (!listing_accept(ll->lr, v)) {
        p->rejected++;
        return true;
    }
    if (!urlset_add(&ll->seen, ll->lr->out.s, ll->lr->out.len))
        return true;
    if (p->n == ll->cap) {
        ll->cap = ll->cap ? ll->cap * 2 : 32;
        p->links = xreallocarray(p->links, ll->cap, sizeof(*p->links));
    }
    p->links[p->n++] = xstrndup(ll->lr->out.s, ll->lr->out.len);
    return true;
}

static bool listing_take_next(void *data, const xmlChar *v)
{
    struct listing_links *ll = data;

    if (!listing_accept(ll->lr, v))
        return true;
    ll->page->next = xstrndup(ll->lr->out.s, ll->lr->out.len);
    return false;
}

struct listing_base {
    struct listing_run *lr;
    char *url;
};

static bool listing_take_base(void *data, const xmlChar *v)
{
    struct listing_base *b = data;

    /* <base href> counts only when it is http(s) and in scope. */
    if (listing_accept(b->lr, v) && strncmp(b->lr->out.s, "http", 4) == 0)
        b->url = xstrndup(b->lr->out.s, b->lr->out.len);
    return false;
}

int discover_listing_parse(const struct discover_listing *l, const char *body, size_t len,
                           const char *page_url, struct discover_page *out)
{
    struct listing_run lr = {.l = l};
    struct listing_links ll = {.lr = &lr, .page = out};
    struct xpath_err x = {{0}};
    htmlDocPtr doc = NULL;
    xmlXPathContextPtr ctx = NULL;
    struct listing_base base = {.lr = &lr};
    char *page;
    const char *why;
    int rc = 0;

    page = discover_url_normalize(page_url, l->flags | DISCOVER_ALLOW_FILE, &why);
    if (page == NULL) {
        snprintf(out->errmsg, sizeof(out->errmsg), "page URL refused: %s", why);
        return -EINVAL;
    }
    lr.page = lr.base = page;
    if (len > INT_MAX) {
        snprintf(out->errmsg, sizeof(out->errmsg), "page too large");
        rc = -EFBIG;
        goto out;
    }
    doc = htmlReadMemory(body, (int)len, page, NULL,
                         HTML_PARSE_RECOVER | HTML_PARSE_NONET | HTML_PARSE_NOERROR |
                             HTML_PARSE_NOWARNING | HTML_PARSE_COMPACT);
    if (doc == NULL) {
        snprintf(out->errmsg, sizeof(out->errmsg), "page does not parse as HTML");
        rc = -EBADMSG;
        goto out;
    }
    if ((ctx = xmlXPathNewContext(doc)) == NULL) {
        snprintf(out->errmsg, sizeof(out->errmsg), "cannot create an XPath context");
        rc = -ENOMEM;
        goto out;
    }
    ctx->error = discover_xpath_error;
    ctx->userData = &x;
    ctx->opLimit = DISCOVER_XPATH_OP_LIMIT;
    if (listing_eval(ctx, l->base, listing_take_base, &base) == 0 && base.url != NULL)
        lr.base = base.url;
    ctx->opCount = 0;
    if (listing_eval(ctx, l->links, listing_take_link, &ll) != 0) {
        snprintf(out->errmsg, sizeof(out->errmsg), "links XPath failed: %s",
                 x.msg[0] ? x.msg : "evaluation error");
        rc = -EINVAL;
        goto out;
    }
    ctx->opCount = 0;
    if (l->next != NULL && listing_eval(ctx, l->next, listing_take_next, &ll) != 0) {
        snprintf(out->errmsg, sizeof(out->errmsg), "next-link XPath failed: %s",
                 x.msg[0] ? x.msg : "evaluation error");
        rc = -EINVAL;
        goto out;
    }
out:
    xmlXPathFreeContext(ctx);
    xmlFreeDoc(doc);
    urlset_release(&ll.seen);
    strbuf_release(&lr.out);
    strbuf_release(&lr.tmp);
    strbuf_release(&lr.tmp2);
    free(base.url);
    free(page);
    return rc;
}

void discover_page_clear(struct discover_page *p)
{
    for (size_t i = 0; i < p->n; i++)
        free(p->links[i]);
    free(p->links);
    free(p->next);
    memset(p, 0, sizeof(*p));
}

char *discover_listing_page_url(const char *tmpl, unsigned long n, unsigned flags,
                                const char **reason)
{
    struct strbuf b = STRBUF_INIT;
    const char *p = tmpl, *q;
    char *url;

    if (strstr(tmpl, "{page}") == NULL) {
        if (reason != NULL)
            *reason = "listing template has no {page}";
        return NULL;
    }
    while ((q = strstr(p, "{page}")) != NULL) {
        strbuf_add(&b, p, (size_t)(q - p));
        strbuf_addf(&b, "%lu", n);
        p = q + 6;
    }
    strbuf_adds(&b, p);
    url = discover_url_normalize(strbuf_str(&b), flags, reason);
    strbuf_release(&b);
    return url;
}

/* ---- The listing walk ---------------------------------------------------- */

struct discover_listing_state {
    enum discover_listing_status status;
    enum discover_listing_mode mode;
    char *tmpl; /* NULL: follow next links */
    unsigned long page_no, max_pages, pages;
    unsigned flags;
    char *url;            /* the page to fetch now */
    struct urlset links;  /* record links listed in this run */
    struct urlset walked; /* pages stepped over in this run */
};

struct discover_listing_state *
discover_listing_state_new(const struct discover_listing_state_options *o, char *err, size_t errlen)
{
    struct discover_listing_state *s;
    const char *why;
    char *url;

    if (strstr(o->start, "{page}") != NULL)
        url = discover_listing_page_url(o->start, o->first_page, o->url_flags, &why);
    else
        url = discover_url_normalize(o->start, o->url_flags, &why);
    if (url == NULL) {
        discover_set_err(err, errlen, "listing %s: %s", o->start, why);
        return NULL;
    }
    s = xcalloc(1, sizeof(*s));
    s->status = DISCOVER_LISTING_FETCH;
    s->mode = o->mode;
    s->tmpl = strstr(o->start, "{page}") != NULL ? xstrdup(o->start) : NULL;
    s->page_no = o->first_page;
    s->max_pages = o->max_pages;
    s->flags = o->url_flags;
    s->url = url;
    return s;
}

void discover_listing_state_free(struct discover_listing_state *s)
{
    if (s == NULL)
        return;
    free(s->tmpl);
    free(s->url);
    urlset_release(&s->links);
    urlset_release(&s->walked);
    free(s);
}

enum discover_listing_status discover_listing_state_status(const struct discover_listing_state *s)
{
    return s->status;
}

const char *discover_listing_state_url(const struct discover_listing_state *s)
{
    return s->status == DISCOVER_LISTING_FETCH ? s->url : NULL;
}

unsigned long discover_listing_state_pages(const struct discover_listing_state *s)
{
    return s->pages;
}

/* Move to the page after the current one, or end the walk. */
static enum discover_listing_status listing_advance(struct discover_listing_state *s,
                                                    const struct discover_page *page)
{
    char *next;

    if (s->max_pages != 0 && s->pages >= s->max_pages)
        return DISCOVER_LISTING_END_LIMIT;
    if (s->tmpl != NULL) {
        next = discover_listing_page_url(s->tmpl, ++s->page_no, s->flags, NULL);
        if (next == NULL)
            return DISCOVER_LISTING_END_FAILED;
    } else {
        if (page->next == NULL)
            return DISCOVER_LISTING_END_NO_NEXT;
        next = discover_url_normalize(page->next, s->flags, NULL);
        if (next == NULL)
            return DISCOVER_LISTING_END_NO_NEXT;
        if (urlset_has(&s->walked, next, strlen(next))) {
            free(next);
            return DISCOVER_LISTING_END_LOOP;
        }
    }
    free(s->url);
    s->url = next;
    return DISCOVER_LISTING_FETCH;
}

enum discover_listing_status discover_listing_step(struct discover_listing_state *s,
                                                   const struct discover_page *page,
                                                   discover_known_fn known, void *data,
                                                   size_t *fresh)
{
    size_t unseen = 0, nfresh = 0;

    if (fresh != NULL)
        *fresh = 0;
    if (s->status != DISCOVER_LISTING_FETCH)
        return s->status;
    s->pages++;
    urlset_add(&s->walked, s->url, strlen(s->url));
    for (size_t i = 0; i < page->n; i++) {
        if (!urlset_add(&s->links, page->links[i], strlen(page->links[i])))
            continue;
        unseen++;
        if (known == NULL || !known(page->links[i], data))
            nfresh++;
    }
    if (fresh != NULL)
        *fresh = nfresh;
    if (page->n == 0)
        s->status = DISCOVER_LISTING_END_EMPTY;
    else if (unseen == 0)
        s->status = DISCOVER_LISTING_END_REPEAT;
    else if (s->mode == DISCOVER_LISTING_INCREMENTAL && nfresh == 0)
        s->status = DISCOVER_LISTING_END_NOTHING_NEW;
    else
        s->status = listing_advance(s, page);
    return s->status;
}

enum discover_listing_status discover_listing_fail(struct discover_listing_state *s)
{
    if (s->status == DISCOVER_LISTING_FETCH)
        s->status = DISCOVER_LISTING_END_FAILED;
    return s->status;
}

const char *discover_listing_status_name(enum discover_listing_status status)
{
    switch (status) {
    case DISCOVER_LISTING_FETCH:
        return "FETCH";
    case DISCOVER_LISTING_END_EMPTY:
        return "END_EMPTY";
    case DISCOVER_LISTING_END_REPEAT:
        return "END_REPEAT";
    case DISCOVER_LISTING_END_NO_NEXT:
        return "END_NO_NEXT";
    case DISCOVER_LISTING_END_LOOP:
        return "END_LOOP";
    case DISCOVER_LISTING_END_LIMIT:
        return "END_LIMIT";
    case DISCOVER_LISTING_END_NOTHING_NEW:
        return "END_NOTHING_NEW";
    case DISCOVER_LISTING_END_FAILED:
        return "END_FAILED";
    }
    return "?";
}
