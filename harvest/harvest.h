/*
 * harvest: the public interface of the harvest folder — extraction
 * profiles, page extraction and the provenance parser (and, later, the
 * fetch engine). daemon/ and tests include this header only; everything
 * else in harvest/ is internal. Nothing here logs or touches SQLite.
 */
#ifndef PROVD_HARVEST_H
#define PROVD_HARVEST_H

#include "errors.h"
#include "record.h"

#include <stddef.h>

/* ---- Provenance parser (harvest/provenance.c; no libxml2) ------------ */

/* Parse a Source text (already white-space normalised) and append its
 * citations to r->citations and its credits to r->contributors and
 * r->translators, in the canonical forms of PROVENANCE.md §3. Never fails:
 * text with no citation or credit adds nothing. */
void provenance_parse(const char *source, struct record *r);

/* ---- Extraction profiles (harvest/profile.c) ------------------------- */

/* A profile is data: for each record field, a post-step and an XPath
 * (see docs/provd.conf.5 for the spec syntax). Opaque. */
struct profile;

/* The built-in profile called name ("wilson"), or NULL. Static storage;
 * never freed. */
const struct profile *profile_builtin(const char *name);

/* A new profile called name with no fields; the caller frees it. */
struct profile *profile_new(const char *name);

/* Free p and what it owns; NULL is allowed. Built-in profiles must not be
 * passed. */
void profile_free(struct profile *p);

/* The profile's name; lives as long as p. */
const char *profile_name(const struct profile *p);

/* Set field (a record field name such as "title" or "source", or an
 * option such as "blocked-marker") from a one-line spec. Returns 0, or
 * -EINVAL with a message in err (at most errlen bytes) when the field is
 * unknown, the step is unknown or the XPath does not compile. */
int profile_set(struct profile *p, const char *field, const char *spec, char *err, size_t errlen);

/* Check that p can be used: the required fields (record_id, title) are
 * set. Returns 0 or -EINVAL with a message in err. */
int profile_check(const struct profile *p, char *err, size_t errlen);

/* ---- Page extraction (harvest/extract.c) ----------------------------- */

struct extract_result {
    struct record *record;       /* owned by the result; NULL on failure */
    enum prov_category category; /* PROV_OK, PROV_PARSE_PARTIAL (record set,
                                    partial), PROV_EXTRACT_EMPTY,
                                    PROV_BLOCKED, PROV_PARSE_TIMEOUT, ... */
    char reason[256];            /* human-readable reason when not PROV_OK */
};

/* Extract one page of len bytes with profile p. url names the page (it
 * becomes record->url); charset is the HTTP header's charset or NULL. On
 * success returns 0 and res->record is set (category PROV_OK, or
 * PROV_PARSE_PARTIAL with record->partial set). When the page is not a
 * record page, or cannot be parsed, returns a negative errno with
 * res->category and res->reason set and no record. The caller calls
 * extract_result_clear() in both cases. */
int extract_page(const struct profile *p, const char *body, size_t len, const char *url,
                 const char *charset, struct extract_result *res);

/* Free what res owns; res may be reused. */
void extract_result_clear(struct extract_result *res);

/* Turn a displayed date ("November 22, 1945", "February 1946", "1958",
 * "July 06, 1945") into YYYY-MM-DD, YYYY-MM or YYYY; NULL when the text is
 * not a date. The caller frees the result. */
char *extract_date_iso(const char *displayed);

/* Process-wide set-up of libxml2 (xmlInitParser, catalogs off, silent
 * errors); call once from main() before any extraction. */
void extract_global_init(void);

#endif
