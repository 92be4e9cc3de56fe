/* cli_submit.c — `task` and `dispatch`: build a SUBMIT / DISPATCH frame
 * from flags and print the submission banner. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli_input.h"
#include "cli_int.h"
#include "hash.h"
#include "ids.h"
#include "table.h"

#define DEF_CPU 1.0
#define DEF_MEMORY (512ull << 20)
#define DEF_STORAGE (1ull << 30)
#define DEF_GPU 0ull

static const char about_task[] =
    "Submits a task: the master queues it and picks a worker with enough free\n"
    "resources. -cmd CMD runs through /bin/sh -c in the container (as\n"
    "`docker run IMAGE sh -c CMD`); words after -- are the exact argv; with\n"
    "neither, the image's own default command runs.\n"
    "Defaults: -cpu_cores 1, -mem 512m, -storage 1 (GiB), -gpu_cores 0, -timeout 0\n"
    "(the master's configured default). -mem takes a size with its unit (512m,\n"
    "2g; a bare number is refused); -storage GB numbers (0.5) or sizes. The name defaults to IMAGE-<unix seconds>.";
static const char about_dispatch[] =
    "Like `task`, but runs on the named worker (it must exist and fit the\n"
    "request, else the master refuses). See `cloudai task --help` for flags.\n"
    "Defaults: -cpu_cores 1, -mem 512m, -storage 1 (GiB), -gpu_cores 0.";

/* The task's environment: -env-file lines first, then -env flags, a later
 * KEY replacing an earlier one in place (so Docker and execve agree on
 * which value wins). Lines of the file: KEY=VALUE taken literally (no
 * quotes, no expansion); blank lines and lines starting with # skipped.
 * Returns the count, or -1 with a message printed; *held owns the file's
 * strings (free each, then the array). */
static int env_add(const char **envs, int n, const char *kv)
{
    const char *eq = strchr(kv, '=');
    size_t klen = eq ? (size_t)(eq - kv) : strlen(kv);
    for (int i = 0; i < n; i++)
        if (!strncmp(envs[i], kv, klen) && envs[i][klen] == '=') {
            envs[i] = kv;
            return n;
        }
    envs[n] = kv;
    return n + 1;
}

