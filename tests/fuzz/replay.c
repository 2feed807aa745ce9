/* Replay driver: runs a fuzz target without libFuzzer, so that every build
 * (gcc, with or without ASan+UBSan) replays the seed corpora as a test.
 * Each argument is a file or a directory; every regular file of a directory
 * is one input, in name order. Fails when no input was found, so that a
 * misplaced corpus cannot pass silently. */
#include "fuzz_util.h"

#include <dirent.h>
#include <errno.h>
#include <sys/stat.h>

#define REPLAY_INPUT_MAX ((size_t)16 << 20)

/* The input in a buffer of exactly its size (libFuzzer does the same), so
 * over-reads hit the redzone. */
static int run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || (size_t)st.st_size > REPLAY_INPUT_MAX) {
        fprintf(stderr, "replay: %s: cannot size it or larger than %zu bytes\n", path,
                REPLAY_INPUT_MAX);
        fclose(f);
        return -1;
    }
    size_t size = (size_t)st.st_size;
    uint8_t *data = malloc(size ? size : 1);
    size_t got = data ? fread(data, 1, size, f) : 0;
    fclose(f);
    if (!data || got != size) {
        fprintf(stderr, "replay: %s: short read or out of memory\n", path);
        free(data);
        return -1;
    }
    printf("replay: %s (%zu bytes)\n", path, size);
    fflush(stdout); /* name the input before a crash can hide it */
    LLVMFuzzerTestOneInput(data, size);
    free(data);
    return 0;
}

static int only_files(const struct dirent *e)
{
    return e->d_name[0] != '.';
}

static int run_dir(const char *dir, size_t *count)
{
    struct dirent **names = NULL;
    int n = scandir(dir, &names, only_files, alphasort);
    if (n < 0) {
        fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
        return -1;
    }
    int rc = 0;
    for (int i = 0; i < n; i++) {
        char path[4096];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, names[i]->d_name);
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
            if (run_file(path) != 0)
                rc = -1;
            else
                (*count)++;
        }
        free(names[i]);
    }
    free(names);
    return rc;
}

int main(int argc, char **argv)
{
    size_t count = 0;
    int rc = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0) {
            fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
            rc = 1;
        } else if (S_ISDIR(st.st_mode)) {
            if (run_dir(argv[i], &count) != 0)
                rc = 1;
        } else if (run_file(argv[i]) != 0) {
            rc = 1;
        } else {
            count++;
        }
    }
    if (count == 0) {
        fprintf(stderr, "replay: no input found (usage: %s FILE|DIR...)\n", argv[0]);
        return 1;
    }
    printf("replay: %zu input(s) ran without a failed check\n", count);
    return rc;
}
