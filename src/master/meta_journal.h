/* meta_journal.h — private to the embedded metadata backend: the state
 * shared by meta_journal.c (changes, replay, compaction, open/close) and
 * meta_journal_query.c (finds). Locking as described in meta_journal.c:
 * the query functions take the rwlock shared themselves. */
#ifndef CLOUDAI_META_JOURNAL_H
#define CLOUDAI_META_JOURNAL_H
#include <pthread.h>
#include "master/journal.h"
#include "master/meta_impl.h"
#include "master/metaidx.h"

struct fnode {
    size_t idx;                   /* position in the group's vector */
    uint64_t submitted_at, file_size, stored_at;
    uint32_t mode;
    uint8_t sha256[32];
    /* Into buf, except: user_id and task_name point at the group's when
     * equal to them, and file_path is NULL when it is the group's dir +
     * "/" + file_name (as the store lays files out): a file record costs
     * its name and little else. */
    const char *user_id, *task_name, *file_name, *file_path;
    char buf[];
};

/* A task as the store keeps it: its BSON document (metadoc), decoded on
 * the way out, plus the fields the indexes and filters need. A task_rec is
 * ~1.9 KiB of fixed arrays; this is the size of what the task holds. */
struct tnode {
    uint64_t submitted_at;
    int status;
    uint32_t doclen;
    const char *task_id, *user_id, *task_name;   /* into buf */
    const uint8_t *doc;                          /* into buf */
    char buf[];
};

/* Decodes n into t (task_rec_init'ed here; the caller task_rec_free's). */
int meta_journal_tnode_to_rec(const struct tnode *n, task_rec *t);

struct fgroup {
    char task_id[64];
    char user_id[64], task_name[128];   /* of its first file */
    char *dir;                          /* its first file's path minus "/" file_name, or NULL */
    size_t dirlen;
    uint64_t submitted_at;              /* least of its files': the order key */
    int mixed;                          /* files disagree on user or name */
    int mixed_time;                     /* files disagree on submitted_at */
    int fresh;                          /* prepared, not yet in the indexes */
    size_t pending;                     /* files a prepared change may add */
    struct fnode **v;
    size_t n, cap;
    metaidx_map byname;
};

struct mj {
    struct meta base;
    pthread_rwlock_t lock;
    pthread_mutex_t sync_mu;      /* one group-commit fdatasync at a time; taken before lock */
    int nosync;                   /* set by j_task_put_nosync around one change */
    char *dir, *jpath, *spath, *jtmp, *stmp;
    char *jprev, *sprev;          /* the generation before: fallback for a damaged snapshot */
    journal *j;                   /* NULL while replaying */
    uint32_t gen;                 /* of the snapshot and the live journal */
    int stale;                    /* snapshot renamed, journal not yet swapped */
    uint64_t compact_bytes, compact_next;
    size_t mixed_time;            /* groups whose files disagree on time */
    metaidx_map tasks, groups, workers;
    metaidx_ord tord, gord;
};

/* Fills f from a stored file (only the used part of each string). */
void meta_journal_fnode_to_rec(const struct fgroup *g, const struct fnode *n, file_rec *f);

/* The read side of journal_ops (meta_impl.h contracts). */
int meta_journal_task_get(meta *m, const char *task_id, task_rec *out);
int meta_journal_tasks_find(meta *m, const meta_query *q, meta_task_cb cb, void *ctx);
int meta_journal_files_find(meta *m, const meta_query *q, meta_file_cb cb, void *ctx);
int meta_journal_workers_list(meta *m, meta_worker_cb cb, void *ctx);
#endif
