/*
 * daemon_gen: synthetic catalog records for the daemon's tests and
 * benchmark, in the JSON Lines shape catalog_export() writes and
 * catalog_import() reads. Record i is always the same, so a test can count
 * what a query must find without asking the catalog.
 */
#ifndef PROVD_TESTS_DAEMON_GEN_H
#define PROVD_TESTS_DAEMON_GEN_H

#include <stdbool.h>
#include <stdio.h>

/* A word that only every 1000th record's text holds (i % 1000 == 7), and
 * one that every 10th holds (i % 10 == 3). */
#define DAEMON_GEN_RARE_WORD   "quillwort"
#define DAEMON_GEN_COMMON_WORD "samovar"

/* What record i is made of, for the queries. */
struct daemon_gen_facts {
    const char *archive;    /* "RGASPI", "RGANI", "APRF", "AVPRF", "GARF": i % 5 */
    unsigned fund;          /* (i / 5) % 500 */
    const char *translator; /* one of six names: i % 6 */
    bool rare, common;      /* the text holds the rare or the common word */
};

void daemon_gen_facts(unsigned long i, struct daemon_gen_facts *f);

/* Record i of source as one JSON line (no newline); the caller frees it. */
char *daemon_gen_line(const char *source, unsigned long i);

/* A stream to read records first .. first+n-1 of source from, one line
 * each, made as it is read (nothing is held in memory or on disk). The
 * caller fcloses it. NULL on failure. */
FILE *daemon_gen_open(const char *source, unsigned long first, unsigned long n);

/* The translator names, for queries. */
extern const char *const daemon_gen_translators[6];

#endif