static int env_build(cli_ctx *c, const char *file, const args_list *flags, const char **envs,
                     char ***held, int *nheld)
{
    int n = 0;
    *held = NULL;
    *nheld = 0;
    if (file) {
        FILE *f = fopen(file, "r");
        if (!f) {
            cli_usage_error(c, "-env-file %.200s: cannot open it", file);
            return -1;
        }
        char line[TASK_ENV_LEN + 2];
        int lineno = 0;
        while (fgets(line, sizeof line, f)) {
            lineno++;
            size_t len = strlen(line);
            if (len == sizeof line - 1 && line[len - 1] != '\n') {
                fclose(f);
                cli_usage_error(c, "-env-file %.200s:%d: longer than %d bytes", file, lineno,
                                TASK_ENV_LEN);
                return -1;
            }
            while (len && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = 0;
            if (!len || line[0] == '#') continue;
            const char *why = task_env_invalid(line);
            char **grown = why ? NULL : realloc(*held, (size_t)(*nheld + 1) * sizeof **held);
            if (why || !grown || n >= TASK_ENV_MAX || !(grown[*nheld] = strdup(line))) {
                fclose(f);
                if (grown) *held = grown;
                cli_usage_error(c, "-env-file %.200s:%d: %s", file, lineno,
                                why ? why : n >= TASK_ENV_MAX ? "more than 256 entries"
                                                              : "out of memory");
                return -1;
            }
            *held = grown;
            n = env_add(envs, n, grown[(*nheld)++]);
        }
        fclose(f);
    }
    for (int i = 0; i < flags->n; i++) {
        const char *why = task_env_invalid(flags->v[i]);
        if (why) {
            cli_usage_error(c, "-env '%.60s': %s", flags->v[i], why);
            return -1;
        }
        if (n >= TASK_ENV_MAX) {
            cli_usage_error(c, "more than %d -env entries", TASK_ENV_MAX);
            return -1;
        }
        n = env_add(envs, n, flags->v[i]);
    }
    return n;
}

/* The Status line: the status, then what the user most wants to know next —
 * where it runs, or why it has not started. */
static void status_line(const task_rec *t, char *out, size_t cap)
{
    const char *st = proto_status_name((uint64_t)t->status);
    if (t->worker_id[0] && t->error[0])
        snprintf(out, cap, "%s (worker %s: %s)", st, t->worker_id, t->error);
    else if (t->worker_id[0])
        snprintf(out, cap, "%s (worker %s)", st, t->worker_id);
    else if (t->error[0])
        snprintf(out, cap, "%s (%s)", st, t->error);
    else
        snprintf(out, cap, "%s", st);
}

/* given: the -name as typed (NULL = none); the master stores the
 * normalised form (README "Task names"), shown when it differs. */
static void print_banner(const task_rec *t, const char *given)
{
    char when[64], mem[32], sto[32], st[1300];
    ids_time_human(t->submitted_at, when, sizeof when);
    table_fmt_size(t->req_memory, mem, sizeof mem);
    table_fmt_size(t->req_storage, sto, sizeof sto);
    status_line(t, st, sizeof st);
    for (char *p = st; *p; p++)     /* one line, no terminal escapes */
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '?';
    printf("Task submitted\n");
    printf("  Task ID:      %s\n", t->task_id);
    printf("  Task Name:    %s%s\n", t->task_name,
           given && strcmp(given, t->task_name) ? "  (stored name; see README \"Task names\")" : "");
    printf("  Docker Image: %s\n", t->docker_image);
    printf("  Submitted At: %s UTC\n", when);
    printf("  Resources:    cpu %g, memory %s, storage %s, gpu %llu\n", t->req_cpu, mem, sto,
           (unsigned long long)t->req_gpu);
    printf("  Status:       %s\n", st);
    if (t->array_id[0])
        printf("  Array:        %s (this is its first task, index %llu; `cloudai tasks -array %s`)\n",
               t->array_id, (unsigned long long)t->array_index, t->array_id);
    for (int k = 0; k < 2; k++) {
        const char *l = k ? t->after_any : t->after;
        if (!l) continue;
        int n = 1;
        for (const char *p = l; *p; p++) n += *p == ',';
        const char *comma = strchr(l, ',');
        if (n > 2)      /* an array's tasks: the count and the first */
            printf("  %s%d tasks (%.*s, ...) %s\n", k ? "After any:    " : "After:        ", n,
                   (int)(comma - l), l, k ? "ended" : "completed");
        else
            printf("  %s%s (%s)\n", k ? "After any:    " : "After:        ", l,
                   k ? "ended" : "completed");
    }
    for (int i = 0; i < t->envc && t->env && t->env[i]; i++) {
        printf("  %s", i ? "              " : "Environment:  ");
        for (const char *p = t->env[i]; *p; p++)   /* one line, no terminal escapes */
            putchar((unsigned char)*p < 0x20 || *p == 0x7f ? '?' : *p);
        putchar('\n');
    }
    for (int i = 0; i < t->ninputs && t->inputs; i++) {
        char hx[65] = "", size[32];
        const task_input *in = &t->inputs[i];
        if (in->has_sha) hash_hex(in->sha256, 32, hx);
        table_fmt_size(in->size, size, sizeof size);
        if (!in->has_sha)      /* a dependency's output: taken when this task starts */
            printf("  %s/input/%s  (%s, taken when the task starts)\n",
                   i ? "              " : "Inputs:       ", in->dest, in->source);
        else
            printf("  %s/input/%s  %s %s  sha256 %.16s  (%s)\n",
                   i ? "              " : "Inputs:       ", in->dest, in->is_dir ? "dir" : "file",
                   size, hx, in->source);
    }
}

/* -after / -after-any may name an array (array-...): it stands for all
 * its tasks, looked up here (the master keeps task ids only). Returns a
 * malloc'd list, or NULL with the error printed (*rc set). */
static char *expand_after(cli_ctx *c, const char *list, int *rc)
{
    size_t cap = strlen(list) + 1, len = 0;
    char *out = malloc(cap), *copy = strdup(list);
    *rc = 0;
    if (!out || !copy) { free(out); free(copy); *rc = cli_fail("out of memory"); return NULL; }
    out[0] = 0;
    for (char *save = NULL, *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char **ids = NULL, *one[1] = { tok };
        size_t n = 1;
        int arr = !strncmp(tok, "array-", 6);
        if (arr && (*rc = cli_array_ids(c, tok, &ids, &n)) != 0) break;
        for (size_t i = 0; i < n && !*rc; i++) {
            const char *id = arr ? ids[i] : one[0];
            size_t need = len + strlen(id) + 2;
            if (need > cap) {
                char *no = realloc(out, need * 2);
                if (!no) { *rc = cli_fail("out of memory"); break; }
                out = no;
                cap = need * 2;
            }
            len += (size_t)sprintf(out + len, "%s%s", len ? "," : "", id);
        }
        for (size_t i = 0; arr && i < n; i++) free(ids[i]);
        free(ids);
        if (*rc) break;
    }
    free(copy);
    if (*rc) { free(out); return NULL; }
    return out;
}

int cli_verb_submit(cli_ctx *c, int argc, char **argv, int dispatch)
{
    char *after_x = NULL, *after_any_x = NULL;
    const char *name = NULL, *cmd = NULL;
    double cpu = DEF_CPU;
    uint64_t mem = DEF_MEMORY, sto = DEF_STORAGE, gpu = DEF_GPU, timeout = 0;
    int have_timeout = 0, wait = 0, have_retries = 0;
    uint64_t retries = 0;
    const char *prio = NULL, *mem_s = NULL, *env_file = NULL, *after = NULL, *after_any = NULL;
    const char *array = NULL;
    static args_list env_flags, input_flags;
    static cli_inputs inputs;
    static const char *envs[TASK_ENV_MAX];
    char **held = NULL;
    int nheld = 0, nenv = 0;
    env_flags.n = 0;
    input_flags.n = 0;
    memset(&inputs, 0, sizeof inputs);
    args_spec specs[] = {
        {"name", ARGS_STR, &name, NULL, "N", "task name (default IMAGE-<unix seconds>)"},
        {"cmd", ARGS_STR, &cmd, NULL, "CMD", "shell command, run as /bin/sh -c CMD"},
        {"cpu_cores", ARGS_CPU, &cpu, NULL, "C", "CPU cores, fractions allowed (default 1)"},
        {"cpu", ARGS_CPU, &cpu, NULL, "C", "same as -cpu_cores (the worker's own flag name)"},
        {"mem", ARGS_STR, &mem_s, NULL, "SIZE", "memory with its unit: 512m, 2g (default 512m)"},
        {"memory", ARGS_STR, &mem_s, NULL, "SIZE", "same as -mem (docker run's name)"},
        {"storage", ARGS_GIB, &sto, NULL, "GB", "storage in GB or a size (default 1 GiB)"},
        {"gpu_cores", ARGS_U64, &gpu, NULL, "G", "GPUs (default 0)"},
        {"gpu", ARGS_U64, &gpu, NULL, "G", "same as -gpu_cores"},
        {"timeout", ARGS_SECONDS, &timeout, &have_timeout, "SECONDS",
         "kill the task after this long (90, 30m, 2h; default: master's)"},
        {"env", ARGS_LIST, &env_flags, NULL, "K=V",
         "environment variable for the task (repeatable)"},
        {"env-file", ARGS_STR, &env_file, NULL, "FILE",
         "KEY=VALUE lines (# comments), before the -env flags"},
        {"input", ARGS_LIST, &input_flags, NULL, "PATH[:DEST]",
         "file or directory for the task, read-only at /input/DEST (DEST: its name); "
         "task:ID[/PATH] takes another task's output (repeatable)"},
        {"priority", ARGS_STR, &prio, NULL, "P",
         "-1000..1000, higher starts first (default 0)"},
        {"after", ARGS_STR, &after, NULL, "ID,...",
         "start only after these tasks completed (exit 0); fail if one does not"},
        {"after-any", ARGS_STR, &after_any, NULL, "ID,...",
         "start only after these tasks ended, however they ended"},
        {"array", ARGS_STR, &array, NULL, "A-B[%P]",
         "one task per index A..B (CLOUDAI_ARRAY_INDEX), at most P running at once"},
        {"retries", ARGS_U64, &retries, &have_retries, "N",
         "re-run up to N times after a non-zero exit, with backoff (0..100)"},
        {"wait", ARGS_BOOL, &wait, NULL, NULL,
         "block until the task ends; exit with its code (as `cloudai wait`)"},
        {"json", ARGS_BOOL, &c->json, NULL, NULL, "print the task record as a JSON object"},
        CLI_SPEC_MASTER(c), CLI_SPEC_USER(c), CLI_SPEC_TOKEN(c),
    };
    char *pos[CLI_POS_MAX];
    long priority = 0;
    args_result r;
    proto_msg m;
    proto_field f;
    task_rec t;
    int npos = dispatch ? 2 : 1;
    int rc = cli_parse(c, specs, sizeof specs / sizeof specs[0], argc, argv, pos, npos, npos, &r,
                       dispatch ? "dispatch WORKER IMAGE [flags] [-- ARGV...]"
                                : "task IMAGE [flags] [-- ARGV...]",
                       dispatch ? about_dispatch : about_task);
    if (rc >= 0)
        return rc;
    const char *worker = dispatch ? pos[0] : NULL;
    const char *image = pos[npos - 1];
    if (cmd && r.nrest > 0)
        return cli_usage_error(c, "give either -cmd or an argv after --, not both");
    if (cmd && !*cmd)
        return cli_usage_error(c, "-cmd is empty");
    if (!*image || strlen(image) > 255)
        return cli_usage_error(c, "'%.40s' is not a Docker image name", image);
    if (worker && (!*worker || strlen(worker) > 63))
        return cli_usage_error(c, "'%.40s' is not a worker id", worker);
    if (name && !*name)
        return cli_usage_error(c, "-name is empty");
    if (name && strlen(name) > IDS_NAME_MAX)   /* the master's rule too */
        return cli_usage_error(c, "-name: at most %d bytes (%zu given)", IDS_NAME_MAX,
                               strlen(name));
    /* A bare -mem 512 meant 512 GiB, which no one wants: the unit is required. */
    if (mem_s) {
        size_t n = strlen(mem_s);
        if (n == 0 || (mem_s[n - 1] >= '0' && mem_s[n - 1] <= '9') || mem_s[n - 1] == '.')
            return cli_usage_error(c, "-mem %.40s has no unit: say %.30sm or %.30sg", mem_s, mem_s,
                                   mem_s);
        if (args_parse_gib(mem_s, &mem) < 0)
            return cli_usage_error(c, "-mem: '%.40s' is not a size (512m, 2g)", mem_s);
    }
    if (mem == 0)
        return cli_usage_error(c, "-mem must be more than 0");
    if (array && (!*array || strlen(array) > 32))
        return cli_usage_error(c, "-array: want A-B or A-B%%P (e.g. 1-100%%10)");
    if (prio) {
        char *e = NULL;
        priority = strtol(prio, &e, 10);
        if (!*prio || *e || priority < -1000 || priority > 1000)
            return cli_usage_error(c, "-priority must be a whole number from -1000 to 1000");
    }
    if ((nenv = env_build(c, env_file, &env_flags, envs, &held, &nheld)) < 0) {
        rc = CLI_EXIT_USAGE;
        goto out_env;
    }
    char ierr[1024];
    if (input_flags.n && cli_inputs_prepare(&input_flags, &inputs, ierr, sizeof ierr) < 0) {
        rc = cli_fail("%s", ierr);
        goto out_env;
    }
    if ((rc = cli_connect(c)) != 0)
        goto out_env;
    if (inputs.n && (rc = cli_inputs_send(c, &inputs, c->json)) != 0)
        goto out;
    if ((after && !(after_x = expand_after(c, after, &rc))) ||
        (after_any && !(after_any_x = expand_after(c, after_any, &rc))))
        goto out;
    if (after) after = after_x;
    if (after_any) after_any = after_any_x;
    if ((after && strlen(after) > 6500) || (after_any && strlen(after_any) > 6500)) {
        rc = cli_fail("-after/-after-any name more than 100 tasks (an array counts all of its)");
        goto out;
    }
    proto_buf *b = &c->p.wb;
    proto_begin(b, dispatch ? PROTO_DISPATCH : PROTO_SUBMIT, 0);
    proto_put_str(b, T_DOCKER_IMAGE, image);
    if (worker)
        proto_put_str(b, T_WORKER_ID, worker);
    if (cmd)
        proto_put_str(b, T_COMMAND, cmd);
    for (int i = 0; i < r.nrest; i++)
        proto_put_str(b, T_ARGV, r.rest[i]);
    proto_put_str(b, T_TASK_NAME, name);
    /* Defaults are sent, not left to the master, so --help tells the truth. */
    proto_put_f64(b, T_REQ_CPU, cpu);
    proto_put_u64(b, T_REQ_MEMORY, mem);
    proto_put_u64(b, T_REQ_STORAGE, sto);
    proto_put_u64(b, T_REQ_GPU, gpu);
    if (have_timeout)
        proto_put_u64(b, T_TIMEOUT, timeout);
    if (priority)
        proto_put_i64(b, T_PRIORITY, priority);
    for (int i = 0; i < nenv; i++)
        proto_put_str(b, T_ENV, envs[i]);
    if (have_retries && retries > 100) {
        rc = cli_usage_error(c, "-retries must be from 0 to 100");
        goto out;
    }
    if (retries)
        proto_put_u64(b, T_RETRIES, retries);
    if (array)
        proto_put_str(b, T_ARRAY, array);
    if (after && *after)
        proto_put_str(b, T_AFTER, after);
    if (after_any && *after_any)
        proto_put_str(b, T_AFTER_ANY, after_any);
    for (int i = 0; i < inputs.n; i++)
        task_input_put(b, &inputs.in[i]);
    if ((rc = cli_request(c, &m)) != 0)
        goto out;
    if (m.type != PROTO_SUBMIT_ACK || proto_get(&m, T_TASK, &f) < 0) {
        rc = cli_fail("unexpected %s reply to %s", proto_type_name(m.type),
                      dispatch ? "DISPATCH" : "SUBMIT");
        goto out;
    }
    proto_msg sub;
    proto_rec_open(&f, &sub);
    if ((rc = cli_task_rec(&sub, &t)) != 0)
        goto out;
    if (c->json) {
        jsonw w;
        jsonw_init(&w, stdout);
        cli_json_task(&w, &t);
    } else {
        print_banner(&t, name);
    }
    char id[sizeof t.task_id];
    snprintf(id, sizeof id, "%s", t.array_id[0] ? t.array_id : t.task_id);   /* -wait: all */
    task_rec_free(&t);
    /* The master's warning (a user over the soft quota) goes to stderr so
     * --json output stays parseable. */
    char note[4097];
    if (proto_str(&m, T_MESSAGE, note, sizeof note) == 0 && note[0])
        fprintf(stderr, "cloudai: %s\n", note);
    if (fflush(stdout) != 0)
        rc = cli_fail("writing output failed");
    else if (wait) {
        char *ids[1] = { id };
        rc = cli_wait_ids(c, ids, 1);
    }
out:
    free(after_x);
    free(after_any_x);
    cli_disconnect(c);
out_env:
    cli_inputs_free(&inputs);
    for (int i = 0; i < nheld; i++) free(held[i]);
    free(held);
    return rc;
}
