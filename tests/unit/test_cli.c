/* test_cli.c — the client's parsing and formatting, and its exit codes
 * where no master is needed (test_cli_master.c covers the verbs against a
 * scripted master). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>
#include "t.h"
#include "auth.h"
#include "cli/args.h"
#include "cli/cli.h"
#include "cli/cli_progress.h"
#include "jsonw.h"
#include "cli/table.h"
#include "fsutil.h"
#include "hash.h"
#include "net.h"
#include "proto.h"
#include "records.h"
#include "tar.h"
#include "zchunk.h"

/* ---------- helpers ---------- */

static char *mem_out(void (*fn)(FILE *, void *), void *arg)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    fn(f, arg);
    fclose(f);
    return buf;
}

/* Runs cli_main with stdout and stderr captured into malloc'd strings. */
static int run_cli(char **out, char **err, int argc, char **argv)
{
    char tmpl_o[] = "/tmp/cli_outXXXXXX", tmpl_e[] = "/tmp/cli_errXXXXXX";
    int fo = mkstemp(tmpl_o), fe = mkstemp(tmpl_e);
    fflush(stdout);
    fflush(stderr);
    int so = dup(1), se = dup(2);
    dup2(fo, 1);
    dup2(fe, 2);
    int rc = cli_main(argc, argv, NULL);
    fflush(stdout);
    fflush(stderr);
    dup2(so, 1);
    dup2(se, 2);
    close(so);
    close(se);
    size_t n;
    fsutil_read_file(tmpl_o, out, &n, 1 << 20);
    fsutil_read_file(tmpl_e, err, &n, 1 << 20);
    close(fo);
    close(fe);
    unlink(tmpl_o);
    unlink(tmpl_e);
    return rc;
}

/* ---------- flag parsing ---------- */

typedef struct flags {
    const char *name;
    int json;
    uint64_t u, count, gib, t, secs;
    double cpu;
    int seen_name, seen_secs;
} flags;

#define SPECS(f) args_spec specs[] = { \
    {"name", ARGS_STR, &(f).name, &(f).seen_name, "N", "name"}, \
    {"json", ARGS_BOOL, &(f).json, NULL, NULL, "json"}, \
    {"gpu_cores", ARGS_U64, &(f).u, NULL, "G", "u64"}, \
    {"limit", ARGS_COUNT, &(f).count, NULL, "N", "count"}, \
    {"mem", ARGS_GIB, &(f).gib, NULL, "GB", "gib"}, \
    {"since", ARGS_TIME, &(f).t, NULL, "TIME", "time"}, \
    {"timeout", ARGS_SECONDS, &(f).secs, &(f).seen_secs, "S", "secs"}, \
    {"cpu_cores", ARGS_CPU, &(f).cpu, NULL, "C", "cpu"}, }
#define NSPECS (sizeof specs / sizeof specs[0])

static int parse(flags *f, int argc, char **argv, char **pos, int maxpos, args_result *r,
                 char *err)
{
    memset(f, 0, sizeof *f);
    SPECS(*f);
    return args_parse(specs, NSPECS, argc, argv, pos, maxpos, r, err, 256);
}

