/* mg_yaml.c — libyaml events → pool-allocated node tree with positions.
 *
 * We use the event API (not yaml_parser_load) so that aliases, anchors, tags,
 * depth and duplicate keys are refused while parsing, with the position of
 * the offending event, and no libyaml document has to be walked and freed.
 */
#include "mg_ascii.h"
#include "mg_yaml.h"

#include <stdlib.h>
#include <string.h>

#include <apr_hash.h>
#include <apr_lib.h>
#include <apr_strings.h>
#include <apr_tables.h>
#include <yaml.h>

#define YAML_STR_TAG "tag:yaml.org,2002:str"
#define YAML_SEQ_TAG "tag:yaml.org,2002:seq"
#define YAML_MAP_TAG "tag:yaml.org,2002:map"

/* An open collection. Its children sit on the shared `kids` stack from
 * index `base` on (items, or key, value, key, value ...); when it closes
 * they are copied into one exact-size array, so building the tree costs one
 * allocation per collection instead of a growing array per collection. */
typedef struct frame {
    mg_ynode_t *node;
    int base;
} frame_t;

/* Bump allocator over malloc'd slabs, freed by a cleanup of the caller's
 * pool. Allocations larger than half a slab get a block of their own on a
 * second list, so that the small ones keep filling the current slab. */
#define SLAB_SIZE (256 * 1024)
typedef struct slab {
    struct slab *next;
    size_t used, cap;
    char data[];
} slab_t;

typedef struct slabs {
    slab_t *small, *big;
} slabs_t;

/* A point to go back to (mg_yaml_parse_stream: after each streamed item). */
typedef struct slab_mark {
    slab_t *small, *big;
    size_t used;
} slab_mark_t;

static void slab_list_free(slab_t *s, const slab_t *stop)
{
    while (s && s != stop) {
        slab_t *next = s->next;
        free(s);
        s = next;
    }
}

static apr_status_t slabs_free(void *arg)
{
    slabs_t *sl = arg;
    slab_list_free(sl->small, NULL);
    slab_list_free(sl->big, NULL);
    sl->small = sl->big = NULL;
    return APR_SUCCESS;
}

static void *slab_alloc(slabs_t *sl, size_t n)
{
    n = (n + 7) & ~(size_t)7;
    if (n > SLAB_SIZE / 2) {
        slab_t *s = malloc(sizeof(slab_t) + n);
        if (!s)
            return NULL;
        s->used = s->cap = n;
        s->next = sl->big;
        sl->big = s;
        return s->data;
    }
    if (!sl->small || sl->small->used + n > sl->small->cap) {
        size_t cap = SLAB_SIZE - sizeof(slab_t);
        slab_t *s = malloc(sizeof(slab_t) + cap);
        if (!s)
            return NULL;
        s->used = 0;
        s->cap = cap;
        s->next = sl->small;
        sl->small = s;
    }
    void *p = sl->small->data + sl->small->used;
    sl->small->used += n;
    return p;
}

static void slab_mark(const slabs_t *sl, slab_mark_t *m)
{
    m->small = sl->small;
    m->big = sl->big;
    m->used = sl->small ? sl->small->used : 0;
}

/* Free what was allocated since the mark. When that filled the marked
 * slab and began another, the newest slab is kept (emptied) and becomes
 * the mark: an item that does not fit after the mark would otherwise get
 * and give back a slab every time. */
static void slab_release(slabs_t *sl, slab_mark_t *m)
{
    slab_list_free(sl->big, m->big);
    sl->big = m->big;
    if (sl->small == m->small) {
        if (sl->small)
            sl->small->used = m->used;
        return;
    }
    slab_list_free(sl->small->next, m->small);
    sl->small->next = m->small;
    sl->small->used = 0;
    slab_mark(sl, m);
}

typedef struct yctx {
    apr_pool_t *pool;
    slabs_t *slabs;
    const char *file;
    const char *buf;
    size_t len;
    mg_diags_t *diags;
    frame_t stack[MG_YAML_MAX_DEPTH + 1];
    int depth;
    mg_ynode_t **kids; /* malloc'd: freed before mg_yaml_parse returns */
    int nkids, capkids;
    mg_ynode_t *root;
    int docs;
    /* mg_yaml_parse_stream: the list being streamed is the frame at
     * stack[stream_depth - 1] (0: none yet or no more); items so far;
     * where each item's nodes begin */
    const mg_ystream_t *stream;
    int stream_depth, stream_items, streamed;
    slab_mark_t stream_mark;
} yctx_t;

