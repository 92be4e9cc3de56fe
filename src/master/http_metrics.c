/* http_metrics.c — GET /metrics in the Prometheus text format (0.0.4).
 * Task counts, queue length, uploads in flight and the task latency
 * histogram come from the task records at scrape time (the store is the
 * truth, and a restarted master reports the same numbers); bytes received
 * and upload latency are counted by upload.c as uploads happen
 * (upload_stats_get), since the master started. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include "http_int.h"
#include "http_metrics.h"
#include "compress.h"
#include "instore.h"
#include "objstore.h"
#include "upload.h"

#define buckets_s upload_lat_bounds_s
#define NB UPLOAD_LAT_NB

static instore *_Atomic the_instore;

void http_metrics_set_instore(struct instore *ins)
{
    atomic_store(&the_instore, ins);
}

typedef struct scrape {
    uint64_t by_status[8];
    uint64_t hist[NB + 1], count, ms_sum, stored_bytes;
} scrape;

static int count_task(void *ctx, const task_rec *t)
{
    scrape *s = ctx;
    if (t->status >= 1 && t->status <= 7) s->by_status[t->status]++;
    s->stored_bytes += t->output_bytes;
    if (t->completed_at && t->submitted_at && t->completed_at >= t->submitted_at &&
        t->status >= PROTO_ST_COMPLETED) {
        uint64_t ms = t->completed_at - t->submitted_at;
        size_t i = 0;
        while (i < NB && (double)ms / 1000.0 > buckets_s[i]) i++;
        s->hist[i]++;
        s->count++;
        s->ms_sum += ms;
    }
    return 0;
}

static void histogram(FILE *f, const char *name, const char *help, const uint64_t *h,
                      uint64_t count, uint64_t ms_sum)
{
    uint64_t cum = 0;
    fprintf(f, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    for (size_t i = 0; i < NB; i++) {
        cum += h[i];
        fprintf(f, "%s_bucket{le=\"%g\"} %llu\n", name, buckets_s[i], (unsigned long long)cum);
    }
    fprintf(f, "%s_bucket{le=\"+Inf\"} %llu\n", name, (unsigned long long)count);
    fprintf(f, "%s_sum %.3f\n%s_count %llu\n", name, ms_sum / 1000.0, name,
            (unsigned long long)count);
}

typedef struct worker_rows {
    worker_rec *w;
    size_t n, cap;
} worker_rows;

static int add_worker(void *ctx, const worker_rec *w)
{
    worker_rows *rows = ctx;
    if (rows->n == rows->cap) {
        size_t cap = rows->cap ? rows->cap * 2 : 16;
        worker_rec *nw = realloc(rows->w, cap * sizeof *nw);
        if (!nw) return 1;     /* a partial list beats none */
        rows->w = nw;
        rows->cap = cap;
    }
    rows->w[rows->n++] = *w;
    return 0;
}

/* A label value: backslash, quote and newline escaped (text format 0.0.4). */
static void label(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\' || *s == '"') fputc('\\', f);
        if (*s == '\n') { fputs("\\n", f); continue; }
        fputc(*s, f);
    }
}

enum wfield { WF_CPU, WF_FREE_CPU, WF_MEM, WF_FREE_MEM, WF_STO, WF_FREE_STO, WF_GPU,
              WF_FREE_GPU, WF_RUNNING, WF_LAST_SEEN, WF_READY };

static double wvalue(const worker_rec *w, enum wfield k)
{
    switch (k) {
    case WF_CPU: return w->cpu;
    case WF_FREE_CPU: return w->free_cpu;
    case WF_MEM: return (double)w->memory;
    case WF_FREE_MEM: return (double)w->free_memory;
    case WF_STO: return (double)w->storage;
    case WF_FREE_STO: return (double)w->free_storage;
    case WF_GPU: return (double)w->gpu;
    case WF_FREE_GPU: return (double)w->free_gpu;
    case WF_RUNNING: return (double)w->running;
    case WF_LAST_SEEN: return (double)w->last_seen / 1000.0;
    case WF_READY: return strcmp(w->state, "ready") == 0;
    }
    return 0;
}

