/*
 * provenance_credit: finds the credit sentences of a Source text and reads
 * who contributed (or obtained) the document and who translated it.
 *
 * A credit sentence opens with a capitalised credit verb (Contributed,
 * Obtained, Translated, Transcribed) at a word boundary — after a full stop,
 * glued to one, or in its own paragraph — and holds the word "by" before its
 * end. It is read as clauses "<verbs> [for ORG] [from LANGUAGE] by <names>"
 * joined by "and", "," or ";" before the next verb. A sentence followed by
 * a publisher's imprint ("(Moscow: Progress, 1977)") is a book's translator
 * and is skipped. Owns nothing beyond the names it appends to the record;
 * never touches citations.
 */
#include "provenance_credit.h"

#include "xmalloc.h"

#include <stdlib.h>
#include <string.h>

#define CREDIT_MAX_SENTENCE 1000 /* bytes; longer text is not a credit */
#define CREDIT_MAX_IMPRINT  160  /* bytes of an imprint "(City: Publisher, 1977)" */
#define CREDIT_MAX_NAME     200  /* bytes of one person or organisation */

enum {
    CREDIT_CONTRIBUTOR = 1 << 0,
    CREDIT_TRANSLATOR = 1 << 1,
};

static const char *const credit_openers[] = {"Contributed", "Obtained", "Translated", "Transcribed",
                                             NULL};

/* Lower-case words that may sit inside a person's name. */
static const char *const credit_particles[] = {"van", "von", "de",  "der", "den", "du",  "da",
                                               "di",  "la",  "le",  "al",  "bin", "ibn", "y",
                                               "dos", "das", "del", "ten", "ter", NULL};

/* Words that make a name an organisation's: its "and" is not a list. */
static const char *const credit_org_words[] = {
    "institute",  "center",   "centre",      "project",    "archive",   "archives",
    "university", "ministry", "department",  "foundation", "committee", "bureau",
    "office",     "academy",  "society",     "staff",      "program",   "programme",
    "service",    "team",     "group",       "council",    "library",   "section",
    "division",   "agency",   "association", "school",     "college",   NULL};

static bool credit_is_opener(const char *s, size_t a, size_t b)
{
    for (size_t k = 0; credit_openers[k] != NULL; k++)
        if (strlen(credit_openers[k]) == b - a && memcmp(s + a, credit_openers[k], b - a) == 0)
            return true;
    return false;
}

/* A verb that opens the next clause: a credit opener, or a lower-case
 * English past participle ("translated", "edited", "transcribed"). */
static bool credit_is_verb(const char *s, size_t n, size_t i)
{
    size_t w = provenance_scan_letters(s, n, i);

    if (w == i || !provenance_scan_word_start(s, i))
        return false;
    if (credit_is_opener(s, i, w))
        return true;
    if (w - i < 4 || s[w - 2] != 'e' || s[w - 1] != 'd')
        return false;
    for (size_t k = i; k < w; k++)
        if (s[k] < 'a' || s[k] > 'z')
            return false;
    return true;
}

/* True when s[i, i + len(word)) is the ASCII word, bounded by non-letters. */
static bool credit_word_at(const char *s, size_t n, size_t i, const char *word)
{
    size_t wl = strlen(word);

    return i + wl <= n && memcmp(s + i, word, wl) == 0 && provenance_scan_word_start(s, i) &&
           provenance_scan_letters(s, n, i + wl) == i + wl &&
           provenance_scan_letters(s, n, i) == i + wl;
}

/* The first sentence end at or after i, or n. */
static size_t credit_next_end(const char *s, size_t n, size_t i)
{
    for (; i < n; i++)
        if ((s[i] == '.' || s[i] == '!' || s[i] == '?') && provenance_scan_sentence_end(s, n, i))
            return i;
    return n;
}

/* The first word "by" at or after i, or n. */
static size_t credit_next_by(const char *s, size_t n, size_t i)
{
    for (; i < n; i++)
        if (s[i] == 'b' && credit_word_at(s, n, i, "by"))
            return i;
    return n;
}

/* A year 1500-2099 standing alone at i. */
static bool credit_year_at(const char *s, size_t n, size_t i)
{
    if (i + 4 > n || (i > 0 && provenance_scan_is_digit((unsigned char)s[i - 1])))
        return false;
    for (size_t k = i; k < i + 4; k++)
        if (!provenance_scan_is_digit((unsigned char)s[k]))
            return false;
    if (i + 4 < n && provenance_scan_is_digit((unsigned char)s[i + 4]))
        return false;
    return (s[i] == '1' && s[i + 1] >= '5') || (s[i] == '2' && s[i + 1] == '0');
}

/* A publisher's imprint at i: "(City: Publisher, 1977)" when paren, else
 * "City: Publisher, 1977" with the colon near the start. */
