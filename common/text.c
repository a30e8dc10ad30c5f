/*
 * text: UTF-8 validation and repair, white-space folding and the
 * case/accent folding used to match names. Owns nothing; every returned
 * string is the caller's.
 */
#include "text.h"

#include "strbuf.h"
#include "xmalloc.h"

#include <string.h>

long text_utf8_next(const char **p, const char *end)
{
    const unsigned char *s = (const unsigned char *)*p;
    const unsigned char *e = (const unsigned char *)end;
    unsigned long cp, min;
    int extra, i;

    if (s >= e)
        return -1;
    if (s[0] < 0x80) {
        *p += 1;
        return s[0];
    } else if (s[0] >= 0xc2 && s[0] <= 0xdf) {
        cp = s[0] & 0x1f;
        extra = 1;
        min = 0x80;
    } else if (s[0] >= 0xe0 && s[0] <= 0xef) {
        cp = s[0] & 0x0f;
        extra = 2;
        min = 0x800;
    } else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
        cp = s[0] & 0x07;
        extra = 3;
        min = 0x10000;
    } else {
        *p += 1;
        return -1;
    }
    if (e - s <= extra) {
        *p += 1;
        return -1;
    }
    for (i = 1; i <= extra; i++) {
        if ((s[i] & 0xc0) != 0x80) {
            *p += 1;
            return -1;
        }
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
        *p += 1;
        return -1;
    }
    *p += extra + 1;
    return (long)cp;
}

size_t text_utf8_put(char *out, unsigned long cp)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    } else if (cp < 0x800) {
        out[0] = (char)(0xc0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    } else if (cp < 0x10000) {
        out[0] = (char)(0xe0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (char)(0xf0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    out[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

bool text_utf8_valid(const char *s, size_t n)
{
    const char *p = s, *end = s + n;

    while (p < end) {
        if ((unsigned char)*p < 0x80) {
            if (*p == '\0')
                return false;
            p++;
            continue;
        }
        if (text_utf8_next(&p, end) < 0)
            return false;
    }
    return true;
}

char *text_utf8_sanitize(const char *s, size_t n)
{
    struct strbuf b = STRBUF_INIT;
    const char *p = s, *end = s + n, *run = s;
    char enc[4];

    while (p < end) {
        const char *at = p;
        long cp;

        if ((unsigned char)*p < 0x80 && *p != '\0') {
            p++;
            continue;
        }
        cp = text_utf8_next(&p, end);
        if (cp > 0)
            continue;
        strbuf_add(&b, run, (size_t)(at - run));
        if (cp == 0)
            strbuf_addc(&b, ' ');
        else
            strbuf_add(&b, enc, text_utf8_put(enc, 0xfffd));
        run = p;
    }
    strbuf_add(&b, run, (size_t)(end - run));
    return strbuf_steal(&b);
}

static bool text_is_space(long cp)
{
    return cp == ' ' || cp == '\t' || cp == '\n' || cp == '\r' || cp == '\f' || cp == '\v' ||
           cp == 0xa0 || (cp >= 0x2000 && cp <= 0x200b) || cp == 0x202f || cp == 0x205f ||
           cp == 0x3000 || cp == 0xfeff;
}

char *text_squash_ws(const char *s)
{
    struct strbuf b = STRBUF_INIT;
    const char *p = s, *end = s + strlen(s);
    bool pending = false;

    while (p < end) {
        const char *at = p;
        long cp = text_utf8_next(&p, end);

        if (cp >= 0 && text_is_space(cp)) {
            pending = b.len > 0;
            continue;
        }
        if (pending)
            strbuf_addc(&b, ' ');
        pending = false;
        strbuf_add(&b, at, (size_t)(p - at));
    }
    return strbuf_steal(&b);
}

/* Base letter of a Latin-1 Supplement / Latin Extended-A letter, lower
 * case; 0 when there is none. */
static unsigned long text_fold_latin(unsigned long cp)
{
    static const char latin1[] = "aaaaaaaceeeeiiiidnooooo/ouuuuyts"  /* U+00C0.. */
                                 "aaaaaaaceeeeiiiidnooooo/ouuuuyty"; /* U+00E0.. */
    static const char exta[] = "aaaaaaccccccccddddeeeeeeeeeegggggggghhhhiiiiiiiiiiiijjkkk"
                               "llllllllllnnnnnnnnnoooooooorrrrrrssssssssttttttuuuuuuuuuuuu"
                               "wwyyyzzzzzzs"; /* U+0100..U+017F */

    if (cp >= 0xc0 && cp <= 0xff) {
        char c = latin1[cp - 0xc0];
        return c == '/' ? cp : (unsigned long)c;
    }
    if (cp >= 0x100 && cp <= 0x17f)
        return (unsigned long)exta[cp - 0x100];
    return 0;
}

char *text_fold(const char *s)
{
    struct strbuf b = STRBUF_INIT;
    const char *p = s, *end = s + strlen(s);
    char enc[4];

    while (p < end) {
        long cp = text_utf8_next(&p, end);
        unsigned long c, base;

        if (cp < 0)
            continue;
        c = (unsigned long)cp;
        if (c >= 'A' && c <= 'Z')
            c += 32;
        else if ((base = text_fold_latin(c)) != 0)
            c = base;
        else if (c >= 0x410 && c <= 0x42f) /* Cyrillic А..Я */
            c += 32;
        else if (c >= 0x400 && c <= 0x40f) /* Cyrillic Ѐ..Џ */
            c += 80;
        else if (c >= 0x300 && c <= 0x36f) /* combining accents */
            continue;
        strbuf_add(&b, enc, text_utf8_put(enc, c));
    }
    return strbuf_steal(&b);
}
