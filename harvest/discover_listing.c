/*
 * discover_listing: listing pages — HTML pages whose links lead to records
 * and to the next page — and the walk over them, a small state machine
 * the engine drives page by page.
 *
 * It owns the compiled XPaths of a listing, the links and walk state it
 * returns, and the libxml2 document of one parse. The HTML parser never
 * touches the network; nothing here fetches, reads a clock or logs.
 */
#include "discover.h"

#include "strbuf.h"
#include "urlset.h"
#include "xmalloc.h"

#include <libxml/HTMLparser.h>
#include <libxml/xpath.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* XPath steps allowed per listing query: far above any sane page. */
#define DISCOVER_XPATH_OP_LIMIT 50000000UL

struct discover_listing {
    xmlXPathCompExprPtr links, next, base;
    char **hosts;
    struct discover_scope scope;
    unsigned flags;
};

struct xpath_err {
    char msg[160];
};

static void discover_xpath_error(void *data, xmlErrorPtr e)
{
    struct xpath_err *x = data;

    if (x->msg[0] == '\0' && e != NULL && e->message != NULL) {
        snprintf(x->msg, sizeof(x->msg), "%s", e->message);
        x->msg[strcspn(x->msg, "\n")] = '\0';
    }
}

static int listing_compile(const char *expr, xmlXPathCompExprPtr *out, char *err, size_t errlen)
{
    struct xpath_err x = {{0}};
    xmlXPathContextPtr ctx = xmlXPathNewContext(NULL);

    if (ctx == NULL) {
        discover_set_err(err, errlen, "cannot create an XPath context");
        return -ENOMEM;
    }
    ctx->error = discover_xpath_error;
    ctx->userData = &x;
    *out = xmlXPathCtxtCompile(ctx, (const xmlChar *)expr);
    xmlXPathFreeContext(ctx);
    if (*out == NULL) {
        discover_set_err(err, errlen, "XPath \"%s\" does not compile: %s", expr,
                         x.msg[0] ? x.msg : "syntax error");
        return -EINVAL;
    }
    return 0;
}

int discover_listing_new(const struct discover_listing_options *o, struct discover_listing **out,
                         char *err, size_t errlen)
{
    struct discover_listing *l = xcalloc(1, sizeof(*l));
    const char *links = o != NULL && o->links_xpath ? o->links_xpath : DISCOVER_WILSON_LINKS_XPATH;
    int rc;

    *out = NULL;
    if ((rc = listing_compile(links, &l->links, err, errlen)) != 0)
        goto out;
    if (o != NULL && o->next_xpath != NULL &&
        (rc = listing_compile(o->next_xpath, &l->next, err, errlen)) != 0)
        goto out;
    if ((rc = listing_compile("(//base[@href])[1]/@href", &l->base, err, errlen)) != 0)
        goto out;
    if (o != NULL && o->scope != NULL && o->scope->nhosts > 0) {
        l->hosts = xcalloc(o->scope->nhosts, sizeof(*l->hosts));
        for (size_t i = 0; i < o->scope->nhosts; i++)
            l->hosts[i] = xstrdup(o->scope->hosts[i]);
        l->scope.nhosts = o->scope->nhosts;
        l->scope.hosts = (const char *const *)l->hosts;
    }
    l->flags = o != NULL ? o->url_flags : 0;
    *out = l;
    l = NULL;
out:
    discover_listing_free(l);
    return rc;
}

void discover_listing_free(struct discover_listing *l)
{
    if (l == NULL)
        return;
    xmlXPathFreeCompExpr(l->links);
    xmlXPathFreeCompExpr(l->next);
    xmlXPathFreeCompExpr(l->base);
    for (size_t i = 0; i < l->scope.nhosts; i++)
        free(l->hosts[i]);
    free(l->hosts);
    free(l);
}

/* The link a selected node stands for: an element's href, an attribute's
 * or a text node's value. The caller frees it with xmlFree(). */
static xmlChar *listing_node_value(xmlNodePtr n)
{
    switch (n->type) {
    case XML_ELEMENT_NODE:
        return xmlGetProp(n, (const xmlChar *)"href");
    case XML_ATTRIBUTE_NODE:
    case XML_TEXT_NODE:
    case XML_CDATA_SECTION_NODE:
        return xmlNodeGetContent(n);
    default:
        return NULL;
    }
}

