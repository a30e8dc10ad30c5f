/*
 * extract_fields: runs a profile's rules over one parsed page and fills
 * the record. Internal to harvest/.
 */
#ifndef PROVD_EXTRACT_FIELDS_H
#define PROVD_EXTRACT_FIELDS_H

#include "errors.h"
#include "profile_internal.h"
#include "record.h"

#include <libxml/tree.h>
#include <libxml/xpath.h>
#include <stdbool.h>

/* Cost limit of one XPath evaluation (libxml2 operations). */
#define EXTRACT_XPATH_OP_LIMIT 10000000ul

struct extract_block;
struct extract_mark;

/* One page being read: the parsed document, its XPath context and the
 * results of the profile's expressions, each evaluated at most once. */
struct extract_doc {
    const struct profile *p;
    xmlDocPtr doc;                /* borrowed */
    xmlXPathContextPtr xp;        /* fresh for this page */
    xmlXPathObjectPtr *results;   /* by profile XPath index; NULL = not yet */
    struct extract_block *blocks; /* information blocks, built on first use */
    size_t n_blocks;
    bool blocks_ready;
    struct extract_mark *marks; /* what the block nodes' _private point to */
    xmlNodePtr *headings;       /* section headings, in document order */
    char **heading_keys;        /* their label keys */
    size_t n_headings;
    bool headings_ready;
    bool ordered;                /* xmlXPathOrderDocElems() has run */
    enum prov_category category; /* why a step failed */
    char reason[256];
};

/* Prepare d for doc with profile p. Returns 0, or -ENOMEM-like failure
 * (-EIO) when libxml2 cannot make an XPath context. */
int extract_fields_init(struct extract_doc *d, const struct profile *p, xmlDocPtr doc);

/* Run the rules of fields [from, to) (enum profile_field) into r. Returns
 * 0, or a negative errno with d->category and d->reason set: -EBADMSG
 * (EXTRACT_AMBIGUOUS: a one-value field matched several nodes), -ETIME
 * (PARSE_TIMEOUT: an XPath hit its cost limit), -EINVAL (CONFIG: an
 * XPath gave the wrong kind of value), -EIO (INTERNAL). */
int extract_fields_run(struct extract_doc *d, struct record *r, int from, int to);

/* Free what d owns (not the document). */
void extract_fields_release(struct extract_doc *d);

#endif
