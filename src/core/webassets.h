/*
 * webassets: a whitelist of static files (a UI's scripts, styles, icons) read into memory on the
 * first request that needs them and served from there. Nothing outside the list is ever served,
 * whatever the folder holds. Each file gets a version (64-bit FNV-1a of its content, hex) that
 * pages put in their URLs as a cache key. When a folder is not set or a file cannot be read, the
 * routes answer 503 with the set's explanation (logged once).
 *
 * Loaded under a mutex (every event-loop thread answers requests); read-only afterwards, for
 * the life of the process.
 */
#ifndef STRATA_WEBASSETS_H
#define STRATA_WEBASSETS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/http.h"

struct web_asset {
    const char *name;       /* the URL's last segment */
    char *const *dir;       /* the setting holding its folder; NULL: generated, data given */
    const char *dir_setting; /* that setting's name, for the log */
    const char *path;       /* under the folder */
    const char *type;       /* Content-Type */
    const char *data;
    size_t len;
    char version[17];
};

struct web_assets {
    struct web_asset *v;
    size_t n;
    size_t max_bytes;         /* per file */
    const char *log_disabled; /* fixed log phrases: a folder setting is empty / a file is missing */
    const char *log_missing;
    const char *unavailable;  /* the 503's detail */
    void (*on_loaded)(void);  /* after every file is in (the dashboard builds its page) */
    pthread_mutex_t mu;       /* PTHREAD_MUTEX_INITIALIZER */
    bool loaded, ok;
};

/* Loads the set once; answers 503 (no-store) and returns false when it is not there. */
bool web_assets_ready(struct web_assets *s, struct http_req *r);

/* The file of that name, or NULL (not in the list). */
const struct web_asset *web_assets_find(const struct web_assets *s, const char *name);

/* 200 with the file, cached for a day (its URL carries its version), nosniff. */
void web_assets_reply(struct http_req *r, const struct web_asset *a);

#endif
