/*
 * libFuzzer target for the provenance parser: any bytes are made valid
 * UTF-8 (as extraction does before parsing), parsed into a fresh record,
 * checked and freed. Every string the parser returns must be valid UTF-8
 * and every citation must carry its text.
 */
#include "harvest.h"
#include "text.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_check(const char *s)
{
    if (s != NULL && !text_utf8_valid(s, strlen(s)))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *source = text_utf8_sanitize((const char *)data, size);
    struct record *r = record_new();

    provenance_parse(source, r);
    for (size_t i = 0; i < r->n_citations; i++) {
        const struct citation *c = &r->citations[i];

        if (c->text == NULL || c->text[0] == '\0')
            abort();
        fuzz_check(c->archive);
        fuzz_check(c->fund);
        fuzz_check(c->inventory);
        fuzz_check(c->folder);
        fuzz_check(c->file);
        fuzz_check(c->sheets);
        fuzz_check(c->text);
    }
    for (size_t i = 0; i < r->contributors.n; i++)
        fuzz_check(r->contributors.v[i]);
    for (size_t i = 0; i < r->translators.n; i++)
        fuzz_check(r->translators.v[i]);
    record_free(r);
    free(source);
    return 0;
}
