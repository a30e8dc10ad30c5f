/*
 * discover_list: URL list files (RELIABILITY C5, C6). Internal to harvest/
 * (tests, and the daemon's configuration, which reads sources' urls files
 * with it, may include it).
 */
#ifndef PROVD_DISCOVER_LIST_H
#define PROVD_DISCOVER_LIST_H

#include <stddef.h>

/* The limits of a list when struct discover_list_options leaves them 0. */
#define DISCOVER_LIST_MAX_URLS  2000000
#define DISCOVER_LIST_MAX_BYTES (512UL << 20)

struct discover_list_options {
    unsigned url_flags; /* DISCOVER_ALLOW_FILE or 0 */
    size_t max_urls;    /* 0: DISCOVER_LIST_MAX_URLS */
    size_t max_bytes;   /* 0: DISCOVER_LIST_MAX_BYTES */
};

/* A loaded URL list: normalised URLs in file order, duplicates removed.
 * Opaque; read it with the accessors below. */
struct discover_list;

/* Load the URL list file at path: one URL a line; blank lines, lines
 * starting with '#' and a '#' after white space are comments; a UTF-8 BOM
 * and CRLF line ends are accepted. A line without a scheme is a file path
 * (absolute, or relative to the list file's directory) and becomes a
 * file:// URL when o->url_flags allows file URLs; it runs to the line's
 * end or comment, so it may hold white space, and every byte of it is
 * literal (escaped as the URL needs). A URL must not hold white space. Every URL passes
 * discover_url_normalize(); a refused line is counted and reported as
 * "FILE:LINE: reason" without failing the load. Duplicates (after
 * normalisation) are dropped. Memory is about the total length of the
 * kept URLs plus 20 to 40 bytes per URL. On success returns 0 and *out (the
 * caller frees it with discover_list_free()). Returns -errno when the file
 * cannot be read, -EFBIG when it has more than o->max_urls URLs or
 * o->max_bytes bytes, with a message in err (errlen bytes; err may be NULL
 * when errlen is 0); *out is then NULL. o may be NULL (defaults). */
int discover_list_load(const char *path, const struct discover_list_options *o,
                       struct discover_list **out, char *err, size_t errlen);

/* The same from fd, an open file the caller keeps (it is read to its end
 * and not closed); name is used in messages and dir (an absolute
 * directory, or NULL) resolves relative file paths. */
int discover_list_read(int fd, const char *name, const char *dir,
                       const struct discover_list_options *o, struct discover_list **out, char *err,
                       size_t errlen);

/* The same over len bytes in memory; name is used in messages and dir
 * (an absolute directory, or NULL) resolves relative file paths. */
int discover_list_parse(const char *name, const char *dir, const char *bytes, size_t len,
                        const struct discover_list_options *o, struct discover_list **out,
                        char *err, size_t errlen);

/* Free l; NULL is allowed. */
void discover_list_free(struct discover_list *l);

/* The number of URLs kept. */
size_t discover_list_count(const struct discover_list *l);

/* The i-th URL (i < discover_list_count()); lives as long as l. */
const char *discover_list_url(const struct discover_list *l, size_t i);

/* Lines refused by the filter, and lines dropped as duplicates. */
size_t discover_list_rejected(const struct discover_list *l);
size_t discover_list_duplicates(const struct discover_list *l);

/* The kept "FILE:LINE: reason" messages (at most DISCOVER_MAX_ERRORS);
 * each lives as long as l. */
size_t discover_list_nerrors(const struct discover_list *l);
const char *discover_list_error(const struct discover_list *l, size_t i);

#endif
