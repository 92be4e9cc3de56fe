/* cli_wait.c — `wait ID...` and `task ... -wait`: one WAIT frame, then the
 * master pushes each task's final record as it ends (proto.txt WAIT). A
 * dropped connection (a master restart) is dialled again for up to
 * CLI_WAIT_RECONNECT_S and the wait resumed for the tasks not yet
 * reported; the exit code follows the rule in cli.h (CLI_EXIT_*). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "cli_int.h"
#include "ids.h"

#define CLI_WAIT_RECONNECT_S 60
#define CLI_WAIT_IDLE_MS 90000     /* the master says something every 30 s */

int cli_wait_code(const task_rec *t)
{
    if (t->status == PROTO_ST_COMPLETED) return CLI_EXIT_OK;
    if (t->status == PROTO_ST_CANCELLED) return CLI_EXIT_CANCELLED;
    if (strstr(t->error, " lost") && strstr(t->error, "gave up after")) return CLI_EXIT_LOST;
    if (t->exit_code > 0) return t->exit_code > 255 ? 255 : (int)t->exit_code;
    return CLI_EXIT_NOSTART;
}

static void print_line(cli_ctx *c, const task_rec *t)
{
    if (c->json) {
        jsonw w;
        jsonw_init(&w, stdout);
        w.oneline = 1;            /* one object per line, as each task ends */
        cli_json_task(&w, t);
    } else {
        char line[1400], code[32], name[160];
        if (t->exit_code >= 0) snprintf(code, sizeof code, "%lld", (long long)t->exit_code);
        else snprintf(code, sizeof code, "-");
        /* A task of an array shows its index: shard[7]. */
        if (t->array_id[0])
            snprintf(name, sizeof name, "%s[%llu]", t->task_name[0] ? t->task_name : "-",
                     (unsigned long long)t->array_index);
        else
            snprintf(name, sizeof name, "%s", t->task_name[0] ? t->task_name : "-");
        snprintf(line, sizeof line, "%s %s %s, exit %s%s%s", t->task_id, name,
                 proto_status_name((uint64_t)t->status), code, t->error[0] ? ": " : "", t->error);
        for (char *p = line; *p; p++)     /* one line, no terminal escapes */
            if ((unsigned char)*p < 0x20 || *p == 0x7f) *p = '?';
        puts(line);
    }
    fflush(stdout);
}

static void sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* Dials the master again after a drop, quietly, for up to
 * CLI_WAIT_RECONNECT_S. 0 when connected. */
static int redial(cli_ctx *c)
{
    char err[512] = "";
    int delay = 250;
    time_t end = time(NULL) + CLI_WAIT_RECONNECT_S;
    cli_disconnect(c);
    fprintf(stderr, "cloudai: the connection to the master at %s was lost; reconnecting "
            "(up to %d s)\n", c->master, CLI_WAIT_RECONNECT_S);
    while (time(NULL) < end) {
        if (peer_connect(&c->p, c->master, PROTO_ROLE_CLIENT, c->user, c->token, CLI_CONNECT_MS,
                         err, sizeof err) == 0) {
            c->connected = 1;
            return 0;
        }
        sleep_ms(delay);
        delay = delay * 2 > 4000 ? 4000 : delay * 2;
    }
    cli_fail("could not reconnect to the master at %s within %d s: %s", c->master,
             CLI_WAIT_RECONNECT_S, err);
    return -1;
}

int cli_wait_run(cli_ctx *c, char *const *ids, size_t n)
{
    int *code = calloc(n ? n : 1, sizeof *code);
    char *got = calloc(n ? n : 1, 1);
    size_t left = n;
    int rc = CLI_EXIT_OK, sent = 0;
    if (!code || !got) {
        rc = cli_fail("out of memory");
        goto out;
    }
    /* Repeated ids are reported once (as the master does). */
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < i; j++)
            if (!got[i] && !strcmp(ids[i], ids[j])) { got[i] = 2; left--; }
    while (left) {
        if (!sent) {
            proto_begin(&c->p.wb, PROTO_WAIT, 0);
            for (size_t i = 0; i < n; i++)
                if (!got[i]) proto_put_str(&c->p.wb, T_TASK_ID, ids[i]);
            int prc = proto_finish(&c->p.wb);
            if (prc < 0) {
                rc = cli_fail("too many tasks to wait for in one request: %s", cai_strerror(prc));
                goto out;
            }
            if (peer_send(&c->p) < 0) {
                if (redial(c) < 0) { rc = CLI_EXIT_WAITLOST; goto out; }
                continue;
            }
            sent = 1;
        }
        proto_msg m;
        int r = peer_recv(&c->p, &m, CLI_WAIT_IDLE_MS);
        if (r < 0) {
            /* Closed (a master restart), silent too long, or garbled:
             * dial again and wait for what is left. */
            if (redial(c) < 0) { rc = CLI_EXIT_WAITLOST; goto out; }
            sent = 0;
            continue;
        }
        if (m.type == PROTO_ERROR) {
            rc = cli_error_reply(c, &m);
            goto out;
        }
        if (m.type != PROTO_TASK_LIST) {
            rc = cli_fail("unexpected %s reply to WAIT", proto_type_name(m.type));
            goto out;
        }
        proto_field f;
        size_t it = 0;
        while (proto_next(&m, T_TASK, &it, &f)) {
            proto_msg sub;
            task_rec t;
            proto_rec_open(&f, &sub);
            if ((rc = cli_task_rec(&sub, &t)) != 0)
                goto out;
            for (size_t i = 0; i < n; i++)
                if (!got[i] && !strcmp(ids[i], t.task_id)) {
                    got[i] = 1;
                    code[i] = cli_wait_code(&t);
                    left--;
                    print_line(c, &t);
                    break;
                }
            task_rec_free(&t);
        }
    }
    /* Several tasks: 0 when every one completed, else the code of the
     * first (in the order given) that did not. */
    for (size_t i = 0; i < n; i++)
        if (got[i] == 1 && code[i] != CLI_EXIT_OK) { rc = code[i]; break; }
