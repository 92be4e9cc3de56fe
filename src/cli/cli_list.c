/* cli_list.c — `tasks`, `workers`, `files`: a request, list frames until
 * MORE is 0, and again with the CURSOR the master returned until there is
 * none (every page), printed as an aligned table or a JSON array. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli_int.h"
#include "recjson.h"
#include "hash.h"
#include "ids.h"
#include "table.h"

typedef int (*rec_fn)(void *ctx, const proto_msg *rec);

typedef struct list_out {
    cli_ctx *c;
    table *t;
    jsonw w;
    uint64_t now;
    uint64_t rows;      /* records seen (tasks -task ID: 0 = no such task) */
    int one;            /* tasks -task ID: each input gets a note line */
} list_out;

static int has_glob(const char *s)
{
    return strpbrk(s, "*?[") != NULL;
}

/* Sends c->p.wb and walks every record (tag) of every reply frame (type).
 * The master splits long lists over frames; MORE=1 says another follows.
 * The last frame's CURSOR (a next page exists) goes to cursor (malloc'd,
 * NULL on the last page); *n counts the records. */
static int list_loop(cli_ctx *c, uint16_t type, uint8_t tag, rec_fn fn, void *ctx,
                     char **cursor, uint64_t *n)
{
    proto_msg m;
    int rc = cli_request(c, &m);
    *cursor = NULL;
    while (rc == 0) {
        uint64_t more = 0;
        proto_field f;
        size_t it = 0;
        if (m.type != type)
            return cli_fail("unexpected %s reply (wanted %s)", proto_type_name(m.type),
                            proto_type_name(type));
        while (proto_next(&m, tag, &it, &f)) {
            proto_msg sub;
            proto_rec_open(&f, &sub);
            if ((rc = fn(ctx, &sub)) != 0)
                return rc;
            (*n)++;
        }
        proto_u64(&m, T_MORE, &more);
        if (!more) {
            /* A note on the whole answer (a degraded store: from memory). */
            char note[512];
            if (proto_str(&m, T_MESSAGE, note, sizeof note) == 0 && note[0])
                fprintf(stderr, "note: %s\n", note);
            *cursor = proto_strdup(&m, T_CURSOR);
            return 0;
        }
        rc = cli_recv(c, &m, CLI_REPLY_MS);
    }
    return rc;
}

/* The filters of a LIST_TASKS / LIST_FILES request. */
typedef struct list_filter {
    uint16_t type;
    int has_status, status;
    const char *name, *user, *id;
    int has_since, has_until;
    uint64_t since, until;
    const char *array;         /* tasks of one -array submission */
} list_filter;

#define CLI_PAGE_MAX 10000      /* the master's page bound (CATALOG_PAGE_MAX) */

/* Every page of a listing: the master pages and says where the next page
 * starts (CURSOR); this follows it until the end or until limit records
 * (0 = all) were shown. */
static int list_pages(cli_ctx *c, const list_filter *lf, uint64_t limit, uint16_t type,
                      uint8_t tag, rec_fn fn, void *ctx)
{
    char *cursor = NULL;
    uint64_t got = 0;
    int rc;
    for (int page = 0;; page++) {
        proto_buf *b = &c->p.wb;
        proto_begin(b, lf->type, 0);
        if (lf->has_status)
            proto_put_u64(b, T_STATUS, (uint64_t)lf->status);
        if (lf->name)
            proto_put_str(b, has_glob(lf->name) ? T_PATTERN : T_TASK_NAME, lf->name);
        proto_put_str(b, T_USER_ID, lf->user);
        proto_put_str(b, T_TASK_ID, lf->id);
        if (lf->array)
            proto_put_str(b, T_ARRAY_ID, lf->array);
        if (lf->has_since)
            proto_put_u64(b, T_SINCE, lf->since);
        if (lf->has_until)
            proto_put_u64(b, T_UNTIL, lf->until);
        if (limit)
            proto_put_u64(b, T_LIMIT, limit - got < CLI_PAGE_MAX ? limit - got : CLI_PAGE_MAX);
        if (cursor)
            proto_put_str(b, T_CURSOR, cursor);
        free(cursor);
        if ((rc = list_loop(c, type, tag, fn, ctx, &cursor, &got)) != 0)
            break;
        if (!cursor || (limit && got >= limit))
            break;
        if (page >= 1000000) {          /* a master that never ends the list */
            rc = cli_fail("the master's listing does not end");
            break;
        }
    }
    free(cursor);
    return rc;
}


