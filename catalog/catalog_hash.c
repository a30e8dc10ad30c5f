/*
 * catalog_hash: a plain SHA-256 (FIPS 180-4) over byte strings. Owns no
 * memory and touches no library; the catalog feeds it the normalised
 * fields of a record. On x86-64 processors with the SHA extensions the
 * blocks go through those instructions (chosen once, at the first hash),
 * elsewhere through portable C; both give the same digest. Hashing is
 * the largest piece of catalog_upsert()'s own work outside SQLite, as
 * every record's document text goes through it.
 */
#include "catalog_hash.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define CATALOG_HASH_X86 1
#include <cpuid.h>
#include <immintrin.h>
#else
#define CATALOG_HASH_X86 0
#endif

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

/* Portable compression of one 64-byte block into state. */
static void catalog_hash_block_c(uint32_t state[8], const unsigned char *p)
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
    a = state[0];
    b = state[1];
    c = state[2];
    d = state[3];
    e = state[4];
    f = state[5];
    g = state[6];
    k = state[7];
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
    state[0] += a;
    state[1] += b;
    state[2] += c;
    state[3] += d;
    state[4] += e;
    state[5] += f;
    state[6] += g;
    state[7] += k;
}

#if CATALOG_HASH_X86
/* Four rounds with the SHA extensions: msg holds W[t..t+3] + K[t..t+3];
 * s0 is ABEF, s1 CDGH. */
#define CATALOG_HASH_ROUNDS4(s0, s1, msg)                                                          \
    do {                                                                                           \
        (s1) = _mm_sha256rnds2_epu32((s1), (s0), (msg));                                           \
        (s0) = _mm_sha256rnds2_epu32((s0), (s1), _mm_shuffle_epi32((msg), 0x0e));                  \
    } while (0)

/* The next four message words W[t..t+3] from the four groups before
 * them: w0 = W[t-16..t-13], w1, w2, w3 = W[t-4..t-1]. */
#define CATALOG_HASH_SCHEDULE(w0, w1, w2, w3)                                                      \
    _mm_sha256msg2_epu32(                                                                          \
        _mm_add_epi32(_mm_sha256msg1_epu32((w0), (w1)), _mm_alignr_epi8((w3), (w2), 4)), (w3))

__attribute__((target("sha,sse4.1,ssse3"))) static void
catalog_hash_blocks_shani(uint32_t state[8], const unsigned char *p, size_t n)
{
    const __m128i swap = _mm_set_epi64x(0x0c0d0e0f08090a0bLL, 0x0405060700010203LL);
    __m128i t = _mm_loadu_si128((const __m128i *)&state[0]);
    __m128i s1 = _mm_loadu_si128((const __m128i *)&state[4]);
    __m128i s0;

    /* From the state words A..H to the ABEF and CDGH halves that the
     * round instructions work on, and back at the end. */
    t = _mm_shuffle_epi32(t, 0xb1);
    s1 = _mm_shuffle_epi32(s1, 0x1b);
    s0 = _mm_alignr_epi8(t, s1, 8);
    s1 = _mm_blend_epi16(s1, t, 0xf0);
    for (; n > 0; n--, p += 64) {
        __m128i save0 = s0, save1 = s1, w[4];

        for (int i = 0; i < 4; i++) {
            w[i] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 16 * i)), swap);
            CATALOG_HASH_ROUNDS4(
                s0, s1,
                _mm_add_epi32(w[i], _mm_loadu_si128((const __m128i *)&catalog_hash_k[4 * i])));
        }
        for (int i = 4; i < 16; i++) {
            __m128i x =
                CATALOG_HASH_SCHEDULE(w[i & 3], w[(i + 1) & 3], w[(i + 2) & 3], w[(i + 3) & 3]);

            w[i & 3] = x;
            CATALOG_HASH_ROUNDS4(
                s0, s1, _mm_add_epi32(x, _mm_loadu_si128((const __m128i *)&catalog_hash_k[4 * i])));
        }
        s0 = _mm_add_epi32(s0, save0);
        s1 = _mm_add_epi32(s1, save1);
    }
    t = _mm_shuffle_epi32(s0, 0x1b);
    s1 = _mm_shuffle_epi32(s1, 0xb1);
    s0 = _mm_blend_epi16(t, s1, 0xf0);
    s1 = _mm_alignr_epi8(s1, t, 8);
    _mm_storeu_si128((__m128i *)&state[0], s0);
    _mm_storeu_si128((__m128i *)&state[4], s1);
}

/* True when the processor has the SHA extensions and the SSE levels the
 * code above uses. */
static bool catalog_hash_cpu_sha(void)
{
    unsigned a, b, c, d;

    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_SSSE3) || !(c & bit_SSE4_1))
        return false;
    if (__get_cpuid_max(0, NULL) < 7)
        return false;
    __cpuid_count(7, 0, a, b, c, d);
    return (b & bit_SHA) != 0;
}
#endif

/* Compress n consecutive blocks at p into h. */
static void catalog_hash_blocks(struct catalog_hash *h, const unsigned char *p, size_t n)
{
#if CATALOG_HASH_X86
    /* 0: not probed yet, 1: portable C, 2: SHA extensions. */
    static atomic_int impl;
    int use = atomic_load_explicit(&impl, memory_order_relaxed);

    if (use == 0) {
        use = catalog_hash_cpu_sha() ? 2 : 1;
        atomic_store_explicit(&impl, use, memory_order_relaxed);
    }
    if (use == 2) {
        catalog_hash_blocks_shani(h->h, p, n);
        return;
    }
#endif
    for (; n > 0; n--, p += 64)
        catalog_hash_block_c(h->h, p);
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
        catalog_hash_blocks(h, h->buf, 1);
        h->fill = 0;
    }
    if (n >= 64) {
        catalog_hash_blocks(h, p, n / 64);
        p += n - n % 64;
        n %= 64;
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
