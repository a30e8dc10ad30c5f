/*
 * provctl_show: turns the control API's JSON answers into text for people
 * (provctl's default output; --json bypasses it). It reads the JSON it is
 * given and writes to the FILE it is given, nothing else. Every string
 * from a record went through a web page, so it is printed only after
 * provctl_table has removed control characters from it. Missing or
 * mistyped fields print as "-": an older or newer daemon may differ.
 */
#include "provctl_show.h"

#include "config.h"
#include "provctl_table.h"
#include "strbuf.h"
#include "xmalloc.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* Column where the values of a record's labelled fields start. */
#define PROVCTL_LABEL_W 18
/* The widest a record key or citation may be in a table of records. */
#define PROVCTL_KEY_W      36
#define PROVCTL_CITATION_W 34

static const char *provctl_str(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

/* An integer field as text into buf, or NULL when absent. */
static const char *provctl_int(const json_t *o, const char *key, char *buf, size_t len)
{
    json_t *v = json_object_get(o, key);

    if (!json_is_integer(v))
        return NULL;
    snprintf(buf, len, "%lld", (long long)json_integer_value(v));
    return buf;
}

/* A duration in milliseconds as "1d", "5s"; NULL when absent. */
static const char *provctl_ms(const json_t *o, const char *key, char *buf, size_t len)
{
    json_t *v = json_object_get(o, key);

    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return NULL;
    return config_format_duration((uint64_t)json_integer_value(v), buf, len);
}

/* Is s a configured source name rather than a Source text? Names are
 * letters, digits, '.', '_' and '-' (config.h, CONFIG_NAME). */
static bool provctl_is_name(const char *s)
{
    if (s == NULL || *s == '\0' || strlen(s) > 64)
        return false;
    return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") ==
           strlen(s);
}

const char *provctl_record_source_name(const json_t *record)
{
    const char *s = provctl_str(record, "source_name");

    if (s)
        return s;
    s = provctl_str(record, "source");
    return provctl_is_name(s) && json_object_get(record, "key") ? s : NULL;
}

const char *provctl_record_source_text(const json_t *record)
{
    const char *s = provctl_str(record, "source_text");

    if (s)
        return s;
    s = provctl_str(record, "source");
    return s && provctl_record_source_name(record) != s ? s : NULL;
}

/* "RGASPI f.17 op.162 d.34 l.24" for one citation object. */
static void provctl_citation_short(struct strbuf *b, const json_t *c)
{
    static const char *const parts[][2] = {
        {"fund", "f."}, {"inventory", "op."}, {"folder", "p."}, {"file", "d."}, {"sheets", "l."},
    };
    const char *archive = provctl_str(c, "archive");
    size_t start = b->len;

    if (archive)
        strbuf_adds(b, archive);
    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
        const char *v = provctl_str(c, parts[i][0]);

        if (v == NULL)
            continue;
        if (b->len > start)
            strbuf_addc(b, ' ');
        strbuf_addf(b, "%s%s", parts[i][1], v);
    }
    if (b->len == start) {
        const char *text = provctl_str(c, "text");

        strbuf_adds(b, text ? text : "?");
    }
}

/* A string list ["a", "b"] as "a; b" into b; false when empty or absent. */
static bool provctl_join(struct strbuf *b, const json_t *list, const char *sep)
{
    size_t i;
    json_t *v;
    bool any = false;

    json_array_foreach(list, i, v)
    {
        if (!json_is_string(v))
            continue;
        if (any)
            strbuf_adds(b, sep);
        strbuf_adds(b, json_string_value(v));
        any = true;
    }
    return any;
}

/* "label:" padded, then value wrapped under the value column. */
static void provctl_field(FILE *out, const char *label, const char *value, unsigned width)
{
    if (value == NULL || *value == '\0')
        return;
    fprintf(out, "%-*s", PROVCTL_LABEL_W, label);
    provctl_text_wrap(out, value, PROVCTL_LABEL_W, PROVCTL_LABEL_W, width);
}

static void provctl_field_list(FILE *out, const char *label, const json_t *list, unsigned width)
{
    struct strbuf b = STRBUF_INIT;

    if (provctl_join(&b, list, "; "))
        provctl_field(out, label, strbuf_str(&b), width);
    strbuf_release(&b);
}

