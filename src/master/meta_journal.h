/* meta_journal.h — private to the embedded metadata backend: the state
 * shared by meta_journal.c (changes, replay, compaction, open/close) and
 * meta_journal_query.c (finds). Locking as described in meta_journal.c:
 * the query functions take the rwlock shared themselves.
 *
 * Memory: the documents themselves stay in the store's files (metaref.h);
 * memory holds per task its key fields and one reference, per task with
 * files a group with the references of its files sorted by file_name (8
 * bytes a file), and user ids and task names once each (interned). */
#ifndef CLOUDAI_META_JOURNAL_H
#define CLOUDAI_META_JOURNAL_H
#include <pthread.h>
#include <stddef.h>
#include "master/journal.h"
#include "master/meta_impl.h"
#include "master/metaidx.h"
#include "master/metaref.h"

/* An interned string (user ids, task names): one copy per distinct value,
 * kept until close; id numbers it in a snapshot index. */
struct istr {
    uint32_t id;
    char s[];
};
#define META_ISTR(p) ((struct istr *)(void *)((char *)(p) - offsetof(struct istr, s)))

/* A task: what the indexes and filters need, and where its document is. */
struct tnode {
    uint64_t submitted_at;
    uint64_t ref;                  /* its document on disk (METAREF_NONE: only in doc) */
    uint8_t *doc;                  /* a copy while the record is not yet durable, else NULL */
    uint32_t dirty;                /* 1 + position in mj->dirty while doc is set, else 0 */
    int status;
    const char *user_id, *task_name;   /* interned */
    char task_id[];
};

/* The ref of a task record replaced during a compaction (meta_journal.c). */
#define METAREF_DEAD (METAREF_NONE - 1)
#define CGROUP_TOUCHED 1u          /* its refs changed since the compaction's capture */
#define CGROUP_DEAD 2u             /* deleted since then (kept until the compaction ends) */
#define CGROUP_DONE 4u             /* its refs moved */

/* The file records of one task_id. */
struct fgroup {
    uint64_t submitted_at;         /* least of its files': the order key */
    uint64_t *ref;                 /* its files' documents, in file_name order */
    uint32_t n, cap;
    uint32_t pending;              /* files a prepared change may add */
    uint8_t mixed;                 /* files disagree on user or name */
    uint8_t mixed_time;            /* files disagree on submitted_at */
    uint8_t fresh;                 /* prepared, not yet in the indexes */
    uint8_t cflags;                /* CGROUP_*: during a compaction (meta_journal.c) */
    const char *user_id, *task_name;   /* of its files when not mixed (interned) */
    char task_id[];
};

struct mj {
    struct meta base;
    pthread_rwlock_t lock;
    pthread_mutex_t sync_mu;      /* one group-commit fdatasync at a time; taken before lock */
    int nosync;                   /* set by j_task_put_nosync around one change */
    char *dir, *jpath, *spath, *jtmp, *stmp;
    char *jprev, *sprev;          /* the generation before: fallback for a damaged snapshot */
    char *ipath, *itmp;           /* the snapshot's index (meta_journal_index.c) */
    journal *j;                   /* NULL while replaying */
    int jsrc;                     /* the live journal as a metaref source (-1: none) */
    int ssrc;                     /* the snapshot's (-1: none) */
    uint32_t gen;                 /* of the snapshot and the live journal */
    int stale;                    /* snapshot renamed, journal not yet swapped */
    uint64_t compact_bytes, compact_next;
    uint64_t snap_bytes;          /* size of the current snapshot */
    size_t mixed_time;            /* groups whose files disagree on time */
    size_t nfiles;                /* file records in all groups */
    /* File records put without sync (j_files_put_nosync) have no copy: a
     * cut-back drops them from the index. files_dirty_to: the journal end
     * after the last of them (0: all synced); files_cuts: how many times
     * a cut dropped some (meta_files_cuts). */
    uint64_t files_dirty_to, files_cuts;
    /* What those records replaced (old -> now), for a cut to put back. */
    struct fundo { uint64_t old, now; } *fundo;
    size_t nfundo, capfundo;
    metaidx_map tasks, groups, workers, strings;
    metaidx_ord tord, gord;
    metaref_set src;
    struct tnode **dirty;         /* tasks whose latest record is not yet durable */
    size_t ndirty, capdirty;
    /* The background check of the snapshot (meta_open_report.check_later). */
    pthread_t chk;
    int chk_started;              /* a thread to join */
    int chk_running;              /* under lock: compactions wait */
    volatile int chk_stop;
    int chk_fd, chk_rc;
    uint64_t chk_size;
    char chk_text[1024];
    /* A compaction in progress (meta_journal.c): its capture, its thread. */
    struct compaction *cp;        /* under lock */
    pthread_t cp_th;
    int cp_started;               /* a thread to join (under lock) */
    int cp_busy, cp_stop;         /* atomics: the thread has not ended; close asks it to stop */
    int hold_compact;             /* the check found damage: until a restart */
    void (*on_check)(void *ctx, int damaged, const char *text);
    void *on_check_ctx;
};

/* The store's one copy of s; NULL: no memory. */
const char *meta_journal_intern(struct mj *mj, const char *s);

/* A task's document: its in-memory copy, or read through r. */
int meta_journal_task_doc(struct mj *mj, const struct tnode *n, metaref_reader *r,
                          const uint8_t **doc, uint32_t *len);
/* Decodes a stored file document into f (strings cleared first). */
int meta_journal_file_decode(const uint8_t *doc, uint32_t len, file_rec *f);

/* meta_journal_index.c: writes the index of the snapshot just written
 * (snap_size bytes, generation mj->gen) via tmp -> fsync -> rename ->
 * fsync(dir); loads one into an empty state whose snapshot is source ssrc
 * (on failure the caller clears the partial state). 0 or META_E_*. */
int meta_journal_index_write(struct mj *mj, const char *tmp, const char *path, uint64_t snap_size,
                             char *err, size_t errcap);
/* The same in two steps: build writes tmp from the state (under the lock),
 * finish fsyncs and renames it (not under it: a big index is a long fsync). */
int meta_journal_index_build(struct mj *mj, const char *tmp, uint64_t snap_size, journal **out,
                             char *err, size_t errcap);
int meta_journal_index_finish(journal *j, const char *tmp, const char *path, const char *dir,
                              char *err, size_t errcap);
int meta_journal_index_load(struct mj *mj, const char *path, uint32_t gen, uint64_t snap_size, int ssrc,
                            char *err, size_t errcap);

/* The read side of journal_ops (meta_impl.h contracts). */
int meta_journal_task_get(meta *m, const char *task_id, task_rec *out);
int meta_journal_tasks_find(meta *m, const meta_query *q, meta_task_cb cb, void *ctx);
int meta_journal_files_find(meta *m, const meta_query *q, meta_file_cb cb, void *ctx);
int meta_journal_workers_list(meta *m, meta_worker_cb cb, void *ctx);
#endif
