/* test_ids.c — task ids (uniqueness in and across processes), auto names,
 * the sanitiser, time formats and parsers, sizes, globs. */
#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdint.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ids.h"
#include "t.h"

static int cmp_str(const void *a, const void *b)
{
    return strcmp((const char *)a, (const char *)b);
}

static int id_well_formed(const char *id, uint64_t now_ms)
{
    char prefix[40];
    snprintf(prefix, sizeof prefix, "task-%llu-", (unsigned long long)(now_ms / 1000));
    size_t pl = strlen(prefix);
    if (strncmp(id, prefix, pl) || strlen(id) != pl + 12 || strlen(id) >= IDS_TASK_ID_LEN)
        return 0;
    for (size_t i = pl; id[i]; i++)
        if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
            return 0;
    return 1;
}

static void test_task_id_unique(void)
{
    enum { N = 10000 };
    static char ids[N][IDS_TASK_ID_LEN];
    uint64_t now = 1764340000123ull;           /* all in one second */
    int bad = 0, dups = 0;
    for (int i = 0; i < N; i++) {
        if (ids_task_id(now, ids[i], sizeof ids[i]) != 0 || !id_well_formed(ids[i], now))
            bad++;
    }
    qsort(ids, N, sizeof ids[0], cmp_str);
    for (int i = 1; i < N; i++)
        if (!strcmp(ids[i - 1], ids[i]))
            dups++;
    T_EQ_INT(bad, 0);
    T_EQ_INT(dups, 0);
    char small[10];
    T_EQ_INT(ids_task_id(now, small, sizeof small), -ERANGE);
    T_EQ_STR(small, "");
}

