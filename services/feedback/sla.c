/* SLA targets and breach rules (see sla.h). */
#include "feedback/sla.h"

#include "config.h"
#include "errors.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const fb_types[FB_NTYPES] = {"inquiry", "complaint", "dispute", "suggestion"};
const char *const fb_priorities[FB_NPRIOS] = {"low", "normal", "high", "urgent"};

static int index_of(const char *const *set, int n, const char *s, size_t len)
{
    for (int i = 0; i < n; i++)
        if (strlen(set[i]) == len && strncmp(set[i], s, len) == 0)
            return i;
    return -1;
}

int fb_type_index(const char *s) { return s ? index_of(fb_types, FB_NTYPES, s, strlen(s)) : -1; }
int fb_priority_index(const char *s)
{
    return s ? index_of(fb_priorities, FB_NPRIOS, s, strlen(s)) : -1;
}

void fb_sla_defaults(fb_sla_t *sla)
{
    static const int64_t first_h[FB_NPRIOS] = {24, 8, 4, 1};
    static const int64_t resolve_h[FB_NPRIOS] = {240, 120, 72, 24};
    for (int t = 0; t < FB_NTYPES; t++)
        for (int p = 0; p < FB_NPRIOS; p++) {
            sla->first_response_s[t][p] = first_h[p] * 3600;
            sla->resolution_s[t][p] = resolve_h[p] * 3600;
        }
}

/* Parses one `[SELECTOR=]HOURS` entry of len bytes at e. */
static int parse_entry(const char *e, size_t len, int64_t table[FB_NTYPES][FB_NPRIOS], char *err,
                       size_t errlen)
{
    const char *eq = memchr(e, '=', len);
    const char *num = eq ? eq + 1 : e;
    size_t numlen = len - (size_t)(num - e);
    char buf[32];
    if (numlen == 0 || numlen >= sizeof buf) {
        snprintf(err, errlen, "'%.*s': hours missing", (int)len, e);
        return BW_EINVAL;
    }
    memcpy(buf, num, numlen);
    buf[numlen] = '\0';
    char *end;
    double h = strtod(buf, &end);
    if (*end || buf[0] == '-' || !(h > 0) || h > 87600 || !isfinite(h)) {
        snprintf(err, errlen, "'%.*s': hours must be a number above 0 (at most 87600)", (int)len,
                 e);
        return BW_EINVAL;
    }
    int64_t secs = (int64_t)llround(h * 3600.0);
    if (secs < 1)
        secs = 1;
    int t0 = 0, t1 = FB_NTYPES, p0 = 0, p1 = FB_NPRIOS;
    if (eq) {
        size_t sl = (size_t)(eq - e);
        const char *dot = memchr(e, '.', sl);
        if (dot) {
            int t = index_of(fb_types, FB_NTYPES, e, (size_t)(dot - e));
            int p = index_of(fb_priorities, FB_NPRIOS, dot + 1, sl - (size_t)(dot - e) - 1);
            if (t < 0 || p < 0) {
                snprintf(err, errlen, "'%.*s': expected TYPE.PRIORITY (e.g. dispute.high)",
                         (int)len, e);
                return BW_EINVAL;
            }
            t0 = t, t1 = t + 1, p0 = p, p1 = p + 1;
        } else {
            int t = index_of(fb_types, FB_NTYPES, e, sl);
            int p = index_of(fb_priorities, FB_NPRIOS, e, sl);
            if (t >= 0) {
                t0 = t, t1 = t + 1;
            } else if (p >= 0) {
                p0 = p, p1 = p + 1;
            } else {
                snprintf(err, errlen, "'%.*s': unknown type or priority", (int)len, e);
                return BW_EINVAL;
            }
        }
    }
    for (int t = t0; t < t1; t++)
        for (int p = p0; p < p1; p++)
            table[t][p] = secs;
    return 0;
}

int fb_sla_parse(const char *spec, int64_t table[FB_NTYPES][FB_NPRIOS], char *err, size_t errlen)
{
    int64_t tmp[FB_NTYPES][FB_NPRIOS];
    memcpy(tmp, table, sizeof tmp);
    const char *s = spec;
    while (*s) {
        while (*s == ' ' || *s == ',')
            s++;
        if (!*s)
            break;
        size_t len = strcspn(s, ",");
        size_t trimmed = len;
        while (trimmed > 0 && s[trimmed - 1] == ' ')
            trimmed--;
        if (parse_entry(s, trimmed, tmp, err, errlen) < 0)
            return BW_EINVAL;
        s += len;
    }
    memcpy(table, tmp, sizeof tmp);
    return 0;
}

int fb_sla_from_env(fb_sla_t *sla, char *err, size_t errlen)
{
    char why[200];
    fb_sla_defaults(sla);
    const char *v = bw_env_str("BILLOW_SLA_FIRST_RESPONSE_H", "");
    if (fb_sla_parse(v, sla->first_response_s, why, sizeof why) < 0) {
        snprintf(err, errlen, "BILLOW_SLA_FIRST_RESPONSE_H: %s", why);
        return BW_EINVAL;
    }
    v = bw_env_str("BILLOW_SLA_RESOLUTION_H", "");
    if (fb_sla_parse(v, sla->resolution_s, why, sizeof why) < 0) {
        snprintf(err, errlen, "BILLOW_SLA_RESOLUTION_H: %s", why);
        return BW_EINVAL;
    }
    return 0;
}

bool fb_sla_breached(int64_t due_us, int64_t done_us, int64_t now_us)
{
    return done_us ? done_us > due_us : now_us > due_us;
}
