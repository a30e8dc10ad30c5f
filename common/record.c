/*
 * record: construction, copying and freeing of the record model. Owns the
 * strings stored in a record; touches no library.
 */
#include "record.h"

#include "xmalloc.h"

#include <stdlib.h>
#include <string.h>

void strlist_add_steal(struct strlist *l, char *s)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 4;
        l->v = xreallocarray(l->v, l->cap, sizeof(*l->v));
    }
    l->v[l->n++] = s;
}

void strlist_add(struct strlist *l, const char *s)
{
    strlist_add_steal(l, xstrdup(s));
}

bool strlist_contains(const struct strlist *l, const char *s)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->v[i], s) == 0)
            return true;
    return false;
}

void strlist_clear(struct strlist *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = l->cap = 0;
}

void strlist_copy(struct strlist *dst, const struct strlist *src)
{
    strlist_clear(dst);
    for (size_t i = 0; i < src->n; i++)
        strlist_add(dst, src->v[i]);
}

struct record *record_new(void)
{
    return xcalloc(1, sizeof(struct record));
}

void citation_clear(struct citation *c)
{
    free(c->archive);
    free(c->fund);
    free(c->inventory);
    free(c->folder);
    free(c->file);
    free(c->sheets);
    free(c->text);
    memset(c, 0, sizeof(*c));
}

void record_add_citation_steal(struct record *r, struct citation *c)
{
    if (r->n_citations == r->cap_citations) {
        r->cap_citations = r->cap_citations ? r->cap_citations * 2 : 4;
        r->citations = xreallocarray(r->citations, r->cap_citations, sizeof(*r->citations));
    }
    r->citations[r->n_citations++] = *c;
    memset(c, 0, sizeof(*c));
}

void record_set(char **field, const char *value)
{
    char *copy = xstrdup_or_null(value);

    free(*field);
    *field = copy;
}

void record_free(struct record *r)
{
    if (r == NULL)
        return;
    free(r->url);
    free(r->record_id);
    free(r->title);
    free(r->date);
    free(r->date_iso);
    free(r->summary);
    free(r->type);
    strlist_clear(&r->languages);
    strlist_clear(&r->original_archives);
    free(r->classification);
    free(r->uploaded);
    strlist_clear(&r->funders);
    strlist_clear(&r->subjects);
    strlist_clear(&r->people);
    strlist_clear(&r->places);
    free(r->source);
    for (size_t i = 0; i < r->n_citations; i++)
        citation_clear(&r->citations[i]);
    free(r->citations);
    strlist_clear(&r->contributors);
    strlist_clear(&r->translators);
    free(r->text);
    free(r);
}

struct record *record_dup(const struct record *r)
{
    struct record *d = record_new();

    d->url = xstrdup_or_null(r->url);
    d->record_id = xstrdup_or_null(r->record_id);
    d->title = xstrdup_or_null(r->title);
    d->date = xstrdup_or_null(r->date);
    d->date_iso = xstrdup_or_null(r->date_iso);
    d->summary = xstrdup_or_null(r->summary);
    d->type = xstrdup_or_null(r->type);
    strlist_copy(&d->languages, &r->languages);
    strlist_copy(&d->original_archives, &r->original_archives);
    d->classification = xstrdup_or_null(r->classification);
    d->uploaded = xstrdup_or_null(r->uploaded);
    strlist_copy(&d->funders, &r->funders);
    strlist_copy(&d->subjects, &r->subjects);
    strlist_copy(&d->people, &r->people);
    strlist_copy(&d->places, &r->places);
    d->source = xstrdup_or_null(r->source);
    for (size_t i = 0; i < r->n_citations; i++) {
        const struct citation *s = &r->citations[i];
        struct citation c = {
            .archive = xstrdup_or_null(s->archive),
            .fund = xstrdup_or_null(s->fund),
            .inventory = xstrdup_or_null(s->inventory),
            .folder = xstrdup_or_null(s->folder),
            .file = xstrdup_or_null(s->file),
            .sheets = xstrdup_or_null(s->sheets),
            .text = xstrdup_or_null(s->text),
        };
        record_add_citation_steal(d, &c);
    }
    strlist_copy(&d->contributors, &r->contributors);
    strlist_copy(&d->translators, &r->translators);
    d->text = xstrdup_or_null(r->text);
    d->partial = r->partial;
    return d;
}