static void test_task_id_processes(void)
{
    enum { P = 4, PER = 20 };
    char all[P * PER][IDS_TASK_ID_LEN];
    int fds[2], got = 0, dups = 0;
    uint64_t now = ids_now_ms();
    T_CHECK(pipe(fds) == 0);
    for (int p = 0; p < P; p++) {
        pid_t pid = fork();
        if (pid == 0) {
            close(fds[0]);
            for (int i = 0; i < PER; i++) {
                char id[IDS_TASK_ID_LEN] = {0};
                ids_task_id(now, id, sizeof id);
                if (write(fds[1], id, sizeof id) != (ssize_t)sizeof id)
                    _exit(1);
            }
            _exit(0);
        }
        T_CHECK(pid > 0);
    }
    close(fds[1]);
    while (got < P * PER && read(fds[0], all[got], IDS_TASK_ID_LEN) == IDS_TASK_ID_LEN)
        got++;
    close(fds[0]);
    for (int p = 0; p < P; p++) {
        int st = 0;
        T_CHECK(wait(&st) > 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    T_EQ_INT(got, P * PER);
    qsort(all, (size_t)got, sizeof all[0], cmp_str);
    for (int i = 0; i < got; i++)
        T_CHECK(id_well_formed(all[i], now));
    for (int i = 1; i < got; i++)
        if (!strcmp(all[i - 1], all[i]))
            dups++;
    T_EQ_INT(dups, 0);
}

static void test_auto_name(void)
{
    static const struct { const char *image, *want; } cases[] = {
        {"alpine", "alpine-1764340000"},
        {"alpine:latest", "alpine-1764340000"},
        {"docker.io/library/alpine:3.19", "alpine-1764340000"},
        {"registry.io/lib/alpine:3.19", "alpine-1764340000"},
        {"localhost:5000/team/img@sha256:abcdef0123", "img-1764340000"},
        {"localhost/img", "img-1764340000"},
        {"library/ubuntu", "ubuntu-1764340000"},
        {"ubuntu", "ubuntu-1764340000"},
        {"ubuntu@sha256:ab", "ubuntu-1764340000"},
        {"my.registry:443/a/b/c/python:3.12-slim", "python-1764340000"},
        {"", "_-1764340000"},
        {".hidden", "_hidden-1764340000"},
        {"weird name!", "weird_name_-1764340000"},
    };
    char out[128];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ids_auto_name(cases[i].image, 1764340000999ull, out, sizeof out);
        T_EQ_STR(out, cases[i].want);
    }
    /* A long image name is cut so the whole name stays one safe component. */
    char longimg[300];
    memset(longimg, 'x', sizeof longimg - 1);
    longimg[sizeof longimg - 1] = '\0';
    ids_auto_name(longimg, 1764340000999ull, out, sizeof out);
    T_EQ_INT(strlen(out), IDS_NAME_MAX);
    T_CHECK(strstr(out, "-1764340000") == out + IDS_NAME_MAX - 11);
    char again[128];
    T_EQ_INT(ids_sanitize(out, again, sizeof again), 0);
}

static void test_sanitize(void)
{
    static const struct { const char *in, *want; int changed; } cases[] = {
        {"", "_", 1},
        {".", "_", 1},
        {"..", "_.", 1},
        {".hidden", "_hidden", 1},
        {"a/b", "a_b", 1},
        {"../../etc", "_._.._etc", 1},
        {"my task", "my_task", 1},
        {"tab\there\n", "tab_here_", 1},
        {"caf\xc3\xa9", "caf\xc3\xa9", 0},                         /* café */
        {"\xe4\xb8\xad\xe6\x96\x87", "\xe4\xb8\xad\xe6\x96\x87", 0},      /* 中文 */
        {"\xe6\xa8\xa1\xe5\x9e\x8b-\xe8\xae\xad\xe7\xbb\x83",            /* 模型-训练 */
         "\xe6\xa8\xa1\xe5\x9e\x8b-\xe8\xae\xad\xe7\xbb\x83", 0},
        {"\xd0\xbc\xd0\xbe\xd0\xb4\xd0\xb5\xd0\xbb\xd1\x8c_1", "\xd0\xbc\xd0\xbe\xd0\xb4\xd0\xb5\xd0\xbb\xd1\x8c_1", 0},
        {"\xd9\xa3\xd9\xa4", "\xd9\xa3\xd9\xa4", 0},                  /* Arabic-Indic digits */
        {"a\xc2\xa0" "b", "a_b", 1},                                /* no-break space */
        {"a\xe2\x80\x8b" "b", "a_b", 1},                            /* zero-width space */
        {"a\xe2\x80\xae" "b", "a_b", 1},                            /* bidi override */
        {"run\xf0\x9f\x9a\x80", "run_", 1},                          /* emoji */
        {"\xe3\x80\x81x\xe3\x80\x82", "_x_", 1},                     /* CJK punctuation */
        {"\xef\x9e\x80", "_", 1},                                  /* private use */
        {"caf\xe9", "caf_", 1},                                     /* Latin-1 byte */
        {"\xe4\xb8", "_", 1},                                      /* cut sequence */
        {"a__b", "a_b", 1},
        {"a\x01\x02" "b", "a_b", 1},
        {"ok-name_1.2", "ok-name_1.2", 0},
        {"_", "_", 0},
        {"a.", "a.", 0},
    };
    char out[IDS_NAME_MAX + 1];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int r = ids_sanitize(cases[i].in, out, sizeof out);
        T_EQ_STR(out, cases[i].want);
        T_EQ_INT(r, cases[i].changed);
    }
    char big[301];
    memset(big, 'a', 300);
    big[300] = '\0';
    T_EQ_INT(ids_sanitize(big, out, sizeof out), 1);
    T_EQ_INT(strlen(out), IDS_NAME_MAX);
    /* The result is a fixed point and respects a small cap. */
    char twice[IDS_NAME_MAX + 1];
    T_EQ_INT(ids_sanitize(out, twice, sizeof twice), 0);
    char tiny[4];
    ids_sanitize("abcdef", tiny, sizeof tiny);
    T_EQ_STR(tiny, "abc");
    /* The cap never cuts a character: 22 x "中" (66 bytes) keeps 21. */
    char cjk[22 * 3 + 1] = "";
    for (int i = 0; i < 22; i++)
        strcat(cjk, "\xe4\xb8\xad");
    T_EQ_INT(ids_sanitize(cjk, out, sizeof out), 1);
    T_EQ_INT(strlen(out), 63);
    T_EQ_INT(ids_sanitize(out, twice, sizeof twice), 0);
    ids_sanitize("\xe4\xb8\xad\xe4\xb8\xad", tiny, sizeof tiny);
    T_EQ_STR(tiny, "\xe4\xb8\xad");
}

