/* cli_logs.c — `cloudai logs [-f] TASK_ID`: the whole log of a task, or
 * followed live (proto.txt 9.1). The master pushes LOG_DATA frames as the
 * worker streams them and ends with LOG_END; the verb prints whole lines
 * only, so two lines never run into each other on the terminal (a line
 * longer than LINE_MAX is printed in pieces). A follow whose connection
 * drops (a master restart) dials again for up to a minute and resumes at
 * the offset printed so far, so no line is doubled or lost. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "cli_int.h"

#define LINE_MAX_BYTES (64 * 1024)
#define FOLLOW_IDLE_MS 90000      /* the master sends a keepalive every 30 s */
#define FOLLOW_RECONNECT_S 60     /* after a drop (a master restart), as `wait` */

/* Dials the master again after a drop, for up to FOLLOW_RECONNECT_S; the
 * follow then resumes at the offset printed so far. 0 when connected. */
static int redial(cli_ctx *c)
{
    char err[512] = "";
    int delay = 250;
    time_t end = time(NULL) + FOLLOW_RECONNECT_S;
    cli_disconnect(c);
    fprintf(stderr, "cloudai: the connection to the master at %s was lost; reconnecting "
            "(up to %d s)\n", c->master, FOLLOW_RECONNECT_S);
    while (time(NULL) < end) {
        if (peer_connect(&c->p, c->master, PROTO_ROLE_CLIENT, c->user, c->token, CLI_CONNECT_MS,
                         err, sizeof err) == 0) {
            c->connected = 1;
            return 0;
        }
        struct timespec ts = { delay / 1000, (long)(delay % 1000) * 1000000L };
        nanosleep(&ts, NULL);
        delay = delay * 2 > 4000 ? 4000 : delay * 2;
    }
    cli_fail("could not reconnect to the master at %s within %d s: %s", c->master,
             FOLLOW_RECONNECT_S, err);
    return -1;
}

typedef struct linebuf {
    char *p;
    size_t len;
} linebuf;

/* Prints the complete lines of buf+data, keeps the partial last one. */
static int feed(linebuf *lb, const uint8_t *d, size_t n)
{
    while (n > 0) {
        const uint8_t *nl = memchr(d, '\n', n);
        size_t take = nl ? (size_t)(nl - d) + 1 : n;
        if (!nl && lb->len + take < LINE_MAX_BYTES) {
            memcpy(lb->p + lb->len, d, take);
            lb->len += take;
            return 0;
        }
        if (!nl) take = LINE_MAX_BYTES - lb->len;    /* an overlong line: print a piece */
        if (lb->len && fwrite(lb->p, 1, lb->len, stdout) != lb->len) return -1;
        if (fwrite(d, 1, take, stdout) != take) return -1;
        lb->len = 0;
        d += take;
        n -= take;
    }
    return fflush(stdout);
}

