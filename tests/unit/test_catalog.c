/* test_catalog.c — the catalog's rules over a real embedded store
 * (src/master/catalog.h): keyset pages cover a listing exactly once at
 * every page size, including runs that share a submission time (ties by
 * task id, then file name); records added or removed between pages are
 * neither repeated nor make others vanish; another user's records are
 * refused for a non-admin; bad cursors and limits are refused. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "t.h"
#include "master/catalog.h"

static char dir[64];

static void done(meta *m)
{
    char cmd[128];
    meta_close(m);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) printf("# cleanup of %s failed\n", dir);
}

static meta *fresh(void)
{
    char err[256] = "";
    uint64_t dropped = 0;
    snprintf(dir, sizeof dir, "/tmp/test_catalog.XXXXXX");
    if (!mkdtemp(dir)) return NULL;
    meta *m = meta_open_journal(dir, 0, &dropped, err, sizeof err);
    if (!m) printf("#   open: %s\n", err);
    return m;
}

static void put_task(meta *m, const char *id, const char *user, uint64_t at)
{
    task_rec t;
    char err[256];
    task_rec_init(&t);
    snprintf(t.task_id, sizeof t.task_id, "%s", id);
    snprintf(t.user_id, sizeof t.user_id, "%s", user);
    snprintf(t.task_name, sizeof t.task_name, "n");
    snprintf(t.docker_image, sizeof t.docker_image, "img");
    t.submitted_at = at;
    t.status = PROTO_ST_COMPLETED;
    T_EQ_INT(meta_task_put(m, &t, err, sizeof err), 0);
    task_rec_free(&t);
}

static void put_files(meta *m, const char *task, const char *user, uint64_t at, int n)
{
    file_rec *f = calloc((size_t)n, sizeof *f);
    char err[256];
    for (int i = 0; i < n; i++) {
        snprintf(f[i].task_id, sizeof f[i].task_id, "%s", task);
        snprintf(f[i].user_id, sizeof f[i].user_id, "%s", user);
        snprintf(f[i].task_name, sizeof f[i].task_name, "n");
        snprintf(f[i].file_name, sizeof f[i].file_name, "f%03d", i);
        f[i].submitted_at = at;
    }
    T_EQ_INT(meta_files_put(m, f, (size_t)n, err, sizeof err), 0);
    free(f);
}

typedef struct seen {
    char keys[256][96];
    int n;
} seen;

static int see_task(void *ctx, const task_rec *t, uint64_t exp)
{
    seen *s = ctx;
    (void)exp;
    if (s->n < 256) snprintf(s->keys[s->n++], sizeof s->keys[0], "%s", t->task_id);
    return 0;
}

static int see_file(void *ctx, const file_rec *f, uint64_t exp)
{
    seen *s = ctx;
    (void)exp;
    if (s->n < 256) snprintf(s->keys[s->n++], sizeof s->keys[0], "%s/%s", f->task_id, f->file_name);
    return 0;
}

/* Walks every page of size limit; returns the pages used. */
static int walk(catalog *c, catalog_who *who, catalog_req *rq, int files, seen *s)
{
    catalog_page *pg = malloc(sizeof *pg);
    char cur[CATALOG_CURSOR_MAX] = "";
    int pages = 0;
    s->n = 0;
    for (; pages < 100; pages++) {
        rq->cursor = cur[0] ? cur : NULL;
        int rc = files ? catalog_files(c, who, rq, see_file, s, pg)
                       : catalog_tasks(c, who, rq, see_task, s, pg);
        T_EQ_INT(rc, CATALOG_OK);
        if (rc || !pg->next_cursor[0]) break;
        snprintf(cur, sizeof cur, "%s", pg->next_cursor);
    }
    free(pg);
    return pages + 1;
}

static void test_pages_cover_once(void)
{
    meta *m = fresh();
    T_CHECK(m != NULL);
    if (!m) return;
    /* Five runs, three at the same millisecond. */
    put_task(m, "t-a", "alice", 1000);
    put_task(m, "t-b", "alice", 2000);
    put_task(m, "t-c", "alice", 2000);
    put_task(m, "t-d", "alice", 2000);
    put_task(m, "t-e", "alice", 3000);
    put_task(m, "t-x", "bob", 2000);
    put_files(m, "t-b", "alice", 2000, 7);
    put_files(m, "t-c", "alice", 2000, 5);
    put_files(m, "t-e", "alice", 3000, 3);
    catalog c = { m, NULL, NULL };
    catalog_who who = { "alice", 0 };
    for (size_t lim = 1; lim <= 16; lim++) {
        catalog_req rq;
        seen s;
        memset(&rq, 0, sizeof rq);
        rq.limit = lim;
        int pages = walk(&c, &who, &rq, 0, &s);
        T_EQ_INT(s.n, 5);
        T_EQ_INT(pages, (5 + lim - 1) / lim);
        /* Newest first, ties by task id descending. */
        if (s.n == 5) {
            T_EQ_STR(s.keys[0], "t-e");
            T_EQ_STR(s.keys[1], "t-d");
            T_EQ_STR(s.keys[3], "t-b");
            T_EQ_STR(s.keys[4], "t-a");
        }
        walk(&c, &who, &rq, 1, &s);
        T_EQ_INT(s.n, 15);
        if (s.n == 15) {
            T_EQ_STR(s.keys[0], "t-b/f000");
            T_EQ_STR(s.keys[7], "t-c/f000");
            T_EQ_STR(s.keys[14], "t-e/f002");
            for (int i = 1; i < 15; i++) T_CHECK(strcmp(s.keys[i - 1], s.keys[i]) < 0);
        }
    }
    done(m);
}

