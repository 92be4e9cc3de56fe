/* cli.c — verb dispatch, the connection to the master, console line
 * splitting, help, and the one-frame verbs (cancel, pin, unpin). */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "cli_int.h"
#include "ids.h"

int cli_fail(const char *fmt, ...)
{
    va_list ap;
    fputs("cloudai: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return CLI_EXIT_ERROR;
}

int cli_usage_error(const cli_ctx *c, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "cloudai %s: ", c->verb);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nRun 'cloudai %s --help' for usage.\n", c->verb);
    return CLI_EXIT_USAGE;
}

int cli_parse(cli_ctx *c, const args_spec *specs, size_t n, int argc, char **argv,
              char **pos, int minpos, int maxpos, args_result *r,
              const char *synopsis, const char *about)
{
    char err[512];
    if (args_parse(specs, n, argc - 1, argv + 1, pos, maxpos, r, err, sizeof err) < 0)
        return cli_usage_error(c, "%s", err);
    if (r->help) {
        printf("Usage: cloudai %s\n\n%s\n\nFlags:\n", synopsis, about);
        args_usage(stdout, specs, n);
        return CLI_EXIT_OK;
    }
    if (r->npos < minpos)
        return cli_usage_error(c, "missing arguments (usage: cloudai %s)", synopsis);
    return -1;
}

static const char *first_set(const char *a, const char *b, const char *c)
{
    if (a && *a)
        return a;
    if (b && *b)
        return b;
    return c;
}

int cli_connect(cli_ctx *c)
{
    char err[512];
    c->master = first_set(c->master, getenv("CLOUDAI_MASTER"),
                          first_set(c->default_master, NULL, CLI_DEFAULT_MASTER));
    c->user = first_set(c->user, getenv("CLOUDAI_USER"), first_set(getenv("USER"), NULL, "local"));
    c->token = first_set(c->token, getenv("CLOUDAI_TOKEN"), "");
    if (strlen(c->user) >= 64)
        return cli_fail("user name '%.20s...' is longer than 63 bytes", c->user);
    /* A burst of clients (a script submitting in parallel on a busy
     * machine) can outgrow the master's handshake budget, and over it the
     * master closes the oldest pending handshakes: a handshake cut short
     * is tried again, a few times, after a jittered pause. */
    int rc;
    for (int attempt = 1;; attempt++) {
        rc = peer_connect(&c->p, c->master, PROTO_ROLE_CLIENT, c->user, c->token, CLI_CONNECT_MS,
                          err, sizeof err);
        if (rc != -ECONNRESET || attempt == CLI_HANDSHAKE_TRIES)
            break;
        long base = 100L << (attempt - 1);                 /* 100, 200, 400 ms ... */
        long ms = base + (long)(((unsigned)getpid() * 2654435761u + (unsigned)attempt * 40503u) % (unsigned)base);
        struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
        nanosleep(&ts, NULL);
    }
    if (rc < 0) {
        if (rc == -ECONNRESET)
            return cli_fail("%s (tried %d times)", err, CLI_HANDSHAKE_TRIES);
        if (!strncmp(err, "cannot connect", 14))
            return cli_fail("%s (is ./master running? set -master or CLOUDAI_MASTER)", err);
        /* Which identity was refused: the user may come from $USER unseen. */
        if (strstr(err, "AUTH"))
            return cli_fail("%s; tried as user '%s' (set -user or CLOUDAI_USER, and -token or "
                            "CLOUDAI_TOKEN)", err, c->user);
        return cli_fail("%s", err);
    }
    c->connected = 1;
    return 0;
}

void cli_disconnect(cli_ctx *c)
{
    if (c->connected)
        peer_close(&c->p);
    c->connected = 0;
}

int cli_error_reply(const cli_ctx *c, const proto_msg *m)
{
    char err[1200];
    uint64_t code = 0;
    peer_error_text(m, err, sizeof err);
    int rc = cli_fail("%s", err);
    proto_u64(m, T_CODE, &code);
    /* A first try often names the task ("hello"), not its id. */
    if (code == PROTO_ERR_NOT_FOUND && c->asked_id && strncmp(c->asked_id, "task-", 5)) {
        const char *id = c->asked_id;
        fprintf(stderr, "cloudai: '%s' is not a task id (ids look like task-1796317547-ccf62a593a4d); "
                "`cloudai tasks -name %s` lists the runs of that name", id, id);
        if (!strcmp(c->verb, "get") || !strcmp(c->verb, "logs"))
            fprintf(stderr, ", `cloudai %s -name %s` takes the newest", c->verb, id);
        fputc('\n', stderr);
    }
    return rc;
}

