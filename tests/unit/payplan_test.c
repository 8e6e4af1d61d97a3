/* Payment plans: exact sums, month-end dates, and bad input. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "clock.h"
#include "errors.h"
#include "invoicing/payplan.h"

static int64_t day(const char *s)
{
    int64_t d = 0;
    assert_int_equal(bw_date_parse(s, &d), 0);
    return d;
}

static void assert_date(int64_t d, const char *want)
{
    char b[16];
    bw_date_format(d, b, sizeof b);
    assert_string_equal(b, want);
}

static int64_t sum(const inv_payplan_t *p)
{
    int64_t s = 0;
    for (size_t i = 0; i < p->n; i++)
        s += p->items[i].amount_minor;
    return s;
}

static void test_once(void **state)
{
    (void)state;
    inv_plan_spec_t s = {.kind = INV_PLAN_ONCE, .terms_days = 30};
    inv_payplan_t *p = NULL;
    char err[128];
    assert_int_equal(inv_payplan_build(&s, day("2026-11-30"), 123456, &p, err, sizeof err), 0);
    assert_int_equal(p->n, 1);
    assert_int_equal(p->items[0].amount_minor, 123456);
    assert_date(p->items[0].due_days, "2026-12-30");
    assert_int_equal(p->items[0].seq, 1);
    inv_payplan_destroy(&p);
    assert_null(p);
    inv_payplan_destroy(&p); /* safe twice */
    s.terms_days = 0;
    assert_int_equal(inv_payplan_build(&s, day("2026-11-30"), 0, &p, err, sizeof err), 0);
    assert_date(p->items[0].due_days, "2026-11-30");
    inv_payplan_destroy(&p);
}

static void test_instalments_exact(void **state)
{
    (void)state;
    inv_plan_spec_t s = {.kind = INV_PLAN_INSTALMENTS, .terms_days = 0, .count = 3,
                         .cycle = {INV_CYCLE_MONTH, 1}};
    inv_payplan_t *p = NULL;
    char err[128];
    assert_int_equal(inv_payplan_build(&s, day("2026-01-15"), 10000, &p, err, sizeof err), 0);
    assert_int_equal(p->n, 3);
    assert_int_equal(p->items[0].amount_minor, 3334); /* remainder first */
    assert_int_equal(p->items[1].amount_minor, 3333);
    assert_int_equal(p->items[2].amount_minor, 3333);
    assert_string_equal(p->items[2].label, "3/3");
    assert_int_equal(sum(p), 10000);
    inv_payplan_destroy(&p);

    /* Many totals and counts: always exact, never more than one unit apart
     * except the first. */
    for (int64_t total = 120; total < 100000; total = total * 3 + 7) {
        for (int n = 1; n <= 120; n += 7) {
            s.count = n;
            assert_int_equal(inv_payplan_build(&s, day("2026-01-31"), total, &p, err,
                                               sizeof err), 0);
            assert_int_equal(p->n, (size_t)n);
            assert_int_equal(sum(p), total);
            for (size_t i = 1; i < p->n; i++) {
                assert_int_equal(p->items[i].amount_minor, total / n);
                assert_true(p->items[i].due_days > p->items[i - 1].due_days);
            }
            inv_payplan_destroy(&p);
        }
    }
}

static void test_month_end(void **state)
{
    (void)state;
    inv_plan_spec_t s = {.kind = INV_PLAN_INSTALMENTS, .terms_days = 0, .count = 5,
                         .cycle = {INV_CYCLE_MONTH, 1}};
    inv_payplan_t *p = NULL;
    char err[128];
    assert_int_equal(inv_payplan_build(&s, day("2027-01-31"), 500, &p, err, sizeof err), 0);
    assert_date(p->items[0].due_days, "2027-01-31");
    assert_date(p->items[1].due_days, "2027-02-28");
    assert_date(p->items[2].due_days, "2027-03-31"); /* from the anchor, not Feb 28 */
    assert_date(p->items[3].due_days, "2027-04-30");
    assert_date(p->items[4].due_days, "2027-05-31");
    inv_payplan_destroy(&p);

    /* Leap year, and terms pushing the first due date to Jan 31. */
    s.terms_days = 30;
    s.count = 2;
    assert_int_equal(inv_payplan_build(&s, day("2028-01-01"), 500, &p, err, sizeof err), 0);
    assert_date(p->items[0].due_days, "2028-01-31");
    assert_date(p->items[1].due_days, "2028-02-29");
    inv_payplan_destroy(&p);

    /* Quarterly across a year end. */
    s.terms_days = 0;
    s.count = 3;
    s.cycle = (inv_cycle_t){INV_CYCLE_MONTH, 3};
    assert_int_equal(inv_payplan_build(&s, day("2026-11-30"), 900, &p, err, sizeof err), 0);
    assert_date(p->items[1].due_days, "2027-02-28");
    assert_date(p->items[2].due_days, "2027-05-30");
    inv_payplan_destroy(&p);

    /* Weekly. */
    s.cycle = (inv_cycle_t){INV_CYCLE_DAY, 7};
    assert_int_equal(inv_payplan_build(&s, day("2026-12-28"), 900, &p, err, sizeof err), 0);
    assert_date(p->items[1].due_days, "2027-01-04");
    inv_payplan_destroy(&p);

    assert_date(inv_add_months(day("2024-02-29"), 12), "2025-02-28");
    assert_date(inv_add_months(day("2024-03-31"), -1), "2024-02-29");
    assert_date(inv_add_months(day("2024-01-15"), -13), "2022-12-15");
}

