/* meta_mongo.c — placeholder for the MongoDB metadata backend. The real
 * backend (libmongoc pool, the documents of metadoc.h, meta_ops of
 * meta_impl.h) replaces this file; until then opening fails cleanly so the
 * master falls back to, or insists on, the journal. */
#include "master/meta_impl.h"

/* Always NULL for now, with the reason in err. Thread-safe. */
meta *meta_open_mongo(const char *uri, const char *db, int timeout_ms, char *err, size_t errcap)
{
    meta_errf(err, errcap, "MongoDB backend not built yet");
    return NULL;
}
