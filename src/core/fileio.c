#include "core/fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/mem.h"

int file_read_all(const char *path, size_t max, char **data, size_t *len, const char **why)
{
    int rc = STRATA_EIO;
    char *p = NULL;
    size_t want, got = 0;
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        *why = strerror(errno);
        goto out;
    }
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (size_t)st.st_size > max) {
        *why = "not a regular file within the size limit";
        goto out;
    }
    want = (size_t)st.st_size;
    p = xmalloc(want ? want : 1);
    while (got < want) {
        ssize_t n = read(fd, p + got, want - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            *why = n < 0 ? strerror(errno) : "file shrank while being read";
            goto out;
        }
        got += (size_t)n;
    }
    *data = p;
    *len = got;
    p = NULL;
    rc = 0;
out:
    free(p);
    if (fd >= 0)
        close(fd);
    return rc;
}
