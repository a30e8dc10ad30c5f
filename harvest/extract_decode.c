/*
 * extract_decode: picks a page's encoding and hands libxml2 nothing but
 * valid UTF-8. Precedence: the HTTP header's charset, then a byte-order
 * mark, then a <meta> charset in the first 1024 bytes, then UTF-8. A label
 * that names no encoding this system knows is skipped, so the next rule
 * decides. Decoding is done here (glibc iconv for anything but UTF-8)
 * rather than in libxml2 because libxml2 2.9.14 silently drops the rest
 * of a page at the first byte its converter rejects, reads undeclared
 * pages as Latin-1, and cuts an attribute at a NUL byte; here every
 * invalid sequence becomes U+FFFD and every NUL a space. Owns only the
 * rewritten copy it returns; touches no parser state.
 */
#include "extract_decode.h"

#include "strbuf.h"
#include "text.h"

#include <ctype.h>
#include <errno.h>
#include <iconv.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define EXTRACT_META_SCAN 1024

enum extract_enc {
    EXTRACT_ENC_UNKNOWN,
    EXTRACT_ENC_UTF8,
    EXTRACT_ENC_UTF16, /* byte order from the BOM, little-endian without one */
    EXTRACT_ENC_UTF16LE,
    EXTRACT_ENC_UTF16BE,
    EXTRACT_ENC_ICONV, /* anything else iconv knows, by name */
};

/* Labels the HTML standard reads as windows-1252, which iconv would read
 * more narrowly. */
static const char *const extract_decode_cp1252[] = {
    "iso-8859-1", "iso8859-1", "iso_8859-1", "latin1",      "l1",       "us-ascii", "ascii",
    "cp819",      "ibm819",    "iso-ir-100", "csisolatin1", "x-cp1252", "cp1252",   "windows-1252",
};

static const char *const extract_decode_utf8[] = {"utf-8", "utf8", "unicode-1-1-utf-8",
                                                  "x-unicode20utf8"};

static const char *const extract_decode_utf16[] = {"utf-16",  "utf16",     "ucs-2",
                                                   "unicode", "csunicode", "iso-10646-ucs-2"};

static bool extract_decode_in(const char *label, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(label, list[i]) == 0)
            return true;
    return false;
}

#define IN_LIST(label, list) extract_decode_in(label, list, sizeof(list) / sizeof(list[0]))

static bool extract_decode_label_char(char c)
{
    return isalnum((unsigned char)c) || c == '-' || c == '_' || c == '.' || c == ':';
}

/* Classify the n bytes of label; for EXTRACT_ENC_ICONV the iconv name is
 * written to name. Labels with characters outside [A-Za-z0-9._:-] are
 * unknown, so nothing like "//IGNORE" ever reaches iconv. */
static enum extract_enc extract_decode_label(const char *label, size_t n, char *name, size_t len)
{
    char buf[41];
    size_t k = 0;
    iconv_t cd;

    while (n > 0 && (isspace((unsigned char)*label) || *label == '"' || *label == '\'')) {
        label++;
        n--;
    }
    while (n > 0 && (isspace((unsigned char)label[n - 1]) || label[n - 1] == '"' ||
                     label[n - 1] == '\'' || label[n - 1] == ';'))
        n--;
    if (n == 0 || n >= sizeof(buf))
        return EXTRACT_ENC_UNKNOWN;
    for (k = 0; k < n; k++) {
        unsigned char c = (unsigned char)label[k];

        if (!extract_decode_label_char((char)c))
            return EXTRACT_ENC_UNKNOWN;
        buf[k] = (char)tolower(c);
    }
    buf[k] = '\0';
    if (IN_LIST(buf, extract_decode_utf8))
        return EXTRACT_ENC_UTF8;
    if (IN_LIST(buf, extract_decode_utf16))
        return EXTRACT_ENC_UTF16;
    if (strcmp(buf, "utf-16le") == 0 || strcmp(buf, "ucs-2le") == 0)
        return EXTRACT_ENC_UTF16LE;
    if (strcmp(buf, "utf-16be") == 0 || strcmp(buf, "ucs-2be") == 0)
        return EXTRACT_ENC_UTF16BE;
    if (IN_LIST(buf, extract_decode_cp1252)) {
        snprintf(name, len, "windows-1252");
        return EXTRACT_ENC_ICONV;
    }
    cd = iconv_open("UTF-8", buf);
    if (cd == (iconv_t)-1)
        return EXTRACT_ENC_UNKNOWN;
    iconv_close(cd);
    snprintf(name, len, "%s", buf);
    return EXTRACT_ENC_ICONV;
}

/* The charset label of the first <meta> that declares one in the first
 * EXTRACT_META_SCAN bytes (charset="x" or content="...; charset=x"). */
