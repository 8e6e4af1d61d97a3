/* Pinnable clock and proleptic Gregorian calendar arithmetic (the
 * days-from-civil algorithm, valid for any year in int range). */
#include "clock.h"
#include "errors.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int64_t pinned_us;
static int64_t offset_us;

int bw_clock_init(void)
{
    const char *now = getenv("BILLOW_NOW");
    if (now && *now) {
        int64_t us;
        if (bw_time_parse(now, &us) < 0)
            return BW_EINVAL;
        pinned_us = us;
    }
    const char *off = getenv("BILLOW_NOW_OFFSET_S");
    if (off && *off) {
        char *end;
        long long s = strtoll(off, &end, 10);
        if (*end)
            return BW_EINVAL;
        offset_us = s * 1000000LL;
    }
    return 0;
}

int64_t bw_now_us(void)
{
    if (pinned_us)
        return pinned_us;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000 + offset_us;
}

void bw_clock_pin(int64_t us) { pinned_us = us; }
bool bw_clock_pinned(void) { return pinned_us != 0; }

int64_t bw_days_from_civil(int y, int m, int d)
{
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153u * (unsigned)(m + (m > 2 ? -3 : 9)) + 2) / 5 + (unsigned)d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

void bw_civil_from_days(int64_t z, int *y, int *m, int *d)
{
    z += 719468;
    const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const unsigned doe = (unsigned)(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const int64_t yy = (int64_t)yoe + era * 400;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = (int)(yy + (*m <= 2));
}

int bw_days_in_month(int y, int m)
{
    static const int dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m < 1 || m > 12)
        return 0;
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return 29;
    return dm[m - 1];
}

static int parse_digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

int bw_date_parse(const char *s, int64_t *days)
{
    int y, m, d;
    if (!s || strlen(s) < 10 || s[4] != '-' || s[7] != '-' || parse_digits(s, 4, &y) ||
        parse_digits(s + 5, 2, &m) || parse_digits(s + 8, 2, &d))
        return BW_EINVAL;
    if (m < 1 || m > 12 || d < 1 || d > bw_days_in_month(y, m))
        return BW_EINVAL;
    if (s[10] != '\0')
        return BW_EINVAL;
    *days = bw_days_from_civil(y, m, d);
    return 0;
}

void bw_date_format(int64_t days, char *buf, size_t len)
{
    int y, m, d;
    bw_civil_from_days(days, &y, &m, &d);
    if (y < 0 || y > 9999 || len < 11) {
        snprintf(buf, len, "%04d-%02d-%02d", y, m, d);
        return;
    }
    /* By hand: the close formats several dates per account, and snprintf
     * was a tenth of its CPU. */
    const int v[3] = {y, m, d};
    static const int width[3] = {4, 2, 2};
    char *o = buf;
    for (int k = 0; k < 3; k++) {
        for (int i = width[k] - 1, x = v[k]; i >= 0; i--, x /= 10)
            o[i] = (char)('0' + x % 10);
        o += width[k];
        *o++ = k < 2 ? '-' : '\0';
    }
}

int bw_time_parse(const char *s, int64_t *us)
{
    if (!s)
        return BW_EINVAL;
    size_t n = strlen(s);
    if (n == 10) {
        int64_t days;
        if (bw_date_parse(s, &days) < 0)
            return BW_EINVAL;
        *us = days * 86400LL * 1000000LL;
        return 0;
    }
    char date[11];
    int hh, mm, ss;
    if (n < 19 || (s[10] != 'T' && s[10] != ' ') || s[13] != ':' || s[16] != ':')
        return BW_EINVAL;
    memcpy(date, s, 10);
    date[10] = '\0';
    int64_t days;
    if (bw_date_parse(date, &days) < 0 || parse_digits(s + 11, 2, &hh) ||
        parse_digits(s + 14, 2, &mm) || parse_digits(s + 17, 2, &ss) || hh > 23 || mm > 59 ||
        ss > 60)
        return BW_EINVAL;
    const char *p = s + 19;
    int64_t frac_us = 0;
    if (*p == '.') {
        int digits = 0;
        p++;
        while (*p >= '0' && *p <= '9') {
            if (digits < 6) {
                frac_us = frac_us * 10 + (*p - '0');
                digits++;
            }
            p++;
        }
        if (digits == 0)
            return BW_EINVAL;
        while (digits++ < 6)
            frac_us *= 10;
    }
    int64_t off_s = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om;
        if (strlen(p) != 6 || p[3] != ':' || parse_digits(p + 1, 2, &oh) ||
            parse_digits(p + 4, 2, &om) || oh > 23 || om > 59)
            return BW_EINVAL;
        off_s = (oh * 3600 + om * 60) * (*p == '-' ? -1 : 1);
        p += 6;
    }
    if (*p)
        return BW_EINVAL;
    *us = ((days * 86400 + hh * 3600 + mm * 60 + ss) - off_s) * 1000000LL + frac_us;
    return 0;
}

void bw_time_format(int64_t us, char *buf, size_t len)
{
    int64_t secs = us >= 0 ? us / 1000000 : -((-us + 999999) / 1000000);
    int64_t days = secs >= 0 ? secs / 86400 : -((-secs + 86399) / 86400);
    int64_t rem = secs - days * 86400;
    int y, m, d;
    bw_civil_from_days(days, &y, &m, &d);
    snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02dZ", y, m, d, (int)(rem / 3600),
             (int)(rem / 60 % 60), (int)(rem % 60));
}
