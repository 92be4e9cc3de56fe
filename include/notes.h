/* notes.h — the list of output entries left out of a task's stored run,
 * and why, turned into the task's notes text (task_rec.notes): the first
 * NOTES_NAMED entries by name, then "and K more". Used by the worker (what
 * its walk of /output could not archive) and the master (what extraction
 * skipped). One owner, one thread. */
#ifndef CLOUDAI_NOTES_H
#define CLOUDAI_NOTES_H
#include <stddef.h>
#include <stdint.h>

#define NOTES_NAMED 20       /* entries named; the rest are counted */

typedef struct notes {
    char *text;              /* "'a': why; 'b': why" (malloc'd) or NULL */
    size_t len;
    uint64_t named, total;
} notes;

void notes_init(notes *n);
void notes_free(notes *n);
/* Records one left-out entry. Names longer than 200 bytes are cut (with
 * "..."), so a path near the 4 KiB limit does not fill the notes alone.
 * 0 or -ENOMEM (the entry is still counted). */
int notes_add(notes *n, const char *name, const char *reason);
/* Appends prior notes text (e.g. the worker's) as given; 0 or -ENOMEM. */
int notes_add_text(notes *n, const char *text);
/* The notes text, malloc'd (caller frees), or NULL when nothing was left
 * out or memory ran short. At most cap bytes (0 = TASK_NOTES_MAX-like
 * 4096), cut before the "and K more" tail rather than losing it. */
char *notes_render(const notes *n, size_t cap);
#endif
