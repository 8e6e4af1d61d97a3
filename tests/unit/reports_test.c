/* Report arithmetic: ageing buckets at their edges and the collection rate
 * in basis points, rounded half-even, without floating point. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "invoicing/reports.h"

static void test_buckets(void **state)
{
    (void)state;
    assert_int_equal(inv_aging_bucket(-10), 0);
    assert_int_equal(inv_aging_bucket(0), 0);
    assert_int_equal(inv_aging_bucket(1), 1);
    assert_int_equal(inv_aging_bucket(30), 1);
    assert_int_equal(inv_aging_bucket(31), 2);
    assert_int_equal(inv_aging_bucket(60), 2);
    assert_int_equal(inv_aging_bucket(61), 3);
    assert_int_equal(inv_aging_bucket(90), 3);
    assert_int_equal(inv_aging_bucket(91), 4);
    assert_int_equal(inv_aging_bucket(100000), 4);
    assert_string_equal(inv_aging_bucket_name(0), "current");
    assert_string_equal(inv_aging_bucket_name(4), "90+");
    assert_string_equal(inv_aging_bucket_name(5), "?");
}

static void test_rate(void **state)
{
    (void)state;
    assert_int_equal(inv_rate_bp(0, 0), 0);
    assert_int_equal(inv_rate_bp(5, 0), 0);
    assert_int_equal(inv_rate_bp(1, 1), 10000);
    assert_int_equal(inv_rate_bp(32494, 62490), 5200); /* 5199.87 */
    assert_int_equal(inv_rate_bp(1, 3), 3333);
    assert_int_equal(inv_rate_bp(2, 3), 6667);
    assert_int_equal(inv_rate_bp(1, 80000), 0);        /* 0.125: half-even down */
    assert_int_equal(inv_rate_bp(3, 80000), 0);        /* 0.375 */
    assert_int_equal(inv_rate_bp(12, 80000), 2);       /* 1.5 -> 2 */
    assert_int_equal(inv_rate_bp(20, 80000), 2);       /* 2.5 -> 2 */
    assert_int_equal(inv_rate_bp(INT64_MAX / 2, INT64_MAX / 2), 10000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buckets),
        cmocka_unit_test(test_rate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