/* One gauge per worker and resource, from the master's memory (workers
 * are not in the store's task records). */
static void worker_gauges(FILE *f, const worker_rows *rows)
{
    static const struct { enum wfield k; const char *name, *help; } g[] = {
        { WF_CPU, "cloudai_worker_cpu_total", "CPUs a worker offers." },
        { WF_FREE_CPU, "cloudai_worker_cpu_free", "CPUs of a worker not reserved by tasks." },
        { WF_MEM, "cloudai_worker_memory_bytes_total", "Memory a worker offers." },
        { WF_FREE_MEM, "cloudai_worker_memory_bytes_free", "Memory of a worker not reserved." },
        { WF_STO, "cloudai_worker_storage_bytes_total", "Output storage a worker offers." },
        { WF_FREE_STO, "cloudai_worker_storage_bytes_free", "Output storage of a worker not reserved." },
        { WF_GPU, "cloudai_worker_gpu_total", "GPUs a worker offers." },
        { WF_FREE_GPU, "cloudai_worker_gpu_free", "GPUs of a worker not reserved." },
        { WF_RUNNING, "cloudai_worker_running_tasks", "Tasks running on a worker." },
        { WF_LAST_SEEN, "cloudai_worker_last_seen_timestamp_seconds",
          "Unix time of a worker's last heartbeat." },
        { WF_READY, "cloudai_worker_ready", "1 if a worker is ready, 0 if lost or draining." },
    };
    for (size_t i = 0; i < sizeof g / sizeof g[0]; i++) {
        fprintf(f, "# HELP %s %s\n# TYPE %s gauge\n", g[i].name, g[i].help, g[i].name);
        for (size_t j = 0; j < rows->n; j++) {
            fprintf(f, "%s{worker=\"", g[i].name);
            label(f, rows->w[j].worker_id);
            fprintf(f, "\",state=\"");
            label(f, rows->w[j].state);
            fprintf(f, "\"} %.15g\n", wvalue(&rows->w[j], g[i].k));
        }
    }
}

