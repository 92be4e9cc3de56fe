/* catalog.c — the listings both fronts answer (catalog.h).
 *
 * Paging is by keyset, not offset: a cursor names the last record of the
 * page ("<submitted_at ms>.<task_id>" for tasks, "...<task_id>/<file_name>"
 * for files). The next page asks the store for records from that time on
 * (in walk order) and skips those at or before the cursor, comparing keys
 * the way both backends order them (submitted_at, then task_id, then
 * file_name, byte-wise), so pages neither repeat nor miss records when
 * others are added or removed meanwhile, and a deleted cursor record does
 * not derail the next page. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "catalog.h"
#include "ids.h"
#include "storeread.h"

#define FILE_NAME_CAP 4097

typedef struct pager {
    int desc;                     /* newest first */
    int has_cur;
    uint64_t cur_ts;
    char cur_id[64];
    char cur_file[FILE_NAME_CAP];
    size_t want, n;
    int more;
    uint64_t last_ts;
    char last_id[64];
    char last_file[FILE_NAME_CAP];
    char name[IDS_NAME_MAX + 1];  /* the task_name filter, normalised as at submit */
} pager;

int catalog_may_see(const catalog_who *who, const char *user)
{
    if (!user || who->admin || !strcmp(user, who->user)) return CATALOG_OK;
    return CATALOG_E_FORBIDDEN;
}

/* Checks the request and turns it into a store query; the cursor narrows
 * the time range to where the next page starts. */
static int prepare(const catalog_who *who, const catalog_req *rq, int files, int desc,
                   meta_query *q, pager *p, catalog_page *pg)
{
    memset(pg, 0, sizeof *pg);
    memset(q, 0, sizeof *q);
    memset(p, 0, sizeof *p);
    if (catalog_may_see(who, rq->user_id) != CATALOG_OK) {
        snprintf(pg->err, sizeof pg->err, "only admins may list other users' %s",
                 files ? "files" : "tasks");
        return CATALOG_E_FORBIDDEN;
    }
    if (rq->limit > CATALOG_PAGE_MAX) {
        snprintf(pg->err, sizeof pg->err, "limit: at most %d records per page (follow next_cursor)",
                 CATALOG_PAGE_MAX);
        return CATALOG_E_ARG;
    }
    q->task_id = rq->task_id;
    q->user_id = who->admin ? rq->user_id : who->user;
    if (rq->task_name) {
        ids_sanitize(rq->task_name, p->name, sizeof p->name);
        q->task_name = p->name;
    }
    q->pattern = rq->pattern;
    q->status = files ? 0 : rq->status;
    q->since = rq->since;
    q->until = rq->until;
    q->newest_first = desc;
    p->desc = desc;
    p->want = rq->limit ? rq->limit : CATALOG_PAGE_DEFAULT;
    if (rq->cursor) {
        char *end;
        const char *id, *slash;
        errno = 0;
        p->cur_ts = strtoull(rq->cursor, &end, 10);
        int num = !errno && end != rq->cursor && *end == '.' && rq->cursor[0] >= '0' &&
                  rq->cursor[0] <= '9';
        id = num ? end + 1 : "";
        slash = strchr(id, '/');
        size_t idlen = slash ? (size_t)(slash - id) : strlen(id);
        if (!num || idlen == 0 || idlen >= sizeof p->cur_id ||
            (files != (slash != NULL)) || (slash && (!slash[1] || strlen(slash + 1) >= FILE_NAME_CAP))) {
            snprintf(pg->err, sizeof pg->err, "cursor: pass next_cursor unchanged");
            return CATALOG_E_ARG;
        }
        memcpy(p->cur_id, id, idlen);
        p->cur_id[idlen] = 0;
        if (slash) snprintf(p->cur_file, sizeof p->cur_file, "%s", slash + 1);
        p->has_cur = 1;
        if (desc) {
            if (!q->until || q->until > p->cur_ts + 1) q->until = p->cur_ts + 1;
        } else if (q->since < p->cur_ts) {
            q->since = p->cur_ts;
        }
    }
    return CATALOG_OK;
}

