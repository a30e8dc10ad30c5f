/*
 * extract_text: turns parsed nodes into the clean strings a record holds
 * (valid UTF-8, white space squashed), splits funder sentences into
 * names, reads displayed dates, and recognises bot-challenge pages by
 * their phrases. Reads the tree, never changes it; owns only the strings
 * it returns.
 */
#include "extract_text.h"

#include "harvest.h"
#include "strbuf.h"
#include "text.h"
#include "xmalloc.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Only this much of a page is searched for challenge phrases: challenge
 * and login pages are small, and the search runs only on pages that
 * already failed to give a record. */
#define EXTRACT_MARKER_SCAN (512u * 1024)

static const char *const extract_text_markers[] = {
    "just a moment...",
    "checking your browser",
    "cf-challenge",
    "cf-chl-",
    "challenge-platform",
    "cf-browser-verification",
    "attention required! | cloudflare",
    "access denied",
    "captcha",
    "verify you are human",
    "ddos protection by",
    "please enable javascript and cookies",
    "_incapsula_resource",
    "are you a robot",
    "unusual traffic from your",
};

static bool extract_text_eq(const xmlChar *a, const char *b)
{
    return strcmp((const char *)a, b) == 0;
}

/* Elements that do not break a line, so no space is put at their edges. */
static bool extract_text_inline(const xmlChar *n)
{
    switch (n[0]) {
    case 'a':
        return n[1] == '\0' || extract_text_eq(n, "abbr") || extract_text_eq(n, "acronym");
    case 'b':
        return n[1] == '\0' || extract_text_eq(n, "bdi") || extract_text_eq(n, "bdo") ||
               extract_text_eq(n, "big");
    case 'c':
        return extract_text_eq(n, "cite") || extract_text_eq(n, "code");
    case 'd':
        return extract_text_eq(n, "data") || extract_text_eq(n, "dfn");
    case 'e':
        return extract_text_eq(n, "em");
    case 'f':
        return extract_text_eq(n, "font");
    case 'i':
        return n[1] == '\0';
    case 'k':
        return extract_text_eq(n, "kbd");
    case 'l':
        return extract_text_eq(n, "label");
    case 'm':
        return extract_text_eq(n, "mark");
    case 'n':
        return extract_text_eq(n, "nobr");
    case 'q':
        return n[1] == '\0';
    case 's':
        return n[1] == '\0' || extract_text_eq(n, "span") || extract_text_eq(n, "strong") ||
               extract_text_eq(n, "small") || extract_text_eq(n, "sub") ||
               extract_text_eq(n, "sup") || extract_text_eq(n, "samp") ||
               extract_text_eq(n, "strike");
    case 't':
        return extract_text_eq(n, "time") || extract_text_eq(n, "tt");
    case 'u':
        return n[1] == '\0';
    case 'v':
        return extract_text_eq(n, "var");
    case 'w':
        return extract_text_eq(n, "wbr");
    default:
        return false;
    }
}

/* Elements whose contents are never text of the page. */
static bool extract_text_hidden(const xmlChar *n)
{
    return extract_text_eq(n, "script") || extract_text_eq(n, "style") ||
           extract_text_eq(n, "template") || extract_text_eq(n, "noscript");
}

/* The white space of text_squash_ws(), beyond ASCII. */
static bool extract_text_wide_space(long cp)
{
    return cp == 0xa0 || (cp >= 0x2000 && cp <= 0x200b) || cp == 0x202f || cp == 0x205f ||
           cp == 0x3000 || cp == 0xfeff;
}

