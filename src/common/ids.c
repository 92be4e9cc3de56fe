/* ids.c — task ids, automatic task names, path-safe names, times and sizes.
 *
 * Everything here is reentrant (gmtime_r, getrandom, no static state), so
 * any thread may call any function. Parsers are strict: a number followed by
 * anything unexpected is an error, and so is a value that would overflow. */
#include "ids.h"
#include "proto.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

uint64_t ids_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (ts.tv_sec < 0)
        return 0;
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* 48 random bits make a collision within one second about 1 in 2^24 even at
 * 10,000 ids per second, and the seconds prefix keeps ids sortable. */
int ids_task_id(uint64_t now_ms, char *out, size_t cap)
{
    unsigned char rnd[6];
    size_t got = 0;
    int rc = 0;

    if (!out || cap == 0)
        return -EINVAL;
    out[0] = '\0';
    while (got < sizeof rnd) {
        ssize_t n = getrandom(rnd + got, sizeof rnd - got, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            rc = -errno;
            goto out;
        }
        got += (size_t)n;
    }
    int n = snprintf(out, cap, "task-%llu-%02x%02x%02x%02x%02x%02x",
                     (unsigned long long)(now_ms / 1000u), rnd[0], rnd[1], rnd[2],
                     rnd[3], rnd[4], rnd[5]);
    if (n < 0 || (size_t)n >= cap) {
        out[0] = '\0';
        rc = -ERANGE;
    }
out:
    return rc;
}

static int name_char_ok(unsigned char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
           (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-';
}

/* Decodes one valid UTF-8 sequence (the wire's rule: no overlong forms or
 * surrogates) at p[0..n); its length, or 0 if it is not one. */
static size_t utf8_next(const char *p, size_t n, uint32_t *cp)
{
    const uint8_t *u = (const uint8_t *)p;
    size_t k = proto_utf8_seq(u, n);
    if (k == 1)
        *cp = u[0];
    else if (k == 2)
        *cp = (uint32_t)(u[0] & 0x1f) << 6 | (u[1] & 0x3f);
    else if (k == 3)
        *cp = (uint32_t)(u[0] & 0x0f) << 12 | (uint32_t)(u[1] & 0x3f) << 6 | (u[2] & 0x3f);
    else if (k == 4)
        *cp = (uint32_t)(u[0] & 0x07) << 18 | (uint32_t)(u[1] & 0x3f) << 12 |
              (uint32_t)(u[2] & 0x3f) << 6 | (u[3] & 0x3f);
    return k;
}

/* Code points above ASCII that are not letters, digits or combining marks
 * in practice: controls, spaces, invisible and bidi formatting, punctuation
 * and symbol blocks, private use, noncharacters. A fixed table rather than
 * the C library's locale, so the rule is the same on every machine. */
static const struct { uint32_t lo, hi; } not_name[] = {
    {0x0080, 0x00a9}, {0x00ab, 0x00b4}, {0x00b6, 0x00b9}, {0x00bb, 0x00bf},
    {0x00d7, 0x00d7}, {0x00f7, 0x00f7}, {0x037e, 0x037e}, {0x0387, 0x0387},
    {0x055a, 0x055f}, {0x0589, 0x058a}, {0x05be, 0x05be}, {0x05c0, 0x05c0},
    {0x05c3, 0x05c3}, {0x05c6, 0x05c6}, {0x05f3, 0x05f4}, {0x0600, 0x060f},
    {0x061b, 0x061f}, {0x066a, 0x066d}, {0x06d4, 0x06d4}, {0x06dd, 0x06dd},
    {0x0964, 0x0965}, {0x0e4f, 0x0e4f}, {0x0e5a, 0x0e5b}, {0x10fb, 0x10fb},
    {0x1680, 0x1680}, {0x180e, 0x180e}, {0x2000, 0x206f}, {0x20a0, 0x20cf},
    {0x2190, 0x245f}, {0x2500, 0x2775}, {0x2794, 0x2bff}, {0x2e00, 0x2e7f},
    {0x3000, 0x3004}, {0x3008, 0x3020}, {0x3030, 0x3030}, {0x303d, 0x303f},
    {0x30fb, 0x30fb}, {0xd800, 0xf8ff}, {0xfd3e, 0xfd3f}, {0xfdd0, 0xfdef},
    {0xfe00, 0xfe6f}, {0xfeff, 0xfeff}, {0xff00, 0xff0f}, {0xff1a, 0xff20},
    {0xff3b, 0xff40}, {0xff5b, 0xff65}, {0xffe0, 0xffff}, {0x1f000, 0x1faff},
    {0xe0000, 0xe0fff}, {0xf0000, 0x10ffff},
};

static int name_cp_ok(uint32_t cp)
{
    if (cp < 0x80)
        return name_char_ok((unsigned char)cp);
    if ((cp & 0xfffe) == 0xfffe)                 /* U+xFFFE, U+xFFFF */
        return 0;
    size_t lo = 0, hi = sizeof not_name / sizeof not_name[0];
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cp < not_name[mid].lo)
            hi = mid;
        else if (cp > not_name[mid].hi)
            lo = mid + 1;
        else
            return 0;
    }
    return 1;
}