/* 1 if the record is at or before the cursor in walk order. */
static int before_cursor(const pager *p, uint64_t ts, const char *id, const char *file)
{
    if (!p->has_cur) return 0;
    if (ts != p->cur_ts) return p->desc ? ts > p->cur_ts : ts < p->cur_ts;
    int c = strcmp(id, p->cur_id);
    if (p->desc) c = -c;       /* files of one run are by name either way */
    if (c) return c < 0;
    return !file || strcmp(file, p->cur_file) <= 0;
}

/* 0 skip, 1 emit, -1 the page is full and another record exists. */
static int pager_take(pager *p, uint64_t ts, const char *id, const char *file)
{
    if (before_cursor(p, ts, id, file)) return 0;
    if (p->n == p->want) {
        p->more = 1;
        return -1;
    }
    p->n++;
    p->last_ts = ts;
    snprintf(p->last_id, sizeof p->last_id, "%s", id);
    if (file) snprintf(p->last_file, sizeof p->last_file, "%s", file);
    return 1;
}

static void pager_end(const pager *p, int files, catalog_page *pg)
{
    pg->count = p->n;
    if (!p->more) return;
    if (files)
        snprintf(pg->next_cursor, sizeof pg->next_cursor, "%llu.%s/%s",
                 (unsigned long long)p->last_ts, p->last_id, p->last_file);
    else
        snprintf(pg->next_cursor, sizeof pg->next_cursor, "%llu.%s",
                 (unsigned long long)p->last_ts, p->last_id);
}

/* ---- tasks ------------------------------------------------------------------ */

typedef struct task_walk {
    const catalog *c;
    const catalog_req *rq;
    pager *p;
    catalog_task_cb cb;
    void *ctx;
    int aborted;
} task_walk;

static int walk_task(void *ctx, const task_rec *t)
{
    task_walk *w = ctx;
    if (w->rq->worker_id && strcmp(t->worker_id, w->rq->worker_id)) return 0;
    if (w->rq->array_id && strcmp(t->array_id, w->rq->array_id)) return 0;
    int k = pager_take(w->p, t->submitted_at, t->task_id, NULL);
    if (k <= 0) return k < 0;
    /* retention_expires_at takes only the retention lock: safe here. */
    if (w->cb(w->ctx, t, w->c->rt ? retention_expires_at(w->c->rt, t) : 0)) {
        w->aborted = 1;
        return 1;
    }
    return 0;
}

int catalog_tasks(const catalog *c, const catalog_who *who, const catalog_req *rq,
                  catalog_task_cb cb, void *ctx, catalog_page *pg)
{
    meta_query q;
    pager *p = malloc(sizeof *p);
    int rc;
    if (!p) return CATALOG_E_NOMEM;
    if ((rc = prepare(who, rq, 0, 1, &q, p, pg)) != CATALOG_OK) goto out;
    task_walk w = { c, rq, p, cb, ctx, 0 };
    int mrc;
    if (c->cl) {
        /* One rule on both fronts: a store that does not answer in time
         * is replaced by what the master holds, marked degraded. The
         * memory answer comes in the same order, so the pager holds. */
        mrc = storeread_tasks(c->cl, &q, STOREREAD_WAIT_MS, walk_task, &w, &pg->degraded,
                              pg->note, sizeof pg->note);
    } else {
        mrc = meta_tasks_find(c->m, &q, walk_task, &w);
    }
    if (mrc < 0 && !w.aborted) {
        snprintf(pg->err, sizeof pg->err, "metadata store unavailable (%d)", mrc);
        rc = CATALOG_E_UNAVAIL;
    }
    if (rc == CATALOG_OK && w.aborted) rc = CATALOG_E_ABORT;
    if (rc == CATALOG_OK) pager_end(p, 0, pg);
out:
    free(p);
    return rc;
}

/* ---- files -------------------------------------------------------------------- */

