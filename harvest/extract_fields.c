/*
 * extract_fields: the post-steps of a profile (text, attr, pills, block,
 * section, after) over one parsed page. Every XPath of the profile is
 * evaluated at most once per page, with a fresh XPath context and a cost
 * limit reset before each evaluation; information blocks and section
 * headings are matched to their labels, values and items in one pass
 * over those results, never by re-walking the tree. Owns the XPath
 * context and results of the page; borrows the document, whose nodes'
 * _private pointers it uses while it works and clears when done.
 */
#include "extract_fields.h"

#include "extract_text.h"
#include "xmalloc.h"

#include <errno.h>
#include <libxml/xmlerror.h>
#include <stdlib.h>
#include <string.h>

struct extract_block {
    xmlNodePtr node;
    xmlNodePtr label;  /* NULL when the block has none */
    xmlNodePtr value;  /* NULL when the block has none */
    char *key;         /* the label's key, "" without a label */
    xmlNodePtr *items; /* block-pill nodes inside the block's value */
    size_t n_items;
    size_t cap_items;
};

enum extract_mark_kind {
    EXTRACT_MARK_BLOCK,
    EXTRACT_MARK_VALUE,
};

/* What a block or value node's _private points to while a page is read. */
struct extract_mark {
    enum extract_mark_kind kind;
    size_t block;
    xmlNodePtr node;
};

static void extract_fields_xpath_error(void *data, xmlErrorPtr e)
{
    (void)data;
    (void)e; /* read from xp->lastError instead */
}

int extract_fields_init(struct extract_doc *d, const struct profile *p, xmlDocPtr doc)
{
    memset(d, 0, sizeof(*d));
    d->p = p;
    d->doc = doc;
    d->xp = xmlXPathNewContext(doc);
    if (d->xp == NULL) {
        d->category = PROV_INTERNAL;
        extract_text_reason(d->reason, sizeof(d->reason),
                            "libxml2 could not make an XPath context");
        return -EIO;
    }
    d->xp->error = extract_fields_xpath_error;
    d->xp->opLimit = EXTRACT_XPATH_OP_LIMIT;
    d->results = xcalloc(p->n_xpaths ? p->n_xpaths : 1, sizeof(*d->results));
    return 0;
}

void extract_fields_release(struct extract_doc *d)
{
    for (size_t i = 0; d->blocks != NULL && i < d->n_blocks; i++) {
        free(d->blocks[i].key);
        free(d->blocks[i].items);
    }
    for (size_t i = 0; d->marks != NULL && i < 2 * d->n_blocks; i++)
        if (d->marks[i].node != NULL)
            d->marks[i].node->_private = NULL;
    free(d->blocks);
    free(d->marks);
    for (size_t i = 0; i < d->n_headings; i++)
        free(d->heading_keys[i]);
    free(d->heading_keys);
    free(d->headings);
    for (size_t i = 0; d->results != NULL && i < d->p->n_xpaths; i++)
        xmlXPathFreeObject(d->results[i]);
    free(d->results);
    xmlXPathFreeContext(d->xp);
    memset(d, 0, sizeof(*d));
}

static int extract_fields_fail(struct extract_doc *d, enum prov_category c, int rc,
                               const char *what, const char *detail)
{
    d->category = c;
    extract_text_reason(d->reason, sizeof(d->reason), "%s: %s", what, detail);
    return rc;
}

/* Set *out to the result of XPath idx, evaluated now if it was not yet.
 * Returns 0, or a negative errno with d->category and d->reason set. */
