/*
 * provctl_show: the human-readable forms of the control API's answers
 * (docs/API.md): status, sources, pages of records, one record, its
 * history, runs and harvest replies. Each function reads a parsed answer
 * and writes text; none of them changes or keeps the JSON.
 */
#ifndef PROVD_PROVCTL_SHOW_H
#define PROVD_PROVCTL_SHOW_H

#include <jansson.h>
#include <stddef.h>
#include <stdio.h>

struct provctl_table;

/* GET /v1/status. */
void provctl_show_status(FILE *out, const json_t *status, unsigned width);

/* GET /v1/sources. */
void provctl_show_sources(FILE *out, const json_t *sources, unsigned width);

/* An empty table for records: KEY, DATE, CITATION (the first one, "+N"
 * for more), TITLE (cut to the width; "(gone)" before it when gone). The
 * caller prints it with provctl_table_print() and frees it. */
struct provctl_table *provctl_show_records_new(void);

/* Add a row for each record of the "records" array of GET /v1/records;
 * returns how many there were. */
size_t provctl_show_records_add(struct provctl_table *t, const json_t *records);

/* GET /v1/records/KEY: the record with its citations, people, URLs,
 * same-document links and status. */
void provctl_show_record(FILE *out, const json_t *record, unsigned width);

/* GET /v1/records/KEY/history: the versions, field by field. */
void provctl_show_history(FILE *out, const json_t *history, unsigned width);

/* One line for a RUN object: "run 12 (wilson, manual): done — fetched
 * 118, new 3, ..., failed 2 (HTTP_5XX 2)". */
void provctl_show_run_line(FILE *out, const json_t *run);

/* The answer of POST /v1/harvest: one line per run saying whether it was
 * queued, merged into a running run, or is running now. */
void provctl_show_harvest(FILE *out, const json_t *reply);

/* The harvest source's name of a record (the catalog's "source" when it
 * holds a name), or NULL. */
const char *provctl_record_source_name(const json_t *record);

/* The record's Source text (PROVENANCE.md §3), or NULL. */
const char *provctl_record_source_text(const json_t *record);

#endif