static void test_args_every_flag(void)
{
    flags f;
    char *pos[4], err[256];
    args_result r;
    char *av[] = {"alpine", "-name", "exp 1", "--json", "-gpu_cores=2", "--limit=5",
                  "-mem", "0.5", "extra", "-since", "2026-11-28", "-timeout", "5m",
                  "-cpu_cores", "1.5"};
    T_EQ_INT(parse(&f, 15, av, pos, 4, &r, err), 0);
    T_EQ_INT(r.npos, 2);
    T_EQ_STR(pos[0], "alpine");
    T_EQ_STR(pos[1], "extra");
    T_EQ_STR(f.name, "exp 1");
    T_EQ_INT(f.seen_name, 1);
    T_EQ_INT(f.json, 1);
    T_EQ_INT(f.u, 2);
    T_EQ_INT(f.count, 5);
    T_EQ_INT(f.gib, 512ull << 20);
    T_EQ_INT(f.t, 1795824000000ull);
    T_EQ_INT(f.secs, 300);
    T_EQ_INT(f.seen_secs, 1);
    T_CHECK(f.cpu == 1.5);
    T_EQ_INT(r.dashdash, 0);
    T_EQ_INT(r.help, 0);
    /* Last value wins; "-name=" gives an empty string. */
    char *av2[] = {"-name", "a", "-name=", "-mem", "512m", "-mem=2"};
    T_EQ_INT(parse(&f, 6, av2, pos, 4, &r, err), 0);
    T_EQ_STR(f.name, "");
    T_EQ_INT(f.gib, 2ull << 30);
    char *av3[] = {"x", "--help", "-bogus"};
    T_EQ_INT(parse(&f, 3, av3, pos, 4, &r, err), 0);
    T_EQ_INT(r.help, 1);
}

