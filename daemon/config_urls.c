/*
 * config_urls: checks the URLs a [source] names and reads its urls file
 * through the harvest folder's URL filter and list loader (discover.h), the
 * same code the fetch engine applies to every URL it fetches (RELIABILITY
 * C5, C6); this module only turns their results into the configuration's
 * values and messages.
 *
 * It owns nothing beyond the URLs it adds to a source. It never logs and
 * reads only the open file it is handed.
 */
#include "config_urls.h"

#include "discover.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A refused line is an error of the configuration: the list keeps as many
 * messages as a load reports at most, so none is lost before the load
 * stops. */
_Static_assert(DISCOVER_MAX_ERRORS >= CONFIG_MAX_ERRORS, "a URL list keeps too few messages");

static unsigned url_flags(bool allow_file)
{
    return allow_file ? DISCOVER_ALLOW_FILE : 0;
}

int config_url_check(const char *url, bool allow_file, char *err, size_t errlen)
{
    const char *reason;

    if (discover_url_check(url, url_flags(allow_file), &reason) == 0)
        return 0;
    snprintf(err, errlen, "%s", reason);
    return -EINVAL;
}

int config_urls_template_check(const char *tmpl, unsigned long first_page, bool allow_file,
                               char *err, size_t errlen)
{
    const char *at = strstr(tmpl, "{page}"), *reason;
    char *url;

    if (at == NULL || strstr(at + 6, "{page}") != NULL) {
        snprintf(err, errlen, "the URL must hold {page} exactly once");
        return -EINVAL;
    }
    url = discover_listing_page_url(tmpl, first_page, url_flags(allow_file), &reason);
    if (url == NULL) {
        snprintf(err, errlen, "%s", reason);
        return -EINVAL;
    }
    free(url);
    return 0;
}

void config_urls_read(struct config_source *src, int fd, const char *display, const char *dir,
                      struct strlist *errors)
{
    struct discover_list_options o = {.url_flags = url_flags(src->allow_file),
                                      .max_urls = CONFIG_MAX_URLS};
    struct discover_list *l = NULL;
    size_t n;
    char err[512];

    if (discover_list_read(fd, display, dir, &o, &l, err, sizeof(err)) < 0) {
        strlist_add(errors, err);
        return;
    }
    n = discover_list_nerrors(l);
    for (size_t i = 0; i < n; i++)
        strlist_add(errors, discover_list_error(l, i));
    n = discover_list_count(l);
    for (size_t i = 0; i < n; i++)
        strlist_add(&src->urls, discover_list_url(l, i));
    discover_list_free(l);
}
