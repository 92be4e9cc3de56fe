/* config.h — the INI configuration (config.example.ini documents every
 * key). Sections: [master] [worker] [storage] [mongodb] [auth] [scheduler]
 * [limits] [tls] [http] [retention] [store]. Typed values with defaults; unknown keys produce a warning; a
 * bad value is an error naming file:line. A config is plain data: fill it
 * once at start, then share it read-only between threads. */
#ifndef CLOUDAI_CONFIG_H
#define CLOUDAI_CONFIG_H
#include <stddef.h>
#include <stdint.h>

/* [mongodb] socket_timeout_ms when not set (the driver's own is 300 s). */
#define CONFIG_MONGO_SOCKET_TIMEOUT_MS 10000

#define CONFIG_PATH_MAX 1024
#define CONFIG_USERS_MAX 64

typedef struct config_user {
    char name[64];
    char token[256];
    int admin;
} config_user;

#define CONFIG_RULES_MAX 32

/* [retention] rule.PATTERN = DAYS: runs whose task name matches the glob
 * expire after DAYS (0 = never); the first matching rule wins. The same
 * shape for archive.PATTERN = DAYS (tiering: move to the bucket). */
typedef struct config_rule {
    char pattern[128];
    int max_age_days;
} config_rule;

/* [retention] quota.USER = SOFT,HARD (sizes): overrides the global pair. */
typedef struct config_quota {
    char user[64];
    uint64_t soft, hard;
} config_quota;

typedef struct config {
    /* [master] */
    char listen[256];              /* "127.0.0.1:7070" */
    char master_id[64];            /* "master" */
    int heartbeat_interval_s;      /* 2: workers send this often */
    int heartbeat_timeout_s;       /* 10: silent longer = lost */
    int max_attempts;              /* 3 */
    int retry_backoff_s;           /* 5: -retries waits this, doubled per retry, at most 300 s */
    int task_timeout_s;            /* 0 = none; default for tasks without -timeout */
    /* [storage] */
    char files_dir[CONFIG_PATH_MAX];   /* "./data/files" */
    char meta_dir[CONFIG_PATH_MAX];    /* "./data/meta" */
    uint64_t journal_compact_bytes;    /* 64 MiB: snapshot when the journal grows past */
    uint64_t snapshot_check_sync_max;  /* 1 GiB: a bigger snapshot is checked after the start */
    /* [mongodb] */
    char mongo_uri[CONFIG_PATH_MAX];   /* "" = embedded journal */
    char mongo_database[64];           /* "cloudai" */
    int mongo_timeout_ms;              /* 5000: server selection */
    int mongo_socket_timeout_ms;       /* 10000: one operation's reply (socketTimeoutMS) */
    /* [worker] */
    char worker_id[64];                /* "" = hostname */
    char master_addr[256];             /* "127.0.0.1:7070" */
    char runtime[16];                  /* "auto" | "docker" | "process" */
    char docker_socket[108];           /* "/var/run/docker.sock" */
    char outputs_dir[CONFIG_PATH_MAX]; /* "./data/outputs" */
    double cpu;                        /* 0 = detect */
    uint64_t memory;                   /* 0 = detect */
    uint64_t storage;                  /* 0 = detect (free disk under outputs_dir) */
    int64_t gpu;                       /* -1 = detect (nvidia-smi) */
    int compress_level;                /* -1 = adaptive, 0 = store, 1..9 */
    int upload_threads;                /* 2: deflate threads per upload */
    uint64_t input_cache_bytes;        /* inputs kept in <outputs>/.input-cache, 0 = unbounded */
    /* [auth] */
    char cluster_token[256];           /* workers prove this */
    config_user users[CONFIG_USERS_MAX]; /* "user.NAME = TOKEN", admins = a,b */
    int nusers;
    /* [scheduler] */
    char policy[16];                   /* learned | easy | greedy | fifo (best-fit, spread: greedy) */
    char placement[16];                /* "best-fit" | "spread" */
    int fairshare_halflife_s;          /* 0 = no fair share */
    char fairshare_weights[512];       /* "alice:2, bob:0.5" */
    int max_running_per_user;          /* 0 = no limit */
    int default_limit_s;               /* backfilling a task without -timeout */
    int queue_unsatisfiable;           /* 1: queue what no registered worker could run */
    /* [limits] */
    uint64_t max_output_bytes;         /* per task, 0 = unlimited */
    uint64_t max_log_bytes;            /* per task attempt, 0 = unlimited */
    uint64_t max_output_files;         /* per task */
    uint64_t max_input_bytes;          /* one -input (file, or directory's ustar), 0 = unlimited */
    int input_keep_s;                  /* an input no task refers to is kept this long */
    uint32_t max_frame;                /* payload bytes, <= PROTO_PAYLOAD_MAX */
    int max_uploads;                   /* concurrent uploads at the master */
    int max_connections;               /* authenticated connections */
    int max_handshakes;                /* connections before HELLO (all addresses) */
    int max_handshakes_per_addr;       /* connections before HELLO from one address */
    int handshake_timeout_s;           /* a HELLO must start, and finish, within */
    int idle_timeout_s;                /* a connection silent this long is closed */
    int frame_timeout_s;               /* a started frame must finish within */
    /* [tls] */
    char tls_cert[CONFIG_PATH_MAX];    /* master: its certificate; peers: a client certificate */
    char tls_key[CONFIG_PATH_MAX];
    char tls_ca[CONFIG_PATH_MAX];      /* peers: CA of the master; master: CA of client certs */
    int tls_require_client_cert;       /* master: refuse peers without a valid client cert */
    char tls_server_name[256];         /* peers: name the master's cert must carry, "" = host of master */
    /* [http] */
    char http_listen[256];             /* "" = no HTTP API / web browser */
    /* [retention] */
    int retention_max_age_days;        /* 0 = keep forever */
    config_rule rules[CONFIG_RULES_MAX];
    int nrules;
    uint64_t quota_soft, quota_hard;   /* stored bytes per user, 0 = none */
    config_quota quotas[CONFIG_USERS_MAX];
    int nquotas;
    int sweep_interval_s;              /* 3600: seconds between retention sweeps */
    int archive_after_days;            /* 0 = never: [store] backend = s3 moves older runs there */
    config_rule archive_rules[CONFIG_RULES_MAX];   /* archive.PATTERN = DAYS, first match wins */
    int narchive_rules;
    int compress_after_days;           /* 0 = never: older runs are packed on the disk (zblock.h) */
    config_rule compress_rules[CONFIG_RULES_MAX];   /* compress.PATTERN = DAYS, first match wins */
    int ncompress_rules;
    /* [store] where finished outputs live (README "Object storage") */
    char store_backend[8];             /* "local" | "s3" */
    char s3_endpoint[512];             /* "http://127.0.0.1:8333", "https://s3.eu-west-1.amazonaws.com" */
    char s3_bucket[256];
    char s3_region[64];                /* "" = AWS_REGION, else us-east-1 */
    char s3_prefix[256];               /* key prefix before <user>/<task_name>/... */
    char s3_access_key[256];           /* "" = AWS_ACCESS_KEY_ID */
    char s3_secret_key[256];           /* "" = AWS_SECRET_ACCESS_KEY */
    uint64_t s3_part_size;             /* 16 MiB: multipart above it, memory per upload */
    int s3_retries;                    /* 5: attempts after the first, with backoff */
    int s3_stall_timeout_s;            /* 60: a transfer moving nothing this long is retried */
} config;

