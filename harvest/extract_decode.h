/*
 * extract_decode: turn a page's bytes into the UTF-8 text libxml2 parses,
 * choosing the encoding by a fixed precedence (HTTP header charset, then
 * byte-order mark, then <meta> charset, then UTF-8). Internal to harvest/.
 */
#ifndef PROVD_EXTRACT_DECODE_H
#define PROVD_EXTRACT_DECODE_H

#include <stddef.h>

/* Most bytes a decoded page may take (UTF-16 or legacy input can grow
 * when turned into UTF-8); beyond it extract_decode() fails. */
#define EXTRACT_DECODED_MAX (16u * 1024 * 1024)

struct extract_input {
    const char *data; /* valid UTF-8 without NUL bytes or BOM */
    size_t len;
    char *owned;       /* data, when it had to be rewritten; else NULL */
    char encoding[48]; /* what the bytes were read as: "UTF-8", "windows-1251" */
    const char *rule;  /* what chose it: "header", "bom", "meta" or "default" */
    size_t replaced;   /* invalid sequences replaced by U+FFFD */
    size_t nuls;       /* NUL bytes replaced by spaces */
};

/* Decode len bytes at body. charset is the HTTP header's charset label or
 * NULL; a label that names no known encoding is ignored (the next rule
 * applies). Invalid sequences become U+FFFD and NUL bytes spaces, so
 * nothing after them is lost. Returns 0, or -EFBIG when the decoded text
 * would pass EXTRACT_DECODED_MAX. body must outlive in when nothing was
 * rewritten; release in with extract_decode_release() in both cases. */
int extract_decode(const char *body, size_t len, const char *charset, struct extract_input *in);

/* Free what in owns. */
void extract_decode_release(struct extract_input *in);

#endif