static bool extract_decode_meta(const char *s, size_t n, const char **label, size_t *label_len)
{
    size_t lim = n < EXTRACT_META_SCAN ? n : EXTRACT_META_SCAN;

    for (size_t i = 0; i + 6 <= lim; i++) {
        size_t end, k;

        if (s[i] != '<' || strncasecmp(s + i + 1, "meta", 4) != 0 ||
            !(isspace((unsigned char)s[i + 5]) || s[i + 5] == '/'))
            continue;
        for (end = i + 5; end < n && end < i + EXTRACT_META_SCAN && s[end] != '>'; end++)
            ;
        for (k = i + 5; k + 7 <= end; k++) {
            size_t v;

            if (strncasecmp(s + k, "charset", 7) != 0)
                continue;
            k += 7;
            while (k < end && isspace((unsigned char)s[k]))
                k++;
            if (k >= end || s[k] != '=')
                continue;
            k++;
            while (k < end && (isspace((unsigned char)s[k]) || s[k] == '"' || s[k] == '\''))
                k++;
            for (v = k; v < end && extract_decode_label_char(s[v]); v++)
                ;
            if (v > k) {
                *label = s + k;
                *label_len = v - k;
                return true;
            }
        }
        i = end;
    }
    return false;
}

/* True when the n bytes at s are valid UTF-8 without NUL; ASCII runs are
 * checked eight bytes at a time, since almost every page is all ASCII
 * markup with a few letters outside it. */
static bool extract_decode_clean(const char *s, size_t n)
{
    const uint64_t high = 0x8080808080808080ull, ones = 0x0101010101010101ull;
    size_t i = 0;

    while (i < n) {
        while (i + 8 <= n) {
            uint64_t v;

            memcpy(&v, s + i, 8);
            if ((v & high) | ((v - ones) & ~v & high))
                break;
            i += 8;
        }
        if (i >= n)
            break;
        if (s[i] == '\0')
            return false;
        if ((unsigned char)s[i] < 0x80) {
            i++;
            continue;
        }
        {
            const char *p = s + i;

            if (text_utf8_next(&p, s + n) < 0)
                return false;
            i = (size_t)(p - s);
        }
    }
    return true;
}

/* Append s to b with invalid sequences replaced by U+FFFD and NULs by
 * spaces, counting both. */
static void extract_decode_repair(struct strbuf *b, const char *s, size_t n,
                                  struct extract_input *in)
{
    const char *p = s, *end = s + n, *run = s;

    while (p < end) {
        const char *at = p;
        long cp;

        if ((unsigned char)*p < 0x80 && *p != '\0') {
            p++;
            continue;
        }
        cp = text_utf8_next(&p, end);
        if (cp > 0)
            continue;
        strbuf_add(b, run, (size_t)(at - run));
        if (cp == 0) {
            strbuf_addc(b, ' ');
            in->nuls++;
        } else {
            strbuf_adds(b, "\xef\xbf\xbd");
            in->replaced++;
        }
        run = p;
    }
    strbuf_add(b, run, (size_t)(end - run));
}

/* Convert n bytes from encoding from to UTF-8 into b. unit is the width
 * of one code unit, skipped past a sequence iconv rejects. */
static int extract_decode_iconv(struct strbuf *b, const char *from, size_t unit, const char *s,
                                size_t n, struct extract_input *in)
{
    char chunk[16384];
    char *ip = (char *)s;
    size_t il = n;
    iconv_t cd = iconv_open("UTF-8", from);
    int rc = 0;

    if (cd == (iconv_t)-1)
        return -EINVAL;
    for (;;) {
        char *op = chunk;
        size_t ol = sizeof(chunk);
        size_t r = iconv(cd, il > 0 ? &ip : NULL, il > 0 ? &il : NULL, &op, &ol);
        int e = errno;

        strbuf_add(b, chunk, (size_t)(op - chunk));
        if (b->len > EXTRACT_DECODED_MAX) {
            rc = -EFBIG;
            break;
        }
        if (r != (size_t)-1) {
            if (il == 0 && ip != NULL) {
                ip = NULL; /* one more call with NULL input flushes shift state */
                continue;
            }
            break;
        }
        if (e == E2BIG)
            continue;
        strbuf_adds(b, "\xef\xbf\xbd");
        in->replaced++;
        if (e == EILSEQ && il > 0) {
            size_t skip = il < unit ? il : unit;

            ip += skip;
            il -= skip;
            continue;
        }
        break; /* EINVAL: a sequence cut off by the end of the page */
    }
    iconv_close(cd);
    return rc;
}

