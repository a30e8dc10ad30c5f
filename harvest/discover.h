/*
 * discover: where a source's record URLs come from — URL list files
 * (discover_list.h), sitemaps and sitemap indexes (discover_sitemap.h) and
 * listing pages (discover_listing.h) — and the one URL filter and
 * normaliser that every URL provd will fetch passes through
 * (discover_url.h). This header gathers the four and declares what they
 * share (discover.c).
 *
 * Internal to harvest/ (tests may include it). Pure functions over bytes:
 * nothing here fetches, sleeps, logs or reads a clock; the engine hands in
 * bodies and the time, and gets URLs and decisions back.
 */
#ifndef PROVD_DISCOVER_H
#define PROVD_DISCOVER_H

#include <stddef.h>

/* At most this many "FILE:LINE: reason" messages are kept of one URL list
 * or sitemap; every rejected line or entry is counted. */
#define DISCOVER_MAX_ERRORS 100

#include "discover_list.h"
#include "discover_listing.h"
#include "discover_sitemap.h"
#include "discover_url.h"

/* ---- Shared by the discover modules ----------------------------------- */

/* Write a printf-style message into err (errlen bytes); nothing when err
 * is NULL or errlen is 0. */
void discover_set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Keep one "NAME:LINE: reason" message in *v, of which *n are used: the
 * array (DISCOVER_MAX_ERRORS slots) is allocated at the first message and
 * messages past DISCOVER_MAX_ERRORS are dropped. Free with
 * discover_free_errors(). */
void discover_add_error(char ***v, size_t *n, const char *name, unsigned long line,
                        const char *reason);

/* Free the n messages of v and v itself; v may be NULL when n is 0. */
void discover_free_errors(char **v, size_t n);

#endif
