/* Calendar periods for the rating service. */
#include "rating/periods.h"

#include "clock.h"
#include "errors.h"

#include <stdio.h>
#include <string.h>

int rt_cycle_months(const char *cycle)
{
    if (!cycle || !*cycle || strcmp(cycle, "monthly") == 0)
        return 1;
    if (strcmp(cycle, "quarterly") == 0)
        return 3;
    if (strcmp(cycle, "annual") == 0)
        return 12;
    return 0;
}

static int64_t add_months(int y, int m, int months)
{
    int idx = y * 12 + (m - 1) + months;
    return bw_days_from_civil(idx / 12, idx % 12 + 1, 1);
}

int rt_period_bounds(const char *period, const char *cycle, int64_t *start, int64_t *end,
                     char *err, size_t errlen)
{
    int months = rt_cycle_months(cycle);
    if (months == 0) {
        snprintf(err, errlen, "cycle: must be monthly, quarterly or annual");
        return BW_EINVAL;
    }
    char date[16];
    if (!period || strlen(period) != 7 || period[4] != '-') {
        snprintf(err, errlen, "period: expected YYYY-MM, e.g. 2026-11");
        return BW_EINVAL;
    }
    snprintf(date, sizeof date, "%s-01", period);
    if (bw_date_parse(date, start) < 0) {
        snprintf(err, errlen, "period: %s is not a valid month", period);
        return BW_EINVAL;
    }
    int y, m, d;
    bw_civil_from_days(*start, &y, &m, &d);
    if ((m - 1) % months != 0) {
        snprintf(err, errlen, "period: a %s period starts in %s", cycle,
                 months == 3 ? "January, April, July or October" : "January (YYYY-01)");
        return BW_EINVAL;
    }
    *end = add_months(y, m, months);
    return 0;
}

void rt_period_of_day(int64_t day, int months, char buf[8], int64_t *start, int64_t *end)
{
    int y, m, d;
    if (months <= 0)
        months = 1;
    bw_civil_from_days(day, &y, &m, &d);
    m = (m - 1) / months * months + 1;
    char tmp[32];
    snprintf(tmp, sizeof tmp, "%04d-%02d", y, m);
    memcpy(buf, tmp, 7);
    buf[7] = '\0';
    if (start)
        *start = bw_days_from_civil(y, m, 1);
    if (end)
        *end = add_months(y, m, months);
}

int rt_period_number(int64_t origin, int64_t period_start, int months)
{
    int oy, om, od, py, pm, pd;
    if (months <= 0)
        months = 1;
    bw_civil_from_days(origin, &oy, &om, &od);
    bw_civil_from_days(period_start, &py, &pm, &pd);
    int o = (oy * 12 + om - 1) / months, p = (py * 12 + pm - 1) / months;
    return p - o + 1;
}