int extract_decode(const char *body, size_t len, const char *charset, struct extract_input *in)
{
    enum extract_enc enc = EXTRACT_ENC_UNKNOWN;
    struct strbuf conv = STRBUF_INIT, out = STRBUF_INIT;
    const char *label;
    size_t label_len, bom = 0;
    int rc = 0;

    memset(in, 0, sizeof(*in));
    if (charset != NULL) {
        enc = extract_decode_label(charset, strlen(charset), in->encoding, sizeof(in->encoding));
        in->rule = "header";
    }
    if (enc == EXTRACT_ENC_UNKNOWN || enc == EXTRACT_ENC_UTF16) {
        enum extract_enc by_bom = EXTRACT_ENC_UNKNOWN;

        if (len >= 3 && memcmp(body, "\xef\xbb\xbf", 3) == 0)
            by_bom = EXTRACT_ENC_UTF8;
        else if (len >= 2 && memcmp(body, "\xff\xfe", 2) == 0)
            by_bom = EXTRACT_ENC_UTF16LE;
        else if (len >= 2 && memcmp(body, "\xfe\xff", 2) == 0)
            by_bom = EXTRACT_ENC_UTF16BE;
        if (enc == EXTRACT_ENC_UTF16)
            enc = by_bom == EXTRACT_ENC_UTF16BE ? EXTRACT_ENC_UTF16BE : EXTRACT_ENC_UTF16LE;
        else if (by_bom != EXTRACT_ENC_UNKNOWN) {
            enc = by_bom;
            in->rule = "bom";
        }
    }
    if (enc == EXTRACT_ENC_UNKNOWN && extract_decode_meta(body, len, &label, &label_len)) {
        enc = extract_decode_label(label, label_len, in->encoding, sizeof(in->encoding));
        /* A page readable enough to find its <meta> is not UTF-16. */
        if (enc == EXTRACT_ENC_UTF16 || enc == EXTRACT_ENC_UTF16LE || enc == EXTRACT_ENC_UTF16BE)
            enc = EXTRACT_ENC_UTF8;
        in->rule = "meta";
    }
    if (enc == EXTRACT_ENC_UNKNOWN) {
        enc = EXTRACT_ENC_UTF8;
        in->rule = "default";
    }
    if (enc == EXTRACT_ENC_UTF8 && len >= 3 && memcmp(body, "\xef\xbb\xbf", 3) == 0)
        bom = 3;
    else if (enc == EXTRACT_ENC_UTF16LE && len >= 2 && memcmp(body, "\xff\xfe", 2) == 0)
        bom = 2;
    else if (enc == EXTRACT_ENC_UTF16BE && len >= 2 && memcmp(body, "\xfe\xff", 2) == 0)
        bom = 2;
    body += bom;
    len -= bom;

    switch (enc) {
    case EXTRACT_ENC_UTF16LE:
        snprintf(in->encoding, sizeof(in->encoding), "UTF-16LE");
        rc = extract_decode_iconv(&conv, "UTF-16LE", 2, body, len, in);
        break;
    case EXTRACT_ENC_UTF16BE:
        snprintf(in->encoding, sizeof(in->encoding), "UTF-16BE");
        rc = extract_decode_iconv(&conv, "UTF-16BE", 2, body, len, in);
        break;
    case EXTRACT_ENC_ICONV:
        rc = extract_decode_iconv(&conv, in->encoding, 1, body, len, in);
        break;
    default:
        snprintf(in->encoding, sizeof(in->encoding), "UTF-8");
        break;
    }
    if (rc == -EINVAL) {
        /* iconv knew the label a moment ago but cannot open it now */
        strbuf_release(&conv);
        enc = EXTRACT_ENC_UTF8;
        snprintf(in->encoding, sizeof(in->encoding), "UTF-8");
        rc = 0;
    }
    if (rc < 0)
        goto out;
    if (conv.s != NULL) {
        body = conv.s;
        len = conv.len;
    } else if (enc != EXTRACT_ENC_UTF8) {
        body = "";
        len = 0;
    }
    if (extract_decode_clean(body, len)) {
        if (conv.s != NULL) {
            in->owned = strbuf_steal(&conv);
            in->data = in->owned;
        } else {
            in->data = body;
        }
        in->len = len;
        goto out;
    }
    extract_decode_repair(&out, body, len, in);
    if (out.len > EXTRACT_DECODED_MAX) {
        rc = -EFBIG;
        goto out;
    }
    in->len = out.len;
    in->owned = strbuf_steal(&out);
    in->data = in->owned;
out:
    strbuf_release(&conv);
    strbuf_release(&out);
    return rc;
}

void extract_decode_release(struct extract_input *in)
{
    free(in->owned);
    memset(in, 0, sizeof(*in));
}
