/* swf.h — one line of the Standard Workload Format (Parallel Workloads
 * Archive): 18 whitespace-separated numbers, -1 = unknown; lines starting
 * with ';' are header comments. */
#ifndef CLOUDAI_SWF_H
#define CLOUDAI_SWF_H
#include <stddef.h>

#define SWF_FIELDS 18
#define SWF_LINE_MAX 4096

/* Parses line[0..len) (no NUL needed) into v. Returns 1 for a job line,
 * 0 for a comment or blank line, -1 for anything else (too few fields,
 * garbage, a line over SWF_LINE_MAX, a number that is not finite). */
int swf_parse_line(const char *line, size_t len, double v[SWF_FIELDS]);
#endif
