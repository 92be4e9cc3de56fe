/* t.h — the tiny unit-test harness. Each test binary prints one line per
 * check group: "ok - name", "not ok - name: why" or "skip - name: why";
 * tests/run.sh counts them. */
#ifndef T_H
#define T_H
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int t_failed_now, t_fail_total, t_pass_total;

#define T_CHECK(cond) do { if (!(cond)) { \
    fprintf(stdout, "#   %s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
    t_failed_now = 1; } } while (0)
#define T_EQ_INT(a, b) do { long long _a = (long long)(a), _b = (long long)(b); if (_a != _b) { \
    fprintf(stdout, "#   %s:%d: %s == %lld, expected %s == %lld\n", __FILE__, __LINE__, #a, _a, #b, _b); \
    t_failed_now = 1; } } while (0)
#define T_EQ_STR(a, b) do { const char *_a = (a), *_b = (b); if (!_a || !_b || strcmp(_a, _b)) { \
    fprintf(stdout, "#   %s:%d: %s == \"%s\", expected \"%s\"\n", __FILE__, __LINE__, #a, _a ? _a : "(null)", _b ? _b : "(null)"); \
    t_failed_now = 1; } } while (0)

/* Run one test function; it reports through T_CHECK. */
#define T_RUN(fn) do { t_failed_now = 0; fn(); \
    if (t_failed_now) { t_fail_total++; printf("not ok - %s\n", #fn); } \
    else { t_pass_total++; printf("ok - %s\n", #fn); } fflush(stdout); } while (0)
#define T_SKIP(fn, why) do { printf("skip - %s: %s\n", #fn, why); } while (0)
#define T_DONE() (t_fail_total ? 1 : 0)
#endif
