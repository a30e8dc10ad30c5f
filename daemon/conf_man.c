/*
 * conf_man: a build-time program that writes provd.conf(5). It copies the
 * hand-written page (docs/provd.conf.5.in) and replaces each line
 * "@PROVD_DIRECTIVES@" and "@SOURCE_DIRECTIVES@" with the directive table
 * of that section from config.c, and "@VERSION@" anywhere with provd's
 * version, so the page lists exactly what the parser accepts. It reads
 * the tables only; it never loads a configuration.
 *
 * Usage: conf_man INPUT OUTPUT
 */
#include "config.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Write s as roff text: backslashes escaped, and, when literal is set,
 * hyphens as "\-" so names and values render as typed. */
static void roff_put(FILE *out, const char *s, bool literal)
{
    for (; *s != '\0'; s++) {
        if (*s == '\\')
            fputs("\\e", out);
        else if (*s == '-' && literal)
            fputs("\\-", out);
        else
            fputc(*s, out);
    }
}

/* Whether the type has bounds worth printing. */
static bool has_range(enum config_type t)
{
    return t == CONFIG_UINT || t == CONFIG_DURATION || t == CONFIG_SIZE || t == CONFIG_MODE;
}

static void bound_put(FILE *out, const struct config_directive *d, uint64_t v)
{
    char buf[32];

    if (d->type == CONFIG_DURATION)
        roff_put(out, config_format_duration(v, buf, sizeof(buf)), true);
    else if (d->type == CONFIG_SIZE)
        roff_put(out, config_format_size(v, buf, sizeof(buf)), true);
    else if (d->type == CONFIG_MODE)
        fprintf(out, "%04o", (unsigned)v);
    else
        fprintf(out, "%llu", (unsigned long long)v);
}

/* One .TP entry per directive. */
static void directives_put(FILE *out, enum config_section s)
{
    size_t n;
    const struct config_directive *t = config_directives(s, &n);

    for (size_t i = 0; i < n; i++) {
        const struct config_directive *d = &t[i];

        fputs(".TP\n\\fB", out);
        roff_put(out, d->name, true);
        fprintf(out, "\\fR = \\fI%s\\fR\n", config_type_name(d->type));
        /* a help line never starts with a period or quote: no \& needed */
        roff_put(out, d->help, false);
        fputc('\n', out);
        if (has_range(d->type)) {
            fputs("Range: ", out);
            bound_put(out, d, d->min);
            fputs(" to ", out);
            bound_put(out, d, d->max);
            fputs(".\n", out);
        }
        if (d->doc_default != NULL) {
            fputs("Default: ", out);
            roff_put(out, d->doc_default, false);
            fputs(".\n", out);
        } else if (d->def != NULL) {
            fputs("Default: \\fB", out);
            roff_put(out, d->def, true);
            fputs("\\fR.\n", out);
        }
    }
}

/* Copy line to out with every "@VERSION@" replaced. */
static void line_put(FILE *out, const char *line)
{
    static const char marker[] = "@VERSION@";
    const char *at;

    while ((at = strstr(line, marker)) != NULL) {
        fwrite(line, 1, (size_t)(at - line), out);
        fputs(PROVD_VERSION, out);
        line = at + strlen(marker);
    }
    fputs(line, out);
}

int main(int argc, char **argv)
{
    FILE *in, *out;
    char *line = NULL;
    size_t cap = 0;
    int rc = 1;

    if (argc != 3) {
        fprintf(stderr, "usage: conf_man INPUT OUTPUT\n");
        return 2;
    }
    in = fopen(argv[1], "r");
    if (in == NULL) {
        perror(argv[1]);
        return 1;
    }
    out = fopen(argv[2], "w");
    if (out == NULL) {
        perror(argv[2]);
        fclose(in);
        return 1;
    }
    while (getline(&line, &cap, in) >= 0) {
        if (strcmp(line, "@PROVD_DIRECTIVES@\n") == 0)
            directives_put(out, CONFIG_SECTION_PROVD);
        else if (strcmp(line, "@SOURCE_DIRECTIVES@\n") == 0)
            directives_put(out, CONFIG_SECTION_SOURCE);
        else
            line_put(out, line);
    }
    if (ferror(in))
        perror(argv[1]);
    else if (fflush(out) != 0 || ferror(out))
        perror(argv[2]);
    else
        rc = 0;
    free(line);
    fclose(in);
    if (fclose(out) != 0)
        rc = 1;
    if (rc != 0)
        remove(argv[2]);
    return rc;
}
