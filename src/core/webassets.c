#include "core/webassets.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/fileio.h"
#include "core/log.h"

#define ASSET_CACHE "public, max-age=86400"

static void version_of(struct web_asset *a)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < a->len; i++) {
        h ^= (unsigned char)a->data[i];
        h *= 0x100000001b3ull;
    }
    static const char hex[] = "0123456789abcdef";
    for (int i = 15; i >= 0; i--, h >>= 4)
        a->version[i] = hex[h & 15];
    a->version[16] = '\0';
}

static void load(struct web_assets *s)
{
    s->ok = true;
    for (size_t i = 0; s->ok && i < s->n; i++) {
        const struct web_asset *a = &s->v[i];
        if (a->dir && !(*a->dir && (*a->dir)[0])) {
            log_msg(LOG_WARN, NULL, s->log_disabled, "%s is empty: its routes answer 503", a->dir_setting);
            s->ok = false;
        }
    }
    struct buf path;
    buf_init(&path);
    for (size_t i = 0; s->ok && i < s->n; i++) {
        struct web_asset *a = &s->v[i];
        if (a->dir) {
            char *data = NULL;
            const char *why = "";
            buf_reset(&path);
            buf_printf(&path, "%s/%s", *a->dir, a->path);
            if (file_read_all(path.data, s->max_bytes, &data, &a->len, &why) < 0) {
                log_msg(LOG_WARN, NULL, s->log_missing, "cannot read %s: %s; its routes answer 503 (run "
                        "scripts/ui.sh, or set %s)", path.data, why, a->dir_setting);
                s->ok = false;
                break;
            }
            a->data = data;
        }
        version_of(a);
    }
    buf_cleanup(&path);
    if (!s->ok) {
        for (size_t i = 0; i < s->n; i++)
            if (s->v[i].dir) {
                free((void *)s->v[i].data);
                s->v[i].data = NULL;
                s->v[i].len = 0;
            }
    } else if (s->on_loaded) {
        s->on_loaded();
    }
}

bool web_assets_ready(struct web_assets *s, struct http_req *r)
{
    pthread_mutex_lock(&s->mu);
    if (!s->loaded) {
        load(s);
        s->loaded = true;
    }
    bool ok = s->ok;
    pthread_mutex_unlock(&s->mu);
    if (!ok) {
        http_add_header(r, "Cache-Control", "no-store");
        http_reply_problem(r, 503, s->unavailable);
    }
    return ok;
}

const struct web_asset *web_assets_find(const struct web_assets *s, const char *name)
{
    for (size_t i = 0; name && i < s->n; i++)
        if (!strcmp(name, s->v[i].name))
            return &s->v[i];
    return NULL;
}

void web_assets_reply(struct http_req *r, const struct web_asset *a)
{
    http_add_header(r, "Cache-Control", ASSET_CACHE);
    http_add_header(r, "X-Content-Type-Options", "nosniff");
    http_reply(r, 200, a->type, a->data, a->len);
}
