/*
 * extract: one page in, one record (or a clear reason) out. Checks the
 * input's size, decodes it to UTF-8 (extract_decode.c), parses it with a
 * fresh libxml2 HTML parser context under the settings of RELIABILITY.md
 * (recover, no network, no huge mode, catalogs off, errors silent),
 * counts nodes as the parser builds them and stops it past the node
 * budget, detects every way the parse can end early and marks the record
 * partial, then runs the profile (extract_fields.c) and the provenance
 * parser. Owns the parser context, the document and the record until it
 * hands the record to the caller; keeps no state between pages except
 * the silent error handler installed once by extract_global_init().
 * Never logs and never touches the catalog.
 */
#include "harvest.h"

#include "extract_decode.h"
#include "extract_fields.h"
#include "extract_text.h"
#include "profile_internal.h"

#include <ctype.h>
#include <errno.h>
#include <libxml/HTMLparser.h>
#include <libxml/catalog.h>
#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <libxml/xmlerror.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Largest page accepted, in bytes as fetched. */
#define EXTRACT_INPUT_MAX (8u * 1024 * 1024)
/* Most nodes (elements, attributes, text runs, comments) one page may
 * build; the parser is stopped past it (RELIABILITY.md H8). */
#define EXTRACT_NODE_MAX 200000ul

#define EXTRACT_PARSE_OPTIONS                                                                      \
    (HTML_PARSE_RECOVER | HTML_PARSE_NONET | HTML_PARSE_NOERROR | HTML_PARSE_NOWARNING |           \
     HTML_PARSE_COMPACT | HTML_PARSE_IGNORE_ENC)

/* The state of one parse, reached from the parser's callbacks through
 * ctxt->_private. */
struct extract_parse {
    htmlParserCtxtPtr ctxt;
    startElementSAXFunc start_element;
    charactersSAXFunc characters;
    charactersSAXFunc cdata_block;
    commentSAXFunc comment;
    processingInstructionSAXFunc pi;
    unsigned long nodes;
    bool node_limit; /* the parser was stopped at EXTRACT_NODE_MAX */
    bool oom_stop;   /* the parser was stopped after an allocation failed */
    int cut_code;    /* first libxml2 error that drops part of the page */
};

/* libxml2 reports errors through one process-wide hook; while a page is
 * parsed on this thread, this points at its state so the hook can tell
 * which errors cut the page short. NULL between pages. */
static _Thread_local struct extract_parse *extract_active;

/* libxml2 reported that an allocation failed during the current page
 * (parse or XPath). Its parser may then drop content without another
 * word, or loop (2.9.14), so such a page is stopped and never becomes a
 * record (RELIABILITY.md H15). */
static _Thread_local bool extract_oom;

/* libxml2 error codes after which part of the page is missing. */
static bool extract_cuts_page(int code)
{
    return code == XML_ERR_INTERNAL_ERROR          /* nesting depth limit (256) */
           || code == XML_ERR_NO_MEMORY            /* text node over 10 MB, or out of memory */
           || code == XML_ERR_COMMENT_NOT_FINISHED /* the rest of the page is a comment */
           || (code >= XML_I18N_NO_NAME && code <= XML_I18N_NO_OUTPUT) /* converter gave up */
           || code == XML_IO_ENCODER;
}

/* libxml2 reports its 10 MB text node limit as XML_ERR_NO_MEMORY too,
 * with this phrase: that one is a property of the page, not of memory. */
static bool extract_real_oom(xmlErrorPtr e)
{
    return e->code == XML_ERR_NO_MEMORY &&
           !(e->str1 != NULL && strstr(e->str1, "huge text node") != NULL) &&
           !(e->message != NULL && strstr(e->message, "huge text node") != NULL);
}

static void extract_xml_error(void *data, xmlErrorPtr e)
{
    struct extract_parse *ps = extract_active;

    (void)data;
    if (e != NULL && extract_real_oom(e)) {
        /* xmlStopParser() here could free the input the parser is still
         * reading; marking the end only makes its loops finish, and the
         * next SAX callback stops it properly (extract_count). */
        extract_oom = true;
        if (ps != NULL && ps->ctxt != NULL) {
            ps->ctxt->instate = XML_PARSER_EOF;
            ps->ctxt->disableSAX = 1;
        }
        return;
    }
    if (ps == NULL || e == NULL || (e->ctxt != NULL && e->ctxt != (void *)ps->ctxt))
        return;
    if (ps->cut_code == 0 && extract_cuts_page(e->code))
        ps->cut_code = e->code;
}

/* Some libxml2 messages (an unknown XPath function, for one) bypass the
 * structured hook and go to the generic one: it says nothing either. */
