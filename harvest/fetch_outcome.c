/*
 * fetch_outcome: the rules that name a finished transfer. Maps libcurl's
 * result codes (and, where one code covers several causes, its message) and
 * the HTTP status to the categories of common/errors.h, and reads the
 * response headers the engine reports: the media type and charset of
 * Content-Type, and Retry-After in its two forms. Owns nothing; never
 * touches a libcurl handle or the network.
 */
#include "fetch_outcome.h"

#include "xmalloc.h"

#include <curl/curl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

bool fetch_outcome_media_type(const char *ct, char *out, size_t outlen)
{
    size_t n = 0;

    if (ct == NULL)
        return false;
    while (*ct == ' ' || *ct == '\t')
        ct++;
    while (ct[n] && ct[n] != ';' && ct[n] != ' ' && ct[n] != '\t')
        n++;
    if (n == 0 || n >= outlen)
        return false;
    for (size_t i = 0; i < n; i++)
        out[i] = (char)((ct[i] >= 'A' && ct[i] <= 'Z') ? ct[i] - 'A' + 'a' : ct[i]);
    out[n] = '\0';
    return true;
}

char *fetch_outcome_charset(const char *ct)
{
    const char *p = ct;

    while (p && (p = strchr(p, ';')) != NULL) {
        p++;
        while (*p == ' ' || *p == '\t')
            p++;
        if (strncasecmp(p, "charset=", 8) != 0)
            continue;
        p += 8;
        size_t n;
        if (*p == '"') {
            p++;
            n = strcspn(p, "\"");
        } else {
            n = strcspn(p, "; \t");
        }
        return n > 0 && n < 64 ? xstrndup(p, n) : NULL;
    }
    return NULL;
}

static void fetch_outcome_type_msg(const char *ct, char *msg, size_t msglen)
{
    if (ct)
        snprintf(msg, msglen, "content type '%.100s' is not accepted", ct);
    else
        snprintf(msg, msglen, "the response has no content type");
}

enum prov_category fetch_outcome_classify(const struct fetch_outcome *o, char *msg, size_t msglen)
{
    CURLcode rc = (CURLcode)o->curl_code;
    long status = o->status;
    const char *eb = o->curl_error && o->curl_error[0] ? o->curl_error : curl_easy_strerror(rc);

    msg[0] = '\0';
    switch (rc) {
    case CURLE_OK:
        if (o->is_file || status == 304)
            return PROV_OK;
        if (status >= 200 && status < 300) {
            if (o->type_accepted)
                return PROV_OK;
            fetch_outcome_type_msg(o->content_type, msg, msglen);
            return PROV_CONTENT_TYPE;
        }
        snprintf(msg, msglen, "HTTP status %ld", status);
        if (status == 429)
            return PROV_RATE_LIMITED;
        if (status >= 400 && status < 500)
            return PROV_HTTP_4XX;
        if (status >= 500 && status < 600)
            return PROV_HTTP_5XX;
        if (status >= 300 && status < 400)
            snprintf(msg, msglen, "HTTP status %ld that could not be followed", status);
        return PROV_HTTP_PROTOCOL;
    case CURLE_WRITE_ERROR:
        if (o->too_large) {
            snprintf(msg, msglen, "body larger than %zu bytes", o->max_body);
            return PROV_TOO_LARGE;
        }
        if (o->type_rejected) {
            fetch_outcome_type_msg(o->content_type, msg, msglen);
            return PROV_CONTENT_TYPE;
        }
        break;
    case CURLE_FILESIZE_EXCEEDED:
        snprintf(msg, msglen, "body larger than %zu bytes (Content-Length)", o->max_body);
        return PROV_TOO_LARGE;
    case CURLE_COULDNT_CONNECT:
        if (o->denied) {
            snprintf(msg, msglen, "connection to %s denied by the address policy", o->denied);
            return PROV_PROTOCOL_DENIED;
        }
        snprintf(msg, msglen, "%s", eb);
        return PROV_CONNECT;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
        snprintf(msg, msglen, "%s", eb);
        return PROV_DNS;
    case CURLE_OPERATION_TIMEDOUT:
        /* one code for three limits; libcurl's message tells them apart */
        snprintf(msg, msglen, "%s", eb);
        if (strstr(eb, "Resolving timed out"))
            return PROV_DNS;
        if (strstr(eb, "too slow"))
            return PROV_TOO_SLOW;
        return PROV_TIMEOUT;
    case CURLE_TOO_MANY_REDIRECTS:
        snprintf(msg, msglen, "more than %ld redirects", o->max_redirects);
        return PROV_TOO_MANY_REDIRECTS;
    case CURLE_UNSUPPORTED_PROTOCOL:
        snprintf(msg, msglen, "%s", eb);
        /* libcurl reports a reply without a status line as HTTP/0.9 */
        if (strstr(eb, "HTTP/0.9"))
            return PROV_HTTP_PROTOCOL;
        return PROV_PROTOCOL_DENIED;
    case CURLE_PARTIAL_FILE:
        snprintf(msg, msglen, "%s", eb);
        return PROV_PARTIAL_BODY;
    case CURLE_RECV_ERROR:
        snprintf(msg, msglen, "%s", eb);
        if (strcasestr(eb, "too large"))
            return PROV_TOO_LARGE;
        return status > 0 ? PROV_PARTIAL_BODY : PROV_CONNECT;
    case CURLE_SEND_ERROR:
        snprintf(msg, msglen, "%s", eb);
        return PROV_CONNECT;
    case CURLE_GOT_NOTHING:
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_BAD_CONTENT_ENCODING:
    case CURLE_URL_MALFORMAT:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_HTTP3:
    case CURLE_HTTP_RETURNED_ERROR:
        snprintf(msg, msglen, "%s", eb);
        return PROV_HTTP_PROTOCOL;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_SHUTDOWN_FAILED:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_USE_SSL_FAILED:
        snprintf(msg, msglen, "%s", eb);
        return PROV_TLS;
    case CURLE_FILE_COULDNT_READ_FILE:
        snprintf(msg, msglen, "%s", eb);
        return PROV_HTTP_4XX;
    default:
        break;
    }
    snprintf(msg, msglen, "%s", eb);
    return PROV_INTERNAL;
}

long fetch_outcome_retry_after(const char *value, time_t now, long cap)
{
    const char *p = value;

    if (p == NULL)
        return -1;
    while (*p == ' ' || *p == '\t')
        p++;
    if (*p >= '0' && *p <= '9') {
        long v = 0;
        while (*p >= '0' && *p <= '9') {
            v = v > (LONG_MAX - 9) / 10 ? LONG_MAX : v * 10 + (*p - '0');
            p++;
        }
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p != '\0')
            return -1;
        return v > cap ? cap : v;
    }
    if (*p == '\0')
        return -1;
    time_t when = curl_getdate(p, NULL);
    if (when == (time_t)-1)
        return -1;
    if (when <= now)
        return 0;
    return (long)(when - now) > cap ? cap : (long)(when - now);
}
