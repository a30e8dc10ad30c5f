/*
 * strbuf: a growable, always NUL-terminated byte string. The buffer owns
 * its bytes until strbuf_steal() hands them to the caller.
 */
#ifndef PROVD_STRBUF_H
#define PROVD_STRBUF_H

#include <stddef.h>

struct strbuf {
    char *s;    /* NUL-terminated; NULL until the first append */
    size_t len; /* bytes before the NUL */
    size_t cap; /* allocated bytes */
};

#define STRBUF_INIT                                                                                \
    {                                                                                              \
        NULL, 0, 0                                                                                 \
    }

/* Append n bytes (NULs allowed). */
void strbuf_add(struct strbuf *b, const void *data, size_t n);
/* Append a NUL-terminated string. */
void strbuf_adds(struct strbuf *b, const char *s);
/* Append one byte. */
void strbuf_addc(struct strbuf *b, char c);
/* Append printf output. */
void strbuf_addf(struct strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Forget the contents, keep the allocation. */
void strbuf_reset(struct strbuf *b);
/* Drop the last bytes while they are ASCII spaces. */
void strbuf_rtrim(struct strbuf *b);
/* Return the string (an empty one if nothing was added) and reset b; the
 * caller frees it. */
char *strbuf_steal(struct strbuf *b);
/* Free the contents; b may be reused. */
void strbuf_release(struct strbuf *b);
/* The current contents, "" when empty; valid until the next change. */
const char *strbuf_str(const struct strbuf *b);

#endif
