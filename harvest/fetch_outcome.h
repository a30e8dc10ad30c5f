/*
 * fetch_outcome: how a finished transfer is named (internal to harvest/;
 * fetch.c and tests include it). Pure functions over what the fetch engine
 * saw: libcurl's result code and message, the HTTP status and headers, and
 * the engine's own flags. No I/O, no libcurl handles, no allocation except
 * where a result is returned.
 */
#ifndef PROVD_FETCH_OUTCOME_H
#define PROVD_FETCH_OUTCOME_H

#include "errors.h"

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

/* What the engine knows when a transfer ends. */
struct fetch_outcome {
    int curl_code;            /* libcurl's CURLcode */
    const char *curl_error;   /* the CURLOPT_ERRORBUFFER text; "" or NULL when
                                 libcurl left none */
    long status;              /* final HTTP status, 0 when none */
    bool is_file;             /* a file: URL */
    const char *content_type; /* the Content-Type value as sent, or NULL */
    bool type_accepted;       /* its media type is one the source accepts */
    bool too_large;           /* the write callback hit the body cap */
    bool type_rejected;       /* the write callback refused the media type */
    const char *denied;       /* "ADDR:PORT" the address policy refused, when
                                 it allowed no socket at all; else NULL */
    size_t max_body;          /* the cap, for messages */
    long max_redirects;       /* the redirect limit, for messages */
};

/* The category of o (see the table in fetch.h), with a one-line reason in
 * msg (at most msglen bytes; "" for PROV_OK). */
enum prov_category fetch_outcome_classify(const struct fetch_outcome *o, char *msg, size_t msglen);

/* Copy the media type of a Content-Type value (lower case, parameters and
 * white space dropped) into out; false when ct is NULL, empty, or the type
 * does not fit in outlen bytes. */
bool fetch_outcome_media_type(const char *ct, char *out, size_t outlen);

/* A new copy of the charset parameter of a Content-Type value, quotes
 * removed; NULL when there is none (or it is longer than 63 bytes). The
 * caller frees it. */
char *fetch_outcome_charset(const char *ct);

/* Read a Retry-After value: delta seconds ("120") or an HTTP date in any of
 * the three HTTP forms (seconds from now; a date in the past gives 0). The
 * result is cut to cap. Returns -1 when value is NULL or neither form. */
long fetch_outcome_retry_after(const char *value, time_t now, long cap);

#endif
