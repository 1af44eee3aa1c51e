/*
 * accept: reads the Accept-Encoding request header (RFC 9110 §12.5.3): whether the client
 * takes a gzip-coded body. Pure; no allocation.
 */
#ifndef STRATA_ACCEPT_H
#define STRATA_ACCEPT_H

#include <stdbool.h>
#include <stddef.h>

/* True when value[0..len) lists gzip (or x-gzip, or *) with a q-value above 0. A malformed
 * element is ignored, never an error: the body then goes out uncompressed. */
bool accept_gzip(const char *value, size_t len);

#endif
