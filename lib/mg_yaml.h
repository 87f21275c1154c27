/* mg_yaml.h — a small YAML node tree with source positions (mg_yaml.c).
 *
 * libyaml's document API drops nothing we need, but its marks are 0-based,
 * its nodes live in malloc'd storage that must be freed, and it happily
 * accepts aliases, tags and unbounded nesting. This wrapper parses with the
 * event API into pool-allocated nodes that carry 1-based line:column, refuses
 * what a policy file has no use for (aliases, anchors, custom tags, several
 * documents, complex keys, duplicate keys, excessive nesting or size) and
 * frees every libyaml allocation before returning.
 */
#ifndef MG_YAML_H
#define MG_YAML_H

#include <stddef.h>
#include <stdint.h>

#include <apr_pools.h>

#include "mg_diag.h"

#define MG_YAML_MAX_DEPTH 64
#define MG_YAML_MAX_SIZE (16 * 1024 * 1024)

typedef enum { MG_Y_SCALAR = 1, MG_Y_SEQ, MG_Y_MAP } mg_ykind_t;

typedef struct mg_ynode mg_ynode_t;
typedef struct mg_ypair {
    mg_ynode_t *key; /* always a scalar */
    mg_ynode_t *value;
} mg_ypair_t;

/* Compact (24 bytes): a 10,000-rule policy is a quarter of a million nodes
 * (mg_yaml_parse_stream keeps only one rule's at a time). */
struct mg_ynode {
    uint8_t kind;     /* mg_ykind_t */
    uint8_t plain;    /* scalar unquoted and untagged: may be null / bool / number */
    uint8_t streamed; /* MG_Y_SEQ whose items went to a stream (items NULL, n their count) */
    int line, col;    /* 1-based, where the node starts */
    union {
        uint32_t len; /* MG_Y_SCALAR: bytes in str */
        int n;        /* MG_Y_SEQ: items; MG_Y_MAP: pairs */
    };
    union {
        const char *str;    /* MG_Y_SCALAR, NUL-terminated (embedded NULs are refused) */
        mg_ynode_t **items; /* MG_Y_SEQ */
        mg_ypair_t *pairs;  /* MG_Y_MAP, in file order */
    };
};

/* Parse `len` bytes. On success returns MG_OK with *root set (NULL for an
 * empty document). Errors are appended to `diags` with `file` and positions;
 * the function stops at the first YAML-level error (the rest of the file
 * cannot be interpreted reliably) except duplicate keys, which are all
 * reported. The tree lives in malloc'd slabs that a cleanup of `pool`
 * frees (fewer, larger blocks than the pool's own: building the tree of a
 * large policy is dominated by allocation otherwise). */
mg_status_t mg_yaml_parse(apr_pool_t *pool, const char *file, const char *buf, size_t len,
                          mg_ynode_t **root, mg_diags_t *diags);

/* One list streamed instead of built (mg_yaml_parse_stream): the items of
 * the list that is the value of `key` in the root mapping are handed to
 * item() one at a time as soon as each is parsed, with their 0-based index;
 * their nodes are reused after the call, so item() keeps no pointer into
 * them. Before the first item, begin() gets the root mapping as parsed so
 * far (the pairs before `key`; their duplicates are reported when the root
 * closes) and the list node, and returns 0 to stream (anything else: the
 * list is built as usual). In the tree the streamed list has `streamed`
 * set, n = the number of items and no items array. A parse that fails
 * after items were handed over fails all the same: the caller drops what
 * it made of them. At most one list is streamed. */
typedef struct mg_ystream {
    const char *key;
    int (*begin)(void *arg, const mg_ynode_t *root_so_far, const mg_ynode_t *list);
    void (*item)(void *arg, const mg_ynode_t *item, int index);
    void *arg;
} mg_ystream_t;

mg_status_t mg_yaml_parse_stream(apr_pool_t *pool, const char *file, const char *buf, size_t len,
                                 const mg_ystream_t *stream, mg_ynode_t **root, mg_diags_t *diags);

/* Plain scalar spelling null: "", "~", "null", "Null", "NULL". */
int mg_ynode_is_null(const mg_ynode_t *n);
/* "a mapping", "a list", "null", "a string 'x'" — for "expected ..., got ..." */
const char *mg_ynode_describe(apr_pool_t *pool, const mg_ynode_t *n);
/* The same for a document's root, never with its text: a file that is one
 * scalar is most likely a key file named where a policy or test file
 * belongs, and that line is its secret. */
const char *mg_ynode_describe_root(apr_pool_t *pool, const mg_ynode_t *n);
/* Value of `key` in a mapping, or NULL. Linear: mappings are small. */
mg_ynode_t *mg_ynode_get(const mg_ynode_t *map, const char *key);

#endif /* MG_YAML_H */
