/*
 * provenance: the Source-text parser (PROVENANCE.md §2 in, §3 out). It
 * normalises the text, lets provenance_credit.c take out the credit
 * sentences, and reads archival citations from what is left, with
 * provenance_name.c to find archives' names.
 *
 * A citation is a run of parts — fund, inventory, folder, file, sheets,
 * each an abbreviation or a word (Latin, Cyrillic, Ukrainian, Polish) and
 * an identifier — with nothing but numbers and punctuation between them;
 * a repeated part, a ";" or a word starts the next one. A lone abbreviated
 * "p." is a book's page, not a papka. The archive is the leading name in
 * the text before the first part, after any narrative. The citation's text
 * runs from that name (or its first part) to the end of its sentence, and
 * stops before a ";", the next citation or a reprint's reference. A
 * reference with no parts (BArch, PRC FMA, a national archive) is a
 * citation when it opens with an archive's name: it gets that archive and
 * nothing invented. Pure string processing, linear in the input; owns only
 * temporaries; appends to the record and never touches its other fields.
 */
#include "harvest.h"

#include "provenance_credit.h"
#include "provenance_name.h"
#include "provenance_scan.h"
#include "strbuf.h"
#include "text.h"
#include "xmalloc.h"

#include <stdlib.h>
#include <string.h>

enum pv_field { PV_FUND, PV_INVENTORY, PV_FOLDER, PV_FILE, PV_SHEETS };

struct pv_marker {
    const char *word; /* lower case */
    enum pv_field field;
    bool abbrev; /* needs its dot: "f." but "Fond" */
};

static const struct pv_marker pv_markers[] = {
    {"f", PV_FUND, true},        {"fond", PV_FUND, false},       {"ф", PV_FUND, true},
    {"фонд", PV_FUND, false},    {"op", PV_INVENTORY, true},     {"opis", PV_INVENTORY, false},
    {"оп", PV_INVENTORY, true},  {"опись", PV_INVENTORY, false}, {"опис", PV_INVENTORY, false},
    {"p", PV_FOLDER, true},      {"papka", PV_FOLDER, false},    {"папка", PV_FOLDER, false},
    {"d", PV_FILE, true},        {"delo", PV_FILE, false},       {"д", PV_FILE, true},
    {"дело", PV_FILE, false},    {"spr", PV_FILE, true},         {"sprava", PV_FILE, false},
    {"спр", PV_FILE, true},      {"справа", PV_FILE, false},     {"l", PV_SHEETS, true},
    {"ll", PV_SHEETS, true},     {"list", PV_SHEETS, false},     {"listy", PV_SHEETS, false},
    {"л", PV_SHEETS, true},      {"лл", PV_SHEETS, true},        {"лист", PV_SHEETS, false},
    {"листы", PV_SHEETS, false}, {"ark", PV_SHEETS, true},       {"арк", PV_SHEETS, true},
    {"k", PV_SHEETS, true},      {"п", PV_FOLDER, true},
};

static const char *const pv_verso[] = {"ob", "об", "obor", "oborot", "оборот", "zv", "зв", NULL};
static const char *const pv_year_abbrevs[] = {"g", "gg", "г", "гг", NULL};

/* Words after a citation that start a reference to a publication. */
static const char *const pv_stop_words[] = {"reprinted", "republished", "published", "cited",
                                            "quoted",    "excerpted",   "see",       NULL};

struct pv_comp {
    enum pv_field field;
    bool page_like; /* an abbreviated "p.": a book's page when alone */
    size_t start, end;
    char *value;
};

struct pv_group {
    size_t first, last; /* indices of its parts */
    unsigned fields;    /* bit per pv_field */
    size_t start, end;  /* its text */
    char *archive;
    bool keep;
};

struct pv_found {
    size_t start;
    struct citation c;
};

struct pv_list {
    struct pv_found *v;
    size_t n, cap;
};

static void pv_list_add(struct pv_list *l, size_t start, struct citation *c)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 8;
        l->v = xreallocarray(l->v, l->cap, sizeof(*l->v));
    }
    l->v[l->n].start = start;
    l->v[l->n].c = *c;
    memset(c, 0, sizeof(*c));
    l->n++;
}

static bool pv_is_digit_at(const char *s, size_t n, size_t i)
{
    return i < n && provenance_scan_is_digit((unsigned char)s[i]);
}

/* ---- the parts of a citation ------------------------------------------ */

