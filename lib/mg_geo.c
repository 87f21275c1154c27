/* mg_geo.c — country lookups in a MaxMind DB file (GeoLite2-Country,
 * GeoIP2-Country or -City, or any database with the same record layout).
 *
 * The file is read once, when the policy is loaded: in Apache that is the
 * parent reading its configuration, so every child shares the one read-only
 * mapping after fork, and libmaxminddb's lookups take a const MMDB_s and are
 * safe from any number of threads. A new database file is picked up by
 * reloading the policy (graceful restart).
 *
 * What is mapped is a private copy in an anonymous memory file, not the
 * file itself: libmaxminddb maps the path it is given MAP_SHARED, so a
 * database overwritten in place (cp over it, an updater that truncates and
 * rewrites) would change under every child — a page past a shorter file's
 * new end kills the child that touches it (SIGBUS), a rewritten one gives
 * lookups half old and half new records. The copy cannot change; it goes
 * when the last process that maps it does.
 *
 * A database that opens but holds no country records (an ASN or ISP one, a
 * vendor's layout) is refused at open (probe_layout): it would make every
 * client's country unknown, and a deny list would let everyone through.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <netinet/in.h>

#include <apr_strings.h>
#include <maxminddb.h>

#include "mg_geo.h"

struct mg_geo {
    MMDB_s mmdb;
    int open;
};

static apr_status_t geo_close(void *data)
{
    mg_geo_t *g = data;
    if (g->open) {
        MMDB_close(&g->mmdb);
        g->open = 0;
    }
    return APR_SUCCESS;
}

/* The largest database copied (GeoIP2-City is about 130 MB). */
#define MG_GEO_MAX_SIZE ((off_t)1 << 30)

/* A sealed-off copy of the regular file `path` in a memory file: its
 * descriptor (close-on-exec), or -1 with *why set. */