int cli_recv(cli_ctx *c, proto_msg *m, int idle_ms)
{
    int rc = peer_recv(&c->p, m, idle_ms);
    if (rc == -EPIPE)
        return cli_fail("master at %s closed the connection", c->master);
    if (rc == -ETIMEDOUT)
        return cli_fail("master at %s did not answer within %d s", c->master, idle_ms / 1000);
    if (rc < 0)
        return cli_fail("reading from master at %s: %s", c->master,
                        cai_strerror(rc));
    if (m->type == PROTO_ERROR)
        return cli_error_reply(c, m);
    return 0;
}

int cli_request(cli_ctx *c, proto_msg *m)
{
    int rc = proto_finish(&c->p.wb);
    if (rc < 0)
        return cli_fail("request too large: %s", cai_strerror(rc));
    if ((rc = peer_send(&c->p)) < 0)
        return cli_fail("sending to master at %s: %s", c->master, cai_strerror(rc));
    return cli_recv(c, m, CLI_REPLY_MS);
}

/* One CANCEL frame for id on a connected c, one OK back; the master's
 * answer printed after prefix. */
static int cancel_one(cli_ctx *c, const char *id, const char *prefix, int *answered)
{
    proto_msg m;
    char msg[4200] = "";
    m.type = 0;
    proto_begin(&c->p.wb, PROTO_CANCEL, 0);
    proto_put_str(&c->p.wb, T_TASK_ID, id);
    int rc = cli_request(c, &m);
    *answered = rc == 0 || m.type == PROTO_ERROR;   /* the connection goes on */
    if (rc != 0)
        return rc;
    if (m.type != PROTO_OK)
        return cli_fail("unexpected %s reply to CANCEL", proto_type_name(m.type));
    proto_str(&m, T_MESSAGE, msg, sizeof msg);
    printf("%s%s\n", prefix, msg[0] ? msg : "Cancel requested");
    return 0;
}

/* cancel: by id, or every run of a name that has not ended (as Slurm's
 * `scancel --name`: a name resubmitted while its first run still goes
 * has two, and a user stopping "train" means both). (logs: cli_logs.c.) */
static int cancel_verb(cli_ctx *c, int argc, char **argv)
{
    const char *name = NULL;
    args_spec specs[] = {CLI_SPEC_MASTER(c), CLI_SPEC_USER(c), CLI_SPEC_TOKEN(c),
                         {"name", ARGS_STR, &name, NULL, "NAME",
                          "instead of TASK_ID: every queued or running run of yours named NAME"}};
    char *pos[CLI_POS_MAX];
    char (*ids)[64] = NULL;
    size_t n = 0;
    int answered = 0;
    args_result r;
    int rc = cli_parse(c, specs, sizeof specs / sizeof specs[0], argc, argv, pos, 0, 1, &r,
                       "cancel TASK_ID   |   cancel -name NAME",
                       "Cancels a queued or running task; its container is stopped.\n"
                       "With -name, cancels every run of yours named NAME that has not ended.");
    if (rc >= 0)
        return rc;
    if (r.dashdash)
        return cli_usage_error(c, "unexpected '--'");
    if (name ? r.npos != 0 : r.npos != 1)
        return cli_usage_error(c, name ? "give -name NAME or a TASK_ID, not both"
                                       : "missing TASK_ID (or -name NAME)");
    if (name && (!*name || strpbrk(name, "*?[")))
        return cli_usage_error(c, "-name takes a task name, not a glob");
    if (!name && (rc = cli_check_task_id(c, pos[0])) != 0)
        return rc;
    if ((rc = cli_connect(c)) != 0)
        return rc;
    if (!name) {
        rc = cancel_one(c, pos[0], "", &answered);
        goto out;
    }
    if ((rc = cli_open_runs(c, name, &ids, &n)) != 0)
        goto out;
    if (n == 0) {
        rc = cli_fail("no queued or running run named '%s'", name);
        goto out;
    }
    /* A run that ended since the listing is refused alone; the rest go on. */
    answered = 1;
    for (size_t i = 0; i < n && answered; i++) {
        char prefix[80];
        snprintf(prefix, sizeof prefix, "%s: ", ids[i]);
        int one = cancel_one(c, ids[i], prefix, &answered);
        if (rc == 0) rc = one;
    }
out:
    if (fflush(stdout) != 0 && rc == 0)
        rc = cli_fail("writing output: %s", strerror(errno));
    free(ids);
    cli_disconnect(c);
    return rc;
}

