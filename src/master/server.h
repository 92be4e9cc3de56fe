/* server.h — the master's TCP front: accepts workers and clients, runs
 * the handshake, and dispatches their frames (one table, one dispatch
 * point). Concurrency: one thread per connection, bounded by
 * [limits] max_connections; see README "Concurrency". */
#ifndef CLOUDAI_SERVER_H
#define CLOUDAI_SERVER_H
#include "cluster.h"
#include "retention.h"
#include "upload.h"

typedef struct server server;

/* Binds cfg->listen; bound receives the actual "host:port". */
server *server_new(const config *cfg, cluster *cl, uploads *up, char *bound, size_t boundcap,
                   char *err, size_t errcap);
/* Added for PIN and EXPIRES_AT: the retention object (NULL = none) that
 * PIN changes and list replies read expiry from. Call before server_run;
 * rt must outlive the server. */
void server_set_retention(server *s, retention *rt);
/* Accept loop; returns when server_stop is called. */
int server_run(server *s);
void server_stop(server *s);
void server_free(server *s);
#endif
