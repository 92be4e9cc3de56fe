/* swf.c — the SWF line parser (swf.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "swf.h"

int swf_parse_line(const char *line, size_t len, double v[SWF_FIELDS])
{
    char buf[SWF_LINE_MAX + 1];
    size_t i = 0;
    while (i < len && (line[i] == ' ' || line[i] == '\t')) i++;
    if (i == len || line[i] == ';' || line[i] == '\n' || line[i] == '\r') return 0;
    if (len > SWF_LINE_MAX) return -1;
    memcpy(buf, line, len);
    buf[len] = 0;
    if (memchr(buf, 0, len)) return -1;      /* an embedded NUL is not text */
    char *p = buf + i, *e;
    for (int f = 0; f < SWF_FIELDS; f++) {
        while (*p == ' ' || *p == '\t') p++;
        /* strtod takes hex, inf and nan too; the format has decimals only */
        if (!(*p == '-' || *p == '+' || *p == '.' || (*p >= '0' && *p <= '9'))) return -1;
        v[f] = strtod(p, &e);
        if (e == p || !isfinite(v[f])) return -1;
        if (*e && *e != ' ' && *e != '\t' && *e != '\n' && *e != '\r') return -1;
        p = e;
    }
    return 1;
}