void cli_json_task(jsonw *w, const task_rec *t)
{
    jsonw_object_begin(w);
    recjson_task_fields(w, t);
    jsonw_object_end(w);
}

/* exp: the run's expiry as the master sent it; NULL = not sent (the
 * key is then left out: an older master, or no retention). */
static void json_file(jsonw *w, const file_rec *f, const uint64_t *exp)
{
    jsonw_object_begin(w);
    recjson_file_fields(w, f, 1);
    if (exp)
        recjson_time(w, "expires_at", *exp);    /* null = never */
    jsonw_object_end(w);
}

void cli_json_file(jsonw *w, const file_rec *f)
{
    json_file(w, f, NULL);
}

void cli_json_worker(jsonw *w, const worker_rec *r)
{
    jsonw_object_begin(w);
    recjson_worker_fields(w, r);
    jsonw_object_end(w);
}

/* Starts the output: a table with these headers, or a JSON array. */
static int out_begin(list_out *o, cli_ctx *c, int ncols, const char *const *heads)
{
    memset(o, 0, sizeof *o);
    o->c = c;
    o->now = ids_now_ms();
    if (c->json) {
        jsonw_init(&o->w, stdout);
        jsonw_array_begin(&o->w);
        return 0;
    }
    if (!(o->t = table_new(ncols, heads)))
        return cli_fail("out of memory");
    return 0;
}

static int out_end(list_out *o, int rc)
{
    if (rc == 0) {
        if (o->c->json)
            jsonw_array_end(&o->w);
        else
            table_print(o->t, stdout);
        if (fflush(stdout) != 0 || ferror(stdout))
            rc = cli_fail("writing output failed");
    }
    table_free(o->t);
    cli_disconnect(o->c);
    return rc;
}

/* An empty listing for a task id that does not exist (or is not yours)
 * reads like success: ends the output (still valid JSON: []) and fails
 * with "no task ID" (exit 1). */
static int no_task(list_out *o, const char *id)
{
    if (o->c->json)
        jsonw_array_end(&o->w);
    table_free(o->t);
    cli_disconnect(o->c);
    fflush(stdout);
    return cli_fail("no task %s", id);
}