/* Expiry of the runs a file listing may show: a file record does not carry
 * what retention needs (status, completion time), and the store's find
 * must not be re-entered from its callback, so the runs are collected
 * first. Only runs that do expire are kept. */
typedef struct expiry {
    struct expiry_ent { char task_id[64]; uint64_t at; } *v;
    size_t n, cap;
    retention *rt;
    int oom;
    const struct expiry_ent *last;   /* files come grouped by run */
} expiry;

static int expiry_add(void *ctx, const task_rec *t)
{
    expiry *e = ctx;
    uint64_t at = retention_expires_at(e->rt, t);
    if (!at) return 0;
    if (e->n == e->cap) {
        size_t nc = e->cap ? e->cap * 2 : 64;
        struct expiry_ent *nv = realloc(e->v, nc * sizeof *nv);
        if (!nv) { e->oom = 1; return 1; }
        e->v = nv;
        e->cap = nc;
    }
    snprintf(e->v[e->n].task_id, sizeof e->v[e->n].task_id, "%s", t->task_id);
    e->v[e->n++].at = at;
    return 0;
}

static int expiry_cmp(const void *a, const void *b)
{
    return strcmp(((const struct expiry_ent *)a)->task_id, ((const struct expiry_ent *)b)->task_id);
}

static uint64_t expiry_find(expiry *e, const char *task_id)
{
    struct expiry_ent key;
    if (e->last && !strcmp(e->last->task_id, task_id)) return e->last->at;
    snprintf(key.task_id, sizeof key.task_id, "%s", task_id);
    const struct expiry_ent *hit = e->n ? bsearch(&key, e->v, e->n, sizeof *e->v, expiry_cmp) : NULL;
    if (hit) e->last = hit;
    return hit ? hit->at : 0;
}

typedef struct file_walk {
    pager *p;
    expiry *exp;
    catalog_file_cb cb;
    void *ctx;
    int aborted;
} file_walk;

static int walk_file(void *ctx, const file_rec *f)
{
    file_walk *w = ctx;
    int k = pager_take(w->p, f->submitted_at, f->task_id, f->file_name);
    if (k <= 0) return k < 0;
    if (w->cb(w->ctx, f, w->exp ? expiry_find(w->exp, f->task_id) : 0)) {
        w->aborted = 1;
        return 1;
    }
    return 0;
}

int catalog_files(const catalog *c, const catalog_who *who, const catalog_req *rq,
                  catalog_file_cb cb, void *ctx, catalog_page *pg)
{
    meta_query q;
    expiry exp = { NULL, 0, 0, c->rt, 0, NULL };
    pager *p = malloc(sizeof *p);
    int rc;
    if (!p) return CATALOG_E_NOMEM;
    if ((rc = prepare(who, rq, 1, 0, &q, p, pg)) != CATALOG_OK) goto out;
    file_walk w = { p, NULL, cb, ctx, 0 };
    if (c->rt) {
        /* The same filters select the runs. Without them the listing
         * still works, only without expiry. */
        if (meta_tasks_find(c->m, &q, expiry_add, &exp) >= 0 && !exp.oom) {
            if (exp.n) qsort(exp.v, exp.n, sizeof *exp.v, expiry_cmp);
            w.exp = &exp;
        }
    }
    int mrc = meta_files_find(c->m, &q, walk_file, &w);
    if (mrc < 0 && !w.aborted) {
        snprintf(pg->err, sizeof pg->err, "metadata store unavailable (%d)", mrc);
        rc = CATALOG_E_UNAVAIL;
    } else if (w.aborted) {
        rc = CATALOG_E_ABORT;
    } else {
        pager_end(p, 1, pg);
    }
out:
    free(exp.v);
    free(p);
    return rc;
}

/* ---- workers ------------------------------------------------------------------ */

int catalog_workers(const catalog *c, const catalog_who *who, meta_worker_cb cb, void *ctx)
{
    (void)who;      /* every authenticated user: see catalog.h */
    return cluster_workers(c->cl, cb, ctx);
}
