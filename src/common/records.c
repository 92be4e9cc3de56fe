/* records.c — the TASKS / FILE_METADATA / WORKERS records and their wire
 * form. Each struct field travels under the tag of the same name (see the
 * record tables in proto.txt). Empty strings and zero numbers of a task
 * or file are left off the wire, because the reader starts from the init
 * value anyway; status and exit_code always travel, their init values are
 * not zero. */
#include "records.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void task_rec_init(task_rec *t)
{
    memset(t, 0, sizeof *t);
    t->exit_code = -1;
    t->status = PROTO_ST_QUEUED;
}

void task_rec_free(task_rec *t)
{
    free(t->command);
    t->command = NULL;
    if (t->argv) {
        for (int i = 0; i < t->argc; i++) free(t->argv[i]);
        free(t->argv);
    }
    t->argv = NULL;
    t->argc = 0;
    free(t->notes);
    t->notes = NULL;
    if (t->env) {
        for (int i = 0; i < t->envc; i++) free(t->env[i]);
        free(t->env);
    }
    t->env = NULL;
    t->envc = 0;
    task_rec_set_inputs(t, 0, NULL);
    free(t->after);
    free(t->after_any);
    t->after = t->after_any = NULL;
}

int task_array_parse(const char *spec, uint64_t max, uint64_t *a, uint64_t *b, uint64_t *p)
{
    const char *s = spec;
    char *e;
    *a = *b = *p = 0;
    if (!s || *s < '0' || *s > '9') return -1;
    *a = strtoull(s, &e, 10);
    s = e;
    if (*s != '-' || s[1] < '0' || s[1] > '9') return -1;
    *b = strtoull(s + 1, &e, 10);
    s = e;
    if (*s == '%') {
        if (s[1] < '0' || s[1] > '9') return -1;
        *p = strtoull(s + 1, &e, 10);
        s = e;
        if (!*p) return -1;
    }
    if (*s || *a > *b || *b > 1000000000ull || *b - *a + 1 > max) return -1;
    return 0;
}

int task_after_next(const char *list, size_t *pos, size_t *start)
{
    if (!list || !list[*pos]) return 0;
    *start = *pos;
    const char *e = strchr(list + *pos, ',');
    size_t len = e ? (size_t)(e - (list + *pos)) : strlen(list + *pos);
    *pos += len + (e ? 1 : 0);
    if (!len || (e && !list[*pos])) return -1;
    return (int)(len > 1000000 ? 1000000 : len);
}

int task_rec_set_str(char **slot, const char *s)
{
    char *v = NULL;
    if (s && *s && !(v = strdup(s))) return -ENOMEM;
    free(*slot);
    *slot = v;
    return 0;
}

static char **argv_dup(int argc, char *const *argv)
{
    char **v = calloc((size_t)argc + 1, sizeof *v);
    if (!v) return NULL;
    for (int i = 0; i < argc; i++) {
        if (!(v[i] = strdup(argv[i] ? argv[i] : ""))) {
            for (int j = 0; j < i; j++) free(v[j]);
            free(v);
            return NULL;
        }
    }
    return v;
}

/* dst is overwritten without being freed: it must not own a command, an
 * argv or notes. On -ENOMEM dst owns nothing (all three are NULL). */
