/*
 * jsonw: streaming JSON writer (see jsonw.h for the escaping and invalid-UTF-8 policy).
 */
#include "core/jsonw.h"

#include <assert.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/timefmt.h"
#include "core/utf8.h"

/* Nesting past JSONW_MAX_DEPTH is a programming error (asserted); in release builds the
 * deepest slot is shared so memory stays safe, at the cost of comma placement. */
static int level(const struct jsonw *w)
{
    return w->depth > JSONW_MAX_DEPTH ? JSONW_MAX_DEPTH : w->depth;
}

/* Everything that precedes a value: the comma between siblings, or nothing after a key. */
static void before_value(struct jsonw *w)
{
    int l = level(w);

    if (w->after_key) {
        w->after_key = false;
        return;
    }
    assert(w->depth == 0 || !w->is_obj[l]); /* a value in an object needs a key first */
    if (w->need_comma[l])
        buf_putc(w->out, ',');
    w->need_comma[l] = true;
}

void jsonw_init(struct jsonw *w, struct buf *out)
{
    memset(w, 0, sizeof(*w));
    w->out = out;
}

static void open_level(struct jsonw *w, char c, bool obj)
{
    before_value(w);
    buf_putc(w->out, c);
    assert(w->depth < JSONW_MAX_DEPTH);
    w->depth++;
    w->need_comma[level(w)] = false;
    w->is_obj[level(w)] = obj;
}

static void close_level(struct jsonw *w, char c, bool obj)
{
    assert(w->depth > 0);
    assert(w->is_obj[level(w)] == obj);
    assert(!w->after_key);
    (void)obj;
    if (w->depth == 0)
        return;
    w->after_key = false;
    buf_putc(w->out, c);
    w->depth--;
}

void jsonw_obj_begin(struct jsonw *w)
{
    open_level(w, '{', true);
}

void jsonw_obj_end(struct jsonw *w)
{
    close_level(w, '}', true);
}

void jsonw_arr_begin(struct jsonw *w)
{
    open_level(w, '[', false);
}

void jsonw_arr_end(struct jsonw *w)
{
    close_level(w, ']', false);
}

void jsonw_escape(struct buf *out, const char *str, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *s = (const unsigned char *)str;
    size_t run = 0; /* start of the pending run of bytes copied as they are */
    size_t i = 0;

    if (len == 0)
        return; /* reserving alone would leave the buf without its NUL */
    buf_reserve(out, len + 2);
    while (i < len) {
        unsigned char c = s[i];
        char esc[8];
        size_t esclen = 0, adv = 1;

        if (c >= 0x80) {
            size_t bad = 0;
            size_t n = utf8_seq(s + i, len - i, NULL, &bad);
            if (n) {
                i += n; /* valid: part of the run */
                continue;
            }
            memcpy(esc, "\xEF\xBF\xBD", 3); /* U+FFFD */
            esclen = 3;
            adv = bad;
        } else if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            esclen = 2;
        } else if (c == '/' && i > 0 && s[i - 1] == '<') {
            /* "</script>" must not end an HTML script element the JSON is embedded in */
            memcpy(esc, "\\/", 2);
            esclen = 2;
        } else if (c < 0x20 || c == 0x7F) {
            esc[0] = '\\';
            switch (c) {
            case '\b': esc[1] = 'b'; esclen = 2; break;
            case '\f': esc[1] = 'f'; esclen = 2; break;
            case '\n': esc[1] = 'n'; esclen = 2; break;
            case '\r': esc[1] = 'r'; esclen = 2; break;
            case '\t': esc[1] = 't'; esclen = 2; break;
            default:
                memcpy(esc + 1, "u00", 3);
                esc[4] = hex[c >> 4];
                esc[5] = hex[c & 0xF];
                esclen = 6;
                break;
            }
        } else {
            i++;
            continue;
        }
        if (i > run)
            buf_append(out, s + run, i - run);
        buf_append(out, esc, esclen);
        i += adv;
        run = i;
    }
    if (len > run)
        buf_append(out, s + run, len - run);
}

static void put_string(struct buf *out, const char *s, size_t len)
{
    buf_putc(out, '"');
    jsonw_escape(out, s, len);
    buf_putc(out, '"');
}