void provctl_show_run_line(FILE *out, const json_t *run)
{
    const json_t *counters = json_object_get(run, "counters");
    const json_t *progress = json_object_get(run, "progress");
    const json_t *byc = json_object_get(counters, "failed_by_category");
    static const char *const names[] = {"discovered",   "fetched", "new",  "changed", "unchanged",
                                        "not_modified", "skipped", "gone", "failed"};
    const char *state = provctl_str(run, "state");
    const char *error = provctl_str(run, "error");
    struct strbuf b = STRBUF_INIT;
    char *clean;

    strbuf_addf(
        &b, "run %lld (%s, %s): %s", (long long)json_integer_value(json_object_get(run, "run_id")),
        provctl_str(run, "source") ? provctl_str(run, "source") : "-",
        provctl_str(run, "trigger") ? provctl_str(run, "trigger") : "-", state ? state : "-");
    if (json_is_object(progress) && state && strcmp(state, "running") == 0)
        strbuf_addf(&b, " %lld/%lld",
                    (long long)json_integer_value(json_object_get(progress, "done")),
                    (long long)json_integer_value(json_object_get(progress, "total")));
    if (json_is_object(counters)) {
        bool first = true;

        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
            json_t *v = json_object_get(counters, names[i]);

            if (!json_is_integer(v))
                continue;
            strbuf_addf(&b, "%s %s %lld", first ? " —" : ",", names[i],
                        (long long)json_integer_value(v));
            first = false;
        }
        if (json_is_object(byc) && json_object_size(byc) > 0) {
            const char *k;
            json_t *v;
            bool f = true;

            strbuf_adds(&b, " (");
            json_object_foreach((json_t *)byc, k, v)
            {
                strbuf_addf(&b, "%s%s %lld", f ? "" : ", ", k, (long long)json_integer_value(v));
                f = false;
            }
            strbuf_addc(&b, ')');
        }
    }
    if (error)
        strbuf_addf(&b, "; error: %s", error);
    clean = provctl_text_fit(strbuf_str(&b), 0);
    fprintf(out, "%s\n", clean);
    free(clean);
    strbuf_release(&b);
}

/* "120/400 (30%)" for a run's progress into buf. */
static const char *provctl_progress(const json_t *run, char *buf, size_t len)
{
    const json_t *p = json_object_get(run, "progress");
    long long done = json_integer_value(json_object_get(p, "done"));
    long long total = json_integer_value(json_object_get(p, "total"));

    if (!json_is_object(p))
        return NULL;
    if (total > 0)
        snprintf(buf, len, "%lld/%lld (%lld%%)", done, total, done * 100 / total);
    else
        snprintf(buf, len, "%lld/?", done);
    return buf;
}

