/* test_config.c — defaults, the example file, every error path (each must
 * name file:line), warnings for unknown keys, [auth] users and admins, and
 * command-line overrides. */
#include <math.h>
#include <stdint.h>
#include <unistd.h>

#include "config.h"
#include "proto.h"
#include "t.h"

static int nwarn;
static char last_warn[512];

static void count_warn(const char *msg)
{
    nwarn++;
    snprintf(last_warn, sizeof last_warn, "%s", msg);
}

static int parse(config *c, const char *text, char *err, size_t cap)
{
    nwarn = 0;
    last_warn[0] = '\0';
    return config_parse(c, text, strlen(text), "t.ini", count_warn, err, cap);
}

/* Every key, as section, key and a valid non-default value. */
static const struct { const char *section, *key, *value; } keys[] = {
    {"master", "listen", "0.0.0.0:8000"},
    {"master", "master_id", "m2"},
    {"master", "heartbeat_interval_s", "5"},
    {"master", "heartbeat_timeout_s", "30"},
    {"master", "max_attempts", "4"},
    {"master", "task_timeout_s", "3600"},
    {"storage", "files_dir", "/srv/files"},
    {"storage", "meta_dir", "/srv/meta"},
    {"storage", "journal_compact_bytes", "1g"},
    {"mongodb", "uri", "mongodb://h:27017"},
    {"mongodb", "database", "db2"},
    {"mongodb", "server_selection_timeout_ms", "100"},
    {"worker", "id", "w1"},
    {"worker", "master", "10.0.0.1:7070"},
    {"worker", "runtime", "process"},
    {"worker", "docker_socket", "/run/docker.sock"},
    {"worker", "outputs_dir", "/srv/out"},
    {"worker", "cpu", "2.5"},
    {"worker", "memory", "8g"},
    {"worker", "storage", "100g"},
    {"worker", "gpu", "2"},
    {"worker", "compress_level", "6"},
    {"worker", "upload_threads", "4"},
    {"auth", "cluster_token", "s3cret"},
    {"scheduler", "policy", "spread"},
    {"limits", "max_output_bytes", "10g"},
    {"limits", "max_output_files", "500"},
    {"limits", "max_frame", "128k"},
    {"limits", "max_uploads", "2"},
    {"limits", "max_connections", "10"},
    {"limits", "idle_timeout_s", "60"},
    {"limits", "frame_timeout_s", "5"},
};
#define NKEYS (sizeof keys / sizeof keys[0])

static void test_defaults(void)
{
    config c;
    memset(&c, 0x5a, sizeof c);
    config_defaults(&c);
    T_EQ_STR(c.listen, "127.0.0.1:7070");
    T_EQ_STR(c.master_id, "master");
    T_EQ_INT(c.heartbeat_interval_s, 2);
    T_EQ_INT(c.heartbeat_timeout_s, 10);
    T_EQ_INT(c.max_attempts, 3);
    T_EQ_INT(c.task_timeout_s, 0);
    T_EQ_STR(c.files_dir, "./data/files");
    T_EQ_STR(c.meta_dir, "./data/meta");
    T_CHECK(c.journal_compact_bytes == 64ull << 20);
    T_EQ_STR(c.mongo_uri, "");
    T_EQ_STR(c.mongo_database, "cloudai");
    T_EQ_INT(c.mongo_timeout_ms, 5000);
    T_EQ_STR(c.worker_id, "");
    T_EQ_STR(c.master_addr, "127.0.0.1:7070");
    T_EQ_STR(c.runtime, "auto");
    T_EQ_STR(c.docker_socket, "/var/run/docker.sock");
    T_EQ_STR(c.outputs_dir, "./data/outputs");
    T_CHECK(c.cpu == 0.0);
    T_CHECK(c.memory == 0);
    T_CHECK(c.storage == 0);
    T_EQ_INT(c.gpu, -1);
    T_EQ_INT(c.compress_level, -1);
    T_EQ_INT(c.upload_threads, 2);
    T_EQ_STR(c.cluster_token, "");
    T_EQ_INT(c.nusers, 0);
    T_EQ_STR(c.policy, "learned");
    T_EQ_STR(c.placement, "best-fit");
    T_EQ_INT(c.fairshare_halflife_s, 604800);
    T_CHECK(c.max_output_bytes == 0);
    T_CHECK(c.max_output_files == 1000000);
    T_CHECK(c.max_frame == PROTO_PAYLOAD_MAX);
    T_EQ_INT(c.max_uploads, 16);
    T_EQ_INT(c.max_connections, 256);
    T_EQ_INT(c.idle_timeout_s, 300);
    T_EQ_INT(c.frame_timeout_s, 30);
}