/* libyaml reports reader (encoding) errors as a byte offset only. Convert
 * to line:column counting characters, as libyaml's marks do. */
static void offset_to_pos(const char *buf, size_t len, size_t off, int *line, int *col)
{
    int l = 1, c = 1;
    if (off > len)
        off = len;
    for (size_t i = 0; i < off; i++) {
        unsigned char ch = (unsigned char)buf[i];
        if (ch == '\n') {
            l++;
            c = 1;
        } else if ((ch & 0xc0) != 0x80) {
            c++;
        }
    }
    *line = l;
    *col = c;
}

/* The byte at a 1-based line:column (columns count characters), or 0. */
/* Byte offset of 1-based (line, col), col counting characters as libyaml's
 * marks do; len when there is no such position. */
static size_t offset_at(const char *buf, size_t len, int line, int col)
{
    size_t i = 0;
    for (int l = 1; l < line && i < len; i++)
        if (buf[i] == '\n')
            l++;
    for (int c = 1; i < len && buf[i] != '\n'; i++) {
        if (((unsigned char)buf[i] & 0xc0) == 0x80)
            continue;
        if (c++ == col)
            return i;
    }
    return len;
}

static char char_at(const char *buf, size_t len, int line, int col)
{
    size_t i = offset_at(buf, len, line, col);
    return i < len ? buf[i] : 0;
}