struct listing_run {
    const struct discover_listing *l;
    const char *page; /* normalised page URL */
    const char *base; /* what links resolve against */
    struct strbuf out, tmp, tmp2;
};

/* Resolve and check one value; the normalised URL is left in lr->out.
 * Returns false when it is refused or out of scope. */
static bool listing_accept(struct listing_run *lr, const xmlChar *v)
{
    const char *s = (const char *)v;

    if (discover_url_resolve_into(&lr->out, &lr->tmp, &lr->tmp2, lr->base, s, strlen(s),
                                  lr->l->flags) != NULL)
        return false;
    return discover_in_scope(lr->out.s, lr->page, &lr->l->scope);
}

/* Evaluate comp and call fn on the value of each selected node (or on the
 * string result) until it returns false. Returns 0 or -EINVAL. */
static int listing_eval(xmlXPathContextPtr ctx, xmlXPathCompExprPtr comp,
                        bool (*fn)(void *data, const xmlChar *v), void *data)
{
    xmlXPathObjectPtr res = xmlXPathCompiledEval(comp, ctx);

    if (res == NULL)
        return -EINVAL;
    if (res->type == XPATH_NODESET && res->nodesetval != NULL) {
        for (int i = 0; i < res->nodesetval->nodeNr; i++) {
            xmlChar *v = listing_node_value(res->nodesetval->nodeTab[i]);
            bool more = v == NULL || fn(data, v);
            xmlFree(v);
            if (!more)
                break;
        }
    } else if (res->type == XPATH_STRING && res->stringval != NULL && res->stringval[0]) {
        fn(data, res->stringval);
    }
    xmlXPathFreeObject(res);
    return 0;
}

struct listing_links {
    struct listing_run *lr;
    struct discover_page *page;
    struct urlset seen;
    size_t cap;
};

static bool listing_take_link(void *data, const xmlChar *v)
{
    struct listing_links *ll = data;
    struct discover_page *p = ll->page;

    if (!listing_accept(ll->lr, v)) {
        p->rejected++;
        return true;
    }
    if (!urlset_add(&ll->seen, ll->lr->out.s, ll->lr->out.len))
        return true;
    if (p->n == ll->cap) {
        ll->cap = ll->cap ? ll->cap * 2 : 32;
        p->links = xreallocarray(p->links, ll->cap, sizeof(*p->links));
    }
    p->links[p->n++] = xstrndup(ll->lr->out.s, ll->lr->out.len);
    return true;
}

static bool listing_take_next(void *data, const xmlChar *v)
{
    struct listing_links *ll = data;

    if (!listing_accept(ll->lr, v))
        return true;
    ll->page->next = xstrndup(ll->lr->out.s, ll->lr->out.len);
    return false;
}

struct listing_base {
    struct listing_run *lr;
    char *url;
};

static bool listing_take_base(void *data, const xmlChar *v)
{
    struct listing_base *b = data;

    /* <base href> counts only when it is http(s) and in scope. */
    if (listing_accept(b->lr, v) && strncmp(b->lr->out.s, "http", 4) == 0)
        b->url = xstrndup(b->lr->out.s, b->lr->out.len);
    return false;
}