static bool credit_imprint(const char *s, size_t n, size_t i, bool paren)
{
    size_t end = n - i > CREDIT_MAX_IMPRINT ? i + CREDIT_MAX_IMPRINT : n;
    bool colon = false;

    for (size_t k = i + 1; k < end; k++) {
        if ((paren && s[k] == ')') || s[k] == ';')
            return false;
        if (s[k] == ':')
            colon = paren || k - i < 40;
        else if (colon && credit_year_at(s, n, k))
            return true;
    }
    return false;
}

/* True when the sentence [a, e) credits a published book's translator. */
static bool credit_is_book(const char *s, size_t n, size_t a, size_t e)
{
    size_t k;

    for (k = a; k < e; k++)
        if (s[k] == '(' && credit_imprint(s, n, k, true))
            return true;
    k = e < n ? e + 1 : n;
    while (k < n && s[k] == ' ')
        k++;
    if (k >= n)
        return false;
    if (s[k] == '(')
        return credit_imprint(s, n, k, true);
    return credit_imprint(s, n, k, false);
}

/* The roles named by the verbs in s[a, b). */
static unsigned credit_roles(const char *s, size_t a, size_t b)
{
    char *t = xstrndup(s + a, b - a);
    unsigned roles = 0;

    for (char *p = t; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p + 32);
    if (strstr(t, "contribut") != NULL || strstr(t, "obtain") != NULL)
        roles |= CREDIT_CONTRIBUTOR;
    if (strstr(t, "translat") != NULL)
        roles |= CREDIT_TRANSLATOR;
    free(t);
    return roles;
}

/* Where the names after "by" end: a parenthesis, or the separator before
 * the next clause's verb, or e. */
static size_t credit_names_end(const char *s, size_t ns, size_t e)
{
    for (size_t k = ns; k < e; k++) {
        size_t j = k + 1;

        if (s[k] == '(')
            return k;
        if (s[k] != ';' && s[k] != ',' && !(s[k] == ' ' && credit_word_at(s, e, j, "and")))
            continue;
        while (j < e && s[j] == ' ')
            j++;
        if (credit_word_at(s, e, j, "and"))
            j += 3;
        while (j < e && s[j] == ' ')
            j++;
        if (credit_is_verb(s, e, j))
            return k;
    }
    return e;
}

/* True when t[a, b) reads as one person's name: 1-6 words, each
 * capitalised or a particle, and no organisation word. */
static bool credit_person_like(const char *t, size_t a, size_t b)
{
    size_t words = 0, len;

    while (a < b) {
        size_t w = a;

        while (w < b && t[w] != ' ')
            w++;
        if (w > a) {
            long cp = provenance_scan_cp(t, b, a, &len);

            if (provenance_scan_word_in(t, a, w, credit_org_words))
                return false;
            if (!provenance_scan_is_upper(cp) &&
                !(provenance_scan_is_lower(cp) &&
                  provenance_scan_word_in(t, a, w, credit_particles)))
                return false;
            words++;
        }
        a = w + 1;
    }
    return words >= 1 && words <= 6;
}

/* True when the dot at t[dot] belongs to the name: it closes an initial
 * or a suffix such as "Jr.". */
static bool credit_dot_is_name(const char *t, size_t a, size_t dot)
{
    size_t w = dot, len;

    while (w > a && t[w - 1] != ' ' && t[w - 1] != '.')
        w--;
    if (w == dot)
        return false;
    provenance_scan_cp(t, dot, w, &len);
    if (w + len == dot)
        return provenance_scan_is_upper(provenance_scan_cp(t, dot, w, &len));
    return provenance_scan_word_eq(t, w, dot, "jr") || provenance_scan_word_eq(t, w, dot, "sr");
}

static void credit_emit(const char *t, size_t a, size_t b, unsigned roles, struct record *r)
{
    char *name;

    while (a < b && (t[a] == ' ' || t[a] == '"'))
        a++;
    while (b > a && strchr(" ,;:\"", t[b - 1]) != NULL)
        b--;
    /* A trailing dot stays after an initial ("John Q.") and "Jr.". */
    if (b > a && t[b - 1] == '.' && !credit_dot_is_name(t, a, b - 1))
        b--;
    if (b == a || b - a > CREDIT_MAX_NAME)
        return;
    for (size_t k = a; k < b; k++)
        if (provenance_scan_is_digit((unsigned char)t[k]))
            return;
    if (provenance_scan_letters(t, b, a) == a)
        return;
    name = xstrndup(t + a, b - a);
    if ((roles & CREDIT_CONTRIBUTOR) && !strlist_contains(&r->contributors, name))
        strlist_add(&r->contributors, name);
    if ((roles & CREDIT_TRANSLATOR) && !strlist_contains(&r->translators, name))
        strlist_add(&r->translators, name);
    free(name);
}

/* The length of a name separator " and " or " & " at t[k], or 0. */
static size_t credit_sep_at(const char *t, size_t k, size_t b)
{
    if (b - k > 5 && memcmp(t + k, " and ", 5) == 0)
        return 5;
    if (b - k > 3 && memcmp(t + k, " & ", 3) == 0)
        return 3;
    return 0;
}