int task_rec_copy(task_rec *dst, const task_rec *src)
{
    *dst = *src;
    dst->command = NULL;
    dst->argv = NULL;
    dst->argc = 0;
    dst->notes = NULL;
    dst->env = NULL;
    dst->envc = 0;
    dst->inputs = NULL;
    dst->ninputs = 0;
    dst->after = dst->after_any = NULL;
    if ((src->after && !(dst->after = strdup(src->after))) ||
        (src->after_any && !(dst->after_any = strdup(src->after_any))))
        goto nomem;
    if (src->ninputs > 0 && task_rec_set_inputs(dst, src->ninputs, src->inputs) < 0) goto nomem;
    if (src->command && !(dst->command = strdup(src->command))) goto nomem;
    if (src->notes && !(dst->notes = strdup(src->notes))) goto nomem;
    if (src->argv && src->argc > 0) {
        if (!(dst->argv = argv_dup(src->argc, src->argv))) goto nomem;
        dst->argc = src->argc;
    }
    if (src->env && src->envc > 0) {
        if (!(dst->env = argv_dup(src->envc, src->env))) goto nomem_argv;
        dst->envc = src->envc;
    }
    return 0;
nomem_argv:
    for (int i = 0; i < dst->argc; i++) free(dst->argv[i]);
    free(dst->argv);
    dst->argv = NULL;
    dst->argc = 0;
nomem:
    task_rec_set_inputs(dst, 0, NULL);
    free(dst->after);
    free(dst->after_any);
    dst->after = dst->after_any = NULL;
    free(dst->command);
    free(dst->notes);
    dst->command = dst->notes = NULL;
    return -ENOMEM;
}

int task_vec_push(task_vec *tv, const task_rec *t)
{
    if (tv->n == tv->cap) {
        size_t nc = tv->cap ? tv->cap * 2 : 16;
        task_rec *p = realloc(tv->v, nc * sizeof *p);
        if (!p) return -ENOMEM;
        tv->v = p;
        tv->cap = nc;
    }
    task_rec_init(&tv->v[tv->n]);
    if (task_rec_copy(&tv->v[tv->n], t) < 0) return -ENOMEM;   /* the slot owns nothing */
    tv->n++;
    return 0;
}

void task_vec_free(task_vec *tv)
{
    for (size_t i = 0; i < tv->n; i++) task_rec_free(&tv->v[i]);
    free(tv->v);
    tv->v = NULL;
    tv->n = tv->cap = 0;
}

/* Replaces t's argv with a deep copy; argc 0 or argv NULL clears it. On
 * -ENOMEM the old argv is kept. */
int task_rec_set_argv(task_rec *t, int argc, char *const *argv)
{
    char **v = NULL;
    if (argc > 0 && argv && !(v = argv_dup(argc, argv))) return -ENOMEM;
    if (t->argv) {
        for (int i = 0; i < t->argc; i++) free(t->argv[i]);
        free(t->argv);
    }
    t->argv = v;
    t->argc = v ? argc : 0;
    return 0;
}

int task_rec_set_env(task_rec *t, int n, char *const *env)
{
    char **v = NULL;
    if (n > 0 && env && !(v = argv_dup(n, env))) return -ENOMEM;
    if (t->env) {
        for (int i = 0; i < t->envc; i++) free(t->env[i]);
        free(t->env);
    }
    t->env = v;
    t->envc = v ? n : 0;
    return 0;
}

static void inputs_free(task_input *v, int n)
{
    for (int i = 0; v && i < n; i++) {
        free(v[i].dest);
        free(v[i].source);
    }
    free(v);
}

int task_rec_set_inputs(task_rec *t, int n, const task_input *in)
{
    task_input *v = NULL;
    if (n > 0 && in) {
        if (!(v = calloc((size_t)n, sizeof *v))) return -ENOMEM;
        for (int i = 0; i < n; i++) {
            v[i] = in[i];
            v[i].dest = strdup(in[i].dest ? in[i].dest : "");
            v[i].source = strdup(in[i].source ? in[i].source : "");
            if (!v[i].dest || !v[i].source) {
                inputs_free(v, i + 1);
                return -ENOMEM;
            }
        }
    }
    inputs_free(t->inputs, t->ninputs);
    t->inputs = v;
    t->ninputs = v ? n : 0;
    return 0;
}