static void extract_xml_generic(void *data, const char *fmt, ...)
{
    (void)data;
    (void)fmt;
}

void extract_global_init(void)
{
    xmlInitParser();
    xmlCatalogSetDefaults(XML_CATA_ALLOW_NONE);
    xmlSetStructuredErrorFunc(NULL, extract_xml_error);
    xmlSetGenericErrorFunc(NULL, extract_xml_generic);
    /* libxml2 keeps these per thread; threads started later inherit these */
    xmlThrDefSetStructuredErrorFunc(NULL, extract_xml_error);
    xmlThrDefSetGenericErrorFunc(NULL, extract_xml_generic);
}

void extract_result_clear(struct extract_result *res)
{
    record_free(res->record);
    res->record = NULL;
    res->category = PROV_OK;
    res->reason[0] = '\0';
}

/* Count n new nodes; past the budget, stop the parser and say no. */
static bool extract_count(void *ctx, unsigned long n)
{
    xmlParserCtxtPtr ctxt = ctx;
    struct extract_parse *ps = ctxt->_private;

    if (extract_oom) {
        if (!ps->oom_stop) {
            ps->oom_stop = true;
            xmlStopParser(ctxt);
        }
        return false;
    }
    ps->nodes += n;
    if (ps->nodes <= EXTRACT_NODE_MAX)
        return true;
    if (!ps->node_limit) {
        ps->node_limit = true;
        xmlStopParser(ctxt);
    }
    return false;
}

static void extract_sax_start(void *ctx, const xmlChar *name, const xmlChar **atts)
{
    struct extract_parse *ps = ((xmlParserCtxtPtr)ctx)->_private;
    unsigned long n = 1;

    for (const xmlChar **a = atts; a != NULL && *a != NULL; a += 2)
        n += 2; /* the attribute and its text */
    if (extract_count(ctx, n))
        ps->start_element(ctx, name, atts);
}

static void extract_sax_characters(void *ctx, const xmlChar *ch, int len)
{
    xmlParserCtxtPtr ctxt = ctx;
    struct extract_parse *ps = ctxt->_private;
    /* text joins the text node before it, so only a new run counts */
    bool joins =
        ctxt->node != NULL && ctxt->node->last != NULL && ctxt->node->last->type == XML_TEXT_NODE;

    if (joins || extract_count(ctx, 1))
        ps->characters(ctx, ch, len);
}

static void extract_sax_cdata(void *ctx, const xmlChar *ch, int len)
{
    struct extract_parse *ps = ((xmlParserCtxtPtr)ctx)->_private;

    if (extract_count(ctx, 1))
        ps->cdata_block(ctx, ch, len);
}

static void extract_sax_comment(void *ctx, const xmlChar *value)
{
    struct extract_parse *ps = ((xmlParserCtxtPtr)ctx)->_private;

    if (extract_count(ctx, 1))
        ps->comment(ctx, value);
}

static void extract_sax_pi(void *ctx, const xmlChar *target, const xmlChar *data)
{
    struct extract_parse *ps = ((xmlParserCtxtPtr)ctx)->_private;

    if (extract_count(ctx, 1))
        ps->pi(ctx, target, data);
}

/* Put the counting callbacks in front of libxml2's tree builders. */
static void extract_hook(struct extract_parse *ps)
{
    htmlSAXHandlerPtr sax = ps->ctxt->sax;

    ps->ctxt->_private = ps;
    ps->start_element = sax->startElement;
    ps->characters = sax->characters;
    ps->cdata_block = sax->cdataBlock;
    ps->comment = sax->comment;
    ps->pi = sax->processingInstruction;
    if (ps->start_element)
        sax->startElement = extract_sax_start;
    if (ps->characters)
        sax->characters = extract_sax_characters;
    if (ps->cdata_block)
        sax->cdataBlock = extract_sax_cdata;
    if (ps->comment)
        sax->comment = extract_sax_comment;
    if (ps->pi)
        sax->processingInstruction = extract_sax_pi;
}

/* libxml2 reads everything after an unclosed <script> or <style> as its
 * contents, without an error: the rest of the page silently vanishes. If
 * the document ends inside such an element, the page must show its
 * closing tag after the element's last opening tag. */