static bool extract_text_ascii_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* Text being gathered, squashed as it comes: the result of
 * text_squash_ws(), built in one pass that copies runs of ordinary bytes
 * whole (a page's document text is tens of kilobytes, and this is most
 * of extraction's own cost). Invalid UTF-8 or a NUL sets bad, and the
 * caller starts again on the slow path that repairs it. */
struct extract_text_squash {
    struct strbuf b;
    bool pending; /* white space seen since the last character kept */
    bool raw;     /* keep bytes as they are (the slow path's first step) */
    bool bad;
};

static void extract_text_squash_sep(struct extract_text_squash *q)
{
    if (q->raw)
        strbuf_addc(&q->b, ' ');
    else
        q->pending = q->b.len > 0;
}

static void extract_text_squash_add(struct extract_text_squash *q, const char *s, size_t n)
{
    size_t i = 0;

    if (q->raw) {
        strbuf_add(&q->b, s, n);
        return;
    }
    while (i < n && !q->bad) {
        unsigned char c = (unsigned char)s[i];
        size_t j;

        if (c < 0x80) {
            if (extract_text_ascii_space(c)) {
                q->pending = q->b.len > 0;
                i++;
                continue;
            }
            if (c == 0) {
                q->bad = true;
                return;
            }
            /* a run of visible ASCII, single spaces between words included */
            for (j = i + 1; j < n; j++) {
                unsigned char d = (unsigned char)s[j];

                if (d == ' ' && j + 1 < n && (unsigned char)s[j + 1] > ' ' &&
                    (unsigned char)s[j + 1] < 0x80)
                    continue;
                if (d <= ' ' || d >= 0x80)
                    break;
            }
        } else {
            const char *p = s + i;
            long cp = text_utf8_next(&p, s + n);

            if (cp < 0) {
                q->bad = true;
                return;
            }
            j = (size_t)(p - s);
            if (extract_text_wide_space(cp)) {
                q->pending = q->b.len > 0;
                i = j;
                continue;
            }
        }
        if (q->pending)
            strbuf_addc(&q->b, ' ');
        q->pending = false;
        strbuf_add(&q->b, s + i, j - i);
        i = j;
    }
}

static void extract_text_squash_adds(struct extract_text_squash *q, const xmlChar *s)
{
    if (s != NULL)
        extract_text_squash_add(q, (const char *)s, strlen((const char *)s));
}

/* The squashed text, or NULL when it is empty; q is released. */
static char *extract_text_squash_finish(struct extract_text_squash *q)
{
    char *out;

    if (q->raw || q->bad) {
        char *fixed = text_utf8_sanitize(strbuf_str(&q->b), q->b.len);

        out = text_squash_ws(fixed);
        free(fixed);
        strbuf_release(&q->b);
    } else {
        out = strbuf_steal(&q->b);
    }
    if (out[0] == '\0') {
        free(out);
        return NULL;
    }
    return out;
}

static void extract_text_walk(struct extract_text_squash *q, xmlNodePtr top, xmlNodePtr skip)
{
    xmlNodePtr cur;

    switch (top->type) {
    case XML_NAMESPACE_DECL:
        extract_text_squash_adds(q, ((xmlNsPtr)top)->href);
        return;
    case XML_TEXT_NODE:
    case XML_CDATA_SECTION_NODE:
    case XML_COMMENT_NODE:
    case XML_PI_NODE:
        extract_text_squash_adds(q, top->content);
        return;
    case XML_ATTRIBUTE_NODE:
        for (cur = top->children; cur != NULL; cur = cur->next)
            if (cur->type == XML_TEXT_NODE)
                extract_text_squash_adds(q, cur->content);
        return;
    case XML_ELEMENT_NODE:
    case XML_DOCUMENT_NODE:
    case XML_HTML_DOCUMENT_NODE:
        break;
    default:
        return;
    }
    if (top == skip || (top->type == XML_ELEMENT_NODE && extract_text_hidden(top->name)))
        return;
    cur = top->children;
    while (cur != NULL && !q->bad) {
        bool descend = false;

        if (cur->type == XML_TEXT_NODE || cur->type == XML_CDATA_SECTION_NODE) {
            extract_text_squash_adds(q, cur->content);
        } else if (cur->type == XML_ELEMENT_NODE && cur != skip &&
                   !extract_text_hidden(cur->name)) {
            if (!extract_text_inline(cur->name))
                extract_text_squash_sep(q);
            descend = cur->children != NULL;
        }
        if (descend) {
            cur = cur->children;
            continue;
        }
        while (cur->next == NULL) {
            cur = cur->parent;
            if (cur == NULL || cur == top)
                return;
            if (cur->type == XML_ELEMENT_NODE && !extract_text_inline(cur->name))
                extract_text_squash_sep(q);
        }
        cur = cur->next;
    }
}

char *extract_text_clean(const char *s, size_t n)
{
    struct extract_text_squash q = {STRBUF_INIT, false, false, false};

    extract_text_squash_add(&q, s, n);
    if (q.bad) {
        strbuf_reset(&q.b);
        q.raw = true;
        extract_text_squash_add(&q, s, n);
    }
    return extract_text_squash_finish(&q);
}

char *extract_text_of(xmlNodePtr node, xmlNodePtr skip)
{
    struct extract_text_squash q = {STRBUF_INIT, false, false, false};

    if (node == NULL)
        return NULL;
    extract_text_walk(&q, node, skip);
    if (q.bad) {
        strbuf_reset(&q.b);
        q.raw = true;
        q.bad = false;
        extract_text_walk(&q, node, skip);
    }
    return extract_text_squash_finish(&q);
}

const char *extract_text_find(const char *hay, const char *needle)
{
    size_t n = strlen(needle);

    if (n == 0)
        return hay;
    for (; *hay != '\0'; hay++)
        if (strncasecmp(hay, needle, n) == 0)
            return hay;
    return NULL;
}

/* True when the text just before s[at] ends with an initial: a single
 * capital letter and a full stop ("D."). */
static bool extract_text_after_initial(const char *s, size_t at)
{
    return at >= 2 && s[at - 1] == '.' && isupper((unsigned char)s[at - 2]) &&
           (at == 2 || s[at - 3] == ' ');
}

static void extract_text_add_name(const char *s, size_t n, struct strlist *out)
{
    char *name;

    while (n > 0 && (*s == ' ' || *s == ','))
        s++, n--;
    if (n >= 4 && strncmp(s, "the ", 4) == 0)
        s += 4, n -= 4;
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == ',' || s[n - 1] == ';'))
        n--;
    if (n > 0 && s[n - 1] == '.' && !extract_text_after_initial(s, n))
        n--;
    if (n == 0)
        return;
    name = xstrndup(s, n);
    if (!strlist_contains(out, name))
        strlist_add_steal(out, name);
    else
        free(name);
}