static void test_time_format(void)
{
    char buf[32];
    ids_time_component(1764340533000ull, buf, sizeof buf);
    T_EQ_STR(buf, "20251128T143533Z");
    ids_time_human(1764340533999ull, buf, sizeof buf);
    T_EQ_STR(buf, "2025-11-28 14:35:33");
    ids_time_component(0, buf, sizeof buf);
    T_EQ_STR(buf, "19700101T000000Z");
    char small[5];
    ids_time_component(1764340533000ull, small, sizeof small);
    T_EQ_STR(small, "");
}

static void test_time_parse(void)
{
    uint64_t now = 1764340533000ull, ms = 0;
    static const struct { const char *s; uint64_t want; } ok[] = {
        {"1764340533", 1764340533000ull},
        {"0", 0},
        {"2026-11-28T14:45:33Z", 1795877133000ull},
        {"2026-11-28 14:45:33", 1795877133000ull},
        {"20261128T144533Z", 1795877133000ull},
        {"2024-02-29", 1709164800000ull},
        {"2000-01-01", 946684800000ull},
        {"30s", 1764340503000ull},
        {"15m", 1764339633000ull},
        {"2h", 1764333333000ull},
        {"7d", 1763735733000ull},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        ms = 1;
        int r = ids_parse_time(ok[i].s, now, &ms);
        if (r != 0 || ms != ok[i].want)
            printf("#   parse_time(\"%s\") = %d, %llu\n", ok[i].s, r, (unsigned long long)ms);
        T_EQ_INT(r, 0);
        T_CHECK(ms == ok[i].want);
    }
    static const char *const bad[] = {
        "", "x", "-5", "5x", "1.5h", " 30s", "30s ", "2023-02-29", "2026-13-01",
        "2026-00-10", "2026-01-32", "2026-01-01x", "2026-01-01T10:00:00", "2026-01-01 24:00:00",
        "2026-01-01 10:60:00", "2026-1-01", "1969-12-31", "99999999999999999999",
        "18446744073709552", "h", "100000d", "20261128T144533", "2026/01/01",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int r = ids_parse_time(bad[i], now, &ms);
        if (r != -EINVAL)
            printf("#   parse_time(\"%s\") accepted\n", bad[i]);
        T_EQ_INT(r, -EINVAL);
    }
    /* Round trips through both formats, including a leap day. */
    uint64_t samples[] = {0, 951782400000ull, 1709164800000ull, 1764340533000ull,
                          4102444799000ull};
    for (size_t i = 0; i < sizeof samples / sizeof samples[0]; i++) {
        char h[32], c[32];
        ids_time_human(samples[i], h, sizeof h);
        ids_time_component(samples[i], c, sizeof c);
        T_EQ_INT(ids_parse_time(h, now, &ms), 0);
        T_CHECK(ms == samples[i]);
        T_EQ_INT(ids_parse_time(c, now, &ms), 0);
        T_CHECK(ms == samples[i]);
    }
}

static void test_parse_size(void)
{
    static const struct { const char *s; uint64_t want; } ok[] = {
        {"512", 512}, {"0", 0}, {"64k", 65536}, {"64K", 65536}, {"64KB", 65536},
        {"64KiB", 65536}, {"1.5g", 1610612736ull}, {"2GiB", 2147483648ull},
        {"0.5k", 512}, {"3m", 3145728}, {"1t", 1099511627776ull}, {"10b", 10},
        {"15e", 15ull << 60}, {"18446744073709551615", UINT64_MAX}, {"64MiB", 64ull << 20},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        uint64_t v = 1;
        int r = ids_parse_size(ok[i].s, &v);
        if (r != 0 || v != ok[i].want)
            printf("#   parse_size(\"%s\") = %d, %llu\n", ok[i].s, r, (unsigned long long)v);
        T_EQ_INT(r, 0);
        T_CHECK(v == ok[i].want);
    }
    static const char *const bad[] = {
        "", "k", "-1", " 1", "1 ", "1 k", "1.", ".5k", "1.5", "1kk", "1ki", "1iB", "1x",
        "16e", "18446744073709551616", "17179869184g", "0x10", "1e3", "+5",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint64_t v;
        int r = ids_parse_size(bad[i], &v);
        if (r != -EINVAL)
            printf("#   parse_size(\"%s\") accepted\n", bad[i]);
        T_EQ_INT(r, -EINVAL);
    }
}