static void test_args_bad_numbers(void)
{
    flags f;
    char *pos[4], err[256];
    args_result r;
    static const char *bad[][2] = {
        {"-cpu_cores", "abc"}, {"-cpu_cores", "0"}, {"-cpu_cores", "-1"}, {"-cpu_cores", "nan"},
        {"-cpu_cores", "1e3"}, {"-cpu_cores", "0x10"}, {"-cpu_cores", "9999"}, {"-cpu_cores", ""},
        {"-cpu_cores", "1.2.3"}, {"-mem", "1.5x"}, {"-mem", "-1"}, {"-mem", ""}, {"-mem", "g"},
        {"-gpu_cores", "-1"}, {"-gpu_cores", "1.5"}, {"-gpu_cores", "18446744073709551616"},
        {"-gpu_cores", "2 "}, {"-limit", "0"}, {"-since", "yesterday"}, {"-timeout", "5x"},
        {"-timeout", "-5"}, {"-timeout", "s"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *av[] = {(char *)bad[i][0], (char *)bad[i][1]};
        int rc = parse(&f, 2, av, pos, 4, &r, err);
        if (rc != ARGS_E_VALUE)
            printf("#   %s '%s' -> %d\n", bad[i][0], bad[i][1], rc);
        T_EQ_INT(rc, ARGS_E_VALUE);
        T_CHECK(strstr(err, bad[i][0]) != NULL);
    }
    char *av[] = {"-gpu_cores", "18446744073709551615"};
    T_EQ_INT(parse(&f, 2, av, pos, 4, &r, err), 0);
    T_CHECK(f.u == UINT64_MAX);
}

static void test_args_missing_values(void)
{
    flags f;
    char *pos[1], err[256];
    args_result r;
    char *a1[] = {"img", "-name"};
    T_EQ_INT(parse(&f, 2, a1, pos, 1, &r, err), ARGS_E_MISSING);
    T_CHECK(strstr(err, "-name needs a value") != NULL);
    char *a2[] = {"-mem", "--", "x"};
    T_EQ_INT(parse(&f, 3, a2, pos, 1, &r, err), ARGS_E_MISSING);
    char *a3[] = {"-nosuch", "1"};
    T_EQ_INT(parse(&f, 2, a3, pos, 1, &r, err), ARGS_E_UNKNOWN);
    T_CHECK(strstr(err, "-nosuch") != NULL);
    char *a4[] = {"-json=1"};
    T_EQ_INT(parse(&f, 1, a4, pos, 1, &r, err), ARGS_E_NOVALUE);
    char *a5[] = {"a", "b"};
    T_EQ_INT(parse(&f, 2, a5, pos, 1, &r, err), ARGS_E_EXTRA);
    T_CHECK(strstr(err, "'b'") != NULL);
    char *a6[] = {"-"};      /* a lone dash is a word, not a flag */
    T_EQ_INT(parse(&f, 1, a6, pos, 1, &r, err), 0);
    T_EQ_INT(r.npos, 1);
}

static void test_args_dashdash(void)
{
    flags f;
    char *pos[2], err[256];
    args_result r;
    char *av[] = {"alpine", "-name", "n", "--", "sh", "-c", "echo 'a b'", "--", "-name"};
    T_EQ_INT(parse(&f, 9, av, pos, 2, &r, err), 0);
    T_EQ_INT(r.npos, 1);
    T_EQ_INT(r.dashdash, 1);
    T_EQ_INT(r.nrest, 5);
    T_EQ_STR(r.rest[0], "sh");
    T_EQ_STR(r.rest[2], "echo 'a b'");
    T_EQ_STR(r.rest[3], "--");
    T_EQ_STR(r.rest[4], "-name");
    T_EQ_STR(f.name, "n");
    char *av2[] = {"alpine", "--"};
    T_EQ_INT(parse(&f, 2, av2, pos, 2, &r, err), 0);
    T_EQ_INT(r.dashdash, 1);
    T_EQ_INT(r.nrest, 0);
}

static void test_value_parsers(void)
{
    uint64_t v;
    double d;
    T_EQ_INT(args_parse_gib("1", &v), 0); T_EQ_INT(v, 1ull << 30);
    T_EQ_INT(args_parse_gib("0.25", &v), 0); T_EQ_INT(v, 256ull << 20);
    T_EQ_INT(args_parse_gib("512m", &v), 0); T_EQ_INT(v, 512ull << 20);
    T_EQ_INT(args_parse_gib("2GiB", &v), 0); T_EQ_INT(v, 2ull << 30);
    T_EQ_INT(args_parse_gib("64k", &v), 0); T_EQ_INT(v, 64ull << 10);
    T_EQ_INT(args_parse_gib(".5", &v), ARGS_E_VALUE);
    T_EQ_INT(args_parse_gib("1,5", &v), ARGS_E_VALUE);
    T_EQ_INT(args_parse_seconds("90", &v), 0); T_EQ_INT(v, 90);
    T_EQ_INT(args_parse_seconds("2h", &v), 0); T_EQ_INT(v, 7200);
    T_EQ_INT(args_parse_seconds("1d", &v), 0); T_EQ_INT(v, 86400);
    T_EQ_INT(args_parse_seconds("", &v), ARGS_E_VALUE);
    T_EQ_INT(args_parse_cpu("0.5", &d), 0); T_CHECK(d == 0.5);
    T_EQ_INT(args_parse_cpu("4.", &d), 0); T_CHECK(d == 4.0);
    T_EQ_INT(args_parse_cpu(".", &d), ARGS_E_VALUE);
    T_EQ_INT(args_parse_u64("007", &v), 0); T_EQ_INT(v, 7);
    T_EQ_INT(args_parse_u64("+7", &v), ARGS_E_VALUE);
}

/* ---------- console splitting ---------- */

static void test_split(void)
{
    char *av[8];
    char l1[] = "  task alpine -cmd 'echo \"hi there\"'  -name  x\t";
    T_EQ_INT(cli_split(l1, av, 8), 6);
    T_EQ_STR(av[0], "task");
    T_EQ_STR(av[3], "echo \"hi there\"");
    T_EQ_STR(av[5], "x");
    char l2[] = "a\"b c\"d \"x\\\"y\\\\z\" '' \"\" e\\ f 'it'\\''s'";
    T_EQ_INT(cli_split(l2, av, 8), 6);
    T_EQ_STR(av[0], "ab cd");
    T_EQ_STR(av[1], "x\"y\\z");
    T_EQ_STR(av[2], "");
    T_EQ_STR(av[3], "");
    T_EQ_STR(av[4], "e f");
    T_EQ_STR(av[5], "it's");
    char l3[] = "a 'b";
    T_EQ_INT(cli_split(l3, av, 8), -1);
    char l4[] = "a \"b";
    T_EQ_INT(cli_split(l4, av, 8), -1);
    char l5[] = "a b\\";
    T_EQ_INT(cli_split(l5, av, 8), -1);
    char l6[] = "1 2 3";
    T_EQ_INT(cli_split(l6, av, 2), -2);
    char l7[] = "   ";
    T_EQ_INT(cli_split(l7, av, 8), 0);
    char l8[] = "'single \\ keeps' \"dbl \\n keeps\"";
    T_EQ_INT(cli_split(l8, av, 8), 2);
    T_EQ_STR(av[0], "single \\ keeps");
    T_EQ_STR(av[1], "dbl \\n keeps");
}

/* ---------- tables, sizes, JSON ---------- */

static void print_demo(FILE *f, void *arg)
{
    const char *heads[] = {"ID", "NAME", "BYTES"};
    table *t = table_new(3, heads);
    table_align_right(t, 2);
    table_row(t); table_set(t, 0, "task-1"); table_set(t, 1, "a"); table_set(t, 2, "1.0 KiB");
    table_row(t); table_set(t, 0, "t2"); table_set(t, 1, "h\xc3\xa9llo\x1b[2J"); table_set(t, 2, "9 B");
    table_note(t, "no worker\nfits");
    table_row(t); table_set(t, 0, "t3");
    T_EQ_INT(table_set(t, 3, "x"), -EINVAL);
    T_EQ_INT(table_nrows(t), 3);
    table_print(t, f);
    table_free(t);
}

static void test_table_alignment(void)
{
    char *s = mem_out(print_demo, NULL);
    T_EQ_STR(s, "ID      NAME         BYTES\n"
                "task-1  a          1.0 KiB\n"
                "t2      h\xc3\xa9llo?[2J      9 B\n"
                "    -> no worker?fits\n"
                "t3\n");
    free(s);
    const char *h[] = {"X"};
    T_CHECK(table_new(0, h) == NULL);
    T_EQ_INT(table_width("h\xc3\xa9"), 2);
    /* Terminal columns: CJK is two wide, a combining accent none. */
    T_EQ_INT(table_width("\xe6\xa8\xa1\xe5\x9e\x8b-\xe8\xae\xad\xe7\xbb\x83"), 9);
    T_EQ_INT(table_width("e\xcc\x81"), 1);
    T_EQ_INT(table_width("\xe4\xb8"), 2);
}

static void test_size_format(void)
{
    static const struct { uint64_t v; const char *s; } c[] = {
        {0, "0 B"}, {1023, "1023 B"}, {1024, "1.0 KiB"}, {1536, "1.5 KiB"},
        {512ull << 20, "512.0 MiB"}, {1ull << 30, "1.0 GiB"}, {(1ull << 20) - 1, "1.0 MiB"},
        {3ull << 40, "3.0 TiB"}, {UINT64_MAX, "16.0 EiB"},
    };
    char buf[32];
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        table_fmt_size(c[i].v, buf, sizeof buf);
        T_EQ_STR(buf, c[i].s);
    }
    table_fmt_ago(0, 5000, buf, sizeof buf); T_EQ_STR(buf, "never");
    table_fmt_ago(1000, 5000, buf, sizeof buf); T_EQ_STR(buf, "4s ago");
    table_fmt_ago(1000, 1000 + 7200000, buf, sizeof buf); T_EQ_STR(buf, "2h ago");
    table_fmt_ago(9000, 5000, buf, sizeof buf); T_EQ_STR(buf, "now");
    /* a span ahead (an expected start): seconds under a minute, then
     * rounded up to the minute, hours and minutes, days and hours */
    table_fmt_span(0, buf, sizeof buf); T_EQ_STR(buf, "0 s");
    table_fmt_span(4200, buf, sizeof buf); T_EQ_STR(buf, "5 s");
    table_fmt_span(59000, buf, sizeof buf); T_EQ_STR(buf, "59 s");
    table_fmt_span(61000, buf, sizeof buf); T_EQ_STR(buf, "2 min");
    table_fmt_span(3600000, buf, sizeof buf); T_EQ_STR(buf, "1 h");
    table_fmt_span(3600000 + 300000, buf, sizeof buf); T_EQ_STR(buf, "1 h 5 min");
    table_fmt_span(47ull * 3600000 + 59 * 60000, buf, sizeof buf); T_EQ_STR(buf, "47 h 59 min");
    table_fmt_span(48ull * 3600000, buf, sizeof buf); T_EQ_STR(buf, "2 d");
    table_fmt_span(52ull * 3600000 + 1, buf, sizeof buf); T_EQ_STR(buf, "2 d 4 h");
}

