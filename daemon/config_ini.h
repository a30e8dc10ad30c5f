/*
 * config_ini: reading one configuration file into a struct config — the
 * state of one config_load() and the error list it fills. Internal to the
 * configuration modules (config.c, config_ini.c).
 */
#ifndef PROVD_CONFIG_INI_H
#define PROVD_CONFIG_INI_H

#include "config.h"

#include <stdbool.h>
#include <stddef.h>

/* The most rows a directive table may have (config.c checks its tables). */
#define CONFIG_INI_MAX_DIRECTIVES 64

/* Where the reader is. */
enum config_ini_section {
    CONFIG_INI_NONE,    /* before the first header */
    CONFIG_INI_SKIP,    /* after a bad header: its lines are ignored */
    CONFIG_INI_PROVD,   /* [provd] */
    CONFIG_INI_SOURCE,  /* [source NAME]: c->sources[c->n_sources - 1] */
    CONFIG_INI_PROFILE, /* [profile NAME]: c->profiles[c->n_profiles - 1] */
};

/* Where each directive of a [source] was set: its line, 0 for the default,
 * in the order of the source table. */
struct config_ini_lines {
    unsigned at[CONFIG_INI_MAX_DIRECTIVES];
};

/* The state of one load. Set up by config_ini_begin(), released by
 * config_ini_end(); the caller reads n_errors and stopped. */
struct config_ini {
    struct config *c;
    const char *name; /* the file as given, for messages */
    char *dir;        /* its directory as given, for messages */
    char *absdir;     /* its directory, absolute, to resolve names */
    struct strlist *errors;
    size_t n_errors; /* errors of this load */
    bool stopped;    /* CONFIG_MAX_ERRORS reached */
    enum config_ini_section sec;
    unsigned provd_line;                          /* header of [provd]; 0 when none */
    unsigned provd_at[CONFIG_INI_MAX_DIRECTIVES]; /* line of each [provd] directive */
    struct config_ini_lines *src_at;              /* one per source */
    unsigned *key_lines;                          /* lines of the current profile's keys */
    bool profile_bad;                             /* a line of the current profile failed */
    int os_errno; /* the first EMFILE, ENFILE, ENOMEM or ENOBUFS met opening a file */
};

/* Start a load into c of the file path (NULL: defaults only), errors going
 * to errors (borrowed; both must outlive ps). Returns 0, or a negative
 * errno, reported, when the file's directory cannot be resolved; either
 * way the caller ends with config_ini_end(). */
int config_ini_begin(struct config_ini *ps, struct config *c, const char *path,
                     struct strlist *errors);

/* Free what ps owns (not c, not the error list). */
void config_ini_end(struct config_ini *ps);

/* Add "file:line:col: message" to the error list; file NULL stands for the
 * configuration file, and line and col 0 are left out. After
 * CONFIG_MAX_ERRORS errors the load stops (ps->stopped) and later ones are
 * dropped. */
void config_ini_report(struct config_ini *ps, const char *file, unsigned line, unsigned col,
                       const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Set the written defaults of the n rows of table in base (a struct config
 * or struct config_source); a default that does not parse is reported. */
void config_ini_defaults(struct config_ini *ps, const struct config_directive *table, size_t n,
                         void *base);

/* Read and parse the configuration file at path into ps->c, every section
 * checked as it ends (sources' URLs and urls files included); problems are
 * reported. */
void config_ini_read(struct config_ini *ps, const char *path);

/* The line where [provd] set directive name; 0 when it kept its default. */
unsigned config_ini_provd_line(const struct config_ini *ps, const char *name);

/* The line where source number s set directive name; 0 when it kept its
 * default. name must be a row of the source table. */
unsigned config_ini_source_line(const struct config_ini *ps, size_t s, const char *name);

#endif
