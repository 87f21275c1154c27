/* mg_geo.h — the client's country from a MaxMind DB file (country.from:
 * {mmdb: FILE}; mg_geo.c, on libmaxminddb). Internal to libmg. */
#ifndef MG_GEO_H
#define MG_GEO_H

#include <apr_pools.h>

#include "mg.h"
#include "mg_ip.h"

typedef struct mg_geo mg_geo_t;

/* Open `path` (memory-mapped, read-only) for the lifetime of `pool`; a pool
 * cleanup closes it. MG_OK, or MG_EIO with *why a sentence from pool (file
 * missing, unreadable, not a MaxMind DB, or one without country records: an
 * ASN database would make every client's country unknown). */
mg_status_t mg_geo_open(apr_pool_t *pool, const char *path, mg_geo_t **out, const char **why);

/* The metadata's database_type ("GeoLite2-Country", ...), for messages. */
const char *mg_geo_type(const mg_geo_t *g);

/* The metadata's ip_version (4: an IPv4-only database, which knows no IPv6
 * client) and build_epoch (seconds since 1970, 0 if absent), for the
 * loader's warnings. */
int mg_geo_ip_version(const mg_geo_t *g);
apr_int64_t mg_geo_built(const mg_geo_t *g);

typedef enum {
    MG_GEO_FOUND = 0,   /* cc holds the upper-case ISO 3166 alpha-2 code */
    MG_GEO_UNKNOWN = 1, /* the address is not in the database, or its record has no country */
    MG_GEO_ERROR = -1   /* the database could not be read: *why says why (static text) */
} mg_geo_result_t;

/* Country of `ip`: the record's country.iso_code, else its
 * registered_country.iso_code. Lock-free and allocation-free: one
 * MMDB_s shared read-only by every thread. */
mg_geo_result_t mg_geo_country(const mg_geo_t *g, const mg_ip_t *ip, char cc[3], const char **why);

#endif