static int task_row(void *ctx, const proto_msg *rec)
{
    list_out *o = ctx;
    task_rec t;
    char buf[64];
    int rc = 0;
    if ((rc = cli_task_rec(rec, &t)) != 0)
        return rc;
    o->rows++;
    /* The scheduler's view of a queued task, when the master sent it. */
    uint64_t es = 0, ps = 0, pm = 0;
    int has_es = proto_u64(rec, T_EXPECTED_START, &es) == 0;
    int has_ps = proto_u64(rec, T_PREDICTED_S, &ps) == 0;
    int has_pm = proto_u64(rec, T_PREDICTED_MEM, &pm) == 0 && pm > 0;
    if (o->c->json) {
        jsonw_object_begin(&o->w);
        recjson_task_fields(&o->w, &t);
        if (t.status == PROTO_ST_QUEUED) {
            recjson_time(&o->w, "expected_start", has_es ? es : 0);
            jsonw_key(&o->w, "predicted_runtime_s");
            if (has_ps) jsonw_u64(&o->w, ps);
            else jsonw_null(&o->w);
            jsonw_key(&o->w, "predicted_mem_peak");
            if (has_pm) jsonw_u64(&o->w, pm);
            else jsonw_null(&o->w);
        }
        jsonw_object_end(&o->w);
        goto out;
    }
    int done = t.status == PROTO_ST_COMPLETED || t.status == PROTO_ST_FAILED;
    if (table_row(o->t) < 0) {
        rc = cli_fail("out of memory");
        goto out;
    }
    table_set(o->t, 0, t.task_id);
    table_set(o->t, 1, t.task_name);
    table_set(o->t, 2, proto_status_name((uint64_t)t.status));
    table_set(o->t, 3, t.worker_id[0] ? t.worker_id : "-");
    if (done && t.exit_code != -1)
        table_setf(o->t, 4, "%lld", (long long)t.exit_code);
    else
        table_set(o->t, 4, "-");
    ids_time_human(t.submitted_at, buf, sizeof buf);
    table_set(o->t, 5, buf);
    if (t.status == PROTO_ST_COMPLETED || t.output_files) {
        table_setf(o->t, 6, "%llu", (unsigned long long)t.output_files);
        table_fmt_size(t.output_bytes, buf, sizeof buf);
        table_set(o->t, 7, buf);
    } else {
        table_set(o->t, 6, "-");
        table_set(o->t, 7, "-");
    }
    if (t.status == PROTO_ST_QUEUED && (has_es || has_ps)) {
        char note[1400], when[64] = "", ran[96] = "", peak[32] = "";
        if (has_es) {
            ids_time_human(es, buf, sizeof buf);
            if (es > o->now) {
                char span[32];
                table_fmt_span(es - o->now, span, sizeof span);
                snprintf(when, sizeof when, "expected to start %s UTC (in %s)", buf, span);
            } else
                snprintf(when, sizeof when, "expected to start now");
        }
        if (has_pm) table_fmt_size(pm, peak, sizeof peak);
        if (has_ps)
            snprintf(ran, sizeof ran, "%ssimilar tasks ran ~%llu s%s%s", has_es ? "; " : "",
                     (unsigned long long)ps, peak[0] ? ", peak memory " : "", peak);
        snprintf(note, sizeof note, "%s%s%s%s", t.error, t.error[0] ? "; " : "", when, ran);
        table_note(o->t, note);
    } else if (t.error[0]) {
        table_note(o->t, t.error);
    }
    if (o->one && (t.cpu_s > 0 || t.mem_peak)) {
        /* what the run used, as its worker measured (the process runtime) */
        char note[128], cpu[48] = "", mem[32] = "";
        if (t.cpu_s > 0) snprintf(cpu, sizeof cpu, "%.1f s of CPU", t.cpu_s);
        if (t.mem_peak) table_fmt_size(t.mem_peak, mem, sizeof mem);
        snprintf(note, sizeof note, "used %s%s%s%s", cpu, cpu[0] && mem[0] ? ", " : "",
                 mem[0] ? "peak memory " : "", mem);
        table_note(o->t, note);
    }
    if (t.retries) {
        char note[256];
        snprintf(note, sizeof note, "attempts %llu; -retries %llu, %llu used%s",
                 (unsigned long long)t.attempts, (unsigned long long)t.retries,
                 (unsigned long long)t.retried,
                 t.retried ? " (earlier attempts' outputs: -task ID.attempt-N)" : "");
        table_note(o->t, note);
    }
    for (int i = 0; t.inputs && i < t.ninputs; i++) {
        const task_input *in = &t.inputs[i];
        char note[1600], hx[65] = "", sz[32];
        if (!o->one) {
            snprintf(note, sizeof note, "inputs: %d (tasks -task %s shows them)", t.ninputs,
                     t.task_id);
            table_note(o->t, note);
            break;
        }
        table_fmt_size(in->size, sz, sizeof sz);
        if (in->has_sha) hash_hex(in->sha256, 32, hx);
        snprintf(note, sizeof note, "input /input/%.1000s: %s %s sha256 %s (%.300s)", in->dest,
                 in->is_dir ? "dir" : "file", sz, in->has_sha ? hx : "taken when it starts",
                 in->source);
        table_note(o->t, note);
    }
    if (t.notes) {
        char *n = malloc(strlen(t.notes) + 16);
        if (n) {
            sprintf(n, "not stored: %s", t.notes);
            table_note(o->t, n);
            free(n);
        }
    }
out:
    task_rec_free(&t);
    return rc;
}

