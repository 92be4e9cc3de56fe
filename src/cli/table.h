/* table.h — aligned text tables for the client's listings, and the human
 * formats they use (sizes, ages). A table copies every cell, so callers may
 * pass temporaries. Cells are made terminal-safe: control bytes (which a
 * hostile task name could use to rewrite the user's screen) print as '?'.
 * Widths count UTF-8 code points, not bytes. One owner, one thread. */
#ifndef CLOUDAI_CLI_TABLE_H
#define CLOUDAI_CLI_TABLE_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define TABLE_COLS_MAX 16

typedef struct table table;

/* headers: ncols strings (copied). NULL if out of memory or ncols is not
 * in 1..TABLE_COLS_MAX. */
table *table_new(int ncols, const char *const *headers);
void table_free(table *t);
/* Right-aligns a column (numbers). */
void table_align_right(table *t, int col);
/* Starts a new row whose cells are all ""; 0 or -ENOMEM. */
int table_row(table *t);
/* Sets a cell of the current row (copied); 0, -EINVAL (no row, bad
 * column) or -ENOMEM. */
int table_set(table *t, int col, const char *s);
int table_setf(table *t, int col, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Attaches a free-text line printed under the current row, indented, not
 * counted in the column widths (why a task is still queued). */
int table_note(table *t, const char *s);
size_t table_nrows(const table *t);
/* Prints headers and rows: columns separated by two spaces, no trailing
 * blanks. 0, or -EIO if the stream reported an error. */
int table_print(const table *t, FILE *out);

/* "0 B", "512 B", "1.0 KiB", "1.5 MiB", "512.0 MiB", "1.0 GiB", up to EiB. */
void table_fmt_size(uint64_t bytes, char *out, size_t cap);
/* How long ago then_ms was, from now_ms: "4s ago", "3m ago", "2h ago",
 * "5d ago"; "never" for 0; "now" for the future (clock skew). */
void table_fmt_ago(uint64_t then_ms, uint64_t now_ms, char *out, size_t cap);
/* A span ahead, rounded up to its unit: "4 s", "12 min", "3 h 5 min",
 * "2 d 4 h" (an expected start 4 s away is not "in 1 min"). */
void table_fmt_span(uint64_t ms, char *out, size_t cap);
/* Display width of a UTF-8 string (code points). */
size_t table_width(const char *s);
#endif
