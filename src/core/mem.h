/*
 * mem: allocation that never returns NULL. An allocation failure is not a condition Strata
 * can recover from in the middle of a request, so it aborts with a message (as Redis's
 * zmalloc does) instead of scattering NULL checks through the code.
 */
#ifndef STRATA_MEM_H
#define STRATA_MEM_H

#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

#endif
