/*
 * jsonw: Strata's streaming JSON writer. Responses are rendered straight into a buf, in one
 * pass, with no intermediate tree. Commas and nesting are tracked by the writer, so callers
 * only say what comes next.
 *
 * Strings: every control character (U+0000..U+001F) and U+007F is escaped (\n, \t, ... or
 * \u00XX), as are '"' and '\\'; "</" is written "<\/" so JSON can be embedded in HTML.
 * Invalid UTF-8 (bad lead or continuation bytes, overlong forms, surrogates, code points
 * above U+10FFFF, truncated sequences) is never passed through: each maximal invalid
 * subsequence is replaced by U+FFFD, the policy of the Unicode Standard §3.9 ("substitution
 * of maximal subparts"), so the output is always valid UTF-8 JSON.
 *
 * Must not: allocate except through the buf, or fail. Misuse (a value where a key is
 * expected, unbalanced ends) is a programming error caught by assert in debug builds.
 */
#ifndef STRATA_JSONW_H
#define STRATA_JSONW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

#define JSONW_MAX_DEPTH 64

struct jsonw {
    struct buf *out;
    int depth;
    bool need_comma[JSONW_MAX_DEPTH + 1]; /* per level: a value was already written */
    bool is_obj[JSONW_MAX_DEPTH + 1];     /* per level: object (keys expected), else array */
    bool after_key;                       /* a key was written; the value follows without comma */
};

void jsonw_init(struct jsonw *w, struct buf *out);

void jsonw_obj_begin(struct jsonw *w);
void jsonw_obj_end(struct jsonw *w);
void jsonw_arr_begin(struct jsonw *w);
void jsonw_arr_end(struct jsonw *w);

void jsonw_key(struct jsonw *w, const char *key);
void jsonw_keyn(struct jsonw *w, const char *key, size_t len);

void jsonw_str(struct jsonw *w, const char *s);           /* NULL writes null */
void jsonw_strn(struct jsonw *w, const char *s, size_t len);
void jsonw_int(struct jsonw *w, int64_t v);
void jsonw_uint(struct jsonw *w, uint64_t v);
void jsonw_double(struct jsonw *w, double v);              /* NaN and infinities write null */
void jsonw_bool(struct jsonw *w, bool v);
void jsonw_null(struct jsonw *w);
/* Already-valid JSON text (e.g. a jsonb column rendered by PostgreSQL), inserted as one value. */
void jsonw_raw(struct jsonw *w, const char *json, size_t len);
/* A number given as text (e.g. a PostgreSQL float8/numeric column): written as is when it is
 * a valid JSON number, null otherwise (NaN, Infinity). Saves a strtod/printf round trip. */
void jsonw_number_text(struct jsonw *w, const char *s, size_t len);
/* A time in microseconds since the Unix epoch, as an RFC 3339 UTC string. */
void jsonw_time(struct jsonw *w, int64_t us);

/* Convenience: key + value. */
void jsonw_kv_str(struct jsonw *w, const char *key, const char *s);
void jsonw_kv_int(struct jsonw *w, const char *key, int64_t v);
void jsonw_kv_double(struct jsonw *w, const char *key, double v);
void jsonw_kv_bool(struct jsonw *w, const char *key, bool v);

/* Appends the escaped form of s (without quotes) to out; exposed for other text renderers. */
void jsonw_escape(struct buf *out, const char *s, size_t len);

#endif
