/*
 * daemon_gen: deterministic synthetic records (PROVENANCE.md §3 plus the
 * catalog fields of an export line) for filling a catalog through
 * catalog_import(). It builds each record with the record model and
 * record_to_json(), so the lines are exactly what the catalog expects; it
 * owns nothing but the stream it hands out.
 */
#include "daemon_gen.h"

#include "record.h"
#include "record_json.h"
#include "strbuf.h"
#include "xmalloc.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static const char *const gen_archives[5] = {"RGASPI", "RGANI", "APRF", "AVPRF", "GARF"};
static const char *const gen_archive_names[5] = {
    "Russian State Archive of Socio-Political History (RGASPI)",
    "Russian State Archive of Contemporary History (RGANI)",
    "Archive of the President of the Russian Federation (APRF)",
    "Archive of Foreign Policy of the Russian Federation (AVPRF)",
    "State Archive of the Russian Federation (GARF)",
};
const char *const daemon_gen_translators[6] = {
    "Gary Goldberg",    "Svetlana Savranskaya", "Anna Melyakova",
    "Sergey Radchenko", "Mark H. Doctoroff",    "Elena Osokina",
};
static const char *const gen_contributors[4] = {"Jamil Hasanli", "Vladislav Zubok", "Mark Kramer",
                                                "James G. Hershberg"};
static const char *const gen_types[8] = {"Telegram", "Cable",   "Memorandum", "Report",
                                         "Letter",   "Minutes", "Resolution", "Note"};
static const char *const gen_subjects[9] = {"Sino-Soviet relations",
                                            "Reparations",
                                            "Borders",
                                            "Lend-Lease",
                                            "Berlin Crisis",
                                            "Korean War",
                                            "Nuclear weapons",
                                            "Economic aid",
                                            "Diplomacy"};
static const char *const gen_words[] = {
    "ambassador",  "minister",     "delegation", "committee",    "embassy",      "government",
    "party",       "treaty",       "agreement",  "question",     "conversation", "report",
    "telegram",    "meeting",      "proposal",   "position",     "border",       "troops",
    "economic",    "assistance",   "deliveries", "negotiations", "plenum",       "conference",
    "commission",  "secretary",    "central",    "union",        "republic",     "foreign",
    "affairs",     "instructions", "reply",      "situation",    "military",     "political",
    "cooperation", "relations",    "the",        "of",           "and",          "to",
};
#define GEN_N_WORDS (sizeof(gen_words) / sizeof(gen_words[0]))

void daemon_gen_facts(unsigned long i, struct daemon_gen_facts *f)
{
    f->archive = gen_archives[i % 5];
    f->fund = (unsigned)((i / 5) % 500);
    f->translator = daemon_gen_translators[i % 6];
    f->rare = i % 1000 == 7;
    f->common = i % 10 == 3;
}

/* A small deterministic generator per record. */
static unsigned gen_next(unsigned long *state)
{
    *state = *state * 6364136223846793005UL + 1442695040888963407UL;
    return (unsigned)(*state >> 33);
}

static char *gen_words_text(unsigned long *state, unsigned n, const char *extra)
{
    struct strbuf b = STRBUF_INIT;

    for (unsigned k = 0; k < n; k++) {
        strbuf_adds(&b, k ? " " : "");
        if (extra && k == n / 2) {
            strbuf_adds(&b, extra);
            strbuf_addc(&b, ' ');
        }
        strbuf_adds(&b, gen_words[gen_next(state) % GEN_N_WORDS]);
    }
    strbuf_addc(&b, '.');
    return strbuf_steal(&b);
}

