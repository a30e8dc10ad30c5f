/*
 * profile_internal: the inside of an extraction profile, shared by
 * profile.c (which builds profiles), the extract_* files (which run them)
 * and the extraction benchmark. Not part of harvest.h: nothing outside
 * harvest/ and bench/ may rely on it.
 */
#ifndef PROVD_PROFILE_INTERNAL_H
#define PROVD_PROFILE_INTERNAL_H

#include "harvest.h"
#include "record.h"

#include <libxml/xpath.h>
#include <stdbool.h>
#include <stddef.h>

/* The record fields a profile can fill, in the order extraction runs
 * them: the required fields first, so a page without them is rejected
 * before any other work. */
enum profile_field {
    PROFILE_F_RECORD_ID,
    PROFILE_F_TITLE,
    PROFILE_F_DATE,
    PROFILE_F_SUMMARY,
    PROFILE_F_TYPE,
    PROFILE_F_LANGUAGES,
    PROFILE_F_ORIGINAL_ARCHIVES,
    PROFILE_F_CLASSIFICATION,
    PROFILE_F_UPLOADED,
    PROFILE_F_FUNDERS,
    PROFILE_F_SUBJECTS,
    PROFILE_F_PEOPLE,
    PROFILE_F_PLACES,
    PROFILE_F_SOURCE,
    PROFILE_F_TEXT,
    PROFILE_NFIELDS
};

/* Number of leading fields of enum profile_field that every profile must
 * set and every record page must have (record_id, title). */
#define PROFILE_NREQUIRED 2

enum profile_kind {
    PROFILE_SCALAR, /* one string (char * in struct record) */
    PROFILE_LIST,   /* a struct strlist */
};

struct profile_field_def {
    const char *name; /* as in the JSON record and the configuration */
    enum profile_kind kind;
    size_t offset; /* of the char * or struct strlist in struct record */
};

/* Indexed by enum profile_field. */
extern const struct profile_field_def profile_fields[PROFILE_NFIELDS];

/* Profile-wide settings that the block and section steps read. Each is an
 * XPath evaluated once per page. */
enum profile_option {
    PROFILE_O_BLOCKS,      /* the information blocks */
    PROFILE_O_BLOCK_LABEL, /* label elements; each belongs to its nearest block */
    PROFILE_O_BLOCK_VALUE, /* value elements; each belongs to its nearest block */
    PROFILE_O_BLOCK_PILL,  /* list items inside block values (optional) */
    PROFILE_O_HEADINGS,    /* section headings */
    PROFILE_NOPTIONS
};

enum profile_step {
    PROFILE_STEP_NONE = 0,
    PROFILE_STEP_TEXT,    /* text XPATH: string value of the one node */
    PROFILE_STEP_ATTR,    /* attr NAME XPATH: an attribute of the node(s) */
    PROFILE_STEP_PILLS,   /* pills XPATH: string value of each node */
    PROFILE_STEP_BLOCK,   /* block "LABEL" [first-before "LABEL"] */
    PROFILE_STEP_SECTION, /* section "HEADING" XPATH */
    PROFILE_STEP_AFTER,   /* after "PHRASE" XPATH */
};

struct profile_rule {
    enum profile_step step;
    char *arg;      /* ATTR: attribute name; BLOCK, SECTION: label as
                       written; AFTER: the phrase; else NULL */
    char *key;      /* BLOCK, SECTION: arg as profile_label_key() folds it */
    char *fallback; /* BLOCK first-before: key of the label that follows
                       an unlabelled first block; else NULL */
    int xpath;      /* index into profile->xpaths, or -1 */
};

struct profile_xpath {
    char *expr;
    xmlXPathCompExprPtr comp; /* compiled once, shared by every page */
};

struct profile {
    char *name;
    struct profile_rule rules[PROFILE_NFIELDS];
    int options[PROFILE_NOPTIONS]; /* index into xpaths, or -1 */
    struct profile_xpath *xpaths;  /* unique expressions */
    size_t n_xpaths;
    size_t cap_xpaths;
    struct strlist markers; /* extra bot-challenge phrases, ASCII lower case */
};

/* A label, heading or phrase as extraction compares it: white space
 * squashed, case and Latin accents folded (text_fold), trailing colons
 * removed. s must be valid UTF-8; the caller frees the result. */
char *profile_label_key(const char *s);

/* A short description of a libxml2 XPath error code (xmlError.code,
 * XML_XPATH_EXPRESSION_OK + xmlXPathError); static storage. */
const char *profile_xpath_strerror(int code);

/* The number of distinct XPath expressions of p, and the i-th one; used by
 * the benchmark to evaluate exactly the profile's XPath set. */
size_t profile_xpath_count(const struct profile *p);
const struct profile_xpath *profile_xpath_at(const struct profile *p, size_t i);

#endif
