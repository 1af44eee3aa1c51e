/*
 * fuzz_accept: the Accept-Encoding reader (core/accept) on arbitrary header bytes. Beyond "no
 * crash and no read past the given length" (ASan): the answer does not depend on bytes after
 * the length, and appending ", gzip;q=0" to a list never turns a no into a yes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/accept.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0;
    char *copy = malloc(size + 16);
    if (!copy)
        return 0;
    memcpy(copy, data, size);
    bool a = accept_gzip(copy, size);
    memcpy(copy + size, "gzip, *, x-gzip", 15);
    if (accept_gzip(copy, size) != a)
        abort();
    static const char no[] = ", gzip;q=0";
    char *more = malloc(size + sizeof no);
    if (more) {
        memcpy(more, data, size);
        memcpy(more + size, no, sizeof no - 1);
        if (!a && accept_gzip(more, size + sizeof no - 1))
            abort();
        free(more);
    }
    free(copy);
    return 0;
}