void extract_text_names(const char *s, struct strlist *out)
{
    static const char *const seps[] = {", and ", "; and ", "; ", ", ", " and ", " & "};
    size_t start = 0, i = 0, len = strlen(s);

    while (i < len) {
        size_t k, sep_len = 0;

        for (k = 0; k < sizeof(seps) / sizeof(seps[0]); k++) {
            size_t n = strlen(seps[k]);

            if (strncmp(s + i, seps[k], n) != 0)
                continue;
            if (seps[k][1] == 'a' && extract_text_after_initial(s, i))
                continue; /* "John D. and Catherine T. MacArthur" */
            sep_len = n;
            break;
        }
        if (sep_len == 0) {
            i++;
            continue;
        }
        extract_text_add_name(s + start, i - start, out);
        i += sep_len;
        start = i;
    }
    extract_text_add_name(s + start, len - start, out);
}

const char *extract_text_marker(const char *page, size_t len, const struct strlist *extra)
{
    const char *found = NULL;
    char *low;

    if (len > EXTRACT_MARKER_SCAN)
        len = EXTRACT_MARKER_SCAN;
    low = xmalloc(len + 1);
    for (size_t i = 0; i < len; i++)
        low[i] = (char)tolower((unsigned char)page[i]);
    low[len] = '\0';
    for (size_t i = 0; found == NULL && i < sizeof(extract_text_markers) / sizeof(char *); i++)
        if (memmem(low, len, extract_text_markers[i], strlen(extract_text_markers[i])) != NULL)
            found = extract_text_markers[i];
    for (size_t i = 0; found == NULL && extra != NULL && i < extra->n; i++)
        if (memmem(low, len, extra->v[i], strlen(extra->v[i])) != NULL)
            found = extra->v[i];
    free(low);
    return found;
}