static const char *extract_raw_unclosed(xmlDocPtr doc, const char *s, size_t n)
{
    xmlNodePtr x = xmlDocGetRootElement(doc);
    const char *tag;
    size_t len, i;

    while (x != NULL && x->last != NULL)
        x = x->last;
    while (x != NULL && x->type != XML_ELEMENT_NODE)
        x = x->parent;
    if (x == NULL)
        return NULL;
    tag = (const char *)x->name;
    if (strcmp(tag, "script") != 0 && strcmp(tag, "style") != 0)
        return NULL;
    len = strlen(tag);
    for (i = n; i-- > 0;) {
        if (s[i] == '<' && n - i > len + 1 && strncasecmp(s + i + 1, tag, len) == 0 &&
            (s[i + 1 + len] == '>' || s[i + 1 + len] == '/' ||
             isspace((unsigned char)s[i + 1 + len])))
            break;
    }
    if (i == (size_t)-1)
        return NULL;
    for (; i + len + 2 <= n; i++)
        if (s[i] == '<' && s[i + 1] == '/' && strncasecmp(s + i + 2, tag, len) == 0)
            return NULL;
    return tag[1] == 'c' ? "an unclosed <script> swallowed the rest of the page"
                         : "an unclosed <style> swallowed the rest of the page";
}

/* Why the parse ended early, or NULL when it read the whole page. */
static const char *extract_cut_reason(const struct extract_parse *ps, xmlDocPtr doc,
                                      const struct extract_input *in)
{
    int code = ps->cut_code ? ps->cut_code : ps->ctxt->errNo;

    if (ps->node_limit)
        return "the page has more than 200000 nodes; parsing stopped there";
    if (ps->cut_code == 0 && !ps->ctxt->disableSAX)
        return extract_raw_unclosed(doc, in->data, in->len);
    switch (code) {
    case XML_ERR_INTERNAL_ERROR:
        if (!ps->ctxt->disableSAX)
            return "libxml2 reported an internal error; the page may be incomplete";
        return "elements nested deeper than 256 levels; libxml2 stopped parsing there";
    case XML_ERR_NO_MEMORY:
        return "a text node over 10 MB (or memory ran out); libxml2 stopped parsing there";
    case XML_ERR_COMMENT_NOT_FINISHED:
        return "an unterminated comment swallowed the rest of the page";
    default:
        return "libxml2 stopped parsing before the end of the page";
    }
}

/* True when the document has a password field: a login wall. */
static bool extract_has_password(xmlNodePtr top)
{
    xmlNodePtr cur = top->children;

    while (cur != NULL) {
        if (cur->type == XML_ELEMENT_NODE) {
            if (strcmp((const char *)cur->name, "input") == 0) {
                xmlChar *type = xmlGetProp(cur, (const xmlChar *)"type");
                bool pw = type != NULL && strcasecmp((const char *)type, "password") == 0;

                xmlFree(type);
                if (pw)
                    return true;
            }
            if (cur->children != NULL) {
                cur = cur->children;
                continue;
            }
        }
        while (cur->next == NULL) {
            cur = cur->parent;
            if (cur == NULL || cur == top)
                return false;
        }
        cur = cur->next;
    }
    return false;
}

/* The text of the page's <title>, or NULL. */
static char *extract_page_title(xmlDocPtr doc)
{
    xmlNodePtr root = xmlDocGetRootElement(doc);

    for (xmlNodePtr h = root ? root->children : NULL; h != NULL; h = h->next) {
        if (h->type != XML_ELEMENT_NODE || strcmp((const char *)h->name, "head") != 0)
            continue;
        for (xmlNodePtr t = h->children; t != NULL; t = t->next)
            if (t->type == XML_ELEMENT_NODE && strcmp((const char *)t->name, "title") == 0)
                return extract_text_of(t, NULL);
    }
    return NULL;
}

/* Say why a page without its required fields is not a record: a bot
 * challenge or login wall (BLOCKED), a page cut short (PARSE_PARTIAL), or
 * anything else (EXTRACT_EMPTY). */
static int extract_not_a_record(const struct profile *p, const struct extract_input *in,
                                xmlDocPtr doc, const char *cut, const struct record *r,
                                struct extract_result *res)
{
    const char *missing = r->record_id == NULL ? "record_id" : "title";
    const char *marker = extract_text_marker(in->data, in->len, &p->markers);
    char *title;

    if (marker != NULL) {
        res->category = PROV_BLOCKED;
        extract_text_reason(res->reason, sizeof(res->reason),
                            "bot challenge page (\"%s\"), not a record", marker);
        return -EACCES;
    }
    if (extract_has_password((xmlNodePtr)doc)) {
        res->category = PROV_BLOCKED;
        extract_text_reason(res->reason, sizeof(res->reason),
                            "login wall (a password form), not a record");
        return -EACCES;
    }
    if (cut != NULL) {
        res->category = PROV_PARSE_PARTIAL;
        extract_text_reason(res->reason, sizeof(res->reason), "no %s before the parse ended: %s",
                            missing, cut);
        return -ENODATA;
    }
    title = extract_page_title(doc);
    res->category = PROV_EXTRACT_EMPTY;
    extract_text_reason(res->reason, sizeof(res->reason),
                        "not a record page: profile %s finds no %s (page title: \"%s\")", p->name,
                        missing, title ? title : "none");
    free(title);
    return -ENODATA;
}

