/* recjson.c — metadata records as JSON fields (recjson.h). */
#include <stdio.h>
#include "hash.h"
#include "proto.h"
#include "recjson.h"

void recjson_time(jsonw *w, const char *key, uint64_t ms)
{
    jsonw_key(w, key);
    if (ms)
        jsonw_u64(w, ms);
    else
        jsonw_null(w);
}

void recjson_task_fields(jsonw *w, const task_rec *t)
{
    jsonw_key(w, "task_id"); jsonw_str(w, t->task_id);
    jsonw_key(w, "user_id"); jsonw_str(w, t->user_id);
    jsonw_key(w, "task_name"); jsonw_str(w, t->task_name);
    recjson_time(w, "submitted_at", t->submitted_at);
    jsonw_key(w, "docker_image"); jsonw_str(w, t->docker_image);
    jsonw_key(w, "command"); jsonw_str(w, t->command);
    jsonw_key(w, "argv");
    if (t->argv) {
        jsonw_array_begin(w);
        for (int i = 0; i < t->argc && t->argv[i]; i++)
            jsonw_str(w, t->argv[i]);
        jsonw_array_end(w);
    } else {
        jsonw_null(w);
    }
    jsonw_key(w, "req_cpu"); jsonw_f64(w, t->req_cpu);
    jsonw_key(w, "req_memory"); jsonw_u64(w, t->req_memory);
    jsonw_key(w, "req_storage"); jsonw_u64(w, t->req_storage);
    jsonw_key(w, "req_gpu"); jsonw_u64(w, t->req_gpu);
    jsonw_key(w, "status"); jsonw_str(w, proto_status_name((uint64_t)t->status));
    jsonw_key(w, "worker_id"); jsonw_str(w, t->worker_id[0] ? t->worker_id : NULL);
    jsonw_key(w, "exit_code");
    if (t->exit_code == -1)
        jsonw_null(w);     /* not known yet */
    else
        jsonw_i64(w, t->exit_code);
    jsonw_key(w, "error"); jsonw_str(w, t->error);
    jsonw_key(w, "attempts"); jsonw_u64(w, t->attempts);
    recjson_time(w, "created_at", t->created_at);
    recjson_time(w, "started_at", t->started_at);
    recjson_time(w, "completed_at", t->completed_at);
    jsonw_key(w, "output_files"); jsonw_u64(w, t->output_files);
    jsonw_key(w, "output_bytes"); jsonw_u64(w, t->output_bytes);
    jsonw_key(w, "timeout_s"); jsonw_u64(w, t->timeout_s);
    jsonw_key(w, "notes"); jsonw_str(w, t->notes);
    jsonw_key(w, "priority"); jsonw_i64(w, t->priority);
    jsonw_key(w, "env");
    if (t->env) {
        jsonw_array_begin(w);
        for (int i = 0; i < t->envc && t->env[i]; i++)
            jsonw_str(w, t->env[i]);
        jsonw_array_end(w);
    } else {
        jsonw_null(w);
    }
    jsonw_key(w, "after"); jsonw_str(w, t->after);
    jsonw_key(w, "after_any"); jsonw_str(w, t->after_any);
    jsonw_key(w, "retries"); jsonw_u64(w, t->retries);
    jsonw_key(w, "retried"); jsonw_u64(w, t->retried);
    jsonw_key(w, "array_id"); jsonw_str(w, t->array_id[0] ? t->array_id : NULL);
    jsonw_key(w, "array_index"); jsonw_u64(w, t->array_index);
    jsonw_key(w, "array_parallel"); jsonw_u64(w, t->array_parallel);
    jsonw_key(w, "retry_at"); jsonw_u64(w, t->retry_at);
    /* What the run used, as its worker measured (null: unknown). */
    jsonw_key(w, "cpu_s");
    if (t->cpu_s > 0) jsonw_f64(w, t->cpu_s); else jsonw_null(w);
    jsonw_key(w, "mem_peak");
    if (t->mem_peak) jsonw_u64(w, t->mem_peak); else jsonw_null(w);
    /* Provenance: what the task read, by content. */
    jsonw_key(w, "inputs");
    jsonw_array_begin(w);
    for (int i = 0; t->inputs && i < t->ninputs; i++) {
        const task_input *in = &t->inputs[i];
        char hx[65] = "";
        if (in->has_sha) hash_hex(in->sha256, 32, hx);
        jsonw_object_begin(w);
        jsonw_key(w, "dest"); jsonw_str(w, in->dest);
        char path[1040];
        snprintf(path, sizeof path, "/input/%s", in->dest);
        jsonw_key(w, "path"); jsonw_str(w, path);
        jsonw_key(w, "sha256");                  /* null: bound when the task starts */
        if (in->has_sha) jsonw_str(w, hx); else jsonw_null(w);
        jsonw_key(w, "size"); jsonw_u64(w, in->size);
        jsonw_key(w, "kind"); jsonw_str(w, in->is_dir ? "dir" : "file");
        jsonw_key(w, "source"); jsonw_str(w, in->source);
        jsonw_object_end(w);
    }
    jsonw_array_end(w);
}

void recjson_file_fields(jsonw *w, const file_rec *f, int with_path)
{
    char hex[65];
    hash_hex(f->sha256, sizeof f->sha256, hex);
    jsonw_key(w, "task_id"); jsonw_str(w, f->task_id);
    jsonw_key(w, "task_name"); jsonw_str(w, f->task_name);
    jsonw_key(w, "user_id"); jsonw_str(w, f->user_id);
    recjson_time(w, "submitted_at", f->submitted_at);
    jsonw_key(w, "file_name"); jsonw_str(w, f->file_name);
    if (with_path) {
        jsonw_key(w, "file_path"); jsonw_str(w, f->file_path);
    }
    jsonw_key(w, "file_size"); jsonw_u64(w, f->file_size);
    jsonw_key(w, "sha256"); jsonw_str(w, hex);
    jsonw_key(w, "mode"); jsonw_u64(w, f->mode);
    recjson_time(w, "stored_at", f->stored_at);
}

/* WORKERS' resources (DESIGN.md) are one nested object: totals and what
 * is free now. */
void recjson_worker_fields(jsonw *w, const worker_rec *r)
{
    jsonw_key(w, "worker_id"); jsonw_str(w, r->worker_id);
    jsonw_key(w, "address"); jsonw_str(w, r->address);
    jsonw_key(w, "resources");
    jsonw_object_begin(w);
    jsonw_key(w, "cpu"); jsonw_f64(w, r->cpu);
    jsonw_key(w, "memory"); jsonw_u64(w, r->memory);
    jsonw_key(w, "storage"); jsonw_u64(w, r->storage);
    jsonw_key(w, "gpu"); jsonw_u64(w, r->gpu);
    jsonw_key(w, "free_cpu"); jsonw_f64(w, r->free_cpu);
    jsonw_key(w, "free_memory"); jsonw_u64(w, r->free_memory);
    jsonw_key(w, "free_storage"); jsonw_u64(w, r->free_storage);
    jsonw_key(w, "free_gpu"); jsonw_u64(w, r->free_gpu);
    jsonw_object_end(w);
    recjson_time(w, "last_seen", r->last_seen);
    jsonw_key(w, "state"); jsonw_str(w, r->state);
    jsonw_key(w, "running"); jsonw_u64(w, r->running);
}
