/*
 * discover: where a source's record URLs come from — URL list files,
 * sitemaps (and sitemap indexes) and listing pages — and the one URL filter
 * and normaliser that every URL provd will fetch passes through.
 *
 * Internal to harvest/ (tests may include it). Pure functions over bytes:
 * nothing here fetches, sleeps, logs or reads a clock; the engine hands in
 * bodies and the time, and gets URLs and decisions back.
 */
#ifndef PROVD_DISCOVER_H
#define PROVD_DISCOVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- The URL filter and normaliser ----------------------------------- */

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

/* ---- URL list files (RELIABILITY C5, C6) ----------------------------- */

/* At most this many "FILE:LINE: reason" messages are kept; every rejected
 * line is counted. */
#define DISCOVER_MAX_ERRORS        100
#define DISCOVER_LIST_MAX_URLS     2000000
#define DISCOVER_LIST_MAX_BYTES    (512UL << 20)
#define DISCOVER_SITEMAP_MAX_BYTES (50UL << 20)

struct discover_list_options {
    unsigned url_flags; /* DISCOVER_ALLOW_FILE or 0 */
    size_t max_urls;    /* 0: DISCOVER_LIST_MAX_URLS */
    size_t max_bytes;   /* 0: DISCOVER_LIST_MAX_BYTES */
};

/* A loaded URL list: normalised URLs in file order, duplicates removed.
 * Opaque; read it with the accessors below. */
struct discover_list;

/* Load the URL list file at path: one URL a line; blank lines, lines
 * starting with '#' and a '#' after white space are comments; a UTF-8 BOM
 * and CRLF line ends are accepted. A line without a scheme is a file path
 * (absolute, or relative to the list file's directory) and becomes a
 * file:// URL when o->url_flags allows file URLs. Every URL passes
 * discover_url_normalize(); a refused line is counted and reported as
 * "FILE:LINE: reason" without failing the load. Duplicates (after
 * normalisation) are dropped. Memory is about the total length of the
 * kept URLs plus 20 to 40 bytes per URL. On success returns 0 and *out (the
 * caller frees it with discover_list_free()). Returns -errno when the file
 * cannot be read, -EFBIG when it has more than o->max_urls URLs or
 * o->max_bytes bytes, with a message in err (errlen bytes; err may be NULL
 * when errlen is 0); *out is then NULL. o may be NULL (defaults). */
int discover_list_load(const char *path, const struct discover_list_options *o,
                       struct discover_list **out, char *err, size_t errlen);

/* The same over len bytes in memory; name is used in messages and dir
 * (an absolute directory, or NULL) resolves relative file paths. */
int discover_list_parse(const char *name, const char *dir, const char *bytes, size_t len,
                        const struct discover_list_options *o, struct discover_list **out,
                        char *err, size_t errlen);

/* Free l; NULL is allowed. */
void discover_list_free(struct discover_list *l);

/* The number of URLs kept. */
size_t discover_list_count(const struct discover_list *l);

/* The i-th URL (i < discover_list_count()); lives as long as l. */
const char *discover_list_url(const struct discover_list *l, size_t i);

/* Lines refused by the filter, and lines dropped as duplicates. */
size_t discover_list_rejected(const struct discover_list *l);
size_t discover_list_duplicates(const struct discover_list *l);

/* The kept "FILE:LINE: reason" messages (at most DISCOVER_MAX_ERRORS);
 * each lives as long as l. */
size_t discover_list_nerrors(const struct discover_list *l);
const char *discover_list_error(const struct discover_list *l, size_t i);

/* ---- Sitemaps --------------------------------------------------------- */

/* lastmod value when a sitemap entry has none or it does not parse. */
#define DISCOVER_LASTMOD_UNKNOWN INT64_MIN

/* Seconds since the epoch (UTC) of a W3C date-time as sitemaps write it:
 * YYYY, YYYY-MM, YYYY-MM-DD, or YYYY-MM-DDThh:mm[:ss[.s…]] with Z or
 * ±hh:mm (a missing zone is read as UTC); leading and trailing white
 * space is allowed. Returns DISCOVER_LASTMOD_UNKNOWN when s is not one. */
int64_t discover_w3c_datetime(const char *s);

enum discover_sitemap_kind {
    DISCOVER_SITEMAP_URLSET, /* entries are pages */
    DISCOVER_SITEMAP_INDEX,  /* entries are child sitemaps */
};

struct discover_sitemap_entry {
    char *url;       /* normalised, in scope */
    int64_t lastmod; /* epoch seconds or DISCOVER_LASTMOD_UNKNOWN */
};

struct discover_sitemap {
    enum discover_sitemap_kind kind;
    struct discover_sitemap_entry *entries; /* in document order */
    size_t n;
    size_t rejected;   /* <loc>s refused by the filter or out of scope */
    size_t duplicates; /* <loc>s seen earlier in this sitemap */
    char **errors;     /* "SITEMAP:LINE: reason", at most DISCOVER_MAX_ERRORS */
    size_t nerrors;
    char errmsg[256]; /* why the parse failed, when it did */
};