/* One comma-separated piece: names joined by " and " or " & " are split
 * only when both sides read as persons. */
static void credit_piece(const char *t, size_t a, size_t b, unsigned roles, struct record *r)
{
    size_t acc = a, k = a;

    while (a < b && t[a] == ' ')
        a++;
    while (b > a && t[b - 1] == ' ')
        b--;
    if (b - a > 4 && memcmp(t + a, "and ", 4) == 0)
        a += 4;
    else if (b - a > 2 && memcmp(t + a, "& ", 2) == 0)
        a += 2;
    acc = a;
    for (k = a; k < b; k++) {
        size_t sep = credit_sep_at(t, k, b), next, part_end;

        if (sep == 0)
            continue;
        next = k + sep;
        part_end = next;
        while (part_end < b && credit_sep_at(t, part_end, b) == 0)
            part_end++;
        if (credit_person_like(t, acc, k) && credit_person_like(t, next, part_end)) {
            credit_emit(t, acc, k, roles, r);
            acc = next;
        }
        k = part_end - 1;
    }
    credit_emit(t, acc, b, roles, r);
}

/* Cut "for CWIHP", "for the Wilson Center", "from Russian", "with the
 * assistance of ..." off a names text; returns the new length. */
static size_t credit_cut_tail(const char *t, size_t n)
{
    for (size_t k = 0; k + 5 < n; k++) {
        size_t w, upper = 0, lower = 0, len;

        if (memcmp(t + k, " from ", 6) == 0 || memcmp(t + k, " with ", 6) == 0)
            return k;
        if (memcmp(t + k, " for ", 5) != 0)
            continue;
        w = k + 5;
        if (n - w >= 10 && (memcmp(t + w, "the Wilson", 10) == 0 ||
                            (n - w >= 12 && memcmp(t + w, "the Cold War", 12) == 0)))
            return k;
        for (size_t j = w; j < n && t[j] != ' ' && t[j] != ',' && t[j] != '.'; j += len) {
            long cp = provenance_scan_cp(t, n, j, &len);

            upper += provenance_scan_is_upper(cp);
            lower += provenance_scan_is_lower(cp);
        }
        if ((upper >= 2 && lower == 0) || (n - w >= 6 && memcmp(t + w, "Wilson", 6) == 0))
            return k;
    }
    return n;
}

static void credit_names(const char *s, size_t a, size_t b, unsigned roles, struct record *r)
{
    char *t = xstrndup(s + a, b - a);
    size_t n = credit_cut_tail(t, b - a), p = 0;

    while (p <= n) {
        size_t q = p;

        while (q < n && t[q] != ',' && t[q] != ';')
            q++;
        credit_piece(t, p, q, roles, r);
        p = q + 1;
    }
    free(t);
}

/* Read the clauses of the credit sentence s[a, e). */
static void credit_sentence(const char *s, size_t n, size_t a, size_t e, struct record *r)
{
    size_t pos = a;

    while (pos < e) {
        size_t by = credit_next_by(s, e, pos), ns, ne;
        unsigned roles;

        if (by >= e)
            break;
        roles = credit_roles(s, pos, by);
        ns = by + 2;
        while (ns < e && s[ns] == ' ')
            ns++;
        ne = credit_names_end(s, ns, e);
        /* The full stop goes along: it may close "Jr." or an initial. */
        if (roles != 0)
            credit_names(s, ns, ne == e && e < n && s[e] == '.' ? e + 1 : ne, roles, r);
        pos = ne > ns ? ne : ns + 1;
    }
}

size_t provenance_credit_scan(const char *s, size_t n, struct record *r,
                              struct provenance_span **spans)
{
    size_t i = 0, next_end = 0, next_by = 0, count = 0, cap = 0;
    bool scanned = false;

    *spans = NULL;
    while (i < n) {
        size_t w;

        if ((s[i] != 'C' && s[i] != 'O' && s[i] != 'T') || !provenance_scan_word_start(s, i)) {
            i++;
            continue;
        }
        w = provenance_scan_letters(s, n, i);
        if (!credit_is_opener(s, i, w)) {
            i = w > i ? w : i + 1;
            continue;
        }
        /* Both searches only move forward: linear over the whole text. */
        if (!scanned || next_end < i)
            next_end = credit_next_end(s, n, i);
        if (!scanned || next_by < i)
            next_by = credit_next_by(s, n, i);
        scanned = true;
        if (next_by >= next_end || next_end - i > CREDIT_MAX_SENTENCE) {
            i = w;
            continue;
        }
        if (credit_is_book(s, n, i, next_end)) {
            i = next_end + 1;
            continue;
        }
        credit_sentence(s, n, i, next_end, r);
        if (count == cap) {
            cap = cap ? cap * 2 : 4;
            *spans = xreallocarray(*spans, cap, sizeof(**spans));
        }
        (*spans)[count].start = i;
        (*spans)[count].end = next_end < n ? next_end + 1 : n;
        count++;
        i = next_end + 1;
    }
    return count;
}