static void json_demo(FILE *f, void *arg)
{
    jsonw w;
    jsonw_init(&w, f);
    jsonw_array_begin(&w);
    jsonw_object_begin(&w);
    jsonw_key(&w, "s"); jsonw_str(&w, (const char *)arg);
    jsonw_key(&w, "n"); jsonw_null(&w);
    jsonw_key(&w, "a"); jsonw_array_begin(&w); jsonw_u64(&w, 1); jsonw_i64(&w, -2); jsonw_array_end(&w);
    jsonw_object_end(&w);
    jsonw_object_begin(&w);
    jsonw_key(&w, "f"); jsonw_f64(&w, 0.5);
    jsonw_key(&w, "g"); jsonw_f64(&w, 0.0 / 0.0);
    jsonw_key(&w, "b"); jsonw_bool(&w, 1);
    jsonw_object_end(&w);
    jsonw_array_end(&w);
}

static void empty_demo(FILE *f, void *arg)
{
    jsonw w;
    jsonw_init(&w, f);
    jsonw_array_begin(&w);
    jsonw_array_end(&w);
}

static void test_json_escaping(void)
{
    char *s = mem_out(json_demo, "q\"b\\n\nt\tc\x01\x7f" "\xc3\xa9\xff\xc0\xaf\xed\xa0\x80" "\xf0\x9f\x98\x80");
    T_EQ_STR(s, "[\n  {\"s\":\"q\\\"b\\\\n\\nt\\tc\\u0001\\u007f\xc3\xa9\\ufffd\\ufffd\\ufffd"
                "\\ufffd\\ufffd\\ufffd\xf0\x9f\x98\x80\",\"n\":null,\"a\":[1,-2]},\n"
                "  {\"f\":0.5,\"g\":null,\"b\":true}\n]\n");
    free(s);
    s = mem_out(empty_demo, NULL);
    T_EQ_STR(s, "[]\n");
    free(s);
}

