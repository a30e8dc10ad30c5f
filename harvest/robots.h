/*
 * robots: robots.txt as RFC 9309 reads it — the group for provd's product
 * token (else "*"), Allow and Disallow with the * and $ wildcards, the
 * longest match winning and Allow winning a tie, Crawl-delay — and the
 * policy for what a robots.txt fetch outcome means.
 *
 * Internal to harvest/ (tests may include it). Pure: bytes in, answers
 * out; no fetching, no clock (times are passed in, in milliseconds).
 */
#ifndef PROVD_ROBOTS_H
#define PROVD_ROBOTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Bytes of a robots.txt that are read; the rest is ignored (RFC 9309
 * asks crawlers to read at least 500 KiB). */
#define ROBOTS_MAX_BYTES (500 * 1024)

/* provd's product token, matched against User-agent lines. */
#define ROBOTS_PRODUCT "provd"

/* Parsed rules for one product token. Opaque. */
struct robots;

/* Parse len bytes of a robots.txt for the product token product (NULL:
 * ROBOTS_PRODUCT). Field names are matched without regard to case (and a
 * few common misspellings of Disallow are accepted); a UTF-8 BOM, CR, LF
 * and CRLF line ends, comments, and lines that mean nothing are
 * tolerated. The groups naming the product token are merged and used;
 * when none does, the groups for "*" are; when neither exists, everything
 * is allowed. Only the first ROBOTS_MAX_BYTES bytes are read; body may be
 * NULL when len is 0. Never
 * fails; the caller frees the result with robots_free(). */
struct robots *robots_parse(const char *body, size_t len, const char *product);

/* Rules that allow everything (no robots.txt: 4xx) or disallow everything
 * (robots.txt unreachable: 5xx or network error). Free with robots_free(). */
struct robots *robots_new_allow_all(void);
struct robots *robots_new_disallow_all(void);

/* Free r; NULL is allowed. */
void robots_free(struct robots *r);

/* May provd fetch path (the path and query of a URL, "/a/b?c=d"; "" means
 * "/")? Percent escapes are compared in canonical form, so "/%7ex" and
 * "/~x" are the same path. "/robots.txt" is always allowed. */
bool robots_allowed(const struct robots *r, const char *path);

/* The same for a whole http(s) URL (its path and query are checked). */
bool robots_allowed_url(const struct robots *r, const char *url);

/* The Crawl-delay of the group used, in milliseconds, at most cap_ms
 * (when cap_ms >= 0); 0 when there is none. */
int64_t robots_crawl_delay_ms(const struct robots *r, int64_t cap_ms);

/* The number of Allow and Disallow rules in use (for reports and tests). */
size_t robots_rule_count(const struct robots *r);

/* True when the body was longer than ROBOTS_MAX_BYTES and was cut. */
bool robots_truncated(const struct robots *r);

/* ---- What a robots.txt fetch outcome means ------------------------------ */

struct robots_options {
    int64_t expiry_ms;    /* rules are fetched again after this (0: 24 h) */
    int64_t retry_ms;     /* first wait after a failed fetch (0: 1 min) */
    int64_t retry_max_ms; /* longest wait between failed fetches (0: 1 h) */
};

enum robots_verdict {
    ROBOTS_USE_BODY,     /* 2xx: parse the body with robots_parse() */
    ROBOTS_ALLOW_ALL,    /* 4xx (or redirects exhausted): no robots.txt */
    ROBOTS_DISALLOW_ALL, /* 5xx, 429 or network error and nothing cached */
    ROBOTS_KEEP_CACHED,  /* 5xx, 429 or network error: keep the cached rules */
};

struct robots_decision {
    enum robots_verdict verdict;
    int64_t refetch_at; /* when to fetch robots.txt again, ms */
    bool failed;        /* the fetch counts as a failure */
};

/* Decide what the outcome of a robots.txt fetch means. status is the
 * final HTTP status, or 0 for a network error (connect, DNS, TLS,
 * timeout, truncated body); have_cached says whether rules from an
 * earlier fetch are at hand; failures is the number of failed fetches in
 * a row before this one; now is in ms. 2xx: use the body until now +
 * expiry. 3xx (only seen when redirects ran out) and 4xx other than 429:
 * allow everything until now + expiry. 5xx, 429, 0 and anything else:
 * keep the cached rules or disallow everything, and fetch again after
 * retry * 2^failures, at most retry_max. o may be NULL (defaults). */
void robots_decide(const struct robots_options *o, int status, bool have_cached, unsigned failures,
                   int64_t now, struct robots_decision *d);

#endif
