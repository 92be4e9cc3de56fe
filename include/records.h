/* records.h — the metadata documents of DESIGN.md as C structs (TASKS,
 * FILE_METADATA, WORKERS), shared by the master's stores, the wire codec
 * and the client. Field names follow the seed design. Strings are fixed
 * arrays so a record is plain data (copyable with =), except the command
 * the argv and the notes, which are malloc'd and owned by the record:
 * task_rec_free releases them, task_rec_copy deep-copies. */
#ifndef CLOUDAI_RECORDS_H
#define CLOUDAI_RECORDS_H
#include <stdint.h>
#include "proto.h"

typedef struct task_rec {
    char task_id[64];
    char user_id[64];
    char task_name[128];
    uint64_t submitted_at;      /* ms */
    char docker_image[256];
    char *command;              /* shell command or NULL */
    char **argv;                /* exact argv (NULL-terminated) or NULL */
    int argc;
    double req_cpu;
    uint64_t req_memory, req_storage, req_gpu;
    int status;                 /* enum proto_status */
    char worker_id[64];         /* assigned / last worker; "" if none */
    char want_worker[64];       /* DISPATCH target; "" = scheduler decides */
    int64_t exit_code;          /* -1 until known */
    char error[1024];           /* why failed / why still queued */
    uint64_t attempts;
    uint64_t created_at, started_at, completed_at;  /* ms, 0 = not yet */
    uint64_t output_files, output_bytes;
    uint64_t timeout_s;
    char *notes;                /* what the store left out and why, or NULL
                                 * (<= TASK_NOTES_MAX bytes; most tasks have
                                 * none, so it is not a fixed array) */
    int64_t priority;           /* -1000..1000, higher starts first */
    char **env;                 /* "KEY=VALUE" for the task (NULL-terminated) or NULL */
    int envc;
    struct task_input *inputs;  /* -input, in order (owned), or NULL */
    int ninputs;
    char *after;                /* -after: "ID,ID..." to complete (exit 0) first, or NULL */
    char *after_any;            /* -after-any: "ID,ID..." to have ended first, or NULL */
    uint64_t retries;           /* -retries N: re-runs allowed after a non-zero exit */
    uint64_t retried;           /* re-runs done so far after a non-zero exit */
    uint64_t retry_at;          /* ms: the next re-run is not placed before (0: at once) */
    char array_id[64];          /* -array: the submission's id, "" for a lone task */
    uint64_t array_index;       /* CLOUDAI_ARRAY_INDEX of an array member */
    uint64_t array_parallel;    /* -array A-B%P: at most P members run at once; 0 = no cap */
    double cpu_s;               /* CPU-seconds the run used, as its worker measured; 0 = unknown */
    uint64_t mem_peak;          /* its peak memory in bytes (the largest process's RSS, or
                                 * the cgroup's peak); 0 = unknown */
} task_rec;
/* Bounds of -after/-after-any (ids per list) and -retries. */
#define TASK_AFTER_MAX 100
#define TASK_RETRIES_MAX 100
/* Replaces *slot (a malloc'd string member: after, after_any) with a copy
 * of s (NULL or "" clears); 0 or -ENOMEM (the old value kept). */
int task_rec_set_str(char **slot, const char *s);
/* -array "A-B" or "A-B%P": 0 <= A <= B <= 10^9, B-A+1 <= max, P >= 1 (0
 * when absent). 0, or -1 when spec is anything else. */
int task_array_parse(const char *spec, uint64_t max, uint64_t *a, uint64_t *b, uint64_t *p);
/* The next id of an -after list "ID,ID..." from *pos: its length (the id
 * starts at *pos), *pos moved past it and its comma; 0 at the end; -1 for
 * an empty id (",,", a trailing ","). */
int task_after_next(const char *list, size_t *pos, size_t *start);

/* One input of a task (proto.txt "INPUT record"): content-addressed in the
 * master's input store, seen by the task at /input/<dest>. */
