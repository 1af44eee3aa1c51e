/*
 * collection: finds the features of a GeoJSON FeatureCollection text without building a tree,
 * so that a large replay file can be parsed one feature at a time (jansson, then feature.c)
 * while the features before it are being stored.
 *
 * The scan follows strings, escapes and nesting (brackets must match) and nothing more: it does
 * not check tokens (numbers, literals, UTF-8, escapes). Each feature's text goes through jansson
 * later; the text around the features array can be checked with jansson as well (replace the
 * bytes [array_begin, array_end) by "[]").
 *
 * For each feature it also reads the replay's sort key, (properties.time, properties.updated,
 * id), when these are written plainly: an integer literal, an integer literal or null (or
 * absent: time), and a string without escapes. A key member written with an escape, or a
 * value of another form, leaves the feature unkeyed. Duplicate members count as jansson counts
 * them: the last one wins.
 *
 * The scan refuses (STRATA_EINVAL; the caller parses the whole text with jansson instead, which
 * then says precisely what is wrong) anything that is not an object holding a "features" array
 * with matching brackets, nesting deeper than QUAKE_COLLECTION_DEPTH, and a top-level member
 * name written with an escape (it could spell "features").
 *
 * Must not: do I/O, log, or keep state. Fuzzed (fuzz/fuzz_quake_collection.c).
 */
#ifndef STRATA_QUAKES_COLLECTION_H
#define STRATA_QUAKES_COLLECTION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

#define QUAKE_COLLECTION_DEPTH 1024 /* jansson's own limit is 2048 */

struct quake_span {
    size_t off, len;             /* the feature's text (one JSON value, any type) */
    int64_t time_ms, updated_ms; /* the sort key, when keyed; updated_ms = time_ms when null */
    size_t id_off, id_len;       /* the id's characters (without quotes), when keyed */
    bool keyed;
};

struct quake_collection {
    struct quake_span *v; /* owned */
    size_t n, cap;
    size_t array_begin, array_end; /* the features array, '[' to one past ']' */
    bool sorted; /* every feature keyed, keys in (time, updated, id) order, ties allowed */
};

/* Scans text[0..len) into *out (initialised here; release with quake_collection_cleanup, also
 * after a failure). Returns 0 or STRATA_EINVAL (see above). */
int quake_collection_scan(const char *text, size_t len, struct quake_collection *out) STRATA_MUST_CHECK;

/* <0, 0, >0 as the features' sort keys compare (both keyed), as replay orders them: time,
 * then updated, then id (bytewise). */
int quake_span_cmp(const char *text, const struct quake_span *a, const struct quake_span *b);

/* Puts the features in replay order, (time, updated, id) and then their place in the file, by
 * moving the spans (not the text). Every feature must be keyed; returns false (nothing moved)
 * when one is not. Sets sorted. */
bool quake_collection_sort(const char *text, struct quake_collection *c);

void quake_collection_cleanup(struct quake_collection *c);

#endif
