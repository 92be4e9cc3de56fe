/* mongo_query.c — a look at the database from outside the master, for
 * tests: prints every document of COLLECTION matching FILTER (extended
 * JSON, default {}) as relaxed extended JSON, one per line, sorted by _id,
 * then a last line "count N".
 * usage: mongo_query URI DB COLLECTION [FILTER_JSON]
 * Exit 0 on success, 1 on a server or connection error, 2 on bad usage. */
#include <mongoc/mongoc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void quiet(mongoc_log_level_t level, const char *domain, const char *msg, void *ud)
{
    if (level <= MONGOC_LOG_LEVEL_ERROR) fprintf(stderr, "mongoc: %s\n", msg);
}

int main(int argc, char **argv)
{
    int rc = 1;
    long count = 0;
    bson_error_t e;
    bson_t *filter = NULL, opts = BSON_INITIALIZER, sort;
    mongoc_uri_t *uri = NULL;
    mongoc_client_t *c = NULL;
    mongoc_collection_t *coll = NULL;
    mongoc_cursor_t *cur = NULL;
    const bson_t *doc;

    if (argc < 4 || argc > 5) {
        fprintf(stderr, "usage: mongo_query URI DB COLLECTION [FILTER_JSON]\n");
        return 2;
    }
    mongoc_log_set_handler(quiet, NULL);
    mongoc_init();
    if (!(filter = bson_new_from_json((const uint8_t *)(argc == 5 ? argv[4] : "{}"), -1, &e))) {
        fprintf(stderr, "mongo_query: bad filter: %s\n", e.message);
        rc = 2;
        goto out;
    }
    if (!(uri = mongoc_uri_new_with_error(argv[1], &e))) {
        fprintf(stderr, "mongo_query: bad URI: %s\n", e.message);
        rc = 2;
        goto out;
    }
    if (!mongoc_uri_has_option(uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS))
        mongoc_uri_set_option_as_int32(uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS, 5000);
    if (!(c = mongoc_client_new_from_uri_with_error(uri, &e))) {
        fprintf(stderr, "mongo_query: %s\n", e.message);
        goto out;
    }
    mongoc_client_set_error_api(c, MONGOC_ERROR_API_VERSION_2);
    mongoc_client_set_appname(c, "cloudai-mongo-query");
    coll = mongoc_client_get_collection(c, argv[2], argv[3]);
    BSON_APPEND_DOCUMENT_BEGIN(&opts, "sort", &sort);
    BSON_APPEND_INT32(&sort, "_id", 1);
    bson_append_document_end(&opts, &sort);
    cur = mongoc_collection_find_with_opts(coll, filter, &opts, NULL);
    while (mongoc_cursor_next(cur, &doc)) {
        char *js = bson_as_relaxed_extended_json(doc, NULL);
        if (js) puts(js);
        bson_free(js);
        count++;
    }
    if (mongoc_cursor_error(cur, &e)) {
        fprintf(stderr, "mongo_query: %s\n", e.message);
        goto out;
    }
    printf("count %ld\n", count);
    rc = 0;
out:
    if (cur) mongoc_cursor_destroy(cur);
    if (coll) mongoc_collection_destroy(coll);
    if (c) mongoc_client_destroy(c);
    if (uri) mongoc_uri_destroy(uri);
    if (filter) bson_destroy(filter);
    bson_destroy(&opts);
    mongoc_cleanup();
    return rc;
}
