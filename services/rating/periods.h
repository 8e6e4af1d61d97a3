/* Billing periods as rating sees them: "YYYY-MM" names the first month of a
 * calendar period of the account's cycle (a month, a quarter starting in
 * January, April, July or October, or a year), half-open [start, end) in
 * days. Usage is filed under the period its timestamp falls in (UTC dates).
 * These are the same periods invoicing's bill runs name. */
#ifndef RT_PERIODS_H
#define RT_PERIODS_H

#include <stddef.h>
#include <stdint.h>

/* Months in a cycle ("monthly" 1, "quarterly" 3, "annual" 12; "" monthly),
 * or 0 for anything else. */
int rt_cycle_months(const char *cycle);
/* [start, end) in days for period "YYYY-MM" of cycle; BW_EINVAL with the
 * reason in err when the period does not parse or does not start a period
 * of that cycle. */
int rt_period_bounds(const char *period, const char *cycle, int64_t *start, int64_t *end,
                     char *err, size_t errlen);
/* The period of cycle that contains `day`: its name ("2026-10") into buf
 * (8 bytes), and its bounds when start/end are not NULL. */
void rt_period_of_day(int64_t day, int months, char buf[8], int64_t *start, int64_t *end);
/* 1 for the period containing origin, 2 for the next, ... (0 or less when
 * period_start lies before origin's period). */
int rt_period_number(int64_t origin, int64_t period_start, int months);

#endif