static int extract_fields_eval(struct extract_doc *d, int idx, const char *what,
                               xmlXPathObjectPtr *out)
{
    const struct profile_xpath *x = &d->p->xpaths[idx];
    int code;

    *out = d->results[idx];
    if (*out != NULL)
        return 0;
    d->xp->node = (xmlNodePtr)d->doc;
    d->xp->opCount = 0;
    xmlResetError(&d->xp->lastError);
    *out = d->results[idx] = xmlXPathCompiledEval(x->comp, d->xp);
    if (*out != NULL)
        return 0;
    code = d->xp->lastError.code - XML_XPATH_EXPRESSION_OK;
    if (code == XPATH_OP_LIMIT_EXCEEDED || code == XPATH_RECURSION_LIMIT_EXCEEDED)
        return extract_fields_fail(d, PROV_PARSE_TIMEOUT, -ETIME, what,
                                   "the XPath went over its cost limit (10000000 operations)");
    if (code == XPATH_MEMORY_ERROR)
        return extract_fields_fail(d, PROV_INTERNAL, -EIO, what, "out of memory in XPath");
    return extract_fields_fail(d, PROV_CONFIG, -EINVAL, what,
                               profile_xpath_strerror(d->xp->lastError.code));
}

/* The node set of XPath idx (NULL when empty) and its size in *n. Sets
 * *rc to 0, or to a negative errno (with d->category set) on failure or
 * when the expression gives something else than nodes. */
static xmlNodeSetPtr extract_fields_nodes(struct extract_doc *d, int idx, const char *what, int *n,
                                          int *rc)
{
    xmlXPathObjectPtr res;

    *n = 0;
    *rc = extract_fields_eval(d, idx, what, &res);
    if (*rc < 0)
        return NULL;
    if (res->type != XPATH_NODESET) {
        *rc = extract_fields_fail(d, PROV_CONFIG, -EINVAL, what, "the XPath does not select nodes");
        return NULL;
    }
    *n = res->nodesetval ? res->nodesetval->nodeNr : 0;
    return res->nodesetval;
}

static struct extract_mark *extract_fields_mark_of(xmlNodePtr n)
{
    /* only element nodes are ever marked; others' _private is left alone */
    return n->type == XML_ELEMENT_NODE ? n->_private : NULL;
}

/* The nearest block enclosing n (n excluded), or -1. */
static long extract_fields_owner(xmlNodePtr n)
{
    for (n = n->parent; n != NULL; n = n->parent) {
        struct extract_mark *m = extract_fields_mark_of(n);

        if (m != NULL && m->kind == EXTRACT_MARK_BLOCK)
            return (long)m->block;
    }
    return -1;
}

/* The block whose list item n is: n must sit inside the block's value, or
 * anywhere in a block that has no value element. -1 otherwise. */
static long extract_fields_item_owner(const struct extract_doc *d, xmlNodePtr n)
{
    for (n = n->parent; n != NULL; n = n->parent) {
        struct extract_mark *m = extract_fields_mark_of(n);

        if (m == NULL)
            continue;
        if (m->kind == EXTRACT_MARK_VALUE || d->blocks[m->block].value == NULL)
            return (long)m->block;
        return -1;
    }
    return -1;
}