typedef struct task_input {
    uint8_t sha256[32];         /* of the file, or of the directory's ustar stream */
    int has_sha;                /* 0: a task:ID reference the master has not resolved yet */
    uint64_t size;              /* bytes of the file / of the stream */
    int is_dir;
    char *dest;                 /* relative path under /input (owned) */
    char *source;               /* as given: a local path, or task:ID[/PATH] (owned) */
} task_input;
#define TASK_INPUTS_MAX 64
/* Sets the inputs (deep copy; n 0 clears); 0 or -ENOMEM. */
int task_rec_set_inputs(task_rec *t, int n, const task_input *in);
/* NULL if dest is an acceptable place under /input: relative, 1..1024
 * bytes of components that are not empty, "." or "..", no NUL; else why. */
const char *task_input_dest_invalid(const char *dest);
/* NULL if the inputs' dests are valid and none is another's, or below
 * another's (two mounts on one path); else why (in buf). */
const char *task_inputs_conflict(const task_input *in, int n, char *buf, size_t cap);

/* Bound of task_rec.notes (and of NOTES on the wire). */
#define TASK_NOTES_MAX 4096

typedef struct file_rec {
    char task_id[64];
    char task_name[128];
    char user_id[64];
    uint64_t submitted_at;
    char file_name[4096];       /* relative to the task directory */
    char file_path[8192];       /* absolute path in the store */
    uint64_t file_size;
    uint8_t sha256[32];
    uint32_t mode;
    uint64_t stored_at;
} file_rec;

typedef struct worker_rec {
    char worker_id[64];
    char address[256];
    double cpu, free_cpu;
    uint64_t memory, free_memory, storage, free_storage, gpu, free_gpu;
    uint64_t last_seen;         /* ms */
    char state[32];             /* "ready" | "lost" | "draining" */
    uint64_t running;           /* tasks running there */
} worker_rec;

void task_rec_init(task_rec *t);
void task_rec_free(task_rec *t);
int task_rec_copy(task_rec *dst, const task_rec *src);   /* 0 or -ENOMEM */

/* A growing array of task record copies (the vector owns them). */
typedef struct task_vec {
    task_rec *v;
    size_t n, cap;
} task_vec;
int task_vec_push(task_vec *tv, const task_rec *t);      /* appends a copy: 0 or -ENOMEM */
void task_vec_free(task_vec *tv);                         /* frees the copies; tv reusable */
/* Sets argv (deep copy) / command (copy); 0 or -ENOMEM. */
int task_rec_set_argv(task_rec *t, int argc, char *const *argv);
int task_rec_set_command(task_rec *t, const char *cmd);
/* Sets env ("KEY=VALUE" strings, deep copy; n 0 clears); 0 or -ENOMEM. */
int task_rec_set_env(task_rec *t, int n, char *const *env);
/* Bounds of a task's environment: entries, and bytes of one entry. */
#define TASK_ENV_MAX 256
#define TASK_ENV_LEN 8192
/* NULL if "KEY=VALUE" is acceptable (KEY [A-Za-z_][A-Za-z0-9_]*, not one
 * the runtime sets), else why not. */
const char *task_env_invalid(const char *kv);
/* Sets notes (a copy cut to TASK_NOTES_MAX bytes at a UTF-8 boundary;
 * NULL or "" clears); 0 or -ENOMEM (the old notes are kept). */
int task_rec_set_notes(task_rec *t, const char *notes);

/* Wire encoding: fields straight into the current message or record. */
void task_rec_put(proto_buf *b, const task_rec *t);
void file_rec_put(proto_buf *b, const file_rec *f);
void worker_rec_put(proto_buf *b, const worker_rec *w);
/* One INPUT record (tag INPUT), as in a TASK record and a SUBMIT. */
void task_input_put(proto_buf *b, const task_input *in);
/* Decoding from a message or an opened record; missing fields keep their
 * init value. 0, or a PROTO_E_* code (string too long, no memory). */
int task_rec_get(const proto_msg *m, task_rec *t);
int file_rec_get(const proto_msg *m, file_rec *f);
int worker_rec_get(const proto_msg *m, worker_rec *w);
#endif
