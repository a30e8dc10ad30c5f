/*
 * catalog_schema: the schema as a list of migration steps, applied in
 * order under PRAGMA user_version, each in one transaction. Internal to
 * catalog/.
 */
#ifndef PROVD_CATALOG_SCHEMA_H
#define PROVD_CATALOG_SCHEMA_H

#include "catalog_db.h"

/* Read PRAGMA user_version into *version (may be NULL: only check that the
 * file can be read as a database). */
int catalog_schema_version(struct catalog *c, int *version);

/* Bring the schema up to target (1 .. CATALOG_SCHEMA_VERSION): each
 * missing step in its own IMMEDIATE transaction that also sets
 * user_version. -EPROTO when the file is newer than this code. */
int catalog_schema_migrate_to(struct catalog *c, int target);

/* catalog_schema_migrate_to(c, CATALOG_SCHEMA_VERSION). */
int catalog_schema_migrate(struct catalog *c);

/* For readers: the schema must be exactly CATALOG_SCHEMA_VERSION. */
int catalog_schema_require(struct catalog *c);

/* True when the full-text index exists (schema 3 and later). */
bool catalog_schema_has_fts(struct catalog *c);

#endif