void jsonw_keyn(struct jsonw *w, const char *key, size_t len)
{
    int l = level(w);

    assert(w->depth > 0 && w->is_obj[l]);
    assert(!w->after_key);
    if (w->need_comma[l])
        buf_putc(w->out, ',');
    w->need_comma[l] = true;
    put_string(w->out, key, len);
    buf_putc(w->out, ':');
    w->after_key = true;
}

void jsonw_key(struct jsonw *w, const char *key)
{
    jsonw_keyn(w, key, strlen(key));
}

void jsonw_strn(struct jsonw *w, const char *s, size_t len)
{
    before_value(w);
    put_string(w->out, s, len);
}

void jsonw_str(struct jsonw *w, const char *s)
{
    if (!s)
        jsonw_null(w);
    else
        jsonw_strn(w, s, strlen(s));
}

void jsonw_int(struct jsonw *w, int64_t v)
{
    before_value(w);
    buf_printf(w->out, "%" PRId64, v);
}

void jsonw_uint(struct jsonw *w, uint64_t v)
{
    before_value(w);
    buf_printf(w->out, "%" PRIu64, v);
}

/* snprintf's %g writes the locale's decimal point; JSON needs '.'. Whatever is not part of
 * a number's ASCII alphabet is the decimal point (possibly several bytes) and becomes '.'. */
static size_t c_locale_number(char *s)
{
    size_t j = 0;
    bool in_point = false;

    for (size_t i = 0; s[i]; i++) {
        char c = s[i];
        if ((c >= '0' && c <= '9') || c == '-' || c == '+' || c == 'e' || c == 'E') {
            s[j++] = c;
            in_point = false;
        } else if (!in_point) {
            s[j++] = '.';
            in_point = true;
        }
    }
    s[j] = '\0';
    return j;
}

void jsonw_double(struct jsonw *w, double v)
{
    char tmp[40];

    if (!isfinite(v)) {
        jsonw_null(w);
        return;
    }
    /* The shortest of 15, 16, 17 significant digits that reads back as the same double;
     * %.17g always does. strtod reads the locale's form snprintf wrote, so compare first. */
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(tmp, sizeof(tmp), "%.*g", prec, v);
        if (prec == 17 || strtod(tmp, NULL) == v)
            break;
    }
    before_value(w);
    buf_append(w->out, tmp, c_locale_number(tmp));
}

void jsonw_bool(struct jsonw *w, bool v)
{
    before_value(w);
    buf_puts(w->out, v ? "true" : "false");
}

void jsonw_null(struct jsonw *w)
{
    before_value(w);
    buf_puts(w->out, "null");
}

void jsonw_raw(struct jsonw *w, const char *json, size_t len)
{
    before_value(w);
    buf_append(w->out, json, len);
}

/* RFC 8259 §6: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static bool json_number_ok(const char *s, size_t len)
{
    size_t i = 0;
    if (i < len && s[i] == '-')
        i++;
    if (i >= len)
        return false;
    if (s[i] == '0') {
        i++;
    } else if (s[i] >= '1' && s[i] <= '9') {
        while (i < len && s[i] >= '0' && s[i] <= '9')
            i++;
    } else {
        return false;
    }
    if (i < len && s[i] == '.') {
        size_t d = ++i;
        while (i < len && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == d)
            return false;
    }
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < len && (s[i] == '+' || s[i] == '-'))
            i++;
        size_t d = i;
        while (i < len && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == d)
            return false;
    }
    return i == len;
}

void jsonw_number_text(struct jsonw *w, const char *s, size_t len)
{
    if (!s || !json_number_ok(s, len)) {
        jsonw_null(w);
        return;
    }
    before_value(w);
    buf_append(w->out, s, len);
}

void jsonw_time(struct jsonw *w, int64_t us)
{
    char tmp[TIMEFMT_LEN];
    size_t n = time_format(us, tmp);
    jsonw_strn(w, tmp, n);
}

void jsonw_kv_str(struct jsonw *w, const char *key, const char *s)
{
    jsonw_key(w, key);
    jsonw_str(w, s);
}

void jsonw_kv_int(struct jsonw *w, const char *key, int64_t v)
{
    jsonw_key(w, key);
    jsonw_int(w, v);
}

void jsonw_kv_double(struct jsonw *w, const char *key, double v)
{
    jsonw_key(w, key);
    jsonw_double(w, v);
}

void jsonw_kv_bool(struct jsonw *w, const char *key, bool v)
{
    jsonw_key(w, key);
    jsonw_bool(w, v);
}
