/*
 * fuzz_quake_collection: the replay file scanner (collection.c) on untrusted text. Never crash
 * or read outside the input; and whenever the scan succeeds and jansson also accepts the whole
 * text (U+0000 allowed, as the replay reads it), the scan must agree with jansson: the same
 * number of features, each span's text parses (alone) to the same value as jansson's element,
 * a keyed feature's sort key is what jansson's element says, and `sorted` holds only when
 * every feature is keyed and in order. Abort otherwise.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "apps/quakes/collection.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_INPUT (1u << 20)

/* The integer jansson holds for a sort-key member, or false when it is not one. */
static bool key_int(const json_t *props, const char *name, bool null_ok, int64_t fallback, int64_t *out)
{
    const json_t *v = json_object_get(props, name);
    if (null_ok && (!v || json_is_null(v))) {
        *out = fallback;
        return true;
    }
    if (!json_is_integer(v))
        return false;
    *out = (int64_t)json_integer_value(v);
    return true;
}

static void check_key(const char *text, const struct quake_span *sp, const json_t *f)
{
    const json_t *id = json_object_get(f, "id");
    const json_t *props = json_object_get(f, "properties");
    int64_t t, u;
    if (!json_is_object(f) || !json_is_string(id) || !json_is_object(props))
        abort();
    if (json_string_length(id) != sp->id_len || memcmp(json_string_value(id), text + sp->id_off, sp->id_len) != 0)
        abort();
    if (!key_int(props, "time", false, 0, &t) || t != sp->time_ms)
        abort();
    if (!key_int(props, "updated", true, t, &u) || u != sp->updated_ms)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > MAX_INPUT)
        return 0;
    const char *text = (const char *)data;
    struct quake_collection c;
    int rc = quake_collection_scan(text, size, &c);
    if (rc < 0) {
        if (c.n != 0)
            abort();
        quake_collection_cleanup(&c);
        return 0;
    }
    if (c.array_begin >= c.array_end || c.array_end > size || text[c.array_begin] != '[' ||
        text[c.array_end - 1] != ']')
        abort();
    size_t prev_end = c.array_begin + 1;
    for (size_t i = 0; i < c.n; i++) {
        const struct quake_span *sp = &c.v[i];
        if (sp->len == 0 || sp->off < prev_end || sp->off + sp->len > c.array_end - 1)
            abort();
        if (sp->keyed && (sp->id_off < sp->off || sp->id_off + sp->id_len > sp->off + sp->len))
            abort();
        if (c.sorted && (!sp->keyed || (i > 0 && quake_span_cmp(text, &c.v[i - 1], sp) > 0)))
            abort();
        prev_end = sp->off + sp->len;
    }

    json_t *doc = json_loadb(text, size, JSON_ALLOW_NUL, NULL);
    if (doc) {
        const json_t *features = json_object_get(doc, "features");
        if (!json_is_array(features) || json_array_size(features) != c.n)
            abort();
        for (size_t i = 0; i < c.n; i++) {
            const struct quake_span *sp = &c.v[i];
            json_t *one = json_loadb(text + sp->off, sp->len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
            if (!one || !json_equal(one, json_array_get(features, i)))
                abort();
            json_decref(one);
            if (sp->keyed)
                check_key(text, sp, json_array_get(features, i));
        }
        json_decref(doc);
    }
    quake_collection_cleanup(&c);
    return 0;
}
