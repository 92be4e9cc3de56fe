/* test_logbook.c — the master's task logs (logbook.h, proto.txt 9.1):
 * append by offset (overlap skipped, gap refused), the cap and its marker,
 * state recovered from the file after a restart, attempts apart, waiters
 * woken by an append. */
#include <pthread.h>
#include <stdint.h>
#include <unistd.h>
#include "fsutil.h"
#include "master/logbook.h"
#include "t.h"

static char root[64];

static char *slurp(logbook *lb, const char *id, uint64_t attempt, size_t *len)
{
    char path[4300], *text = NULL;
    logbook_path(lb, id, attempt, path, sizeof path);
    *len = 0;
    if (fsutil_read_file(path, &text, len, 1 << 20) < 0) return NULL;
    return text;
}

static void test_offsets(void)
{
    logbook *lb = logbook_new(root, 0);
    uint64_t held = 0;
    size_t len;
    T_CHECK(lb != NULL);
    T_EQ_INT(logbook_append(lb, "t-1", 1, 0, "hello ", 6, &held), 0);
    T_EQ_INT(held, 6);
    /* A resend overlapping what is held: only the new part is appended. */
    T_EQ_INT(logbook_append(lb, "t-1", 1, 3, "lo world\n", 9, &held), 0);
    T_EQ_INT(held, 12);
    /* All held already: nothing changes. */
    T_EQ_INT(logbook_append(lb, "t-1", 1, 0, "hello", 5, &held), 0);
    T_EQ_INT(held, 12);
    /* A gap: nothing appended, the ack says where to resend from. */
    T_EQ_INT(logbook_append(lb, "t-1", 1, 20, "lost?", 5, &held), 0);
    T_EQ_INT(held, 12);
    char *text = slurp(lb, "t-1", 1, &len);
    T_EQ_STR(text, "hello world\n");
    free(text);
    /* Another attempt has a file of its own. */
    T_EQ_INT(logbook_append(lb, "t-1", 2, 0, "again\n", 6, &held), 0);
    T_EQ_INT(held, 6);
    text = slurp(lb, "t-1", 2, &len);
    T_EQ_STR(text, "again\n");
    free(text);
    char path[4300];
    logbook_read_path(lb, "t-1", 2, path, sizeof path);
    T_CHECK(strstr(path, "t-1.2.log") != NULL);
    logbook_read_path(lb, "t-9", 3, path, sizeof path);       /* none: the legacy tail */
    T_CHECK(strstr(path, "/t-9.log") != NULL);
    logbook_free(lb);
    /* A restarted master learns what it holds from the file. */
    lb = logbook_new(root, 0);
    T_EQ_INT(logbook_append(lb, "t-1", 1, 100, "x", 1, &held), 0);
    T_EQ_INT(held, 12);
    T_EQ_INT(logbook_append(lb, "t-1", 1, 12, "more\n", 5, &held), 0);
    T_EQ_INT(held, 17);
    logbook_forget(lb, "t-1");
    T_EQ_INT(logbook_append(lb, "t-1", 1, 17, "end\n", 4, &held), 0);
    T_EQ_INT(held, 21);
    text = slurp(lb, "t-1", 1, &len);
    T_EQ_STR(text, "hello world\nmore\nend\n");
    free(text);
    logbook_free(lb);
}

static void test_cap(void)
{
    logbook *lb = logbook_new(root, 10);
    uint64_t held = 0;
    size_t len;
    char note[256];
    T_EQ_INT(logbook_append(lb, "t-2", 1, 0, "12345678", 8, &held), 0);
    T_EQ_INT(logbook_append(lb, "t-2", 1, 8, "90abcdef", 8, &held), 0);
    T_CHECK(held == UINT64_MAX);        /* cut: the worker sends and keeps no more */
    T_EQ_INT(logbook_append(lb, "t-2", 1, 16, "ghij", 4, &held), 0);
    T_CHECK(held == UINT64_MAX);
    T_EQ_INT(logbook_append(lb, "t-2", 1, 100, "k", 1, &held), 0);
    T_CHECK(held == UINT64_MAX);        /* past the cap nothing is checked */
    char *text = slurp(lb, "t-2", 1, &len);
    T_CHECK(text && !strncmp(text, "1234567890\n[cloudai: log cut at 10 bytes", 40));
    T_CHECK(text && len > 10 && text[len - 1] == '\n');
    free(text);
    logbook_cut_note(lb, 20, note, sizeof note);
    T_CHECK(strstr(note, "20 bytes written, the first 10 kept") != NULL);
    T_CHECK(strstr(note, "10 dropped") != NULL);
    logbook_cut_note(lb, 10, note, sizeof note);
    T_EQ_STR(note, "");
    logbook_free(lb);
    /* After a restart the cut is known from the file's length. */
    lb = logbook_new(root, 10);
    T_EQ_INT(logbook_append(lb, "t-2", 1, 200, "z", 1, &held), 0);
    T_CHECK(held == UINT64_MAX);
    text = slurp(lb, "t-2", 1, &len);
    T_CHECK(text && !strchr(text, 'z'));
    free(text);
    logbook_free(lb);
}