/* ---------- exit codes without a master ---------- */

static void test_usage_exit_codes(void)
{
    char *o, *e;
    char *a1[] = {"frobnicate"};
    T_EQ_INT(run_cli(&o, &e, 1, a1), CLI_EXIT_USAGE);
    T_CHECK(strstr(e, "unknown verb 'frobnicate'") != NULL);
    free(o); free(e);
    char *a2[] = {"task"};
    T_EQ_INT(run_cli(&o, &e, 1, a2), CLI_EXIT_USAGE);
    free(o); free(e);
    char *a3[] = {"task", "alpine", "-cmd", "x", "--", "y"};
    T_EQ_INT(run_cli(&o, &e, 6, a3), CLI_EXIT_USAGE);
    T_CHECK(strstr(e, "not both") != NULL);
    free(o); free(e);
    char *a4[] = {"task", "alpine", "echo"};
    T_EQ_INT(run_cli(&o, &e, 3, a4), CLI_EXIT_USAGE);
    free(o); free(e);
    char *a5[] = {"help"};
    T_EQ_INT(run_cli(&o, &e, 1, a5), CLI_EXIT_OK);
    T_CHECK(strstr(o, "dispatch WORKER IMAGE") != NULL);
    free(o); free(e);
    static const char *verbs[] = {"task", "dispatch", "tasks", "workers", "files", "get",
                                  "logs", "cancel"};
    for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++) {
        char *a[] = {(char *)verbs[i], "-h"};
        T_EQ_INT(run_cli(&o, &e, 2, a), CLI_EXIT_OK);
        T_CHECK(strstr(o, "Usage: cloudai ") != NULL);
        T_CHECK(strstr(o, "-master") != NULL);
        free(o); free(e);
    }
    char *a6[] = {"help", "task"};
    T_EQ_INT(run_cli(&o, &e, 2, a6), CLI_EXIT_OK);
    T_CHECK(strstr(o, "-cpu_cores C") != NULL && strstr(o, "512m") != NULL);
    free(o); free(e);
    char *a7[] = {"files", "-task", "a", "-name", "b"};
    T_EQ_INT(run_cli(&o, &e, 5, a7), CLI_EXIT_USAGE);
    free(o); free(e);
    char *a8[] = {"tasks", "-limit", "x"};
    T_EQ_INT(run_cli(&o, &e, 3, a8), CLI_EXIT_USAGE);
    free(o); free(e);
}

