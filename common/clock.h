/* The one clock every service reads "now" through (DESIGN.md §4). Setting
 * BILLOW_NOW (RFC 3339, e.g. 2026-11-30T23:00:00Z) pins it for tests, demos
 * and back-dated runs; BILLOW_NOW_OFFSET_S shifts the real clock instead.
 * Also calendar helpers for dates as days since 1970-01-01. */
#ifndef BW_CLOCK_H
#define BW_CLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Reads BILLOW_NOW / BILLOW_NOW_OFFSET_S; returns a negative BW_E code when
 * they do not parse. Safe to call more than once. */
int bw_clock_init(void);
/* Microseconds since the epoch, as the service sees it. */
int64_t bw_now_us(void);
/* Pins the clock (tests); 0 unpins. */
void bw_clock_pin(int64_t us);
bool bw_clock_pinned(void);

/* Parses "2026-11-30T23:00:00Z", "...+08:00", "2026-11-30 23:00:00" or
 * "2026-11-30" (midnight UTC) into microseconds since the epoch. */
int bw_time_parse(const char *s, int64_t *us);
/* Formats as RFC 3339 UTC with seconds: 2026-11-30T23:00:00Z. */
void bw_time_format(int64_t us, char *buf, size_t len);

/* Days since 1970-01-01 from a civil date, and back. */
int64_t bw_days_from_civil(int y, int m, int d);
void bw_civil_from_days(int64_t days, int *y, int *m, int *d);
/* Parses "YYYY-MM-DD" into days; validates the calendar. */
int bw_date_parse(const char *s, int64_t *days);
void bw_date_format(int64_t days, char *buf, size_t len);
int bw_days_in_month(int y, int m);

#endif