static void test_final(void)
{
    logbook *lb = logbook_new(root, 10);
    T_EQ_INT(logbook_complete(lb, "t-4", 1, 0), 1);          /* nothing stated */
    logbook_set_final(lb, "t-4", 1, 6);
    T_EQ_INT(logbook_complete(lb, "t-4", 1, 5), 0);          /* a byte is still coming */
    T_EQ_INT(logbook_complete(lb, "t-4", 1, 6), 1);
    T_EQ_INT(logbook_complete(lb, "t-4", 2, 0), 1);          /* another attempt */
    logbook_set_final(lb, "t-4", 2, 50);                     /* over the cap of 10 */
    T_EQ_INT(logbook_complete(lb, "t-4", 2, 10), 0);
    T_EQ_INT(logbook_complete(lb, "t-4", 2, 60), 1);         /* the marker is there */
    /* The ring forgets the oldest, never grows. */
    for (int i = 0; i < LOGBOOK_FINALS + 1; i++) {
        char id[32];
        snprintf(id, sizeof id, "r-%d", i);
        logbook_set_final(lb, id, 1, 100);
    }
    T_EQ_INT(logbook_complete(lb, "r-0", 1, 0), 1);
    T_EQ_INT(logbook_complete(lb, "r-1", 1, 0), 0);
    /* Every one the ring holds is still found (its hash chains survive
     * the evictions), and a second lap evicts in order too. */
    int found = 0;
    for (int i = 1; i <= LOGBOOK_FINALS; i++) {
        char id[32];
        snprintf(id, sizeof id, "r-%d", i);
        found += logbook_complete(lb, id, 1, 0) == 0;
    }
    T_EQ_INT(found, LOGBOOK_FINALS);
    for (int i = 0; i < LOGBOOK_FINALS / 2; i++) {
        char id[32];
        snprintf(id, sizeof id, "s-%d", i);
        logbook_set_final(lb, id, 1, 100);
    }
    T_EQ_INT(logbook_complete(lb, "r-2", 1, 0), 1);
    T_EQ_INT(logbook_complete(lb, "r-4096", 1, 0), 0);
    T_EQ_INT(logbook_complete(lb, "s-0", 1, 0), 0);
    logbook_set_final(lb, "r-4096", 1, 0);               /* updated in place */
    T_EQ_INT(logbook_complete(lb, "r-4096", 1, 0), 1);
    logbook_free(lb);
}

typedef struct waiter {
    logbook *lb;
    uint64_t gen, got;
} waiter;

static void *wait_main(void *arg)
{
    waiter *w = arg;
    w->got = logbook_wait(w->lb, w->gen, 10000);
    return NULL;
}

static void test_wait(void)
{
    logbook *lb = logbook_new(root, 0);
    waiter w = { lb, logbook_gen(lb), 0 };
    pthread_t th;
    uint64_t held;
    T_EQ_INT(pthread_create(&th, NULL, wait_main, &w), 0);
    T_EQ_INT(logbook_append(lb, "t-3", 1, 0, "x\n", 2, &held), 0);
    pthread_join(th, NULL);
    T_CHECK(w.got != w.gen);            /* woken by the append, not the timeout */
    /* Nothing changes: the wait ends at its timeout with the same generation. */
    uint64_t g = logbook_gen(lb);
    T_EQ_INT(logbook_wait(lb, g, 50), g);
    logbook_free(lb);
}

int main(void)
{
    snprintf(root, sizeof root, "/tmp/test_logbook.XXXXXX");
    if (!mkdtemp(root)) {
        printf("not ok - mkdtemp\n");
        return 1;
    }
    T_RUN(test_offsets);
    T_RUN(test_cap);
    T_RUN(test_final);
    T_RUN(test_wait);
    fsutil_rm_rf(root);
    return T_DONE();
}
