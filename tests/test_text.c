/*
 * Tests of common/: UTF-8 validation and repair, white-space folding, name
 * folding, and the record's JSON round trip.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "record_json.h"
#include "strbuf.h"
#include "text.h"

#include <stdlib.h>
#include <string.h>

static void test_utf8_valid(void **state)
{
    static const struct {
        const char *s;
        size_t n;
        bool ok;
    } cases[] = {
        {"plain ascii", 11, true},
        {"\xd0\xa0\xd0\x93\xd0\x90\xd0\xa1\xd0\x9f\xd0\x98", 12, true}, /* РГАСПИ */
        {"\xe2\x80\x93", 3, true},                                      /* en dash */
        {"\xf0\x9f\x93\x9c", 4, true},                                  /* U+1F4DC */
        {"\xff\xfe", 2, false},
        {"\xc3\x28", 2, false},
        {"\xc0\xaf", 2, false},         /* overlong */
        {"\xed\xa0\x80", 3, false},     /* surrogate */
        {"\xf4\x90\x80\x80", 4, false}, /* above U+10FFFF */
        {"a\0b", 3, false},             /* NUL */
        {"\xe2\x80", 2, false},         /* truncated */
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        assert_int_equal(text_utf8_valid(cases[i].s, cases[i].n), cases[i].ok);
}

static void test_utf8_sanitize(void **state)
{
    char *s;

    (void)state;
    s = text_utf8_sanitize("a\xff"
                           "b\0c\xc3\x28",
                           7);
    assert_string_equal(s, "a\xef\xbf\xbd"
                           "b c\xef\xbf\xbd(");
    assert_true(text_utf8_valid(s, strlen(s)));
    free(s);
    s = text_utf8_sanitize("\xd0\xbb. 17 \xd0\xbe\xd0\xb1.", 12);
    assert_string_equal(s, "\xd0\xbb. 17 \xd0\xbe\xd0\xb1.");
    free(s);
}

static void test_squash_ws(void **state)
{
    static const char *const cases[][2] = {
        {"  a \t\n b  ", "a b"},
        {"", ""},
        {" \xc2\xa0 ", ""},
        {"RGASPI,\xc2\xa0"
         "f.\xe2\x80\x89"
         "558",
         "RGASPI, f. 558"},
        {"x\r\n\r\ny", "x y"},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *s = text_squash_ws(cases[i][0]);
        assert_string_equal(s, cases[i][1]);
        free(s);
    }
}

static void test_fold(void **state)
{
    static const char *const cases[][2] = {
        {"Gary Goldberg", "gary goldberg"},
        {"Sergey Radchenko", "sergey radchenko"},
        {"J\xc3\xa1nos R\xc3\xa1iner", "janos rainer"},
        {"\xc5\x81ukasz \xc5\xbb"
         "y\xc5\x82"
         "a",
         "lukasz zyla"},
        {"\xd0\xa0\xd0\x93\xd0\x90\xd0\xa1\xd0\x9f\xd0\x98",
         "\xd1\x80\xd0\xb3\xd0\xb0\xd1\x81\xd0\xbf\xd0\xb8"},
        {"Jose\xcc\x81", "jose"},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *s = text_fold(cases[i][0]);
        assert_string_equal(s, cases[i][1]);
        free(s);
    }
}

static void test_strbuf(void **state)
{
    struct strbuf b = STRBUF_INIT;
    char *s;

    (void)state;
    assert_string_equal(strbuf_str(&b), "");
    strbuf_adds(&b, "f. ");
    strbuf_addf(&b, "%d, op. %s", 558, "11");
    strbuf_addc(&b, ' ');
    strbuf_addc(&b, ' ');
    strbuf_rtrim(&b);
    assert_int_equal(b.len, 14);
    s = strbuf_steal(&b);
    assert_string_equal(s, "f. 558, op. 11");
    assert_null(b.s);
    free(s);
}

static void test_record_json_round_trip(void **state)
{
    struct record *r = record_new(), *back;
    struct citation c = {0};
    const char *err = NULL;
    json_t *o, *o2;
    char *line;

    (void)state;
    r->url = strdup("https://example.org/document/121885");
    r->record_id = strdup("121885");
    r->title = strdup("Telegram from \xd0\x9c\xd0\xbe\xd1\x81\xd0\xba\xd0\xb2\xd0\xb0");
    strlist_add(&r->languages, "Russian");
    c.archive = strdup("RGASPI");
    c.fund = strdup("558");
    c.inventory = strdup("11");
    c.file = strdup("99");
    c.sheets = strdup("11-12");
    c.text = strdup("RGASPI, f. 558, op. 11, d. 99, ll. 0011-0012.");
    record_add_citation_steal(r, &c);
    strlist_add(&r->contributors, "Jamil Hasanli");
    strlist_add(&r->translators, "Gary Goldberg");
    r->text = strdup("body");

    o = record_to_json(r, RECORD_JSON_TEXT);
    assert_null(json_object_get(o, "partial"));
    assert_true(json_is_null(json_object_get(o, "date")));
    back = record_from_json(o, &err);
    assert_non_null(back);
    o2 = record_to_json(back, RECORD_JSON_TEXT);
    assert_true(json_equal(o, o2));
    assert_string_equal(back->citations[0].sheets, "11-12");
    assert_null(back->citations[0].folder);

    line = record_to_json_line(r, 0);
    assert_null(strchr(line, '\n'));
    assert_null(strstr(line, "\"text\":\"body\""));

    json_object_set_new(o2, "title", json_integer(3));
    assert_null(record_from_json(o2, &err));
    assert_string_equal(err, "title");

    free(line);
    json_decref(o);
    json_decref(o2);
    record_free(back);
    record_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_utf8_valid), cmocka_unit_test(test_utf8_sanitize),
        cmocka_unit_test(test_squash_ws),  cmocka_unit_test(test_fold),
        cmocka_unit_test(test_strbuf),     cmocka_unit_test(test_record_json_round_trip),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
