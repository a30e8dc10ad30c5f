/*
 * discover: what the discover modules share — the "NAME:LINE: reason"
 * messages of URL lists and sitemaps and the error text of a failed call.
 * The modules themselves are discover_url (the URL filter, normaliser and
 * resolver), discover_list (URL list files), discover_sitemap (sitemaps
 * and lastmod trust) and discover_listing (listing pages and their walk);
 * discover.h gathers their headers.
 *
 * It owns only the message arrays it allocates for its callers; it never
 * fetches, reads a clock or logs.
 */
#include "discover.h"

#include "xmalloc.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

void discover_set_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

void discover_add_error(char ***v, size_t *n, const char *name, unsigned long line,
                        const char *reason)
{
    if (*n >= DISCOVER_MAX_ERRORS)
        return;
    if (*v == NULL)
        *v = xcalloc(DISCOVER_MAX_ERRORS, sizeof(**v));
    (*v)[(*n)++] = xasprintf("%s:%lu: %s", name, line, reason);
}

void discover_free_errors(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}
