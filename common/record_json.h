/*
 * record_json: the record model to and from JSON (PROVENANCE.md §3), with
 * jansson. The key order is the order of §3.
 */
#ifndef PROVD_RECORD_JSON_H
#define PROVD_RECORD_JSON_H

#include "record.h"

#include <jansson.h>

enum {
    RECORD_JSON_TEXT = 1 << 0, /* include the document text as "text" */
};

/* A new JSON object for r (a new reference, the caller decrefs it). Absent
 * fields are null, absent lists empty; "partial": true is added only for a
 * partial parse. */
json_t *record_to_json(const struct record *r, unsigned flags);

/* A new record from a JSON object in the shape record_to_json() writes;
 * unknown keys are ignored. On a wrong type returns NULL and sets *err to
 * a static message naming the key. */
struct record *record_from_json(const json_t *o, const char **err);

/* Serialise r as one line of compact JSON (no newline); the caller frees
 * the string. */
char *record_to_json_line(const struct record *r, unsigned flags);

#endif
