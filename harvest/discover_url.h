/*
 * discover_url: the URL filter and normaliser every URL provd fetches
 * passes through, reference resolution, origins and the scope of links.
 *
 * Internal to harvest/ (tests, and the daemon's configuration, which checks
 * the URLs it reads with the same filter, may include it).
 */
#ifndef PROVD_DISCOVER_URL_H
#define PROVD_DISCOVER_URL_H

#include "strbuf.h"

#include <stdbool.h>
#include <stddef.h>

/* Longest URL accepted, in bytes, before and after normalisation. */
#define DISCOVER_URL_MAX 4096

/* Flag for the url_flags arguments below: file: URLs are allowed (only for
 * sources that list file URLs, such as the demo source). */
#define DISCOVER_ALLOW_FILE 0x1u

/* Normalise url and check it against the filter every fetched URL passes:
 * only http and https (file: only with DISCOVER_ALLOW_FILE), a host
 * required for http(s), no user name or password, no control character or
 * backslash, at most DISCOVER_URL_MAX bytes. The normal form has the scheme
 * and host in lower case, no default port, no fragment, "/" for an empty
 * path, no "." or ".." segments, upper-case percent escapes, unreserved
 * characters decoded and other unsafe bytes (space, non-ASCII, quotes)
 * percent-encoded; file URLs read file:///path. Leading and trailing white
 * space and embedded tabs and newlines are dropped, as browsers do.
 * Returns a new string the caller frees, or NULL with *reason (static
 * storage; reason may be NULL) saying why the URL is refused. */
char *discover_url_normalize(const char *url, unsigned flags, const char **reason);

/* The filter alone: 0 when discover_url_normalize() would accept url,
 * else -EINVAL with *reason set as there. */
int discover_url_check(const char *url, unsigned flags, const char **reason);

/* Resolve the reference ref (an href: absolute, scheme-relative,
 * path-absolute or relative) against base, an absolute URL, by RFC 3986
 * §5.2, then normalise and filter the result as discover_url_normalize()
 * does. Returns a new string or NULL with *reason set. */
char *discover_url_resolve(const char *base, const char *ref, unsigned flags, const char **reason);

/* Write the origin of the normalised URL url ("https://example.org:443",
 * the port always written; "file://" for file URLs) into buf of n bytes.
 * This is the frontier's host key. Returns 0, -EINVAL when url is not a
 * normalised URL, or -ENAMETOOLONG when buf is too small. */
int discover_url_origin(const char *url, char *buf, size_t n);

/* Where discovered links may point. A link is in scope when it is http or
 * https and its host is the host of the page or sitemap it came from, or
 * one of hosts (an entry "example.org" matches that host, "*.example.org"
 * matches its subdomains); a file: link is in scope only when it came from
 * a file: page. Borrowed: the strings must outlive the calls that use it. */
struct discover_scope {
    const char *const *hosts; /* may be NULL when nhosts is 0 */
    size_t nhosts;
};

/* True when the normalised URL url is in scope for links found on the
 * normalised URL from (see struct discover_scope); scope may be NULL. */
bool discover_in_scope(const char *url, const char *from, const struct discover_scope *scope);
/* ---- For the other discover modules ----------------------------------- */

/* A URL reference split as in RFC 3986 appendix B; pointers into the
 * string split, no copies. The fragment is dropped. */
struct discover_url_parts {
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

/* Split the n bytes at s into *u, which points into s. Never fails: a
 * part that is not there is left empty. */
void discover_url_split(const char *s, size_t n, struct discover_url_parts *u);

/* Append byte c to out as an upper-case percent escape ("%2F"). */
void discover_url_add_pct(struct strbuf *out, unsigned char c);

/* Normalise the n bytes at s into out as discover_url_normalize() does;
 * tmp is scratch space (both are reset). Returns NULL, or the reason
 * (static storage) for refusing. */
const char *discover_url_norm(struct strbuf *out, struct strbuf *tmp, const char *s, size_t n,
                              unsigned flags);

/* Resolve the reflen bytes at ref against base, a normalised absolute URL,
 * into out (RFC 3986 §5.2.2), then normalise as discover_url_norm() does.
 * tmp and tmp2 are scratch space. Returns NULL or the reason for refusing. */
const char *discover_url_resolve_into(struct strbuf *out, struct strbuf *tmp, struct strbuf *tmp2,
                                      const char *base, const char *ref, size_t reflen,
                                      unsigned flags);

#endif