int cli_verb_logs(cli_ctx *c, int argc, char **argv)
{
    int follow = 0;
    const char *name = NULL, *id;
    latest_pick lp;
    args_spec specs[] = {CLI_SPEC_MASTER(c), CLI_SPEC_USER(c), CLI_SPEC_TOKEN(c),
                         {"f", ARGS_BOOL, &follow, NULL, NULL,
                          "follow: print the log as the task writes it, until the task ends; "
                          "exit with the task's exit code"},
                         {"name", ARGS_STR, &name, NULL, "NAME",
                          "instead of TASK_ID: the newest run named NAME, running or not"}};
    char *pos[CLI_POS_MAX];
    args_result r;
    proto_msg m;
    linebuf lb = { NULL, 0 };
    uint64_t off = 0;
    int rc = cli_parse(c, specs, sizeof specs / sizeof specs[0], argc, argv, pos, 0, 1, &r,
                       "logs [-f] TASK_ID   |   logs [-f] -name NAME",
                       "Prints a task's whole log (stdout and stderr, as written).\n"
                       "With -f, follows it while the task runs and ends when the task ends,\n"
                       "with the task's exit code, as `wait` (121 it did not start, 122\n"
                       "cancelled, 123 lost; 120 no master within 60 s after the connection\n"
                       "dropped: it reconnects and resumes where it was).");
    if (rc >= 0)
        return rc;
    if (r.dashdash)
        return cli_usage_error(c, "unexpected '--'");
    if (name ? r.npos != 0 : r.npos != 1)
        return cli_usage_error(c, name ? "give -name NAME or a TASK_ID, not both" : "missing TASK_ID "
                               "(or -name NAME)");
    if (name) {
        if ((rc = cli_named_run(c, "name", name, 1, &lp)) != 0)
            return rc;
        id = lp.task_id;
    } else {
        id = pos[0];
        if ((rc = cli_check_task_id(c, id)) != 0)
            return rc;
    }
    if (!(lb.p = malloc(LINE_MAX_BYTES)))
        return cli_fail("out of memory");
    if ((rc = cli_connect(c)) != 0)
        goto out;
    for (int sent = 0;;) {
        if (!sent) {
            /* From the start, or after a reconnect from where we are. */
            proto_begin(&c->p.wb, PROTO_GET_LOG, 0);
            proto_put_str(&c->p.wb, T_TASK_ID, id);
            proto_put_u64(&c->p.wb, T_OFFSET, off);
            if (follow) proto_put_u64(&c->p.wb, T_FOLLOW, 1);
            if (!follow) {
                if ((rc = cli_request(c, &m)) != 0) goto out;
            } else if (proto_finish(&c->p.wb) < 0 || peer_send(&c->p) < 0 ||
                       peer_recv(&c->p, &m, FOLLOW_IDLE_MS) < 0) {
                if (redial(c) < 0) { rc = CLI_EXIT_WAITLOST; goto out; }
                continue;
            }
            sent = 1;
        }
        if (m.type == PROTO_ERROR) {
            char err[1200];
            peer_error_text(&m, err, sizeof err);
            rc = cli_fail("%s", err);
            goto out;
        }
        if (m.type == PROTO_LOG_DATA) {
            proto_field f;
            uint64_t at = 0;
            proto_u64(&m, T_OFFSET, &at);
            if (at < off) {
                /* A new attempt started over (the task was re-queued). */
                static const char again[] = "\n[cloudai: the task started again]\n";
                if (feed(&lb, (const uint8_t *)again, sizeof again - 1) < 0)
                    goto wfail;
            }
            if (proto_get(&m, T_DATA, &f) == 0 && feed(&lb, f.p, f.len) < 0)
                goto wfail;
            off = at + (proto_get(&m, T_DATA, &f) == 0 ? f.len : 0);
        } else if (m.type == PROTO_LOG_END) {
            uint64_t st = 0;
            int64_t code = -1;
            char msg[4200] = "";
            task_rec tr;
            task_rec_init(&tr);
            proto_u64(&m, T_STATUS, &st);
            proto_i64(&m, T_EXIT_CODE, &code);
            proto_str(&m, T_MESSAGE, msg, sizeof msg);
            proto_str(&m, T_ERROR, tr.error, sizeof tr.error);
            if (lb.len && (fwrite(lb.p, 1, lb.len, stdout) != lb.len || fputc('\n', stdout) == EOF))
                goto wfail;
            lb.len = 0;
            if (fflush(stdout) != 0)
                goto wfail;
            if (msg[0]) fprintf(stderr, "cloudai: task %s: %s\n", id, msg);
            if (!off && !follow)
                fprintf(stderr, st >= PROTO_ST_UPLOADING
                        ? "cloudai: task %s printed nothing (%s)\n"   /* ended: there never will be */
                        : "cloudai: task %s has no log yet (%s)\n", id, proto_status_name(st));
            /* The exit code of `wait` (cli.h); a task whose output is still
             * being stored has ended with its exit code. */
            tr.status = (int)st;
            tr.exit_code = code;
            if (st == PROTO_ST_UPLOADING)
                tr.status = code == 0 ? PROTO_ST_COMPLETED : PROTO_ST_FAILED;
            rc = follow ? cli_wait_code(&tr) : 0;
            if (follow && code < 0)
                fprintf(stderr, "cloudai: task %s ended %s without an exit code%s%s\n", id,
                        proto_status_name(st), tr.error[0] ? ": " : "", tr.error);
            task_rec_free(&tr);
            goto out;
        } else {
            rc = cli_fail("unexpected %s reply to GET_LOG", proto_type_name(m.type));
            goto out;
        }
        if (!follow) {
            if ((rc = cli_recv(c, &m, CLI_STREAM_MS)) != 0) goto out;
        } else if (peer_recv(&c->p, &m, FOLLOW_IDLE_MS) < 0) {
            if (redial(c) < 0) { rc = CLI_EXIT_WAITLOST; goto out; }
            sent = 0;
        }
    }
wfail:
    rc = cli_fail("writing output: %s", strerror(errno));
out:
    free(lb.p);
    if (c->connected) cli_disconnect(c);
    return rc;
}