static int private_copy(apr_pool_t *pool, const char *path, const char **why)
{
    struct stat sb;
    char buf[65536];
    int in, out = -1;
    off_t done = 0;

    /* Look before opening, as mg_file_read does: a device named as the
     * database is never opened (opening one can act: a watchdog, a tape);
     * O_NONBLOCK: a FIFO swapped in meanwhile must not block configtest,
     * and the type is checked again on the descriptor */
    if (stat(path, &sb) == 0 && !S_ISREG(sb.st_mode)) {
        *why = apr_psprintf(pool, "'%s' is not a regular file", path);
        return -1;
    }
    in = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (in < 0) {
        *why = apr_psprintf(pool, "cannot read '%s': %s", path, strerror(errno));
        return -1;
    }
    if (fstat(in, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        *why = apr_psprintf(pool, "'%s' is not a regular file", path);
        goto fail;
    }
    if (sb.st_size > MG_GEO_MAX_SIZE) {
        *why = apr_psprintf(pool, "'%s' is larger than 1 GiB", path);
        goto fail;
    }
    out = memfd_create("mg-country-db", MFD_CLOEXEC);
    if (out < 0) {
        *why = apr_psprintf(pool, "cannot copy '%s' into memory: %s", path, strerror(errno));
        goto fail;
    }
    for (;;) {
        ssize_t n = read(in, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            *why = apr_psprintf(pool, "cannot read '%s': %s", path, strerror(errno));
            goto fail;
        }
        if (n == 0)
            break;
        if (done + n > MG_GEO_MAX_SIZE) { /* grew while being read */
            *why = apr_psprintf(pool, "'%s' is larger than 1 GiB", path);
            goto fail;
        }
        for (ssize_t w = 0; w < n;) {
            ssize_t k = write(out, buf + w, (size_t)(n - w));
            if (k < 0 && errno == EINTR)
                continue;
            if (k < 0) {
                *why =
                    apr_psprintf(pool, "cannot copy '%s' into memory: %s", path, strerror(errno));
                goto fail;
            }
            w += k;
        }
        done += n;
    }
    close(in);
    return out;
fail:
    close(in);
    if (out >= 0)
        close(out);
    return -1;
}

const char *mg_geo_type(const mg_geo_t *g)
{
    return g && g->mmdb.metadata.database_type ? g->mmdb.metadata.database_type : "unknown";
}

int mg_geo_ip_version(const mg_geo_t *g)
{
    return g ? (int)g->mmdb.metadata.ip_version : 0;
}

apr_int64_t mg_geo_built(const mg_geo_t *g)
{
    return g && g->mmdb.metadata.build_epoch <= (uint64_t)APR_INT64_MAX
               ? (apr_int64_t)g->mmdb.metadata.build_epoch
               : 0;
}

/* A two-letter code from an entry's `path` (country or registered_country):
 * 1 found, 0 absent or not a code, -1 error. */
static int iso_code(MMDB_entry_s *entry, const char *path, char cc[3])
{
    MMDB_entry_data_s v;
    int rc = MMDB_get_value(entry, &v, path, "iso_code", NULL);
    if (rc == MMDB_LOOKUP_PATH_DOES_NOT_MATCH_DATA_ERROR)
        return 0;
    if (rc != MMDB_SUCCESS)
        return -1;
    if (!v.has_data || v.type != MMDB_DATA_TYPE_UTF8_STRING || v.data_size != 2)
        return 0;
    for (int i = 0; i < 2; i++) {
        char c = v.utf8_string[i];
        if (c >= 'a' && c <= 'z')
            c = (char)(c - ('a' - 'A'));
        if (c < 'A' || c > 'Z')
            return 0;
        cc[i] = c;
    }
    cc[2] = '\0';
    return 1;
}

/* How far probe_layout walks: records looked at, and search-tree nodes
 * visited (a tree can point many branches at one node; this bounds it). */
#define MG_GEO_PROBE_RECORDS 256
#define MG_GEO_PROBE_NODES (1u << 20)

/* Does the database hold country records? A database of another kind (an
 * ASN, ISP or anonymous-IP one, a vendor's file whose `country` is a bare
 * string) opens fine and answers "unknown" for every address: a
 * country.deny list would then let every client through. The search tree
 * is walked from the root, depth first, and the first records found are
 * asked for the codes mg_geo_country() reads. 1: one has them; 0: records
 * were read and none has (or there are none); 2: no record within
 * MG_GEO_PROBE_NODES nodes (refused too: no real database is laid out so);
 * -1: the tree or a record could not be read (a corrupt file: its lookups
 * fail, and deny, then). */
static int probe_layout(const MMDB_s *mmdb)
{
    uint32_t stack[2 * 130], nodes = 0;
    int top = 0, records = 0, broken = 0;
    char cc[3];

    stack[top++] = 0;
    while (top > 0 && records < MG_GEO_PROBE_RECORDS && nodes < MG_GEO_PROBE_NODES) {
        MMDB_search_node_s node;
        if (MMDB_read_node(mmdb, stack[--top], &node) != MMDB_SUCCESS) {
            broken = 1;
            continue;
        }
        nodes++;
        /* right first: the left branch is walked first */
        uint8_t type[2] = {node.right_record_type, node.left_record_type};
        uint64_t rec[2] = {node.right_record, node.left_record};
        MMDB_entry_s entry[2] = {node.right_record_entry, node.left_record_entry};
        for (int i = 0; i < 2; i++) {
            if (type[i] == MMDB_RECORD_TYPE_SEARCH_NODE) {
                if (top < (int)(sizeof(stack) / sizeof(stack[0])))
                    stack[top++] = (uint32_t)rec[i];
                else
                    broken = 1; /* deeper than any IPv6 tree */
            } else if (type[i] == MMDB_RECORD_TYPE_DATA) {
                int f = iso_code(&entry[i], "country", cc);
                if (f == 0)
                    f = iso_code(&entry[i], "registered_country", cc);
                if (f == 1)
                    return 1;
                if (f < 0)
                    broken = 1;
                records++;
            } else if (type[i] == MMDB_RECORD_TYPE_INVALID) {
                broken = 1;
            }
        }
    }
    if (broken)
        return -1;
    return records == 0 && nodes >= MG_GEO_PROBE_NODES ? 2 : 0;
}

mg_status_t mg_geo_open(apr_pool_t *pool, const char *path, mg_geo_t **out, const char **why)
{
    mg_geo_t *g = apr_pcalloc(pool, sizeof(*g));
    int rc, err, fd;
    *out = NULL;
    fd = private_copy(pool, path, why);
    if (fd < 0)
        return MG_EIO;
    /* libmaxminddb opens a path: the copy's, through /proc; the mapping
     * outlives the descriptor */
    errno = 0;
    rc = MMDB_open(apr_psprintf(pool, "/proc/self/fd/%d", fd), MMDB_MODE_MMAP, &g->mmdb);
    err = errno;
    close(fd);
    if (rc != MMDB_SUCCESS) {
        if (rc == MMDB_FILE_OPEN_ERROR)
            *why = apr_psprintf(pool, "cannot map the copy of '%s': %s", path,
                                err ? strerror(err) : MMDB_strerror(rc));
        else
            *why =
                apr_psprintf(pool, "'%s' is not a MaxMind DB file (%s)", path, MMDB_strerror(rc));
        return MG_EIO;
    }
    g->open = 1;
    apr_pool_cleanup_register(pool, g, geo_close, apr_pool_cleanup_null);
    switch (probe_layout(&g->mmdb)) {
    case 0:
        *why = apr_psprintf(pool,
                            "'%s' holds no country records (database type '%s'): name a "
                            "Country or City database (GeoLite2-Country, GeoIP2-City, ...)",
                            path, mg_geo_type(g));
        return MG_EIO;
    case 2:
        *why = apr_psprintf(pool,
                            "'%s' has no record in the first %u nodes of its search tree "
                            "(database type '%s'): not a country database as MaxMind's "
                            "writers lay one out",
                            path, MG_GEO_PROBE_NODES, mg_geo_type(g));
        return MG_EIO;
    default:
        break;
    }
    *out = g;
    return MG_OK;
}

mg_geo_result_t mg_geo_country(const mg_geo_t *g, const mg_ip_t *ip, char cc[3], const char **why)
{
    struct sockaddr_in sin;
    struct sockaddr_in6 sin6;
    const struct sockaddr *sa;
    int err = 0;

    if (g == NULL || !g->open) {
        *why = "the country database is not open";
        return MG_GEO_ERROR;
    }
    if (ip->family == 4) {
        memset(&sin, 0, sizeof(sin));
        sin.sin_family = AF_INET;
        memcpy(&sin.sin_addr, ip->addr, 4);
        sa = (const struct sockaddr *)&sin;
    } else if (ip->family == 6) {
        memset(&sin6, 0, sizeof(sin6));
        sin6.sin6_family = AF_INET6;
        memcpy(&sin6.sin6_addr, ip->addr, 16);
        sa = (const struct sockaddr *)&sin6;
    } else {
        return MG_GEO_UNKNOWN; /* no address: no country */
    }
    MMDB_lookup_result_s res = MMDB_lookup_sockaddr(&g->mmdb, sa, &err);
    if (err == MMDB_IPV6_LOOKUP_IN_IPV4_DATABASE_ERROR)
        return MG_GEO_UNKNOWN; /* an IPv4-only database knows no IPv6 client */
    if (err != MMDB_SUCCESS) {
        *why = MMDB_strerror(err);
        return MG_GEO_ERROR;
    }
    if (!res.found_entry)
        return MG_GEO_UNKNOWN;
    int f = iso_code(&res.entry, "country", cc);
    if (f == 0)
        f = iso_code(&res.entry, "registered_country", cc);
    if (f < 0) {
        *why = "the database record of the address cannot be read";
        return MG_GEO_ERROR;
    }
    return f == 1 ? MG_GEO_FOUND : MG_GEO_UNKNOWN;
}