int extract_page(const struct profile *p, const char *body, size_t len, const char *url,
                 const char *charset, struct extract_result *res)
{
    struct extract_input in = {0};
    struct extract_parse ps = {0};
    struct extract_doc d = {0};
    bool fields = false;
    struct record *r = NULL;
    const char *cut = NULL;
    xmlDocPtr doc = NULL;
    int rc;

    extract_result_clear(res);
    extract_oom = false;
    if (p == NULL) {
        res->category = PROV_CONFIG;
        extract_text_reason(res->reason, sizeof(res->reason), "no extraction profile");
        return -EINVAL;
    }
    if (body == NULL || len == 0) {
        res->category = PROV_EXTRACT_EMPTY;
        extract_text_reason(res->reason, sizeof(res->reason), "empty body (0 bytes)");
        return -ENODATA;
    }
    if (len > EXTRACT_INPUT_MAX) {
        res->category = PROV_TOO_LARGE;
        extract_text_reason(res->reason, sizeof(res->reason),
                            "page of %zu bytes is over the %u-byte limit", len, EXTRACT_INPUT_MAX);
        return -EFBIG;
    }
    rc = extract_decode(body, len, charset, &in);
    if (rc < 0) {
        res->category = PROV_TOO_LARGE;
        extract_text_reason(res->reason, sizeof(res->reason),
                            "page is over %u bytes once decoded from %s", EXTRACT_DECODED_MAX,
                            in.encoding[0] ? in.encoding : "its encoding");
        goto out;
    }

    ps.ctxt = htmlNewParserCtxt();
    if (ps.ctxt == NULL) {
        res->category = PROV_INTERNAL;
        extract_text_reason(res->reason, sizeof(res->reason), "libxml2 could not make a parser");
        rc = -EIO;
        goto out;
    }
    extract_hook(&ps);
    extract_active = &ps;
    doc = htmlCtxtReadMemory(ps.ctxt, in.len ? in.data : " ", in.len ? (int)in.len : 1, NULL,
                             "UTF-8", EXTRACT_PARSE_OPTIONS);
    extract_active = NULL;
    if (extract_oom) {
        rc = -EIO;
        goto out;
    }
    if (doc == NULL || xmlDocGetRootElement(doc) == NULL) {
        res->category = PROV_EXTRACT_EMPTY;
        extract_text_reason(res->reason, sizeof(res->reason), "no HTML document in %zu bytes", len);
        rc = -ENODATA;
        goto out;
    }
    cut = extract_cut_reason(&ps, doc, &in);

    rc = extract_fields_init(&d, p, doc);
    if (rc < 0) {
        res->category = d.category;
        memcpy(res->reason, d.reason, sizeof(res->reason));
        goto out;
    }
    fields = true;
    r = record_new();
    rc = extract_fields_run(&d, r, 0, PROFILE_NREQUIRED);
    if (rc == 0 && (r->record_id == NULL || r->title == NULL)) {
        rc = extract_not_a_record(p, &in, doc, cut, r, res);
        goto out;
    }
    if (rc == 0)
        rc = extract_fields_run(&d, r, PROFILE_NREQUIRED, PROFILE_NFIELDS);
    if (rc < 0) {
        res->category = d.category;
        memcpy(res->reason, d.reason, sizeof(res->reason));
        goto out;
    }
    if (url != NULL)
        r->url = extract_text_clean(url, strlen(url));
    r->date_iso = extract_date_iso(r->date);
    if (r->source != NULL)
        provenance_parse(r->source, r);
    if (cut != NULL) {
        r->partial = true;
        res->category = PROV_PARSE_PARTIAL;
        extract_text_reason(res->reason, sizeof(res->reason), "%s", cut);
    }
    res->record = r;
    r = NULL;
    rc = 0;
out:
    if (extract_oom) {
        record_free(res->record);
        res->record = NULL;
        res->category = PROV_INTERNAL;
        extract_text_reason(res->reason, sizeof(res->reason),
                            "libxml2 could not allocate memory; the page was not extracted");
        rc = -EIO;
    }
    record_free(r);
    if (fields)
        extract_fields_release(&d);
    xmlFreeDoc(doc);
    if (ps.ctxt != NULL)
        htmlFreeParserCtxt(ps.ctxt);
    extract_decode_release(&in);
    return rc;
}
