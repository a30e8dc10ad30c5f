/*
 * discover_sitemap: sitemaps and sitemap indexes read into entries of
 * normalised, in-scope URLs with their lastmod times, W3C date-times, and
 * the rule that decides when a lastmod may spare a fetch.
 *
 * It owns the entries and messages it returns and the libxml2 reader of
 * one parse. The reader never touches the network, never loads a DTD and
 * never substitutes an entity; nothing here fetches, reads a clock or logs.
 */
#include "discover.h"

#include "strbuf.h"
#include "urlset.h"
#include "xmalloc.h"

#include <libxml/xmlreader.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool w3c_digit(int c)
{
    return c >= '0' && c <= '9';
}

static bool w3c_digits(const char **p, int n, int *v)
{
    *v = 0;
    for (int i = 0; i < n; i++) {
        if (!w3c_digit((unsigned char)(*p)[i]))
            return false;
        *v = *v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    return true;
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar. */
static int64_t w3c_days(int64_t y, int m, int d)
{
    int64_t era, yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int w3c_mdays(int y, int m)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

    return m == 2 && leap ? 29 : days[m - 1];
}

int64_t discover_w3c_datetime(const char *s)
{
    int y, mo = 1, d = 1, h = 0, mi = 0, sec = 0, zh = 0, zm = 0, sign = 0;
    const char *p = s;

    while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
        p++;
    if (!w3c_digits(&p, 4, &y))
        return DISCOVER_LASTMOD_UNKNOWN;
    if (*p == '-') {
        p++;
        if (!w3c_digits(&p, 2, &mo) || mo < 1 || mo > 12)
            return DISCOVER_LASTMOD_UNKNOWN;
        if (*p == '-') {
            p++;
            if (!w3c_digits(&p, 2, &d) || d < 1 || d > w3c_mdays(y, mo))
                return DISCOVER_LASTMOD_UNKNOWN;
            if (*p == 'T' || *p == 't') {
                p++;
                if (!w3c_digits(&p, 2, &h) || h > 23 || *p++ != ':' || !w3c_digits(&p, 2, &mi) ||
                    mi > 59)
                    return DISCOVER_LASTMOD_UNKNOWN;
                if (*p == ':') {
                    p++;
                    if (!w3c_digits(&p, 2, &sec) || sec > 60)
                        return DISCOVER_LASTMOD_UNKNOWN;
                    if (*p == '.') {
                        p++;
                        if (!w3c_digit((unsigned char)*p))
                            return DISCOVER_LASTMOD_UNKNOWN;
                        while (w3c_digit((unsigned char)*p))
                            p++;
                    }
                }
                if (*p == 'Z' || *p == 'z') {
                    p++;
                } else if (*p == '+' || *p == '-') {
                    sign = *p++ == '+' ? 1 : -1;
                    if (!w3c_digits(&p, 2, &zh) || zh > 23)
                        return DISCOVER_LASTMOD_UNKNOWN;
                    if (*p == ':')
                        p++;
                    if (w3c_digit((unsigned char)*p) && (!w3c_digits(&p, 2, &zm) || zm > 59))
                        return DISCOVER_LASTMOD_UNKNOWN;
                }
            }
        }
    }
    while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
        p++;
    if (*p != '\0')
        return DISCOVER_LASTMOD_UNKNOWN;
    return w3c_days(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - sign * (zh * 3600 + zm * 60);
}

static const char *const sitemap_namespaces[] = {
    "http://www.sitemaps.org/schemas/sitemap/0.9",
    "https://www.sitemaps.org/schemas/sitemap/0.9",
    "http://www.google.com/schemas/sitemap/0.84",
    "http://www.google.com/schemas/sitemap/0.9",
};

static bool sitemap_ns_ok(const xmlChar *ns)
{
    if (ns == NULL || *ns == '\0')
        return true;
    for (size_t i = 0; i < sizeof(sitemap_namespaces) / sizeof(sitemap_namespaces[0]); i++)
        if (strcmp((const char *)ns, sitemap_namespaces[i]) == 0)
            return true;
    return false;
}

enum sitemap_field { SITEMAP_NONE, SITEMAP_LOC, SITEMAP_LASTMOD };

struct sitemap_ctx {
    struct discover_sitemap *out;
    const char *from; /* the sitemap's normalised URL */
    const struct discover_scope *scope;
    unsigned flags;
    struct urlset seen;
    struct strbuf loc, lastmod, norm, tmp;
    enum sitemap_field field;
    bool in_entry, have_loc, too_long;
    unsigned long line;
    size_t cap;
    char xmlerr[200];
    int xmlerr_line;
};

static void sitemap_xml_error(void *data, xmlErrorPtr e)
{
    struct sitemap_ctx *c = data;

    if (c->xmlerr[0] != '\0' || e == NULL || e->level < XML_ERR_ERROR)
        return;
    snprintf(c->xmlerr, sizeof(c->xmlerr), "%s", e->message ? e->message : "XML error");
    c->xmlerr[strcspn(c->xmlerr, "\n")] = '\0';
    c->xmlerr_line = e->line;
}

static void sitemap_reject(struct sitemap_ctx *c, const char *reason)
{
    c->out->rejected++;
    discover_add_error(&c->out->errors, &c->out->nerrors, c->from, c->line, reason);
}

/* One <url> or <sitemap> element ended: check and keep its <loc>. */
static void sitemap_entry(struct sitemap_ctx *c)
{
    struct discover_sitemap *out = c->out;
    const char *why;

    if (!c->have_loc) {
        sitemap_reject(c, "entry without <loc>");
        return;
    }
    if (c->too_long) {
        sitemap_reject(c, "URL too long");
        return;
    }
    if ((why = discover_url_norm(&c->norm, &c->tmp, strbuf_str(&c->loc), c->loc.len, c->flags)) !=
        NULL) {
        sitemap_reject(c, why);
        return;
    }
    if (!discover_in_scope(c->norm.s, c->from, c->scope)) {
        sitemap_reject(c, "outside the source's scope");
        return;
    }
    if (!urlset_add(&c->seen, c->norm.s, c->norm.len)) {
        out->duplicates++;
        return;
    }
    if (out->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 64;
        out->entries = xreallocarray(out->entries, c->cap, sizeof(*out->entries));
    }
    out->entries[out->n].url = xstrndup(c->norm.s, c->norm.len);
    out->entries[out->n].lastmod =
        c->lastmod.len ? discover_w3c_datetime(strbuf_str(&c->lastmod)) : DISCOVER_LASTMOD_UNKNOWN;
    out->n++;
}

/* Handle one reader node; returns 0 or a negative errno to stop. */
static int sitemap_node(struct sitemap_ctx *c, xmlTextReaderPtr r)
{
    int type = xmlTextReaderNodeType(r), depth = xmlTextReaderDepth(r);
    const xmlChar *name, *value;
    bool ok;

    switch (type) {
    case XML_READER_TYPE_ELEMENT:
        name = xmlTextReaderConstLocalName(r);
        ok = sitemap_ns_ok(xmlTextReaderConstNamespaceUri(r)) && name != NULL;
        if (depth == 0) {
            if (ok && strcmp((const char *)name, "urlset") == 0) {
                c->out->kind = DISCOVER_SITEMAP_URLSET;
            } else if (ok && strcmp((const char *)name, "sitemapindex") == 0) {
                c->out->kind = DISCOVER_SITEMAP_INDEX;
            } else {
                snprintf(c->out->errmsg, sizeof(c->out->errmsg),
                         "not a sitemap: the root element is <%s>",
                         name ? (const char *)name : "?");
                return -EINVAL;
            }
        } else if (depth == 1) {
            const char *want = c->out->kind == DISCOVER_SITEMAP_URLSET ? "url" : "sitemap";
            if (ok && strcmp((const char *)name, want) == 0 && !xmlTextReaderIsEmptyElement(r)) {
                c->in_entry = true;
                c->have_loc = c->too_long = false;
                c->field = SITEMAP_NONE;
                strbuf_reset(&c->loc);
                strbuf_reset(&c->lastmod);
                c->line = (unsigned long)xmlGetLineNo(xmlTextReaderCurrentNode(r));
            }
        } else if (depth == 2 && c->in_entry && ok && !xmlTextReaderIsEmptyElement(r)) {
            if (strcmp((const char *)name, "loc") == 0) {
                c->field = SITEMAP_LOC;
                c->have_loc = true;
                c->line = (unsigned long)xmlGetLineNo(xmlTextReaderCurrentNode(r));
            } else if (strcmp((const char *)name, "lastmod") == 0) {
                c->field = SITEMAP_LASTMOD;
            }
        }
        break;
    case XML_READER_TYPE_TEXT:
    case XML_READER_TYPE_CDATA:
    case XML_READER_TYPE_WHITESPACE:
    case XML_READER_TYPE_SIGNIFICANT_WHITESPACE:
        /* Only text directly inside <loc> or <lastmod>; an entity
         * reference there is a node of its own and is never expanded. */
        if (depth != 3 || c->field == SITEMAP_NONE)
            break;
        value = xmlTextReaderConstValue(r);
        if (value == NULL)
            break;
        if (c->field == SITEMAP_LOC) {
            size_t vlen = strlen((const char *)value);
            if (c->loc.len + vlen > DISCOVER_URL_MAX + 256)
                c->too_long = true;
            else
                strbuf_add(&c->loc, value, vlen);
        } else if (c->lastmod.len < 64) {
            strbuf_adds(&c->lastmod, (const char *)value);
        }
        break;
    case XML_READER_TYPE_END_ELEMENT:
        if (depth == 2) {
            c->field = SITEMAP_NONE;
        } else if (depth == 1 && c->in_entry) {
            sitemap_entry(c);
            c->in_entry = false;
        }
        break;
    default:
        break;
    }
    return 0;
}

int discover_sitemap_parse(const char *bytes, size_t len, const char *sitemap_url,
                           const struct discover_scope *scope, unsigned url_flags,
                           struct discover_sitemap *out)
{
    struct sitemap_ctx c;
    xmlTextReaderPtr r = NULL;
    char *from;
    const char *why;
    int ret, rc = 0;

    memset(&c, 0, sizeof(c));
    c.out = out;
    c.scope = scope;
    c.flags = url_flags;
    from = discover_url_normalize(sitemap_url, url_flags | DISCOVER_ALLOW_FILE, &why);
    if (from == NULL) {
        snprintf(out->errmsg, sizeof(out->errmsg), "sitemap URL refused: %s", why);
        return -EINVAL;
    }
    c.from = from;
    if (len > DISCOVER_SITEMAP_MAX_BYTES) {
        snprintf(out->errmsg, sizeof(out->errmsg), "sitemap larger than %lu bytes",
                 (unsigned long)DISCOVER_SITEMAP_MAX_BYTES);
        rc = -EFBIG;
        goto out;
    }
    if (len >= 2 && (unsigned char)bytes[0] == 0x1f && (unsigned char)bytes[1] == 0x8b) {
        snprintf(out->errmsg, sizeof(out->errmsg), "gzip-compressed sitemap: not decoded");
        rc = -EINVAL;
        goto out;
    }
    /* No XML_PARSE_NOENT, DTDLOAD, DTDATTR or HUGE: entities stay
     * references, no DTD is read, the parser's size limits hold. */
    r = xmlReaderForMemory(bytes, (int)len, from, NULL,
                           XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    if (r == NULL) {
        snprintf(out->errmsg, sizeof(out->errmsg), "cannot start the XML parser");
        rc = -EBADMSG;
        goto out;
    }
    xmlTextReaderSetStructuredErrorHandler(r, sitemap_xml_error, &c);
    while ((ret = xmlTextReaderRead(r)) == 1)
        if ((rc = sitemap_node(&c, r)) != 0)
            break;
    if (rc == 0 && ret < 0) {
        snprintf(out->errmsg, sizeof(out->errmsg), "%s:%d: %s", from, c.xmlerr_line,
                 c.xmlerr[0] ? c.xmlerr : "not well-formed XML");
        rc = -EBADMSG;
    } else if (rc == 0 && len == 0) {
        snprintf(out->errmsg, sizeof(out->errmsg), "empty sitemap");
        rc = -EBADMSG;
    }
out:
    xmlFreeTextReader(r);
    urlset_release(&c.seen);
    strbuf_release(&c.loc);
    strbuf_release(&c.lastmod);
    strbuf_release(&c.norm);
    strbuf_release(&c.tmp);
    free(from);
    return rc;
}

void discover_sitemap_clear(struct discover_sitemap *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->entries[i].url);
    free(s->entries);
    discover_free_errors(s->errors, s->nerrors);
    memset(s, 0, sizeof(*s));
}

void discover_lastmod_observe(struct discover_lastmod_trust *t, bool lastmod_changed,
                              bool content_changed)
{
    if (!lastmod_changed && content_changed) {
        t->agree = 0;
        t->agree_changed = 0;
    } else if (lastmod_changed == content_changed) {
        if (t->agree < UINT32_MAX)
            t->agree++;
        if (lastmod_changed && t->agree_changed < UINT32_MAX)
            t->agree_changed++;
    }
}

bool discover_lastmod_trusted(const struct discover_lastmod_trust *t, unsigned need)
{
    return t->agree >= (need ? need : 1) && t->agree_changed >= 1;
}

bool discover_lastmod_may_skip(const struct discover_lastmod_trust *t, unsigned need,
                               int64_t stored_lastmod, int64_t sitemap_lastmod, int64_t last_fetch,
                               int64_t now, int64_t max_age)
{
    if (!discover_lastmod_trusted(t, need))
        return false;
    if (stored_lastmod == DISCOVER_LASTMOD_UNKNOWN || sitemap_lastmod == DISCOVER_LASTMOD_UNKNOWN)
        return false;
    if (stored_lastmod != sitemap_lastmod)
        return false;
    if (max_age <= 0 || now < 0 || last_fetch > now)
        return false;
    return last_fetch > now - max_age;
}
