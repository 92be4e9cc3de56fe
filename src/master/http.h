/* http.h — the master's HTTP API and web file browser ([http] listen).
 * Served by libmicrohttpd (one thread per connection, bounded by
 * [limits] max_connections) next to the TCP server; it reads the same
 * cluster state and metadata store, so everything it shows is what the
 * `cloudai` client sees. Endpoints and their JSON are listed in the README
 * ("HTTP API"). */
#ifndef CLOUDAI_HTTP_H
#define CLOUDAI_HTTP_H
#include <stddef.h>
#include "cluster.h"
#include "retention.h"

typedef struct http_server http_server;

/* Starts listening on cfg->http_listen ("host:port", port 0 = any) and
 * serving at once from libmicrohttpd's own threads. bound receives the
 * address actually bound. cl and rt (may be NULL: no pins, no expiry)
 * must outlive the server. NULL with err filled on failure. */
http_server *http_start(const config *cfg, cluster *cl, retention *rt, char *bound,
                        size_t boundcap, char *err, size_t errcap);
/* Stops accepting, waits for the connections' threads, frees. NULL ok. */
void http_stop(http_server *h);
#endif
