/*
 * fileio: reading a whole small file (static assets loaded once at start). Blocking: for
 * start-up and pthread_once initialisers, never per request.
 */
#ifndef STRATA_FILEIO_H
#define STRATA_FILEIO_H

#include <stddef.h>

#include "core/err.h"

/* Reads path if it is a regular file of at most max bytes: 0 with *data (caller frees) and
 * *len, or STRATA_EIO with *why set to a static reason. */
int file_read_all(const char *path, size_t max, char **data, size_t *len, const char **why) STRATA_MUST_CHECK;

#endif
