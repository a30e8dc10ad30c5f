/*
 * provenance_name: archives' names in a Source text (internal to harvest/,
 * used by provenance.c). s is a valid UTF-8 string; offsets are bytes.
 */
#ifndef PROVD_PROVENANCE_NAME_H
#define PROVD_PROVENANCE_NAME_H

#include <stdbool.h>
#include <stddef.h>

/* The archive of a citation whose first part starts at y, searched in the
 * text [x, y) before it (n is the end of the text, for the sentence rule):
 * after the last ";" and full stop, the first of the comma- or
 * colon-separated chunks whose name, narrative cut off, reads best as an
 * archive's. Returns a new string (the caller frees it) and sets *start to
 * where the name begins, or returns NULL and leaves *start alone. */
char *provenance_name_archive(const char *s, size_t n, size_t x, size_t y, size_t *start);

/* True when a reference with no fund or file parts opens at a (and ends
 * before lim) with an archive's name followed by more of the reference:
 * "PRC FMA 109-01234-05", "BArch, B 136/3456". *ne is set to the name's
 * end. */
bool provenance_name_reference(const char *s, size_t lim, size_t a, size_t *ne);

/* A new copy of s[a, b) with the spaces of a known acronym removed ("AP
 * RF" becomes "APRF"); the caller frees it. */
char *provenance_name_copy(const char *s, size_t a, size_t b);

#endif