typedef void (*config_warn_fn)(const char *msg);

/* Days after which a run of task_name moves to the bucket: the first
 * archive.PATTERN rule that matches, else archive_after_days; 0 = never. */
int config_archive_days(const config *c, const char *task_name);
/* 1 when some run can be due for the bucket (archive_after_days or an
 * archive rule above 0), else 0. */
int config_archives(const config *c);

void config_defaults(config *c);
/* Loads a file over the current values. 0, or -1 with err = "file:line: why". */
int config_load(config *c, const char *path, config_warn_fn warn, char *err, size_t errcap);
/* Parses INI text (fuzz entry point). name is used in messages. */
int config_parse(config *c, const char *text, size_t len, const char *name,
                 config_warn_fn warn, char *err, size_t errcap);
/* Sets one key, as from a command-line flag: "worker.cpu" = "4". */
int config_set(config *c, const char *section, const char *key, const char *value,
               char *err, size_t errcap);
/* A command-line override "section.key=value" (e.g. "worker.cpu=4",
 * "auth.user.alice=TOKEN", "retention.rule.tmp-*=2"): the section is the text
 * before the first '.', the key the rest up to the first '='. Same validation
 * as config_set. Returns 0, -1 with err filled, or 1 when arg does not have
 * that form (the caller treats it as some other argument). */
int config_override(config *c, const char *arg, char *err, size_t errcap);
/* Refuses the example secrets: -1 with err naming the key when a token
 * still holds "change-me" (config.example.ini's placeholders), else 0. */
int config_check_secrets(const config *c, char *err, size_t errcap);
const config_user *config_user_find(const config *c, const char *name);
#endif
