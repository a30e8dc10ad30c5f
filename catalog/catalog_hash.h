/*
 * catalog_hash: SHA-256, for the content hash that decides whether a
 * record changed. Internal to catalog/.
 */
#ifndef PROVD_CATALOG_HASH_H
#define PROVD_CATALOG_HASH_H

#include <stddef.h>
#include <stdint.h>

#define CATALOG_HASH_LEN 32

struct catalog_hash {
    uint32_t h[8];
    uint64_t bytes; /* message length so far */
    unsigned char buf[64];
    size_t fill; /* bytes waiting in buf */
};

/* Start a new hash. */
void catalog_hash_init(struct catalog_hash *h);

/* Add n bytes at data. */
void catalog_hash_add(struct catalog_hash *h, const void *data, size_t n);

/* Finish: the 32-byte digest goes to out; h must be initialised again
 * before reuse. */
void catalog_hash_final(struct catalog_hash *h, unsigned char out[CATALOG_HASH_LEN]);

#endif
