/* ids.h — task ids, automatic task names, path-safe names and times. */
#ifndef CLOUDAI_IDS_H
#define CLOUDAI_IDS_H
#include <stddef.h>
#include <stdint.h>

#define IDS_NAME_MAX 64       /* bytes of a sanitised name component */
#define IDS_TASK_ID_LEN 40

uint64_t ids_now_ms(void);
/* "task-<unix seconds>-<12 random hex>" from getrandom(): unique across
 * processes and within one second. 0 or -errno. */
int ids_task_id(uint64_t now_ms, char *out, size_t cap);
/* The seed's rule: image name without registry, path and tag/digest, then
 * "-<unix seconds>": "registry.io/lib/alpine:3.19" -> "alpine-1764340000". */
void ids_auto_name(const char *image, uint64_t now_ms, char *out, size_t cap);
/* Makes a name safe as one path component: keeps [A-Za-z0-9._-], maps
 * every other byte to '_', collapses runs of '_', caps at IDS_NAME_MAX
 * bytes, turns a leading '.' into '_', and never returns "" ("_"),
 * "." or "..". Returns 1 if the name changed, 0 if it was already safe. */
int ids_sanitize(const char *in, char *out, size_t cap);
/* Path component for a submission time: "20261128T144533Z". */
void ids_time_component(uint64_t ms, char *out, size_t cap);
/* "2026-11-28 14:45:33" (UTC) for tables. */
void ids_time_human(uint64_t ms, char *out, size_t cap);
/* Parses a time: unix seconds, "YYYY-MM-DD", "YYYY-MM-DDTHH:MM:SSZ",
 * "YYYY-MM-DD HH:MM:SS" (UTC), or relative "30s", "15m", "2h", "7d" (ago).
 * 0 or -EINVAL. */
int ids_parse_time(const char *s, uint64_t now_ms, uint64_t *out_ms);
/* Parses sizes "512", "64k", "1.5g", "2GiB" into bytes; 0 or -EINVAL. */
int ids_parse_size(const char *s, uint64_t *out);
/* Shell-style glob match (*, ?, [..]) of a task name; 1 if it matches. */
int ids_glob(const char *pattern, const char *name);
#endif