static void test_milestones(void **state)
{
    (void)state;
    inv_milestone_t ms[] = {
        {"Contract signed", 3000, INV_DATE_UNSET},
        {"Design approved", 3333, INV_DATE_UNSET},
        {"Go-live 上线", 3667, 0},
    };
    ms[2].due_days = day("2027-03-31");
    inv_plan_spec_t s = {.kind = INV_PLAN_MILESTONES, .milestones = ms, .nmilestones = 3};
    inv_payplan_t *p = NULL;
    char err[128];
    assert_int_equal(inv_payplan_build(&s, day("2026-11-30"), 100001, &p, err, sizeof err), 0);
    assert_int_equal(p->n, 3);
    /* 30000.3 -> 30000, 33330.333 -> 33330, 36670.366 -> 36670; +1 on first. */
    assert_int_equal(p->items[0].amount_minor, 30001);
    assert_int_equal(p->items[1].amount_minor, 33330);
    assert_int_equal(p->items[2].amount_minor, 36670);
    assert_int_equal(sum(p), 100001);
    assert_string_equal(p->items[2].label, "Go-live 上线");
    assert_int_equal(p->items[1].share_bp, 3333);
    assert_true(p->items[0].due_days == INV_DATE_UNSET);
    assert_date(p->items[2].due_days, "2027-03-31");
    inv_payplan_destroy(&p);

    /* Huge totals do not overflow. */
    assert_int_equal(inv_payplan_build(&s, day("2026-11-30"), INT64_MAX, &p, err, sizeof err), 0);
    assert_true(sum(p) == INT64_MAX);
    inv_payplan_destroy(&p);
}

static void expect_bad(const inv_plan_spec_t *s, int64_t total, const char *needle)
{
    inv_payplan_t *p = (inv_payplan_t *)1;
    char err[160] = "";
    assert_int_equal(inv_payplan_build(s, day("2026-11-30"), total, &p, err, sizeof err),
                     BW_EINVAL);
    assert_null(p);
    if (!strstr(err, needle))
        fail_msg("error \"%s\" does not mention \"%s\"", err, needle);
}

static void test_bad_input(void **state)
{
    (void)state;
    inv_plan_spec_t s = {.kind = INV_PLAN_INSTALMENTS, .count = 0,
                         .cycle = {INV_CYCLE_MONTH, 1}};
    expect_bad(&s, 1000, "instalment count 0");
    s.count = 121;
    expect_bad(&s, 1000, "instalment count 121");
    s.count = 3;
    expect_bad(&s, 2, "cannot be split into 3");
    expect_bad(&s, -5, "negative");
    s.terms_days = -1;
    expect_bad(&s, 1000, "payment terms -1");
    s.terms_days = 0;
    s.cycle.count = 0;
    expect_bad(&s, 1000, "cycle 0 months");
    s.cycle = (inv_cycle_t){(inv_cycle_unit_t)9, 1};
    expect_bad(&s, 1000, "cycle unit");

    inv_milestone_t ms[] = {{"a", 5000, INV_DATE_UNSET}, {"b", 4000, INV_DATE_UNSET}};
    inv_plan_spec_t m = {.kind = INV_PLAN_MILESTONES, .milestones = ms, .nmilestones = 2};
    expect_bad(&m, 1000, "sum to 9000 bp");
    ms[1].share_bp = 0;
    expect_bad(&m, 1000, "milestone 2 (\"b\"): share 0 bp");
    ms[1].share_bp = 5000;
    ms[1].label = "";
    expect_bad(&m, 1000, "milestone 2 has no label");
    ms[1].label = "b";
    ms[1].due_days = -3;
    expect_bad(&m, 1000, "due date out of range");
    m.nmilestones = 0;
    expect_bad(&m, 1000, "no milestones");

    inv_plan_spec_t k = {.kind = (inv_plan_kind_t)42};
    expect_bad(&k, 1000, "unknown payment plan kind");
    expect_bad(NULL, 1000, "no payment plan");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_once),       cmocka_unit_test(test_instalments_exact),
        cmocka_unit_test(test_month_end),  cmocka_unit_test(test_milestones),
        cmocka_unit_test(test_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