/* A record removed after it was the last of a page, and one added at the
 * same time before the cursor: the next page starts right after. */
static void test_changes_between_pages(void)
{
    meta *m = fresh();
    T_CHECK(m != NULL);
    if (!m) return;
    put_task(m, "t-1", "u", 10);
    put_task(m, "t-2", "u", 20);
    put_task(m, "t-3", "u", 20);
    put_task(m, "t-4", "u", 30);
    catalog c = { m, NULL, NULL };
    catalog_who who = { "u", 0 };
    catalog_req rq;
    catalog_page *pg = malloc(sizeof *pg);
    seen s = { .n = 0 };
    memset(&rq, 0, sizeof rq);
    rq.limit = 2;
    T_EQ_INT(catalog_tasks(&c, &who, &rq, see_task, &s, pg), CATALOG_OK);
    T_EQ_STR(pg->next_cursor, "20.t-3");
    put_task(m, "t-0", "u", 40);      /* newer than the cursor: not on later pages */
    put_task(m, "t-35", "u", 20);     /* a tie before t-3 in walk order: also not */
    put_task(m, "t-25", "u", 20);     /* a tie after it: on the next page */
    char cur[64];
    snprintf(cur, sizeof cur, "%s", pg->next_cursor);
    rq.cursor = cur;
    rq.limit = 3;
    s.n = 0;
    T_EQ_INT(catalog_tasks(&c, &who, &rq, see_task, &s, pg), CATALOG_OK);
    T_EQ_INT(s.n, 3);
    if (s.n == 3) {
        T_EQ_STR(s.keys[0], "t-25");
        T_EQ_STR(s.keys[1], "t-2");
        T_EQ_STR(s.keys[2], "t-1");
    }
    T_EQ_STR(pg->next_cursor, "");
    free(pg);
    done(m);
}

static void test_refusals(void)
{
    meta *m = fresh();
    T_CHECK(m != NULL);
    if (!m) return;
    put_task(m, "t-x", "bob", 5);
    catalog c = { m, NULL, NULL };
    catalog_who alice = { "alice", 0 }, root = { "root", 1 };
    catalog_req rq;
    catalog_page *pg = malloc(sizeof *pg);
    seen s = { .n = 0 };
    memset(&rq, 0, sizeof rq);
    rq.user_id = "bob";
    T_EQ_INT(catalog_tasks(&c, &alice, &rq, see_task, &s, pg), CATALOG_E_FORBIDDEN);
    T_CHECK(strstr(pg->err, "only admins") != NULL);
    T_EQ_INT(catalog_files(&c, &alice, &rq, see_file, &s, pg), CATALOG_E_FORBIDDEN);
    T_EQ_INT(s.n, 0);
    T_EQ_INT(catalog_tasks(&c, &root, &rq, see_task, &s, pg), CATALOG_OK);
    T_EQ_INT(s.n, 1);
    rq.user_id = NULL;          /* a non-admin without USER_ID: their own only */
    s.n = 0;
    T_EQ_INT(catalog_tasks(&c, &alice, &rq, see_task, &s, pg), CATALOG_OK);
    T_EQ_INT(s.n, 0);
    T_EQ_INT(catalog_may_see(&alice, "alice"), CATALOG_OK);
    T_EQ_INT(catalog_may_see(&alice, NULL), CATALOG_OK);
    T_EQ_INT(catalog_may_see(&alice, "bob"), CATALOG_E_FORBIDDEN);
    static const char *const bad[] = { "x", "5", "5.", ".t-x", "5.t-x/f", "abc.t-x" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        rq.cursor = bad[i];
        T_EQ_INT(catalog_tasks(&c, &root, &rq, see_task, &s, pg), CATALOG_E_ARG);
    }
    rq.cursor = "5.t-x";        /* a task cursor for a file listing */
    T_EQ_INT(catalog_files(&c, &root, &rq, see_file, &s, pg), CATALOG_E_ARG);
    rq.cursor = NULL;
    rq.limit = CATALOG_PAGE_MAX + 1;
    T_EQ_INT(catalog_tasks(&c, &root, &rq, see_task, &s, pg), CATALOG_E_ARG);
    free(pg);
    done(m);
}

int main(void)
{
    T_RUN(test_pages_cover_once);
    T_RUN(test_changes_between_pages);
    T_RUN(test_refusals);
    return T_DONE();
}
