/*
 * provenance_scan: the character classes and the sentence rule that the
 * provenance parser's files share (internal to harvest/). Every function
 * reads a valid UTF-8 byte string s of n bytes and never reads at or past
 * s + n.
 */
#ifndef PROVD_PROVENANCE_SCAN_H
#define PROVD_PROVENANCE_SCAN_H

#include <stdbool.h>
#include <stddef.h>

/* A half-open byte range [start, end) of the text being parsed. */
struct provenance_span {
    size_t start;
    size_t end;
};

/* The code point at byte i (i < n) and its length in *len; -1 (with
 * *len 1, or 0 at the end) when there is none. */
long provenance_scan_cp(const char *s, size_t n, size_t i, size_t *len);

/* The byte offset where the code point ending just before byte i starts;
 * i must be greater than 0. */
size_t provenance_scan_prev(const char *s, size_t i);

/* Classes of Latin and Cyrillic letters (other scripts: letters with no
 * case). */
bool provenance_scan_is_letter(long cp);
bool provenance_scan_is_upper(long cp);
bool provenance_scan_is_lower(long cp);
/* cp lower-cased (ASCII, Latin-1, Latin Extended-A, Cyrillic). */
long provenance_scan_lower(long cp);
/* Hyphen, the Unicode dashes and the minus sign. */
bool provenance_scan_is_dash(long cp);
/* ASCII digit. */
bool provenance_scan_is_digit(long cp);

/* The end of the run of letters that starts at i (i itself when s[i] is
 * not a letter). */
size_t provenance_scan_letters(const char *s, size_t n, size_t i);

/* True when the code point before i (if any) is not a letter or digit. */
bool provenance_scan_word_start(const char *s, size_t i);

/* True when s[a, b) equals word, ignoring case; word is lower case. */
bool provenance_scan_word_eq(const char *s, size_t a, size_t b, const char *word);

/* True when s[a, b) equals (ignoring case) one of the words of the
 * NULL-terminated list. */
bool provenance_scan_word_in(const char *s, size_t a, size_t b, const char *const *words);

/* True when the '.', '!' or '?' at i ends a sentence: what follows is the
 * end of the text or (after at most one space) a capital letter, a digit,
 * a parenthesis or a quote, and a '.' does not close an initial ("F.") or
 * a known abbreviation ("op.", "ll.", "No."). */
bool provenance_scan_sentence_end(const char *s, size_t n, size_t i);

#endif
