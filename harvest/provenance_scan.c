/*
 * provenance_scan: character classes (Latin and Cyrillic case, dashes),
 * word comparison and the end-of-sentence rule used by the provenance
 * parser. Pure functions over a valid UTF-8 byte string; owns nothing,
 * allocates nothing, never reads past the length it is given.
 */
#include "provenance_scan.h"

#include "text.h"

#include <string.h>

long provenance_scan_cp(const char *s, size_t n, size_t i, size_t *len)
{
    const char *p = s + i;
    long cp;

    if (i >= n) {
        *len = 0;
        return -1;
    }
    cp = text_utf8_next(&p, s + n);
    *len = (size_t)(p - (s + i));
    return cp;
}

size_t provenance_scan_prev(const char *s, size_t i)
{
    size_t k = i - 1;

    while (k > 0 && i - k < 4 && ((unsigned char)s[k] & 0xc0) == 0x80)
        k--;
    return k;
}

long provenance_scan_lower(long cp)
{
    if (cp >= 'A' && cp <= 'Z')
        return cp + 32;
    if (cp >= 0xc0 && cp <= 0xde && cp != 0xd7)
        return cp + 32;
    if ((cp >= 0x100 && cp <= 0x137) || (cp >= 0x14a && cp <= 0x177))
        return cp | 1;
    if ((cp >= 0x139 && cp <= 0x148) || (cp >= 0x179 && cp <= 0x17e))
        return (cp & 1) ? cp + 1 : cp;
    if (cp == 0x178)
        return 0xff;
    if (cp >= 0x410 && cp <= 0x42f)
        return cp + 32;
    if (cp >= 0x400 && cp <= 0x40f)
        return cp + 80;
    if (((cp >= 0x460 && cp <= 0x4bf) || (cp >= 0x4d0 && cp <= 0x4ff)) && (cp & 1) == 0)
        return cp + 1;
    return cp;
}

bool provenance_scan_is_letter(long cp)
{
    if ((cp >= 'A' && cp <= 'Z') || (cp >= 'a' && cp <= 'z'))
        return true;
    if (cp < 0xc0)
        return false;
    if (cp <= 0x24f)
        return cp != 0xd7 && cp != 0xf7;
    return (cp >= 0x370 && cp <= 0x3ff) || (cp >= 0x400 && cp <= 0x52f) ||
           (cp >= 0x1e00 && cp <= 0x1eff) || (cp >= 0x3040 && cp <= 0x9fff) ||
           (cp >= 0xac00 && cp <= 0xd7a3);
}

bool provenance_scan_is_upper(long cp)
{
    if (cp >= 'A' && cp <= 'Z')
        return true;
    if (cp < 0xc0 || cp > 0x4ff)
        return false;
    if (cp >= 0x250 && cp < 0x400)
        return false;
    return provenance_scan_lower(cp) != cp;
}

bool provenance_scan_is_lower(long cp)
{
    if (cp >= 'a' && cp <= 'z')
        return true;
    if (cp >= 0xdf && cp <= 0xff)
        return cp != 0xf7;
    if (cp >= 0x430 && cp <= 0x45f)
        return true;
    if ((cp >= 0x100 && cp <= 0x17f) || (cp >= 0x460 && cp <= 0x4ff))
        return provenance_scan_is_letter(cp) && !provenance_scan_is_upper(cp);
    return false;
}

bool provenance_scan_is_dash(long cp)
{
    return cp == '-' || (cp >= 0x2010 && cp <= 0x2015) || cp == 0x2212;
}

bool provenance_scan_is_digit(long cp)
{
    return cp >= '0' && cp <= '9';
}

size_t provenance_scan_letters(const char *s, size_t n, size_t i)
{
    size_t len;

    while (i < n && provenance_scan_is_letter(provenance_scan_cp(s, n, i, &len)))
        i += len;
    return i;
}

bool provenance_scan_word_start(const char *s, size_t i)
{
    size_t len, p;
    long cp;

    if (i == 0)
        return true;
    p = provenance_scan_prev(s, i);
    cp = provenance_scan_cp(s, i, p, &len);
    return !provenance_scan_is_letter(cp) && !provenance_scan_is_digit(cp);
}

bool provenance_scan_word_eq(const char *s, size_t a, size_t b, const char *word)
{
    const char *w = word;
    size_t len;

    while (a < b && *w != '\0') {
        unsigned char c = (unsigned char)s[a];
        const char *next = w;
        long c1, c2;

        if (c < 0x80 && (unsigned char)*w < 0x80) {
            if ((c >= 'A' && c <= 'Z' ? c + 32 : c) != (unsigned char)*w)
                return false;
            a++;
            w++;
            continue;
        }
        c1 = provenance_scan_cp(s, b, a, &len);
        /* word is a valid UTF-8 literal: its sequence ends before its NUL. */
        c2 = text_utf8_next(&next, w + 4);
        if (c2 < 0 || provenance_scan_lower(c1) != c2)
            return false;
        a += len;
        w = next;
    }
    return a == b && *w == '\0';
}

bool provenance_scan_word_in(const char *s, size_t a, size_t b, const char *const *words)
{
    for (size_t k = 0; words[k] != NULL; k++)
        if (provenance_scan_word_eq(s, a, b, words[k]))
            return true;
    return false;
}

/* Words whose trailing dot is an abbreviation's, not a full stop. */
static const char *const scan_abbrevs[] = {
    "op",  "ll",   "spr", "ark",  "no",   "nos", "vol",  "vols", "pp",  "ed",  "eds", "ob",
    "st",  "dr",   "mr",  "mrs",  "ms",   "jr",  "sr",   "prof", "cf",  "ca",  "vs",  "nr",
    "fol", "fols", "inv", "sygn", "doc",  "gg",  "gen",  "lt",   "col", "оп",  "лл",  "спр",
    "арк", "об",   "гг",  "тов",  "dept", "tel", "ibid", "sig",  "mss", "ser", NULL,
};

bool provenance_scan_sentence_end(const char *s, size_t n, size_t i)
{
    size_t j = i + 1, len, w, nc;
    long cp;

    if (j >= n)
        return true;
    if (s[j] == ' ') {
        j++;
        if (j >= n)
            return true;
        cp = provenance_scan_cp(s, n, j, &len);
        if (!provenance_scan_is_upper(cp) && !provenance_scan_is_digit(cp) && cp != '(' &&
            cp != '"' && cp != 0x201c && cp != 0xab && cp != '[' &&
            !(provenance_scan_is_letter(cp) && !provenance_scan_is_lower(cp)))
            return false;
    } else {
        /* No space: only a glued capitalised word ("0012.Contributed"). */
        cp = provenance_scan_cp(s, n, j, &len);
        if (!provenance_scan_is_upper(cp) ||
            !provenance_scan_is_lower(provenance_scan_cp(s, n, j + len, &nc)))
            return false;
    }
    if (s[i] != '.' || i == 0)
        return true;
    /* The word before the dot. */
    w = i;
    while (w > 0) {
        size_t p = provenance_scan_prev(s, w);

        if (!provenance_scan_is_letter(provenance_scan_cp(s, n, p, &len)))
            break;
        w = p;
    }
    if (w == i)
        return true; /* a digit, a bracket: "ll. 3-9." */
    if (w > 0 && provenance_scan_is_digit((unsigned char)s[w - 1]))
        return true; /* a suffix glued to a number: "12a." */
    provenance_scan_cp(s, n, w, &len);
    if (w + len == i)
        return false; /* one letter: an initial or "f." */
    return !provenance_scan_word_in(s, w, i, scan_abbrevs);
}
