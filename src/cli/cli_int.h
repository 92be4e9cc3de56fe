/* cli_int.h — what the verb files of src/cli share (not a public header).
 * One cli_ctx per verb invocation, on the caller's stack. */
#ifndef CLOUDAI_CLI_INT_H
#define CLOUDAI_CLI_INT_H
#include <stdint.h>
#include "args.h"
#include "cli.h"
#include "jsonw.h"
#include "peer.h"
#include "records.h"

#define CLI_CONNECT_MS 5000       /* connect + handshake */
#define CLI_HANDSHAKE_TRIES 4     /* a handshake the master cut short: tries in all */
#define CLI_REPLY_MS 30000        /* wait for a reply frame */
#define CLI_STREAM_MS 120000      /* wait between GET_FILE chunks */
#define CLI_POS_MAX 8             /* positional words any verb takes */

typedef struct cli_ctx {
    const char *verb;
    const char *default_master;
    const char *master, *user, *token;   /* flags/global options; resolved by cli_connect */
    int json;
    peer p;
    int connected;
    const char *asked_id; /* the TASK_ID argument (cli_check_task_id), for a hint */
} cli_ctx;

/* Flags every verb takes; `user` is identity except in tasks/files, where
 * -user is a filter and identity comes from the global flag or env. */
#define CLI_SPEC_MASTER(c) {"master", ARGS_STR, &(c)->master, NULL, "HOST:PORT", \
    "master address (else $CLOUDAI_MASTER, else 127.0.0.1:7070)"}
#define CLI_SPEC_TOKEN(c) {"token", ARGS_STR, &(c)->token, NULL, "T", \
    "user token (else $CLOUDAI_TOKEN, else none)"}
#define CLI_SPEC_USER(c) {"user", ARGS_STR, &(c)->user, NULL, "U", \
    "act as user U (else $CLOUDAI_USER, else $USER)"}
#define CLI_SPEC_JSON(c) {"json", ARGS_BOOL, &(c)->json, NULL, NULL, \
    "print a JSON array of objects (field names: README \"Record fields\") for scripts"}

/* Prints "cloudai: <msg>" to stderr; returns CLI_EXIT_ERROR. */
int cli_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Decodes a task record the master sent into t (initialised here): 0, or
 * the failure (said once) with t already freed. */
int cli_task_rec(const proto_msg *rec, task_rec *t);
/* Prints "cloudai VERB: <msg>" and a pointer to --help; returns CLI_EXIT_USAGE. */
int cli_usage_error(const cli_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A task id argument: 0 if it can be one (1-63 bytes), else the usage
 * error (said once). Remembered: a NOT_FOUND for an id that is not
 * shaped like one ("task-...") then hints at -name. */
int cli_check_task_id(cli_ctx *c, const char *id);
/* Parses a verb's words; on help prints usage to stdout. Returns -1 to go
 * on, else the exit code to return (0 after help, 2 on a bad flag). */
int cli_parse(cli_ctx *c, const args_spec *specs, size_t n, int argc, char **argv,
              char **pos, int minpos, int maxpos, args_result *r,
              const char *synopsis, const char *about);
/* Resolves master/user/token and connects; prints the error itself.
 * 0 or CLI_EXIT_ERROR. */
int cli_connect(cli_ctx *c);
void cli_disconnect(cli_ctx *c);
/* Sends c->p.wb, receives the first reply into m. An ERROR reply, a
 * closed connection or a timeout is printed; returns 0 or CLI_EXIT_ERROR. */
int cli_request(cli_ctx *c, proto_msg *m);
/* An ERROR reply said (with a hint when a name was given for an id);
 * returns CLI_EXIT_ERROR. */
int cli_error_reply(const cli_ctx *c, const proto_msg *m);
/* Receives a further reply frame (lists, streams); same contract. */
int cli_recv(cli_ctx *c, proto_msg *m, int idle_ms);

/* The verbs: argv[0] is the verb. Each returns a CLI_EXIT_* code. */
int cli_verb_submit(cli_ctx *c, int argc, char **argv, int dispatch);
int cli_verb_tasks(cli_ctx *c, int argc, char **argv);
int cli_verb_workers(cli_ctx *c, int argc, char **argv);
int cli_verb_status(cli_ctx *c, int argc, char **argv);
int cli_verb_files(cli_ctx *c, int argc, char **argv);
/* The newest finished run named name (of user, NULL: the caller's): 0 with
 * l filled, else the error was printed and its exit code returned. */
typedef struct latest_pick {
    char task_id[64];
    uint64_t submitted_at;
    int found;
    int any;              /* any status, not only finished runs */
} latest_pick;
/* The newest finished run named name; the failure said once. */
int cli_find_latest(cli_ctx *c, const char *name, const char *user, latest_pick *l);
/* A verb's -FLAG NAME in place of TASK_ID: the newest (finished, unless
 * any) run of the caller's named so, said on stderr; 0, or the exit code
 * (a glob is a usage error), said once. Connects and disconnects. */
int cli_named_run(cli_ctx *c, const char *flag, const char *name, int any, latest_pick *l);
/* On a connected c: the ids of the caller's runs named name that have not
 * ended (queued to uploading), in listing order; *ids is the caller's to
 * free. */
int cli_open_runs(cli_ctx *c, const char *name, char (**ids)[64], size_t *n);
int cli_verb_get(cli_ctx *c, int argc, char **argv);
int cli_verb_wait(cli_ctx *c, int argc, char **argv);
/* On a connected c: waits for ids (cli_wait.c), printing a line per task
 * as it ends; returns the exit code of the rule in cli.h. */
int cli_wait_run(cli_ctx *c, char *const *ids, size_t n);
/* The same for words that are task ids or array ids (expanded). */
int cli_wait_ids(cli_ctx *c, char *const *args, size_t nargs);
/* The exit code for one ended task (cli.h). */
int cli_wait_code(const task_rec *t);
/* On a connected c: the task ids of an -array, in index order (malloc'd
 * list of malloc'd strings); CLI_EXIT_ERROR (printed) when none. */
int cli_array_ids(cli_ctx *c, const char *array_id, char ***ids, size_t *n);
int cli_verb_logs(cli_ctx *c, int argc, char **argv);

/* Records as JSON objects (README "Record fields"); times are unix
 * milliseconds, unset times and unknown exit codes are null. */
void cli_json_task(jsonw *w, const task_rec *t);
void cli_json_file(jsonw *w, const file_rec *f);
void cli_json_worker(jsonw *w, const worker_rec *wr);
#endif
