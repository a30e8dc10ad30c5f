/*
 * discover_sitemap: sitemaps, sitemap indexes and the trust a source's
 * lastmod dates earn. Internal to harvest/ (tests may include it).
 */
#ifndef PROVD_DISCOVER_SITEMAP_H
#define PROVD_DISCOVER_SITEMAP_H

#include "discover_url.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The largest sitemap parsed, in bytes. */
#define DISCOVER_SITEMAP_MAX_BYTES (50UL << 20)

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

#endif