static int extract_fields_blocks_build(struct extract_doc *d)
{
    const int *opt = d->p->options;
    xmlNodeSetPtr set;
    int n, rc;

    if (d->blocks_ready)
        return 0;
    set = extract_fields_nodes(d, opt[PROFILE_O_BLOCKS], "blocks", &n, &rc);
    if (rc < 0)
        return rc;
    d->blocks = xcalloc(n ? (size_t)n : 1, sizeof(*d->blocks));
    d->marks = xcalloc(n ? 2 * (size_t)n : 1, sizeof(*d->marks));
    for (int i = 0; i < n; i++) {
        xmlNodePtr node = set->nodeTab[i];
        size_t k = d->n_blocks;

        if (node->type != XML_ELEMENT_NODE || node->_private != NULL)
            continue;
        d->blocks[k].node = node;
        d->marks[k] = (struct extract_mark){EXTRACT_MARK_BLOCK, k, node};
        node->_private = &d->marks[k];
        d->n_blocks++;
    }
    d->blocks_ready = true;
    set = extract_fields_nodes(d, opt[PROFILE_O_BLOCK_LABEL], "block-label", &n, &rc);
    if (rc < 0)
        return rc;
    for (int i = 0; i < n; i++) {
        xmlNodePtr node = set->nodeTab[i];
        long b = node->type != XML_NAMESPACE_DECL ? extract_fields_owner(node) : -1;

        if (b >= 0 && d->blocks[b].label == NULL)
            d->blocks[b].label = node;
    }
    set = extract_fields_nodes(d, opt[PROFILE_O_BLOCK_VALUE], "block-value", &n, &rc);
    if (rc < 0)
        return rc;
    for (int i = 0; i < n; i++) {
        xmlNodePtr node = set->nodeTab[i];
        long b = node->type != XML_NAMESPACE_DECL && extract_fields_mark_of(node) == NULL
                     ? extract_fields_owner(node)
                     : -1;
        size_t k;

        if (b < 0 || d->blocks[b].value != NULL || d->blocks[b].label == node)
            continue;
        d->blocks[b].value = node;
        if (node->type != XML_ELEMENT_NODE)
            continue; /* a text or attribute value holds no items */
        k = d->n_blocks + (size_t)b;
        d->marks[k] = (struct extract_mark){EXTRACT_MARK_VALUE, (size_t)b, node};
        node->_private = &d->marks[k];
    }
    for (size_t i = 0; i < d->n_blocks; i++) {
        char *label = d->blocks[i].label ? extract_text_of(d->blocks[i].label, NULL) : NULL;

        d->blocks[i].key = label ? profile_label_key(label) : xstrdup("");
        free(label);
    }
    if (opt[PROFILE_O_BLOCK_PILL] < 0)
        return 0;
    set = extract_fields_nodes(d, opt[PROFILE_O_BLOCK_PILL], "block-pill", &n, &rc);
    if (rc < 0)
        return rc;
    for (int i = 0; i < n; i++) {
        xmlNodePtr node = set->nodeTab[i];
        long b = node->type != XML_NAMESPACE_DECL ? extract_fields_item_owner(d, node) : -1;
        struct extract_block *blk;

        if (b < 0)
            continue;
        blk = &d->blocks[b];
        if (blk->n_items == blk->cap_items) {
            blk->cap_items = blk->cap_items ? blk->cap_items * 2 : 4;
            blk->items = xreallocarray(blk->items, blk->cap_items, sizeof(*blk->items));
        }
        blk->items[blk->n_items++] = node;
    }
    return 0;
}

/* Store value (owned) into field f of r: set a scalar, or append to a list
 * unless it is already there. */
static void extract_fields_store(struct record *r, enum profile_field f, char *value)
{
    const struct profile_field_def *def = &profile_fields[f];
    char *base = (char *)r + def->offset;

    if (value == NULL)
        return;
    if (def->kind == PROFILE_SCALAR) {
        char **slot = (char **)(void *)base;

        free(*slot);
        *slot = value;
        return;
    }
    if (strlist_contains((struct strlist *)(void *)base, value))
        free(value);
    else
        strlist_add_steal((struct strlist *)(void *)base, value);
}

static int extract_fields_ambiguous(struct extract_doc *d, enum profile_field f, int n)
{
    char detail[96];

    snprintf(detail, sizeof(detail), "the selector matched %d nodes where one was expected", n);
    return extract_fields_fail(d, PROV_EXTRACT_AMBIGUOUS, -EBADMSG, profile_fields[f].name, detail);
}

static void extract_fields_block_value(struct extract_block *b, enum profile_kind kind,
                                       struct record *r, enum profile_field f)
{
    if (kind == PROFILE_LIST && b->n_items > 0) {
        for (size_t i = 0; i < b->n_items; i++)
            extract_fields_store(r, f, extract_text_of(b->items[i], NULL));
        return;
    }
    if (b->value != NULL)
        extract_fields_store(r, f, extract_text_of(b->value, NULL));
    else
        extract_fields_store(r, f, extract_text_of(b->node, b->label));
}

static int extract_fields_step_block(struct extract_doc *d, const struct profile_rule *rule,
                                     struct record *r, enum profile_field f)
{
    enum profile_kind kind = profile_fields[f].kind;
    size_t found = 0, first = 0;
    int rc = extract_fields_blocks_build(d);

