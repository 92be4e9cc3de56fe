/* bench_util.c — data sets and a raw TCP ceiling for tests/bench/run.sh.
 *
 *   bench_util gen random|text DIR NFILES BYTES SEED   files f000.. in DIR
 *   bench_util gen small DIR NFILES BYTES SEED         files in DIR/dNN/ (1000 a dir)
 *   bench_util tcp-sink HOST                           prints the port, reads one
 *                                                      connection to EOF
 *   bench_util tcp-send HOST PORT BYTES                prints "BYTES SECONDS"
 *   bench_util free-port HOST                          a port free right now
 *   bench_util spawn N PAR CMD [ARG...]                runs CMD N times, PAR at
 *                                                      once; prints "N SECONDS
 *                                                      CHILD_CPU_S SELF_CPU_S"
 *
 * Data sets are a pure function of SEED so every run (and every baseline)
 * moves the same bytes. "random" is xorshift output (deflate cannot shrink
 * it); "text" is log lines with a realistic amount of repetition (zlib -1
 * gets about 4x, like real service logs). */
#include <errno.h>
#include <spawn.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>

static uint64_t rng_s[2];

static uint64_t rng_next(void)
{
    uint64_t s1 = rng_s[0];
    const uint64_t s0 = rng_s[1];
    rng_s[0] = s0;
    s1 ^= s1 << 23;
    rng_s[1] = s1 ^ s0 ^ (s1 >> 17) ^ (s0 >> 26);
    return rng_s[1] + s0;
}

static void rng_seed(uint64_t seed)
{
    rng_s[0] = seed * 0x9E3779B97F4A7C15ull + 1;
    rng_s[1] = (seed ^ 0xD1B54A32D192ED03ull) * 0xBF58476D1CE4E5B9ull + 7;
    for (int i = 0; i < 16; i++) rng_next();
}

static const char *const levels[] = {"INFO", "INFO", "INFO", "DEBUG", "WARN", "ERROR"};
static const char *const svcs[] = {"api", "auth", "billing", "search", "worker", "gateway"};
static const char *const paths[] = {"/api/v1/items", "/api/v1/users", "/login", "/health",
                                    "/api/v2/orders", "/static/app.js", "/api/v1/search"};
static const char *const msgs[] = {"request served", "cache miss, fetching from backend",
                                   "slow query detected", "connection reset by peer",
                                   "retrying after timeout", "user session refreshed"};

/* Fills buf with exactly n bytes of log lines (the last one may be cut). */
static void fill_text(char *buf, size_t n, uint64_t *clock_ms)
{
    size_t off = 0;
    char line[512];
    while (off < n) {
        uint64_t r = rng_next(), r2 = rng_next();
        *clock_ms += r % 37;
        time_t s = (time_t)(*clock_ms / 1000);
        struct tm tm;
        gmtime_r(&s, &tm);
        int len = snprintf(line, sizeof line,
                           "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ %s [%s-%u] %s path=%s/%u "
                           "status=%u latency_ms=%u.%u req=%08llx user=u%04u\n",
                           tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                           tm.tm_sec, (int)(*clock_ms % 1000), levels[r % 6], svcs[(r >> 8) % 6],
                           (unsigned)((r >> 16) % 8), msgs[(r >> 24) % 6], paths[(r >> 32) % 7],
                           (unsigned)((r2 >> 4) % 100000), (r >> 40) % 10 ? 200u : 500u,
                           (unsigned)((r2 >> 24) % 900), (unsigned)((r2 >> 34) % 10),
                           (unsigned long long)(r2 >> 32), (unsigned)((r >> 48) % 5000));
        size_t take = (size_t)len < n - off ? (size_t)len : n - off;
        memcpy(buf + off, line, take);
        off += take;
    }
}