void provctl_show_status(FILE *out, const json_t *st, unsigned width)
{
    const json_t *cat = json_object_get(st, "catalog");
    const json_t *runs = json_object_get(st, "runs");
    const json_t *errors = json_object_get(st, "recent_errors");
    const char *line = provctl_str(st, "status_line");
    char pid[32], n[4][32];
    size_t i;
    json_t *v;

    fprintf(out, "provd %s (pid %s), started %s\n",
            provctl_str(st, "version") ? provctl_str(st, "version") : "-",
            provctl_int(st, "pid", pid, sizeof(pid)) ? pid : "-",
            provctl_str(st, "started") ? provctl_str(st, "started") : "-");
    {
        /* the status line usually starts with the state ("idle, next run
         * at ..."): print the state only when it does not */
        const char *state = provctl_str(st, "state") ? provctl_str(st, "state") : "-";
        char *clean = line ? provctl_text_fit(line, 0) : NULL;

        if (clean && strncmp(clean, state, strlen(state)) == 0)
            fprintf(out, "%-9s%s\n", "state:", clean);
        else if (clean)
            fprintf(out, "%-9s%s — %s\n", "state:", state, clean);
        else
            fprintf(out, "%-9s%s\n", "state:", state);
        free(clean);
    }
    if (json_is_object(cat)) {
        fprintf(out, "%-9s%s: %s records (%s active, %s gone)\n",
                "catalog:", provctl_str(cat, "database") ? provctl_str(cat, "database") : "-",
                provctl_int(cat, "records", n[0], sizeof(n[0])) ? n[0] : "-",
                provctl_int(cat, "active", n[1], sizeof(n[1])) ? n[1] : "-",
                provctl_int(cat, "gone", n[2], sizeof(n[2])) ? n[2] : "-");
    }
    if (json_array_size(runs) > 0) {
        static const char *const hdr[] = {"RUN",   "SOURCE",   "TRIGGER",
                                          "STATE", "PROGRESS", "STARTED"};
        struct provctl_table *t = provctl_table_new(6, hdr);

        provctl_table_right(t, 0);
        json_array_foreach(runs, i, v)
        {
            char prog[64];
            const char *row[6] = {provctl_int(v, "run_id", n[0], sizeof(n[0])),
                                  provctl_str(v, "source"),
                                  provctl_str(v, "trigger"),
                                  provctl_str(v, "state"),
                                  provctl_progress(v, prog, sizeof(prog)),
                                  provctl_str(v, "started")};

            provctl_table_add(t, row);
        }
        fputc('\n', out);
        provctl_table_print(t, out, width);
        provctl_table_free(t);
    }
    if (json_array_size(errors) > 0) {
        static const char *const hdr[] = {"AT", "CATEGORY", "URL", "MESSAGE"};
        struct provctl_table *t = provctl_table_new(4, hdr);

        json_array_foreach(errors, i, v)
        {
            const char *row[4] = {provctl_str(v, "at"), provctl_str(v, "category"),
                                  provctl_str(v, "url"), provctl_str(v, "message")};

            provctl_table_add(t, row);
        }
        fprintf(out, "\nrecent errors:\n");
        provctl_table_print(t, out, width);
        provctl_table_free(t);
    }
}

void provctl_show_sources(FILE *out, const json_t *reply, unsigned width)
{
    static const char *const hdr[] = {"NAME",  "PROFILE", "ENABLED", "DISCOVERY", "INTERVAL",
                                      "DELAY", "CONC",    "STATE",   "NEXT RUN",  "LAST RUN"};
    const json_t *list = json_object_get(reply, "sources");
    struct provctl_table *t = provctl_table_new(10, hdr);
    size_t i;
    json_t *s;

    provctl_table_right(t, 6);
    json_array_foreach(list, i, s)
    {
        struct strbuf disc = STRBUF_INIT, last = STRBUF_INIT;
        const json_t *run = json_object_get(s, "last_run");
        const json_t *en = json_object_get(s, "enabled");
        char iv[32], dl[32], conc[32], rid[32];
        const char *state = provctl_str(s, "state");
        const char *row[10];

        provctl_join(&disc, json_object_get(s, "discovery"), ",");
        if (json_is_integer(json_object_get(s, "run_id")) && state)
            state = xasprintf("%s (run %lld)", state,
                              (long long)json_integer_value(json_object_get(s, "run_id")));
        if (json_is_object(run)) {
            const json_t *c = json_object_get(run, "counters");

            strbuf_addf(&last, "#%s %s %s",
                        provctl_int(run, "run_id", rid, sizeof(rid)) ? rid : "?",
                        provctl_str(run, "state") ? provctl_str(run, "state") : "-",
                        provctl_str(run, "ended") ? provctl_str(run, "ended") : "");
            if (json_is_object(c))
                strbuf_addf(&last, " (new %lld, changed %lld, failed %lld)",
                            (long long)json_integer_value(json_object_get(c, "new")),
                            (long long)json_integer_value(json_object_get(c, "changed")),
                            (long long)json_integer_value(json_object_get(c, "failed")));
        } else {
            strbuf_adds(&last, "never");
        }
        row[0] = provctl_str(s, "name");
        row[1] = provctl_str(s, "profile");
        row[2] = json_is_boolean(en) ? (json_is_true(en) ? "yes" : "no") : NULL;
        row[3] = disc.len ? strbuf_str(&disc) : NULL;
        row[4] = provctl_ms(s, "interval_ms", iv, sizeof(iv));
        row[5] = provctl_ms(s, "delay_ms", dl, sizeof(dl));
        row[6] = provctl_int(s, "concurrency", conc, sizeof(conc));
        row[7] = state;
        row[8] = provctl_str(s, "next_run");
        row[9] = strbuf_str(&last);
        provctl_table_add(t, row);
        if (state != provctl_str(s, "state"))
            free((char *)state);
        strbuf_release(&disc);
        strbuf_release(&last);
    }
    provctl_table_print(t, out, width);
    provctl_table_free(t);
}

