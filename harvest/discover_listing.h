/*
 * discover_listing: listing pages and the walk over them. Internal to
 * harvest/ (tests, and the daemon's configuration, which checks listing
 * templates with discover_listing_page_url(), may include it).
 */
#ifndef PROVD_DISCOVER_LISTING_H
#define PROVD_DISCOVER_LISTING_H

#include "discover_url.h"

#include <stdbool.h>
#include <stddef.h>

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