static void test_glob(void)
{
    T_EQ_INT(ids_glob("alp*", "alpine-1764340000"), 1);
    T_EQ_INT(ids_glob("?lpine", "alpine"), 1);
    T_EQ_INT(ids_glob("[ab]*-1", "build-1"), 1);
    T_EQ_INT(ids_glob("*", ""), 1);
    T_EQ_INT(ids_glob("alp*", "ubuntu"), 0);
    T_EQ_INT(ids_glob("alpine", "alpine-1"), 0);
    T_EQ_INT(ids_glob("[!a]*", "alpine"), 0);
    /* Characters, not bytes: '?' is one CJK letter, ranges over code points. */
    T_EQ_INT(ids_glob("?\xe5\x9e\x8b-*", "\xe6\xa8\xa1\xe5\x9e\x8b-\xe8\xae\xad\xe7\xbb\x83"), 1);
    T_EQ_INT(ids_glob("??" "-*", "\xe6\xa8\xa1\xe5\x9e\x8b-x"), 1);
    T_EQ_INT(ids_glob("???" "-*", "\xe6\xa8\xa1\xe5\x9e\x8b-x"), 0);
    T_EQ_INT(ids_glob("[\xe4\xb8\x80-\xe9\xbf\xbf]*", "\xe6\xa8\xa1x"), 1);
    T_EQ_INT(ids_glob("*[!a]", "xa"), 0);
    T_EQ_INT(ids_glob("a\\*", "a*"), 1);
    T_EQ_INT(ids_glob("a\\*", "ab"), 0);
    T_EQ_INT(ids_glob("*a*b*c", "xxaxxbxxc"), 1);
    T_EQ_INT(ids_glob("[ab", "[ab"), 1);
    T_EQ_INT(ids_glob("[[:upper:]]*", "Train"), 1);
    T_EQ_INT(ids_glob("[[:upper:]]*", "train"), 0);
    T_EQ_INT(ids_glob("x[[:digit:]_]", "x_"), 1);
    T_EQ_INT(ids_glob("b[]-]c", "b]c"), 1);
    T_EQ_INT(ids_glob("b[!]]c", "b]c"), 0);
    T_EQ_INT(ids_glob("b[!]]c", "bxc"), 1);
    /* A trailing backslash matches itself (fnmatch matches nothing; the
     * MongoDB backend's regex takes it literally, and so does this). */
    T_EQ_INT(ids_glob("\\", "\\"), 1);
    /* Otherwise the same answers as fnmatch(3) over ASCII. */
    {
        static const char *pats[] = {"a.b", "x[1]", "x\\[1]", "*", "?", "train-?", "tr*ain",
                                     "a\\*b", "a[.+]b", "a[!.]b", "a[^x]b", "[a-c]*", "b[]-]c",
                                     "b[!]]c", "[[:upper:]]*", "[[:digit:]]", "*[", "x[", "[]",
                                     "[!]", "a[", "back\\\\slash", "*a*b*"};
        static const char *names[] = {"a.b", "axb", "x1", "x[1]", "train-1", "train-12", "tr-x-ain",
                                      "a*b", "a+b", "b]c", "b-c", "Abc", "7", "*[", "x[", "[]",
                                      "a[", "\\", "back\\slash", "", "ab", "xaxb"};
        for (size_t i = 0; i < sizeof pats / sizeof pats[0]; i++)
            for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
                int want = fnmatch(pats[i], names[k], 0) == 0;
                if (ids_glob(pats[i], names[k]) != want)
                    printf("#   glob '%s' on '%s': fnmatch says %d\n", pats[i], names[k], want);
                T_EQ_INT(ids_glob(pats[i], names[k]), want);
            }
    }
}

int main(void)
{
    T_RUN(test_task_id_unique);
    T_RUN(test_task_id_processes);
    T_RUN(test_auto_name);
    T_RUN(test_sanitize);
    T_RUN(test_time_format);
    T_RUN(test_time_parse);
    T_RUN(test_parse_size);
    T_RUN(test_glob);
    return T_DONE();
}
