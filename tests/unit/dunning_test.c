/* Dunning schedule: parsing, which step is due as of a date (across month
 * and year ends, leap years), once-per-step and never-backwards, levels. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "clock.h"
#include "errors.h"
#include "invoicing/dunning.h"

static void test_parse(void **state)
{
    (void)state;
    inv_dunning_schedule_t s;
    char err[128];
    assert_int_equal(inv_dunning_parse("-3,1,7,15,30", &s, err, sizeof err), 0);
    assert_int_equal(s.n, 5);
    assert_int_equal(s.steps[0], -3);
    assert_int_equal(s.steps[4], 30);
    assert_int_equal(inv_dunning_parse("30,1,-3", &s, err, sizeof err), 0);
    assert_int_equal(s.steps[0], -3);
    assert_int_equal(s.steps[1], 1);
    assert_int_equal(s.steps[2], 30);
    assert_int_equal(inv_dunning_parse("", &s, err, sizeof err), BW_EINVAL);
    assert_int_equal(inv_dunning_parse("1,,2", &s, err, sizeof err), BW_EINVAL);
    assert_int_equal(inv_dunning_parse("1,x", &s, err, sizeof err), BW_EINVAL);
    assert_int_equal(inv_dunning_parse("1,1", &s, err, sizeof err), BW_EINVAL);
    assert_non_null(strstr(err, "twice"));
    assert_int_equal(inv_dunning_parse("400", &s, err, sizeof err), BW_EINVAL);
    assert_int_equal(inv_dunning_parse("1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17", &s, err,
                                       sizeof err),
                     BW_EINVAL);
}

static int64_t day(const char *s)
{
    int64_t d = 0;
    assert_int_equal(bw_date_parse(s, &d), 0);
    return d;
}

static void test_next_across_boundaries(void **state)
{
    (void)state;
    inv_dunning_schedule_t s;
    char err[128];
    assert_int_equal(inv_dunning_parse("-3,1,7,15,30", &s, err, sizeof err), 0);
    int64_t due = day("2026-12-31");
    assert_int_equal(inv_dunning_next(&s, due, day("2026-12-27"), 0), -1);
    assert_int_equal(inv_dunning_next(&s, due, day("2026-12-28"), 0), 0);
    assert_int_equal(inv_dunning_next(&s, due, day("2026-12-28"), 1u << 0), -1);
    assert_int_equal(inv_dunning_next(&s, due, day("2027-01-01"), 1u << 0), 1);
    assert_int_equal(inv_dunning_next(&s, due, day("2027-01-06"), 3u), -1);
    assert_int_equal(inv_dunning_next(&s, due, day("2027-01-07"), 3u), 2);
    assert_int_equal(inv_dunning_next(&s, due, day("2027-01-30"), 7u), 4);
    /* A later step taken: never go back to an earlier one. */
    assert_int_equal(inv_dunning_next(&s, due, day("2027-01-30"), 1u << 4), -1);
    /* February in a leap year: due 2028-02-28, +1 is 02-29, +7 is 03-06. */
    due = day("2028-02-28");
    assert_int_equal(inv_dunning_next(&s, due, day("2028-02-29"), 1u), 1);
    assert_int_equal(inv_dunning_next(&s, due, day("2028-03-05"), 3u), -1);
    assert_int_equal(inv_dunning_next(&s, due, day("2028-03-06"), 3u), 2);
    /* Due on the 31st, reminder three days before falls in the same month;
     * due on the 1st, it falls in the month before. */
    due = day("2027-03-01");
    assert_int_equal(inv_dunning_next(&s, due, day("2027-02-25"), 0), -1);
    assert_int_equal(inv_dunning_next(&s, due, day("2027-02-26"), 0), 0);
}

static void test_levels(void **state)
{
    (void)state;
    inv_dunning_schedule_t s;
    char err[128];
    assert_int_equal(inv_dunning_parse("-7,-3,0,1,7,15,30", &s, err, sizeof err), 0);
    assert_int_equal(inv_dunning_level(&s, 0), 0);
    assert_int_equal(inv_dunning_level(&s, 2), 0);
    assert_int_equal(inv_dunning_level(&s, 3), 1);
    assert_int_equal(inv_dunning_level(&s, 6), 4);
    assert_int_equal(inv_dunning_level(&s, 7), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_next_across_boundaries),
        cmocka_unit_test(test_levels),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
