/* Settings from environment variables, each with a sane local default
 * (README "Settings" lists them all). Endpoints and database connection
 * strings for each service are derived here so that every binary, billctl
 * and the tests agree on them. */
#ifndef BW_CONFIG_H
#define BW_CONFIG_H

#include <stddef.h>

/* The service names, in the order their default ports are laid out. */
extern const char *const bw_service_names[4];

/* The variable's value, or def when unset or empty. */
const char *bw_env_str(const char *name, const char *def);
/* Parses an integer setting within [min, max]; logs and returns BW_EINVAL
 * when it is malformed or out of range. */
int bw_env_int(const char *name, long long def, long long min, long long max, long long *out);

/* The endpoint clients connect to for service `svc` ("rating", ...) and kind
 * "api" or "stream": BILLOW_<SVC>_<KIND> or tcp://127.0.0.1:<port>, where the
 * port is BILLOW_PORT_BASE (7100) + 10*index + 1 (api) or 2 (stream). With
 * bind set, BILLOW_<SVC>_<KIND>_BIND wins when present. */
int bw_endpoint(const char *svc, const char *kind, int bind, char *buf, size_t len);

/* The libpq connection string for `svc`: BILLOW_<SVC>_DATABASE_URL, or
 * BILLOW_DATABASE_URL with user billow_<svc>. Returns BW_EINVAL when neither
 * is set. The schema is always the service name. */
int bw_db_conninfo(const char *svc, char *buf, size_t len, const char **user);

#endif
