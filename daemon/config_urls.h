/*
 * config_urls: the URLs of a [source] — its sitemap, its listing template
 * and its urls file — checked and read with the harvest folder's URL filter
 * and URL list loader (discover_url, discover_list), so that the
 * configuration refuses exactly what the fetch engine would. Internal to
 * the configuration modules; config_url_check() is declared in config.h.
 */
#ifndef PROVD_CONFIG_URLS_H
#define PROVD_CONFIG_URLS_H

#include "config.h"

#include <stdbool.h>
#include <stddef.h>

/* Check a listing template: "{page}" exactly once, and the URL of its
 * first page (first_page in place of "{page}") passes the URL filter.
 * Returns 0, or -EINVAL with the reason in err (errlen bytes). */
int config_urls_template_check(const char *tmpl, unsigned long first_page, bool allow_file,
                               char *err, size_t errlen);

/* Read the URL list on fd (open, checked by the caller, and left open) of
 * src into src->urls: normalised URLs in file order without duplicates;
 * with src->allow_file, file names become file:// URLs, relative ones
 * taken from dir (absolute). display names the file in messages. Every
 * refused line (up to DISCOVER_MAX_ERRORS of them, no fewer than
 * CONFIG_MAX_ERRORS) adds one "display:LINE: reason" to errors, and a list
 * that cannot be read or holds more than CONFIG_MAX_URLS URLs one
 * "display: reason" (src->urls is then left empty). */
void config_urls_read(struct config_source *src, int fd, const char *display, const char *dir,
                      struct strlist *errors);

#endif
