/*
 * replay_main: runs saved inputs through a fuzz target's LLVMFuzzerTestOneInput without
 * libFuzzer, so the sanitizer build can replay every corpus as a regression test. Each
 * argument is a file or a directory of files. A failing input aborts the process.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Runs one file; returns 0, or -1 if it could not be read. The buffer is exactly the file's
 * size so that the sanitizers see any read past the end. */
static int replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    struct stat st;
    uint8_t *data = NULL;
    int rc = -1;

    if (!f || fstat(fileno(f), &st) != 0 || st.st_size < 0)
        goto out;
    data = malloc(st.st_size ? (size_t)st.st_size : 1);
    if (!data)
        goto out;
    if (st.st_size && fread(data, 1, (size_t)st.st_size, f) != (size_t)st.st_size)
        goto out;
    LLVMFuzzerTestOneInput(data, (size_t)st.st_size);
    rc = 0;
out:
    if (rc)
        fprintf(stderr, "replay: cannot read %s\n", path);
    free(data);
    if (f)
        fclose(f);
    return rc;
}

int main(int argc, char **argv)
{
    size_t n = 0;
    int failed = 0;

    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0) {
            fprintf(stderr, "replay: no such file %s\n", argv[i]);
            failed = 1;
            continue;
        }
        if (!S_ISDIR(st.st_mode)) {
            failed |= replay_file(argv[i]) != 0;
            n++;
            continue;
        }
        DIR *d = opendir(argv[i]);
        struct dirent *e;
        while (d && (e = readdir(d)) != NULL) {
            char path[4096];
            struct stat fst;
            snprintf(path, sizeof(path), "%s/%s", argv[i], e->d_name);
            if (stat(path, &fst) != 0 || !S_ISREG(fst.st_mode))
                continue;
            failed |= replay_file(path) != 0;
            n++;
        }
        if (d)
            closedir(d);
        else
            failed = 1;
    }
    printf("replayed %zu inputs\n", n);
    return failed;
}