    if (rc < 0)
        return rc;
    for (size_t i = 0; i < d->n_blocks; i++) {
        if (strcmp(d->blocks[i].key, rule->key) != 0)
            continue;
        if (found++ == 0)
            first = i;
    }
    if (found > 1 && kind == PROFILE_SCALAR)
        return extract_fields_ambiguous(d, f, (int)found);
    if (found == 0 && rule->fallback != NULL && d->n_blocks > 1 && d->blocks[0].key[0] == '\0') {
        /* An unlabelled first block stands for the label when the block
         * that normally follows it is there (PROVENANCE.md §1). */
        for (size_t i = 1; i < d->n_blocks; i++) {
            if (strcmp(d->blocks[i].key, rule->fallback) == 0) {
                found = 1;
                first = 0;
                break;
            }
        }
    }
    if (found == 0)
        return 0;
    if (kind == PROFILE_SCALAR) {
        extract_fields_block_value(&d->blocks[first], kind, r, f);
        return 0;
    }
    for (size_t i = first; i < d->n_blocks; i++)
        if (i == first || strcmp(d->blocks[i].key, rule->key) == 0)
            extract_fields_block_value(&d->blocks[i], kind, r, f);
    return 0;
}

/* Build the list of section headings once: their nodes in document order
 * (namespace nodes, which have no place in the tree, left out) and keys. */
static int extract_fields_headings(struct extract_doc *d)
{
    xmlNodeSetPtr set;
    int n, rc;

    if (d->headings_ready)
        return 0;
    set = extract_fields_nodes(d, d->p->options[PROFILE_O_HEADINGS], "headings", &n, &rc);
    if (rc < 0)
        return rc;
    d->headings = xcalloc(n ? (size_t)n : 1, sizeof(*d->headings));
    d->heading_keys = xcalloc(n ? (size_t)n : 1, sizeof(*d->heading_keys));
    for (int i = 0; i < n; i++) {
        xmlNodePtr node = set->nodeTab[i];
        char *t;

        if (node->type == XML_NAMESPACE_DECL)
            continue;
        t = extract_text_of(node, NULL);
        d->headings[d->n_headings] = node;
        d->heading_keys[d->n_headings++] = t ? profile_label_key(t) : xstrdup("");
        free(t);
    }
    d->headings_ready = true;
    if (!d->ordered) {
        /* numbers the elements, so that comparing two is O(1) */
        xmlXPathOrderDocElems(d->doc);
        d->ordered = true;
    }
    return 0;
}

static int extract_fields_step_section(struct extract_doc *d, const struct profile_rule *rule,
                                       struct record *r, enum profile_field f)
{
    const char *name = profile_fields[f].name;
    size_t h = 0; /* headings before the current node */
    xmlNodeSetPtr set;
    int n, rc, matched = 0;
    xmlNodePtr one = NULL;

    rc = extract_fields_headings(d);
    if (rc < 0)
        return rc;
    set = extract_fields_nodes(d, rule->xpath, name, &n, &rc);
    if (rc < 0)
        return rc;
    for (int i = 0; i < n; i++) {
        xmlNodePtr node = set->nodeTab[i];

        if (node->type == XML_NAMESPACE_DECL)
            continue;
        while (h < d->n_headings && xmlXPathCmpNodes(d->headings[h], node) == 1)
            h++;
        if (h == 0 || strcmp(d->heading_keys[h - 1], rule->key) != 0)
            continue;
        if (profile_fields[f].kind == PROFILE_LIST)
            extract_fields_store(r, f, extract_text_of(node, NULL));
        else if (matched++ == 0)
            one = node;
    }
    if (matched > 1)
        return extract_fields_ambiguous(d, f, matched);
    if (one != NULL)
        extract_fields_store(r, f, extract_text_of(one, NULL));
    return 0;
}

