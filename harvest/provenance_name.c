/*
 * provenance_name: finds the archive's name in a Source text — the leading
 * name of a reference, after any narrative, scored by what marks an
 * archive (a known acronym such as RGASPI or BArch, an archive word such
 * as "Archives"), with the spaces of known acronyms removed ("AP RF" is
 * APRF). Pure functions over a valid UTF-8 string; every returned string is
 * the caller's; reads nothing outside the bounds it is given.
 */
#include "provenance_name.h"

#include "provenance_scan.h"
#include "strbuf.h"
#include "xmalloc.h"

#include <stdlib.h>
#include <string.h>

#define NAME_MAX_LEAD  300 /* bytes before a citation searched for its archive */
#define NAME_MAX_BYTES 160 /* bytes of an archive's name */

/* Lower-case words allowed inside an archive's name. */
static const char *const name_connectors[] = {
    "of",    "the", "for", "and", "de", "du", "des", "der",   "di", "da",  "na", "po",
    "pri",   "im",  "für", "la",  "le", "et", "y",   "i",     "и",  "при", "по", "del",
    "della", "van", "von", "zu",  "w",  "z",  "dei", "degli", "an", "am",  "e",  NULL};

/* Capitalised words that open narrative, not a name ("In 1992, ..."). */
static const char *const name_starters[] = {
    "in",          "a",       "an",        "at",        "from",       "see",         "also",
    "after",       "during",  "on",        "this",      "these",      "it",          "copy",
    "source",      "sources", "original",  "document",  "documents",  "located",     "found",
    "held",        "cited",   "reprinted", "published", "translated", "contributed", "obtained",
    "transcribed", "excerpt", NULL};

/* Words (and prefixes) that make a name an archive's. */
static const char *const name_archive_words[] = {
    "archiv",     "arkhiv",     "archiw", "arhiv",   "archief",  "архив",
    "архів",      "library",    "museum", "record",  "institut", "ministry",
    "foundation", "collection", "papers", "bibliot", NULL};

/* Acronyms of archives that citations name. */
static const char *const name_known[] = {
    "rgani", "rgaspi", "aprf",   "avprf",     "garf",  "rgae",  "rgva",    "tsamo",  "rgali",
    "rgia",  "tskhsd", "tsgaor", "rtskhidni", "hda",   "sbu",   "tsdahou", "tsdavo", "tsdago",
    "aan",   "aipn",   "ipn",    "barch",     "sapmo", "fma",   "mnl",     "abtl",   "amvnr",
    "amzv",  "nara",   "ргани",  "ргаспи",    "апрф",  "авпрф", "гарф",    "цамо",   "ргаэ",
    "ргва",  "цдаго",  "цдагоу", "гда",       "сбу",   NULL};

/* Words that make a name a periodical's or a publisher's. */
static const char *const name_not_archive[] = {"bulletin",  "journal",     "press",   "review",
                                               "quarterly", "magazine",    "gazette", "yearbook",
                                               "newspaper", "proceedings", NULL};

/* Archives written with a space inside ("AP RF") and their one form. */
static const char *const name_joined[] = {"aprf", "avprf", "garf", "tsamo", "tsafsb",
                                          "апрф", "авпрф", "гарф", "цамо",  NULL};

/* Case-insensitive: s[a, b) starts with the lower-case prefix. */
static bool name_has_prefix(const char *s, size_t a, size_t b, const char *prefix)
{
    size_t pn = strlen(prefix), pi = 0, len, plen;

    while (a < b && pi < pn) {
        long c1 = provenance_scan_cp(s, b, a, &len);
        long c2 = provenance_scan_cp(prefix, pn, pi, &plen);

        if (provenance_scan_lower(c1) != c2)
            return false;
        a += len;
        pi += plen;
    }
    return pi == pn;
}

static bool name_token_has_digit(const char *s, size_t a, size_t b)
{
    for (size_t k = a; k < b; k++)
        if (provenance_scan_is_digit((unsigned char)s[k]))
            return true;
    return false;
}