/* Sanitises in[0..len) into out (limit bytes at most, limit < cap). Letters
 * and digits of any script are kept whole (never cut mid-character); every
 * other byte or character becomes '_'. The rules make the result a fixed
 * point: sanitising it again changes nothing. */
static size_t sanitize_n(const char *in, size_t len, char *out, size_t limit)
{
    size_t o = 0;
    for (size_t i = 0; i < len && o < limit;) {
        uint32_t cp = 0;
        size_t k = utf8_next(in + i, len - i, &cp);
        if (k > 1 && name_cp_ok(cp)) {
            if (o + k > limit)
                break;
            memcpy(out + o, in + i, k);
            o += k;
            i += k;
            continue;
        }
        if (k == 0)
            k = 1;                              /* one '_' per stray byte */
        char c = (k == 1 && name_char_ok((unsigned char)in[i])) ? in[i] : '_';
        i += k;
        if (o == 0 && c == '.')
            c = '_';
        if (c == '_' && o > 0 && out[o - 1] == '_')
            continue;
        out[o++] = c;
    }
    if (o == 0 && limit > 0)
        out[o++] = '_';
    out[o] = '\0';
    return o;
}

int ids_sanitize(const char *in, char *out, size_t cap)
{
    if (!out || cap == 0)
        return 1;
    if (!in)
        in = "";
    size_t limit = cap - 1 < IDS_NAME_MAX ? cap - 1 : IDS_NAME_MAX;
    size_t len = strlen(in);
    size_t o = sanitize_n(in, len, out, limit);
    return (o != len || memcmp(out, in, len) != 0) ? 1 : 0;
}

/* A registry prefix is the first component of a multi-component reference
 * that looks like a host (docker's own rule in reference/normalize.go). */
void ids_auto_name(const char *image, uint64_t now_ms, char *out, size_t cap)
{
    char secs[24];
    if (!out || cap == 0)
        return;
    if (!image)
        image = "";
    const char *p = image, *end = image + strlen(image);
    const char *slash = strchr(p, '/');
    if (slash) {
        size_t flen = (size_t)(slash - p);
        if (memchr(p, '.', flen) || memchr(p, ':', flen) ||
            (flen == 9 && memcmp(p, "localhost", 9) == 0))
            p = slash + 1;
    }
    const char *at = strchr(p, '@');
    if (at)
        end = at;
    const char *last = p;
    for (const char *q = p; q < end; q++)
        if (*q == '/')
            last = q + 1;
    const char *colon = memchr(last, ':', (size_t)(end - last));
    if (colon)
        end = colon;

    int sn = snprintf(secs, sizeof secs, "-%llu", (unsigned long long)(now_ms / 1000u));
    size_t slen = sn > 0 ? (size_t)sn : 0;
    /* The whole name must stay a safe component of IDS_NAME_MAX bytes. */
    size_t room = cap - 1 < IDS_NAME_MAX ? cap - 1 : IDS_NAME_MAX;
    size_t limit = room > slen ? room - slen : 0;
    size_t o = 0;
    if (limit > 0)
        o = sanitize_n(last, (size_t)(end - last), out, limit);
    if (o + slen <= cap - 1) {
        memcpy(out + o, secs, slen + 1);
    } else {
        out[o] = '\0';
    }
}

static void fmt_time(uint64_t ms, int human, char *out, size_t cap)
{
    struct tm tm;
    time_t t = (time_t)(ms / 1000u);
    if (!out || cap == 0)
        return;
    if (!gmtime_r(&t, &tm) || (human ? strftime(out, cap, "%Y-%m-%d %H:%M:%S", &tm)
                                      : strftime(out, cap, "%Y%m%dT%H%M%SZ", &tm)) == 0)
        out[0] = '\0';
}

void ids_time_component(uint64_t ms, char *out, size_t cap)
{
    fmt_time(ms, 0, out, cap);
}

void ids_time_human(uint64_t ms, char *out, size_t cap)
{
    fmt_time(ms, 1, out, cap);
}

/* Reads exactly n digits; -1 if any is not a digit. */
static int digits(const char *s, int n, int *val)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *val = v;
    return 0;
}

/* Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm), so we
 * need neither timegm() nor the TZ environment. */