/* pin / unpin: one PIN frame; the reply says when the run now expires. */
static int pin_verb(cli_ctx *c, int argc, char **argv, int pin)
{
    args_spec specs[] = {CLI_SPEC_MASTER(c), CLI_SPEC_USER(c), CLI_SPEC_TOKEN(c)};
    char *pos[CLI_POS_MAX], when[64];
    args_result r;
    proto_msg m;
    uint64_t exp = 0;
    int has_exp;
    int rc = cli_parse(c, specs, sizeof specs / sizeof specs[0], argc, argv, pos, 1, 1, &r,
                       pin ? "pin TASK_ID" : "unpin TASK_ID",
                       pin ? "Pins a run: retention never removes its files, whatever its age.\n"
                             "Only the task's owner or an admin may pin it."
                           : "Unpins a run: retention's age rules apply to it again.\n"
                             "Only the task's owner or an admin may unpin it.");
    if (rc >= 0)
        return rc;
    if (r.dashdash)
        return cli_usage_error(c, "unexpected '--'");
    if ((rc = cli_check_task_id(c, pos[0])) != 0)
        return rc;
    if ((rc = cli_connect(c)) != 0)
        return rc;
    proto_begin(&c->p.wb, PROTO_PIN, 0);
    proto_put_str(&c->p.wb, T_TASK_ID, pos[0]);
    proto_put_u64(&c->p.wb, T_OK, (uint64_t)pin);
    if ((rc = cli_request(c, &m)) != 0)
        goto out;
    if (m.type != PROTO_OK) {
        rc = cli_fail("unexpected %s reply to PIN", proto_type_name(m.type));
        goto out;
    }
    has_exp = proto_u64(&m, T_EXPIRES_AT, &exp) == 0;
    if (pin) {
        printf("Pinned task %s: retention will not remove it\n", pos[0]);
    } else if (has_exp && exp) {
        ids_time_human(exp, when, sizeof when);
        printf("Unpinned task %s: it expires %s\n", pos[0], when);
    } else {
        printf("Unpinned task %s: %s\n", pos[0],
               has_exp ? "no retention rule applies to it (never expires)" : "done");
    }
    if (fflush(stdout) != 0)
        rc = cli_fail("writing output: %s", strerror(errno));
out:
    cli_disconnect(c);
    return rc;
}

void cli_usage(FILE *out)
{
    fputs("Usage: cloudai [-master HOST:PORT] [-user U] [-token T] VERB [flags]\n"
          "\n"
          "Verbs:\n"
          "  task IMAGE [flags] [-- ARGV...]        submit a task; the scheduler picks a worker\n"
          "  dispatch WORKER IMAGE [flags] [-- ..]  submit a task to a named worker\n"
          "  tasks [-status S] [-name N] ...        list tasks\n"
          "  workers                                list workers and their free resources\n"
          "  status                                 cluster summary: workers, queue, store, backends\n"
          "  files [-task ID | -name N | -latest N]  list stored output files and their expiry\n"
          "  get TASK_ID [DEST|-o DEST] [-path P]   download a task's files (or one file or\n"
          "                                         sub-directory) into DEST (./TASK_ID);\n"
          "                                         -latest NAME instead of TASK_ID: the newest run\n"
          "  logs [-f] TASK_ID | -name N            print a task's whole log; -f follows it live\n"
          "  cancel TASK_ID | -name N               cancel a queued or running task (-name: each run of N)\n"
          "  wait TASK_ID... | -name N              block until the tasks end; exit with their code\n"
          "  pin TASK_ID / unpin TASK_ID            keep a run from expiring / let it expire\n"
          "  help [VERB]                            this text, or a verb's flags\n"
          "\n"
          "The master is found from -master, else $CLOUDAI_MASTER, else 127.0.0.1:7070;\n"
          "the user from -user, else $CLOUDAI_USER, else $USER (in `tasks` and `files`,\n"
          "-user after the verb is a filter: put the identity before the verb); the\n"
          "token from -token, else $CLOUDAI_TOKEN (dev clusters need none).\n"
          "Listings take --json.\n"
          "Exit codes: 0 ok, 1 error from the master or I/O, 2 usage; `wait` and\n"
          "`task -wait`: the task's own (see `cloudai wait --help`).\n", out);
}

