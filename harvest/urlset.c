/*
 * urlset: a set of strings kept in one arena, to drop duplicate URLs in
 * lists, sitemaps and listing walks.
 *
 * It owns its arena and tables and copies what it is given; it knows
 * nothing of URLs beyond their bytes and never logs.
 */
#include "urlset.h"

#include "xmalloc.h"

#include <stdlib.h>
#include <string.h>

static uint64_t urlset_hash(const char *s, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ULL;

    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 0x100000001b3ULL;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return h;
}

const char *urlset_get(const struct urlset *u, size_t i)
{
    return u->arena + u->offs[i];
}

/* The slot holding s (*found) or the empty slot where it would go. */
static size_t urlset_find(const struct urlset *u, const char *s, size_t n, uint64_t h, bool *found)
{
    uint64_t tag = h >> 32;
    size_t mask = u->scap - 1, i = (size_t)tag & mask;

    for (;; i = (i + 1) & mask) {
        uint64_t v = u->slots[i];
        if (v == 0) {
            *found = false;
            return i;
        }
        if (v >> 32 == tag) {
            const char *t = urlset_get(u, (size_t)(v & 0xffffffffu) - 1);
            if (memcmp(t, s, n) == 0 && t[n] == '\0') {
                *found = true;
                return i;
            }
        }
    }
}

static void urlset_grow_slots(struct urlset *u)
{
    size_t cap = u->scap ? u->scap * 2 : 64, mask = cap - 1;
    uint64_t *old = u->slots;
    size_t oldcap = u->scap;

    /* The stored hash bits give each entry its new place without
     * touching the string. */
    u->slots = xcalloc(cap, sizeof(*u->slots));
    u->scap = cap;
    for (size_t i = 0; i < oldcap; i++) {
        if (old[i] == 0)
            continue;
        size_t j = (size_t)(old[i] >> 32) & mask;
        while (u->slots[j] != 0)
            j = (j + 1) & mask;
        u->slots[j] = old[i];
    }
    free(old);
}

bool urlset_has(const struct urlset *u, const char *s, size_t n)
{
    bool found;

    if (u->scap == 0)
        return false;
    urlset_find(u, s, n, urlset_hash(s, n), &found);
    return found;
}

long urlset_index(const struct urlset *u, const char *s, size_t n)
{
    bool found;
    size_t slot;

    if (u->scap == 0)
        return -1;
    slot = urlset_find(u, s, n, urlset_hash(s, n), &found);
    return found ? (long)((u->slots[slot] & 0xffffffffu) - 1) : -1;
}

bool urlset_add(struct urlset *u, const char *s, size_t n)
{
    uint64_t h = urlset_hash(s, n);
    bool found;
    size_t slot;

    if ((u->n + 1) * 10 > u->scap * 7)
        urlset_grow_slots(u);
    slot = urlset_find(u, s, n, h, &found);
    if (found)
        return false;
    if (u->alen + n + 1 > u->acap) {
        size_t cap = u->acap ? u->acap : 4096;
        while (cap < u->alen + n + 1)
            cap *= 2;
        u->arena = xreallocarray(u->arena, cap, 1);
        u->acap = cap;
    }
    if (u->n == u->ocap) {
        u->ocap = u->ocap ? u->ocap * 2 : 64;
        u->offs = xreallocarray(u->offs, u->ocap, sizeof(*u->offs));
    }
    memcpy(u->arena + u->alen, s, n);
    u->arena[u->alen + n] = '\0';
    u->offs[u->n] = u->alen;
    u->alen += n + 1;
    u->slots[slot] = (h >> 32) << 32 | (uint64_t)(++u->n);
    return true;
}

void urlset_release(struct urlset *u)
{
    free(u->arena);
    free(u->offs);
    free(u->slots);
    memset(u, 0, sizeof(*u));
}