/* The letters of the token s[a, b) after any opening punctuation. */
static size_t name_token_letters(const char *s, size_t b, size_t *a)
{
    while (*a < b && strchr("(\"'[", s[*a]) != NULL && s[*a] != '\0')
        (*a)++;
    if (b - *a >= 3 &&
        (memcmp(s + *a, "\xe2\x80\x9c", 3) == 0 || memcmp(s + *a, "\xc2\xab", 2) == 0))
        *a += (unsigned char)s[*a] == 0xc2 ? 2 : 3;
    return provenance_scan_letters(s, b, *a);
}

/* A lower-case word that is no connector ("found", "in"). */
static bool name_narrative_word(const char *s, size_t a, size_t b)
{
    size_t w = name_token_letters(s, b, &a), len;

    return w > a && provenance_scan_is_lower(provenance_scan_cp(s, b, a, &len)) &&
           !provenance_scan_word_in(s, a, w, name_connectors);
}

/* True when the token's first letter is a capital. */
static bool name_capitalised(const char *s, size_t a, size_t b)
{
    size_t len;

    name_token_letters(s, b, &a);
    return provenance_scan_is_upper(provenance_scan_cp(s, b, a, &len));
}

/* Narrative: a lower-case word that is no connector, or a capitalised
 * sentence opener such as "In" or "Source". */
static bool name_narrative(const char *s, size_t a, size_t b)
{
    size_t w = name_token_letters(s, b, &a), len;
    long cp = provenance_scan_cp(s, b, a, &len);

    if (w == a)
        return false;
    if (provenance_scan_is_lower(cp))
        return !provenance_scan_word_in(s, a, w, name_connectors);
    return provenance_scan_word_in(s, a, w, name_starters);
}

/* A copy of the archive's name, with spaces removed from known acronyms
 * ("AP RF" becomes "APRF"). */
char *provenance_name_copy(const char *s, size_t a, size_t b)
{
    struct strbuf joined = STRBUF_INIT;
    char *name = xstrndup(s + a, b - a);
    size_t spaces = 0;

    for (size_t k = a; k < b; k++) {
        if (s[k] == ' ')
            spaces++;
        else
            strbuf_addc(&joined, s[k]);
    }
    if (spaces > 0 && spaces <= 2 &&
        provenance_scan_word_in(joined.s, 0, joined.len, name_joined)) {
        free(name);
        return strbuf_steal(&joined);
    }
    strbuf_release(&joined);
    return name;
}

/* How well s[a, b) reads as an archive's name: 0 not at all (a word
 * that is neither capitalised nor a connector, a periodical's word, or
 * nothing that marks an archive), 1 with an acronym ("CC CPSU"), 2 with a
 * known archive's acronym ("RGASPI", "BArch") or an archive word
 * ("Archives", "Library"). */
static int name_score(const char *s, size_t a, size_t b)
{
    size_t tokens = 0, len, a0 = a;
    int score = 0;

    if (b <= a || b - a > NAME_MAX_BYTES)
        return 0;
    while (a < b) {
        size_t t1 = a, la = a, w, upper = 0;
        long cp;

        while (t1 < b && s[t1] != ' ')
            t1++;
        w = name_token_letters(s, t1, &la);
        cp = provenance_scan_cp(s, t1, la, &len);
        if (w == la || name_token_has_digit(s, a, t1))
            return 0;
        if (!provenance_scan_is_upper(cp)) {
            if (tokens == 0 || !provenance_scan_word_in(s, la, w, name_connectors))
                return 0;
        } else if (tokens == 0 && provenance_scan_word_in(s, la, w, name_starters)) {
            return 0;
        }
        for (size_t k = la; k < w; k += len)
            upper += provenance_scan_is_upper(provenance_scan_cp(s, w, k, &len));
        if (upper >= 2 && score < 1)
            score = 1;
        if (provenance_scan_word_in(s, la, w, name_known))
            score = 2;
        for (size_t k = 0; name_archive_words[k] != NULL; k++)
            if (name_has_prefix(s, la, w, name_archive_words[k]))
                score = 2;
        for (size_t k = 0; name_not_archive[k] != NULL; k++)
            if (name_has_prefix(s, la, w, name_not_archive[k]))
                return 0;
        tokens++;
        a = t1 + 1;
    }
    if (tokens > 12)
        return 0;
    if (score == 1 && tokens <= 3) {
        char *joined = provenance_name_copy(s, a0, b);

        if (provenance_scan_word_in(joined, 0, strlen(joined), name_joined))
            score = 2;
        free(joined);
    }
    return score;
}