static int gen(const char *mode, const char *dir, long nfiles, long bytes, uint64_t seed)
{
    size_t bufcap = 1 << 20;
    char *buf = malloc(bufcap);
    char path[4096];
    uint64_t clock_ms = 1700000000000ull;
    int rc = 1;
    if (!buf) return 1;
    rng_seed(seed);
    mkdir(dir, 0755);
    for (long f = 0; f < nfiles; f++) {
        if (!strcmp(mode, "small")) {
            snprintf(path, sizeof path, "%s/d%02ld", dir, f / 1000);
            mkdir(path, 0755);
            snprintf(path, sizeof path, "%s/d%02ld/f%05ld.log", dir, f / 1000, f);
        } else {
            snprintf(path, sizeof path, "%s/f%03ld.%s", dir, f, mode[0] == 'r' ? "bin" : "log");
        }
        FILE *fp = fopen(path, "wb");
        if (!fp) { perror(path); goto out; }
        for (long left = bytes; left > 0;) {
            size_t n = (size_t)left < bufcap ? (size_t)left : bufcap;
            if (!strcmp(mode, "random")) {
                for (size_t i = 0; i + 8 <= bufcap; i += 8) {
                    uint64_t v = rng_next();
                    memcpy(buf + i, &v, 8);
                }
            } else {
                fill_text(buf, n, &clock_ms);
            }
            if (fwrite(buf, 1, n, fp) != n) { perror(path); fclose(fp); goto out; }
            left -= (long)n;
        }
        if (fclose(fp) != 0) { perror(path); goto out; }
    }
    rc = 0;
out:
    free(buf);
    return rc;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int free_port(const char *host)
{
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t al = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || inet_pton(AF_INET, host, &a.sin_addr) != 1 ||
        bind(fd, (struct sockaddr *)&a, sizeof a) < 0 ||
        getsockname(fd, (struct sockaddr *)&a, &al) < 0)
        return 1;
    printf("%u\n", ntohs(a.sin_port));
    close(fd);
    return 0;
}

static int tcp_sink(const char *host)
{
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t al = sizeof a;
    int ls = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    static char buf[1 << 20];
    if (ls < 0 || inet_pton(AF_INET, host, &a.sin_addr) != 1) return 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(ls, (struct sockaddr *)&a, sizeof a) < 0 || listen(ls, 1) < 0 ||
        getsockname(ls, (struct sockaddr *)&a, &al) < 0) {
        perror("tcp-sink");
        return 1;
    }
    printf("%u\n", ntohs(a.sin_port));
    fflush(stdout);
    int fd = accept(ls, NULL, NULL);
    if (fd < 0) return 1;
    while (read(fd, buf, sizeof buf) > 0) {}
    close(fd);
    close(ls);
    return 0;
}

static int tcp_send(const char *host, const char *port, long long bytes)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(port))};
    static char buf[1 << 20];
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || inet_pton(AF_INET, host, &a.sin_addr) != 1) return 1;
    memset(buf, 0x5a, sizeof buf);
    double t0 = now_s();
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) { perror("connect"); return 1; }
    for (long long left = bytes; left > 0;) {
        size_t n = left < (long long)sizeof buf ? (size_t)left : sizeof buf;
        ssize_t w = write(fd, buf, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) { perror("write"); return 1; }
        left -= w;
    }
    shutdown(fd, SHUT_WR);
    while (read(fd, buf, sizeof buf) > 0) {}   /* the sink has read everything */
    double dt = now_s() - t0;
    close(fd);
    printf("%lld %.6f\n", bytes, dt);
    return 0;
}

/* The ceiling of the tasks/s row on this machine: the same command
 * started and reaped with nothing else around it (posix_spawn, PAR
 * running at once, as the workers run them). */
extern char **environ;
static double tv_s(struct timeval tv) { return (double)tv.tv_sec + (double)tv.tv_usec / 1e6; }

static int spawn_many(long n, long par, char **argv)
{
    long started = 0, done = 0;
    double t0 = now_s();
    while (done < n) {
        while (started < n && started - done < par) {
            pid_t pid;
            int rc = posix_spawnp(&pid, argv[0], NULL, NULL, argv, environ);
            if (rc != 0) {
                fprintf(stderr, "spawn %s: %s\n", argv[0], strerror(rc));
                return 1;
            }
            started++;
        }
        int st;
        if (wait(&st) < 0) {
            perror("wait");
            return 1;
        }
        done++;
    }
    /* The spawned processes' CPU and the spawner's own, so the tasks/s
     * row can set each daemon's CPU a task against what a task costs. */
    struct rusage ch, self;
    getrusage(RUSAGE_CHILDREN, &ch);
    getrusage(RUSAGE_SELF, &self);
    printf("%ld %.6f %.6f %.6f\n", n, now_s() - t0, tv_s(ch.ru_utime) + tv_s(ch.ru_stime),
           tv_s(self.ru_utime) + tv_s(self.ru_stime));
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 5 && !strcmp(argv[1], "spawn"))
        return spawn_many(atol(argv[2]), atol(argv[3]), argv + 4);
    if (argc == 7 && !strcmp(argv[1], "gen"))
        return gen(argv[2], argv[3], atol(argv[4]), atol(argv[5]), strtoull(argv[6], NULL, 10));
    if (argc == 3 && !strcmp(argv[1], "tcp-sink"))
        return tcp_sink(argv[2]);
    if (argc == 3 && !strcmp(argv[1], "free-port"))
        return free_port(argv[2]);
    if (argc == 5 && !strcmp(argv[1], "tcp-send"))
        return tcp_send(argv[2], argv[3], atoll(argv[4]));
    fprintf(stderr, "usage: see the comment at the top of bench_util.c\n");
    return 2;
}