int cli_run(int argc, char **argv, const cli_opts *o)
{
    cli_ctx c;
    memset(&c, 0, sizeof c);
    if (argc < 1 || !argv[0]) {
        cli_usage(stderr);
        return CLI_EXIT_USAGE;
    }
    c.verb = argv[0];
    if (o) {
        c.default_master = o->default_master;
        c.master = o->master;
        c.user = o->user;
        c.token = o->token;
    }
    const char *v = argv[0];
    if (!strcmp(v, "help") || !strcmp(v, "-h") || !strcmp(v, "--help") || !strcmp(v, "-help")) {
        if (argc >= 2 && strcmp(argv[1], "help") != 0 && argv[1][0] != '-') {
            char *hv[2] = {argv[1], "--help"};
            return cli_run(2, hv, o);
        }
        cli_usage(stdout);
        return CLI_EXIT_OK;
    }
    if (!strcmp(v, "task"))
        return cli_verb_submit(&c, argc, argv, 0);
    if (!strcmp(v, "dispatch"))
        return cli_verb_submit(&c, argc, argv, 1);
    if (!strcmp(v, "tasks"))
        return cli_verb_tasks(&c, argc, argv);
    if (!strcmp(v, "workers"))
        return cli_verb_workers(&c, argc, argv);
    if (!strcmp(v, "status"))
        return cli_verb_status(&c, argc, argv);
    if (!strcmp(v, "files"))
        return cli_verb_files(&c, argc, argv);
    if (!strcmp(v, "get"))
        return cli_verb_get(&c, argc, argv);
    if (!strcmp(v, "logs"))
        return cli_verb_logs(&c, argc, argv);
    if (!strcmp(v, "cancel"))
        return cancel_verb(&c, argc, argv);
    if (!strcmp(v, "wait"))
        return cli_verb_wait(&c, argc, argv);
    if (!strcmp(v, "pin"))
        return pin_verb(&c, argc, argv, 1);
    if (!strcmp(v, "unpin"))
        return pin_verb(&c, argc, argv, 0);
    fprintf(stderr, "cloudai: unknown verb '%s'\n", v);
    fputs("Run 'cloudai help' for the list of verbs.\n", stderr);
    return CLI_EXIT_USAGE;
}

int cli_main(int argc, char **argv, const char *default_master)
{
    cli_opts o = {default_master, NULL, NULL, NULL};
    return cli_run(argc, argv, &o);
}

int cli_split(char *line, char **argv, int max)
{
    char *r = line, *w = line;
    int n = 0;
    for (;;) {
        while (*r == ' ' || *r == '\t' || *r == '\n' || *r == '\r')
            r++;
        if (*r == '\0')
            return n;
        if (n >= max)
            return -2;
        /* Words are rewritten in place: unquoting only ever shrinks, so
         * the write cursor never passes the read cursor. */
        argv[n++] = w;
        while (*r && *r != ' ' && *r != '\t' && *r != '\n' && *r != '\r') {
            if (*r == '\'') {
                for (r++; *r != '\''; r++) {
                    if (*r == '\0')
                        return -1;
                    *w++ = *r;
                }
                r++;
            } else if (*r == '"') {
                for (r++; *r != '"'; r++) {
                    if (*r == '\0')
                        return -1;
                    if (*r == '\\' && (r[1] == '"' || r[1] == '\\'))
                        r++;
                    *w++ = *r;
                }
                r++;
            } else if (*r == '\\') {
                if (r[1] == '\0')
                    return -1;
                *w++ = r[1];
                r += 2;
            } else {
                *w++ = *r++;
            }
        }
        /* r sits on a blank or the end; w <= r, so this NUL never hides
         * unread input except the blank already consumed. */
        int at_end = *r == '\0';
        *w++ = '\0';
        if (at_end)
            return n;
        r++;
    }
}

int cli_task_rec(const proto_msg *rec, task_rec *t)
{
    task_rec_init(t);
    if (task_rec_get(rec, t) < 0) {
        task_rec_free(t);
        return cli_fail("master sent a malformed task record");
    }
    return 0;
}

int cli_check_task_id(cli_ctx *c, const char *id)
{
    if (!*id || strlen(id) >= 64)
        return cli_usage_error(c, "'%.20s' is not a task id", id);
    c->asked_id = id;
    return 0;
}
