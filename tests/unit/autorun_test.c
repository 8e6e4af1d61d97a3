/* The last complete period of each cycle, across month, quarter and year
 * boundaries. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "clock.h"
#include "invoicing/autorun.h"

static void check(const char *cycle, const char *today, const char *want)
{
    int64_t d;
    assert_int_equal(bw_date_parse(today, &d), 0);
    char buf[16];
    inv_autorun_last_period(cycle, d, buf, sizeof buf);
    assert_string_equal(buf, want);
}

static void test_monthly(void **s)
{
    (void)s;
    check("monthly", "2026-12-01", "2026-11");
    check("monthly", "2026-12-31", "2026-11");
    check("monthly", "2027-01-01", "2026-12");
    check("monthly", "2026-03-15", "2026-02");
}

static void test_quarterly(void **s)
{
    (void)s;
    check("quarterly", "2026-10-01", "2026-07");
    check("quarterly", "2026-12-31", "2026-07");
    check("quarterly", "2027-01-01", "2026-10");
    check("quarterly", "2026-02-10", "2025-10");
}

static void test_annual(void **s)
{
    (void)s;
    check("annual", "2027-01-01", "2026-01");
    check("annual", "2026-12-31", "2025-01");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_monthly),
        cmocka_unit_test(test_quarterly),
        cmocka_unit_test(test_annual),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