void extract_text_reason(char *reason, size_t len, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (len == 0)
        return;
    va_start(ap, fmt);
    n = vsnprintf(reason, len, fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n >= len) {
        /* vsnprintf cut the text; drop a character it cut in half */
        size_t end = strlen(reason), i = end;
        const char *p;

        while (i > 0 && ((unsigned char)reason[i - 1] & 0xc0) == 0x80)
            i--;
        p = reason + (i > 0 ? i - 1 : 0);
        if (i > 0 && text_utf8_next(&p, reason + end) < 0)
            reason[i - 1] = '\0';
    }
}

/* ---- displayed dates ------------------------------------------------- */

static const char *const extract_text_months[12] = {
    "january", "february", "march",     "april",   "may",      "june",
    "july",    "august",   "september", "october", "november", "december"};

/* 1-12 for a month name or its abbreviation ("Nov", "Nov.", "Sept"). */
static int extract_text_month(const char *t, size_t n)
{
    if (n > 0 && t[n - 1] == '.')
        n--;
    if (n < 3)
        return 0;
    for (int m = 0; m < 12; m++) {
        size_t full = strlen(extract_text_months[m]);

        if ((n == full || n == 3 || (m == 8 && n == 4)) && n <= full &&
            strncasecmp(t, extract_text_months[m], n) == 0)
            return m + 1;
    }
    return 0;
}

/* The value of n digits at t, or -1 when t holds anything else. */
static int extract_text_digits(const char *t, size_t n, size_t min, size_t max)
{
    int v = 0;

    if (n < min || n > max)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)t[i]))
            return -1;
        v = v * 10 + (t[i] - '0');
    }
    return v;
}

static int extract_text_days_in(int y, int m)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return 29;
    return days[m - 1];
}

static char *extract_text_iso(int y, int m, int d)
{
    if (y < 1 || m < 0 || m > 12 || (m == 0 && d != 0))
        return NULL;
    if (d != 0 && (d < 1 || d > extract_text_days_in(y, m)))
        return NULL;
    if (d != 0)
        return xasprintf("%04d-%02d-%02d", y, m, d);
    if (m != 0)
        return xasprintf("%04d-%02d", y, m);
    return xasprintf("%04d", y);
}

char *extract_date_iso(const char *displayed)
{
    const char *tok[4];
    size_t len[4], nt = 0;
    const char *s = displayed;
    int y, m, d;

    if (s == NULL)
        return NULL;
    while (*s != '\0') {
        while (*s == ' ' || *s == ',' || *s == '\t' || *s == '\n')
            s++;
        if (*s == '\0')
            break;
        if (nt == 4)
            return NULL;
        tok[nt] = s;
        while (*s != '\0' && *s != ' ' && *s != ',' && *s != '\t' && *s != '\n')
            s++;
        len[nt] = (size_t)(s - tok[nt]);
        nt++;
    }
    if (nt == 1) {
        if ((y = extract_text_digits(tok[0], len[0], 4, 4)) >= 0)
            return extract_text_iso(y, 0, 0);
        if ((len[0] == 7 || len[0] == 10) && tok[0][4] == '-' &&
            (y = extract_text_digits(tok[0], 4, 4, 4)) >= 0 &&
            (m = extract_text_digits(tok[0] + 5, 2, 2, 2)) >= 1) {
            if (len[0] == 7)
                return extract_text_iso(y, m, 0);
            if (tok[0][7] == '-' && (d = extract_text_digits(tok[0] + 8, 2, 2, 2)) >= 1)
                return extract_text_iso(y, m, d);
        }
        return NULL;
    }
    if (nt == 2) {
        m = extract_text_month(tok[0], len[0]);
        y = extract_text_digits(tok[1], len[1], 4, 4);
        return m > 0 && y >= 0 ? extract_text_iso(y, m, 0) : NULL;
    }
    if (nt == 3) {
        y = extract_text_digits(tok[2], len[2], 4, 4);
        if (y < 0)
            return NULL;
        if ((m = extract_text_month(tok[0], len[0])) > 0)
            d = extract_text_digits(tok[1], len[1], 1, 2);
        else if ((m = extract_text_month(tok[1], len[1])) > 0)
            d = extract_text_digits(tok[0], len[0], 1, 2);
        else
            return NULL;
        return d >= 1 ? extract_text_iso(y, m, d) : NULL;
    }
    return NULL;
}
