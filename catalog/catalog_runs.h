/*
 * catalog_runs: runs, their frontier and their counters, and the fetch
 * state of URLs. The write calls of catalog_upsert.c use the helpers below
 * inside their own transaction. Internal to catalog/.
 */
#ifndef PROVD_CATALOG_RUNS_H
#define PROVD_CATALOG_RUNS_H

#include "catalog_db.h"

/* Run counters, one per column of the runs table. */
enum catalog_counter {
    CATALOG_COUNT_NEW,
    CATALOG_COUNT_CHANGED,
    CATALOG_COUNT_UNCHANGED,
    CATALOG_COUNT_KEPT,
    CATALOG_COUNT_NOT_MODIFIED,
    CATALOG_COUNT_MISSING,
    CATALOG_COUNT_GONE,
    CATALOG_COUNT_FAILED,
    CATALOG_COUNT_MAX
};

/* Count one event of kind k in the open batch's tally and, when run is
 * not 0, in the run's stored counters. */
int catalog_runs_count(struct catalog *c, int64_t run, enum catalog_counter k);

/* Set url's state in run's frontier (added when missing); nothing when
 * run is 0. Needs an open transaction. */
int catalog_runs_frontier_set(struct catalog *c, int64_t run, const char *url,
                              enum catalog_frontier_state state);

/* Note the newest run id in c->runs_at_open (writers, at open). */
int catalog_runs_note_open(struct catalog *c);

#endif
