/* cli_status.c — `cloudai status`: one GET_STATUS, one CLUSTER_STATUS
 * reply, printed as a short summary (or one JSON object): workers by
 * state and their pooled resources, the queue, finished tasks, the store's
 * use and free space, and any degraded backend. Admins only. */
#include <stdlib.h>
#include <string.h>
#include "cli_int.h"
#include "ids.h"
#include "table.h"

#define STATUS_WORKERS 2048

typedef struct status_view {
    worker_rec *w;
    size_t nw;
    uint64_t count[PROTO_ST_MAX + 1];
    uint64_t store_bytes, fs_size, fs_free;
    char backend[33];
    const char *degraded[8];
    char degraded_buf[8][4097];
    int ndegraded;
} status_view;

static int read_reply(const proto_msg *m, status_view *v)
{
    proto_field f;
    size_t it = 0;
    int st = 1;
    while (proto_next(m, T_WORKER, &it, &f) && v->nw < STATUS_WORKERS) {
        proto_msg sub;
        proto_rec_open(&f, &sub);
        memset(&v->w[v->nw], 0, sizeof v->w[0]);
        if (worker_rec_get(&sub, &v->w[v->nw]) < 0)
            return cli_fail("master sent a malformed worker record");
        v->nw++;
    }
    it = 0;
    while (proto_next(m, T_COUNT, &it, &f) && st <= PROTO_ST_MAX)
        v->count[st++] = proto_field_u64(&f);
    proto_u64(m, T_STORE_BYTES, &v->store_bytes);
    proto_u64(m, T_STORAGE, &v->fs_size);
    proto_u64(m, T_FREE_STORAGE, &v->fs_free);
    proto_str(m, T_BACKEND, v->backend, sizeof v->backend);
    it = 0;
    while (proto_next(m, T_DEGRADED, &it, &f) && v->ndegraded < 8) {
        proto_field_str(&f, v->degraded_buf[v->ndegraded], sizeof v->degraded_buf[0]);
        v->degraded[v->ndegraded] = v->degraded_buf[v->ndegraded];
        v->ndegraded++;
    }
    return 0;
}

static void print_json(const status_view *v)
{
    jsonw w;
    jsonw_init(&w, stdout);
    jsonw_object_begin(&w);
    jsonw_key(&w, "workers");
    jsonw_array_begin(&w);
    for (size_t i = 0; i < v->nw; i++)
        cli_json_worker(&w, &v->w[i]);
    jsonw_array_end(&w);
    jsonw_key(&w, "tasks");
    jsonw_object_begin(&w);
    for (int st = 1; st <= PROTO_ST_MAX; st++) {
        jsonw_key(&w, proto_status_name((uint64_t)st));
        jsonw_u64(&w, v->count[st]);
    }
    jsonw_object_end(&w);
    jsonw_key(&w, "queue_length"); jsonw_u64(&w, v->count[PROTO_ST_QUEUED]);
    jsonw_key(&w, "store_bytes"); jsonw_u64(&w, v->store_bytes);
    jsonw_key(&w, "store_fs_size"); jsonw_u64(&w, v->fs_size);
    jsonw_key(&w, "store_fs_free"); jsonw_u64(&w, v->fs_free);
    jsonw_key(&w, "metadata_backend"); jsonw_str(&w, v->backend);
    jsonw_key(&w, "degraded");
    jsonw_array_begin(&w);
    for (int i = 0; i < v->ndegraded; i++)
        jsonw_str(&w, v->degraded[i]);
    jsonw_array_end(&w);
    jsonw_object_end(&w);
    fputc('\n', stdout);
}