/* An identifier at j: "558", "059a", "R-9401", "Р-5446", "[57]". */
static char *pv_ident(const char *s, size_t n, size_t j, size_t *endp)
{
    struct strbuf b = STRBUF_INIT;
    size_t k = j, len;
    int letters = 0;
    long cp;

    if (k < n && s[k] == '[')
        k++;
    while (letters < 3 && provenance_scan_is_letter(cp = provenance_scan_cp(s, n, k, &len))) {
        letters++;
        k += len;
    }
    if (letters > 0 && k < n && s[k] == '-')
        k++;
    if (!pv_is_digit_at(s, n, k))
        return NULL;
    for (k = j; k < n; k += len) {
        cp = provenance_scan_cp(s, n, k, &len);
        if (cp == '[' || cp == ']')
            continue;
        if (!provenance_scan_is_digit(cp) && !provenance_scan_is_letter(cp)) {
            size_t nl;
            long next = provenance_scan_cp(s, n, k + len, &nl);

            if ((cp != '-' && cp != '/') ||
                (!provenance_scan_is_digit(next) && !provenance_scan_is_letter(next)))
                break;
        }
        strbuf_add(&b, s + k, len);
    }
    *endp = k;
    return strbuf_steal(&b);
}

/* One sheet number at *kp, leading zeros dropped, verso as "ob". */
static bool pv_sheet_num(const char *s, size_t n, size_t *kp, struct strbuf *out)
{
    size_t k = *kp, d, v, w;

    if (k < n && s[k] == '[')
        k++;
    d = k;
    while (pv_is_digit_at(s, n, k))
        k++;
    if (k == d)
        return false;
    while (d + 1 < k && s[d] == '0')
        d++;
    strbuf_add(out, s + d, k - d);
    if (k < n && s[k] == ']')
        k++;
    v = k < n && s[k] == ' ' ? k + 1 : k;
    w = provenance_scan_letters(s, n, v);
    if (w > v && provenance_scan_word_in(s, v, w, pv_verso)) {
        strbuf_adds(out, "ob");
        k = w < n && s[w] == '.' ? w + 1 : w;
    }
    *kp = k;
    return true;
}

static void pv_truncate(struct strbuf *b, size_t len)
{
    if (b->s != NULL) {
        b->len = len;
        b->s[len] = '\0';
    }
}

/* A sheet or a range of sheets, canonical hyphen. */
static bool pv_sheet_item(const char *s, size_t n, size_t *kp, struct strbuf *out)
{
    size_t k = *kp, t, len, mark;

    if (!pv_sheet_num(s, n, &k, out))
        return false;
    t = k;
    while (t < n && s[t] == ' ')
        t++;
    if (provenance_scan_is_dash(provenance_scan_cp(s, n, t, &len))) {
        t += len;
        while (t < n && s[t] == ' ')
            t++;
        mark = out->len;
        strbuf_addc(out, '-');
        if (pv_sheet_num(s, n, &t, out))
            k = t;
        else
            pv_truncate(out, mark);
    }
    *kp = k;
    return true;
}

/* Sheets at j: items joined by ", ". */
static char *pv_sheets(const char *s, size_t n, size_t j, size_t *endp)
{
    struct strbuf out = STRBUF_INIT;
    size_t k = j;

    if (!pv_sheet_item(s, n, &k, &out)) {
        strbuf_release(&out);
        return NULL;
    }
    while (k < n && s[k] == ',') {
        size_t t = k + 1, mark = out.len;

        while (t < n && s[t] == ' ')
            t++;
        strbuf_adds(&out, ", ");
        if (!pv_sheet_item(s, n, &t, &out)) {
            pv_truncate(&out, mark);
            break;
        }
        k = t;
    }
    *endp = k;
    return strbuf_steal(&out);
}

/* True when the letter at i can open a marker: a cheap filter before the
 * table. */
static bool pv_marker_initial(const char *s, size_t n, size_t i)
{
    size_t len;
    long cp = provenance_scan_lower(provenance_scan_cp(s, n, i, &len));

    if (cp < 0x80)
        return cp != 0 && strchr("adfklops", (int)cp) != NULL;
    return cp == 0x430 || cp == 0x434 || cp == 0x43a || cp == 0x43b || cp == 0x43e || cp == 0x43f ||
           cp == 0x441 || cp == 0x444; /* а д к л о п с ф */
}

/* A part (marker and identifier) starting at the word start i. */
static bool pv_comp_at(const char *s, size_t n, size_t i, struct pv_comp *c)
{
    size_t w = provenance_scan_letters(s, n, i), j;
    const struct pv_marker *m = NULL;

    if (w == i || w - i > 12 || !pv_marker_initial(s, n, i))
        return false;
    for (size_t k = 0; k < sizeof(pv_markers) / sizeof(pv_markers[0]) && m == NULL; k++)
        if (provenance_scan_word_eq(s, i, w, pv_markers[k].word))
            m = &pv_markers[k];
    if (m == NULL || (w - i == 1 && s[i] == 'K')) /* Polish "k." only */
        return false;
    j = w;
    if (m->field == PV_INVENTORY && !m->abbrev && j < n && s[j] == '\'')
        j++;
    else if (m->field == PV_INVENTORY && !m->abbrev && n - j >= 3 &&
             memcmp(s + j, "\xe2\x80\x99", 3) == 0)
        j += 3;
    if (j < n && s[j] == '.')
        j++;
    else if (m->abbrev)
        return false;
    while (j < n && s[j] == ' ')
        j++;
    c->field = m->field;
    c->page_like = m->field == PV_FOLDER && m->abbrev;
    c->start = i;
    c->value = m->field == PV_SHEETS ? pv_sheets(s, n, j, &c->end) : pv_ident(s, n, j, &c->end);
    return c->value != NULL;
}