struct provctl_table *provctl_show_records_new(void)
{
    static const char *const hdr[] = {"KEY", "DATE", "CITATION", "TITLE"};
    struct provctl_table *t = provctl_table_new(4, hdr);

    provctl_table_flex(t, 3, 12);
    return t;
}

size_t provctl_show_records_add(struct provctl_table *t, const json_t *records)
{
    size_t i;
    json_t *r;

    json_array_foreach(records, i, r)
    {
        const json_t *cits = json_object_get(r, "citations");
        struct strbuf cit = STRBUF_INIT, title = STRBUF_INIT;
        const char *status = provctl_str(r, "status");
        const char *key = provctl_str(r, "key");
        const char *row[4];
        char *k, *c;

        if (key == NULL)
            key = provctl_str(r, "record_id");
        if (json_array_size(cits) > 0) {
            provctl_citation_short(&cit, json_array_get(cits, 0));
            if (json_array_size(cits) > 1)
                strbuf_addf(&cit, " +%zu", json_array_size(cits) - 1);
        }
        if (status && strcmp(status, "active") != 0)
            strbuf_addf(&title, "(%s) ", status);
        strbuf_adds(&title, provctl_str(r, "title") ? provctl_str(r, "title") : "-");
        k = provctl_text_fit(key ? key : "-", PROVCTL_KEY_W);
        c = provctl_text_fit(cit.len ? strbuf_str(&cit) : "-", PROVCTL_CITATION_W);
        row[0] = k;
        row[1] = provctl_str(r, "date_iso");
        row[2] = c;
        row[3] = strbuf_str(&title);
        provctl_table_add(t, row);
        free(k);
        free(c);
        strbuf_release(&cit);
        strbuf_release(&title);
    }
    return json_array_size(records);
}

