/* mg_policy_compiled.h — the compiled form of a policy (internal to lib/).
 *
 * Shared by the two files that touch policy->compiled: mg_policy_compile.c
 * builds it once at configuration time, mg_policy_query.c reads it on every
 * request. Nothing outside those two files includes this header.
 */
#ifndef MG_POLICY_COMPILED_H
#define MG_POLICY_COMPILED_H

#include <stddef.h>
#include <stdint.h>

#include <apr_hash.h>

#include "mg_policy.h"
#include "mg_transform.h"

/* One segment of a pattern. */
enum { SEG_LITERAL = 0, SEG_WILD = 1, SEG_DOUBLESTAR = 2 };
typedef struct seg {
    const char *s;
    size_t len;
    int kind;
} seg_t;

/* A (rule, pattern) pair attached to the trie node of its literal prefix. */
typedef struct entry {
    const mg_rule_t *rule;
    const mg_pathpat_t *pat;
    int pat_index; /* position of the pattern in rule->paths */
    int is_glob;
    int depth; /* leading literal segments */
    int nsegs; /* all segments of the pattern */
    seg_t *segs;
    const char *key; /* normalised pattern, for the identical-pattern warnings */
    int seq;         /* position among all entries (file order) */
} entry_t;

/* mg_policy_query.c: a pattern segment against a path segment, and a whole
 * glob against a canonical path (also for the compiler's warnings). */
int mg_seg_match(const seg_t *g, const char *s, size_t len);
int mg_path_glob(const seg_t *segs, int nsegs, const char *path);

struct node;

/* A slot of a node's child table: the segment with its length, its hash
 * and, for a segment of 1-8 bytes, its seg_word(), so that the walk finds
 * a short segment with one compare of words and a longer one with a hash
 * and a length before any byte. */
typedef struct kid {
    const char *s;
    size_t len;
    uint32_t hash;
    uint64_t word;           /* seg_word(s, len) for 1-8 bytes, else 0 */
    const struct node *node; /* NULL: an empty slot */
} kid_t;

typedef struct node {
    apr_hash_t *children; /* segment text -> struct node* while compiling; NULL while a leaf */
    kid_t *kids;          /* the same children for the lookups: open addressing, at most
                             half full (a probe always ends at an empty slot); NULL while a leaf */
    uint32_t kid_mask;
    struct node *parent;
    apr_array_header_t *build; /* entry_t* while compiling */
    entry_t **entries;         /* sorted by the tie-breaking order */
    int nentries;
} node_t;

typedef struct ext_slot {
    const char *ext; /* lower-case; NULL marks an empty slot */
    size_t len;
    uint64_t word; /* ext_word() of the extension when it has 1-8 bytes, else 0 */
    mg_classset_t set;
} ext_slot_t;

/* Transformation profile data parsed once, so requests compare structures
 * instead of normalising strings. */
typedef struct trprof {
    mg_tr_t *sets;
    int nsets;
    mg_tr_param_t *req;    /* required key-value pairs */
    const char **req_text; /* the `require` entry each pair came from */
    int nreq;
} trprof_t;

typedef struct compiled {
    node_t *root;
    ext_slot_t *ext_tab;
    size_t ext_mask;
    apr_hash_t *roles;   /* role name -> index + 1 */
    apr_hash_t *users;   /* user name -> const mg_user_roles_t* */
    apr_hash_t *trprofs; /* profile pointer -> trprof_t* */
} compiled_t;

/* Next non-empty '/'-separated segment of *p; 0 at the end. Inline: the
 * compiler splits patterns with it and every request walks the trie with it. */
static inline int next_seg(const char **p, const char **s, size_t *len)
{
    const char *q = *p;
    while (*q == '/')
        q++;
    if (*q == '\0') {
        *p = q;
        return 0;
    }
    const char *e = q;
    while (*e != '\0' && *e != '/')
        e++;
    *s = q;
    *len = (size_t)(e - q);
    *p = e;
    return 1;
}

/* A segment of 1-8 bytes as one word: s[0] in the low byte, zero above
 * the last. Segments have no NUL byte, so different segments never give
 * the same word and no segment's word is 0. */
static inline uint64_t seg_word(const char *s, size_t len)
{
    uint64_t w = 0;
    for (size_t i = 0; i < len && i < 8; i++)
        w |= (uint64_t)(unsigned char)s[i] << (8 * i);
    return len <= 8 ? w : 0;
}

static inline uint32_t seg_word_hash(uint64_t w)
{
    return (uint32_t)((w * 0x9e3779b97f4a7c15u) >> 32);
}

/* The slot hash of a segment: seg_word_hash of its word for 1-8 bytes,
 * FNV-1a over its bytes when longer. */
static inline uint32_t seg_hash(const char *s, size_t len)
{
    if (len >= 1 && len <= 8)
        return seg_word_hash(seg_word(s, len));
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h;
}

static inline unsigned char lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + ('a' - 'A')) : c;
}

/* An extension of 1-8 bytes as one word: its bytes lower-cased, s[0] in
 * the low byte, zero above the last. Extensions have no NUL byte, so two
 * different ones never give the same word, and 0 is no extension's word.
 * The request's side builds the same word in mg_class_of_ext while it
 * looks for the NUL; one compare of words replaces the byte loop. */
static inline uint64_t ext_word(const char *s, size_t len)
{
    uint64_t w = 0;
    for (size_t i = 0; i < len && i < 8; i++)
        w |= (uint64_t)lower((unsigned char)s[i]) << (8 * i);
    return len <= 8 ? w : 0;
}

/* The slot of an extension: a multiplicative hash of its word when it has
 * 1-8 bytes (every extension a request for media has), FNV-1a over the
 * lower-cased bytes when longer. The table is tiny and static, so a short
 * open-addressing probe beats apr_hash's chained buckets here. */
static inline uint32_t ext_word_hash(uint64_t w)
{
    return (uint32_t)((w * 0x9e3779b97f4a7c15u) >> 32);
}

static inline uint32_t ext_hash(const char *s, size_t len)
{
    if (len >= 1 && len <= 8)
        return ext_word_hash(ext_word(s, len));
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++) {
        h ^= lower((unsigned char)s[i]);
        h *= 16777619u;
    }
    return h;
}

static inline int ext_eq(const ext_slot_t *e, const char *s, size_t len)
{
    if (e->len != len)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (e->ext[i] != (char)lower((unsigned char)s[i]))
            return 0;
    return 1;
}

#endif /* MG_POLICY_COMPILED_H */
