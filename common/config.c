/* Environment settings. Everything else reads settings through here so the
 * README's table stays the single list of knobs. */
#include "config.h"
#include "errors.h"
#include "log.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const bw_service_names[4] = {"rating", "invoicing", "notification", "feedback"};

const char *bw_env_str(const char *name, const char *def)
{
    const char *v = getenv(name);
    return v && *v ? v : def;
}

int bw_env_int(const char *name, long long def, long long min, long long max, long long *out)
{
    const char *v = getenv(name);
    if (!v || !*v) {
        *out = def;
        return 0;
    }
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno || *end || x < min || x > max) {
        bw_log(BW_ERROR, "invalid setting", "name", BW_S(name), "value", BW_S(v), "min",
               BW_I(min), "max", BW_I(max), NULL);
        return BW_EINVAL;
    }
    *out = x;
    return 0;
}

static void upper(char *dst, size_t len, const char *src)
{
    size_t i = 0;
    for (; src[i] && i + 1 < len; i++)
        dst[i] = (char)toupper((unsigned char)src[i]);
    dst[i] = '\0';
}

static int service_index(const char *svc)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(svc, bw_service_names[i]) == 0)
            return i;
    return -1;
}

int bw_endpoint(const char *svc, const char *kind, int bind, char *buf, size_t len)
{
    char usvc[32], ukind[16], name[80];
    upper(usvc, sizeof usvc, svc);
    upper(ukind, sizeof ukind, kind);
    if (bind) {
        snprintf(name, sizeof name, "BILLOW_%s_%s_BIND", usvc, ukind);
        const char *v = bw_env_str(name, NULL);
        if (v) {
            snprintf(buf, len, "%s", v);
            return 0;
        }
    }
    snprintf(name, sizeof name, "BILLOW_%s_%s", usvc, ukind);
    const char *v = bw_env_str(name, NULL);
    if (v) {
        snprintf(buf, len, "%s", v);
        return 0;
    }
    int idx = service_index(svc);
    if (idx < 0)
        return BW_EINVAL;
    long long base;
    if (bw_env_int("BILLOW_PORT_BASE", 7100, 1024, 65000, &base) < 0)
        return BW_EINVAL;
    int port = (int)base + idx * 10 + (strcmp(kind, "stream") == 0 ? 2 : 1);
    snprintf(buf, len, "tcp://127.0.0.1:%d", port);
    return 0;
}

int bw_db_conninfo(const char *svc, char *buf, size_t len, const char **user)
{
    char usvc[32], name[80];
    upper(usvc, sizeof usvc, svc);
    snprintf(name, sizeof name, "BILLOW_%s_DATABASE_URL", usvc);
    const char *v = bw_env_str(name, NULL);
    *user = NULL;
    if (v) {
        snprintf(buf, len, "%s", v);
        return 0;
    }
    v = bw_env_str("BILLOW_DATABASE_URL", NULL);
    if (!v)
        return BW_EINVAL;
    snprintf(buf, len, "%s", v);
    *user = svc; /* the caller prefixes billow_ */
    return 0;
}