/* Parse len bytes of a sitemap (<urlset><url><loc>…<lastmod>…) or a
 * sitemap index (<sitemapindex><sitemap><loc>…) fetched from the
 * normalised URL sitemap_url. The XML parser never touches the network,
 * never loads a DTD and never substitutes entities (an entity reference
 * inside <loc> contributes nothing, so a billion-laughs document is
 * harmless). Elements count only in the sitemap namespace (or no
 * namespace), so image:loc and the like are ignored. Each <loc> must pass
 * the URL filter (url_flags) and be in scope (struct discover_scope, with
 * sitemap_url as the page it came from); others are counted and reported.
 * The caller zeroes *out first and calls discover_sitemap_clear() after,
 * whatever the result. Returns 0; -EINVAL when the root element is not a
 * sitemap; -EBADMSG when the XML is not well formed (the entries read
 * before the error stay in *out and may be used); -EFBIG above
 * DISCOVER_SITEMAP_MAX_BYTES. out->errmsg says why. Gzip-compressed
 * bytes are refused with -EINVAL (the fetcher decodes Content-Encoding). */
int discover_sitemap_parse(const char *bytes, size_t len, const char *sitemap_url,
                           const struct discover_scope *scope, unsigned url_flags,
                           struct discover_sitemap *out);

/* Free what s owns and zero it. */
void discover_sitemap_clear(struct discover_sitemap *s);

/*
 * When may a sitemap's lastmod skip a fetch? Only once it has proved
 * right for the source. The caller stores, per source, the struct below
 * and, per URL, the lastmod and content hash of its last fetch.
 *
 * After every fetch of a URL whose lastmod was known both at its previous
 * fetch and now, the caller reports what changed:
 *   lastmod same,    content same    -> agreement;
 *   lastmod changed, content changed -> agreement that also shows lastmod
 *                                       moves with the content;
 *   lastmod changed, content same    -> neutral (costs a fetch, hides
 *                                       nothing: the counters stay);
 *   lastmod same,    content changed -> contradiction: a skip would have
 *                                       missed a change; trust is lost and
 *                                       the counters restart from zero.
 * A source is trusted once it has `need` agreements in a row and at least
 * one of them saw lastmod move with the content (a constant lastmod never
 * earns trust). Even when trusted, a URL is skipped only if its lastmod is
 * the one stored at its last fetch and that fetch is younger than
 * max_age, so every URL is still fetched at least once per max_age and a
 * lying lastmod is caught by the next contradiction.
 */
struct discover_lastmod_trust {
    uint32_t agree;         /* agreements since the last contradiction */
    uint32_t agree_changed; /* of which lastmod and content both changed */
};

/* Record one observation (see above) in t. */
void discover_lastmod_observe(struct discover_lastmod_trust *t, bool lastmod_changed,
                              bool content_changed);

/* True when t earns trust with `need` agreements (need 0 counts as 1). */
bool discover_lastmod_trusted(const struct discover_lastmod_trust *t, unsigned need);

/* True when the fetch of a URL may be skipped: the source is trusted
 * (need), both lastmods are known and equal, and the last fetch
 * (last_fetch, seconds) is less than max_age seconds before now. */
bool discover_lastmod_may_skip(const struct discover_lastmod_trust *t, unsigned need,
                               int64_t stored_lastmod, int64_t sitemap_lastmod, int64_t last_fetch,
                               int64_t now, int64_t max_age);

/* ---- Listing pages ----------------------------------------------------- */

/* Record links of the Digital Archive's search pages: links to /document/
 * inside the results table. */
#define DISCOVER_WILSON_LINKS_XPATH "//table//a[contains(@href, '/document/')]"

/* A next-page link as Drupal pagers and rel=next write it. */
#define DISCOVER_PAGER_NEXT_XPATH                                                                  \
    "//a[@rel='next'] | //li[contains(concat(' ', normalize-space(@class), ' '), ' pager-next ')]" \
    "//a | //li[contains(concat(' ', normalize-space(@class), ' '), ' pager__item--next ')]//a"

struct discover_listing_options {
    const char *links_xpath;            /* NULL: DISCOVER_WILSON_LINKS_XPATH */
    const char *next_xpath;             /* NULL: no next link */
    const struct discover_scope *scope; /* copied; may be NULL */
    unsigned url_flags;                 /* DISCOVER_ALLOW_FILE or 0 */
};

/* Compiled listing options. Opaque. */
struct discover_listing;

/* Compile the XPaths of o. An XPath may select elements (their href is
 * used), attributes or text. Returns 0 and *out, or -EINVAL with a
 * message in err when an XPath does not compile. */
int discover_listing_new(const struct discover_listing_options *o, struct discover_listing **out,
                         char *err, size_t errlen);

/* Free l; NULL is allowed. */
void discover_listing_free(struct discover_listing *l);

