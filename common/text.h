/*
 * text: UTF-8 checks and the whitespace rules every stored string follows.
 * Pure functions over byte strings; no library types.
 */
#ifndef PROVD_TEXT_H
#define PROVD_TEXT_H

#include <stdbool.h>
#include <stddef.h>

/* True when the n bytes at s are valid UTF-8 (no overlongs, no surrogates,
 * nothing above U+10FFFF) and hold no NUL byte. */
bool text_utf8_valid(const char *s, size_t n);

/* A new NUL-terminated copy of n bytes at s in which every invalid UTF-8
 * sequence is replaced by U+FFFD and every NUL byte by a space, so the
 * result is valid UTF-8 and nothing after a NUL is lost. */
char *text_utf8_sanitize(const char *s, size_t n);

/* A new string: s with runs of white space (ASCII space, tab, CR, LF, FF,
 * VT, U+00A0, U+2000-U+200B, U+202F, U+205F, U+3000) folded into one ASCII
 * space, and no leading or trailing space. s must be valid UTF-8. */
char *text_squash_ws(const char *s);

/* Decode one UTF-8 code point at *p (advancing it); returns -1 on an
 * invalid sequence after skipping one byte. */
long text_utf8_next(const char **p, const char *end);

/* Append the UTF-8 encoding of code point cp to out (needs 4 bytes);
 * returns the bytes written. */
size_t text_utf8_put(char *out, unsigned long cp);

/* A new string: s lower-cased (ASCII and Latin-1/Latin Extended-A/Cyrillic
 * letters) with Latin accents removed, for accent- and case-insensitive
 * matching of names. */
char *text_fold(const char *s);

#endif
