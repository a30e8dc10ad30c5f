/*
 * catalog_query: filters turned into one SQL query per page, in catalog
 * order (record id) with a keyset cursor. Internal to catalog/; export
 * pages through the same code.
 */
#ifndef PROVD_CATALOG_QUERY_H
#define PROVD_CATALOG_QUERY_H

#include "catalog_db.h"

/* A checked and normalised filter. */
struct catalog_q {
    char *source, *archive, *fund, *inventory, *folder, *file;
    bool has_sheet;
    int64_t sheet;
    char *contributor, *translator; /* folded */
    char *since, *until;            /* until: inclusive upper bound form */
    char *status;
    char *text;
    bool has_cit; /* a citation filter is set */
};

/* Check f (NULL: no filter) and fill *q (the caller clears it). -EINVAL
 * with the filter's name in the message for a bad value. */
int catalog_q_init(struct catalog *c, const struct catalog_filter *f, struct catalog_q *q);

/* Free what q owns. */
void catalog_q_clear(struct catalog_q *q);

/* Up to max ids of matching records after id after, ascending, into ids;
 * *n gets how many. Needs a read transaction for a stable page. */
int catalog_q_page(struct catalog *c, const struct catalog_q *q, int64_t after, size_t max,
                   int64_t *ids, size_t *n);

#endif