int cli_verb_tasks(cli_ctx *c, int argc, char **argv)
{
    const char *status = NULL, *name = NULL, *user = NULL, *id = NULL, *array = NULL;
    uint64_t since = 0, until = 0, limit = 0;
    int has_since = 0, has_until = 0, has_limit = 0;
    args_spec specs[] = {
        {"status", ARGS_STR, &status, NULL, "S",
         "queued|assigned|running|uploading|completed|failed|cancelled"},
        {"name", ARGS_STR, &name, NULL, "N", "task name, or a glob (\"exp-*\")"},
        {"user", ARGS_STR, &user, NULL, "U", "tasks of user U (admins only, for others)"},
        {"task", ARGS_STR, &id, NULL, "ID", "one task"},
        {"array", ARGS_STR, &array, NULL, "ARRAY_ID", "the tasks of one -array submission"},
        {"since", ARGS_TIME, &since, &has_since, "TIME",
         "submitted at/after TIME (2026-11-28, \"2026-11-28 14:00:00\", unix s, 2h, 7d)"},
        {"until", ARGS_TIME, &until, &has_until, "TIME", "submitted before TIME"},
        {"limit", ARGS_COUNT, &limit, &has_limit, "N", "at most N tasks"},
        CLI_SPEC_JSON(c), CLI_SPEC_MASTER(c), CLI_SPEC_TOKEN(c),
    };
    static const char *const heads[] = {"TASK ID", "NAME", "STATUS", "WORKER", "EXIT",
                                        "SUBMITTED", "FILES", "BYTES"};
    char *pos[CLI_POS_MAX];
    args_result r;
    list_out o;
    int st = 0;
    int rc = cli_parse(c, specs, sizeof specs / sizeof specs[0], argc, argv, pos, 0, 0, &r,
                       "tasks [flags]",
                       "Lists your tasks (an admin sees everyone's), newest first, with a\n"
                       "note under any task that failed or is still waiting, saying why.\n"
                       "Times are UTC; in --json they are unix milliseconds.");
    if (rc >= 0)
        return rc;
    if (r.dashdash)
        return cli_usage_error(c, "unexpected '--'");
    if (status && (st = proto_status_parse(status)) < 0)
        return cli_usage_error(c, "-status: unknown status '%s'", status);
    if ((rc = cli_connect(c)) != 0)
        return rc;
    list_filter lf = {PROTO_LIST_TASKS, status != NULL, st, name, user, id,
                      has_since, has_until, since, until, array};
    if ((rc = out_begin(&o, c, 8, heads)) != 0) {
        cli_disconnect(c);
        return rc;
    }
    o.one = id != NULL;
    if (o.t) {
        table_align_right(o.t, 6);
        table_align_right(o.t, 7);
    }
    rc = list_pages(c, &lf, has_limit ? limit : 0, PROTO_TASK_LIST, T_TASK, task_row, &o);
    if (rc == 0 && id && o.rows == 0)
        return no_task(&o, id);
    if (rc == 0 && array && o.rows == 0) {
        if (c->json)
            jsonw_array_end(&o.w);
        table_free(o.t);
        cli_disconnect(c);
        fflush(stdout);
        return cli_fail("no array %s", array);
    }
    return out_end(&o, rc);
}

typedef struct arr_ids { char **ids; uint64_t *idx; size_t n, cap; int oom; } arr_ids;

static int arr_row(void *ctx, const proto_msg *rec)
{
    arr_ids *a = ctx;
    task_rec t;
    int rc = cli_task_rec(rec, &t);
    if (rc != 0)
        return rc;
    if (a->n == a->cap) {
        size_t nc = a->cap ? a->cap * 2 : 64;
        char **ni = realloc(a->ids, nc * sizeof *ni);
        if (ni) a->ids = ni;
        uint64_t *nx = ni ? realloc(a->idx, nc * sizeof *nx) : NULL;
        if (nx) a->idx = nx;
        if (!ni || !nx) { task_rec_free(&t); return cli_fail("out of memory"); }
        a->cap = nc;
    }
    if (!(a->ids[a->n] = strdup(t.task_id))) { task_rec_free(&t); return cli_fail("out of memory"); }
    a->idx[a->n++] = t.array_index;
    task_rec_free(&t);
    return 0;
}

int cli_array_ids(cli_ctx *c, const char *array_id, char ***ids, size_t *n)
{
    arr_ids a = { NULL, NULL, 0, 0, 0 };
    list_filter lf = {PROTO_LIST_TASKS, 0, 0, NULL, NULL, NULL, 0, 0, 0, 0, array_id};
    int rc = list_pages(c, &lf, 0, PROTO_TASK_LIST, T_TASK, arr_row, &a);
    if (rc == 0 && !a.n) rc = cli_fail("no array %s", array_id);
    /* In index order (the listing is newest first). */
    for (size_t i = 1; rc == 0 && i < a.n; i++)
        for (size_t j = i; j > 0 && a.idx[j - 1] > a.idx[j]; j--) {
            uint64_t x = a.idx[j]; a.idx[j] = a.idx[j - 1]; a.idx[j - 1] = x;
            char *y = a.ids[j]; a.ids[j] = a.ids[j - 1]; a.ids[j - 1] = y;
        }
    free(a.idx);
    if (rc) {
        for (size_t i = 0; i < a.n; i++) free(a.ids[i]);
        free(a.ids);
        return rc;
    }
    *ids = a.ids;
    *n = a.n;
    return 0;
}

