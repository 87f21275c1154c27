/* mgctl.h — subcommands of mgctl. Each takes argc/argv starting at the
 * subcommand name and returns the process exit code: 0 ok, 1 refused /
 * invalid / decision mismatch, 2 usage or I/O error. */
#ifndef MGCTL_H
#define MGCTL_H

#include <apr_pools.h>

#define MGCTL_EXIT_OK 0
#define MGCTL_EXIT_FAIL 1
#define MGCTL_EXIT_USAGE 2

int mgctl_cmd_validate(apr_pool_t *pool, int argc, const char *const *argv);
int mgctl_cmd_compile(apr_pool_t *pool, int argc, const char *const *argv);
int mgctl_cmd_test(apr_pool_t *pool, int argc, const char *const *argv);
int mgctl_cmd_explain(apr_pool_t *pool, int argc, const char *const *argv);
int mgctl_cmd_sign(apr_pool_t *pool, int argc, const char *const *argv);
int mgctl_cmd_verify(apr_pool_t *pool, int argc, const char *const *argv);
int mgctl_cmd_migrate_report(apr_pool_t *pool, int argc, const char *const *argv);
int mgctl_cmd_keygen(apr_pool_t *pool, int argc, const char *const *argv);
int mgctl_cmd_uses(apr_pool_t *pool, int argc, const char *const *argv);
int mgctl_cmd_revoke(apr_pool_t *pool, int argc, const char *const *argv);
int mgctl_cmd_store(apr_pool_t *pool, int argc, const char *const *argv);

#endif