void provctl_show_record(FILE *out, const json_t *r, unsigned width)
{
    const json_t *cits = json_object_get(r, "citations");
    const json_t *urls = json_object_get(r, "urls");
    const json_t *same = json_object_get(r, "same_document");
    const char *date = provctl_str(r, "date"), *iso = provctl_str(r, "date_iso");
    struct strbuf b = STRBUF_INIT;
    char n[32];
    size_t i;
    json_t *v;

    provctl_field(out, "Key:", provctl_str(r, "key"), width);
    provctl_field(out, "Title:", provctl_str(r, "title"), width);
    if (date && iso && strcmp(date, iso) != 0) {
        strbuf_addf(&b, "%s (%s)", date, iso);
        provctl_field(out, "Date:", strbuf_str(&b), width);
        strbuf_reset(&b);
    } else {
        provctl_field(out, "Date:", date ? date : iso, width);
    }
    provctl_field(out, "Type:", provctl_str(r, "type"), width);
    provctl_field(out, "Record ID:", provctl_str(r, "record_id"), width);
    provctl_field(out, "Harvest source:", provctl_record_source_name(r), width);
    strbuf_addf(&b, "%s", provctl_str(r, "status") ? provctl_str(r, "status") : "-");
    if (provctl_str(r, "gone_since"))
        strbuf_addf(&b, " since %s", provctl_str(r, "gone_since"));
    if (provctl_int(r, "versions", n, sizeof(n)))
        strbuf_addf(&b, ", %s version%s", n, strcmp(n, "1") == 0 ? "" : "s");
    if (provctl_str(r, "first_seen"))
        strbuf_addf(&b, ", first seen %s", provctl_str(r, "first_seen"));
    if (provctl_str(r, "last_seen"))
        strbuf_addf(&b, ", last seen %s", provctl_str(r, "last_seen"));
    if (json_is_true(json_object_get(r, "partial")))
        strbuf_adds(&b, ", partial parse");
    provctl_field(out, "Status:", strbuf_str(&b), width);
    strbuf_reset(&b);
    provctl_field(out, "Summary:", provctl_str(r, "summary"), width);
    provctl_field_list(out, "Languages:", json_object_get(r, "languages"), width);
    provctl_field_list(out, "Original archive:", json_object_get(r, "original_archives"), width);
    provctl_field(out, "Classification:", provctl_str(r, "classification"), width);
    provctl_field(out, "Uploaded:", provctl_str(r, "uploaded"), width);
    provctl_field_list(out, "Funders:", json_object_get(r, "funders"), width);
    provctl_field_list(out, "Subjects:", json_object_get(r, "subjects"), width);
    provctl_field_list(out, "People:", json_object_get(r, "people"), width);
    provctl_field_list(out, "Places:", json_object_get(r, "places"), width);
    provctl_field_list(out, "Contributors:", json_object_get(r, "contributors"), width);
    provctl_field_list(out, "Translators:", json_object_get(r, "translators"), width);
    provctl_field(out, "Source:", provctl_record_source_text(r), width);

    if (json_array_size(cits) > 0) {
        fprintf(out, "\nCitations:\n");
        json_array_foreach(cits, i, v)
        {
            static const char *const parts[][2] = {
                {"archive", "archive"}, {"fund", "fund"}, {"inventory", "inventory"},
                {"folder", "folder"},   {"file", "file"}, {"sheets", "sheets"}};
            int used;

            for (size_t p = 0; p < sizeof(parts) / sizeof(parts[0]); p++) {
                const char *s = provctl_str(v, parts[p][0]);

                if (s)
                    strbuf_addf(&b, "%s%s %s", b.len ? ", " : "", parts[p][1], s);
            }
            used = fprintf(out, "  %zu. ", i + 1);
            provctl_text_wrap(out, b.len ? strbuf_str(&b) : "-", (unsigned)used, (unsigned)used,
                              width);
            strbuf_reset(&b);
            if (provctl_str(v, "text")) {
                fprintf(out, "%*s", used, "");
                provctl_text_wrap(out, provctl_str(v, "text"), (unsigned)used, (unsigned)used,
                                  width);
            }
        }
    }
    if (json_array_size(urls) > 0) {
        fprintf(out, "\nURLs:\n");
        json_array_foreach(urls, i, v)
        {
            char *u = provctl_text_fit(json_is_string(v) ? json_string_value(v) : "-", 0);

            fprintf(out, "  %s\n", u);
            free(u);
        }
    }
    if (json_array_size(same) > 0) {
        fprintf(out, "\nSame document:\n");
        json_array_foreach(same, i, v)
        {
            /* keys, or {"key", "source", "title"} objects */
            const char *key = json_is_string(v) ? json_string_value(v) : provctl_str(v, "key");
            const char *title = json_is_object(v) ? provctl_str(v, "title") : NULL;
            const char *src = NULL;

            if (json_is_object(v))
                src = provctl_str(v, "source_name") ? provctl_str(v, "source_name")
                                                    : provctl_str(v, "source");

            strbuf_addf(&b, "%s%s%s%s%s", key ? key : "-", src ? " [" : "", src ? src : "",
                        src ? "]" : "", title ? " " : "");
            if (title)
                strbuf_adds(&b, title);
            fprintf(out, "  ");
            provctl_text_wrap(out, strbuf_str(&b), 2, 4, width);
            strbuf_reset(&b);
        }
    }
    strbuf_release(&b);
}

/* A change's old or new value as one line of text. */
static char *provctl_value_text(const json_t *v)
{
    if (v == NULL || json_is_null(v))
        return xstrdup("(none)");
    if (json_is_string(v))
        return xstrdup(json_string_value(v));
    if (json_is_array(v)) {
        struct strbuf b = STRBUF_INIT;
        size_t i;
        json_t *e;
        bool strings = true;

        json_array_foreach(v, i, e) strings = strings && json_is_string(e);
        if (strings) {
            if (!provctl_join(&b, v, "; "))
                strbuf_adds(&b, "(none)");
            return strbuf_steal(&b);
        }
        json_array_foreach(v, i, e)
        {
            if (i)
                strbuf_adds(&b, " | ");
            if (json_is_object(e) && json_object_get(e, "text"))
                provctl_citation_short(&b, e);
            else {
                char *s = json_dumps(e, JSON_COMPACT);

                strbuf_adds(&b, s ? s : "?");
                free(s);
            }
        }
        if (b.len == 0)
            strbuf_adds(&b, "(none)");
        return strbuf_steal(&b);
    }
    {
        char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        char *r = xstrdup(s ? s : "?");

        free(s);
        return r;
    }
}