/* Markers start a word and do not continue "XIX-J-1-j" or "4/b". */
static bool pv_marker_start(const char *s, size_t i)
{
    if (!provenance_scan_word_start(s, i))
        return false;
    return i == 0 || (s[i - 1] != '-' && s[i - 1] != '/' && s[i - 1] != '\'');
}

/* True when only numbers, punctuation and a year's "g." lie in [x, y). */
static bool pv_gap_ok(const char *s, size_t n, size_t x, size_t y)
{
    size_t k = x, len;

    while (k < y) {
        long cp = provenance_scan_cp(s, n, k, &len);

        if (cp == ';')
            return false;
        if (provenance_scan_is_letter(cp)) {
            size_t w = provenance_scan_letters(s, n, k);

            if (!provenance_scan_word_in(s, k, w, pv_year_abbrevs) || w >= y || s[w] != '.')
                return false;
            k = w;
            continue;
        }
        k += len ? len : 1;
    }
    return true;
}

/* ---- citations ---------------------------------------------------------- */

/* Back from k over separators and a dangling "and". */
static size_t pv_trim_end(const char *s, size_t from, size_t k)
{
    for (;;) {
        while (k > from && strchr(" ,:;(", s[k - 1]) != NULL)
            k--;
        if (k - from >= 4 && memcmp(s + k - 4, " and", 4) == 0)
            k -= 4;
        else
            return k;
    }
}

/* " and " at k followed by a reference or a part: the next citation. */
static bool pv_and_next(const char *s, size_t n, size_t k)
{
    size_t ne;
    struct pv_comp c;

    if (n - k < 6 || memcmp(s + k, " and ", 5) != 0)
        return false;
    if (provenance_name_reference(s, n, k + 5, &ne))
        return true;
    if (pv_comp_at(s, n, k + 5, &c)) {
        free(c.value);
        return true;
    }
    return false;
}

/* Where the text of a citation whose last part ends at from stops: its
 * sentence's end (kept), a ";", the next citation, or a reprint. */
static size_t pv_text_end(const char *s, size_t n, size_t from, size_t limit)
{
    for (size_t k = from; k < limit; k++) {
        char c = s[k];

        if (c == ';')
            return pv_trim_end(s, from, k);
        if ((c == '.' || c == '!' || c == '?') && provenance_scan_sentence_end(s, n, k))
            return k + 1;
        if (c == ' ' && pv_and_next(s, limit, k))
            return pv_trim_end(s, from, k);
        if ((unsigned char)c >= 'A' && provenance_scan_word_start(s, k)) {
            size_t w = provenance_scan_letters(s, n, k);

            if (provenance_scan_word_in(s, k, w, pv_stop_words))
                return pv_trim_end(s, from, k);
            if (w > k)
                k = w - 1;
        }
    }
    return pv_trim_end(s, from, limit);
}

/* A reference with no parts in s[a, b): archive only. */
static void pv_piece(const char *s, size_t a, size_t b, struct pv_list *out)
{
    struct citation c = {0};
    size_t ne;

    while (a < b && strchr(" ,.;:", s[a]) != NULL)
        a++;
    if (b - a > 4 && memcmp(s + a, "and ", 4) == 0)
        a += 4;
    while (b > a && strchr(" ,;:", s[b - 1]) != NULL)
        b--;
    if (b <= a || !provenance_name_reference(s, b, a, &ne))
        return;
    c.archive = provenance_name_copy(s, a, ne);
    c.text = xstrndup(s + a, b - a);
    pv_list_add(out, a, &c);
}

/* Text in [x, y) outside any citation with parts, cut into sentences. */
static void pv_leftover(const char *s, size_t n, size_t x, size_t y, struct pv_list *out)
{
    size_t p = x;

    for (size_t k = x; k <= y; k++) {
        if (k == y || s[k] == ';') {
            pv_piece(s, p, k, out);
            p = k + 1;
        } else if ((s[k] == '.' || s[k] == '!' || s[k] == '?') &&
                   provenance_scan_sentence_end(s, n, k)) {
            pv_piece(s, p, k + 1, out);
            p = k + 1;
        } else if (s[k] == ' ' && pv_and_next(s, y, k)) {
            pv_piece(s, p, k, out);
            p = k + 1;
        }
    }
}

