/* cli_progress.h — the download progress line of `get`: bytes so far,
 * rate and time left, redrawn in place on stderr. It is drawn only when
 * stderr is a terminal (so scripts and tests see clean output);
 * $CLOUDAI_PROGRESS=0 turns it off, =1 forces it on. Nothing here
 * allocates; one cli_progress per download, owned by one thread. */
#ifndef CLOUDAI_CLI_PROGRESS_H
#define CLOUDAI_CLI_PROGRESS_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct cli_progress {
    FILE *out;              /* NULL: not drawing */
    uint64_t start_ms, last_ms;
    uint64_t done, total;   /* total 0 = unknown */
    size_t width;           /* of the last line drawn, to blank it */
} cli_progress;

/* Decides whether to draw (terminal or $CLOUDAI_PROGRESS) and starts the clock. */
void cli_progress_init(cli_progress *p, FILE *out);
/* Sets the announced stream size (may come with the first chunk). */
void cli_progress_total(cli_progress *p, uint64_t total);
/* Adds n bytes; redraws at most every 100 ms. */
void cli_progress_add(cli_progress *p, uint64_t n);
/* Erases the line, so what follows starts on a clean line. */
void cli_progress_end(cli_progress *p);

/* The text of one progress line for these figures (for tests and the
 * drawing above): "12.0 MiB / 40.0 MiB  30%  4.0 MiB/s  ETA 7s". */
void cli_progress_format(uint64_t done, uint64_t total, uint64_t elapsed_ms, char *out,
                         size_t cap);
#endif
