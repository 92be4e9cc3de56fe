/* cli_input.h — the client's side of `task -input` (cli_input.c). */
#ifndef CLOUDAI_CLI_INPUT_H
#define CLOUDAI_CLI_INPUT_H
#include "cli_int.h"

typedef struct cli_inputs {
    task_input in[TASK_INPUTS_MAX];     /* dest, source owned */
    char *local[TASK_INPUTS_MAX];       /* local path, NULL for task:ID */
    int n;
} cli_inputs;

/* Parses every -input value, hashes local files and directories and
 * checks the destinations; 0, or -1 with err (nothing held then). Runs
 * before connecting: a missing path costs no connection. */
int cli_inputs_prepare(const args_list *specs, cli_inputs *out, char *err, size_t errcap);
/* On a connected ctx: INPUT_QUERY, then INPUT_PUT of what the master
 * lacks. 0, or a CLI_EXIT_* code (the error printed). quiet: no progress
 * lines on stderr. */
int cli_inputs_send(cli_ctx *c, cli_inputs *in, int quiet);
void cli_inputs_free(cli_inputs *in);
#endif
