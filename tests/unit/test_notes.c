/* test_notes.c — the task notes built from left-out entries: names first,
 * then a count; bounded; long names cut; prior text kept in front. */
#include "notes.h"
#include "t.h"

static void test_render(void)
{
    notes n;
    notes_init(&n);
    T_CHECK(notes_render(&n, 0) == NULL);
    T_EQ_INT(notes_add(&n, "pipe", "FIFO ('6')"), 0);
    T_EQ_INT(notes_add(&n, "pw", "symlink to '/etc/passwd' leaves the target"), 0);
    char *t = notes_render(&n, 0);
    T_EQ_STR(t, "'pipe': FIFO ('6'); 'pw': symlink to '/etc/passwd' leaves the target");
    free(t);
    notes_free(&n);

    /* Past NOTES_NAMED, entries are counted, not named. */
    notes_init(&n);
    char name[32];
    for (int i = 0; i < NOTES_NAMED + 5; i++) {
        snprintf(name, sizeof name, "f%d", i);
        notes_add(&n, name, "FIFO");
    }
    T_EQ_INT(n.total, NOTES_NAMED + 5);
    t = notes_render(&n, 0);
    T_CHECK(t && strstr(t, "'f0': FIFO; 'f1'") == t);
    T_CHECK(t && strstr(t, "; and 5 more") && strlen(strstr(t, "; and 5 more")) == 12);
    T_CHECK(t && !strstr(t, "'f20'"));
    free(t);
    /* A small cap keeps the count and marks the cut. */
    t = notes_render(&n, 60);
    T_CHECK(t && strlen(t) <= 60);
    T_CHECK(t && strstr(t, "...; and 5 more"));
    free(t);
    notes_free(&n);

    /* A 4 KiB name is cut to 200 bytes; prior text comes first. */
    notes_init(&n);
    notes_add_text(&n, "worker: 'sock': socket");
    char longname[4097];
    memset(longname, 'a', 4096);
    longname[4096] = 0;
    notes_add(&n, longname, "path too long");
    t = notes_render(&n, 4096);
    T_CHECK(t && !strncmp(t, "worker: 'sock': socket; 'aaa", 28));
    T_CHECK(t && strlen(t) < 300 && strstr(t, "...': path too long"));
    free(t);
    notes_free(&n);
}

int main(void)
{
    T_RUN(test_render);
    return T_DONE();
}