out:
    free(code);
    free(got);
    return rc;
}

static const char about_wait[] =
    "Waits until every named task has ended, printing one line per task as it\n"
    "ends (ID NAME STATUS, exit CODE: reason); the master pushes each end, no\n"
    "polling. If the connection drops (a master restart) it reconnects for up\n"
    "to 60 s and goes on waiting.\n"
    "Exit code, one task: 0 completed; its own exit code (1..255) when it\n"
    "failed with one; 121 it failed without an exit code of its own (could not\n"
    "start: image missing, bad parameters; or its output was refused); 122\n"
    "cancelled; 123 lost (its worker was lost max_attempts times); 120 the wait\n"
    "itself failed (no master within 60 s). Several tasks: 0 when all\n"
    "completed, else the code of the first task, in the order given, that did\n"
    "not. 1: a task is unknown (or not yours), nothing waited for.\n"
    "An ARRAY_ID (from -array) stands for all its tasks, in index order.";

int cli_verb_wait(cli_ctx *c, int argc, char **argv)
{
    const char *name = NULL;
    latest_pick lp;
    args_spec specs[] = {
        {"json", ARGS_BOOL, &c->json, NULL, NULL, "print each ended task as a JSON object line"},
        {"name", ARGS_STR, &name, NULL, "NAME", "instead of TASK_ID: the newest run named NAME"},
        CLI_SPEC_MASTER(c), CLI_SPEC_USER(c), CLI_SPEC_TOKEN(c),
    };
    char **pos = calloc((size_t)argc + 1, sizeof *pos);
    args_result r;
    if (!pos) return cli_fail("out of memory");
    int rc = cli_parse(c, specs, sizeof specs / sizeof specs[0], argc, argv, pos, 0, argc, &r,
                       "wait TASK_ID|ARRAY_ID...   |   wait -name NAME", about_wait);
    if (rc >= 0) goto out;
    rc = CLI_EXIT_USAGE;
    if (r.dashdash) {
        cli_usage_error(c, "unexpected '--'");
        goto out;
    }
    if (name ? r.npos != 0 : r.npos < 1) {
        cli_usage_error(c, name ? "give -name NAME or TASK_IDs, not both" : "missing TASK_ID "
                        "(or -name NAME)");
        goto out;
    }
    if (name) {
        if ((rc = cli_named_run(c, "name", name, 1, &lp)) != 0)
            goto out;
        pos[0] = lp.task_id;
        r.npos = 1;
    }
    for (int i = 0; i < r.npos; i++)
        if ((rc = cli_check_task_id(c, pos[i])) != 0)
            goto out;
    if (r.npos > 1)
        c->asked_id = NULL;   /* which one was not found: the master's message says */
    if ((rc = cli_connect(c)) != 0) goto out;
    rc = cli_wait_ids(c, pos, (size_t)r.npos);
    cli_disconnect(c);
out:
    free(pos);
    return rc;
}

int cli_wait_ids(cli_ctx *c, char *const *args, size_t nargs)
{
    char **all = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    for (size_t i = 0; i < nargs && rc == 0; i++) {
        char **ids = NULL, *one[1] = { args[i] };
        size_t k = 1;
        int arr = !strncmp(args[i], "array-", 6);
        if (arr && (rc = cli_array_ids(c, args[i], &ids, &k)) != 0) break;
        if (n + k > cap) {
            size_t nc = (n + k) * 2;
            char **na = realloc(all, nc * sizeof *na);
            if (!na) { rc = cli_fail("out of memory"); }
            else { all = na; cap = nc; }
        }
        for (size_t j = 0; j < k; j++) {
            char *id = strdup(arr ? ids[j] : one[0]);
            if (rc == 0 && id) all[n++] = id;
            else free(id);
            if (arr) free(ids[j]);
        }
        free(ids);
    }
    if (rc == 0) rc = cli_wait_run(c, all, n);
    for (size_t i = 0; i < n; i++) free(all[i]);
    free(all);
    return rc;
}