struct discover_page {
    char **links; /* normalised, in scope, in document order, no duplicates */
    size_t n;
    char *next;       /* the next page's URL, or NULL */
    size_t rejected;  /* links refused by the filter or out of scope */
    char errmsg[256]; /* why the parse failed, when it did */
};

/* Parse len bytes of the HTML listing page fetched from the normalised URL
 * page_url and collect its record links and next link. Links resolve
 * against page_url, or against <base href> when that is http(s) and in
 * scope; only http(s) links in scope are kept (file: only when file URLs
 * are allowed and the page is a file: page): javascript:, data: and meta
 * refresh targets never are. The caller zeroes *out first and calls
 * discover_page_clear() after. Returns 0, or -EINVAL / -EBADMSG with
 * out->errmsg set when the page cannot be parsed or an XPath fails. */
int discover_listing_parse(const struct discover_listing *l, const char *body, size_t len,
                           const char *page_url, struct discover_page *out);

/* Free what p owns and zero it. */
void discover_page_clear(struct discover_page *p);

/* The URL of page n of the listing template tmpl: every "{page}" replaced
 * by n in decimal, then normalised. Returns a new string, or NULL with
 * *reason set when tmpl has no "{page}" or the result is refused. */
char *discover_listing_page_url(const char *tmpl, unsigned long n, unsigned flags,
                                const char **reason);

/*
 * The walk over a listing, as a small state machine the engine drives:
 *
 *   s = discover_listing_state_new(...)
 *   while (discover_listing_state_status(s) == DISCOVER_LISTING_FETCH) {
 *       fetch discover_listing_state_url(s), parse it into page;
 *       discover_listing_step(s, &page, known, data, &fresh);
 *       (or discover_listing_fail(s) when the page could not be had)
 *   }
 *
 * The next page is page n+1 of the template, or the page's next link when
 * there is no template. Every run ends at a page with no record links, at
 * a page all of whose links were already listed earlier in this run (a
 * site that repeats its last page), when there is no next page, at a next
 * link already walked, or at the page limit. An incremental run also ends
 * after the first page that yields nothing new, "new" meaning a link the
 * known() callback says the catalog does not hold.
 */
enum discover_listing_status {
    DISCOVER_LISTING_FETCH,           /* fetch the current page and step */
    DISCOVER_LISTING_END_EMPTY,       /* a page had no record links */
    DISCOVER_LISTING_END_REPEAT,      /* a page only repeated earlier links */
    DISCOVER_LISTING_END_NO_NEXT,     /* a page had no next link */
    DISCOVER_LISTING_END_LOOP,        /* the next link was walked already */
    DISCOVER_LISTING_END_LIMIT,       /* max_pages pages were walked */
    DISCOVER_LISTING_END_NOTHING_NEW, /* incremental: nothing new on a page */
    DISCOVER_LISTING_END_FAILED,      /* a page could not be fetched or parsed */
};

enum discover_listing_mode {
    DISCOVER_LISTING_FULL,        /* walk to the end */
    DISCOVER_LISTING_INCREMENTAL, /* stop after a page with nothing new */
};

struct discover_listing_state_options {
    const char *start;        /* a template with "{page}", or the first page's URL */
    unsigned long first_page; /* the template's first page number (0) */
    unsigned long max_pages;  /* 0: no limit */
    enum discover_listing_mode mode;
    unsigned url_flags;
};

/* Is url (normalised) already known to the catalog? */
typedef bool (*discover_known_fn)(const char *url, void *data);

/* A new walk in state DISCOVER_LISTING_FETCH at the first page. Returns
 * NULL with a message in err when o->start is refused by the URL filter.
 * The caller frees the state with discover_listing_state_free(). */
struct discover_listing_state *
discover_listing_state_new(const struct discover_listing_state_options *o, char *err,
                           size_t errlen);

/* Free s; NULL is allowed. */
void discover_listing_state_free(struct discover_listing_state *s);

/* The current status. */
enum discover_listing_status discover_listing_state_status(const struct discover_listing_state *s);

/* The page to fetch while the status is DISCOVER_LISTING_FETCH, else
 * NULL; lives until the next step. */
const char *discover_listing_state_url(const struct discover_listing_state *s);

/* The number of pages stepped over so far. */
unsigned long discover_listing_state_pages(const struct discover_listing_state *s);

/* Feed the parsed current page. known (may be NULL: nothing is known) is
 * asked about each link not listed earlier in this run; *fresh (may be
 * NULL) gets how many it said are not known. Returns the new status. Must
 * only be called in status DISCOVER_LISTING_FETCH. */
enum discover_listing_status discover_listing_step(struct discover_listing_state *s,
                                                   const struct discover_page *page,
                                                   discover_known_fn known, void *data,
                                                   size_t *fresh);

/* End the walk because the current page could not be had (its fetch gave
 * up, or it did not parse): DISCOVER_LISTING_END_FAILED. */
enum discover_listing_status discover_listing_fail(struct discover_listing_state *s);

/* A stable word for status ("FETCH", "END_EMPTY", ...); static storage. */
const char *discover_listing_status_name(enum discover_listing_status status);

#endif
