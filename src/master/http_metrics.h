/* http_metrics.h — what /metrics is told rather than reads from the task
 * records or a module's own counters (upload_stats_get). */
#ifndef CLOUDAI_HTTP_METRICS_H
#define CLOUDAI_HTTP_METRICS_H
/* The input store whose counters /metrics shows (NULL = none). */
struct instore;
void http_metrics_set_instore(struct instore *ins);
#endif
