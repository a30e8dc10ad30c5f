/*
 * discover_url: the one URL filter and normaliser that every URL provd
 * fetches passes through, RFC 3986 reference resolution, origins (the
 * frontier's host key) and the scope rule for links found on pages.
 *
 * Pure functions over strings: it owns only the strings it returns, uses
 * ASCII character classes (never the locale), and never fetches, looks a
 * name up or logs.
 */
#include "discover_url.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

void discover_url_split(const char *s, size_t n, struct discover_url_parts *u)
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

void discover_url_add_pct(struct strbuf *out, unsigned char c)
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
                    discover_url_add_pct(out, v);
                i += 2;
            } else {
                discover_url_add_pct(out, '%');
            }
        } else {
            discover_url_add_pct(out, c);
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

const char *discover_url_norm(struct strbuf *out, struct strbuf *tmp, const char *s, size_t n,
                              unsigned flags)
{
    struct discover_url_parts u;
    const char *why;
    size_t p0;

    if ((why = url_clean(tmp, s, n)) != NULL)
        return why;
    discover_url_split(strbuf_str(tmp), tmp->len, &u);
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
    const char *why = discover_url_norm(&out, &tmp, url, strlen(url), flags);

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

const char *discover_url_resolve_into(struct strbuf *out, struct strbuf *tmp, struct strbuf *tmp2,
                                      const char *base, const char *ref, size_t reflen,
                                      unsigned flags)
{
    struct discover_url_parts b, r;
    const char *why, *refc;

    if ((why = url_clean(tmp2, ref, reflen)) != NULL)
        return why;
    refc = strbuf_str(tmp2);
    discover_url_split(refc, tmp2->len, &r);
    if (r.scheme_len > 0)
        return discover_url_norm(out, tmp, refc, tmp2->len, flags);
    discover_url_split(base, strlen(base), &b);
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
    /* discover_url_norm cleans into its scratch buffer first, so hand it a copy. */
    strbuf_reset(tmp2);
    strbuf_add(tmp2, strbuf_str(tmp), tmp->len);
    return discover_url_norm(out, tmp, strbuf_str(tmp2), tmp2->len, flags);
}

char *discover_url_resolve(const char *base, const char *ref, unsigned flags, const char **reason)
{
    struct strbuf out = STRBUF_INIT, tmp = STRBUF_INIT, tmp2 = STRBUF_INIT, nb = STRBUF_INIT;
    const char *why;

    why = discover_url_norm(&nb, &tmp, base, strlen(base), flags | DISCOVER_ALLOW_FILE);
    if (why == NULL)
        why =
            discover_url_resolve_into(&out, &tmp, &tmp2, strbuf_str(&nb), ref, strlen(ref), flags);
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
    struct discover_url_parts u;
    const char *a, *colon;

    discover_url_split(url, strlen(url), &u);
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
    struct discover_url_parts u;
    const char *host;
    size_t hlen;
    unsigned port;
    int w;

    discover_url_split(url, strlen(url), &u);
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