static void print_text(const status_view *v)
{
    size_t ready = 0, lost = 0, other = 0;
    double cpu = 0, fcpu = 0;
    uint64_t mem = 0, fmem = 0, gpu = 0, fgpu = 0, running = 0;
    char a[32], b[32], c[32];
    for (size_t i = 0; i < v->nw; i++) {
        const worker_rec *w = &v->w[i];
        if (!strcmp(w->state, "ready")) ready++;
        else if (!strcmp(w->state, "lost")) lost++;
        else other++;
        if (strcmp(w->state, "ready")) continue;   /* pooled resources: usable workers only */
        cpu += w->cpu; fcpu += w->free_cpu;
        mem += w->memory; fmem += w->free_memory;
        gpu += w->gpu; fgpu += w->free_gpu;
        running += w->running;
    }
    printf("workers   %zu ready, %zu lost", ready, lost);
    if (other) printf(", %zu draining", other);
    table_fmt_size(fmem, a, sizeof a);
    table_fmt_size(mem, b, sizeof b);
    printf("; free on ready workers: cpu %g/%g, memory %s/%s, gpu %llu/%llu; %llu running\n",
           fcpu, cpu, a, b, (unsigned long long)fgpu, (unsigned long long)gpu,
           (unsigned long long)running);
    printf("queue     %llu queued, %llu assigned, %llu running, %llu uploading\n",
           (unsigned long long)v->count[PROTO_ST_QUEUED], (unsigned long long)v->count[PROTO_ST_ASSIGNED],
           (unsigned long long)v->count[PROTO_ST_RUNNING], (unsigned long long)v->count[PROTO_ST_UPLOADING]);
    printf("finished  %llu completed, %llu failed, %llu cancelled\n",
           (unsigned long long)v->count[PROTO_ST_COMPLETED], (unsigned long long)v->count[PROTO_ST_FAILED],
           (unsigned long long)v->count[PROTO_ST_CANCELLED]);
    table_fmt_size(v->store_bytes, a, sizeof a);
    table_fmt_size(v->fs_free, b, sizeof b);
    table_fmt_size(v->fs_size, c, sizeof c);
    printf("store     %s of outputs; %s free of %s; metadata: %s\n", a, b, c,
           v->backend[0] ? v->backend : "?");
    if (!v->ndegraded)
        printf("backends  all working\n");
    for (int i = 0; i < v->ndegraded; i++)
        printf("DEGRADED  %s\n", v->degraded[i]);
    uint64_t now = ids_now_ms();
    for (size_t i = 0; i < v->nw; i++) {
        if (!strcmp(v->w[i].state, "ready")) continue;
        table_fmt_ago(v->w[i].last_seen, now, a, sizeof a);
        printf("worker    %s is %s (last seen %s)\n", v->w[i].worker_id, v->w[i].state, a);
    }
}

int cli_verb_status(cli_ctx *c, int argc, char **argv)
{
    args_spec specs[] = {CLI_SPEC_JSON(c), CLI_SPEC_MASTER(c), CLI_SPEC_USER(c),
                         CLI_SPEC_TOKEN(c)};
    char *pos[CLI_POS_MAX];
    args_result r;
    proto_msg m;
    status_view *v = NULL;
    int rc = cli_parse(c, specs, sizeof specs / sizeof specs[0], argc, argv, pos, 0, 0, &r,
                       "status [flags]",
                       "Summarises the cluster: workers by state and their free resources,\n"
                       "the queue, finished tasks, the store's use and free space, and any\n"
                       "degraded backend (metadata store not answering, file store not\n"
                       "writable). Lost workers are named. Admins only.");
    if (rc >= 0)
        return rc;
    if (r.dashdash)
        return cli_usage_error(c, "unexpected '--'");
    if (!(v = calloc(1, sizeof *v)) || !(v->w = calloc(STATUS_WORKERS, sizeof *v->w))) {
        rc = cli_fail("out of memory");
        goto out;
    }
    if ((rc = cli_connect(c)) != 0)
        goto out;
    proto_begin(&c->p.wb, PROTO_GET_STATUS, 0);
    if ((rc = cli_request(c, &m)) != 0)
        goto out;
    if (m.type != PROTO_CLUSTER_STATUS) {
        rc = cli_fail("unexpected %s reply (wanted CLUSTER_STATUS)", proto_type_name(m.type));
        goto out;
    }
    if ((rc = read_reply(&m, v)) != 0)
        goto out;
    if (c->json)
        print_json(v);
    else
        print_text(v);
    if (fflush(stdout) != 0 || ferror(stdout))
        rc = cli_fail("writing output failed");
out:
    cli_disconnect(c);
    if (v) free(v->w);
    free(v);
    return rc;
}