static int extract_fields_step_after(struct extract_doc *d, const struct profile_rule *rule,
                                     struct record *r, enum profile_field f)
{
    xmlNodeSetPtr set;
    int n, rc, matched = 0;
    char *one = NULL;

    set = extract_fields_nodes(d, rule->xpath, profile_fields[f].name, &n, &rc);
    if (rc < 0)
        return rc;
    for (int i = 0; i < n; i++) {
        char *t = extract_text_of(set->nodeTab[i], NULL);
        const char *at = t ? extract_text_find(t, rule->arg) : NULL;

        if (at == NULL) {
            free(t);
            continue;
        }
        at += strlen(rule->arg);
        if (profile_fields[f].kind == PROFILE_LIST) {
            extract_text_names(at,
                               (struct strlist *)(void *)((char *)r + profile_fields[f].offset));
        } else if (matched++ == 0) {
            size_t len;

            while (*at == ' ' || *at == ':')
                at++;
            len = strlen(at);
            while (len > 0 && (at[len - 1] == '.' || at[len - 1] == ' '))
                len--;
            one = len > 0 ? xstrndup(at, len) : NULL;
        }
        free(t);
    }
    if (matched > 1) {
        free(one);
        return extract_fields_ambiguous(d, f, matched);
    }
    extract_fields_store(r, f, one);
    return 0;
}

static int extract_fields_step_nodes(struct extract_doc *d, const struct profile_rule *rule,
                                     struct record *r, enum profile_field f)
{
    enum profile_kind kind = profile_fields[f].kind;
    xmlXPathObjectPtr res;
    xmlNodeSetPtr set;
    int n, rc;

    rc = extract_fields_eval(d, rule->xpath, profile_fields[f].name, &res);
    if (rc < 0)
        return rc;
    if (res->type != XPATH_NODESET) {
        xmlChar *s;
        char *v;

        if (rule->step != PROFILE_STEP_TEXT)
            return extract_fields_fail(d, PROV_CONFIG, -EINVAL, profile_fields[f].name,
                                       "the XPath does not select nodes");
        s = xmlXPathCastToString(res);
        v = s ? extract_text_clean((const char *)s, strlen((const char *)s)) : NULL;
        xmlFree(s);
        extract_fields_store(r, f, v);
        return 0;
    }
    set = res->nodesetval;
    n = set ? set->nodeNr : 0;
    if (kind == PROFILE_SCALAR && n > 1)
        return extract_fields_ambiguous(d, f, n);
    for (int i = 0; i < n; i++) {
        xmlNodePtr node = set->nodeTab[i];

        if (rule->step != PROFILE_STEP_ATTR) {
            extract_fields_store(r, f, extract_text_of(node, NULL));
        } else if (node->type == XML_ELEMENT_NODE) {
            xmlChar *a = xmlGetProp(node, (const xmlChar *)rule->arg);

            if (a != NULL)
                extract_fields_store(r, f,
                                     extract_text_clean((const char *)a, strlen((const char *)a)));
            xmlFree(a);
        }
    }
    return 0;
}

int extract_fields_run(struct extract_doc *d, struct record *r, int from, int to)
{
    for (int f = from; f < to; f++) {
        const struct profile_rule *rule = &d->p->rules[f];
        int rc;

        switch (rule->step) {
        case PROFILE_STEP_TEXT:
        case PROFILE_STEP_ATTR:
        case PROFILE_STEP_PILLS:
            rc = extract_fields_step_nodes(d, rule, r, (enum profile_field)f);
            break;
        case PROFILE_STEP_BLOCK:
            rc = extract_fields_step_block(d, rule, r, (enum profile_field)f);
            break;
        case PROFILE_STEP_SECTION:
            rc = extract_fields_step_section(d, rule, r, (enum profile_field)f);
            break;
        case PROFILE_STEP_AFTER:
            rc = extract_fields_step_after(d, rule, r, (enum profile_field)f);
            break;
        default:
            rc = 0;
            break;
        }
        if (rc < 0)
            return rc;
    }
    return 0;
}
