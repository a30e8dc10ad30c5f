/*
 * extract_text: the text side of extraction — what a node's text is, how
 * it is cleaned, how a funder sentence splits into names, how a displayed
 * date becomes ISO, and which phrases mark a bot-challenge page. Internal
 * to harvest/.
 */
#ifndef PROVD_EXTRACT_TEXT_H
#define PROVD_EXTRACT_TEXT_H

#include "record.h"

#include <libxml/tree.h>
#include <stddef.h>

/* A new string from the n bytes at s: valid UTF-8 (text_utf8_sanitize when
 * needed) with white space squashed (the result of text_squash_ws()).
 * NULL when nothing but white space is left. */
char *extract_text_clean(const char *s, size_t n);

/* The text under node, cleaned as extract_text_clean() does; NULL when
 * empty. Element boundaries other than those of inline elements (a, span,
 * b, em, ...) count as white space, so paragraphs do not run together;
 * the contents of script, style, template and noscript and the subtree at
 * skip (may be NULL) are left out. A text, attribute, comment or namespace
 * node gives its own value. */
char *extract_text_of(xmlNodePtr node, xmlNodePtr skip);

/* The first occurrence of the ASCII phrase needle in hay, ignoring ASCII
 * case, or NULL. */
const char *extract_text_find(const char *hay, const char *needle);

/* Split a list of names as a sentence writes them ("A, B and C", "A; B")
 * and append each to out, without a leading article "the" and without a
 * final full stop. " and " after an initial ("John D. and Catherine T.
 * MacArthur Foundation") does not split. */
void extract_text_names(const char *s, struct strlist *out);

/* The bot-challenge phrase found in the first bytes of a page (ASCII case
 * ignored), from the built-in list or extra (already lower case), or NULL.
 * The result is static or borrowed from extra. */
const char *extract_text_marker(const char *page, size_t len, const struct strlist *extra);

/* printf into reason (len bytes), cutting only at a UTF-8 character
 * boundary so the reason stays valid UTF-8. */
void extract_text_reason(char *reason, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