static int worker_row(void *ctx, const proto_msg *rec)
{
    list_out *o = ctx;
    worker_rec w;
    char a[32], b[32];
    memset(&w, 0, sizeof w);
    if (worker_rec_get(rec, &w) < 0)
        return cli_fail("master sent a malformed worker record");
    if (o->c->json) {
        cli_json_worker(&o->w, &w);
        return 0;
    }
    if (table_row(o->t) < 0)
        return cli_fail("out of memory");
    table_set(o->t, 0, w.worker_id);
    table_set(o->t, 1, w.state);
    table_setf(o->t, 2, "%g/%g", w.free_cpu, w.cpu);
    table_fmt_size(w.free_memory, a, sizeof a);
    table_fmt_size(w.memory, b, sizeof b);
    table_setf(o->t, 3, "%s/%s", a, b);
    table_fmt_size(w.free_storage, a, sizeof a);
    table_fmt_size(w.storage, b, sizeof b);
    table_setf(o->t, 4, "%s/%s", a, b);
    table_setf(o->t, 5, "%llu/%llu", (unsigned long long)w.free_gpu, (unsigned long long)w.gpu);
    table_setf(o->t, 6, "%llu", (unsigned long long)w.running);
    table_fmt_ago(w.last_seen, o->now, a, sizeof a);
    table_set(o->t, 7, a);
    return 0;
}

int cli_verb_workers(cli_ctx *c, int argc, char **argv)
{
    args_spec specs[] = {CLI_SPEC_JSON(c), CLI_SPEC_MASTER(c), CLI_SPEC_USER(c),
                         CLI_SPEC_TOKEN(c)};
    static const char *const heads[] = {"WORKER", "STATE", "CPU FREE/TOTAL",
                                        "MEMORY FREE/TOTAL", "STORAGE FREE/TOTAL",
                                        "GPU FREE/TOTAL", "RUNNING", "LAST SEEN"};
    char *pos[CLI_POS_MAX];
    args_result r;
    list_out o;
    int rc = cli_parse(c, specs, sizeof specs / sizeof specs[0], argc, argv, pos, 0, 0, &r,
                       "workers [flags]",
                       "Lists the workers the master knows, their state (ready, lost,\n"
                       "draining) and free/total resources.");
    if (rc >= 0)
        return rc;
    if (r.dashdash)
        return cli_usage_error(c, "unexpected '--'");
    if ((rc = cli_connect(c)) != 0)
        return rc;
    proto_begin(&c->p.wb, PROTO_LIST_WORKERS, 0);
    if ((rc = out_begin(&o, c, 8, heads)) != 0) {
        cli_disconnect(c);
        return rc;
    }
    table_align_right(o.t, 6);
    char *cursor = NULL;       /* workers come in one listing */
    uint64_t n = 0;
    rc = list_loop(c, PROTO_WORKER_LIST, T_WORKER, worker_row, &o, &cursor, &n);
    free(cursor);
    return out_end(&o, rc);
}

