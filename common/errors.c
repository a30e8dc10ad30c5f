/*
 * errors: the names of the error categories. Static data only.
 */
#include "errors.h"

#include <string.h>

static const char *const prov_category_names[PROV_CATEGORY_MAX] = {
    [PROV_OK] = "OK",
    [PROV_CONNECT] = "CONNECT",
    [PROV_TIMEOUT] = "TIMEOUT",
    [PROV_TOO_SLOW] = "TOO_SLOW",
    [PROV_TOO_LARGE] = "TOO_LARGE",
    [PROV_TOO_MANY_REDIRECTS] = "TOO_MANY_REDIRECTS",
    [PROV_PROTOCOL_DENIED] = "PROTOCOL_DENIED",
    [PROV_TLS] = "TLS",
    [PROV_DNS] = "DNS",
    [PROV_HTTP_PROTOCOL] = "HTTP_PROTOCOL",
    [PROV_HTTP_4XX] = "HTTP_4XX",
    [PROV_HTTP_5XX] = "HTTP_5XX",
    [PROV_RATE_LIMITED] = "RATE_LIMITED",
    [PROV_PARTIAL_BODY] = "PARTIAL_BODY",
    [PROV_CONTENT_TYPE] = "CONTENT_TYPE",
    [PROV_PARSE_PARTIAL] = "PARSE_PARTIAL",
    [PROV_PARSE_TIMEOUT] = "PARSE_TIMEOUT",
    [PROV_EXTRACT_EMPTY] = "EXTRACT_EMPTY",
    [PROV_EXTRACT_AMBIGUOUS] = "EXTRACT_AMBIGUOUS",
    [PROV_BLOCKED] = "BLOCKED",
    [PROV_DB_BUSY] = "DB_BUSY",
    [PROV_STORAGE_FULL] = "STORAGE_FULL",
    [PROV_STORAGE_IO] = "STORAGE_IO",
    [PROV_DB_CORRUPT] = "DB_CORRUPT",
    [PROV_CONFIG] = "CONFIG",
    [PROV_ROBOTS_DISALLOWED] = "ROBOTS_DISALLOWED",
    [PROV_INTERNAL] = "INTERNAL",
};

const char *prov_category_name(enum prov_category c)
{
    if ((int)c < 0 || c >= PROV_CATEGORY_MAX)
        return "INTERNAL";
    return prov_category_names[c];
}

int prov_category_from_name(const char *word)
{
    for (int i = 0; i < PROV_CATEGORY_MAX; i++)
        if (strcmp(prov_category_names[i], word) == 0)
            return i;
    return -1;
}
