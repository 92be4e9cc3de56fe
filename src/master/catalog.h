/* catalog.h — which tasks, files and workers a user may see, filtered how,
 * paged how, expiring when: the one answer both fronts (TCP LIST_* in
 * server.c, HTTP /api/tasks, /api/files, /api/workers in http_api.c) give, with the same refusals.
 *
 * Rules (README "HTTP API", proto.txt LIST_TASKS):
 * - A non-admin sees only their own tasks and files; asking for another
 *   user's (user_id set to someone else) is refused (CATALOG_E_FORBIDDEN:
 *   ERROR FORBIDDEN over TCP, 403 over HTTP), never silently narrowed.
 * - Every listing is paged: at most limit records (default
 *   CATALOG_PAGE_DEFAULT, at most CATALOG_PAGE_MAX), and when more match,
 *   next_cursor says where the next page starts. Nothing is cut silently.
 *   Tasks come newest first; files oldest run first, then by name.
 * - Metadata store down or stalled (storeread.h: 50 ms): tasks are
 *   answered from the master's memory (active tasks, and finished ones not
 *   yet stored), in the same order and pages, with degraded set and a
 *   note; files cannot be, and the listing fails with CATALOG_E_UNAVAIL
 *   (ERROR STORE / 503).
 * - Workers: every authenticated user may list them (capacity, state and a
 *   count of running tasks: nothing of other users' tasks).
 *
 * A catalog is a view over objects owned elsewhere; it is cheap to build
 * on the stack per request. Thread-safe as its parts are. */
#ifndef CLOUDAI_CATALOG_H
#define CLOUDAI_CATALOG_H
#include "err.h"
#include <stddef.h>
#include <stdint.h>
#include "cluster.h"
#include "meta.h"
#include "retention.h"

#define CATALOG_PAGE_DEFAULT 1000
#define CATALOG_PAGE_MAX 10000
#define CATALOG_CURSOR_MAX 4200   /* "<ms>.<task_id>/<file_name>" + NUL */

/* Codes: CATALOG_OK, CATALOG_E_* (err.h). */

typedef struct catalog {
    meta *m;
    cluster *cl;                 /* for the answer from memory */
    retention *rt;               /* NULL: nothing expires */
} catalog;

typedef struct catalog_who {
    const char *user;
    int admin;
} catalog_who;

/* A listing request as either front reads it; NULL / 0 = no filter. */
typedef struct catalog_req {
    const char *task_id, *user_id, *task_name, *pattern, *worker_id;
    const char *array_id;      /* tasks of one -array submission */
    int status;                  /* tasks only */
    uint64_t since, until;       /* submitted_at: since <= t < until */
    size_t limit;                /* page size; 0 = CATALOG_PAGE_DEFAULT */
    const char *cursor;          /* next_cursor of the previous page, or NULL */
} catalog_req;

typedef struct catalog_page {
    size_t count;                            /* records passed to the callback */
    char next_cursor[CATALOG_CURSOR_MAX];    /* "" = this was the last page */
    int degraded;                            /* answered from memory */
    char note[256];                          /* why, when degraded */
    char err[256];                           /* why, on a refusal */
} catalog_page;

/* expires_at: when retention removes the run, 0 = never (or no retention).
 * A non-zero return stops the walk (CATALOG_E_ABORT). */
typedef int (*catalog_task_cb)(void *ctx, const task_rec *t, uint64_t expires_at);
typedef int (*catalog_file_cb)(void *ctx, const file_rec *f, uint64_t expires_at);

/* One page of tasks / files for who. Returns CATALOG_OK or a negative
 * catalog_rc with pg->err filled. Records passed to cb are valid during
 * the call only; cb must not call into the store. */
int catalog_tasks(const catalog *c, const catalog_who *who, const catalog_req *rq,
                  catalog_task_cb cb, void *ctx, catalog_page *pg);
int catalog_files(const catalog *c, const catalog_who *who, const catalog_req *rq,
                  catalog_file_cb cb, void *ctx, catalog_page *pg);
/* Every worker the master knows, from memory (answers when the store is
 * down). */
int catalog_workers(const catalog *c, const catalog_who *who, meta_worker_cb cb, void *ctx);
/* Whether who may see records of user (NULL = their own): 0 or
 * CATALOG_E_FORBIDDEN. The rule the listings apply, for other reads. */
int catalog_may_see(const catalog_who *who, const char *user);
#endif