static void test_example_loads_clean(void)
{
    config c, d;
    char err[512] = "";
    const char *path = access("config.example.ini", R_OK) == 0 ? "config.example.ini"
                                                               : "../config.example.ini";
    config_defaults(&c);
    nwarn = 0;
    int r = config_load(&c, path, count_warn, err, sizeof err);
    if (r != 0 || nwarn)
        printf("#   %s / %s\n", err, last_warn);
    T_EQ_INT(r, 0);
    T_EQ_INT(nwarn, 0);
    /* Every documented value is the default, except the example secrets. */
    config_defaults(&d);
    T_EQ_STR(c.cluster_token, "change-me-cluster-token");
    T_EQ_INT(c.nusers, 2);
    const config_user *a = config_user_find(&c, "alice"), *b = config_user_find(&c, "bob");
    T_CHECK(a && !strcmp(a->token, "change-me-alice") && a->admin);
    T_CHECK(b && !strcmp(b->token, "change-me-bob") && !b->admin);
    memcpy(c.cluster_token, d.cluster_token, sizeof c.cluster_token);
    memcpy(c.users, d.users, sizeof c.users);
    c.nusers = 0;
    T_CHECK(memcmp(&c, &d, sizeof c) == 0);
    /* And every key appears in it, documented. */
    char *text = NULL;
    FILE *f = fopen(path, "rb");
    T_CHECK(f != NULL);
    if (!f)
        return;
    static char buf[65536];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    text = buf;
    for (size_t i = 0; i < NKEYS; i++) {
        char pat[128];
        snprintf(pat, sizeof pat, "\n%s = ", keys[i].key);
        if (!strstr(text, pat))
            printf("#   %s not in the example\n", keys[i].key);
        T_CHECK(strstr(text, pat) != NULL);
    }
}

static void test_every_key_settable(void)
{
    config c, d;
    char err[256];
    config_defaults(&d);
    for (size_t i = 0; i < NKEYS; i++) {
        config_defaults(&c);
        int r = config_set(&c, keys[i].section, keys[i].key, keys[i].value, err, sizeof err);
        if (r != 0)
            printf("#   %s.%s: %s\n", keys[i].section, keys[i].key, err);
        T_EQ_INT(r, 0);
        T_CHECK(memcmp(&c, &d, sizeof c) != 0);      /* it changed something */
    }
    /* The same values through a file, all at once. */
    static char text[8192];
    size_t o = 0;
    for (size_t i = 0; i < NKEYS; i++)
        o += (size_t)snprintf(text + o, sizeof text - o, "[%s]\n%s = %s\n", keys[i].section,
                              keys[i].key, keys[i].value);
    config_defaults(&c);
    T_EQ_INT(parse(&c, text, err, sizeof err), 0);
    T_EQ_INT(nwarn, 0);
    T_EQ_STR(c.listen, "0.0.0.0:8000");
    T_EQ_INT(c.task_timeout_s, 3600);
    T_CHECK(c.journal_compact_bytes == 1ull << 30);
    T_EQ_STR(c.mongo_uri, "mongodb://h:27017");
    T_EQ_STR(c.runtime, "process");
    T_CHECK(fabs(c.cpu - 2.5) < 1e-9);
    T_CHECK(c.memory == 8ull << 30);
    T_EQ_INT(c.gpu, 2);
    T_EQ_STR(c.policy, "spread");
    T_CHECK(c.max_frame == 131072);
    T_EQ_INT(c.frame_timeout_s, 5);
}