static int64_t days_from_civil(int y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int month_days(int y, int m)
{
    static const int md[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return md[m - 1] + (m == 2 && leap);
}

static int make_ms(int y, int mo, int d, int h, int mi, int s, uint64_t *out)
{
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > month_days(y, mo) ||
        h > 23 || mi > 59 || s > 59)
        return -EINVAL;
    int64_t secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s;
    *out = (uint64_t)secs * 1000u;
    return 0;
}

/* Parses an unsigned decimal of at least one digit up to end; no sign, no
 * spaces, no overflow. */
static int parse_u64(const char *s, const char *end, uint64_t *out)
{
    uint64_t v = 0;
    if (s >= end)
        return -EINVAL;
    for (; s < end; s++) {
        if (*s < '0' || *s > '9')
            return -EINVAL;
        unsigned d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -EINVAL;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

int ids_parse_time(const char *s, uint64_t now_ms, uint64_t *out_ms)
{
    int y, mo, d, h = 0, mi = 0, sec = 0;
    if (!s || !out_ms || !*s)
        return -EINVAL;
    size_t len = strlen(s);
    uint64_t v;

    if (parse_u64(s, s + len, &v) == 0) {          /* unix seconds */
        if (v > UINT64_MAX / 1000u)
            return -EINVAL;
        *out_ms = v * 1000u;
        return 0;
    }
    char unit = s[len - 1];
    if (len >= 2 && (unit == 's' || unit == 'm' || unit == 'h' || unit == 'd') &&
        parse_u64(s, s + len - 1, &v) == 0) {     /* relative, "ago" */
        uint64_t mult = unit == 's' ? 1000u : unit == 'm' ? 60000u
                      : unit == 'h' ? 3600000u : 86400000u;
        if (v > UINT64_MAX / mult || v * mult > now_ms)
            return -EINVAL;
        *out_ms = now_ms - v * mult;
        return 0;
    }
    /* "20261128T144533Z", the form ids_time_component() writes. */
    if (len == 16 && s[8] == 'T' && s[15] == 'Z' && digits(s, 4, &y) == 0 &&
        digits(s + 4, 2, &mo) == 0 && digits(s + 6, 2, &d) == 0 &&
        digits(s + 9, 2, &h) == 0 && digits(s + 11, 2, &mi) == 0 &&
        digits(s + 13, 2, &sec) == 0)
        return make_ms(y, mo, d, h, mi, sec, out_ms);
    if (len < 10 || digits(s, 4, &y) || s[4] != '-' || digits(s + 5, 2, &mo) ||
        s[7] != '-' || digits(s + 8, 2, &d))
        return -EINVAL;
    if (len == 10)
        return make_ms(y, mo, d, 0, 0, 0, out_ms);
    if (!((len == 20 && s[10] == 'T' && s[19] == 'Z') || (len == 19 && s[10] == ' ')))
        return -EINVAL;
    if (digits(s + 11, 2, &h) || s[13] != ':' || digits(s + 14, 2, &mi) ||
        s[16] != ':' || digits(s + 17, 2, &sec))
        return -EINVAL;
    return make_ms(y, mo, d, h, mi, sec, out_ms);
}

/* Binary multiples throughout: "64k" is 65536, as memory is counted. */
static int size_suffix(const char *s, uint64_t *mult)
{
    static const char units[] = "kmgtpe";
    if (*s == '\0' || ((s[0] == 'b' || s[0] == 'B') && s[1] == '\0')) {
        *mult = 1;
        return 0;
    }
    char c = (char)(s[0] | 0x20);
    const char *u = strchr(units, c);
    if (!u || c == '\0')
        return -EINVAL;
    const char *r = s + 1;
    if (*r == 'i' && (r[1] == 'B' || r[1] == 'b'))
        r += 2;
    else if (*r == 'B' || *r == 'b')
        r++;
    if (*r != '\0')
        return -EINVAL;
    *mult = (uint64_t)1 << (10 * (u - units + 1));
    return 0;
}

int ids_parse_size(const char *s, uint64_t *out)
{
    uint64_t ip = 0, frac = 0, scale = 1, mult;
    if (!s || !out)
        return -EINVAL;
    const char *p = s;
    while (*p >= '0' && *p <= '9')
        p++;
    if (p == s || parse_u64(s, p, &ip) < 0)
        return -EINVAL;
    if (*p == '.') {
        const char *f = ++p;
        while (*p >= '0' && *p <= '9') {
            if (scale < 1000000000000000000ull) {   /* more digits add nothing */
                frac = frac * 10 + (uint64_t)(*p - '0');
                scale *= 10;
            }
            p++;
        }
        if (p == f)
            return -EINVAL;
    }
    if (size_suffix(p, &mult) < 0)
        return -EINVAL;
    if (scale > 1 && mult == 1)
        return -EINVAL;                              /* "1.5" bytes */
    if (ip > UINT64_MAX / mult)
        return -EINVAL;
    uint64_t v = ip * mult;
    unsigned __int128 fr = (unsigned __int128)frac * mult / scale;
    if (fr > UINT64_MAX - v)
        return -EINVAL;
    *out = v + (uint64_t)fr;
    return 0;
}

/* One character of s (a UTF-8 sequence, or one stray byte); its length. */
static size_t glob_char(const char *s, uint32_t *cp)
{
    size_t k = utf8_next(s, strnlen(s, 4), cp);
    if (k == 0) {
        *cp = 0x110000u + (unsigned char)s[0];  /* a stray byte matches itself */
        k = 1;
    }
    return k;
}

/* [:name:] in a bracket: ASCII classes, as fnmatch in the C locale and
 * the MongoDB backend's regex; 1 match, 0 no match, -1 not a class name. */
static int glob_named_class(const char *name, size_t n, uint32_t c)
{
    static const char *const names[] = {"alnum", "alpha", "blank", "cntrl", "digit", "graph",
                                         "lower", "print", "punct", "space", "upper", "xdigit"};
    size_t k;
    for (k = 0; k < sizeof names / sizeof names[0]; k++)
        if (strlen(names[k]) == n && !memcmp(names[k], name, n))
            break;
    if (k == sizeof names / sizeof names[0])
        return -1;
    if (c >= 0x80)
        return 0;
    int ch = (int)c;
    switch (k) {
    case 0: return isalnum(ch) != 0;
    case 1: return isalpha(ch) != 0;
    case 2: return ch == ' ' || ch == '\t';
    case 3: return iscntrl(ch) != 0;
    case 4: return isdigit(ch) != 0;
    case 5: return isgraph(ch) != 0;
    case 6: return islower(ch) != 0;
    case 7: return isprint(ch) != 0;
    case 8: return ispunct(ch) != 0;
    case 9: return isspace(ch) != 0;
    case 10: return isupper(ch) != 0;
    default: return isxdigit(ch) != 0;
    }
}

/* Matches one character against the bracket expression at p (just past
 * '['); *end gets the position after ']'. -1 if the bracket never closes
 * (then '[' is an ordinary character, as in fnmatch). */
static int glob_class(const char *p, uint32_t c, const char **end)
{
    int neg = 0, hit = 0;
    if (*p == '!' || *p == '^') {
        neg = 1;
        p++;
    }
    const char *first = p;
    while (*p && (*p != ']' || p == first)) {
        uint32_t lo, hi;
        const char *e;
        if (p[0] == '[' && p[1] == ':' && (e = strstr(p + 2, ":]"))) {
            int m = glob_named_class(p + 2, (size_t)(e - p - 2), c);
            if (m >= 0) {
                hit |= m;
                p = e + 2;
                continue;
            }
        }
        if (*p == '\\' && p[1])
            p++;
        p += glob_char(p, &lo);
        hi = lo;
        if (p[0] == '-' && p[1] && p[1] != ']') {
            p++;
            if (*p == '\\' && p[1])
                p++;
            p += glob_char(p, &hi);
        }
        if (c >= lo && c <= hi)
            hit = 1;
    }
    if (*p != ']')
        return -1;
    *end = p + 1;
    return hit != neg;
}

/* Shell glob over characters, not bytes ('?' matches one CJK letter), with
 * the usual single backtrack point per '*': linear in practice, never
 * recursive. */
int ids_glob(const char *pattern, const char *name)
{
    if (!pattern || !name)
        return 0;
    const char *p = pattern, *n = name, *star_p = NULL, *star_n = NULL;
    while (*n) {
        uint32_t c, pc;
        size_t nk = glob_char(n, &c);
        if (*p == '*') {
            star_p = ++p;
            star_n = n;
            continue;
        }
        if (*p == '?') {
            p++;
            n += nk;
            continue;
        }
        if (*p == '[') {
            const char *end;
            int m = glob_class(p + 1, c, &end);
            if (m == 1) {
                p = end;
                n += nk;
                continue;
            }
            if (m == 0)
                goto backtrack;
        }
        if (*p) {
            const char *q = p;
            if (*q == '\\' && q[1])
                q++;
            size_t pk = glob_char(q, &pc);
            if (pc == c) {
                p = q + pk;
                n += nk;
                continue;
            }
        }
    backtrack:
        if (!star_p)
            return 0;
        p = star_p;
        star_n += glob_char(star_n, &c);
        n = star_n;
    }
    while (*p == '*')
        p++;
    return *p == '\0';
}