enum MHD_Result http_metrics(http_req *r)
{
    worker_rows rows = {NULL, 0, 0};
    scrape s;
    char *buf = NULL;
    size_t len = 0;
    meta_query q = {0};
    memset(&s, 0, sizeof s);
    if (meta_tasks_find(r->h->m, &q, count_task, &s) < 0)
        return http_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "metadata store unavailable");
    FILE *f = open_memstream(&buf, &len);
    if (!f) return MHD_NO;
    fprintf(f, "# HELP cloudai_tasks Tasks by status.\n# TYPE cloudai_tasks gauge\n");
    for (int st = 1; st <= 7; st++)
        fprintf(f, "cloudai_tasks{status=\"%s\"} %llu\n", proto_status_name((uint64_t)st),
                (unsigned long long)s.by_status[st]);
    fprintf(f, "# HELP cloudai_queue_length Tasks waiting for a worker.\n"
               "# TYPE cloudai_queue_length gauge\ncloudai_queue_length %llu\n",
            (unsigned long long)s.by_status[PROTO_ST_QUEUED]);
    fprintf(f, "# HELP cloudai_uploads_in_flight Tasks whose output is being uploaded.\n"
               "# TYPE cloudai_uploads_in_flight gauge\ncloudai_uploads_in_flight %llu\n",
            (unsigned long long)s.by_status[PROTO_ST_UPLOADING]);
    upload_stats us;
    upload_stats_get(&us);
    fprintf(f, "# HELP cloudai_upload_bytes_received_total Upload bytes received since start "
               "(as sent, compressed).\n# TYPE cloudai_upload_bytes_received_total counter\n"
               "cloudai_upload_bytes_received_total %llu\n",
            (unsigned long long)us.bytes);
    instore *ins = atomic_load(&the_instore);
    if (ins) {
        instore_stats is;
        instore_get_stats(ins, &is);
        fprintf(f, "# HELP cloudai_input_bytes_received_total Input bytes written into the "
                   "input store since start (uncompressed).\n"
                   "# TYPE cloudai_input_bytes_received_total counter\n"
                   "cloudai_input_bytes_received_total %llu\n"
                   "# HELP cloudai_inputs_stored_total Inputs added to the store since start.\n"
                   "# TYPE cloudai_inputs_stored_total counter\ncloudai_inputs_stored_total %llu\n"
                   "# HELP cloudai_inputs_deduplicated_total Inputs a client did not send "
                   "because the store held them.\n"
                   "# TYPE cloudai_inputs_deduplicated_total counter\n"
                   "cloudai_inputs_deduplicated_total %llu\n",
                (unsigned long long)is.bytes_received, (unsigned long long)is.blobs_added,
                (unsigned long long)is.blobs_deduped);
    }
    compress_stats cs;
    compress_last(&cs);
    fprintf(f, "# HELP cloudai_compress_saved_bytes Disk bytes saved by packed files (original "
               "minus packed size), as of the last retention sweep.\n"
               "# TYPE cloudai_compress_saved_bytes gauge\ncloudai_compress_saved_bytes %llu\n"
               "# HELP cloudai_compress_files Packed files on the disk, as of the last sweep.\n"
               "# TYPE cloudai_compress_files gauge\ncloudai_compress_files %llu\n"
               "# HELP cloudai_compress_original_bytes Original bytes of the packed files.\n"
               "# TYPE cloudai_compress_original_bytes gauge\ncloudai_compress_original_bytes %llu\n"
               "# HELP cloudai_compress_stored_bytes Bytes the packed files take on the disk.\n"
               "# TYPE cloudai_compress_stored_bytes gauge\ncloudai_compress_stored_bytes %llu\n",
            (unsigned long long)(cs.bytes_original > cs.bytes_stored
                                     ? cs.bytes_original - cs.bytes_stored : 0),
            (unsigned long long)cs.files_packed, (unsigned long long)cs.bytes_original,
            (unsigned long long)cs.bytes_stored);
    if (objstore_s3()) {
        s3_stats ss;
        s3_get_stats(objstore_s3(), &ss);
        fprintf(f, "# HELP cloudai_s3_requests_total Requests sent to the object store (each "
                   "attempt).\n# TYPE cloudai_s3_requests_total counter\ncloudai_s3_requests_total %llu\n"
                   "# HELP cloudai_s3_retries_total Object store requests that were retries.\n"
                   "# TYPE cloudai_s3_retries_total counter\ncloudai_s3_retries_total %llu\n"
                   "# HELP cloudai_s3_failures_total Object store operations that failed after "
                   "their retries.\n# TYPE cloudai_s3_failures_total counter\n"
                   "cloudai_s3_failures_total %llu\n"
                   "# HELP cloudai_s3_bytes_sent_total Body bytes sent to the object store.\n"
                   "# TYPE cloudai_s3_bytes_sent_total counter\ncloudai_s3_bytes_sent_total %llu\n"
                   "# HELP cloudai_s3_bytes_received_total Body bytes read from the object store.\n"
                   "# TYPE cloudai_s3_bytes_received_total counter\n"
                   "cloudai_s3_bytes_received_total %llu\n",
                (unsigned long long)ss.requests, (unsigned long long)ss.retries,
                (unsigned long long)ss.failures, (unsigned long long)ss.bytes_sent,
                (unsigned long long)ss.bytes_received);
    }
    fprintf(f, "# HELP cloudai_stored_bytes Output bytes in the store.\n"
               "# TYPE cloudai_stored_bytes gauge\ncloudai_stored_bytes %llu\n",
            (unsigned long long)s.stored_bytes);
    histogram(f, "cloudai_upload_duration_seconds", "Upload time of stored outputs since start.",
              us.hist, us.count, us.ms_sum);
    histogram(f, "cloudai_task_duration_seconds",
              "Submission to final status of finished tasks.", s.hist, s.count, s.ms_sum);
    cluster_workers(r->h->cl, add_worker, &rows);
    worker_gauges(f, &rows);
    free(rows.w);
    fclose(f);
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, buf, MHD_RESPMEM_MUST_FREE);
    if (!resp) { free(buf); return MHD_NO; }
    MHD_add_response_header(resp, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
    return http_queue(r, MHD_HTTP_OK, resp);
}