int discover_listing_parse(const struct discover_listing *l, const char *body, size_t len,
                           const char *page_url, struct discover_page *out)
{
    struct listing_run lr = {.l = l};
    struct listing_links ll = {.lr = &lr, .page = out};
    struct xpath_err x = {{0}};
    htmlDocPtr doc = NULL;
    xmlXPathContextPtr ctx = NULL;
    struct listing_base base = {.lr = &lr};
    char *page;
    const char *why;
    int rc = 0;

    page = discover_url_normalize(page_url, l->flags | DISCOVER_ALLOW_FILE, &why);
    if (page == NULL) {
        snprintf(out->errmsg, sizeof(out->errmsg), "page URL refused: %s", why);
        return -EINVAL;
    }
    lr.page = lr.base = page;
    if (len > INT_MAX) {
        snprintf(out->errmsg, sizeof(out->errmsg), "page too large");
        rc = -EFBIG;
        goto out;
    }
    doc = htmlReadMemory(body, (int)len, page, NULL,
                         HTML_PARSE_RECOVER | HTML_PARSE_NONET | HTML_PARSE_NOERROR |
                             HTML_PARSE_NOWARNING | HTML_PARSE_COMPACT);
    if (doc == NULL) {
        snprintf(out->errmsg, sizeof(out->errmsg), "page does not parse as HTML");
        rc = -EBADMSG;
        goto out;
    }
    if ((ctx = xmlXPathNewContext(doc)) == NULL) {
        snprintf(out->errmsg, sizeof(out->errmsg), "cannot create an XPath context");
        rc = -ENOMEM;
        goto out;
    }
    ctx->error = discover_xpath_error;
    ctx->userData = &x;
    ctx->opLimit = DISCOVER_XPATH_OP_LIMIT;
    if (listing_eval(ctx, l->base, listing_take_base, &base) == 0 && base.url != NULL)
        lr.base = base.url;
    ctx->opCount = 0;
    if (listing_eval(ctx, l->links, listing_take_link, &ll) != 0) {
        snprintf(out->errmsg, sizeof(out->errmsg), "links XPath failed: %s",
                 x.msg[0] ? x.msg : "evaluation error");
        rc = -EINVAL;
        goto out;
    }
    ctx->opCount = 0;
    if (l->next != NULL && listing_eval(ctx, l->next, listing_take_next, &ll) != 0) {
        snprintf(out->errmsg, sizeof(out->errmsg), "next-link XPath failed: %s",
                 x.msg[0] ? x.msg : "evaluation error");
        rc = -EINVAL;
        goto out;
    }
out:
    xmlXPathFreeContext(ctx);
    xmlFreeDoc(doc);
    urlset_release(&ll.seen);
    strbuf_release(&lr.out);
    strbuf_release(&lr.tmp);
    strbuf_release(&lr.tmp2);
    free(base.url);
    free(page);
    return rc;
}

void discover_page_clear(struct discover_page *p)
{
    for (size_t i = 0; i < p->n; i++)
        free(p->links[i]);
    free(p->links);
    free(p->next);
    memset(p, 0, sizeof(*p));
}

char *discover_listing_page_url(const char *tmpl, unsigned long n, unsigned flags,
                                const char **reason)
{
    struct strbuf b = STRBUF_INIT;
    const char *p = tmpl, *q;
    char *url;

    if (strstr(tmpl, "{page}") == NULL) {
        if (reason != NULL)
            *reason = "listing template has no {page}";
        return NULL;
    }
    while ((q = strstr(p, "{page}")) != NULL) {
        strbuf_add(&b, p, (size_t)(q - p));
        strbuf_addf(&b, "%lu", n);
        p = q + 6;
    }
    strbuf_adds(&b, p);
    url = discover_url_normalize(strbuf_str(&b), flags, reason);
    strbuf_release(&b);
    return url;
}

/* ---- The listing walk ---------------------------------------------------- */

struct discover_listing_state {
    enum discover_listing_status status;
    enum discover_listing_mode mode;
    char *tmpl; /* NULL: follow next links */
    unsigned long page_no, max_pages, pages;
    unsigned flags;
    char *url;            /* the page to fetch now */
    struct urlset links;  /* record links listed in this run */
    struct urlset walked; /* pages stepped over in this run */
};

struct discover_listing_state *
discover_listing_state_new(const struct discover_listing_state_options *o, char *err, size_t errlen)
{
    struct discover_listing_state *s;
    const char *why;
    char *url;

    if (strstr(o->start, "{page}") != NULL)
        url = discover_listing_page_url(o->start, o->first_page, o->url_flags, &why);
    else
        url = discover_url_normalize(o->start, o->url_flags, &why);
    if (url == NULL) {
        discover_set_err(err, errlen, "listing %s: %s", o->start, why);
        return NULL;
    }
    s = xcalloc(1, sizeof(*s));
    s->status = DISCOVER_LISTING_FETCH;
    s->mode = o->mode;
    s->tmpl = strstr(o->start, "{page}") != NULL ? xstrdup(o->start) : NULL;
    s->page_no = o->first_page;
    s->max_pages = o->max_pages;
    s->flags = o->url_flags;
    s->url = url;
    return s;
}

