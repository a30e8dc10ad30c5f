/*
 * record: the record model, declared once. Extraction fills it, the
 * catalog stores it, provctl prints it. Plain data: every string is a
 * heap-allocated, NUL-terminated, valid UTF-8 string owned by the struct,
 * or NULL when the page does not have the field.
 */
#ifndef PROVD_RECORD_H
#define PROVD_RECORD_H

#include <stdbool.h>
#include <stddef.h>

/* A list of owned strings, in order. */
struct strlist {
    char **v;
    size_t n;
    size_t cap;
};

/* One archival reference inside a Source text (PROVENANCE.md §3). */
struct citation {
    char *archive;   /* "RGASPI", "AP RF" written "APRF", ...; NULL if none */
    char *fund;      /* identifier as written, no abbreviation: "558", "059a" */
    char *inventory; /* opis */
    char *folder;    /* papka */
    char *file;      /* delo */
    char *sheets;    /* canonical: "11-12", "11, 12", "12ob"; NULL if none */
    char *text;      /* the raw text of this citation */
};

struct record {
    char *url;       /* where the page came from (file name or URL) */
    char *record_id; /* the page's own record id */
    char *title;
    char *date;     /* as displayed */
    char *date_iso; /* YYYY-MM-DD, YYYY-MM or YYYY */
    char *summary;
    char *type;
    struct strlist languages;
    struct strlist original_archives;
    char *classification;
    char *uploaded;
    struct strlist funders;
    struct strlist subjects;
    struct strlist people;
    struct strlist places;
    char *source; /* whole Source text, white space normalised */
    struct citation *citations;
    size_t n_citations;
    size_t cap_citations; /* allocated entries of citations */
    struct strlist contributors;
    struct strlist translators;
    char *text;   /* document text (translation), for full-text search */
    bool partial; /* the parse stopped early (PARSE_PARTIAL) */
};

/* Append a copy of s. */
void strlist_add(struct strlist *l, const char *s);
/* Append s, taking ownership of it. */
void strlist_add_steal(struct strlist *l, char *s);
/* True when l holds a string equal to s. */
bool strlist_contains(const struct strlist *l, const char *s);
/* Free every string; l is empty afterwards and may be reused. */
void strlist_clear(struct strlist *l);
/* Replace dst's contents with copies of src's. */
void strlist_copy(struct strlist *dst, const struct strlist *src);

/* A new, empty record. */
struct record *record_new(void);
/* Free r and everything it owns; NULL is allowed. */
void record_free(struct record *r);
/* A deep copy of r. */
struct record *record_dup(const struct record *r);
/* Append a citation; the record takes the strings of c (c is zeroed). */
void record_add_citation_steal(struct record *r, struct citation *c);
/* Free the strings of c and zero it. */
void citation_clear(struct citation *c);
/* Replace *field with a copy of value (NULL allowed). */
void record_set(char **field, const char *value);

#endif
