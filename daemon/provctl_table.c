/*
 * provctl_table: measuring, cleaning, cutting and wrapping UTF-8 text for
 * a terminal, and aligned tables. It owns the cells of its tables (copies,
 * cleaned when added); it only writes to the FILE it is given and reads
 * the terminal size and $COLUMNS.
 */
#include "provctl_table.h"

#include "strbuf.h"
#include "text.h"
#include "xmalloc.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

struct provctl_table {
    unsigned ncols;
    char **cells; /* rows * ncols; row 0 is the header */
    size_t rows;  /* header included */
    size_t cap;
    unsigned flex;
    unsigned flex_min;
    bool *right;
};

unsigned provctl_term_width(FILE *f)
{
    struct winsize ws;
    const char *env = getenv("COLUMNS");
    unsigned w = PROVCTL_DEFAULT_WIDTH;

    if (isatty(fileno(f)) && ioctl(fileno(f), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) {
        w = ws.ws_col;
    } else if (env && *env) {
        char *end;
        unsigned long v = strtoul(env, &end, 10);

        if (*end == '\0' && v > 0 && v < 10000)
            w = (unsigned)v;
    }
    return w < 40 ? 40 : w;
}

/* Columns of code point cp on a terminal. */
static unsigned provctl_cp_width(long cp)
{
    if (cp < 0)
        return 1;
    if ((cp >= 0x0300 && cp <= 0x036F) || (cp >= 0x200B && cp <= 0x200F) ||
        (cp >= 0xFE20 && cp <= 0xFE2F))
        return 0;
    if ((cp >= 0x1100 && cp <= 0x115F) || (cp >= 0x2E80 && cp <= 0xA4CF) ||
        (cp >= 0xAC00 && cp <= 0xD7A3) || (cp >= 0xF900 && cp <= 0xFAFF) ||
        (cp >= 0xFE30 && cp <= 0xFE4F) || (cp >= 0xFF00 && cp <= 0xFF60) ||
        (cp >= 0xFFE0 && cp <= 0xFFE6) || (cp >= 0x1F300 && cp <= 0x1F64F) ||
        (cp >= 0x20000 && cp <= 0x3FFFD))
        return 2;
    return 1;
}

size_t provctl_text_width(const char *s)
{
    const char *p = s, *end = s + strlen(s);
    size_t w = 0;

    while (p < end)
        w += provctl_cp_width(text_utf8_next(&p, end));
    return w;
}

/* Is code point cp a control character or white space to fold? */
static bool provctl_cp_space(long cp)
{
    return cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp <= 0x9F) || cp == 0xA0 ||
           (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F ||
           cp == 0x205F || cp == 0x3000 || cp == 0xFEFF;
}

char *provctl_text_fit(const char *s, size_t width)
{
    struct strbuf b = STRBUF_INIT;
    const char *p = s, *end = s + strlen(s);
    /* the byte length and width of b at the last point where "…" fits */
    size_t used = 0, keep_len = 0;
    bool space = false, cut = false;

    while (p < end && *p == ' ')
        p++;
    while (p < end) {
        const char *start = p;
        long cp = text_utf8_next(&p, end);
        unsigned w;

        if (cp >= 0 && provctl_cp_space(cp)) {
            space = true;
            continue;
        }
        if (space && b.len > 0) {
            if (width && used + 1 > width) {
                cut = true;
                break;
            }
            if (!width || used + 1 <= width - 1)
                keep_len = b.len + 1;
            strbuf_addc(&b, ' ');
            used++;
        }
        space = false;
        w = provctl_cp_width(cp);
        if (width && used + w > width) {
            cut = true;
            break;
        }
        if (cp < 0)
            strbuf_adds(&b, "\xEF\xBF\xBD");
        else
            strbuf_add(&b, start, (size_t)(p - start));
        used += w;
        if (!width || used <= width - 1)
            keep_len = b.len;
    }
    if (cut) {
        b.len = keep_len;
        strbuf_rtrim(&b);
        strbuf_adds(&b, "\xE2\x80\xA6");
    }
    return strbuf_steal(&b);
}

void provctl_text_wrap(FILE *out, const char *s, unsigned first_used, unsigned indent,
                       unsigned width)
{
    char *clean = provctl_text_fit(s, 0);
    unsigned col = first_used;
    bool first = true;
    char *word = clean;

    while (*word) {
        char *sp = strchr(word, ' ');
        size_t len = sp ? (size_t)(sp - word) : strlen(word);
        char save = word[len];
        unsigned w;

        word[len] = '\0';
        w = (unsigned)provctl_text_width(word);
        if (!first) {
            if (col + 1 + w > width) {
                fprintf(out, "\n%*s", (int)indent, "");
                col = indent;
            } else {
                fputc(' ', out);
                col++;
            }
        }
        fputs(word, out);
        col += w;
        first = false;
        word[len] = save;
        word += len;
        while (*word == ' ')
            word++;
    }
    fputc('\n', out);
    free(clean);
}

struct provctl_table *provctl_table_new(unsigned ncols, const char *const *headers)
{
    struct provctl_table *t = xcalloc(1, sizeof(*t));

    t->ncols = ncols;
    t->flex = ncols - 1;
    t->right = xcalloc(ncols, sizeof(*t->right));
    provctl_table_add(t, headers);
    return t;
}

void provctl_table_free(struct provctl_table *t)
{
    if (t == NULL)
        return;
    for (size_t i = 0; i < t->rows * t->ncols; i++)
        free(t->cells[i]);
    free(t->cells);
    free(t->right);
    free(t);
}

void provctl_table_flex(struct provctl_table *t, unsigned col, unsigned min)
{
    t->flex = col;
    t->flex_min = min;
}

void provctl_table_right(struct provctl_table *t, unsigned col)
{
    t->right[col] = true;
}

void provctl_table_add(struct provctl_table *t, const char *const *cells)
{
    if (t->rows == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 16;
        t->cells = xreallocarray(t->cells, t->cap * t->ncols, sizeof(*t->cells));
    }
    for (unsigned c = 0; c < t->ncols; c++)
        t->cells[t->rows * t->ncols + c] = provctl_text_fit(cells[c] ? cells[c] : "-", 0);
    t->rows++;
}

size_t provctl_table_rows(const struct provctl_table *t)
{
    return t->rows - 1;
}

void provctl_table_print(const struct provctl_table *t, FILE *out, unsigned width)
{
    size_t *w = xcalloc(t->ncols, sizeof(*w));
    size_t total = 0;

    for (size_t r = 0; r < t->rows; r++)
        for (unsigned c = 0; c < t->ncols; c++) {
            size_t cw = provctl_text_width(t->cells[r * t->ncols + c]);

            if (cw > w[c])
                w[c] = cw;
        }
    for (unsigned c = 0; c < t->ncols; c++)
        total += w[c] + (c ? 2 : 0);
    if (width && total > width) {
        size_t others = total - w[t->flex];
        size_t room = width > others ? width - others : 0;

        w[t->flex] = room > t->flex_min ? room : t->flex_min;
    }
    for (size_t r = 0; r < t->rows; r++) {
        struct strbuf line = STRBUF_INIT;

        for (unsigned c = 0; c < t->ncols; c++) {
            char *cell = provctl_text_fit(t->cells[r * t->ncols + c], w[c]);
            size_t pad = w[c] - provctl_text_width(cell);
            bool last = c + 1 == t->ncols;

            if (c)
                strbuf_adds(&line, "  ");
            if (t->right[c])
                strbuf_addf(&line, "%*s", (int)pad, "");
            strbuf_adds(&line, cell);
            if (!t->right[c] && !last)
                strbuf_addf(&line, "%*s", (int)pad, "");
            free(cell);
        }
        strbuf_rtrim(&line);
        fprintf(out, "%s\n", strbuf_str(&line));
        strbuf_release(&line);
    }
    free(w);
}