static void pv_comp_push(struct pv_comp **v, size_t *nv, size_t *cap, const struct pv_comp *c)
{
    if (*nv == *cap) {
        *cap = *cap ? *cap * 2 : 16;
        *v = xreallocarray(*v, *cap, sizeof(**v));
    }
    (*v)[(*nv)++] = *c;
}

static void pv_group_push(struct pv_group **v, size_t *nv, size_t *cap, size_t comp)
{
    if (*nv == *cap) {
        *cap = *cap ? *cap * 2 : 8;
        *v = xreallocarray(*v, *cap, sizeof(**v));
    }
    memset(&(*v)[*nv], 0, sizeof(**v));
    (*v)[*nv].first = (*v)[*nv].last = comp;
    (*nv)++;
}

/* Citations in s[a, n): n is the end of this stretch of non-credit text. */
static void pv_parse_span(const char *s, size_t n, size_t a, struct pv_list *out)
{
    struct pv_comp *comps = NULL;
    struct pv_group *groups = NULL;
    size_t nc = 0, capc = 0, ng = 0, capg = 0, prev_end = a;

    for (size_t i = a; i < n;) {
        struct pv_comp c;

        if (!pv_marker_start(s, i)) {
            i++;
            continue;
        }
        if (pv_comp_at(s, n, i, &c)) {
            pv_comp_push(&comps, &nc, &capc, &c);
            i = c.end > i ? c.end : i + 1;
            continue;
        }
        i = provenance_scan_letters(s, n, i) > i ? provenance_scan_letters(s, n, i) : i + 1;
    }
    for (size_t k = 0; k < nc; k++) {
        struct pv_group *g = ng > 0 ? &groups[ng - 1] : NULL;
        unsigned bit = 1u << comps[k].field;

        if (g != NULL && !(g->fields & bit) &&
            pv_gap_ok(s, n, comps[g->last].end, comps[k].start)) {
            g->last = k;
        } else {
            pv_group_push(&groups, &ng, &capg, k);
            g = &groups[ng - 1];
        }
        g->fields |= bit;
    }
    for (size_t k = 0; k < ng; k++) {
        struct pv_group *g = &groups[k];
        size_t lead = k == 0 ? a : comps[groups[k - 1].last].end;

        g->start = comps[g->first].start;
        g->archive = provenance_name_archive(s, n, lead, g->start, &g->start);
        g->keep = !(g->first == g->last && comps[g->first].page_like);
    }
    for (size_t k = 0; k < ng; k++) {
        size_t limit = n, next;

        if (!groups[k].keep)
            continue;
        for (next = k + 1; next < ng && !groups[next].keep; next++)
            ;
        if (next < ng)
            limit = groups[next].start;
        groups[k].end = pv_text_end(s, n, comps[groups[k].last].end, limit);
    }
    for (size_t k = 0; k < ng; k++) {
        struct pv_group *g = &groups[k];
        struct citation c = {0};

        if (!g->keep) {
            free(g->archive);
            continue;
        }
        pv_leftover(s, n, prev_end, g->start, out);
        prev_end = g->end;
        c.archive = g->archive;
        for (size_t j = g->first; j <= g->last; j++) {
            char **field[] = {&c.fund, &c.inventory, &c.folder, &c.file, &c.sheets};

            *field[comps[j].field] = comps[j].value;
            comps[j].value = NULL;
        }
        c.text = xstrndup(s + g->start, g->end - g->start);
        pv_list_add(out, g->start, &c);
    }
    pv_leftover(s, n, prev_end, n, out);
    for (size_t k = 0; k < nc; k++)
        free(comps[k].value);
    free(comps);
    free(groups);
}

static int pv_found_cmp(const void *x, const void *y)
{
    const struct pv_found *a = x, *b = y;

    return a->start < b->start ? -1 : a->start > b->start;
}

void provenance_parse(const char *source, struct record *r)
{
    struct provenance_span *credits = NULL;
    struct pv_list found = {0};
    size_t n, nspans, at = 0;
    char *clean, *s;

    if (source == NULL || r == NULL)
        return;
    clean = text_utf8_sanitize(source, strlen(source));
    s = text_squash_ws(clean);
    free(clean);
    n = strlen(s);
    nspans = provenance_credit_scan(s, n, r, &credits);
    for (size_t k = 0; k <= nspans; k++) {
        size_t end = k < nspans ? credits[k].start : n;

        if (end > at)
            pv_parse_span(s, end, at, &found);
        if (k < nspans)
            at = credits[k].end;
    }
    if (found.n > 1)
        qsort(found.v, found.n, sizeof(*found.v), pv_found_cmp);
    for (size_t k = 0; k < found.n; k++)
        record_add_citation_steal(r, &found.v[k].c);
    free(found.v);
    free(credits);
    free(s);
}
