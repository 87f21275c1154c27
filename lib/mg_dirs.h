/* mg_dirs.h — the directories above a file the configuration trusts (the
 * policy, key files, the revocation file, the country database, time zone
 * files, the store's password file).
 *
 * Whoever can write a directory can rename a file of their own over any
 * entry in it, whatever the entry's own permissions say; the write bit of
 * every directory from the file's up to "/" is therefore as much a part of
 * the file's safety as the file's own mode. A directory with the sticky bit
 * (/tmp's 1777) is safe: only the entry's owner, the directory's owner or
 * root may then rename or remove an entry. This is the reasoning of
 * OpenSSH's StrictModes.
 *
 * Owners, for secrets only (MG_DIRS_GROUP_OR_OTHERS: key files, the store's
 * password file): the file itself, every directory above it and every
 * symbolic link on its path must belong to root or to the user reading it
 * (Apache reads as root; mgctl as whoever runs it). Another owner can
 * rename entries of a directory of theirs whatever its mode (a key written
 * into a directory someone else made, or reached through their link in
 * /tmp, is replaced with one they know) and can rewrite a file of theirs.
 * Other trusted files (policy, revocation file, country database, time
 * zones) keep the write-bit rule only: a deploy user owning them is usual.
 *
 * Symbolic links: both the directories of the path as given (made absolute,
 * not resolved: the directory that holds a link can replace the link) and
 * those of the path with every link resolved (realpath(3): where the bytes
 * really are) are checked; a directory reached both ways is reported once.
 */
#ifndef MG_DIRS_H
#define MG_DIRS_H

#include <apr_pools.h>

#include "mg_diag.h"

/* Which writers of a directory count. MG_DIRS_OTHERS: writable by everyone
 * (policy, revocation file, country database: their file checks let group
 * write pass, a deploy group is a usual setup). MG_DIRS_GROUP_OR_OTHERS:
 * writable by its group or by everyone (key files, whose check refuses
 * group write too). */
typedef enum { MG_DIRS_OTHERS = 0, MG_DIRS_GROUP_OR_OTHERS = 1 } mg_dirs_who_t;

/* Check the directories above `path` (relative paths against the current
 * directory) and add one diagnostic `code` per directory found writable to
 * `diags` at file:line:col (the caller's place for the file: the policy
 * itself, or the key in it), in walking order — the file's own directory
 * first, then up to "/". `what` names the file in the sentence ("the
 * policy", "key file '/k/a.key' of key 'a'"): "directory '/srv/x' above
 * WHAT is writable by everyone and has no sticky bit: ...". A directory
 * that cannot be examined is passed over (the file itself was read: the
 * caller has reported what matters). With MG_DIRS_GROUP_OR_OTHERS, also one
 * warning for the file, each directory and each link owned by another user
 * than root or the effective user (the file's sentence is WHAT itself: "key
 * file '/k/a.key' of key 'a' is owned by user 'x' (uid 1000), ..."). Returns
 * how many diagnostics were added (mgctl keygen refuses to write where any
 * is found).
 *
 * Severity: a directory that everyone may write (no sticky bit) is
 * `everyone` — MG_SEV_ERROR for the files that decide access (policy,
 * keys, revocation file, country database, time zones: any local user,
 * a CGI script running as nobody among them, could take them over, so the
 * load is refused as for the file's own write bit for everyone), and
 * MG_SEV_WARNING for the store's password file (a wrong password refuses
 * links, it grants none). A directory only its group may write, and every
 * owner finding, stay warnings: a deploy group, a per-user group under
 * umask 002 or a deploy user owning the files are deliberate setups that
 * the admin named; refusing them would stop working servers at an
 * upgrade. */
int mg_dirs_check(apr_pool_t *pool, const char *path, const char *what, mg_dirs_who_t who,
                  mg_severity_t everyone, mg_diags_t *diags, const char *file, int line, int col,
                  const char *code);

#endif /* MG_DIRS_H */
