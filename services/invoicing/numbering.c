/* Formatting and parsing of document numbers; the series rules are in
 * numbering.h. Parsing is strict on purpose: a number is an identifier that
 * auditors compare by text, so anything but the one canonical spelling is
 * rejected rather than normalised. */
#include "invoicing/numbering.h"
#include "clock.h"
#include "errors.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *const prefixes[] = {
    [INV_SERIES_INVOICE] = "INV",
    [INV_SERIES_CREDIT_NOTE] = "CN",
    [INV_SERIES_RECEIPT] = "RCP",
};
#define NSERIES (sizeof(prefixes) / sizeof(prefixes[0]))

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return BW_EINVAL;
}

const char *inv_series_prefix(inv_series_t series)
{
    return (unsigned)series < NSERIES ? prefixes[series] : NULL;
}

int inv_series_parse(const char *s, inv_series_t *series)
{
    for (size_t i = 0; s && i < NSERIES; i++) {
        if (strcmp(s, prefixes[i]) == 0) {
            *series = (inv_series_t)i;
            return 0;
        }
    }
    return BW_EINVAL;
}

static int period_ok(int year, int month)
{
    return year >= 1970 && year <= 9999 && month >= 1 && month <= 12;
}

int inv_series_key(inv_series_t series, int year, int month, char *buf, size_t len)
{
    const char *p = inv_series_prefix(series);
    if (!p || !period_ok(year, month))
        return BW_EINVAL;
    int n = snprintf(buf, len, "%s-%04d%02d", p, year, month);
    return n < 0 || (size_t)n >= len ? BW_ETOOBIG : 0;
}

int inv_series_key_for_date(inv_series_t series, int64_t issue_days, char *buf, size_t len)
{
    int y, m, d;
    /* Bound the date before converting: the period must be a 4-digit year. */
    if (issue_days < 0 || issue_days > bw_days_from_civil(9999, 12, 31))
        return BW_EINVAL;
    bw_civil_from_days(issue_days, &y, &m, &d);
    return inv_series_key(series, y, m, buf, len);
}

int inv_docno_validate(const inv_docno_t *d, char *err, size_t errlen)
{
    if (!inv_series_prefix(d->series))
        return fail(err, errlen, "unknown document series %d", (int)d->series);
    if (!period_ok(d->year, d->month))
        return fail(err, errlen, "period %04d-%02d out of range", d->year, d->month);
    if (d->counter < 1 || d->counter > INV_DOCNO_COUNTER_MAX)
        return fail(err, errlen, "counter %lld out of range 1..%d", (long long)d->counter,
                    INV_DOCNO_COUNTER_MAX);
    return 0;
}

int inv_docno_format(const inv_docno_t *d, char *buf, size_t len)
{
    if (inv_docno_validate(d, NULL, 0) < 0)
        return BW_EINVAL;
    int n = snprintf(buf, len, "%s-%04d%02d-%06lld", prefixes[d->series], d->year, d->month,
                     (long long)d->counter);
    return n < 0 || (size_t)n >= len ? BW_ETOOBIG : 0;
}

static int digits(const char *s, size_t n, long long *out)
{
    long long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

int inv_docno_parse(const char *s, inv_docno_t *d, char *err, size_t errlen)
{
    inv_docno_t t;
    char prefix[4];
    long long period, counter;
    if (!s)
        return fail(err, errlen, "no document number");
    const char *dash = strchr(s, '-');
    size_t plen = dash ? (size_t)(dash - s) : 0;
    if (!dash || plen == 0 || plen >= sizeof prefix)
        return fail(err, errlen, "document number \"%.40s\": expected PREFIX-YYYYMM-NNNNNN", s);
    memcpy(prefix, s, plen);
    prefix[plen] = '\0';
    if (inv_series_parse(prefix, &t.series) < 0)
        return fail(err, errlen, "document number \"%.40s\": unknown series \"%s\"", s, prefix);
    const char *p = dash + 1;
    if (strlen(p) < 7 || p[6] != '-' || digits(p, 6, &period) < 0)
        return fail(err, errlen, "document number \"%.40s\": expected YYYYMM after %s-", s,
                    prefix);
    const char *c = p + 7;
    size_t clen = strlen(c);
    if (clen < 6 || clen > 9 || digits(c, clen, &counter) < 0)
        return fail(err, errlen, "document number \"%.40s\": counter must be 6 to 9 digits",
                    s);
    if (clen > 6 && c[0] == '0')
        return fail(err, errlen, "document number \"%.40s\": counter has a leading zero", s);
    t.year = (int)(period / 100);
    t.month = (int)(period % 100);
    t.counter = counter;
    int rc = inv_docno_validate(&t, err, errlen);
    if (rc < 0)
        return rc;
    *d = t;
    return 0;
}
