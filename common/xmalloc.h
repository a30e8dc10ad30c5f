/*
 * Allocation that never returns NULL: running out of memory is fatal for
 * provd (as in tmux's xmalloc.c), so call sites stay short. Every other
 * error (I/O, parse, SQL) is recoverable and reported by the caller.
 */
#ifndef PROVD_XMALLOC_H
#define PROVD_XMALLOC_H

#include <stddef.h>

/* malloc(size); exits with a message if the allocation fails. */
void *xmalloc(size_t size);
/* calloc(n, size) with an overflow check; exits on failure. */
void *xcalloc(size_t n, size_t size);
/* realloc(p, n * size) with an overflow check; exits on failure. */
void *xreallocarray(void *p, size_t n, size_t size);
/* strdup(s); s must not be NULL. */
char *xstrdup(const char *s);
/* strdup(s) that passes NULL through. */
char *xstrdup_or_null(const char *s);
/* A NUL-terminated copy of the first n bytes of s. */
char *xstrndup(const char *s, size_t n);
/* printf into a new string; the caller frees it. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
