/* mg_fuzz.h — shared by the fuzz targets (fuzz_*.c) and the replay driver.
 *
 * Each target defines LLVMFuzzerTestOneInput() (and may define
 * LLVMFuzzerInitialize()). Linked with -fsanitize=fuzzer it is a libFuzzer
 * binary (`make fuzz`); linked with replay.c it is an ordinary program that
 * runs the checked-in seeds and saved crashes (`make check`).
 *
 * A target reports a broken invariant with MG_FUZZ_ASSERT, which aborts: to
 * libFuzzer that is a crash like any other, and the input is saved.
 */
#ifndef MG_FUZZ_H
#define MG_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MG_FUZZ_ASSERT(cond, ...)                                                                  \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: invariant broken: %s: ", __FILE__, __LINE__, #cond);           \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#endif