static int closed_port(char *addr, size_t cap)
{
    int fd = net_listen("127.0.0.1:0", 1, addr, cap);
    if (fd < 0)
        return -1;
    close(fd);
    return 0;
}

static void test_connect_refused(void)
{
    char addr[64], *o, *e;
    T_CHECK(closed_port(addr, sizeof addr) == 0);
    char *a[] = {"workers", "-master", addr};
    T_EQ_INT(run_cli(&o, &e, 3, a), CLI_EXIT_ERROR);
    T_CHECK(strstr(e, "cloudai: cannot connect to master at ") != NULL);
    T_CHECK(strstr(e, "Connection refused (is ./master running? set -master or CLOUDAI_MASTER)"));
    T_CHECK(strchr(e, '\n') == e + strlen(e) - 1);       /* one line */
    free(o); free(e);
    setenv("CLOUDAI_MASTER", addr, 1);
    char *b[] = {"tasks"};
    T_EQ_INT(run_cli(&o, &e, 1, b), CLI_EXIT_ERROR);
    T_CHECK(strstr(e, addr) != NULL);
    unsetenv("CLOUDAI_MASTER");
    free(o); free(e);
}

static void test_get_refuses_nonempty_dest(void)
{
    char dir[] = "/tmp/cli_destXXXXXX", path[256], *o, *e, addr[64];
    T_CHECK(mkdtemp(dir) != NULL);
    T_CHECK(closed_port(addr, sizeof addr) == 0);
    snprintf(path, sizeof path, "%s/keep", dir);
    T_EQ_INT(fsutil_write_atomic(path, "mine", 4), 0);
    char *a[] = {"get", "task-1", dir, "-master", addr};
    T_EQ_INT(run_cli(&o, &e, 5, a), CLI_EXIT_ERROR);
    T_CHECK(strstr(e, "not an empty directory") != NULL);
    free(o); free(e);
    char *a2[] = {"get", "task-1", path, "-master", addr};   /* a file */
    T_EQ_INT(run_cli(&o, &e, 5, a2), CLI_EXIT_ERROR);
    free(o); free(e);
    struct stat st;
    T_CHECK(stat(path, &st) == 0 && st.st_size == 4);
    fsutil_rm_rf(dir);
}

/* The progress line of `get`: figures, ETA, unknown totals, and that it
 * draws only when asked (stderr of a test is no terminal). */