static void test_errors(void)
{
    static char longline[5000];
    memset(longline, 'x', sizeof longline - 1);
    memcpy(longline, "# ", 2);
    static const struct { const char *text, *want; } cases[] = {
        {"[master]\nheartbeat_interval_s = abc\n",
         "t.ini:2: [master] heartbeat_interval_s: 'abc' is not an integer"},
        {"# c\n; c\n\n[master]\nmax_attempts = 0\n",
         "t.ini:5: [master] max_attempts: 0 is outside 1..1000"},
        {"[master]\nmax_attempts = 99999999999999999999\n", "t.ini:2: [master] max_attempts:"},
        {"[master]\nmax_attempts = 3 # three\n", "t.ini:2: [master] max_attempts:"},
        {"[master]\nmax_attempts = +3\n", "t.ini:2: [master] max_attempts:"},
        {"[master]\nmaster_id = "
         "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
         "t.ini:2: [master] master_id: longer than 63 bytes"},
        {"[master]\nlisten =\n", "t.ini:2: [master] listen: must not be empty"},
        {"[worker]\nruntime = podman\n", "t.ini:2: [worker] runtime: 'podman' is not one of"},
        {"[scheduler]\npolicy = random\n", "t.ini:2: [scheduler] policy: 'random' is not one"},
        {"[worker]\nmemory = 12q\n", "t.ini:2: [worker] memory: '12q' is not a size"},
        {"[worker]\nmemory = 99999999999e\n", "t.ini:2: [worker] memory:"},
        {"[worker]\ncpu = nan\n", "t.ini:2: [worker] cpu: 'nan' is not a number"},
        {"[worker]\ncpu = 1.5x\n", "t.ini:2: [worker] cpu: '1.5x' is not a number"},
        {"[worker]\ncpu = -1\n", "t.ini:2: [worker] cpu:"},
        {"[worker]\ngpu = -2\n", "t.ini:2: [worker] gpu: -2 is outside -1..4096"},
        {"[worker]\ncompress_level = 10\n", "t.ini:2: [worker] compress_level:"},
        {"[limits]\nmax_frame = 2m\n", "t.ini:2: [limits] max_frame: 2097152 is outside"},
        {"[master\nlisten = x\n", "t.ini:1: missing ']'"},
        {"[]\n", "t.ini:1: empty section name"},
        {"[master]\n\nlisten\n", "t.ini:3: missing '='"},
        {"[master]\n = x\n", "t.ini:2: missing key before '='"},
        {"[master]\nlisten = \"abc\n", "t.ini:2: [master] listen: missing closing quote"},
        {"[master]\nlisten = \"a\\nb\"\n", "t.ini:2: [master] listen: bad escape"},
        {"[master]\nlisten = \"a\" b\n", "t.ini:2: [master] listen: text after the closing"},
        {"[master]\nlisten = a\x01" "b\n", "t.ini:2: [master] listen: contains a control byte"},
        {"[auth]\nuser.a/b = t\n", "t.ini:2: [auth] user.a/b: user name must be"},
        {"[auth]\nuser. = t\n", "t.ini:2: [auth] user.: user name must be"},
        {"[auth]\nuser..x = t\n", "t.ini:2: [auth] user..x: user name must be"},
        {"[auth]\nuser.a b = t\n", "t.ini:2: [auth] user.a b: user name must be"},
        {"[auth]\nuser.x =\n", "t.ini:2: [auth] user.x: token must be"},
        {"[auth]\nadmins = alice, ../x\n", "t.ini:2: [auth] admins: admins must be"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        config c, before;
        char err[256] = "";
        config_defaults(&c);
        memcpy(&before, &c, sizeof c);
        int r = parse(&c, cases[i].text, err, sizeof err);
        if (r != -1 || strncmp(err, cases[i].want, strlen(cases[i].want)))
            printf("#   case %zu: got %d \"%s\"\n", i, r, err);
        T_EQ_INT(r, -1);
        T_CHECK(strncmp(err, cases[i].want, strlen(cases[i].want)) == 0);
        T_CHECK(memcmp(&c, &before, sizeof c) == 0);   /* untouched on error */
    }
    /* Lines: one of 4096 bytes is fine, 4097 is not. */
    config c;
    char err[256];
    config_defaults(&c);
    longline[4096] = '\0';
    T_EQ_INT(parse(&c, longline, err, sizeof err), 0);
    longline[4096] = 'x';
    longline[4097] = '\0';
    T_EQ_INT(parse(&c, longline, err, sizeof err), -1);
    T_EQ_STR(err, "t.ini:1: line longer than 4096 bytes");
    /* A NUL byte inside a value is refused, not truncated at. */
    const char nul[] = "[master]\nlisten = a\0b\n";
    T_EQ_INT(config_parse(&c, nul, sizeof nul - 1, "n.ini", NULL, err, sizeof err), -1);
    T_CHECK(strncmp(err, "n.ini:2: [master] listen:", 25) == 0);
    /* Too many users. */
    static char many[8192];
    size_t o = (size_t)snprintf(many, sizeof many, "[auth]\n");
    for (int i = 0; i <= CONFIG_USERS_MAX; i++)
        o += (size_t)snprintf(many + o, sizeof many - o, "user.u%d = t%d\n", i, i);
    T_EQ_INT(parse(&c, many, err, sizeof err), -1);
    T_EQ_STR(err, "t.ini:66: [auth] user.u64: more than 64 users");
    /* Missing files name the path; a NULL err is allowed. */
    T_EQ_INT(config_load(&c, "/nonexistent/cloudai.ini", NULL, err, sizeof err), -1);
    T_CHECK(strncmp(err, "/nonexistent/cloudai.ini: ", 26) == 0);
    T_EQ_INT(config_load(&c, "/nonexistent/cloudai.ini", NULL, NULL, 0), -1);
}

static void test_warnings(void)
{
    config c;
    char err[256];
    config_defaults(&c);
    T_EQ_INT(parse(&c, "[master]\nbogus = 1\n", err, sizeof err), 0);
    T_EQ_INT(nwarn, 1);
    T_EQ_STR(last_warn, "t.ini:2: unknown key 'bogus' in [master]");
    T_EQ_INT(parse(&c, "[nosuch]\na = 1\nb = 2\n", err, sizeof err), 0);
    T_EQ_INT(nwarn, 2);
    T_EQ_STR(last_warn, "t.ini:3: unknown key 'b' in [nosuch]");
    T_EQ_INT(parse(&c, "top = 1\n", err, sizeof err), 0);
    T_EQ_STR(last_warn, "t.ini:1: unknown key 'top' in []");
    /* Keys are case-sensitive. */
    T_EQ_INT(parse(&c, "[master]\nListen = 1.2.3.4:5\n", err, sizeof err), 0);
    T_EQ_INT(nwarn, 1);
    T_EQ_STR(c.listen, "127.0.0.1:7070");
    /* Unknown keys in a section do not stop known ones after them. */
    T_EQ_INT(parse(&c, "[worker]\nfoo = x\ncpu = 3\n", err, sizeof err), 0);
    T_CHECK(c.cpu == 3.0);
    /* admins naming nobody warns with the admins line. */
    T_EQ_INT(parse(&c, "[auth]\nadmins = ghost\n", err, sizeof err), 0);
    T_EQ_STR(last_warn, "t.ini:2: admins: unknown user 'ghost'");
}

static void test_syntax(void)
{
    config c;
    char err[256] = "";
    config_defaults(&c);
    const char *text =
        "  # indented comment\r\n"
        "; semicolon comment\r\n"
        "[ master ]\r\n"
        "\tlisten\t=\t 0.0.0.0:1 \r\n"
        "master_id = \"quoted \\\"id\\\" \\\\ \"\r\n"
        "[storage]\n"
        "files_dir = \"/f s\"\n"
        "meta_dir=/m\n"
        "[master]\n"
        "max_attempts = 7";                           /* no final newline */
    int r = parse(&c, text, err, sizeof err);
    if (r)
        printf("#   %s\n", err);
    T_EQ_INT(r, 0);
    T_EQ_INT(nwarn, 0);
    T_EQ_STR(c.files_dir, "/f s");
    T_EQ_STR(c.listen, "0.0.0.0:1");
    T_EQ_STR(c.master_id, "quoted \"id\" \\ ");
    T_EQ_STR(c.meta_dir, "/m");
    T_EQ_INT(c.max_attempts, 7);
    T_EQ_INT(parse(&c, "", err, sizeof err), 0);
    T_EQ_INT(config_parse(&c, NULL, 0, NULL, NULL, err, sizeof err), 0);
    /* '=' inside a value belongs to the value; later lines override. */
    T_EQ_INT(parse(&c, "[mongodb]\nuri = mongodb://h/?a=b\nuri = x=y\n", err,
                   sizeof err), 0);
    T_EQ_STR(c.mongo_uri, "x=y");
}

static void test_auth(void)
{
    config c;
    char err[256] = "";
    config_defaults(&c);
    /* admins before the users it names: order does not matter. */
    const char *text = "[auth]\nadmins = bob , carol\n"
                       "user.alice = ta\n[auth]\nuser.bob = tb\nuser.carol = tc\n";
    T_EQ_INT(parse(&c, text, err, sizeof err), 0);
    T_EQ_INT(nwarn, 0);
    T_EQ_INT(c.nusers, 3);
    const config_user *u = config_user_find(&c, "alice");
    T_CHECK(u && !u->admin && !strcmp(u->token, "ta"));
    u = config_user_find(&c, "bob");
    T_CHECK(u && u->admin && !strcmp(u->token, "tb"));
    u = config_user_find(&c, "carol");
    T_CHECK(u && u->admin);
    T_CHECK(config_user_find(&c, "dave") == NULL);
    /* A second file updates a token and replaces the admin set. */
    T_EQ_INT(parse(&c, "[auth]\nuser.bob = tb2\nadmins = alice\n", err, sizeof err), 0);
    T_EQ_INT(c.nusers, 3);
    T_CHECK(config_user_find(&c, "alice")->admin);
    T_CHECK(!config_user_find(&c, "bob")->admin);
    T_EQ_STR(config_user_find(&c, "bob")->token, "tb2");
    /* Without an admins line the admin flags stay. */
    T_EQ_INT(parse(&c, "[auth]\nuser.eve = te\n", err, sizeof err), 0);
    T_CHECK(config_user_find(&c, "alice")->admin);
    T_EQ_INT(parse(&c, "[auth]\nadmins =\n", err, sizeof err), 0);
    T_CHECK(!config_user_find(&c, "alice")->admin);
    T_EQ_INT(parse(&c, "[auth]\nuser.x = \"quoted token\"\n", err, sizeof err), 0);
    T_EQ_STR(config_user_find(&c, "x")->token, "quoted token");
}

static void test_set(void)
{
    config c, before;
    char err[256] = "";
    config_defaults(&c);
    T_EQ_INT(config_set(&c, "worker", "cpu", "4", err, sizeof err), 0);
    T_CHECK(c.cpu == 4.0);
    T_EQ_INT(config_set(&c, "worker", "memory", "2GiB", err, sizeof err), 0);
    T_CHECK(c.memory == 2ull << 30);
    memcpy(&before, &c, sizeof c);
    T_EQ_INT(config_set(&c, "worker", "cpu", "four", err, sizeof err), -1);
    T_EQ_STR(err, "[worker] cpu: 'four' is not a number");
    T_EQ_INT(config_set(&c, "worker", "cpux", "4", err, sizeof err), -1);
    T_EQ_STR(err, "unknown key 'cpux' in [worker]");
    T_EQ_INT(config_set(&c, "master", "max_attempts", "0", err, sizeof err), -1);
    T_EQ_STR(err, "[master] max_attempts: 0 is outside 1..1000");
    T_CHECK(memcmp(&c, &before, sizeof c) == 0);
    T_EQ_INT(config_set(&c, "auth", "user.zed", "tz", err, sizeof err), 0);
    T_EQ_INT(config_set(&c, "auth", "user.amy", "ta", err, sizeof err), 0);
    T_EQ_INT(config_set(&c, "auth", "admins", "zed", err, sizeof err), 0);
    T_CHECK(config_user_find(&c, "zed")->admin);
    /* An unknown admin is an error and leaves the flags as they were. */
    T_EQ_INT(config_set(&c, "auth", "admins", "amy,ghost", err, sizeof err), -1);
    T_EQ_STR(err, "[auth] admins: unknown user 'ghost'");
    T_CHECK(config_user_find(&c, "zed")->admin);
    T_CHECK(!config_user_find(&c, "amy")->admin);
    T_EQ_INT(config_set(&c, NULL, "x", "y", err, sizeof err), -1);
    /* Aliases write the same fields. */
    T_EQ_INT(config_set(&c, "worker", "master", "h:1", err, sizeof err), 0);
    T_EQ_STR(c.master_addr, "h:1");
    T_EQ_INT(config_set(&c, "worker", "id", "w9", err, sizeof err), 0);
    T_EQ_STR(c.worker_id, "w9");
    T_EQ_INT(config_set(&c, "master", "heartbeat_interval", "7", err, sizeof err), 0);
    T_EQ_INT(c.heartbeat_interval_s, 7);
    /* Shorter strings leave no stale bytes behind (secrets, memcmp). */
    T_EQ_INT(config_set(&c, "master", "listen", "a", err, sizeof err), 0);
    T_CHECK(c.listen[1] == '\0' && c.listen[10] == '\0');
}

static void test_override(void)
{
    config c;
    char err[512];
    config_defaults(&c);
    T_EQ_INT(config_override(&c, "worker.cpu=4", err, sizeof err), 0);
    T_CHECK(c.cpu == 4);
    T_EQ_INT(config_override(&c, "http.listen=127.0.0.1:8081", err, sizeof err), 0);
    T_EQ_STR(c.http_listen, "127.0.0.1:8081");
    /* An empty value is a value (turns --dev's web browser off). */
    T_EQ_INT(config_override(&c, "http.listen=", err, sizeof err), 0);
    T_EQ_STR(c.http_listen, "");
    /* '=' in the value, dotted keys ([auth] users, retention rules). */
    T_EQ_INT(config_override(&c, "mongodb.uri=mongodb://h/?a=b", err, sizeof err), 0);
    T_EQ_STR(c.mongo_uri, "mongodb://h/?a=b");
    T_EQ_INT(config_override(&c, "auth.user.carol=tok=en", err, sizeof err), 0);
    T_CHECK(config_user_find(&c, "carol") && !strcmp(config_user_find(&c, "carol")->token, "tok=en"));
    T_EQ_INT(config_override(&c, "retention.rule.tmp-*=2", err, sizeof err), 0);
    T_CHECK(c.nrules == 1 && c.rules[0].max_age_days == 2);
    /* Refused values and keys name what is wrong. */
    T_EQ_INT(config_override(&c, "worker.cpu=four", err, sizeof err), -1);
    T_CHECK(strstr(err, "[worker] cpu") != NULL);
    T_EQ_INT(config_override(&c, "worker.cpux=4", err, sizeof err), -1);
    T_CHECK(strstr(err, "unknown key 'cpux' in [worker]") != NULL);
    T_EQ_INT(config_override(&c, "scheduler.policy=fastest", err, sizeof err), -1);
    /* Not an override: left to the caller. */
    T_EQ_INT(config_override(&c, "-listen", err, sizeof err), 1);
    T_EQ_INT(config_override(&c, "noequals.key", err, sizeof err), 1);
    T_EQ_INT(config_override(&c, "nodot=1", err, sizeof err), 1);
    T_EQ_INT(config_override(&c, ".key=1", err, sizeof err), 1);
    T_EQ_INT(config_override(&c, "worker.=1", err, sizeof err), 1);
    T_EQ_INT(config_override(&c, "-worker.cpu=1", err, sizeof err), 1);
    T_CHECK(c.cpu == 4);
}

/* archive.PATTERN = DAYS: per-name tiering; the first match wins over
 * archive_after_days, 0 = never for that name. */
static void test_archive_rules(void)
{
    config c;
    char err[512];
    config_defaults(&c);
    T_EQ_INT(config_archives(&c), 0);
    T_EQ_INT(config_archive_days(&c, "anything"), 0);
    T_EQ_INT(parse(&c, "[retention]\narchive.scratch-* = 0\narchive.train-* = 7\n"
                       "archive.train-big = 1\n", err, sizeof err), 0);
    T_EQ_INT(nwarn, 0);
    T_EQ_INT(c.narchive_rules, 3);
    T_EQ_INT(c.nrules, 0);                     /* not expiry rules */
    T_EQ_INT(config_archives(&c), 1);          /* a rule alone turns tiering on */
    T_EQ_INT(config_archive_days(&c, "train-a"), 7);
    T_EQ_INT(config_archive_days(&c, "train-big"), 7);   /* first match wins */
    T_EQ_INT(config_archive_days(&c, "scratch-1"), 0);
    T_EQ_INT(config_archive_days(&c, "other"), 0);       /* the global: never */
    T_EQ_INT(parse(&c, "[retention]\narchive_after_days = 30\n", err, sizeof err), 0);
    T_EQ_INT(config_archive_days(&c, "other"), 30);
    T_EQ_INT(config_archive_days(&c, "scratch-1"), 0);   /* 0 wins over the global */
    /* A repeated pattern replaces its days and keeps its place. */
    T_EQ_INT(config_override(&c, "retention.archive.train-*=2", err, sizeof err), 0);
    T_EQ_INT(c.narchive_rules, 3);
    T_EQ_INT(config_archive_days(&c, "train-big"), 2);
    /* Only zero rules and no global: off again. */
    config_defaults(&c);
    T_EQ_INT(parse(&c, "[retention]\narchive.x* = 0\n", err, sizeof err), 0);
    T_EQ_INT(config_archives(&c), 0);
    /* Refused like expiry rules, naming file:line. */
    T_EQ_INT(parse(&c, "[retention]\narchive.x = -1\n", err, sizeof err), -1);
    T_CHECK(strstr(err, "t.ini:2:") && strstr(err, "days must be an integer"));
    T_EQ_INT(parse(&c, "[retention]\narchive. = 3\n", err, sizeof err), -1);
    T_CHECK(strstr(err, "rule pattern") != NULL);
    config_defaults(&c);
    for (int i = 0; i < CONFIG_RULES_MAX; i++) {
        char k[64];
        snprintf(k, sizeof k, "retention.archive.n%d=1", i);
        T_EQ_INT(config_override(&c, k, err, sizeof err), 0);
    }
    T_EQ_INT(config_override(&c, "retention.archive.more=1", err, sizeof err), -1);
    T_CHECK(strstr(err, "more than") != NULL);
}

static void test_secrets(void)
{
    config c;
    char err[512] = "";
    const char *path = access("config.example.ini", R_OK) == 0 ? "config.example.ini"
                                                               : "../config.example.ini";
    config_defaults(&c);
    T_EQ_INT(config_check_secrets(&c, err, sizeof err), 0);
    /* The example as a starting point refuses, naming the key. */
    T_EQ_INT(config_load(&c, path, NULL, err, sizeof err), 0);
    T_EQ_INT(config_check_secrets(&c, err, sizeof err), -1);
    T_CHECK(strstr(err, "cluster_token") && strstr(err, "placeholder"));
    T_EQ_INT(config_override(&c, "auth.cluster_token=9f2c41d07be3", err, sizeof err), 0);
    T_EQ_INT(config_check_secrets(&c, err, sizeof err), -1);
    T_CHECK(strstr(err, "user.alice") != NULL);
    T_EQ_INT(config_override(&c, "auth.user.alice=a1", err, sizeof err), 0);
    T_EQ_INT(config_override(&c, "auth.user.bob=b2", err, sizeof err), 0);
    T_EQ_INT(config_check_secrets(&c, err, sizeof err), 0);
}

int main(void)
{
    T_RUN(test_defaults);
    T_RUN(test_example_loads_clean);
    T_RUN(test_every_key_settable);
    T_RUN(test_errors);
    T_RUN(test_warnings);
    T_RUN(test_syntax);
    T_RUN(test_auth);
    T_RUN(test_set);
    T_RUN(test_override);
    T_RUN(test_archive_rules);
    T_RUN(test_secrets);
    return T_DONE();
}
