/*
 * catalog_hash: a plain SHA-256 (FIPS 180-4) over byte strings. Owns no
 * memory and touches no library; the catalog feeds it the normalised
 * fields of a record.
 */
#include "catalog_hash.h"

#include <string.h>

static const uint32_t catalog_hash_k[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static uint32_t catalog_hash_ror(uint32_t x, unsigned n)
{
    return (x >> n) | (x << (32 - n));
}

static void catalog_hash_block(struct catalog_hash *h, const unsigned char *p)
{
    uint32_t w[64], a, b, c, d, e, f, g, k, t1, t2;
    int i;

    for (i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
               (uint32_t)p[4 * i + 2] << 8 | (uint32_t)p[4 * i + 3];
    for (i = 16; i < 64; i++) {
        uint32_t s0 =
            catalog_hash_ror(w[i - 15], 7) ^ catalog_hash_ror(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 =
            catalog_hash_ror(w[i - 2], 17) ^ catalog_hash_ror(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    a = h->h[0];
    b = h->h[1];
    c = h->h[2];
    d = h->h[3];
    e = h->h[4];
    f = h->h[5];
    g = h->h[6];
    k = h->h[7];
    for (i = 0; i < 64; i++) {
        uint32_t s1 = catalog_hash_ror(e, 6) ^ catalog_hash_ror(e, 11) ^ catalog_hash_ror(e, 25);
        uint32_t ch = (e & f) ^ (~e & g);
        uint32_t s0 = catalog_hash_ror(a, 2) ^ catalog_hash_ror(a, 13) ^ catalog_hash_ror(a, 22);
        uint32_t maj = (a & b) ^ (a & c) ^ (b & c);

        t1 = k + s1 + ch + catalog_hash_k[i] + w[i];
        t2 = s0 + maj;
        k = g;
        g = f;
        f = e;
        e = d + t1;
        d = c;
        c = b;
        b = a;
        a = t1 + t2;
    }
    h->h[0] += a;
    h->h[1] += b;
    h->h[2] += c;
    h->h[3] += d;
    h->h[4] += e;
    h->h[5] += f;
    h->h[6] += g;
    h->h[7] += k;
}

void catalog_hash_init(struct catalog_hash *h)
{
    static const uint32_t iv[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};

    memcpy(h->h, iv, sizeof(iv));
    h->bytes = 0;
    h->fill = 0;
}

void catalog_hash_add(struct catalog_hash *h, const void *data, size_t n)
{
    const unsigned char *p = data;

    h->bytes += n;
    if (h->fill > 0) {
        size_t take = 64 - h->fill < n ? 64 - h->fill : n;

        memcpy(h->buf + h->fill, p, take);
        h->fill += take;
        p += take;
        n -= take;
        if (h->fill < 64)
            return;
        catalog_hash_block(h, h->buf);
        h->fill = 0;
    }
    while (n >= 64) {
        catalog_hash_block(h, p);
        p += 64;
        n -= 64;
    }
    memcpy(h->buf, p, n);
    h->fill = n;
}

void catalog_hash_final(struct catalog_hash *h, unsigned char out[CATALOG_HASH_LEN])
{
    uint64_t bits = h->bytes * 8;
    unsigned char pad = 0x80, zero = 0, len[8];
    int i;

    catalog_hash_add(h, &pad, 1);
    while (h->fill != 56)
        catalog_hash_add(h, &zero, 1);
    for (i = 0; i < 8; i++)
        len[i] = (unsigned char)(bits >> (56 - 8 * i));
    catalog_hash_add(h, len, 8);
    for (i = 0; i < 8; i++) {
        out[4 * i] = (unsigned char)(h->h[i] >> 24);
        out[4 * i + 1] = (unsigned char)(h->h[i] >> 16);
        out[4 * i + 2] = (unsigned char)(h->h[i] >> 8);
        out[4 * i + 3] = (unsigned char)h->h[i];
    }
}
