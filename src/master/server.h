/* server.h — the master's TCP front: accepts workers and clients, runs
 * the handshake, and dispatches their frames (one table, one dispatch
 * point). Concurrency: one thread per connection, bounded by
 * [limits] max_connections; see README "Concurrency". */
#ifndef CLOUDAI_SERVER_H
#define CLOUDAI_SERVER_H
#include "cluster.h"
#include "retention.h"
#include "instore.h"
#include "upload.h"

typedef struct server server;

/* Binds cfg->listen; bound receives the actual "host:port". */
server *server_new(const config *cfg, cluster *cl, uploads *up, char *bound, size_t boundcap,
                   char *err, size_t errcap);
/* Added for PIN and EXPIRES_AT: the retention object (NULL = none) that
 * PIN changes and list replies read expiry from. Call before server_run;
 * rt must outlive the server. */
void server_set_retention(server *s, retention *rt);
/* The input store (NULL = inputs refused); as server_set_retention. */
void server_set_instore(server *s, instore *ins);
/* Checks a client's path below a stored run's directory before anything
 * is read: relative, and reached beneath t's run without following a
 * symbolic link (store_open). 0, or CAI_E_WIRE(PROTO_ERR_NOT_FOUND or
 * PROTO_ERR_BAD_REQUEST) with err filled. For GET_FILE and task:ID/PATH
 * inputs. */
int server_check_sub(const config *cfg, const task_rec *t, const char *sub, char *err,
                     size_t errcap);
/* Accept loop; returns when server_stop is called. */
int server_run(server *s);
/* Stops accepting and shuts every connection's socket down (their
 * threads end after the request in hand). Any thread; idempotent. */
void server_stop(server *s);
/* server_stop, then waits for every connection thread to let go of the
 * server (bounded: SERVER_FREE_WAIT_S, then it is left allocated), then
 * frees it. Call after server_run returned, before freeing the cluster
 * and uploads the connections use. */
void server_free(server *s);
#endif
