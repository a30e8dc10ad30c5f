/*
 * libFuzzer target for page extraction: any bytes are a page, extracted
 * with the built-in wilson profile. A first byte 0x01-0x08 picks the HTTP
 * charset the page comes with (and is not part of the page), so decoding
 * is fuzzed too. Every outcome must be clear: a record whose strings are
 * all valid UTF-8, marked partial exactly when the category says so; or
 * no record, a category other than OK and a reason.
 */
#include "harvest.h"
#include "record_json.h"
#include "text.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const fuzz_charsets[] = {
    NULL,        "utf-8",      "windows-1251", "utf-16", "UTF-16BE", "x-no-such-charset",
    "shift_jis", "iso-8859-1", "koi8-r",
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    extract_global_init();
    if (profile_builtin("wilson") == NULL)
        abort();
    return 0;
}

static void fuzz_check(const char *s)
{
    if (s != NULL && !text_utf8_valid(s, strlen(s)))
        abort();
}

static void fuzz_check_list(const struct strlist *l)
{
    for (size_t i = 0; i < l->n; i++)
        fuzz_check(l->v[i]);
}

static void fuzz_check_record(const struct record *r)
{
    char *line;

    fuzz_check(r->url);
    fuzz_check(r->record_id);
    fuzz_check(r->title);
    fuzz_check(r->date);
    fuzz_check(r->date_iso);
    fuzz_check(r->summary);
    fuzz_check(r->type);
    fuzz_check(r->classification);
    fuzz_check(r->uploaded);
    fuzz_check(r->source);
    fuzz_check(r->text);
    fuzz_check_list(&r->languages);
    fuzz_check_list(&r->original_archives);
    fuzz_check_list(&r->funders);
    fuzz_check_list(&r->subjects);
    fuzz_check_list(&r->people);
    fuzz_check_list(&r->places);
    fuzz_check_list(&r->contributors);
    fuzz_check_list(&r->translators);
    for (size_t i = 0; i < r->n_citations; i++) {
        fuzz_check(r->citations[i].archive);
        fuzz_check(r->citations[i].sheets);
        fuzz_check(r->citations[i].text);
    }
    if (r->record_id == NULL || r->title == NULL)
        abort(); /* never a hollow record */
    line = record_to_json_line(r, RECORD_JSON_TEXT);
    fuzz_check(line);
    free(line);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const struct profile *p = profile_builtin("wilson");
    struct extract_result res = {0};
    const char *charset = NULL;
    int rc;

    if (size > 0 && data[0] >= 1 && data[0] <= 8) {
        charset = fuzz_charsets[data[0]];
        data++;
        size--;
    }
    rc = extract_page(p, (const char *)data, size, "fuzz.html", charset, &res);
    fuzz_check(res.reason);
    if (rc == 0) {
        if (res.record == NULL || (res.category != PROV_OK && res.category != PROV_PARSE_PARTIAL))
            abort();
        if (res.record->partial != (res.category == PROV_PARSE_PARTIAL))
            abort();
        fuzz_check_record(res.record);
    } else if (res.record != NULL || res.category == PROV_OK || res.reason[0] == '\0') {
        abort();
    }
    extract_result_clear(&res);
    return 0;
}