void provctl_show_history(FILE *out, const json_t *h, unsigned width)
{
    const json_t *versions = json_object_get(h, "versions");
    size_t i, j;
    json_t *v, *c;

    {
        struct strbuf b = STRBUF_INIT;
        char *head;

        strbuf_addf(&b, "%s", provctl_str(h, "key") ? provctl_str(h, "key") : "-");
        if (provctl_str(h, "source_name"))
            strbuf_addf(&b, " (%s)", provctl_str(h, "source_name"));
        strbuf_addf(&b, ": %zu version%s", json_array_size(versions),
                    json_array_size(versions) == 1 ? "" : "s");
        head = provctl_text_fit(strbuf_str(&b), 0);
        fprintf(out, "%s\n", head);
        free(head);
        strbuf_release(&b);
    }
    json_array_foreach(versions, i, v)
    {
        const json_t *changes = json_object_get(v, "changes");
        char ver[32], run[32];

        fprintf(out, "\nversion %s  %s", provctl_int(v, "version", ver, sizeof(ver)) ? ver : "?",
                provctl_str(v, "at") ? provctl_str(v, "at") : "-");
        if (provctl_int(v, "run_id", run, sizeof(run)) || provctl_int(v, "run", run, sizeof(run)))
            fprintf(out, "  run %s", run);
        if (provctl_str(v, "event"))
            fprintf(out, "  %s", provctl_str(v, "event"));
        fputc('\n', out);
        if (json_array_size(changes) == 0) {
            fprintf(out, "  (first version: every field as harvested)\n");
            continue;
        }
        json_array_foreach(changes, j, c)
        {
            char *old = provctl_value_text(json_object_get(c, "old"));
            char *new = provctl_value_text(json_object_get(c, "new"));
            char *field =
                provctl_text_fit(provctl_str(c, "field") ? provctl_str(c, "field") : "?", 0);

            fprintf(out, "  %s:\n    - ", field);
            provctl_text_wrap(out, old, 6, 6, width);
            fprintf(out, "    + ");
            provctl_text_wrap(out, new, 6, 6, width);
            free(old);
            free(new);
            free(field);
        }
    }
}

/* One POST /v1/harvest run object. */
static void provctl_show_harvest_one(FILE *out, const json_t *o)
{
    const char *state = provctl_str(o, "state");
    const char *source = provctl_str(o, "source");
    const char *url = provctl_str(o, "url");
    const char *error = provctl_str(o, "error");
    long long id = json_integer_value(json_object_get(o, "run_id"));
    struct strbuf b = STRBUF_INIT;
    char *clean;

    if (error) {
        strbuf_addf(&b, "%s: refused: %s: %s", source ? source : "-", error,
                    provctl_str(o, "detail") ? provctl_str(o, "detail") : "");
    } else if (state && strcmp(state, "queued") == 0) {
        strbuf_addf(&b, "run %lld queued for %s", id, source ? source : "-");
    } else if (state && strcmp(state, "merged") == 0) {
        strbuf_addf(&b, "merged into run %lld of %s, which is running", id, source ? source : "-");
    } else if (state && strcmp(state, "running") == 0) {
        strbuf_addf(&b, "run %lld running now for %s", id, source ? source : "-");
    } else {
        strbuf_addf(&b, "run %lld: %s (%s)", id, state ? state : "-", source ? source : "-");
    }
    if (url)
        strbuf_addf(&b, ": %s", url);
    clean = provctl_text_fit(strbuf_str(&b), 0);
    fprintf(out, "%s\n", clean);
    free(clean);
    strbuf_release(&b);
}

void provctl_show_harvest(FILE *out, const json_t *reply)
{
    const json_t *runs = json_object_get(reply, "runs");
    size_t i;
    json_t *o;

    if (!json_is_array(runs)) {
        provctl_show_harvest_one(out, reply);
        return;
    }
    if (json_array_size(runs) == 0)
        fprintf(out, "no enabled source to harvest\n");
    json_array_foreach(runs, i, o) provctl_show_harvest_one(out, o);
}
