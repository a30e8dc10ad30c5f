/*
 * provctl_table: provctl's human-readable output — text measured in
 * terminal columns, cut or wrapped to a width, cleaned of control
 * characters (record text comes from web pages and must not drive the
 * terminal), and aligned tables with one column that gives way when the
 * line is too long.
 */
#ifndef PROVD_PROVCTL_TABLE_H
#define PROVD_PROVCTL_TABLE_H

#include <stddef.h>
#include <stdio.h>

/* Width of a line when nothing better is known. */
#define PROVCTL_DEFAULT_WIDTH 120

struct provctl_table;

/* The width to fit output to f in: the terminal's columns when f is a
 * terminal, else $COLUMNS when set to a number, else
 * PROVCTL_DEFAULT_WIDTH. Never below 40. */
unsigned provctl_term_width(FILE *f);

/* Terminal columns that UTF-8 text s takes (wide East Asian characters
 * count 2, combining marks 0, invalid bytes 1). */
size_t provctl_text_width(const char *s);

/* A new string: s with control characters (C0, DEL, C1) and white-space
 * runs turned into single spaces, cut to at most width columns with "…"
 * as its last column when it was longer. width 0 means no limit. */
char *provctl_text_fit(const char *s, size_t width);

/* Print s cleaned as provctl_text_fit() does, wrapped at spaces into
 * lines of at most width columns; the first line continues the current
 * one (the caller printed first_used columns of it), the others start
 * with indent spaces. Ends with a newline. */
void provctl_text_wrap(FILE *out, const char *s, unsigned first_used, unsigned indent,
                       unsigned width);

/* A table of ncols columns whose header cells are headers (copied). */
struct provctl_table *provctl_table_new(unsigned ncols, const char *const *headers);

/* Free t; NULL is allowed. */
void provctl_table_free(struct provctl_table *t);

/* Column col is the one cut to fit the width (the last one by default);
 * at least min columns of it are kept. */
void provctl_table_flex(struct provctl_table *t, unsigned col, unsigned min);

/* Column col is aligned to the right (numbers). */
void provctl_table_right(struct provctl_table *t, unsigned col);

/* Add a row of ncols cells (copied, cleaned; NULL prints as "-"). */
void provctl_table_add(struct provctl_table *t, const char *const *cells);

/* Rows added so far. */
size_t provctl_table_rows(const struct provctl_table *t);

/* Print the header and the rows, columns two spaces apart, cutting the
 * flexible column so that lines fit width (0: no limit). */
void provctl_table_print(const struct provctl_table *t, FILE *out, unsigned width);

#endif