static void test_progress(void)
{
    char line[160];
    cli_progress p;
    cli_progress_format(12u << 20, 40u << 20, 3000, line, sizeof line);
    T_EQ_STR(line, "12.0 MiB / 40.0 MiB   30%  4.0 MiB/s  ETA 7s");
    cli_progress_format(1u << 20, 1u << 30, 1000, line, sizeof line);
    T_EQ_STR(line, "1.0 MiB / 1.0 GiB    0%  1.0 MiB/s  ETA 17m03s");
    cli_progress_format(0, 4096, 0, line, sizeof line);
    T_EQ_STR(line, "0 B / 4.0 KiB    0%  0 B/s  ETA -");
    cli_progress_format(2048, 0, 1000, line, sizeof line);
    T_EQ_STR(line, "2.0 KiB  2.0 KiB/s");
    cli_progress_format(4096, 4096, 2000, line, sizeof line);
    T_EQ_STR(line, "4.0 KiB / 4.0 KiB  100%  2.0 KiB/s  ETA 0s");

    FILE *f = tmpfile();
    T_CHECK(f != NULL);
    if (!f) return;
    setenv("CLOUDAI_PROGRESS", "0", 1);
    cli_progress_init(&p, f);
    T_CHECK(p.out == NULL);
    cli_progress_total(&p, 100);
    cli_progress_add(&p, 100);
    cli_progress_end(&p);
    T_EQ_INT((int)ftell(f), 0);
    setenv("CLOUDAI_PROGRESS", "1", 1);
    cli_progress_init(&p, f);
    T_CHECK(p.out == f);
    cli_progress_total(&p, 100);
    cli_progress_add(&p, 100);        /* the last byte always draws */
    cli_progress_end(&p);
    unsetenv("CLOUDAI_PROGRESS");
    long n = ftell(f);
    T_CHECK(n > 0 && n < (long)sizeof line * 3);
    char buf[512] = "";
    rewind(f);
    size_t got = fread(buf, 1, sizeof buf - 1, f);
    buf[got] = 0;
    T_CHECK(buf[0] == '\r' && strstr(buf, "100 B / 100 B  100%") != NULL);
    T_CHECK(got > 0 && buf[got - 1] == '\r');    /* erased: the next line starts clean */
    fclose(f);
}

/* An unknown flag names the one it most likely meant, or none. */
static const char *unknown_says(const char *flag)
{
    static char err[256];
    flags f;
    char *pos[4];
    args_result r;
    char *av[] = {(char *)flag, "1"};
    err[0] = 0;
    if (parse(&f, 2, av, pos, 4, &r, err) != ARGS_E_UNKNOWN) return "(not refused)";
    return err;
}

static void test_args_near_flag(void)
{
    T_EQ_STR(unknown_says("-nmae"), "unknown flag '-nmae' (did you mean -name?)");
    T_EQ_STR(unknown_says("-cpu"), "unknown flag '-cpu' (did you mean -cpu_cores?)");
    T_EQ_STR(unknown_says("--memory"), "unknown flag '--memory' (did you mean -mem?)");
    T_EQ_STR(unknown_says("-timout"), "unknown flag '-timout' (did you mean -timeout?)");
    T_EQ_STR(unknown_says("-limits"), "unknown flag '-limits' (did you mean -limit?)");
    T_EQ_STR(unknown_says("-x"), "unknown flag '-x'");          /* too short to guess */
    T_EQ_STR(unknown_says("-verbose"), "unknown flag '-verbose'");
    T_EQ_STR(unknown_says("-gpus"), "unknown flag '-gpus'");    /* 3 letters shared, neither the other's start */
    /* A word where a verb with -name takes none: `cloudai files hello`. */
    flags f;
    char *pos[4], err[256] = "";
    args_result r;
    char *av[] = {"hello", "more"};
    T_EQ_INT(parse(&f, 1, av, pos, 0, &r, err), ARGS_E_EXTRA);
    T_EQ_STR(err, "unexpected argument 'hello' (did you mean -name hello?)");
    T_EQ_INT(parse(&f, 2, av, pos, 1, &r, err), ARGS_E_EXTRA);   /* it takes words: no guess */
    T_EQ_STR(err, "unexpected argument 'more'");
}

int main(void)
{
    T_RUN(test_args_every_flag);
    T_RUN(test_args_near_flag);
    T_RUN(test_args_bad_numbers);
    T_RUN(test_args_missing_values);
    T_RUN(test_args_dashdash);
    T_RUN(test_value_parsers);
    T_RUN(test_split);
    T_RUN(test_table_alignment);
    T_RUN(test_size_format);
    T_RUN(test_progress);
    T_RUN(test_json_escaping);
    T_RUN(test_usage_exit_codes);
    T_RUN(test_connect_refused);
    T_RUN(test_get_refuses_nonempty_dest);
    return T_DONE();
}
