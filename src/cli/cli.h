/* cli.h — the client verbs, shared by the `cloudai` program and the
 * master's console: task, dispatch, tasks, workers, files, get, logs,
 * cancel, help. Output goes to stdout, one clear line per error to stderr
 * ("cloudai: ..."). Nothing here calls exit() or keeps state between
 * calls, so the console may call these once per typed line. Not
 * thread-safe against concurrent calls that share stdout (the only shared
 * state); otherwise reentrant. */
#ifndef CLOUDAI_CLI_H
#define CLOUDAI_CLI_H
#include <stdio.h>

#define CLI_EXIT_OK 0
#define CLI_EXIT_ERROR 1     /* the master said no, or I/O failed */
#define CLI_EXIT_USAGE 2     /* bad flags or arguments */
/* `wait` and `task -wait` (README "Waiting for tasks"): a task that
 * completed is 0, one that failed with an exit code of its own exits with
 * it (1..255); these say how the others ended. Several tasks: 0 when all
 * completed, else the code of the first, in the order given, that did not. */
#define CLI_EXIT_WAITLOST 120   /* the wait failed: no master within 60 s */
#define CLI_EXIT_NOSTART 121    /* failed without an exit code (never started, output refused) */
#define CLI_EXIT_CANCELLED 122
#define CLI_EXIT_LOST 123       /* given up after its worker was lost max_attempts times */

#define CLI_DEFAULT_MASTER "127.0.0.1:7070"
#define CLOUDAI_VERSION "0.9.0"

/* Runs one verb: argv[0] is the verb, the rest its words (flags may also
 * name -master, -user, -token). The master address comes from -master,
 * else $CLOUDAI_MASTER, else default_master (NULL = CLI_DEFAULT_MASTER);
 * the user from -user, else $CLOUDAI_USER, else $USER, else "local"; the
 * token from -token, else $CLOUDAI_TOKEN, else "". Returns a CLI_EXIT_*
 * code. argv is not modified. */
int cli_main(int argc, char **argv, const char *default_master);

/* Added for main.c's global flags (cloudai -master M -user U VERB ...):
 * values given here win over the environment, flags after the verb win
 * over these. Any field may be NULL. */
typedef struct cli_opts {
    const char *default_master;
    const char *master;
    const char *user;
    const char *token;
} cli_opts;
int cli_run(int argc, char **argv, const cli_opts *o);

/* Splits a console line in place into at most max words: blanks separate
 * words; '...' quotes literally; "..." quotes with \" and \\ escapes; a
 * backslash outside quotes escapes the next byte; adjacent pieces join
 * ("a'b c'" is one word). Returns the word count, or -1 for an
 * unterminated quote or a trailing backslash, -2 for more than max words.
 * argv[i] point into line, which must stay alive. */
int cli_split(char *line, char **argv, int max);

/* The overview printed by `cloudai help` (and the console's help). */
void cli_usage(FILE *out);
#endif