/* Trim s[*a, *b): spaces, opening punctuation and connectors in front,
 * spaces and punctuation behind; a closing parenthesis stays when the
 * name opened one. */
static void name_trim(const char *s, size_t *a, size_t *b)
{
    for (;;) {
        size_t w, len;

        while (*a < *b && strchr(" (\"'[", s[*a]) != NULL)
            (*a)++;
        w = provenance_scan_letters(s, *b, *a);
        if (w == *a || w >= *b || s[w] != ' ' ||
            !provenance_scan_is_lower(provenance_scan_cp(s, *b, *a, &len)) ||
            !provenance_scan_word_in(s, *a, w, name_connectors))
            break;
        *a = w;
    }
    while (*b > *a) {
        char c = s[*b - 1];

        if (c == ')' && memchr(s + *a, '(', *b - *a) != NULL)
            break;
        if (strchr(" ,.:;-)\"'", c) == NULL)
            break;
        (*b)--;
    }
}

/* The leading name of s[a, lim): tokens up to a comma, colon or a token
 * that holds a digit. Returns its end (a when there is none). */
static size_t name_leading(const char *s, size_t lim, size_t a)
{
    size_t k = a, end = a;

    while (k < lim && k - a <= NAME_MAX_BYTES) {
        size_t t0 = k;

        while (k < lim && s[k] != ' ' && s[k] != ',' && s[k] != ':' && s[k] != ';')
            k++;
        if (name_token_has_digit(s, t0, k))
            return end;
        if (name_narrative_word(s, t0, k) || (t0 == a && !name_capitalised(s, t0, k)))
            return a; /* narrative, or no capital: no name opens here */
        end = k;
        if (k >= lim || s[k] != ' ')
            return end;
        k++;
    }
    return k - a > NAME_MAX_BYTES ? a : end;
}

/* A reference with no parts opening at a: its archive's name in
 * [a, *ne), when the name qualifies and something follows it. */
bool provenance_name_reference(const char *s, size_t lim, size_t a, size_t *ne)
{
    size_t e = name_leading(s, lim, a), na = a;

    if (e == a || e >= lim)
        return false;
    name_trim(s, &na, &e);
    if (na != a || name_score(s, na, e) == 0)
        return false;
    *ne = e;
    return true;
}

/* The archive of a citation whose parts start at y, searched in the
 * lead-in [x, y): after the last ";" and full stop, the first of the
 * comma- or colon-separated chunks whose name (narrative cut off) scores
 * best. */
char *provenance_name_archive(const char *s, size_t n, size_t x, size_t y, size_t *start)
{
    size_t c0, best_a = 0, best_b = 0;
    int best = 0;

    while (y > x && strchr(" ,:;.([-", s[y - 1]) != NULL)
        y--;
    for (size_t k = x; k < y; k++)
        if (s[k] == ';' ||
            ((s[k] == '.' || s[k] == '!' || s[k] == '?') && provenance_scan_sentence_end(s, n, k)))
            x = k + 1;
    if (y - x > NAME_MAX_LEAD) {
        x = y - NAME_MAX_LEAD;
        while (x < y && s[x] != ' ')
            x++;
    }
    c0 = x;
    for (size_t k = x; k <= y && best < 2; k++) {
        size_t ns = c0, ne = c0, t;
        int score;

        if (k < y && s[k] != ',' && s[k] != ':')
            continue;
        for (t = c0; t < k;) {
            size_t t0;

            while (t < k && s[t] == ' ')
                t++;
            t0 = t;
            while (t < k && s[t] != ' ')
                t++;
            if (t0 == t || name_token_has_digit(s, t0, t))
                break;
            if (name_narrative(s, t0, t))
                ns = t;
            ne = t;
        }
        name_trim(s, &ns, &ne);
        score = ne > ns ? name_score(s, ns, ne) : 0;
        if (score > best) {
            best = score;
            best_a = ns;
            best_b = ne;
        }
        c0 = k + 1;
    }
    if (best == 0)
        return NULL;
    *start = best_a;
    return provenance_name_copy(s, best_a, best_b);
}
