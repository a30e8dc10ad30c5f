/*
 * record_json: conversion between struct record and jansson objects. Owns
 * nothing beyond the objects it returns.
 */
#include "record_json.h"

#include "xmalloc.h"

#include <stddef.h>
#include <stdlib.h>

static json_t *json_str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

static json_t *json_strlist(const struct strlist *l)
{
    json_t *a = json_array();

    for (size_t i = 0; i < l->n; i++)
        json_array_append_new(a, json_string(l->v[i]));
    return a;
}

json_t *record_to_json(const struct record *r, unsigned flags)
{
    json_t *o = json_object();
    json_t *cits = json_array();

    json_object_set_new(o, "url", json_str_or_null(r->url));
    json_object_set_new(o, "record_id", json_str_or_null(r->record_id));
    json_object_set_new(o, "title", json_str_or_null(r->title));
    json_object_set_new(o, "date", json_str_or_null(r->date));
    json_object_set_new(o, "date_iso", json_str_or_null(r->date_iso));
    json_object_set_new(o, "summary", json_str_or_null(r->summary));
    json_object_set_new(o, "type", json_str_or_null(r->type));
    json_object_set_new(o, "languages", json_strlist(&r->languages));
    json_object_set_new(o, "original_archives", json_strlist(&r->original_archives));
    json_object_set_new(o, "classification", json_str_or_null(r->classification));
    json_object_set_new(o, "uploaded", json_str_or_null(r->uploaded));
    json_object_set_new(o, "funders", json_strlist(&r->funders));
    json_object_set_new(o, "subjects", json_strlist(&r->subjects));
    json_object_set_new(o, "people", json_strlist(&r->people));
    json_object_set_new(o, "places", json_strlist(&r->places));
    json_object_set_new(o, "source", json_str_or_null(r->source));
    for (size_t i = 0; i < r->n_citations; i++) {
        const struct citation *c = &r->citations[i];
        json_t *co = json_object();

        json_object_set_new(co, "archive", json_str_or_null(c->archive));
        json_object_set_new(co, "fund", json_str_or_null(c->fund));
        json_object_set_new(co, "inventory", json_str_or_null(c->inventory));
        json_object_set_new(co, "folder", json_str_or_null(c->folder));
        json_object_set_new(co, "file", json_str_or_null(c->file));
        json_object_set_new(co, "sheets", json_str_or_null(c->sheets));
        json_object_set_new(co, "text", json_str_or_null(c->text));
        json_array_append_new(cits, co);
    }
    json_object_set_new(o, "citations", cits);
    json_object_set_new(o, "contributors", json_strlist(&r->contributors));
    json_object_set_new(o, "translators", json_strlist(&r->translators));
    if (flags & RECORD_JSON_TEXT)
        json_object_set_new(o, "text", json_str_or_null(r->text));
    if (r->partial)
        json_object_set_new(o, "partial", json_true());
    return o;
}

/* Read an optional string member into *field; 0, or -1 on a wrong type. */
static int json_get_str(const json_t *o, const char *key, char **field)
{
    const json_t *v = json_object_get(o, key);

    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return -1;
    record_set(field, json_string_value(v));
    return 0;
}

static int json_get_strlist(const json_t *o, const char *key, struct strlist *l)
{
    const json_t *v = json_object_get(o, key);
    size_t i;
    json_t *e;

    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_array(v))
        return -1;
    json_array_foreach(v, i, e)
    {
        if (!json_is_string(e))
            return -1;
        strlist_add(l, json_string_value(e));
    }
    return 0;
}

struct record *record_from_json(const json_t *o, const char **err)
{
    static const struct {
        const char *key;
        size_t off;
    } strs[] = {
        {"url", offsetof(struct record, url)},
        {"record_id", offsetof(struct record, record_id)},
        {"title", offsetof(struct record, title)},
        {"date", offsetof(struct record, date)},
        {"date_iso", offsetof(struct record, date_iso)},
        {"summary", offsetof(struct record, summary)},
        {"type", offsetof(struct record, type)},
        {"classification", offsetof(struct record, classification)},
        {"uploaded", offsetof(struct record, uploaded)},
        {"source", offsetof(struct record, source)},
        {"text", offsetof(struct record, text)},
    };
    static const struct {
        const char *key;
        size_t off;
    } lists[] = {
        {"languages", offsetof(struct record, languages)},
        {"original_archives", offsetof(struct record, original_archives)},
        {"funders", offsetof(struct record, funders)},
        {"subjects", offsetof(struct record, subjects)},
        {"people", offsetof(struct record, people)},
        {"places", offsetof(struct record, places)},
        {"contributors", offsetof(struct record, contributors)},
        {"translators", offsetof(struct record, translators)},
    };
    static const struct {
        const char *key;
        size_t off;
    } cfields[] = {
        {"archive", offsetof(struct citation, archive)},
        {"fund", offsetof(struct citation, fund)},
        {"inventory", offsetof(struct citation, inventory)},
        {"folder", offsetof(struct citation, folder)},
        {"file", offsetof(struct citation, file)},
        {"sheets", offsetof(struct citation, sheets)},
        {"text", offsetof(struct citation, text)},
    };
    struct record *r;
    const json_t *cits, *p;
    size_t i;
    json_t *e;

    if (!json_is_object(o)) {
        *err = "record is not a JSON object";
        return NULL;
    }
    r = record_new();
    for (i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
        if (json_get_str(o, strs[i].key, (char **)(void *)((char *)r + strs[i].off)) < 0) {
            *err = strs[i].key;
            goto fail;
        }
    }
    for (i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
        if (json_get_strlist(o, lists[i].key,
                             (struct strlist *)(void *)((char *)r + lists[i].off)) < 0) {
            *err = lists[i].key;
            goto fail;
        }
    }
    cits = json_object_get(o, "citations");
    if (cits && !json_is_null(cits)) {
        if (!json_is_array(cits)) {
            *err = "citations";
            goto fail;
        }
        json_array_foreach(cits, i, e)
        {
            struct citation c = {0};

            if (!json_is_object(e)) {
                *err = "citations";
                goto fail;
            }
            for (size_t k = 0; k < sizeof(cfields) / sizeof(cfields[0]); k++) {
                if (json_get_str(e, cfields[k].key,
                                 (char **)(void *)((char *)&c + cfields[k].off)) < 0) {
                    citation_clear(&c);
                    *err = "citations";
                    goto fail;
                }
            }
            record_add_citation_steal(r, &c);
        }
    }
    p = json_object_get(o, "partial");
    r->partial = p && json_is_true(p);
    return r;
fail:
    record_free(r);
    return NULL;
}

char *record_to_json_line(const struct record *r, unsigned flags)
{
    json_t *o = record_to_json(r, flags);
    char *s = json_dumps(o, JSON_COMPACT);

    json_decref(o);
    if (s == NULL)
        s = xstrdup("{}");
    return s;
}
