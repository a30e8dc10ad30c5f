/*
 * config_value: the syntax of directive values and setting a directive's
 * field from its text. Internal to the configuration modules (config.c,
 * config_ini.c); the value syntax functions that others use
 * (config_parse_duration(), config_addr_match(), ...) are declared in
 * config.h.
 */
#ifndef PROVD_CONFIG_VALUE_H
#define PROVD_CONFIG_VALUE_H

#include "config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Units of durations (milliseconds) and sizes (bytes), for the directive
 * tables and the value syntax. */
#define MS_S UINT64_C(1000)
#define MS_M (60 * MS_S)
#define MS_H (60 * MS_M)
#define MS_D (24 * MS_H)
#define KIB  UINT64_C(1024)
#define MIB  (1024 * KIB)
#define GIB  (1024 * MIB)

/* Parse value for directive d into its field in base (a struct config or
 * struct config_source), replacing what the field held. absdir (absolute)
 * resolves relative paths. URL and template values are stored as written:
 * they are checked once their section is complete (config_urls.h).
 * Returns 0, or a negative errno with the message in err (errlen bytes);
 * the field is then unchanged. */
int config_value_set(const struct config_directive *d, void *base, const char *value,
                     const char *absdir, char *err, size_t errlen);

/* Free what field, the field of directive d, holds (a string, an id or an
 * address list) and empty it; other types are left alone. */
void config_value_clear(const struct config_directive *d, void *field);

/* True when s is a valid section name: 1 to 64 letters, digits, '.', '_'
 * or '-'. */
bool config_value_name_valid(const char *s);

/* Add id to ids unless it is there already. */
void config_value_ids_add(struct config_ids *ids, unsigned id);

/* The configuration's word for log level, a syslog priority from 3 (err)
 * to 7 (debug); "info" for any other value. Static storage. */
const char *config_value_level_name(int level);

#endif