static int file_row(void *ctx, const proto_msg *rec)
{
    list_out *o = ctx;
    file_rec *f = calloc(1, sizeof *f);   /* 12 KiB: keep it off the stack */
    char buf[65];
    int rc = 0;
    if (!f)
        return cli_fail("out of memory");
    uint64_t exp = 0;
    int has_exp = proto_u64(rec, T_EXPIRES_AT, &exp) == 0;
    if (file_rec_get(rec, f) < 0) {
        rc = cli_fail("master sent a malformed file record");
        goto out;
    }
    o->rows++;
    if (o->c->json) {
        json_file(&o->w, f, has_exp ? &exp : NULL);
        goto out;
    }
    if (table_row(o->t) < 0) {
        rc = cli_fail("out of memory");
        goto out;
    }
    table_set(o->t, 0, f->task_id);
    table_set(o->t, 1, f->task_name);
    table_set(o->t, 2, f->file_name);
    table_fmt_size(f->file_size, buf, sizeof buf);
    table_set(o->t, 3, buf);
    hash_hex(f->sha256, 6, buf);
    table_set(o->t, 4, buf);
    ids_time_human(f->stored_at, buf, sizeof buf);
    table_set(o->t, 5, buf);
    if (!has_exp) {
        table_set(o->t, 6, "-");
    } else if (!exp) {
        table_set(o->t, 6, "never");
    } else if (exp <= o->now) {
        table_set(o->t, 6, "due now");      /* the next sweep removes it */
    } else {
        ids_time_human(exp, buf, sizeof buf);
        table_set(o->t, 6, buf);
    }
out:
    free(f);
    return rc;
}

/* The newest finished run of a name: finished runs are the ones with
 * files; the newest is the latest submission (ties: the larger id, as
 * ids sort by time). */

static int pick_latest(void *ctx, const proto_msg *rec)
{
    latest_pick *l = ctx;
    task_rec t;
    int rc = cli_task_rec(rec, &t);
    if (rc != 0)
        return rc;
    if ((l->any || t.status == PROTO_ST_COMPLETED || t.status == PROTO_ST_FAILED ||
         t.status == PROTO_ST_CANCELLED) &&
        (!l->found || t.submitted_at > l->submitted_at ||
         (t.submitted_at == l->submitted_at && strcmp(t.task_id, l->task_id) > 0))) {
        snprintf(l->task_id, sizeof l->task_id, "%s", t.task_id);
        l->submitted_at = t.submitted_at;
        l->found = 1;
    }
    task_rec_free(&t);
    return 0;
}

static int find_named(cli_ctx *c, const char *name, const char *user, latest_pick *l, int any)
{
    int rc;
    list_filter lf = {PROTO_LIST_TASKS, 0, 0, NULL, user, NULL, 0, 0, 0, 0, NULL};
    memset(l, 0, sizeof *l);
    l->any = any;
    /* Exact name (a glob in it is refused by the caller): sent as TASK_NAME. */
    lf.name = name;
    if ((rc = list_pages(c, &lf, 0, PROTO_TASK_LIST, T_TASK, pick_latest, l)) != 0)
        return rc;
    if (!l->found)
        return cli_fail("no %srun named '%s'%s%s", any ? "" : "finished ", name,
                        user ? " of user " : "", user ? user : "");
    return 0;
}

int cli_find_latest(cli_ctx *c, const char *name, const char *user, latest_pick *l)
{
    return find_named(c, name, user, l, 0);
}

int cli_named_run(cli_ctx *c, const char *flag, const char *name, int any, latest_pick *l)
{
    int rc;
    if (!*name || strpbrk(name, "*?["))
        return cli_usage_error(c, "-%s takes a task name, not a glob", flag);
    if ((rc = cli_connect(c)) != 0)
        return rc;
    rc = find_named(c, name, NULL, l, any);
    cli_disconnect(c);      /* the verb dials its own */
    if (rc == 0)
        fprintf(stderr, "cloudai: %s is the newest %srun named '%s'\n", l->task_id,
                any ? "" : "finished ", name);
    return rc;
}

/* The ids of a name's runs that have not ended (cancel -name). */
typedef struct open_runs {
    char (*id)[64];
    size_t n, cap;
} open_runs;

static int pick_open(void *ctx, const proto_msg *rec)
{
    open_runs *o = ctx;
    task_rec t;
    int rc = cli_task_rec(rec, &t);
    if (rc != 0)
        return rc;
    if (t.status < PROTO_ST_COMPLETED) {
        if (o->n == o->cap) {
            size_t cap = o->cap ? 2 * o->cap : 16;
            char (*v)[64] = realloc(o->id, cap * sizeof *v);
            if (!v) {
                task_rec_free(&t);
                return cli_fail("out of memory");
            }
            o->id = v;
            o->cap = cap;
        }
        snprintf(o->id[o->n++], 64, "%s", t.task_id);
    }
    task_rec_free(&t);
    return 0;
}

