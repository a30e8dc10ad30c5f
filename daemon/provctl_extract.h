/*
 * provctl_extract: `provctl extract FILE|URL...` — the offline extraction
 * of saved or fetched pages, with no daemon, through the same extraction
 * helper process and the same fetch limits the daemon uses.
 */
#ifndef PROVD_PROVCTL_EXTRACT_H
#define PROVD_PROVCTL_EXTRACT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

struct config;

struct provctl_extract_options {
    const char *profile; /* profile name; NULL means "wilson" */
    bool pretty;         /* indent the JSON instead of one object a line */
    bool text;           /* include the document text as "text" */
};

/* Extract each of the n inputs in order: an argument starting with
 * http:// or https:// is fetched (limits, user agent and allowed
 * addresses from cfg), "-" is standard input, anything else is a file
 * whose name becomes the record's url. Each record is printed to out as
 * one JSON object (PROVENANCE.md §3); each failure to err as
 * "NAME: CATEGORY: reason". cfg is the loaded configuration (defaults
 * when no file was given); its [profile] sections can be chosen by name.
 * Calls extract_global_init() and curl_global_init() itself; must run
 * before anything else opens sockets in the process. Returns
 * PROVCTL_EXIT_OK when every page gave a record, PROVCTL_EXIT_FAILED when
 * one did not or the helper could not start, PROVCTL_EXIT_USAGE for an
 * unknown profile. */
int provctl_extract_run(const struct config *cfg, const struct provctl_extract_options *o,
                        char *const *inputs, size_t n, FILE *out, FILE *err);

#endif
