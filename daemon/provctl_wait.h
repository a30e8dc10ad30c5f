/*
 * provctl_wait: `provctl harvest --wait` — follows runs through
 * GET /v1/runs/ID until each one ends, showing progress on stderr.
 */
#ifndef PROVD_PROVCTL_WAIT_H
#define PROVD_PROVCTL_WAIT_H

#include "provctl_http.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Time between two looks at a run. */
#define PROVCTL_WAIT_POLL_MS 500
/* Without a terminal, a progress line at most this often. */
#define PROVCTL_WAIT_LINE_MS 5000

/* Follow the n runs ids through h every PROVCTL_WAIT_POLL_MS until each
 * has ended (done, failed or interrupted), or timeout_ms passes (0: no limit). While waiting,
 * progress goes to err: a bar redrawn in place (done/total, rate, time
 * left) when err is a terminal, else a plain line when something changed
 * and at most every PROVCTL_WAIT_LINE_MS. At the end out gets one summary
 * line per run, or with json the last answer for the run (one run) or
 * {"runs": [...]} (several) as one JSON document. Returns
 * PROVCTL_EXIT_OK when every run ended done, PROVCTL_EXIT_FAILED when one
 * ended otherwise, PROVCTL_EXIT_TEMPFAIL when the time ran out, or the exit
 * status of a request that failed (the message printed). */
int provctl_wait_runs(struct provctl_http *h, const long long *ids, size_t n, uint64_t timeout_ms,
                      bool json, FILE *out, FILE *err);

#endif
