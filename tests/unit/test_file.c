/* test_file.c — mg_file_read, the one bounded whole-file reader: content and
 * length, the size bound (at it and one byte over), what is not a regular
 * file (a directory, a FIFO — without blocking), a missing file, and the
 * protection bits that key loading warns about. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <apr_errno.h>
#include <apr_strings.h>

#include "mg_file.h"
#include "mg_test.h"

static char dir[64];

static void dir_setup(void)
{
    mg_test_setup();
    strcpy(dir, "/tmp/mg-test-file-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void dir_teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
    mg_test_teardown();
}

static const char *write_file(const char *name, const char *data, size_t len, mode_t mode)
{
    const char *path = apr_pstrcat(mg_test_pool, dir, "/", name, NULL);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, data, len), (ssize_t)len);
    ck_assert_int_eq(fchmod(fd, mode), 0);
    close(fd);
    return path;
}

START_TEST(test_a_file_is_read_whole_and_nul_terminated)
{
    static const char text[] = "version: 1\nrules: []\n\0after a NUL byte";
    const char *path = write_file("p.yaml", text, sizeof(text) - 1, 0600);
    mg_file_t f;
    const char *why = NULL;
    ck_assert_int_eq(mg_file_read(mg_test_pool, path, 1024, &f, &why), MG_OK);
    ck_assert_int_eq(f.error, MG_FILE_OK);
    ck_assert_uint_eq(f.len, sizeof(text) - 1);
    ck_assert_int_eq(memcmp(f.data, text, f.len), 0);
    ck_assert_int_eq(f.data[f.len], '\0');
}
END_TEST

START_TEST(test_an_empty_file_is_read_as_empty)
{
    const char *path = write_file("empty", "", 0, 0600);
    mg_file_t f;
    ck_assert_int_eq(mg_file_read(mg_test_pool, path, 16, &f, NULL), MG_OK);
    ck_assert_uint_eq(f.len, 0);
    ck_assert_str_eq(f.data, "");
}
END_TEST

START_TEST(test_a_file_at_the_bound_is_read_and_one_byte_more_is_refused)
{
    char big[5000];
    memset(big, 'x', sizeof(big));
    mg_file_t f;
    const char *why = NULL;
    const char *at = write_file("at", big, 4096, 0600);
    ck_assert_int_eq(mg_file_read(mg_test_pool, at, 4096, &f, &why), MG_OK);
    ck_assert_uint_eq(f.len, 4096);

    const char *over = write_file("over", big, 4097, 0600);
    ck_assert_int_eq(mg_file_read(mg_test_pool, over, 4096, &f, &why), MG_EINVAL);
    ck_assert_int_eq(f.error, MG_FILE_TOO_LARGE);
    ck_assert_ptr_null(f.data);
    ck_assert_str_eq(why, apr_pstrcat(mg_test_pool, over, ": larger than 4096 bytes", NULL));

    /* a bound of 0 admits only the empty file */
    ck_assert_int_eq(mg_file_read(mg_test_pool, write_file("one", "x", 1, 0600), 0, &f, &why),
                     MG_EINVAL);
    ck_assert_int_eq(mg_file_read(mg_test_pool, write_file("none", "", 0, 0600), 0, &f, &why),
                     MG_OK);
}
END_TEST

START_TEST(test_a_directory_is_not_a_regular_file)
{
    mg_file_t f;
    const char *why = NULL;
    ck_assert_int_eq(mg_file_read(mg_test_pool, dir, 1024, &f, &why), MG_EIO);
    ck_assert_int_eq(f.error, MG_FILE_NOT_REGULAR);
    ck_assert_str_eq(why, apr_pstrcat(mg_test_pool, dir, ": not a regular file", NULL));
}
END_TEST

/* Opening a FIFO for reading blocks until a writer comes: the reader must
 * refuse it instead (the test would hang, and check's timeout fail it). */
START_TEST(test_a_fifo_is_refused_without_blocking)
{
    const char *fifo = apr_pstrcat(mg_test_pool, dir, "/fifo", NULL);
    ck_assert_int_eq(mkfifo(fifo, 0600), 0);
    mg_file_t f;
    const char *why = NULL;
    ck_assert_int_eq(mg_file_read(mg_test_pool, fifo, 1024, &f, &why), MG_EIO);
    ck_assert_int_eq(f.error, MG_FILE_NOT_REGULAR);
    ck_assert_ptr_nonnull(strstr(why, "not a regular file"));
}
END_TEST

START_TEST(test_a_missing_file_says_so_and_keeps_the_system_error)
{
    const char *path = apr_pstrcat(mg_test_pool, dir, "/missing.key", NULL);
    mg_file_t f;
    const char *why = NULL;
    ck_assert_int_eq(mg_file_read(mg_test_pool, path, 1024, &f, &why), MG_EIO);
    ck_assert_int_eq(f.error, MG_FILE_CANNOT_OPEN);
    ck_assert(APR_STATUS_IS_ENOENT(f.rv));
    ck_assert_ptr_null(f.data);
    ck_assert_str_eq(why, apr_pstrcat(mg_test_pool, path, ": ", strerror(ENOENT), NULL));
}
END_TEST

START_TEST(test_the_protection_of_the_file_is_reported)
{
    mg_file_t f;
    ck_assert_int_eq(mg_file_read(mg_test_pool, write_file("private", "s", 1, 0600), 16, &f, NULL),
                     MG_OK);
    ck_assert_int_eq(f.protection & (APR_FPROT_GREAD | APR_FPROT_WREAD), 0);
    ck_assert_int_eq(mg_file_read(mg_test_pool, write_file("shared", "s", 1, 0644), 16, &f, NULL),
                     MG_OK);
    ck_assert_int_ne(f.protection & APR_FPROT_WREAD, 0);
}
END_TEST

static Suite *file_suite(void)
{
    Suite *s = suite_create("file");
    TCase *tc = tcase_create("read");
    tcase_add_checked_fixture(tc, dir_setup, dir_teardown);
    tcase_add_test(tc, test_a_file_is_read_whole_and_nul_terminated);
    tcase_add_test(tc, test_an_empty_file_is_read_as_empty);
    tcase_add_test(tc, test_a_file_at_the_bound_is_read_and_one_byte_more_is_refused);
    tcase_add_test(tc, test_a_directory_is_not_a_regular_file);
    tcase_add_test(tc, test_a_fifo_is_refused_without_blocking);
    tcase_add_test(tc, test_a_missing_file_says_so_and_keeps_the_system_error);
    tcase_add_test(tc, test_the_protection_of_the_file_is_reported);
    suite_add_tcase(s, tc);
    return s;
}

MG_TEST_MAIN(file_suite)
