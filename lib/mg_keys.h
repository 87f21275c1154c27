/* mg_keys.h — key files: load, generate (mg_keys.c). */
#ifndef MG_KEYS_H
#define MG_KEYS_H

#include "mg.h"
#include "mg_policy.h"

/* Load the material of every policy->keys[] entry (file relative to the
 * policy's directory). Unreadable/malformed files are errors at the keyref's
 * position; group/world-readable files are warnings. Called by the loader. */
mg_status_t mg_keys_load(mg_policy_t *policy, mg_diags_t *diags);

#endif
