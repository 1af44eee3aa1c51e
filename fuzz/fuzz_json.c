/*
 * fuzz_json: the JSON writer against jansson. Two checks per input:
 *   1. whatever jansson accepts, re-rendered through jsonw, parses again to an equal tree
 *      (numbers compared by value: jsonw writes 1.0 as 1);
 *   2. the raw input bytes written as one JSON string always parse (invalid UTF-8 is
 *      repaired, never passed through), and come back unchanged when they were valid UTF-8.
 * jansson 2.14 has no depth option, so input is capped at 1 MiB; the renderer stops at
 * jsonw's own depth limit and writes null below it.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/jsonw.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_INPUT (1u << 20)
#define FLAGS (JSON_REJECT_DUPLICATES | JSON_DECODE_ANY | JSON_ALLOW_NUL)

static void render(struct jsonw *w, json_t *j, int depth)
{
    const char *key;
    size_t klen, i;
    json_t *v;

    if (depth >= JSONW_MAX_DEPTH && (json_is_object(j) || json_is_array(j))) {
        jsonw_null(w);
        return;
    }
    switch (json_typeof(j)) {
    case JSON_OBJECT:
        jsonw_obj_begin(w);
        json_object_keylen_foreach(j, key, klen, v) {
            jsonw_keyn(w, key, klen);
            render(w, v, depth + 1);
        }
        jsonw_obj_end(w);
        break;
    case JSON_ARRAY:
        jsonw_arr_begin(w);
        json_array_foreach(j, i, v)
            render(w, v, depth + 1);
        jsonw_arr_end(w);
        break;
    case JSON_STRING:
        jsonw_strn(w, json_string_value(j), json_string_length(j));
        break;
    case JSON_INTEGER:
        jsonw_int(w, json_integer_value(j));
        break;
    case JSON_REAL:
        jsonw_double(w, json_real_value(j));
        break;
    case JSON_TRUE:
        jsonw_bool(w, true);
        break;
    case JSON_FALSE:
        jsonw_bool(w, false);
        break;
    case JSON_NULL:
        jsonw_null(w);
        break;
    }
}

static bool same(json_t *a, json_t *b, int depth)
{
    const char *key;
    size_t klen, i;
    json_t *v;

    if (depth >= JSONW_MAX_DEPTH && (json_is_object(a) || json_is_array(a)))
        return json_is_null(b);
    if (json_is_number(a))
        return json_is_number(b) && json_number_value(a) == json_number_value(b) &&
               (!json_is_integer(a) || (json_is_integer(b) &&
                                        json_integer_value(a) == json_integer_value(b)));
    if (json_typeof(a) != json_typeof(b))
        return false;
    switch (json_typeof(a)) {
    case JSON_OBJECT:
        if (json_object_size(a) != json_object_size(b))
            return false;
        json_object_keylen_foreach(a, key, klen, v) {
            json_t *o = json_object_getn(b, key, klen);
            if (!o || !same(v, o, depth + 1))
                return false;
        }
        return true;
    case JSON_ARRAY:
        if (json_array_size(a) != json_array_size(b))
            return false;
        json_array_foreach(a, i, v)
            if (!same(v, json_array_get(b, i), depth + 1))
                return false;
        return true;
    case JSON_STRING:
        return json_string_length(a) == json_string_length(b) &&
               memcmp(json_string_value(a), json_string_value(b), json_string_length(a)) == 0;
    default:
        return true;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct buf out;
    struct jsonw w;
    json_t *in, *back, *raw;

    if (size > MAX_INPUT)
        return 0;
    buf_init(&out);

    in = json_loadb((const char *)data, size, FLAGS, NULL);
    if (in) {
        jsonw_init(&w, &out);
        render(&w, in, 0);
        if (w.depth != 0)
            abort();
        back = json_loadb(out.data, out.len, FLAGS, NULL);
        if (!back || !same(in, back, 0))
            abort();
        json_decref(back);
        json_decref(in);
    }

    buf_reset(&out);
    jsonw_init(&w, &out);
    jsonw_arr_begin(&w);
    jsonw_strn(&w, (const char *)data, size);
    jsonw_arr_end(&w);
    back = json_loadb(out.data, out.len, FLAGS, NULL);
    if (!back || json_array_size(back) != 1 || !json_is_string(json_array_get(back, 0)))
        abort();
    raw = json_stringn((const char *)data, size); /* NULL unless valid UTF-8 */
    if (raw && !json_equal(raw, json_array_get(back, 0)))
        abort();
    if (memmem(out.data, out.len, "</", 2))
        abort();
    json_decref(raw);
    json_decref(back);
    buf_cleanup(&out);
    return 0;
}
