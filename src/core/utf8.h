/*
 * utf8: one UTF-8 sequence, checked as Unicode §3.9 (Table 3-7) defines well-formed: no
 * overlong forms, no surrogates, nothing above U+10FFFF. The writers (JSON, XML) use it to keep
 * what is valid and replace or drop the maximal invalid subpart. Pure.
 */
#ifndef STRATA_UTF8_H
#define STRATA_UTF8_H

#include <stddef.h>

/* For a lead byte s[0] >= 0x80: the length (2..4) of the valid sequence at s (len bytes
 * available) and, when cp is not NULL, its code point; or 0 when it is invalid, and then *bad
 * is the length of the maximal invalid subpart (the lead byte plus the continuation bytes that
 * were still acceptable), which a writer replaces by one U+FFFD or drops. */
size_t utf8_seq(const unsigned char *s, size_t len, unsigned *cp, size_t *bad);

#endif
