/*
 * urlset: a set of strings in one arena, used by the discover modules to
 * drop duplicate URLs. Internal to harvest/.
 */
#ifndef PROVD_URLSET_H
#define PROVD_URLSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Strings are appended to one arena (no per-string allocation) and found
 * through an open-addressing table whose slots hold the top 32 bits of
 * the hash (which also place the slot) and the string's index, kept at
 * most 70 % full: about len + 1 + 8 + 12 to 24 bytes per string, O(1) per
 * add, and a string is compared only when its hash bits match. A zeroed
 * struct is an empty set; n is the number of strings, in the order they
 * were added. */
struct urlset {
    char *arena;
    size_t alen, acap;
    size_t *offs; /* start of string i in the arena */
    size_t n, ocap;
    uint64_t *slots; /* 0: empty, else hash << 32 | (index + 1) */
    size_t scap;     /* a power of two */
};

/* Add a copy of the n bytes at s (no NUL among them). Returns false when
 * they were in u already. At most UINT32_MAX - 1 strings. */
bool urlset_add(struct urlset *u, const char *s, size_t n);

/* True when the n bytes at s are in u. */
bool urlset_has(const struct urlset *u, const char *s, size_t n);

/* The index of the n bytes at s in u (the order they were added in), or
 * -1 when they are not in u. */
long urlset_index(const struct urlset *u, const char *s, size_t n);

/* The i-th string added (i < u->n), NUL-terminated; lives until u is
 * released. */
const char *urlset_get(const struct urlset *u, size_t i);

/* Free what u owns and zero it, leaving an empty set. */
void urlset_release(struct urlset *u);

#endif
