/*
 * provenance_credit: the credit sentences of a Source text ("Contributed by
 * X and translated by Y.") — internal to harvest/, used by provenance.c.
 */
#ifndef PROVD_PROVENANCE_CREDIT_H
#define PROVD_PROVENANCE_CREDIT_H

#include "provenance_scan.h"
#include "record.h"

#include <stddef.h>

/* Find every credit sentence in the valid UTF-8 text s of n bytes, append
 * the people it names to r->contributors and r->translators (in order,
 * each name once), and return the number of credit sentences. *spans
 * receives a new array (the caller frees it; NULL when there is none) of
 * their byte ranges, in order and not overlapping, so the caller can skip
 * them when it looks for citations. A "Translated by" inside a published
 * book's reference is not a credit and is not returned. Linear in n. */
size_t provenance_credit_scan(const char *s, size_t n, struct record *r,
                              struct provenance_span **spans);

#endif