static int yspace(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static int key_like(const char *s, size_t n)
{
    if (n == 0 || !(mg_ascii_isalpha(s[0]) || s[0] == '_'))
        return 0;
    for (size_t i = 1; i < n; i++)
        if (!(mg_ascii_isalnum(s[i]) || s[i] == '_' || s[i] == '-'))
            return 0;
    return 1;
}

/* Hint for libyaml's "did not find expected ',' or '}'" (or ']') at the ':'
 * at buf[at], inside a flow collection: the plain value before it ended
 * there. One word (`{message: Note: members only}`) can only be a value
 * with ': ' in it, which quoting fixes. Several words whose last looks like
 * a key (`{path: /a/ access: {...}}`) are most likely a missing ','; when a
 * nested collection follows, quoting would turn structure into text, so
 * the comma is the only hint. NULL when the text is no such value. */
static const char *colon_hint(apr_pool_t *pool, const char *buf, size_t len, size_t at)
{
    static const char quote[] = "quote values that contain ': ', e.g. \"Note: members only\"";
    size_t b = at, e = at;
    if (at >= len || buf[at] != ':')
        return NULL;
    /* back to the ": " that ends the key (a value may span lines) */
    while (b > 0) {
        char c = buf[b - 1];
        if (c == ':' && yspace(buf[b]))
            break;
        if (c == '{' || c == '[' || c == ',' || c == '"' || c == '\'' || c == '#')
            return NULL;
        b--;
    }
    if (b == 0)
        return NULL;
    while (b < e && yspace(buf[b]))
        b++;
    while (e > b && yspace(buf[e - 1]))
        e--;
    if (e == b)
        return NULL;
    size_t w = e;
    while (w > b && !yspace(buf[w - 1]))
        w--;
    if (w == b)
        return quote;
    if (!key_like(buf + w, e - w))
        return quote;
    size_t r = at + 1;
    while (r < len && (buf[r] == ' ' || buf[r] == '\t'))
        r++;
    const char *word = apr_pstrmemdup(pool, buf + w, e - w);
    if (r < len && (buf[r] == '{' || buf[r] == '['))
        return apr_psprintf(pool, "a ',' missing before '%s'?", word);
    return apr_psprintf(pool, "a ',' missing before '%s'? If not, %s", word, quote);
}

static mg_ynode_t *node_new(yctx_t *y, mg_ykind_t kind, const yaml_mark_t *m)
{
    mg_ynode_t *n = slab_alloc(y->slabs, sizeof(*n));
    if (!n)
        return NULL;
    memset(n, 0, sizeof(*n));
    n->kind = (uint8_t)kind;
    n->line = (int)m->line + 1;
    n->col = (int)m->column + 1;
    return n;
}

static void err_at(yctx_t *y, const yaml_mark_t *m, const char *code, const char *msg)
{
    mg_diag_add(y->diags, MG_SEV_ERROR, y->file, (int)m->line + 1, (int)m->column + 1, code, "%s",
                msg);
}

static int oom(yctx_t *y)
{
    mg_diag_add(y->diags, MG_SEV_ERROR, y->file, 0, 0, "yaml-syntax",
                "out of memory while parsing YAML");
    return -1;
}

/* Attach a finished node to the collection on top of the stack, or make it
 * the document root. Returns -1 on a refused construct. */
static int attach(yctx_t *y, mg_ynode_t *n)
{
    if (y->depth == 0) {
        y->root = n;
        return 0;
    }
    frame_t *f = &y->stack[y->depth - 1];
    if (y->depth == y->stream_depth) {
        /* an item of the streamed list: handed over, then its nodes reused */
        y->stream->item(y->stream->arg, n, y->stream_items++);
        slab_release(y->slabs, &y->stream_mark);
        return 0;
    }
    if (f->node->kind == MG_Y_MAP && ((y->nkids - f->base) % 2) == 0 && n->kind != MG_Y_SCALAR) {
        mg_diag_add(y->diags, MG_SEV_ERROR, y->file, n->line, n->col, "yaml-syntax",
                    "mapping keys must be plain strings, not %s",
                    n->kind == MG_Y_MAP ? "mappings" : "lists");
        return -1;
    }
    if (y->nkids == y->capkids) {
        int cap = y->capkids ? y->capkids * 2 : 256;
        mg_ynode_t **nk = realloc(y->kids, sizeof(*nk) * (size_t)cap);
        if (!nk)
            return oom(y);
        y->kids = nk;
        y->capkids = cap;
    }
    y->kids[y->nkids++] = n;
    return 0;
}

static int str_eq(const mg_ynode_t *a, const mg_ynode_t *b)
{
    return a->len == b->len && memcmp(a->str, b->str, a->len) == 0;
}

/* Close a mapping: build pairs, report and drop duplicate keys. Small
 * mappings are checked pairwise; large ones (user lists) through a hash so
 * that a 10,000-entry mapping stays linear. */
static int finish_map(yctx_t *y, frame_t *f)
{
    mg_ynode_t *m = f->node;
    int npairs = (y->nkids - f->base) / 2;
    /* the child stack is NULL until the first child: no pointer arithmetic on it then */
    mg_ynode_t **kids = npairs ? y->kids + f->base : NULL;
    apr_hash_t *seen = npairs > 16 ? apr_hash_make(y->pool) : NULL;
    mg_ypair_t *pairs = slab_alloc(y->slabs, sizeof(mg_ypair_t) * (size_t)(npairs ? npairs : 1));
    if (!pairs)
        return -1;
    m->pairs = pairs;
    m->n = 0;
    for (int i = 0; i < npairs; i++) {
        mg_ynode_t *k = kids[2 * i], *v = kids[2 * i + 1];
        const mg_ynode_t *first = NULL;
        if (seen) {
            first = apr_hash_get(seen, k->str, (apr_ssize_t)k->len);
            if (!first)
                apr_hash_set(seen, k->str, (apr_ssize_t)k->len, k);
        } else {
            for (int j = 0; j < m->n && !first; j++)
                if (str_eq(m->pairs[j].key, k))
                    first = m->pairs[j].key;
        }
        if (first) {
            mg_diag_add(y->diags, MG_SEV_ERROR, y->file, k->line, k->col, "duplicate-key",
                        "duplicate key '%s' (first defined at line %d)", k->str, first->line);
            continue;
        }
        m->pairs[m->n].key = k;
        m->pairs[m->n].value = v;
        m->n++;
    }
    return 0;
}

static int finish_seq(yctx_t *y, frame_t *f)
{
    mg_ynode_t *s = f->node;
    int n = y->nkids - f->base;
    if (s->streamed) {
        s->n = y->stream_items;
        s->items = NULL;
        y->stream_depth = 0;
        return 0;
    }
    mg_ynode_t **items = slab_alloc(y->slabs, sizeof(mg_ynode_t *) * (size_t)(n ? n : 1));
    if (!items)
        return -1;
    if (n)
        memcpy(items, y->kids + f->base, sizeof(mg_ynode_t *) * (size_t)n);
    s->n = n;
    s->items = items;
    return 0;
}

static int push(yctx_t *y, mg_ynode_t *n, const yaml_mark_t *m)
{
    if (y->depth >= MG_YAML_MAX_DEPTH) {
        mg_diag_add(y->diags, MG_SEV_ERROR, y->file, n->line, n->col, "yaml-depth",
                    "nesting is deeper than %d levels", MG_YAML_MAX_DEPTH);
        return -1;
    }
    frame_t *f = &y->stack[y->depth++];
    f->node = n;
    f->base = y->nkids;
    (void)m;
    return 0;
}

static int pop(yctx_t *y)
{
    frame_t *f = &y->stack[--y->depth];
    if ((f->node->kind == MG_Y_MAP ? finish_map(y, f) : finish_seq(y, f)) != 0)
        return oom(y);
    y->nkids = f->base;
    return attach(y, f->node);
}

/* Just after a list was pushed: is it the value of the streamed key of
 * the root mapping? Then the stream's begin() sees the root as parsed so
 * far and decides. 0, or -1 when out of memory. */
static int stream_start(yctx_t *y)
{
    const mg_ystream_t *st = y->stream;
    if (!st || y->streamed || y->depth != 2)
        return 0;
    frame_t *rf = &y->stack[0], *lf = &y->stack[1];
    int nk = lf->base - rf->base; /* the root's children so far, the key last */
    if (rf->node->kind != MG_Y_MAP || nk % 2 != 1)
        return 0;
    const mg_ynode_t *key = y->kids[lf->base - 1];
    if (key->kind != MG_Y_SCALAR || strcmp(key->str, st->key) != 0)
        return 0;
    y->streamed = 1;
    /* the root so far, as a mapping of the pairs before the key (their
     * duplicates are reported when the root closes) */
    mg_ynode_t part = *rf->node;
    part.n = nk / 2;
    part.pairs = slab_alloc(y->slabs, sizeof(mg_ypair_t) * (size_t)(part.n ? part.n : 1));
    if (!part.pairs)
        return oom(y);
    for (int i = 0; i < part.n; i++) {
        part.pairs[i].key = y->kids[rf->base + 2 * i];
        part.pairs[i].value = y->kids[rf->base + 2 * i + 1];
    }
    if (st->begin(st->arg, &part, lf->node) != 0)
        return 0;
    lf->node->streamed = 1;
    y->stream_depth = 2;
    slab_mark(y->slabs, &y->stream_mark);
    return 0;
}

static int check_tag(yctx_t *y, const yaml_mark_t *m, const yaml_char_t *tag, const char *allowed)
{
    if (!tag || strcmp((const char *)tag, allowed) == 0)
        return 0;
    mg_diag_add(y->diags, MG_SEV_ERROR, y->file, (int)m->line + 1, (int)m->column + 1, "yaml-tag",
                "YAML tags are not supported ('%s')", (const char *)tag);
    return -1;
}

static int check_anchor(yctx_t *y, const yaml_mark_t *m, const yaml_char_t *anchor)
{
    if (!anchor)
        return 0;
    err_at(y, m, "yaml-alias", "aliases are not supported (anchor '&' found)");
    return -1;
}

/* One event; returns 1 to continue, 0 at stream end, -1 on a refusal. */
static int on_event(yctx_t *y, yaml_event_t *ev)
{
    mg_ynode_t *n;
    switch (ev->type) {
    case YAML_STREAM_START_EVENT:
    case YAML_DOCUMENT_END_EVENT:
        return 1;
    case YAML_STREAM_END_EVENT:
        return 0;
    case YAML_DOCUMENT_START_EVENT:
        if (++y->docs > 1) {
            err_at(y, &ev->start_mark, "yaml-syntax",
                   "a policy file holds exactly one YAML document");
            return -1;
        }
        return 1;
    case YAML_ALIAS_EVENT:
        err_at(y, &ev->start_mark, "yaml-alias", "aliases are not supported");
        return -1;
    case YAML_SCALAR_EVENT:
        if (check_anchor(y, &ev->start_mark, ev->data.scalar.anchor) ||
            check_tag(y, &ev->start_mark, ev->data.scalar.tag, YAML_STR_TAG))
            return -1;
        if (memchr(ev->data.scalar.value, 0, ev->data.scalar.length)) {
            err_at(y, &ev->start_mark, "yaml-syntax", "strings may not contain NUL characters");
            return -1;
        }
        if (ev->data.scalar.length > UINT32_MAX / 2)
            return oom(y);
        n = node_new(y, MG_Y_SCALAR, &ev->start_mark);
        char *str = slab_alloc(y->slabs, ev->data.scalar.length + 1);
        if (!n || !str)
            return oom(y);
        memcpy(str, ev->data.scalar.value, ev->data.scalar.length);
        str[ev->data.scalar.length] = 0;
        n->str = str;
        n->len = (uint32_t)ev->data.scalar.length;
        n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && !ev->data.scalar.tag;
        return attach(y, n) == 0 ? 1 : -1;
    case YAML_SEQUENCE_START_EVENT:
        if (check_anchor(y, &ev->start_mark, ev->data.sequence_start.anchor) ||
            check_tag(y, &ev->start_mark, ev->data.sequence_start.tag, YAML_SEQ_TAG))
            return -1;
        n = node_new(y, MG_Y_SEQ, &ev->start_mark);
        if (!n)
            return oom(y);
        if (push(y, n, &ev->start_mark) != 0)
            return -1;
        return stream_start(y) == 0 ? 1 : -1;
    case YAML_MAPPING_START_EVENT:
        if (check_anchor(y, &ev->start_mark, ev->data.mapping_start.anchor) ||
            check_tag(y, &ev->start_mark, ev->data.mapping_start.tag, YAML_MAP_TAG))
            return -1;
        n = node_new(y, MG_Y_MAP, &ev->start_mark);
        if (!n)
            return oom(y);
        return push(y, n, &ev->start_mark) == 0 ? 1 : -1;
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        return pop(y) == 0 ? 1 : -1;
    default:
        return 1;
    }
}

static void parser_error(yctx_t *y, yaml_parser_t *p)
{
    int line, col;
    const char *problem = p->problem ? p->problem : "invalid YAML";
    if (p->error == YAML_READER_ERROR) {
        offset_to_pos(y->buf, y->len, p->problem_offset, &line, &col);
        mg_diag_add(y->diags, MG_SEV_ERROR, y->file, line, col, "bad-encoding",
                    "%s (a policy file must be UTF-8 text)", problem);
        return;
    }
    if (p->error == YAML_MEMORY_ERROR) {
        mg_diag_add(y->diags, MG_SEV_ERROR, y->file, 0, 0, "yaml-syntax",
                    "out of memory while parsing YAML");
        return;
    }
    line = (int)p->problem_mark.line + 1;
    col = (int)p->problem_mark.column + 1;
    mg_diag_t *d;
    if (p->context)
        d = mg_diag_add(y->diags, MG_SEV_ERROR, y->file, line, col, "yaml-syntax", "%s: %s",
                        p->context, problem);
    else
        d = mg_diag_add(y->diags, MG_SEV_ERROR, y->file, line, col, "yaml-syntax", "%s", problem);
    /* libyaml's sentences are exact but terse: name the usual cause */
    char at = char_at(y->buf, y->len, line, col);
    const char *colon = NULL;
    if (at == ':' && strncmp(problem, "did not find expected ',' or ", 29) == 0)
        /* {message: Note: members only}: inside [...] or {...} a second
         * ": " ends the plain value, where libyaml wanted ',' or the end */
        colon = colon_hint(y->diags->pool, y->buf, y->len, offset_at(y->buf, y->len, line, col));
    if (at == '\t')
        d->hint = "indent with spaces: YAML does not allow tabs there";
    else if (colon)
        d->hint = colon;
    else if (p->context && (p->context_mark.line != p->problem_mark.line ||
                            p->context_mark.column != p->problem_mark.column))
        d->hint = apr_psprintf(y->diags->pool, "it started at line %d, column %d",
                               (int)p->context_mark.line + 1, (int)p->context_mark.column + 1);
}

mg_status_t mg_yaml_parse(apr_pool_t *pool, const char *file, const char *buf, size_t len,
                          mg_ynode_t **root, mg_diags_t *diags)
{
    return mg_yaml_parse_stream(pool, file, buf, len, NULL, root, diags);
}

mg_status_t mg_yaml_parse_stream(apr_pool_t *pool, const char *file, const char *buf, size_t len,
                                 const mg_ystream_t *stream, mg_ynode_t **root, mg_diags_t *diags)
{
    yaml_parser_t parser;
    yaml_event_t ev;
    yctx_t *y = apr_pcalloc(pool, sizeof(*y));
    int errors_before = diags->errors;
    int rc = 1;

    *root = NULL;
    /* A UTF-8 byte order mark (Windows editors write one) is not content;
     * with the encoding fixed to UTF-8, libyaml would reject it. */
    if (len >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0) {
        buf += 3;
        len -= 3;
    }
    y->pool = pool;
    y->slabs = apr_pcalloc(pool, sizeof(slabs_t));
    y->stream = stream;
    apr_pool_cleanup_register(pool, y->slabs, slabs_free, apr_pool_cleanup_null);
    y->file = file;
    y->buf = buf;
    y->len = len;
    y->diags = diags;
    if (len > MG_YAML_MAX_SIZE) {
        mg_diag_add(diags, MG_SEV_ERROR, file, 0, 0, "file-too-large",
                    "the policy is larger than %d MiB", MG_YAML_MAX_SIZE / (1024 * 1024));
        return MG_EINVAL;
    }
    if (!yaml_parser_initialize(&parser))
        return MG_ENOMEM;
    yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
    yaml_parser_set_encoding(&parser, YAML_UTF8_ENCODING);
    while (rc > 0) {
        if (!yaml_parser_parse(&parser, &ev)) {
            parser_error(y, &parser);
            break;
        }
        rc = on_event(y, &ev);
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&parser);
    free(y->kids);
    if (diags->errors > errors_before)
        return MG_EINVAL;
    *root = y->root;
    return MG_OK;
}

int mg_ynode_is_null(const mg_ynode_t *n)
{
    if (!n || n->kind != MG_Y_SCALAR || !n->plain)
        return 0;
    return n->len == 0 || strcmp(n->str, "~") == 0 || strcmp(n->str, "null") == 0 ||
           strcmp(n->str, "Null") == 0 || strcmp(n->str, "NULL") == 0;
}

const char *mg_ynode_describe(apr_pool_t *pool, const mg_ynode_t *n)
{
    if (!n)
        return "nothing";
    if (n->kind == MG_Y_MAP)
        return "a mapping";
    if (n->kind == MG_Y_SEQ)
        return "a list";
    if (mg_ynode_is_null(n))
        return "null";
    if (n->plain && (!strcmp(n->str, "true") || !strcmp(n->str, "false")))
        return apr_psprintf(pool, "the boolean %s", n->str);
    if (n->plain && n->len > (uint32_t)(n->str[0] == '-') && n->len <= 20 &&
        strspn(n->str + (n->str[0] == '-'), "0123456789") == n->len - (n->str[0] == '-'))
        return apr_psprintf(pool, "the number %s", n->str);
    if (n->len > 40)
        return apr_psprintf(pool, "a string '%.40s...'", n->str);
    return apr_psprintf(pool, "a string '%s'", n->str);
}

const char *mg_ynode_describe_root(apr_pool_t *pool, const mg_ynode_t *n)
{
    /* a key file's one line (mg-hmac-sha256:..., a vendor's secret) would
     * otherwise be quoted into apache2 -t's output and the error log */
    if (n != NULL && n->kind == MG_Y_SCALAR && !mg_ynode_is_null(n))
        return "a string (not shown: a key file's secret would be)";
    return mg_ynode_describe(pool, n);
}

mg_ynode_t *mg_ynode_get(const mg_ynode_t *map, const char *key)
{
    if (!map || map->kind != MG_Y_MAP)
        return NULL;
    for (int i = 0; i < map->n; i++)
        if (strcmp(map->pairs[i].key->str, key) == 0)
            return map->pairs[i].value;
    return NULL;
}