const char *task_input_dest_invalid(const char *dest)
{
    size_t n = strlen(dest);
    if (n == 0) return "is empty";
    if (n > 1024) return "is longer than 1024 bytes";
    if (dest[0] == '/') return "must be relative (it is placed under /input)";
    for (const char *p = dest;;) {
        const char *slash = strchr(p, '/');
        size_t len = slash ? (size_t)(slash - p) : strlen(p);
        if (len == 0) return "has an empty component";
        if ((len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.'))
            return "may not contain '.' or '..'";
        if (!slash) break;
        p = slash + 1;
    }
    return NULL;
}

/* 1 if a == b or a is a directory above b. */
static int dest_covers(const char *a, const char *b)
{
    size_t n = strlen(a);
    return !strncmp(a, b, n) && (b[n] == 0 || b[n] == '/');
}

const char *task_inputs_conflict(const task_input *in, int n, char *buf, size_t cap)
{
    for (int i = 0; i < n; i++) {
        const char *why = task_input_dest_invalid(in[i].dest ? in[i].dest : "");
        if (why) {
            snprintf(buf, cap, "input destination '%.200s' %s", in[i].dest ? in[i].dest : "", why);
            return buf;
        }
        for (int j = 0; j < i; j++)
            if (dest_covers(in[j].dest, in[i].dest) || dest_covers(in[i].dest, in[j].dest)) {
                snprintf(buf, cap, "inputs '%.200s' and '%.200s' would overlap at /input/%.200s "
                         "(give one a :DEST)", in[j].source, in[i].source,
                         strlen(in[j].dest) < strlen(in[i].dest) ? in[j].dest : in[i].dest);
                return buf;
            }
    }
    return NULL;
}

const char *task_env_invalid(const char *kv)
{
    const char *eq = strchr(kv, '=');
    if (!eq || eq == kv) return "not KEY=VALUE";
    if (strlen(kv) > TASK_ENV_LEN) return "longer than 8192 bytes";
    for (const char *p = kv; p < eq; p++) {
        char c = *p;
        int ok = c == '_' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                 (p > kv && c >= '0' && c <= '9');
        if (!ok) return "KEY must be letters, digits and _, not starting with a digit";
    }
    /* Set by the runtime: a task that moved them would lose its outputs. */
    if ((eq - kv == 10 && !strncmp(kv, "OUTPUT_DIR", 10)) ||
        (eq - kv == 9 && !strncmp(kv, "INPUT_DIR", 9)))
        return "set by the runtime";
    return NULL;
}

/* Replaces t's command with a copy; NULL clears it. */
int task_rec_set_command(task_rec *t, const char *cmd)
{
    char *c = NULL;
    if (cmd && !(c = strdup(cmd))) return -ENOMEM;
    free(t->command);
    t->command = c;
    return 0;
}

int task_rec_set_notes(task_rec *t, const char *notes)
{
    char *n = NULL;
    if (notes && notes[0]) {
        size_t len = strlen(notes);
        if (len > TASK_NOTES_MAX) {
            len = TASK_NOTES_MAX;
            while (len > 0 && ((unsigned char)notes[len] & 0xC0) == 0x80)
                len--;     /* never cut a UTF-8 sequence in two */
        }
        if (!(n = malloc(len + 1))) return -ENOMEM;
        memcpy(n, notes, len);
        n[len] = 0;
    }
    free(t->notes);
    t->notes = n;
    return 0;
}

static void put_s(proto_buf *b, uint8_t tag, const char *s)
{
    if (s && s[0]) proto_put_str(b, tag, s);
}

static void put_u(proto_buf *b, uint8_t tag, uint64_t v)
{
    if (v) proto_put_u64(b, tag, v);
}

/* want_worker is the DISPATCH target, which travels as the message's own
 * T_WORKER_ID; it is not part of the record. */
void task_rec_put(proto_buf *b, const task_rec *t)
{
    put_s(b, T_TASK_ID, t->task_id);
    put_s(b, T_USER_ID, t->user_id);
    put_s(b, T_TASK_NAME, t->task_name);
    put_u(b, T_SUBMITTED_AT, t->submitted_at);
    put_s(b, T_DOCKER_IMAGE, t->docker_image);
    if (t->command) proto_put_str(b, T_COMMAND, t->command);
    for (int i = 0; t->argv && i < t->argc; i++) proto_put_str(b, T_ARGV, t->argv[i]);
    if (t->req_cpu != 0.0) proto_put_f64(b, T_REQ_CPU, t->req_cpu);
    put_u(b, T_REQ_MEMORY, t->req_memory);
    put_u(b, T_REQ_STORAGE, t->req_storage);
    put_u(b, T_REQ_GPU, t->req_gpu);
    proto_put_u64(b, T_STATUS, (uint64_t)t->status);
    put_s(b, T_WORKER_ID, t->worker_id);
    proto_put_i64(b, T_EXIT_CODE, t->exit_code);
    put_s(b, T_ERROR, t->error);
    put_u(b, T_ATTEMPTS, t->attempts);
    put_u(b, T_CREATED_AT, t->created_at);
    put_u(b, T_STARTED_AT, t->started_at);
    put_u(b, T_COMPLETED_AT, t->completed_at);
    put_u(b, T_OUTPUT_FILES, t->output_files);
    put_u(b, T_OUTPUT_BYTES, t->output_bytes);
    put_u(b, T_TIMEOUT, t->timeout_s);
    put_s(b, T_NOTES, t->notes);
    if (t->priority) proto_put_i64(b, T_PRIORITY, t->priority);
    for (int i = 0; t->env && i < t->envc; i++) proto_put_str(b, T_ENV, t->env[i]);
    for (int i = 0; t->inputs && i < t->ninputs; i++) task_input_put(b, &t->inputs[i]);
    put_s(b, T_AFTER, t->after);
    put_s(b, T_AFTER_ANY, t->after_any);
    put_u(b, T_RETRIES, t->retries);
    put_u(b, T_RETRIED, t->retried);
    put_s(b, T_ARRAY_ID, t->array_id);
    put_u(b, T_ARRAY_INDEX, t->array_index);
    put_u(b, T_ARRAY_PARALLEL, t->array_parallel);
    put_u(b, T_RETRY_AT, t->retry_at);
    if (t->cpu_s > 0) proto_put_f64(b, T_CPU_S, t->cpu_s);
    put_u(b, T_MEM_PEAK, t->mem_peak);
}

void task_input_put(proto_buf *b, const task_input *in)
{
    size_t mark = proto_rec_begin(b, T_INPUT);
    if (in->has_sha) proto_put_bytes(b, T_SHA256, in->sha256, sizeof in->sha256);
    proto_put_u64(b, T_TOTAL_SIZE, in->size);
    if (in->is_dir) proto_put_u64(b, T_IS_DIR, 1);
    proto_put_str(b, T_FILE_NAME, in->dest);
    put_s(b, T_SOURCE, in->source);
    proto_rec_end(b, mark);
}

void file_rec_put(proto_buf *b, const file_rec *f)
{
    put_s(b, T_TASK_ID, f->task_id);
    put_s(b, T_TASK_NAME, f->task_name);
    put_s(b, T_USER_ID, f->user_id);
    put_u(b, T_SUBMITTED_AT, f->submitted_at);
    put_s(b, T_FILE_NAME, f->file_name);
    put_s(b, T_FILE_PATH, f->file_path);
    put_u(b, T_FILE_SIZE, f->file_size);
    proto_put_bytes(b, T_SHA256, f->sha256, sizeof f->sha256);
    put_u(b, T_MODE, f->mode);
    put_u(b, T_STORED_AT, f->stored_at);
}

/* `running` is a count here but T_RUNNING on the wire is a list of task
 * ids, so the count is not sent; worker_rec_get counts T_RUNNING ids. */
void worker_rec_put(proto_buf *b, const worker_rec *w)
{
    /* Numbers always travel: REGISTER requires the totals even when a
     * machine has no GPU. */
    put_s(b, T_WORKER_ID, w->worker_id);
    put_s(b, T_ADDRESS, w->address);
    proto_put_f64(b, T_CPU, w->cpu);
    proto_put_f64(b, T_FREE_CPU, w->free_cpu);
    proto_put_u64(b, T_MEMORY, w->memory);
    proto_put_u64(b, T_FREE_MEMORY, w->free_memory);
    proto_put_u64(b, T_STORAGE, w->storage);
    proto_put_u64(b, T_FREE_STORAGE, w->free_storage);
    proto_put_u64(b, T_GPU, w->gpu);
    proto_put_u64(b, T_FREE_GPU, w->free_gpu);
    put_u(b, T_LAST_SEEN, w->last_seen);
    put_s(b, T_STATE, w->state);
}

/* Absent is fine (the init value stays); too long for the array is not. */
static int get_s(const proto_msg *m, uint8_t tag, char *dst, size_t cap)
{
    int rc = proto_str(m, tag, dst, cap);
    return rc == PROTO_E_MISSING ? 0 : rc;
}

static int get_u(const proto_msg *m, uint8_t tag, uint64_t *v)
{
    int rc = proto_u64(m, tag, v);
    return rc == PROTO_E_MISSING ? 0 : rc;
}

static int get_f(const proto_msg *m, uint8_t tag, double *v)
{
    int rc = proto_f64(m, tag, v);
    return rc == PROTO_E_MISSING ? 0 : rc;
}

/* A repeated string field (ARGV, ENV) into a NULL-terminated list. */
static int get_list(const proto_msg *m, uint8_t tag, char ***list, int *count)
{
    size_t pos = 0;
    proto_field f;
    int n = 0;
    while (proto_next(m, tag, &pos, &f)) n++;
    if (n == 0) return 0;
    *list = calloc((size_t)n + 1, sizeof **list);
    if (!*list) return PROTO_E_NOMEM;
    pos = 0;
    while (*count < n && proto_next(m, tag, &pos, &f)) {
        if (f.kind != PROTO_K_STR) return PROTO_E_KIND;
        char *s = malloc((size_t)f.len + 1);
        if (!s) return PROTO_E_NOMEM;
        memcpy(s, f.p, f.len);
        s[f.len] = '\0';
        (*list)[(*count)++] = s;
    }
    return 0;
}

static int get_argv(const proto_msg *m, task_rec *t)
{
    return get_list(m, T_ARGV, &t->argv, &t->argc);
}

/* INPUT records; more than TASK_INPUTS_MAX is PROTO_E_RANGE. */
static int get_inputs(const proto_msg *m, task_rec *t)
{
    size_t pos = 0;
    proto_field f;
    int n = 0;
    while (proto_next(m, T_INPUT, &pos, &f)) n++;
    if (n == 0) return 0;
    if (n > TASK_INPUTS_MAX) return PROTO_E_RANGE;
    if (!(t->inputs = calloc((size_t)n, sizeof *t->inputs))) return PROTO_E_NOMEM;
    pos = 0;
    while (t->ninputs < n && proto_next(m, T_INPUT, &pos, &f)) {
        task_input *in = &t->inputs[t->ninputs++];
        proto_msg sub;
        proto_field sf;
        uint64_t dir = 0;
        if (f.kind != PROTO_K_REC) return PROTO_E_KIND;
        proto_rec_open(&f, &sub);
        if (proto_get(&sub, T_SHA256, &sf) == 0 && sf.len == 32) {
            memcpy(in->sha256, sf.p, 32);
            in->has_sha = 1;
        }
        proto_u64(&sub, T_TOTAL_SIZE, &in->size);
        proto_u64(&sub, T_IS_DIR, &dir);
        in->is_dir = dir != 0;
        in->dest = proto_strdup(&sub, T_FILE_NAME);
        in->source = proto_strdup(&sub, T_SOURCE);
        if (!in->dest && !(in->dest = strdup(""))) return PROTO_E_NOMEM;
        if (!in->source && !(in->source = strdup(""))) return PROTO_E_NOMEM;
    }
    return 0;
}

/* t is overwritten (task_rec_init first): it must not own a command or an
 * argv. On failure t may own some; task_rec_free releases them. The
 * error text is truncated to fit rather than refused: it is prose. */
int task_rec_get(const proto_msg *m, task_rec *t)
{
    task_rec_init(t);
    uint64_t st = PROTO_ST_QUEUED;
    proto_field f;
    int rc;
    if ((rc = get_s(m, T_TASK_ID, t->task_id, sizeof t->task_id))) goto out;
    if ((rc = get_s(m, T_USER_ID, t->user_id, sizeof t->user_id))) goto out;
    if ((rc = get_s(m, T_TASK_NAME, t->task_name, sizeof t->task_name))) goto out;
    if ((rc = get_u(m, T_SUBMITTED_AT, &t->submitted_at))) goto out;
    if ((rc = get_s(m, T_DOCKER_IMAGE, t->docker_image, sizeof t->docker_image))) goto out;
    if (proto_get(m, T_COMMAND, &f) == 0) {
        if (!(t->command = proto_strdup(m, T_COMMAND))) { rc = PROTO_E_NOMEM; goto out; }
    }
    if ((rc = get_argv(m, t))) goto out;
    if ((rc = get_f(m, T_REQ_CPU, &t->req_cpu))) goto out;
    if ((rc = get_u(m, T_REQ_MEMORY, &t->req_memory))) goto out;
    if ((rc = get_u(m, T_REQ_STORAGE, &t->req_storage))) goto out;
    if ((rc = get_u(m, T_REQ_GPU, &t->req_gpu))) goto out;
    if ((rc = get_u(m, T_STATUS, &st))) goto out;
    if (st < 1 || st > PROTO_ST_MAX) { rc = PROTO_E_RANGE; goto out; }
    t->status = (int)st;
    if ((rc = get_s(m, T_WORKER_ID, t->worker_id, sizeof t->worker_id))) goto out;
    rc = proto_i64(m, T_EXIT_CODE, &t->exit_code);
    if (rc && rc != PROTO_E_MISSING) goto out;
    if (proto_get(m, T_ERROR, &f) == 0) proto_field_str(&f, t->error, sizeof t->error);
    if ((rc = get_u(m, T_ATTEMPTS, &t->attempts))) goto out;
    if ((rc = get_u(m, T_CREATED_AT, &t->created_at))) goto out;
    if ((rc = get_u(m, T_STARTED_AT, &t->started_at))) goto out;
    if ((rc = get_u(m, T_COMPLETED_AT, &t->completed_at))) goto out;
    if ((rc = get_u(m, T_OUTPUT_FILES, &t->output_files))) goto out;
    if ((rc = get_u(m, T_OUTPUT_BYTES, &t->output_bytes))) goto out;
    if ((rc = get_u(m, T_TIMEOUT, &t->timeout_s))) goto out;
    if (proto_get(m, T_NOTES, &f) == 0) {
        char *n = malloc(f.len + 1);
        if (!n) { rc = PROTO_E_NOMEM; goto out; }
        proto_field_str(&f, n, f.len + 1);
        free(t->notes);
        t->notes = n;
    }
    rc = proto_i64(m, T_PRIORITY, &t->priority);
    if (rc == PROTO_E_MISSING) rc = 0;
    if (rc) goto out;
    rc = get_list(m, T_ENV, &t->env, &t->envc);
    if (rc) goto out;
    rc = get_inputs(m, t);
    if (rc) goto out;
    for (int k = 0; k < 2; k++) {
        char **slot = k ? &t->after_any : &t->after;
        if (proto_get(m, k ? T_AFTER_ANY : T_AFTER, &f) == 0) {
            char *n = malloc(f.len + 1);
            if (!n) { rc = PROTO_E_NOMEM; goto out; }
            proto_field_str(&f, n, f.len + 1);
            free(*slot);
            *slot = n[0] ? n : (free(n), NULL);
        }
    }
    if ((rc = get_u(m, T_RETRIES, &t->retries))) goto out;
    if ((rc = get_u(m, T_RETRIED, &t->retried))) goto out;
    if ((rc = get_s(m, T_ARRAY_ID, t->array_id, sizeof t->array_id))) goto out;
    if ((rc = get_u(m, T_ARRAY_INDEX, &t->array_index))) goto out;
    if ((rc = get_u(m, T_ARRAY_PARALLEL, &t->array_parallel))) goto out;
    if ((rc = get_u(m, T_RETRY_AT, &t->retry_at))) goto out;
    if ((rc = get_f(m, T_CPU_S, &t->cpu_s))) goto out;
    if (t->cpu_s < 0) t->cpu_s = 0;
    if ((rc = get_u(m, T_MEM_PEAK, &t->mem_peak))) goto out;
out:
    return rc;
}

/* f is overwritten (zeroed first). */
int file_rec_get(const proto_msg *m, file_rec *f)
{
    memset(f, 0, sizeof *f);
    proto_field fl;
    uint64_t mode = 0;
    int rc;
    if ((rc = get_s(m, T_TASK_ID, f->task_id, sizeof f->task_id))) goto out;
    if ((rc = get_s(m, T_TASK_NAME, f->task_name, sizeof f->task_name))) goto out;
    if ((rc = get_s(m, T_USER_ID, f->user_id, sizeof f->user_id))) goto out;
    if ((rc = get_u(m, T_SUBMITTED_AT, &f->submitted_at))) goto out;
    if ((rc = get_s(m, T_FILE_NAME, f->file_name, sizeof f->file_name))) goto out;
    if ((rc = get_s(m, T_FILE_PATH, f->file_path, sizeof f->file_path))) goto out;
    if ((rc = get_u(m, T_FILE_SIZE, &f->file_size))) goto out;
    if (proto_get(m, T_SHA256, &fl) == 0) {
        if (fl.kind != PROTO_K_BYTES) { rc = PROTO_E_KIND; goto out; }
        if (fl.len != sizeof f->sha256) { rc = PROTO_E_STRLEN; goto out; }
        memcpy(f->sha256, fl.p, sizeof f->sha256);
    }
    if ((rc = get_u(m, T_MODE, &mode))) goto out;
    if (mode > 0xffffffffu) { rc = PROTO_E_RANGE; goto out; }
    f->mode = (uint32_t)mode;
    rc = get_u(m, T_STORED_AT, &f->stored_at);
out:
    return rc;
}

/* w is overwritten (zeroed first); running = number of T_RUNNING ids. */
int worker_rec_get(const proto_msg *m, worker_rec *w)
{
    memset(w, 0, sizeof *w);
    int rc;
    if ((rc = get_s(m, T_WORKER_ID, w->worker_id, sizeof w->worker_id))) goto out;
    if ((rc = get_s(m, T_ADDRESS, w->address, sizeof w->address))) goto out;
    if ((rc = get_f(m, T_CPU, &w->cpu))) goto out;
    if ((rc = get_f(m, T_FREE_CPU, &w->free_cpu))) goto out;
    if ((rc = get_u(m, T_MEMORY, &w->memory))) goto out;
    if ((rc = get_u(m, T_FREE_MEMORY, &w->free_memory))) goto out;
    if ((rc = get_u(m, T_STORAGE, &w->storage))) goto out;
    if ((rc = get_u(m, T_FREE_STORAGE, &w->free_storage))) goto out;
    if ((rc = get_u(m, T_GPU, &w->gpu))) goto out;
    if ((rc = get_u(m, T_FREE_GPU, &w->free_gpu))) goto out;
    if ((rc = get_u(m, T_LAST_SEEN, &w->last_seen))) goto out;
    if ((rc = get_s(m, T_STATE, w->state, sizeof w->state))) goto out;
    size_t pos = 0;
    proto_field f;
    while (proto_next(m, T_RUNNING, &pos, &f)) w->running++;
out:
    return rc;
}
