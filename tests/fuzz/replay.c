/* replay.c — run a fuzz target's code over files, without libFuzzer.
 *
 * `replay_NAME [FILE|DIR ...]` feeds every file to LLVMFuzzerTestOneInput;
 * without arguments it replays tests/fuzz/corpus/NAME and
 * tests/fuzz/regressions/NAME of the source tree, so `make check` proves with
 * any compiler (and under ASan in the sanitizer build) that no seed and no
 * crash ever found breaks again. A crash aborts the program, which fails the
 * test; the file being replayed is printed first.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "mg_fuzz.h"

#ifndef MG_FUZZ_NAME
#error "compile with -DMG_FUZZ_NAME='\"target\"'"
#endif

/* libFuzzer calls it if defined; give targets that don't one to override. */
__attribute__((weak)) int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    return 0;
}

static int replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    size_t cap = 4096, len = 0;
    unsigned char *buf = malloc(cap);
    size_t n;
    while (buf != NULL && (n = fread(buf + len, 1, cap - len, f)) > 0) {
        len += n;
        if (len == cap) {
            unsigned char *nb = realloc(buf, cap *= 2);
            if (nb == NULL)
                free(buf);
            buf = nb;
        }
    }
    int err = ferror(f);
    fclose(f);
    if (buf == NULL || err) {
        fprintf(stderr, "replay: %s: read error\n", path);
        free(buf);
        return -1;
    }
    fprintf(stderr, "replay: %s (%zu bytes)\n", path, len);
    /* An exact-size copy, so ASan catches a read one past the input. */
    unsigned char *exact = malloc(len ? len : 1);
    if (exact == NULL) {
        free(buf);
        return -1;
    }
    memcpy(exact, buf, len);
    free(buf);
    LLVMFuzzerTestOneInput(exact, len);
    free(exact);
    return 0;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Files of a directory in name order (readdir order is not stable).
 * Returns the number replayed, or -1. A missing directory is empty. */
static int replay_path(const char *path, int must_exist)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        if (!must_exist && errno == ENOENT)
            return 0;
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode))
        return replay_file(path) == 0 ? 1 : -1;

    DIR *d = opendir(path);
    if (d == NULL) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue; /* ".", "..", and hidden files such as .keep */
        if (n == cap) {
            char **nn = realloc(names, (cap = cap ? cap * 2 : 64) * sizeof(*nn));
            if (nn == NULL)
                break;
            names = nn;
        }
        names[n] = malloc(strlen(path) + strlen(e->d_name) + 2);
        if (names[n] == NULL)
            break;
        sprintf(names[n], "%s/%s", path, e->d_name);
        n++;
    }
    closedir(d);
    if (n > 0)
        qsort(names, n, sizeof(*names), compare_names);
    int count = 0;
    for (size_t i = 0; i < n; i++) {
        if (count >= 0 && replay_file(names[i]) == 0)
            count++;
        else
            count = -1;
        free(names[i]);
    }
    free(names);
    return count;
}

int main(int argc, char **argv)
{
    LLVMFuzzerInitialize(&argc, &argv);
    int total = 0;
    if (argc > 1) {
        for (int i = 1; i < argc; i++) {
            int n = replay_path(argv[i], 1);
            if (n < 0)
                return EXIT_FAILURE;
            total += n;
        }
    } else {
        static const char *const kinds[] = {"corpus", "regressions"};
        for (size_t k = 0; k < 2; k++) {
            char dir[4096];
            snprintf(dir, sizeof(dir), "%s/tests/fuzz/%s/%s", MG_SRCDIR, kinds[k], MG_FUZZ_NAME);
            int n = replay_path(dir, k == 0);
            if (n < 0)
                return EXIT_FAILURE;
            total += n;
        }
    }
    printf("replay_%s: %d inputs, no crash\n", MG_FUZZ_NAME, total);
    return total > 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