char *daemon_gen_line(const char *source, unsigned long i)
{
    struct daemon_gen_facts f;
    struct record *r = record_new();
    struct citation c = {0};
    unsigned long state = i * 2654435761UL + 1;
    char buf[512], *text, *line;
    json_t *o;

    daemon_gen_facts(i, &f);
    snprintf(buf, sizeof(buf), "https://archive.example.org/document/%lu", 5000000 + i);
    r->url = xstrdup(buf);
    snprintf(buf, sizeof(buf), "%lu", 5000000 + i);
    r->record_id = xstrdup(buf);
    r->title = xasprintf("%s on %s, no. %lu", gen_types[i % 8], gen_subjects[(i / 3) % 9], i);
    r->date_iso = xasprintf("%04lu-%02lu-%02lu", 1940 + i % 50, 1 + i % 12, 1 + i % 28);
    r->date = xstrdup(r->date_iso);
    r->summary = gen_words_text(&state, 14, NULL);
    r->type = xstrdup(gen_types[i % 8]);
    strlist_add(&r->languages, "Russian");
    strlist_add(&r->original_archives, gen_archive_names[i % 5]);
    r->uploaded = xstrdup("2020-01-15");
    strlist_add(&r->subjects, gen_subjects[(i / 3) % 9]);
    strlist_add(&r->contributors, gen_contributors[i % 4]);
    strlist_add(&r->translators, f.translator);
    c.archive = xstrdup(f.archive);
    c.fund = xasprintf("%u", f.fund);
    c.inventory = xasprintf("%lu", i % 7);
    c.file = xasprintf("%lu", i % 101);
    c.sheets = xasprintf("%lu-%lu", 1 + i % 300, 2 + i % 300);
    c.text = xasprintf("%s f. %s, op. %s, d. %s, ll. %s.", c.archive, c.fund, c.inventory, c.file,
                       c.sheets);
    r->source = xasprintf("%s Contributed by %s and translated by %s.", c.text,
                          gen_contributors[i % 4], f.translator);
    record_add_citation_steal(r, &c);
    text = gen_words_text(&state, 30,
                          f.rare     ? DAEMON_GEN_RARE_WORD
                          : f.common ? DAEMON_GEN_COMMON_WORD
                                     : NULL);
    r->text = text;
    o = record_to_json(r, RECORD_JSON_TEXT);
    json_object_set_new(o, "key", json_string(r->record_id));
    json_object_set_new(o, "source_name", json_string(source));
    json_object_set_new(o, "status", json_string("active"));
    json_object_set_new(o, "first_seen", json_string("2026-01-01T00:00:00Z"));
    json_object_set_new(o, "last_seen", json_string("2026-01-01T00:00:00Z"));
    json_object_set_new(o, "versions", json_integer(1));
    json_object_set_new(o, "urls", json_pack("[s]", r->url));
    line = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    record_free(r);
    return line;
}

/* ---- the stream ----------------------------------------------------- */

struct gen_stream {
    char *source;
    unsigned long next, end;
    char *line; /* the current line with its newline */
    size_t len, off;
};

static ssize_t gen_read(void *cookie, char *buf, size_t size)
{
    struct gen_stream *g = cookie;
    size_t done = 0;

    while (done < size) {
        size_t n;

        if (g->off == g->len) {
            free(g->line);
            g->line = NULL;
            g->len = g->off = 0;
            if (g->next == g->end)
                break;
            char *l = daemon_gen_line(g->source, g->next++);
            g->line = xasprintf("%s\n", l);
            free(l);
            g->len = strlen(g->line);
        }
        n = g->len - g->off;
        if (n > size - done)
            n = size - done;
        memcpy(buf + done, g->line + g->off, n);
        g->off += n;
        done += n;
    }
    return (ssize_t)done;
}

static int gen_close(void *cookie)
{
    struct gen_stream *g = cookie;

    free(g->line);
    free(g->source);
    free(g);
    return 0;
}

FILE *daemon_gen_open(const char *source, unsigned long first, unsigned long n)
{
    cookie_io_functions_t io = {.read = gen_read, .close = gen_close};
    struct gen_stream *g = xcalloc(1, sizeof(*g));
    FILE *f;

    g->source = xstrdup(source);
    g->next = first;
    g->end = first + n;
    f = fopencookie(g, "r", io);
    if (f == NULL)
        gen_close(g);
    return f;
}