int cli_open_runs(cli_ctx *c, const char *name, char (**ids)[64], size_t *n)
{
    open_runs o = { NULL, 0, 0 };
    list_filter lf = {PROTO_LIST_TASKS, 0, 0, name, c->user, NULL, 0, 0, 0, 0, NULL};
    int rc = list_pages(c, &lf, 0, PROTO_TASK_LIST, T_TASK, pick_open, &o);
    if (rc != 0) {
        free(o.id);
        return rc;
    }
    *ids = o.id;
    *n = o.n;
    return 0;
}

static int count_row(void *ctx, const proto_msg *rec)
{
    (void)rec;
    (*(size_t *)ctx)++;
    return 0;
}

int cli_verb_files(cli_ctx *c, int argc, char **argv)
{
    const char *id = NULL, *name = NULL, *user = NULL, *latest = NULL;
    uint64_t since = 0, until = 0, limit = 0;
    int has_since = 0, has_until = 0, has_limit = 0;
    args_spec specs[] = {
        {"task", ARGS_STR, &id, NULL, "ID", "files of one task"},
        {"name", ARGS_STR, &name, NULL, "N", "files of tasks named N, or a glob (\"exp-*\")"},
        {"latest", ARGS_STR, &latest, NULL, "N", "files of the newest finished run named N"},
        {"user", ARGS_STR, &user, NULL, "U", "files of user U (admins only, for others)"},
        {"since", ARGS_TIME, &since, &has_since, "TIME", "tasks submitted at/after TIME"},
        {"until", ARGS_TIME, &until, &has_until, "TIME", "tasks submitted before TIME"},
        {"limit", ARGS_COUNT, &limit, &has_limit, "N", "at most N files"},
        CLI_SPEC_JSON(c), CLI_SPEC_MASTER(c), CLI_SPEC_TOKEN(c),
    };
    static const char *const heads[] = {"TASK ID", "NAME", "FILE", "SIZE", "SHA256", "STORED",
                                        "EXPIRES"};
    latest_pick lp;
    char *pos[CLI_POS_MAX];
    args_result r;
    list_out o;
    int rc = cli_parse(c, specs, sizeof specs / sizeof specs[0], argc, argv, pos, 0, 0, &r,
                       "files [-task ID | -name N] [flags]",
                       "Lists stored output files (path relative to the task directory).\n"
                       "SHA256 shows the first 12 hex digits; --json has all of it.\n"
                       "EXPIRES is when retention removes the run (UTC): \"never\" when it is\n"
                       "pinned or no age rule applies, \"-\" when the master does not say.\n"
                       "Download them with `cloudai get TASK_ID [-path P]`.");
    if (rc >= 0)
        return rc;
    if (r.dashdash)
        return cli_usage_error(c, "unexpected '--'");
    if ((id != NULL) + (name != NULL) + (latest != NULL) > 1)
        return cli_usage_error(c, "give one of -task, -name and -latest");
    if (latest && (!*latest || has_glob(latest)))
        return cli_usage_error(c, "-latest takes a task name, not a glob");
    if ((rc = cli_connect(c)) != 0)
        return rc;
    if (latest) {
        if ((rc = cli_find_latest(c, latest, user, &lp)) != 0) {
            cli_disconnect(c);
            return rc;
        }
        id = lp.task_id;
    }
    list_filter lf = {PROTO_LIST_FILES, 0, 0, name, user, id, has_since, has_until, since, until, NULL};
    if ((rc = out_begin(&o, c, 7, heads)) != 0) {
        cli_disconnect(c);
        return rc;
    }
    if (o.t)
        table_align_right(o.t, 3);
    rc = list_pages(c, &lf, has_limit ? limit : 0, PROTO_FILE_LIST, T_FILE, file_row, &o);
    /* No files for an id: a task without outputs lists nothing (exit 0),
     * an id that names no task of yours is an error, as in `tasks -task`. */
    if (rc == 0 && id && !latest && o.rows == 0) {
        size_t n = 0;
        list_filter tf = {PROTO_LIST_TASKS, 0, 0, NULL, user, id, 0, 0, 0, 0, NULL};
        rc = list_pages(c, &tf, 1, PROTO_TASK_LIST, T_TASK, count_row, &n);
        if (rc == 0 && n == 0)
            return no_task(&o, id);
    }
    return out_end(&o, rc);
}
