/*
 * errors: the one error convention of provd.
 *
 * Functions return int: 0 on success, a negative errno value on failure
 * (-EINVAL bad input, -ENOMEM never: allocation failure is fatal, -EIO,
 * -ENOSPC, -EBUSY, ...). Details (HTTP status, libxml2 or SQLite message)
 * stay on the object and are read with its _errmsg() accessor.
 *
 * What went wrong with one URL, page or write is also named by a stable
 * category word, the same in logs, the API and the catalog.
 */
#ifndef PROVD_ERRORS_H
#define PROVD_ERRORS_H

enum prov_category {
    PROV_OK = 0,
    PROV_CONNECT,
    PROV_TIMEOUT,
    PROV_TOO_SLOW,
    PROV_TOO_LARGE,
    PROV_TOO_MANY_REDIRECTS,
    PROV_PROTOCOL_DENIED,
    PROV_TLS,
    PROV_DNS,
    PROV_HTTP_PROTOCOL,
    PROV_HTTP_4XX,
    PROV_HTTP_5XX,
    PROV_RATE_LIMITED,
    PROV_PARTIAL_BODY,
    PROV_CONTENT_TYPE,
    PROV_PARSE_PARTIAL,
    PROV_PARSE_TIMEOUT,
    PROV_EXTRACT_EMPTY,
    PROV_EXTRACT_AMBIGUOUS,
    PROV_BLOCKED,
    PROV_DB_BUSY,
    PROV_STORAGE_FULL,
    PROV_STORAGE_IO,
    PROV_DB_CORRUPT,
    PROV_CONFIG,
    PROV_ROBOTS_DISALLOWED,
    PROV_INTERNAL,
    PROV_CATEGORY_MAX
};

/* The stable word for a category ("OK", "CONNECT", ...); static storage. */
const char *prov_category_name(enum prov_category c);

/* The category named by word, or -1 when none is. */
int prov_category_from_name(const char *word);

#endif
