/* main.c — mgctl's entry point: global options and subcommand dispatch.
 * The only place in the project that calls exit() (through main's return).
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <apr_general.h>
#include <apr_pools.h>

#include "config.h"
#include "mg_diag.h"
#include "mgctl.h"

typedef int (*mgctl_cmd_fn)(apr_pool_t *pool, int argc, const char *const *argv);

static const struct {
    const char *name;
    mgctl_cmd_fn fn;
    const char *summary;
} commands[] = {
    {"validate", mgctl_cmd_validate,
     "check policy files; report every problem with file:line:column"},
    {"compile", mgctl_cmd_compile,
     "write a policy's canonical compiled form with its SHA-256 digest"},
    {"test", mgctl_cmd_test, "run policy test files (requests and the decisions they expect)"},
    {"explain", mgctl_cmd_explain, "show the decision, rule, reason and trace for one request"},
    {"sign", mgctl_cmd_sign, "mint signed links"},
    {"verify", mgctl_cmd_verify, "check a signed link against a policy's keys"},
    {"migrate-report", mgctl_cmd_migrate_report,
     "which links of a file (URLs, access logs) verify, under which key, until when"},
    {"keygen", mgctl_cmd_keygen, "generate a signing key"},
    {"uses", mgctl_cmd_uses, "show or reset the uses of a one-time / N-use link in the store"},
    {"revoke", mgctl_cmd_revoke, "revoke token ids in the store every server shares"},
    {"store", mgctl_cmd_store,
     "check that a claim store keeps its records; init its epoch on upgrade"},
};
#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *out)
{
    fprintf(out, "Usage: mgctl [--version] [--help] COMMAND [ARGS]\n\n"
                 "Policy tooling for mod_media_guard.\n\nCommands:\n");
    for (size_t i = 0; i < N_COMMANDS; i++)
        fprintf(out, "  %-14s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "  %-14s %s\n", "help", "show the help of a command (mgctl help COMMAND)");
    fprintf(out, "\nExit status: 0 ok, 1 invalid / refused / test failed, 2 usage or I/O error.\n"
                 "Run 'mgctl COMMAND --help' for a command's options; see mgctl(1).\n");
}

static int find_command(const char *name)
{
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0)
            return (int)i;
    return -1;
}

static int unknown_command(apr_pool_t *pool, const char *name)
{
    const char *names[N_COMMANDS + 2];
    for (size_t i = 0; i < N_COMMANDS; i++)
        names[i] = commands[i].name;
    names[N_COMMANDS] = "help";
    names[N_COMMANDS + 1] = NULL;
    const char *s = mg_suggest(name, names);
    fprintf(stderr, "mgctl: unknown command '%s'", mg_one_line(pool, name));
    if (s)
        fprintf(stderr, " (did you mean '%s'?)", s);
    fprintf(stderr, "\nRun 'mgctl --help' for the list of commands.\n");
    return MGCTL_EXIT_USAGE;
}

static int run(apr_pool_t *pool, int argc, const char *const *argv)
{
    if (argc < 2) {
        usage(stderr);
        return MGCTL_EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        usage(stdout);
        return MGCTL_EXIT_OK;
    }
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "-V") == 0) {
        printf("mgctl (%s) %s\n", PACKAGE_NAME, PACKAGE_VERSION);
        return MGCTL_EXIT_OK;
    }
    if (strcmp(cmd, "help") == 0) {
        if (argc == 2) {
            usage(stdout);
            return MGCTL_EXIT_OK;
        }
        if (argc > 3) {
            fprintf(stderr, "mgctl help: expected one COMMAND\n");
            return MGCTL_EXIT_USAGE;
        }
        int i = find_command(argv[2]);
        if (i < 0)
            return unknown_command(pool, argv[2]);
        const char *hargv[] = {commands[i].name, "--help", NULL};
        return commands[i].fn(pool, 2, hargv);
    }
    if (cmd[0] == '-') {
        fprintf(stderr, "mgctl: unknown option '%s'\n", mg_one_line(pool, cmd));
        usage(stderr);
        return MGCTL_EXIT_USAGE;
    }
    int i = find_command(cmd);
    if (i < 0)
        return unknown_command(pool, cmd);
    return commands[i].fn(pool, argc - 1, argv + 1);
}

/* A pool allocation that fails (ulimit -v, a policy too big for the
 * memory there is) would otherwise hand NULL to code that never expects it:
 * say so and stop, with the I/O error status, instead of a segfault. Every
 * pool is a descendant of main's and inherits this. Nothing here allocates;
 * what was written to standard output is flushed (complete lines only
 * reach a file when stdio's buffer did), and _exit skips the atexit
 * handlers that might. */
static int out_of_memory(int retcode)
{
    static const char msg[] = "mgctl: out of memory (see ulimit -v)\n";
    (void)retcode;
    fflush(stdout);
    if (write(STDERR_FILENO, msg, sizeof(msg) - 1) < 0) {
        /* nothing left to tell it to */
    }
    _exit(MGCTL_EXIT_USAGE);
}

int main(int argc, const char *const *argv)
{
    apr_pool_t *pool;
    if (apr_app_initialize(&argc, &argv, NULL) != APR_SUCCESS) {
        fputs("mgctl: cannot initialise APR\n", stderr);
        return MGCTL_EXIT_USAGE;
    }
    if (apr_pool_create_ex(&pool, NULL, out_of_memory, NULL) != APR_SUCCESS) {
        fputs("mgctl: out of memory\n", stderr);
        apr_terminate();
        return MGCTL_EXIT_USAGE;
    }
    int rc = run(pool, argc, argv);
    fflush(stdout);
    if (ferror(stdout)) {
        fputs("mgctl: error writing to standard output\n", stderr);
        rc = MGCTL_EXIT_USAGE;
    }
    apr_pool_destroy(pool);
    apr_terminate();
    return rc;
}