void discover_listing_state_free(struct discover_listing_state *s)
{
    if (s == NULL)
        return;
    free(s->tmpl);
    free(s->url);
    urlset_release(&s->links);
    urlset_release(&s->walked);
    free(s);
}

enum discover_listing_status discover_listing_state_status(const struct discover_listing_state *s)
{
    return s->status;
}

const char *discover_listing_state_url(const struct discover_listing_state *s)
{
    return s->status == DISCOVER_LISTING_FETCH ? s->url : NULL;
}

unsigned long discover_listing_state_pages(const struct discover_listing_state *s)
{
    return s->pages;
}

/* Move to the page after the current one, or end the walk. */
static enum discover_listing_status listing_advance(struct discover_listing_state *s,
                                                    const struct discover_page *page)
{
    char *next;

    if (s->max_pages != 0 && s->pages >= s->max_pages)
        return DISCOVER_LISTING_END_LIMIT;
    if (s->tmpl != NULL) {
        next = discover_listing_page_url(s->tmpl, ++s->page_no, s->flags, NULL);
        if (next == NULL)
            return DISCOVER_LISTING_END_FAILED;
    } else {
        if (page->next == NULL)
            return DISCOVER_LISTING_END_NO_NEXT;
        next = discover_url_normalize(page->next, s->flags, NULL);
        if (next == NULL)
            return DISCOVER_LISTING_END_NO_NEXT;
        if (urlset_has(&s->walked, next, strlen(next))) {
            free(next);
            return DISCOVER_LISTING_END_LOOP;
        }
    }
    free(s->url);
    s->url = next;
    return DISCOVER_LISTING_FETCH;
}

enum discover_listing_status discover_listing_step(struct discover_listing_state *s,
                                                   const struct discover_page *page,
                                                   discover_known_fn known, void *data,
                                                   size_t *fresh)
{
    size_t unseen = 0, nfresh = 0;

    if (fresh != NULL)
        *fresh = 0;
    if (s->status != DISCOVER_LISTING_FETCH)
        return s->status;
    s->pages++;
    urlset_add(&s->walked, s->url, strlen(s->url));
    for (size_t i = 0; i < page->n; i++) {
        if (!urlset_add(&s->links, page->links[i], strlen(page->links[i])))
            continue;
        unseen++;
        if (known == NULL || !known(page->links[i], data))
            nfresh++;
    }
    if (fresh != NULL)
        *fresh = nfresh;
    if (page->n == 0)
        s->status = DISCOVER_LISTING_END_EMPTY;
    else if (unseen == 0)
        s->status = DISCOVER_LISTING_END_REPEAT;
    else if (s->mode == DISCOVER_LISTING_INCREMENTAL && nfresh == 0)
        s->status = DISCOVER_LISTING_END_NOTHING_NEW;
    else
        s->status = listing_advance(s, page);
    return s->status;
}

enum discover_listing_status discover_listing_fail(struct discover_listing_state *s)
{
    if (s->status == DISCOVER_LISTING_FETCH)
        s->status = DISCOVER_LISTING_END_FAILED;
    return s->status;
}

const char *discover_listing_status_name(enum discover_listing_status status)
{
    switch (status) {
    case DISCOVER_LISTING_FETCH:
        return "FETCH";
    case DISCOVER_LISTING_END_EMPTY:
        return "END_EMPTY";
    case DISCOVER_LISTING_END_REPEAT:
        return "END_REPEAT";
    case DISCOVER_LISTING_END_NO_NEXT:
        return "END_NO_NEXT";
    case DISCOVER_LISTING_END_LOOP:
        return "END_LOOP";
    case DISCOVER_LISTING_END_LIMIT:
        return "END_LIMIT";
    case DISCOVER_LISTING_END_NOTHING_NEW:
        return "END_NOTHING_NEW";
    case DISCOVER_LISTING_END_FAILED:
        return "END_FAILED";
    }
    return "?";
}
